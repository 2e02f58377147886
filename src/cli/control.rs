//! The operator commands that talk to a running daemon through its API: `start`, `stop`,
//! `status`, `run`, `reload`, `pause`, `resume`, `skip`, `cancel`. A daemon that does not
//! answer is exit code 4, with a hint.

use std::path::{Path, PathBuf};
use std::time::Duration;

use argh::FromArgs;
use serde_json::{Value, json};

use super::output::{Format, Table};
use super::remote::{Targeted, escape, failed, job_path};
use super::{CliError, CliResult, config_path};
use crate::client::{Client, ClientError};
use crate::clock::{Clock, SystemClock};
use crate::daemon::data_dir;

super::remote::targeted! {
#[derive(FromArgs, Debug)]
/// Start the daemon in the background and wait until its API answers; its log goes to
/// huskyd.log in the data directory. Already running: says so and succeeds.
#[argh(subcommand, name = "start")]
pub struct StartCmd {
    /// the huskyd.yaml (default: huskyd.yaml beside husky.yaml, if any)
    #[argh(option)]
    daemon_config: Option<PathBuf>,
}
}

super::remote::targeted! {
#[derive(FromArgs, Debug)]
/// Stop the daemon: running jobs get scheduler.shutdown_timeout to finish (--force stops
/// them at once); waits until the daemon has exited.
#[argh(subcommand, name = "stop")]
pub struct StopCmd {
    /// stop running jobs now
    #[argh(switch)]
    force: bool,
    /// after this long (e.g. 30s, 5m), stop the jobs still running as --force does
    #[argh(option)]
    timeout: Option<String>,
}
}

super::remote::targeted! {
#[derive(FromArgs, Debug)]
/// Show the daemon's health and every job: next run, paused, runs in progress.
#[argh(subcommand, name = "status")]
pub struct StatusCmd {
    /// only jobs matching this tag selector (etl, etl,prod, prod,!staging)
    #[argh(option)]
    tag: Option<String>,
    /// output format: table, json, ndjson, csv or tsv
    #[argh(option, default = "Format::Text")]
    format: Format,
}
}

super::remote::targeted! {
#[derive(FromArgs, Debug)]
/// Reload husky.yaml; an invalid file is reported and the configuration in force stays.
#[argh(subcommand, name = "reload")]
pub struct ReloadCmd {}
}

super::remote::targeted! {
#[derive(FromArgs, Debug)]
/// Pause a job (or every job with --tag): its schedule stops firing until resumed.
#[argh(subcommand, name = "pause")]
pub struct PauseCmd {
    /// the job
    #[argh(positional)]
    job: Option<String>,
    /// every job matching this tag selector
    #[argh(option)]
    tag: Option<String>,
}
}

super::remote::targeted! {
#[derive(FromArgs, Debug)]
/// Resume a paused job (or every job with --tag).
#[argh(subcommand, name = "resume")]
pub struct ResumeCmd {
    /// the job
    #[argh(positional)]
    job: Option<String>,
    /// every job matching this tag selector
    #[argh(option)]
    tag: Option<String>,
}
}

super::remote::targeted! {
#[derive(FromArgs, Debug)]
/// Skip a job's pending runs, or if it has none, its next scheduled run.
#[argh(subcommand, name = "skip")]
pub struct SkipCmd {
    /// the job
    #[argh(positional)]
    job: String,
}
}

super::remote::targeted! {
#[derive(FromArgs, Debug)]
/// Cancel a job's runs in progress (or one run with --run).
#[argh(subcommand, name = "cancel")]
pub struct CancelCmd {
    /// the job
    #[argh(positional)]
    job: Option<String>,
    /// one run, by id
    #[argh(option)]
    run: Option<i64>,
}
}

fn message(v: &Value) -> &str {
    v["message"].as_str().unwrap_or("done")
}

pub(super) fn one_of(job: Option<&String>, tag: Option<&String>) -> Result<(), CliError> {
    match (job, tag) {
        (Some(_), Some(_)) => Err(CliError::Usage("give a job or --tag, not both".into())),
        (None, None) => Err(CliError::Usage("give a job name or --tag TAG".into())),
        _ => Ok(()),
    }
}

pub fn status(cmd: &StatusCmd) -> CliResult {
    let c = cmd.client();
    let daemon = c.get("/api/status").map_err(failed)?;
    let path = match &cmd.tag {
        Some(t) => format!("/api/jobs?tag={}", escape(t)),
        None => "/api/jobs".into(),
    };
    let jobs = c.get(&path).map_err(failed)?;
    let list = jobs.as_array().cloned().unwrap_or_default();
    let mut table =
        Table { columns: vec!["name", "next_run", "paused", "running", "tags"], rows: Vec::new() };
    for j in &list {
        let running: Vec<String> = j["runs"]
            .as_array()
            .map(|runs| {
                runs.iter()
                    .map(|r| format!("{} {}", r["id"], r["status"].as_str().unwrap_or("")))
                    .collect()
            })
            .unwrap_or_default();
        table.rows.push(vec![
            j["name"].clone(),
            j["next_run"].clone(),
            j["paused"].clone(),
            json!(running.join(", ")),
            j["tags"].clone(),
        ]);
    }
    if cmd.format == Format::Text {
        println!(
            "daemon: running (pid {}, version {}, up {} s), {} jobs, {} paused, {} runs in progress",
            daemon["pid"],
            daemon["version"].as_str().unwrap_or("?"),
            daemon["uptime_s"],
            daemon["jobs"],
            daemon["paused_jobs"],
            daemon["running_runs"]
        );
    }
    print!("{}", table.render(cmd.format));
    Ok(())
}

pub fn reload(cmd: &ReloadCmd) -> CliResult {
    let answer = cmd.client().post("/api/daemon/reload", &json!({})).map_err(failed)?;
    if answer["ok"].as_bool() == Some(true) {
        println!("{}", message(&answer));
        return Ok(());
    }
    for e in answer["errors"].as_array().into_iter().flatten() {
        eprintln!("{}", e.as_str().unwrap_or_default());
    }
    Err(CliError::Failed("reload rejected: the configuration in force stays".into()))
}

fn toggle(client: &Client, job: Option<&String>, tag: Option<&String>, paused: bool) -> CliResult {
    one_of(job, tag)?;
    let action = if paused { "pause" } else { "resume" };
    let path = match (job, tag) {
        (Some(job), _) => job_path(job, action),
        (None, Some(tag)) => format!("/api/jobs/{action}?tag={}", escape(tag)),
        (None, None) => return Ok(()),
    };
    let answer = client.post(&path, &json!({})).map_err(failed)?;
    println!("{}", message(&answer));
    Ok(())
}

pub fn pause(cmd: &PauseCmd, paused: bool) -> CliResult {
    toggle(&cmd.client(), cmd.job.as_ref(), cmd.tag.as_ref(), paused)
}

pub fn resume(cmd: &ResumeCmd) -> CliResult {
    toggle(&cmd.client(), cmd.job.as_ref(), cmd.tag.as_ref(), false)
}

pub fn skip(cmd: &SkipCmd) -> CliResult {
    let answer = cmd.client().post(&job_path(&cmd.job, "skip"), &json!({})).map_err(failed)?;
    println!("{}", message(&answer));
    Ok(())
}

pub fn cancel(cmd: &CancelCmd) -> CliResult {
    let c = cmd.client();
    let answer = match (&cmd.job, cmd.run) {
        (Some(_), Some(_)) => return Err(CliError::Usage("give a job or --run, not both".into())),
        (None, None) => return Err(CliError::Usage("give a job name or --run ID".into())),
        (None, Some(id)) => c.post(&format!("/api/runs/{id}/cancel"), &json!({})),
        (Some(job), None) => c.post(&job_path(job, "cancel"), &json!({})),
    }
    .map_err(failed)?;
    match answer["cancelled"].as_array() {
        Some(ids) => {
            let ids: Vec<String> = ids.iter().map(Value::to_string).collect();
            println!("cancelling run(s) {}", ids.join(", "));
        }
        None => println!("{}", message(&answer)),
    }
    Ok(())
}

pub fn stop(cmd: &StopCmd) -> CliResult {
    let limit = match &cmd.timeout {
        Some(t) => Some(
            crate::config::parse_duration(t)
                .ok()
                .and_then(|d| Duration::try_from(d).ok())
                .ok_or_else(|| {
                    CliError::Usage(format!("--timeout {t:?} is not a duration (e.g. 30s)"))
                })?,
        ),
        None => None,
    };
    let c = cmd.client();
    let pid = c.get("/api/status").map_err(failed)?["pid"].as_u64();
    let path = if cmd.force { "/api/daemon/stop?force=true" } else { "/api/daemon/stop" };
    let answer = c.post(path, &json!({})).map_err(failed)?;
    println!("{}", message(&answer));
    let mut deadline = limit.map(|d| SystemClock.monotonic() + d);
    // Done when the daemon no longer answers.
    loop {
        match c.get("/api/status") {
            Err(ClientError::NotRunning(_)) => break,
            Ok(v) if v["pid"].as_u64() != pid => break,
            _ => {}
        }
        if deadline.is_some_and(|d| SystemClock.monotonic() >= d) {
            deadline = None;
            println!(
                "still running after {}: stopping its jobs now",
                cmd.timeout.as_deref().unwrap_or("")
            );
            let _ = c.post("/api/daemon/stop?force=true", &json!({}));
        }
        let _ = crossbeam_channel::after(Duration::from_millis(50)).recv();
    }
    // The API closes before the last threads are joined: a local daemon has stopped when its
    // data directory's lock is free (then `husky start` can follow at once).
    if let Some(data) = c.data_dir() {
        let give_up = SystemClock.monotonic() + Duration::from_secs(60);
        while crate::daemon::is_locked(data) {
            if SystemClock.monotonic() >= give_up {
                return Err(CliError::Failed(format!(
                    "the daemon closed its API but still holds {} after 60 s (pid {})",
                    data.join("husky.pid").display(),
                    pid.map_or_else(|| "unknown".into(), |p| p.to_string())
                )));
            }
            let _ = crossbeam_channel::after(Duration::from_millis(20)).recv();
        }
    }
    println!("daemon stopped");
    Ok(())
}

pub fn start(cmd: &StartCmd) -> CliResult {
    let c = cmd.client();
    if let Ok(s) = c.get("/api/status") {
        println!("the daemon is already running (pid {})", s["pid"]);
        return Ok(());
    }
    let husky_yaml = config_path(cmd.config.as_ref());
    let husky_yaml = std::path::absolute(&husky_yaml).unwrap_or(husky_yaml);
    let data = data_dir(super::data_flag(cmd.data.as_ref()), &husky_yaml);
    std::fs::create_dir_all(&data)
        .map_err(|e| CliError::Failed(format!("cannot create {}: {e}", data.display())))?;
    let log_path = data.join("huskyd.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| CliError::Failed(format!("cannot open {}: {e}", log_path.display())))?;
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Failed(format!("cannot find the husky binary: {e}")))?;
    let mut daemon = std::process::Command::new(exe);
    daemon.args(["daemon", "run", "-c"]).arg(&husky_yaml).arg("-d").arg(&data);
    if let Some(d) = &cmd.daemon_config {
        daemon.arg("--daemon-config").arg(d);
    }
    let err = log
        .try_clone()
        .map_err(|e| CliError::Failed(format!("cannot open {}: {e}", log_path.display())))?;
    daemon.stdin(std::process::Stdio::null()).stdout(log).stderr(err);
    crate::daemon::detach(&mut daemon);
    let mut child =
        daemon.spawn().map_err(|e| CliError::Failed(format!("cannot start the daemon: {e}")))?;
    let local = Client::local(&data);
    let deadline = SystemClock.monotonic() + Duration::from_secs(30);
    loop {
        if let Ok(s) = local.get("/api/status") {
            println!("daemon started (pid {}); log: {}", s["pid"], log_path.display());
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            eprint!("{}", tail(&log_path, 20));
            return Err(CliError::Failed(format!(
                "the daemon exited during start-up ({status}); its log is {}",
                log_path.display()
            )));
        }
        if SystemClock.monotonic() > deadline {
            return Err(CliError::Failed(format!(
                "the daemon started but its API does not answer yet; see {}",
                log_path.display()
            )));
        }
        let _ = crossbeam_channel::after(Duration::from_millis(20)).recv();
    }
}

/// The last `n` lines of a file.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].iter().map(|l| format!("{l}\n")).collect()
}
