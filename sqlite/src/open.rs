//! Opening an SQLite handle the way CPython's `sqlite3.connect` does, over the bundled
//! build (spec §0 and §2: the bundled build differs from Debian's in its defaults).

use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::OpenFlags;

use crate::error::Result;

/// Python's default statement cache size (`cached_statements=128`).
pub const DEFAULT_CACHED_STATEMENTS: usize = 128;

/// Opens `name` with Python's open flags (`READWRITE | CREATE`, plus `URI` only when `uri`)
/// through the SQLite VFS named `vfs` (the default one when `None`), then applies Python's
/// connection defaults: busy timeout `timeout`, foreign keys off (the bundled build turns
/// them on, Debian's CPython leaves them off: spec §0), a statement cache of `cached`.
pub(crate) fn open_like_python(
    name: &str,
    uri: bool,
    timeout: Duration,
    cached: usize,
    vfs: Option<&str>,
) -> Result<rusqlite::Connection> {
    // spec §2: rusqlite's default flags add URI and NO_MUTEX; Python passes neither.
    // NO_MUTEX is taken here anyway: pydbm's Connection serializes every use of the handle
    // behind its own mutex (and sqlite3_interrupt is safe from any thread), so SQLite's
    // per-call mutex would only cost time. Nothing observable changes.
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if uri {
        flags |= OpenFlags::SQLITE_OPEN_URI;
    }
    let opened = match vfs {
        Some(v) => rusqlite::Connection::open_with_flags_and_vfs(name, flags, v),
        None => rusqlite::Connection::open_with_flags(name, flags),
    };
    let conn = opened.map_err(|e| {
        let mut e = crate::error::Error::from(e);
        // rusqlite appends ": <path>" to open failures; Python shows SQLite's text alone.
        if let Some(stripped) = e.message.strip_suffix(&format!(": {name}")) {
            e.message = stripped.to_string();
        }
        e
    })?;
    conn.busy_timeout(timeout)?;
    // spec §0: SQLITE_DEFAULT_FOREIGN_KEYS=1 in the bundled build; Python sees 0.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_FKEY, false)?;
    conn.set_prepared_statement_cache_capacity(cached);
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_python() {
        let c = open_like_python(
            ":memory:",
            false,
            Duration::from_secs(5),
            DEFAULT_CACHED_STATEMENTS,
            None,
        )
        .unwrap();
        let fk: i64 = c
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 0);
        let bt: i64 = c
            .query_row("PRAGMA busy_timeout", [], |r| r.get(0))
            .unwrap();
        assert_eq!(bt, 5000);
    }
}
