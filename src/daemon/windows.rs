//! Windows parts of the daemon: the data directory and console interrupts; systemd's
//! notifications do not exist here.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_channel::Sender;

use super::Reloader;
use crate::engine::actor::EngineMsg;
use crate::engine::core::Command;
use crate::log::Logger;

/// Nothing to tune: the Windows heap has no per-thread arenas.
pub fn lean_malloc() {}

/// Nothing to do: the Windows heap decommits free memory itself.
pub fn trim_heap() {}

/// Creates the data directory (its ACL is inherited from the parent).
pub fn private_dir(path: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(path)
}

/// Writes `bytes` to a new file in the (user-only) data directory.
pub fn private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// Ctrl-C (and Ctrl-Break) stop the daemon gracefully; a second one stops every run at once.
/// Windows has no SIGHUP: reloads go through the API.
pub fn handle_signals(
    inbox: Sender<EngineMsg>,
    _reloader: Reloader,
    log: Logger,
) -> std::io::Result<()> {
    let count = Arc::new(AtomicUsize::new(0));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let count = count.clone();
        // SAFETY: the handler only touches an atomic counter.
        #[allow(unsafe_code)]
        unsafe {
            signal_hook::low_level::register(signal, move || {
                count.fetch_add(1, Ordering::SeqCst);
            })?;
        }
    }
    std::thread::Builder::new().name("husky-signals".into()).spawn(move || {
        let mut seen = 0;
        loop {
            let _ = crossbeam_channel::after(std::time::Duration::from_millis(250)).recv();
            let now = count.load(Ordering::SeqCst);
            if now == seen {
                continue;
            }
            let force = seen > 0 || now > 1;
            seen = now;
            if force {
                log.warn("second interrupt: stopping every run now");
            } else {
                log.info("stopping");
            }
            let (reply, _rx) = crossbeam_channel::bounded(1);
            let cmd = Command::Shutdown { force };
            if inbox.send(EngineMsg::Command { cmd, reply }).is_err() {
                return;
            }
        }
    })?;
    Ok(())
}

/// There are no unix sockets here: the CLI uses TCP on loopback.
pub fn serve_unix(path: &Path) -> std::io::Result<tiny_http::Server> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        format!("no unix socket on Windows ({})", path.display()),
    ))
}

/// No console, and a process group of its own.
pub fn detach(cmd: &mut std::process::Command) {
    const DETACHED_PROCESS: u32 = 0x0000_0008;
    const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
    std::os::windows::process::CommandExt::creation_flags(
        cmd,
        DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP,
    );
}

/// No service manager to notify on Windows: never made, it keeps the daemon's code the same on
/// both platforms.
#[allow(dead_code)]
#[derive(Debug)]
pub struct Notifier;

impl Notifier {
    /// Always `None`: there is no `NOTIFY_SOCKET` here.
    pub fn from_env() -> Option<std::io::Result<Notifier>> {
        None
    }

    /// Never called (there is no notifier).
    pub fn send(&self, _state: &str) -> std::io::Result<()> {
        Ok(())
    }
}

/// Not needed without systemd.
pub fn monotonic_usec() -> Option<u64> {
    None
}
