//! `flatline simulate`: draw a seeded synthetic fleet and write its readings, labels and
//! registry. The models live in [`crate::sim`]; this file parses options, opens files
//! (gzip when the name ends in `.gz`) and reports what was written.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use chrono::NaiveDate;

use super::Outcome;
use crate::sim::{
    grow, simulate, write_labels, write_node_labels, write_registry, SimConfig, TopologyConfig,
};

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
    /// Grow a grid instead: feeders → transformers → homes, with transformer and feeder
    /// meters in the readings, a `role` column in the registry, and one hidden farm, one
    /// bypassed customer and one silent customer meter under the first three
    /// transformers (see docs/balance.md). --homes, --businesses and --miners are ignored.
    #[arg(long)]
    pub topology: bool,
    /// With --topology: number of transformers (all on one feeder).
    #[arg(long, default_value_t = 5)]
    pub transformers: usize,
    /// With --topology: homes on each transformer.
    #[arg(long, default_value_t = 100)]
    pub homes_per_transformer: usize,
    /// With --topology: rigs in the farm hidden before the meters of the first transformer.
    #[arg(long, default_value_t = 40)]
    pub farm_rigs: u32,
    /// With --topology: where to write the node labels
    /// (`node_id,role,scenario,onset,rigs,mining_kw,customer`).
    #[arg(long)]
    pub node_labels: Option<PathBuf>,
    /// Days after the start between which mining onsets fall, `FROM..TO`
    /// (default: the middle half of the span).
    #[arg(long)]
    pub onset_after_days: Option<String>,
}

/// Runs `flatline simulate`.
pub fn run(args: SimulateArgs) -> anyhow::Result<Outcome> {
    let cfg = config(&args)?;
    if args.topology {
        return run_topology(&args, &cfg);
    }
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

/// `simulate --topology`: grows a grid on the checked options and writes its files. The
/// scenarios begin at 60% of the span (at least 8 days in, so the balance has a week of
/// baseline), on a 00:18-past-the-hour moment so nothing lines up with a block edge.
fn run_topology(args: &SimulateArgs, cfg: &SimConfig) -> anyhow::Result<Outcome> {
    if args.days < 10 {
        bail!("--topology needs --days of at least 10 (a week of baseline before the events)");
    }
    let tcfg = TopologyConfig {
        seed: cfg.seed,
        feeders: 1,
        transformers_per_feeder: args.transformers.max(1),
        homes_per_transformer: args.homes_per_transformer.max(1),
        days: cfg.days,
        start_unix: cfg.start_unix,
        resolution_min: cfg.resolution_min,
        farm_rigs: args.farm_rigs,
        event_day: (0.6 * cfg.days as f64).floor().max(8.0) + 0.3,
        tz_offset_s: cfg.tz_offset_s,
    };
    let grid = grow(&tcfg);
    let n_rows = write_file(&args.out, |w| Ok(grid.write_csv(w)?))
        .with_context(|| format!("writing {}", args.out.display()))?;
    if let Some(path) = &args.labels {
        write_file(path, |w| Ok(write_labels(&grid.homes.labels(), w)?))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.registry_out {
        write_file(path, |w| Ok(grid.write_registry(w)?))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.node_labels {
        write_file(path, |w| Ok(write_node_labels(&grid.node_labels(), w)?))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!(
        "flatline simulate --topology: {} homes under {} transformers and {} feeder × {} days at {} min → {} rows in {}",
        grid.homes.meters.len(),
        grid.transformers.len(),
        grid.feeders.len(),
        tcfg.days,
        tcfg.resolution_min,
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
