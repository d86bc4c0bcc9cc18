//! `flatline eval`: measure detection quality on a labelled fleet.

use std::path::PathBuf;

use anyhow::Context as _;

use super::common::{JudgeArgs, Judging, ReadArgs};
use super::Outcome;
use crate::quality::evaluate::{self, Method};
use crate::scan;

/// Options of `flatline eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Meter dumps (files or folders).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Labels CSV(s) from `flatline simulate` / `flatline inject`.
    #[arg(long = "labels", required = true)]
    pub labels: Vec<PathBuf>,
    /// Judge with the model, the official rule, or either.
    #[arg(long, value_enum, default_value_t = Method::Model)]
    pub method: Method,
    /// Write the full evaluation (metrics and every meter's outcome) as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Hours between replayed "as of" moments when timing detection.
    #[arg(long, default_value_t = 6)]
    pub ttd_step_hours: i64,
    /// Longest delay after onset that is replayed.
    #[arg(long, default_value_t = 14 * 24)]
    pub ttd_horizon_hours: i64,
    /// Count a flag (for time to detection and alerts) only once it has held at every
    /// replayed moment for this many hours, as `watch` does with `confirm_hours`.
    #[arg(long, default_value_t = 0)]
    pub confirm_hours: i64,
    #[command(flatten)]
    pub judge: JudgeArgs,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// Runs `flatline eval`.
pub fn run(args: EvalArgs) -> anyhow::Result<Outcome> {
    let Judging {
        read: read_opts,
        model,
        registry,
        ..
    } = args.judge.load(&args.read)?;
    let labels = crate::quality::labels::read_label_files(&args.labels)?;
    let (series, summary) = scan::load_series(&args.paths, &read_opts, None)?;
    args.read.accept(&summary, false)?;
    let settings = evaluate::EvalSettings {
        method: args.method,
        tz_offset_s: read_opts.tz_offset_s,
        ttd_step_h: args.ttd_step_hours.max(1),
        ttd_horizon_h: args.ttd_horizon_hours,
        confirm_h: args.confirm_hours.max(0),
    };
    let e = evaluate::evaluate(&series, &labels, &model, registry.as_ref(), settings);
    print!("{}", evaluate::render(&e));
    if let Some(p) = &args.json {
        let f =
            std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?;
        serde_json::to_writer_pretty(std::io::BufWriter::new(f), &e)?;
    }
    Ok(Outcome::Clean)
}
