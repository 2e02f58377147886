//! Retention: deletes old runs (with their logs and outputs) and, past the byte budget, the logs
//! of the oldest runs.
//!
//! 1. **Age** (`max_age`): final runs (not PENDING, RUNNING or RETRYING) whose `finished_at` is
//!    older than `now − max_age`.
//! 2. **Cap** (`max_runs_per_job`): per job, final runs beyond the newest N by id (only final
//!    runs count towards N).
//! 3. The union of both is deleted, except each job's newest `keep_last_failures` FAILED runs.
//!    PENDING, RUNNING and RETRYING runs are never deleted. Logs and outputs go with their run
//!    (`ON DELETE CASCADE`); alerts stay, their `run_id` set to NULL.
//! 4. **Byte budget** (`max_total_bytes`): while the used size of the database
//!    (`(page_count − freelist_count) × page_size`) exceeds the budget, the logs of the oldest
//!    final runs are deleted (ascending id, skipping runs whose logs are gone already); each
//!    such run keeps its row with `log_lines = 0, log_bytes = 0` and `logs_pruned_at` set. Runs
//!    are chosen by an estimate of the bytes their lines occupy ([`LINE_OVERHEAD_BYTES`]); the
//!    real size is measured after each round and another round follows if it is still over.
//!
//! Deletion goes in chunks of at most [`CHUNK_RUNS`] runs (and about [`CHUNK_LOG_LINES`] log
//! lines), each chunk its own transaction, so a large prune never holds one long write
//! transaction. `PRAGMA incremental_vacuum` then hands the freed pages back to the file system.
//! A dry run counts the same rows and changes nothing; its `bytes_after` is an estimate.
//!
//! Jobs are visited with an index skip-scan (`min(job_name) > previous`), and each job's runs
//! are walked once in id order through `idx_job_runs_job`.

use std::collections::HashMap;
use std::fmt::Write as _;

use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use time::OffsetDateTime;

use super::{RunStatus, StoreError, ts};

/// Runs per deletion statement (and transaction), at most: under SQLite's historical limit of
/// 999 bound parameters.
pub const CHUNK_RUNS: usize = 900;
/// Log lines deleted per transaction, about: a chunk stops taking runs once their lines reach
/// this (a chunk always takes at least one run).
pub const CHUNK_LOG_LINES: u64 = 200_000;
/// Bytes a stored log line occupies beyond its text, for the byte-budget estimate: the table
/// row (rowid, run id, seq, stream name, 24-byte timestamp, record header, cell pointer), its
/// entry in `idx_run_logs_run_seq`, and the slack of partly filled b-tree pages. Measured (4 KiB
/// pages, `calibrate_line_overhead`): 57-70 bytes for lines of 20-200 bytes. Long lines leave
/// more slack (a 1,000-byte line takes ~1,380 bytes), so the estimate errs towards freeing a
/// little more than needed; the logs of one run interleaved with others' free less than they
/// took (pages stay shared), which the next round's measurement catches.
pub const LINE_OVERHEAD_BYTES: u64 = 60;
/// Dry-run estimate of the bytes a deleted run row frees (row and its index entries).
const RUN_ROW_BYTES: u64 = 400;
/// Dry-run estimate of the bytes a deleted output row frees, beyond its value.
const OUTPUT_ROW_BYTES: u64 = 120;
/// Rounds of the byte budget: measure, prune by estimate, vacuum, measure again.
const BUDGET_ROUNDS: usize = 8;
/// Pages handed back per `PRAGMA incremental_vacuum` (each call is its own transaction).
const VACUUM_STEP_PAGES: u32 = 4096;

/// The statuses retention may delete, as an SQL list.
const FINAL_STATUSES: &str = "'SUCCESS', 'FAILED', 'CANCELLED', 'SKIPPED'";

/// What to prune (`storage.retention`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Delete final runs that finished longer ago than this.
    pub max_age: Option<time::Duration>,
    /// Keep at most this many final runs per job (the newest).
    pub max_runs_per_job: Option<u32>,
    /// Always keep each job's newest this-many FAILED runs.
    pub keep_last_failures: u32,
    /// Keep the used size of the database under this many bytes by deleting the oldest logs.
    pub max_total_bytes: Option<u64>,
}

impl Policy {
    /// The rules of huskyd.yaml's `storage.retention`.
    pub fn of(storage: &crate::config::StorageConfig) -> Policy {
        Policy {
            max_age: storage.retention_max_age,
            max_runs_per_job: storage.retention_max_runs_per_job,
            keep_last_failures: storage.retention_keep_last_failures,
            max_total_bytes: storage.retention_max_total_bytes,
        }
    }

    /// Whether the policy prunes nothing.
    pub fn is_empty(&self) -> bool {
        self.max_age.is_none() && self.max_runs_per_job.is_none() && self.max_total_bytes.is_none()
    }
}

/// What one job lost.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JobPruned {
    /// The job.
    pub job: String,
    /// Runs deleted.
    pub runs: u64,
    /// Log lines deleted with them.
    pub log_lines: u64,
    /// Outputs deleted with them.
    pub outputs: u64,
}

/// What a prune did (or, for a dry run, would do); `POST /api/db/prune` answers it as JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PruneReport {
    /// Runs deleted by the age and cap rules.
    pub runs: u64,
    /// Log lines deleted with those runs.
    pub log_lines: u64,
    /// Outputs deleted with those runs.
    pub outputs: u64,
    /// Runs whose logs were deleted for the byte budget (the runs stay).
    pub logs_pruned_runs: u64,
    /// Log lines deleted for the byte budget.
    pub logs_pruned_lines: u64,
    /// Bytes of text of those lines.
    pub logs_pruned_bytes: u64,
    /// Used size of the database before (`(page_count − freelist_count) × page_size`).
    pub bytes_before: u64,
    /// Used size after (measured; estimated for a dry run).
    pub bytes_after: u64,
    /// The used size is still over the byte budget: only logs of live runs (or none) are left,
    /// or the rounds ran out.
    pub over_budget: bool,
    /// Nothing was changed.
    pub dry_run: bool,
    /// Per job, by name, the jobs that lost runs.
    pub jobs: Vec<JobPruned>,
}

/// Applies `policy` as of `now`. With `dry_run`, counts what would go and changes nothing.
pub fn prune(
    conn: &mut Connection,
    policy: &Policy,
    now: OffsetDateTime,
    dry_run: bool,
) -> Result<PruneReport, StoreError> {
    let mut report = PruneReport { dry_run, ..PruneReport::default() };
    report.bytes_before = used_bytes(conn)?;
    // A max_age reaching before the calendar starts deletes nothing by age.
    let cutoff = policy.max_age.and_then(|age| now.checked_sub(age)).map(ts);
    let mut rules: HashMap<String, JobRule> = HashMap::new();
    // Dry run: estimated bytes the rules would free.
    let mut freed_estimate = 0u64;

    if cutoff.is_some() || policy.max_runs_per_job.is_some() {
        let mut next = first_job(conn)?;
        while let Some(job) = next {
            let rule = job_rule(conn, &job, policy)?;
            let (pruned, estimate) = prune_job(conn, &job, rule, cutoff.as_deref(), dry_run)?;
            freed_estimate = freed_estimate.saturating_add(estimate);
            if pruned.runs > 0 {
                report.runs += pruned.runs;
                report.log_lines += pruned.log_lines;
                report.outputs += pruned.outputs;
                report.jobs.push(pruned);
            }
            next = next_job(conn, &job)?;
            if dry_run {
                rules.insert(job, rule);
            }
        }
        if !dry_run && report.runs > 0 {
            vacuum(conn)?;
        }
    }

    let mut used = if dry_run {
        report.bytes_before.saturating_sub(freed_estimate)
    } else {
        used_bytes(conn)?
    };
    if let Some(budget) = policy.max_total_bytes {
        let mut walk = BudgetWalk { after: 0, exhausted: false };
        let doomed = |c: &Candidate| {
            rules.get(&c.job).is_some_and(|r| {
                r.dooms(c.id, &c.status, c.finished_at.as_deref(), cutoff.as_deref())
            })
        };
        for _ in 0..BUDGET_ROUNDS {
            if used <= budget || walk.exhausted {
                break;
            }
            let freed =
                prune_logs(conn, used - budget, &mut walk, &doomed, now, dry_run, &mut report)?;
            if dry_run {
                used = used.saturating_sub(freed);
                break;
            }
            vacuum(conn)?;
            used = used_bytes(conn)?;
        }
        report.over_budget = used > budget;
    }
    report.bytes_after = used;
    Ok(report)
}

/// One human line: `pruned 12 runs (3,400 log lines, 2 outputs); logs of 4 runs removed for the
/// byte budget; database 12.3 MiB → 8.1 MiB`.
pub fn describe(report: &PruneReport) -> String {
    let dry = report.dry_run;
    let mut out = String::new();
    if report.runs == 0 && report.logs_pruned_runs == 0 {
        out.push_str(if dry { "nothing would be pruned" } else { "nothing to prune" });
    } else {
        let _ = write!(
            out,
            "{} {} ({}, {})",
            if dry { "would prune" } else { "pruned" },
            counted(report.runs, "run", "runs"),
            counted(report.log_lines, "log line", "log lines"),
            counted(report.outputs, "output", "outputs"),
        );
        if report.logs_pruned_runs > 0 {
            let _ = write!(
                out,
                "; logs of {} {} for the byte budget ({}, {})",
                counted(report.logs_pruned_runs, "run", "runs"),
                if dry { "would be removed" } else { "removed" },
                counted(report.logs_pruned_lines, "line", "lines"),
                size(report.logs_pruned_bytes),
            );
        }
    }
    let _ = write!(
        out,
        "; database {} → {}{}",
        size(report.bytes_before),
        if dry { "~" } else { "" },
        size(report.bytes_after)
    );
    if report.over_budget {
        out.push_str(" (still over the byte budget)");
    }
    out
}

/// Per job: runs with an id below `cap_below` are beyond the newest N final runs; FAILED runs
/// with an id from `keep_failed_from` up are kept.
#[derive(Debug, Clone, Copy)]
struct JobRule {
    cap_below: i64,
    keep_failed_from: i64,
}

impl JobRule {
    /// Whether the rules delete this run (the SQL of [`prune_job`], for dry runs).
    fn dooms(
        &self,
        id: i64,
        status: &str,
        finished_at: Option<&str>,
        cutoff: Option<&str>,
    ) -> bool {
        let is_final = RunStatus::parse(status).is_some_and(RunStatus::is_final);
        let old = matches!((finished_at, cutoff), (Some(f), Some(c)) if f < c);
        let kept = status == "FAILED" && id >= self.keep_failed_from;
        is_final && (old || id < self.cap_below) && !kept
    }
}

fn job_rule(conn: &Connection, job: &str, policy: &Policy) -> Result<JobRule, StoreError> {
    let cap_below = match policy.max_runs_per_job {
        None => i64::MIN,
        Some(0) => i64::MAX,
        Some(n) => conn
            .prepare_cached(&format!(
                "SELECT id FROM job_runs WHERE job_name = ?1 AND +status IN ({FINAL_STATUSES}) \
                 ORDER BY id DESC LIMIT 1 OFFSET ?2"
            ))?
            .query_row(params![job, n - 1], |r| r.get(0))
            .optional()?
            .unwrap_or(i64::MIN),
    };
    let keep_failed_from = match policy.keep_last_failures {
        0 => i64::MAX,
        k => conn
            .prepare_cached(
                "SELECT id FROM job_runs WHERE job_name = ?1 AND status = 'FAILED' \
                 ORDER BY id DESC LIMIT 1 OFFSET ?2",
            )?
            .query_row(params![job, k - 1], |r| r.get(0))
            .optional()?
            // Fewer than k failures: keep them all.
            .unwrap_or(i64::MIN),
    };
    Ok(JobRule { cap_below, keep_failed_from })
}

fn first_job(conn: &Connection) -> Result<Option<String>, StoreError> {
    Ok(conn.prepare_cached("SELECT min(job_name) FROM job_runs")?.query_row([], |r| r.get(0))?)
}

fn next_job(conn: &Connection, after: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT min(job_name) FROM job_runs WHERE job_name > ?1")?
        .query_row([after], |r| r.get(0))?)
}

/// The SQL form of [`JobRule::dooms`] for one job, walking `idx_job_runs_job` from `?2` up.
/// `+` keeps the planner off the status and finished_at indexes (which would need a sort).
const DOOMED_SQL: &str = "SELECT id, log_lines, log_bytes FROM job_runs \
     WHERE job_name = ?1 AND id > ?2 AND +status IN ('SUCCESS', 'FAILED', 'CANCELLED', 'SKIPPED') \
     AND (+finished_at < ?3 OR id < ?4) AND NOT (status = 'FAILED' AND id >= ?5) \
     ORDER BY id LIMIT ?6";

/// Deletes (or counts) one job's doomed runs in chunks. Returns what went and, for dry runs, an
/// estimate of the bytes it frees.
fn prune_job(
    conn: &mut Connection,
    job: &str,
    rule: JobRule,
    cutoff: Option<&str>,
    dry_run: bool,
) -> Result<(JobPruned, u64), StoreError> {
    let mut pruned = JobPruned { job: job.to_owned(), ..JobPruned::default() };
    let mut estimate = 0u64;
    let mut after = i64::MIN;
    loop {
        let tx = conn.transaction()?;
        let mut chunk: Vec<(i64, u64, u64)> = tx
            .prepare_cached(DOOMED_SQL)?
            .query_map(
                params![
                    job,
                    after,
                    cutoff,
                    rule.cap_below,
                    rule.keep_failed_from,
                    CHUNK_RUNS as i64
                ],
                |r| Ok((r.get(0)?, count_at(r, 1)?, count_at(r, 2)?)),
            )?
            .collect::<Result<_, _>>()?;
        if chunk.is_empty() {
            break;
        }
        // Bound the lines deleted per transaction (by the runs' own accounting).
        let mut lines = 0u64;
        let take = chunk
            .iter()
            .position(|&(_, l, _)| {
                lines = lines.saturating_add(l);
                lines >= CHUNK_LOG_LINES
            })
            .map_or(chunk.len(), |i| i + 1);
        chunk.truncate(take);
        after = chunk.last().map_or(after, |c| c.0);
        let ids: Vec<i64> = chunk.iter().map(|c| c.0).collect();
        let list = marks(ids.len());
        let count = |sql: &str| -> Result<u64, StoreError> {
            let n: i64 = tx.prepare(sql)?.query_row(params_from_iter(&ids), |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        };
        let lines = count(&format!("SELECT count(*) FROM run_logs WHERE run_id IN ({list})"))?;
        let outputs = count(&format!("SELECT count(*) FROM run_outputs WHERE run_id IN ({list})"))?;
        pruned.runs += ids.len() as u64;
        pruned.log_lines += lines;
        pruned.outputs += outputs;
        if dry_run {
            let text: u64 = chunk.iter().map(|c| c.2).sum();
            let output_bytes: i64 = tx
                .prepare(&format!(
                    "SELECT coalesce(sum(length(CAST(value AS BLOB))), 0) FROM run_outputs \
                     WHERE run_id IN ({list})"
                ))?
                .query_row(params_from_iter(&ids), |r| r.get(0))?;
            estimate = estimate
                .saturating_add(text)
                .saturating_add(lines.saturating_mul(LINE_OVERHEAD_BYTES))
                .saturating_add(outputs.saturating_mul(OUTPUT_ROW_BYTES))
                .saturating_add(u64::try_from(output_bytes).unwrap_or(0))
                .saturating_add((ids.len() as u64).saturating_mul(RUN_ROW_BYTES));
            tx.rollback()?;
        } else {
            tx.execute(
                &format!("DELETE FROM job_runs WHERE id IN ({list})"),
                params_from_iter(&ids),
            )?;
            tx.commit()?;
        }
    }
    Ok((pruned, estimate))
}

/// Where the byte-budget walk stands: it resumes after `after` in the next round.
#[derive(Debug)]
struct BudgetWalk {
    after: i64,
    exhausted: bool,
}

/// A final run that still has logs.
#[derive(Debug)]
struct Candidate {
    id: i64,
    job: String,
    status: String,
    finished_at: Option<String>,
}

/// Final runs with logs not pruned yet, oldest first, walking the rowid from `?1`.
const BUDGET_SQL: &str = "SELECT id, job_name, status, finished_at FROM job_runs \
     WHERE id > ?1 AND +status IN ('SUCCESS', 'FAILED', 'CANCELLED', 'SKIPPED') \
     AND logs_pruned_at IS NULL AND EXISTS (SELECT 1 FROM run_logs WHERE run_id = job_runs.id) \
     ORDER BY id LIMIT ?2";

/// Deletes the logs of the oldest runs until the estimate of the bytes freed reaches `excess`
/// or no run is left. Returns the estimate.
fn prune_logs(
    conn: &mut Connection,
    excess: u64,
    walk: &mut BudgetWalk,
    doomed: &dyn Fn(&Candidate) -> bool,
    now: OffsetDateTime,
    dry_run: bool,
    report: &mut PruneReport,
) -> Result<u64, StoreError> {
    let mut freed = 0u64;
    let now = ts(now);
    while freed < excess {
        let tx = conn.transaction()?;
        let candidates: Vec<Candidate> = tx
            .prepare_cached(BUDGET_SQL)?
            .query_map(params![walk.after, CHUNK_RUNS as i64], |r| {
                Ok(Candidate {
                    id: r.get(0)?,
                    job: r.get(1)?,
                    status: r.get(2)?,
                    finished_at: r.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        if candidates.is_empty() {
            walk.exhausted = true;
            break;
        }
        let mut chosen = Vec::new();
        let mut lines_in_chunk = 0u64;
        for c in &candidates {
            walk.after = c.id;
            // A dry run still has the runs the rules would delete: their bytes are counted.
            if dry_run && doomed(c) {
                continue;
            }
            let (lines, bytes): (i64, i64) = tx
                .prepare_cached(
                    "SELECT count(*), coalesce(sum(length(CAST(line AS BLOB))), 0) \
                     FROM run_logs WHERE run_id = ?1",
                )?
                .query_row([c.id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let (lines, bytes) =
                (u64::try_from(lines).unwrap_or(0), u64::try_from(bytes).unwrap_or(0));
            chosen.push(c.id);
            report.logs_pruned_runs += 1;
            report.logs_pruned_lines += lines;
            report.logs_pruned_bytes += bytes;
            freed = freed
                .saturating_add(bytes)
                .saturating_add(lines.saturating_mul(LINE_OVERHEAD_BYTES));
            lines_in_chunk += lines;
            if freed >= excess || lines_in_chunk >= CHUNK_LOG_LINES {
                break;
            }
        }
        if dry_run || chosen.is_empty() {
            tx.rollback()?;
            continue;
        }
        let list = marks(chosen.len());
        tx.execute(
            &format!("DELETE FROM run_logs WHERE run_id IN ({list})"),
            params_from_iter(&chosen),
        )?;
        let mut update = vec![rusqlite::types::Value::Text(now.clone())];
        update.extend(chosen.iter().map(|&id| rusqlite::types::Value::Integer(id)));
        tx.execute(
            &format!(
                "UPDATE job_runs SET log_lines = 0, log_bytes = 0, logs_pruned_at = ?1 \
                 WHERE id IN ({})",
                (2..chosen.len() + 2).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ")
            ),
            params_from_iter(&update),
        )?;
        tx.commit()?;
    }
    Ok(freed)
}

fn count_at(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<u64> {
    Ok(u64::try_from(r.get::<_, i64>(i)?).unwrap_or(0))
}

/// `?, ?, ...` for `n` parameters.
fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

fn pragma_u64(conn: &Connection, name: &str) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// `(page_count − freelist_count) × page_size`.
fn used_bytes(conn: &Connection) -> Result<u64, StoreError> {
    let pages = pragma_u64(conn, "page_count")?.saturating_sub(pragma_u64(conn, "freelist_count")?);
    Ok(pages.saturating_mul(pragma_u64(conn, "page_size")?))
}

/// Hands free pages back to the file system, [`VACUUM_STEP_PAGES`] per transaction (only with
/// `auto_vacuum = INCREMENTAL`; otherwise free pages are reused by later writes).
fn vacuum(conn: &Connection) -> Result<(), StoreError> {
    if pragma_u64(conn, "auto_vacuum")? != 2 {
        return Ok(());
    }
    let mut free = pragma_u64(conn, "freelist_count")?;
    while free > 0 {
        let mut stmt = conn.prepare(&format!("PRAGMA incremental_vacuum({VACUUM_STEP_PAGES})"))?;
        let mut rows = stmt.query([])?;
        while rows.next()?.is_some() {}
        drop(rows);
        let now = pragma_u64(conn, "freelist_count")?;
        if now >= free {
            break;
        }
        free = now;
    }
    Ok(())
}

fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// `3400` → `3,400`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `12.3 MiB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use rusqlite::params;
    use time::Duration;
    use time::macros::datetime;

    use super::*;
    use crate::store::{Pragmas, open_memory, open_writer};

    const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

    fn db() -> Connection {
        open_memory().expect("memory db")
    }

    /// A run of `job` finished `hours` ago (`None`: not finished), created an hour before.
    fn run(conn: &Connection, job: &str, status: &str, hours: Option<i64>) -> i64 {
        let finished = hours.map(|h| ts(NOW - Duration::hours(h)));
        let created = ts(NOW - Duration::hours(hours.unwrap_or(0) + 1));
        conn.execute(
            "INSERT INTO job_runs (job_name, status, trigger, created_at, finished_at) \
             VALUES (?1, ?2, 'schedule', ?3, ?4)",
            params![job, status, created, finished],
        )
        .expect("insert run");
        conn.last_insert_rowid()
    }

    fn ids(conn: &Connection) -> Vec<i64> {
        conn.prepare("SELECT id FROM job_runs ORDER BY id")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("ids")
    }

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).expect("count")
    }

    fn policy(max_age_hours: Option<i64>, max_runs: Option<u32>) -> Policy {
        Policy {
            max_age: max_age_hours.map(Duration::hours),
            max_runs_per_job: max_runs,
            ..Policy::default()
        }
    }

    fn prune_now(conn: &mut Connection, policy: &Policy) -> PruneReport {
        prune(conn, policy, NOW, false).expect("prune")
    }

    #[test]
    fn max_age_deletes_runs_finished_before_the_cutoff() {
        let mut conn = db();
        let old = run(&conn, "a", "SUCCESS", Some(48));
        let recent = run(&conn, "a", "SUCCESS", Some(1));
        let report = prune_now(&mut conn, &policy(Some(24), None));
        assert_eq!(report.runs, 1);
        assert_eq!(ids(&conn), [recent]);
        assert!(!ids(&conn).contains(&old));
    }

    #[test]
    fn pending_runs_are_never_deleted() {
        let mut conn = db();
        let pending = run(&conn, "a", "PENDING", None);
        // A pending row carrying an old finished_at (a retry's leftover) stays too.
        let pending_old = run(&conn, "a", "PENDING", Some(1000));
        let done = run(&conn, "a", "SUCCESS", Some(1000));
        let report =
            prune_now(&mut conn, &Policy { max_runs_per_job: Some(0), ..policy(Some(1), None) });
        assert_eq!(report.runs, 1);
        assert_eq!(ids(&conn), [pending, pending_old]);
        assert!(!ids(&conn).contains(&done));
    }

    #[test]
    fn running_and_retrying_runs_are_never_deleted_however_old() {
        let mut conn = db();
        let running = run(&conn, "a", "RUNNING", None);
        let retrying = run(&conn, "a", "RETRYING", Some(10_000));
        let running_old = run(&conn, "a", "RUNNING", Some(10_000));
        for status in ["SUCCESS", "FAILED", "CANCELLED", "SKIPPED"] {
            run(&conn, "a", status, Some(10_000));
        }
        let report =
            prune_now(&mut conn, &Policy { max_runs_per_job: Some(0), ..policy(Some(1), None) });
        assert_eq!(report.runs, 4);
        assert_eq!(ids(&conn), [running, retrying, running_old]);
    }

    #[test]
    fn cap_three_of_five_deletes_the_two_oldest() {
        let mut conn = db();
        let all: Vec<i64> = (0..5).map(|i| run(&conn, "a", "SUCCESS", Some(10 - i))).collect();
        let other = run(&conn, "b", "SUCCESS", Some(100));
        let report = prune_now(&mut conn, &policy(None, Some(3)));
        assert_eq!(report.runs, 2);
        assert_eq!(ids(&conn), [all[2], all[3], all[4], other]);
        assert_eq!(report.jobs, [JobPruned { job: "a".into(), runs: 2, log_lines: 0, outputs: 0 }]);
    }

    #[test]
    fn cap_counts_final_runs_only() {
        let mut conn = db();
        let c1 = run(&conn, "a", "SUCCESS", Some(4));
        let c2 = run(&conn, "a", "FAILED", Some(3));
        let c3 = run(&conn, "a", "SUCCESS", Some(2));
        let pending = run(&conn, "a", "PENDING", None);
        let report = prune_now(&mut conn, &policy(None, Some(2)));
        assert_eq!(report.runs, 1);
        assert_eq!(ids(&conn), [c2, c3, pending]);
        assert!(!ids(&conn).contains(&c1));
    }

    #[test]
    fn age_and_cap_together_delete_the_union() {
        let mut conn = db();
        let all: Vec<i64> =
            [48, 36, 4, 3, 2, 1].into_iter().map(|h| run(&conn, "a", "SUCCESS", Some(h))).collect();
        let report = prune_now(&mut conn, &policy(Some(24), Some(2)));
        assert_eq!(report.runs, 4);
        assert_eq!(ids(&conn), [all[4], all[5]]);
    }

    #[test]
    fn the_newest_failures_are_kept_past_both_rules() {
        let mut conn = db();
        let f100 = run(&conn, "a", "FAILED", Some(100));
        let f90 = run(&conn, "a", "FAILED", Some(90));
        let s80 = run(&conn, "a", "SUCCESS", Some(80));
        let f70 = run(&conn, "a", "FAILED", Some(70));
        let s1 = run(&conn, "a", "SUCCESS", Some(1));
        // Another job with a single, old failure: kept (fewer failures than the number kept).
        let b = run(&conn, "b", "FAILED", Some(500));
        let b_ok = run(&conn, "b", "SUCCESS", Some(500));
        let keep = Policy { keep_last_failures: 2, ..policy(Some(24), Some(1)) };
        let report = prune_now(&mut conn, &keep);
        assert_eq!(report.runs, 3);
        assert_eq!(ids(&conn), [f90, f70, s1, b]);
        for gone in [f100, s80, b_ok] {
            assert!(!ids(&conn).contains(&gone));
        }
        assert_eq!(
            report.jobs.iter().map(|j| (j.job.as_str(), j.runs)).collect::<Vec<_>>(),
            [("a", 2), ("b", 1)]
        );
    }

    #[test]
    fn logs_and_outputs_go_with_their_run_and_alerts_stay() {
        let mut conn = db();
        let old = run(&conn, "a", "FAILED", Some(48));
        let new = run(&conn, "a", "SUCCESS", Some(1));
        for (id, n) in [(old, 30), (new, 5)] {
            conn.execute(
                "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?2)
                 INSERT INTO run_logs (run_id, seq, stream, line, ts)
                 SELECT ?1, i, 'stdout', 'line', '2026-01-01T00:00:00.000Z' FROM k",
                params![id, n],
            )
            .expect("lines");
            conn.execute(
                "INSERT INTO run_outputs (run_id, job_name, var_name, value, cycle_id, created_at) \
                 VALUES (?1, 'a', 'v', 'x', 'c', '2026-01-01T00:00:00.000Z'), \
                        (?1, 'a', 'w', 'y', 'c', '2026-01-01T00:00:00.000Z')",
                [id],
            )
            .expect("outputs");
            conn.execute(
                "INSERT INTO alerts (job_name, run_id, channel, sent_at) \
                 VALUES ('a', ?1, 'slack:#ops', '2026-01-01T00:00:00.000Z')",
                [id],
            )
            .expect("alert");
        }
        let report = prune_now(&mut conn, &policy(Some(24), None));
        assert_eq!((report.runs, report.log_lines, report.outputs), (1, 30, 2));
        assert_eq!(
            report.jobs,
            [JobPruned { job: "a".into(), runs: 1, log_lines: 30, outputs: 2 }]
        );
        assert_eq!(count(&conn, &format!("SELECT count(*) FROM run_logs WHERE run_id = {old}")), 0);
        assert_eq!(
            count(&conn, &format!("SELECT count(*) FROM run_outputs WHERE run_id = {old}")),
            0
        );
        assert_eq!(count(&conn, &format!("SELECT count(*) FROM run_logs WHERE run_id = {new}")), 5);
        assert_eq!(
            count(&conn, &format!("SELECT count(*) FROM run_outputs WHERE run_id = {new}")),
            2
        );
        assert_eq!(count(&conn, "SELECT count(*) FROM alerts"), 2);
        assert_eq!(count(&conn, "SELECT count(*) FROM alerts WHERE run_id IS NULL"), 1);
        assert_eq!(count(&conn, &format!("SELECT count(*) FROM alerts WHERE run_id = {new}")), 1);
    }

    #[test]
    fn large_prunes_go_in_chunks() {
        let mut conn = db();
        conn.execute_batch(
            "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 2500)
             INSERT INTO job_runs (job_name, status, trigger, created_at, finished_at, log_lines)
             SELECT 'j' || (i % 2), CASE WHEN i % 10 = 0 THEN 'RUNNING' ELSE 'SUCCESS' END,
                    'schedule', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z',
                    -- Some runs claim many lines: chunks then hold fewer runs.
                    CASE WHEN i % 97 = 0 THEN 150000 ELSE 0 END
             FROM k;
             INSERT INTO run_logs (run_id, seq, stream, line, ts)
             SELECT id, 1, 'stdout', 'x', '2026-01-01T00:00:00.000Z' FROM job_runs;",
        )
        .expect("runs");
        let p = policy(Some(24), Some(10));
        let dry = prune(&mut conn, &p, NOW, true).expect("dry");
        let report = prune_now(&mut conn, &p);
        // 250 RUNNING stay; of the 2250 final runs, 10 per job are kept by the cap but they are
        // all older than a day.
        assert_eq!((report.runs, report.log_lines), (2250, 2250));
        assert_eq!((dry.runs, dry.log_lines), (2250, 2250));
        assert_eq!(count(&conn, "SELECT count(*) FROM job_runs"), 250);
        assert_eq!(count(&conn, "SELECT count(*) FROM run_logs"), 250);
    }

    #[test]
    fn a_dry_run_counts_the_same_and_changes_nothing() {
        let mut conn = db();
        for h in [300, 200, 100, 50, 30, 20, 10, 5, 1] {
            let id = run(&conn, "a", if h % 20 == 0 { "FAILED" } else { "SUCCESS" }, Some(h));
            conn.execute(
                "INSERT INTO run_logs (run_id, seq, stream, line, ts) \
                 VALUES (?1, 1, 'stdout', 'hello', '2026-01-01T00:00:00.000Z')",
                [id],
            )
            .expect("line");
            conn.execute(
                "INSERT INTO run_outputs (run_id, job_name, var_name, value, cycle_id, created_at) \
                 VALUES (?1, 'a', 'v', 'x', 'c', '2026-01-01T00:00:00.000Z')",
                [id],
            )
            .expect("output");
        }
        run(&conn, "b", "SUCCESS", Some(1000));
        run(&conn, "b", "RUNNING", None);
        let p = Policy { keep_last_failures: 1, ..policy(Some(24), Some(3)) };
        let snapshot = |conn: &Connection| {
            (
                ids(conn),
                count(conn, "SELECT count(*) FROM run_logs"),
                count(conn, "SELECT count(*) FROM run_outputs"),
            )
        };
        let before = snapshot(&conn);
        let dry = prune(&mut conn, &p, NOW, true).expect("dry run");
        assert_eq!(snapshot(&conn), before);
        assert!(dry.dry_run);
        let real = prune_now(&mut conn, &p);
        assert!(!real.dry_run);
        assert!(real.runs > 0);
        assert_eq!(
            (dry.runs, dry.log_lines, dry.outputs, &dry.jobs),
            (real.runs, real.log_lines, real.outputs, &real.jobs)
        );
        assert_eq!(dry.bytes_before, real.bytes_before);
    }

    #[test]
    fn nothing_happens_without_rules() {
        let mut conn = db();
        run(&conn, "a", "SUCCESS", Some(10_000));
        let report = prune_now(&mut conn, &Policy::default());
        assert_eq!(report.runs, 0);
        assert_eq!(ids(&conn).len(), 1);
        // A max_age reaching before the calendar starts deletes nothing.
        let report =
            prune_now(&mut conn, &Policy { max_age: Some(Duration::MAX), ..Policy::default() });
        assert_eq!(report.runs, 0);
    }

    /// Forty runs of ~100 KiB of logs each (about 6 MiB on disk) in a file database with
    /// incremental auto-vacuum.
    fn big_logs(path: &std::path::Path) -> (Connection, Vec<i64>) {
        let conn = open_writer(path, Pragmas::default()).expect("db");
        let mut ids = Vec::new();
        for i in 0..40 {
            // The oldest run is still running: its logs are never pruned.
            let status = if i == 0 { "RUNNING" } else { "SUCCESS" };
            let id = run(&conn, &format!("job{}", i % 3), status, (i > 0).then_some(100 - i));
            conn.execute(
                "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 1000)
                 INSERT INTO run_logs (run_id, seq, stream, line, ts)
                 SELECT ?1, i, 'stdout', printf('%06d ', i) || ?2, '2026-01-01T00:00:00.000Z' FROM k",
                params![id, "y".repeat(93)],
            )
            .expect("lines");
            conn.execute(
                "UPDATE job_runs SET log_lines = 1000, log_bytes = 100000 WHERE id = ?1",
                [id],
            )
            .expect("accounting");
            ids.push(id);
        }
        (conn, ids)
    }

    struct TempDb {
        dir: std::path::PathBuf,
        path: std::path::PathBuf,
    }

    impl TempDb {
        fn new(name: &str) -> TempDb {
            let dir =
                std::env::temp_dir().join(format!("husky-retention-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let path = dir.join("husky.db");
            TempDb { dir, path }
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn the_byte_budget_prunes_the_oldest_logs_first() {
        let db = TempDb::new("budget");
        let (mut conn, runs) = big_logs(&db.path);
        let start = used_bytes(&conn).expect("used");
        assert!(start > 5 << 20, "{start}");
        let budget = 3 << 20;
        let p = Policy { max_total_bytes: Some(budget), ..Policy::default() };

        let dry = prune(&mut conn, &p, NOW, true).expect("dry run");
        assert_eq!(used_bytes(&conn).expect("used"), start);
        assert_eq!(
            count(&conn, "SELECT count(*) FROM job_runs WHERE logs_pruned_at IS NOT NULL"),
            0
        );
        assert!(dry.logs_pruned_runs > 0 && dry.bytes_after <= budget, "{dry:?}");

        let report = prune_now(&mut conn, &p);
        assert_eq!(report.runs, 0);
        assert_eq!(report.bytes_before, start);
        assert!(report.bytes_after <= budget, "{report:?}");
        assert_eq!(report.bytes_after, used_bytes(&conn).expect("used"));
        assert!(!report.over_budget);
        assert_eq!(report.logs_pruned_lines, report.logs_pruned_runs * 1000);
        assert_eq!(report.logs_pruned_bytes, report.logs_pruned_runs * 100_000);
        // The estimate needs no more than a couple of runs beyond the dry run's guess.
        assert!(report.logs_pruned_runs.abs_diff(dry.logs_pruned_runs) <= 3, "{dry:?} {report:?}");

        // The oldest final runs lost their logs, in order; the running run and the newest kept
        // theirs.
        let pruned: Vec<i64> = conn
            .prepare("SELECT id FROM job_runs WHERE logs_pruned_at IS NOT NULL ORDER BY id")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("ids");
        let n = usize::try_from(report.logs_pruned_runs).expect("small");
        assert_eq!(pruned, runs[1..=n]);
        for &id in &pruned {
            let (lines, bytes, at, stored): (i64, i64, String, i64) = conn
                .query_row(
                    "SELECT log_lines, log_bytes, logs_pruned_at, \
                     (SELECT count(*) FROM run_logs WHERE run_id = ?1) FROM job_runs WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .expect("run");
            assert_eq!((lines, bytes, at.as_str(), stored), (0, 0, ts(NOW).as_str(), 0));
        }
        assert_eq!(
            count(&conn, &format!("SELECT count(*) FROM run_logs WHERE run_id = {}", runs[0])),
            1000
        );
        assert_eq!(
            count(&conn, &format!("SELECT count(*) FROM run_logs WHERE run_id = {}", runs[39])),
            1000
        );

        // The pages went back to the file system: after a checkpoint the file is under budget.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).expect("checkpoint");
        let file = std::fs::metadata(&db.path).expect("file").len();
        assert!(file <= budget, "file {file} bytes");

        // Again: nothing more to do.
        let again = prune_now(&mut conn, &p);
        assert_eq!((again.runs, again.logs_pruned_runs), (0, 0));
    }

    #[test]
    fn the_byte_budget_stops_when_only_live_logs_are_left() {
        let db = TempDb::new("budget-floor");
        let (mut conn, _) = big_logs(&db.path);
        let p = Policy { max_total_bytes: Some(64 << 10), ..Policy::default() };
        let report = prune_now(&mut conn, &p);
        assert_eq!(report.logs_pruned_runs, 39);
        assert!(report.over_budget);
        assert_eq!(count(&conn, "SELECT count(*) FROM run_logs"), 1000);
        assert!(describe(&report).contains("still over the byte budget"), "{}", describe(&report));
    }

    #[test]
    fn a_dry_run_does_not_count_logs_of_runs_the_rules_delete() {
        let db = TempDb::new("budget-rules");
        let (mut conn, _) = big_logs(&db.path);
        // max_age deletes the 29 runs finished more than 70 hours ago (71 to 99 hours); the budget
        // then needs logs of the oldest survivors.
        let p = Policy { max_total_bytes: Some(1 << 20), ..policy(Some(70), None) };
        let dry = prune(&mut conn, &p, NOW, true).expect("dry");
        let real = prune_now(&mut conn, &p);
        assert_eq!((dry.runs, real.runs), (29, 29));
        assert!(real.logs_pruned_runs > 0 && real.bytes_after <= 1 << 20, "{real:?}");
        assert!(dry.logs_pruned_runs.abs_diff(real.logs_pruned_runs) <= 2, "{dry:?} {real:?}");
    }

    #[test]
    fn final_statuses_match_the_model() {
        let listed: Vec<&str> = FINAL_STATUSES.split(", ").map(|s| s.trim_matches('\'')).collect();
        let finals: Vec<&str> =
            RunStatus::ALL.into_iter().filter(|s| s.is_final()).map(RunStatus::as_str).collect();
        assert_eq!(listed, finals);
        for sql in [DOOMED_SQL, BUDGET_SQL] {
            assert!(sql.contains(FINAL_STATUSES), "{sql}");
        }
    }

    #[test]
    fn retention_queries_walk_indexes() {
        let conn = db();
        let plan = |sql: &str| -> String {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).expect("explain");
            let nulls = vec![rusqlite::types::Value::Null; stmt.parameter_count()];
            stmt.query_map(params_from_iter(nulls), |r| r.get::<_, String>(3))
                .expect("plan")
                .collect::<Result<Vec<_>, _>>()
                .expect("rows")
                .join("; ")
        };
        let doomed = plan(DOOMED_SQL);
        assert!(
            doomed
                .starts_with("SEARCH job_runs USING INDEX idx_job_runs_job (job_name=? AND id>?)"),
            "{doomed}"
        );
        assert!(!doomed.contains("TEMP B-TREE"), "{doomed}");
        let budget = plan(BUDGET_SQL);
        assert!(
            budget.starts_with("SEARCH job_runs USING INTEGER PRIMARY KEY (rowid>?)"),
            "{budget}"
        );
        assert!(
            budget.contains(
                "SEARCH run_logs EXISTS USING COVERING INDEX idx_run_logs_run_seq (run_id=?)"
            ),
            "{budget}"
        );
        assert!(!budget.contains("TEMP B-TREE"), "{budget}");
        for sql in [
            "SELECT min(job_name) FROM job_runs WHERE job_name > ?1",
            "SELECT id FROM job_runs WHERE job_name = ?1 AND status = 'FAILED' ORDER BY id DESC LIMIT 1 OFFSET ?2",
        ] {
            let p = plan(sql);
            assert!(p.starts_with("SEARCH job_runs USING COVERING INDEX"), "{sql}: {p}");
        }
    }

    #[test]
    fn describe_says_what_happened_in_one_line() {
        let report = PruneReport {
            runs: 12,
            log_lines: 3400,
            outputs: 2,
            logs_pruned_runs: 4,
            logs_pruned_lines: 1_234_567,
            logs_pruned_bytes: 50 << 20,
            bytes_before: 12_897_485,
            bytes_after: 8_493_466,
            ..PruneReport::default()
        };
        assert_eq!(
            describe(&report),
            "pruned 12 runs (3,400 log lines, 2 outputs); logs of 4 runs removed for the byte \
             budget (1,234,567 lines, 50.0 MiB); database 12.3 MiB → 8.1 MiB"
        );
        let dry = PruneReport {
            dry_run: true,
            runs: 1,
            log_lines: 1,
            outputs: 1,
            logs_pruned_runs: 0,
            ..report
        };
        assert_eq!(
            describe(&dry),
            "would prune 1 run (1 log line, 1 output); database 12.3 MiB → ~8.1 MiB"
        );
        let nothing = PruneReport { bytes_before: 900, bytes_after: 900, ..PruneReport::default() };
        assert_eq!(describe(&nothing), "nothing to prune; database 900 B → 900 B");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(12_345_678), "12,345,678");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 << 30), "3.0 GiB");
    }
}
