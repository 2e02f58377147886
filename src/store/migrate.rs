//! Schema migrations: the numbered files of `schema/sql/`, applied in order, each in its own
//! transaction, tracked by `PRAGMA user_version`.

use rusqlite::Connection;

use super::StoreError;

/// Every migration, in order: `(version, name, SQL)`. Version N is `schema/sql/000N_*.sql`.
pub const MIGRATIONS: &[(u32, &str, &str)] = &[
    (1, "initial", include_str!("../../schema/sql/0001_initial.sql")),
    (2, "audit_indexes", include_str!("../../schema/sql/0002_audit_indexes.sql")),
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
    let mut applied = Vec::new();
    for &(v, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql).map_err(|e| StoreError::Migration {
            version: v,
            name,
            message: e.to_string(),
        })?;
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
}
