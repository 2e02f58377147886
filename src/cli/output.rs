//! Output formats shared by commands: aligned text tables, JSON, NDJSON, CSV and TSV.

use std::str::FromStr;

use serde_json::Value;

/// How a list is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// An aligned table for people.
    #[default]
    Text,
    /// One JSON array.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Comma-separated values with a header row.
    Csv,
    /// Tab-separated values with a header row.
    Tsv,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        choose(
            s,
            &[
                ("text", Format::Text),
                ("table", Format::Text),
                ("json", Format::Json),
                ("ndjson", Format::Ndjson),
                ("csv", Format::Csv),
                ("tsv", Format::Tsv),
            ],
        )
    }
}

/// `--format text|json` of commands that print a report rather than a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// Lines for people.
    Text,
    /// One JSON document.
    Json,
}

impl FromStr for ReportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        choose(s, &[("text", ReportFormat::Text), ("json", ReportFormat::Json)])
    }
}

/// Parses a `--format` value from its accepted names; the error lists them (aliases after the
/// first name of a value are not listed).
pub fn choose<T: Copy + PartialEq>(s: &str, choices: &[(&str, T)]) -> Result<T, String> {
    if let Some((_, v)) = choices.iter().find(|(name, _)| *name == s) {
        return Ok(*v);
    }
    let mut names: Vec<&str> = Vec::new();
    for (i, (name, v)) in choices.iter().enumerate() {
        if !choices[..i].iter().any(|(_, w)| w == v) {
            names.push(name);
        }
    }
    let list = match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    };
    Err(format!("unknown format {s:?} (expected {list})"))
}

/// A table: column names and rows of JSON values (strings, numbers, lists).
#[derive(Debug, Default)]
pub struct Table {
    /// Column names; also the JSON keys.
    pub columns: Vec<&'static str>,
    /// Rows, one value per column.
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    /// Renders the table in `format`.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Text => self.text(),
            Format::Json => {
                let arr: Vec<Value> = self.rows.iter().map(|r| self.object(r)).collect();
                let mut s = serde_json::to_string_pretty(&arr).unwrap_or_default();
                s.push('\n');
                s
            }
            Format::Ndjson => {
                self.rows.iter().map(|r| format!("{}\n", self.object(r))).collect::<String>()
            }
            Format::Csv => self.delimited(',', csv_field),
            Format::Tsv => self.delimited('\t', |s| s.replace(['\t', '\n'], " ")),
        }
    }

    fn object(&self, row: &[Value]) -> Value {
        Value::Object(
            self.columns.iter().map(|c| (*c).to_owned()).zip(row.iter().cloned()).collect(),
        )
    }

    fn text(&self) -> String {
        let cells: Vec<Vec<String>> =
            self.rows.iter().map(|r| r.iter().map(plain).collect()).collect();
        let headers: Vec<String> = self.columns.iter().map(|c| c.to_uppercase()).collect();
        let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
        for row in &cells {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |row: &[String]| {
            let mut s = String::new();
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                if i + 1 == row.len() {
                    s.push_str(cell);
                } else {
                    s.push_str(&format!("{cell:<w$}  "));
                }
            }
            s.trim_end().to_owned() + "\n"
        };
        let mut out = line(&headers);
        for row in &cells {
            out.push_str(&line(row));
        }
        out
    }

    fn delimited(&self, sep: char, escape: impl Fn(&str) -> String) -> String {
        let join = |cells: Vec<String>| cells.join(&sep.to_string()) + "\n";
        let mut out = join(self.columns.iter().map(|c| escape(c)).collect());
        for row in &self.rows {
            out.push_str(&join(row.iter().map(|v| escape(&plain(v))).collect()));
        }
        out
    }
}

/// A value as plain text: strings unquoted, lists comma-joined, null as `-`.
fn plain(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table() -> Table {
        Table {
            columns: vec!["tag", "count", "jobs"],
            rows: vec![
                vec![json!("etl"), json!(2), json!(["a", "b"])],
                vec![json!("nightly-report"), json!(1), json!(["c,d"])],
            ],
        }
    }

    #[test]
    fn text_is_aligned() {
        assert_eq!(
            table().render(Format::Text),
            "TAG             COUNT  JOBS\netl             2      a,b\nnightly-report  1      c,d\n"
        );
    }

    #[test]
    fn machine_formats() {
        let t = table();
        let json: Value = serde_json::from_str(&t.render(Format::Json)).unwrap();
        assert_eq!(json[0], json!({"tag": "etl", "count": 2, "jobs": ["a", "b"]}));
        assert_eq!(t.render(Format::Ndjson).lines().count(), 2);
        assert_eq!(t.render(Format::Csv).lines().nth(2), Some("nightly-report,1,\"c,d\""));
        assert_eq!(t.render(Format::Tsv).lines().next(), Some("tag\tcount\tjobs"));
    }
}
