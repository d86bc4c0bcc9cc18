//! What an integration test needs from outside the repository, and the one rule for when it
//! is missing: the real datasets (`$FLATLINE_DATASETS`, else `../shared/datasets` beside the
//! crate root) and programs such as `mosquitto`.
//!
//! On a fresh clone without them the test skips: it prints one line naming itself and what
//! is missing, and returns. With `FLATLINE_REQUIRE_ALL=1` (CI sets it, see `.ci/run`) a
//! missing dependency is a failure instead, so CI can never pass by skipping.
//!
//! The skip line goes straight to the process's standard error, past libtest's output
//! capture, so it shows in a plain `cargo test` run.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

/// The environment variable that turns every skip into a failure.
pub const REQUIRE_ALL: &str = "FLATLINE_REQUIRE_ALL";

/// The real datasets' root: `$FLATLINE_DATASETS`, else `../shared/datasets` beside the
/// crate root. The folder need not exist; see [`dataset`].
pub fn datasets_dir() -> PathBuf {
    match std::env::var_os("FLATLINE_DATASETS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets"),
    }
}

/// The dataset folder `name` under [`datasets_dir`], or `None` (after the skip line) when
/// it is not there. Panics instead under `FLATLINE_REQUIRE_ALL=1`.
pub fn dataset(name: &str) -> Option<PathBuf> {
    let dir = datasets_dir().join(name);
    if dir.is_dir() {
        return Some(dir);
    }
    missing(&format!(
        "the dataset {} (set FLATLINE_DATASETS to the folder holding {name}/)",
        dir.display()
    ));
    None
}

/// Whether the program `name` is on `PATH`; if not, prints the skip line (or panics under
/// `FLATLINE_REQUIRE_ALL=1`) and returns false.
pub fn program(name: &str) -> bool {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()));
    if !on_path {
        missing(&format!("`{name}` on PATH"));
    }
    on_path
}

/// Reports a missing dependency of the running test: a failure under
/// `FLATLINE_REQUIRE_ALL=1`, else one skip line on standard error.
fn missing(what: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    if std::env::var(REQUIRE_ALL).is_ok_and(|v| v == "1") {
        panic!("{test} needs {what}, and {REQUIRE_ALL}=1 forbids skipping it");
    }
    let _ = writeln!(
        std::io::stderr(),
        "skipped {test}: needs {what}; {REQUIRE_ALL}=1 makes this a failure"
    );
}
