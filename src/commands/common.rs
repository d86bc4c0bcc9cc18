//! Options shared by the commands that read meter dumps (`scan`, `train`, `inject`, …).
//!
//! [`ReadArgs`] is flattened into each such command's arguments and turned into checked
//! [`ReadOptions`] once, at start-up; [`parse_timestamp_arg`] reads `--until`-style times.
//! The reading itself lives in [`crate::ingest`].

use anyhow::{bail, Context};

use crate::core::registry::{self, Registry};
use crate::core::{Model, Unit};
use crate::ingest::timestamp::{parse_timestamp, parse_utc_offset};
use crate::ingest::{Format, IngestSummary, ReadOptions};

/// How to read the input files (flatten into a command's `Args` with `#[command(flatten)]`).
#[derive(Debug, Clone, clap::Args)]
pub struct ReadArgs {
    /// Layout of the input files; `auto` detects each file's layout from its header.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,

    /// Unit of bare `value` columns (one file per meter): `kwh` (energy per interval) or
    /// `kw` (average power). Headers that name their unit are not overridden.
    #[arg(long)]
    pub unit: Option<Unit>,

    /// UTC offset of naive timestamps such as `2013-01-01 00:30`: `UTC`, `+03:00`, `-05:00`.
    /// RFC 3339 stamps and Unix seconds carry their own zone.
    // Hyphen values allowed, or `--tz -05:00` would read `-05:00` as a flag.
    #[arg(long = "tz", default_value = "UTC", value_parser = parse_tz_arg, allow_hyphen_values = true)]
    pub tz_offset_s: i32,

    /// Stop with an error when more than this share of the data rows is bad (0 to 1).
    #[arg(long, default_value_t = 0.05)]
    pub max_bad_share: f64,

    /// Net metering (homes with solar): values are import minus export and may be negative.
    /// Export is read as no consumption, and consumption is judged. Columns named `net_kwh`
    /// or `net_kw` are read this way without the flag.
    #[arg(long)]
    pub net_metering: bool,
}

impl ReadArgs {
    /// The checked read options, cutting readings at or after `until` (unix seconds).
    pub fn read_options(&self, until: Option<i64>) -> anyhow::Result<ReadOptions> {
        if !(0.0..=1.0).contains(&self.max_bad_share) {
            bail!(
                "--max-bad-share must be between 0 and 1, got {}",
                self.max_bad_share
            );
        }
        Ok(ReadOptions {
            format: self.format,
            unit: self.unit,
            tz_offset_s: self.tz_offset_s,
            until,
            net_metering: self.net_metering,
            ..ReadOptions::default()
        })
    }

    /// Fails, with the summary's examples in the message, when the share of bad rows is over
    /// `--max-bad-share`: past that point the input is more likely misread (wrong `--format`,
    /// `--tz`, a broken export) than merely dirty.
    pub fn check_bad_share(&self, summary: &IngestSummary) -> anyhow::Result<()> {
        if summary.bad_share() > self.max_bad_share {
            bail!(
                "{:.1}% of the rows are bad, more than --max-bad-share {:.1}%:\n{}",
                100.0 * summary.bad_share(),
                100.0 * self.max_bad_share,
                summary.render().trim_end()
            );
        }
        Ok(())
    }
}

/// Parses a `--tz` value into seconds east of UTC.
fn parse_tz_arg(text: &str) -> Result<i32, String> {
    parse_utc_offset(text)
        .ok_or_else(|| format!("{text:?} is not a UTC offset (try UTC, +03:00 or -05:00)"))
}

/// Parses a point in time given on the command line (`--until`): RFC 3339
/// (`2013-06-01T00:00:00Z`, `2013-06-01T03:00:00+03:00`), `YYYY-MM-DD[ HH:MM[:SS]]` taken
/// as UTC, or Unix seconds. Returns unix seconds.
pub fn parse_timestamp_arg(text: &str) -> anyhow::Result<i64> {
    parse_timestamp(text.as_bytes(), 0)
        .with_context(|| format!("{text:?} is not a time (use 2013-06-01, \"2013-06-01 12:00\", RFC 3339 or Unix seconds)"))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        read: ReadArgs,
    }

    fn parse(args: &[&str]) -> Result<ReadArgs, String> {
        let argv = std::iter::once("flatline").chain(args.iter().copied());
        Cli::try_parse_from(argv)
            .map(|c| c.read)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_auto_utc_and_five_percent() {
        let args = parse(&[]).unwrap();
        let opts = args.read_options(None).unwrap();
        assert_eq!(opts, ReadOptions::default());
        assert_eq!(args.max_bad_share, 0.05);
    }

    #[test]
    fn every_option_reaches_the_read_options() {
        let args = parse(&[
            "--format",
            "per-meter",
            "--unit",
            "kwh",
            "--tz",
            "-05:00",
            "--max-bad-share",
            "0.5",
        ])
        .unwrap();
        let opts = args.read_options(Some(42)).unwrap();
        assert_eq!(opts.format, Format::PerMeter);
        assert_eq!(opts.unit, Some(Unit::Kwh));
        assert_eq!(opts.tz_offset_s, -5 * 3600);
        assert_eq!(opts.until, Some(42));
        assert_eq!(args.max_bad_share, 0.5);
    }

    #[test]
    fn bad_options_are_refused() {
        assert!(parse(&["--tz", "Europe/London"])
            .unwrap_err()
            .contains("not a UTC offset"));
        assert!(parse(&["--unit", "mwh"]).is_err());
        assert!(parse(&["--format", "xml"]).is_err());
        assert!(parse(&["--max-bad-share", "2"])
            .unwrap()
            .read_options(None)
            .is_err());
    }

    #[test]
    fn too_many_bad_rows_fail_the_check() {
        let args = parse(&["--max-bad-share", "0.1"]).unwrap();
        let mut summary = IngestSummary {
            n_rows: 10,
            n_accepted: 9,
            ..Default::default()
        };
        summary.bad.insert(crate::ingest::BadReason::BadValue, 1);
        assert!(args.check_bad_share(&summary).is_ok());
        summary.bad.insert(crate::ingest::BadReason::BadValue, 2);
        assert!(args
            .check_bad_share(&summary)
            .unwrap_err()
            .to_string()
            .contains("bad value: 2"));
    }

    #[test]
    fn until_accepts_dates_rfc3339_and_unix_seconds() {
        for (text, expected) in [
            ("2013-01-01", 1_356_998_400),
            ("2013-01-01 01:00", 1_357_002_000),
            ("2013-01-01T03:00:00+03:00", 1_356_998_400),
            ("2013-01-01T00:00:00Z", 1_356_998_400),
            ("1356998400", 1_356_998_400),
        ] {
            assert_eq!(parse_timestamp_arg(text).unwrap(), expected, "{text:?}");
        }
        assert!(parse_timestamp_arg("yesterday").is_err());
    }
}

/// Options shared by the commands that judge meters (`scan`, `eval`, `report`): as of when,
/// with which model, knowing which sites.
#[derive(Debug, clap::Args)]
pub struct JudgeArgs {
    /// Judge as if it were this moment: ignore later readings (RFC 3339, "YYYY-MM-DD HH:MM", or unix seconds).
    #[arg(long)]
    pub until: Option<String>,
    /// Model file (default: the model built into this binary, models/default.json).
    #[arg(long)]
    pub model: Option<std::path::PathBuf>,
    /// Registry CSV (meter_id,class,contracted_kw,feeder,allowed) of known legitimate loads.
    #[arg(long)]
    pub registry: Option<std::path::PathBuf>,
}

/// [`JudgeArgs`] and [`ReadArgs`] checked and loaded once at start-up.
pub struct Judging {
    /// `--until` in unix seconds.
    pub until: Option<i64>,
    /// Read options with `--until` applied.
    pub read: ReadOptions,
    /// The model: `--model`, or the one built in.
    pub model: std::borrow::Cow<'static, Model>,
    /// The registry, if given.
    pub registry: Option<Registry>,
}

impl Judging {
    /// `--until` as an hour index.
    pub fn until_hour(&self) -> Option<i64> {
        self.until.map(|t| t.div_euclid(3600))
    }
}

impl JudgeArgs {
    /// Parses `--until`, builds the read options, loads the model and the registry.
    pub fn load(&self, read: &ReadArgs) -> anyhow::Result<Judging> {
        let until = self.until.as_deref().map(parse_timestamp_arg).transpose()?;
        let model = match &self.model {
            Some(p) => std::borrow::Cow::Owned(Model::load(p)?),
            None => std::borrow::Cow::Borrowed(Model::embedded()),
        };
        let registry = match &self.registry {
            Some(p) => {
                let f = std::fs::File::open(p)
                    .with_context(|| format!("cannot open registry {}", p.display()))?;
                Some(registry::parse_registry(f, &p.display().to_string())?)
            }
            None => None,
        };
        Ok(Judging {
            until,
            read: read.read_options(until)?,
            model,
            registry,
        })
    }
}
