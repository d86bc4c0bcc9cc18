//! Finding and opening input files: folder walks, gzip, progress, the text check.
//!
//! Paths may be files or folders; folders are walked recursively in sorted order with
//! hidden entries left out, so a run is repeatable. Each file is opened with big buffers,
//! decompressed when its first bytes are the gzip magic (whatever its name), and its first
//! kilobytes are checked to be text before any CSV parsing starts. This module does not
//! interpret rows or headers.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;
use indicatif::ProgressBar;

use super::IngestError;

/// Size of the file and CSV read buffers; big enough that syscalls and refills vanish
/// from a profile.
pub(crate) const BUFFER_BYTES: usize = 256 * 1024;

/// How many decompressed bytes are checked for binary content.
const SNIFF_BYTES: usize = 8 * 1024;

/// One file to read, and whether the user named it (an error in it is then fatal) or a
/// folder walk found it (a non-meter file is then skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InputFile {
    pub path: PathBuf,
    pub explicit: bool,
}

/// Expands `paths` into files: files as given, folders walked recursively in sorted order,
/// hidden files and folders (names starting with `.`) left out of walks.
pub(crate) fn expand(paths: &[PathBuf]) -> Result<Vec<InputFile>, IngestError> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => IngestError::NotFound(path.clone()),
            _ => IngestError::Io {
                path: path.clone(),
                source: e,
            },
        })?;
        if meta.is_dir() {
            walk(path, &mut files)?;
        } else {
            files.push(InputFile {
                path: path.clone(),
                explicit: true,
            });
        }
    }
    Ok(files)
}

/// Appends the files under `dir`, depth first, entries sorted by name.
fn walk(dir: &Path, files: &mut Vec<InputFile>) -> Result<(), IngestError> {
    let io_err = |source| IngestError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io_err)?;
    entries.sort();
    for path in entries {
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        // `metadata` follows symlinks, so a linked file or folder is read like a real one.
        let meta = std::fs::metadata(&path).map_err(|source| IngestError::Io {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            walk(&path, files)?;
        } else {
            files.push(InputFile {
                path,
                explicit: false,
            });
        }
    }
    Ok(())
}

/// The meter id a one-file-per-meter file stands for: its name without `.gz`, then `.csv`.
pub(crate) fn meter_id_from_file_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    name.strip_suffix(".csv").unwrap_or(name).to_string()
}

/// Why a file could not be opened as text.
pub(crate) enum OpenError {
    /// Not found, permission, a failing disk: always fatal.
    Io(io::Error),
    /// Binary content or a corrupt gzip stream: fatal when named, skipped in a walk.
    NotText(String),
}

/// Opens `path` as a decompressed byte stream: gzip by magic bytes, big buffers, and the
/// first [`SNIFF_BYTES`] checked to be text.
///
/// Raw bytes taken from disk are added to `raw_bytes_read` and, in 1 MiB batches, to
/// `progress`; the caller settles the rest of the file's size when it is done with it.
pub(crate) fn open(
    path: &Path,
    progress: Option<&ProgressBar>,
    raw_bytes_read: &Arc<AtomicU64>,
) -> Result<Box<dyn Read + Send>, OpenError> {
    let file = File::open(path).map_err(OpenError::Io)?;
    let counting = CountingReader {
        inner: file,
        progress: progress.cloned(),
        n_read: Arc::clone(raw_bytes_read),
        n_unreported: 0,
    };
    let mut buffered = BufReader::with_capacity(BUFFER_BYTES, counting);
    let is_gzip = buffered
        .fill_buf()
        .map_err(OpenError::Io)?
        .starts_with(&[0x1f, 0x8b]);
    let mut stream: Box<dyn Read + Send> = if is_gzip {
        // MultiGzDecoder, not GzDecoder: concatenated gzip members (`cat a.gz b.gz`, or
        // files written by parallel compressors) are one stream, and GzDecoder would stop
        // silently after the first.
        Box::new(MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    let prefix = read_prefix(&mut stream, SNIFF_BYTES).map_err(|e| match e.kind() {
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
            if is_gzip =>
        {
            OpenError::NotText(format!("corrupt gzip stream: {e}"))
        }
        _ => OpenError::Io(e),
    })?;
    if let Some(why) = binary_reason(&prefix) {
        return Err(OpenError::NotText(why));
    }
    Ok(Box::new(Cursor::new(prefix).chain(stream)))
}

/// Reads up to `n` bytes, fewer only at the end of the stream.
fn read_prefix(stream: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut prefix = Vec::with_capacity(n);
    stream.take(n as u64).read_to_end(&mut prefix)?;
    Ok(prefix)
}

/// Why `prefix` looks like binary data, if it does: a NUL byte (never in text), or more
/// than 1% control characters other than tab, CR, LF and form feed. Invalid UTF-8 alone is
/// allowed: a Latin-1 file is still a CSV, and its bad ids are counted per row.
fn binary_reason(prefix: &[u8]) -> Option<String> {
    if prefix.contains(&0) {
        return Some("binary data (NUL bytes)".to_string());
    }
    let n_control = prefix
        .iter()
        .filter(|&&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c)) || b == 0x7f)
        .count();
    if n_control * 100 > prefix.len() {
        return Some("binary data (control characters)".to_string());
    }
    None
}

/// Counts raw bytes read from disk and reports them to the progress bar in batches (an
/// atomic update per 1 MiB, not per read).
struct CountingReader {
    inner: File,
    progress: Option<ProgressBar>,
    n_read: Arc<AtomicU64>,
    n_unreported: u64,
}

impl Read for CountingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n_read.fetch_add(n as u64, Ordering::Relaxed);
        self.n_unreported += n as u64;
        if self.n_unreported >= 1 << 20 || n == 0 {
            if let Some(bar) = &self.progress {
                bar.inc(self.n_unreported);
            }
            self.n_unreported = 0;
        }
        Ok(n)
    }
}

impl Drop for CountingReader {
    fn drop(&mut self) {
        if let Some(bar) = &self.progress {
            bar.inc(self.n_unreported);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meter_ids_drop_csv_and_gz_suffixes() {
        for (name, expected) in [
            ("a/786.csv.gz", "786"),
            ("MAC000004.csv", "MAC000004"),
            ("x.gz", "x"),
            ("plain", "plain"),
            ("m.tsv", "m.tsv"),
        ] {
            assert_eq!(meter_id_from_file_name(Path::new(name)), expected);
        }
    }

    #[test]
    fn binary_content_is_told_apart_from_text() {
        assert!(binary_reason(b"meter_id,timestamp,kwh\r\nm,1,2\n").is_none());
        assert!(binary_reason("caf\u{e9},1,2\n".as_bytes()).is_none());
        assert!(binary_reason(b"\xE9t\xE9,1,2\n").is_none());
        assert!(binary_reason(b"PK\x03\x04\x00\x00").is_some());
        assert!(binary_reason(b"\x89PNG\r\n\x1a\n\x01\x02\x03\x04\x05").is_some());
    }
}
