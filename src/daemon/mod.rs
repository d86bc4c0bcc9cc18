//! The MQTT service (`flatline watch`), the replay publisher (`flatline publish`) and the
//! zero-setup demo (`flatline demo`): the live driver of the same pure core `scan` uses.
//!
//! # Layout
//! - [`payload`]: topic + bytes → readings or counted rejections. Pure.
//! - [`meters`]: per-meter rolling hour windows, registers, the capped meter table. Pure.
//! - [`alerts`]: when a verdict is worth an alert, and the alert record.
//! - [`wal`]: the write-ahead log and snapshots under `--state-dir`.
//! - [`config`]: `flatline.toml` → checked [`config::Settings`].
//! - [`mqtt`]: rumqttc options (TLS, MQTT 3.1.1/5, persistent session), one enum over both APIs.
//! - [`pipeline`]: the running daemon: source → ingest → alert sink, shutdown, guarantees.
//! - [`metrics`]: counters and the Prometheus endpoint.
//! - [`publisher`]: replaying readings into a broker, counting acknowledgements.
//! - [`broker`]: the embedded rumqttd broker for the demo.
//! - [`demo`]: the demo run.
//! - [`chart`]: a temporary evidence picture until `report` lands.
//! - [`scoring`]: the core's scoring entry points as the daemon uses them.

pub mod alerts;
#[cfg(feature = "embedded-broker")]
pub mod broker;
pub mod chart;
pub mod config;
pub mod demo;
pub mod meters;
pub mod metrics;
pub mod mqtt;
pub mod payload;
pub mod pipeline;
pub mod publisher;
mod scoring_shim;
pub mod wal;

/// The core's scoring entry points. TEMPORARY: re-exports the shim until
/// `flatline::core::{assess, Context, WINDOW_HOURS}` and `Model::embedded` land in main.
pub mod scoring {
    pub use super::scoring_shim::{assess, Context, Model, WINDOW_HOURS};
}
