//! Unix: the window size of the terminal on stdout (`TIOCGWINSZ`). The only unsafe code of the CLI.
#![allow(unsafe_code)]

/// The width in columns of the terminal on stdout; `None` when stdout is not a terminal or the
/// terminal does not know its size.
pub fn stdout_width() -> Option<usize> {
    let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one `winsize` into a local we own; on a descriptor that is not a
    // terminal it fails (ENOTTY) and writes nothing.
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) };
    (rc == 0 && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

/// Terminals take ANSI colour escapes (`TERM=dumb` aside, which the caller checks).
pub const ANSI_BY_DEFAULT: bool = true;
