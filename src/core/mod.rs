//! The pure detector core: series → features → model → verdict.
//!
//! Nothing in here does IO, spawns a thread or reads a clock. The offline scanner drives it
//! from an iterator over a dump; the daemon drives it from a channel of live readings. Given
//! the same hourly series, the same model and the same "as of" hour, both get the same
//! [`Assessment`].

pub mod alerts;
pub mod balance;
pub mod features;
pub mod fleet;
pub mod model;
pub mod registry;
pub mod series;
pub mod verdict;

pub use fleet::{Fleet, MeterId};

pub use model::Model;
pub use series::{HourlySeries, SeriesBuilder, Unit};
pub use verdict::{Assessment, Status};

pub use features::WINDOW_HOURS;

use registry::RegistryEntry;
use verdict::judge;

/// What the core needs besides the series and the model.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    /// Offset of the meters' local time from UTC, seconds (for day/night features).
    pub tz_offset_s: i32,
    /// What the utility knows about this meter, if anything.
    pub registry: Option<&'a RegistryEntry>,
}

/// Judges one meter as of `as_of_hour` (exclusive): the whole detector in one call.
///
/// Pure and deterministic: the same series, hour, model and context always give the same
/// assessment, which is how `scan` and `watch` agree.
pub fn assess(
    meter: &MeterId,
    series: &HourlySeries,
    as_of_hour: i64,
    model: &Model,
    ctx: &Context,
) -> Assessment {
    judge(meter, series, as_of_hour, model, ctx, true)
}

/// [`assess`] by the clustering model alone, without the added-load and floor tests: the ablation
/// behind `flatline eval --method clusters`. Never used by scan or watch.
pub fn assess_clusters_only(
    meter: &MeterId,
    series: &HourlySeries,
    as_of_hour: i64,
    model: &Model,
    ctx: &Context,
) -> Assessment {
    judge(meter, series, as_of_hour, model, ctx, false)
}
