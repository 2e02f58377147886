//! huskyd.yaml: the daemon's settings, every section of Husky-Go's file with its defaults,
//! validated with located diagnostics. An absent or empty file means all defaults.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::diag::{Diagnostics, Scope, suggest};
use super::duration::parse_duration;
use super::read::{Map, type_error};
use super::size::{MAX_SIZE, SIZE_UNITS, SizeError, parse_size, unit_ignoring_case};
use super::yaml::Value;

/// The validated huskyd.yaml.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonConfig {
    /// The file it came from (`None`: no file, all defaults).
    pub path: Option<PathBuf>,
    /// HTTP API listener.
    pub api: ApiConfig,
    /// Authentication and authorisation of the API.
    pub auth: AuthConfig,
    /// The daemon's own log.
    pub log: LogConfig,
    /// The state store.
    pub storage: StorageConfig,
    /// Scheduling limits.
    pub scheduler: SchedulerConfig,
    /// How commands run.
    pub executor: ExecutorConfig,
    /// Prometheus metrics endpoint.
    pub metrics: MetricsConfig,
    /// Tracing export.
    pub tracing: TracingConfig,
    /// Secret providers.
    pub secrets: SecretsConfig,
    /// Daemon-level alerts.
    pub alerts: AlertsConfig,
    /// The embedded dashboard.
    pub dashboard: DashboardConfig,
    /// Outbound HTTP (notifications).
    pub http_client: HttpClientConfig,
    /// Process settings.
    pub process: ProcessConfig,
}

/// `api`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiConfig {
    /// `host:port` to listen on (default `127.0.0.1:8420`).
    pub addr: String,
    /// Whether `addr` was set in the file (if not, a taken default port falls back to a free one).
    pub addr_explicit: bool,
    /// Path prefix of every route (`""` or `/husky`).
    pub base_path: String,
    /// TLS.
    pub tls: TlsConfig,
    /// Cross-origin requests.
    pub cors: CorsConfig,
    /// Connection timeouts.
    pub timeouts: ApiTimeouts,
    /// Connections the TCP listener keeps open at once (a husky extension; default 64).
    pub max_connections: u32,
    /// WebSockets open at once, at most (`/ws/...`); more are refused with 503.
    pub max_websockets: u32,
}

/// `api.tls`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TlsConfig {
    /// Serve HTTPS.
    pub enabled: bool,
    /// PEM certificate chain.
    pub cert: Option<String>,
    /// PEM private key.
    pub key: Option<String>,
    /// Minimum protocol version: `1.2` or `1.3`.
    pub min_version: TlsVersion,
    /// PEM bundle of CAs for client certificates (mutual TLS).
    pub client_ca: Option<String>,
}

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsVersion {
    /// TLS 1.2.
    #[default]
    V1_2,
    /// TLS 1.3.
    V1_3,
}

/// `api.cors`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CorsConfig {
    /// Origins allowed to call the API (`*` for any).
    pub allowed_origins: Vec<String>,
    /// Send `Access-Control-Allow-Credentials: true`.
    pub allow_credentials: bool,
}

/// `api.timeouts`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ApiTimeouts {
    /// Reading request headers.
    pub read_header: time::Duration,
    /// Reading a whole request.
    pub read: time::Duration,
    /// Writing a response.
    pub write: time::Duration,
    /// An idle keep-alive connection.
    pub idle: time::Duration,
}

/// `auth`.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthConfig {
    /// The scheme.
    pub kind: AuthType,
    /// `auth.bearer.token_file`.
    pub token_file: Option<String>,
    /// `auth.bearer.token` (inline; a file is recommended).
    pub token: Option<String>,
    /// `auth.basic.users`.
    pub users: Vec<BasicUser>,
    /// `auth.oidc` (accepted for compatibility; `type: oidc` is not supported).
    pub oidc: BTreeMap<String, String>,
    /// `auth.rbac` rules (empty: built-in roles).
    pub rbac: Vec<RbacRule>,
}

/// `auth.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    /// No authentication.
    None,
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// HTTP Basic with bcrypt hashes.
    Basic,
}

/// One `auth.basic.users` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicUser {
    /// User name.
    pub username: String,
    /// bcrypt hash of the password.
    pub password_hash: String,
    /// Role (`admin`, `operator`, `viewer`); default admin.
    pub role: Option<String>,
}

/// One `auth.rbac` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RbacRule {
    /// The role it applies to.
    pub role: String,
    /// Allowed HTTP methods.
    pub methods: Vec<String>,
    /// Allowed path patterns (`*`, exact, or prefix ending in `*`).
    pub paths: Vec<String>,
}

/// `log`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// Minimum level.
    pub level: LogLevel,
    /// `text` or `json`.
    pub format: LogFormat,
    /// Where it goes.
    pub output: LogOutput,
    /// File output and rotation.
    pub file: LogFile,
    /// One JSON line per run transition.
    pub audit_log: AuditLog,
}

/// `log.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Everything.
    Debug,
    /// Normal operation.
    Info,
    /// Problems that were handled.
    Warn,
    /// Problems that were not.
    Error,
}

/// `log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `<time> <LEVEL> <message>` text.
    Text,
    /// One JSON object per line.
    Json,
}

/// `log.output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogOutput {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
    /// `log.file.path`, rotated.
    File,
}

/// `log.file`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogFile {
    /// The log file.
    pub path: Option<String>,
    /// Rotate past this size.
    pub max_size_mb: u32,
    /// Rotated files kept.
    pub max_backups: u32,
    /// Rotated files older than this are removed.
    pub max_age_days: u32,
    /// Gzip rotated files.
    pub compress: bool,
}

/// `log.audit_log`.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditLog {
    /// Write the audit log.
    pub enabled: bool,
    /// Its file.
    pub path: Option<String>,
    /// Rotate past this size.
    pub max_size_mb: u32,
    /// Rotated files kept.
    pub max_backups: u32,
}

/// `storage`.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageConfig {
    /// SQLite file (`None`: `<data dir>/husky.db`).
    pub sqlite_path: Option<String>,
    /// `PRAGMA wal_autocheckpoint` pages.
    pub wal_autocheckpoint: u32,
    /// `PRAGMA busy_timeout`.
    pub busy_timeout: time::Duration,
    /// Delete finished runs older than this.
    pub retention_max_age: Option<time::Duration>,
    /// Keep at most this many finished runs per job.
    pub retention_max_runs_per_job: Option<u32>,
    /// Per job, the newest this many failed runs are kept even when `max_age` or
    /// `max_runs_per_job` would delete them (0: no exception).
    pub retention_keep_last_failures: u32,
    /// Past this many bytes a run's log keeps its head and tail and one line saying how many
    /// lines and bytes were left out (`None`: unlimited).
    pub retention_max_log_bytes_per_run: Option<u64>,
    /// When the database grows past this many bytes, the logs of the oldest finished runs are
    /// pruned first (`None`: unlimited).
    pub retention_max_total_bytes: Option<u64>,
}

/// Default of `storage.retention.max_log_bytes_per_run`: 10 MiB.
pub const DEFAULT_MAX_LOG_BYTES_PER_RUN: u64 = 10 << 20;

/// Default of `storage.retention.max_total_bytes`: 1 GiB.
pub const DEFAULT_MAX_TOTAL_BYTES: u64 = 1 << 30;

/// `scheduler`.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerConfig {
    /// Runs executing at once, across all jobs.
    pub max_concurrent_jobs: u32,
    /// Catch-up runs only for fires missed less than this long ago (0: no limit).
    pub catchup_window: time::Duration,
    /// How long shutdown waits for running jobs before killing them.
    pub shutdown_timeout: time::Duration,
    /// Random delay in `[0, jitter)` added to every scheduled fire.
    pub schedule_jitter: time::Duration,
}

/// `executor`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorConfig {
    /// Worker threads (`None`: number of CPUs, at least 2).
    pub pool_size: Option<u32>,
    /// Shell (`None`: `/bin/sh` on unix, `cmd.exe /C` on Windows).
    pub shell: Option<String>,
    /// Default working directory: `config_dir` (the husky.yaml directory) or a path.
    pub working_dir: String,
    /// Memory limit per job in MiB (0: none).
    pub max_memory_mb: u64,
    /// Open-file limit per job (0: none).
    pub max_open_files: u64,
    /// Process limit per job (0: none).
    pub max_pids: u64,
    /// Environment added to every job (below job `env`).
    pub global_env: Vec<(String, String)>,
    /// Between SIGTERM and SIGKILL when a run is stopped.
    pub kill_grace: time::Duration,
}

/// `metrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsConfig {
    /// Serve metrics.
    pub enabled: bool,
    /// Listener.
    pub addr: String,
    /// Path.
    pub path: String,
    /// Require API auth.
    pub auth: bool,
}

/// `tracing`.
#[derive(Debug, Clone, PartialEq)]
pub struct TracingConfig {
    /// Export traces.
    pub enabled: bool,
    /// `otlp`, `jaeger`, `zipkin` or `stdout`.
    pub exporter: String,
    /// Collector endpoint.
    pub endpoint: Option<String>,
    /// Service name.
    pub service_name: String,
    /// Fraction of runs traced (0–1).
    pub sample_rate: f64,
}

/// `secrets` (accepted for compatibility; only `env` is used).
#[derive(Debug, Clone, PartialEq)]
pub struct SecretsConfig {
    /// `env`, `vault`, `aws_ssm`, `aws_secrets_manager` or `gcp_secret_manager`.
    pub provider: String,
    /// Settings of each provider block, by block name.
    pub providers: BTreeMap<String, BTreeMap<String, String>>,
}

/// `alerts`: channels for daemon-level events.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertsConfig {
    /// When the daemon starts.
    pub on_daemon_start: Vec<String>,
    /// When a job breaches its SLA and defines no channel itself.
    pub on_sla_breach: Vec<String>,
    /// When shutdown had to kill jobs.
    pub on_forced_kill: Vec<String>,
    /// How long an undelivered notification is retried, across restarts (default 24h).
    pub give_up_after: time::Duration,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            on_daemon_start: Vec::new(),
            on_sla_breach: Vec::new(),
            on_forced_kill: Vec::new(),
            give_up_after: time::Duration::hours(24),
        }
    }
}

/// `dashboard`.
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardConfig {
    /// Serve the dashboard.
    pub enabled: bool,
    /// Page title.
    pub title: Option<String>,
    /// CSS colour.
    pub accent_color: Option<String>,
    /// Log lines sent when a log view opens.
    pub log_backfill_lines: u32,
    /// Refresh interval of polled views.
    pub poll_interval: time::Duration,
}

/// `http_client`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpClientConfig {
    /// Per-request timeout.
    pub timeout: time::Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Base delay between attempts.
    pub retry_backoff: time::Duration,
    /// HTTP(S) proxy URL.
    pub proxy: Option<String>,
    /// Extra CA bundle (PEM).
    pub ca_bundle: Option<String>,
}

/// `process`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessConfig {
    /// Run jobs as this user.
    pub user: Option<String>,
    /// Run jobs as this group.
    pub group: Option<String>,
    /// Extra pid file.
    pub pid_file: Option<String>,
    /// `RLIMIT_NOFILE` of the daemon (0: unchanged).
    pub ulimit_nofile: u64,
    /// systemd watchdog ping interval (`None`: from `WATCHDOG_USEC`).
    pub watchdog_interval: Option<time::Duration>,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            path: None,
            api: ApiConfig {
                addr: "127.0.0.1:8420".into(),
                addr_explicit: false,
                base_path: String::new(),
                tls: TlsConfig::default(),
                cors: CorsConfig::default(),
                timeouts: ApiTimeouts {
                    read_header: time::Duration::seconds(5),
                    read: time::Duration::seconds(30),
                    write: time::Duration::seconds(60),
                    idle: time::Duration::seconds(120),
                },
                max_connections: 128,
                max_websockets: 64,
            },
            auth: AuthConfig {
                kind: AuthType::None,
                token_file: None,
                token: None,
                users: Vec::new(),
                oidc: BTreeMap::new(),
                rbac: Vec::new(),
            },
            log: LogConfig {
                level: LogLevel::Info,
                format: LogFormat::Text,
                output: LogOutput::Stdout,
                file: LogFile {
                    path: None,
                    max_size_mb: 100,
                    max_backups: 5,
                    max_age_days: 30,
                    compress: false,
                },
                audit_log: AuditLog { enabled: false, path: None, max_size_mb: 50, max_backups: 5 },
            },
            storage: StorageConfig {
                sqlite_path: None,
                wal_autocheckpoint: 1000,
                busy_timeout: time::Duration::seconds(5),
                retention_max_age: None,
                retention_max_runs_per_job: None,
                retention_keep_last_failures: 0,
                retention_max_log_bytes_per_run: Some(DEFAULT_MAX_LOG_BYTES_PER_RUN),
                retention_max_total_bytes: Some(DEFAULT_MAX_TOTAL_BYTES),
            },
            scheduler: SchedulerConfig {
                max_concurrent_jobs: 32,
                catchup_window: time::Duration::hours(24),
                shutdown_timeout: time::Duration::seconds(60),
                schedule_jitter: time::Duration::ZERO,
            },
            executor: ExecutorConfig {
                pool_size: None,
                shell: None,
                working_dir: "config_dir".into(),
                max_memory_mb: 0,
                max_open_files: 0,
                max_pids: 0,
                global_env: Vec::new(),
                kill_grace: time::Duration::seconds(10),
            },
            metrics: MetricsConfig {
                enabled: false,
                addr: "127.0.0.1:9091".into(),
                path: "/metrics".into(),
                auth: false,
            },
            tracing: TracingConfig {
                enabled: false,
                exporter: "otlp".into(),
                endpoint: None,
                service_name: "huskyd".into(),
                sample_rate: 0.1,
            },
            secrets: SecretsConfig { provider: "env".into(), providers: BTreeMap::new() },
            alerts: AlertsConfig::default(),
            dashboard: DashboardConfig {
                enabled: true,
                title: None,
                accent_color: None,
                log_backfill_lines: 200,
                poll_interval: time::Duration::seconds(5),
            },
            http_client: HttpClientConfig {
                timeout: time::Duration::seconds(15),
                max_retries: 3,
                retry_backoff: time::Duration::seconds(2),
                proxy: None,
                ca_bundle: None,
            },
            process: ProcessConfig {
                user: None,
                group: None,
                pid_file: None,
                ulimit_nofile: 0,
                watchdog_interval: None,
            },
        }
    }
}

const SECTIONS: &[&str] = &[
    "api",
    "auth",
    "log",
    "storage",
    "scheduler",
    "executor",
    "metrics",
    "tracing",
    "secrets",
    "alerts",
    "dashboard",
    "http_client",
    "process",
];
const SECRET_BLOCKS: &[(&str, &[&str])] = &[
    ("vault", &["addr", "token_file", "mount", "path_prefix"]),
    ("aws_ssm", &["region", "path_prefix", "access_key_id"]),
    ("aws_secrets_manager", &["region", "access_key_id"]),
    ("gcp_secret_manager", &["project_id"]),
];
const OIDC_KEYS: &[&str] =
    &["issuer", "client_id", "audience", "jwks_uri", "role_claim", "default_role"];
const HTTP_METHODS: &[&str] = &["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "*"];

pub(super) fn validate(path: &Path, text: &str) -> (Option<DaemonConfig>, Diagnostics) {
    let mut d = Diagnostics::new(path);
    let mut cfg = DaemonConfig { path: Some(path.to_path_buf()), ..DaemonConfig::default() };
    if text.trim().is_empty()
        || text.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return (Some(cfg), d);
    }
    let root = match super::yaml::parse(text) {
        Ok(p) => p.root,
        Err(e) => {
            d.error(e.pos, Scope::Top, "", e.message);
            return (None, d);
        }
    };
    let Some(root) = root.filter(|r| r.value != Value::Null) else {
        return (Some(cfg), d);
    };
    let Some(entries) = root.as_map() else {
        type_error(&mut d, Scope::Top, "", &root, "a mapping of sections");
        return (None, d);
    };
    let top = Map {
        entries,
        scope: Scope::Top,
        prefix: String::new(),
        pos: super::yaml::Pos { line: 1, column: 1 },
    };
    top.check_keys(&mut d, SECTIONS);
    let r = &mut Reader { d: &mut d };
    if let Some(m) = r.section(
        &top,
        "api",
        &["addr", "base_path", "tls", "cors", "timeouts", "max_connections", "max_websockets"],
    ) {
        read_api(r, &m, &mut cfg.api);
    }
    if let Some(m) = r.section(&top, "auth", &["type", "bearer", "basic", "oidc", "rbac"]) {
        read_auth(r, &m, &mut cfg.auth);
    }
    if let Some(m) = r.section(&top, "log", &["level", "format", "output", "file", "audit_log"]) {
        read_log(r, &m, &mut cfg.log);
    }
    if let Some(m) = r.section(&top, "storage", &["engine", "sqlite", "retention"]) {
        read_storage(r, &m, &mut cfg.storage);
    }
    if let Some(m) = r.section(
        &top,
        "scheduler",
        &["max_concurrent_jobs", "catchup_window", "shutdown_timeout", "schedule_jitter"],
    ) {
        let s = &mut cfg.scheduler;
        s.max_concurrent_jobs = r.u32(&m, "max_concurrent_jobs", 1, s.max_concurrent_jobs);
        s.catchup_window = r.duration(&m, "catchup_window", true, s.catchup_window);
        s.shutdown_timeout = r.duration(&m, "shutdown_timeout", true, s.shutdown_timeout);
        s.schedule_jitter = r.duration(&m, "schedule_jitter", true, s.schedule_jitter);
    }
    if let Some(m) = r.section(
        &top,
        "executor",
        &["pool_size", "shell", "working_dir", "resource_limits", "global_env", "kill_grace"],
    ) {
        read_executor(r, &m, &mut cfg.executor);
    }
    if let Some(m) = r.section(&top, "metrics", &["enabled", "addr", "path", "auth"]) {
        let x = &mut cfg.metrics;
        x.enabled = m.bool(r.d, "enabled").unwrap_or(x.enabled);
        x.addr = r.addr(&m, "addr").unwrap_or_else(|| x.addr.clone());
        x.path = r.string(&m, "path").unwrap_or_else(|| x.path.clone());
        x.auth = m.bool(r.d, "auth").unwrap_or(x.auth);
    }
    if let Some(m) = r.section(
        &top,
        "tracing",
        &["enabled", "exporter", "endpoint", "service_name", "sample_rate"],
    ) {
        let t = &mut cfg.tracing;
        t.enabled = m.bool(r.d, "enabled").unwrap_or(t.enabled);
        t.exporter = r
            .choice(&m, "exporter", &["otlp", "jaeger", "zipkin", "stdout"])
            .unwrap_or_else(|| t.exporter.clone());
        t.endpoint = r.string(&m, "endpoint");
        t.service_name = r.string(&m, "service_name").unwrap_or_else(|| t.service_name.clone());
        t.sample_rate = r.fraction(&m, "sample_rate").unwrap_or(t.sample_rate);
    }
    if let Some(m) = r.section(
        &top,
        "secrets",
        &["provider", "vault", "aws_ssm", "aws_secrets_manager", "gcp_secret_manager"],
    ) {
        let names = ["env", "vault", "aws_ssm", "aws_secrets_manager", "gcp_secret_manager"];
        cfg.secrets.provider =
            r.choice(&m, "provider", &names).unwrap_or_else(|| cfg.secrets.provider.clone());
        for (block, keys) in SECRET_BLOCKS {
            if let Some(b) = r.section(&m, block, keys) {
                cfg.secrets.providers.insert((*block).to_owned(), r.strings(&b, keys));
            }
        }
    }
    if let Some(m) = r.section(
        &top,
        "alerts",
        &["on_daemon_start", "on_sla_breach", "on_forced_kill", "give_up_after"],
    ) {
        let list = |r: &mut Reader<'_>, key| {
            m.str_list(r.d, key)
                .unwrap_or_default()
                .into_iter()
                .map(|(s, _)| s.to_owned())
                .collect()
        };
        cfg.alerts.on_daemon_start = list(r, "on_daemon_start");
        cfg.alerts.on_sla_breach = list(r, "on_sla_breach");
        cfg.alerts.on_forced_kill = list(r, "on_forced_kill");
        cfg.alerts.give_up_after = r.duration(&m, "give_up_after", false, cfg.alerts.give_up_after);
    }
    if let Some(m) = r.section(
        &top,
        "dashboard",
        &["enabled", "title", "accent_color", "log_backfill_lines", "poll_interval"],
    ) {
        let x = &mut cfg.dashboard;
        x.enabled = m.bool(r.d, "enabled").unwrap_or(x.enabled);
        x.title = r.string(&m, "title");
        x.accent_color = r.string(&m, "accent_color");
        x.log_backfill_lines = r.u32(&m, "log_backfill_lines", 0, x.log_backfill_lines);
        x.poll_interval = r.duration(&m, "poll_interval", false, x.poll_interval);
    }
    if let Some(m) = r.section(
        &top,
        "http_client",
        &["timeout", "max_retries", "retry_backoff", "proxy", "ca_bundle"],
    ) {
        let h = &mut cfg.http_client;
        h.timeout = r.duration(&m, "timeout", false, h.timeout);
        h.max_retries = r.u32(&m, "max_retries", 0, h.max_retries);
        h.retry_backoff = r.duration(&m, "retry_backoff", true, h.retry_backoff);
        h.proxy = r.string(&m, "proxy");
        h.ca_bundle = r.string(&m, "ca_bundle");
    }
    if let Some(m) = r.section(
        &top,
        "process",
        &["user", "group", "pid_file", "ulimit_nofile", "watchdog_interval"],
    ) {
        let p = &mut cfg.process;
        p.user = r.string(&m, "user");
        p.group = r.string(&m, "group");
        p.pid_file = r.string(&m, "pid_file");
        p.ulimit_nofile = r.u64(&m, "ulimit_nofile", 0, p.ulimit_nofile);
        p.watchdog_interval = m
            .get("watchdog_interval")
            .map(|_| r.duration(&m, "watchdog_interval", false, time::Duration::ZERO));
    }
    let ok = !d.has_errors();
    (ok.then_some(cfg), d)
}

fn read_api(r: &mut Reader<'_>, m: &Map<'_, '_>, api: &mut ApiConfig) {
    api.max_websockets = r.u32(m, "max_websockets", 0, api.max_websockets);
    if let Some(addr) = r.addr(m, "addr") {
        api.addr = addr;
        api.addr_explicit = true;
    }
    if let Some((bp, pos)) = m.str(r.d, "base_path") {
        let trimmed = bp.trim_end_matches('/');
        if !trimmed.is_empty() && !trimmed.starts_with('/') {
            r.d.error(pos, Scope::Top, "api.base_path", format!("{bp:?} must start with /"))
                .hint(format!("write \"/{trimmed}\""));
        }
        api.base_path = trimmed.to_owned();
    }
    if let Some(t) = r.section(m, "tls", &["enabled", "cert", "key", "min_version", "client_ca"]) {
        let tls = &mut api.tls;
        tls.enabled = t.bool(r.d, "enabled").unwrap_or(false);
        tls.cert = r.file(&t, "cert");
        tls.key = r.file(&t, "key");
        tls.client_ca = r.file(&t, "client_ca");
        if let Some(v) = r.choice(&t, "min_version", &["1.2", "1.3"]) {
            tls.min_version = if v == "1.3" { TlsVersion::V1_3 } else { TlsVersion::V1_2 };
        }
        if tls.enabled {
            for key in ["cert", "key"] {
                if t.get(key).is_none() {
                    r.d.error(
                        t.pos,
                        Scope::Top,
                        &t.field(key),
                        "field is required when api.tls.enabled is true",
                    );
                }
            }
        }
    }
    if let Some(c) = r.section(m, "cors", &["allowed_origins", "allow_credentials"]) {
        api.cors.allowed_origins = c
            .str_list(r.d, "allowed_origins")
            .unwrap_or_default()
            .into_iter()
            .map(|(s, _)| s.to_owned())
            .collect();
        api.cors.allow_credentials = c.bool(r.d, "allow_credentials").unwrap_or(false);
    }
    if let Some(t) = r.section(m, "timeouts", &["read_header", "read", "write", "idle"]) {
        let x = &mut api.timeouts;
        x.read_header = r.duration(&t, "read_header", false, x.read_header);
        x.read = r.duration(&t, "read", false, x.read);
        x.write = r.duration(&t, "write", false, x.write);
        x.idle = r.duration(&t, "idle", false, x.idle);
    }
    api.max_connections = r.u32(m, "max_connections", 1, api.max_connections);
}

fn read_auth(r: &mut Reader<'_>, m: &Map<'_, '_>, auth: &mut AuthConfig) {
    let kind = m.str(r.d, "type");
    if let Some((k, pos)) = kind {
        auth.kind = match k {
            "none" => AuthType::None,
            "bearer" => AuthType::Bearer,
            "basic" => AuthType::Basic,
            "oidc" => {
                r.d.error(pos, Scope::Top, "auth.type", "oidc is not supported by husky").hint(
                    "use bearer or basic, or put an OIDC-aware reverse proxy in front of husky",
                );
                AuthType::None
            }
            other => {
                let names = ["none", "bearer", "basic"];
                let diag = r.d.error(
                    pos,
                    Scope::Top,
                    "auth.type",
                    format!("unrecognised value {other:?} (accepted: none, bearer, basic)"),
                );
                if let Some(s) = suggest(other, names) {
                    diag.hint(format!("did you mean `{s}`?"));
                }
                AuthType::None
            }
        };
    }
    if let Some(b) = r.section(m, "bearer", &["token_file", "token"]) {
        auth.token_file = r.string(&b, "token_file").filter(|t| !t.trim().is_empty());
        auth.token = r.string(&b, "token").filter(|t| !t.trim().is_empty());
    }
    if let Some(b) = r.section(m, "basic", &["users"]) {
        for u in b.map_list(r.d, "users", "a mapping with username and password_hash") {
            u.check_keys(r.d, &["username", "password_hash", "role"]);
            let username = r.required_string(&u, "username");
            let hash = r.required_string(&u, "password_hash").filter(|h| {
                let ok = h.starts_with("$2") && h.len() >= 60;
                if !ok {
                    let pos = u.get("password_hash").map_or(u.pos, |e| e.value.pos);
                    r.d.error(pos, Scope::Top, &u.field("password_hash"), "must be a bcrypt hash ($2a$/$2b$/$2y$..., 60 characters), not a plaintext password")
                        .hint("generate one with: htpasswd -nbBC 10 USER PASSWORD");
                }
                ok
            });
            let role = r.string(&u, "role");
            if let (Some(username), Some(password_hash)) = (username, hash) {
                auth.users.push(BasicUser { username, password_hash, role });
            }
        }
    }
    if let Some(o) = r.section(m, "oidc", OIDC_KEYS) {
        auth.oidc = r.strings(&o, OIDC_KEYS);
    }
    for rule in m.map_list(r.d, "rbac", "a mapping with role, methods and paths") {
        rule.check_keys(r.d, &["role", "methods", "paths"]);
        let role = r.required_string(&rule, "role");
        let mut methods = Vec::new();
        for (mth, pos) in rule.str_list(r.d, "methods").unwrap_or_default() {
            let upper = mth.to_ascii_uppercase();
            if HTTP_METHODS.contains(&upper.as_str()) {
                methods.push(upper);
            } else {
                r.d.error(
                    pos,
                    Scope::Top,
                    &rule.field("methods"),
                    format!("unknown HTTP method {mth:?}"),
                );
            }
        }
        let paths = rule
            .str_list(r.d, "paths")
            .unwrap_or_default()
            .into_iter()
            .map(|(s, _)| s.to_owned())
            .collect();
        if let Some(role) = role {
            auth.rbac.push(RbacRule { role, methods, paths });
        }
    }
    match auth.kind {
        AuthType::Bearer if auth.token.is_none() && auth.token_file.is_none() => {
            let pos = kind.map_or(m.pos, |(_, p)| p);
            r.d.error(
                pos,
                Scope::Top,
                "auth.bearer",
                "bearer auth needs auth.bearer.token_file or auth.bearer.token",
            )
            .hint("put one token per line in a file readable only by husky and set token_file");
        }
        AuthType::Basic if auth.users.is_empty() && !r.d.has_errors() => {
            let pos = kind.map_or(m.pos, |(_, p)| p);
            r.d.error(pos, Scope::Top, "auth.basic.users", "basic auth needs at least one user");
        }
        _ => {}
    }
}

fn read_log(r: &mut Reader<'_>, m: &Map<'_, '_>, log: &mut LogConfig) {
    if let Some(v) = r.choice(m, "level", &["debug", "info", "warn", "error"]) {
        log.level = match v.as_str() {
            "debug" => LogLevel::Debug,
            "warn" => LogLevel::Warn,
            "error" => LogLevel::Error,
            _ => LogLevel::Info,
        };
    }
    if let Some(v) = r.choice(m, "format", &["text", "json"]) {
        log.format = if v == "json" { LogFormat::Json } else { LogFormat::Text };
    }
    let output = m.get("output").map(|e| e.value.pos);
    if let Some(v) = r.choice(m, "output", &["stdout", "stderr", "file"]) {
        log.output = match v.as_str() {
            "stderr" => LogOutput::Stderr,
            "file" => LogOutput::File,
            _ => LogOutput::Stdout,
        };
    }
    if let Some(f) =
        r.section(m, "file", &["path", "max_size_mb", "max_backups", "max_age_days", "compress"])
    {
        let x = &mut log.file;
        x.path = r.string(&f, "path");
        x.max_size_mb = nonzero_or(r.u32(&f, "max_size_mb", 0, 0), 100);
        x.max_backups = nonzero_or(r.u32(&f, "max_backups", 0, 0), 5);
        x.max_age_days = nonzero_or(r.u32(&f, "max_age_days", 0, 0), 30);
        x.compress = f.bool(r.d, "compress").unwrap_or(false);
    }
    if log.output == LogOutput::File && log.file.path.is_none() {
        r.d.error(
            output.unwrap_or(m.pos),
            Scope::Top,
            "log.file.path",
            "field is required when log.output is file",
        );
    }
    if let Some(a) = r.section(m, "audit_log", &["enabled", "path", "max_size_mb", "max_backups"]) {
        let x = &mut log.audit_log;
        x.enabled = a.bool(r.d, "enabled").unwrap_or(false);
        x.path = r.string(&a, "path");
        x.max_size_mb = nonzero_or(r.u32(&a, "max_size_mb", 0, 0), 50);
        x.max_backups = nonzero_or(r.u32(&a, "max_backups", 0, 0), 5);
        if x.enabled && x.path.is_none() {
            r.d.error(
                a.pos,
                Scope::Top,
                "log.audit_log.path",
                "field is required when log.audit_log.enabled is true",
            );
        }
    }
}

fn nonzero_or(v: u32, default: u32) -> u32 {
    if v == 0 { default } else { v }
}

fn read_storage(r: &mut Reader<'_>, m: &Map<'_, '_>, s: &mut StorageConfig) {
    if let Some((engine, pos)) = m.str(r.d, "engine") {
        match engine {
            "sqlite" => {}
            "postgres" | "postgresql" | "mysql" => {
                r.d.error(
                    pos,
                    Scope::Top,
                    "storage.engine",
                    format!("{engine} is not supported; husky stores its state in SQLite"),
                )
                .hint("remove storage.engine or set it to sqlite");
            }
            other => {
                r.d.error(
                    pos,
                    Scope::Top,
                    "storage.engine",
                    format!("unrecognised value {other:?} (accepted: sqlite)"),
                );
            }
        }
    }
    if let Some(q) = r.section(m, "sqlite", &["path", "wal_autocheckpoint", "busy_timeout"]) {
        s.sqlite_path = r.string(&q, "path");
        s.wal_autocheckpoint = r.u32(&q, "wal_autocheckpoint", 0, s.wal_autocheckpoint);
        s.busy_timeout = r.duration(&q, "busy_timeout", true, s.busy_timeout);
    }
    if let Some(q) = r.section(
        m,
        "retention",
        &[
            "max_age",
            "max_runs_per_job",
            "keep_last_failures",
            "max_log_bytes_per_run",
            "max_total_bytes",
        ],
    ) {
        if q.get("max_age").is_some() {
            s.retention_max_age = Some(r.duration(&q, "max_age", false, time::Duration::ZERO))
                .filter(|d| !d.is_zero());
        }
        if q.get("max_runs_per_job").is_some() {
            s.retention_max_runs_per_job =
                Some(r.u32(&q, "max_runs_per_job", 1, 0)).filter(|n| *n > 0);
        }
        s.retention_keep_last_failures =
            r.u32(&q, "keep_last_failures", 0, s.retention_keep_last_failures);
        // 0 means unlimited.
        if let Some(n) = r.size(&q, "max_log_bytes_per_run") {
            s.retention_max_log_bytes_per_run = (n > 0).then_some(n);
        }
        if let Some(n) = r.size(&q, "max_total_bytes") {
            s.retention_max_total_bytes = (n > 0).then_some(n);
        }
    }
}

fn read_executor(r: &mut Reader<'_>, m: &Map<'_, '_>, x: &mut ExecutorConfig) {
    if m.get("pool_size").is_some() {
        x.pool_size = Some(r.u32(m, "pool_size", 1, 0)).filter(|n| *n > 0);
    }
    x.shell = r.string(m, "shell").filter(|s| !s.trim().is_empty());
    x.working_dir = r.string(m, "working_dir").unwrap_or_else(|| x.working_dir.clone());
    x.kill_grace = r.duration(m, "kill_grace", true, x.kill_grace);
    if let Some(l) =
        r.section(m, "resource_limits", &["max_memory_mb", "max_open_files", "max_pids"])
    {
        x.max_memory_mb = r.u64(&l, "max_memory_mb", 0, x.max_memory_mb);
        x.max_open_files = r.u64(&l, "max_open_files", 0, x.max_open_files);
        x.max_pids = r.u64(&l, "max_pids", 0, x.max_pids);
    }
    if let Some(pairs) = m.str_map(r.d, "global_env") {
        x.global_env = pairs.into_iter().map(|(e, v)| (e.key.clone(), v.to_owned())).collect();
    }
}

/// Whether `raw` is a plain decimal integer outside the range of `i64`.
fn is_huge_integer(raw: &str) -> bool {
    let digits = raw.strip_prefix(['-', '+']).unwrap_or(raw);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && raw.parse::<i64>().is_err()
}

/// Field readers that fall back to a default after recording a diagnostic.
struct Reader<'d> {
    d: &'d mut Diagnostics,
}

impl Reader<'_> {
    fn section<'n, 's>(
        &mut self,
        m: &Map<'n, 's>,
        key: &str,
        allowed: &[&str],
    ) -> Option<Map<'n, 's>> {
        let (entries, pos) = m.map(self.d, key)?;
        let section = Map { entries, scope: Scope::Top, prefix: m.field(key), pos };
        section.check_keys(self.d, allowed);
        Some(section)
    }

    fn string(&mut self, m: &Map<'_, '_>, key: &str) -> Option<String> {
        m.str(self.d, key).map(|(s, _)| s.to_owned())
    }

    fn required_string(&mut self, m: &Map<'_, '_>, key: &str) -> Option<String> {
        let e = m.require(self.d, key)?;
        super::read::string(self.d, Scope::Top, &m.field(key), &e.value).map(str::to_owned)
    }

    fn strings(&mut self, m: &Map<'_, '_>, keys: &[&str]) -> BTreeMap<String, String> {
        keys.iter().filter_map(|k| Some(((*k).to_owned(), self.string(m, k)?))).collect()
    }

    fn u32(&mut self, m: &Map<'_, '_>, key: &str, min: u32, default: u32) -> u32 {
        m.int(self.d, key, i64::from(min), i64::from(u32::MAX))
            .map_or(default, |(v, _)| u32::try_from(v).unwrap_or(default))
    }

    fn u64(&mut self, m: &Map<'_, '_>, key: &str, min: u64, default: u64) -> u64 {
        let min = i64::try_from(min).unwrap_or(0);
        m.int(self.d, key, min, i64::MAX)
            .map_or(default, |(v, _)| u64::try_from(v).unwrap_or(default))
    }

    fn duration(
        &mut self,
        m: &Map<'_, '_>,
        key: &str,
        allow_zero: bool,
        default: time::Duration,
    ) -> time::Duration {
        let Some(e) = m.get(key) else { return default };
        let field = m.field(key);
        let Some(text) = e.value.as_str() else {
            let diag = type_error(self.d, Scope::Top, &field, &e.value, "a duration string");
            if let Value::Int(n) = e.value.value {
                diag.hint(format!("add a unit: {key}: {n}s"));
            }
            return default;
        };
        match parse_duration(text) {
            Ok(v) if v < time::Duration::ZERO || (!allow_zero && v.is_zero()) => {
                let bound = if allow_zero { "negative" } else { "zero or negative" };
                self.d.error(
                    e.value.pos,
                    Scope::Top,
                    &field,
                    format!("{text:?} must not be {bound}"),
                );
                default
            }
            Ok(v) => v,
            Err(err) => {
                self.d
                    .error(
                        e.value.pos,
                        Scope::Top,
                        &field,
                        format!("invalid duration {text:?}: {err}"),
                    )
                    .hint("durations look like 90s, 15m, 1h30m, 30d (units: ms s m h d w)");
                default
            }
        }
    }

    /// A size in bytes: a whole number, or a string with a unit (`512KiB`, `10 MiB`). `None` when
    /// absent or invalid (after a diagnostic whose hint lists the units).
    fn size(&mut self, m: &Map<'_, '_>, key: &str) -> Option<u64> {
        let e = m.get(key)?;
        let field = m.field(key);
        let node = &e.value;
        let units = format!(
            "a size is a whole number of bytes or a number and a unit, e.g. 512KiB or 10 MiB; \
             units: {SIZE_UNITS}"
        );
        match &node.value {
            Value::Int(n) => match u64::try_from(*n) {
                Ok(v) => return Some(v),
                Err(_) => {
                    self.d
                        .error(
                            node.pos,
                            Scope::Top,
                            &field,
                            format!("{n} is out of range (minimum 0)"),
                        )
                        .hint(units);
                }
            },
            // A whole number too large for a YAML integer is read as a float.
            Value::Float(_) if is_huge_integer(&node.raw) => {
                let bound = if node.raw.starts_with('-') {
                    "minimum 0".to_owned()
                } else {
                    format!("maximum {MAX_SIZE}")
                };
                self.d
                    .error(
                        node.pos,
                        Scope::Top,
                        &field,
                        format!("{} is out of range ({bound})", node.raw),
                    )
                    .hint(units);
            }
            Value::Str(text) => match parse_size(text) {
                Ok(v) => return Some(v),
                Err(SizeError::Overflow) => {
                    self.d
                        .error(
                            node.pos,
                            Scope::Top,
                            &field,
                            format!("{text:?} is out of range (at most {MAX_SIZE} bytes)"),
                        )
                        .hint(units);
                }
                Err(err) => {
                    let diag = self.d.error(
                        node.pos,
                        Scope::Top,
                        &field,
                        format!("invalid size {text:?}: {err}"),
                    );
                    let fixed = match &err {
                        SizeError::UnknownUnit { unit } => unit_ignoring_case(unit)
                            .map(|u| format!("{}{u}", &text[..text.len() - unit.len()])),
                        _ => None,
                    };
                    match fixed {
                        Some(f) => diag.hint(format!(
                            "did you mean `{f}`? units are case-sensitive: {SIZE_UNITS}"
                        )),
                        None => diag.hint(units),
                    };
                }
            },
            _ => {
                type_error(
                    self.d,
                    Scope::Top,
                    &field,
                    node,
                    "a size (bytes, or a string like 10 MiB)",
                )
                .hint(units);
            }
        }
        None
    }

    fn choice(&mut self, m: &Map<'_, '_>, key: &str, choices: &[&str]) -> Option<String> {
        let e = m.get(key)?;
        if let Value::Float(_) = e.value.value
            && choices.contains(&e.value.raw.as_str())
        {
            type_error(self.d, Scope::Top, &m.field(key), &e.value, "a string")
                .hint(format!("quote it: {key}: \"{}\"", e.value.raw));
            return None;
        }
        let (text, pos) = m.str(self.d, key)?;
        if choices.contains(&text) {
            return Some(text.to_owned());
        }
        let diag = self.d.error(
            pos,
            Scope::Top,
            &m.field(key),
            format!("unrecognised value {text:?} (accepted: {})", choices.join(", ")),
        );
        if let Some(exact) = choices.iter().find(|c| c.eq_ignore_ascii_case(text)) {
            diag.hint(format!("values are lowercase: `{exact}`"));
        } else if let Some(s) = suggest(text, choices.iter().copied()) {
            diag.hint(format!("did you mean `{s}`?"));
        }
        None
    }

    fn fraction(&mut self, m: &Map<'_, '_>, key: &str) -> Option<f64> {
        let e = m.get(key)?;
        let v = match e.value.value {
            Value::Float(f) => f,
            Value::Int(i) => i as f64,
            _ => {
                type_error(self.d, Scope::Top, &m.field(key), &e.value, "a number from 0 to 1");
                return None;
            }
        };
        if !(0.0..=1.0).contains(&v) {
            self.d.error(
                e.value.pos,
                Scope::Top,
                &m.field(key),
                format!("{} is out of range (0-1)", e.value.raw),
            );
            return None;
        }
        Some(v)
    }

    /// A `host:port` listener address.
    fn addr(&mut self, m: &Map<'_, '_>, key: &str) -> Option<String> {
        let (text, pos) = m.str(self.d, key)?;
        let port_ok = text
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok {
            self.d
                .error(
                    pos,
                    Scope::Top,
                    &m.field(key),
                    format!("{text:?} is not a host:port address"),
                )
                .hint("e.g. 127.0.0.1:8420, 0.0.0.0:8420 or [::1]:8420");
            return None;
        }
        Some(text.to_owned())
    }

    /// A path to a file that should exist; a missing file is a warning (it may exist on the
    /// machine that runs the daemon).
    fn file(&mut self, m: &Map<'_, '_>, key: &str) -> Option<String> {
        let (text, pos) = m.str(self.d, key)?;
        if !Path::new(text).exists() {
            self.d.warning(
                pos,
                Scope::Top,
                &m.field(key),
                format!("{text:?} does not exist on this machine"),
            );
        }
        Some(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::format_duration;

    fn storage(retention: &str) -> (Option<StorageConfig>, Vec<String>) {
        let (cfg, diags) = daemon(&format!("storage:\n  retention:\n{retention}"));
        (cfg.map(|c| c.storage), diags)
    }

    /// The config when valid, and every diagnostic as `LINE:COL PATH: MESSAGE | HINT`.
    fn daemon(text: &str) -> (Option<DaemonConfig>, Vec<String>) {
        let (cfg, d) = validate(Path::new("huskyd.yaml"), text);
        let diags = d
            .into_sorted()
            .iter()
            .map(|d| {
                let hint = d.hint.as_deref().map(|h| format!(" | {h}")).unwrap_or_default();
                let pos = d.pos.map(|p| format!("{}:{}", p.line, p.column)).unwrap_or_default();
                format!("{pos} {}: {}{hint}", d.path(), d.message)
            })
            .collect();
        (cfg, diags)
    }

    #[track_caller]
    fn check_alerts(alerts: &str, expected: &str) {
        let (cfg, diags) = daemon(&format!("alerts:\n{alerts}"));
        match cfg {
            Some(c) => {
                assert_eq!(diags, Vec::<String>::new());
                assert_eq!(format_duration(c.alerts.give_up_after), expected, "{alerts:?}");
            }
            None => assert_eq!(diags, [expected], "{alerts:?}"),
        }
    }

    #[test]
    fn alerts_give_up_after() {
        assert_eq!(DaemonConfig::default().alerts.give_up_after, time::Duration::hours(24));
        check_alerts("  on_daemon_start: [\"slack:#ops\"]\n", "24h");
        check_alerts("  give_up_after: 2d\n", "48h");
        check_alerts("  give_up_after: 90m\n", "1h30m");
        check_alerts("  give_up_after: ~\n", "24h");
        check_alerts(
            "  give_up_after: 0s\n",
            "2:18 alerts.give_up_after: \"0s\" must not be zero or negative",
        );
        check_alerts(
            "  give_up_after: 12\n",
            "2:18 alerts.give_up_after: expected a duration string, got a number (12) \
             | add a unit: give_up_after: 12s",
        );
        check_alerts(
            "  give_up_after: soon\n",
            "2:18 alerts.give_up_after: invalid duration \"soon\": not a duration | \
             durations look like 90s, 15m, 1h30m, 30d (units: ms s m h d w)",
        );
        check_alerts(
            "  give_up_afer: 1h\n",
            "2:3 alerts.give_up_afer: unknown field | did you mean `give_up_after`?",
        );
    }

    #[track_caller]
    fn retention_error(retention: &str, expected: &str, hint: &str) {
        let (cfg, diags) = storage(retention);
        assert!(cfg.is_none(), "{retention:?} should be invalid");
        assert_eq!(diags.len(), 1, "{diags:?}");
        let (got, got_hint) = diags[0].split_once(" | ").expect("a hint");
        assert_eq!(got, expected);
        assert!(got_hint.contains(hint), "hint {got_hint:?} lacks {hint:?}");
    }

    #[test]
    fn retention_defaults() {
        let s = DaemonConfig::default().storage;
        assert_eq!(s.retention_keep_last_failures, 0);
        assert_eq!(s.retention_max_log_bytes_per_run, Some(10_485_760));
        assert_eq!(s.retention_max_total_bytes, Some(1_073_741_824));
        let (cfg, diags) = storage("    max_age: 30d\n");
        assert_eq!(diags, Vec::<String>::new());
        assert_eq!(cfg.expect("valid").retention_max_log_bytes_per_run, Some(10_485_760));
    }

    #[test]
    fn retention_sizes_in_both_forms() {
        let (cfg, diags) = storage(
            "    keep_last_failures: 5\n    max_log_bytes_per_run: 512KiB\n    max_total_bytes: 10 GB\n",
        );
        assert_eq!(diags, Vec::<String>::new());
        let s = cfg.expect("valid");
        assert_eq!(s.retention_keep_last_failures, 5);
        assert_eq!(s.retention_max_log_bytes_per_run, Some(524_288));
        assert_eq!(s.retention_max_total_bytes, Some(10_000_000_000));
        let (cfg, _) = storage("    max_log_bytes_per_run: 4096\n    max_total_bytes: \"1 MiB\"\n");
        let s = cfg.expect("valid");
        assert_eq!(s.retention_max_log_bytes_per_run, Some(4096));
        assert_eq!(s.retention_max_total_bytes, Some(1_048_576));
    }

    #[test]
    fn zero_means_unlimited() {
        let (cfg, _) = storage("    max_log_bytes_per_run: 0\n    max_total_bytes: 0 GiB\n");
        let s = cfg.expect("valid");
        assert_eq!(s.retention_max_log_bytes_per_run, None);
        assert_eq!(s.retention_max_total_bytes, None);
    }

    #[test]
    fn bad_sizes_are_located_with_a_units_hint() {
        let units = "units: B, KB, MB, GB (powers of 1000) and KiB, MiB, GiB (powers of 1024)";
        retention_error(
            "    max_total_bytes: 1TB\n",
            "3:22 storage.retention.max_total_bytes: invalid size \"1TB\": unknown unit \"TB\"",
            units,
        );
        retention_error(
            "    max_log_bytes_per_run: 10 mib\n",
            "3:28 storage.retention.max_log_bytes_per_run: invalid size \"10 mib\": unknown unit \"mib\"",
            "did you mean `10 MiB`? units are case-sensitive: B, KB, MB, GB",
        );
        retention_error(
            "    max_total_bytes: -1\n",
            "3:22 storage.retention.max_total_bytes: -1 is out of range (minimum 0)",
            units,
        );
        retention_error(
            "    max_total_bytes: \"-5MB\"\n",
            "3:22 storage.retention.max_total_bytes: invalid size \"-5MB\": sizes cannot be negative",
            units,
        );
        retention_error(
            "    max_total_bytes: 99999999999999999999\n",
            "3:22 storage.retention.max_total_bytes: 99999999999999999999 is out of range \
             (maximum 9223372036854775807)",
            units,
        );
        retention_error(
            "    max_total_bytes: 9000000000 GiB\n",
            "3:22 storage.retention.max_total_bytes: \"9000000000 GiB\" is out of range \
             (at most 9223372036854775807 bytes)",
            units,
        );
        retention_error(
            "    max_total_bytes: \"1024\"\n",
            "3:22 storage.retention.max_total_bytes: invalid size \"1024\": missing unit after \"1024\"",
            units,
        );
        retention_error(
            "    max_total_bytes: 1.5GiB\n",
            "3:22 storage.retention.max_total_bytes: invalid size \"1.5GiB\": sizes are whole numbers",
            units,
        );
        retention_error(
            "    max_total_bytes: true\n",
            "3:22 storage.retention.max_total_bytes: expected a size (bytes, or a string like \
             10 MiB), got a boolean (true)",
            units,
        );
        retention_error(
            "    max_log_bytes_per_run: [1, MiB]\n",
            "3:28 storage.retention.max_log_bytes_per_run: expected a size (bytes, or a string \
             like 10 MiB), got a list",
            units,
        );
    }

    #[test]
    fn keep_last_failures_is_a_whole_number() {
        let (cfg, diags) = storage("    keep_last_failures: -1\n");
        assert!(cfg.is_none());
        assert_eq!(
            diags,
            ["3:25 storage.retention.keep_last_failures: -1 is out of range (0-4294967295)"]
        );
        let (_, diags) = storage("    keep_last_failures: \"3\"\n");
        assert_eq!(
            diags,
            ["3:25 storage.retention.keep_last_failures: expected a whole number, got a string"]
        );
        let (_, diags) = storage("    keep_last_failure: 3\n");
        assert_eq!(
            diags,
            [
                "3:5 storage.retention.keep_last_failure: unknown field | did you mean `keep_last_failures`?"
            ]
        );
    }
}
