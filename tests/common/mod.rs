//! Helpers shared by the CLI integration tests: how to run the `flatline` binary and read
//! what it wrote. (Where the real datasets are, and what a test does without them, is
//! `support/require.rs`.)

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A path inside the repository.
pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Runs `flatline ARGS…` and returns its output.
pub fn flatline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flatline"))
        .args(args)
        .output()
        .expect("the flatline binary runs")
}

/// The exit code of a run (panics if killed by a signal).
pub fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

/// Standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Reads a CSV file with a header into rows of (column → value).
pub fn read_csv(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut rdr = csv::Reader::from_path(path).expect("csv output exists");
    let headers = rdr.headers().unwrap().clone();
    rdr.records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}
