//! The MQTT edge: connection options from [`BrokerSettings`] (TCP or rustls TLS, MQTT 3.1.1
//! or 5, persistent session, manual acknowledgements), and one small enum over rumqttc's
//! two protocol APIs so the source, the alert sink and the publisher are written once.
//!
//! This module owns the session rules without which rumqttc loses messages (a clean
//! session silently drops in-flight QoS 1 messages across a reconnect; docs/operations.md
//! tells operators the broker side): a fixed client id, `clean_session(false)` (MQTT 5:
//! `clean_start(false)` plus a session expiry, without which Mosquitto keeps no session),
//! QoS 1, and a packet size limit raised above the payload limit (rumqttc's default is
//! 10 KiB) so an oversized message is counted and refused instead of killing the event
//! loop.
//! It does not decide what to do with messages.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{v5, QoS, TlsConfiguration, Transport};

use super::config::{BrokerSettings, Protocol, TlsFiles};

/// Failures at the MQTT edge.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    /// TLS material could not be read or used.
    #[error("TLS: {0}")]
    Tls(String),
    /// The client's request channel is closed (the event loop ended).
    #[error("MQTT client: {0}")]
    Client(String),
}

/// A received message, kept to acknowledge it later (manual acks).
#[derive(Debug, Clone)]
pub enum AckToken {
    /// MQTT 3.1.1.
    V4(Box<rumqttc::Publish>),
    /// MQTT 5.
    V5(Box<v5::mqttbytes::v5::Publish>),
}

/// A cloneable handle to publish, acknowledge, subscribe and disconnect.
#[derive(Clone, Debug)]
pub enum Client {
    /// MQTT 3.1.1.
    V4(rumqttc::AsyncClient),
    /// MQTT 5.
    V5(v5::AsyncClient),
}

/// The event loop, which must be polled continuously by exactly one task.
pub enum Connection {
    /// MQTT 3.1.1.
    V4(Box<rumqttc::EventLoop>),
    /// MQTT 5.
    V5(Box<v5::EventLoop>),
}

/// What one poll of the event loop produced, reduced to what flatline acts on.
#[derive(Debug)]
pub enum Polled {
    /// Connected; re-subscribe when the broker kept no session.
    ConnAck {
        /// The broker resumed the previous session (subscriptions and queued messages).
        session_present: bool,
    },
    /// A message: topic, payload, and the token to acknowledge it with.
    Publish {
        /// Topic.
        topic: String,
        /// Payload bytes.
        payload: Vec<u8>,
        /// Acknowledgement token.
        token: AckToken,
    },
    /// The broker acknowledged one of our QoS 1 publishes.
    PubAck,
    /// The broker acknowledged a subscription.
    SubAck,
    /// We sent DISCONNECT: the loop is done.
    Disconnected,
    /// Anything else (pings, subacks, outgoing packets).
    Other,
    /// The connection failed; the next poll reconnects.
    Error(String),
}

/// How a connection should behave.
#[derive(Debug, Clone, Copy)]
pub struct SessionMode {
    /// Acknowledge received messages only when told (the daemon: after the WAL fsync).
    pub manual_acks: bool,
    /// Largest packet accepted or sent, bytes.
    pub max_packet_bytes: usize,
}

/// Opens a client and its event loop (no network IO until the first poll).
pub fn connect(b: &BrokerSettings, mode: SessionMode) -> Result<(Client, Connection), MqttError> {
    let transport = match &b.tls {
        None => Transport::Tcp,
        Some(files) => Transport::Tls(tls_configuration(files)?),
    };
    // The request channel holds publishes and acks on their way to the event loop.
    let cap = 1024;
    match b.protocol {
        Protocol::V4 => {
            let mut o = rumqttc::MqttOptions::new(&b.client_id, &b.host, b.port);
            o.set_keep_alive(b.keep_alive)
                .set_clean_session(false)
                .set_manual_acks(mode.manual_acks)
                .set_max_packet_size(mode.max_packet_bytes, mode.max_packet_bytes)
                .set_inflight(100)
                .set_transport(transport);
            if let Some((u, p)) = &b.credentials {
                o.set_credentials(u, &p.0);
            }
            let (c, e) = rumqttc::AsyncClient::new(o, cap);
            Ok((Client::V4(c), Connection::V4(Box::new(e))))
        }
        Protocol::V5 => {
            let mut o = v5::MqttOptions::new(&b.client_id, &b.host, b.port);
            o.set_keep_alive(b.keep_alive)
                .set_clean_start(false)
                .set_session_expiry_interval(Some(b.session_expiry_s))
                .set_manual_acks(mode.manual_acks)
                .set_max_packet_size(Some(mode.max_packet_bytes as u32))
                .set_outgoing_inflight_upper_limit(100)
                .set_transport(transport);
            if let Some((u, p)) = &b.credentials {
                o.set_credentials(u, &p.0);
            }
            let (c, e) = v5::AsyncClient::new(o, cap);
            Ok((Client::V5(c), Connection::V5(Box::new(e))))
        }
    }
}

/// Builds a rustls client configuration from PEM files (ring provider).
fn tls_configuration(files: &TlsFiles) -> Result<TlsConfiguration, MqttError> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| MqttError::Tls(format!("{}: {e}", p.display())))
    };
    let certs =
        |bytes: Vec<u8>, p: &std::path::Path| -> Result<Vec<CertificateDer<'static>>, MqttError> {
            rustls_pemfile::certs(&mut bytes.as_slice())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| MqttError::Tls(format!("{}: {e}", p.display())))
        };
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs(read(&files.ca_file)?, &files.ca_file)? {
        roots
            .add(cert)
            .map_err(|e| MqttError::Tls(format!("{}: {e}", files.ca_file.display())))?;
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let config = match &files.client_auth {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = certs(read(cert)?, cert)?;
            let key: PrivateKeyDer<'static> =
                rustls_pemfile::private_key(&mut read(key)?.as_slice())
                    .map_err(|e| MqttError::Tls(format!("{}: {e}", key.display())))?
                    .ok_or_else(|| {
                        MqttError::Tls(format!("{}: no private key found", key.display()))
                    })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| MqttError::Tls(e.to_string()))?
        }
    };
    Ok(TlsConfiguration::Rustls(Arc::new(config)))
}

/// Installs rustls' ring crypto provider for the process. Call once at start-up: with two
/// providers compiled in and none installed, the first TLS handshake panics.
pub fn install_crypto_provider() {
    // An error only means a provider is installed already, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Connection {
    /// Polls the event loop once.
    pub async fn poll(&mut self) -> Polled {
        match self {
            Connection::V4(e) => {
                use rumqttc::{Event, Outgoing, Packet};
                match e.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(c))) => Polled::ConnAck {
                        session_present: c.session_present,
                    },
                    Ok(Event::Incoming(Packet::Publish(p))) => Polled::Publish {
                        topic: p.topic.clone(),
                        payload: p.payload.to_vec(),
                        token: AckToken::V4(Box::new(p)),
                    },
                    Ok(Event::Incoming(Packet::PubAck(_))) => Polled::PubAck,
                    Ok(Event::Incoming(Packet::SubAck(_))) => Polled::SubAck,
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => Polled::Disconnected,
                    Ok(_) => Polled::Other,
                    Err(err) => Polled::Error(err.to_string()),
                }
            }
            Connection::V5(e) => {
                use v5::mqttbytes::v5::Packet;
                use v5::Event;
                match e.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(c))) => Polled::ConnAck {
                        session_present: c.session_present,
                    },
                    Ok(Event::Incoming(Packet::Publish(p))) => Polled::Publish {
                        topic: String::from_utf8_lossy(&p.topic).into_owned(),
                        payload: p.payload.to_vec(),
                        token: AckToken::V5(Box::new(p)),
                    },
                    Ok(Event::Incoming(Packet::PubAck(_))) => Polled::PubAck,
                    Ok(Event::Incoming(Packet::SubAck(_))) => Polled::SubAck,
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => Polled::Disconnected,
                    Ok(_) => Polled::Other,
                    Err(err) => Polled::Error(err.to_string()),
                }
            }
        }
    }
}

impl Client {
    /// Acknowledges a received QoS 1 message.
    pub async fn ack(&self, token: &AckToken) -> Result<(), MqttError> {
        let r = match (self, token) {
            (Client::V4(c), AckToken::V4(p)) => c.ack(p).await.map_err(|e| e.to_string()),
            (Client::V5(c), AckToken::V5(p)) => c.ack(p).await.map_err(|e| e.to_string()),
            _ => Err("acknowledgement token from the other protocol version".to_string()),
        };
        r.map_err(MqttError::Client)
    }

    /// Publishes `payload` on `topic` with QoS 1 (not retained).
    pub async fn publish(&self, topic: &str, qos: QoS, payload: Vec<u8>) -> Result<(), MqttError> {
        let r = match self {
            Client::V4(c) => c
                .publish(topic, qos, false, payload)
                .await
                .map_err(|e| e.to_string()),
            Client::V5(c) => {
                let qos = match qos {
                    QoS::AtMostOnce => v5::mqttbytes::QoS::AtMostOnce,
                    QoS::AtLeastOnce => v5::mqttbytes::QoS::AtLeastOnce,
                    QoS::ExactlyOnce => v5::mqttbytes::QoS::ExactlyOnce,
                };
                c.publish(topic, qos, false, payload)
                    .await
                    .map_err(|e| e.to_string())
            }
        };
        r.map_err(MqttError::Client)
    }

    /// Subscribes to every filter with QoS 1.
    pub async fn subscribe_all(&self, filters: &[String]) -> Result<(), MqttError> {
        let r = match self {
            Client::V4(c) => c
                .subscribe_many(
                    filters
                        .iter()
                        .map(|f| rumqttc::SubscribeFilter::new(f.clone(), QoS::AtLeastOnce)),
                )
                .await
                .map_err(|e| e.to_string()),
            Client::V5(c) => c
                .subscribe_many(filters.iter().map(|f| {
                    v5::mqttbytes::v5::Filter::new(f.clone(), v5::mqttbytes::QoS::AtLeastOnce)
                }))
                .await
                .map_err(|e| e.to_string()),
        };
        r.map_err(MqttError::Client)
    }

    /// Asks the event loop to send DISCONNECT (after everything already queued).
    pub async fn disconnect(&self) -> Result<(), MqttError> {
        let r = match self {
            Client::V4(c) => c.disconnect().await.map_err(|e| e.to_string()),
            Client::V5(c) => c.disconnect().await.map_err(|e| e.to_string()),
        };
        r.map_err(MqttError::Client)
    }
}

/// Doubling reconnect delay: 100 ms, 200 ms, … up to a ceiling; reset on ConnAck.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// Starts at 100 ms.
    pub fn new(max: Duration) -> Self {
        Backoff {
            next: Duration::from_millis(100),
            max,
        }
    }

    /// The delay to wait now; doubles the next one.
    pub fn step(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    /// Back to the shortest delay (after a successful connect).
    pub fn reset(&mut self) {
        self.next = Duration::from_millis(100);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_ceiling_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(500));
        let got: Vec<u128> = (0..5).map(|_| b.step().as_millis()).collect();
        assert_eq!(got, vec![100, 200, 400, 500, 500]);
        b.reset();
        assert_eq!(b.step().as_millis(), 100);
    }
}
