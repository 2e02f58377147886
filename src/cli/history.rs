//! The commands that read what happened, through the daemon's API: `logs`, `history`,
//! `audit`, `export` and `dash`.

use std::collections::BTreeSet;
use std::io::Write;
use std::str::FromStr;
use std::time::Duration;

use argh::FromArgs;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::output::{Format, Table};
use super::remote::{Targeted, escape, failed};
use super::{CliError, CliResult};
use crate::client::Client;
use crate::clock::{Clock, SystemClock};
use crate::config::{format_duration, parse_duration};

super::remote::targeted! {
#[derive(FromArgs, Debug)]
/// Print a run's log: the job's latest run (or --run ID), raw lines that pipe cleanly.
/// --tail (-f) follows it live until it ends; --tag T -f follows every running job matching
/// the selector, each line prefixed with its job, until interrupted.
#[argh(subcommand, name = "logs")]
pub struct LogsCmd {
    /// the job
    #[argh(positional)]
    job: Option<String>,
    /// one run, by id
    #[argh(option)]
    run: Option<i64>,
    /// follow the log live until the run ends
    #[argh(switch, short = 'f')]
    tail: bool,
    /// follow every running job matching this tag selector (with --tail)
    #[argh(option)]
    tag: Option<String>,
    /// include the healthcheck's output
    #[argh(switch)]
    include_healthcheck: bool,
    /// the lines of the job's runs from this long ago on (e.g. 30m, 2h, 1d)
    #[argh(option)]
    since: Option<String>,
    /// prefix each line with its time, run and stream
    #[argh(switch)]
    timestamps: bool,
    /// output format: text, json or ndjson (json and ndjson carry run, stream and time)
    #[argh(option, default = "LineFormat::Text")]
    format: LineFormat,
}
}

/// `--format` of logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFormat {
    /// The raw line text.
    Text,
    /// One JSON array of lines.
    Json,
    /// One JSON object per line.
    Ndjson,
}

impl FromStr for LineFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        super::output::choose(
            s,
            &[
                ("text", LineFormat::Text),
                ("json", LineFormat::Json),
                ("ndjson", LineFormat::Ndjson),
            ],
        )
    }
}

super::remote::targeted! {
#[derive(FromArgs, Debug)]
/// Show a job's latest runs, newest first: status, attempt, trigger, reason, duration against
/// the SLA, exit code, CPU time and peak memory.
#[argh(subcommand, name = "history")]
pub struct HistoryCmd {
    /// the job
    #[argh(positional)]
    job: String,
    /// how many runs (default 20)
    #[argh(option, default = "20")]
    last: u32,
    /// output format: table, json, ndjson, csv or tsv (json: the API's run objects)
    #[argh(option, default = "Format::Text")]
    format: Format,
}
}

super::remote::targeted! {
#[derive(FromArgs, Debug)]
/// Search every run, newest first (at most --limit, default 5000).
#[argh(subcommand, name = "audit")]
pub struct AuditCmd {
    /// only this job
    #[argh(option)]
    job: Option<String>,
    /// only these statuses (comma-separated, e.g. FAILED,CANCELLED)
    #[argh(option)]
    status: Option<String>,
    /// only this trigger: schedule, manual, dependency, retry or catchup
    #[argh(option)]
    trigger: Option<String>,
    /// created at or after: RFC 3339, or a duration ago (24h)
    #[argh(option)]
    since: Option<String>,
    /// created at or before: RFC 3339, or a duration ago
    #[argh(option)]
    until: Option<String>,
    /// the reason contains this (case-insensitive)
    #[argh(option)]
    reason: Option<String>,
    /// only jobs matching this tag selector
    #[argh(option)]
    tag: Option<String>,
    /// at most this many runs (default 5000)
    #[argh(option, default = "5000")]
    limit: u32,
    /// write CSV (id,job,status,trigger,reason,created_at): same as --format csv
    #[argh(option)]
    export: Option<String>,
    /// output format: table, json, ndjson, csv or tsv
    #[argh(option, default = "Format::Text")]
    format: Format,
}
}

super::remote::targeted! {
#[derive(FromArgs, Debug)]
/// Print the daemon's configuration (secrets as ***), every job's state and the newest
/// 1,000 runs and alerts as one JSON document.
#[argh(subcommand, name = "export")]
pub struct ExportCmd {
    /// output format: json (the only one)
    #[argh(option, default = "String::from(\"json\")")]
    format: String,
}
}

super::remote::targeted! {
#[derive(FromArgs, Debug)]
/// Print the dashboard's URL and open it in a browser when one is available.
#[argh(subcommand, name = "dash")]
pub struct DashCmd {
    /// only print the URL
    #[argh(switch)]
    no_open: bool,
}
}

/// How log lines are printed.
#[derive(Debug, Clone, Copy)]
struct Lines {
    format: LineFormat,
    timestamps: bool,
}

impl Lines {
    /// Prints one line (`v` as the API gives it) of `job`'s run, or keeps it for a JSON array.
    fn print(self, job: &str, prefix: Option<&str>, v: &Value, keep: &mut Vec<Value>) {
        let line = v["line"].as_str().unwrap_or("");
        let full = || json!({ "run_id": v["run_id"], "job": job, "seq": v["seq"], "stream": v["stream"], "ts": v["ts"], "line": line });
        let mut out = std::io::stdout().lock();
        let _ = match self.format {
            LineFormat::Json => {
                keep.push(full());
                Ok(())
            }
            LineFormat::Ndjson => writeln!(out, "{}", full()),
            LineFormat::Text if self.timestamps => writeln!(
                out,
                "{}{} [run {} {}] {line}",
                prefix.unwrap_or(""),
                v["ts"].as_str().unwrap_or(""),
                v["run_id"],
                v["stream"].as_str().unwrap_or("")
            ),
            LineFormat::Text => writeln!(out, "{}{line}", prefix.unwrap_or("")),
        };
    }
}

pub fn logs(cmd: &LogsCmd) -> CliResult {
    let lines = Lines { format: cmd.format, timestamps: cmd.timestamps };
    if cmd.tail && cmd.format == LineFormat::Json {
        return Err(CliError::Usage("--tail streams: use --format ndjson, not json".into()));
    }
    let c = cmd.client();
    let hc = if cmd.include_healthcheck { "include_healthcheck=true" } else { "" };
    if let Some(tag) = &cmd.tag {
        if cmd.job.is_some() || !cmd.tail {
            return Err(CliError::Usage(
                "--tag follows running jobs: give --tail (-f) and no job".into(),
            ));
        }
        return follow_tag(&c, tag, lines, hc);
    }
    let mut keep = Vec::new();
    if let Some(since) = &cmd.since {
        let job =
            cmd.job.as_deref().ok_or_else(|| CliError::Usage("--since needs a job".into()))?;
        let cutoff = ago(since)?;
        let path = format!("/api/runs?job={}&since={}&limit=1000", escape(job), escape(&cutoff));
        let (mut runs, _) = c.page(&path).map_err(failed)?;
        runs.reverse();
        for r in &runs {
            let id = r["id"].as_i64().unwrap_or(0);
            for v in all_lines(&c, id, hc)? {
                if v["ts"].as_str().is_some_and(|ts| ts >= cutoff.as_str()) {
                    lines.print(job, None, &v, &mut keep);
                }
            }
        }
        return print_kept(lines, &keep);
    }
    let (job, id) = pick_run(&c, cmd.job.as_deref(), cmd.run)?;
    if cmd.tail {
        let path = format!("/api/runs/{id}/logs/stream?{hc}");
        c.events(&path, |event, data, _| {
            if event == "line"
                && let Ok(mut v) = serde_json::from_str::<Value>(data)
            {
                v["run_id"] = json!(id);
                lines.print(&job, None, &v, &mut Vec::new());
            }
            event != "end"
        })
        .map_err(failed)?;
        return Ok(());
    }
    for v in all_lines(&c, id, hc)? {
        lines.print(&job, None, &v, &mut keep);
    }
    print_kept(lines, &keep)
}

fn print_kept(lines: Lines, keep: &[Value]) -> CliResult {
    if lines.format == LineFormat::Json {
        println!("{}", serde_json::to_string_pretty(keep).unwrap_or_default());
    }
    Ok(())
}

/// The job and run `logs` shows: `--run` (which must be the job's when both are given), else
/// the job's latest run.
fn pick_run(c: &Client, job: Option<&str>, run: Option<i64>) -> Result<(String, i64), CliError> {
    match (job, run) {
        (None, None) => Err(CliError::Usage("give a job, --run ID, or --tag T --tail".into())),
        (_, Some(id)) => {
            let r = c.get(&format!("/api/runs/{id}")).map_err(failed)?;
            let owner = r["job_name"].as_str().unwrap_or("").to_owned();
            if let Some(job) = job
                && job != owner
            {
                return Err(CliError::Failed(format!(
                    "run {id} is a run of {owner}, not of {job}"
                )));
            }
            Ok((owner, id))
        }
        (Some(job), None) => {
            let j = c.get(&format!("/api/jobs/{}?runs=1", escape(job))).map_err(failed)?;
            let id = j["runs"][0]["id"]
                .as_i64()
                .ok_or_else(|| CliError::Failed(format!("no runs found for job {job:?}")))?;
            Ok((job.to_owned(), id))
        }
    }
}

/// Every line of a run, page by page.
fn all_lines(c: &Client, id: i64, hc: &str) -> Result<Vec<Value>, CliError> {
    let mut out = Vec::new();
    loop {
        let path = format!("/api/runs/{id}/logs?limit=1000&offset={}&{hc}", out.len());
        let (items, total) = c.page(&path).map_err(failed)?;
        let done = items.is_empty();
        out.extend(items);
        if done || out.len() as u64 >= total {
            return Ok(out);
        }
    }
}

/// Follows every run of the jobs matching `tag` as it starts, until interrupted.
fn follow_tag(c: &Client, tag: &str, lines: Lines, hc: &str) -> CliResult {
    let mut followed = BTreeSet::new();
    let path = format!("/api/jobs?tag={}", escape(tag));
    let first = c.get(&path).map_err(failed)?;
    if first.as_array().is_none_or(Vec::is_empty) {
        return Err(CliError::Failed(format!("no job matches the tag selector {tag:?}")));
    }
    loop {
        let jobs = c.get(&path).map_err(failed)?;
        for j in jobs.as_array().into_iter().flatten() {
            let job = j["name"].as_str().unwrap_or("").to_owned();
            for r in j["runs"].as_array().into_iter().flatten() {
                let Some(id) = r["id"].as_i64() else { continue };
                if r["status"] != "RUNNING" || !followed.insert(id) {
                    continue;
                }
                let (c, job, hc) = (c.clone(), job.clone(), hc.to_owned());
                std::thread::spawn(move || {
                    let prefix = format!("[{job}] ");
                    let _ =
                        c.events(&format!("/api/runs/{id}/logs/stream?{hc}"), |event, data, _| {
                            if event == "line"
                                && let Ok(mut v) = serde_json::from_str::<Value>(data)
                            {
                                v["run_id"] = json!(id);
                                lines.print(&job, Some(&prefix), &v, &mut Vec::new());
                            }
                            event != "end"
                        });
                });
            }
        }
        let _ = crossbeam_channel::after(Duration::from_millis(500)).recv();
    }
}

/// A time bound: RFC 3339 as given, or a duration ago.
fn ago(text: &str) -> Result<String, CliError> {
    if OffsetDateTime::parse(text, &Rfc3339).is_ok() {
        return Ok(text.to_owned());
    }
    let d = parse_duration(text).map_err(|e| {
        CliError::Usage(format!("{text:?} is neither an RFC 3339 time nor a duration: {e}"))
    })?;
    Ok(crate::store::ts(SystemClock.now_utc() - d))
}

pub fn history(cmd: &HistoryCmd) -> CliResult {
    let c = cmd.client();
    let j = c.get(&format!("/api/jobs/{}?runs={}", escape(&cmd.job), cmd.last)).map_err(failed)?;
    let runs = j["runs"].as_array().cloned().unwrap_or_default();
    if cmd.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&runs).unwrap_or_default());
        return Ok(());
    }
    let sla = j["sla"].as_str().and_then(|s| parse_duration(s).ok());
    let mut table = Table {
        columns: vec![
            "id",
            "status",
            "attempt",
            "trigger",
            "started_at",
            "duration_ms",
            "vs_sla",
            "exit_code",
            "cpu_ms",
            "max_rss_kb",
            "reason",
        ],
        rows: Vec::new(),
    };
    for r in &runs {
        let duration = r["duration_ms"].as_i64();
        let vs_sla = match (sla, duration) {
            (Some(sla), Some(ms)) => {
                let over = time::Duration::milliseconds(ms) - sla;
                if over.is_positive() { format!("+{}", format_duration(over)) } else { "ok".into() }
            }
            _ => "-".into(),
        };
        let cpu = match (r["cpu_user_ms"].as_i64(), r["cpu_sys_ms"].as_i64()) {
            (Some(u), Some(s)) => json!(u + s),
            _ => Value::Null,
        };
        let reason = match r["status_reason"].as_str() {
            Some(why) if !why.is_empty() => why.to_owned(),
            _ => r["reason"].as_str().unwrap_or("").to_owned(),
        };
        table.rows.push(vec![
            r["id"].clone(),
            r["status"].clone(),
            r["attempt"].clone(),
            r["trigger"].clone(),
            r["started_at"].clone(),
            r["duration_ms"].clone(),
            json!(vs_sla),
            r["exit_code"].clone(),
            cpu,
            r["max_rss_kb"].clone(),
            json!(reason),
        ]);
    }
    print!("{}", table.render(cmd.format));
    Ok(())
}

pub fn audit(cmd: &AuditCmd) -> CliResult {
    let format = match cmd.export.as_deref() {
        None => cmd.format,
        Some("csv") => Format::Csv,
        Some(other) => {
            return Err(CliError::Usage(format!("--export {other:?}: only csv is supported")));
        }
    };
    let mut query = Vec::new();
    for (name, value) in [
        ("job", cmd.job.clone()),
        ("status", cmd.status.clone()),
        ("trigger", cmd.trigger.clone()),
        ("since", cmd.since.as_deref().map(ago).transpose()?),
        ("until", cmd.until.as_deref().map(ago).transpose()?),
        ("reason", cmd.reason.clone()),
        ("tag", cmd.tag.clone()),
    ] {
        if let Some(v) = value {
            query.push(format!("{name}={}", escape(&v)));
        }
    }
    let c = cmd.client();
    let mut runs: Vec<Value> = Vec::new();
    while (runs.len() as u64) < u64::from(cmd.limit) {
        let page = (cmd.limit as usize - runs.len()).min(1000);
        let path = format!("/api/audit?{}&limit={page}&offset={}", query.join("&"), runs.len());
        let (items, total) = c.page(&path).map_err(failed)?;
        let done = items.is_empty();
        runs.extend(items);
        if done || runs.len() as u64 >= total {
            break;
        }
    }
    let table = Table {
        columns: vec!["id", "job", "status", "trigger", "reason", "created_at"],
        rows: runs
            .iter()
            .map(|r| {
                vec![
                    r["id"].clone(),
                    r["job_name"].clone(),
                    r["status"].clone(),
                    r["trigger"].clone(),
                    r["reason"].clone(),
                    r["created_at"].clone(),
                ]
            })
            .collect(),
    };
    print!("{}", table.render(format));
    Ok(())
}

pub fn export(cmd: &ExportCmd) -> CliResult {
    if cmd.format != "json" {
        return Err(CliError::Usage(format!("--format {:?}: only json is supported", cmd.format)));
    }
    let doc = cmd.client().get("/api/export").map_err(failed)?;
    println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    Ok(())
}

pub fn dash(cmd: &DashCmd) -> CliResult {
    let status = cmd.client().get("/api/status").map_err(failed)?;
    let url = match (&cmd.addr, status["api_url"].as_str()) {
        (Some(addr), _) => addr.trim_end_matches('/').to_owned(),
        (None, Some(url)) => url.to_owned(),
        (None, None) => {
            return Err(CliError::Failed("the daemon has no TCP listener (api.addr)".into()));
        }
    };
    println!("dashboard: {url}/");
    if !cmd.no_open && !open_browser(&format!("{url}/")) {
        eprintln!("(no browser found: open the URL yourself)");
    }
    Ok(())
}

/// Opens `url` with `$BROWSER`, else the desktop's opener when there is a desktop; whether
/// one was started.
fn open_browser(url: &str) -> bool {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let opener: Option<(String, Vec<String>)> = if let Some(b) = env("BROWSER") {
        Some((b.to_string_lossy().into_owned(), vec![url.to_owned()]))
    } else {
        match std::env::consts::OS {
            "macos" => Some(("open".into(), vec![url.to_owned()])),
            "windows" => Some((
                "cmd".into(),
                vec!["/C".into(), "start".into(), String::new(), url.to_owned()],
            )),
            _ if env("DISPLAY").is_some() || env("WAYLAND_DISPLAY").is_some() => {
                Some(("xdg-open".into(), vec![url.to_owned()]))
            }
            _ => None,
        }
    };
    let Some((program, args)) = opener else { return false };
    std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_ok()
}
