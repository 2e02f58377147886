//! systemd service notifications (`Type=notify`, `Type=notify-reload`, `WatchdogSec=`): when
//! `NOTIFY_SOCKET` is set, one small thread owns the socket and sends `READY=1` once the API
//! listens, `RELOADING=1` / `READY=1` around a reload, `STOPPING=1` when a shutdown begins, and
//! `WATCHDOG=1` every `process.watchdog_interval` (unset: half of `WATCHDOG_USEC`, when
//! `WATCHDOG_PID` is unset or ours). Without `NOTIFY_SOCKET` there is no thread and every
//! notification is a no-op. The socket itself is platform code (`unix.rs`; none on Windows).

use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, never, select, tick, unbounded};

use super::platform::{Notifier, monotonic_usec};
use crate::log::Logger;

/// What the notifier thread takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Note {
    /// Started, or a reload finished: `READY=1`.
    Ready,
    /// A reload begins: `RELOADING=1` with `MONOTONIC_USEC`.
    Reloading,
}

/// Sends notifications to systemd (a no-op when the daemon does not run under it). Cheap to
/// clone; never blocks.
#[derive(Debug, Clone, Default)]
pub struct Systemd {
    notes: Option<Sender<Note>>,
    stopping: Option<Sender<()>>,
}

impl Systemd {
    /// `READY=1`: the daemon serves (after start-up, and after a reload).
    pub fn ready(&self) {
        self.note(Note::Ready);
    }

    /// `RELOADING=1`: a reload begins (`ready` must follow).
    pub fn reloading(&self) {
        self.note(Note::Reloading);
    }

    /// Where the engine says, once, that a shutdown begins (`STOPPING=1`).
    pub fn stopping(&self) -> Option<Sender<()>> {
        self.stopping.clone()
    }

    fn note(&self, n: Note) {
        if let Some(tx) = &self.notes {
            let _ = tx.try_send(n);
        }
    }
}

/// The notifier thread; dropping it sends `STOPPING=1` (if the engine has not) and joins it.
#[derive(Debug)]
pub struct Pinger {
    quit: Option<Sender<()>>,
    join: Option<JoinHandle<()>>,
}

impl Drop for Pinger {
    fn drop(&mut self) {
        self.quit.take();
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

/// Starts the notifier when `NOTIFY_SOCKET` is set: the handle, and the thread to drop at exit.
pub fn start(
    configured: Option<time::Duration>,
    log: &Logger,
) -> std::io::Result<(Systemd, Option<Pinger>)> {
    let notifier = match Notifier::from_env() {
        None => return Ok((Systemd::default(), None)),
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            log.warn(&format!("systemd: cannot use NOTIFY_SOCKET ({e}); not notifying"));
            return Ok((Systemd::default(), None));
        }
    };
    let usec = std::env::var("WATCHDOG_USEC").ok();
    let pid = std::env::var("WATCHDOG_PID").ok();
    let every = watchdog_interval(configured, usec.as_deref(), pid.as_deref(), std::process::id());
    log.info(&match every {
        Some(d) => format!("systemd: notifying, watchdog every {:.3} s", d.as_secs_f64()),
        None => "systemd: notifying (no watchdog)".to_owned(),
    });
    let (notes_tx, notes) = unbounded();
    let (stopping_tx, stopping) = crossbeam_channel::bounded(1);
    let (quit_tx, quit) = crossbeam_channel::bounded(0);
    let thread = Thread { notifier, log: log.clone(), failing: false, stopped: false };
    let join = std::thread::Builder::new()
        .name("husky-systemd".into())
        .spawn(move || thread.run(&notes, &stopping, &quit, every))?;
    let handle = Systemd { notes: Some(notes_tx), stopping: Some(stopping_tx) };
    Ok((handle, Some(Pinger { quit: Some(quit_tx), join: Some(join) })))
}

/// The watchdog period: `configured` when positive, else half of `WATCHDOG_USEC` when
/// `WATCHDOG_PID` is unset or `our_pid`; `None`: no watchdog.
pub fn watchdog_interval(
    configured: Option<time::Duration>,
    usec: Option<&str>,
    pid: Option<&str>,
    our_pid: u32,
) -> Option<Duration> {
    if let Some(d) = configured.filter(|d| d.is_positive()) {
        return Duration::try_from(d).ok();
    }
    if pid.is_some_and(|p| p.trim().parse::<u32>().ok() != Some(our_pid)) {
        return None;
    }
    let usec: u64 = usec?.trim().parse().ok().filter(|u| *u > 0)?;
    Some(Duration::from_micros(usec / 2).max(Duration::from_millis(1)))
}

struct Thread {
    notifier: Notifier,
    log: Logger,
    failing: bool,
    stopped: bool,
}

impl Thread {
    fn run(
        mut self,
        notes: &Receiver<Note>,
        stopping: &Receiver<()>,
        quit: &Receiver<()>,
        every: Option<Duration>,
    ) {
        let ticks = every.map_or_else(never, tick);
        let (mut notes, mut stopping) = (notes.clone(), stopping.clone());
        loop {
            select! {
                recv(notes) -> n => match n {
                    Ok(Note::Ready) => self.send("READY=1"),
                    Ok(Note::Reloading) => {
                        let at = monotonic_usec().map(|u| format!("\nMONOTONIC_USEC={u}"));
                        self.send(&format!("RELOADING=1{}", at.unwrap_or_default()));
                    }
                    Err(_) => notes = never(),
                },
                recv(stopping) -> s => {
                    if s.is_ok() {
                        self.stop();
                    }
                    stopping = never();
                },
                recv(ticks) -> _ => self.send("WATCHDOG=1"),
                recv(quit) -> _ => {
                    self.stop();
                    return;
                }
            }
        }
    }

    fn stop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            self.send("STOPPING=1");
        }
    }

    fn send(&mut self, state: &str) {
        match self.notifier.send(state) {
            Ok(()) => self.failing = false,
            Err(e) if !self.failing => {
                self.failing = true;
                self.log.warn(&format!("systemd: cannot notify ({e}); going on"));
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: i64) -> Option<time::Duration> {
        Some(time::Duration::seconds(s))
    }

    #[test]
    fn the_watchdog_interval_is_configured_or_half_of_systemds() {
        let d = Duration::from_secs;
        assert_eq!(watchdog_interval(secs(10), Some("30000000"), None, 7), Some(d(10)));
        assert_eq!(watchdog_interval(None, Some("30000000"), None, 7), Some(d(15)));
        assert_eq!(watchdog_interval(secs(0), Some("30000000"), Some("7"), 7), Some(d(15)));
        // Meant for another process, or nothing asked.
        assert_eq!(watchdog_interval(None, Some("30000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval(None, None, None, 7), None);
        assert_eq!(watchdog_interval(None, Some("0"), None, 7), None);
        assert_eq!(watchdog_interval(None, Some("soon"), None, 7), None);
        // The configured interval wins even when WATCHDOG_PID names another process.
        assert_eq!(watchdog_interval(secs(2), None, Some("8"), 7), Some(d(2)));
    }
}
