//! `husky run` and `husky retry`: trigger runs through the daemon and, with `--wait`, wait
//! until each run's whole cycle (the `after:` pipeline it starts) is over; `--follow` streams
//! the logs meanwhile. Exit 0 when every job of it succeeded, 1 when one failed, 3 when one was
//! skipped or cancelled.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::Duration;

use argh::FromArgs;
use serde_json::{Value, json};

use super::control::one_of;
use super::remote::{Targeted, escape, failed, job_path};
use super::{CliError, CliResult};
use crate::client::{Client, ClientError};
use crate::clock::{Clock, SystemClock};

super::remote::targeted! {
#[derive(FromArgs, Debug)]
/// Run a job now (or every job matching --tag). With --wait, wait until the run and the
/// after: pipeline it starts have ended: exit 0 if all succeeded, 1 if one failed, 3 if one
/// was skipped or cancelled.
#[argh(subcommand, name = "run")]
pub struct RunCmd {
    /// the job
    #[argh(positional)]
    job: Option<String>,
    /// run every job matching this tag selector (etl, etl,prod, prod,!staging)
    #[argh(option)]
    tag: Option<String>,
    /// why (recorded with the run; at most 500 characters)
    #[argh(option, short = 'r')]
    reason: Option<String>,
    /// wait until the run and its pipeline have ended
    #[argh(switch)]
    wait: bool,
    /// stream the logs while waiting (implies --wait)
    #[argh(switch)]
    follow: bool,
}
}

super::remote::targeted! {
#[derive(FromArgs, Debug)]
/// Run a job's last FAILED run again, as the next attempt of its cycle (its after: pipeline
/// continues from there). Refused when the last run did not fail or one is in progress.
#[argh(subcommand, name = "retry")]
pub struct RetryCmd {
    /// the job
    #[argh(positional)]
    job: String,
    /// why (default: "retry of run N")
    #[argh(option, short = 'r')]
    reason: Option<String>,
    /// wait until the run and its pipeline have ended
    #[argh(switch)]
    wait: bool,
    /// stream the logs while waiting (implies --wait)
    #[argh(switch)]
    follow: bool,
}
}

/// A run a command created: its job, id and status (PENDING or SKIPPED).
type Created = (String, i64, String);

fn check_reason(reason: Option<&String>) -> Result<(), CliError> {
    let max = crate::api::routes::MAX_REASON;
    match reason {
        Some(r) if r.chars().count() > max => {
            Err(CliError::Usage(format!("--reason is longer than {max} characters")))
        }
        _ => Ok(()),
    }
}

pub fn run(cmd: &RunCmd) -> CliResult {
    one_of(cmd.job.as_ref(), cmd.tag.as_ref())?;
    check_reason(cmd.reason.as_ref())?;
    let c = cmd.client();
    let body = json!({ "reason": cmd.reason });
    let jobs: Vec<String> = match (&cmd.job, &cmd.tag) {
        (Some(job), _) => vec![job.clone()],
        (None, Some(tag)) => {
            let list = c.get(&format!("/api/jobs?tag={}", escape(tag))).map_err(failed)?;
            let names: Vec<String> = list
                .as_array()
                .map(|l| l.iter().filter_map(|j| j["name"].as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            if names.is_empty() {
                return Err(CliError::Failed(format!("no job matches the tag selector {tag:?}")));
            }
            names
        }
        (None, None) => Vec::new(),
    };
    let mut created = Vec::new();
    for job in &jobs {
        let answer = c.post(&job_path(job, "run"), &body).map_err(failed)?;
        created.extend(report(job, &answer, "triggered"));
    }
    finish(&c, created, cmd.wait || cmd.follow, cmd.follow)
}

pub fn retry(cmd: &RetryCmd) -> CliResult {
    check_reason(cmd.reason.as_ref())?;
    let c = cmd.client();
    let answer =
        c.post(&job_path(&cmd.job, "retry"), &json!({ "reason": cmd.reason })).map_err(failed)?;
    let created = report(&cmd.job, &answer, "retrying");
    finish(&c, created, cmd.wait || cmd.follow, cmd.follow)
}

/// Prints what a run request created.
fn report(job: &str, answer: &Value, verb: &str) -> Vec<Created> {
    let mut created = Vec::new();
    for r in answer["runs"].as_array().into_iter().flatten() {
        let (id, status) = (r["run_id"].as_i64().unwrap_or(0), r["status"].as_str().unwrap_or(""));
        match r["reason"].as_str() {
            Some(why) if status == "SKIPPED" => println!("{job}: run {id} SKIPPED: {why}"),
            _ => println!("{job}: run {id} {verb}"),
        }
        created.push((job.to_owned(), id, status.to_owned()));
    }
    created
}

/// Without `wait`, done; else waits for every created run's cycle and sums the outcome up.
fn finish(c: &Client, created: Vec<Created>, wait: bool, follow: bool) -> CliResult {
    if !wait {
        return Ok(());
    }
    let mut ends: Vec<(String, i64, String)> = Vec::new();
    let mut followers = Vec::new();
    let mut seen_cycles = BTreeSet::new();
    for (job, id, status) in created {
        if status == "SKIPPED" {
            ends.push((job, id, status));
            continue;
        }
        let cycle = cycle_of(c, id)?;
        if !seen_cycles.insert(cycle.clone()) {
            continue;
        }
        let latest = wait_cycle(c, &cycle, follow, &mut followers)?;
        ends.extend(latest.into_iter().map(|(job, (id, status))| (job, id, status)));
    }
    // The logs first (each follower ends with its run), then the outcome.
    for f in followers {
        let _ = f.join();
    }
    let mut outcome = Outcome::default();
    for (job, id, status) in &ends {
        outcome.add(job, *id, status);
    }
    outcome.exit()
}

/// The cycle of a run (its row may take a moment to be committed).
fn cycle_of(c: &Client, id: i64) -> Result<String, CliError> {
    let visible_by = SystemClock.monotonic() + Duration::from_secs(30);
    loop {
        match c.get(&format!("/api/runs/{id}")) {
            Ok(run) => {
                return run["cycle_id"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| CliError::Failed(format!("run {id} has no cycle")));
            }
            Err(ClientError::Refused { status: 404, .. })
                if SystemClock.monotonic() < visible_by =>
            {
                pause(Duration::from_millis(20));
            }
            Err(e) => return Err(failed(e)),
        }
    }
}

/// Waits until the engine has closed the cycle and every run of it has a final row; returns
/// each job's latest run. With `follow`, a thread streams the log of each run as it appears.
fn wait_cycle(
    c: &Client,
    cycle: &str,
    follow: bool,
    followers: &mut Vec<std::thread::JoinHandle<()>>,
) -> Result<BTreeMap<String, (i64, String)>, CliError> {
    let mut followed = BTreeSet::new();
    let mut pipeline: Option<bool> = None;
    loop {
        let answer = c.get(&format!("/api/cycles/{}", escape(cycle))).map_err(failed)?;
        let runs = answer["runs"].as_array().cloned().unwrap_or_default();
        if follow {
            let jobs: BTreeSet<&str> = runs.iter().filter_map(|r| r["job_name"].as_str()).collect();
            if pipeline.is_none() && !runs.is_empty() {
                pipeline = Some(has_children(c, &runs));
            }
            let prefix = jobs.len() > 1 || pipeline == Some(true);
            for r in &runs {
                let (Some(id), Some(job)) = (r["id"].as_i64(), r["job_name"].as_str()) else {
                    continue;
                };
                if followed.insert(id) && r["status"] != "SKIPPED" {
                    let prefix = prefix.then(|| format!("[{job}] "));
                    let c = c.clone();
                    followers
                        .push(std::thread::spawn(move || follow_run(&c, id, prefix.as_deref())));
                }
            }
        }
        let unfinished =
            runs.iter().any(|r| matches!(r["status"].as_str(), Some("PENDING" | "RUNNING")));
        if answer["open"].as_bool() == Some(false) && !unfinished {
            let mut latest: BTreeMap<String, (i64, String)> = BTreeMap::new();
            for r in &runs {
                let (Some(id), Some(job)) = (r["id"].as_i64(), r["job_name"].as_str()) else {
                    continue;
                };
                let status = r["status"].as_str().unwrap_or("").to_owned();
                if latest.get(job).is_none_or(|(seen, _)| *seen < id) {
                    latest.insert(job.to_owned(), (id, status));
                }
            }
            return Ok(latest);
        }
        pause(Duration::from_millis(100));
    }
}

/// Whether the first run's job starts an `after:` pipeline (its lines get a prefix then).
fn has_children(c: &Client, runs: &[Value]) -> bool {
    let Some(job) = runs.first().and_then(|r| r["job_name"].as_str()) else { return false };
    c.get(&format!("/api/jobs/{}?runs=0", escape(job)))
        .ok()
        .and_then(|j| j["children"].as_array().map(|c| !c.is_empty()))
        .unwrap_or(false)
}

/// Prints a run's log as it is written, until the run ends.
pub fn follow_run(c: &Client, id: i64, prefix: Option<&str>) {
    let result = c.events(&format!("/api/runs/{id}/logs/stream"), |event, data, _| {
        if event == "line"
            && let Ok(v) = serde_json::from_str::<Value>(data)
        {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}{}", prefix.unwrap_or(""), v["line"].as_str().unwrap_or(""));
        }
        event != "end"
    });
    if let Err(e) = result {
        eprintln!("warning: the log of run {id} could not be followed: {e}");
    }
}

/// What the runs of a `--wait` came to.
#[derive(Debug, Default)]
struct Outcome {
    failed: bool,
    not_done: bool,
}

impl Outcome {
    fn add(&mut self, job: &str, id: i64, status: &str) {
        println!("{job}: run {id} {status}");
        match status {
            "SUCCESS" => {}
            "FAILED" => self.failed = true,
            _ => self.not_done = true,
        }
    }

    fn exit(&self) -> CliResult {
        if self.failed {
            Err(CliError::Failed(String::new()))
        } else if self.not_done {
            Err(CliError::NotDone(String::new()))
        } else {
            Ok(())
        }
    }
}

fn pause(d: Duration) {
    let _ = crossbeam_channel::after(d).recv();
}
