//! `husky next`: preview the next fire times of jobs, offline, from the config file.

use std::path::PathBuf;

use argh::FromArgs;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::output::ReportFormat;
use super::{CliError, CliResult, load_valid_config};
use crate::clock::{Clock, SystemClock};
use crate::config::{Job, suggest};
use crate::schedule::{self, Note};

#[derive(FromArgs, Debug)]
/// Show the next fire times of jobs (all jobs, or the ones named), in local time and UTC, with
/// notes on fires moved or doubled by DST.
#[argh(subcommand, name = "next")]
pub struct NextCmd {
    /// jobs to show (default: all, in file order)
    #[argh(positional)]
    jobs: Vec<String>,
    /// the husky.yaml to read (default: $HUSKY_CONFIG, else ./husky.yaml)
    #[argh(option, short = 'c')]
    config: Option<PathBuf>,
    /// how many fires per job (default 5)
    #[argh(option, default = "5")]
    count: usize,
    /// compute fires after this RFC 3339 instant (default: now)
    #[argh(option)]
    from: Option<String>,
    /// output format: text or json
    #[argh(option, default = "ReportFormat::Text")]
    format: ReportFormat,
}

pub fn run(cmd: &NextCmd) -> CliResult {
    let from = match &cmd.from {
        Some(text) => OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
            CliError::Usage(format!("--from {text:?} is not an RFC 3339 instant: {e}"))
        })?,
        None => SystemClock.now_utc(),
    };
    let config = load_valid_config(cmd.config.as_ref())?;
    let mut jobs: Vec<&Job> = Vec::new();
    for name in &cmd.jobs {
        let job = config.job(name).ok_or_else(|| {
            let hint = suggest(name, config.jobs.iter().map(|j| j.name.as_str()))
                .map_or(String::new(), |s| format!("; did you mean `{s}`?"));
            CliError::Failed(format!("unknown job {name:?}{hint}"))
        })?;
        jobs.push(job);
    }
    if cmd.jobs.is_empty() {
        jobs = config.jobs.iter().collect();
    }
    let report: Vec<Value> = jobs.iter().map(|job| job_fires(job, from, cmd.count)).collect();
    match cmd.format {
        ReportFormat::Json => {
            let wire: Vec<Value> = report.iter().map(wire_shape).collect();
            println!("{}", serde_json::to_string_pretty(&wire).unwrap_or_default());
        }
        ReportFormat::Text => print_text(&report),
    }
    Ok(())
}

pub fn job_fires(job: &Job, from: OffsetDateTime, count: usize) -> Value {
    let tz = schedule::job_zone(job.timezone.as_deref());
    let fires: Vec<Value> = schedule::next_fires(&job.frequency, job.time, tz, from, count)
        .into_iter()
        .map(|f| {
            let (local, abbrev) = schedule::local(tz, f.at);
            json!({
                "at": f.at.format(&Rfc3339).unwrap_or_default(),
                "local": local.format(&Rfc3339).unwrap_or_default(),
                "abbreviation": abbrev,
                "note": f.note.map(Note::as_str),
            })
        })
        .collect();
    json!({
        "job": job.name,
        "timezone": tz.name(),
        "frequency": job.frequency_raw.trim(),
        "fires": fires,
    })
}

/// The documented JSON shape: `{"job","timezone","fires":[{"at","local","note"}]}` only.
pub fn wire_shape(job: &Value) -> Value {
    let fires: Vec<Value> = job["fires"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|f| json!({"at": f["at"], "local": f["local"], "note": f["note"]}))
        .collect();
    json!({"job": job["job"], "timezone": job["timezone"], "fires": fires})
}

fn print_text(report: &[Value]) {
    for (i, job) in report.iter().enumerate() {
        if i > 0 {
            println!();
        }
        let (name, zone, freq) = (&job["job"], &job["timezone"], &job["frequency"]);
        println!(
            "{}  ({}, {})",
            name.as_str().unwrap_or(""),
            freq.as_str().unwrap_or(""),
            zone.as_str().unwrap_or("")
        );
        let fires = job["fires"].as_array().map(Vec::as_slice).unwrap_or_default();
        if fires.is_empty() {
            println!("  never on its own (runs when triggered)");
        }
        for f in fires {
            let local = f["local"].as_str().unwrap_or("").replacen('T', " ", 1);
            let local = local.get(..16).unwrap_or(&local);
            let note = match f["note"].as_str() {
                Some("dst_gap_shifted") => {
                    "  moved forward: the wall time does not exist (DST gap)"
                }
                Some("dst_overlap_first") => "  first of two identical wall times (DST overlap)",
                Some("dst_overlap_second") => "  second of two identical wall times (DST overlap)",
                _ => "",
            };
            println!(
                "  {local} {:<6} {}{note}",
                f["abbreviation"].as_str().unwrap_or(""),
                f["at"].as_str().unwrap_or("")
            );
        }
    }
}
