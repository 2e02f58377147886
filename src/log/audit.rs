//! The audit log (`log.audit_log`): one JSON line per run transition, written by the engine
//! thread as it hands each run row change to the store writer, so every status the database
//! records is audited: created (PENDING), RUNNING, RETRYING and every final status.
//! Keys, in this order, absent when unknown: `time`, `run_id`, `job`, `status`,
//! `previous_status`, `attempt`, `trigger`, `triggered_by`, `cycle_id`, `reason` (why the run
//! was started), `status_reason` (why it ended so), `exit_code`, `duration_ms`. The file rotates
//! by size like the daemon log (no compression, no age limit).
//!
//! Store patches carry only what changes; a run's identity (job, attempt, trigger, cycle, last
//! status) comes from the engine's run book.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{Logger, RotatingFile, Rotation};
use crate::clock::Clock;
use crate::config::AuditLog;
use crate::engine::runbook::Known;
use crate::store::{NewRun, RunPatch, RunStatus};

const MIB: u64 = 1024 * 1024;

/// The audit log file and what it knows of unfinished runs.
#[derive(Debug)]
pub struct Audit {
    file: RotatingFile,
    log: Logger,
}

impl Audit {
    /// Opens the audit log at `path` (rotation from `config`); problems writing it later go to
    /// `log`.
    pub fn open(
        path: PathBuf,
        config: &AuditLog,
        clock: Arc<dyn Clock>,
        log: Logger,
    ) -> std::io::Result<Audit> {
        let rotation = Rotation {
            max_bytes: u64::from(config.max_size_mb) * MIB,
            max_backups: config.max_backups,
            max_age: None,
            compress: false,
        };
        Ok(Audit::with(RotatingFile::open(path, rotation, clock)?, log))
    }

    /// An audit log on an already opened file.
    pub fn with(file: RotatingFile, log: Logger) -> Audit {
        Audit { file, log }
    }

    /// A run row is created.
    pub fn created(&mut self, run: &NewRun, at: OffsetDateTime) {
        let known = Known::of(run);
        let line = line(at, run.id, Some(&known), None, run.status, run.status_reason.as_deref());
        self.write(line);
    }

    /// A run row changes (`known`: the run as it was before, when the engine knows it); a
    /// change of status is a transition and is written.
    pub fn updated(
        &mut self,
        id: i64,
        patch: &RunPatch,
        known: Option<&Known>,
        at: OffsetDateTime,
    ) {
        let Some(status) = patch.status else { return };
        let previous = known.map(|k| k.status);
        let mut line = line(at, Some(id), known, previous, status, patch.status_reason.as_deref());
        if let Some(code) = patch.exit_code {
            line.insert("exit_code".into(), code.into());
        }
        if let Some(ms) = patch.duration_ms {
            line.insert("duration_ms".into(), ms.into());
        }
        self.write(line);
    }

    fn write(&mut self, line: Map<String, Value>) {
        let mut text = Value::Object(line).to_string();
        text.push('\n');
        if let Some(p) = self.file.write_line(text.as_bytes()) {
            self.log.warn(&format!("audit log: {p}; going on"));
        }
    }
}

fn line(
    at: OffsetDateTime,
    id: Option<i64>,
    known: Option<&Known>,
    previous: Option<RunStatus>,
    status: RunStatus,
    status_reason: Option<&str>,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("time".into(), crate::store::ts(at).into());
    m.insert("run_id".into(), id.map_or(Value::Null, Value::from));
    if let Some(k) = known {
        m.insert("job".into(), k.job.clone().into());
    }
    m.insert("status".into(), status.as_str().into());
    if let Some(p) = previous {
        m.insert("previous_status".into(), p.as_str().into());
    }
    if let Some(k) = known {
        m.insert("attempt".into(), k.attempt.into());
        m.insert("trigger".into(), k.trigger.as_str().into());
        m.insert("triggered_by".into(), k.triggered_by.clone().into());
        if let Some(c) = &k.cycle_id {
            m.insert("cycle_id".into(), c.clone().into());
        }
        if let Some(r) = &k.reason {
            m.insert("reason".into(), r.clone().into());
        }
    }
    if let Some(r) = status_reason {
        m.insert("status_reason".into(), r.into());
    }
    m
}
