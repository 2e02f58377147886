//! The worker pool: a fixed number of OS threads sharing one receiver of [`WorkOrder`]s. Each
//! worker runs one attempt at a time, reports [`RunEvent`]s to the engine and sends the run's
//! lines to the store writer in batches (a full log channel blocks the worker, which stops
//! reading the pipes, which blocks the job: backpressure, never loss).

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use time::OffsetDateTime;

use super::attempt::{Attempt, AttemptResult, Settings, run_attempt};
use super::run::{ReadLine, Sink};
use crate::clock::Clock;
use crate::store::writer::{LogBatch, StoreHandle};
use crate::store::{LogLine, RunStatus, StoreError, Stream};

/// Lines per log batch, at most.
const BATCH_LINES: usize = 512;

/// One attempt to run, and the channel that cancels it.
#[derive(Debug)]
pub struct WorkOrder {
    /// What to run.
    pub attempt: Attempt,
    /// A message here cancels the run (SIGTERM, the grace, SIGKILL); a second one kills at
    /// once. The engine keeps the sender.
    pub cancel: Receiver<()>,
    /// The store's acknowledgement of the run's row: the worker waits for it before it starts
    /// anything, so no process ever runs without its record (`None`: already committed).
    pub ready: Option<Receiver<Result<(), StoreError>>>,
}

/// What workers tell the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEvent {
    /// The main command started.
    Started {
        /// The run.
        run_id: i64,
        /// Its process id.
        pid: u32,
        /// The process's start time as the OS reports it (`job_runs.pid_start`).
        pid_start: Option<i64>,
        /// When.
        at: OffsetDateTime,
    },
    /// The attempt is over; its log is complete in the store's queue.
    Finished {
        /// The run.
        run_id: i64,
        /// How it ended.
        result: Box<AttemptResult>,
        /// When.
        at: OffsetDateTime,
    },
}

/// Starts `size` workers (at least 1). They stop when `orders` is closed and empty. The pool
/// takes the channel ends: once the workers stop, the last clones of `events` and `store` go.
#[allow(clippy::needless_pass_by_value)] // ownership of the endpoints moves into the workers
pub fn spawn(
    size: usize,
    settings: Arc<Settings>,
    orders: Receiver<WorkOrder>,
    events: Sender<RunEvent>,
    store: StoreHandle,
    clock: Arc<dyn Clock>,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    (0..size.max(1))
        .map(|i| {
            let (settings, orders, events, store, clock) =
                (settings.clone(), orders.clone(), events.clone(), store.clone(), clock.clone());
            std::thread::Builder::new().name(format!("husky-worker-{i}")).spawn(move || {
                for order in orders.iter() {
                    work(&settings, &order, &events, &store, clock.as_ref());
                }
            })
        })
        .collect()
}

/// The default pool size: the number of CPUs, at least 2.
pub fn default_size() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).max(2)
}

fn work(
    settings: &Settings,
    order: &WorkOrder,
    events: &Sender<RunEvent>,
    store: &StoreHandle,
    clock: &dyn Clock,
) {
    let run_id = order.attempt.run_id;
    if let Some(ready) = &order.ready {
        let committed = ready.recv().unwrap_or(Err(StoreError::Closed));
        if let Err(e) = committed {
            let result = AttemptResult {
                outcome: super::run::Outcome::default(),
                status: RunStatus::Failed,
                status_reason: Some(format!(
                    "not started: its run record could not be written ({e})"
                )),
                hc: None,
                outputs: Vec::new(),
                warnings: Vec::new(),
            };
            let at = clock.now_utc();
            let _ = events.send(RunEvent::Finished { run_id, result: Box::new(result), at });
            return;
        }
    }
    let mut sink = Batcher { run_id, store, lines: Vec::new(), sent: false };
    // A panic in one attempt must not take the worker (or the daemon) down.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_attempt(
            settings,
            &order.attempt,
            clock,
            &order.cancel,
            |pid| {
                let pid_start = super::platform::start_time(pid);
                let _ =
                    events.send(RunEvent::Started { run_id, pid, pid_start, at: clock.now_utc() });
            },
            &mut sink,
        )
    }));
    let result = result.unwrap_or_else(|_| AttemptResult {
        outcome: super::run::Outcome::default(),
        status: crate::store::RunStatus::Failed,
        status_reason: Some("internal error in the executor (see the daemon log)".into()),
        hc: None,
        outputs: Vec::new(),
        warnings: Vec::new(),
    });
    // Problems that did not fail the run (an output capture that found nothing) go into its
    // log, where whoever reads it will see them.
    let at = clock.now_utc();
    for w in &result.warnings {
        sink.lines.push(LogLine { stream: Stream::Husky, line: format!("warning: {w}"), ts: at });
    }
    sink.send(true);
    let _ =
        events.send(RunEvent::Finished { run_id, result: Box::new(result), at: clock.now_utc() });
}

/// Gathers lines into batches for the store.
struct Batcher<'a> {
    run_id: i64,
    store: &'a StoreHandle,
    lines: Vec<LogLine>,
    /// Something was sent: the end of the log must be sent too.
    sent: bool,
}

impl Batcher<'_> {
    fn send(&mut self, end: bool) {
        // Nothing to store, and (for the end) nothing for the writer to close.
        if self.lines.is_empty() && !(end && self.sent) {
            return;
        }
        self.sent = true;
        let lines = std::mem::take(&mut self.lines);
        // Blocks while the writer's channel is full: backpressure down to the job.
        if self.store.log(LogBatch { run_id: self.run_id, lines, end }).is_err() {
            eprintln!("husky: the store writer has stopped; run {} loses its output", self.run_id);
        }
    }
}

impl Sink for Batcher<'_> {
    fn line(&mut self, l: ReadLine) {
        self.lines.push(LogLine { stream: l.stream, line: l.piece.text, ts: l.at });
        if self.lines.len() >= BATCH_LINES {
            self.send(false);
        }
    }

    fn idle(&mut self) {
        self.send(false);
    }
}

#[cfg(all(test, target_os = "linux"))]
#[path = "pool_tests.rs"]
mod tests;
