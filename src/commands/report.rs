//! `flatline report`: the evidence page for one meter, flagged or not (inspectors also ask
//! "why was this one *not* flagged?"), and the report set of a scan.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::common::{JudgeArgs, Judging, ReadArgs};
use super::Outcome;
use crate::core::balance::NodeAssessment;
use crate::core::registry::Registry;
use crate::core::{Assessment, Model};
use crate::report::{self, NodeInput, ReportInput};
use crate::scan::{self, FleetSeries};

/// Options of `flatline report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The meter to report on.
    pub meter_id: String,
    /// Meter dumps holding that meter (and its comparable meters).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The PNG to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Price per kWh, to show the unexplained energy in money (e.g. 0.25).
    #[arg(long)]
    pub tariff: Option<f64>,
    /// Currency of --tariff.
    #[arg(long, default_value = "EUR")]
    pub currency: String,
    #[command(flatten)]
    pub judge: JudgeArgs,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// Runs `flatline report`.
pub fn run(args: ReportArgs) -> anyhow::Result<Outcome> {
    let Judging {
        until,
        read: read_opts,
        model,
        registry,
    } = args.judge.load(&args.read)?;
    let (series, summary) = scan::load_series(&args.paths, &read_opts, None)?;
    args.read.accept(&summary, false)?;
    let assessments = scan::assess_all(
        &series,
        until.map(|t| t.div_euclid(3600)),
        &model,
        read_opts.tz_offset_s,
        registry.as_ref(),
    );
    let i = series
        .iter()
        .position(|(id, _)| id.as_str() == args.meter_id)
        .with_context(|| format!("meter {:?} is not in the input", args.meter_id))?;
    let a = &assessments[i];
    let s = &series[i].1;
    let population = report::population(&assessments, &model);
    let (from, to) = shown_range(a);
    let bands = report::peer_bands(&series, &assessments, from, to);
    let entry = registry.as_ref().and_then(|r| r.get(a.meter_id.as_str()));
    let input = ReportInput {
        band: bands.get(&a.peer_group),
        population: &population,
        tariff: args.tariff.map(|per_kwh| report::Tariff {
            per_kwh,
            currency: args.currency.clone(),
        }),
        ..ReportInput::new(s, a, entry, read_opts.tz_offset_s)
    };
    report::write_meter_png(&input, &args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "{}: {} (score {:.2}) → {}",
        a.meter_id,
        a.status.as_str(),
        a.score,
        args.out.display()
    );
    Ok(if a.flagged {
        Outcome::Found
    } else {
        Outcome::Clean
    })
}

/// The hours a report's time panels cover: up to the last 90 days of the window.
fn shown_range(a: &Assessment) -> (i64, i64) {
    (a.window_end_hour - 90 * 24, a.window_end_hour)
}

/// Writes one PNG per flagged meter and per flagged node, the overview and the index for a
/// scan.
pub fn write_scan_reports(
    dir: &Path,
    series: &FleetSeries,
    ranked: &[Assessment],
    nodes: &[NodeAssessment],
    model: &Model,
    registry: Option<&Registry>,
    tz_offset_s: i32,
) -> anyhow::Result<()> {
    let population = report::population(ranked, model);
    let flagged: Vec<&Assessment> = ranked.iter().filter(|a| a.flagged).collect();
    let from = flagged.iter().map(|a| shown_range(a).0).min().unwrap_or(0);
    let to = flagged.iter().map(|a| shown_range(a).1).max().unwrap_or(0);
    let bands = report::peer_bands(series, ranked, from, to);
    let by_id: std::collections::HashMap<&str, &crate::core::HourlySeries> =
        series.iter().map(|(id, s)| (id.as_str(), s)).collect();
    let inputs: Vec<ReportInput> = flagged
        .iter()
        .filter_map(|a| {
            let entry = registry.and_then(|r| r.get(a.meter_id.as_str()));
            Some(ReportInput {
                band: bands.get(&a.peer_group),
                population: &population,
                ..ReportInput::new(by_id.get(a.meter_id.as_str())?, a, entry, tz_offset_s)
            })
        })
        .collect();
    let node_inputs: Vec<NodeInput> = nodes
        .iter()
        .filter(|n| n.assessment.flagged)
        .filter_map(|n| {
            Some(NodeInput {
                balance: n.balance.as_ref()?,
                assessment: &n.assessment,
                bypassed: n
                    .bypassed
                    .iter()
                    .map(|b| (b, by_id.get(b.customer.as_str()).copied()))
                    .collect(),
                tz_offset_s,
            })
        })
        .collect();
    report::write_reports(
        dir,
        &inputs,
        &node_inputs,
        &population,
        &report::group_names(model),
        "flatline: suspected mining loads",
    )
    .with_context(|| format!("writing reports into {}", dir.display()))?;
    Ok(())
}
