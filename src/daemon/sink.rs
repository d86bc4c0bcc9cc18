//! The alert sink: the one place an alert leaves the daemon, and the one place a new alert
//! sink (a webhook, a database) joins. For each alert the scorers decide, in order: draw
//! the PNG evidence (when `report_dir` is set), append the record to `alerts.jsonl` and
//! `fsync` it, then publish it with QoS 1 on `<prefix>/<meter_id>`. An alert that cannot be
//! recorded is not published either: it is decided again after a restart.
//!
//! At start-up [`replay_alerts`] folds `alerts.jsonl` back into the
//! [`AlertBook`], so an alert in the file is never sent
//! again.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rumqttc::QoS;
use tokio::sync::mpsc;

use crate::core::alerts::{Alert, AlertBook};
use crate::core::verdict::Assessment;
use crate::report::{safe_file_name, write_meter_png, write_node_png, ReportInput};

use super::config::Settings;
use super::metrics::Metrics;
use super::mqtt::Client;
use super::scorer::{AlertJob, Evidence};

/// Rebuilds the alert book from an `alerts.jsonl` file (missing file: empty book). A torn
/// last line from a crash mid-append is skipped; the returned count says how many lines
/// were unreadable.
pub fn replay_alerts(path: &Path) -> std::io::Result<(AlertBook, usize)> {
    let mut book = AlertBook::new();
    let mut n_bad = 0;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((book, 0)),
        Err(e) => return Err(e),
    };
    for line in std::io::BufReader::new(file).lines() {
        match serde_json::from_str::<Alert>(&line?) {
            Ok(a) => book.record(&a),
            Err(_) => n_bad += 1,
        }
    }
    Ok((book, n_bad))
}

/// The alert sink task: picture, durable record, then the MQTT message.
pub(super) async fn alert_sink(
    mut rx: mpsc::Receiver<AlertJob>,
    client: Client,
    s: Arc<Settings>,
    metrics: Arc<Metrics>,
) {
    let alerts_path = s.state_dir.join("alerts.jsonl");
    while let Some(job) = rx.recv().await {
        let AlertJob {
            mut alert,
            assessment,
            evidence,
        } = job;
        let path = alerts_path.clone();
        let s2 = s.clone();
        // Drawing and fsync block: run them off the async workers.
        let written = tokio::task::spawn_blocking(move || {
            if let Some(dir) = &s2.report_dir {
                match draw_report(dir, &s2, &alert, &evidence, &assessment) {
                    Ok(file) => alert.report_path = Some(file.display().to_string()),
                    Err(e) => {
                        tracing::warn!(meter = %alert.meter_id, error = %e, "report not drawn")
                    }
                }
            }
            append_line(&path, &alert).map(|()| alert)
        })
        .await;
        let alert = match written {
            Ok(Ok(alert)) => alert,
            Ok(Err(e)) => {
                tracing::error!(file = %alerts_path.display(), error = %e, "alert not recorded; not published either (it will be decided again after a restart)");
                continue;
            }
            Err(_) => continue,
        };
        metrics.alert(alert.kind);
        tracing::info!(kind = alert.kind.as_str(), meter = %alert.meter_id, episode = alert.episode, score = alert.score, est_rigs = alert.est_rigs, "alert");
        let topic = format!("{}/{}", s.alert_topic_prefix, alert.meter_id);
        let body = serde_json::to_vec(&alert).unwrap_or_default();
        if let Err(e) = client.publish(&topic, QoS::AtLeastOnce, body).await {
            tracing::warn!(%topic, error = %e, "alert recorded but not published");
        }
    }
}

/// Draws the evidence page of one alert with the same report code `scan --report-dir` uses,
/// into `<dir>/<meter>-episode<N>-<kind>.png`: the node page for a transformer or feeder,
/// else the meter page. The daemon has no fleet at hand, so a meter page has no peer band
/// and no population panel; the registry's class and feeder are shown when the meter is
/// in it.
fn draw_report(
    dir: &Path,
    s: &Settings,
    alert: &Alert,
    evidence: &Evidence,
    assessment: &Assessment,
) -> Result<PathBuf, crate::report::ReportError> {
    let file = dir.join(format!(
        "{}-episode{}-{}.png",
        safe_file_name(&alert.meter_id),
        alert.episode,
        alert.kind.as_str()
    ));
    std::fs::create_dir_all(dir).map_err(|source| crate::report::ReportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    match evidence {
        Evidence::Node(balance) => write_node_png(balance, assessment, s.tz_offset_s, &file)?,
        Evidence::Meter(series) => {
            let entry = s.registry.as_ref().and_then(|r| r.get(&alert.meter_id));
            let input = ReportInput::new(series, assessment, entry, s.tz_offset_s);
            write_meter_png(&input, &file)?
        }
    }
    Ok(file)
}

/// Appends one JSON line and fsyncs.
fn append_line(path: &Path, alert: &Alert) -> Result<(), std::io::Error> {
    use std::io::Write;
    let mut line = serde_json::to_vec(alert).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(&line)?;
    f.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::verdict::Status;
    use crate::core::MeterId;

    fn suspect() -> Assessment {
        Assessment {
            meter_id: MeterId::from("m"),
            score: 0.8,
            flagged: true,
            status: Status::Suspect,
            level_kw: 1.0,
            excess_kw: 5.0 * 3.25,
            est_rigs: 5.0,
            excess_kwh_per_day: 0.0,
            since_hour: 0,
            onset_found: false,
            window_start_hour: 0,
            window_end_hour: 10,
            peer_group: String::new(),
            peer_level_kw: 0.0,
            cluster: 0,
            reasons: vec![],
            notes: vec![],
            features: vec![],
        }
    }

    #[test]
    fn the_book_is_rebuilt_from_the_file_and_skips_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.jsonl");
        let a = AlertBook::new().decide(&suspect()).unwrap();
        std::fs::write(
            &path,
            format!("{}\n{{\"kind\":\"sus", serde_json::to_string(&a).unwrap()),
        )
        .unwrap();
        let (mut book, n_bad) = replay_alerts(&path).unwrap();
        assert_eq!((book.n_open(), n_bad), (1, 1));
        assert_eq!(book.decide(&suspect()), None);
    }
}
