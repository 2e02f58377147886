//! The HTTP threads: one tiny_http server per listener (the unix socket `husky.sock`, mode
//! 0600, for the local CLI; for TCP `api.addr`, the dashboard and remote use, a private server
//! behind the relay thread that bounds connections, applies the timeouts and terminates TLS),
//! each served by one thread. Commands travel to the engine with a reply channel; reads use
//! the thread's own read-only database connection. Every answer is JSON; errors are
//! `{"error": "..."}` with a 4xx or 5xx status. Streams (server-sent events, WebSockets) are
//! handed to threads of their own once routed.

mod alerts;
pub mod assets;
pub mod auth;
mod db;
pub mod events;
pub mod metrics;
mod reads;
pub mod relay;
pub mod routes;
mod settings;
mod stream;
pub mod tls;
pub mod ws;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;
use time::OffsetDateTime;

use crate::engine::actor::EngineMsg;
use crate::engine::core::{Command, Reply};
use crate::store::Pragmas;

/// How long a request waits for the engine's answer.
pub(crate) const ENGINE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the HTTP threads share (read-only).
#[derive(Clone)]
pub struct Context {
    /// The engine's inbox.
    pub inbox: Sender<EngineMsg>,
    /// The husky.yaml (reloads read it again).
    pub husky_yaml: PathBuf,
    /// The database, for reads.
    pub db: PathBuf,
    /// Its connection settings.
    pub pragmas: Pragmas,
    /// When the daemon started.
    pub started_at: OffsetDateTime,
    /// The clock (for uptime).
    pub clock: Arc<dyn crate::clock::Clock>,
    /// The daemon's log.
    pub log: crate::log::Logger,
    /// Reloads husky.yaml (and huskyd.yaml's `log.level`).
    pub reloader: crate::daemon::Reloader,
    /// The store writer, for live log streams (`None`: streams are refused).
    pub store: Option<crate::store::writer::StoreHandle>,
    /// Why the database cannot be written right now (`None`: it can).
    pub store_down: Arc<Mutex<Option<String>>>,
    /// The dashboard's URL once the TCP listener is bound.
    pub api_url: Arc<Mutex<Option<String>>>,
    /// Log streams open now.
    pub streams: Arc<AtomicUsize>,
    /// huskyd.yaml as the daemon started with it.
    pub daemon: Arc<crate::config::DaemonConfig>,
    /// Who may call which route.
    pub auth: Arc<auth::Auth>,
    /// Log lines the store writer dropped while the database could not be written.
    pub dropped_lines: Arc<std::sync::atomic::AtomicU64>,
    /// WebSockets open now.
    pub websockets: Arc<AtomicUsize>,
    /// The notifier (integration tests, alert retries); `None` when none runs.
    pub notifier: Option<crossbeam_channel::Sender<crate::notify::Control>>,
}

/// Which listener a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// The unix socket: trusted as admin, no base path.
    Socket,
    /// TCP `api.addr`: auth, base path, CORS.
    Tcp,
    /// `metrics.addr`: `/metrics` only.
    Metrics,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("db", &self.db).finish_non_exhaustive()
    }
}

impl Context {
    /// Sends `cmd` to the engine and waits for its reply.
    fn ask(&self, cmd: Command) -> Result<Reply, routes::ApiError> {
        let (reply, rx) = crossbeam_channel::bounded(1);
        self.inbox
            .send(EngineMsg::Command { cmd, reply })
            .map_err(|_| routes::ApiError::unavailable("the engine has stopped"))?;
        rx.recv_timeout(ENGINE_TIMEOUT)
            .map_err(|_| routes::ApiError::unavailable("the engine did not answer in time"))
    }
}

/// The running HTTP threads.
pub struct Api {
    servers: Vec<Arc<tiny_http::Server>>,
    threads: Vec<JoinHandle<()>>,
    socket: Option<PathBuf>,
    relay: Option<(relay::Relay, crate::daemon::Backend)>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("listeners", &self.servers.len()).finish_non_exhaustive()
    }
}

/// Where to listen.
#[derive(Debug, Clone)]
pub struct Listen {
    /// The unix socket (Unix only).
    pub socket: Option<PathBuf>,
    /// A TCP address.
    pub tcp: Option<String>,
    /// The metrics listener's address, when it has one of its own.
    pub metrics: Option<String>,
    /// How the TCP listener serves.
    pub front: Front,
}

/// How the TCP listener serves: its connection limit, timeouts and TLS.
#[derive(Debug, Clone)]
pub struct Front {
    /// The data directory (the relay's private socket is made there).
    pub data: PathBuf,
    /// Connections open at once (`api.max_connections`).
    pub max_connections: usize,
    /// `api.timeouts`.
    pub timeouts: relay::Timeouts,
    /// `api.tls` (`None`: plain HTTP).
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Why a listener could not start.
#[derive(Debug)]
pub struct ListenError {
    /// Which listener.
    pub what: String,
    /// Why.
    pub error: String,
}

impl std::fmt::Display for ListenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot listen on {}: {}", self.what, self.error)
    }
}

/// Which requests a server takes.
#[derive(Debug, Clone)]
enum Trust {
    /// A listener of its own (the unix socket): requests must not claim to come from the relay.
    Direct,
    /// The relay's private server: every request must carry the relay's secret.
    Relay(String),
}

impl Trust {
    /// Why `request` is refused here, if it is.
    fn refusal(&self, request: &tiny_http::Request) -> Option<(u16, &'static str)> {
        let header = request
            .headers()
            .iter()
            .find(|h| h.field.equiv(relay::framer::RELAY_HEADER))
            .map(|h| h.value.as_str());
        match (self, header) {
            (Trust::Direct, None) => None,
            (Trust::Direct, Some(_)) => Some((400, "the X-Husky-Relay header is reserved")),
            (Trust::Relay(secret), Some(value))
                if value
                    .split(' ')
                    .next()
                    .is_some_and(|s| same(s.as_bytes(), secret.as_bytes())) =>
            {
                None
            }
            (Trust::Relay(_), _) => Some((403, "this socket serves the API's relay only")),
        }
    }
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The address of the client that sent `request`: on the TCP listener the one the relay saw
/// (from its header, which `serve` has checked), else what the socket says (nothing on the
/// unix socket).
pub fn peer(request: &tiny_http::Request) -> Option<SocketAddr> {
    let relayed = request
        .headers()
        .iter()
        .find(|h| h.field.equiv(relay::framer::RELAY_HEADER))
        .and_then(|h| h.value.as_str().split_once(' ').and_then(|(_, p)| p.parse().ok()));
    relayed.or_else(|| request.remote_addr().copied())
}

/// A random secret for the relay's header (hex).
fn secret() -> Result<String, ListenError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| ListenError {
        what: "the API relay".into(),
        error: format!("no random numbers: {e}"),
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl Api {
    /// Starts the listeners of `listen`, each with its thread (the TCP listener: the relay and
    /// the private server behind it). Returns the bound TCP address, if any.
    pub fn start(ctx: &Context, listen: &Listen) -> Result<(Api, Option<String>), ListenError> {
        let mut servers = Vec::new();
        let mut bound = None;
        let mut relay = None;
        // TCP first: when its address is taken (and the caller tries another), no unix socket
        // server has been made yet. One made and dropped would take the local CLI's first
        // requests into a queue nobody serves.
        let tcp = match &listen.tcp {
            Some(addr) => {
                let failed =
                    |e: std::io::Error| ListenError { what: addr.clone(), error: e.to_string() };
                let listener = std::net::TcpListener::bind(addr.as_str()).map_err(failed)?;
                bound = Some(listener.local_addr().map_err(failed)?.to_string());
                Some(listener)
            }
            None => None,
        };
        if let Some(path) = &listen.socket {
            let server = crate::daemon::serve_unix(path).map_err(|e| ListenError {
                what: path.display().to_string(),
                error: e.to_string(),
            })?;
            servers.push((Arc::new(server), Listener::Socket, Trust::Direct));
        }
        if let Some(listener) = tcp {
            let f = &listen.front;
            let (server, backend) = crate::daemon::Backend::listen(&f.data).map_err(|e| {
                ListenError { what: "the API relay's private socket".into(), error: e.to_string() }
            })?;
            let secret = secret()?;
            servers.push((Arc::new(server), Listener::Tcp, Trust::Relay(secret.clone())));
            let settings = relay::Settings {
                max_connections: f.max_connections.max(1),
                timeouts: f.timeouts,
                tls: f.tls.clone(),
                secret,
            };
            let started = relay::Relay::start(
                listener,
                backend.clone(),
                settings,
                ctx.log.clone(),
                ctx.clock.clone(),
            )
            .map_err(|e| ListenError { what: "the API relay".into(), error: e.to_string() })?;
            relay = Some((started, backend));
        }
        if let Some(addr) = &listen.metrics {
            let server = tiny_http::Server::http(addr.as_str())
                .map_err(|e| ListenError { what: addr.clone(), error: e.to_string() })?;
            servers.push((Arc::new(server), Listener::Metrics, Trust::Direct));
        }
        let mut threads = Vec::new();
        for (i, (server, kind, trust)) in servers.iter().enumerate() {
            let (server, ctx, kind, trust) = (server.clone(), ctx.clone(), *kind, trust.clone());
            let t = std::thread::Builder::new()
                .name(format!("husky-http-{i}"))
                .spawn(move || serve(&server, &ctx, kind, &trust))
                .map_err(|e| ListenError { what: "a thread".into(), error: e.to_string() })?;
            threads.push(t);
        }
        let servers = servers.into_iter().map(|(s, _, _)| s).collect();
        Ok((Api { servers, threads, socket: listen.socket.clone(), relay }, bound))
    }

    /// Stops accepting requests and waits for the threads.
    pub fn stop(mut self) {
        // The relay first: its connections end, and no new request reaches the private server.
        let backend = self.relay.take().map(|(relay, backend)| {
            relay.stop();
            backend
        });
        for s in &self.servers {
            s.unblock();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Some(p) = &self.socket {
            let _ = std::fs::remove_file(p);
        }
        if let Some(b) = backend {
            b.remove();
        }
    }
}

fn serve(server: &tiny_http::Server, ctx: &Context, listener: Listener, trust: &Trust) {
    let mut reader: Option<crate::store::query::Reader> = None;
    for mut request in server.incoming_requests() {
        if let Some((status, why)) = trust.refusal(&request) {
            respond_json(request, status, &serde_json::json!({ "error": why }));
            continue;
        }
        let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            routes::handle(ctx, &mut reader, &mut request, listener)
        }));
        let (out, headers) = answer.unwrap_or_else(|_| {
            ctx.log.error("api: internal error while handling a request (a bug)");
            let body = serde_json::json!({ "error": "internal error (see the daemon log)" });
            (routes::Out::Json(500, body), Vec::new())
        });
        if let routes::Out::Json(status @ (401 | 403), body) = &out {
            ctx.log.info(&format!(
                "api: {status} for {} {} from {}: {}",
                request.method(),
                request.url().split('?').next().unwrap_or_default(),
                peer(&request).map_or_else(|| "the socket".into(), |a| a.to_string()),
                body["error"].as_str().unwrap_or_default()
            ));
        }
        let with = |mut response: tiny_http::Response<std::io::Cursor<Vec<u8>>>| {
            for (name, value) in &headers {
                if let Ok(h) = tiny_http::Header::from_bytes(*name, value.as_bytes()) {
                    response.add_header(h);
                }
            }
            response
        };
        let _ = match out {
            routes::Out::Empty(status) => request
                .respond(with(tiny_http::Response::from_data(Vec::new()).with_status_code(status))),
            routes::Out::Json(status, body) => request.respond(with(json_response(status, &body))),
            routes::Out::Text(status, text, content_type) => {
                let mut response = tiny_http::Response::from_string(text).with_status_code(status);
                if let Ok(h) = tiny_http::Header::from_bytes("Content-Type", content_type) {
                    response.add_header(h);
                }
                request.respond(with(response))
            }
            routes::Out::Bytes(status, bytes, content_type) => {
                let mut response = tiny_http::Response::from_data(bytes).with_status_code(status);
                if let Ok(h) = tiny_http::Header::from_bytes("Content-Type", content_type) {
                    response.add_header(h);
                }
                request.respond(with(response))
            }
            routes::Out::Page(items, total) => {
                let text = serde_json::Value::Array(items).to_string();
                request.respond(with(list_response(text, total)))
            }
            routes::Out::RawList(text, total) => request.respond(with(list_response(text, total))),
            routes::Out::LogStream(s) => {
                stream::spawn(ctx, request, s, &headers);
                Ok(())
            }
            routes::Out::EventStream(s) => {
                events::spawn(ctx, request, s, &headers);
                Ok(())
            }
            routes::Out::WebSocket(s) => {
                ws::spawn(ctx, request, s);
                Ok(())
            }
        };
    }
}

/// A JSON array answer with its total count.
fn list_response(mut text: String, total: u64) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    text.push('\n');
    let mut response = tiny_http::Response::from_string(text);
    for (name, value) in
        [("Content-Type", "application/json".to_owned()), ("X-Total-Count", total.to_string())]
    {
        if let Ok(h) = tiny_http::Header::from_bytes(name, value) {
            response.add_header(h);
        }
    }
    response
}

fn json_response(
    status: u16,
    body: &serde_json::Value,
) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let mut text = body.to_string();
    text.push('\n');
    let mut response = tiny_http::Response::from_string(text).with_status_code(status);
    if let Ok(h) = tiny_http::Header::from_bytes("Content-Type", "application/json") {
        response.add_header(h);
    }
    response
}

/// Answers `request` with a JSON body.
fn respond_json(request: tiny_http::Request, status: u16, body: &serde_json::Value) {
    let _ = request.respond(json_response(status, body));
}
