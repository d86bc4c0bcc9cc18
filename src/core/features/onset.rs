//! The onset search: the step up in the load that stayed up, dated to the hour, and the
//! latest of stacked steps.

use super::stats::{insert_sorted, second_smallest, sorted_median, sorted_quantile, SortedHours};
use super::window::{window_blocks, Blocks, SlotValues, BLOCK_H, SLOTS};

/// A step needs a week of baseline and 18 hours of episode. Less baseline than a week
/// mistakes a business reopening after a holiday shutdown for a switch-on (EnerNOC food
/// processor 654 restarting on 3 January 2012).
const MIN_BEFORE_BLOCKS: usize = 28;
const MIN_AFTER_BLOCKS: usize = 3;
/// The shortest analysed window in which a step can be dated at all: a week of baseline
/// and 18 hours of episode, in whole 6-hour blocks (186 hours). A series shorter than this
/// is still judged by its shape, but never gets an onset.
pub const MIN_ONSET_WINDOW_HOURS: i64 = (MIN_BEFORE_BLOCKS + MIN_AFTER_BLOCKS) as i64 * BLOCK_H;
/// How many robust standard deviations of the baseline's block-to-block wandering a
/// step must clear.
const STEP_SIGMAS: f64 = 3.0;

/// A step up in the load that stayed up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Onset {
    /// First hour of the raised load (hour index).
    pub hour: i64,
    /// Flat kW added, the same at every time of day (the second-smallest slot gain).
    pub added_kw: f64,
    /// Smallest slot gain over mean slot gain, in [0, 1]: 1 when the added load is the
    /// same day and night.
    pub flatness: f64,
    /// Median kW of the baseline.
    pub baseline_kw: f64,
}

/// The most recent of two stacked steps. The most significant split of a window can date a
/// farm to an earlier, unrelated rise: a business back from its New Year shutdown on
/// 9 January, with the farm switched on 26 January, gives the strongest before/after contrast
/// at 9 January (its baseline is the quiet holiday). So the episode is searched again on its
/// own: a significant step inside it, at least 40% of the size of the first, is the switch-on,
/// measured against the stretch just before it.
pub(super) fn latest_step(start: i64, w: &[f32], tz_offset_s: i32, first: Onset) -> Onset {
    let mut onset = first;
    // Two refinements at most: each needs a week of the previous episode as its baseline.
    for _ in 0..2 {
        let split = (onset.hour - start) as usize;
        let Some(later) = find_onset(onset.hour, &w[split..], tz_offset_s) else {
            break;
        };
        if later.added_kw < 0.4 * onset.added_kw {
            break;
        }
        onset = later;
    }
    onset
}

/// Finds the strongest step up that stays up, in 6-hour blocks.
///
/// Each block is summarised by its second-lowest hour (so one restart hour does not
/// hide it). For every candidate block `k`, and separately for each of the four
/// 6-hour slots of the day, the gain is the median of the slot's block values after `k`
/// minus their median before `k`: a household's evening peak cancels (it is in both),
/// and only load added at every time of day survives in every slot. The step's size and
/// its significance (gain over the slot's own noise) come from the second-smallest slot,
/// so one curtailed slot (a miner off at peak hours) does not hide it. The significant
/// candidate with the largest size, weighted towards longer episodes, wins.
fn find_onset(start: i64, w: &[f32], tz_offset_s: i32) -> Option<Onset> {
    find_onset_in(start, w, tz_offset_s, &window_blocks(start, w))
}

/// [`find_onset`] with the window's block values already cut ([`window_blocks`]).
pub(super) fn find_onset_in(
    start: i64,
    w: &[f32],
    tz_offset_s: i32,
    blocks: &Blocks,
) -> Option<Onset> {
    let (first_block, block_val) = (blocks.first, &blocks.values[..]);
    let n_blocks = block_val.len();
    if n_blocks < MIN_BEFORE_BLOCKS + MIN_AFTER_BLOCKS {
        return None;
    }
    let slot_of = |b: usize| (first_block + b as i64).rem_euclid(SLOTS as i64) as usize;
    // The slot whose middle is nearest local 03:00.
    let night_slot = (0..SLOTS)
        .min_by_key(|&s| {
            let local_mid =
                (s as i64 * BLOCK_H * 3600 + 3 * 3600 + tz_offset_s as i64).rem_euclid(86_400);
            (local_mid - 3 * 3600)
                .abs()
                .min(86_400 - (local_mid - 3 * 3600).abs())
        })
        .unwrap_or(0);
    let stats = SplitStats::of(block_val, slot_of);
    let (k_best, size, flatness) = most_significant_split(block_val, &stats, slot_of, night_slot)?;
    let before_med = &stats.before_med;
    // The most significant split can fall a little after the switch-on (a later split has a
    // cleaner baseline). Extend the episode back over blocks that are already raised in
    // their own slot, so it starts where the raised level starts.
    let raised = |b: usize| {
        let base = before_med[k_best][slot_of(b)];
        block_val[b].is_finite() && base.is_finite() && block_val[b] >= base + 0.5 * size
    };
    // An outage of up to 12 hours (two blocks) inside the episode does not end it.
    let mut k = k_best;
    let mut j = k_best;
    while j > MIN_BEFORE_BLOCKS {
        if raised(j - 1) {
            j -= 1;
            k = j;
        } else if j >= MIN_BEFORE_BLOCKS + 2
            && (raised(j - 2) || (j >= MIN_BEFORE_BLOCKS + 3 && raised(j - 3)))
        {
            j -= 1;
        } else {
            break;
        }
    }
    // A step must clear the baseline's own noise to count as an onset.
    let base_end = ((first_block + k as i64) * BLOCK_H - start).max(0) as usize;
    let base = SortedHours::of(&w[..base_end]);
    if base.len() < 24 {
        return None;
    }
    let baseline_kw = base.quantile(0.5);
    let base_floor = base.quantile(0.1);
    if size < 0.15 + 0.10 * baseline_kw {
        return None;
    }
    // Refine to the hour: the first hour from which six valid hours all sit above half the step.
    let threshold = base_floor + 0.5 * size;
    let block_start = (first_block + k as i64) * BLOCK_H;
    let mut hour = block_start.max(start);
    for h in (block_start - BLOCK_H).max(start)..block_start + BLOCK_H {
        let i = (h - start) as usize;
        let mut run = w[i..(i + 6).min(w.len())].iter().filter(|v| v.is_finite());
        let n_run = run.clone().count();
        if n_run >= 4 && run.all(|&v| v as f64 >= threshold) {
            hour = h;
            break;
        }
    }
    Some(Onset {
        hour,
        added_kw: size,
        flatness,
        baseline_kw,
    })
}

/// Per-slot statistics of the block values before every candidate split `k` (blocks
/// `..k`) and from it on (blocks `k..`).
///
/// Kept in sorted vectors grown one block at a time so each candidate costs O(1) to read.
/// The noise of a slot is estimated from its 40th–60th percentiles (σ ≈ range / 0.507
/// for a normal distribution): unlike the interquartile range it stays inside the
/// majority mode when a slot is bimodal (weekday vs weekend in a school).
struct SplitStats {
    before_med: Vec<[f64; SLOTS]>,
    before_sigma: Vec<[f64; SLOTS]>,
    before_n: Vec<[usize; SLOTS]>,
    after_med: Vec<[f64; SLOTS]>,
    after_n: Vec<[usize; SLOTS]>,
}

impl SplitStats {
    #[inline(never)]
    fn of(block_val: &[f64], slot_of: impl Fn(usize) -> usize) -> SplitStats {
        let n_blocks = block_val.len();
        // A block changes only its own slot's statistics, so the other three carry over.
        let mut before_med = Vec::with_capacity(n_blocks);
        let mut before_sigma = Vec::with_capacity(n_blocks);
        let mut before_n = Vec::with_capacity(n_blocks);
        let mut sorted: [Vec<f64>; SLOTS] =
            std::array::from_fn(|_| Vec::with_capacity(n_blocks / SLOTS + 1));
        let (mut med, mut sigma, mut n) = ([f64::NAN; SLOTS], [f64::NAN; SLOTS], [0usize; SLOTS]);
        for (k, &v) in block_val.iter().enumerate() {
            before_med.push(med);
            before_sigma.push(sigma);
            before_n.push(n);
            if v.is_finite() {
                let s = slot_of(k);
                insert_sorted(&mut sorted[s], v);
                n[s] = sorted[s].len();
                med[s] = sorted_median(&sorted[s]);
                sigma[s] =
                    (sorted_quantile(&sorted[s], 0.6) - sorted_quantile(&sorted[s], 0.4)) / 0.507;
            }
        }
        let mut after_med = vec![[f64::NAN; SLOTS]; n_blocks];
        let mut after_n = vec![[0usize; SLOTS]; n_blocks];
        for v in &mut sorted {
            v.clear();
        }
        let (mut med, mut n) = ([f64::NAN; SLOTS], [0usize; SLOTS]);
        for k in (0..n_blocks).rev() {
            if block_val[k].is_finite() {
                let s = slot_of(k);
                insert_sorted(&mut sorted[s], block_val[k]);
                n[s] = sorted[s].len();
                med[s] = sorted_median(&sorted[s]);
            }
            after_med[k] = med;
            after_n[k] = n;
        }
        SplitStats {
            before_med,
            before_sigma,
            before_n,
            after_med,
            after_n,
        }
    }
}

/// The candidate split with the most significant step up: `(k, size, flatness)`.
///
/// For every candidate block `k`, and separately for each of the four slots, the gain is
/// the slot's median after `k` minus its median before `k`. The step's size and its
/// significance come from the second-smallest slot.
#[inline(never)]
fn most_significant_split(
    block_val: &[f64],
    stats: &SplitStats,
    slot_of: impl Fn(usize) -> usize,
    night_slot: usize,
) -> Option<(usize, f64, f64)> {
    let n_blocks = block_val.len();
    let SplitStats {
        before_med,
        before_sigma,
        before_n,
        after_med,
        after_n,
    } = stats;
    let mut best: Option<(f64, usize, f64, f64)> = None; // (objective, k, size, flatness)
    for k in MIN_BEFORE_BLOCKS..=n_blocks - MIN_AFTER_BLOCKS {
        // The slots seen on both sides of the split.
        let seen = |s: usize| {
            before_med[k][s].is_finite()
                && after_med[k][s].is_finite()
                && before_sigma[k][s].is_finite()
        };
        let mut gains = SlotValues::default();
        let mut night_seen = false;
        for s in (0..SLOTS).filter(|&s| seen(s)) {
            gains.push(after_med[k][s] - before_med[k][s]);
            night_seen |= s == night_slot;
        }
        // Mining is "day and night": a step seen in only three slots of the day must have
        // been seen at night. (A heated home's warm day spans 07–22 h: three slots.)
        if gains.len() < 3 || (gains.len() == 3 && !night_seen) {
            continue;
        }
        // Size and significance from the second-smallest slot, so one slot switched off at
        // peak hours (curtailment) does not hide a step present the rest of the day.
        let size = second_smallest(gains.as_slice());
        if size <= 0.0 {
            continue;
        }
        let level: f64 = before_med[k]
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .sum::<f64>()
            / SLOTS as f64;
        let mut zs = SlotValues::default();
        for s in (0..SLOTS).filter(|&s| seen(s)) {
            let (b, a, sd) = (before_med[k][s], after_med[k][s], before_sigma[k][s]);
            // The standard error of a difference of two medians (1.2533 σ / √n each):
            // a day of episode is judged against the slot's full noise, a month of it
            // against a fraction. A floor on σ so a perfectly quiet slot does not make
            // any flicker significant.
            let (na, nb) = (after_n[k][s].max(1) as f64, before_n[k][s].max(1) as f64);
            let se = 1.2533 * sd.max(0.02 + 0.02 * level) * (1.0 / na + 1.0 / nb).sqrt();
            zs.push((a - b) / se);
        }
        let z = second_smallest(zs.as_slice());
        if z < STEP_SIGMAS {
            continue;
        }
        // Medians after k tolerate restarts and outages, but they would also tolerate an
        // onset dated days too early; so the first block must itself be raised.
        let first_up = block_val[k] - before_med[k][slot_of(k)];
        if first_up.is_nan() || first_up < 0.5 * size {
            continue;
        }
        // Summed in ascending order, as it always has been.
        let gains = gains.sorted();
        let mean_gain = gains.iter().sum::<f64>() / gains.len() as f64;
        // Like the size, flatness forgives one slot: a miner curtailed at peak hours is flat the
        // rest of the day.
        let flatness = (gains[1].max(0.0) / mean_gain).clamp(0.0, 1.0);
        // The split that best separates before from after (the most significant step, as in
        // a max-t change-point test) dates the onset. Choosing the largest step instead would
        // date a farm that switched on in February to a January return from a holiday
        // shutdown, whose baseline is lowest.
        let objective = z;
        if best.is_none_or(|b| objective > b.0) {
            best = Some((objective, k, size, flatness));
        }
    }
    best.map(|(_, k, size, flatness)| (k, size, flatness))
}

#[cfg(test)]
mod tests {
    use crate::core::features::fixtures::*;
    use crate::core::features::{measure, WINDOW_HOURS};

    #[test]
    fn an_s9_switched_on_at_day_20_is_found_within_a_few_hours() {
        let on = 480_000 + 20 * 24 + 15;
        let s = series(WINDOW_HOURS, |h| {
            household(h) + if h >= on { 1.4 } else { 0.0 }
        });
        let m = measure(&s, s.end_hour(), 0).unwrap();
        let o = m.onset.expect("onset");
        assert!((o.hour - on).abs() <= 3, "onset {} vs {}", o.hour, on);
        assert!((o.added_kw - 1.4).abs() < 0.3, "added {}", o.added_kw);
        assert!(o.flatness > 0.8, "flatness {}", o.flatness);
    }

    #[test]
    fn a_miner_curtailed_at_peak_hours_still_shows_its_step() {
        let on = 480_000 + 15 * 24;
        let s = series(WINDOW_HOURS, |h| {
            let hod = h.rem_euclid(24);
            household(h)
                + if h >= on && !(17..20).contains(&hod) {
                    6.5
                } else {
                    0.0
                }
        });
        let m = measure(&s, s.end_hour(), 0).unwrap();
        let o = m.onset.expect("onset");
        assert!(o.added_kw > 5.0, "added {}", o.added_kw);
    }

    #[test]
    fn an_evening_only_increase_is_not_a_flat_step() {
        let on = 480_000 + 20 * 24;
        let s = series(WINDOW_HOURS, |h| {
            let hod = h.rem_euclid(24);
            household(h)
                + if h >= on && (16..23).contains(&hod) {
                    3.0
                } else {
                    0.0
                }
        });
        let m = measure(&s, s.end_hour(), 0).unwrap();
        assert!(
            m.onset.is_none() || m.onset.unwrap().flatness < 0.2,
            "{:?}",
            m.onset
        );
    }

    #[test]
    fn a_later_farm_is_dated_past_an_earlier_return_from_shutdown() {
        // Shut down for the first 10 days (200 kW), normal business after, a 500 kW farm
        // from day 30: the most significant split alone would date the holiday's end.
        let back = 480_000 + 10 * 24;
        let on = 480_000 + 30 * 24 + 3;
        let s = series(WINDOW_HOURS, |h| {
            let load = if h < back { 200.0 } else { business(h) };
            load + if h >= on { 500.0 } else { 0.0 }
        });
        let m = measure(&s, s.end_hour(), 0).unwrap();
        let o = m.onset.expect("onset");
        assert!(
            (o.hour - on).abs() <= 12,
            "onset {} vs {} (back {back})",
            o.hour,
            on
        );
        assert!(m.added.expect("added").is_rig_like(), "{:?}", m.added);
    }
}
