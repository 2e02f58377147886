//! `GET /metrics` (`metrics.*` of huskyd.yaml): the Prometheus text format, version 0.0.4.
//! Run counters, durations, SLA breaches, retries and engine turn times come from the engine
//! thread (a [`Snapshot`] asked through its inbox); the store's queue depth and the log lines
//! it had to drop while the database could not be written come from the store writer's side.
//! Served on its own listener (`metrics.addr`), or on the API's when the addresses are equal;
//! `metrics.auth` decides whether it needs the API's credentials.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::Context;
use super::routes::ApiError;
use crate::engine::actor::EngineMsg;
use crate::engine::metrics::{Histogram, Snapshot};

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether `/metrics` is served on the API's own listener (rather than one of its own).
pub fn on_api_listener(ctx: &Context) -> bool {
    let m = &ctx.daemon.metrics;
    m.enabled && (m.addr.trim().is_empty() || m.addr == ctx.daemon.api.addr)
}

/// The page.
pub fn render(ctx: &Context) -> Result<String, ApiError> {
    let (reply, rx) = crossbeam_channel::bounded(1);
    ctx.inbox
        .send(EngineMsg::Metrics { reply })
        .map_err(|_| ApiError::unavailable("the engine has stopped"))?;
    let snap = rx
        .recv_timeout(super::ENGINE_TIMEOUT)
        .map_err(|_| ApiError::unavailable("the engine did not answer in time"))?;
    let uptime = (ctx.clock.now_utc() - ctx.started_at).as_seconds_f64().max(0.0);
    let queue = ctx.store.as_ref().map_or(0, |s| s.commands().len() + s.logs().len());
    let extra = Extra {
        uptime,
        queue,
        dropped: ctx.dropped_lines.load(Ordering::Relaxed),
        store_ok: ctx.store_down.lock().map(|d| d.is_none()).unwrap_or(false),
        streams: ctx.streams.load(Ordering::Relaxed),
        websockets: ctx.websockets.load(Ordering::Relaxed),
    };
    Ok(format(&snap, &extra))
}

/// What the API side adds to the engine's snapshot.
#[derive(Debug, Clone, Copy)]
struct Extra {
    uptime: f64,
    queue: usize,
    dropped: u64,
    store_ok: bool,
    streams: usize,
    websockets: usize,
}

fn format(s: &Snapshot, x: &Extra) -> String {
    let mut out = String::new();
    let o = &mut out;
    head(
        o,
        "husky_job_runs_total",
        "counter",
        "Runs that reached a status, by job, status and trigger.",
    );
    for ((job, status, trigger), n) in &s.runs {
        let _ = writeln!(
            o,
            "husky_job_runs_total{{job=\"{}\",status=\"{status}\",trigger=\"{trigger}\"}} {n}",
            label(job)
        );
    }
    head(o, "husky_job_duration_seconds", "histogram", "How long runs took, by job.");
    for (job, h) in &s.durations {
        histogram(o, "husky_job_duration_seconds", &format!("job=\"{}\"", label(job)), h);
    }
    head(o, "husky_job_sla_breaches_total", "counter", "Runs that ran past their SLA, by job.");
    for (job, n) in &s.sla_breaches {
        let _ = writeln!(o, "husky_job_sla_breaches_total{{job=\"{}\"}} {n}", label(job));
    }
    head(o, "husky_job_retries_total", "counter", "Retry attempts started, by job.");
    for (job, n) in &s.retries {
        let _ = writeln!(o, "husky_job_retries_total{{job=\"{}\"}} {n}", label(job));
    }
    head(
        o,
        "husky_scheduler_tick_duration_seconds",
        "histogram",
        "How long each turn of the engine took.",
    );
    histogram(o, "husky_scheduler_tick_duration_seconds", "", &s.tick);
    gauge(o, "husky_running_jobs", "Runs executing now.", s.running as f64);
    gauge(o, "husky_daemon_uptime_seconds", "Seconds since the daemon started.", x.uptime);
    gauge(
        o,
        "husky_engine_pending_store_changes",
        "State changes the engine holds for the store writer.",
        s.outbox as f64,
    );
    gauge(
        o,
        "husky_store_queue_depth",
        "Commands and log batches queued for the store writer.",
        x.queue as f64,
    );
    gauge(
        o,
        "husky_store_up",
        "1 when the database can be written, 0 while it cannot.",
        if x.store_ok { 1.0 } else { 0.0 },
    );
    head(
        o,
        "husky_store_dropped_log_lines_total",
        "counter",
        "Log lines dropped because the database could not be written for too long.",
    );
    let _ = writeln!(o, "husky_store_dropped_log_lines_total {}", x.dropped);
    gauge(o, "husky_api_streams", "Server-sent event streams open now.", x.streams as f64);
    gauge(o, "husky_api_websockets", "WebSockets open now.", x.websockets as f64);
    out
}

fn head(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn gauge(o: &mut String, name: &str, help: &str, v: f64) {
    head(o, name, "gauge", help);
    let _ = writeln!(o, "{name} {v}");
}

fn histogram(o: &mut String, name: &str, labels: &str, h: &Histogram) {
    let sep = if labels.is_empty() { "" } else { "," };
    for (bound, n) in h.cumulative() {
        let _ = writeln!(o, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {n}");
    }
    let _ = writeln!(o, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", h.count);
    let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
    let _ = writeln!(o, "{name}_sum{braces} {}", h.sum);
    let _ = writeln!(o, "{name}_count{braces} {}", h.count);
}

/// A label value with `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::metrics::{DURATION_BUCKETS, TICK_BUCKETS};

    #[test]
    fn the_text_format_has_help_type_labels_and_cumulative_buckets() {
        let mut d = Histogram::new(DURATION_BUCKETS);
        d.observe(0.05);
        d.observe(2.0);
        let snap = Snapshot {
            runs: [(("e\"tl".to_owned(), "SUCCESS", "manual"), 3)].into(),
            durations: [("etl".to_owned(), d)].into(),
            sla_breaches: [("etl".to_owned(), 1)].into(),
            retries: Default::default(),
            tick: Histogram::new(TICK_BUCKETS),
            running: 2,
            outbox: 0,
        };
        let x =
            Extra { uptime: 12.5, queue: 4, dropped: 7, store_ok: true, streams: 1, websockets: 2 };
        let text = format(&snap, &x);
        for line in [
            "# TYPE husky_job_runs_total counter",
            "husky_job_runs_total{job=\"e\\\"tl\",status=\"SUCCESS\",trigger=\"manual\"} 3",
            "husky_job_duration_seconds_bucket{job=\"etl\",le=\"0.1\"} 1",
            "husky_job_duration_seconds_bucket{job=\"etl\",le=\"5\"} 2",
            "husky_job_duration_seconds_bucket{job=\"etl\",le=\"+Inf\"} 2",
            "husky_job_duration_seconds_sum{job=\"etl\"} 2.05",
            "husky_job_sla_breaches_total{job=\"etl\"} 1",
            "husky_scheduler_tick_duration_seconds_count 0",
            "husky_running_jobs 2",
            "husky_daemon_uptime_seconds 12.5",
            "husky_store_queue_depth 4",
            "husky_store_dropped_log_lines_total 7",
            "husky_api_websockets 2",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing from\n{text}");
        }
    }
}
