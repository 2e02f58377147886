//! The operator's commands end to end against a daemon started with `husky start`: a pipeline
//! run with `--wait --follow`, logs, history, audit CSV, retry, tag selectors, live log
//! streams and remote use with `--addr` given before the command.

use serde_json::Value;

use crate::util::{TestDir, rows};

/// Stops a daemon started with `husky start` when the test ends, whatever happened.
struct Started<'a>(&'a TestDir);

impl Drop for Started<'_> {
    fn drop(&mut self) {
        let _ = self.0.husky(&["stop", "--force"]).run();
    }
}

const PIPELINE: &str = r#"version: "1"
jobs:
  extract:
    description: extract
    frequency: manual
    command: "echo extracting; echo rows=42"
    tags: [etl, prod]
    output:
      rows: "regex:rows=(\\d+)"
  transform:
    description: transform
    frequency: after:extract
    command: "echo transforming {{ outputs.extract.rows }}"
    tags: [etl]
  load:
    description: load
    frequency: after:transform
    command: "echo loaded; echo oops >&2"
    tags: [etl, staging]
    healthcheck:
      command: "echo checked"
  flaky:
    description: fails until the marker exists, then succeeds
    frequency: manual
    command: "if [ -f ok ]; then echo fixed; else touch ok; echo broken; exit 3; fi"
    sla: 10m
  after_flaky:
    description: runs after flaky succeeds
    frequency: after:flaky
    command: "echo downstream"
  gated:
    description: needs flaky
    frequency: manual
    depends_on: [never]
    command: "true"
  never:
    description: never succeeds
    frequency: manual
    command: "exit 1"
"#;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn start_status_run_wait_logs_history_audit_csv_stop() {
    let t = TestDir::new();
    t.write("husky.yaml", PIPELINE);
    t.husky(&["start"]).expect(0);
    let _guard = Started(&t);
    let status = t.husky(&["status"]).expect(0);
    assert!(status.stdout.contains("7 jobs"), "{}", status.stdout);

    // The whole after: pipeline is waited for, its logs streamed with a job prefix.
    let run = t.husky(&["run", "extract", "--wait", "--follow", "--reason", "e2e"]).expect(0);
    let out = &run.stdout;
    for line in [
        "[extract] extracting",
        "[transform] transforming 42",
        "[load] loaded",
        "extract: run 1 SUCCESS",
        "transform: run 2 SUCCESS",
        "load: run 3 SUCCESS",
    ] {
        assert!(out.contains(line), "{line:?} missing from\n{out}");
    }
    let (logs_at, outcome_at) = (out.find("[load] loaded"), out.find("load: run 3 SUCCESS"));
    assert!(logs_at < outcome_at, "the logs come before the outcome:\n{out}");

    // logs: raw lines only; the healthcheck's on request; --timestamps and ndjson add context.
    let logs = t.husky(&["logs", "load"]).expect(0);
    assert_eq!(logs.stdout, "loaded\noops\n");
    let with_hc = t.husky(&["logs", "load", "--include-healthcheck"]).expect(0);
    assert!(with_hc.stdout.contains("checked"), "{}", with_hc.stdout);
    let stamped = t.husky(&["logs", "transform", "--timestamps"]).expect(0);
    assert!(stamped.stdout.contains("[run 2 stdout] transforming 42"), "{}", stamped.stdout);
    let nd = t.husky(&["logs", "load", "--format", "ndjson"]).expect(0);
    let first = json(nd.stdout.lines().next().expect("a line"));
    assert_eq!((first["run_id"].as_i64(), first["job"].as_str()), (Some(3), Some("load")));
    assert_eq!(first["stream"], "stdout");
    t.husky(&["logs", "load", "--run", "1"]).expect(1);
    t.husky(&["logs", "nope"]).expect(1);

    // A failure, then a skip: exit 1, then 3.
    t.husky(&["run", "flaky", "--wait"]).expect(1);
    let gated = t.husky(&["run", "gated", "--wait"]).expect(3);
    assert!(gated.stdout.contains("SKIPPED"), "{}", gated.stdout);

    // history --format json: the API's run fields, newest first.
    let hist = json(&t.husky(&["history", "flaky", "--format", "json"]).expect(0).stdout);
    assert_eq!(hist[0]["status"], "FAILED");
    assert_eq!(hist[0]["status_reason"], "exit code 3");
    assert_eq!(hist[0]["exit_code"], 3);
    let table = t.husky(&["history", "flaky"]).expect(0);
    assert!(table.stdout.contains("VS_SLA"), "{}", table.stdout);

    // audit CSV: the original's header, newest first, RFC 3339 UTC times.
    let csv = t.husky(&["audit", "--export", "csv"]).expect(0);
    let mut lines = csv.stdout.lines();
    assert_eq!(lines.next(), Some("id,job,status,trigger,reason,created_at"));
    let newest = lines.next().expect("a run");
    assert!(newest.contains(",gated,SKIPPED,manual,"), "{newest}");
    assert!(newest.ends_with('Z'), "{newest}");
    assert!(csv.stdout.contains(",extract,SUCCESS,manual,e2e,"), "{}", csv.stdout);
    let failed = t.husky(&["audit", "--status", "FAILED", "--format", "json"]).expect(0);
    assert_eq!(json(&failed.stdout).as_array().map(Vec::len), Some(1));

    t.husky(&["stop"]).expect(0);
    let none = t.husky(&["status"]).expect(4);
    assert!(none.stderr.contains("husky start"), "{}", none.stderr);

    // `stop` returns once the data directory is free: a start can follow at once, and the
    // restarted daemon has the history.
    t.husky(&["start"]).expect(0);
    let again = json(&t.husky(&["history", "extract", "--format", "json"]).expect(0).stdout);
    assert_eq!(again[0]["status"], "SUCCESS");
    t.husky(&["stop"]).expect(0);
}

#[test]
fn retry_reruns_the_last_failed_run_in_its_cycle_and_refuses_otherwise() {
    let t = TestDir::new();
    t.write("husky.yaml", PIPELINE);
    t.husky(&["start"]).expect(0);
    let _guard = Started(&t);
    let no_run = t.husky(&["retry", "flaky"]).expect(1);
    assert!(no_run.stderr.contains("no run to retry"), "{}", no_run.stderr);
    t.husky(&["retry", "nope"]).expect(1);

    t.husky(&["run", "flaky", "--wait"]).expect(1);
    let retried = t.husky(&["retry", "flaky", "--wait"]).expect(0);
    // Run 2 is after_flaky, SKIPPED when flaky failed; the retry reopens the cycle.
    assert!(retried.stdout.contains("flaky: run 3 SUCCESS"), "{}", retried.stdout);
    assert!(retried.stdout.contains("after_flaky: run 4 SUCCESS"), "{}", retried.stdout);
    let refused = t.husky(&["retry", "flaky"]).expect(1);
    assert!(refused.stderr.contains("only a FAILED run can be retried"), "{}", refused.stderr);

    let db = t.path.join(".husky/husky.db");
    let runs = rows(
        &db,
        "SELECT job_name || ' ' || attempt || ' ' || trigger || ' ' || status || ' ' || \
         (cycle_id = (SELECT cycle_id FROM job_runs WHERE id = 1)) FROM job_runs ORDER BY id",
    );
    assert_eq!(
        runs,
        [
            "flaky 1 manual FAILED 1",
            "after_flaky 1 dependency SKIPPED 1",
            "flaky 2 retry SUCCESS 1",
            "after_flaky 1 dependency SUCCESS 1"
        ]
    );
    let hist = json(&t.husky(&["history", "flaky", "--format", "json"]).expect(0).stdout);
    assert_eq!(hist[0]["reason"], "retry of run 1");
}

#[test]
fn tag_selectors_pick_jobs_for_run_pause_status_and_audit() {
    let t = TestDir::new();
    t.write("husky.yaml", PIPELINE);
    t.husky(&["start"]).expect(0);
    let _guard = Started(&t);
    let names = |args: &[&str]| -> Vec<String> {
        let out = t.husky(args).expect(0);
        json(&out.stdout)
            .as_array()
            .map(|l| l.iter().filter_map(|j| j["name"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    assert_eq!(
        names(&["status", "--tag", "etl", "--format", "json"]),
        ["extract", "load", "transform"]
    );
    assert_eq!(names(&["status", "--tag", "etl,staging", "--format", "json"]), ["load"]);
    assert_eq!(names(&["status", "--tag", "etl,!prod", "--format", "json"]), ["load", "transform"]);
    t.husky(&["status", "--tag", "ETL"]).expect(1);

    t.husky(&["pause", "--tag", "etl,!prod"]).expect(0);
    let status = json(&t.husky(&["status", "--format", "json"]).expect(0).stdout);
    let paused: Vec<&str> = status
        .as_array()
        .into_iter()
        .flatten()
        .filter(|j| j["paused"] == true)
        .filter_map(|j| j["name"].as_str())
        .collect();
    assert_eq!(paused, ["load", "transform"]);
    let wrong = t.husky(&["resume", "--tag", "etl"]).expect(1);
    assert!(wrong.stderr.contains("paused by etl,!prod"), "{}", wrong.stderr);
    t.husky(&["resume", "--tag", "!prod,etl"]).expect(0);

    let ran = t.husky(&["run", "--tag", "prod", "--wait"]).expect(0);
    assert!(ran.stdout.contains("extract: run 1 SUCCESS"), "{}", ran.stdout);
    let audit =
        json(&t.husky(&["audit", "--tag", "etl,!prod", "--format", "json"]).expect(0).stdout);
    let jobs: Vec<&str> =
        audit.as_array().into_iter().flatten().filter_map(|r| r["job"].as_str()).collect();
    assert_eq!(jobs, ["load", "transform"]);
    let tags = t.husky(&["tags", "list", "--format", "json"]).expect(0);
    let etl = json(&tags.stdout)
        .as_array()
        .and_then(|l| l.iter().find(|x| x["tag"] == "etl").cloned())
        .expect("etl");
    assert_eq!((etl["count"].as_u64(), etl["health"].as_str()), (Some(3), Some("3 SUCCESS")));
    let dag = t.husky(&["dag"]).expect(0);
    assert!(dag.stdout.contains("transform  ←  [extract]   (SUCCESS)"), "{}", dag.stdout);
}

/// Reads a server-sent event stream over TCP until its `end` event: the `(id, line)` of each
/// line event and the end event's data.
/// The events of a log stream until it ends: its lines `(id, text)` and the end's data.
fn sse(addr: &str, path: &str, last_event_id: Option<i64>) -> (Vec<(i64, String)>, Value) {
    let events = crate::util::sse(addr, path, last_event_id.and_then(|i| u64::try_from(i).ok()));
    let mut lines = Vec::new();
    let mut end = Value::Null;
    for (id, kind, data) in events.iter() {
        match kind.as_str() {
            "line" => lines.push((id as i64, data["line"].as_str().unwrap_or("").to_owned())),
            "end" => end = data,
            _ => {}
        }
    }
    (lines, end)
}

#[test]
fn log_streams_follow_a_run_live_resume_after_an_id_and_end_with_its_status() {
    let t = TestDir::new();
    let yaml = "version: \"1\"\njobs:\n  ticker:\n    description: d\n    frequency: manual\n    command: \"for i in 1 2 3 4 5; do echo tick $i; sleep 0.2; done\"\n";
    t.write("husky.yaml", yaml);
    t.husky(&["start"]).expect(0);
    let _guard = Started(&t);
    t.husky(&["run", "ticker"]).expect(0);
    // Follow while it runs: every line in order, then the end.
    let tail = t.husky(&["logs", "ticker", "-f"]).expect(0);
    assert_eq!(tail.stdout, "tick 1\ntick 2\ntick 3\ntick 4\ntick 5\n");

    let addr = t.read(".husky/api.addr");
    let (lines, end) = sse(addr.trim(), "/api/runs/1/logs/stream", None);
    let text: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(text, ["tick 1", "tick 2", "tick 3", "tick 4", "tick 5"]);
    assert_eq!((end["run_id"].as_i64(), end["status"].as_str()), (Some(1), Some("SUCCESS")));
    // Resuming after the second line's id gives exactly the rest.
    let (rest, _) = sse(addr.trim(), "/api/runs/1/logs/stream", Some(lines[1].0));
    let rest: Vec<&str> = rest.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(rest, ["tick 3", "tick 4", "tick 5"]);

    // The run --wait --follow of a single job prints its lines bare.
    let followed = t.husky(&["run", "ticker", "--follow"]).expect(0);
    assert!(followed.stdout.contains("tick 1\ntick 2\n"), "{}", followed.stdout);
    assert!(followed.stdout.contains("ticker: run 2 SUCCESS"), "{}", followed.stdout);
}

#[test]
fn remote_addr_before_the_command_and_root_config_options_work() {
    let t = TestDir::new();
    let sub = t.path.join("project");
    std::fs::create_dir_all(&sub).expect("dir");
    t.write("project/husky.yaml", PIPELINE);
    // Root -c before the command, from another directory.
    t.husky(&["-c", "project/husky.yaml", "start"]).expect(0);
    struct Stop<'a>(&'a TestDir);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let _ = self.0.husky(&["-c", "project/husky.yaml", "stop", "--force"]).run();
        }
    }
    let _guard = Stop(&t);
    let addr = t.read("project/.husky/api.addr");
    let url = format!("http://{}", addr.trim());
    let remote = t.husky(&["--addr", &url, "status", "--format", "json"]).expect(0);
    assert_eq!(json(&remote.stdout).as_array().map(Vec::len), Some(7));
    t.husky(&["--addr", &url, "run", "extract", "--wait"]).expect(0);
    let hist = t.husky(&["--addr", &url, "history", "extract", "--format", "json"]).expect(0);
    assert_eq!(json(&hist.stdout)[0]["status"], "SUCCESS");
    let dag = t.husky(&["--addr", &url, "dag", "--format", "json"]).expect(0);
    assert_eq!(json(&dag.stdout)[0]["name"], "extract");
    // HUSKY_ADDR does the same; an address where nothing listens is exit 4.
    t.husky(&["status"]).env("HUSKY_ADDR", &url).expect(0);
    t.husky(&["--addr", "http://127.0.0.1:9", "status"]).expect(4);
}

#[test]
fn prune_goes_through_a_running_daemons_store_writer_by_its_rules() {
    let t = TestDir::new();
    t.write(
        "husky.yaml",
        "version: \"1\"\njobs:\n  tick:\n    description: t\n    frequency: manual\n    command: \"echo tick\"\n",
    );
    t.write("huskyd.yaml", "storage:\n  retention:\n    max_runs_per_job: 1\n");
    t.husky(&["start"]).expect(0);
    let _guard = Started(&t);
    for _ in 0..3 {
        t.husky(&["run", "tick", "--wait"]).expect(0);
    }
    let dry = json(&t.husky(&["prune", "--dry-run", "--format", "json"]).expect(0).stdout);
    assert_eq!((dry["dry_run"].as_bool(), dry["runs"].as_u64()), (Some(true), Some(2)));
    let history = || json(&t.husky(&["history", "tick", "--format", "json"]).expect(0).stdout);
    assert_eq!(history().as_array().map(Vec::len), Some(3), "a dry run changes nothing");
    let done = t.husky(&["prune"]).expect(0);
    assert!(done.stdout.starts_with("pruned 2 runs"), "{}", done.stdout);
    let left = history();
    assert_eq!(left.as_array().map(Vec::len), Some(1));
    assert_eq!(left[0]["id"], 3, "the newest run stays");
    let log = t.read(".husky/huskyd.log");
    assert!(log.contains("prune: pruned 2 runs"), "the daemon pruned, not the CLI:\n{log}");
    // A bad duration is the API's 400 as well as the CLI's usage error.
    let (code, body) = crate::util::http(
        &t.path.join(".husky/husky.sock"),
        "POST",
        "/api/db/prune",
        r#"{"older_than": "soon"}"#,
    );
    assert_eq!(code, 400, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("older_than")), "{body}");
}

#[test]
fn bearer_tokens_with_roles_guard_the_tcp_api_and_are_read_again_on_reload() {
    let t = TestDir::new();
    t.write("husky.yaml", PIPELINE);
    t.write("tokens", "# ops\nadmin-secret\nviewer-secret viewer\nop-secret operator\n");
    t.write("huskyd.yaml", "auth:\n  type: bearer\n  bearer:\n    token_file: tokens\n");
    t.husky(&["start"]).expect(0);
    let _guard = Started(&t);
    let addr = t.read(".husky/api.addr");
    let addr = addr.trim();
    let url = format!("http://{addr}");
    let remote = |args: &[&str], token: Option<&str>| {
        let mut all = vec!["--addr", url.as_str()];
        all.extend_from_slice(args);
        let run = t.husky(&all);
        match token {
            Some(tok) => run.env("HUSKY_TOKEN", tok),
            None => run,
        }
    };

    // Without a token, or with a wrong one: refused, with a hint.
    let none = remote(&["status"], None).expect(1);
    assert!(none.stderr.contains("authorization required"), "{}", none.stderr);
    assert!(none.stderr.contains("HUSKY_TOKEN"), "{}", none.stderr);
    let wrong = remote(&["status"], Some("guess")).expect(1);
    assert!(wrong.stderr.contains("invalid token"), "{}", wrong.stderr);
    remote(&["status"], Some("admin-secret")).expect(0);

    // Roles: a viewer reads but may not run; an operator runs but may not stop the daemon.
    remote(&["history", "extract"], Some("viewer-secret")).expect(0);
    let viewer_run = remote(&["run", "extract"], Some("viewer-secret")).expect(1);
    assert!(viewer_run.stderr.contains("forbidden"), "{}", viewer_run.stderr);
    remote(&["run", "extract", "--wait"], Some("op-secret")).expect(0);
    let op_stop = remote(&["stop"], Some("op-secret")).expect(1);
    assert!(op_stop.stderr.contains("forbidden"), "{}", op_stop.stderr);

    // The raw answers: 401 with its challenge, ?token= for clients that cannot set headers.
    let (code, head, body) = crate::util::http_tcp(addr, "GET", "/api/status", &[], "");
    assert_eq!((code, body["error"].as_str()), (401, Some("authorization required")));
    assert!(head.contains("www-authenticate: bearer realm=\"husky\""), "{head}");
    let (code, _, _) =
        crate::util::http_tcp(addr, "GET", "/api/status?token=viewer-secret", &[], "");
    assert_eq!(code, 200);
    let (code, _, body) = crate::util::http_tcp(
        addr,
        "POST",
        "/api/daemon/reload",
        &["Authorization: Bearer viewer-secret"],
        "",
    );
    assert_eq!(code, 403, "{body}");

    // The unix socket needs no token; nor does the daemon's local token over TCP.
    t.husky(&["status"]).expect(0);
    let local = t.read(".husky/api.token");
    let bearer = format!("Authorization: Bearer {}", local.trim());
    let (code, _, _) = crate::util::http_tcp(addr, "GET", "/api/export", &[bearer.as_str()], "");
    assert_eq!(code, 200);

    // A reload reads the token file again.
    t.write("tokens", "rotated operator\n");
    t.husky(&["reload"]).expect(0);
    remote(&["status"], Some("admin-secret")).expect(1);
    remote(&["status"], Some("rotated")).expect(0);
    // A broken file keeps the tokens in force.
    t.write("tokens", "rotated wizard\n");
    t.husky(&["reload"]).expect(0);
    remote(&["status"], Some("rotated")).expect(0);
    let log = t.read(".husky/huskyd.log");
    assert!(log.contains("tokens:1: unknown role \"wizard\""), "{log}");
    assert!(log.contains("the tokens in force stay"), "{log}");
}

#[test]
fn basic_auth_cors_and_the_base_path_apply_in_husky_gos_order() {
    let t = TestDir::new();
    t.write("husky.yaml", PIPELINE);
    let hash = bcrypt::hash("pa55", 4).expect("hash");
    t.write(
        "huskyd.yaml",
        &format!(
            "api:\n  base_path: /husky\n  cors:\n    allowed_origins: [\"https://ops.example\"]\n\
             auth:\n  type: basic\n  basic:\n    users:\n      - username: ann\n        password_hash: \"{hash}\"\n        role: viewer\n"
        ),
    );
    t.husky(&["start"]).expect(0);
    let _guard = Started(&t);
    let addr = t.read(".husky/api.addr");
    let addr = addr.trim();
    let get = |path: &str, headers: &[&str]| crate::util::http_tcp(addr, "GET", path, headers, "");
    let ann = "Authorization: Basic YW5uOnBhNTU="; // ann:pa55

    // Outside the base path: 404 before anything else.
    assert_eq!(get("/api/status", &[ann]).0, 404);
    let (code, head, _) = get("/husky/api/status", &[]);
    assert_eq!(code, 401);
    assert!(head.contains("www-authenticate: basic realm=\"husky\""), "{head}");
    assert_eq!(get("/husky/api/status", &["Authorization: Basic YW5uOm5vcGU="]).0, 401);
    assert_eq!(get("/husky/api/status", &[ann]).0, 200);
    let (code, _, _) =
        crate::util::http_tcp(addr, "POST", "/husky/api/jobs/extract/run", &[ann], "");
    assert_eq!(code, 403, "a viewer may not run");

    // CORS: a listed origin gets its preflight answered (no credentials needed) and its origin
    // echoed; another origin gets no CORS headers.
    let (code, head, _) = crate::util::http_tcp(
        addr,
        "OPTIONS",
        "/husky/api/jobs",
        &["Origin: https://ops.example", "Access-Control-Request-Method: GET"],
        "",
    );
    assert_eq!(code, 204);
    assert!(head.contains("access-control-allow-origin: https://ops.example"), "{head}");
    assert!(head.contains("access-control-allow-headers: authorization"), "{head}");
    let (_, head, _) = get("/husky/api/jobs", &[ann, "Origin: https://ops.example"]);
    assert!(head.contains("access-control-allow-origin: https://ops.example"), "{head}");
    let (_, head, _) = get("/husky/api/jobs", &[ann, "Origin: https://evil.example"]);
    assert!(!head.contains("access-control-allow-origin"), "{head}");
}
