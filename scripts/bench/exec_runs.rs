//! Benchmark: the executor against the raw spawn floor, with real processes.
//!
//! - Runs per second of `true` through `exec::run::run` on 2 threads (the pool's unit of work:
//!   `/bin/sh -c true` in its own process group with both pipes captured and reaped with
//!   rusage), beside a raw `Command::new("/bin/sh").args(["-c", "true"]).output()` loop on 2
//!   threads in the same run (target: at least 70 % of the floor).
//! - Capture throughput: a job writing 1 GB of 100-byte lines, read into lines and handed to a
//!   channel consumer as the pool does (target: at least 200 MB/s, SQLite excluded).
//!
//! Run with `cargo bench --bench exec_runs` (unix).

#![allow(clippy::disallowed_methods)] // a benchmark measures wall-clock time

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use husky::clock::SystemClock;
use husky::exec::Limits;
use husky::exec::run::{ReadLine, Spec, run};

const RUNS: usize = 2000;
const THREADS: usize = 2;

fn spec(command: &str, run_id: i64) -> Spec {
    Spec {
        shell: vec!["/bin/sh".into(), "-c".into()],
        command: command.into(),
        cwd: std::env::temp_dir(),
        env: vec![("HUSKY_RUN_ID".into(), run_id.to_string())],
        timeout: Duration::from_secs(600),
        kill_grace: Duration::from_secs(10),
        drain: Duration::from_millis(500),
        limits: Limits::default(),
        run_id,
    }
}

fn parallel(work: impl Fn(usize) + Send + Sync + 'static) -> f64 {
    let work = Arc::new(work);
    let start = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let work = work.clone();
            std::thread::spawn(move || {
                for i in 0..RUNS / THREADS {
                    work(t * RUNS + i);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    RUNS as f64 / start.elapsed().as_secs_f64()
}

/// `true` through `exec::pool` with 2 workers and a store writer on a temporary database.
fn through_pool() -> f64 {
    use husky::config::{DaemonConfig, EnvSource, validate_husky};
    use husky::exec::attempt::{Attempt, Settings};
    use husky::exec::pool::{RunEvent, WorkOrder, spawn};
    use husky::store::Trigger;
    let dir = std::env::temp_dir().join(format!("husky-bench-exec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let yaml = "version: \"1\"\njobs:\n  t:\n    description: d\n    frequency: manual\n    command: \"true\"\n";
    let env = EnvSource::from_maps(Default::default(), Default::default());
    let config = validate_husky(&dir.join("husky.yaml"), yaml, &env).value.expect("config");
    let job = Arc::new(config.jobs[0].clone());
    let conn = husky::store::open_writer(&dir.join("husky.db"), husky::store::Pragmas::default())
        .expect("db");
    let (store, _events, _writer) =
        husky::store::writer::spawn(conn, Default::default(), Arc::new(SystemClock))
            .expect("writer");
    let settings = Arc::new(Settings::new(&DaemonConfig::default(), &dir));
    let (orders, order_rx) = crossbeam_channel::unbounded();
    let (event_tx, events) = crossbeam_channel::unbounded();
    spawn(THREADS, settings, order_rx, event_tx, store, Arc::new(SystemClock)).expect("pool");
    let start = Instant::now();
    let mut cancels = Vec::with_capacity(RUNS);
    for i in 0..RUNS {
        let (cancel_tx, cancel) = crossbeam_channel::bounded(1);
        cancels.push(cancel_tx);
        let attempt = Attempt {
            run_id: i as i64 + 1,
            attempt: 1,
            job: job.clone(),
            cycle_id: "bench".into(),
            trigger: Trigger::Manual,
            env: None,
            command: None,
        };
        orders.send(WorkOrder { attempt, cancel, ready: None }).expect("order");
    }
    let mut finished = 0;
    while finished < RUNS {
        if let RunEvent::Finished { result, .. } = events.recv().expect("event") {
            assert_eq!(result.outcome.exit_code, Some(0));
            finished += 1;
        }
    }
    let rate = RUNS as f64 / start.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    rate
}

fn main() {
    // Spawn rates drift with the machine's load: the three measurements are interleaved over
    // five rounds and the median of each is reported.
    let (mut floors, mut direct, mut pooled) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        floors.push(parallel(|_| {
            let out = Command::new("/bin/sh").args(["-c", "true"]).output().expect("spawn");
            assert!(out.status.success());
        }));
        direct.push(parallel(|i| {
            let (_keep, cancel) = crossbeam_channel::bounded::<()>(1);
            let mut sink = |_: ReadLine| {};
            let o = run(&spec("true", i as i64 + 1), &SystemClock, &cancel, |_| {}, &mut sink);
            assert_eq!(o.exit_code, Some(0));
        }));
        pooled.push(through_pool());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (floor, husky, pool) = (median(&mut floors), median(&mut direct), median(&mut pooled));
    println!(
        "exec_runs: `true`, {RUNS} runs on {THREADS} threads, medians of 5 interleaved rounds: \
         raw spawn+wait floor {floor:.0} runs/s; exec::run {husky:.0} runs/s ({:.0} %); worker \
         pool of 2 (RunEvents to a consumer, log batches to a real store writer) {pool:.0} runs/s \
         ({:.0} % of the floor; target >= 70 %)",
        husky / floor * 100.0,
        pool / floor * 100.0
    );

    // 1 GB of 100-byte lines (99 characters + newline).
    let (tx, rx) = crossbeam_channel::bounded::<Vec<ReadLine>>(256);
    let consumer = std::thread::spawn(move || {
        let (mut lines, mut bytes) = (0usize, 0usize);
        for batch in rx {
            lines += batch.len();
            bytes += batch.iter().map(|l| l.piece.text.len() + 1).sum::<usize>();
        }
        (lines, bytes)
    });
    let mut batch = Vec::with_capacity(512);
    let mut sink = |l: ReadLine| {
        batch.push(l);
        if batch.len() == 512 {
            tx.send(std::mem::replace(&mut batch, Vec::with_capacity(512))).expect("send");
        }
    };
    let (_keep, cancel) = crossbeam_channel::bounded::<()>(1);
    let command = "yes 012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678 | head -n 10000000";
    let start = Instant::now();
    let o = run(&spec(command, 1), &SystemClock, &cancel, |_| {}, &mut sink);
    if !batch.is_empty() {
        tx.send(batch).expect("send");
    }
    drop(tx);
    let (lines, bytes) = consumer.join().expect("consumer");
    let took = start.elapsed().as_secs_f64();
    assert_eq!(o.exit_code, Some(0));
    assert_eq!((lines, bytes), (10_000_000, 1_000_000_000));
    println!(
        "exec_runs: capture of 1 GB (10,000,000 lines of 100 bytes) into the log channel: \
         {:.0} MB/s, {:.0} lines/s (target >= 200 MB/s)",
        bytes as f64 / took / 1e6,
        lines as f64 / took
    );
}
