//! The zero-setup demo: an embedded broker, a simulated fleet replayed through it in
//! accelerated time, and the real daemon pipeline watching it, all in one process.
//!
//! It ends by itself once the daemon has processed every message it was sent (counted by
//! the daemon's own metrics, not guessed by a timer), then shuts the daemon down through
//! the same path as SIGTERM. The fleet comes from [`crate::sim::simulate`]: homes and
//! businesses with their confounders (heat pumps, storage heaters, cold stores, server
//! rooms), hidden miners of mixed size switching on part-way (one of them a farm), and a
//! licensed miner. The sim's registry goes to the detector, so declared server rooms and
//! the licensed site are explained rather than alerted; the sim's labels say afterwards
//! which alerts were true miners.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::publisher::{publish_all, OutReading, PublishOptions, PublishReport};
use crate::core::alerts::{Alert, AlertKind};
use crate::daemon::config::{BrokerSettings, RawConfig};
use crate::daemon::metrics::Metrics;
use crate::daemon::payload::Value;
use crate::daemon::pipeline::{self, DaemonError, RunSummary};
use crate::sim::{grow, simulate, write_registry, NodeLabel, SimConfig, SimFleet, TopologyConfig};

/// Failures of the demo.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The embedded broker did not start.
    #[cfg(feature = "embedded-broker")]
    #[error(transparent)]
    Broker(#[from] super::broker::BrokerError),
    /// Built without the embedded broker.
    #[error("this build has no embedded broker (feature `embedded-broker`); pass --broker")]
    NoBroker,
    /// The daemon failed.
    #[error(transparent)]
    Daemon(#[from] DaemonError),
    /// The publisher failed.
    #[error(transparent)]
    Publish(#[from] super::publisher::PublishError),
    /// Settings or files.
    #[error("{0}")]
    Setup(String),
}

/// What the demo does.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Output directory: `state/`, `reports/` and `alerts.jsonl` go under it.
    pub out_dir: PathBuf,
    /// Use this broker instead of starting the embedded one.
    pub broker_url: Option<String>,
    /// Homes in the fleet.
    pub n_homes: usize,
    /// Businesses in the fleet.
    pub n_businesses: usize,
    /// Hidden miners (home, shophouse, S9 home, farm, …).
    pub n_miners: usize,
    /// Days simulated (hourly readings).
    pub days: u32,
    /// Seed of the fleet.
    pub seed: u64,
    /// Wall seconds the replay of the whole span is paced to (accelerated event time);
    /// the replay is never faster than the pipeline takes it.
    pub replay_s: f64,
    /// Also run the grid phase: a farm wired around the meters, found by energy balance.
    pub grid: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            out_dir: "flatline-demo".into(),
            broker_url: None,
            n_homes: 250,
            n_businesses: 50,
            n_miners: 4,
            days: 40,
            seed: 7,
            replay_s: 15.0,
            grid: true,
        }
    }
}

/// What the demo found.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    /// Meters simulated.
    pub n_meters: usize,
    /// Ids of the meters where the sim hid a miner (licensed ones excluded).
    pub true_miners: Vec<String>,
    /// What the publisher did.
    pub published: PublishReport,
    /// What the daemon ended with.
    pub daemon: RunSummary,
    /// Alerts written (from alerts.jsonl).
    pub alerts: Vec<Alert>,
    /// The alerts file.
    pub alerts_path: PathBuf,
    /// The report directory.
    pub report_dir: PathBuf,
    /// The grid phase, when it ran.
    pub grid: Option<GridSummary>,
    /// Wall time.
    pub elapsed: Duration,
}

/// Runs the demo to completion (builds its own tokio runtime).
pub fn run(opts: &DemoOptions) -> Result<DemoSummary, DemoError> {
    let started = Instant::now();
    let state_dir = opts.out_dir.join("state");
    let report_dir = opts.out_dir.join("reports");
    // A demo always starts from nothing: state left by an earlier run would make it a
    // continuation, with its alerts already sent.
    for dir in [&state_dir, &report_dir] {
        if dir.exists() {
            std::fs::remove_dir_all(dir)
                .map_err(|e| DemoError::Setup(format!("{}: {e}", dir.display())))?;
        }
    }
    let broker_url = match &opts.broker_url {
        Some(url) => url.clone(),
        None => start_broker()?,
    };
    let fleet = demo_fleet(opts);
    let registry_csv = state_dir.with_file_name("registry.csv");
    std::fs::create_dir_all(&opts.out_dir)
        .map_err(|e| DemoError::Setup(format!("{}: {e}", opts.out_dir.display())))?;
    let file = std::fs::File::create(&registry_csv)
        .map_err(|e| DemoError::Setup(format!("{}: {e}", registry_csv.display())))?;
    write_registry(&fleet.registry(), file).map_err(|e| DemoError::Setup(e.to_string()))?;
    let mut raw = RawConfig::default();
    raw.detector.registry = registry_csv;
    raw.mqtt.broker = broker_url.clone();
    raw.mqtt.client_id = "flatline-demo-watch".into();
    raw.state.dir = state_dir.clone();
    raw.report.dir = report_dir.clone();
    raw.metrics.listen = String::new();
    // Daily re-scoring keeps the demo fast; the live default is hourly.
    raw.ingest.rescore_every_hours = 24;
    let settings = raw.check().map_err(|e| DemoError::Setup(e.to_string()))?;
    // The registry was written just above from the sim; it must parse as any registry.
    debug_assert!(settings.registry.is_some());
    let n_meters = fleet.meters.len();
    let true_miners = fleet
        .meters
        .iter()
        .filter(|m| m.miner.is_some() && !m.allowed)
        .map(|m| m.id.clone())
        .collect();
    let span_s = (fleet.end_unix() - fleet.config.start_unix) as f64;
    let replay = PublishOptions {
        speed: Some(span_s / opts.replay_s.max(0.1)),
        ..PublishOptions::default()
    };
    let readings = fleet.readings().map(|r| OutReading {
        meter: fleet.meters[r.meter_idx].id.clone(),
        ts: r.ts_unix,
        value: Value::IntervalKwh(r.kwh),
    });
    let publisher = BrokerSettings::from_url(&broker_url, "flatline-demo-publish", None)
        .map_err(|e| DemoError::Setup(e.to_string()))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| DemoError::Setup(e.to_string()))?;
    let (daemon, published) = run_phase(&runtime, settings, &publisher, readings, &replay)?;
    let alerts_path = state_dir.join("alerts.jsonl");
    let alerts = read_alerts(&alerts_path);
    let grid = if opts.grid {
        Some(run_grid(opts, &broker_url, &runtime, &report_dir)?)
    } else {
        None
    };
    Ok(DemoSummary {
        n_meters,
        true_miners,
        published,
        daemon,
        alerts,
        alerts_path,
        report_dir,
        grid,
        elapsed: started.elapsed(),
    })
}

/// One daemon phase: the pipeline started, the readings published once it is subscribed,
/// and everything drained when the daemon has processed every message it was sent.
fn run_phase(
    runtime: &tokio::runtime::Runtime,
    settings: crate::daemon::config::Settings,
    publisher: &BrokerSettings,
    readings: impl IntoIterator<Item = OutReading>,
    replay: &PublishOptions,
) -> Result<(RunSummary, PublishReport), DemoError> {
    runtime.block_on(async {
        let metrics = Arc::new(Metrics::default());
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let daemon = tokio::spawn(pipeline::run(settings, metrics.clone(), stop_rx));
        // Publish only once the daemon is subscribed, or the first messages go nowhere.
        wait_for(
            || metrics.mqtt_connects.load(Relaxed) > 0,
            Duration::from_secs(20),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let published = publish_all(publisher, readings, replay).await;
        if let Ok(report) = &published {
            let n = report.n_published;
            wait_for(
                || metrics.messages_processed.load(Relaxed) >= n,
                Duration::from_secs(90),
            )
            .await;
        }
        let _ = stop_tx.send(true);
        let daemon = daemon
            .await
            .map_err(|e| DemoError::Setup(format!("daemon task: {e}")))?;
        Ok::<_, DemoError>((daemon?, published?))
    })
}

/// What the grid phase found.
#[derive(Debug, Clone)]
pub struct GridSummary {
    /// Meters in the grid: customers, transformers, the feeder.
    pub n_meters: usize,
    /// The simulated truth of every node (which one hides the farm, which a bypass).
    pub node_labels: Vec<NodeLabel>,
    /// What the publisher did.
    pub published: PublishReport,
    /// Alerts written in this phase.
    pub alerts: Vec<Alert>,
    /// Its alerts file.
    pub alerts_path: PathBuf,
}

/// The grid phase: one feeder of four transformers with 60 homes each; a farm of 40 rigs
/// tapped before the customer meters under one transformer, a customer bypassed under
/// another, a meter that goes silent under a third. Only the transformer meters can show
/// the farm, through energy balance (`docs/balance.md`).
fn run_grid(
    opts: &DemoOptions,
    broker_url: &str,
    runtime: &tokio::runtime::Runtime,
    report_dir: &Path,
) -> Result<GridSummary, DemoError> {
    let today = chrono::Utc::now().timestamp().div_euclid(86_400) * 86_400;
    let days = 30;
    let grid = grow(&TopologyConfig {
        seed: opts.seed,
        feeders: 1,
        transformers_per_feeder: 4,
        homes_per_transformer: 60,
        days,
        start_unix: today - days as i64 * 86_400,
        resolution_min: 60,
        farm_rigs: 40,
        event_day: 21.3,
        tz_offset_s: 0,
    });
    let state_dir = opts.out_dir.join("grid-state");
    if state_dir.exists() {
        std::fs::remove_dir_all(&state_dir)
            .map_err(|e| DemoError::Setup(format!("{}: {e}", state_dir.display())))?;
    }
    let registry_csv = opts.out_dir.join("grid-registry.csv");
    let file = std::fs::File::create(&registry_csv)
        .map_err(|e| DemoError::Setup(format!("{}: {e}", registry_csv.display())))?;
    grid.write_registry(file)
        .map_err(|e| DemoError::Setup(e.to_string()))?;
    let mut raw = RawConfig::default();
    raw.detector.registry = registry_csv;
    raw.mqtt.broker = broker_url.to_string();
    raw.mqtt.client_id = "flatline-demo-grid-watch".into();
    raw.state.dir = state_dir.clone();
    raw.report.dir = report_dir.to_path_buf();
    raw.metrics.listen = String::new();
    raw.ingest.rescore_every_hours = 6;
    let settings = raw.check().map_err(|e| DemoError::Setup(e.to_string()))?;
    let ids = grid.meter_ids();
    let n_steps = grid.n_steps();
    let readings = (0..n_steps).flat_map(|step| {
        let ts = grid.step_start(step);
        grid.step_kwh(step)
            .into_iter()
            .enumerate()
            .filter_map(move |(i, kwh)| kwh.map(|kwh| (i, ts, kwh)))
            .collect::<Vec<_>>()
    });
    let readings = readings.map(|(i, ts, kwh)| OutReading {
        meter: ids[i].clone(),
        ts,
        value: Value::IntervalKwh(kwh),
    });
    let replay = PublishOptions {
        speed: Some(days as f64 * 86_400.0 / (opts.replay_s / 3.0).max(0.1)),
        ..PublishOptions::default()
    };
    let publisher = BrokerSettings::from_url(broker_url, "flatline-demo-grid-publish", None)
        .map_err(|e| DemoError::Setup(e.to_string()))?;
    let (_, published) = run_phase(runtime, settings, &publisher, readings, &replay)?;
    let alerts_path = state_dir.join("alerts.jsonl");
    Ok(GridSummary {
        n_meters: ids.len(),
        node_labels: grid.node_labels(),
        published,
        alerts: read_alerts(&alerts_path),
        alerts_path,
    })
}

#[cfg(feature = "embedded-broker")]
fn start_broker() -> Result<String, DemoError> {
    Ok(format!("mqtt://{}", super::broker::start_embedded()?))
}

#[cfg(not(feature = "embedded-broker"))]
fn start_broker() -> Result<String, DemoError> {
    Err(DemoError::NoBroker)
}

async fn wait_for(cond: impl Fn() -> bool, limit: Duration) {
    let t = Instant::now();
    while !cond() && t.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The alerts in a file, skipping unreadable lines.
pub fn read_alerts(path: &Path) -> Vec<Alert> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Meters of the open suspect episodes at the end of the demo (suspect or changed last).
pub fn open_suspects(alerts: &[Alert]) -> Vec<&Alert> {
    let mut last: Vec<&Alert> = Vec::new();
    for a in alerts {
        last.retain(|x| x.meter_id != a.meter_id);
        last.push(a);
    }
    last.into_iter()
        .filter(|a| a.kind != AlertKind::Cleared)
        .collect()
}

/// The demo's fleet: hourly readings ending at the last midnight (UTC) before now, so the
/// timestamps look live; onsets fall after day 14 so every miner has two weeks of normal
/// life before its step and at least a week of mining after it.
pub fn demo_fleet(opts: &DemoOptions) -> SimFleet {
    let today = chrono::Utc::now().timestamp().div_euclid(86_400) * 86_400;
    let days = opts.days.max(22);
    simulate(&SimConfig {
        seed: opts.seed,
        homes: opts.n_homes,
        businesses: opts.n_businesses,
        miners: opts.n_miners,
        licensed: 1,
        days,
        start_unix: today - days as i64 * 86_400,
        resolution_min: 60,
        onset_after_days: (14.5, days as f64 - 7.0),
        tz_offset_s: 0,
    })
}
