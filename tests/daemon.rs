//! End-to-end tests of `flatline watch` and `flatline publish` against a real Mosquitto over
//! TCP (one broker per test, see `support/mosquitto.rs`), and of `flatline demo` on the
//! embedded broker. The daemon runs as the real binary so SIGKILL and SIGTERM are real.
//!
//! Every wait is on a condition (a metric, a file, an exit) with a generous limit; nothing
//! sleeps and hopes, and nothing asserts on timing.

mod support {
    pub mod mosquitto;
}

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use support::mosquitto::Mosquitto;

const BIN: &str = env!("CARGO_BIN_EXE_flatline");
const LIMIT: Duration = Duration::from_secs(120);

/// Waits for `cond`, panicking with `what` after [`LIMIT`].
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < LIMIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A `flatline watch` child process with its metrics port and state directory.
struct Watch {
    child: Child,
    metrics_port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Watch {
    fn start(broker: &str, state: &Path, client_id: &str, subscriptions: &[&str]) -> Watch {
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
        let w = Watch {
            child: cmd.spawn().unwrap(),
            metrics_port,
        };
        wait_until("the daemon to subscribe", || {
            w.metric("flatline_mqtt_subscribed") == Some(1.0)
        });
        w
    }

    /// One value from the metrics endpoint (None while it is not up).
    fn metric(&self, name: &str) -> Option<f64> {
        let mut s = TcpStream::connect(("127.0.0.1", self.metrics_port)).ok()?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
            .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        text.lines().find_map(|l| {
            l.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(' '))
                .and_then(|v| v.parse().ok())
        })
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

/// Writes a long CSV: `n_homes` household-like meters for 15 days and one farm that runs
/// 10 days like a home and then 5 days flat at 100 kW. Returns the number of readings.
fn write_fleet(path: &Path, id_prefix: &str, n_homes: usize) -> usize {
    let end_hour = chrono::Utc::now().timestamp() / 3600;
    let start = end_hour - 15 * 24;
    let mut out = String::from("meter_id,timestamp,kwh\n");
    let mut n = 0;
    for h in 0..15 * 24 {
        let hod = (h % 24) as f64;
        let shape = 0.3
            + 0.6 * (-((hod - 19.0) / 2.5f64).powi(2)).exp()
            + 0.3 * (-((hod - 8.0) / 1.5f64).powi(2)).exp();
        let ts = (start + h) * 3600;
        for i in 0..n_homes {
            let wiggle = 1.0 + 0.2 * (((h * 7 + i as i64 * 13) % 11) as f64 / 11.0 - 0.5);
            out.push_str(&format!(
                "{id_prefix}home{i},{ts},{:.3}\n",
                shape * wiggle * (0.8 + i as f64 * 0.05)
            ));
            n += 1;
        }
        let farm = if h >= 10 * 24 {
            100.0 + ((h % 5) as f64 - 2.0) * 0.5
        } else {
            shape
        };
        out.push_str(&format!("{id_prefix}farm,{ts},{farm:.3}\n"));
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
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("fleet.csv");
    let n = write_fleet(&csv, "", 8);
    let state = dir.path().join("state");
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
    assert!(
        publish(&broker.url(), &csv, &["--client-id", "t-alert-pub"])
            .wait()
            .unwrap()
            .success()
    );
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
        "no home is alerted, and the farm only once"
    );
    let status = watch.sigterm();
    assert!(status.success(), "{status:?}");
    assert!(state.join("snapshot.bin").exists());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("status.json")).unwrap()).unwrap();
    assert_eq!(summary["readings_accepted"], n);
}

#[test]
fn garbage_payloads_are_counted_by_reason_and_do_not_stop_the_daemon() {
    let broker = Mosquitto::start();
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
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("fleet.csv");
    let n = write_fleet(&csv, "", 8);
    let state = dir.path().join("state");
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
    let mut broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("fleet.csv");
    let n = write_fleet(&csv, "", 8);
    let state = dir.path().join("state");
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
    let broker = Mosquitto::start();
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
        .args(["demo", "--homes", "40", "--out"])
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1), "suspects found → exit 1, like scan");
    let state = out.join("state");
    assert_eq!(suspect_alerts_for(&state, "farm-0001"), 1);
    assert_eq!(alerts(&state).len(), 1);
    let png = alerts(&state)[0]["report_path"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(std::fs::metadata(png).unwrap().len() > 1000);
}
