//! Splitting a byte stream into log lines: `\n` ends a line (a `\r` before it is dropped), a
//! final line without a newline is kept, lines longer than [`MAX_LINE`] bytes are cut into
//! pieces (never dropped), and invalid UTF-8 is replaced, never rejected. Memory stays bounded
//! by [`MAX_LINE`] whatever the stream holds.

/// The longest line stored as one piece.
pub const MAX_LINE: usize = 64 * 1024;

/// A line (or a piece of a long one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// The text, without its terminator.
    pub text: String,
    /// More of the same line follows in the next piece.
    pub continues: bool,
}

/// Turns chunks of bytes into lines.
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
    max: usize,
}

impl LineSplitter {
    /// A splitter cutting lines at [`MAX_LINE`] bytes.
    pub fn new() -> LineSplitter {
        LineSplitter::with_max(MAX_LINE)
    }

    /// A splitter cutting lines at `max` bytes (at least 4, so that one character fits).
    pub fn with_max(max: usize) -> LineSplitter {
        LineSplitter { partial: Vec::new(), max: max.max(4) }
    }

    /// Feeds bytes; `emit` receives every complete line or piece.
    pub fn push(&mut self, mut bytes: &[u8], emit: &mut impl FnMut(Piece)) {
        while !bytes.is_empty() {
            let room = self.max - self.partial.len();
            let window = &bytes[..bytes.len().min(room + 1)];
            if let Some(nl) = window.iter().position(|&b| b == b'\n').filter(|&nl| nl <= room) {
                self.partial.extend_from_slice(&bytes[..nl]);
                if self.partial.last() == Some(&b'\r') {
                    self.partial.pop();
                }
                emit(Piece { text: lossy(&self.partial), continues: false });
                self.partial.clear();
                bytes = &bytes[nl + 1..];
            } else if bytes.len() <= room {
                self.partial.extend_from_slice(bytes);
                return;
            } else {
                // The line is too long: cut a piece at a character boundary.
                self.partial.extend_from_slice(&bytes[..room]);
                bytes = &bytes[room..];
                let cut = char_boundary(&self.partial);
                let rest = self.partial.split_off(cut);
                emit(Piece { text: lossy(&self.partial), continues: true });
                self.partial = rest;
            }
        }
    }

    /// Ends the stream: a final line without a newline is emitted.
    pub fn finish(&mut self, emit: &mut impl FnMut(Piece)) {
        if !self.partial.is_empty() {
            if self.partial.last() == Some(&b'\r') {
                self.partial.pop();
            }
            emit(Piece { text: lossy(&self.partial), continues: false });
            self.partial.clear();
        }
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Where to cut `buf` so that a multi-byte UTF-8 character is not split: before a trailing
/// incomplete sequence, if there is one (at most 3 bytes back), else at the end.
fn char_boundary(buf: &[u8]) -> usize {
    let len = buf.len();
    for back in 1..=3.min(len) {
        let b = buf[len - back];
        if b & 0b1100_0000 == 0b1000_0000 {
            continue; // a continuation byte: keep looking for the lead byte
        }
        let need = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => return len, // ASCII or invalid: cut anywhere
        };
        return if need > back { len - back } else { len };
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]], max: usize) -> Vec<Piece> {
        let mut s = LineSplitter::with_max(max);
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, &mut |p| out.push(p));
        }
        s.finish(&mut |p| out.push(p));
        out
    }

    fn texts(pieces: &[Piece]) -> Vec<&str> {
        pieces.iter().map(|p| p.text.as_str()).collect()
    }

    #[test]
    fn lines_crlf_and_a_final_unterminated_line() {
        let out = split(&[b"one\r\ntw", b"o\n\nthree"], MAX_LINE);
        assert_eq!(texts(&out), ["one", "two", "", "three"]);
        assert!(out.iter().all(|p| !p.continues));
        // A \r split from its \n across chunks is still dropped.
        assert_eq!(texts(&split(&[b"a\r", b"\nb\r"], MAX_LINE)), ["a", "b"]);
        // A bare \r inside a line (a progress bar) stays.
        assert_eq!(texts(&split(&[b"10%\r20%\n"], MAX_LINE)), ["10%\r20%"]);
        assert!(split(&[b""], MAX_LINE).is_empty());
    }

    #[test]
    fn long_lines_are_cut_into_pieces_without_loss() {
        let line = vec![b'x'; 25];
        let mut input = line;
        input.push(b'\n');
        input.extend_from_slice(b"short\n");
        let out = split(&[&input], 10);
        assert_eq!(texts(&out), ["xxxxxxxxxx", "xxxxxxxxxx", "xxxxx", "short"]);
        assert_eq!(out.iter().map(|p| p.continues).collect::<Vec<_>>(), [true, true, false, false]);
        // Exactly max bytes then a newline is one piece.
        let out = split(&[b"0123456789\n"], 10);
        assert_eq!(texts(&out), ["0123456789"]);
        assert!(!out[0].continues);
        // Fed one byte at a time, the result is the same.
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(texts(&split(&bytes, 10)), ["xxxxxxxxxx", "xxxxxxxxxx", "xxxxx", "short"]);
    }

    #[test]
    fn a_one_mebibyte_line_arrives_in_pieces_that_join_back() {
        let big: String = (0..1024 * 1024).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        let input = format!("{big}\nafter\n");
        let out = split(&[input.as_bytes()], MAX_LINE);
        assert_eq!(out.len(), 16 + 1);
        assert!(out[..15].iter().all(|p| p.continues && p.text.len() == MAX_LINE));
        let joined: String = out[..16].iter().map(|p| p.text.as_str()).collect();
        assert_eq!(joined, big);
        assert_eq!(out[16].text, "after");
    }

    #[test]
    fn multibyte_characters_are_never_cut() {
        // "é" is 2 bytes, "€" 3, "😀" 4: with room for 5 bytes the cut must back off.
        for s in ["aaaaé€😀é€😀", "€€€€€€€", "😀😀😀😀"] {
            let out = split(&[s.as_bytes()], 5);
            assert!(out.iter().all(|p| !p.text.contains('\u{FFFD}')), "{s}: {out:?}");
            assert_eq!(out.iter().map(|p| p.text.as_str()).collect::<String>(), s);
        }
    }

    #[test]
    fn invalid_utf8_is_replaced_and_capture_goes_on() {
        let out = split(&[b"ok\n\xff\xfe garbage \x00\x01\nafter\n"], MAX_LINE);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].text, "ok");
        assert!(out[1].text.contains('\u{FFFD}') && out[1].text.contains("garbage"));
        assert_eq!(out[2].text, "after");
    }
}
