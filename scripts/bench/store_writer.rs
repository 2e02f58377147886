//! Benchmark: the store writer thread against the raw SQLite floor, on real files.
//!
//! - Log ingest: 4 producer threads send 1,000,000 lines (80 bytes, batches of 256) through the
//!   writer (target ≥ 200,000 lines/s); the floor is plain batched INSERTs of the same rows on
//!   one connection in transactions of 4,096.
//! - Runs: create + finish pairs, each command acknowledged after commit, from 4 threads, with
//!   8 pairs in flight per thread as the engine works (it never waits on the store) and with
//!   one at a time (target ≥ 5,000 pairs/s); the floor is the same INSERT + UPDATE pairs, one
//!   transaction each.
//!
//! Run with `cargo bench --bench store_writer`.

#![allow(clippy::disallowed_methods)] // a benchmark measures wall-clock time

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use husky::clock::SystemClock;
use husky::store::writer::{LogBatch, StoreCmd, WriterOptions, spawn};
use husky::store::{
    LogLine, NewRun, Pragmas, RunPatch, RunStatus, Stream, Trigger, open_writer, ts,
};
use time::OffsetDateTime;

const LINES: usize = 1_000_000;
const PRODUCERS: usize = 4;
const BATCH: usize = 256;
const PAIRS: usize = 20_000;

fn fresh(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

fn run(job: &str, now: OffsetDateTime) -> NewRun {
    NewRun {
        id: None,
        status_reason: None,
        finished_at: None,
        job_name: job.into(),
        status: RunStatus::Running,
        attempt: 1,
        trigger: Trigger::Schedule,
        triggered_by: "scheduler".into(),
        reason: None,
        cycle_id: None,
        created_at: now,
        started_at: Some(now),
    }
}

fn line(i: usize) -> String {
    format!("{i:>10} the quick brown fox jumps over the lazy dog, line of a busy job....")
}

fn raw_ingest(path: &Path) -> f64 {
    let mut conn = open_writer(path, Pragmas::default()).expect("open");
    conn.execute(
        "INSERT INTO job_runs (job_name, trigger, created_at) VALUES ('raw', 'manual', 'x')",
        [],
    )
    .expect("run");
    let stamp = ts(OffsetDateTime::UNIX_EPOCH);
    let start = Instant::now();
    let mut i = 0;
    while i < LINES {
        let tx = conn.transaction().expect("tx");
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO run_logs (run_id, seq, stream, line, ts) VALUES (1, ?1, 'stdout', ?2, ?3)",
                )
                .expect("prepare");
            for _ in 0..4096.min(LINES - i) {
                i += 1;
                stmt.execute(rusqlite::params![i as i64, line(i), stamp]).expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    LINES as f64 / start.elapsed().as_secs_f64()
}

fn writer_ingest(path: &Path) -> f64 {
    let conn = open_writer(path, Pragmas::default()).expect("open");
    let options = WriterOptions { max_log_bytes_per_run: None, ..WriterOptions::default() };
    let (handle, _events, thread) = spawn(conn, options, Arc::new(SystemClock)).expect("spawn");
    let now = OffsetDateTime::UNIX_EPOCH;
    let ids: Vec<i64> = (0..PRODUCERS)
        .map(|p| handle.create_run(run(&format!("job{p}"), now)).expect("run"))
        .collect();
    let start = Instant::now();
    let producers: Vec<_> = ids
        .into_iter()
        .map(|id| {
            let h = handle.clone();
            std::thread::spawn(move || {
                let per = LINES / PRODUCERS;
                let mut sent = 0;
                while sent < per {
                    let n = BATCH.min(per - sent);
                    let lines = (sent..sent + n)
                        .map(|i| LogLine { stream: Stream::Stdout, line: line(i), ts: now })
                        .collect();
                    sent += n;
                    h.log(LogBatch { run_id: id, lines, end: sent == per }).expect("log");
                }
            })
        })
        .collect();
    for p in producers {
        p.join().expect("producer");
    }
    handle.flush().expect("flush");
    let rate = LINES as f64 / start.elapsed().as_secs_f64();
    drop(handle);
    thread.join().expect("writer");
    rate
}

fn raw_pairs(path: &Path) -> f64 {
    let mut conn = open_writer(path, Pragmas::default()).expect("open");
    let stamp = ts(OffsetDateTime::UNIX_EPOCH);
    let start = Instant::now();
    for _ in 0..PAIRS {
        let tx = conn.transaction().expect("tx");
        tx.prepare_cached(
            "INSERT INTO job_runs (job_name, status, trigger, created_at, started_at)
             VALUES ('raw', 'RUNNING', 'schedule', ?1, ?1)",
        )
        .expect("prepare")
        .execute([&stamp])
        .expect("insert");
        let id = tx.last_insert_rowid();
        tx.commit().expect("commit");
        let tx = conn.transaction().expect("tx");
        tx.prepare_cached(
            "UPDATE job_runs SET status = 'SUCCESS', finished_at = ?2, exit_code = 0 WHERE id = ?1",
        )
        .expect("prepare")
        .execute(rusqlite::params![id, stamp])
        .expect("update");
        tx.commit().expect("commit");
    }
    PAIRS as f64 / start.elapsed().as_secs_f64()
}

/// Create+finish pairs through the writer; each producer keeps `in_flight` pairs outstanding
/// (1: it waits for every ack before the next command; more: it sends several commands and then
/// collects their acks, as the engine does, which never blocks on the store).
fn writer_pairs(path: &Path, in_flight: usize) -> f64 {
    let conn = open_writer(path, Pragmas::default()).expect("open");
    let (handle, _events, thread) =
        spawn(conn, WriterOptions::default(), Arc::new(SystemClock)).expect("spawn");
    let now = OffsetDateTime::UNIX_EPOCH;
    let start = Instant::now();
    let threads: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let h = handle.clone();
            std::thread::spawn(move || {
                let mut done = 0;
                while done < PAIRS / PRODUCERS {
                    let n = in_flight.min(PAIRS / PRODUCERS - done);
                    let created: Vec<_> = (0..n)
                        .map(|_| {
                            let (ack, rx) = crossbeam_channel::bounded(1);
                            let run = run(&format!("job{p}"), now);
                            h.send(StoreCmd::CreateRun { run, ack }).expect("create");
                            rx
                        })
                        .collect();
                    let finished: Vec<_> = created
                        .into_iter()
                        .map(|rx| {
                            let id = rx.recv().expect("ack").expect("created");
                            let (ack, rx) = crossbeam_channel::bounded(1);
                            let patch = RunPatch {
                                status: Some(RunStatus::Success),
                                finished_at: Some(now),
                                exit_code: Some(0),
                                duration_ms: Some(1),
                                ..RunPatch::default()
                            };
                            h.send(StoreCmd::UpdateRun { id, patch, ack: Some(ack) })
                                .expect("finish");
                            rx
                        })
                        .collect();
                    for rx in finished {
                        rx.recv().expect("ack").expect("finished");
                    }
                    done += n;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("producer");
    }
    let rate = PAIRS as f64 / start.elapsed().as_secs_f64();
    drop(handle);
    thread.join().expect("writer");
    rate
}

fn main() {
    let dir = std::env::temp_dir().join(format!("husky-bench-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let raw = raw_ingest(&fresh(&dir, "raw.db"));
    let writer = writer_ingest(&fresh(&dir, "writer.db"));
    println!(
        "store_writer: log ingest, {LINES} lines of 80 bytes from {PRODUCERS} producers: writer \
         {writer:.0} lines/s (target >= 200000); raw batched INSERT floor {raw:.0} rows/s"
    );
    let raw = raw_pairs(&fresh(&dir, "raw-pairs.db"));
    let one = writer_pairs(&fresh(&dir, "writer-pairs-1.db"), 1);
    let pipelined = writer_pairs(&fresh(&dir, "writer-pairs-8.db"), 8);
    println!(
        "store_writer: run create+finish, {PAIRS} pairs from {PRODUCERS} threads, every command \
         acked after commit: writer {pipelined:.0} pairs/s with 8 in flight per thread (target \
         >= 5000), {one:.0} pairs/s waiting for each ack; raw one-transaction-each floor \
         {raw:.0} pairs/s"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
