//! Schedule evaluation: frequency × time zone → the next fire instants, with the DST rules of
//! husky.yaml(5). Pure: no clock, no I/O; time zones come from time-tz's embedded database.
//!
//! - Calendar frequencies fire once per matching local date at their time. A time in a DST gap
//!   runs at the same wall time shifted forward by the gap; a time in an overlap runs once, at its
//!   first occurrence.
//! - Interval frequencies fire at the local wall times `00:00 + k·d` of each local day. A slot in
//!   a gap does not exist and is skipped; a slot in an overlap fires at both occurrences.
//! - `manual` and `after:` never fire on their own.

use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};
use time_tz::{Offset, TimeZone, Tz};

pub use zone::Zone;

mod zone;

use crate::config::{Frequency, TimeOfDay, Weekday};

/// Why a fire is not simply "the wall time, once".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note {
    /// The wall time fell in a DST gap and was shifted forward by the gap.
    DstGapShifted,
    /// The wall time occurs twice; this is the first occurrence.
    DstOverlapFirst,
    /// The wall time occurs twice; this is the second occurrence (interval frequencies only).
    DstOverlapSecond,
}

impl Note {
    /// The wire name (`dst_gap_shifted`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Note::DstGapShifted => "dst_gap_shifted",
            Note::DstOverlapFirst => "dst_overlap_first",
            Note::DstOverlapSecond => "dst_overlap_second",
        }
    }
}

/// One fire: a UTC instant and an optional DST note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fire {
    /// When, in UTC (whole seconds).
    pub at: OffsetDateTime,
    /// How DST affected it.
    pub note: Option<Note>,
}

/// What a local wall time is in a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolved {
    /// Exactly one instant (Unix seconds).
    One(i64),
    /// It does not exist; the instant of the same wall time shifted forward by the gap.
    Gap(i64),
    /// It occurs twice: the earlier and the later instant.
    Overlap(i64, i64),
}

const DAY: i64 = 86_400;

/// Resolves a local wall time (seconds since the Unix epoch, read as if UTC) in `tz`.
fn resolve(tz: &Zone, wall: i64) -> Resolved {
    // Offsets a day before and after cover every transition near this wall time.
    let before = tz.offset_at(wall - DAY);
    let after = tz.offset_at(wall + DAY);
    if before == after {
        // No transition within a day either side (zones never change twice in two days).
        return Resolved::One(wall - before);
    }
    let mut hits: Vec<i64> = [before, after]
        .into_iter()
        .filter(|o| tz.offset_at(wall - o) == *o)
        .map(|o| wall - o)
        .collect();
    hits.sort_unstable();
    hits.dedup();
    match hits.as_slice() {
        [one] => Resolved::One(*one),
        [first, second, ..] => Resolved::Overlap(*first, *second),
        [] => Resolved::Gap(wall - before),
    }
}

fn wall_seconds(date: Date, hour: u8, minute: u8) -> i64 {
    let t = Time::from_hms(hour, minute, 0).unwrap_or(Time::MIDNIGHT);
    PrimitiveDateTime::new(date, t).assume_utc().unix_timestamp()
}

fn local_date(tz: &Zone, unix: i64) -> Date {
    let offset = tz.offset_at(unix);
    OffsetDateTime::from_unix_timestamp(unix + offset).map_or(Date::MIN, OffsetDateTime::date)
}

fn instant(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn weekday_of(date: Date) -> Weekday {
    Weekday::ALL[usize::from(date.weekday().number_days_from_monday())]
}

fn calendar_matches(freq: &Frequency, date: Date) -> bool {
    let wd = weekday_of(date);
    match freq {
        Frequency::Daily => true,
        Frequency::Weekly => wd == Weekday::Monday,
        Frequency::Monthly => date.day() == 1,
        Frequency::Weekdays => !matches!(wd, Weekday::Saturday | Weekday::Sunday),
        Frequency::Weekends => matches!(wd, Weekday::Saturday | Weekday::Sunday),
        Frequency::On(days) => days.contains(&wd),
        _ => false,
    }
}

/// The first fire strictly after `after`, or `None` for `manual`/`after:` (or a calendar
/// frequency without a time).
pub fn next_fire(
    freq: &Frequency,
    time: Option<TimeOfDay>,
    tz: &Zone,
    after: OffsetDateTime,
) -> Option<Fire> {
    let after = after.unix_timestamp();
    match freq {
        Frequency::Manual | Frequency::After(_) => None,
        Frequency::Hourly => next_interval(3600, tz, after),
        Frequency::Every(d) => next_interval(d.whole_seconds().max(1), tz, after),
        _ => next_calendar(freq, time?, tz, after),
    }
}

fn next_calendar(freq: &Frequency, time: TimeOfDay, tz: &Zone, after: i64) -> Option<Fire> {
    let start = local_date(tz, after).previous_day()?;
    let mut date = start;
    // Two years covers every calendar frequency, including zones that skip a whole day.
    for _ in 0..800 {
        if calendar_matches(freq, date) {
            let (at, note) = match resolve(tz, wall_seconds(date, time.hour, time.minute)) {
                Resolved::One(u) => (u, None),
                Resolved::Gap(u) => (u, Some(Note::DstGapShifted)),
                Resolved::Overlap(first, _) => (first, Some(Note::DstOverlapFirst)),
            };
            if at > after {
                return Some(Fire { at: instant(at), note });
            }
        }
        date = date.next_day()?;
    }
    None
}

fn next_interval(step: i64, tz: &Zone, after: i64) -> Option<Fire> {
    // Fast path: no offset change from a day before to two days after, so wall time and UTC
    // differ by one constant and the next slot is plain arithmetic.
    let offset = tz.offset_at(after);
    if tz.constant(after - DAY, after + 2 * DAY) {
        let wall = after + offset;
        let midnight = wall.div_euclid(DAY) * DAY;
        let k = (wall - midnight).div_euclid(step) + 1;
        let slot = if k * step < DAY { midnight + k * step } else { midnight + DAY };
        return Some(Fire { at: instant(slot - offset), note: None });
    }
    // Slow path: a transition is near. A slot at wall time w happens at w − o for an offset o in
    // force around `after`, so the lowest and highest of those offsets bound which slots can
    // come next: none before `after + lo`, and none after the best found once `w − hi` passes it.
    let around = [tz.offset_at(after - DAY), offset, tz.offset_at(after + DAY)];
    let around = [around[0], around[1], around[2], tz.offset_at(after + 2 * DAY)];
    let lo = around.iter().copied().min().unwrap_or(offset);
    let hi = around.iter().copied().max().unwrap_or(offset);
    let mut best: Option<Fire> = None;
    let mut date = local_date(tz, after).previous_day()?;
    for _ in 0..4 {
        let midnight = wall_seconds(date, 0, 0);
        let mut k = (after + lo - midnight).div_euclid(step).max(0);
        while k * step < DAY {
            let wall = midnight + k * step;
            if best.is_some_and(|b| wall - hi >= b.at.unix_timestamp()) {
                return best;
            }
            let candidates: [(Option<i64>, Option<Note>); 2] = match resolve(tz, wall) {
                Resolved::One(u) => [(Some(u), None), (None, None)],
                Resolved::Gap(_) => [(None, None), (None, None)],
                Resolved::Overlap(a, b) => [
                    (Some(a), Some(Note::DstOverlapFirst)),
                    (Some(b), Some(Note::DstOverlapSecond)),
                ],
            };
            for (u, note) in candidates {
                let Some(u) = u else { continue };
                if u > after && best.is_none_or(|b| u < b.at.unix_timestamp()) {
                    best = Some(Fire { at: instant(u), note });
                }
            }
            k += 1;
        }
        date = date.next_day()?;
    }
    best
}

/// The next `count` fires strictly after `after`.
pub fn next_fires(
    freq: &Frequency,
    time: Option<TimeOfDay>,
    tz: &Zone,
    after: OffsetDateTime,
    count: usize,
) -> Vec<Fire> {
    let mut out = Vec::with_capacity(count);
    let mut from = after;
    while out.len() < count {
        let Some(f) = next_fire(freq, time, tz, from) else { break };
        from = f.at;
        out.push(f);
    }
    out
}

/// The calendar fires in `[from, until)` that DST moves or that fall in an overlap (for
/// `husky validate`'s warnings). Empty for interval frequencies, whose gap and overlap behaviour
/// is by design, and for `manual`/`after:`.
pub fn calendar_dst_fires(
    freq: &Frequency,
    time: Option<TimeOfDay>,
    tz: &Zone,
    from: OffsetDateTime,
    until: OffsetDateTime,
) -> Vec<Fire> {
    if matches!(freq, Frequency::Hourly | Frequency::Every(_)) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut at = from;
    while let Some(fire) = next_fire(freq, time, tz, at) {
        if fire.at >= until {
            break;
        }
        if fire.note.is_some() {
            out.push(fire);
        }
        at = fire.at;
    }
    out
}

#[cfg(test)]
mod tests;

/// The zone a job runs in: its own (already defaulted from `defaults.timezone`), else the
/// system zone (see [`local_tz`]).
pub fn job_zone(timezone: Option<&str>) -> &'static Zone {
    let tz = timezone
        .and_then(time_tz::timezones::get_by_name)
        .unwrap_or_else(|| local_tz(std::env::var("TZ").ok().as_deref()));
    Zone::of(tz)
}

/// The system zone: `tz_var` (the value of `TZ`, with or without POSIX's leading `:`) when it
/// names an IANA zone, else the OS setting, else UTC.
pub fn local_tz(tz_var: Option<&str>) -> &'static Tz {
    tz_var
        .and_then(|v| time_tz::timezones::get_by_name(v.trim_start_matches(':')))
        .or_else(|| time_tz::system::get_timezone().ok())
        .unwrap_or(time_tz::timezones::db::UTC)
}

/// The local time of an instant in `tz` and the zone's abbreviation there (`EDT`, `+0530`).
pub fn local(tz: &Zone, at: OffsetDateTime) -> (OffsetDateTime, String) {
    local_in(tz.tz(), at)
}

/// [`local`] for a time-tz zone.
pub fn local_in(tz: &Tz, at: OffsetDateTime) -> (OffsetDateTime, String) {
    let offset = tz.get_offset_utc(&at);
    let utc = offset.to_utc();
    let name = match offset.name() {
        // Zones without a letter abbreviation carry the POSIX placeholder `%z`.
        n if n.contains('%') || n.is_empty() => {
            let (h, m, _) = utc.as_hms();
            let sign = if utc.is_negative() { '-' } else { '+' };
            format!("{sign}{:02}{:02}", h.unsigned_abs(), m.unsigned_abs())
        }
        n => n.to_owned(),
    };
    (at.to_offset(utc), name)
}
