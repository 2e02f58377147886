//! The notifier's HTTP client: ureq over rustls (ring), with huskyd.yaml's
//! `http_client.timeout`, `proxy` and `ca_bundle` (a PEM bundle trusted instead of the web's
//! public roots, for a private receiver).

use std::path::Path;
use std::time::Duration;

use ureq::tls::{Certificate, RootCerts, TlsConfig};

use crate::config::HttpClientConfig;

/// Why a delivery attempt failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong, for people.
    pub error: String,
    /// The receiver refused the request itself (a 4xx other than 408 and 429, a bad address):
    /// retrying the same request cannot succeed.
    pub permanent: bool,
}

impl Failure {
    /// A failure that retrying may cure.
    pub fn transient(error: impl Into<String>) -> Failure {
        Failure { error: error.into(), permanent: false }
    }
    /// A failure that retrying cannot cure.
    pub fn permanent(error: impl Into<String>) -> Failure {
        Failure { error: error.into(), permanent: true }
    }
}

/// A configured HTTP client.
#[derive(Debug, Clone)]
pub struct Http {
    agent: ureq::Agent,
}

impl Http {
    /// Checks `cfg` (the proxy URL, the CA bundle) without making a client.
    pub fn check(cfg: &HttpClientConfig, dir: &Path) -> Result<(), String> {
        proxy(cfg)?;
        roots(cfg, dir).map(drop)
    }

    /// A client for `cfg` (relative `ca_bundle` paths are relative to `dir`).
    pub fn new(cfg: &HttpClientConfig, dir: &Path) -> Result<Http, String> {
        let mut tls =
            TlsConfig::builder().unversioned_rustls_crypto_provider(crate::api::tls::provider());
        if let Some(cas) = roots(cfg, dir)? {
            tls = tls.root_certs(RootCerts::new_with_certs(&cas));
        }
        let proxy = proxy(cfg)?;
        let timeout = Duration::try_from(cfg.timeout).unwrap_or(Duration::from_secs(15));
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .proxy(proxy)
            .user_agent(concat!("husky/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls.build())
            .build();
        Ok(Http { agent: ureq::Agent::new_with_config(config) })
    }

    /// POSTs a JSON `body`; a 2xx answer is success.
    pub fn post(&self, url: &str, headers: &[(String, String)], body: &str) -> Result<(), Failure> {
        let mut req = self.agent.post(url).header("Content-Type", "application/json");
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        match req.send(body) {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                if (200..300).contains(&status) {
                    return Ok(());
                }
                let text =
                    resp.body_mut().with_config().limit(4096).read_to_string().unwrap_or_default();
                let text: String = text.trim().chars().take(200).collect();
                let error = match text.is_empty() {
                    true => format!("http status {status}"),
                    false => format!("http status {status}: {text}"),
                };
                let retryable = status >= 500 || status == 408 || status == 429;
                Err(Failure { error, permanent: !retryable })
            }
            Err(e @ (ureq::Error::BadUri(_) | ureq::Error::Http(_))) => {
                Err(Failure::permanent(e.to_string()))
            }
            Err(e) => Err(Failure::transient(e.to_string())),
        }
    }
}

/// The CA certificates of `http_client.ca_bundle`, if set.
fn roots(cfg: &HttpClientConfig, dir: &Path) -> Result<Option<Vec<Certificate<'static>>>, String> {
    let Some(bundle) = cfg.ca_bundle.as_deref().filter(|b| !b.is_empty()) else {
        return Ok(None);
    };
    let path = crate::log::resolve(dir, bundle);
    let cas =
        crate::api::tls::certificates("http_client.ca_bundle", &path).map_err(|e| e.to_string())?;
    Ok(Some(cas.iter().map(|c| Certificate::from_der(c.as_ref()).to_owned()).collect()))
}

/// The proxy of `http_client.proxy`, if set.
fn proxy(cfg: &HttpClientConfig) -> Result<Option<ureq::Proxy>, String> {
    match cfg.proxy.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => {
            ureq::Proxy::new(p).map(Some).map_err(|e| format!("http_client.proxy {p:?}: {e}"))
        }
        None => Ok(None),
    }
}
