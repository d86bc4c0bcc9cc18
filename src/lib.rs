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
//! - [`daemon`]: the MQTT service (`watch`), the publisher and the embedded-broker demo.
//! - [`commands`]: one file per subcommand; the flow of each run lives there.
//! - [`evaluate`]: detection quality against labels (AUC, recall, time to detection).
//! - [`training`]: labelled fleets → training samples at several moments per meter.
//! - [`labels`]: ground truth for simulated and injected fleets (train, eval).
//! - [`cli`]: the command-line grammar.

pub mod cli;
pub mod commands;
pub mod core;
pub mod daemon;
pub mod evaluate;
pub mod ingest;
pub mod labels;
pub mod report;
pub mod scan;
pub mod sim;
pub mod training;
