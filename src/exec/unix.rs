//! Unix process control: process groups, group signals, resource limits, and `wait4` for the
//! exit status with the run's CPU time and peak RSS. The only unsafe code of the executor.
#![allow(unsafe_code)]

use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus};

use super::run::{PipeReader, READ_CHUNK};
use super::{Limits, Reaped};

/// The shell that runs commands unless `executor.shell` says otherwise.
pub const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// Puts the child in its own process group (keeps std's posix_spawn path) and applies limits.
pub fn prepare(cmd: &mut Command, limits: Limits) {
    cmd.process_group(0);
    // Limits are computed here, in the parent: a limit is capped at the hard limit we have
    // (asking for more would fail the spawn), and one that is already in force is skipped, so
    // that the common case keeps std's posix_spawn path (a `pre_exec` forces fork + exec).
    let mut set: [Option<(RlimitResource, libc::rlim_t)>; 3] = [None; 3];
    let wanted = [
        (libc::RLIMIT_AS, limits.max_memory_mb.map(|mb| mb.saturating_mul(1024 * 1024))),
        (libc::RLIMIT_NOFILE, limits.max_open_files),
        (libc::RLIMIT_NPROC, limits.max_pids),
    ];
    for (slot, (resource, value)) in set.iter_mut().zip(wanted) {
        let Some(v) = value else { continue };
        let mut now = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes into a local we own.
        if unsafe { libc::getrlimit(resource, &mut now) } != 0 {
            continue;
        }
        let v = libc::rlim_t::try_from(v).unwrap_or(libc::RLIM_INFINITY).min(now.rlim_max);
        if v != now.rlim_cur {
            *slot = Some((resource, v));
        }
    }
    if set.iter().all(Option::is_none) {
        return;
    }
    // SAFETY: the closure runs in the forked child before exec and only calls setrlimit, which
    // is async-signal-safe; it allocates nothing and touches no lock.
    unsafe {
        cmd.pre_exec(move || {
            for (resource, v) in set.into_iter().flatten() {
                let lim = libc::rlimit { rlim_cur: v, rlim_max: v };
                if libc::setrlimit(resource, &lim) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// The type of an rlimit resource constant (it differs between libcs).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
type RlimitResource = libc::__rlimit_resource_t;
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
type RlimitResource = libc::c_int;

/// A child's output pipe.
#[derive(Debug)]
pub struct Pipe(std::fs::File);

impl From<std::process::ChildStdout> for Pipe {
    fn from(p: std::process::ChildStdout) -> Pipe {
        Pipe(std::fs::File::from(std::os::fd::OwnedFd::from(p)))
    }
}

impl From<std::process::ChildStderr> for Pipe {
    fn from(p: std::process::ChildStderr) -> Pipe {
        Pipe(std::fs::File::from(std::os::fd::OwnedFd::from(p)))
    }
}

/// Short runs are read on the supervising thread itself: no helper thread is started until
/// the run lasts (see `poll_pipes`).
pub const INLINE_POLL: bool = true;

/// Waits up to `timeout` for any of `pipes` to be readable, reads what is there, and removes
/// (and ends) the pipes that reached their end. Returns false once the supervisor is gone or
/// polling failed (the readers' Drop then reports the ends).
pub fn poll_pipes(
    pipes: &mut Vec<(Pipe, PipeReader)>,
    buf: &mut [u8],
    timeout: Option<std::time::Duration>,
) -> bool {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let mut fds: Vec<libc::pollfd> = pipes
        .iter()
        .map(|(p, _)| libc::pollfd { fd: p.0.as_raw_fd(), events: libc::POLLIN, revents: 0 })
        .collect();
    let n = libc::nfds_t::try_from(fds.len()).unwrap_or(0);
    let ms =
        timeout.map_or(-1, |t| libc::c_int::try_from(t.as_millis()).unwrap_or(libc::c_int::MAX));
    // SAFETY: `fds` is a live array of `n` pollfd structures; -1 waits without a timeout.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), n, ms) };
    if rc < 0 {
        return io::Error::last_os_error().kind() == io::ErrorKind::Interrupted;
    }
    let mut done = Vec::new();
    for (i, fd) in fds.iter().enumerate() {
        if fd.revents == 0 {
            continue;
        }
        let (pipe, reader) = &mut pipes[i];
        match pipe.0.read(buf) {
            Ok(0) => done.push(i),
            Ok(k) => {
                if !reader.data(&buf[..k]) {
                    return false;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => done.push(i),
        }
    }
    for i in done.into_iter().rev() {
        let (_, mut reader) = pipes.swap_remove(i);
        reader.end();
    }
    true
}

/// Reads all pipes on one thread, waiting on them together with `poll(2)`.
pub fn read_pipes(pipes: Vec<(Pipe, PipeReader)>) -> Vec<std::thread::JoinHandle<()>> {
    let spawned = std::thread::Builder::new().name("husky-pipes".into()).spawn(move || {
        let mut pipes = pipes;
        let mut buf = vec![0u8; READ_CHUNK];
        while !pipes.is_empty() && poll_pipes(&mut pipes, &mut buf, None) {}
    });
    spawned.into_iter().collect()
}

/// The process group of a run: the main process leads it.
#[derive(Debug)]
pub struct Group {
    pgid: libc::pid_t,
}

impl Group {
    /// The group of a child started with [`prepare`].
    pub fn attach(child: &std::process::Child, _limits: Limits) -> io::Result<Group> {
        let pgid =
            libc::pid_t::try_from(child.id()).map_err(|_| io::Error::other("pid out of range"))?;
        Ok(Group { pgid })
    }

    fn signal(&self, signal: libc::c_int) -> io::Result<()> {
        // SAFETY: kill has no memory-safety preconditions; a negative pid names a group.
        if unsafe { libc::kill(-self.pgid, signal) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        // A group that is already gone is not an error.
        if e.raw_os_error() == Some(libc::ESRCH) { Ok(()) } else { Err(e) }
    }

    /// Asks every process of the group to stop (SIGTERM).
    pub fn terminate(&self) -> io::Result<()> {
        self.signal(libc::SIGTERM)
    }

    /// Kills every process of the group (SIGKILL).
    pub fn kill(&self) -> io::Result<()> {
        self.signal(libc::SIGKILL)
    }

    /// Whether any process of the group is alive (zombies count: signal 0 reaches them).
    pub fn alive(&self) -> bool {
        // SAFETY: signal 0 only checks for existence and permission.
        unsafe { libc::kill(-self.pgid, 0) == 0 }
    }

    /// CPU times and peak memory of the whole group, where the OS keeps them per group (not on
    /// Unix: `wait4` reports the main process and what it waited for).
    pub fn usage(&self) -> Option<(i64, i64, i64)> {
        None
    }
}

/// Waits for the child to exit and reaps it, with its resource usage.
pub fn reap(mut child: std::process::Child) -> io::Result<Reaped> {
    loop {
        match wait4(&mut child, 0) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Ok(None) => {}
            other => return other.map(|r| r.unwrap_or(Reaped::UNKNOWN)),
        }
    }
}

/// Reaps the child if it has exited (`Ok(None)` while it runs).
pub fn try_reap(child: &mut std::process::Child) -> io::Result<Option<Reaped>> {
    wait4(child, libc::WNOHANG)
}

impl Reaped {
    const UNKNOWN: Reaped =
        Reaped { code: None, signal: None, cpu_user_ms: 0, cpu_sys_ms: 0, max_rss_kb: 0 };
}

#[allow(clippy::useless_conversion)] // time_t and c_long are 32-bit on armv7
fn wait4(child: &mut std::process::Child, flags: libc::c_int) -> io::Result<Option<Reaped>> {
    let pid =
        libc::pid_t::try_from(child.id()).map_err(|_| io::Error::other("pid out of range"))?;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; an all-zero value is valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pointers to live locals.
    let rc = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
    if rc == 0 {
        return Ok(None);
    }
    if rc != pid {
        return Err(io::Error::last_os_error());
    }
    let status = ExitStatus::from_raw(status);
    let ms = |tv: libc::timeval| i64::from(tv.tv_sec) * 1000 + i64::from(tv.tv_usec) / 1000;
    Ok(Some(Reaped {
        code: status.code(),
        signal: status.signal(),
        cpu_user_ms: ms(usage.ru_utime),
        cpu_sys_ms: ms(usage.ru_stime),
        // Linux and the BSDs report KiB; macOS reports bytes.
        max_rss_kb: if cfg!(target_os = "macos") {
            i64::from(usage.ru_maxrss) / 1024
        } else {
            i64::from(usage.ru_maxrss)
        },
    }))
}

/// Kills processes that escaped the run's process group (`setsid`) but still carry its
/// `HUSKY_RUN_ID` in their environment and descend from this process (Linux, through `/proc`;
/// with [`become_subreaper`] orphans are reparented to us, so they stay our descendants).
/// Another daemon's runs with the same id are never touched, nor the run's main process
/// (`main`, reaped by its worker). Killed processes that were reparented to us are reaped here,
/// so they leave no zombie. Returns how many were killed.
pub fn kill_escaped(run_id: i64, main: u32) -> usize {
    #[cfg(target_os = "linux")]
    {
        let needle = format!("HUSKY_RUN_ID={run_id}");
        let me = std::process::id();
        let mut killed = 0;
        for pid in candidates(me) {
            if pid == main {
                continue;
            }
            let Some(environ) = environ_of(pid) else { continue };
            if environ.split(|&b| b == 0).any(|var| var == needle.as_bytes())
                && let Ok(p) = libc::pid_t::try_from(pid)
                // SAFETY: kill has no memory-safety preconditions.
                && unsafe { libc::kill(p, libc::SIGKILL) } == 0
            {
                killed += 1;
                if parent_of(pid) == Some(me) {
                    let mut status = 0;
                    // SAFETY: waits for a child of ours that was just sent SIGKILL.
                    unsafe { libc::waitpid(p, &mut status, 0) };
                }
            }
        }
        killed
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (run_id, main);
        0
    }
}

/// Kills what is left of the runs of a daemon that died, given as `(run id, pid, pid start)`:
/// each run's process group, if the recorded leader is still the same process (pid and start
/// time match; a recycled pid is left alone), and on Linux every process of ours whose
/// environment carries both a run's `HUSKY_RUN_ID` and the daemon's `HUSKY_DATA_DIR` (they were
/// reparented to init with the old daemon; another daemon's run with the same id is never
/// touched). The process table is read once, however many runs there are. Returns, per run,
/// how many signals were sent.
pub fn kill_orphans(data_dir: &str, runs: &[(i64, Option<u32>, Option<i64>)]) -> Vec<usize> {
    let mut killed = vec![0; runs.len()];
    for (i, (_, pid, pid_start)) in runs.iter().enumerate() {
        if let (Some(pid), Some(recorded)) = (*pid, *pid_start)
            && start_time(pid) == Some(recorded)
            && let Ok(p) = libc::pid_t::try_from(pid)
            // SAFETY: killpg has no memory-safety preconditions.
            && unsafe { libc::killpg(p, libc::SIGKILL) } == 0
        {
            killed[i] += 1;
        }
    }
    #[cfg(target_os = "linux")]
    {
        let daemon = format!("HUSKY_DATA_DIR={data_dir}");
        let me = std::process::id();
        let pids = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok());
        for other in pids {
            if other == me {
                continue;
            }
            // Only processes of our own user have a readable environment.
            let Ok(environ) = std::fs::read(format!("/proc/{other}/environ")) else { continue };
            let vars: Vec<&[u8]> = environ.split(|&b| b == 0).collect();
            if !vars.contains(&daemon.as_bytes()) {
                continue;
            }
            let run = vars.iter().find_map(|v| {
                std::str::from_utf8(v.strip_prefix(b"HUSKY_RUN_ID")?.strip_prefix(b"=")?)
                    .ok()?
                    .parse::<i64>()
                    .ok()
            });
            if let Some(i) = run.and_then(|id| runs.iter().position(|r| r.0 == id))
                && let Ok(p) = libc::pid_t::try_from(other)
                // SAFETY: kill has no memory-safety preconditions.
                && unsafe { libc::kill(p, libc::SIGKILL) } == 0
            {
                killed[i] += 1;
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = data_dir;
    killed
}

/// The environment of a process. A process in the middle of `execve` briefly shows an empty or
/// unreadable one, so a few attempts are made before giving up.
#[cfg(target_os = "linux")]
fn environ_of(pid: u32) -> Option<Vec<u8>> {
    for _ in 0..100 {
        match std::fs::read(format!("/proc/{pid}/environ")) {
            Ok(env) if !env.is_empty() => return Some(env),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            _ => std::thread::yield_now(),
        }
    }
    None
}

/// The parent of `pid` (Linux).
#[cfg(target_os = "linux")]
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (which may hold spaces and parentheses).
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Where an escaped process of the run just finished can be (Linux): the main thread's
/// children (the kernel reparents orphans to a subreaper's first live thread), the calling
/// thread's children (what the run started and did not lose yet), and all their descendants.
/// Other workers' runs are not visited. Without the kernel's children lists, every process's
/// parent is read instead.
#[cfg(target_os = "linux")]
fn candidates(me: u32) -> Vec<u32> {
    let children = |path: String| -> Option<Vec<u32>> {
        let text = std::fs::read_to_string(path).ok()?;
        Some(text.split_whitespace().filter_map(|p| p.parse::<u32>().ok()).collect())
    };
    let (Some(leader), Some(mine)) = (
        children(format!("/proc/{me}/task/{me}/children")),
        children("/proc/thread-self/children".into()),
    ) else {
        return descendants_by_scan(me);
    };
    let mut queue: Vec<u32> = leader.into_iter().chain(mine).collect();
    let mut found = Vec::new();
    while let Some(pid) = queue.pop() {
        if found.len() > 100_000 || found.contains(&pid) {
            continue;
        }
        found.push(pid);
        for task in std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten() {
            queue.extend(
                children(task.path().join("children").display().to_string()).unwrap_or_default(),
            );
        }
    }
    found
}

/// [`candidates`] without the kernel's children lists: every descendant, from every process's
/// parent.
#[cfg(target_os = "linux")]
fn descendants_by_scan(root: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let parents: Vec<(u32, u32)> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, parent_of(pid)?)))
        .collect();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(pid, _)| *pid));
        i += 1;
    }
    found.remove(0);
    found
}

/// The start time of a process as the OS reports it (Linux: clock ticks since boot, field 22
/// of `/proc/<pid>/stat`), so that a pid recorded before a crash can be told apart from a
/// recycled one. `None` where unavailable.
pub fn start_time(pid: u32) -> Option<i64> {
    #[cfg(target_os = "linux")]
    {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name: state is field 3, starttime field 22.
        stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

/// Makes this process a child subreaper (Linux): orphaned descendants of runs are reparented
/// to the daemon instead of init, so they can be found and killed. A no-op elsewhere.
pub fn become_subreaper() -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes one integer argument.
        let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
