//! `trait Dbm`: the mapping every dbm format implements, and the options to open one.

use std::path::Path;

use crate::{Error, Result};

/// How a database is opened: Python's `dbm.open` flag letters.
///
/// `'r'` read-only (file must exist), `'w'` read-write (file must exist),
/// `'c'` read-write, created if missing, `'n'` always a new empty database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpenMode {
    /// `'r'`: open an existing database for reading only.
    Read,
    /// `'w'`: open an existing database for reading and writing.
    Write,
    /// `'c'`: open for reading and writing, creating the database if it does not exist.
    Create,
    /// `'n'`: always create a new, empty database, truncating any existing one.
    New,
}

impl OpenMode {
    /// True for every mode but [`OpenMode::Read`].
    pub fn writable(self) -> bool {
        !matches!(self, OpenMode::Read)
    }
}

/// Durability of a committed operation. See docs/architecture.md, docs/journal.md and the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Durability {
    /// No journal; changes are written back at `sync`/`close` (or when the cache is full).
    /// Fastest; a crash may lose or tear anything since the last sync.
    None,
    /// The default: every completed operation survives a killed process and no operation
    /// is ever half-applied. Nothing is fsynced, so a power loss may lose recent operations.
    #[default]
    Process,
    /// Every commit is on stable storage and atomic under power loss (journal and file fsynced).
    Full,
}

/// The lock wait `dbm.sqlite3` uses when [`OpenOptions::lock_timeout`] is `None`: CPython's
/// `sqlite3.connect` default `timeout=5.0`, which `dbm.sqlite3.open` does not change.
pub const SQLITE_DEFAULT_LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Options shared by every format's `open`: the Python flag string plus pydbm's own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOptions {
    /// `'r' 'w' 'c' 'n'`.
    pub mode: OpenMode,
    /// gdbm's `'f'` (fast: no-op in gdbm 1.23, kept for compatibility).
    pub fast: bool,
    /// gdbm's `'s'` (synchronized: fsync as libgdbm does).
    pub sync: bool,
    /// gdbm's `'u'`: take no lock.
    pub no_lock: bool,
    /// Unix permission bits for created files, before the umask (Python's default `0o666`).
    pub file_mode: u32,
    /// Crash-safety level of pydbm's own journal.
    pub durability: Durability,
    /// How long to wait for a lock another handle or process holds before failing with
    /// [`Error::Locked`]. `None` is the format's reference behaviour: fail at once for
    /// `dbm.gnu`, `dbm.ndbm` and `dbm.dumb` (as libgdbm does: `GDBM_CANT_BE_READER`/`WRITER`
    /// at once), wait [`SQLITE_DEFAULT_LOCK_TIMEOUT`] for `dbm.sqlite3` (CPython's
    /// `sqlite3.connect(timeout=5.0)`). `Some(Duration::ZERO)` fails at once everywhere.
    /// See docs/locking.md.
    pub lock_timeout: Option<std::time::Duration>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            mode: OpenMode::Read,
            fast: false,
            sync: false,
            no_lock: false,
            file_mode: 0o666,
            durability: Durability::Process,
            lock_timeout: None,
        }
    }
}

impl OpenOptions {
    /// Parses a Python flag string such as `"r"`, `"c"`, `"nf"`, `"wu"`.
    ///
    /// The first letter is the mode; the following letters are gdbm's modifiers
    /// `f`, `s`, `u`. Fails with [`Error::BadArgument`] naming the bad letter, using
    /// the wording of Python's `dbm.gnu` error where one exists.
    ///
    /// ```
    /// use pydbm_engine::{Error, OpenMode, OpenOptions};
    ///
    /// let o = OpenOptions::from_flag("cu")?;
    /// assert_eq!((o.mode, o.no_lock, o.fast), (OpenMode::Create, true, false));
    /// assert!(o.mode.writable() && !OpenOptions::from_flag("r")?.mode.writable());
    /// let err = OpenOptions::from_flag("x").unwrap_err();
    /// assert!(matches!(err, Error::BadArgument(_)));
    /// assert!(err.to_string().contains("first flag must be one of 'r', 'w', 'c' or 'n'"));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn from_flag(flag: &str) -> Result<Self> {
        let mut chars = flag.chars();
        let mode = match chars.next() {
            Some('r') => OpenMode::Read,
            Some('w') => OpenMode::Write,
            Some('c') => OpenMode::Create,
            Some('n') => OpenMode::New,
            _ => {
                return Err(Error::BadArgument(format!(
                    "flag {flag:?}: first flag must be one of 'r', 'w', 'c' or 'n'"
                )))
            }
        };
        let mut opts = OpenOptions {
            mode,
            ..OpenOptions::default()
        };
        for c in chars {
            match c {
                'f' => opts.fast = true,
                's' => opts.sync = true,
                'u' => opts.no_lock = true,
                other => {
                    return Err(Error::BadArgument(format!(
                        "flag {flag:?}: flag '{other}' is not supported"
                    )))
                }
            }
        }
        Ok(opts)
    }
}

/// A key-value mapping stored in a file: the interface every dbm format implements.
///
/// Keys and values are byte strings. Methods take `&mut self` even for reads because
/// some formats (gdbm) change their in-memory cache on a read, and that cache decides
/// the bytes later written. After [`Dbm::close`], every method fails with [`Error::Closed`].
pub trait Dbm: Send {
    /// The value stored under `key`, or `None`.
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Stores `value` under `key`, replacing any previous value.
    /// Fails with [`Error::ReadOnly`] on a read-only handle.
    fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<()>;
    /// Removes `key`; returns whether it was present.
    /// Fails with [`Error::ReadOnly`] on a read-only handle.
    fn remove(&mut self, key: &[u8]) -> Result<bool>;
    /// Whether `key` is present.
    fn contains(&mut self, key: &[u8]) -> Result<bool> {
        Ok(self.get(key)?.is_some())
    }
    /// Every key, in the file's own iteration order (what Python's `db.keys()` returns).
    fn keys(&mut self) -> Result<Vec<Vec<u8>>>;
    /// Number of records.
    fn len(&mut self) -> Result<usize>;
    /// Whether there are no records.
    fn is_empty(&mut self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Every `(key, value)` pair in iteration order, fetched lazily.
    fn items(&mut self) -> Result<Items<'_>>
    where
        Self: Sized,
    {
        let keys = self.keys()?;
        Ok(Items {
            db: self,
            keys: keys.into_iter(),
        })
    }
    /// Writes every change to the file (Python's `db.sync()`).
    fn sync(&mut self) -> Result<()>;
    /// Flushes and releases the file and its lock. Later calls fail with [`Error::Closed`];
    /// closing twice is not an error.
    fn close(&mut self) -> Result<()>;
    /// Compacts the file (gdbm's and dumb's `reorganize`). Formats without it return
    /// [`Error::Unsupported`].
    fn reorganize(&mut self) -> Result<()> {
        Err(Error::unsupported(self.path(), "reorganize"))
    }
    /// The path the database was opened with (as given to `open`).
    fn path(&self) -> &Path;
    /// The Python module whose files this is: `"dbm.gnu"`, `"dbm.ndbm"`, `"dbm.dumb"`, `"dbm.sqlite3"`.
    fn module(&self) -> &'static str;
}

/// Iterator over a database's `(key, value)` pairs, from [`Dbm::items`].
///
/// Keys are listed when the iterator is made; each value is read when reached. A key
/// removed in between is skipped.
pub struct Items<'a> {
    db: &'a mut dyn Dbm,
    keys: std::vec::IntoIter<Vec<u8>>,
}

impl Items<'_> {
    /// Iterates over a `dyn Dbm`'s items.
    pub fn of(db: &mut dyn Dbm) -> Result<Items<'_>> {
        let keys = db.keys()?;
        Ok(Items {
            db,
            keys: keys.into_iter(),
        })
    }
}

impl Iterator for Items<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let key = self.keys.next()?;
            match self.db.get(&key) {
                Ok(Some(value)) => return Some(Ok((key, value))),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_like_python() {
        let o = OpenOptions::from_flag("cfu").unwrap();
        assert_eq!(o.mode, OpenMode::Create);
        assert!(o.fast && o.no_lock && !o.sync);
        assert!(OpenOptions::from_flag("x").is_err());
        assert!(OpenOptions::from_flag("rz").is_err());
        assert!(OpenOptions::from_flag("").is_err());
    }
}
