//! The relay in front of every API listener: TCP `api.addr`, the unix socket `husky.sock`
//! (Unix) and `metrics.addr` (when metrics have a listener of their own). One thread accepts
//! their connections, terminates TLS on `api.addr` when `api.tls` is on (rustls with the ring
//! provider; the socket and the metrics listener stay plain), and relays each connection's
//! plaintext to one private tiny_http server (a unix socket in the data directory; a loopback
//! port on Windows) whose requests all go to the router.
//!
//! Why a relay: tiny_http serves only the listeners it opens itself, brings TLS only through
//! rustls 0.20/ring 0.16 (open advisories), spawns one thread per connection without a limit,
//! keeps an acceptor and four pool threads per server, and has no timeouts. The relay is a
//! single `poll` loop over every listener and connection, so that it costs one thread in all;
//! tiny_http's thread for a connection exists only from the connection's first request on
//! (connections that send nothing cost no thread), and there are at most
//! `api.max_connections` of those per listener. The relay also enforces `api.timeouts` on
//! every listener, and when a listener is at its limit a new connection takes the place of
//! that listener's longest-quiet connection that is between requests (connections that never
//! sent a request first); when none is, new ones wait in the listen backlog until a
//! connection ends. Each listener has a limit of its own: a flood on one (the metrics port,
//! say) never takes the local CLI's place.
//!
//! Every request carries `X-Husky-Relay: <secret> <listener> [<client address>]` to the
//! private server (`api` and `metrics` with the client's address, `socket` without): the router
//! learns which listener the request came in on (the socket's requests are trusted as admin,
//! the metrics listener serves metrics alone) and who the client is. A client's own copy of the
//! header is dropped, so no client can claim another listener, and requests that reach the
//! private server some other way are refused (see `api::serve`).

mod conn;
pub mod framer;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use conn::Conn;
pub use conn::Timeouts;

use super::Listener;
use crate::clock::Clock;
use crate::daemon::{Backend, Listening, Wait};
use crate::log::Logger;

/// Connections accepted from one listener in one turn of the loop at most (the others wait for
/// the next turn).
const ACCEPT_BATCH: usize = 64;

/// How long accepting pauses after the system refused an accept (out of descriptors).
const ACCEPT_PAUSE: Duration = Duration::from_millis(250);

/// How often at most the log says that a listener is at its limit.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// How long connections still busy when the daemon stops get to finish.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// One listening socket of the relay.
#[derive(Debug)]
pub struct Door {
    /// Which listener it is (its requests tell the router so).
    pub kind: Listener,
    /// The socket.
    pub listener: Box<dyn Listening>,
    /// TLS (`None`: plain HTTP).
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// How the relay serves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Connections open at once on each listener (`api.max_connections`).
    pub max_connections: usize,
    /// `api.timeouts`.
    pub timeouts: Timeouts,
    /// The secret of the `X-Husky-Relay` header.
    pub secret: String,
}

/// The running relay thread.
#[derive(Debug)]
pub struct Relay {
    stop: Arc<AtomicBool>,
    waker: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl Relay {
    /// Starts relaying the connections of every door to `backend`.
    pub fn start(
        doors: Vec<Door>,
        backend: Backend,
        settings: Settings,
        log: Logger,
        clock: Arc<dyn Clock>,
    ) -> std::io::Result<Relay> {
        for d in &doors {
            d.listener.set_nonblocking()?;
        }
        let waker = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        waker.set_nonblocking(true)?;
        let waker_addr = waker.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let doors = doors
            .into_iter()
            .map(|door| Entrance { door, accept_paused_until: None, warned_at: None })
            .collect();
        let front = Front {
            doors,
            waker,
            backend,
            settings,
            log,
            clock,
            stop: stop.clone(),
            conns: Vec::new(),
        };
        let thread = std::thread::Builder::new()
            .name("husky-http-relay".into())
            .spawn(move || front.run())?;
        Ok(Relay { stop, waker: waker_addr, thread: Some(thread) })
    }

    /// Closes the listeners and every connection, and waits for the thread.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Ok(s) = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)) {
            let _ = s.send_to(&[1], self.waker);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A door and what the relay remembers about accepting from it.
struct Entrance {
    door: Door,
    accept_paused_until: Option<Instant>,
    warned_at: Option<Instant>,
}

/// The relay thread's state.
struct Front {
    doors: Vec<Entrance>,
    /// Woken by [`Relay::stop`].
    waker: UdpSocket,
    backend: Backend,
    settings: Settings,
    log: Logger,
    clock: Arc<dyn Clock>,
    stop: Arc<AtomicBool>,
    /// Every open connection, with the index of the door it came in by.
    conns: Vec<(usize, Conn)>,
}

impl Front {
    fn run(mut self) {
        let mut scratch = vec![0u8; 16 * 1024];
        let mut waits: Vec<Wait> = Vec::new();
        let mut spans: Vec<(usize, usize)> = Vec::new();
        // Once stopping: no new connections, and those in the middle of an answer or a tunnel
        // (a WebSocket saying goodbye, a stream's last events) get a moment to finish.
        let mut drain_until: Option<Instant> = None;
        loop {
            let now = self.clock.monotonic();
            if drain_until.is_none() && self.stop.load(Ordering::SeqCst) {
                drain_until = now.checked_add(DRAIN_GRACE);
            }
            if let Some(until) = drain_until {
                self.conns.retain_mut(|(_, c)| {
                    let done = c.drain();
                    if done {
                        c.close();
                    }
                    !done
                });
                if self.conns.is_empty() || now >= until {
                    break;
                }
            }
            let t = self.settings.timeouts;
            let mut wake = drain_until;
            self.conns.retain_mut(|(_, c)| match c.deadline(&t) {
                Some(d) if d <= now => {
                    c.close();
                    false
                }
                d => {
                    wake = earliest(wake, d);
                    true
                }
            });
            waits.clear();
            spans.clear();
            waits.push(Wait::on(&self.waker, true, false));
            for d in 0..self.doors.len() {
                let (listen, retry_at) = self.may_accept(d, now);
                wake = earliest(wake, retry_at);
                let listen = listen && drain_until.is_none();
                waits.push(Wait::on(&*self.doors[d].door.listener, listen, false));
            }
            for (_, c) in &self.conns {
                let first = waits.len();
                let n = c.waits(&mut waits);
                spans.push((first, n));
            }
            let timeout = wake.map(|w| w.saturating_duration_since(now));
            if let Err(e) = crate::daemon::poll(&mut waits, timeout) {
                self.log.error(&format!("api: waiting on connections failed: {e}"));
                let _ = crossbeam_channel::after(ACCEPT_PAUSE).recv();
                continue;
            }
            let now = self.clock.monotonic();
            if waits[0].readable {
                let mut buf = [0u8; 16];
                while self.waker.recv(&mut buf).is_ok() {}
            }
            let mut ended = Vec::new();
            for (i, &(first, n)) in spans.iter().enumerate() {
                let ws = &waits[first..first + n];
                if ws[0].failed {
                    // The client has reset or gone: nothing can reach it any more.
                    ended.push(i);
                    continue;
                }
                if ws.get(1).is_some_and(|w| w.failed) {
                    self.conns[i].1.backend_hung_up();
                }
                if ws.iter().any(|w| w.readable || w.writable) && !self.pump(i, now, &mut scratch) {
                    ended.push(i);
                }
            }
            // Highest first: each removal moves the last connection, never one still to remove.
            for i in ended.into_iter().rev() {
                self.conns.swap_remove(i).1.close();
            }
            for d in 0..self.doors.len() {
                if waits[1 + d].readable {
                    self.accept(d, now);
                }
            }
        }
        for (_, mut c) in self.conns.drain(..) {
            c.close();
        }
    }

    /// Pumps connection `i`; whether it stays open.
    fn pump(&mut self, i: usize, now: Instant, scratch: &mut [u8]) -> bool {
        let Some((_, c)) = self.conns.get_mut(i) else { return true };
        let backend = &self.backend;
        let pumped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            c.pump(now, backend, scratch)
        }));
        match pumped {
            Ok(Ok(())) => !c.finished(),
            Ok(Err(e)) => {
                self.log.debug(&format!("api: a connection closed: {e}"));
                false
            }
            Err(_) => {
                self.log.error("api: internal error while relaying a connection (a bug)");
                false
            }
        }
    }

    /// Connections open now that came in by door `d`.
    fn open(&self, d: usize) -> usize {
        self.conns.iter().filter(|(door, _)| *door == d).count()
    }

    /// Whether to accept from door `d` now, and else when to look again.
    fn may_accept(&self, d: usize, now: Instant) -> (bool, Option<Instant>) {
        if let Some(until) = self.doors[d].accept_paused_until.filter(|u| *u > now) {
            return (false, Some(until));
        }
        if self.open(d) < self.settings.max_connections {
            return (true, None);
        }
        match self.victim(d) {
            Some((_, at)) if at <= now => (true, None),
            Some((_, at)) => (false, Some(at)),
            None => (false, None),
        }
    }

    /// The connection of door `d` a new one would replace: its index and from when.
    fn victim(&self, d: usize) -> Option<(usize, Instant)> {
        self.conns
            .iter()
            .enumerate()
            .filter(|(_, (door, _))| *door == d)
            .filter_map(|(i, (_, c))| c.evictable_from().map(|(served, at)| (served, at, i)))
            .min()
            .map(|(_, at, i)| (i, at))
    }

    fn accept(&mut self, d: usize, now: Instant) {
        for _ in 0..ACCEPT_BATCH {
            let full = self.open(d) >= self.settings.max_connections;
            if full && self.victim(d).is_none_or(|(_, at)| at > now) {
                self.say_full(d, now);
                return;
            }
            let door = &self.doors[d].door;
            match door.listener.accept_stream() {
                Ok((stream, peer)) => {
                    if full && let Some((i, _)) = self.victim(d) {
                        self.conns.swap_remove(i).1.close();
                    }
                    let door = &self.doors[d].door;
                    let origin = match peer {
                        Some(p) => format!("{} {p}", door.kind.tag()),
                        None => door.kind.tag().to_owned(),
                    };
                    let (tls, secret) = (door.tls.as_ref(), &self.settings.secret);
                    match Conn::new(stream, &origin, now, tls, secret) {
                        Ok(c) => self.conns.push((d, c)),
                        Err(e) => self.log.debug(&format!("api: cannot serve {origin}: {e}")),
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::Interrupted
                            | std::io::ErrorKind::ConnectionAborted
                            | std::io::ErrorKind::ConnectionReset
                    ) => {}
                Err(e) => {
                    // Out of descriptors, most likely: pause rather than spin.
                    let entrance = &mut self.doors[d];
                    if entrance.warned_at.is_none_or(|w| now.duration_since(w) >= WARN_EVERY) {
                        self.log.warn(&format!(
                            "api: cannot accept connections on {}: {e}",
                            entrance.door.kind.describe()
                        ));
                        entrance.warned_at = Some(now);
                    }
                    entrance.accept_paused_until = now.checked_add(ACCEPT_PAUSE);
                    return;
                }
            }
        }
    }

    fn say_full(&mut self, d: usize, now: Instant) {
        let open = self.open(d);
        let entrance = &mut self.doors[d];
        if entrance.warned_at.is_none_or(|w| now.duration_since(w) >= WARN_EVERY) {
            self.log.warn(&format!(
                "api: {open} connections are open on {} (api.max_connections); new ones wait",
                entrance.door.kind.describe()
            ));
            entrance.warned_at = Some(now);
        }
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
