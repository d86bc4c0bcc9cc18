//! Reading meter dumps — CSV files, plain or gzipped, in several layouts — into a [`Fleet`].
//!
//! This module owns everything between a path on disk and a `(meter, timestamp, value,
//! unit)` reading: folder walks, gzip, layout detection from the header, timestamp and
//! value parsing, and the counting of bad rows. It is built to be fast and forgiving:
//! - **Fast.** Files are cut into blocks of whole records that parse on several threads
//!   (`blocks.rs`) while the consumer gets the readings in file order on the caller's
//!   thread. Fields are parsed straight from bytes: a hand-written parser for the fixed
//!   timestamp layouts that remembers the previous stamp and date, Clinger's fast path for
//!   short decimals. No allocation per row (see `benches/ingest.rs` for the measured rate).
//! - **Forgiving.** A bad row is counted under a [`BadReason`] with its file and line and
//!   the read goes on; only a file that cannot be read at all stops it ([`IngestError`]).
//!   Metadata files met in a folder walk are skipped and listed.
//!
//! It does not build series (that is [`Fleet`]'s job) and knows nothing about scoring.
//! The accepted layouts are documented for users in `docs/formats.md`.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use indicatif::ProgressBar;

use crate::core::fleet::FleetError;
use crate::core::series::PushError;
use crate::core::{Fleet, Unit};

mod blocks;
mod layout;
mod source;
mod summary;
pub mod timestamp;

use layout::{Layout, LayoutError};
use source::{InputFile, OpenError};
pub use summary::{BadReason, BadRow, IngestSummary, RejectReason};
use timestamp::StampCache;

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

/// Where the readings of a read go, in the order the read hands them on.
///
/// Two consumers exist: any [`OnReading`] callback ([`Callback`]), and a [`Fleet`]
/// ([`IntoFleet`]), which keeps the index of each meter id so that it looks the id up once
/// per parse thread rather than once per reading.
pub(crate) trait Consumer {
    /// Takes one good reading of the meter `id()`; an `Err` refuses it. `key` belongs to
    /// that id: it starts as [`UNRESOLVED`] and keeps whatever the consumer stores in it
    /// for the next readings of the same id (from the same parse thread).
    fn push<'s>(
        &mut self,
        id: impl FnOnce() -> &'s str,
        key: &mut u32,
        ts: i64,
        value: f32,
        unit: Unit,
    ) -> Result<(), RejectReason>;

    /// Told, a few readings ahead, of a reading to come with its id's key: a chance to
    /// start loading what that reading will touch. Does nothing unless overridden.
    #[inline]
    fn prefetch(&self, _key: u32, _ts: i64) {}
}

/// A [`Consumer::push`] key no reading has set yet.
pub(crate) const UNRESOLVED: u32 = u32::MAX;

/// An [`OnReading`] callback as a [`Consumer`]: every reading with its id.
pub(crate) struct Callback<'a, 'c>(pub &'a mut OnReading<'c>);

impl Consumer for Callback<'_, '_> {
    #[inline]
    fn push<'s>(
        &mut self,
        id: impl FnOnce() -> &'s str,
        _key: &mut u32,
        ts: i64,
        value: f32,
        unit: Unit,
    ) -> Result<(), RejectReason> {
        (self.0)(id(), ts, value, unit)
    }
}

/// A [`Fleet`] as a [`Consumer`]: exactly [`Fleet::push`], with each id's index in the
/// fleet kept in its key.
pub(crate) struct IntoFleet<'a>(pub &'a mut Fleet);

impl Consumer for IntoFleet<'_> {
    #[inline]
    fn push<'s>(
        &mut self,
        id: impl FnOnce() -> &'s str,
        key: &mut u32,
        ts: i64,
        value: f32,
        unit: Unit,
    ) -> Result<(), RejectReason> {
        if *key == UNRESOLVED {
            // `Fleet::push` adds a new meter at its first reading too, refused or not: the
            // meters are added in the same order.
            *key = u32::try_from(self.0.index_of(id(), unit)).expect("fewer than 2^32 meters");
        }
        self.0
            .push_at(*key as usize, ts, value, unit)
            .map_err(|e| match e {
                FleetError::Series(PushError::Duplicate) => RejectReason::Duplicate,
                FleetError::Series(PushError::OutOfRange) => RejectReason::OutOfRange,
                FleetError::UnitChanged => RejectReason::UnitChanged,
            })
    }

    #[inline]
    fn prefetch(&self, key: u32, ts: i64) {
        if key != UNRESOLVED {
            self.0.prefetch(key as usize, ts);
        }
    }
}

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
    /// Threads that parse rows: 0 for rayon's thread count, 1 for the serial reader. More
    /// than one cuts each file into blocks at record boundaries, parses the blocks on that
    /// many threads and hands the readings on in file order, so the consumer sees exactly
    /// what the serial reader would give it.
    pub n_threads: usize,
    /// The size of those blocks in bytes (a block grows past it to hold a whole record).
    /// Tests shrink it to put block boundaries everywhere.
    pub block_bytes: usize,
    /// Net metering (`--net-metering`): values are import minus export and may be
    /// negative; an exporting interval is read as no consumption. Columns named `net_kwh`
    /// or `net_kw` are read this way without the option.
    pub net_metering: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            format: Format::Auto,
            unit: None,
            tz_offset_s: 0,
            until: None,
            max_examples: 5,
            n_threads: 0,
            block_bytes: blocks::BLOCK_BYTES,
            net_metering: false,
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
         (expected meter_id,timestamp,kwh|kw; LCLid,tstp,energy(kWh/hh); or timestamp,value){hint}"
    )]
    UnknownHeader {
        /// The file.
        path: PathBuf,
        /// Its first line, truncated.
        header: String,
        /// A hint when the header shows a likely cause (a `;` delimiter), else empty.
        hint: &'static str,
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
    read_in_order(paths, opts, progress, Order::File, Callback(on_reading))
}

/// The order in which readings reach the consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// Exactly the file's order.
    File,
    /// Each block's readings grouped by meter where that pays (see `blocks.rs`), meters in
    /// the order they first appear in the block, each meter's readings in file order. For
    /// a consumer whose result depends only on each meter's own sequence and on the order
    /// meters first appear (a [`Fleet`]) the result is the same as in file order; grouping
    /// keeps one meter's hour bins in cache for a run of readings instead of touching every
    /// meter's bins in turn, as a time-major dump would. The summary's examples stay in
    /// file order.
    ByMeter,
}

/// [`for_each_reading`] in a given order.
fn read_in_order(
    paths: &[PathBuf],
    opts: &ReadOptions,
    progress: Option<&ProgressBar>,
    order: Order,
    consumer: impl Consumer,
) -> Result<IngestSummary, IngestError> {
    let files = source::expand(paths)?;
    let n_threads = match opts.n_threads {
        0 => rayon::current_num_threads(),
        n => n,
    };
    let summary = if n_threads > 1 {
        blocks::read_in_parallel(&files, opts, n_threads, progress, order, consumer)?
    } else {
        blocks::read_serially(&files, opts, progress, order, consumer)?
    };
    if summary.n_rows == 0 {
        return Err(IngestError::Empty);
    }
    Ok(summary)
}

/// Advances the bar by what is left of a file's on-disk size once it is done with:
/// skipped and half-read files still count as done.
fn settle_progress(progress: Option<&ProgressBar>, path: &Path, raw_bytes_read: &AtomicU64) {
    if let Some(bar) = progress {
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        bar.inc(size.saturating_sub(raw_bytes_read.load(Ordering::Relaxed)));
    }
}

/// Reads `paths` into `fleet`: [`for_each_reading`] with [`Fleet::push`] as the consumer,
/// its refusals counted as [`BadReason::Duplicate`], [`BadReason::OutOfRange`] or
/// [`BadReason::UnitChanged`].
///
/// The readings reach the fleet grouped by meter within each block of the file (see
/// `Order::ByMeter`): every meter gets its own readings in file order and meters are
/// added in the order first seen, so the fleet and the summary are those of the plain
/// file order.
pub fn read_paths(
    paths: &[PathBuf],
    opts: &ReadOptions,
    fleet: &mut Fleet,
    progress: Option<&ProgressBar>,
) -> Result<IngestSummary, IngestError> {
    read_in_order(paths, opts, progress, Order::ByMeter, IntoFleet(fleet))
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

/// A file opened for reading, or the reason a folder walk skips it.
enum Opened {
    Stream(Box<dyn io::Read + Send>),
    Skipped(String),
}

/// Opens one input: errors that stop the read are `Err`, a non-text file met in a walk is
/// [`Opened::Skipped`].
fn open_input(
    input: &InputFile,
    progress: Option<&ProgressBar>,
    raw_bytes_read: &Arc<AtomicU64>,
) -> Result<Opened, IngestError> {
    let path = &input.path;
    match source::open(path, progress, raw_bytes_read) {
        Ok(stream) => Ok(Opened::Stream(stream)),
        Err(OpenError::Io(source)) => Err(IngestError::Io {
            path: path.clone(),
            source,
        }),
        Err(OpenError::NotText(detail)) if input.explicit => Err(IngestError::NotCsv {
            path: path.clone(),
            detail,
        }),
        Err(OpenError::NotText(detail)) => {
            Ok(Opened::Skipped(format!("not a CSV text file: {detail}")))
        }
    }
}

/// A file's layout, or the reason a folder walk skips it.
enum Detected {
    Layout(Layout),
    Skipped(String),
}

/// Decides a file's layout from its first record: errors that stop the read are `Err`, a
/// non-meter file met in a walk is [`Detected::Skipped`].
fn detect_layout(
    input: &InputFile,
    first: &csv::ByteRecord,
    opts: &ReadOptions,
) -> Result<Detected, IngestError> {
    let path = &input.path;
    match layout::detect(first, opts.format, opts.unit, opts.tz_offset_s) {
        Ok(layout) => Ok(Detected::Layout(layout)),
        Err(LayoutError::NeedsUnit) => Err(IngestError::NeedsUnit(path.clone())),
        Err(LayoutError::Unknown) => {
            let header = record_text(first);
            if input.explicit {
                // Spreadsheets in many locales export `;`-separated files.
                let hint = if header.contains(';') {
                    "; the header holds `;`: flatline reads comma-separated files (convert with `tr ';' ','`, after checking that no decimal commas are used)"
                } else {
                    ""
                };
                return Err(IngestError::UnknownHeader {
                    path: path.clone(),
                    header,
                    hint,
                });
            }
            Ok(Detected::Skipped(format!(
                "not a meter layout (header {header:?})"
            )))
        }
    }
}

/// The meter id of a one-file-per-meter file (empty for layouts with an id column).
fn file_meter(path: &Path, layout: &Layout) -> String {
    match layout.meter_col {
        None => source::meter_id_from_file_name(path),
        Some(_) => String::new(),
    }
}

/// The CSV reader every path uses, so that serial and parallel reads split rows alike.
fn csv_reader<R: io::Read>(stream: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        // Rows with the wrong number of fields are counted as malformed by us, not raised
        // as errors by the csv crate.
        .flexible(true)
        .buffer_capacity(source::BUFFER_BYTES)
        .from_reader(stream)
}

/// What every row of one file shares.
struct Rows<'a> {
    layout: &'a Layout,
    /// The meter id of a one-file-per-meter file (empty otherwise).
    file_meter: &'a str,
    opts: &'a ReadOptions,
}

/// What one data row came to.
enum Row<'r> {
    /// A good reading for the consumer.
    Reading { meter: &'r str, ts: i64, value: f32 },
    /// A good reading at or after `until`, left out on purpose.
    AfterUntil,
    /// A bad row, and the text to show for it.
    Bad(BadReason, BadText<'r>),
}

/// The text an example of a bad row shows.
enum BadText<'r> {
    /// The offending field.
    Field(&'r [u8]),
    /// The whole row (made only if the example is kept).
    Row,
}

impl BadText<'_> {
    /// The example text of this row.
    fn render(&self, record: &csv::ByteRecord) -> String {
        match self {
            BadText::Field(bytes) => summary::example_text(bytes),
            BadText::Row => summary::example_text(record_text(record).as_bytes()),
        }
    }
}

impl<'a> Rows<'a> {
    /// Checks and parses one data row into a reading or the reason it is bad.
    ///
    /// The checks run in a fixed order (field count, meter id, timestamp, `until`, value)
    /// so each bad row gets exactly one reason: the first that applies. The consumer's
    /// refusal, the last check, is the caller's.
    #[inline]
    fn parse<'r>(&self, record: &'r csv::ByteRecord, stamps: &mut StampCache) -> Row<'r>
    where
        'a: 'r,
    {
        let layout = self.layout;
        if record.len() != layout.n_fields {
            return Row::Bad(BadReason::Malformed, BadText::Row);
        }
        let meter = match layout.meter_col {
            Some(col) => {
                let raw = record[col].trim_ascii();
                match std::str::from_utf8(raw) {
                    Ok(meter) => meter,
                    Err(_) => return Row::Bad(BadReason::Malformed, BadText::Field(raw)),
                }
            }
            None => self.file_meter,
        };
        if meter.is_empty() {
            return Row::Bad(BadReason::EmptyMeterId, BadText::Row);
        }
        let ts_field = &record[layout.ts_col];
        let Some(ts) = stamps.parse(ts_field, self.opts.tz_offset_s) else {
            return Row::Bad(BadReason::BadTimestamp, BadText::Field(ts_field));
        };
        if !timestamp::is_plausible(ts) {
            return Row::Bad(BadReason::ImplausibleTime, BadText::Field(ts_field));
        }
        if self.opts.until.is_some_and(|until| ts >= until) {
            return Row::AfterUntil;
        }
        let value_field = &record[layout.value_col];
        match parse_value(value_field) {
            Ok(value) => Row::Reading { meter, ts, value },
            // A net meter's negative reading is export: the site drew nothing from the
            // grid in that interval. Only consumption is judged, so it counts as zero.
            Err(BadReason::NegativeValue) if layout.signed || self.opts.net_metering => {
                Row::Reading {
                    meter,
                    ts,
                    value: 0.0,
                }
            }
            Err(reason) => Row::Bad(reason, BadText::Field(value_field)),
        }
    }
}

/// Parses a value field: trimmed (LCL pads with spaces), a finite, non-negative number.
#[inline]
fn parse_value(field: &[u8]) -> Result<f32, BadReason> {
    let field = field.trim_ascii();
    let value = match parse_short_decimal(field) {
        Some(value) => value,
        None => {
            let text = std::str::from_utf8(field).map_err(|_| BadReason::BadValue)?;
            text.parse::<f32>().map_err(|_| BadReason::BadValue)?
        }
    };
    if !value.is_finite() {
        Err(BadReason::NotFinite)
    } else if value < 0.0 {
        Err(BadReason::NegativeValue)
    } else {
        Ok(value)
    }
}

/// Exact powers of ten in `f32` (5^10 < 2^24, so all of them up to 10^10 are exact).
const POW10_F32: [f32; 11] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];

/// The common value forms, `digits[.digits]`, parsed without the standard library's
/// general machinery, or `None` for anything else (signs, exponents, long mantissas),
/// which the caller hands to `str::parse`.
///
/// The result is the standard library's, bit for bit: this is Clinger's fast path. When
/// the digits without the point form an integer `m ≤ 2^24` and there are `k ≤ 10` digits
/// after the point, both `m` and `10^k` are exact in `f32`, and IEEE division rounds
/// `m / 10^k` correctly, which is what a correctly rounded parser returns.
#[inline]
fn parse_short_decimal(s: &[u8]) -> Option<f32> {
    let mut mantissa: u32 = 0;
    let mut n_digits = 0;
    let mut n_after_point = None;
    for (i, &b) in s.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa.checked_mul(10)?.checked_add(u32::from(b - b'0'))?;
                n_digits += 1;
            }
            b'.' if n_after_point.is_none() => n_after_point = Some(s.len() - i - 1),
            _ => return None,
        }
    }
    if n_digits == 0 || mantissa > 1 << 24 {
        return None;
    }
    let k = n_after_point.unwrap_or(0);
    let scale = *POW10_F32.get(k)?;
    Some(mantissa as f32 / scale)
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
    fn short_decimals_parse_to_the_standard_librarys_bits() {
        // Every 3-decimal value up to 100, then long mantissas, many decimals and the
        // limits of the fast path, which must either agree or step aside.
        let mut texts: Vec<String> = (0..100_000)
            .map(|i| format!("{}.{:03}", i / 1000, i % 1000))
            .collect();
        texts.extend(
            [
                "16777216",
                "16777217",
                "167772.17",
                "0.1",
                "0.3",
                "0.30000001",
                "5.",
                ".5",
                "0000.25",
                "1.0000000000",
                "1.00000000001",
                "123456789",
                "0.0000001",
                "3.4028235",
                "9999999.9",
            ]
            .map(String::from),
        );
        for text in &texts {
            let expected: f32 = text.parse().unwrap();
            if let Some(got) = parse_short_decimal(text.as_bytes()) {
                assert_eq!(got.to_bits(), expected.to_bits(), "{text}");
            }
            assert_eq!(
                parse_value(text.as_bytes()).map(f32::to_bits),
                Ok(expected.to_bits())
            );
        }
        for text in ["", ".", "1.2.3", "1e3", "-1", "+1", "1_0", " 1"] {
            assert_eq!(parse_short_decimal(text.as_bytes()), None, "{text:?}");
        }
    }

    #[test]
    fn record_text_joins_and_truncates() {
        let short = csv::ByteRecord::from(vec!["a", "b"]);
        assert_eq!(record_text(&short), "a,b");
        let long = csv::ByteRecord::from(vec!["x".repeat(300)]);
        assert_eq!(record_text(&long).chars().count(), 121);
    }
}
