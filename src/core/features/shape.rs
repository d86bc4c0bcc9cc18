//! Load-shape statistics of a stretch of hours: level, floor, peak, spread, and the daily
//! and weekly rhythm in local time.

use super::stats::{quantile, SortedHours};

/// Load-shape statistics of one stretch of hours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    /// Mean kW.
    pub mean_kw: f64,
    /// 20th-percentile kW: the floor the load stays above four hours in five. (Not the
    /// 10th: a miner curtailed for three peak hours a day, plus restarts, spends more
    /// than 10% of hours off, and its floor must still read as the plateau.)
    pub floor_kw: f64,
    /// 98th-percentile kW: the peak, robust to a single spike.
    pub peak_kw: f64,
    /// Median kW.
    pub median_kw: f64,
    /// Interquartile range / median of hourly kW: the spread of the bulk of the hours,
    /// blind to a daily curtailment notch or an outage that a standard deviation would
    /// count in full.
    pub variability: f64,
    /// log2 of the median night-hour (00–06 local) level over the median daytime-hour
    /// (09–21 local) level of the mean daily profile.
    pub night_day: f64,
    /// Interquartile range of the mean daily profile over its median (0–3): how much the
    /// time of day moves the load.
    pub daily_shape: f64,
    /// Share of daily-mean variance explained by the day of week (NaN under 7 days).
    pub weekly_shape: f64,
    /// Share of hours at or above 75% of the median.
    pub uptime: f64,
    /// Valid hours.
    pub n_valid: usize,
}

/// Shape statistics of `w` (hours from `start`), with local time shifted by `tz_h` hours.
pub fn shape(start: i64, w: &[f32], tz_h: f64) -> Shape {
    let vals = SortedHours::of(w);
    let n = vals.len();
    if n == 0 {
        return Shape {
            mean_kw: 0.0,
            floor_kw: 0.0,
            peak_kw: 0.0,
            median_kw: 0.0,
            variability: 0.0,
            night_day: 0.0,
            daily_shape: f64::NAN,
            weekly_shape: f64::NAN,
            uptime: 0.0,
            n_valid: 0,
        };
    }
    // The sum in the order of the hours, as the mean has always been summed.
    let mean = w
        .iter()
        .filter(|v| v.is_finite())
        .map(|&v| v as f64)
        .sum::<f64>()
        / n as f64;
    let floor = vals.quantile(0.20);
    let q25 = vals.quantile(0.25);
    let median = vals.quantile(0.50);
    let q75 = vals.quantile(0.75);
    let peak = vals.quantile(0.98);
    let uptime = vals.count_at_least(0.75 * median) as f64 / n as f64;

    // Hour-of-day and day-of-week means in local time. Hour `start + i` is local hour
    // `start + i + floor(tz_h)` (see `local_hour_shift`), so the hour of day and the day
    // are counted along instead of divided out per hour.
    let mut hod_sum = [0.0f64; 24];
    let mut hod_n = [0u32; 24];
    let mut night = (0.0, 0u32);
    let mut day = (0.0, 0u32);
    let mut daily: Vec<(i64, f64, u32)> = Vec::with_capacity(w.len() / 24 + 2);
    let first_local_hour = start + local_hour_shift(tz_h);
    let mut hod = first_local_hour.rem_euclid(24) as usize;
    let mut day_idx = first_local_hour.div_euclid(24);
    for &v in w {
        if v.is_finite() {
            hod_sum[hod] += v as f64;
            hod_n[hod] += 1;
            if hod < 6 {
                night.0 += v as f64;
                night.1 += 1;
            } else if (9..21).contains(&hod) {
                day.0 += v as f64;
                day.1 += 1;
            }
            match daily.last_mut() {
                Some(d) if d.0 == day_idx => {
                    d.1 += v as f64;
                    d.2 += 1;
                }
                _ => daily.push((day_idx, v as f64, 1)),
            }
        }
        hod += 1;
        if hod == 24 {
            hod = 0;
            day_idx += 1;
        }
    }
    // The mean profile by local hour of day. Rhythm features read its *robust* spread, so a
    // miner curtailed for a few peak hours (a notch in 3 of 24 hours) still reads as flat,
    // while a home's breakfast/evening pattern moves the quartiles.
    let profile: Vec<f64> = (0..24)
        .filter(|&h| hod_n[h] > 0)
        .map(|h| hod_sum[h] / hod_n[h] as f64)
        .collect();
    let night_day = if night.1 > 0 && day.1 > 0 && profile.len() >= 20 {
        let mut nights: Vec<f64> = (0..6)
            .filter(|&h| hod_n[h] > 0)
            .map(|h| hod_sum[h] / hod_n[h] as f64)
            .collect();
        let mut days: Vec<f64> = (9..21)
            .filter(|&h| hod_n[h] > 0)
            .map(|h| hod_sum[h] / hod_n[h] as f64)
            .collect();
        let nm = quantile(&mut nights, 0.5);
        let dm = quantile(&mut days, 0.5);
        ((nm + 0.02) / (dm + 0.02)).log2().clamp(-4.0, 4.0)
    } else {
        f64::NAN
    };
    // Daily rhythm: interquartile range of the hour-of-day profile over its median.
    let daily_shape = if profile.len() >= 20 {
        let mut p = profile.clone();
        let (q25, q50, q75) = (
            quantile(&mut p, 0.25),
            quantile(&mut p, 0.5),
            quantile(&mut p, 0.75),
        );
        ((q75 - q25) / (q50 + 0.02)).clamp(0.0, 3.0)
    } else {
        f64::NAN
    };
    // Weekly rhythm: share of the variance of daily means explained by the day of week,
    // over days with at least 20 valid hours; needs a full week.
    let days: Vec<(i64, f64)> = daily
        .iter()
        .filter(|d| d.2 >= 20)
        .map(|d| (d.0, d.1 / d.2 as f64))
        .collect();
    let weekly_shape = if days.len() >= 7 {
        // Weekly rhythm: the spread (standard deviation) of the day-of-week profile of daily
        // means, relative to the mean level. Relative to the level, not a share of the
        // day-to-day variance: a flat farm over a small shop has almost no variance, and the
        // shop's weekly rhythm would "explain" all of it.
        let dm = days.iter().map(|d| d.1).sum::<f64>() / days.len() as f64;
        let mut s = [0.0f64; 7];
        let mut c = [0u32; 7];
        for &(d, m) in &days {
            // 1970-01-01 was a Thursday; any fixed labelling of weekdays will do.
            let wd = d.rem_euclid(7) as usize;
            s[wd] += m;
            c[wd] += 1;
        }
        let profile: Vec<f64> = (0..7)
            .filter(|&k| c[k] > 0)
            .map(|k| s[k] / c[k] as f64)
            .collect();
        let pm = profile.iter().sum::<f64>() / profile.len() as f64;
        let sd =
            (profile.iter().map(|p| (p - pm).powi(2)).sum::<f64>() / profile.len() as f64).sqrt();
        if dm > 1e-9 {
            (sd / dm).clamp(0.0, 3.0)
        } else {
            0.0
        }
    } else {
        f64::NAN
    };
    Shape {
        mean_kw: mean,
        floor_kw: floor,
        peak_kw: peak,
        median_kw: median,
        variability: if median > 1e-9 {
            (q75 - q25) / median
        } else if mean > 1e-9 {
            (q75 - q25) / mean
        } else {
            0.0
        },
        night_day,
        daily_shape,
        weekly_shape,
        uptime,
        n_valid: n,
    }
}

/// Whole hours between UTC and local hour numbers for a zone `tz_h` hours ahead:
/// `floor(n + tz_h) = n + floor(tz_h)` for every hour index `n` in use. (Offsets are
/// whole seconds, so a fractional part of `tz_h` is at least 1/3600 away from an
/// integer, far more than the rounding of `n + tz_h`; tested over every offset.)
fn local_hour_shift(tz_h: f64) -> i64 {
    tz_h.floor() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_hours_are_utc_hours_shifted_by_whole_hours_for_every_offset() {
        // Every whole-second offset up to a day either way, at hour indices from 1970 to
        // well past any meter's lifetime, against the per-hour floor it replaces.
        for tz_offset_s in -86_400..=86_400 {
            let tz_h = tz_offset_s as f64 / 3600.0;
            let shift = local_hour_shift(tz_h);
            for n in [
                0i64,
                1,
                -1,
                23,
                480_000,
                473_352 + 2_183,
                3_000_000,
                40_000_000,
            ] {
                assert_eq!(
                    (n as f64 + tz_h).floor() as i64,
                    n + shift,
                    "offset {tz_offset_s} s, hour {n}"
                );
            }
        }
    }
}
