//! The command line: argh command structs, dispatch, and the one place that maps outcomes to
//! exit codes (0 success, 1 failure, 2 usage error, 3 skipped or cancelled, 4 no daemon).

mod config_cmd;
mod control;
mod daemon_cmd;
mod graph;
mod history;
mod init;
mod integrations;
pub mod next;
pub mod output;
mod prune;
mod remote;
mod runs;
mod term;
mod validate;

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use argh::FromArgs;

/// A command's failure; `main` prints it and exits with its code.
#[derive(Debug)]
pub enum CliError {
    /// The command line was wrong (exit 2).
    Usage(String),
    /// The command could not do its job (exit 1); the message was already printed when empty.
    Failed(String),
    /// What was run was skipped or cancelled (exit 3, `run --wait`).
    NotDone(String),
    /// The daemon is not running or not reachable (exit 4).
    NoDaemon(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Failed(_) => 1,
            CliError::NotDone(_) => 3,
            CliError::NoDaemon(_) => 4,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m)
            | CliError::Failed(m)
            | CliError::NotDone(m)
            | CliError::NoDaemon(m) => f.write_str(m),
        }
    }
}

/// The result of a command.
pub type CliResult = Result<(), CliError>;

#[derive(FromArgs, Debug)]
/// husky: a local-first job scheduler with dependency graphs.
///
/// Options take their value as a separate word (`--format json`). -c, -d and --addr work
/// before the command (for every command) or after it; HUSKY_CONFIG, HUSKY_DATA and
/// HUSKY_ADDR set their defaults.
struct Husky {
    /// print the version, commit and build date
    #[argh(switch, short = 'V')]
    version: bool,
    /// the husky.yaml for every command (default: $HUSKY_CONFIG, else ./husky.yaml)
    #[argh(option, short = 'c')]
    config: Option<PathBuf>,
    /// the data directory for every command (default: $HUSKY_DATA, else .husky beside
    /// husky.yaml)
    #[argh(option, short = 'd')]
    data: Option<PathBuf>,
    /// a remote daemon's URL for every command (default: $HUSKY_ADDR; HUSKY_TOKEN is its
    /// bearer token)
    #[argh(option)]
    addr: Option<String>,

    #[argh(subcommand)]
    command: Option<Command>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum Command {
    Validate(validate::ValidateCmd),
    Config(config_cmd::ConfigCmd),
    Init(init::InitCmd),
    Dag(graph::DagCmd),
    Tags(graph::TagsCmd),
    Next(next::NextCmd),
    Prune(prune::PruneCmd),
    Daemon(daemon_cmd::DaemonCmd),
    Demo(daemon_cmd::DemoCmd),
    Start(control::StartCmd),
    Stop(control::StopCmd),
    Status(control::StatusCmd),
    Run(runs::RunCmd),
    Retry(runs::RetryCmd),
    Logs(history::LogsCmd),
    History(history::HistoryCmd),
    Audit(history::AuditCmd),
    Export(history::ExportCmd),
    Dash(history::DashCmd),
    Reload(control::ReloadCmd),
    Pause(control::PauseCmd),
    Resume(control::ResumeCmd),
    Skip(control::SkipCmd),
    Cancel(control::CancelCmd),
    Integrations(integrations::IntegrationsCmd),
}

/// Parses `args` (program name first), runs the command and returns the exit code.
pub fn main(args: &[String]) -> ExitCode {
    let name = args.first().map_or("husky", |a| a.rsplit(['/', '\\']).next().unwrap_or("husky"));
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    let husky = match Husky::from_args(&[name], &rest) {
        Ok(h) => h,
        Err(early) => {
            return match early.status {
                Ok(()) => {
                    print!("{}", early.output);
                    ExitCode::SUCCESS
                }
                Err(()) => {
                    eprint!("{}", early.output);
                    eprintln!("Run `husky help` for usage.");
                    ExitCode::from(2)
                }
            };
        }
    };
    let _ = GLOBALS.set(Globals {
        config: husky.config.clone(),
        data: husky.data.clone(),
        addr: husky.addr.clone(),
    });
    let result = if husky.version {
        println!("{}", version_line());
        Ok(())
    } else {
        match husky.command {
            None => Err(CliError::Usage(
                "a command is required: start, stop, status, run, ..., validate, demo (see `husky help`)"
                    .into(),
            )),
            Some(Command::Validate(c)) => validate::run(&c),
            Some(Command::Config(c)) => config_cmd::run(&c),
            Some(Command::Init(c)) => init::run(&c),
            Some(Command::Dag(c)) => graph::run_dag(&c),
            Some(Command::Tags(c)) => graph::run_tags(&c),
            Some(Command::Next(c)) => next::run(&c),
            Some(Command::Prune(c)) => prune::run(&c),
            Some(Command::Daemon(c)) => daemon_cmd::run_daemon(&c),
            Some(Command::Demo(c)) => daemon_cmd::run_demo(&c),
            Some(Command::Start(c)) => control::start(&c),
            Some(Command::Stop(c)) => control::stop(&c),
            Some(Command::Status(c)) => control::status(&c),
            Some(Command::Run(c)) => runs::run(&c),
            Some(Command::Retry(c)) => runs::retry(&c),
            Some(Command::Logs(c)) => history::logs(&c),
            Some(Command::History(c)) => history::history(&c),
            Some(Command::Audit(c)) => history::audit(&c),
            Some(Command::Export(c)) => history::export(&c),
            Some(Command::Dash(c)) => history::dash(&c),
            Some(Command::Reload(c)) => control::reload(&c),
            Some(Command::Pause(c)) => control::pause(&c, true),
            Some(Command::Resume(c)) => control::resume(&c),
            Some(Command::Skip(c)) => control::skip(&c),
            Some(Command::Cancel(c)) => control::cancel(&c),
            Some(Command::Integrations(c)) => integrations::run(&c),
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = e.to_string();
            if !msg.is_empty() {
                eprintln!("error: {msg}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}

/// `husky <version> (commit <c>, built <date>)`.
pub fn version_line() -> String {
    format!(
        "husky {} (commit {}, built {})",
        env!("CARGO_PKG_VERSION"),
        env!("HUSKY_COMMIT"),
        env!("HUSKY_BUILD_DATE")
    )
}

/// The root options (given before the command): defaults for every command's own.
#[derive(Debug, Default)]
struct Globals {
    config: Option<PathBuf>,
    data: Option<PathBuf>,
    addr: Option<String>,
}

static GLOBALS: std::sync::OnceLock<Globals> = std::sync::OnceLock::new();

fn globals() -> &'static Globals {
    GLOBALS.get_or_init(Globals::default)
}

/// The data directory option: the command's, else the root one (else `None`: the default).
fn data_flag(flag: Option<&PathBuf>) -> Option<&std::path::Path> {
    flag.or(globals().data.as_ref()).map(PathBuf::as_path)
}

/// The husky.yaml to use: `--config`, else the root `--config`, else `$HUSKY_CONFIG`, else
/// `./husky.yaml`.
fn config_path(flag: Option<&PathBuf>) -> PathBuf {
    flag.or(globals().config.as_ref())
        .cloned()
        .or_else(|| std::env::var_os("HUSKY_CONFIG").filter(|v| !v.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("husky.yaml"))
}

/// Loads husky.yaml for a command that needs a valid config: problems go to stderr.
fn load_valid_config(flag: Option<&PathBuf>) -> Result<crate::config::Config, CliError> {
    let path = config_path(flag);
    let loaded = crate::config::load_husky(&path);
    for d in &loaded.diagnostics {
        eprintln!("{d}");
    }
    loaded.value.ok_or_else(|| {
        CliError::Failed(format!("{} is invalid; run `husky validate` for details", path.display()))
    })
}

/// The huskyd.yaml for `husky_yaml` (`--daemon-config`, else huskyd.yaml beside it, else the
/// defaults), with its problems printed; an invalid file is a failure.
fn daemon_config(
    explicit: Option<&std::path::Path>,
    husky_yaml: &std::path::Path,
) -> Result<crate::config::DaemonConfig, CliError> {
    let Some(path) = crate::config::daemon_config_path(explicit, husky_yaml) else {
        return Ok(crate::config::DaemonConfig::default());
    };
    let loaded = crate::config::load_daemon(&path);
    for d in &loaded.diagnostics {
        eprintln!("{d}");
    }
    loaded.value.ok_or_else(|| CliError::Failed(format!("{} is invalid", path.display())))
}
