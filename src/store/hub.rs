//! The writer's hubs: what it publishes after each commit, never before.
//!
//! - The log hub sends each committed line of a run to the run's followers, then the end of the
//!   run's log once a status that completes it (anything but PENDING and RUNNING) is committed.
//! - The event hub sends the engine's events (run and job state changes, reloads, shutdown) to
//!   every event subscriber. Each event gets an id when it is published: ids increase for the
//!   daemon's life and start at the writer's start time in microseconds, so they also increase
//!   across restarts. The last [`EVENT_RING`] events are kept for subscribers that resume.
//!
//! Publishing never blocks the writer: every subscriber has a bounded channel, and one whose
//! channel is full is dropped (its receiver sees the channel close) while the others get the
//! item. Subscriptions arrive on their own channel, whose senders ([`Subscriber`]) do not keep
//! the writer alive: a stream that outlives the daemon's producers ends when the writer does.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, bounded};
use time::OffsetDateTime;

use super::{RunStatus, StoreError, StoredLine, Trigger};

/// Capacity of each log follower's channel (lines); a follower this far behind is dropped and
/// catches up from the database ([`super::follow::Follower`]).
pub const LOG_CAPACITY: usize = 8192;
/// Capacity of each event subscriber's channel; a subscriber this far behind is dropped.
pub const EVENT_CAPACITY: usize = 1024;
/// Events kept for subscribers that resume after an id.
pub const EVENT_RING: usize = 256;

/// What a log follower receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Live {
    /// A committed line.
    Line(Arc<StoredLine>),
    /// The run's log is complete: this status was committed after its last line.
    End(RunStatus),
}

/// Whether a run in `status` will get no more lines (its attempt is over; a retry is a new run).
pub fn log_complete(status: RunStatus) -> bool {
    !matches!(status, RunStatus::Pending | RunStatus::Running)
}

/// A state change the engine made, published once committed.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its id (increasing).
    pub id: u64,
    /// When the engine made the change.
    pub at: OffsetDateTime,
    /// What changed.
    pub what: What,
}

/// What an event says.
#[derive(Debug, Clone, PartialEq)]
pub enum What {
    /// A run was created or changed status.
    Run(RunChange),
    /// A job was paused or resumed.
    Job {
        /// The job.
        job: String,
        /// Paused (true) or resumed.
        paused: bool,
    },
    /// A tag selector was paused or resumed as a whole.
    Tag {
        /// The selector.
        tag: String,
        /// Paused (true) or resumed.
        paused: bool,
    },
    /// husky.yaml was reloaded.
    Reload {
        /// Jobs in the new configuration.
        jobs: usize,
    },
    /// The daemon is shutting down.
    Stopping,
}

/// A run's new status, with what identifies the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunChange {
    /// The run.
    pub id: i64,
    /// Its job.
    pub job: String,
    /// The new status.
    pub status: RunStatus,
    /// The status before (`None`: the run was just created).
    pub previous: Option<RunStatus>,
    /// The attempt.
    pub attempt: u32,
    /// What started it.
    pub trigger: Trigger,
    /// Its cycle.
    pub cycle_id: Option<String>,
    /// Why it ended so.
    pub status_reason: Option<String>,
    /// Its exit code, when it ended with one.
    pub exit_code: Option<i32>,
}

/// A subscription, for the writer.
#[derive(Debug)]
pub enum Sub {
    /// Follow a run's log.
    Log {
        /// The run.
        run_id: i64,
        /// Receives lines committed from now on, then the end.
        lines: Sender<Live>,
        /// Receives where the database stands.
        ack: Sender<Followed>,
    },
    /// Receive events.
    Events {
        /// Resume after this event id.
        after: Option<u64>,
        /// Receives events published from now on.
        events: Sender<Arc<Event>>,
        /// Receives the events missed since `after`.
        ack: Sender<Replay>,
    },
}

/// Where the database stood when a log follower subscribed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Followed {
    /// The last committed log row id: the follower backfills up to it from the database and
    /// gets every line after it live.
    pub until: i64,
    /// The run's committed status (`None`: no such run). When it completes the log, no end
    /// will be sent: the backfill is everything.
    pub status: Option<RunStatus>,
    /// The highest position given to a line of the run so far, committed or not (`None`: the
    /// writer holds no log state for the run, e.g. it has ended).
    pub head_seq: Option<i64>,
}

/// What an event subscriber missed.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    /// The events after the requested id, oldest first.
    pub missed: Vec<Arc<Event>>,
    /// Some events after the requested id are no longer kept (or the id is not of this
    /// daemon): the subscriber should read the state again.
    pub gap: bool,
    /// The id of the last event published so far (0: none yet).
    pub last: u64,
}

/// Subscribes to the writer's hubs. Clone freely; it does not keep the writer running.
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub(super) subs: Sender<Sub>,
}

impl Subscriber {
    /// Follows a run's log: where the database stands and the channel of what follows.
    pub fn follow(&self, run_id: i64) -> Result<(Followed, Receiver<Live>), StoreError> {
        let (lines, rx) = bounded(LOG_CAPACITY);
        let (ack, ack_rx) = bounded(1);
        self.subs.send(Sub::Log { run_id, lines, ack }).map_err(|_| StoreError::Closed)?;
        let followed = ack_rx.recv().map_err(|_| StoreError::Closed)?;
        Ok((followed, rx))
    }

    /// Receives events published from now on, after those missed since `after`.
    pub fn events(&self, after: Option<u64>) -> Result<(Replay, Receiver<Arc<Event>>), StoreError> {
        let (events, rx) = bounded(EVENT_CAPACITY);
        let (ack, ack_rx) = bounded(1);
        self.subs.send(Sub::Events { after, events, ack }).map_err(|_| StoreError::Closed)?;
        let replay = ack_rx.recv().map_err(|_| StoreError::Closed)?;
        Ok((replay, rx))
    }
}

/// The subscribers, on the writer's thread.
#[derive(Debug)]
pub(super) struct Hub {
    logs: HashMap<i64, Vec<Sender<Live>>>,
    events: Vec<Sender<Arc<Event>>>,
    ring: VecDeque<Arc<Event>>,
    /// The id of the first event.
    first_id: u64,
    next_id: u64,
}

impl Hub {
    /// A hub whose first event id is `first_id` (at least 1).
    pub(super) fn new(first_id: u64) -> Hub {
        let first_id = first_id.max(1);
        Hub {
            logs: HashMap::new(),
            events: Vec::new(),
            ring: VecDeque::new(),
            first_id,
            next_id: first_id,
        }
    }

    /// Adds a log follower of `run_id`.
    pub(super) fn follow(&mut self, run_id: i64, lines: Sender<Live>) {
        self.logs.entry(run_id).or_default().push(lines);
    }

    /// Adds an event subscriber; returns what it missed after `after`.
    pub(super) fn subscribe(&mut self, after: Option<u64>, events: Sender<Arc<Event>>) -> Replay {
        let last = self.next_id - 1;
        let last = if last < self.first_id { 0 } else { last };
        let replay = match after {
            None => Replay { missed: Vec::new(), gap: false, last },
            Some(a) if a == last || (last == 0 && a < self.first_id) => {
                // Up to date; or no event yet and the id is from an earlier daemon (whose
                // events are older than this one's start).
                Replay { missed: Vec::new(), gap: last == 0 && a != 0, last }
            }
            Some(a) => {
                let oldest = self.ring.front().map_or(self.next_id, |e| e.id);
                // Resumable when the next event the client needs is still kept.
                let gap = a > last || a.saturating_add(1) < oldest;
                let missed = if gap {
                    Vec::new()
                } else {
                    self.ring.iter().filter(|e| e.id > a).cloned().collect()
                };
                Replay { missed, gap, last }
            }
        };
        self.events.push(events);
        replay
    }

    /// Publishes a committed line.
    pub(super) fn line(&mut self, line: StoredLine) {
        let Some(subs) = self.logs.get_mut(&line.run_id) else { return };
        let live = Live::Line(Arc::new(line));
        // A full channel means the follower fell behind: it is dropped and catches up from
        // the database; a closed one is gone.
        subs.retain(|s| s.try_send(live.clone()).is_ok());
        if subs.is_empty()
            && let Live::Line(l) = live
        {
            self.logs.remove(&l.run_id);
        }
    }

    /// Publishes the end of a run's log (its completing status is committed).
    pub(super) fn end(&mut self, run_id: i64, status: RunStatus) {
        if let Some(subs) = self.logs.remove(&run_id) {
            for s in subs {
                let _ = s.try_send(Live::End(status));
            }
        }
    }

    /// Publishes an event, numbering it.
    pub(super) fn event(&mut self, at: OffsetDateTime, what: What) {
        let event = Arc::new(Event { id: self.next_id, at, what });
        self.next_id += 1;
        if self.ring.len() == EVENT_RING {
            self.ring.pop_front();
        }
        self.ring.push_back(event.clone());
        self.events.retain(|s| s.try_send(event.clone()).is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH
    }

    #[test]
    fn events_resume_from_the_ring_and_report_gaps() {
        let mut hub = Hub::new(1000);
        let (tx, _rx) = bounded(EVENT_CAPACITY);
        assert_eq!(hub.subscribe(None, tx.clone()).last, 0);
        // An id of an earlier daemon, before any event: nothing to replay, but a gap.
        let r = hub.subscribe(Some(10), tx.clone());
        assert!(r.gap && r.missed.is_empty());
        for n in 0..(EVENT_RING as u64 + 10) {
            hub.event(at(), What::Reload { jobs: usize::try_from(n).unwrap_or(0) });
        }
        let last = 1000 + EVENT_RING as u64 + 9;
        let r = hub.subscribe(Some(last - 2), tx.clone());
        assert_eq!((r.gap, r.last), (false, last));
        assert_eq!(r.missed.iter().map(|e| e.id).collect::<Vec<_>>(), [last - 1, last]);
        // The oldest kept event is 1010: resuming after 1009 works, after 1008 does not.
        assert!(!hub.subscribe(Some(1009), tx.clone()).gap);
        assert!(hub.subscribe(Some(1008), tx.clone()).gap);
        // An id from the future (another daemon's) is a gap too.
        assert!(hub.subscribe(Some(last + 1), tx.clone()).gap);
        assert!(hub.subscribe(Some(last), tx).missed.is_empty());
    }

    #[test]
    fn a_full_subscriber_is_dropped_and_the_others_still_get_the_event() {
        let mut hub = Hub::new(1);
        let (slow, slow_rx) = bounded(1);
        let (fast, fast_rx) = bounded(EVENT_CAPACITY);
        hub.subscribe(None, slow);
        hub.subscribe(None, fast);
        for _ in 0..3 {
            hub.event(at(), What::Stopping);
        }
        assert_eq!(fast_rx.try_iter().count(), 3);
        // The slow one got the first, then its channel was dropped.
        assert_eq!(slow_rx.try_iter().count(), 1);
        assert!(matches!(slow_rx.try_recv(), Err(crossbeam_channel::TryRecvError::Disconnected)));
    }
}
