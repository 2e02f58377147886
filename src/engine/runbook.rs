//! What the engine thread remembers of each unfinished run for the views that follow runs
//! through its store changes: the audit log, the events clients watch and the metrics. A
//! store patch carries only what changes, so a run's identity (job, attempt, trigger, who,
//! why, cycle) and its last status are kept here, once for all three, until the run is over.

use std::collections::HashMap;

use super::core::RestoredRun;
use crate::store::{NewRun, RunStatus, Trigger};

/// One unfinished run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// The job.
    pub job: String,
    /// Its status as last written.
    pub status: RunStatus,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// What started it.
    pub trigger: Trigger,
    /// Who started it.
    pub triggered_by: String,
    /// A user's reason, or why the engine started it.
    pub reason: Option<String>,
    /// Its dependency cycle.
    pub cycle_id: Option<String>,
}

impl Known {
    /// A run as it is created.
    pub fn of(run: &NewRun) -> Known {
        Known {
            job: run.job_name.clone(),
            status: run.status,
            attempt: run.attempt,
            trigger: run.trigger,
            triggered_by: run.triggered_by.clone(),
            reason: run.reason.clone(),
            cycle_id: run.cycle_id.clone(),
        }
    }
}

/// The unfinished runs, by id.
#[derive(Debug, Default)]
pub struct RunBook {
    runs: HashMap<i64, Known>,
}

impl RunBook {
    /// Learns the unfinished runs an earlier daemon left.
    pub fn restored(&mut self, runs: &[RestoredRun]) {
        for r in runs {
            let known = Known {
                job: r.job.clone(),
                status: r.status,
                attempt: r.attempt,
                trigger: r.trigger,
                triggered_by: r.triggered_by.clone(),
                reason: r.reason.clone(),
                cycle_id: r.cycle_id.clone(),
            };
            self.runs.insert(r.id, known);
        }
    }

    /// A run row is created. A retry's creation ends the attempt it retries (that row will not
    /// change again).
    pub fn created(&mut self, run: &NewRun) {
        if run.trigger == Trigger::Retry {
            self.runs.retain(|_, k| {
                !(k.status == RunStatus::Retrying
                    && k.job == run.job_name
                    && k.cycle_id == run.cycle_id)
            });
        }
        if let Some(id) = run.id {
            self.runs.insert(id, Known::of(run));
        }
    }

    /// What is known of run `id` (`None`: not an unfinished run of this daemon).
    pub fn get(&self, id: i64) -> Option<&Known> {
        self.runs.get(&id)
    }

    /// Run `id` now has `status`.
    pub fn set_status(&mut self, id: i64, status: RunStatus) {
        if let Some(k) = self.runs.get_mut(&id) {
            k.status = status;
        }
    }

    /// After a batch of changes: forgets the runs that are over.
    pub fn settle(&mut self) {
        self.runs.retain(|_, k| !k.status.is_final());
    }

    /// How many runs it holds.
    pub fn len(&self) -> usize {
        self.runs.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }
}
