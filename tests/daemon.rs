//! End-to-end tests of `flatline watch` and `flatline publish` against a real Mosquitto over
//! TCP (one broker per test, see `support/mosquitto.rs`), and of `flatline demo` on the
//! embedded broker. The daemon runs as the real binary so SIGKILL and SIGTERM are real.
//!
//! Every wait is on a condition (a metric, a file, an exit) with a generous limit; nothing
//! sleeps and hopes, and nothing asserts on timing.

mod support {
    pub mod mosquitto;
    pub mod pki;
    pub mod probe;
    pub mod require;
}

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};

use support::mosquitto::Mosquitto;
use support::probe::{free_port, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_flatline");

/// A `flatline watch` child process with its metrics port and state directory.
struct Watch {
    child: Child,
    metrics_port: u16,
}

impl Watch {
    /// A daemon scoring once a day of event time, at midnight for the fixture fleet: the
    /// farm is then first judged 24 hours after it switched on, when its step is plain,
    /// so it is alerted once. (Scored hourly, its first 18 hours are judged before the
    /// step is certain, with a smaller estimate, and a "changed" alert follows.)
    fn start(broker: &str, state: &Path, client_id: &str, subscriptions: &[&str]) -> Watch {
        let daily = [Path::new("--rescore-every-hours"), Path::new("24")];
        Watch::start_with(broker, state, client_id, subscriptions, &daily)
    }

    fn start_with(
        broker: &str,
        state: &Path,
        client_id: &str,
        subscriptions: &[&str],
        extra: &[&Path],
    ) -> Watch {
        let w = Watch::spawn(broker, state, client_id, subscriptions, extra, |_| {});
        w.wait_subscribed();
        w
    }

    /// Starts the daemon without waiting for it to subscribe; `tweak` may change the
    /// command (environment, log destination) before it is spawned.
    fn spawn(
        broker: &str,
        state: &Path,
        client_id: &str,
        subscriptions: &[&str],
        extra: &[&Path],
        tweak: impl FnOnce(&mut Command),
    ) -> Watch {
        let metrics_port = free_port();
        let mut cmd = Command::new(BIN);
        cmd.args([
            "watch",
            "--broker",
            broker,
            "--client-id",
            client_id,
            "--checkpoint-every-s",
            "1",
            "--metrics-listen",
        ])
        .arg(format!("127.0.0.1:{metrics_port}"))
        .arg("--state-dir")
        .arg(state)
        .arg("--report-dir")
        .arg(state.join("reports"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        for s in subscriptions {
            cmd.args(["--subscribe", s]);
        }
        cmd.args(extra);
        tweak(&mut cmd);
        Watch {
            child: cmd.spawn().unwrap(),
            metrics_port,
        }
    }

    fn wait_subscribed(&self) {
        wait_until("the daemon to subscribe", || {
            self.metric("flatline_mqtt_subscribed") == Some(1.0)
        });
    }

    /// One value from the metrics endpoint (None while it is not up).
    fn metric(&self, name: &str) -> Option<f64> {
        support::probe::metric(self.metrics_port, name)
    }

    fn accepted(&self) -> f64 {
        self.metric("flatline_readings_accepted_total")
            .unwrap_or(-1.0)
    }

    fn sigterm(mut self) -> ExitStatus {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().unwrap()
    }

    fn sigkill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Days in the fixture fleet, and the day the farm switches on: three weeks of ordinary
/// life first (the detector needs at least a week of baseline before a step) and a week of
/// mining after (it needs at least 18 hours).
const FLEET_DAYS: u32 = 28;
const FARM_ONSET_DAY: i64 = 21;

/// Writes a long CSV of simulated households (`flatline::sim`, hourly kWh, ending at the
/// last midnight so the timestamps look live): `n_homes` of them as `<prefix>home<i>`, and
/// one more as `<prefix>farm` with a 100 kW rig farm (±1% ripple) switched on at day
/// [`FARM_ONSET_DAY`]. Returns the number of readings.
fn write_fleet(path: &Path, id_prefix: &str, n_homes: usize) -> usize {
    use flatline::sim::{simulate, Kind, SimConfig};
    let today = chrono::Utc::now().timestamp().div_euclid(86_400) * 86_400;
    let start = today - FLEET_DAYS as i64 * 86_400;
    let fleet = simulate(&SimConfig {
        seed: 5,
        homes: 2 * n_homes + 4,
        businesses: 0,
        miners: 0,
        licensed: 0,
        days: FLEET_DAYS,
        start_unix: start,
        resolution_min: 60,
        onset_after_days: (0.0, 0.0),
        tz_offset_s: 0,
    });
    let households: Vec<usize> = (0..fleet.meters.len())
        .filter(|&i| fleet.meters[i].kind == Kind::Household)
        .take(n_homes + 1)
        .collect();
    assert_eq!(households.len(), n_homes + 1, "enough households drawn");
    let onset = start + FARM_ONSET_DAY * 86_400;
    let mut out = String::from("meter_id,timestamp,kwh\n");
    let mut n = 0;
    for r in fleet.readings() {
        let Some(k) = households.iter().position(|&i| i == r.meter_idx) else {
            continue;
        };
        let (id, kwh) = if k == n_homes {
            let farm_kw = if r.ts_unix >= onset {
                100.0 + ((r.ts_unix / 3600 % 5) as f64 - 2.0) * 0.5
            } else {
                0.0
            };
            (format!("{id_prefix}farm"), r.kwh + farm_kw)
        } else {
            (format!("{id_prefix}home{k}"), r.kwh)
        };
        out.push_str(&format!("{id},{},{kwh:.4}\n", r.ts_unix));
        n += 1;
    }
    std::fs::write(path, out).unwrap();
    n
}

fn publish(broker: &str, csv: &Path, extra: &[&str]) -> Child {
    Command::new(BIN)
        .args(["publish", "--broker", broker])
        .arg(csv)
        .args(extra)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// What most tests start from: a private broker, a temporary directory holding the
/// fixture fleet (`write_fleet`, 8 homes and the farm, `n` readings) and a state
/// directory for the daemon inside it.
struct Fixture {
    broker: Mosquitto,
    dir: tempfile::TempDir,
    csv: std::path::PathBuf,
    n: usize,
    state: std::path::PathBuf,
}

impl Fixture {
    fn new() -> Option<Fixture> {
        let broker = Mosquitto::start()?;
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("fleet.csv");
        let n = write_fleet(&csv, "", 8);
        let state = dir.path().join("state");
        Some(Fixture {
            broker,
            dir,
            csv,
            n,
            state,
        })
    }
}

/// Publishes the whole of `csv` at full speed and waits for the publisher to succeed.
fn publish_all(broker: &str, csv: &Path, client_id: &str) {
    let status = publish(broker, csv, &["--client-id", client_id])
        .wait()
        .unwrap();
    assert!(status.success(), "publisher {client_id}: {status:?}");
}

fn alerts(state: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(state.join("alerts.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn suspect_alerts_for(state: &Path, meter: &str) -> usize {
    alerts(state)
        .iter()
        .filter(|a| a["meter_id"] == meter && a["kind"] == "suspect")
        .count()
}

#[test]
fn readings_in_give_one_alert_out_and_sigterm_exits_zero_with_a_checkpoint() {
    let Some(Fixture {
        broker,
        dir: _dir,
        csv,
        n,
        state,
    }) = Fixture::new()
    else {
        return;
    };
    let watch = Watch::start(&broker.url(), &state, "t-alert", &["meters/+/reading"]);
    // An MQTT subscriber proves the alert is published, not only written.
    let (client, mut connection) = rumqttc::Client::new(
        rumqttc::MqttOptions::new("t-alert-listener", "127.0.0.1", broker.port),
        10,
    );
    client
        .subscribe("flatline/alerts/#", rumqttc::QoS::AtLeastOnce)
        .unwrap();
    let listener = std::thread::spawn(move || {
        for event in connection.iter() {
            match event {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => return Some(p),
                Err(_) => return None,
                _ => {}
            }
        }
        None
    });
    publish_all(&broker.url(), &csv, "t-alert-pub");
    wait_until("every reading accepted", || watch.accepted() == n as f64);
    wait_until("the farm's alert", || {
        suspect_alerts_for(&state, "farm") == 1
    });
    let published = listener.join().unwrap().expect("an alert on MQTT");
    assert_eq!(published.topic, "flatline/alerts/farm");
    let body: serde_json::Value = serde_json::from_slice(&published.payload).unwrap();
    assert_eq!(body["kind"], "suspect");
    assert!(Path::new(body["report_path"].as_str().unwrap()).exists());
    assert_eq!(
        alerts(&state).len(),
        1,
        "no home is alerted, and the farm only once: {:?}",
        alerts(&state)
    );
    let status = watch.sigterm();
    assert!(status.success(), "{status:?}");
    assert!(state.join("snapshot.bin").exists());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("status.json")).unwrap()).unwrap();
    assert_eq!(summary["readings_accepted"], n);
}

/// Hours from an alert's `since` to its `as_of`.
fn alert_delay_h(alert: &serde_json::Value) -> i64 {
    let t = |k: &str| {
        chrono::DateTime::parse_from_rfc3339(alert[k].as_str().unwrap())
            .unwrap()
            .timestamp()
    };
    (t("as_of") - t("since")) / 3600
}

#[test]
fn with_confirm_hours_the_farm_is_alerted_once_a_day_later() {
    // Scored once a day, the farm is first flagged at least 24 h after its switch-on (it
    // is not judged a farm on no hours of it). With `detector.confirm_hours = 24` that flag
    // must hold at a scoring a day later, so the one suspect alert says at least 48 h after
    // the switch-on. The fleet goes in two parts so the farm is surely scored in each:
    // a scorer that falls behind merges a meter's scorings into one at its newest hour.
    let Some(Fixture {
        broker,
        dir,
        csv,
        n,
        ..
    }) = Fixture::new()
    else {
        return;
    };
    let today = chrono::Utc::now().timestamp().div_euclid(86_400) * 86_400;
    let onset = today - (FLEET_DAYS as i64 - FARM_ONSET_DAY) * 86_400;
    let text = std::fs::read_to_string(&csv).unwrap();
    let (header, rows) = text.split_once('\n').unwrap();
    let (mut early, mut late) = (format!("{header}\n"), format!("{header}\n"));
    let mut n_early = 0;
    for row in rows.lines() {
        let ts: i64 = row.split(',').nth(1).unwrap().parse().unwrap();
        if ts < onset + 30 * 3600 {
            early.push_str(row);
            early.push('\n');
            n_early += 1;
        } else {
            late.push_str(row);
            late.push('\n');
        }
    }
    let (early_csv, late_csv) = (dir.path().join("early.csv"), dir.path().join("late.csv"));
    std::fs::write(&early_csv, early).unwrap();
    std::fs::write(&late_csv, late).unwrap();
    let state = dir.path().join("state");
    let config = dir.path().join("flatline.toml");
    std::fs::write(&config, "[detector]\nconfirm_hours = 24\n").unwrap();
    let extra = [
        Path::new("--rescore-every-hours"),
        Path::new("24"),
        Path::new("--config"),
        config.as_path(),
    ];
    let watch = Watch::start_with(
        &broker.url(),
        &state,
        "t-confirm",
        &["meters/+/reading"],
        &extra,
    );
    publish_all(&broker.url(), &early_csv, "t-confirm-pub1");
    wait_until("the first part accepted", || {
        watch.accepted() == n_early as f64
    });
    wait_until("the farm flagged and waiting for confirmation", || {
        watch.metric("flatline_alerts_pending") == Some(1.0)
    });
    assert!(alerts(&state).is_empty(), "{:?}", alerts(&state));
    publish_all(&broker.url(), &late_csv, "t-confirm-pub2");
    wait_until("every reading accepted", || watch.accepted() == n as f64);
    wait_until("the farm's alert", || {
        suspect_alerts_for(&state, "farm") == 1
    });
    let all = alerts(&state);
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(alert_delay_h(&all[0]) >= 48, "{:?}", all[0]);
    assert_eq!(watch.metric("flatline_alerts_pending"), Some(0.0));
    assert!(watch.sigterm().success());
}

#[test]
fn a_daemon_with_a_short_window_alerts_on_the_farm_and_restarts_with_the_default() {
    // 15 days of history per meter: the farm, switched on at day 21 of 28, still has a
    // week of baseline whenever the scorer judges it, so it is dated and alerted once.
    let Some(Fixture {
        broker,
        dir: _dir,
        csv,
        n,
        state,
    }) = Fixture::new()
    else {
        return;
    };
    let short = [Path::new("--window-days"), Path::new("15")];
    let watch = Watch::spawn(
        &broker.url(),
        &state,
        "t-short",
        &["meters/+/reading"],
        &short,
        |_| {},
    );
    watch.wait_subscribed();
    publish_all(&broker.url(), &csv, "t-short-pub");
    wait_until("every reading accepted", || watch.accepted() == n as f64);
    wait_until("the farm's alert", || {
        suspect_alerts_for(&state, "farm") == 1
    });
    let farm = alerts(&state)
        .into_iter()
        .find(|a| a["meter_id"] == "farm")
        .unwrap();
    let today = chrono::Utc::now().timestamp().div_euclid(86_400) * 86_400;
    let onset = today - (FLEET_DAYS as i64 - FARM_ONSET_DAY) * 86_400;
    let since = chrono::DateTime::parse_from_rfc3339(farm["since"].as_str().unwrap()).unwrap();
    assert!((since.timestamp() - onset).abs() <= 6 * 3600, "{farm}");
    assert!(watch.sigterm().success());
    // The 15-day snapshot loads into the default 13-week windows, which grow from there.
    let watch = Watch::start(&broker.url(), &state, "t-short", &["meters/+/reading"]);
    wait_until("the restored table", || watch.accepted() == n as f64);
    assert!(watch.sigterm().success());
    assert_eq!(
        suspect_alerts_for(&state, "farm"),
        1,
        "{:?}",
        alerts(&state)
    );
}

#[test]
fn a_window_shorter_than_eight_days_is_refused_at_start_up() {
    let out = Command::new(BIN)
        .args([
            "watch",
            "--broker",
            "mqtt://127.0.0.1:1",
            "--window-days",
            "7",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ingest.window_days must be 8 to 91, not 7"),
        "{stderr}"
    );
}

#[test]
fn garbage_payloads_are_counted_by_reason_and_do_not_stop_the_daemon() {
    let Some(broker) = Mosquitto::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let watch = Watch::start(
        &broker.url(),
        &dir.path().join("state"),
        "t-garbage",
        &["meters/#", "tele/+/SENSOR"],
    );
    let mut options = rumqttc::MqttOptions::new("t-garbage-pub", "127.0.0.1", broker.port);
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut connection) = rumqttc::Client::new(options, 100);
    let now = chrono::Utc::now().timestamp();
    let good = format!(r#"{{"ts":{},"kwh":0.5}}"#, now - 7200);
    let messages: Vec<(&str, String)> = vec![
        ("meters/m1/reading", "not json at all".into()),
        (
            "meters/m1/reading",
            r#"{"ts":"2024-01-01T00:00:00Z","kwh":"lots"}"#.into(),
        ),
        ("meters/m1/reading", format!(r#"{{"ts":{now},"kwh":-1}}"#)),
        (
            "meters/m1/reading",
            format!(r#"{{"ts":{},"kwh":1}}"#, now + 30 * 86_400),
        ),
        (
            "meters/m1/reading",
            r#"{"ts":"1970-01-02T00:00:00Z","kwh":1}"#.into(),
        ),
        (
            "meters/m1/reading",
            format!(r#"{{"ts":{now},"kwh":"NaN"}}"#),
        ),
        ("meters/m1/reading", "x".repeat(100_000)),
        ("meters/m1/status", good.clone()),
        (
            "tele/plug/SENSOR",
            r#"{"Time":"garbage","ENERGY":{"Total":1}}"#.into(),
        ),
        ("meters/m1/reading", good.clone()),
        ("meters/m1/reading", good),
    ];
    let n = messages.len();
    for (topic, body) in messages {
        client
            .publish(topic, rumqttc::QoS::AtLeastOnce, false, body.into_bytes())
            .unwrap();
    }
    let mut acked = 0;
    for event in connection.iter() {
        if let Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) = event {
            acked += 1;
            if acked == n {
                break;
            }
        }
    }
    wait_until("every message processed", || {
        watch.metric("flatline_mqtt_messages_processed_total") == Some(n as f64)
    });
    let reason = |r: &str| {
        watch.metric(&format!(
            "flatline_readings_rejected_total{{reason=\"{r}\"}}"
        ))
    };
    assert_eq!(reason("not_json"), Some(1.0));
    assert_eq!(reason("wrong_type"), Some(1.0));
    assert_eq!(reason("negative"), Some(1.0));
    assert_eq!(reason("timestamp_future"), Some(1.0));
    assert_eq!(reason("timestamp_past"), Some(1.0));
    assert_eq!(reason("not_finite"), Some(1.0));
    assert_eq!(reason("oversized"), Some(1.0));
    assert_eq!(reason("unknown_topic"), Some(1.0));
    assert_eq!(reason("bad_timestamp"), Some(1.0));
    assert_eq!(watch.accepted(), 1.0);
    assert_eq!(watch.metric("flatline_readings_duplicate_total"), Some(1.0));
    assert!(watch.sigterm().success());
}

#[test]
fn a_daemon_killed_with_sigkill_loses_nothing_and_never_repeats_an_alert() {
    let Some(Fixture {
        broker,
        dir: _dir,
        csv,
        n,
        state,
    }) = Fixture::new()
    else {
        return;
    };
    let watch = Watch::start(&broker.url(), &state, "t-kill", &["meters/+/reading"]);
    // Paced so the kill lands mid-stream: 15 days of event time in a few seconds.
    let mut publisher = publish(
        &broker.url(),
        &csv,
        &["--client-id", "t-kill-pub", "--speed", "300000"],
    );
    wait_until("a third of the readings", || {
        watch.accepted() >= n as f64 / 3.0
    });
    watch.sigkill();
    // While the daemon is down the broker queues its messages under its session.
    let watch = Watch::start(&broker.url(), &state, "t-kill", &["meters/+/reading"]);
    assert!(publisher.wait().unwrap().success());
    wait_until("every reading accepted exactly once", || {
        watch.accepted() == n as f64
    });
    wait_until("the farm's alert", || {
        suspect_alerts_for(&state, "farm") == 1
    });
    // Kill again after the alert: the restarted daemon re-judges every meter and must not
    // send the farm's alert a second time.
    watch.sigkill();
    let watch = Watch::start(&broker.url(), &state, "t-kill", &["meters/+/reading"]);
    wait_until("the re-judging after recovery", || {
        watch.metric("flatline_assessments_total").unwrap_or(0.0) >= 9.0
    });
    assert_eq!(watch.accepted(), n as f64);
    assert!(watch.sigterm().success());
    assert_eq!(suspect_alerts_for(&state, "farm"), 1);
    assert_eq!(alerts(&state).len(), 1);
}

#[test]
fn a_broker_restarted_mid_stream_loses_nothing() {
    let Some(Fixture {
        mut broker,
        dir: _dir,
        csv,
        n,
        state,
    }) = Fixture::new()
    else {
        return;
    };
    let watch = Watch::start(&broker.url(), &state, "t-restart", &["meters/+/reading"]);
    let mut publisher = publish(
        &broker.url(),
        &csv,
        &["--client-id", "t-restart-pub", "--speed", "300000"],
    );
    wait_until("a third of the readings", || {
        watch.accepted() >= n as f64 / 3.0
    });
    broker.restart();
    assert!(publisher.wait().unwrap().success());
    wait_until("every reading accepted after the restart", || {
        watch.accepted() == n as f64
    });
    assert!(watch.metric("flatline_mqtt_connects_total").unwrap() >= 2.0);
    assert!(watch.sigterm().success());
}

#[test]
fn two_daemons_on_disjoint_topic_filters_cover_a_fleet_exactly_once() {
    let Some(broker) = Mosquitto::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (csv1, csv2) = (dir.path().join("f1.csv"), dir.path().join("f2.csv"));
    let n1 = write_fleet(&csv1, "a-", 5);
    let n2 = write_fleet(&csv2, "b-", 7);
    let (s1, s2) = (dir.path().join("s1"), dir.path().join("s2"));
    let w1 = Watch::start(&broker.url(), &s1, "t-shard-1", &["feeder/1/#"]);
    let w2 = Watch::start(&broker.url(), &s2, "t-shard-2", &["feeder/2/#"]);
    let mut p1 = publish(
        &broker.url(),
        &csv1,
        &["--client-id", "t-shard-p1", "--topic-prefix", "feeder/1/"],
    );
    let mut p2 = publish(
        &broker.url(),
        &csv2,
        &["--client-id", "t-shard-p2", "--topic-prefix", "feeder/2/"],
    );
    assert!(p1.wait().unwrap().success() && p2.wait().unwrap().success());
    wait_until("shard 1 complete", || w1.accepted() == n1 as f64);
    wait_until("shard 2 complete", || w2.accepted() == n2 as f64);
    assert_eq!(w1.metric("flatline_meters_tracked"), Some(6.0));
    assert_eq!(w2.metric("flatline_meters_tracked"), Some(8.0));
    wait_until("each shard's farm alert", || {
        suspect_alerts_for(&s1, "a-farm") == 1 && suspect_alerts_for(&s2, "b-farm") == 1
    });
    assert!(w1.sigterm().success() && w2.sigterm().success());
    assert_eq!(alerts(&s1).len() + alerts(&s2).len(), 2);
}

#[test]
fn the_demo_on_the_embedded_broker_finds_the_farm_and_draws_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let status = Command::new(BIN)
        .args([
            "demo",
            "--homes",
            "40",
            "--businesses",
            "8",
            "--days",
            "30",
            "--out",
        ])
        .arg(&out)
        .env("RUST_LOG", "error,rumqttd=off")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "a demo that found every miner and theft it planted exits 0"
    );
    // The demo's fleet is the sim's, drawn the same way: its farm is the meter to find.
    let opts = flatline::replay::demo::DemoOptions {
        n_homes: 40,
        n_businesses: 8,
        days: 30,
        ..Default::default()
    };
    let fleet = flatline::replay::demo::demo_fleet(&opts);
    let farm = fleet
        .meters
        .iter()
        .find(|m| m.kind == flatline::sim::Kind::MinerFarm)
        .unwrap();
    let state = out.join("state");
    assert_eq!(suspect_alerts_for(&state, &farm.id), 1);
    let png = alerts(&state)
        .into_iter()
        .find(|a| a["meter_id"] == farm.id.as_str())
        .unwrap()["report_path"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(std::fs::metadata(png).unwrap().len() > 1000);

    // The grid phase: the farm wired around the meters under T-0101 is found by energy
    // balance, once; the only other suspect allowed is T-0102, whose customer is bypassed.
    let grid = out.join("grid-state");
    assert_eq!(suspect_alerts_for(&grid, "T-0101"), 1);
    for a in alerts(&grid) {
        if a["kind"] == "suspect" {
            let id = a["meter_id"].as_str().unwrap();
            assert!(id == "T-0101" || id == "T-0102", "false alarm on {id}");
        }
    }
}

/// Meter ids `flatline scan` flags in a dump (with a registry), each with its `since`, as
/// of `until` (unix seconds).
fn scan_flagged(path: &Path, registry: &Path, until: i64) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("scan.csv");
    let status = Command::new(BIN)
        .arg("scan")
        .arg(path)
        .arg("--registry")
        .arg(registry)
        .args(["-q", "--until", &until.to_string(), "--out"])
        .arg(&csv)
        .status()
        .unwrap();
    assert!(status.code().is_some_and(|c| c < 2), "{status:?}");
    let mut rdr = csv::Reader::from_path(&csv).unwrap();
    let mut out: Vec<(String, String)> = rdr
        .deserialize::<std::collections::HashMap<String, String>>()
        .map(|r| {
            let r = r.unwrap();
            (r["meter_id"].clone(), r["since"].clone())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn watch_alerts_exactly_the_meters_scan_flags_on_the_same_dump() {
    // The shipped sample fleet (82 meters × 42 days of half-hourly readings, 6 hidden
    // miners, a licensed one and two registered server rooms), replayed at full speed; the
    // daemon scores each meter every hour of event time. Its last scoring of a meter is as
    // of the meter's last hour (2024-02-11 23:00 UTC), so scan is asked for that moment.
    const N_READINGS: f64 = 165_312.0;
    const LAST_HOUR: &str = "2024-02-11T23:00:00Z";
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-meters");
    let dump = samples.join("fleet.csv.gz");
    let registry = samples.join("registry.csv");
    let Some(broker) = Mosquitto::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let watch = Watch::start_with(
        &broker.url(),
        &state,
        "t-parity",
        &["meters/+/reading"],
        &[Path::new("--registry"), &registry],
    );
    assert!(
        publish(&broker.url(), &dump, &["--client-id", "t-parity-pub"])
            .wait()
            .unwrap()
            .success()
    );
    wait_until("every reading accepted", || watch.accepted() == N_READINGS);
    // SIGTERM drains the alert sink before exiting: every alert is in the file after it.
    assert!(watch.sigterm().success());
    // Every alert says what scan says of that meter as of the alert's hour.
    let all = alerts(&state);
    let mut moments: Vec<&str> = all.iter().map(|a| a["as_of"].as_str().unwrap()).collect();
    moments.sort();
    moments.dedup();
    for as_of in moments {
        let t = chrono::DateTime::parse_from_rfc3339(as_of)
            .unwrap()
            .timestamp();
        let offline = scan_flagged(&dump, &registry, t);
        for a in all.iter().filter(|a| a["as_of"] == as_of) {
            let id = a["meter_id"].as_str().unwrap();
            let flagged = offline.iter().find(|(m, _)| m == id);
            if a["kind"] == "cleared" {
                assert_eq!(flagged, None, "{a}");
            } else {
                assert_eq!(
                    flagged.map(|(_, since)| since.clone()),
                    Some(rfc3339_z(&a["since"])),
                    "{a}"
                );
            }
        }
    }
    // And at the end, the open episodes are exactly the meters scan flags.
    let mut last: std::collections::BTreeMap<String, serde_json::Value> = Default::default();
    for a in all {
        last.insert(a["meter_id"].as_str().unwrap().to_string(), a);
    }
    let live: Vec<(String, String)> = last
        .into_iter()
        .filter(|(_, a)| a["kind"] != "cleared")
        .map(|(id, a)| (id, rfc3339_z(&a["since"])))
        .collect();
    let until = chrono::DateTime::parse_from_rfc3339(LAST_HOUR)
        .unwrap()
        .timestamp();
    let offline = scan_flagged(&dump, &registry, until);
    assert!(
        offline.len() >= 5,
        "the sample fleet has flagged miners: {offline:?}"
    );
    assert_eq!(
        live.iter().map(|x| &x.0).collect::<Vec<_>>(),
        offline.iter().map(|x| &x.0).collect::<Vec<_>>()
    );
}

/// An alert's RFC 3339 time in scan's CSV spelling (`…Z`).
fn rfc3339_z(v: &serde_json::Value) -> String {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Subscribes to `flatline/alerts/#` on the plain listener and returns the first alert
/// published there (None if the connection fails first).
fn listen_for_alert(
    port: u16,
    client_id: &str,
) -> std::thread::JoinHandle<Option<rumqttc::Publish>> {
    let (client, mut connection) =
        rumqttc::Client::new(rumqttc::MqttOptions::new(client_id, "127.0.0.1", port), 10);
    client
        .subscribe("flatline/alerts/#", rumqttc::QoS::AtLeastOnce)
        .unwrap();
    // Subscribed before anything is published, so the alert cannot pass unseen.
    let mut subscribed = false;
    for event in connection.iter() {
        match event {
            Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                subscribed = true;
                break;
            }
            Err(e) => panic!("alert listener: {e}"),
            _ => {}
        }
    }
    assert!(subscribed);
    std::thread::spawn(move || {
        let _client = client;
        for event in connection.iter() {
            match event {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => return Some(p),
                Err(_) => return None,
                _ => {}
            }
        }
        None
    })
}

/// Publishes the fixture fleet on the broker's plain listener to a daemon that is
/// subscribed (on whichever listener), and checks that every reading is accepted and the
/// farm's one alert is written and published on MQTT.
fn fleet_in_alert_out(broker: &Mosquitto, watch: &Watch, state: &Path, tag: &str) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("fleet.csv");
    let n = write_fleet(&csv, "", 8);
    let listener = listen_for_alert(broker.port, &format!("{tag}-listener"));
    publish_all(&broker.url(), &csv, &format!("{tag}-pub"));
    wait_until("every reading accepted", || watch.accepted() == n as f64);
    wait_until("the farm's alert", || {
        suspect_alerts_for(state, "farm") == 1
    });
    let published = listener.join().unwrap().expect("an alert on MQTT");
    assert_eq!(published.topic, "flatline/alerts/farm");
    let body: serde_json::Value = serde_json::from_slice(&published.payload).unwrap();
    assert_eq!(body["kind"], "suspect");
    assert_eq!(alerts(state).len(), 1, "{:?}", alerts(state));
}

#[test]
fn a_daemon_on_a_tls_listener_receives_readings_and_publishes_its_alert() {
    use support::mosquitto::SecureListener;
    let pki = support::pki::Pki::generate();
    let Some(broker) = Mosquitto::start_secure(SecureListener {
        tls: Some(pki.tls_listener(false)),
        password_file: None,
    }) else {
        return;
    };
    assert!(broker.secure_url().starts_with("mqtts://"));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let watch = Watch::start_with(
        &broker.secure_url(),
        &state,
        "t-tls",
        &["meters/+/reading"],
        &[
            Path::new("--rescore-every-hours"),
            Path::new("24"),
            Path::new("--ca-file"),
            &pki.ca_cert,
        ],
    );
    fleet_in_alert_out(&broker, &watch, &state, "t-tls");
    assert!(watch.sigterm().success());
}

#[test]
fn mutual_tls_admits_the_daemon_with_its_client_certificate_and_refuses_it_without() {
    use support::mosquitto::SecureListener;
    let pki = support::pki::Pki::generate();
    let Some(broker) = Mosquitto::start_secure(SecureListener {
        tls: Some(pki.tls_listener(true)),
        password_file: None,
    }) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Without a client certificate the handshake fails: the daemon keeps retrying and
    // never subscribes.
    let refused = Watch::spawn(
        &broker.secure_url(),
        &dir.path().join("refused"),
        "t-mtls-refused",
        &["meters/+/reading"],
        &[Path::new("--ca-file"), &pki.ca_cert],
        |_| {},
    );
    wait_until("the refused daemon's second connection error", || {
        refused.metric("flatline_mqtt_errors_total").unwrap_or(0.0) >= 2.0
    });
    assert_eq!(refused.metric("flatline_mqtt_subscribed"), Some(0.0));
    refused.sigkill();
    // With the certificate, given in the config file as an operator would.
    let config = dir.path().join("flatline.toml");
    std::fs::write(
        &config,
        format!(
            "[mqtt]\nca_file = {:?}\nclient_cert_file = {:?}\nclient_key_file = {:?}\n\n[ingest]\nrescore_every_hours = 24\n",
            pki.ca_cert, pki.client_cert, pki.client_key
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let watch = Watch::start_with(
        &broker.secure_url(),
        &state,
        "t-mtls",
        &["meters/+/reading"],
        &[Path::new("--config"), &config],
    );
    fleet_in_alert_out(&broker, &watch, &state, "t-mtls");
    assert!(watch.sigterm().success());
}

#[test]
fn a_password_logs_the_daemon_in_and_never_reaches_its_log() {
    use support::mosquitto::SecureListener;
    const PASSWORD: &str = "s3cret-Flatline-pw";
    const WRONG: &str = "wr0ng-Flatline-pw";
    if !support::require::program("mosquitto_passwd") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let passwords = dir.path().join("passwd");
    std::fs::write(&passwords, "").unwrap();
    let made = Command::new("mosquitto_passwd")
        .arg("-b")
        .arg(&passwords)
        .args(["flatline", PASSWORD])
        .status()
        .expect("mosquitto_passwd must be installed");
    assert!(made.success());
    let Some(broker) = Mosquitto::start_secure(SecureListener {
        tls: None,
        password_file: Some(passwords),
    }) else {
        return;
    };
    let logged = |log: &Path, env: (&'static str, &'static str)| {
        let file = std::fs::File::create(log).unwrap();
        move |cmd: &mut Command| {
            // The most verbose logging there is, of every crate: nothing may print it.
            cmd.env("RUST_LOG", "trace")
                .env(env.0, env.1)
                .stderr(Stdio::from(file));
        }
    };
    let user = [Path::new("--username"), Path::new("flatline")];

    // The wrong password, from a file: refused, retried, never subscribed.
    let wrong_file = dir.path().join("wrong-pw");
    std::fs::write(&wrong_file, format!("{WRONG}\n")).unwrap();
    let wrong_log = dir.path().join("wrong.log");
    let refused = Watch::spawn(
        &broker.secure_url(),
        &dir.path().join("refused"),
        "t-pw-refused",
        &["meters/+/reading"],
        &[user[0], user[1], Path::new("--password-file"), &wrong_file],
        logged(&wrong_log, ("FLATLINE_UNUSED", "")),
    );
    wait_until("the refused daemon's second connection error", || {
        refused.metric("flatline_mqtt_errors_total").unwrap_or(0.0) >= 2.0
    });
    assert_eq!(refused.metric("flatline_mqtt_subscribed"), Some(0.0));
    refused.sigkill();

    // The right password, from an environment variable.
    let log = dir.path().join("watch.log");
    let state = dir.path().join("state");
    let watch = Watch::spawn(
        &broker.secure_url(),
        &state,
        "t-pw",
        &["meters/+/reading"],
        &[
            user[0],
            user[1],
            Path::new("--password-env"),
            Path::new("FLATLINE_TEST_MQTT_PASSWORD"),
        ],
        logged(&log, ("FLATLINE_TEST_MQTT_PASSWORD", PASSWORD)),
    );
    watch.wait_subscribed();
    fleet_in_alert_out(&broker, &watch, &state, "t-pw");
    assert!(watch.sigterm().success());

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("connected to broker"), "the log was captured");
    assert!(
        !text.contains(PASSWORD),
        "the password is in the daemon's log"
    );
    let wrong_text = std::fs::read_to_string(&wrong_log).unwrap();
    assert!(
        wrong_text.contains("broker connection lost"),
        "{wrong_text}"
    );
    assert!(
        !wrong_text.contains(WRONG),
        "the password is in the daemon's log"
    );
}

#[test]
fn an_mqtt5_daemon_killed_mid_stream_resumes_its_session_and_alerts_once() {
    // MQTT 5 keeps a session only with a session expiry interval: a daemon that lost it
    // would miss what the broker received while it was down.
    let Some(Fixture {
        broker,
        dir: _dir,
        csv,
        n,
        state,
    }) = Fixture::new()
    else {
        return;
    };
    let v5 = [
        Path::new("--protocol"),
        Path::new("5"),
        Path::new("--rescore-every-hours"),
        Path::new("24"),
    ];
    let start = || Watch::start_with(&broker.url(), &state, "t-v5", &["meters/+/reading"], &v5);
    let watch = start();
    let listener = listen_for_alert(broker.port, "t-v5-listener");
    let mut publisher = publish(
        &broker.url(),
        &csv,
        &["--client-id", "t-v5-pub", "--speed", "300000"],
    );
    wait_until("a third of the readings", || {
        watch.accepted() >= n as f64 / 3.0
    });
    watch.sigkill();
    let watch = start();
    assert!(publisher.wait().unwrap().success());
    wait_until("every reading accepted exactly once", || {
        watch.accepted() == n as f64
    });
    wait_until("the farm's alert", || {
        suspect_alerts_for(&state, "farm") == 1
    });
    let published = listener.join().unwrap().expect("an alert on MQTT");
    assert_eq!(published.topic, "flatline/alerts/farm");
    assert!(watch.sigterm().success());
    assert_eq!(alerts(&state).len(), 1, "{:?}", alerts(&state));
}
