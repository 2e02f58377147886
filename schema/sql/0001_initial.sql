-- husky state store, version 1.
-- Tables and columns follow Husky-Go (job_runs, job_state, run_logs, run_outputs, alerts), fixed
-- and extended. Timestamps are UTC text `YYYY-MM-DDTHH:MM:SS.mmmZ`: they sort as text.

CREATE TABLE job_runs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    job_name          TEXT    NOT NULL,
    status            TEXT    NOT NULL DEFAULT 'PENDING'
                      CHECK (status IN ('PENDING', 'RUNNING', 'SUCCESS', 'FAILED', 'CANCELLED',
                                        'RETRYING', 'SKIPPED')),
    -- Why a run did not succeed (exit_code, timeout, cancelled, signal, ...): set for every
    -- non-success outcome.
    status_reason     TEXT,
    attempt           INTEGER NOT NULL DEFAULT 1,
    trigger           TEXT    NOT NULL CHECK (trigger IN ('schedule', 'manual', 'dependency')),
    triggered_by      TEXT    NOT NULL DEFAULT 'scheduler',
    reason            TEXT,
    cycle_id          TEXT,
    created_at        TEXT    NOT NULL,
    started_at        TEXT,
    finished_at       TEXT,
    -- A pending retry's due time (status RETRYING).
    retry_at          TEXT,
    exit_code         INTEGER,
    signal            INTEGER,
    pid               INTEGER,
    -- The process's start time as the OS reports it (opaque), to recognise the same process
    -- after a daemon crash.
    pid_start         INTEGER,
    duration_ms       INTEGER,
    cpu_user_ms       INTEGER,
    cpu_sys_ms        INTEGER,
    max_rss_kb        INTEGER,
    sla_breached      INTEGER NOT NULL DEFAULT 0,
    hc_status         TEXT    CHECK (hc_status IN ('pass', 'fail', 'warn')),
    -- Log accounting: lines and bytes stored, omitted by the per-run budget, dropped while the
    -- database could not be written, and whether retention removed the logs.
    log_lines         INTEGER NOT NULL DEFAULT 0,
    log_bytes         INTEGER NOT NULL DEFAULT 0,
    log_omitted_lines INTEGER NOT NULL DEFAULT 0,
    log_omitted_bytes INTEGER NOT NULL DEFAULT 0,
    log_dropped_lines INTEGER NOT NULL DEFAULT 0,
    logs_pruned_at    TEXT
);

CREATE INDEX idx_job_runs_job        ON job_runs (job_name, id);
CREATE INDEX idx_job_runs_status     ON job_runs (status, id);
CREATE INDEX idx_job_runs_trigger    ON job_runs (trigger, id);
CREATE INDEX idx_job_runs_created    ON job_runs (created_at, id);
CREATE INDEX idx_job_runs_finished   ON job_runs (finished_at);
CREATE INDEX idx_job_runs_cycle      ON job_runs (cycle_id) WHERE cycle_id IS NOT NULL;
CREATE INDEX idx_job_runs_sla        ON job_runs (id) WHERE sla_breached = 1;
CREATE INDEX idx_job_runs_job_status ON job_runs (job_name, status, id);

-- One row per job; every column is written on its own (a success never erases last_failure).
CREATE TABLE job_state (
    job_name        TEXT PRIMARY KEY,
    last_success    TEXT,
    last_failure    TEXT,
    last_run_id     INTEGER,
    last_status     TEXT,
    next_run        TEXT,
    paused          INTEGER NOT NULL DEFAULT 0,
    lock_pid        INTEGER,
    updated_at      TEXT
) WITHOUT ROWID;

CREATE TABLE run_logs (
    id      INTEGER PRIMARY KEY,
    run_id  INTEGER NOT NULL REFERENCES job_runs (id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    stream  TEXT    NOT NULL,
    line    TEXT    NOT NULL,
    ts      TEXT    NOT NULL
);

CREATE INDEX idx_run_logs_run_seq ON run_logs (run_id, seq);

CREATE TABLE run_outputs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      INTEGER NOT NULL REFERENCES job_runs (id) ON DELETE CASCADE,
    job_name    TEXT    NOT NULL,
    var_name    TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    cycle_id    TEXT    NOT NULL,
    created_at  TEXT    NOT NULL
);

CREATE INDEX idx_run_outputs_run   ON run_outputs (run_id);
CREATE INDEX idx_run_outputs_cycle ON run_outputs (cycle_id, id);

-- Alerts are never pruned; their run may be.
CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    job_name        TEXT    NOT NULL,
    run_id          INTEGER REFERENCES job_runs (id) ON DELETE SET NULL,
    event           TEXT    NOT NULL DEFAULT '',
    channel         TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'delivered'
                    CHECK (status IN ('delivered', 'failed', 'pending')),
    attempts        INTEGER NOT NULL DEFAULT 1,
    last_attempt_at TEXT,
    error           TEXT,
    sent_at         TEXT    NOT NULL,
    payload         TEXT
);

CREATE INDEX idx_alerts_job    ON alerts (job_name, id);
CREATE INDEX idx_alerts_status ON alerts (status, id);
CREATE INDEX idx_alerts_run    ON alerts (run_id);
