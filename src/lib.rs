//! flatline finds hidden cryptocurrency-mining loads in smart-meter data.
//!
//! A mining rig draws a flat, high, continuous load; homes and most businesses do not.
//! flatline turns meter readings into hourly series, describes each series with a few
//! features, places it in a trained linfa clustering model, and explains the verdict.
//!
//! # Layout
//! - [`core`]: the pure detector — series, features, model, verdict. No IO.
//! - [`ingest`]: reading meter dumps (CSV, gzip, several layouts) into a [`core::Fleet`].
//! - [`sim`]: synthetic fleets and mining injection, for demos, training and evaluation.
//! - [`scan`]: the offline driver: dumps → series → assessments → ranked tables and files.
//! - [`report`]: PNG evidence for inspectors, drawn with plotters.
//! - [`daemon`]: the MQTT service (`watch`): source → ingest → scorer → alert sink.
//! - [`replay`]: the daemon's clients: the publisher, the embedded broker and the demo.
//! - [`commands`]: one file per subcommand; the flow of each run lives there.
//! - [`quality`]: detection quality against labels, training samples, and the labels.
//! - [`logging`]: the tracing set-up every long-running command shares.
//! - [`cli`]: the command-line grammar.
//!
//! # Example
//!
//! The core in a few lines: readings into a fleet, a meter's hourly series, a verdict from
//! the built-in model. A home at 0.4 kW with an evening peak, and one S19-class rig (3.25 kW)
//! switched on at day 30 of 40:
//!
//! ```
//! use flatline::core::{assess, Context, Fleet, Model, Unit};
//!
//! let mut fleet = Fleet::new();
//! let start = 1_704_067_200; // 2024-01-01 00:00 UTC
//! for h in 0..40 * 24 {
//!     let hour_of_day = h % 24;
//!     let home = if (17..22).contains(&hour_of_day) { 2.0 } else { 0.4 };
//!     let rig = if h >= 30 * 24 { 3.25 } else { 0.0 };
//!     let wobble = 1.0 + 0.05 * ((h * 7919) % 11) as f32 / 11.0;
//!     fleet.push("MTR-1", start + h * 3600, (home + rig) * wobble, Unit::Kwh).unwrap();
//! }
//! let (id, series) = &fleet.finish()[0];
//! let verdict = assess(id, series, series.end_hour(), Model::embedded(), &Context::default());
//! assert!(verdict.flagged, "{:?}", verdict.reasons);
//! assert!((verdict.est_rigs - 1.0).abs() < 0.3);
//! println!("{}: {}", verdict.meter_id, verdict.reasons.join("; "));
//! ```

pub mod cli;
pub mod commands;
pub mod core;
pub mod daemon;
pub mod ingest;
pub mod logging;
pub mod quality;
pub mod replay;
pub mod report;
pub mod scan;
pub mod sim;
