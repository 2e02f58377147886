//! Docs move with code: the man pages document every field the schemas define, the README keeps
//! its test command identical to CI's, and `--help` lists every command.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::util::TestDir;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every property name anywhere in a schema (resolving nothing: `$defs` are walked too).
fn property_names(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = map.get("properties") {
                out.extend(props.keys().cloned());
            }
            map.values().for_each(|x| property_names(x, out));
        }
        Value::Array(items) => items.iter().for_each(|x| property_names(x, out)),
        _ => {}
    }
}

/// Roff source as plain words: font escapes and line breaks removed, spaces collapsed.
fn roff_text(rel: &str) -> String {
    let t = read(rel);
    let t = t.replace("\\fB", "").replace("\\fI", "").replace("\\fR", "").replace("\\fP", "");
    let t = t.replace("\\-", "-").replace("\\_", "_").replace("\\(em", "—").replace("\\&", "");
    let lines: Vec<&str> = t
        .lines()
        .map(|l| if l.starts_with('.') { l.split_once(' ').map_or("", |x| x.1) } else { l })
        .collect();
    lines.join(" ").split_whitespace().collect::<Vec<_>>().join(" ")
}

#[track_caller]
fn documents_every_field(schema: &str, man: &str) {
    let schema: Value = serde_json::from_str(&read(schema)).expect("schema JSON");
    let mut names = BTreeSet::new();
    property_names(&schema, &mut names);
    let page = roff_text(man).to_lowercase();
    let missing: Vec<&String> = names.iter().filter(|n| !page.contains(n.as_str())).collect();
    assert!(names.len() > 20, "{schema:?} has too few properties");
    assert!(missing.is_empty(), "{man} does not mention: {missing:?}");
}

#[test]
fn man_pages_document_every_field() {
    documents_every_field("schema/husky.schema.json", "man/husky.yaml.5");
    documents_every_field("schema/huskyd.schema.json", "man/huskyd.yaml.5");
}

#[test]
fn readme_test_command_is_the_one_ci_runs() {
    let readme = read("README.md");
    let ci = read(".ci/run");
    let command = "cargo nextest run --locked";
    let demo = "cargo run --release -- demo";
    let first_block =
        readme.split("```sh").nth(1).and_then(|b| b.split("```").next()).unwrap_or("");
    assert!(
        first_block.contains(command),
        "README's first set-up block lacks `{command}`:\n{first_block}"
    );
    assert!(first_block.contains(demo), "README's first set-up block lacks `{demo}`");
    assert!(ci.lines().any(|l| l.trim() == command), ".ci/run does not run `{command}`");
    assert!(readme.contains("## Differences from Husky-Go"));
    for rule in
        ["runs at the same wall time shifted forward by the gap", "fires at both occurrences"]
    {
        assert!(readme.contains(rule), "README lacks the scheduling rule: {rule}");
        assert!(roff_text("man/husky.yaml.5").contains(rule), "husky.yaml(5) lacks: {rule}");
    }
}

#[test]
fn help_and_man_list_every_command() {
    let dir = TestDir::new();
    let help = dir.husky(&["--help"]).expect(0).stdout;
    let man = roff_text("man/husky.1");
    let commands = [
        "validate",
        "config",
        "init",
        "dag",
        "tags",
        "next",
        "prune",
        "daemon",
        "demo",
        "start",
        "stop",
        "status",
        "run",
        "reload",
        "pause",
        "resume",
        "skip",
        "cancel",
        "retry",
        "logs",
        "history",
        "audit",
        "export",
        "dash",
        "integrations",
    ];
    for cmd in commands {
        assert!(help.contains(cmd), "--help lacks {cmd}:\n{help}");
        assert!(man.contains(cmd), "husky(1) lacks {cmd}");
    }
    let flags = [
        "--strict",
        "--format",
        "--show-secrets",
        "--daemon-config",
        "--data",
        "--for",
        "--addr",
        "--wait",
        "--reason",
        "--force",
        "--tag",
        "--run",
        "--follow",
        "--timeout",
        "--tail",
        "--include-healthcheck",
        "--since",
        "--until",
        "--timestamps",
        "--last",
        "--export",
        "--limit",
        "--no-open",
    ];
    for flag in flags {
        assert!(man.contains(flag), "husky(1) lacks {flag}");
    }
}

#[test]
fn openapi_documents_exactly_the_routes_the_daemon_serves() {
    let doc: serde_json::Value =
        serde_yaml::from_str(&read("schema/openapi.yaml")).expect("schema/openapi.yaml parses");
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let mut served: BTreeSet<(String, String)> = husky::api::routes::ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    // Served when metrics.enabled, at metrics.path (default /metrics).
    served.insert(("GET".into(), "/metrics".into()));
    assert_eq!(documented, served);
}
