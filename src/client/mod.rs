//! The API client the CLI uses: the daemon's unix socket for a local daemon (TCP from
//! `api.addr` where there are no unix sockets), or `--addr URL` with `HUSKY_TOKEN` as a bearer
//! token for a remote one. `https://` URLs are verified against the CAs of `HUSKY_CACERT` (a PEM
//! file; else the public web roots), and `HUSKY_CLIENT_CERT` with `HUSKY_CLIENT_KEY` give a
//! client certificate for daemons that require one (`api.tls.client_ca`). Answers are JSON;
//! errors carry the daemon's message.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};

#[cfg(unix)]
mod unix;

/// Why a request got no answer it could use.
#[derive(Debug)]
pub enum ClientError {
    /// Nothing answers where the daemon should be.
    NotRunning(String),
    /// The daemon refused the request: its status and message.
    Refused {
        /// The HTTP status.
        status: u16,
        /// The daemon's message.
        message: String,
    },
    /// The exchange failed half-way or the answer was not JSON.
    Broken(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::NotRunning(m) | ClientError::Broken(m) => f.write_str(m),
            ClientError::Refused { message, .. } => f.write_str(message),
        }
    }
}

/// A connection to one daemon.
#[derive(Debug, Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
    /// Where it looked, for messages.
    place: String,
    /// Why no request can be made (the TLS settings of the environment are unusable).
    unusable: Option<String>,
    /// The data directory of a local daemon.
    data: Option<PathBuf>,
}

fn config(tls: TlsConfig) -> ureq::config::Config {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .tls_config(tls)
        .build()
}

/// The TLS settings from the environment: the CAs of `HUSKY_CACERT` (else the web's public
/// roots), and the client certificate of `HUSKY_CLIENT_CERT` and `HUSKY_CLIENT_KEY`.
fn tls_from_env() -> Result<TlsConfig, String> {
    use crate::api::tls::{certificates, private_key};
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let provider = crate::api::tls::provider();
    let mut tls = TlsConfig::builder().unversioned_rustls_crypto_provider(provider.clone());
    if let Some(path) = var("HUSKY_CACERT") {
        let cas = certificates("HUSKY_CACERT", &path).map_err(|e| e.to_string())?;
        let cas: Vec<Certificate<'static>> =
            cas.iter().map(|c| Certificate::from_der(c.as_ref()).to_owned()).collect();
        tls = tls.root_certs(RootCerts::new_with_certs(&cas));
    }
    match (var("HUSKY_CLIENT_CERT"), var("HUSKY_CLIENT_KEY")) {
        (None, None) => {}
        (Some(cert), Some(key)) => {
            let chain = certificates("HUSKY_CLIENT_CERT", &cert).map_err(|e| e.to_string())?;
            let der = private_key("HUSKY_CLIENT_KEY", &key).map_err(|e| e.to_string())?;
            // ureq panics on a key that does not match: check it here first.
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_client_auth_cert(chain.clone(), der.clone_key())
                .map_err(|e| {
                    format!(
                        "HUSKY_CLIENT_KEY {}: cannot be used with HUSKY_CLIENT_CERT {}: {e}",
                        key.display(),
                        cert.display()
                    )
                })?;
            let chain: Vec<Certificate<'static>> =
                chain.iter().map(|c| Certificate::from_der(c.as_ref()).to_owned()).collect();
            // ureq keeps the key's kind (PKCS#8, PKCS#1, SEC1) private: it reads the PEM again.
            let key = std::fs::read(&key)
                .ok()
                .and_then(|pem| PrivateKey::from_pem(&pem).ok())
                .ok_or_else(|| format!("HUSKY_CLIENT_KEY {}: cannot read it", key.display()))?;
            tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
        }
        _ => return Err("HUSKY_CLIENT_CERT and HUSKY_CLIENT_KEY go together: set both".into()),
    }
    Ok(tls.build())
}

impl Client {
    /// The daemon of the data directory `data`.
    pub fn local(data: &Path) -> Client {
        #[cfg(unix)]
        {
            let sock = data.join("husky.sock");
            Client {
                agent: unix::agent(sock.clone(), config(TlsConfig::default())),
                base: "http://husky".into(),
                token: None,
                place: sock.display().to_string(),
                unusable: None,
                data: Some(data.to_path_buf()),
            }
        }
        #[cfg(not(unix))]
        {
            // api.url has the scheme (https:// with api.tls) and the base path; api.addr only
            // the address.
            let url = std::fs::read_to_string(data.join("api.url"))
                .or_else(|_| {
                    std::fs::read_to_string(data.join("api.addr"))
                        .map(|a| format!("http://{}", a.trim()))
                })
                .map(|a| a.trim().to_owned())
                .unwrap_or_else(|_| "http://127.0.0.1:8420".into());
            // The daemon's local token lets the local CLI in whatever auth.* says.
            let token = std::fs::read_to_string(data.join("api.token"))
                .ok()
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty());
            let mut c = Client::remote(&url, token);
            if url.starts_with("https://") && std::env::var_os("HUSKY_CACERT").is_none() {
                // The loopback port this data directory's running daemon wrote down (the file
                // goes when it stops): its certificate is taken unseen, as the plain loopback
                // HTTP it replaces was (a certificate's name rarely matches 127.0.0.1 anyway).
                let tls = TlsConfig::builder()
                    .unversioned_rustls_crypto_provider(crate::api::tls::provider())
                    .disable_verification(true)
                    .build();
                c.agent = ureq::Agent::new_with_config(config(tls));
            }
            c.place = data.join("api.url").display().to_string();
            c.data = Some(data.to_path_buf());
            c
        }
    }

    /// A daemon at `url` (`http://host:port` or `https://host:port`), with an optional bearer
    /// token.
    pub fn remote(url: &str, token: Option<String>) -> Client {
        let (tls, unusable) = match tls_from_env() {
            Ok(tls) => (tls, None),
            Err(e) => (TlsConfig::default(), Some(e)),
        };
        Client {
            agent: ureq::Agent::new_with_config(config(tls)),
            base: url.trim_end_matches('/').to_owned(),
            token,
            place: url.to_owned(),
            unusable,
            data: None,
        }
    }

    /// The data directory of a local daemon (`None`: a remote one).
    pub fn data_dir(&self) -> Option<&Path> {
        self.data.as_deref()
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.usable()?;
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        self.answer(req.call())
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.usable()?;
        let mut req = self.agent.post(format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let sent = req.header("Content-Type", "application/json").send(body.to_string());
        self.answer(sent)
    }

    /// `GET path` of a server-sent event stream: calls `on_event(event, data, id)` for each
    /// event until the stream ends or `on_event` returns false. No overall timeout.
    pub fn events(
        &self,
        path: &str,
        mut on_event: impl FnMut(&str, &str, Option<i64>) -> bool,
    ) -> Result<(), ClientError> {
        use std::io::BufRead;
        self.usable()?;
        let mut req = self
            .agent
            .get(format!("{}{path}", self.base))
            .config()
            .timeout_global(None)
            .build()
            .header("Accept", "text/event-stream");
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let response = self.sent(req.call())?;
        let status = response.status().as_u16();
        if status >= 400 {
            return Err(self.refused(status, response));
        }
        let reader = std::io::BufReader::new(response.into_body().into_reader());
        let (mut event, mut data, mut id) = (String::new(), String::new(), None);
        for line in reader.lines() {
            let line = line.map_err(|e| ClientError::Broken(format!("reading the stream: {e}")))?;
            if line.is_empty() {
                if !data.is_empty() || !event.is_empty() {
                    let name = if event.is_empty() { "message" } else { event.as_str() };
                    if !on_event(name, &data, id) {
                        return Ok(());
                    }
                }
                (event, data, id) = (String::new(), String::new(), None);
            } else if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            } else if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().parse().ok();
            }
        }
        Ok(())
    }

    /// `GET path` of a list: the items and the total count (`X-Total-Count`, else the length).
    pub fn page(&self, path: &str) -> Result<(Vec<Value>, u64), ClientError> {
        self.usable()?;
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let response = self.sent(req.call())?;
        let total = response
            .headers()
            .get("X-Total-Count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let value = self.read(response)?;
        let items = match value {
            Value::Array(items) => items,
            other => {
                return Err(ClientError::Broken(format!(
                    "expected a list from {path}, got {other}"
                )));
            }
        };
        let total = total.unwrap_or(items.len() as u64);
        Ok((items, total))
    }

    /// Fails when the environment's TLS settings cannot be used (nothing is sent then).
    fn usable(&self) -> Result<(), ClientError> {
        match &self.unusable {
            Some(why) => Err(ClientError::Broken(why.clone())),
            None => Ok(()),
        }
    }

    fn sent(
        &self,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<ureq::http::Response<ureq::Body>, ClientError> {
        sent.map_err(|e| match e {
            ureq::Error::Io(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                ClientError::NotRunning(format!(
                    "the daemon is not running (nothing answers on {}); start it with `husky start`",
                    self.place
                ))
            }
            ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => ClientError::NotRunning(
                format!("no daemon answers at {}; start it with `husky start`", self.place),
            ),
            other => {
                let text = other.to_string();
                let hint = if text.contains("certificate") || text.contains("CertificateRequired") {
                    "; to trust a private CA or a self-signed certificate, set HUSKY_CACERT to \
                     its PEM file (a daemon with api.tls.client_ca also wants HUSKY_CLIENT_CERT \
                     and HUSKY_CLIENT_KEY)"
                } else {
                    ""
                };
                ClientError::Broken(format!("talking to the daemon at {}: {text}{hint}", self.place))
            }
        })
    }

    fn refused(&self, status: u16, mut response: ureq::http::Response<ureq::Body>) -> ClientError {
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("refused with HTTP {status}"));
        let message = match (status, &self.token) {
            (401, None) => format!("{message} (set HUSKY_TOKEN to an API token of {})", self.place),
            (401, Some(_)) => format!("{message} (HUSKY_TOKEN is not accepted by {})", self.place),
            _ => message,
        };
        ClientError::Refused { status, message }
    }

    /// The JSON of an answer; a 4xx or 5xx is [`ClientError::Refused`] with its message.
    fn read(&self, mut response: ureq::http::Response<ureq::Body>) -> Result<Value, ClientError> {
        let status = response.status().as_u16();
        if status >= 400 {
            return Err(self.refused(status, response));
        }
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| ClientError::Broken(format!("reading the daemon's answer: {e}")))?;
        serde_json::from_str(&text).map_err(|e| {
            ClientError::Broken(format!("the daemon's answer is not JSON ({e}): {text}"))
        })
    }

    fn answer(
        &self,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value, ClientError> {
        let response = self.sent(sent)?;
        self.read(response)
    }
}
