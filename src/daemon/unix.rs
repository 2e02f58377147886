//! Unix parts of the daemon: a private data directory, the signal thread and systemd's
//! notification socket.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;

use crossbeam_channel::Sender;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::Reloader;
use crate::engine::actor::EngineMsg;
use crate::engine::core::{Command, Reply};
use crate::log::Logger;

/// Creates the data directory, readable by its owner only (0700).
pub fn private_dir(path: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
}

/// Writes `bytes` to a new file only its owner may read (mode 0600).
pub fn private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(bytes)
}

/// SIGTERM and SIGINT stop the daemon gracefully (a second SIGINT forces: every run is killed
/// at once); SIGHUP reloads husky.yaml and huskyd.yaml's `log.level`.
pub fn handle_signals(
    inbox: Sender<EngineMsg>,
    reloader: Reloader,
    log: Logger,
) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    std::thread::Builder::new().name("husky-signals".into()).spawn(move || {
        let mut stopping = false;
        for signal in signals.forever() {
            let cmd = match signal {
                SIGHUP => match reloader.reload(|cmd| ask(&inbox, cmd, &log)) {
                    Ok(false) => return,
                    Ok(true) | Err(_) => continue,
                },
                SIGINT if stopping => {
                    log.warn("second interrupt: stopping every run now");
                    Command::Shutdown { force: true }
                }
                _ => {
                    log.info(
                        "stopping: waiting for running jobs (interrupt again to stop them now)",
                    );
                    stopping = true;
                    Command::Shutdown { force: false }
                }
            };
            if !ask(&inbox, cmd, &log) {
                return;
            }
        }
    })?;
    Ok(())
}

/// Sends `cmd` to the engine and logs its answer; `false` when the engine has gone.
fn ask(inbox: &Sender<EngineMsg>, cmd: Command, log: &Logger) -> bool {
    let (reply, rx) = crossbeam_channel::bounded(1);
    if inbox.send(EngineMsg::Command { cmd, reply }).is_err() {
        return false;
    }
    match rx.recv() {
        Ok(Reply::Done(m)) => log.info(&m),
        Ok(Reply::Error(m) | Reply::Conflict(m)) => log.warn(&m),
        Ok(Reply::Runs(_) | Reply::Jobs(_) | Reply::Config(_) | Reply::Open(_)) | Err(_) => {}
    }
    true
}

/// systemd's notification socket (`NOTIFY_SOCKET`: a path, or `@name` for an abstract socket
/// on Linux).
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    addr: SocketAddr,
}

impl Notifier {
    /// The socket `NOTIFY_SOCKET` names; `None` when it is unset or empty.
    pub fn from_env() -> Option<std::io::Result<Notifier>> {
        let path = std::env::var_os("NOTIFY_SOCKET").filter(|p| !p.is_empty())?;
        Some(Notifier::connect(&path))
    }

    /// The socket at `path` (`@name`: abstract).
    pub fn connect(path: &OsStr) -> std::io::Result<Notifier> {
        let addr = match path.as_bytes().strip_prefix(b"@") {
            Some(name) => abstract_addr(name)?,
            None => SocketAddr::from_pathname(Path::new(path))?,
        };
        let socket = UnixDatagram::unbound()?;
        // A stalled service manager must not stall the daemon.
        socket.set_nonblocking(true)?;
        Ok(Notifier { socket, addr })
    }

    /// Sends one notification (`READY=1`, ...).
    pub fn send(&self, state: &str) -> std::io::Result<()> {
        self.socket.send_to_addr(state.as_bytes(), &self.addr).map(|_| ())
    }
}

#[cfg(target_os = "linux")]
fn abstract_addr(name: &[u8]) -> std::io::Result<SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name)
}

#[cfg(not(target_os = "linux"))]
fn abstract_addr(_name: &[u8]) -> std::io::Result<SocketAddr> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "abstract sockets exist on Linux only",
    ))
}

/// `CLOCK_MONOTONIC` in microseconds, the timestamp systemd wants with `RELOADING=1` (a field
/// of the protocol, not a time the daemon decides anything by).
#[allow(unsafe_code)]
pub fn monotonic_usec() -> Option<u64> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into a local we own.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } != 0 {
        return None;
    }
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u64::try_from(ts.tv_nsec).ok()?;
    Some(secs.saturating_mul(1_000_000).saturating_add(nanos / 1_000))
}

/// The unix socket `path` for the API's relay (a stale socket file is replaced), mode 0600.
pub fn listen_local(path: &Path) -> std::io::Result<Box<dyn super::Listening>> {
    if std::fs::symlink_metadata(path).is_ok() {
        std::fs::remove_file(path)?;
    }
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(Box::new(listener))
}

impl super::Stream for std::os::unix::net::UnixStream {
    fn peek(&self, _buf: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::ErrorKind::Unsupported.into())
    }

    fn shutdown_write(&self) -> std::io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
}

impl super::Listening for std::os::unix::net::UnixListener {
    fn accept_stream(
        &self,
    ) -> std::io::Result<(Box<dyn super::Stream>, Option<std::net::SocketAddr>)> {
        let (stream, _) = self.accept()?;
        stream.set_nonblocking(true)?;
        Ok((Box::new(stream), None))
    }

    fn set_nonblocking(&self) -> std::io::Result<()> {
        std::os::unix::net::UnixListener::set_nonblocking(self, true)
    }
}

/// A raw socket, as `poll` takes it.
pub type RawSock = std::os::fd::RawFd;

/// Anything with a socket the API's relay waits on.
pub trait Sock {
    /// Its descriptor.
    fn raw(&self) -> RawSock;
}

impl<T: std::os::fd::AsRawFd> Sock for T {
    fn raw(&self) -> RawSock {
        self.as_raw_fd()
    }
}

/// Waits until a socket of `waits` is ready or `timeout` has passed (`None`: no limit), and
/// marks what each became ready for (an error or a hang-up counts as both: the next read or
/// write reports it). An interrupted wait returns with nothing ready.
#[allow(unsafe_code)]
pub fn poll(
    waits: &mut [super::Wait],
    timeout: Option<std::time::Duration>,
) -> std::io::Result<()> {
    let mut fds: Vec<libc::pollfd> = waits
        .iter()
        .map(|w| libc::pollfd {
            fd: w.sock,
            events: if w.read { libc::POLLIN } else { 0 } | if w.write { libc::POLLOUT } else { 0 },
            revents: 0,
        })
        .collect();
    let ms =
        timeout.map_or(-1, |t| i32::try_from(t.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX));
    let count = libc::nfds_t::try_from(fds.len()).unwrap_or(libc::nfds_t::MAX);
    // SAFETY: `fds` is a live array of `count` pollfd structs that poll only writes into.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), count, ms) };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        return if e.kind() == std::io::ErrorKind::Interrupted { Ok(()) } else { Err(e) };
    }
    for (w, f) in waits.iter_mut().zip(&fds) {
        let bad = f.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0;
        w.readable = bad || f.revents & libc::POLLIN != 0;
        w.writable = bad || f.revents & libc::POLLOUT != 0;
        w.failed = bad;
    }
    Ok(())
}

/// The stream from the API's relay to its private HTTP server.
pub type BackendStream = std::os::unix::net::UnixStream;

/// Where the relay's private HTTP server listens: a unix socket in the data directory, mode
/// 0600 (reachable by the daemon's user only).
#[derive(Debug, Clone)]
pub struct Backend(std::path::PathBuf);

impl Backend {
    /// Opens the private HTTP server on `relay.sock` in `data` (a stale file is replaced).
    pub fn listen(data: &Path) -> std::io::Result<(tiny_http::Server, Backend)> {
        let path = data.join("relay.sock");
        if std::fs::symlink_metadata(&path).is_ok() {
            std::fs::remove_file(&path)?;
        }
        let listener = std::os::unix::net::UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        let server =
            tiny_http::Server::from_listener(listener, None).map_err(std::io::Error::other)?;
        Ok((server, Backend(path)))
    }

    /// A new connection to it.
    pub fn connect(&self) -> std::io::Result<BackendStream> {
        BackendStream::connect(&self.0)
    }

    /// Removes its socket file.
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.0);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn received(server: &UnixDatagram) -> String {
        server.set_read_timeout(Some(std::time::Duration::from_secs(5))).expect("timeout");
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn notifications_reach_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("husky-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path).expect("bind");
        let n = Notifier::connect(path.as_os_str()).expect("connect");
        n.send("READY=1").expect("send");
        assert_eq!(received(&server), "READY=1");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn notifications_reach_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("husky-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("addr");
        let server = UnixDatagram::bind_addr(&addr).expect("bind");
        let n = Notifier::connect(OsStr::new(&format!("@{name}"))).expect("connect");
        n.send("WATCHDOG=1").expect("send");
        assert_eq!(received(&server), "WATCHDOG=1");
    }

    #[test]
    fn the_monotonic_clock_is_read() {
        assert!(monotonic_usec().is_some_and(|u| u > 0));
    }
}
