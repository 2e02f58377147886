//! Typed reading of positioned YAML nodes: each reader records a located diagnostic (with a hint
//! where the fix is obvious) and returns `None` when the value has the wrong shape, so that
//! validation goes on and reports every problem of a file at once.

use super::diag::{Diagnostics, Scope, suggest};
use super::yaml::{Entry, Node, Pos, Value};

/// A cursor over one mapping: its entries, the scope they belong to and their field prefix.
#[derive(Debug, Clone)]
pub struct Map<'n, 's> {
    /// The entries.
    pub entries: &'n [Entry],
    /// Top-level or inside a job.
    pub scope: Scope<'s>,
    /// The dotted prefix of the fields (`""`, `healthcheck`, `api.tls`).
    pub prefix: String,
    /// Where the mapping starts (for "field is required" errors).
    pub pos: Pos,
}

impl<'n, 's> Map<'n, 's> {
    /// The dotted field name of `key` in this mapping.
    pub fn field(&self, key: &str) -> String {
        join(&self.prefix, key)
    }

    /// The entry for `key` unless it is absent or `null`.
    pub fn get(&self, key: &str) -> Option<&'n Entry> {
        self.entries.iter().find(|e| e.key == key && e.value.value != Value::Null)
    }

    /// Reports every key that is not in `allowed`, with a suggestion.
    pub fn check_keys(&self, d: &mut Diagnostics, allowed: &[&str]) {
        for e in self.entries {
            if allowed.contains(&e.key.as_str()) {
                continue;
            }
            let diag = d.error(e.key_pos, self.scope, &self.field(&e.key), "unknown field");
            match suggest(&e.key, allowed.iter().copied()) {
                Some(s) => diag.hint(format!("did you mean `{s}`?")),
                None => diag.hint(format!("allowed here: {}", allowed.join(", "))),
            };
        }
    }

    /// Reports `key` as required if it is absent, null, or a blank string.
    pub fn require(&self, d: &mut Diagnostics, key: &str) -> Option<&'n Entry> {
        let entry = self.get(key);
        let blank = entry.and_then(|e| e.value.as_str()).is_some_and(|s| s.trim().is_empty());
        if entry.is_none() || blank {
            let pos = entry.map_or(self.pos, |e| e.value.pos);
            d.error(pos, self.scope, &self.field(key), "field is required");
            return None;
        }
        entry
    }

    /// A string field (absent → `None`, wrong type → diagnostic and `None`).
    pub fn str(&self, d: &mut Diagnostics, key: &str) -> Option<(&'n str, Pos)> {
        let e = self.get(key)?;
        string(d, self.scope, &self.field(key), &e.value).map(|s| (s, e.value.pos))
    }

    /// A boolean field.
    pub fn bool(&self, d: &mut Diagnostics, key: &str) -> Option<bool> {
        let e = self.get(key)?;
        match e.value.value {
            Value::Bool(b) => Some(b),
            _ => {
                let diag = type_error(
                    d,
                    self.scope,
                    &self.field(key),
                    &e.value,
                    "a boolean (true or false)",
                );
                if matches!(e.value.raw.as_str(), "yes" | "no" | "on" | "off" | "y" | "n") {
                    diag.hint("YAML 1.2 booleans are true and false");
                }
                None
            }
        }
    }

    /// An integer field within `min..=max`.
    pub fn int(&self, d: &mut Diagnostics, key: &str, min: i64, max: i64) -> Option<(i64, Pos)> {
        let e = self.get(key)?;
        let field = self.field(key);
        match e.value.value {
            Value::Int(i) if (min..=max).contains(&i) => Some((i, e.value.pos)),
            Value::Int(i) => {
                let msg = if max == i64::MAX {
                    format!("{i} is out of range (minimum {min})")
                } else {
                    format!("{i} is out of range ({min}-{max})")
                };
                d.error(e.value.pos, self.scope, &field, msg);
                None
            }
            _ => {
                type_error(d, self.scope, &field, &e.value, "a whole number");
                None
            }
        }
    }

    /// A nested mapping field.
    pub fn map(&self, d: &mut Diagnostics, key: &str) -> Option<(&'n [Entry], Pos)> {
        let e = self.get(key)?;
        match &e.value.value {
            Value::Map(m) => Some((m.as_slice(), e.key_pos)),
            _ => {
                type_error(d, self.scope, &self.field(key), &e.value, "a mapping");
                None
            }
        }
    }

    /// A list of strings; non-string items are reported and skipped.
    pub fn str_list(&self, d: &mut Diagnostics, key: &str) -> Option<Vec<(&'n str, Pos)>> {
        let e = self.get(key)?;
        let field = self.field(key);
        let items = match &e.value.value {
            Value::Seq(items) => items,
            Value::Str(_) => {
                type_error(d, self.scope, &field, &e.value, "a list of strings")
                    .hint(format!("write a list: {key}: [{}]", e.value.raw));
                return None;
            }
            _ => {
                type_error(d, self.scope, &field, &e.value, "a list of strings");
                return None;
            }
        };
        Some(
            items
                .iter()
                .filter_map(|n| string(d, self.scope, &field, n).map(|s| (s, n.pos)))
                .collect(),
        )
    }

    /// A list of mappings (`auth.rbac`, `auth.basic.users`): one cursor per item, with the field
    /// prefix `<field>.<index>`; a wrong shape is reported with `what` the items should be.
    pub fn map_list(&self, d: &mut Diagnostics, key: &str, what: &str) -> Vec<Map<'n, 's>> {
        let Some(e) = self.get(key) else { return Vec::new() };
        let field = self.field(key);
        let Value::Seq(items) = &e.value.value else {
            type_error(d, self.scope, &field, &e.value, &format!("a list of {what}s"));
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let prefix = format!("{field}.{i}");
            match item.as_map() {
                Some(entries) => {
                    out.push(Map { entries, scope: self.scope, prefix, pos: item.pos });
                }
                None => {
                    type_error(d, self.scope, &prefix, item, what);
                }
            }
        }
        out
    }

    /// A mapping of string to string; non-string values are reported and skipped.
    pub fn str_map(&self, d: &mut Diagnostics, key: &str) -> Option<Vec<(&'n Entry, &'n str)>> {
        let (entries, _) = self.map(d, key)?;
        let field = self.field(key);
        Some(
            entries
                .iter()
                .filter_map(|e| {
                    let f = join(&field, &e.key);
                    if e.value.value == Value::Null {
                        return Some((e, ""));
                    }
                    string(d, self.scope, &f, &e.value).map(|s| (e, s))
                })
                .collect(),
        )
    }
}

/// `prefix.key`, or `key` when there is no prefix.
pub fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() { key.to_owned() } else { format!("{prefix}.{key}") }
}

/// Reads a node as a string, reporting a type error (with a "quote it" hint for scalars).
pub fn string<'n>(
    d: &mut Diagnostics,
    scope: Scope<'_>,
    field: &str,
    node: &'n Node,
) -> Option<&'n str> {
    match &node.value {
        Value::Str(s) => Some(s),
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
            let leaf = field.rsplit('.').next().unwrap_or(field);
            type_error(d, scope, field, node, "a string")
                .hint(format!("quote it: {leaf}: \"{}\"", node.raw));
            None
        }
        _ => {
            type_error(d, scope, field, node, "a string");
            None
        }
    }
}

/// Records "expected X, got Y" at the node.
pub fn type_error<'d>(
    d: &'d mut Diagnostics,
    scope: Scope<'_>,
    field: &str,
    node: &Node,
    expected: &str,
) -> &'d mut super::diag::Diagnostic {
    let got = match &node.value {
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
            format!("{} ({})", node.value.kind(), node.raw)
        }
        v => v.kind().to_owned(),
    };
    d.error(node.pos, scope, field, format!("expected {expected}, got {got}"))
}
