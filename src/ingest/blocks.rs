//! Reading files as blocks of whole records: on one thread, or with the parsing spread
//! over several.
//!
//! A file is cut into blocks of about [`BLOCK_BYTES`] at record boundaries (a newline
//! outside quotes), so each block parses on its own with the same CSV settings. Parsing a
//! block turns it into its good readings and the examples of its bad rows, each with its
//! line counted from the block's start; applying it hands the readings to the consumer and
//! merges the counts into the summary, with lines offset by the newlines of the blocks
//! before. The serial reader does the three steps in turn on the caller's thread. The
//! parallel one reads (and un-gzips) on one thread, parses on `n_threads`, and applies on
//! the caller's thread after putting the blocks back in file order, so the consumer (a
//! [`Fleet`]'s hour bins, whose sums depend on the order of the values and whose duplicate
//! rule keeps the first) sees exactly the serial sequence, and the summary — counts,
//! examples, their file and line — comes out the same whatever the number of threads or
//! the block size. Only the parsing runs in parallel; the consumer stays on one thread.
//!
//! The consumer is kept light, since it is the one serial stage: a parse thread numbers the
//! meter ids it meets ([`IdNumbers`]) and a block carries numbers, not ids; the consumer
//! keeps a copy of each thread's numbering ([`KnownIds`]) and, through it, the consumer's
//! own key for each id (a [`Fleet`]'s meter index), so no id is hashed on the consumer's
//! thread. It also tells the consumer of each reading a few readings ahead, so that the
//! meter's hour bin can be on its way into the cache.
//!
//! A record's line is the line of its first byte: one plus the newlines before it in the
//! file, blank lines and CRLF ends included.
//!
//! Memory is bounded: a fixed pool of blocks circulates from the reading thread through
//! the parse threads to the consumer and back, so the reading thread waits when the
//! consumer falls behind. This module owns the cutting, the threads and the reordering;
//! what a row means is [`super::Rows`]' job.
//!
//! [`Fleet`]: crate::core::Fleet

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

use indicatif::ProgressBar;

use super::layout::Layout;
use super::source::InputFile;
use super::summary::example_text;
use super::timestamp::StampCache;
use super::{
    csv_reader, detect_layout, file_meter, open_input, record_text, settle_progress, BadReason,
    Consumer, Detected, IngestError, IngestSummary, Opened, Order, ReadOptions, Row, Rows,
    UNRESOLVED,
};
use crate::core::Unit;

/// The default block size: large enough that a block's fixed costs (a channel send, a
/// CSV reader) vanish, small enough that a few per thread fit in cache-friendly memory.
pub(crate) const BLOCK_BYTES: usize = 1 << 20;

/// The CSV reader's buffer over a block in memory.
const SLICE_BUFFER_BYTES: usize = 16 * 1024;

/// Reads `files` on this thread alone.
pub(super) fn read_serially(
    files: &[InputFile],
    opts: &ReadOptions,
    progress: Option<&ProgressBar>,
    order: Order,
    consumer: impl Consumer,
) -> Result<IngestSummary, IngestError> {
    let mut sink = InPlace {
        applier: Applier::new(opts, consumer),
        record: csv::ByteRecord::new(),
        stamps: StampCache::new(),
        numbers: IdNumbers::default(),
        grouping: Grouping::default(),
        spare: Some(Block::default()),
        failure: None,
    };
    BlockReader {
        opts,
        progress,
        sink: &mut sink,
        order,
        seq: 0,
    }
    .run(files);
    match sink.failure {
        Some(error) => Err(error),
        None => Ok(sink.applier.summary),
    }
}

/// Reads `files` with `n_threads` parse threads; the result is [`read_serially`]'s.
pub(super) fn read_in_parallel(
    files: &[InputFile],
    opts: &ReadOptions,
    n_threads: usize,
    progress: Option<&ProgressBar>,
    order: Order,
    consumer: impl Consumer,
) -> Result<IngestSummary, IngestError> {
    // Enough blocks that every parse thread has one in hand and one waiting, and the
    // consumer one to apply while the reader fills another.
    let n_blocks = 2 * n_threads + 2;
    let (pool_tx, pool_rx) = mpsc::sync_channel::<Block>(n_blocks);
    for _ in 0..n_blocks {
        // Cannot fail: the channel has room for every block and its receiver is alive.
        let _ = pool_tx.send(Block::default());
    }
    let (jobs_tx, jobs_rx) = mpsc::sync_channel::<(u64, Block)>(n_threads);
    let jobs_rx = Arc::new(Mutex::new(jobs_rx));
    let (events_tx, events_rx) = mpsc::channel::<(u64, Event)>();
    std::thread::scope(|scope| {
        for worker in 0..n_threads {
            let jobs_rx = Arc::clone(&jobs_rx);
            let events_tx = events_tx.clone();
            scope.spawn(move || parse_blocks(worker, &jobs_rx, &events_tx, opts));
        }
        // The parse threads hold the only handles on the job queue now, so when they
        // stop the reader's sends fail instead of blocking.
        drop(jobs_rx);
        let mut sink = Threads {
            pool_rx,
            jobs_tx,
            events_tx,
        };
        scope.spawn(move || {
            BlockReader {
                opts,
                progress,
                sink: &mut sink,
                order,
                seq: 0,
            }
            .run(files)
        });
        // Returning drops the event receiver and the pool sender, which stops the other
        // threads early if a file failed.
        apply_in_order(events_rx, pool_tx, Applier::new(opts, consumer))
    })
}

/// What every block of one file shares.
struct FileContext {
    path: PathBuf,
    layout: Layout,
    /// The meter id of a one-file-per-meter file (empty otherwise).
    file_meter: String,
}

/// One step of the read, numbered in file order.
enum Event {
    /// A file whose blocks follow.
    FileStart,
    /// A file left out of a folder walk, with the reason.
    Skipped(PathBuf, String),
    /// A file that stops the read.
    Failed(IngestError),
    /// A parsed block of the current file.
    Parsed(Block),
}

/// A block of one file: its bytes in, its parsed rows out. Blocks are recycled through
/// the pool, so their vectors keep their capacity from one block to the next.
struct Block {
    file: Option<Arc<FileContext>>,
    /// Whole records: the block starts at a record boundary and ends at one (or at the end
    /// of the file).
    bytes: Vec<u8>,
    /// True for a file's first block when its first record is a header.
    skip_first_record: bool,
    /// The order its readings are handed on in.
    order: Order,
    /// Indices into `readings` in the order they are handed on (empty for file order).
    by_meter: Vec<u32>,
    /// Good readings, in file order.
    readings: Vec<BlockReading>,
    /// The parse thread that numbered the meters of `readings` (see [`IdNumbers`]).
    worker: usize,
    /// The ids that thread met first in this block, end to end, in the order met: they
    /// take the numbers after the ones it gave out before.
    new_ids: String,
    /// Where each id in `new_ids` ends.
    new_id_ends: Vec<usize>,
    /// Runs of consecutive readings of one meter.
    n_runs: usize,
    /// Data rows parsed.
    n_rows: u64,
    /// Readings at or after `until`.
    n_after_until: u64,
    /// Newlines in `bytes`: what the next block's lines are offset by.
    n_lines: u64,
    /// Bad rows per reason found by parsing (the consumer's refusals come later).
    bad: BTreeMap<BadReason, u64>,
    /// The first bad rows of each reason (up to `max_examples`), in file order.
    examples: Vec<BlockBadRow>,
}

/// A good reading as a parse thread leaves it for the consumer.
struct BlockReading {
    ts: i64,
    value: f32,
    /// The meter's number from the parse thread's [`IdNumbers`].
    meter: u32,
    /// The record's first byte in the block: orders readings against bad rows, and finds
    /// the row again (and its line) if the consumer refuses it.
    start: u64,
}

/// A bad row kept as an example candidate.
struct BlockBadRow {
    reason: BadReason,
    line: u64,
    start: u64,
    text: String,
}

impl Default for Block {
    fn default() -> Self {
        Block {
            file: None,
            bytes: Vec::new(),
            skip_first_record: false,
            order: Order::File,
            by_meter: Vec::new(),
            readings: Vec::new(),
            worker: 0,
            new_ids: String::new(),
            new_id_ends: Vec::new(),
            n_runs: 0,
            n_rows: 0,
            n_after_until: 0,
            n_lines: 0,
            bad: BTreeMap::new(),
            examples: Vec::new(),
        }
    }
}

impl Block {
    /// Empties the outputs for the next use, keeping their capacity.
    fn clear_outputs(&mut self) {
        self.readings.clear();
        self.by_meter.clear();
        self.new_ids.clear();
        self.new_id_ends.clear();
        self.n_runs = 0;
        self.n_rows = 0;
        self.n_after_until = 0;
        self.n_lines = 0;
        self.bad.clear();
        self.examples.clear();
    }
}

/// Where the reader's numbered steps go: parsed and applied at once ([`InPlace`]), or to
/// the parse threads and the consumer ([`Threads`]).
trait Sink {
    /// An empty block to fill, or `None` when the read is over.
    fn take_block(&mut self) -> Option<Block>;
    /// A control step in its place in the sequence.
    fn event(&mut self, seq: u64, event: Event) -> Result<(), Stop>;
    /// A filled block in its place in the sequence.
    fn block(&mut self, seq: u64, block: Block) -> Result<(), Stop>;
}

/// The read stops: a file failed, or the consumer is gone.
struct Stop;

/// The reader: opens each file in turn, decides its layout from its first record, and cuts
/// it into blocks. Every step it makes is numbered, so a consumer can put them back in
/// order.
struct BlockReader<'a, S: Sink> {
    opts: &'a ReadOptions,
    progress: Option<&'a ProgressBar>,
    sink: &'a mut S,
    order: Order,
    seq: u64,
}

impl<S: Sink> BlockReader<'_, S> {
    fn run(mut self, files: &[InputFile]) {
        for input in files {
            let raw_bytes_read = Arc::new(AtomicU64::new(0));
            let result = self.read_file(input, &raw_bytes_read);
            settle_progress(self.progress, &input.path, &raw_bytes_read);
            if result.is_err() {
                return;
            }
        }
    }

    /// Passes a control event on in its place in the sequence.
    fn event(&mut self, event: Event) -> Result<(), Stop> {
        let seq = self.seq;
        self.seq += 1;
        self.sink.event(seq, event)
    }

    /// Passes a block on in its place in the sequence.
    fn job(&mut self, block: Block) -> Result<(), Stop> {
        let seq = self.seq;
        self.seq += 1;
        self.sink.block(seq, block)
    }

    /// Reports a failure that stops the read.
    fn fail(&mut self, error: IngestError) -> Result<(), Stop> {
        self.event(Event::Failed(error))?;
        Err(Stop)
    }

    fn read_file(
        &mut self,
        input: &InputFile,
        raw_bytes_read: &Arc<AtomicU64>,
    ) -> Result<(), Stop> {
        let path = &input.path;
        let stream = match open_input(input, self.progress, raw_bytes_read) {
            Ok(Opened::Stream(stream)) => stream,
            Ok(Opened::Skipped(why)) => return self.event(Event::Skipped(path.clone(), why)),
            Err(e) => return self.fail(e),
        };
        let io_error = |source| IngestError::Io {
            path: path.clone(),
            source,
        };
        let mut cutter = Cutter {
            stream,
            carry: Vec::new(),
            at_end: false,
            block_bytes: self.opts.block_bytes.max(1),
        };
        let mut block = self.sink.take_block().ok_or(Stop)?;
        block.file = None;
        // The first block holds at least the first record, which decides the layout.
        if let Err(e) = cutter.next(&mut block.bytes, true) {
            return self.fail(io_error(e));
        }
        let mut first = csv::ByteRecord::new();
        // A slice cannot fail to read, and flexible byte records raise no CSV errors.
        let has_record = csv_reader(block.bytes.as_slice())
            .read_byte_record(&mut first)
            .unwrap_or(false);
        if !has_record {
            self.recycle(block);
            return self.event(Event::Skipped(path.clone(), "empty file".to_string()));
        }
        let layout = match detect_layout(input, &first, self.opts) {
            Ok(Detected::Layout(layout)) => layout,
            Ok(Detected::Skipped(why)) => {
                self.recycle(block);
                return self.event(Event::Skipped(path.clone(), why));
            }
            Err(e) => return self.fail(e),
        };
        let file = Arc::new(FileContext {
            path: path.clone(),
            file_meter: file_meter(path, &layout),
            layout,
        });
        self.event(Event::FileStart)?;
        block.skip_first_record = !file.layout.first_row_is_data;
        loop {
            block.order = self.order;
            block.file = Some(Arc::clone(&file));
            self.job(block)?;
            if cutter.at_end && cutter.carry.is_empty() {
                return Ok(());
            }
            block = self.sink.take_block().ok_or(Stop)?;
            block.skip_first_record = false;
            if let Err(e) = cutter.next(&mut block.bytes, false) {
                return self.fail(io_error(e));
            }
            if block.bytes.is_empty() {
                // The file ended right at the previous block's end.
                self.recycle(block);
                return Ok(());
            }
        }
    }

    /// Puts an unused block back in the pool: as an empty block through the sink, which
    /// parses it to nothing and returns it like any other.
    fn recycle(&mut self, mut block: Block) {
        block.bytes.clear();
        block.file = None;
        let _ = self.job(block);
    }
}

/// The serial sink: parses and applies each block as it comes.
struct InPlace<'a, C> {
    applier: Applier<'a, C>,
    record: csv::ByteRecord,
    stamps: StampCache,
    numbers: IdNumbers,
    grouping: Grouping,
    /// The one block, between uses.
    spare: Option<Block>,
    /// The failure that stopped the read, if one did.
    failure: Option<IngestError>,
}

impl<C: Consumer> Sink for InPlace<'_, C> {
    fn take_block(&mut self) -> Option<Block> {
        // One block is enough: it is parsed and applied before the next is read.
        Some(self.spare.take().unwrap_or_default())
    }

    fn event(&mut self, _seq: u64, event: Event) -> Result<(), Stop> {
        match self.applier.apply(event) {
            Ok(Some(block)) => {
                self.spare = Some(block);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(error) => {
                self.failure = Some(error);
                Err(Stop)
            }
        }
    }

    fn block(&mut self, seq: u64, mut block: Block) -> Result<(), Stop> {
        let mut state = ParseState {
            worker: 0,
            record: &mut self.record,
            stamps: &mut self.stamps,
            numbers: &mut self.numbers,
            grouping: &mut self.grouping,
        };
        parse_block(&mut block, &mut state, self.applier.opts);
        self.event(seq, Event::Parsed(block))
    }
}

/// The parallel sink: blocks to the parse threads, control events straight to the
/// consumer, empty blocks from the consumer's pool.
struct Threads {
    pool_rx: Receiver<Block>,
    jobs_tx: SyncSender<(u64, Block)>,
    events_tx: Sender<(u64, Event)>,
}

impl Sink for Threads {
    fn take_block(&mut self) -> Option<Block> {
        self.pool_rx.recv().ok()
    }

    fn event(&mut self, seq: u64, event: Event) -> Result<(), Stop> {
        self.events_tx.send((seq, event)).map_err(|_| Stop)
    }

    fn block(&mut self, seq: u64, block: Block) -> Result<(), Stop> {
        self.jobs_tx.send((seq, block)).map_err(|_| Stop)
    }
}

/// Cuts one file's byte stream into blocks that end at record boundaries.
struct Cutter {
    stream: Box<dyn Read + Send>,
    /// Bytes read past the last cut: the start of the next block.
    carry: Vec<u8>,
    /// True once the stream has ended.
    at_end: bool,
    block_bytes: usize,
}

impl Cutter {
    /// Fills `bytes` with the next block: whole records, about `block_bytes` of them, or
    /// the rest of the file. With `need_record` the block holds at least one record (not
    /// only blank lines) unless the file has none.
    fn next(&mut self, bytes: &mut Vec<u8>, need_record: bool) -> io::Result<()> {
        bytes.clear();
        bytes.append(&mut self.carry);
        let mut want = self.block_bytes.max(bytes.len() + 1);
        loop {
            if !self.at_end {
                let missing = want.saturating_sub(bytes.len());
                let n = (&mut self.stream).take(missing as u64).read_to_end(bytes)?;
                self.at_end = n < missing;
            }
            let cut = if self.at_end {
                Some(bytes.len())
            } else {
                record_boundary(bytes)
            };
            if let Some(cut) = cut {
                let enough = !need_record || self.at_end || has_record(&bytes[..cut]);
                if enough {
                    self.carry.extend_from_slice(&bytes[cut..]);
                    bytes.truncate(cut);
                    return Ok(());
                }
            }
            // No boundary yet (a record longer than a block), or only blank lines: read
            // on, doubling, so a huge record costs linear time.
            want = bytes.len().max(1) * 2;
        }
    }
}

/// The `\n` bytes in `bytes`.
///
/// Counted per 64-byte chunk into a byte-wide sum, which the compiler turns into a few
/// vector compares and adds per chunk; a plain `filter().count()` widens every byte to 64
/// bits and runs several times slower.
#[inline]
fn count_newlines(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(64);
    let mut n = 0;
    for chunk in &mut chunks {
        // At most 64, so the byte-wide sum cannot overflow.
        n += u64::from(chunk.iter().map(|&b| u8::from(b == b'\n')).sum::<u8>());
    }
    n + chunks.remainder().iter().filter(|&&b| b == b'\n').count() as u64
}

/// True when `bytes` hold a record, not only line ends (the CSV reader skips blank lines).
fn has_record(bytes: &[u8]) -> bool {
    bytes.iter().any(|&b| !matches!(b, b'\r' | b'\n'))
}

/// The end of the last whole record in `bytes`, which start at a record boundary: one past
/// the last newline that is not inside a quoted field. `None` when there is none.
///
/// Without a quote byte every newline ends a record, and the last one is found from the
/// end. With quotes the bytes are walked through the CSV crate's states (RFC 4180 with
/// doubled quotes, quotes opening a field only at its start), so a newline inside a quoted
/// field is not taken for a boundary.
fn record_boundary(bytes: &[u8]) -> Option<usize> {
    if !bytes.contains(&b'"') {
        return bytes.iter().rposition(|&b| b == b'\n').map(|i| i + 1);
    }
    #[derive(Clone, Copy)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let mut state = State::FieldStart;
    let mut last = None;
    for (i, &b) in bytes.iter().enumerate() {
        state = match (state, b) {
            (State::Quoted, b'"') => State::QuoteInQuoted,
            (State::Quoted, _) => State::Quoted,
            (State::QuoteInQuoted, b'"') => State::Quoted,
            (State::FieldStart, b'"') => State::Quoted,
            (_, b'\n') => {
                last = Some(i + 1);
                State::FieldStart
            }
            (_, b',' | b'\r') => State::FieldStart,
            // A quote inside an unquoted field is an ordinary byte.
            _ => State::Unquoted,
        };
    }
    last
}

/// A parse thread: takes blocks until the reader is done, parses each, sends it on.
fn parse_blocks(
    worker: usize,
    jobs_rx: &Mutex<Receiver<(u64, Block)>>,
    events_tx: &Sender<(u64, Event)>,
    opts: &ReadOptions,
) {
    let mut record = csv::ByteRecord::new();
    let mut stamps = StampCache::new();
    let mut numbers = IdNumbers::default();
    let mut grouping = Grouping::default();
    loop {
        // The lock is held only while waiting for the next block.
        let job = match jobs_rx.lock() {
            Ok(jobs) => jobs.recv(),
            Err(_) => return,
        };
        let Ok((seq, mut block)) = job else {
            return;
        };
        // A panic here would lose the block, and with it the sequence the consumer waits
        // for: the read would hang. Turned into an error for the block's file instead.
        let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut state = ParseState {
                worker,
                record: &mut record,
                stamps: &mut stamps,
                numbers: &mut numbers,
                grouping: &mut grouping,
            };
            parse_block(&mut block, &mut state, opts)
        }));
        let event = match parsed {
            Ok(()) => Event::Parsed(block),
            Err(_) => Event::Failed(IngestError::Io {
                path: block
                    .file
                    .as_ref()
                    .map(|f| f.path.clone())
                    .unwrap_or_default(),
                source: io::Error::other("internal error: the parser panicked on this file"),
            }),
        };
        let failed = matches!(event, Event::Failed(_));
        if events_tx.send((seq, event)).is_err() || failed {
            return;
        }
    }
}

/// What a parse thread keeps from one block to the next.
struct ParseState<'a> {
    /// The thread's index: the consumer keeps a copy of each thread's [`IdNumbers`].
    worker: usize,
    record: &'a mut csv::ByteRecord,
    stamps: &'a mut StampCache,
    numbers: &'a mut IdNumbers,
    grouping: &'a mut Grouping,
}

/// Parses one block's records into its outputs.
fn parse_block(block: &mut Block, state: &mut ParseState<'_>, opts: &ReadOptions) {
    block.clear_outputs();
    block.worker = state.worker;
    let Some(file) = block.file.clone() else {
        // A recycled, empty block: nothing to parse.
        return;
    };
    let Block {
        bytes,
        skip_first_record,
        readings,
        new_ids,
        new_id_ends,
        n_runs,
        n_rows,
        n_after_until,
        n_lines,
        bad,
        examples,
        ..
    } = block;
    let rows = Rows {
        layout: &file.layout,
        file_meter: &file.file_meter,
        opts,
    };
    let record = &mut *state.record;
    // A small buffer: the bytes are in memory already, so a big one only costs page faults.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(SLICE_BUFFER_BYTES)
        .from_reader(bytes.as_slice());
    // Reading a slice cannot fail, and flexible byte records raise no CSV errors.
    if *skip_first_record && !reader.read_byte_record(record).unwrap_or(false) {
        *n_lines = count_newlines(bytes);
        return;
    }
    // Lines are counted only up to the bad rows kept as examples; the rest at the end.
    let mut lines = LineCounter::default();
    let mut last_meter = UNRESOLVED;
    while reader.read_byte_record(record).unwrap_or(false) {
        *n_rows += 1;
        // The CSV reader's position is where it stood before the record, which may be
        // before blank lines or the `\n` of a CRLF it had not consumed yet; the record
        // itself starts at the first byte that is not a line end.
        let from = record.position().map_or(0, |p| p.byte() as usize);
        let start = from
            + bytes[from..]
                .iter()
                .take_while(|&&b| matches!(b, b'\r' | b'\n'))
                .count();
        match rows.parse(record, state.stamps) {
            Row::Reading { meter, ts, value } => {
                let meter = state.numbers.number(meter, new_ids, new_id_ends);
                if meter != last_meter {
                    *n_runs += 1;
                    last_meter = meter;
                }
                readings.push(BlockReading {
                    ts,
                    value,
                    meter,
                    start: start as u64,
                });
            }
            Row::AfterUntil => *n_after_until += 1,
            Row::Bad(reason, text) => {
                let n = bad.entry(reason).or_insert(0);
                *n += 1;
                if *n as usize <= opts.max_examples {
                    examples.push(BlockBadRow {
                        reason,
                        line: lines.line_at(bytes, start),
                        start: start as u64,
                        text: text.render(record),
                    });
                }
            }
        }
    }
    *n_lines = lines.line_at(bytes, bytes.len()) - 1;
    if block.order == Order::ByMeter {
        group_if_it_pays(block, state);
    }
}

/// Counts lines along a block, for records met in increasing order of position.
#[derive(Default)]
struct LineCounter {
    /// The bytes counted so far: `bytes[..counted_to]`.
    counted_to: usize,
    /// The newlines among them.
    n_newlines: u64,
}

impl LineCounter {
    /// The line (1-based) of byte `at`, which is not before the last one asked for.
    fn line_at(&mut self, bytes: &[u8], at: usize) -> u64 {
        self.n_newlines += count_newlines(&bytes[self.counted_to..at]);
        self.counted_to = at;
        self.n_newlines + 1
    }
}

/// A parse thread's numbering of the meter ids it meets: 0, 1, 2, … in the order it first
/// meets them, across all the blocks (and files) it parses.
///
/// Blocks carry numbers instead of ids, and the ids a thread met first in a block (in
/// order), so the consumer keeps a copy of each thread's numbering ([`KnownIds`]) and
/// finds an id's entry by index. A thread takes its blocks in file order and the consumer
/// applies them in file order, so the copy has every number a block uses by the time it
/// is applied. The hashing of ids is spread over the parse threads this way, and the
/// consumer does none.
///
/// Most rows need no hashing here either: a row of the same meter as the row before (a
/// meter-major dump) or of the meter numbered right after it (a time-major dump that lists
/// its meters in the same order at every time step) is recognised by one comparison.
#[derive(Default)]
struct IdNumbers {
    /// The numbers of ids of up to [`SHORT_ID_BYTES`] bytes, by [`short_key`].
    short: HashMap<u128, u32, BuildHasherDefault<IdHasher>>,
    /// The numbers of longer ids.
    long: HashMap<Box<str>, u32, BuildHasherDefault<IdHasher>>,
    /// The short key of each number (0 for a long id: no short key is 0).
    keys: Vec<u128>,
    /// The number of the last row's meter.
    last: usize,
}

impl IdNumbers {
    /// The number of `id`, giving it the next one (and appending it to `new_ids`,
    /// `new_id_ends`) if it is new.
    #[inline]
    fn number(&mut self, id: &str, new_ids: &mut String, new_id_ends: &mut Vec<usize>) -> u32 {
        let key = short_key(id.as_bytes());
        if let Some(key) = key {
            if self.keys.get(self.last) == Some(&key) {
                return self.last as u32;
            }
            if self.keys.get(self.last + 1) == Some(&key) {
                self.last += 1;
                return self.last as u32;
            }
        }
        let next = self.keys.len();
        let number = match key {
            Some(key) => *self.short.entry(key).or_insert(next as u32),
            None => *self.long.entry(id.into()).or_insert(next as u32),
        };
        if number as usize == next {
            assert!(number != UNRESOLVED, "fewer than 2^32 - 1 meter ids");
            self.keys.push(key.unwrap_or(0));
            new_ids.push_str(id);
            new_id_ends.push(new_ids.len());
        }
        self.last = number as usize;
        number
    }
}

/// The longest id [`short_key`] packs.
const SHORT_ID_BYTES: usize = 15;

/// An id of up to [`SHORT_ID_BYTES`] bytes packed into an integer, so that it hashes and
/// compares in a few instructions (no `memcmp`, no pointer to follow): its bytes in order
/// from the lowest, then zeros, and its length in the top byte, which makes the packing
/// one to one (and never 0 for a non-empty id). `None` for longer ids.
#[inline]
fn short_key(id: &[u8]) -> Option<u128> {
    let n = id.len();
    let (lo, hi) = match n {
        0..=7 => {
            let mut lo = 0u64;
            for (i, &b) in id.iter().enumerate() {
                lo |= u64::from(b) << (8 * i);
            }
            (lo, 0)
        }
        8..=SHORT_ID_BYTES => {
            // The last 8 bytes overlap the first 8 when n < 16: shift the overlap out.
            let lo = u64::from_le_bytes(id[..8].try_into().ok()?);
            let tail = u64::from_le_bytes(id[n - 8..].try_into().ok()?);
            (lo, tail.checked_shr(8 * (16 - n) as u32).unwrap_or(0))
        }
        _ => return None,
    };
    Some(u128::from(lo) | u128::from(hi | (n as u64) << 56) << 64)
}

/// What a parse thread has learnt about grouping the file's blocks by meter.
#[derive(Default)]
struct Grouping {
    /// Blocks seen that asked for grouping.
    n_blocks: u64,
    /// Whether the last block grouped had enough readings per meter to be worth it.
    pays: bool,
    /// The group of each meter number in the block being grouped ([`UNRESOLVED`] for
    /// none): scratch space, all [`UNRESOLVED`] between blocks.
    group_of: Vec<u32>,
}

/// Groups `block` by meter when that is likely to save the consumer more than it costs
/// here, and hands it on in file order otherwise: either order gives the same fleet, so
/// this is a matter of speed only.
///
/// Rows already in runs of one meter (a meter-major dump) gain nothing. A time-major block
/// gains when each meter has several readings in it, so that the consumer touches its hour
/// bins once for the run; with ten thousand meters a 1 MiB block holds about three readings
/// per meter, and building the grouping costs more than it saves. The readings per meter of
/// the last grouped block decide, re-measured every 16 blocks.
fn group_if_it_pays(block: &mut Block, state: &mut ParseState<'_>) {
    let grouping = &mut *state.grouping;
    let (n_runs, n_readings) = (block.n_runs, block.readings.len());
    let probe = grouping.n_blocks % 16 == 0;
    grouping.n_blocks += 1;
    if 2 * n_runs <= n_readings || !(probe || grouping.pays) {
        block.order = Order::File;
        return;
    }
    let n_meters = group_by_meter(block, &mut grouping.group_of);
    grouping.pays = n_readings >= 8 * n_meters;
}

/// Fills `by_meter` with the block's readings grouped by meter: meters in the order
/// they first appear, each one's readings in file order (a counting sort on the meter's
/// first appearance). Returns the number of meters.
fn group_by_meter(block: &mut Block, group_of: &mut Vec<u32>) -> usize {
    let Block {
        readings, by_meter, ..
    } = block;
    // The group of each meter number, and the size of each group.
    let mut n_in_group = Vec::new();
    for reading in readings.iter() {
        let meter = reading.meter as usize;
        if meter >= group_of.len() {
            group_of.resize(meter + 1, UNRESOLVED);
        }
        if group_of[meter] == UNRESOLVED {
            group_of[meter] = n_in_group.len() as u32;
            n_in_group.push(0u32);
        }
        n_in_group[group_of[meter] as usize] += 1;
    }
    // Where each group's readings go, then the readings put there.
    let mut next_slot = Vec::with_capacity(n_in_group.len());
    let mut slot = 0;
    for &n in &n_in_group {
        next_slot.push(slot);
        slot += n;
    }
    by_meter.resize(readings.len(), 0);
    for (i, reading) in readings.iter().enumerate() {
        let slot = &mut next_slot[group_of[reading.meter as usize] as usize];
        by_meter[*slot as usize] = i as u32;
        *slot += 1;
    }
    // Leave the scratch space clean for the next block.
    for reading in readings.iter() {
        group_of[reading.meter as usize] = UNRESOLVED;
    }
    n_in_group.len()
}

/// A fast hasher for meter ids (the multiply-rotate of rustc's `FxHasher`). The maps
/// hold ids from the files being read, so the flooding resistance of the standard SipHash
/// buys little here (a crafted file could slow its own read down, no more) and costs a
/// good part of the time spent per id.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        // The multiply leaves a bit of the state depending only on the bits of the input
        // at or below it, so ids that differ only in their last bytes (`MTR00001`,
        // `MTR00002`, …) would share their low bits, the bits the map picks a bucket
        // with: most of a fleet's ids would then collide. The high bits are well mixed;
        // folding them down (MurmurHash3's finaliser) fixes the low ones.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// The consumer's side of the parallel read: puts events back in order and applies them,
/// returning each block to the pool once its readings are handed on.
///
/// Never inlined, so that a profiler can count the consumer's work by this one function
/// (`valgrind --tool=callgrind --toggle-collect='*apply_in_order*'`, see
/// `docs/performance.md`).
#[inline(never)]
fn apply_in_order<C: Consumer>(
    events_rx: Receiver<(u64, Event)>,
    pool_tx: SyncSender<Block>,
    mut applier: Applier<'_, C>,
) -> Result<IngestSummary, IngestError> {
    let mut waiting = BTreeMap::new();
    let mut next_seq = 0;
    // The loop ends when the reader and every parse thread have hung up.
    for (seq, event) in events_rx.iter() {
        waiting.insert(seq, event);
        while let Some(event) = waiting.remove(&next_seq) {
            next_seq += 1;
            if let Some(block) = applier.apply(event)? {
                // The pool has room for every block, so this does not block; it fails
                // only when the reader has finished, which is fine.
                let _ = pool_tx.send(block);
            }
        }
    }
    Ok(applier.summary)
}

/// Applies events in file order: the summary so far, and the consumer.
struct Applier<'a, C> {
    opts: &'a ReadOptions,
    consumer: C,
    summary: IngestSummary,
    /// Newlines in the current file's blocks applied so far.
    line_offset: u64,
    /// The consumer's copy of each parse thread's meter numbering.
    known: Vec<KnownIds>,
    /// The current block's refused readings: `(start, reason)`.
    refused: Vec<(u64, BadReason)>,
}

/// The consumer's copy of one parse thread's [`IdNumbers`]: the id of each number, and the
/// consumer's key for it.
#[derive(Default)]
struct KnownIds {
    /// The ids end to end, in the order of their numbers.
    ids: String,
    /// Where each id ends.
    ends: Vec<usize>,
    /// The consumer's key of each id ([`UNRESOLVED`] until it sets one).
    keys: Vec<u32>,
}

impl KnownIds {
    /// Adds the ids a block's thread met first in that block.
    fn extend(&mut self, block: &Block) {
        let offset = self.ids.len();
        self.ids.push_str(&block.new_ids);
        self.ends
            .extend(block.new_id_ends.iter().map(|&end| offset + end));
        self.keys.resize(self.ends.len(), UNRESOLVED);
    }
}

impl<'a, C: Consumer> Applier<'a, C> {
    fn new(opts: &'a ReadOptions, consumer: C) -> Self {
        Applier {
            opts,
            consumer,
            summary: IngestSummary::default(),
            line_offset: 0,
            known: Vec::new(),
            refused: Vec::new(),
        }
    }

    /// Applies one event; a parsed block is handed back for reuse.
    fn apply(&mut self, event: Event) -> Result<Option<Block>, IngestError> {
        match event {
            Event::FileStart => {
                self.summary.n_files += 1;
                self.line_offset = 0;
            }
            Event::Skipped(path, why) => self.summary.skipped_files.push((path, why)),
            Event::Failed(error) => return Err(error),
            Event::Parsed(block) => {
                self.apply_block(&block);
                self.line_offset += block.n_lines;
                return Ok(Some(block));
            }
        }
        Ok(None)
    }

    /// Hands one parsed block's readings to the consumer and merges its counts and
    /// examples into the summary, in the order the rows stand in the file.
    fn apply_block(&mut self, block: &Block) {
        if self.known.len() <= block.worker {
            self.known.resize_with(block.worker + 1, KnownIds::default);
        }
        let known = &mut self.known[block.worker];
        known.extend(block);
        let Some(file) = &block.file else {
            return;
        };
        let path = file.path.as_path();
        let unit = file.layout.unit;
        let max = self.opts.max_examples;
        let line_offset = self.line_offset;
        let summary = &mut self.summary;
        let keep = |summary: &mut IngestSummary, bad: &BlockBadRow| {
            summary.record_bad_with(bad.reason, path, line_offset + bad.line, max, || {
                bad.text.clone()
            });
        };
        // The consumer's refusals, kept aside so that every example can be recorded in
        // file order below, whatever order the readings were handed on in.
        let refused = &mut self.refused;
        refused.clear();
        let mut n_accepted = 0;
        let mut hand_on = HandOn {
            consumer: &mut self.consumer,
            known,
            readings: &block.readings,
            unit,
            n_accepted: &mut n_accepted,
            refused,
        };
        if block.order == Order::ByMeter {
            hand_on.all(block.by_meter.iter().map(|&i| i as usize));
            refused.sort_unstable_by_key(|&(start, _)| start);
        } else {
            hand_on.all(0..block.readings.len());
        }
        summary.n_accepted += n_accepted;
        let mut bad_rows = block.examples.iter().peekable();
        let mut lines = LineCounter::default();
        for &(start, reason) in refused.iter() {
            // Bad rows before this refusal come first, as they stand in the file.
            while let Some(bad) = bad_rows.next_if(|b| b.start < start) {
                keep(summary, bad);
            }
            let line = lines.line_at(&block.bytes, start as usize);
            summary.record_bad_with(reason, path, line_offset + line, max, || {
                row_text(&block.bytes, start)
            });
        }
        for bad in bad_rows {
            keep(summary, bad);
        }
        // The parse-time reasons and the consumer's are disjoint, so the rows of a reason
        // beyond the block's kept candidates come after them and would not have been kept
        // either: they are only counted.
        for (&reason, &n) in &block.bad {
            let n_candidates = block.examples.iter().filter(|b| b.reason == reason).count();
            *summary.bad.entry(reason).or_insert(0) += n - n_candidates as u64;
        }
        summary.n_rows += block.n_rows;
        summary.n_after_until += block.n_after_until;
    }
}

/// How many readings ahead the consumer is told of a reading (`Consumer::prefetch`): far
/// enough for a cache line to arrive from memory while the readings between are handed on.
const LOOKAHEAD: usize = 16;

/// Hands a block's readings to the consumer.
struct HandOn<'h, C> {
    consumer: &'h mut C,
    known: &'h mut KnownIds,
    readings: &'h [BlockReading],
    unit: Unit,
    n_accepted: &'h mut u64,
    /// The refused readings: `(start, reason)`.
    refused: &'h mut Vec<(u64, BadReason)>,
}

impl<C: Consumer> HandOn<'_, C> {
    /// Hands on the readings at `order`, in that order.
    #[inline]
    fn all(&mut self, order: impl Iterator<Item = usize> + Clone) {
        let mut ahead = order.clone().skip(LOOKAHEAD);
        for i in order {
            if let Some(j) = ahead.next() {
                let reading = &self.readings[j];
                self.consumer
                    .prefetch(self.known.keys[reading.meter as usize], reading.ts);
            }
            self.one(&self.readings[i]);
        }
    }

    #[inline]
    fn one(&mut self, reading: &BlockReading) {
        let meter = reading.meter as usize;
        let KnownIds { ids, ends, keys } = &mut *self.known;
        let id = || {
            let start = if meter == 0 { 0 } else { ends[meter - 1] };
            &ids[start..ends[meter]]
        };
        match self
            .consumer
            .push(id, &mut keys[meter], reading.ts, reading.value, self.unit)
        {
            Ok(()) => *self.n_accepted += 1,
            Err(reason) => self.refused.push((reading.start, reason.into())),
        }
    }
}

/// The example text of the record starting at `start`: what the serial reader shows for a
/// row the consumer refused.
fn row_text(bytes: &[u8], start: u64) -> String {
    let mut record = csv::ByteRecord::new();
    let rest = bytes.get(start as usize..).unwrap_or_default();
    // A slice cannot fail to read.
    let _ = csv_reader(rest).read_byte_record(&mut record);
    example_text(record_text(&record).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_boundaries_skip_newlines_in_quotes() {
        for (text, expected) in [
            ("a,b\nc,d\n", Some(8)),
            ("a,b\nc,d", Some(4)),
            ("a,b", None),
            ("a,\"b\nc\"\nd", Some(8)),
            ("a,\"b\nc", None),
            ("a,\"b\"\"\nc\"\n", Some(10)),
            ("a,b\"\nc\n", Some(7)),
            ("a,\"b\"x\ny", Some(7)),
            ("a\r\nb\r\n", Some(6)),
        ] {
            assert_eq!(record_boundary(text.as_bytes()), expected, "{text:?}");
        }
    }

    #[test]
    fn newlines_are_counted_in_chunks_and_the_rest() {
        for n in [0, 1, 63, 64, 65, 200] {
            let text: Vec<u8> = (0..n)
                .map(|i| if i % 3 == 0 { b'\n' } else { b'x' })
                .collect();
            let expected = text.iter().filter(|&&b| b == b'\n').count() as u64;
            assert_eq!(count_newlines(&text), expected, "{n} bytes");
        }
        assert_eq!(count_newlines(&[b'\n'; 300]), 300);
    }

    #[test]
    fn short_keys_pack_ids_one_to_one() {
        // Every id of up to 4 bytes from an alphabet with zero and high bytes, and ids of
        // every length up to 17 that differ only in their first or last byte.
        let alphabet = [0u8, 1, b'a', 0xff];
        let mut ids: Vec<Vec<u8>> = vec![Vec::new()];
        let mut last_len = ids.clone();
        for _ in 0..4 {
            last_len = last_len
                .iter()
                .flat_map(|id| {
                    alphabet.iter().map(move |&b| {
                        let mut id = id.clone();
                        id.push(b);
                        id
                    })
                })
                .collect();
            ids.extend(last_len.iter().cloned());
        }
        for n in 1..=17 {
            for b in alphabet {
                let mut first = vec![b'x'; n];
                first[0] = b;
                let mut last = vec![b'x'; n];
                last[n - 1] = b;
                ids.extend([first, last]);
            }
        }
        ids.sort();
        ids.dedup();
        let mut seen = HashMap::new();
        for id in &ids {
            match short_key(id) {
                Some(key) => {
                    assert!(id.len() <= SHORT_ID_BYTES, "{id:?}");
                    assert!(key != 0 || id.is_empty(), "{id:?}");
                    if let Some(other) = seen.insert(key, id.clone()) {
                        panic!("{id:?} and {other:?} share a key");
                    }
                }
                None => assert!(id.len() > SHORT_ID_BYTES, "{id:?}"),
            }
        }
    }

    #[test]
    fn ids_are_numbered_in_the_order_first_met() {
        // Runs, a fleet in the same order at each step, a shuffled step, long ids, and
        // blocks that start anywhere: against a plain map of first appearances.
        let long = |i: usize| format!("a-much-longer-meter-id-{i}");
        let mut rows: Vec<String> = Vec::new();
        for step in 0..3 {
            for m in 0..50 {
                rows.push(format!("MTR{m:05}"));
                if m % 7 == 0 {
                    rows.push(long(m));
                }
                if step == 1 && m % 5 == 0 {
                    rows.push(format!("MTR{:05}", (m * 13) % 50));
                }
            }
        }
        rows.extend((0..20).map(|i| format!("run{}", i / 4)));
        for first_block_rows in [1, 7, 64] {
            let mut numbers = IdNumbers::default();
            let mut expected: HashMap<&str, u32> = HashMap::new();
            for block in [&rows[..first_block_rows], &rows[first_block_rows..]] {
                let (mut new_ids, mut new_id_ends) = (String::new(), Vec::new());
                let mut expected_new = String::new();
                for id in block {
                    let n_known = expected.len() as u32;
                    let want = *expected.entry(id).or_insert_with(|| {
                        expected_new.push_str(id);
                        n_known
                    });
                    assert_eq!(numbers.number(id, &mut new_ids, &mut new_id_ends), want);
                }
                assert_eq!(new_ids, expected_new);
                assert_eq!(new_id_ends.last().copied().unwrap_or(0), new_ids.len());
            }
        }
    }

    #[test]
    fn the_id_hasher_spreads_ids_that_differ_in_their_last_bytes() {
        // The map picks a bucket by the low bits: 10,000 sequential ids must reach most of
        // 16,384 buckets, not a few dozen.
        let mut buckets = std::collections::HashSet::new();
        for m in 1..=10_000 {
            let id = format!("MTR{m:05}");
            for key in [
                short_key(id.as_bytes()).map(|k| k.to_le_bytes().to_vec()),
                None,
            ]
            .into_iter()
            .flatten()
            {
                let mut hasher = IdHasher::default();
                hasher.write(&key);
                buckets.insert(hasher.finish() & 0x3fff);
            }
        }
        assert!(buckets.len() > 5_000, "{} buckets", buckets.len());
    }

    #[test]
    fn blank_lines_are_not_records() {
        assert!(!has_record(b"\r\n\n"));
        assert!(has_record(b"\n \n"));
    }
}
