//! Counters and gauges of a running daemon, and the Prometheus `/metrics` endpoint.
//!
//! Every stage updates plain atomics in one shared [`Metrics`]; the endpoint renders them
//! in the Prometheus text format on request. The HTTP side is a deliberately tiny HTTP/1.1
//! responder on a tokio `TcpListener` (one request per connection, `GET /metrics` only):
//! enough for a scraper, with no framework to configure or secure.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::payload::RejectReason;
use crate::core::alerts::AlertKind;

/// Live counters shared by every stage of the pipeline.
#[derive(Debug, Default)]
pub struct Metrics {
    /// MQTT messages received from the broker.
    pub messages_received: AtomicU64,
    /// Messages fully handled by ingest (applied, logged and released for acknowledgement).
    pub messages_processed: AtomicU64,
    /// Readings accepted into a window, since the state directory was created.
    pub readings_accepted: AtomicU64,
    /// Readings already seen (redeliveries), since start.
    pub readings_duplicate: AtomicU64,
    /// Refusals by reason ([`RejectReason::index`]), since start.
    pub rejected: [AtomicU64; RejectReason::ALL.len()],
    /// Meters tracked now.
    pub meters_tracked: AtomicU64,
    /// Meters evicted because of the cap.
    pub meters_evicted: AtomicU64,
    /// Meters scored.
    pub assessments: AtomicU64,
    /// Meters waiting to be scored now (at most one entry per meter).
    pub scoring_queued: AtomicU64,
    /// Scorings merged into one already waiting for the same meter (the scorer was behind:
    /// the meter is scored once, at its latest hour).
    pub scoring_coalesced: AtomicU64,
    /// Alerts by kind: suspect, changed, cleared.
    pub alerts: [AtomicU64; 3],
    /// Meters flagged and waiting out `detector.confirm_hours` before their suspect alert.
    pub alerts_pending: AtomicU64,
    /// Unix seconds of the last completed checkpoint (0: none yet).
    pub checkpoint_unix_s: AtomicI64,
    /// The newest event time seen, unix seconds (0: none yet).
    pub max_event_unix_s: AtomicI64,
    /// Successful connections to the broker.
    pub mqtt_connects: AtomicU64,
    /// Connection errors (each followed by a backoff and a reconnect).
    pub mqtt_errors: AtomicU64,
    /// 1 once the broker acknowledged the subscriptions (or resumed a session that has them).
    pub mqtt_subscribed: AtomicU64,
}

impl Metrics {
    /// Counts one refusal.
    pub fn reject(&self, reason: RejectReason) {
        self.rejected[reason.index()].fetch_add(1, Relaxed);
    }

    /// Refusals of one reason so far.
    pub fn n_rejected(&self, reason: RejectReason) -> u64 {
        self.rejected[reason.index()].load(Relaxed)
    }

    /// Counts one alert.
    pub fn alert(&self, kind: AlertKind) {
        self.alerts[alert_index(kind)].fetch_add(1, Relaxed);
    }

    /// Alerts of one kind so far.
    pub fn n_alerts(&self, kind: AlertKind) -> u64 {
        self.alerts[alert_index(kind)].load(Relaxed)
    }

    /// Renders the Prometheus text exposition, with ages computed against `now_unix_s`.
    pub fn render(&self, now_unix_s: i64) -> String {
        let mut s = String::with_capacity(4096);
        let mut metric = |name: &str, kind: &str, help: &str, rows: &[(String, f64)]| {
            let _ = writeln!(
                s,
                "# HELP flatline_{name} {help}\n# TYPE flatline_{name} {kind}"
            );
            for (labels, v) in rows {
                let _ = writeln!(s, "flatline_{name}{labels} {v}");
            }
        };
        let one = |a: &AtomicU64| vec![(String::new(), a.load(Relaxed) as f64)];
        metric(
            "mqtt_messages_received_total",
            "counter",
            "MQTT messages received.",
            &one(&self.messages_received),
        );
        metric(
            "mqtt_messages_processed_total",
            "counter",
            "MQTT messages applied, logged and released for acknowledgement.",
            &one(&self.messages_processed),
        );
        metric(
            "readings_accepted_total",
            "counter",
            "Readings accepted (persisted across restarts).",
            &one(&self.readings_accepted),
        );
        metric(
            "readings_duplicate_total",
            "counter",
            "Readings already seen (redeliveries).",
            &one(&self.readings_duplicate),
        );
        let by_reason: Vec<(String, f64)> = RejectReason::ALL
            .iter()
            .map(|r| {
                (
                    format!("{{reason=\"{}\"}}", r.as_str()),
                    self.n_rejected(*r) as f64,
                )
            })
            .collect();
        metric(
            "readings_rejected_total",
            "counter",
            "Payloads or readings refused, by reason.",
            &by_reason,
        );
        metric(
            "meters_tracked",
            "gauge",
            "Meters with a live window.",
            &one(&self.meters_tracked),
        );
        metric(
            "meters_evicted_total",
            "counter",
            "Meters evicted by the cap on tracked meters.",
            &one(&self.meters_evicted),
        );
        metric(
            "assessments_total",
            "counter",
            "Meter scorings.",
            &one(&self.assessments),
        );
        metric(
            "scoring_queued",
            "gauge",
            "Meters waiting to be scored.",
            &one(&self.scoring_queued),
        );
        metric(
            "scoring_coalesced_total",
            "counter",
            "Scorings merged into one already waiting for the same meter (scorer behind).",
            &one(&self.scoring_coalesced),
        );
        let by_kind: Vec<(String, f64)> =
            [AlertKind::Suspect, AlertKind::Changed, AlertKind::Cleared]
                .iter()
                .map(|k| {
                    (
                        format!("{{kind=\"{}\"}}", k.as_str()),
                        self.n_alerts(*k) as f64,
                    )
                })
                .collect();
        metric("alerts_total", "counter", "Alerts sent, by kind.", &by_kind);
        metric(
            "alerts_pending",
            "gauge",
            "Meters flagged and waiting out detector.confirm_hours before their suspect alert.",
            &one(&self.alerts_pending),
        );
        let checkpoint = self.checkpoint_unix_s.load(Relaxed);
        let age = if checkpoint == 0 {
            f64::NAN
        } else {
            (now_unix_s - checkpoint) as f64
        };
        metric(
            "checkpoint_age_seconds",
            "gauge",
            "Seconds since the last snapshot of the state.",
            &[(String::new(), age)],
        );
        let event = self.max_event_unix_s.load(Relaxed);
        let lag = if event == 0 {
            f64::NAN
        } else {
            (now_unix_s - event) as f64
        };
        metric(
            "event_time_lag_seconds",
            "gauge",
            "Wall time minus the newest reading's event time.",
            &[(String::new(), lag)],
        );
        metric(
            "mqtt_connects_total",
            "counter",
            "Successful broker connections.",
            &one(&self.mqtt_connects),
        );
        metric(
            "mqtt_errors_total",
            "counter",
            "Broker connection errors.",
            &one(&self.mqtt_errors),
        );
        metric(
            "mqtt_subscribed",
            "gauge",
            "1 once the subscriptions are in place.",
            &one(&self.mqtt_subscribed),
        );
        s
    }
}

fn alert_index(kind: AlertKind) -> usize {
    match kind {
        AlertKind::Suspect => 0,
        AlertKind::Changed => 1,
        AlertKind::Cleared => 2,
    }
}

/// Serves `GET /metrics` on `listener` until the task is dropped or aborted.
pub async fn serve(listener: TcpListener, metrics: std::sync::Arc<Metrics>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            // Read the request head (bounded, with a timeout so an idle client holds nothing).
            let mut buf = vec![0u8; 2048];
            let mut n = 0;
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while n < buf.len() {
                    let k = stream.read(&mut buf[n..]).await.ok()?;
                    if k == 0 {
                        break;
                    }
                    n += k;
                    if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                Some(())
            })
            .await;
            if !matches!(read, Ok(Some(()))) {
                return;
            }
            let head = String::from_utf8_lossy(&buf[..n]);
            let (status, body) =
                if head.starts_with("GET /metrics ") || head.starts_with("GET /metrics?") {
                    ("200 OK", metrics.render(chrono::Utc::now().timestamp()))
                } else {
                    (
                        "404 Not Found",
                        "only /metrics is served here\n".to_string(),
                    )
                };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_reason_and_computes_ages() {
        let m = Metrics::default();
        m.reject(RejectReason::NotJson);
        m.checkpoint_unix_s.store(100, Relaxed);
        let text = m.render(160);
        assert!(text.contains("flatline_readings_rejected_total{reason=\"not_json\"} 1\n"));
        assert!(text.contains("flatline_readings_rejected_total{reason=\"register_gap\"} 0\n"));
        assert!(text.contains("flatline_checkpoint_age_seconds 60\n"));
        assert!(text.contains("flatline_event_time_lag_seconds NaN\n"));
    }

    #[tokio::test]
    async fn the_endpoint_answers_a_scrape() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics = std::sync::Arc::new(Metrics::default());
        metrics.readings_accepted.store(7, Relaxed);
        let server = tokio::spawn(serve(listener, metrics));
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        server.abort();
        assert!(out.starts_with("HTTP/1.1 200 OK"));
        assert!(out.contains("flatline_readings_accepted_total 7\n"));
    }
}
