//! The embedded MQTT broker (rumqttd) for the zero-setup demo and tests.
//!
//! rumqttd's `Broker::start` blocks forever and has no shutdown, so it runs on its own OS
//! thread for the rest of the process. Its commit log lives in memory: segments are kept
//! small and few. It logs ERROR on every normal disconnect; callers filter `rumqttd` logs.
//! It does not honour MQTT 5 session expiry nor set DUP on redelivery, so session
//! semantics are tested against Mosquitto, not here.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Failures starting the embedded broker.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// No free port, or the broker never accepted a connection.
    #[error("embedded broker: {0}")]
    Start(String),
}

/// Starts rumqttd on a free loopback port and returns its address once it accepts TCP.
pub fn start_embedded() -> Result<SocketAddr, BrokerError> {
    // Ask the OS for a free port, release it, and hand it to rumqttd. Another process could
    // take it in between; on loopback in practice it does not, and start-up would fail loudly.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| BrokerError::Start(e.to_string()))?
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let text = format!(
        r#"
id = 0
[router]
id = 0
max_connections = 64
max_outgoing_packet_count = 200
max_segment_size = 4194304
max_segment_count = 16

[v4.1]
name = "v4-1"
listen = "{addr}"
next_connection_delay_ms = 1
    [v4.1.connections]
    connection_timeout_ms = 60000
    max_payload_size = 1048576
    max_inflight_count = 100
    dynamic_filters = true
"#
    );
    let config: rumqttd::Config =
        toml::from_str(&text).map_err(|e| BrokerError::Start(e.to_string()))?;
    std::thread::Builder::new()
        .name("flatline-broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded broker stopped");
            }
        })
        .map_err(|e| BrokerError::Start(e.to_string()))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if Instant::now() > deadline {
            return Err(BrokerError::Start(format!(
                "nothing listening on {addr} after 10 s"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(addr)
}
