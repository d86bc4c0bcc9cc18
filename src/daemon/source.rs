//! The source stage: polls the rumqttc event loop continuously, decodes each message
//! ([`super::payload::decode`], pure and cheap) and hands it to ingest through a bounded
//! queue. It never publishes and never waits on scoring. It re-subscribes when a ConnAck
//! says the broker kept no session, and backs off (doubling) after errors.
//!
//! On shutdown it stops forwarding (messages received after that stay unacknowledged and
//! the broker redelivers them next time) but keeps polling, so the last acknowledgements
//! and alerts reach the broker; it ends when the client's DISCONNECT goes out.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use super::config::Settings;
use super::metrics::Metrics;
use super::mqtt::{AckToken, Backoff, Client, Connection, Polled};
use super::payload::{decode, Decoded};
use super::pipeline::wait_true;

/// One message on its way from the source to ingest.
pub(super) enum IngestMsg {
    /// A decoded message and the token to acknowledge it with once durable.
    Delivery {
        topic: String,
        decoded: Decoded,
        token: Option<AckToken>,
    },
    /// A wake-up so ingest checkpoints on time even when no messages come.
    Tick,
}

/// The source task: poll, decode, hand off (see the module docs).
pub(super) async fn source_loop(
    mut connection: Connection,
    client: Client,
    s: Arc<Settings>,
    tx: mpsc::Sender<IngestMsg>,
    mut shutdown: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
    finishing: Arc<AtomicBool>,
) {
    let mut tx = Some(tx);
    let mut backoff = Backoff::new(s.broker.reconnect_max);
    loop {
        let polled = tokio::select! {
            biased;
            _ = wait_true(&mut shutdown), if tx.is_some() => {
                // Stop forwarding; keep polling so queued acknowledgements still go out.
                tx = None;
                continue;
            }
            p = connection.poll() => p,
        };
        match polled {
            Polled::ConnAck { session_present } => {
                metrics.mqtt_connects.fetch_add(1, Relaxed);
                backoff.reset();
                tracing::info!(host = %s.broker.host, port = s.broker.port, session_present, "connected to broker");
                if session_present {
                    metrics.mqtt_subscribed.store(1, Relaxed);
                } else {
                    // Subscribing awaits the request channel, which only this loop drains:
                    // do it from another task so this one keeps polling.
                    let client = client.clone();
                    let filters = s.subscriptions.clone();
                    tokio::spawn(async move {
                        if let Err(e) = client.subscribe_all(&filters).await {
                            tracing::warn!(error = %e, "subscribe failed");
                        }
                    });
                }
            }
            Polled::Publish {
                topic,
                payload,
                token,
            } => {
                metrics.messages_received.fetch_add(1, Relaxed);
                let Some(sender) = &tx else {
                    // Shutting down: leave it unacknowledged for the next session.
                    continue;
                };
                let decoded = decode(&topic, &payload, chrono::Utc::now().timestamp(), &s.limits);
                // Awaiting here is backpressure, not a deadlock: ingest never waits on this loop.
                if sender
                    .send(IngestMsg::Delivery {
                        topic,
                        decoded,
                        token: Some(token),
                    })
                    .await
                    .is_err()
                {
                    tx = None;
                }
            }
            Polled::Disconnected => break,
            Polled::SubAck => {
                metrics.mqtt_subscribed.store(1, Relaxed);
            }
            Polled::PubAck | Polled::Other => {}
            Polled::Error(error) => {
                if finishing.load(Relaxed) {
                    break;
                }
                metrics.mqtt_errors.fetch_add(1, Relaxed);
                let wait = backoff.step();
                tracing::warn!(%error, retry_in_ms = wait.as_millis() as u64, "broker connection lost");
                tokio::time::sleep(wait).await;
            }
        }
    }
}
