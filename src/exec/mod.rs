//! The executor: worker threads that run jobs as process trees and capture their output.
//!
//! Built so far: the pure parts, [`lines`] (bytes → log lines) and [`outputs`] (`output:`
//! capture). The worker pool, spawning and the platform modules follow.

pub mod lines;
pub mod outputs;
