//! The WebSockets, push only: `GET /ws/logs/{run_id}` (a run's log: a backfill, the live lines
//! as the store writer commits them, then an `end` message and a close) and `GET /ws/events`
//! (the daemon's events, as `/api/events/stream` sends them). Messages are JSON text frames.
//!
//! The request goes through the routes like any other (so the authentication gate applies),
//! which answer 400 for an invalid run id and 404 for an unknown run. Then, still before the
//! upgrade: a request that is not a WebSocket handshake is refused (400, or 426 for another
//! protocol version), a browser `Origin` that is neither the served origin (the request's
//! `Host`) nor listed in `api.cors.allowed_origins` (`*`: any) gets 403, and past
//! `api.max_websockets` open sockets, 503.
//!
//! Each socket is served by a thread of its own. tiny_http's upgraded stream cannot be split or
//! given a timeout, so the thread only writes while it streams: it never reads what the client
//! sends (pongs, a close) until it has sent its own close; then it reads until the client's
//! close, so that unread bytes do not turn the close into a reset. A ping every [`PING`] finds
//! dead peers: a failed write ends the socket. A client that stops reading altogether holds
//! its thread until the TCP connection fails; it never holds the store writer, which drops a
//! follower it cannot hand a line to at once.
//!
//! A slow client of a log: its live buffer is the writer's channel of
//! [`LOG_CAPACITY`](crate::store::hub::LOG_CAPACITY) lines; when that overflows the socket
//! catches up from the database, and if it is then more than [`MAX_LAG`] lines behind the
//! run's newest line it is sent an `error` message with the position to resume from
//! (`from_seq`) and closed with code 1008. A slow client of events is closed the same way, with
//! the last event id it has.

use std::io::ErrorKind;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{Role, WebSocket};
use tungstenite::{Bytes, Message};

use super::Context;
use super::events::{Ending, EventSink, event_json, resync_json, watch};
use super::stream::{Feed, Sink, Slot, pump};
use crate::store::StoredLine;
use crate::store::follow::Follower;
use crate::store::hub::Event;

/// How often a socket pings its client.
pub const PING: Duration = Duration::from_secs(20);
/// How many lines behind its run's newest line a log socket may fall before it is closed.
pub const MAX_LAG: i64 = 100_000;

/// A WebSocket to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Socket {
    /// `/ws/logs/{run_id}`.
    Logs {
        /// The run.
        run_id: i64,
        /// Resume after this position (`?from_seq=`); `None`: the last lines first.
        from_seq: Option<i64>,
        /// Include the healthcheck's lines.
        include_hc: bool,
    },
    /// `/ws/events`.
    Events {
        /// Resume after this event id.
        after: Option<u64>,
    },
}

type Ws = WebSocket<Box<dyn tiny_http::ReadWrite + Send>>;

/// Checks the handshake, the origin and the cap, then serves `socket` on a new thread.
pub fn spawn(ctx: &Context, request: tiny_http::Request, socket: Socket) {
    let key = match handshake_key(&request) {
        Ok(key) => key,
        Err((status, message)) => return refuse(request, status, message),
    };
    let (origin, host) = (header(&request, "Origin"), header(&request, "Host"));
    if !origin_allowed(origin, host, &ctx.daemon.api.cors.allowed_origins) {
        let why = format!(
            "origin {:?} may not open WebSockets here (api.cors.allowed_origins)",
            origin.unwrap_or_default()
        );
        return refuse(request, 403, &why);
    }
    let max = ctx.daemon.api.max_websockets;
    let Some(slot) = Slot::take(&ctx.websockets, usize::try_from(max).unwrap_or(usize::MAX)) else {
        let why = format!("too many WebSockets are open (api.max_websockets: {max}); try later");
        return refuse(request, 503, &why);
    };
    let Some(feed) = Feed::of(ctx) else {
        return refuse(request, 503, "WebSockets are not available");
    };
    let backfill = ctx.daemon.dashboard.log_backfill_lines;
    let started = std::thread::Builder::new().name("husky-ws".into()).spawn(move || {
        let _slot = slot;
        let served = match socket {
            Socket::Logs { run_id, from_seq, include_hc } => {
                let start = from_seq.map_or(Start::Last(backfill), Start::After);
                logs(&feed, request, &key, run_id, start, include_hc)
            }
            Socket::Events { after } => events(&feed, request, &key, after),
        };
        if let Err(e) = served {
            feed.log.debug(&format!("api: a WebSocket ended: {e}"));
        }
    });
    if let Err(e) = started {
        ctx.log.error(&format!("api: cannot start a thread for a WebSocket: {e}"));
    }
}

fn refuse(request: tiny_http::Request, status: u16, message: &str) {
    let mut response = super::json_response(status, &json!({ "error": message }));
    if status == 426
        && let Ok(h) = tiny_http::Header::from_bytes("Sec-WebSocket-Version", "13")
    {
        response.add_header(h);
    }
    let _ = request.respond(response);
}

/// A request header by name (any case).
fn header<'a>(rq: &'a tiny_http::Request, name: &str) -> Option<&'a str> {
    rq.headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str().trim())
}

/// The `Sec-WebSocket-Key` of a valid handshake, or the status and message of a refusal.
fn handshake_key(rq: &tiny_http::Request) -> Result<String, (u16, &'static str)> {
    let has = |name: &str, token: &str| {
        header(rq, name).is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    if !has("Upgrade", "websocket") || !has("Connection", "upgrade") {
        return Err((400, "this route takes a WebSocket handshake (Upgrade: websocket)"));
    }
    if header(rq, "Sec-WebSocket-Version") != Some("13") {
        return Err((426, "only WebSocket version 13 is spoken here"));
    }
    match header(rq, "Sec-WebSocket-Key") {
        Some(key) if !key.is_empty() => Ok(key.to_owned()),
        _ => Err((400, "the WebSocket handshake has no Sec-WebSocket-Key")),
    }
}

/// Whether a WebSocket may be opened from `origin`: always without one (not a browser), from
/// the origin served (`http://` or `https://` and the request's `Host`), or from one listed
/// (`*` lists every origin).
pub fn origin_allowed(origin: Option<&str>, host: Option<&str>, allowed: &[String]) -> bool {
    let Some(origin) = origin else { return true };
    if allowed.iter().any(|a| a == "*" || a.eq_ignore_ascii_case(origin)) {
        return true;
    }
    let served = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
    matches!((served, host), (Some(o), Some(h)) if !h.is_empty() && o.eq_ignore_ascii_case(h))
}

/// Answers the handshake (101) and takes the connection over.
fn upgrade(request: tiny_http::Request, key: &str) -> Ws {
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut response = tiny_http::Response::empty(101);
    if let Ok(h) = tiny_http::Header::from_bytes("Sec-WebSocket-Accept", accept) {
        response.add_header(h);
    }
    WebSocket::from_raw_socket(request.upgrade("websocket", response), Role::Server, None)
}

/// Where a log socket starts.
#[derive(Debug, Clone, Copy)]
enum Start {
    /// With the last lines (`dashboard.log_backfill_lines`).
    Last(u32),
    /// After a position.
    After(i64),
}

/// Writes frames, pings on time, and remembers why it stopped.
struct Frames<'a> {
    ws: Ws,
    clock: &'a dyn crate::clock::Clock,
    next_ping: Instant,
    /// A write failed: the client is gone.
    broken: bool,
    /// The socket must close with this code and message.
    stop: Option<(CloseCode, Value)>,
}

impl<'a> Frames<'a> {
    fn new(ws: Ws, clock: &'a dyn crate::clock::Clock) -> Frames<'a> {
        Frames { ws, clock, next_ping: clock.monotonic() + PING, broken: false, stop: None }
    }

    fn io(&mut self, e: tungstenite::Error) -> std::io::Error {
        self.broken = true;
        match e {
            tungstenite::Error::Io(e) => e,
            other => std::io::Error::other(other.to_string()),
        }
    }

    /// Sends `messages` (and a ping when one is due) with one flush.
    fn send(&mut self, messages: impl IntoIterator<Item = String>) -> std::io::Result<()> {
        for m in messages {
            let sent = self.ws.write(Message::text(m));
            sent.map_err(|e| self.io(e))?;
        }
        if self.clock.monotonic() >= self.next_ping {
            self.next_ping = self.clock.monotonic() + PING;
            let sent = self.ws.write(Message::Ping(Bytes::new()));
            sent.map_err(|e| self.io(e))?;
        }
        let flushed = self.ws.flush();
        flushed.map_err(|e| self.io(e))
    }

    /// Sends a last message, closes with `code`, and reads until the client's close.
    fn close(mut self, last: Option<Value>, code: CloseCode, reason: &str) {
        if self.broken || last.is_some_and(|m| self.send([m.to_string()]).is_err()) {
            return;
        }
        let frame = CloseFrame { code, reason: reason.into() };
        if self.ws.close(Some(frame)).is_err() {
            return;
        }
        // What the client sent meanwhile (pongs) must be read, or closing the connection with
        // unread bytes resets it, which can destroy the last frames in flight.
        for _ in 0..1024 {
            if self.ws.read().is_err() {
                break;
            }
        }
    }

    /// Ends after an error of the stream itself: the reason it gave, else an internal error.
    fn fail(mut self, e: &std::io::Error) {
        match self.stop.take() {
            Some((code, message)) => self.close(Some(message), code, "closed by the server"),
            None => {
                let message = json!({ "type": "error", "message": e.to_string() });
                self.close(Some(message), CloseCode::Error, "internal error");
            }
        }
    }
}

/// A line's frame: `{"type":"line","run_id","id","seq","stream","line","ts"}`, written
/// directly (it is the bulk of what log sockets send).
fn line_frame(l: &StoredLine) -> String {
    let text = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    format!(
        "{{\"type\":\"line\",\"run_id\":{},\"id\":{},\"seq\":{},\"stream\":\"{}\",\"line\":{},\"ts\":{}}}",
        l.run_id,
        l.id,
        l.seq,
        l.stream.as_str(),
        text(&l.line),
        text(&l.ts)
    )
}

impl Sink for Frames<'_> {
    fn lines(&mut self, lines: &[Arc<StoredLine>]) -> std::io::Result<()> {
        self.send(lines.iter().map(|l| line_frame(l)))
    }

    fn idle(&mut self) -> std::io::Result<()> {
        self.send([])
    }

    fn check(&mut self, follower: &mut Follower) -> std::io::Result<()> {
        match follower.take_lag() {
            Some(lag) if lag > MAX_LAG => {
                let from_seq = follower.position();
                let message = json!({
                    "type": "error",
                    "message": format!(
                        "the client fell {lag} lines behind the run's log (at most {MAX_LAG}); \
                         reconnect with from_seq={from_seq}"
                    ),
                    "from_seq": from_seq,
                });
                self.stop = Some((CloseCode::Policy, message));
                Err(std::io::Error::new(ErrorKind::WouldBlock, "the client is too slow"))
            }
            _ => Ok(()),
        }
    }
}

impl EventSink for Frames<'_> {
    fn events(&mut self, events: &[Arc<Event>]) -> std::io::Result<()> {
        self.send(events.iter().map(|e| event_json(e).to_string()))
    }

    fn resync(&mut self, last: u64) -> std::io::Result<()> {
        self.send([resync_json(last).to_string()])
    }

    fn idle(&mut self) -> std::io::Result<()> {
        self.send([])
    }
}

/// Serves `/ws/logs/{run_id}`.
fn logs(
    feed: &Feed,
    request: tiny_http::Request,
    key: &str,
    run_id: i64,
    start: Start,
    include_hc: bool,
) -> std::io::Result<()> {
    let follower = feed.reader().and_then(|reader| {
        let after_seq = match start {
            Start::After(seq) => seq.max(0),
            Start::Last(n) => reader.log_tail_start(run_id, n, include_hc).map_err(other)?,
        };
        Follower::after(feed.subscriber.clone(), reader, run_id, after_seq).map_err(other)
    });
    let mut follower = match follower {
        Ok(f) => f,
        Err(e) => {
            refuse(request, 503, "the run's log cannot be read now");
            return Err(e);
        }
    };
    let mut frames = Frames::new(upgrade(request, key), feed.clock.as_ref());
    match pump(&mut follower, run_id, include_hc, PING, &mut frames) {
        Ok(status) => {
            let end = json!({
                "type": "end", "run_id": run_id,
                "status": status.map(crate::store::RunStatus::as_str),
            });
            frames.close(Some(end), CloseCode::Normal, "run ended");
            Ok(())
        }
        Err(e) if frames.broken => Err(e),
        Err(e) => {
            frames.fail(&e);
            Err(e)
        }
    }
}

/// Serves `/ws/events`.
fn events(
    feed: &Feed,
    request: tiny_http::Request,
    key: &str,
    after: Option<u64>,
) -> std::io::Result<()> {
    let (replay, rx) = match feed.subscriber.events(after) {
        Ok(sub) => sub,
        Err(e) => {
            refuse(request, 503, "the daemon is shutting down");
            return Err(other(e));
        }
    };
    let mut frames = Frames::new(upgrade(request, key), feed.clock.as_ref());
    match watch(replay, &rx, PING, &mut frames) {
        Ok(Ending::Stopping) => {
            frames.close(None, CloseCode::Away, "daemon stopping");
            Ok(())
        }
        Ok(Ending::TooSlow(last)) => {
            let message = json!({
                "type": "error",
                "message": format!(
                    "the client fell behind the daemon's events; reconnect with after_id={last}"
                ),
                "last_id": last,
            });
            frames.close(Some(message), CloseCode::Policy, "too slow");
            Ok(())
        }
        Err(e) if frames.broken => Err(e),
        Err(e) => {
            frames.fail(&e);
            Err(e)
        }
    }
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(other)`
fn other(e: crate::store::StoreError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::{line_frame, origin_allowed};

    #[test]
    fn a_line_frame_is_the_json_of_its_fields() {
        let l = crate::store::StoredLine {
            id: 7,
            run_id: 2,
            seq: 3,
            stream: crate::store::Stream::Stderr,
            line: "a \"quoted\"\tline\u{1}é".into(),
            ts: "2026-01-02T03:04:05.678Z".into(),
        };
        let v: serde_json::Value = serde_json::from_str(&line_frame(&l)).expect("JSON");
        assert_eq!(
            v,
            serde_json::json!({
                "type": "line", "run_id": 2, "id": 7, "seq": 3, "stream": "stderr",
                "line": l.line, "ts": l.ts,
            })
        );
    }

    #[test]
    fn origins_are_allowed_when_absent_served_or_listed() {
        let none: Vec<String> = Vec::new();
        let listed = vec!["https://dash.example".to_owned()];
        let any = vec!["*".to_owned()];
        let host = Some("127.0.0.1:8420");
        for (origin, allowed, ok) in [
            (None, &none, true),
            (Some("http://127.0.0.1:8420"), &none, true),
            (Some("https://127.0.0.1:8420"), &none, true),
            (Some("http://127.0.0.1:8421"), &none, false),
            (Some("http://evil.example"), &none, false),
            (Some("null"), &none, false),
            (Some("https://dash.example"), &listed, true),
            (Some("https://DASH.example"), &listed, true),
            (Some("http://dash.example"), &listed, false),
            (Some("http://evil.example"), &any, true),
        ] {
            assert_eq!(origin_allowed(origin, host, allowed), ok, "{origin:?} {allowed:?}");
        }
        assert!(!origin_allowed(Some("http://x"), None, &none));
    }
}
