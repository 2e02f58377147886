//! The schedule against an independent oracle: `tests/fixtures/schedule_oracle.json`, written by
//! `scripts/gen_schedule_oracle.py` with Python's zoneinfo and the PyPI tzdata release that
//! time-tz embeds. Every case must agree exactly: instants and DST notes.

use husky::config::{parse_frequency, parse_time};
use husky::schedule::{Zone, next_fires};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Transitions that time-tz 3.0.0-rc.6.0.0 places differently from zic/zoneinfo for the same
/// IANA release (2026e): `(zone, correct instant, time-tz's instant)`, Unix seconds. All are
/// zone-line changes with a UTC (`u`) "until" time, all before 2016, so no future fire moves.
/// Found by comparing every zone's offset changes 2000–2038 between the two (see the issue
/// note). Cases within two days of one of them are expected to differ; the test checks that
/// they still do, so a fixed time-tz shows up here.
const TIME_TZ_DEFECTS: &[(&str, i64, i64)] = &[
    ("Europe/Istanbul", 1_301_274_000, 1_301_266_800),
    ("Europe/Istanbul", 1_396_227_600, 1_396_220_400),
    ("Europe/Istanbul", 1_446_944_400, 1_446_933_600),
    ("Antarctica/Davis", 1_268_251_200, 1_268_233_200),
    ("Antarctica/Davis", 1_329_854_400, 1_329_836_400),
    ("Antarctica/Casey", 1_329_843_600, 1_329_804_000),
    ("Asia/Almaty", 1_099_166_400, 1_099_162_800),
    ("Asia/Aqtobe", 1_099_170_000, 1_099_166_400),
];

fn near_defect(zone: &str, instants: &[OffsetDateTime]) -> bool {
    const MARGIN: i64 = 2 * 86_400;
    TIME_TZ_DEFECTS.iter().any(|&(z, a, b)| {
        z == zone
            && instants.iter().any(|t| {
                let t = t.unix_timestamp();
                t >= a.min(b) - MARGIN && t <= a.max(b) + MARGIN
            })
    })
}

#[test]
fn time_tz_defects_are_real() {
    use time_tz::{Offset, TimeZone};
    for &(zone, correct, time_tz_at) in TIME_TZ_DEFECTS {
        let tz = time_tz::timezones::get_by_name(zone).expect("zone");
        let offset = |u: i64| {
            let at = OffsetDateTime::from_unix_timestamp(u).expect("instant");
            tz.get_offset_utc(&at).to_utc().whole_seconds()
        };
        // time-tz changes at its instant; zoneinfo changes later, at the correct one.
        let (first, last) = (correct.min(time_tz_at), correct.max(time_tz_at));
        assert_ne!(offset(first - 1), offset(last), "{zone}: time-tz now agrees at {correct}");
        if time_tz_at < correct {
            assert_eq!(offset(time_tz_at), offset(correct), "{zone} at {time_tz_at}");
        } else {
            assert_eq!(offset(correct), offset(time_tz_at - 1), "{zone} at {correct}");
        }
    }
}

fn instant(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn every_oracle_case_agrees() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/schedule_oracle.json");
    let text = std::fs::read_to_string(path).expect("read the oracle");
    let doc: Value = serde_json::from_str(&text).expect("oracle JSON");
    assert_eq!(doc["tzdata"], "2026.5", "the oracle must use the IANA release time-tz embeds");
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.len() >= 5000, "at least 5,000 cases, found {}", cases.len());
    let mut zones = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    let (mut defect_cases, mut defect_differs) = (0, 0);
    for case in cases {
        let zone_name = case["zone"].as_str().expect("zone");
        zones.insert(zone_name);
        let tz = time_tz::timezones::get_by_name(zone_name)
            .unwrap_or_else(|| panic!("time-tz lacks zone {zone_name}"));
        let freq = parse_frequency(case["frequency"].as_str().expect("frequency"))
            .unwrap_or_else(|e| panic!("{case}: {e:?}"));
        let time = case["time"].as_str().map(|t| parse_time(t).expect("time"));
        let expected: Vec<(OffsetDateTime, Option<&str>)> = case["fires"]
            .as_array()
            .expect("fires")
            .iter()
            .map(|f| (instant(f[0].as_str().expect("at")), f[1].as_str()))
            .collect();
        let from = instant(case["from"].as_str().expect("from"));
        let got: Vec<(OffsetDateTime, Option<&str>)> =
            next_fires(&freq, time, Zone::of(tz), from, expected.len().max(1))
                .into_iter()
                .map(|f| (f.at, f.note.map(|n| n.as_str())))
                .take(expected.len().max(1))
                .collect();
        let agrees = got.iter().copied().take(expected.len()).eq(expected.iter().copied())
            && (!expected.is_empty() || got.is_empty());
        let mut instants = vec![from];
        instants.extend(expected.iter().map(|e| e.0));
        if near_defect(zone_name, &instants) {
            defect_cases += 1;
            defect_differs += usize::from(!agrees);
        } else if !agrees {
            failures.push(format!("{case}\n    husky: {got:?}"));
        }
    }
    eprintln!(
        "{} cases, {} zones; {defect_cases} near time-tz's known defects ({defect_differs} differ)",
        cases.len(),
        zones.len()
    );
    assert!(
        defect_differs > 0,
        "none of the {defect_cases} cases near time-tz's known defects differ any more: \
         drop TIME_TZ_DEFECTS"
    );
    assert!(zones.len() >= 25, "at least 25 zones, found {}", zones.len());
    assert!(
        failures.is_empty(),
        "{} of {} oracle cases disagree; the first ones:\n{}",
        failures.len(),
        cases.len(),
        failures.iter().take(15).cloned().collect::<Vec<_>>().join("\n")
    );
}
