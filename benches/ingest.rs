//! Ingest throughput: `cargo bench --bench ingest`.
//!
//! Generates a long CSV of 1,000 meters × 5,000 half-hours (5 M rows, meters interleaved,
//! naive `YYYY-MM-DD HH:MM:SS` stamps) into a temporary file, then times, in the same run,
//! a bare `csv` crate row count over that file (the floor: splitting bytes into fields and
//! nothing else) and `flatline::ingest::read_paths` into a `Fleet` (everything: fields,
//! timestamps, values, hashing the meter id, hour bins) on one thread and with the parsing
//! on all of them. It prints readings per second and the ratios to the floor, then `flatline scan` end to end (read, hourly series, every
//! meter judged by the shipped model) on one thread and on all, then the rate on the real
//! datasets when they are present
//! (`$FLATLINE_DATASETS`, else `../shared/datasets` beside the crate root).
//! Plain `std::time::Instant`, best of a few runs; no statistics framework.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flatline::core::{Fleet, Unit};
use flatline::ingest::{read_paths, ReadOptions};

const N_METERS: usize = 1_000;
const N_STEPS: i64 = 5_000;
const N_RUNS: usize = 3;

fn main() {
    let tmp = tempfile::TempDir::new().expect("temp dir");
    let path = tmp.path().join("long.csv");
    let started = Instant::now();
    let n_bytes = write_long_csv(&path);
    let n_rows = N_METERS as u64 * N_STEPS as u64;
    println!(
        "generated {n_rows} rows, {:.0} MB, in {:.1} s",
        n_bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    let bare = best_of(|| {
        let rows = bare_csv_row_count(&path);
        assert_eq!(rows, n_rows);
    });
    // The reader on one thread, then with the parsing on all of them (the default).
    let read_with = |n_threads: usize| {
        let opts = ReadOptions {
            n_threads,
            ..ReadOptions::default()
        };
        best_of(|| {
            let mut fleet = Fleet::new();
            let summary =
                read_paths(std::slice::from_ref(&path), &opts, &mut fleet, None).expect("read");
            assert_eq!((summary.n_accepted, fleet.len()), (n_rows, N_METERS));
        })
    };
    let full_1 = read_with(1);
    let full_all = read_with(0);
    let rate = |d: Duration| n_rows as f64 / d.as_secs_f64();
    println!(
        "bare csv row count           : {:>6.2} M rows/s ({:.3} s)",
        rate(bare) / 1e6,
        bare.as_secs_f64()
    );
    println!(
        "read_paths → Fleet, 1 thread : {:>6.2} M readings/s ({:.3} s)",
        rate(full_1) / 1e6,
        full_1.as_secs_f64()
    );
    println!(
        "read_paths → Fleet, {} threads: {:>6.2} M readings/s ({:.3} s)",
        rayon::current_num_threads(),
        rate(full_all) / 1e6,
        full_all.as_secs_f64()
    );
    println!(
        "ratio (read_paths 1 thread / bare csv time): {:.2}; all threads: {:.2}",
        full_1.as_secs_f64() / bare.as_secs_f64(),
        full_all.as_secs_f64() / bare.as_secs_f64()
    );

    // End to end as `flatline scan` does it: read, finish every meter's hourly series,
    // judge every meter with the shipped model. Once on one thread (the per-core rate),
    // once on all of them.
    let model = flatline::core::Model::embedded();
    let scan_once = || {
        let (series, summary) =
            flatline::scan::load_series(std::slice::from_ref(&path), &ReadOptions::default(), None)
                .expect("read");
        let assessed = flatline::scan::assess_all(&series, None, model, 0, None);
        assert_eq!((summary.n_accepted, assessed.len()), (n_rows, N_METERS));
    };
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    let scan_1 = best_of(|| one.install(scan_once));
    let scan_all = best_of(scan_once);
    println!(
        "scan end to end, 1 thread   : {:>6.2} M readings/s ({:.3} s)",
        rate(scan_1) / 1e6,
        scan_1.as_secs_f64()
    );
    println!(
        "scan end to end, {} threads : {:>6.2} M readings/s ({:.3} s)",
        rayon::current_num_threads(),
        rate(scan_all) / 1e6,
        scan_all.as_secs_f64()
    );
    println!(
        "ratio (scan 1 thread / bare csv time): {:.2}; all threads: {:.2}",
        scan_1.as_secs_f64() / bare.as_secs_f64(),
        scan_all.as_secs_f64() / bare.as_secs_f64()
    );

    let datasets = datasets_dir();
    for (folder, unit) in [
        ("lcl_london_halfhourly_2013", None),
        ("enernoc_2012_commercial", Some(Unit::Kwh)),
    ] {
        let dir = datasets.join(folder);
        if !dir.is_dir() {
            println!("{folder}: not found under {}, skipped", datasets.display());
            continue;
        }
        for n_threads in [1, 0] {
            let opts = ReadOptions {
                unit,
                n_threads,
                ..ReadOptions::default()
            };
            let mut n = 0;
            let took = best_of(|| {
                let mut fleet = Fleet::new();
                n = read_paths(std::slice::from_ref(&dir), &opts, &mut fleet, None)
                    .expect("read")
                    .n_accepted;
            });
            let threads = match n_threads {
                0 => format!("{} threads", rayon::current_num_threads()),
                n => format!("{n} thread"),
            };
            println!(
                "{folder} (gzip, {threads}): {n} rows, {:.2} M rows/s ({:.3} s)",
                n as f64 / took.as_secs_f64() / 1e6,
                took.as_secs_f64()
            );
        }
    }
}

/// Writes the synthetic dump and returns its size in bytes.
fn write_long_csv(path: &Path) -> u64 {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).expect("create"));
    writeln!(out, "meter_id,timestamp,kwh").unwrap();
    // 2013-01-01 00:00:00 UTC, stepping half an hour.
    let start = 1_356_998_400i64;
    for step in 0..N_STEPS {
        let ts = start + step * 1800;
        let (days, secs) = (ts.div_euclid(86_400), ts.rem_euclid(86_400));
        let (y, m, d) = civil_from_days(days);
        let stamp = format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:00",
            secs / 3600,
            secs % 3600 / 60
        );
        for meter in 0..N_METERS {
            // A cheap deterministic value with a few decimals, like real kWh readings.
            let value = ((step as usize * 31 + meter * 17) % 1000) as f32 / 997.0;
            writeln!(out, "MAC{meter:06},{stamp},{value:.3}").unwrap();
        }
    }
    out.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

/// The inverse of days-from-civil (Howard Hinnant), for writing dates.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The floor: the csv crate splitting the same file into records, with the same buffer size.
fn bare_csv_row_count(path: &Path) -> u64 {
    let file = std::fs::File::open(path).expect("open");
    let mut reader = csv::ReaderBuilder::new()
        .buffer_capacity(256 * 1024)
        .from_reader(file);
    let mut record = csv::ByteRecord::new();
    let mut n = 0;
    while reader.read_byte_record(&mut record).expect("csv") {
        n += 1;
    }
    n
}

/// The shortest of [`N_RUNS`] runs of `f` (the file is in the page cache after the first).
fn best_of(mut f: impl FnMut()) -> Duration {
    (0..N_RUNS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .expect("at least one run")
}

/// Same lookup as the tests (`tests/support/require.rs`).
fn datasets_dir() -> PathBuf {
    match std::env::var_os("FLATLINE_DATASETS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets"),
    }
}
