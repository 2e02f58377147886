//! One client connection of the relay: its socket (TCP, plain or TLS through a rustls server
//! connection, or the local unix socket), the stream to the private HTTP server (opened at the first request, so that
//! connections which never send one cost no server thread), the bytes on their way in each
//! direction, and its deadlines. Everything is non-blocking: the relay's loop calls
//! [`Conn::pump`] when one of its sockets is ready and closes it at [`Conn::deadline`].

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ServerConnection;

use super::framer::{Fed, Framer, Phase, Reject};
use crate::daemon::{Backend, BackendStream, Stream, Wait};

/// Bytes held in one direction before the relay stops reading from the side that sends them.
const BUFFER: usize = 64 * 1024;

/// How long a connection must have been quiet before a new one may take its place.
pub const EVICT_QUIET: Duration = Duration::from_millis(100);

/// `api.timeouts`.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From the connection (or a request's first byte) to the end of its head, TLS handshake
    /// included.
    pub read_header: Duration,
    /// From a request's first byte to the end of its body.
    pub read: Duration,
    /// How long an answer may wait for the client to take it.
    pub write: Duration,
    /// How long a connection may stay silent between requests (both ways).
    pub idle: Duration,
}

/// One client connection.
#[derive(Debug)]
pub struct Conn {
    client: Box<dyn Stream>,
    tls: Option<Box<ServerConnection>>,
    backend: Option<BackendStream>,
    framer: Framer,
    to_backend: Vec<u8>,
    to_client: Vec<u8>,
    /// The client's TCP stream has ended (TLS: there may still be plaintext inside rustls).
    tcp_eof: bool,
    /// Nothing more will be taken from the client (it ended, or was refused).
    client_done: bool,
    /// The private server has ended its side (or failed).
    backend_eof: bool,
    /// The private server has been told that no more requests come.
    backend_shut: bool,
    /// The private server's socket has hung up: it is read until its end without waiting on it.
    backend_hup: bool,
    accepted: Instant,
    /// When the request being received began (the connection's start for its first one).
    request_since: Option<Instant>,
    /// The last time bytes moved, either way.
    last_activity: Instant,
    /// Since when an answer has been waiting for the client to take it.
    write_wait: Option<Instant>,
    /// A request was received and no byte of an answer has come yet.
    awaiting: bool,
    /// At least one request was received.
    served: bool,
    /// The first byte has been looked at (TLS: plain HTTP sent to the TLS port is answered).
    sniffed: bool,
}

impl Conn {
    /// A connection accepted at `now` (non-blocking) whose requests are tagged with `origin`
    /// (see [`Framer::new`]); TLS when `tls` is given.
    pub fn new(
        client: Box<dyn Stream>,
        origin: &str,
        now: Instant,
        tls: Option<&Arc<rustls::ServerConfig>>,
        secret: &str,
    ) -> io::Result<Conn> {
        let tls = match tls {
            Some(config) => {
                let mut c = ServerConnection::new(config.clone()).map_err(io::Error::other)?;
                c.set_buffer_limit(Some(BUFFER));
                Some(Box::new(c))
            }
            None => None,
        };
        Ok(Conn {
            client,
            tls,
            backend: None,
            framer: Framer::new(secret, origin),
            to_backend: Vec::new(),
            to_client: Vec::new(),
            tcp_eof: false,
            client_done: false,
            backend_eof: false,
            backend_shut: false,
            backend_hup: false,
            accepted: now,
            request_since: Some(now),
            last_activity: now,
            write_wait: None,
            awaiting: false,
            served: false,
            sniffed: false,
        })
    }

    /// The sockets to wait on and what for: the client's, then the private server's if open.
    pub fn waits(&self, out: &mut Vec<Wait>) -> usize {
        let room_in = self.to_backend.len() < BUFFER;
        let read = match &self.tls {
            None => !self.client_done && room_in,
            Some(t) => !self.client_done && !self.tcp_eof && room_in && t.wants_read(),
        };
        out.push(Wait::on(&*self.client, read, self.client_pending()));
        match &self.backend {
            Some(b) if !self.backend_eof && !self.backend_hup => {
                let read = !self.backend_eof && self.to_client.len() < BUFFER;
                out.push(Wait::on(b, read, !self.to_backend.is_empty()));
                2
            }
            _ => 1,
        }
    }

    /// The private server's socket has hung up (a hang-up stays reported: waiting on it again
    /// would return at once). What it holds is still read, whenever the connection is pumped.
    pub fn backend_hung_up(&mut self) {
        self.backend_hup = true;
    }

    /// Moves every byte that can move now. `Err`: the connection is broken and must close.
    pub fn pump(&mut self, now: Instant, backend: &Backend, scratch: &mut [u8]) -> io::Result<()> {
        for _ in 0..16 {
            let mut progress = self.read_client(now, scratch)?;
            progress |= self.write_backend(backend);
            progress |= self.read_backend(now, scratch);
            progress |= self.write_client(now)?;
            if !progress {
                break;
            }
        }
        if self.client_done && self.to_backend.is_empty() && !self.backend_shut {
            if let Some(b) = &self.backend {
                let _ = b.shutdown(Shutdown::Write);
            }
            self.backend_shut = true;
        }
        Ok(())
    }

    /// The daemon is stopping: a connection between requests takes no more (its server is
    /// told so and ends it); one in the middle of an answer or a tunnel goes on. Whether it
    /// can close at once.
    pub fn drain(&mut self) -> bool {
        if matches!(self.framer.phase(), Phase::Idle | Phase::Head) && !self.awaiting {
            self.client_done = true;
        }
        !self.served || self.finished()
    }

    /// Whether the connection has nothing left to do: the server has ended (or will never be
    /// asked anything more) and the client has everything.
    pub fn finished(&self) -> bool {
        if self.client_pending() {
            return false;
        }
        self.backend_eof || (self.client_done && self.backend.is_none())
    }

    /// When the connection is to be closed, whatever it is doing (`None`: never).
    pub fn deadline(&self, t: &Timeouts) -> Option<Instant> {
        let mut d = match (self.framer.phase(), self.request_since) {
            (Phase::Head | Phase::Idle, Some(since)) => since.checked_add(t.read_header),
            (Phase::Body, Some(since)) => since.checked_add(t.read),
            _ => self.last_activity.checked_add(t.idle),
        };
        if self.tls.as_ref().is_some_and(|c| c.is_handshaking()) {
            d = min(d, self.accepted.checked_add(t.read_header));
        }
        if let Some(w) = self.write_wait {
            d = min(d, w.checked_add(t.write));
        }
        d
    }

    /// From when a new connection may take this one's place (`None`: not while it is in the
    /// middle of a request or an answer). The key orders candidates: connections that never
    /// sent a complete request go first, then the longest quiet.
    pub fn evictable_from(&self) -> Option<(bool, Instant)> {
        let between = matches!(self.framer.phase(), Phase::Idle | Phase::Head);
        let busy = self.awaiting
            || self.client_done
            || !self.to_backend.is_empty()
            || self.client_pending();
        (between && !busy)
            .then(|| self.last_activity.checked_add(EVICT_QUIET).map(|at| (self.served, at)))
            .flatten()
    }

    /// Closes the connection now (TLS: with a close_notify when it can be sent at once).
    pub fn close(&mut self) {
        if let Some(tls) = &mut self.tls {
            tls.send_close_notify();
            while tls.wants_write() {
                if tls.write_tls(&mut self.client).is_err() {
                    break;
                }
            }
        }
        // Unread input would make the close a reset, which can destroy an answer the client
        // has not read yet: take what has arrived, then end our side.
        let mut sink = [0u8; 4096];
        for _ in 0..16 {
            if !matches!(self.client.read(&mut sink), Ok(n) if n > 0) {
                break;
            }
        }
        let _ = self.client.shutdown_write();
    }

    fn client_pending(&self) -> bool {
        !self.to_client.is_empty() || self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Reads what the client sent (deciphered) and frames it toward the private server.
    fn read_client(&mut self, now: Instant, scratch: &mut [u8]) -> io::Result<bool> {
        if self.client_done || self.to_backend.len() >= BUFFER {
            return Ok(false);
        }
        if self.tls.is_some() && !self.sniffed {
            let mut first = [0u8; 1];
            match self.client.peek(&mut first) {
                // A TLS record starts with its type (0x14..0x17); a letter is an HTTP method.
                Ok(1) if first[0].is_ascii_uppercase() => {
                    self.tls = None;
                    self.refuse(400, "this port serves HTTPS: use https://");
                    return Ok(true);
                }
                Ok(_) => self.sniffed = true,
                Err(e) if retry(&e) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        let room = (BUFFER - self.to_backend.len()).min(scratch.len());
        let buf = &mut scratch[..room];
        let (n, mut progress) = match &mut self.tls {
            None => match self.client.read(buf) {
                Ok(0) => {
                    self.tcp_eof = true;
                    self.client_done = true;
                    return Ok(true);
                }
                Ok(n) => (n, true),
                Err(e) if retry(&e) => return Ok(false),
                Err(e) => return Err(e),
            },
            Some(tls) => {
                let mut progress = false;
                if !self.tcp_eof && tls.wants_read() {
                    match tls.read_tls(&mut self.client) {
                        Ok(0) => self.tcp_eof = true,
                        Ok(_) => progress = true,
                        Err(e) if retry(&e) => {}
                        Err(e) => return Err(e),
                    }
                    if let Err(e) = tls.process_new_packets() {
                        // Tell the client why (an alert), then close.
                        let _ = tls.write_tls(&mut self.client);
                        return Err(io::Error::other(format!("TLS: {e}")));
                    }
                }
                match tls.reader().read(buf) {
                    Ok(0) => {
                        self.client_done = true;
                        (0, true)
                    }
                    Ok(n) => (n, true),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if self.tcp_eof {
                            self.client_done = true;
                        }
                        (0, progress || self.tcp_eof)
                    }
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        self.client_done = true;
                        (0, true)
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        if n > 0 {
            self.last_activity = now;
            let fed = self.framer.feed(&scratch[..n], &mut self.to_backend);
            self.framed(fed, now);
            progress = true;
        }
        Ok(progress)
    }

    /// Notes what the framer saw: requests that began or ended, or a refusal.
    fn framed(&mut self, fed: Result<Fed, Reject>, now: Instant) {
        match fed {
            Ok(fed) => {
                if fed.ended > 0 {
                    self.request_since = None;
                    self.awaiting = true;
                    self.served = true;
                }
                if matches!(self.framer.phase(), Phase::Head | Phase::Body)
                    && self.request_since.is_none()
                {
                    self.request_since = Some(now);
                }
            }
            Err(reject) => self.refuse(reject.status, reject.message),
        }
    }

    /// Takes nothing more from the client; when no request has reached the private server on
    /// this connection, answers `status` itself.
    fn refuse(&mut self, status: u16, message: &str) {
        self.client_done = true;
        if self.backend.is_none() {
            self.to_backend.clear();
            self.to_client.extend_from_slice(&error_response(status, message));
        }
    }

    /// Sends framed requests to the private server, connecting at the first.
    fn write_backend(&mut self, backend: &Backend) -> bool {
        if self.to_backend.is_empty() {
            return false;
        }
        if self.backend.is_none() {
            let connected = backend.connect().and_then(|s| s.set_nonblocking(true).map(|()| s));
            match connected {
                Ok(s) => self.backend = Some(s),
                Err(_) => {
                    self.refuse(503, "the API's HTTP server does not answer; try again");
                    self.backend_eof = true;
                    return true;
                }
            }
        }
        let Some(b) = &mut self.backend else { return false };
        match b.write(&self.to_backend) {
            Ok(n) if n > 0 => {
                self.to_backend.drain(..n);
                true
            }
            Err(e) if retry(&e) => false,
            // The server has closed its side: nothing more can be sent.
            Ok(_) | Err(_) => {
                self.to_backend.clear();
                self.client_done = true;
                true
            }
        }
    }

    /// Reads the private server's answers toward the client.
    fn read_backend(&mut self, now: Instant, scratch: &mut [u8]) -> bool {
        if self.backend_eof || self.to_client.len() >= BUFFER {
            return false;
        }
        let Some(b) = &mut self.backend else { return false };
        let room = (BUFFER - self.to_client.len()).min(scratch.len());
        let n = match b.read(&mut scratch[..room]) {
            Ok(n) if n > 0 => n,
            Err(e) if retry(&e) => return false,
            // The server has ended its side (or failed): what it sent is still delivered.
            Ok(_) | Err(_) => {
                self.backend_eof = true;
                return true;
            }
        };
        self.last_activity = now;
        self.awaiting = false;
        let bytes = &scratch[..n];
        let fed = self.framer.answer(bytes, &mut self.to_backend);
        self.framed(fed, now);
        self.to_client.extend_from_slice(bytes);
        true
    }

    /// Sends answers to the client (enciphered).
    fn write_client(&mut self, now: Instant) -> io::Result<bool> {
        let mut progress = false;
        match &mut self.tls {
            None => {
                while !self.to_client.is_empty() {
                    match self.client.write(&self.to_client) {
                        Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                        Ok(n) => {
                            self.to_client.drain(..n);
                            progress = true;
                        }
                        Err(e) if retry(&e) => break,
                        Err(e) => return Err(e),
                    }
                }
            }
            Some(tls) => {
                if !self.to_client.is_empty() {
                    let n = tls.writer().write(&self.to_client)?;
                    self.to_client.drain(..n);
                    progress |= n > 0;
                }
                while tls.wants_write() {
                    match tls.write_tls(&mut self.client) {
                        Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                        Ok(_) => progress = true,
                        Err(e) if retry(&e) => break,
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        if progress {
            self.last_activity = now;
        }
        self.write_wait = match (self.client_pending(), self.write_wait) {
            (false, _) => None,
            (true, Some(since)) if !progress => Some(since),
            (true, _) => Some(now),
        };
        Ok(progress)
    }
}

fn min(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Whether an I/O error only means "not now".
fn retry(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted)
}

/// An answer of the relay's own, in the API's error shape; the connection closes after it.
pub fn error_response(status: u16, message: &str) -> Vec<u8> {
    let reason = match status {
        400 => "Bad Request",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    };
    let body = format!("{}\n", serde_json::json!({ "error": message }));
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
