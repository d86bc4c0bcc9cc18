//! Detection quality against labels: ROC AUC, recall at fixed false-positive rates,
//! precision at the top of the ranking, recall by rig count, false positives by kind of
//! meter, and time from switch-on to first flag.
//!
//! The metric functions are pure and tested on hand-made cases with known answers; the
//! driver [`evaluate`] scores a labelled fleet with the same core as `scan` and replays each
//! mining meter at increasing "as of" hours to time its detection. Whether a replayed flag
//! counts is decided by the daemon's own alert rule, [`AlertBook`] with the same
//! confirmation span: "alerts a daemon would raise" are the daemon's alerts.

use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;
use serde::Serialize;

use crate::core::alerts::{AlertBook, AlertKind, Decision, Signal};
use crate::core::registry::Registry;
use crate::core::verdict::Assessment;
use crate::core::{self, Context, HourlySeries, MeterId, Model};
use crate::quality::labels::Label;

/// ROC AUC: probability that a random positive outscores a random negative (ties count half).
/// `None` without both classes.
pub fn roc_auc(scores: &[(f64, bool)]) -> Option<f64> {
    let n_pos = scores.iter().filter(|s| s.1).count();
    let n_neg = scores.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut v: Vec<(f64, bool)> = scores.to_vec();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Mann–Whitney U from average ranks, handling ties.
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j < v.len() && v[j].0 == v[i].0 {
            j += 1;
        }
        let avg_rank = (i + j + 1) as f64 / 2.0; // ranks are 1-based
        rank_sum_pos += avg_rank * v[i..j].iter().filter(|s| s.1).count() as f64;
        i = j;
    }
    let u = rank_sum_pos - (n_pos * (n_pos + 1)) as f64 / 2.0;
    Some(u / (n_pos as f64 * n_neg as f64))
}

/// Recall at the score threshold that flags at most `fpr` of the negatives.
pub fn recall_at_fpr(scores: &[(f64, bool)], fpr: f64) -> Option<f64> {
    let mut neg: Vec<f64> = scores.iter().filter(|s| !s.1).map(|s| s.0).collect();
    let pos: Vec<f64> = scores.iter().filter(|s| s.1).map(|s| s.0).collect();
    if neg.is_empty() || pos.is_empty() {
        return None;
    }
    neg.sort_by(|a, b| b.total_cmp(a));
    // Allowed false positives: floor(fpr × negatives). The threshold must exceed the next one.
    let allowed = (fpr * neg.len() as f64).floor() as usize;
    let threshold = if allowed >= neg.len() {
        f64::NEG_INFINITY
    } else {
        neg[allowed]
    };
    Some(pos.iter().filter(|&&s| s > threshold).count() as f64 / pos.len() as f64)
}

/// Average precision over the top `k` of the ranking (MAP@k as in the theft literature):
/// the mean of precision@i over the ranks i ≤ k that hold a positive.
pub fn average_precision_at(scores: &[(f64, bool)], k: usize) -> Option<f64> {
    let mut v = scores.to_vec();
    v.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut hits = 0;
    let mut sum = 0.0;
    for (i, s) in v.iter().take(k).enumerate() {
        if s.1 {
            hits += 1;
            sum += hits as f64 / (i + 1) as f64;
        }
    }
    (hits > 0).then(|| sum / hits as f64)
}

/// The `q` quantile of hours (nearest rank), or `None` when empty.
pub fn quantile_hours(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let idx = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1;
    Some(s[idx])
}

/// Rig-count buckets for recall reporting.
pub fn rig_bucket(label: &Label) -> &'static str {
    let kw = label.mining_kw.unwrap_or(0.0);
    let rigs = label.rigs.unwrap_or(kw / core::verdict::S19_KW);
    if kw > 0.0 && kw < 2.0 {
        "1 S9 (1.4 kW)"
    } else if rigs < 3.5 {
        "1-3 rigs"
    } else if rigs < 10.5 {
        "4-10 rigs"
    } else if rigs < 29.5 {
        "11-29 rigs"
    } else if rigs < 100.0 {
        "30-99 rigs"
    } else {
        "100+ rigs"
    }
}

/// Metrics for one segment of the fleet (homes, businesses, or all).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SegmentMetrics {
    /// Segment name.
    pub segment: String,
    /// Labelled meters judged.
    pub n_meters: usize,
    /// Of which mining.
    pub n_mining: usize,
    /// ROC AUC of the calibrated score.
    pub auc: Option<f64>,
    /// Recall with the model's own threshold.
    pub recall: Option<f64>,
    /// Share of clean meters flagged with the model's own threshold.
    pub false_positive_rate: Option<f64>,
    /// Recall at a threshold flagging 0.1% of clean meters.
    pub recall_at_fpr_0_1pct: Option<f64>,
    /// Recall at a threshold flagging 1% of clean meters.
    pub recall_at_fpr_1pct: Option<f64>,
    /// Average precision over the top 100.
    pub map_at_100: Option<f64>,
    /// Recall by rig-count bucket: (found, total).
    pub recall_by_rigs: BTreeMap<String, (usize, usize)>,
    /// Clean meters flagged, by kind: (flagged, total).
    pub false_positives_by_kind: BTreeMap<String, (usize, usize)>,
    /// Median hours from onset to first flag (undetected count as never).
    pub ttd_median_h: Option<f64>,
    /// 90th-percentile hours from onset to first flag.
    pub ttd_p90_h: Option<f64>,
    /// Share of mining meters flagged within 24 h of onset.
    pub within_24h: Option<f64>,
    /// Share of mining meters flagged within 48 h of onset.
    pub within_48h: Option<f64>,
    /// Alerts as a daemon would raise them: share of mining meters flagged at some
    /// replayed moment after their onset (see [`MeterOutcome::alerted`]).
    pub alert_recall: Option<f64>,
    /// Share of clean meters flagged at some replayed moment: the false alarms a daemon
    /// re-scoring the fleet through the whole piece would have raised.
    pub alert_false_positive_rate: Option<f64>,
}

/// One meter's outcome, for the one-by-one review of misses and false alarms.
#[derive(Debug, Clone, Serialize)]
pub struct MeterOutcome {
    /// The meter.
    pub meter_id: String,
    /// Its label kind.
    pub kind: String,
    /// Mining by label.
    pub mining: bool,
    /// Score at the end.
    pub score: f64,
    /// Flagged at the end.
    pub flagged: bool,
    /// Hours from onset to first flag, when it was found.
    pub ttd_h: Option<f64>,
    /// Flagged at some replayed moment, every `ttd_step_h` through the piece and at its
    /// end (for a mining meter, only moments after its onset count): what a daemon
    /// re-scoring the meter as its readings arrive would have alerted on.
    pub alerted: bool,
    /// The first replayed moment at which it was flagged (hour index; the end of the
    /// piece when only the final judgement flagged it), and that verdict's first reason.
    pub first_alert: Option<(i64, String)>,
    /// Mining kW by label.
    pub mining_kw: Option<f64>,
    /// The verdict's first reason.
    pub reason: String,
}

/// The whole evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Metrics for homes, businesses and all.
    pub segments: Vec<SegmentMetrics>,
    /// Every labelled meter's outcome.
    pub meters: Vec<MeterOutcome>,
    /// Step between replayed "as of" hours for time to detection.
    pub ttd_step_h: i64,
    /// Longest delay replayed.
    pub ttd_horizon_h: i64,
    /// Hours a flag had to hold before it counted (see [`EvalSettings::confirm_h`]).
    pub confirm_h: i64,
}

/// How a meter is judged in an evaluation: the trained model, the official rule, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
pub enum Method {
    /// The shipped detector: the clustering model plus the added-load test.
    Model,
    /// The clustering model alone, without the added-load test (ablation).
    Clusters,
    /// The literal official rule: ≥2× the fleet median and CV < 0.35 over some 2-day window.
    Rule,
    /// Flag when either flags.
    Either,
}

/// The literal official rule as a function of a meter's window: (score, flagged).
///
/// Irkutsk 2025: consumption at least twice that of similar premises and "stable, without
/// fluctuations". Read literally: some 48-hour window in the last 28 days with mean ≥ 2× the
/// fleet median level and coefficient of variation < 0.35. The score is the best window's
/// level ratio damped by its CV, for ranking.
pub fn official_rule(series: &HourlySeries, as_of_hour: i64, fleet_median_kw: f64) -> (f64, bool) {
    let (_, w) = series.window(as_of_hour - core::WINDOW_HOURS, as_of_hour);
    let mut best = (0.0f64, false);
    let mut i = 0;
    while i + 48 <= w.len() {
        let vals: Vec<f64> = w[i..i + 48]
            .iter()
            .filter(|v| v.is_finite())
            .map(|&v| v as f64)
            .collect();
        if vals.len() >= 36 {
            let m = vals.iter().sum::<f64>() / vals.len() as f64;
            let sd = (vals.iter().map(|v| (v - m).powi(2)).sum::<f64>() / vals.len() as f64).sqrt();
            let cv = if m > 0.0 { sd / m } else { f64::INFINITY };
            let ratio = m / fleet_median_kw.max(1e-6);
            let flagged = ratio >= 2.0 && cv < 0.35;
            let score = (ratio / 2.0).min(5.0) / 5.0 * (1.0 - cv.min(1.0));
            if (flagged, score) > (best.1, best.0) {
                best = (score, flagged);
            }
        }
        i += 6;
    }
    best
}

/// How an evaluation judges and replays.
#[derive(Debug, Clone, Copy)]
pub struct EvalSettings {
    /// Model, rule, or either.
    pub method: Method,
    /// Local-time offset for the day/night features.
    pub tz_offset_s: i32,
    /// Hours between replayed "as of" moments when timing detection.
    pub ttd_step_h: i64,
    /// Longest delay after onset that is replayed.
    pub ttd_horizon_h: i64,
    /// A flag counts (for time to detection and alerts) only once the daemon's alert rule
    /// confirms it: flagged at the replayed moments for this many hours (a gap in data
    /// neither breaks nor counts, see [`crate::core::alerts`]); the daemon's
    /// `confirm_hours`. 0: at once.
    pub confirm_h: i64,
}

/// Scores a labelled fleet and times detection of each mining meter.
pub fn evaluate(
    series: &[(MeterId, HourlySeries)],
    labels: &HashMap<String, Label>,
    model: &Model,
    registry: Option<&Registry>,
    settings: EvalSettings,
) -> Evaluation {
    let EvalSettings {
        method,
        tz_offset_s,
        ttd_step_h,
        ttd_horizon_h,
        confirm_h,
    } = settings;
    // The rule needs the fleet median level, measured over each meter's mean.
    let mut levels: Vec<f64> = series
        .iter()
        .filter_map(|(_, s)| {
            let v: Vec<f64> =
                s.kw.iter()
                    .filter(|x| x.is_finite())
                    .map(|&x| x as f64)
                    .collect();
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        })
        .collect();
    let fleet_median = if levels.is_empty() {
        1.0
    } else {
        core::features::quantile(&mut levels, 0.5)
    };

    let judge = |id: &MeterId, s: &HourlySeries, as_of: i64| -> Judged {
        let ctx = Context {
            tz_offset_s,
            registry: registry.and_then(|r| r.get(id.as_str())),
        };
        let model_verdict = || core::assess(id, s, as_of, model, &ctx);
        match method {
            Method::Clusters => Judged::of(&core::assess_clusters_only(id, s, as_of, model, &ctx)),
            Method::Model => Judged::of(&model_verdict()),
            Method::Rule => {
                let (score, flagged) = official_rule(s, as_of, fleet_median);
                Judged {
                    score,
                    flagged,
                    insufficient: false,
                    est_rigs: 0.0,
                    reason: if flagged {
                        "official rule: ≥2× median, CV < 0.35 over 48 h".into()
                    } else {
                        String::new()
                    },
                }
            }
            Method::Either => {
                let a = Judged::of(&model_verdict());
                let (sc, f) = official_rule(s, as_of, fleet_median);
                Judged {
                    score: a.score.max(sc),
                    flagged: a.flagged || f,
                    insufficient: a.insufficient && !f,
                    ..a
                }
            }
        }
    };

    let meters: Vec<MeterOutcome> = series
        .par_iter()
        .filter_map(|(id, s)| {
            let label = labels.get(id.as_str())?;
            let Judged {
                score,
                flagged,
                reason,
                ..
            } = judge(id, s, s.end_hour());
            let onset = label.onset_hour().filter(|_| label.mining);
            let ttd_h = onset.and_then(|onset| {
                let moments = (1..)
                    .map(|i| onset + i * ttd_step_h)
                    .take_while(|&h| h - onset <= ttd_horizon_h && h <= s.end_hour());
                first_held(moments, confirm_h, |h| judge(id, s, h)).map(|(h, _)| (h - onset) as f64)
            });
            let first_alert = first_held(
                replay_moments(s.start_hour, s.end_hour(), onset, ttd_step_h)
                    .chain(std::iter::once(s.end_hour())),
                confirm_h,
                |h| judge(id, s, h),
            );
            let alerted = first_alert.is_some();
            Some(MeterOutcome {
                meter_id: id.to_string(),
                kind: label.kind.clone(),
                mining: label.mining,
                score,
                flagged,
                ttd_h,
                alerted,
                first_alert,
                mining_kw: label.mining_kw,
                reason,
            })
        })
        .collect();

    let business: HashMap<&str, bool> = labels
        .iter()
        .map(|(k, l)| (k.as_str(), l.is_business()))
        .collect();
    let segment = |name: &str, keep: &dyn Fn(&MeterOutcome) -> bool| {
        let ms: Vec<&MeterOutcome> = meters.iter().filter(|m| keep(m)).collect();
        segment_metrics(name, &ms, labels)
    };
    let segments = vec![
        segment("homes", &|m| {
            !business.get(m.meter_id.as_str()).copied().unwrap_or(false)
        }),
        segment("businesses", &|m| {
            business.get(m.meter_id.as_str()).copied().unwrap_or(false)
        }),
        segment("all", &|_| true),
    ];
    Evaluation {
        segments,
        meters,
        ttd_step_h,
        ttd_horizon_h,
        confirm_h,
    }
}

fn segment_metrics(
    name: &str,
    ms: &[&MeterOutcome],
    labels: &HashMap<String, Label>,
) -> SegmentMetrics {
    let scores: Vec<(f64, bool)> = ms.iter().map(|m| (m.score, m.mining)).collect();
    let mining: Vec<&&MeterOutcome> = ms.iter().filter(|m| m.mining).collect();
    let clean: Vec<&&MeterOutcome> = ms.iter().filter(|m| !m.mining).collect();
    let share = |n: usize, d: usize| (d > 0).then(|| n as f64 / d as f64);
    let mut by_rigs = BTreeMap::new();
    for m in &mining {
        let e = by_rigs
            .entry(labels.get(&m.meter_id).map_or("?", rig_bucket).to_string())
            .or_insert((0, 0));
        e.1 += 1;
        if m.flagged {
            e.0 += 1;
        }
    }
    let mut by_kind = BTreeMap::new();
    for m in &clean {
        let e = by_kind.entry(m.kind.clone()).or_insert((0, 0));
        e.1 += 1;
        if m.flagged {
            e.0 += 1;
        }
    }
    // Undetected miners count as never found: give them infinite delay for the quantiles.
    let ttd: Vec<f64> = mining
        .iter()
        .map(|m| m.ttd_h.unwrap_or(f64::INFINITY))
        .collect();
    SegmentMetrics {
        segment: name.into(),
        n_meters: ms.len(),
        n_mining: mining.len(),
        auc: roc_auc(&scores),
        recall: share(mining.iter().filter(|m| m.flagged).count(), mining.len()),
        false_positive_rate: share(clean.iter().filter(|m| m.flagged).count(), clean.len()),
        recall_at_fpr_0_1pct: recall_at_fpr(&scores, 0.001),
        recall_at_fpr_1pct: recall_at_fpr(&scores, 0.01),
        map_at_100: average_precision_at(&scores, 100),
        recall_by_rigs: by_rigs,
        false_positives_by_kind: by_kind,
        ttd_median_h: quantile_hours(&ttd, 0.5).filter(|v| v.is_finite()),
        ttd_p90_h: quantile_hours(&ttd, 0.9).filter(|v| v.is_finite()),
        within_24h: share(ttd.iter().filter(|&&h| h <= 24.0).count(), ttd.len()),
        within_48h: share(ttd.iter().filter(|&&h| h <= 48.0).count(), ttd.len()),
        alert_recall: share(mining.iter().filter(|m| m.alerted).count(), mining.len()),
        alert_false_positive_rate: share(clean.iter().filter(|m| m.alerted).count(), clean.len()),
    }
}

/// One replayed verdict, whichever method gave it.
#[derive(Debug, Clone)]
struct Judged {
    score: f64,
    flagged: bool,
    /// Too little data to judge (see [`Signal::insufficient`]).
    insufficient: bool,
    est_rigs: f64,
    /// The verdict's first reason.
    reason: String,
}

impl Judged {
    fn of(a: &Assessment) -> Judged {
        let Signal {
            flagged,
            insufficient,
            score,
            est_rigs,
            ..
        } = Signal::of(a);
        Judged {
            score,
            flagged,
            insufficient,
            est_rigs,
            reason: a.reasons.first().cloned().unwrap_or_default(),
        }
    }

    fn signal(&self, hour: i64) -> Signal {
        Signal {
            hour,
            flagged: self.flagged,
            insufficient: self.insufficient,
            score: self.score,
            est_rigs: self.est_rigs,
        }
    }
}

/// The alerts the daemon's [`AlertBook`] (confirming over `confirm_h` hours) raises on one
/// meter judged at `moments`, lazily, each with its hour and the verdict's first reason.
fn replayed_alerts(
    moments: impl Iterator<Item = i64>,
    confirm_h: i64,
    mut judge: impl FnMut(i64) -> Judged,
) -> impl Iterator<Item = (i64, Decision, String)> {
    let mut book = AlertBook::new().with_confirmation(confirm_h);
    moments.filter_map(move |h| {
        let j = judge(h);
        book.step("replayed", j.signal(h)).map(|d| (h, d, j.reason))
    })
}

/// The first of `moments` at which the daemon's alert rule raises a suspect alert, once
/// the flag has held `confirm_h` hours (0: at its first flag), with the verdict's first
/// reason.
fn first_held(
    moments: impl Iterator<Item = i64>,
    confirm_h: i64,
    judge: impl FnMut(i64) -> Judged,
) -> Option<(i64, String)> {
    replayed_alerts(moments, confirm_h, judge)
        .find(|(_, d, _)| d.kind == AlertKind::Suspect)
        .map(|(h, _, why)| (h, why))
}

/// The "as of" hours replayed for [`MeterOutcome::alerted`]: every `step` hours on the
/// absolute grid, from the series' first hour (or, for a mining meter, its onset) to its
/// end, exclusive of the end, which is judged anyway.
fn replay_moments(
    start_hour: i64,
    end_hour: i64,
    onset: Option<i64>,
    step: i64,
) -> impl Iterator<Item = i64> {
    let step = step.max(1);
    let from = onset.unwrap_or(start_hour);
    let first = (from.div_euclid(step) + 1) * step;
    (0..)
        .map(move |i| first + i * step)
        .take_while(move |&h| h < end_hour)
}

/// A readable table of an evaluation.
pub fn render(e: &Evaluation) -> String {
    let f = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.3}"));
    let h = |v: Option<f64>| v.map_or("never".to_string(), |x| format!("{x:.0} h"));
    let mut s = String::new();
    s.push_str(&format!(
        "{:<11} {:>6} {:>6} {:>6} {:>7} {:>7} {:>9} {:>9} {:>7} {:>8} {:>8} {:>7} {:>7}\n",
        "segment",
        "meters",
        "mining",
        "AUC",
        "recall",
        "FP rate",
        "R@0.1%FP",
        "R@1%FP",
        "MAP@100",
        "TTD med",
        "TTD p90",
        "≤24 h",
        "≤48 h"
    ));
    for m in &e.segments {
        s.push_str(&format!(
            "{:<11} {:>6} {:>6} {:>6} {:>7} {:>7} {:>9} {:>9} {:>7} {:>8} {:>8} {:>7} {:>7}\n",
            m.segment,
            m.n_meters,
            m.n_mining,
            f(m.auc),
            f(m.recall),
            f(m.false_positive_rate),
            f(m.recall_at_fpr_0_1pct),
            f(m.recall_at_fpr_1pct),
            f(m.map_at_100),
            h(m.ttd_median_h),
            h(m.ttd_p90_h),
            f(m.within_24h),
            f(m.within_48h)
        ));
    }
    s.push_str(&format!(
        "\nalerts while replaying every {} h, as a daemon re-scoring each meter would raise them{}:\n",
        e.ttd_step_h,
        if e.confirm_h > 0 {
            format!(" (a flag counts once it has held {} h)", e.confirm_h)
        } else {
            String::new()
        }
    ));
    s.push_str(&format!(
        "{:<11} {:>6} {:>6} {:>13} {:>13}\n",
        "segment", "meters", "mining", "alert recall", "alert FP rate"
    ));
    for m in &e.segments {
        s.push_str(&format!(
            "{:<11} {:>6} {:>6} {:>13} {:>13}\n",
            m.segment,
            m.n_meters,
            m.n_mining,
            f(m.alert_recall),
            f(m.alert_false_positive_rate)
        ));
    }
    for m in e.segments.iter().filter(|m| m.segment != "all") {
        if !m.recall_by_rigs.is_empty() {
            s.push_str(&format!("\n{}: recall by rig count\n", m.segment));
            for (k, (found, total)) in &m.recall_by_rigs {
                s.push_str(&format!("  {k:<16} {found:>4}/{total:<4}\n"));
            }
        }
        let fp: Vec<_> = m
            .false_positives_by_kind
            .iter()
            .filter(|(_, (n, _))| *n > 0)
            .collect();
        s.push_str(&format!(
            "{}: false positives by kind: {}\n",
            m.segment,
            if fp.is_empty() {
                "none".to_string()
            } else {
                String::new()
            }
        ));
        for (k, (n, total)) in fp {
            s.push_str(&format!("  {k:<16} {n:>4}/{total:<4}\n"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::verdict::Status;

    /// One verdict of meter "m" as of `hour`.
    fn verdict(hour: i64, status: Status, score: f64, est_rigs: f64) -> Assessment {
        Assessment {
            meter_id: MeterId::from("m"),
            score,
            flagged: status == Status::Suspect,
            status,
            level_kw: 1.0,
            excess_kw: est_rigs * 3.25,
            est_rigs,
            excess_kwh_per_day: 0.0,
            since_hour: 0,
            onset_found: false,
            window_start_hour: hour - core::WINDOW_HOURS,
            window_end_hour: hour,
            peer_group: String::new(),
            peer_level_kw: 0.0,
            cluster: 0,
            reasons: vec![format!("at {hour}")],
            notes: vec![],
            features: vec![],
        }
    }

    /// The daemon (its scorer asks the book, then records what it sends) and `eval` (its
    /// replay) see the same verdicts, gaps included, and raise the same alerts.
    #[test]
    fn eval_replays_alerts_with_the_daemons_rule() {
        use Status::{Clear, InsufficientData as Gap, Suspect};
        let verdicts: Vec<Assessment> = [
            (6, Suspect, 0.8, 2.0),
            (12, Gap, 0.0, 0.0),
            (18, Suspect, 0.8, 2.0),
            (24, Clear, 0.2, 0.0), // breaks the wait
            (30, Suspect, 0.8, 2.0),
            (36, Gap, 0.0, 0.0), // neither breaks nor counts
            (42, Suspect, 0.8, 2.0),
            (48, Suspect, 0.8, 2.0),
            (54, Suspect, 0.8, 2.1), // 12 counted hours: suspect
            (60, Gap, 0.0, 0.0),     // does not clear
            (66, Suspect, 0.8, 4.0), // material change
            (72, Suspect, 0.95, 4.0),
            (78, Clear, 0.1, 0.0),
            (84, Gap, 0.0, 0.0),
            (90, Suspect, 0.8, 2.0), // a new episode waits again
            (96, Suspect, 0.8, 2.0),
            (102, Suspect, 0.8, 2.0),
        ]
        .into_iter()
        .map(|(h, status, score, rigs)| verdict(h, status, score, rigs))
        .collect();
        let confirm_h = 12;

        let mut book = AlertBook::new().with_confirmation(confirm_h);
        let daemon: Vec<(i64, AlertKind, u64)> = verdicts
            .iter()
            .filter_map(|a| {
                let alert = book.decide(a)?;
                book.record(&alert);
                Some((a.window_end_hour, alert.kind, alert.episode))
            })
            .collect();

        let judge = |h: i64| Judged::of(verdicts.iter().find(|a| a.window_end_hour == h).unwrap());
        let moments = verdicts.iter().map(|a| a.window_end_hour);
        let eval: Vec<(i64, AlertKind, u64)> = replayed_alerts(moments.clone(), confirm_h, judge)
            .map(|(h, d, _)| (h, d.kind, d.episode))
            .collect();

        use AlertKind::{Changed, Cleared, Suspect as Raised};
        assert_eq!(
            daemon,
            [
                (54, Raised, 1),
                (66, Changed, 1),
                (72, Changed, 1),
                (78, Cleared, 1),
                (102, Raised, 2)
            ]
        );
        assert_eq!(eval, daemon);
        assert_eq!(
            first_held(moments, confirm_h, judge),
            Some((54, "at 54".to_string()))
        );
    }

    #[test]
    fn auc_is_one_for_a_perfect_ranking_and_half_for_ties() {
        assert_eq!(
            roc_auc(&[(0.9, true), (0.8, true), (0.1, false)]),
            Some(1.0)
        );
        assert_eq!(roc_auc(&[(0.5, true), (0.5, false)]), Some(0.5));
        assert_eq!(roc_auc(&[(0.1, true), (0.9, false)]), Some(0.0));
        assert_eq!(roc_auc(&[(0.1, true)]), None);
    }

    #[test]
    fn auc_matches_a_hand_count() {
        // Positives 0.8, 0.4; negatives 0.6, 0.2: pairs won 3 of 4.
        assert_eq!(
            roc_auc(&[(0.8, true), (0.4, true), (0.6, false), (0.2, false)]),
            Some(0.75)
        );
    }

    #[test]
    fn recall_at_fpr_uses_the_allowed_number_of_false_positives() {
        let mut s: Vec<(f64, bool)> = (0..100).map(|i| (i as f64 / 100.0, false)).collect();
        s.push((0.995, true));
        s.push((0.985, true));
        s.push((0.5, true));
        // 1% of 100 negatives = 1 allowed: threshold is the 2nd-highest negative (0.98).
        assert_eq!(recall_at_fpr(&s, 0.01), Some(2.0 / 3.0));
        // 0.1% of 100 = 0 allowed: threshold is the top negative (0.99).
        assert_eq!(recall_at_fpr(&s, 0.001), Some(1.0 / 3.0));
    }

    #[test]
    fn average_precision_counts_only_ranks_with_hits() {
        // Ranking: T F T → (1/1 + 2/3) / 2.
        let ap = average_precision_at(&[(0.9, true), (0.8, false), (0.7, true)], 100).unwrap();
        assert!((ap - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert_eq!(average_precision_at(&[(0.9, false)], 100), None);
    }

    #[test]
    fn quantiles_use_nearest_rank() {
        assert_eq!(quantile_hours(&[6.0, 12.0, 18.0, 24.0], 0.5), Some(12.0));
        assert_eq!(quantile_hours(&[6.0, 12.0, 18.0, 24.0], 0.9), Some(24.0));
        assert_eq!(quantile_hours(&[], 0.5), None);
    }

    #[test]
    fn replay_moments_step_on_the_absolute_grid_after_the_start_or_onset() {
        let v: Vec<i64> = replay_moments(5, 30, None, 6).collect();
        assert_eq!(v, [6, 12, 18, 24]);
        let v: Vec<i64> = replay_moments(5, 30, Some(13), 6).collect();
        assert_eq!(v, [18, 24]);
        // The end itself is judged by the caller, never replayed twice.
        let v: Vec<i64> = replay_moments(0, 24, None, 6).collect();
        assert_eq!(v, [6, 12, 18]);
    }

    #[test]
    fn a_flag_counts_once_it_has_held_for_the_confirmation() {
        // Flags at moments 6, 12, …, 36: no, yes, no, yes, yes, yes.
        let flags = [
            (6, false),
            (12, true),
            (18, false),
            (24, true),
            (30, true),
            (36, true),
        ];
        let judge = |h: i64| {
            let f = flags.iter().find(|(m, _)| *m == h).unwrap().1;
            Judged {
                score: 0.0,
                flagged: f,
                insufficient: false,
                est_rigs: 0.0,
                reason: format!("at {h}"),
            }
        };
        let run = |held| first_held(flags.iter().map(|(m, _)| *m), held, judge);
        assert_eq!(run(0), Some((12, "at 12".into())));
        assert_eq!(run(6), Some((30, "at 30".into())));
        assert_eq!(run(12), Some((36, "at 36".into())));
        assert_eq!(run(18), None);
    }

    /// Three weeks flat at 5 kW, then fourteen weeks of a household: by the end the flat
    /// stretch has left the 13-week window, so the meter is clear at the end, but a daemon
    /// re-scoring it along the way would have alerted.
    #[test]
    fn a_meter_flagged_on_the_way_and_clear_at_the_end_counts_as_an_alert() {
        let home = |h: i64| {
            if (17..=21).contains(&(h % 24)) {
                3.0
            } else {
                0.3
            }
        };
        let n = 17 * 7 * 24;
        let once_flat = HourlySeries {
            start_hour: 0,
            kw: (0..n)
                .map(|h| if h < 21 * 24 { 5.0 } else { home(h) })
                .collect(),
            resolution_min: 60,
        };
        let always_home = HourlySeries {
            start_hour: 0,
            kw: (0..n).map(home).collect(),
            resolution_min: 60,
        };
        let series = vec![
            (MeterId::from("once-flat"), once_flat),
            (MeterId::from("home-1"), always_home.clone()),
            (MeterId::from("home-2"), always_home),
        ];
        let label = |id: &str| Label {
            meter_id: id.into(),
            kind: "household".into(),
            class: "residential".into(),
            mining: false,
            onset: None,
            rigs: None,
            mining_kw: None,
            variant: String::new(),
        };
        let labels: HashMap<String, Label> = ["once-flat", "home-1", "home-2"]
            .iter()
            .map(|id| (id.to_string(), label(id)))
            .collect();
        let settings = |confirm_h| EvalSettings {
            method: Method::Rule,
            tz_offset_s: 0,
            ttd_step_h: 24,
            ttd_horizon_h: 14 * 24,
            confirm_h,
        };
        let e = evaluate(&series, &labels, Model::embedded(), None, settings(0));
        let m =
            |e: &Evaluation, id: &str| e.meters.iter().find(|m| m.meter_id == id).cloned().unwrap();
        let flat = m(&e, "once-flat");
        assert!(!flat.flagged);
        assert!(flat.alerted);
        // The rule needs 48 flat hours: first flagged at the second day's replay.
        assert_eq!(flat.first_alert.as_ref().map(|a| a.0), Some(48));
        assert!(!m(&e, "home-1").alerted);
        let homes = e.segments.iter().find(|s| s.segment == "homes").unwrap();
        assert_eq!(homes.false_positive_rate, Some(0.0));
        assert_eq!(homes.alert_false_positive_rate, Some(1.0 / 3.0));
        // The rule keeps flagging while a flat 48 h stays in its 13-week window, from
        // day 2 to day 21 + 13 weeks − 2: a flag held for 5 days counts at day 7; one that
        // must hold for 16 weeks never does.
        let e5 = evaluate(&series, &labels, Model::embedded(), None, settings(5 * 24));
        assert_eq!(m(&e5, "once-flat").first_alert.map(|a| a.0), Some(7 * 24));
        let e16w = evaluate(
            &series,
            &labels,
            Model::embedded(),
            None,
            settings(16 * 7 * 24),
        );
        assert!(!m(&e16w, "once-flat").alerted);
    }

    #[test]
    fn the_official_rule_flags_a_flat_high_load_and_not_a_home() {
        let flat = HourlySeries {
            start_hour: 0,
            kw: vec![3.0; 200],
            resolution_min: 60,
        };
        assert!(official_rule(&flat, 200, 0.5).1);
        let home = HourlySeries {
            start_hour: 0,
            kw: (0..200)
                .map(|h| {
                    if h % 24 >= 17 && h % 24 <= 21 {
                        3.0
                    } else {
                        0.3
                    }
                })
                .collect(),
            resolution_min: 60,
        };
        assert!(!official_rule(&home, 200, 0.5).1);
    }
}
