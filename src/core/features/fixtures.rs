//! Test series shared by the features' tests: a household, a business, a farm under a site
//! that stops production, and awkward hours.

use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::WINDOW_HOURS;
use crate::core::series::HourlySeries;

/// A household-like day: 0.3 kW at night, an evening peak of 2 kW.
pub(crate) fn household(h: i64) -> f32 {
    let hod = h.rem_euclid(24);
    let base = match hod {
        0..=5 => 0.3,
        6..=8 => 0.9,
        9..=16 => 0.5,
        17..=21 => 2.0,
        _ => 0.8,
    };
    // A little day-to-day variation so quantiles are not degenerate.
    base * (1.0 + 0.1 * ((h / 24) % 3) as f32)
}

pub(crate) fn series(n: i64, f: impl Fn(i64) -> f32) -> HourlySeries {
    HourlySeries {
        start_hour: 480_000,
        kw: (0..n).map(|i| f(480_000 + i)).collect(),
        resolution_min: 30,
    }
}

/// A business: 0.2 MW on weekend days and at night, 1.6 MW on weekday working hours
/// (UTC 08–18), with a little day-to-day variation.
pub(crate) fn business(h: i64) -> f32 {
    let hod = h.rem_euclid(24);
    let weekend = matches!(h.div_euclid(24).rem_euclid(7), 2 | 3);
    let base = if !weekend && (8..18).contains(&hod) {
        1600.0
    } else {
        200.0
    };
    base * (1.0 + 0.05 * ((h / 24) % 3) as f32)
}

/// Hours as meters send them, and the awkward ones: gaps, infinities, zeros of both
/// signs, negatives (export), repeats.
pub(crate) fn awkward_hours(rng: &mut Xoshiro256PlusPlus, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| match rng.gen_range(0..12) {
            0 => f32::NAN,
            1 => [f32::INFINITY, f32::NEG_INFINITY, -0.0, 0.0][rng.gen_range(0..4)],
            2 => -rng.gen_range(0.0f32..2.0),
            3 => 1.25,
            _ => rng.gen_range(0.0f32..40.0),
        })
        .collect()
}

/// A site working 06–22 on weekdays (1.6 MW, 200 kW idle) with a 300 kW farm from day 40,
/// whose own production stops on day 60: the case the floor test is for. The 13-week series
/// and the farm's first hour.
pub(crate) fn farm_then_production_stops() -> (HourlySeries, i64) {
    let start = 480_000;
    let on = start + 40 * 24;
    let stop = start + 60 * 24;
    let kw = (start..start + WINDOW_HOURS)
        .map(|h| {
            let weekend = matches!(h.div_euclid(24).rem_euclid(7), 2 | 3);
            let working = !weekend && (6..22).contains(&h.rem_euclid(24)) && h < stop;
            let own = if working { 1600.0 } else { 200.0 };
            own * (1.0 + 0.05 * ((h / 24) % 3) as f32) + if h >= on { 300.0 } else { 0.0 }
        })
        .collect();
    let series = HourlySeries {
        start_hour: start,
        kw,
        resolution_min: 30,
    };
    (series, on)
}
