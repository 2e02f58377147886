//! `husky prune` end to end: a real database under `.husky/` (made through the library, rows
//! inserted with plain SQL at known ages), the real binary, and the rows counted before and after.
//! Dry runs change nothing, age and `keep_last_failures` rules, live runs kept, logs and outputs
//! going with their run while alerts stay, `--older-than`, `--format json`, the byte budget,
//! `storage.sqlite.path`, a missing database and a database from a newer husky.

use std::path::{Path, PathBuf};

use husky::clock::{Clock, SystemClock};
use husky::store::{Pragmas, open_writer, ts};
use rusqlite::{Connection, params};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use crate::util::TestDir;

const HUSKY_YAML: &str = "version: \"1\"\njobs:\n  build:\n    description: d\n    frequency: \
     hourly\n    command: echo build\n  deploy:\n    description: d\n    frequency: \
     after:build\n    command: echo deploy\n";

const DEFAULT_DB: &str = ".husky/husky.db";

/// A project with husky.yaml and the given huskyd.yaml, both valid.
fn project(huskyd: &str) -> TestDir {
    let dir = TestDir::new();
    dir.write("husky.yaml", HUSKY_YAML);
    dir.write("huskyd.yaml", huskyd);
    dir.husky(&["validate", "--strict"]).expect(0);
    dir
}

/// Retention by age (a day) only.
const DAY: &str = "storage:\n  retention:\n    max_age: 24h\n";

fn now() -> OffsetDateTime {
    SystemClock.now_utc()
}

/// A database through the library (schema, WAL, incremental vacuum), as the daemon makes it.
fn create_db(path: &Path) -> Connection {
    open_writer(path, Pragmas::default()).expect("open the database")
}

/// A run of `job` that finished `hours` ago (`None`: not finished), created an hour before.
fn run(conn: &Connection, job: &str, status: &str, hours: Option<i64>) -> i64 {
    let now = now();
    let finished = hours.map(|h| ts(now - Duration::hours(h)));
    let created = ts(now - Duration::hours(hours.unwrap_or(0) + 1));
    conn.execute(
        "INSERT INTO job_runs (job_name, status, trigger, created_at, started_at, finished_at) \
         VALUES (?1, ?2, 'schedule', ?3, ?3, ?4)",
        params![job, status, created, finished],
    )
    .expect("insert run");
    conn.last_insert_rowid()
}

/// `n` log lines of `bytes` bytes each for a run (and its log accounting).
fn logs(conn: &Connection, run_id: i64, n: i64, bytes: usize) {
    conn.execute(
        "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?2)
         INSERT INTO run_logs (run_id, seq, stream, line, ts)
         SELECT ?1, i, 'stdout', substr(printf('%08d ', i) || ?3, 1, ?4), ?5 FROM k",
        params![run_id, n, "x".repeat(bytes), bytes as i64, ts(now())],
    )
    .expect("insert log lines");
    conn.execute(
        "UPDATE job_runs SET log_lines = ?2, log_bytes = ?3 WHERE id = ?1",
        params![run_id, n, n * bytes as i64],
    )
    .expect("log accounting");
}

fn output(conn: &Connection, run_id: i64, var: &str) {
    conn.execute(
        "INSERT INTO run_outputs (run_id, job_name, var_name, value, cycle_id, created_at) \
         SELECT id, job_name, ?2, 'value', 'cycle-1', created_at FROM job_runs WHERE id = ?1",
        params![run_id, var],
    )
    .expect("insert output");
}

fn alert(conn: &Connection, run_id: i64) {
    conn.execute(
        "INSERT INTO alerts (job_name, run_id, event, channel, sent_at) \
         SELECT job_name, id, 'on_failure', 'slack:#ops', created_at FROM job_runs WHERE id = ?1",
        [run_id],
    )
    .expect("insert alert");
}

/// A fresh connection to look at the database after husky changed it.
fn open(path: &Path) -> Connection {
    Connection::open(path).expect("open the database")
}

fn count(path: &Path, sql: &str) -> i64 {
    open(path).query_row(sql, [], |r| r.get(0)).expect("count")
}

fn ids(path: &Path) -> Vec<i64> {
    open(path)
        .prepare("SELECT id FROM job_runs ORDER BY id")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("ids")
}

/// Every row of every table husky keeps, as text: equal snapshots mean nothing changed.
fn snapshot(path: &Path) -> Vec<String> {
    let conn = open(path);
    let mut out = Vec::new();
    for table in ["job_runs", "run_logs", "run_outputs", "alerts", "job_state"] {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {table} ORDER BY 1")).expect("select");
        let columns = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                (0..columns)
                    .map(|i| r.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}")))
                    .collect::<Result<Vec<_>, _>>()
            })
            .expect("query")
            .collect::<Result<Vec<_>, _>>()
            .expect("rows");
        out.extend(rows.into_iter().map(|r| format!("{table}: {}", r.join(", "))));
    }
    out
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// The keys of `husky prune --format json`, in the documented order (man/husky.1).
const JSON_KEYS: [&str; 7] =
    ["dry_run", "runs", "log_lines", "outputs", "logs_pruned_runs", "bytes_before", "bytes_after"];

/// `(runs, log_lines, outputs, logs_pruned_runs)` of a JSON report.
fn counts(v: &Value) -> (u64, u64, u64, u64) {
    let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} is not a count: {v}"));
    (n("runs"), n("log_lines"), n("outputs"), n("logs_pruned_runs"))
}

/// The database file's bytes and the files beside it.
#[derive(PartialEq, Eq)]
struct FileState {
    bytes: Vec<u8>,
    files: Vec<PathBuf>,
}

impl FileState {
    fn of(path: &Path) -> FileState {
        let bytes = std::fs::read(path).expect("read the database file");
        let dir = path.parent().expect("parent");
        // A read-only reader of a WAL database may leave SQLite's empty `-wal`/`-shm` side
        // files behind (it may not delete them); they hold no change, so they don't count.
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").path())
            .filter(|p| {
                let name = p.to_string_lossy();
                let side = name.ends_with("-wal") || name.ends_with("-shm");
                !(side
                    && std::fs::metadata(p).is_ok_and(|m| m.len() == 0 || name.ends_with("-shm")))
            })
            .collect();
        files.sort();
        FileState { bytes, files }
    }

    /// Asserts nothing changed; says where the bytes differ (not all of them).
    #[track_caller]
    fn assert_unchanged(&self, path: &Path, what: &str) {
        let now = FileState::of(path);
        assert_eq!(now.files, self.files, "{what}: files beside the database");
        let differ: Vec<String> = (0..self.bytes.len().max(now.bytes.len()))
            .filter(|&i| self.bytes.get(i) != now.bytes.get(i))
            .take(8)
            .map(|i| format!("{i}: {:?} -> {:?}", self.bytes.get(i), now.bytes.get(i)))
            .collect();
        assert!(
            differ.is_empty(),
            "{what}: the database file changed ({} -> {} bytes); first differing offsets: {}",
            self.bytes.len(),
            now.bytes.len(),
            differ.join(", ")
        );
    }
}

#[test]
fn dry_run_reports_what_would_go_and_changes_nothing() {
    let dir = project(DAY);
    let db = dir.path.join(DEFAULT_DB);
    let conn = create_db(&db);
    let old = run(&conn, "build", "SUCCESS", Some(48));
    logs(&conn, old, 3, 20);
    output(&conn, old, "version");
    alert(&conn, old);
    let recent = run(&conn, "build", "SUCCESS", Some(1));
    logs(&conn, recent, 2, 20);
    run(&conn, "build", "RUNNING", None);
    drop(conn);
    let before = snapshot(&db);
    let file_before = FileState::of(&db);

    let out = dir.husky(&["prune", "--dry-run"]).expect(0);
    assert!(
        out.stdout.starts_with("would prune 1 run (3 log lines, 1 output); database "),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(" → ~"), "a dry run's size after is an estimate: {}", out.stdout);
    assert_eq!(snapshot(&db), before);
    file_before.assert_unchanged(&db, "a dry run");

    let out = dir.husky(&["prune", "--dry-run", "--format", "json"]).expect(0);
    let v = json(&out.stdout);
    assert_eq!(v["dry_run"], true);
    assert_eq!(counts(&v), (1, 3, 1, 0));
    assert_eq!(snapshot(&db), before);

    // The real prune then does what the dry run said.
    let out = dir.husky(&["prune"]).expect(0);
    assert!(out.stdout.starts_with("pruned 1 run (3 log lines, 1 output); "), "{}", out.stdout);
    assert!(!ids(&db).contains(&old));
    assert!(ids(&db).contains(&recent));
}

#[test]
fn prune_deletes_old_finished_runs_keeps_live_runs_and_the_newest_failures() {
    let dir = project("storage:\n  retention:\n    max_age: 24h\n    keep_last_failures: 2\n");
    let db = dir.path.join(DEFAULT_DB);
    let conn = create_db(&db);
    // Old and finished: deleted, with their logs and outputs; their alerts stay.
    let success_old = run(&conn, "build", "SUCCESS", Some(100));
    logs(&conn, success_old, 5, 30);
    output(&conn, success_old, "version");
    output(&conn, success_old, "sha");
    alert(&conn, success_old);
    let failed_90 = run(&conn, "build", "FAILED", Some(90));
    logs(&conn, failed_90, 2, 30);
    alert(&conn, failed_90);
    let failed_80 = run(&conn, "build", "FAILED", Some(80));
    let cancelled = run(&conn, "build", "CANCELLED", Some(50));
    let skipped = run(&conn, "build", "SKIPPED", Some(30));
    // The two newest failures of build (one old, one recent) are kept.
    let failed_70 = run(&conn, "build", "FAILED", Some(70));
    // Live runs stay however old; a retrying run may carry an old finished_at.
    let running = run(&conn, "build", "RUNNING", None);
    conn.execute(
        "UPDATE job_runs SET created_at = ?2, started_at = ?2 WHERE id = ?1",
        params![running, ts(now() - Duration::days(30))],
    )
    .expect("an old running run");
    let pending = run(&conn, "build", "PENDING", None);
    let retrying = run(&conn, "build", "RETRYING", Some(200));
    // Recent runs stay, with their logs, outputs and alerts.
    let success_new = run(&conn, "build", "SUCCESS", Some(2));
    logs(&conn, success_new, 4, 30);
    output(&conn, success_new, "version");
    alert(&conn, success_new);
    let failed_new = run(&conn, "build", "FAILED", Some(1));
    // Another job: its only (old) failure is kept, its old success goes.
    let deploy_ok = run(&conn, "deploy", "SUCCESS", Some(48));
    let deploy_failed = run(&conn, "deploy", "FAILED", Some(48));
    drop(conn);
    let alerts_before = count(&db, "SELECT count(*) FROM alerts");

    let out = dir.husky(&["prune"]).expect(0);
    let line = out.stdout.lines().next().unwrap_or_default();
    assert!(line.starts_with("pruned 6 runs (7 log lines, 2 outputs); database "), "{line}");
    assert_eq!(out.stdout.lines().count(), 1, "one line: {}", out.stdout);

    let mut kept =
        vec![failed_70, running, pending, retrying, success_new, failed_new, deploy_failed];
    kept.sort_unstable();
    assert_eq!(ids(&db), kept);
    for gone in [success_old, failed_90, failed_80, cancelled, skipped, deploy_ok] {
        assert!(!kept.contains(&gone));
    }
    assert_eq!(count(&db, "SELECT count(*) FROM run_logs"), 4);
    assert_eq!(
        count(&db, &format!("SELECT count(*) FROM run_logs WHERE run_id = {success_new}")),
        4
    );
    assert_eq!(count(&db, "SELECT count(*) FROM run_outputs"), 1);
    assert_eq!(
        count(&db, &format!("SELECT count(*) FROM run_outputs WHERE run_id = {success_new}")),
        1
    );
    // Alerts are never pruned: those of deleted runs lose their run.
    assert_eq!(count(&db, "SELECT count(*) FROM alerts"), alerts_before);
    assert_eq!(count(&db, "SELECT count(*) FROM alerts WHERE run_id IS NULL"), 2);
    assert_eq!(count(&db, &format!("SELECT count(*) FROM alerts WHERE run_id = {success_new}")), 1);
    // The foreign keys still hold.
    assert_eq!(count(&db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);

    // Nothing is left to do.
    let out = dir.husky(&["prune"]).expect(0);
    assert!(out.stdout.starts_with("nothing to prune; database "), "{}", out.stdout);
    assert_eq!(ids(&db), kept);
}

#[test]
fn older_than_overrides_max_age() {
    let dir = project(DAY);
    let db = dir.path.join(DEFAULT_DB);
    let conn = create_db(&db);
    let two_days = run(&conn, "build", "SUCCESS", Some(48));
    let three_hours = run(&conn, "build", "SUCCESS", Some(3));
    conn.execute(
        "INSERT INTO job_runs (job_name, status, trigger, created_at, finished_at) \
         VALUES ('build', 'SUCCESS', 'manual', ?1, ?2)",
        params![ts(now() - Duration::minutes(40)), ts(now() - Duration::minutes(30))],
    )
    .expect("a run of half an hour ago");
    let half_hour = conn.last_insert_rowid();
    drop(conn);

    // max_age (a day) alone would take one run; --older-than 1h takes two.
    let v = json(&dir.husky(&["prune", "--dry-run", "--format", "json"]).expect(0).stdout);
    assert_eq!(v["runs"], 1);
    let v = json(
        &dir.husky(&["prune", "--dry-run", "--older-than", "1h", "--format", "json"])
            .expect(0)
            .stdout,
    );
    assert_eq!(v["runs"], 2);
    let out = dir.husky(&["prune", "--older-than", "1h"]).expect(0);
    assert!(out.stdout.starts_with("pruned 2 runs "), "{}", out.stdout);
    assert_eq!(ids(&db), [half_hour]);
    assert!(![two_days, three_hours].iter().any(|id| ids(&db).contains(id)));

    // --older-than applies even without a max_age in huskyd.yaml.
    let dir = project("storage:\n  retention:\n    keep_last_failures: 1\n");
    let db = dir.path.join(DEFAULT_DB);
    let conn = create_db(&db);
    let old = run(&conn, "build", "SUCCESS", Some(5));
    let new = run(&conn, "build", "SUCCESS", Some(1));
    drop(conn);
    let out = dir.husky(&["prune"]).expect(0);
    assert!(out.stdout.starts_with("nothing to prune"), "{}", out.stdout);
    dir.husky(&["prune", "--older-than", "2h"]).expect(0);
    assert_eq!(ids(&db), [new]);
    assert!(!ids(&db).contains(&old));
}

#[test]
fn a_bad_older_than_is_a_usage_error_naming_the_flag() {
    let dir = project(DAY);
    let db = dir.path.join(DEFAULT_DB);
    let conn = create_db(&db);
    run(&conn, "build", "SUCCESS", Some(48));
    drop(conn);
    let before = snapshot(&db);
    for bad in ["soon", "10", "3y", ""] {
        let out = dir.husky(&["prune", "--older-than", bad]).expect(2);
        assert!(out.stderr.contains("--older-than"), "{bad:?}: {}", out.stderr);
        assert!(out.stderr.contains(&format!("{bad:?}")), "{bad:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{bad:?}: {}", out.stdout);
    }
    let out = dir.husky(&["prune", "--older-than", "soon"]).expect(2);
    assert!(out.stderr.contains("not a duration"), "{}", out.stderr);
    assert!(out.stderr.contains("examples: 12h, 30d, 2w"), "{}", out.stderr);
    // A usage error comes before anything else: the database is not opened.
    assert_eq!(snapshot(&db), before);
    let empty = project(DAY);
    empty.husky(&["prune", "--older-than", "soon"]).expect(2);
    assert!(!empty.path.join(DEFAULT_DB).exists());
}

/// huskyd.yaml refuses a zero or negative `max_age`; `--older-than` must not let a negative age
/// through either: `-1h` puts the cutoff an hour in the future and deletes every finished run,
/// the one that finished a minute ago included.
#[test]
fn a_negative_older_than_is_a_usage_error() {
    let dir = project(DAY);
    let db = dir.path.join(DEFAULT_DB);
    let conn = create_db(&db);
    conn.execute(
        "INSERT INTO job_runs (job_name, status, trigger, created_at, finished_at) \
         VALUES ('build', 'SUCCESS', 'manual', ?1, ?1)",
        [ts(now() - Duration::minutes(1))],
    )
    .expect("a run of a minute ago");
    drop(conn);
    let before = snapshot(&db);
    let out = dir.husky(&["prune", "--older-than", "-1h"]).expect(2);
    assert!(out.stderr.contains("--older-than \"-1h\""), "{}", out.stderr);
    assert_eq!(snapshot(&db), before);
}

#[test]
fn json_output_has_the_documented_keys_and_counts() {
    let dir = project(DAY);
    let db = dir.path.join(DEFAULT_DB);
    let conn = create_db(&db);
    for (job, hours, lines, outputs) in
        [("build", 30, 10, 1), ("build", 40, 0, 2), ("deploy", 50, 25, 0), ("deploy", 2, 7, 1)]
    {
        let id = run(&conn, job, "SUCCESS", Some(hours));
        if lines > 0 {
            logs(&conn, id, lines, 40);
        }
        for k in 0..outputs {
            output(&conn, id, &format!("v{k}"));
        }
    }
    drop(conn);

    let dry = json(&dir.husky(&["prune", "--dry-run", "--format", "json"]).expect(0).stdout);
    let keys: Vec<&str> = dry.as_object().expect("an object").keys().map(String::as_str).collect();
    assert_eq!(keys, JSON_KEYS);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(counts(&dry), (3, 35, 3, 0));

    let size = std::fs::metadata(&db).expect("db").len();
    let out = dir.husky(&["prune", "--format", "json"]).expect(0);
    let v = json(&out.stdout);
    let keys: Vec<&str> = v.as_object().expect("an object").keys().map(String::as_str).collect();
    assert_eq!(keys, JSON_KEYS);
    assert_eq!(v["dry_run"], false);
    assert_eq!(counts(&v), (3, 35, 3, 0));
    let (before, after) = (v["bytes_before"].as_u64(), v["bytes_after"].as_u64());
    let (Some(before), Some(after)) = (before, after) else { panic!("byte counts: {v}") };
    assert_eq!(Some(before), dry["bytes_before"].as_u64());
    assert!(before > 0 && after > 0 && after <= before, "{v}");
    assert!(before <= size, "used bytes within the file: {v}");
    assert_eq!(count(&db, "SELECT count(*) FROM job_runs"), 1);
    assert_eq!(count(&db, "SELECT count(*) FROM run_logs"), 7);
    assert_eq!(count(&db, "SELECT count(*) FROM run_outputs"), 1);

    // Nothing left: zero counts, same keys.
    let v = json(&dir.husky(&["prune", "--format", "json"]).expect(0).stdout);
    assert_eq!(counts(&v), (0, 0, 0, 0));
    assert_eq!(v.as_object().map(|o| o.len()), Some(JSON_KEYS.len()));
}

#[test]
fn json_counts_the_runs_whose_logs_went_for_the_byte_budget() {
    let dir = project("storage:\n  retention:\n    max_total_bytes: 300KiB\n");
    let db = dir.path.join(DEFAULT_DB);
    let conn = create_db(&db);
    // Eight finished runs of ~80 KiB of logs each (stored), oldest first, and a running one.
    let finished: Vec<i64> = (0..8)
        .map(|i| {
            let id = run(&conn, "build", "SUCCESS", Some(10 - i));
            logs(&conn, id, 500, 100);
            id
        })
        .collect();
    let running = run(&conn, "build", "RUNNING", None);
    logs(&conn, running, 100, 100);
    drop(conn);

    let out = dir.husky(&["prune", "--format", "json"]).expect(0);
    let v = json(&out.stdout);
    let (runs, log_lines, outputs, logs_pruned) = counts(&v);
    assert_eq!((runs, log_lines, outputs), (0, 0, 0), "no run is deleted: {v}");
    assert!(logs_pruned > 0, "{v}");
    let pruned: Vec<i64> = open(&db)
        .prepare("SELECT id FROM job_runs WHERE logs_pruned_at IS NOT NULL ORDER BY id")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("ids");
    assert_eq!(pruned.len() as u64, logs_pruned, "{v}");
    // The oldest went first; the running run keeps its logs; every run keeps its row.
    assert_eq!(pruned, finished[..pruned.len()]);
    assert_eq!(count(&db, &format!("SELECT count(*) FROM run_logs WHERE run_id = {running}")), 100);
    assert_eq!(count(&db, "SELECT count(*) FROM job_runs"), 9);
    let (before, after) = (v["bytes_before"].as_u64(), v["bytes_after"].as_u64());
    assert!(before > after, "{v}");
    assert!(after <= Some(300 * 1024), "{v}");
}

#[test]
fn a_missing_database_is_an_error_naming_the_path() {
    let dir = project(DAY);
    let out = dir.husky(&["prune"]).expect(1);
    assert!(out.stderr.contains("no database at .husky/husky.db"), "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    // It is not created either, not even by a dry run.
    dir.husky(&["prune", "--dry-run"]).expect(1);
    assert!(!dir.path.join(".husky").exists());

    // With storage.sqlite.path, the configured path is the one named.
    let dir = project("storage:\n  sqlite:\n    path: state/runs.db\n");
    let out = dir.husky(&["prune"]).expect(1);
    assert!(out.stderr.contains("no database at state/runs.db"), "{}", out.stderr);
    assert!(!dir.path.join("state").exists());
}

#[test]
fn storage_sqlite_path_is_relative_to_the_husky_yaml_directory() {
    let dir = TestDir::new();
    dir.write("proj/husky.yaml", HUSKY_YAML);
    dir.write(
        "proj/huskyd.yaml",
        "storage:\n  sqlite:\n    path: state/runs.db\n  retention:\n    max_age: 24h\n",
    );
    dir.husky(&["validate", "--strict", "--config", "proj/husky.yaml"]).expect(0);
    // The configured database, and two decoys where a wrong resolution would look.
    let configured = dir.path.join("proj/state/runs.db");
    let decoys = [dir.path.join("state/runs.db"), dir.path.join("proj/.husky/husky.db")];
    for path in std::iter::once(&configured).chain(&decoys) {
        let conn = create_db(path);
        run(&conn, "build", "SUCCESS", Some(48));
        run(&conn, "build", "SUCCESS", Some(1));
    }
    let decoys_before: Vec<Vec<String>> = decoys.iter().map(|p| snapshot(p)).collect();

    let out = dir.husky(&["prune", "--config", "proj/husky.yaml"]).expect(0);
    assert!(out.stdout.starts_with("pruned 1 run "), "{}", out.stdout);
    assert_eq!(ids(&configured).len(), 1);
    let decoys_after: Vec<Vec<String>> = decoys.iter().map(|p| snapshot(p)).collect();
    assert_eq!(decoys_after, decoys_before);

    // HUSKY_CONFIG resolves the same way.
    let conn = create_db(&configured);
    run(&conn, "build", "FAILED", Some(30));
    drop(conn);
    let out = dir.husky(&["prune"]).env("HUSKY_CONFIG", "proj/husky.yaml").expect(0);
    assert!(out.stdout.starts_with("pruned 1 run "), "{}", out.stdout);
    assert_eq!(ids(&configured).len(), 1);
    let decoys_after: Vec<Vec<String>> = decoys.iter().map(|p| snapshot(p)).collect();
    assert_eq!(decoys_after, decoys_before);
}

#[test]
fn a_database_from_a_newer_husky_is_refused_and_left_unmodified() {
    let dir = project(DAY);
    let db = dir.path.join(DEFAULT_DB);
    let conn = create_db(&db);
    run(&conn, "build", "SUCCESS", Some(48));
    conn.pragma_update(None, "user_version", 99).expect("user_version");
    drop(conn);
    let before = FileState::of(&db);

    for args in [&["prune"][..], &["prune", "--dry-run"], &["prune", "--format", "json"]] {
        let out = dir.husky(args).expect(1);
        assert!(out.stderr.contains("newer husky"), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("schema version 99"), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(".husky/husky.db"), "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
        before.assert_unchanged(&db, &format!("{args:?}"));
    }
    assert_eq!(count(&db, "SELECT count(*) FROM job_runs"), 1);
    assert_eq!(count(&db, "PRAGMA user_version"), 99);
}

/// A newer husky's database need not be in WAL mode (or have husky's tables at all): it is
/// still left byte for byte as it was, as `StoreError::TooNew` promises.
#[test]
fn a_newer_database_in_rollback_journal_mode_is_left_unmodified() {
    let dir = project(DAY);
    let db = dir.path.join(DEFAULT_DB);
    std::fs::create_dir_all(db.parent().expect("parent")).expect("mkdir");
    let conn = Connection::open(&db).expect("open");
    conn.execute_batch(
        "CREATE TABLE future (x); INSERT INTO future VALUES (1); PRAGMA user_version = 99;",
    )
    .expect("a newer schema");
    drop(conn);
    let before = FileState::of(&db);
    let out = dir.husky(&["prune"]).expect(1);
    assert!(out.stderr.contains("newer husky"), "{}", out.stderr);
    before.assert_unchanged(&db, "husky prune");
    let mode: String =
        open(&db).query_row("PRAGMA journal_mode", [], |r| r.get(0)).expect("journal_mode");
    assert_eq!(mode, "delete");
}
