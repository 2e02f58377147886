//! The notifier thread: it turns the engine's notices into delivered notifications. Every
//! notification is first written to the `alerts` table as an outbox row (`pending`), then
//! delivered with retries and marked `delivered` or `failed`; pending rows survive a restart.
//!
//! Delivery: an attempt at once, then `http_client.max_retries` more `retry_backoff` apart
//! (doubling). A receiver that cannot be reached or answers 5xx, 408 or 429 keeps the row
//! `pending` and is tried again every [`outbox::OFFLINE_RETRY`] until `alerts.give_up_after`
//! (24h) has passed since the notification was raised, across restarts: an edge box that was
//! offline delivers once it is back. A receiver that refuses the request (another 4xx) or a
//! channel that names no integration ends the row `failed` at once.

pub mod channel;
pub mod http;
pub mod message;
pub mod outbox;
pub mod payload;
pub mod redact;
pub mod script;
pub mod smtp;
pub mod template;

use std::path::PathBuf;
use std::sync::Arc;

use crossbeam_channel::Sender;

use crate::config::{Config, HttpClientConfig};
use crate::store::Pragmas;

pub use outbox::{Link, Notifier, Waker, spawn};

/// A request for the notifier from the API or the daemon (the engine's notices come on their
/// own channel).
#[derive(Debug)]
pub enum Control {
    /// Send a test notification through an integration, recorded as an alert (event `test`).
    Test {
        /// The integration.
        name: String,
        /// Receives the alert id, or why it could not be sent.
        reply: Sender<Result<i64, NotifyError>>,
    },
    /// Send an alert again, now.
    Retry {
        /// The alert.
        id: i64,
        /// Receives the outcome of queueing it.
        reply: Sender<Result<(), NotifyError>>,
    },
    /// husky.yaml was reloaded: its integrations and secrets apply from now on.
    Config(Arc<Config>),
}

/// Why the notifier could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyError {
    /// No such integration or alert.
    NotFound(String),
    /// The alert is already waiting for delivery, or cannot be sent again.
    Conflict(String),
    /// The test was sent and failed.
    Failed {
        /// The alert recorded.
        id: Option<i64>,
        /// Why.
        error: String,
    },
    /// The store cannot be read.
    Unavailable(String),
}

impl std::fmt::Display for NotifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotifyError::NotFound(m) | NotifyError::Conflict(m) | NotifyError::Unavailable(m) => {
                f.write_str(m)
            }
            NotifyError::Failed { error, .. } => f.write_str(error),
        }
    }
}

/// What the notifier needs from huskyd.yaml and the daemon.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `http_client.*`.
    pub http: HttpClientConfig,
    /// `alerts.give_up_after`.
    pub give_up_after: time::Duration,
    /// `alerts.on_daemon_start`.
    pub on_daemon_start: Vec<String>,
    /// The database (read-only: logs to attach, alerts to send again).
    pub db: PathBuf,
    /// Its pragmas.
    pub pragmas: Pragmas,
}
