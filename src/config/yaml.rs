//! A YAML document as a tree of nodes that remember where they stand in the file.
//!
//! serde_yaml reports one error and no position for values that parsed fine, but validation must
//! report every problem with its line and column. This module builds a positioned tree from
//! yaml-rust2's marked events (YAML 1.2 core schema), resolving anchors, aliases and `<<` merge
//! keys, and rejecting duplicate keys with the position of both.

use std::collections::HashMap;
use std::fmt;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based line and column in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A parsed value with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The resolved value.
    pub value: Value,
    /// Where the value starts.
    pub pos: Pos,
    /// The scalar's source text as written (empty for collections).
    pub raw: String,
}

/// A mapping entry: the key's text and position, and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key as text (scalar keys only).
    pub key: String,
    /// Where the key starts.
    pub key_pos: Pos,
    /// The value under the key.
    pub value: Node,
}

/// A resolved YAML value (YAML 1.2 core schema).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `~`, `null` or nothing.
    Null,
    /// `true` / `false` (and their capitalised forms).
    Bool(bool),
    /// An integer (`42`, `-7`, `0x1f`, `0o17`).
    Int(i64),
    /// A floating-point number (`1.5`, `1e3`, `.inf`).
    Float(f64),
    /// A string: quoted, block, or a plain scalar that is nothing else.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order.
    Map(Vec<Entry>),
}

impl Value {
    /// A short name of the value's type, for messages ("a string", "a number").
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl Node {
    /// The entries of a mapping, if this is one.
    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// Looks up a key of a mapping.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.as_map()?.iter().find(|e| e.key == key)
    }
}

/// A YAML syntax or structure error, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// Where the problem is.
    pub pos: Pos,
    /// What is wrong, for people.
    pub message: String,
    /// A second position the message refers to (the first of two duplicate keys).
    pub related: Option<Pos>,
}

/// The result of parsing a text: the first document (`None` for an empty stream or one holding
/// only comments) and the position of a second document, which is ignored.
#[derive(Debug)]
pub struct Parsed {
    /// The first document's root node.
    pub root: Option<Node>,
    /// Where an ignored second document starts, if there is one.
    pub extra_document: Option<Pos>,
}

/// Parses YAML text into a positioned tree.
pub fn parse(text: &str) -> Result<Parsed, YamlError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        let m = e.marker();
        return Err(YamlError {
            pos: pos_of(*m),
            message: format!("invalid YAML: {}", e.info()),
            related: None,
        });
    }
    if let Some(err) = builder.error {
        return Err(err);
    }
    let mut docs = builder.docs.into_iter();
    let root = docs.next().flatten();
    let extra_document = builder.doc_starts.get(1).copied();
    Ok(Parsed { root, extra_document })
}

fn pos_of(m: Marker) -> Pos {
    // yaml-rust2 counts lines from 1 and columns from 0.
    Pos { line: m.line().max(1), column: m.col() + 1 }
}

enum Frame {
    Seq { node: Node, anchor: usize, items: Vec<Node> },
    Map { node: Node, anchor: usize, entries: Vec<Entry>, key: Option<Node>, merges: Vec<Node> },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    docs: Vec<Option<Node>>,
    doc_starts: Vec<Pos>,
    anchors: HashMap<usize, Node>,
    error: Option<YamlError>,
}

impl Builder {
    fn fail(&mut self, pos: Pos, message: String, related: Option<Pos>) {
        if self.error.is_none() {
            self.error = Some(YamlError { pos, message, related });
        }
    }

    fn push_value(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if let Some(slot) = self.docs.last_mut() {
                    *slot = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { key, entries, merges, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => {
                    if k.raw == "<<" && matches!(k.value, Value::Str(_)) {
                        merges.push(node);
                        return;
                    }
                    let key_text = match &k.value {
                        Value::Seq(_) | Value::Map(_) => {
                            let pos = k.pos;
                            self.fail(pos, "a mapping key must be a plain value".into(), None);
                            return;
                        }
                        _ => k.raw.clone(),
                    };
                    if let Some(first) = entries.iter().find(|e| e.key == key_text) {
                        let (first_pos, dup_pos) = (first.key_pos, k.pos);
                        self.fail(
                            dup_pos,
                            format!(
                                "duplicate key {key_text:?} (first defined at line {})",
                                first_pos.line
                            ),
                            Some(first_pos),
                        );
                        return;
                    }
                    entries.push(Entry { key: key_text, key_pos: k.pos, value: node });
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let pos = pos_of(mark);
        match ev {
            Event::DocumentStart => {
                self.docs.push(None);
                self.doc_starts.push(pos);
            }
            Event::Scalar(text, style, anchor, tag) => {
                let value = resolve_scalar(&text, style, tag.as_ref());
                self.push_value(Node { value, pos, raw: text }, anchor);
            }
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(mut node) => {
                    node.pos = pos;
                    self.push_value(node, 0);
                }
                None => self.fail(pos, "alias refers to an unknown anchor".into(), None),
            },
            Event::SequenceStart(anchor, _) => {
                let node = Node { value: Value::Null, pos, raw: String::new() };
                self.stack.push(Frame::Seq { node, anchor, items: Vec::new() });
            }
            Event::MappingStart(anchor, _) => {
                let node = Node { value: Value::Null, pos, raw: String::new() };
                self.stack.push(Frame::Map {
                    node,
                    anchor,
                    entries: Vec::new(),
                    key: None,
                    merges: Vec::new(),
                });
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq { mut node, anchor, items }) = self.stack.pop() {
                    node.value = Value::Seq(items);
                    self.push_value(node, anchor);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map { mut node, anchor, mut entries, merges, .. }) =
                    self.stack.pop()
                {
                    if let Err((pos, msg)) = apply_merges(&mut entries, merges) {
                        self.fail(pos, msg, None);
                        return;
                    }
                    node.value = Value::Map(entries);
                    self.push_value(node, anchor);
                }
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
    }
}

/// `<<: *base` or `<<: [*a, *b]`: keys of the merged mappings that the mapping does not set itself
/// are added, earlier merge sources winning over later ones.
fn apply_merges(entries: &mut Vec<Entry>, merges: Vec<Node>) -> Result<(), (Pos, String)> {
    for merge in merges {
        let sources = match merge.value {
            Value::Map(_) => vec![merge],
            Value::Seq(items) => items,
            _ => {
                return Err((
                    merge.pos,
                    "a `<<` merge key needs a mapping or a list of mappings".into(),
                ));
            }
        };
        for source in sources {
            let pos = source.pos;
            let Value::Map(src_entries) = source.value else {
                return Err((pos, "a `<<` merge key needs a mapping or a list of mappings".into()));
            };
            for e in src_entries {
                if !entries.iter().any(|x| x.key == e.key) {
                    entries.push(e);
                }
            }
        }
    }
    Ok(())
}

fn resolve_scalar(text: &str, style: TScalarStyle, tag: Option<&Tag>) -> Value {
    if let Some(tag) = tag {
        if tag.handle == "!!" || tag.handle == "tag:yaml.org,2002:" {
            match tag.suffix.as_str() {
                "str" => return Value::Str(text.to_owned()),
                "int" => {
                    if let Some(i) = parse_int(text) {
                        return Value::Int(i);
                    }
                }
                "float" => {
                    if let Some(f) = parse_float(text) {
                        return Value::Float(f);
                    }
                }
                "bool" => {
                    if let Some(b) = parse_bool(text) {
                        return Value::Bool(b);
                    }
                }
                "null" => return Value::Null,
                _ => {}
            }
        }
        return Value::Str(text.to_owned());
    }
    if style != TScalarStyle::Plain {
        return Value::Str(text.to_owned());
    }
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        return Value::Null;
    }
    if let Some(b) = parse_bool(text) {
        return Value::Bool(b);
    }
    if let Some(i) = parse_int(text) {
        return Value::Int(i);
    }
    if let Some(f) = parse_float(text) {
        return Value::Float(f);
    }
    Value::Str(text.to_owned())
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn parse_int(text: &str) -> Option<i64> {
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok();
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_float(text: &str) -> Option<f64> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    // [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match frac {
        None => !int.is_empty() && digits(int),
        Some(f) => digits(int) && digits(f) && !(int.is_empty() && f.is_empty()),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if mantissa_ok && exponent_ok { text.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Node {
        parse(text).expect("parses").root.expect("has a document")
    }

    #[test]
    fn positions_of_keys_and_values() {
        let n = root("version: \"1\"\njobs:\n  a:\n    time: 0900\n");
        let jobs = n.get("jobs").unwrap();
        assert_eq!(jobs.key_pos, Pos { line: 2, column: 1 });
        let a = jobs.value.get("a").unwrap();
        assert_eq!(a.key_pos, Pos { line: 3, column: 3 });
        let time = a.value.get("time").unwrap();
        assert_eq!(time.key_pos, Pos { line: 4, column: 5 });
        assert_eq!(time.value.pos, Pos { line: 4, column: 11 });
        assert_eq!(time.value.value, Value::Int(900));
        assert_eq!(time.value.raw, "0900");
    }

    #[test]
    fn core_schema_resolution() {
        let n = root(
            "a: yes\nb: true\nc: ~\nd: 1.5\ne: '12'\nf: 0x1f\ng: 1e3\nh: .inf\ni: !!str 42\nj: 12ab\nk:\n",
        );
        let v = |k: &str| n.get(k).unwrap().value.value.clone();
        assert_eq!(v("a"), Value::Str("yes".into()), "YAML 1.2: yes is a string");
        assert_eq!(v("b"), Value::Bool(true));
        assert_eq!(v("c"), Value::Null);
        assert_eq!(v("d"), Value::Float(1.5));
        assert_eq!(v("e"), Value::Str("12".into()));
        assert_eq!(v("f"), Value::Int(31));
        assert_eq!(v("g"), Value::Float(1000.0));
        assert_eq!(v("h"), Value::Float(f64::INFINITY));
        assert_eq!(v("i"), Value::Str("42".into()));
        assert_eq!(v("j"), Value::Str("12ab".into()));
        assert_eq!(v("k"), Value::Null);
    }

    #[test]
    fn duplicate_keys_are_errors_with_both_positions() {
        let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.pos, Pos { line: 3, column: 1 });
        assert_eq!(err.related, Some(Pos { line: 1, column: 1 }));
        assert!(err.message.contains("duplicate key \"a\""), "{}", err.message);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse("jobs:\n  a:\n    b: [1, 2\n").unwrap_err();
        assert!(err.pos.line >= 3, "{err:?}");
        let err = parse("a: b: c\n").unwrap_err();
        assert_eq!(err.pos.line, 1, "{err:?}");
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let n = root("base: &b\n  retries: 2\n  timeout: 5m\njob:\n  <<: *b\n  retries: 4\n");
        let job = &n.get("job").unwrap().value;
        assert_eq!(job.get("retries").unwrap().value.value, Value::Int(4), "own key wins");
        assert_eq!(job.get("timeout").unwrap().value.value, Value::Str("5m".into()));
    }

    #[test]
    fn empty_and_comment_only_documents_have_no_root() {
        assert!(parse("").unwrap().root.is_none());
        assert!(parse("# only a comment\n").unwrap().root.is_none());
        let p = parse("a: 1\n---\nb: 2\n").unwrap();
        assert!(p.root.is_some());
        assert_eq!(p.extra_document.map(|p| p.line), Some(2));
    }
}
