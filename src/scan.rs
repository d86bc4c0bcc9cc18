//! The offline driver: meter dumps in, ranked assessments out.
//!
//! It reads dumps into a [`Fleet`] through [`crate::ingest`], finishes each meter's hourly
//! series, and calls the pure core ([`core::assess`]) once per meter, in parallel. It also
//! owns the output formats an analyst reads (terminal table, CSV, NDJSON). `flatline scan`,
//! `eval` and `report` are thin layers over it.

use std::io::Write;
use std::path::PathBuf;

use rayon::prelude::*;

use crate::core::balance::NodeAssessment;
use crate::core::registry::Registry;
use crate::core::verdict::hour_to_datetime;
use crate::core::{self, Assessment, Context, Fleet, HourlySeries, MeterId, Model};
use crate::ingest::{self, IngestError, IngestSummary, ReadOptions};

/// Every meter's finished hourly series, in the order first seen.
pub type FleetSeries = Vec<(MeterId, HourlySeries)>;

/// Reads dumps and finishes every meter's hourly series.
pub fn load_series(
    paths: &[PathBuf],
    opts: &ReadOptions,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<(FleetSeries, IngestSummary), IngestError> {
    let mut fleet = Fleet::new();
    let summary = ingest::read_paths(paths, opts, &mut fleet, progress)?;
    let series = fleet
        .meters()
        .par_iter()
        .map(|m| (m.id.clone(), m.builder.finish(m.unit)))
        .collect();
    Ok((series, summary))
}

/// Judges every meter as of `until_hour` (or each meter's own last reading), in parallel,
/// keeping the input order.
pub fn assess_all(
    series: &[(MeterId, HourlySeries)],
    until_hour: Option<i64>,
    model: &Model,
    tz_offset_s: i32,
    registry: Option<&Registry>,
) -> Vec<Assessment> {
    series
        .par_iter()
        .map(|(id, s)| {
            let as_of = until_hour.map_or(s.end_hour(), |u| u.min(s.end_hour()));
            let ctx = Context {
                tz_offset_s,
                registry: registry.and_then(|r| r.get(id.as_str())),
            };
            core::assess(id, s, as_of, model, &ctx)
        })
        .collect()
}

/// Orders assessments for an inspector: flagged first, then by the energy at stake
/// (unexplained kWh/day), then by score.
pub fn rank(assessments: &mut [Assessment]) {
    assessments.sort_by(rank_order);
}

/// The order of [`rank`], [`rank_nodes`] and the report index, for two verdicts.
///
/// Among the flagged, the energy at stake comes first: a flag is already a confident call
/// (most flagged scores sit at 0.99–1.00, so ordering by score would look random), and
/// what an inspector's visit is worth is the energy it recovers. Score breaks ties, and
/// orders the unflagged (their kWh/day is an estimate of nothing).
pub fn rank_order(a: &Assessment, b: &Assessment) -> std::cmp::Ordering {
    let energy = |x: &Assessment| if x.flagged { x.excess_kwh_per_day } else { 0.0 };
    b.flagged
        .cmp(&a.flagged)
        .then(energy(b).total_cmp(&energy(a)))
        .then(b.score.total_cmp(&a.score))
        .then(b.excess_kwh_per_day.total_cmp(&a.excess_kwh_per_day))
        .then(a.meter_id.cmp(&b.meter_id))
}

/// The CSV header of scan results.
pub const CSV_HEADER: [&str; 17] = [
    "rank",
    "meter_id",
    "score",
    "flagged",
    "status",
    "level_kw",
    "excess_kw",
    "est_rigs",
    "excess_kwh_per_day",
    "since",
    "onset_found",
    "as_of",
    "episode_kwh",
    "peer_group",
    "peer_level_kw",
    "reasons",
    "notes",
];

fn rfc3339(hour: i64) -> String {
    hour_to_datetime(hour)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The verdict's columns that the meter and node CSVs share, in their order: score,
/// flagged, status, level, excess kW, rigs, kWh/day, since, onset found, as of.
fn verdict_fields(a: &Assessment) -> [String; 10] {
    [
        format!("{:.4}", a.score),
        a.flagged.to_string(),
        a.status.as_str().to_string(),
        format!("{:.3}", a.level_kw),
        format!("{:.3}", a.excess_kw),
        format!("{:.1}", a.est_rigs),
        format!("{:.1}", a.excess_kwh_per_day),
        rfc3339(a.since_hour),
        a.onset_found.to_string(),
        rfc3339(a.window_end_hour),
    ]
}

/// Writes ranked results as CSV (all of them, or only flagged ones).
pub fn write_csv(out: impl Write, ranked: &[Assessment], all: bool) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(CSV_HEADER)?;
    for (i, a) in ranked.iter().enumerate().filter(|(_, a)| all || a.flagged) {
        let mut record = vec![(i + 1).to_string(), a.meter_id.to_string()];
        record.extend(verdict_fields(a));
        record.extend([
            format!("{:.0}", a.excess_kwh_total()),
            a.peer_group.clone(),
            format!("{:.3}", a.peer_level_kw),
            a.reasons.join("; "),
            a.notes.join("; "),
        ]);
        w.write_record(&record)?;
    }
    w.flush()?;
    Ok(())
}

/// Writes ranked results as NDJSON, one assessment per line with its rank.
pub fn write_ndjson(mut out: impl Write, ranked: &[Assessment], all: bool) -> std::io::Result<()> {
    for (i, a) in ranked.iter().enumerate().filter(|(_, a)| all || a.flagged) {
        let mut v = serde_json::to_value(a).map_err(std::io::Error::other)?;
        v["rank"] = (i + 1).into();
        v["since"] = rfc3339(a.since_hour).into();
        v["as_of"] = rfc3339(a.window_end_hour).into();
        serde_json::to_writer(&mut out, &v).map_err(std::io::Error::other)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// A readable ranked table of the top `top` suspects, with a closing count.
pub fn render_table(ranked: &[Assessment], top: usize) -> String {
    let flagged: Vec<&Assessment> = ranked.iter().filter(|a| a.flagged).collect();
    let mut s = String::new();
    if flagged.is_empty() {
        s.push_str(&format!(
            "No suspects among {} meter{}.\n",
            ranked.len(),
            if ranked.len() == 1 { "" } else { "s" }
        ));
        s.push_str(&render_unjudged(ranked));
        return s;
    }
    let id_w = flagged
        .iter()
        .take(top)
        .map(|a| a.meter_id.as_str().chars().count())
        .max()
        .unwrap_or(5)
        .clamp(5, 28);
    s.push_str(&format!(
        "{:>4}  {:<id_w$}  {:>5}  {:>8}  {:>6}  {:>8}  {:<16}  {}\n",
        "rank", "meter", "score", "level kW", "rigs", "kWh/day", "since", "why"
    ));
    for (i, a) in flagged.iter().take(top).enumerate() {
        let mut id: String = a.meter_id.as_str().chars().take(id_w).collect();
        if a.meter_id.as_str().chars().count() > id_w {
            id.pop();
            id.push('…');
        }
        let since = if a.onset_found {
            hour_to_datetime(a.since_hour)
                .format("%Y-%m-%d %H:00")
                .to_string()
        } else {
            "before window".into()
        };
        s.push_str(&format!(
            "{:>4}  {:<id_w$}  {:>5.2}  {:>8.1}  {:>6.1}  {:>8.0}  {:<16}  {}\n",
            i + 1,
            id,
            a.score,
            a.level_kw,
            a.est_rigs,
            a.excess_kwh_per_day,
            since,
            a.reasons
                .iter()
                .skip(1)
                .take(2)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    if flagged.len() > top {
        s.push_str(&format!("… and {} more (see --out)\n", flagged.len() - top));
    }
    let kwh: f64 = flagged.iter().map(|a| a.excess_kwh_per_day).sum();
    s.push_str(&format!(
        "{} suspect{} among {} meters; ≈{:.0} kWh/day unexplained in all.\n",
        flagged.len(),
        if flagged.len() == 1 { "" } else { "s" },
        ranked.len(),
        kwh
    ));
    s.push_str(&render_unjudged(ranked));
    s
}

/// Most meters named in the "could not be judged" line.
const MAX_UNJUDGED_NAMED: usize = 3;

/// The meters that could not be judged (too little data), counted and a few named with
/// the reason, so a short or gappy dump is never read as a clean fleet. Empty when every
/// meter was judged.
pub fn render_unjudged(ranked: &[Assessment]) -> String {
    let unjudged: Vec<&Assessment> = ranked
        .iter()
        .filter(|a| a.status == crate::core::Status::InsufficientData)
        .collect();
    if unjudged.is_empty() {
        return String::new();
    }
    let mut s = format!(
        "{} of {} meter{} could not be judged: too little data (not counted as clean).\n",
        unjudged.len(),
        ranked.len(),
        if ranked.len() == 1 { "" } else { "s" }
    );
    for a in unjudged.iter().take(MAX_UNJUDGED_NAMED) {
        s.push_str(&format!(
            "  {}: {}\n",
            a.meter_id,
            a.reasons.first().map_or("", String::as_str)
        ));
    }
    if unjudged.len() > MAX_UNJUDGED_NAMED {
        s.push_str(&format!(
            "  … and {} more (status insufficient_data with --all)\n",
            unjudged.len() - MAX_UNJUDGED_NAMED
        ));
    }
    s
}

/// The CSV header of node (energy balance) results, written by `scan --nodes-out`.
pub const NODES_CSV_HEADER: [&str; 19] = [
    "rank",
    "node_id",
    "role",
    "score",
    "flagged",
    "status",
    "unexplained_kw",
    "excess_kw",
    "est_rigs",
    "excess_kwh_per_day",
    "since",
    "onset_found",
    "as_of",
    "throughput_kw",
    "losses_kw",
    "n_children",
    "n_incomplete_hours",
    "bypassed",
    "reasons",
];

/// Orders node verdicts like meter verdicts: flagged first, then energy, then score.
pub fn rank_nodes(nodes: &mut [NodeAssessment]) {
    nodes.sort_by(|a, b| rank_order(&a.assessment, &b.assessment));
}

/// Writes ranked node verdicts as CSV (every node: there are few, and a silent node
/// meter is itself worth seeing).
pub fn write_nodes_csv(out: impl Write, ranked: &[NodeAssessment]) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(NODES_CSV_HEADER)?;
    for (i, n) in ranked.iter().enumerate() {
        let a = &n.assessment;
        let mut record = vec![
            (i + 1).to_string(),
            a.meter_id.to_string(),
            n.role.as_str().to_string(),
        ];
        record.extend(verdict_fields(a));
        record.extend([
            format!("{:.3}", n.throughput_kw),
            format!("{:.3}", n.losses_kw),
            n.n_children.to_string(),
            n.n_incomplete.to_string(),
            n.bypassed
                .iter()
                .map(|b| b.customer.to_string())
                .collect::<Vec<_>>()
                .join(" "),
            a.reasons.join("; "),
        ]);
        w.write_record(&record)?;
    }
    w.flush()?;
    Ok(())
}

/// A readable section for the terminal: each suspect node's headline, then a count.
pub fn render_nodes_table(ranked: &[NodeAssessment]) -> String {
    let flagged: Vec<&NodeAssessment> = ranked.iter().filter(|n| n.assessment.flagged).collect();
    let silent = ranked
        .iter()
        .filter(|n| n.assessment.status == crate::core::Status::InsufficientData)
        .count();
    let mut s = String::from("\nEnergy balance (transformer and feeder meters):\n");
    for n in &flagged {
        s.push_str(&format!(
            "  {}\n",
            n.assessment.reasons.first().map_or("", String::as_str)
        ));
    }
    s.push_str(&format!(
        "{} suspect node{} among {}{}.\n",
        flagged.len(),
        if flagged.len() == 1 { "" } else { "s" },
        ranked.len(),
        if silent > 0 {
            format!("; {silent} with too few complete hours to judge")
        } else {
            String::new()
        }
    ));
    s
}
