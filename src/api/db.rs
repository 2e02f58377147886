//! Husky-Go's database browsing routes (`/api/db/...`): runs, job state, log lines, outputs
//! and alerts with their filters, each a page with its total in `X-Total-Count`; and clearing
//! a job's lock.

use serde_json::{Value, json};

use super::reads::{line_json, output_json, paging};
use super::routes::{Answer, ApiError, Out, param, store_error};
use crate::store::query::{AlertRow, JobStateRow, LogFilter, Reader};
use crate::store::{JobStatePatch, RunStatus, Stream};

/// `GET /api/db/state` (and `/api/db/job_state`): every job's state row, by name.
pub fn states(r: &Reader) -> Answer {
    let rows = r.job_states().map_err(store_error)?;
    let total = rows.len() as u64;
    Ok(Out::Page(rows.iter().map(state_json).collect(), total))
}

/// A job state row as the API shows it.
pub fn state_json(s: &JobStateRow) -> Value {
    json!({
        "job_name": s.job_name,
        "last_success": s.last_success,
        "last_failure": s.last_failure,
        "last_run_id": s.last_run_id,
        "last_status": s.last_status.map(RunStatus::as_str),
        "next_run": s.next_run,
        "paused": s.paused,
        "lock_pid": s.lock_pid,
        "updated_at": s.updated_at,
    })
}

/// `GET /api/db/run_logs`: lines of one run, or of one job's runs (newest run first), of one
/// stream, containing `q`; `limit` 200 by default.
pub fn run_logs(r: &Reader, query: &str) -> Answer {
    let (limit, offset) = paging(query, 200)?;
    let run_id = match param(query, "run_id").filter(|v| !v.is_empty()) {
        Some(v) => Some(v.parse().map_err(|_| ApiError::bad("invalid run_id"))?),
        None => None,
    };
    let stream = match param(query, "stream").filter(|v| !v.is_empty()) {
        Some(s) => Some(Stream::parse(&s).ok_or_else(|| {
            ApiError::bad(format!("unknown stream {s:?} (stdout, stderr, healthcheck, husky)"))
        })?),
        None => None,
    };
    let f = LogFilter {
        run_id,
        job: param(query, "job").filter(|j| !j.is_empty()),
        stream,
        q: param(query, "q").filter(|q| !q.is_empty()),
        limit,
        offset,
        ..LogFilter::default()
    };
    let page = r.logs(&f).map_err(store_error)?;
    Ok(Out::Page(page.items.iter().map(line_json).collect(), page.total))
}

/// `GET /api/db/run_outputs`: outputs newest first, by `job`, `cycle_id` and `run_id`.
pub fn run_outputs(r: &Reader, query: &str) -> Answer {
    let (limit, offset) = paging(query, 100)?;
    let run_id = match param(query, "run_id").filter(|v| !v.is_empty()) {
        Some(v) => Some(v.parse().map_err(|_| ApiError::bad("invalid run_id"))?),
        None => None,
    };
    let job = param(query, "job").filter(|j| !j.is_empty());
    let cycle = param(query, "cycle_id").filter(|c| !c.is_empty());
    let page =
        r.outputs(job.as_deref(), cycle.as_deref(), run_id, limit, offset).map_err(store_error)?;
    Ok(Out::Page(page.items.iter().map(output_json).collect(), page.total))
}

/// `GET /api/db/alerts`: alerts newest first, by `job` and `status`.
pub fn alerts(r: &Reader, query: &str) -> Answer {
    let (limit, offset) = paging(query, 100)?;
    let job = param(query, "job").filter(|j| !j.is_empty());
    let status = param(query, "status").filter(|s| !s.is_empty()).map(|s| s.to_ascii_lowercase());
    let page = r.alerts(job.as_deref(), status.as_deref(), limit, offset).map_err(store_error)?;
    Ok(Out::Page(page.items.iter().map(alert_json).collect(), page.total))
}

/// An alert as the API shows it.
pub fn alert_json(a: &AlertRow) -> Value {
    json!({
        "id": a.id, "job_name": a.job_name, "run_id": a.run_id, "event": a.event,
        "channel": crate::notify::redact::channel(&a.channel), "status": a.status, "attempts": a.attempts,
        "last_attempt_at": a.last_attempt_at, "error": a.error, "sent_at": a.sent_at,
    })
}

/// `POST /api/db/job_state/{job}/clear_lock`: forgets the pid holding the job's lock; 409
/// while a run of the job is running.
pub fn clear_lock(ctx: &super::Context, job: &str, running: bool) -> Answer {
    if running {
        return Err(ApiError::new(409, format!("{job} is running; cancel it first")));
    }
    let store = ctx.store.as_ref().ok_or_else(|| ApiError::unavailable("no store writer"))?;
    let patch = JobStatePatch { lock_pid: Some(None), ..JobStatePatch::default() };
    store
        .job_state(job, patch)
        .and_then(|()| store.flush())
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(Out::Json(200, json!({ "ok": true, "message": format!("{job}: lock cleared") })))
}
