//! Test harness: temporary directories and a `husky` command builder that prints everything on
//! failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A temporary directory, removed on drop.
pub struct TestDir {
    pub path: PathBuf,
}

impl TestDir {
    pub fn new() -> TestDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "husky-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TestDir { path }
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&p, text).expect("write file");
        p
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path.join(name)).expect("read file")
    }

    /// A `husky` command running in this directory.
    pub fn husky(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_husky"));
        cmd.args(args).current_dir(&self.path).env_remove("HUSKY_CONFIG");
        Run { cmd }
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[must_use]
pub struct Run {
    cmd: Command,
}

pub struct Done {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn env(mut self, k: &str, v: &str) -> Run {
        self.cmd.env(k, v);
        self
    }

    pub fn run(mut self) -> Done {
        let Output { status, stdout, stderr } = self.cmd.output().expect("spawn husky");
        Done {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    /// Runs and asserts the exit code, printing both streams on failure.
    #[track_caller]
    pub fn expect(self, code: i32) -> Done {
        let done = self.run();
        assert_eq!(
            done.code, code,
            "unexpected exit code\n--- stdout ---\n{}\n--- stderr ---\n{}",
            done.stdout, done.stderr
        );
        done
    }
}

/// The shared fixtures folder.
pub fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

/// The project's shared folder beside the repository (compat fixtures), when present.
pub fn shared_compat() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/compat");
    p.is_dir().then_some(p)
}

/// The first column of every row `sql` yields from the database at `db`, as text; NULL (a row
/// still on its way, or a NULL in a concatenation) reads as "NULL".
#[cfg(target_os = "linux")]
pub fn rows(db: &Path, sql: &str) -> Vec<String> {
    let conn = husky::store::open_reader(db, husky::store::Pragmas::default()).expect("reader");
    let mut stmt = conn.prepare(sql).expect(sql);
    stmt.query_map([], |r| r.get::<_, Option<String>>(0))
        .expect(sql)
        .map(|r| r.expect("row").unwrap_or_else(|| "NULL".into()))
        .collect()
}

/// One HTTP/1.1 request over the daemon's unix socket: the status and the JSON body.
#[cfg(unix)]
pub fn http(socket: &Path, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(socket).expect("connect");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: husky\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let (head, rest) = text.split_once("\r\n\r\n").expect("a response");
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("status");
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        // One chunk: size line, data, then the terminating chunk.
        rest.split_once("\r\n")
            .map(|(_, d)| d)
            .unwrap_or("")
            .rsplit_once("\r\n0\r\n")
            .map_or("", |(d, _)| d)
    } else {
        rest
    };
    (status, serde_json::from_str(body.trim()).unwrap_or_else(|e| panic!("{e}: {body:?}")))
}

/// One HTTP/1.1 request over TCP with extra header lines: the status, the response head
/// (lower-cased) and the body as JSON (`Null` when empty).
pub fn http_tcp(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &str,
) -> (u16, String, serde_json::Value) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let (head, rest) = text.split_once("\r\n\r\n").expect("a response");
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("status");
    let value = if rest.trim().is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(rest.trim()).unwrap_or_else(|e| panic!("{e}: {rest:?}"))
    };
    (status, head.to_ascii_lowercase(), value)
}

/// Server-sent events of `path`, parsed as they come: `(id, event, data)` on a channel.
pub fn sse(
    addr: &str,
    path: &str,
    last_event_id: Option<u64>,
) -> crossbeam_channel::Receiver<(u64, String, serde_json::Value)> {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(60))).expect("timeout");
    let resume = last_event_id.map(|id| format!("Last-Event-ID: {id}\r\n")).unwrap_or_default();
    write!(s, "GET {path} HTTP/1.1\r\nHost: t\r\n{resume}\r\n").expect("write");
    use std::io::{BufRead, Write};
    let mut r = std::io::BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).expect("head");
        if l == "\r\n" {
            break;
        }
        head.push_str(&l);
    }
    assert!(head.starts_with("HTTP/1.1 200") && head.contains("text/event-stream"), "{head}");
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        let mut pending = String::new();
        loop {
            let mut size = String::new();
            if r.read_line(&mut size).is_err() {
                return;
            }
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                return;
            }
            let mut chunk = vec![0; n + 2];
            if std::io::Read::read_exact(&mut r, &mut chunk).is_err() {
                return;
            }
            pending.push_str(&String::from_utf8_lossy(&chunk[..n]));
            while let Some((event, more)) = pending.split_once("\n\n") {
                let field = |name: &str| {
                    event.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_owned())
                };
                if let (Some(kind), Some(data)) = (field("event:"), field("data:")) {
                    let id = field("id:").and_then(|i| i.parse().ok()).unwrap_or(0);
                    let data = serde_json::from_str(&data).unwrap_or(serde_json::Value::Null);
                    if tx.send((id, kind, data)).is_err() {
                        return;
                    }
                }
                pending = more.to_owned();
            }
        }
    });
    rx
}
