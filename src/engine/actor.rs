//! The engine thread: it waits on its inbox, the workers' events and the core's next deadline
//! (capped at 30 s, so clock jumps and suspends are noticed), reads the clock once per turn, and
//! carries the core's effects out without ever blocking: store commands go through its own
//! queue with `try_send`, work orders and replies go to unbounded or private channels. The
//! events clients watch ([`super::events`]) go in the same queue, behind the changes they
//! describe.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded, never, select};

use super::Now;
use super::core::{Command, Core, Effect, Input, Notice, Reply, Restored};
use super::events::Tracker;
use super::metrics::Metrics;
use super::runbook::RunBook;
use crate::clock::Clock;
use crate::exec::pool::{RunEvent, WorkOrder};
use crate::log::Logger;
use crate::log::audit::Audit;
use crate::store::hub::What;
use crate::store::writer::{StoreCmd, StoreHandle};

/// The longest the engine sleeps without looking at the clock.
pub const MAX_SLEEP: Duration = Duration::from_secs(30);
/// While store commands wait in the engine's own queue, it retries this often.
const OUTBOX_RETRY: Duration = Duration::from_millis(10);
/// An engine queue of store commands this long is reported (once per crossing).
const OUTBOX_WARN: usize = 10_000;

/// What the engine's inbox takes.
#[derive(Debug)]
pub enum EngineMsg {
    /// A command; its reply goes to `reply` (which never blocks the engine: give it room for
    /// one message).
    Command {
        /// The command.
        cmd: Command,
        /// Where the reply goes.
        reply: Sender<Reply>,
    },
    /// The counters for `/metrics` (answered at once, outside the core).
    Metrics {
        /// Where the snapshot goes (give it room for one).
        reply: Sender<super::metrics::Snapshot>,
    },
}

/// The engine thread's channels.
pub struct Wiring {
    /// Commands from the API, the CLI and the daemon.
    pub inbox: Receiver<EngineMsg>,
    /// Events from the workers.
    pub events: Receiver<RunEvent>,
    /// Work for the pool (unbounded: runs beyond the pool's size wait there, PENDING).
    pub orders: Sender<WorkOrder>,
    /// The store writer.
    pub store: StoreHandle,
    /// The notifier's inbox and what starts its thread, if any (else notifications are logged).
    pub notices: Option<(Sender<Notice>, crate::notify::Waker)>,
    /// The daemon's log.
    pub log: Logger,
    /// The audit log, when `log.audit_log.enabled`: one line per run transition.
    pub audit: Option<Audit>,
    /// Told once, when a shutdown begins (systemd's `STOPPING=1`).
    pub stopping: Option<Sender<()>>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Wiring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wiring").finish_non_exhaustive()
    }
}

/// Starts the engine thread: it recovers `restored`, then runs until a shutdown completes (or
/// its inbox closes, which it treats as a shutdown).
pub fn spawn(core: Core, restored: Restored, wiring: Wiring) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("husky-engine".into()).spawn(move || {
        let mut actor = Actor {
            core,
            w: wiring,
            outbox: VecDeque::new(),
            cancels: HashMap::new(),
            warned: false,
            metrics: Metrics::default(),
            book: RunBook::default(),
        };
        actor.book.restored(&restored.live);
        actor.run(&restored);
    })
}

struct Actor {
    core: Core,
    w: Wiring,
    outbox: VecDeque<StoreCmd>,
    cancels: HashMap<i64, Sender<()>>,
    warned: bool,
    metrics: Metrics,
    /// The unfinished runs, for the audit log, the events and the metrics.
    book: RunBook,
}

impl Actor {
    fn run(&mut self, restored: &Restored) {
        let out = self.core.start(restored, Now::of(self.w.clock.as_ref()));
        self.carry(out.effects);
        let (mut inbox, mut events) = (self.w.inbox.clone(), self.w.events.clone());
        loop {
            self.flush_outbox();
            if self.core.is_stopping()
                && let Some(tx) = self.w.stopping.take()
            {
                let _ = tx.try_send(());
            }
            if self.core.is_done() && self.outbox.is_empty() {
                return;
            }
            let wait = self.wait();
            let mut reply_to = None;
            let input = select! {
                recv(inbox) -> msg => match msg {
                    Ok(EngineMsg::Command { cmd, reply }) => {
                        reply_to = Some(reply);
                        Input::Command(cmd)
                    }
                    Ok(EngineMsg::Metrics { reply }) => {
                        let snap = self.metrics.snapshot(self.core.active(), self.outbox.len());
                        let _ = reply.try_send(snap);
                        continue;
                    }
                    Err(_) => {
                        inbox = never();
                        Input::Command(Command::Shutdown { force: false })
                    }
                },
                recv(events) -> ev => match ev {
                    Ok(ev) => {
                        if let RunEvent::Finished { run_id, .. } = &ev {
                            self.cancels.remove(run_id);
                        }
                        Input::Run(ev)
                    }
                    Err(_) => {
                        events = never();
                        self.w.log.error("engine: the worker pool has stopped");
                        Input::Tick
                    }
                },
                default(wait) => Input::Tick,
            };
            let now = Now::of(self.w.clock.as_ref());
            let event = match &input {
                Input::Command(Command::Reload(c)) => Some(What::Reload { jobs: c.jobs.len() }),
                Input::Command(Command::Shutdown { .. }) if !self.core.is_stopping() => {
                    Some(What::Stopping)
                }
                _ => None,
            };
            let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.core.handle(input, now)
            }));
            match handled {
                Ok(out) => {
                    let done = matches!(out.reply, Some(Reply::Done(_)));
                    // The changes go to the store writer before the reply: a client that then
                    // asks the writer to flush finds them committed (read-your-writes).
                    self.carry(out.effects);
                    if let Some(what) = event.filter(|_| done) {
                        self.publish(now.utc, Some(what));
                    }
                    if let (Some(to), Some(reply)) = (reply_to, out.reply) {
                        let _ = to.try_send(reply);
                    }
                }
                Err(_) => {
                    self.w.log.error(
                        "engine: internal error while handling an input (a bug); continuing",
                    );
                    if let Some(to) = reply_to {
                        let _ =
                            to.try_send(Reply::Error("internal error (see the daemon log)".into()));
                    }
                }
            }
            // For /metrics only: how long the turn took (scheduling reads the clock once).
            self.metrics.turn(self.w.clock.monotonic().saturating_duration_since(now.mono));
        }
    }

    /// How long to sleep: until the core's next deadline, at most [`MAX_SLEEP`], and briefly
    /// while store commands wait in the outbox.
    fn wait(&self) -> Duration {
        let now = self.w.clock.now_utc();
        let until = self.core.next_wakeup().map_or(MAX_SLEEP, |at| {
            Duration::try_from(at - now).unwrap_or(Duration::ZERO).min(MAX_SLEEP)
        });
        if self.outbox.is_empty() { until } else { until.min(OUTBOX_RETRY) }
    }

    fn store(&mut self, cmd: StoreCmd) {
        self.outbox.push_back(cmd);
    }

    /// Queues an event behind the changes queued so far: the writer publishes it once they are
    /// committed.
    fn publish(&mut self, at: time::OffsetDateTime, what: Option<What>) {
        if let Some(what) = what {
            self.store(StoreCmd::Publish { at, what: Box::new(what) });
        }
    }

    fn flush_outbox(&mut self) {
        while let Some(cmd) = self.outbox.pop_front() {
            match self.w.store.commands().try_send(cmd) {
                Ok(()) => {}
                Err(TrySendError::Full(cmd)) => {
                    self.outbox.push_front(cmd);
                    break;
                }
                Err(TrySendError::Disconnected(_)) => {
                    self.w.log.error(&format!(
                        "engine: the store writer has stopped; {} state change(s) are lost",
                        self.outbox.len() + 1
                    ));
                    self.outbox.clear();
                }
            }
        }
        let long = self.outbox.len() >= OUTBOX_WARN;
        if long && !self.warned {
            self.w.log.warn(&format!(
                "engine: {} state changes wait for the store writer (is the database writable?)",
                self.outbox.len()
            ));
        }
        self.warned = long;
    }

    fn carry(&mut self, effects: Vec<Effect>) {
        let now = self.w.clock.now_utc();
        for e in effects {
            match e {
                Effect::CreateRun(run) => {
                    self.book.created(&run);
                    if let Some(a) = &mut self.w.audit {
                        a.created(&run, now);
                    }
                    self.metrics.created(&run);
                    let event = Tracker::created(&run);
                    // The ack is not awaited here: a dispatched run's worker waits for the
                    // flush that follows its row instead.
                    let (ack, _) = bounded(1);
                    self.store(StoreCmd::CreateRun { run, ack });
                    self.publish(now, event);
                }
                Effect::UpdateRun { id, patch } => {
                    let known = self.book.get(id);
                    if let Some(a) = &mut self.w.audit {
                        a.updated(id, &patch, known, now);
                    }
                    self.metrics.updated(id, &patch, known);
                    let event = Tracker::updated(id, &patch, known);
                    if let Some(status) = patch.status {
                        self.book.set_status(id, status);
                    }
                    self.store(StoreCmd::UpdateRun { id, patch, ack: None });
                    self.publish(now, event);
                }
                Effect::JobState { job, patch } => {
                    let event = Tracker::job_state(&job, &patch);
                    self.store(StoreCmd::JobState { job, patch, ack: None });
                    self.publish(now, event);
                }
                Effect::PauseTag { tag, paused } => {
                    let event = What::Tag { tag: tag.clone(), paused };
                    self.store(StoreCmd::PauseTag { tag, paused, at: now });
                    self.publish(now, Some(event));
                }
                Effect::Outputs { run_id, job, cycle_id, outputs } => {
                    self.store(StoreCmd::Outputs {
                        run_id,
                        job_name: job,
                        cycle_id,
                        at: now,
                        outputs,
                    });
                }
                Effect::Dispatch(attempt) => {
                    let run_id = attempt.run_id;
                    let (ack, ready) = bounded(1);
                    self.store(StoreCmd::Flush { ack });
                    let (cancel_tx, cancel) = bounded(2);
                    self.cancels.insert(run_id, cancel_tx);
                    let order = WorkOrder { attempt, cancel, ready: Some(ready) };
                    if self.w.orders.send(order).is_err() {
                        self.w.log.error(&format!(
                            "engine: the worker pool has stopped; run {run_id} cannot start"
                        ));
                    }
                }
                Effect::Cancel { run_id, now } => {
                    if let Some(tx) = self.cancels.get(&run_id) {
                        let _ = tx.try_send(());
                        if now {
                            let _ = tx.try_send(());
                        }
                    }
                }
                Effect::Notify(n) => self.notify(n),
                Effect::Log(level, line) => self.w.log.log(level, &line),
            }
        }
        self.book.settle();
    }

    fn notify(&self, n: Notice) {
        let line = format!(
            "notification {} for {} run {} ({}) to {}",
            n.event.as_str(),
            n.job.name,
            n.run_id,
            n.status,
            crate::notify::redact::channel(&n.target.channel)
        );
        match &self.w.notices {
            Some((tx, waker)) => {
                if tx.try_send(n).is_ok() {
                    waker.wake();
                } else {
                    self.w.log.warn(&format!("engine: the notifier has stopped; dropped {line}"));
                }
            }
            None => self.w.log.info(&format!("{line} (no notifier configured)")),
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
#[path = "actor_tests.rs"]
mod tests;
