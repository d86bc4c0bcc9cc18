//! The ingest stage, on its own OS thread so file IO never stalls the async runtime:
//! applies readings to the [`MeterTable`], appends the ones that changed state to the WAL,
//! `fsync`s in batches, and only then releases the batch's messages for acknowledgement
//! (the acker task sends the PUBACKs). When a meter's event time crosses its re-scoring
//! boundary it pushes the meter into the scorer's coalescing queue, which never blocks. It
//! snapshots periodically and writes `status.json` with each snapshot.
//!
//! Refused readings are counted in the metrics and logged with their topic and meter, at
//! most `RateLimitedLog::PER_WINDOW` per ten seconds.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::core::alerts::AlertBook;
use crate::core::MeterId;

use super::config::Settings;
use super::meters::{Applied, MeterTable};
use super::metrics::Metrics;
use super::mqtt::{AckToken, Client};
use super::payload::{Decoded, RejectReason, Rejected};
use super::pipeline::DaemonError;
use super::scorer::{lock, DueQueue, Pushed};
use super::source::IngestMsg;
use super::wal::Store;

/// The acker task: sends the PUBACKs ingest released, in order, until ingest ends or the
/// client is gone.
pub(super) async fn acker(client: Client, mut rx: mpsc::UnboundedReceiver<AckToken>) {
    while let Some(token) = rx.recv().await {
        if client.ack(&token).await.is_err() {
            break;
        }
    }
}

/// Logs refusals with their topic, at most [`RateLimitedLog::PER_WINDOW`] per ten seconds,
/// then one line saying how many were not shown.
pub(super) struct RateLimitedLog {
    window_start: Instant,
    n_logged: u32,
    n_suppressed: u64,
}

impl RateLimitedLog {
    /// Refusals logged individually per ten seconds.
    pub(super) const PER_WINDOW: u32 = 20;

    pub(super) fn new() -> Self {
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
pub(super) struct Ingest {
    pub(super) s: Arc<Settings>,
    pub(super) store: Store,
    /// Shared with the scorers, which lock it briefly to rebuild a meter's series.
    pub(super) table: Arc<Mutex<MeterTable>>,
    /// Shared with the scorers; ingest only reads the number of open episodes.
    pub(super) book: Arc<Mutex<AlertBook>>,
    /// Meters due for scoring.
    pub(super) due: Arc<DueQueue>,
    pub(super) ack_tx: mpsc::UnboundedSender<AckToken>,
    pub(super) metrics: Arc<Metrics>,
    /// Tokens of messages handled since the last fsync.
    pub(super) pending: Vec<AckToken>,
    pub(super) log: RateLimitedLog,
}

impl Ingest {
    /// Runs the stage until the source closes its queue, then syncs and checkpoints.
    pub(super) fn run(&mut self, mut rx: mpsc::Receiver<IngestMsg>) -> Result<(), DaemonError> {
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
