//! Unit tests of the schedule rules with literal instants (digest §2.2–§2.3 fixtures and DST cases).

use time::OffsetDateTime;
use time::macros::datetime;

use super::*;
use crate::config::parse_frequency;

fn tz(name: &str) -> &'static Zone {
    Zone::of(time_tz::timezones::get_by_name(name).expect("zone"))
}

fn t(hhmm: &str) -> Option<TimeOfDay> {
    crate::config::parse_time(hhmm).ok()
}

#[track_caller]
fn next(
    freq: &str,
    time: &str,
    zone: &str,
    after: OffsetDateTime,
) -> (OffsetDateTime, Option<Note>) {
    let f = parse_frequency(freq).expect("frequency");
    let fire = next_fire(&f, t(time), tz(zone), after).expect("a fire");
    (fire.at, fire.note)
}

#[track_caller]
fn at(freq: &str, time: &str, zone: &str, after: OffsetDateTime, expected: OffsetDateTime) {
    assert_eq!(next(freq, time, zone, after).0, expected, "{freq} {time} {zone} after {after}");
}

#[test]
fn digest_utc_fixtures() {
    at("daily", "0900", "UTC", datetime!(2024-01-10 08:00 UTC), datetime!(2024-01-10 09:00 UTC));
    at("daily", "0900", "UTC", datetime!(2024-01-10 10:00 UTC), datetime!(2024-01-11 09:00 UTC));
    at("weekly", "1000", "UTC", datetime!(2024-01-10 10:01 UTC), datetime!(2024-01-15 10:00 UTC));
    at("weekly", "1000", "UTC", datetime!(2024-01-15 09:00 UTC), datetime!(2024-01-15 10:00 UTC));
    at("weekly", "0415", "UTC", datetime!(2024-01-15 02:00 UTC), datetime!(2024-01-15 04:15 UTC));
    at("monthly", "0600", "UTC", datetime!(2024-01-10 06:01 UTC), datetime!(2024-02-01 06:00 UTC));
    at("monthly", "0600", "UTC", datetime!(2024-02-01 05:00 UTC), datetime!(2024-02-01 06:00 UTC));
    at("weekdays", "0900", "UTC", datetime!(2024-01-10 09:01 UTC), datetime!(2024-01-11 09:00 UTC));
    at("weekdays", "0900", "UTC", datetime!(2024-01-13 09:01 UTC), datetime!(2024-01-15 09:00 UTC));
    at("weekends", "0800", "UTC", datetime!(2024-01-10 09:00 UTC), datetime!(2024-01-13 08:00 UTC));
    at(
        "on:[tuesday, friday]",
        "0300",
        "UTC",
        datetime!(2024-01-10 09:01 UTC),
        datetime!(2024-01-12 03:00 UTC),
    );
    at(
        "on:[monday, friday]",
        "0815",
        "UTC",
        datetime!(2024-01-10 09:01 UTC),
        datetime!(2024-01-12 08:15 UTC),
    );
    at(
        "daily",
        "0900",
        "America/New_York",
        datetime!(2024-01-10 13:30 UTC),
        datetime!(2024-01-10 14:00 UTC),
    );
    at("hourly", "", "UTC", datetime!(2024-01-10 12:00 UTC), datetime!(2024-01-10 13:00 UTC));
    at("hourly", "", "UTC", datetime!(2024-01-10 23:45 UTC), datetime!(2024-01-11 00:00 UTC));
    at("every:15m", "", "UTC", datetime!(2024-01-10 12:07 UTC), datetime!(2024-01-10 12:15 UTC));
    at(
        "every:15s",
        "",
        "UTC",
        datetime!(2024-01-10 12:00:15 UTC),
        datetime!(2024-01-10 12:00:30 UTC),
    );
}

#[test]
fn calendar_dst_gap_and_overlap() {
    for (after, expected) in [
        (datetime!(2024-03-10 05:00 UTC), datetime!(2024-03-10 07:30 UTC)),
        (datetime!(2026-03-08 05:00 UTC), datetime!(2026-03-08 07:30 UTC)),
    ] {
        assert_eq!(
            next("daily", "0230", "America/New_York", after),
            (expected, Some(Note::DstGapShifted))
        );
    }
    // 01:30 on fall-back day runs once, at the first (EDT) occurrence.
    let (first, note) = next("daily", "0130", "America/New_York", datetime!(2026-11-01 04:00 UTC));
    assert_eq!((first, note), (datetime!(2026-11-01 05:30 UTC), Some(Note::DstOverlapFirst)));
    at("daily", "0130", "America/New_York", first, datetime!(2026-11-02 06:30 UTC));
    // Lord Howe: a 30-minute gap (02:00 → 02:30, so 02:15 +10:30 runs as 02:45 +11:00) and a
    // 30-minute overlap.
    assert_eq!(
        next("daily", "0215", "Australia/Lord_Howe", datetime!(2026-10-03 12:00 UTC)),
        (datetime!(2026-10-03 15:45 UTC), Some(Note::DstGapShifted))
    );
    assert_eq!(
        next("daily", "0145", "Australia/Lord_Howe", datetime!(2026-04-04 12:00 UTC)),
        (datetime!(2026-04-04 14:45 UTC), Some(Note::DstOverlapFirst))
    );
}

#[test]
fn intervals_through_dst_are_real_time_regular() {
    let f = parse_frequency("every:15m").unwrap();
    let fires = next_fires(&f, None, tz("America/New_York"), datetime!(2026-03-08 05:00 UTC), 12);
    for pair in fires.windows(2) {
        assert_eq!(pair[1].at - pair[0].at, time::Duration::minutes(15), "{pair:?}");
    }
    let fires = next_fires(&f, None, tz("America/New_York"), datetime!(2026-11-01 04:50 UTC), 12);
    for pair in fires.windows(2) {
        assert_eq!(pair[1].at - pair[0].at, time::Duration::minutes(15), "{pair:?}");
    }
    assert!(fires.iter().any(|f| f.note == Some(Note::DstOverlapSecond)));
    // Hourly in a half-hour zone is aligned to local, not UTC, hours.
    at(
        "hourly",
        "",
        "Asia/Kolkata",
        datetime!(2026-06-01 06:00 UTC),
        datetime!(2026-06-01 06:30 UTC),
    );
    at(
        "every:6h",
        "",
        "Asia/Kolkata",
        datetime!(2026-06-01 00:00 UTC),
        datetime!(2026-06-01 00:30 UTC),
    );
    // 7 minutes does not divide a day: the sequence restarts at local midnight.
    at("every:7m", "", "UTC", datetime!(2026-06-01 23:55 UTC), datetime!(2026-06-02 00:00 UTC));
}

#[test]
fn apia_skipped_day_fires_once() {
    let f = parse_frequency("daily").unwrap();
    let fires = next_fires(&f, t("0900"), tz("Pacific/Apia"), datetime!(2011-12-28 12:00 UTC), 3);
    let local: Vec<String> = fires.iter().map(|f| f.at.to_string()).collect();
    assert_eq!(fires[1].at - fires[0].at, time::Duration::hours(24), "{local:?}");
    assert_eq!(fires[2].at - fires[1].at, time::Duration::hours(24), "{local:?}");
}

#[test]
fn leap_days_and_month_ends() {
    at("monthly", "0000", "UTC", datetime!(2024-01-31 12:00 UTC), datetime!(2024-02-01 00:00 UTC));
    at("daily", "2359", "UTC", datetime!(2024-02-28 23:59 UTC), datetime!(2024-02-29 23:59 UTC));
    at(
        "on:[thursday]",
        "1200",
        "UTC",
        datetime!(2024-02-28 12:00 UTC),
        datetime!(2024-02-29 12:00 UTC),
    );
}

#[test]
fn manual_and_after_never_fire() {
    for f in ["manual", "after:x"] {
        assert_eq!(
            next_fire(
                &parse_frequency(f).unwrap(),
                None,
                tz("UTC"),
                datetime!(2026-01-01 00:00 UTC)
            ),
            None
        );
    }
}

#[test]
fn calendar_dst_fires_name_the_gap_and_overlap_days_of_a_year() {
    let from = datetime!(2026-01-01 00:00 UTC);
    let until = datetime!(2027-01-01 00:00 UTC);
    let f = parse_frequency("daily").expect("frequency");
    let ny = tz("America/New_York");
    let gap = calendar_dst_fires(&f, t("0230"), ny, from, until);
    assert_eq!(gap.len(), 1);
    assert_eq!(gap[0].at, datetime!(2026-03-08 07:30 UTC));
    assert_eq!(gap[0].note, Some(Note::DstGapShifted));
    let overlap = calendar_dst_fires(&f, t("0130"), ny, from, until);
    assert_eq!(overlap.len(), 1);
    assert_eq!(overlap[0].at, datetime!(2026-11-01 05:30 UTC));
    assert_eq!(overlap[0].note, Some(Note::DstOverlapFirst));
    assert!(calendar_dst_fires(&f, t("0900"), ny, from, until).is_empty());
    // Mondays never hit the Sunday changes; UTC never changes; intervals are by design.
    assert!(
        calendar_dst_fires(&parse_frequency("weekly").expect("f"), t("0230"), ny, from, until)
            .is_empty()
    );
    assert!(calendar_dst_fires(&f, t("0230"), tz("UTC"), from, until).is_empty());
    assert!(
        calendar_dst_fires(&parse_frequency("hourly").expect("f"), None, ny, from, until)
            .is_empty()
    );
}

#[test]
fn local_names_numeric_zones_by_their_offset() {
    let (at, name) = local(tz("Australia/Lord_Howe"), datetime!(2027-01-10 00:00 UTC));
    assert_eq!((at.offset().whole_hours(), at.offset().minutes_past_hour()), (11, 0));
    assert_eq!(name, "+1100");
    assert_eq!(local(tz("Asia/Kathmandu"), datetime!(2027-01-10 00:00 UTC)).1, "+0545");
    assert_eq!(local(tz("America/St_Johns"), datetime!(2027-01-10 00:00 UTC)).1, "NST");
    assert_eq!(local(tz("America/Sao_Paulo"), datetime!(2027-01-10 00:00 UTC)).1, "-0300");
    assert_eq!(local(tz("America/New_York"), datetime!(2027-07-10 00:00 UTC)).1, "EDT");
}
