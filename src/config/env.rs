//! `${env:VAR}` interpolation and the `.env` file beside husky.yaml.
//!
//! `.env` variables are a source for `${env:...}` references only: they never enter the
//! daemon's environment and so never leak into jobs that did not ask for them. The process
//! environment wins over `.env`.

use std::collections::HashMap;
use std::path::Path;

/// Where `${env:VAR}` values come from: the process environment, then `.env`.
#[derive(Debug, Clone, Default)]
pub struct EnvSource {
    process: HashMap<String, String>,
    dotenv: HashMap<String, String>,
}

impl EnvSource {
    /// The current process environment plus the `.env` file in `dir`, if there is one.
    pub fn load(dir: &Path) -> Result<EnvSource, std::io::Error> {
        let process = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let dotenv = match std::fs::read_to_string(dir.join(".env")) {
            Ok(text) => parse_dotenv(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => return Err(e),
        };
        Ok(EnvSource { process, dotenv })
    }

    /// A source made of explicit maps (tests).
    pub fn from_maps(process: HashMap<String, String>, dotenv: HashMap<String, String>) -> Self {
        EnvSource { process, dotenv }
    }

    /// The value of a variable: process environment first, then `.env`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.process.get(name).or_else(|| self.dotenv.get(name)).map(String::as_str)
    }
}

/// Parses `.env` text: `KEY=value` per line; blank lines and `#` comments skipped; lines without
/// `=` ignored; key and value trimmed; one pair of matching surrounding quotes removed; an
/// `export ` prefix is accepted.
pub fn parse_dotenv(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let key = key.strip_prefix("export ").map_or(key, str::trim);
        if key.is_empty() {
            continue;
        }
        let value = value.trim();
        let value = ['"', '\'']
            .iter()
            .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
            .filter(|_| value.len() >= 2)
            .unwrap_or(value);
        out.insert(key.to_owned(), value.to_owned());
    }
    out
}

/// The result of interpolating one string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpolated {
    /// The text with every `${env:VAR}` replaced (unset variables become empty).
    pub value: String,
    /// Variables that were referenced but are set nowhere.
    pub unset: Vec<String>,
    /// Whether the text contained at least one reference.
    pub had_refs: bool,
}

/// Replaces `${env:NAME}` (NAME = `[A-Za-z_][A-Za-z0-9_]*`) with values from `env`. Tokens with an
/// invalid name are left as written.
pub fn interpolate(text: &str, env: &EnvSource) -> Interpolated {
    let mut value = String::with_capacity(text.len());
    let mut unset = Vec::new();
    let mut had_refs = false;
    let mut rest = text;
    while let Some(start) = rest.find("${env:") {
        value.push_str(&rest[..start]);
        let after = &rest[start + "${env:".len()..];
        match after.find('}').map(|end| (&after[..end], end)) {
            Some((name, end)) if is_var_name(name) => {
                had_refs = true;
                match env.get(name) {
                    Some(v) => value.push_str(v),
                    None => {
                        if !unset.iter().any(|u| u == name) {
                            unset.push(name.to_owned());
                        }
                    }
                }
                rest = &after[end + 1..];
            }
            _ => {
                value.push_str("${env:");
                rest = after;
            }
        }
    }
    value.push_str(rest);
    Interpolated { value, unset, had_refs }
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(process: &[(&str, &str)], dotenv: &[(&str, &str)]) -> EnvSource {
        let m = |kv: &[(&str, &str)]| {
            kv.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
        };
        EnvSource::from_maps(m(process), m(dotenv))
    }

    #[test]
    fn dotenv_parsing() {
        let m = parse_dotenv(
            "# comment\n\nA=1\n B = two \nC=\"quoted value\"\nD='single'\nnoequals\nE=a=b\nexport F=x\nG=\"\n=nokey\n",
        );
        assert_eq!(m["A"], "1");
        assert_eq!(m["B"], "two");
        assert_eq!(m["C"], "quoted value");
        assert_eq!(m["D"], "single");
        assert_eq!(m["E"], "a=b");
        assert_eq!(m["F"], "x");
        assert_eq!(m["G"], "\"", "a lone quote is not a pair");
        assert!(!m.contains_key("noequals"));
        assert_eq!(m.len(), 7);
    }

    #[test]
    fn process_environment_wins_over_dotenv() {
        let e = env(&[("K", "from-process")], &[("K", "from-dotenv"), ("ONLY", "dot")]);
        assert_eq!(e.get("K"), Some("from-process"));
        assert_eq!(e.get("ONLY"), Some("dot"));
        assert_eq!(e.get("NONE"), None);
    }

    #[test]
    fn interpolation() {
        let e = env(&[("KEY", "s3cr3t"), ("HOST", "db")], &[]);
        let r = interpolate("Bearer ${env:KEY}@${env:HOST}:${env:MISSING}/${env:MISSING}", &e);
        assert_eq!(r.value, "Bearer s3cr3t@db:/");
        assert_eq!(r.unset, ["MISSING"]);
        assert!(r.had_refs);
        let r = interpolate("${env:1BAD} ${env:} ${env:OPEN", &e);
        assert_eq!(r.value, "${env:1BAD} ${env:} ${env:OPEN");
        assert!(!r.had_refs);
        assert_eq!(interpolate("plain", &e).value, "plain");
    }
}
