//! `husky daemon run` (the daemon in the foreground) and `husky demo` (the daemon on an
//! embedded example pipeline in a fresh temporary directory).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use argh::FromArgs;

use super::{CliError, CliResult, config_path};
use crate::clock::SystemClock;
use crate::config::{self, DaemonConfig, Severity};
use crate::daemon::{Daemon, Paths};
use crate::engine::actor::EngineMsg;
use crate::engine::core::Command;
use crate::log::Logger;

#[derive(FromArgs, Debug)]
/// Run the daemon.
#[argh(subcommand, name = "daemon")]
pub struct DaemonCmd {
    #[argh(subcommand)]
    action: DaemonAction,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum DaemonAction {
    Run(RunCmd),
}

#[derive(FromArgs, Debug)]
/// Run the daemon in the foreground until SIGTERM or SIGINT (a second SIGINT stops every run
/// at once); SIGHUP reloads husky.yaml. The log goes where huskyd.yaml's log.output says
/// (standard output by default).
#[argh(subcommand, name = "run")]
pub struct RunCmd {
    /// the husky.yaml to run (default: $HUSKY_CONFIG, else ./husky.yaml)
    #[argh(option, short = 'c')]
    config: Option<PathBuf>,
    /// the huskyd.yaml (default: huskyd.yaml beside husky.yaml, if any)
    #[argh(option)]
    daemon_config: Option<PathBuf>,
    /// the data directory (default: $HUSKY_DATA, else .husky beside husky.yaml)
    #[argh(option, short = 'd')]
    data: Option<PathBuf>,
}

#[derive(FromArgs, Debug)]
/// Run the daemon in the foreground on an embedded example pipeline (a heartbeat, a three-step
/// pipeline passing outputs, a job that succeeds on retry, a healthcheck and an SLA breach) in
/// a fresh temporary directory; the pipeline is triggered at start. Stop it with Ctrl-C.
#[argh(subcommand, name = "demo")]
pub struct DemoCmd {
    /// where to put the demo's files (default: a new temporary directory)
    #[argh(option)]
    dir: Option<PathBuf>,
    /// stop by itself after this long (e.g. 30s)
    #[argh(option)]
    r#for: Option<String>,
}

/// The demo's husky.yaml.
pub const DEMO_YAML: &str = include_str!("../../assets/demo/husky.yaml");

fn load(
    husky_yaml: &Path,
    daemon_yaml: Option<&Path>,
) -> Result<(config::Config, DaemonConfig), CliError> {
    let loaded = config::load_husky(husky_yaml);
    for d in &loaded.diagnostics {
        eprintln!("{d}");
    }
    let has_errors = loaded.diagnostics.iter().any(|d| d.severity == Severity::Error);
    let Some(config) = loaded.value.filter(|_| !has_errors) else {
        return Err(CliError::Failed(String::new()));
    };
    let daemon = super::daemon_config(daemon_yaml, husky_yaml)?;
    Ok((config, daemon))
}

pub fn run_daemon(cmd: &DaemonCmd) -> CliResult {
    let DaemonAction::Run(cmd) = &cmd.action;
    // Absolute, so that jobs' working directories do not depend on where the daemon started.
    let husky_yaml = config_path(cmd.config.as_ref());
    let husky_yaml = std::path::absolute(&husky_yaml).unwrap_or(husky_yaml);
    let (config, daemon) = load(&husky_yaml, cmd.daemon_config.as_deref())?;
    let data = crate::daemon::data_dir(super::data_flag(cmd.data.as_ref()), &husky_yaml);
    let paths = Paths::new(&husky_yaml, data, &daemon);
    let log = open_log(&daemon, &husky_yaml)?;
    let d = Daemon::start(&paths, config, &daemon, &log)
        .map_err(|e| CliError::Failed(e.to_string()))?;
    d.wait();
    log.info("husky daemon stopped");
    Ok(())
}

/// The daemon's log as huskyd.yaml's `log` section describes it.
fn open_log(daemon: &DaemonConfig, husky_yaml: &Path) -> Result<Logger, CliError> {
    let base = husky_yaml.parent().unwrap_or(Path::new("."));
    Logger::new(&daemon.log, base, Arc::new(SystemClock)).map_err(|e| {
        let path = daemon.log.file.path.as_deref().unwrap_or_default();
        CliError::Failed(format!("cannot open the daemon log {path}: {e}"))
    })
}

pub fn run_demo(cmd: &DemoCmd) -> CliResult {
    let stop_after = match &cmd.r#for {
        Some(text) => Some(
            config::parse_duration(text)
                .ok()
                .filter(|d| d.is_positive())
                .and_then(|d| std::time::Duration::try_from(d).ok())
                .ok_or_else(|| {
                    CliError::Usage(format!("--for {text:?}: expected a duration such as 30s"))
                })?,
        ),
        None => None,
    };
    let dir = match &cmd.dir {
        Some(d) => d.clone(),
        None => {
            let stamp = crate::clock::Clock::now_utc(&SystemClock).unix_timestamp_nanos();
            std::env::temp_dir().join(format!("husky-demo-{}-{stamp}", std::process::id()))
        }
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| CliError::Failed(format!("cannot create {}: {e}", dir.display())))?;
    let husky_yaml = dir.join("husky.yaml");
    let husky_yaml = std::path::absolute(&husky_yaml).unwrap_or(husky_yaml);
    std::fs::write(&husky_yaml, DEMO_YAML)
        .map_err(|e| CliError::Failed(format!("cannot write {}: {e}", husky_yaml.display())))?;
    let (config, daemon) = load(&husky_yaml, None)?;
    // The demo's own directory, whatever HUSKY_DATA says.
    let paths = Paths::new(&husky_yaml, dir.join(".husky"), &daemon);
    let log = open_log(&daemon, &husky_yaml)?;
    let d = Daemon::start(&paths, config, &daemon, &log)
        .map_err(|e| CliError::Failed(e.to_string()))?;
    println!("husky demo: the pipeline is in {}", husky_yaml.display());
    println!("husky demo: run history in {}", paths.db.display());
    println!(
        "husky demo: triggering extract (-> transform -> load), flaky and checked; Ctrl-C stops"
    );
    for job in ["extract", "flaky", "checked"] {
        let (reply, _rx) = crossbeam_channel::bounded(1);
        let cmd = Command::Run { job: job.into(), reason: Some("demo".into()), by: "demo".into() };
        let _ = d.inbox().send(EngineMsg::Command { cmd, reply });
    }
    if let Some(after) = stop_after {
        let inbox = d.inbox().clone();
        std::thread::spawn(move || {
            let _ = crossbeam_channel::after(after).recv();
            let (reply, _rx) = crossbeam_channel::bounded(1);
            let cmd = Command::Shutdown { force: false };
            let _ = inbox.send(EngineMsg::Command { cmd, reply });
        });
    }
    d.wait();
    log.info("husky demo stopped");
    println!("husky demo: files kept in {}", dir.display());
    Ok(())
}
