//! The `dbm.sqlite3` frontend: Python 3.13's schema and SQL (python-formats spec §5) behind
//! pydbm's [`Dbm`] trait, and [`FORMAT`], its entry in the CLI's format table.
//!
//! Every statement runs in SQLite's autocommit mode (Python opens with `autocommit=True`),
//! so each `insert`/`remove` is its own committed transaction.
//!
//! ```
//! use pydbm_engine::{Dbm, OpenOptions};
//! use pydbm_sqlite::{connect, dbm::SqliteDbm, ConnectOptions, Value};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("sq");
//! let mut db = SqliteDbm::open(&path, &OpenOptions::from_flag("c")?)?;
//! db.insert(b"k", b"v")?;
//! db.insert(b"n", b"\0")?;
//! assert_eq!(db.keys()?, vec![b"k".to_vec(), b"n".to_vec()]);
//! db.close()?;
//!
//! // The file is what CPython 3.13's dbm.sqlite3 writes: its table, in WAL mode, BLOB keys.
//! let con = connect(&path, &ConnectOptions::default())?;
//! let schema = con.execute("SELECT sql FROM sqlite_master WHERE name = 'Dict'", ())?.fetchall()?;
//! assert_eq!(
//!     schema[0].repr(),
//!     "('CREATE TABLE Dict (\\n    key BLOB UNIQUE NOT NULL,\\n    value BLOB NOT NULL\\n  )',)"
//! );
//! let mode = con.execute("PRAGMA journal_mode", ())?.fetchone()?.expect("one row");
//! assert_eq!(mode.repr(), "('wal',)");
//! let kinds = con.execute("SELECT typeof(key) FROM Dict", ())?.fetchall()?;
//! assert!(kinds.iter().all(|row| row.repr() == "('blob',)"));
//! assert_eq!(pydbm_formats::whichdb::whichdb(&pydbm_engine::OsVfs::new(), &path)?, Some("dbm.sqlite3"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pydbm_engine::{
    CursorPosition, Dbm, Durability, Error, Format, OpenMode, OpenOptions, Problem, Result, Vfs,
    VfsOpen,
};

use crate::open::{open_like_python, DEFAULT_CACHED_STATEMENTS};
use crate::uri::dbm_uri;
use crate::vfs::EngineVfs;

/// Name prefix of the SQLite VFSes [`SqliteDbm::open_in`] registers over engine file layers.
pub const ENGINE_VFS_PREFIX: &str = "pydbm-dbm";

/// `BUILD_TABLE` of CPython 3.13's `Lib/dbm/sqlite3.py`, byte for byte (its whitespace ends
/// up in `sqlite_master.sql`).
pub const BUILD_TABLE: &str =
    "\n  CREATE TABLE IF NOT EXISTS Dict (\n    key BLOB UNIQUE NOT NULL,\n    value BLOB NOT NULL\n  )\n";
/// `GET_SIZE`.
pub const GET_SIZE: &str = "SELECT COUNT (key) FROM Dict";
/// `LOOKUP_KEY`.
pub const LOOKUP_KEY: &str = "SELECT value FROM Dict WHERE key = CAST(? AS BLOB)";
/// `STORE_KV`.
pub const STORE_KV: &str =
    "REPLACE INTO Dict (key, value) VALUES (CAST(? AS BLOB), CAST(? AS BLOB))";
/// `DELETE_KEY`.
pub const DELETE_KEY: &str = "DELETE FROM Dict WHERE key = CAST(? AS BLOB)";
/// `ITER_KEYS`.
pub const ITER_KEYS: &str = "SELECT key FROM Dict";

/// The cursor's first batch ([`Dbm::next_keys`]): keys in the `Dict` key index's (BLOB)
/// order, as `keys()` lists them.
pub const CURSOR_FIRST: &str = "SELECT key FROM Dict ORDER BY key LIMIT ?";
/// The cursor's next batch: the keys after the last one handed out.
pub const CURSOR_NEXT: &str =
    "SELECT key FROM Dict WHERE key > CAST(? AS BLOB) ORDER BY key LIMIT ?";
/// Keys per cursor batch.
pub const CURSOR_BATCH: i64 = 256;

/// The 16 bytes every SQLite database starts with (what `whichdb` tests, spec §6).
pub const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// An open `dbm.sqlite3` database.
///
/// Reads and writes go straight to SQLite with Python's SQL; keys and values are stored
/// as BLOBs; `keys()` returns them in the BLOB (memcmp) order of the `Dict` key index.
pub struct SqliteDbm {
    conn: Option<rusqlite::Connection>,
    /// The SQLite VFS `conn` runs on when it is not the OS's (see [`SqliteDbm::open_in`]);
    /// released after `conn` closes (field order, and [`Dbm::close`]).
    engine: Option<Arc<EngineVfs>>,
    /// Released after `conn` closes (field order): see [`crate::anchor`].
    anchor: Option<crate::anchor::FcntlAnchor>,
    /// Released before `conn` closes, descriptors closed after: see [`crate::ofd_presence`].
    presence: Option<crate::ofd_presence::OfdPresence>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteDbm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDbm")
            .field("path", &self.path)
            .field("open", &self.conn.is_some())
            .finish()
    }
}

/// Creates `path` with permission bits `mode` (before the umask) unless it exists, without
/// ever opening an existing file: closing a descriptor on a database that another handle in
/// this process has open would drop that handle's POSIX locks (sqlite3 spec §3.3).
fn touch_new(path: &Path, mode: u32) -> Result<()> {
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Creates `path` on `vfs` with permission bits `mode` unless it exists (an existing file
/// is not opened, as [`touch_new`] does on the OS).
fn touch_new_in(vfs: &dyn Vfs, path: &Path, mode: u32) -> Result<()> {
    if !vfs.exists(path)? {
        vfs.open(
            path,
            VfsOpen {
                mode,
                ..VfsOpen::CREATE
            },
        )?;
    }
    Ok(())
}

/// The SQLite `mode=` URI parameter for `opts.mode`, after preparing the file as
/// `dbm.sqlite3.open` does on `vfs` (`None`: the OS file system through `std::fs`):
/// `Read` → `ro`, `Write` → `rw`, `Create` → creates the file (`opts.file_mode`) then `rwc`,
/// `New` → removes the file first.
fn prepare_file(vfs: Option<&dyn Vfs>, path: &Path, opts: &OpenOptions) -> Result<&'static str> {
    let touch = |path: &Path| match vfs {
        Some(v) => touch_new_in(v, path, opts.file_mode),
        None => touch_new(path, opts.file_mode),
    };
    Ok(match opts.mode {
        OpenMode::Read | OpenMode::Write => {
            // Through the OS, SQLite's own "unable to open database file" is mapped to
            // NotFound by `to_engine` (which looks at the OS file system); another file
            // layer is asked here, before SQLite opens anything.
            if let Some(v) = vfs {
                if !v.exists(path)? {
                    return Err(Error::io(
                        path,
                        io::Error::new(io::ErrorKind::NotFound, "unable to open database file"),
                    ));
                }
            }
            if opts.mode == OpenMode::Read {
                "ro"
            } else {
                "rw"
            }
        }
        OpenMode::Create => {
            touch(path)?;
            "rwc"
        }
        OpenMode::New => {
            let removed = match vfs {
                Some(v) => v.remove(path),
                None => fs::remove_file(path).map_err(|e| Error::io(path, e)),
            };
            match removed {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
            touch(path)?;
            "rwc"
        }
    })
}

/// Opens the SQLite connection of a `dbm.sqlite3` handle on `path` (already prepared by
/// [`prepare_file`]; `mode` is its URI mode) through the SQLite VFS named `vfs_name`
/// (`None`: SQLite's default unix VFS): Python's URI and connection defaults, `PRAGMA
/// journal_mode = wal`, `synchronous` from `opts.durability`, `secure_delete`, and for
/// `rwc` the `Dict` table.
fn connect_dbm(
    path: &Path,
    mode: &str,
    opts: &OpenOptions,
    vfs_name: Option<&str>,
) -> Result<rusqlite::Connection> {
    let uri = dbm_uri(path, mode).map_err(|e| Error::io(path, e))?;
    let timeout = opts
        .lock_timeout
        .unwrap_or(pydbm_engine::SQLITE_DEFAULT_LOCK_TIMEOUT);
    let conn = open_like_python(&uri, true, timeout, DEFAULT_CACHED_STATEMENTS, vfs_name)
        .map_err(|e| e.to_engine(path))?;
    // spec §5: "This is an optimization only; it's ok if it fails" — only
    // OperationalError is suppressed; "file is not a database" (DatabaseError) escapes.
    if let Err(e) = conn.query_row("PRAGMA journal_mode = wal", [], |_| Ok(())) {
        let e = crate::error::Error::from(e);
        if e.kind != crate::error::ErrorKind::OperationalError {
            return Err(e.to_engine(path));
        }
    }
    let sync = match opts.durability {
        Durability::Full => "FULL",
        Durability::Process => "NORMAL",
        Durability::None => "OFF",
    };
    // The reference (Debian's libsqlite3, what CPython uses here) is built with
    // SQLITE_SECURE_DELETE (sqlite3 spec §0): freed cells are zeroed. Matching it makes
    // pydbm's pages byte-identical to Python's for the same operations.
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {sync}; PRAGMA secure_delete = 1"
    ))
    .map_err(|e| crate::error::Error::from(e).to_engine(path))?;
    if mode == "rwc" {
        conn.execute(BUILD_TABLE, [])
            .map_err(|e| crate::error::Error::from(e).to_engine(path))?;
    }
    // A read makes SQLite open the WAL and `-shm` (before the OS path's presence locks are
    // taken). Best effort: an error here is reported by the first real operation, as before.
    let _ = conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()));
    Ok(conn)
}

impl SqliteDbm {
    /// Opens `path` as `dbm.sqlite3.open(path, flag, mode)` does: `Read` → URI `mode=ro`,
    /// `Write` → `rw`, `Create` → creates the file (`opts.file_mode`) then `rwc`, `New` →
    /// removes the file first. Then `PRAGMA journal_mode = wal` (its `OperationalError`s
    /// ignored, as Python does) and, for `Create`/`New`, `BUILD_TABLE`.
    ///
    /// `opts.durability` sets `PRAGMA synchronous`: `Full` → `FULL` (Python's default),
    /// `Process` → `NORMAL` (WAL commits survive a killed process, not a power loss),
    /// `None` → `OFF`. `opts.lock_timeout` is SQLite's busy timeout (`None`: CPython's default,
    /// [`pydbm_engine::SQLITE_DEFAULT_LOCK_TIMEOUT`], 5 s; `Some(ZERO)`: fail at once).
    ///
    /// The file is opened through SQLite's own unix VFS, exactly as CPython's `sqlite3`
    /// opens it (see [`SqliteFormat::open_in`] for why); [`SqliteDbm::open_in`] opens over
    /// any engine file layer.
    ///
    /// Errors: a missing file with `Read`/`Write` → I/O `NotFound`; a file that is not an
    /// SQLite database → [`Error::Corrupt`]; a held lock → [`Error::Locked`].
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<SqliteDbm> {
        let mode = prepare_file(None, path, opts)?;
        let conn = connect_dbm(path, mode, opts, None)?;
        Ok(SqliteDbm {
            conn: Some(conn),
            engine: None,
            anchor: crate::anchor::FcntlAnchor::take(path),
            presence: Some(crate::ofd_presence::OfdPresence::take(path)),
            path: path.to_path_buf(),
        })
    }

    /// Opens `path` with every file of the database (the database, `-wal`, `-shm`,
    /// `-journal`, temporary files) read and written through `vfs`: the same schema, SQL,
    /// pragmas, lock timeout and errors as [`SqliteDbm::open`].
    ///
    /// The operating system's file layer ([`Vfs::is_os`]) is [`SqliteDbm::open`]. Any
    /// other goes through an [`EngineVfs`] over `vfs` (one registration per `Arc`, shared
    /// by every handle opened over it and kept alive by them): SQLite's locks go through
    /// the engine's [`pydbm_engine::LockTable`], so two handles on one file exclude each
    /// other like two processes, and the WAL's wal-index lives in this process's memory.
    /// A relative `path` is resolved against the current directory, as SQLite resolves it.
    ///
    /// ```
    /// use std::path::Path;
    /// use std::sync::Arc;
    /// use pydbm_engine::{Dbm, MemVfs, OpenOptions, Vfs};
    /// use pydbm_sqlite::SqliteDbm;
    ///
    /// let disk: Arc<dyn Vfs> = Arc::new(MemVfs::new());
    /// let path = Path::new("/mem/db.sqlite3");
    /// let mut db = SqliteDbm::open_in(disk.clone(), path, &OpenOptions::from_flag("c")?)?;
    /// db.insert(b"k", b"v")?;
    /// db.close()?;
    /// // The database file is on the memory disk, and nowhere else.
    /// assert!(disk.exists(path)? && !path.exists());
    /// let mut db = SqliteDbm::open_in(disk, path, &OpenOptions::from_flag("r")?)?;
    /// assert_eq!(db.get(b"k")?, Some(b"v".to_vec()));
    /// # Ok::<(), pydbm_engine::Error>(())
    /// ```
    pub fn open_in(vfs: Arc<dyn Vfs>, path: &Path, opts: &OpenOptions) -> Result<SqliteDbm> {
        if vfs.is_os() {
            return SqliteDbm::open(path, opts);
        }
        let abs = crate::uri::absolute(path).map_err(|e| Error::io(path, e))?;
        let mode = prepare_file(Some(vfs.as_ref()), &abs, opts)?;
        let engine =
            EngineVfs::shared_over(ENGINE_VFS_PREFIX, &vfs).map_err(|e| e.to_engine(path))?;
        let conn = connect_dbm(&abs, mode, opts, Some(engine.name()))?;
        Ok(SqliteDbm {
            conn: Some(conn),
            engine: Some(engine),
            anchor: None,
            presence: None,
            path: path.to_path_buf(),
        })
    }

    /// The presence locks (tests release them for a control run).
    #[cfg(test)]
    pub(crate) fn presence_mut(&mut self) -> &mut crate::ofd_presence::OfdPresence {
        self.presence
            .as_mut()
            .expect("invariant: presence is Some until close")
    }

    /// The lines of `PRAGMA integrity_check` (`["ok"]` for a sound database).
    pub(crate) fn integrity_check(&self) -> Result<Vec<String>> {
        let mut st = self
            .conn()?
            .prepare("PRAGMA integrity_check")
            .map_err(|e| self.wrap(e))?;
        let lines = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.wrap(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.wrap(e));
        lines
    }

    fn conn(&self) -> Result<&rusqlite::Connection> {
        self.conn.as_ref().ok_or_else(|| Error::Closed {
            path: self.path.clone(),
        })
    }

    fn wrap(&self, e: rusqlite::Error) -> Error {
        crate::error::Error::from(e).to_engine(&self.path)
    }

    fn execute_batch(&self, sql: &str) -> Result<()> {
        self.conn()?.execute_batch(sql).map_err(|e| self.wrap(e))
    }
}

/// A key column value as bytes (reads always return bytes, spec §5).
fn key_bytes(v: rusqlite::types::ValueRef<'_>) -> Vec<u8> {
    match v {
        rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => t.to_vec(),
        rusqlite::types::ValueRef::Integer(i) => i.to_string().into_bytes(),
        rusqlite::types::ValueRef::Real(f) => f.to_string().into_bytes(),
        rusqlite::types::ValueRef::Null => Vec::new(),
    }
}

impl Dbm for SqliteDbm {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let conn = self.conn()?;
        let mut st = conn.prepare_cached(LOOKUP_KEY).map_err(|e| self.wrap(e))?;
        let mut rows = st.query([key]).map_err(|e| self.wrap(e))?;
        match rows.next().map_err(|e| self.wrap(e))? {
            Some(row) => {
                let v = row.get_ref(0).map_err(|e| self.wrap(e))?;
                // Reads always return bytes (spec §5); the column holds BLOBs.
                Ok(Some(match v {
                    rusqlite::types::ValueRef::Null => Vec::new(),
                    rusqlite::types::ValueRef::Integer(i) => i.to_string().into_bytes(),
                    rusqlite::types::ValueRef::Real(f) => f.to_string().into_bytes(),
                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                        t.to_vec()
                    }
                }))
            }
            None => Ok(None),
        }
    }

    fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let conn = self.conn()?;
        let mut st = conn.prepare_cached(STORE_KV).map_err(|e| self.wrap(e))?;
        st.execute((key, value)).map_err(|e| self.wrap(e))?;
        Ok(())
    }

    fn remove(&mut self, key: &[u8]) -> Result<bool> {
        let conn = self.conn()?;
        let mut st = conn.prepare_cached(DELETE_KEY).map_err(|e| self.wrap(e))?;
        // Python's __delitem__ checks rowcount to raise KeyError.
        Ok(st.execute([key]).map_err(|e| self.wrap(e))? > 0)
    }

    fn keys(&mut self) -> Result<Vec<Vec<u8>>> {
        let conn = self.conn()?;
        let mut st = conn.prepare_cached(ITER_KEYS).map_err(|e| self.wrap(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(match r.get_ref(0)? {
                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                        t.to_vec()
                    }
                    rusqlite::types::ValueRef::Integer(i) => i.to_string().into_bytes(),
                    rusqlite::types::ValueRef::Real(f) => f.to_string().into_bytes(),
                    rusqlite::types::ValueRef::Null => Vec::new(),
                })
            })
            .map_err(|e| self.wrap(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.wrap(e))
    }

    fn len(&mut self) -> Result<usize> {
        let conn = self.conn()?;
        let n: i64 = conn
            .query_row(GET_SIZE, [], |r| r.get(0))
            .map_err(|e| self.wrap(e))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Every operation is already committed (autocommit mode); `dbm.sqlite3` has no `sync`.
    /// Only checks that the handle is open.
    fn sync(&mut self) -> Result<()> {
        self.conn().map(|_| ())
    }

    fn close(&mut self) -> Result<()> {
        if let Some(p) = self.presence.as_mut() {
            p.release();
        }
        if let Some(conn) = self.conn.take() {
            // A read-write close checkpoints the WAL and removes -wal/-shm (spec §5).
            conn.close().map_err(|(_, e)| self.wrap(e))?;
        }
        // The presence's descriptors close while the anchor still parks them.
        self.presence = None;
        self.anchor = None;
        // No file of the connection is open through the engine VFS any more.
        self.engine = None;
        Ok(())
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn module(&self) -> &'static str {
        "dbm.sqlite3"
    }

    /// `BEGIN IMMEDIATE` on a writable handle (the write lock is taken now, so the commit
    /// cannot fail on a lock upgrade), `BEGIN` on a read-only one. Statements then run
    /// inside it instead of autocommitting.
    fn begin_transaction(&mut self) -> Result<()> {
        let read_only = self
            .conn()?
            .is_readonly(rusqlite::MAIN_DB)
            .map_err(|e| self.wrap(e))?;
        self.execute_batch(if read_only {
            "BEGIN"
        } else {
            "BEGIN IMMEDIATE"
        })
    }

    fn commit_transaction(&mut self) -> Result<()> {
        self.execute_batch("COMMIT")
    }

    /// `ROLLBACK`, unless SQLite already ended the transaction (it rolls back by itself on
    /// some errors, e.g. a full disk).
    fn rollback_transaction(&mut self) -> Result<()> {
        if self.conn()?.is_autocommit() {
            return Ok(());
        }
        self.execute_batch("ROLLBACK")
    }

    /// Up to [`CURSOR_BATCH`] keys per batch, after the last key handed out, in the key
    /// index's BLOB order.
    fn next_keys(&mut self, pos: &mut CursorPosition, out: &mut Vec<Vec<u8>>) -> Result<()> {
        let conn = self.conn()?;
        let collect = |rows: rusqlite::Rows<'_>| -> rusqlite::Result<Vec<Vec<u8>>> {
            rows.mapped(|r| Ok(key_bytes(r.get_ref(0)?))).collect()
        };
        let keys = if pos.started {
            let mut st = conn.prepare_cached(CURSOR_NEXT).map_err(|e| self.wrap(e))?;
            let rows = st
                .query((pos.last_key.as_slice(), CURSOR_BATCH))
                .map_err(|e| self.wrap(e))?;
            collect(rows)
        } else {
            let mut st = conn
                .prepare_cached(CURSOR_FIRST)
                .map_err(|e| self.wrap(e))?;
            let rows = st.query([CURSOR_BATCH]).map_err(|e| self.wrap(e))?;
            collect(rows)
        }
        .map_err(|e| self.wrap(e))?;
        if let Some(last) = keys.last() {
            pos.last_key.clone_from(last);
        }
        out.extend(keys);
        Ok(())
    }
}

impl Drop for SqliteDbm {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// The `dbm.sqlite3` format: open, check (`PRAGMA integrity_check` plus the `Dict` schema),
/// stats (from the 100-byte header and pragmas).
#[derive(Debug, Clone, Copy, Default)]
pub struct SqliteFormat;

/// The one [`SqliteFormat`] value, for the CLI's format registry.
pub static FORMAT: SqliteFormat = SqliteFormat;

/// Fields of the 100-byte SQLite database header that `stats` reports (SQLite file format
/// §1.3). Pure data: [`DbHeader::parse`] does no I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbHeader {
    /// Page size in bytes (the stored 1 means 65536).
    pub page_size: u32,
    /// File format write version (1 legacy, 2 WAL).
    pub write_version: u8,
    /// File format read version (1 legacy, 2 WAL).
    pub read_version: u8,
    /// File change counter.
    pub change_counter: u32,
    /// Database size in pages.
    pub page_count: u32,
    /// Number of freelist pages.
    pub freelist_pages: u32,
    /// Text encoding: 1 UTF-8, 2 UTF-16le, 3 UTF-16be.
    pub text_encoding: u32,
    /// `PRAGMA user_version`.
    pub user_version: u32,
    /// `PRAGMA application_id`.
    pub application_id: u32,
    /// `SQLITE_VERSION_NUMBER` of the library that last wrote the file.
    pub sqlite_version_number: u32,
}

impl DbHeader {
    /// Parses the first 100 bytes of a database file. Fails with [`Error::Corrupt`] (naming
    /// `path` and the offset) when the magic or the page size is wrong or the file is short.
    pub fn parse(path: &Path, b: &[u8]) -> Result<DbHeader> {
        if b.len() < 100 {
            return Err(Error::corrupt(
                path,
                b.len() as u64,
                "a 100-byte SQLite header",
            ));
        }
        if &b[..16] != SQLITE_MAGIC {
            return Err(Error::corrupt(path, 0, "the magic \"SQLite format 3\\0\""));
        }
        let be32 = |o: usize| u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let raw_ps = u16::from_be_bytes([b[16], b[17]]) as u32;
        let page_size = if raw_ps == 1 { 65536 } else { raw_ps };
        if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
            return Err(Error::corrupt(
                path,
                16,
                "a page size that is a power of two between 512 and 65536",
            ));
        }
        Ok(DbHeader {
            page_size,
            write_version: b[18],
            read_version: b[19],
            change_counter: be32(24),
            page_count: be32(28),
            freelist_pages: be32(36),
            text_encoding: be32(56),
            user_version: be32(60),
            application_id: be32(68),
            sqlite_version_number: be32(96),
        })
    }
}

/// Opens `path` for inspection (check, stats). A read-only (`mode=ro`) open of a WAL
/// database creates `-wal`/`-shm` and leaves them behind (spec §5), so a writable file is
/// opened `mode=rw` (only read through; the close removes them); others `mode=ro`.
///
/// A missing file is an I/O `NotFound` (by `stat`, which opens no descriptor).
fn open_ro(path: &Path) -> Result<rusqlite::Connection> {
    let writable = !fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .permissions()
        .readonly();
    let uri = dbm_uri(path, if writable { "rw" } else { "ro" }).map_err(|e| Error::io(path, e))?;
    open_like_python(&uri, true, Duration::ZERO, DEFAULT_CACHED_STATEMENTS, None)
        .map_err(|e| e.to_engine(path))
}

impl Format for SqliteFormat {
    fn module(&self) -> &'static str {
        "dbm.sqlite3"
    }

    /// [`SqliteDbm::open_in`]: over the operating system's file system
    /// ([`pydbm_engine::Vfs::is_os`]) through SQLite's own unix VFS, over any other file
    /// layer ([`pydbm_engine::MemVfs`], [`pydbm_engine::FaultVfs`], …) through an
    /// [`EngineVfs`] on it, with the same schema, SQL, pragmas, lock timeout and errors.
    ///
    /// Why the OS path stays on the unix VFS: its POSIX locks *and its `-shm` wal-index*
    /// are what CPython's `sqlite3` (in another process, or loaded into this one) and the
    /// `sqlite3` tool share with pydbm, so both sides read and write one WAL database at
    /// the same time. The engine VFS keeps the wal-index in this process's memory and,
    /// while it exists, holds the `-shm` DMS byte exclusively ([`crate::vfs`]): a foreign
    /// SQLite could neither open a database pydbm holds nor be opened beside. Measured with
    /// CPython 3.13 (docs/sqlite.md): while pydbm holds a handle, `dbm.sqlite3.open(p, 'r')`
    /// reads in 0.1 s on the unix VFS and fails after 20 s with "locking protocol" through
    /// the engine VFS. The files are the same either way.
    fn open_in(
        &self,
        vfs: std::sync::Arc<dyn pydbm_engine::Vfs>,
        path: &Path,
        opts: &OpenOptions,
    ) -> Result<Box<dyn Dbm>> {
        Ok(Box::new(SqliteDbm::open_in(vfs, path, opts)?))
    }

    /// `PRAGMA integrity_check` (each line a [`Problem`]; "Page N" lines get that page's
    /// offset), then the `Dict` table's presence and columns.
    fn check(&self, path: &Path) -> Result<Vec<Problem>> {
        let conn = open_ro(path)?;
        let mut head = [0u8; 100];
        let n = read_prefix(&conn, path, &mut head)?;
        let header = DbHeader::parse(path, &head[..n])?;
        let wrap = |e: rusqlite::Error| crate::error::Error::from(e).to_engine(path);
        let mut problems = Vec::new();
        let mut st = conn.prepare("PRAGMA integrity_check").map_err(wrap)?;
        let lines = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(wrap)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(wrap)?;
        for line in lines {
            if line == "ok" {
                continue;
            }
            problems.push(Problem {
                file: path.to_path_buf(),
                offset: page_offset(&line, header.page_size),
                message: line,
            });
        }
        let sql: Option<String> = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type='table' AND name='Dict'",
                [],
                |r| r.get(0),
            )
            .ok();
        match sql {
            None => problems.push(Problem {
                file: path.to_path_buf(),
                offset: None,
                message: "no table Dict: expected dbm.sqlite3's Dict(key BLOB UNIQUE NOT NULL, value BLOB NOT NULL)".into(),
            }),
            Some(_) => {
                let mut st = conn.prepare("PRAGMA table_info(Dict)").map_err(wrap)?;
                let cols = st
                    .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
                    .map_err(wrap)?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(wrap)?;
                let want = [("key".to_string(), "BLOB".to_string()), ("value".into(), "BLOB".into())];
                if cols != want {
                    problems.push(Problem {
                        file: path.to_path_buf(),
                        offset: None,
                        message: format!("table Dict has columns {cols:?}, expected key BLOB, value BLOB"),
                    });
                }
            }
        }
        Ok(problems)
    }

    fn stats(&self, path: &Path) -> Result<Vec<(String, String)>> {
        let conn = open_ro(path)?;
        let mut head = [0u8; 100];
        let n = read_prefix(&conn, path, &mut head)?;
        let h = DbHeader::parse(path, &head[..n])?;
        let wrap = |e: rusqlite::Error| crate::error::Error::from(e).to_engine(path);
        let records: i64 = conn.query_row(GET_SIZE, [], |r| r.get(0)).map_err(wrap)?;
        let journal: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(wrap)?;
        let file_size = fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
        let v = h.sqlite_version_number;
        let enc = match h.text_encoding {
            1 => "UTF-8",
            2 => "UTF-16le",
            3 => "UTF-16be",
            _ => "unknown",
        };
        Ok(vec![
            ("format".into(), "dbm.sqlite3".into()),
            (
                "variant".into(),
                format!(
                    "SQLite 3 file format, {} (read/write versions {}/{}), {enc}",
                    if h.write_version == 2 {
                        "WAL"
                    } else {
                        "rollback journal"
                    },
                    h.read_version,
                    h.write_version
                ),
            ),
            (
                "written by".into(),
                format!("SQLite {}.{}.{}", v / 1_000_000, v / 1000 % 1000, v % 1000),
            ),
            ("journal mode".into(), journal),
            ("records".into(), records.to_string()),
            ("file size".into(), file_size.to_string()),
            ("page size".into(), h.page_size.to_string()),
            ("pages".into(), h.page_count.to_string()),
            (
                "free space".into(),
                format!(
                    "{} bytes ({} freelist pages)",
                    h.freelist_pages as u64 * h.page_size as u64,
                    h.freelist_pages
                ),
            ),
            ("change counter".into(), h.change_counter.to_string()),
        ])
    }

    /// Crash-tests over `FaultVfs`, power loss at every write and sync, in two halves:
    /// `ops / 2` (rounded up) SQLite transactions in rollback-journal mode ([`crate::crash`],
    /// SQLite over the engine VFS), then the other half as `dbm.sqlite3` operations and
    /// transactions on a handle opened through [`Format::open_in`] ([`crate::dbm_crash`]:
    /// WAL mode, as every `dbm.sqlite3` open leaves a database).
    fn crashtest(
        &self,
        ops: u64,
        seed: u64,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<pydbm_engine::CrashReport> {
        let half = ops.div_ceil(2);
        let mut total =
            crate::crash::crashtest_mode(half, seed, crate::crash::JournalMode::Delete, progress)?;
        if ops > half {
            let r = crate::dbm_crash::crashtest(ops - half, seed, Durability::Full, progress)?;
            total.crash_points += r.crash_points;
            total.violations += r.violations;
            for d in r.details {
                if total.details.len() < pydbm_engine::crash::MAX_DETAILS {
                    total.details.push(format!("dbm.sqlite3: {d}"));
                }
            }
        }
        Ok(total)
    }

    /// SQLite rolls back a hot journal (or replays a WAL) itself when a read-write
    /// connection first reads the database; this opens one, reads the schema, and closes.
    fn recover(&self, path: &Path) -> Result<Vec<String>> {
        let journal = PathBuf::from(format!("{}-journal", path.display()));
        let wal = PathBuf::from(format!("{}-wal", path.display()));
        let had_journal = journal.exists();
        let had_wal = wal.exists();
        let uri = dbm_uri(path, "rw").map_err(|e| Error::io(path, e))?;
        let conn =
            open_like_python(&uri, true, Duration::ZERO, 1, None).map_err(|e| e.to_engine(path))?;
        let wrap = |e: rusqlite::Error| crate::error::Error::from(e).to_engine(path);
        let _: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(wrap)?;
        conn.close().map_err(|(_, e)| wrap(e))?;
        let mut lines = Vec::new();
        if had_journal && !journal.exists() {
            lines.push(format!("rolled back hot journal {}", journal.display()));
        }
        if had_wal && !wal.exists() {
            lines.push(format!(
                "checkpointed committed WAL frames of {} into the database",
                wal.display()
            ));
        }
        if lines.is_empty() {
            lines.push("nothing to recover".into());
        }
        Ok(lines)
    }
}

/// Reads up to `buf.len()` bytes from the start of the main database file of `conn`
/// (at `path`); returns how many.
///
/// The bytes come through the descriptor SQLite already holds (`SQLITE_FCNTL_FILE_POINTER`,
/// then the file's own `xFileSize`/`xRead`), never through a second descriptor: closing any
/// descriptor of a file drops every POSIX lock this process holds on it, including those
/// of another connection (sqlite3 spec §3.3).
///
/// Errors: SQLite reports no file handle or a failed read → [`Error::Io`] naming `path`.
fn read_prefix(conn: &rusqlite::Connection, path: &Path, buf: &mut [u8]) -> Result<usize> {
    use rusqlite::ffi;
    let fail = |what: String| Error::io(path, io::Error::other(what));
    let mut fp: *mut ffi::sqlite3_file = std::ptr::null_mut();
    // SAFETY: the handle is open for the lifetime of `conn`; FILE_POINTER writes one
    // `sqlite3_file*` (owned by SQLite, valid while the connection is open) into `fp`.
    let rc = unsafe {
        ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_FILE_POINTER,
            (&mut fp as *mut *mut ffi::sqlite3_file).cast(),
        )
    };
    // SAFETY: fp is null or points at SQLite's open file; pMethods is null when unopened.
    let methods = (rc == ffi::SQLITE_OK && !fp.is_null())
        .then(|| unsafe { (*fp).pMethods })
        .filter(|m| !m.is_null())
        // SAFETY: non-null pMethods of an open sqlite3_file points at a static io_methods.
        .map(|m| unsafe { &*m })
        .ok_or_else(|| {
            fail(format!(
                "SQLite has no open file for the database (rc {rc})"
            ))
        })?;
    let (Some(file_size), Some(read)) = (methods.xFileSize, methods.xRead) else {
        return Err(fail("the SQLite file has no xFileSize/xRead".into()));
    };
    let mut size: ffi::sqlite3_int64 = 0;
    // SAFETY: fp is the open file these methods belong to; size is a valid out-pointer.
    let rc = unsafe { file_size(fp, &mut size) };
    if rc != ffi::SQLITE_OK {
        return Err(fail(format!("xFileSize failed (rc {rc})")));
    }
    let n = usize::try_from(size.max(0))
        .unwrap_or(usize::MAX)
        .min(buf.len());
    if n == 0 {
        return Ok(0);
    }
    let len = std::ffi::c_int::try_from(n).map_err(|_| fail("header buffer too large".into()))?;
    // SAFETY: buf has at least n bytes; fp is open; offset 0 + n ≤ the file's size.
    let rc = unsafe { read(fp, buf.as_mut_ptr().cast(), len, 0) };
    if rc != ffi::SQLITE_OK {
        return Err(fail(format!("xRead of the header failed (rc {rc})")));
    }
    Ok(n)
}

/// Opens arbitrary `data` as a `dbm.sqlite3` file: writes it to a fresh temporary file,
/// opens it read-only, reads every key and value, counts, runs [`Format::check`] and
/// [`Format::stats`], then removes the file (and any `-wal`/`-shm` SQLite left). Returns
/// the number of records read. What the `sqlite_dbm_open` fuzz target calls: bad input
/// must give an `Err`, never a panic or a hang.
#[cfg(any(test, feature = "fuzzing"))]
pub fn open_bytes(data: &[u8]) -> Result<usize> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "pydbm-fuzz-{}-{}.sqlite3",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    fs::write(&path, data).map_err(|e| Error::io(&path, e))?;
    let result = (|| {
        let mut db = SqliteDbm::open(&path, &OpenOptions::default())?;
        let mut n = 0;
        for k in db.keys()? {
            db.get(&k)?;
            n += 1;
        }
        db.len()?;
        db.close()?;
        FORMAT.check(&path)?;
        FORMAT.stats(&path)?;
        Ok(n)
    })();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = fs::remove_file(format!("{}{suffix}", path.display()));
    }
    result
}

/// The byte offset of page N named in an integrity_check line such as
/// `"*** in database main ***\nPage 3: ..."` or `"Page 3 is never used"`.
fn page_offset(line: &str, page_size: u32) -> Option<u64> {
    let at = line.find("Page ")?;
    let digits: String = line[at + 5..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let page: u64 = digits.parse().ok()?;
    page.checked_sub(1).map(|p| p * page_size as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(flag: &str) -> OpenOptions {
        OpenOptions::from_flag(flag).unwrap()
    }

    fn on(vfs: &Arc<dyn Vfs>, path: &str, o: &OpenOptions) -> Result<Box<dyn Dbm>> {
        SqliteFormat.open_in(vfs.clone(), Path::new(path), o)
    }

    /// Through `Format::open_in` over a `MemVfs`: open, insert, get, remove, iterate, a
    /// committed and a dropped transaction, close, reopen; Python's flag semantics and
    /// errors as on the OS; the database is a plain SQLite file on the memory disk (stock
    /// SQLite reads a copy of its bytes) and nothing reaches the OS file system.
    #[test]
    fn a_memory_disk_holds_a_dbm_sqlite3_database() {
        let mem = pydbm_engine::MemVfs::new();
        let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
        let p = "/mem/a.sqlite3";
        // 'r' and 'w' on a missing file: NotFound, nothing created.
        for flag in ["r", "w"] {
            let Err(e) = on(&vfs, p, &opts(flag)) else {
                panic!("{flag}: a missing file opened");
            };
            assert!(e.is_not_found(), "{flag}: {e}");
            assert!(e.to_string().contains(p), "{e}");
        }
        assert!(!vfs.exists(Path::new(p)).unwrap());
        let mut db = on(&vfs, p, &opts("c")).unwrap();
        assert_eq!(db.module(), "dbm.sqlite3");
        for (k, v) in [
            (&b"b"[..], &b"2"[..]),
            (b"a", b"1"),
            (b"\x00\xff", b""),
            (b"c", b"3"),
        ] {
            db.insert(k, v).unwrap();
        }
        db.insert(b"a", b"one").unwrap();
        assert_eq!(db.get(b"a").unwrap(), Some(b"one".to_vec()));
        assert_eq!(db.get(b"zz").unwrap(), None);
        assert!(db.remove(b"c").unwrap());
        assert!(!db.remove(b"c").unwrap());
        let all: Vec<(Vec<u8>, Vec<u8>)> = db.iter().collect::<Result<_>>().unwrap();
        assert_eq!(
            all,
            vec![
                (b"\x00\xff".to_vec(), Vec::new()),
                (b"a".to_vec(), b"one".to_vec()),
                (b"b".to_vec(), b"2".to_vec()),
            ]
        );
        let mut txn = db.transaction().unwrap();
        txn.insert(b"t1", b"x").unwrap();
        assert!(txn.remove(b"b").unwrap());
        assert_eq!(txn.get(b"t1").unwrap(), Some(b"x".to_vec()));
        drop(txn); // rolled back
        assert_eq!(db.get(b"t1").unwrap(), None);
        assert_eq!(db.get(b"b").unwrap(), Some(b"2".to_vec()));
        let mut txn = db.transaction().unwrap();
        txn.insert(b"t1", b"x").unwrap();
        txn.insert(b"t2", b"y").unwrap();
        assert!(txn.remove(b"b").unwrap());
        txn.commit().unwrap();
        assert_eq!(db.len().unwrap(), 4);
        db.close().unwrap();
        assert!(matches!(db.get(b"a"), Err(Error::Closed { .. })));
        // A read-write close checkpointed the WAL and removed -wal/-shm, as on the OS.
        assert!(!vfs.exists(Path::new("/mem/a.sqlite3-wal")).unwrap());
        assert!(!vfs.exists(Path::new("/mem/a.sqlite3-shm")).unwrap());
        assert!(!Path::new(p).exists());

        let mut ro = on(&vfs, p, &opts("r")).unwrap();
        assert_eq!(
            ro.keys().unwrap(),
            vec![
                b"\x00\xff".to_vec(),
                b"a".to_vec(),
                b"t1".to_vec(),
                b"t2".to_vec()
            ]
        );
        assert!(matches!(ro.insert(b"k", b"v"), Err(Error::ReadOnly { .. })));
        ro.close().unwrap();

        // The bytes on the memory disk are an SQLite database in WAL mode with Python's
        // table: stock SQLite (the unix VFS) reads a copy of them.
        let bytes = mem
            .read_file(Path::new(p))
            .expect("the database is on the disk");
        assert_eq!(&bytes[..16], SQLITE_MAGIC);
        assert_eq!((bytes[18], bytes[19]), (2, 2), "WAL read/write versions");
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("copy.sqlite3");
        fs::write(&copy, &bytes).unwrap();
        let plain = rusqlite::Connection::open(&copy).unwrap();
        let sql: String = plain
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'Dict'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            format!("\n  {sql}\n"),
            BUILD_TABLE.replace("IF NOT EXISTS ", "")
        );
        let n: i64 = plain.query_row(GET_SIZE, [], |r| r.get(0)).unwrap();
        assert_eq!(n, 4);
        drop(plain);

        // 'n' empties; a file that is not a database is Corrupt with 'w' and replaced by 'n'.
        let mut n = on(&vfs, p, &opts("n")).unwrap();
        assert_eq!(n.len().unwrap(), 0);
        n.close().unwrap();
        let g = vfs
            .open(Path::new("/mem/garbage"), pydbm_engine::VfsOpen::CREATE)
            .unwrap();
        g.write_at(&[b'x'; 4096], 0).unwrap();
        drop(g);
        assert!(matches!(
            on(&vfs, "/mem/garbage", &opts("w")).err(),
            Some(Error::Corrupt { .. })
        ));
        let mut n = on(&vfs, "/mem/garbage", &opts("n")).unwrap();
        n.insert(b"x", b"y").unwrap();
        n.close().unwrap();
        assert_eq!(
            on(&vfs, "/mem/garbage", &opts("r"))
                .unwrap()
                .get(b"x")
                .unwrap(),
            Some(b"y".to_vec())
        );
    }

    /// Two handles over one memory disk lock each other through the engine's lock table
    /// like two processes: while one holds a write transaction, the other still reads the
    /// last commit (WAL), and its write waits the lock timeout, then fails with `Locked`.
    /// Handles over one `Arc` share one SQLite VFS registration, released with the last.
    #[test]
    fn handles_on_a_memory_disk_lock_like_processes() {
        let vfs: Arc<dyn Vfs> = Arc::new(pydbm_engine::MemVfs::new());
        let path = Path::new("/mem/l.sqlite3");
        let mut a = SqliteDbm::open_in(vfs.clone(), path, &opts("c")).unwrap();
        a.insert(b"k", b"old").unwrap();
        let wait = OpenOptions {
            lock_timeout: Some(Duration::from_millis(300)),
            ..opts("w")
        };
        let mut b = SqliteDbm::open_in(vfs.clone(), path, &wait).unwrap();
        let (ea, eb) = (a.engine.clone().unwrap(), b.engine.clone().unwrap());
        assert!(Arc::ptr_eq(&ea, &eb), "one registration per Arc");
        let other: Arc<dyn Vfs> = Arc::new(pydbm_engine::MemVfs::new());
        let c = SqliteDbm::open_in(other, path, &opts("c")).unwrap();
        assert!(!Arc::ptr_eq(&ea, c.engine.as_ref().unwrap()));
        drop(c);

        a.begin_transaction().unwrap();
        a.insert(b"k", b"new").unwrap();
        assert_eq!(b.get(b"k").unwrap(), Some(b"old".to_vec()));
        let t0 = std::time::Instant::now();
        let e = b.insert(b"k", b"b's").unwrap_err();
        assert!(
            matches!(&e, Error::Locked { path: p } if p == path),
            "{e:?}"
        );
        assert!(
            t0.elapsed() >= Duration::from_millis(250),
            "{:?}",
            t0.elapsed()
        );
        a.commit_transaction().unwrap();
        b.insert(b"k", b"b's").unwrap();
        assert_eq!(a.get(b"k").unwrap(), Some(b"b's".to_vec()));

        let name = std::ffi::CString::new(ea.name()).unwrap();
        drop((ea, eb));
        a.close().unwrap();
        // SAFETY: sqlite3_vfs_find only reads the registered list.
        let found = || unsafe { rusqlite::ffi::sqlite3_vfs_find(name.as_ptr()) };
        assert!(!found().is_null(), "b still holds the registration");
        b.close().unwrap();
        assert!(found().is_null(), "the last close unregisters the VFS");
    }

    /// Replays every seed of fuzz/corpus/sqlite_dbm_open through the fuzz target's function.
    #[test]
    fn fuzz_seeds_replay() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/sqlite_dbm_open");
        let mut seen = 0;
        for entry in fs::read_dir(&dir).unwrap() {
            let data = fs::read(entry.unwrap().path()).unwrap();
            let _ = open_bytes(&data);
            seen += 1;
        }
        assert!(seen >= 3, "seeds missing in {}", dir.display());
        // The corpus file opens with its 7 records.
        let basic = fs::read(dir.join("basic.sqlite3")).unwrap();
        assert_eq!(open_bytes(&basic).unwrap(), 7);
        assert!(open_bytes(b"SQLite format 3\0garbage").is_err());
    }

    #[test]
    fn page_offsets_from_integrity_lines() {
        assert_eq!(page_offset("Page 3 is never used", 4096), Some(8192));
        assert_eq!(page_offset("row 1 missing from index", 4096), None);
    }

    #[test]
    fn header_rejects_garbage() {
        let p = Path::new("x");
        assert!(matches!(
            DbHeader::parse(p, b"short"),
            Err(Error::Corrupt { offset: 5, .. })
        ));
        let mut b = [0u8; 100];
        b[..16].copy_from_slice(SQLITE_MAGIC);
        b[16] = 0x03;
        assert!(matches!(
            DbHeader::parse(p, &b),
            Err(Error::Corrupt { offset: 16, .. })
        ));
    }

    #[test]
    fn python_semantics_of_flags_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("db");
        // 'r' and 'w' on a missing file: "unable to open database file", as NotFound.
        assert!(SqliteDbm::open(&p, &opts("r")).unwrap_err().is_not_found());
        assert!(SqliteDbm::open(&p, &opts("w")).unwrap_err().is_not_found());
        assert!(!p.exists());
        let mut db = SqliteDbm::open(&p, &opts("c")).unwrap();
        db.insert(b"k", b"v").unwrap();
        db.insert(b"k", b"w").unwrap();
        assert_eq!(db.get(b"k").unwrap(), Some(b"w".to_vec()));
        assert!(db.remove(b"k").unwrap());
        assert!(!db.remove(b"k").unwrap());
        db.insert(b"", b"").unwrap();
        assert_eq!(db.get(b"").unwrap(), Some(Vec::new()));
        db.close().unwrap();
        db.close().unwrap();
        assert!(matches!(db.get(b"k"), Err(Error::Closed { .. })));
        assert!(matches!(db.len(), Err(Error::Closed { .. })));
        // 'r' refuses writes with SQLite's "attempt to write a readonly database".
        let mut ro = SqliteDbm::open(&p, &opts("r")).unwrap();
        assert!(matches!(ro.insert(b"a", b"b"), Err(Error::ReadOnly { .. })));
        assert_eq!(ro.len().unwrap(), 1);
        ro.close().unwrap();
        // 'n' empties it.
        let mut n = SqliteDbm::open(&p, &opts("n")).unwrap();
        assert_eq!(n.len().unwrap(), 0);
        n.close().unwrap();
        // A non-SQLite file with 'w' is "file is not a database" → Corrupt.
        let g = dir.path().join("garbage");
        fs::write(&g, vec![b'x'; 4096]).unwrap();
        assert!(matches!(
            SqliteDbm::open(&g, &opts("w")),
            Err(Error::Corrupt { .. })
        ));
        // 'n' over garbage works (test_corrupt_force_new).
        let mut n = SqliteDbm::open(&g, &opts("n")).unwrap();
        n.insert(b"x", b"y").unwrap();
        n.close().unwrap();
        assert!(FORMAT.check(&g).unwrap().is_empty());
        // check and stats leave no -wal/-shm behind.
        FORMAT.stats(&g).unwrap();
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("garbage"))
            .collect();
        assert_eq!(left, vec!["garbage".to_string()]);
    }

    #[test]
    fn keys_in_blob_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("db");
        let mut db = SqliteDbm::open(&p, &opts("c")).unwrap();
        for k in [&b"b"[..], b"\x00\xff", b"a", b"ab", b"1"] {
            db.insert(k, b"v").unwrap();
        }
        assert_eq!(
            db.keys().unwrap(),
            vec![
                b"\x00\xff".to_vec(),
                b"1".to_vec(),
                b"a".to_vec(),
                b"ab".to_vec(),
                b"b".to_vec()
            ]
        );
        assert_eq!(db.len().unwrap(), 5);
    }

    /// A killed writer's hot rollback journal: a read-only open refuses it as every format's
    /// readers do (`HotJournal`, naming `db-journal`), and a writable open rolls it back.
    #[test]
    fn read_only_open_refuses_a_hot_rollback_journal() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("live");
        let conn = rusqlite::Connection::open(&live).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = DELETE; {BUILD_TABLE}; INSERT INTO Dict VALUES (x'6b', x'76');"
        ))
        .unwrap();
        // A one-page cache makes the transaction spill pages into the database file, so
        // SQLite first syncs the journal with its header: the journal is hot, as a killed
        // writer leaves it.
        conn.execute_batch("PRAGMA cache_size = 1; BEGIN").unwrap();
        for i in 0..200u32 {
            conn.execute(
                "INSERT INTO Dict VALUES (?, ?)",
                (i.to_be_bytes().as_slice(), [b'v'; 500].as_slice()),
            )
            .unwrap();
        }
        let copy = dir.path().join("db");
        fs::copy(&live, &copy).unwrap();
        fs::copy(
            dir.path().join("live-journal"),
            dir.path().join("db-journal"),
        )
        .unwrap();
        drop(conn);
        // The open's own probe read is best effort; the first real read reports it.
        let err = SqliteDbm::open(&copy, &opts("r"))
            .and_then(|mut r| r.keys())
            .unwrap_err();
        match &err {
            Error::HotJournal { path } => assert_eq!(path, &dir.path().join("db-journal")),
            other => panic!("want HotJournal, got {other:?}"),
        }
        let mut w = SqliteDbm::open(&copy, &opts("w")).unwrap();
        assert_eq!(w.keys().unwrap(), vec![b"k".to_vec()]);
        w.close().unwrap();
        assert!(!dir.path().join("db-journal").exists());
    }
}
