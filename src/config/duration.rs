//! Durations in Go's `time.ParseDuration` syntax, extended with `d` (24 h) and `w` (7 d) units.
//!
//! Accepted: an optional sign, then one or more `<number><unit>` groups with no spaces, where the
//! number may have a fraction (`1.5h`, `.5s`) and the unit is one of `ns us µs μs ms s m h d w`.
//! The bare value `0` is the only number without a unit. Units are case-sensitive, as in Go.

use std::fmt;

/// Why a duration string was rejected; `Display` is a lowercase message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationError {
    /// The string was empty (or only spaces).
    Empty,
    /// A number was not followed by a unit (`"10"`, `"1h30"`).
    MissingUnit { number: String },
    /// A unit that Go does not know (`"1H"`, `"3y"`).
    UnknownUnit { unit: String },
    /// Something that is not a number where one was expected.
    Invalid,
    /// The value does not fit in 64-bit nanoseconds (about 292 years).
    Overflow,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationError::Empty => f.write_str("empty duration"),
            DurationError::MissingUnit { number } => write!(f, "missing unit after {number:?}"),
            DurationError::UnknownUnit { unit } => write!(f, "unknown unit {unit:?}"),
            DurationError::Invalid => f.write_str("not a duration"),
            DurationError::Overflow => f.write_str("duration out of range"),
        }
    }
}

const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
    ("w", 604_800_000_000_000),
];

/// Parses a Go-style duration (plus `d`/`w`). Negative values are allowed by the syntax; callers
/// decide whether a field accepts them.
pub fn parse_duration(input: &str) -> Result<time::Duration, DurationError> {
    let s = input;
    if s.trim().is_empty() {
        return Err(DurationError::Empty);
    }
    let (negative, mut rest) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(time::Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(DurationError::Invalid);
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after_int) = rest.split_at(int_len);
        let (frac_part, after_num) = match after_int.strip_prefix('.') {
            Some(f) => {
                let n = f.bytes().take_while(u8::is_ascii_digit).count();
                (&f[..n], &f[n..])
            }
            None => ("", after_int),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(DurationError::Invalid);
        }
        let unit_len = after_num
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after_num.len(), |(i, _)| i);
        let (unit, next) = after_num.split_at(unit_len);
        if unit.is_empty() {
            let number = &rest[..rest.len() - after_num.len()];
            return Err(DurationError::MissingUnit { number: number.to_owned() });
        }
        let scale = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, scale)| *scale)
            .ok_or_else(|| DurationError::UnknownUnit { unit: unit.to_owned() })?;
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| DurationError::Overflow)?
        };
        let mut value = int.checked_mul(scale).ok_or(DurationError::Overflow)?;
        // Fractions: take digits until they no longer change the nanosecond result.
        let mut place = scale;
        for digit in frac_part.bytes().take(30) {
            place /= 10;
            if place == 0 {
                break;
            }
            value += u128::from(digit - b'0') * place;
        }
        total = total.checked_add(value).ok_or(DurationError::Overflow)?;
        rest = next;
    }
    let nanos = i64::try_from(total).map_err(|_| DurationError::Overflow)?;
    let d = time::Duration::nanoseconds(nanos);
    Ok(if negative { -d } else { d })
}

/// Renders a duration compactly in Go syntax, leaving out zero units (`1h30m`, `90s` → `1m30s`,
/// `1.5s`, `300ms`, `48h`, `0s`), so that Go and husky both parse it back.
pub fn format_duration(d: time::Duration) -> String {
    let nanos = d.whole_nanoseconds();
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    if n < 1_000 {
        return format!("{sign}{n}ns");
    }
    if n < 1_000_000 {
        return format!("{sign}{}µs", trim_fraction(n, 1_000));
    }
    if n < 1_000_000_000 {
        return format!("{sign}{}ms", trim_fraction(n, 1_000_000));
    }
    let hours = n / 3_600_000_000_000;
    let minutes = (n / 60_000_000_000) % 60;
    let rest = n % 60_000_000_000;
    let mut out = String::from(sign);
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    if rest > 0 {
        out.push_str(&format!("{}s", trim_fraction(rest, 1_000_000_000)));
    }
    out
}

fn trim_fraction(n: u128, unit: u128) -> String {
    let whole = n / unit;
    let frac = n % unit;
    if frac == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration as D;

    #[track_caller]
    fn ok(s: &str, expected: D) {
        assert_eq!(parse_duration(s), Ok(expected), "parsing {s:?}");
    }

    #[track_caller]
    fn err(s: &str, expected: DurationError) {
        assert_eq!(parse_duration(s), Err(expected), "parsing {s:?}");
    }

    #[test]
    fn go_syntax_examples() {
        ok("90s", D::seconds(90));
        ok("1h30m", D::minutes(90));
        ok("1.5h", D::minutes(90));
        ok("300ms", D::milliseconds(300));
        ok("-5m", D::minutes(-5));
        ok("+5m", D::minutes(5));
        ok("0", D::ZERO);
        ok("-0", D::ZERO);
        ok("0s", D::ZERO);
        ok("1h2m3s4ms5us6ns", D::nanoseconds(3_723_004_005_006));
        ok("1µs", D::microseconds(1));
        ok("1μs", D::microseconds(1));
        ok(".5s", D::milliseconds(500));
        ok("1.s", D::seconds(1));
        ok("1.0000000001s", D::seconds(1));
        ok("2562047h", D::hours(2_562_047));
        ok("23h59m", D::minutes(23 * 60 + 59));
    }

    #[test]
    fn day_and_week_extension() {
        ok("30d", D::days(30));
        ok("2w", D::weeks(2));
        ok("1w2d3h", D::hours(7 * 24 + 48 + 3));
        ok("1.5d", D::hours(36));
    }

    #[test]
    fn rejections() {
        err("", DurationError::Empty);
        err("   ", DurationError::Empty);
        err("10", DurationError::MissingUnit { number: "10".into() });
        err("1h30", DurationError::MissingUnit { number: "30".into() });
        err("1H", DurationError::UnknownUnit { unit: "H".into() });
        err("3y", DurationError::UnknownUnit { unit: "y".into() });
        err("1 h", DurationError::UnknownUnit { unit: " h".into() });
        err("h", DurationError::Invalid);
        err("-", DurationError::Invalid);
        err(".s", DurationError::Invalid);
        err("notaduration", DurationError::Invalid);
        err("99999999999999999999h", DurationError::Overflow);
        err("3000000h", DurationError::Overflow);
    }

    #[test]
    fn formats_like_go() {
        let cases = [
            (D::ZERO, "0s"),
            (D::seconds(90), "1m30s"),
            (D::minutes(90), "1h30m"),
            (D::milliseconds(1500), "1.5s"),
            (D::milliseconds(300), "300ms"),
            (D::microseconds(2), "2µs"),
            (D::nanoseconds(7), "7ns"),
            (D::hours(1) + D::seconds(1), "1h1s"),
            (D::minutes(30), "30m"),
            (D::days(2), "48h"),
            (D::minutes(-5), "-5m"),
        ];
        for (d, s) in cases {
            assert_eq!(format_duration(d), s);
            assert_eq!(parse_duration(s), Ok(d), "{s} round-trips");
        }
    }
}
