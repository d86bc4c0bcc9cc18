//! `flatline simulate`: draw a seeded synthetic fleet and write its readings, labels and
//! registry. The models live in [`crate::sim`]; this file parses options, opens files
//! (gzip when the name ends in `.gz`) and reports what was written.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use chrono::NaiveDate;

use super::Outcome;
use crate::sim::{simulate, write_labels, write_registry, SimConfig};

/// Options of `flatline simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Where to write the readings (long CSV `meter_id,timestamp,kwh`; gzip if it ends in `.gz`).
    #[arg(long)]
    pub out: PathBuf,
    /// Where to write the labels (`meter_id,kind,class,mining,onset,rigs,mining_kw,variant`).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Where to write a customer registry (`meter_id,class,contracted_kw,feeder,allowed`).
    #[arg(long)]
    pub registry_out: Option<PathBuf>,
    /// Seed of everything; the same seed writes the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of homes (households, heat pumps, EVs, storage heaters, empty homes).
    #[arg(long, default_value_t = 200)]
    pub homes: usize,
    /// Number of businesses (offices, 24/7 shops, cold stores, bakeries, server rooms).
    #[arg(long, default_value_t = 40)]
    pub businesses: usize,
    /// Number of hidden miners (a mix: one S9, S19 homes, shophouses, a farm).
    #[arg(long, default_value_t = 8)]
    pub miners: usize,
    /// Number of licensed miners, declared as allowed in the registry.
    #[arg(long, default_value_t = 0)]
    pub licensed: usize,
    /// Length of the span, days.
    #[arg(long, default_value_t = 60)]
    pub days: u32,
    /// First day (UTC), `YYYY-MM-DD`.
    #[arg(long, default_value = "2024-01-01")]
    pub start: String,
    /// Reading interval, minutes (a divisor of a day).
    #[arg(long, default_value_t = 30)]
    pub resolution_min: u32,
    /// Days after the start between which mining onsets fall, `FROM..TO`
    /// (default: the middle half of the span).
    #[arg(long)]
    pub onset_after_days: Option<String>,
}

/// Runs `flatline simulate`.
pub fn run(args: SimulateArgs) -> anyhow::Result<Outcome> {
    let cfg = config(&args)?;
    let fleet = simulate(&cfg);
    let n_rows = write_file(&args.out, |w| Ok(fleet.write_csv(w)?))
        .with_context(|| format!("writing {}", args.out.display()))?;
    if let Some(path) = &args.labels {
        write_file(path, |w| Ok(write_labels(&fleet.labels(), w)?))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.registry_out {
        write_file(path, |w| Ok(write_registry(&fleet.registry(), w)?))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let n_mining = fleet.meters.iter().filter(|m| m.miner.is_some()).count();
    eprintln!(
        "flatline simulate: {} meters ({} mining) × {} days at {} min → {} rows in {}",
        fleet.meters.len(),
        n_mining,
        cfg.days,
        cfg.resolution_min,
        n_rows,
        args.out.display()
    );
    Ok(Outcome::Clean)
}

/// Checks the options and turns them into a simulation config.
fn config(args: &SimulateArgs) -> anyhow::Result<SimConfig> {
    if args.resolution_min == 0 || 1440 % args.resolution_min != 0 {
        bail!(
            "--resolution-min {} does not divide a day",
            args.resolution_min
        );
    }
    if args.days == 0 {
        bail!("--days must be at least 1");
    }
    let start = NaiveDate::parse_from_str(&args.start, "%Y-%m-%d")
        .with_context(|| format!("--start {:?} is not YYYY-MM-DD", args.start))?;
    let start_unix = start
        .and_hms_opt(0, 0, 0)
        .context("midnight exists")?
        .and_utc()
        .timestamp();
    let days = args.days as f64;
    let onset_after_days = match &args.onset_after_days {
        Some(text) => parse_range(text).with_context(|| format!("--onset-after-days {text:?}"))?,
        None => (days * 0.25, days * 0.75),
    };
    if onset_after_days.0 > onset_after_days.1 || onset_after_days.1 > days {
        bail!(
            "--onset-after-days must lie within the {} days simulated",
            args.days
        );
    }
    Ok(SimConfig {
        seed: args.seed,
        homes: args.homes,
        businesses: args.businesses,
        miners: args.miners,
        licensed: args.licensed,
        days: args.days,
        start_unix,
        resolution_min: args.resolution_min,
        onset_after_days,
        tz_offset_s: 0,
    })
}

/// Parses `FROM..TO` (or `FROM-TO`) as a pair of day counts.
fn parse_range(text: &str) -> anyhow::Result<(f64, f64)> {
    let (a, b) = text
        .split_once("..")
        .or_else(|| text.split_once('-'))
        .context("expected FROM..TO")?;
    Ok((a.trim().parse()?, b.trim().parse()?))
}

/// Creates `path` (gzip-compressed if it ends in `.gz`), lets `body` write into it, and
/// finishes the file; returns what `body` returned.
fn write_file<T>(
    path: &Path,
    body: impl FnOnce(&mut dyn Write) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let file = BufWriter::new(File::create(path)?);
    if path.extension().is_some_and(|e| e == "gz") {
        // The gzip header of `GzEncoder::new` has no file name and a zero mtime, so the
        // same seed gives the same bytes.
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        let out = body(&mut gz)?;
        gz.finish()?.flush()?;
        Ok(out)
    } else {
        let mut file = file;
        let out = body(&mut file)?;
        file.flush()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Option<(f64, f64)>) {
        assert_eq!(parse_range(text).ok(), expected);
    }

    #[test]
    fn onset_ranges_parse_in_both_spellings() {
        check("10..40", Some((10.0, 40.0)));
        check("5-20", Some((5.0, 20.0)));
        check("7.5..8", Some((7.5, 8.0)));
        check("ten", None);
    }
}
