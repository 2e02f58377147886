-- Audit queries that combine two filters stay index-only at millions of runs:
-- trigger + status (in id order), and status + a created_at range (in created_at order).
CREATE INDEX idx_job_runs_trigger_status ON job_runs (trigger, status, id);
CREATE INDEX idx_job_runs_status_created ON job_runs (status, created_at, id);
