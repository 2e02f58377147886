//! The clock chokepoint: the only place that reads the system time.
//!
//! Everything that schedules, retries, measures an SLA or catches up takes a [`Clock`], so tests
//! drive a [`ManualClock`] through a simulated month in milliseconds. `clippy.toml` forbids
//! `SystemTime::now`, `Instant::now` and `OffsetDateTime::now_utc` everywhere else.

#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use time::OffsetDateTime;

/// A source of the current time: wall-clock UTC and a monotonic instant.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current wall-clock time in UTC.
    fn now_utc(&self) -> OffsetDateTime;
    /// A monotonic instant, for measuring elapsed time and timeouts.
    fn monotonic(&self) -> Instant;
}

/// The real clock of the machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_utc(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
    fn monotonic(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that only moves when told to; clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    nanos: Arc<AtomicI64>,
    origin: Instant,
    start_nanos: i64,
}

impl ManualClock {
    /// A manual clock standing at `at`.
    pub fn new(at: OffsetDateTime) -> Self {
        let n = nanos_of(at);
        ManualClock { nanos: Arc::new(AtomicI64::new(n)), origin: Instant::now(), start_nanos: n }
    }
    /// Moves the clock to `at` (it may go backwards, like a wall clock that was corrected).
    pub fn set(&self, at: OffsetDateTime) {
        self.nanos.store(nanos_of(at), Ordering::SeqCst);
    }
    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: time::Duration) {
        let by = i64::try_from(by.whole_nanoseconds()).unwrap_or(i64::MAX);
        self.nanos.fetch_add(by, Ordering::SeqCst);
    }
}

fn nanos_of(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

impl Clock for ManualClock {
    fn now_utc(&self) -> OffsetDateTime {
        let n = self.nanos.load(Ordering::SeqCst);
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(n))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
    fn monotonic(&self) -> Instant {
        let elapsed = self.nanos.load(Ordering::SeqCst).saturating_sub(self.start_nanos).max(0);
        self.origin + std::time::Duration::from_nanos(elapsed.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(datetime!(2026-03-08 06:00 UTC));
        let m0 = c.monotonic();
        assert_eq!(c.now_utc(), datetime!(2026-03-08 06:00 UTC));
        c.advance(time::Duration::minutes(90));
        assert_eq!(c.now_utc(), datetime!(2026-03-08 07:30 UTC));
        assert_eq!(c.monotonic() - m0, std::time::Duration::from_secs(90 * 60));
        let shared = c.clone();
        shared.set(datetime!(2026-11-01 05:30 UTC));
        assert_eq!(c.now_utc(), datetime!(2026-11-01 05:30 UTC));
    }
}
