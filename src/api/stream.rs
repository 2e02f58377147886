//! `GET /api/runs/{id}/logs/stream`: a run's log as server-sent events, the backfill from the
//! database and then the lines the store writer publishes as it commits them (no polling of
//! the database for lines). Each line is an `event: line` whose `id:` is its row id, so a
//! client that reconnects with `Last-Event-ID` (or `?after_id=`) resumes exactly after it.
//! When the run has ended and its last lines are out, an `event: end` carries its status.
//!
//! A stream holds its connection for as long as the run lasts, so it is served on a thread of
//! its own (at most [`MAX_STREAMS`] at once); the body is written with chunked transfer
//! encoding and flushed event by event.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;

use super::Context;
use crate::store::follow::{Follower, Next};
use crate::store::query::Reader;
use crate::store::{RunStatus, Stream};

/// Streams served at once; more are refused with 503.
pub const MAX_STREAMS: usize = 64;

/// How long to wait for lines before checking whether the run has ended.
const IDLE: Duration = Duration::from_millis(500);

/// A keep-alive comment after this long without events (a dead client shows up as a failed
/// write).
const KEEPALIVE: Duration = Duration::from_secs(15);

/// A log stream to serve.
#[derive(Debug, Clone, Copy)]
pub struct LogStream {
    /// The run.
    pub run_id: i64,
    /// Resume after this log row (from `Last-Event-ID` or `after_id`).
    pub after_id: Option<i64>,
    /// Include the healthcheck's lines.
    pub include_hc: bool,
}

/// Serves `stream` on a new thread; refuses with 503 when too many are open.
pub fn spawn(
    ctx: &Context,
    request: tiny_http::Request,
    stream: LogStream,
    headers: &[(&'static str, String)],
) {
    let slot = Slot::take(&ctx.streams);
    if slot.is_none() || ctx.store.is_none() {
        let why = if slot.is_none() {
            "too many log streams are open; try again later"
        } else {
            "log streams are not available"
        };
        super::respond_json(request, 503, &json!({ "error": why }));
        return;
    }
    let (log, ctx) = (ctx.log.clone(), ctx.clone());
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    let started = std::thread::Builder::new().name("husky-http-stream".into()).spawn(move || {
        let _slot = slot;
        if let Err(e) = serve(&ctx, request, stream, &extra) {
            ctx.log.warn(&format!("api: a log stream of run {} ended early: {e}", stream.run_id));
        }
    });
    if let Err(e) = started {
        log.error(&format!("api: cannot start a thread for a log stream: {e}"));
    }
}

/// One of the [`MAX_STREAMS`] places, given back when dropped.
#[derive(Debug)]
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(open: &Arc<AtomicUsize>) -> Option<Slot> {
        let before = open.fetch_add(1, Ordering::SeqCst);
        let slot = Slot(open.clone());
        (before < MAX_STREAMS).then_some(slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn serve(
    ctx: &Context,
    request: tiny_http::Request,
    stream: LogStream,
    extra: &str,
) -> std::io::Result<()> {
    let Some(handle) = ctx.store.clone() else { return Ok(()) };
    let open = |ctx: &Context| Reader::open(&ctx.db, ctx.pragmas).map_err(std::io::Error::other);
    let reader = open(ctx)?;
    let after_seq = match stream.after_id {
        Some(id) => reader.log_seq_at(stream.run_id, id).map_err(std::io::Error::other)?,
        None => 0,
    };
    let mut follower =
        Follower::after(handle, reader, stream.run_id, after_seq).map_err(std::io::Error::other)?;
    let mut out = request.into_writer();
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
         Transfer-Encoding: chunked\r\n{extra}\r\n"
    )?;
    out.flush()?;
    let mut quiet = Duration::ZERO;
    let status = loop {
        match follower.next(IDLE).map_err(std::io::Error::other)? {
            Next::Lines(lines) => {
                let mut text = String::new();
                for l in
                    lines.iter().filter(|l| stream.include_hc || l.stream != Stream::Healthcheck)
                {
                    let data = json!({ "seq": l.seq, "stream": l.stream.as_str(), "line": l.line, "ts": l.ts });
                    text.push_str(&format!("id: {}\nevent: line\ndata: {data}\n\n", l.id));
                }
                chunk(&mut out, &text)?;
                quiet = Duration::ZERO;
            }
            Next::Idle => {
                let run = follower.reader().run(stream.run_id).map_err(std::io::Error::other)?;
                match run.map(|r| r.status) {
                    None => break None,
                    Some(s) if s.is_final() => break Some(s),
                    Some(_) => {}
                }
                quiet += IDLE;
                if quiet >= KEEPALIVE {
                    chunk(&mut out, ": keep-alive\n\n")?;
                    quiet = Duration::ZERO;
                }
            }
            Next::Closed => {
                let run = follower.reader().run(stream.run_id).map_err(std::io::Error::other)?;
                break run.map(|r| r.status);
            }
        }
    };
    let data = json!({ "run_id": stream.run_id, "status": status.map(RunStatus::as_str) });
    chunk(&mut out, &format!("event: end\ndata: {data}\n\n"))?;
    out.write_all(b"0\r\n\r\n")?;
    out.flush()
}

/// Writes `text` as one chunk and flushes it.
fn chunk(out: &mut dyn Write, text: &str) -> std::io::Result<()> {
    if text.is_empty() {
        return Ok(());
    }
    write!(out, "{:x}\r\n{text}\r\n", text.len())?;
    out.flush()
}
