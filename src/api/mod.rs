//! The HTTP threads: every listener (the unix socket `husky.sock`, mode 0600, for the local
//! CLI; TCP `api.addr` for the dashboard and remote use; `metrics.addr` when metrics have a
//! listener of their own) is fronted by the relay thread, which bounds connections, applies
//! the timeouts and terminates TLS, and hands every request to one private tiny_http server,
//! saying which listener it came in on; as many threads as there are listeners take its
//! requests. Commands travel to the engine with a reply channel; reads use the thread's own
//! read-only database connection. Every answer is JSON; errors are `{"error": "..."}` with a
//! 4xx or 5xx status. Streams (server-sent events, WebSockets) are handed to threads of their
//! own once routed.

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
    pub notifier: Option<crate::notify::Link>,
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

impl Listener {
    /// Its name in the relay's header.
    pub fn tag(self) -> &'static str {
        match self {
            Listener::Socket => "socket",
            Listener::Tcp => "api",
            Listener::Metrics => "metrics",
        }
    }

    /// The listener a tag of the relay's header names.
    fn from_tag(tag: &str) -> Option<Listener> {
        [Listener::Socket, Listener::Tcp, Listener::Metrics].into_iter().find(|l| l.tag() == tag)
    }

    /// How the log names it.
    pub fn describe(self) -> &'static str {
        match self {
            Listener::Socket => "the unix socket",
            Listener::Tcp => "api.addr",
            Listener::Metrics => "metrics.addr",
        }
    }
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
    server: Arc<tiny_http::Server>,
    threads: Vec<JoinHandle<()>>,
    socket: Option<PathBuf>,
    relay: relay::Relay,
    backend: crate::daemon::Backend,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("threads", &self.threads.len()).finish_non_exhaustive()
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
    /// How the listeners serve.
    pub front: Front,
}

/// How the listeners serve: the connection limit and timeouts of each, and TLS on TCP
/// `api.addr`.
#[derive(Debug, Clone)]
pub struct Front {
    /// The data directory (the relay's private socket is made there).
    pub data: PathBuf,
    /// Connections open at once on each listener (`api.max_connections`).
    pub max_connections: usize,
    /// `api.timeouts`.
    pub timeouts: relay::Timeouts,
    /// `api.tls`, for `api.addr` (`None`: plain HTTP).
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

/// The listener a request came in on, as the relay's header says: `None` when the header is
/// missing or lacks the relay's secret (the request did not come through the relay).
fn origin(request: &tiny_http::Request, secret: &str) -> Option<Listener> {
    let value = request
        .headers()
        .iter()
        .find(|h| h.field.equiv(relay::framer::RELAY_HEADER))
        .map(|h| h.value.as_str())?;
    listener_of(value, secret)
}

/// The listener the relay's header value `value` names, when it carries `secret`.
fn listener_of(value: &str, secret: &str) -> Option<Listener> {
    let mut words = value.split(' ');
    let given = words.next()?;
    if !same(given.as_bytes(), secret.as_bytes()) {
        return None;
    }
    Listener::from_tag(words.next()?)
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The address of the client that sent `request`, as the relay saw it (from its header, which
/// `serve` has checked); `None` on the unix socket.
pub fn peer(request: &tiny_http::Request) -> Option<SocketAddr> {
    request
        .headers()
        .iter()
        .find(|h| h.field.equiv(relay::framer::RELAY_HEADER))
        .and_then(|h| h.value.as_str().split(' ').nth(2).and_then(|p| p.parse().ok()))
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
    /// Opens the listeners of `listen` behind the relay thread, the private server behind it
    /// and the threads that take its requests (one per listener). Returns the bound TCP
    /// address, if any.
    pub fn start(ctx: &Context, listen: &Listen) -> Result<(Api, Option<String>), ListenError> {
        let mut doors = Vec::new();
        let mut bound = None;
        let f = &listen.front;
        let tcp = |addr: &String| {
            let failed =
                |e: std::io::Error| ListenError { what: addr.clone(), error: e.to_string() };
            let listener = std::net::TcpListener::bind(addr.as_str()).map_err(failed)?;
            let at = listener.local_addr().map_err(failed)?.to_string();
            Ok::<_, ListenError>((listener, at))
        };
        // TCP first: when its address is taken (and the caller tries another), the unix socket
        // has not been replaced yet.
        if let Some(addr) = &listen.tcp {
            let (listener, at) = tcp(addr)?;
            bound = Some(at);
            doors.push(relay::Door {
                kind: Listener::Tcp,
                listener: Box::new(listener),
                tls: f.tls.clone(),
            });
        }
        if let Some(addr) = &listen.metrics {
            let (listener, _) = tcp(addr)?;
            doors.push(relay::Door {
                kind: Listener::Metrics,
                listener: Box::new(listener),
                tls: None,
            });
        }
        if let Some(path) = &listen.socket {
            let listener = crate::daemon::listen_local(path).map_err(|e| ListenError {
                what: path.display().to_string(),
                error: e.to_string(),
            })?;
            doors.push(relay::Door { kind: Listener::Socket, listener, tls: None });
        }
        let (server, backend) = crate::daemon::Backend::listen(&f.data).map_err(|e| {
            ListenError { what: "the API relay's private socket".into(), error: e.to_string() }
        })?;
        let server = Arc::new(server);
        let secret = secret()?;
        let serving = doors.len().max(1);
        let settings = relay::Settings {
            max_connections: f.max_connections.max(1),
            timeouts: f.timeouts,
            secret: secret.clone(),
        };
        let relay = relay::Relay::start(
            doors,
            backend.clone(),
            settings,
            ctx.log.clone(),
            ctx.clock.clone(),
        )
        .map_err(|e| ListenError { what: "the API relay".into(), error: e.to_string() })?;
        let mut api =
            Api { server, threads: Vec::new(), socket: listen.socket.clone(), relay, backend };
        for i in 0..serving {
            let (server, ctx, secret) = (api.server.clone(), ctx.clone(), secret.clone());
            let t = std::thread::Builder::new()
                .name(format!("husky-http-{i}"))
                .spawn(move || serve(&server, &ctx, &secret));
            match t {
                Ok(t) => api.threads.push(t),
                Err(e) => {
                    api.stop();
                    return Err(ListenError { what: "a thread".into(), error: e.to_string() });
                }
            }
        }
        Ok((api, bound))
    }

    /// Stops accepting requests and waits for the threads.
    pub fn stop(self) {
        // The relay first: its connections end, and no new request reaches the private server.
        self.relay.stop();
        // One unblock per thread: each takes one.
        for _ in &self.threads {
            self.server.unblock();
        }
        for t in self.threads {
            let _ = t.join();
        }
        if let Some(p) = &self.socket {
            let _ = std::fs::remove_file(p);
        }
        self.backend.remove();
    }
}

/// Takes the private server's requests, each routed as its listener serves.
fn serve(server: &tiny_http::Server, ctx: &Context, secret: &str) {
    let mut reader: Option<crate::store::query::Reader> = None;
    for mut request in server.incoming_requests() {
        let Some(listener) = origin(&request, secret) else {
            let why = "this socket serves the API's relay only";
            respond_json(request, 403, &serde_json::json!({ "error": why }));
            continue;
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relay_header_names_the_listener_only_with_the_secret() {
        let cases = [
            ("abc api 10.0.0.7:5000", Some(Listener::Tcp)),
            ("abc metrics [::1]:9091", Some(Listener::Metrics)),
            ("abc socket", Some(Listener::Socket)),
            ("abd socket", None),
            ("ab socket", None),
            ("abc", None),
            ("abc admin", None),
            ("socket", None),
            ("", None),
        ];
        for (value, expected) in cases {
            assert_eq!(listener_of(value, "abc"), expected, "{value:?}");
        }
        for l in [Listener::Socket, Listener::Tcp, Listener::Metrics] {
            assert_eq!(Listener::from_tag(l.tag()), Some(l));
        }
    }
}
