//! One process run: spawn `<shell> <flag> <command>` in its own process group, read stdout and
//! stderr concurrently into lines, enforce the timeout and cancellation on the whole tree, reap
//! it with its resource usage, and clean up what it left behind.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded, select};
use time::OffsetDateTime;

use super::lines::{LineSplitter, Piece};
use super::platform;
use super::{Limits, Reaped};
use crate::clock::Clock;
use crate::store::Stream;

/// What to run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The shell and its flag: `["/bin/sh", "-c"]`, `["cmd.exe", "/C"]`.
    pub shell: Vec<String>,
    /// The command line given to the shell.
    pub command: String,
    /// Working directory.
    pub cwd: PathBuf,
    /// Environment added to the daemon's (later entries win).
    pub env: Vec<(String, String)>,
    /// Kill the tree after this long.
    pub timeout: Duration,
    /// Between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    /// After the main process exits, how long to keep reading pipes held open by leftovers.
    pub drain: Duration,
    /// Resource limits.
    pub limits: Limits,
    /// The run id (exported as HUSKY_RUN_ID; used to find escaped descendants).
    pub run_id: i64,
}

/// How the run ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The process id, once spawned.
    pub pid: Option<u32>,
    /// Exit code, if it exited.
    pub exit_code: Option<i32>,
    /// The signal that ended it.
    pub signal: Option<i32>,
    /// Killed for running past its timeout.
    pub timed_out: bool,
    /// Killed because it was cancelled.
    pub cancelled: bool,
    /// The command could not be started: the OS's reason.
    pub spawn_error: Option<String>,
    /// Wall-clock duration.
    pub duration: Duration,
    /// User CPU time (ms).
    pub cpu_user_ms: i64,
    /// System CPU time (ms).
    pub cpu_sys_ms: i64,
    /// Peak RSS (KiB).
    pub max_rss_kb: i64,
    /// Processes left behind and killed after the main process exited.
    pub leftovers_killed: bool,
}

impl Outcome {
    /// Exit code 0, not killed.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out && !self.cancelled
    }
}

/// A line as read, for the caller to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadLine {
    /// Which stream.
    pub stream: Stream,
    /// The line or piece.
    pub piece: Piece,
    /// When it was read.
    pub at: OffsetDateTime,
}

const CHUNK: usize = 64 * 1024;
/// A run still going after this long gets a waiter thread for its main process.
const WAITER_AFTER: Duration = Duration::from_millis(100);
/// While a short run is read inline, how often a cancel is looked for.
const INLINE_SLICE: Duration = Duration::from_millis(10);

/// What the helper threads report to the supervisor.
#[derive(Debug)]
pub enum Event {
    /// Lines of one read of one pipe.
    Lines(Vec<ReadLine>),
    /// A pipe reached its end.
    Eof,
    /// The main process was reaped.
    Exited(std::io::Result<Reaped>),
}

/// Where a run's lines go.
pub trait Sink {
    /// One line, in order within its stream.
    fn line(&mut self, line: ReadLine);
    /// No line is waiting right now: a good moment to pass on what is buffered.
    fn idle(&mut self) {}
}

impl<F: FnMut(ReadLine)> Sink for F {
    fn line(&mut self, line: ReadLine) {
        self(line);
    }
}

/// Runs `spec`. `on_start` gets the pid right after spawn; `sink` every line, in order within
/// each stream; a message on `cancel` stops the run (SIGTERM to the group, then SIGKILL after
/// the grace).
pub fn run(
    spec: &Spec,
    clock: &dyn Clock,
    cancel: &Receiver<()>,
    mut on_start: impl FnMut(u32),
    sink: &mut impl Sink,
) -> Outcome {
    let started = clock.monotonic();
    let mut outcome = Outcome::default();
    let Some((program, args)) = spec.shell.split_first() else {
        outcome.spawn_error = Some("no shell configured".into());
        return outcome;
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .arg(&spec.command)
        .current_dir(&spec.cwd)
        // systemd's notification socket is the daemon's, not its jobs'.
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    platform::prepare(&mut cmd, spec.limits);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            outcome.spawn_error = Some(spawn_message(spec, &e));
            outcome.duration = clock.monotonic().duration_since(started);
            return outcome;
        }
    };
    let pid = child.id();
    let group = match platform::Group::attach(&child, spec.limits) {
        Ok(g) => g,
        Err(e) => {
            let _ = child.kill();
            let _ = platform::reap(child);
            outcome.spawn_error = Some(format!("cannot control the process tree: {e}"));
            outcome.duration = clock.monotonic().duration_since(started);
            return outcome;
        }
    };
    outcome.pid = Some(pid);
    on_start(pid);

    // The pipes are read on helper threads (one on Unix, polling both; one per pipe elsewhere)
    // that send lines in batches, one per read; a waiter may reap the main process.
    let (tx, rx) = bounded::<Event>(64);
    let mut pipes = Vec::new();
    if let Some(out) = child.stdout.take() {
        pipes.push((platform::Pipe::from(out), PipeReader::new(Stream::Stdout, clock, &tx)));
    }
    if let Some(err) = child.stderr.take() {
        pipes.push((platform::Pipe::from(err), PipeReader::new(Stream::Stderr, clock, &tx)));
    }
    let mut open = pipes.len();
    let waiter_at = started + WAITER_AFTER;
    let deadline = started + spec.timeout;
    // Short runs (the common case) are read right here: helper threads start only for a run
    // that lasts past WAITER_AFTER, or that is cancelled or due before.
    if platform::INLINE_POLL {
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            let now = clock.monotonic();
            let until = waiter_at.min(deadline);
            if pipes.is_empty() || now >= until || !cancel.is_empty() {
                break;
            }
            let wait = (until - now).min(INLINE_SLICE);
            let ok = platform::poll_pipes(&mut pipes, &mut buf, Some(wait));
            let mut read = false;
            for event in rx.try_iter() {
                match event {
                    Event::Lines(lines) => {
                        read = true;
                        lines.into_iter().for_each(|l| sink.line(l));
                    }
                    Event::Eof => open = open.saturating_sub(1),
                    Event::Exited(_) => {}
                }
            }
            if read {
                sink.idle();
            }
            if !ok {
                break;
            }
        }
    }
    let helpers = if pipes.is_empty() { Vec::new() } else { platform::read_pipes(pipes) };
    // The main process is reaped here when its pipes close (the common, short case), else by a
    // waiter thread started once the run lasts past WAITER_AFTER (so that its exit is noticed
    // while leftovers still hold the pipes).
    let mut child = Some(child);
    let mut waiter: Option<std::thread::JoinHandle<()>> = None;
    let mut reaped: Option<Reaped> = None;
    let mut exited = false;
    let mut exited_at: Option<Instant> = None;
    let mut kill_at: Option<Instant> = None;
    // Kills the whole tree: the group, and on Linux what escaped it; true if anything escaped.
    let kill_tree = || {
        let _ = group.kill();
        platform::kill_escaped(spec.run_id, pid) > 0
    };
    let mut leftovers = false;
    let mut cancel_rx = cancel.clone();
    while open > 0 || !exited {
        let now = clock.monotonic();
        if !exited
            && (open == 0 || now >= waiter_at)
            && let Some(mut c) = child.take()
        {
            match platform::try_reap(&mut c) {
                Ok(Some(r)) => {
                    exited = true;
                    reaped = Some(r);
                    if open > 0 {
                        exited_at = Some(now);
                    }
                    continue;
                }
                Ok(None) => {
                    let tx = tx.clone();
                    let spawned = std::thread::Builder::new()
                        .name("husky-wait".into())
                        .spawn(move || drop(tx.send(Event::Exited(platform::reap(c)))));
                    match spawned {
                        Ok(handle) => waiter = Some(handle),
                        Err(_) => {
                            // Without a waiter the run cannot be supervised: stop it.
                            let _ = group.kill();
                            exited = true;
                        }
                    }
                }
                Err(_) => exited = true,
            }
        }
        // Leftovers hold the pipes after the main process exited: give them a short window.
        if exited_at.is_some_and(|at| now >= at + spec.drain) {
            leftovers = true;
            kill_tree();
            exited_at = None;
        }
        if !outcome.timed_out && !outcome.cancelled && now >= deadline {
            outcome.timed_out = true;
            let _ = group.terminate();
            kill_at = Some(now + spec.kill_grace);
        }
        if kill_at.is_some_and(|at| now >= at) {
            kill_tree();
            kill_at = None;
        }
        let waiter_due = (child.is_some() && waiter_at > now).then_some(waiter_at);
        let wake = [Some(deadline), kill_at, exited_at.map(|at| at + spec.drain), waiter_due]
            .into_iter()
            .flatten()
            .filter(|at| *at > now)
            .min()
            .map_or(Duration::from_secs(1), |at| at - now);
        select! {
            recv(rx) -> msg => match msg {
                Ok(Event::Lines(lines)) => {
                    for line in lines {
                        sink.line(line);
                    }
                    if rx.is_empty() {
                        sink.idle();
                    }
                }
                Ok(Event::Eof) => open = open.saturating_sub(1),
                Ok(Event::Exited(r)) => {
                    exited = true;
                    reaped = r.ok();
                    if open > 0 {
                        exited_at = Some(clock.monotonic());
                    }
                }
                Err(_) => {
                    open = 0;
                    exited = true;
                }
            },
            recv(cancel_rx) -> msg => match msg {
                Ok(()) if !outcome.cancelled && !outcome.timed_out => {
                    outcome.cancelled = true;
                    let _ = group.terminate();
                    kill_at = Some(clock.monotonic() + spec.kill_grace);
                }
                // A second cancel: no more grace.
                Ok(()) => {
                    outcome.cancelled |= !outcome.timed_out;
                    kill_tree();
                    kill_at = None;
                }
                // Nobody can cancel any more.
                Err(_) => cancel_rx = crossbeam_channel::never(),
            },
            default(wake) => {},
        }
    }
    sink.idle();
    // Whatever is left of the group goes now (jobs must not leave processes behind), and so do
    // descendants that escaped it.
    if group.alive() {
        leftovers = true;
        let _ = group.kill();
    }
    outcome.leftovers_killed = platform::kill_escaped(spec.run_id, pid) > 0 || leftovers;
    for h in helpers.into_iter().chain(waiter) {
        let _ = h.join();
    }
    if let Some(r) = reaped {
        outcome.exit_code = r.code;
        outcome.signal = r.signal;
        outcome.cpu_user_ms = r.cpu_user_ms;
        outcome.cpu_sys_ms = r.cpu_sys_ms;
        outcome.max_rss_kb = r.max_rss_kb;
    }
    if let Some((user, sys, rss)) = group.usage() {
        (outcome.cpu_user_ms, outcome.cpu_sys_ms, outcome.max_rss_kb) = (user, sys, rss);
    }
    outcome.duration = clock.monotonic().duration_since(started);
    outcome
}

/// Reads one pipe to its end, sending each read's lines as one batch.
/// Turns one pipe's bytes into batches of lines for the supervisor.
#[derive(Debug)]
pub struct PipeReader {
    stream: Stream,
    splitter: LineSplitter,
    stamp: ClockStamp,
    tx: Sender<Event>,
    closed: bool,
}

impl PipeReader {
    fn new(stream: Stream, clock: &dyn Clock, tx: &Sender<Event>) -> PipeReader {
        PipeReader {
            stream,
            splitter: LineSplitter::new(),
            stamp: ClockStamp::new(clock),
            tx: tx.clone(),
            closed: false,
        }
    }

    /// Bytes read from the pipe. Returns false once the supervisor is gone.
    pub fn data(&mut self, bytes: &[u8]) -> bool {
        let (at, stream) = (self.stamp.now(), self.stream);
        let mut lines = Vec::new();
        self.splitter.push(bytes, &mut |piece| lines.push(ReadLine { stream, piece, at }));
        lines.is_empty() || self.tx.send(Event::Lines(lines)).is_ok()
    }

    /// The pipe reached its end (or failed): the last line, then the end.
    pub fn end(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        let (at, stream) = (self.stamp.now(), self.stream);
        let mut last = Vec::new();
        self.splitter.finish(&mut |piece| last.push(ReadLine { stream, piece, at }));
        if !last.is_empty() {
            let _ = self.tx.send(Event::Lines(last));
        }
        let _ = self.tx.send(Event::Eof);
    }
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        // A reader thread that stops early still reports the end of its pipe.
        self.end();
    }
}

/// The size of one read.
pub const READ_CHUNK: usize = CHUNK;

/// A timestamp source the pipe threads can own: the clock's UTC time at spawn plus the
/// monotonic time elapsed since (so the readers need no shared clock).
#[derive(Debug, Clone, Copy)]
struct ClockStamp {
    utc: OffsetDateTime,
    mono: Instant,
}

impl ClockStamp {
    fn new(clock: &dyn Clock) -> ClockStamp {
        ClockStamp { utc: clock.now_utc(), mono: clock.monotonic() }
    }

    #[allow(clippy::disallowed_methods)] // elapsed time since a clock reading, for line stamps
    fn now(&self) -> OffsetDateTime {
        self.utc + self.mono.elapsed()
    }
}

fn spawn_message(spec: &Spec, e: &std::io::Error) -> String {
    if !spec.cwd.is_dir() {
        format!(
            "cannot start the command: working directory {} does not exist ({e})",
            spec.cwd.display()
        )
    } else {
        format!("cannot start the command with {}: {e}", spec.shell.join(" "))
    }
}

#[cfg(all(test, target_os = "linux"))]
#[path = "run_tests.rs"]
mod tests;
