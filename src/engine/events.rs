//! The events clients watch (`/ws/events`, `/api/events/stream`), made on the engine thread as
//! it hands each change to the store writer: a run created or changing status, a job or tag
//! paused or resumed, a reload, the shutdown. They travel in the engine's store queue behind
//! the change they describe, so the writer publishes each once that change is committed: a
//! client that reads the run an event names finds it. Nothing here blocks or does I/O.
//!
//! Store patches carry only what changes, so the identity of each unfinished run (job,
//! attempt, trigger, cycle, status) is kept here until the run is over.

use std::collections::HashMap;

use super::core::RestoredRun;
use crate::store::hub::{RunChange, What};
use crate::store::{JobStatePatch, NewRun, RunPatch, RunStatus, Trigger};

/// What the engine knows of each unfinished run, for its events.
#[derive(Debug, Default)]
pub struct Tracker {
    runs: HashMap<i64, Known>,
}

#[derive(Debug)]
struct Known {
    job: String,
    status: RunStatus,
    attempt: u32,
    trigger: Trigger,
    cycle_id: Option<String>,
}

impl Tracker {
    /// Learns the unfinished runs an earlier daemon left.
    pub fn restored(&mut self, runs: &[RestoredRun]) {
        for r in runs {
            let known = Known {
                job: r.job.clone(),
                status: r.status,
                attempt: r.attempt,
                trigger: r.trigger,
                cycle_id: r.cycle_id.clone(),
            };
            self.runs.insert(r.id, known);
        }
    }

    /// A run row is created.
    pub fn created(&mut self, run: &NewRun) -> Option<What> {
        if run.trigger == Trigger::Retry {
            // The attempt it retries will not change again.
            self.runs.retain(|_, k| {
                !(k.status == RunStatus::Retrying
                    && k.job == run.job_name
                    && k.cycle_id == run.cycle_id)
            });
        }
        let id = run.id?;
        let change = RunChange {
            id,
            job: run.job_name.clone(),
            status: run.status,
            previous: None,
            attempt: run.attempt,
            trigger: run.trigger,
            cycle_id: run.cycle_id.clone(),
            status_reason: run.status_reason.clone(),
            exit_code: None,
        };
        if !run.status.is_final() {
            let known = Known {
                job: run.job_name.clone(),
                status: run.status,
                attempt: run.attempt,
                trigger: run.trigger,
                cycle_id: run.cycle_id.clone(),
            };
            self.runs.insert(id, known);
        }
        Some(What::Run(change))
    }

    /// A run row changes; a change of status is an event (of a run the engine knows).
    pub fn updated(&mut self, id: i64, patch: &RunPatch) -> Option<What> {
        let status = patch.status?;
        let known = self.runs.get_mut(&id)?;
        let change = RunChange {
            id,
            job: known.job.clone(),
            status,
            previous: Some(known.status),
            attempt: known.attempt,
            trigger: known.trigger,
            cycle_id: known.cycle_id.clone(),
            status_reason: patch.status_reason.clone(),
            exit_code: patch.exit_code,
        };
        known.status = status;
        if status.is_final() {
            self.runs.remove(&id);
        }
        Some(What::Run(change))
    }

    /// A job's state row changes; a pause or resume is an event.
    pub fn job_state(job: &str, patch: &JobStatePatch) -> Option<What> {
        patch.paused.map(|paused| What::Job { job: job.to_owned(), paused })
    }

    /// Runs the tracker holds (tests).
    pub fn len(&self) -> usize {
        self.runs.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_run(id: i64, status: RunStatus, trigger: Trigger) -> NewRun {
        NewRun {
            id: Some(id),
            job_name: "a".into(),
            status,
            attempt: 1,
            trigger,
            triggered_by: "t".into(),
            reason: None,
            cycle_id: Some("c".into()),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            started_at: None,
            status_reason: None,
            finished_at: None,
        }
    }

    fn status(patch: RunStatus) -> RunPatch {
        RunPatch { status: Some(patch), exit_code: Some(3), ..RunPatch::default() }
    }

    #[test]
    fn runs_are_followed_from_creation_to_their_end() {
        let mut t = Tracker::default();
        let Some(What::Run(c)) = t.created(&new_run(1, RunStatus::Pending, Trigger::Manual)) else {
            panic!("an event")
        };
        assert_eq!((c.id, c.previous, c.status), (1, None, RunStatus::Pending));
        let Some(What::Run(c)) = t.updated(1, &status(RunStatus::Running)) else { panic!() };
        assert_eq!((c.job.as_str(), c.previous), ("a", Some(RunStatus::Pending)));
        // A patch without a status is no event.
        assert_eq!(t.updated(1, &RunPatch::default()), None);
        let Some(What::Run(c)) = t.updated(1, &status(RunStatus::Retrying)) else { panic!() };
        assert_eq!((c.status, c.exit_code), (RunStatus::Retrying, Some(3)));
        assert_eq!(t.len(), 1);
        // The retry's creation forgets the attempt it retries.
        t.created(&new_run(2, RunStatus::Pending, Trigger::Retry));
        assert_eq!(t.len(), 1);
        t.updated(2, &status(RunStatus::Success));
        assert!(t.is_empty());
        // A run created final (skipped) is an event and is not kept.
        assert!(t.created(&new_run(3, RunStatus::Skipped, Trigger::Dependency)).is_some());
        assert!(t.is_empty());
        let paused = JobStatePatch { paused: Some(true), ..JobStatePatch::default() };
        assert_eq!(
            Tracker::job_state("a", &paused),
            Some(What::Job { job: "a".into(), paused: true })
        );
        assert_eq!(Tracker::job_state("a", &JobStatePatch::default()), None);
    }
}
