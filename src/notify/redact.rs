//! Secrets never leave through the side door: webhook URLs, routing keys, passwords and signing
//! secrets are replaced by `***` in errors, the daemon's log and API/CLI output.

use std::collections::BTreeMap;

use crate::config::{Config, Integration};

/// Replaces every known secret of a configuration in a text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret that contains another is replaced whole.
    secrets: Vec<String>,
}

impl Redactor {
    /// The secrets of `config`: its integrations' credentials and the URLs of ad-hoc
    /// `webhook:` channels.
    pub fn of(config: &Config) -> Redactor {
        let mut secrets = secrets_of(&config.integrations);
        for job in &config.jobs {
            let n = &job.notify;
            for t in
                [&n.on_failure, &n.on_success, &n.on_sla_breach, &n.on_retry].into_iter().flatten()
            {
                if let Some(url) = t.channel.strip_prefix("webhook:") {
                    secrets.push(url.trim().to_owned());
                }
            }
        }
        Redactor::new(secrets)
    }

    /// A redactor of `secrets` (short ones, under 6 characters, are left alone: replacing them
    /// would mangle ordinary words).
    pub fn new(mut secrets: Vec<String>) -> Redactor {
        secrets.retain(|s| s.len() >= 6);
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        Redactor { secrets }
    }

    /// `text` with every secret replaced by `***`.
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

/// The credentials of a set of integrations.
pub fn secrets_of(integrations: &BTreeMap<String, Integration>) -> Vec<String> {
    integrations
        .values()
        .flat_map(|i| [&i.webhook_url, &i.routing_key, &i.password, &i.secret, &i.url])
        .flatten()
        .filter(|s| !s.trim().is_empty())
        .cloned()
        .collect()
}

/// A channel string safe to show: an ad-hoc webhook keeps its scheme and host only
/// (`webhook:https://hooks.example/***`); other channels name an integration and a target,
/// never a credential.
pub fn channel(channel: &str) -> String {
    match channel.strip_prefix("webhook:") {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            format!("webhook:{}", url_origin(url))
        }
        _ => channel.to_owned(),
    }
}

/// `https://host[:port]/***`: a URL without its path, query and credentials.
pub fn url_origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let tail = if rest.len() > authority.len() { "/***" } else { "" };
    format!("{scheme}://{host}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_replaced_longest_first_and_short_ones_left() {
        let r = Redactor::new(vec![
            "https://hooks.slack.com/T0/B0/xyz".into(),
            "hooks.slack.com".into(),
            "abc".into(),
        ]);
        assert_eq!(
            r.apply("POST https://hooks.slack.com/T0/B0/xyz failed; host hooks.slack.com; abc"),
            "POST *** failed; host ***; abc"
        );
    }

    #[test]
    fn ad_hoc_webhook_channels_keep_only_their_origin() {
        assert_eq!(
            channel("webhook:https://user:pw@hooks.example:8443/t/secret?k=1"),
            "webhook:https://hooks.example:8443/***"
        );
        assert_eq!(channel("webhook:http://127.0.0.1:9"), "webhook:http://127.0.0.1:9");
        assert_eq!(channel("slack:#ops"), "slack:#ops");
    }
}
