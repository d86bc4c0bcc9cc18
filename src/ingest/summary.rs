//! What a read saw: row counts, bad rows per reason with a few examples, skipped files.
//!
//! A bad row never stops a read; it is counted here under a [`BadReason`] and, for the
//! first few of each reason, kept as a [`BadRow`] with its file and line so a user can go
//! and look. This module owns that bookkeeping and its human rendering; it does not parse.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

/// Why a data row was not turned into an accepted reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BadReason {
    /// The row has a different number of fields than the header (or bad bytes in the id).
    Malformed,
    /// The timestamp field is not a timestamp in any accepted form.
    BadTimestamp,
    /// The value field is not a number (empty, `Null`, text).
    BadValue,
    /// The value is below zero; meters here report consumption only.
    NegativeValue,
    /// The value is NaN or infinite (or too large for an `f32`).
    NotFinite,
    /// The meter id field is empty.
    EmptyMeterId,
    /// The consumer already holds a reading for this meter and minute.
    Duplicate,
    /// The consumer refused the timestamp as absurdly far from the meter's other readings.
    OutOfRange,
    /// The timestamp parsed, but lies before 1970 or after 2099: a misread dump.
    ImplausibleTime,
    /// The meter reported in a different unit before.
    UnitChanged,
}

impl fmt::Display for BadReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BadReason::Malformed => "malformed row",
            BadReason::BadTimestamp => "bad timestamp",
            BadReason::BadValue => "bad value",
            BadReason::NegativeValue => "negative value",
            BadReason::NotFinite => "value not finite",
            BadReason::EmptyMeterId => "empty meter id",
            BadReason::Duplicate => "duplicate reading",
            BadReason::OutOfRange => "timestamp out of range",
            BadReason::ImplausibleTime => "timestamp before 1970 or after 2099",
            BadReason::UnitChanged => "unit changed",
        })
    }
}

/// What a consumer of readings may refuse; counted as the matching [`BadReason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// A reading for the same meter and minute was already taken.
    Duplicate,
    /// The timestamp is implausibly far from the meter's other readings.
    OutOfRange,
    /// The meter switched units.
    UnitChanged,
}

impl From<RejectReason> for BadReason {
    fn from(reason: RejectReason) -> Self {
        match reason {
            RejectReason::Duplicate => BadReason::Duplicate,
            RejectReason::OutOfRange => BadReason::OutOfRange,
            RejectReason::UnitChanged => BadReason::UnitChanged,
        }
    }
}

/// One bad row kept as an example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// The file it came from.
    pub file: PathBuf,
    /// Its 1-based line number in the (decompressed) file.
    pub line: u64,
    /// Why it was refused.
    pub reason: BadReason,
    /// The offending field, or the whole row when no single field is to blame; truncated.
    pub text: String,
}

/// The tally of one read.
///
/// Every data row lands in exactly one bucket, so
/// `n_rows == n_accepted + n_after_until + n_bad()`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestSummary {
    /// Files whose rows were read (skipped files not included).
    pub n_files: usize,
    /// Data rows seen (headers and blank lines not included).
    pub n_rows: u64,
    /// Readings handed to the consumer and accepted by it.
    pub n_accepted: u64,
    /// Readings at or after `until`, left out on purpose.
    pub n_after_until: u64,
    /// Bad rows per reason.
    pub bad: BTreeMap<BadReason, u64>,
    /// The first few bad rows of each reason, in the order met.
    pub examples: Vec<BadRow>,
    /// Files met in a folder walk that hold no meter data, with the reason.
    pub skipped_files: Vec<(PathBuf, String)>,
}

/// Longest example text kept, in characters.
const MAX_EXAMPLE_CHARS: usize = 80;

impl IngestSummary {
    /// Bad rows of every reason.
    pub fn n_bad(&self) -> u64 {
        self.bad.values().sum()
    }

    /// Bad rows as a share of all data rows (0 when there were none).
    pub fn bad_share(&self) -> f64 {
        if self.n_rows == 0 {
            0.0
        } else {
            self.n_bad() as f64 / self.n_rows as f64
        }
    }

    /// A human summary: the counts, skipped files, counts per reason and the kept examples
    /// as `file:line: reason: text`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; the results are ignored on purpose.
        let _ = write!(
            out,
            "read {} rows from {} file(s): {} accepted, {} bad ({:.2}%)",
            self.n_rows,
            self.n_files,
            self.n_accepted,
            self.n_bad(),
            100.0 * self.bad_share()
        );
        if self.n_after_until > 0 {
            let _ = write!(out, ", {} at or after --until left out", self.n_after_until);
        }
        out.push('\n');
        for (path, why) in &self.skipped_files {
            let _ = writeln!(out, "  skipped {}: {}", path.display(), why);
        }
        for (reason, n) in &self.bad {
            let _ = writeln!(out, "  {reason}: {n}");
        }
        if self.bad.contains_key(&BadReason::BadTimestamp)
            || self.bad.contains_key(&BadReason::ImplausibleTime)
        {
            let _ = writeln!(
                out,
                "  timestamps may be {}",
                crate::ingest::timestamp::ACCEPTED_FORMS
            );
        }
        if self.examples.iter().any(|e| e.text.contains(';')) {
            let _ = writeln!(
                out,
                "  the rows hold `;`: flatline reads comma-separated files (convert with `tr ';' ','`, after checking that no decimal commas are used)"
            );
        }
        for example in &self.examples {
            let _ = writeln!(
                out,
                "  {}:{}: {}: {}",
                example.file.display(),
                example.line,
                example.reason,
                example.text
            );
        }
        out
    }

    /// Counts one bad row and keeps it as an example if fewer than `max_examples` of its
    /// reason are kept so far. `text` is only decoded for kept examples.
    #[cfg(test)]
    pub(crate) fn record_bad(
        &mut self,
        reason: BadReason,
        file: &Path,
        line: u64,
        text: &[u8],
        max_examples: usize,
    ) {
        self.record_bad_with(reason, file, line, max_examples, || example_text(text));
    }

    /// [`Self::record_bad`] with the example's finished text made only if it is kept.
    pub(crate) fn record_bad_with(
        &mut self,
        reason: BadReason,
        file: &Path,
        line: u64,
        max_examples: usize,
        text: impl FnOnce() -> String,
    ) {
        let n = self.bad.entry(reason).or_insert(0);
        *n += 1;
        if *n as usize <= max_examples {
            self.examples.push(BadRow {
                file: file.to_path_buf(),
                line,
                reason,
                text: text(),
            });
        }
    }
}

/// The text of an example, lossily decoded and cut to [`MAX_EXAMPLE_CHARS`].
pub(crate) fn example_text(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    if text.chars().count() <= MAX_EXAMPLE_CHARS {
        return text.into_owned();
    }
    let mut cut: String = text.chars().take(MAX_EXAMPLE_CHARS).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_examples_of_each_reason_are_kept() {
        let mut s = IngestSummary::default();
        for line in 1..=4 {
            s.record_bad(BadReason::BadValue, Path::new("a.csv"), line, b"Null", 2);
        }
        s.record_bad(BadReason::Malformed, Path::new("a.csv"), 9, b"x", 2);
        assert_eq!(s.bad[&BadReason::BadValue], 4);
        assert_eq!(s.n_bad(), 5);
        let kept: Vec<(u64, BadReason)> = s.examples.iter().map(|e| (e.line, e.reason)).collect();
        assert_eq!(
            kept,
            vec![
                (1, BadReason::BadValue),
                (2, BadReason::BadValue),
                (9, BadReason::Malformed)
            ]
        );
    }

    #[test]
    fn long_example_text_is_truncated() {
        let mut s = IngestSummary::default();
        s.record_bad(
            BadReason::Malformed,
            Path::new("a.csv"),
            1,
            "é".repeat(200).as_bytes(),
            1,
        );
        assert_eq!(s.examples[0].text.chars().count(), MAX_EXAMPLE_CHARS + 1);
    }

    #[test]
    fn render_names_file_line_reason_and_text() {
        let mut s = IngestSummary {
            n_files: 1,
            n_rows: 10,
            n_accepted: 9,
            ..Default::default()
        };
        s.record_bad(BadReason::BadValue, Path::new("d/a.csv"), 7, b"Null", 5);
        s.skipped_files
            .push((PathBuf::from("d/README.md"), "not a meter layout".into()));
        let text = s.render();
        assert!(
            text.starts_with("read 10 rows from 1 file(s): 9 accepted, 1 bad (10.00%)\n"),
            "{text}"
        );
        assert!(
            text.contains("  skipped d/README.md: not a meter layout\n"),
            "{text}"
        );
        assert!(text.contains("  bad value: 1\n"), "{text}");
        assert!(text.contains("  d/a.csv:7: bad value: Null\n"), "{text}");
        assert_eq!(s.bad_share(), 0.1);
    }

    #[test]
    fn bad_share_of_nothing_is_zero() {
        assert_eq!(IngestSummary::default().bad_share(), 0.0);
    }
}
