//! `GET /api/runs/{id}/logs/stream`: a run's log as server-sent events, the backfill from the
//! database and then the lines the store writer publishes as it commits them, until the writer
//! says the run's log is complete (no polling of the database). Each line is an `event: line`
//! whose `id:` is its row id, so a client that reconnects with `Last-Event-ID` (or
//! `?after_id=`) resumes exactly after it. When the run has ended and its last lines are out,
//! an `event: end` carries its status.
//!
//! A stream holds its connection for as long as the run lasts, so it is served on a thread of
//! its own (at most [`MAX_STREAMS`] at once, server-sent events of logs and of events
//! together); the body is written with chunked transfer encoding and flushed event by event.
//! [`pump`], which follows a log into any [`Sink`], also serves the WebSocket `/ws/logs/{id}`.
//!
//! A stream's thread takes a [`Feed`], never the store writer's handle: a stream whose client
//! stopped reading cannot hold up the daemon's shutdown.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;

use super::Context;
use crate::store::follow::{Follower, Next};
use crate::store::hub::Subscriber;
use crate::store::query::Reader;
use crate::store::{Pragmas, RunStatus, StoredLine, Stream};

/// Streams served at once; more are refused with 503.
pub const MAX_STREAMS: usize = 64;

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

/// What a stream's thread needs: the writer's hubs, the database to read, the log.
#[derive(Clone)]
pub(super) struct Feed {
    /// Subscribes to the writer's hubs.
    pub subscriber: Subscriber,
    db: PathBuf,
    pragmas: Pragmas,
    /// The daemon's log.
    pub log: crate::log::Logger,
    /// The clock.
    pub clock: Arc<dyn crate::clock::Clock>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed").field("db", &self.db).finish_non_exhaustive()
    }
}

impl Feed {
    /// The feed of a daemon whose store writer runs (`None`: streams are not available).
    pub fn of(ctx: &Context) -> Option<Feed> {
        Some(Feed {
            subscriber: ctx.store.as_ref()?.subscriber(),
            db: ctx.db.clone(),
            pragmas: ctx.pragmas,
            log: ctx.log.clone(),
            clock: ctx.clock.clone(),
        })
    }

    /// A read-only connection of the stream's own.
    pub fn reader(&self) -> std::io::Result<Reader> {
        Reader::open(&self.db, self.pragmas).map_err(std::io::Error::other)
    }
}

/// Serves `stream` on a new thread; refuses with 503 when too many are open.
/// `headers` (CORS) go into the response's head.
pub fn spawn(ctx: &Context, request: tiny_http::Request, stream: LogStream, headers: &[Header]) {
    let (slot, feed) = match admit(ctx) {
        Ok(admitted) => admitted,
        Err(why) => return refuse(request, why),
    };
    let extra = head_lines(headers);
    let started = std::thread::Builder::new().name("husky-http-stream".into()).spawn(move || {
        let _slot = slot;
        if let Err(e) = serve(&feed, request, stream, &extra) {
            feed.log.warn(&format!("api: a log stream of run {} ended early: {e}", stream.run_id));
        }
    });
    if let Err(e) = started {
        ctx.log.error(&format!("api: cannot start a thread for a log stream: {e}"));
    }
}

/// A place among the server-sent event streams and the feed, or why there is none.
pub(super) fn admit(ctx: &Context) -> Result<(Slot, Feed), &'static str> {
    let slot = Slot::take(&ctx.streams, MAX_STREAMS)
        .ok_or("too many streams are open; try again later")?;
    let feed = Feed::of(ctx).ok_or("streams are not available")?;
    Ok((slot, feed))
}

/// Answers 503 with `why`.
pub(super) fn refuse(request: tiny_http::Request, why: &str) {
    super::respond_json(request, 503, &json!({ "error": why }));
}

/// One of a limited number of places, given back when dropped.
#[derive(Debug)]
pub(super) struct Slot(Arc<AtomicUsize>);

impl Slot {
    /// Takes a place if fewer than `max` are taken.
    pub fn take(open: &Arc<AtomicUsize>, max: usize) -> Option<Slot> {
        let before = open.fetch_add(1, Ordering::SeqCst);
        let slot = Slot(open.clone());
        (before < max).then_some(slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Where a followed log goes.
pub(super) trait Sink {
    /// Writes lines (the healthcheck's already left out if not wanted).
    fn lines(&mut self, lines: &[Arc<StoredLine>]) -> std::io::Result<()>;
    /// Nothing came for the idle time.
    fn idle(&mut self) -> std::io::Result<()>;
    /// After each batch: an error stops the stream.
    fn check(&mut self, _follower: &mut Follower) -> std::io::Result<()> {
        Ok(())
    }
}

/// Follows `follower` into `sink` until the run's log is complete (or the writer stops);
/// returns the run's status then (`None`: the run is gone).
pub(super) fn pump(
    follower: &mut Follower,
    run_id: i64,
    include_hc: bool,
    idle: Duration,
    sink: &mut dyn Sink,
) -> std::io::Result<Option<RunStatus>> {
    loop {
        match follower.next(idle).map_err(std::io::Error::other)? {
            Next::Lines(mut lines) => {
                if !include_hc {
                    lines.retain(|l| l.stream != Stream::Healthcheck);
                }
                if !lines.is_empty() {
                    sink.lines(&lines)?;
                }
                sink.check(follower)?;
            }
            Next::Idle => sink.idle()?,
            Next::End(status) => return Ok(Some(status)),
            Next::Closed => {
                let run = follower.reader().run(run_id).map_err(std::io::Error::other)?;
                return Ok(run.map(|r| r.status));
            }
        }
    }
}

struct Sse<W: Write> {
    out: W,
}

impl<W: Write> Sink for Sse<W> {
    fn lines(&mut self, lines: &[Arc<StoredLine>]) -> std::io::Result<()> {
        let mut text = String::new();
        for l in lines {
            let data =
                json!({ "seq": l.seq, "stream": l.stream.as_str(), "line": l.line, "ts": l.ts });
            text.push_str(&format!("id: {}\nevent: line\ndata: {data}\n\n", l.id));
        }
        chunk(&mut self.out, &text)
    }

    fn idle(&mut self) -> std::io::Result<()> {
        chunk(&mut self.out, ": keep-alive\n\n")
    }
}

fn serve(
    feed: &Feed,
    request: tiny_http::Request,
    stream: LogStream,
    extra: &str,
) -> std::io::Result<()> {
    let reader = feed.reader()?;
    let after_seq = match stream.after_id {
        Some(id) => reader.log_seq_at(stream.run_id, id).map_err(std::io::Error::other)?,
        None => 0,
    };
    let mut follower = Follower::after(feed.subscriber.clone(), reader, stream.run_id, after_seq)
        .map_err(std::io::Error::other)?;
    let mut out = start_events(request, extra)?;
    let mut sse = Sse { out: &mut out };
    let status = pump(&mut follower, stream.run_id, stream.include_hc, KEEPALIVE, &mut sse)?;
    let data = json!({ "run_id": stream.run_id, "status": status.map(RunStatus::as_str) });
    chunk(&mut out, &format!("event: end\ndata: {data}\n\n"))?;
    finish(&mut out)
}

/// A response header (CORS) to add to a stream's head.
pub(super) type Header = (&'static str, String);

/// The header lines of `headers`, each ending in CRLF.
pub(super) fn head_lines(headers: &[Header]) -> String {
    headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect()
}

/// Starts a `text/event-stream` response with a chunked body; `extra` holds more header lines.
pub(super) fn start_events(
    request: tiny_http::Request,
    extra: &str,
) -> std::io::Result<Box<dyn Write + Send>> {
    let mut out = request.into_writer();
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
         Transfer-Encoding: chunked\r\n{extra}\r\n"
    )?;
    out.flush()?;
    Ok(out)
}

/// Ends a chunked body.
pub(super) fn finish(out: &mut dyn Write) -> std::io::Result<()> {
    out.write_all(b"0\r\n\r\n")?;
    out.flush()
}

/// Writes `text` as one chunk and flushes it.
pub(super) fn chunk(out: &mut dyn Write, text: &str) -> std::io::Result<()> {
    if text.is_empty() {
        return Ok(());
    }
    write!(out, "{:x}\r\n{text}\r\n", text.len())?;
    out.flush()
}
