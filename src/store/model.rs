//! The store's values: run statuses, triggers, log lines, and the rows and patches the writer and
//! the queries exchange.

use std::fmt;

use time::OffsetDateTime;

/// A run's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// Created, not started yet.
    Pending,
    /// Its process is running.
    Running,
    /// Finished with exit code 0 (and a passing healthcheck).
    Success,
    /// Finished otherwise; `status_reason` says how.
    Failed,
    /// Stopped by a user or by shutdown.
    Cancelled,
    /// Failed, and a retry is due at `retry_at` (final for this row).
    Retrying,
    /// Not run (dependency failed, `on_failure: skip`, user skip).
    Skipped,
}

impl RunStatus {
    /// All statuses.
    pub const ALL: [RunStatus; 7] = [
        RunStatus::Pending,
        RunStatus::Running,
        RunStatus::Success,
        RunStatus::Failed,
        RunStatus::Cancelled,
        RunStatus::Retrying,
        RunStatus::Skipped,
    ];

    /// The stored name (`SUCCESS`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "PENDING",
            RunStatus::Running => "RUNNING",
            RunStatus::Success => "SUCCESS",
            RunStatus::Failed => "FAILED",
            RunStatus::Cancelled => "CANCELLED",
            RunStatus::Retrying => "RETRYING",
            RunStatus::Skipped => "SKIPPED",
        }
    }

    /// Parses a stored or user-given name, case-insensitively.
    pub fn parse(text: &str) -> Option<RunStatus> {
        RunStatus::ALL.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(text))
    }

    /// Whether the run is over (retention may remove it).
    pub fn is_final(self) -> bool {
        !matches!(self, RunStatus::Pending | RunStatus::Running | RunStatus::Retrying)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// The job's frequency (and catch-up).
    Schedule,
    /// A user (CLI, API, dashboard).
    Manual,
    /// An upstream job's success.
    Dependency,
    /// Another attempt after a failure.
    Retry,
    /// A fire missed while the daemon was down (or the host asleep), run late.
    Catchup,
}

impl Trigger {
    /// Every trigger.
    pub const ALL: [Trigger; 5] =
        [Trigger::Schedule, Trigger::Manual, Trigger::Dependency, Trigger::Retry, Trigger::Catchup];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
            Trigger::Dependency => "dependency",
            Trigger::Retry => "retry",
            Trigger::Catchup => "catchup",
        }
    }

    /// Parses a stored or user-given name, case-insensitively.
    pub fn parse(text: &str) -> Option<Trigger> {
        Trigger::ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(text))
    }
}

/// Which stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// The command's standard output.
    Stdout,
    /// The command's standard error.
    Stderr,
    /// The healthcheck's output.
    Healthcheck,
    /// husky's own notes in the log (budget markers, dropped-line notes).
    Husky,
}

impl Stream {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Healthcheck => "healthcheck",
            Stream::Husky => "husky",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Stream> {
        [Stream::Stdout, Stream::Stderr, Stream::Healthcheck, Stream::Husky]
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(text))
    }
}

/// One line of output on its way to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The stream.
    pub stream: Stream,
    /// The text, without its line terminator (invalid UTF-8 already replaced).
    pub line: String,
    /// When it was read.
    pub ts: OffsetDateTime,
}

/// A committed log line, as stored and as published to live subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLine {
    /// Row id: increases with every committed line.
    pub id: i64,
    /// The run.
    pub run_id: i64,
    /// Position within the run's log (1-based; the budget marker takes the slot after the head).
    pub seq: i64,
    /// The stream.
    pub stream: Stream,
    /// The text.
    pub line: String,
    /// The stored timestamp.
    pub ts: String,
}

/// A run to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    /// The id to give it (the engine numbers runs itself); `None`: the next free one.
    pub id: Option<i64>,
    /// The job.
    pub job_name: String,
    /// Initial status (normally `Pending` or `Running`).
    pub status: RunStatus,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// What started it.
    pub trigger: Trigger,
    /// Who: `scheduler`, `cli`, `cli: <reason>`, `dependency`, `api:<user>`.
    pub triggered_by: String,
    /// Free text (`catchup`, `after:<job>`, a user's reason).
    pub reason: Option<String>,
    /// The dependency cycle this run belongs to.
    pub cycle_id: Option<String>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Start time, when created already running.
    pub started_at: Option<OffsetDateTime>,
    /// Why it did not run or succeed (for a run created final, e.g. skipped).
    pub status_reason: Option<String>,
    /// End time, for a run created final.
    pub finished_at: Option<OffsetDateTime>,
}

/// Changes to a run: each `Some` field is written, `None` fields are left alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunPatch {
    /// New status.
    pub status: Option<RunStatus>,
    /// Why it did not succeed.
    pub status_reason: Option<String>,
    /// When the process started.
    pub started_at: Option<OffsetDateTime>,
    /// When it finished.
    pub finished_at: Option<OffsetDateTime>,
    /// A pending retry's due time.
    pub retry_at: Option<OffsetDateTime>,
    /// Exit code.
    pub exit_code: Option<i32>,
    /// The signal that ended it.
    pub signal: Option<i32>,
    /// The process id.
    pub pid: Option<u32>,
    /// The process start time as the OS reports it.
    pub pid_start: Option<i64>,
    /// Wall-clock duration.
    pub duration_ms: Option<i64>,
    /// User CPU time.
    pub cpu_user_ms: Option<i64>,
    /// System CPU time.
    pub cpu_sys_ms: Option<i64>,
    /// Peak resident set size.
    pub max_rss_kb: Option<i64>,
    /// The SLA was breached.
    pub sla_breached: Option<bool>,
    /// Healthcheck outcome: `pass`, `fail`, `warn`.
    pub hc_status: Option<String>,
}

/// Changes to a job's state row: each `Some` is written on its own; `Some(None)` clears.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobStatePatch {
    /// Last successful finish.
    pub last_success: Option<OffsetDateTime>,
    /// Last failed finish.
    pub last_failure: Option<OffsetDateTime>,
    /// The latest run and its status.
    pub last_run: Option<(i64, RunStatus)>,
    /// Next scheduled fire (`Some(None)`: none).
    pub next_run: Option<Option<OffsetDateTime>>,
    /// Paused by a user.
    pub paused: Option<bool>,
    /// The pid holding the job's lock (`Some(None)`: released).
    pub lock_pid: Option<Option<u32>>,
    /// A user skipped the next scheduled slot.
    pub skip_next: Option<bool>,
}

/// A captured output value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutput {
    /// Variable name.
    pub var_name: String,
    /// Captured value.
    pub value: String,
}

/// A notification attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    /// The job.
    pub job_name: String,
    /// The run, if any.
    pub run_id: Option<i64>,
    /// `on_failure`, `on_success`, `on_sla_breach`, ...
    pub event: String,
    /// `slack:#ops`, `email:a@b`, ...
    pub channel: String,
    /// `delivered`, `failed`, `pending`.
    pub status: String,
    /// Attempts so far.
    pub attempts: u32,
    /// Last error, if any.
    pub error: Option<String>,
    /// When.
    pub sent_at: OffsetDateTime,
    /// The request body sent.
    pub payload: Option<String>,
}
