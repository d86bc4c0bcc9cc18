//! The running daemon: source → ingest → alert sink, wired with bounded channels.
//!
//! - **Source** (tokio task): polls the rumqttc event loop continuously, decodes each
//!   message ([`super::payload::decode`], pure and cheap) and hands it to ingest through a
//!   bounded queue. It never publishes and never waits on scoring. It re-subscribes when a
//!   ConnAck says the broker kept no session, and backs off (doubling) after errors.
//! - **Ingest** (its own OS thread, so file IO never stalls the async runtime): applies
//!   readings to the [`MeterTable`], appends the ones that changed state to the WAL,
//!   `fsync`s in batches, and only then releases the batch's messages for acknowledgement.
//!   When a meter's event time crosses its re-scoring boundary it pushes the meter into the
//!   scorer's coalescing queue, which never blocks. It snapshots periodically.
//! - **Scorer** (threads of their own, lower priority, see [`super::scorer`]): scores due
//!   meters at their latest state and asks the [`AlertBook`] whether the verdict is worth
//!   an alert. Scoring can fall behind; it cannot hold up ingest or the event loop, so a
//!   slow scorer never makes the broker drop the connection and redeliver a backlog.
//! - **Acker** (tokio task): sends the released PUBACKs through the client.
//! - **Alert sink** (tokio task): draws the PNG, appends `alerts.jsonl` (fsync), then
//!   publishes the alert with QoS 1 on `<prefix>/<meter_id>`.
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
use std::time::{Duration, Instant};

use rumqttc::QoS;
use tokio::sync::{mpsc, watch};

use crate::core::registry::Topology;
use crate::core::verdict::Assessment;
use crate::core::MeterId;
use crate::report::{safe_file_name, write_meter_png, write_node_png, ReportInput};

use super::alerts::{Alert, AlertBook};
use super::config::Settings;
use super::meters::{Applied, MeterTable};
use super::metrics::Metrics;
use super::mqtt::{self, AckToken, Backoff, Client, Connection, Polled, SessionMode};
use super::payload::{decode, Decoded, RejectReason, Rejected};
use super::scorer::{lock, AlertJob, DueQueue, Evidence, Pushed, Scorer};
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

/// One message on its way from the source to ingest.
enum IngestMsg {
    /// A decoded message and the token to acknowledge it with once durable.
    Delivery {
        topic: String,
        decoded: Decoded,
        token: Option<AckToken>,
    },
    /// A wake-up so ingest checkpoints on time even when no messages come.
    Tick,
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
        AlertBook::replay(&alerts_path).map_err(|source| DaemonError::Alerts {
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
    let acker = {
        let client = client.clone();
        tokio::spawn(async move {
            let mut rx = ack_rx;
            while let Some(token) = rx.recv().await {
                if client.ack(&token).await.is_err() {
                    break;
                }
            }
        })
    };
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
async fn wait_true(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|&v| v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The source task: poll, decode, hand off. See the module docs.
async fn source_loop(
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

/// Logs refusals with their topic, at most [`RateLimitedLog::PER_WINDOW`] per ten seconds,
/// then one line saying how many were not shown.
struct RateLimitedLog {
    window_start: Instant,
    n_logged: u32,
    n_suppressed: u64,
}

impl RateLimitedLog {
    const PER_WINDOW: u32 = 20;

    fn new() -> Self {
        RateLimitedLog {
            window_start: Instant::now(),
            n_logged: 0,
            n_suppressed: 0,
        }
    }

    fn rejected(&mut self, reason: RejectReason, topic: &str, meter: Option<&str>) {
        if self.window_start.elapsed() >= Duration::from_secs(10) {
            if self.n_suppressed > 0 {
                tracing::warn!(
                    suppressed = self.n_suppressed,
                    "more refused readings not logged individually (see metrics)"
                );
            }
            *self = RateLimitedLog::new();
        }
        if self.n_logged < Self::PER_WINDOW {
            self.n_logged += 1;
            tracing::warn!(
                reason = reason.as_str(),
                topic,
                meter = meter.unwrap_or(""),
                "reading refused"
            );
        } else {
            self.n_suppressed += 1;
        }
    }
}

/// The ingest stage's state (lives on its own thread).
struct Ingest {
    s: Arc<Settings>,
    store: Store,
    /// Shared with the scorers, which lock it briefly to rebuild a meter's series.
    table: Arc<Mutex<MeterTable>>,
    /// Shared with the scorers; ingest only reads the number of open episodes.
    book: Arc<Mutex<AlertBook>>,
    /// Meters due for scoring.
    due: Arc<DueQueue>,
    ack_tx: mpsc::UnboundedSender<AckToken>,
    metrics: Arc<Metrics>,
    /// Tokens of messages handled since the last fsync.
    pending: Vec<AckToken>,
    log: RateLimitedLog,
}

impl Ingest {
    fn run(&mut self, mut rx: mpsc::Receiver<IngestMsg>) -> Result<(), DaemonError> {
        // Re-judge every meter once as of its last scoring: an alert decided before a crash
        // but never written is decided again here; one that was written is not repeated.
        let due: Vec<(MeterId, i64)> = lock(&self.table)
            .iter()
            .map(|(id, m)| (id.clone(), m.scored_as_of))
            .collect();
        for (id, as_of) in due {
            self.schedule(id, as_of);
        }
        let mut last_checkpoint = Instant::now();
        let mut n_handled = 0u64;
        while let Some(first) = rx.blocking_recv() {
            let mut next = Some(first);
            // Take whatever is queued, up to one fsync batch, then make it durable at once.
            while let Some(msg) = next.take() {
                if let IngestMsg::Delivery {
                    topic,
                    decoded,
                    token,
                } = msg
                {
                    self.handle(&topic, decoded);
                    n_handled += 1;
                    self.pending.extend(token);
                }
                if self.store.n_unsynced() as usize >= self.s.sync_batch {
                    break;
                }
                next = rx.try_recv().ok();
            }
            self.release(&mut n_handled)?;
            if last_checkpoint.elapsed() >= self.s.checkpoint_every {
                self.checkpoint()?;
                last_checkpoint = Instant::now();
            }
        }
        self.release(&mut n_handled)?;
        self.checkpoint()?;
        Ok(())
    }

    /// Fsyncs the WAL, then lets the acker acknowledge every message handled so far.
    fn release(&mut self, n_handled: &mut u64) -> Result<(), DaemonError> {
        self.store.sync()?;
        for token in self.pending.drain(..) {
            let _ = self.ack_tx.send(token);
        }
        self.metrics
            .messages_processed
            .fetch_add(std::mem::take(n_handled), Relaxed);
        Ok(())
    }

    fn checkpoint(&mut self) -> Result<(), DaemonError> {
        let table = lock(&self.table);
        self.store.checkpoint(&table)?;
        let now = chrono::Utc::now().timestamp();
        self.metrics.checkpoint_unix_s.store(now, Relaxed);
        let status = serde_json::json!({
            "checkpoint_unix_s": now,
            "meters_tracked": table.len(),
            "readings_accepted": table.n_accepted,
            "meters_evicted": table.n_evicted,
            "open_suspects": lock(&self.book).n_open(),
            "approx_state_bytes": table.heap_bytes(),
        });
        drop(table);
        // status.json is informational; failing to write it does not stop the daemon.
        let _ = std::fs::write(self.store.dir().join("status.json"), status.to_string());
        Ok(())
    }

    fn handle(&mut self, topic: &str, decoded: Decoded) {
        for Rejected { reason, topic } in &decoded.rejected {
            self.metrics.reject(*reason);
            self.log.rejected(*reason, topic, None);
        }
        let mut due = Vec::new();
        let mut table = lock(&self.table);
        for r in &decoded.readings {
            let applied = table.apply(&r.meter, r.ts, r.value);
            if applied.changed_state() {
                if let Err(e) = self.store.append(r) {
                    // Without the WAL nothing can be acknowledged safely; ending the stage
                    // is handled by the caller's next sync, which fails the same way.
                    tracing::error!(error = %e, "write-ahead log append failed");
                }
            }
            match applied {
                Applied::Accepted { rescore_as_of } => {
                    self.metrics.readings_accepted.fetch_add(1, Relaxed);
                    self.metrics.max_event_unix_s.fetch_max(r.ts, Relaxed);
                    if let Some(as_of) = rescore_as_of {
                        if let Some(id) = table.id(&r.meter) {
                            due.push((id.clone(), as_of));
                        }
                    }
                }
                Applied::Duplicate => {
                    self.metrics.readings_duplicate.fetch_add(1, Relaxed);
                }
                Applied::Rejected(reason) => {
                    self.metrics.reject(reason);
                    self.log.rejected(reason, topic, Some(&r.meter));
                }
            }
        }
        self.metrics
            .meters_tracked
            .store(table.len() as u64, Relaxed);
        self.metrics.meters_evicted.store(table.n_evicted, Relaxed);
        drop(table);
        for (id, as_of) in due {
            self.schedule(id, as_of);
        }
    }

    /// Hands a due meter to the scorers; never waits for scoring.
    fn schedule(&mut self, id: MeterId, as_of: i64) {
        if self.due.push(id, as_of) == Pushed::Coalesced {
            self.metrics.scoring_coalesced.fetch_add(1, Relaxed);
        }
        self.metrics
            .scoring_queued
            .store(self.due.len() as u64, Relaxed);
    }
}

/// The alert sink task: picture, durable record, then the MQTT message.
async fn alert_sink(
    mut rx: mpsc::Receiver<AlertJob>,
    client: Client,
    s: Arc<Settings>,
    metrics: Arc<Metrics>,
) {
    let alerts_path = s.state_dir.join("alerts.jsonl");
    while let Some(job) = rx.recv().await {
        let AlertJob {
            mut alert,
            assessment,
            evidence,
        } = job;
        let path = alerts_path.clone();
        let s2 = s.clone();
        // Drawing and fsync block: run them off the async workers.
        let written = tokio::task::spawn_blocking(move || {
            if let Some(dir) = &s2.report_dir {
                match draw_report(dir, &s2, &alert, &evidence, &assessment) {
                    Ok(file) => alert.report_path = Some(file.display().to_string()),
                    Err(e) => {
                        tracing::warn!(meter = %alert.meter_id, error = %e, "report not drawn")
                    }
                }
            }
            append_line(&path, &alert).map(|()| alert)
        })
        .await;
        let alert = match written {
            Ok(Ok(alert)) => alert,
            Ok(Err(e)) => {
                tracing::error!(file = %alerts_path.display(), error = %e, "alert not recorded; not published either (it will be decided again after a restart)");
                continue;
            }
            Err(_) => continue,
        };
        metrics.alert(alert.kind);
        tracing::info!(kind = alert.kind.as_str(), meter = %alert.meter_id, episode = alert.episode, score = alert.score, est_rigs = alert.est_rigs, "alert");
        let topic = format!("{}/{}", s.alert_topic_prefix, alert.meter_id);
        let body = serde_json::to_vec(&alert).unwrap_or_default();
        if let Err(e) = client.publish(&topic, QoS::AtLeastOnce, body).await {
            tracing::warn!(%topic, error = %e, "alert recorded but not published");
        }
    }
}

/// Draws the evidence page of one alert with the same report code `scan --report-dir` uses,
/// into `<dir>/<meter>-episode<N>-<kind>.png`: the node page for a transformer or feeder,
/// else the meter page. The daemon has no fleet at hand, so a meter page has no peer band
/// and no population panel; the registry's class and feeder are shown when the meter is
/// in it.
fn draw_report(
    dir: &std::path::Path,
    s: &Settings,
    alert: &Alert,
    evidence: &Evidence,
    assessment: &Assessment,
) -> Result<PathBuf, crate::report::ReportError> {
    let file = dir.join(format!(
        "{}-episode{}-{}.png",
        safe_file_name(&alert.meter_id),
        alert.episode,
        alert.kind.as_str()
    ));
    std::fs::create_dir_all(dir).map_err(|source| crate::report::ReportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    match evidence {
        Evidence::Node(balance) => write_node_png(balance, assessment, s.tz_offset_s, &file)?,
        Evidence::Meter(series) => {
            let entry = s.registry.as_ref().and_then(|r| r.get(&alert.meter_id));
            let input = ReportInput::new(series, assessment, entry, s.tz_offset_s);
            write_meter_png(&input, &file)?
        }
    }
    Ok(file)
}

/// Appends one JSON line and fsyncs.
fn append_line(path: &std::path::Path, alert: &Alert) -> Result<(), std::io::Error> {
    use std::io::Write;
    let mut line = serde_json::to_vec(alert).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(&line)?;
    f.sync_data()
}
