//! The routes: Husky-Go's paths and shapes where they exist (snake_case fields, arrays never
//! `null`, errors as `{"error": "..."}`), answered from the engine (commands, live state) or the
//! database (history).

use serde_json::{Value, json};

use super::auth::Denied;
use super::{Context, alerts, db, reads, settings};
use crate::config::Selector;
use crate::engine::core::{Command, Created, JobView, Reply};
use crate::store::query::{Reader, RunRow};
use crate::store::ts;

/// The longest request body read.
const MAX_BODY: u64 = 1 << 20;
/// The longest `reason` of a manual run.
pub const MAX_REASON: usize = 500;

/// A request that cannot be answered as asked.
#[derive(Debug)]
pub struct ApiError {
    status: u16,
    pub(super) message: String,
}

impl ApiError {
    pub(super) fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }
    pub(super) fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(400, message)
    }
    pub(super) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, message)
    }
    pub(super) fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(503, message)
    }
}

/// What a route answers.
#[derive(Debug)]
pub enum Out {
    /// A status without a body (a CORS preflight's 204).
    Empty(u16),
    /// Text with its status and content type (`/metrics`).
    Text(u16, String, &'static str),
    /// Bytes with their status and content type (the dashboard's files).
    Bytes(u16, Vec<u8>, &'static str),
    /// A JSON document with its status.
    Json(u16, Value),
    /// One page of a list (a JSON array) and how many items match in all (`X-Total-Count`).
    Page(Vec<Value>, u64),
    /// A list already written as a JSON array, and its total.
    RawList(String, u64),
    /// Server-sent events of a run's log, served on a thread of their own.
    LogStream(super::stream::LogStream),
    /// Server-sent events of the daemon's events, served on a thread of their own.
    EventStream(super::events::EventStream),
    /// A WebSocket to upgrade to (after its own checks), served on a thread of its own.
    WebSocket(super::ws::Socket),
}

pub(super) type Answer = Result<Out, ApiError>;

/// Headers to add to an answer (CORS, `WWW-Authenticate`).
pub type Headers = Vec<(&'static str, String)>;

/// Answers one request, in Husky-Go's order: the base path is stripped, the dashboard's files
/// are served (without credentials), CORS is answered, the caller is authenticated and its
/// role checked, then the route runs. A log stream is handed back to be served elsewhere. The
/// unix socket is trusted and has no base path (that is for reverse proxies in front of TCP);
/// the metrics listener serves `/metrics` alone.
pub fn handle(
    ctx: &Context,
    reader: &mut Option<Reader>,
    rq: &mut tiny_http::Request,
    listener: super::Listener,
) -> (Out, Headers) {
    use super::Listener;
    let trusted = listener == Listener::Socket;
    let method = rq.method().as_str().to_ascii_uppercase();
    let url = rq.url().to_owned();
    let (full_path, query) = url.split_once('?').unwrap_or((&url, ""));
    let mut headers = Headers::new();
    let base = if listener == Listener::Tcp { ctx.daemon.api.base_path.as_str() } else { "" };
    let Some(path) = strip_base(base, full_path) else {
        return (Out::Json(404, json!({ "error": "not found" })), headers);
    };
    let metrics_here = match listener {
        Listener::Metrics => true,
        Listener::Tcp => super::metrics::on_api_listener(ctx),
        Listener::Socket => false,
    };
    if metrics_here && path == ctx.daemon.metrics.path {
        let authorization = header(rq, "Authorization");
        let token = param(query, "token");
        let out = if method != "GET" {
            Out::Json(405, json!({ "error": "method not allowed" }))
        } else if let (true, Err(Denied::Unauthenticated { message, challenge })) = (
            ctx.daemon.metrics.auth,
            ctx.auth.identify(false, authorization.as_deref(), token.as_deref()),
        ) {
            headers.push(("WWW-Authenticate", challenge.into()));
            Out::Json(401, json!({ "error": message }))
        } else {
            match super::metrics::render(ctx) {
                Ok(text) => Out::Text(200, text, super::metrics::CONTENT_TYPE),
                Err(e) => Out::Json(e.status, json!({ "error": e.message })),
            }
        };
        return (out, headers);
    }
    if listener == Listener::Metrics {
        return (
            Out::Json(404, json!({ "error": "not found (this listener serves metrics only)" })),
            headers,
        );
    }
    if super::assets::is_dashboard(path) {
        // The dashboard's files hold no secrets: served before CORS and authentication.
        let if_none_match = header(rq, "If-None-Match");
        let host = header(rq, "Host");
        let asked = super::assets::Request {
            method: &method,
            path,
            full_path,
            if_none_match: if_none_match.as_deref(),
            host: host.as_deref(),
        };
        return super::assets::serve(&ctx.daemon, &asked);
    }
    if let Some(origin) = header(rq, "Origin")
        && cors_allows(&ctx.daemon.api.cors.allowed_origins, &origin)
    {
        headers.push(("Access-Control-Allow-Origin", origin));
        headers.push(("Vary", "Origin".into()));
        if ctx.daemon.api.cors.allow_credentials {
            headers.push(("Access-Control-Allow-Credentials", "true".into()));
        }
        if method == "OPTIONS" {
            headers
                .push(("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS".into()));
            headers.push((
                "Access-Control-Allow-Headers",
                "Authorization, Content-Type, Last-Event-ID".into(),
            ));
            return (Out::Empty(204), headers);
        }
    }
    let authorization = header(rq, "Authorization");
    let token = param(query, "token");
    let role =
        match ctx.auth.check(trusted, &method, path, authorization.as_deref(), token.as_deref()) {
            Ok(who) => who.role,
            Err(Denied::Unauthenticated { message, challenge }) => {
                headers.push(("WWW-Authenticate", challenge.into()));
                return (Out::Json(401, json!({ "error": message })), headers);
            }
            Err(Denied::Forbidden { role }) => {
                let error = format!("forbidden: the role {role:?} may not {method} {path}");
                return (Out::Json(403, json!({ "error": error })), headers);
            }
        };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let last_event_id = header(rq, "Last-Event-ID").and_then(|v| v.trim().parse().ok());
    let body = if method == "POST" { read_body(rq) } else { Ok(String::new()) };
    let req = Req { method: &method, segments: &segments, query, last_event_id, role: &role };
    let out = match body.and_then(|body| route(ctx, reader, &req, &body)) {
        Ok(out) => out,
        Err(e) => Out::Json(e.status, json!({ "error": e.message })),
    };
    (out, headers)
}

/// The path under `api.base_path` (`None`: outside it).
fn strip_base<'a>(base: &str, path: &'a str) -> Option<&'a str> {
    let base = base.trim_end_matches('/');
    if base.is_empty() {
        return Some(path);
    }
    match path.strip_prefix(base) {
        Some("") => Some("/"),
        Some(rest) if rest.starts_with('/') => Some(rest),
        _ => None,
    }
}

/// Whether `origin` is listed in `api.cors.allowed_origins` (or `*` is).
fn cors_allows(allowed: &[String], origin: &str) -> bool {
    allowed.iter().any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
}

/// A request header's value.
fn header(rq: &tiny_http::Request, name: &str) -> Option<String> {
    rq.headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str().to_owned())
}

/// The parts of a request the routes read.
#[derive(Debug)]
pub(super) struct Req<'a> {
    method: &'a str,
    segments: &'a [&'a str],
    /// The query string (without `?`).
    pub query: &'a str,
    /// A `Last-Event-ID` header: the last log row a client of a stream has.
    pub last_event_id: Option<i64>,
    /// The caller's role.
    role: &'a str,
}

fn read_body(rq: &mut tiny_http::Request) -> Result<String, ApiError> {
    use std::io::Read;
    let mut text = String::new();
    rq.as_reader()
        .take(MAX_BODY + 1)
        .read_to_string(&mut text)
        .map_err(|_| ApiError::bad("the request body is not UTF-8 text"))?;
    if text.len() as u64 > MAX_BODY {
        return Err(ApiError::new(413, "the request body is larger than 1 MiB"));
    }
    Ok(text)
}

fn json(v: Value) -> Answer {
    Ok(Out::Json(200, v))
}

/// A whole list: every item, and their number in `X-Total-Count`.
pub(super) fn list(items: Vec<Value>) -> Answer {
    let total = items.len() as u64;
    Ok(Out::Page(items, total))
}

fn route(ctx: &Context, reader: &mut Option<Reader>, rq: &Req<'_>, body: &str) -> Answer {
    let query = rq.query;
    match (rq.method, rq.segments) {
        ("GET", ["api", "status"]) => status(ctx),
        ("GET", ["api", "jobs"]) => {
            let views = job_views(ctx)?;
            let r = with_reader(ctx, reader)?;
            reads::jobs(r, &views, selector(query)?.as_ref())
        }
        ("POST", ["api", "jobs", "pause" | "resume"]) => {
            let paused = rq.segments[2] == "pause";
            let tag = param(query, "tag")
                .ok_or_else(|| ApiError::bad("tag query parameter is required"))?;
            command(ctx, Command::PauseTag { tag, paused })
        }
        ("GET", ["api", "jobs", job]) => {
            let config = config(ctx)?;
            let views = job_views(ctx)?;
            reads::job(with_reader(ctx, reader)?, &config, &views, job, query)
        }
        ("GET", ["api", "jobs", job, "next"]) => {
            reads::next(&*config(ctx)?, ctx.clock.now_utc(), job, query)
        }
        ("POST", ["api", "jobs", job, "run"]) => run(ctx, job, body),
        ("POST", ["api", "jobs", job, "retry"]) => {
            let of = reads::retry_of(with_reader(ctx, reader)?, &*config(ctx)?, job)?;
            command(
                ctx,
                Command::Retry {
                    job: (*job).to_owned(),
                    of,
                    reason: reason(body)?,
                    by: "api".into(),
                },
            )
        }
        ("POST", ["api", "jobs", job, action @ ("pause" | "resume")]) => {
            command(ctx, Command::Pause { job: (*job).to_owned(), paused: *action == "pause" })
        }
        ("POST", ["api", "jobs", job, "skip"]) => {
            command(ctx, Command::Skip { job: (*job).to_owned() })
        }
        ("POST", ["api", "jobs", job, "cancel"]) => cancel_job(ctx, job),
        ("GET", ["api", "runs" | "audit"]) => {
            let tagged = match selector(query)? {
                Some(sel) => Some(reads::tagged(&*config(ctx)?, &sel)),
                None => None,
            };
            reads::runs(with_reader(ctx, reader)?, query, tagged, 100)
        }
        ("GET", ["api", "db", "job_runs"]) => {
            reads::runs(with_reader(ctx, reader)?, query, None, 50)
        }
        ("GET", ["api", "db", "state" | "job_state"]) => db::states(with_reader(ctx, reader)?),
        ("POST", ["api", "db", "job_state", job, "clear_lock"]) => {
            let views = job_views(ctx)?;
            let view = views
                .iter()
                .find(|v| v.job.name == *job)
                .ok_or_else(|| ApiError::not_found(format!("no job named {job:?}")))?;
            let running = view.runs.iter().any(|(_, s)| *s == crate::store::RunStatus::Running);
            db::clear_lock(ctx, job, running)
        }
        ("GET", ["api", "db", "run_logs"]) => db::run_logs(with_reader(ctx, reader)?, query),
        ("GET", ["api", "db", "run_outputs"]) => db::run_outputs(with_reader(ctx, reader)?, query),
        ("GET", ["api", "db", "alerts"]) => db::alerts(with_reader(ctx, reader)?, query),
        ("POST", ["api", "db", "alerts", id, "retry"] | ["api", "alerts", id, "retry"]) => {
            alerts::retry(ctx, id)
        }
        ("GET", ["api", "integrations"]) => alerts::list(&*config(ctx)?, with_reader(ctx, reader)?),
        ("POST", ["api", "integrations", name, "test"]) => alerts::test(ctx, name),
        ("POST", ["api", "runs", id, "cancel"]) => {
            let run_id = run_id(id)?;
            command(ctx, Command::Cancel { run_id, by: "api".into() })
        }
        ("GET", ["api", "runs", id]) => {
            let id = run_id(id)?;
            let row = with_reader(ctx, reader)?.run(id).map_err(store_error)?;
            row.map(|row| Out::Json(200, run_json(&row)))
                .ok_or_else(|| ApiError::not_found(format!("run {id} not found")))
        }
        ("GET", ["api", "runs", id, "logs"]) => {
            reads::logs(with_reader(ctx, reader)?, run_id(id)?, query)
        }
        ("GET", ["api", "runs", id, "logs", "stream"]) => {
            let id = run_id(id)?;
            if with_reader(ctx, reader)?.run(id).map_err(store_error)?.is_none() {
                return Err(ApiError::not_found(format!("run {id} not found")));
            }
            let after = match param(query, "after_id") {
                Some(v) => Some(v.parse().map_err(|_| ApiError::bad("after_id must be a row id"))?),
                None => rq.last_event_id,
            };
            let include_hc = flag(query, "include_healthcheck");
            Ok(Out::LogStream(super::stream::LogStream { run_id: id, after_id: after, include_hc }))
        }
        ("GET", ["ws", "logs", id]) => {
            let run_id = run_id(id)?;
            if with_reader(ctx, reader)?.run(run_id).map_err(store_error)?.is_none() {
                return Err(ApiError::not_found(format!("run {run_id} not found")));
            }
            let from_seq = match param(query, "from_seq").filter(|v| !v.is_empty()) {
                Some(v) => Some(
                    v.parse::<i64>()
                        .ok()
                        .filter(|n| *n >= 0)
                        .ok_or_else(|| ApiError::bad("from_seq must be a line position (>= 0)"))?,
                ),
                None => None,
            };
            let include_hc = flag(query, "include_healthcheck");
            Ok(Out::WebSocket(super::ws::Socket::Logs { run_id, from_seq, include_hc }))
        }
        ("GET", ["ws", "events"]) => {
            Ok(Out::WebSocket(super::ws::Socket::Events { after: event_after(rq)? }))
        }
        ("GET", ["api", "events", "stream"]) => {
            Ok(Out::EventStream(super::events::EventStream { after: event_after(rq)? }))
        }
        ("GET", ["api", "daemon", "info"]) => daemon_info(ctx),
        ("GET", ["api", "runs", id, "outputs"]) => {
            let rows =
                with_reader(ctx, reader)?.outputs_by_run(run_id(id)?).map_err(store_error)?;
            list(rows.iter().map(reads::output_json).collect())
        }
        ("GET", ["api", "cycles", id]) => {
            let Reply::Open(open) = ctx.ask(Command::CycleOpen((*id).to_owned()))? else {
                return Err(ApiError::unavailable("the engine gave no answer"));
            };
            reads::cycle(with_reader(ctx, reader)?, id, open)
        }
        ("GET", ["api", "tags"]) => reads::tags(with_reader(ctx, reader)?, &*config(ctx)?),
        ("GET", ["api", "dag"]) => match reads::dag(&*config(ctx)?) {
            Value::Array(nodes) => list(nodes),
            other => json(other),
        },
        ("GET", ["api", "export"]) => reads::export(with_reader(ctx, reader)?, &*config(ctx)?),
        ("POST", ["api", "db", "prune"]) => prune(ctx, body),
        ("GET", ["api", "config"]) => settings::dashboard(ctx),
        ("GET", ["api", "config", "file"]) => settings::husky_file(ctx),
        ("GET", ["api", "config", "daemon"]) => settings::daemon_file(ctx, rq.role),
        ("POST", ["api", "config", "validate"]) => settings::validate(ctx, rq.role, body),
        ("POST", ["api", "config", "save"]) => settings::save(ctx, rq.role, body),
        ("POST", ["api", "daemon", "stop"]) => {
            let force = flag(query, "force");
            let reply = ctx.ask(Command::Shutdown { force })?;
            let message = match reply {
                Reply::Done(m) => m,
                _ => "daemon stopping".into(),
            };
            json(json!({ "ok": true, "message": message }))
        }
        ("POST", ["api", "daemon", "reload"]) => match ctx.reloader.reload(|c| command(ctx, c)) {
            Ok(answer) => answer,
            Err(errors) => {
                json(json!({ "ok": false, "error": errors.join("\n"), "errors": errors }))
            }
        },
        (_, ["api" | "ws", ..]) if known(rq.segments) => {
            Err(ApiError::new(405, "method not allowed"))
        }
        _ => Err(ApiError::not_found("not found")),
    }
}

/// Every route: method and path template (`{name}` matches one segment). `schema/openapi.yaml`
/// documents exactly these (a test checks it).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/status"),
    ("GET", "/api/jobs"),
    ("POST", "/api/jobs/pause"),
    ("POST", "/api/jobs/resume"),
    ("GET", "/api/jobs/{job}"),
    ("GET", "/api/jobs/{job}/next"),
    ("POST", "/api/jobs/{job}/run"),
    ("POST", "/api/jobs/{job}/retry"),
    ("POST", "/api/jobs/{job}/pause"),
    ("POST", "/api/jobs/{job}/resume"),
    ("POST", "/api/jobs/{job}/skip"),
    ("POST", "/api/jobs/{job}/cancel"),
    ("GET", "/api/runs"),
    ("GET", "/api/audit"),
    ("GET", "/api/runs/{id}"),
    ("GET", "/api/runs/{id}/logs"),
    ("GET", "/api/runs/{id}/logs/stream"),
    ("GET", "/api/runs/{id}/outputs"),
    ("GET", "/ws/logs/{id}"),
    ("GET", "/ws/events"),
    ("GET", "/api/events/stream"),
    ("GET", "/api/daemon/info"),
    ("POST", "/api/runs/{id}/cancel"),
    ("GET", "/api/cycles/{id}"),
    ("GET", "/api/tags"),
    ("GET", "/api/dag"),
    ("GET", "/api/export"),
    ("GET", "/api/db/job_runs"),
    ("GET", "/api/db/state"),
    ("GET", "/api/db/job_state"),
    ("POST", "/api/db/job_state/{job}/clear_lock"),
    ("GET", "/api/db/run_logs"),
    ("GET", "/api/db/run_outputs"),
    ("GET", "/api/db/alerts"),
    ("POST", "/api/db/alerts/{id}/retry"),
    ("POST", "/api/alerts/{id}/retry"),
    ("GET", "/api/integrations"),
    ("POST", "/api/integrations/{name}/test"),
    ("POST", "/api/db/prune"),
    ("GET", "/api/config"),
    ("GET", "/api/config/file"),
    ("GET", "/api/config/daemon"),
    ("POST", "/api/config/validate"),
    ("POST", "/api/config/save"),
    ("POST", "/api/daemon/stop"),
    ("POST", "/api/daemon/reload"),
];

/// Whether some method serves this path.
fn known(segments: &[&str]) -> bool {
    ROUTES.iter().any(|(_, template)| {
        let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
        parts.len() == segments.len()
            && parts.iter().zip(segments).all(|(p, s)| p.starts_with('{') || p == s)
    })
}

/// Where an event stream resumes: `?after_id=` or `Last-Event-ID`.
fn event_after(rq: &Req<'_>) -> Result<Option<u64>, ApiError> {
    match param(rq.query, "after_id").filter(|v| !v.is_empty()) {
        Some(v) => v.parse().map(Some).map_err(|_| ApiError::bad("after_id must be an event id")),
        None => Ok(rq.last_event_id.and_then(|id| u64::try_from(id).ok())),
    }
}

/// `GET /api/daemon/info`: the daemon's version, pid and uptime, and its open streams.
fn daemon_info(ctx: &Context) -> Answer {
    use std::sync::atomic::Ordering;
    let now = ctx.clock.now_utc();
    json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "started_at": ts(ctx.started_at),
        "uptime_s": (now - ctx.started_at).whole_seconds(),
        "websockets": ctx.websockets.load(Ordering::SeqCst),
        "max_websockets": ctx.daemon.api.max_websockets,
        "sse_streams": ctx.streams.load(Ordering::SeqCst),
        "max_sse_streams": super::stream::MAX_STREAMS,
    }))
}

/// A `tag` selector parameter, parsed.
fn selector(query: &str) -> Result<Option<Selector>, ApiError> {
    param(query, "tag").map(|t| Selector::parse(&t).map_err(ApiError::bad)).transpose()
}

/// A boolean parameter: `true` or `1`.
pub(super) fn flag(query: &str, name: &str) -> bool {
    param(query, name).is_some_and(|v| v == "true" || v == "1")
}

pub(super) fn param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| percent_decode(v))
    })
}

/// `%XX` escapes and `+` of a query value.
fn percent_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn run_id(text: &str) -> Result<i64, ApiError> {
    text.parse().map_err(|_| ApiError::bad("invalid run id"))
}

fn with_reader<'a>(ctx: &Context, reader: &'a mut Option<Reader>) -> Result<&'a Reader, ApiError> {
    if reader.is_none() {
        *reader = Some(Reader::open(&ctx.db, ctx.pragmas).map_err(store_error)?);
    }
    reader.as_ref().ok_or_else(|| ApiError::unavailable("the database cannot be read"))
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(store_error)`
pub(super) fn store_error(e: crate::store::StoreError) -> ApiError {
    ApiError::unavailable(format!("the database cannot be read: {e}"))
}

/// Sends a command; its reply becomes the answer (an engine refusal is a 400).
fn command(ctx: &Context, cmd: Command) -> Answer {
    match ctx.ask(cmd)? {
        Reply::Done(message) => json(json!({ "ok": true, "message": message })),
        Reply::Error(message) if message.starts_with("no job named") => {
            Err(ApiError::not_found(message))
        }
        Reply::Error(message) => Err(ApiError::bad(message)),
        Reply::Conflict(message) => Err(ApiError::new(409, message)),
        Reply::Runs(runs) => {
            // Read-your-writes: the new rows are committed before the answer, so a client can
            // open the run (or its log stream) at once. The engine handed them to the writer
            // before replying; a flush queued now commits them (unless the writer is so far
            // behind that the engine still holds them, which the flush cannot wait for).
            // A database that cannot be written delays nothing: the runs are queued, and the
            // answer goes after a second at most.
            if let Some(store) = &ctx.store
                && !matches!(store.flush_within(std::time::Duration::from_secs(1)), Ok(true))
            {
                ctx.log.warn("api: new runs are not committed yet (is the database writable?)");
            }
            Ok(Out::Json(202, runs_json(&runs)))
        }
        Reply::Jobs(_) | Reply::Config(_) | Reply::Open(_) => {
            Err(ApiError::unavailable("the engine gave an unexpected answer"))
        }
    }
}

/// The configuration in force.
fn config(ctx: &Context) -> Result<std::sync::Arc<crate::config::Config>, ApiError> {
    match ctx.ask(Command::Config)? {
        Reply::Config(c) => Ok(c.0),
        _ => Err(ApiError::unavailable("the engine gave no configuration")),
    }
}

/// Every job as the engine sees it.
fn job_views(ctx: &Context) -> Result<Vec<JobView>, ApiError> {
    match ctx.ask(Command::Status)? {
        Reply::Jobs(jobs) => Ok(jobs),
        _ => Err(ApiError::unavailable("the engine gave no status")),
    }
}

fn status(ctx: &Context) -> Answer {
    let jobs = job_views(ctx)?;
    let now = ctx.clock.now_utc();
    let running = jobs
        .iter()
        .flat_map(|j| &j.runs)
        .filter(|(_, s)| *s == crate::store::RunStatus::Running)
        .count();
    let store_error = ctx.store_down.lock().map(|e| e.clone()).unwrap_or(None);
    json(json!({
        "ok": true,
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "started_at": ts(ctx.started_at),
        "uptime_s": (now - ctx.started_at).whole_seconds(),
        "config_path": ctx.husky_yaml.display().to_string(),
        "db_path": ctx.db.display().to_string(),
        "api_url": ctx.api_url.lock().map(|u| u.clone()).unwrap_or(None),
        "store": if store_error.is_some() { "degraded" } else { "ok" },
        "store_error": store_error,
        "jobs": jobs.len(),
        "paused_jobs": jobs.iter().filter(|j| j.paused).count(),
        "running_runs": running,
    }))
}

fn run(ctx: &Context, job: &str, body: &str) -> Answer {
    command(ctx, Command::Run { job: job.to_owned(), reason: reason(body)?, by: "api".into() })
}

/// The `reason` of a JSON body (an empty body has none).
fn reason(body: &str) -> Result<Option<String>, ApiError> {
    if body.trim().is_empty() {
        return Ok(None);
    }
    let v: Value =
        serde_json::from_str(body).map_err(|e| ApiError::bad(format!("invalid JSON body: {e}")))?;
    let reason = v.get("reason").and_then(Value::as_str).map(str::to_owned);
    if let Some(r) = &reason
        && r.chars().count() > MAX_REASON
    {
        return Err(ApiError::bad(format!("reason is longer than {MAX_REASON} characters")));
    }
    Ok(reason)
}

/// Applies the retention rules now (`{"dry_run": bool, "older_than": "30d"}`, both optional)
/// through the store writer, between its transactions.
fn prune(ctx: &Context, body: &str) -> Answer {
    let v: Value = if body.trim().is_empty() {
        json!({})
    } else {
        serde_json::from_str(body).map_err(|e| ApiError::bad(format!("invalid JSON body: {e}")))?
    };
    let dry_run = match v.get("dry_run") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::bad("dry_run must be true or false")),
    };
    let mut policy = crate::store::retention::Policy::of(&ctx.daemon.storage);
    match v.get("older_than") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => policy.max_age = Some(older_than(text)?),
        Some(_) => return Err(ApiError::bad("older_than must be a duration such as \"30d\"")),
    }
    let store = ctx.store.as_ref().ok_or_else(|| ApiError::unavailable("no store writer"))?;
    let report = store.prune(policy, dry_run).map_err(|e| ApiError::unavailable(e.to_string()))?;
    if !dry_run {
        ctx.log.info(&format!("prune: {}", crate::store::retention::describe(&report)));
    }
    json(serde_json::to_value(report).unwrap_or_default())
}

/// A positive duration for `older_than`.
fn older_than(text: &str) -> Result<time::Duration, ApiError> {
    match crate::config::parse_duration(text) {
        Ok(d) if d.is_positive() => Ok(d),
        Ok(_) => Err(ApiError::bad(format!(
            "older_than {text:?}: must be greater than zero (examples: 12h, 30d, 2w)"
        ))),
        Err(e) => Err(ApiError::bad(format!("older_than {text:?}: {e} (examples: 12h, 30d, 2w)"))),
    }
}

/// Cancels every unfinished run of a job.
fn cancel_job(ctx: &Context, job: &str) -> Answer {
    let jobs = job_views(ctx)?;
    let view = jobs
        .iter()
        .find(|j| j.job.name == job)
        .ok_or_else(|| ApiError::not_found(format!("no job named {job:?}")))?;
    if view.runs.is_empty() {
        return Err(ApiError::bad(format!("job {job:?} is not currently running")));
    }
    let mut cancelled = Vec::new();
    for (run_id, _) in &view.runs {
        if let Reply::Done(_) = ctx.ask(Command::Cancel { run_id: *run_id, by: "api".into() })? {
            cancelled.push(*run_id);
        }
    }
    json(json!({ "ok": true, "cancelled": cancelled }))
}

fn runs_json(runs: &[Created]) -> Value {
    let list: Vec<Value> = runs
        .iter()
        .map(|c| {
            json!({
                "job_name": c.job,
                "run_id": c.run_id,
                "status": c.status.as_str(),
                "reason": c.reason,
            })
        })
        .collect();
    json!({ "ok": true, "runs": list })
}

/// A run as the API shows it.
pub fn run_json(r: &RunRow) -> Value {
    json!({
        "id": r.id,
        "job_name": r.job_name,
        "status": r.status.as_str(),
        "status_reason": r.status_reason,
        "attempt": r.attempt,
        "trigger": r.trigger.as_str(),
        "triggered_by": r.triggered_by,
        "reason": r.reason.clone().unwrap_or_default(),
        "cycle_id": r.cycle_id,
        "created_at": r.created_at,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "retry_at": r.retry_at,
        "exit_code": r.exit_code,
        "signal": r.signal,
        "duration_ms": r.duration_ms,
        "cpu_user_ms": r.cpu_user_ms,
        "cpu_sys_ms": r.cpu_sys_ms,
        "max_rss_kb": r.max_rss_kb,
        "sla_breached": r.sla_breached,
        "hc_status": r.hc_status,
        "log_lines": r.log_lines,
    })
}
