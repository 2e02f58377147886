//! Benchmark: load and validate a generated 1,000-job husky.yaml (target: under 50 ms).
//!
//! Run with `cargo bench --bench config_load`; prints min / median / max over the iterations.
//! The file is written to a temporary directory and read from disk on every iteration, as
//! `husky validate` does.

#![allow(clippy::disallowed_methods)] // a benchmark measures wall-clock time

use std::fmt::Write as _;
use std::time::{Duration, Instant};

fn generate(jobs: usize) -> String {
    let freqs = [
        "daily",
        "weekly",
        "monthly",
        "weekdays",
        "weekends",
        "hourly",
        "every:15m",
        "manual",
        "\"on:[tuesday, friday]\"",
    ];
    let mut y = String::from(
        "version: \"1\"\ndefaults:\n  timeout: 30m\n  retries: 2\n  retry_delay: exponential\n  timezone: Europe/Berlin\n\
         integrations:\n  slack:\n    webhook_url: \"${env:SLACK_URL}\"\n  pagerduty:\n    routing_key: \"${env:PD_KEY}\"\njobs:\n",
    );
    for i in 0..jobs {
        let f = freqs[i % freqs.len()];
        let _ = writeln!(y, "  job_{i:04}:\n    description: \"Generated job number {i}\"");
        if i % 10 == 9 {
            let _ = writeln!(y, "    frequency: \"after:job_{:04}\"", i - 1);
        } else {
            let _ = writeln!(y, "    frequency: {f}");
        }
        if matches!(f, "daily" | "monthly") {
            let _ = writeln!(y, "    time: \"{:02}{:02}\"", i % 24, (i * 7) % 60);
        }
        let _ = writeln!(y, "    command: \"./scripts/task.sh --id {i} && echo done-{i}\"");
        if i % 3 == 0 && i > 0 {
            let _ = writeln!(y, "    depends_on: [job_{:04}]", i - 3);
        }
        let _ = writeln!(
            y,
            "    timeout: 1h\n    sla: 20m\n    tags: [team-{}, tier-{}]",
            i % 7,
            i % 3
        );
        let _ =
            writeln!(y, "    env:\n      JOB_INDEX: \"{i}\"\n      API_KEY: \"${{env:API_KEY}}\"");
        let _ = writeln!(
            y,
            "    notify:\n      on_failure: \"pagerduty:p{}\"\n      on_success: {{channel: \"slack:#ops\", only_after_failure: true}}",
            i % 4 + 1
        );
        let _ = writeln!(
            y,
            "    output:\n      result: last_line\n      count: 'regex:processed (\\d+) records'"
        );
    }
    y
}

fn main() {
    let jobs = 1000;
    let text = generate(jobs);
    let dir = std::env::temp_dir().join(format!("husky-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("husky.yaml");
    std::fs::write(&path, &text).expect("write husky.yaml");
    let check = husky::config::load_husky(&path);
    let errors: Vec<String> = check.errors().map(ToString::to_string).collect();
    assert!(errors.is_empty(), "generated file is invalid:\n{}", errors.join("\n"));
    assert_eq!(check.value.as_ref().map(|c| c.jobs.len()), Some(jobs));

    let iterations = 30;
    let mut times: Vec<Duration> = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            let loaded = husky::config::load_husky(&path);
            let took = start.elapsed();
            assert!(loaded.value.is_some());
            took
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "config_load: {jobs} jobs, {} KiB, {iterations} iterations: min {:.2} ms, median {:.2} ms, max {:.2} ms (target < 50 ms)",
        text.len() / 1024,
        ms(times[0]),
        ms(times[iterations / 2]),
        ms(times[iterations - 1])
    );
    let _ = std::fs::remove_dir_all(&dir);
}
