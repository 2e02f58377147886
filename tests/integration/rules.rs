//! Table-driven checks of every husky.yaml rule (digest §1, §12 config_test.go and dag_test.go
//! cases): message, line and column of each diagnostic.

use std::collections::HashMap;
use std::path::Path;

use husky::config::{
    Config, EnvSource, Frequency, OnFailure, RetryDelay, Severity, TimeOfDay, validate_husky,
};

fn env() -> EnvSource {
    let process: HashMap<String, String> =
        [("SET_VAR", "value-from-env")].iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    EnvSource::from_maps(process, HashMap::new())
}

/// Renders diagnostics of one severity as `LINE:COL PATH: MESSAGE`.
fn rendered(yaml: &str, severity: Severity) -> Vec<String> {
    validate_husky(Path::new("husky.yaml"), yaml, &env())
        .diagnostics
        .iter()
        .filter(|d| d.severity == severity)
        .map(|d| {
            let pos = d.pos.map_or("-".into(), |p| format!("{}:{}", p.line, p.column));
            let path = d.path();
            if path.is_empty() {
                format!("{pos} {}", d.message)
            } else {
                format!("{pos} {path}: {}", d.message)
            }
        })
        .collect()
}

/// Asserts the errors: each expected entry is `LINE:COL PATH: fragment`, matched in order.
#[track_caller]
fn errors(yaml: &str, expected: &[&str]) {
    matches(&rendered(yaml, Severity::Error), expected, yaml);
}

#[track_caller]
fn warnings(yaml: &str, expected: &[&str]) {
    matches(&rendered(yaml, Severity::Warning), expected, yaml);
}

/// `got` matches `expected` when it starts with the same `LINE:COL PATH: ` prefix and contains
/// the fragment after it.
#[track_caller]
fn matches(got: &[String], expected: &[&str], yaml: &str) {
    let one = |g: &String, e: &&str| match e.split_once(": ") {
        Some((prefix, fragment)) => g.starts_with(&format!("{prefix}: ")) && g.contains(fragment),
        None => g.starts_with(*e),
    };
    let ok = got.len() == expected.len() && got.iter().zip(expected).all(|(g, e)| one(g, e));
    assert!(
        ok,
        "\nexpected:\n  {}\ngot:\n  {}\nin:\n{yaml}",
        expected.join("\n  "),
        got.join("\n  ")
    );
}

#[track_caller]
fn valid(yaml: &str) -> Config {
    let loaded = validate_husky(Path::new("husky.yaml"), yaml, &env());
    let errs: Vec<String> = loaded.errors().map(ToString::to_string).collect();
    assert!(errs.is_empty(), "expected valid, got:\n{}\nin:\n{yaml}", errs.join("\n"));
    loaded.value.expect("valid config")
}

/// A one-job file. Default fields stand on lines 4-7 (description, frequency, time, command);
/// `key: value` replaces a default in place, `-key` removes it, other lines follow from line 8.
fn job(fields: &[&str]) -> String {
    let mut lines = vec!["version: \"1\"".to_owned(), "jobs:".into(), "  j:".into()];
    let key_of = |f: &str| f.trim_start_matches('-').split(':').next().unwrap_or("").to_owned();
    let defaults = [
        ("description", "\"d\""),
        ("frequency", "daily"),
        ("time", "\"0900\""),
        ("command", "\"true\""),
    ];
    for (k, v) in defaults {
        match fields.iter().find(|f| key_of(f) == k && !f.starts_with(' ')) {
            Some(f) if f.starts_with('-') => {}
            Some(f) => lines.push(format!("    {f}")),
            None => lines.push(format!("    {k}: {v}")),
        }
    }
    for f in fields {
        let k = key_of(f);
        if f.starts_with(' ') || !defaults.iter().any(|(d, _)| *d == k) {
            lines.push(format!("    {f}"));
        }
    }
    lines.join("\n") + "\n"
}

#[test]
fn version_rules() {
    errors(
        "jobs:\n  j: {description: d, frequency: manual, command: x}\n",
        &["1:1 version: field is required"],
    );
    errors(
        "version: \"2\"\njobs:\n  j: {description: d, frequency: manual, command: x}\n",
        &["1:10 version: unsupported version \"2\""],
    );
    errors(
        "version: 1\njobs:\n  j: {description: d, frequency: manual, command: x}\n",
        &["1:10 version: expected a string, got a number (1)"],
    );
}

#[test]
fn document_rules() {
    errors("", &["1:1 file is empty or contains only comments"]);
    errors("# nothing\n", &["1:1 file is empty or contains only comments"]);
    errors("version: \"1\"\njobs: {}\n", &["2:1 jobs: at least one job must be defined"]);
    errors("version: \"1\"\n", &["1:1 jobs: field is required"]);
    errors(
        "version: \"1\"\njob:\n  j: {}\n",
        &["1:1 jobs: field is required", "2:1 job: unknown field"],
    );
    errors("version: \"1\"\njobs:\n  a: [1, 2\n", &["4:1 invalid YAML"]);
    errors(
        "version: \"1\"\nversion: \"1\"\njobs: {}\n",
        &["2:1 duplicate key \"version\" (first defined at line 1)"],
    );
}

#[test]
fn required_job_fields() {
    errors(&job(&["-description"]), &["3:3 jobs.j.description: field is required"]);
    errors(&job(&["description: \"  \""]), &["4:18 jobs.j.description: field is required"]);
    errors(&job(&["-command"]), &["3:3 jobs.j.command: field is required"]);
    errors(&job(&["-frequency", "-time"]), &["3:3 jobs.j.frequency: field is required"]);
    errors(
        &job(&["frequncy: daily", "-frequency"]),
        &["3:3 jobs.j.frequency: field is required", "7:5 jobs.j.frequncy: unknown field"],
    );
}

#[test]
fn unknown_fields_suggest_the_right_name() {
    let loaded = validate_husky(Path::new("husky.yaml"), &job(&["retires: 3"]), &env());
    let d = loaded.errors().next().expect("an error");
    assert_eq!(d.path(), "jobs.j.retires");
    assert_eq!(d.message, "unknown field");
    assert_eq!(d.hint.as_deref(), Some("did you mean `retries`?"));
}

#[test]
fn frequency_forms() {
    for f in [
        "hourly",
        "daily",
        "weekly",
        "monthly",
        "weekdays",
        "weekends",
        "manual",
        "every:15s",
        "every:15m",
        "every:2h",
        "every:23h59m",
        "every:1.5s",
        "every:15M",
        "\"on:[monday]\"",
        "\"on:[tuesday, friday]\"",
        "\"on: [Monday]\"",
    ] {
        let needs_time = matches!(f, "daily" | "monthly");
        let yaml = if needs_time {
            job(&[&format!("frequency: {f}")])
        } else {
            job(&[&format!("frequency: {f}"), "-time"])
        };
        valid(&yaml);
    }
    let bad = [
        ("every:0s", "greater than zero"),
        ("every:-15m", "greater than zero"),
        ("every:24h", "must be under 24h"),
        ("every:1d", "must be under 24h"),
        ("every:notaduration", "invalid interval"),
        ("\"on:[]\"", "needs at least one day"),
        ("\"on:[funday]\"", "unknown day \"funday\""),
        ("\"on:[monday,monday]\"", "listed twice"),
        ("\"on:[mon]\"", "unknown day \"mon\""),
        ("on:monday", "bracketed list"),
        ("\"0 3 * * *\"", "unrecognised value"),
        ("fortnightly", "unrecognised value"),
    ];
    for (f, msg) in bad {
        errors(&job(&[&format!("frequency: {f}"), "-time"]), &["5:16 jobs.j.frequency: "]);
        let got = rendered(&job(&[&format!("frequency: {f}"), "-time"]), Severity::Error);
        assert!(got[0].contains(msg), "{f}: {got:?}");
    }
    errors(
        &job(&["frequency: \"after:\"", "-time"]),
        &["5:16 jobs.j.frequency: after: needs a job name"],
    );
}

#[test]
fn time_rules() {
    for t in ["0000", "0200", "0930", "1200", "1430", "2359"] {
        valid(&job(&[&format!("time: \"{t}\"")]));
    }
    let bad = [
        ("\"200\"", "\"200\" must be exactly 4 characters"),
        ("\"2am\"", "\"2am\" must be exactly 4 characters"),
        ("\"25:00\"", "must be exactly 4 characters"),
        ("\"25ab\"", "must contain only digits"),
        ("\"12ab\"", "must contain only digits"),
        ("\"2500\"", "hour 25 is out of range (00-23)"),
        ("\"2599\"", "hour 25 is out of range (00-23)"),
        ("\"1260\"", "minute 60 is out of range (00-59)"),
        ("\" 0900\"", "must be exactly 4 characters"),
        ("0900", "expected a string, got a number (0900)"),
        ("1430", "expected a string, got a number (1430)"),
    ];
    for (t, msg) in bad {
        errors(&job(&[&format!("time: {t}")]), &[&format!("6:11 jobs.j.time: {msg}")]);
    }
    let loaded = validate_husky(Path::new("husky.yaml"), &job(&["time: 0900"]), &env());
    assert_eq!(
        loaded.errors().next().and_then(|d| d.hint.clone()).as_deref(),
        Some("quote the time: time: \"0900\"")
    );
}

#[test]
fn time_depends_on_frequency() {
    errors(&job(&["-time"]), &["3:3 jobs.j.time: field is required when frequency is \"daily\""]);
    errors(
        &job(&["frequency: monthly", "-time"]),
        &["3:3 jobs.j.time: field is required when frequency is \"monthly\""],
    );
    let c = valid(&job(&["frequency: weekly", "-time"]));
    assert_eq!(c.jobs[0].time, Some(TimeOfDay { hour: 3, minute: 0 }), "built-in 0300");
    let with_default = "version: \"1\"\ndefaults:\n  default_run_time: \"0415\"\njobs:\n  j: {description: d, frequency: weekdays, command: x}\n";
    assert_eq!(valid(with_default).jobs[0].time, Some(TimeOfDay { hour: 4, minute: 15 }));
    errors(
        "version: \"1\"\ndefaults:\n  default_run_time: \"25ab\"\njobs:\n  j: {description: d, frequency: weekly, command: x}\n",
        &["3:21 defaults.default_run_time: \"25ab\" must contain only digits"],
    );
    // A time on a frequency that ignores it is a warning, not an error.
    for f in ["hourly", "manual", "every:5m", "after:k"] {
        let yaml = format!(
            "version: \"1\"\njobs:\n  k: {{description: d, frequency: manual, command: x}}\n  j:\n    description: d\n    frequency: {f}\n    time: \"0900\"\n    command: x\n"
        );
        valid(&yaml);
        warnings(&yaml, &[&format!("7:5 jobs.j.time: field is ignored when frequency is \"{f}\"")]);
    }
}

#[test]
fn enums_and_retry_delay() {
    errors(
        &job(&["concurrency: queue"]),
        &[
            "8:18 jobs.j.concurrency: unrecognised value \"queue\" (accepted: allow, forbid, replace)",
        ],
    );
    errors(
        &job(&["on_failure: restart"]),
        &[
            "8:17 jobs.j.on_failure: unrecognised value \"restart\" (accepted: alert, skip, stop, ignore)",
        ],
    );
    errors(&job(&["on_failure: Stop"]), &["8:17 jobs.j.on_failure: unrecognised value \"Stop\""]);
    errors(
        &job(&["retry_delay: linear"]),
        &["8:18 jobs.j.retry_delay: retry_delay must be \"exponential\" or \"fixed:<duration>\""],
    );
    errors(
        &job(&["retry_delay: \"fixed:notaduration\""]),
        &["8:18 jobs.j.retry_delay: invalid duration \"notaduration\""],
    );
    let c =
        valid(&job(&["retry_delay: \"fixed:45s\"", "concurrency: forbid", "on_failure: ignore"]));
    assert_eq!(c.jobs[0].retry_delay, RetryDelay::Fixed(time::Duration::seconds(45)));
    assert_eq!(c.jobs[0].on_failure, OnFailure::Ignore);
    errors(
        "version: \"1\"\ndefaults:\n  on_failure: explode\njobs:\n  j: {description: d, frequency: manual, command: x}\n",
        &["3:15 defaults.on_failure: unrecognised value \"explode\""],
    );
    errors(
        "version: \"1\"\ndefaults:\n  retry_delay: linear\njobs:\n  j: {description: d, frequency: manual, command: x}\n",
        &["3:16 defaults.retry_delay: retry_delay must be"],
    );
}

#[test]
fn defaults_are_applied_but_explicit_values_win() {
    let yaml = "version: \"1\"\ndefaults:\n  timeout: 45m\n  retries: 3\n  retry_delay: \"fixed:10s\"\n  on_failure: skip\n  timezone: Europe/Berlin\njobs:\n  a: {description: d, frequency: manual, command: x}\n  b: {description: d, frequency: manual, command: x, retries: 0, timeout: 5m, on_failure: alert, timezone: UTC}\n";
    let c = valid(yaml);
    let (a, b) = (&c.jobs[0], &c.jobs[1]);
    assert_eq!(
        (a.retries, a.timeout, a.on_failure),
        (3, time::Duration::minutes(45), OnFailure::Skip)
    );
    assert_eq!(a.retry_delay, RetryDelay::Fixed(time::Duration::seconds(10)));
    assert_eq!(a.timezone.as_deref(), Some("Europe/Berlin"));
    assert_eq!(
        (b.retries, b.timeout, b.on_failure),
        (0, time::Duration::minutes(5), OnFailure::Alert)
    );
    assert_eq!(b.timezone.as_deref(), Some("UTC"));
    let plain = valid(&job(&[]));
    assert_eq!(plain.jobs[0].timeout, time::Duration::minutes(30), "built-in timeout");
    assert_eq!(plain.jobs[0].retries, 0);
}

#[test]
fn timeouts_are_validated() {
    errors(&job(&["timeout: 30x"]), &["8:14 jobs.j.timeout: invalid duration \"30x\""]);
    errors(&job(&["timeout: 0s"]), &["8:14 jobs.j.timeout: \"0s\" must be greater than zero"]);
    errors(
        &job(&["timeout: 10"]),
        &["8:14 jobs.j.timeout: expected a duration string, got a number (10)"],
    );
    errors(
        "version: \"1\"\ndefaults:\n  timeout: forever\njobs:\n  j: {description: d, frequency: manual, command: x}\n",
        &["3:12 defaults.timeout: invalid duration \"forever\""],
    );
    valid(&job(&["timeout: 2d"]));
}

#[test]
fn sla_rules() {
    for (timeout, sla) in [("30m", "30m"), ("1h", "1h"), ("20m", "1h")] {
        errors(
            &job(&[&format!("timeout: {timeout}"), &format!("sla: {sla}")]),
            &["9:10 jobs.j.sla: sla >= timeout is not allowed"],
        );
    }
    for sla in ["20m", "1h30m", "90s", "2h"] {
        valid(&job(&["timeout: 3h", &format!("sla: {sla}")]));
    }
    valid(&job(&["sla: 20m"]));
    // The effective timeout counts: defaults.timeout, else the built-in 30m.
    errors(
        &job(&["sla: 45m"]),
        &[
            "8:10 jobs.j.sla: sla >= timeout is not allowed: sla 45m is not shorter than the default timeout 30m",
        ],
    );
    errors(
        "version: \"1\"\ndefaults:\n  timeout: 10m\njobs:\n  j: {description: d, frequency: manual, command: x, sla: 15m}\n",
        &[
            "5:59 jobs.j.sla: sla >= timeout is not allowed: sla 15m is not shorter than defaults.timeout 10m",
        ],
    );
    errors(&job(&["sla: soon"]), &["8:10 jobs.j.sla: invalid duration \"soon\""]);
    warnings(&job(&["sla: 0s"]), &["8:10 jobs.j.sla: sla \"0s\" is not positive"]);
}

#[test]
fn env_values_and_interpolation() {
    let c = valid(&job(&[
        "env:",
        "  A: \"${env:SET_VAR}\"",
        "  B: \"x-${env:MISSING_VAR}-y\"",
        "  C: literal",
    ]));
    assert_eq!(
        c.jobs[0].env,
        [
            ("A".into(), "value-from-env".into()),
            ("B".into(), "x--y".into()),
            ("C".into(), "literal".into())
        ]
    );
    warnings(
        &job(&["env:", "  B: \"${env:MISSING_VAR}\""]),
        &["9:10 jobs.j.env.B: environment variable MISSING_VAR is not set"],
    );
    errors(
        &job(&["env:", "  PORT: 8080"]),
        &["9:13 jobs.j.env.PORT: expected a string, got a number (8080)"],
    );
}

#[test]
fn three_errors_in_three_jobs_in_file_order() {
    let yaml = "version: \"1\"\njobs:\n  c:\n    description: d\n    frequency: daily\n    time: \"2500\"\n    command: x\n  a:\n    description: d\n    frequency: weekly\n    command: x\n    retries: many\n  b:\n    description: d\n    frequency: every:1d\n    command: x\n";
    errors(
        yaml,
        &[
            "6:11 jobs.c.time: hour 25 is out of range",
            "12:14 jobs.a.retries: expected a whole number, got a string",
            "15:16 jobs.b.frequency: interval \"1d\" must be under 24h",
        ],
    );
}

#[test]
fn dependencies() {
    errors(
        &job(&["depends_on: [j]"]),
        &["8:18 jobs.j.depends_on: job \"j\" cannot depend on itself"],
    );
    let yaml = "version: \"1\"\njobs:\n  load:\n    description: d\n    frequency: manual\n    command: x\n  report:\n    description: d\n    frequency: manual\n    command: x\n    depends_on: [laod]\n";
    errors(yaml, &["11:18 jobs.report.depends_on: unknown job \"laod\""]);
    let d = validate_husky(Path::new("husky.yaml"), yaml, &env()).diagnostics;
    assert_eq!(d[0].hint.as_deref(), Some("did you mean `load`? (job names are case-sensitive)"));
    // after: keeps the case of the job name: `Ingest` is not `ingest`.
    let yaml = "version: \"1\"\njobs:\n  ingest: {description: d, frequency: manual, command: x}\n  t: {description: d, frequency: \"after:Ingest\", command: x}\n";
    errors(yaml, &["4:34 jobs.t.frequency: unknown job \"Ingest\""]);
    let cycle = "version: \"1\"\njobs:\n  a: {description: d, frequency: manual, command: x, depends_on: [c]}\n  b: {description: d, frequency: manual, command: x, depends_on: [a]}\n  c: {description: d, frequency: manual, command: x, depends_on: [b]}\n";
    errors(cycle, &["3:67 jobs.a.depends_on: dependency cycle: a → c → b → a"]);
    let after = "version: \"1\"\njobs:\n  a: {description: d, frequency: manual, command: x}\n  b: {description: d, frequency: \"after:a\", command: x}\n";
    let c = valid(after);
    assert_eq!(c.jobs[1].frequency, Frequency::After("a".into()));
    assert_eq!(c.dag.edges().collect::<Vec<_>>(), [("a", "b")]);
}

#[test]
fn timezones() {
    for tz in ["America/New_York", "Europe/London", "Asia/Kolkata", "UTC", "Australia/Lord_Howe"] {
        valid(&job(&[&format!("timezone: {tz}")]));
    }
    errors(
        &job(&["timezone: Mars/Olympus"]),
        &["8:15 jobs.j.timezone: unknown IANA timezone identifier \"Mars/Olympus\""],
    );
    errors(
        "version: \"1\"\ndefaults:\n  timezone: Nowhere/City\njobs:\n  j: {description: d, frequency: manual, command: x}\n",
        &["3:13 defaults.timezone: unknown IANA timezone identifier"],
    );
    let d = validate_husky(Path::new("husky.yaml"), &job(&["timezone: america/new_york"]), &env())
        .diagnostics;
    assert_eq!(d[0].hint.as_deref(), Some("did you mean `America/New_York`?"));
}

#[test]
fn tags() {
    valid(&job(&["tags: [etl, nightly-2, \"9a\"]"]));
    for (tag, col) in [
        ("CamelCase", 12),
        ("\"has space\"", 12),
        ("has_underscore", 12),
        ("has.dot", 12),
        ("\"-lead\"", 12),
    ] {
        errors(&job(&[&format!("tags: [{tag}]")]), &[&format!("8:{col} jobs.j.tags: tag ")]);
    }
    let eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
    errors(
        &job(&[&format!("tags: [{}]", eleven.join(", "))]),
        &["8:52 jobs.j.tags: too many tags (11); maximum is 10"],
    );
    let long = "a".repeat(33);
    errors(&job(&[&format!("tags: [{long}]")]), &["8:12 jobs.j.tags: tag \"aaaaaaaa"]);
    assert!(
        rendered(&job(&[&format!("tags: [{long}]")]), Severity::Error)[0]
            .contains("exceeds maximum length of 32 characters")
    );
    errors(&job(&["tags: [etl, etl]"]), &["8:17 jobs.j.tags: duplicate tag \"etl\""]);
}

#[test]
fn healthcheck() {
    valid(&job(&[
        "healthcheck:",
        "  command: \"curl -f localhost\"",
        "  timeout: 10s",
        "  on_fail: warn_only",
    ]));
    errors(
        &job(&["healthcheck:", "  timeout: 10s"]),
        &["8:5 jobs.j.healthcheck.command: field is required"],
    );
    errors(
        &job(&["healthcheck:", "  command: x", "  timeout: ten"]),
        &["10:16 jobs.j.healthcheck.timeout: invalid duration"],
    );
    errors(
        &job(&["healthcheck:", "  command: x", "  on_fail: ignore"]),
        &["10:16 jobs.j.healthcheck.on_fail: unrecognised value \"ignore\""],
    );
}

#[test]
fn outputs() {
    valid(&job(&[
        "output:",
        "  a: last_line",
        "  b: first_line",
        "  c: exit_code",
        "  d: \"json_field:data.count\"",
        "  e: 'regex:v(\\d+)'",
    ]));
    errors(
        &job(&["output:", "  x: \"json_field:\""]),
        &["9:10 jobs.j.output.x: json_field: requires a non-empty key"],
    );
    errors(
        &job(&["output:", "  x: \"regex:\""]),
        &["9:10 jobs.j.output.x: regex: requires a non-empty pattern"],
    );
    errors(
        &job(&["output:", "  x: \"regex:[invalid\""]),
        &["9:10 jobs.j.output.x: invalid pattern \"[invalid\""],
    );
    errors(
        &job(&["output:", "  x: second_line"]),
        &["9:10 jobs.j.output.x: unrecognised output capture mode \"second_line\""],
    );
    errors(
        &job(&["output:", "  \" \": last_line"]),
        &["9:7 jobs.j.output: variable name must not be blank"],
    );
}

#[test]
fn notify_forms() {
    let yaml = "version: \"1\"\nintegrations:\n  slack:\n    webhook_url: https://hooks.example/x\njobs:\n  j:\n    description: d\n    frequency: manual\n    command: x\n    notify:\n      on_failure: slack:#data-alerts\n      on_success:\n        channel: slack:#data-reports\n        message: \"{{ job.name }} recovered\"\n        only_after_failure: true\n      on_retry: {channel: \"webhook:https://example.test/hook\", attach_logs: last_30_lines}\n";
    let c = valid(yaml);
    let n = &c.jobs[0].notify;
    assert_eq!(n.on_failure.as_ref().map(|t| t.channel.as_str()), Some("slack:#data-alerts"));
    assert!(n.on_success.as_ref().is_some_and(|t| t.only_after_failure));
    assert_eq!(
        n.on_retry.as_ref().map(|t| t.attach_logs),
        Some(husky::config::AttachLogs::Last(30))
    );
    errors(
        &job(&["notify:", "  on_failure: {message: hi}"]),
        &["9:7 jobs.j.notify.on_failure.channel: field is required"],
    );
    errors(
        &job(&["notify:", "  on_failure: {channel: \"slack:#x\", colour: red}"]),
        &["9:41 jobs.j.notify.on_failure.colour: unknown field"],
    );
    errors(
        &job(&["notify:", "  on_fail: slack:#x"]),
        &["9:7 jobs.j.notify.on_fail: unknown field"],
    );
    warnings(
        &job(&["notify:", "  on_failure: \"discord:#x\""]),
        &["9:19 jobs.j.notify.on_failure: no integration named \"discord\""],
    );
    warnings(
        &job(&["notify:", "  on_failure: nowhere"]),
        &["9:19 jobs.j.notify.on_failure: channel \"nowhere\" has no prefix"],
    );
}

/// Asserts one error (as in [`errors`]) whose hint contains `hint`.
#[track_caller]
fn error_with_hint(yaml: &str, expected: &str, hint: &str) {
    errors(yaml, &[expected]);
    let loaded = validate_husky(Path::new("husky.yaml"), yaml, &env());
    let got = loaded.errors().next().and_then(|d| d.hint.clone()).unwrap_or_default();
    assert!(got.contains(hint), "hint {got:?} lacks {hint:?} in:\n{yaml}");
}

/// A job whose notify.on_failure goes to an ad-hoc webhook with the given extra lines (line 11
/// onwards, indented under on_failure).
fn on_failure(lines: &[&str]) -> String {
    let mut fields = vec!["notify:", "  on_failure:", "    channel: \"webhook:https://x.test\""];
    let owned: Vec<String> = lines.iter().map(|l| format!("    {l}")).collect();
    fields.extend(owned.iter().map(String::as_str));
    job(&fields)
}

#[test]
fn notify_message_templates_are_checked_at_load() {
    let c = valid(&on_failure(&[
        "message: \"{{ .job.name }} {{if not run.sla_breached}}failed{{else}}late{{end}} -{{- run.status }}\"",
    ]));
    let t = c.jobs[0].notify.on_failure.as_ref().expect("on_failure");
    assert!(t.message.as_deref().is_some_and(|m| m.starts_with("{{ .job.name }}")));
    // Quoted and plain one-line scalars: the column of the problem inside the string.
    error_with_hint(
        &on_failure(&["message: \"{{ job.nme }} failed\""]),
        "11:22 jobs.j.notify.on_failure.message: invalid message template: unknown variable job.nme",
        "did you mean {{ job.name }}?",
    );
    error_with_hint(
        &on_failure(&["message: 'x {{ run.stauts }}'"]),
        "11:24 jobs.j.notify.on_failure.message: unknown variable run.stauts",
        "did you mean {{ run.status }}?",
    );
    error_with_hint(
        &on_failure(&["message: x {{ run.elapsed }}"]),
        "11:23 jobs.j.notify.on_failure.message: unknown variable run.elapsed",
        "variables: job.name, job.description",
    );
    // A literal block: the line and column inside the block.
    error_with_hint(
        &on_failure(&["message: |", "  Job {{ job.name }}", "  {{ range job.tags }}x{{ end }}"]),
        "13:14 jobs.j.notify.on_failure.message: invalid message template: {{ range }} is not supported",
        "templates support {{ VAR }}",
    );
    // Escapes before the problem: the scalar's own position.
    errors(
        &on_failure(&["message: \"a\\tb {{ nope }}\""]),
        &["11:18 jobs.j.notify.on_failure.message: unknown variable nope"],
    );
    errors(
        &on_failure(&["message: \"{{ if run.id }}retrying\""]),
        &["11:19 jobs.j.notify.on_failure.message: {{ if }} is not closed"],
    );
    errors(
        &on_failure(&["message: \"{{ job.name | upper }}\""]),
        &["11:31 jobs.j.notify.on_failure.message: pipelines (|) are not supported"],
    );
}

#[test]
fn notify_cooldown() {
    let c = valid(&on_failure(&["cooldown: 30m"]));
    let t = c.jobs[0].notify.on_failure.as_ref().expect("on_failure");
    assert_eq!(t.cooldown, Some(time::Duration::minutes(30)));
    assert_eq!(valid(&on_failure(&[])).jobs[0].notify.on_failure.as_ref().unwrap().cooldown, None);
    error_with_hint(
        &on_failure(&["cooldown: 0s"]),
        "11:19 jobs.j.notify.on_failure.cooldown: \"0s\" must be greater than zero",
        "remove cooldown",
    );
    error_with_hint(
        &on_failure(&["cooldown: 15"]),
        "11:19 jobs.j.notify.on_failure.cooldown: expected a duration string, got a number (15)",
        "add a unit: cooldown: 15s or 15m",
    );
    errors(
        &on_failure(&["cooldown: 1 hour"]),
        &["11:19 jobs.j.notify.on_failure.cooldown: invalid duration \"1 hour\""],
    );
    errors(
        &on_failure(&["cooldwn: 1h"]),
        &["11:9 jobs.j.notify.on_failure.cooldwn: unknown field"],
    );
}

#[test]
fn integration_secret_and_url() {
    let top = |integrations: &str| {
        format!(
            "version: \"1\"\nintegrations:\n{integrations}jobs:\n  j: {{description: d, frequency: manual, command: x}}\n"
        )
    };
    let c = valid(&top(
        "  webhook:\n    webhook_url: https://hooks.test/x\n    secret: \"${env:SET_VAR}\"\n  pagerduty:\n    routing_key: k\n    url: http://127.0.0.1:9/v2/enqueue\n",
    ));
    assert_eq!(c.integrations["webhook"].secret.as_deref(), Some("value-from-env"));
    assert_eq!(c.integrations["pagerduty"].url.as_deref(), Some("http://127.0.0.1:9/v2/enqueue"));
    assert_eq!(c.integrations["pagerduty"].secret, None);
    let slack = top("  slack:\n    webhook_url: https://hooks.test/x\n    secret: s3cret\n");
    warnings(
        &slack,
        &[
            "5:5 integrations.slack.secret: secret only signs provider webhook requests; it is ignored for provider \"slack\"",
        ],
    );
    assert_eq!(valid(&slack).integrations["slack"].secret, None);
    warnings(
        &top("  discord:\n    webhook_url: https://hooks.test/x\n    url: https://hooks.test/y\n"),
        &["5:5 integrations.discord.url: url only sets the PagerDuty endpoint; it is ignored"],
    );
    error_with_hint(
        &top("  pagerduty:\n    routing_key: k\n    url: events.pagerduty.com/v2/enqueue\n"),
        "5:10 integrations.pagerduty.url: url \"events.pagerduty.com/v2/enqueue\" must start with http:// or https://",
        "e.g. url: https://events.pagerduty.com/v2/enqueue",
    );
    errors(
        &top("  pd:\n    provider: pagerduty\n    routing_key: k\n    url: \"https:///v2\"\n"),
        &["6:10 integrations.pd.url: url \"https:///v2\" is not a valid URL"],
    );
}

#[test]
fn integrations_aggregate_errors() {
    let yaml = "version: \"1\"\nintegrations:\n  slack:\n    provider: slack\n  smtp:\n    port: 25\n  pagerduty: {}\n  mail:\n    provider: smtp\n    host: mail.example\n    from: husky@example\n    port: 99999\njobs:\n  j: {description: d, frequency: manual, command: x}\n";
    errors(
        yaml,
        &[
            "3:3 integrations.slack.webhook_url: field is required for provider \"slack\"",
            "5:3 integrations.smtp.host: field is required for provider \"smtp\"",
            "5:3 integrations.smtp.from: field is required for provider \"smtp\"",
            "7:3 integrations.pagerduty.routing_key: field is required",
            "12:11 integrations.mail.port: 99999 is out of range (0-65535)",
        ],
    );
    errors(
        "version: \"1\"\nintegrations:\n  ops:\n    webhook_url: https://x\njobs:\n  j: {description: d, frequency: manual, command: x}\n",
        &[
            "3:3 integrations.ops.provider: integration \"ops\" is not a provider name, so provider must be set",
        ],
    );
    errors(
        "version: \"1\"\nintegrations:\n  ops:\n    provider: teams\njobs:\n  j: {description: d, frequency: manual, command: x}\n",
        &["4:15 integrations.ops.provider: unsupported provider \"teams\""],
    );
    let c = valid(
        "version: \"1\"\nintegrations:\n  slack_ops:\n    provider: slack\n    webhook_url: \"${env:SET_VAR}\"\njobs:\n  j: {description: d, frequency: manual, command: x}\n",
    );
    assert_eq!(c.integrations["slack_ops"].webhook_url.as_deref(), Some("value-from-env"));
}

#[test]
fn anchors_and_merge_keys() {
    let yaml = "version: \"1\"\nx-base: &base\n  description: shared\n  command: x\njobs:\n  j:\n    <<: *base\n    frequency: manual\n";
    // A top-level extension key is still an unknown field…
    errors(yaml, &["2:1 x-base: unknown field"]);
    // …but anchors inside known structure work.
    let yaml = "version: \"1\"\njobs:\n  a: &base\n    description: shared\n    frequency: manual\n    command: x\n  b:\n    <<: *base\n    command: y\n";
    let c = valid(yaml);
    assert_eq!(c.jobs[1].description, "shared");
    assert_eq!(c.jobs[1].command, "y");
}
