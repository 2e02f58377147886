//! A time zone with its UTC offset changes in a flat table, for fast offset lookups.
//!
//! time-tz answers one offset query with a recursive search over its spans plus two date
//! conversions; the schedule asks several per fire. A [`Zone`] scans the zone once, a day at a
//! time from 1970 to 2100, bisects each change to the second, and then answers from a sorted
//! table. Outside that range it asks time-tz directly. Zones are built on first use and live for
//! the whole process (there are a few hundred at most).

use std::sync::{Mutex, PoisonError};

use time::OffsetDateTime;
use time_tz::{Offset, TimeZone, Tz};

const DAY: i64 = 86_400;
/// 1970-01-01T00:00:00Z.
const SCAN_START: i64 = 0;
/// 2100-01-01T00:00:00Z.
const SCAN_END: i64 = 4_102_444_800;

/// A time zone and its offset changes between 1970 and 2100.
#[derive(Debug)]
pub struct Zone {
    tz: &'static Tz,
    /// The offset in force at `SCAN_START`.
    first: i64,
    /// `(instant, offset from then on)`, sorted by instant.
    changes: Vec<(i64, i64)>,
}

fn raw_offset(tz: &Tz, unix: i64) -> i64 {
    let at = OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    i64::from(tz.get_offset_utc(&at).to_utc().whole_seconds())
}

impl Zone {
    fn build(tz: &'static Tz) -> Zone {
        let first = raw_offset(tz, SCAN_START);
        let mut changes = Vec::new();
        let mut prev = (SCAN_START, first);
        let mut t = SCAN_START;
        while t < SCAN_END {
            t = (t + DAY).min(SCAN_END);
            let offset = raw_offset(tz, t);
            if offset != prev.1 {
                // The change lies in (prev.0, t]: bisect to the first second with the new offset.
                let (mut lo, mut hi) = (prev.0, t);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if raw_offset(tz, mid) == prev.1 { lo = mid } else { hi = mid }
                }
                changes.push((hi, offset));
            }
            prev = (t, offset);
        }
        Zone { tz, first, changes }
    }

    /// The zone for `tz`, built once per process.
    pub fn of(tz: &'static Tz) -> &'static Zone {
        static ZONES: Mutex<Vec<&'static Zone>> = Mutex::new(Vec::new());
        let mut zones = ZONES.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(zone) = zones.iter().find(|z| std::ptr::eq(z.tz, tz)) {
            return zone;
        }
        let zone: &'static Zone = Box::leak(Box::new(Zone::build(tz)));
        zones.push(zone);
        zone
    }

    /// The underlying time-tz zone.
    pub fn tz(&self) -> &'static Tz {
        self.tz
    }

    /// The IANA name (`Europe/Berlin`).
    pub fn name(&self) -> &'static str {
        self.tz.name()
    }

    /// The UTC offset in seconds at an instant (Unix seconds).
    pub fn offset_at(&self, unix: i64) -> i64 {
        if !(SCAN_START..SCAN_END).contains(&unix) {
            return raw_offset(self.tz, unix);
        }
        let i = self.changes.partition_point(|&(at, _)| at <= unix);
        if i == 0 { self.first } else { self.changes[i - 1].1 }
    }

    /// Whether the offset is the same from `from` up to and including `to`.
    pub fn constant(&self, from: i64, to: i64) -> bool {
        if !(SCAN_START..SCAN_END).contains(&from) || !(SCAN_START..SCAN_END).contains(&to) {
            return raw_offset(self.tz, from) == raw_offset(self.tz, to);
        }
        let i = self.changes.partition_point(|&(at, _)| at <= from);
        self.changes.get(i).is_none_or(|&(at, _)| at > to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_agrees_with_time_tz_everywhere_it_changes() {
        for name in ["America/New_York", "Australia/Lord_Howe", "Pacific/Apia", "Africa/Casablanca"]
        {
            let tz = time_tz::timezones::get_by_name(name).expect("zone");
            let zone = Zone::of(tz);
            assert!(!zone.changes.is_empty(), "{name} has changes");
            for &(at, offset) in &zone.changes {
                for probe in [at - 1, at, at + 1, at + 3600] {
                    assert_eq!(zone.offset_at(probe), raw_offset(tz, probe), "{name} at {probe}");
                }
                assert_eq!(offset, raw_offset(tz, at));
                assert_ne!(zone.offset_at(at - 1), offset, "{name}: a real change at {at}");
            }
            // Outside the table time-tz answers directly.
            assert_eq!(zone.offset_at(-1_000_000), raw_offset(tz, -1_000_000));
            assert_eq!(zone.offset_at(SCAN_END + 10), raw_offset(tz, SCAN_END + 10));
            assert!(std::ptr::eq(Zone::of(tz), zone), "built once");
        }
    }

    #[test]
    fn constant_spans() {
        let zone = Zone::of(time_tz::timezones::get_by_name("America/New_York").expect("zone"));
        // 2026-03-08T07:00:00Z is the spring-forward instant.
        let change = 1_772_953_200;
        assert!(zone.constant(change - 86_400, change - 1));
        assert!(!zone.constant(change - 1, change));
        assert!(zone.constant(change, change + 86_400));
    }
}
