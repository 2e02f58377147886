//! One process run: spawn `<shell> <flag> <command>` in its own process group, read stdout and
//! stderr concurrently into lines, enforce the timeout and cancellation on the whole tree, reap
//! it with its resource usage, and clean up what it left behind.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, bounded, select};
use time::OffsetDateTime;

use super::lines::{LineSplitter, Piece};
use super::platform::{self, Limits};
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
const POLL: Duration = Duration::from_millis(20);

enum Read_ {
    Line(ReadLine),
    Eof,
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
    outcome.pid = Some(pid);
    on_start(pid);

    let (tx, rx) = bounded::<Read_>(1024);
    let mut readers = Vec::new();
    for (stream, pipe) in [
        (Stream::Stdout, child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>)),
        (Stream::Stderr, child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>)),
    ] {
        let Some(mut pipe) = pipe else { continue };
        let tx = tx.clone();
        let clock_now = ClockStamp::new(clock);
        readers.push(std::thread::Builder::new().name("husky-pipe".into()).spawn(move || {
            let mut splitter = LineSplitter::new();
            let mut buf = vec![0u8; CHUNK];
            let send = |piece: Piece| {
                let _ = tx.send(Read_::Line(ReadLine { stream, piece, at: clock_now.now() }));
            };
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => splitter.push(&buf[..n], &mut |p| send(p)),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            splitter.finish(&mut |p| send(p));
            let _ = tx.send(Read_::Eof);
        }));
    }
    drop(tx);

    let deadline = started + spec.timeout;
    let mut open = readers.iter().filter(|r| r.is_ok()).count();
    let mut reaped = None;
    let mut exited_at: Option<Instant> = None;
    let mut kill_at: Option<Instant> = None;
    loop {
        // Reap the main process as soon as it exits (keeps its rusage).
        if reaped.is_none()
            && let Ok(Some(r)) = platform::try_reap(&mut child)
        {
            reaped = Some(r);
            exited_at = Some(clock.monotonic());
        }
        if open == 0 && reaped.is_some() {
            break;
        }
        let now = clock.monotonic();
        // Leftovers hold the pipes after the main process exited: give them a short window.
        if exited_at.is_some_and(|at| now >= at + spec.drain) {
            if platform::group_alive(pid) || open > 0 {
                outcome.leftovers_killed = true;
                let _ = platform::kill_group(pid);
                platform::kill_escaped(spec.run_id, pid);
            }
            exited_at = None;
        }
        if !outcome.timed_out && !outcome.cancelled && now >= deadline {
            outcome.timed_out = true;
            let _ = platform::terminate_group(pid);
            kill_at = Some(now + spec.kill_grace);
        }
        if kill_at.is_some_and(|at| now >= at) {
            let _ = platform::kill_group(pid);
            platform::kill_escaped(spec.run_id, pid);
            kill_at = None;
        }
        select! {
            recv(rx) -> msg => match msg {
                Ok(Read_::Line(line)) => {
                    sink.line(line);
                    if rx.is_empty() {
                        sink.idle();
                    }
                }
                Ok(Read_::Eof) => open = open.saturating_sub(1),
                Err(_) => open = 0,
            },
            recv(cancel) -> msg => {
                if msg.is_ok() && !outcome.cancelled && !outcome.timed_out {
                    outcome.cancelled = true;
                    let _ = platform::terminate_group(pid);
                    kill_at = Some(clock.monotonic() + spec.kill_grace);
                }
            },
            default(POLL) => sink.idle(),
        }
    }
    sink.idle();
    // Whatever is left of the group goes now (jobs must not leave processes behind).
    if platform::group_alive(pid) {
        outcome.leftovers_killed = true;
        let _ = platform::kill_group(pid);
    }
    if platform::kill_escaped(spec.run_id, pid) > 0 {
        outcome.leftovers_killed = true;
    }
    for r in readers.into_iter().flatten() {
        let _ = r.join();
    }
    if let Some(r) = reaped {
        outcome.exit_code = r.code;
        outcome.signal = r.signal;
        outcome.cpu_user_ms = r.cpu_user_ms;
        outcome.cpu_sys_ms = r.cpu_sys_ms;
        outcome.max_rss_kb = r.max_rss_kb;
    }
    outcome.duration = clock.monotonic().duration_since(started);
    outcome
}

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
