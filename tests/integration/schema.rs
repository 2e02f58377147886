//! The JSON Schemas and the Rust validator agree: every fixture is valid for both or invalid for
//! both, except where JSON Schema cannot express a rule (listed here).

use std::collections::HashMap;
use std::path::Path;

use husky::config::yaml::{self, Node, Value};
use husky::config::{EnvSource, validate_daemon, validate_husky};
use serde_json::{Map, Value as Json};

use crate::util::fixtures;

/// Rules the Rust validator checks that JSON Schema cannot express. An invalid fixture whose
/// first line is `# schema-looser: <rule>` may pass the schema only for a rule listed here.
const SCHEMA_LOOSER: &[(&str, &str)] = &[
    ("sla-below-timeout", "compares two durations, one possibly inherited from defaults.timeout"),
    ("job-reference-unknown", "depends_on / after: must name another key of `jobs`"),
    ("job-reference-self", "a job naming its own key"),
    ("dag-cycle", "cycles in the dependency graph"),
    ("timezone-iana", "membership in the embedded IANA tz database"),
    ("output-regex-compile", "whether a regex compiles"),
    ("on-duplicate-day", "duplicate days inside the on:[...] string"),
    ("every-range", "the interval's value (1s <= d < 24h) inside the frequency string"),
    ("size-range", "whether a size with a unit (9000000000 GiB) fits in 2^63 - 1 bytes"),
    ("message-template", "notify messages are parsed as templates (variables, actions)"),
];

fn to_json(node: &Node) -> Json {
    match &node.value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::Str(s) => Json::String(s.clone()),
        Value::Seq(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => Json::Object(
            entries.iter().map(|e| (e.key.clone(), to_json(&e.value))).collect::<Map<_, _>>(),
        ),
    }
}

fn schema(name: &str) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema").join(name);
    let text = std::fs::read_to_string(&path).expect("schema file");
    let json: Json = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::draft202012::new(&json)
        .unwrap_or_else(|e| panic!("{name} is not a valid schema: {e}"))
}

fn looser_rule(text: &str) -> Option<&str> {
    text.lines().next()?.strip_prefix("# schema-looser:").map(str::trim)
}

fn check_dir(kind: &str, schema_name: &str, rust_valid: &dyn Fn(&Path, &str) -> bool) {
    let validator = schema(schema_name);
    let mut disagreements = Vec::new();
    let mut counts = (0, 0);
    for (sub, expect_valid) in [("valid", true), ("invalid", false)] {
        let dir = fixtures().join(kind).join(sub);
        let mut files: Vec<_> =
            std::fs::read_dir(&dir).expect("fixture dir").flatten().map(|e| e.path()).collect();
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path).expect("fixture");
            let by_rust = rust_valid(&path, &text);
            let by_schema = match yaml::parse(&text) {
                Ok(p) => {
                    let doc = p.root.as_ref().map_or(Json::Null, to_json);
                    validator.is_valid(&doc)
                }
                Err(_) => false,
            };
            let name = path.display();
            if by_rust != expect_valid {
                disagreements.push(format!("{name}: Rust validator says valid={by_rust}, fixture folder says {expect_valid}"));
            }
            match (by_rust, by_schema) {
                (a, b) if a == b => {}
                (false, true) => match looser_rule(&text) {
                    Some(rule) if SCHEMA_LOOSER.iter().any(|(r, _)| *r == rule) => {}
                    Some(rule) => disagreements
                        .push(format!("{name}: schema-looser rule {rule:?} is not in the list")),
                    None => disagreements
                        .push(format!("{name}: the schema accepts a file the validator rejects")),
                },
                (true, false) => disagreements
                    .push(format!("{name}: the schema rejects a file the validator accepts")),
                _ => unreachable!(),
            }
            if expect_valid { counts.0 += 1 } else { counts.1 += 1 }
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreement(s):\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    assert!(counts.0 >= 10 && counts.1 >= 20, "too few fixtures in {kind}: {counts:?}");
}

#[test]
fn husky_schema_agrees_with_the_validator() {
    let env = EnvSource::from_maps(HashMap::new(), HashMap::new());
    check_dir("config", "husky.schema.json", &|path, text| {
        validate_husky(path, text, &env).value.is_some()
    });
}

#[test]
fn huskyd_schema_agrees_with_the_validator() {
    check_dir("daemon", "huskyd.schema.json", &|path, text| {
        validate_daemon(path, text).value.is_some()
    });
}

#[test]
fn every_schema_property_has_a_description() {
    fn walk(v: &Json, path: &str, missing: &mut Vec<String>) {
        if let Some(props) = v.get("properties").and_then(Json::as_object) {
            for (k, p) in props {
                let here = format!("{path}.{k}");
                let has = p.get("description").is_some() || p.get("$ref").is_some();
                if !has {
                    missing.push(here.clone());
                }
                walk(p, &here, missing);
            }
        }
        for key in ["items", "additionalProperties", "then", "else"] {
            if let Some(sub) = v.get(key).filter(|s| s.is_object()) {
                walk(sub, path, missing);
            }
        }
        for key in ["$defs", "patternProperties"] {
            if let Some(defs) = v.get(key).and_then(Json::as_object) {
                for (k, d) in defs {
                    walk(d, &format!("{path}.{k}"), missing);
                }
            }
        }
        for key in ["oneOf", "anyOf", "allOf"] {
            if let Some(items) = v.get(key).and_then(Json::as_array) {
                for d in items {
                    walk(d, path, missing);
                }
            }
        }
    }
    for name in ["husky.schema.json", "huskyd.schema.json"] {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schema").join(name),
        )
        .unwrap();
        let json: Json = serde_json::from_str(&text).unwrap();
        let mut missing = Vec::new();
        walk(&json, "", &mut missing);
        assert!(missing.is_empty(), "{name}: properties without a description: {missing:?}");
    }
}
