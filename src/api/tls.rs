//! `api.tls`: the certificate chain and private key of the TCP listener, its lowest protocol
//! version and the client CAs of mutual TLS, loaded into a rustls server configuration (ring
//! provider) once, before the daemon starts anything. Keys may be PKCS#8, PKCS#1 (RSA) or SEC1
//! (EC) PEM. Every problem names the setting, the file and what is wrong, and stops the
//! daemon from starting.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use crate::config::{TlsConfig, TlsVersion};

/// Why `api.tls` cannot be used.
#[derive(Debug)]
pub struct TlsError {
    /// The setting (`api.tls.cert`, ...).
    pub setting: &'static str,
    /// Its file, as resolved.
    pub path: PathBuf,
    /// What is wrong.
    pub problem: String,
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.setting, self.path.display(), self.problem)
    }
}

impl std::error::Error for TlsError {}

/// The ring provider every TLS configuration of husky uses (the daemon's and the CLI's).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server configuration `tls` describes, its relative paths resolved against `base`
/// (husky.yaml's directory).
pub fn server_config(tls: &TlsConfig, base: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let file = |setting: &'static str, p: &Option<String>| {
        p.as_deref().map(|p| (setting, crate::log::resolve(base, p)))
    };
    let Some((cert_setting, cert_path)) = file("api.tls.cert", &tls.cert) else {
        return Err(missing("api.tls.cert"));
    };
    let Some((key_setting, key_path)) = file("api.tls.key", &tls.key) else {
        return Err(missing("api.tls.key"));
    };
    let chain = certificates(cert_setting, &cert_path)?;
    let key = private_key(key_setting, &key_path)?;
    let provider = provider();
    let versions: &[&rustls::SupportedProtocolVersion] = match tls.min_version {
        TlsVersion::V1_2 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::V1_3 => &[&rustls::version::TLS13],
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| TlsError {
            setting: "api.tls.min_version",
            path: PathBuf::new(),
            problem: e.to_string(),
        })?;
    let builder = match file("api.tls.client_ca", &tls.client_ca) {
        None => builder.with_no_client_auth(),
        Some((setting, path)) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(setting, &path)? {
                roots.add(cert).map_err(|e| TlsError {
                    setting,
                    path: path.clone(),
                    problem: format!("a certificate cannot be used as a CA: {e}"),
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError {
                    setting,
                    path: path.clone(),
                    problem: format!("cannot verify clients with it: {e}"),
                })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder.with_single_cert(chain, key).map_err(|e| {
        let problem = match e {
            rustls::Error::InconsistentKeys(_) => format!(
                "the key does not belong to the certificate in {} (its public key differs)",
                cert_path.display()
            ),
            other => format!("the key cannot be used with the certificate: {other}"),
        };
        TlsError { setting: key_setting, path: key_path.clone(), problem }
    })?;
    Ok(Arc::new(config))
}

fn missing(setting: &'static str) -> TlsError {
    TlsError {
        setting,
        path: PathBuf::new(),
        problem: "is required when api.tls.enabled is true".into(),
    }
}

/// The text of a PEM file.
fn read(setting: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError {
        setting,
        path: path.to_path_buf(),
        problem: format!("cannot read it: {e}"),
    })
}

fn unparsable(setting: &'static str, path: &Path, e: &pem::Error) -> TlsError {
    TlsError { setting, path: path.to_path_buf(), problem: format!("not valid PEM: {e}") }
}

/// Every certificate of a PEM file (at least one).
pub fn certificates(
    setting: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let text = read(setting, path)?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unparsable(setting, path, &e))?;
    if certs.is_empty() {
        let problem = if contains(&text, b"PRIVATE KEY-----") {
            "it holds a private key, not a certificate (are cert and key swapped?)"
        } else {
            "no certificate in it (a PEM block `-----BEGIN CERTIFICATE-----`)"
        };
        return Err(TlsError { setting, path: path.to_path_buf(), problem: problem.into() });
    }
    Ok(certs)
}

/// The first private key of a PEM file: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
pub fn private_key(setting: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let text = read(setting, path)?;
    match PrivateKeyDer::from_pem_slice(&text) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) => {
            let problem = if contains(&text, b"ENCRYPTED PRIVATE KEY")
                || contains(&text, b"Proc-Type: 4,ENCRYPTED")
            {
                "the key is encrypted with a passphrase; husky needs it unencrypted \
                 (`openssl pkey -in KEY -out PLAIN`, then keep PLAIN readable by the daemon only)"
            } else if contains(&text, b"BEGIN CERTIFICATE") {
                "it holds a certificate, not a private key (are cert and key swapped?)"
            } else {
                "no private key in it (PEM PKCS#8 `PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY` or \
                 SEC1 `EC PRIVATE KEY`)"
            };
            Err(TlsError { setting, path: path.to_path_buf(), problem: problem.into() })
        }
        Err(e) => Err(unparsable(setting, path, &e)),
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let d = std::env::temp_dir().join(format!("husky-tls-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&d).expect("dir");
        d
    }

    fn config(cert: &str, key: &str) -> TlsConfig {
        TlsConfig {
            enabled: true,
            cert: Some(cert.into()),
            key: Some(key.into()),
            ..TlsConfig::default()
        }
    }

    fn problem(tls: &TlsConfig, base: &Path) -> String {
        match server_config(tls, base) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn missing_and_unreadable_files_are_named() {
        let d = dir();
        let e = problem(&config("nope.pem", "key.pem"), &d);
        assert!(e.starts_with("api.tls.cert "), "{e}");
        assert!(e.contains("nope.pem: cannot read it"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn files_without_pem_blocks_say_what_they_lack() {
        let d = dir();
        std::fs::write(d.join("cert.pem"), "hello\n").expect("write");
        std::fs::write(
            d.join("key.pem"),
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .expect("write");
        let e = problem(&config("cert.pem", "key.pem"), &d);
        assert!(e.contains("cert.pem: no certificate in it"), "{e}");
        let key = private_key("api.tls.key", &d.join("key.pem")).map(|_| ()).unwrap_err();
        assert!(key.problem.contains("encrypted with a passphrase"), "{key}");
        std::fs::write(d.join("bad.pem"), "-----BEGIN CERTIFICATE-----\n!!!\n").expect("write");
        let e = certificates("api.tls.cert", &d.join("bad.pem")).map(|_| ()).unwrap_err();
        assert!(e.problem.starts_with("not valid PEM"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
