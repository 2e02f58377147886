//! Tests of the writer thread on real database files.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use time::OffsetDateTime;
use time::macros::datetime;

use super::*;
use crate::clock::{ManualClock, SystemClock};
use crate::store::follow::{Follower, Next};
use crate::store::{Pragmas, RunStatus, Trigger, open_reader, open_writer};

struct Db {
    dir: PathBuf,
    path: PathBuf,
}

impl Db {
    fn new() -> Db {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "husky-writer-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("husky.db");
        Db { dir, path }
    }

    fn start(&self, options: WriterOptions) -> (StoreHandle, Receiver<StoreEvent>, JoinHandle<()>) {
        self.start_with(options, Arc::new(SystemClock))
    }

    fn start_with(
        &self,
        options: WriterOptions,
        clock: Arc<dyn Clock>,
    ) -> (StoreHandle, Receiver<StoreEvent>, JoinHandle<()>) {
        let conn = open_writer(&self.path, Pragmas::default()).expect("open");
        spawn(conn, options, clock).expect("spawn")
    }

    fn reader(&self) -> Connection {
        open_reader(&self.path, Pragmas::default()).expect("reader")
    }

    fn count(&self, sql: &str) -> i64 {
        self.reader().query_row(sql, [], |r| r.get(0)).expect("count")
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const T0: OffsetDateTime = datetime!(2026-11-23 12:00 UTC);

fn new_run(job: &str) -> NewRun {
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
        cycle_id: Some("c1".into()),
        created_at: T0,
        started_at: Some(T0),
    }
}

fn lines(n: usize, from: usize, width: usize) -> Vec<LogLine> {
    (from..from + n)
        .map(|i| LogLine {
            stream: if i % 2 == 0 { Stream::Stdout } else { Stream::Stderr },
            line: format!("{i:0width$}"),
            ts: T0,
        })
        .collect()
}

#[test]
fn runs_are_created_and_updated_after_commit() {
    let db = Db::new();
    let (h, _events, thread) = db.start(WriterOptions::default());
    let id = h.create_run(new_run("backup")).expect("create");
    assert_eq!(id, 1);
    // Acknowledged means committed: a separate connection sees it.
    assert_eq!(db.count("SELECT count(*) FROM job_runs WHERE status = 'RUNNING'"), 1);
    h.update_run(
        id,
        RunPatch {
            status: Some(RunStatus::Failed),
            status_reason: Some("exit_code".into()),
            finished_at: Some(T0 + time::Duration::seconds(3)),
            exit_code: Some(2),
            pid: Some(4242),
            pid_start: Some(987_654),
            duration_ms: Some(3000),
            cpu_user_ms: Some(12),
            cpu_sys_ms: Some(3),
            max_rss_kb: Some(2048),
            ..RunPatch::default()
        },
    )
    .expect("update");
    let row: (String, String, i64, i64, String, i64, i64) = db
        .reader()
        .query_row(
            "SELECT status, status_reason, exit_code, pid, finished_at, duration_ms, max_rss_kb
               FROM job_runs WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
        )
        .expect("row");
    assert_eq!(
        row,
        (
            "FAILED".into(),
            "exit_code".into(),
            2,
            4242,
            "2026-11-23T12:00:03.000Z".into(),
            3000,
            2048
        )
    );
    // A run that does not exist is refused on its own; the rest of the batch commits.
    let err = h.update_run(99, RunPatch { exit_code: Some(1), ..RunPatch::default() });
    assert!(matches!(err, Err(StoreError::Rejected(ref m)) if m.contains("run 99")), "{err:?}");
    assert_eq!(h.create_run(new_run("backup")).expect("create"), 2);
    drop(h);
    thread.join().expect("writer exits when the handles are gone");
}

#[test]
fn job_state_columns_are_written_independently() {
    let db = Db::new();
    let (h, _events, _thread) = db.start(WriterOptions::default());
    let fail_at = datetime!(2026-11-20 03:00 UTC);
    h.job_state("etl", JobStatePatch { last_failure: Some(fail_at), ..Default::default() })
        .expect("failure");
    h.job_state(
        "etl",
        JobStatePatch {
            last_success: Some(T0),
            last_run: Some((7, RunStatus::Success)),
            next_run: Some(Some(T0 + time::Duration::days(1))),
            lock_pid: Some(Some(321)),
            ..Default::default()
        },
    )
    .expect("success");
    h.job_state(
        "etl",
        JobStatePatch { paused: Some(true), lock_pid: Some(None), ..Default::default() },
    )
    .expect("pause");
    let row: (String, String, i64, String, String, i64, Option<i64>) = db
        .reader()
        .query_row(
            "SELECT last_success, last_failure, last_run_id, last_status, next_run, paused, lock_pid
               FROM job_state WHERE job_name = 'etl'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
        )
        .expect("row");
    assert_eq!(
        row,
        (
            "2026-11-23T12:00:00.000Z".into(),
            "2026-11-20T03:00:00.000Z".into(), // a success never erases last_failure
            7,
            "SUCCESS".into(),
            "2026-11-24T12:00:00.000Z".into(),
            1,
            None
        )
    );
}

#[test]
fn log_lines_outputs_and_alerts_are_stored() {
    let db = Db::new();
    let (h, _events, _thread) = db.start(WriterOptions::default());
    let id = h.create_run(new_run("etl")).expect("create");
    h.log(LogBatch { run_id: id, lines: lines(10, 1, 3), end: false }).expect("log");
    h.log(LogBatch { run_id: id, lines: lines(5, 11, 3), end: true }).expect("log");
    h.send(StoreCmd::Outputs {
        run_id: id,
        job_name: "etl".into(),
        cycle_id: "c1".into(),
        at: T0,
        outputs: vec![NewOutput { var_name: "rows".into(), value: "42".into() }],
    })
    .expect("outputs");
    let (ack, rx) = bounded(1);
    h.send(StoreCmd::Alert {
        alert: NewAlert {
            job_name: "etl".into(),
            run_id: Some(id),
            event: "on_failure".into(),
            channel: "slack:#ops".into(),
            status: "delivered".into(),
            attempts: 1,
            error: None,
            sent_at: T0,
            payload: Some("{}".into()),
        },
        ack: Some(ack),
    })
    .expect("alert");
    assert_eq!(rx.recv().expect("ack").expect("alert id"), 1);
    h.flush().expect("flush");
    assert_eq!(db.count("SELECT count(*) FROM run_logs WHERE run_id = 1"), 15);
    assert_eq!(db.count("SELECT max(seq) FROM run_logs WHERE run_id = 1"), 15);
    assert_eq!(db.count("SELECT log_lines FROM job_runs WHERE id = 1"), 15);
    assert_eq!(db.count("SELECT log_bytes FROM job_runs WHERE id = 1"), 45);
    assert_eq!(db.count("SELECT count(*) FROM run_outputs WHERE cycle_id = 'c1'"), 1);
    // Logs of a run that does not exist fail alone, loudly.
    h.log(LogBatch { run_id: 404, lines: lines(2, 1, 1), end: true }).expect("log");
    h.flush().expect("flush");
    assert_eq!(db.count("SELECT count(*) FROM run_logs WHERE run_id = 404"), 0);
    assert_eq!(db.count("SELECT count(*) FROM run_logs"), 15);
}

#[test]
fn a_log_past_its_budget_keeps_head_and_tail_and_an_exact_marker() {
    let db = Db::new();
    let budget: u64 = 1024 * 1024; // 1 MiB: 512 KiB head, 512 KiB tail
    let options = WriterOptions { max_log_bytes_per_run: Some(budget), ..Default::default() };
    let (h, _events, _thread) = db.start(options);
    let id = h.create_run(new_run("noisy")).expect("create");
    // 50 MB of output: 500,000 lines of 100 bytes, in batches like a worker sends them.
    let (total, width, per_batch) = (500_000usize, 100usize, 1000usize);
    let mut sent = 0;
    while sent < total {
        let end = sent + per_batch >= total;
        h.log(LogBatch { run_id: id, lines: lines(per_batch, sent + 1, width), end }).expect("log");
        sent += per_batch;
    }
    h.flush().expect("flush");
    let reader = db.reader();
    let (stored, bytes): (i64, i64) = reader
        .query_row(
            "SELECT count(*), sum(length(line)) FROM run_logs WHERE run_id = ?1 AND stream != 'husky'",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("count");
    let head_lines = (budget / 2) as i64 / width as i64; // 5242 lines fit in the head
    // The head is exactly the first lines.
    let first: Vec<String> = reader
        .prepare("SELECT line FROM run_logs WHERE run_id = ?1 ORDER BY seq LIMIT 3")
        .expect("prepare")
        .query_map([id], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(first, [format!("{:0100}", 1), format!("{:0100}", 2), format!("{:0100}", 3)]);
    // The tail ends with the very last line.
    let last: String = reader
        .query_row(
            "SELECT line FROM run_logs WHERE run_id = ?1 ORDER BY seq DESC LIMIT 1",
            [id],
            |r| r.get(0),
        )
        .expect("last");
    assert_eq!(last, format!("{total:0100}"));
    // Kept: the head plus a tail within one block of its budget.
    assert!(bytes as u64 <= budget, "kept {bytes} bytes");
    assert!(bytes as u64 >= budget - budget / 2 / BLOCKS_PER_TAIL - 100, "kept {bytes} bytes");
    // The marker sits between head and tail and counts exactly what is missing.
    let (marker_seq, marker): (i64, String) = reader
        .query_row(
            "SELECT seq, line FROM run_logs WHERE run_id = ?1 AND stream = 'husky'",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("one marker");
    assert_eq!(marker_seq, head_lines + 1);
    let omitted_lines = total as i64 - stored;
    let omitted_bytes = (total * width) as i64 - bytes;
    assert!(
        marker.starts_with(&format!(
            "husky: {omitted_lines} line(s) ({omitted_bytes} bytes) omitted here"
        )),
        "{marker}"
    );
    let counters: (i64, i64, i64) = reader
        .query_row(
            "SELECT log_lines, log_omitted_lines, log_omitted_bytes FROM job_runs WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("counters");
    assert_eq!(counters, (stored + 1, omitted_lines, omitted_bytes));
    // Lines are contiguous: head 1..=head_lines, then the tail ends at the last line.
    let tail_first: i64 = reader
        .query_row(
            "SELECT min(seq) FROM run_logs WHERE run_id = ?1 AND seq > ?2",
            [id, marker_seq],
            |r| r.get(0),
        )
        .expect("tail");
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM run_logs WHERE run_id = {id} AND seq > {marker_seq}"
        )),
        (total as i64 + 1) - tail_first + 1,
        "the tail has no holes"
    );
}

#[test]
fn backfill_then_live_never_loses_or_repeats_a_line() {
    let db = Db::new();
    let options = WriterOptions { max_log_bytes_per_run: None, ..Default::default() };
    let (h, _events, _thread) = db.start(options);
    let id = h.create_run(new_run("stream")).expect("create");
    const TOTAL: usize = 100_000;
    let producer = {
        let h = h.clone();
        std::thread::spawn(move || {
            let mut sent = 0;
            while sent < TOTAL {
                let n = 1 + (sent * 7919) % 700; // uneven batches
                let n = n.min(TOTAL - sent);
                h.log(LogBatch {
                    run_id: id,
                    lines: lines(n, sent + 1, 8),
                    end: sent + n == TOTAL,
                })
                .expect("log");
                sent += n;
            }
        })
    };
    // Subscribe while the producer is writing: part backfill, part live.
    let mut seen = 0usize;
    while db.count("SELECT count(*) FROM run_logs") < 20_000 {
        std::thread::yield_now();
    }
    let mut follower =
        Follower::new(h.subscriber(), crate::store::query::Reader::new(db.reader()), id)
            .expect("follow");
    let mut live_phase = 0;
    while seen < TOTAL {
        match follower.next(Duration::from_secs(10)).expect("next") {
            Next::Lines(batch) => {
                for l in batch {
                    seen += 1;
                    assert_eq!(l.seq, seen as i64, "line {seen} arrives once, in order");
                    assert_eq!(l.line, format!("{seen:08}"));
                }
                live_phase += 1;
            }
            Next::Idle => panic!("stalled at {seen}"),
            Next::End(s) => panic!("ended ({s}) at {seen}"),
            Next::Closed => panic!("closed at {seen}"),
        }
    }
    producer.join().expect("producer");
    assert!(live_phase > 1);
    h.flush().expect("flush");
    assert!(matches!(follower.next(Duration::from_millis(50)).expect("next"), Next::Idle));
}

#[test]
fn an_unwritable_database_holds_changes_reports_and_recovers() {
    let db = Db::new();
    let clock = ManualClock::new(T0);
    let options = WriterOptions { max_log_bytes_per_run: None, ..Default::default() };
    let (h, events, _thread) = db.start_with(options, Arc::new(clock.clone()));
    let id = h.create_run(new_run("etl")).expect("create");
    h.log(LogBatch { run_id: id, lines: lines(10, 1, 10), end: false }).expect("log");
    h.flush().expect("flush");
    // Cap the file at its current size: the next growth fails with SQLITE_FULL.
    let pages = db.count("PRAGMA page_count");
    h.send(StoreCmd::Pragma("max_page_count", pages)).expect("pragma");
    h.flush().expect("flush");
    // 150,000 lines of 100 bytes: far more than the file can take; the writer holds at most
    // MAX_PENDING_LINES of them and counts the rest as dropped.
    let total = 150_000;
    for start in (0..total).step_by(1000) {
        h.log(LogBatch { run_id: id, lines: lines(1000, 11 + start, 100), end: false })
            .expect("log");
    }
    match events.recv_timeout(Duration::from_secs(10)).expect("event") {
        StoreEvent::Unavailable { error } => assert!(error.contains("full"), "{error}"),
        other => panic!("{other:?}"),
    }
    // A run created meanwhile is held, not lost: its ack comes after recovery.
    let (ack, created) = bounded(1);
    h.send(StoreCmd::CreateRun { run: new_run("later"), ack }).expect("send");
    assert!(created.recv_timeout(Duration::from_millis(300)).is_err(), "not committed yet");
    // Make room, let the retry come due, and wake the writer.
    h.send(StoreCmd::Pragma("max_page_count", 1_000_000_000)).expect("pragma");
    clock.advance(time::Duration::minutes(1));
    let dropped = match events.recv_timeout(Duration::from_secs(20)).expect("event") {
        StoreEvent::Recovered { dropped_lines, .. } => dropped_lines,
        other => panic!("{other:?}"),
    };
    assert_eq!(created.recv_timeout(Duration::from_secs(10)).expect("ack").expect("id"), 2);
    h.flush().expect("flush");
    let stored = db
        .count(&format!("SELECT count(*) FROM run_logs WHERE run_id = {id} AND stream != 'husky'"));
    assert_eq!(stored as u64 + dropped, 10 + total as u64, "every line is stored or counted");
    assert!(
        dropped > 0 && stored as usize >= MAX_PENDING_LINES,
        "stored {stored}, dropped {dropped}"
    );
    let note: String = db
        .reader()
        .query_row("SELECT line FROM run_logs WHERE run_id = 1 AND stream = 'husky'", [], |r| {
            r.get(0)
        })
        .expect("a note");
    assert!(note.starts_with(&format!("husky: {dropped} line(s) of output")), "{note}");
    assert_eq!(db.count("SELECT log_dropped_lines FROM job_runs WHERE id = 1"), dropped as i64);
}

#[test]
fn retention_runs_after_start_up_and_then_daily() {
    let db = Db::new();
    let clock = ManualClock::new(T0);
    let policy = crate::store::retention::Policy {
        max_age: Some(time::Duration::days(1)),
        ..Default::default()
    };
    let options = WriterOptions { retention: Some(policy), ..Default::default() };
    let (h, events, _thread) = db.start_with(options, Arc::new(clock.clone()));
    let finish = |h: &StoreHandle, days_ago: i64| {
        let at = T0 - time::Duration::days(days_ago);
        let id = h
            .create_run(NewRun { created_at: at, started_at: Some(at), ..new_run("etl") })
            .expect("create");
        let patch = RunPatch {
            status: Some(RunStatus::Success),
            finished_at: Some(at),
            ..RunPatch::default()
        };
        h.update_run(id, patch).expect("finish");
    };
    finish(&h, 3);
    finish(&h, 0);
    // Not yet: the first run is two minutes after start-up.
    clock.advance(time::Duration::seconds(60));
    h.flush().expect("flush");
    assert!(events.try_recv().is_err());
    assert_eq!(db.count("SELECT count(*) FROM job_runs"), 2);
    clock.advance(time::Duration::seconds(61));
    h.flush().expect("flush");
    match events.recv_timeout(Duration::from_secs(10)).expect("pruned") {
        StoreEvent::Pruned(report) => assert_eq!(report.runs, 1),
        other => panic!("{other:?}"),
    }
    assert_eq!(db.count("SELECT count(*) FROM job_runs"), 1);
    // The next run is a day later.
    finish(&h, 2);
    clock.advance(time::Duration::hours(23));
    h.flush().expect("flush");
    assert!(events.try_recv().is_err());
    clock.advance(time::Duration::hours(1));
    h.flush().expect("flush");
    match events.recv_timeout(Duration::from_secs(10)).expect("pruned") {
        // A day on, the run that finished at T0 is past max_age too.
        StoreEvent::Pruned(report) => assert_eq!(report.runs, 2),
        other => panic!("{other:?}"),
    }
}

#[test]
fn runs_can_be_created_with_their_id_and_final_status() {
    let db = Db::new();
    let (h, _events, _thread) = db.start(WriterOptions::default());
    let id = h
        .create_run(NewRun {
            id: Some(42),
            status: RunStatus::Skipped,
            status_reason: Some("concurrency: forbid".into()),
            finished_at: Some(T0),
            trigger: Trigger::Catchup,
            ..new_run("etl")
        })
        .expect("create");
    assert_eq!(id, 42);
    let row = |sql: &str| -> String { db.reader().query_row(sql, [], |r| r.get(0)).expect(sql) };
    assert_eq!(
        row("SELECT status || '|' || status_reason || '|' || trigger || '|' || finished_at \
             FROM job_runs WHERE id = 42"),
        "SKIPPED|concurrency: forbid|catchup|2026-11-23T12:00:00.000Z"
    );
    // The next run without an id follows it.
    assert_eq!(h.create_run(new_run("etl")).expect("next"), 43);
    h.send(StoreCmd::PauseTag { tag: "etl".into(), paused: true, at: T0 }).expect("pause");
    h.flush().expect("flush");
    assert_eq!(db.count("SELECT count(*) FROM paused_tags WHERE tag = 'etl'"), 1);
    h.send(StoreCmd::PauseTag { tag: "etl".into(), paused: false, at: T0 }).expect("resume");
    h.flush().expect("flush");
    assert_eq!(db.count("SELECT count(*) FROM paused_tags"), 0);
}

#[test]
fn the_end_of_a_log_follows_its_lines_and_events_follow_their_commit() {
    use crate::store::hub::What;
    let db = Db::new();
    let options = WriterOptions { max_log_bytes_per_run: None, ..Default::default() };
    let (h, _events, _thread) = db.start(options);
    let id = h.create_run(new_run("ending")).expect("create");
    let reader = || crate::store::query::Reader::new(db.reader());
    let mut live = Follower::new(h.subscriber(), reader(), id).expect("follow");
    let (replay, events) = h.subscriber().events(None).expect("events");
    assert_eq!((replay.gap, replay.missed.len(), replay.last), (false, 0, 0));
    // The worker's last lines, then the status that completes the log, sent right after them
    // on the other channel, as a worker and the engine do.
    h.log(LogBatch { run_id: id, lines: lines(3, 1, 4), end: true }).expect("log");
    let done = RunPatch { status: Some(RunStatus::Success), ..RunPatch::default() };
    h.commands().send(StoreCmd::UpdateRun { id, patch: done, ack: None }).expect("update");
    let what = What::Job { job: "ending".into(), paused: true };
    let at = time::OffsetDateTime::UNIX_EPOCH;
    h.commands().send(StoreCmd::Publish { at, what: Box::new(what.clone()) }).expect("publish");
    let mut seen = Vec::new();
    loop {
        match live.next(Duration::from_secs(10)).expect("next") {
            Next::Lines(batch) => seen.extend(batch.iter().map(|l| l.seq)),
            Next::End(status) => {
                assert_eq!(status, RunStatus::Success);
                break;
            }
            other => panic!("{other:?} after {seen:?}"),
        }
    }
    assert_eq!(seen, [1, 2, 3], "every line comes before the end");
    assert_eq!(live.next(Duration::from_millis(10)).expect("next"), Next::Closed);
    // The event comes once committed: the run's status is visible by then.
    let e = events.recv_timeout(Duration::from_secs(10)).expect("event");
    assert_eq!(e.what, what);
    assert_eq!(
        db.count(&format!("SELECT count(*) FROM job_runs WHERE id = {id} AND status = 'SUCCESS'")),
        1
    );
    // A follower of an ended run gets the whole log, then the end; a resumed one the rest.
    let mut late = Follower::new(h.subscriber(), reader(), id).expect("follow");
    assert!(
        matches!(late.next(Duration::from_secs(1)).expect("next"), Next::Lines(l) if l.len() == 3)
    );
    assert_eq!(late.next(Duration::from_secs(1)).expect("next"), Next::End(RunStatus::Success));
    let (replay, _) = h.subscriber().events(Some(e.id - 1)).expect("resume");
    assert_eq!(replay.missed.iter().map(|m| m.id).collect::<Vec<_>>(), [e.id]);
}
