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
                Ok(Reply::Done(m) | Reply::Error(m) | Reply::Conflict(m)) => log(&m),
                Ok(Reply::Runs(_) | Reply::Jobs(_) | Reply::Config(_) | Reply::Open(_))
                | Err(_) => {}
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

/// A new process group: the terminal's Ctrl-C no longer reaches the daemon.
pub fn detach(cmd: &mut std::process::Command) {
    std::os::unix::process::CommandExt::process_group(cmd, 0);
}
