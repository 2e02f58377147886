//! `GET /api/events/stream`: the daemon's events as server-sent events, so that clients never
//! poll: runs created and changing status, jobs and tag selectors paused and resumed, reloads,
//! the shutdown. The store writer publishes each event once the change it describes is
//! committed (see [`crate::store::hub`]); [`watch`] also serves the WebSocket `/ws/events`.
//!
//! Each event's `id:` increases for the daemon's life (and across restarts). A client that
//! reconnects with `Last-Event-ID` (or `?after_id=`) gets what it missed from the last
//! [`EVENT_RING`](crate::store::hub::EVENT_RING) events; when that is not possible (too many
//! missed, or an id of another daemon) it gets a `resync` event instead: read the state again.
//! A client that falls [`EVENT_CAPACITY`](crate::store::hub::EVENT_CAPACITY) events behind is
//! sent an `error` event and disconnected; it may resume after the last id it has.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use serde_json::{Value, json};

use super::Context;
use super::stream::{admit, chunk, finish, refuse, start_events};
use crate::store::hub::{Event, Replay, What};
use crate::store::{RunStatus, ts};

/// A keep-alive comment after this long without events.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// An event stream to serve.
#[derive(Debug, Clone, Copy)]
pub struct EventStream {
    /// Resume after this event id.
    pub after: Option<u64>,
}

/// An event as clients see it.
pub fn event_json(e: &Event) -> Value {
    let at = ts(e.at);
    match &e.what {
        What::Run(r) => {
            let change = match (r.previous, r.status) {
                (None, _) => "created",
                (_, RunStatus::Running) => "started",
                (_, RunStatus::Retrying) => "retrying",
                (_, RunStatus::Pending) => "queued",
                _ => "finished",
            };
            json!({
                "type": "run", "id": e.id, "at": at, "change": change, "run_id": r.id,
                "job_name": r.job, "status": r.status.as_str(),
                "previous_status": r.previous.map(RunStatus::as_str), "attempt": r.attempt,
                "trigger": r.trigger.as_str(), "cycle_id": r.cycle_id,
                "status_reason": r.status_reason, "exit_code": r.exit_code,
            })
        }
        What::Job { job, paused } => json!({
            "type": "job", "id": e.id, "at": at,
            "change": if *paused { "paused" } else { "resumed" }, "job_name": job,
        }),
        What::Tag { tag, paused } => json!({
            "type": "tag", "id": e.id, "at": at,
            "change": if *paused { "paused" } else { "resumed" }, "tag": tag,
        }),
        What::Reload { jobs } => json!({ "type": "reload", "id": e.id, "at": at, "jobs": jobs }),
        What::Stopping => json!({ "type": "daemon", "id": e.id, "at": at, "change": "stopping" }),
    }
}

/// The `resync` message: events were missed that cannot be replayed.
pub fn resync_json(last: u64) -> Value {
    json!({ "type": "resync", "last_id": last })
}

/// Where events go.
pub(super) trait EventSink {
    /// Writes events, in order.
    fn events(&mut self, events: &[Arc<Event>]) -> std::io::Result<()>;
    /// Says that events were missed: the client should read the state again.
    fn resync(&mut self, last: u64) -> std::io::Result<()>;
    /// Nothing came for the idle time.
    fn idle(&mut self) -> std::io::Result<()>;
}

/// How an event stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    /// The daemon is shutting down (its event was sent).
    Stopping,
    /// The client fell behind and was dropped; it has every event up to this id.
    TooSlow(u64),
}

/// Sends the replay, then the events of `rx` into `sink`, until the daemon stops or the client
/// falls behind.
pub(super) fn watch(
    replay: Replay,
    rx: &Receiver<Arc<Event>>,
    idle: Duration,
    sink: &mut dyn EventSink,
) -> std::io::Result<Ending> {
    let mut last = replay.last;
    if replay.gap {
        sink.resync(replay.last)?;
    }
    let mut batch = replay.missed;
    loop {
        if !batch.is_empty() {
            sink.events(&batch)?;
            if let Some(e) = batch.last() {
                last = e.id;
            }
            if batch.iter().any(|e| e.what == What::Stopping) {
                return Ok(Ending::Stopping);
            }
            batch.clear();
        }
        match rx.recv_timeout(idle) {
            Ok(e) => {
                batch.push(e);
                batch.extend(rx.try_iter().take(256));
            }
            Err(RecvTimeoutError::Timeout) => sink.idle()?,
            // Dropped for being too slow, or the writer has stopped: either way the client
            // resumes after `last` when it comes back.
            Err(RecvTimeoutError::Disconnected) => return Ok(Ending::TooSlow(last)),
        }
    }
}

/// Serves `stream` on a new thread; refuses with 503 when too many streams are open.
/// `headers` (CORS) go into the response's head.
pub fn spawn(
    ctx: &Context,
    request: tiny_http::Request,
    stream: EventStream,
    headers: &[super::stream::Header],
) {
    let (slot, feed) = match admit(ctx) {
        Ok(admitted) => admitted,
        Err(why) => return refuse(request, why),
    };
    let extra = super::stream::head_lines(headers);
    let started = std::thread::Builder::new().name("husky-http-events".into()).spawn(move || {
        let _slot = slot;
        // Subscribed here, not on the HTTP thread: the writer may be busy for a moment.
        let Ok((replay, rx)) = feed.subscriber.events(stream.after) else {
            return refuse(request, "the daemon is shutting down");
        };
        if let Err(e) = serve(request, replay, &rx, &extra) {
            feed.log.debug(&format!("api: an event stream ended: {e}"));
        }
    });
    if let Err(e) = started {
        ctx.log.error(&format!("api: cannot start a thread for an event stream: {e}"));
    }
}

struct Sse<'a> {
    out: &'a mut dyn std::io::Write,
}

impl EventSink for Sse<'_> {
    fn events(&mut self, events: &[Arc<Event>]) -> std::io::Result<()> {
        let mut text = String::new();
        for e in events {
            let data = event_json(e);
            let kind = data["type"].as_str().unwrap_or("event").to_owned();
            text.push_str(&format!("id: {}\nevent: {kind}\ndata: {data}\n\n", e.id));
        }
        chunk(self.out, &text)
    }

    fn resync(&mut self, last: u64) -> std::io::Result<()> {
        chunk(self.out, &format!("event: resync\ndata: {}\n\n", resync_json(last)))
    }

    fn idle(&mut self) -> std::io::Result<()> {
        chunk(self.out, ": keep-alive\n\n")
    }
}

fn serve(
    request: tiny_http::Request,
    replay: Replay,
    rx: &Receiver<Arc<Event>>,
    extra: &str,
) -> std::io::Result<()> {
    let mut out = start_events(request, extra)?;
    let ending = watch(replay, rx, KEEPALIVE, &mut Sse { out: &mut out })?;
    if let Ending::TooSlow(last) = ending {
        let data = json!({
            "message": "the client fell behind the daemon's events; reconnect with Last-Event-ID",
            "last_id": last,
        });
        chunk(&mut out, &format!("event: error\ndata: {data}\n\n"))?;
    }
    finish(&mut out)
}
