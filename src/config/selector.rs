//! Tag selectors: `etl` (one tag), `etl,prod` (every listed tag: AND), `!staging` (without the
//! tag), combinable (`prod,!staging`). Accepted wherever `--tag` or the API's `tag` parameter
//! is.

use std::fmt;
use std::str::FromStr;

/// A parsed tag selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Selector {
    /// Tags a job must carry.
    pub include: Vec<String>,
    /// Tags a job must not carry.
    pub exclude: Vec<String>,
}

impl Selector {
    /// Parses `text`; the error says what is wrong and what is expected.
    pub fn parse(text: &str) -> Result<Selector, String> {
        let mut sel = Selector { include: Vec::new(), exclude: Vec::new() };
        for part in text.split(',') {
            let part = part.trim();
            let (negated, tag) = match part.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, part),
            };
            if tag.is_empty() {
                return Err(format!(
                    "tag selector {text:?} has an empty tag (expected e.g. `etl`, `etl,prod` or \
                     `prod,!staging`)"
                ));
            }
            if !super::husky::valid_tag(tag) {
                return Err(format!(
                    "tag selector {text:?}: {tag:?} is not a tag (tags are lowercase letters, \
                     digits and hyphens)"
                ));
            }
            let list = if negated { &mut sel.exclude } else { &mut sel.include };
            if !list.iter().any(|t| t == tag) {
                list.push(tag.to_owned());
            }
        }
        if let Some(t) = sel.include.iter().find(|t| sel.exclude.contains(t)) {
            return Err(format!("tag selector {text:?} both requires and excludes {t:?}"));
        }
        Ok(sel)
    }

    /// Whether a job with `tags` is selected.
    pub fn matches(&self, tags: &[String]) -> bool {
        self.include.iter().all(|t| tags.contains(t))
            && !self.exclude.iter().any(|t| tags.contains(t))
    }
}

impl FromStr for Selector {
    type Err = String;
    fn from_str(s: &str) -> Result<Selector, String> {
        Selector::parse(s)
    }
}

/// The canonical text: included tags, then excluded ones, each in the order given.
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .include
            .iter()
            .cloned()
            .chain(self.exclude.iter().map(|t| format!("!{t}")))
            .collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn one_tag_all_tags_and_negation() {
        let etl = Selector::parse("etl").unwrap();
        assert!(etl.matches(&tags(&["etl", "prod"])));
        assert!(!etl.matches(&tags(&["prod"])));
        let both = Selector::parse("etl,prod").unwrap();
        assert!(both.matches(&tags(&["prod", "etl"])));
        assert!(!both.matches(&tags(&["etl"])));
        let not = Selector::parse("!staging").unwrap();
        assert!(not.matches(&tags(&[])));
        assert!(!not.matches(&tags(&["staging"])));
        let mixed = Selector::parse(" prod , !staging").unwrap();
        assert!(mixed.matches(&tags(&["prod"])));
        assert!(!mixed.matches(&tags(&["prod", "staging"])));
        assert!(!mixed.matches(&tags(&["staging"])));
        assert_eq!(mixed.to_string(), "prod,!staging");
    }

    #[test]
    fn bad_selectors_say_why() {
        assert!(Selector::parse("").unwrap_err().contains("empty tag"));
        assert!(Selector::parse("etl,").unwrap_err().contains("empty tag"));
        assert!(Selector::parse("!").unwrap_err().contains("empty tag"));
        assert!(Selector::parse("ETL").unwrap_err().contains("not a tag"));
        assert!(Selector::parse("etl,!etl").unwrap_err().contains("both requires and excludes"));
    }
}
