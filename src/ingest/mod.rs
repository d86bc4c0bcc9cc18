//! Reading meter dumps — CSV files, plain or gzipped, in several layouts — into a [`Fleet`].
//!
//! This module owns everything between a path on disk and a `(meter, timestamp, value,
//! unit)` reading: folder walks, gzip, layout detection from the header, timestamp and
//! value parsing, and the counting of bad rows. It is built to be fast and forgiving:
//! - **Fast.** One reused [`csv::ByteRecord`], fields parsed straight from bytes, a
//!   hand-written parser for the fixed timestamp layouts, 256 KiB buffers. No allocation
//!   per row (see `benches/ingest.rs` for the measured rate).
//! - **Forgiving.** A bad row is counted under a [`BadReason`] with its file and line and
//!   the read goes on; only a file that cannot be read at all stops it ([`IngestError`]).
//!   Metadata files met in a folder walk are skipped and listed.
//!
//! It does not build series (that is [`Fleet`]'s job) and knows nothing about scoring.
//! The accepted layouts are documented for users in `docs/formats.md`.

use std::cell::Cell;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use indicatif::ProgressBar;

use crate::core::fleet::FleetError;
use crate::core::series::PushError;
use crate::core::{Fleet, Unit};

mod layout;
mod source;
mod summary;
pub mod timestamp;

use layout::{Layout, LayoutError};
use source::{InputFile, OpenError};
pub use summary::{BadReason, BadRow, IngestSummary, RejectReason};

/// The layout of an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Detect each file's layout from its header.
    #[default]
    Auto,
    /// `meter_id,timestamp,kwh` or `meter_id,timestamp,kw`: many meters per file.
    Long,
    /// London LCL: `LCLid,tstp,energy(kWh/hh)`, kWh per half hour.
    Lcl,
    /// One file per meter, `timestamp,value`; the meter id is the file name.
    PerMeter,
}

/// The consumer of readings: called with `(meter id, unix seconds, value, unit)` for each
/// good reading; an `Err` refuses it and is counted as the matching [`BadReason`].
pub type OnReading<'a> = dyn FnMut(&str, i64, f32, Unit) -> Result<(), RejectReason> + 'a;

/// How to read a set of paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// The layout to expect; [`Format::Auto`] detects it per file.
    pub format: Format,
    /// The unit of bare `value` columns (one-file-per-meter data); a header that names its
    /// unit (`kwh`, `kw`, LCL) is not overridden.
    pub unit: Option<Unit>,
    /// Offset from UTC, in seconds east, of naive `YYYY-MM-DD HH:MM[:SS]` timestamps.
    /// RFC 3339 stamps and Unix seconds carry their own zone and ignore it.
    pub tz_offset_s: i32,
    /// Unix seconds: readings at or after it are left out (counted in `n_after_until`).
    pub until: Option<i64>,
    /// How many bad-row examples to keep per reason.
    pub max_examples: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            format: Format::Auto,
            unit: None,
            tz_offset_s: 0,
            until: None,
            max_examples: 5,
        }
    }
}

/// Why a read could not go on. Each names the file at fault in a one-line message.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A path given does not exist.
    #[error("{0}: no such file or folder")]
    NotFound(PathBuf),
    /// Reading failed (permissions, a disk error, a gzip stream cut short mid-file).
    #[error("{path}: read error: {source}")]
    Io {
        /// The file or folder being read.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A file named on the command line is binary or a corrupt gzip stream.
    #[error("{path}: not a CSV text file: {detail}")]
    NotCsv {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        detail: String,
    },
    /// A file named on the command line has a header of no known layout.
    #[error(
        "{path}: header {header:?} is not a known meter layout \
         (expected meter_id,timestamp,kwh|kw; LCLid,tstp,energy(kWh/hh); or timestamp,value)"
    )]
    UnknownHeader {
        /// The file.
        path: PathBuf,
        /// Its first line, truncated.
        header: String,
    },
    /// A file has bare `value` readings and no unit was given.
    #[error("{0}: values have no unit; pass --unit kwh or --unit kw")]
    NeedsUnit(PathBuf),
    /// The input holds no data rows at all.
    #[error("no readings found in the input (no data rows in any file)")]
    Empty,
}

/// Reads every file under `paths` and hands each good reading to `on_reading`.
///
/// Folders are walked recursively in sorted order. Each file's layout is detected from its
/// header (or forced by `opts.format`). Bad rows, and readings `on_reading` refuses, are
/// counted in the returned summary; they never stop the read. `progress`, if given,
/// advances by the raw (on-disk) bytes of each file, matching [`total_input_bytes`].
///
/// Errors: a missing path, an unreadable file, a named file that is binary or has an unknown
/// header, a bare-value file without `opts.unit`, or no data rows at all.
pub fn for_each_reading(
    paths: &[PathBuf],
    opts: &ReadOptions,
    progress: Option<&ProgressBar>,
    on_reading: &mut OnReading<'_>,
) -> Result<IngestSummary, IngestError> {
    let files = source::expand(paths)?;
    let mut summary = IngestSummary::default();
    // One record for the whole run: its buffers grow to the widest row once, then every
    // row is parsed into them in place.
    let mut record = csv::ByteRecord::new();
    for input in &files {
        let raw_bytes_read = Rc::new(Cell::new(0));
        let result = read_file(
            input,
            opts,
            progress,
            &raw_bytes_read,
            &mut record,
            &mut summary,
            on_reading,
        );
        if let Some(bar) = progress {
            // Skipped and half-read files still count as done for the bar.
            let size = std::fs::metadata(&input.path).map_or(0, |m| m.len());
            bar.inc(size.saturating_sub(raw_bytes_read.get()));
        }
        result?;
    }
    if summary.n_rows == 0 {
        return Err(IngestError::Empty);
    }
    Ok(summary)
}

/// Reads `paths` into `fleet`: [`for_each_reading`] with [`Fleet::push`] as the consumer,
/// its refusals counted as [`BadReason::Duplicate`], [`BadReason::OutOfRange`] or
/// [`BadReason::UnitChanged`].
pub fn read_paths(
    paths: &[PathBuf],
    opts: &ReadOptions,
    fleet: &mut Fleet,
    progress: Option<&ProgressBar>,
) -> Result<IngestSummary, IngestError> {
    for_each_reading(paths, opts, progress, &mut |meter, ts, value, unit| {
        fleet.push(meter, ts, value, unit).map_err(|e| match e {
            FleetError::Series(PushError::Duplicate) => RejectReason::Duplicate,
            FleetError::Series(PushError::OutOfRange) => RejectReason::OutOfRange,
            FleetError::UnitChanged => RejectReason::UnitChanged,
        })
    })
}

/// The total on-disk size of the files under `paths` (compressed size for gzip), for
/// sizing a progress bar. Paths that cannot be listed count as zero.
pub fn total_input_bytes(paths: &[PathBuf]) -> u64 {
    paths
        .iter()
        .filter_map(|p| source::expand(std::slice::from_ref(p)).ok())
        .flatten()
        .filter_map(|f| std::fs::metadata(&f.path).ok())
        .map(|m| m.len())
        .sum()
}

/// Reads one file into `summary` and `on_reading`, or skips it (walks) or fails (named files).
fn read_file(
    input: &InputFile,
    opts: &ReadOptions,
    progress: Option<&ProgressBar>,
    raw_bytes_read: &Rc<Cell<u64>>,
    record: &mut csv::ByteRecord,
    summary: &mut IngestSummary,
    on_reading: &mut OnReading<'_>,
) -> Result<(), IngestError> {
    let path = &input.path;
    let stream = match source::open(path, progress, raw_bytes_read) {
        Ok(stream) => stream,
        Err(OpenError::Io(source)) => {
            return Err(IngestError::Io {
                path: path.clone(),
                source,
            })
        }
        Err(OpenError::NotText(detail)) if input.explicit => {
            return Err(IngestError::NotCsv {
                path: path.clone(),
                detail,
            })
        }
        Err(OpenError::NotText(detail)) => {
            summary
                .skipped_files
                .push((path.clone(), format!("not a CSV text file: {detail}")));
            return Ok(());
        }
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        // Rows with the wrong number of fields are counted as malformed by us, not raised
        // as errors by the csv crate.
        .flexible(true)
        .buffer_capacity(source::BUFFER_BYTES)
        .from_reader(stream);
    let csv_error = |e: csv::Error| IngestError::Io {
        path: path.clone(),
        source: csv_to_io(e),
    };
    if !reader.read_byte_record(record).map_err(csv_error)? {
        summary
            .skipped_files
            .push((path.clone(), "empty file".to_string()));
        return Ok(());
    }
    let layout = match layout::detect(record, opts.format, opts.unit, opts.tz_offset_s) {
        Ok(layout) => layout,
        Err(LayoutError::NeedsUnit) => return Err(IngestError::NeedsUnit(path.clone())),
        Err(LayoutError::Unknown) => {
            let header = record_text(record);
            if input.explicit {
                return Err(IngestError::UnknownHeader {
                    path: path.clone(),
                    header,
                });
            }
            summary.skipped_files.push((
                path.clone(),
                format!("not a meter layout (header {header:?})"),
            ));
            return Ok(());
        }
    };
    summary.n_files += 1;
    let file_meter = match layout.meter_col {
        None => source::meter_id_from_file_name(path),
        Some(_) => String::new(),
    };
    let rows = Rows {
        file: path,
        layout: &layout,
        file_meter: &file_meter,
        opts,
    };
    if layout.first_row_is_data {
        rows.take(record, summary, on_reading);
    }
    while reader.read_byte_record(record).map_err(csv_error)? {
        rows.take(record, summary, on_reading);
    }
    Ok(())
}

/// What every row of one file shares.
struct Rows<'a> {
    file: &'a Path,
    layout: &'a Layout,
    /// The meter id of a one-file-per-meter file (empty otherwise).
    file_meter: &'a str,
    opts: &'a ReadOptions,
}

impl Rows<'_> {
    /// Checks and parses one data row, then hands it on or counts why not.
    ///
    /// The checks run in a fixed order (field count, meter id, timestamp, `until`, value,
    /// consumer) so each bad row gets exactly one reason: the first that applies.
    #[inline]
    fn take(
        &self,
        record: &csv::ByteRecord,
        summary: &mut IngestSummary,
        on_reading: &mut OnReading<'_>,
    ) {
        summary.n_rows += 1;
        let mut bad = |reason: BadReason, text: &[u8]| {
            let line = record.position().map_or(0, |p| p.line());
            summary.record_bad(reason, self.file, line, text, self.opts.max_examples);
        };
        let layout = self.layout;
        if record.len() != layout.n_fields {
            return bad(BadReason::Malformed, record_text(record).as_bytes());
        }
        let meter = match layout.meter_col {
            Some(col) => {
                let raw = record[col].trim_ascii();
                match std::str::from_utf8(raw) {
                    Ok(meter) => meter,
                    Err(_) => return bad(BadReason::Malformed, raw),
                }
            }
            None => self.file_meter,
        };
        if meter.is_empty() {
            return bad(BadReason::EmptyMeterId, record_text(record).as_bytes());
        }
        let ts_field = &record[layout.ts_col];
        let Some(ts) = timestamp::parse_timestamp(ts_field, self.opts.tz_offset_s) else {
            return bad(BadReason::BadTimestamp, ts_field);
        };
        if self.opts.until.is_some_and(|until| ts >= until) {
            summary.n_after_until += 1;
            return;
        }
        let value_field = &record[layout.value_col];
        let value = match parse_value(value_field) {
            Ok(value) => value,
            Err(reason) => return bad(reason, value_field),
        };
        match on_reading(meter, ts, value, layout.unit) {
            Ok(()) => summary.n_accepted += 1,
            Err(reason) => bad(reason.into(), record_text(record).as_bytes()),
        }
    }
}

/// Parses a value field: trimmed (LCL pads with spaces), a finite, non-negative number.
#[inline]
fn parse_value(field: &[u8]) -> Result<f32, BadReason> {
    let text = std::str::from_utf8(field.trim_ascii()).map_err(|_| BadReason::BadValue)?;
    // The standard library's parser is correctly rounded and already takes the fast
    // (Clinger) path for short decimals, so a hand-written one would buy little.
    let value: f32 = text.parse().map_err(|_| BadReason::BadValue)?;
    if !value.is_finite() {
        Err(BadReason::NotFinite)
    } else if value < 0.0 {
        Err(BadReason::NegativeValue)
    } else {
        Ok(value)
    }
}

/// A row as text, fields joined by commas (for messages only; allocates).
fn record_text(record: &csv::ByteRecord) -> String {
    let fields: Vec<String> = record
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    let text = fields.join(",");
    match text.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// The csv crate's errors while reading byte records are IO errors in practice; others
/// (which `flexible` and byte records rule out) keep their message.
fn csv_to_io(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_value(text: &str, expected: Result<f32, BadReason>) {
        assert_eq!(parse_value(text.as_bytes()), expected, "{text:?}");
    }

    #[test]
    fn values_are_trimmed_and_checked() {
        check_value(" 0.219 ", Ok(0.219));
        check_value("2.7190001", Ok(2.719));
        check_value("0", Ok(0.0));
        check_value("1e3", Ok(1000.0));
        check_value("-0", Ok(0.0));
        check_value("Null", Err(BadReason::BadValue));
        check_value("", Err(BadReason::BadValue));
        check_value("1,5", Err(BadReason::BadValue));
        check_value("-0.5", Err(BadReason::NegativeValue));
        check_value("NaN", Err(BadReason::NotFinite));
        check_value("inf", Err(BadReason::NotFinite));
        check_value("1e39", Err(BadReason::NotFinite));
    }

    #[test]
    fn record_text_joins_and_truncates() {
        let short = csv::ByteRecord::from(vec!["a", "b"]);
        assert_eq!(record_text(&short), "a,b");
        let long = csv::ByteRecord::from(vec!["x".repeat(300)]);
        assert_eq!(record_text(&long).chars().count(), 121);
    }
}
