//! Following a run's log: the backfill from the database, then the live lines the writer
//! publishes, with no gap and no duplicate.
//!
//! [`StoreHandle::subscribe`] answers with the last committed row id `U` and a channel of every
//! line committed after it. The follower reads the run's lines with `id <= U` from its own
//! read-only connection, in chunks, then takes the channel. If the channel is dropped because
//! the follower fell behind, it subscribes again and backfills from where it stopped.

use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::query::{BACKFILL_CHUNK, Reader};
use super::writer::StoreHandle;
use super::{StoreError, StoredLine};

/// A reader of one run's log, from the first line on.
#[derive(Debug)]
pub struct Follower {
    handle: StoreHandle,
    reader: Reader,
    run_id: i64,
    /// Backfill lines with `id <= until` and `seq > after_seq`.
    until: i64,
    after_seq: i64,
    /// The highest row id delivered live (live lines come in id order).
    last_live_id: i64,
    live: Option<Receiver<StoredLine>>,
    backfilling: bool,
}

/// What [`Follower::next`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Lines, in order.
    Lines(Vec<StoredLine>),
    /// Nothing new within the timeout.
    Idle,
    /// The writer stopped.
    Closed,
}

impl Follower {
    /// Starts following `run_id`, backfilling through `reader` (of the same database).
    pub fn new(handle: StoreHandle, reader: Reader, run_id: i64) -> Result<Follower, StoreError> {
        Follower::after(handle, reader, run_id, 0)
    }

    /// Starts following `run_id` after the line at position `after_seq` (0: from the start).
    pub fn after(
        handle: StoreHandle,
        reader: Reader,
        run_id: i64,
        after_seq: i64,
    ) -> Result<Follower, StoreError> {
        let (until, live) = handle.subscribe(run_id)?;
        Ok(Follower {
            handle,
            reader,
            run_id,
            until,
            after_seq,
            last_live_id: until,
            live: Some(live),
            backfilling: true,
        })
    }

    /// The follower's connection, for other reads of the same database.
    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    /// The next lines: the backfill first, then live lines (waiting up to `timeout`).
    pub fn next(&mut self, timeout: Duration) -> Result<Next, StoreError> {
        if self.backfilling {
            let chunk = self.chunk()?;
            if let Some(last) = chunk.last() {
                self.after_seq = last.seq;
                return Ok(Next::Lines(chunk));
            }
            self.backfilling = false;
        }
        let Some(live) = &self.live else { return Ok(Next::Closed) };
        let first = match live.recv_timeout(timeout) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => return Ok(Next::Idle),
            Err(RecvTimeoutError::Disconnected) => return self.resubscribe(),
        };
        let mut lines = vec![first];
        lines.extend(live.try_iter().take(BACKFILL_CHUNK as usize));
        lines.retain(|l| l.id > self.last_live_id);
        if let Some(last) = lines.last() {
            self.last_live_id = last.id;
            self.after_seq = self.after_seq.max(last.seq);
        }
        Ok(Next::Lines(lines))
    }

    /// The channel was dropped (we fell behind, or the writer stopped): subscribe again and
    /// backfill the lines committed since the last one delivered.
    fn resubscribe(&mut self) -> Result<Next, StoreError> {
        match self.handle.subscribe(self.run_id) {
            Ok((until, live)) => {
                self.live = Some(live);
                // Backfill ids in (last_live_id, until]: read them by id, not by seq.
                let missed = self.reader.log_id_range(self.run_id, self.last_live_id, until)?;
                self.last_live_id = until.max(self.last_live_id);
                if let Some(last) = missed.last() {
                    self.after_seq = self.after_seq.max(last.seq);
                }
                Ok(Next::Lines(missed))
            }
            Err(StoreError::Closed) => {
                self.live = None;
                Ok(Next::Closed)
            }
            Err(e) => Err(e),
        }
    }

    fn chunk(&self) -> Result<Vec<StoredLine>, StoreError> {
        self.reader.log_chunk(self.run_id, self.after_seq, self.until, BACKFILL_CHUNK)
    }
}
