//! The worker pool end to end: real jobs from a husky.yaml, a real store writer on a temp file.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};

use super::*;
use crate::clock::SystemClock;
use crate::config::{DaemonConfig, EnvSource, validate_husky};
use crate::exec::attempt::HcStatus;
use crate::store::writer::{WriterOptions, spawn as spawn_writer};
use crate::store::{NewRun, Pragmas, RunStatus, Trigger, open_reader, open_writer};

struct Rig {
    dir: PathBuf,
    config: crate::config::Config,
    store: StoreHandle,
    orders: Option<Sender<WorkOrder>>,
    events: Receiver<RunEvent>,
}

impl Rig {
    fn new(yaml: &str, daemon: &DaemonConfig) -> Rig {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "husky-pool-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).expect("dir");
        let path = dir.join("husky.yaml");
        let env = EnvSource::from_maps(HashMap::new(), HashMap::new());
        let loaded = validate_husky(&path, yaml, &env);
        let config = loaded.value.unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
        let conn = open_writer(&dir.join("husky.db"), Pragmas::default()).expect("db");
        let (store, _store_events, _t) =
            spawn_writer(conn, WriterOptions::default(), Arc::new(SystemClock)).expect("writer");
        let settings = Arc::new(Settings::new(daemon, &dir));
        let (orders, order_rx) = unbounded();
        let (event_tx, events) = unbounded();
        spawn(2, settings, order_rx, event_tx, store.clone(), Arc::new(SystemClock)).expect("pool");
        Rig { dir, config, store, orders: Some(orders), events }
    }

    /// Creates the run row and hands the attempt to the pool; returns the run id and the
    /// cancel sender.
    fn start(&self, job: &str) -> (i64, Sender<()>) {
        let now = time::OffsetDateTime::UNIX_EPOCH;
        let run_id = self
            .store
            .create_run(NewRun {
                id: None,
                status_reason: None,
                finished_at: None,
                job_name: job.into(),
                status: RunStatus::Running,
                attempt: 1,
                trigger: Trigger::Manual,
                triggered_by: "cli".into(),
                reason: None,
                cycle_id: Some("cyc".into()),
                created_at: now,
                started_at: Some(now),
            })
            .expect("run");
        let job = Arc::new(self.config.job(job).expect("job").clone());
        let (cancel_tx, cancel) = bounded(1);
        let attempt = Attempt {
            run_id,
            attempt: 1,
            job,
            cycle_id: "cyc".into(),
            trigger: Trigger::Manual,
            env: None,
            command: None,
        };
        self.orders
            .as_ref()
            .expect("open")
            .send(WorkOrder { attempt, cancel, ready: None })
            .expect("send");
        (run_id, cancel_tx)
    }

    fn finished(&self, run_id: i64) -> AttemptResult {
        loop {
            match self.events.recv_timeout(Duration::from_secs(30)).expect("an event") {
                RunEvent::Finished { run_id: id, result, .. } if id == run_id => return *result,
                _ => {}
            }
        }
    }

    fn logs(&self, run_id: i64) -> Vec<(String, String)> {
        self.store.flush().expect("flush");
        let conn = open_reader(&self.dir.join("husky.db"), Pragmas::default()).expect("reader");
        let mut stmt = conn
            .prepare("SELECT stream, line FROM run_logs WHERE run_id = ?1 ORDER BY seq")
            .expect("sql");
        stmt.query_map([run_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    fn run(&self, job: &str) -> (AttemptResult, Vec<(String, String)>) {
        let (id, _cancel) = self.start(job);
        let result = self.finished(id);
        (result, self.logs(id))
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.orders = None;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn job(name: &str, body: &str) -> String {
    format!("  {name}:\n    description: d\n    frequency: manual\n{body}")
}

fn yaml(jobs: &[String]) -> String {
    format!("version: \"1\"\njobs:\n{}", jobs.concat())
}

fn stdout(logs: &[(String, String)]) -> Vec<&str> {
    logs.iter().filter(|(s, _)| s == "stdout").map(|(_, l)| l.as_str()).collect()
}

#[test]
fn environment_precedence_and_husky_variables() {
    let mut daemon = DaemonConfig::default();
    daemon.executor.global_env =
        vec![("HOME".into(), "/global".into()), ("A".into(), "g".into()), ("B".into(), "g".into())];
    let rig = Rig::new(
        &yaml(&[job(
            "env",
            "    command: echo \"$HOME|$A|$B|$C|$PATH_SET|$HUSKY_JOB|$HUSKY_ATTEMPT|$HUSKY_CYCLE_ID|$HUSKY_TRIGGER|$HUSKY_RUN_ID\"\n    env:\n      B: job\n      C: \"\"\n",
        )]),
        &daemon,
    );
    let (result, logs) = rig.run("env");
    assert_eq!(result.status, RunStatus::Success, "{result:?}");
    // host < global_env < job env; empty values are skipped; PATH comes from the host.
    assert_eq!(stdout(&logs), ["/global|g|job|||env|1|cyc|manual|1"]);
}

#[test]
fn working_dir_resolves_against_the_husky_yaml_directory() {
    let rig = Rig::new(
        &yaml(&[
            job("rel", "    command: pwd\n    working_dir: sub\n"),
            job("dflt", "    command: pwd\n"),
        ]),
        &DaemonConfig::default(),
    );
    let real = |p: PathBuf| std::fs::canonicalize(p).expect("canonical").display().to_string();
    assert_eq!(stdout(&rig.run("rel").1), [real(rig.dir.join("sub"))]);
    assert_eq!(stdout(&rig.run("dflt").1), [real(rig.dir.clone())]);
}

#[test]
fn outputs_are_captured_and_a_missing_one_is_a_warning() {
    let rig = Rig::new(
        &yaml(&[job(
            "out",
            "    command: 'echo first; echo ''{\"stats\": {\"rows\": 1000000}}''; echo last; echo'\n    output:\n      f: first_line\n      l: last_line\n      rows: json_field:stats.rows\n      code: exit_code\n      nope: regex:absent (\\d+)\n",
        )]),
        &DaemonConfig::default(),
    );
    let (result, logs) = rig.run("out");
    assert_eq!(result.status, RunStatus::Success);
    // The warning is in the run's log too.
    let notes: Vec<&(String, String)> = logs.iter().filter(|(s, _)| s == "husky").collect();
    assert_eq!(notes.len(), 1, "{logs:?}");
    assert!(notes[0].1.starts_with("warning: ") && notes[0].1.contains("nope"), "{notes:?}");
    assert_eq!(
        result.outputs,
        [
            ("f".to_owned(), "first".to_owned()),
            ("l".to_owned(), "last".to_owned()),
            ("rows".to_owned(), "1000000".to_owned()),
            ("code".to_owned(), "0".to_owned()),
        ]
    );
    assert_eq!(result.warnings.len(), 1);
    assert!(result.warnings[0].contains("nope"), "{:?}", result.warnings);
}

#[test]
fn healthcheck_flows() {
    let hc = |cmd: &str, on_fail: &str| {
        format!("    healthcheck:\n      command: {cmd}\n      on_fail: {on_fail}\n")
    };
    let rig = Rig::new(
        &yaml(&[
            job("pass", &format!("    command: echo main\n{}", hc("echo checked", "mark_failed"))),
            job(
                "fail",
                &format!("    command: \"true\"\n{}", hc("'echo bad >&2; exit 3'", "mark_failed")),
            ),
            job("warn", &format!("    command: \"true\"\n{}", hc("'exit 3'", "warn_only"))),
            job("skip", &format!("    command: 'exit 1'\n{}", hc("'echo never'", "mark_failed"))),
        ]),
        &DaemonConfig::default(),
    );
    let (r, logs) = rig.run("pass");
    assert_eq!((r.status, r.hc), (RunStatus::Success, Some(HcStatus::Pass)));
    assert_eq!(logs, [("stdout".into(), "main".into()), ("healthcheck".into(), "checked".into())]);
    let (r, logs) = rig.run("fail");
    assert_eq!((r.status, r.hc), (RunStatus::Failed, Some(HcStatus::Fail)));
    assert_eq!(r.status_reason.as_deref(), Some("healthcheck failed (exit code 3)"));
    assert_eq!(logs, [("healthcheck".into(), "bad".into())]);
    let (r, _) = rig.run("warn");
    assert_eq!((r.status, r.hc), (RunStatus::Success, Some(HcStatus::Warn)));
    let (r, logs) = rig.run("skip");
    assert_eq!((r.status, r.hc), (RunStatus::Failed, None), "no healthcheck after a failure");
    assert_eq!(r.status_reason.as_deref(), Some("exit code 1"));
    assert!(logs.is_empty());
}

#[test]
fn a_healthcheck_that_hangs_is_killed_at_its_timeout_and_fails_the_run() {
    let mut daemon = DaemonConfig::default();
    daemon.executor.kill_grace = time::Duration::milliseconds(200);
    let rig = Rig::new(
        &yaml(&[job(
            "hang",
            "    command: \"true\"\n    healthcheck:\n      command: 'echo pid $$; sleep 300'\n      timeout: 500ms\n",
        )]),
        &daemon,
    );
    let (r, logs) = rig.run("hang");
    assert_eq!((r.status, r.hc), (RunStatus::Failed, Some(HcStatus::Fail)));
    let reason = r.status_reason.unwrap_or_default();
    assert!(reason.starts_with("healthcheck failed (timed out"), "{reason}");
    let pid: u32 = logs
        .iter()
        .find_map(|(_, l)| l.strip_prefix("pid ")?.parse().ok())
        .expect("the healthcheck printed its pid");
    let deadline = {
        use crate::clock::Clock;
        SystemClock.monotonic() + Duration::from_secs(10)
    };
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        use crate::clock::Clock;
        assert!(SystemClock.monotonic() < deadline, "the healthcheck {pid} is still alive");
    }
}

#[test]
fn a_cancelled_run_is_cancelled_and_its_log_is_complete() {
    let rig = Rig::new(
        &yaml(&[job("long", "    command: 'echo started; sleep 300'\n")]),
        &DaemonConfig::default(),
    );
    let (id, cancel) = rig.start("long");
    // Cancel once it has started.
    loop {
        if let RunEvent::Started { run_id, .. } =
            rig.events.recv_timeout(Duration::from_secs(10)).expect("started")
        {
            assert_eq!(run_id, id);
            break;
        }
    }
    // ... and its first line is stored.
    use crate::clock::Clock;
    let deadline = SystemClock.monotonic() + Duration::from_secs(10);
    while rig.logs(id).is_empty() {
        assert!(SystemClock.monotonic() < deadline, "no output");
    }
    cancel.send(()).expect("cancel");
    let r = rig.finished(id);
    assert_eq!((r.status, r.status_reason.as_deref()), (RunStatus::Cancelled, Some("cancelled")));
    assert_eq!(stdout(&rig.logs(id)), ["started"]);
    let conn = open_reader(&rig.dir.join("husky.db"), Pragmas::default()).expect("reader");
    let lines: i64 = conn
        .query_row("SELECT log_lines FROM job_runs WHERE id = ?1", [id], |r| r.get(0))
        .expect("n");
    assert_eq!(lines, 1);
}

#[test]
fn a_worker_waits_for_the_run_record_and_runs_nothing_without_it() {
    let rig = Rig::new(&yaml(&[job("j", "    command: 'echo ran'\n")]), &DaemonConfig::default());
    let job = Arc::new(rig.config.job("j").expect("job").clone());
    let order = |run_id: i64, ready| {
        let attempt = Attempt {
            run_id,
            attempt: 1,
            job: job.clone(),
            cycle_id: "c".into(),
            trigger: Trigger::Manual,
            env: None,
            command: None,
        };
        // Nobody will cancel these: the sender goes at once.
        let (_, cancel) = bounded(1);
        WorkOrder { attempt, cancel, ready: Some(ready) }
    };
    // The record could not be written: nothing starts.
    let (ack, ready) = bounded(1);
    rig.orders.as_ref().expect("open").send(order(900, ready)).expect("send");
    ack.send(Err(crate::store::StoreError::Unavailable("disk full".into()))).expect("ack");
    let result = rig.finished(900);
    assert_eq!(result.status, RunStatus::Failed);
    assert!(result.outcome.pid.is_none(), "no process was started");
    assert!(result.status_reason.as_deref().is_some_and(|r| r.contains("disk full")));
    // The record is written late: the run starts only then.
    let (ack, ready) = bounded(1);
    rig.orders.as_ref().expect("open").send(order(901, ready)).expect("send");
    assert!(rig.events.recv_timeout(Duration::from_millis(200)).is_err(), "waits for its row");
    ack.send(Ok(())).expect("ack");
    let result = rig.finished(901);
    assert_eq!(result.status, RunStatus::Success);
}
