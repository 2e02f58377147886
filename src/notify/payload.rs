//! What is sent to each provider (digest §9.5, extended): Slack `{"text","channel"}`, Discord
//! `{"content"}`, a generic webhook's documented JSON (signed with HMAC-SHA256 when the
//! integration has a `secret`), PagerDuty Events API v2 `trigger`/`resolve` with a stable
//! `dedup_key` per job, an email, or a script's `HUSKY_*` environment. Attached logs are cut to
//! each provider's size limit, keeping the newest lines.

use serde_json::{Value, json};

use super::channel::Route;
use super::message::Record;

/// A request for one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// An HTTP POST of JSON.
    Http {
        /// Where.
        url: String,
        /// Extra headers (Content-Type is JSON).
        headers: Vec<(String, String)>,
        /// The JSON body.
        body: String,
    },
    /// An email.
    Email {
        /// Recipient.
        to: String,
        /// Subject line.
        subject: String,
        /// Plain-text body.
        body: String,
    },
    /// A local program and its environment.
    Script {
        /// The variables added to the daemon's environment.
        env: Vec<(String, String)>,
    },
}

/// Size limits of the text sent (message and attached logs), in bytes: Slack's 40,000
/// characters, Discord's 2,000, PagerDuty's 1,024-character summary, and sizes that keep an
/// email, a webhook body and an environment variable reasonable.
fn text_limit(route: &Route) -> usize {
    match route {
        Route::Slack { .. } => 39_000,
        Route::Discord { .. } => 1_990,
        Route::PagerDuty { .. } => 1_024,
        Route::Webhook { .. } => 256 * 1024,
        Route::Email { .. } => 1024 * 1024,
        Route::Script { .. } => 64 * 1024,
    }
}

/// The message followed by the attached logs (`Attached logs:` and one line each, as
/// Husky-Go), cut to `limit` bytes: the oldest log lines go first, then the message's end.
pub fn compose(message: &str, logs: &[String], limit: usize) -> String {
    let message = cut(message, limit);
    if logs.is_empty() {
        return message.to_owned();
    }
    let head = format!("{message}\n\nAttached logs:\n");
    let mut room = limit.saturating_sub(head.len());
    let all: usize = logs.iter().map(|l| l.trim_end().len() + 1).sum();
    if all > room {
        // Room for the note that says how many lines were cut (its count is at most this).
        room = room.saturating_sub(format!("(… {} earlier lines cut)\n", logs.len()).len());
    }
    let mut kept = Vec::new();
    for line in logs.iter().rev() {
        let line = line.trim_end();
        if line.len() + 1 > room {
            break;
        }
        room -= line.len() + 1;
        kept.push(line);
    }
    let dropped = logs.len() - kept.len();
    let note = format!("(… {dropped} earlier lines cut)");
    if kept.is_empty() && limit < head.len() + note.len() {
        return message.to_owned();
    }
    if dropped > 0 {
        kept.push(&note);
    }
    kept.reverse();
    let mut out = head;
    for line in kept {
        out.push_str(line.trim_end_matches('\n'));
        out.push('\n');
    }
    out.truncate(out.trim_end().len());
    out
}

/// `text` cut to at most `limit` bytes at a character boundary.
fn cut(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The PagerDuty deduplication key of a job: the same for every run, so a later `resolve`
/// closes the incident its failures opened.
pub fn dedup_key(job: &str) -> String {
    format!("husky-{job}")
}

/// The request of `record` for `route`. `delivery` is the alert id (the webhook's
/// `X-Husky-Delivery`).
pub fn build(route: &Route, record: &Record, delivery: Option<i64>) -> Request {
    let text = compose(&record.text(), &record.logs, text_limit(route));
    let http = |url: &str, body: Value, headers: Vec<(String, String)>| Request::Http {
        url: url.to_owned(),
        headers,
        body: body.to_string(),
    };
    match route {
        Route::Slack { url, channel } => {
            let mut body = json!({ "text": text });
            if !channel.is_empty() {
                body["channel"] = json!(channel);
            }
            http(url, body, Vec::new())
        }
        Route::Discord { url } => http(url, json!({ "content": text }), Vec::new()),
        Route::Webhook { url, secret } => {
            let body = json!({
                "message": text,
                "event": record.event,
                "job": record.job,
                "run_id": record.run_id,
                "status": record.status,
                "attempt": record.attempt,
                "channel": super::redact::channel(&record.channel),
                "raised_at": record.raised_at,
                "suppressed": record.suppressed,
                "delivery": delivery,
            })
            .to_string();
            let mut headers = vec![("X-Husky-Event".to_owned(), record.event.clone())];
            if let Some(id) = delivery {
                headers.push(("X-Husky-Delivery".to_owned(), id.to_string()));
            }
            if let Some(key) = secret {
                headers.push(("X-Husky-Signature-256".to_owned(), signature(key, &body)));
            }
            Request::Http { url: url.clone(), headers, body }
        }
        Route::PagerDuty { url, routing_key, severity } => {
            // Daemon events and tests have no job: their key is their channel's.
            let key = if record.job.is_empty() {
                format!("husky-daemon-{}", record.channel)
            } else {
                dedup_key(&record.job)
            };
            let body = if record.event == "resolve" {
                json!({ "routing_key": routing_key, "event_action": "resolve", "dedup_key": key })
            } else {
                let mut details = json!({
                    "event": record.event,
                    "job": record.job,
                    "run_id": record.run_id,
                    "status": record.status,
                    "attempt": record.attempt,
                });
                if !record.logs.is_empty() {
                    details["logs"] = json!(compose("", &record.logs, 64 * 1024).trim_start());
                }
                json!({
                    "routing_key": routing_key,
                    "event_action": "trigger",
                    "dedup_key": key,
                    "payload": {
                        "summary": cut(&record.text(), 1024),
                        "source": "husky",
                        "severity": severity,
                        "custom_details": details,
                    },
                })
            };
            http(url, body, Vec::new())
        }
        Route::Email { to, .. } => {
            let subject = match record.event.as_str() {
                "test" => "husky integration test".to_owned(),
                _ if record.job.is_empty() => format!("husky: {}", record.event),
                _ => format!(
                    "husky: {} {} ({})",
                    record.job,
                    record.status.to_lowercase(),
                    record.event
                ),
            };
            Request::Email { to: to.clone(), subject, body: text }
        }
        Route::Script { .. } => {
            let var = |k: &str, v: String| (format!("HUSKY_{k}"), v);
            Request::Script {
                env: vec![
                    var("EVENT", record.event.clone()),
                    var("JOB", record.job.clone()),
                    var("RUN_ID", record.run_id.map(|i| i.to_string()).unwrap_or_default()),
                    var("STATUS", record.status.clone()),
                    var("ATTEMPT", record.attempt.to_string()),
                    var("CHANNEL", record.channel.clone()),
                    var("MESSAGE", text),
                    var("RAISED_AT", record.raised_at.clone()),
                    var("SUPPRESSED", record.suppressed.to_string()),
                    var("DELIVERY", delivery.map(|i| i.to_string()).unwrap_or_default()),
                ],
            }
        }
    }
}

/// `sha256=<hex HMAC-SHA256 of body under key>`, as GitHub's `X-Hub-Signature-256`.
pub fn signature(key: &str, body: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
    let tag = ring::hmac::sign(&key, body.as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(event: &str) -> Record {
        Record {
            event: event.into(),
            job: "ingest".into(),
            run_id: Some(7),
            channel: "x:y".into(),
            status: "FAILED".into(),
            attempt: 2,
            message: "ingest failed".into(),
            logs: Vec::new(),
            raised_at: "2026-12-06T00:00:00.000Z".into(),
            suppressed: 0,
        }
    }

    fn body(r: &Request) -> Value {
        match r {
            Request::Http { body, .. } => serde_json::from_str(body).expect("json"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn slack_discord_and_pagerduty_bodies_are_exact() {
        let slack = Route::Slack { url: "u".into(), channel: "#ops".into() };
        assert_eq!(
            body(&build(&slack, &record("on_failure"), Some(1))),
            json!({"text": "ingest failed", "channel": "#ops"})
        );
        let discord = Route::Discord { url: "u".into() };
        assert_eq!(
            body(&build(&discord, &record("on_failure"), None)),
            json!({"content": "ingest failed"})
        );
        let pd =
            Route::PagerDuty { url: "u".into(), routing_key: "rk".into(), severity: "critical" };
        let b = body(&build(&pd, &record("on_failure"), None));
        assert_eq!(
            (&b["routing_key"], &b["event_action"], &b["dedup_key"]),
            (&json!("rk"), &json!("trigger"), &json!("husky-ingest"))
        );
        assert_eq!(b["payload"]["summary"], "ingest failed");
        assert_eq!(
            (&b["payload"]["source"], &b["payload"]["severity"]),
            (&json!("husky"), &json!("critical"))
        );
        let b = body(&build(&pd, &record("resolve"), None));
        assert_eq!(
            b,
            json!({"routing_key": "rk", "event_action": "resolve", "dedup_key": "husky-ingest"})
        );
    }

    #[test]
    fn a_signed_webhook_carries_a_verifiable_signature() {
        let hook = Route::Webhook { url: "u".into(), secret: Some("s3cret".into()) };
        let Request::Http { headers, body, .. } = build(&hook, &record("on_failure"), Some(42))
        else {
            panic!()
        };
        let h = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(h("X-Husky-Event").as_deref(), Some("on_failure"));
        assert_eq!(h("X-Husky-Delivery").as_deref(), Some("42"));
        assert_eq!(h("X-Husky-Signature-256"), Some(signature("s3cret", &body)));
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn logs_are_cut_to_the_limit_keeping_the_newest_lines() {
        let logs: Vec<String> = (1..=100).map(|i| format!("line {i}")).collect();
        let all = compose("msg", &logs, 10_000);
        assert!(
            all.starts_with("msg\n\nAttached logs:\nline 1\n") && all.ends_with("line 100"),
            "{all}"
        );
        let some = compose("msg", &logs, 100);
        assert!(some.len() <= 100, "{}", some.len());
        assert!(
            some.ends_with("line 100")
                && some.contains("earlier lines cut")
                && !some.contains("line 1\n"),
            "{some}"
        );
        assert_eq!(compose("héllo", &[], 2), "h");
        let suppressed = Record { suppressed: 3, ..record("on_failure") };
        let Request::Http { body, .. } =
            build(&Route::Discord { url: "u".into() }, &suppressed, None)
        else {
            panic!()
        };
        assert!(body.contains("3 more held back by the cooldown"), "{body}");
    }
}
