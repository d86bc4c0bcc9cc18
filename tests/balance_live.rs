//! The energy balance live: `flatline watch` with a topology registry, fed a simulated
//! grid through a real Mosquitto, alerts on the transformer that hides a farm (and the
//! one with a bypassed customer) and on nothing else. Waits are on conditions with a
//! generous limit; nothing asserts on timing.

mod support {
    pub mod mosquitto;
    pub mod probe;
    pub mod require;
}

use std::path::Path;
use std::process::{Child, Command, Stdio};

use flatline::sim::{grow, TopologyConfig};
use support::mosquitto::Mosquitto;
use support::probe::{free_port, metric, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_flatline");

/// Kills the daemon however the test ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn watch_alerts_on_the_transformer_hiding_a_farm_and_on_no_clean_node() {
    let Some(broker) = Mosquitto::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Timestamps up to the last midnight, so the readings look live to the daemon.
    let today = chrono::Utc::now().timestamp().div_euclid(86_400) * 86_400;
    let grid = grow(&TopologyConfig {
        seed: 3,
        transformers_per_feeder: 4,
        homes_per_transformer: 20,
        farm_rigs: 30,
        days: 28,
        start_unix: today - 28 * 86_400,
        event_day: 21.3,
        ..TopologyConfig::default()
    });
    let csv = dir.path().join("grid.csv");
    let n_rows = grid
        .write_csv(std::fs::File::create(&csv).unwrap())
        .unwrap();
    let registry = dir.path().join("registry.csv");
    grid.write_registry(std::fs::File::create(&registry).unwrap())
        .unwrap();

    let state = dir.path().join("state");
    let port = free_port();
    let watch = Killed(
        Command::new(BIN)
            .args([
                "watch",
                "--broker",
                &broker.url(),
                "--client-id",
                "t-balance",
            ])
            .args(["--rescore-every-hours", "24", "--metrics-listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--registry")
            .arg(&registry)
            .arg("--state-dir")
            .arg(&state)
            .arg("--report-dir")
            .arg(state.join("reports"))
            .args(["--subscribe", "meters/+/reading"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("the daemon to subscribe", || {
        metric(port, "flatline_mqtt_subscribed") == Some(1.0)
    });
    let published = Command::new(BIN)
        .args([
            "publish",
            "--broker",
            &broker.url(),
            "--client-id",
            "t-balance-pub",
        ])
        .arg(&csv)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(published.success());
    wait_until("every reading accepted", || {
        metric(port, "flatline_readings_accepted_total") == Some(n_rows as f64)
    });
    let alerts = || -> Vec<serde_json::Value> {
        std::fs::read_to_string(state.join("alerts.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    wait_until("the farm transformer's alert", || {
        alerts()
            .iter()
            .any(|a| a["meter_id"] == "T-0101" && a["kind"] == "suspect")
    });
    let farm = alerts()
        .into_iter()
        .find(|a| a["meter_id"] == "T-0101")
        .unwrap();
    let reason = farm["reasons"][0].as_str().unwrap().to_string();
    assert!(Path::new(farm["report_path"].as_str().unwrap()).exists());
    assert!(reason.starts_with("transformer T-0101: ≈"), "{reason}");
    drop(watch);
    let suspects: Vec<String> = alerts()
        .iter()
        .filter(|a| a["kind"] == "suspect")
        .map(|a| a["meter_id"].as_str().unwrap().to_string())
        .collect();
    for clean in ["T-0103", "T-0104", "F-01"] {
        assert!(
            !suspects.iter().any(|s| s == clean),
            "{clean} in {suspects:?}"
        );
    }
}
