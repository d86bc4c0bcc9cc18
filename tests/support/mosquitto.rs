//! A real Mosquitto for integration tests: `mosquitto -c CONF` as a child process on a
//! free loopback port, with the settings docs/operations.md asks operators for
//! (`max_inflight_messages 100`, `max_queued_messages 1000000`), persistence in a temporary
//! directory (so a restart keeps sessions, as a production broker would), anonymous access,
//! listening on 127.0.0.1 only. Stopped by pid on drop. Without a `mosquitto` on `PATH`
//! the constructors return `None` and the test skips (see `support/require.rs`).
//!
//! [`Mosquitto::start_secure`] adds a second listener for the client under test, with TLS
//! (optionally requiring a client certificate) and/or a password file; the first listener
//! stays plain and anonymous for the test's own publishers and subscribers
//! (`per_listener_settings true`). Messages cross between the two listeners.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running test broker.
pub struct Mosquitto {
    child: Option<Child>,
    /// The TCP port on 127.0.0.1 (plain, anonymous).
    pub port: u16,
    /// The port of the secure listener, when there is one.
    pub secure_port: Option<u16>,
    secure: Option<SecureListener>,
    dir: tempfile::TempDir,
}

/// What the second listener asks of its clients.
#[derive(Debug, Clone, Default)]
pub struct SecureListener {
    /// TLS, if any.
    pub tls: Option<TlsListener>,
    /// A `mosquitto_passwd` file; anonymous clients are refused when set.
    pub password_file: Option<PathBuf>,
}

/// The broker's TLS material.
#[derive(Debug, Clone)]
pub struct TlsListener {
    /// CA that signed the server certificate (and the client certificates it accepts).
    pub ca_cert: PathBuf,
    /// Server certificate.
    pub server_cert: PathBuf,
    /// Server key.
    pub server_key: PathBuf,
    /// Refuse clients without a certificate signed by the CA.
    pub require_certificate: bool,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Mosquitto {
    /// Starts a broker and waits until it accepts TCP connections; `None` (the test
    /// skips) when there is no `mosquitto` to start.
    pub fn start() -> Option<Mosquitto> {
        Self::start_with(None)
    }

    /// Starts a broker with a second, secure listener and waits until both accept TCP
    /// connections; `None` (the test skips) when there is no `mosquitto` to start.
    pub fn start_secure(secure: SecureListener) -> Option<Mosquitto> {
        Self::start_with(Some(secure))
    }

    fn start_with(secure: Option<SecureListener>) -> Option<Mosquitto> {
        if !super::require::program("mosquitto") {
            return None;
        }
        let mut m = Mosquitto {
            child: None,
            port: free_port(),
            secure_port: secure.as_ref().map(|_| free_port()),
            secure,
            dir: tempfile::tempdir().unwrap(),
        };
        m.spawn();
        Some(m)
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// The secure listener's URL: `mqtts://` with TLS, else `mqtt://`.
    pub fn secure_url(&self) -> String {
        let port = self.secure_port.expect("started with start_secure");
        let tls = self.secure.as_ref().is_some_and(|s| s.tls.is_some());
        format!("{}://127.0.0.1:{port}", if tls { "mqtts" } else { "mqtt" })
    }

    /// The broker's log so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    fn conf(&self) -> PathBuf {
        let conf = self.dir.path().join("mosquitto.conf");
        // Mosquitto started as root drops to user `mosquitto` unless told to stay.
        let user = if unsafe { libc::geteuid() } == 0 {
            "user root\n"
        } else {
            ""
        };
        let mut text = format!(
            "max_inflight_messages 100\nmax_queued_messages 1000000\n\
             persistence true\npersistence_location {}/\nautosave_interval 3600\nlog_dest file {}/mosquitto.log\n{user}\
             per_listener_settings true\nlistener {} 127.0.0.1\nallow_anonymous true\n",
            self.dir.path().display(),
            self.dir.path().display(),
            self.port,
        );
        if let (Some(port), Some(secure)) = (self.secure_port, &self.secure) {
            text.push_str(&format!("listener {port} 127.0.0.1\n"));
            if let Some(tls) = &secure.tls {
                text.push_str(&format!(
                    "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate {}\n",
                    tls.ca_cert.display(),
                    tls.server_cert.display(),
                    tls.server_key.display(),
                    tls.require_certificate
                ));
            }
            match &secure.password_file {
                Some(file) => text.push_str(&format!(
                    "allow_anonymous false\npassword_file {}\n",
                    file.display()
                )),
                None => text.push_str("allow_anonymous true\n"),
            }
        }
        std::fs::write(&conf, text).unwrap();
        conf
    }

    fn spawn(&mut self) {
        let conf = self.conf();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto must be installed");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        for port in std::iter::once(self.port).chain(self.secure_port) {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "mosquitto did not start on port {port}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Stops the broker gracefully (SIGTERM: it writes its persistence file) and starts it
    /// again on the same port with the same persistence.
    pub fn restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            child.wait().unwrap();
        }
        self.spawn();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
