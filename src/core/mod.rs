//! The pure detector core: series → features → model → verdict.
//!
//! Nothing in here does IO, spawns a thread or reads a clock. The offline scanner drives it
//! from an iterator over a dump; the daemon drives it from a channel of live readings. Given
//! the same hourly series, the same model and the same "as of" hour, both get the same
//! [`Assessment`].

pub mod features;
pub mod fleet;
pub mod model;
pub mod registry;
pub mod series;
pub mod verdict;

pub use fleet::{Fleet, MeterId};

pub use series::{HourlySeries, SeriesBuilder, Unit};
pub use verdict::{Assessment, Status};
