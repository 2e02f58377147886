//! The HTTP threads: one tiny_http server per listener (the unix socket `husky.sock`, mode
//! 0600, for the local CLI; TCP `api.addr` for the dashboard and remote use), each served by
//! one thread. Commands travel to the engine with a reply channel; reads use the thread's own
//! read-only database connection. Every answer is JSON; errors are `{"error": "..."}` with a
//! 4xx or 5xx status. Streams (server-sent events, WebSockets) are handed to threads of their
//! own once routed.

pub mod auth;
mod db;
pub mod events;
pub mod metrics;
mod reads;
pub mod routes;
mod settings;
mod stream;
pub mod ws;

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
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("listeners", &self.servers.len()).finish_non_exhaustive()
    }
}

/// Where to listen.
#[derive(Debug, Clone, Default)]
pub struct Listen {
    /// The unix socket (Unix only).
    pub socket: Option<PathBuf>,
    /// A TCP address.
    pub tcp: Option<String>,
    /// The metrics listener's address, when it has one of its own.
    pub metrics: Option<String>,
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

impl Api {
    /// Starts the listeners of `listen`, each with its thread. Returns the bound TCP address,
    /// if any.
    pub fn start(ctx: &Context, listen: &Listen) -> Result<(Api, Option<String>), ListenError> {
        let mut servers = Vec::new();
        let mut kinds = Vec::new();
        let mut bound = None;
        if let Some(path) = &listen.socket {
            let server = crate::daemon::serve_unix(path).map_err(|e| ListenError {
                what: path.display().to_string(),
                error: e.to_string(),
            })?;
            servers.push(Arc::new(server));
            kinds.push(Listener::Socket);
        }
        for (addr, kind) in [(&listen.tcp, Listener::Tcp), (&listen.metrics, Listener::Metrics)] {
            let Some(addr) = addr else { continue };
            let server = tiny_http::Server::http(addr.as_str())
                .map_err(|e| ListenError { what: addr.clone(), error: e.to_string() })?;
            if kind == Listener::Tcp {
                bound = server.server_addr().to_ip().map(|a| a.to_string());
            }
            servers.push(Arc::new(server));
            kinds.push(kind);
        }
        let mut threads = Vec::new();
        for (i, (server, kind)) in servers.iter().zip(kinds).enumerate() {
            let (server, ctx) = (server.clone(), ctx.clone());
            let t = std::thread::Builder::new()
                .name(format!("husky-http-{i}"))
                .spawn(move || serve(&server, &ctx, kind))
                .map_err(|e| ListenError { what: "a thread".into(), error: e.to_string() })?;
            threads.push(t);
        }
        Ok((Api { servers, threads, socket: listen.socket.clone() }, bound))
    }

    /// Stops accepting requests and waits for the threads.
    pub fn stop(mut self) {
        for s in &self.servers {
            s.unblock();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Some(p) = &self.socket {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn serve(server: &tiny_http::Server, ctx: &Context, listener: Listener) {
    let mut reader: Option<crate::store::query::Reader> = None;
    for mut request in server.incoming_requests() {
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
                request.remote_addr().map_or_else(|| "the socket".into(), |a| a.to_string()),
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
