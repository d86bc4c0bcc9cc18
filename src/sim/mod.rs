//! Synthetic fleets and mining injection, for demos, training and evaluation.
//!
//! There is no public labelled data of mining meters, so flatline makes its own ground
//! truth: [`simulate`] draws a whole fleet of homes, businesses and confounders with
//! hidden miners of every scale, and [`inject`] adds mining load to real series. Both
//! follow `DOMAIN.md`: miners are flat, high and continuous from an onset that stays, with
//! temperature ripple, restarts, outages, throttling and peak-hour curtailment; the
//! confounders (heat pumps, EVs, storage heaters, cold stores, server rooms, bakeries,
//! 24/7 shops, empty homes) look legitimate and are labelled as such.
//!
//! Everything here is pure and seeded: the same seed gives the same values. Values are a
//! function of (meter, time) so they can be produced in any order without storing them.
//! File IO belongs to the commands (`simulate`, `inject`); this module formats into any
//! `Write`.
//!
//! # Layout
//! - [`weather`]: the shared temperature model.
//! - [`load`]: households and confounders ([`Kind`], [`BaseLoad`], [`base_kw`]).
//! - [`mining`]: the mining load ([`MinerSpec`], [`mining_kw`]).
//! - [`fleet`]: drawing a fleet and streaming its readings ([`SimConfig`], [`SimFleet`]).
//! - [`inject`]: cutting real series into pieces, choosing some, planning their miners.
//! - [`labels`]: the ground-truth and registry files.
//! - [`topology`]: feeders → transformers → customers with node meters, for the energy balance.
//! - [`noise`]: counter-based randomness (a value per (seed, tag, index)).

pub mod fleet;
pub mod inject;
pub mod labels;
pub mod load;
pub mod mining;
pub mod noise;
pub mod topology;
pub mod weather;

pub use fleet::{format_timestamp, simulate, SimConfig, SimFleet, SimMeter, SimReading};
pub use labels::{read_labels, write_labels, write_registry, Label, LabelError, RegistryRow};
pub use load::{base_kw, BaseLoad, Class, Kind};
pub use mining::{mining_kw, MinerSpec, S19_KW, S9_KW};
pub use topology::{grow, write_node_labels, NodeLabel, NodeScenario, TopoFleet, TopologyConfig};
pub use weather::Weather;
