//! The scorer: judges meters on threads of their own, so that neither ingest nor the MQTT
//! event loop ever waits for scoring.
//!
//! Ingest decides *when* a meter is due (its event time crossed the re-scoring boundary)
//! and pushes `(meter, as_of)` into a [`DueQueue`]; scorer threads take meters from it,
//! rebuild each one's series from the shared [`MeterTable`] (briefly locked), score it with
//! the core outside the lock, ask the [`AlertBook`] whether the verdict is worth an alert,
//! and hand alerts to the sink.
//!
//! **The queue coalesces.** It holds at most one entry per meter: a meter that becomes due
//! again while it is still waiting keeps its place and is scored once, as of its newest
//! hour. So when scoring cannot keep up (every meter re-scored every hour of a fast
//! replay, or a backlog after an outage), the scorer falls behind by at most one scoring
//! per meter — it scores each meter at its latest state instead of working through every
//! hour — and the queue is bounded by the number of tracked meters. A meter is never
//! scored by two threads at once, and the `as_of` of its scorings only grows, which the
//! alert book relies on.
//!
//! Scorer threads run at a lower scheduling priority (Linux `nice` 10), so on a loaded
//! machine ingest and the event loop get the CPU first. A due scoring lost in a crash is
//! not lost for good: each meter's `scored_as_of` is in the snapshot and WAL, and start-up
//! scores every meter once as of it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use tokio::sync::mpsc;

use crate::core::balance::{self, Balance};
use crate::core::registry::{Role, Topology};
use crate::core::series::HourlySeries;
use crate::core::verdict::Assessment;
use crate::core::MeterId;

use super::config::Settings;
use super::meters::MeterTable;
use super::metrics::Metrics;
use super::scoring::{assess, Context};
use crate::core::alerts::{Alert, AlertBook};

/// One alert on its way to the sink, with what the picture needs.
pub struct AlertJob {
    /// The alert (already recorded in the book).
    pub alert: Alert,
    /// The assessment behind it.
    pub assessment: Assessment,
    /// What the page is drawn from.
    pub evidence: Evidence,
}

/// What an alert's page is drawn from.
pub enum Evidence {
    /// A premises meter: the series it was judged on (the meter page).
    Meter(HourlySeries),
    /// A transformer or feeder: its balance, whose unexplained load was judged (the node
    /// page: node, customers, losses, unexplained, as `scan --report-dir` draws it).
    Node(Box<Balance>),
}

/// Locks a mutex, taking the data even if a thread panicked while holding it (the data is
/// a table or a book whose every update is a whole step; a panic elsewhere in a scorer
/// does not leave them half-written).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What [`DueQueue::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// The meter was not waiting: it is queued now.
    Queued,
    /// The meter was already waiting (or being scored with a newer scoring waiting): the
    /// entry now asks for the newer `as_of`, and the meter is scored once.
    Coalesced,
}

/// Meters due for scoring: at most one entry per meter, first due first served.
#[derive(Debug, Default)]
pub struct DueQueue {
    state: Mutex<DueState>,
    ready: Condvar,
}

#[derive(Debug, Default)]
struct DueState {
    /// The `as_of` each waiting meter is to be scored as of.
    due: HashMap<MeterId, i64>,
    /// Waiting meters that no thread is scoring, in the order they became due.
    order: VecDeque<MeterId>,
    /// Meters a thread is scoring now.
    busy: HashSet<MeterId>,
    closed: bool,
}

impl DueQueue {
    /// An empty, open queue.
    pub fn new() -> Self {
        DueQueue::default()
    }

    /// Asks for `id` to be scored as of `as_of` (or later, if it already waits for a later
    /// hour). Never blocks on scoring.
    pub fn push(&self, id: MeterId, as_of: i64) -> Pushed {
        let mut s = lock(&self.state);
        if let Some(waiting) = s.due.get_mut(&id) {
            *waiting = (*waiting).max(as_of);
            return Pushed::Coalesced;
        }
        s.due.insert(id.clone(), as_of);
        // A meter being scored is queued again when its thread is done with it.
        if !s.busy.contains(&id) {
            s.order.push_back(id);
            self.ready.notify_one();
        }
        Pushed::Queued
    }

    /// Takes the next meter to score, blocking while none is ready; `None` once the queue
    /// is closed and everything in it was scored.
    pub fn take(&self) -> Option<(MeterId, i64)> {
        let mut s = lock(&self.state);
        loop {
            if let Some(id) = s.order.pop_front() {
                let as_of = s.due.remove(&id).expect("every queued meter is due");
                s.busy.insert(id.clone());
                return Some((id, as_of));
            }
            if s.closed && s.busy.is_empty() {
                return None;
            }
            s = self.ready.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Marks `id` as scored; if it became due again meanwhile, it is queued now.
    pub fn done(&self, id: &MeterId) {
        let mut s = lock(&self.state);
        s.busy.remove(id);
        if s.due.contains_key(id) {
            s.order.push_back(id.clone());
        }
        // Waiters may be waiting for this meter or for the queue to end.
        self.ready.notify_all();
    }

    /// No more pushes: threads drain what is queued and then [`DueQueue::take`] ends.
    pub fn close(&self) {
        lock(&self.state).closed = true;
        self.ready.notify_all();
    }

    /// Shutdown out of time: drops every meter still waiting (threads finish the meter they
    /// hold and end) and says how many were dropped. Nothing is lost: the readings are in
    /// the WAL, and each such meter is scored again when its next reading crosses an hour.
    pub fn abandon(&self) -> usize {
        let mut s = lock(&self.state);
        let n = s.due.len();
        s.due.clear();
        s.order.clear();
        s.closed = true;
        self.ready.notify_all();
        n
    }

    /// Meters waiting to be scored.
    pub fn len(&self) -> usize {
        lock(&self.state).due.len()
    }

    /// True when no meter waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What every scorer thread shares.
pub struct Scorer {
    /// Checked settings (model, registry, time zone).
    pub s: Arc<Settings>,
    /// The meter table ingest updates.
    pub table: Arc<Mutex<MeterTable>>,
    /// Open episodes: decides which verdicts become alerts.
    pub book: Arc<Mutex<AlertBook>>,
    /// Meters due.
    pub due: Arc<DueQueue>,
    /// To the alert sink (bounded; alerts are rare, so waiting for it is fine here).
    pub alert_tx: mpsc::Sender<AlertJob>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Transformers and feeders to balance, when the registry names them.
    pub topology: Option<Arc<Topology>>,
}

impl Scorer {
    /// Scores due meters until the queue is closed and drained.
    pub fn run(&self) {
        lower_thread_priority();
        while let Some((id, as_of)) = self.due.take() {
            self.score(&id, as_of);
            self.due.done(&id);
            self.metrics
                .scoring_queued
                .store(self.due.len() as u64, Relaxed);
        }
    }

    /// Scores one meter as of `as_of` on its current window.
    fn score(&self, id: &MeterId, as_of: i64) {
        // A transformer or feeder meter is judged by its balance, not as a premises.
        if let Some(topo) = &self.topology {
            if let Some(role) = topo.role(id.as_str()) {
                self.score_node(topo, id, role, as_of);
                return;
            }
        }
        // Only the series rebuild holds the table; scoring runs on the copy.
        let series = {
            let table = lock(&self.table);
            let Some(m) = table.get(id.as_str()) else {
                return;
            };
            m.window.series(m.unit)
        };
        let ctx = Context {
            tz_offset_s: self.s.tz_offset_s,
            registry: self.s.registry.as_ref().and_then(|r| r.get(id.as_str())),
        };
        let a = assess(id, &series, as_of, &self.s.model, &ctx);
        self.metrics.assessments.fetch_add(1, Relaxed);
        self.alert_if_due(a, Evidence::Meter(series));
    }

    /// Records and sends an alert when the book says the verdict is worth one.
    fn alert_if_due(&self, assessment: Assessment, evidence: Evidence) {
        let alert = {
            let mut book = lock(&self.book);
            let alert = book.decide(&assessment);
            if let Some(alert) = &alert {
                book.record(alert);
            }
            self.metrics
                .alerts_pending
                .store(book.n_pending() as u64, Relaxed);
            alert
        };
        if let Some(alert) = alert {
            // Bounded: if the sink falls behind, this scorer waits (losing an alert is
            // worse); ingest does not.
            let _ = self.alert_tx.blocking_send(AlertJob {
                alert,
                assessment,
                evidence,
            });
        }
    }

    /// Balances a node meter against its children's current windows, as of the hour its
    /// own readings crossed, and alerts like a meter (same book, same topic layout, keyed
    /// by the node's id). Children whose latest hour has not arrived yet leave that hour
    /// incomplete, which is never counted as theft; the next hour's scoring sees it.
    fn score_node(&self, topo: &Topology, id: &MeterId, role: Role, as_of: i64) {
        let (node_series, children) = {
            let table = lock(&self.table);
            let Some(m) = table.get(id.as_str()) else {
                return;
            };
            let has = |c: &str| table.get(c).is_some();
            let children: Vec<(MeterId, Option<HourlySeries>)> =
                balance::metered_children(topo, id.as_str(), &has)
                    .into_iter()
                    .map(|c| {
                        let s = table.get(&c).map(|m| m.window.series(m.unit));
                        (MeterId::from(c.as_str()), s)
                    })
                    .collect();
            (m.window.series(m.unit), children)
        };
        let refs: Vec<(MeterId, Option<&HourlySeries>)> = children
            .iter()
            .map(|(c, s)| (c.clone(), s.as_ref()))
            .collect();
        let readings = balance::NodeReadings {
            id,
            role,
            series: &node_series,
            rating_kw: (self.s.registry.as_ref())
                .and_then(|r| r.get(id.as_str()))
                .and_then(|e| e.contracted_kw),
            children: &refs,
        };
        let (n, b) = balance::balance_and_assess(
            topo,
            &readings,
            as_of,
            self.s.tz_offset_s,
            &balance::LossModel::default(),
            &balance::NodeRule::default(),
        );
        self.metrics.assessments.fetch_add(1, Relaxed);
        // The alert judges the unexplained load as the "meter"; its page is the node's.
        self.alert_if_due(n.assessment, Evidence::Node(Box::new(b)));
    }
}

/// Scorer threads to start: one per core (they run at a lower priority, so ingest and the
/// event loop still get a core when they need one).
pub fn n_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 8))
}

/// Lowers the calling thread's scheduling priority (Linux: per-thread nice 10). Best
/// effort: on failure, or elsewhere, the thread keeps the default priority.
fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority only read their arguments; on Linux PRIO_PROCESS with
    // a thread id changes that thread alone.
    unsafe {
        let tid = libc::gettid();
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> MeterId {
        MeterId::from(s)
    }

    #[test]
    fn a_meter_due_again_while_waiting_is_scored_once_at_its_newest_hour() {
        let q = DueQueue::new();
        assert_eq!(q.push(id("a"), 10), Pushed::Queued);
        assert_eq!(q.push(id("b"), 10), Pushed::Queued);
        assert_eq!(q.push(id("a"), 11), Pushed::Coalesced);
        assert_eq!(q.push(id("a"), 12), Pushed::Coalesced);
        assert_eq!(q.len(), 2);
        q.close();
        let mut got = Vec::new();
        while let Some((m, as_of)) = q.take() {
            q.done(&m);
            got.push((m.as_str().to_string(), as_of));
        }
        assert_eq!(got, vec![("a".into(), 12), ("b".into(), 10)]);
    }

    #[test]
    fn a_meter_being_scored_is_not_handed_out_again_until_it_is_done() {
        let q = DueQueue::new();
        q.push(id("a"), 1);
        let (m, _) = q.take().unwrap();
        // Due again while a thread scores it: waits, and is not given to another thread.
        assert_eq!(q.push(id("a"), 2), Pushed::Queued);
        q.push(id("b"), 2);
        assert_eq!(q.take().unwrap().0, id("b"));
        q.done(&id("b"));
        q.done(&m);
        assert_eq!(q.take(), Some((id("a"), 2)));
        q.done(&id("a"));
        q.close();
        assert_eq!(q.take(), None);
    }

    #[test]
    fn abandoning_drops_the_waiting_meters_and_ends_the_threads() {
        let q = DueQueue::new();
        q.push(id("a"), 10);
        q.push(id("b"), 10);
        q.push(id("c"), 10);
        let (held, _) = q.take().expect("a meter");
        assert_eq!(q.abandon(), 2, "the two still waiting");
        assert!(q.is_empty());
        // The thread holding a meter finishes it; then take ends at once.
        q.done(&held);
        assert_eq!(q.take(), None);
    }

    #[test]
    fn closing_lets_threads_drain_the_queue_and_then_end() {
        let q = Arc::new(DueQueue::new());
        for i in 0..100 {
            q.push(id(&format!("m{i}")), i);
        }
        q.close();
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                std::thread::spawn(move || {
                    let mut n = 0;
                    while let Some((m, _)) = q.take() {
                        q.done(&m);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let total: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(total, 100);
        assert!(q.is_empty());
    }
}
