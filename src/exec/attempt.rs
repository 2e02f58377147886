//! One attempt of a job: its environment and working directory, the main command, output
//! capture, and the healthcheck; the result says which status the run ends in and why.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;

use super::Limits;
use super::outputs::{Captured, OutputCollector};
use super::run::{Outcome, ReadLine, Sink, Spec, run};
use crate::clock::Clock;
use crate::config::{DaemonConfig, HealthcheckOnFail, Job};
use crate::store::{RunStatus, Stream, Trigger};

/// Executor settings shared by every attempt (from huskyd.yaml and husky.yaml's location).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The shell and its command flag.
    pub shell: Vec<String>,
    /// The husky.yaml directory (relative working directories resolve against it).
    pub config_dir: PathBuf,
    /// The working directory of jobs without their own.
    pub default_cwd: PathBuf,
    /// `executor.global_env`.
    pub global_env: Vec<(String, String)>,
    /// Between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    /// After the main process exits, how long leftovers may hold its pipes.
    pub drain: Duration,
    /// Per-job resource limits.
    pub limits: Limits,
    /// The daemon's data directory, exported as `HUSKY_DATA_DIR` (with `HUSKY_RUN_ID` it
    /// identifies a run's processes after a crash).
    pub data_dir: Option<PathBuf>,
}

/// The default shell and flag of this platform (`/bin/sh -c`, `cmd.exe /C`).
pub fn default_shell() -> Vec<String> {
    super::platform::DEFAULT_SHELL.iter().map(|s| (*s).to_owned()).collect()
}

/// `executor.shell` as a program and its command flag: `cmd` takes `/C`, PowerShell
/// `-Command`, everything else `-c`. A value with spaces keeps its own arguments
/// (`bash -eu` → `bash -eu -c`).
pub fn shell_of(value: &str) -> Vec<String> {
    let mut parts: Vec<String> = value.split_whitespace().map(str::to_owned).collect();
    let Some(program) = parts.first() else { return default_shell() };
    let name = Path::new(program)
        .file_stem()
        .map(|s| s.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let flag = match name.as_str() {
        "cmd" => "/C",
        "powershell" | "pwsh" => "-Command",
        _ => "-c",
    };
    parts.push(flag.into());
    parts
}

impl Settings {
    /// Settings from huskyd.yaml, for jobs of the husky.yaml in `config_dir`.
    pub fn new(daemon: &DaemonConfig, config_dir: &Path) -> Settings {
        let x = &daemon.executor;
        let default_cwd = match x.working_dir.as_str() {
            "" | "config_dir" => config_dir.to_path_buf(),
            other => config_dir.join(other),
        };
        let nonzero = |v: u64| (v > 0).then_some(v);
        Settings {
            shell: x.shell.as_deref().map_or_else(default_shell, shell_of),
            config_dir: config_dir.to_path_buf(),
            default_cwd,
            global_env: x.global_env.clone(),
            kill_grace: Duration::try_from(x.kill_grace).unwrap_or(Duration::from_secs(10)),
            drain: Duration::from_millis(500),
            limits: Limits {
                max_memory_mb: nonzero(x.max_memory_mb),
                max_open_files: nonzero(x.max_open_files),
                max_pids: nonzero(x.max_pids),
            },
            data_dir: None,
        }
    }
}

/// What to run: one attempt of a job.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The run row (already committed).
    pub run_id: i64,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The job.
    pub job: Arc<Job>,
    /// Its cycle.
    pub cycle_id: String,
    /// What started it.
    pub trigger: Trigger,
    /// The job's `env` after `{{ outputs }}` rendering, when the engine rendered it (else the
    /// job's own).
    pub env: Option<Vec<(String, String)>>,
    /// The command after rendering, when the engine rendered it.
    pub command: Option<String>,
}

/// Healthcheck outcome, as stored in `hc_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HcStatus {
    /// Exit 0.
    Pass,
    /// Failed, run failed.
    Fail,
    /// Failed, run kept SUCCESS (`warn_only`).
    Warn,
}

impl HcStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            HcStatus::Pass => "pass",
            HcStatus::Fail => "fail",
            HcStatus::Warn => "warn",
        }
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    /// The main command.
    pub outcome: Outcome,
    /// The final status.
    pub status: RunStatus,
    /// Why it did not succeed (`None` on success).
    pub status_reason: Option<String>,
    /// The healthcheck's verdict, if one ran.
    pub hc: Option<HcStatus>,
    /// Captured outputs, in file order.
    pub outputs: Vec<(String, String)>,
    /// Problems that did not fail the run (a capture that found nothing).
    pub warnings: Vec<String>,
}

/// The environment of an attempt: host < `executor.global_env` < job `env` (empty values are
/// skipped in both), then husky's own variables.
pub fn environment(settings: &Settings, a: &Attempt) -> Vec<(String, String)> {
    let job_env = a.env.as_ref().unwrap_or(&a.job.env);
    let mut env: Vec<(String, String)> = settings
        .global_env
        .iter()
        .chain(job_env.iter())
        .filter(|(_, v)| !v.is_empty())
        .cloned()
        .collect();
    env.extend([
        ("HUSKY_JOB".to_owned(), a.job.name.clone()),
        ("HUSKY_RUN_ID".to_owned(), a.run_id.to_string()),
        ("HUSKY_ATTEMPT".to_owned(), a.attempt.to_string()),
        ("HUSKY_CYCLE_ID".to_owned(), a.cycle_id.clone()),
        ("HUSKY_TRIGGER".to_owned(), a.trigger.as_str().to_owned()),
    ]);
    if let Some(dir) = &settings.data_dir {
        env.push(("HUSKY_DATA_DIR".to_owned(), dir.display().to_string()));
    }
    env
}

/// The working directory: the job's `working_dir` (relative to the husky.yaml directory), else
/// `executor.working_dir`.
pub fn working_dir(settings: &Settings, job: &Job) -> PathBuf {
    match &job.working_dir {
        Some(dir) if Path::new(dir).is_absolute() => PathBuf::from(dir),
        Some(dir) => settings.config_dir.join(dir),
        None => settings.default_cwd.clone(),
    }
}

fn duration(d: time::Duration) -> Duration {
    Duration::try_from(d).unwrap_or(Duration::from_secs(30 * 60))
}

/// Runs one attempt. Lines go to `sink` (stdout/stderr, then `healthcheck`); `on_start` gets
/// the pid of the main command.
pub fn run_attempt(
    settings: &Settings,
    a: &Attempt,
    clock: &dyn Clock,
    cancel: &Receiver<()>,
    on_start: impl FnMut(u32),
    sink: &mut impl Sink,
) -> AttemptResult {
    let job = &a.job;
    let spec = Spec {
        shell: settings.shell.clone(),
        command: a.command.clone().unwrap_or_else(|| job.command.clone()),
        cwd: working_dir(settings, job),
        env: environment(settings, a),
        timeout: duration(job.timeout),
        kill_grace: settings.kill_grace,
        drain: settings.drain,
        limits: settings.limits,
        run_id: a.run_id,
    };
    let mut collector = OutputCollector::new(&job.output);
    let outcome = {
        let mut tee = Tee { sink: &mut *sink, collector: &mut collector, relabel: None };
        run(&spec, clock, cancel, on_start, &mut tee)
    };
    let mut warnings = Vec::new();
    let mut outputs = Vec::new();
    for (name, captured) in collector.finish(outcome.exit_code) {
        match captured {
            Captured::Value(v) => outputs.push((name, v)),
            Captured::Missing(w) => warnings.push(w),
        }
    }
    let (mut status, mut reason) = verdict(&outcome);
    let mut hc = None;
    if let (Some(check), RunStatus::Success) = (&job.healthcheck, status) {
        let hc_spec =
            Spec { command: check.command.clone(), timeout: duration(check.timeout), ..spec };
        let mut none = OutputCollector::new(&[]);
        let mut tee =
            Tee { sink: &mut *sink, collector: &mut none, relabel: Some(Stream::Healthcheck) };
        let checked = run(&hc_spec, clock, cancel, |_| {}, &mut tee);
        if checked.cancelled {
            status = RunStatus::Cancelled;
            reason = Some("cancelled".into());
        } else if checked.succeeded() {
            hc = Some(HcStatus::Pass);
        } else if check.on_fail == HealthcheckOnFail::WarnOnly {
            hc = Some(HcStatus::Warn);
            warnings.push(format!(
                "healthcheck failed ({}); warn_only keeps the run",
                describe(&checked)
            ));
        } else {
            hc = Some(HcStatus::Fail);
            status = RunStatus::Failed;
            reason = Some(format!("healthcheck failed ({})", describe(&checked)));
        }
    }
    AttemptResult { outcome, status, status_reason: reason, hc, outputs, warnings }
}

/// The status and reason of a finished main command.
fn verdict(o: &Outcome) -> (RunStatus, Option<String>) {
    if o.cancelled {
        (RunStatus::Cancelled, Some("cancelled".into()))
    } else if o.succeeded() {
        (RunStatus::Success, None)
    } else {
        (RunStatus::Failed, Some(describe(o)))
    }
}

/// Why a process did not succeed, for `status_reason`.
pub fn describe(o: &Outcome) -> String {
    if let Some(e) = &o.spawn_error {
        e.clone()
    } else if o.timed_out {
        format!("timed out after {:.0} s", o.duration.as_secs_f64())
    } else if o.cancelled {
        "cancelled".into()
    } else if let Some(sig) = o.signal {
        format!("killed by signal {sig}")
    } else {
        format!("exit code {}", o.exit_code.unwrap_or(-1))
    }
}

/// Passes lines on and feeds stdout to the output collector; relabels the healthcheck's lines.
struct Tee<'a, S: Sink> {
    sink: &'a mut S,
    collector: &'a mut OutputCollector,
    relabel: Option<Stream>,
}

impl<S: Sink> Sink for Tee<'_, S> {
    fn line(&mut self, mut line: ReadLine) {
        if line.stream == Stream::Stdout && !line.piece.continues && !self.collector.is_empty() {
            self.collector.line(&line.piece.text);
        }
        if let Some(stream) = self.relabel {
            line.stream = stream;
        }
        self.sink.line(line);
    }

    fn idle(&mut self) {
        self.sink.idle();
    }
}
