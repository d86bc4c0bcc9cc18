//! `flatline train`: fit the clustering model on a labelled population and save it.

use std::path::PathBuf;

use anyhow::Context as _;

use super::common::ReadArgs;
use super::Outcome;
use crate::core::model::{Model, TrainParams};
use crate::quality::{labels, training};
use crate::scan;

/// Options of `flatline train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Meter dumps of the training population (files or folders).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Labels CSV(s) from `flatline simulate` / `flatline inject`; unlabelled meters count as clean.
    #[arg(long = "labels", required = true)]
    pub labels: Vec<PathBuf>,
    /// Where to write the model (JSON).
    #[arg(long)]
    pub model_out: PathBuf,
    /// Seed of the clusterings.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Detector clusters.
    #[arg(long, default_value_t = 40)]
    pub clusters: usize,
    /// Independent k-means fits in the detector ensemble.
    #[arg(long, default_value_t = 5)]
    pub fits: usize,
    /// Peer (comparable-meter) clusters.
    #[arg(long, default_value_t = 6)]
    pub peer_clusters: usize,
    /// Share of clean training samples the flag threshold may flag.
    #[arg(long, default_value_t = 0.005)]
    pub target_fpr: f64,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// Runs `flatline train`.
pub fn run(args: TrainArgs) -> anyhow::Result<Outcome> {
    let read_opts = args.read.read_options(None)?;
    let labels = labels::read_label_files(&args.labels)?;
    let (series, summary) = scan::load_series(&args.paths, &read_opts, None)?;
    args.read.accept(&summary, false)?;
    let samples = training::samples(&series, &labels, read_opts.tz_offset_s);
    let command = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let params = TrainParams {
        n_peer_clusters: args.peer_clusters,
        n_clusters: args.clusters,
        n_fits: args.fits,
        seed: args.seed,
        target_fpr: args.target_fpr,
        command: format!("flatline {command}"),
        n_meters: series.len(),
    };
    let model = Model::fit(&samples, &params)?;
    std::fs::write(&args.model_out, model.to_json() + "\n")
        .with_context(|| format!("cannot write {}", args.model_out.display()))?;
    let t = &model.training;
    eprintln!(
        "trained on {} meters, {} samples ({} mining): {} clusters in all fits ({} mining), threshold {:.3}; on training samples recall {:.3}, false positives {:.4}",
        t.n_meters,
        t.n_samples,
        t.n_mining_samples,
        model.detectors.len() * model.detectors[0].clusters.len(),
        model.detectors.iter().map(|d| d.clusters.iter().filter(|c| c.mining).count()).sum::<usize>(),
        model.threshold,
        t.train_recall,
        t.train_fpr
    );
    Ok(Outcome::Clean)
}
