//! Features: the numbers that describe one meter's recent load as flat, high, continuous
//! and newly switched on — or not.
//!
//! Everything here reads one [`HourlySeries`] over the analysed window (the
//! [`WINDOW_HOURS`] hours before the "as of" hour) and nothing else, so the same readings
//! give the same features whether they came from a dump or from MQTT. The window is split
//! at a detected step onset into a *baseline* (before) and an *episode* (after); with no
//! onset the whole window is the episode. Features that need the rest of the fleet (the
//! level against comparable meters) are completed by [`crate::core::model`]. See
//! `docs/features.md` for one page per feature.
//!
//! The model's features are declared once, in [`Features`]: one field each, computed in
//! [`Features::of`]. A feature's name (in model files and on `docs/features.md`) is its
//! field's name, and the model words its reason by matching on [`Feature`], so adding a
//! feature is one field and its line in `of`; the compiler then asks for its reason
//! wording and a test for its docs section.
//!
//! Layout: `window` cuts 6-hour blocks, `onset` finds the step, `shape` describes a
//! stretch of hours, `added` and `floor` are the second and third tests, `stats` holds the
//! order statistics they share.

mod added;
#[cfg(test)]
pub(crate) mod fixtures;
mod floor;
mod onset;
mod shape;
mod stats;
mod window;

pub use added::Added;
pub use floor::FloorStep;
pub use onset::{Onset, MIN_ONSET_WINDOW_HOURS};
pub use shape::{shape, Shape};
pub use stats::quantile;

use super::series::HourlySeries;
use added::added_load;
use floor::floor_step;
use onset::{find_onset_in, latest_step};
use window::window_blocks;

/// Hours in the analysed window: 13 weeks. The onset search and the baseline use all of
/// it, so a switch-on up to about three months back is still seen as a step. That matters:
/// a farm running flat since before the window is, by shape alone, a legitimate continuous
/// process load (EnerNOC food processor 786 runs flat at 2.8 MW for whole quarters).
pub const WINDOW_HOURS: i64 = 13 * 7 * 24;

/// Hours of the most recent episode that the shape features describe: 28 days, four
/// weekly cycles. Older episode hours still count for the onset and the step.
pub const EPISODE_HOURS: i64 = 28 * 24;

/// The shortest stretch of valid hours in the window that the detector will judge.
pub const MIN_VALID_HOURS: usize = 72;

/// Declares the model's features once. Each line is a field of [`Features`] and a variant
/// of [`Feature`]; the field's name is the feature's name in model files and on
/// `docs/features.md`, and the order of the lines is the order a model stores them in.
macro_rules! declare_features {
    ($( $(#[doc = $doc:literal])* $field:ident => $variant:ident, )*) => {
        /// The feature vector the model reads: one named field per feature. Undefined
        /// features are NaN (the model imputes them); `level_vs_peers` is NaN until the
        /// model fills it in.
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub struct Features {
            $( $(#[doc = $doc])* pub $field: f64, )*
        }

        /// One feature of [`Features`]: to name it, read it, and word a reason for it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Feature {
            $( $(#[doc = $doc])* $variant, )*
        }

        /// Names of the features the model reads, in order. A model trained on another
        /// list refuses to load.
        pub const FEATURE_NAMES: [&str; N_FEATURES] = [$(stringify!($field)),*];

        /// Number of features.
        pub const N_FEATURES: usize = [$(stringify!($field)),*].len();

        impl Feature {
            /// Every feature, in the order a model stores them.
            pub const ALL: [Feature; N_FEATURES] = [$(Feature::$variant),*];

            /// The feature's name in model files and on `docs/features.md`: its field's name.
            pub fn name(self) -> &'static str {
                match self {
                    $( Feature::$variant => stringify!($field), )*
                }
            }
        }

        impl Features {
            /// The value of one feature.
            pub fn get(&self, feature: Feature) -> f64 {
                match feature {
                    $( Feature::$variant => self.$field, )*
                }
            }
        }
    };
}

declare_features! {
    /// log10 of the episode's mean kW.
    log_level => LogLevel,
    /// log10 of the episode's floor (20th-percentile kW).
    log_floor => LogFloor,
    /// Floor over mean, at most 1.5.
    base_ratio => BaseRatio,
    /// Mean over peak (98th-percentile kW), at most 1.5.
    load_factor => LoadFactor,
    /// Interquartile range over median of hourly kW, at most 3.
    variability => Variability,
    /// log2 of the night-time over the daytime level.
    night_day => NightDay,
    /// How much the time of day moves the load (0–3).
    daily_shape => DailyShape,
    /// How much the day of the week moves the daily mean (0–3; NaN under 7 days).
    weekly_shape => WeeklyShape,
    /// Share of hours at or above 75% of the median.
    uptime => Uptime,
    /// log2 of (1 + step / baseline); 0 without an onset.
    step => Step,
    /// The step's flatness over the slots of the day; 0 without an onset.
    step_flatness => StepFlatness,
    /// Standardised log level against the meter's peer group (filled in by the model).
    level_vs_peers => LevelVsPeers,
}

impl Features {
    /// The features of a stretch of hours described by `shape`, with the step `onset`
    /// when one was found; `level_vs_peers` is left NaN for the model.
    pub fn of(shape: &Shape, onset: Option<Onset>) -> Features {
        Features {
            log_level: log_kw(shape.mean_kw),
            log_floor: log_kw(shape.floor_kw),
            base_ratio: ratio(shape.floor_kw, shape.mean_kw).min(1.5),
            load_factor: ratio(shape.mean_kw, shape.peak_kw).min(1.5),
            variability: shape.variability.min(3.0),
            night_day: shape.night_day,
            daily_shape: shape.daily_shape,
            weekly_shape: shape.weekly_shape,
            uptime: shape.uptime,
            step: onset.map_or(0.0, |o| (1.0 + o.added_kw / (o.baseline_kw + 0.1)).log2()),
            step_flatness: onset.map_or(0.0, |o| o.flatness),
            level_vs_peers: f64::NAN,
        }
    }

    /// The values in [`Feature::ALL`] order: the row the model standardises.
    pub fn to_array(&self) -> [f64; N_FEATURES] {
        Feature::ALL.map(|f| self.get(f))
    }

    /// Each feature with its value, in [`Feature::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Feature, f64)> + '_ {
        Feature::ALL.into_iter().map(|f| (f, self.get(f)))
    }
}

/// The features that place a meter among comparable meters, read from the shape of its
/// *baseline* (so a miner is compared with what its premises was before), in the order the
/// peer clustering stores them.
pub const PEER_FEATURES: [Feature; 6] = [
    Feature::BaseRatio,
    Feature::LoadFactor,
    Feature::NightDay,
    Feature::DailyShape,
    Feature::WeeklyShape,
    Feature::LogLevel,
];

/// Everything the core measured about one meter's window.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// First hour of the window.
    pub window_start_hour: i64,
    /// One past the last hour of the window (the "as of" hour).
    pub window_end_hour: i64,
    /// The step onset, when one was found.
    pub onset: Option<Onset>,
    /// Shape of the episode: after the onset, or the whole window.
    pub episode: Shape,
    /// Shape of the baseline: before the onset, or the whole window.
    pub baseline: Shape,
    /// What the step added, hour by hour, when an onset was found (see [`Added`]).
    pub added: Option<Added>,
    /// The floor step, when the site's floor rose and stayed up (see [`FloorStep`]).
    pub floor: Option<FloorStep>,
    /// The features of the episode; `level_vs_peers` is NaN until the model fills it.
    pub features: Features,
}

/// Measures one meter as of `as_of_hour` (exclusive). Returns `None` when the window
/// holds fewer than [`MIN_VALID_HOURS`] valid hours.
pub fn measure(series: &HourlySeries, as_of_hour: i64, tz_offset_s: i32) -> Option<Measured> {
    let end = as_of_hour.min(series.end_hour());
    let (start, w) = series.window(end - WINDOW_HOURS, end);
    let n_valid = w.iter().filter(|v| v.is_finite()).count();
    if n_valid < MIN_VALID_HOURS {
        return None;
    }
    let tz_h = tz_offset_s as f64 / 3600.0;
    // One cut into 6-hour blocks serves the onset search and the floor test.
    let blocks = window_blocks(start, w);
    let onset = find_onset_in(start, w, tz_offset_s, &blocks)
        .map(|o| latest_step(start, w, tz_offset_s, o));
    // The episode is what came after the onset (at most its last 28 days); with no onset,
    // the last 28 days, which then also stand as the baseline.
    let recent = w.len().saturating_sub(EPISODE_HOURS as usize);
    let (ep_from, base) = match onset {
        Some(o) => {
            let split = (o.hour - start) as usize;
            (split.max(recent), &w[..split])
        }
        None => (recent, &w[recent..]),
    };
    let base_start = if onset.is_some() {
        start
    } else {
        start + recent as i64
    };
    let added = onset.and_then(|o| added_load(start, w, (o.hour - start) as usize, tz_h));
    let episode = shape(start + ep_from as i64, &w[ep_from..], tz_h);
    // With no onset the baseline is the same stretch of hours as the episode.
    let baseline = if onset.is_some() {
        shape(base_start, base, tz_h)
    } else {
        episode
    };
    Some(Measured {
        window_start_hour: start,
        window_end_hour: start + w.len() as i64,
        onset,
        episode,
        baseline,
        added,
        floor: floor_step(blocks.first, &blocks.values),
        features: Features::of(&episode, onset),
    })
}

/// A test's margin as a score: 0.5 exactly at its limit (`past_limit` = 0), towards 1 the
/// further on the passing side, in steps of `width` (logistic).
fn margin(past_limit: f64, width: f64) -> f64 {
    1.0 / (1.0 + (-(past_limit / width)).exp())
}

/// log10 of kW with a small offset so an empty meter is finite.
pub fn log_kw(kw: f64) -> f64 {
    (kw.max(0.0) + 0.05).log10()
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 1e-9 {
        a / b
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::features::fixtures::*;

    #[test]
    fn a_household_has_no_onset_and_a_strong_daily_shape() {
        let s = series(WINDOW_HOURS, household);
        let m = measure(&s, s.end_hour(), 0).unwrap();
        assert!(m.onset.is_none(), "{:?}", m.onset);
        assert!(
            m.features.daily_shape > 0.5,
            "daily_shape {}",
            m.features.daily_shape
        );
        assert!(
            m.features.base_ratio < 0.5,
            "base_ratio {}",
            m.features.base_ratio
        );
    }

    #[test]
    fn the_docs_page_has_a_row_and_a_section_per_feature_in_the_model_order() {
        let page = include_str!("../../../docs/features.md");
        let names: Vec<&str> = Feature::ALL.iter().map(|f| f.name()).collect();
        let sections: Vec<&str> = page
            .lines()
            .filter_map(|l| l.strip_prefix("## `")?.strip_suffix('`'))
            .collect();
        assert_eq!(sections, names, "sections of docs/features.md");
        let rows: Vec<&str> = page
            .lines()
            .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
            .collect();
        assert_eq!(rows, names, "table rows of docs/features.md");
    }

    #[test]
    fn feature_names_are_the_field_names_in_declaration_order() {
        // What model files list: the order is the order of the fields.
        let f = Features {
            log_level: 0.0,
            log_floor: 1.0,
            base_ratio: 2.0,
            load_factor: 3.0,
            variability: 4.0,
            night_day: 5.0,
            daily_shape: 6.0,
            weekly_shape: 7.0,
            uptime: 8.0,
            step: 9.0,
            step_flatness: 10.0,
            level_vs_peers: 11.0,
        };
        for (i, (feature, v)) in f.iter().enumerate() {
            assert_eq!(v, i as f64, "{}", feature.name());
            assert_eq!(FEATURE_NAMES[i], feature.name());
        }
        assert_eq!(
            FEATURE_NAMES[Feature::LevelVsPeers as usize],
            "level_vs_peers"
        );
    }

    #[test]
    fn too_little_data_is_not_measured() {
        let s = series(48, household);
        assert!(measure(&s, s.end_hour(), 0).is_none());
    }

    #[test]
    fn as_of_cuts_the_window() {
        let on = 480_000 + 20 * 24;
        let s = series(40 * 24, |h| household(h) + if h >= on { 3.25 } else { 0.0 });
        let m = measure(&s, on - 1, 0).unwrap();
        assert!(m.onset.is_none());
        assert_eq!(m.window_end_hour, on - 1);
        assert_eq!(
            m.window_start_hour, s.start_hour,
            "the window is clipped to the series"
        );
    }
}
