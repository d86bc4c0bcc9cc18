//! `flatline scan`, `train` and `report` end to end: the binary on the sample fleet, on bad
//! input, and on the real datasets (clean as they are, and with miners injected).

mod common;
mod support {
    pub mod require;
}

use std::collections::BTreeSet;

use common::{code, flatline, read_csv, repo, stderr};
use support::require;

const SAMPLE: &str = "sample-meters/fleet.csv.gz";

/// Meter ids in the sample labelled as mining, optionally leaving out the licensed one.
fn sample_miners(include_licensed: bool) -> BTreeSet<String> {
    read_csv(&repo("sample-meters/labels.csv"))
        .into_iter()
        .filter(|r| r["mining"] == "true" && (include_licensed || r["kind"] != "miner_licensed"))
        .map(|r| r["meter_id"].clone())
        .collect()
}

fn flagged_in(path: &std::path::Path) -> BTreeSet<String> {
    read_csv(path)
        .into_iter()
        .filter(|r| r["flagged"] == "true")
        .map(|r| r["meter_id"].clone())
        .collect()
}

/// `flatline scan` of the sample fleet with `extra` options, written to `out`, quietly.
fn scan_sample(out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let sample = repo(SAMPLE);
    let mut args = vec!["scan", sample.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--out", out.to_str().unwrap(), "-q"]);
    flatline(&args)
}

#[test]
fn scanning_the_sample_flags_exactly_the_hidden_miners_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.csv");
    let run = scan_sample(
        &out,
        &[
            "--registry",
            repo("sample-meters/registry.csv").to_str().unwrap(),
            "--all",
        ],
    );
    assert_eq!(code(&run), 1, "{}", stderr(&run));
    assert_eq!(flagged_in(&out), sample_miners(false));
    let rows = read_csv(&out);
    let licensed = rows.iter().find(|r| r["meter_id"] == "MTR00011").unwrap();
    assert_eq!(
        licensed["status"], "allowed",
        "the registry silences the licensed farm"
    );
    assert_eq!(rows.len(), 82, "--all writes every meter");
}

#[test]
fn without_a_registry_the_licensed_farm_is_a_suspect_too() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.csv");
    let run = scan_sample(&out, &[]);
    assert_eq!(code(&run), 1);
    assert_eq!(flagged_in(&out), sample_miners(true));
}

#[test]
fn the_csv_carries_the_evidence_an_analyst_needs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.csv");
    scan_sample(&out, &[]);
    let header = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    for col in [
        "meter_id",
        "score",
        "flagged",
        "level_kw",
        "est_rigs",
        "excess_kwh_per_day",
        "since",
        "reasons",
    ] {
        assert!(
            header.split(',').any(|h| h == col),
            "missing {col} in {header}"
        );
    }
    for r in read_csv(&out) {
        let score: f64 = r["score"].parse().unwrap();
        assert!((0.0..=1.0).contains(&score));
        assert!(
            r["reasons"].contains("kW"),
            "reasons name the load: {}",
            r["reasons"]
        );
        assert!(r["since"].ends_with('Z'));
    }
}

#[test]
fn json_output_is_one_object_per_flagged_meter_with_rank_and_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    scan_sample(&out, &["--json"]);
    let text = std::fs::read_to_string(&out).unwrap();
    let objs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs.len(), sample_miners(true).len());
    for (i, o) in objs.iter().enumerate() {
        assert_eq!(o["rank"], i + 1);
        assert_eq!(o["flagged"], true);
        assert!(o["reasons"].as_array().unwrap().len() >= 2);
    }
}

#[test]
fn the_terminal_table_ranks_suspects_with_their_reasons() {
    let run = flatline(&[
        "scan",
        repo(SAMPLE).to_str().unwrap(),
        "--registry",
        repo("sample-meters/registry.csv").to_str().unwrap(),
    ]);
    let table = String::from_utf8_lossy(&run.stdout);
    assert!(table.starts_with("rank"), "{table}");
    for m in sample_miners(false) {
        assert!(table.contains(&m), "{m} missing from\n{table}");
    }
    assert!(table.contains("6 suspects among 82 meters"), "{table}");
}

#[test]
fn scanning_as_of_a_moment_before_any_switch_on_finds_nothing() {
    // The earliest onset in the sample is 2024-01-11 12:45 (the licensed farm).
    let run = flatline(&[
        "scan",
        repo(SAMPLE).to_str().unwrap(),
        "--until",
        "2024-01-11",
        "-q",
    ]);
    assert_eq!(code(&run), 0, "{}", stderr(&run));
}

#[test]
fn scanning_as_of_a_day_after_a_switch_on_finds_that_miner() {
    // MTR00063 (7 rigs in a home) switched on 2024-01-19 19:35.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.csv");
    let run = scan_sample(&out, &["--until", "2024-01-20T20:00:00Z"]);
    assert_eq!(code(&run), 1);
    assert!(flagged_in(&out).contains("MTR00063"));
    assert!(
        !flagged_in(&out).contains("MTR00017"),
        "MTR00017 switches on only on 29 Jan"
    );
}

/// Writes a small long-CSV dump: one flat 6 kW meter switched on after 10 days of a home,
/// and one home, with `bad` malformed lines inserted after line 5.
fn small_dump(dir: &std::path::Path, bad: &[&str]) -> std::path::PathBuf {
    let mut text = String::from("meter_id,timestamp,kwh\n");
    let mut n = 0;
    for h in 0..(20 * 24) {
        let hod = h % 24;
        let home =
            if (17..22).contains(&hod) { 2.0 } else { 0.3 } * (1.0 + 0.1 * ((h / 24) % 3) as f64);
        let t = 1_704_067_200 + h * 3600;
        text.push_str(&format!("home,{t},{home:.3}\n"));
        text.push_str(&format!(
            "miner,{t},{:.3}\n",
            home + if h >= 10 * 24 { 6.5 } else { 0.0 }
        ));
        n += 1;
        if n == 2 {
            for b in bad {
                text.push_str(b);
                text.push('\n');
            }
        }
    }
    let p = dir.join("dump.csv");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn bad_rows_are_counted_with_file_and_line_and_the_rest_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let p = small_dump(
        dir.path(),
        &["home,not-a-time,1.0", "home,1704070000,-3", "garbage"],
    );
    let run = flatline(&["scan", p.to_str().unwrap()]);
    let err = stderr(&run);
    assert_eq!(code(&run), 1, "the miner is still found: {err}");
    assert!(err.contains("dump.csv:6"), "names file and line: {err}");
    assert!(
        err.contains("dump.csv:7") && err.contains("dump.csv:8"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&run.stdout).contains("miner"));
}

#[test]
fn a_scan_with_too_many_bad_rows_exits_2_with_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let bad: Vec<String> = (0..100).map(|i| format!("home,never,{i}")).collect();
    let bad: Vec<&str> = bad.iter().map(String::as_str).collect();
    let p = small_dump(dir.path(), &bad);
    let run = flatline(&["scan", p.to_str().unwrap(), "--max-bad-share", "0.005"]);
    assert_eq!(code(&run), 2);
    assert!(stderr(&run).contains("--max-bad-share"), "{}", stderr(&run));
}

#[test]
fn a_missing_file_is_a_one_line_error_with_exit_2() {
    let run = flatline(&["scan", "/nonexistent/meters.csv"]);
    assert_eq!(code(&run), 2);
    let err = stderr(&run);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/meters.csv"), "{err}");
}

#[test]
fn a_file_that_is_not_a_meter_dump_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("notes.csv");
    std::fs::write(&p, "name,age\nann,3\n").unwrap();
    let run = flatline(&["scan", p.to_str().unwrap()]);
    assert_eq!(code(&run), 2);
    assert_eq!(stderr(&run).trim().lines().count(), 1, "{}", stderr(&run));
}

#[test]
fn a_model_trained_on_other_features_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo("models/default.json")).unwrap())
            .unwrap();
    model["feature_names"] = serde_json::json!(["mean", "max"]);
    let p = dir.path().join("old.json");
    std::fs::write(&p, model.to_string()).unwrap();
    let run = flatline(&[
        "scan",
        repo(SAMPLE).to_str().unwrap(),
        "--model",
        p.to_str().unwrap(),
    ]);
    assert_eq!(code(&run), 2);
    let err = stderr(&run);
    assert!(err.contains("old.json") && err.contains("retrain"), "{err}");
}

#[test]
fn a_model_file_that_cannot_be_read_is_an_io_error_not_a_parse_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-model.json");
    let run = flatline(&[
        "scan",
        repo("sample-meters").to_str().unwrap(),
        "--model",
        missing.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code(&run), 2);
    let err = stderr(&run);
    assert!(err.contains("cannot read the model"), "{err}");
    assert!(!err.contains("not a flatline model"), "{err}");
}

#[test]
fn the_embedded_model_is_the_shipped_default() {
    let bytes = std::fs::read(repo("models/default.json")).unwrap();
    let shipped = flatline::core::Model::from_bytes(&bytes, "models/default.json").unwrap();
    let embedded = flatline::core::Model::embedded();
    assert_eq!(shipped.to_json(), embedded.to_json());
}

#[test]
fn train_writes_a_model_that_scan_loads_and_uses() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.json");
    let run = flatline(&[
        "train",
        repo(SAMPLE).to_str().unwrap(),
        "--labels",
        repo("sample-meters/labels.csv").to_str().unwrap(),
        "--clusters",
        "8",
        "--peer-clusters",
        "3",
        "--model-out",
        model.to_str().unwrap(),
    ]);
    assert_eq!(code(&run), 0, "{}", stderr(&run));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    assert_eq!(m["format_version"], 1);
    assert!(m["training"]["command"].as_str().unwrap().contains("train"));
    let out = dir.path().join("out.csv");
    let scan = scan_sample(&out, &["--model", model.to_str().unwrap()]);
    assert_eq!(code(&scan), 1, "{}", stderr(&scan));
    // Trained and scanned on the same small fleet: the big miners must come out.
    let flagged = flagged_in(&out);
    for m in ["MTR00053", "MTR00063", "MTR00072", "MTR00081"] {
        assert!(flagged.contains(m), "{m} not in {flagged:?}");
    }
}

#[test]
fn report_writes_a_page_for_a_meter_that_was_not_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("clean.png");
    let run = flatline(&[
        "report",
        "MTR00045",
        repo(SAMPLE).to_str().unwrap(),
        "--out",
        png.to_str().unwrap(),
    ]);
    assert_eq!(code(&run), 0, "{}", stderr(&run));
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
}

#[test]
fn scan_report_dir_holds_one_page_per_suspect_an_overview_and_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("reports");
    let run = flatline(&[
        "scan",
        repo(SAMPLE).to_str().unwrap(),
        "--report-dir",
        rep.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code(&run), 1);
    let names: Vec<String> = std::fs::read_dir(&rep)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.contains(&"overview.png".to_string()) && names.contains(&"index.html".to_string())
    );
    let pngs = names
        .iter()
        .filter(|n| n.starts_with("MTR") && n.ends_with(".png"))
        .count();
    assert_eq!(pngs, sample_miners(true).len());
}

// ---- Real data: ../shared/datasets ----

/// The London households' folder, or `None` when the test skips without it.
fn lcl() -> Option<String> {
    require::dataset("lcl_london_halfhourly_2013").map(|dir| dir.display().to_string())
}

/// The US businesses' folder, or `None` when the test skips without it.
fn enernoc() -> Option<String> {
    require::dataset("enernoc_2012_commercial").map(|dir| dir.display().to_string())
}

#[test]
fn no_real_household_is_flagged_at_any_quarter_end() {
    let Some(lcl) = lcl() else {
        return;
    };
    for until in ["2013-03-31", "2013-06-30", "2013-09-30", "2014-01-01"] {
        let run = flatline(&["scan", &lcl, "--until", until, "-q"]);
        assert_eq!(
            code(&run),
            0,
            "as of {until}: {}",
            String::from_utf8_lossy(&run.stdout)
        );
    }
}

#[test]
fn the_real_dumps_scanned_as_they_are_have_no_suspects() {
    let Some(lcl) = lcl() else {
        return;
    };
    let Some(enernoc) = enernoc() else {
        return;
    };
    let run = flatline(&["scan", &lcl, "-q"]);
    assert_eq!(code(&run), 0, "{}", String::from_utf8_lossy(&run.stdout));
    let run = flatline(&["scan", &enernoc, "--unit", "kwh", "-q"]);
    assert_eq!(code(&run), 0, "{}", String::from_utf8_lossy(&run.stdout));
}

#[test]
fn real_businesses_are_almost_never_flagged_at_quarter_ends() {
    let Some(enernoc) = enernoc() else {
        return;
    };
    // 20 sites × 4 quarter ends. One known false alarm (docs/quality.md): school 197 on
    // 30 June 2012, its cooling running round the clock since 21 June — by load alone a
    // flat step. 1 of 80 is the measured 1.25%. (Food processor 674 going round-the-clock
    // in June and 197 in September were flagged before the added-load test; what they
    // added is not flat.)
    let mut flagged = Vec::new();
    for until in ["2012-03-31", "2012-06-30", "2012-09-30", "2013-01-01"] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.csv");
        flatline(&[
            "scan",
            &enernoc,
            "--unit",
            "kwh",
            "--until",
            until,
            "--out",
            out.to_str().unwrap(),
            "-q",
        ]);
        flagged.extend(flagged_in(&out).into_iter().map(|m| format!("{m}@{until}")));
    }
    assert!(flagged.len() <= 1, "{flagged:?}");
}

/// Injects miners into a real folder with a seed the default model was not trained on,
/// scans the result, and returns (recall, false-positive rate).
fn inject_and_scan(folder: &str, extra: &[&str], seed: &str) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("inj.csv.gz");
    let labels = dir.path().join("labels.csv");
    let mut args = vec![
        "inject", folder, "--cut", "quarter", "--share", "0.25", "--seed", seed,
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[
        "--out",
        dump.to_str().unwrap(),
        "--labels",
        labels.to_str().unwrap(),
    ]);
    let run = flatline(&args);
    assert_eq!(code(&run), 0, "{}", stderr(&run));
    let out = dir.path().join("scan.csv");
    let mut args = vec![
        "scan",
        dump.to_str().unwrap(),
        "--all",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ];
    args.extend_from_slice(extra);
    flatline(&args);
    let flagged = flagged_in(&out);
    // Pieces too short to judge (EnerNOC's one-reading year-end pieces) are not counted.
    let judged: BTreeSet<String> = read_csv(&out)
        .into_iter()
        .filter(|r| r["status"] != "insufficient_data")
        .map(|r| r["meter_id"].clone())
        .collect();
    let rows: Vec<_> = read_csv(&labels)
        .into_iter()
        .filter(|r| judged.contains(&r["meter_id"]))
        .collect();
    let miners: Vec<_> = rows.iter().filter(|r| r["mining"] == "true").collect();
    let clean: Vec<_> = rows.iter().filter(|r| r["mining"] == "false").collect();
    let found = miners
        .iter()
        .filter(|r| flagged.contains(&r["meter_id"]))
        .count();
    let false_alarms = clean
        .iter()
        .filter(|r| flagged.contains(&r["meter_id"]))
        .count();
    (
        found as f64 / miners.len() as f64,
        false_alarms as f64 / clean.len() as f64,
    )
}

#[test]
fn miners_injected_into_real_households_are_found_without_false_alarms() {
    // Measured with the shipped model: 49 of 49 (docs/quality.md); the target is 0.98.
    let Some(lcl) = lcl() else {
        return;
    };
    let (recall, fpr) = inject_and_scan(&lcl, &[], "1001");
    assert!(recall >= 0.95, "recall {recall}");
    assert!(fpr <= 0.01, "false-positive rate {fpr}");
}

#[test]
fn farms_injected_into_real_businesses_are_mostly_found_with_few_false_alarms() {
    // Measured with the shipped model: 17 of 20, no clean site flagged (docs/quality.md); the
    // target is 0.8.
    let Some(enernoc) = enernoc() else {
        return;
    };
    let (recall, fpr) = inject_and_scan(&enernoc, &["--unit", "kwh"], "1002");
    assert!(recall >= 0.8, "recall {recall}");
    assert!(fpr <= 0.03, "false-positive rate {fpr}");
}

#[test]
fn every_sample_miner_is_dated_within_two_hours_of_its_switch_on() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.csv");
    scan_sample(&out, &[]);
    let since: std::collections::HashMap<String, String> = read_csv(&out)
        .into_iter()
        .map(|r| (r["meter_id"].clone(), r["since"].clone()))
        .collect();
    let hour = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp() / 3600;
    for label in read_csv(&repo("sample-meters/labels.csv"))
        .into_iter()
        .filter(|r| r["mining"] == "true")
    {
        let found = hour(&since[&label["meter_id"]]);
        let truth = hour(&label["onset"]);
        assert!(
            (found - truth).abs() <= 2,
            "{}: since {} vs switch-on {}",
            label["meter_id"],
            since[&label["meter_id"]],
            label["onset"]
        );
    }
}

/// `flatline eval` end to end on the sample fleet: the JSON holds every labelled meter, and
/// its alert replay agrees with the end-of-piece verdict, the time to detection and the
/// confirmation span.
#[test]
fn eval_replays_alerts_consistently_with_the_final_verdict_and_the_confirmation() {
    let dir = tempfile::tempdir().unwrap();
    let run_eval = |confirm: &str| {
        let json = dir.path().join(format!("eval-{confirm}.json"));
        let run = flatline(&[
            "eval",
            repo(SAMPLE).to_str().unwrap(),
            "--labels",
            repo("sample-meters/labels.csv").to_str().unwrap(),
            "--confirm-hours",
            confirm,
            "--json",
            json.to_str().unwrap(),
        ]);
        assert_eq!(code(&run), 0, "{}", stderr(&run));
        let text = String::from_utf8_lossy(&run.stdout).to_string();
        assert!(text.contains("alerts while replaying every 6 h"), "{text}");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        v
    };
    let labels = read_csv(&repo("sample-meters/labels.csv"));
    let now = run_eval("0");
    let meters = now["meters"].as_array().unwrap();
    assert_eq!(meters.len(), labels.len());
    let hour = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp() / 3600;
    let first_alert = |m: &serde_json::Value| m["first_alert"][0].as_i64();
    for m in meters {
        let id = m["meter_id"].as_str().unwrap();
        let label = labels.iter().find(|l| l["meter_id"] == id).unwrap();
        // Flagged at the end, or within the time-to-detection replay: alerted.
        if m["flagged"].as_bool().unwrap() || !m["ttd_h"].is_null() {
            assert!(m["alerted"].as_bool().unwrap(), "{m}");
        }
        assert_eq!(
            m["alerted"].as_bool(),
            Some(first_alert(m).is_some()),
            "{m}"
        );
        // A miner's alert counts only after its switch-on.
        if label["mining"] == "true" {
            if let Some(h) = first_alert(m) {
                assert!(h > hour(&label["onset"]), "{m}");
            }
        }
    }
    for s in now["segments"].as_array().unwrap() {
        let (r, ar) = (s["recall"].as_f64(), s["alert_recall"].as_f64());
        if let (Some(r), Some(ar)) = (r, ar) {
            assert!(ar >= r, "{s}");
        }
        let (f, af) = (
            s["false_positive_rate"].as_f64(),
            s["alert_false_positive_rate"].as_f64(),
        );
        if let (Some(f), Some(af)) = (f, af) {
            assert!(af >= f, "{s}");
        }
    }
    // Every miner of the sample is alerted, and with a 12-hour confirmation each alert
    // comes at least 12 hours after the unconfirmed one (or not at all).
    let all = now["segments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["segment"] == "all")
        .unwrap();
    assert_eq!(all["alert_recall"].as_f64(), Some(1.0), "{all}");
    let held = run_eval("12");
    assert_eq!(held["confirm_h"].as_i64(), Some(12));
    for (a, b) in meters.iter().zip(held["meters"].as_array().unwrap()) {
        assert_eq!(a["meter_id"], b["meter_id"]);
        if let Some(hb) = first_alert(b) {
            let ha = first_alert(a).expect("a held alert was an alert without the hold");
            assert!(hb >= ha + 12, "{a} / {b}");
        }
    }
}

/// The command whose output the README shows, as the README writes it.
const README_SCAN: &str =
    "cargo run --release -- scan sample-meters/ --registry sample-meters/registry.csv --report-dir reports/";

/// The README's sample output of [`README_SCAN`]: the text of the fenced block that follows
/// the block holding the command, and where it sits in the README (byte range).
fn readme_sample_block(readme: &str) -> (String, std::ops::Range<usize>) {
    let command = readme
        .find(README_SCAN)
        .expect("the README shows the scan command");
    let open = command
        + readme[command..]
            .find("```\n")
            .expect("the command block closes")
        + 4;
    let open = open
        + readme[open..]
            .find("```\n")
            .expect("an output block follows")
        + 4;
    let close = open
        + readme[open..]
            .find("```\n")
            .expect("the output block closes");
    (readme[open..close].to_string(), open..close)
}

#[test]
fn the_readme_sample_scan_is_what_scan_prints() {
    // Run with UPDATE_README=1 to write the current output into README.md.
    let readme_path = repo("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let (shown, at) = readme_sample_block(&readme);
    let dir = tempfile::tempdir().unwrap();
    let run = flatline(&[
        "scan",
        repo("sample-meters/").to_str().unwrap(),
        "--registry",
        repo("sample-meters/registry.csv").to_str().unwrap(),
        "--report-dir",
        dir.path().join("reports").to_str().unwrap(),
    ]);
    assert_eq!(code(&run), 1, "{}", stderr(&run));
    let printed = String::from_utf8(run.stdout).unwrap();
    if std::env::var_os("UPDATE_README").is_some() {
        let mut updated = readme.clone();
        updated.replace_range(at, &printed);
        std::fs::write(&readme_path, updated).unwrap();
        return;
    }
    assert_eq!(
        shown, printed,
        "README.md's sample scan output is stale: run `UPDATE_README=1 cargo test --release --test scan the_readme_sample_scan` and review the diff"
    );
}

#[test]
fn json_or_all_without_out_write_the_results_to_stdout() {
    let sample = repo(SAMPLE);
    let json = flatline(&["scan", sample.to_str().unwrap(), "--json"]);
    assert_eq!(code(&json), 1, "{}", stderr(&json));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is a JSON object"))
        .collect();
    assert_eq!(
        lines.len(),
        7,
        "six miners and the licensed farm, no registry"
    );
    let all = flatline(&["scan", sample.to_str().unwrap(), "--all"]);
    let text = String::from_utf8_lossy(&all.stdout);
    assert!(text.starts_with("rank,meter_id,"), "{text}");
    assert_eq!(text.lines().count(), 1 + 82, "a header and every meter");
}

#[test]
fn meters_with_too_little_data_are_said_on_the_terminal_not_counted_clean() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("short.csv");
    // 48 hours of a flat 23.6 kW miner: too short a window to judge.
    let mut text = String::from("meter_id,timestamp,kw\n");
    for h in 0..48 {
        text.push_str(&format!("m1,{},23.6\n", 1_704_067_200 + h * 3600));
    }
    std::fs::write(&dump, text).unwrap();
    let run = flatline(&["scan", dump.to_str().unwrap()]);
    assert_eq!(code(&run), 0, "{}", stderr(&run));
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        out.contains("1 of 1 meter could not be judged: too little data"),
        "{out}"
    );
    assert!(out.contains("m1: only "), "{out}");
}

#[test]
fn suspects_are_ranked_by_the_energy_at_stake() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.csv");
    scan_sample(&out, &[]);
    let kwh: Vec<f64> = read_csv(&out)
        .iter()
        .map(|r| r["excess_kwh_per_day"].parse().unwrap())
        .collect();
    assert!(kwh.len() >= 6);
    assert!(
        kwh.windows(2).all(|w| w[0] >= w[1]),
        "ranked by kWh/day: {kwh:?}"
    );
}
