//! The daemon log's formats and levels, its file output, and the audit log's lines.

use std::sync::Mutex;

use time::macros::datetime;

use super::audit::Audit;
use super::*;
use crate::clock::ManualClock;
use crate::config::{AuditLog, LogFile};
use crate::engine::core::RestoredRun;
use crate::engine::runbook::RunBook;
use crate::store::{NewRun, RunPatch, RunStatus, Trigger};

const AT: time::OffsetDateTime = datetime!(2030-01-15 12:00:01.250 UTC);

fn temp_dir() -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("husky-log-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("read")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

#[test]
fn text_lines_are_time_level_message() {
    let check = |level, msg, want: &str| {
        assert_eq!(format_line(LogFormat::Text, AT, level, msg), want);
    };
    check(Level::Info, "started", "2030-01-15T12:00:01.250Z INFO started\n");
    check(Level::Warn, "a b  c", "2030-01-15T12:00:01.250Z WARN a b  c\n");
    check(Level::Error, "x", "2030-01-15T12:00:01.250Z ERROR x\n");
    check(Level::Debug, "", "2030-01-15T12:00:01.250Z DEBUG \n");
}

#[test]
fn json_lines_are_one_object_with_time_level_msg() {
    let line = format_line(LogFormat::Json, AT, Level::Warn, "quote \" and\nnewline");
    assert!(line.ends_with('\n') && line.matches('\n').count() == 1, "{line:?}");
    let v: serde_json::Value = serde_json::from_str(&line).expect("json");
    let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["time", "level", "msg"]);
    assert_eq!(v["time"], "2030-01-15T12:00:01.250Z");
    assert_eq!(v["level"], "WARN");
    assert_eq!(v["msg"], "quote \" and\nnewline");
}

#[test]
fn lines_below_the_level_are_dropped_and_the_level_can_change() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let log = Logger::from_fn(move |level, msg| {
        sink.lock().expect("lock").push(format!("{} {msg}", level_name(level)));
    });
    log.set_level(Level::Warn);
    log.debug("d1");
    log.info("i1");
    log.warn("w1");
    log.error("e1");
    assert!(!log.enabled(Level::Info) && log.enabled(Level::Error));
    log.set_level(Level::Debug);
    log.debug("d2");
    let clone = log.clone();
    clone.info("i2");
    assert_eq!(log.level(), Level::Debug);
    assert_eq!(*seen.lock().expect("lock"), ["WARN w1", "ERROR e1", "DEBUG d2", "INFO i2"]);
}

fn file_config(path: &str, level: Level) -> LogConfig {
    LogConfig {
        level,
        format: LogFormat::Json,
        output: LogOutput::File,
        file: LogFile {
            path: Some(path.into()),
            max_size_mb: 1,
            max_backups: 2,
            max_age_days: 30,
            compress: false,
        },
        audit_log: AuditLog { enabled: false, path: None, max_size_mb: 1, max_backups: 1 },
    }
}

#[test]
fn the_file_output_resolves_a_relative_path_and_writes_json_at_the_level() {
    let dir = temp_dir();
    let clock = Arc::new(ManualClock::new(AT));
    let log = Logger::new(&file_config("logs/huskyd.log", Level::Info), &dir, clock.clone())
        .expect("open");
    log.debug("hidden");
    log.info("one");
    clock.advance(time::Duration::seconds(1));
    log.error("two");
    let lines = json_lines(&dir.join("logs/huskyd.log"));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["msg"], "one");
    assert_eq!(lines[0]["level"], "INFO");
    assert_eq!(lines[1]["msg"], "two");
    assert_eq!(lines[1]["time"], "2030-01-15T12:00:02.250Z");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn paths_resolve_against_the_base_unless_absolute() {
    let base = Path::new("/srv/jobs");
    assert_eq!(resolve(base, "huskyd.log"), Path::new("/srv/jobs/huskyd.log"));
    assert_eq!(resolve(base, "../log/a.log"), Path::new("/srv/jobs/../log/a.log"));
    assert_eq!(resolve(base, "/var/log/a.log"), Path::new("/var/log/a.log"));
}

fn new_run(id: i64, job: &str, status: RunStatus, trigger: Trigger, attempt: u32) -> NewRun {
    NewRun {
        id: Some(id),
        job_name: job.into(),
        status,
        attempt,
        trigger,
        triggered_by: "scheduler".into(),
        reason: Some("nightly".into()),
        cycle_id: Some("c1".into()),
        created_at: AT,
        started_at: None,
        status_reason: None,
        finished_at: None,
    }
}

fn status(s: RunStatus) -> RunPatch {
    RunPatch { status: Some(s), ..RunPatch::default() }
}

/// An audit log fed as the engine feeds it, with its run book.
struct Fed {
    audit: Audit,
    book: RunBook,
}

impl Fed {
    fn created(&mut self, run: &NewRun, at: time::OffsetDateTime) {
        self.book.created(run);
        self.audit.created(run, at);
    }
    fn updated(&mut self, id: i64, patch: &RunPatch, at: time::OffsetDateTime) {
        self.audit.updated(id, patch, self.book.get(id), at);
        if let Some(s) = patch.status {
            self.book.set_status(id, s);
        }
    }
    fn settle(&mut self) {
        self.book.settle();
    }
    fn restored(&mut self, runs: &[RestoredRun]) {
        self.book.restored(runs);
    }
}

fn open_audit(dir: &Path) -> (Fed, PathBuf) {
    let path = dir.join("audit.log");
    let config = AuditLog { enabled: true, path: None, max_size_mb: 1, max_backups: 1 };
    let log = Logger::from_fn(|_, msg| panic!("unexpected log line: {msg}"));
    let audit =
        Audit::open(path.clone(), &config, Arc::new(ManualClock::new(AT)), log).expect("open");
    (Fed { audit, book: RunBook::default() }, path)
}

#[test]
fn the_audit_log_has_one_line_per_transition_with_the_runs_identity() {
    let dir = temp_dir();
    let (mut a, path) = open_audit(&dir);
    a.created(&new_run(1, "etl", RunStatus::Pending, Trigger::Schedule, 1), AT);
    a.updated(1, &RunPatch { pid: Some(42), ..status(RunStatus::Running) }, AT);
    a.updated(1, &RunPatch { sla_breached: Some(true), ..RunPatch::default() }, AT);
    let done = RunPatch {
        status_reason: Some("exit code 3".into()),
        exit_code: Some(3),
        duration_ms: Some(1500),
        ..status(RunStatus::Retrying)
    };
    a.updated(1, &done, AT);
    a.settle();
    a.created(&new_run(2, "etl", RunStatus::Pending, Trigger::Retry, 2), AT);
    a.updated(2, &status(RunStatus::Running), AT);
    a.updated(2, &RunPatch { exit_code: Some(0), ..status(RunStatus::Success) }, AT);
    a.settle();
    // Both runs are over: a late change is still written, without what was forgotten.
    a.updated(1, &status(RunStatus::Cancelled), AT);
    drop(a);
    let lines = json_lines(&path);
    let brief: Vec<String> = lines
        .iter()
        .map(|l| {
            format!(
                "{} {} {} <- {} #{} {}",
                l["run_id"],
                l["job"],
                l["status"],
                l["previous_status"],
                l["attempt"],
                l["trigger"]
            )
        })
        .collect();
    assert_eq!(
        brief,
        [
            r#"1 "etl" "PENDING" <- null #1 "schedule""#,
            r#"1 "etl" "RUNNING" <- "PENDING" #1 "schedule""#,
            r#"1 "etl" "RETRYING" <- "RUNNING" #1 "schedule""#,
            r#"2 "etl" "PENDING" <- null #2 "retry""#,
            r#"2 "etl" "RUNNING" <- "PENDING" #2 "retry""#,
            r#"2 "etl" "SUCCESS" <- "RUNNING" #2 "retry""#,
            r#"1 null "CANCELLED" <- null #null null"#,
        ]
    );
    let keys: Vec<&String> = lines[2].as_object().expect("object").keys().collect();
    assert_eq!(
        keys,
        [
            "time",
            "run_id",
            "job",
            "status",
            "previous_status",
            "attempt",
            "trigger",
            "triggered_by",
            "cycle_id",
            "reason",
            "status_reason",
            "exit_code",
            "duration_ms"
        ]
    );
    assert_eq!(lines[2]["time"], "2030-01-15T12:00:01.250Z");
    assert_eq!(lines[2]["cycle_id"], "c1");
    assert_eq!(lines[2]["reason"], "nightly");
    assert_eq!(lines[2]["status_reason"], "exit code 3");
    assert_eq!(lines[2]["exit_code"], 3);
    assert_eq!(lines[2]["duration_ms"], 1500);
    assert_eq!(lines[5]["exit_code"], 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_audit_log_knows_the_runs_an_earlier_daemon_left() {
    let dir = temp_dir();
    let (mut a, path) = open_audit(&dir);
    a.restored(&[RestoredRun {
        id: 7,
        job: "backup".into(),
        status: RunStatus::Running,
        attempt: 2,
        trigger: Trigger::Retry,
        triggered_by: "scheduler".into(),
        reason: None,
        cycle_id: None,
        retry_at: None,
        pid: None,
        pid_start: None,
    }]);
    let failed = RunPatch {
        status_reason: Some("orphaned: daemon restarted".into()),
        ..status(RunStatus::Failed)
    };
    a.updated(7, &failed, AT);
    drop(a);
    let lines = json_lines(&path);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["job"], "backup");
    assert_eq!(lines[0]["previous_status"], "RUNNING");
    assert_eq!(lines[0]["status"], "FAILED");
    assert_eq!(lines[0]["attempt"], 2);
    assert_eq!(lines[0]["status_reason"], "orphaned: daemon restarted");
    assert!(lines[0].get("cycle_id").is_none() && lines[0].get("reason").is_none());
    let _ = std::fs::remove_dir_all(&dir);
}
