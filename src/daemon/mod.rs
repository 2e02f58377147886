//! The daemon's wiring: the data directory and its single-instance lock, start-up recovery, the
//! threads of ARCHITECTURE.md §1 started in dependency order (store writer, worker pool, engine,
//! signals, API) and stopped in reverse, reloads, and systemd's notifications.

use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, unbounded};

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, DaemonConfig};
use crate::engine::actor::{self, EngineMsg, Wiring};
use crate::engine::core::{Command, Core, DaemonAlerts};
use crate::engine::{Settings, restore};
use crate::exec::attempt::Settings as ExecSettings;
use crate::exec::pool;
use crate::log::audit::Audit;
use crate::log::{Level, Logger};
use crate::store::retention::Policy;
use crate::store::writer::{self, StoreEvent, WriterOptions};
use crate::store::{self, Pragmas, StoreError};

pub mod systemd;
#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as platform;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as platform;

/// Why the daemon could not start.
#[derive(Debug)]
pub enum DaemonError {
    /// Another daemon holds the data directory.
    AlreadyRunning {
        /// The data directory.
        data: PathBuf,
        /// The other daemon's pid, as its pid file says.
        pid: Option<u32>,
    },
    /// A file or directory could not be made or used.
    Io {
        /// What was being done.
        what: String,
        /// The OS's reason.
        error: std::io::Error,
    },
    /// The database could not be opened or read.
    Store(StoreError),
    /// An API listener could not be opened.
    Listen(crate::api::ListenError),
    /// `api.tls` cannot be used.
    Tls(crate::api::tls::TlsError),
    /// `auth.*` cannot be put in force (no tokens, an unreadable token file, an unknown role).
    Auth(String),
}

impl std::fmt::Display for DaemonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DaemonError::AlreadyRunning { data, pid: Some(pid) } => write!(
                f,
                "another husky daemon (pid {pid}) is running on {}; stop it first (`husky stop`)",
                data.display()
            ),
            DaemonError::AlreadyRunning { data, pid: None } => {
                write!(f, "another husky daemon is running on {}", data.display())
            }
            DaemonError::Io { what, error } => write!(f, "{what}: {error}"),
            DaemonError::Store(e) => write!(f, "the state database: {e}"),
            DaemonError::Listen(e) => write!(f, "{e}"),
            DaemonError::Tls(e) => write!(f, "cannot serve the API over TLS: {e}"),
            DaemonError::Auth(e) => write!(f, "{e}"),
        }
    }
}

impl From<StoreError> for DaemonError {
    fn from(e: StoreError) -> Self {
        DaemonError::Store(e)
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DaemonError {
    let what = what.into();
    move |error| DaemonError::Io { what, error }
}

/// The data directory for `husky_yaml`: `explicit`, else `$HUSKY_DATA`, else `.husky` beside it.
pub fn data_dir(explicit: Option<&Path>, husky_yaml: &Path) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("HUSKY_DATA").filter(|v| !v.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| husky_yaml.parent().unwrap_or(Path::new(".")).join(".husky"))
}

/// Where the daemon's files are.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The husky.yaml (reloads read it again).
    pub husky_yaml: PathBuf,
    /// The data directory (`.husky/` beside husky.yaml unless given).
    pub data: PathBuf,
    /// The database (`husky.db` in the data directory unless `storage.sqlite.path` says).
    pub db: PathBuf,
}

impl Paths {
    /// The paths for `husky_yaml` and its data directory `data`.
    pub fn new(husky_yaml: &Path, data: PathBuf, daemon: &DaemonConfig) -> Paths {
        let db = match &daemon.storage.sqlite_path {
            Some(_) => store::database_path(husky_yaml, &daemon.storage),
            None => data.join("husky.db"),
        };
        Paths { husky_yaml: husky_yaml.to_path_buf(), data, db }
    }
}

/// A running daemon.
#[derive(Debug)]
pub struct Daemon {
    inbox: Sender<EngineMsg>,
    api: Option<crate::api::Api>,
    addr_file: PathBuf,
    engine: Option<JoinHandle<()>>,
    workers: Vec<JoinHandle<()>>,
    notifier: Option<crate::notify::Notifier>,
    writer: Option<JoinHandle<()>>,
    systemd: Option<systemd::Pinger>,
    lock: Option<PidLock>,
}

impl Daemon {
    /// Starts the daemon on `paths` with a validated configuration: takes the data directory's
    /// lock, recovers what an earlier daemon left, and starts the threads. Signals (SIGTERM,
    /// SIGINT, SIGHUP) are handled from here on. Under systemd (`NOTIFY_SOCKET`), `READY=1` is
    /// sent once the API listens.
    pub fn start(
        paths: &Paths,
        config: Config,
        daemon: &DaemonConfig,
        log: &Logger,
    ) -> Result<Daemon, DaemonError> {
        platform::lean_malloc();
        // Before anything starts: a certificate or key that cannot be used stops the daemon.
        let tls = match daemon.api.tls.enabled {
            true => Some(
                crate::api::tls::server_config(&daemon.api.tls, &config.dir)
                    .map_err(DaemonError::Tls)?,
            ),
            false => None,
        };
        platform::private_dir(&paths.data)
            .map_err(io(format!("cannot create the data directory {}", paths.data.display())))?;
        let lock = PidLock::take(&paths.data)?;
        if let Err(e) = crate::exec::become_subreaper() {
            log.warn(&format!(
                "cannot become a child subreaper ({e}); processes that escape a run's group may outlive it"
            ));
        }
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let audit = match (&daemon.log.audit_log, &daemon.log.audit_log.path) {
            (a, Some(p)) if a.enabled => {
                let path = crate::log::resolve(&config.dir, p);
                let what = format!("cannot open the audit log {}", path.display());
                Some(Audit::open(path, a, clock.clone(), log.clone()).map_err(io(what))?)
            }
            _ => None,
        };
        let auth = Arc::new(start_auth(daemon, &config.dir, &paths.data, log)?);
        let pragmas = Pragmas::of(&daemon.storage);
        if let Some(dir) = paths.db.parent() {
            std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
        }
        let conn = store::open_writer(&paths.db, pragmas)?;
        let reader = store::open_reader(&paths.db, pragmas)?;
        let data = std::path::absolute(&paths.data).unwrap_or_else(|_| paths.data.clone());
        let restored = restore(&reader, &config, &data, &|line: &str| log.warn(line))?;
        drop(reader);
        let s = &daemon.storage;
        let options = WriterOptions {
            max_log_bytes_per_run: s.retention_max_log_bytes_per_run,
            retention: Some(Policy::of(s)),
            ..WriterOptions::default()
        };
        let (store, store_events, writer) = writer::spawn(conn, options, clock.clone())
            .map_err(io("cannot start the store writer"))?;
        let store_log = log.clone();
        let store_down: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
        let down = store_down.clone();
        let dropped: Arc<std::sync::atomic::AtomicU64> = Arc::default();
        let dropped_count = dropped.clone();
        std::thread::Builder::new()
            .name("husky-store-events".into())
            .spawn(move || {
                for e in store_events {
                    let level = match e {
                        StoreEvent::Unavailable { .. } | StoreEvent::Failed { .. } => Level::Error,
                        StoreEvent::Recovered { .. } => Level::Warn,
                        StoreEvent::Pruned(_) => Level::Info,
                    };
                    if let StoreEvent::Recovered { dropped_lines, .. } = &e {
                        dropped_count
                            .fetch_add(*dropped_lines, std::sync::atomic::Ordering::Relaxed);
                    }
                    if let Ok(mut d) = down.lock() {
                        match &e {
                            StoreEvent::Unavailable { error } => *d = Some(error.clone()),
                            StoreEvent::Recovered { .. } => *d = None,
                            _ => {}
                        }
                    }
                    store_log.log(level, &format!("store: {e:?}"));
                }
            })
            .map_err(io("cannot start a thread"))?;
        let mut exec = ExecSettings::new(daemon, &config.dir);
        exec.data_dir = Some(data);
        let exec = Arc::new(exec);
        let size = daemon
            .executor
            .pool_size
            .map_or_else(pool::default_size, |n| usize::try_from(n).unwrap_or(1));
        let (orders, order_rx) = unbounded();
        let (event_tx, events) = unbounded();
        let workers = pool::spawn(size, exec, order_rx, event_tx, store.clone(), clock.clone())
            .map_err(io("cannot start the workers"))?;
        let (inbox_tx, inbox) = unbounded();
        let seed = clock.now_utc().unix_timestamp_nanos().unsigned_abs() as u64
            ^ u64::from(std::process::id());
        let config = Arc::new(config);
        let mut core = Core::new(config.clone(), Settings::of(&daemon.scheduler), &restored, seed);
        core.set_alerts(DaemonAlerts {
            on_sla_breach: daemon.alerts.on_sla_breach.clone(),
            on_forced_kill: daemon.alerts.on_forced_kill.clone(),
        });
        let (notice_tx, notices) = unbounded();
        let notify_settings = crate::notify::Settings {
            http: daemon.http_client.clone(),
            give_up_after: daemon.alerts.give_up_after,
            on_daemon_start: daemon.alerts.on_daemon_start.clone(),
            db: paths.db.clone(),
            pragmas,
        };
        let notifier = crate::notify::spawn(
            config,
            notify_settings,
            notices,
            store.clone(),
            clock.clone(),
            log.clone(),
        )
        .map_err(io("cannot start the notifier"))?;
        let api_clock = clock.clone();
        let store_handle = store.clone();
        let (sd, pinger) = systemd::start(daemon.process.watchdog_interval, log)
            .map_err(io("cannot start the systemd notifier"))?;
        let wiring = Wiring {
            inbox,
            events,
            orders,
            store,
            notices: Some((notice_tx, notifier.waker())),
            log: log.clone(),
            audit,
            stopping: sd.stopping(),
            clock,
        };
        let engine = actor::spawn(core, restored, wiring).map_err(io("cannot start the engine"))?;
        let reloader = Reloader {
            husky_yaml: paths.husky_yaml.clone(),
            daemon: Arc::new(daemon.clone()),
            log: log.clone(),
            systemd: sd.clone(),
            auth: auth.clone(),
            notifier: Some(notifier.control()),
        };
        platform::handle_signals(inbox_tx.clone(), reloader.clone(), log.clone())
            .map_err(io("cannot handle signals"))?;
        let ctx = crate::api::Context {
            inbox: inbox_tx.clone(),
            husky_yaml: paths.husky_yaml.clone(),
            db: paths.db.clone(),
            pragmas,
            started_at: api_clock.now_utc(),
            clock: api_clock,
            log: log.clone(),
            store: Some(store_handle),
            store_down,
            api_url: Arc::default(),
            streams: Arc::default(),
            websockets: Arc::default(),
            reloader,
            daemon: Arc::new(daemon.clone()),
            auth,
            dropped_lines: dropped,
            notifier: Some(notifier.link()),
        };
        let api = start_api(&ctx, paths, daemon, tls, log);
        let api = match api {
            Ok(api) => api,
            Err(e) => {
                // Without its control plane the daemon must not run on: stop what started.
                let (reply, _rx) = crossbeam_channel::bounded(1);
                let cmd = Command::Shutdown { force: true };
                let _ = inbox_tx.send(EngineMsg::Command { cmd, reply });
                let _ = engine.join();
                return Err(e);
            }
        };
        platform::trim_heap();
        log.info(&format!(
            "husky daemon {} started (pid {}, {} workers, data {})",
            env!("CARGO_PKG_VERSION"),
            std::process::id(),
            size,
            paths.data.display()
        ));
        sd.ready();
        Ok(Daemon {
            inbox: inbox_tx,
            api: Some(api),
            addr_file: paths.data.join("api.addr"),
            engine: Some(engine),
            workers,
            notifier: Some(notifier),
            writer: Some(writer),
            systemd: pinger,
            lock: Some(lock),
        })
    }

    /// The engine's inbox (commands).
    pub fn inbox(&self) -> &Sender<EngineMsg> {
        &self.inbox
    }

    /// Waits until the engine has shut down (a signal or a shutdown command), then for the
    /// workers and the writer (which commits what it holds), and releases the data directory.
    pub fn wait(mut self) {
        if let Some(e) = self.engine.take() {
            let _ = e.join();
        }
        if let Some(api) = self.api.take() {
            api.stop();
        }
        let _ = std::fs::remove_file(&self.addr_file);
        for name in ["api.url", "api.token"] {
            let _ = std::fs::remove_file(self.addr_file.with_file_name(name));
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        if let Some(n) = self.notifier.take() {
            n.join();
        }
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        self.systemd.take();
        self.lock.take();
    }
}

/// Starts the listeners, all behind the relay: the unix socket `husky.sock` (Unix), TCP
/// `api.addr` (with TLS when `tls` is given) and `metrics.addr` when it has one of its own. When the default address is taken (and none was
/// configured), an OS-chosen loopback port is used instead, with a warning. The bound address
/// is written to `api.addr` in the data directory, and its URL (`https://` with TLS, and
/// `api.base_path`) to `api.url`.
fn start_api(
    ctx: &crate::api::Context,
    paths: &Paths,
    daemon: &DaemonConfig,
    tls: Option<Arc<rustls::ServerConfig>>,
    log: &Logger,
) -> Result<crate::api::Api, DaemonError> {
    use crate::api::{Api, Front, Listen, relay::Timeouts};
    let socket = cfg!(unix).then(|| paths.data.join("husky.sock"));
    let t = &daemon.api.timeouts;
    let std = |d: time::Duration| std::time::Duration::try_from(d).unwrap_or_default();
    let front = Front {
        data: paths.data.clone(),
        max_connections: usize::try_from(daemon.api.max_connections).unwrap_or(usize::MAX),
        timeouts: Timeouts {
            read_header: std(t.read_header),
            read: std(t.read),
            write: std(t.write),
            idle: std(t.idle),
        },
        tls,
    };
    let secure = front.tls.is_some();
    let m = &daemon.metrics;
    let metrics = (m.enabled && !crate::api::metrics::on_api_listener(ctx)).then(|| m.addr.clone());
    let wanted = Listen {
        socket: socket.clone(),
        tcp: Some(daemon.api.addr.clone()),
        metrics: metrics.clone(),
        front: front.clone(),
    };
    let started = match Api::start(ctx, &wanted) {
        Err(e) if !daemon.api.addr_explicit && e.what == daemon.api.addr => {
            log.warn(&format!("{e}; using a free loopback port instead"));
            let tcp = Some("127.0.0.1:0".into());
            Api::start(ctx, &Listen { socket, tcp, metrics, front })
        }
        other => other,
    };
    let (api, bound) = started.map_err(DaemonError::Listen)?;
    if let Some(addr) = bound {
        let scheme = if secure { "https" } else { "http" };
        let url = format!("{scheme}://{addr}{}", daemon.api.base_path.trim_end_matches('/'));
        if let Ok(mut held) = ctx.api_url.lock() {
            *held = Some(url.clone());
        }
        for (name, text) in [("api.addr", &addr), ("api.url", &url)] {
            let file = paths.data.join(name);
            std::fs::write(&file, text).map_err(io(format!("cannot write {}", file.display())))?;
        }
        log.info(&format!("API on {url} and {}", paths.data.join("husky.sock").display()));
        if let Some(warning) = exposure_warning(&addr, secure, daemon.auth.kind) {
            log.warn(&warning);
        }
    }
    if m.enabled {
        let at =
            if crate::api::metrics::on_api_listener(ctx) { "the API listener" } else { &m.addr };
        let auth = if m.auth { "with" } else { "without" };
        log.info(&format!("metrics on {at} at {} ({auth} the API's auth)", m.path));
    }
    Ok(api)
}

/// The warning for a TCP listener reachable from other machines without both TLS and
/// authentication (`None`: loopback, or both are on).
pub fn exposure_warning(addr: &str, tls: bool, auth: crate::config::AuthType) -> Option<String> {
    let ip = addr.parse::<std::net::SocketAddr>().ok()?.ip();
    let auth = auth != crate::config::AuthType::None;
    if ip.is_loopback() || (tls && auth) {
        return None;
    }
    let missing = match (tls, auth) {
        (false, false) => "without TLS and without authentication",
        (false, true) => "without TLS (tokens and passwords cross the network in clear)",
        _ => "without authentication",
    };
    Some(format!(
        "SECURITY WARNING: the API listens on {addr}, reachable from other machines, {missing}: \
         whoever can reach it can read logs and run, stop or change jobs. Set api.tls and \
         auth.type (bearer or basic), or listen on 127.0.0.1"
    ))
}

/// The API's authenticator (`auth.*`; a token file relative to husky.yaml's directory), and
/// the daemon's local token, written to `api.token` in the data directory (mode 0600): it
/// lets the local CLI in over TCP where there is no unix socket.
fn start_auth(
    daemon: &DaemonConfig,
    dir: &Path,
    data: &Path,
    log: &Logger,
) -> Result<crate::api::auth::Auth, DaemonError> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| DaemonError::Io {
        what: "cannot make the local API token".into(),
        error: std::io::Error::other(e.to_string()),
    })?;
    let local: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let file = data.join("api.token");
    platform::private_file(&file, local.as_bytes())
        .map_err(io(format!("cannot write {}", file.display())))?;
    let cfg = &daemon.auth;
    let token_file = cfg.token_file.as_deref().map(|p| crate::log::resolve(dir, p));
    let auth =
        crate::api::auth::Auth::new(cfg, token_file, Some(local)).map_err(DaemonError::Auth)?;
    if cfg.kind == crate::config::AuthType::Bearer && cfg.token.is_some() {
        log.warn("auth.bearer.token is set inline in huskyd.yaml: prefer auth.bearer.token_file (re-read on reload, kept out of the config)");
    }
    Ok(auth)
}

/// The data directory's single-instance lock: an OS file lock on `husky.pid`, held for the
/// daemon's life (a stale file never blocks; two daemons can never share a directory). The
/// file is emptied, not removed, at exit: removing it would let two later daemons lock two
/// different files.
#[derive(Debug)]
struct PidLock {
    file: File,
    path: PathBuf,
}

impl PidLock {
    fn take(data: &Path) -> Result<PidLock, DaemonError> {
        let path = data.join("husky.pid");
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io(format!("cannot open {}", path.display())))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let pid = std::fs::read_to_string(&path).ok().and_then(|t| t.trim().parse().ok());
                return Err(DaemonError::AlreadyRunning { data: data.to_path_buf(), pid });
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(DaemonError::Io {
                    what: format!("cannot lock {}", path.display()),
                    error: e,
                });
            }
        }
        file.set_len(0).map_err(io(format!("cannot write {}", path.display())))?;
        writeln!(file, "{}", std::process::id())
            .map_err(io(format!("cannot write {}", path.display())))?;
        Ok(PidLock { file, path })
    }
}

/// Whether a daemon holds the lock of the data directory `data` (a daemon that is stopping
/// holds it until its last thread is joined).
pub fn is_locked(data: &Path) -> bool {
    let Ok(file) = File::open(data.join("husky.pid")) else { return false };
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(std::fs::TryLockError::WouldBlock) => true,
        Err(std::fs::TryLockError::Error(_)) => false,
    }
}

impl Drop for PidLock {
    fn drop(&mut self) {
        if self.file.set_len(0).is_err() {
            eprintln!("husky: cannot empty {}", self.path.display());
        }
        let _ = self.file.unlock();
    }
}

/// Reads and validates `husky_yaml` for a reload: the new configuration, or every error.
pub fn load_for_reload(husky_yaml: &Path) -> Result<Arc<Config>, Vec<String>> {
    let loaded = crate::config::load_husky(husky_yaml);
    let errors: Vec<String> = loaded.errors().map(|d| d.to_string()).collect();
    match loaded.value {
        Some(config) if errors.is_empty() => Ok(Arc::new(config)),
        _ => Err(errors),
    }
}

/// What a reload reads again: husky.yaml (the jobs) and huskyd.yaml's `log.level` (any other
/// huskyd.yaml change needs a restart, and says so in the log). SIGHUP and
/// `POST /api/daemon/reload` both reload through it.
#[derive(Debug, Clone)]
pub struct Reloader {
    husky_yaml: PathBuf,
    /// huskyd.yaml as the daemon started with it.
    daemon: Arc<DaemonConfig>,
    log: Logger,
    systemd: systemd::Systemd,
    /// The API's authenticator (its token file is read again).
    auth: Arc<crate::api::auth::Auth>,
    /// The notifier, told of the new integrations.
    notifier: Option<Sender<crate::notify::Control>>,
}

impl Reloader {
    /// Reloads: applies huskyd.yaml's `log.level`, then validates husky.yaml and gives the
    /// engine's reload command to `apply` (which sends it and waits for the answer). When
    /// husky.yaml does not validate, the configuration in force stays and the errors (also
    /// logged) are returned. systemd hears `RELOADING=1` before and `READY=1` after.
    pub fn reload<R>(&self, apply: impl FnOnce(Command) -> R) -> Result<R, Vec<String>> {
        self.systemd.reloading();
        self.reload_log_level();
        if self.auth.required() {
            match self.auth.reload() {
                Ok(0) => {}
                Ok(n) => self.log.info(&format!("auth: {n} bearer token(s) in force")),
                Err(e) => self.log.warn(&format!("auth: {e}; the tokens in force stay")),
            }
        }
        let result = match load_for_reload(&self.husky_yaml) {
            Ok(config) => {
                if let Some(n) = &self.notifier {
                    let _ = n.send(crate::notify::Control::Config(config.clone()));
                }
                Ok(apply(Command::Reload(config)))
            }
            Err(errors) => {
                self.log.warn("reload rejected: the configuration in force stays");
                for e in &errors {
                    self.log.warn(e);
                }
                Err(errors)
            }
        };
        self.systemd.ready();
        result
    }

    fn reload_log_level(&self) {
        let path = self
            .daemon
            .path
            .clone()
            .or_else(|| crate::config::daemon_config_path(None, &self.husky_yaml));
        let Some(path) = path else { return };
        let loaded = crate::config::load_daemon(&path);
        let Some(new) = loaded.value else {
            self.log.warn(&format!(
                "{} does not validate; the log level in force stays",
                path.display()
            ));
            for d in &loaded.diagnostics {
                self.log.warn(&d.to_string());
            }
            return;
        };
        let old = self.log.level();
        if new.log.level != old {
            let line = format!(
                "log level is now {}",
                crate::log::level_name(new.log.level).to_lowercase()
            );
            // Said at the more verbose of the two levels, so that it is seen.
            if new.log.level > old {
                self.log.log(old.max(Level::Info), &line);
                self.log.set_level(new.log.level);
            } else {
                self.log.set_level(new.log.level);
                self.log.log(new.log.level.max(Level::Info), &line);
            }
        }
        let mut rest = new;
        rest.log.level = self.daemon.log.level;
        rest.path.clone_from(&self.daemon.path);
        if rest != *self.daemon {
            self.log.warn(&format!(
                "{} changed: a reload applies only log.level; restart the daemon for the rest",
                path.display()
            ));
        }
    }
}

/// The API relay's private HTTP server and the stream to it: a unix socket in the data
/// directory (Unix), a loopback port (Windows); the relay's sockets and connections.
pub use platform::{Backend, BackendStream, RawSock, Sock};

/// One socket the API's relay waits on: what for, and (after [`poll`]) what it is ready for.
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    /// The socket.
    pub sock: RawSock,
    /// Wait until it can be read.
    pub read: bool,
    /// Wait until it can be written.
    pub write: bool,
    /// It can be read (or has failed).
    pub readable: bool,
    /// It can be written (or has failed).
    pub writable: bool,
    /// It has failed or hung up (an error, a reset, both directions closed).
    pub failed: bool,
}

impl Wait {
    /// Waiting on `sock` for reading and/or writing.
    pub fn on(sock: &(impl Sock + ?Sized), read: bool, write: bool) -> Wait {
        Wait { sock: sock.raw(), read, write, readable: false, writable: false, failed: false }
    }
}

/// A client connection of the API's relay: TCP, or (Unix) the local socket's.
pub trait Stream: std::io::Read + std::io::Write + Sock + Send + std::fmt::Debug {
    /// Reads without taking the bytes (TCP; other streams say `Unsupported`).
    fn peek(&self, buf: &mut [u8]) -> std::io::Result<usize>;
    /// Ends the sending direction.
    fn shutdown_write(&self) -> std::io::Result<()>;
}

/// A listening socket of the API's relay: TCP, or (Unix) the local socket.
pub trait Listening: Sock + Send + std::fmt::Debug {
    /// Accepts a connection, made non-blocking, with the client's address when it has one.
    fn accept_stream(&self) -> std::io::Result<(Box<dyn Stream>, Option<SocketAddr>)>;
    /// Makes accepting non-blocking.
    fn set_nonblocking(&self) -> std::io::Result<()>;
}

impl Stream for std::net::TcpStream {
    fn peek(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        std::net::TcpStream::peek(self, buf)
    }

    fn shutdown_write(&self) -> std::io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
}

impl Listening for std::net::TcpListener {
    fn accept_stream(&self) -> std::io::Result<(Box<dyn Stream>, Option<SocketAddr>)> {
        let (stream, peer) = self.accept()?;
        stream.set_nonblocking(true)?;
        let _ = stream.set_nodelay(true);
        Ok((Box::new(stream), Some(peer)))
    }

    fn set_nonblocking(&self) -> std::io::Result<()> {
        std::net::TcpListener::set_nonblocking(self, true)
    }
}

/// Waits until a socket of `waits` is ready or `timeout` has passed (`None`: no limit).
pub fn poll(waits: &mut [Wait], timeout: Option<std::time::Duration>) -> std::io::Result<()> {
    platform::poll(waits, timeout)
}

/// The local socket `path` (a stale socket file is replaced), usable by its owner only, for
/// the API's relay (Unix); an error elsewhere.
pub fn listen_local(path: &Path) -> std::io::Result<Box<dyn Listening>> {
    platform::listen_local(path)
}

/// Makes a spawned daemon independent of the terminal that started it.
pub fn detach(cmd: &mut std::process::Command) {
    platform::detach(cmd);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AuthType;

    #[test]
    fn only_a_listener_beyond_loopback_without_tls_and_auth_is_warned_about() {
        let warned = |addr: &str, tls: bool, auth: AuthType| {
            exposure_warning(addr, tls, auth).map(|w| {
                [
                    "without TLS and without authentication",
                    "without TLS (",
                    "without authentication",
                ]
                .iter()
                .position(|m| w.contains(m))
            })
        };
        assert_eq!(warned("127.0.0.1:8420", false, AuthType::None), None);
        assert_eq!(warned("[::1]:8420", false, AuthType::None), None);
        assert_eq!(warned("0.0.0.0:8420", true, AuthType::Bearer), None);
        assert_eq!(warned("0.0.0.0:8420", false, AuthType::None), Some(Some(0)));
        assert_eq!(warned("[::]:8420", false, AuthType::Basic), Some(Some(1)));
        assert_eq!(warned("192.168.1.5:8420", true, AuthType::None), Some(Some(2)));
    }

    #[test]
    fn the_data_directory_is_locked_while_a_pid_lock_lives_and_free_after() {
        let dir = std::env::temp_dir().join(format!("husky-pidlock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        assert!(!is_locked(&dir), "no pid file: not locked");
        let lock = PidLock::take(&dir).expect("lock");
        assert!(is_locked(&dir));
        assert!(matches!(PidLock::take(&dir), Err(DaemonError::AlreadyRunning { .. })));
        drop(lock);
        assert!(!is_locked(&dir), "released on drop");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
