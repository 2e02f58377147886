//! The ENGINE thread: the one place that decides what runs when.
//!
//! [`core::Core`] is a sans-IO state machine: `handle(input, now) -> Output` (effects to carry
//! out, and a reply for commands) and `next_wakeup()`. It owns every piece of scheduling state
//! (next fires, runs and their cycles, retry and SLA timers, pauses, the global concurrency queue,
//! per-cycle outputs) and reads no clock: time comes in with each input, so tests drive a
//! simulated month in milliseconds. [`actor`] runs it on its thread: it waits on its inbox and the
//! next deadline, reads the clock once per turn, and carries the effects out through channels
//! (store writer, worker pool, notifier), never blocking on any of them.

pub mod actor;
pub mod backoff;
pub mod core;
pub mod events;
pub mod metrics;
pub mod runbook;
pub mod template;

use std::time::Instant;

use time::OffsetDateTime;

use self::core::Restored;
use crate::config::{Config, SchedulerConfig};
use crate::store::StoreError;

/// The scheduler's settings (huskyd.yaml `scheduler`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Runs executing at once, across all jobs (0: no limit).
    pub max_concurrent: usize,
    /// Missed fires older than this are not caught up (zero: no limit).
    pub catchup_window: time::Duration,
    /// A uniform random delay in `[0, jitter)` added to every scheduled fire.
    pub schedule_jitter: time::Duration,
    /// How long shutdown waits for running runs before killing them.
    pub shutdown_timeout: time::Duration,
}

impl Settings {
    /// The settings of a huskyd.yaml `scheduler` block.
    pub fn of(s: &SchedulerConfig) -> Settings {
        Settings {
            max_concurrent: usize::try_from(s.max_concurrent_jobs).unwrap_or(usize::MAX),
            catchup_window: s.catchup_window,
            schedule_jitter: s.schedule_jitter,
            shutdown_timeout: s.shutdown_timeout,
        }
    }
}

impl Default for Settings {
    fn default() -> Settings {
        Settings::of(&crate::config::DaemonConfig::default().scheduler)
    }
}

/// One reading of the clock: wall-clock UTC and the monotonic instant, taken together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Wall-clock time.
    pub utc: OffsetDateTime,
    /// Monotonic time (does not jump; on Linux it also stops while the host sleeps).
    pub mono: Instant,
}

impl Now {
    /// Reads `clock` once.
    pub fn of(clock: &dyn crate::clock::Clock) -> Now {
        Now { utc: clock.now_utc(), mono: clock.monotonic() }
    }
}

/// Start-up recovery: reads the engine's state from the store, and kills what is left of the
/// runs a dead daemon left RUNNING (their process group if the recorded leader is still the
/// same process, and on Linux every process carrying their `HUSKY_RUN_ID`), so that a retry
/// never overlaps its orphan.
///
/// A PENDING row may have had a process too (the daemon died between the spawn and the commit
/// of its RUNNING state): when something of it was found and killed, it is recovered as an
/// orphan like a RUNNING one.
pub fn restore(
    conn: &rusqlite::Connection,
    config: &Config,
    data_dir: &std::path::Path,
    log: &dyn Fn(&str),
) -> Result<Restored, StoreError> {
    use crate::store::RunStatus;
    let names: Vec<&str> = config.jobs.iter().map(|j| j.name.as_str()).collect();
    let mut restored = crate::store::resume::load(conn, &names)?;
    let dir = data_dir.display().to_string();
    let suspects: Vec<usize> = (0..restored.live.len())
        .filter(|i| matches!(restored.live[*i].status, RunStatus::Running | RunStatus::Pending))
        .collect();
    let runs: Vec<(i64, Option<u32>, Option<i64>)> = suspects
        .iter()
        .map(|i| (restored.live[*i].id, restored.live[*i].pid, restored.live[*i].pid_start))
        .collect();
    let killed = crate::exec::kill_orphans(&dir, &runs);
    for (i, n) in suspects.into_iter().zip(killed) {
        let r = &mut restored.live[i];
        if n > 0 {
            log(&format!("recovery: killed what was left of run {} of {}", r.id, r.job));
            r.status = RunStatus::Running;
        }
    }
    Ok(restored)
}
