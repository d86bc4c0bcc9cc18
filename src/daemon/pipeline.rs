//! The running daemon: the wiring of its stages and the order they shut down in. Each
//! stage lives in a module of its own, connected by bounded channels:
//!
//! - **Source** ([`super::source`], tokio task): poll → decode → bounded queue to ingest.
//! - **Ingest** ([`super::ingest`], its own OS thread): meter table, WAL, `fsync` batches,
//!   and only then the release of acknowledgements (sent by the acker task).
//! - **Scorer** ([`super::scorer`], threads of their own, lower priority): scores due
//!   meters at their latest state and asks the [`crate::core::alerts::AlertBook`] whether the verdict is worth
//!   an alert. Scoring can fall behind; it cannot hold up ingest or the event loop, so a
//!   slow scorer never makes the broker drop the connection and redeliver a backlog.
//! - **Alert sink** ([`super::sink`], tokio task): draws the PNG, appends `alerts.jsonl`
//!   (fsync), then publishes the alert with QoS 1 on `<prefix>/<meter_id>`.
//!
//! Shutdown flows from the source: when the shutdown signal fires the source stops
//! forwarding (messages received after that stay unacknowledged and the broker redelivers
//! them next time) but keeps polling so the last acknowledgements reach the broker. Ingest
//! drains its queue, syncs, checkpoints, closes the scoring queue and ends; the scorers
//! score what is still due and end — or, if that takes more than half the deadline (a
//! large backlog), the meters still waiting are dropped from the queue and scored when
//! their next reading arrives (their readings are in the WAL); the acker and sink end when
//! their inputs close; then the client disconnects. [`run`] waits for all of it under a
//! deadline.
//!
//! **The guarantee.** A message is acknowledged to the broker only after every reading in
//! it is `fsync`ed in the WAL (or was a duplicate of one that is, or was refused). With a
//! persistent session and QoS 1, a reading the broker delivered is therefore either in the
//! WAL or will be delivered again: a `kill -9` loses nothing. An alert is appended to
//! `alerts.jsonl` (fsync) before it is published and the alert book is rebuilt from that
//! file at start-up, so no alert is sent twice for one episode; an alert whose process died
//! between the append and the publish is in the file but may be missing on the broker.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::core::registry::Topology;

use super::config::Settings;
use super::ingest::{acker, Ingest, RateLimitedLog};
use super::metrics::Metrics;
use super::mqtt::{self, AckToken, SessionMode};
use super::scorer::{lock, AlertJob, DueQueue, Scorer};
use super::sink::{alert_sink, replay_alerts};
use super::source::{source_loop, IngestMsg};
use super::wal::{Store, StoreError};

/// Failures that stop the daemon (bad input never does).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The state directory failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The MQTT client could not be set up.
    #[error(transparent)]
    Mqtt(#[from] mqtt::MqttError),
    /// Reading the alert file at start-up failed.
    #[error("alerts file {path}: {source}")]
    Alerts {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The metrics endpoint could not listen.
    #[error("metrics endpoint {addr}: {source}")]
    Metrics {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// A stage panicked or the shutdown deadline passed.
    #[error("shutdown: {0}")]
    Shutdown(String),
}

/// How a run ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Meters tracked at the end.
    pub n_meters: usize,
    /// Readings accepted (since the state directory was created).
    pub n_accepted: u64,
    /// Meters in an open suspect episode at the end.
    pub n_open_suspects: usize,
    /// Alerts sent during this run.
    pub n_alerts: u64,
    /// WAL lines replayed at start-up.
    pub n_replayed: u64,
    /// True when every stage ended before the deadline.
    pub clean: bool,
}

/// Runs the daemon until `shutdown` becomes true, then drains and checkpoints.
pub async fn run(
    settings: Settings,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<RunSummary, DaemonError> {
    let s = Arc::new(settings);
    let (store, table, recovery) = Store::open(&s.state_dir, s.table)?;
    let alerts_path = s.state_dir.join("alerts.jsonl");
    let (book, n_torn_alerts) =
        replay_alerts(&alerts_path).map_err(|source| DaemonError::Alerts {
            path: alerts_path.clone(),
            source,
        })?;
    tracing::info!(
        state_dir = %s.state_dir.display(),
        from_snapshot = recovery.from_snapshot,
        wal_lines_replayed = recovery.n_replayed,
        wal_lines_torn = recovery.n_torn,
        meters = table.len(),
        open_suspects = book.n_open(),
        torn_alert_lines = n_torn_alerts,
        "state recovered"
    );
    metrics.readings_accepted.store(table.n_accepted, Relaxed);
    metrics.meters_tracked.store(table.len() as u64, Relaxed);
    for filter in s.subscriptions.iter().filter(|f| f.starts_with("$share/")) {
        // A meter's window lives in one daemon: a broker that spreads a shared group's
        // messages round-robin (Mosquitto does) splits every meter between the members.
        tracing::warn!(%filter, "shared subscription: only safe if the broker keeps each topic on one member (see docs/operations.md, Sharding)");
    }
    let table = Arc::new(Mutex::new(table));
    let book = Arc::new(Mutex::new(book.with_confirmation(s.confirm_hours)));
    let due = Arc::new(DueQueue::new());

    let metrics_task = match s.metrics_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| DaemonError::Metrics { addr, source })?;
            tracing::info!(%addr, "metrics endpoint listening");
            Some(tokio::spawn(super::metrics::serve(
                listener,
                metrics.clone(),
            )))
        }
        None => None,
    };

    // Packets up to four times the payload limit are read and refused as oversized; only
    // bigger ones would kill the event loop (and be redelivered forever), so the margin is wide.
    let mode = SessionMode {
        manual_acks: true,
        max_packet_bytes: (s.limits.max_payload_bytes * 4).max(1 << 20),
    };
    let (client, connection) = mqtt::connect(&s.broker, mode)?;

    let (ingest_tx, ingest_rx) = mpsc::channel::<IngestMsg>(s.queue_capacity);
    // Unbounded on purpose: with manual acks the broker sends at most its in-flight window
    // of unacknowledged messages, so this queue cannot outgrow that window, and a bound here
    // could deadlock ingest against the event loop: acks reach the broker through rumqttc's
    // bounded request channel, which only the polling source drains, and the source may be
    // waiting on ingest.
    let (ack_tx, ack_rx) = mpsc::unbounded_channel::<AckToken>();
    let (alert_tx, alert_rx) = mpsc::channel::<AlertJob>(256);
    let finishing = Arc::new(AtomicBool::new(false));

    let source = tokio::spawn(source_loop(
        connection,
        client.clone(),
        s.clone(),
        ingest_tx.clone(),
        shutdown.clone(),
        metrics.clone(),
        finishing.clone(),
    ));
    let ticker = {
        let tx = ingest_tx;
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = every.tick() => { let _ = tx.try_send(IngestMsg::Tick); }
                    _ = wait_true(&mut shutdown) => break,
                }
            }
        })
    };
    let acker = tokio::spawn(acker(client.clone(), ack_rx));
    let sink = tokio::spawn(alert_sink(
        alert_rx,
        client.clone(),
        s.clone(),
        metrics.clone(),
    ));
    // Checked when the settings were built; a registry without node rows has no topology
    // and the daemon scores every meter as a premises.
    let topology = s
        .registry
        .as_deref()
        .and_then(|r| Topology::from_registry(r).ok())
        .filter(|t| !t.is_empty())
        .map(Arc::new);
    let mut scorers = Vec::new();
    for i in 0..super::scorer::n_threads() {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let scorer = Scorer {
            s: s.clone(),
            table: table.clone(),
            book: book.clone(),
            due: due.clone(),
            alert_tx: alert_tx.clone(),
            metrics: metrics.clone(),
            topology: topology.clone(),
        };
        std::thread::Builder::new()
            .name(format!("flatline-score-{i}"))
            .spawn(move || {
                scorer.run();
                let _ = done_tx.send(());
            })
            .map_err(|e| DaemonError::Shutdown(format!("cannot start a scorer thread: {e}")))?;
        scorers.push(done_rx);
    }
    // The scorers hold the only senders now: the sink ends when the last scorer does.
    drop(alert_tx);
    let ingest = {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let s = s.clone();
        let metrics = metrics.clone();
        let table = table.clone();
        let book = book.clone();
        let due = due.clone();
        std::thread::Builder::new()
            .name("flatline-ingest".into())
            .spawn(move || {
                let mut ingest = Ingest {
                    s,
                    store,
                    table,
                    book,
                    due,
                    ack_tx,
                    metrics,
                    pending: Vec::new(),
                    log: RateLimitedLog::new(),
                };
                let result = ingest.run(ingest_rx);
                // Whatever happened, let the scorers finish what is due and end.
                ingest.due.close();
                let _ = done_tx.send(result);
            })
            .map_err(|e| DaemonError::Shutdown(format!("cannot start the ingest thread: {e}")))?;
        done_rx
    };

    wait_true(&mut shutdown).await;
    tracing::info!("shutdown requested: draining");
    let deadline = s.shutdown_deadline;
    let drained = tokio::time::timeout(deadline, async {
        let _ = ticker.await;
        ingest
            .await
            .map_err(|_| DaemonError::Shutdown("the ingest thread panicked".into()))??;
        // Half the deadline for the scorers to finish the backlog; then it is dropped.
        let mut next = 0;
        let finish = async {
            while next < scorers.len() {
                (&mut scorers[next])
                    .await
                    .map_err(|_| DaemonError::Shutdown("a scorer thread panicked".into()))?;
                next += 1;
            }
            Ok::<_, DaemonError>(())
        };
        if let Ok(finished) = tokio::time::timeout(deadline / 2, finish).await {
            finished?;
        } else {
            let deferred = due.abandon();
            tracing::warn!(
                deferred,
                "shutdown: scoring backlog dropped; those meters are scored at their next reading"
            );
            for scorer in &mut scorers[next..] {
                scorer
                    .await
                    .map_err(|_| DaemonError::Shutdown("a scorer thread panicked".into()))?;
            }
        }
        let _ = acker.await;
        let _ = sink.await;
        let ingest_result = {
            let table = lock(&table);
            (table.len(), table.n_accepted, lock(&book).n_open())
        };
        // Everything queued for the broker (acks, alerts) is in the request channel now:
        // DISCONNECT goes after it, and the source ends when the loop sends it.
        finishing.store(true, Relaxed);
        let _ = client.disconnect().await;
        let _ = source.await;
        Ok::<_, DaemonError>(ingest_result)
    })
    .await;
    if let Some(t) = metrics_task {
        t.abort();
    }
    let n_alerts = metrics.alerts.iter().map(|a| a.load(Relaxed)).sum();
    match drained {
        Ok(Ok((n_meters, n_accepted, n_open_suspects))) => {
            tracing::info!(meters = n_meters, readings_accepted = n_accepted, open_suspects = n_open_suspects, "stopped cleanly");
            Ok(RunSummary { n_meters, n_accepted, n_open_suspects, n_alerts, n_replayed: recovery.n_replayed, clean: true })
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(DaemonError::Shutdown(format!(
            "stages did not finish within {} s; state is safe in the WAL, unacknowledged messages will be redelivered",
            deadline.as_secs()
        ))),
    }
}

/// Resolves when the watch value is (or becomes) true; never resolves if the sender is
/// dropped while false.
pub(super) async fn wait_true(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|&v| v).await.is_err() {
        std::future::pending::<()>().await;
    }
}
