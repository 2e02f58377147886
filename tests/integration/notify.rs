//! Notifications end to end: a daemon started with `husky start` sends to real local receivers
//! (an HTTP server in the test records every request and answers as told), and the tests
//! assert the exact JSON of each provider, retries, durable delivery across a restart,
//! only_after_failure, cooldowns, the integrations commands, alert retry and redaction.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, unbounded};
use serde_json::Value;

use crate::util::{TestDir, http, rows};

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Got {
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A local HTTP receiver: records every request on a channel and answers with the next status
/// of its script (200 once the script is used up).
struct Receiver_ {
    addr: String,
    got: Receiver<Got>,
    script: Arc<Mutex<VecDeque<u16>>>,
}

fn receiver_on(listener: TcpListener) -> Receiver_ {
    let addr = listener.local_addr().expect("addr").to_string();
    let (tx, got) = unbounded();
    let script: Arc<Mutex<VecDeque<u16>>> = Arc::default();
    let answers = script.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.trim_end().split_once(':') {
                    headers.push((k.trim().to_owned(), v.trim().to_owned()));
                }
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let status = answers.lock().expect("lock").pop_front().unwrap_or(200);
            let _ =
                tx.send(Got { path, headers, body: String::from_utf8_lossy(&body).into_owned() });
            let reply =
                format!("HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    Receiver_ { addr, got, script }
}

fn receiver() -> Receiver_ {
    receiver_on(TcpListener::bind("127.0.0.1:0").expect("bind"))
}

impl Receiver_ {
    fn answer(&self, statuses: &[u16]) {
        self.script.lock().expect("lock").extend(statuses);
    }
    #[track_caller]
    fn next(&self) -> Got {
        self.got.recv_timeout(Duration::from_secs(20)).expect("a request in time")
    }
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Stops the daemon when the test ends.
struct Started<'a>(&'a TestDir);

impl Drop for Started<'_> {
    fn drop(&mut self) {
        let _ = self.0.husky(&["stop", "--force"]).run();
    }
}

/// Polls `f` until it is `Some` (20 s at most).
#[track_caller]
fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = crossbeam_channel::after(Duration::from_secs(20));
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(deadline.try_recv().is_err(), "timed out waiting for {what}");
        let _ = crossbeam_channel::after(Duration::from_millis(50)).recv();
    }
}

/// The alert rows as `status attempts event channel`.
fn alerts(t: &TestDir) -> Vec<String> {
    rows(
        &t.path.join(".husky/husky.db"),
        "SELECT status || ' ' || attempts || ' ' || event || ' ' || channel FROM alerts ORDER BY id",
    )
}

const FAST: &str = "http_client:\n  retry_backoff: 50ms\n  timeout: 5s\n";

#[test]
fn each_provider_gets_its_exact_json_and_pagerduty_resolves_on_the_next_success() {
    let r = receiver();
    let t = TestDir::new();
    t.write(
        "husky.yaml",
        &format!(
            r#"version: "1"
integrations:
  slack:
    webhook_url: {slack}
  discord:
    webhook_url: {discord}
  pagerduty:
    routing_key: rk-0123456789
    url: {pd}
  hook:
    provider: webhook
    webhook_url: {hook}
    secret: s3cret-key
jobs:
  s:
    description: slack
    frequency: manual
    command: "exit 1"
    notify:
      on_failure: slack:#ops
  d:
    description: discord
    frequency: manual
    command: "exit 1"
    notify:
      on_failure: discord:ignored
  p:
    description: pagerduty
    frequency: manual
    command: "if [ -f ok ]; then exit 0; fi; touch ok; echo boom; exit 2"
    notify:
      on_failure: pagerduty:p1
  w:
    description: webhook
    frequency: manual
    tags: [etl]
    command: "echo one; echo two; echo three; exit 4"
    notify:
      on_failure:
        channel: hook:x
        message: "{{{{ job.name }}}} {{{{ run.status }}}} reason={{{{ run.reason }}}} exit={{{{ run.exit_code }}}}"
        attach_logs: last_2_lines
"#,
            slack = r.url("/slack"),
            discord = r.url("/discord"),
            pd = r.url("/pd"),
            hook = r.url("/hook"),
        ),
    );
    t.husky(&["start"]).expect(0);
    let _guard = Started(&t);

    t.husky(&["run", "s", "--wait"]).expect(1);
    let got = r.next();
    assert_eq!(got.path, "/slack");
    let body = got.json();
    assert_eq!(body["channel"], "#ops");
    let text = body["text"].as_str().expect("text");
    assert!(
        text.starts_with("[on_failure] job s status=FAILED (run 1, attempt 1, exit code 1)"),
        "{text}"
    );
    assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{body}");

    t.husky(&["run", "d", "--wait"]).expect(1);
    let got = r.next();
    assert_eq!(got.path, "/discord");
    let body = got.json();
    assert!(
        body["content"].as_str().is_some_and(|c| c.starts_with("[on_failure] job d status=FAILED")),
        "{body}"
    );
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");

    t.husky(&["run", "p", "--wait"]).expect(1);
    let got = r.next();
    assert_eq!(got.path, "/pd");
    let body = got.json();
    assert_eq!(body["routing_key"], "rk-0123456789");
    assert_eq!(body["event_action"], "trigger");
    assert_eq!(body["dedup_key"], "husky-p");
    assert_eq!(body["payload"]["source"], "husky");
    assert_eq!(body["payload"]["severity"], "critical");
    assert!(
        body["payload"]["summary"].as_str().is_some_and(|s| s.contains("job p status=FAILED")),
        "{body}"
    );
    // The next success resolves the incident with the same key, with no on_success configured.
    t.husky(&["run", "p", "--wait"]).expect(0);
    let got = r.next();
    assert_eq!(
        got.json(),
        serde_json::json!({"routing_key": "rk-0123456789", "event_action": "resolve", "dedup_key": "husky-p"})
    );

    t.husky(&["run", "w", "--wait", "--reason", "deploy hotfix"]).expect(1);
    let got = r.next();
    assert_eq!(got.path, "/hook");
    let body = got.json();
    assert_eq!(
        body["message"],
        "w FAILED reason=deploy hotfix exit=4\n\nAttached logs:\ntwo\nthree"
    );
    assert_eq!(
        (&body["event"], &body["job"], &body["status"]),
        (&Value::from("on_failure"), &Value::from("w"), &Value::from("FAILED"))
    );
    assert_eq!(got.header("X-Husky-Event"), Some("on_failure"));
    let delivery = got.header("X-Husky-Delivery").expect("delivery id");
    assert_eq!(body["delivery"].to_string(), delivery);
    assert_eq!(
        got.header("X-Husky-Signature-256").map(str::to_owned),
        Some(husky::notify::payload::signature("s3cret-key", &got.body))
    );

    let rows = until("every alert delivered", || {
        let a = alerts(&t);
        (a.len() == 5 && a.iter().all(|r| r.starts_with("delivered 1 "))).then_some(a)
    });
    assert_eq!(rows[3], "delivered 1 resolve pagerduty:p1");
    // No credential reaches the daemon's log.
    let log = t.read(".husky/huskyd.log");
    for secret in ["rk-0123456789", "s3cret-key", "/slack"] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
}

#[test]
fn a_500_is_retried_until_delivered_and_a_400_fails_at_once_and_can_be_sent_again() {
    let r = receiver();
    let t = TestDir::new();
    t.write("huskyd.yaml", FAST);
    t.write(
        "husky.yaml",
        &format!(
            "version: \"1\"\njobs:\n  j:\n    description: fails\n    frequency: manual\n    command: \"exit 1\"\n    notify:\n      on_failure: webhook:{}\n",
            r.url("/hook/secret-path")
        ),
    );
    t.husky(&["start"]).expect(0);
    let _guard = Started(&t);
    r.answer(&[500, 503]);
    t.husky(&["run", "j", "--wait"]).expect(1);
    for _ in 0..3 {
        assert_eq!(r.next().path, "/hook/secret-path");
    }
    until("delivered after two retries", || {
        alerts(&t).first().filter(|a| a.starts_with("delivered 3 ")).cloned()
    });

    // A 400 is the receiver refusing the request: failed at once, no retry.
    r.answer(&[400]);
    t.husky(&["run", "j", "--wait"]).expect(1);
    r.next();
    until("failed after one attempt", || {
        alerts(&t).get(1).filter(|a| a.starts_with("failed 1 ")).cloned()
    });
    let sock = t.path.join(".husky/husky.sock");
    let (code, list) = http(&sock, "GET", "/api/db/alerts?status=failed", "");
    assert_eq!(code, 200);
    let failed = &list[0];
    assert_eq!(failed["error"], "http status 400: ok");
    // The ad-hoc webhook's URL is shown without its path.
    assert_eq!(failed["channel"], format!("webhook:http://{}/***", r.addr));
    let id = failed["id"].as_i64().expect("id");
    // Sent again on request: delivered this time.
    let (code, body) = http(&sock, "POST", &format!("/api/db/alerts/{id}/retry"), "");
    assert_eq!(code, 200, "{body}");
    r.next();
    until("delivered on retry", || {
        alerts(&t).get(1).filter(|a| a.starts_with("delivered 2 ")).cloned()
    });
    let (code, job) = http(&sock, "GET", "/api/jobs/j", "");
    assert_eq!(code, 200);
    assert_eq!(
        job["job"]["notify"]["on_failure"]["channel"],
        format!("webhook:http://{}/***", r.addr)
    );
    let (code, body) = http(&sock, "POST", "/api/db/alerts/999/retry", "");
    assert_eq!((code, body["error"].as_str()), (404, Some("alert not found")));
    let (code, _) = http(&sock, "POST", "/api/alerts/x/retry", "");
    assert_eq!(code, 400);
}

#[test]
fn a_pending_alert_survives_a_restart_and_is_delivered_when_the_receiver_is_back() {
    // A port nobody listens on, for now.
    let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let t = TestDir::new();
    t.write("huskyd.yaml", FAST);
    t.write(
        "husky.yaml",
        &format!(
            "version: \"1\"\njobs:\n  j:\n    description: fails\n    frequency: manual\n    command: \"exit 1\"\n    notify:\n      on_failure: webhook:http://127.0.0.1:{port}/hook\n"
        ),
    );
    t.husky(&["start"]).expect(0);
    {
        let _guard = Started(&t);
        t.husky(&["run", "j", "--wait"]).expect(1);
        // The quick retries are spent; the alert stays pending, with the last error.
        until("four refused attempts", || {
            alerts(&t).first().filter(|a| a.starts_with("pending 4 ")).cloned()
        });
        t.husky(&["stop"]).expect(0);
    }
    let error = rows(&t.path.join(".husky/husky.db"), "SELECT error FROM alerts");
    assert!(
        error[0].to_lowercase().contains("refused") || error[0].contains("onnect"),
        "{error:?}"
    );
    let r = receiver_on(TcpListener::bind(("127.0.0.1", port)).expect("rebind"));
    t.husky(&["start"]).expect(0);
    let _guard = Started(&t);
    let got = r.next();
    assert_eq!(got.json()["job"], "j");
    until("delivered after the restart", || {
        alerts(&t).first().filter(|a| a.starts_with("delivered 5 ")).cloned()
    });
}

#[test]
fn only_after_failure_sends_the_recovery_and_a_cooldown_holds_repeats_back() {
    let r = receiver();
    let t = TestDir::new();
    t.write(
        "husky.yaml",
        &format!(
            r#"version: "1"
jobs:
  flip:
    description: fails while the file bad exists
    frequency: manual
    command: "if [ -f bad ]; then exit 1; fi"
    notify:
      on_success:
        channel: webhook:{url}
        message: "recovered {{{{ job.name }}}}"
        only_after_failure: true
      on_failure:
        channel: webhook:{url}
        cooldown: 1h
"#,
            url = r.url("/h")
        ),
    );
    t.husky(&["start"]).expect(0);
    let _guard = Started(&t);
    // The notifier's thread starts with its first notice, not before.
    let pid = t.read(".husky/husky.pid").trim().to_owned();
    let notifier = || {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .expect("tasks")
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
            .any(|name| name.trim() == "husky-notifier")
    };
    assert!(!notifier(), "an idle daemon runs no notifier thread");
    // A success after a success: no recovery notice.
    t.husky(&["run", "flip", "--wait"]).expect(0);
    t.write("bad", "");
    for _ in 0..3 {
        t.husky(&["run", "flip", "--wait"]).expect(1);
    }
    let first = r.next().json();
    assert_eq!(first["event"], "on_failure");
    assert!(notifier(), "the first notice started the notifier thread");
    std::fs::remove_file(t.path.join("bad")).expect("rm");
    t.husky(&["run", "flip", "--wait"]).expect(0);
    let recovered = r.next().json();
    assert_eq!(
        (&recovered["event"], &recovered["message"]),
        (&Value::from("on_success"), &Value::from("recovered flip"))
    );
    // Two failures were held back by the cooldown: never sent, counted in the log.
    assert!(r.got.try_recv().is_err());
    assert_eq!(alerts(&t).len(), 2);
    let log = t.read(".husky/huskyd.log");
    assert!(log.contains("held back by its cooldown (2 since the last one sent)"), "{log}");
}

#[test]
fn integrations_list_and_test_go_through_the_daemon_without_showing_credentials() {
    let r = receiver();
    let t = TestDir::new();
    t.write(
        "husky.yaml",
        &format!(
            "version: \"1\"\nintegrations:\n  slack_ops:\n    provider: slack\n    webhook_url: {}\n  pagerduty:\n    routing_key: rk-secret-123\n    url: {}\njobs:\n  j:\n    description: j\n    frequency: manual\n    command: \"true\"\n",
            r.url("/slack/T000/B000/XXXX"),
            r.url("/pd"),
        ),
    );
    t.husky(&["start"]).expect(0);
    let _guard = Started(&t);
    let before = t.husky(&["integrations", "list", "--format", "json"]).expect(0);
    let list: Value = serde_json::from_str(&before.stdout).expect("json");
    assert_eq!(list[1]["name"], "slack_ops");
    assert_eq!(
        (&list[1]["provider"], &list[1]["credentials"], &list[1]["last_delivery"]),
        (&Value::from("slack"), &Value::from("set"), &Value::from("never"))
    );
    assert!(
        !before.stdout.contains("XXXX") && !before.stdout.contains("rk-secret"),
        "{}",
        before.stdout
    );

    let ok = t.husky(&["integrations", "test", "slack_ops"]).expect(0);
    assert!(ok.stdout.contains("slack_ops: test message delivered"), "{}", ok.stdout);
    assert_eq!(
        r.next().json(),
        serde_json::json!({"text": "husky integration test: slack_ops (slack)"})
    );
    // A PagerDuty test opens and at once resolves its incident.
    t.husky(&["integrations", "test", "pagerduty"]).expect(0);
    let (trigger, resolve) = (r.next().json(), r.next().json());
    assert_eq!(
        (&trigger["event_action"], &resolve["event_action"]),
        (&Value::from("trigger"), &Value::from("resolve"))
    );
    assert_eq!(trigger["dedup_key"], resolve["dedup_key"]);

    r.answer(&[404]);
    let bad = t.husky(&["integrations", "test", "slack_ops"]).expect(1);
    assert!(bad.stderr.contains("http status 404"), "{}", bad.stderr);
    r.next();
    let unknown = t.husky(&["integrations", "test", "nope"]).expect(1);
    assert!(unknown.stderr.contains("integration \"nope\" not found"), "{}", unknown.stderr);

    let after = t.husky(&["integrations", "list"]).expect(0);
    assert!(after.stdout.contains("failed"), "{}", after.stdout);
    assert_eq!(alerts(&t).len(), 3, "each test is an alert row");
}

/// A minimal SMTP server on loopback for one message: returns the envelope and the data.
fn smtp_server() -> (u16, crossbeam_channel::Receiver<(String, String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = unbounded();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else { return };
        let mut out = stream.try_clone().expect("clone");
        let mut lines = BufReader::new(stream).lines().map_while(Result::ok);
        let mut say = |t: &str| {
            let _ = out.write_all(format!("{t}\r\n").as_bytes());
        };
        let (mut from, mut to, mut data) = (String::new(), String::new(), String::new());
        say("220 test ESMTP");
        while let Some(line) = lines.next() {
            let upper = line.to_ascii_uppercase();
            if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                say("250 test");
            } else if upper.starts_with("MAIL FROM:") {
                from = line[10..].trim().to_owned();
                say("250 ok");
            } else if upper.starts_with("RCPT TO:") {
                to = line[8..].trim().to_owned();
                say("250 ok");
            } else if upper == "DATA" {
                say("354 go on");
                for l in lines.by_ref().take_while(|l| l != ".") {
                    data.push_str(&l);
                    data.push('\n');
                }
                say("250 queued");
            } else if upper == "QUIT" {
                say("221 bye");
                break;
            } else {
                say("250 ok");
            }
        }
        let _ = tx.send((from, to, data));
    });
    (port, rx)
}

#[test]
fn email_reaches_a_loopback_smtp_server_and_a_script_gets_the_event_in_its_environment() {
    let (port, mail) = smtp_server();
    let t = TestDir::new();
    t.write(
        "notify.sh",
        // Written aside and renamed, so the test never reads a half-written file.
        "#!/bin/sh\nd=\"$(dirname \"$0\")\"\nenv | grep '^HUSKY_' | sort > \"$d/got.tmp\" && mv \"$d/got.tmp\" \"$d/got.env\"\n",
    );
    std::process::Command::new("chmod")
        .args(["+x", "notify.sh"])
        .current_dir(&t.path)
        .status()
        .expect("chmod");
    t.write(
        "husky.yaml",
        &format!(
            "version: \"1\"\nintegrations:\n  smtp:\n    host: 127.0.0.1\n    port: {port}\n    from: husky@example.test\njobs:\n  mailed:\n    description: mailed\n    frequency: manual\n    command: \"exit 3\"\n    notify:\n      on_failure: email:ops@example.test\n  scripted:\n    description: scripted\n    frequency: manual\n    command: \"exit 5\"\n    notify:\n      on_failure: script:notify.sh\n"
        ),
    );
    t.husky(&["start"]).expect(0);
    let _guard = Started(&t);
    t.husky(&["run", "mailed", "--wait"]).expect(1);
    let (from, to, data) = mail.recv_timeout(Duration::from_secs(20)).expect("an email");
    assert_eq!((from.as_str(), to.as_str()), ("<husky@example.test>", "<ops@example.test>"));
    assert!(data.contains("Subject: husky: mailed failed (on_failure)"), "{data}");
    assert!(data.contains("To: ops@example.test"), "{data}");
    // The body is quoted-printable: soft line breaks and `=3D` undone.
    let body = data.replace("=\n", "").replace("=3D", "=");
    assert!(
        body.contains("[on_failure] job mailed status=FAILED (run 1, attempt 1, exit code 3)"),
        "{data}"
    );

    t.husky(&["run", "scripted", "--wait"]).expect(1);
    let env = until("the script's output", || std::fs::read_to_string(t.path.join("got.env")).ok());
    for line in [
        "HUSKY_EVENT=on_failure",
        "HUSKY_JOB=scripted",
        "HUSKY_STATUS=FAILED",
        "HUSKY_ATTEMPT=1",
        "HUSKY_CHANNEL=script:notify.sh",
    ] {
        assert!(env.lines().any(|l| l == line), "{line} missing:\n{env}");
    }
    assert!(env.contains("HUSKY_MESSAGE=[on_failure] job scripted status=FAILED"), "{env}");
    until("both delivered", || {
        let a = alerts(&t);
        (a == [
            "delivered 1 on_failure email:ops@example.test",
            "delivered 1 on_failure script:notify.sh",
        ])
        .then_some(())
    });
}

#[test]
fn the_daemon_announces_its_start_on_the_channels_of_alerts_on_daemon_start() {
    let r = receiver();
    let t = TestDir::new();
    t.write(
        "huskyd.yaml",
        &format!("alerts:\n  on_daemon_start: [\"webhook:{}\"]\n", r.url("/up")),
    );
    t.write("husky.yaml", "version: \"1\"\njobs:\n  j:\n    description: j\n    frequency: manual\n    command: \"true\"\n");
    t.husky(&["start"]).expect(0);
    let _guard = Started(&t);
    let got = r.next();
    assert_eq!(got.path, "/up");
    let body = got.json();
    assert_eq!((&body["event"], &body["job"]), (&Value::from("on_daemon_start"), &Value::from("")));
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("husky daemon ") && m.contains(" started on ")),
        "{body}"
    );
}

#[test]
fn on_retry_describes_the_attempt_to_come_and_its_row_keeps_the_channel_as_configured() {
    let r = receiver();
    let t = TestDir::new();
    let channel = format!("webhook:{}", r.url("/retry"));
    t.write(
        "husky.yaml",
        &format!(
            "version: \"1\"\njobs:\n  j:\n    description: j\n    frequency: manual\n    retries: 1\n    retry_delay: fixed:100ms\n    command: \"exit 1\"\n    notify:\n      on_retry:\n        channel: {channel}\n        message: \"attempt={{{{ run.attempt }}}} retries={{{{ job.retries }}}} status={{{{ run.status }}}}\"\n"
        ),
    );
    t.husky(&["start"]).expect(0);
    let _guard = Started(&t);
    t.husky(&["run", "j", "--wait"]).expect(1);
    let body = r.next().json();
    assert_eq!(
        (&body["message"], &body["event"]),
        (&Value::from("attempt=2 retries=1 status=RETRYING"), &Value::from("on_retry"))
    );
    until("the on_retry alert delivered", || {
        (alerts(&t) == [format!("delivered 1 on_retry {channel}")]).then_some(())
    });
    let payload = rows(&t.path.join(".husky/husky.db"), "SELECT payload FROM alerts");
    let payload: Value = serde_json::from_str(&payload[0]).expect("json");
    assert_eq!(
        (&payload["event"], &payload["run_id"]),
        (&Value::from("on_retry"), &Value::from(1))
    );
}
