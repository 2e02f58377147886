//! The writer thread: owns the only read-write connection and applies [`StoreCmd`]s and
//! [`LogBatch`]es in batched transactions.
//!
//! - Commands and log batches arrive on two bounded channels; a full channel blocks the producer.
//! - The writer drains what is queued (up to [`MAX_BATCH_LINES`] lines or [`MAX_BATCH_TIME`]),
//!   applies it in one transaction (a savepoint per command, so one bad command fails alone),
//!   commits, then acknowledges and publishes what was committed through its hubs
//!   ([`super::hub`]): log lines and the end of each run's log to followers, the engine's
//!   events to event subscribers. Subscriptions come on a third channel that does not keep the
//!   writer running.
//! - The per-run log budget keeps the head and a rolling tail and writes one marker line with
//!   the exact number of lines and bytes omitted.
//! - When the database cannot be written, the writer keeps the changes, retries with backoff,
//!   reports the condition as a [`StoreEvent`], drops (and counts) log lines past a bounded
//!   queue, and notes the drop in each affected run's log when it recovers.
//! - Retention runs on this thread shortly after start-up and then every 24 hours.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use rusqlite::{Connection, OptionalExtension, params};

use super::hub::{Followed, Hub, Sub, Subscriber, What, log_complete};
use super::retention::{self, Policy, PruneReport};
use super::{
    JobStatePatch, LogLine, NewAlert, NewOutput, NewRun, RunPatch, RunStatus, StoreError,
    StoredLine, Stream, is_unavailable, ts,
};
use crate::clock::Clock;

/// Lines per transaction, at most.
pub const MAX_BATCH_LINES: usize = 4096;
/// Time spent gathering one transaction, at most.
pub const MAX_BATCH_TIME: Duration = Duration::from_millis(50);
/// Log lines held in memory while the database cannot be written; past this they are dropped
/// (and counted).
pub const MAX_PENDING_LINES: usize = 100_000;
/// Commands held while the database cannot be written; past this the command channel is no
/// longer read, so producers feel backpressure.
pub const MAX_PENDING_CMDS: usize = 10_000;
/// Capacity of each live subscriber's channel; a subscriber that falls this far behind is
/// disconnected and resubscribes from the database ([`super::follow::Follower`] does that).
pub const SUBSCRIBER_CAPACITY: usize = super::hub::LOG_CAPACITY;

/// A reply channel.
pub type Ack<T> = Sender<Result<T, StoreError>>;

/// A command for the writer. Variants with an `ack` are acknowledged after commit.
#[derive(Debug)]
pub enum StoreCmd {
    /// Insert a run; the ack carries its id.
    CreateRun {
        /// The run.
        run: NewRun,
        /// Receives the new id after commit.
        ack: Ack<i64>,
    },
    /// Change a run's columns.
    UpdateRun {
        /// The run.
        id: i64,
        /// What to write.
        patch: RunPatch,
        /// Receives the outcome after commit, when given.
        ack: Option<Ack<()>>,
    },
    /// Change a job's state row (created when missing).
    JobState {
        /// The job.
        job: String,
        /// What to write.
        patch: JobStatePatch,
        /// Receives the outcome after commit, when given.
        ack: Option<Ack<()>>,
    },
    /// Store captured outputs of a run.
    Outputs {
        /// The run.
        run_id: i64,
        /// Its job.
        job_name: String,
        /// Its cycle.
        cycle_id: String,
        /// When they were captured.
        at: time::OffsetDateTime,
        /// The values.
        outputs: Vec<NewOutput>,
    },
    /// Pause or resume a tag as a whole.
    PauseTag {
        /// The tag.
        tag: String,
        /// Paused (true) or resumed.
        paused: bool,
        /// When.
        at: time::OffsetDateTime,
    },
    /// Record a notification attempt; the ack carries the alert id.
    Alert {
        /// The alert.
        alert: NewAlert,
        /// Receives the id after commit, when given.
        ack: Option<Ack<i64>>,
    },
    /// Record the outcome of a delivery attempt of an alert (or put it back to `pending`).
    AlertAttempt {
        /// The alert.
        id: i64,
        /// `delivered`, `failed` or `pending`.
        status: String,
        /// Attempts so far.
        attempts: u32,
        /// The last error (`None` clears it).
        error: Option<String>,
        /// When the attempt was made.
        at: time::OffsetDateTime,
    },
    /// Publish an event to the event hub once everything before it is committed.
    Publish {
        /// When the engine made the change.
        at: time::OffsetDateTime,
        /// What changed.
        what: Box<What>,
    },
    /// Run retention now.
    Prune {
        /// What to prune.
        policy: Policy,
        /// Only count.
        dry_run: bool,
        /// Receives the report.
        ack: Ack<PruneReport>,
    },
    /// Acknowledged once everything received before it is committed.
    Flush {
        /// Receives the outcome.
        ack: Ack<()>,
    },
    /// Set a pragma on the writer's connection (tests simulate a full disk with
    /// `max_page_count`).
    #[cfg(test)]
    Pragma(&'static str, i64),
}

/// Log lines of one run, in order. `end` says the run's output is complete: the budget marker,
/// if any, is finalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogBatch {
    /// The run.
    pub run_id: i64,
    /// The lines.
    pub lines: Vec<LogLine>,
    /// No more lines will follow for this run.
    pub end: bool,
}

/// What the writer reports to the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreEvent {
    /// The database cannot be written; changes are held and retried.
    Unavailable {
        /// SQLite's message.
        error: String,
    },
    /// Writes succeed again.
    Recovered {
        /// Log lines dropped while unavailable (each affected run's log says how many).
        dropped_lines: u64,
        /// How long the database was unavailable.
        after: Duration,
    },
    /// Retention ran.
    Pruned(PruneReport),
    /// A command failed on its own (a bug or a vanished run); nothing else was affected.
    Failed {
        /// What failed.
        what: String,
        /// Why.
        error: String,
    },
}

/// How the writer behaves.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Per-run log budget in bytes (`None`: unlimited).
    pub max_log_bytes_per_run: Option<u64>,
    /// Retention policy; `None` disables the periodic run.
    pub retention: Option<Policy>,
    /// Delay of the first retention run after start-up.
    pub retention_delay: Duration,
    /// Interval between retention runs.
    pub retention_every: Duration,
    /// Capacity of the command channel.
    pub cmd_capacity: usize,
    /// Capacity of the log channel (batches).
    pub log_capacity: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            max_log_bytes_per_run: Some(10 * 1024 * 1024),
            retention: None,
            retention_delay: Duration::from_secs(120),
            retention_every: Duration::from_secs(24 * 3600),
            // Every slot is allocated up front (~240 bytes): 1024 of them held 240 KiB of the
            // idle daemon's heap. When the channel is full the engine keeps commands in its
            // own outbox, so the capacity only bounds memory, not what is written.
            cmd_capacity: 256,
            log_capacity: 256,
        }
    }
}

/// The producers' side of the writer. Clone freely.
#[derive(Debug, Clone)]
pub struct StoreHandle {
    cmds: Sender<StoreCmd>,
    logs: Sender<LogBatch>,
    subs: Sender<Sub>,
}

impl StoreHandle {
    /// The command channel (for producers that must not block: use `try_send`).
    pub fn commands(&self) -> &Sender<StoreCmd> {
        &self.cmds
    }

    /// The log channel.
    pub fn logs(&self) -> &Sender<LogBatch> {
        &self.logs
    }

    /// Sends a command; blocks while the channel is full.
    pub fn send(&self, cmd: StoreCmd) -> Result<(), StoreError> {
        self.cmds.send(cmd).map_err(|_| StoreError::Closed)
    }

    fn call<T>(&self, make: impl FnOnce(Ack<T>) -> StoreCmd) -> Result<T, StoreError> {
        let (tx, rx) = bounded(1);
        self.send(make(tx))?;
        rx.recv().map_err(|_| StoreError::Closed)?
    }

    /// Creates a run and waits for its id (committed).
    pub fn create_run(&self, run: NewRun) -> Result<i64, StoreError> {
        self.call(|ack| StoreCmd::CreateRun { run, ack })
    }

    /// Updates a run and waits for the commit.
    pub fn update_run(&self, id: i64, patch: RunPatch) -> Result<(), StoreError> {
        self.call(|ack| StoreCmd::UpdateRun { id, patch, ack: Some(ack) })
    }

    /// Updates a job's state and waits for the commit.
    pub fn job_state(&self, job: &str, patch: JobStatePatch) -> Result<(), StoreError> {
        self.call(|ack| StoreCmd::JobState { job: job.to_owned(), patch, ack: Some(ack) })
    }

    /// Sends log lines; blocks while the channel is full.
    pub fn log(&self, batch: LogBatch) -> Result<(), StoreError> {
        self.logs.send(batch).map_err(|_| StoreError::Closed)
    }

    /// Waits until everything sent before is committed.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.call(|ack| StoreCmd::Flush { ack })
    }

    /// Waits until everything sent before is committed, or `limit` has passed (`Ok(false)`:
    /// not yet committed; the database may be unavailable).
    pub fn flush_within(&self, limit: Duration) -> Result<bool, StoreError> {
        let (tx, rx) = bounded(1);
        self.send(StoreCmd::Flush { ack: tx })?;
        match rx.recv_timeout(limit) {
            Ok(r) => r.map(|()| true),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => Ok(false),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Err(StoreError::Closed),
        }
    }

    /// Runs retention now and waits for the report.
    pub fn prune(&self, policy: Policy, dry_run: bool) -> Result<PruneReport, StoreError> {
        self.call(|ack| StoreCmd::Prune { policy, dry_run, ack })
    }

    /// What subscribes to the writer's hubs (log lines, events) without keeping it running.
    pub fn subscriber(&self) -> Subscriber {
        Subscriber { subs: self.subs.clone() }
    }
}

/// Starts the writer thread on `conn` (already migrated). It stops when every [`StoreHandle`]
/// is dropped, after committing what it holds.
pub fn spawn(
    conn: Connection,
    options: WriterOptions,
    clock: Arc<dyn Clock>,
) -> std::io::Result<(StoreHandle, Receiver<StoreEvent>, JoinHandle<()>)> {
    let (cmd_tx, cmd_rx) = bounded(options.cmd_capacity.max(1));
    let (log_tx, log_rx) = bounded(options.log_capacity.max(1));
    let (sub_tx, sub_rx) = unbounded();
    let (event_tx, event_rx) = unbounded();
    let thread = std::thread::Builder::new().name("husky-store".into()).spawn(move || {
        let mut writer = Writer::new(conn, options, clock, event_tx);
        writer.run(&cmd_rx, &log_rx, &sub_rx);
    })?;
    Ok((StoreHandle { cmds: cmd_tx, logs: log_tx, subs: sub_tx }, event_rx, thread))
}

/// A stretch of consecutive lines in a run's rolling tail.
#[derive(Debug, Clone, Copy)]
struct Block {
    first_seq: i64,
    last_seq: i64,
    lines: u64,
    bytes: u64,
}

/// The tail is evicted a block at a time; a block closes at this fraction of the tail budget,
/// so a run's budget state stays a few dozen entries however short its lines are.
const BLOCKS_PER_TAIL: u64 = 64;

/// The log state of a run whose output is still arriving.
#[derive(Debug, Default)]
struct RunLog {
    next_seq: i64,
    head_bytes: u64,
    /// The seq reserved for the budget marker once the head is full.
    marker_seq: Option<i64>,
    tail: VecDeque<Block>,
    tail_bytes: u64,
    omitted_lines: u64,
    omitted_bytes: u64,
    /// Dropped while the database could not be written, not yet noted in the log.
    dropped_lines: u64,
    dropped_bytes: u64,
    /// Dropped in all (the job_runs counter).
    dropped_total: u64,
    /// Lines and bytes in the database (the job_runs counters).
    stored_lines: u64,
    stored_bytes: u64,
    /// The run's output is complete (kept only until dropped lines are noted).
    ended: bool,
}

impl RunLog {
    /// The op that writes this run's counters to job_runs.
    fn counters(&self, run_id: i64) -> Op {
        Op::Counters {
            run_id,
            lines: self.stored_lines,
            bytes: self.stored_bytes,
            omitted: (self.omitted_lines, self.omitted_bytes),
            dropped: self.dropped_total,
        }
    }
}

/// One change waiting for commit.
#[derive(Debug)]
enum Op {
    Cmd(StoreCmd),
    Line { run_id: i64, seq: i64, line: LogLine },
    DeleteLines { run_id: i64, from_seq: i64, to_seq: i64 },
    Note { run_id: i64, seq: i64, text: String },
    Counters { run_id: i64, lines: u64, bytes: u64, omitted: (u64, u64), dropped: u64 },
}

/// What a committed op produced, for acks and publishing.
enum Done {
    Nothing,
    Line(StoredLine),
    Ack(Box<dyn FnOnce()>),
    /// A status that completes the run's log: acknowledge, and tell its followers.
    End {
        run_id: i64,
        status: RunStatus,
        then: Box<dyn FnOnce()>,
    },
    Event(time::OffsetDateTime, Box<What>),
}

struct Writer {
    conn: Connection,
    options: WriterOptions,
    clock: Arc<dyn Clock>,
    events: Sender<StoreEvent>,
    runs: HashMap<i64, RunLog>,
    pending: Vec<Op>,
    pending_lines: usize,
    pending_cmds: usize,
    hub: Hub,
    last_log_id: i64,
    unavailable: Option<Unavailable>,
    next_retention: Option<Instant>,
}

struct Unavailable {
    since: Instant,
    retry_at: Instant,
    backoff: Duration,
}

enum Input {
    Cmd(StoreCmd),
    Log(LogBatch),
}

/// How long a writer whose producers are gone keeps retrying an unwritable database before it
/// gives up (and says what it could not write).
const SHUTDOWN_RETRY: Duration = Duration::from_secs(10);

impl Writer {
    fn new(
        conn: Connection,
        options: WriterOptions,
        clock: Arc<dyn Clock>,
        events: Sender<StoreEvent>,
    ) -> Writer {
        let last_log_id =
            conn.query_row("SELECT coalesce(max(id), 0) FROM run_logs", [], |r| r.get(0));
        let next_retention =
            options.retention.as_ref().map(|_| clock.monotonic() + options.retention_delay);
        // Event ids start at the start time in microseconds: they increase across restarts.
        let first_event = u64::try_from(clock.now_utc().unix_timestamp_nanos() / 1000).unwrap_or(1);
        Writer {
            conn,
            options,
            clock,
            events,
            runs: HashMap::new(),
            pending: Vec::new(),
            pending_lines: 0,
            pending_cmds: 0,
            hub: Hub::new(first_event),
            last_log_id: last_log_id.unwrap_or(0),
            unavailable: None,
            next_retention,
        }
    }

    fn run(&mut self, cmds: &Receiver<StoreCmd>, logs: &Receiver<LogBatch>, subs: &Receiver<Sub>) {
        let never_cmds = crossbeam_channel::never();
        let never_logs = crossbeam_channel::never();
        let never_subs = crossbeam_channel::never();
        let mut subs_open = true;
        let (mut cmds_open, mut logs_open) = (true, true);
        let mut closed_at: Option<Instant> = None;
        loop {
            if !cmds_open && !logs_open {
                if self.pending.is_empty() && self.unavailable.is_none() {
                    return;
                }
                let since = *closed_at.get_or_insert_with(|| self.clock.monotonic());
                if self.clock.monotonic().duration_since(since) > SHUTDOWN_RETRY {
                    self.give_up();
                    return;
                }
            }
            // Wait for the first input, a retry, or retention.
            let take_cmds = cmds_open && self.pending_cmds < MAX_PENDING_CMDS;
            let cmd_rx = if take_cmds { cmds } else { &never_cmds };
            let log_rx = if logs_open { logs } else { &never_logs };
            let sub_rx = if subs_open { subs } else { &never_subs };
            let mut sel = crossbeam_channel::Select::new();
            let ci = sel.recv(cmd_rx);
            let li = sel.recv(log_rx);
            let si = sel.recv(sub_rx);
            let deadline = if !cmds_open && !logs_open {
                // Producers are gone: only retries remain.
                Some(self.unavailable.as_ref().map_or(self.clock.monotonic(), |u| u.retry_at))
            } else {
                self.deadline()
            };
            let picked = match deadline {
                Some(d) => {
                    sel.select_timeout(d.saturating_duration_since(self.clock.monotonic())).ok()
                }
                None => Some(sel.select()),
            };
            if let Some(op) = picked {
                if op.index() == ci {
                    match op.recv(cmd_rx) {
                        Ok(c) => self.accept_cmd(c, logs),
                        Err(_) => cmds_open = false,
                    }
                } else if op.index() == li {
                    match op.recv(log_rx) {
                        Ok(b) => self.accept(Input::Log(b)),
                        Err(_) => logs_open = false,
                    }
                } else if op.index() == si {
                    match op.recv(sub_rx) {
                        Ok(s) => self.subscribe(s),
                        Err(_) => subs_open = false,
                    }
                }
            }
            // Gather more without waiting, within the batch limits.
            let started = self.clock.monotonic();
            while self.pending_lines < MAX_BATCH_LINES
                && self.clock.monotonic().duration_since(started) < MAX_BATCH_TIME
            {
                let mut input = None;
                if cmds_open && self.pending_cmds < MAX_PENDING_CMDS {
                    match cmds.try_recv() {
                        Ok(c) => {
                            self.accept_cmd(c, logs);
                            continue;
                        }
                        Err(crossbeam_channel::TryRecvError::Disconnected) => cmds_open = false,
                        Err(crossbeam_channel::TryRecvError::Empty) => {}
                    }
                }
                if input.is_none() && logs_open {
                    match logs.try_recv() {
                        Ok(b) => input = Some(Input::Log(b)),
                        Err(crossbeam_channel::TryRecvError::Disconnected) => logs_open = false,
                        Err(crossbeam_channel::TryRecvError::Empty) => {}
                    }
                }
                match input {
                    Some(input) => self.accept(input),
                    None => break,
                }
            }
            if self.unavailable.as_ref().is_none_or(|u| self.clock.monotonic() >= u.retry_at) {
                self.commit();
            }
            // Subscriptions are taken between transactions, where the committed state is known.
            while subs_open {
                match subs.try_recv() {
                    Ok(s) => self.subscribe(s),
                    Err(crossbeam_channel::TryRecvError::Empty) => break,
                    Err(crossbeam_channel::TryRecvError::Disconnected) => subs_open = false,
                }
            }
            self.maybe_retention();
        }
    }

    fn deadline(&self) -> Option<Instant> {
        let retry = self.unavailable.as_ref().map(|u| u.retry_at);
        match (retry, self.next_retention) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Takes a command. A flush first takes the log batches already queued: a producer's lines
    /// sent before its flush are then covered by it, although they travel on another channel.
    /// So does a change of a run's status: a worker sends its last lines before it reports the
    /// end of its run, so the status that completes a run's log is committed after its lines.
    fn accept_cmd(&mut self, cmd: StoreCmd, logs: &Receiver<LogBatch>) {
        let takes_logs = match &cmd {
            StoreCmd::Flush { .. } => true,
            StoreCmd::UpdateRun { patch, .. } => patch.status.is_some(),
            _ => false,
        };
        if takes_logs {
            for _ in 0..logs.len() {
                match logs.try_recv() {
                    Ok(batch) => self.accept_log(batch),
                    Err(_) => break,
                }
            }
        }
        self.accept(Input::Cmd(cmd));
    }

    /// Takes a subscription (between transactions: every line up to `last_log_id` is committed,
    /// and everything committed from now on is published to the subscriber).
    fn subscribe(&mut self, sub: Sub) {
        match sub {
            Sub::Log { run_id, lines, ack } => {
                let status = self
                    .conn
                    .prepare_cached("SELECT status FROM job_runs WHERE id = ?1")
                    .and_then(|mut st| st.query_row([run_id], |r| r.get::<_, String>(0)).optional())
                    .ok()
                    .flatten()
                    .and_then(|s| RunStatus::parse(&s));
                let head_seq = self.runs.get(&run_id).map(|r| r.next_seq - 1);
                if !status.is_some_and(log_complete) {
                    self.hub.follow(run_id, lines);
                }
                let _ = ack.send(Followed { until: self.last_log_id, status, head_seq });
            }
            Sub::Events { after, events, ack } => {
                let _ = ack.send(self.hub.subscribe(after, events));
            }
        }
    }

    fn accept(&mut self, input: Input) {
        match input {
            Input::Cmd(StoreCmd::Prune { policy, dry_run, ack }) => {
                self.commit();
                let result = if self.unavailable.is_some() {
                    Err(StoreError::Unavailable("the database cannot be written".into()))
                } else {
                    self.prune(&policy, dry_run)
                };
                let _ = ack.send(result);
            }
            #[cfg(test)]
            Input::Cmd(StoreCmd::Pragma(name, value)) => {
                let _ = self.conn.pragma_update(None, name, value);
            }
            Input::Cmd(cmd) => {
                self.pending.push(Op::Cmd(cmd));
                self.pending_cmds += 1;
            }
            Input::Log(batch) => self.accept_log(batch),
        }
    }

    fn accept_log(&mut self, batch: LogBatch) {
        let run_id = batch.run_id;
        if !self.runs.contains_key(&run_id) {
            let state = self.load_run_log(run_id);
            self.runs.insert(run_id, state);
        }
        let budget = self.options.max_log_bytes_per_run;
        let head_limit = budget.map_or(u64::MAX, |b| b / 2);
        let tail_limit = budget.map_or(u64::MAX, |b| b - b / 2);
        let block_limit = (tail_limit / BLOCKS_PER_TAIL).max(4096);
        let full = self.unavailable.is_some() && self.pending_lines >= MAX_PENDING_LINES;
        let Some(state) = self.runs.get_mut(&run_id) else { return };
        let mut delete: Option<(i64, i64)> = None;
        for line in batch.lines {
            let bytes = line.line.len() as u64;
            if full {
                state.dropped_lines += 1;
                state.dropped_bytes += bytes;
                state.dropped_total += 1;
                continue;
            }
            let in_head = state.marker_seq.is_none() && state.head_bytes + bytes <= head_limit;
            if !in_head && state.marker_seq.is_none() {
                state.marker_seq = Some(state.next_seq);
                state.next_seq += 1;
            }
            let seq = state.next_seq;
            state.next_seq += 1;
            state.stored_lines += 1;
            state.stored_bytes += bytes;
            self.pending.push(Op::Line { run_id, seq, line });
            self.pending_lines += 1;
            if in_head {
                state.head_bytes += bytes;
                continue;
            }
            match state.tail.back_mut() {
                Some(b) if b.bytes < block_limit => {
                    b.last_seq = seq;
                    b.lines += 1;
                    b.bytes += bytes;
                }
                _ => state.tail.push_back(Block { first_seq: seq, last_seq: seq, lines: 1, bytes }),
            }
            state.tail_bytes += bytes;
            while state.tail_bytes > tail_limit {
                let Some(old) = state.tail.pop_front() else { break };
                state.tail_bytes -= old.bytes;
                state.omitted_lines += old.lines;
                state.omitted_bytes += old.bytes;
                state.stored_lines -= old.lines;
                state.stored_bytes -= old.bytes;
                delete =
                    Some(delete.map_or((old.first_seq, old.last_seq), |(a, _)| (a, old.last_seq)));
            }
        }
        if let Some((from_seq, to_seq)) = delete {
            self.pending.push(Op::DeleteLines { run_id, from_seq, to_seq });
        }
        if let Some(seq) = state.marker_seq.filter(|_| batch.end && state.omitted_lines > 0) {
            let text = budget_marker(state, budget);
            state.stored_lines += 1;
            state.stored_bytes += text.len() as u64;
            self.pending.push(Op::Note { run_id, seq, text });
        }
        self.pending.push(state.counters(run_id));
        state.ended |= batch.end;
        if state.ended && state.dropped_lines == 0 {
            self.runs.remove(&run_id);
        }
    }

    /// The log state of a run seen for the first time (it may have lines from before a
    /// restart: they count as head).
    fn load_run_log(&self, run_id: i64) -> RunLog {
        let row = self
            .conn
            .query_row(
                "SELECT coalesce((SELECT max(seq) FROM run_logs WHERE run_id = ?1), 0),
                        log_lines, log_bytes, log_omitted_lines, log_omitted_bytes,
                        log_dropped_lines
                   FROM job_runs WHERE id = ?1",
                [run_id],
                |r| {
                    let n = |i: usize| r.get::<_, i64>(i).map(|v| u64::try_from(v).unwrap_or(0));
                    Ok((r.get::<_, i64>(0)?, n(1)?, n(2)?, n(3)?, n(4)?, n(5)?))
                },
            )
            .optional()
            .ok()
            .flatten();
        let (max_seq, lines, bytes, omitted_lines, omitted_bytes, dropped) =
            row.unwrap_or_default();
        RunLog {
            next_seq: max_seq + 1,
            head_bytes: bytes,
            omitted_lines,
            omitted_bytes,
            dropped_total: dropped,
            stored_lines: lines,
            stored_bytes: bytes,
            ..RunLog::default()
        }
    }

    /// Applies everything pending in one transaction; on success acknowledges and publishes.
    fn commit(&mut self) {
        if self.pending.is_empty() && self.unavailable.is_none() {
            return;
        }
        match self.apply() {
            Ok(done) => {
                self.pending.clear();
                self.pending_lines = 0;
                self.pending_cmds = 0;
                self.finish(done);
                if self.unavailable.is_some() {
                    self.recovered();
                }
            }
            Err(e) => self.failed_again(&e),
        }
    }

    fn failed_again(&mut self, error: &rusqlite::Error) {
        let now = self.clock.monotonic();
        match &mut self.unavailable {
            Some(u) => {
                u.backoff = (u.backoff * 2).min(Duration::from_secs(30));
                u.retry_at = now + u.backoff;
            }
            None => {
                let backoff = Duration::from_millis(250);
                self.unavailable =
                    Some(Unavailable { since: now, retry_at: now + backoff, backoff });
                let message = error.to_string();
                eprintln!(
                    "husky: ERROR: the database cannot be written ({message}); holding changes \
                     and retrying"
                );
                let _ = self.events.send(StoreEvent::Unavailable { error: message });
            }
        }
    }

    /// Writes succeed again: note dropped lines in each affected run's log, and report.
    fn recovered(&mut self) {
        let Some(u) = self.unavailable.take() else { return };
        let mut dropped = 0;
        for (&run_id, state) in &mut self.runs {
            if state.dropped_lines == 0 {
                continue;
            }
            dropped += state.dropped_lines;
            let text = format!(
                "husky: {} line(s) of output ({} bytes) were dropped here while the database \
                 could not be written",
                state.dropped_lines, state.dropped_bytes
            );
            let seq = state.next_seq;
            state.next_seq += 1;
            state.stored_lines += 1;
            state.stored_bytes += text.len() as u64;
            state.dropped_lines = 0;
            state.dropped_bytes = 0;
            self.pending.push(Op::Note { run_id, seq, text });
            self.pending.push(state.counters(run_id));
        }
        self.runs.retain(|_, state| !state.ended);
        let after = self.clock.monotonic().duration_since(u.since);
        eprintln!(
            "husky: the database is writable again after {:.1} s; {dropped} log line(s) were \
             dropped meanwhile",
            after.as_secs_f64()
        );
        let _ = self.events.send(StoreEvent::Recovered { dropped_lines: dropped, after });
        self.commit();
    }

    /// The producers are gone and the database stays unwritable: say what is lost.
    fn give_up(&mut self) {
        let cmds = self.pending.iter().filter(|op| matches!(op, Op::Cmd(_))).count();
        eprintln!(
            "husky: ERROR: shutting down with an unwritable database: {} log line(s) and {cmds} \
             change(s) could not be stored",
            self.pending_lines
        );
        for op in self.pending.drain(..) {
            if let Op::Cmd(cmd) = op {
                reject(cmd, "the database could not be written before shutdown");
            }
        }
    }

    /// The transaction. Returns what to acknowledge and publish.
    fn apply(&mut self) -> Result<Vec<Done>, rusqlite::Error> {
        let now = ts(self.clock.now_utc());
        let tx = self.conn.transaction()?;
        let mut done = Vec::with_capacity(self.pending.len());
        let mut failures = Vec::new();
        for op in &mut self.pending {
            match op {
                Op::Line { run_id, seq, line } => {
                    let stamp = ts(line.ts);
                    let inserted = tx.prepare_cached(INSERT_LINE)?.execute(params![
                        *run_id,
                        *seq,
                        line.stream.as_str(),
                        line.line,
                        stamp
                    ]);
                    match inserted {
                        Ok(_) => done.push(Done::Line(StoredLine {
                            id: tx.last_insert_rowid(),
                            run_id: *run_id,
                            seq: *seq,
                            stream: line.stream,
                            line: line.line.clone(),
                            ts: stamp,
                        })),
                        Err(e) if is_unavailable(&e) => return Err(e),
                        Err(e) => {
                            failures.push((format!("log line of run {run_id}"), e.to_string()));
                        }
                    }
                }
                Op::Note { run_id, seq, text } => {
                    let inserted = tx.prepare_cached(INSERT_LINE)?.execute(params![
                        *run_id,
                        *seq,
                        Stream::Husky.as_str(),
                        text.as_str(),
                        now
                    ]);
                    match inserted {
                        Ok(_) => done.push(Done::Line(StoredLine {
                            id: tx.last_insert_rowid(),
                            run_id: *run_id,
                            seq: *seq,
                            stream: Stream::Husky,
                            line: text.clone(),
                            ts: now.clone(),
                        })),
                        Err(e) if is_unavailable(&e) => return Err(e),
                        Err(e) => {
                            failures.push((format!("log note of run {run_id}"), e.to_string()));
                        }
                    }
                }
                Op::DeleteLines { run_id, from_seq, to_seq } => {
                    tx.prepare_cached(
                        "DELETE FROM run_logs WHERE run_id = ?1 AND seq BETWEEN ?2 AND ?3",
                    )?
                    .execute(params![*run_id, *from_seq, *to_seq])?;
                }
                Op::Counters { run_id, lines, bytes, omitted, dropped } => {
                    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
                    tx.prepare_cached(
                        "UPDATE job_runs SET log_lines = ?2, log_bytes = ?3,
                                log_omitted_lines = ?4, log_omitted_bytes = ?5,
                                log_dropped_lines = ?6
                          WHERE id = ?1",
                    )?
                    .execute(params![
                        *run_id,
                        n(*lines),
                        n(*bytes),
                        n(omitted.0),
                        n(omitted.1),
                        n(*dropped)
                    ])?;
                }
                Op::Cmd(cmd) => {
                    tx.execute_batch("SAVEPOINT cmd")?;
                    match apply_cmd(&tx, cmd) {
                        Ok(d) => {
                            tx.execute_batch("RELEASE cmd")?;
                            done.push(match (d, &*cmd) {
                                (Done::Ack(then), StoreCmd::UpdateRun { id, patch, .. }) => {
                                    match patch.status.filter(|s| log_complete(*s)) {
                                        Some(status) => Done::End { run_id: *id, status, then },
                                        None => Done::Ack(then),
                                    }
                                }
                                (d, _) => d,
                            });
                        }
                        Err(e) if is_unavailable(&e) => return Err(e),
                        Err(e) => {
                            tx.execute_batch("ROLLBACK TO cmd; RELEASE cmd")?;
                            done.push(refuse(cmd, &e, &mut failures));
                        }
                    }
                }
            }
        }
        tx.commit()?;
        for (what, error) in failures {
            eprintln!("husky: store: {what} failed: {error}");
            let _ = self.events.send(StoreEvent::Failed { what, error });
        }
        Ok(done)
    }

    fn finish(&mut self, done: Vec<Done>) {
        for d in done {
            match d {
                Done::Nothing => {}
                Done::Ack(f) => f(),
                Done::Line(line) => {
                    self.last_log_id = self.last_log_id.max(line.id);
                    self.hub.line(line);
                }
                Done::End { run_id, status, then } => {
                    self.hub.end(run_id, status);
                    then();
                }
                Done::Event(at, what) => self.hub.event(at, *what),
            }
        }
    }

    fn maybe_retention(&mut self) {
        let Some(at) = self.next_retention else { return };
        if self.clock.monotonic() < at || self.unavailable.is_some() {
            return;
        }
        self.next_retention = Some(at + self.options.retention_every);
        let Some(policy) = self.options.retention.clone() else { return };
        match self.prune(&policy, false) {
            Ok(report) => {
                eprintln!("husky: retention: {}", retention::describe(&report));
                let _ = self.events.send(StoreEvent::Pruned(report));
            }
            Err(e) => {
                eprintln!("husky: retention failed: {e}");
                let _ = self
                    .events
                    .send(StoreEvent::Failed { what: "retention".into(), error: e.to_string() });
            }
        }
    }

    fn prune(&mut self, policy: &Policy, dry_run: bool) -> Result<PruneReport, StoreError> {
        retention::prune(&mut self.conn, policy, self.clock.now_utc(), dry_run)
    }
}

const INSERT_LINE: &str =
    "INSERT INTO run_logs (run_id, seq, stream, line, ts) VALUES (?1, ?2, ?3, ?4, ?5)";

/// The marker line: exactly how much of the log was left out.
fn budget_marker(state: &RunLog, budget: Option<u64>) -> String {
    format!(
        "husky: {} line(s) ({} bytes) omitted here: the log passed its budget of {} bytes \
         (storage.retention.max_log_bytes_per_run); its first and last {} bytes are kept",
        state.omitted_lines,
        state.omitted_bytes,
        budget.unwrap_or(0),
        budget.unwrap_or(0) / 2
    )
}

/// Applies one command inside the transaction.
fn apply_cmd(tx: &rusqlite::Transaction<'_>, cmd: &mut StoreCmd) -> Result<Done, rusqlite::Error> {
    match cmd {
        StoreCmd::CreateRun { run, ack } => {
            tx.prepare_cached(
                "INSERT INTO job_runs (id, job_name, status, attempt, trigger, triggered_by,
                                       reason, cycle_id, created_at, started_at, status_reason,
                                       finished_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                run.id,
                run.job_name,
                run.status.as_str(),
                run.attempt,
                run.trigger.as_str(),
                run.triggered_by,
                run.reason,
                run.cycle_id,
                ts(run.created_at),
                run.started_at.map(ts),
                run.status_reason,
                run.finished_at.map(ts),
            ])?;
            let id = tx.last_insert_rowid();
            let ack = ack.clone();
            Ok(Done::Ack(Box::new(move || {
                let _ = ack.send(Ok(id));
            })))
        }
        StoreCmd::UpdateRun { id, patch, ack } => {
            let changed = update_run(tx, *id, patch)?;
            if changed == 0 {
                return Err(rusqlite::Error::QueryReturnedNoRows);
            }
            Ok(ack_unit(ack.clone()))
        }
        StoreCmd::JobState { job, patch, ack } => {
            update_job_state(tx, job, patch)?;
            Ok(ack_unit(ack.clone()))
        }
        StoreCmd::Outputs { run_id, job_name, cycle_id, at, outputs } => {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO run_outputs (run_id, job_name, var_name, value, cycle_id, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for o in outputs.iter() {
                stmt.execute(params![
                    *run_id,
                    job_name.as_str(),
                    o.var_name,
                    o.value,
                    cycle_id.as_str(),
                    ts(*at)
                ])?;
            }
            Ok(Done::Nothing)
        }
        StoreCmd::Alert { alert, ack } => {
            tx.prepare_cached(
                "INSERT INTO alerts (job_name, run_id, event, channel, status, attempts,
                                     last_attempt_at, error, sent_at, payload)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7, ?9)",
            )?
            .execute(params![
                alert.job_name,
                alert.run_id,
                alert.event,
                alert.channel,
                alert.status,
                alert.attempts,
                ts(alert.sent_at),
                alert.error,
                alert.payload,
            ])?;
            let id = tx.last_insert_rowid();
            let ack = ack.clone();
            Ok(Done::Ack(Box::new(move || {
                if let Some(ack) = ack {
                    let _ = ack.send(Ok(id));
                }
            })))
        }
        StoreCmd::AlertAttempt { id, status, attempts, error, at } => {
            tx.prepare_cached(
                "UPDATE alerts SET status = ?2, attempts = ?3, error = ?4, last_attempt_at = ?5
                 WHERE id = ?1",
            )?
            .execute(params![*id, &*status, *attempts, &*error, ts(*at)])?;
            Ok(Done::Nothing)
        }
        StoreCmd::PauseTag { tag, paused: true, at } => {
            tx.prepare_cached(
                "INSERT INTO paused_tags (tag, paused_at) VALUES (?1, ?2)
                 ON CONFLICT (tag) DO NOTHING",
            )?
            .execute(params![&*tag, ts(*at)])?;
            Ok(Done::Nothing)
        }
        StoreCmd::PauseTag { tag, paused: false, .. } => {
            tx.prepare_cached("DELETE FROM paused_tags WHERE tag = ?1")?.execute([&*tag])?;
            Ok(Done::Nothing)
        }
        StoreCmd::Flush { ack } => Ok(ack_unit(Some(ack.clone()))),
        StoreCmd::Publish { at, what } => Ok(Done::Event(*at, what.clone())),
        #[cfg(test)]
        StoreCmd::Pragma(..) => Ok(Done::Nothing),
        StoreCmd::Prune { .. } => Ok(Done::Nothing),
    }
}

fn ack_unit(ack: Option<Ack<()>>) -> Done {
    Done::Ack(Box::new(move || {
        if let Some(ack) = ack {
            let _ = ack.send(Ok(()));
        }
    }))
}

/// Answers a command that failed on its own (after its savepoint was rolled back).
fn refuse(cmd: &StoreCmd, e: &rusqlite::Error, failures: &mut Vec<(String, String)>) -> Done {
    let message = match e {
        rusqlite::Error::QueryReturnedNoRows => "no such run".to_owned(),
        other => other.to_string(),
    };
    let err = |m: String| StoreError::Rejected(m);
    match cmd {
        StoreCmd::CreateRun { ack, .. } => {
            let (ack, m) = (ack.clone(), message);
            Done::Ack(Box::new(move || {
                let _ = ack.send(Err(err(m)));
            }))
        }
        StoreCmd::UpdateRun { id, ack: Some(ack), .. } => {
            let (ack, m) = (ack.clone(), format!("run {id}: {message}"));
            Done::Ack(Box::new(move || {
                let _ = ack.send(Err(err(m)));
            }))
        }
        StoreCmd::JobState { job, ack: Some(ack), .. } => {
            let (ack, m) = (ack.clone(), format!("job {job}: {message}"));
            Done::Ack(Box::new(move || {
                let _ = ack.send(Err(err(m)));
            }))
        }
        StoreCmd::Alert { ack: Some(ack), .. } => {
            let (ack, m) = (ack.clone(), message);
            Done::Ack(Box::new(move || {
                let _ = ack.send(Err(err(m)));
            }))
        }
        other => {
            failures.push((command_name(other).to_owned(), message));
            Done::Nothing
        }
    }
}

/// Answers a command that will never be written.
fn reject(cmd: StoreCmd, why: &str) {
    let err = || StoreError::Unavailable(why.to_owned());
    match cmd {
        StoreCmd::CreateRun { ack, .. } => drop(ack.send(Err(err()))),
        StoreCmd::UpdateRun { ack: Some(ack), .. }
        | StoreCmd::JobState { ack: Some(ack), .. }
        | StoreCmd::Flush { ack } => drop(ack.send(Err(err()))),
        StoreCmd::Alert { ack: Some(ack), .. } => drop(ack.send(Err(err()))),
        _ => {}
    }
}

fn command_name(cmd: &StoreCmd) -> &'static str {
    match cmd {
        StoreCmd::CreateRun { .. } => "create run",
        StoreCmd::UpdateRun { .. } => "update run",
        StoreCmd::JobState { .. } => "job state",
        StoreCmd::Outputs { .. } => "outputs",
        StoreCmd::Alert { .. } => "alert",
        StoreCmd::AlertAttempt { .. } => "alert attempt",
        StoreCmd::PauseTag { .. } => "pause tag",
        StoreCmd::Publish { .. } => "publish",
        StoreCmd::Prune { .. } => "prune",
        StoreCmd::Flush { .. } => "flush",
        #[cfg(test)]
        StoreCmd::Pragma(..) => "pragma",
    }
}

/// Writes the `Some` fields of a run patch.
fn update_run(
    tx: &rusqlite::Transaction<'_>,
    id: i64,
    p: &RunPatch,
) -> Result<usize, rusqlite::Error> {
    use rusqlite::types::Value;
    let mut sets: Vec<(&str, Value)> = Vec::new();
    let text = |v: &Option<String>| v.clone().map(Value::Text);
    let int = |v: Option<i64>| v.map(Value::Integer);
    let stamp = |v: Option<time::OffsetDateTime>| v.map(|t| Value::Text(ts(t)));
    let fields: [(&str, Option<Value>); 15] = [
        ("status", p.status.map(|s| Value::Text(s.as_str().to_owned()))),
        ("status_reason", text(&p.status_reason)),
        ("started_at", stamp(p.started_at)),
        ("finished_at", stamp(p.finished_at)),
        ("retry_at", stamp(p.retry_at)),
        ("exit_code", int(p.exit_code.map(i64::from))),
        ("signal", int(p.signal.map(i64::from))),
        ("pid", int(p.pid.map(i64::from))),
        ("pid_start", int(p.pid_start)),
        ("duration_ms", int(p.duration_ms)),
        ("cpu_user_ms", int(p.cpu_user_ms)),
        ("cpu_sys_ms", int(p.cpu_sys_ms)),
        ("max_rss_kb", int(p.max_rss_kb)),
        ("sla_breached", int(p.sla_breached.map(i64::from))),
        ("hc_status", text(&p.hc_status)),
    ];
    for (name, value) in fields {
        if let Some(v) = value {
            sets.push((name, v));
        }
    }
    if sets.is_empty() {
        let n: i64 =
            tx.query_row("SELECT count(*) FROM job_runs WHERE id = ?1", [id], |r| r.get(0))?;
        return Ok(usize::try_from(n).unwrap_or(0));
    }
    let assignments: Vec<String> =
        sets.iter().enumerate().map(|(i, (name, _))| format!("{name} = ?{}", i + 2)).collect();
    let sql = format!("UPDATE job_runs SET {} WHERE id = ?1", assignments.join(", "));
    let mut values: Vec<Value> = vec![Value::Integer(id)];
    values.extend(sets.into_iter().map(|(_, v)| v));
    tx.prepare_cached(&sql)?.execute(rusqlite::params_from_iter(values))
}

/// Writes the `Some` fields of a job state patch, creating the row when missing.
fn update_job_state(
    tx: &rusqlite::Transaction<'_>,
    job: &str,
    p: &JobStatePatch,
) -> Result<(), rusqlite::Error> {
    use rusqlite::types::Value;
    tx.prepare_cached("INSERT OR IGNORE INTO job_state (job_name) VALUES (?1)")?.execute([job])?;
    let stamp = |t: time::OffsetDateTime| Value::Text(ts(t));
    let mut sets: Vec<(&str, Value)> = Vec::new();
    if let Some(t) = p.last_success {
        sets.push(("last_success", stamp(t)));
    }
    if let Some(t) = p.last_failure {
        sets.push(("last_failure", stamp(t)));
    }
    if let Some((id, status)) = p.last_run {
        sets.push(("last_run_id", Value::Integer(id)));
        sets.push(("last_status", Value::Text(status.as_str().to_owned())));
    }
    if let Some(next) = p.next_run {
        sets.push(("next_run", next.map_or(Value::Null, stamp)));
    }
    if let Some(paused) = p.paused {
        sets.push(("paused", Value::Integer(i64::from(paused))));
    }
    if let Some(pid) = p.lock_pid {
        sets.push(("lock_pid", pid.map_or(Value::Null, |p| Value::Integer(i64::from(p)))));
    }
    if let Some(skip) = p.skip_next {
        sets.push(("skip_next", Value::Integer(i64::from(skip))));
    }
    if sets.is_empty() {
        return Ok(());
    }
    let assignments: Vec<String> =
        sets.iter().enumerate().map(|(i, (name, _))| format!("{name} = ?{}", i + 2)).collect();
    let sql = format!("UPDATE job_state SET {} WHERE job_name = ?1", assignments.join(", "));
    let mut values: Vec<Value> = vec![Value::Text(job.to_owned())];
    values.extend(sets.into_iter().map(|(_, v)| v));
    tx.prepare_cached(&sql)?.execute(rusqlite::params_from_iter(values))?;
    Ok(())
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
