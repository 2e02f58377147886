//! Sizes in bytes, written as a whole number followed by a unit (`512KiB`, `10 MiB`, `1GB`).
//!
//! Accepted: one or more ASCII digits, an optional single space, then one of the units `B`,
//! `KB`, `MB`, `GB` (powers of 1000) or `KiB`, `MiB`, `GiB` (powers of 1024). Units are
//! case-sensitive; fractions, signs and other spacing are rejected. The value must fit in a signed
//! 64-bit integer ([`MAX_SIZE`], about 9.2 EB), the range of YAML and SQLite integers.

use std::fmt;

/// The largest size accepted: `i64::MAX` bytes.
pub const MAX_SIZE: u64 = i64::MAX as u64;

/// The units, as written, with their number of bytes; [`format_size`] tries them in this order.
const UNITS: &[(&str, u64)] = &[
    ("GiB", 1 << 30),
    ("GB", 1_000_000_000),
    ("MiB", 1 << 20),
    ("MB", 1_000_000),
    ("KiB", 1 << 10),
    ("KB", 1_000),
    ("B", 1),
];

/// The accepted units, for messages.
pub const SIZE_UNITS: &str = "B, KB, MB, GB (powers of 1000) and KiB, MiB, GiB (powers of 1024)";

/// Why a size string was rejected; `Display` is a lowercase message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SizeError {
    /// The string was empty (or only spaces).
    Empty,
    /// A number was not followed by a unit (`"1024"`).
    MissingUnit { number: String },
    /// A unit that is not one of the accepted ones (`"10mb"`, `"1TB"`, `"5 MiBs"`).
    UnknownUnit { unit: String },
    /// A number with a fraction (`"1.5GiB"`); sizes are whole numbers.
    Fraction,
    /// A sign before the number (`"-5MB"`).
    Negative,
    /// Something that is not a number where one was expected (`"MiB"`, `"ten MB"`).
    Invalid,
    /// The value is larger than [`MAX_SIZE`].
    Overflow,
}

impl fmt::Display for SizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SizeError::Empty => f.write_str("empty size"),
            SizeError::MissingUnit { number } => write!(f, "missing unit after {number:?}"),
            SizeError::UnknownUnit { unit } => write!(f, "unknown unit {unit:?}"),
            SizeError::Fraction => f.write_str("sizes are whole numbers"),
            SizeError::Negative => f.write_str("sizes cannot be negative"),
            SizeError::Invalid => f.write_str("not a size"),
            SizeError::Overflow => write!(f, "size out of range (at most {MAX_SIZE} bytes)"),
        }
    }
}

/// Parses a size with a unit into bytes.
pub fn parse_size(input: &str) -> Result<u64, SizeError> {
    if input.trim().is_empty() {
        return Err(SizeError::Empty);
    }
    let digits_len = input.bytes().take_while(u8::is_ascii_digit).count();
    let (digits, rest) = input.split_at(digits_len);
    if digits.is_empty() {
        let after_sign = input.strip_prefix(['-', '+']);
        return Err(match after_sign {
            Some(r) if input.starts_with('-') && r.starts_with(|c: char| c.is_ascii_digit()) => {
                SizeError::Negative
            }
            _ => SizeError::Invalid,
        });
    }
    if rest.starts_with(['.', ',']) && rest[1..].starts_with(|c: char| c.is_ascii_digit()) {
        return Err(SizeError::Fraction);
    }
    let unit = rest.strip_prefix(' ').unwrap_or(rest);
    if unit.is_empty() {
        return Err(SizeError::MissingUnit { number: digits.to_owned() });
    }
    let scale = UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, scale)| *scale)
        .ok_or_else(|| SizeError::UnknownUnit { unit: unit.to_owned() })?;
    // Only digits: parsing fails only when the number does not fit.
    let number: u64 = digits.parse().map_err(|_| SizeError::Overflow)?;
    number.checked_mul(scale).filter(|v| *v <= MAX_SIZE).ok_or(SizeError::Overflow)
}

/// The accepted unit whose spelling differs from `unit` only in letter case (`mib` → `MiB`).
pub fn unit_ignoring_case(unit: &str) -> Option<&'static str> {
    UNITS
        .iter()
        .map(|(name, _)| *name)
        .find(|name| *name != unit && name.eq_ignore_ascii_case(unit))
}

/// Renders a size with the largest unit that divides it exactly (`10 MiB`, `2 GB`, `1 KB`), else
/// in bytes (`1234 B`, `0 B`); [`parse_size`] reads every result back.
pub fn format_size(bytes: u64) -> String {
    if bytes == 0 {
        return "0 B".into();
    }
    let (name, scale) = UNITS
        .iter()
        .copied()
        .filter(|(_, scale)| bytes.is_multiple_of(*scale))
        .min_by_key(|(_, scale)| bytes / scale)
        .unwrap_or(("B", 1));
    format!("{} {name}", bytes / scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn ok(s: &str, expected: u64) {
        assert_eq!(parse_size(s), Ok(expected), "parsing {s:?}");
    }

    #[track_caller]
    fn err(s: &str, expected: SizeError) {
        assert_eq!(parse_size(s), Err(expected), "parsing {s:?}");
    }

    #[test]
    fn every_unit_with_and_without_a_space() {
        ok("0B", 0);
        ok("0 GiB", 0);
        ok("1B", 1);
        ok("512 B", 512);
        ok("1KB", 1_000);
        ok("1MB", 1_000_000);
        ok("1GB", 1_000_000_000);
        ok("512KiB", 512 * 1024);
        ok("10 MiB", 10_485_760);
        ok("1 GiB", 1_073_741_824);
        ok("007MB", 7_000_000);
    }

    #[test]
    fn rejections() {
        err("", SizeError::Empty);
        err("  ", SizeError::Empty);
        err("1024", SizeError::MissingUnit { number: "1024".into() });
        err("1024 ", SizeError::MissingUnit { number: "1024".into() });
        err("10mb", SizeError::UnknownUnit { unit: "mb".into() });
        err("10 mib", SizeError::UnknownUnit { unit: "mib".into() });
        err("10Mb", SizeError::UnknownUnit { unit: "Mb".into() });
        err("1TB", SizeError::UnknownUnit { unit: "TB".into() });
        err("1TiB", SizeError::UnknownUnit { unit: "TiB".into() });
        err("5 MiBs", SizeError::UnknownUnit { unit: "MiBs".into() });
        err("10  MiB", SizeError::UnknownUnit { unit: " MiB".into() });
        err("10\tMiB", SizeError::UnknownUnit { unit: "\tMiB".into() });
        err("10 MiB ", SizeError::UnknownUnit { unit: "MiB ".into() });
        err("1.5GiB", SizeError::Fraction);
        err("1,5 MB", SizeError::Fraction);
        err("-5MB", SizeError::Negative);
        err("-1", SizeError::Negative);
        err("+5MB", SizeError::Invalid);
        err("MiB", SizeError::Invalid);
        err(" 10MiB", SizeError::Invalid);
        err("ten MB", SizeError::Invalid);
        err("１MB", SizeError::Invalid);
    }

    #[test]
    fn overflow_is_an_error() {
        ok("9223372036854775807B", MAX_SIZE);
        err("9223372036854775808B", SizeError::Overflow);
        err("18446744073709551615 B", SizeError::Overflow);
        err("99999999999999999999999B", SizeError::Overflow);
        ok("8589934591 GiB", 8_589_934_591 << 30);
        err("8589934592 GiB", SizeError::Overflow);
        err("9999999999999 GB", SizeError::Overflow);
        err("18446744073709551615 KiB", SizeError::Overflow);
    }

    #[test]
    fn case_hint() {
        assert_eq!(unit_ignoring_case("mb"), Some("MB"));
        assert_eq!(unit_ignoring_case("mib"), Some("MiB"));
        assert_eq!(unit_ignoring_case("GIB"), Some("GiB"));
        assert_eq!(unit_ignoring_case("TB"), None);
        assert_eq!(unit_ignoring_case("MiB"), None, "not a case problem");
        assert_eq!(unit_ignoring_case(" MiB"), None, "not a case problem");
    }

    #[test]
    fn formats_with_the_largest_exact_unit() {
        for (n, s) in [
            (0, "0 B"),
            (1, "1 B"),
            (1_023, "1023 B"),
            (1_000, "1 KB"),
            (1_024, "1 KiB"),
            (1_536, "1536 B"),
            (512 * 1024, "512 KiB"),
            (10_485_760, "10 MiB"),
            (1_073_741_824, "1 GiB"),
            (2_000_000_000, "2 GB"),
            (1_024_000, "1000 KiB"),
            (1_234_567, "1234567 B"),
            (MAX_SIZE, "9223372036854775807 B"),
        ] {
            assert_eq!(format_size(n), s);
            assert_eq!(parse_size(s), Ok(n), "{s} round-trips");
        }
    }
}
