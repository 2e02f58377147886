//! Notification message templates: the subset of Go `text/template` that Husky-Go messages use,
//! parsed once at load time (so a bad message is a config error) and rendered per notification.
//!
//! Supported: `{{ job.name }}` (also `{{job.name}}` and Go's native `{{ .job.name }}`, any
//! spacing), `{{ if VAR }}…{{ else if VAR }}…{{ else }}…{{ end }}` with `{{ if not VAR }}`,
//! nested, the trim markers `{{- ` and ` -}}`, and comments `{{/* … */}}`. Everything else Go
//! accepts (range, with, pipelines, function calls, constants, `$x` variables) is an error that
//! says what is supported. Unlike Husky-Go, an unknown variable is an error (Go rendered
//! `<no value>`).

use std::fmt;

use crate::config::suggest;

/// Every variable a message may use.
pub const VARIABLES: &[&str] = &[
    "job.name",
    "job.description",
    "job.frequency",
    "job.retries",
    "job.tags",
    "job.timezone",
    "job.sla",
    "run.id",
    "run.status",
    "run.attempt",
    "run.exit_code",
    "run.duration",
    "run.started_at",
    "run.finished_at",
    "run.reason",
    "run.error",
    "run.trigger",
    "run.sla_breached",
    "run.cycle_id",
    "event",
    "suppressed",
];

/// What the error hints say is supported.
const SUPPORTED: &str = "templates support {{ VAR }}, {{ if VAR }} … {{ else }} … {{ end }}, \
                         {{ if not VAR }}, {{ else if VAR }} and the trim markers {{- and -}}";

/// Go's built-in template functions: named in "function calls are not supported" errors.
const GO_FUNCTIONS: &[&str] = &[
    "and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "len", "index", "slice", "print",
    "printf", "println", "html", "js", "urlquery", "call",
];

/// Go actions that this subset does not support.
const GO_ACTIONS: &[&str] = &["range", "with", "define", "template", "block", "break", "continue"];

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Literal text (already trimmed by `{{-` / `-}}`).
    Text(String),
    /// A variable's value.
    Var(&'static str),
    /// `{{ if [not] VAR }} then {{ else }} otherwise {{ end }}`.
    If { var: &'static str, negate: bool, then: Vec<Part>, otherwise: Vec<Part> },
}

/// A template error: what and where (byte offset into the text, and 1-based line and column
/// inside the text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
    /// Byte offset of the problem in the template text.
    pub offset: usize,
    /// 1-based line of the problem in the template text.
    pub line: usize,
    /// 1-based column (in characters) of the problem in its line.
    pub column: usize,
    /// How to fix it, when that is obvious.
    pub hint: Option<String>,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (line {}, column {})", self.message, self.line, self.column)
    }
}

impl std::error::Error for TemplateError {}

/// Whether a value counts as true in `{{ if }}`: anything but empty, `false` and `0`.
pub fn truthy(value: &str) -> bool {
    !matches!(value, "" | "false" | "0")
}

impl Template {
    /// Parses a template; text without `{{` is a literal.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        Parser { text }.parse().map_err(|e| e.locate(text))
    }

    /// Renders with `lookup(name)` giving each variable's value (name as in VARIABLES); the
    /// result is whitespace-trimmed like Husky-Go.
    pub fn render(&self, lookup: &dyn Fn(&str) -> String) -> String {
        let mut out = String::new();
        render_parts(&self.parts, lookup, &mut out);
        out.trim().to_owned()
    }
}

fn render_parts(parts: &[Part], lookup: &dyn Fn(&str) -> String, out: &mut String) {
    for part in parts {
        match part {
            Part::Text(t) => out.push_str(t),
            Part::Var(name) => out.push_str(&lookup(name)),
            Part::If { var, negate, then, otherwise } => {
                let branch = if truthy(&lookup(var)) != *negate { then } else { otherwise };
                render_parts(branch, lookup, out);
            }
        }
    }
}

/// An error before its line and column are known.
#[derive(Debug)]
struct Unlocated {
    message: String,
    offset: usize,
    hint: Option<String>,
}

impl Unlocated {
    fn new(offset: usize, message: impl Into<String>) -> Self {
        Unlocated { message: message.into(), offset, hint: None }
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    fn locate(self, text: &str) -> TemplateError {
        let offset = self.offset.min(text.len());
        let before = text.get(..offset).unwrap_or(text);
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        TemplateError {
            line: 1 + before.matches('\n').count(),
            column: 1 + before[line_start..].chars().count(),
            offset,
            message: self.message,
            hint: self.hint,
        }
    }
}

/// A lexed piece: literal text or the body of one `{{ … }}` action.
#[derive(Debug)]
enum Token<'a> {
    Text(String),
    Action {
        /// Offset of the `{{`.
        open: usize,
        /// The text between the delimiters and trim markers.
        body: &'a str,
        /// Offset of `body`.
        body_offset: usize,
    },
}

/// A classified action.
#[derive(Debug)]
enum Action {
    Var(&'static str),
    If { var: &'static str, negate: bool },
    ElseIf { var: &'static str, negate: bool },
    Else,
    End,
}

/// An `{{ if }}` whose `{{ end }}` has not been seen yet.
#[derive(Debug)]
struct Frame {
    var: &'static str,
    negate: bool,
    then: Vec<Part>,
    otherwise: Vec<Part>,
    in_else: bool,
    /// Opened by `{{ else if }}`: closed by its parent's `{{ end }}`.
    chained: bool,
    /// Offset of the `{{` that opened it.
    open: usize,
}

impl Frame {
    fn into_part(self) -> Part {
        Part::If { var: self.var, negate: self.negate, then: self.then, otherwise: self.otherwise }
    }
}

struct Parser<'a> {
    text: &'a str,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

impl<'a> Parser<'a> {
    fn parse(&self) -> Result<Template, Unlocated> {
        let mut root = Vec::new();
        let mut stack: Vec<Frame> = Vec::new();
        for token in self.lex()? {
            let (open, body, body_offset) = match token {
                Token::Text(t) => {
                    if !t.is_empty() {
                        push(&mut stack, &mut root, Part::Text(t));
                    }
                    continue;
                }
                Token::Action { open, body, body_offset } => (open, body, body_offset),
            };
            match classify(open, body, body_offset)? {
                Action::Var(v) => push(&mut stack, &mut root, Part::Var(v)),
                Action::If { var, negate } => stack.push(Frame {
                    var,
                    negate,
                    then: Vec::new(),
                    otherwise: Vec::new(),
                    in_else: false,
                    chained: false,
                    open,
                }),
                action @ (Action::Else | Action::ElseIf { .. }) => {
                    let Some(top) = stack.last_mut() else {
                        return Err(Unlocated::new(open, "{{ else }} without {{ if }}")
                            .hint("start the block with {{ if VAR }}, or remove the {{ else }}"));
                    };
                    if top.in_else {
                        return Err(Unlocated::new(
                            open,
                            "{{ else }} after the {{ else }} of the same {{ if }}",
                        )
                        .hint("an {{ if }} has at most one plain {{ else }}, and it comes last"));
                    }
                    top.in_else = true;
                    if let Action::ElseIf { var, negate } = action {
                        stack.push(Frame {
                            var,
                            negate,
                            then: Vec::new(),
                            otherwise: Vec::new(),
                            in_else: false,
                            chained: true,
                            open,
                        });
                    }
                }
                Action::End => loop {
                    let Some(frame) = stack.pop() else {
                        return Err(Unlocated::new(open, "{{ end }} without {{ if }}")
                            .hint("remove it: {{ end }} only closes an {{ if }}"));
                    };
                    let chained = frame.chained;
                    push(&mut stack, &mut root, frame.into_part());
                    if !chained {
                        break;
                    }
                },
            }
        }
        if let Some(open) = stack.iter().rev().find(|f| !f.chained).map(|f| f.open) {
            return Err(Unlocated::new(open, "{{ if }} is not closed")
                .hint("add {{ end }} where the conditional text ends"));
        }
        Ok(Template { parts: root })
    }

    /// Splits the text into literal text and action bodies, applying the trim markers.
    fn lex(&self) -> Result<Vec<Token<'a>>, Unlocated> {
        let text = self.text;
        let mut tokens = Vec::new();
        let mut i = 0;
        let mut trim_next = false;
        while let Some(rel) = text[i..].find("{{") {
            let open = i + rel;
            let mut literal = &text[i..open];
            if trim_next {
                literal = literal.trim_start_matches(is_space);
            }
            let mut start = open + 2;
            let left_trim = text[start..].starts_with('-');
            if left_trim {
                match text[start + 1..].chars().next() {
                    Some(c) if is_space(c) => start += 2,
                    _ => {
                        return Err(Unlocated::new(
                            open,
                            "the trim marker {{- needs a space after it",
                        )
                        .hint("write {{- job.name }}, or {{ without the -"));
                    }
                }
            }
            if left_trim {
                literal = literal.trim_end_matches(is_space);
            }
            tokens.push(Token::Text(literal.to_owned()));
            let rest = &text[start..];
            if rest.starts_with("/*") {
                // A comment: `{{/* … */}}`, also with trim markers.
                let Some(end) = rest.find("*/") else {
                    return Err(
                        Unlocated::new(open, "the comment is not closed").hint("end it with */}}")
                    );
                };
                let after = &rest[end + 2..];
                let (right_trim, skip) = if after.starts_with(" -}}") {
                    (true, 4)
                } else if after.starts_with("}}") {
                    (false, 2)
                } else {
                    return Err(Unlocated::new(start + end, "a comment must end with */}}")
                        .hint("write {{/* note */}} with nothing between */ and }}"));
                };
                trim_next = right_trim;
                i = start + end + 2 + skip;
                continue;
            }
            let Some(close_rel) = rest.find("}}") else {
                return Err(Unlocated::new(open, "the action {{ is not closed")
                    .hint("close it with }}, e.g. {{ job.name }}"));
            };
            let mut body = &rest[..close_rel];
            trim_next = false;
            if let Some(stripped) = body.strip_suffix('-') {
                if stripped.ends_with(is_space) {
                    body = stripped;
                    trim_next = true;
                } else {
                    return Err(Unlocated::new(
                        start + close_rel - 1,
                        "the trim marker -}} needs a space before it",
                    )
                    .hint("write {{ job.name -}}, or }} without the -"));
                }
            }
            tokens.push(Token::Action { open, body, body_offset: start });
            i = start + close_rel + 2;
        }
        let mut literal = &text[i..];
        if trim_next {
            literal = literal.trim_start_matches(is_space);
        }
        tokens.push(Token::Text(literal.to_owned()));
        Ok(tokens)
    }
}

/// Appends a part to the innermost open branch, or to the top level.
fn push(stack: &mut [Frame], root: &mut Vec<Part>, part: Part) {
    match stack.last_mut() {
        Some(f) if f.in_else => f.otherwise.push(part),
        Some(f) => f.then.push(part),
        None => root.push(part),
    }
}

/// The whitespace-separated words of an action body, with their offsets in the text.
fn words(body: &str, body_offset: usize) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in body.char_indices() {
        match (is_space(c), start) {
            (true, Some(s)) => {
                out.push((body_offset + s, &body[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((body_offset + s, &body[s..]));
    }
    out
}

/// Turns one action body into an [`Action`], or explains why it is not supported.
fn classify(open: usize, body: &str, body_offset: usize) -> Result<Action, Unlocated> {
    let words = words(body, body_offset);
    let Some(&(first_at, first)) = words.first() else {
        return Err(Unlocated::new(open, "empty action {{ }}")
            .hint("name a variable, e.g. {{ job.name }}, or remove the braces"));
    };
    if GO_ACTIONS.contains(&first) {
        return Err(
            Unlocated::new(first_at, format!("{{{{ {first} }}}} is not supported")).hint(SUPPORTED)
        );
    }
    if let Some(p) = body.find('|') {
        return Err(
            Unlocated::new(body_offset + p, "pipelines (|) are not supported").hint(SUPPORTED)
        );
    }
    if let Some(p) = body.find(['(', ')']) {
        return Err(
            Unlocated::new(body_offset + p, "parentheses are not supported").hint(SUPPORTED)
        );
    }
    match first {
        "if" => condition(first_at, &words[1..]).map(|(var, negate)| Action::If { var, negate }),
        "else" => match words.get(1) {
            None => Ok(Action::Else),
            Some(&(at, "if")) => {
                condition(at, &words[2..]).map(|(var, negate)| Action::ElseIf { var, negate })
            }
            Some(&(at, word)) => Err(Unlocated::new(at, format!("unexpected {word} after else"))
                .hint("write {{ else }} or {{ else if VAR }}")),
        },
        "end" => match words.get(1) {
            None => Ok(Action::End),
            Some(&(at, word)) => {
                Err(Unlocated::new(at, format!("unexpected {word} after end"))
                    .hint("write {{ end }}"))
            }
        },
        _ if GO_FUNCTIONS.contains(&first) => Err(function_call(first_at, first)),
        _ => match words.get(1) {
            None => variable(first_at, first).map(Action::Var),
            Some(&(at, word)) if is_variable_like(first) => Err(Unlocated::new(
                at,
                format!("unexpected {word} after {first}: an action holds one variable"),
            )
            .hint(SUPPORTED)),
            Some(_) if first.starts_with('$') || is_constant(first) => {
                variable(first_at, first).map(Action::Var)
            }
            Some(_) => Err(function_call(first_at, first)),
        },
    }
}

/// `if` / `else if` conditions: `VAR` or `not VAR`.
fn condition(
    keyword_at: usize,
    words: &[(usize, &str)],
) -> Result<(&'static str, bool), Unlocated> {
    match words {
        [] => Err(Unlocated::new(keyword_at, "if needs a condition")
            .hint("write {{ if VAR }} or {{ if not VAR }}, e.g. {{ if run.sla_breached }}")),
        [(at, "not")] => Err(Unlocated::new(*at, "not needs a variable")
            .hint("write {{ if not VAR }}, e.g. {{ if not run.sla_breached }}")),
        [(_, "not"), (at, word), ..] if GO_FUNCTIONS.contains(word) => {
            Err(function_call(*at, word))
        }
        [(_, "not"), (at, var)] => variable(*at, var).map(|v| (v, true)),
        [(at, word)] if GO_FUNCTIONS.contains(word) => Err(function_call(*at, word)),
        [(at, var)] => variable(*at, var).map(|v| (v, false)),
        [(at, word), ..] if *word != "not" && GO_FUNCTIONS.contains(word) => {
            Err(function_call(*at, word))
        }
        [(_, "not"), _, (at, word), ..] | [_, (at, word), ..] => Err(Unlocated::new(
            *at,
            format!("unexpected {word}: a condition is one variable, or not and one variable"),
        )
        .hint("write {{ if VAR }} or {{ if not VAR }}")),
    }
}

fn function_call(at: usize, name: &str) -> Unlocated {
    Unlocated::new(at, format!("function calls such as {name} are not supported")).hint(SUPPORTED)
}

/// A Go constant: a string, a character, a number, or `true`/`false`/`nil`.
fn is_constant(word: &str) -> bool {
    matches!(word, "true" | "false" | "nil")
        || word.starts_with(['"', '`', '\''])
        || word.starts_with(|c: char| c.is_ascii_digit())
        || (word.len() > 1 && word.starts_with(['-', '+']))
}

fn is_variable_like(word: &str) -> bool {
    word.starts_with('.') || word.contains('.') || VARIABLES.contains(&word)
}

/// A variable name, with or without Go's leading dot, checked against [`VARIABLES`].
fn variable(at: usize, word: &str) -> Result<&'static str, Unlocated> {
    if word.starts_with('$') {
        return Err(Unlocated::new(
            at,
            format!("template variables such as {word} are not supported"),
        )
        .hint(format!("use one of: {}", VARIABLES.join(", "))));
    }
    if is_constant(word) {
        return Err(Unlocated::new(
            at,
            format!("constants such as {word} are not supported in actions"),
        )
        .hint("write literal text outside {{ }}; actions name a variable"));
    }
    let name = word.strip_prefix('.').unwrap_or(word);
    if let Some(v) = VARIABLES.iter().find(|v| **v == name) {
        return Ok(v);
    }
    let err = Unlocated::new(at, format!("unknown variable {word}"));
    Err(match suggest(name, VARIABLES.iter().copied()) {
        Some(s) => err.hint(format!("did you mean {{{{ {s} }}}}?")),
        None => err.hint(format!("variables: {}", VARIABLES.join(", "))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> String {
        match name {
            "job.name" => "ingest",
            "job.description" => "test job",
            "job.frequency" => "daily",
            "job.retries" => "3",
            "job.tags" => "[etl nightly]",
            "run.id" => "7",
            "run.status" => "FAILED",
            "run.attempt" => "1",
            "run.trigger" => "manual",
            "run.reason" => "test reason",
            "run.sla_breached" => "false",
            "run.exit_code" => "0",
            "event" => "on_failure",
            "suppressed" => "2",
            _ => "",
        }
        .to_owned()
    }

    /// `expected` is the rendered text, or `error L:C message | hint` for a parse error (the
    /// message and the hint are matched as fragments).
    #[track_caller]
    fn check(input: &str, expected: &str) {
        let got = match Template::parse(input) {
            Ok(t) => t.render(&lookup),
            Err(e) => format!(
                "error {}:{} {} | {}",
                e.line,
                e.column,
                e.message,
                e.hint.unwrap_or_default()
            ),
        };
        match expected.strip_prefix("error ") {
            Some(want) => {
                let (head, hint) = want.split_once(" | ").unwrap_or((want, ""));
                let (pos, message) = head.split_once(' ').unwrap_or((head, ""));
                let ok = got.starts_with(&format!("error {pos} "))
                    && got.contains(message)
                    && got.split_once(" | ").is_some_and(|(_, h)| h.contains(hint));
                assert!(ok, "\ninput:    {input:?}\nexpected: {expected}\ngot:      {got}");
            }
            None => assert_eq!(got, expected, "input: {input:?}"),
        }
    }

    #[test]
    fn husky_go_fixtures() {
        check(
            "job={{ job.name }} desc={{ job.description }} freq={{ job.frequency }} retries={{ job.retries }}",
            "job=ingest desc=test job freq=daily retries=3",
        );
        check(
            "id={{ run.id }} status={{ run.status }} attempt={{ run.attempt }} trigger={{ run.trigger }} reason={{ run.reason }}",
            "id=7 status=FAILED attempt=1 trigger=manual reason=test reason",
        );
        check("{{ job.name }} recovered", "ingest recovered");
        check("tags={{ job.tags }} sla={{ run.sla_breached }}", "tags=[etl nightly] sla=false");
    }

    #[test]
    fn variable_spellings() {
        check("{{job.name}}", "ingest");
        check("{{ .job.name }}", "ingest");
        check("{{.run.status}}", "FAILED");
        check("{{   job.name\t}}", "ingest");
        check("{{\njob.name\n}}", "ingest");
        check("{{ event }}/{{ .suppressed }}", "on_failure/2");
    }

    #[test]
    fn literals_and_result_trimming() {
        check("", "");
        check("plain text", "plain text");
        check("  padded \n", "padded");
        check("a } b }} c {", "a } b }} c {");
        check("  {{ job.name }}  ", "ingest");
        check("{{ job.timezone }}", "");
        check("é{{ job.name }}ü", "éingestü");
    }

    #[test]
    fn trim_markers() {
        check("a  {{- job.name }}  b", "aingest  b");
        check("a  {{ job.name -}}  b", "a  ingestb");
        check("a \n\t {{- job.name -}} \n b", "aingestb");
        check("x\n{{- if run.id }}\n  y\n{{- end }}\nz", "x\n  y\nz");
        check("a {{- /* note */ -}} b", "ab");
        check("a {{/* note }} */}} b", "a  b");
    }

    #[test]
    fn conditionals() {
        check("{{ if run.id }}yes{{ end }}", "yes");
        check("{{ if run.sla_breached }}late{{ else }}on time{{ end }}", "on time");
        check("{{ if not run.sla_breached }}on time{{ end }}", "on time");
        check("{{ if run.exit_code }}code{{ else }}zero{{ end }}", "zero");
        check("{{ if job.timezone }}tz{{ else }}none{{ end }}", "none");
        check("{{ if .run.reason }}because {{ run.reason }}{{ end }}", "because test reason");
        check(
            "{{ if run.id }}a{{ if run.sla_breached }}b{{ else }}c{{ if job.name }}d{{ end }}{{ end }}e{{ end }}",
            "acde",
        );
        check("{{ if job.timezone }}1{{ else if run.id }}2{{ else }}3{{ end }}", "2");
        check("{{ if job.timezone }}1{{ else if run.sla_breached }}2{{ else }}3{{ end }}", "3");
        check(
            "{{ if job.timezone }}1{{ else if not run.exit_code }}2{{ end }}{{ if run.id }}!{{ end }}",
            "2!",
        );
    }

    #[test]
    fn truthiness() {
        for (value, want) in [("", false), ("false", false), ("0", false), ("1", true)] {
            assert_eq!(truthy(value), want, "{value:?}");
        }
        assert!(truthy("true") && truthy("FAILED") && truthy("00") && truthy(" "));
    }

    #[test]
    fn unknown_variables() {
        check("{{ job.nme }}", "error 1:4 unknown variable job.nme | did you mean {{ job.name }}?");
        check(
            "x={{ run.nonexistent }}",
            "error 1:6 unknown variable run.nonexistent | variables: job.name,",
        );
        check("{{ .run.stauts }}", "error 1:4 unknown variable .run.stauts | {{ run.status }}");
        check("{{ run.elapsed }}", "error 1:4 unknown variable run.elapsed | variables:");
        check(
            "ok\n  {{ if run.atempt }}x{{ end }}",
            "error 2:9 unknown variable run.atempt | {{ run.attempt }}",
        );
        check("{{ . }}", "error 1:4 unknown variable . | variables:");
        check("{{ name }}", "error 1:4 unknown variable name | variables:");
    }

    #[test]
    fn unsupported_actions() {
        let supported = "templates support {{ VAR }}, {{ if VAR }}";
        check(
            "{{ range job.tags }}x{{ end }}",
            &format!("error 1:4 {{{{ range }}}} is not supported | {supported}"),
        );
        check("{{ with run.reason }}x{{ end }}", "error 1:4 {{ with }} is not supported");
        check("{{ template \"x\" }}", "error 1:4 {{ template }} is not supported");
        check(
            "{{ job.name | printf \"%q\" }}",
            &format!("error 1:13 pipelines (|) are not supported | {supported}"),
        );
        check("{{ printf \"%s\" job.name }}", "error 1:4 function calls such as printf");
        check(
            "{{ len job.tags }}",
            &format!("error 1:4 function calls such as len are not supported | {supported}"),
        );
        check("{{ upper job.name }}", "error 1:4 function calls such as upper are not supported");
        check(
            "{{ if eq run.status FAILED }}x{{ end }}",
            "error 1:7 function calls such as eq are not supported",
        );
        check("{{ if and run.id run.reason }}x{{ end }}", "error 1:7 function calls such as and");
        check("{{ if (run.id) }}x{{ end }}", "error 1:7 parentheses are not supported");
        check("{{ $x := 1 }}", "error 1:4 template variables such as $x are not supported");
        check(
            "{{ \"text\" }}",
            "error 1:4 constants such as \"text\" are not supported | outside {{ }}",
        );
        check("{{ 42 }}", "error 1:4 constants such as 42");
        check("{{ job.name run.id }}", "error 1:13 unexpected run.id after job.name");
        check("{{ }}", "error 1:1 empty action {{ }} | e.g. {{ job.name }}");
        check(
            "{{ if run.id run.status }}x{{ end }}",
            "error 1:14 unexpected run.status: a condition is one variable",
        );
        check("{{ if }}x{{ end }}", "error 1:4 if needs a condition | {{ if not VAR }}");
        check("{{ if not }}x{{ end }}", "error 1:7 not needs a variable");
        check(
            "{{ if not run.id run.status }}x{{ end }}",
            "error 1:18 unexpected run.status: a condition",
        );
        check(
            "{{ if run.id }}{{ else job.name }}{{ end }}",
            "error 1:24 unexpected job.name after else",
        );
        check("{{ if run.id }}{{ end run.id }}", "error 1:23 unexpected run.id after end");
    }

    #[test]
    fn structure_errors() {
        check("a {{ end }}", "error 1:3 {{ end }} without {{ if }} | only closes an {{ if }}");
        check("a\n{{ else }}", "error 2:1 {{ else }} without {{ if }}");
        check("{{ if run.id }}a", "error 1:1 {{ if }} is not closed | add {{ end }}");
        check("x\n  {{ if run.id }}{{ if job.name }}{{ end }}", "error 2:3 {{ if }} is not closed");
        check("{{ if run.id }}a{{ else if job.name }}b", "error 1:1 {{ if }} is not closed");
        check(
            "{{ if run.id }}a{{ else }}b{{ else }}c{{ end }}",
            "error 1:28 {{ else }} after the {{ else }} of the same {{ if }}",
        );
        check("hello {{ job.name", "error 1:7 the action {{ is not closed | close it with }}");
        check("line\nhello {{ job.name }", "error 2:7 the action {{ is not closed");
        check("{{/* note", "error 1:1 the comment is not closed | */}}");
        check("{{/* a */ x }}", "error 1:8 a comment must end with */}}");
        check("{{-job.name }}", "error 1:1 the trim marker {{- needs a space after it");
        check("{{ job.name-}}", "error 1:12 the trim marker -}} needs a space before it");
    }

    #[test]
    fn error_offsets_are_bytes_and_columns_are_characters() {
        let e = Template::parse("éé\nüü {{ job.nam }}").unwrap_err();
        assert_eq!((e.offset, e.line, e.column), (13, 2, 7));
        assert_eq!(e.to_string(), "unknown variable job.nam (line 2, column 7)");
    }
}
