//! The `husky` binary end to end: validate (text and JSON, exit codes, --strict, huskyd.yaml
//! beside husky.yaml), config show, init, dag, tags list, --version, usage errors.

use serde_json::Value;

use crate::util::{TestDir, fixtures, shared_compat};

const GOOD: &str = "version: \"1\"\njobs:\n  ingest:\n    description: d\n    frequency: daily\n    time: \"0200\"\n    command: echo in\n    tags: [etl, nightly]\n    env:\n      TOKEN: \"${env:HUSKY_TEST_TOKEN}\"\n  transform:\n    description: d\n    frequency: after:ingest\n    command: echo tr\n    tags: [etl]\n  report:\n    description: d\n    frequency: manual\n    command: echo rep\n    depends_on: [transform]\n";

#[test]
fn compat_files_validate_unchanged() {
    let dir = TestDir::new();
    let compat = fixtures().join("compat");
    for name in ["minimal.yaml", "packaging-husky.yaml"] {
        let path = compat.join(name);
        let out = dir.husky(&["validate", "--config", path.to_str().unwrap()]).expect(0);
        assert!(out.stdout.contains("is valid"), "{}", out.stdout);
    }
    // The packaged huskyd.yaml, beside a husky.yaml, is found and validated too.
    dir.write("husky.yaml", &std::fs::read_to_string(compat.join("packaging-husky.yaml")).unwrap());
    dir.write(
        "huskyd.yaml",
        &std::fs::read_to_string(compat.join("packaging-huskyd.yaml")).unwrap(),
    );
    let out = dir.husky(&["validate"]).expect(0);
    assert!(
        out.stdout.contains("✓ husky.yaml is valid")
            && out.stdout.contains("✓ huskyd.yaml is valid"),
        "{}",
        out.stdout
    );
    // The committed copies are the shared originals, byte for byte.
    if let Some(shared) = shared_compat() {
        for name in ["minimal.yaml", "packaging-husky.yaml", "packaging-huskyd.yaml"] {
            assert_eq!(
                std::fs::read(shared.join(name)).unwrap(),
                std::fs::read(compat.join(name)).unwrap(),
                "{name}"
            );
        }
    }
}

#[test]
fn validate_reports_errors_with_location_and_exit_1() {
    let dir = TestDir::new();
    dir.write("husky.yaml", "version: \"1\"\njobs:\n  etl:\n    description: d\n    frequency: weekday\n    time: 0900\n    command: x\n");
    let out = dir.husky(&["validate"]).expect(1);
    let expected = "husky.yaml:5:16: jobs.etl.frequency: unrecognised value \"weekday\"";
    assert!(out.stdout.contains(expected), "{}", out.stdout);
    assert!(out.stdout.contains("  hint: did you mean `weekdays`?"), "{}", out.stdout);
    assert!(out.stdout.contains("husky.yaml:6:11: jobs.etl.time: expected a string, got a number (0900)\n  hint: quote the time: time: \"0900\""), "{}", out.stdout);
    assert!(out.stdout.contains("✗ husky.yaml: 2 errors"), "{}", out.stdout);
}

#[test]
fn validate_json_shape() {
    let dir = TestDir::new();
    dir.write("husky.yaml", "version: \"1\"\njobs:\n  a:\n    description: d\n    frequency: hourly\n    time: \"0900\"\n    command: x\n    retries: -1\n");
    let out = dir.husky(&["validate", "--format", "json"]).expect(1);
    let v: Value = serde_json::from_str(&out.stdout).expect("JSON output");
    assert_eq!(v["valid"], false);
    let e = &v["errors"][0];
    assert_eq!(
        (e["file"].as_str(), e["line"].as_u64(), e["column"].as_u64()),
        (Some("husky.yaml"), Some(8), Some(14))
    );
    assert_eq!((e["job"].as_str(), e["field"].as_str()), (Some("a"), Some("retries")));
    assert!(e["message"].as_str().unwrap().contains("out of range"));
    assert!(e.get("hint").is_some(), "hint key is always present");
    let w = &v["warnings"][0];
    assert_eq!((w["line"].as_u64(), w["field"].as_str()), (Some(6), Some("time")));
}

#[test]
fn warnings_pass_unless_strict() {
    let dir = TestDir::new();
    dir.write("husky.yaml", GOOD);
    let out = dir.husky(&["validate"]).expect(0);
    assert!(
        out.stdout.contains(
            "warning: jobs.ingest.env.TOKEN: environment variable HUSKY_TEST_TOKEN is not set"
        ),
        "{}",
        out.stdout
    );
    dir.husky(&["validate", "--strict"]).expect(1);
    dir.husky(&["validate", "--strict"]).env("HUSKY_TEST_TOKEN", "t").expect(0);
    // `.env` beside husky.yaml also satisfies the reference.
    dir.write(".env", "HUSKY_TEST_TOKEN=from-dotenv\n");
    dir.husky(&["validate", "--strict"]).expect(0);
}

#[test]
fn usage_errors_exit_2() {
    let dir = TestDir::new();
    let out = dir.husky(&["validate", "--format", "yaml"]).expect(2);
    assert!(out.stderr.contains("expected text or json"), "{}", out.stderr);
    dir.husky(&["frobnicate"]).expect(2);
    dir.husky(&[]).expect(2);
    dir.husky(&["validate", "--format=json"]).expect(2);
    dir.husky(&["help"]).expect(0);
}

#[test]
fn missing_files_are_reported() {
    let dir = TestDir::new();
    let out = dir.husky(&["validate", "--config", "nope.yaml"]).expect(1);
    assert!(out.stdout.contains("nope.yaml: cannot read the file: no such file"), "{}", out.stdout);
    dir.write("husky.yaml", GOOD);
    let out = dir.husky(&["validate", "--daemon-config", "missing-huskyd.yaml"]).expect(1);
    assert!(out.stdout.contains("missing-huskyd.yaml: cannot read the file"), "{}", out.stdout);
}

#[test]
fn daemon_config_beside_husky_yaml_is_checked() {
    let dir = TestDir::new();
    dir.write("husky.yaml", GOOD);
    dir.write(
        "huskyd.yaml",
        "api:\n  adr: 127.0.0.1:8420\nstorage:\n  engine: postgres\nauth:\n  type: oidc\n",
    );
    let out = dir.husky(&["validate"]).expect(1);
    assert!(
        out.stdout
            .contains("huskyd.yaml:2:3: api.adr: unknown field\n  hint: did you mean `addr`?"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("huskyd.yaml:4:11: storage.engine: postgres is not supported"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("huskyd.yaml:6:9: auth.type: oidc is not supported"),
        "{}",
        out.stdout
    );
    dir.write("huskyd.yaml", "");
    dir.husky(&["validate"]).expect(0);
}

#[test]
fn config_show_applies_defaults_and_redacts() {
    let dir = TestDir::new();
    dir.write("husky.yaml", GOOD);
    let out = dir
        .husky(&["config", "show", "--format", "json"])
        .env("HUSKY_TEST_TOKEN", "s3cret")
        .expect(0);
    let v: Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(v["jobs"]["ingest"]["env"]["TOKEN"], "***");
    assert_eq!(v["jobs"]["ingest"]["timeout"], "30m");
    assert_eq!(v["jobs"]["report"]["retries"], 0);
    assert_eq!(v["defaults"]["default_run_time"], "0300");
    let out = dir
        .husky(&["config", "show", "--show-secrets"])
        .env("HUSKY_TEST_TOKEN", "s3cret")
        .expect(0);
    assert!(out.stdout.contains("TOKEN: s3cret"), "{}", out.stdout);
    // The YAML output is itself a valid husky.yaml.
    dir.write("shown/husky.yaml", &out.stdout);
    dir.husky(&["validate", "--config", "shown/husky.yaml"]).expect(0);
    let out = dir.husky(&["config", "show", "--daemon", "--format", "json"]).expect(0);
    let v: Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(v["api"]["addr"], "127.0.0.1:8420");
    assert_eq!(v["scheduler"]["max_concurrent_jobs"], 32);
    assert_eq!(v["alerts"]["give_up_after"], "24h");
    let retention = &v["storage"]["retention"];
    assert_eq!(retention["keep_last_failures"], 0);
    assert_eq!(retention["max_log_bytes_per_run"], "10 MiB");
    assert_eq!(retention["max_total_bytes"], "1 GiB");
    dir.write(
        "huskyd.yaml",
        "storage:\n  retention:\n    keep_last_failures: 3\n    max_log_bytes_per_run: 0\n    \
         max_total_bytes: 2000000\n",
    );
    let out = dir.husky(&["config", "show", "--daemon"]).expect(0);
    assert!(
        out.stdout.contains(
            "    keep_last_failures: 3\n    max_log_bytes_per_run: 0 B\n    max_total_bytes: 2 MB\n"
        ),
        "{}",
        out.stdout
    );
    // The YAML output is itself a valid huskyd.yaml.
    dir.write("shown/huskyd.yaml", &out.stdout);
    dir.husky(&["validate", "--daemon-config", "shown/huskyd.yaml"]).expect(0);
}

#[test]
fn config_show_prints_the_notify_extensions() {
    let dir = TestDir::new();
    dir.write(
        "husky.yaml",
        "version: \"1\"\nintegrations:\n  webhook:\n    webhook_url: https://hooks.test/x\n    \
         secret: \"${env:HUSKY_TEST_TOKEN}\"\n  pagerduty:\n    routing_key: k\n    \
         url: https://events.test/v2/enqueue\njobs:\n  j:\n    description: d\n    \
         frequency: manual\n    command: \"true\"\n    notify:\n      on_failure:\n        \
         channel: \"webhook:\"\n        message: \"{{ job.name }} {{ run.status }}\"\n        \
         cooldown: 90m\n",
    );
    let out = dir
        .husky(&["config", "show", "--format", "json"])
        .env("HUSKY_TEST_TOKEN", "s3cret")
        .expect(0);
    let v: Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(v["integrations"]["webhook"]["secret"], "***");
    assert_eq!(v["integrations"]["pagerduty"]["url"], "https://events.test/v2/enqueue");
    let target = &v["jobs"]["j"]["notify"]["on_failure"];
    assert_eq!(target["cooldown"], "1h30m");
    assert_eq!(target["message"], "{{ job.name }} {{ run.status }}");
    let out = dir
        .husky(&["config", "show", "--show-secrets"])
        .env("HUSKY_TEST_TOKEN", "s3cret")
        .expect(0);
    assert!(out.stdout.contains("secret: s3cret"), "{}", out.stdout);
    dir.write("shown/husky.yaml", &out.stdout);
    dir.husky(&["validate", "--config", "shown/husky.yaml"]).expect(0);
}

#[test]
fn init_writes_a_valid_starter_and_never_overwrites() {
    let dir = TestDir::new();
    dir.write(".gitignore", "target");
    dir.husky(&["init"]).expect(0);
    assert_eq!(dir.read(".gitignore"), "target\n.husky/\n");
    let out = dir.husky(&["validate", "--strict"]).expect(0);
    assert!(
        out.stdout.contains("✓ husky.yaml is valid\n"),
        "starter has no warnings: {}",
        out.stdout
    );
    let before = dir.read("husky.yaml");
    let out = dir.husky(&["init"]).expect(1);
    assert!(out.stderr.contains("already exists"), "{}", out.stderr);
    assert_eq!(dir.read("husky.yaml"), before);
    assert_eq!(dir.read(".gitignore"), "target\n.husky/\n", "not added twice");
}

#[test]
fn dag_and_tags() {
    let dir = TestDir::new();
    dir.write("husky.yaml", GOOD);
    let out = dir.husky(&["dag"]).expect(0);
    assert_eq!(out.stdout, "ingest\ntransform  ←  [ingest]\nreport  ←  [transform]\n");
    let out = dir.husky(&["dag", "--format", "json"]).expect(0);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v[0], serde_json::json!({"name": "ingest", "dependencies": []}));
    assert!(
        dir.husky(&["dag", "--format", "dot"])
            .expect(0)
            .stdout
            .contains("\"transform\" -> \"report\";")
    );
    let out = dir.husky(&["tags", "list"]).expect(0);
    assert_eq!(
        out.stdout,
        "TAG      COUNT  JOBS\netl      2      ingest,transform\nnightly  1      ingest\n"
    );
    let out = dir.husky(&["tags", "list", "--format", "json"]).expect(0);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v[0]["jobs"], serde_json::json!(["ingest", "transform"]));
    // HUSKY_CONFIG names the file when --config is absent.
    let other = TestDir::new();
    let out = other
        .husky(&["dag"])
        .env("HUSKY_CONFIG", dir.path.join("husky.yaml").to_str().unwrap())
        .expect(0);
    assert!(out.stdout.starts_with("ingest\n"));
    // A config with a cycle is refused, with the path.
    dir.write("husky.yaml", "version: \"1\"\njobs:\n  a: {description: d, frequency: manual, command: x, depends_on: [b]}\n  b: {description: d, frequency: manual, command: x, depends_on: [a]}\n");
    let out = dir.husky(&["dag"]).expect(1);
    assert!(out.stderr.contains("dependency cycle: a → b → a"), "{}", out.stderr);
}

#[test]
fn version_flag() {
    let dir = TestDir::new();
    for flag in ["--version", "-V"] {
        let out = dir.husky(&[flag]).expect(0);
        let line = out.stdout.trim();
        assert!(
            line.starts_with(&format!("husky {} (commit ", env!("CARGO_PKG_VERSION"))),
            "{line}"
        );
        assert!(line.contains(", built 20") && line.ends_with(')'), "{line}");
    }
}

#[test]
fn next_previews_fires_with_dst_notes() {
    let dir = TestDir::new();
    dir.write(
        "husky.yaml",
        "version: \"1\"\njobs:\n  gap:\n    description: d\n    frequency: daily\n    time: \"0230\"\n    timezone: America/New_York\n    command: x\n  m: {description: d, frequency: manual, command: x}\n",
    );
    let out = dir
        .husky(&["next", "--from", "2026-03-07T12:00:00Z", "--count", "2", "--format", "json"])
        .expect(0);
    let v: Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(
        v[0],
        serde_json::json!({"job": "gap", "timezone": "America/New_York", "fires": [
            {"at": "2026-03-08T07:30:00Z", "local": "2026-03-08T03:30:00-04:00", "note": "dst_gap_shifted"},
            {"at": "2026-03-09T06:30:00Z", "local": "2026-03-09T02:30:00-04:00", "note": null},
        ]})
    );
    assert_eq!(v[1]["fires"], serde_json::json!([]));
    let out =
        dir.husky(&["next", "gap", "--from", "2026-03-07T12:00:00Z", "--count", "1"]).expect(0);
    assert!(
        out.stdout.contains("2026-03-08 03:30 EDT") && out.stdout.contains("DST gap"),
        "{}",
        out.stdout
    );
    let out = dir.husky(&["next", "gpa"]).expect(1);
    assert!(out.stderr.contains("did you mean `gap`?"), "{}", out.stderr);
    dir.husky(&["next", "--from", "yesterday"]).expect(2);
}

#[test]
fn validate_warns_about_calendar_times_in_dst_changes() {
    let dir = TestDir::new();
    dir.write(
        "husky.yaml",
        "version: \"1\"\ndefaults:\n  timezone: America/New_York\njobs:\n  spring:\n    description: d\n    frequency: daily\n    time: \"0230\"\n    command: x\n  fall:\n    description: d\n    frequency: weekends\n    time: \"0130\"\n    command: x\n  safe:\n    description: d\n    frequency: daily\n    time: \"0900\"\n    command: x\n  every:\n    description: d\n    frequency: every:30m\n    command: x\n",
    );
    let out = dir.husky(&["validate"]).expect(0);
    // New York springs forward on the second Sunday of March and falls back on the first
    // Sunday of November; any year ahead holds one of each.
    let gap = regex_lite::Regex::new(
        r"husky.yaml:5:3: warning: jobs.spring.time: 02:30 does not exist in America/New_York on 20\d\d-03-(0[89]|1[0-4]) \(DST gap\); it runs shifted forward by the gap, at 03:30 EDT",
    )
    .expect("regex");
    assert!(gap.is_match(&out.stdout), "{}", out.stdout);
    let overlap = regex_lite::Regex::new(
        r"jobs.fall.time: 01:30 occurs twice in America/New_York on 20\d\d-11-0[1-7] \(DST overlap\); it runs once, at the first occurrence \(01:30 EDT\)",
    )
    .expect("regex");
    assert!(overlap.is_match(&out.stdout), "{}", out.stdout);
    assert!(
        !out.stdout.contains("jobs.safe") && !out.stdout.contains("jobs.every"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("valid (2 warnings)"), "{}", out.stdout);
    let json = dir.husky(&["validate", "--format", "json"]).expect(0);
    let v: Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(v["warnings"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["warnings"][0]["job"], "spring");
    assert_eq!(v["warnings"][0]["field"], "time");
    dir.husky(&["validate", "--strict"]).expect(1);
}
