//! Replaying readings into a broker in the default layout (`<prefix>meters/<id>/reading`,
//! JSON `{"ts": RFC 3339, "kwh": x}`), in time order, optionally paced, counting the
//! broker's acknowledgements before disconnecting (rumqttc's `disconnect` does not wait
//! for them, so without the count the tail of a replay is silently lost).
//!
//! The publisher uses a persistent session too, so QoS 1 messages in flight when the
//! broker goes away are sent again when it returns.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::QoS;

use super::config::BrokerSettings;
use super::mqtt::{self, Backoff, MqttError, Polled, SessionMode};
use super::payload::Value;

/// Failures of a replay.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The MQTT client failed.
    #[error(transparent)]
    Mqtt(#[from] MqttError),
    /// The broker stopped acknowledging.
    #[error("the broker acknowledged {n_acked} of {n_published} messages and then nothing for {idle_s} s")]
    AckTimeout {
        /// Messages published.
        n_published: u64,
        /// Acknowledgements received.
        n_acked: u64,
        /// Seconds without progress.
        idle_s: u64,
    },
}

/// One reading to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct OutReading {
    /// Meter id (the topic level).
    pub meter: String,
    /// Event time, unix seconds.
    pub ts: i64,
    /// The value.
    pub value: Value,
}

/// How to publish.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// Put before `meters/…` (e.g. `feeder/1/`); empty for the default layout.
    pub topic_prefix: String,
    /// QoS 0 or 1.
    pub qos: QoS,
    /// Event-time seconds per wall second; `None` publishes as fast as the broker takes it.
    pub speed: Option<f64>,
    /// Seconds without a new acknowledgement before giving up.
    pub ack_idle_timeout: Duration,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            topic_prefix: String::new(),
            qos: QoS::AtLeastOnce,
            speed: None,
            ack_idle_timeout: Duration::from_secs(60),
        }
    }
}

/// What a replay did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PublishReport {
    /// Messages published.
    pub n_published: u64,
    /// Acknowledgements counted (equals `n_published` for QoS 1 when it returns Ok).
    pub n_acked: u64,
    /// Wall time taken.
    pub elapsed: Duration,
}

/// The JSON payload of one reading in the default layout.
pub fn payload_json(r: &OutReading) -> Vec<u8> {
    let ts = chrono::DateTime::from_timestamp(r.ts, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (field, x) = match r.value {
        Value::IntervalKwh(x) => ("kwh", x),
        Value::Kw(x) => ("kw", x),
        Value::RegisterKwh(x) => ("total_kwh", x),
    };
    serde_json::json!({ "ts": ts, field: x })
        .to_string()
        .into_bytes()
}

/// Publishes `readings` (already in time order) and waits for every acknowledgement.
pub async fn publish_all(
    broker: &BrokerSettings,
    readings: impl IntoIterator<Item = OutReading>,
    opts: &PublishOptions,
) -> Result<PublishReport, PublishError> {
    let started = Instant::now();
    let mode = SessionMode {
        manual_acks: false,
        max_packet_bytes: 1 << 20,
    };
    let (client, mut connection) = mqtt::connect(broker, mode)?;
    let n_acked = Arc::new(AtomicU64::new(0));
    let finishing = Arc::new(AtomicBool::new(false));
    let reconnect_max = broker.reconnect_max;
    // The event loop runs in its own task; this one only publishes (see STACK.md).
    let poller = {
        let n_acked = n_acked.clone();
        let finishing = finishing.clone();
        tokio::spawn(async move {
            let mut backoff = Backoff::new(reconnect_max);
            loop {
                match connection.poll().await {
                    Polled::PubAck => {
                        n_acked.fetch_add(1, Relaxed);
                    }
                    Polled::ConnAck { .. } => backoff.reset(),
                    Polled::Disconnected => break,
                    Polled::Error(error) => {
                        if finishing.load(Relaxed) {
                            break;
                        }
                        let wait = backoff.step();
                        tracing::warn!(%error, retry_in_ms = wait.as_millis() as u64, "publisher lost the broker");
                        tokio::time::sleep(wait).await;
                    }
                    _ => {}
                }
            }
        })
    };
    let mut n_published = 0u64;
    let mut first_ts = None;
    for r in readings {
        if let Some(speed) = opts.speed.filter(|s| *s > 0.0) {
            let t0 = *first_ts.get_or_insert(r.ts);
            let due = Duration::from_secs_f64(((r.ts - t0).max(0) as f64) / speed);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        let topic = format!("{}meters/{}/reading", opts.topic_prefix, r.meter);
        client.publish(&topic, opts.qos, payload_json(&r)).await?;
        n_published += 1;
    }
    if opts.qos != QoS::AtMostOnce {
        let mut last = (n_acked.load(Relaxed), Instant::now());
        while n_acked.load(Relaxed) < n_published {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let now = n_acked.load(Relaxed);
            if now != last.0 {
                last = (now, Instant::now());
            } else if last.1.elapsed() > opts.ack_idle_timeout {
                poller.abort();
                return Err(PublishError::AckTimeout {
                    n_published,
                    n_acked: now,
                    idle_s: opts.ack_idle_timeout.as_secs(),
                });
            }
        }
    }
    finishing.store(true, Relaxed);
    client.disconnect().await?;
    let _ = tokio::time::timeout(Duration::from_secs(5), poller).await;
    Ok(PublishReport {
        n_published,
        n_acked: n_acked.load(Relaxed),
        elapsed: started.elapsed(),
    })
}

/// TEMPORARY reader until `flatline::ingest::for_each_reading` lands: a long CSV with a
/// header `meter_id,timestamp,kwh` (timestamp RFC 3339 or unix seconds), returned sorted
/// by time. Bad rows are counted and reported with their line, not fatal.
pub fn read_long_csv_temporary(
    path: &std::path::Path,
) -> Result<(Vec<OutReading>, u64), std::io::Error> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(std::io::Error::other)?;
    let mut out = Vec::new();
    let mut n_bad = 0u64;
    for (i, row) in rdr.records().enumerate() {
        let parsed = row.ok().and_then(|row| {
            let meter = row.get(0)?.trim().to_string();
            let ts_text = row.get(1)?.trim();
            let ts = ts_text.parse::<i64>().ok().or_else(|| {
                chrono::DateTime::parse_from_rfc3339(ts_text)
                    .ok()
                    .map(|t| t.timestamp())
            })?;
            let kwh: f64 = row.get(2)?.trim().parse().ok()?;
            (!meter.is_empty()).then_some(OutReading {
                meter,
                ts,
                value: Value::IntervalKwh(kwh),
            })
        });
        match parsed {
            Some(r) => out.push(r),
            None => {
                n_bad += 1;
                if n_bad <= 10 {
                    tracing::warn!(file = %path.display(), line = i + 2, "row skipped: expected meter_id,timestamp,kwh");
                }
            }
        }
    }
    out.sort_by_key(|r| r.ts);
    Ok((out, n_bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_round_trips_through_the_decoder() {
        let r = OutReading {
            meter: "m1".into(),
            ts: 1_714_521_600,
            value: Value::IntervalKwh(0.25),
        };
        let d = super::super::payload::decode(
            "meters/m1/reading",
            &payload_json(&r),
            1_714_521_600,
            &Default::default(),
        );
        assert_eq!(d.readings[0].ts, r.ts);
        assert_eq!(d.readings[0].value, r.value);
    }
}
