//! Hourly series: the one representation every detector stage reads.
//!
//! Readings arrive at any resolution from one minute to one day, in any order, with
//! gaps and duplicates. [`SeriesBuilder`] folds them into hour bins as they stream in
//! (no per-reading allocation: one `f32` sum and one 60-bit minute mask per hour) and
//! [`SeriesBuilder::finish`] turns the bins into an [`HourlySeries`] of average kW per
//! hour, with `NaN` for hours that have too little data to trust. This module owns
//! resolution inference, duplicate detection and the spreading of coarse (multi-hour)
//! readings; it does no IO.

use serde::{Deserialize, Serialize};

/// Seconds in one hour; hour indices are `unix_seconds.div_euclid(3600)`.
pub const HOUR_S: i64 = 3600;

/// The unit of the values a meter reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Energy in the interval that starts at the timestamp.
    Kwh,
    /// Average power over the interval that starts at the timestamp.
    Kw,
}

impl std::str::FromStr for Unit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "kwh" => Ok(Unit::Kwh),
            "kw" => Ok(Unit::Kw),
            other => Err(format!("unknown unit {other:?} (expected kwh or kw)")),
        }
    }
}

/// Why a single reading was not accepted into a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PushError {
    /// The same minute of the same meter was seen before; the first value is kept.
    Duplicate,
    /// The reading lies more than [`MAX_SPAN_HOURS`] away from the meter's other readings.
    OutOfRange,
}

/// The widest span one meter may cover (about 20 years), so a single corrupt timestamp
/// cannot make the builder allocate gigabytes.
pub const MAX_SPAN_HOURS: i64 = 24 * 366 * 20;

/// Accumulates one meter's readings into hour bins.
///
/// Memory is 12 bytes per hour of span. Values are summed per hour; a bitmask of the
/// minutes seen catches duplicates and tells, at the end, how complete each hour is.
#[derive(Debug, Clone, Default)]
pub struct SeriesBuilder {
    first_hour: i64,
    bins: Vec<Bin>,
}

/// One hour: the sum of its values and the minutes seen, side by side, so that a reading
/// touches one cache line, not two (a fleet read time-major moves from meter to meter at
/// every reading, and these misses were most of the consumer's time). The mask is kept
/// as two halves so that a bin is 12 bytes, not 16.
#[derive(Debug, Clone, Copy, Default)]
struct Bin {
    sum: f32,
    minutes: [u32; 2],
}

impl Bin {
    /// The minutes seen, one bit per minute.
    #[inline]
    fn mask(&self) -> u64 {
        u64::from(self.minutes[0]) | u64::from(self.minutes[1]) << 32
    }

    #[inline]
    fn set_mask(&mut self, mask: u64) {
        self.minutes = [mask as u32, (mask >> 32) as u32];
    }

    /// A bin holding `sum` over the minutes in `mask`.
    #[inline]
    fn new(sum: f32, mask: u64) -> Bin {
        let mut bin = Bin {
            sum,
            minutes: [0; 2],
        };
        bin.set_mask(mask);
        bin
    }
}

impl SeriesBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when no reading has been accepted.
    pub fn is_empty(&self) -> bool {
        self.bins.is_empty()
    }

    /// Adds one reading: `value` in the meter's unit for the interval starting at `ts` (unix seconds).
    #[inline]
    pub fn push(&mut self, ts: i64, value: f32) -> Result<(), PushError> {
        let minute = (ts.rem_euclid(HOUR_S) / 60) as u32;
        self.push_hour(ts.div_euclid(HOUR_S), value, 1u64 << minute)
    }

    /// A builder holding consecutive whole hours from `first_hour`, each a sum and its minute
    /// mask: exactly [`SeriesBuilder::push_hour`] for each in turn, without growing the grid
    /// hour by hour (how the daemon rebuilds a window). The span must be below the cap
    /// (`MAX_SPAN_HOURS`); the daemon's windows are far below it.
    pub fn from_hours(first_hour: i64, hours: impl IntoIterator<Item = (f32, u64)>) -> Self {
        let hours = hours.into_iter();
        let mut b = SeriesBuilder {
            first_hour,
            bins: Vec::with_capacity(hours.size_hint().0),
        };
        for (hour, (sum, minutes)) in (first_hour..).zip(hours) {
            if minutes != 0 {
                if b.bins.is_empty() {
                    b.first_hour = hour;
                }
                // Hours with no reading inside the grid are empty bins, as `slot` leaves them.
                let rel = (hour - b.first_hour) as usize;
                b.bins.resize(rel, Bin::default());
                // 0.0 + sum: the bin's start plus the first reading, as a push adds it.
                b.bins.push(Bin::new(0.0 + sum, minutes));
            }
        }
        b
    }

    /// Adds a whole hour at once: `sum` read at the minutes set in `minutes`. Exactly the
    /// same as pushing `sum` at the first of those minutes and `0.0` at each of the others
    /// (the daemon rebuilds a window this way from its hourly sums, without a push per
    /// minute). An empty mask adds nothing.
    #[inline]
    pub fn push_hour(&mut self, hour: i64, sum: f32, minutes: u64) -> Result<(), PushError> {
        if minutes == 0 {
            return Ok(());
        }
        let idx = self.slot(hour)?;
        let bin = &mut self.bins[idx];
        let mask = bin.mask();
        if mask & minutes != 0 {
            return Err(PushError::Duplicate);
        }
        bin.set_mask(mask | minutes);
        bin.sum += sum;
        Ok(())
    }

    /// Asks the CPU to start loading the bin a reading at `ts` would go to, so that a
    /// [`SeriesBuilder::push`] a little later finds it in cache. Changes nothing else.
    #[inline]
    pub fn prefetch(&self, ts: i64) {
        let rel = ts.div_euclid(HOUR_S) - self.first_hour;
        // The bin may be past the end, in the spare capacity a new hour will use.
        if rel >= 0 && (rel as usize) < self.bins.capacity() {
            prefetch(self.bins.as_ptr().wrapping_add(rel as usize));
        }
    }

    /// Index of the bin for `hour`, growing the grid at either end as needed.
    #[inline]
    fn slot(&mut self, hour: i64) -> Result<usize, PushError> {
        if self.bins.is_empty() {
            self.first_hour = hour;
            self.bins.push(Bin::default());
            return Ok(0);
        }
        let rel = hour - self.first_hour;
        if rel >= 0 && (rel as usize) < self.bins.len() {
            return Ok(rel as usize);
        }
        let last = self.first_hour + self.bins.len() as i64 - 1;
        let new_first = self.first_hour.min(hour);
        let new_last = last.max(hour);
        if new_last - new_first >= MAX_SPAN_HOURS {
            return Err(PushError::OutOfRange);
        }
        if rel < 0 {
            // Rows out of order: grow at the front. Amortise by growing at least by the
            // current length so a fully reversed file stays linear.
            let need = (-rel) as usize;
            let grow = need
                .max(self.bins.len())
                .min((MAX_SPAN_HOURS - (last - hour)) as usize)
                .max(need);
            let mut bins = vec![Bin::default(); grow];
            bins.extend_from_slice(&self.bins);
            self.bins = bins;
            self.first_hour -= grow as i64;
            Ok((hour - self.first_hour) as usize)
        } else {
            let len = rel as usize + 1;
            self.bins.resize(len, Bin::default());
            Ok(rel as usize)
        }
    }

    /// The hour index of the last bin that holds data, if any.
    pub fn last_hour(&self) -> Option<i64> {
        self.bins
            .iter()
            .rposition(|b| b.mask() != 0)
            .map(|i| self.first_hour + i as i64)
    }

    /// Turns the bins into average kW per hour.
    ///
    /// The meter's resolution is the modal spacing of its readings. An hour with at least
    /// half of its expected readings is scaled up to a full hour; one with fewer is `NaN`.
    /// Readings coarser than an hour (e.g. daily) are spread evenly over the hours they cover.
    pub fn finish(&self, unit: Unit) -> HourlySeries {
        // Trim empty bins at both ends (front growth leaves some).
        let Some(lo) = self.bins.iter().position(|b| b.mask() != 0) else {
            return HourlySeries {
                start_hour: 0,
                kw: Vec::new(),
                resolution_min: 60,
            };
        };
        let hi = self.bins.iter().rposition(|b| b.mask() != 0).unwrap_or(lo);
        let mask: Vec<u64> = self.bins[lo..=hi].iter().map(Bin::mask).collect();
        let mask = mask.as_slice();
        let sum: Vec<f32> = self.bins[lo..=hi].iter().map(|b| b.sum).collect();
        let sum = sum.as_slice();
        let resolution_min = infer_resolution_min(mask);
        // A coarse final reading covers hours past its own bin: make room for them.
        let tail = (resolution_min / 60).saturating_sub(1) as usize;
        let mut kw = vec![f32::NAN; mask.len() + tail];
        if resolution_min <= 60 {
            let expected = (60 / resolution_min).max(1);
            for i in 0..mask.len() {
                let n = mask[i].count_ones();
                if n == 0 || 2 * n < expected {
                    continue;
                }
                kw[i] = match unit {
                    // Energy per reading summed over the hour, scaled to the full hour.
                    Unit::Kwh => sum[i] * expected as f32 / n as f32,
                    // Average of the power readings seen in the hour.
                    Unit::Kw => sum[i] / n as f32,
                };
            }
        } else {
            // Coarse readings: each one covers `span` hours starting at its own hour.
            let span = (resolution_min / 60) as usize;
            for i in 0..mask.len() {
                if mask[i] == 0 {
                    continue;
                }
                let per_hour = match unit {
                    Unit::Kwh => sum[i] / span as f32,
                    Unit::Kw => sum[i] / mask[i].count_ones() as f32,
                };
                for slot in kw.iter_mut().skip(i).take(span) {
                    *slot = per_hour;
                }
            }
        }
        HourlySeries {
            start_hour: self.first_hour + lo as i64,
            kw,
            resolution_min,
        }
    }
}

/// A hint to the CPU to load the cache line at `at` (x86-64 only; nothing elsewhere).
#[inline(always)]
fn prefetch(at: *const Bin) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch only warms the cache: it never faults, whatever the address, and
    // reads nothing the program sees. SSE, which it needs, is part of the x86-64 baseline.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(at.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// Infers the reading interval in minutes from the minute masks of the occupied hours:
/// the modal number of readings per hour for sub-hourly data, else the modal gap
/// between occupied hours.
fn infer_resolution_min(mask: &[u64]) -> u32 {
    let mut per_hour = [0u32; 65];
    for &m in mask.iter().filter(|&&m| m != 0) {
        per_hour[m.count_ones() as usize] += 1;
    }
    let modal_count = (1..=60).max_by_key(|&n| (per_hour[n], n)).unwrap_or(1) as u32;
    if modal_count > 1 {
        // Snap to the nearest divisor of 60 so a meter with a few missing readings
        // per hour still reads as its true resolution.
        let raw = 60.0 / modal_count as f64;
        return [1u32, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30]
            .into_iter()
            .min_by(|a, b| ((*a as f64 - raw).abs()).total_cmp(&(*b as f64 - raw).abs()))
            .unwrap_or(60);
    }
    // One reading per occupied hour: hourly or coarser. Count the gaps between occupied
    // hours, indexed by length (a gap is shorter than the span): a hash map per hour here
    // cost more than scoring the meter.
    let mut gaps = vec![0u32; mask.len()];
    let mut prev: Option<usize> = None;
    for (i, &m) in mask.iter().enumerate() {
        if m != 0 {
            if let Some(p) = prev {
                gaps[i - p] += 1;
            }
            prev = Some(i);
        }
    }
    (modal_gap(&gaps).clamp(1, 24) * 60) as u32
}

/// The commonest gap length in `gaps` (counts indexed by length), the shortest on a tie;
/// 1 when there is none.
fn modal_gap(gaps: &[u32]) -> usize {
    let (mut modal, mut most) = (1, 0);
    for (g, &n) in gaps.iter().enumerate() {
        if n > most {
            (modal, most) = (g, n);
        }
    }
    modal
}

/// A meter's load as average kW per hour on a regular UTC hour grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HourlySeries {
    /// Hour index (`unix_seconds / 3600`) of `kw[0]`.
    pub start_hour: i64,
    /// Average kW in each hour; `NaN` where the hour has too little data.
    pub kw: Vec<f32>,
    /// The meter's native reading interval in minutes (60 for hourly, 1440 for daily).
    pub resolution_min: u32,
}

impl HourlySeries {
    /// Hour index one past the last hour.
    pub fn end_hour(&self) -> i64 {
        self.start_hour + self.kw.len() as i64
    }

    /// The hours in `[from_hour, to_hour)` as a slice, clipped to what the series holds,
    /// with the hour index of its first element.
    pub fn window(&self, from_hour: i64, to_hour: i64) -> (i64, &[f32]) {
        let lo = (from_hour - self.start_hour).clamp(0, self.kw.len() as i64) as usize;
        let hi = (to_hour - self.start_hour).clamp(0, self.kw.len() as i64) as usize;
        (self.start_hour + lo as i64, &self.kw[lo..hi.max(lo)])
    }

    /// A copy holding only the hours before `to_hour` (how `--until` cuts a series).
    pub fn truncated(&self, to_hour: i64) -> HourlySeries {
        let (start, kw) = self.window(self.start_hour, to_hour);
        HourlySeries {
            start_hour: start,
            kw: kw.to_vec(),
            resolution_min: self.resolution_min,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(rows: &[(i64, f32)], unit: Unit) -> HourlySeries {
        let mut b = SeriesBuilder::new();
        for &(ts, v) in rows {
            let _ = b.push(ts, v);
        }
        b.finish(unit)
    }

    #[test]
    fn a_whole_hour_pushed_at_once_equals_its_minutes_pushed_one_by_one() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
        for _ in 0..500 {
            let start = rng.gen_range(400_000..500_000i64);
            let mut by_minute = SeriesBuilder::new();
            let mut by_hour = SeriesBuilder::new();
            let mut hours = Vec::new();
            for h in 0..rng.gen_range(1..300) {
                let hour = start + h;
                let minutes: u64 = match rng.gen_range(0..4) {
                    0 => 0,
                    1 => (1u64 << rng.gen_range(1..61)) - 1,
                    2 => u64::MAX >> 4,
                    _ => rng.gen::<u64>() & (u64::MAX >> 4),
                };
                let sum: f32 = match rng.gen_range(0..5) {
                    0 => -0.0,
                    1 => f32::NAN,
                    _ => rng.gen_range(-5.0..50.0),
                };
                let mut first = true;
                for minute in 0..64 {
                    if minutes & (1u64 << minute) != 0 {
                        let v = if first { sum } else { 0.0 };
                        let _ = by_minute.push(hour * HOUR_S + minute * 60, v);
                        first = false;
                    }
                }
                let _ = by_hour.push_hour(hour, sum, minutes);
                hours.push((sum, minutes));
            }
            let at_once = SeriesBuilder::from_hours(start, hours);
            for unit in [Unit::Kwh, Unit::Kw] {
                let a = by_minute.finish(unit);
                let bits = |s: &HourlySeries| s.kw.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                for b in [by_hour.finish(unit), at_once.finish(unit)] {
                    assert_eq!(a.start_hour, b.start_hour);
                    assert_eq!(a.resolution_min, b.resolution_min);
                    assert_eq!(bits(&a), bits(&b));
                }
            }
        }
    }

    #[test]
    fn the_modal_gap_is_the_commonest_gap_and_the_shortest_on_a_tie() {
        use rand::{Rng, SeedableRng};
        // Against the obvious count: a map of gap → count, the largest count, then the
        // shortest gap.
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(12);
        for _ in 0..2_000 {
            let len = rng.gen_range(0..200);
            let every = rng.gen_range(1..30);
            let mask: Vec<u64> = (0..len)
                .map(|i| u64::from(i % every == 0 && rng.gen_bool(0.8) || rng.gen_bool(0.05)))
                .collect();
            let mut counts = std::collections::HashMap::<usize, u32>::new();
            let occupied: Vec<usize> = (0..len).filter(|&i| mask[i] != 0).collect();
            if occupied.is_empty() {
                continue; // `finish` trims to the occupied hours and returns early without
            }
            for pair in occupied.windows(2) {
                *counts.entry(pair[1] - pair[0]).or_default() += 1;
            }
            let want = counts
                .into_iter()
                .max_by_key(|&(g, n)| (n, std::cmp::Reverse(g)))
                .map_or(1, |(g, _)| g);
            assert_eq!(
                infer_resolution_min(&mask),
                (want.clamp(1, 24) * 60) as u32,
                "{mask:?}"
            );
        }
    }

    #[test]
    fn half_hourly_kwh_becomes_hourly_kw() {
        let s = build(
            &[(0, 0.5), (1800, 0.5), (3600, 1.0), (5400, 1.0)],
            Unit::Kwh,
        );
        assert_eq!(s.resolution_min, 30);
        assert_eq!(s.kw, vec![1.0, 2.0]);
    }

    #[test]
    fn rows_in_reverse_order_give_the_same_series() {
        let rows: Vec<(i64, f32)> = (0..48).map(|i| (i * 1800, (i % 5) as f32)).collect();
        let mut rev = rows.clone();
        rev.reverse();
        assert_eq!(build(&rows, Unit::Kwh), build(&rev, Unit::Kwh));
    }

    #[test]
    fn a_duplicate_minute_is_rejected_and_the_first_value_kept() {
        let mut b = SeriesBuilder::new();
        b.push(0, 1.0).unwrap();
        assert_eq!(b.push(30, 9.0), Err(PushError::Duplicate));
        assert_eq!(b.finish(Unit::Kw).kw, vec![1.0]);
    }

    #[test]
    fn an_hour_missing_one_of_two_readings_is_scaled_up() {
        let s = build(
            &[
                (0, 0.5),
                (1800, 0.5),
                (3600, 0.75),
                (7200, 0.5),
                (9000, 0.5),
            ],
            Unit::Kwh,
        );
        assert_eq!(s.kw, vec![1.0, 1.5, 1.0]);
    }

    #[test]
    fn an_hour_with_too_few_five_minute_readings_is_missing() {
        let mut rows: Vec<(i64, f32)> = (0..24).map(|i| (i * 300, 0.1)).collect();
        rows.push((2 * 3600, 0.1));
        rows.extend((36..48).map(|i| (i * 300, 0.1)));
        let s = build(&rows, Unit::Kwh);
        assert_eq!(s.resolution_min, 5);
        assert!((s.kw[0] - 1.2).abs() < 1e-5);
        assert!(s.kw[2].is_nan());
        assert!((s.kw[3] - 1.2).abs() < 1e-5);
    }

    #[test]
    fn daily_kwh_is_spread_over_its_hours() {
        let s = build(&[(0, 24.0), (86_400, 48.0), (2 * 86_400, 24.0)], Unit::Kwh);
        assert_eq!(s.resolution_min, 1440);
        assert_eq!(s.kw.len(), 3 * 24);
        assert_eq!(s.kw[0], 1.0);
        assert_eq!(s.kw[30], 2.0);
    }

    #[test]
    fn kw_readings_are_averaged_within_the_hour() {
        let s = build(&[(0, 2.0), (900, 4.0), (1800, 2.0), (2700, 4.0)], Unit::Kw);
        assert_eq!(s.kw, vec![3.0]);
    }

    #[test]
    fn a_timestamp_decades_away_is_out_of_range() {
        let mut b = SeriesBuilder::new();
        b.push(1_700_000_000, 1.0).unwrap();
        assert_eq!(b.push(0, 1.0), Err(PushError::OutOfRange));
    }

    #[test]
    fn window_clips_to_the_series() {
        let s = HourlySeries {
            start_hour: 10,
            kw: vec![1.0, 2.0, 3.0],
            resolution_min: 60,
        };
        assert_eq!(s.window(0, 12), (10, &[1.0f32, 2.0][..]));
        assert_eq!(s.window(12, 100), (12, &[3.0f32][..]));
        assert_eq!(s.window(20, 30).1.len(), 0);
    }
}
