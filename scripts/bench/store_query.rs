//! Benchmark: read queries of the store on a year of history, against the raw SQLite floor.
//!
//! A temp-file database (made by `open_writer`: full schema, every index) holds 1,000,000
//! `job_runs` rows: 500 jobs (100 busy ones take 80% of the runs), ~88% SUCCESS, ~10% FAILED,
//! ~1% SKIPPED, ~1% CANCELLED and a few live runs at the end; triggers schedule (85%), dependency
//! (10%) and manual (5%); `created_at` one run every ~31.5 s over a year, ascending with the id as
//! in a real database; some reasons, ~1% SLA breaches. No `ANALYZE` (husky never runs it), so
//! SQLite plans as it would on a user's database.
//!
//! Measured through `husky::store::query::Reader`, median and worst over varied jobs / ranges:
//! - audit lists with two filters, LIMIT 100 (each call is the count and the page, in one read
//!   transaction): job + status, status + created range, trigger + status (target < 20 ms);
//! - a job's last 20 runs, `last_runs(job, 20)`, every job (target < 5 ms).
//!
//! The floor is the same SQL written by hand on a plain read-only rusqlite connection to the same
//! file: the page alone (`SELECT * ... ORDER BY id DESC LIMIT 100`, by created_at for a range) and, for the lists, the count
//! plus the page (what the Reader does). Each audit line ends with SQLite's plan of the count and
//! of the page.
//!
//! Run with `cargo bench --bench store_query`.

#![allow(clippy::disallowed_methods)] // a benchmark measures wall-clock time

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use husky::store::query::{Reader, RunFilter};
use husky::store::{Pragmas, RunStatus, Trigger, open_writer, ts};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, Row, params, params_from_iter};
use time::macros::datetime;
use time::{Duration as Span, OffsetDateTime};

const ROWS: u64 = 1_000_000;
const JOBS: u64 = 500;
/// Jobs `job-0` to `job-99` take 80% of the runs (~8,000 each), the other 400 ~500 each.
const BUSY_JOBS: u64 = 100;
/// Rows per insert transaction.
const TX_ROWS: u64 = 100_000;
/// Repetitions of each audit query.
const REPS: usize = 50;
/// The first run's creation time; the last is a year later.
const START: OffsetDateTime = datetime!(2025-06-01 00:00 UTC);
/// Milliseconds between two runs: a year over ROWS.
const STEP_MS: i64 = 365 * 86_400_000 / ROWS as i64;
const DAY_MS: i64 = 86_400_000;

/// xorshift64*: a small deterministic generator, so every run builds the same database.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// 0..n.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Stored-form timestamps (`husky::store::ts`) of instants `ms` after START, fast: each day's
/// date is formatted once by `ts`, the time of day by hand.
struct Stamps {
    days: Vec<String>,
}

impl Stamps {
    fn new() -> Stamps {
        let days = (0..400).map(|d| ts(START + Span::days(d))[..11].to_owned()).collect();
        let stamps = Stamps { days };
        for ms in [0, 1, 59_999, 3_600_000, DAY_MS - 1, 200 * DAY_MS + 12_345_678] {
            assert_eq!(stamps.at(ms), ts(START + Span::milliseconds(ms)), "{ms}");
        }
        stamps
    }

    fn at(&self, ms: i64) -> String {
        let (day, rest) = (ms / DAY_MS, ms % DAY_MS);
        format!(
            "{}{:02}:{:02}:{:02}.{:03}Z",
            self.days[day as usize],
            rest / 3_600_000,
            rest / 60_000 % 60,
            rest / 1000 % 60,
            rest % 1000
        )
    }
}

fn job(i: u64) -> String {
    format!("job-{i}")
}

fn fresh(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

const INSERT: &str = "INSERT INTO job_runs (job_name, status, status_reason, attempt, trigger, \
     triggered_by, reason, cycle_id, created_at, started_at, finished_at, exit_code, pid, \
     duration_ms, cpu_user_ms, cpu_sys_ms, max_rss_kb, sla_breached, log_lines, log_bytes) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
     ?19, ?20)";

/// Inserts run number `i` (1-based) of the history.
fn insert_run(stmt: &mut rusqlite::CachedStatement<'_>, i: u64, rng: &mut Rng, stamps: &Stamps) {
    let job_name = if rng.below(10) < 8 {
        job(rng.below(BUSY_JOBS))
    } else {
        job(BUSY_JOBS + rng.below(JOBS - BUSY_JOBS))
    };
    let roll = rng.below(1000);
    let status = match roll {
        // The newest few are still going.
        _ if ROWS - i < 20 => "RUNNING",
        _ if ROWS - i < 40 => "PENDING",
        0..880 => "SUCCESS",
        880..980 => "FAILED",
        980..990 => "SKIPPED",
        _ => "CANCELLED",
    };
    let status_reason = match status {
        "FAILED" if roll.is_multiple_of(7) => Some("timeout"),
        "FAILED" => Some("exit_code"),
        "SKIPPED" => Some("upstream_failed"),
        "CANCELLED" => Some("cancelled"),
        _ => None,
    };
    let attempt = if status == "FAILED" && roll.is_multiple_of(3) { 2 } else { 1 };
    let trigger = match rng.below(100) {
        0..85 => "schedule",
        85..95 => "dependency",
        _ => "manual",
    };
    let (triggered_by, reason) = match trigger {
        "manual" => (
            rng.pick(&["user:alice", "user:bob", "api:ci"]),
            (rng.below(2) == 0)
                .then(|| rng.pick(&["deploy hotfix", "rerun after fix", "backfill March"])),
        ),
        "schedule" => ("scheduler", (rng.below(100) == 0).then_some("catchup")),
        _ => ("scheduler", None),
    };
    let cycle_id = (trigger == "dependency").then(|| format!("cycle-{}", i / 8));
    let created = i as i64 * STEP_MS;
    let started = created + rng.below(2000) as i64;
    let duration = 200 + rng.below(600_000) as i64;
    let (started_at, finished_at, exit_code, duration_ms) = match status {
        "PENDING" => (None, None, None, None),
        "RUNNING" => (Some(stamps.at(started)), None, None, None),
        "SKIPPED" => (None, Some(stamps.at(created)), None, None),
        _ => (
            Some(stamps.at(started)),
            Some(stamps.at(started + duration)),
            Some(if status == "FAILED" { 1 + rng.below(2) as i64 } else { 0 }),
            Some(duration),
        ),
    };
    let ran = duration_ms.is_some();
    let log_lines = if ran { rng.below(500) as i64 } else { 0 };
    stmt.execute(params![
        job_name,
        status,
        status_reason,
        attempt,
        trigger,
        triggered_by,
        reason,
        cycle_id,
        stamps.at(created),
        started_at,
        finished_at,
        exit_code,
        ran.then(|| 1000 + rng.below(60_000) as i64),
        duration_ms,
        duration_ms.map(|d| d / 3),
        duration_ms.map(|d| d / 20),
        ran.then(|| 10_000 + rng.below(500_000) as i64),
        rng.below(100) == 0,
        log_lines,
        log_lines * 80,
    ])
    .expect("insert");
}

/// Fills the database; returns the build time.
fn build(path: &Path) -> Duration {
    let mut conn = open_writer(path, Pragmas::default()).expect("open");
    let start = Instant::now();
    // A bulk load: the schema's own job_runs indexes are dropped, and created again from their
    // SQL once the rows are in (one sort each rather than a million b-tree inserts each).
    let indexes: Vec<(String, String)> = conn
        .prepare(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'job_runs' \
             AND sql IS NOT NULL",
        )
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("indexes")
        .collect::<Result<_, _>>()
        .expect("indexes");
    assert!(indexes.len() >= 8, "{indexes:?}");
    // Settings of this connection only (none is stored in the file).
    conn.pragma_update(None, "cache_size", -262_144).expect("cache_size");
    conn.pragma_update(None, "wal_autocheckpoint", 0).expect("wal_autocheckpoint");
    conn.pragma_update(None, "synchronous", "OFF").expect("synchronous");
    for (name, _) in &indexes {
        conn.execute_batch(&format!("DROP INDEX {name}")).expect("drop index");
    }
    let stamps = Stamps::new();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut i = 0u64;
    while i < ROWS {
        let tx = conn.transaction().expect("tx");
        {
            let mut stmt = tx.prepare_cached(INSERT).expect("prepare");
            for _ in 0..TX_ROWS.min(ROWS - i) {
                i += 1;
                insert_run(&mut stmt, i, &mut rng, &stamps);
            }
        }
        tx.commit().expect("commit");
    }
    let tx = conn.transaction().expect("tx");
    for (_, sql) in &indexes {
        tx.execute_batch(sql).expect("create index");
    }
    tx.commit().expect("commit");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).expect("checkpoint");
    start.elapsed()
}

/// Median and worst of a set of timings, in milliseconds.
fn stats(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (ms(times[times.len() / 2]), ms(times[times.len() - 1]))
}

fn timed<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed(), out)
}

/// Every column of a row, as the Reader reads them.
fn all_columns(r: &Row<'_>) -> rusqlite::Result<Vec<Value>> {
    (0..r.as_ref().column_count()).map(|i| r.get::<_, Value>(i)).collect()
}

/// `EXPLAIN QUERY PLAN`, one line.
fn plan(conn: &Connection, sql: &str, params: &[Value]) -> String {
    conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("explain")
        .query_map(params_from_iter(params), |r| r.get::<_, String>(3))
        .expect("plan")
        .collect::<Result<Vec<_>, _>>()
        .expect("plan rows")
        .join("; ")
}

/// One audit case: the filter given to the Reader, and the same WHERE clause by hand.
struct Case {
    filter: RunFilter,
    sql_where: &'static str,
    params: Vec<Value>,
}

impl Case {
    fn count_sql(&self) -> String {
        format!("SELECT count(*) FROM job_runs WHERE {}", self.sql_where)
    }

    /// The page in the Reader's order: by creation time for a time range, else by id.
    fn page_sql(&self) -> String {
        let order = if self.sql_where.contains("created_at") {
            "created_at DESC, id DESC"
        } else {
            "id DESC"
        };
        format!("SELECT * FROM job_runs WHERE {} ORDER BY {order} LIMIT 100", self.sql_where)
    }
}

/// The floor: the page alone, or the count and the page in one read transaction, on a plain
/// connection. Returns the total (0 without the count) and the rows of the page.
fn raw(conn: &Connection, case: &Case, with_count: bool) -> (u64, usize) {
    let tx = conn.unchecked_transaction().expect("tx");
    let total = if with_count {
        let n: i64 = tx
            .prepare_cached(&case.count_sql())
            .expect("prepare")
            .query_row(params_from_iter(&case.params), |r| r.get(0))
            .expect("count");
        n as u64
    } else {
        0
    };
    let rows = tx
        .prepare_cached(&case.page_sql())
        .expect("prepare")
        .query_map(params_from_iter(&case.params), all_columns)
        .expect("query")
        .collect::<Result<Vec<_>, _>>()
        .expect("rows")
        .len();
    tx.finish().expect("finish");
    (total, rows)
}

fn report_audit(name: &str, reader: &Reader, conn: &Connection, cases: &[Case]) {
    let (mut api, mut page_only, mut count_page) = (Vec::new(), Vec::new(), Vec::new());
    let (mut rows, mut totals, mut max_total) = (0usize, 0u64, 0u64);
    for case in cases {
        let (t, page) = timed(|| reader.runs(&case.filter).expect("runs"));
        let (t_page, (_, n)) = timed(|| raw(conn, case, false));
        let (t_count, (total, _)) = timed(|| raw(conn, case, true));
        assert_eq!((page.items.len(), page.total), (n, total), "the Reader and the SQL agree");
        rows += n;
        totals += total;
        max_total = max_total.max(total);
        api.push(t);
        page_only.push(t_page);
        count_page.push(t_count);
    }
    let (med, worst) = stats(api);
    let (page_med, page_worst) = stats(page_only);
    let (count_med, count_worst) = stats(count_page);
    let first = &cases[0];
    println!(
        "store_query: runs({name}) LIMIT 100, {} cases (page avg {} rows; total avg {}, max \
         {max_total}): Reader median {med:.2} ms, worst {worst:.2} ms (target < 20 ms); raw SQL \
         count + page median {count_med:.2} ms, worst {count_worst:.2} ms; raw page alone median \
         {page_med:.2} ms, worst {page_worst:.2} ms [plan: count {}; page {}]",
        cases.len(),
        rows / cases.len(),
        totals / cases.len() as u64,
        plan(conn, &first.count_sql(), &first.params),
        plan(conn, &first.page_sql(), &first.params),
    );
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn main() {
    let dir = std::env::temp_dir().join(format!("husky-bench-query-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = fresh(&dir, "history.db");
    let built = build(&path);
    let bytes = std::fs::metadata(&path).expect("db file").len();
    println!(
        "store_query: built {ROWS} job_runs rows ({JOBS} jobs, a year) in {:.2} s (bulk insert, \
         then the schema's indexes); database file {:.1} MiB",
        built.as_secs_f64(),
        bytes as f64 / (1024.0 * 1024.0)
    );

    let reader = Reader::open(&path, Pragmas::default()).expect("reader");
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .expect("raw reader");
    let mut rng = Rng(42);

    // Job + status: busy and quiet jobs; mostly FAILED, some SKIPPED and SUCCESS.
    let statuses = [RunStatus::Failed, RunStatus::Failed, RunStatus::Skipped, RunStatus::Success];
    let job_status: Vec<Case> = (0..REPS)
        .map(|k| {
            let name = job(if k % 2 == 0 { rng.below(BUSY_JOBS) } else { rng.below(JOBS) });
            let status = statuses[k % statuses.len()];
            Case {
                params: vec![text(&name), text(status.as_str())],
                filter: RunFilter {
                    job: Some(name),
                    status: Some(status),
                    limit: 100,
                    ..RunFilter::default()
                },
                sql_where: "job_name = ?1 AND status = ?2",
            }
        })
        .collect();
    report_audit("job + status", &reader, &conn, &job_status);

    // Status + a created range: a day, a week or a month somewhere in the year.
    let statuses = [RunStatus::Failed, RunStatus::Cancelled, RunStatus::Failed, RunStatus::Success];
    let status_range: Vec<Case> = (0..REPS)
        .map(|k| {
            let days = [1, 7, 30][k % 3];
            let since = START + Span::days(rng.below(365 - days) as i64);
            let until = since + Span::days(days as i64);
            let status = statuses[k % statuses.len()];
            Case {
                filter: RunFilter {
                    status: Some(status),
                    since: Some(since),
                    until: Some(until),
                    limit: 100,
                    ..RunFilter::default()
                },
                sql_where: "status = ?1 AND created_at BETWEEN ?2 AND ?3",
                params: vec![text(status.as_str()), text(&ts(since)), text(&ts(until))],
            }
        })
        .collect();
    report_audit("status + since/until", &reader, &conn, &status_range);

    // Trigger + status.
    let pairs = [
        (Trigger::Manual, RunStatus::Failed),
        (Trigger::Schedule, RunStatus::Failed),
        (Trigger::Dependency, RunStatus::Skipped),
        (Trigger::Manual, RunStatus::Success),
        (Trigger::Schedule, RunStatus::Cancelled),
        (Trigger::Dependency, RunStatus::Failed),
    ];
    let trigger_status: Vec<Case> = (0..REPS)
        .map(|k| {
            let (trigger, status) = pairs[k % pairs.len()];
            Case {
                filter: RunFilter {
                    trigger: Some(trigger),
                    status: Some(status),
                    limit: 100,
                    ..RunFilter::default()
                },
                sql_where: "trigger = ?1 AND status = ?2",
                params: vec![text(trigger.as_str()), text(status.as_str())],
            }
        })
        .collect();
    report_audit("trigger + status", &reader, &conn, &trigger_status);

    // A job's last 20 runs, every job.
    let last_sql = "SELECT * FROM job_runs WHERE job_name = ?1 ORDER BY id DESC LIMIT 20";
    let (mut api, mut floor) = (Vec::new(), Vec::new());
    for j in 0..JOBS {
        let name = job(j);
        let (t, runs) = timed(|| reader.last_runs(&name, 20).expect("last runs"));
        let (t_raw, n) = timed(|| {
            conn.prepare_cached(last_sql)
                .expect("prepare")
                .query_map([&name], all_columns)
                .expect("query")
                .collect::<Result<Vec<_>, _>>()
                .expect("rows")
                .len()
        });
        assert_eq!((runs.len(), n), (20, 20));
        api.push(t);
        floor.push(t_raw);
    }
    let (med, worst) = stats(api);
    let (floor_med, floor_worst) = stats(floor);
    println!(
        "store_query: last_runs(job, 20), {JOBS} jobs: Reader median {med:.3} ms, worst \
         {worst:.3} ms (target < 5 ms); raw SQL median {floor_med:.3} ms, worst {floor_worst:.3} \
         ms [plan: {}]",
        plan(&conn, last_sql, &[text("job-0")]),
    );

    drop((reader, conn));
    let _ = std::fs::remove_dir_all(&dir);
}
