//! Channel strings (`slack:#ops`, `slack_ops:#alerts`, `pagerduty:p1`, `webhook:https://...`,
//! `email:ops@example.com`, `script:./notify.sh`) resolved to a destination, as in Husky-Go
//! (digest §9.4): split at the first `:`; an integration of that name; an ad-hoc webhook URL;
//! `email:` through the SMTP integration; `script:` runs a local program.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::{Integration, Provider};

/// PagerDuty's Events API v2 endpoint (`integrations.<name>.url` overrides it).
pub const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// Where a notification goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// A Slack incoming webhook; `channel` overrides the webhook's own when not empty.
    Slack {
        /// The webhook URL.
        url: String,
        /// `#chan` or `@user`, or empty.
        channel: String,
    },
    /// A Discord webhook (the target is ignored).
    Discord {
        /// The webhook URL.
        url: String,
    },
    /// A generic webhook, signed when it has a secret.
    Webhook {
        /// The URL.
        url: String,
        /// HMAC-SHA256 key of `X-Husky-Signature-256`.
        secret: Option<String>,
    },
    /// PagerDuty Events API v2.
    PagerDuty {
        /// The endpoint.
        url: String,
        /// The integration's routing key.
        routing_key: String,
        /// `critical`, `error`, `warning` or `info` (from `p1`..`p4`).
        severity: &'static str,
    },
    /// Email through an SMTP integration.
    Email {
        /// The SMTP integration.
        smtp: Box<Integration>,
        /// The recipient.
        to: String,
    },
    /// A local program.
    Script {
        /// Its path (relative ones are relative to husky.yaml's directory).
        path: PathBuf,
    },
}

/// Resolves `channel` against the integrations of husky.yaml (`dir`: its directory).
pub fn resolve(
    channel: &str,
    integrations: &BTreeMap<String, Integration>,
    dir: &Path,
) -> Result<Route, String> {
    let Some((prefix, target)) = channel.split_once(':') else {
        return Err(format!(
            "invalid channel format {channel:?}: write <integration>:<target>, e.g. slack:#ops"
        ));
    };
    let target = target.trim();
    if let Some(i) = integrations.get(prefix) {
        return integration(prefix, i, target);
    }
    match prefix {
        "webhook" if target.starts_with("http://") || target.starts_with("https://") => {
            Ok(Route::Webhook { url: target.to_owned(), secret: None })
        }
        "email" => {
            let smtp = integrations
                .get("smtp")
                .or_else(|| integrations.values().find(|i| i.provider == Provider::Smtp));
            match smtp {
                Some(i) => integration("email", i, target),
                None => Err("no smtp integration for email: add integrations.smtp".into()),
            }
        }
        "script" if !target.is_empty() => Ok(Route::Script { path: dir.join(target) }),
        _ => Err(format!("no integration found for channel prefix {prefix:?}")),
    }
}

/// The route of integration `name` for `target`.
pub fn integration(name: &str, i: &Integration, target: &str) -> Result<Route, String> {
    let need = |v: &Option<String>, field: &str| {
        v.clone().filter(|s| !s.trim().is_empty()).ok_or_else(|| {
            format!(
                "integration {name:?} has no {field} (field is required for provider {:?})",
                i.provider.name()
            )
        })
    };
    Ok(match i.provider {
        Provider::Slack => {
            Route::Slack { url: need(&i.webhook_url, "webhook_url")?, channel: target.to_owned() }
        }
        Provider::Discord => Route::Discord { url: need(&i.webhook_url, "webhook_url")? },
        Provider::Webhook => {
            let url = if target.starts_with("http://") || target.starts_with("https://") {
                target.to_owned()
            } else {
                need(&i.webhook_url, "webhook_url")?
            };
            Route::Webhook { url, secret: i.secret.clone().filter(|s| !s.is_empty()) }
        }
        Provider::PagerDuty => Route::PagerDuty {
            url: i.url.clone().filter(|u| !u.is_empty()).unwrap_or_else(|| PAGERDUTY_URL.into()),
            routing_key: need(&i.routing_key, "routing_key")?,
            severity: severity(target),
        },
        Provider::Smtp => {
            if target.is_empty() {
                return Err(format!(
                    "channel {name}: names no recipient (write {name}:ops@example.com)"
                ));
            }
            Route::Email { smtp: Box::new(i.clone()), to: target.to_owned() }
        }
    })
}

/// PagerDuty severity from a channel target: `p1` critical, `p2` error, `p3` warning, anything
/// else info (trimmed, any case).
pub fn severity(target: &str) -> &'static str {
    match target.trim().to_ascii_lowercase().as_str() {
        "p1" => "critical",
        "p2" => "error",
        "p3" => "warning",
        _ => "info",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn integ(provider: Provider) -> Integration {
        Integration {
            provider,
            webhook_url: Some(format!("https://hooks.example/{}", provider.name())),
            routing_key: Some("rk".into()),
            host: Some("mail.example".into()),
            port: 0,
            username: None,
            password: None,
            from: Some("husky@example".into()),
            secret: None,
            url: None,
        }
    }

    fn all() -> BTreeMap<String, Integration> {
        let mut m = BTreeMap::new();
        m.insert("slack".into(), integ(Provider::Slack));
        m.insert("slack_ops".into(), integ(Provider::Slack));
        m.insert("pagerduty".into(), integ(Provider::PagerDuty));
        m.insert("smtp".into(), integ(Provider::Smtp));
        m.insert(
            "hook".into(),
            Integration { secret: Some("k".into()), ..integ(Provider::Webhook) },
        );
        m
    }

    #[track_caller]
    fn check(channel: &str, expected: Result<Route, &str>) {
        let got = resolve(channel, &all(), Path::new("/etc/husky"));
        assert_eq!(got, expected.map_err(str::to_owned), "{channel}");
    }

    #[test]
    fn channels_resolve_as_in_husky_go() {
        let slack =
            |c: &str| Route::Slack { url: "https://hooks.example/slack".into(), channel: c.into() };
        check("slack:#ops", Ok(slack("#ops")));
        check("slack_ops:#alerts", Ok(slack("#alerts")));
        check(
            "pagerduty:P1",
            Ok(Route::PagerDuty {
                url: PAGERDUTY_URL.into(),
                routing_key: "rk".into(),
                severity: "critical",
            }),
        );
        check(
            "webhook:https://x.example/h",
            Ok(Route::Webhook { url: "https://x.example/h".into(), secret: None }),
        );
        check(
            "hook:ignored",
            Ok(Route::Webhook {
                url: "https://hooks.example/webhook".into(),
                secret: Some("k".into()),
            }),
        );
        check(
            "email:ops@example.com",
            Ok(Route::Email {
                smtp: Box::new(integ(Provider::Smtp)),
                to: "ops@example.com".into(),
            }),
        );
        check(
            "smtp:ops@example.com",
            Ok(Route::Email {
                smtp: Box::new(integ(Provider::Smtp)),
                to: "ops@example.com".into(),
            }),
        );
        check(
            "script:bin/notify.sh",
            Ok(Route::Script { path: "/etc/husky/bin/notify.sh".into() }),
        );
        check("discord:#x", Err("no integration found for channel prefix \"discord\""));
        check("webhook:not-a-url", Err("no integration found for channel prefix \"webhook\""));
        assert!(
            resolve("slack", &all(), Path::new("/"))
                .is_err_and(|e| e.contains("invalid channel format"))
        );
    }

    #[test]
    fn severities_map_from_p1_to_p4() {
        for (t, s) in
            [("p1", "critical"), ("P2", "error"), (" p3 ", "warning"), ("p4", "info"), ("", "info")]
        {
            assert_eq!(severity(t), s, "{t:?}");
        }
    }

    #[test]
    fn a_pagerduty_url_overrides_the_endpoint() {
        let i = Integration {
            url: Some("http://127.0.0.1:9/enqueue".into()),
            ..integ(Provider::PagerDuty)
        };
        let r = integration("pd_eu", &i, "p2").expect("route");
        assert_eq!(
            r,
            Route::PagerDuty {
                url: "http://127.0.0.1:9/enqueue".into(),
                routing_key: "rk".into(),
                severity: "error"
            }
        );
    }
}
