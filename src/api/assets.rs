//! The embedded dashboard: `GET`/`HEAD /` (the page, with `dashboard.title` written into it)
//! and `/assets/<file>` (its script, style sheet and icon), compiled into the binary from
//! `assets/`. These are not API routes (they are neither in `ROUTES` nor in the OpenAPI
//! document) and they hold no secrets, so they are served without credentials: the page asks
//! for them when an API call answers 401. Every answer carries `Cache-Control: no-cache`, an
//! `ETag` (304 on `If-None-Match`), `X-Content-Type-Options: nosniff` and a same-origin
//! `Content-Security-Policy` (no inline script, no eval). With `dashboard.enabled: false` they
//! answer 404; the API stays.

use std::sync::OnceLock;

use serde_json::json;

use super::routes::{Headers, Out};

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

/// The page; `{{title}}` is replaced with the HTML-escaped `dashboard.title`.
const INDEX: &str = include_str!("../../assets/index.html");

/// The files under `/assets/`.
const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/app.js"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/style.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../assets/favicon.svg"),
    },
];

/// The page's content type.
const HTML: &str = "text/html; charset=utf-8";

/// Whether `path` (under the base path) is the dashboard's: `/` or `/assets/...`.
pub fn is_dashboard(path: &str) -> bool {
    path == "/" || path.starts_with("/assets/")
}

/// The request's parts the dashboard reads.
#[derive(Debug)]
pub struct Request<'a> {
    /// Upper-case method.
    pub method: &'a str,
    /// The path under the base path (`/` or `/assets/...`).
    pub path: &'a str,
    /// The path as sent (to redirect `/husky` to `/husky/`).
    pub full_path: &'a str,
    /// `If-None-Match`.
    pub if_none_match: Option<&'a str>,
    /// `Host`, for the WebSocket sources of the policy.
    pub host: Option<&'a str>,
}

/// Answers a dashboard path (see [`is_dashboard`]).
pub fn serve(daemon: &crate::config::DaemonConfig, rq: &Request<'_>) -> (Out, Headers) {
    let mut headers = Headers::new();
    if !daemon.dashboard.enabled {
        let error = "not found (the dashboard is off: dashboard.enabled is false)";
        return (Out::Json(404, json!({ "error": error })), headers);
    }
    if rq.method != "GET" && rq.method != "HEAD" {
        headers.push(("Allow", "GET, HEAD".into()));
        return (Out::Json(405, json!({ "error": "method not allowed" })), headers);
    }
    if rq.path == "/" && !rq.full_path.ends_with('/') {
        // `/husky` → `/husky/`: the page's relative URLs need the slash.
        headers.push(("Location", format!("{}/", rq.full_path)));
        return (Out::Empty(308), headers);
    }
    let (content_type, body, etag): (&'static str, Vec<u8>, String) = if rq.path == "/" {
        let title = daemon.dashboard.title.as_deref().unwrap_or("husky");
        let page = INDEX.replace("{{title}}", &escape_html(title)).into_bytes();
        let etag = etag(&page);
        (HTML, page, etag)
    } else {
        let name = rq.path.trim_start_matches("/assets/");
        let Some((i, asset)) = ASSETS.iter().enumerate().find(|(_, a)| a.name == name) else {
            let error = format!("no dashboard asset named {name:?}");
            return (Out::Json(404, json!({ "error": error })), headers);
        };
        (asset.content_type, asset.bytes.to_vec(), etags()[i].clone())
    };
    headers.push(("Cache-Control", "no-cache".into()));
    headers.push(("X-Content-Type-Options", "nosniff".into()));
    headers.push(("Content-Security-Policy", policy(rq.host)));
    headers.push(("Referrer-Policy", "no-referrer".into()));
    let fresh =
        rq.if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    headers.push(("ETag", etag));
    if fresh {
        return (Out::Empty(304), headers);
    }
    (Out::Bytes(200, body, content_type), headers)
}

/// The assets' ETags, computed once.
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| ASSETS.iter().map(|a| etag(a.bytes)).collect())
}

/// `"<crate version>-<first 8 bytes of the SHA-256 of bytes, hex>"`.
fn etag(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let hex: String = digest.as_ref().iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("\"{}-{hex}\"", env!("CARGO_PKG_VERSION"))
}

/// Same origin only; WebSockets to the served host (older browsers do not count `ws:` as
/// `'self'`).
fn policy(host: Option<&str>) -> String {
    let sockets = host
        .filter(|h| {
            !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
        })
        .map(|h| format!(" ws://{h} wss://{h}"))
        .unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'{sockets}; object-src 'none'; base-uri 'self'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// `&`, `<`, `>`, `"` and `'` as entities.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{ASSETS, INDEX, escape_html, is_dashboard, policy};

    #[test]
    fn dashboard_paths_are_the_root_and_the_assets() {
        for (path, yes) in [
            ("/", true),
            ("/assets/app.js", true),
            ("/assets/", true),
            ("/api/jobs", false),
            ("/index.html", false),
            ("/assetsx", false),
        ] {
            assert_eq!(is_dashboard(path), yes, "{path}");
        }
    }

    #[test]
    fn the_page_links_every_asset_by_a_relative_url() {
        for a in ASSETS {
            assert!(INDEX.contains(&format!("\"assets/{}\"", a.name)), "{}", a.name);
        }
        assert!(!INDEX.contains("<script>"), "no inline script");
        assert!(!INDEX.contains("style="), "no inline style");
    }

    #[test]
    fn titles_are_escaped_and_hosts_checked() {
        assert_eq!(
            escape_html("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert!(policy(Some("127.0.0.1:8420")).contains("ws://127.0.0.1:8420 "));
        assert!(!policy(Some("evil; script-src *")).contains("evil"));
        assert!(policy(None).contains("connect-src 'self';"));
    }
}
