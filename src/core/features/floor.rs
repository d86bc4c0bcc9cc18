//! The floor test: the site's lowest level rose and stayed up, searched at every day
//! boundary over sliding rank sets of each slot's blocks.

use super::margin;
use super::stats::{median_of_ordered, quantile_of_ordered, second_smallest, sorted_median};
use super::window::{SlotValues, BLOCK_H, SLOTS};

/// The site's floor rose and stayed up: the second test for a farm on a site whose own load
/// changed after the switch-on (production stopped, working hours moved, holidays), which the
/// median step and the hour-by-hour added load both lose. A rig adds its kilowatts to every
/// hour, so the lowest level the site sits at in each 6-hour slot of the day (the 10th
/// percentile of the slot's blocks) rises by the rigs' power and never comes back, whatever
/// the site does on top. A site back from a shutdown, or dropping its occasional idle days,
/// also loses its lowest blocks; what tells them apart is how the site used to sit at its old
/// floor: a farm's host sat there every week and a good part of the time (nights, weekends),
/// a busy plant only on its rare shutdown days.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloorStep {
    /// First hour of the raised floor (the start of a UTC day).
    pub hour: i64,
    /// How far the floor rose, kW: the second-smallest slot's rise, so one slot switched off
    /// at peak hours does not hide it.
    pub added_kw: f64,
    /// Share of the four weeks' blocks before the rise that sat within half the rise of the
    /// old floor (mean over slots): how much of its time the site spent at its old floor.
    pub old_floor_share: f64,
    /// Whole weeks of history before the rise that the test read: two to four.
    pub weeks_before: usize,
    /// Of those weeks, the ones in which the site sat at its old floor in at least two
    /// slots of the day.
    pub old_floor_weeks: usize,
    /// Spread of the new floor: 30th minus 10th percentile of the slot's blocks since the
    /// rise, over the rise (median over slots). Rigs under the site's idle load keep it
    /// within the site's own idle spread.
    pub new_floor_spread: f64,
    /// How far the new floor stands above the site's old *median* in its quietest slot
    /// (the largest such gap over the slots), over the rise. A farm lifts the hours at which
    /// the site used to sit idle by its whole power (≈ 1); a plant that merely stopped
    /// its occasional shutdowns has a new floor no higher than its old usual level (≤ 0).
    pub above_old_usual: f64,
    /// Whole days since the rise.
    pub days: usize,
}

impl FloorStep {
    /// The floor must have stayed up four weeks before this test speaks: a hot spell or a
    /// holiday raises a floor for days or weeks, a farm for good.
    pub const MIN_DAYS: usize = 28;
    /// The old floor was a regular state of the site: a third of its blocks (a working
    /// site's nights and weekends), …
    pub const MIN_OLD_FLOOR_SHARE: f64 = 1.0 / 3.0;
    /// … in every week before the rise, of at least two.
    pub const MIN_WEEKS_BEFORE: usize = 2;
    /// The new floor is as tight as a rig's: its lower part within 15% of the rise.
    pub const MAX_NEW_FLOOR_SPREAD: f64 = 0.15;
    /// At some time of day the new floor stands at least half the rise above the site's
    /// old usual level there.
    pub const MIN_ABOVE_OLD_USUAL: f64 = 0.5;

    /// True when the rise looks like rigs switched on under the site's own load.
    pub fn is_rig_like(&self) -> bool {
        self.rig_likeness() >= 0.5
    }

    /// A score in [0, 1] for ranking, ≥ 0.5 exactly when the test passes: the smallest of
    /// the logistic margins of the old floor's share, the new floor's spread and its height
    /// above the old usual level (0.5 at a limit); zero when the floor has not stayed up
    /// long enough, not every week was at the old floor, or the rise is smaller than the
    /// smallest rig.
    pub fn rig_likeness(&self) -> f64 {
        if self.added_kw < crate::core::verdict::MIN_RIG_KW
            || self.days < Self::MIN_DAYS
            || self.weeks_before < Self::MIN_WEEKS_BEFORE
            || self.old_floor_weeks < self.weeks_before
        {
            return 0.0;
        }
        margin(self.old_floor_share - Self::MIN_OLD_FLOOR_SHARE, 0.03)
            .min(margin(
                Self::MAX_NEW_FLOOR_SPREAD - self.new_floor_spread,
                0.02,
            ))
            .min(margin(
                self.above_old_usual - Self::MIN_ABOVE_OLD_USUAL,
                0.05,
            ))
    }
}

/// Blocks in a week, and the fewest before a floor step (two weeks).
const WEEK_BLOCKS: usize = 7 * SLOTS;
const FLOOR_MIN_BEFORE_BLOCKS: usize = FloorStep::MIN_WEEKS_BEFORE * WEEK_BLOCKS;

/// Finds the floor step (see [`FloorStep`]) on the window's 6-hour blocks (`block_val[b]` is
/// block `first_block + b`, as the onset search cuts them), at every UTC day boundary with two
/// weeks before it and [`FloorStep::MIN_DAYS`] after: per slot, the old floor is the 10th
/// percentile of the blocks of the (up to four) whole weeks before, the new floor the 10th
/// percentile of every block since. `None` when no day boundary shows a rise of at least the
/// smallest rig and the onset search's minimum step.
pub(super) fn floor_step(first_block: i64, block_val: &[f64]) -> Option<FloorStep> {
    let slot_of = |b: usize| (first_block + b as i64).rem_euclid(SLOTS as i64) as usize;
    if !floor_can_rise(block_val, slot_of) {
        return None;
    }
    floor_search(first_block, block_val)
}

/// The search behind [`floor_step`], without the quick bound.
fn floor_search(first_block: i64, block_val: &[f64]) -> Option<FloorStep> {
    let n_blocks = block_val.len();
    let min_after = FloorStep::MIN_DAYS * SLOTS;
    if n_blocks < FLOOR_MIN_BEFORE_BLOCKS + min_after {
        return None;
    }
    let slot_of = |b: usize| (first_block + b as i64).rem_euclid(SLOTS as i64) as usize;
    let ranks = SlotRanks::of(block_val, slot_of);
    // Candidate splits fall on day boundaries (slot 0), from the end backwards, so the
    // blocks since the split grow one day at a time and the weeks before slide back a day.
    let mut after: [RankSet; SLOTS] = std::array::from_fn(|s| RankSet::new(&ranks.values[s]));
    let mut window = SlotWindow {
        from: 0,
        to: 0,
        sets: std::array::from_fn(|s| RankSet::new(&ranks.values[s])),
    };
    // Candidates that pass, latest first; and the best-ranked of the rest.
    let mut passing: Vec<FloorStep> = Vec::new();
    let mut best: Option<FloorStep> = None;
    for k in (FLOOR_MIN_BEFORE_BLOCKS..n_blocks).rev() {
        if let Some(r) = ranks.rank(k) {
            after[slot_of(k)].insert(r);
        }
        if slot_of(k) != 0 || n_blocks - k < min_after {
            continue;
        }
        let weeks_before = (k / WEEK_BLOCKS).min(4);
        let from = k - weeks_before * WEEK_BLOCKS;
        window.move_to(from, k, &ranks, slot_of);
        let before = &window.sets;
        let mut rises = SlotValues::default();
        let mut old = [f64::NAN; SLOTS];
        for s in 0..SLOTS {
            if before[s].len() >= 7 && after[s].len() >= 3 {
                old[s] = before[s].quantile(0.1);
                rises.push(after[s].quantile(0.1) - old[s]);
            }
        }
        if rises.len() < 3 {
            continue;
        }
        let size = second_smallest(rises.as_slice());
        if size < crate::core::verdict::MIN_RIG_KW {
            continue;
        }
        // The site's level before: the mean of its slots' medians. A rise must clear the
        // onset search's minimum step on it.
        let level = before
            .iter()
            .filter(|b| b.len() > 0)
            .map(RankSet::median)
            .sum::<f64>()
            / SLOTS as f64;
        if size < 0.15 + 0.10 * level {
            continue;
        }
        // The first week is itself raised: its first day and five of the other six (one
        // outage forgiven), each with all but one slot at least half the rise above the old
        // floor. Busy weekdays before the switch-on are not its start: the weekend after
        // them sits at the old floor.
        let raised = |d: usize| {
            let mut gains = SlotValues::default();
            for i in k + d * SLOTS..k + (d + 1) * SLOTS {
                if block_val[i].is_finite() && old[slot_of(i)].is_finite() {
                    gains.push(block_val[i] - old[slot_of(i)]);
                }
            }
            gains.len() >= 3 && second_smallest(gains.as_slice()) >= 0.5 * size
        };
        if !raised(0) || (1..7).filter(|&d| raised(d)).count() < 5 {
            continue;
        }
        let at_old = |i: usize| {
            let s = slot_of(i);
            block_val[i].is_finite() && old[s].is_finite() && block_val[i] <= old[s] + 0.5 * size
        };
        let mut shares = SlotValues::default();
        let mut above_old_usual = f64::NEG_INFINITY;
        let mut spreads = SlotValues::default();
        for s in (0..SLOTS).filter(|&s| old[s].is_finite()) {
            above_old_usual =
                above_old_usual.max((after[s].quantile(0.1) - before[s].median()) / size);
            // `before[s]` holds exactly the slot's finite blocks of the weeks before.
            let n_at = before[s].count_at_most(old[s] + 0.5 * size);
            shares.push(n_at as f64 / before[s].len() as f64);
            spreads.push((after[s].quantile(0.3) - after[s].quantile(0.1)) / size);
        }
        let old_floor_weeks = (0..weeks_before)
            .filter(|&wk| {
                let to = k - wk * WEEK_BLOCKS;
                let mut slots = [false; SLOTS];
                for i in to - WEEK_BLOCKS..to {
                    if at_old(i) {
                        slots[slot_of(i)] = true;
                    }
                }
                slots.iter().filter(|&&x| x).count() >= 2
            })
            .count();
        let cand = FloorStep {
            hour: (first_block + k as i64) * BLOCK_H,
            added_kw: size,
            old_floor_share: shares.as_slice().iter().sum::<f64>() / shares.len() as f64,
            weeks_before,
            old_floor_weeks,
            new_floor_spread: sorted_median(spreads.sorted()),
            above_old_usual,
            days: (n_blocks - k) / SLOTS,
        };
        if cand.is_rig_like() {
            passing.push(cand);
        } else if best.is_none_or(|b| cand.rig_likeness() > b.rig_likeness()) {
            best = Some(cand);
        }
    }
    // The largest rise that passes, dated to the earliest day boundary with nearly (95% of)
    // the same rise: later boundaries count the first days of the raised floor as "before".
    let largest = passing.iter().map(|f| f.added_kw).fold(f64::NAN, f64::max);
    passing
        .iter()
        .rev()
        .find(|f| f.added_kw >= 0.95 * largest)
        .copied()
        .or(best)
}

/// A quick bound that rules most meters out before the floor search: whether two slots of
/// the day could rise by the smallest rig. Every candidate's blocks since the split hold the
/// last [`FloorStep::MIN_DAYS`] days, so (with at most 101 blocks per slot, 10% of which lie
/// below the new floor's interpolation point) a new floor is at most the 11th-lowest block of
/// those days in its slot; an old floor is at least the slot's lowest block. A rise needs
/// all slots but one, and at least two.
fn floor_can_rise(block_val: &[f64], slot_of: impl Fn(usize) -> usize) -> bool {
    let n_blocks = block_val.len();
    if n_blocks > 101 * SLOTS {
        return true; // the bound does not hold; search
    }
    let recent_from = n_blocks.saturating_sub(FloorStep::MIN_DAYS * SLOTS);
    let mut lowest = [f64::INFINITY; SLOTS];
    let mut recent: [Vec<f64>; SLOTS] =
        std::array::from_fn(|_| Vec::with_capacity(FloorStep::MIN_DAYS));
    for (b, &v) in block_val.iter().enumerate().filter(|(_, v)| v.is_finite()) {
        let s = slot_of(b);
        lowest[s] = lowest[s].min(v);
        if b >= recent_from {
            recent[s].push(v);
        }
    }
    let can_rise = (0..SLOTS)
        .filter(|&s| {
            let r = &mut recent[s];
            if r.len() <= 10 {
                return true; // too few to bound; let the search decide
            }
            let (_, new_floor_bound, _) = r.select_nth_unstable_by(10, |a, b| a.total_cmp(b));
            *new_floor_bound - lowest[s] >= crate::core::verdict::MIN_RIG_KW
        })
        .count();
    can_rise >= 2
}

/// Each slot's finite block values in ascending order, and every block's rank in its slot's
/// order (equal values take consecutive ranks), so a set of blocks of one slot can be a bit
/// set over ranks ([`RankSet`]).
struct SlotRanks {
    values: [Vec<f64>; SLOTS],
    /// Rank of each block in its slot's `values`; `u32::MAX` for a block with no value.
    rank: Vec<u32>,
}

impl SlotRanks {
    fn of(block_val: &[f64], slot_of: impl Fn(usize) -> usize) -> SlotRanks {
        let mut order: [Vec<u32>; SLOTS] = std::array::from_fn(|_| Vec::new());
        for (b, v) in block_val.iter().enumerate() {
            if v.is_finite() {
                order[slot_of(b)].push(b as u32);
            }
        }
        let mut rank = vec![u32::MAX; block_val.len()];
        let values = std::array::from_fn(|s| {
            let o = &mut order[s];
            o.sort_unstable_by(|&a, &b| block_val[a as usize].total_cmp(&block_val[b as usize]));
            for (r, &b) in o.iter().enumerate() {
                rank[b as usize] = r as u32;
            }
            o.iter().map(|&b| block_val[b as usize]).collect()
        });
        SlotRanks { values, rank }
    }

    fn rank(&self, block: usize) -> Option<usize> {
        let r = self.rank[block];
        (r != u32::MAX).then_some(r as usize)
    }
}

/// A set of one slot's blocks as a bit set over their ranks ([`SlotRanks`]): adding or
/// removing a block is one bit, and a quantile is read by counting bits, with no sorted
/// vector to shift. Quantiles are those of [`sorted_quantile`] and [`sorted_median`] on the
/// set's values.
struct RankSet<'a> {
    /// The slot's values, ascending: rank `r` is `values[r]`.
    values: &'a [f64],
    words: Vec<u64>,
    len: usize,
}

impl<'a> RankSet<'a> {
    fn new(values: &'a [f64]) -> RankSet<'a> {
        RankSet {
            values,
            words: vec![0; values.len().div_ceil(64)],
            len: 0,
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn insert(&mut self, r: usize) {
        self.words[r / 64] |= 1 << (r % 64);
        self.len += 1;
    }

    fn remove(&mut self, r: usize) {
        self.words[r / 64] &= !(1 << (r % 64));
        self.len -= 1;
    }

    /// The `i`-th smallest value of the set (from 0); NaN past the end.
    fn nth(&self, mut i: usize) -> f64 {
        for (w, &word) in self.words.iter().enumerate() {
            let n = word.count_ones() as usize;
            if i < n {
                let mut x = word;
                for _ in 0..i {
                    x &= x - 1;
                }
                return self.values[w * 64 + x.trailing_zeros() as usize];
            }
            i -= n;
        }
        f64::NAN
    }

    fn quantile(&self, q: f64) -> f64 {
        quantile_of_ordered(self.len, q, |i| self.nth(i))
    }

    fn median(&self) -> f64 {
        median_of_ordered(self.len, |i| self.nth(i))
    }

    /// How many values of the set are at most `x`.
    fn count_at_most(&self, x: f64) -> usize {
        let r = self.values.partition_point(|&v| v <= x);
        let full: usize = self.words[..r / 64]
            .iter()
            .map(|w| w.count_ones() as usize)
            .sum();
        let part = match self.words.get(r / 64) {
            Some(w) if r % 64 > 0 => (w & ((1u64 << (r % 64)) - 1)).count_ones() as usize,
            _ => 0,
        };
        full + part
    }
}

/// One slot-set per slot of the day for a window of blocks `from..to`, kept up to date as
/// the window moves: a block leaving clears its bit, a block entering sets it.
struct SlotWindow<'a> {
    from: usize,
    to: usize,
    sets: [RankSet<'a>; SLOTS],
}

impl SlotWindow<'_> {
    fn move_to(
        &mut self,
        from: usize,
        to: usize,
        ranks: &SlotRanks,
        slot_of: impl Fn(usize) -> usize,
    ) {
        let (old_from, old_to) = (self.from, self.to);
        // Blocks in the old window and not the new, and the other way round.
        for i in (old_from..old_to.min(from)).chain(old_from.max(to)..old_to) {
            if let Some(r) = ranks.rank(i) {
                self.sets[slot_of(i)].remove(r);
            }
        }
        for i in (from..to.min(old_from)).chain(from.max(old_to)..to) {
            if let Some(r) = ranks.rank(i) {
                self.sets[slot_of(i)].insert(r);
            }
        }
        (self.from, self.to) = (from, to);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::features::fixtures::*;
    use crate::core::features::{measure, WINDOW_HOURS};

    #[test]
    fn a_farm_whose_site_then_stops_production_is_found_by_its_floor() {
        // The working slots' medians after the switch-on fall below their medians before, and
        // hour by hour about half the hours add less than nothing, so the median step and the
        // added load lose it. Its floor does not.
        let (s, on) = farm_then_production_stops();
        let m = measure(&s, s.end_hour(), 0).unwrap();
        assert!(m.added.is_none_or(|a| !a.is_rig_like()), "{:?}", m.added);
        let f = m.floor.expect("floor step");
        assert!(f.is_rig_like(), "{f:?}");
        assert_eq!(f.hour, on);
        assert!((f.added_kw - 300.0).abs() < 30.0, "{f:?}");
        assert_eq!(f.days, 51);
        assert!(f.above_old_usual > 0.9, "{f:?}");
    }

    #[test]
    fn a_plant_that_stops_its_weekly_shutdowns_has_no_rig_like_floor_step() {
        // 2 MW round the clock, down to 100 kW one day a week until day 50 and never after:
        // the floor rose 1.9 MW for good, but the old floor was one day in seven, and the new
        // floor is no higher than the plant's old usual level.
        let s = series(WINDOW_HOURS, |h| {
            let day = (h - 480_000) / 24;
            if day < 50 && day % 7 == 3 {
                100.0
            } else {
                2000.0 * (1.0 + 0.02 * (day % 3) as f32)
            }
        });
        let m = measure(&s, s.end_hour(), 0).unwrap();
        let f = m.floor.expect("a floor rise is measured");
        assert!(f.old_floor_share < FloorStep::MIN_OLD_FLOOR_SHARE, "{f:?}");
        assert!(f.above_old_usual < 0.1, "{f:?}");
        assert!(!f.is_rig_like(), "{f:?}");
    }

    #[test]
    fn a_three_week_rise_of_the_floor_is_not_rig_like_during_or_after() {
        // 150 kW more at every hour from day 60 to day 81 (a hot spell's cooling): judged on
        // day 81 the floor has been up three weeks, less than the four the test needs; judged
        // at the end it has come down.
        let from = 480_000 + 60 * 24;
        let to = 480_000 + 81 * 24;
        let s = series(WINDOW_HOURS, |h| {
            business(h) + if (from..to).contains(&h) { 150.0 } else { 0.0 }
        });
        for as_of in [to, s.end_hour()] {
            let m = measure(&s, as_of, 0).unwrap();
            assert!(
                m.floor.is_none_or(|f| !f.is_rig_like()),
                "{as_of}: {:?}",
                m.floor
            );
        }
    }

    #[test]
    fn the_quick_bound_never_rules_out_a_floor_the_search_finds() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
        let (mut found, mut ruled_out) = (0, 0);
        for case in 0..400 {
            // 13 weeks of blocks (sometimes more than the bound covers): a noisy level, a
            // step of 0–3 kW at a random day, a few gaps.
            let n = if case % 10 == 0 { 420 } else { 364 };
            let level: f64 = rng.gen_range(0.1..3.0);
            let noise: f64 = rng.gen_range(0.0..1.0);
            let on = rng.gen_range(0..n);
            let step: f64 = rng.gen_range(0.0..3.0);
            let blocks: Vec<f64> = (0..n)
                .map(|b| {
                    if rng.gen_bool(0.03) {
                        f64::NAN
                    } else {
                        level + noise * rng.gen::<f64>() + if b >= on { step } else { 0.0 }
                    }
                })
                .collect();
            let first_block = 80_000 + case as i64 % 4;
            let slot_of = |b: usize| (first_block + b as i64).rem_euclid(SLOTS as i64) as usize;
            ruled_out += usize::from(!floor_can_rise(&blocks, slot_of));
            if let Some(f) = floor_search(first_block, &blocks) {
                found += 1;
                assert!(floor_can_rise(&blocks, slot_of), "case {case}: {f:?}");
                assert_eq!(floor_step(first_block, &blocks), Some(f));
            }
        }
        assert!(found > 50, "only {found} cases had a floor rise to check");
        assert!(ruled_out > 50, "the bound ruled out only {ruled_out} cases");
    }

    #[test]
    fn floor_step_likeness_passes_exactly_at_half() {
        let f = FloorStep {
            hour: 0,
            added_kw: 300.0,
            weeks_before: 4,
            old_floor_weeks: 4,
            old_floor_share: 0.6,
            new_floor_spread: 0.05,
            above_old_usual: 1.0,
            days: 30,
        };
        assert!(f.is_rig_like() && f.rig_likeness() > 0.99);
        let at_share = FloorStep {
            old_floor_share: FloorStep::MIN_OLD_FLOOR_SHARE,
            ..f
        };
        assert!((at_share.rig_likeness() - 0.5).abs() < 1e-9);
        let at_spread = FloorStep {
            new_floor_spread: FloorStep::MAX_NEW_FLOOR_SPREAD,
            ..f
        };
        assert!((at_spread.rig_likeness() - 0.5).abs() < 1e-9);
        let at_usual = FloorStep {
            above_old_usual: FloorStep::MIN_ABOVE_OLD_USUAL,
            ..f
        };
        assert!((at_usual.rig_likeness() - 0.5).abs() < 1e-9);
        for zero in [
            FloorStep {
                days: FloorStep::MIN_DAYS - 1,
                ..f
            },
            FloorStep {
                old_floor_weeks: 3,
                ..f
            },
            FloorStep {
                weeks_before: 1,
                old_floor_weeks: 1,
                ..f
            },
            FloorStep { added_kw: 0.5, ..f },
        ] {
            assert_eq!(zero.rig_likeness(), 0.0, "{zero:?}");
        }
    }
}
