//! What a notification says: the record kept in the `alerts` row's `payload` (so a pending one
//! can be sent again after a restart), built from the engine's notice, its rendered message
//! template and the run's attached log lines.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::template::Template;
use crate::config::{AttachLogs, format_duration};
use crate::engine::core::{Event, Notice};
use crate::store::ts;

/// Lines attached at most, whatever `attach_logs` asks (each provider cuts further to its size
/// limit).
pub const MAX_ATTACHED_LINES: u32 = 2000;

/// One notification, as stored in `alerts.payload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// `on_failure`, `on_success`, `on_sla_breach`, `on_retry`, `resolve`, `on_forced_kill`,
    /// `on_daemon_start` or `test`.
    pub event: String,
    /// The job (empty for daemon events).
    pub job: String,
    /// The run, if any.
    pub run_id: Option<i64>,
    /// The channel as configured.
    pub channel: String,
    /// The run's status at the time (`FAILED`, ...; empty for daemon events).
    pub status: String,
    /// The run's attempt.
    pub attempt: u32,
    /// The rendered message.
    pub message: String,
    /// Attached log lines (`attach_logs`), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<String>,
    /// When it was raised (RFC 3339, UTC).
    pub raised_at: String,
    /// Notices of this event held back by a cooldown since the last one sent.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub suppressed: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Record {
    /// A record of a daemon-level event (no job, no run).
    pub fn daemon(event: &str, channel: &str, message: String, at: OffsetDateTime) -> Record {
        Record {
            event: event.to_owned(),
            job: String::new(),
            run_id: None,
            channel: channel.to_owned(),
            status: String::new(),
            attempt: 0,
            message,
            logs: Vec::new(),
            raised_at: ts(at),
            suppressed: 0,
        }
    }

    /// The message with the cooldown's count, as sent (without the logs).
    pub fn text(&self) -> String {
        match self.suppressed {
            0 => self.message.clone(),
            n => format!("{} ({n} more held back by the cooldown)", self.message),
        }
    }
}

/// The record of an engine notice, its message rendered from the target's template (or the
/// default text) and `logs` attached.
pub fn record(n: &Notice, logs: Vec<String>) -> Record {
    let message = match n.target.message.as_deref().map(Template::parse) {
        Some(Ok(t)) => t.render(&|name| variable(n, name)),
        // Validated at load time: a template that fails here cannot come from a valid config.
        Some(Err(e)) => format!("{} (message template error: {})", default_message(n), e.message),
        None => String::new(),
    };
    let message = if message.trim().is_empty() { default_message(n) } else { message };
    Record {
        event: n.event.as_str().to_owned(),
        job: n.job.name.clone(),
        run_id: Some(n.run_id),
        channel: n.target.channel.clone(),
        status: n.status.as_str().to_owned(),
        attempt: n.attempt,
        message,
        logs,
        raised_at: ts(n.at),
        suppressed: n.suppressed,
    }
}

/// Which log lines a target wants: `None` for none, else how many of the last (`None` inside:
/// all, up to [`MAX_ATTACHED_LINES`]).
pub fn wanted_lines(attach: AttachLogs) -> Option<u32> {
    match attach {
        AttachLogs::None | AttachLogs::Last(0) => None,
        AttachLogs::All => Some(MAX_ATTACHED_LINES),
        AttachLogs::Last(n) => Some(n.min(MAX_ATTACHED_LINES)),
    }
}

/// Husky-Go's default text, with what is known of the run:
/// `[on_failure] job ingest status=FAILED (run 7, attempt 2, exit code 1: exit code 1)`.
pub fn default_message(n: &Notice) -> String {
    if n.event == Event::Resolve {
        return format!("job {} succeeded again (run {})", n.job.name, n.run_id);
    }
    let mut details = vec![format!("run {}", n.run_id), format!("attempt {}", n.attempt)];
    if let Some(code) = n.ended.and_then(|e| e.exit_code) {
        details.push(format!("exit code {code}"));
    }
    let mut text = format!(
        "[{}] job {} status={} ({})",
        n.event.as_str(),
        n.job.name,
        n.status,
        details.join(", ")
    );
    if let Some(r) = n.reason.as_deref().filter(|r| !r.is_empty()) {
        text.push_str(": ");
        text.push_str(r);
    }
    text
}

/// The value of a template variable for a notice (every name of
/// [`super::template::VARIABLES`]; an unset value is empty).
pub fn variable(n: &Notice, name: &str) -> String {
    let j = &n.job;
    let ended = n.ended;
    match name {
        "job.name" => j.name.clone(),
        "job.description" => j.description.clone(),
        "job.frequency" => j.frequency_raw.clone(),
        "job.retries" => j.retries.to_string(),
        // Go's rendering of a slice, except that no tags is empty (false in an `if`).
        "job.tags" if j.tags.is_empty() => String::new(),
        "job.tags" => format!("[{}]", j.tags.join(" ")),
        "job.timezone" => j.timezone.clone().unwrap_or_default(),
        "job.sla" => j.sla.map(format_duration).unwrap_or_default(),
        "run.id" => n.run_id.to_string(),
        "run.status" => n.status.as_str().to_owned(),
        "run.attempt" => n.attempt.to_string(),
        "run.exit_code" => {
            ended.and_then(|e| e.exit_code).map(|c| c.to_string()).unwrap_or_default()
        }
        "run.duration" => ended
            .map(|e| {
                format_duration(time::Duration::milliseconds(
                    i64::try_from(e.duration.as_millis()).unwrap_or(i64::MAX),
                ))
            })
            .unwrap_or_default(),
        "run.started_at" => ended
            .map(
                |e| ts(e.at - time::Duration::try_from(e.duration).unwrap_or(time::Duration::ZERO)),
            )
            .unwrap_or_default(),
        "run.finished_at" => ended.map(|e| ts(e.at)).unwrap_or_default(),
        "run.reason" => n.run_reason.clone().unwrap_or_default(),
        "run.error" => n.reason.clone().unwrap_or_default(),
        "run.trigger" => n.trigger.as_str().to_owned(),
        "run.sla_breached" => n.sla_breached.to_string(),
        "run.cycle_id" => n.cycle_id.clone(),
        "event" => n.event.as_str().to_owned(),
        "suppressed" => n.suppressed.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use time::macros::datetime;

    use super::*;
    use crate::config::{EnvSource, NotifyTarget, validate_husky};
    use crate::engine::core::Ended;
    use crate::store::{RunStatus, Trigger};

    fn notice(message: Option<&str>) -> Notice {
        let yaml = "version: \"1\"\njobs:\n  ingest:\n    description: test job\n    frequency: daily\n    time: \"0200\"\n    retries: 3\n    tags: [etl, prod]\n    command: \"true\"\n";
        let env = EnvSource::from_maps(HashMap::new(), HashMap::new());
        let config = validate_husky(std::path::Path::new("/tmp/husky.yaml"), yaml, &env)
            .value
            .expect("valid");
        let job = Arc::new(config.jobs[0].clone());
        Notice {
            event: Event::Failure,
            target: NotifyTarget {
                channel: "slack:#ops".into(),
                message: message.map(str::to_owned),
                attach_logs: AttachLogs::None,
                only_after_failure: false,
                cooldown: None,
            },
            job,
            run_id: 7,
            attempt: 1,
            status: RunStatus::Failed,
            reason: Some("exit code 2".into()),
            run_reason: Some("test reason".into()),
            trigger: Trigger::Manual,
            cycle_id: "c-1".into(),
            sla_breached: true,
            ended: Some(Ended {
                exit_code: Some(2),
                duration: std::time::Duration::from_millis(90_500),
                at: datetime!(2026-12-06 10:01:30 UTC),
            }),
            at: datetime!(2026-12-06 10:01:30 UTC),
            suppressed: 0,
        }
    }

    #[track_caller]
    fn check(template: &str, expected: &str) {
        assert_eq!(record(&notice(Some(template)), Vec::new()).message, expected, "{template}");
    }

    #[test]
    fn husky_go_fixtures_and_the_new_variables_render() {
        check(
            "job={{ job.name }} desc={{ job.description }} freq={{ job.frequency }} retries={{ job.retries }}",
            "job=ingest desc=test job freq=daily retries=3",
        );
        check(
            "id={{ run.id }} status={{ run.status }} attempt={{ run.attempt }} trigger={{ run.trigger }} reason={{ run.reason }}",
            "id=7 status=FAILED attempt=1 trigger=manual reason=test reason",
        );
        check("sla={{ run.sla_breached }} tags={{ job.tags }}", "sla=true tags=[etl prod]");
        check(
            "{{ run.exit_code }} {{ run.duration }} {{ run.started_at }} {{ run.finished_at }} {{ run.error }} {{ run.cycle_id }} {{ event }}",
            "2 1m30.5s 2026-12-06T09:59:59.500Z 2026-12-06T10:01:30.000Z exit code 2 c-1 on_failure",
        );
    }

    #[test]
    fn an_empty_result_falls_back_to_the_default_text() {
        let default = record(&notice(None), Vec::new()).message;
        assert_eq!(
            default,
            "[on_failure] job ingest status=FAILED (run 7, attempt 1, exit code 2): exit code 2"
        );
        let blank = record(&notice(Some("{{ if run.cycle_id }}{{ end }}")), Vec::new()).message;
        assert_eq!(blank, default);
    }

    #[test]
    fn attach_logs_wants_none_all_or_the_last_lines() {
        assert_eq!(wanted_lines(AttachLogs::None), None);
        assert_eq!(wanted_lines(AttachLogs::Last(0)), None);
        assert_eq!(wanted_lines(AttachLogs::Last(2)), Some(2));
        assert_eq!(wanted_lines(AttachLogs::All), Some(MAX_ATTACHED_LINES));
        assert_eq!(wanted_lines(AttachLogs::Last(1_000_000)), Some(MAX_ATTACHED_LINES));
    }
}
