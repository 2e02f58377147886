//! The relay's view of what a client sends: where each request head ends, how long its body
//! is, and whether the connection turns into a tunnel (a protocol upgrade such as WebSocket).
//! The relay needs it to time heads and bodies separately (`api.timeouts.read_header` and
//! `read`), to know when a connection is between requests (`idle`), and to add one header to
//! every head: `X-Husky-Relay: <secret> <origin>`, which tells the router which listener the
//! request came in on and who the client is (any copy the client sent is dropped). Bytes in, bytes out: no I/O, no clock.
//!
//! Ambiguous framing is refused rather than guessed (both `Content-Length` and
//! `Transfer-Encoding`, differing lengths, folded header lines), so that the relay and the HTTP
//! server behind it always agree on where a request ends.

/// The header the relay adds to every request (and drops from what clients send).
pub const RELAY_HEADER: &str = "X-Husky-Relay";

/// The largest request head accepted (request line and headers).
pub const MAX_HEAD: usize = 32 * 1024;

/// The longest chunk-size line of a chunked body.
const MAX_CHUNK_LINE: usize = 1024;

/// Client bytes held while the answer to an upgrade request is awaited.
const MAX_HELD: usize = 64 * 1024;

/// Where the client's byte stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Between requests (or waiting for the answer to an upgrade request).
    Idle,
    /// Inside a request head.
    Head,
    /// Inside a request body.
    Body,
    /// An upgraded connection: bytes pass unframed both ways.
    Tunnel,
}

/// Why a request was refused: the status and message the relay answers with, then closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reject {
    /// The HTTP status.
    pub status: u16,
    /// What was wrong.
    pub message: &'static str,
}

impl Reject {
    const fn bad(message: &'static str) -> Reject {
        Reject { status: 400, message }
    }
}

/// What a call to [`Framer::feed`] saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fed {
    /// A new request began.
    pub began: bool,
    /// Requests that were completely received.
    pub ended: u32,
}

#[derive(Debug)]
enum State {
    Idle,
    Head,
    Fixed(u64),
    Chunked(Chunk),
    /// An upgrade request was forwarded; its answer decides between tunnel and HTTP.
    AwaitUpgrade,
    Tunnel,
}

#[derive(Debug)]
enum Chunk {
    /// The chunk-size line.
    Size,
    /// Data bytes left in this chunk.
    Data(u64),
    /// The CRLF after a chunk's data: bytes of it still expected.
    DataEnd(u8),
    /// Trailer lines after the last chunk, until an empty line.
    Trailer,
}

/// Follows the requests of one connection.
#[derive(Debug)]
pub struct Framer {
    state: State,
    /// The head (or chunk line, or trailer line) being gathered.
    line: Vec<u8>,
    /// The header line added to every head.
    inject: Vec<u8>,
    /// Client bytes received while an upgrade's answer is awaited.
    held: Vec<u8>,
    /// The start of the backend's answer to an upgrade request.
    answer: Vec<u8>,
    /// The request whose body is being received asked for an upgrade.
    upgrade_after_body: bool,
}

impl Framer {
    /// A framer that adds `X-Husky-Relay: <secret> <origin>` to every request head (the
    /// origin: the listener's name, then the client's address when it has one).
    pub fn new(secret: &str, origin: &str) -> Framer {
        Framer {
            state: State::Idle,
            line: Vec::new(),
            inject: format!("{RELAY_HEADER}: {secret} {origin}\r\n").into_bytes(),
            held: Vec::new(),
            answer: Vec::new(),
            upgrade_after_body: false,
        }
    }

    /// Where the stream is.
    pub fn phase(&self) -> Phase {
        match self.state {
            State::Idle | State::AwaitUpgrade => Phase::Idle,
            State::Head => Phase::Head,
            State::Fixed(_) | State::Chunked(_) => Phase::Body,
            State::Tunnel => Phase::Tunnel,
        }
    }

    /// Takes bytes from the client and appends what to forward to `out` (heads only once they
    /// are complete, with the relay's header).
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<Fed, Reject> {
        let mut fed = Fed::default();
        while !input.is_empty() {
            match &mut self.state {
                State::Idle => {
                    // Empty lines before a request line are ignored (RFC 9112 §2.2).
                    let skip = input.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
                    input = &input[skip..];
                    if !input.is_empty() {
                        self.state = State::Head;
                        self.line.clear();
                        fed.began = true;
                    }
                }
                State::Head => {
                    let searched = self.line.len().saturating_sub(3);
                    let room = MAX_HEAD + 1 - self.line.len();
                    let take = input.len().min(room);
                    self.line.extend_from_slice(&input[..take]);
                    let Some(end) = find(&self.line[searched..], b"\r\n\r\n") else {
                        if self.line.len() > MAX_HEAD {
                            return Err(Reject {
                                status: 431,
                                message: "the request head is too large",
                            });
                        }
                        input = &input[take..];
                        continue;
                    };
                    let end = searched + end + 4;
                    // Bytes past the head go back to the input.
                    let used = take - (self.line.len() - end);
                    input = &input[used..];
                    self.line.truncate(end);
                    let head = std::mem::take(&mut self.line);
                    let info = self.rewrite(&head, out)?;
                    self.line = head;
                    self.line.clear();
                    self.state = match info.body {
                        Body::Chunked => State::Chunked(Chunk::Size),
                        Body::Fixed(n) if n > 0 => State::Fixed(n),
                        Body::Fixed(_) => self.ended(info.upgrade, &mut fed),
                    };
                    if let State::Fixed(_) | State::Chunked(_) = self.state {
                        self.upgrade_after_body = info.upgrade;
                    }
                }
                State::Fixed(left) => {
                    let n = usize::try_from(*left).unwrap_or(usize::MAX).min(input.len());
                    out.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    *left -= n as u64;
                    if *left == 0 {
                        let upgrade = std::mem::take(&mut self.upgrade_after_body);
                        self.state = self.ended(upgrade, &mut fed);
                    }
                }
                State::Chunked(chunk) => match chunk {
                    Chunk::Size | Chunk::Trailer => {
                        let Some(nl) = input.iter().position(|&b| b == b'\n') else {
                            self.line.extend_from_slice(input);
                            out.extend_from_slice(input);
                            input = &[];
                            if self.line.len() > MAX_CHUNK_LINE.max(MAX_HEAD) {
                                return Err(Reject::bad("a chunked body has an overlong line"));
                            }
                            continue;
                        };
                        self.line.extend_from_slice(&input[..=nl]);
                        out.extend_from_slice(&input[..=nl]);
                        input = &input[nl + 1..];
                        let line = std::mem::take(&mut self.line);
                        let text = line.strip_suffix(b"\r\n").unwrap_or(&line);
                        if matches!(chunk, Chunk::Trailer) {
                            if text.is_empty() {
                                let upgrade = std::mem::take(&mut self.upgrade_after_body);
                                self.state = self.ended(upgrade, &mut fed);
                            }
                        } else {
                            if text.len() > MAX_CHUNK_LINE {
                                return Err(Reject::bad("a chunk-size line is too long"));
                            }
                            let size = chunk_size(text)
                                .ok_or(Reject::bad("a chunk size is not a hexadecimal number"))?;
                            *chunk = if size == 0 { Chunk::Trailer } else { Chunk::Data(size) };
                        }
                        self.line = line;
                        self.line.clear();
                    }
                    Chunk::Data(left) => {
                        let n = usize::try_from(*left).unwrap_or(usize::MAX).min(input.len());
                        out.extend_from_slice(&input[..n]);
                        input = &input[n..];
                        *left -= n as u64;
                        if *left == 0 {
                            *chunk = Chunk::DataEnd(2);
                        }
                    }
                    Chunk::DataEnd(left) => {
                        let n = usize::from(*left).min(input.len());
                        out.extend_from_slice(&input[..n]);
                        input = &input[n..];
                        *left -= n as u8;
                        if *left == 0 {
                            *chunk = Chunk::Size;
                        }
                    }
                },
                State::AwaitUpgrade => {
                    if self.held.len() + input.len() > MAX_HELD {
                        return Err(Reject::bad("data sent before the upgrade was answered"));
                    }
                    self.held.extend_from_slice(input);
                    input = &[];
                }
                State::Tunnel => {
                    out.extend_from_slice(input);
                    input = &[];
                }
            }
        }
        Ok(fed)
    }

    /// Takes the first bytes of the server's answers. While an upgrade request awaits its
    /// answer, a `101` turns the connection into a tunnel and any other status returns it to
    /// HTTP; the client bytes held meanwhile are then fed on into `out`.
    pub fn answer(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<Fed, Reject> {
        if !matches!(self.state, State::AwaitUpgrade) {
            return Ok(Fed::default());
        }
        // "HTTP/1.1 101" is 12 bytes.
        let want = 12usize.saturating_sub(self.answer.len()).min(bytes.len());
        self.answer.extend_from_slice(&bytes[..want]);
        if self.answer.len() < 12 {
            return Ok(Fed::default());
        }
        let switched = self.answer.starts_with(b"HTTP/1.") && &self.answer[8..12] == b" 101";
        self.answer.clear();
        let held = std::mem::take(&mut self.held);
        if switched {
            self.state = State::Tunnel;
            out.extend_from_slice(&held);
            Ok(Fed::default())
        } else {
            self.state = State::Idle;
            self.feed(&held, out)
        }
    }

    /// A request has been received completely: the state that follows.
    fn ended(&mut self, upgrade: bool, fed: &mut Fed) -> State {
        fed.ended += 1;
        if upgrade { State::AwaitUpgrade } else { State::Idle }
    }

    /// Checks a complete head and writes it to `out` with the relay's header added and any
    /// copy of it dropped.
    fn rewrite(&self, head: &[u8], out: &mut Vec<u8>) -> Result<HeadInfo, Reject> {
        let text = &head[..head.len() - 4];
        let mut lines = text.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let request_line = lines.next().unwrap_or_default();
        let mut parts = request_line.split(|&b| b == b' ');
        let (method, target, version) = (parts.next(), parts.next(), parts.next());
        if parts.next().is_some() || method.is_none_or(<[u8]>::is_empty) || target.is_none() {
            return Err(Reject::bad("the request line is not `METHOD target HTTP/1.x`"));
        }
        match version {
            Some(b"HTTP/1.1" | b"HTTP/1.0") => {}
            Some(v) if v.starts_with(b"HTTP/") => {
                return Err(Reject { status: 505, message: "only HTTP/1.x is served" });
            }
            _ => return Err(Reject::bad("the request line is not `METHOD target HTTP/1.x`")),
        }
        out.extend_from_slice(request_line);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.inject);
        let mut length: Option<u64> = None;
        let (mut chunked, mut upgrade_header, mut connection_upgrade) = (false, false, false);
        for line in lines {
            if line.first().is_some_and(|b| matches!(b, b' ' | b'\t')) {
                return Err(Reject::bad("folded header lines are not accepted"));
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                return Err(Reject::bad("a header line has no colon"));
            };
            let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
            if name.is_empty() || name.iter().any(|b| !is_token(*b)) {
                return Err(Reject::bad("a header name is not a token"));
            }
            if name.eq_ignore_ascii_case(RELAY_HEADER.as_bytes()) {
                continue;
            }
            if name.eq_ignore_ascii_case(b"content-length") {
                let n = std::str::from_utf8(value)
                    .ok()
                    .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or(Reject::bad("Content-Length is not a number"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(Reject::bad("two different Content-Length headers"));
                }
                length = Some(n);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                if chunked || !value.eq_ignore_ascii_case(b"chunked") {
                    return Err(Reject {
                        status: 501,
                        message: "only Transfer-Encoding: chunked is accepted",
                    });
                }
                chunked = true;
            } else if name.eq_ignore_ascii_case(b"upgrade") {
                upgrade_header = true;
            } else if name.eq_ignore_ascii_case(b"connection") {
                connection_upgrade |=
                    value.split(|&b| b == b',').any(|t| trim(t).eq_ignore_ascii_case(b"upgrade"));
            }
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if chunked && length.is_some() {
            return Err(Reject::bad("both Content-Length and Transfer-Encoding"));
        }
        let body = if chunked { Body::Chunked } else { Body::Fixed(length.unwrap_or(0)) };
        Ok(HeadInfo { body, upgrade: upgrade_header && connection_upgrade })
    }
}

#[derive(Debug)]
enum Body {
    Fixed(u64),
    Chunked,
}

#[derive(Debug)]
struct HeadInfo {
    body: Body,
    upgrade: bool,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|b| !matches!(b, b' ' | b'\t')).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !matches!(b, b' ' | b'\t')).map_or(start, |e| e + 1);
    &s[start..end]
}

/// A token character of RFC 9110 §5.6.2.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The size of a chunk-size line (`1a`, `1A;ext=x`).
fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = trim(line.split(|&b| b == b';').next().unwrap_or_default());
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: &str = "X-Husky-Relay: s3cret api 10.0.0.7:5000\r\n";

    fn framer() -> Framer {
        Framer::new("s3cret", "api 10.0.0.7:5000")
    }

    /// Feeds `input` in pieces of `step` bytes; what went out, and the totals.
    fn run(f: &mut Framer, input: &str, step: usize) -> (String, Result<Fed, Reject>) {
        let mut out = Vec::new();
        let mut total = Fed::default();
        for piece in input.as_bytes().chunks(step.max(1)) {
            match f.feed(piece, &mut out) {
                Ok(fed) => {
                    total.began |= fed.began;
                    total.ended += fed.ended;
                }
                Err(r) => return (String::from_utf8_lossy(&out).into_owned(), Err(r)),
            }
        }
        (String::from_utf8_lossy(&out).into_owned(), Ok(total))
    }

    #[test]
    fn heads_get_the_relay_header_and_lose_forged_ones_whatever_the_pieces() {
        let input =
            "GET /api/status HTTP/1.1\r\nHost: x\r\nx-husky-relay: forged 1.2.3.4:1\r\n\r\n";
        let expected = format!("GET /api/status HTTP/1.1\r\n{TAG}Host: x\r\n\r\n");
        for step in [1, 2, 3, 5, 1000] {
            let mut f = framer();
            let (out, fed) = run(&mut f, input, step);
            assert_eq!(out, expected, "step {step}");
            assert_eq!(fed, Ok(Fed { began: true, ended: 1 }), "step {step}");
            assert_eq!(f.phase(), Phase::Idle);
        }
    }

    #[test]
    fn bodies_pass_unchanged_and_pipelined_requests_are_each_tagged() {
        let input = "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\n\r\n";
        for step in [1, 4, 1000] {
            let mut f = framer();
            let (out, fed) = run(&mut f, input, step);
            assert_eq!(
                out,
                format!(
                    "POST /a HTTP/1.1\r\n{TAG}Content-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\n{TAG}\r\n"
                ),
                "step {step}"
            );
            assert_eq!(fed.map(|f| f.ended), Ok(2));
        }
    }

    #[test]
    fn phases_follow_head_body_and_idle() {
        let mut f = framer();
        let mut out = Vec::new();
        assert_eq!(f.phase(), Phase::Idle);
        // Empty lines before a request are skipped, not forwarded.
        assert_eq!(f.feed(b"\r\n", &mut out), Ok(Fed::default()));
        assert_eq!(f.feed(b"PUT /x HTTP/1.1\r\n", &mut out).map(|f| f.began), Ok(true));
        assert_eq!(f.phase(), Phase::Head);
        let _ = f.feed(b"Content-Length: 3\r\n\r\nab", &mut out);
        assert_eq!(f.phase(), Phase::Body);
        assert_eq!(f.feed(b"c", &mut out).map(|f| f.ended), Ok(1));
        assert_eq!(f.phase(), Phase::Idle);
        assert!(out.starts_with(b"PUT /x HTTP/1.1\r\n"));
    }

    #[test]
    fn chunked_bodies_end_at_their_last_chunk_and_trailers() {
        let body = "4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nTrailer: t\r\n\r\n";
        let input = format!(
            "POST /c HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n{body}GET /d HTTP/1.1\r\n\r\n"
        );
        for step in [1, 3, 7, 1000] {
            let mut f = framer();
            let (out, fed) = run(&mut f, &input, step);
            assert_eq!(fed.map(|f| f.ended), Ok(2), "step {step}");
            assert!(out.contains(&format!("\r\n\r\n{body}GET /d")), "step {step}: {out}");
        }
    }

    #[test]
    fn ambiguous_or_malformed_requests_are_refused() {
        let cases = [
            ("GARBAGE\r\n\r\n", 400),
            ("GET / HTTP/2.0\r\n\r\n", 505),
            ("GET / HTTP/1.1 extra\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
            ("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nBad Name: b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nno colon\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        ];
        for (input, status) in cases {
            let (_, fed) = run(&mut framer(), input, 1000);
            assert_eq!(fed.map_err(|r| r.status), Err(status), "{input:?}");
        }
        let same = "GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n";
        assert!(run(&mut framer(), same, 1000).1.is_ok());
    }

    #[test]
    fn an_oversized_head_is_refused_with_431() {
        let mut f = framer();
        let mut out = Vec::new();
        let _ = f.feed(b"GET / HTTP/1.1\r\n", &mut out);
        let big = vec![b'a'; MAX_HEAD];
        assert_eq!(f.feed(&big, &mut out).map_err(|r| r.status), Err(431));
        assert!(out.is_empty(), "nothing of an incomplete head is forwarded");
    }

    #[test]
    fn an_accepted_upgrade_becomes_a_tunnel_and_a_refused_one_stays_http() {
        let up =
            "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\r\n";
        let mut f = framer();
        let mut out = Vec::new();
        assert_eq!(f.feed(up.as_bytes(), &mut out).map(|f| f.ended), Ok(1));
        // Bytes sent before the answer wait for it.
        let _ = f.feed(b"\x81\x05early", &mut out);
        out.clear();
        assert_eq!(f.answer(b"HTTP/1.1 10", &mut out), Ok(Fed::default()));
        assert_eq!(f.phase(), Phase::Idle);
        let _ = f.answer(b"1 Switching Protocols\r\n\r\n", &mut out);
        assert_eq!(f.phase(), Phase::Tunnel);
        let _ = f.feed(b"GET / HTTP/1.1\r\n\r\n", &mut out);
        assert_eq!(out, b"\x81\x05earlyGET / HTTP/1.1\r\n\r\n", "a tunnel is not framed");

        let mut f = framer();
        let mut out = Vec::new();
        let _ = f.feed(up.as_bytes(), &mut out);
        let _ = f.feed(b"GET /next HTTP/1.1\r\n\r\n", &mut out);
        out.clear();
        assert_eq!(f.answer(b"HTTP/1.1 404 Not Found\r\n", &mut out).map(|f| f.ended), Ok(1));
        assert_eq!(f.phase(), Phase::Idle);
        assert_eq!(String::from_utf8_lossy(&out), format!("GET /next HTTP/1.1\r\n{TAG}\r\n"));
    }
}
