//! What the commands that talk to a daemon share: which daemon (`-c`, `-d`, `--addr`, before
//! or after the command, or `HUSKY_CONFIG`/`HUSKY_DATA`/`HUSKY_ADDR`), the client, paths with
//! escaped names, and the mapping of client errors to exit codes.

use std::path::PathBuf;

use super::{CliError, config_path, globals};
use crate::client::{Client, ClientError};
use crate::daemon::data_dir;

/// The client for a command's target options (each falls back to the root option).
pub fn client(config: Option<&PathBuf>, data: Option<&PathBuf>, addr: Option<&String>) -> Client {
    let g = globals();
    let addr = addr
        .or(g.addr.as_ref())
        .cloned()
        .or_else(|| std::env::var("HUSKY_ADDR").ok().filter(|v| !v.is_empty()));
    match addr {
        Some(url) => {
            let token = std::env::var("HUSKY_TOKEN").ok().filter(|v| !v.is_empty());
            Client::remote(&url, token)
        }
        None => Client::local(&data_dir(
            data.or(g.data.as_ref()).map(PathBuf::as_path),
            &config_path(config),
        )),
    }
}

/// A client error as the command's failure (no daemon: exit 4).
pub fn failed(e: ClientError) -> CliError {
    match e {
        ClientError::NotRunning(m) => CliError::NoDaemon(m),
        other => CliError::Failed(other.to_string()),
    }
}

/// The daemon a command talks to.
pub trait Targeted {
    fn target(&self) -> (Option<&PathBuf>, Option<&PathBuf>, Option<&String>);
    fn client(&self) -> Client {
        let (config, data, addr) = self.target();
        client(config, data, addr)
    }
}

// argh has no flattening: this writes the three target options into a command's struct (after
// its own fields, so `--help` lists them last) and gives them one reading.
macro_rules! targeted {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident { $($fields:tt)* }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $($fields)*
            /// the husky.yaml (default: $HUSKY_CONFIG, else ./husky.yaml)
            #[argh(option, short = 'c')]
            config: Option<std::path::PathBuf>,
            /// the data directory (default: $HUSKY_DATA, else .husky beside husky.yaml)
            #[argh(option, short = 'd')]
            data: Option<std::path::PathBuf>,
            /// a remote daemon's URL, e.g. http://10.0.0.5:8420 (default: $HUSKY_ADDR;
            /// HUSKY_TOKEN is its bearer token)
            #[argh(option)]
            addr: Option<String>,
        }

        impl $crate::cli::remote::Targeted for $name {
            fn target(
                &self,
            ) -> (Option<&std::path::PathBuf>, Option<&std::path::PathBuf>, Option<&String>) {
                (self.config.as_ref(), self.data.as_ref(), self.addr.as_ref())
            }
        }
    };
}
pub(crate) use targeted;

/// `/api/jobs/<job>/...` with the job name escaped.
pub fn job_path(job: &str, action: &str) -> String {
    format!("/api/jobs/{}/{action}", escape(job))
}

/// Percent-escapes a path segment or query value.
pub fn escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
