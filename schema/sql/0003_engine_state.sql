-- husky state store, version 3: the engine's state.
-- - job_runs.trigger also takes 'retry' and 'catchup'. SQLite cannot change a CHECK constraint in
--   place: the table is rebuilt (the documented procedure; the migration runs with foreign keys
--   off and checks them before it commits), keeping every id and the AUTOINCREMENT counter.
-- - job_state.skip_next: a user skipped the job's next scheduled slot.
-- - paused_tags: tags paused as a whole (every job carrying one is paused).

CREATE TABLE job_runs_new (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    job_name          TEXT    NOT NULL,
    status            TEXT    NOT NULL DEFAULT 'PENDING'
                      CHECK (status IN ('PENDING', 'RUNNING', 'SUCCESS', 'FAILED', 'CANCELLED',
                                        'RETRYING', 'SKIPPED')),
    -- Why a run did not succeed (exit_code, timeout, cancelled, signal, ...): set for every
    -- non-success outcome.
    status_reason     TEXT,
    attempt           INTEGER NOT NULL DEFAULT 1,
    trigger           TEXT    NOT NULL
                      CHECK (trigger IN ('schedule', 'manual', 'dependency', 'retry', 'catchup')),
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

INSERT INTO job_runs_new SELECT * FROM job_runs;
-- Keep the id counter (ids of pruned runs are never reused).
DELETE FROM sqlite_sequence WHERE name = 'job_runs_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'job_runs_new', seq FROM sqlite_sequence WHERE name = 'job_runs';
DROP TABLE job_runs;
ALTER TABLE job_runs_new RENAME TO job_runs;

CREATE INDEX idx_job_runs_job        ON job_runs (job_name, id);
CREATE INDEX idx_job_runs_status     ON job_runs (status, id);
CREATE INDEX idx_job_runs_trigger    ON job_runs (trigger, id);
CREATE INDEX idx_job_runs_created    ON job_runs (created_at, id);
CREATE INDEX idx_job_runs_finished   ON job_runs (finished_at);
CREATE INDEX idx_job_runs_cycle      ON job_runs (cycle_id) WHERE cycle_id IS NOT NULL;
CREATE INDEX idx_job_runs_sla        ON job_runs (id) WHERE sla_breached = 1;
CREATE INDEX idx_job_runs_job_status ON job_runs (job_name, status, id);
CREATE INDEX idx_job_runs_trigger_status ON job_runs (trigger, status, id);
CREATE INDEX idx_job_runs_status_created ON job_runs (status, created_at, id);

ALTER TABLE job_state ADD COLUMN skip_next INTEGER NOT NULL DEFAULT 0;

CREATE TABLE paused_tags (
    tag       TEXT PRIMARY KEY,
    paused_at TEXT NOT NULL
) WITHOUT ROWID;
