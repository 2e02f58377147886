//! The embedded dashboard against a daemon started with `husky start`: the page and its assets
//! (content types, ETags and 304s, the security headers), 404s, `dashboard.enabled: false`,
//! `api.base_path`, bearer auth (the files need none, the API does), and a real headless
//! Chromium that runs the page's script and renders the jobs it fetched.

use std::io::{Read, Write};
use std::time::Duration;

use crate::util::TestDir;

const JOBS: &str = r#"version: "1"
jobs:
  alpha-extract:
    description: first job
    frequency: manual
    command: "echo one"
    tags: [etl]
  beta-report:
    description: second job
    frequency: after:alpha-extract
    command: "echo two"
"#;

/// A daemon started in its own directory, stopped when dropped.
struct Dash {
    t: TestDir,
    addr: String,
}

impl Dash {
    fn start(huskyd: &str) -> Dash {
        let t = TestDir::new();
        t.write("husky.yaml", JOBS);
        t.write("huskyd.yaml", huskyd);
        t.husky(&["start"]).expect(0);
        let addr = t.read(".husky/api.addr").trim().to_owned();
        Dash { t, addr }
    }

    /// `method path` with extra header lines: the status, the head (lower-cased) and the body.
    fn call(&self, method: &str, path: &str, headers: &[&str]) -> (u16, String, String) {
        let mut s = std::net::TcpStream::connect(&self.addr).expect("connect");
        let mut req =
            format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.addr);
        for h in headers {
            req.push_str(h);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).expect("write");
        let mut text = String::new();
        s.read_to_string(&mut text).expect("read");
        let (head, body) = text.split_once("\r\n\r\n").expect("a response");
        let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("status");
        (status, head.to_ascii_lowercase(), body.to_owned())
    }

    fn get(&self, path: &str) -> (u16, String, String) {
        self.call("GET", path, &[])
    }
}

impl Drop for Dash {
    fn drop(&mut self) {
        let _ = self.t.husky(&["stop", "--force"]).run();
    }
}

/// The value of a header in a lower-cased head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':').map(str::trim))
}

#[test]
fn the_page_and_its_assets_are_served_with_types_etags_and_a_strict_policy() {
    let d = Dash::start("dashboard:\n  title: \"Ops <night>\"\n");
    let (code, head, page) = d.get("/");
    assert_eq!(code, 200, "{head}");
    assert_eq!(header(&head, "content-type"), Some("text/html; charset=utf-8"));
    assert!(page.contains("<title>Ops &lt;night&gt;</title>"), "{page}");
    for asset in ["assets/app.js", "assets/style.css", "assets/favicon.svg"] {
        assert!(page.contains(&format!("\"{asset}\"")), "{asset} not linked: {page}");
    }
    assert!(!page.contains("<script>"), "no inline script");

    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/style.css", "text/css; charset=utf-8"),
        ("/assets/favicon.svg", "image/svg+xml"),
    ] {
        let (code, head, body) = d.get(path);
        assert_eq!(code, 200, "{path}: {head}");
        assert_eq!(header(&head, "content-type"), Some(content_type), "{path}");
        assert_eq!(header(&head, "cache-control"), Some("no-cache"), "{path}");
        assert_eq!(header(&head, "x-content-type-options"), Some("nosniff"), "{path}");
        let csp = header(&head, "content-security-policy").expect("a policy");
        assert!(csp.contains("default-src 'self'") && csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
        assert!(!body.is_empty(), "{path}");
        let etag = header(&head, "etag").expect("an etag").to_owned();
        assert!(etag.starts_with("\"0.") || etag.starts_with("\"1."), "{etag}");
        let (code, head, body) = d.call("GET", path, &[&format!("If-None-Match: {etag}")]);
        assert_eq!(code, 304, "{path}: {head}");
        assert!(body.is_empty(), "{path}: a 304 has no body");
        let (code, _, _) = d.call("GET", path, &["If-None-Match: \"stale\""]);
        assert_eq!(code, 200, "{path}");
        let (code, head, body) = d.call("HEAD", path, &[]);
        assert_eq!(code, 200, "{path}: {head}");
        assert!(body.is_empty(), "HEAD {path} has no body");
    }

    let (code, head, body) = d.get("/assets/nope.js");
    assert_eq!(code, 404, "{head}");
    assert_eq!(header(&head, "content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_str(body.trim()).expect("a JSON error");
    assert!(v["error"].as_str().is_some_and(|e| e.contains("nope.js")), "{v}");
    assert_eq!(d.call("POST", "/", &["Content-Length: 0"]).0, 405);
    assert_eq!(d.get("/nope").0, 404);
    assert_eq!(d.get("/api/nope").0, 404);
    assert_eq!(d.call("DELETE", "/api/jobs", &[]).0, 405);
    assert_eq!(d.get("/api/status").0, 200);
}

#[test]
fn a_disabled_dashboard_answers_404_while_the_api_stays() {
    let d = Dash::start("dashboard:\n  enabled: false\n");
    for path in ["/", "/assets/app.js", "/assets/style.css"] {
        let (code, head, body) = d.get(path);
        assert_eq!(code, 404, "{path}: {head}");
        assert!(body.contains("dashboard.enabled"), "{body}");
    }
    assert_eq!(d.get("/api/status").0, 200);
    assert_eq!(d.get("/api/jobs").0, 200);
}

#[test]
fn under_a_base_path_the_dashboard_lives_at_the_prefix() {
    let d = Dash::start("api:\n  base_path: /husky\n");
    let (code, _, page) = d.get("/husky/");
    assert_eq!(code, 200);
    assert!(page.contains("\"assets/app.js\""), "relative asset URLs: {page}");
    let (code, head, _) = d.get("/husky");
    assert_eq!(code, 308, "{head}");
    assert_eq!(header(&head, "location"), Some("/husky/"));
    for asset in ["/husky/assets/app.js", "/husky/assets/style.css"] {
        assert_eq!(d.get(asset).0, 200, "{asset}");
    }
    assert_eq!(d.get("/husky/api/jobs").0, 200);
    assert_eq!(d.get("/").0, 404);
    assert_eq!(d.get("/assets/app.js").0, 404);
}

#[test]
fn with_bearer_auth_the_files_need_no_token_and_the_api_does() {
    let d = Dash::start("auth:\n  type: bearer\n  bearer:\n    token: s3cret-token\n");
    for path in ["/", "/assets/app.js", "/assets/style.css"] {
        let (code, head, _) = d.get(path);
        assert_eq!(code, 200, "{path}: {head}");
    }
    let (code, head, _) = d.get("/api/jobs");
    assert_eq!(code, 401);
    assert!(header(&head, "www-authenticate").is_some_and(|c| c.starts_with("bearer")), "{head}");
    assert_eq!(d.call("GET", "/api/jobs", &["Authorization: Bearer s3cret-token"]).0, 200);
    assert_eq!(d.get("/api/jobs?token=s3cret-token").0, 200);
    // Paths that only look like the dashboard's are still guarded.
    assert_eq!(d.get("/api/assets/x").0, 401);
}

/// `chromium` or `chromium-browser` on the PATH (`.ci/run` installs Debian's chromium).
fn browser() -> std::path::PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "no headless browser: neither chromium nor chromium-browser is on the PATH \
         (install it with `apt-get install -y chromium`; .ci/run does)"
    );
}

#[test]
fn a_real_browser_runs_the_page_and_renders_the_jobs() {
    let browser = browser();
    let d = Dash::start("dashboard:\n  title: Smoke\n");
    d.t.husky(&["run", "alpha-extract", "--wait"]).expect(0);
    let profile = d.t.path.join("chromium-profile");
    let url = format!("http://{}/", d.addr);
    let (tx, rx) = crossbeam_channel::bounded(1);
    let mut cmd = std::process::Command::new("timeout");
    cmd.arg("120").arg(&browser).args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--virtual-time-budget=8000",
    ]);
    cmd.arg(format!("--user-data-dir={}", profile.display())).arg("--dump-dom").arg(&url);
    std::thread::spawn(move || {
        let _ = tx.send(cmd.output());
    });
    let out = rx
        .recv_timeout(Duration::from_secs(150))
        .expect("the browser did not finish in time")
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", browser.display()));
    let dom = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{} failed: {}\n{stderr}", browser.display(), out.status);
    // The names are nowhere in the static page: only the script, after fetching /api/jobs,
    // puts them there.
    for job in ["alpha-extract", "beta-report"] {
        assert!(
            dom.contains(&format!("data-job=\"{job}\"")),
            "the job {job} was not rendered; DOM:\n{dom}\nstderr:\n{stderr}"
        );
    }
    assert!(dom.contains("first job") && dom.contains("SUCCESS"), "{dom}");
    assert!(dom.contains("<title>Smoke</title>"), "{dom}");
}
