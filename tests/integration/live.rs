//! Live clients end to end against a daemon started with `husky start`: WebSockets of a run's
//! log (backfill, live lines, the end, resume, refusals, the cap, a client too slow) and of the
//! daemon's events, server-sent events of the daemon's events, and 50 tails of a fast job.
//! Waiting is on what the sockets deliver, with read deadlines (never a sleep).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use husky::clock::{Clock, SystemClock};
use serde_json::Value;
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

use crate::util::{TestDir, sse};

/// Stops a daemon started with `husky start` when the test ends, whatever happened.
struct Started<'a>(&'a TestDir);

impl Drop for Started<'_> {
    fn drop(&mut self) {
        let _ = self.0.husky(&["stop", "--force"]).run();
    }
}

fn start<'a>(t: &'a TestDir, husky_yaml: &str, huskyd_yaml: Option<&str>) -> (Started<'a>, String) {
    t.write("husky.yaml", husky_yaml);
    if let Some(d) = huskyd_yaml {
        t.write("huskyd.yaml", d);
    }
    let started = t.husky(&["start"]).run();
    if started.code != 0 {
        let log = std::fs::read_to_string(t.path.join(".husky/huskyd.log")).unwrap_or_default();
        panic!("husky start: {}\n--- huskyd.log ---\n{log}", started.stderr);
    }
    // The unix socket may answer a moment before the TCP address is written.
    let file = t.path.join(".husky/api.addr");
    let deadline = SystemClock.monotonic() + Duration::from_secs(30);
    let addr = loop {
        match std::fs::read_to_string(&file) {
            Ok(a) if a.ends_with(|c: char| c.is_ascii_digit()) => break a,
            _ if SystemClock.monotonic() > deadline => panic!("no {}", file.display()),
            _ => std::thread::yield_now(),
        }
    };
    (Started(t), addr.trim().to_owned())
}

type Ws = WebSocket<TcpStream>;

/// Opens a WebSocket at `path`, with an `Origin` if given; an HTTP refusal is its status.
fn ws(addr: &str, path: &str, origin: Option<&str>) -> Result<Ws, u16> {
    let mut rq = format!("ws://{addr}{path}").into_client_request().expect("request");
    if let Some(o) = origin {
        rq.headers_mut().insert("Origin", o.parse().expect("header"));
    }
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    match tungstenite::client(rq, stream) {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
            Err(r.status().as_u16())
        }
        Err(e) => panic!("handshake: {e}"),
    }
}

/// The next JSON message, or the close frame's code and reason.
fn next(ws: &mut Ws) -> Result<Value, (u16, String)> {
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => return Ok(serde_json::from_str(&t).expect("JSON frame")),
            Ok(Message::Close(f)) => {
                return Err(
                    f.map_or((0, String::new()), |f| (u16::from(f.code), f.reason.to_string()))
                );
            }
            Ok(_) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Reads line messages until the end message; returns the lines' `(seq, line)` and the end.
fn lines_until_end(ws: &mut Ws) -> (Vec<(i64, String)>, Value) {
    let mut lines = Vec::new();
    loop {
        let m = next(ws).unwrap_or_else(|c| panic!("closed before the end: {c:?}"));
        match m["type"].as_str() {
            Some("line") => lines.push((
                m["seq"].as_i64().expect("seq"),
                m["line"].as_str().expect("line").to_owned(),
            )),
            Some("end") => return (lines, m),
            _ => panic!("unexpected {m}"),
        }
    }
}

const GATED: &str = r#"version: "1"
jobs:
  gated:
    description: 300 lines, then 5 more once the file go exists
    frequency: manual
    command: "seq 1 300; while [ ! -e go ]; do sleep 0.02; done; seq 301 305"
"#;

#[test]
fn log_sockets_backfill_then_stream_live_then_end_and_resume_after_a_position() {
    let t = TestDir::new();
    let (_guard, addr) = start(&t, GATED, None);
    t.husky(&["run", "gated"]).expect(0);

    // A follower from the start sees the first 300 lines: all committed now.
    let mut all = ws(&addr, "/ws/logs/1?from_seq=0", None).expect("upgrade");
    let mut first = Vec::new();
    while first.len() < 300 {
        let m = next(&mut all).expect("a line");
        assert_eq!((m["type"].as_str(), m["run_id"].as_i64()), (Some("line"), Some(1)), "{m}");
        assert!(m["id"].as_i64().is_some() && m["ts"].is_string(), "{m}");
        first.push(m["seq"].as_i64().expect("seq"));
    }
    assert_eq!(first, (1..=300).collect::<Vec<_>>());

    // By default the last dashboard.log_backfill_lines (200) come first; the served origin is
    // allowed.
    let mut tail = ws(&addr, "/ws/logs/1", Some(&format!("http://{addr}"))).expect("upgrade");
    let backfill: Vec<i64> =
        (0..200).map(|_| next(&mut tail).expect("a line")["seq"].as_i64().expect("seq")).collect();
    assert_eq!(backfill, (101..=300).collect::<Vec<_>>());

    // Then the live lines, the end with the run's status, and a normal close.
    t.write("go", "");
    for s in [&mut all, &mut tail] {
        let (lines, end) = lines_until_end(s);
        let want: Vec<(i64, String)> = (301..=305).map(|i| (i, i.to_string())).collect();
        assert_eq!(lines, want);
        assert_eq!((end["run_id"].as_i64(), end["status"].as_str()), (Some(1), Some("SUCCESS")));
        assert_eq!(next(s).expect_err("closed").0, 1000);
    }

    // Resuming after a position of an ended run: exactly the rest, then the end.
    let mut rest = ws(&addr, "/ws/logs/1?from_seq=302", None).expect("upgrade");
    let (lines, end) = lines_until_end(&mut rest);
    assert_eq!(lines.iter().map(|l| l.0).collect::<Vec<_>>(), [303, 304, 305]);
    assert_eq!(end["status"], "SUCCESS");

    // Refused before the upgrade: an invalid id, an unknown run, a foreign origin, a bad
    // position, a request that is not a WebSocket handshake.
    assert_eq!(ws(&addr, "/ws/logs/abc", None).err(), Some(400));
    assert_eq!(ws(&addr, "/ws/logs/99", None).err(), Some(404));
    assert_eq!(ws(&addr, "/ws/logs/1", Some("http://evil.example")).err(), Some(403));
    assert_eq!(ws(&addr, "/ws/logs/1?from_seq=-1", None).err(), Some(400));
    let mut plain = TcpStream::connect(&addr).expect("connect");
    write!(plain, "GET /ws/logs/1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").expect("w");
    let mut status = String::new();
    BufReader::new(plain).read_line(&mut status).expect("status");
    assert!(status.starts_with("HTTP/1.1 400"), "{status}");
}

#[test]
fn listed_origins_are_allowed_and_the_cap_refuses_with_503_and_shows_in_daemon_info() {
    let t = TestDir::new();
    let huskyd =
        "api:\n  max_websockets: 2\n  cors:\n    allowed_origins: [\"https://dash.example\"]\n";
    let (_guard, addr) = start(&t, GATED, Some(huskyd));
    let _a = ws(&addr, "/ws/events", Some("https://dash.example")).expect("listed origin");
    let _b = ws(&addr, "/ws/events", None).expect("no origin");
    assert_eq!(ws(&addr, "/ws/events", None).err(), Some(503));
    let body = http_get(&addr, "/api/daemon/info");
    assert_eq!((body["websockets"].as_u64(), body["max_websockets"].as_u64()), (Some(2), Some(2)));
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["pid"].as_u64().is_some() && body["uptime_s"].as_i64().is_some(), "{body}");
    assert_eq!(body["sse_streams"].as_u64(), Some(0));
}

/// A JSON GET over TCP.
fn http_get(addr: &str, path: &str) -> Value {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").expect("write");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut s, &mut text).expect("read");
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text}"))
}

const FLAKY: &str = r#"version: "1"
jobs:
  flaky:
    description: fails once, then succeeds
    frequency: manual
    command: "if [ -f ok ]; then echo fixed; else touch ok; exit 3; fi"
    retries: 1
    retry_delay: "fixed:1s"
"#;

/// The `(type, change, status)` of run events and the `(type, change)` of the others.
fn summary(e: &Value) -> String {
    let field = |k: &str| e[k].as_str().unwrap_or("-").to_owned();
    format!("{} {} {} {}", field("type"), field("change"), e["run_id"], field("status"))
}

#[test]
fn event_sockets_and_streams_see_a_run_through_its_states_pauses_reloads_and_the_stop() {
    let t = TestDir::new();
    let (guard, addr) = start(&t, FLAKY, None);
    let mut events = ws(&addr, "/ws/events", None).expect("upgrade");
    let stream = sse(&addr, "/api/events/stream", None);

    t.husky(&["run", "flaky", "--wait"]).expect(0);
    t.husky(&["pause", "flaky"]).expect(0);
    t.husky(&["resume", "flaky"]).expect(0);
    t.husky(&["reload"]).expect(0);
    drop(guard);

    let want = [
        "run created 1 PENDING",
        "run started 1 RUNNING",
        "run retrying 1 RETRYING",
        "run created 2 PENDING",
        "run started 2 RUNNING",
        "run finished 2 SUCCESS",
        "job paused null -",
        "job resumed null -",
        "reload - null -",
        "daemon stopping null -",
    ];
    let mut got = Vec::new();
    let mut ids = Vec::new();
    while got.len() < want.len() {
        let e = next(&mut events).unwrap_or_else(|c| panic!("closed early {c:?} after {got:?}"));
        ids.push(e["id"].as_u64().expect("id"));
        got.push(summary(&e));
    }
    assert_eq!(got, want);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_eq!(next(&mut events).expect_err("closed").0, u16::from(CloseCode::Away));

    let mut from_sse = Vec::new();
    for (id, kind, data) in stream.iter() {
        assert_eq!(data["type"].as_str(), Some(kind.as_str()));
        assert_eq!(data["id"].as_u64(), Some(id));
        from_sse.push((id, summary(&data)));
    }
    assert_eq!(from_sse.iter().map(|e| e.1.as_str()).collect::<Vec<_>>(), want);
    assert_eq!(from_sse.iter().map(|e| e.0).collect::<Vec<_>>(), ids);
}

#[test]
fn event_streams_resume_after_an_id_and_say_resync_when_they_cannot() {
    let t = TestDir::new();
    let (_guard, addr) = start(&t, FLAKY, None);
    let mut events = ws(&addr, "/ws/events", None).expect("upgrade");
    t.husky(&["pause", "flaky"]).expect(0);
    t.husky(&["resume", "flaky"]).expect(0);
    let first = next(&mut events).expect("paused");
    let second = next(&mut events).expect("resumed");
    assert_eq!(
        (first["change"].as_str(), second["change"].as_str()),
        (Some("paused"), Some("resumed"))
    );
    let id = first["id"].as_u64().expect("id");

    // After the first event: the second is replayed, over both protocols.
    let mut again = ws(&addr, &format!("/ws/events?after_id={id}"), None).expect("upgrade");
    assert_eq!(next(&mut again).expect("replayed")["id"], second["id"]);
    let replay = sse(&addr, "/api/events/stream", Some(id));
    let (rid, kind, _) = replay.recv_timeout(Duration::from_secs(30)).expect("replayed");
    assert_eq!((Some(rid), kind.as_str()), (second["id"].as_u64(), "job"));

    // An id the daemon cannot replay from (an earlier daemon's): resync.
    let mut old = ws(&addr, "/ws/events?after_id=1", None).expect("upgrade");
    let m = next(&mut old).expect("resync");
    assert_eq!(
        (m["type"].as_str(), m["last_id"].as_u64()),
        (Some("resync"), second["id"].as_u64())
    );
}

#[test]
fn a_log_socket_too_far_behind_is_closed_with_1008_and_resumes_from_its_position() {
    const TOTAL: i64 = 400_000;
    let t = TestDir::new();
    let yaml = format!(
        "version: \"1\"\njobs:\n  flood:\n    description: d\n    frequency: manual\n    \
         command: \"while [ ! -e go ]; do sleep 0.02; done; seq 1 {TOTAL}; while [ ! -e done ]; \
         do sleep 0.02; done\"\n"
    );
    let (_guard, addr) = start(&t, &yaml, None);
    t.husky(&["run", "flood"]).expect(0);
    // This client does not read while the job floods its log.
    let mut slow = ws(&addr, "/ws/logs/1?from_seq=0", None).expect("upgrade");
    t.write("go", "");
    // Another client waits for the last line to be committed.
    let mut last = ws(&addr, &format!("/ws/logs/1?from_seq={}", TOTAL - 1), None).expect("up");
    assert_eq!(next(&mut last).expect("the last line")["seq"].as_i64(), Some(TOTAL));

    // Now the slow one reads: lines in order, then an error frame with where to resume.
    let mut seq = 0;
    let error = loop {
        let m = next(&mut slow).unwrap_or_else(|c| panic!("closed without an error {c:?}"));
        match m["type"].as_str() {
            Some("line") => {
                seq += 1;
                assert_eq!(m["seq"].as_i64(), Some(seq));
            }
            Some("error") => break m,
            _ => panic!("unexpected {m}"),
        }
    };
    assert_eq!(error["from_seq"].as_i64(), Some(seq), "{error}");
    assert!(seq < TOTAL - 100_000, "{seq}");
    assert_eq!(next(&mut slow).expect_err("closed").0, 1008);

    // Resuming from there gives the rest, then the end.
    t.write("done", "");
    let mut resumed = ws(&addr, &format!("/ws/logs/1?from_seq={seq}"), None).expect("upgrade");
    let (lines, end) = lines_until_end(&mut resumed);
    assert_eq!(lines.len() as i64, TOTAL - seq);
    assert!(lines.iter().zip(seq + 1..).all(|(l, s)| l.0 == s));
    assert_eq!(end["status"], "SUCCESS");
}

/// Lines per second the job prints, and for how long: see the module's report in the issue.
const RATE_BATCH: i64 = 1000;
const BATCHES: i64 = 20;
const TAILS: usize = 50;

#[test]
fn fifty_tails_of_a_job_printing_10000_lines_a_second_get_every_line_once_in_order() {
    let total = RATE_BATCH * BATCHES;
    let t = TestDir::new();
    // 1,000 lines every 0.1 s for 2 s, each line its own position.
    let yaml = format!(
        "version: \"1\"\njobs:\n  fast:\n    description: d\n    frequency: manual\n    \
         command: \"while [ ! -e go ]; do sleep 0.02; done; i=0; while [ $i -lt {BATCHES} ]; do \
         seq $((i*{RATE_BATCH}+1)) $((i*{RATE_BATCH}+{RATE_BATCH})); i=$((i+1)); sleep 0.1; done\"\n"
    );
    let (_guard, addr) = start(&t, &yaml, None);
    t.husky(&["run", "fast"]).expect(0);
    let sockets: Vec<Ws> =
        (0..TAILS).map(|_| ws(&addr, "/ws/logs/1?from_seq=0", None).expect("upgrade")).collect();
    let began = SystemClock.monotonic();
    t.write("go", "");
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|mut s| {
            std::thread::spawn(move || {
                let (lines, end) = lines_until_end(&mut s);
                (lines, end, SystemClock.monotonic())
            })
        })
        .collect();
    let mut last_done = began;
    for r in readers {
        let (lines, end, done) = r.join().expect("reader");
        assert_eq!(lines.len() as i64, total, "every line, once");
        for (n, (seq, line)) in (1..).zip(&lines) {
            assert_eq!((*seq, line.as_str()), (n, n.to_string().as_str()), "in order");
        }
        assert_eq!(end["status"], "SUCCESS");
        last_done = last_done.max(done);
    }
    let took = last_done.duration_since(began).as_secs_f64();
    eprintln!(
        "{TAILS} tails x {total} lines: all delivered {:.2} s after the job began printing \
         ({:.0} frames/s in all)",
        took,
        (TAILS as f64) * (total as f64) / took
    );
}
