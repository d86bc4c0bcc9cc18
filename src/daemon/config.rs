//! Configuration: the raw `flatline.toml` (serde, unknown keys refused) and the checked
//! [`Settings`] the daemon runs with.
//!
//! Raw values are validated exactly once, in [`RawConfig::check`]: the broker URL is parsed,
//! the password is read from its environment variable or file, limits are range-checked.
//! Nothing downstream re-checks. Command-line flags override the file by writing into the
//! raw config before the check (see `commands::watch`). The password is wrapped in
//! [`Secret`], whose `Debug` prints nothing, so it cannot reach a log by accident.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Arc;

use serde::Deserialize;

use crate::core::model::ModelError;
use crate::core::registry::{parse_registry, Registry, RegistryError, Topology};
use crate::core::Model;

use super::meters::WindowDays;
use super::payload::Limits;
use super::wal::TableLimits;

/// A configuration problem, found at start-up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema (unknown keys included).
    #[error("config {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: Box<toml::de::Error>,
    },
    /// A value is out of range or inconsistent.
    #[error("config: {0}")]
    Invalid(String),
    /// The model file named by `detector.model` could not be loaded.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The registry named by `detector.registry` could not be read or parsed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// The `[detector]` table: what the core scores with.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDetector {
    /// Model file; empty means the model built into the binary.
    pub model: PathBuf,
    /// Registry CSV of known legitimate loads; empty means none.
    pub registry: PathBuf,
    /// Hours (event time) a meter must stay flagged before it is alerted as suspect; 0
    /// alerts at the first flagged verdict.
    pub confirm_hours: i64,
}

/// The `[mqtt]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawMqtt {
    /// `mqtt://HOST:PORT` or `mqtts://HOST:PORT`.
    pub broker: String,
    /// MQTT protocol version: 4 (3.1.1) or 5.
    pub protocol: u8,
    /// Fixed client id: the broker keeps the session (and queued messages) under it.
    pub client_id: String,
    /// Topic filters to subscribe to, QoS 1.
    pub subscriptions: Vec<String>,
    /// Alerts are published on `<alert_topic_prefix>/<meter_id>`.
    pub alert_topic_prefix: String,
    /// Keep-alive interval, seconds.
    pub keep_alive_s: u64,
    /// MQTT 5 session expiry, seconds (3.1.1 sessions do not expire).
    pub session_expiry_s: u32,
    /// Longest wait between reconnect attempts, seconds (the backoff doubles up to it).
    pub reconnect_max_s: u64,
    /// User name, if the broker wants one.
    pub username: Option<String>,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// File holding the password (first line).
    pub password_file: Option<PathBuf>,
    /// CA certificate(s), PEM, for `mqtts://`.
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain, PEM, for mutual TLS.
    pub client_cert_file: Option<PathBuf>,
    /// Client private key, PEM, for mutual TLS.
    pub client_key_file: Option<PathBuf>,
}

impl Default for RawMqtt {
    fn default() -> Self {
        RawMqtt {
            broker: "mqtt://127.0.0.1:1883".into(),
            protocol: 4,
            client_id: "flatline-watch".into(),
            subscriptions: vec!["meters/+/reading".into(), "tele/+/SENSOR".into()],
            alert_topic_prefix: "flatline/alerts".into(),
            keep_alive_s: 30,
            session_expiry_s: 7 * 86_400,
            reconnect_max_s: 30,
            username: None,
            password_env: None,
            password_file: None,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
        }
    }
}

/// The `[ingest]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawIngest {
    /// Cap on tracked meters.
    pub max_meters: usize,
    /// Score a meter each time its event time advances by this many hours.
    pub rescore_every_hours: i64,
    /// Days of hourly history kept per meter (the window the detector reads).
    pub window_days: i64,
    /// Largest payload accepted, bytes.
    pub max_payload_bytes: usize,
    /// Most readings in one batch message.
    pub max_batch: usize,
    /// How far ahead of the wall clock a timestamp may be, seconds.
    pub max_future_s: i64,
    /// How far behind the wall clock a timestamp may be, days.
    pub max_past_days: i64,
    /// Largest plausible average kW of one meter.
    pub max_kw: f64,
    /// Offset of Tasmota's zone-less local `Time` from UTC, seconds.
    pub tasmota_tz_offset_s: i32,
    /// Local time offset passed to the detector, seconds.
    pub tz_offset_s: i32,
    /// Capacity of the queue between the MQTT source and ingest, messages.
    pub queue_capacity: usize,
}

impl Default for RawIngest {
    fn default() -> Self {
        let limits = Limits::default();
        RawIngest {
            max_meters: 100_000,
            rescore_every_hours: 1,
            window_days: i64::from(WindowDays::MAX),
            max_payload_bytes: limits.max_payload_bytes,
            max_batch: limits.max_batch,
            max_future_s: limits.max_future_s,
            max_past_days: 3660,
            max_kw: limits.max_kw,
            tasmota_tz_offset_s: 0,
            tz_offset_s: 0,
            queue_capacity: 4096,
        }
    }
}

/// The `[state]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawState {
    /// Directory of the write-ahead log, snapshot and alerts.jsonl.
    pub dir: PathBuf,
    /// Seconds between snapshots.
    pub checkpoint_every_s: u64,
    /// Most readings logged before an fsync and the acknowledgements it releases.
    pub sync_batch: usize,
    /// Seconds allowed for a graceful shutdown before the process exits anyway.
    pub shutdown_deadline_s: u64,
}

impl Default for RawState {
    fn default() -> Self {
        RawState {
            dir: "flatline-state".into(),
            checkpoint_every_s: 60,
            sync_batch: 2000,
            shutdown_deadline_s: 20,
        }
    }
}

/// The `[report]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawReport {
    /// Directory for PNG evidence reports; empty disables them.
    pub dir: PathBuf,
}

impl Default for RawReport {
    fn default() -> Self {
        RawReport {
            dir: "flatline-reports".into(),
        }
    }
}

/// The `[metrics]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawMetrics {
    /// Address of the Prometheus endpoint; empty disables it.
    pub listen: String,
}

impl Default for RawMetrics {
    fn default() -> Self {
        RawMetrics {
            listen: "127.0.0.1:9464".into(),
        }
    }
}

/// The `[log]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `flatline=debug`.
    pub filter: String,
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog {
            format: "text".into(),
            filter: "info".into(),
        }
    }
}

/// The whole `flatline.toml`, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    /// Broker connection and topics.
    pub mqtt: RawMqtt,
    /// Payload limits, meter cap, scoring cadence.
    pub ingest: RawIngest,
    /// Model and registry.
    pub detector: RawDetector,
    /// Durable state.
    pub state: RawState,
    /// Evidence pictures.
    pub report: RawReport,
    /// Prometheus endpoint.
    pub metrics: RawMetrics,
    /// Logging.
    pub log: RawLog,
}

/// A password that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// MQTT protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// MQTT 3.1.1.
    V4,
    /// MQTT 5.
    V5,
}

/// TLS material for `mqtts://`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA certificate(s), PEM.
    pub ca_file: PathBuf,
    /// Client certificate chain and key, PEM, for mutual TLS.
    pub client_auth: Option<(PathBuf, PathBuf)>,
}

/// Where and how to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerSettings {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// TLS, for `mqtts://`.
    pub tls: Option<TlsFiles>,
    /// Protocol version.
    pub protocol: Protocol,
    /// Fixed client id.
    pub client_id: String,
    /// User name and password.
    pub credentials: Option<(String, Secret)>,
    /// Keep-alive.
    pub keep_alive: Duration,
    /// MQTT 5 session expiry, seconds.
    pub session_expiry_s: u32,
    /// Longest reconnect backoff.
    pub reconnect_max: Duration,
}

impl BrokerSettings {
    /// Settings for a client given only a URL (the publisher, the demo): MQTT 3.1.1,
    /// default keep-alive and backoff, no credentials; `ca_file` is required for `mqtts://`.
    pub fn from_url(
        url: &str,
        client_id: &str,
        ca_file: Option<PathBuf>,
    ) -> Result<BrokerSettings, ConfigError> {
        let (tls, host, port) = parse_broker_url(url)?;
        let tls = match (tls, ca_file) {
            (false, _) => None,
            (true, Some(ca_file)) => Some(TlsFiles {
                ca_file,
                client_auth: None,
            }),
            (true, None) => return Err(ConfigError::Invalid("mqtts:// needs a CA file".into())),
        };
        let d = RawMqtt::default();
        Ok(BrokerSettings {
            host,
            port,
            tls,
            protocol: Protocol::V4,
            client_id: client_id.to_string(),
            credentials: None,
            keep_alive: Duration::from_secs(d.keep_alive_s),
            session_expiry_s: d.session_expiry_s,
            reconnect_max: Duration::from_secs(5),
        })
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Checked settings of one daemon run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The broker.
    pub broker: BrokerSettings,
    /// Topic filters, QoS 1.
    pub subscriptions: Vec<String>,
    /// Alert topic prefix.
    pub alert_topic_prefix: String,
    /// Payload limits.
    pub limits: Limits,
    /// Meter table limits.
    pub table: TableLimits,
    /// Local time offset for the detector, seconds.
    pub tz_offset_s: i32,
    /// The scoring model (the embedded one unless `detector.model` names a file).
    pub model: Arc<Model>,
    /// Known legitimate loads, if `detector.registry` names a file.
    pub registry: Option<Arc<Registry>>,
    /// Hours a meter must stay flagged before it is alerted (`detector.confirm_hours`).
    pub confirm_hours: i64,
    /// Queue capacity between source and ingest.
    pub queue_capacity: usize,
    /// State directory.
    pub state_dir: PathBuf,
    /// Report directory, if reports are drawn.
    pub report_dir: Option<PathBuf>,
    /// Time between snapshots.
    pub checkpoint_every: Duration,
    /// Readings per fsync batch, at most.
    pub sync_batch: usize,
    /// Graceful shutdown deadline.
    pub shutdown_deadline: Duration,
    /// Prometheus endpoint address.
    pub metrics_listen: Option<SocketAddr>,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_filter: String,
}

impl RawConfig {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<RawConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses config text; `path` is only for messages.
    pub fn parse(text: &str, path: &Path) -> Result<RawConfig, ConfigError> {
        toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source: Box::new(source),
        })
    }

    /// Validates everything once and produces the settings.
    pub fn check(self) -> Result<Settings, ConfigError> {
        let invalid = |s: String| Err(ConfigError::Invalid(s));
        let m = self.mqtt;
        let (tls, host, port) = parse_broker_url(&m.broker)?;
        let tls = match (tls, m.ca_file) {
            (false, _) => None,
            (true, None) => {
                return invalid(
                    "mqtts:// needs mqtt.ca_file (the CA that signed the broker's certificate)"
                        .into(),
                )
            }
            (true, Some(ca_file)) => {
                let client_auth = match (m.client_cert_file, m.client_key_file) {
                    (Some(c), Some(k)) => Some((c, k)),
                    (None, None) => None,
                    _ => {
                        return invalid(
                            "mqtt.client_cert_file and mqtt.client_key_file go together".into(),
                        )
                    }
                };
                Some(TlsFiles {
                    ca_file,
                    client_auth,
                })
            }
        };
        let protocol = match m.protocol {
            4 => Protocol::V4,
            5 => Protocol::V5,
            p => {
                return invalid(format!(
                    "mqtt.protocol must be 4 (MQTT 3.1.1) or 5, not {p}"
                ))
            }
        };
        let password = match (&m.password_env, &m.password_file) {
            (Some(_), Some(_)) => {
                return invalid("give mqtt.password_env or mqtt.password_file, not both".into())
            }
            (Some(var), None) => Some(Secret(std::env::var(var).map_err(|_| {
                ConfigError::Invalid(format!(
                    "environment variable {var} (mqtt.password_env) is not set"
                ))
            })?)),
            (None, Some(file)) => {
                let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
                    path: file.clone(),
                    source,
                })?;
                Some(Secret(text.lines().next().unwrap_or("").to_string()))
            }
            (None, None) => None,
        };
        let credentials = match (m.username, password) {
            (Some(u), p) => Some((u, p.unwrap_or(Secret(String::new())))),
            (None, Some(_)) => return invalid("a password was given without mqtt.username".into()),
            (None, None) => None,
        };
        if m.client_id.is_empty() || m.client_id.len() > 64 {
            return invalid("mqtt.client_id must be 1 to 64 bytes".into());
        }
        if m.subscriptions.is_empty() {
            return invalid("mqtt.subscriptions is empty: the daemon would receive nothing".into());
        }
        let i = self.ingest;
        if i.max_meters == 0
            || i.queue_capacity == 0
            || i.rescore_every_hours < 1
            || i.max_batch == 0
        {
            return invalid("ingest.max_meters, queue_capacity, max_batch and rescore_every_hours must be at least 1".into());
        }
        if !(i.max_kw.is_finite() && i.max_kw > 0.0) {
            return invalid("ingest.max_kw must be a positive number".into());
        }
        let Some(window) = WindowDays::new(i.window_days) else {
            return invalid(format!(
                "ingest.window_days must be {} to {}, not {}: the detector needs a week of \
                 baseline and 18 hours of episode to date a switch-on, and reads at most 13 weeks",
                WindowDays::MIN,
                WindowDays::MAX,
                i.window_days
            ));
        };
        let s = self.state;
        if s.sync_batch == 0 || s.checkpoint_every_s == 0 {
            return invalid(
                "state.sync_batch and state.checkpoint_every_s must be at least 1".into(),
            );
        }
        let metrics_listen = match self.metrics.listen.trim() {
            "" => None,
            addr => Some(addr.parse().map_err(|_| {
                ConfigError::Invalid(format!("metrics.listen {addr:?} is not HOST:PORT"))
            })?),
        };
        let log_format = match self.log.format.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            f => return invalid(format!("log.format must be text or json, not {f:?}")),
        };
        if !(0..=14 * 24).contains(&self.detector.confirm_hours) {
            return invalid(format!(
                "detector.confirm_hours must be between 0 and 336, not {}",
                self.detector.confirm_hours
            ));
        }
        // The detector's files are read here, once, so a bad path stops start-up instead of
        // the first scoring.
        let model = if self.detector.model.as_os_str().is_empty() {
            Model::embedded().clone()
        } else {
            let path = &self.detector.model;
            let name = path.display().to_string();
            let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
                source_name: name.clone(),
                source,
            })?;
            Model::from_bytes(&bytes, &name)?
        };
        let registry = if self.detector.registry.as_os_str().is_empty() {
            None
        } else {
            let path = &self.detector.registry;
            let name = path.display().to_string();
            let file = std::fs::File::open(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            let registry = parse_registry(file, &name)?;
            // A registry with transformer/feeder rows must describe a sound topology: the
            // ingest stage balances nodes on it and does not re-check.
            Topology::from_registry(&registry)
                .map_err(|e| ConfigError::Invalid(format!("detector.registry {name}: {e}")))?;
            Some(Arc::new(registry))
        };
        Ok(Settings {
            broker: BrokerSettings {
                host,
                port,
                tls,
                protocol,
                client_id: m.client_id,
                credentials,
                keep_alive: Duration::from_secs(m.keep_alive_s.max(5)),
                session_expiry_s: m.session_expiry_s,
                reconnect_max: Duration::from_secs(m.reconnect_max_s.max(1)),
            },
            subscriptions: m.subscriptions,
            alert_topic_prefix: m.alert_topic_prefix.trim_end_matches('/').to_string(),
            limits: Limits {
                max_payload_bytes: i.max_payload_bytes,
                max_batch: i.max_batch,
                max_future_s: i.max_future_s,
                max_past_s: i.max_past_days.saturating_mul(86_400),
                max_kw: i.max_kw,
                tasmota_tz_offset_s: i.tasmota_tz_offset_s,
            },
            table: TableLimits {
                max_meters: i.max_meters,
                rescore_every_hours: i.rescore_every_hours,
                max_kw: i.max_kw,
                window,
            },
            tz_offset_s: i.tz_offset_s,
            model: Arc::new(model),
            registry,
            confirm_hours: self.detector.confirm_hours,
            queue_capacity: i.queue_capacity,
            state_dir: s.dir,
            report_dir: (!self.report.dir.as_os_str().is_empty()).then_some(self.report.dir),
            checkpoint_every: Duration::from_secs(s.checkpoint_every_s),
            sync_batch: s.sync_batch,
            shutdown_deadline: Duration::from_secs(s.shutdown_deadline_s.max(1)),
            metrics_listen,
            log_format,
            log_filter: self.log.filter,
        })
    }
}

/// Splits `mqtt://host:port` / `mqtts://host:port` into (tls, host, port). `tcp://` and
/// `ssl://`, the scheme names paho and Mosquitto use, are accepted as aliases of the two
/// (docs/operations.md says so).
pub fn parse_broker_url(url: &str) -> Result<(bool, String, u16), ConfigError> {
    let bad = || {
        ConfigError::Invalid(format!(
            "broker {url:?} is not mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (or their aliases tcp:// and ssl://)"
        ))
    };
    let (tls, rest) = if let Some(r) = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
    {
        (false, r)
    } else if let Some(r) = url
        .strip_prefix("mqtts://")
        .or_else(|| url.strip_prefix("ssl://"))
    {
        (true, r)
    } else {
        return Err(bad());
    };
    let rest = rest.trim_end_matches('/');
    let default_port = if tls { 8883 } else { 1883 };
    // A bracketed IPv6 address keeps its colons.
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, p.parse::<u16>().map_err(|_| bad())?),
        _ => (rest, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains('/') {
        return Err(bad());
    }
    Ok((tls, host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_url(url: &str, expected: Option<(bool, &str, u16)>) {
        let got = parse_broker_url(url).ok();
        assert_eq!(
            got.as_ref().map(|(t, h, p)| (*t, h.as_str(), *p)),
            expected,
            "{url}"
        );
    }

    #[test]
    fn broker_urls_parse_with_default_ports() {
        check_url(
            "mqtt://broker.example:1884",
            Some((false, "broker.example", 1884)),
        );
        check_url("mqtt://10.0.0.1", Some((false, "10.0.0.1", 1883)));
        check_url(
            "mqtts://broker.example",
            Some((true, "broker.example", 8883)),
        );
        check_url("mqtts://[::1]:8884", Some((true, "::1", 8884)));
        // The documented aliases.
        check_url("tcp://10.0.0.1", Some((false, "10.0.0.1", 1883)));
        check_url("ssl://broker.example", Some((true, "broker.example", 8883)));
        check_url("http://broker", None);
        check_url("mqtt://:1883", None);
        check_url("mqtt://host:notaport", None);
    }

    #[test]
    fn the_shipped_flatline_toml_parses_and_checks() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("flatline.toml");
        let raw = RawConfig::load(&path).unwrap();
        let s = raw.check().unwrap();
        assert_eq!(s.subscriptions, vec!["meters/+/reading", "tele/+/SENSOR"]);
        assert_eq!(s.broker.protocol, Protocol::V4);
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let err =
            RawConfig::parse("[mqtt]\nbrokr = \"mqtt://x\"\n", Path::new("t.toml")).unwrap_err();
        assert!(err.to_string().contains("brokr"), "{err}");
    }

    #[test]
    fn confirm_hours_is_read_and_bounded() {
        let parse = |v: &str| {
            RawConfig::parse(
                &format!("[detector]\nconfirm_hours = {v}\n"),
                Path::new("t.toml"),
            )
            .unwrap()
            .check()
        };
        assert_eq!(parse("12").unwrap().confirm_hours, 12);
        assert!(matches!(parse("-1"), Err(ConfigError::Invalid(_))));
        assert!(matches!(parse("1000"), Err(ConfigError::Invalid(_))));
        let default = RawConfig::parse("", Path::new("t.toml"))
            .unwrap()
            .check()
            .unwrap();
        assert_eq!(default.confirm_hours, 0);
    }

    #[test]
    fn mqtts_without_a_ca_file_is_refused() {
        let raw =
            RawConfig::parse("[mqtt]\nbroker = \"mqtts://x\"\n", Path::new("t.toml")).unwrap();
        assert!(matches!(raw.check(), Err(ConfigError::Invalid(_))));
    }

    #[test]
    fn the_password_comes_from_a_file_and_never_prints() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "hunter2\n").unwrap();
        let text = format!("[mqtt]\nusername = \"u\"\npassword_file = {:?}\n", file);
        let s = RawConfig::parse(&text, Path::new("t.toml"))
            .unwrap()
            .check()
            .unwrap();
        let (user, pw) = s.broker.credentials.clone().unwrap();
        assert_eq!((user.as_str(), pw.0.as_str()), ("u", "hunter2"));
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    fn check_window_days(text: &str, expected: Option<u16>) {
        let raw = RawConfig::parse(text, Path::new("t.toml")).unwrap();
        match (raw.check(), expected) {
            (Ok(s), Some(days)) => assert_eq!(s.table.window.days(), days, "{text}"),
            (Err(ConfigError::Invalid(msg)), None) => {
                assert!(msg.contains("ingest.window_days must be 8 to 91"), "{msg}")
            }
            (got, _) => panic!("{text}: {got:?}"),
        }
    }

    #[test]
    fn the_window_defaults_to_thirteen_weeks_and_is_checked() {
        check_window_days("", Some(91));
        check_window_days("[ingest]\nwindow_days = 28\n", Some(28));
        check_window_days("[ingest]\nwindow_days = 8\n", Some(8));
        check_window_days("[ingest]\nwindow_days = 91\n", Some(91));
        check_window_days("[ingest]\nwindow_days = 7\n", None);
        check_window_days("[ingest]\nwindow_days = 92\n", None);
        check_window_days("[ingest]\nwindow_days = -28\n", None);
    }

    #[test]
    fn a_password_without_a_user_is_refused() {
        std::env::set_var("FLATLINE_TEST_PW_UNUSED", "x");
        let raw = RawConfig::parse(
            "[mqtt]\npassword_env = \"FLATLINE_TEST_PW_UNUSED\"\n",
            Path::new("t.toml"),
        )
        .unwrap();
        assert!(raw.check().is_err());
    }
}
