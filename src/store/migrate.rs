//! Schema migrations: the numbered files of `schema/sql/`, applied in order, each in its own
//! transaction, tracked by `PRAGMA user_version`.

use rusqlite::Connection;

use super::StoreError;

/// Every migration, in order: `(version, name, SQL)`. Version N is `schema/sql/000N_*.sql`.
pub const MIGRATIONS: &[(u32, &str, &str)] = &[
    (1, "initial", include_str!("../../schema/sql/0001_initial.sql")),
    (2, "audit_indexes", include_str!("../../schema/sql/0002_audit_indexes.sql")),
    (3, "engine_state", include_str!("../../schema/sql/0003_engine_state.sql")),
    (4, "alert_channels", include_str!("../../schema/sql/0004_alert_channels.sql")),
];

/// The schema version this husky writes.
pub fn latest() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// The schema version of a database.
pub fn version(conn: &Connection) -> Result<u32, StoreError> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Brings the database up to [`latest`]. A database from a newer husky is refused untouched.
/// Returns the versions applied.
pub fn migrate(conn: &mut Connection) -> Result<Vec<u32>, StoreError> {
    let current = version(conn)?;
    if current > latest() {
        return Err(StoreError::TooNew { found: current, supported: latest() });
    }
    if current == latest() {
        return Ok(Vec::new());
    }
    // A migration that rebuilds a table must not cascade its drop into the tables referring to
    // it: foreign keys are off while migrating (the pragma is a no-op inside a transaction) and
    // checked before each commit.
    let fk: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", false)?;
    let result = apply(conn, current);
    conn.pragma_update(None, "foreign_keys", fk)?;
    result
}

fn apply(conn: &mut Connection, current: u32) -> Result<Vec<u32>, StoreError> {
    let mut applied = Vec::new();
    for &(v, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let failed = |message: String| StoreError::Migration { version: v, name, message };
        let tx = conn.transaction()?;
        tx.execute_batch(sql).map_err(|e| failed(e.to_string()))?;
        let broken: i64 =
            tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0))?;
        if broken > 0 {
            return Err(failed(format!("{broken} rows would break a foreign key")));
        }
        tx.pragma_update(None, "user_version", v)?;
        tx.commit()?;
        applied.push(v);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.0 as usize, i + 1, "migration {} is out of order", m.1);
        }
    }

    #[test]
    fn every_sql_file_is_listed() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/sql");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("schema/sql")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<String> =
            MIGRATIONS.iter().map(|(v, name, _)| format!("{v:04}_{name}.sql")).collect();
        assert_eq!(files, listed);
    }

    #[test]
    fn migrates_an_empty_database_step_by_step_and_is_idempotent() {
        let mut conn = Connection::open_in_memory().expect("open");
        assert_eq!(version(&conn).expect("version"), 0);
        assert_eq!(migrate(&mut conn).expect("migrate"), (1..=latest()).collect::<Vec<_>>());
        assert_eq!(version(&conn).expect("version"), latest());
        assert!(migrate(&mut conn).expect("again").is_empty());
        for table in ["job_runs", "job_state", "run_logs", "run_outputs", "alerts"] {
            let n: i64 = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [table],
                    |r| r.get(0),
                )
                .expect("query");
            assert_eq!(n, 1, "table {table}");
        }
    }

    #[test]
    fn a_newer_database_is_refused_and_left_alone() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.pragma_update(None, "user_version", latest() + 1).expect("set");
        let err = migrate(&mut conn).expect_err("too new");
        assert!(matches!(err, StoreError::TooNew { .. }), "{err}");
        assert!(err.to_string().contains("newer husky"), "{err}");
        assert_eq!(version(&conn).expect("version"), latest() + 1);
        let tables: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).expect("query");
        assert_eq!(tables, 0, "nothing was created");
    }

    #[test]
    fn a_failed_migration_leaves_no_trace() {
        let mut conn = Connection::open_in_memory().expect("open");
        // A table in the way makes migration 1 fail half-way: nothing of it must remain.
        conn.execute_batch("CREATE TABLE run_logs (x)").expect("create");
        let err = migrate(&mut conn).expect_err("fails");
        assert!(matches!(err, StoreError::Migration { version: 1, .. }), "{err}");
        assert_eq!(version(&conn).expect("version"), 0);
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'job_runs'", [], |r| {
                r.get(0)
            })
            .expect("query");
        assert_eq!(tables, 0);
    }

    #[test]
    fn version_3_rebuilds_job_runs_keeping_rows_logs_references_and_the_id_counter() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.pragma_update(None, "foreign_keys", true).expect("fk");
        // A version 2 database with history: run 2 of 3 was pruned (ids are never reused).
        let tx = conn.transaction().expect("tx");
        for (_, _, sql) in &MIGRATIONS[..2] {
            tx.execute_batch(sql).expect("migrate");
        }
        tx.pragma_update(None, "user_version", 2).expect("version");
        tx.commit().expect("commit");
        conn.execute_batch(
            "INSERT INTO job_runs (job_name, status, trigger, created_at, exit_code)
                 VALUES ('a', 'SUCCESS', 'schedule', '2026-01-01T00:00:00.000Z', 0),
                        ('a', 'FAILED', 'manual', '2026-01-01T00:01:00.000Z', 1),
                        ('b', 'FAILED', 'dependency', '2026-01-01T00:02:00.000Z', 2);
             INSERT INTO run_logs (run_id, seq, stream, line, ts)
                 VALUES (1, 1, 'stdout', 'hello', '2026-01-01T00:00:00.000Z');
             INSERT INTO run_outputs (run_id, job_name, var_name, value, cycle_id, created_at)
                 VALUES (1, 'a', 'v', 'x', 'c', '2026-01-01T00:00:00.000Z');
             INSERT INTO alerts (job_name, run_id, channel, sent_at)
                 VALUES ('b', 3, 'slack:#ops', '2026-01-01T00:02:00.000Z');
             DELETE FROM job_runs WHERE id = 3;",
        )
        .expect("history");
        assert_eq!(migrate(&mut conn).expect("migrate"), vec![3, 4]);
        let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).expect(sql) };
        assert_eq!(count("SELECT count(*) FROM job_runs"), 2);
        assert_eq!(count("SELECT count(*) FROM run_logs WHERE run_id = 1"), 1, "logs kept");
        assert_eq!(count("SELECT count(*) FROM run_outputs WHERE run_id = 1"), 1);
        assert_eq!(count("SELECT count(*) FROM alerts WHERE run_id IS NULL"), 1);
        assert_eq!(count("SELECT exit_code FROM job_runs WHERE id = 2"), 1);
        let fk: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0)).expect("fk");
        assert!(fk, "foreign keys are back on");
        // The new triggers are accepted, and the next id follows the pruned one.
        conn.execute(
            "INSERT INTO job_runs (job_name, status, trigger, created_at)
                 VALUES ('a', 'PENDING', 'catchup', '2026-01-02T00:00:00.000Z')",
            [],
        )
        .expect("catchup trigger");
        assert_eq!(conn.last_insert_rowid(), 4);
        // Cascades still work on the rebuilt table.
        conn.execute("DELETE FROM job_runs WHERE id = 1", []).expect("delete");
        assert_eq!(count("SELECT count(*) FROM run_logs"), 0);
        let indexes = count(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'job_runs' \
             AND name LIKE 'idx_%'",
        );
        assert_eq!(indexes, 10);
        assert_eq!(count("SELECT skip_next FROM job_state UNION ALL SELECT 0 LIMIT 1"), 0);
        assert_eq!(count("SELECT count(*) FROM paused_tags"), 0);
    }
}
