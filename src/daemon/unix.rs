//! Unix parts of the daemon: a private data directory and the signal thread.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crossbeam_channel::Sender;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::reload_request;
use crate::engine::actor::{EngineMsg, LogSink};
use crate::engine::core::{Command, Reply};

/// Creates the data directory, readable by its owner only (0700).
pub fn private_dir(path: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
}

/// SIGTERM and SIGINT stop the daemon gracefully (a second SIGINT forces: every run is killed
/// at once); SIGHUP reloads husky.yaml.
pub fn handle_signals(
    inbox: Sender<EngineMsg>,
    husky_yaml: PathBuf,
    log: LogSink,
) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    std::thread::Builder::new().name("husky-signals".into()).spawn(move || {
        let mut stopping = false;
        for signal in signals.forever() {
            let cmd = match signal {
                SIGHUP => match reload_request(&husky_yaml, &log) {
                    Some(cmd) => cmd,
                    None => continue,
                },
                SIGINT if stopping => {
                    log("second interrupt: stopping every run now");
                    Command::Shutdown { force: true }
                }
                _ => {
                    log("stopping: waiting for running jobs (interrupt again to stop them now)");
                    stopping = true;
                    Command::Shutdown { force: false }
                }
            };
            let (reply, rx) = crossbeam_channel::bounded(1);
            if inbox.send(EngineMsg::Command { cmd, reply }).is_err() {
                return;
            }
            match rx.recv() {
                Ok(Reply::Done(m) | Reply::Error(m)) => log(&m),
                Ok(Reply::Runs(_) | Reply::Jobs(_)) | Err(_) => {}
            }
        }
    })?;
    Ok(())
}

/// A tiny_http server on the unix socket `path` (a stale socket file is replaced), mode 0600.
pub fn serve_unix(path: &Path) -> std::io::Result<tiny_http::Server> {
    if std::fs::symlink_metadata(path).is_ok() {
        std::fs::remove_file(path)?;
    }
    let server = tiny_http::Server::http_unix(path).map_err(std::io::Error::other)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(server)
}

/// Caps glibc's malloc at one arena. glibc gives threads their own arenas (up to 8 per CPU),
/// each keeping its own partly used heap: with ~20 mostly idle threads that is about 0.25 MiB
/// of the idle daemon's RSS, and more once runs have left free chunks in every arena. The
/// per-thread caches (tcache) keep the shared arena's lock off the hot paths. Called before
/// the daemon's threads start; `MALLOC_ARENA_MAX` or `GLIBC_TUNABLES` in the environment win.
#[cfg(target_env = "gnu")]
#[allow(unsafe_code)]
pub fn lean_malloc() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some()
        || std::env::var_os("GLIBC_TUNABLES").is_some()
    {
        return;
    }
    // SAFETY: mallopt only changes an allocator setting; it takes no pointers.
    let _ = unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
}

/// Other C libraries keep their defaults.
#[cfg(not(target_env = "gnu"))]
pub fn lean_malloc() {}

/// Gives the heap's free pages back to the system. Start-up (parsing husky.yaml, migrations,
/// restoring state) peaks well above what the idle daemon keeps, and glibc returns freed
/// memory only from the top of the heap on its own: about 0.25 MiB stays resident otherwise.
#[cfg(target_env = "gnu")]
#[allow(unsafe_code)]
pub fn trim_heap() {
    // SAFETY: malloc_trim takes no pointers and locks the arenas itself.
    let _ = unsafe { libc::malloc_trim(0) };
}

/// Other C libraries: nothing to do.
#[cfg(not(target_env = "gnu"))]
pub fn trim_heap() {}

/// A new process group: the terminal's Ctrl-C no longer reaches the daemon.
pub fn detach(cmd: &mut std::process::Command) {
    std::os::unix::process::CommandExt::process_group(cmd, 0);
}
