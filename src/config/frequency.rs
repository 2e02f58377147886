//! The `frequency` grammar and the `time` (HHMM) field.

use std::fmt;

use super::duration::{DurationError, parse_duration};

/// A day of the week, Monday first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Weekday {
    /// Monday.
    Monday,
    /// Tuesday.
    Tuesday,
    /// Wednesday.
    Wednesday,
    /// Thursday.
    Thursday,
    /// Friday.
    Friday,
    /// Saturday.
    Saturday,
    /// Sunday.
    Sunday,
}

impl Weekday {
    /// All days, Monday first.
    pub const ALL: [Weekday; 7] = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ];

    /// The lowercase English name used in `on:[...]`.
    pub fn name(self) -> &'static str {
        match self {
            Weekday::Monday => "monday",
            Weekday::Tuesday => "tuesday",
            Weekday::Wednesday => "wednesday",
            Weekday::Thursday => "thursday",
            Weekday::Friday => "friday",
            Weekday::Saturday => "saturday",
            Weekday::Sunday => "sunday",
        }
    }

    fn from_name(name: &str) -> Option<Weekday> {
        Weekday::ALL.into_iter().find(|d| d.name() == name)
    }
}

/// When a job fires on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frequency {
    /// Every hour (same as `every:1h`).
    Hourly,
    /// Every day at `time`.
    Daily,
    /// Mondays at `time`.
    Weekly,
    /// The 1st of each month at `time`.
    Monthly,
    /// Monday to Friday at `time`.
    Weekdays,
    /// Saturday and Sunday at `time`.
    Weekends,
    /// Never on its own; only when triggered.
    Manual,
    /// When the named job succeeds.
    After(String),
    /// Fixed interval, aligned to local midnight (0 < d < 24 h).
    Every(time::Duration),
    /// The listed days at `time` (in the order written, without duplicates).
    On(Vec<Weekday>),
}

/// How a frequency treats the `time` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUse {
    /// `time` is required (`daily`, `monthly`).
    Required,
    /// `time` is optional and defaults to `defaults.default_run_time` (weekly, weekdays, weekends, on).
    Defaulted,
    /// `time` is ignored (hourly, every, manual, after).
    Ignored,
}

impl Frequency {
    /// How this frequency uses the `time` field.
    pub fn time_use(&self) -> TimeUse {
        match self {
            Frequency::Daily | Frequency::Monthly => TimeUse::Required,
            Frequency::Weekly | Frequency::Weekdays | Frequency::Weekends | Frequency::On(_) => {
                TimeUse::Defaulted
            }
            Frequency::Hourly | Frequency::Manual | Frequency::After(_) | Frequency::Every(_) => {
                TimeUse::Ignored
            }
        }
    }

    /// The upstream job of an `after:` frequency.
    pub fn after(&self) -> Option<&str> {
        match self {
            Frequency::After(job) => Some(job),
            _ => None,
        }
    }
}

impl fmt::Display for Frequency {
    /// The canonical spelling (`every:15m`, `on:[monday, friday]`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Frequency::Hourly => f.write_str("hourly"),
            Frequency::Daily => f.write_str("daily"),
            Frequency::Weekly => f.write_str("weekly"),
            Frequency::Monthly => f.write_str("monthly"),
            Frequency::Weekdays => f.write_str("weekdays"),
            Frequency::Weekends => f.write_str("weekends"),
            Frequency::Manual => f.write_str("manual"),
            Frequency::After(job) => write!(f, "after:{job}"),
            Frequency::Every(d) => write!(f, "every:{}", super::duration::format_duration(*d)),
            Frequency::On(days) => {
                let names: Vec<&str> = days.iter().map(|d| d.name()).collect();
                write!(f, "on:[{}]", names.join(", "))
            }
        }
    }
}

/// The keywords of the grammar, for suggestions.
pub const KEYWORDS: &[&str] =
    &["hourly", "daily", "weekly", "monthly", "weekdays", "weekends", "manual"];

/// Why a frequency was rejected: a message and, where obvious, a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrequencyError {
    /// Lowercase message.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

fn ferr(message: impl Into<String>, hint: Option<String>) -> FrequencyError {
    FrequencyError { message: message.into(), hint }
}

const ACCEPTED: &str = "accepted: hourly, daily, weekly, monthly, weekdays, weekends, manual, \
                        after:<job>, every:<duration>, on:[<day>, ...]";

/// Parses a `frequency` value. Keywords, units and day names are case-insensitive; the job name
/// of `after:` keeps its case (job names are case-sensitive).
pub fn parse_frequency(input: &str) -> Result<Frequency, FrequencyError> {
    let trimmed = input.trim();
    let lower = trimmed.to_lowercase();
    match lower.as_str() {
        "hourly" => return Ok(Frequency::Hourly),
        "daily" => return Ok(Frequency::Daily),
        "weekly" => return Ok(Frequency::Weekly),
        "monthly" => return Ok(Frequency::Monthly),
        "weekdays" => return Ok(Frequency::Weekdays),
        "weekends" => return Ok(Frequency::Weekends),
        "manual" => return Ok(Frequency::Manual),
        _ => {}
    }
    if lower.starts_with("after:") {
        let job = trimmed["after:".len()..].trim();
        if job.is_empty() {
            return Err(ferr(
                "after: needs a job name",
                Some("write after:<job>, e.g. after:ingest".into()),
            ));
        }
        return Ok(Frequency::After(job.to_owned()));
    }
    if let Some(rest) = lower.strip_prefix("every:") {
        return parse_every(rest.trim()).map(Frequency::Every);
    }
    if let Some(rest) = lower.strip_prefix("on:") {
        return parse_on(rest.trim()).map(Frequency::On);
    }
    let hint = if looks_like_cron(trimmed) {
        Some(
            "husky does not take cron expressions; use daily/weekly/monthly with time, \
             on:[monday, ...] or every:<duration>"
                .to_owned(),
        )
    } else if let Some(s) = super::diag::suggest(&lower, KEYWORDS.iter().copied()) {
        Some(format!("did you mean `{s}`?"))
    } else {
        Weekday::ALL
            .iter()
            .find(|d| d.name() == lower.trim_end_matches('s'))
            .map(|day| format!("to run on one weekday write on:[{}]", day.name()))
    };
    Err(ferr(format!("unrecognised value {trimmed:?} ({ACCEPTED})"), hint))
}

fn looks_like_cron(s: &str) -> bool {
    let fields: Vec<&str> = s.split_whitespace().collect();
    (5..=6).contains(&fields.len())
        && fields.iter().all(|f| f.chars().all(|c| c.is_ascii_digit() || "*/,-?LW#".contains(c)))
}

fn parse_every(text: &str) -> Result<time::Duration, FrequencyError> {
    if text.starts_with('[') {
        return Err(ferr(
            format!("every: takes one duration, not a list ({text:?})"),
            Some("for weekdays use on:[monday, friday]".into()),
        ));
    }
    let d = parse_duration(text).map_err(|e| match e {
        DurationError::Empty => ferr("every: needs an interval", Some("e.g. every:15m".into())),
        DurationError::MissingUnit { .. } => ferr(
            format!("invalid interval {text:?}: {e}"),
            Some(format!("add a unit, e.g. every:{text}m")),
        ),
        _ => ferr(
            format!("invalid interval {text:?}: {e}"),
            Some("e.g. every:30s, every:15m, every:2h".into()),
        ),
    })?;
    if d <= time::Duration::ZERO {
        return Err(ferr(format!("interval {text:?} must be greater than zero"), None));
    }
    if d < time::Duration::SECOND {
        return Err(ferr(
            format!("interval {text:?} is shorter than 1s"),
            Some("the shortest interval is every:1s".into()),
        ));
    }
    if d >= time::Duration::DAY {
        return Err(ferr(
            format!("interval {text:?} must be under 24h"),
            Some(
                "for a daily or longer rhythm use daily, weekly, monthly or on:[...] with a time"
                    .into(),
            ),
        ));
    }
    Ok(d)
}

fn parse_on(text: &str) -> Result<Vec<Weekday>, FrequencyError> {
    let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) else {
        return Err(ferr(
            format!("on: needs a bracketed list of days, got {text:?}"),
            Some(format!("write on:[{}]", text.trim_matches(['[', ']']))),
        ));
    };
    if inner.trim().is_empty() {
        return Err(ferr(
            "on:[] needs at least one day",
            Some("e.g. on:[monday, thursday]".into()),
        ));
    }
    let mut days = Vec::new();
    for item in inner.split(',') {
        let item = item.trim();
        let Some(day) = Weekday::from_name(item) else {
            let full = Weekday::ALL.iter().find(|d| !item.is_empty() && d.name().starts_with(item));
            let hint = match full {
                Some(d) => Some(format!("use full day names: {}", d.name())),
                None => super::diag::suggest(item, Weekday::ALL.iter().map(|d| d.name()))
                    .map(|s| format!("did you mean `{s}`?")),
            };
            return Err(ferr(format!("unknown day {item:?} in on:[...]"), hint));
        };
        if days.contains(&day) {
            return Err(ferr(format!("day {item:?} is listed twice in on:[...]"), None));
        }
        days.push(day);
    }
    Ok(days)
}

/// A wall-clock time of day, minute precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay {
    /// 0–23.
    pub hour: u8,
    /// 0–59.
    pub minute: u8,
}

impl fmt::Display for TimeOfDay {
    /// `HHMM`, as written in husky.yaml.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}{:02}", self.hour, self.minute)
    }
}

/// Parses a `time` value: exactly four digits `HHMM`, hour 00–23, minute 00–59.
pub fn parse_time(text: &str) -> Result<TimeOfDay, FrequencyError> {
    let hint = || colon_form(text).map(|t| format!("write it as \"{t}\""));
    if text.len() != 4 {
        let message = format!("{text:?} must be exactly 4 characters (HHMM)");
        return Err(ferr(message, hint()));
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        let message = format!("{text:?} must contain only digits (HHMM)");
        return Err(ferr(message, hint()));
    }
    let hour: u8 = text[..2].parse().unwrap_or(99);
    let minute: u8 = text[2..].parse().unwrap_or(99);
    if hour > 23 {
        return Err(ferr(format!("hour {hour} is out of range (00-23)"), None));
    }
    if minute > 59 {
        return Err(ferr(format!("minute {minute} is out of range (00-59)"), None));
    }
    Ok(TimeOfDay { hour, minute })
}

/// `"9:00"` / `"09:30"` / `"9am"`-ish inputs that have an obvious HHMM spelling.
fn colon_form(text: &str) -> Option<String> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u8, u8) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 23 && m <= 59).then(|| format!("{h:02}{m:02}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn ok(s: &str, f: Frequency) {
        assert_eq!(parse_frequency(s), Ok(f), "{s:?}");
    }

    #[track_caller]
    fn bad(s: &str, fragment: &str) {
        match parse_frequency(s) {
            Ok(f) => panic!("{s:?} parsed as {f:?}"),
            Err(e) => {
                assert!(e.message.contains(fragment), "{s:?}: {:?} lacks {fragment:?}", e.message);
            }
        }
    }

    #[test]
    fn valid_frequencies() {
        ok("hourly", Frequency::Hourly);
        ok(" Daily ", Frequency::Daily);
        ok("WEEKLY", Frequency::Weekly);
        ok("monthly", Frequency::Monthly);
        ok("weekdays", Frequency::Weekdays);
        ok("weekends", Frequency::Weekends);
        ok("manual", Frequency::Manual);
        ok("after:other_job", Frequency::After("other_job".into()));
        ok("after: Ingest ", Frequency::After("Ingest".into()));
        ok("AFTER:Ingest", Frequency::After("Ingest".into()));
        ok("every:15s", Frequency::Every(time::Duration::seconds(15)));
        ok("every:15m", Frequency::Every(time::Duration::minutes(15)));
        ok("every:2h", Frequency::Every(time::Duration::hours(2)));
        ok("every:23h59m", Frequency::Every(time::Duration::minutes(23 * 60 + 59)));
        ok("every:1.5s", Frequency::Every(time::Duration::milliseconds(1500)));
        ok("every:15M", Frequency::Every(time::Duration::minutes(15)));
        ok("every: 5m", Frequency::Every(time::Duration::minutes(5)));
        ok("on:[monday]", Frequency::On(vec![Weekday::Monday]));
        ok("on:[tuesday, friday]", Frequency::On(vec![Weekday::Tuesday, Weekday::Friday]));
        ok("on: [Monday]", Frequency::On(vec![Weekday::Monday]));
    }

    #[test]
    fn invalid_frequencies() {
        bad("after:", "needs a job name");
        bad("every:0s", "greater than zero");
        bad("every:-15m", "greater than zero");
        bad("every:24h", "under 24h");
        bad("every:1d", "under 24h");
        bad("every:500ms", "shorter than 1s");
        bad("every:notaduration", "invalid interval");
        bad("every:[monday]", "not a list");
        bad("on:[]", "at least one day");
        bad("on:[funday]", "unknown day");
        bad("on:[monday,monday]", "listed twice");
        bad("on:[mon]", "unknown day");
        bad("on:monday", "bracketed list");
        bad("0 3 * * *", "unrecognised value");
        bad("fortnightly", "unrecognised value");
        bad("", "unrecognised value");
    }

    #[test]
    fn hints() {
        let hint = |s: &str| parse_frequency(s).unwrap_err().hint.unwrap_or_default();
        assert!(hint("weekday").contains("`weekdays`"));
        assert!(hint("dialy").contains("`daily`"));
        assert!(hint("0 3 * * *").contains("cron"));
        assert!(hint("on:[mon]").contains("monday"));
        assert!(hint("every:1d").contains("daily"));
        assert!(hint("mondays").contains("on:[monday]"));
    }

    #[test]
    fn times() {
        for ok in ["0000", "0200", "0930", "1200", "1430", "2359"] {
            assert!(parse_time(ok).is_ok(), "{ok}");
        }
        let msg = |s: &str| parse_time(s).unwrap_err().message;
        assert!(msg("200").contains("exactly 4 characters"));
        assert!(msg("2am").contains("exactly 4 characters"));
        assert!(msg("25:00").contains("exactly 4 characters"));
        assert!(msg(" 0900").contains("exactly 4 characters"));
        assert!(msg("25ab").contains("only digits"));
        assert!(msg("12ab").contains("only digits"));
        assert!(msg("2500").contains("hour 25 is out of range (00-23)"));
        assert!(msg("2599").contains("hour 25 is out of range (00-23)"));
        assert!(msg("1260").contains("minute 60 is out of range (00-59)"));
        assert_eq!(parse_time("9:00").unwrap_err().hint.as_deref(), Some("write it as \"0900\""));
    }
}
