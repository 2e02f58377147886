//! `husky validate`: checks husky.yaml (and the huskyd.yaml beside it) without starting anything.

use std::path::PathBuf;

use argh::FromArgs;
use serde_json::{Value, json};

use super::output::ReportFormat;
use super::{CliError, CliResult, config_path};
use crate::config::{self, Diagnostic, Severity};

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
    let mut reports = vec![FileReport {
        diagnostics: config::load_husky(&husky_path).diagnostics,
        path: husky_path.clone(),
    }];
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
        all().filter(|d| d.severity == sev).map(diagnostic_json).collect()
    };
    let doc = json!({
        "valid": valid,
        "errors": pick(Severity::Error),
        "warnings": pick(Severity::Warning),
    });
    println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
}

/// The wire shape of one diagnostic.
pub fn diagnostic_json(d: &Diagnostic) -> Value {
    json!({
        "file": d.file.display().to_string(),
        "line": d.pos.map(|p| p.line),
        "column": d.pos.map(|p| p.column),
        "job": d.job,
        "field": d.field,
        "message": d.message,
        "hint": d.hint,
    })
}
