//! The TCP listener as clients meet it: HTTPS with certificates made at test time by the
//! `openssl` command (PKCS#1 RSA, SEC1 EC and PKCS#8 keys, as operators make them), mutual TLS,
//! the daemon refusing to start on an unusable certificate or key, and floods of idle
//! connections on every listener (TCP, the metrics listener, the unix socket) that must neither
//! starve a real request nor grow the daemon's threads, nor change what each listener serves.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use husky::clock::{Clock, SystemClock};

use crate::util::TestDir;

/// Stops a daemon started with `husky start` when the test ends, whatever happened.
struct Started<'a>(&'a TestDir);

impl Drop for Started<'_> {
    fn drop(&mut self) {
        let _ = self.0.husky(&["stop", "--force"]).run();
    }
}

const JOBS: &str = "version: \"1\"\njobs:\n  hello:\n    description: d\n    frequency: manual\n    command: \"echo hi\"\n";

/// Runs `openssl` in `dir`; fails the test with its output when it fails.
#[track_caller]
fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("these tests make certificates with the `openssl` command: install it");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[derive(Clone, Copy)]
enum Key {
    /// `BEGIN RSA PRIVATE KEY`.
    Pkcs1Rsa,
    /// `BEGIN EC PRIVATE KEY`.
    Sec1Ec,
    /// `BEGIN PRIVATE KEY`.
    Pkcs8Ec,
}

/// A test CA in `dir/pki` that signs keys of every format.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(t: &TestDir) -> Pki {
        let dir = t.path.join("pki");
        std::fs::create_dir_all(&dir).expect("pki dir");
        Pki::self_signed(&dir, "ca", &["-addext", "basicConstraints=critical,CA:TRUE"]);
        Pki { dir }
    }

    fn self_signed(dir: &Path, name: &str, ext: &[&str]) {
        let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
        let subj = format!("/CN=husky test {name}");
        let mut args = vec!["req", "-x509", "-newkey", "ec", "-pkeyopt"];
        args.extend(["ec_paramgen_curve:P-256", "-nodes", "-keyout", &key, "-out", &pem]);
        args.extend(["-days", "2", "-subj", &subj]);
        args.extend(ext);
        openssl(dir, &args);
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().expect("utf-8").to_owned()
    }

    /// A key of `kind` and a certificate for it signed by the CA: `name.key`, `name.pem`.
    fn issue(&self, name: &str, kind: Key, ext: &str) {
        let key = format!("{name}.key");
        match kind {
            Key::Pkcs1Rsa => openssl(&self.dir, &["genrsa", "-traditional", "-out", &key, "2048"]),
            Key::Sec1Ec => {
                openssl(
                    &self.dir,
                    &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &key],
                );
            }
            Key::Pkcs8Ec => openssl(
                &self.dir,
                &[
                    "genpkey",
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-out",
                    &key,
                ],
            ),
        }
        let marker = match kind {
            Key::Pkcs1Rsa => "RSA PRIVATE KEY",
            Key::Sec1Ec => "EC PRIVATE KEY",
            Key::Pkcs8Ec => "BEGIN PRIVATE KEY",
        };
        let text = std::fs::read_to_string(self.dir.join(&key)).expect("key");
        assert!(text.contains(marker), "openssl made another key format:\n{text}");
        let (csr, pem, extfile) =
            (format!("{name}.csr"), format!("{name}.pem"), format!("{name}.ext"));
        std::fs::write(self.dir.join(&extfile), format!("{ext}\n")).expect("ext");
        openssl(
            &self.dir,
            &["req", "-new", "-key", &key, "-subj", &format!("/CN={name}"), "-out", &csr],
        );
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &extfile,
                "-out",
                &pem,
            ],
        );
    }

    /// A server certificate for localhost and 127.0.0.1.
    fn server(&self, kind: Key) {
        self.issue("server", kind, "subjectAltName=DNS:localhost,IP:127.0.0.1");
    }
}

/// A huskyd.yaml with TLS on (`tls`: the lines under `api.tls`) and other top-level sections.
fn huskyd(tls: &str, sections: &str) -> String {
    format!("api:\n  addr: 127.0.0.1:0\n  tls:\n    enabled: true\n{tls}{sections}")
}

/// Starts the daemon of `t` and returns the URL of its TCP listener (from `api.url`).
fn start(t: &TestDir) -> String {
    t.husky(&["start"]).expect(0);
    t.read(".husky/api.url").trim().to_owned()
}

fn socket_addr(url: &str) -> SocketAddr {
    let hostport = url.rsplit("://").next().unwrap_or(url);
    let port = hostport.rsplit(':').next().and_then(|p| p.parse::<u16>().ok()).expect("port");
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A rustls client trusting the test CA, with a client certificate when given.
fn client_config(
    pki: &Pki,
    cert: Option<&str>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    use husky::api::tls::{certificates, private_key};
    let mut roots = rustls::RootCertStore::empty();
    for ca in certificates("ca", &pki.dir.join("ca.pem")).expect("ca") {
        roots.add(ca).expect("root");
    }
    let builder = rustls::ClientConfig::builder_with_provider(husky::api::tls::provider())
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots);
    let config = match cert {
        None => builder.with_no_client_auth(),
        Some(name) => {
            let chain = certificates("cert", &pki.dir.join(format!("{name}.pem"))).expect("cert");
            let key = private_key("key", &pki.dir.join(format!("{name}.key"))).expect("key");
            builder.with_client_auth_cert(chain, key).expect("client cert")
        }
    };
    Arc::new(config)
}

/// `GET path` over TLS with a raw rustls stream: the whole answer, or why it failed.
fn https_get(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    path: &str,
) -> Result<String, String> {
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let conn = rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?;
    let sock = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer s3cret-token\r\n\
         Connection: close\r\n\r\n"
    );
    tls.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    match tls.read_to_end(&mut answer) {
        Ok(_) => Ok(String::from_utf8_lossy(&answer).into_owned()),
        Err(e) if !answer.is_empty() => {
            Err(format!("{e} after {}", String::from_utf8_lossy(&answer)))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// What a plain connection gets back for `request` (until the daemon closes it).
fn plain_exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    s.write_all(request).expect("send");
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn https_serves_the_cli_and_raw_clients_and_plain_http_to_it_fails() {
    let t = TestDir::new();
    let pki = Pki::new(&t);
    pki.server(Key::Pkcs1Rsa);
    t.write("husky.yaml", JOBS);
    let tls =
        format!("    cert: {}\n    key: {}\n", pki.path("server.pem"), pki.path("server.key"));
    t.write("tokens", "s3cret-token\n");
    let auth = "auth:\n  type: bearer\n  bearer:\n    token_file: tokens\n";
    t.write("huskyd.yaml", &huskyd(&tls, auth));
    let url = start(&t);
    let _guard = Started(&t);
    assert!(url.starts_with("https://127.0.0.1:"), "api.url says {url}");
    let addr_file = t.read(".husky/api.addr");
    assert!(addr_file.starts_with("127.0.0.1:"), "api.addr stays host:port: {addr_file}");
    let addr = socket_addr(&url);

    // The CLI, with the CA trusted through HUSKY_CACERT (by IP and by name).
    let ca = pki.path("ca.pem");
    let token = "s3cret-token";
    let cli = |args: &[&str]| t.husky(args).env("HUSKY_CACERT", &ca).env("HUSKY_TOKEN", token);
    let status = cli(&["--addr", &url, "status"]).expect(0);
    assert!(status.stdout.contains("1 jobs"), "{}", status.stdout);
    let by_name = url.replace("127.0.0.1", "localhost");
    cli(&["--addr", &by_name, "run", "hello", "--wait"]).expect(0);
    // Without it, the self-signed CA is unknown, and the error says what to do.
    let refused = t.husky(&["--addr", &url, "status"]).env("HUSKY_TOKEN", token).expect(1);
    assert!(refused.stderr.contains("HUSKY_CACERT"), "{}", refused.stderr);
    // Authentication still applies behind the relay, and the log names the real client.
    let denied = t.husky(&["--addr", &url, "status"]).env("HUSKY_CACERT", &ca).expect(1);
    assert!(denied.stderr.contains("HUSKY_TOKEN"), "{}", denied.stderr);
    let log = t.read(".husky/huskyd.log");
    assert!(log.contains("api: 401 for GET /api/status from 127.0.0.1:"), "{log}");
    assert!(!log.contains("SECURITY WARNING"), "loopback is not exposed:\n{log}");
    // The dashboard's URL says https.
    let dash = t.husky(&["dash", "--no-open"]).expect(0);
    assert!(dash.stdout.contains(&format!("{url}/")), "{}", dash.stdout);

    // A raw rustls client, TLS 1.2 and 1.3.
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let answer = https_get(addr, client_config(&pki, None, &[version]), "/api/status")
            .unwrap_or_else(|e| panic!("{version:?}: {e}"));
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("\"api_url\":\"https://127.0.0.1:"), "{answer}");
    }

    // Plain HTTP to the TLS port fails, with a hint.
    let plain = plain_exchange(addr, b"GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(plain.starts_with("HTTP/1.1 400"), "{plain}");
    assert!(plain.contains("serves HTTPS"), "{plain}");
    let cli = t.husky(&["--addr", &url.replace("https", "http"), "status"]).expect(1);
    assert!(cli.stderr.contains("serves HTTPS"), "{}", cli.stderr);
}

#[test]
fn mutual_tls_takes_only_clients_with_a_certificate_of_client_ca() {
    let t = TestDir::new();
    let pki = Pki::new(&t);
    pki.server(Key::Sec1Ec);
    pki.issue("alice", Key::Pkcs8Ec, "extendedKeyUsage=clientAuth");
    // A certificate of another CA.
    Pki::self_signed(&pki.dir, "rogue", &["-addext", "extendedKeyUsage=clientAuth"]);
    t.write("husky.yaml", JOBS);
    let tls = format!(
        "    cert: {}\n    key: {}\n    client_ca: {}\n    min_version: \"1.3\"\n",
        pki.path("server.pem"),
        pki.path("server.key"),
        pki.path("ca.pem")
    );
    t.write("huskyd.yaml", &huskyd(&tls, ""));
    let url = start(&t);
    let _guard = Started(&t);
    let addr = socket_addr(&url);
    let ca = pki.path("ca.pem");
    let cli = |cert: Option<&str>| {
        let run = t.husky(&["--addr", &url, "status"]).env("HUSKY_CACERT", &ca);
        match cert {
            None => run,
            Some(name) => run
                .env("HUSKY_CLIENT_CERT", &pki.path(&format!("{name}.pem")))
                .env("HUSKY_CLIENT_KEY", &pki.path(&format!("{name}.key"))),
        }
    };
    let ok = cli(Some("alice")).expect(0);
    assert!(ok.stdout.contains("1 jobs"), "{}", ok.stdout);
    let none = cli(None).expect(1);
    assert!(none.stderr.contains("CertificateRequired"), "{}", none.stderr);
    let rogue = cli(Some("rogue")).expect(1);
    assert!(rogue.stderr.contains("alert"), "{}", rogue.stderr);

    let tls13 = [&rustls::version::TLS13];
    let answer = https_get(addr, client_config(&pki, Some("alice"), &tls13), "/api/status");
    assert!(answer.as_deref().is_ok_and(|a| a.starts_with("HTTP/1.1 200")), "{answer:?}");
    for (who, config) in [
        ("no certificate", client_config(&pki, None, &tls13)),
        ("another CA's certificate", client_config(&pki, Some("rogue"), &tls13)),
        // min_version "1.3": a TLS 1.2 client is refused even with a good certificate.
        ("TLS 1.2", client_config(&pki, Some("alice"), &[&rustls::version::TLS12])),
    ] {
        let answer = https_get(addr, config, "/api/status");
        assert!(!answer.as_deref().is_ok_and(|a| a.contains("200 OK")), "{who}: {answer:?}");
    }
}

#[test]
fn an_unusable_certificate_or_key_stops_the_daemon_with_a_clear_message() {
    let t = TestDir::new();
    let pki = Pki::new(&t);
    pki.server(Key::Pkcs8Ec);
    pki.issue("other", Key::Sec1Ec, "subjectAltName=DNS:localhost");
    t.write("husky.yaml", JOBS);
    t.write("notpem.txt", "not a certificate\n");
    std::fs::create_dir_all(t.path.join("adir")).expect("dir");
    let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
    let cases = [
        (cert.clone(), pki.path("other.key"), "api.tls.key", "does not belong to the certificate"),
        (cert.clone(), "missing.key".to_owned(), "missing.key", "cannot read it"),
        (cert.clone(), "adir".to_owned(), "adir", "cannot read it"),
        ("notpem.txt".to_owned(), key.clone(), "notpem.txt", "no certificate in it"),
        (key.clone(), cert.clone(), "api.tls.cert", "are cert and key swapped?"),
    ];
    for (cert, key, names, problem) in cases {
        t.write("huskyd.yaml", &huskyd(&format!("    cert: {cert}\n    key: {key}\n"), ""));
        let run = t.husky(&["daemon", "run"]).run();
        assert_ne!(run.code, 0, "started with cert {cert} and key {key}");
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(all.contains(names) && all.contains(problem), "{cert} {key}:\n{all}");
        assert!(!t.path.join(".husky/api.addr").exists());
    }
    // `husky start` shows the reason too.
    let refused = t.husky(&["start"]).expect(1);
    assert!(refused.stderr.contains("are cert and key swapped?"), "{}", refused.stderr);
    // Fixed, it starts (a PKCS#8 key).
    t.write("huskyd.yaml", &huskyd(&format!("    cert: {cert}\n    key: {key}\n"), ""));
    start(&t);
    let _guard = Started(&t);
}

/// A stream the flood tests hold open: TCP or the unix socket.
trait Held: Read {
    fn read_timeout(&self, t: Duration);
}

impl Held for TcpStream {
    fn read_timeout(&self, t: Duration) {
        self.set_read_timeout(Some(t)).expect("timeout");
    }
}

impl Held for std::os::unix::net::UnixStream {
    fn read_timeout(&self, t: Duration) {
        self.set_read_timeout(Some(t)).expect("timeout");
    }
}

/// Reads until the daemon closes `s` (true), or until `deadline` (false).
fn closed_by_then(s: &mut impl Held, deadline: std::time::Instant) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(SystemClock.monotonic());
        if left.is_zero() {
            return false;
        }
        s.read_timeout(left);
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

fn threads(pid: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map(Iterator::count).unwrap_or(0)
}

#[test]
fn an_idle_connection_flood_neither_starves_requests_nor_grows_threads() {
    let t = TestDir::new();
    t.write("husky.yaml", JOBS);
    // All interfaces, no TLS, no auth: the log warns.
    t.write(
        "huskyd.yaml",
        "api:\n  addr: 0.0.0.0:0\n  max_connections: 8\n  timeouts:\n    read_header: 1s\n    idle: 2s\n",
    );
    let bound = start(&t);
    let _guard = Started(&t);
    let log = t.read(".husky/huskyd.log");
    assert!(log.contains("SECURITY WARNING: the API listens on 0.0.0.0:"), "{log}");
    let addr = socket_addr(&bound);
    let url = format!("http://{addr}");
    let pid = t.read(".husky/husky.pid").trim().to_owned();
    t.husky(&["--addr", &url, "status"]).expect(0);
    let before = threads(&pid);

    // Far more connections than the limit, all silent.
    let mut flood: Vec<TcpStream> =
        (0..100).map(|_| TcpStream::connect(addr).expect("connect")).collect();
    // A real request still gets through at once, and the threads do not grow with the flood.
    let asked = SystemClock.monotonic();
    let status = t.husky(&["--addr", &url, "status"]).expect(0);
    assert!(status.stdout.contains("1 jobs"), "{}", status.stdout);
    let took = SystemClock.monotonic() - asked;
    assert!(took < Duration::from_secs(5), "a request took {took:?} during the flood");
    let during = threads(&pid);
    assert!(during <= before + 2, "threads went from {before} to {during}");

    // A head that never ends, and a kept-alive connection that goes quiet after its request.
    let mut partial = TcpStream::connect(addr).expect("connect");
    partial.write_all(b"GET /api/status HTTP/1.1\r\nHost: x\r\n").expect("send");
    let mut kept = TcpStream::connect(addr).expect("connect");
    kept.write_all(b"GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n").expect("send");
    let mut first = [0u8; 12];
    kept.read_exact(&mut first).expect("an answer");
    assert_eq!(&first, b"HTTP/1.1 200");

    // The daemon closes every one of them (read_header 1s, idle 2s; or a newer one's place).
    let deadline = SystemClock.monotonic() + Duration::from_secs(20);
    flood.push(partial);
    flood.push(kept);
    let open =
        flood.iter_mut().map(|s| closed_by_then(s, deadline)).filter(|closed| !closed).count();
    assert_eq!(open, 0, "connections the daemon did not close");
    let after = threads(&pid);
    assert!(after <= before + 2, "threads went from {before} to {after}");
    t.husky(&["--addr", &url, "status"]).expect(0);
}

/// One request on a fresh TCP connection: the status and the whole answer.
fn get(addr: SocketAddr, path: &str, headers: &[&str]) -> (u16, String) {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for h in headers {
        request.push_str(&format!("{h}\r\n"));
    }
    request.push_str("\r\n");
    let answer = plain_exchange(addr, request.as_bytes());
    let code = answer.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, answer)
}

#[test]
fn idle_floods_on_the_metrics_listener_and_the_unix_socket_are_bounded_like_tcp() {
    use std::os::unix::net::UnixStream;
    let t = TestDir::new();
    t.write("husky.yaml", JOBS);
    t.write("tokens", "s3cret-token\n");
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let metrics = free.local_addr().expect("addr");
    drop(free);
    t.write(
        "huskyd.yaml",
        &format!(
            "api:\n  addr: 127.0.0.1:0\n  base_path: /husky\n  max_connections: 8\n  timeouts:\n    \
             read_header: 1s\n    idle: 2s\nauth:\n  type: bearer\n  bearer:\n    token_file: tokens\n\
             metrics:\n  enabled: true\n  addr: {metrics}\n  auth: true\n"
        ),
    );
    let url = start(&t);
    let _guard = Started(&t);
    assert!(url.ends_with("/husky"), "{url}");
    let api = socket_addr(t.read(".husky/api.addr").trim());
    let sock = t.path.join(".husky/husky.sock");
    let pid = t.read(".husky/husky.pid").trim().to_owned();
    let token = "Authorization: Bearer s3cret-token";
    assert_eq!(get(metrics, "/metrics", &[token]).0, 200);
    t.husky(&["status"]).expect(0);
    let before = threads(&pid);

    // Far more silent connections than the limit, on both listeners.
    let mut on_metrics: Vec<TcpStream> =
        (0..100).map(|_| TcpStream::connect(metrics).expect("connect")).collect();
    let mut on_socket: Vec<UnixStream> =
        (0..100).map(|_| UnixStream::connect(&sock).expect("connect")).collect();

    // Real requests still get through at once, each listener serving as it did.
    let asked = SystemClock.monotonic();
    let (code, text) = get(metrics, "/metrics", &[token]);
    assert_eq!(code, 200, "{text}");
    assert!(text.contains("# TYPE husky_job_runs_total counter"), "{text}");
    let (code, text) = get(metrics, "/metrics", &[]);
    assert_eq!(code, 401, "metrics.auth still wants the token: {text}");
    assert_eq!(get(metrics, "/api/status", &[token]).0, 404, "metrics only");
    let status = t.husky(&["status"]).expect(0);
    assert!(status.stdout.contains("1 jobs"), "{}", status.stdout);
    // The socket is admin without a token and has no base path; TCP wants the token.
    let (code, body) = crate::util::http(&sock, "GET", "/api/status", "");
    assert_eq!(code, 200, "{body}");
    assert_eq!(crate::util::http(&sock, "POST", "/api/daemon/reload", "").0, 200);
    assert_eq!(get(api, "/husky/api/status", &[]).0, 401);
    assert_eq!(get(api, "/husky/api/status", &[token]).0, 200);
    // A TCP client cannot pass for the socket (nor for the metrics listener).
    for forged in ["X-Husky-Relay: x socket", "x-husky-relay: deadbeef metrics"] {
        assert_eq!(get(api, "/husky/api/status", &[forged]).0, 401, "{forged}");
    }
    let took = SystemClock.monotonic() - asked;
    assert!(took < Duration::from_secs(10), "the requests took {took:?} during the floods");
    let during = threads(&pid);
    assert!(during <= before + 2, "threads went from {before} to {during}");

    // The daemon closes every flooding connection (read_header 1s; or a newer one's place).
    let deadline = SystemClock.monotonic() + Duration::from_secs(20);
    let open = on_metrics.iter_mut().map(|s| closed_by_then(s, deadline)).filter(|c| !c).count()
        + on_socket.iter_mut().map(|s| closed_by_then(s, deadline)).filter(|c| !c).count();
    assert_eq!(open, 0, "connections the daemon did not close");
    let after = threads(&pid);
    assert!(after <= before + 2, "threads went from {before} to {after}");
    assert_eq!(get(metrics, "/metrics", &[token]).0, 200);
    t.husky(&["status"]).expect(0);
    let log = t.read(".husky/huskyd.log");
    assert!(log.contains("connections are open on the unix socket"), "{log}");
    assert!(log.contains("connections are open on metrics.addr"), "{log}");
}
