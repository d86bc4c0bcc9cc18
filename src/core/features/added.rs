//! The added-load test: what the step added, hour by hour, against the same hours before,
//! and whether that is as flat as rigs.

use super::margin;
use super::stats::{quantile, sorted_quantile};
use super::EPISODE_HOURS;

/// The load the step added, measured hour by hour: each episode hour minus what the premises
/// drew at the same local hour on the same kind of day (weekday or weekend) in the four weeks
/// before the onset. A rig adds the same kilowatts at every hour, so what it adds has a
/// floor near its median and little spread, however much the site's own load swings; a
/// business going from one shift to round-the-clock adds load only at night, and a cooling
/// season adds it mostly by day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Added {
    /// Median added kW.
    pub median_kw: f64,
    /// 20th percentile of the added kW over its median (1 = as flat as a rig; ≤ 0 when a
    /// fifth of the hours added nothing). Clamped to [-1, 1.5].
    pub floor_ratio: f64,
    /// Interquartile range of the added kW over its median, clamped to [0, 3].
    pub spread: f64,
    /// The added kW while running: its 65th percentile.
    pub running_kw: f64,
    /// Spread while running: 90th minus 40th percentile over the running level, clamped to
    /// [0, 3]. Blind to a farm switched off a few hours a day (curtailment at peak tariff,
    /// throttling in the hottest hours), which the interquartile range is not.
    pub running_spread: f64,
    /// Share of episode hours adding at least half the running level.
    pub uptime: f64,
    /// Episode hours compared.
    pub n_hours: usize,
}

impl Added {
    /// Flat at every hour: the widest interquartile range over median of a rig's added
    /// load, ±30%. Injected and simulated farms with ripple and restarts stay under 0.5; a
    /// business's new shift or a cooling season reads above 0.75 (EnerNOC 478 in May, 674
    /// in June, 197 in September; docs/quality.md).
    pub const MAX_SPREAD: f64 = 0.6;
    /// ... and present: four hours in five add at least a fifth of the median.
    pub const MIN_FLOOR_RATIO: f64 = 0.2;
    /// Or flat whenever it runs (a farm curtailed at peak hours): the widest 90th–40th
    /// percentile range over the running level. Farms read under 0.45 on businesses; the
    /// real confounders above 0.65.
    pub const MAX_RUNNING_SPREAD: f64 = 0.55;
    /// ... running at least this share of hours. A night shift added to a day shift runs
    /// about half the hours (0.5–0.6); curtailed farms 0.65 and more.
    pub const MIN_UPTIME: f64 = 0.65;

    /// True when what was added looks like rigs, at least one small rig's worth
    /// ([`crate::core::verdict::MIN_RIG_KW`]): flat and present at nearly every hour, or
    /// flat whenever it runs and running most hours.
    pub fn is_rig_like(&self) -> bool {
        self.rig_likeness() >= 0.5
    }

    /// A score in [0, 1] for ranking by this test, ≥ 0.5 exactly when it passes: for each of
    /// the two readings, the smaller of two logistic margins (0.5 at a limit); the better
    /// reading counts. Zero below the smallest rig.
    pub fn rig_likeness(&self) -> f64 {
        if self.median_kw.max(self.running_kw) < crate::core::verdict::MIN_RIG_KW {
            return 0.0;
        }
        let always = margin(Self::MAX_SPREAD - self.spread, 0.05)
            .min(margin(self.floor_ratio - Self::MIN_FLOOR_RATIO, 0.05));
        let running = margin(Self::MAX_RUNNING_SPREAD - self.running_spread, 0.05)
            .min(margin(self.uptime - Self::MIN_UPTIME, 0.03));
        let rig_sized = if self.median_kw >= crate::core::verdict::MIN_RIG_KW {
            always
        } else {
            0.0
        };
        let running_sized = if self.running_kw >= crate::core::verdict::MIN_RIG_KW {
            running
        } else {
            0.0
        };
        rig_sized.max(running_sized).clamp(0.0, 1.0)
    }
}

/// Measures what the step added (see [`Added`]): every hour since the onset (`w[split..]`,
/// not only the last four weeks the shape features read: a longer run evens out weeks of
/// heavier curtailment) against the profile of the four weeks of baseline before `split`.
/// `None` without 18 comparable hours.
pub(super) fn added_load(start: i64, w: &[f32], split: usize, tz_h: f64) -> Option<Added> {
    // Cell of an hour: local hour of day × weekend (48 cells).
    let tz_whole = tz_h.floor() as i64;
    let cell = |i: usize| {
        let local = start + i as i64 + tz_whole;
        let hod = local.rem_euclid(24) as usize;
        // 1970-01-01 (day 0) was a Thursday: days 2 and 3 (mod 7) are Saturday and Sunday.
        let weekend = matches!(local.div_euclid(24).rem_euclid(7), 2 | 3);
        hod * 2 + weekend as usize
    };
    let from = split.saturating_sub(EPISODE_HOURS as usize);
    let mut cells: Vec<Vec<f64>> = vec![Vec::new(); 48];
    for (i, &v) in w.iter().enumerate().take(split).skip(from) {
        if v.is_finite() {
            cells[cell(i)].push(v as f64);
        }
    }
    // The profile: the cell's median; a cell with no baseline (say, no weekend in the
    // baseline) borrows the same hour's other kind of day.
    let med: Vec<f64> = cells.iter_mut().map(|c| quantile(c, 0.5)).collect();
    let profile: Vec<f64> = (0..48)
        .map(|c| {
            if med[c].is_finite() {
                med[c]
            } else {
                med[c ^ 1]
            }
        })
        .collect();
    let mut added: Vec<f64> = w
        .iter()
        .enumerate()
        .skip(split)
        .filter(|(i, v)| v.is_finite() && profile[cell(*i)].is_finite())
        .map(|(i, &v)| v as f64 - profile[cell(i)])
        .collect();
    if added.len() < 18 {
        return None;
    }
    added.sort_by(|a, b| a.total_cmp(b));
    let median = sorted_quantile(&added, 0.5);
    let q20 = sorted_quantile(&added, 0.2);
    let q25 = sorted_quantile(&added, 0.25);
    let q40 = sorted_quantile(&added, 0.4);
    let running = sorted_quantile(&added, 0.65);
    let q75 = sorted_quantile(&added, 0.75);
    let q90 = sorted_quantile(&added, 0.9);
    let (running_spread, uptime) = if running > 1e-9 {
        let up = added.len() - added.partition_point(|&x| x < 0.5 * running);
        (
            ((q90 - q40) / running).clamp(0.0, 3.0),
            up as f64 / added.len() as f64,
        )
    } else {
        (3.0, 0.0)
    };
    let (floor_ratio, spread) = if median > 1e-9 {
        (
            (q20 / median).clamp(-1.0, 1.5),
            ((q75 - q25) / median).clamp(0.0, 3.0),
        )
    } else {
        (-1.0, 3.0)
    };
    Some(Added {
        median_kw: median,
        floor_ratio,
        spread,
        running_kw: running,
        running_spread,
        uptime,
        n_hours: added.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::features::fixtures::*;
    use crate::core::features::{measure, WINDOW_HOURS};

    #[test]
    fn a_farm_on_a_busy_business_adds_a_rig_like_load() {
        let on = 480_000 + 40 * 24 + 5;
        let s = series(WINDOW_HOURS, |h| {
            business(h) + if h >= on { 300.0 } else { 0.0 }
        });
        let m = measure(&s, s.end_hour(), 0).unwrap();
        let o = m.onset.expect("onset");
        // Within a day: the site's own ±5% day-to-day wander is half the step on its
        // working-hours slots, so the back-extension may take in the working hours before.
        assert!((o.hour - on).abs() <= 24, "onset {} vs {}", o.hour, on);
        let a = m.added.expect("added load measured");
        assert!((a.median_kw - 300.0).abs() < 30.0, "{a:?}");
        assert!(a.is_rig_like(), "{a:?}");
        assert!(a.rig_likeness() > 0.9, "{a:?}");
    }

    #[test]
    fn a_farm_curtailed_at_peak_hours_is_flat_whenever_it_runs() {
        // 400 kW, off for the peak-tariff hours 12–18 UTC every day: a quarter of the hours
        // add nothing, so the interquartile reading fails and the running reading holds.
        let on = 480_000 + 40 * 24 + 5;
        let s = series(WINDOW_HOURS, |h| {
            let hod = h.rem_euclid(24);
            business(h)
                + if h >= on && !(12..18).contains(&hod) {
                    400.0
                } else {
                    0.0
                }
        });
        let m = measure(&s, s.end_hour(), 0).unwrap();
        let a = m.added.expect("added load measured");
        assert!(
            a.uptime > 0.7 && a.uptime < 0.8,
            "{a:?} {:?} on {on}",
            m.onset
        );
        assert!(
            a.spread > Added::MAX_SPREAD,
            "the interquartile reading fails: {a:?}"
        );
        assert!((a.running_kw - 400.0).abs() < 40.0, "{a:?}");
        assert!(a.is_rig_like(), "{a:?}");
    }

    #[test]
    fn rig_likeness_passes_exactly_at_half() {
        let a = Added {
            median_kw: 100.0,
            floor_ratio: 0.9,
            spread: 0.1,
            running_kw: 100.0,
            running_spread: 0.1,
            uptime: 1.0,
            n_hours: 100,
        };
        assert!(a.is_rig_like() && a.rig_likeness() > 0.99);
        let wide = Added {
            spread: 1.0,
            running_spread: 1.0,
            ..a
        };
        assert!(!wide.is_rig_like() && wide.rig_likeness() < 0.01);
        let small = Added {
            median_kw: 0.5,
            running_kw: 0.5,
            ..a
        };
        assert_eq!(small.rig_likeness(), 0.0, "below the smallest rig");
        let part_time = Added {
            spread: 1.0,
            uptime: 0.5,
            ..a
        };
        assert!(
            !part_time.is_rig_like(),
            "runs half the hours: a shift, not rigs"
        );
    }

    #[test]
    fn a_new_night_shift_is_not_a_rig_like_addition() {
        // From day 40 the plant also runs 1.4 MW at night (UTC 20–06): a flat step at
        // night only, nothing added in working hours.
        let on = 480_000 + 40 * 24;
        let s = series(WINDOW_HOURS, |h| {
            let hod = h.rem_euclid(24);
            let night = !(6..20).contains(&hod);
            business(h) + if h >= on && night { 1400.0 } else { 0.0 }
        });
        let m = measure(&s, s.end_hour(), 0).unwrap();
        if let Some(a) = m.added {
            assert!(!a.is_rig_like(), "{a:?}");
        }
    }
}
