//! The effective configuration as a YAML value in the files' own (snake_case) names, defaults
//! applied, secrets redacted unless asked: `husky config show`, and the API's job configs.

use serde_yaml::{Mapping, Value};

use super::{
    AttachLogs, Config, DaemonConfig, HealthcheckOnFail, Job, NotifyTarget, OnFailure, RetryDelay,
    format_duration, format_size,
};
use crate::config;

/// Whether secrets are printed.
#[derive(Debug, Clone, Copy)]
pub struct Secrets(pub bool);

impl Secrets {
    fn show(self, value: &str) -> Value {
        if self.0 || value.is_empty() { s(value) } else { s("***") }
    }
}

/// An ordered YAML mapping built field by field.
#[derive(Default)]
struct Obj(Mapping);

impl Obj {
    fn set(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.insert(s(key), value.into());
        self
    }
    fn opt(self, key: &str, value: Option<impl Into<Value>>) -> Self {
        match value {
            Some(v) => self.set(key, v),
            None => self,
        }
    }
}

impl From<Obj> for Value {
    fn from(o: Obj) -> Value {
        Value::Mapping(o.0)
    }
}

fn s(text: &str) -> Value {
    Value::String(text.to_owned())
}

fn dur(d: time::Duration) -> Value {
    s(&format_duration(d))
}

/// A size limit as huskyd.yaml writes it (`10 MiB`); unlimited is `0 B`.
fn size(limit: Option<u64>) -> Value {
    s(&format_size(limit.unwrap_or(0)))
}

fn list(items: &[String]) -> Value {
    Value::Sequence(items.iter().map(|i| s(i)).collect())
}

pub fn husky_view(c: &Config, secrets: Secrets) -> Value {
    let d = &c.defaults;
    let defaults = Obj::default()
        .set("timeout", dur(d.timeout))
        .set("retries", d.retries)
        .set("retry_delay", retry_delay(d.retry_delay))
        .set("on_failure", on_failure(d.on_failure))
        .set("default_run_time", s(&d.default_run_time.to_string()))
        .opt("timezone", d.timezone.as_deref().map(s))
        .opt("notify_on_failure", d.notify_on_failure);
    let mut integrations = Obj::default();
    for (name, i) in &c.integrations {
        let o = Obj::default()
            .set("provider", s(i.provider.name()))
            .opt("webhook_url", i.webhook_url.as_deref().map(|v| secrets.show(v)))
            .opt("routing_key", i.routing_key.as_deref().map(|v| secrets.show(v)))
            .opt("host", i.host.as_deref().map(s))
            .opt("port", (i.port != 0).then_some(i.port))
            .opt("username", i.username.as_deref().map(|v| secrets.show(v)))
            .opt("password", i.password.as_deref().map(|v| secrets.show(v)))
            .opt("from", i.from.as_deref().map(s))
            .opt("secret", i.secret.as_deref().map(|v| secrets.show(v)))
            .opt("url", i.url.as_deref().map(s));
        integrations = integrations.set(name, o);
    }
    let mut jobs = Obj::default();
    for job in &c.jobs {
        jobs = jobs.set(&job.name, job_obj(job, secrets));
    }
    Obj::default()
        .set("version", s("1"))
        .set("defaults", defaults)
        .set("integrations", integrations)
        .set("jobs", jobs)
        .into()
}

pub fn job_view(j: &Job, secrets: Secrets) -> Value {
    job_obj(j, secrets).into()
}

fn job_obj(j: &Job, secrets: Secrets) -> Obj {
    let mut env = Obj::default();
    for (k, v) in &j.env {
        env = env.set(k, secrets.show(v));
    }
    let mut notify = Obj::default();
    for (event, target) in [
        ("on_failure", &j.notify.on_failure),
        ("on_success", &j.notify.on_success),
        ("on_sla_breach", &j.notify.on_sla_breach),
        ("on_retry", &j.notify.on_retry),
    ] {
        notify = notify.opt(event, target.as_ref().map(|t| notify_view(t, secrets)));
    }
    let mut output = Obj::default();
    for (var, mode) in &j.output {
        output = output.set(var, s(&mode.to_string()));
    }
    let healthcheck = j.healthcheck.as_ref().map(|h| {
        let on_fail = match h.on_fail {
            HealthcheckOnFail::MarkFailed => "mark_failed",
            HealthcheckOnFail::WarnOnly => "warn_only",
        };
        Obj::default()
            .set("command", s(&h.command))
            .set("timeout", dur(h.timeout))
            .set("on_fail", s(on_fail))
    });
    let concurrency = match j.concurrency {
        config::Concurrency::Allow => "allow",
        config::Concurrency::Forbid => "forbid",
        config::Concurrency::Replace => "replace",
    };
    Obj::default()
        .set("description", s(&j.description))
        .set("frequency", s(j.frequency_raw.trim()))
        .opt("time", j.time.map(|t| s(&t.to_string())))
        .opt("timezone", j.timezone.as_deref().map(s))
        .set("command", s(&j.command))
        .opt("working_dir", j.working_dir.as_deref().map(s))
        .set("depends_on", list(&j.depends_on))
        .set("catchup", j.catchup)
        .set("concurrency", s(concurrency))
        .set("timeout", dur(j.timeout))
        .set("retries", j.retries)
        .set("retry_delay", retry_delay(j.retry_delay))
        .set("on_failure", on_failure(j.on_failure))
        .opt("sla", j.sla.map(dur))
        .set("tags", list(&j.tags))
        .set("env", env)
        .set("notify", notify)
        .opt("healthcheck", healthcheck)
        .set("output", output)
}

fn notify_view(t: &NotifyTarget, secrets: Secrets) -> Obj {
    let attach = match t.attach_logs {
        AttachLogs::None => "none".to_owned(),
        AttachLogs::All => "all".to_owned(),
        AttachLogs::Last(n) => format!("last_{n}_lines"),
    };
    Obj::default()
        // An ad-hoc webhook's URL is a credential: shown as its origin only.
        .set(
            "channel",
            if secrets.0 { s(&t.channel) } else { s(&crate::notify::redact::channel(&t.channel)) },
        )
        .opt("message", t.message.as_deref().map(s))
        .set("attach_logs", s(&attach))
        .set("only_after_failure", t.only_after_failure)
        .opt("cooldown", t.cooldown.map(dur))
}

fn retry_delay(r: RetryDelay) -> Value {
    match r {
        RetryDelay::Exponential => s("exponential"),
        RetryDelay::Fixed(d) => s(&format!("fixed:{}", format_duration(d))),
    }
}

fn on_failure(o: OnFailure) -> Value {
    s(match o {
        OnFailure::Alert => "alert",
        OnFailure::Skip => "skip",
        OnFailure::Stop => "stop",
        OnFailure::Ignore => "ignore",
    })
}

pub fn daemon_view(c: &DaemonConfig, secrets: Secrets) -> Value {
    use config::{AuthType, LogFormat, LogLevel, LogOutput, TlsVersion};
    let api = &c.api;
    let tls = Obj::default()
        .set("enabled", api.tls.enabled)
        .opt("cert", api.tls.cert.as_deref().map(s))
        .opt("key", api.tls.key.as_deref().map(s))
        .set("min_version", s(if api.tls.min_version == TlsVersion::V1_3 { "1.3" } else { "1.2" }))
        .opt("client_ca", api.tls.client_ca.as_deref().map(s));
    let t = &api.timeouts;
    let api_v = Obj::default()
        .set("addr", s(&api.addr))
        .set("base_path", s(&api.base_path))
        .set("tls", tls)
        .set(
            "cors",
            Obj::default()
                .set("allowed_origins", list(&api.cors.allowed_origins))
                .set("allow_credentials", api.cors.allow_credentials),
        )
        .set(
            "timeouts",
            Obj::default()
                .set("read_header", dur(t.read_header))
                .set("read", dur(t.read))
                .set("write", dur(t.write))
                .set("idle", dur(t.idle)),
        )
        .set("max_connections", api.max_connections)
        .set("max_websockets", api.max_websockets);
    let a = &c.auth;
    let users: Vec<Value> = a
        .users
        .iter()
        .map(|u| {
            Obj::default()
                .set("username", s(&u.username))
                .set("password_hash", secrets.show(&u.password_hash))
                .opt("role", u.role.as_deref().map(s))
                .into()
        })
        .collect();
    let rbac: Vec<Value> = a
        .rbac
        .iter()
        .map(|r| {
            Obj::default()
                .set("role", s(&r.role))
                .set("methods", list(&r.methods))
                .set("paths", list(&r.paths))
                .into()
        })
        .collect();
    let auth = Obj::default()
        .set(
            "type",
            s(match a.kind {
                AuthType::None => "none",
                AuthType::Bearer => "bearer",
                AuthType::Basic => "basic",
            }),
        )
        .set(
            "bearer",
            Obj::default()
                .opt("token_file", a.token_file.as_deref().map(s))
                .opt("token", a.token.as_deref().map(|v| secrets.show(v))),
        )
        .set("basic", Obj::default().set("users", Value::Sequence(users)))
        .set("rbac", Value::Sequence(rbac));
    let l = &c.log;
    let log = Obj::default()
        .set(
            "level",
            s(match l.level {
                LogLevel::Debug => "debug",
                LogLevel::Info => "info",
                LogLevel::Warn => "warn",
                LogLevel::Error => "error",
            }),
        )
        .set("format", s(if l.format == LogFormat::Json { "json" } else { "text" }))
        .set(
            "output",
            s(match l.output {
                LogOutput::Stdout => "stdout",
                LogOutput::Stderr => "stderr",
                LogOutput::File => "file",
            }),
        )
        .set(
            "file",
            Obj::default()
                .opt("path", l.file.path.as_deref().map(s))
                .set("max_size_mb", l.file.max_size_mb)
                .set("max_backups", l.file.max_backups)
                .set("max_age_days", l.file.max_age_days)
                .set("compress", l.file.compress),
        )
        .set(
            "audit_log",
            Obj::default()
                .set("enabled", l.audit_log.enabled)
                .opt("path", l.audit_log.path.as_deref().map(s))
                .set("max_size_mb", l.audit_log.max_size_mb)
                .set("max_backups", l.audit_log.max_backups),
        );
    let st = &c.storage;
    let storage = Obj::default()
        .set("engine", s("sqlite"))
        .set(
            "sqlite",
            Obj::default()
                .opt("path", st.sqlite_path.as_deref().map(s))
                .set("wal_autocheckpoint", st.wal_autocheckpoint)
                .set("busy_timeout", dur(st.busy_timeout)),
        )
        .set(
            "retention",
            Obj::default()
                .opt("max_age", st.retention_max_age.map(dur))
                .opt("max_runs_per_job", st.retention_max_runs_per_job)
                .set("keep_last_failures", st.retention_keep_last_failures)
                .set("max_log_bytes_per_run", size(st.retention_max_log_bytes_per_run))
                .set("max_total_bytes", size(st.retention_max_total_bytes)),
        );
    let sc = &c.scheduler;
    let scheduler = Obj::default()
        .set("max_concurrent_jobs", sc.max_concurrent_jobs)
        .set("catchup_window", dur(sc.catchup_window))
        .set("shutdown_timeout", dur(sc.shutdown_timeout))
        .set("schedule_jitter", dur(sc.schedule_jitter));
    let x = &c.executor;
    let mut global_env = Obj::default();
    for (k, v) in &x.global_env {
        global_env = global_env.set(k, secrets.show(v));
    }
    let executor = Obj::default()
        .opt("pool_size", x.pool_size)
        .opt("shell", x.shell.as_deref().map(s))
        .set("working_dir", s(&x.working_dir))
        .set(
            "resource_limits",
            Obj::default()
                .set("max_memory_mb", x.max_memory_mb)
                .set("max_open_files", x.max_open_files)
                .set("max_pids", x.max_pids),
        )
        .set("global_env", global_env)
        .set("kill_grace", dur(x.kill_grace));
    let m = &c.metrics;
    let metrics = Obj::default()
        .set("enabled", m.enabled)
        .set("addr", s(&m.addr))
        .set("path", s(&m.path))
        .set("auth", m.auth);
    let tr = &c.tracing;
    let tracing = Obj::default()
        .set("enabled", tr.enabled)
        .set("exporter", s(&tr.exporter))
        .opt("endpoint", tr.endpoint.as_deref().map(s))
        .set("service_name", s(&tr.service_name))
        .set("sample_rate", tr.sample_rate);
    let mut secrets_v = Obj::default().set("provider", s(&c.secrets.provider));
    for (block, fields) in &c.secrets.providers {
        let mut o = Obj::default();
        for (k, v) in fields {
            o = o.set(k, s(v));
        }
        secrets_v = secrets_v.set(block, o);
    }
    let al = &c.alerts;
    let alerts = Obj::default()
        .set("on_daemon_start", list(&al.on_daemon_start))
        .set("on_sla_breach", list(&al.on_sla_breach))
        .set("on_forced_kill", list(&al.on_forced_kill))
        .set("give_up_after", dur(al.give_up_after));
    let db = &c.dashboard;
    let dashboard = Obj::default()
        .set("enabled", db.enabled)
        .opt("title", db.title.as_deref().map(s))
        .opt("accent_color", db.accent_color.as_deref().map(s))
        .set("log_backfill_lines", db.log_backfill_lines)
        .set("poll_interval", dur(db.poll_interval));
    let h = &c.http_client;
    let http_client = Obj::default()
        .set("timeout", dur(h.timeout))
        .set("max_retries", h.max_retries)
        .set("retry_backoff", dur(h.retry_backoff))
        .opt("proxy", h.proxy.as_deref().map(s))
        .opt("ca_bundle", h.ca_bundle.as_deref().map(s));
    let p = &c.process;
    let process = Obj::default()
        .opt("user", p.user.as_deref().map(s))
        .opt("group", p.group.as_deref().map(s))
        .opt("pid_file", p.pid_file.as_deref().map(s))
        .set("ulimit_nofile", p.ulimit_nofile)
        .opt("watchdog_interval", p.watchdog_interval.map(dur));
    Obj::default()
        .set("api", api_v)
        .set("auth", auth)
        .set("log", log)
        .set("storage", storage)
        .set("scheduler", scheduler)
        .set("executor", executor)
        .set("metrics", metrics)
        .set("tracing", tracing)
        .set("secrets", secrets_v)
        .set("alerts", alerts)
        .set("dashboard", dashboard)
        .set("http_client", http_client)
        .set("process", process)
        .into()
}
