//! `husky prune`: apply the retention rules of huskyd.yaml to the database now.

use std::path::PathBuf;

use argh::FromArgs;
use serde_json::json;

use super::output::ReportFormat;
use super::remote::{Targeted, failed};
use super::{CliError, CliResult, config_path, daemon_config};
use crate::client::ClientError;
use crate::clock::{Clock, SystemClock};
use crate::config::parse_duration;
use crate::store::retention::{self, Policy, PruneReport};
use crate::store::{self, Pragmas};

super::remote::targeted! {
#[derive(FromArgs, Debug)]
/// Delete old runs and their logs by the retention rules of huskyd.yaml (storage.retention),
/// and trim logs to the byte budget; print what was removed. With a daemon running, its store
/// writer prunes by the daemon's own rules; without one, the database is pruned directly.
#[argh(subcommand, name = "prune")]
pub struct PruneCmd {
    /// only report what would be removed
    #[argh(switch)]
    dry_run: bool,
    /// remove finished runs older than this (overrides storage.retention.max_age), e.g. 30d
    #[argh(option)]
    older_than: Option<String>,
    /// the huskyd.yaml with the retention rules when no daemon runs (default: huskyd.yaml
    /// beside husky.yaml)
    #[argh(option)]
    daemon_config: Option<PathBuf>,
    /// output format: text or json
    #[argh(option, default = "ReportFormat::Text")]
    format: ReportFormat,
}
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
    let c = cmd.client();
    let mut body = json!({ "dry_run": cmd.dry_run });
    if let Some(text) = &cmd.older_than {
        body["older_than"] = json!(text);
    }
    let report = match c.post("/api/db/prune", &body) {
        Ok(v) => serde_json::from_value(v)
            .map_err(|e| CliError::Failed(format!("unexpected answer from the daemon: {e}")))?,
        // No local daemon: nothing else writes the database, so prune it here.
        Err(ClientError::NotRunning(m)) => match c.data_dir() {
            Some(data) => offline(cmd, data, older_than)?,
            None => return Err(CliError::NoDaemon(m)),
        },
        Err(e) => return Err(failed(e)),
    };
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

/// Prunes the database directly (no daemon runs), by the rules of huskyd.yaml.
fn offline(
    cmd: &PruneCmd,
    data: &std::path::Path,
    older_than: Option<time::Duration>,
) -> Result<PruneReport, CliError> {
    let husky_path = config_path(cmd.config.as_ref());
    let daemon = daemon_config(cmd.daemon_config.as_deref(), &husky_path)?;
    let storage = &daemon.storage;
    let mut policy = Policy::of(storage);
    if let Some(d) = older_than {
        policy.max_age = Some(d);
    }
    let db = crate::daemon::Paths::new(&husky_path, data.to_path_buf(), &daemon).db;
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
    retention::prune(&mut conn, &policy, SystemClock.now_utc(), cmd.dry_run)
        .map_err(|e| CliError::Failed(format!("{}: {e}", db.display())))
}
