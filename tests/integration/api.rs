//! Every route of the API over real HTTP against a daemon started with `husky start`: each
//! route's answer and its errors (400, 404, 405, 409, 413, 503; 401 and 403 are in
//! `operator.rs`). The table must name every route the daemon serves with a success.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::util::{TestDir, http};

const JOBS: &str = r#"version: "1"
integrations:
  hook:
    provider: webhook
    webhook_url: http://127.0.0.1:9/nobody-listens
jobs:
  ok:
    description: prints and captures
    frequency: manual
    command: "echo hello; echo rows=7"
    tags: [etl]
    output:
      rows: "regex:rows=(\\d+)"
  hourly:
    description: scheduled, never due in the test
    frequency: every:1h
    command: "true"
  fail:
    description: fails
    frequency: manual
    command: "exit 2"
  slow:
    description: runs until cancelled
    frequency: manual
    command: "sleep 60"
"#;

struct Daemon {
    t: TestDir,
    sock: PathBuf,
}

impl Daemon {
    fn start() -> Daemon {
        let t = TestDir::new();
        t.write("husky.yaml", JOBS);
        t.write("huskyd.yaml", "log:\n  level: info\n");
        t.husky(&["start"]).expect(0);
        let sock = t.path.join(".husky/husky.sock");
        Daemon { t, sock }
    }

    fn call(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        http(&self.sock, method, path, body)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.t.husky(&["stop", "--force"]).run();
    }
}

/// Waits until `GET path` satisfies `ok`.
fn poll(d: &Daemon, path: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = crossbeam_channel::after(Duration::from_secs(20));
    loop {
        let (code, v) = d.call("GET", path, "");
        if code == 200 && ok(&v) {
            return v;
        }
        if deadline.try_recv().is_ok() {
            panic!("{path} never matched; last: {code} {v}");
        }
        let _ = crossbeam_channel::after(Duration::from_millis(25)).recv();
    }
}

/// An SSE request over the socket: the status line and the whole body (the run has ended,
/// so the stream ends).
fn stream_head(sock: &Path, path: &str) -> (u16, String) {
    let mut s = UnixStream::connect(sock).expect("connect");
    write!(s, "GET {path} HTTP/1.1\r\nHost: husky\r\nConnection: close\r\n\r\n").expect("write");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, text)
}

#[test]
fn every_route_answers_with_its_success_and_its_errors() {
    let d = Daemon::start();
    // A finished run with a log and an output, a failed run, and a run in progress.
    d.t.husky(&["run", "ok", "--wait"]).expect(0);
    d.t.husky(&["run", "fail", "--wait"]).expect(1);
    let (code, started) = d.call("POST", "/api/jobs/slow/run", "");
    assert_eq!(code, 202, "{started}");
    let slow = started["runs"][0]["run_id"].as_i64().expect("run id");
    poll(&d, &format!("/api/runs/{slow}"), |r| r["status"] == "RUNNING");
    let cycle = d.call("GET", "/api/runs/1", "").1["cycle_id"].as_str().expect("cycle").to_owned();

    let valid = serde_json::to_string(&json!({ "yaml": JOBS })).expect("json");
    let invalid = r#"{"yaml": "version: \"1\"\njobs:\n  x:\n    description: d\n    frequency: every:1q\n    command: \"true\"\n"}"#;
    let big = format!(r#"{{"reason": "{}"}}"#, "x".repeat(1 << 20));
    let slow_cancel = format!("/api/runs/{slow}/cancel");
    let slow_logs = format!("/api/runs/{slow}/logs");
    let cycle_path = format!("/api/cycles/{cycle}");

    // (template, method, path, body, expected status)
    let cases: Vec<(&str, &str, &str, &str, u16)> = vec![
        ("/api/status", "GET", "/api/status", "", 200),
        ("/api/daemon/info", "GET", "/api/daemon/info", "", 200),
        ("/ws/logs/{id}", "GET", "/ws/logs/x", "", 400),
        ("/ws/logs/{id}", "GET", "/ws/logs/999", "", 404),
        ("/api/jobs", "GET", "/api/jobs", "", 200),
        ("/api/jobs", "GET", "/api/jobs?tag=etl", "", 200),
        ("/api/jobs", "GET", "/api/jobs?tag=!", "", 400),
        ("/api/jobs", "DELETE", "/api/jobs", "", 405),
        ("/api/jobs/pause", "POST", "/api/jobs/pause?tag=etl", "", 200),
        ("/api/jobs/pause", "POST", "/api/jobs/pause", "", 400),
        ("/api/jobs/resume", "POST", "/api/jobs/resume?tag=etl", "", 200),
        ("/api/jobs/{job}", "GET", "/api/jobs/ok", "", 200),
        ("/api/jobs/{job}", "GET", "/api/jobs/ok?runs=x", "", 400),
        ("/api/jobs/{job}", "GET", "/api/jobs/nope", "", 404),
        ("/api/jobs/{job}/next", "GET", "/api/jobs/hourly/next?count=3", "", 200),
        ("/api/jobs/{job}/next", "GET", "/api/jobs/hourly/next?count=x", "", 400),
        ("/api/jobs/{job}/next", "GET", "/api/jobs/nope/next", "", 404),
        ("/api/jobs/{job}/run", "POST", "/api/jobs/ok/run", r#"{"reason": "table"}"#, 202),
        ("/api/jobs/{job}/run", "POST", "/api/jobs/ok/run", "{", 400),
        ("/api/jobs/{job}/run", "POST", "/api/jobs/nope/run", "", 404),
        ("/api/jobs/{job}/run", "POST", "/api/jobs/ok/run", &big, 413),
        ("/api/jobs/{job}/run", "GET", "/api/jobs/ok/run", "", 405),
        ("/api/jobs/{job}/retry", "POST", "/api/jobs/fail/retry", "", 202),
        ("/api/jobs/{job}/retry", "POST", "/api/jobs/hourly/retry", "", 409),
        ("/api/jobs/{job}/retry", "POST", "/api/jobs/nope/retry", "", 404),
        ("/api/jobs/{job}/pause", "POST", "/api/jobs/hourly/pause", "", 200),
        ("/api/jobs/{job}/pause", "POST", "/api/jobs/nope/pause", "", 404),
        ("/api/jobs/{job}/resume", "POST", "/api/jobs/hourly/resume", "", 200),
        ("/api/jobs/{job}/skip", "POST", "/api/jobs/hourly/skip", "", 200),
        ("/api/jobs/{job}/skip", "POST", "/api/jobs/ok/skip", "", 400),
        ("/api/jobs/{job}/cancel", "POST", "/api/jobs/hourly/cancel", "", 400),
        ("/api/jobs/{job}/cancel", "POST", "/api/jobs/nope/cancel", "", 404),
        ("/api/runs", "GET", "/api/runs?status=success,failed", "", 200),
        ("/api/runs", "GET", "/api/runs?page=1&page_size=2", "", 200),
        ("/api/runs", "GET", "/api/runs?status=BOGUS", "", 400),
        ("/api/runs", "GET", "/api/runs?since=yesterday", "", 400),
        ("/api/runs", "GET", "/api/runs?page=0", "", 400),
        ("/api/audit", "GET", "/api/audit?job=ok", "", 200),
        ("/api/runs/{id}", "GET", "/api/runs/1", "", 200),
        ("/api/runs/{id}", "GET", "/api/runs/x", "", 400),
        ("/api/runs/{id}", "GET", "/api/runs/999", "", 404),
        ("/api/runs/{id}/logs", "GET", "/api/runs/1/logs", "", 200),
        ("/api/runs/{id}/logs", "GET", &slow_logs, "", 200),
        ("/api/runs/{id}/logs", "GET", "/api/runs/999/logs", "", 404),
        ("/api/runs/{id}/outputs", "GET", "/api/runs/1/outputs", "", 200),
        ("/api/runs/{id}/outputs", "GET", "/api/runs/x/outputs", "", 400),
        ("/api/cycles/{id}", "GET", &cycle_path, "", 200),
        ("/api/cycles/{id}", "GET", "/api/cycles/nope", "", 404),
        ("/api/tags", "GET", "/api/tags", "", 200),
        ("/api/dag", "GET", "/api/dag", "", 200),
        ("/api/export", "GET", "/api/export", "", 200),
        ("/api/db/job_runs", "GET", "/api/db/job_runs?job=ok", "", 200),
        ("/api/db/job_runs", "GET", "/api/db/job_runs?limit=x", "", 400),
        ("/api/db/state", "GET", "/api/db/state", "", 200),
        ("/api/db/job_state", "GET", "/api/db/job_state", "", 200),
        ("/api/db/job_state/{job}/clear_lock", "POST", "/api/db/job_state/ok/clear_lock", "", 200),
        (
            "/api/db/job_state/{job}/clear_lock",
            "POST",
            "/api/db/job_state/slow/clear_lock",
            "",
            409,
        ),
        (
            "/api/db/job_state/{job}/clear_lock",
            "POST",
            "/api/db/job_state/nope/clear_lock",
            "",
            404,
        ),
        ("/api/db/run_logs", "GET", "/api/db/run_logs?run_id=1", "", 200),
        ("/api/db/run_logs", "GET", "/api/db/run_logs?job=ok&q=HELLO", "", 200),
        ("/api/db/run_logs", "GET", "/api/db/run_logs?stream=radio", "", 400),
        ("/api/db/run_outputs", "GET", "/api/db/run_outputs?job=ok", "", 200),
        ("/api/db/run_outputs", "GET", "/api/db/run_outputs?run_id=x", "", 400),
        ("/api/db/alerts", "GET", "/api/db/alerts", "", 200),
        ("/api/db/alerts/{id}/retry", "POST", "/api/db/alerts/x/retry", "", 400),
        ("/api/db/alerts/{id}/retry", "POST", "/api/db/alerts/999/retry", "", 404),
        ("/api/alerts/{id}/retry", "POST", "/api/alerts/999/retry", "", 404),
        ("/api/integrations", "GET", "/api/integrations", "", 200),
        ("/api/integrations/{name}/test", "POST", "/api/integrations/nope/test", "", 404),
        ("/api/db/prune", "POST", "/api/db/prune", r#"{"dry_run": true}"#, 200),
        ("/api/db/prune", "POST", "/api/db/prune", r#"{"dry_run": "yes"}"#, 400),
        ("/api/config", "GET", "/api/config", "", 200),
        ("/api/config/file", "GET", "/api/config/file", "", 200),
        ("/api/config/daemon", "GET", "/api/config/daemon", "", 200),
        ("/api/config/validate", "POST", "/api/config/validate", &valid, 200),
        ("/api/config/validate", "POST", "/api/config/validate", r#"{"text": ""}"#, 400),
        ("/api/config/save", "POST", "/api/config/save", "[]", 400),
        ("/api/daemon/reload", "POST", "/api/daemon/reload", "", 200),
        ("/api/daemon/stop", "GET", "/api/daemon/stop", "", 405),
        ("", "GET", "/api/nothing", "", 404),
        ("", "GET", "/elsewhere", "", 404),
    ];
    let mut failures = Vec::new();
    let mut served = BTreeSet::new();
    for (template, method, path, body, want) in &cases {
        let (code, v) = d.call(method, path, body);
        if code != *want {
            failures.push(format!("{method} {path}: {code} (expected {want}) {v}"));
        }
        if *want >= 400 && v["error"].as_str().is_none_or(str::is_empty) {
            failures.push(format!("{method} {path}: an error without {{\"error\"}}: {v}"));
        }
        if *want < 300 {
            served.insert(format!("{method} {template}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // An integration test that cannot be delivered is answered (ok false) and recorded as a
    // failed alert; sent again, it is pending (retried in the background), so a second retry
    // is a conflict.
    for (path, retry) in
        [("/api/db/alerts/{id}/retry", "/api/db/alerts"), ("/api/alerts/{id}/retry", "/api/alerts")]
    {
        let (code, v) = d.call("POST", "/api/integrations/hook/test", "");
        assert_eq!((code, v["ok"].as_bool()), (200, Some(false)), "{v}");
        assert!(
            v["error"].as_str().is_some_and(|e| !e.contains("nobody-listens")),
            "redacted: {v}"
        );
        let id = v["alert_id"].as_i64().expect("alert id");
        let (code, v) = d.call("POST", &format!("{retry}/{id}/retry"), "");
        assert_eq!(code, 200, "{v}");
        served.insert(format!("POST {path}"));
        let (code, v) = d.call("POST", &format!("{retry}/{id}/retry"), "");
        assert_eq!((code, v["error"].as_str()), (409, Some("alert is already pending retry")));
    }
    served.insert("POST /api/integrations/{name}/test".into());

    // The answers themselves, where the status alone says little.
    let (_, jobs) = d.call("GET", "/api/jobs?tag=etl", "");
    assert_eq!(jobs.as_array().map(Vec::len), Some(1), "{jobs}");
    let (_, page) = d.call("GET", "/api/runs?page=2&page_size=1", "");
    assert_eq!(page[0]["id"].as_i64().map(|id| id > 0), Some(true), "{page}");
    let (_, logs) = d.call("GET", "/api/db/run_logs?job=ok&q=HELLO", "");
    assert_eq!(logs[0]["line"], "hello", "case-insensitive search: {logs}");
    let (_, outputs) = d.call("GET", "/api/db/run_outputs?job=ok", "");
    assert_eq!(
        (outputs[0]["var_name"].as_str(), outputs[0]["value"].as_str()),
        (Some("rows"), Some("7"))
    );
    let (_, verdict) = d.call("POST", "/api/config/validate", invalid);
    assert_eq!(verdict["ok"], false);
    assert_eq!(
        (verdict["errors"][0]["job"].as_str(), verdict["errors"][0]["line"].as_u64()),
        (Some("x"), Some(5)),
        "{verdict}"
    );
    let (_, file) = d.call("GET", "/api/config/file", "");
    assert_eq!(file["yaml"], JOBS);

    // The log stream of a finished run: the backfill, then the end.
    let (code, text) = stream_head(&d.sock, "/api/runs/1/logs/stream");
    assert_eq!(code, 200, "{text}");
    assert!(text.contains("text/event-stream") && text.contains("event: end"), "{text}");
    served.insert("GET /api/runs/{id}/logs/stream".into());
    assert_eq!(stream_head(&d.sock, "/api/runs/999/logs/stream").0, 404);

    // 503: past the cap of open log streams (64), a stream is refused.
    let mut open = Vec::new();
    for _ in 0..64 {
        let mut s = UnixStream::connect(&d.sock).expect("connect");
        write!(s, "GET /api/runs/{slow}/logs/stream HTTP/1.1\r\nHost: husky\r\n\r\n")
            .expect("write");
        let mut head = [0u8; 12];
        s.read_exact(&mut head).expect("the stream's status line");
        assert_eq!(&head, b"HTTP/1.1 200");
        open.push(s);
    }
    let (code, text) = stream_head(&d.sock, &format!("/api/runs/{slow}/logs/stream"));
    assert_eq!(code, 503, "{text}");
    drop(open);

    // Cancelling the slow run, then saving a new configuration, which reloads.
    let (code, v) = d.call("POST", &slow_cancel, "");
    assert_eq!(code, 200, "{v}");
    served.insert("POST /api/runs/{id}/cancel".into());
    poll(&d, &format!("/api/runs/{slow}"), |r| r["status"] == "CANCELLED");
    assert_eq!(d.call("POST", &slow_cancel, "").0, 400, "not running any more");
    let (code, v) = d.call("POST", "/api/jobs/slow/run", "");
    assert_eq!(code, 202, "{v}");
    poll(&d, "/api/jobs/slow", |j| j["running"] == true);
    let (code, v) = d.call("POST", "/api/jobs/slow/cancel", "");
    assert_eq!(code, 200, "{v}");
    served.insert("POST /api/jobs/{job}/cancel".into());

    // The event stream and the WebSockets answer their upgrade (their traffic is in live.rs).
    let status_line = |request: String| {
        let mut s = UnixStream::connect(&d.sock).expect("connect");
        s.write_all(request.as_bytes()).expect("write");
        let mut head = [0u8; 12];
        s.read_exact(&mut head).expect("a status line");
        String::from_utf8_lossy(&head).into_owned()
    };
    // (The log streams of the cancelled run give their places back as they end.)
    let deadline = crossbeam_channel::after(Duration::from_secs(20));
    while status_line("GET /api/events/stream HTTP/1.1\r\nHost: husky\r\n\r\n".into())
        != "HTTP/1.1 200"
    {
        assert!(deadline.try_recv().is_err(), "the event stream never opened");
        let _ = crossbeam_channel::after(Duration::from_millis(50)).recv();
    }
    served.insert("GET /api/events/stream".into());
    let upgrade = |path: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: husky\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
    };
    assert_eq!(status_line(upgrade("/ws/logs/1")), "HTTP/1.1 101");
    served.insert("GET /ws/logs/{id}".into());
    assert_eq!(status_line(upgrade("/ws/events")), "HTTP/1.1 101");
    served.insert("GET /ws/events".into());

    let extended = format!(
        "{JOBS}  added:\n    description: from the API\n    frequency: manual\n    command: \"true\"\n"
    );
    let body = serde_json::to_string(&json!({ "yaml": extended })).expect("json");
    let (code, v) = d.call("POST", "/api/config/save", &body);
    assert_eq!(
        (code, v["ok"].as_bool(), v["saved"].as_bool()),
        (200, Some(true), Some(true)),
        "{v}"
    );
    served.insert("POST /api/config/save".into());
    assert_eq!(d.call("GET", "/api/jobs/added", "").0, 200, "the saved file is in force");
    assert_eq!(d.t.read("husky.yaml"), extended);
    assert_eq!(d.t.read("husky.yaml.bak"), JOBS, "the previous file is kept");
    let (code, v) = d.call("POST", "/api/config/save", invalid);
    assert_eq!((code, v["ok"].as_bool(), v["saved"].as_bool()), (200, Some(false), None), "{v}");
    assert_eq!(d.t.read("husky.yaml"), extended, "an invalid file is never written");

    let (code, v) = d.call("POST", "/api/daemon/stop", "");
    assert_eq!(code, 200, "{v}");
    served.insert("POST /api/daemon/stop".into());

    let missing: Vec<String> = husky::api::routes::ROUTES
        .iter()
        .map(|(m, p)| format!("{m} {p}"))
        .filter(|r| !served.contains(r))
        .collect();
    assert!(missing.is_empty(), "routes without a success case here: {missing:?}");
}

/// `GET /metrics` over TCP: the status and the text.
fn scrape(addr: &str, headers: &[&str]) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let mut req = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(&format!("{h}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, text)
}

/// The value of the sample `series` (name and labels as written) in a scrape.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn metrics_count_runs_retries_breaches_and_turns_on_the_api_listener_or_their_own() {
    let t = TestDir::new();
    t.write(
        "husky.yaml",
        r#"version: "1"
jobs:
  ok:
    description: succeeds, past its SLA
    frequency: manual
    command: "sleep 1.2"
    sla: 1s
  flaky:
    description: fails once, then succeeds on retry
    frequency: manual
    command: "if [ -f once ]; then exit 0; else touch once; exit 1; fi"
    retries: 1
    retry_delay: fixed:1s
"#,
    );
    t.write("tokens", "admin-token\n");
    // On the API listener (same address), open although the API needs a token.
    t.write(
        "huskyd.yaml",
        "api:\n  addr: 127.0.0.1:0\nauth:\n  type: bearer\n  bearer:\n    token_file: tokens\nmetrics:\n  enabled: true\n  addr: 127.0.0.1:0\n",
    );
    t.husky(&["start"]).expect(0);
    struct Stop<'a>(&'a TestDir);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let _ = self.0.husky(&["stop", "--force"]).run();
        }
    }
    let guard = Stop(&t);
    t.husky(&["run", "ok", "--wait"]).expect(0);
    t.husky(&["run", "flaky", "--wait"]).expect(0);
    let addr = t.read(".husky/api.addr");
    let (code, text) = scrape(addr.trim(), &[]);
    assert_eq!(code, 200, "{text}");
    assert!(
        text.contains("content-type: text/plain; version=0.0.4")
            || text.contains("Content-Type: text/plain; version=0.0.4"),
        "{text}"
    );
    let get = |series: &str| sample(&text, series);
    assert_eq!(
        get("husky_job_runs_total{job=\"ok\",status=\"SUCCESS\",trigger=\"manual\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        get("husky_job_runs_total{job=\"flaky\",status=\"RETRYING\",trigger=\"manual\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        get("husky_job_runs_total{job=\"flaky\",status=\"SUCCESS\",trigger=\"retry\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(get("husky_job_retries_total{job=\"flaky\"}"), Some(1.0), "{text}");
    assert_eq!(get("husky_job_sla_breaches_total{job=\"ok\"}"), Some(1.0), "{text}");
    assert_eq!(get("husky_job_duration_seconds_count{job=\"ok\"}"), Some(1.0), "{text}");
    assert!(get("husky_job_duration_seconds_sum{job=\"ok\"}").is_some_and(|s| s >= 1.2), "{text}");
    assert!(get("husky_scheduler_tick_duration_seconds_count").is_some_and(|n| n > 0.0), "{text}");
    assert_eq!(get("husky_running_jobs"), Some(0.0));
    assert_eq!(get("husky_store_up"), Some(1.0));
    assert!(get("husky_daemon_uptime_seconds").is_some_and(|s| s > 0.0), "{text}");
    // The rest of the API still wants its token.
    let (code, _) = http_get(addr.trim(), "/api/status");
    assert_eq!(code, 401);
    drop(guard);

    // A listener of its own, with the API's auth.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = free.local_addr().expect("addr").port();
    drop(free);
    let metrics_addr = format!("127.0.0.1:{port}");
    t.write(
        "huskyd.yaml",
        &format!("api:\n  addr: 127.0.0.1:0\nauth:\n  type: bearer\n  bearer:\n    token_file: tokens\nmetrics:\n  enabled: true\n  addr: {metrics_addr}\n  auth: true\n"),
    );
    t.husky(&["start"]).expect(0);
    let _guard = Stop(&t);
    let (code, text) = scrape(&metrics_addr, &[]);
    assert_eq!(code, 401, "{text}");
    let (code, text) = scrape(&metrics_addr, &["Authorization: Bearer admin-token"]);
    assert_eq!(code, 200, "{text}");
    assert!(text.contains("# TYPE husky_job_runs_total counter"), "{text}");
    let (code, _) = http_get(&metrics_addr, "/api/status");
    assert_eq!(code, 404, "the metrics listener serves metrics only");
    let api = t.read(".husky/api.addr");
    let (code, _) = scrape(api.trim(), &["Authorization: Bearer admin-token"]);
    assert_eq!(code, 404, "not on the API listener when it has its own");
}

fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, text)
}

#[test]
fn a_run_the_api_created_can_be_read_at_once() {
    let d = Daemon::start();
    for _ in 0..50 {
        let (code, v) = d.call("POST", "/api/jobs/ok/run", "");
        assert_eq!(code, 202, "{v}");
        let id = v["runs"][0]["run_id"].as_i64().expect("run id");
        let (code, run) = d.call("GET", &format!("/api/runs/{id}"), "");
        assert_eq!(code, 200, "run {id} was answered before it was committed: {run}");
    }
}
