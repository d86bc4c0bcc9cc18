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
use crate::core::{balance, registry};
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
    /// Write every meter, not only the flagged ones (to --out, or as CSV on stdout in place
    /// of the table).
    #[arg(long)]
    pub all: bool,
    /// Write NDJSON instead of CSV (to --out, or on stdout in place of the table).
    #[arg(long)]
    pub json: bool,
    /// Write the energy-balance verdicts of transformer and feeder meters here (CSV; needs
    /// a --registry with a `role` column, see docs/balance.md).
    #[arg(long)]
    pub nodes_out: Option<PathBuf>,
    /// Write a PNG evidence report per flagged meter, an overview and an index.html here.
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
    /// Energy balance: technical load losses as a share of the customers' draw.
    #[arg(long, default_value_t = balance::LossModel::default().load_share)]
    pub loss_share: f64,
    /// Energy balance: no-load (iron) losses as a share of the node's rating.
    #[arg(long, default_value_t = balance::LossModel::default().no_load_share_of_rating)]
    pub no_load_loss_share: f64,
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
    args.read.accept(&summary, !args.quiet)?;

    let mut assessments = scan::assess_all(
        &series,
        until.map(|t| t.div_euclid(3600)),
        &model,
        read_opts.tz_offset_s,
        registry.as_ref(),
    );
    // Transformer and feeder meters are judged by their balance below, not as premises.
    if let Some(reg) = registry.as_ref().filter(|r| r.has_topology()) {
        assessments.retain(|a| {
            reg.get(a.meter_id.as_str())
                .is_none_or(|e| !e.role.is_node())
        });
    }
    scan::rank(&mut assessments);

    // `--json` or `--all` without `--out` asks for the results themselves: they go to
    // stdout in place of the table, never silently nowhere.
    let results_on_stdout = args.out.is_none() && (args.json || args.all);
    if let Some(out) = &args.out {
        let f = std::fs::File::create(out)
            .with_context(|| format!("cannot write {}", out.display()))?;
        write_results(std::io::BufWriter::new(f), &args, &assessments)
            .with_context(|| format!("writing {}", out.display()))?;
    } else if results_on_stdout {
        write_results(std::io::stdout().lock(), &args, &assessments)
            .context("writing the results to stdout")?;
    }
    // The energy balance runs only when the registry describes a topology.
    let nodes = match &registry {
        Some(reg) if reg.has_topology() => {
            let topology = registry::Topology::from_registry(reg).context("registry topology")?;
            let mut nodes = balance::assess_nodes(
                &topology,
                reg,
                &series,
                until.map(|t| t.div_euclid(3600)),
                read_opts.tz_offset_s,
                &balance::LossModel {
                    load_share: args.loss_share,
                    no_load_share_of_rating: args.no_load_loss_share,
                },
                &balance::NodeRule::default(),
            );
            scan::rank_nodes(&mut nodes);
            nodes
        }
        _ => Vec::new(),
    };
    if let Some(out) = &args.nodes_out {
        let f = std::fs::File::create(out)
            .with_context(|| format!("cannot write {}", out.display()))?;
        scan::write_nodes_csv(std::io::BufWriter::new(f), &nodes)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    if let Some(dir) = &args.report_dir {
        super::report::write_scan_reports(
            dir,
            &series,
            &assessments,
            &nodes,
            &model,
            registry.as_ref(),
            read_opts.tz_offset_s,
        )?;
        if !args.quiet {
            eprintln!("reports: {}", dir.join("index.html").display());
        }
    }
    if !args.quiet && !results_on_stdout {
        print!("{}", scan::render_table(&assessments, args.top));
        if !nodes.is_empty() {
            print!("{}", scan::render_nodes_table(&nodes));
        }
    } else if !args.quiet {
        // The results took stdout; the meters that could not be judged still need saying.
        eprint!("{}", scan::render_unjudged(&assessments));
    }
    Ok(
        if assessments.iter().any(|a| a.flagged) || nodes.iter().any(|n| n.assessment.flagged) {
            Outcome::Found
        } else {
            Outcome::Clean
        },
    )
}

/// Writes the ranked results as `--json` and `--all` ask: NDJSON or CSV, every meter or
/// the flagged ones.
fn write_results(
    out: impl std::io::Write,
    args: &ScanArgs,
    ranked: &[crate::core::Assessment],
) -> anyhow::Result<()> {
    if args.json {
        scan::write_ndjson(out, ranked, args.all)?;
    } else {
        scan::write_csv(out, ranked, args.all)?;
    }
    Ok(())
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
