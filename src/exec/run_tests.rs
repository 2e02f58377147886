//! Real processes through [`run`]: exit codes, signals, spawn failures, timeouts and cancels
//! that leave nothing behind, and capture of large, long and binary output.

use std::path::Path;
use std::time::Duration;

use crossbeam_channel::{Sender, bounded};

use super::*;
use crate::clock::SystemClock;

fn spec(command: &str) -> Spec {
    // Unique run ids: the clean-up kills processes by HUSKY_RUN_ID, and tests run in parallel.
    static NEXT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);
    let run_id = i64::from(std::process::id()) * 1_000_000
        + NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    Spec {
        shell: vec!["/bin/sh".into(), "-c".into()],
        command: command.into(),
        cwd: std::env::temp_dir(),
        env: vec![("HUSKY_RUN_ID".into(), run_id.to_string())],
        timeout: Duration::from_secs(60),
        kill_grace: Duration::from_millis(500),
        drain: Duration::from_millis(200),
        limits: Limits::default(),
        run_id,
    }
}

struct Ran {
    outcome: Outcome,
    stdout: Vec<String>,
    stderr: Vec<String>,
    pieces: Vec<Piece>,
}

fn go(spec: &Spec) -> Ran {
    let (_keep, cancel) = bounded::<()>(1);
    go_with(spec, &cancel, |_| {})
}

fn go_with(
    spec: &Spec,
    cancel: &crossbeam_channel::Receiver<()>,
    mut on_start: impl FnMut(u32),
) -> Ran {
    let mut ran =
        Ran { outcome: Outcome::default(), stdout: vec![], stderr: vec![], pieces: vec![] };
    let mut sink = |l: ReadLine| {
        match l.stream {
            Stream::Stdout => ran.stdout.push(l.piece.text.clone()),
            _ => ran.stderr.push(l.piece.text.clone()),
        }
        ran.pieces.push(l.piece);
    };
    let outcome = run(spec, &SystemClock, cancel, &mut on_start, &mut sink);
    ran.outcome = outcome;
    ran
}

/// Whether a process is gone (or a zombie, which holds no resources but its slot).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

#[track_caller]
fn assert_all_gone(pids: &[u32]) {
    assert_all_gone_or(pids, "");
}

#[track_caller]
fn assert_all_gone_or(pids: &[u32], context: &str) {
    use crate::clock::Clock;
    let deadline = SystemClock.monotonic() + Duration::from_secs(10);
    while !pids.iter().all(|p| gone(*p)) {
        assert!(SystemClock.monotonic() < deadline, "still alive: {pids:?} {context}");
        std::thread::yield_now();
    }
}

fn pids_in(lines: &[String]) -> Vec<u32> {
    lines.iter().filter_map(|l| l.strip_prefix("pid ")?.trim().parse().ok()).collect()
}

#[test]
fn exit_codes_and_output() {
    for code in [0, 1, 42] {
        let r = go(&spec(&format!("echo out; echo err >&2; exit {code}")));
        assert_eq!(r.outcome.exit_code, Some(code));
        assert_eq!(r.outcome.signal, None);
        assert_eq!(
            (r.stdout.as_slice(), r.stderr.as_slice()),
            (&["out".to_owned()][..], &["err".to_owned()][..])
        );
        assert_eq!(r.outcome.succeeded(), code == 0);
        assert!(r.outcome.pid.is_some());
    }
}

#[test]
fn death_by_signal_is_reported_as_a_signal() {
    let r = go(&spec("kill -9 $$"));
    assert_eq!((r.outcome.exit_code, r.outcome.signal), (None, Some(9)));
}

#[test]
fn spawn_failures_carry_the_os_error() {
    let mut s = spec("true");
    s.shell = vec!["/no/such/shell".into(), "-c".into()];
    let r = go(&s);
    let err = r.outcome.spawn_error.expect("spawn error");
    assert!(err.contains("/no/such/shell") && err.contains("No such file"), "{err}");
    let mut s = spec("true");
    s.cwd = Path::new("/no/such/dir").into();
    let err = go(&s).outcome.spawn_error.expect("spawn error");
    assert!(err.contains("working directory /no/such/dir does not exist"), "{err}");
}

#[test]
fn a_timeout_kills_the_whole_tree() {
    let mut s = spec("sleep 300 & echo pid $!; sleep 300 & echo pid $!; wait");
    s.timeout = Duration::from_millis(500);
    let r = go(&s);
    assert!(r.outcome.timed_out && !r.outcome.succeeded());
    assert_eq!(r.outcome.signal, Some(15), "sh dies of the SIGTERM sent to the group");
    let pids = pids_in(&r.stdout);
    assert_eq!(pids.len(), 2, "{:?}", r.stdout);
    assert_all_gone(&pids);
}

#[test]
fn a_process_ignoring_sigterm_is_killed_after_the_grace() {
    let mut s = spec("trap '' TERM; echo pid $$; while :; do sleep 0.05; done");
    s.timeout = Duration::from_millis(300);
    s.kill_grace = Duration::from_millis(300);
    let r = go(&s);
    assert!(r.outcome.timed_out);
    assert_eq!(r.outcome.signal, Some(9));
    assert_all_gone(&pids_in(&r.stdout));
}

#[test]
fn a_second_cancel_kills_without_waiting_for_the_grace() {
    // The process ignores SIGTERM and the grace is long: only the second cancel (a forced
    // shutdown) can end it quickly.
    let (tx, rx): (Sender<()>, _) = bounded(2);
    let mut s = spec("trap '' TERM; echo pid $$; while :; do sleep 0.05; done");
    s.kill_grace = Duration::from_secs(120);
    let r = go_with(&s, &rx, |_| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let _ = crossbeam_channel::after(Duration::from_millis(200)).recv();
            let _ = tx.send(());
            let _ = crossbeam_channel::after(Duration::from_millis(200)).recv();
            let _ = tx.send(());
        });
    });
    assert!(r.outcome.cancelled, "{:?}", r.outcome);
    assert_eq!(r.outcome.signal, Some(9));
    assert!(r.outcome.duration < Duration::from_secs(60), "{:?}", r.outcome.duration);
    assert_all_gone(&pids_in(&r.stdout));
}

#[test]
fn a_cancel_channel_whose_sender_is_gone_does_not_spin_or_cancel() {
    let (tx, rx) = bounded::<()>(1);
    drop(tx);
    let r = go_with(&spec("sleep 0.3; echo done"), &rx, |_| {});
    assert_eq!(r.outcome.exit_code, Some(0));
    assert!(!r.outcome.cancelled);
    assert_eq!(r.stdout, vec!["done"]);
}

#[test]
fn cancel_stops_the_tree() {
    let (tx, rx): (Sender<()>, _) = bounded(1);
    let s = spec("sleep 300 & echo pid $!; wait");
    let r = go_with(&s, &rx, |_| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            // Once the tree is up: a timer channel, not a sleep.
            let _ = crossbeam_channel::after(Duration::from_millis(300)).recv();
            let _ = tx.send(());
        });
    });
    assert!(r.outcome.cancelled && !r.outcome.timed_out);
    assert_all_gone(&pids_in(&r.stdout));
}

#[test]
fn a_cancel_within_the_first_moments_stops_the_run() {
    // Short runs are read on the worker's own thread for their first 100 ms: a cancel sent in
    // that window (here, at once) must still stop the tree, well before its timeout.
    let (tx, rx): (Sender<()>, _) = bounded(1);
    let s = spec("sleep 300 & echo pid $!; wait");
    let r = go_with(&s, &rx, |_| tx.send(()).expect("cancel"));
    assert!(r.outcome.cancelled && !r.outcome.timed_out, "{:?}", r.outcome);
    assert!(r.outcome.duration < Duration::from_secs(5), "{:?}", r.outcome.duration);
    assert_all_gone(&pids_in(&r.stdout));
}

#[test]
fn a_daemon_that_escaped_with_setsid_is_killed_when_the_run_ends() {
    // As the daemon does: orphans are reparented to us, so they can be found (nextest runs each
    // test in its own process, so this stays within the test).
    super::super::become_subreaper().expect("subreaper");
    let s = spec("setsid sh -c 'echo pid $$; exec sleep 300' & sleep 0.2; echo done");
    let r = go(&s);
    assert_eq!(r.outcome.exit_code, Some(0), "the main process itself succeeded");
    assert!(r.outcome.leftovers_killed);
    let pids = pids_in(&r.stdout);
    assert_eq!(pids.len(), 1, "{:?}", r.stdout);
    assert_all_gone(&pids);
    // Killed and reaped: not even a zombie is left.
    assert!(!Path::new(&format!("/proc/{}", pids[0])).exists(), "a zombie is left");
}

#[test]
fn fifty_megabytes_arrive_intact_and_in_order() {
    let r = go(&spec("seq 1 7000000"));
    assert_eq!(r.outcome.exit_code, Some(0));
    assert_eq!(r.stdout.len(), 7_000_000);
    let bytes: usize = r.stdout.iter().map(|l| l.len() + 1).sum();
    assert!(bytes > 50_000_000, "{bytes}");
    for (i, line) in r.stdout.iter().enumerate() {
        assert_eq!(line.parse::<usize>().ok(), Some(i + 1), "line {}", i + 1);
    }
}

#[test]
fn a_one_mebibyte_line_arrives_in_pieces_and_binary_does_not_stop_capture() {
    let r = go(&spec(
        "head -c 1048576 /dev/zero | tr '\\0' a; echo; head -c 100000 /dev/urandom; echo; echo after",
    ));
    assert_eq!(r.outcome.exit_code, Some(0));
    let long: Vec<&Piece> = r.pieces.iter().take(16).collect();
    assert!(long[..15].iter().all(|p| p.continues) && !long[15].continues);
    assert_eq!(long.iter().map(|p| p.text.len()).sum::<usize>(), 1_048_576);
    assert_eq!(r.stdout.last().map(String::as_str), Some("after"));
}

#[test]
fn order_is_kept_within_each_stream() {
    let r = go(&spec("i=1; while [ $i -le 2000 ]; do echo o$i; echo e$i >&2; i=$((i+1)); done"));
    let want = |p: &str| (1..=2000).map(|i| format!("{p}{i}")).collect::<Vec<_>>();
    assert_eq!(r.stdout, want("o"));
    assert_eq!(r.stderr, want("e"));
}

#[test]
fn a_memory_limit_stops_a_job_that_allocates_past_it() {
    let mut s = spec("python3 -c 'x = bytearray(200 * 1024 * 1024); print(len(x))'");
    s.limits.max_memory_mb = Some(100);
    let r = go(&s);
    assert_ne!(r.outcome.exit_code, Some(0), "{:?} {:?}", r.stdout, r.stderr);
    assert!(r.stderr.iter().any(|l| l.contains("MemoryError")), "{:?}", r.stderr);
    s.limits.max_memory_mb = None;
    let r = go(&s);
    assert_eq!(r.outcome.exit_code, Some(0), "{:?} {:?}", r.outcome, r.stderr);
}

#[test]
fn resource_usage_is_recorded() {
    let r = go(&spec("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"));
    assert_eq!(r.outcome.exit_code, Some(0));
    assert!(r.outcome.max_rss_kb > 0);
    assert!(r.outcome.cpu_user_ms + r.outcome.cpu_sys_ms > 0, "{:?}", r.outcome);
}

#[test]
fn many_runs_leave_no_zombie_and_no_file_descriptor() {
    let fds = || std::fs::read_dir("/proc/self/fd").map(Iterator::count).unwrap_or(0);
    let before = fds();
    let mut pids = Vec::new();
    for _ in 0..1000 {
        let r = go(&spec("echo hi"));
        assert_eq!(r.outcome.exit_code, Some(0));
        pids.extend(r.outcome.pid);
    }
    // Other tests run in parallel threads of this process: allow their few open pipes.
    assert!(fds() <= before + 8, "fds {before} -> {}", fds());
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            !(stat.contains(&format!("({}) Z", "sh"))
                && stat.contains(&format!(" {} ", std::process::id()))),
            "zombie child {pid}: {stat}"
        );
    }
}

#[test]
fn a_daemon_that_closed_its_output_and_escaped_is_killed_too() {
    super::super::become_subreaper().expect("subreaper");
    let r =
        go(&spec("setsid sh -c 'exec >/dev/null 2>&1 </dev/null; exec sleep 300' & echo pid $!"));
    assert_eq!(r.outcome.exit_code, Some(0));
    let pids = pids_in(&r.stdout);
    assert_eq!(pids.len(), 1, "{:?}", r.stdout);
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pids[0])).unwrap_or_default();
    let me = std::process::id();
    let tasks: Vec<String> = std::fs::read_dir(format!("/proc/{me}/task"))
        .map(|d| {
            d.flatten()
                .map(|t| {
                    let kids =
                        std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
                    format!("{}:[{}]", t.file_name().to_string_lossy(), kids.trim())
                })
                .collect()
        })
        .unwrap_or_default();
    assert_all_gone_or(&pids, &format!("{:?} {stat} tasks {tasks:?}", r.outcome));
    assert!(r.outcome.leftovers_killed);
}

#[test]
fn open_file_and_process_limits_are_applied() {
    let mut s = spec("grep -E '^Max (processes|open files)' /proc/self/limits");
    s.limits.max_open_files = Some(64);
    s.limits.max_pids = Some(4096);
    let out = go(&s).stdout;
    // "Max open files  64  64  files": the soft limit is the first number.
    let soft: Vec<&str> = out
        .iter()
        .filter_map(|l| l.split_whitespace().find(|w| w.chars().all(|c| c.is_ascii_digit())))
        .collect();
    assert_eq!(soft, ["4096", "64"], "{out:?}");
}

#[test]
fn the_process_start_time_identifies_the_process() {
    let mut started = None;
    let r = go_with(&spec("echo hi"), &bounded::<()>(1).1, |pid| {
        started = super::super::platform::start_time(pid);
    });
    assert_eq!(r.outcome.exit_code, Some(0));
    let ticks = started.expect("a start time");
    // Our own start time is earlier or equal: ticks since boot grow.
    let me = super::super::platform::start_time(std::process::id()).expect("own start time");
    assert!(ticks >= me, "{ticks} < {me}");
}
