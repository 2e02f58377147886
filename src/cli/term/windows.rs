//! Windows: the console's width is not asked (it would need the console API); `COLUMNS`, read by
//! the caller, is the only source.

/// The width in columns of the console on stdout: unknown.
pub fn stdout_width() -> Option<usize> {
    None
}

/// A console prints ANSI escapes literally unless a program turns on its virtual terminal
/// processing, which husky does not: colour only when forced (`CLICOLOR_FORCE`).
pub const ANSI_BY_DEFAULT: bool = false;
