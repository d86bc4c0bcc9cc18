//! `--max-bad-share` end to end, once per command that reads dumps: a dump with more bad
//! rows than the share allows is refused with exit status 2, the bad-row summary and an
//! error naming the file, and nothing is written. Every command takes the same gate
//! (`ReadArgs::accept` in src/commands/common.rs); these tests make sure each one calls it.

mod common;

use std::path::{Path, PathBuf};

use common::{code, flatline, repo, stderr};

/// A dump of 10 rows, 3 of them bad (30%): over the default 5% share.
fn misread_dump(dir: &Path) -> PathBuf {
    let path = dir.join("misread.csv");
    let mut text = String::from("meter_id,timestamp,kwh\n");
    for h in 0..7 {
        text.push_str(&format!("m1,2024-01-01 0{h}:00,0.5\n"));
    }
    for _ in 0..3 {
        text.push_str("m1,01/13/2024 25:00,0.5\n");
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `flatline BEFORE… DUMP AFTER…` on the misread dump and checks the refusal. `after`
/// may name files in the temporary directory as `{dir}`; none of `outputs` may appear there.
fn check_refused(before: &[&str], after: &[&str], outputs: &[&str]) {
    let command = before[0];
    let dir = tempfile::tempdir().unwrap();
    let dump = misread_dump(dir.path());
    let dir_text = dir.path().display().to_string();
    let after: Vec<String> = after
        .iter()
        .map(|a| a.replace("{dir}", &dir_text))
        .collect();
    let mut argv = before.to_vec();
    argv.push(dump.to_str().unwrap());
    argv.extend(after.iter().map(String::as_str));
    let run = flatline(&argv);
    let err = stderr(&run);
    assert_eq!(code(&run), 2, "{command}: {err}");
    assert!(
        err.contains("bad timestamp: 3"),
        "{command} prints the summary: {err}"
    );
    let error = err
        .lines()
        .find(|l| l.starts_with("flatline: error:"))
        .unwrap_or_else(|| panic!("{command}: no error line in {err}"));
    assert!(
        error.contains("30.0% of the 10 rows read are bad in ")
            && error.contains(dump.to_str().unwrap())
            && error.contains("more than --max-bad-share 5.0%"),
        "{command}: {error}"
    );
    for output in outputs {
        assert!(
            !dir.path().join(output).exists(),
            "{command} wrote {output} from a misread dump"
        );
    }
}

#[test]
fn scan_refuses_a_dump_over_the_bad_share() {
    check_refused(&["scan"], &["--out", "{dir}/scan.csv"], &["scan.csv"]);
}

#[test]
fn train_refuses_a_dump_over_the_bad_share() {
    let labels = repo("sample-meters/labels.csv");
    check_refused(
        &["train"],
        &[
            "--labels",
            labels.to_str().unwrap(),
            "--model-out",
            "{dir}/model.json",
        ],
        &["model.json"],
    );
}

#[test]
fn eval_refuses_a_dump_over_the_bad_share() {
    let labels = repo("sample-meters/labels.csv");
    check_refused(
        &["eval"],
        &[
            "--labels",
            labels.to_str().unwrap(),
            "--json",
            "{dir}/eval.json",
        ],
        &["eval.json"],
    );
}

#[test]
fn report_refuses_a_dump_over_the_bad_share() {
    check_refused(&["report", "m1"], &["--out", "{dir}/m1.png"], &["m1.png"]);
}

#[test]
fn inject_refuses_a_dump_over_the_bad_share() {
    check_refused(
        &["inject"],
        &[
            "--out",
            "{dir}/injected.csv",
            "--labels",
            "{dir}/labels.csv",
        ],
        &["injected.csv", "labels.csv"],
    );
}

#[test]
fn publish_refuses_a_dump_over_the_bad_share_before_connecting() {
    // Port 9 (discard) on loopback: nothing listens, so a publish that got as far as
    // connecting would fail differently (or retry); the refusal comes first.
    check_refused(&["publish"], &["--broker", "mqtt://127.0.0.1:9"], &[]);
}

#[test]
fn a_higher_share_lets_the_same_dump_through() {
    // The same dump with --max-bad-share 0.5 gets past the gate: scan reads it and judges
    // the meter (too little data to flag), exit 0, the summary still printed.
    let dir = tempfile::tempdir().unwrap();
    let dump = misread_dump(dir.path());
    let run = flatline(&["scan", dump.to_str().unwrap(), "--max-bad-share", "0.5"]);
    let err = stderr(&run);
    assert_eq!(code(&run), 0, "{err}");
    assert!(err.contains("bad timestamp: 3"), "{err}");
}
