//! The routes: Husky-Go's paths and shapes where they exist (snake_case fields, arrays never
//! `null`, errors as `{"error": "..."}`), answered from the engine (commands, live state) or the
//! database (history).

use serde_json::{Value, json};

use super::Context;
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
    message: String,
}

impl ApiError {
    fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }
    fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(400, message)
    }
    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, message)
    }
    pub(super) fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(503, message)
    }
}

type Answer = Result<(u16, Value), ApiError>;

/// Answers one request.
pub fn handle(
    ctx: &Context,
    reader: &mut Option<Reader>,
    rq: &mut tiny_http::Request,
) -> (u16, Value) {
    let method = rq.method().as_str().to_ascii_uppercase();
    let url = rq.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let body = if method == "POST" { read_body(rq) } else { Ok(String::new()) };
    let answer = body.and_then(|body| route(ctx, reader, &method, &segments, query, &body));
    match answer {
        Ok(a) => a,
        Err(e) => (e.status, json!({ "error": e.message })),
    }
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

fn route(
    ctx: &Context,
    reader: &mut Option<Reader>,
    method: &str,
    segments: &[&str],
    query: &str,
    body: &str,
) -> Answer {
    match (method, segments) {
        ("GET", ["api", "status"]) => status(ctx),
        ("GET", ["api", "jobs"]) => jobs(ctx, param(query, "tag").as_deref()),
        ("POST", ["api", "jobs", "pause" | "resume"]) => {
            let paused = segments[2] == "pause";
            let tag = param(query, "tag")
                .ok_or_else(|| ApiError::bad("tag query parameter is required"))?;
            command(ctx, Command::PauseTag { tag, paused })
        }
        ("POST", ["api", "jobs", job, "run"]) => run(ctx, job, body),
        ("POST", ["api", "jobs", job, action @ ("pause" | "resume")]) => {
            command(ctx, Command::Pause { job: (*job).to_owned(), paused: *action == "pause" })
        }
        ("POST", ["api", "jobs", job, "skip"]) => {
            command(ctx, Command::Skip { job: (*job).to_owned() })
        }
        ("POST", ["api", "jobs", job, "cancel"]) => cancel_job(ctx, job),
        ("POST", ["api", "runs", id, "cancel"]) => {
            let run_id = run_id(id)?;
            command(ctx, Command::Cancel { run_id, by: "api".into() })
        }
        ("GET", ["api", "runs", id]) => {
            let id = run_id(id)?;
            let r = with_reader(ctx, reader)?;
            let row = r.run(id).map_err(store_error)?;
            row.map(|row| (200, run_json(&row)))
                .ok_or_else(|| ApiError::not_found(format!("run {id} not found")))
        }
        ("POST", ["api", "daemon", "stop"]) => {
            let force = param(query, "force").is_some_and(|v| v == "true" || v == "1");
            let reply = ctx.ask(Command::Shutdown { force })?;
            let message = match reply {
                Reply::Done(m) => m,
                _ => "daemon stopping".into(),
            };
            Ok((200, json!({ "ok": true, "message": message })))
        }
        ("POST", ["api", "daemon", "reload"]) => match ctx.reloader.reload(|c| command(ctx, c)) {
            Ok(answer) => answer,
            Err(errors) => {
                Ok((200, json!({ "ok": false, "error": errors.join("\n"), "errors": errors })))
            }
        },
        (_, ["api", ..]) if known(segments) => Err(ApiError::new(405, "method not allowed")),
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
    ("POST", "/api/jobs/{job}/run"),
    ("POST", "/api/jobs/{job}/pause"),
    ("POST", "/api/jobs/{job}/resume"),
    ("POST", "/api/jobs/{job}/skip"),
    ("POST", "/api/jobs/{job}/cancel"),
    ("GET", "/api/runs/{id}"),
    ("POST", "/api/runs/{id}/cancel"),
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

fn param(query: &str, name: &str) -> Option<String> {
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

fn run_id(text: &str) -> Result<i64, ApiError> {
    text.parse().map_err(|_| ApiError::bad("invalid run id"))
}

fn with_reader<'a>(ctx: &Context, reader: &'a mut Option<Reader>) -> Result<&'a Reader, ApiError> {
    if reader.is_none() {
        *reader = Some(Reader::open(&ctx.db, ctx.pragmas).map_err(store_error)?);
    }
    reader.as_ref().ok_or_else(|| ApiError::unavailable("the database cannot be read"))
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(store_error)`
fn store_error(e: crate::store::StoreError) -> ApiError {
    ApiError::unavailable(format!("the database cannot be read: {e}"))
}

/// Sends a command; its reply becomes the answer (an engine refusal is a 400).
fn command(ctx: &Context, cmd: Command) -> Answer {
    match ctx.ask(cmd)? {
        Reply::Done(message) => Ok((200, json!({ "ok": true, "message": message }))),
        Reply::Error(message) if message.starts_with("no job named") => {
            Err(ApiError::not_found(message))
        }
        Reply::Error(message) => Err(ApiError::bad(message)),
        Reply::Runs(runs) => Ok((202, runs_json(&runs))),
        Reply::Jobs(jobs) => Ok((200, Value::Array(jobs.iter().map(job_json).collect()))),
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
    Ok((
        200,
        json!({
            "ok": true,
            "version": env!("CARGO_PKG_VERSION"),
            "pid": std::process::id(),
            "started_at": ts(ctx.started_at),
            "uptime_s": (now - ctx.started_at).whole_seconds(),
            "jobs": jobs.len(),
            "paused_jobs": jobs.iter().filter(|j| j.paused).count(),
            "running_runs": running,
        }),
    ))
}

fn jobs(ctx: &Context, tag: Option<&str>) -> Answer {
    let jobs = job_views(ctx)?;
    let list: Vec<Value> = jobs
        .iter()
        .filter(|j| tag.is_none_or(|t| j.job.tags.iter().any(|x| x == t)))
        .map(job_json)
        .collect();
    Ok((200, Value::Array(list)))
}

fn job_json(v: &JobView) -> Value {
    json!({
        "name": v.job.name,
        "description": v.job.description,
        "frequency": v.job.frequency_raw,
        "timezone": v.job.timezone,
        "tags": v.job.tags,
        "next_run": v.next_run.map(ts),
        "paused": v.paused,
        "skip_next": v.skip_next,
        "running": v.runs.iter().any(|(_, s)| *s == crate::store::RunStatus::Running),
        "runs": v.runs.iter().map(|(id, s)| json!({ "id": id, "status": s.as_str() })).collect::<Vec<_>>(),
    })
}

fn run(ctx: &Context, job: &str, body: &str) -> Answer {
    let reason = if body.trim().is_empty() {
        None
    } else {
        let v: Value = serde_json::from_str(body)
            .map_err(|e| ApiError::bad(format!("invalid JSON body: {e}")))?;
        v.get("reason").and_then(Value::as_str).map(str::to_owned)
    };
    if let Some(r) = &reason
        && r.chars().count() > MAX_REASON
    {
        return Err(ApiError::bad(format!("reason is longer than {MAX_REASON} characters")));
    }
    command(ctx, Command::Run { job: job.to_owned(), reason, by: "api".into() })
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
    Ok((200, json!({ "ok": true, "cancelled": cancelled })))
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
