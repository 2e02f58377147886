//! Output capture (`output:` in husky.yaml): values taken from a run's stdout, evaluated line
//! by line as the output streams past, so memory stays bounded whatever the job prints.
//!
//! - `last_line`: the last non-empty stdout line (`""` when there is none).
//! - `first_line`: the first stdout line (`""` when there is none).
//! - `exit_code`: the exit code as decimal text; `-1` when the run ended without one (signal,
//!   timeout, cancel).
//! - `json_field:<path>`: from the last stdout line that is a JSON object holding the dotted
//!   `path` (`data.count` looks into nested objects); strings raw, numbers as written
//!   (`1000000`, `3.5`), `true`/`false`, `null`, objects and arrays as JSON.
//! - `regex:<pattern>`: from the last stdout line that matches: the first capture group (empty
//!   when it did not take part), else the whole match.
//!
//! A capture that finds nothing is a warning on the run; it never fails the run.

use regex_lite::Regex;
use serde_json::Value;

use crate::config::OutputMode;

/// One variable being captured.
#[derive(Debug)]
struct Capture {
    name: String,
    mode: OutputMode,
    regex: Option<Regex>,
    value: Option<String>,
}

/// Collects the `output:` values of one run from its stdout lines.
#[derive(Debug)]
pub struct OutputCollector {
    captures: Vec<Capture>,
    seen_line: bool,
}

/// The outcome of one variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Captured {
    /// The value.
    Value(String),
    /// Nothing matched: the warning to record on the run.
    Missing(String),
}

impl OutputCollector {
    /// A collector for the job's `output:` map (name, mode), in file order.
    pub fn new(outputs: &[(String, OutputMode)]) -> OutputCollector {
        let captures = outputs
            .iter()
            .map(|(name, mode)| Capture {
                name: name.clone(),
                regex: match mode {
                    // Validation compiled it already; a failure here only means no match.
                    OutputMode::Regex(p) => Regex::new(p).ok(),
                    _ => None,
                },
                mode: mode.clone(),
                value: None,
            })
            .collect();
        OutputCollector { captures, seen_line: false }
    }

    /// Whether anything is captured at all (no need to feed lines otherwise).
    pub fn is_empty(&self) -> bool {
        self.captures.is_empty()
    }

    /// Feeds one stdout line.
    pub fn line(&mut self, line: &str) {
        let first = !self.seen_line;
        self.seen_line = true;
        let mut json: Option<Option<Value>> = None;
        for c in &mut self.captures {
            match &c.mode {
                OutputMode::FirstLine if first => c.value = Some(line.to_owned()),
                OutputMode::LastLine if !line.trim().is_empty() => c.value = Some(line.to_owned()),
                OutputMode::JsonField(path) => {
                    let parsed = json.get_or_insert_with(|| parse_object(line));
                    if let Some(v) = parsed.as_ref().and_then(|obj| lookup(obj, path)) {
                        c.value = Some(render(v));
                    }
                }
                OutputMode::Regex(_) => {
                    if let Some(v) = c.regex.as_ref().and_then(|re| first_group(re, line)) {
                        c.value = Some(v);
                    }
                }
                _ => {}
            }
        }
    }

    /// The values once the run is over: `(name, outcome)` in file order.
    pub fn finish(self, exit_code: Option<i32>) -> Vec<(String, Captured)> {
        self.captures
            .into_iter()
            .map(|c| {
                let outcome = match (&c.mode, c.value) {
                    (OutputMode::ExitCode, _) => {
                        Captured::Value(exit_code.unwrap_or(-1).to_string())
                    }
                    (OutputMode::FirstLine | OutputMode::LastLine, v) => {
                        Captured::Value(v.unwrap_or_default())
                    }
                    (_, Some(v)) => Captured::Value(v),
                    (OutputMode::JsonField(path), None) => Captured::Missing(format!(
                        "output {}: no stdout line is a JSON object with {path:?}",
                        c.name
                    )),
                    (mode, None) => Captured::Missing(format!(
                        "output {}: no stdout line matches {mode}",
                        c.name
                    )),
                };
                (c.name, outcome)
            })
            .collect()
    }
}

fn parse_object(line: &str) -> Option<Value> {
    let t = line.trim();
    if !t.starts_with('{') {
        return None;
    }
    serde_json::from_str::<Value>(t).ok().filter(Value::is_object)
}

/// Looks up a dotted path; a key that itself contains dots is found first as a whole.
fn lookup<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(v) = obj.get(path) {
        return Some(v);
    }
    let (head, rest) = path.split_once('.')?;
    lookup(obj.get(head)?, rest)
}

fn render(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_owned(),
        other => other.to_string(),
    }
}

fn first_group(re: &Regex, line: &str) -> Option<String> {
    let caps = re.captures(line)?;
    let m = if caps.len() > 1 { caps.get(1) } else { caps.get(0) };
    Some(m.map_or(String::new(), |m| m.as_str().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(mode: &str, lines: &[&str], exit: Option<i32>) -> Captured {
        let mode = match mode.split_once(':') {
            Some(("json_field", k)) => OutputMode::JsonField(k.into()),
            Some(("regex", p)) => OutputMode::Regex(p.into()),
            _ => match mode {
                "last_line" => OutputMode::LastLine,
                "first_line" => OutputMode::FirstLine,
                "exit_code" => OutputMode::ExitCode,
                other => panic!("mode {other}"),
            },
        };
        let mut c = OutputCollector::new(&[("v".into(), mode)]);
        for l in lines {
            c.line(l);
        }
        c.finish(exit).remove(0).1
    }

    fn value(mode: &str, lines: &[&str]) -> String {
        match capture(mode, lines, Some(0)) {
            Captured::Value(v) => v,
            Captured::Missing(m) => panic!("{mode}: {m}"),
        }
    }

    #[test]
    fn first_and_last_line() {
        assert_eq!(value("last_line", &["a", "b", "", "  "]), "b", "the last non-empty line");
        assert_eq!(value("last_line", &[]), "");
        assert_eq!(value("first_line", &["", "b"]), "");
        assert_eq!(value("first_line", &["a", "b"]), "a");
        assert_eq!(value("first_line", &[]), "");
    }

    #[test]
    fn exit_code_including_none() {
        assert_eq!(capture("exit_code", &[], Some(7)), Captured::Value("7".into()));
        assert_eq!(capture("exit_code", &["x"], Some(0)), Captured::Value("0".into()));
        assert_eq!(capture("exit_code", &[], None), Captured::Value("-1".into()));
    }

    #[test]
    fn json_field_takes_the_last_object_with_the_key() {
        let lines = [
            r#"{"count": 1, "status": "old"}"#,
            "not json",
            r#"{"status": "ok", "count": 1000000, "ratio": 3.5, "done": true, "none": null,
              "data": {"rows": {"n": 42}}, "list": [1, "a"], "a.b": "dotted"}"#,
            r#"{"other": 1}"#,
            "[1, 2]",
        ];
        assert_eq!(value("json_field:status", &lines), "ok");
        assert_eq!(value("json_field:count", &lines), "1000000", "plain, not 1e+06");
        assert_eq!(value("json_field:ratio", &lines), "3.5");
        assert_eq!(value("json_field:done", &lines), "true");
        assert_eq!(value("json_field:none", &lines), "null");
        assert_eq!(value("json_field:data.rows.n", &lines), "42", "dotted paths go into objects");
        assert_eq!(value("json_field:data.rows", &lines), r#"{"n":42}"#);
        assert_eq!(value("json_field:list", &lines), r#"[1,"a"]"#);
        assert_eq!(value("json_field:a.b", &lines), "dotted", "a key with a dot wins first");
        assert!(matches!(
            capture("json_field:missing", &lines, Some(0)),
            Captured::Missing(m) if m.contains("\"missing\"")
        ));
    }

    #[test]
    fn regex_takes_the_last_matching_line() {
        let lines = ["processed 17 records", "processed 42 records", "done"];
        assert_eq!(value(r"regex:processed (\d+) records", &lines), "42");
        assert_eq!(value("regex:DONE|done", &lines), "done", "no group: the whole match");
        assert_eq!(value("regex:(x)?done", &lines), "", "a group that took no part is empty");
        assert!(matches!(capture("regex:nothing", &lines, Some(0)), Captured::Missing(_)));
    }

    #[test]
    fn several_variables_in_file_order() {
        let mut c = OutputCollector::new(&[
            ("b".into(), OutputMode::LastLine),
            ("a".into(), OutputMode::ExitCode),
        ]);
        c.line("x");
        let out = c.finish(Some(3));
        assert_eq!(
            out,
            [("b".into(), Captured::Value("x".into())), ("a".into(), Captured::Value("3".into()))]
        );
    }
}
