//! The validated husky.yaml model: immutable, fully defaulted, with `${env:}` already resolved.
//! Threads receive this (behind an `Arc`), never the raw YAML.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::frequency::{Frequency, TimeOfDay};
use super::yaml::Pos;

/// The default job timeout when neither the job nor `defaults` sets one.
pub const DEFAULT_TIMEOUT: time::Duration = time::Duration::minutes(30);
/// The built-in run time for weekly/weekdays/weekends/on:[...] jobs without `time`.
pub const DEFAULT_RUN_TIME: TimeOfDay = TimeOfDay { hour: 3, minute: 0 };
/// The default healthcheck timeout.
pub const DEFAULT_HEALTHCHECK_TIMEOUT: time::Duration = time::Duration::seconds(30);

/// A validated husky.yaml.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was loaded from.
    pub path: PathBuf,
    /// The directory of that file: relative `working_dir`s and `.env` resolve against it.
    pub dir: PathBuf,
    /// The effective defaults (built-ins filled in).
    pub defaults: Defaults,
    /// Notification integrations by name, sorted.
    pub integrations: BTreeMap<String, Integration>,
    /// The jobs, in file order.
    pub jobs: Vec<Job>,
    /// The dependency graph of the jobs.
    pub dag: crate::dag::Dag,
}

impl Config {
    /// A job by its exact (case-sensitive) name.
    pub fn job(&self, name: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.name == name)
    }
}

/// The `defaults` block, with built-ins for what it leaves out.
#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    /// Timeout for jobs that set none (built-in 30m).
    pub timeout: time::Duration,
    /// Retries for jobs that set none (built-in 0).
    pub retries: u32,
    /// Retry delay for jobs that set none (built-in exponential).
    pub retry_delay: RetryDelay,
    /// `on_failure` for jobs that set none (built-in alert).
    pub on_failure: OnFailure,
    /// Run time of weekly/weekdays/weekends/on:[...] jobs without `time` (built-in 0300).
    pub default_run_time: TimeOfDay,
    /// IANA zone for jobs that set none (`None`: the system zone, else UTC).
    pub timezone: Option<String>,
    /// Parsed for compatibility with Husky-Go, where it also has no effect.
    pub notify_on_failure: Option<bool>,
}

/// One job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The map key under `jobs` (case-sensitive).
    pub name: String,
    /// Where the job's key stands in the file.
    pub pos: Pos,
    /// What the job does, for people.
    pub description: String,
    /// The shell command.
    pub command: String,
    /// When it fires.
    pub frequency: Frequency,
    /// The frequency as written in the file.
    pub frequency_raw: String,
    /// Effective run time for calendar frequencies (`time`, else the default); `None` otherwise.
    pub time: Option<TimeOfDay>,
    /// Effective IANA zone (job, else `defaults.timezone`); `None`: system zone, else UTC.
    pub timezone: Option<String>,
    /// Run once at start-up if a scheduled fire was missed while the daemon was down.
    pub catchup: bool,
    /// Jobs that must have succeeded first (besides an `after:` parent).
    pub depends_on: Vec<String>,
    /// What to do when a run is due while another is still running.
    pub concurrency: Concurrency,
    /// Working directory as written (relative paths resolve against the husky.yaml directory).
    pub working_dir: Option<String>,
    /// Effective timeout.
    pub timeout: time::Duration,
    /// Retries after the first attempt.
    pub retries: u32,
    /// Delay between attempts.
    pub retry_delay: RetryDelay,
    /// What happens after the last attempt fails.
    pub on_failure: OnFailure,
    /// The run should finish within this long, else an SLA breach is recorded.
    pub sla: Option<time::Duration>,
    /// Environment for the command, `${env:}` resolved, in file order.
    pub env: Vec<(String, String)>,
    /// Tags, in file order.
    pub tags: Vec<String>,
    /// Notifications per event.
    pub notify: Notify,
    /// A check run after a successful command.
    pub healthcheck: Option<Healthcheck>,
    /// Values captured from stdout, by variable name.
    pub output: Vec<(String, OutputMode)>,
}

impl Job {
    /// The jobs that must succeed before this one runs: `depends_on` plus an `after:` parent.
    pub fn upstreams(&self) -> impl Iterator<Item = &str> {
        let after = self.frequency.after();
        self.depends_on
            .iter()
            .map(String::as_str)
            .chain(after.filter(|a| !self.depends_on.iter().any(|d| d == a)))
    }
}

/// `retry_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDelay {
    /// 30 s × 2^(n−1) with ±25 % jitter.
    Exponential,
    /// The same delay before every retry.
    Fixed(time::Duration),
}

/// `concurrency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// Start another run alongside.
    Allow,
    /// Record the new run as skipped.
    Forbid,
    /// Cancel the running one and start the new one.
    Replace,
}

/// `on_failure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Notify `on_failure`.
    Alert,
    /// Record the run as skipped; no alert; dependents skipped.
    Skip,
    /// Stop the rest of the cycle.
    Stop,
    /// Record the failure; no alert; dependents proceed.
    Ignore,
}

/// The `notify` block.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Notify {
    /// After the last failed attempt.
    pub on_failure: Option<NotifyTarget>,
    /// After a success.
    pub on_success: Option<NotifyTarget>,
    /// When the SLA is breached.
    pub on_sla_breach: Option<NotifyTarget>,
    /// Before a retry.
    pub on_retry: Option<NotifyTarget>,
}

/// One notification: where and what.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifyTarget {
    /// `<integration or provider>:<target>`, e.g. `slack:#ops`.
    pub channel: String,
    /// Message template (`{{ job.name }}`, `{{ run.status }}`, ...).
    pub message: Option<String>,
    /// Logs to attach.
    pub attach_logs: AttachLogs,
    /// For `on_success`: only when the previous completed run failed.
    pub only_after_failure: bool,
    /// Suppress repeats of this event for this job for this long (a husky extension).
    pub cooldown: Option<time::Duration>,
}

/// `attach_logs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachLogs {
    /// Nothing (`none` or absent).
    None,
    /// Every line.
    All,
    /// The last N lines (`last_<N>_lines`).
    Last(u32),
}

/// The `healthcheck` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Healthcheck {
    /// The check command.
    pub command: String,
    /// How long it may take.
    pub timeout: time::Duration,
    /// What a failing check does.
    pub on_fail: HealthcheckOnFail,
}

/// `healthcheck.on_fail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthcheckOnFail {
    /// The run fails.
    MarkFailed,
    /// The run succeeds with a warning.
    WarnOnly,
}

/// An `output` capture mode.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputMode {
    /// The last non-empty stdout line.
    LastLine,
    /// The first stdout line.
    FirstLine,
    /// The exit code as text.
    ExitCode,
    /// A field of the last JSON-object line (dotted path for nested keys).
    JsonField(String),
    /// The first capture group (or whole match) of the last matching line.
    Regex(String),
}

impl std::fmt::Display for OutputMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutputMode::LastLine => f.write_str("last_line"),
            OutputMode::FirstLine => f.write_str("first_line"),
            OutputMode::ExitCode => f.write_str("exit_code"),
            OutputMode::JsonField(k) => write!(f, "json_field:{k}"),
            OutputMode::Regex(p) => write!(f, "regex:{p}"),
        }
    }
}

/// A notification provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Slack incoming webhook.
    Slack,
    /// Discord webhook.
    Discord,
    /// PagerDuty Events API v2.
    PagerDuty,
    /// SMTP email.
    Smtp,
    /// Generic JSON webhook.
    Webhook,
}

impl Provider {
    /// Every provider, in the order of the documentation.
    pub const ALL: [Provider; 5] = [
        Provider::Slack,
        Provider::PagerDuty,
        Provider::Discord,
        Provider::Smtp,
        Provider::Webhook,
    ];

    /// The name used in husky.yaml.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Slack => "slack",
            Provider::Discord => "discord",
            Provider::PagerDuty => "pagerduty",
            Provider::Smtp => "smtp",
            Provider::Webhook => "webhook",
        }
    }

    /// The fields an integration of this provider must set (Husky-Go's rule).
    pub fn required_fields(self) -> &'static [&'static str] {
        match self {
            Provider::Slack | Provider::Discord | Provider::Webhook => &["webhook_url"],
            Provider::PagerDuty => &["routing_key"],
            Provider::Smtp => &["host", "from"],
        }
    }

    /// Parses a provider name (exact, lowercase).
    pub fn from_name(name: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl Integration {
    /// A string field by its husky.yaml name (`None` when unset or not a string field).
    pub fn field(&self, name: &str) -> Option<&str> {
        match name {
            "webhook_url" => self.webhook_url.as_deref(),
            "routing_key" => self.routing_key.as_deref(),
            "host" => self.host.as_deref(),
            "username" => self.username.as_deref(),
            "password" => self.password.as_deref(),
            "from" => self.from.as_deref(),
            "secret" => self.secret.as_deref(),
            "url" => self.url.as_deref(),
            _ => None,
        }
    }
}

/// One entry of `integrations`.
#[derive(Debug, Clone, PartialEq)]
pub struct Integration {
    /// The resolved provider (explicit `provider`, else the key).
    pub provider: Provider,
    /// Webhook URL (slack, discord, webhook), `${env:}` resolved.
    pub webhook_url: Option<String>,
    /// PagerDuty routing key, `${env:}` resolved.
    pub routing_key: Option<String>,
    /// SMTP host.
    pub host: Option<String>,
    /// SMTP port (0: the provider default, 587).
    pub port: u16,
    /// SMTP user, `${env:}` resolved.
    pub username: Option<String>,
    /// SMTP password, `${env:}` resolved.
    pub password: Option<String>,
    /// SMTP sender address.
    pub from: Option<String>,
    /// Webhook: key of the `X-Husky-Signature-256` HMAC-SHA256 header, `${env:}` resolved.
    pub secret: Option<String>,
    /// PagerDuty: the Events API endpoint (default `https://events.pagerduty.com/v2/enqueue`).
    pub url: Option<String>,
}
