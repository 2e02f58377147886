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

fn main() {
    let floor = parallel(|_| {
        let out = Command::new("/bin/sh").args(["-c", "true"]).output().expect("spawn");
        assert!(out.status.success());
    });
    let husky = parallel(|i| {
        let (_keep, cancel) = crossbeam_channel::bounded::<()>(1);
        let mut sink = |_: ReadLine| {};
        let o = run(&spec("true", i as i64 + 1), &SystemClock, &cancel, |_| {}, &mut sink);
        assert_eq!(o.exit_code, Some(0));
    });
    println!(
        "exec_runs: `true` on {THREADS} threads, {RUNS} runs: executor {husky:.0} runs/s, raw \
         spawn+wait floor {floor:.0} runs/s ({:.0} % of the floor; target >= 70 %)",
        husky / floor * 100.0
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
