//! Durable state under `--state-dir`: a write-ahead log of accepted readings and a periodic
//! snapshot of the meter table, so a `kill -9` loses no reading the daemon acknowledged.
//!
//! Layout of the directory:
//! - `wal-<generation>.jsonl`: one JSON line per reading that changed state, in the order
//!   applied. Appended in batches and `fsync`ed before the batch's MQTT messages are
//!   acknowledged to the broker.
//! - `snapshot.bin`: the whole [`MeterTable`] plus the first WAL generation *not* in it.
//!   Written to a temporary file, `fsync`ed, renamed over the old one, directory `fsync`ed.
//!   WAL files older than the snapshot's generation are then deleted.
//! - `alerts.jsonl` (owned by the alert sink) and `status.json` (counters, for operators).
//!
//! Recovery loads the snapshot and re-applies every later WAL line through the same
//! [`MeterTable::apply`] as live ingest, so the state after recovery is the state before
//! the crash. A torn last line (crash mid-write) is ignored: it was never `fsync`ed, so its
//! message was never acknowledged, and the broker will deliver it again.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::meters::{MeterTable, WindowDays};
use super::payload::{Reading, Value};

/// Failures of the state directory.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading or writing a file failed.
    #[error("state directory {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The snapshot exists but cannot be decoded.
    #[error(
        "snapshot {0} is corrupt or from an incompatible version; move it away to start afresh"
    )]
    CorruptSnapshot(PathBuf),
}

/// First bytes of a snapshot: format name and version. Version 3 added the closed hours'
/// minute masks; a version 2 snapshot is still read (the masks start unknown).
const SNAPSHOT_MAGIC: &[u8; 8] = b"FLSNAP03";
const SNAPSHOT_MAGIC_V2: &[u8; 8] = b"FLSNAP02";

/// One WAL line.
#[derive(Debug, Serialize, Deserialize)]
struct WalLine<'a> {
    m: &'a str,
    t: i64,
    /// 0 interval kWh, 1 kW, 2 register kWh.
    k: u8,
    v: f64,
}

/// The limits a restored table is built with (from the current settings).
#[derive(Debug, Clone, Copy)]
pub struct TableLimits {
    /// Cap on tracked meters.
    pub max_meters: usize,
    /// Hours between scorings of one meter.
    pub rescore_every_hours: i64,
    /// Largest plausible kW of one meter.
    pub max_kw: f64,
    /// Length of every meter's window.
    pub window: WindowDays,
}

impl TableLimits {
    /// An empty table with these limits.
    pub fn table(self) -> MeterTable {
        MeterTable::new(self.max_meters, self.rescore_every_hours, self.max_kw)
            .with_window(self.window)
    }
}

/// What recovery found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// A snapshot was loaded.
    pub from_snapshot: bool,
    /// WAL lines re-applied.
    pub n_replayed: u64,
    /// Unreadable WAL lines skipped (a torn tail after a crash).
    pub n_torn: u64,
}

/// The open state directory: the current WAL file and the snapshot generation.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    generation: u64,
    wal: BufWriter<File>,
    n_unsynced: u64,
    line: Vec<u8>,
}

impl Store {
    /// Opens (creating if needed) the state directory, recovers the meter table, and starts
    /// a fresh WAL generation (never appending to a file that may end in a torn line).
    pub fn open(
        dir: &Path,
        limits: TableLimits,
    ) -> Result<(Store, MeterTable, Recovery), StoreError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        fs::create_dir_all(dir).map_err(io(dir))?;
        let snapshot_path = dir.join("snapshot.bin");
        let mut recovery = Recovery::default();
        let (first_generation, mut table) = match fs::read(&snapshot_path) {
            Ok(bytes) => {
                recovery.from_snapshot = true;
                decode_snapshot(&bytes, limits)
                    .ok_or_else(|| StoreError::CorruptSnapshot(snapshot_path.clone()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (0, limits.table()),
            Err(e) => return Err(io(&snapshot_path)(e)),
        };
        let mut generations = wal_generations(dir).map_err(io(dir))?;
        generations.retain(|&g| g >= first_generation);
        for &g in &generations {
            let path = wal_path(dir, g);
            let file = File::open(&path).map_err(io(&path))?;
            for line in BufReader::new(file).split(b'\n') {
                let line = line.map_err(io(&path))?;
                match serde_json::from_slice::<WalLine>(&line) {
                    Ok(w) => {
                        let value = match w.k {
                            0 => Value::IntervalKwh(w.v),
                            1 => Value::Kw(w.v),
                            _ => Value::RegisterKwh(w.v),
                        };
                        table.apply(w.m, w.t, value);
                        recovery.n_replayed += 1;
                    }
                    Err(_) => recovery.n_torn += 1,
                }
            }
        }
        let generation = generations.last().map_or(first_generation, |g| g + 1);
        let path = wal_path(dir, generation);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        sync_dir(dir).map_err(io(dir))?;
        let store = Store {
            dir: dir.to_path_buf(),
            generation,
            wal: BufWriter::with_capacity(1 << 16, file),
            n_unsynced: 0,
            line: Vec::with_capacity(128),
        };
        Ok((store, table, recovery))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one reading to the log (buffered: durable only after [`Store::sync`]).
    pub fn append(&mut self, r: &Reading) -> Result<(), StoreError> {
        let (k, v) = match r.value {
            Value::IntervalKwh(v) => (0, v),
            Value::Kw(v) => (1, v),
            Value::RegisterKwh(v) => (2, v),
        };
        self.line.clear();
        // Serialising a plain struct of strings and numbers into a Vec cannot fail.
        let _ = serde_json::to_writer(
            &mut self.line,
            &WalLine {
                m: &r.meter,
                t: r.ts,
                k,
                v,
            },
        );
        self.line.push(b'\n');
        self.wal
            .write_all(&self.line)
            .map_err(|source| StoreError::Io {
                path: wal_path(&self.dir, self.generation),
                source,
            })?;
        self.n_unsynced += 1;
        Ok(())
    }

    /// Lines appended since the last sync.
    pub fn n_unsynced(&self) -> u64 {
        self.n_unsynced
    }

    /// Flushes and `fsync`s the log: every appended reading is now durable.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        if self.n_unsynced == 0 {
            return Ok(());
        }
        let path = wal_path(&self.dir, self.generation);
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        self.wal.flush().map_err(io)?;
        self.wal.get_ref().sync_data().map_err(io)?;
        self.n_unsynced = 0;
        Ok(())
    }

    /// Writes a snapshot of `table` and drops the WAL files it makes redundant. The caller
    /// must have applied every appended reading to `table`.
    pub fn checkpoint(&mut self, table: &MeterTable) -> Result<(), StoreError> {
        self.sync()?;
        // Start the next generation first: readings after this point go there, and a crash
        // before the rename leaves the old snapshot plus every WAL file, which is still whole.
        let next = self.generation + 1;
        let next_path = wal_path(&self.dir, next);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&next_path)
            .map_err(io(&next_path))?;
        self.wal = BufWriter::with_capacity(1 << 16, file);
        self.generation = next;
        let mut bytes = Vec::with_capacity(64 + table.len() * 8300);
        bytes.extend_from_slice(SNAPSHOT_MAGIC);
        bytes.extend_from_slice(&next.to_le_bytes());
        table.encode(&mut bytes);
        let tmp = self.dir.join("snapshot.bin.tmp");
        let fin = self.dir.join("snapshot.bin");
        {
            let mut f = File::create(&tmp).map_err(io(&tmp))?;
            f.write_all(&bytes).map_err(io(&tmp))?;
            f.sync_all().map_err(io(&tmp))?;
        }
        fs::rename(&tmp, &fin).map_err(io(&fin))?;
        sync_dir(&self.dir).map_err(io(&self.dir))?;
        for g in wal_generations(&self.dir).map_err(io(&self.dir))? {
            if g < next {
                let _ = fs::remove_file(wal_path(&self.dir, g));
            }
        }
        Ok(())
    }
}

fn decode_snapshot(bytes: &[u8], limits: TableLimits) -> Option<(u64, MeterTable)> {
    let (closed_masks, rest) = match bytes.strip_prefix(SNAPSHOT_MAGIC) {
        Some(rest) => (true, rest),
        None => (false, bytes.strip_prefix(SNAPSHOT_MAGIC_V2)?),
    };
    let (generation, mut rest) = rest.split_at_checked(8)?;
    let generation = u64::from_le_bytes(generation.try_into().ok()?);
    // Windows written with another `window_days` are fitted to the current one.
    let table = limits.table().restore(&mut rest, closed_masks)?;
    rest.is_empty().then_some((generation, table))
}

fn wal_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("wal-{generation:012}.jsonl"))
}

/// The generations of the WAL files present, ascending.
fn wal_generations(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(g) = name
            .strip_prefix("wal-")
            .and_then(|s| s.strip_suffix(".jsonl"))
            .and_then(|s| s.parse().ok())
        {
            out.push(g);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// `fsync` on a directory makes a rename or a new file in it durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::series::Unit;

    const LIMITS: TableLimits = TableLimits {
        max_meters: 1000,
        rescore_every_hours: 1,
        max_kw: 1e5,
        window: WindowDays::DEFAULT,
    };

    fn reading(meter: &str, ts: i64, kwh: f64) -> Reading {
        Reading {
            meter: meter.into(),
            ts,
            value: Value::IntervalKwh(kwh),
        }
    }

    /// Applies and logs readings the way ingest does.
    fn ingest(store: &mut Store, table: &mut MeterTable, rows: &[Reading]) {
        for r in rows {
            if table.apply(&r.meter, r.ts, r.value).changed_state() {
                store.append(r).unwrap();
            }
        }
        store.sync().unwrap();
    }

    #[test]
    fn synced_readings_survive_a_crash_without_a_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, mut table, _) = Store::open(dir.path(), LIMITS).unwrap();
        ingest(
            &mut store,
            &mut table,
            &[
                reading("a", 0, 1.0),
                reading("a", 3600, 2.0),
                reading("a", 3600, 2.0),
            ],
        );
        drop(store);
        let (_, back, rec) = Store::open(dir.path(), LIMITS).unwrap();
        assert_eq!(
            rec,
            Recovery {
                from_snapshot: false,
                n_replayed: 2,
                n_torn: 0
            }
        );
        assert_eq!(back.get("a"), table.get("a"));
        assert_eq!(back.n_accepted, 2);
    }

    #[test]
    fn a_snapshot_plus_later_wal_restores_the_table_and_old_wal_is_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, mut table, _) = Store::open(dir.path(), LIMITS).unwrap();
        ingest(
            &mut store,
            &mut table,
            &[reading("a", 0, 1.0), reading("b", 0, 1.0)],
        );
        store.checkpoint(&table).unwrap();
        ingest(&mut store, &mut table, &[reading("a", 3600, 3.0)]);
        drop(store);
        assert_eq!(wal_generations(dir.path()).unwrap().len(), 1);
        let (_, back, rec) = Store::open(dir.path(), LIMITS).unwrap();
        assert_eq!(
            rec,
            Recovery {
                from_snapshot: true,
                n_replayed: 1,
                n_torn: 0
            }
        );
        assert_eq!(back.get("a"), table.get("a"));
        assert_eq!(back.get("b"), table.get("b"));
    }

    #[test]
    fn a_torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, mut table, _) = Store::open(dir.path(), LIMITS).unwrap();
        ingest(&mut store, &mut table, &[reading("a", 0, 1.0)]);
        let path = wal_path(dir.path(), store.generation);
        drop(store);
        let mut f = OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(br#"{"m":"a","t":36"#).unwrap();
        let (_, back, rec) = Store::open(dir.path(), LIMITS).unwrap();
        assert_eq!((rec.n_replayed, rec.n_torn), (1, 1));
        assert_eq!(back.get("a"), table.get("a"));
    }

    #[test]
    fn a_snapshot_written_with_longer_windows_loads_trimmed_to_the_configured_window() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, mut table, _) = Store::open(dir.path(), LIMITS).unwrap();
        let rows: Vec<Reading> = (0..100 * 24).map(|h| reading("a", h * 3600, 1.0)).collect();
        ingest(&mut store, &mut table, &rows);
        store.checkpoint(&table).unwrap();
        ingest(
            &mut store,
            &mut table,
            &[reading("a", 100 * 24 * 3600, 2.0)],
        );
        drop(store);
        let days = WindowDays::new(28).unwrap();
        let limits = TableLimits {
            window: days,
            ..LIMITS
        };
        let (_, back, rec) = Store::open(dir.path(), limits).unwrap();
        assert_eq!((rec.from_snapshot, rec.n_replayed), (true, 1));
        assert_eq!(back.window(), days);
        let series = back.get("a").unwrap().window.series(Unit::Kwh);
        assert_eq!(series.start_hour, 100 * 24 - 28 * 24);
        assert_eq!(series.kw.len(), 28 * 24 + 1);
        assert_eq!(series.kw.last(), Some(&2.0));
    }

    #[test]
    fn a_corrupt_snapshot_is_an_error_not_a_silent_reset() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("snapshot.bin"), b"garbage").unwrap();
        assert!(matches!(
            Store::open(dir.path(), LIMITS),
            Err(StoreError::CorruptSnapshot(_))
        ));
    }
}
