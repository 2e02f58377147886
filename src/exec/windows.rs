//! Windows process control: each run's process goes into a Job Object with kill-on-close, so
//! its whole tree is stopped with one call (and with the daemon, should it die); the job object
//! also applies the memory and process limits and accounts CPU time and peak memory. The
//! process is assigned right after it starts: a child it spawns in that instant escapes (a
//! known, narrow race; spawning suspended needs the thread handle std does not give out).
#![allow(unsafe_code)]

use std::io;
use std::os::windows::io::AsRawHandle;
use std::os::windows::process::CommandExt;
use std::process::{Child, Command};

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_ACTIVE_PROCESS,
    JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE, JOB_OBJECT_LIMIT_PROCESS_MEMORY,
    JOBOBJECT_BASIC_ACCOUNTING_INFORMATION, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JobObjectBasicAccountingInformation, JobObjectExtendedLimitInformation,
    QueryInformationJobObject, SetInformationJobObject, TerminateJobObject,
};

use super::run::{PipeReader, READ_CHUNK};
use super::{Limits, Reaped};

/// The shell that runs commands unless `executor.shell` says otherwise.
pub const DEFAULT_SHELL: [&str; 2] = ["cmd.exe", "/C"];

const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
const CREATE_NO_WINDOW: u32 = 0x0800_0000;

/// Starts the child in its own process group, without a console window.
pub fn prepare(cmd: &mut Command, _limits: Limits) {
    cmd.creation_flags(CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW);
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
    /// Creates a job object with kill-on-close and the limits, and puts the child in it.
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

/// Nothing escapes a job object (its processes cannot leave it).
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
