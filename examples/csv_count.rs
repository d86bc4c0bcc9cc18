//! The floor for `bench/run.sh`: count the records of CSV files with the same `csv` crate,
//! the same reader settings and the same buffer size that `flatline scan` uses, and do
//! nothing else with them. The difference between this and `flatline scan` on the same
//! file is the cost of everything flatline does beyond splitting bytes into fields.
//!
//! Usage: `cargo run --release --example csv_count -- FILE...` prints the number of data
//! rows (the header excluded) on stdout.

use std::process::ExitCode;

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: csv_count FILE...");
        return ExitCode::from(2);
    }
    let mut n_rows: u64 = 0;
    for path in &paths {
        match count_rows(path) {
            Ok(n) => n_rows += n,
            Err(e) => {
                eprintln!("csv_count: {path}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    println!("{n_rows}");
    ExitCode::SUCCESS
}

/// Counts the data records of one plain CSV file; one reused record, no allocation per row.
fn count_rows(path: &str) -> csv::Result<u64> {
    let file = std::fs::File::open(path)?;
    // 256 KiB, as `flatline::ingest` reads (its `source::BUFFER_BYTES` is private).
    let mut reader = csv::ReaderBuilder::new()
        .buffer_capacity(256 * 1024)
        .flexible(true)
        .from_reader(file);
    let mut record = csv::ByteRecord::new();
    let mut n = 0;
    while reader.read_byte_record(&mut record)? {
        n += 1;
    }
    Ok(n)
}
