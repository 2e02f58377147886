//! Following a run's log: the backfill from the database, then the live lines the writer
//! publishes, with no gap and no duplicate, then the end of the log.
//!
//! [`Subscriber::follow`] answers with the last committed row id `U`, the run's committed
//! status and a channel of every line committed after `U`. The follower reads the run's lines
//! with `id <= U` from its own read-only connection, in chunks, then takes the channel, which
//! ends with the status that completed the log (the writer commits it after the run's last
//! line). When the run had already ended at subscription, the backfill is the whole log.
//!
//! If the channel is dropped because the follower fell behind, it subscribes again and catches
//! up from the database by row id (in chunks) from the last line it delivered; how far behind
//! the run's newest line it was then is kept for [`Follower::take_lag`].

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::hub::{Followed, Live, Subscriber, log_complete};
use super::query::{BACKFILL_CHUNK, Reader};
use super::{RunStatus, StoreError, StoredLine};

/// A reader of one run's log, from a position on.
#[derive(Debug)]
pub struct Follower {
    subscriber: Subscriber,
    reader: Reader,
    run_id: i64,
    /// Backfill lines with `id <= until` and `seq > after_seq`.
    until: i64,
    after_seq: i64,
    /// Lines at or before this position are never delivered (the starting position).
    start: i64,
    /// The highest row id delivered live or caught up (live lines come in id order).
    last_live_id: i64,
    live: Option<Receiver<Live>>,
    backfilling: bool,
    /// Catching up by id, up to this row id, after a resubscription.
    catch_up: Option<i64>,
    /// The status that completed the log, to deliver after the lines before it.
    end: Option<RunStatus>,
    /// How far behind the run's newest line the follower was when it last resubscribed.
    lag: Option<i64>,
}

/// What [`Follower::next`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Lines, in order.
    Lines(Vec<Arc<StoredLine>>),
    /// Nothing new within the timeout.
    Idle,
    /// The run's log is complete: the run has this status. Nothing follows.
    End(RunStatus),
    /// The writer stopped (the daemon is shutting down).
    Closed,
}

impl Follower {
    /// Starts following `run_id`, backfilling through `reader` (of the same database).
    pub fn new(
        subscriber: Subscriber,
        reader: Reader,
        run_id: i64,
    ) -> Result<Follower, StoreError> {
        Follower::after(subscriber, reader, run_id, 0)
    }

    /// Starts following `run_id` after the line at position `after_seq` (0: from the start).
    pub fn after(
        subscriber: Subscriber,
        reader: Reader,
        run_id: i64,
        after_seq: i64,
    ) -> Result<Follower, StoreError> {
        let (followed, live) = subscriber.follow(run_id)?;
        let end = followed.status.filter(|s| log_complete(*s));
        Ok(Follower {
            subscriber,
            reader,
            run_id,
            until: followed.until,
            after_seq,
            start: after_seq,
            last_live_id: followed.until,
            live: end.is_none().then_some(live),
            backfilling: true,
            catch_up: None,
            end,
            lag: None,
        })
    }

    /// The follower's connection, for other reads of the same database.
    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    /// The position of the last line delivered (or the starting position).
    pub fn position(&self) -> i64 {
        self.after_seq
    }

    /// How many lines behind the run's newest line the follower was when it last had to
    /// subscribe again (once; `None` if that has not happened since the last call).
    pub fn take_lag(&mut self) -> Option<i64> {
        self.lag.take()
    }

    /// The next lines: the backfill first, then live lines (waiting up to `timeout`), then the
    /// end.
    pub fn next(&mut self, timeout: Duration) -> Result<Next, StoreError> {
        if self.backfilling {
            let chunk =
                self.reader.log_chunk(self.run_id, self.after_seq, self.until, BACKFILL_CHUNK)?;
            if let Some(last) = chunk.last() {
                self.after_seq = last.seq;
                return Ok(Next::Lines(chunk.into_iter().map(Arc::new).collect()));
            }
            self.backfilling = false;
        }
        if let Some(up_to) = self.catch_up {
            let chunk =
                self.reader.log_id_range(self.run_id, self.last_live_id, up_to, BACKFILL_CHUNK)?;
            if let Some(last) = chunk.last() {
                self.last_live_id = last.id;
                self.after_seq = self.after_seq.max(last.seq);
                let start = self.start;
                let lines = chunk.into_iter().filter(|l| l.seq > start).map(Arc::new).collect();
                return Ok(Next::Lines(lines));
            }
            self.last_live_id = self.last_live_id.max(up_to);
            self.catch_up = None;
        }
        if let Some(status) = self.end.take() {
            self.live = None;
            return Ok(Next::End(status));
        }
        let Some(live) = &self.live else { return Ok(Next::Closed) };
        let mut lines = match live.recv_timeout(timeout) {
            Ok(Live::Line(line)) => vec![line],
            Ok(Live::End(status)) => {
                self.end = Some(status);
                return self.next(timeout);
            }
            Err(RecvTimeoutError::Timeout) => return Ok(Next::Idle),
            Err(RecvTimeoutError::Disconnected) => return self.resubscribe(timeout),
        };
        for item in live.try_iter().take(BACKFILL_CHUNK as usize) {
            match item {
                Live::Line(line) => lines.push(line),
                Live::End(status) => {
                    self.end = Some(status);
                    break;
                }
            }
        }
        lines.retain(|l| l.id > self.last_live_id);
        if let Some(last) = lines.last() {
            self.last_live_id = last.id;
            self.after_seq = self.after_seq.max(last.seq);
        }
        // A start beyond the lines committed at subscription skips live lines too.
        lines.retain(|l| l.seq > self.start);
        Ok(Next::Lines(lines))
    }

    /// The channel was dropped (we fell behind, or the writer stopped): subscribe again and
    /// catch up on the lines committed since the last one delivered.
    fn resubscribe(&mut self, timeout: Duration) -> Result<Next, StoreError> {
        match self.subscriber.follow(self.run_id) {
            Ok((Followed { until, status, head_seq }, live)) => {
                self.end = status.filter(|s| log_complete(*s));
                self.live = self.end.is_none().then_some(live);
                if self.end.is_none() {
                    self.lag = head_seq.map(|h| h - self.after_seq);
                }
                self.catch_up = Some(until);
                self.next(timeout)
            }
            Err(StoreError::Closed) => {
                self.live = None;
                Ok(Next::Closed)
            }
            Err(e) => Err(e),
        }
    }
}
