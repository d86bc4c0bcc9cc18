//! TEMPORARY stand-in for `flatline::core::{assess, Context, WINDOW_HOURS}` and
//! `flatline::core::model::Model::embedded()`, which the lead is landing in main. It has
//! exactly the signatures of the brief so the daemon compiles and its tests run; the whole
//! file is deleted when main is merged and `daemon::scoring` re-exports the real core.
//!
//! The heuristic here is deliberately simple — the last three days flat (5th percentile at
//! least 85% of the mean) and high (mean above 2 kW) — and is not the product's detector.

use crate::core::series::HourlySeries;
use crate::core::verdict::{rigs_for_kw, Assessment, Status};
use crate::core::MeterId;

/// The analysed window: 28 days of hours before "as of".
pub const WINDOW_HOURS: i64 = 672;

/// The scoring model (a placeholder with no parameters here).
#[derive(Debug)]
pub struct Model;

impl Model {
    /// The model compiled into the binary.
    pub fn embedded() -> &'static Model {
        static MODEL: Model = Model;
        &MODEL
    }
}

/// Per-run context of a verdict.
#[derive(Debug, Default, Clone, Copy)]
pub struct Context<'a> {
    /// Local time offset from UTC, seconds.
    pub tz_offset_s: i32,
    /// Registry entry of the meter (unused by the shim).
    pub registry: Option<&'a ()>,
}

/// Judges one meter as of `as_of_hour` from the window before it.
pub fn assess(
    meter: &MeterId,
    series: &HourlySeries,
    as_of_hour: i64,
    _model: &Model,
    _ctx: &Context,
) -> Assessment {
    let window_start = as_of_hour - WINDOW_HOURS;
    let (start, kw) = series.window(window_start, as_of_hour);
    let recent_from = (as_of_hour - 72 - start).max(0) as usize;
    let recent: Vec<f32> = kw[recent_from.min(kw.len())..]
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let mut a = Assessment {
        meter_id: meter.clone(),
        score: 0.0,
        flagged: false,
        status: Status::InsufficientData,
        level_kw: 0.0,
        excess_kw: 0.0,
        est_rigs: 0.0,
        excess_kwh_per_day: 0.0,
        since_hour: window_start,
        onset_found: false,
        window_start_hour: window_start,
        window_end_hour: as_of_hour,
        peer_group: "all meters".into(),
        peer_level_kw: 0.0,
        cluster: 0,
        reasons: Vec::new(),
        notes: vec!["temporary scoring shim".into()],
        features: Vec::new(),
    };
    if recent.len() < 48 {
        return a;
    }
    let mean = recent.iter().map(|&v| v as f64).sum::<f64>() / recent.len() as f64;
    let mut sorted = recent.clone();
    sorted.sort_by(f32::total_cmp);
    let p5 = sorted[sorted.len() / 20] as f64;
    let flat = if mean > 0.0 { p5 / mean } else { 0.0 };
    a.level_kw = mean;
    a.score = (flat * (mean / 2.0).min(1.0)).clamp(0.0, 1.0);
    a.flagged = flat > 0.85 && mean > 2.0;
    a.status = if a.flagged {
        Status::Suspect
    } else {
        Status::Clear
    };
    if a.flagged {
        // The onset: the first hour after which every hour stays near the flat level.
        let mut since = as_of_hour;
        for (i, v) in kw.iter().enumerate().rev() {
            if v.is_finite() && (*v as f64) < 0.8 * mean {
                break;
            }
            since = start + i as i64;
        }
        let before: Vec<f64> = kw[..(since - start) as usize]
            .iter()
            .filter(|v| v.is_finite())
            .map(|&v| v as f64)
            .collect();
        let base = if before.is_empty() {
            0.0
        } else {
            before.iter().sum::<f64>() / before.len() as f64
        };
        a.since_hour = since;
        a.onset_found = !before.is_empty();
        a.excess_kw = (mean - base).max(0.0);
        a.est_rigs = rigs_for_kw(a.excess_kw);
        a.excess_kwh_per_day = a.excess_kw * 24.0;
        a.reasons = vec![format!(
            "flat {mean:.1} kW load for the last {} hours",
            as_of_hour - since
        )];
    }
    a
}
