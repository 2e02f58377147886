//! Benchmark: one engine turn with 10,000 jobs (target: under 100 µs). A turn is what the engine
//! thread does when woken at a deadline: take the due fires (here one job, as in a real
//! schedule), record and dispatch its run, and compute the next wakeup. The jobs are hourly in
//! 12 zones with an hour of `schedule_jitter`, so their fires spread over the hour; each run is
//! finished after its turn (that turn is measured too). Run with `cargo bench --bench
//! engine_turn`.

#![allow(clippy::disallowed_methods)] // a benchmark measures wall-clock time

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use husky::config::{EnvSource, validate_husky};
use husky::engine::core::{Core, Effect, Input, Restored};
use husky::engine::{Now, Settings};
use husky::exec::attempt::AttemptResult;
use husky::exec::pool::RunEvent;
use husky::exec::run::Outcome;
use husky::store::RunStatus;
use time::macros::datetime;

const JOBS: usize = 10_000;
const TURNS: usize = 20_000;

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
    let mut yaml = String::from("version: \"1\"\njobs:\n");
    for i in 0..JOBS {
        yaml.push_str(&format!(
            "  job{i}:\n    description: d\n    frequency: hourly\n    timezone: {}\n    command: \"true\"\n",
            zones[i % zones.len()]
        ));
    }
    let env = EnvSource::from_maps(HashMap::new(), HashMap::new());
    let config =
        validate_husky(std::path::Path::new("/tmp/husky.yaml"), &yaml, &env).value.expect("config");
    let settings = Settings { schedule_jitter: time::Duration::hours(1), ..Settings::default() };
    let t0 = datetime!(2027-03-01 00:00 UTC);
    let base = Instant::now();
    let at = |utc: time::OffsetDateTime| Now {
        utc,
        mono: base + Duration::try_from(utc - t0).unwrap_or(Duration::ZERO),
    };
    let setup = Instant::now();
    let mut core = Core::new(Arc::new(config), settings, &Restored::default(), 42);
    core.start(&Restored::default(), at(t0));
    let setup = setup.elapsed();

    let (mut fire_turns, mut finish_turns) = (Vec::with_capacity(TURNS), Vec::new());
    let mut dispatched = 0usize;
    for _ in 0..TURNS {
        let due = core.next_wakeup().expect("a deadline");
        let now = at(due);
        let start = Instant::now();
        let out = core.handle(Input::Tick, now);
        let next = core.next_wakeup();
        fire_turns.push(start.elapsed());
        assert!(next.is_some());
        for e in out.effects {
            if let Effect::Dispatch(a) = e {
                dispatched += 1;
                let result = AttemptResult {
                    outcome: Outcome { exit_code: Some(0), ..Outcome::default() },
                    status: RunStatus::Success,
                    status_reason: None,
                    hc: None,
                    outputs: Vec::new(),
                    warnings: Vec::new(),
                };
                let start = Instant::now();
                let done =
                    RunEvent::Finished { run_id: a.run_id, result: Box::new(result), at: now.utc };
                core.handle(Input::Run(done), now);
                core.next_wakeup();
                finish_turns.push(start.elapsed());
            }
        }
    }
    let stats = |v: &mut Vec<Duration>| {
        v.sort();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        (us(v[v.len() / 2]), us(v[v.len() * 99 / 100]), us(v[v.len() - 1]))
    };
    let (f50, f99, fmax) = stats(&mut fire_turns);
    let (d50, d99, dmax) = stats(&mut finish_turns);
    println!(
        "engine_turn: {JOBS} jobs, {TURNS} turns, {dispatched} runs dispatched: fire+dispatch+next \
         wakeup median {f50:.1} µs, p99 {f99:.1} µs, max {fmax:.1} µs (target < 100 µs); \
         finish turn median {d50:.1} µs, p99 {d99:.1} µs, max {dmax:.1} µs"
    );
    println!(
        "engine_turn: set-up (10000 jobs, first schedule): {:.1} ms",
        setup.as_secs_f64() * 1e3
    );
}
