//! `flatline scan`: replay meter dumps through the model and list suspects, ranked.
//!
//! The flow: read options → model and registry → dumps into hourly series (with a progress
//! bar on a terminal) → refuse the run if too much input was bad → assess every meter →
//! rank → table on stdout, files on request → exit 1 when there are suspects.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context as _;

use super::common::{JudgeArgs, Judging, ReadArgs};
use super::Outcome;
use crate::scan;

/// Options of `flatline scan`.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Meter dumps: files or folders, plain or .gz.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Write the results to this file (CSV, or NDJSON with --json).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write every meter to --out, not only the flagged ones.
    #[arg(long)]
    pub all: bool,
    /// Write NDJSON instead of CSV.
    #[arg(long)]
    pub json: bool,
    /// Write a PNG evidence report per flagged meter, an overview and an index.html here.
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
    /// How many suspects to show in the terminal table.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// No progress bar and no table; errors and warnings only.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub judge: JudgeArgs,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// Runs `flatline scan`.
pub fn run(args: ScanArgs) -> anyhow::Result<Outcome> {
    let Judging {
        until,
        read: read_opts,
        model,
        registry,
    } = args.judge.load(&args.read)?;

    let progress =
        (!args.quiet && std::io::stderr().is_terminal()).then(|| bytes_progress(&args.paths));
    let (series, summary) = scan::load_series(&args.paths, &read_opts, progress.as_ref())?;
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
    // Bad rows are a warning worth seeing even with --quiet; skipped metadata files are not.
    if summary.n_bad() > 0 || (!args.quiet && !summary.skipped_files.is_empty()) {
        eprint!("{}", summary.render());
    }
    if summary.bad_share() > args.read.max_bad_share {
        anyhow::bail!(
            "{:.1}% of rows were bad (limit {:.1}%, --max-bad-share); nothing was scored",
            100.0 * summary.bad_share(),
            100.0 * args.read.max_bad_share
        );
    }

    let mut assessments = scan::assess_all(
        &series,
        until.map(|t| t.div_euclid(3600)),
        &model,
        read_opts.tz_offset_s,
        registry.as_ref(),
    );
    scan::rank(&mut assessments);

    if let Some(out) = &args.out {
        let f = std::fs::File::create(out)
            .with_context(|| format!("cannot write {}", out.display()))?;
        let w = std::io::BufWriter::new(f);
        if args.json {
            scan::write_ndjson(w, &assessments, args.all)
                .with_context(|| format!("writing {}", out.display()))?;
        } else {
            scan::write_csv(w, &assessments, args.all)
                .with_context(|| format!("writing {}", out.display()))?;
        }
    }
    if let Some(dir) = &args.report_dir {
        super::report::write_scan_reports(
            dir,
            &series,
            &assessments,
            &model,
            registry.as_ref(),
            read_opts.tz_offset_s,
        )?;
        if !args.quiet {
            eprintln!("reports: {}", dir.join("index.html").display());
        }
    }
    if !args.quiet {
        print!("{}", scan::render_table(&assessments, args.top));
    }
    Ok(if assessments.iter().any(|a| a.flagged) {
        Outcome::Found
    } else {
        Outcome::Clean
    })
}

/// A progress bar over the input size (compressed bytes for .gz files).
pub fn bytes_progress(paths: &[PathBuf]) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(crate::ingest::total_input_bytes(paths));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} reading {bytes}/{total_bytes} {wide_bar} {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}
