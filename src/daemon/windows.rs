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
pub fn listen_local(path: &Path) -> std::io::Result<Box<dyn super::Listening>> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        format!("no unix socket on Windows ({})", path.display()),
    ))
}

/// A raw socket, as `WSAPoll` takes it.
pub type RawSock = std::os::windows::io::RawSocket;

/// Anything with a socket the API's relay waits on.
pub trait Sock {
    /// Its handle.
    fn raw(&self) -> RawSock;
}

impl<T: std::os::windows::io::AsRawSocket> Sock for T {
    fn raw(&self) -> RawSock {
        self.as_raw_socket()
    }
}

/// Waits until a socket of `waits` is ready or `timeout` has passed (`None`: no limit), and
/// marks what each became ready for (an error or a hang-up counts as both).
#[allow(unsafe_code)]
pub fn poll(
    waits: &mut [super::Wait],
    timeout: Option<std::time::Duration>,
) -> std::io::Result<()> {
    use windows_sys::Win32::Networking::WinSock::{
        POLLERR, POLLHUP, POLLNVAL, POLLRDNORM, POLLWRNORM, WSAGetLastError, WSAPOLLFD, WSAPoll,
    };
    let mut fds: Vec<WSAPOLLFD> = waits
        .iter()
        .map(|w| WSAPOLLFD {
            // A negative socket (INVALID_SOCKET) is skipped: WSAPoll wants at least one event.
            fd: if w.read || w.write {
                usize::try_from(w.sock).unwrap_or(usize::MAX)
            } else {
                usize::MAX
            },
            events: if w.read { POLLRDNORM } else { 0 } | if w.write { POLLWRNORM } else { 0 },
            revents: 0,
        })
        .collect();
    let ms =
        timeout.map_or(-1, |t| i32::try_from(t.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX));
    let count = u32::try_from(fds.len()).unwrap_or(u32::MAX);
    // SAFETY: `fds` is a live array of `count` WSAPOLLFD structs that WSAPoll only writes into.
    let n = unsafe { WSAPoll(fds.as_mut_ptr(), count, ms) };
    if n < 0 {
        // SAFETY: reads the calling thread's last Winsock error.
        return Err(std::io::Error::from_raw_os_error(unsafe { WSAGetLastError() }));
    }
    for (w, f) in waits.iter_mut().zip(&fds) {
        let bad = f.revents & (POLLERR | POLLHUP | POLLNVAL) != 0;
        w.readable = bad || f.revents & POLLRDNORM != 0;
        w.writable = bad || f.revents & POLLWRNORM != 0;
        w.failed = bad;
    }
    Ok(())
}

/// The stream from the API's relay to its private HTTP server.
pub type BackendStream = std::net::TcpStream;

/// Where the relay's private HTTP server listens: an OS-chosen loopback port (no unix sockets
/// here). Requests reaching it must carry the relay's secret, so other local processes gain
/// nothing by connecting to it directly.
#[derive(Debug, Clone)]
pub struct Backend(std::net::SocketAddr);

impl Backend {
    /// Opens the private HTTP server on a loopback port.
    pub fn listen(_data: &Path) -> std::io::Result<(tiny_http::Server, Backend)> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let server =
            tiny_http::Server::from_listener(listener, None).map_err(std::io::Error::other)?;
        Ok((server, Backend(addr)))
    }

    /// A new connection to it.
    pub fn connect(&self) -> std::io::Result<BackendStream> {
        BackendStream::connect(self.0)
    }

    /// Nothing to remove.
    pub fn remove(&self) {}
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
