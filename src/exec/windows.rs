//! Windows process control, first cut: each run starts in a new process group and is stopped
//! with `taskkill /T /F` (the whole tree). Job Objects with kill-on-close replace this in a
//! later step (see the executor issue); resource limits and CPU/RSS accounting are not
//! recorded on Windows yet.

use std::io;
use std::os::windows::process::CommandExt;
use std::process::{Child, Command};

use super::{Limits, Reaped};

const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
const CREATE_NO_WINDOW: u32 = 0x0800_0000;

/// Starts the child in its own process group, without a console window.
pub fn prepare(cmd: &mut Command, _limits: Limits) {
    cmd.creation_flags(CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW);
}

fn taskkill(pid: u32) -> io::Result<()> {
    Command::new("taskkill")
        .args(["/PID", &pid.to_string(), "/T", "/F"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|_| ())
}

/// Stops the tree (Windows has no polite group signal for console-less children).
pub fn terminate_group(pid: u32) -> io::Result<()> {
    taskkill(pid)
}

/// Kills the tree.
pub fn kill_group(pid: u32) -> io::Result<()> {
    taskkill(pid)
}

/// Whether the group may still have members (unknown on Windows without a job object).
pub fn group_alive(_pid: u32) -> bool {
    false
}

/// Reaps the child if it has exited.
pub fn try_reap(child: &mut Child) -> io::Result<Option<Reaped>> {
    Ok(child.try_wait()?.map(|status| Reaped {
        code: status.code(),
        signal: None,
        cpu_user_ms: 0,
        cpu_sys_ms: 0,
        max_rss_kb: 0,
    }))
}

/// Waits for the child to exit.
pub fn reap(mut child: Child) -> io::Result<Reaped> {
    let status = child.wait()?;
    Ok(Reaped { code: status.code(), signal: None, cpu_user_ms: 0, cpu_sys_ms: 0, max_rss_kb: 0 })
}

/// Nothing escapes a tree kill on Windows in this first cut.
pub fn kill_escaped(_run_id: i64, _main: u32) -> usize {
    0
}

/// Not recorded on Windows yet.
pub fn start_time(_pid: u32) -> Option<i64> {
    None
}

/// No subreapers on Windows.
pub fn become_subreaper() -> io::Result<()> {
    Ok(())
}
