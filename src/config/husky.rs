//! Validation of husky.yaml: positioned YAML → the immutable [`Config`], with every problem of
//! the file reported at once, in file order.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::diag::{Diagnostics, Scope, suggest};
use super::duration::{DurationError, format_duration, parse_duration};
use super::env::{EnvSource, interpolate};
use super::frequency::{TimeUse, parse_frequency, parse_time};
use super::model::*;
use super::read::{Map, join, string, type_error};
use super::yaml::{Entry, Node, Pos, Value};
use crate::dag::{Dag, DagError, EdgeKind, NodeSpec};
use crate::notify::template::{Template, TemplateError};

const TOP_KEYS: &[&str] = &["version", "defaults", "integrations", "jobs"];
const DEFAULT_KEYS: &[&str] = &[
    "timeout",
    "retries",
    "retry_delay",
    "notify_on_failure",
    "on_failure",
    "default_run_time",
    "timezone",
];
const JOB_KEYS: &[&str] = &[
    "description",
    "frequency",
    "command",
    "time",
    "timezone",
    "catchup",
    "depends_on",
    "concurrency",
    "working_dir",
    "timeout",
    "retries",
    "retry_delay",
    "on_failure",
    "sla",
    "env",
    "tags",
    "notify",
    "healthcheck",
    "output",
];
const NOTIFY_EVENTS: &[&str] = &["on_failure", "on_success", "on_sla_breach", "on_retry"];
const NOTIFY_KEYS: &[&str] =
    &["channel", "message", "attach_logs", "only_after_failure", "cooldown"];
const HEALTHCHECK_KEYS: &[&str] = &["command", "timeout", "on_fail"];
const INTEGRATION_KEYS: &[&str] = &[
    "provider",
    "webhook_url",
    "routing_key",
    "host",
    "port",
    "username",
    "password",
    "from",
    "secret",
    "url",
];
const MAX_TAGS: usize = 10;
const MAX_TAG_LEN: usize = 32;

/// Validates husky.yaml text. `path` is used for messages and to resolve relative paths.
/// Returns the config when there is no error, and every diagnostic (errors and warnings).
pub fn validate(path: &Path, text: &str, env: &EnvSource) -> (Option<Config>, Diagnostics) {
    let mut d = Diagnostics::new(path);
    let config = validate_into(path, text, env, &mut d);
    let config = if d.has_errors() { None } else { config };
    (config, d)
}

fn validate_into(path: &Path, text: &str, env: &EnvSource, d: &mut Diagnostics) -> Option<Config> {
    let root = super::parse_root(text, d)?;
    let Some(entries) = root.as_map() else {
        type_error(d, Scope::Top, "", &root, "a mapping with version and jobs");
        return None;
    };
    let top =
        Map { entries, scope: Scope::Top, prefix: String::new(), pos: Pos { line: 1, column: 1 } };
    top.check_keys(d, TOP_KEYS);
    check_version(d, &top);

    let defaults = read_defaults(d, &top);
    let integrations = read_integrations(d, &top, env);

    let jobs_entry = top.require(d, "jobs")?;
    let Value::Map(job_entries) = &jobs_entry.value.value else {
        type_error(d, Scope::Top, "jobs", &jobs_entry.value, "a mapping of job names to jobs");
        return None;
    };
    if job_entries.is_empty() {
        d.error(jobs_entry.key_pos, Scope::Top, "jobs", "at least one job must be defined");
        return None;
    }
    let ctx = JobCtx { defaults: &defaults, integrations: &integrations, env, source: text };
    let mut jobs = Vec::with_capacity(job_entries.len());
    let mut refs: HashMap<String, Vec<Pos>> = HashMap::new();
    for entry in job_entries {
        let (job, positions) = read_job(d, entry, &ctx);
        refs.insert(entry.key.clone(), positions);
        if let Some(job) = job {
            jobs.push(job);
        }
    }
    let dag = build_dag(d, job_entries, &jobs, &refs);
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    Some(Config { path: path.to_path_buf(), dir, defaults, integrations, jobs, dag: dag? })
}

fn check_version(d: &mut Diagnostics, top: &Map<'_, '_>) {
    let Some(entry) = top.get("version") else {
        d.error(top.pos, Scope::Top, "version", "field is required")
            .hint("add version: \"1\" at the top");
        return;
    };
    match &entry.value.value {
        Value::Str(s) if s == "1" => {}
        Value::Str(s) => {
            d.error(
                entry.value.pos,
                Scope::Top,
                "version",
                format!("unsupported version {s:?}; only \"1\" is valid"),
            );
        }
        Value::Int(1) | Value::Float(_) => {
            type_error(d, Scope::Top, "version", &entry.value, "a string")
                .hint("quote it: version: \"1\"");
        }
        _ => {
            type_error(d, Scope::Top, "version", &entry.value, "the string \"1\"");
        }
    }
}

fn read_defaults(d: &mut Diagnostics, top: &Map<'_, '_>) -> Defaults {
    let mut out = Defaults {
        timeout: DEFAULT_TIMEOUT,
        retries: 0,
        retry_delay: RetryDelay::Exponential,
        on_failure: OnFailure::Alert,
        default_run_time: DEFAULT_RUN_TIME,
        timezone: None,
        notify_on_failure: None,
    };
    let Some((entries, pos)) = top.map(d, "defaults") else {
        return out;
    };
    let m = Map { entries, scope: Scope::Top, prefix: "defaults".into(), pos };
    m.check_keys(d, DEFAULT_KEYS);
    if let Some(t) = positive_duration(d, &m, "timeout") {
        out.timeout = t;
    }
    if let Some((n, _)) = m.int(d, "retries", 0, i64::from(u32::MAX)) {
        out.retries = u32::try_from(n).unwrap_or(u32::MAX);
    }
    if let Some(r) = retry_delay(d, &m) {
        out.retry_delay = r;
    }
    if let Some(v) = enum_field(d, &m, "on_failure", ON_FAILURE) {
        out.on_failure = v;
    }
    if let Some((text, pos)) = time_field(d, &m, "default_run_time") {
        match parse_time(text.trim()) {
            Ok(t) => out.default_run_time = t,
            Err(e) => {
                let diag = d.error(pos, Scope::Top, "defaults.default_run_time", e.message);
                if let Some(h) = e.hint {
                    diag.hint(h);
                }
            }
        }
    }
    out.timezone = timezone(d, &m);
    out.notify_on_failure = m.bool(d, "notify_on_failure");
    out
}

/// A `time`-like field: a string, with a dedicated hint for unquoted numbers.
fn time_field<'n>(d: &mut Diagnostics, m: &Map<'n, '_>, key: &str) -> Option<(&'n str, Pos)> {
    let e = m.get(key)?;
    if let Value::Int(_) = e.value.value {
        let digits: String = e.value.raw.trim_start_matches(['+', '-']).to_owned();
        let padded = if digits.len() < 4 { format!("{digits:0>4}") } else { digits };
        type_error(d, m.scope, &m.field(key), &e.value, "a string")
            .hint(format!("quote the time: {key}: \"{padded}\""));
        return None;
    }
    m.str(d, key)
}

const CONCURRENCY: &[(&str, Concurrency)] = &[
    ("allow", Concurrency::Allow),
    ("forbid", Concurrency::Forbid),
    ("replace", Concurrency::Replace),
];
const ON_FAILURE: &[(&str, OnFailure)] = &[
    ("alert", OnFailure::Alert),
    ("skip", OnFailure::Skip),
    ("stop", OnFailure::Stop),
    ("ignore", OnFailure::Ignore),
];
const ON_FAIL: &[(&str, HealthcheckOnFail)] =
    &[("mark_failed", HealthcheckOnFail::MarkFailed), ("warn_only", HealthcheckOnFail::WarnOnly)];

/// A string field that must be one of `choices` (exact, case-sensitive).
fn enum_field<T: Copy>(
    d: &mut Diagnostics,
    m: &Map<'_, '_>,
    key: &str,
    choices: &[(&str, T)],
) -> Option<T> {
    let (text, pos) = m.str(d, key)?;
    if let Some((_, v)) = choices.iter().find(|(name, _)| *name == text) {
        return Some(*v);
    }
    let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
    let diag = d.error(
        pos,
        m.scope,
        &m.field(key),
        format!("unrecognised value {text:?} (accepted: {})", names.join(", ")),
    );
    if let Some(exact) = names.iter().find(|n| n.eq_ignore_ascii_case(text.trim())) {
        diag.hint(format!("values are lowercase: `{exact}`"));
    } else if let Some(s) = suggest(text, names.iter().copied()) {
        diag.hint(format!("did you mean `{s}`?"));
    }
    None
}

/// A duration field; returns the parsed value (any sign).
fn duration(
    d: &mut Diagnostics,
    m: &Map<'_, '_>,
    key: &str,
) -> Option<(time::Duration, Pos, String)> {
    let e = m.get(key)?;
    let field = m.field(key);
    if let Value::Int(n) = e.value.value {
        type_error(d, m.scope, &field, &e.value, "a duration string")
            .hint(format!("add a unit: {key}: {n}s or {n}m"));
        return None;
    }
    let (text, pos) = m.str(d, key)?;
    match parse_duration(text) {
        Ok(v) => Some((v, pos, text.to_owned())),
        Err(err) => {
            duration_error(d, m.scope, &field, pos, text, &err);
            None
        }
    }
}

fn duration_error(
    d: &mut Diagnostics,
    scope: Scope<'_>,
    field: &str,
    pos: Pos,
    text: &str,
    err: &DurationError,
) {
    let diag = d.error(pos, scope, field, format!("invalid duration {text:?}: {err}"));
    match err {
        DurationError::MissingUnit { number } => {
            diag.hint(format!("add a unit, e.g. \"{number}s\" or \"{number}m\""))
        }
        DurationError::UnknownUnit { .. } | DurationError::Invalid => {
            diag.hint("durations look like 90s, 15m, 1h30m, 2d (units: ms s m h d w)")
        }
        DurationError::Empty | DurationError::Overflow => diag,
    };
}

/// A duration that must be greater than zero.
fn positive_duration(d: &mut Diagnostics, m: &Map<'_, '_>, key: &str) -> Option<time::Duration> {
    let (v, pos, text) = duration(d, m, key)?;
    if v <= time::Duration::ZERO {
        d.error(pos, m.scope, &m.field(key), format!("{text:?} must be greater than zero"))
            .hint(format!("remove {key} for the default, or set a positive duration such as 30m"));
        return None;
    }
    Some(v)
}

fn retry_delay(d: &mut Diagnostics, m: &Map<'_, '_>) -> Option<RetryDelay> {
    let (text, pos) = m.str(d, "retry_delay")?;
    let field = m.field("retry_delay");
    let t = text.trim();
    if t.is_empty() || t == "exponential" {
        return Some(RetryDelay::Exponential);
    }
    if let Some(rest) = t.strip_prefix("fixed:") {
        return match parse_duration(rest.trim()) {
            Ok(v) if v <= time::Duration::ZERO => {
                d.warning(
                    pos,
                    m.scope,
                    &field,
                    format!("fixed delay {rest:?} is not positive; 30s is used"),
                );
                Some(RetryDelay::Fixed(time::Duration::seconds(30)))
            }
            Ok(v) => Some(RetryDelay::Fixed(v)),
            Err(err) => {
                duration_error(d, m.scope, &field, pos, rest.trim(), &err);
                None
            }
        };
    }
    let diag = d.error(
        pos,
        m.scope,
        &field,
        format!("retry_delay must be \"exponential\" or \"fixed:<duration>\", got {text:?}"),
    );
    if parse_duration(t).is_ok() {
        diag.hint(format!("write retry_delay: \"fixed:{t}\""));
    } else {
        diag.hint("e.g. retry_delay: exponential, or retry_delay: \"fixed:30s\"");
    }
    None
}

fn timezone(d: &mut Diagnostics, m: &Map<'_, '_>) -> Option<String> {
    let (text, pos) = m.str(d, "timezone")?;
    if super::valid_timezone(text) {
        return Some(text.to_owned());
    }
    let diag = d.error(
        pos,
        m.scope,
        &m.field("timezone"),
        format!("unknown IANA timezone identifier {text:?}"),
    );
    match super::suggest_timezone(text) {
        Some(s) => diag.hint(format!("did you mean `{s}`?")),
        None => diag.hint("use an IANA name such as Europe/Berlin, America/New_York or UTC"),
    };
    None
}

struct JobCtx<'a> {
    defaults: &'a Defaults,
    integrations: &'a BTreeMap<String, Integration>,
    env: &'a EnvSource,
    /// The file's text, to place template errors inside their scalar.
    source: &'a str,
}

/// Reads one job. Returns the job when its fields are valid, and the positions of its upstream
/// references (`depends_on` items in order, then the `after:` frequency) for DAG errors.
fn read_job(d: &mut Diagnostics, entry: &Entry, ctx: &JobCtx<'_>) -> (Option<Job>, Vec<Pos>) {
    let name = entry.key.as_str();
    let scope = Scope::Job(name);
    let Some(entries) = entry.value.as_map() else {
        type_error(d, scope, "", &entry.value, "a mapping with description, frequency and command");
        return (None, Vec::new());
    };
    let m = Map { entries, scope, prefix: String::new(), pos: entry.key_pos };
    let errors_before = d.error_count();
    m.check_keys(d, JOB_KEYS);

    let description =
        m.require(d, "description").and_then(|e| string(d, scope, "description", &e.value));
    let command = m.require(d, "command").and_then(|e| string(d, scope, "command", &e.value));
    if let Some(cmd) = command
        && cmd.contains("${env:")
    {
        let pos = m.get("command").map_or(entry.key_pos, |e| e.value.pos);
        d.warning(
            pos,
            scope,
            "command",
            "${env:...} is not interpolated in command; the shell sees it as written",
        )
        .hint("reference the variable as $NAME, or pass it through env:");
    }

    let mut ref_positions = Vec::new();
    let freq_entry = m.require(d, "frequency");
    let frequency = freq_entry.and_then(|e| {
        let text = string(d, scope, "frequency", &e.value)?;
        match parse_frequency(text) {
            Ok(f) => Some((f, text.to_owned(), e.value.pos)),
            Err(err) => {
                let diag = d.error(e.value.pos, scope, "frequency", err.message);
                if let Some(h) = err.hint {
                    diag.hint(h);
                }
                None
            }
        }
    });

    let time_text = time_field(d, &m, "time");
    let time = time_text.and_then(|(text, pos)| match parse_time(text) {
        Ok(t) => Some(t),
        Err(err) => {
            let diag = d.error(pos, scope, "time", err.message);
            if let Some(h) = err.hint {
                diag.hint(h);
            }
            None
        }
    });
    let mut effective_time = None;
    if let Some((f, raw, _)) = &frequency {
        match f.time_use() {
            TimeUse::Required if time_text.is_none() && m.get("time").is_none() => {
                d.error(
                    entry.key_pos,
                    scope,
                    "time",
                    format!("field is required when frequency is {:?}", raw.trim()),
                )
                .hint("add a run time, e.g. time: \"0900\"");
            }
            TimeUse::Required => effective_time = time,
            TimeUse::Defaulted => effective_time = time.or(Some(ctx.defaults.default_run_time)),
            TimeUse::Ignored => {
                if let Some(e) = m.get("time") {
                    d.warning(
                        e.key_pos,
                        scope,
                        "time",
                        format!("field is ignored when frequency is {:?}", raw.trim()),
                    )
                    .hint("remove it, or use a calendar frequency such as daily");
                }
            }
        }
    }

    let timezone = timezone(d, &m).or_else(|| ctx.defaults.timezone.clone());
    let catchup = m.bool(d, "catchup").unwrap_or(false);
    let concurrency = enum_field(d, &m, "concurrency", CONCURRENCY).unwrap_or(Concurrency::Allow);
    let on_failure = enum_field(d, &m, "on_failure", ON_FAILURE).unwrap_or(ctx.defaults.on_failure);
    let working_dir = m.str(d, "working_dir").map(|(s, _)| s.to_owned());
    let retries = m
        .int(d, "retries", 0, i64::from(u32::MAX))
        .map_or(ctx.defaults.retries, |(n, _)| u32::try_from(n).unwrap_or(u32::MAX));
    let retry_delay = retry_delay(d, &m).unwrap_or(ctx.defaults.retry_delay);
    let own_timeout = positive_duration(d, &m, "timeout");
    let timeout = own_timeout.unwrap_or(ctx.defaults.timeout);
    let sla = read_sla(d, &m, own_timeout.is_some(), timeout);

    let mut depends_on = Vec::new();
    for (dep, pos) in m.str_list(d, "depends_on").unwrap_or_default() {
        let dep = dep.trim();
        if dep.is_empty() {
            d.warning(pos, scope, "depends_on", "empty job name is ignored");
        } else if depends_on.iter().any(|x| x == dep) {
            d.warning(pos, scope, "depends_on", format!("{dep:?} is listed twice"));
        } else {
            depends_on.push(dep.to_owned());
            ref_positions.push(pos);
        }
    }
    if let Some((_, _, pos)) = &frequency {
        ref_positions.push(*pos);
    }

    let env = read_env(d, &m, ctx.env);
    let tags = read_tags(d, &m);
    let notify = read_notify(d, &m, ctx);
    let healthcheck = read_healthcheck(d, &m);
    let output = read_output(d, &m);

    if d.error_count() > errors_before {
        return (None, ref_positions);
    }
    let (Some(description), Some(command), Some((frequency, frequency_raw, _))) =
        (description, command, frequency)
    else {
        return (None, ref_positions);
    };
    let job = Job {
        name: name.to_owned(),
        pos: entry.key_pos,
        description: description.to_owned(),
        command: command.to_owned(),
        frequency,
        frequency_raw,
        time: effective_time,
        timezone,
        catchup,
        depends_on,
        concurrency,
        working_dir,
        timeout,
        retries,
        retry_delay,
        on_failure,
        sla,
        env,
        tags,
        notify,
        healthcheck,
        output,
    };
    (Some(job), ref_positions)
}

fn read_sla(
    d: &mut Diagnostics,
    m: &Map<'_, '_>,
    own_timeout: bool,
    timeout: time::Duration,
) -> Option<time::Duration> {
    let (sla, pos, text) = duration(d, m, "sla")?;
    if sla <= time::Duration::ZERO {
        d.warning(
            pos,
            m.scope,
            "sla",
            format!("sla {text:?} is not positive; SLA monitoring is off for this job"),
        );
        return None;
    }
    if sla >= timeout {
        let source = if own_timeout {
            "timeout"
        } else if timeout == DEFAULT_TIMEOUT {
            "the default timeout"
        } else {
            "defaults.timeout"
        };
        d.error(
            pos,
            m.scope,
            "sla",
            format!("sla >= timeout is not allowed: sla {text} is not shorter than {source} {}", format_duration(timeout)),
        )
        .hint("the run is killed at the timeout, so the SLA could never be breached: lower sla or raise timeout");
        return None;
    }
    Some(sla)
}

fn read_env(d: &mut Diagnostics, m: &Map<'_, '_>, env: &EnvSource) -> Vec<(String, String)> {
    let Some(pairs) = m.str_map(d, "env") else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(pairs.len());
    for (entry, raw) in pairs {
        let field = join("env", &entry.key);
        if entry.key.is_empty() || entry.key.contains(['=', '\0']) {
            d.error(
                entry.key_pos,
                m.scope,
                &field,
                "environment variable names cannot be empty or contain '='",
            );
            continue;
        }
        let value = interpolate_field(d, m.scope, &field, entry.value.pos, raw, env);
        out.push((entry.key.clone(), value));
    }
    out
}

/// Resolves `${env:}` in one value, warning about unset variables.
fn interpolate_field(
    d: &mut Diagnostics,
    scope: Scope<'_>,
    field: &str,
    pos: Pos,
    raw: &str,
    env: &EnvSource,
) -> String {
    let r = interpolate(raw, env);
    for var in &r.unset {
        d.warning(
            pos,
            scope,
            field,
            format!("environment variable {var} is not set; ${{env:{var}}} becomes empty"),
        )
        .hint(format!(
            "export {var} before starting husky, or add {var}=... to .env beside husky.yaml"
        ));
    }
    r.value
}

fn read_tags(d: &mut Diagnostics, m: &Map<'_, '_>) -> Vec<String> {
    let Some(items) = m.str_list(d, "tags") else {
        return Vec::new();
    };
    let mut tags: Vec<String> = Vec::new();
    for (tag, pos) in &items {
        if tag.chars().count() > MAX_TAG_LEN {
            d.error(
                *pos,
                m.scope,
                "tags",
                format!("tag {tag:?} exceeds maximum length of {MAX_TAG_LEN} characters"),
            );
        } else if !valid_tag(tag) {
            let diag = d.error(
                *pos,
                m.scope,
                "tags",
                format!("tag {tag:?} is invalid: use lowercase letters, digits and hyphens, starting with a letter or digit"),
            );
            let fixed = fix_tag(tag);
            if valid_tag(&fixed) {
                diag.hint(format!("write it as {fixed:?}"));
            }
        } else if tags.iter().any(|t| t == tag) {
            d.error(*pos, m.scope, "tags", format!("duplicate tag {tag:?}"));
        } else {
            tags.push((*tag).to_owned());
        }
    }
    if items.len() > MAX_TAGS {
        let pos = items[MAX_TAGS].1;
        d.error(
            pos,
            m.scope,
            "tags",
            format!("too many tags ({}); maximum is {MAX_TAGS}", items.len()),
        );
    }
    tags
}

/// `^[a-z0-9][a-z0-9-]*$`
pub(super) fn valid_tag(tag: &str) -> bool {
    let mut b = tag.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && b.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

fn fix_tag(tag: &str) -> String {
    let lowered: String = tag
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect();
    lowered.trim_start_matches('-').to_owned()
}

fn read_notify(d: &mut Diagnostics, m: &Map<'_, '_>, ctx: &JobCtx<'_>) -> Notify {
    let integrations = ctx.integrations;
    let mut out = Notify::default();
    let Some((entries, pos)) = m.map(d, "notify") else {
        return out;
    };
    let nm = Map { entries, scope: m.scope, prefix: "notify".into(), pos };
    nm.check_keys(d, NOTIFY_EVENTS);
    for event in NOTIFY_EVENTS {
        let Some(e) = nm.get(event) else { continue };
        let field = join("notify", event);
        let target = match &e.value.value {
            Value::Str(channel) => Some((
                NotifyTarget {
                    channel: channel.clone(),
                    message: None,
                    attach_logs: AttachLogs::None,
                    only_after_failure: false,
                    cooldown: None,
                },
                e.value.pos,
            )),
            Value::Map(obj) => {
                let om =
                    Map { entries: obj, scope: m.scope, prefix: field.clone(), pos: e.key_pos };
                om.check_keys(d, NOTIFY_KEYS);
                let channel = om
                    .require(d, "channel")
                    .and_then(|c| string(d, m.scope, &join(&field, "channel"), &c.value));
                let message = om.str(d, "message").map(|(text, _)| {
                    if let (Err(err), Some(node)) = (Template::parse(text), om.get("message")) {
                        let field = join(&field, "message");
                        let pos = template_error_pos(ctx.source, &node.value, text, &err);
                        let diag = d.error(
                            pos,
                            m.scope,
                            &field,
                            format!("invalid message template: {}", err.message),
                        );
                        if let Some(h) = err.hint {
                            diag.hint(h);
                        }
                    }
                    text.to_owned()
                });
                let cooldown = positive_duration(d, &om, "cooldown");
                let attach_logs = om.str(d, "attach_logs").map_or(AttachLogs::None, |(s, p)| {
                    attach_logs(s).unwrap_or_else(|| {
                        d.warning(
                            p,
                            m.scope,
                            &join(&field, "attach_logs"),
                            format!("unrecognised value {s:?}; no logs are attached"),
                        )
                        .hint("use none, all or last_<N>_lines (e.g. last_50_lines)");
                        AttachLogs::None
                    })
                });
                let only_after_failure = om.bool(d, "only_after_failure").unwrap_or(false);
                let pos = om.get("channel").map_or(e.key_pos, |c| c.value.pos);
                channel.map(|c| {
                    (
                        NotifyTarget {
                            channel: c.to_owned(),
                            message,
                            attach_logs,
                            only_after_failure,
                            cooldown,
                        },
                        pos,
                    )
                })
            }
            _ => {
                type_error(
                    d,
                    m.scope,
                    &field,
                    &e.value,
                    "a channel string or a mapping with channel",
                );
                None
            }
        };
        let Some((target, pos)) = target else {
            continue;
        };
        check_channel(d, m.scope, &field, pos, &target.channel, integrations);
        let slot = match *event {
            "on_failure" => &mut out.on_failure,
            "on_success" => &mut out.on_success,
            "on_sla_breach" => &mut out.on_sla_breach,
            _ => &mut out.on_retry,
        };
        *slot = Some(target);
    }
    out
}

/// Where a template error stands in the file: inside the scalar when the text up to the error
/// can be matched with the source (a plain or quoted scalar on one line, a literal `|` block),
/// else the scalar's own position.
fn template_error_pos(source: &str, node: &Node, text: &str, err: &TemplateError) -> Pos {
    let start = node.pos;
    let lines: Vec<&str> = source.lines().collect();
    let column = start.column.saturating_sub(1);
    let Some(first) = lines.get(start.line.wrapping_sub(1)) else { return start };
    // A quoted scalar's position is its opening quote, which the text does not contain.
    let quoted =
        first.chars().nth(column).is_some_and(|q| matches!(q, '"' | '\'') && !text.starts_with(q));
    if quoted && err.line > 1 {
        return start;
    }
    let skip = usize::from(quoted);
    // Line k of the text must be line start.line + k - 1 of the file, from the same column.
    for (k, want) in text.split('\n').enumerate().take(err.line) {
        let Some(src) = lines.get(start.line - 1 + k) else { return start };
        let from = if k == 0 { column + skip } else { column };
        let got: String = src.chars().skip(from).collect();
        let ok = if k + 1 == err.line {
            let prefix: String = want.chars().take(err.column - 1).collect();
            got.starts_with(&prefix)
        } else {
            got == want
        };
        if !ok {
            return start;
        }
    }
    Pos { line: start.line + err.line - 1, column: start.column + skip + err.column - 1 }
}

fn attach_logs(text: &str) -> Option<AttachLogs> {
    let t = text.trim().to_lowercase();
    match t.as_str() {
        "" | "none" => Some(AttachLogs::None),
        "all" => Some(AttachLogs::All),
        _ => {
            let n = t.strip_prefix("last_")?.strip_suffix("_lines")?;
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some(n.parse().map_or(AttachLogs::All, AttachLogs::Last))
        }
    }
}

/// Channel strings are resolved when a notification is sent; problems that are certain to make
/// delivery fail are reported now, as warnings (Husky-Go accepted them at load).
fn check_channel(
    d: &mut Diagnostics,
    scope: Scope<'_>,
    field: &str,
    pos: Pos,
    channel: &str,
    integrations: &BTreeMap<String, Integration>,
) {
    let Some((prefix, target)) = channel.split_once(':') else {
        d.warning(
            pos,
            scope,
            field,
            format!("channel {channel:?} has no prefix; delivery will fail"),
        )
        .hint("write <integration>:<target>, e.g. slack:#ops or webhook:https://...");
        return;
    };
    let known = integrations.contains_key(prefix)
        || (prefix == "webhook" && target.starts_with("http"))
        || (prefix == "email" && integrations.values().any(|i| i.provider == Provider::Smtp))
        || prefix == "script";
    if !known {
        let diag = d.warning(
            pos,
            scope,
            field,
            format!("no integration named {prefix:?}; delivery will fail"),
        );
        match suggest(prefix, integrations.keys().map(String::as_str)) {
            Some(s) => diag.hint(format!("did you mean `{s}`?")),
            None => {
                diag.hint(format!("add integrations.{prefix} with its provider and credentials"))
            }
        };
    }
}

fn read_healthcheck(d: &mut Diagnostics, m: &Map<'_, '_>) -> Option<Healthcheck> {
    let (entries, pos) = m.map(d, "healthcheck")?;
    let hm = Map { entries, scope: m.scope, prefix: "healthcheck".into(), pos };
    hm.check_keys(d, HEALTHCHECK_KEYS);
    let command =
        hm.require(d, "command").and_then(|e| string(d, m.scope, "healthcheck.command", &e.value));
    let timeout = positive_duration(d, &hm, "timeout").unwrap_or(DEFAULT_HEALTHCHECK_TIMEOUT);
    let on_fail = enum_field(d, &hm, "on_fail", ON_FAIL).unwrap_or(HealthcheckOnFail::MarkFailed);
    Some(Healthcheck { command: command?.to_owned(), timeout, on_fail })
}

fn read_output(d: &mut Diagnostics, m: &Map<'_, '_>) -> Vec<(String, OutputMode)> {
    let Some(pairs) = m.str_map(d, "output") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (entry, text) in pairs {
        let field = join("output", &entry.key);
        if entry.key.trim().is_empty() {
            d.error(entry.key_pos, m.scope, "output", "variable name must not be blank");
            continue;
        }
        if !valid_output_var(&entry.key) {
            d.warning(entry.key_pos, m.scope, &field, "templates cannot reference this name ({{ outputs.<job>.<var> }} needs letters, digits, _ and -)");
        }
        let pos = entry.value.pos;
        let mode = match text.trim() {
            "last_line" => Some(OutputMode::LastLine),
            "first_line" => Some(OutputMode::FirstLine),
            "exit_code" => Some(OutputMode::ExitCode),
            t if t.starts_with("json_field:") => {
                let key = t["json_field:".len()..].trim();
                if key.is_empty() {
                    d.error(pos, m.scope, &field, "json_field: requires a non-empty key")
                        .hint("e.g. json_field:count");
                    None
                } else {
                    Some(OutputMode::JsonField(key.to_owned()))
                }
            }
            t if t.starts_with("regex:") => {
                let pattern = &text.trim_start()["regex:".len()..];
                if pattern.trim().is_empty() {
                    d.error(pos, m.scope, &field, "regex: requires a non-empty pattern")
                        .hint("e.g. regex:processed (\\d+) records");
                    None
                } else if let Err(e) = regex_lite::Regex::new(pattern) {
                    let first = e.to_string().lines().last().unwrap_or_default().trim().to_owned();
                    d.error(pos, m.scope, &field, format!("invalid pattern {pattern:?}: {first}"));
                    None
                } else {
                    Some(OutputMode::Regex(pattern.to_owned()))
                }
            }
            t => {
                let diag = d.error(
                    pos,
                    m.scope,
                    &field,
                    format!("unrecognised output capture mode {t:?} (accepted: last_line, first_line, exit_code, json_field:<key>, regex:<pattern>)"),
                );
                if let Some(s) = suggest(t, ["last_line", "first_line", "exit_code"]) {
                    diag.hint(format!("did you mean `{s}`?"));
                }
                None
            }
        };
        if let Some(mode) = mode {
            out.push((entry.key.clone(), mode));
        }
    }
    out
}

/// `\w[\w-]*`, the variable names `{{ outputs.<job>.<var> }}` can reference.
fn valid_output_var(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_alphanumeric() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

fn read_integrations(
    d: &mut Diagnostics,
    top: &Map<'_, '_>,
    env: &EnvSource,
) -> BTreeMap<String, Integration> {
    let mut out = BTreeMap::new();
    let Some((entries, _)) = top.map(d, "integrations") else {
        return out;
    };
    for entry in entries {
        let prefix = join("integrations", &entry.key);
        let Some(fields) = entry.value.as_map() else {
            if entry.value.value != Value::Null {
                type_error(d, Scope::Top, &prefix, &entry.value, "a mapping");
            }
            continue;
        };
        let im =
            Map { entries: fields, scope: Scope::Top, prefix: prefix.clone(), pos: entry.key_pos };
        im.check_keys(d, INTEGRATION_KEYS);
        let provider = match im.str(d, "provider") {
            Some((p, pos)) => match Provider::from_name(p) {
                Some(p) => p,
                None => {
                    let names: Vec<&str> = Provider::ALL.iter().map(|p| p.name()).collect();
                    let diag = d.error(
                        pos,
                        Scope::Top,
                        &im.field("provider"),
                        format!("unsupported provider {p:?} (supported: {})", names.join(", ")),
                    );
                    if let Some(s) = suggest(p, names.iter().copied()) {
                        diag.hint(format!("did you mean `{s}`?"));
                    }
                    continue;
                }
            },
            None if im.get("provider").is_some() => continue,
            None => match Provider::from_name(&entry.key) {
                Some(p) => p,
                None => {
                    d.error(
                        entry.key_pos,
                        Scope::Top,
                        &im.field("provider"),
                        format!(
                            "integration {:?} is not a provider name, so provider must be set",
                            entry.key
                        ),
                    )
                    .hint("add provider: slack (or pagerduty, discord, smtp, webhook)");
                    continue;
                }
            },
        };
        let secret = |d: &mut Diagnostics, key: &str| {
            im.str(d, key)
                .map(|(raw, pos)| interpolate_field(d, Scope::Top, &im.field(key), pos, raw, env))
        };
        let webhook_url = secret(d, "webhook_url");
        let signing_secret = match im.get("secret") {
            Some(e) if provider != Provider::Webhook => {
                d.warning(
                    e.key_pos,
                    Scope::Top,
                    &im.field("secret"),
                    format!(
                        "secret only signs provider webhook requests; it is ignored for provider {:?}",
                        provider.name()
                    ),
                )
                .hint("remove it, or use provider: webhook for a signed generic webhook");
                None
            }
            _ => secret(d, "secret").filter(|s| !s.is_empty()),
        };
        let url = read_integration_url(d, &im, provider);
        let routing_key = secret(d, "routing_key");
        let username = secret(d, "username");
        let password = secret(d, "password");
        let host = im.str(d, "host").map(|(s, _)| s.to_owned());
        let from = im.str(d, "from").map(|(s, _)| s.to_owned());
        let port = im.int(d, "port", 0, 65_535).map_or(0, |(p, _)| u16::try_from(p).unwrap_or(0));
        let required = provider.required_fields();
        let mut complete = true;
        for key in required {
            let blank =
                im.get(key).and_then(|e| e.value.as_str()).is_none_or(|s| s.trim().is_empty());
            if blank && im.get(key).is_none_or(|e| e.value.as_str().is_some()) {
                complete = false;
                let pos = im.get(key).map_or(entry.key_pos, |e| e.value.pos);
                d.error(
                    pos,
                    Scope::Top,
                    &im.field(key),
                    format!("field is required for provider {:?}", provider.name()),
                );
            }
        }
        if complete {
            out.insert(
                entry.key.clone(),
                Integration {
                    provider,
                    webhook_url,
                    routing_key,
                    host,
                    port,
                    username,
                    password,
                    from,
                    secret: signing_secret,
                    url,
                },
            );
        }
    }
    out
}

/// `integrations.<name>.url`: PagerDuty's Events API endpoint; ignored (warning) elsewhere.
fn read_integration_url(
    d: &mut Diagnostics,
    im: &Map<'_, '_>,
    provider: Provider,
) -> Option<String> {
    let field = im.field("url");
    if provider != Provider::PagerDuty {
        let e = im.get("url")?;
        let diag = d.warning(
            e.key_pos,
            Scope::Top,
            &field,
            format!(
                "url only sets the PagerDuty endpoint; it is ignored for provider {:?}",
                provider.name()
            ),
        );
        match provider {
            Provider::Slack | Provider::Discord | Provider::Webhook => {
                diag.hint("did you mean `webhook_url`?")
            }
            Provider::Smtp | Provider::PagerDuty => diag.hint("remove it"),
        };
        return None;
    }
    let (text, pos) = im.str(d, "url")?;
    let host = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default());
    match host {
        Some(h) if !h.is_empty() && !text.contains(char::is_whitespace) => Some(text.to_owned()),
        Some(_) => {
            d.error(
                pos,
                Scope::Top,
                &field,
                format!("url {text:?} is not a valid URL: it needs a host and no spaces"),
            )
            .hint("e.g. url: https://events.pagerduty.com/v2/enqueue");
            None
        }
        None => {
            d.error(
                pos,
                Scope::Top,
                &field,
                format!("url {text:?} must start with http:// or https://"),
            )
            .hint("e.g. url: https://events.pagerduty.com/v2/enqueue");
            None
        }
    }
}

/// Builds the DAG, turning its errors into located diagnostics.
fn build_dag(
    d: &mut Diagnostics,
    job_entries: &[Entry],
    jobs: &[Job],
    refs: &HashMap<String, Vec<Pos>>,
) -> Option<Dag> {
    if d.has_errors() || jobs.len() != job_entries.len() {
        // Invalid jobs are missing from `jobs`; still report unknown references among valid ones.
        let names: Vec<&str> = job_entries.iter().map(|e| e.key.as_str()).collect();
        report_unknown_refs(d, jobs, &names, refs);
        return None;
    }
    let specs: Vec<NodeSpec> = jobs.iter().map(node_spec).collect();
    match Dag::build(&specs) {
        Ok(dag) => Some(dag),
        Err(errors) => {
            for err in errors {
                report_dag_error(d, jobs, refs, &err);
            }
            None
        }
    }
}

fn node_spec(job: &Job) -> NodeSpec {
    let mut upstreams: Vec<(String, EdgeKind)> =
        job.depends_on.iter().map(|n| (n.clone(), EdgeKind::DependsOn)).collect();
    if let Some(parent) = job.frequency.after() {
        upstreams.push((parent.to_owned(), EdgeKind::After));
    }
    NodeSpec { name: job.name.clone(), upstreams }
}

fn report_unknown_refs(
    d: &mut Diagnostics,
    jobs: &[Job],
    names: &[&str],
    refs: &HashMap<String, Vec<Pos>>,
) {
    for job in jobs {
        let spec = node_spec(job);
        for (i, (up, kind)) in spec.upstreams.iter().enumerate() {
            if *up == job.name || names.contains(&up.as_str()) {
                continue;
            }
            let err = DagError::Unknown {
                job: job.name.clone(),
                upstream: up.clone(),
                kind: *kind,
                index: i,
                suggestion: suggest(up, names.iter().copied()).map(str::to_owned),
            };
            report_dag_error(d, jobs, refs, &err);
        }
    }
}

fn ref_pos(
    jobs: &[Job],
    refs: &HashMap<String, Vec<Pos>>,
    job: &str,
    kind: EdgeKind,
    index: usize,
) -> Pos {
    let positions = refs.get(job).map(Vec::as_slice).unwrap_or_default();
    let job_pos = jobs.iter().find(|j| j.name == job).map(|j| j.pos).unwrap_or_default();
    let i = match kind {
        EdgeKind::DependsOn => index,
        EdgeKind::After => positions.len().saturating_sub(1),
    };
    positions.get(i).copied().unwrap_or(job_pos)
}

fn report_dag_error(
    d: &mut Diagnostics,
    jobs: &[Job],
    refs: &HashMap<String, Vec<Pos>>,
    err: &DagError,
) {
    let field = |kind: EdgeKind| match kind {
        EdgeKind::DependsOn => "depends_on",
        EdgeKind::After => "frequency",
    };
    match err {
        DagError::Unknown { job, upstream, kind, index, suggestion } => {
            let pos = ref_pos(jobs, refs, job, *kind, *index);
            let diag =
                d.error(pos, Scope::Job(job), field(*kind), format!("unknown job {upstream:?}"));
            match suggestion {
                Some(s) => diag.hint(format!("did you mean `{s}`? (job names are case-sensitive)")),
                None => diag.hint("define the job under jobs:, or fix the name"),
            };
        }
        DagError::SelfLoop { job, kind, index } => {
            let pos = ref_pos(jobs, refs, job, *kind, *index);
            d.error(
                pos,
                Scope::Job(job),
                field(*kind),
                format!("job {job:?} cannot depend on itself"),
            );
        }
        DagError::Cycle { path } => {
            let (from, to) = (&path[0], path.get(1).unwrap_or(&path[0]));
            let job = jobs.iter().find(|j| &j.name == from);
            let (kind, index) = match job {
                Some(j)
                    if j.frequency.after() == Some(to.as_str()) && !j.depends_on.contains(to) =>
                {
                    (EdgeKind::After, 0)
                }
                Some(j) => {
                    (EdgeKind::DependsOn, j.depends_on.iter().position(|x| x == to).unwrap_or(0))
                }
                None => (EdgeKind::DependsOn, 0),
            };
            let pos = ref_pos(jobs, refs, from, kind, index);
            d.error(
                pos,
                Scope::Job(from),
                field(kind),
                format!("dependency cycle: {}", path.join(" → ")),
            )
            .hint("remove one of the dependencies on the cycle");
        }
    }
}
