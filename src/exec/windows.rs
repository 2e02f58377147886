//! Windows process control: each run's process goes into a Job Object with kill-on-close, so
//! its whole tree is stopped with one call (and with the daemon, should it die); the job object
//! also applies the memory and process limits and accounts CPU time and peak memory. The
//! process is spawned suspended, assigned to its job, and only then resumed, so nothing it
//! starts can escape the job (std does not hand out the main thread's handle: the thread is
//! found with a Toolhelp snapshot).
#![allow(unsafe_code)]

use std::io;
use std::os::windows::io::AsRawHandle;
use std::os::windows::process::CommandExt;
use std::process::{Child, Command};

use windows_sys::Win32::Foundation::{CloseHandle, FILETIME, HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, TH32CS_SNAPTHREAD, THREADENTRY32, Thread32First, Thread32Next,
};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_ACTIVE_PROCESS,
    JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE, JOB_OBJECT_LIMIT_PROCESS_MEMORY,
    JOBOBJECT_BASIC_ACCOUNTING_INFORMATION, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JobObjectBasicAccountingInformation, JobObjectExtendedLimitInformation,
    QueryInformationJobObject, SetInformationJobObject, TerminateJobObject,
};
use windows_sys::Win32::System::Threading::{
    CREATE_SUSPENDED, GetProcessTimes, OpenProcess, OpenThread, PROCESS_QUERY_LIMITED_INFORMATION,
    ResumeThread, THREAD_SUSPEND_RESUME,
};

use super::run::{PipeReader, READ_CHUNK};
use super::{Limits, Reaped};

/// The shell that runs commands unless `executor.shell` says otherwise.
pub const DEFAULT_SHELL: [&str; 2] = ["cmd.exe", "/C"];

const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
const CREATE_NO_WINDOW: u32 = 0x0800_0000;

/// Starts the child suspended (see [`Group::attach`]) in its own process group, without a
/// console window.
pub fn prepare(cmd: &mut Command, _limits: Limits) {
    cmd.creation_flags(CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW | CREATE_SUSPENDED);
}

/// Closes a handle when dropped.
struct Owned(HANDLE);

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: the handle is valid and owned here.
        unsafe { CloseHandle(self.0) };
    }
}

/// Resumes every thread of a process spawned suspended (just its main thread).
fn resume(pid: u32) -> io::Result<()> {
    // SAFETY: a snapshot of all threads; returns a handle or INVALID_HANDLE_VALUE.
    let snap = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0) };
    if snap == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    let snap = Owned(snap);
    let mut entry = THREADENTRY32 {
        dwSize: u32::try_from(std::mem::size_of::<THREADENTRY32>()).unwrap_or(0),
        ..THREADENTRY32::default()
    };
    let mut resumed = 0;
    // SAFETY: `entry` is a THREADENTRY32 with its size set, as the API requires.
    let mut more = unsafe { Thread32First(snap.0, &mut entry) } != 0;
    while more {
        if entry.th32OwnerProcessID == pid {
            // SAFETY: opens a thread by id; returns a handle or null.
            let thread = unsafe { OpenThread(THREAD_SUSPEND_RESUME, 0, entry.th32ThreadID) };
            if thread.is_null() {
                return Err(io::Error::last_os_error());
            }
            let thread = Owned(thread);
            // SAFETY: a valid thread handle with THREAD_SUSPEND_RESUME access.
            if unsafe { ResumeThread(thread.0) } == u32::MAX {
                return Err(io::Error::last_os_error());
            }
            resumed += 1;
        }
        // SAFETY: as for Thread32First.
        more = unsafe { Thread32Next(snap.0, &mut entry) } != 0;
    }
    if resumed == 0 {
        return Err(io::Error::other("the new process has no thread to resume"));
    }
    Ok(())
}

/// A child's output pipe.
#[derive(Debug)]
pub struct Pipe(std::fs::File);

impl From<std::process::ChildStdout> for Pipe {
    fn from(p: std::process::ChildStdout) -> Pipe {
        Pipe(std::fs::File::from(std::os::windows::io::OwnedHandle::from(p)))
    }
}

impl From<std::process::ChildStderr> for Pipe {
    fn from(p: std::process::ChildStderr) -> Pipe {
        Pipe(std::fs::File::from(std::os::windows::io::OwnedHandle::from(p)))
    }
}

/// Anonymous pipes cannot be waited on together: every run reads them on helper threads.
pub const INLINE_POLL: bool = false;

/// Never called on Windows (`INLINE_POLL` is false); reads nothing.
pub fn poll_pipes(
    _pipes: &mut Vec<(Pipe, PipeReader)>,
    _buf: &mut [u8],
    _timeout: Option<std::time::Duration>,
) -> bool {
    false
}

/// Reads each pipe on a thread of its own (anonymous pipes cannot be waited on together).
pub fn read_pipes(pipes: Vec<(Pipe, PipeReader)>) -> Vec<std::thread::JoinHandle<()>> {
    pipes
        .into_iter()
        .filter_map(|(mut pipe, mut reader)| {
            std::thread::Builder::new()
                .name("husky-pipe".into())
                .spawn(move || {
                    use std::io::Read;
                    let mut buf = vec![0u8; READ_CHUNK];
                    loop {
                        match pipe.0.read(&mut buf) {
                            Ok(0) => break,
                            Ok(k) => {
                                if !reader.data(&buf[..k]) {
                                    return;
                                }
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(_) => break,
                        }
                    }
                    reader.end();
                })
                .ok()
        })
        .collect()
}

/// A run's Job Object.
#[derive(Debug)]
pub struct Group {
    job: HANDLE,
}

// SAFETY: a job object handle may be used from any thread.
unsafe impl Send for Group {}

impl Group {
    /// Creates a job object with kill-on-close and the limits, puts the (suspended) child in it,
    /// and lets it run.
    pub fn attach(child: &Child, limits: Limits) -> io::Result<Group> {
        // SAFETY: no security attributes, no name; returns a handle or null.
        let job = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
        if job.is_null() {
            return Err(io::Error::last_os_error());
        }
        let group = Group { job };
        let mut info = JOBOBJECT_EXTENDED_LIMIT_INFORMATION::default();
        let basic = &mut info.BasicLimitInformation;
        basic.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
        if let Some(mb) = limits.max_memory_mb {
            basic.LimitFlags |= JOB_OBJECT_LIMIT_PROCESS_MEMORY;
            info.ProcessMemoryLimit =
                usize::try_from(mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX);
        }
        if let Some(n) = limits.max_pids {
            info.BasicLimitInformation.LimitFlags |= JOB_OBJECT_LIMIT_ACTIVE_PROCESS;
            info.BasicLimitInformation.ActiveProcessLimit = u32::try_from(n).unwrap_or(u32::MAX);
        }
        let size = u32::try_from(std::mem::size_of_val(&info)).unwrap_or(0);
        // SAFETY: `info` is a valid JOBOBJECT_EXTENDED_LIMIT_INFORMATION of `size` bytes.
        let ok = unsafe {
            SetInformationJobObject(
                group.job,
                JobObjectExtendedLimitInformation,
                std::ptr::from_ref(&info).cast(),
                size,
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both handles are valid; the process handle stays owned by `child`.
        if unsafe { AssignProcessToJobObject(group.job, child.as_raw_handle() as HANDLE) } == 0 {
            return Err(io::Error::last_os_error());
        }
        // Only now, inside its job, may it run (and start others).
        resume(child.id())?;
        Ok(group)
    }

    /// Stops the tree (Windows has no polite signal for console-less processes).
    pub fn terminate(&self) -> io::Result<()> {
        self.kill()
    }

    /// Terminates every process of the job.
    pub fn kill(&self) -> io::Result<()> {
        // SAFETY: a valid job handle.
        if unsafe { TerminateJobObject(self.job, 1) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn accounting(&self) -> Option<JOBOBJECT_BASIC_ACCOUNTING_INFORMATION> {
        let mut info = JOBOBJECT_BASIC_ACCOUNTING_INFORMATION::default();
        let size = u32::try_from(std::mem::size_of_val(&info)).ok()?;
        // SAFETY: `info` is a writable structure of `size` bytes.
        let ok = unsafe {
            QueryInformationJobObject(
                self.job,
                JobObjectBasicAccountingInformation,
                std::ptr::from_mut(&mut info).cast(),
                size,
                std::ptr::null_mut(),
            )
        };
        (ok != 0).then_some(info)
    }

    /// Whether any process of the job is alive.
    pub fn alive(&self) -> bool {
        self.accounting().is_some_and(|a| a.ActiveProcesses > 0)
    }

    /// CPU times (ms) and peak memory (KiB) of the whole job.
    pub fn usage(&self) -> Option<(i64, i64, i64)> {
        let a = self.accounting()?;
        let mut info = JOBOBJECT_EXTENDED_LIMIT_INFORMATION::default();
        let size = u32::try_from(std::mem::size_of_val(&info)).ok()?;
        // SAFETY: `info` is a writable structure of `size` bytes.
        let ok = unsafe {
            QueryInformationJobObject(
                self.job,
                JobObjectExtendedLimitInformation,
                std::ptr::from_mut(&mut info).cast(),
                size,
                std::ptr::null_mut(),
            )
        };
        let peak_kb = if ok != 0 {
            i64::try_from(info.PeakJobMemoryUsed / 1024).unwrap_or(i64::MAX)
        } else {
            0
        };
        // Times are in 100 ns units.
        Some((a.TotalUserTime / 10_000, a.TotalKernelTime / 10_000, peak_kb))
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: the handle is ours; closing it kills what is left (kill-on-close).
        unsafe { CloseHandle(self.job) };
    }
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

/// Nothing of a dead daemon's runs is left: their job objects were closed with it, and
/// kill-on-close ended every process in them.
pub fn kill_orphans(_data_dir: &str, runs: &[(i64, Option<u32>, Option<i64>)]) -> Vec<usize> {
    vec![0; runs.len()]
}

/// Nothing escapes a job object (its processes cannot leave it).
pub fn kill_escaped(_run_id: i64, _main: u32) -> usize {
    0
}

/// The process's creation time (100 ns units since 1601), so that a pid recorded before a
/// crash can be told apart from a recycled one.
pub fn start_time(pid: u32) -> Option<i64> {
    // SAFETY: opens a process by id for querying; returns a handle or null.
    let process = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if process.is_null() {
        return None;
    }
    let process = Owned(process);
    let (mut created, mut exited, mut kernel, mut user) =
        (FILETIME::default(), FILETIME::default(), FILETIME::default(), FILETIME::default());
    // SAFETY: a valid process handle and four writable FILETIMEs.
    let ok =
        unsafe { GetProcessTimes(process.0, &mut created, &mut exited, &mut kernel, &mut user) };
    (ok != 0).then(|| (i64::from(created.dwHighDateTime) << 32) | i64::from(created.dwLowDateTime))
}

/// No subreapers on Windows.
pub fn become_subreaper() -> io::Result<()> {
    Ok(())
}
