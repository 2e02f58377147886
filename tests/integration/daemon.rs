//! The daemon as operators run it: `husky daemon run` and `husky demo` as real processes, with
//! real signals, a real database and real jobs. Waiting is on the daemon's log lines and the
//! database, with deadlines (never a sleep).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crossbeam_channel::{Receiver, unbounded};
use husky::clock::{Clock, SystemClock};

use crate::util::{TestDir, rows};

/// A husky process in the background whose standard error is read line by line.
struct Bg {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Bg {
    fn spawn(dir: &Path, args: &[&str]) -> Bg {
        let mut child = Command::new(env!("CARGO_BIN_EXE_husky"))
            .args(args)
            .current_dir(dir)
            .env_remove("HUSKY_CONFIG")
            .env_remove("HUSKY_DATA")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn husky");
        let err = child.stderr.take().expect("stderr");
        let (tx, lines) = unbounded();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Bg { child, lines, seen: Vec::new() }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a log line containing `text` and returns it.
    #[track_caller]
    fn wait_for(&mut self, text: &str) -> String {
        self.wait_all(&[text])
    }

    /// Waits for a log line containing every one of `parts` and returns it.
    #[track_caller]
    fn wait_all(&mut self, parts: &[&str]) -> String {
        let matches = |l: &str| parts.iter().all(|p| l.contains(p));
        if let Some(l) = self.seen.iter().find(|l| matches(l)) {
            return l.clone();
        }
        let text = parts.join(" … ");
        let deadline = SystemClock.monotonic() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(SystemClock.monotonic());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if matches(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("no log line with {text:?}; the log:\n{}", self.seen.join("\n")),
            }
        }
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill").args([&format!("-{name}"), &self.pid().to_string()]).status();
        assert!(ok.is_ok_and(|s| s.success()), "kill -{name}");
    }

    /// Waits for the process to exit and returns its exit code.
    #[track_caller]
    fn exit_code(&mut self) -> i32 {
        let deadline = SystemClock.monotonic() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code().unwrap_or(-1);
            }
            assert!(SystemClock.monotonic() < deadline, "the daemon did not exit");
            let _ = crossbeam_channel::after(Duration::from_millis(20)).recv();
        }
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn alive(pid: u32) -> bool {
    // A zombie is not alive: it only waits to be reaped.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

#[test]
fn the_demo_runs_its_pipeline_retry_healthcheck_and_sla_and_stops_on_sigterm() {
    let t = TestDir::new();
    let demo = t.path.join("demo");
    let mut d = Bg::spawn(&t.path, &["demo", "--dir", demo.to_str().expect("utf-8")]);
    d.wait_all(&["load: run", "ended SUCCESS"]);
    d.wait_all(&["checked: run", "passed its SLA"]);
    d.wait_all(&["checked: run", "ended SUCCESS"]);
    d.wait_all(&["flaky: run", "ended SUCCESS"]);
    d.signal("TERM");
    assert_eq!(d.exit_code(), 0, "{}", d.seen.join("\n"));
    let db = demo.join(".husky/husky.db");
    let runs = rows(
        &db,
        "SELECT job_name || ' ' || status || ' ' || trigger || ' ' || attempt FROM job_runs \
         WHERE job_name != 'heartbeat' ORDER BY id",
    );
    assert_eq!(
        runs,
        [
            "extract SUCCESS manual 1",
            "flaky RETRYING manual 1",
            "checked SUCCESS manual 1",
            "transform SUCCESS dependency 1",
            "load SUCCESS dependency 1",
            "flaky SUCCESS retry 2",
        ]
    );
    let load = rows(
        &db,
        "SELECT line FROM run_logs JOIN job_runs ON job_runs.id = run_id WHERE job_name = 'load'",
    );
    assert_eq!(load, ["loaded: transformed 42 rows"]);
    let checked = rows(
        &db,
        "SELECT sla_breached || ' ' || hc_status FROM job_runs WHERE job_name = 'checked'",
    );
    assert_eq!(checked, ["1 pass"]);
}

const SLEEPER: &str = r#"version: "1"
jobs:
  sleeper:
    description: "runs long"
    frequency: every:1s
    concurrency: forbid
    retries: 1
    retry_delay: fixed:1s
    command: "exec sleep 300"
"#;

#[test]
fn a_second_daemon_on_the_same_data_dir_is_refused_with_the_first_ones_pid() {
    let t = TestDir::new();
    t.write("husky.yaml", "version: \"1\"\njobs:\n  j:\n    description: d\n    frequency: manual\n    command: \"true\"\n");
    let mut first = Bg::spawn(&t.path, &["daemon", "run"]);
    first.wait_for("husky daemon 0.");
    let second = t.husky(&["daemon", "run"]).expect(1);
    let want = format!("another husky daemon (pid {}) is running", first.pid());
    assert!(second.stderr.contains(&want), "{}", second.stderr);
    first.signal("TERM");
    assert_eq!(first.exit_code(), 0);
    // The lock went with it.
    let mut third = Bg::spawn(&t.path, &["daemon", "run"]);
    third.wait_for("husky daemon 0.");
    third.signal("INT");
    assert_eq!(third.exit_code(), 0);
}

#[test]
fn sighup_reloads_a_valid_file_and_keeps_the_old_one_when_it_is_invalid() {
    let t = TestDir::new();
    let valid = "version: \"1\"\njobs:\n  j:\n    description: d\n    frequency: manual\n    command: \"true\"\n";
    t.write("husky.yaml", valid);
    let mut d = Bg::spawn(&t.path, &["daemon", "run"]);
    d.wait_for("husky daemon 0.");
    t.write("husky.yaml", "version: \"1\"\njobs:\n  j:\n    frequency: sometimes\n");
    d.signal("HUP");
    d.wait_for("reload rejected");
    d.wait_for("frequency");
    t.write(
        "husky.yaml",
        &format!("{valid}  k:\n    description: d\n    frequency: hourly\n    command: \"true\"\n"),
    );
    d.signal("HUP");
    d.wait_for("configuration reloaded (2 jobs)");
    d.signal("TERM");
    assert_eq!(d.exit_code(), 0);
}

#[test]
fn kill_9_during_a_run_then_restart_kills_the_orphan_records_it_and_retries_it() {
    let t = TestDir::new();
    t.write("husky.yaml", SLEEPER);
    let mut d = Bg::spawn(&t.path, &["daemon", "run"]);
    let started = d.wait_for("sleeper: run 1 started");
    let pid: u32 = started
        .rsplit_once("pid ")
        .and_then(|(_, p)| p.trim_end_matches(')').parse().ok())
        .expect("pid in the log line");
    assert!(alive(pid));
    d.signal("KILL");
    let _ = d.exit_code();
    assert!(alive(pid), "the run outlives a daemon killed with -9");
    let mut again = Bg::spawn(&t.path, &["daemon", "run"]);
    again.wait_for("recovery: killed what was left of run 1");
    let deadline = SystemClock.monotonic() + Duration::from_secs(10);
    while alive(pid) {
        assert!(SystemClock.monotonic() < deadline, "the orphan {pid} is still alive");
        let _ = crossbeam_channel::after(Duration::from_millis(20)).recv();
    }
    again.wait_for("sleeper: run 2 started (attempt 2, retry");
    let db = t.path.join(".husky/husky.db");
    let first = rows(&db, "SELECT status || ' ' || status_reason FROM job_runs WHERE id = 1");
    assert_eq!(first, ["RETRYING orphaned: daemon restarted"]);
    // A forced stop (second interrupt) kills the retry at once.
    again.signal("INT");
    again.wait_for("stopping");
    again.signal("INT");
    assert_eq!(again.exit_code(), 0);
    let second = rows(&db, "SELECT status || ' ' || status_reason FROM job_runs WHERE id = 2");
    assert_eq!(second, ["CANCELLED daemon shutdown"]);
}

/// One HTTP/1.1 request over the daemon's unix socket: the status and the JSON body.
fn http(socket: &Path, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(socket).expect("connect");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: husky\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let (head, rest) = text.split_once("\r\n\r\n").expect("a response");
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("status");
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        // One chunk: size line, data, then the terminating chunk.
        rest.split_once("\r\n")
            .map(|(_, d)| d)
            .unwrap_or("")
            .rsplit_once("\r\n0\r\n")
            .map_or("", |(d, _)| d)
    } else {
        rest
    };
    (status, serde_json::from_str(body.trim()).unwrap_or_else(|e| panic!("{e}: {body:?}")))
}

#[test]
fn the_api_on_the_unix_socket_runs_pauses_reloads_and_stops() {
    let t = TestDir::new();
    let yaml = "version: \"1\"\njobs:\n  hello:\n    description: d\n    frequency: manual\n    command: \"echo hello\"\n    tags: [demo]\n  nightly:\n    description: d\n    frequency: daily\n    time: \"0300\"\n    command: \"true\"\n";
    t.write("husky.yaml", yaml);
    let mut d = Bg::spawn(&t.path, &["daemon", "run"]);
    d.wait_for("husky daemon 0.");
    let sock = t.path.join(".husky/husky.sock");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&sock).expect("socket").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    let (code, status) = http(&sock, "GET", "/api/status", "");
    assert_eq!((code, status["ok"].as_bool(), status["jobs"].as_u64()), (200, Some(true), Some(2)));
    assert_eq!(status["pid"].as_u64(), Some(u64::from(d.pid())));
    let (_, jobs) = http(&sock, "GET", "/api/jobs?tag=demo", "");
    assert_eq!(jobs.as_array().map(Vec::len), Some(1));
    assert_eq!(jobs[0]["name"], "hello");

    let (code, run) = http(&sock, "POST", "/api/jobs/hello/run", r#"{"reason": "from the test"}"#);
    assert_eq!(code, 202, "{run}");
    let id = run["runs"][0]["run_id"].as_i64().expect("run id");
    let deadline = SystemClock.monotonic() + Duration::from_secs(20);
    loop {
        let (_, r) = http(&sock, "GET", &format!("/api/runs/{id}"), "");
        if r["status"] == "SUCCESS" {
            assert_eq!(
                (r["reason"].as_str(), r["trigger"].as_str()),
                (Some("from the test"), Some("manual"))
            );
            break;
        }
        assert!(SystemClock.monotonic() < deadline, "{r}");
        let _ = crossbeam_channel::after(Duration::from_millis(20)).recv();
    }

    let (code, err) = http(&sock, "POST", "/api/jobs/helo/run", "");
    assert_eq!(code, 404);
    assert!(err["error"].as_str().is_some_and(|e| e.contains("did you mean \"hello\"")), "{err}");
    let long = format!(r#"{{"reason": "{}"}}"#, "x".repeat(501));
    assert_eq!(http(&sock, "POST", "/api/jobs/hello/run", &long).0, 400);
    assert_eq!(http(&sock, "POST", "/api/jobs/hello/run", "{not json").0, 400);
    assert_eq!(http(&sock, "GET", "/api/nope", "").0, 404);
    assert_eq!(http(&sock, "DELETE", "/api/status", "").0, 405);
    assert_eq!(http(&sock, "GET", "/api/runs/abc", "").0, 400);
    assert_eq!(http(&sock, "GET", "/api/runs/999", "").0, 404);

    let (code, paused) = http(&sock, "POST", "/api/jobs/pause?tag=demo", "");
    assert_eq!(code, 200, "{paused}");
    let (_, jobs) = http(&sock, "GET", "/api/jobs", "");
    assert_eq!(jobs[0]["paused"], true);

    t.write("husky.yaml", "version: \"1\"\njobs:\n  hello:\n    frequency: sometimes\n");
    let (code, reload) = http(&sock, "POST", "/api/daemon/reload", "");
    assert_eq!((code, reload["ok"].as_bool()), (200, Some(false)), "{reload}");
    assert!(reload["error"].as_str().is_some_and(|e| e.contains("frequency")), "{reload}");
    assert_eq!(http(&sock, "GET", "/api/status", "").1["jobs"], 2, "the old configuration stays");

    let (code, _) = http(&sock, "POST", "/api/daemon/stop", "");
    assert_eq!(code, 200);
    assert_eq!(d.exit_code(), 0);
    assert!(!sock.exists(), "the socket is removed");
    assert!(!t.path.join(".husky/api.addr").exists());
}

/// Stops a daemon started with `husky start` when the test ends, whatever happened.
struct Started<'a>(&'a TestDir);

impl Drop for Started<'_> {
    fn drop(&mut self) {
        let _ = self.0.husky(&["stop", "--force"]).run();
    }
}

#[test]
fn start_status_run_wait_pause_stop_with_their_exit_codes() {
    let t = TestDir::new();
    let yaml = "version: \"1\"\njobs:\n  ok:\n    description: d\n    frequency: manual\n    command: \"echo fine\"\n    tags: [demo]\n  bad:\n    description: d\n    frequency: manual\n    command: \"exit 3\"\n  once:\n    description: d\n    frequency: manual\n    concurrency: forbid\n    command: \"sleep 30\"\n";
    t.write("husky.yaml", yaml);
    let none = t.husky(&["status"]).expect(4);
    assert!(none.stderr.contains("husky start"), "{}", none.stderr);

    let started = t.husky(&["start"]).expect(0);
    let _guard = Started(&t);
    assert!(started.stdout.contains("daemon started (pid"), "{}", started.stdout);
    let again = t.husky(&["start"]).expect(0);
    assert!(again.stdout.contains("already running"), "{}", again.stdout);

    let status = t.husky(&["status"]).expect(0);
    assert!(status.stdout.contains("3 jobs"), "{}", status.stdout);
    let json = t.husky(&["status", "--format", "json", "--tag", "demo"]).expect(0);
    let list: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(1));

    let ok = t.husky(&["run", "ok", "--wait", "--reason", "e2e"]).expect(0);
    assert!(ok.stdout.contains("SUCCESS"), "{}", ok.stdout);
    t.husky(&["run", "bad", "--wait"]).expect(1);
    t.husky(&["run", "nope"]).expect(1);
    t.husky(&["run"]).expect(2);

    // A forbidden overlap is recorded SKIPPED: exit 3 with --wait.
    t.husky(&["run", "once"]).expect(0);
    let skipped = t.husky(&["run", "once", "--wait"]).expect(3);
    assert!(skipped.stdout.contains("SKIPPED: concurrency: forbid"), "{}", skipped.stdout);
    t.husky(&["cancel", "once"]).expect(0);

    t.husky(&["pause", "--tag", "demo"]).expect(0);
    let paused = t.husky(&["status", "--format", "json"]).expect(0);
    let list: serde_json::Value = serde_json::from_str(&paused.stdout).expect("json");
    let ok_job = list.as_array().and_then(|l| l.iter().find(|j| j["name"] == "ok")).cloned();
    assert_eq!(ok_job.map(|j| j["paused"].clone()), Some(serde_json::Value::Bool(true)));
    t.husky(&["resume", "ok"]).expect(0);
    t.husky(&["reload"]).expect(0);

    let stopped = t.husky(&["stop"]).expect(0);
    assert!(stopped.stdout.contains("daemon stopped"), "{}", stopped.stdout);
    t.husky(&["status"]).expect(4);
    let db = t.path.join(".husky/husky.db");
    let rows = rows(&db, "SELECT job_name || ' ' || status FROM job_runs ORDER BY id");
    assert_eq!(rows, ["ok SUCCESS", "bad FAILED", "once CANCELLED", "once SKIPPED"]);
}
