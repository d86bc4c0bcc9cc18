//! The zero-setup demo: an embedded broker, a simulated fleet replayed through it in
//! accelerated time, and the real daemon pipeline watching it, all in one process.
//!
//! It ends by itself once the daemon has processed every message it was sent (counted by
//! the daemon's own metrics, not guessed by a timer), then shuts the daemon down through
//! the same path as SIGTERM. The fleet comes from [`temporary_fleet`] until the sim helper's
//! `flatline::sim::simulate` lands.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use super::alerts::{Alert, AlertKind};
use super::config::{BrokerSettings, RawConfig};
use super::metrics::Metrics;
use super::payload::Value;
use super::pipeline::{self, DaemonError, RunSummary};
use super::publisher::{publish_all, OutReading, PublishOptions, PublishReport};

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
    /// Days simulated.
    pub days: i64,
    /// Seed of the fleet.
    pub seed: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            out_dir: "flatline-demo".into(),
            broker_url: None,
            n_homes: 300,
            days: 15,
            seed: 7,
        }
    }
}

/// What the demo found.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    /// Meters simulated.
    pub n_meters: usize,
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
    let mut raw = RawConfig::default();
    raw.mqtt.broker = broker_url.clone();
    raw.mqtt.client_id = "flatline-demo-watch".into();
    raw.state.dir = state_dir.clone();
    raw.report.dir = report_dir.clone();
    raw.metrics.listen = String::new();
    // Daily re-scoring keeps the demo fast; the live default is hourly.
    raw.ingest.rescore_every_hours = 24;
    let settings = raw.check().map_err(|e| DemoError::Setup(e.to_string()))?;
    let fleet = temporary_fleet(
        opts.n_homes,
        opts.days,
        opts.seed,
        chrono::Utc::now().timestamp(),
    );
    let n_meters = opts.n_homes + 2;
    let publisher = BrokerSettings::from_url(&broker_url, "flatline-demo-publish", None)
        .map_err(|e| DemoError::Setup(e.to_string()))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| DemoError::Setup(e.to_string()))?;
    let (daemon, published) = runtime.block_on(async {
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
        let published = publish_all(&publisher, fleet, &PublishOptions::default()).await;
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
    })?;
    let alerts_path = state_dir.join("alerts.jsonl");
    let alerts = read_alerts(&alerts_path);
    Ok(DemoSummary {
        n_meters,
        published,
        daemon,
        alerts,
        alerts_path,
        report_dir,
        elapsed: started.elapsed(),
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

/// TEMPORARY fleet until `flatline::sim` lands: `n_homes` homes with morning and evening
/// peaks and seeded noise, one 24/7 shop (a flat but modest confounder), and one home
/// (`farm-0001`) where about 30 kW of rigs switch on five days before the end. Hourly kWh,
/// in time order, ending at the hour before `now_s`.
pub fn temporary_fleet(n_homes: usize, days: i64, seed: u64, now_s: i64) -> Vec<OutReading> {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let hours = days * 24;
    let end_hour = now_s.div_euclid(3600);
    let start_hour = end_hour - hours;
    let farm_on = hours - 5 * 24;
    let scales: Vec<f64> = (0..n_homes).map(|_| rng.gen_range(0.6..1.6)).collect();
    let mut out = Vec::with_capacity((n_homes + 2) * hours as usize);
    for h in 0..hours {
        let hour_of_day = (h % 24) as f64;
        let shape = 0.25
            + 0.5 * (-((hour_of_day - 8.0) / 1.5).powi(2)).exp()
            + 1.0 * (-((hour_of_day - 19.0) / 2.0).powi(2)).exp();
        let ts = (start_hour + h) * 3600;
        for (i, scale) in scales.iter().enumerate() {
            let kwh = (scale * shape * rng.gen_range(0.7..1.3)).max(0.05);
            out.push(OutReading {
                meter: format!("home-{i:04}"),
                ts,
                value: Value::IntervalKwh(round3(kwh)),
            });
        }
        let shop = 6.0
            + rng.gen_range(-1.5..1.5)
            + if (7.0..21.0).contains(&hour_of_day) {
                4.0
            } else {
                0.0
            };
        out.push(OutReading {
            meter: "shop-0001".into(),
            ts,
            value: Value::IntervalKwh(round3(shop)),
        });
        let house = 0.9 * shape * rng.gen_range(0.7..1.3);
        let rigs = if h >= farm_on {
            30.0 * rng.gen_range(0.98..1.02)
        } else {
            0.0
        };
        out.push(OutReading {
            meter: "farm-0001".into(),
            ts,
            value: Value::IntervalKwh(round3(house + rigs)),
        });
    }
    out
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
