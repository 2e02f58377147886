//! The executor: worker threads that run jobs as process trees and capture their output.
//!
//! - [`pool`]: the fixed worker threads; [`attempt`]: one attempt of a job (environment,
//!   working directory, main command, outputs, healthcheck); [`run`]: one process tree (spawn,
//!   capture, timeout and cancel, reap, clean-up); [`lines`]: bytes → log lines; [`outputs`]:
//!   `output:` capture.
//! - Platform code lives in `unix.rs` and `windows.rs` only.

pub mod attempt;
pub mod lines;
pub mod outputs;
pub mod pool;
pub mod run;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as platform;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as platform;

pub use platform::{Limits, become_subreaper, start_time};
