//! The MQTT service (`flatline watch`): the live driver of the same pure core `scan` uses.
//! Its clients (the publisher, the embedded broker, the demo) live in [`crate::replay`];
//! the alert rule it applies is [`crate::core::alerts`].
//!
//! # Layout
//! - [`pipeline`]: the running daemon's wiring and shutdown order, and its guarantees.
//! - [`source`]: MQTT poll → decode → bounded channel to ingest.
//! - [`ingest`]: the meter table, the WAL, fsync batches and the acknowledgements.
//! - [`scorer`]: scoring on threads of its own, fed by a coalescing queue of due meters.
//! - [`sink`]: draw the PNG → `alerts.jsonl` → MQTT; the one place a new alert sink joins.
//! - [`payload`]: topic + bytes → readings or counted rejections. Pure.
//! - [`meters`]: per-meter rolling hour windows, registers, the capped meter table. Pure.
//! - [`wal`]: the write-ahead log and snapshots under `--state-dir`.
//! - [`config`]: `flatline.toml` → checked [`config::Settings`].
//! - [`mqtt`]: rumqttc options (TLS, MQTT 3.1.1/5, persistent session), one enum over both APIs.
//! - [`metrics`]: counters and the Prometheus endpoint.
//! - [`scoring`]: the core's scoring entry points as the daemon uses them.

pub mod config;
pub mod ingest;
pub mod meters;
pub mod metrics;
pub mod mqtt;
pub mod payload;
pub mod pipeline;
pub mod scorer;
pub mod sink;
pub mod source;
pub mod wal;

/// The core's scoring entry points, as the daemon uses them: the very functions `scan`
/// calls, so live and offline verdicts agree on the same readings.
pub mod scoring {
    pub use crate::core::{assess, Context, Model, WINDOW_HOURS};
}
