//! Read-only queries: run history, logs, outputs, alerts, job state and database statistics.
//!
//! A [`Reader`] owns one read-only connection (WAL lets it read while the writer writes). Every
//! query is answered through an index and every list is paginated (`limit` + `offset`); nothing
//! reads a whole table into memory. Lists that come with a total run the count and the page in
//! one read transaction, so both see the same snapshot.
//!
//! Timestamps are returned in their stored form (`2026-11-23T12:00:00.000Z`, UTC, sortable as
//! text; [`super::parse_ts`] parses them), like [`StoredLine::ts`].
//!
//! Substring searches (`reason`, `q`) are case-insensitive for ASCII letters (SQLite's `LIKE`)
//! and take `%`, `_` and `\` literally. A substring cannot be looked up in an index: it is tested
//! on the rows the other conditions select (newest first, stopping once the page is full), and
//! its total walks them all.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::types::{Type, Value};
use rusqlite::{CachedStatement, Connection, OptionalExtension, Row, params, params_from_iter};
use time::OffsetDateTime;

use super::{Pragmas, RunStatus, StoreError, StoredLine, Stream, Trigger, ts};

/// Page size when the caller asks for 0.
pub const DEFAULT_LIMIT: u32 = 100;
/// Largest page.
pub const MAX_LIMIT: u32 = 1000;
/// Lines per query while a follower backfills a log ([`super::follow::Follower`]).
pub const BACKFILL_CHUNK: u32 = 2000;

/// One page of a list, and how many rows match in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// How many rows match the filter (all pages).
    pub total: u64,
}

impl<T> Page<T> {
    fn empty() -> Self {
        Page { items: Vec::new(), total: 0 }
    }
}

/// A row of `job_runs`, every column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRow {
    /// Run id.
    pub id: i64,
    /// The job.
    pub job_name: String,
    /// Status.
    pub status: RunStatus,
    /// Why it did not succeed (`exit_code`, `timeout`, ...).
    pub status_reason: Option<String>,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// What started it.
    pub trigger: Trigger,
    /// Who started it.
    pub triggered_by: String,
    /// Free text (`catchup`, a user's reason).
    pub reason: Option<String>,
    /// The dependency cycle.
    pub cycle_id: Option<String>,
    /// Creation time (stored form).
    pub created_at: String,
    /// Start time.
    pub started_at: Option<String>,
    /// Finish time.
    pub finished_at: Option<String>,
    /// A pending retry's due time.
    pub retry_at: Option<String>,
    /// Exit code.
    pub exit_code: Option<i32>,
    /// The signal that ended it.
    pub signal: Option<i32>,
    /// Process id.
    pub pid: Option<u32>,
    /// The process start time as the OS reports it.
    pub pid_start: Option<i64>,
    /// Wall-clock duration.
    pub duration_ms: Option<i64>,
    /// User CPU time.
    pub cpu_user_ms: Option<i64>,
    /// System CPU time.
    pub cpu_sys_ms: Option<i64>,
    /// Peak resident set size.
    pub max_rss_kb: Option<i64>,
    /// The SLA was breached.
    pub sla_breached: bool,
    /// Healthcheck outcome: `pass`, `fail`, `warn`.
    pub hc_status: Option<String>,
    /// Log lines stored.
    pub log_lines: u64,
    /// Log bytes stored.
    pub log_bytes: u64,
    /// Lines left out by the per-run budget.
    pub log_omitted_lines: u64,
    /// Bytes left out by the per-run budget.
    pub log_omitted_bytes: u64,
    /// Lines dropped while the database could not be written.
    pub log_dropped_lines: u64,
    /// When retention removed the logs.
    pub logs_pruned_at: Option<String>,
}

/// A row of `run_outputs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputRow {
    /// Row id.
    pub id: i64,
    /// The run that captured it.
    pub run_id: i64,
    /// The job.
    pub job_name: String,
    /// Variable name.
    pub var_name: String,
    /// Captured value.
    pub value: String,
    /// The dependency cycle.
    pub cycle_id: String,
    /// When (stored form).
    pub created_at: String,
}

/// A row of `alerts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    /// Row id.
    pub id: i64,
    /// The job.
    pub job_name: String,
    /// The run (`None` if there was none, or retention removed it).
    pub run_id: Option<i64>,
    /// `on_failure`, `on_success`, ...
    pub event: String,
    /// `slack:#ops`, ...
    pub channel: String,
    /// `delivered`, `failed`, `pending`.
    pub status: String,
    /// Attempts so far.
    pub attempts: u32,
    /// Last attempt (stored form).
    pub last_attempt_at: Option<String>,
    /// Last error.
    pub error: Option<String>,
    /// When (stored form).
    pub sent_at: String,
    /// The request body sent.
    pub payload: Option<String>,
}

/// A row of `job_state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStateRow {
    /// The job.
    pub job_name: String,
    /// Last successful finish.
    pub last_success: Option<String>,
    /// Last failed finish.
    pub last_failure: Option<String>,
    /// The latest run.
    pub last_run_id: Option<i64>,
    /// The latest run's status.
    pub last_status: Option<RunStatus>,
    /// Next scheduled fire.
    pub next_run: Option<String>,
    /// Paused by a user.
    pub paused: bool,
    /// The pid holding the job's lock.
    pub lock_pid: Option<u32>,
    /// Last change of the row.
    pub updated_at: Option<String>,
}

/// Run counts of one tag's jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagCount {
    /// The tag.
    pub tag: String,
    /// Jobs carrying the tag (distinct names).
    pub jobs: u64,
    /// Runs of those jobs.
    pub runs: u64,
    /// Failed runs of those jobs.
    pub failed: u64,
    /// The latest run of those jobs (highest id).
    pub last_run_id: Option<i64>,
    /// Its status.
    pub last_status: Option<RunStatus>,
}

/// Size and row counts of the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbStats {
    /// `PRAGMA page_size`.
    pub page_size: u64,
    /// `PRAGMA page_count` (pages of the database, including free ones).
    pub page_count: u64,
    /// `PRAGMA freelist_count` (free pages).
    pub freelist_count: u64,
    /// Rows of `job_runs` (exact).
    pub runs: u64,
    /// Rows of `run_logs` (exact).
    pub log_lines: u64,
}

impl DbStats {
    /// Bytes of the database file's pages, free ones included.
    pub fn file_bytes(&self) -> u64 {
        self.page_count.saturating_mul(self.page_size)
    }

    /// Bytes in use: `(page_count − freelist_count) × page_size`.
    pub fn used_bytes(&self) -> u64 {
        self.page_count.saturating_sub(self.freelist_count).saturating_mul(self.page_size)
    }
}

/// Which runs to list. Conditions combine with AND; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// One job.
    pub job: Option<String>,
    /// A set of jobs (e.g. a tag's); an empty set matches nothing.
    pub jobs: Option<Vec<String>>,
    /// One status.
    pub status: Option<RunStatus>,
    /// A set of statuses; an empty set matches nothing.
    pub statuses: Option<Vec<RunStatus>>,
    /// What started the run.
    pub trigger: Option<Trigger>,
    /// Created at or after (inclusive).
    pub since: Option<OffsetDateTime>,
    /// Created at or before (inclusive).
    pub until: Option<OffsetDateTime>,
    /// Case-insensitive substring of `reason`.
    pub reason: Option<String>,
    /// One cycle.
    pub cycle_id: Option<String>,
    /// Whether the SLA was breached.
    pub sla_breached: Option<bool>,
    /// Page size: 0 means [`DEFAULT_LIMIT`]; at most [`MAX_LIMIT`].
    pub limit: u32,
    /// Rows to skip.
    pub offset: u32,
}

/// Which log lines to list. Conditions combine with AND; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// One run (lines in `seq` order).
    pub run_id: Option<i64>,
    /// The runs of one job (newest run first, each in `seq` order).
    pub job: Option<String>,
    /// One stream.
    pub stream: Option<Stream>,
    /// Leave out the healthcheck's lines.
    pub hide_healthcheck: bool,
    /// Case-insensitive substring of the line.
    pub q: Option<String>,
    /// Only lines with a row id above this.
    pub after_id: Option<i64>,
    /// Only lines with a row id at most this.
    pub up_to_id: Option<i64>,
    /// Page size: 0 means [`DEFAULT_LIMIT`]; at most [`MAX_LIMIT`].
    pub limit: u32,
    /// Rows to skip.
    pub offset: u32,
}

const RUN_COLUMNS: &str = "id, job_name, status, status_reason, attempt, trigger, triggered_by, \
     reason, cycle_id, created_at, started_at, finished_at, retry_at, exit_code, signal, pid, \
     pid_start, duration_ms, cpu_user_ms, cpu_sys_ms, max_rss_kb, sla_breached, hc_status, \
     log_lines, log_bytes, log_omitted_lines, log_omitted_bytes, log_dropped_lines, \
     logs_pruned_at";

const LOG_COLUMNS: &str = "run_logs.id, run_logs.run_id, run_logs.seq, run_logs.stream, \
     run_logs.line, run_logs.ts";

const OUTPUT_COLUMNS: &str = "id, run_id, job_name, var_name, value, cycle_id, created_at";

const ALERT_COLUMNS: &str = "id, job_name, run_id, event, channel, status, attempts, \
     last_attempt_at, error, sent_at, payload";

const JOB_STATE_COLUMNS: &str = "job_name, last_success, last_failure, last_run_id, \
     last_status, next_run, paused, lock_pid, updated_at";

/// Reads the store through one read-only connection.
#[derive(Debug)]
pub struct Reader {
    conn: Connection,
    /// Every statement prepared, for the query-plan test.
    #[cfg(test)]
    seen: std::cell::RefCell<std::collections::BTreeSet<String>>,
}

impl Reader {
    /// Wraps a connection (normally from [`super::open_reader`]).
    pub fn new(conn: Connection) -> Reader {
        Reader {
            conn,
            #[cfg(test)]
            seen: std::cell::RefCell::default(),
        }
    }

    /// Opens a read-only connection to the database at `path`.
    pub fn open(path: &Path, pragmas: Pragmas) -> Result<Reader, StoreError> {
        Ok(Reader::new(super::open_reader(path, pragmas)?))
    }

    fn stmt(&self, sql: &str) -> Result<CachedStatement<'_>, StoreError> {
        #[cfg(test)]
        self.seen.borrow_mut().insert(sql.to_owned());
        Ok(self.conn.prepare_cached(sql)?)
    }

    /// Runs `f` in one read transaction (one snapshot for a count and its page).
    fn snapshot<T>(&self, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        if !self.conn.is_autocommit() {
            return f();
        }
        let tx = self.conn.unchecked_transaction()?;
        let out = f()?;
        tx.finish()?;
        Ok(out)
    }

    /// One page of `SELECT columns FROM table WHERE ... ORDER BY order`, with the exact total,
    /// read in one snapshot.
    fn page<T>(
        &self,
        table: &str,
        columns: &str,
        w: &Where,
        order: &str,
        (limit, offset): (i64, i64),
        row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Page<T>, StoreError> {
        self.snapshot(|| {
            let total = self.count(&format!("SELECT count(*) FROM {table}{}", w.sql), &w.params)?;
            if u64::try_from(offset).unwrap_or(0) >= total {
                return Ok(Page { items: Vec::new(), total });
            }
            let sql =
                format!("SELECT {columns} FROM {table}{} ORDER BY {order} LIMIT ? OFFSET ?", w.sql);
            let mut params = w.params.clone();
            params.extend([Value::Integer(limit), Value::Integer(offset)]);
            let items = self
                .stmt(&sql)?
                .query_map(params_from_iter(&params), row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Page { items, total })
        })
    }

    fn count(&self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let n: i64 = self.stmt(sql)?.query_row(params_from_iter(params), |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Runs matching `filter`, newest first (by id; by creation time when `since` or `until` is
    /// given), with the exact total count.
    pub fn runs(&self, filter: &RunFilter) -> Result<Page<RunRow>, StoreError> {
        let Some(w) = run_where(filter) else { return Ok(Page::empty()) };
        let (limit, offset) = page_bounds(filter.limit, filter.offset);
        // With a time range, newest first by creation time (the order of the range's index);
        // otherwise by id. The two agree unless the clock went backwards.
        let order = if filter.since.is_some() || filter.until.is_some() {
            "created_at DESC, id DESC"
        } else {
            "id DESC"
        };
        self.page("job_runs", RUN_COLUMNS, &w, order, (limit, offset), run_row)
    }

    /// One run.
    pub fn run(&self, id: i64) -> Result<Option<RunRow>, StoreError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM job_runs WHERE id = ?1");
        Ok(self.stmt(&sql)?.query_row([id], run_row).optional()?)
    }

    /// A job's last `n` runs (at most [`MAX_LIMIT`]), newest first.
    pub fn last_runs(&self, job: &str, n: u32) -> Result<Vec<RunRow>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM job_runs WHERE job_name = ?1 ORDER BY id DESC LIMIT ?2"
        );
        let rows = self
            .stmt(&sql)?
            .query_map(params![job, n.min(MAX_LIMIT)], run_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The job's latest run before `before_id` that completed: SUCCESS, FAILED or SKIPPED
    /// (three index look-ups, however many runs lie in between).
    pub fn previous_completed_run(
        &self,
        job: &str,
        before_id: i64,
    ) -> Result<Option<RunRow>, StoreError> {
        let prev = |status: &str| {
            format!(
                "coalesce((SELECT max(id) FROM job_runs WHERE job_name = ?1 AND status = \
                 '{status}' AND id < ?2), 0)"
            )
        };
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM job_runs WHERE id = max({}, {}, {})",
            prev("SUCCESS"),
            prev("FAILED"),
            prev("SKIPPED")
        );
        Ok(self.stmt(&sql)?.query_row(params![job, before_id], run_row).optional()?)
    }

    /// Log lines matching `filter`, with the total count. One run's lines come in `seq` order;
    /// lines of several runs come newest run first, each run in `seq` order.
    pub fn logs(&self, filter: &LogFilter) -> Result<Page<StoredLine>, StoreError> {
        let w = log_where(filter);
        let (limit, offset) = page_bounds(filter.limit, filter.offset);
        let order = if filter.run_id.is_some() {
            "run_logs.seq"
        } else if filter.after_id.is_some() && filter.job.is_none() {
            // New lines of every run: search the rowid range and sort those few, rather than
            // walk the whole (run_id, seq) index for them (`+` keeps the planner off it).
            "+run_logs.run_id DESC, run_logs.seq"
        } else {
            "run_logs.run_id DESC, run_logs.seq"
        };
        self.page("run_logs", LOG_COLUMNS, &w, order, (limit, offset), log_row)
    }

    /// Up to `limit` lines of a run (at most [`MAX_LIMIT`] × 10) with `seq` above `after_seq` and
    /// row id at most `up_to_id`, in `seq` order. Pass the last line's `seq` to get the next
    /// chunk; an empty chunk is the end.
    pub fn log_chunk(
        &self,
        run_id: i64,
        after_seq: i64,
        up_to_id: i64,
        limit: u32,
    ) -> Result<Vec<StoredLine>, StoreError> {
        let sql = format!(
            "SELECT {LOG_COLUMNS} FROM run_logs WHERE run_id = ?1 AND seq > ?2 AND id <= ?3 \
             ORDER BY seq LIMIT ?4"
        );
        let limit = limit.clamp(1, MAX_LIMIT * 10);
        let rows = self
            .stmt(&sql)?
            .query_map(params![run_id, after_seq, up_to_id, limit], log_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Where a client that wants a run's last `n` lines starts: the position before the `n`-th
    /// last line (the healthcheck's lines not counted unless `with_hc`), 0 when the run has
    /// fewer, and the last position when `n` is 0.
    pub fn log_tail_start(&self, run_id: i64, n: u32, with_hc: bool) -> Result<i64, StoreError> {
        if n == 0 {
            let sql = "SELECT coalesce(max(seq), 0) FROM run_logs WHERE run_id = ?1";
            return Ok(self.stmt(sql)?.query_row([run_id], |row| row.get(0))?);
        }
        let sql = "SELECT seq FROM run_logs WHERE run_id = ?1 AND (?2 OR stream != 'healthcheck') \
                   ORDER BY seq DESC LIMIT 1 OFFSET ?3";
        let nth: Option<i64> = self
            .stmt(sql)?
            .query_row(params![run_id, with_hc, n - 1], |row| row.get(0))
            .optional()?;
        Ok(nth.map_or(0, |seq| seq - 1))
    }

    /// The position (`seq`) of a run's last line with row id at most `id` (0 if none): where a
    /// client that has every line up to row `id` resumes.
    pub fn log_seq_at(&self, run_id: i64, id: i64) -> Result<i64, StoreError> {
        let sql = "SELECT coalesce(max(seq), 0) FROM run_logs WHERE run_id = ?1 AND id <= ?2";
        Ok(self.stmt(sql)?.query_row(params![run_id, id], |row| row.get(0))?)
    }

    /// The first `limit` lines of a run with row id in `(after_id, up_to_id]`, in id (commit)
    /// order: what a live subscriber missed between two subscriptions.
    pub fn log_id_range(
        &self,
        run_id: i64,
        after_id: i64,
        up_to_id: i64,
        limit: u32,
    ) -> Result<Vec<StoredLine>, StoreError> {
        let sql = format!(
            "SELECT {LOG_COLUMNS} FROM run_logs WHERE run_id = ?1 AND id > ?2 AND id <= ?3 \
             ORDER BY id LIMIT ?4"
        );
        let limit = limit.clamp(1, MAX_LIMIT * 10);
        let rows = self
            .stmt(&sql)?
            .query_map(params![run_id, after_id, up_to_id, limit], log_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The outputs a run captured, in capture order.
    pub fn outputs_by_run(&self, run_id: i64) -> Result<Vec<OutputRow>, StoreError> {
        let sql = format!("SELECT {OUTPUT_COLUMNS} FROM run_outputs WHERE run_id = ?1 ORDER BY id");
        let rows =
            self.stmt(&sql)?.query_map([run_id], output_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The outputs of a dependency cycle, in capture order.
    pub fn outputs_by_cycle(&self, cycle_id: &str) -> Result<Vec<OutputRow>, StoreError> {
        let sql =
            format!("SELECT {OUTPUT_COLUMNS} FROM run_outputs WHERE cycle_id = ?1 ORDER BY id");
        let rows =
            self.stmt(&sql)?.query_map([cycle_id], output_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Outputs, newest first, optionally of one job, cycle and/or run, with the total count.
    pub fn outputs(
        &self,
        job: Option<&str>,
        cycle_id: Option<&str>,
        run_id: Option<i64>,
        limit: u32,
        offset: u32,
    ) -> Result<Page<OutputRow>, StoreError> {
        let mut w = Where::default();
        if let Some(job) = job {
            w.push("job_name = ?", [job_value(job)]);
        }
        if let Some(c) = cycle_id {
            w.push("cycle_id = ?", [Value::Text(c.to_owned())]);
        }
        if let Some(r) = run_id {
            w.push("run_id = ?", [Value::Integer(r)]);
        }
        if w.params.is_empty() {
            w.push("id > 0", []);
        }
        let (limit, offset) = page_bounds(limit, offset);
        self.page("run_outputs", OUTPUT_COLUMNS, &w, "id DESC", (limit, offset), output_row)
    }

    /// Alerts, newest first, optionally of one job and/or one status (`delivered`, `failed`,
    /// `pending`), with the total count.
    pub fn alerts(
        &self,
        job: Option<&str>,
        status: Option<&str>,
        limit: u32,
        offset: u32,
    ) -> Result<Page<AlertRow>, StoreError> {
        let mut w = Where::default();
        if let Some(job) = job {
            w.push("job_name = ?", [Value::Text(job.to_owned())]);
        }
        if let Some(status) = status {
            w.push("status = ?", [Value::Text(status.to_owned())]);
        }
        if w.params.is_empty() {
            // Newest first from the end of the rowid b-tree, as a range the plan shows.
            w.push("id > 0", []);
        }
        let (limit, offset) = page_bounds(limit, offset);
        self.page("alerts", ALERT_COLUMNS, &w, "id DESC", (limit, offset), alert_row)
    }

    /// One alert.
    pub fn alert(&self, id: i64) -> Result<Option<AlertRow>, StoreError> {
        let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1");
        Ok(self.stmt(&sql)?.query_row([id], alert_row).optional()?)
    }

    /// The alerts still to deliver (`pending`), oldest first, at most `limit`.
    pub fn pending_alerts(&self, limit: u32) -> Result<Vec<AlertRow>, StoreError> {
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE status = 'pending' ORDER BY id LIMIT ?1"
        );
        let rows = self.stmt(&sql)?.query_map([limit], alert_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The newest alert whose channel starts with `<prefix>:` and that was attempted at least
    /// once: an integration's last delivery.
    pub fn last_delivery(&self, prefix: &str) -> Result<Option<AlertRow>, StoreError> {
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts
             WHERE channel >= ?1 AND channel < ?2 AND attempts > 0
             ORDER BY id DESC LIMIT 1"
        );
        // Every channel that starts with `<prefix>:` sorts between it and `<prefix>;`.
        let (from, to) = (format!("{prefix}:"), format!("{prefix};"));
        Ok(self.stmt(&sql)?.query_row(params![from, to], alert_row).optional()?)
    }

    /// One job's state row.
    pub fn job_state(&self, job: &str) -> Result<Option<JobStateRow>, StoreError> {
        let sql = format!("SELECT {JOB_STATE_COLUMNS} FROM job_state WHERE job_name = ?1");
        Ok(self.stmt(&sql)?.query_row([job], job_state_row).optional()?)
    }

    /// Every job's state row, by name (one row per job: bounded by the configuration).
    pub fn job_states(&self) -> Result<Vec<JobStateRow>, StoreError> {
        let sql = format!("SELECT {JOB_STATE_COLUMNS} FROM job_state ORDER BY job_name");
        let rows = self.stmt(&sql)?.query_map([], job_state_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// For each tag and its jobs (resolved by the caller from husky.yaml): how many runs and
    /// failed runs those jobs have, and the latest of their runs. Each job is counted once,
    /// through the job indexes, however many tags it carries.
    pub fn tag_counts(&self, tags: &[(String, Vec<String>)]) -> Result<Vec<TagCount>, StoreError> {
        self.snapshot(|| {
            let mut per_job: HashMap<&str, JobCount> = HashMap::new();
            let mut out = Vec::with_capacity(tags.len());
            for (tag, jobs) in tags {
                let mut names: Vec<&str> = jobs.iter().map(String::as_str).collect();
                names.sort_unstable();
                names.dedup();
                let mut count = TagCount {
                    tag: tag.clone(),
                    jobs: names.len() as u64,
                    runs: 0,
                    failed: 0,
                    last_run_id: None,
                    last_status: None,
                };
                for name in names {
                    let c = match per_job.get(name) {
                        Some(c) => *c,
                        None => {
                            let c = self.job_count(name)?;
                            per_job.insert(name, c);
                            c
                        }
                    };
                    count.runs += c.runs;
                    count.failed += c.failed;
                    if let Some((id, status)) = c.last
                        && count.last_run_id.is_none_or(|l| id > l)
                    {
                        count.last_run_id = Some(id);
                        count.last_status = Some(status);
                    }
                }
                out.push(count);
            }
            Ok(out)
        })
    }

    fn job_count(&self, job: &str) -> Result<JobCount, StoreError> {
        let runs =
            self.count("SELECT count(*) FROM job_runs WHERE job_name = ?1", &[job_value(job)])?;
        let failed = self.count(
            "SELECT count(*) FROM job_runs WHERE job_name = ?1 AND status = 'FAILED'",
            &[job_value(job)],
        )?;
        let last = self
            .stmt("SELECT id, status FROM job_runs WHERE job_name = ?1 ORDER BY id DESC LIMIT 1")?
            .query_row([job], |r| Ok((r.get::<_, i64>(0)?, status_at(r, 1)?)))
            .optional()?;
        Ok(JobCount { runs, failed, last })
    }

    /// Page counts from the pragmas and exact row counts (`count(*)` walks the smallest index).
    pub fn db_stats(&self) -> Result<DbStats, StoreError> {
        self.snapshot(|| {
            let pragma = |name: &str| -> Result<u64, StoreError> {
                let n: i64 = self.stmt(&format!("PRAGMA {name}"))?.query_row([], |r| r.get(0))?;
                Ok(u64::try_from(n).unwrap_or(0))
            };
            Ok(DbStats {
                page_size: pragma("page_size")?,
                page_count: pragma("page_count")?,
                freelist_count: pragma("freelist_count")?,
                runs: self.count("SELECT count(*) FROM job_runs", &[])?,
                log_lines: self.count("SELECT count(*) FROM run_logs", &[])?,
            })
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct JobCount {
    runs: u64,
    failed: u64,
    last: Option<(i64, RunStatus)>,
}

fn job_value(job: &str) -> Value {
    Value::Text(job.to_owned())
}

/// A WHERE clause and its parameters.
#[derive(Debug, Default, Clone)]
struct Where {
    sql: String,
    params: Vec<Value>,
}

impl Where {
    fn push(&mut self, cond: &str, params: impl IntoIterator<Item = Value>) {
        self.sql.push_str(if self.sql.is_empty() { " WHERE " } else { " AND " });
        self.sql.push_str(cond);
        self.params.extend(params);
    }

    /// `column IN (?, ?, ...)`.
    fn push_in(&mut self, column: &str, values: Vec<Value>) {
        let marks = vec!["?"; values.len()].join(", ");
        self.push(&format!("{column} IN ({marks})"), values);
    }
}

/// The WHERE clause of [`Reader::runs`]; `None` when an empty set makes it match nothing.
fn run_where(f: &RunFilter) -> Option<Where> {
    let mut w = Where::default();
    // Whether a condition can be looked up in an index.
    let mut indexed = false;
    if let Some(job) = &f.job {
        w.push("job_name = ?", [job_value(job)]);
        indexed = true;
    }
    if let Some(jobs) = &f.jobs {
        let mut jobs: Vec<&String> = jobs.iter().collect();
        jobs.sort_unstable();
        jobs.dedup();
        if jobs.is_empty() {
            return None;
        }
        w.push_in("job_name", jobs.into_iter().map(|j| job_value(j)).collect());
        indexed = true;
    }
    if let Some(status) = f.status {
        w.push("status = ?", [Value::Text(status.as_str().into())]);
        indexed = true;
    }
    if let Some(statuses) = &f.statuses {
        let mut statuses: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
        statuses.sort_unstable();
        statuses.dedup();
        if statuses.is_empty() {
            return None;
        }
        w.push_in("status", statuses.into_iter().map(|s| Value::Text(s.into())).collect());
        indexed = true;
    }
    if let Some(trigger) = f.trigger {
        w.push("trigger = ?", [Value::Text(trigger.as_str().into())]);
        indexed = true;
    }
    if let Some(cycle) = &f.cycle_id {
        w.push("cycle_id = ?", [Value::Text(cycle.clone())]);
        indexed = true;
    }
    if f.since.is_some() || f.until.is_some() {
        // Always both bounds: with one, SQLite prefers walking every run newest first and
        // testing created_at (a full walk when few match); with a range it takes
        // `idx_job_runs_created` and sorts what matches, no more than the count visits anyway.
        let since = f.since.map_or_else(|| "0000-01-01T00:00:00.000Z".to_owned(), ts);
        let until = f.until.map_or_else(|| "9999-12-31T23:59:59.999Z".to_owned(), ts);
        w.push("created_at BETWEEN ? AND ?", [Value::Text(since), Value::Text(until)]);
        indexed = true;
    }
    match f.sla_breached {
        // A literal, so the partial index `idx_job_runs_sla` applies.
        Some(true) => {
            w.push("sla_breached = 1", []);
            indexed = true;
        }
        Some(false) => w.push("sla_breached = 0", []),
        None => {}
    }
    if let Some(reason) = &f.reason {
        w.push("reason LIKE ? ESCAPE '\\'", [Value::Text(like_pattern(reason))]);
    }
    if !indexed {
        // Nothing to look up: walk the rowid b-tree from the newest run (what ORDER BY id DESC
        // does anyway), written as a range so the plan shows it.
        w.push("id > 0", []);
    }
    Some(w)
}

/// The WHERE clause of [`Reader::logs`].
fn log_where(f: &LogFilter) -> Where {
    let mut w = Where::default();
    let mut indexed = false;
    if let Some(run_id) = f.run_id {
        w.push("run_logs.run_id = ?", [Value::Integer(run_id)]);
        indexed = true;
    }
    if let Some(job) = &f.job {
        w.push("run_logs.run_id IN (SELECT id FROM job_runs WHERE job_name = ?)", [job_value(job)]);
        indexed = true;
    }
    if let Some(stream) = f.stream {
        w.push("run_logs.stream = ?", [Value::Text(stream.as_str().into())]);
    }
    if f.hide_healthcheck {
        w.push("run_logs.stream <> ?", [Value::Text(Stream::Healthcheck.as_str().into())]);
    }
    if let Some(q) = &f.q {
        w.push("run_logs.line LIKE ? ESCAPE '\\'", [Value::Text(like_pattern(q))]);
    }
    if let Some(after) = f.after_id {
        w.push("run_logs.id > ?", [Value::Integer(after)]);
        indexed = true;
    }
    if let Some(up_to) = f.up_to_id {
        w.push("run_logs.id <= ?", [Value::Integer(up_to)]);
        indexed = true;
    }
    if !indexed {
        // Across all runs: walk the (run_id, seq) index from the newest run.
        w.push("run_logs.run_id > 0", []);
    }
    w
}

/// `%text%` with LIKE's wildcards and the escape character escaped.
fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// `(limit, offset)` as bound: 0 means the default, capped at the maximum.
fn page_bounds(limit: u32, offset: u32) -> (i64, i64) {
    let limit = if limit == 0 { DEFAULT_LIMIT } else { limit.min(MAX_LIMIT) };
    (i64::from(limit), i64::from(offset))
}

fn conversion(i: usize, what: &str, text: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        i,
        Type::Text,
        format!("unknown {what} {text:?} in the database").into(),
    )
}

fn status_at(r: &Row<'_>, i: usize) -> rusqlite::Result<RunStatus> {
    let text = r.get_ref(i)?.as_str()?;
    RunStatus::parse(text).ok_or_else(|| conversion(i, "run status", text))
}

fn run_row(r: &Row<'_>) -> rusqlite::Result<RunRow> {
    let trigger = {
        let text = r.get_ref(5)?.as_str()?;
        Trigger::parse(text).ok_or_else(|| conversion(5, "trigger", text))?
    };
    Ok(RunRow {
        id: r.get(0)?,
        job_name: r.get(1)?,
        status: status_at(r, 2)?,
        status_reason: r.get(3)?,
        attempt: r.get(4)?,
        trigger,
        triggered_by: r.get(6)?,
        reason: r.get(7)?,
        cycle_id: r.get(8)?,
        created_at: r.get(9)?,
        started_at: r.get(10)?,
        finished_at: r.get(11)?,
        retry_at: r.get(12)?,
        exit_code: r.get(13)?,
        signal: r.get(14)?,
        pid: r.get(15)?,
        pid_start: r.get(16)?,
        duration_ms: r.get(17)?,
        cpu_user_ms: r.get(18)?,
        cpu_sys_ms: r.get(19)?,
        max_rss_kb: r.get(20)?,
        sla_breached: r.get::<_, i64>(21)? != 0,
        hc_status: r.get(22)?,
        log_lines: count_at(r, 23)?,
        log_bytes: count_at(r, 24)?,
        log_omitted_lines: count_at(r, 25)?,
        log_omitted_bytes: count_at(r, 26)?,
        log_dropped_lines: count_at(r, 27)?,
        logs_pruned_at: r.get(28)?,
    })
}

/// A non-negative count column (a negative one, which the writer never stores, reads as 0).
fn count_at(r: &Row<'_>, i: usize) -> rusqlite::Result<u64> {
    Ok(u64::try_from(r.get::<_, i64>(i)?).unwrap_or(0))
}

fn log_row(r: &Row<'_>) -> rusqlite::Result<StoredLine> {
    let stream = {
        let text = r.get_ref(3)?.as_str()?;
        Stream::parse(text).ok_or_else(|| conversion(3, "log stream", text))?
    };
    Ok(StoredLine {
        id: r.get(0)?,
        run_id: r.get(1)?,
        seq: r.get(2)?,
        stream,
        line: r.get(4)?,
        ts: r.get(5)?,
    })
}

fn output_row(r: &Row<'_>) -> rusqlite::Result<OutputRow> {
    Ok(OutputRow {
        id: r.get(0)?,
        run_id: r.get(1)?,
        job_name: r.get(2)?,
        var_name: r.get(3)?,
        value: r.get(4)?,
        cycle_id: r.get(5)?,
        created_at: r.get(6)?,
    })
}

fn alert_row(r: &Row<'_>) -> rusqlite::Result<AlertRow> {
    Ok(AlertRow {
        id: r.get(0)?,
        job_name: r.get(1)?,
        run_id: r.get(2)?,
        event: r.get(3)?,
        channel: r.get(4)?,
        status: r.get(5)?,
        attempts: r.get(6)?,
        last_attempt_at: r.get(7)?,
        error: r.get(8)?,
        sent_at: r.get(9)?,
        payload: r.get(10)?,
    })
}

fn job_state_row(r: &Row<'_>) -> rusqlite::Result<JobStateRow> {
    let last_status = match r.get_ref(4)?.as_str_or_null()? {
        Some(text) => {
            Some(RunStatus::parse(text).ok_or_else(|| conversion(4, "run status", text))?)
        }
        None => None,
    };
    Ok(JobStateRow {
        job_name: r.get(0)?,
        last_success: r.get(1)?,
        last_failure: r.get(2)?,
        last_run_id: r.get(3)?,
        last_status,
        next_run: r.get(5)?,
        paused: r.get::<_, i64>(6)? != 0,
        lock_pid: r.get(7)?,
        updated_at: r.get(8)?,
    })
}

#[cfg(test)]
mod tests {
    use rusqlite::params;
    use time::macros::datetime;

    use super::*;
    use crate::store::open_memory;

    /// A reader over an in-memory database with the schema; tests write through `reader.conn`.
    fn reader() -> Reader {
        Reader::new(open_memory().expect("memory db"))
    }

    fn insert_run(r: &Reader, job: &str, status: &str, created: &str) -> i64 {
        r.conn
            .execute(
                "INSERT INTO job_runs (job_name, status, trigger, created_at) \
                 VALUES (?1, ?2, 'schedule', ?3)",
                params![job, status, created],
            )
            .expect("insert run");
        r.conn.last_insert_rowid()
    }

    fn set(r: &Reader, id: i64, assignments: &str) {
        r.conn
            .execute(&format!("UPDATE job_runs SET {assignments} WHERE id = ?1"), [id])
            .expect("update run");
    }

    fn insert_line(r: &Reader, run_id: i64, seq: i64, stream: &str, line: &str) -> i64 {
        r.conn
            .execute(
                "INSERT INTO run_logs (run_id, seq, stream, line, ts) \
                 VALUES (?1, ?2, ?3, ?4, '2026-01-01T00:00:00.000Z')",
                params![run_id, seq, stream, line],
            )
            .expect("insert line");
        r.conn.last_insert_rowid()
    }

    fn ids<T>(page: &Page<T>, id: impl Fn(&T) -> i64) -> Vec<i64> {
        page.items.iter().map(id).collect()
    }

    fn run_ids(r: &Reader, filter: &RunFilter) -> (Vec<i64>, u64) {
        let page = r.runs(filter).expect("runs");
        (ids(&page, |row| row.id), page.total)
    }

    /// Ten runs of three jobs with assorted statuses, triggers, times, reasons and SLA flags.
    fn history() -> Reader {
        let r = reader();
        let runs = [
            ("build", "SUCCESS", "2026-01-01T00:00:00.000Z"), // 1
            ("build", "FAILED", "2026-01-02T00:00:00.000Z"),  // 2
            ("test", "SUCCESS", "2026-01-03T00:00:00.000Z"),  // 3
            ("deploy", "SKIPPED", "2026-01-04T00:00:00.000Z"), // 4
            ("build", "CANCELLED", "2026-01-05T00:00:00.000Z"), // 5
            ("test", "FAILED", "2026-01-06T00:00:00.000Z"),   // 6
            ("build", "RUNNING", "2026-01-07T00:00:00.000Z"), // 7
            ("deploy", "SUCCESS", "2026-01-08T00:00:00.000Z"), // 8
            ("test", "RETRYING", "2026-01-09T00:00:00.000Z"), // 9
            ("build", "PENDING", "2026-01-10T00:00:00.000Z"), // 10
        ];
        for (i, (job, status, created)) in runs.into_iter().enumerate() {
            assert_eq!(insert_run(&r, job, status, created), i as i64 + 1);
        }
        set(&r, 2, "trigger = 'manual', reason = 'Deploy HOTFIX 100%', sla_breached = 1");
        set(&r, 4, "trigger = 'dependency', reason = 'after:test'");
        set(&r, 5, "trigger = 'manual', reason = 'hotfix_1'");
        set(&r, 6, "sla_breached = 1, reason = 'catchup'");
        set(&r, 8, "trigger = 'dependency', reason = 'hotfix-1'");
        r
    }

    #[test]
    fn runs_filter_by_every_condition_newest_first_with_totals() {
        let r = history();
        let all = |f: RunFilter| run_ids(&r, &f);
        assert_eq!(all(RunFilter::default()), ((1..=10).rev().collect(), 10));
        assert_eq!(
            all(RunFilter { job: Some("build".into()), ..RunFilter::default() }),
            (vec![10, 7, 5, 2, 1], 5)
        );
        assert_eq!(
            all(RunFilter {
                jobs: Some(vec!["deploy".into(), "test".into(), "test".into()]),
                ..RunFilter::default()
            }),
            (vec![9, 8, 6, 4, 3], 5)
        );
        assert_eq!(all(RunFilter { jobs: Some(vec![]), ..RunFilter::default() }), (vec![], 0));
        assert_eq!(
            all(RunFilter { status: Some(RunStatus::Failed), ..RunFilter::default() }),
            (vec![6, 2], 2)
        );
        assert_eq!(
            all(RunFilter {
                statuses: Some(vec![RunStatus::Pending, RunStatus::Running, RunStatus::Retrying]),
                ..RunFilter::default()
            }),
            (vec![10, 9, 7], 3)
        );
        assert_eq!(all(RunFilter { statuses: Some(vec![]), ..RunFilter::default() }), (vec![], 0));
        assert_eq!(
            all(RunFilter { trigger: Some(Trigger::Manual), ..RunFilter::default() }),
            (vec![5, 2], 2)
        );
        assert_eq!(
            all(RunFilter { trigger: Some(Trigger::Dependency), ..RunFilter::default() }),
            (vec![8, 4], 2)
        );
        // since/until are inclusive.
        assert_eq!(
            all(RunFilter {
                since: Some(datetime!(2026-01-03 00:00 UTC)),
                until: Some(datetime!(2026-01-05 00:00 UTC)),
                ..RunFilter::default()
            }),
            (vec![5, 4, 3], 3)
        );
        assert_eq!(
            all(RunFilter { since: Some(datetime!(2026-01-09 00:00 UTC)), ..RunFilter::default() }),
            (vec![10, 9], 2)
        );
        assert_eq!(
            all(RunFilter {
                until: Some(datetime!(2026-01-01 23:00 -01:00)),
                ..RunFilter::default()
            }),
            (vec![2, 1], 2)
        );
        assert_eq!(
            all(RunFilter { sla_breached: Some(true), ..RunFilter::default() }),
            (vec![6, 2], 2)
        );
        assert_eq!(all(RunFilter { sla_breached: Some(false), ..RunFilter::default() }).1, 8);
        // Everything at once.
        assert_eq!(
            all(RunFilter {
                job: Some("build".into()),
                jobs: Some(vec!["build".into(), "test".into()]),
                status: Some(RunStatus::Failed),
                statuses: Some(vec![RunStatus::Failed, RunStatus::Success]),
                trigger: Some(Trigger::Manual),
                since: Some(datetime!(2026-01-02 00:00 UTC)),
                until: Some(datetime!(2026-01-02 00:00 UTC)),
                reason: Some("hotfix".into()),
                cycle_id: None,
                sla_breached: Some(true),
                limit: 5,
                offset: 0,
            }),
            (vec![2], 1)
        );
    }

    #[test]
    fn reason_search_is_case_insensitive_and_takes_wildcards_literally() {
        let r = history();
        let reason =
            |q: &str| run_ids(&r, &RunFilter { reason: Some(q.into()), ..RunFilter::default() });
        assert_eq!(reason("HotFix"), (vec![8, 5, 2], 3));
        assert_eq!(reason("hotfix_"), (vec![5], 1));
        assert_eq!(reason("100%"), (vec![2], 1));
        assert_eq!(reason("%"), (vec![2], 1));
        assert_eq!(reason("_"), (vec![5], 1));
        assert_eq!(reason("\\"), (vec![], 0));
        assert_eq!(reason("AFTER:"), (vec![4], 1));
        assert_eq!(reason(""), (vec![8, 6, 5, 4, 2], 5));
        assert_eq!(
            run_ids(
                &r,
                &RunFilter {
                    reason: Some("hotfix".into()),
                    job: Some("build".into()),
                    ..RunFilter::default()
                }
            ),
            (vec![5, 2], 2)
        );
    }

    #[test]
    fn runs_paginate_with_default_and_maximum_limits() {
        let r = history();
        let page = |limit, offset| {
            run_ids(
                &r,
                &RunFilter { job: Some("build".into()), limit, offset, ..RunFilter::default() },
            )
        };
        assert_eq!(page(2, 0), (vec![10, 7], 5));
        assert_eq!(page(2, 2), (vec![5, 2], 5));
        assert_eq!(page(2, 4), (vec![1], 5));
        assert_eq!(page(2, 5), (vec![], 5));
        assert_eq!(page(2, u32::MAX), (vec![], 5));

        r.conn
            .execute_batch(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1200)
                 INSERT INTO job_runs (job_name, trigger, created_at)
                 SELECT 'many', 'schedule', '2026-02-01T00:00:00.000Z' FROM n",
            )
            .expect("many runs");
        let many = |limit| {
            r.runs(&RunFilter { job: Some("many".into()), limit, ..RunFilter::default() })
                .expect("runs")
        };
        assert_eq!((many(0).items.len(), many(0).total), (100, 1200));
        assert_eq!(many(1000).items.len(), 1000);
        assert_eq!(many(5000).items.len(), 1000);
        assert_eq!(many(7).items.len(), 7);
    }

    #[test]
    fn run_rows_carry_every_column() {
        let r = history();
        set(
            &r,
            2,
            "status_reason = 'exit_code', attempt = 2, triggered_by = 'cli: hotfix', \
             cycle_id = 'c-1', started_at = '2026-01-02T00:00:01.000Z', \
             finished_at = '2026-01-02T00:00:03.500Z', retry_at = '2026-01-02T00:05:00.000Z', \
             exit_code = 3, signal = 9, pid = 4242, pid_start = 987654321, duration_ms = 2500, \
             cpu_user_ms = 10, cpu_sys_ms = 20, max_rss_kb = 3000, hc_status = 'warn', \
             log_lines = 5, log_bytes = 50, log_omitted_lines = 6, log_omitted_bytes = 60, \
             log_dropped_lines = 7, logs_pruned_at = '2026-03-01T00:00:00.000Z'",
        );
        let row = r.run(2).expect("run").expect("exists");
        assert_eq!(
            row,
            RunRow {
                id: 2,
                job_name: "build".into(),
                status: RunStatus::Failed,
                status_reason: Some("exit_code".into()),
                attempt: 2,
                trigger: Trigger::Manual,
                triggered_by: "cli: hotfix".into(),
                reason: Some("Deploy HOTFIX 100%".into()),
                cycle_id: Some("c-1".into()),
                created_at: "2026-01-02T00:00:00.000Z".into(),
                started_at: Some("2026-01-02T00:00:01.000Z".into()),
                finished_at: Some("2026-01-02T00:00:03.500Z".into()),
                retry_at: Some("2026-01-02T00:05:00.000Z".into()),
                exit_code: Some(3),
                signal: Some(9),
                pid: Some(4242),
                pid_start: Some(987_654_321),
                duration_ms: Some(2500),
                cpu_user_ms: Some(10),
                cpu_sys_ms: Some(20),
                max_rss_kb: Some(3000),
                sla_breached: true,
                hc_status: Some("warn".into()),
                log_lines: 5,
                log_bytes: 50,
                log_omitted_lines: 6,
                log_omitted_bytes: 60,
                log_dropped_lines: 7,
                logs_pruned_at: Some("2026-03-01T00:00:00.000Z".into()),
            }
        );
        let fresh = r.run(10).expect("run").expect("exists");
        assert_eq!(fresh.status, RunStatus::Pending);
        assert_eq!((fresh.attempt, fresh.triggered_by.as_str()), (1, "scheduler"));
        assert_eq!((fresh.started_at, fresh.exit_code, fresh.sla_breached), (None, None, false));
        assert_eq!(r.run(99).expect("run"), None);
    }

    #[test]
    fn last_runs_and_the_previous_completed_run() {
        let r = history();
        let last = |job, n| -> Vec<i64> {
            r.last_runs(job, n).expect("last").into_iter().map(|row| row.id).collect()
        };
        assert_eq!(last("build", 3), [10, 7, 5]);
        assert_eq!(last("build", 100), [10, 7, 5, 2, 1]);
        assert_eq!(last("build", 0), Vec::<i64>::new());
        assert_eq!(last("nope", 3), Vec::<i64>::new());

        let prev =
            |job, before| r.previous_completed_run(job, before).expect("prev").map(|row| row.id);
        // build: 1 SUCCESS, 2 FAILED, 5 CANCELLED, 7 RUNNING, 10 PENDING.
        assert_eq!(prev("build", 10), Some(2));
        assert_eq!(prev("build", 2), Some(1));
        assert_eq!(prev("build", 1), None);
        assert_eq!(prev("build", i64::MAX), Some(2));
        // deploy: 4 SKIPPED, 8 SUCCESS.
        assert_eq!(prev("deploy", 8), Some(4));
        assert_eq!(prev("deploy", 9), Some(8));
        // test: 3 SUCCESS, 6 FAILED, 9 RETRYING.
        assert_eq!(prev("test", 100), Some(6));
        assert_eq!(prev("nope", 100), None);
    }

    /// Runs 1 (build) and 2 (test) with interleaved lines; run 1's budget marker (seq 3) is
    /// written last.
    fn logs() -> Reader {
        let r = reader();
        insert_run(&r, "build", "SUCCESS", "2026-01-01T00:00:00.000Z");
        insert_run(&r, "test", "RUNNING", "2026-01-01T00:00:00.000Z");
        insert_run(&r, "build", "RUNNING", "2026-01-02T00:00:00.000Z");
        insert_line(&r, 1, 1, "stdout", "Compiling husky"); // id 1
        insert_line(&r, 2, 1, "stdout", "running 3 tests"); // 2
        insert_line(&r, 1, 2, "stderr", "warning: 100% unused_variable"); // 3
        insert_line(&r, 2, 2, "stderr", "test a ... FAILED"); // 4
        insert_line(&r, 1, 4, "stdout", "Finished release"); // 5
        insert_line(&r, 2, 3, "healthcheck", "ok"); // 6
        insert_line(&r, 1, 3, "husky", "husky: 10 line(s) omitted"); // 7
        insert_line(&r, 3, 1, "stdout", "Compiling again"); // 8
        r
    }

    fn log_ids(r: &Reader, f: &LogFilter) -> (Vec<i64>, u64) {
        let page = r.logs(f).expect("logs");
        (ids(&page, |l| l.id), page.total)
    }

    #[test]
    fn logs_of_one_run_come_in_seq_order() {
        let r = logs();
        let run1 = |f: LogFilter| log_ids(&r, &LogFilter { run_id: Some(1), ..f });
        assert_eq!(run1(LogFilter::default()), (vec![1, 3, 7, 5], 4));
        assert_eq!(
            run1(LogFilter { limit: 2, offset: 1, ..LogFilter::default() }),
            (vec![3, 7], 4)
        );
        assert_eq!(
            run1(LogFilter { stream: Some(Stream::Stderr), ..LogFilter::default() }),
            (vec![3], 1)
        );
        assert_eq!(run1(LogFilter { after_id: Some(3), ..LogFilter::default() }), (vec![7, 5], 2));
        assert_eq!(
            run1(LogFilter { up_to_id: Some(5), ..LogFilter::default() }),
            (vec![1, 3, 5], 3)
        );
        assert_eq!(
            run1(LogFilter { after_id: Some(1), up_to_id: Some(5), ..LogFilter::default() }),
            (vec![3, 5], 2)
        );
        let page =
            r.logs(&LogFilter { run_id: Some(1), limit: 1, ..LogFilter::default() }).expect("logs");
        assert_eq!(
            page.items,
            [StoredLine {
                id: 1,
                run_id: 1,
                seq: 1,
                stream: Stream::Stdout,
                line: "Compiling husky".into(),
                ts: "2026-01-01T00:00:00.000Z".into(),
            }]
        );
    }

    #[test]
    fn logs_search_is_case_insensitive_and_takes_wildcards_literally() {
        let r = logs();
        let q =
            |text: &str| log_ids(&r, &LogFilter { q: Some(text.into()), ..LogFilter::default() });
        assert_eq!(q("COMPILING"), (vec![8, 1], 2));
        assert_eq!(q("100%"), (vec![3], 1));
        assert_eq!(q("%"), (vec![3], 1));
        assert_eq!(q("compiling_husky"), (vec![], 0));
        assert_eq!(q("d_V"), (vec![3], 1));
        assert_eq!(q("_"), (vec![3], 1));
        assert_eq!(q("failed"), (vec![4], 1));
        assert_eq!(
            log_ids(
                &r,
                &LogFilter { q: Some("i".into()), run_id: Some(2), ..LogFilter::default() }
            ),
            (vec![2, 4], 2)
        );
    }

    #[test]
    fn logs_across_runs_come_newest_run_first_each_in_seq_order() {
        let r = logs();
        let all = |f: LogFilter| log_ids(&r, &f);
        assert_eq!(all(LogFilter::default()), (vec![8, 2, 4, 6, 1, 3, 7, 5], 8));
        assert_eq!(
            all(LogFilter { limit: 3, offset: 2, ..LogFilter::default() }),
            (vec![4, 6, 1], 8)
        );
        assert_eq!(
            all(LogFilter { job: Some("build".into()), ..LogFilter::default() }),
            (vec![8, 1, 3, 7, 5], 5)
        );
        assert_eq!(
            all(LogFilter {
                job: Some("build".into()),
                stream: Some(Stream::Stdout),
                ..LogFilter::default()
            }),
            (vec![8, 1, 5], 3)
        );
        assert_eq!(
            all(LogFilter { job: Some("test".into()), run_id: Some(1), ..LogFilter::default() }),
            (vec![], 0)
        );
        assert_eq!(
            all(LogFilter { stream: Some(Stream::Husky), ..LogFilter::default() }),
            (vec![7], 1)
        );
        assert_eq!(
            all(LogFilter { after_id: Some(5), ..LogFilter::default() }),
            (vec![8, 6, 7], 3)
        );
        assert_eq!(
            all(LogFilter { job: Some("nope".into()), ..LogFilter::default() }),
            (vec![], 0)
        );
    }

    #[test]
    fn backfill_streams_a_long_log_in_chunks_up_to_an_id() {
        let r = reader();
        insert_run(&r, "big", "RUNNING", "2026-01-01T00:00:00.000Z");
        insert_run(&r, "other", "RUNNING", "2026-01-01T00:00:00.000Z");
        r.conn
            .execute_batch(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
                 INSERT INTO run_logs (run_id, seq, stream, line, ts)
                 SELECT 1 + (i % 2), (i + 1) / 2, 'stdout', 'line ' || i, '2026-01-01T00:00:00.000Z'
                 FROM n",
            )
            .expect("lines");
        // Run 1 has the even i: seq 1..=2500, ids 2, 4, ..., 5000.
        let up_to = 4001;
        let backfill = |up_to: i64| -> Vec<StoredLine> {
            let mut all: Vec<StoredLine> = Vec::new();
            loop {
                let after = all.last().map_or(0, |l| l.seq);
                let chunk = r.log_chunk(1, after, up_to, BACKFILL_CHUNK).expect("chunk");
                if chunk.is_empty() {
                    return all;
                }
                all.extend(chunk);
            }
        };
        let lines = backfill(up_to);
        assert_eq!(lines.len(), 2000);
        assert!(lines.iter().all(|l| l.run_id == 1 && l.id <= up_to));
        assert!(lines.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
        assert_eq!((lines[0].seq, lines[1999].seq), (1, 2000));
        assert_eq!(backfill(i64::MAX).len(), 2500);
        assert_eq!(backfill(0).len(), 0);
        assert!(r.log_chunk(9, 0, i64::MAX, BACKFILL_CHUNK).expect("chunk").is_empty());
        let chunk = r.log_chunk(1, 10, i64::MAX, 5).expect("chunk");
        assert_eq!(chunk.iter().map(|l| l.seq).collect::<Vec<_>>(), [11, 12, 13, 14, 15]);
        assert_eq!(r.log_chunk(1, 2500, i64::MAX, 5).expect("chunk"), []);
    }

    #[test]
    fn outputs_by_run_and_by_cycle() {
        let r = history();
        for (run, var, cycle) in
            [(1, "version", "c1"), (3, "count", "c1"), (1, "sha", "c1"), (8, "url", "c2")]
        {
            r.conn
                .execute(
                    "INSERT INTO run_outputs (run_id, job_name, var_name, value, cycle_id, created_at) \
                     SELECT id, job_name, ?2, ?2 || '-value', ?3, created_at FROM job_runs WHERE id = ?1",
                    params![run, var, cycle],
                )
                .expect("output");
        }
        let vars = |rows: Vec<OutputRow>| rows.into_iter().map(|o| o.var_name).collect::<Vec<_>>();
        assert_eq!(vars(r.outputs_by_run(1).expect("outputs")), ["version", "sha"]);
        assert_eq!(vars(r.outputs_by_cycle("c1").expect("outputs")), ["version", "count", "sha"]);
        assert_eq!(vars(r.outputs_by_run(2).expect("outputs")), Vec::<String>::new());
        assert_eq!(
            r.outputs_by_cycle("c2").expect("outputs"),
            [OutputRow {
                id: 4,
                run_id: 8,
                job_name: "deploy".into(),
                var_name: "url".into(),
                value: "url-value".into(),
                cycle_id: "c2".into(),
                created_at: "2026-01-08T00:00:00.000Z".into(),
            }]
        );
    }

    #[test]
    fn alerts_filter_and_paginate_newest_first() {
        let r = history();
        for (job, run, status) in [
            ("build", Some(2), "delivered"),
            ("test", Some(6), "failed"),
            ("build", None, "pending"),
            ("build", Some(5), "failed"),
        ] {
            r.conn
                .execute(
                    "INSERT INTO alerts (job_name, run_id, event, channel, status, sent_at) \
                     VALUES (?1, ?2, 'on_failure', 'slack:#ops', ?3, '2026-01-10T00:00:00.000Z')",
                    params![job, run, status],
                )
                .expect("alert");
        }
        let alerts = |job, status, limit, offset| {
            let page = r.alerts(job, status, limit, offset).expect("alerts");
            (ids(&page, |a| a.id), page.total)
        };
        assert_eq!(alerts(None, None, 0, 0), (vec![4, 3, 2, 1], 4));
        assert_eq!(alerts(None, None, 2, 1), (vec![3, 2], 4));
        assert_eq!(alerts(Some("build"), None, 0, 0), (vec![4, 3, 1], 3));
        assert_eq!(alerts(None, Some("failed"), 0, 0), (vec![4, 2], 2));
        assert_eq!(alerts(Some("build"), Some("failed"), 0, 0), (vec![4], 1));
        assert_eq!(alerts(Some("nope"), None, 0, 0), (vec![], 0));
        let row = r.alerts(None, Some("pending"), 0, 0).expect("alerts").items.remove(0);
        assert_eq!(
            row,
            AlertRow {
                id: 3,
                job_name: "build".into(),
                run_id: None,
                event: "on_failure".into(),
                channel: "slack:#ops".into(),
                status: "pending".into(),
                attempts: 1,
                last_attempt_at: None,
                error: None,
                sent_at: "2026-01-10T00:00:00.000Z".into(),
                payload: None,
            }
        );
    }

    #[test]
    fn job_states_one_and_all() {
        let r = reader();
        r.conn
            .execute_batch(
                "INSERT INTO job_state (job_name, last_success, last_run_id, last_status, paused, lock_pid)
                 VALUES ('build', '2026-01-01T00:00:00.000Z', 7, 'SUCCESS', 1, 4242);
                 INSERT INTO job_state (job_name) VALUES ('alpha');",
            )
            .expect("state");
        let build = r.job_state("build").expect("state").expect("exists");
        assert_eq!(
            build,
            JobStateRow {
                job_name: "build".into(),
                last_success: Some("2026-01-01T00:00:00.000Z".into()),
                last_failure: None,
                last_run_id: Some(7),
                last_status: Some(RunStatus::Success),
                next_run: None,
                paused: true,
                lock_pid: Some(4242),
                updated_at: None,
            }
        );
        assert_eq!(r.job_state("nope").expect("state"), None);
        let all = r.job_states().expect("states");
        assert_eq!(all.iter().map(|s| s.job_name.as_str()).collect::<Vec<_>>(), ["alpha", "build"]);
        assert_eq!((all[0].last_status, all[0].paused), (None, false));
    }

    #[test]
    fn tag_counts_sum_the_jobs_of_each_tag() {
        let r = history();
        let tags = vec![
            ("ci".to_string(), vec!["build".to_string(), "test".to_string(), "build".to_string()]),
            ("release".to_string(), vec!["deploy".to_string(), "gone".to_string()]),
            ("empty".to_string(), vec![]),
        ];
        let counts = r.tag_counts(&tags).expect("tags");
        assert_eq!(
            counts,
            [
                TagCount {
                    tag: "ci".into(),
                    jobs: 2,
                    runs: 8,
                    failed: 2,
                    last_run_id: Some(10),
                    last_status: Some(RunStatus::Pending),
                },
                TagCount {
                    tag: "release".into(),
                    jobs: 2,
                    runs: 2,
                    failed: 0,
                    last_run_id: Some(8),
                    last_status: Some(RunStatus::Success),
                },
                TagCount {
                    tag: "empty".into(),
                    jobs: 0,
                    runs: 0,
                    failed: 0,
                    last_run_id: None,
                    last_status: None,
                },
            ]
        );
    }

    #[test]
    fn db_stats_count_pages_and_rows() {
        let r = logs();
        let s = r.db_stats().expect("stats");
        assert_eq!((s.runs, s.log_lines), (3, 8));
        assert!(s.page_size >= 512 && s.page_count > 0, "{s:?}");
        assert_eq!(s.used_bytes(), (s.page_count - s.freelist_count) * s.page_size);
        assert!(s.file_bytes() >= s.used_bytes());
    }

    #[test]
    fn reads_a_file_database_through_a_read_only_connection() {
        let dir = std::env::temp_dir().join(format!("husky-query-open-{}", std::process::id()));
        let path = dir.join("husky.db");
        let writer = crate::store::open_writer(&path, Pragmas::default()).expect("writer");
        writer
            .execute(
                "INSERT INTO job_runs (job_name, trigger, created_at) \
                 VALUES ('a', 'manual', '2026-01-01T00:00:00.000Z')",
                [],
            )
            .expect("insert");
        let r = Reader::open(&path, Pragmas::default()).expect("reader");
        assert_eq!(r.last_runs("a", 5).expect("runs").len(), 1);
        assert_eq!(r.runs(&RunFilter::default()).expect("runs").total, 1);
        drop((r, writer));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Every statement the API prepares (`Reader::seen`), planned by SQLite: `job_runs`,
    /// `run_logs`, `run_outputs` and `alerts` are only ever searched or walked through an index,
    /// never scanned in full without one.
    #[test]
    fn every_query_uses_an_index() {
        let r = logs();
        let filters = run_filters();
        for f in &filters {
            r.runs(f).expect("runs");
        }
        for f in log_filters() {
            r.logs(&f).expect("logs");
        }
        r.run(1).expect("run");
        r.last_runs("build", 5).expect("last");
        r.previous_completed_run("build", 3).expect("prev");
        r.log_chunk(1, 0, 10, 10).expect("chunk");
        r.outputs_by_run(1).expect("outputs");
        r.outputs_by_cycle("c").expect("outputs");
        for (job, status) in
            [(None, None), (Some("a"), None), (None, Some("failed")), (Some("a"), Some("failed"))]
        {
            r.alerts(job, status, 10, 0).expect("alerts");
        }
        r.alert(1).expect("alert");
        r.pending_alerts(10).expect("pending");
        r.last_delivery("slack").expect("last delivery");
        r.job_state("build").expect("state");
        r.job_states().expect("states");
        r.tag_counts(&[("t".into(), vec!["build".into(), "test".into()])]).expect("tags");
        r.db_stats().expect("stats");

        let seen = r.seen.borrow().clone();
        assert!(seen.len() > 40, "only {} statements seen", seen.len());
        let mut failures = Vec::new();
        for sql in &seen {
            let plan = plan(&r.conn, sql);
            for line in &plan {
                let bare_scan = line.starts_with("SCAN ")
                    && !line.contains(" USING ")
                    && !["SCAN job_state", "SCAN CONSTANT ROW"].contains(&line.as_str());
                if bare_scan {
                    failures.push(format!("{sql}\n    {}", plan.join("\n    ")));
                }
            }
        }
        assert!(failures.is_empty(), "full scans:\n{}", failures.join("\n"));
    }

    /// Every combination of the indexed run conditions, each alone and with the others.
    fn run_filters() -> Vec<RunFilter> {
        let base = RunFilter::default();
        let one: Vec<fn(&mut RunFilter)> = vec![
            |f| f.job = Some("build".into()),
            |f| f.jobs = Some(vec!["build".into(), "test".into()]),
            |f| f.status = Some(RunStatus::Failed),
            |f| f.statuses = Some(vec![RunStatus::Failed, RunStatus::Success]),
            |f| f.trigger = Some(Trigger::Manual),
            |f| f.since = Some(datetime!(2026-01-01 00:00 UTC)),
            |f| f.until = Some(datetime!(2026-01-01 00:00 UTC)),
            |f| f.reason = Some("x".into()),
            |f| f.sla_breached = Some(true),
            |f| f.sla_breached = Some(false),
        ];
        let mut out = vec![base.clone()];
        for mask in 1u32..(1 << one.len()) {
            let mut f = base.clone();
            for (i, set) in one.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    set(&mut f);
                }
            }
            out.push(f);
        }
        out
    }

    fn log_filters() -> Vec<LogFilter> {
        let one: Vec<fn(&mut LogFilter)> = vec![
            |f| f.run_id = Some(1),
            |f| f.job = Some("build".into()),
            |f| f.stream = Some(Stream::Stdout),
            |f| f.q = Some("x".into()),
            |f| f.after_id = Some(1),
            |f| f.up_to_id = Some(100),
        ];
        (0u32..(1 << one.len()))
            .map(|mask| {
                let mut f = LogFilter::default();
                for (i, set) in one.iter().enumerate() {
                    if mask & (1 << i) != 0 {
                        set(&mut f);
                    }
                }
                f
            })
            .collect()
    }

    /// `EXPLAIN QUERY PLAN` of a statement, its parameters bound to NULL.
    fn plan(conn: &Connection, sql: &str) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).expect("explain");
        let nulls = vec![Value::Null; stmt.parameter_count()];
        stmt.query_map(params_from_iter(nulls), |row| row.get::<_, String>(3))
            .expect("plan")
            .collect::<Result<_, _>>()
            .expect("plan rows")
    }
}
