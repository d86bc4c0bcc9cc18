//! `flatline inject`: add synthetic mining load to a seeded share of the real meters in a
//! dump, and write the result with labels.
//!
//! Two passes over the input. The first learns every piece's span, resolution and mean
//! ([`Survey`]); the plan then chooses pieces and draws their miners ([`plan`]); the
//! second pass streams every reading out again, in input order, with the mining added to
//! the chosen pieces and clean readings written back unchanged. Nothing is held in memory
//! but the per-piece tallies. The models live in [`crate::sim`]; reading lives in
//! [`crate::ingest`].

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::common::ReadArgs;
use super::Outcome;
use crate::core::series::Unit;
use crate::ingest::for_each_reading;
use crate::sim::inject::{plan, Cut, Survey};
use crate::sim::{format_timestamp, write_labels};

/// Options of `flatline inject`.
#[derive(Debug, clap::Args)]
pub struct InjectArgs {
    /// Meter dumps to read (files or folders; CSV or gzip).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Where to write the injected dump (long CSV `meter_id,timestamp,kwh` or `…,kw`,
    /// in the source's unit and resolution; gzip if it ends in `.gz`).
    #[arg(long)]
    pub out: PathBuf,
    /// Where to write the labels (`meter_id,kind,class,mining,onset,rigs,mining_kw,variant`).
    #[arg(long)]
    pub labels: PathBuf,
    /// Share of the pieces (at least 14 days long) that get a miner.
    #[arg(long, default_value_t = 0.2)]
    pub share: f64,
    /// Seed of the choice and of the miners.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Cut each meter into calendar pieces, each its own meter in the output (`ID@2013Q1`).
    #[arg(long, value_enum, default_value_t = Cut::Quarter)]
    pub cut: Cut,
    /// How to read the input.
    #[command(flatten)]
    pub read: ReadArgs,
}

/// Runs `flatline inject`.
pub fn run(args: InjectArgs) -> anyhow::Result<Outcome> {
    if !(0.0..=1.0).contains(&args.share) {
        bail!("--share must be between 0 and 1, got {}", args.share);
    }
    let opts = args.read.read_options(None)?;

    // Pass 1: what pieces exist, how long, how fine, how large.
    let mut survey = Survey::default();
    let summary = for_each_reading(&args.paths, &opts, None, &mut |meter, ts, value, unit| {
        survey.push(args.cut, meter, ts, value as f64, unit);
        Ok(())
    })?;
    args.read.accept(&summary, false)?;
    if survey.mixed_units {
        bail!("the input mixes kWh and kW readings; inject one unit at a time");
    }
    let units = survey.unit.context("no readings")?;
    let plan = plan(&survey, args.cut, args.share, args.seed);

    // Pass 2: stream every reading out with its piece's mining added.
    let unit_column = match units {
        Unit::Kwh => "kwh",
        Unit::Kw => "kw",
    };
    let mut n_rows = 0u64;
    let mut n_injected = 0u64;
    let mut unseen = 0u64;
    write_file(&args.out, |w| {
        writeln!(w, "meter_id,timestamp,{unit_column}")?;
        let mut io_error = None;
        for_each_reading(&args.paths, &opts, None, &mut |meter, ts, value, unit| {
            if io_error.is_some() {
                return Ok(());
            }
            let Some((piece, out)) = plan.apply(meter, ts, value, unit) else {
                unseen += 1;
                return Ok(());
            };
            if piece.miner.is_some() && out != value {
                n_injected += 1;
            }
            n_rows += 1;
            if let Err(e) = writeln!(w, "{},{},{}", piece.id, format_timestamp(ts), out) {
                io_error = Some(e);
            }
            Ok(())
        })?;
        match io_error {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    })
    .with_context(|| format!("writing {}", args.out.display()))?;
    if unseen > 0 {
        bail!("{unseen} readings appeared in the second pass but not the first: did the input change?");
    }

    let labels = plan.labels();
    write_file(&args.labels, |w| Ok(write_labels(&labels, w)?))
        .with_context(|| format!("writing {}", args.labels.display()))?;
    let n_mining = labels.iter().filter(|l| l.mining).count();
    eprintln!(
        "flatline inject: {} pieces, {} with mining; {} of {} readings changed → {}",
        labels.len(),
        n_mining,
        n_injected,
        n_rows,
        args.out.display()
    );
    Ok(Outcome::Clean)
}

/// Creates `path` (gzip if it ends in `.gz`), lets `body` write into it, and finishes it.
fn write_file(
    path: &Path,
    body: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let file = BufWriter::new(File::create(path)?);
    if path.extension().is_some_and(|e| e == "gz") {
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        body(&mut gz)?;
        gz.finish()?.flush()?;
    } else {
        let mut file = file;
        body(&mut file)?;
        file.flush()?;
    }
    Ok(())
}
