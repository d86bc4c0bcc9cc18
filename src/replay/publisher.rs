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

use std::collections::HashMap;
use std::path::PathBuf;

use rumqttc::QoS;

use crate::core::Unit;
use crate::ingest::{for_each_reading, IngestError, IngestSummary, ReadOptions};

use crate::daemon::config::BrokerSettings;
use crate::daemon::mqtt::{self, Backoff, MqttError, Polled, SessionMode};
use crate::daemon::payload::Value;

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

/// A meter dump read into memory, in time order, ready to replay.
///
/// Readings are kept as (meter index, timestamp, value, unit): 24 bytes each, so a dump of
/// a few million readings fits easily; [`Dump::readings`] makes each [`OutReading`] only
/// as it is published.
#[derive(Debug, Clone, Default)]
pub struct Dump {
    meters: Vec<String>,
    rows: Vec<(u32, i64, f32, Unit)>,
}

impl Dump {
    /// Reads dumps in any layout `flatline scan` reads (files, folders, gzip) through
    /// [`crate::ingest::for_each_reading`], and sorts the readings by time (stable, so
    /// readings with the same timestamp keep their file order). Bad rows are counted in
    /// the returned summary, never fatal.
    pub fn read(
        paths: &[PathBuf],
        opts: &ReadOptions,
    ) -> Result<(Dump, IngestSummary), IngestError> {
        let mut dump = Dump::default();
        let mut index: HashMap<String, u32> = HashMap::new();
        let summary = for_each_reading(paths, opts, None, &mut |meter, ts, value, unit| {
            let i = match index.get(meter) {
                Some(&i) => i,
                None => {
                    let i = dump.meters.len() as u32;
                    dump.meters.push(meter.to_string());
                    index.insert(meter.to_string(), i);
                    i
                }
            };
            dump.rows.push((i, ts, value, unit));
            Ok(())
        })?;
        dump.rows.sort_by_key(|r| r.1);
        Ok((dump, summary))
    }

    /// Number of readings.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when the dump holds no reading.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Number of distinct meters.
    pub fn n_meters(&self) -> usize {
        self.meters.len()
    }

    /// The readings in time order, as they are published. The value goes out as the f32
    /// the dump held (widened exactly to f64), so the daemon's f32 equals the scanner's.
    pub fn readings(&self) -> impl Iterator<Item = OutReading> + '_ {
        self.rows.iter().map(|&(i, ts, value, unit)| OutReading {
            meter: self.meters[i as usize].clone(),
            ts,
            value: match unit {
                Unit::Kwh => Value::IntervalKwh(value as f64),
                Unit::Kw => Value::Kw(value as f64),
            },
        })
    }
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
        let d = crate::daemon::payload::decode(
            "meters/m1/reading",
            &payload_json(&r),
            1_714_521_600,
            &Default::default(),
        );
        assert_eq!(d.readings[0].ts, r.ts);
        assert_eq!(d.readings[0].value, r.value);
    }
}
