//! `{{ outputs.<job>.<var> }}` in a command or an `env` value: replaced at dispatch by the value
//! the job captured in the same cycle. Spaces inside the braces are optional; `<job>` and
//! `<var>` are `\w[\w-]*`. Other `{{ ... }}` text is left as written.

use std::collections::BTreeMap;

/// Captured values of one cycle: `(job, var) → value`.
pub type Outputs = BTreeMap<(String, String), String>;

/// A reference to a value the cycle does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The job.
    pub job: String,
    /// The variable.
    pub var: String,
}

/// Renders every reference in `text`; the first missing value is an error.
pub fn render(text: &str, outputs: &Outputs) -> Result<String, Missing> {
    if !text.contains("{{") {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        match reference(after) {
            Some((job, var, len)) => {
                let key = (job.to_owned(), var.to_owned());
                let value = outputs
                    .get(&key)
                    .ok_or_else(|| Missing { job: key.0.clone(), var: key.1.clone() })?;
                out.push_str(value);
                rest = &after[len..];
            }
            None => {
                out.push_str("{{");
                rest = &after[2..];
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Whether `text` refers to any output.
pub fn has_references(text: &str) -> bool {
    text.match_indices("{{").any(|(i, _)| reference(&text[i..]).is_some())
}

/// Parses `{{ outputs.job.var }}` at the start of `s`: the job, the variable and the length.
fn reference(s: &str) -> Option<(&str, &str, usize)> {
    let body = s.strip_prefix("{{")?;
    let trimmed = body.trim_start_matches(' ');
    let rest = trimmed.strip_prefix("outputs.")?;
    let (job, rest) = name(rest)?;
    let rest = rest.strip_prefix('.')?;
    let (var, rest) = name(rest)?;
    let rest = rest.trim_start_matches(' ').strip_prefix("}}")?;
    Some((job, var, s.len() - rest.len()))
}

/// `\w[\w-]*` at the start of `s`, and what follows.
fn name(s: &str) -> Option<(&str, &str)> {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut chars = s.char_indices();
    let (_, first) = chars.next()?;
    if !word(first) {
        return None;
    }
    let end = chars.find(|(_, c)| !(word(*c) || *c == '-')).map_or(s.len(), |(i, _)| i);
    Some((&s[..end], &s[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs() -> Outputs {
        [
            (("producer".to_owned(), "greeting".to_owned()), "hello world".to_owned()),
            (("etl-2".to_owned(), "rows".to_owned()), "1000000".to_owned()),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn references_are_replaced_with_or_without_spaces() {
        let o = outputs();
        assert_eq!(
            render("notify --msg={{ outputs.producer.greeting }}", &o).expect("render"),
            "notify --msg=hello world"
        );
        assert_eq!(
            render("{{outputs.etl-2.rows}} rows, {{  outputs.producer.greeting  }}!", &o)
                .expect("render"),
            "1000000 rows, hello world!"
        );
    }

    #[test]
    fn a_missing_value_names_the_job_and_variable() {
        let err = render("x {{ outputs.producer.nope }}", &outputs()).expect_err("missing");
        assert_eq!(err, Missing { job: "producer".into(), var: "nope".into() });
        assert!(render("{{ outputs.ghost.v }}", &Outputs::new()).is_err());
    }

    #[test]
    fn other_braces_are_left_alone() {
        let o = outputs();
        for text in ["{{ job.name }}", "awk '{ print $1 }'", "{{ outputs. }}", "a {{", "{{}}"] {
            assert_eq!(render(text, &o).expect("render"), text);
            assert!(!has_references(text), "{text}");
        }
        assert!(has_references("echo {{ outputs.a.b }}"));
    }
}
