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

use super::series::HourlySeries;

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

/// Onset detection works on 6-hour blocks (four "slots" of the UTC day).
const BLOCK_H: i64 = 6;
const SLOTS: usize = 4;
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

/// Names of the features the model reads, in order. A model trained on another list
/// refuses to load.
pub const FEATURE_NAMES: [&str; 12] = [
    "log_level",
    "log_floor",
    "base_ratio",
    "load_factor",
    "variability",
    "night_day",
    "daily_shape",
    "weekly_shape",
    "uptime",
    "step",
    "step_flatness",
    "level_vs_peers",
];

/// Number of features.
pub const N_FEATURES: usize = FEATURE_NAMES.len();

/// Index of `level_vs_peers`, which the model fills in.
pub const LEVEL_VS_PEERS: usize = 11;

/// Names of the features that place a meter among comparable meters: the shape and size
/// of its *baseline*, so a miner is compared with what its premises was before.
pub const PEER_FEATURE_NAMES: [&str; 6] = [
    "base_ratio",
    "load_factor",
    "night_day",
    "daily_shape",
    "weekly_shape",
    "log_level",
];

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
    /// The feature vector in [`FEATURE_NAMES`] order; `level_vs_peers` is NaN until the
    /// model fills it, and other entries are NaN where undefined (imputed by the model).
    pub values: [f64; N_FEATURES],
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
    let mut values = [f64::NAN; N_FEATURES];
    values[0] = log_kw(episode.mean_kw);
    values[1] = log_kw(episode.floor_kw);
    values[2] = ratio(episode.floor_kw, episode.mean_kw).min(1.5);
    values[3] = ratio(episode.mean_kw, episode.peak_kw).min(1.5);
    values[4] = episode.variability.min(3.0);
    values[5] = episode.night_day;
    values[6] = episode.daily_shape;
    values[7] = episode.weekly_shape;
    values[8] = episode.uptime;
    values[9] = onset.map_or(0.0, |o| (1.0 + o.added_kw / (o.baseline_kw + 0.1)).log2());
    values[10] = onset.map_or(0.0, |o| o.flatness);
    Some(Measured {
        window_start_hour: start,
        window_end_hour: start + w.len() as i64,
        onset,
        episode,
        baseline,
        added,
        floor: floor_step(blocks.first, &blocks.values),
        values,
    })
}

/// The most recent of two stacked steps. The most significant split of a window can date a
/// farm to an earlier, unrelated rise: a business back from its New Year shutdown on
/// 9 January, with the farm switched on 26 January, gives the strongest before/after contrast
/// at 9 January (its baseline is the quiet holiday). So the episode is searched again on its
/// own: a significant step inside it, at least 40% of the size of the first, is the switch-on,
/// measured against the stretch just before it.
fn latest_step(start: i64, w: &[f32], tz_offset_s: i32, first: Onset) -> Onset {
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

/// Measures what the step added (see [`Added`]): every hour since the onset (`w[split..]`,
/// not only the last four weeks the shape features read: a longer run evens out weeks of
/// heavier curtailment) against the profile of the four weeks of baseline before `split`.
/// `None` without 18 comparable hours.
fn added_load(start: i64, w: &[f32], split: usize, tz_h: f64) -> Option<Added> {
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

/// A test's margin as a score: 0.5 exactly at its limit (`past_limit` = 0), towards 1 the
/// further on the passing side, in steps of `width` (logistic).
fn margin(past_limit: f64, width: f64) -> f64 {
    1.0 / (1.0 + (-(past_limit / width)).exp())
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
fn floor_step(first_block: i64, block_val: &[f64]) -> Option<FloorStep> {
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

/// The finite values of a stretch of hours in ascending order (by `f64::total_cmp`),
/// for reading several quantiles after one sort.
///
/// Kept as `f32` order keys: every `f32` converts exactly to `f64` and the conversion
/// keeps the total order, so each quantile equals [`quantile`] of the values as `f64`.
struct SortedHours {
    keys: Vec<u32>,
}

impl SortedHours {
    fn of(w: &[f32]) -> SortedHours {
        let mut keys = Vec::with_capacity(w.len());
        keys.extend(w.iter().filter(|v| v.is_finite()).map(|&v| order_key(v)));
        radix_sort(&mut keys);
        SortedHours { keys }
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    fn get(&self, i: usize) -> f64 {
        from_order_key(self.keys[i]) as f64
    }

    /// The same number as [`quantile`] of the values: the `lo`-th smallest, interpolated
    /// towards the next one.
    fn quantile(&self, q: f64) -> f64 {
        let n = self.keys.len();
        if n == 0 {
            return f64::NAN;
        }
        let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
        let lo = pos as usize; // pos ≥ 0: truncation is floor, without a libm call
        let a = self.get(lo);
        if lo + 1 < n && pos > lo as f64 {
            let b = self.get(lo + 1);
            a + (b - a) * (pos - lo as f64)
        } else {
            a
        }
    }

    /// How many values are `>= t`. The values are sorted, and for finite values `v < t`
    /// holds for a prefix of them, so this is a binary search.
    fn count_at_least(&self, t: f64) -> usize {
        self.keys.len()
            - self
                .keys
                .partition_point(|&k| (from_order_key(k) as f64) < t)
    }
}

/// Sorts `keys` ascending: a least-significant-digit radix sort by bytes, skipping the
/// bytes all keys share (the sign and most of the exponent, for one meter's hours). The
/// same result as `sort_unstable` (integers have one sorted order), in a few passes
/// instead of a comparison sort's n log n steps.
fn radix_sort(keys: &mut Vec<u32>) {
    let n = keys.len();
    if n < 64 {
        keys.sort_unstable();
        return;
    }
    let mut counts = [[0u32; 256]; 4];
    for &k in keys.iter() {
        for (d, c) in counts.iter_mut().enumerate() {
            c[((k >> (8 * d)) & 0xff) as usize] += 1;
        }
    }
    let mut from = std::mem::take(keys);
    let mut to = vec![0u32; n];
    for (d, c) in counts.iter_mut().enumerate() {
        let shift = 8 * d;
        if c[((from[0] >> shift) & 0xff) as usize] as usize == n {
            continue; // every key has this byte: the pass would not move anything
        }
        let mut next = 0u32;
        for slot in c.iter_mut() {
            let here = *slot;
            *slot = next;
            next += here;
        }
        for &k in &from {
            let b = ((k >> shift) & 0xff) as usize;
            to[c[b] as usize] = k;
            c[b] += 1;
        }
        std::mem::swap(&mut from, &mut to);
    }
    *keys = from;
}

/// An unsigned key in the order of `f32::total_cmp`.
fn order_key(v: f32) -> u32 {
    // Negative: all bits flipped; positive: the sign bit set.
    let bits = v.to_bits();
    bits ^ (((bits as i32 >> 31) as u32) | 0x8000_0000)
}

/// The `f32` of an [`order_key`].
fn from_order_key(k: u32) -> f32 {
    f32::from_bits(k ^ (((!k as i32 >> 31) as u32) | 0x8000_0000))
}

/// The `q` quantile (0..1) of `v` by linear interpolation; reorders `v`.
pub fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = pos as usize; // pos ≥ 0: truncation is floor, without a libm call
    let n = v.len();
    let (_, &mut a, rest) = v.select_nth_unstable_by(lo, |x, y| x.total_cmp(y));
    if lo + 1 < n && pos > lo as f64 {
        let b = rest.iter().copied().fold(f64::INFINITY, f64::min);
        a + (b - a) * (pos - lo as f64)
    } else {
        a
    }
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
fn find_onset_in(start: i64, w: &[f32], tz_offset_s: i32, blocks: &Blocks) -> Option<Onset> {
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

/// The first block of a window and every block's value ([`block_values`]). Blocks are
/// aligned to the absolute 6-hour grid so every driver cuts the same blocks.
fn window_blocks(start: i64, w: &[f32]) -> Blocks {
    let first = start.div_euclid(BLOCK_H);
    let last_block = (start + w.len() as i64 - 1).div_euclid(BLOCK_H);
    let n_blocks = (last_block - first + 1).max(0) as usize;
    Blocks {
        first,
        values: block_values(start, w, first, n_blocks),
    }
}

/// A window cut into 6-hour blocks: the first block's index and every block's value.
struct Blocks {
    first: i64,
    values: Vec<f64>,
}

/// Each 6-hour block's second-lowest valid hour (NaN under four valid hours), so one
/// restart hour does not hide the block.
#[inline(never)]
fn block_values(start: i64, w: &[f32], first_block: i64, n_blocks: usize) -> Vec<f64> {
    let mut block_val = vec![f64::NAN; n_blocks];
    for (b, slot_val) in block_val.iter_mut().enumerate() {
        // The block's hours that lie inside the window.
        let h0 = (first_block + b as i64) * BLOCK_H;
        let from = (h0 - start).max(0) as usize;
        let to = ((h0 + BLOCK_H - start) as usize).min(w.len());
        // The second-lowest by `total_cmp`, kept as order keys (every finite key is below
        // `u32::MAX`).
        // A gap counts as `u32::MAX`, which never displaces a valid hour.
        let (mut lowest, mut second, mut n) = (u32::MAX, u32::MAX, 0);
        for &v in &w[from..to] {
            let finite = v.is_finite();
            let k = if finite { order_key(v) } else { u32::MAX };
            n += usize::from(finite);
            second = second.min(k.max(lowest));
            lowest = lowest.min(k);
        }
        if n >= 4 {
            *slot_val = from_order_key(second) as f64;
        }
    }
    block_val
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

/// Up to one value per slot of the day.
#[derive(Default)]
struct SlotValues {
    v: [f64; SLOTS],
    n: usize,
}

impl SlotValues {
    fn push(&mut self, x: f64) {
        self.v[self.n] = x;
        self.n += 1;
    }

    fn len(&self) -> usize {
        self.n
    }

    fn as_slice(&self) -> &[f64] {
        &self.v[..self.n]
    }

    /// The values in ascending order (by `f64::total_cmp`).
    fn sorted(&mut self) -> &[f64] {
        self.v[..self.n].sort_by(|a, b| a.total_cmp(b));
        &self.v[..self.n]
    }
}

/// The second-smallest of at least two values by `f64::total_cmp`: what sorting them
/// and taking the second would give, without the sort.
fn second_smallest(v: &[f64]) -> f64 {
    let (mut first, mut second) = if v[1].total_cmp(&v[0]).is_lt() {
        (v[1], v[0])
    } else {
        (v[0], v[1])
    };
    for &x in &v[2..] {
        if x.total_cmp(&first).is_lt() {
            second = first;
            first = x;
        } else if x.total_cmp(&second).is_lt() {
            second = x;
        }
    }
    second
}

fn insert_sorted(v: &mut Vec<f64>, x: f64) {
    let i = v.partition_point(|&y| y < x);
    v.insert(i, x);
}

/// [`sorted_quantile`] at 0.5 in integer steps: `0.5 × (n − 1)` is exact in floating
/// point, so its floor is `(n − 1) / 2` and its fraction 0 or ½, and the result is the
/// same number.
fn sorted_median(v: &[f64]) -> f64 {
    median_of_ordered(v.len(), |i| v[i])
}

fn sorted_quantile(v: &[f64], q: f64) -> f64 {
    quantile_of_ordered(v.len(), q, |i| v[i])
}

/// [`sorted_median`] of `n` values given by their order (`nth(i)` is the `i`-th smallest).
#[inline]
fn median_of_ordered(n: usize, nth: impl Fn(usize) -> f64) -> f64 {
    if n == 0 {
        return f64::NAN;
    }
    let lo = (n - 1) / 2;
    let frac = if (n - 1) % 2 == 1 { 0.5 } else { 0.0 };
    let hi = (lo + 1).min(n - 1);
    let (a, b) = (nth(lo), nth(hi));
    a + (b - a) * frac
}

/// [`sorted_quantile`] of `n` values given by their order (`nth(i)` is the `i`-th smallest).
#[inline]
fn quantile_of_ordered(n: usize, q: f64, nth: impl Fn(usize) -> f64) -> f64 {
    if n == 0 {
        return f64::NAN;
    }
    let pos = q * (n - 1) as f64;
    let lo = pos as usize; // pos ≥ 0: truncation is floor, without a libm call
    let hi = (lo + 1).min(n - 1);
    let (a, b) = (nth(lo), nth(hi));
    a + (b - a) * (pos - lo as f64)
}

/// A site working 06–22 on weekdays (1.6 MW, 200 kW idle) with a 300 kW farm from day 40,
/// whose own production stops on day 60: the case the floor test is for. The 13-week series
/// and the farm's first hour.
#[cfg(test)]
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A household-like day: 0.3 kW at night, an evening peak of 2 kW.
    fn household(h: i64) -> f32 {
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

    fn series(n: i64, f: impl Fn(i64) -> f32) -> HourlySeries {
        HourlySeries {
            start_hour: 480_000,
            kw: (0..n).map(|i| f(480_000 + i)).collect(),
            resolution_min: 30,
        }
    }

    #[test]
    fn a_household_has_no_onset_and_a_strong_daily_shape() {
        let s = series(WINDOW_HOURS, household);
        let m = measure(&s, s.end_hour(), 0).unwrap();
        assert!(m.onset.is_none(), "{:?}", m.onset);
        assert!(m.values[6] > 0.5, "daily_shape {}", m.values[6]);
        assert!(m.values[2] < 0.5, "base_ratio {}", m.values[2]);
    }

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

    /// A business: 0.2 MW on weekend days and at night, 1.6 MW on weekday working hours
    /// (UTC 08–18), with a little day-to-day variation.
    fn business(h: i64) -> f32 {
        let hod = h.rem_euclid(24);
        let weekend = matches!(h.div_euclid(24).rem_euclid(7), 2 | 3);
        let base = if !weekend && (8..18).contains(&hod) {
            1600.0
        } else {
            200.0
        };
        base * (1.0 + 0.05 * ((h / 24) % 3) as f32)
    }

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

    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// Hours as meters send them, and the awkward ones: gaps, infinities, zeros of both
    /// signs, negatives (export), repeats.
    fn awkward_hours(rng: &mut Xoshiro256PlusPlus, n: usize) -> Vec<f32> {
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

    #[test]
    fn quantiles_read_after_one_sort_equal_quantiles_by_selection() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(6);
        for round in 0..2_000 {
            let n = if round % 100 == 0 {
                700
            } else {
                rng.gen_range(0..40)
            };
            let w = awkward_hours(&mut rng, n);
            let sorted = SortedHours::of(&w);
            let mut vals: Vec<f64> = w
                .iter()
                .filter(|v| v.is_finite())
                .map(|&v| v as f64)
                .collect();
            for q in [0.0, 0.1, 0.2, 0.25, 0.4, 0.5, 0.6, 0.75, 0.98, 1.0] {
                let (got, want) = (sorted.quantile(q), quantile(&mut vals, q));
                assert!(
                    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                    "q {q} of {w:?}: {got} vs {want}"
                );
                let t = 0.75 * want;
                let count = vals.iter().filter(|&&v| v >= t).count();
                assert_eq!(sorted.count_at_least(t), count, "≥ {t} in {w:?}");
            }
        }
    }

    #[test]
    fn radix_sort_sorts_like_sort_unstable() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(8);
        for round in 0..500 {
            let n = rng.gen_range(0..3_000);
            let mut keys: Vec<u32> = match round % 3 {
                // Keys of hours: shared high bytes, the case the skipped passes are for.
                0 => awkward_hours(&mut rng, n)
                    .into_iter()
                    .filter(|v| v.is_finite())
                    .map(order_key)
                    .collect(),
                1 => (0..n).map(|_| rng.gen()).collect(),
                _ => (0..n).map(|_| rng.gen_range(0..4)).collect(),
            };
            let mut want = keys.clone();
            want.sort_unstable();
            radix_sort(&mut keys);
            assert_eq!(keys, want);
        }
    }

    #[test]
    fn order_keys_follow_total_cmp() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
        let w = awkward_hours(&mut rng, 5_000);
        for pair in w.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert_eq!(order_key(a).cmp(&order_key(b)), a.total_cmp(&b), "{a} {b}");
            assert_eq!(from_order_key(order_key(a)).to_bits(), a.to_bits());
        }
    }

    #[test]
    fn the_integer_median_is_the_interpolated_one() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(10);
        for n in 0..300 {
            let mut v: Vec<f64> = awkward_hours(&mut rng, n)
                .into_iter()
                .filter(|x| x.is_finite())
                .map(|x| x as f64)
                .collect();
            v.sort_by(|a, b| a.total_cmp(b));
            let (got, want) = (sorted_median(&v), sorted_quantile(&v, 0.5));
            assert!(got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()));
        }
    }

    #[test]
    fn block_values_are_the_second_lowest_valid_hour_of_each_block() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        for _ in 0..1_000 {
            let n = rng.gen_range(1..120i64);
            let start = 480_000 + rng.gen_range(0..BLOCK_H);
            let w = awkward_hours(&mut rng, n as usize);
            let first_block = start.div_euclid(BLOCK_H);
            let n_blocks = ((start + n - 1).div_euclid(BLOCK_H) - first_block + 1) as usize;
            let got = block_values(start, &w, first_block, n_blocks);
            for (b, got) in got.into_iter().enumerate() {
                let h0 = (first_block + b as i64) * BLOCK_H;
                let mut valid: Vec<f64> = (h0..h0 + BLOCK_H)
                    .filter(|&h| h >= start && h < start + n)
                    .map(|h| w[(h - start) as usize])
                    .filter(|v| v.is_finite())
                    .map(|v| v as f64)
                    .collect();
                valid.sort_by(|a, b| a.total_cmp(b));
                let want = if valid.len() >= 4 { valid[1] } else { f64::NAN };
                assert!(
                    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                    "block {b} of {w:?} from {start}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn second_smallest_is_the_second_after_sorting() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let pool = [
            f64::NAN,
            -f64::NAN,
            -0.0,
            0.0,
            1.0,
            -1.0,
            2.5,
            f64::INFINITY,
        ];
        for _ in 0..20_000 {
            let n = rng.gen_range(2..=6);
            let mut v: Vec<f64> = (0..n)
                .map(|_| {
                    if rng.gen_bool(0.5) {
                        pool[rng.gen_range(0..pool.len())]
                    } else {
                        rng.gen_range(-3.0..3.0)
                    }
                })
                .collect();
            let got = second_smallest(&v);
            v.sort_by(|a, b| a.total_cmp(b));
            assert_eq!(got.to_bits(), v[1].to_bits(), "{v:?}");
        }
    }

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

    #[test]
    fn quantile_interpolates() {
        let check = |v: &[f64], q: f64, want: f64| {
            assert!((quantile(&mut v.to_vec(), q) - want).abs() < 1e-12)
        };
        check(&[3.0, 1.0, 2.0], 0.5, 2.0);
        check(&[1.0, 2.0], 0.5, 1.5);
        check(&[5.0], 0.9, 5.0);
        check(&[4.0, 1.0, 3.0, 2.0], 0.0, 1.0);
        check(&[4.0, 1.0, 3.0, 2.0], 1.0, 4.0);
    }
}
