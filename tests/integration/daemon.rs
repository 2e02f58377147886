//! The daemon as operators run it: `husky daemon run` and `husky demo` as real processes, with
//! real signals, a real database and real jobs. Waiting is on the daemon's log lines and the
//! database, with deadlines (never a sleep).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crossbeam_channel::{Receiver, unbounded};
use husky::clock::{Clock, SystemClock};

use crate::util::{TestDir, http, rows};

/// A husky process in the background whose standard output (where the daemon logs by default)
/// and standard error are read line by line.
struct Bg {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Bg {
    fn spawn(dir: &Path, args: &[&str]) -> Bg {
        Bg::spawn_with(dir, args, &[])
    }

    fn spawn_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Bg {
        let mut child = Command::new(env!("CARGO_BIN_EXE_husky"))
            .args(args)
            .current_dir(dir)
            .env_remove("HUSKY_CONFIG")
            .env_remove("HUSKY_DATA")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn husky");
        let (tx, lines) = unbounded();
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        for stream in [Box::new(out) as Box<dyn std::io::Read + Send>, Box::new(err)] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            });
        }
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

/// Waits until the file at `path` satisfies `ok`, and returns its text.
#[track_caller]
fn wait_file(path: &Path, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = SystemClock.monotonic() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if ok(&text) {
            return text;
        }
        assert!(SystemClock.monotonic() < deadline, "{} never had {what}:\n{text}", path.display());
        let _ = crossbeam_channel::after(Duration::from_millis(20)).recv();
    }
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect()
}

#[test]
fn the_log_goes_to_a_json_file_the_audit_log_has_every_transition_and_a_reload_sets_the_level() {
    let t = TestDir::new();
    t.write(
        "husky.yaml",
        "version: \"1\"\njobs:\n  hello:\n    description: d\n    frequency: manual\n    command: \"echo hello\"\n  bad:\n    description: d\n    frequency: manual\n    retries: 1\n    retry_delay: fixed:100ms\n    command: \"exit 3\"\n",
    );
    let huskyd = "log:\n  level: info\n  format: json\n  output: file\n  file:\n    path: logs/huskyd.log\n  audit_log:\n    enabled: true\n    path: logs/audit.log\n";
    t.write("huskyd.yaml", huskyd);
    let log = t.path.join("logs/huskyd.log");
    let audit = t.path.join("logs/audit.log");
    let mut d = Bg::spawn(&t.path, &["daemon", "run"]);
    wait_file(&log, "the start line", |l| l.contains("husky daemon 0."));
    t.husky(&["run", "hello", "--wait", "--reason", "audit me"]).expect(0);
    t.husky(&["run", "bad"]).expect(0);
    let transitions = |text: &str| json_lines(text).len();
    wait_file(&audit, "9 transitions", |text| transitions(text) >= 9);

    // The level is re-read from huskyd.yaml on SIGHUP: INFO lines stop.
    t.write("huskyd.yaml", &huskyd.replace("level: info", "level: warn"));
    d.signal("HUP");
    wait_file(&log, "the new level", |l| l.contains("log level is now warn"));
    t.husky(&["run", "hello", "--wait"]).expect(0);
    d.signal("TERM");
    assert_eq!(d.exit_code(), 0);
    let on_stdout: Vec<String> = d.lines.try_iter().filter(|l| l.contains("husky")).collect();
    assert!(on_stdout.is_empty(), "the log went to the file only: {on_stdout:?}");

    let lines = json_lines(&std::fs::read_to_string(&log).expect("log"));
    for l in &lines {
        let keys: Vec<&String> = l.as_object().expect("an object").keys().collect();
        assert_eq!(keys, ["time", "level", "msg"], "{l}");
        assert!(husky::store::parse_ts(l["time"].as_str().expect("time")).is_some(), "{l}");
    }
    let msgs: Vec<&str> = lines.iter().filter_map(|l| l["msg"].as_str()).collect();
    let at = msgs.iter().position(|m| m.contains("log level is now warn")).expect("level line");
    assert!(msgs[..at].iter().any(|m| m.starts_with("hello: run 1 started")), "{msgs:#?}");
    assert!(msgs[..at].iter().any(|m| m.starts_with("bad: run 3 ended FAILED")), "{msgs:#?}");
    let after: Vec<&serde_json::Value> = lines[at + 1..].iter().collect();
    assert!(after.iter().all(|l| l["level"] == "WARN" || l["level"] == "ERROR"), "{after:#?}");

    let audit = json_lines(&std::fs::read_to_string(&audit).expect("audit"));
    let brief: Vec<String> = audit
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
            r#"1 "hello" "PENDING" <- null #1 "manual""#,
            r#"1 "hello" "RUNNING" <- "PENDING" #1 "manual""#,
            r#"1 "hello" "SUCCESS" <- "RUNNING" #1 "manual""#,
            r#"2 "bad" "PENDING" <- null #1 "manual""#,
            r#"2 "bad" "RUNNING" <- "PENDING" #1 "manual""#,
            r#"2 "bad" "RETRYING" <- "RUNNING" #1 "manual""#,
            r#"3 "bad" "PENDING" <- null #2 "retry""#,
            r#"3 "bad" "RUNNING" <- "PENDING" #2 "retry""#,
            r#"3 "bad" "FAILED" <- "RUNNING" #2 "retry""#,
            r#"4 "hello" "PENDING" <- null #1 "manual""#,
            r#"4 "hello" "RUNNING" <- "PENDING" #1 "manual""#,
            r#"4 "hello" "SUCCESS" <- "RUNNING" #1 "manual""#,
        ]
    );
    assert_eq!(audit[0]["reason"], "audit me");
    assert_eq!(audit[2]["exit_code"], 0);
    assert_eq!(audit[8]["exit_code"], 3);
    assert_eq!(audit[2]["cycle_id"], audit[0]["cycle_id"]);
    assert!(
        audit.iter().all(|l| husky::store::parse_ts(l["time"].as_str().unwrap_or("")).is_some())
    );
}

/// The next notification on `sock`, within the deadline.
#[track_caller]
fn next_note(sock: &std::os::unix::net::UnixDatagram, seen: &mut Vec<String>) -> String {
    let deadline = SystemClock.monotonic() + Duration::from_secs(30);
    let left = deadline.saturating_duration_since(SystemClock.monotonic());
    sock.set_read_timeout(Some(left.max(Duration::from_millis(1)))).expect("timeout");
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).unwrap_or_else(|e| panic!("no notification ({e}); had {seen:?}"));
    let note = String::from_utf8_lossy(&buf[..n]).into_owned();
    seen.push(note.clone());
    note
}

/// Waits for a notification that starts with `want`, skipping watchdog pings.
#[track_caller]
fn wait_note(
    sock: &std::os::unix::net::UnixDatagram,
    seen: &mut Vec<String>,
    want: &str,
) -> String {
    loop {
        let note = next_note(sock, seen);
        if note.starts_with(want) {
            return note;
        }
        assert_eq!(note, "WATCHDOG=1", "expected {want:?} after {seen:?}");
    }
}

#[test]
fn under_systemd_the_daemon_says_ready_pings_the_watchdog_reloads_and_says_stopping() {
    let t = TestDir::new();
    t.write(
        "husky.yaml",
        "version: \"1\"\njobs:\n  env:\n    description: d\n    frequency: manual\n    command: \"echo notify=${NOTIFY_SOCKET:-none}\"\n",
    );
    t.write("huskyd.yaml", "process:\n  watchdog_interval: 100ms\n");
    let path = t.path.join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&path).expect("bind");
    let env = [("NOTIFY_SOCKET", path.to_str().expect("utf-8"))];
    let mut d = Bg::spawn_with(&t.path, &["daemon", "run"], &env);
    let mut seen = Vec::new();
    assert_eq!(next_note(&sock, &mut seen), "READY=1", "READY=1 comes first");
    // The API answers by then.
    d.wait_for("husky daemon 0.");
    t.husky(&["status"]).expect(0);
    for _ in 0..3 {
        wait_note(&sock, &mut seen, "WATCHDOG=1");
    }
    d.signal("HUP");
    let reloading = wait_note(&sock, &mut seen, "RELOADING=1");
    let usec = reloading.split_once("\nMONOTONIC_USEC=").map(|(_, u)| u.parse::<u64>());
    assert!(matches!(usec, Some(Ok(u)) if u > 0), "{reloading:?}");
    assert_eq!(wait_note(&sock, &mut seen, "READY=1"), "READY=1");
    // The notification socket is the daemon's, not its jobs'.
    t.husky(&["run", "env", "--wait"]).expect(0);
    let lines = rows(&t.path.join(".husky/husky.db"), "SELECT line FROM run_logs");
    assert_eq!(lines, ["notify=none"]);
    d.signal("TERM");
    assert_eq!(wait_note(&sock, &mut seen, "STOPPING=1"), "STOPPING=1");
    assert_eq!(d.exit_code(), 0);
    let stops = seen.iter().filter(|n| n.starts_with("STOPPING")).count();
    let late: Vec<String> = std::iter::from_fn(|| {
        sock.set_nonblocking(true).ok()?;
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    })
    .collect();
    assert_eq!(stops + late.iter().filter(|n| n.starts_with("STOPPING")).count(), 1, "{late:?}");
}
