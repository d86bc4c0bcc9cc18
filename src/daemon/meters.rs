//! Per-meter live state: a bounded rolling window of hour bins, the last register value,
//! and the table of all tracked meters with its cap and least-recently-updated eviction.
//!
//! This module is pure and synchronous (no IO, no clock). It owns the rules that make
//! ingest idempotent — a minute already seen for a meter is a duplicate and changes
//! nothing — and the conversion of cumulative registers into interval energy. It does not
//! score (that is [`super::scorer`]) and does not persist (that is [`super::wal`]), but it
//! can encode and decode itself for the snapshot.
//!
//! The window holds exactly what [`SeriesBuilder`] would hold for the same readings in
//! the last [`WindowDays::span_hours`] (13 weeks and the current hour by default,
//! [`WINDOW_SPAN_HOURS`]; `ingest.window_days` shortens it), and [`HourWindow::series`]
//! rebuilds the series through a real `SeriesBuilder`, so the daemon's `HourlySeries`
//! equals the offline scanner's for every hour of the analysed window.

use std::collections::{HashMap, VecDeque};

use crate::core::features::MIN_ONSET_WINDOW_HOURS;
use crate::core::series::{HourlySeries, SeriesBuilder, Unit, HOUR_S};
use crate::core::MeterId;

use super::payload::{RejectReason, Value};
use super::scoring::WINDOW_HOURS;

/// Hours a window of the default length keeps: the detector's whole analysed window (13
/// weeks) plus the current, still-filling hour.
pub const WINDOW_SPAN_HOURS: usize = WINDOW_HOURS as usize + 1;

/// How many days of analysed hours a meter's window keeps (`ingest.window_days`).
///
/// The detector reads at most its 13 weeks ([`WindowDays::MAX`], the default); a shorter
/// window costs proportionally less memory per meter (5 bytes per closed hour). The daemon
/// scores every hour, so a switch-on still alerts within hours whatever the length; what a
/// short window loses is history: a switch-on older than the window cannot be dated, and a
/// load that has been flat for the whole window is judged by its shape alone. The shortest
/// window, [`WindowDays::MIN`], still holds a week of baseline and 18 hours of episode, the
/// least in which the detector can date a step at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowDays(u16);

impl WindowDays {
    /// The shortest window: [`MIN_ONSET_WINDOW_HOURS`] rounded up to whole days (8).
    pub const MIN: u16 = ((MIN_ONSET_WINDOW_HOURS + 23) / 24) as u16;
    /// The longest window: the detector's whole analysed window, 13 weeks (91 days).
    pub const MAX: u16 = (WINDOW_HOURS / 24) as u16;
    /// The default: the longest.
    pub const DEFAULT: WindowDays = WindowDays(Self::MAX);

    /// A window of `days` days, if within [`WindowDays::MIN`]..=[`WindowDays::MAX`].
    pub fn new(days: i64) -> Option<WindowDays> {
        (i64::from(Self::MIN)..=i64::from(Self::MAX))
            .contains(&days)
            .then_some(WindowDays(days as u16))
    }

    /// The length in days.
    pub fn days(self) -> u16 {
        self.0
    }

    /// Hours a window of this length keeps: the analysed days plus the current hour.
    pub fn span_hours(self) -> usize {
        self.0 as usize * 24 + 1
    }

    /// Closed hours in a full window of this length.
    fn closed_hours(self) -> usize {
        self.span_hours() - OPEN_HOURS
    }
}

impl Default for WindowDays {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// How many of a meter's newest hours stay *open*: a reading may arrive up to this many
/// hours behind the meter's newest reading (out of order, or redelivered after a
/// reconnect) and still be placed exactly. Older hours are *closed* and a reading for one
/// is refused as too late. Two days: a broker's redelivered backlog after a reconnect can
/// lag the newest readings by hours of event time (measured in `bench/daemon.sh`), and the
/// extra 42 open hours cost about 0.3 KB per meter.
pub const OPEN_HOURS: usize = 48;

/// Most runs of equal minute masks kept for the closed hours (see [`HourWindow`]).
const MAX_MASK_RUNS: usize = 16;

/// A meter's rolling window of the last [`WindowDays::span_hours`] hours of event time.
///
/// The window does not store its length: the table passes it to [`HourWindow::push_in`]
/// (every meter of a table, and every push on one window, has the same), and
/// [`HourWindow::push`] is the default length.
///
/// Open hours hold what [`SeriesBuilder`] holds: an f32 sum and a 60-bit mask of the
/// minutes seen (12 bytes), so duplicates are caught minute by minute. Closed hours keep
/// only the sum and the *number* of readings (5 bytes): that is all `finish` reads — it
/// scales by the count and infers the resolution from counts and occupancy, never from
/// which minutes were seen — so the series stays bit-identical while a full window costs
/// about 5 bytes per hour instead of 12.
///
/// Which minutes a closed hour saw is still needed for one thing: telling a redelivered
/// reading of a closed hour (a duplicate, nothing lost) from a reading that arrived too
/// late (refused, lost). A meter reports on the same minutes hour after hour, so the
/// closed hours' masks are kept run-length encoded — a regular meter needs one run of
/// 12 bytes — for at most `MAX_MASK_RUNS` (16) runs of the newest closed hours. A reading for
/// an older closed hour of an irregular meter cannot be recognised and counts as too late.
///
/// Memory: each kind of hour is one deque of packed records, allocated once at its final
/// size — the open hours ([`OPEN_HOURS`] × 12 bytes) on the first reading, the closed hours
/// (the span's closed hours × 5 bytes) when the first hour closes — and the window slides
/// one hour at a time, closing and dropping before it adds, so neither ever reallocates.
/// The runs start with room for one and grow (to at most `MAX_MASK_RUNS` (16)) only for an
/// irregular meter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HourWindow {
    /// Hour index of the oldest bin (closed if any, else open).
    first_hour: i64,
    /// The closed hours, oldest first.
    closed: VecDeque<ClosedHour>,
    /// Runs of equal minute masks of the newest closed hours, oldest run first; they end
    /// at the newest closed hour and may cover fewer hours than are closed.
    closed_masks: VecDeque<MaskRun>,
    /// The open hours, oldest first; at most [`OPEN_HOURS`].
    open: VecDeque<OpenHour>,
}

/// A closed hour: its f32 sum (as little-endian bits, so that the record packs into 5
/// bytes with no padding) and its number of readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ClosedHour {
    sum: [u8; 4],
    n: u8,
}

impl ClosedHour {
    fn sum(self) -> f32 {
        f32::from_le_bytes(self.sum)
    }
}

/// An open hour: its f32 sum and the mask of the minutes seen, the mask as two 32-bit
/// halves so that the record is 12 bytes (a `u64` would align and pad it to 16).
#[derive(Debug, Clone, Copy, PartialEq)]
struct OpenHour {
    sum: f32,
    mask: [u32; 2],
}

impl OpenHour {
    const EMPTY: OpenHour = OpenHour {
        sum: 0.0,
        mask: [0, 0],
    };

    fn mask(self) -> u64 {
        join_mask(self.mask)
    }
}

/// Closed hours in a row that saw the same minutes: the mask (as [`OpenHour`] keeps it,
/// 12 bytes in all) and how many hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MaskRun {
    mask: [u32; 2],
    hours: u32,
}

impl MaskRun {
    fn mask(self) -> u64 {
        join_mask(self.mask)
    }
}

fn split_mask(mask: u64) -> [u32; 2] {
    [mask as u32, (mask >> 32) as u32]
}

fn join_mask([lo, hi]: [u32; 2]) -> u64 {
    u64::from(lo) | u64::from(hi) << 32
}

/// Why a window refused a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowPush {
    /// This minute of this meter was seen before: the first value is kept.
    Duplicate,
    /// The reading is for a closed hour (more than [`OPEN_HOURS`] behind the newest).
    TooLate,
}

impl HourWindow {
    /// The hour index of the newest bin, if any.
    pub fn last_hour(&self) -> Option<i64> {
        (self.len() > 0).then(|| self.first_hour + self.len() as i64 - 1)
    }

    fn len(&self) -> usize {
        self.closed.len() + self.open.len()
    }

    /// Adds `value` for the interval starting at `ts` (unix seconds) to a window of the
    /// default length ([`WINDOW_SPAN_HOURS`]); see [`HourWindow::push_in`].
    pub fn push(&mut self, ts: i64, value: f32) -> Result<(), WindowPush> {
        self.push_in(WindowDays::DEFAULT, ts, value)
    }

    /// Adds `value` for the interval starting at `ts` (unix seconds) to a window of length
    /// `days`. A reading newer than the window slides it forward, closing hours and dropping
    /// the oldest.
    pub fn push_in(&mut self, days: WindowDays, ts: i64, value: f32) -> Result<(), WindowPush> {
        let span = days.span_hours();
        let hour = ts.div_euclid(HOUR_S);
        let bit = 1u64 << (ts.rem_euclid(HOUR_S) / 60);
        let open_first = self.first_hour + self.closed.len() as i64;
        let idx = match self.last_hour() {
            None => {
                self.first_hour = hour;
                self.push_open_hour();
                0
            }
            Some(last) if hour > last => {
                if hour - last >= span as i64 {
                    // A jump longer than the window simply empties it (the allocations,
                    // already at their final sizes, are kept).
                    self.closed.clear();
                    self.closed_masks.clear();
                    self.open.clear();
                    return self.push_in(days, ts, value);
                }
                for _ in last..hour {
                    self.advance(days);
                }
                self.trim_masks();
                self.open.len() - 1
            }
            Some(last) if last - hour >= OPEN_HOURS as i64 => {
                return Err(if self.closed_saw(hour, bit) {
                    WindowPush::Duplicate
                } else {
                    WindowPush::TooLate
                });
            }
            Some(_) if hour < open_first => {
                // Late but within the lateness, and nothing closed yet (else `hour` would
                // be closed): grow the open hours at the front, to at most OPEN_HOURS.
                for _ in hour..open_first {
                    self.open.push_front(OpenHour::EMPTY);
                }
                self.first_hour = hour;
                0
            }
            Some(_) => (hour - open_first) as usize,
        };
        let open = &mut self.open[idx];
        let mask = open.mask();
        if mask & bit != 0 {
            return Err(WindowPush::Duplicate);
        }
        open.mask = split_mask(mask | bit);
        open.sum += value;
        Ok(())
    }

    /// True when the reading at `ts` is known to have been seen by the window: its minute
    /// is set in an open hour, or in a closed hour whose mask is still kept.
    pub fn saw(&self, ts: i64) -> bool {
        let hour = ts.div_euclid(HOUR_S);
        let bit = 1u64 << (ts.rem_euclid(HOUR_S) / 60);
        let open_first = self.first_hour + self.closed.len() as i64;
        if hour >= open_first {
            let idx = (hour - open_first) as usize;
            return self.open.get(idx).is_some_and(|h| h.mask() & bit != 0);
        }
        self.closed_saw(hour, bit)
    }

    /// Whether closed hour `hour` saw the minute `bit`, as far as the kept masks know.
    fn closed_saw(&self, hour: i64, bit: u64) -> bool {
        let open_first = self.first_hour + self.closed.len() as i64;
        if hour < self.first_hour || hour >= open_first {
            return false;
        }
        // Hours back from the newest closed hour (0 = the newest).
        let mut back = (open_first - 1 - hour) as u64;
        for run in self.closed_masks.iter().rev() {
            if back < u64::from(run.hours) {
                return run.mask() & bit != 0;
            }
            back -= u64::from(run.hours);
        }
        false
    }

    /// Appends an empty open hour, allocating the open hours at their final size first.
    fn push_open_hour(&mut self) {
        if self.open.capacity() == 0 {
            self.open.reserve_exact(OPEN_HOURS);
        }
        self.open.push_back(OpenHour::EMPTY);
    }

    /// Slides the window by one hour: closes the oldest open hour when all
    /// [`OPEN_HOURS`] are open, drops the oldest hour when the span is full, then adds an
    /// empty open hour. Closing and dropping come first, so neither deque ever holds more
    /// than its final size, not even for a moment. The runs are trimmed by the caller.
    fn advance(&mut self, days: WindowDays) {
        while self.open.len() >= OPEN_HOURS {
            let Some(oldest) = self.open.pop_front() else {
                break;
            };
            self.close(oldest, days);
        }
        // The open hours are fewer than any span now, so the oldest hour is closed.
        if self.len() >= days.span_hours() && self.closed.pop_front().is_some() {
            self.first_hour += 1;
        }
        self.push_open_hour();
    }

    /// Appends `hour` to the closed hours (dropping the oldest when they are full) and its
    /// minutes to the runs.
    fn close(&mut self, hour: OpenHour, days: WindowDays) {
        if self.closed.len() >= days.closed_hours() && self.closed.pop_front().is_some() {
            self.first_hour += 1;
        }
        if self.closed.capacity() == 0 {
            // The closed hours only ever grow to their final size: allocate it once,
            // instead of growing by doubling (which left up to twice the memory held,
            // and freed blocks the allocator could not give back).
            self.closed.reserve_exact(days.closed_hours());
        }
        let mask = hour.mask();
        self.closed.push_back(ClosedHour {
            sum: hour.sum.to_le_bytes(),
            // At most 60 minutes in an hour: always fits.
            n: mask.count_ones() as u8,
        });
        match self.closed_masks.back_mut() {
            Some(run) if run.mask() == mask => run.hours += 1,
            _ => {
                if self.closed_masks.len() == MAX_MASK_RUNS {
                    self.closed_masks.pop_front();
                }
                if self.closed_masks.capacity() == 0 {
                    // A regular meter never needs a second run.
                    self.closed_masks.reserve_exact(1);
                }
                self.closed_masks.push_back(MaskRun {
                    mask: split_mask(mask),
                    hours: 1,
                });
            }
        }
    }

    /// Cuts the oldest runs of closed minute masks so they never cover more hours than are
    /// closed.
    fn trim_masks(&mut self) {
        let mut excess = self
            .closed_masks
            .iter()
            .map(|run| run.hours as usize)
            .sum::<usize>() as i64
            - self.closed.len() as i64;
        while excess > 0 {
            let Some(front) = self.closed_masks.front_mut() else {
                break;
            };
            let cut = (front.hours as i64).min(excess);
            front.hours -= cut as u32;
            excess -= cut;
            if front.hours == 0 {
                self.closed_masks.pop_front();
            }
        }
    }

    /// The window as an hourly series, built by a real [`SeriesBuilder`].
    ///
    /// Each hour is replayed as its full sum on its first reading plus zero on every other
    /// reading (adding 0.0 to an f32 changes nothing): the builder then holds bit-identical
    /// sums and the same number of readings per hour — for closed hours on other minutes
    /// than the real ones, which `finish` cannot tell — so its `finish` is the scanner's
    /// `finish` for these hours.
    pub fn series(&self, unit: Unit) -> HourlySeries {
        // A closed hour replays its count of readings as minutes 0..n (see above); an open
        // hour its real minutes. `from_hours` is the per-minute push of the sum then zeros.
        let closed = self.closed.iter().map(|&h| {
            let minutes = if h.n >= 64 {
                u64::MAX
            } else {
                (1u64 << h.n) - 1
            };
            (h.sum(), minutes)
        });
        let open = self.open.iter().map(|&h| (h.sum, h.mask()));
        SeriesBuilder::from_hours(self.first_hour, closed.chain(open)).finish(unit)
    }

    /// Heap bytes held (for the memory figure per meter).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.closed.capacity() * size_of::<ClosedHour>()
            + self.closed_masks.capacity() * size_of::<MaskRun>()
            + self.open.capacity() * size_of::<OpenHour>()
    }

    /// Appends the window to `out` in the snapshot's binary layout.
    fn encode(&self, out: &mut Vec<u8>) {
        put_u64(out, self.first_hour as u64);
        put_u64(out, self.closed.len() as u64);
        for h in &self.closed {
            out.extend_from_slice(&h.sum);
            out.push(h.n);
        }
        put_u64(out, self.closed_masks.len() as u64);
        for run in &self.closed_masks {
            put_u64(out, run.mask());
            put_u64(out, u64::from(run.hours));
        }
        put_u64(out, self.open.len() as u64);
        for h in &self.open {
            out.extend_from_slice(&h.sum.to_bits().to_le_bytes());
            put_u64(out, h.mask());
        }
    }

    /// Reads a window written by [`HourWindow::encode`] into a window of length `days`;
    /// `None` when it is malformed. Without `closed_masks` (the previous layout) the closed
    /// hours' masks are unknown.
    ///
    /// A window written with a longer length keeps only its newest `days` span, exactly as
    /// sliding would have left it: the oldest closed hours and their runs are dropped. One
    /// written with a shorter length is read as it is and grows as hours arrive. Either
    /// way the deques are allocated at this length's final sizes.
    fn decode(bytes: &mut &[u8], days: WindowDays, closed_masks: bool) -> Option<HourWindow> {
        let first_hour = get_u64(bytes)? as i64;
        let n_closed = get_u64(bytes)? as usize;
        // No setting writes more than the longest window.
        if n_closed > WINDOW_SPAN_HOURS {
            return None;
        }
        let closed = take(bytes, n_closed * 5)?;
        let mut w = HourWindow {
            first_hour,
            ..HourWindow::default()
        };
        if closed_masks {
            let n_runs = get_u64(bytes)? as usize;
            if n_runs > MAX_MASK_RUNS {
                return None;
            }
            w.closed_masks.reserve_exact(n_runs);
            let mut covered = 0u64;
            for _ in 0..n_runs {
                let mask = get_u64(bytes)?;
                let n = get_u64(bytes)?;
                covered += n;
                if n == 0 || covered > n_closed as u64 {
                    return None;
                }
                w.closed_masks.push_back(MaskRun {
                    mask: split_mask(mask),
                    hours: n as u32,
                });
            }
        }
        let n_open = get_u64(bytes)? as usize;
        if n_open > OPEN_HOURS || n_closed + n_open > WINDOW_SPAN_HOURS {
            return None;
        }
        if n_open + n_closed > 0 {
            w.open.reserve_exact(OPEN_HOURS);
        }
        for _ in 0..n_open {
            let sum = get_f32(bytes)?;
            let mask = split_mask(get_u64(bytes)?);
            w.open.push_back(OpenHour { sum, mask });
        }
        // Hours beyond this window's span, oldest first: all closed (the open hours are
        // fewer than any span).
        let n_drop = (n_closed + n_open).saturating_sub(days.span_hours());
        w.first_hour += n_drop as i64;
        if n_closed > n_drop {
            w.closed.reserve_exact(days.closed_hours());
        }
        for h in closed.chunks_exact(5).skip(n_drop) {
            w.closed.push_back(ClosedHour {
                sum: h[..4].try_into().ok()?,
                n: h[4],
            });
        }
        w.trim_masks();
        Some(w)
    }
}

/// What happened to one register reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RegisterStep {
    /// The first register value of a meter (or a new baseline): no energy yet.
    Baseline,
    /// Energy consumed since the previous register reading, attributed to the interval
    /// that starts at the previous reading.
    Interval {
        /// Start of the interval, unix seconds.
        start_ts: i64,
        /// Energy in the interval, kWh.
        kwh: f64,
    },
    /// Same timestamp as the last register reading: a redelivery.
    Duplicate,
    /// Refused; the register state was updated as noted in each reason's docs.
    Refused(RejectReason),
}

/// The longest gap between two register readings whose difference is still attributed to
/// one interval; a longer gap starts a new baseline (the energy cannot be placed in hours).
pub const MAX_REGISTER_GAP_S: i64 = 3600;

/// Advances a register: from the previous `(ts, total_kwh)` and a new reading, the step
/// and the new register state. Rollover: a register that wraps at a power of ten (99 999.9
/// → 0.4) continues across the wrap; any other decrease is a reset (meter exchange) and
/// starts a new baseline.
pub fn register_step(
    prev: Option<(i64, f64)>,
    ts: i64,
    total: f64,
    max_kw: f64,
) -> (RegisterStep, Option<(i64, f64)>) {
    let Some((prev_ts, prev_total)) = prev else {
        return (RegisterStep::Baseline, Some((ts, total)));
    };
    if ts == prev_ts {
        return (RegisterStep::Duplicate, prev);
    }
    if ts < prev_ts {
        return (
            RegisterStep::Refused(RejectReason::RegisterOutOfOrder),
            prev,
        );
    }
    let gap_s = ts - prev_ts;
    if gap_s > MAX_REGISTER_GAP_S {
        return (
            RegisterStep::Refused(RejectReason::RegisterGap),
            Some((ts, total)),
        );
    }
    let delta = if total >= prev_total {
        total - prev_total
    } else {
        let modulus = 10f64.powi(prev_total.max(1.0).log10().floor() as i32 + 1);
        if prev_total >= 0.9 * modulus && total < 0.1 * modulus {
            modulus - prev_total + total
        } else {
            return (
                RegisterStep::Refused(RejectReason::RegisterReset),
                Some((ts, total)),
            );
        }
    };
    if delta / (gap_s as f64 / 3600.0) > max_kw {
        return (
            RegisterStep::Refused(RejectReason::Implausible),
            Some((ts, total)),
        );
    }
    (
        RegisterStep::Interval {
            start_ts: prev_ts,
            kwh: delta,
        },
        Some((ts, total)),
    )
}

/// One tracked meter (its id is the table's key: [`MeterTable::id`]).
#[derive(Debug, Clone, PartialEq)]
pub struct MeterState {
    /// The unit of its window values; fixed by its first reading.
    pub unit: Unit,
    /// The hour bins.
    pub window: HourWindow,
    /// The last register reading `(ts, total_kWh)`, for meters that send registers.
    pub register: Option<(i64, f64)>,
    /// The "as of" hour of the last scoring (or the first hour seen).
    pub scored_as_of: i64,
    /// Table-wide sequence number of the last update (for eviction).
    pub touched: u64,
}

/// What applying one reading did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Applied {
    /// The reading changed the meter's state. `rescore_as_of` is set when the meter's event
    /// time crossed enough hour boundaries to be scored again, as of that hour.
    Accepted {
        /// Hour to score the meter as of, if due.
        rescore_as_of: Option<i64>,
    },
    /// A reading already seen: nothing changed.
    Duplicate,
    /// Refused.
    Rejected(RejectReason),
}

impl Applied {
    /// True when the reading changed state and so must be in the write-ahead log.
    pub fn changed_state(self) -> bool {
        // A refused register reading may have moved the baseline: log those too.
        matches!(
            self,
            Applied::Accepted { .. }
                | Applied::Rejected(
                    RejectReason::RegisterGap
                        | RejectReason::RegisterReset
                        | RejectReason::Implausible
                )
        )
    }
}

/// Every tracked meter, with a cap and eviction of the least recently updated.
///
/// Each meter's id is held once, as the map's key, and shared (not copied) with the
/// scorer's queue through [`MeterTable::id`]. The states are boxed: the map keeps between
/// 1/8 and 9/16 of its slots empty (it doubles when 7/8 are taken), and an empty slot of
/// a boxed state costs 25 bytes instead of about 170, so the memory per meter does not
/// depend on where the fleet's size falls between two doublings.
#[derive(Debug, Clone)]
pub struct MeterTable {
    meters: HashMap<MeterId, Box<MeterState>>,
    window: WindowDays,
    max_meters: usize,
    rescore_every_hours: i64,
    max_kw: f64,
    seq: u64,
    /// Meters evicted since the table was created (or restored).
    pub n_evicted: u64,
    /// Readings accepted since the state directory was created (persisted).
    pub n_accepted: u64,
}

impl MeterTable {
    /// An empty table with windows of the default length ([`WindowDays::DEFAULT`]).
    pub fn new(max_meters: usize, rescore_every_hours: i64, max_kw: f64) -> Self {
        MeterTable {
            meters: HashMap::new(),
            window: WindowDays::DEFAULT,
            max_meters: max_meters.max(1),
            rescore_every_hours: rescore_every_hours.max(1),
            max_kw,
            seq: 0,
            n_evicted: 0,
            n_accepted: 0,
        }
    }

    /// The same empty table with windows of `days` days.
    pub fn with_window(self, days: WindowDays) -> Self {
        debug_assert!(
            self.meters.is_empty(),
            "the window length is set before any meter"
        );
        MeterTable {
            window: days,
            ..self
        }
    }

    /// The length of every meter's window.
    pub fn window(&self) -> WindowDays {
        self.window
    }

    /// Number of tracked meters.
    pub fn len(&self) -> usize {
        self.meters.len()
    }

    /// True when no meter is tracked.
    pub fn is_empty(&self) -> bool {
        self.meters.is_empty()
    }

    /// One meter's state.
    pub fn get(&self, id: &str) -> Option<&MeterState> {
        self.meters.get(id).map(|m| &**m)
    }

    /// The table's own copy of a meter's id (sharing it costs no allocation).
    pub fn id(&self, id: &str) -> Option<&MeterId> {
        self.meters.get_key_value(id).map(|(k, _)| k)
    }

    /// All meters with their ids, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&MeterId, &MeterState)> {
        self.meters.iter().map(|(id, m)| (id, &**m))
    }

    /// Applies one decoded reading.
    pub fn apply(&mut self, meter: &str, ts: i64, value: Value) -> Applied {
        let applied = self.apply_inner(meter, ts, value);
        // Only readings that changed state (and so are in the WAL) count as an update: replay
        // after a crash then rebuilds exactly the same recency order, and the same evictions.
        // An accepted reading has already stamped its meter (`apply_inner`, which has it in
        // hand); the refusals that change state are stamped here.
        if applied.changed_state() {
            self.seq += 1;
            if !matches!(applied, Applied::Accepted { .. }) {
                let seq = self.seq;
                if let Some(m) = self.meters.get_mut(meter) {
                    m.touched = seq;
                }
            }
        }
        applied
    }

    fn apply_inner(&mut self, meter: &str, ts: i64, value: Value) -> Applied {
        // The stamp an accepted reading leaves on its meter (`apply` then counts it).
        let next_seq = self.seq + 1;
        let (unit, ts, x) = match value {
            Value::IntervalKwh(x) => (Unit::Kwh, ts, x),
            Value::Kw(x) => (Unit::Kw, ts, x),
            Value::RegisterKwh(total) => {
                let prev = self.meters.get(meter).map(|m| (m.unit, m.register));
                if let Some((Unit::Kw, _)) = prev {
                    return Applied::Rejected(RejectReason::UnitChanged);
                }
                let (step, next) = register_step(prev.and_then(|p| p.1), ts, total, self.max_kw);
                let state = self.entry(meter, Unit::Kwh, ts);
                state.register = next;
                match step {
                    RegisterStep::Baseline => {
                        state.touched = next_seq;
                        return Applied::Accepted {
                            rescore_as_of: None,
                        };
                    }
                    RegisterStep::Duplicate => return Applied::Duplicate,
                    // A redelivered register reading older than the newest: the interval
                    // that started at it is in the window when it was applied before.
                    RegisterStep::Refused(RejectReason::RegisterOutOfOrder)
                        if state.window.saw(ts) =>
                    {
                        return Applied::Duplicate
                    }
                    RegisterStep::Refused(reason) => return Applied::Rejected(reason),
                    RegisterStep::Interval { start_ts, kwh } => (Unit::Kwh, start_ts, kwh),
                }
            }
        };
        let rescore_every = self.rescore_every_hours;
        let days = self.window;
        // A new meter takes this reading's unit, so only a known one can refuse it.
        let state = self.entry(meter, unit, ts);
        if state.unit != unit {
            return Applied::Rejected(RejectReason::UnitChanged);
        }
        match state.window.push_in(days, ts, x as f32) {
            Err(WindowPush::Duplicate) => Applied::Duplicate,
            Err(WindowPush::TooLate) => Applied::Rejected(RejectReason::TooLate),
            Ok(()) => {
                state.touched = next_seq;
                let hour = ts.div_euclid(HOUR_S);
                let rescore_as_of = (hour >= state.scored_as_of + rescore_every).then(|| {
                    state.scored_as_of = hour;
                    hour
                });
                self.n_accepted += 1;
                Applied::Accepted { rescore_as_of }
            }
        }
    }

    /// The meter's state, created (evicting if at the cap) when new.
    fn entry(&mut self, meter: &str, unit: Unit, ts: i64) -> &mut MeterState {
        let seq = self.seq;
        if !self.meters.contains_key(meter) {
            if self.meters.len() >= self.max_meters {
                self.evict();
            }
            let state = MeterState {
                unit,
                window: HourWindow::default(),
                register: None,
                scored_as_of: ts.div_euclid(HOUR_S),
                touched: seq,
            };
            self.meters.insert(MeterId::from(meter), Box::new(state));
        }
        self.meters.get_mut(meter).expect("inserted above")
    }

    /// Evicts the least recently updated 1% of the cap (at least one meter). Evicting in
    /// a batch keeps the cost of a flood of new ids amortised to O(100) per new meter
    /// instead of a full scan per meter.
    fn evict(&mut self) {
        let n = (self.max_meters / 100).max(1);
        let mut by_age: Vec<(u64, &MeterId)> =
            self.meters.iter().map(|(k, m)| (m.touched, k)).collect();
        let n = n.min(by_age.len());
        by_age.select_nth_unstable(n - 1);
        let victims: Vec<MeterId> = by_age[..n].iter().map(|(_, k)| (*k).clone()).collect();
        for k in victims {
            self.meters.remove(k.as_str());
            self.n_evicted += 1;
        }
    }

    /// Heap bytes held by all meters (approximate: windows, ids and the map's slots,
    /// empty ones included; not the allocator's own overhead).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        // The map keeps a power of two of slots, at most 7/8 of them usable, and one
        // control byte per slot.
        let usable = self.meters.capacity();
        let slots = if usable == 0 {
            0
        } else {
            (usable * 8 / 7).next_power_of_two()
        };
        let per_slot = size_of::<(MeterId, Box<MeterState>)>() + 1;
        // An `Arc<str>` id (two counts and the bytes), the boxed state and its window.
        let per_meter: usize = self
            .meters
            .iter()
            .map(|(k, m)| 16 + k.as_str().len() + size_of::<MeterState>() + m.window.heap_bytes())
            .sum();
        slots * per_slot + per_meter
    }

    /// Appends the whole table to `out` in the snapshot's binary layout.
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_u64(out, self.seq);
        put_u64(out, self.n_evicted);
        put_u64(out, self.n_accepted);
        put_u64(out, self.meters.len() as u64);
        for (id, m) in &self.meters {
            put_str(out, id.as_str());
            out.push(match m.unit {
                Unit::Kwh => 0,
                Unit::Kw => 1,
            });
            match m.register {
                None => out.push(0),
                Some((ts, total)) => {
                    out.push(1);
                    put_u64(out, ts as u64);
                    put_u64(out, total.to_bits());
                }
            }
            put_u64(out, m.scored_as_of as u64);
            put_u64(out, m.touched);
            m.window.encode(out);
        }
    }

    /// Restores a table written by [`MeterTable::encode`], with windows of the default
    /// length; the limits come from the current settings (they may have changed between
    /// runs). See [`MeterTable::restore`] for any length.
    pub fn decode(
        bytes: &mut &[u8],
        max_meters: usize,
        rescore_every_hours: i64,
        max_kw: f64,
    ) -> Option<MeterTable> {
        MeterTable::new(max_meters, rescore_every_hours, max_kw).restore(bytes, true)
    }

    /// Restores a table written before the closed hours' masks were kept (snapshot
    /// format 2): the masks start unknown and fill as hours close.
    pub fn decode_without_closed_masks(
        bytes: &mut &[u8],
        max_meters: usize,
        rescore_every_hours: i64,
        max_kw: f64,
    ) -> Option<MeterTable> {
        MeterTable::new(max_meters, rescore_every_hours, max_kw).restore(bytes, false)
    }

    /// Fills this empty table (its limits and window length are the current settings) from
    /// a table written by [`MeterTable::encode`], or with `closed_masks` false by the
    /// previous layout. Windows written with another length are fitted to this table's:
    /// a longer one keeps its newest hours (as sliding would), a shorter one is kept whole
    /// and grows as hours arrive. `None` when the bytes are malformed.
    pub fn restore(self, bytes: &mut &[u8], closed_masks: bool) -> Option<MeterTable> {
        let mut t = self;
        t.seq = get_u64(bytes)?;
        t.n_evicted = get_u64(bytes)?;
        t.n_accepted = get_u64(bytes)?;
        let n = get_u64(bytes)?;
        for _ in 0..n {
            let id = get_str(bytes)?;
            let unit = match take(bytes, 1)?[0] {
                0 => Unit::Kwh,
                1 => Unit::Kw,
                _ => return None,
            };
            let register = match take(bytes, 1)?[0] {
                0 => None,
                _ => Some((get_u64(bytes)? as i64, f64::from_bits(get_u64(bytes)?))),
            };
            let scored_as_of = get_u64(bytes)? as i64;
            let touched = get_u64(bytes)?;
            let window = HourWindow::decode(bytes, t.window, closed_masks)?;
            let state = MeterState {
                unit,
                window,
                register,
                scored_as_of,
                touched,
            };
            t.meters.insert(MeterId::from(id.as_str()), Box::new(state));
        }
        Some(t)
    }
}

fn put_u64(out: &mut Vec<u8>, x: u64) {
    out.extend_from_slice(&x.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u64(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if bytes.len() < n {
        return None;
    }
    let (head, tail) = bytes.split_at(n);
    *bytes = tail;
    Some(head)
}

fn get_u64(bytes: &mut &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(take(bytes, 8)?.try_into().ok()?))
}

fn get_f32(bytes: &mut &[u8]) -> Option<f32> {
    Some(f32::from_bits(u32::from_le_bytes(
        take(bytes, 4)?.try_into().ok()?,
    )))
}

fn get_str(bytes: &mut &[u8]) -> Option<String> {
    let n = get_u64(bytes)? as usize;
    String::from_utf8(take(bytes, n)?.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600;

    fn table() -> MeterTable {
        MeterTable::new(1000, 1, 100_000.0)
    }

    #[test]
    fn the_window_series_equals_the_series_builder_for_the_same_readings() {
        // Fifteen-minute readings with gaps, out-of-order rows and duplicates, over 100 days
        // (longer than the window, so hours are closed and dropped): the window's series
        // must equal a SeriesBuilder's over the window's span.
        let mut rows: Vec<(i64, f32)> = (0..100 * 96)
            .filter(|i| i % 53 != 3)
            .map(|i| (i * 900, ((i * 37) % 11) as f32 * 0.13))
            .collect();
        rows.swap(500, 503);
        rows.swap(9000, 9017);
        rows.push((1000 * 900, 9.0));
        rows.push((9500 * 900, 9.0));
        let mut w = HourWindow::default();
        let mut full = SeriesBuilder::new();
        for &(ts, v) in &rows {
            let _ = w.push(ts, v);
            let _ = full.push(ts, v);
        }
        let live = w.series(Unit::Kwh);
        let last = w.last_hour().unwrap();
        let offline = full.finish(Unit::Kwh).truncated(last + 1);
        let (start, expected) = offline.window(last + 1 - WINDOW_SPAN_HOURS as i64, last + 1);
        assert_eq!(live.start_hour, start);
        assert_eq!(live.resolution_min, 15);
        assert_eq!(live.kw.len(), expected.len());
        for (a, b) in live.kw.iter().zip(expected) {
            assert!(a == b || (a.is_nan() && b.is_nan()), "{a} vs {b}");
        }
    }

    #[test]
    fn the_window_never_holds_more_than_its_span() {
        let mut w = HourWindow::default();
        for h in 0..3000 {
            w.push(h * H, 1.0).unwrap();
        }
        assert_eq!(w.series(Unit::Kwh).kw.len(), WINDOW_SPAN_HOURS);
    }

    #[test]
    fn a_full_hourly_meter_costs_about_eleven_and_a_half_kilobytes() {
        // 2136 closed hours at 5 bytes, 48 open hours at 12, the id and the table slot.
        let mut t = table();
        for h in 0..3000 {
            t.apply("MAC000123", h * H, Value::IntervalKwh(0.5));
        }
        let bytes = t.heap_bytes();
        assert!((11_400..12_000).contains(&bytes), "{bytes} bytes");
    }

    #[test]
    fn a_full_hourly_meter_at_28_days_costs_under_four_kilobytes() {
        // 625 closed hours at 5 bytes, 48 open hours at 12, one run, the id, the boxed
        // state and the table's four slots.
        let mut t = table().with_window(WindowDays::new(28).unwrap());
        for h in 0..1000 {
            t.apply("MAC000123", h * H, Value::IntervalKwh(0.5));
        }
        let bytes = t.heap_bytes();
        assert!((3_800..4_096).contains(&bytes), "{bytes} bytes");
    }

    fn check_late(newest_hour: i64, late_hour: i64, expected: Result<(), WindowPush>) {
        let mut w = HourWindow::default();
        for h in 0..=newest_hour {
            w.push(h * H, 1.0).unwrap();
        }
        assert_eq!(w.push(late_hour * H + 60, 1.0), expected, "{late_hour}");
    }

    #[test]
    fn a_reading_within_the_open_hours_is_placed_and_an_older_one_is_too_late() {
        let open = OPEN_HOURS as i64;
        check_late(1000, 1000 - (open - 1), Ok(()));
        check_late(1000, 1000 - open, Err(WindowPush::TooLate));
        check_late(1000, 100, Err(WindowPush::TooLate));
        check_late(3, 0, Ok(()));
    }

    #[test]
    fn a_late_first_reading_grows_the_open_hours_at_the_front() {
        let mut w = HourWindow::default();
        w.push(10 * H, 1.0).unwrap();
        w.push(7 * H, 2.0).unwrap();
        assert_eq!(w.series(Unit::Kwh).start_hour, 7);
        assert_eq!(w.last_hour(), Some(10));
    }

    #[test]
    fn a_redelivered_reading_changes_nothing() {
        let mut t = table();
        assert_eq!(
            t.apply("m", 0, Value::IntervalKwh(1.0)),
            Applied::Accepted {
                rescore_as_of: None
            }
        );
        assert_eq!(t.apply("m", 0, Value::IntervalKwh(5.0)), Applied::Duplicate);
        assert_eq!(t.get("m").unwrap().window.series(Unit::Kwh).kw, vec![1.0]);
        assert_eq!(t.n_accepted, 1);
    }

    #[test]
    fn a_reading_redelivered_after_its_hour_closed_is_a_duplicate_and_a_new_one_too_late() {
        // A broker's backlog after a reconnect can lag a meter's newest reading by more
        // than the open hours: what was applied before is a duplicate, not a loss.
        let mut t = table();
        for h in 0..200 {
            t.apply("m", h * H, Value::IntervalKwh(1.0));
        }
        let before = t.get("m").unwrap().clone();
        let old = 200 - OPEN_HOURS as i64 - 50;
        assert_eq!(
            t.apply("m", old * H, Value::IntervalKwh(9.0)),
            Applied::Duplicate
        );
        assert_eq!(
            t.apply("m", old * H + 1800, Value::IntervalKwh(9.0)),
            Applied::Rejected(RejectReason::TooLate)
        );
        assert_eq!(t.get("m").unwrap().window, before.window);
        assert_eq!(t.n_accepted, 200);
    }

    #[test]
    fn an_irregular_meter_keeps_a_bounded_number_of_closed_masks() {
        // Minute 0 every hour, minute 30 on every third: a new run every hour or two.
        let mut w = HourWindow::default();
        for h in 0..400 {
            w.push(h * H, 1.0).unwrap();
            if h % 3 == 0 {
                w.push(h * H + 1800, 1.0).unwrap();
            }
        }
        assert!(w.closed_masks.len() <= MAX_MASK_RUNS);
        let newest_closed = 399 - OPEN_HOURS as i64;
        assert_eq!(w.push(newest_closed * H, 1.0), Err(WindowPush::Duplicate));
        // Long closed and beyond the kept runs: it cannot be told from a late reading.
        assert_eq!(w.push(10 * H, 1.0), Err(WindowPush::TooLate));
    }

    #[test]
    fn a_register_reading_redelivered_behind_newer_ones_is_a_duplicate() {
        let mut t = table();
        for i in 0..10 {
            t.apply("r", i * 900, Value::RegisterKwh(100.0 + i as f64));
        }
        // Its interval (the one starting at it) is in the window: it was applied before.
        assert_eq!(
            t.apply("r", 3 * 900, Value::RegisterKwh(103.0)),
            Applied::Duplicate
        );
        // Never seen: out of order, refused as before.
        assert_eq!(
            t.apply("r", 3 * 900 + 60, Value::RegisterKwh(103.1)),
            Applied::Rejected(RejectReason::RegisterOutOfOrder)
        );
    }

    #[test]
    fn a_snapshot_without_closed_masks_still_loads() {
        let mut t = table();
        for h in 0..100 {
            t.apply("a", h * H, Value::IntervalKwh(1.0));
        }
        // The previous layout: the same bytes without the run list of each window.
        let m = t.get("a").unwrap();
        let mut bytes = Vec::new();
        put_u64(&mut bytes, t.seq);
        put_u64(&mut bytes, t.n_evicted);
        put_u64(&mut bytes, t.n_accepted);
        put_u64(&mut bytes, 1);
        put_str(&mut bytes, "a");
        bytes.push(0);
        bytes.push(0);
        put_u64(&mut bytes, m.scored_as_of as u64);
        put_u64(&mut bytes, m.touched);
        let w = &m.window;
        put_u64(&mut bytes, w.first_hour as u64);
        put_u64(&mut bytes, w.closed.len() as u64);
        for h in &w.closed {
            bytes.extend_from_slice(&h.sum);
            bytes.push(h.n);
        }
        put_u64(&mut bytes, w.open.len() as u64);
        for h in &w.open {
            bytes.extend_from_slice(&h.sum.to_bits().to_le_bytes());
            put_u64(&mut bytes, h.mask());
        }
        let back =
            MeterTable::decode_without_closed_masks(&mut bytes.as_slice(), 1000, 1, 1e5).unwrap();
        let b = back.get("a").unwrap();
        assert_eq!(b.window.series(Unit::Kwh), w.series(Unit::Kwh));
        assert!(b.window.closed_masks.is_empty());
        // Unknown masks: a closed hour's redelivery counts as too late, as before.
        let mut back = back;
        assert_eq!(
            back.apply("a", 10 * H, Value::IntervalKwh(1.0)),
            Applied::Rejected(RejectReason::TooLate)
        );
    }

    #[test]
    fn crossing_an_hour_boundary_asks_for_a_rescore_once() {
        let mut t = table();
        t.apply("m", 0, Value::Kw(1.0));
        assert_eq!(
            t.apply("m", 1800, Value::Kw(1.0)),
            Applied::Accepted {
                rescore_as_of: None
            }
        );
        assert_eq!(
            t.apply("m", H, Value::Kw(1.0)),
            Applied::Accepted {
                rescore_as_of: Some(1)
            }
        );
        assert_eq!(
            t.apply("m", H + 1800, Value::Kw(1.0)),
            Applied::Accepted {
                rescore_as_of: None
            }
        );
    }

    #[test]
    fn a_meter_switching_from_energy_to_power_is_refused() {
        let mut t = table();
        t.apply("m", 0, Value::IntervalKwh(1.0));
        assert_eq!(
            t.apply("m", H, Value::Kw(1.0)),
            Applied::Rejected(RejectReason::UnitChanged)
        );
        assert_eq!(
            t.apply("m", H, Value::RegisterKwh(1.0)),
            Applied::Accepted {
                rescore_as_of: None
            }
        );
    }

    /// Runs register readings through a fresh state and returns the steps.
    fn steps(readings: &[(i64, f64)]) -> Vec<RegisterStep> {
        let mut state = None;
        readings
            .iter()
            .map(|&(ts, total)| {
                let (step, next) = register_step(state, ts, total, 1000.0);
                state = next;
                step
            })
            .collect()
    }

    #[test]
    fn a_register_becomes_interval_energy_from_its_differences() {
        assert_eq!(
            steps(&[(0, 100.0), (900, 100.5), (1800, 101.0)]),
            vec![
                RegisterStep::Baseline,
                RegisterStep::Interval {
                    start_ts: 0,
                    kwh: 0.5
                },
                RegisterStep::Interval {
                    start_ts: 900,
                    kwh: 0.5
                }
            ]
        );
    }

    #[test]
    fn a_register_rolling_over_at_a_power_of_ten_continues() {
        let s = steps(&[(0, 99_999.5), (900, 0.5)]);
        assert!(
            matches!(s[1], RegisterStep::Interval { start_ts: 0, kwh } if (kwh - 1.0).abs() < 1e-9)
        );
    }

    #[test]
    fn a_register_going_backwards_otherwise_is_a_reset_and_a_new_baseline() {
        let s = steps(&[(0, 5000.0), (900, 12.0), (1800, 12.5)]);
        assert_eq!(s[1], RegisterStep::Refused(RejectReason::RegisterReset));
        assert_eq!(
            s[2],
            RegisterStep::Interval {
                start_ts: 900,
                kwh: 0.5
            }
        );
    }

    #[test]
    fn a_register_redelivered_or_out_of_order_is_not_counted_twice() {
        let s = steps(&[(900, 10.0), (900, 10.0), (0, 9.0)]);
        assert_eq!(
            s[1..],
            [
                RegisterStep::Duplicate,
                RegisterStep::Refused(RejectReason::RegisterOutOfOrder)
            ]
        );
    }

    #[test]
    fn a_register_after_a_long_gap_starts_a_new_baseline() {
        let s = steps(&[(0, 10.0), (3 * H, 13.0), (3 * H + 900, 13.25)]);
        assert_eq!(s[1], RegisterStep::Refused(RejectReason::RegisterGap));
        assert_eq!(
            s[2],
            RegisterStep::Interval {
                start_ts: 3 * H,
                kwh: 0.25
            }
        );
    }

    #[test]
    fn an_implausible_register_jump_is_refused() {
        let s = steps(&[(0, 10.0), (900, 1e6)]);
        assert_eq!(s[1], RegisterStep::Refused(RejectReason::Implausible));
    }

    #[test]
    fn a_flood_of_new_meters_is_capped_and_evictions_counted() {
        let mut t = MeterTable::new(200, 1, 1e5);
        t.apply("keep", 0, Value::Kw(1.0));
        for i in 0..1000 {
            t.apply(&format!("flood{i}"), 0, Value::Kw(1.0));
            // The meter that keeps reporting is the most recently updated: never evicted.
            t.apply("keep", (i + 1) * 60, Value::Kw(1.0));
        }
        assert!(t.len() <= 200);
        assert_eq!(t.n_evicted as usize + t.len(), 1001);
        assert!(t.get("keep").is_some());
    }

    #[test]
    fn a_table_survives_encoding() {
        let mut t = table();
        for h in 0..50 {
            t.apply("a", h * H, Value::IntervalKwh(h as f64));
            t.apply("b", h * H, Value::RegisterKwh(h as f64 * 2.0));
        }
        let mut bytes = Vec::new();
        t.encode(&mut bytes);
        let back = MeterTable::decode(&mut bytes.as_slice(), 1000, 1, 1e5).unwrap();
        assert_eq!(back.get("a"), t.get("a"));
        assert_eq!(back.get("b"), t.get("b"));
        assert_eq!((back.n_accepted, back.seq), (t.n_accepted, t.seq));
    }

    /// A deterministic mess of readings over `days` days for three meters (energy, power,
    /// registers): irregular minutes, missing hours, a five-day silence, readings up to a
    /// day late, redeliveries, and some more than two days late.
    fn messy_readings(days: i64) -> Vec<(&'static str, i64, Value)> {
        let mut x = 12345u64;
        let mut next = move || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 33
        };
        let mut rows = Vec::new();
        let silent = 40 * 24..45 * 24;
        for i in 0..days * 96 {
            let ts = i * 900;
            if silent.contains(&(ts / H)) || next() % 17 == 0 {
                continue;
            }
            let jitter = if (ts / H) % 5 == 0 { 60 } else { 0 };
            let kwh = (next() % 100) as f64 / 40.0;
            rows.push(("a", ts + jitter, Value::IntervalKwh(kwh)));
            rows.push(("k", ts, Value::Kw(kwh * 4.0)));
            rows.push(("r", ts, Value::RegisterKwh(i as f64 * 0.3)));
            match next() % 29 {
                0 => rows.push(("a", ts - 20 * H, Value::IntervalKwh(0.5))),
                1 => rows.push(("a", ts - 60 * H, Value::IntervalKwh(0.5))),
                2 => rows.push(("k", ts - 900, Value::Kw(1.0))),
                _ => {}
            }
        }
        rows
    }

    fn fed(days: Option<WindowDays>, rows: &[(&str, i64, Value)]) -> MeterTable {
        let mut t = table();
        if let Some(days) = days {
            t = t.with_window(days);
        }
        for &(m, ts, v) in rows {
            t.apply(m, ts, v);
        }
        t
    }

    #[test]
    fn the_window_length_is_a_whole_number_of_days_from_eight_to_ninety_one() {
        assert_eq!(WindowDays::new(7), None);
        assert_eq!(
            WindowDays::new(8).map(WindowDays::span_hours),
            Some(8 * 24 + 1)
        );
        assert_eq!(WindowDays::new(28).map(WindowDays::span_hours), Some(673));
        assert_eq!(WindowDays::new(91), Some(WindowDays::DEFAULT));
        assert_eq!(WindowDays::DEFAULT.span_hours(), WINDOW_SPAN_HOURS);
        assert_eq!(WindowDays::new(92), None);
        assert_eq!(WindowDays::new(-28), None);
        assert_eq!(table().window(), WindowDays::DEFAULT);
    }

    #[test]
    fn a_short_window_equals_the_series_builder_over_its_own_span() {
        // As the thirteen-week test above, at 28 and 8 days.
        for days in [28, 8] {
            let days = WindowDays::new(days).unwrap();
            let mut rows: Vec<(i64, f32)> = (0..60 * 96)
                .filter(|i| i % 53 != 3)
                .map(|i| (i * 900, ((i * 37) % 11) as f32 * 0.13))
                .collect();
            rows.swap(500, 503);
            rows.swap(5000, 5017);
            rows.push((5500 * 900, 9.0));
            let mut w = HourWindow::default();
            let mut full = SeriesBuilder::new();
            for &(ts, v) in &rows {
                let _ = w.push_in(days, ts, v);
                let _ = full.push(ts, v);
            }
            let live = w.series(Unit::Kwh);
            let last = w.last_hour().unwrap();
            let offline = full.finish(Unit::Kwh).truncated(last + 1);
            let (start, expected) = offline.window(last + 1 - days.span_hours() as i64, last + 1);
            assert_eq!(live.start_hour, start);
            assert_eq!(live.kw.len(), days.span_hours());
            for (a, b) in live.kw.iter().zip(expected) {
                assert!(a == b || (a.is_nan() && b.is_nan()), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn a_full_window_never_reallocates_its_hours() {
        // The closed hours are reserved at their final size on the first close and the open
        // hours on the first reading, and sliding closes and drops before it adds: through
        // irregular minutes, late readings, a silence shorter than the window and one
        // longer, neither deque ever changes its allocation.
        let days = WindowDays::new(28).unwrap();
        let caps = |w: &HourWindow| (w.closed.capacity(), w.open.capacity());
        let mut w = HourWindow::default();
        w.push_in(days, 0, 1.0).unwrap();
        assert_eq!(caps(&w), (0, OPEN_HOURS));
        for h in 1..700 {
            w.push_in(days, h * H, 1.0).unwrap();
        }
        assert_eq!(caps(&w), (673 - OPEN_HOURS, OPEN_HOURS));
        for h in (700..2000).chain(2500..2600).chain(4000..4100) {
            w.push_in(days, h * H + 60 * (h % 3), 1.0).unwrap();
            let _ = w.push_in(days, (h - 30) * H + 120, 1.0);
            assert_eq!(caps(&w), (673 - OPEN_HOURS, OPEN_HOURS), "hour {h}");
        }
        // After the long silence: hours 3970 to 4099 (a late reading grew it at the front).
        assert_eq!(w.series(Unit::Kwh).kw.len(), 130);
        assert!(w.closed_masks.capacity() <= MAX_MASK_RUNS);
    }

    #[test]
    fn a_snapshot_of_longer_windows_restores_as_the_shorter_window_would_have_been() {
        // Same readings into a 13-week and a 28-day table: the 13-week snapshot restored
        // with 28-day windows is the 28-day table, masks and all, and goes on identically.
        let rows = messy_readings(120);
        let (before, after) = rows.split_at(rows.len() - 3000);
        let days = WindowDays::new(28).unwrap();
        let long = fed(None, before);
        let mut short = fed(Some(days), before);
        let mut bytes = Vec::new();
        long.encode(&mut bytes);
        let mut back = table()
            .with_window(days)
            .restore(&mut bytes.as_slice(), true)
            .unwrap();
        assert_eq!(back.window(), days);
        for m in ["a", "k", "r"] {
            assert_eq!(back.get(m), short.get(m), "{m}");
            assert_eq!(back.get(m).unwrap().window.series(Unit::Kwh).kw.len(), 673);
        }
        for &(m, ts, v) in after {
            assert_eq!(back.apply(m, ts, v), short.apply(m, ts, v), "{m} {ts}");
        }
        for m in ["a", "k", "r"] {
            assert_eq!(back.get(m), short.get(m), "{m}");
            let (b, s) = (&back.get(m).unwrap().window, &short.get(m).unwrap().window);
            assert_eq!((b.closed.capacity(), b.open.capacity()), (625, OPEN_HOURS));
            assert_eq!((s.closed.capacity(), s.open.capacity()), (625, OPEN_HOURS));
        }
    }

    #[test]
    fn a_snapshot_of_shorter_windows_restores_whole_and_grows_to_the_longer_window() {
        // 100 days into a 28-day table, then 100 more after a restart with 13 weeks.
        let rows = messy_readings(200);
        let half = rows.partition_point(|r| r.1 < 100 * 24 * H);
        let days = WindowDays::new(28).unwrap();
        let short = fed(Some(days), &rows[..half]);
        let mut bytes = Vec::new();
        short.encode(&mut bytes);
        let mut back = table().restore(&mut bytes.as_slice(), true).unwrap();
        for m in ["a", "k", "r"] {
            assert_eq!(back.get(m), short.get(m), "{m}");
        }
        // Once 13 weeks have passed, nothing tells it from a table that always had them.
        let long = fed(None, &rows);
        for &(m, ts, v) in &rows[half..] {
            back.apply(m, ts, v);
        }
        for m in ["a", "k", "r"] {
            assert_eq!(back.get(m), long.get(m), "{m}");
            let w = &back.get(m).unwrap().window;
            assert_eq!(w.series(Unit::Kwh).kw.len(), WINDOW_SPAN_HOURS);
            assert_eq!(w.closed.capacity(), WINDOW_SPAN_HOURS - OPEN_HOURS);
        }
    }

    #[test]
    fn the_shortest_window_still_dates_a_switch_on() {
        // Eight days of a household's evening peaks, then a flat 3 kW for the last day: the
        // window holds the week of baseline and the episode the onset search needs.
        let days = WindowDays::new(i64::from(WindowDays::MIN)).unwrap();
        let mut t = table().with_window(days);
        let start = 473_352; // 2024-01-01
        for h in 0..(8 * 24 + 1) {
            let evening = if (17..22).contains(&(h % 24)) {
                1.5
            } else {
                0.3
            };
            let wobble = ((h * 7919) % 13) as f64 * 0.01;
            let step = if h >= 7 * 24 { 3.0 } else { 0.0 };
            t.apply(
                "m",
                (start + h) * H,
                Value::IntervalKwh(evening + wobble + step),
            );
        }
        let series = t.get("m").unwrap().window.series(Unit::Kwh);
        assert_eq!(series.kw.len(), days.span_hours());
        let m = crate::core::features::measure(&series, series.end_hour(), 0).unwrap();
        let onset = m.onset.expect("an onset");
        assert!(
            (start + 7 * 24 - 6..=start + 7 * 24).contains(&onset.hour),
            "{}",
            onset.hour
        );
    }
}
