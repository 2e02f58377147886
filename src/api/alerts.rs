//! Notification routes: the integrations of husky.yaml with their last delivery, a test
//! message through one of them, and sending an alert again. The last two go to the notifier
//! thread and wait for its answer.

use std::time::Duration;

use serde_json::{Value, json};

use super::Context;
use super::routes::{Answer, ApiError, Out, store_error};
use crate::config::{Config, Integration};
use crate::notify::{Control, NotifyError};
use crate::store::query::Reader;

/// How long a request waits for the notifier beyond `http_client.timeout` (a test may retry
/// nothing, but the notifier may be in the middle of another delivery).
const SLACK: Duration = Duration::from_secs(20);

/// `GET /api/integrations`: name, provider, credential status and last delivery, by name.
pub fn list(config: &Config, r: &Reader) -> Answer {
    let mut items = Vec::new();
    for (name, i) in &config.integrations {
        let last = r.last_delivery(name).map_err(store_error)?;
        let mut item = integration_json(name, i);
        item["last_delivery"] = match last {
            Some(a) => json!({
                "alert_id": a.id,
                "status": a.status,
                "at": a.last_attempt_at,
                "error": a.error,
            }),
            None => Value::Null,
        };
        items.push(item);
    }
    let total = items.len() as u64;
    Ok(Out::Page(items, total))
}

/// An integration as the API and `husky integrations list` show it: never its credentials.
pub fn integration_json(name: &str, i: &Integration) -> Value {
    let missing = missing(i);
    json!({
        "name": name,
        "provider": i.provider.name(),
        "status": if missing.is_empty() { "configured".to_owned() } else { format!("missing {}", missing.join(", ")) },
        "credentials": if missing.is_empty() { "set" } else { "missing" },
        "signed": i.secret.as_deref().is_some_and(|s| !s.is_empty()),
    })
}

/// The required fields an integration lacks (Husky-Go's status strings).
fn missing(i: &Integration) -> Vec<&'static str> {
    let blank = |k: &str| i.field(k).is_none_or(|s| s.trim().is_empty());
    i.provider.required_fields().iter().copied().filter(|k| blank(k)).collect()
}

/// `POST /api/integrations/{name}/test`: one message now, recorded as a `test` alert.
pub fn test(ctx: &Context, name: &str) -> Answer {
    let (reply, rx) = crossbeam_channel::bounded(1);
    ask(ctx, Control::Test { name: name.to_owned(), reply })?;
    match rx.recv_timeout(wait(ctx)) {
        Ok(Ok(id)) => Ok(Out::Json(200, json!({ "ok": true, "alert_id": id }))),
        Ok(Err(NotifyError::Failed { id, error })) => {
            Ok(Out::Json(200, json!({ "ok": false, "alert_id": id, "error": error })))
        }
        Ok(Err(e)) => Err(error(e)),
        Err(_) => Err(ApiError::unavailable("the notifier did not answer in time")),
    }
}

/// `POST /api/db/alerts/{id}/retry` (and `/api/alerts/{id}/retry`): back to `pending` and sent
/// now; 409 when it is pending already.
pub fn retry(ctx: &Context, id: &str) -> Answer {
    let id: i64 = id.parse().map_err(|_| ApiError::bad("invalid alert id"))?;
    let (reply, rx) = crossbeam_channel::bounded(1);
    ask(ctx, Control::Retry { id, reply })?;
    match rx.recv_timeout(wait(ctx)) {
        Ok(Ok(())) => Ok(Out::Json(
            200,
            json!({ "ok": true, "message": format!("alert {id} queued for delivery") }),
        )),
        Ok(Err(e)) => Err(error(e)),
        Err(_) => Err(ApiError::unavailable("the notifier did not answer in time")),
    }
}

fn ask(ctx: &Context, c: Control) -> Result<(), ApiError> {
    let tx = ctx.notifier.as_ref().ok_or_else(|| ApiError::unavailable("no notifier runs"))?;
    if tx.send(c) { Ok(()) } else { Err(ApiError::unavailable("the notifier has stopped")) }
}

fn wait(ctx: &Context) -> Duration {
    let t = Duration::try_from(ctx.daemon.http_client.timeout).unwrap_or(Duration::from_secs(15));
    t.saturating_mul(2) + SLACK
}

fn error(e: NotifyError) -> ApiError {
    match e {
        NotifyError::NotFound(m) => ApiError::not_found(m),
        NotifyError::Conflict(m) => ApiError::new(409, m),
        NotifyError::Failed { error, .. } => ApiError::new(502, error),
        NotifyError::Unavailable(m) => ApiError::unavailable(m),
    }
}
