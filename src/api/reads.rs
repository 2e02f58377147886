//! The routes that read: jobs with their state, one job's configuration and history, run
//! search (`/api/runs`, `/api/audit`), logs, outputs, cycles, tags with their health, the DAG
//! and the export. Lists are JSON arrays (never `null`); paged ones carry the total count in
//! `X-Total-Count`.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::routes::{Answer, ApiError, Out, param, run_json, store_error};
use crate::config::view::{Secrets, job_view};
use crate::config::{Config, Selector, format_duration};
use crate::engine::core::{JobView, RetryOf};
use crate::store::query::{JobStateRow, LogFilter, OutputRow, Reader, RunFilter};
use crate::store::{RunStatus, Trigger, ts};

/// The longest page of a list.
const MAX_PAGE: u32 = 1000;

/// `GET /api/jobs`: every job (or those of a tag selector) with its schedule and state,
/// written straight to JSON text (no value tree: with a thousand jobs that halves the time).
pub fn jobs(r: &Reader, views: &[JobView], sel: Option<&Selector>) -> Answer {
    let states = states(r)?;
    let list: Vec<JobOut<'_>> = views
        .iter()
        .filter(|v| sel.is_none_or(|s| s.matches(&v.job.tags)))
        .map(|v| JobOut::of(v, states.get(v.job.name.as_str())))
        .collect();
    // About 300 bytes a job: sized once, not grown by doubling.
    let mut text = Vec::with_capacity(list.len() * 384 + 64);
    serde_json::to_writer(&mut text, &list)
        .map_err(|e| ApiError::new(500, format!("cannot write the job list: {e}")))?;
    let text = String::from_utf8(text)
        .map_err(|e| ApiError::new(500, format!("cannot write the job list: {e}")))?;
    Ok(Out::RawList(text, list.len() as u64))
}

fn states(r: &Reader) -> Result<HashMap<String, JobStateRow>, ApiError> {
    let rows = r.job_states().map_err(store_error)?;
    Ok(rows.into_iter().map(|s| (s.job_name.clone(), s)).collect())
}

/// A job as the lists show it: schedule, engine state and the latest outcomes.
#[derive(Debug, serde::Serialize)]
pub struct JobOut<'a> {
    name: &'a str,
    description: &'a str,
    frequency: &'a str,
    timezone: Option<&'a str>,
    tags: &'a [String],
    sla: Option<String>,
    next_run: Option<String>,
    paused: bool,
    skip_next: bool,
    running: bool,
    runs: Vec<RunRef>,
    last_run: Option<LastRun>,
    last_success: Option<&'a str>,
    last_failure: Option<&'a str>,
}

/// A run by id and status.
#[derive(Debug, serde::Serialize)]
struct RunRef {
    id: i64,
    status: &'static str,
}

/// The latest run (its status unknown for a row written before status was kept).
#[derive(Debug, serde::Serialize)]
struct LastRun {
    id: i64,
    status: Option<&'static str>,
}

impl<'a> JobOut<'a> {
    /// The view of `v` with its state row.
    pub fn of(v: &'a JobView, state: Option<&'a JobStateRow>) -> JobOut<'a> {
        JobOut {
            name: &v.job.name,
            description: &v.job.description,
            frequency: v.job.frequency_raw.trim(),
            timezone: v.job.timezone.as_deref(),
            tags: &v.job.tags,
            sla: v.job.sla.map(format_duration),
            next_run: v.next_run.map(ts),
            paused: v.paused,
            skip_next: v.skip_next,
            running: v.runs.iter().any(|(_, s)| *s == RunStatus::Running),
            runs: v.runs.iter().map(|(id, s)| RunRef { id: *id, status: s.as_str() }).collect(),
            last_run: state.and_then(|s| {
                s.last_run_id.map(|id| LastRun { id, status: s.last_status.map(RunStatus::as_str) })
            }),
            last_success: state.and_then(|s| s.last_success.as_deref()),
            last_failure: state.and_then(|s| s.last_failure.as_deref()),
        }
    }
}

/// A job as a JSON value (the job detail adds to it).
pub fn job_json(v: &JobView, state: Option<&JobStateRow>) -> Value {
    serde_json::to_value(JobOut::of(v, state)).unwrap_or(Value::Null)
}

/// `GET /api/jobs/{job}?runs=N`: the job's summary, its configuration (file names, env values
/// and credentials as `***`) and its latest runs, newest first.
pub fn job(r: &Reader, config: &Config, views: &[JobView], job: &str, query: &str) -> Answer {
    let (Some(v), Some(j)) =
        (views.iter().find(|v| v.job.name == job), config.jobs.iter().find(|j| j.name == job))
    else {
        return Err(ApiError::not_found(format!("no job named {job:?}")));
    };
    let n = number(query, "runs", 20)?.min(MAX_PAGE);
    let runs = r.last_runs(job, n).map_err(store_error)?;
    let state = r.job_state(job).map_err(store_error)?;
    let mut out = job_json(v, state.as_ref());
    out["job"] = serde_json::to_value(job_view(j, Secrets(false))).unwrap_or(Value::Null);
    let children: Vec<&str> = config
        .jobs
        .iter()
        .filter(|c| c.frequency.after() == Some(job))
        .map(|c| c.name.as_str())
        .collect();
    out["children"] = json!(children);
    out["runs"] = Value::Array(runs.iter().map(run_json).collect());
    out["live_runs"] = json!(
        v.runs.iter().map(|(id, s)| json!({ "id": id, "status": s.as_str() })).collect::<Vec<_>>()
    );
    Ok(Out::Json(200, out))
}

/// `GET /api/jobs/{job}/next?count=N`: the next fires (default 5, at most 100).
pub fn next(config: &Config, now: OffsetDateTime, job: &str, query: &str) -> Answer {
    let j = config
        .jobs
        .iter()
        .find(|j| j.name == job)
        .ok_or_else(|| ApiError::not_found(format!("no job named {job:?}")))?;
    let count = number(query, "count", 5)?.clamp(1, 100) as usize;
    let report = crate::cli::next::job_fires(j, now, count);
    Ok(Out::Json(200, crate::cli::next::wire_shape(&report)))
}

/// The run a retry of `job` retries: its latest run, which must be over.
pub fn retry_of(r: &Reader, config: &Config, job: &str) -> Result<RetryOf, ApiError> {
    if !config.jobs.iter().any(|j| j.name == job) {
        return Err(ApiError::not_found(format!("no job named {job:?}")));
    }
    let last = r.last_runs(job, 1).map_err(store_error)?;
    let Some(run) = last.into_iter().next() else {
        return Err(ApiError::new(409, format!("{job} has no run to retry")));
    };
    if !run.status.is_final() || run.status == RunStatus::Retrying {
        return Err(ApiError::new(
            409,
            format!(
                "run {} of {job} is {}; retry it once it has ended",
                run.id,
                run.status.as_str()
            ),
        ));
    }
    Ok(RetryOf { run_id: run.id, status: run.status, attempt: run.attempt, cycle_id: run.cycle_id })
}

/// The jobs a tag selector picks.
pub fn tagged(config: &Config, sel: &Selector) -> Vec<String> {
    config.jobs.iter().filter(|j| sel.matches(&j.tags)).map(|j| j.name.clone()).collect()
}

/// `GET /api/runs`, `GET /api/audit` and `GET /api/db/job_runs`: runs newest first. Filters:
/// `job`, `status` (one or a comma list), `trigger`, `since`/`until` (RFC 3339), `reason`
/// (substring), `tag` (selector), `cycle_id`, `sla_breached`; pages of `default` runs.
pub fn runs(r: &Reader, query: &str, tagged: Option<Vec<String>>, default: u32) -> Answer {
    let mut f = RunFilter { jobs: tagged, ..RunFilter::default() };
    f.job = param(query, "job").filter(|j| !j.is_empty());
    if let Some(list) = param(query, "status").filter(|s| !s.is_empty()) {
        let statuses = list
            .split(',')
            .map(|s| {
                RunStatus::parse(&s.trim().to_ascii_uppercase())
                    .ok_or_else(|| ApiError::bad(format!("unknown status {s:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        f.statuses = Some(statuses);
    }
    if let Some(t) = param(query, "trigger").filter(|t| !t.is_empty()) {
        f.trigger = Some(
            Trigger::parse(&t.to_ascii_lowercase())
                .ok_or_else(|| ApiError::bad(format!("unknown trigger {t:?}")))?,
        );
    }
    f.since = time_param(query, "since")?;
    f.until = time_param(query, "until")?;
    f.reason = param(query, "reason").filter(|r| !r.is_empty());
    f.cycle_id = param(query, "cycle_id").filter(|c| !c.is_empty());
    f.sla_breached = super::routes::flag(query, "sla_breached").then_some(true);
    (f.limit, f.offset) = paging(query, default)?;
    let page = r.runs(&f).map_err(store_error)?;
    Ok(Out::Page(page.items.iter().map(run_json).collect(), page.total))
}

/// `GET /api/runs/{id}/logs`: lines in order; `limit` (500, at most 1000), `offset`,
/// `after_seq`, `include_healthcheck`.
pub fn logs(r: &Reader, run_id: i64, query: &str) -> Answer {
    if r.run(run_id).map_err(store_error)?.is_none() {
        return Err(ApiError::not_found(format!("run {run_id} not found")));
    }
    let f = LogFilter {
        run_id: Some(run_id),
        hide_healthcheck: !super::routes::flag(query, "include_healthcheck"),
        ..LogFilter::default()
    };
    let mut f = f;
    (f.limit, f.offset) = paging(query, 500)?;
    let page = r.logs(&f).map_err(store_error)?;
    Ok(Out::Page(page.items.iter().map(line_json).collect(), page.total))
}

/// A log line as the API shows it.
pub fn line_json(l: &crate::store::StoredLine) -> Value {
    json!({ "id": l.id, "run_id": l.run_id, "seq": l.seq, "stream": l.stream.as_str(), "line": l.line, "ts": l.ts })
}

/// A captured output.
pub fn output_json(o: &OutputRow) -> Value {
    json!({ "run_id": o.run_id, "job_name": o.job_name, "var_name": o.var_name, "value": o.value, "cycle_id": o.cycle_id, "created_at": o.created_at })
}

/// `GET /api/cycles/{id}`: whether the engine still has runs to come in the cycle, and its
/// runs so far, oldest first.
pub fn cycle(r: &Reader, id: &str, open: bool) -> Answer {
    let f = RunFilter { cycle_id: Some(id.to_owned()), limit: MAX_PAGE, ..RunFilter::default() };
    let page = r.runs(&f).map_err(store_error)?;
    if page.total == 0 && !open {
        return Err(ApiError::not_found(format!("cycle {id} not found")));
    }
    let runs: Vec<Value> = page.items.iter().rev().map(run_json).collect();
    Ok(Out::Json(200, json!({ "cycle_id": id, "open": open, "runs": runs })))
}

/// `GET /api/tags`: each tag with its jobs and health: how many of them last ended in each
/// status.
pub fn tags(r: &Reader, config: &Config) -> Answer {
    let states = states(r)?;
    let mut tags: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for job in &config.jobs {
        for tag in &job.tags {
            tags.entry(tag).or_default().push(&job.name);
        }
    }
    let list: Vec<Value> = tags
        .iter()
        .map(|(tag, jobs)| {
            let mut health: BTreeMap<&str, u32> = BTreeMap::new();
            for job in jobs {
                let status = states
                    .get(*job)
                    .and_then(|s| s.last_status)
                    .map_or("NEVER_RUN", RunStatus::as_str);
                *health.entry(status).or_default() += 1;
            }
            json!({ "tag": tag, "count": jobs.len(), "jobs": jobs, "health": health })
        })
        .collect();
    super::routes::list(list)
}

/// `GET /api/dag`: jobs in topological order with their dependencies.
pub fn dag(config: &Config) -> Value {
    let dag = &config.dag;
    let nodes: Vec<Value> = dag
        .order()
        .iter()
        .map(|name| json!({ "name": name, "dependencies": dag.deps_of(name).collect::<Vec<_>>() }))
        .collect();
    Value::Array(nodes)
}

/// `GET /api/export`: the configuration (secrets as `***`), every job's state, and the newest
/// 1,000 runs and alerts.
pub fn export(r: &Reader, config: &Config) -> Answer {
    let view = crate::config::view::husky_view(config, Secrets(false));
    let states: Vec<Value> =
        r.job_states().map_err(store_error)?.iter().map(super::db::state_json).collect();
    let runs =
        r.runs(&RunFilter { limit: MAX_PAGE, ..RunFilter::default() }).map_err(store_error)?;
    let alerts = r.alerts(None, None, MAX_PAGE, 0).map_err(store_error)?;
    let alerts: Vec<Value> = alerts.items.iter().map(super::db::alert_json).collect();
    Ok(Out::Json(
        200,
        json!({
            "config": serde_json::to_value(view).unwrap_or(Value::Null),
            "job_state": states,
            "runs": runs.items.iter().map(run_json).collect::<Vec<_>>(),
            "alerts": alerts,
        }),
    ))
}

/// A page of a list: `limit` (default `default`, at most 1000) and `offset`, or `page`
/// (from 1) and `page_size`.
pub fn paging(query: &str, default: u32) -> Result<(u32, u32), ApiError> {
    if param(query, "page").is_some() || param(query, "page_size").is_some() {
        let size = number(query, "page_size", default)?.clamp(1, MAX_PAGE);
        let page = number(query, "page", 1)?;
        if page == 0 {
            return Err(ApiError::bad("page counts from 1"));
        }
        return Ok((size, (page - 1).saturating_mul(size)));
    }
    Ok((number(query, "limit", default)?.clamp(1, MAX_PAGE), number(query, "offset", 0)?))
}

/// A whole-number parameter (`default` when absent); anything else is a 400.
fn number(query: &str, name: &str, default: u32) -> Result<u32, ApiError> {
    match param(query, name) {
        None => Ok(default),
        Some(v) if v.is_empty() => Ok(default),
        Some(v) => v.parse().map_err(|_| ApiError::bad(format!("{name} must be a whole number"))),
    }
}

/// An RFC 3339 time parameter.
fn time_param(query: &str, name: &str) -> Result<Option<OffsetDateTime>, ApiError> {
    match param(query, name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => OffsetDateTime::parse(&v, &Rfc3339).map(Some).map_err(|_| {
            ApiError::bad(format!("invalid {name}; expected RFC 3339, e.g. 2026-01-02T15:04:05Z"))
        }),
    }
}
