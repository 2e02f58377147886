//! The state store: SQLite schema and migrations, the single writer thread, read-only queries,
//! retention and log budgets.
//!
//! The writer thread ([`writer`]) owns the only read-write connection. Everyone else reads
//! through their own read-only connections ([`query::Reader`]); WAL lets both run at once.

pub mod follow;
pub mod hub;
pub mod migrate;
pub mod model;
pub mod query;
pub mod resume;
pub mod retention;
pub mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

pub use model::*;

use crate::config::StorageConfig;

/// What went wrong in the store. Callers branch on [`StoreError::Unavailable`] (the database
/// cannot be written right now; try again later) versus the rest (a bug or a bad file).
#[derive(Debug)]
pub enum StoreError {
    /// SQLite refused: the message says why.
    Sqlite(rusqlite::Error),
    /// The database was written by a newer husky; it is left untouched.
    TooNew {
        /// `PRAGMA user_version` of the file.
        found: u32,
        /// The newest version this husky knows.
        supported: u32,
    },
    /// A migration failed; it was rolled back.
    Migration {
        /// The migration's number.
        version: u32,
        /// The migration's name.
        name: &'static str,
        /// SQLite's message.
        message: String,
    },
    /// The database cannot be written at the moment (disk full, read-only, locked); the writer
    /// keeps the change and retries.
    Unavailable(String),
    /// The command failed on its own (a run that does not exist, a constraint); nothing else
    /// in its transaction was affected.
    Rejected(String),
    /// The writer thread has stopped.
    Closed,
    /// The directory of the database could not be created.
    Io(std::io::Error),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Sqlite(e) => write!(f, "database error: {e}"),
            StoreError::TooNew { found, supported } => write!(
                f,
                "the database has schema version {found}, written by a newer husky (this one \
                 knows up to {supported}); it was not modified: upgrade husky or point \
                 storage.sqlite.path elsewhere"
            ),
            StoreError::Migration { version, name, message } => {
                write!(
                    f,
                    "database migration {version:04}_{name} failed and was rolled back: {message}"
                )
            }
            StoreError::Unavailable(why) => write!(f, "the database cannot be written: {why}"),
            StoreError::Rejected(why) => write!(f, "the store refused the change: {why}"),
            StoreError::Closed => f.write_str("the store writer has stopped"),
            StoreError::Io(e) => write!(f, "cannot create the database directory: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

/// Whether an SQLite error means "cannot write now" (full, read-only, locked, I/O) rather than
/// a bad statement.
pub fn is_unavailable(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::*;
    matches!(
        e.sqlite_error_code(),
        Some(
            DiskFull
                | ReadOnly
                | DatabaseBusy
                | DatabaseLocked
                | SystemIoFailure
                | CannotOpen
                | FileLockingProtocolFailed
                | OutOfMemory
        )
    )
}

/// Where the database lives: `storage.sqlite.path` (relative to the directory of husky.yaml),
/// else `.husky/husky.db` beside husky.yaml. The CLI and the daemon both use this.
pub fn database_path(husky_yaml: &Path, storage: &StorageConfig) -> PathBuf {
    let base = husky_yaml.parent().map(Path::to_path_buf).unwrap_or_default();
    match &storage.sqlite_path {
        Some(p) if Path::new(p).is_absolute() => PathBuf::from(p),
        Some(p) => base.join(p),
        None => base.join(".husky").join("husky.db"),
    }
}

/// Connection settings from `storage.sqlite`.
#[derive(Debug, Clone, Copy)]
pub struct Pragmas {
    /// `PRAGMA busy_timeout`.
    pub busy_timeout: Duration,
    /// `PRAGMA wal_autocheckpoint` (pages; 0 turns it off).
    pub wal_autocheckpoint: u32,
}

impl Pragmas {
    /// The settings of a storage section.
    pub fn of(storage: &StorageConfig) -> Pragmas {
        Pragmas {
            busy_timeout: Duration::from_millis(
                u64::try_from(storage.busy_timeout.whole_milliseconds()).unwrap_or(5_000),
            ),
            wal_autocheckpoint: storage.wal_autocheckpoint,
        }
    }
}

impl Default for Pragmas {
    fn default() -> Self {
        Pragmas { busy_timeout: Duration::from_secs(5), wal_autocheckpoint: 1000 }
    }
}

/// Opens the read-write connection (creating the file and its directory), sets WAL,
/// `synchronous=NORMAL`, foreign keys, incremental auto-vacuum and the pragmas, and migrates.
pub fn open_writer(path: &Path, pragmas: Pragmas) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(StoreError::Io)?;
    }
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(pragmas.busy_timeout)?;
    // Refuse a newer database before anything (even the journal mode) touches it.
    let version = migrate::version(&conn)?;
    if version > migrate::latest() {
        return Err(StoreError::TooNew { found: version, supported: migrate::latest() });
    }
    // auto_vacuum only takes effect on an empty database (before the first table).
    if version == 0 {
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    }
    conn.pragma_update(None, "journal_mode", "WAL")?;
    configure(&conn, pragmas)?;
    migrate::migrate(&mut conn)?;
    Ok(conn)
}

/// An in-memory database with the full schema (tests and `--dry-run` previews).
pub fn open_memory() -> Result<Connection, StoreError> {
    let mut conn = Connection::open_in_memory()?;
    configure(&conn, Pragmas::default())?;
    migrate::migrate(&mut conn)?;
    Ok(conn)
}

fn configure(conn: &Connection, pragmas: Pragmas) -> Result<(), StoreError> {
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "wal_autocheckpoint", pragmas.wal_autocheckpoint)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Opens a read-only connection. The database must exist and be at a schema this husky knows.
pub fn open_reader(path: &Path, pragmas: Pragmas) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(pragmas.busy_timeout)?;
    let v = migrate::version(&conn)?;
    if v > migrate::latest() {
        return Err(StoreError::TooNew { found: v, supported: migrate::latest() });
    }
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

const TS_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// The stored form of an instant: UTC, millisecond precision, sortable as text
/// (`2026-11-23T12:00:00.000Z`).
pub fn ts(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    at.format(TS_FORMAT).unwrap_or_else(|_| String::from("0000-01-01T00:00:00.000Z"))
}

/// Parses a stored timestamp.
pub fn parse_ts(text: &str) -> Option<OffsetDateTime> {
    time::PrimitiveDateTime::parse(text, TS_FORMAT).ok().map(time::PrimitiveDateTime::assume_utc)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn timestamps_are_utc_milliseconds_and_sort_as_text() {
        let a = datetime!(2026-03-08 01:59:59.999 -05:00);
        assert_eq!(ts(a), "2026-03-08T06:59:59.999Z");
        assert_eq!(parse_ts(&ts(a)), Some(a));
        let mut texts = [
            datetime!(2027-01-01 00:00 UTC),
            datetime!(2026-12-31 23:59:59.5 UTC),
            datetime!(2026-12-31 23:59:59.05 UTC),
        ]
        .map(ts);
        texts.sort();
        assert_eq!(
            texts,
            ["2026-12-31T23:59:59.050Z", "2026-12-31T23:59:59.500Z", "2027-01-01T00:00:00.000Z"]
        );
    }

    #[test]
    fn database_path_is_beside_husky_yaml_unless_configured() {
        let mut s = crate::config::DaemonConfig::default().storage;
        let yaml = Path::new("/srv/app/husky.yaml");
        assert_eq!(database_path(yaml, &s), Path::new("/srv/app/.husky/husky.db"));
        s.sqlite_path = Some("state/h.db".into());
        assert_eq!(database_path(yaml, &s), Path::new("/srv/app/state/h.db"));
        s.sqlite_path = Some("/var/lib/husky/h.db".into());
        assert_eq!(database_path(yaml, &s), Path::new("/var/lib/husky/h.db"));
        s.sqlite_path = None;
        assert_eq!(database_path(Path::new("husky.yaml"), &s), Path::new(".husky/husky.db"));
    }

    #[test]
    fn the_writer_connection_is_wal_with_foreign_keys_and_incremental_vacuum() {
        let dir = std::env::temp_dir().join(format!("husky-store-open-{}", std::process::id()));
        let path = dir.join("nested").join("husky.db");
        let conn = open_writer(&path, Pragmas::default()).expect("open");
        let get = |p: &str| -> String {
            conn.query_row(&format!("PRAGMA {p}"), [], |r| r.get::<_, rusqlite::types::Value>(0))
                .map(|v| match v {
                    rusqlite::types::Value::Integer(i) => i.to_string(),
                    rusqlite::types::Value::Text(t) => t,
                    other => format!("{other:?}"),
                })
                .expect("pragma")
        };
        assert_eq!(get("journal_mode"), "wal");
        assert_eq!(get("foreign_keys"), "1");
        assert_eq!(get("synchronous"), "1"); // NORMAL
        assert_eq!(get("auto_vacuum"), "2"); // INCREMENTAL
        assert_eq!(get("busy_timeout"), "5000");
        assert_eq!(get("wal_autocheckpoint"), "1000");
        let reader = open_reader(&path, Pragmas::default()).expect("reader");
        let err = reader.execute("DELETE FROM job_runs", []).expect_err("read-only");
        assert!(err.to_string().contains("readonly"), "{err}");
        drop((conn, reader));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
