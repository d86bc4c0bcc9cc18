//! Detection quality: what the labels say, what the detector learns from them and how
//! well it does against them. Nothing here runs in `scan` or `watch`; `train` and `eval`
//! are its commands.
//!
//! # Layout
//! - [`labels`]: ground truth for simulated and injected fleets, and its one reader.
//! - [`training`]: labelled fleets → training samples at several moments per meter.
//! - [`evaluate`]: detection quality against labels (AUC, recall, time to detection, and
//!   the alerts a daemon would raise, decided by the daemon's own
//!   [`crate::core::alerts::AlertBook`]).

pub mod evaluate;
pub mod labels;
pub mod training;
