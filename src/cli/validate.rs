//! `husky validate`: checks husky.yaml (and the huskyd.yaml beside it) without starting anything.

use std::path::PathBuf;

use argh::FromArgs;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::output::ReportFormat;
use super::{CliError, CliResult, config_path};
use crate::clock::{Clock, SystemClock};
use crate::config::{self, Config, Diagnostic, Severity};
use crate::schedule::{self, Note};

#[derive(FromArgs, Debug)]
/// Check husky.yaml and the huskyd.yaml beside it; report every problem with file, line and
/// column. Exit status: 0 valid (warnings allowed), 1 invalid, 2 usage error.
#[argh(subcommand, name = "validate")]
pub struct ValidateCmd {
    /// the husky.yaml to check (default: $HUSKY_CONFIG, else ./husky.yaml)
    #[argh(option, short = 'c')]
    config: Option<PathBuf>,
    /// the huskyd.yaml to check (default: huskyd.yaml beside husky.yaml, when present)
    #[argh(option)]
    daemon_config: Option<PathBuf>,
    /// treat warnings as errors (unset ${env:} variables, ignored fields, ...)
    #[argh(switch)]
    strict: bool,
    /// output format: text or json
    #[argh(option, default = "ReportFormat::Text")]
    format: ReportFormat,
}

/// The diagnostics of one file and whether it was checked.
struct FileReport {
    path: PathBuf,
    diagnostics: Vec<Diagnostic>,
}

pub fn run(cmd: &ValidateCmd) -> CliResult {
    let husky_path = config_path(cmd.config.as_ref());
    let loaded = config::load_husky(&husky_path);
    let mut diagnostics = loaded.diagnostics;
    if let Some(config) = &loaded.value {
        diagnostics.extend(dst_warnings(config, &husky_path, SystemClock.now_utc()));
        diagnostics.sort_by_key(|d| d.pos.map(|p| (p.line, p.column)));
    }
    let mut reports = vec![FileReport { diagnostics, path: husky_path.clone() }];
    if let Some(path) = config::daemon_config_path(cmd.daemon_config.as_deref(), &husky_path) {
        reports.push(FileReport { diagnostics: config::load_daemon(&path).diagnostics, path });
    }
    if cmd.strict {
        for d in reports.iter_mut().flat_map(|r| r.diagnostics.iter_mut()) {
            d.severity = Severity::Error;
        }
    }
    let valid = reports.iter().all(|r| r.diagnostics.iter().all(|d| d.severity != Severity::Error));
    match cmd.format {
        ReportFormat::Text => print_text(&reports),
        ReportFormat::Json => print_json(&reports, valid),
    }
    if valid { Ok(()) } else { Err(CliError::Failed(String::new())) }
}

/// Warnings for calendar jobs whose time falls in a DST gap or overlap in the year after `now`,
/// naming the local dates.
fn dst_warnings(config: &Config, path: &std::path::Path, now: OffsetDateTime) -> Vec<Diagnostic> {
    let until = now + time::Duration::days(366);
    let mut out = Vec::new();
    for job in &config.jobs {
        let Some(time) = job.time else { continue };
        let zone = schedule::job_zone(job.timezone.as_deref());
        let fires = schedule::calendar_dst_fires(&job.frequency, job.time, zone, now, until);
        // The local dates with `want`, and when the last of them really runs (`03:30 EDT`).
        let affected = |want: Note| -> Option<(String, String)> {
            let local: Vec<(OffsetDateTime, String)> = fires
                .iter()
                .filter(|f| f.note == Some(want))
                .map(|f| schedule::local(zone, f.at))
                .collect();
            let (last, abbrev) = local.last()?;
            let runs_at = format!("{:02}:{:02} {abbrev}", last.hour(), last.minute());
            let dates: Vec<String> = local.iter().map(|(at, _)| at.date().to_string()).collect();
            Some((list(&dates), runs_at))
        };
        let hhmm = format!("{:02}:{:02}", time.hour, time.minute);
        let zone_name = zone.name();
        let mut parts = Vec::new();
        if let Some((dates, runs_at)) = affected(Note::DstGapShifted) {
            parts.push(format!(
                "does not exist in {zone_name} on {dates} (DST gap); it runs shifted forward by \
                 the gap, at {runs_at}"
            ));
        }
        if let Some((dates, runs_at)) = affected(Note::DstOverlapFirst) {
            parts.push(format!(
                "occurs twice in {zone_name} on {dates} (DST overlap); it runs once, at the \
                 first occurrence ({runs_at})"
            ));
        }
        if parts.is_empty() {
            continue;
        }
        out.push(Diagnostic {
            severity: Severity::Warning,
            file: path.to_path_buf(),
            pos: Some(job.pos),
            job: Some(job.name.clone()),
            field: "time".into(),
            message: format!("{hhmm} {}", parts.join("; and it ")),
            hint: Some(
                "this is husky's DST rule for calendar frequencies (husky.yaml(5)); pick a time \
                 outside the zone's change window to avoid it"
                    .into(),
            ),
        });
    }
    out
}

/// `a`, `a and b`, `a, b and c`, at most six then `and N more`.
fn list(items: &[String]) -> String {
    const SHOWN: usize = 6;
    let (shown, rest) = items.split_at(items.len().min(SHOWN));
    let mut text = match shown {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] if rest.is_empty() => format!("{} and {last}", init.join(", ")),
        all => all.join(", "),
    };
    if !rest.is_empty() {
        text.push_str(&format!(" and {} more", rest.len()));
    }
    text
}

fn print_text(reports: &[FileReport]) {
    for r in reports {
        for d in &r.diagnostics {
            println!("{d}");
        }
        let errors = r.diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
        let warnings = r.diagnostics.len() - errors;
        let name = r.path.display();
        if errors == 0 {
            match warnings {
                0 => println!("✓ {name} is valid"),
                n => println!("✓ {name} is valid ({n} warning{})", plural(n)),
            }
        } else {
            let w = if warnings > 0 {
                format!(", {warnings} warning{}", plural(warnings))
            } else {
                String::new()
            };
            println!("✗ {name}: {errors} error{}{w}", plural(errors));
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn print_json(reports: &[FileReport], valid: bool) {
    let all = || reports.iter().flat_map(|r| r.diagnostics.iter());
    let pick = |sev: Severity| -> Vec<Value> {
        all().filter(|d| d.severity == sev).map(Diagnostic::json).collect()
    };
    let doc = json!({
        "valid": valid,
        "errors": pick(Severity::Error),
        "warnings": pick(Severity::Warning),
    });
    println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
}
