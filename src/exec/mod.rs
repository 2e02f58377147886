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

pub(crate) use platform::{Group, reap};
pub use platform::{become_subreaper, kill_orphans, start_time};

/// Spawns `cmd` as the root of a process tree of its own, for the daemon's other programs
/// (notification scripts): Unix: a new process group; Windows: a Job Object with kill-on-close
/// (the process starts inside it). The caller sets stdio and the environment first; afterwards
/// [`Group::kill`] ends the whole tree and [`reap`] waits for the main process. No limits.
pub(crate) fn spawn_tree(
    cmd: &mut std::process::Command,
) -> std::io::Result<(std::process::Child, Group)> {
    platform::prepare(cmd, Limits::default());
    let mut child = cmd.spawn()?;
    match Group::attach(&child, Limits::default()) {
        Ok(group) => Ok((child, group)),
        Err(e) => {
            let _ = child.kill();
            let _ = reap(child);
            Err(e)
        }
    }
}

/// Resource limits of each job (Unix: rlimits set in the child before exec; Windows: limits of
/// the run's job object; open files are not limited on Windows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Address space (RLIMIT_AS), in MiB.
    pub max_memory_mb: Option<u64>,
    /// Open files (RLIMIT_NOFILE).
    pub max_open_files: Option<u64>,
    /// Processes (RLIMIT_NPROC: counted per user on Linux).
    pub max_pids: Option<u64>,
}

/// How a reaped process ended, with its resource usage (zero where the OS gives none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reaped {
    /// The exit code, if it exited.
    pub code: Option<i32>,
    /// The signal that killed it, if one did (Unix).
    pub signal: Option<i32>,
    /// User CPU time (ms).
    pub cpu_user_ms: i64,
    /// System CPU time (ms).
    pub cpu_sys_ms: i64,
    /// Peak resident set size (KiB).
    pub max_rss_kb: i64,
}
