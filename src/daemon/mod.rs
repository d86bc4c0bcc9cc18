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
//! - [`scorer`]: scoring on threads of its own, fed by a coalescing queue of due meters.
//! - [`metrics`]: counters and the Prometheus endpoint.
//! - [`publisher`]: replaying readings into a broker, counting acknowledgements.
//! - [`broker`]: the embedded rumqttd broker for the demo.
//! - [`demo`]: the demo run.
//! - [`scoring`]: the core's scoring entry points as the daemon uses them.

pub mod alerts;
#[cfg(feature = "embedded-broker")]
pub mod broker;
pub mod config;
pub mod demo;
pub mod meters;
pub mod metrics;
pub mod mqtt;
pub mod payload;
pub mod pipeline;
pub mod publisher;
pub mod scorer;
pub mod wal;

/// The core's scoring entry points, as the daemon uses them: the very functions `scan`
/// calls, so live and offline verdicts agree on the same readings.
pub mod scoring {
    pub use crate::core::{assess, Context, Model, WINDOW_HOURS};
}
