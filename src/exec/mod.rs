//! The executor: worker threads that run jobs as process trees and capture their output.
//!
//! Built so far: [`lines`] (bytes → log lines), [`outputs`] (`output:` capture) and [`run`]
//! (one process tree: spawn, capture, timeout and cancel, reap, clean-up). The worker pool,
//! healthchecks and the wiring to the store and the engine follow.

pub mod lines;
pub mod outputs;
pub mod run;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as platform;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as platform;

pub use platform::{Limits, become_subreaper};
