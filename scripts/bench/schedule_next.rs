//! Benchmark: the next fire of 10,000 jobs of mixed frequencies and zones (target: under 10 ms
//! in total). Run with `cargo bench --bench schedule_next`.

#![allow(clippy::disallowed_methods)] // a benchmark measures wall-clock time

use std::time::{Duration, Instant};

use husky::config::{TimeOfDay, parse_frequency};
use husky::schedule::{Zone, next_fire};

fn main() {
    let zones = [
        "UTC",
        "America/New_York",
        "Europe/Berlin",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "America/St_Johns",
        "Australia/Lord_Howe",
        "America/Sao_Paulo",
        "Africa/Casablanca",
        "Pacific/Apia",
        "Asia/Tokyo",
        "Australia/Sydney",
    ];
    let freqs = [
        "daily",
        "weekly",
        "monthly",
        "weekdays",
        "weekends",
        "on:[tuesday, friday]",
        "hourly",
        "every:15m",
        "every:7m",
        "every:6h",
        "every:30s",
    ];
    let setup = Instant::now();
    let jobs: Vec<_> = (0..10_000usize)
        .map(|i| {
            let f = parse_frequency(freqs[i % freqs.len()]).expect("frequency");
            let tz =
                Zone::of(time_tz::timezones::get_by_name(zones[i % zones.len()]).expect("zone"));
            let t = TimeOfDay { hour: (i % 24) as u8, minute: ((i * 7) % 60) as u8 };
            (f, t, tz)
        })
        .collect();
    let setup = setup.elapsed();
    let from = time::macros::datetime!(2026-03-08 06:59:59 UTC);
    let mut times: Vec<Duration> = (0..20)
        .map(|_| {
            let start = Instant::now();
            let fired =
                jobs.iter().filter_map(|(f, t, tz)| next_fire(f, Some(*t), tz, from)).count();
            let took = start.elapsed();
            assert_eq!(fired, jobs.len());
            took
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "schedule_next: 10000 jobs ({} zones, {} frequencies), 20 iterations: min {:.2} ms, median {:.2} ms, max {:.2} ms (target < 10 ms)",
        zones.len(),
        freqs.len(),
        ms(times[0]),
        ms(times[10]),
        ms(times[19])
    );
    println!(
        "schedule_next: set-up (parse 10000 frequencies, build {} zone offset tables once): {:.1} ms",
        zones.len(),
        ms(setup)
    );
}
