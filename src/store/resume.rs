//! What the engine needs from the store at start-up: the last run id, each job's persisted
//! state and latest outcome, paused tags, the unfinished runs, and the cycles they belong to
//! (their finished runs and outputs). Every query is indexed.

use std::collections::{BTreeSet, HashMap};

use rusqlite::{Connection, OptionalExtension, params};

use super::{RunStatus, StoreError, Trigger, parse_ts};
use crate::engine::core::{Restored, RestoredCycle, RestoredJob, RestoredRun};

/// Reads the engine's state (on a read-only connection, before the writer starts taking
/// changes from the engine).
pub fn load(conn: &Connection, jobs: &[&str]) -> Result<Restored, StoreError> {
    let mut r = Restored {
        last_run_id: conn.query_row(
            "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'job_runs'), 0),
                        coalesce((SELECT max(id) FROM job_runs), 0))",
            [],
            |row| row.get(0),
        )?,
        ..Restored::default()
    };
    let mut states = conn
        .prepare("SELECT job_name, next_run, paused, skip_next FROM job_state ORDER BY job_name")?;
    let rows = states.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, Option<String>>(1)?,
            row.get::<_, bool>(2)?,
            row.get::<_, bool>(3)?,
        ))
    })?;
    for row in rows {
        let (job, next, paused, skip_next) = row?;
        let state = RestoredJob {
            next_run: next.as_deref().and_then(parse_ts),
            paused,
            skip_next,
            last_outcome: None,
        };
        r.jobs.insert(job, state);
    }
    // The latest run that ran to an outcome, per job of the configuration.
    let mut latest = conn.prepare(
        "SELECT status FROM job_runs WHERE id = (SELECT max(id) FROM job_runs
             WHERE job_name = ?1 AND status IN ('SUCCESS', 'FAILED'))",
    )?;
    for job in jobs {
        let status: Option<String> = latest.query_row([job], |row| row.get(0)).optional()?;
        if let Some(status) = status.as_deref().and_then(RunStatus::parse) {
            r.jobs.entry((*job).to_owned()).or_default().last_outcome = Some(status);
        }
    }
    r.paused_tags = conn
        .prepare("SELECT tag FROM paused_tags")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<BTreeSet<String>, _>>()?;
    let mut live = conn.prepare(
        "SELECT id, job_name, status, attempt, trigger, triggered_by, reason, cycle_id, retry_at,
                pid, pid_start
         FROM job_runs WHERE status IN ('PENDING', 'RUNNING', 'RETRYING') ORDER BY id",
    )?;
    let rows = live.query_map([], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, u32>(3)?,
            row.get::<_, String>(4)?,
            row.get::<_, String>(5)?,
            row.get::<_, Option<String>>(6)?,
            row.get::<_, Option<String>>(7)?,
            row.get::<_, Option<String>>(8)?,
            row.get::<_, Option<u32>>(9)?,
            row.get::<_, Option<i64>>(10)?,
        ))
    })?;
    for row in rows {
        let (id, job, status, attempt, trigger, by, reason, cycle, retry_at, pid, pid_start) = row?;
        r.live.push(RestoredRun {
            id,
            job,
            status: RunStatus::parse(&status).unwrap_or(RunStatus::Pending),
            attempt,
            trigger: Trigger::parse(&trigger).unwrap_or(Trigger::Schedule),
            triggered_by: by,
            reason,
            cycle_id: cycle,
            retry_at: retry_at.as_deref().and_then(parse_ts),
            pid,
            pid_start,
        });
    }
    let cycles: BTreeSet<String> = r.live.iter().filter_map(|l| l.cycle_id.clone()).collect();
    let mut members = conn.prepare(
        "SELECT job_name, status, trigger FROM job_runs WHERE cycle_id = ?1 ORDER BY id",
    )?;
    let mut outputs = conn.prepare(
        "SELECT job_name, var_name, value FROM run_outputs WHERE cycle_id = ?1 ORDER BY id",
    )?;
    let mut restored_cycles = HashMap::new();
    for id in cycles {
        let mut c = RestoredCycle::default();
        let rows = members.query_map(params![id], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
        })?;
        for row in rows {
            let (job, status, trigger) = row?;
            let starts_cycle =
                !matches!(Trigger::parse(&trigger), Some(Trigger::Dependency | Trigger::Retry));
            if c.root.is_none() && starts_cycle {
                c.root = Some(job.clone());
            }
            match RunStatus::parse(&status) {
                Some(s) if s.is_final() => {
                    c.done.insert(job, s);
                }
                // A later attempt is still going: the job is not done in this cycle.
                _ => {
                    c.done.remove(&job);
                }
            }
        }
        let rows = outputs.query_map(params![id], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
        })?;
        for row in rows {
            let (job, var, value) = row?;
            c.outputs.insert((job, var), value);
        }
        restored_cycles.insert(id, c);
    }
    r.cycles = restored_cycles;
    Ok(r)
}
