//! `flatline watch`: run the MQTT daemon on a broker until SIGINT or SIGTERM.
//!
//! This file is the doorway only: it reads `--config`, lets flags override it, installs
//! logging, the TLS crypto provider and the signal handlers, and runs
//! [`flatline::daemon::pipeline::run`](crate::daemon::pipeline::run) on a tokio runtime.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

use super::Outcome;
use crate::daemon::config::{LogFormat, RawConfig};
use crate::daemon::metrics::Metrics;
use crate::daemon::{mqtt, pipeline};

/// Options of `flatline watch`. Every flag overrides the same key of `--config`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Configuration file (see the annotated flatline.toml shipped with flatline).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Broker URL: mqtt://HOST:PORT or mqtts://HOST:PORT.
    #[arg(long)]
    pub broker: Option<String>,
    /// Fixed MQTT client id (the broker keeps the session under it).
    #[arg(long)]
    pub client_id: Option<String>,
    /// Topic filter to subscribe to (repeatable; replaces the configured list).
    #[arg(long = "subscribe")]
    pub subscriptions: Vec<String>,
    /// MQTT protocol version, 4 (3.1.1) or 5.
    #[arg(long)]
    pub protocol: Option<u8>,
    /// Directory for the write-ahead log, snapshots and alerts.jsonl.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Directory for PNG evidence reports.
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
    /// Prometheus endpoint address (empty string disables it).
    #[arg(long)]
    pub metrics_listen: Option<String>,
    /// Log format: text or json.
    #[arg(long)]
    pub log_format: Option<String>,
    /// Score a meter each time its event time advances this many hours.
    #[arg(long)]
    pub rescore_every_hours: Option<i64>,
    /// Days of hourly history kept per meter, 8 to 91 (default 91, the detector's 13
    /// weeks): shorter costs less memory but cannot date a switch-on older than the window.
    #[arg(long)]
    pub window_days: Option<i64>,
    /// Seconds between snapshots of the state.
    #[arg(long)]
    pub checkpoint_every_s: Option<u64>,
    /// User name for the broker (the password comes from --password-env or --password-file).
    #[arg(long)]
    pub username: Option<String>,
    /// Environment variable holding the broker password.
    #[arg(long)]
    pub password_env: Option<String>,
    /// File holding the broker password.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// CA certificate (PEM) for mqtts://.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for brokers that require one (mutual TLS; with --client-key-file).
    #[arg(long, requires = "client_key_file")]
    pub client_cert_file: Option<PathBuf>,
    /// Private key (PEM) of the client certificate.
    #[arg(long, requires = "client_cert_file")]
    pub client_key_file: Option<PathBuf>,
    /// Registry CSV (meter_id,class,contracted_kw,feeder,allowed) of known legitimate loads.
    #[arg(long)]
    pub registry: Option<PathBuf>,
    /// Model file (default: the model built into this binary).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Local time of the meters as a UTC offset (`UTC`, `+03:00`, `-05:00`), for the
    /// detector's day/night features, as `scan --tz`.
    #[arg(long = "tz", value_parser = parse_tz_arg, allow_hyphen_values = true)]
    pub tz_offset_s: Option<i32>,
}

/// Parses a `--tz` value into seconds east of UTC.
fn parse_tz_arg(text: &str) -> Result<i32, String> {
    crate::ingest::timestamp::parse_utc_offset(text)
        .ok_or_else(|| format!("{text:?} is not a UTC offset (try UTC, +03:00 or -05:00)"))
}

/// Runs `flatline watch`.
pub fn run(args: WatchArgs) -> anyhow::Result<Outcome> {
    let mut raw = match &args.config {
        Some(path) => RawConfig::load(path)?,
        None => RawConfig::default(),
    };
    apply_overrides(&mut raw, args);
    let settings = raw.check()?;
    init_logging(settings.log_format, &settings.log_filter);
    mqtt::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let summary = runtime.block_on(async {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            let _ = stop_tx.send(true);
        });
        pipeline::run(settings, Arc::new(Metrics::default()), stop_rx).await
    })?;
    // A daemon that stopped on request has done its job: exit 0 whatever it found.
    tracing::info!(
        meters = summary.n_meters,
        alerts_sent = summary.n_alerts,
        "flatline watch stopped"
    );
    Ok(Outcome::Clean)
}

fn apply_overrides(raw: &mut RawConfig, a: WatchArgs) {
    if let Some(v) = a.broker {
        raw.mqtt.broker = v;
    }
    if let Some(v) = a.client_id {
        raw.mqtt.client_id = v;
    }
    if !a.subscriptions.is_empty() {
        raw.mqtt.subscriptions = a.subscriptions;
    }
    if let Some(v) = a.protocol {
        raw.mqtt.protocol = v;
    }
    if let Some(v) = a.state_dir {
        raw.state.dir = v;
    }
    if let Some(v) = a.report_dir {
        raw.report.dir = v;
    }
    if let Some(v) = a.metrics_listen {
        raw.metrics.listen = v;
    }
    if let Some(v) = a.log_format {
        raw.log.format = v;
    }
    if let Some(v) = a.rescore_every_hours {
        raw.ingest.rescore_every_hours = v;
    }
    if let Some(v) = a.window_days {
        raw.ingest.window_days = v;
    }
    if let Some(v) = a.checkpoint_every_s {
        raw.state.checkpoint_every_s = v;
    }
    if let Some(v) = a.username {
        raw.mqtt.username = Some(v);
    }
    if let Some(v) = a.password_env {
        raw.mqtt.password_env = Some(v);
    }
    if let Some(v) = a.password_file {
        raw.mqtt.password_file = Some(v);
    }
    if let Some(v) = a.ca_file {
        raw.mqtt.ca_file = Some(v);
    }
    if let Some(v) = a.client_cert_file {
        raw.mqtt.client_cert_file = Some(v);
    }
    if let Some(v) = a.client_key_file {
        raw.mqtt.client_key_file = Some(v);
    }
    if let Some(v) = a.registry {
        raw.detector.registry = v;
    }
    if let Some(v) = a.model {
        raw.detector.model = v;
    }
    if let Some(v) = a.tz_offset_s {
        raw.ingest.tz_offset_s = v;
    }
}

/// Installs the tracing subscriber (`RUST_LOG` wins over the configured filter).
pub fn init_logging(format: LogFormat, filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    // Colour codes only for a person at a terminal, never into a redirected log file.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // A second initialisation (tests running commands in-process) is harmless: keep the first.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Resolves on the first SIGINT or SIGTERM.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn watch_args(args: &[&str]) -> Result<WatchArgs, clap::Error> {
        let mut argv = vec!["flatline", "watch"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv)?.command {
            Command::Watch(a) => Ok(*a),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn client_certificate_flags_reach_the_config() {
        let a = watch_args(&[
            "--broker",
            "mqtts://broker.example:8883",
            "--ca-file",
            "ca.pem",
            "--client-cert-file",
            "me.pem",
            "--client-key-file",
            "me.key",
        ])
        .unwrap();
        let mut raw = RawConfig::default();
        apply_overrides(&mut raw, a);
        assert_eq!(raw.mqtt.client_cert_file, Some(PathBuf::from("me.pem")));
        assert_eq!(raw.mqtt.client_key_file, Some(PathBuf::from("me.key")));
        assert_eq!(raw.mqtt.ca_file, Some(PathBuf::from("ca.pem")));
    }

    #[test]
    fn a_client_certificate_without_its_key_is_refused() {
        let e = watch_args(&["--client-cert-file", "me.pem"]).unwrap_err();
        assert!(e.to_string().contains("--client-key-file"), "{e}");
    }
}
