//! The engine thread with the real pool, a real store writer on a temporary database, real
//! processes and the system clock.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use crossbeam_channel::unbounded;

use super::*;
use crate::clock::SystemClock;
use crate::config::{Config, DaemonConfig, EnvSource, validate_husky};
use crate::engine::Settings;
use crate::engine::core::Created;
use crate::exec::attempt::Settings as ExecSettings;
use crate::store::writer::{WriterOptions, spawn as spawn_writer};
use crate::store::{Pragmas, RunStatus, open_reader, open_writer};

struct Daemon {
    dir: PathBuf,
    inbox: Option<Sender<EngineMsg>>,
    engine: Option<JoinHandle<()>>,
    log: Arc<Mutex<Vec<String>>>,
}

fn temp_dir() -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "husky-engine-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

fn load(dir: &std::path::Path, yaml: &str) -> Arc<Config> {
    let env = EnvSource::from_maps(HashMap::new(), HashMap::new());
    let loaded = validate_husky(&dir.join("husky.yaml"), yaml, &env);
    Arc::new(loaded.value.unwrap_or_else(|| panic!("{:?}", loaded.diagnostics)))
}

impl Daemon {
    /// Starts writer, pool and engine on `dir` (its database may hold an earlier daemon's
    /// state).
    fn start(dir: PathBuf, yaml: &str, settings: Settings) -> Daemon {
        let config = load(&dir, yaml);
        let db = dir.join("husky.db");
        let conn = open_writer(&db, Pragmas::default()).expect("db");
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let log_sink =
            Logger::from_fn(move |_, l: &str| sink.lock().expect("log").push(l.to_owned()));
        let reader = open_reader(&db, Pragmas::default()).expect("reader");
        let restored = crate::engine::restore(&reader, &config, &dir, &|l: &str| log_sink.info(l))
            .expect("restore");
        let (store, _events, _writer) =
            spawn_writer(conn, WriterOptions::default(), Arc::new(SystemClock)).expect("writer");
        let exec = Arc::new(ExecSettings::new(&DaemonConfig::default(), &dir));
        let (orders, order_rx) = unbounded();
        let (event_tx, events) = unbounded();
        crate::exec::pool::spawn(2, exec, order_rx, event_tx, store.clone(), Arc::new(SystemClock))
            .expect("pool");
        let (inbox_tx, inbox) = unbounded();
        let core = Core::new(config, settings, &restored, 1);
        let wiring = Wiring {
            inbox,
            events,
            orders,
            store,
            notices: None,
            log: log_sink,
            audit: None,
            stopping: None,
            clock: Arc::new(SystemClock),
        };
        let engine = spawn(core, restored, wiring).expect("engine");
        Daemon { dir, inbox: Some(inbox_tx), engine: Some(engine), log }
    }

    fn cmd(&self, cmd: Command) -> Reply {
        let (reply, rx) = bounded(1);
        self.inbox.as_ref().expect("open").send(EngineMsg::Command { cmd, reply }).expect("send");
        rx.recv_timeout(Duration::from_secs(10)).expect("a reply")
    }

    fn run(&self, job: &str) -> Created {
        match self.cmd(Command::Run {
            job: job.into(),
            reason: Some("test".into()),
            by: "cli".into(),
        }) {
            Reply::Runs(mut v) => v.remove(0),
            other => panic!("{other:?}"),
        }
    }

    /// Shuts down and waits for the engine thread to end.
    fn stop(&mut self, force: bool) {
        let reply = self.cmd(Command::Shutdown { force });
        assert!(matches!(reply, Reply::Done(_)), "{reply:?}");
        self.inbox = None;
        if let Some(e) = self.engine.take() {
            e.join().expect("the engine thread ends");
        }
    }

    fn query<T: rusqlite::types::FromSql>(&self, sql: &str) -> T {
        let conn = open_reader(&self.dir.join("husky.db"), Pragmas::default()).expect("reader");
        conn.query_row(sql, [], |r| r.get(0)).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Polls the database until `sql` yields `want` (or a deadline passes).
    fn wait_for(&self, sql: &str, want: &str) {
        let deadline = SystemClock.monotonic() + Duration::from_secs(20);
        loop {
            let got: Option<String> = open_reader(&self.dir.join("husky.db"), Pragmas::default())
                .ok()
                .and_then(|c| c.query_row(sql, [], |r| r.get(0)).ok());
            if got.as_deref() == Some(want) {
                return;
            }
            assert!(SystemClock.monotonic() < deadline, "{sql}: {got:?}, want {want}");
            let _ = crossbeam_channel::after(Duration::from_millis(20)).recv();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.inbox = None;
        if let Some(e) = self.engine.take() {
            let _ = e.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const PIPELINE: &str = r#"version: "1"
jobs:
  producer:
    description: p
    frequency: manual
    command: "echo hello world"
    output:
      greeting: last_line
  consumer:
    description: c
    frequency: after:producer
    command: "echo got: {{ outputs.producer.greeting }}"
  sleeper:
    description: s
    frequency: manual
    command: "echo pid $$; exec sleep 300"
"#;

#[test]
fn a_manual_run_and_its_dependent_run_for_real_in_one_cycle() {
    let mut d = Daemon::start(temp_dir(), PIPELINE, Settings::default());
    let created = d.run("producer");
    assert_eq!(created.status, RunStatus::Pending);
    d.wait_for("SELECT status FROM job_runs WHERE job_name = 'consumer'", "SUCCESS");
    let same: i64 = d.query(
        "SELECT count(DISTINCT cycle_id) FROM job_runs WHERE job_name IN ('producer', 'consumer')",
    );
    assert_eq!(same, 1);
    d.wait_for(
        "SELECT line FROM run_logs JOIN job_runs ON job_runs.id = run_id \
         WHERE job_name = 'consumer' AND stream = 'stdout'",
        "got: hello world",
    );
    let reason: String = d.query("SELECT reason FROM job_runs WHERE job_name = 'consumer'");
    assert_eq!(reason, "after:producer");
    let pid: Option<i64> = d.query("SELECT pid FROM job_runs WHERE job_name = 'producer'");
    assert!(pid.is_some(), "the pid is recorded");
    d.stop(false);
}

#[test]
fn shutdown_cancels_runs_left_after_its_timeout_and_restart_finds_nothing_to_kill() {
    let dir = temp_dir();
    let settings =
        Settings { shutdown_timeout: time::Duration::milliseconds(300), ..Settings::default() };
    let mut d = Daemon::start(dir.clone(), PIPELINE, settings);
    let id = d.run("sleeper").run_id;
    d.wait_for(&format!("SELECT status FROM job_runs WHERE id = {id}"), "RUNNING");
    d.stop(false);
    d.wait_for(
        &format!("SELECT status || ' ' || status_reason FROM job_runs WHERE id = {id}"),
        "CANCELLED daemon shutdown",
    );
    let pid: i64 = d.query(&format!("SELECT pid FROM job_runs WHERE id = {id}"));
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "the process is gone");
    // Keep the database for the next daemon.
    d.dir = temp_dir();
    drop(d);
    let d = Daemon::start(dir, PIPELINE, Settings::default());
    let running: i64 = d.query("SELECT count(*) FROM job_runs WHERE status = 'RUNNING'");
    assert_eq!(running, 0);
    drop(d);
}

#[test]
fn a_restart_kills_an_orphan_and_records_it_failed() {
    let dir = temp_dir();
    // A daemon that "crashed": its run is RUNNING with a live process group of its own.
    let mut orphan = std::process::Command::new("/bin/sh");
    orphan.args(["-c", "exec sleep 300"]).env("HUSKY_RUN_ID", "1");
    std::os::unix::process::CommandExt::process_group(&mut orphan, 0);
    let mut orphan = orphan.spawn().expect("orphan");
    let pid = orphan.id();
    let start = crate::exec::start_time(pid).expect("start time");
    {
        let conn = open_writer(&dir.join("husky.db"), Pragmas::default()).expect("db");
        conn.execute(
            "INSERT INTO job_runs (id, job_name, status, trigger, created_at, started_at, pid,
                                   pid_start, cycle_id)
             VALUES (1, 'sleeper', 'RUNNING', 'manual', '2026-01-01T00:00:00.000Z',
                     '2026-01-01T00:00:00.000Z', ?1, ?2, 'c1')",
            rusqlite::params![pid, start],
        )
        .expect("row");
    }
    let d = Daemon::start(dir, PIPELINE, Settings::default());
    let status = orphan.wait().expect("wait");
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9));
    d.wait_for(
        "SELECT status || ' ' || status_reason FROM job_runs WHERE id = 1",
        "FAILED orphaned: daemon restarted",
    );
    assert!(d.log.lock().expect("log").iter().any(|l| l.contains("killed what was left of run 1")));
    // The next run gets the next id.
    assert_eq!(d.run("producer").run_id, 2);
}
