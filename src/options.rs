//! [`Options`]: the Rust way to open a database — a builder with typed settings and one
//! `open_*` per format, or [`Options::open`] choosing the format from the file.
//!
//! Python's flag strings (`"c"`, `"nf"`) and its "a new database is `dbm.sqlite3`" rule
//! belong to the Python-shaped [`crate::open`] only; here the caller names the format, or
//! the file's contents or extension do (see [`Options::open`]).

use std::path::Path;
use std::time::Duration;

use pydbm_engine::{Dbm, Durability, Error, Format, OpenMode, OpenOptions, OsVfs, Result};
use pydbm_formats::dumb::DumbDb;
use pydbm_formats::gnu::{GnuDb, GnuOptions};
use pydbm_sqlite::SqliteDbm;

/// A dbm file format pydbm opens, for [`Options::format`] and [`Options::open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DbFormat {
    /// `dbm.gnu`: a gdbm 1.23 file.
    Gnu,
    /// `dbm.ndbm`: a Berkeley DB hash file `NAME.db` (the path is `NAME`).
    Ndbm,
    /// `dbm.dumb`: `NAME.dat` + `NAME.dir` (+ `NAME.bak`) (the path is `NAME`).
    Dumb,
    /// `dbm.sqlite3`: an SQLite database with CPython 3.13's `Dict` table.
    Sqlite3,
}

impl DbFormat {
    /// The Python module name: `"dbm.gnu"`, `"dbm.ndbm"`, `"dbm.dumb"`, `"dbm.sqlite3"`.
    pub fn module(self) -> &'static str {
        match self {
            DbFormat::Gnu => "dbm.gnu",
            DbFormat::Ndbm => "dbm.ndbm",
            DbFormat::Dumb => "dbm.dumb",
            DbFormat::Sqlite3 => "dbm.sqlite3",
        }
    }

    /// The format of Python module `module` (the `dbm.` prefix is optional).
    pub fn from_module(module: &str) -> Option<DbFormat> {
        match module.strip_prefix("dbm.").unwrap_or(module) {
            "gnu" => Some(DbFormat::Gnu),
            "ndbm" => Some(DbFormat::Ndbm),
            "dumb" => Some(DbFormat::Dumb),
            "sqlite3" => Some(DbFormat::Sqlite3),
            _ => None,
        }
    }

    /// The format a new database's file name asks for: `.gdbm`/`.gnu` → gnu, `.ndbm` →
    /// ndbm, `.dumb` → dumb, `.sqlite`/`.sqlite3` → sqlite3 (ASCII case ignored); `None`
    /// for anything else.
    ///
    /// ```
    /// use pydbm::DbFormat;
    /// use std::path::Path;
    /// assert_eq!(DbFormat::from_extension(Path::new("a.SQLite3")), Some(DbFormat::Sqlite3));
    /// assert_eq!(DbFormat::from_extension(Path::new("cache.gdbm")), Some(DbFormat::Gnu));
    /// assert_eq!(DbFormat::from_extension(Path::new("data.db")), None); // ambiguous
    /// ```
    pub fn from_extension(path: &Path) -> Option<DbFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "gdbm" | "gnu" => Some(DbFormat::Gnu),
            "ndbm" => Some(DbFormat::Ndbm),
            "dumb" => Some(DbFormat::Dumb),
            "sqlite" | "sqlite3" => Some(DbFormat::Sqlite3),
            _ => None,
        }
    }
}

/// How to open a database: a builder over [`OpenOptions`] with typed settings.
///
/// Defaults: read-only ([`OpenMode::Read`]), [`Durability::Process`], the format's own lock
/// wait (none for gnu/ndbm/dumb, 5 s for `dbm.sqlite3`), creation mode `0o666` before the
/// umask, locking on.
///
/// ```
/// use pydbm::{Dbm, Durability, Options};
/// let dir = tempfile::tempdir()?;
/// let mut db = Options::new()
///     .create()
///     .durability(Durability::Full)
///     .gnu_block_size(4096)
///     .open_gnu(dir.path().join("prices.gdbm"))?;
/// db.insert(b"apples", b"3")?;
/// assert_eq!(db.get(b"apples")?, Some(b"3".to_vec()));
/// db.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    open: OpenOptions,
    gnu: GnuOptions,
    format: Option<DbFormat>,
}

impl Default for Options {
    fn default() -> Self {
        Options::new()
    }
}

impl Options {
    /// Read-only, [`Durability::Process`], everything else the format's default.
    pub fn new() -> Options {
        Options {
            open: OpenOptions::default(),
            gnu: GnuOptions::default(),
            format: None,
        }
    }

    /// Sets the mode directly (the methods below set it by name).
    pub fn mode(mut self, mode: OpenMode) -> Options {
        self.open.mode = mode;
        self
    }
    /// Open an existing database for reading only (the default; Python's `'r'`).
    pub fn read_only(self) -> Options {
        self.mode(OpenMode::Read)
    }
    /// Open an existing database for reading and writing (Python's `'w'`).
    pub fn write(self) -> Options {
        self.mode(OpenMode::Write)
    }
    /// Open for reading and writing, creating the database if missing (Python's `'c'`).
    pub fn create(self) -> Options {
        self.mode(OpenMode::Create)
    }
    /// Always start a new, empty database, replacing an existing one (Python's `'n'`).
    pub fn truncate(self) -> Options {
        self.mode(OpenMode::New)
    }
    /// Crash-safety level of each commit (see [`Durability`]).
    pub fn durability(mut self, durability: Durability) -> Options {
        self.open.durability = durability;
        self
    }
    /// How long to wait for a lock another handle holds before [`Error::Locked`];
    /// `Duration::ZERO` fails at once.
    pub fn lock_timeout(mut self, wait: Duration) -> Options {
        self.open.lock_timeout = Some(wait);
        self
    }
    /// Whether to take the file lock (default true; `false` is gdbm's `'u'`: only for a
    /// file no other process writes).
    pub fn lock(mut self, lock: bool) -> Options {
        self.open.no_lock = !lock;
        self
    }
    /// Permission bits of created files, before the umask (default `0o666`).
    pub fn file_mode(mut self, mode: u32) -> Options {
        self.open.file_mode = mode;
        self
    }
    /// The format [`Options::open`] uses, whatever the file looks like.
    pub fn format(mut self, format: DbFormat) -> Options {
        self.format = Some(format);
        self
    }
    /// gdbm: block size of a new file in bytes (512 to 2^30; 0, the default, is the file
    /// system's block size, as Python's `dbm.gnu` gets).
    pub fn gnu_block_size(mut self, bytes: u32) -> Options {
        self.gnu.block_size = i32::try_from(bytes).unwrap_or(i32::MAX);
        self
    }
    /// gdbm: the page cache of the handle in bytes (0 = the default, 64 MiB).
    pub fn gnu_cache_bytes(mut self, bytes: usize) -> Options {
        self.gnu.cache_bytes = bytes;
        self
    }
    /// gdbm: create new files in the extended (numsync) format.
    pub fn gnu_numsync(mut self, numsync: bool) -> Options {
        self.gnu.numsync = numsync;
        self
    }
    /// gdbm: fsync after every update as libgdbm's `GDBM_SYNC` (Python's `'s'`).
    pub fn gnu_sync_writes(mut self, sync: bool) -> Options {
        self.open.sync = sync;
        self
    }
    /// The engine-level options these settings make (what `Format::open` takes).
    pub fn open_options(&self) -> &OpenOptions {
        &self.open
    }

    /// Opens `path` as a `dbm.gnu` (gdbm) file.
    ///
    /// ```
    /// use pydbm::{Dbm, Options};
    /// let dir = tempfile::tempdir()?;
    /// let mut db = Options::new().create().open_gnu(dir.path().join("g.gdbm"))?;
    /// db.insert(b"k", b"v")?;
    /// assert_eq!(db.firstkey()?, Some(b"k".to_vec()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_gnu(&self, path: impl AsRef<Path>) -> Result<GnuDb> {
        let path = path.as_ref();
        pydbm_formats::gnu::open_with(
            pydbm_formats::gnu::os_vfs(&self.open),
            path,
            &self.open,
            self.gnu,
        )
    }

    /// Opens `NAME` as a `dbm.ndbm` database (the file `NAME.db`; older layouts pydbm reads,
    /// such as a `NAME.pag`/`NAME.dir` pair, open too, without transactions).
    ///
    /// ```
    /// use pydbm::{Dbm, Options};
    /// let dir = tempfile::tempdir()?;
    /// let mut db = Options::new().create().open_ndbm(dir.path().join("n"))?;
    /// db.insert(b"k", b"v")?;
    /// assert!(dir.path().join("n.db").exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_ndbm(&self, path: impl AsRef<Path>) -> Result<Box<dyn Dbm>> {
        self.reject_gnu_only(path.as_ref(), DbFormat::Ndbm)?;
        pydbm_formats::ndbm::FORMAT.open(path.as_ref(), &self.open)
    }

    /// Opens `NAME` as a `dbm.dumb` database (`NAME.dat`, `NAME.dir`, `NAME.bak`).
    ///
    /// ```
    /// use pydbm::{Dbm, Options};
    /// let dir = tempfile::tempdir()?;
    /// let mut db = Options::new().create().open_dumb(dir.path().join("d"))?;
    /// db.insert(b"k", b"v")?;
    /// db.close()?;
    /// assert!(dir.path().join("d.dat").exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_dumb(&self, path: impl AsRef<Path>) -> Result<DumbDb> {
        self.reject_gnu_only(path.as_ref(), DbFormat::Dumb)?;
        DumbDb::open(path.as_ref(), &self.open)
    }

    /// Opens `path` as a `dbm.sqlite3` database.
    ///
    /// ```
    /// use pydbm::{Dbm, Options};
    /// let dir = tempfile::tempdir()?;
    /// let mut db = Options::new().create().open_sqlite3(dir.path().join("s.sqlite3"))?;
    /// db.insert(b"k", b"v")?;
    /// assert_eq!(db.len()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_sqlite3(&self, path: impl AsRef<Path>) -> Result<SqliteDbm> {
        self.reject_gnu_only(path.as_ref(), DbFormat::Sqlite3)?;
        SqliteDbm::open(path.as_ref(), &self.open)
    }

    /// Opens `path` in the format chosen, in this order:
    /// 1. the format set with [`Options::format`];
    /// 2. for an existing database (unless the mode is [`Options::truncate`]), its contents,
    ///    as `whichdb` reads them (so `NAME` finds `NAME.db` and `NAME.dat`/`NAME.dir`);
    /// 3. the file name's extension ([`DbFormat::from_extension`]).
    ///
    /// Otherwise it fails with [`Error::BadArgument`] — never a silent default. (Python's
    /// `dbm.open`, whose new databases are `dbm.sqlite3`, is [`crate::open`].)
    ///
    /// ```
    /// use pydbm::{Dbm, Options};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("cache.gdbm");
    /// let mut db = Options::new().create().open(&path)?; // new: from the extension
    /// assert_eq!(db.module(), "dbm.gnu");
    /// db.close()?;
    /// std::fs::rename(&path, dir.path().join("renamed"))?;
    /// let db = Options::new().open(dir.path().join("renamed"))?; // existing: from its bytes
    /// assert_eq!(db.module(), "dbm.gnu");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(&self, path: impl AsRef<Path>) -> Result<Box<dyn Dbm>> {
        let path = path.as_ref();
        let format = self.choose_format(path)?;
        Ok(match format {
            DbFormat::Gnu => Box::new(self.open_gnu(path)?),
            DbFormat::Ndbm => self.open_ndbm(path)?,
            DbFormat::Dumb => Box::new(self.open_dumb(path)?),
            DbFormat::Sqlite3 => Box::new(self.open_sqlite3(path)?),
        })
    }

    /// The format [`Options::open`] would use for `path` (see its precedence).
    ///
    /// ```
    /// use pydbm::{DbFormat, Options};
    /// let dir = tempfile::tempdir()?;
    /// let new = dir.path().join("fresh.sqlite3");
    /// assert_eq!(Options::new().choose_format(&new)?, DbFormat::Sqlite3);
    /// let named = Options::new().format(DbFormat::Dumb);
    /// assert_eq!(named.choose_format(&new)?, DbFormat::Dumb);
    /// assert!(Options::new().choose_format(&dir.path().join("plain")).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn choose_format(&self, path: &Path) -> Result<DbFormat> {
        if let Some(f) = self.format {
            return Ok(f);
        }
        if self.open.mode != OpenMode::New {
            match pydbm_formats::whichdb::whichdb(&OsVfs::new(), path)? {
                Some("") => {
                    return Err(Error::unsupported(
                        path,
                        "the file is not a database format pydbm knows",
                    ))
                }
                Some(module) => {
                    return DbFormat::from_module(module)
                        .ok_or_else(|| Error::unsupported(path, format!("{module} databases")))
                }
                None => {}
            }
        }
        DbFormat::from_extension(path).ok_or_else(|| {
            Error::BadArgument(format!(
                "{}: no database there and no format named: set Options::format, call \
                 open_gnu/open_ndbm/open_dumb/open_sqlite3, or end the name in .gdbm, .ndbm, \
                 .dumb or .sqlite3",
                path.display()
            ))
        })
    }

    /// gdbm's `'s'` modifier is refused by the other formats' Python modules; the other
    /// gnu settings are ignored by them (they only shape new gdbm files).
    fn reject_gnu_only(&self, path: &Path, format: DbFormat) -> Result<()> {
        if self.open.sync {
            return Err(Error::BadArgument(format!(
                "{}: gnu_sync_writes is a dbm.gnu setting, not one of {}",
                path.display(),
                format.module()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn key(i: u32) -> Vec<u8> {
        format!("key-{i:06}").into_bytes()
    }

    fn value(i: u32, round: u32) -> Vec<u8> {
        // Some values span several pages, so transactions touch many pages.
        let len = if i.is_multiple_of(97) {
            9000
        } else {
            40 + (i % 50) as usize
        };
        vec![(i.wrapping_mul(31).wrapping_add(round) % 251) as u8; len]
    }

    fn contents(db: &mut Box<dyn Dbm>) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let via_cursor: BTreeMap<_, _> = db.iter().map(|kv| kv.expect("cursor item")).collect();
        let mut keys = db.keys().expect("keys");
        keys.sort();
        assert_eq!(
            via_cursor.keys().cloned().collect::<Vec<_>>(),
            keys,
            "{}: the cursor and keys() disagree",
            db.module()
        );
        let cursor_keys: Vec<Vec<u8>> = db.keys_iter().map(|k| k.expect("key")).collect();
        assert_eq!(cursor_keys.len(), keys.len(), "{}: keys_iter", db.module());
        via_cursor
    }

    /// On every format, through `Options::open` and `Box<dyn Dbm>`: a dropped transaction
    /// leaves nothing (including after enough writes to spill gdbm's small cache), a
    /// committed one everything (also after a reopen), a failed operation rolls back and
    /// poisons the guard, and the cursors list exactly the records.
    #[test]
    fn transactions_and_cursors_on_every_format() {
        for (name, format) in [
            ("g.gdbm", DbFormat::Gnu),
            ("n", DbFormat::Ndbm),
            ("d", DbFormat::Dumb),
            ("s.sqlite3", DbFormat::Sqlite3),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join(name);
            let opts = Options::new()
                .create()
                .format(format)
                .gnu_cache_bytes(64 << 10);
            let mut db = opts.open(&path).expect("create");
            assert_eq!(db.module(), format.module());
            db.insert(b"base", b"1").expect("insert");
            let mut model = BTreeMap::from([(b"base".to_vec(), b"1".to_vec())]);
            {
                let mut txn = db.transaction().expect("begin");
                for i in 0..1500 {
                    txn.insert(&key(i), &value(i, 0)).expect("insert in txn");
                }
                assert!(txn.remove(b"base").expect("remove in txn"));
                assert_eq!(txn.get(&key(7)).expect("get"), Some(value(7, 0)));
                assert!(!txn.contains(b"base").expect("contains"));
                // dropped: rolled back
            }
            assert_eq!(
                contents(&mut db),
                model,
                "{name}: after the dropped transaction"
            );
            db.insert(b"after", b"rollback")
                .expect("the handle still writes");
            model.insert(b"after".to_vec(), b"rollback".to_vec());
            let mut txn = db.transaction().expect("begin");
            for i in 0..1500 {
                txn.insert(&key(i), &value(i, 1)).expect("insert in txn");
                model.insert(key(i), value(i, 1));
            }
            for i in (0..1500).step_by(3) {
                assert!(txn.remove(&key(i)).expect("remove"));
                model.remove(&key(i));
            }
            txn.commit().expect("commit");
            assert_eq!(contents(&mut db), model, "{name}: after the commit");
            let mut txn = db.transaction().expect("begin");
            txn.insert(b"x", b"y").expect("insert");
            txn.rollback().expect("rollback");
            db.close().expect("close");
            let mut db = Options::new().write().open(&path).expect("reopen");
            assert_eq!(db.module(), format.module());
            assert_eq!(contents(&mut db), model, "{name}: after a reopen");
            db.close().expect("close");
            // A read-only handle: reads in a transaction work, a write fails and poisons it.
            let mut ro = Options::new().open(&path).expect("read-only");
            let mut txn = ro.transaction().expect("begin read-only");
            assert_eq!(txn.get(b"after").expect("get"), Some(b"rollback".to_vec()));
            let err = txn.insert(b"k", b"v").expect_err("read-only");
            assert!(matches!(err, Error::ReadOnly { .. }), "{name}: {err}");
            assert!(
                txn.get(b"after").is_err(),
                "{name}: a poisoned guard refuses reads"
            );
            assert!(txn.commit().is_err(), "{name}");
            assert_eq!(ro.get(b"after").expect("get"), Some(b"rollback".to_vec()));
        }
    }

    #[test]
    fn format_choice_follows_the_documented_precedence() {
        let dir = tempfile::tempdir().expect("tempdir");
        let new = dir.path().join("plain");
        let err = Options::new().create().open(&new).err().expect("no format");
        assert!(matches!(err, Error::BadArgument(_)), "{err}");
        assert!(!new.exists(), "nothing created");
        for (name, want) in [
            ("a.gdbm", DbFormat::Gnu),
            ("b.sqlite3", DbFormat::Sqlite3),
            ("c.dumb", DbFormat::Dumb),
            ("d.ndbm", DbFormat::Ndbm),
        ] {
            let p = dir.path().join(name);
            let mut db = Options::new().create().open(&p).expect("create");
            assert_eq!(db.module(), want.module(), "{name}");
            db.close().expect("close");
            // Contents beat the extension: a gdbm file named .sqlite3 opens as gdbm.
        }
        let g = dir.path().join("a.gdbm");
        let disguised = dir.path().join("z.sqlite3");
        std::fs::copy(&g, &disguised).expect("copy");
        let db = Options::new().open(&disguised).expect("open");
        assert_eq!(db.module(), "dbm.gnu");
        drop(db);
        // An explicit format beats both.
        let err = Options::new()
            .format(DbFormat::Sqlite3)
            .open(&g)
            .err()
            .expect("not sqlite");
        assert!(!err.to_string().is_empty());
        // gdbm-only settings are refused by the others.
        let err = Options::new()
            .create()
            .gnu_sync_writes(true)
            .open_dumb(dir.path().join("e"))
            .expect_err("refused");
        assert!(matches!(err, Error::BadArgument(_)), "{err}");
    }
}
