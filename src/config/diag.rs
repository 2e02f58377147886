//! Diagnostics: every problem found in a configuration file, with file, position, job, field,
//! message and an optional hint, collected so that all of them are reported at once.

use std::fmt;
use std::path::{Path, PathBuf};

use super::yaml::Pos;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The file is invalid.
    Error,
    /// The file is valid, but something is probably not what the author meant.
    Warning,
}

/// One problem, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The file the problem is in.
    pub file: PathBuf,
    /// Where in the file (`None` when the file itself could not be read).
    pub pos: Option<Pos>,
    /// The job the problem belongs to, if any.
    pub job: Option<String>,
    /// The field: relative to the job (`time`, `healthcheck.command`) for job problems, from the
    /// top of the file otherwise (`defaults.timezone`, `api.tls.cert`); empty for the document.
    pub field: String,
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
    /// How to fix it, when that is obvious.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// The wire shape (`husky validate --format json`, `POST /api/config/validate`).
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "file": self.file.display().to_string(),
            "line": self.pos.map(|p| p.line),
            "column": self.pos.map(|p| p.column),
            "job": self.job,
            "field": self.field,
            "message": self.message,
            "hint": self.hint,
        })
    }

    /// The full dotted path: `jobs.<job>.<field>` for a job, else the field.
    pub fn path(&self) -> String {
        match (&self.job, self.field.is_empty()) {
            (Some(job), true) => format!("jobs.{job}"),
            (Some(job), false) => format!("jobs.{job}.{}", self.field),
            (None, _) => self.field.clone(),
        }
    }
}

impl fmt::Display for Diagnostic {
    /// `PATH:LINE:COLUMN: [warning: ]FIELD: MESSAGE`, then an indented `hint:` line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(pos) = self.pos {
            write!(f, ":{}:{}", pos.line, pos.column)?;
        }
        f.write_str(": ")?;
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        let path = self.path();
        if !path.is_empty() {
            write!(f, "{path}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Where a field lives: at the top of the file, or inside a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// A top-level field (`version`, `defaults.*`, `integrations.*`, any huskyd.yaml field).
    Top,
    /// A field of `jobs.<name>`.
    Job(&'a str),
}

/// Collects diagnostics for one file.
#[derive(Debug)]
pub struct Diagnostics {
    file: PathBuf,
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// An empty collection for `file`.
    pub fn new(file: &Path) -> Self {
        Diagnostics { file: file.to_path_buf(), items: Vec::new() }
    }

    /// Records an error.
    pub fn error(
        &mut self,
        pos: Pos,
        scope: Scope<'_>,
        field: &str,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.push(Severity::Error, Some(pos), scope, field, message.into())
    }

    /// Records a warning.
    pub fn warning(
        &mut self,
        pos: Pos,
        scope: Scope<'_>,
        field: &str,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.push(Severity::Warning, Some(pos), scope, field, message.into())
    }

    /// Records an error about the whole file (it could not be read).
    pub fn file_error(&mut self, message: impl Into<String>) {
        self.push(Severity::Error, None, Scope::Top, "", message.into());
    }

    fn push(
        &mut self,
        severity: Severity,
        pos: Option<Pos>,
        scope: Scope<'_>,
        field: &str,
        message: String,
    ) -> &mut Diagnostic {
        let job = match scope {
            Scope::Top => None,
            Scope::Job(name) => Some(name.to_owned()),
        };
        self.items.push(Diagnostic {
            severity,
            file: self.file.clone(),
            pos,
            job,
            field: field.to_owned(),
            message,
            hint: None,
        });
        let last = self.items.len() - 1;
        &mut self.items[last]
    }

    /// Whether any error (not warning) was recorded.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    /// How many errors (not warnings) were recorded.
    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.severity == Severity::Error).count()
    }

    /// All diagnostics in file order (stable for equal positions).
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.items.sort_by_key(|d| d.pos);
        self.items
    }
}

impl Diagnostic {
    /// Attaches a hint.
    pub fn hint(&mut self, hint: impl Into<String>) -> &mut Self {
        self.hint = Some(hint.into());
        self
    }
}

/// The closest candidate to `word` (by edit distance), if it is close enough to be a likely typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_lowercase();
    let limit = match word.chars().count() {
        0..=2 => 0,
        3..=5 => 1,
        6..=8 => 2,
        _ => 3,
    };
    candidates
        .into_iter()
        .map(|c| (edit_distance(&lower, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Damerau–Levenshtein distance (optimal string alignment), over characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev2 = vec![0usize; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0usize; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(prev2[j - 2] + 1);
            }
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("weekdays", "weekdays"), 0);
        assert_eq!(edit_distance("weekday", "weekdays"), 1);
        assert_eq!(edit_distance("wekedays", "weekdays"), 1, "transposition counts once");
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn suggestions_only_for_likely_typos() {
        let keys = ["frequency", "description", "command", "time"];
        assert_eq!(suggest("frequncy", keys), Some("frequency"));
        assert_eq!(suggest("Command", keys), Some("command"));
        assert_eq!(suggest("tmie", keys), Some("time"));
        assert_eq!(suggest("banana", keys), None);
    }

    #[test]
    fn renders_path_line_column_field_and_hint() {
        let mut d = Diagnostics::new(Path::new("husky.yaml"));
        d.error(Pos { line: 7, column: 11 }, Scope::Job("etl"), "time", "must be a string")
            .hint("quote the time: \"0900\"");
        d.warning(Pos { line: 2, column: 1 }, Scope::Top, "defaults.timezone", "odd");
        let all = d.into_sorted();
        assert_eq!(all[0].to_string(), "husky.yaml:2:1: warning: defaults.timezone: odd");
        assert_eq!(
            all[1].to_string(),
            "husky.yaml:7:11: jobs.etl.time: must be a string\n  hint: quote the time: \"0900\""
        );
    }
}
