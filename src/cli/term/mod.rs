//! The terminal under stdout, asked of the OS: its width, and whether it takes ANSI colours.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as platform;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as platform;

pub use platform::{ANSI_BY_DEFAULT, stdout_width};
