//! `husky prune`: apply the retention rules of huskyd.yaml to the database now.

use std::path::PathBuf;

use argh::FromArgs;
use serde_json::json;

use super::output::ReportFormat;
use super::{CliError, CliResult, config_path, daemon_config};
use crate::clock::{Clock, SystemClock};
use crate::config::parse_duration;
use crate::store::retention::{self, Policy};
use crate::store::{self, Pragmas};

#[derive(FromArgs, Debug)]
/// Delete old runs and their logs by the retention rules of huskyd.yaml (storage.retention),
/// and trim logs to the byte budget; print what was removed.
#[argh(subcommand, name = "prune")]
pub struct PruneCmd {
    /// only report what would be removed
    #[argh(switch)]
    dry_run: bool,
    /// remove finished runs older than this (overrides storage.retention.max_age), e.g. 30d
    #[argh(option)]
    older_than: Option<String>,
    /// the husky.yaml whose database to prune (default: $HUSKY_CONFIG, else ./husky.yaml)
    #[argh(option, short = 'c')]
    config: Option<PathBuf>,
    /// the huskyd.yaml with the retention rules (default: huskyd.yaml beside husky.yaml)
    #[argh(option)]
    daemon_config: Option<PathBuf>,
    /// output format: text or json
    #[argh(option, default = "ReportFormat::Text")]
    format: ReportFormat,
}

pub fn run(cmd: &PruneCmd) -> CliResult {
    let older_than = match &cmd.older_than {
        Some(text) => {
            let d = parse_duration(text).map_err(|e| {
                CliError::Usage(format!("--older-than {text:?}: {e} (examples: 12h, 30d, 2w)"))
            })?;
            if !d.is_positive() {
                return Err(CliError::Usage(format!(
                    "--older-than {text:?}: must be greater than zero (examples: 12h, 30d, 2w)"
                )));
            }
            Some(d)
        }
        None => None,
    };
    let husky_path = config_path(cmd.config.as_ref());
    let daemon = daemon_config(cmd.daemon_config.as_deref(), &husky_path)?;
    let storage = &daemon.storage;
    let mut policy = Policy {
        max_age: storage.retention_max_age,
        max_runs_per_job: storage.retention_max_runs_per_job,
        keep_last_failures: storage.retention_keep_last_failures,
        max_total_bytes: storage.retention_max_total_bytes,
    };
    if let Some(d) = older_than {
        policy.max_age = Some(d);
    }
    let db = store::database_path(&husky_path, storage);
    if !db.exists() {
        return Err(CliError::Failed(format!(
            "no database at {} (nothing has run yet, or storage.sqlite.path points elsewhere)",
            db.display()
        )));
    }
    // A dry run only reads: it neither migrates nor changes the journal mode.
    let opened = if cmd.dry_run {
        store::open_reader(&db, Pragmas::of(storage))
    } else {
        store::open_writer(&db, Pragmas::of(storage))
    };
    let mut conn = opened.map_err(|e| CliError::Failed(format!("{}: {e}", db.display())))?;
    let report = retention::prune(&mut conn, &policy, SystemClock.now_utc(), cmd.dry_run)
        .map_err(|e| CliError::Failed(format!("{}: {e}", db.display())))?;
    match cmd.format {
        ReportFormat::Text => println!("{}", retention::describe(&report)),
        ReportFormat::Json => {
            let doc = json!({
                "dry_run": report.dry_run,
                "runs": report.runs,
                "log_lines": report.log_lines,
                "outputs": report.outputs,
                "logs_pruned_runs": report.logs_pruned_runs,
                "bytes_before": report.bytes_before,
                "bytes_after": report.bytes_after,
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
    }
    Ok(())
}
