//! Output formats shared by commands: aligned text tables, JSON, NDJSON, CSV and TSV.
//!
//! The machine formats print the values as given (times in RFC 3339 UTC, durations in
//! milliseconds). The text table is for people and is dressed from the data, by column name:
//!
//! - times (`*_at`, `next_run`, `last_run`, `time`, `since`, `until`) holding an RFC 3339
//!   instant show in the local zone with its abbreviation and a relative hint:
//!   `2026-11-23 14:05:09 CET (in 5m)`;
//! - durations (`duration`, `*_ms`) holding a number of milliseconds show as `850ms`, `12.3s`,
//!   `4m05s`, `2h03m`, `3d04h`;
//! - a `status` column colours the run statuses when colour is on;
//! - when the width is known (`COLUMNS`, else the terminal's), a table wider than it shrinks its
//!   widest columns, free text first, and cuts their cells with `…`.
//!
//! [`TextOptions::from_env`] reads the environment: `TZ`, `NO_COLOR`, `CLICOLOR_FORCE`, `TERM`,
//! `COLUMNS` and whether stdout is a terminal. Widths count `char`s, not terminal cells: wide
//! (East Asian) and combining characters misalign a little; no crate is worth that here.

use std::io::IsTerminal;
use std::str::FromStr;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time_tz::Tz;

use super::term;
use crate::clock::{Clock, SystemClock};
use crate::schedule;
use crate::store::RunStatus;

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

/// How the text format dresses a table (the machine formats ignore it).
#[derive(Debug, Clone, Copy)]
pub struct TextOptions {
    /// The zone times are shown in.
    pub zone: &'static Tz,
    /// Whether statuses are coloured with ANSI escapes.
    pub color: bool,
    /// The width to fit in, in characters; `None`: never cut.
    pub width: Option<usize>,
}

impl TextOptions {
    /// UTC, no colour, no width limit.
    pub fn plain() -> TextOptions {
        TextOptions { zone: time_tz::timezones::db::UTC, color: false, width: None }
    }

    /// The options for stdout, from the environment:
    ///
    /// - zone: `TZ` when it names an IANA zone, else the system's, else UTC;
    /// - colour: never when `NO_COLOR` is non-empty (no-color.org, which wins); always when
    ///   `CLICOLOR_FORCE` is non-empty and not `0`; else when stdout is a terminal and `TERM` is
    ///   not `dumb` (on Windows only when forced);
    /// - width: `COLUMNS` when it is a positive number, else the terminal's; none when stdout is
    ///   not a terminal, so that pipes get the full text.
    pub fn from_env() -> TextOptions {
        let tty = std::io::stdout().is_terminal();
        let width = if tty { term::stdout_width() } else { None };
        TextOptions::from_vars(|k| std::env::var(k).ok(), tty && term::ANSI_BY_DEFAULT, width)
    }

    /// [`TextOptions::from_env`] with the environment given: `var` looks a variable up, `tty`
    /// says whether stdout is a terminal that takes colours, `tty_width` is its width.
    fn from_vars(
        var: impl Fn(&str) -> Option<String>,
        tty: bool,
        tty_width: Option<usize>,
    ) -> TextOptions {
        let set = |k: &str| var(k).filter(|v| !v.is_empty());
        let color = if set("NO_COLOR").is_some() {
            false
        } else if set("CLICOLOR_FORCE").is_some_and(|v| v != "0") {
            true
        } else {
            tty && var("TERM").as_deref() != Some("dumb")
        };
        let columns = set("COLUMNS").and_then(|v| v.trim().parse::<usize>().ok());
        TextOptions {
            zone: schedule::local_tz(var("TZ").as_deref()),
            color,
            width: columns.filter(|&w| w > 0).or(tty_width),
        }
    }
}

impl Table {
    /// Renders the table in `format`; the text format is dressed for stdout
    /// ([`TextOptions::from_env`]) at the current time.
    pub fn render(&self, format: Format) -> String {
        let options =
            if format == Format::Text { TextOptions::from_env() } else { TextOptions::plain() };
        self.render_at(format, SystemClock.now_utc(), &options)
    }

    /// Renders the table in `format`; the text format shows relative times from `now` and
    /// follows `options`.
    pub fn render_at(&self, format: Format, now: OffsetDateTime, options: &TextOptions) -> String {
        match format {
            Format::Text => self.text(now, options),
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

    fn text(&self, now: OffsetDateTime, options: &TextOptions) -> String {
        let kinds: Vec<Kind> = self.columns.iter().map(|c| Kind::of(c)).collect();
        let headers: Vec<Cell> =
            self.columns.iter().map(|c| Cell { text: c.to_uppercase(), color: None }).collect();
        let cells: Vec<Vec<Cell>> = self
            .rows
            .iter()
            .map(|r| r.iter().zip(&kinds).map(|(v, k)| k.cell(v, now, options)).collect())
            .collect();
        let header_widths: Vec<usize> = headers.iter().map(Cell::width).collect();
        let mut widths = header_widths.clone();
        for row in &cells {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.width());
            }
        }
        if let Some(limit) = options.width {
            let last = self.columns.len().saturating_sub(1);
            let mut floors = Vec::new();
            let mut free = Vec::new();
            for (i, column) in self.columns.iter().enumerate() {
                // Times, durations, statuses and numbers are worthless cut: they never shrink.
                let numbers =
                    self.rows.iter().all(|r| r.get(i).is_none_or(|v| v.is_number() || v.is_null()));
                floors.push(if kinds[i] != Kind::Other || numbers {
                    widths[i]
                } else {
                    widths[i].min(header_widths[i].max(MIN_WIDTH))
                });
                free.push(i == last || free_text(column));
            }
            widths = fit(&widths, &floors, &free, limit);
        }
        let line = |row: &[Cell]| {
            let mut s = String::new();
            for (i, (cell, &w)) in row.iter().zip(&widths).enumerate() {
                let text = cut(&cell.text, w);
                let pad = w.saturating_sub(text.chars().count());
                match cell.color {
                    Some(code) => s.push_str(&format!("\x1b[{code}m{text}\x1b[0m")),
                    None => s.push_str(&text),
                }
                if i + 1 < row.len() {
                    s.push_str(&" ".repeat(pad + 2));
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

/// One cell of a text table: what is seen, and the ANSI colour (SGR code) it is shown in.
#[derive(Debug)]
struct Cell {
    text: String,
    color: Option<&'static str>,
}

impl Cell {
    /// The visible width (escapes are added at print time and never counted).
    fn width(&self) -> usize {
        self.text.chars().count()
    }
}

/// What a column holds, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An instant, RFC 3339.
    Time,
    /// A number of milliseconds.
    Duration,
    /// A run status.
    Status,
    /// Anything else.
    Other,
}

impl Kind {
    fn of(column: &str) -> Kind {
        match column {
            "status" => Kind::Status,
            "duration" => Kind::Duration,
            "next_run" | "last_run" | "time" | "since" | "until" => Kind::Time,
            c if c.ends_with("_ms") => Kind::Duration,
            c if c.ends_with("_at") => Kind::Time,
            _ => Kind::Other,
        }
    }

    /// The text cell of a value; values that are not what the column's name promises (a time
    /// column's `null`, a duration that is text) show plain.
    fn cell(self, v: &Value, now: OffsetDateTime, options: &TextOptions) -> Cell {
        let text = match (self, v) {
            (Kind::Time, Value::String(s)) => OffsetDateTime::parse(s, &Rfc3339)
                .map_or_else(|_| plain(v), |at| format_time(at, now, options.zone)),
            (Kind::Duration, Value::Number(n)) => match n.as_u64() {
                Some(ms) => format_duration_ms(ms),
                // Truncates a fraction of a millisecond; `as` saturates.
                None => n
                    .as_f64()
                    .filter(|f| f.is_finite() && *f >= 0.0)
                    .map_or_else(|| plain(v), |f| format_duration_ms(f as u64)),
            },
            _ => plain(v),
        };
        // A line break or an escape from a job's text must not break the table or the terminal.
        let text: String = text
            .chars()
            .map(|c| match c {
                '\t' | '\n' | '\r' => ' ',
                c if c.is_control() => '?',
                c => c,
            })
            .collect();
        let color = match self {
            Kind::Status if options.color => status_color(&text),
            _ => None,
        };
        Cell { text, color }
    }
}

/// Free text: the columns cut first when a table is too wide.
fn free_text(column: &str) -> bool {
    matches!(column, "reason" | "description" | "tags" | "command") || column.ends_with("_reason")
}

/// The ANSI colour of a run status.
fn status_color(status: &str) -> Option<&'static str> {
    Some(match RunStatus::parse(status.trim())? {
        RunStatus::Success => "32",                        // green
        RunStatus::Failed => "31",                         // red
        RunStatus::Running => "36",                        // cyan
        RunStatus::Pending | RunStatus::Retrying => "33",  // yellow
        RunStatus::Skipped | RunStatus::Cancelled => "35", // magenta
    })
}

/// No text column is cut below this many characters (or its header, if longer).
const MIN_WIDTH: usize = 6;

/// Column widths whose line (two spaces between columns) fits in `limit`: the widest of the
/// `preferred` columns shrink first, then the widest of all, none below its floor. A table that
/// cannot fit keeps the floors and overflows.
fn fit(natural: &[usize], floors: &[usize], preferred: &[bool], limit: usize) -> Vec<usize> {
    let mut widths = natural.to_vec();
    for only_preferred in [true, false] {
        loop {
            let total = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
            let Some(excess) = total.checked_sub(limit).filter(|&e| e > 0) else { return widths };
            let candidates: Vec<usize> = (0..widths.len())
                .filter(|&i| widths[i] > floors[i] && (!only_preferred || preferred[i]))
                .collect();
            // The widest; on a tie the later column (the last column is cut first).
            let Some(&widest) = candidates.iter().max_by_key(|&&i| (widths[i], i)) else { break };
            let next =
                candidates.iter().filter(|&&i| i != widest).map(|&i| widths[i]).max().unwrap_or(0);
            // Down to the next widest (one at a time once they are level), the floor or the fit.
            let step = (widths[widest] - floors[widest])
                .min(excess)
                .min(widths[widest].saturating_sub(next).max(1));
            widths[widest] -= step;
        }
    }
    widths
}

/// `text` cut to `width` characters, the last one `…` when something was cut.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let mut s: String = text.chars().take(width - 1).collect();
    s.push('…');
    s
}

/// An instant for people: local wall time to the second in `zone`, the zone's abbreviation (or
/// offset) there, and how far it is from `now`: `2026-11-23 14:05:09 CET (in 5m)`.
pub fn format_time(at: OffsetDateTime, now: OffsetDateTime, zone: &Tz) -> String {
    let (local, abbreviation) = schedule::local_in(zone, at);
    let wall = local
        .format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"))
        .unwrap_or_default();
    format!("{wall} {abbreviation} ({})", format_relative(at, now))
}

/// How far `at` is from `now`, in its largest whole unit: `in 5m`, `3h ago`, `2d ago`, `45s ago`;
/// `just now` within 5 seconds either way.
pub fn format_relative(at: OffsetDateTime, now: OffsetDateTime) -> String {
    let secs = (at - now).whole_seconds();
    let n = secs.unsigned_abs();
    let amount = match n {
        0..5 => return "just now".into(),
        5..60 => format!("{n}s"),
        60..3_600 => format!("{}m", n / 60),
        3_600..86_400 => format!("{}h", n / 3_600),
        _ => format!("{}d", n / 86_400),
    };
    if secs > 0 { format!("in {amount}") } else { format!("{amount} ago") }
}

/// A duration in milliseconds for people, in at most two units, truncated: `850ms`, `12.3s`,
/// `4m05s`, `2h03m`, `3d04h`.
pub fn format_duration_ms(ms: u64) -> String {
    const S: u64 = 1_000;
    const M: u64 = 60 * S;
    const H: u64 = 60 * M;
    const D: u64 = 24 * H;
    match ms {
        0..S => format!("{ms}ms"),
        S..M => format!("{}.{}s", ms / S, ms % S / 100),
        M..H => format!("{}m{:02}s", ms / M, ms % M / S),
        H..D => format!("{}h{:02}m", ms / H, ms % H / M),
        _ => format!("{}d{:02}h", ms / D, ms % D / H),
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
    use time::macros::datetime;
    use time_tz::TimeZone;

    fn table() -> Table {
        Table {
            columns: vec!["tag", "count", "jobs"],
            rows: vec![
                vec![json!("etl"), json!(2), json!(["a", "b"])],
                vec![json!("nightly-report"), json!(1), json!(["c,d"])],
            ],
        }
    }

    const NOW: OffsetDateTime = datetime!(2026-11-23 13:00:00 UTC);

    fn zone(name: &str) -> &'static Tz {
        time_tz::timezones::get_by_name(name).expect("zone")
    }

    fn options(zone_name: &str, color: bool, width: Option<usize>) -> TextOptions {
        TextOptions { zone: zone(zone_name), color, width }
    }

    fn runs() -> Table {
        Table {
            columns: vec!["id", "job", "status", "started_at", "duration_ms", "status_reason"],
            rows: vec![
                vec![
                    json!(7),
                    json!("ingest"),
                    json!("SUCCESS"),
                    json!("2026-11-23T12:55:00.000Z"),
                    json!(4_250),
                    Value::Null,
                ],
                vec![
                    json!(8),
                    json!("report"),
                    json!("FAILED"),
                    json!("2026-07-01T12:00:00Z"),
                    json!(850),
                    json!("exit code 2: the upstream API answered 503 Service Unavailable"),
                ],
            ],
        }
    }

    #[test]
    fn text_is_aligned() {
        assert_eq!(
            table().render_at(Format::Text, NOW, &TextOptions::plain()),
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

    #[test]
    fn machine_formats_keep_times_and_durations_whatever_the_options() {
        let t = runs();
        let dressed = options("Europe/Berlin", true, Some(20));
        for format in [Format::Json, Format::Ndjson, Format::Csv, Format::Tsv] {
            assert_eq!(
                t.render_at(format, NOW, &dressed),
                t.render_at(format, NOW, &TextOptions::plain()),
                "{format:?}"
            );
        }
        assert_eq!(
            t.render_at(Format::Csv, NOW, &dressed).lines().nth(1),
            Some("7,ingest,SUCCESS,2026-11-23T12:55:00.000Z,4250,-")
        );
        assert_eq!(
            t.render_at(Format::Ndjson, NOW, &dressed).lines().next(),
            Some(
                r#"{"id":7,"job":"ingest","status":"SUCCESS","started_at":"2026-11-23T12:55:00.000Z","duration_ms":4250,"status_reason":null}"#
            )
        );
        let tsv = t.render_at(Format::Tsv, NOW, &dressed);
        assert!(tsv.contains("2026-07-01T12:00:00Z\t850\t"), "{tsv}");
        assert!(!tsv.contains('\x1b') && !tsv.contains('…'));
    }

    #[test]
    fn times_in_a_dst_zone_winter_and_summer() {
        let berlin = zone("Europe/Berlin");
        let winter = datetime!(2026-11-23 13:05:09 UTC);
        assert_eq!(format_time(winter, NOW, berlin), "2026-11-23 14:05:09 CET (in 5m)");
        let summer = datetime!(2026-07-01 12:00:00 UTC);
        assert_eq!(format_time(summer, NOW, berlin), "2026-07-01 14:00:00 CEST (145d ago)");
        let utc = time_tz::timezones::db::UTC;
        assert_eq!(format_time(NOW, NOW, utc), "2026-11-23 13:00:00 UTC (just now)");
        // A zone without a letter abbreviation shows its offset.
        assert_eq!(
            format_time(winter, NOW, zone("Asia/Kolkata")),
            "2026-11-23 18:35:09 IST (in 5m)"
        );
        assert_eq!(
            format_time(winter, NOW, zone("America/Sao_Paulo")),
            "2026-11-23 10:05:09 -0300 (in 5m)"
        );
    }

    #[test]
    fn relative_hints() {
        let at = |secs: i64| NOW + time::Duration::seconds(secs);
        let cases = [
            (0, "just now"),
            (4, "just now"),
            (-4, "just now"),
            (5, "in 5s"),
            (-45, "45s ago"),
            (299, "in 4m"),
            (300, "in 5m"),
            (-3 * 3_600 - 59 * 60, "3h ago"),
            (23 * 3_600, "in 23h"),
            (-2 * 86_400 - 1, "2d ago"),
            (400 * 86_400, "in 400d"),
        ];
        for (secs, want) in cases {
            assert_eq!(format_relative(at(secs), NOW), want, "{secs} s");
        }
    }

    #[test]
    fn durations() {
        let cases = [
            (0, "0ms"),
            (850, "850ms"),
            (999, "999ms"),
            (1_000, "1.0s"),
            (12_345, "12.3s"),
            (59_999, "59.9s"),
            (60_000, "1m00s"),
            (245_000, "4m05s"),
            (3_599_999, "59m59s"),
            (7_380_000, "2h03m"),
            (86_400_000 + 4 * 3_600_000 + 59_000, "1d04h"),
        ];
        for (ms, want) in cases {
            assert_eq!(format_duration_ms(ms), want, "{ms} ms");
        }
    }

    #[test]
    fn text_shows_local_times_and_human_durations() {
        let t = Table {
            columns: vec!["job", "next_run", "finished_at", "duration", "wait_ms", "note"],
            rows: vec![
                vec![
                    json!("a"),
                    json!("2026-11-23T13:05:09Z"),
                    Value::Null,
                    json!(12_345),
                    json!(850.6),
                    json!("2026-11-23T13:05:09Z"),
                ],
                vec![
                    json!("b"),
                    json!("not a time"),
                    json!("2026-07-01T12:00:00+02:00"),
                    json!("soon"),
                    json!(-1),
                    json!(7_380_000),
                ],
            ],
        };
        assert_eq!(
            t.render_at(Format::Text, NOW, &options("Europe/Berlin", false, None)),
            "JOB  NEXT_RUN                         FINISHED_AT                          DURATION  WAIT_MS  NOTE\n\
             a    2026-11-23 14:05:09 CET (in 5m)  -                                    12.3s     850ms    2026-11-23T13:05:09Z\n\
             b    not a time                       2026-07-01 12:00:00 CEST (145d ago)  soon      -1       7380000\n"
        );
    }

    #[test]
    fn colour_when_asked_measured_without_escapes() {
        let t = runs();
        let text = t.render_at(Format::Text, NOW, &options("UTC", true, None));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "ID  JOB     STATUS   STARTED_AT                          DURATION_MS  STATUS_REASON"
        );
        assert_eq!(
            lines[1],
            "7   ingest  \x1b[32mSUCCESS\x1b[0m  2026-11-23 12:55:00 UTC (5m ago)    4.2s         -"
        );
        assert_eq!(
            lines[2],
            "8   report  \x1b[31mFAILED\x1b[0m   2026-07-01 12:00:00 UTC (145d ago)  850ms        \
             exit code 2: the upstream API answered 503 Service Unavailable"
        );
        let plain = t.render_at(Format::Text, NOW, &options("UTC", false, None));
        assert_eq!(
            plain,
            text.replace("\x1b[32m", "").replace("\x1b[31m", "").replace("\x1b[0m", "")
        );
        assert!(!plain.contains('\x1b'));
        assert_eq!(status_color("RUNNING"), Some("36"));
        assert_eq!(status_color("retrying"), Some("33"));
        assert_eq!(status_color("CANCELLED"), Some("35"));
        assert_eq!(status_color("ok"), None);
    }

    #[test]
    fn colour_follows_no_color_force_and_the_terminal() {
        let color = |vars: &[(&str, &str)], tty: bool| {
            let vars: Vec<(String, String)> =
                vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            TextOptions::from_vars(get, tty, None).color
        };
        assert!(color(&[], true));
        assert!(!color(&[], false), "not a terminal");
        assert!(!color(&[("TERM", "dumb")], true));
        assert!(color(&[("TERM", "xterm-256color")], true));
        assert!(!color(&[("NO_COLOR", "1")], true));
        assert!(!color(&[("NO_COLOR", "0")], true), "any non-empty value disables");
        assert!(color(&[("NO_COLOR", "")], true), "an empty NO_COLOR is unset");
        assert!(color(&[("CLICOLOR_FORCE", "1")], false));
        assert!(color(&[("CLICOLOR_FORCE", "1"), ("TERM", "dumb")], false));
        assert!(!color(&[("CLICOLOR_FORCE", "0")], false));
        assert!(!color(&[("CLICOLOR_FORCE", "")], false));
        assert!(!color(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")], true), "NO_COLOR wins");
    }

    #[test]
    fn width_and_zone_from_the_environment() {
        let opts = |vars: &[(&str, &str)], tty_width: Option<usize>| {
            let get = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned());
            TextOptions::from_vars(get, tty_width.is_some(), tty_width)
        };
        assert_eq!(opts(&[], None).width, None, "a pipe is never cut");
        assert_eq!(opts(&[], Some(80)).width, Some(80));
        assert_eq!(opts(&[("COLUMNS", "100")], Some(80)).width, Some(100));
        assert_eq!(opts(&[("COLUMNS", "60")], None).width, Some(60));
        assert_eq!(opts(&[("COLUMNS", "0")], None).width, None);
        assert_eq!(opts(&[("COLUMNS", "wide")], Some(80)).width, Some(80));
        assert_eq!(opts(&[("TZ", "Europe/Berlin")], None).zone.name(), "Europe/Berlin");
        assert_eq!(opts(&[("TZ", ":America/New_York")], None).zone.name(), "America/New_York");
    }

    #[test]
    fn a_wide_table_cuts_free_text_first() {
        let t = runs();
        let at = |width| t.render_at(Format::Text, NOW, &options("UTC", false, width));
        let full = at(None);
        let longest = full.lines().map(|l| l.chars().count()).max().unwrap_or(0);
        assert_eq!(longest, 132);
        assert_eq!(at(Some(132)), full, "wide enough: nothing changes");
        // The reason is cut to fit 100 columns.
        let cut100 = at(Some(100));
        assert_eq!(
            cut100,
            "ID  JOB     STATUS   STARTED_AT                          DURATION_MS  STATUS_REASON\n\
             7   ingest  SUCCESS  2026-11-23 12:55:00 UTC (5m ago)    4.2s         -\n\
             8   report  FAILED   2026-07-01 12:00:00 UTC (145d ago)  850ms        exit code 2: the upstream API…\n"
        );
        assert!(cut100.lines().all(|l| l.chars().count() <= 100));
        // Narrower: the reason stops at its header; ids, statuses, times and durations are never
        // cut, and the short job names are at their floor, so the table overflows.
        let overflow = "ID  JOB     STATUS   STARTED_AT                          DURATION_MS  STATUS_REASON\n\
                        7   ingest  SUCCESS  2026-11-23 12:55:00 UTC (5m ago)    4.2s         -\n\
                        8   report  FAILED   2026-07-01 12:00:00 UTC (145d ago)  850ms        exit code 2:…\n";
        assert_eq!(at(Some(70)), overflow);
        assert_eq!(at(Some(1)), overflow);
    }

    #[test]
    fn other_text_columns_give_way_after_free_text() {
        let t = Table {
            columns: vec!["job", "command", "next_run"],
            rows: vec![
                vec![
                    json!("nightly-warehouse-rebuild"),
                    json!("make -C /srv/warehouse rebuild"),
                    json!("2026-11-24T02:00:00Z"),
                ],
                vec![json!("ping"), json!("true"), Value::Null],
            ],
        };
        let at = |width| t.render_at(Format::Text, NOW, &options("Europe/Berlin", false, width));
        assert_eq!(
            at(None),
            "JOB                        COMMAND                         NEXT_RUN\n\
             nightly-warehouse-rebuild  make -C /srv/warehouse rebuild  2026-11-24 03:00:00 CET (in 13h)\n\
             ping                       true                            -\n"
        );
        // The command (free text) gives way first, down to its floor (its header or 6)...
        assert_eq!(
            at(Some(75)),
            "JOB                        COMMAND         NEXT_RUN\n\
             nightly-warehouse-rebuild  make -C /srv/…  2026-11-24 03:00:00 CET (in 13h)\n\
             ping                       true            -\n"
        );
        // ... then the job name; the time never does.
        assert_eq!(
            at(Some(60)),
            "JOB                COMMAND  NEXT_RUN\n\
             nightly-warehous…  make -…  2026-11-24 03:00:00 CET (in 13h)\n\
             ping               true     -\n"
        );
    }

    #[test]
    fn colour_survives_a_cut() {
        let t = Table {
            columns: vec!["status", "description"],
            rows: vec![vec![json!("RUNNING"), json!("a long description of the job")]],
        };
        assert_eq!(
            t.render_at(Format::Text, NOW, &options("UTC", true, Some(24))),
            "STATUS   DESCRIPTION\n\x1b[36mRUNNING\x1b[0m  a long descrip…\n"
        );
    }

    #[test]
    fn control_characters_do_not_reach_the_terminal() {
        let t = Table {
            columns: vec!["name", "reason"],
            rows: vec![vec![json!("a\tb"), json!("line one\nline two \x1b[31m")]],
        };
        assert_eq!(
            t.render_at(Format::Text, NOW, &TextOptions::plain()),
            "NAME  REASON\na b   line one line two ?[31m\n"
        );
    }
}
