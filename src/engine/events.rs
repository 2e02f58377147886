//! The events clients watch (`/ws/events`, `/api/events/stream`), made on the engine thread as
//! it hands each change to the store writer: a run created or changing status, a job or tag
//! paused or resumed, a reload, the shutdown. They travel in the engine's store queue behind
//! the change they describe, so the writer publishes each once that change is committed: a
//! client that reads the run an event names finds it. Nothing here blocks or does I/O.
//!
//! A run's identity comes from the engine's [`RunBook`](super::runbook::RunBook).

use super::runbook::Known;
use crate::store::hub::{RunChange, What};
use crate::store::{JobStatePatch, NewRun, RunPatch};

/// Makes the events of the engine's store changes.
#[derive(Debug)]
pub struct Tracker;

impl Tracker {
    /// A run row is created.
    pub fn created(run: &NewRun) -> Option<What> {
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
        Some(What::Run(change))
    }

    /// A run row changes; a change of status is an event (of a run the engine knows: `known`
    /// as it was before the change).
    pub fn updated(id: i64, patch: &RunPatch, known: Option<&Known>) -> Option<What> {
        let status = patch.status?;
        let known = known?;
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
        Some(What::Run(change))
    }

    /// A job's state row changes; a pause or resume is an event.
    pub fn job_state(job: &str, patch: &JobStatePatch) -> Option<What> {
        patch.paused.map(|paused| What::Job { job: job.to_owned(), paused })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::runbook::RunBook;
    use crate::store::{RunStatus, Trigger};

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
        let mut book = RunBook::default();
        let created = |book: &mut RunBook, run: NewRun| {
            book.created(&run);
            Tracker::created(&run)
        };
        let updated = |book: &mut RunBook, id: i64, patch: RunPatch| {
            let event = Tracker::updated(id, &patch, book.get(id));
            if let Some(s) = patch.status {
                book.set_status(id, s);
            }
            book.settle();
            event
        };
        let Some(What::Run(c)) =
            created(&mut book, new_run(1, RunStatus::Pending, Trigger::Manual))
        else {
            panic!("an event")
        };
        assert_eq!((c.id, c.previous, c.status), (1, None, RunStatus::Pending));
        let Some(What::Run(c)) = updated(&mut book, 1, status(RunStatus::Running)) else {
            panic!()
        };
        assert_eq!((c.job.as_str(), c.previous), ("a", Some(RunStatus::Pending)));
        // A patch without a status is no event.
        assert_eq!(updated(&mut book, 1, RunPatch::default()), None);
        let Some(What::Run(c)) = updated(&mut book, 1, status(RunStatus::Retrying)) else {
            panic!()
        };
        assert_eq!((c.status, c.exit_code), (RunStatus::Retrying, Some(3)));
        assert_eq!(book.len(), 1);
        // The retry's creation ends the attempt it retries.
        created(&mut book, new_run(2, RunStatus::Pending, Trigger::Retry));
        assert_eq!(book.len(), 1);
        assert!(updated(&mut book, 2, status(RunStatus::Success)).is_some());
        assert!(book.is_empty());
        // A run the engine does not know (over, or never its own) is no event.
        assert_eq!(updated(&mut book, 2, status(RunStatus::Cancelled)), None);
        // A run created final (skipped) is an event and is not kept.
        assert!(created(&mut book, new_run(3, RunStatus::Skipped, Trigger::Dependency)).is_some());
        book.settle();
        assert!(book.is_empty());
        let paused = JobStatePatch { paused: Some(true), ..JobStatePatch::default() };
        assert_eq!(
            Tracker::job_state("a", &paused),
            Some(What::Job { job: "a".into(), paused: true })
        );
        assert_eq!(Tracker::job_state("a", &JobStatePatch::default()), None);
    }
}
