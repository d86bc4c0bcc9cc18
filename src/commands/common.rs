//! Options shared by the commands that read meter dumps (`scan`, `train`, `inject`, …).
//!
//! [`ReadArgs`] is flattened into each such command's arguments and turned into checked
//! [`ReadOptions`] once, at start-up; every read's summary then passes through
//! [`ReadArgs::accept`], the one place that prints bad rows and enforces `--max-bad-share`.
//! [`parse_timestamp_arg`] reads `--until`-style times. The reading itself lives in
//! [`crate::ingest`].

use anyhow::{bail, Context};

use crate::core::model::ModelError;
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

    /// The gate every command that reads dumps passes its read through, so they all treat
    /// bad rows alike: prints the summary on standard error when rows were bad (and, with
    /// `show_skipped`, when only files were skipped), then fails via
    /// `check_bad_share` when too many rows were bad.
    pub fn accept(&self, summary: &IngestSummary, show_skipped: bool) -> anyhow::Result<()> {
        if summary.n_bad() > 0 || (show_skipped && !summary.skipped_files.is_empty()) {
            eprint!("{}", summary.render());
        }
        self.check_bad_share(summary)
    }

    /// Fails, naming the files the bad rows came from, when the share of bad rows is over
    /// `--max-bad-share`: past that point the input is more likely misread (wrong
    /// `--format`, `--tz`, a broken export) than merely dirty, and nothing should be judged,
    /// trained, written or published from it.
    fn check_bad_share(&self, summary: &IngestSummary) -> anyhow::Result<()> {
        if summary.bad_share() <= self.max_bad_share {
            return Ok(());
        }
        // The examples keep the first bad rows of each reason with their file.
        let mut files: Vec<String> = Vec::new();
        for example in &summary.examples {
            let file = example.file.display().to_string();
            if !files.contains(&file) {
                files.push(file);
            }
        }
        const SHOWN_FILES: usize = 3;
        let place = match files.len() {
            0 => String::new(),
            n if n <= SHOWN_FILES => format!(" in {}", files.join(", ")),
            n => format!(
                " in {} and {} more",
                files[..SHOWN_FILES].join(", "),
                n - SHOWN_FILES
            ),
        };
        bail!(
            "{:.1}% of the {} rows read are bad{place}, more than --max-bad-share {:.1}%; \
             the input looks misread (wrong --format, --tz or --unit, or a broken export), \
             so nothing was done with it",
            100.0 * summary.bad_share(),
            summary.n_rows,
            100.0 * self.max_bad_share,
        );
    }
}

/// Parses a `--tz` value into seconds east of UTC (for every command that has one).
pub fn parse_tz_arg(text: &str) -> Result<i32, String> {
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
        let reason = crate::ingest::BadReason::BadValue;
        summary.bad.insert(reason, 1);
        assert!(args.check_bad_share(&summary).is_ok());
        summary.bad.insert(reason, 2);
        for (file, line) in [("a.csv", 3), ("a.csv", 4), ("b.csv", 2)] {
            summary.examples.push(crate::ingest::BadRow {
                file: file.into(),
                line,
                reason,
                text: "x".into(),
            });
        }
        let message = args.check_bad_share(&summary).unwrap_err().to_string();
        assert!(
            message.starts_with("20.0% of the 10 rows read are bad in a.csv, b.csv, more than --max-bad-share 10.0%"),
            "{message}"
        );
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
            Some(p) => {
                // The core parses; reading the file is this edge's job.
                let name = p.display().to_string();
                let bytes = std::fs::read(p).map_err(|source| ModelError::Io {
                    source_name: name.clone(),
                    source,
                })?;
                std::borrow::Cow::Owned(Model::from_bytes(&bytes, &name)?)
            }
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
