//! A real Mosquitto for integration tests: `mosquitto -c CONF` as a child process on a
//! free loopback port, with the settings docs/operations.md asks operators for
//! (`max_inflight_messages 100`, `max_queued_messages 1000000`), persistence in a temporary
//! directory (so a restart keeps sessions, as a production broker would), anonymous access,
//! listening on 127.0.0.1 only. Stopped by pid on drop.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running test broker.
pub struct Mosquitto {
    child: Option<Child>,
    /// The TCP port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Mosquitto {
    /// Starts a broker and waits until it accepts TCP connections.
    pub fn start() -> Mosquitto {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let mut m = Mosquitto {
            child: None,
            port,
            dir,
        };
        m.spawn();
        m
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    fn conf(&self) -> PathBuf {
        let conf = self.dir.path().join("mosquitto.conf");
        // Mosquitto started as root drops to user `mosquitto` unless told to stay.
        let user = if unsafe { libc::geteuid() } == 0 {
            "user root\n"
        } else {
            ""
        };
        let text = format!(
            "listener {} 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 100\nmax_queued_messages 1000000\n\
             persistence true\npersistence_location {}/\nautosave_interval 3600\nlog_dest file {}/mosquitto.log\n{user}",
            self.port,
            self.dir.path().display(),
            self.dir.path().display()
        );
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
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
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
