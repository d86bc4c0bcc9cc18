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
    /// No connection to the broker within the connect timeout: a one-shot replay gives up
    /// rather than retry forever.
    #[error("no connection to the broker within {waited_s} s (last error: {last_error})")]
    Unreachable {
        /// Seconds waited.
        waited_s: u64,
        /// The last connection error seen.
        last_error: String,
    },
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
    /// How long to wait for the first connection before giving up.
    pub connect_timeout: Duration,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            topic_prefix: String::new(),
            qos: QoS::AtLeastOnce,
            speed: None,
            ack_idle_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
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
    // The poller says when it first connected, and what the last connection error was, so
    // a dead broker ends the replay after `connect_timeout` instead of never.
    let (connected_tx, mut connected_rx) = tokio::sync::watch::channel(false);
    let last_error = Arc::new(std::sync::Mutex::new(String::from("none")));
    // The event loop runs in its own task; this one only publishes. Publishing from the
    // polling task deadlocks it once rumqttc's bounded request channel fills.
    let poller = {
        let n_acked = n_acked.clone();
        let finishing = finishing.clone();
        let last_error = last_error.clone();
        tokio::spawn(async move {
            let mut backoff = Backoff::new(reconnect_max);
            loop {
                match connection.poll().await {
                    Polled::PubAck => {
                        n_acked.fetch_add(1, Relaxed);
                    }
                    Polled::ConnAck { .. } => {
                        backoff.reset();
                        let _ = connected_tx.send(true);
                    }
                    Polled::Disconnected => break,
                    Polled::Error(error) => {
                        if finishing.load(Relaxed) {
                            break;
                        }
                        let wait = backoff.step();
                        let what = if *connected_tx.borrow() {
                            "publisher lost the broker"
                        } else {
                            "publisher cannot reach the broker"
                        };
                        tracing::warn!(%error, retry_in_ms = wait.as_millis() as u64, "{what}");
                        if let Ok(mut last) = last_error.lock() {
                            *last = error.to_string();
                        }
                        tokio::time::sleep(wait).await;
                    }
                    _ => {}
                }
            }
        })
    };
    let connected = tokio::time::timeout(opts.connect_timeout, connected_rx.wait_for(|c| *c)).await;
    if !matches!(connected, Ok(Ok(_))) {
        poller.abort();
        let last_error = last_error.lock().map(|e| e.clone()).unwrap_or_default();
        return Err(PublishError::Unreachable {
            waited_s: opts.connect_timeout.as_secs(),
            last_error,
        });
    }
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
        // A broker lost mid-replay fills the client's queue and would block this forever.
        match tokio::time::timeout(
            opts.ack_idle_timeout,
            client.publish(&topic, opts.qos, payload_json(&r)),
        )
        .await
        {
            Ok(sent) => sent?,
            Err(_) => {
                poller.abort();
                return Err(PublishError::AckTimeout {
                    n_published,
                    n_acked: n_acked.load(Relaxed),
                    idle_s: opts.ack_idle_timeout.as_secs(),
                });
            }
        }
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

    /// The readings in time order, as they are published. The value goes out as the
    /// shortest decimal of the f32 the dump held (`0.1612`, not the widened
    /// `0.16120000183582306`), which reads back to that same f32, so the daemon's f32
    /// equals the scanner's.
    pub fn readings(&self) -> impl Iterator<Item = OutReading> + '_ {
        self.rows.iter().map(|&(i, ts, value, unit)| OutReading {
            meter: self.meters[i as usize].clone(),
            ts,
            value: match unit {
                Unit::Kwh => Value::IntervalKwh(shortest_f64(value)),
                Unit::Kw => Value::Kw(shortest_f64(value)),
            },
        })
    }
}

/// The f64 nearest the shortest decimal that reads back as `x`: what the dump said.
fn shortest_f64(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
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

    #[test]
    fn a_dump_value_goes_out_as_written_and_reads_back_as_the_same_f32() {
        let x = 0.1612f32;
        let r = OutReading {
            meter: "m1".into(),
            ts: 1_714_521_600,
            value: Value::IntervalKwh(shortest_f64(x)),
        };
        let json = String::from_utf8(payload_json(&r)).unwrap();
        assert!(json.contains("\"kwh\":0.1612,"), "{json}");
        assert_eq!(shortest_f64(x) as f32, x);
    }

    #[tokio::test]
    async fn publishing_to_a_dead_broker_fails_after_the_connect_timeout() {
        // A port nothing listens on: bind, read the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let broker =
            BrokerSettings::from_url(&format!("mqtt://127.0.0.1:{port}"), "t-dead", None).unwrap();
        let opts = PublishOptions {
            connect_timeout: Duration::from_millis(500),
            ..PublishOptions::default()
        };
        let r = OutReading {
            meter: "m1".into(),
            ts: 1_714_521_600,
            value: Value::IntervalKwh(0.25),
        };
        let err = publish_all(&broker, [r], &opts).await.unwrap_err();
        assert!(matches!(err, PublishError::Unreachable { .. }), "{err}");
    }
}
