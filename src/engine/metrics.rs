//! The engine's counters for `GET /metrics`, kept on the engine thread from the run
//! transitions it emits (so no lock is shared): runs by job, status and trigger, run
//! durations, SLA breaches, retries and the time each engine turn takes. The API asks for a
//! [`Snapshot`] through the engine's inbox. Counters start at zero with the daemon, as
//! Prometheus counters do.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use super::runbook::Known;
use crate::store::{NewRun, RunPatch, RunStatus, Trigger};

/// Bucket bounds of run durations, in seconds.
pub const DURATION_BUCKETS: &[f64] =
    &[0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0];

/// Bucket bounds of an engine turn, in seconds.
pub const TICK_BUCKETS: &[f64] = &[0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0];

/// A cumulative histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Upper bounds of the buckets (the `+Inf` one is implied).
    pub bounds: &'static [f64],
    /// Observations at most each bound (not cumulative; see [`Histogram::cumulative`]).
    pub counts: Vec<u64>,
    /// Sum of the observations.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl Histogram {
    /// An empty histogram with these bounds.
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram { bounds, counts: vec![0; bounds.len()], sum: 0.0, count: 0 }
    }

    /// Records one value.
    pub fn observe(&mut self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            self.counts[i] += 1;
        }
        self.sum += v;
        self.count += 1;
    }

    /// `(bound, observations at most bound)` for each bucket, as Prometheus writes them.
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut total = 0;
        self.bounds
            .iter()
            .zip(&self.counts)
            .map(|(b, c)| {
                total += c;
                (*b, total)
            })
            .collect()
    }
}

/// What `/metrics` shows, as of one engine turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Runs that reached a status, by (job, status, trigger).
    pub runs: BTreeMap<(String, &'static str, &'static str), u64>,
    /// Run durations by job.
    pub durations: BTreeMap<String, Histogram>,
    /// Runs that breached their SLA, by job.
    pub sla_breaches: BTreeMap<String, u64>,
    /// Retry attempts started, by job.
    pub retries: BTreeMap<String, u64>,
    /// Time of each engine turn.
    pub tick: Histogram,
    /// Runs executing now.
    pub running: usize,
    /// State changes waiting for the store writer.
    pub outbox: usize,
}

/// The counters (engine thread only).
#[derive(Debug)]
pub struct Metrics {
    breached: HashSet<i64>,
    snap: Snapshot,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            breached: HashSet::new(),
            snap: Snapshot {
                runs: BTreeMap::new(),
                durations: BTreeMap::new(),
                sla_breaches: BTreeMap::new(),
                retries: BTreeMap::new(),
                tick: Histogram::new(TICK_BUCKETS),
                running: 0,
                outbox: 0,
            },
        }
    }
}

impl Metrics {
    /// A run row is created (a skipped run is created final).
    pub fn created(&mut self, run: &NewRun) {
        if run.trigger == Trigger::Retry {
            *self.snap.retries.entry(run.job_name.clone()).or_default() += 1;
        }
        if counted(run.status) {
            self.count(&run.job_name, run.status, run.trigger);
        }
    }

    /// A run row changes (`known`: the run as it was before, if it is one of the engine's).
    pub fn updated(&mut self, id: i64, patch: &RunPatch, known: Option<&Known>) {
        let Some(k) = known else { return };
        if patch.sla_breached == Some(true) && self.breached.insert(id) {
            *self.snap.sla_breaches.entry(k.job.clone()).or_default() += 1;
        }
        if let Some(ms) = patch.duration_ms {
            self.snap
                .durations
                .entry(k.job.clone())
                .or_insert_with(|| Histogram::new(DURATION_BUCKETS))
                .observe(ms.max(0) as f64 / 1000.0);
        }
        if let Some(status) = patch.status.filter(|s| counted(*s) && *s != k.status) {
            self.count(&k.job, status, k.trigger);
            self.breached.remove(&id);
        }
    }

    /// One engine turn took `d`.
    pub fn turn(&mut self, d: Duration) {
        self.snap.tick.observe(d.as_secs_f64());
    }

    /// The counters now, with the engine's gauges.
    pub fn snapshot(&self, running: usize, outbox: usize) -> Snapshot {
        Snapshot { running, outbox, ..self.snap.clone() }
    }

    fn count(&mut self, job: &str, status: RunStatus, trigger: Trigger) {
        *self.snap.runs.entry((job.to_owned(), status.as_str(), trigger.as_str())).or_default() +=
            1;
    }
}

/// Statuses a run is counted in: the final ones, and RETRYING (that attempt is over).
fn counted(s: RunStatus) -> bool {
    s.is_final() || s == RunStatus::Retrying
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_run(id: i64, job: &str, status: RunStatus, trigger: Trigger) -> NewRun {
        NewRun {
            id: Some(id),
            job_name: job.into(),
            status,
            attempt: 1,
            trigger,
            triggered_by: "test".into(),
            reason: None,
            cycle_id: None,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            started_at: None,
            status_reason: None,
            finished_at: None,
        }
    }

    /// Feeds a run's changes to the metrics as the engine does, with its run book.
    struct Feed {
        m: Metrics,
        book: crate::engine::runbook::RunBook,
    }

    impl Feed {
        fn created(&mut self, run: &NewRun) {
            self.book.created(run);
            self.m.created(run);
        }
        fn updated(&mut self, id: i64, patch: &RunPatch) {
            self.m.updated(id, patch, self.book.get(id));
            if let Some(s) = patch.status {
                self.book.set_status(id, s);
            }
            self.book.settle();
        }
        fn snapshot(&self, running: usize, outbox: usize) -> Snapshot {
            self.m.snapshot(running, outbox)
        }
    }

    #[test]
    fn runs_are_counted_once_by_outcome_with_durations_breaches_and_retries() {
        let mut m = Feed { m: Metrics::default(), book: Default::default() };
        m.created(&new_run(1, "etl", RunStatus::Pending, Trigger::Manual));
        m.updated(1, &RunPatch { status: Some(RunStatus::Running), ..RunPatch::default() });
        m.updated(1, &RunPatch { sla_breached: Some(true), ..RunPatch::default() });
        m.updated(
            1,
            &RunPatch {
                status: Some(RunStatus::Retrying),
                duration_ms: Some(2500),
                sla_breached: Some(true),
                ..RunPatch::default()
            },
        );
        m.created(&new_run(2, "etl", RunStatus::Pending, Trigger::Retry));
        m.updated(
            2,
            &RunPatch {
                status: Some(RunStatus::Success),
                duration_ms: Some(40),
                ..RunPatch::default()
            },
        );
        m.updated(2, &RunPatch { status: Some(RunStatus::Success), ..RunPatch::default() });
        m.created(&new_run(3, "etl", RunStatus::Skipped, Trigger::Schedule));
        let s = m.snapshot(0, 0);
        let runs: Vec<_> = s.runs.iter().map(|((j, st, t), n)| (j.as_str(), *st, *t, *n)).collect();
        assert_eq!(
            runs,
            [
                ("etl", "RETRYING", "manual", 1),
                ("etl", "SKIPPED", "schedule", 1),
                ("etl", "SUCCESS", "retry", 1),
            ]
        );
        assert_eq!(s.sla_breaches.get("etl"), Some(&1), "a breach counts once per run");
        assert_eq!(s.retries.get("etl"), Some(&1));
        let d = &s.durations["etl"];
        assert_eq!((d.count, d.sum), (2, 2.54));
        assert_eq!(d.cumulative()[0], (0.1, 1), "40 ms is under 0.1 s");
        assert_eq!(d.cumulative()[3], (5.0, 2), "2.5 s is under 5 s");
    }
}
