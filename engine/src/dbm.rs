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
/// Keys and values are byte strings. After [`Dbm::close`], every method fails with
/// [`Error::Closed`].
///
/// # Why reads take `&mut self`
///
/// Every method, reads included, takes `&mut self`, and this is deliberate: no format's
/// read is free of handle state. gdbm's lookup moves its bucket cache and current bucket
/// (and that cache decides the bytes a later write puts in the file, gdbm spec §12); ndbm
/// decodes pages into a cache; dumb keeps a read-ahead window; the engine's [`crate::Pager`]
/// reads through a mutable page cache; a `dbm.sqlite3` handle reuses cached prepared
/// statements of one `rusqlite::Connection`, which is not `Sync`. Shared reads through
/// `&self` would need interior locking on every lookup, a cost the single-threaded hot path
/// (one handle, one lock on the file) should not pay. For concurrent readers open one
/// handle per thread with [`OpenMode::Read`]: the file lock is shared between them.
///
/// # Transactions
///
/// [`Dbm::transaction`] (or [`Transaction::begin`] on a `&mut dyn Dbm`) groups gets, inserts and removes into one atomic commit; see
/// [`Transaction`]. Formats provide it through the hooks [`Dbm::begin_transaction`],
/// [`Dbm::commit_transaction`] and [`Dbm::rollback_transaction`], which callers should
/// not call directly.
///
/// # Iteration
///
/// [`Dbm::iter`] and [`Dbm::keys_iter`] are lazy cursors over the file's own order,
/// reading one bucket, page or batch at a time (formats provide [`Dbm::next_keys`]), so
/// their memory does not grow with the database. [`Dbm::keys`] still returns the whole
/// list, as Python's `db.keys()` does.
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
    /// Every `(key, value)` pair in iteration order: the key list is read first, each value
    /// when reached. Prefer [`Dbm::iter`], whose memory does not grow with the database.
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

    /// Hook for [`Transaction`]: from now until [`Dbm::commit_transaction`] or
    /// [`Dbm::rollback_transaction`], inserts and removes are not committed one by one but
    /// together. Use [`Dbm::transaction`] instead of calling it. Formats without
    /// transactions return [`Error::Unsupported`] (the default).
    fn begin_transaction(&mut self) -> Result<()> {
        Err(Error::unsupported(self.path(), "transactions"))
    }
    /// Hook for [`Transaction::commit`]: commits every change since
    /// [`Dbm::begin_transaction`] as one atomic step.
    fn commit_transaction(&mut self) -> Result<()> {
        Err(Error::unsupported(self.path(), "transactions"))
    }
    /// Hook for [`Transaction`]'s rollback: undoes every change since
    /// [`Dbm::begin_transaction`] and reloads the handle's in-memory state from the file.
    fn rollback_transaction(&mut self) -> Result<()> {
        Err(Error::unsupported(self.path(), "transactions"))
    }
    /// Hook for [`KeysIter`]: appends to `out` the keys that follow `pos` in the file's
    /// iteration order — a bounded batch (one bucket, page or request) — and advances `pos`.
    /// Appending nothing means the end. Formats without a cursor return
    /// [`Error::Unsupported`] (the default).
    fn next_keys(&mut self, pos: &mut CursorPosition, out: &mut Vec<Vec<u8>>) -> Result<()> {
        let _ = (pos, out);
        Err(Error::unsupported(self.path(), "cursors"))
    }

    /// Starts a transaction: a guard whose gets, inserts and removes commit together on
    /// [`Transaction::commit`] and are undone when it is dropped uncommitted. Works on
    /// concrete handles and on `Box<dyn Dbm>` (which implements `Dbm`); for a bare
    /// `&mut dyn Dbm` call [`Transaction::begin`].
    ///
    /// ```
    /// use pydbm_engine::{Dbm, MemDbm};
    /// let mut db = MemDbm::new();
    /// let mut txn = db.transaction()?;
    /// txn.insert(b"apples", b"3")?;
    /// txn.insert(b"pears", b"5")?;
    /// txn.commit()?;
    /// assert_eq!(db.get(b"pears")?, Some(b"5".to_vec()));
    /// # Ok::<(), pydbm_engine::Error>(())
    /// ```
    fn transaction(&mut self) -> Result<Transaction<'_>>
    where
        Self: Sized,
    {
        Transaction::begin(self)
    }
    /// A lazy cursor over `(key, value)` pairs in the file's iteration order; see [`Iter`]
    /// (for a bare `&mut dyn Dbm`, [`Iter::new`]).
    fn iter(&mut self) -> Iter<'_>
    where
        Self: Sized,
    {
        Iter::new(self)
    }
    /// A lazy cursor over the keys in the file's iteration order; see [`KeysIter`] (for a
    /// bare `&mut dyn Dbm`, [`KeysIter::new`]).
    fn keys_iter(&mut self) -> KeysIter<'_>
    where
        Self: Sized,
    {
        KeysIter::new(self)
    }
}

impl Dbm for Box<dyn Dbm> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        (**self).get(key)
    }
    fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        (**self).insert(key, value)
    }
    fn remove(&mut self, key: &[u8]) -> Result<bool> {
        (**self).remove(key)
    }
    fn contains(&mut self, key: &[u8]) -> Result<bool> {
        (**self).contains(key)
    }
    fn keys(&mut self) -> Result<Vec<Vec<u8>>> {
        (**self).keys()
    }
    fn len(&mut self) -> Result<usize> {
        (**self).len()
    }
    fn is_empty(&mut self) -> Result<bool> {
        (**self).is_empty()
    }
    fn sync(&mut self) -> Result<()> {
        (**self).sync()
    }
    fn close(&mut self) -> Result<()> {
        (**self).close()
    }
    fn reorganize(&mut self) -> Result<()> {
        (**self).reorganize()
    }
    fn path(&self) -> &Path {
        (**self).path()
    }
    fn module(&self) -> &'static str {
        (**self).module()
    }
    fn begin_transaction(&mut self) -> Result<()> {
        (**self).begin_transaction()
    }
    fn commit_transaction(&mut self) -> Result<()> {
        (**self).commit_transaction()
    }
    fn rollback_transaction(&mut self) -> Result<()> {
        (**self).rollback_transaction()
    }
    fn next_keys(&mut self, pos: &mut CursorPosition, out: &mut Vec<Vec<u8>>) -> Result<()> {
        (**self).next_keys(pos, out)
    }
}

/// Where a [`KeysIter`] is in a database's iteration order, kept between calls to
/// [`Dbm::next_keys`]. Each format uses the fields it needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CursorPosition {
    /// False until the first batch was read.
    pub started: bool,
    /// The last key handed out (gdbm's `nextkey` argument; the lower bound of the next
    /// `dbm.sqlite3` query or etcd range).
    pub last_key: Vec<u8>,
    /// A format's counter: the next bucket (ndbm), the next index entry (dumb).
    pub next: u64,
}

/// Lazy cursor over a database's keys, from [`Dbm::keys_iter`]: reads one batch at a time
/// through [`Dbm::next_keys`], so memory is bounded by a batch, not the database. The
/// database is borrowed mutably for the cursor's life, so it cannot change underneath.
///
/// ```
/// use pydbm_engine::Dbm;
/// # use pydbm_engine::MemDbm;
/// let mut db = MemDbm::new();
/// db.insert(b"a", b"1")?;
/// db.insert(b"b", b"2")?;
/// let mut keys = db.keys_iter().collect::<Result<Vec<_>, _>>()?;
/// keys.sort();
/// assert_eq!(keys, [b"a".to_vec(), b"b".to_vec()]);
/// # Ok::<(), pydbm_engine::Error>(())
/// ```
pub struct KeysIter<'a> {
    db: &'a mut dyn Dbm,
    pos: CursorPosition,
    batch: std::collections::VecDeque<Vec<u8>>,
    scratch: Vec<Vec<u8>>,
    done: bool,
}

impl<'a> KeysIter<'a> {
    /// A cursor at the start of `db`'s iteration order (for a bare `&mut dyn Dbm`).
    ///
    /// ```
    /// use pydbm_engine::{Dbm, KeysIter, MemDbm};
    /// let mut db = MemDbm::new();
    /// db.insert(b"x", b"1")?;
    /// let dynamic: &mut dyn Dbm = &mut db;
    /// assert_eq!(KeysIter::new(dynamic).count(), 1);
    /// # Ok::<(), pydbm_engine::Error>(())
    /// ```
    pub fn new(db: &'a mut dyn Dbm) -> KeysIter<'a> {
        KeysIter {
            db,
            pos: CursorPosition::default(),
            batch: std::collections::VecDeque::new(),
            scratch: Vec::new(),
            done: false,
        }
    }
}

impl Iterator for KeysIter<'_> {
    type Item = Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(k) = self.batch.pop_front() {
                return Some(Ok(k));
            }
            if self.done {
                return None;
            }
            self.scratch.clear();
            if let Err(e) = self.db.next_keys(&mut self.pos, &mut self.scratch) {
                self.done = true;
                return Some(Err(e));
            }
            self.pos.started = true;
            if self.scratch.is_empty() {
                self.done = true;
                return None;
            }
            self.batch.extend(self.scratch.drain(..));
        }
    }
}

/// Lazy cursor over a database's `(key, value)` pairs, from [`Dbm::iter`]: a [`KeysIter`]
/// whose keys are looked up as they are reached.
///
/// ```
/// use pydbm_engine::Dbm;
/// # use pydbm_engine::MemDbm;
/// let mut db = MemDbm::new();
/// db.insert(b"k", b"v")?;
/// for item in db.iter() {
///     let (key, value) = item?;
///     assert_eq!((key.as_slice(), value.as_slice()), (&b"k"[..], &b"v"[..]));
/// }
/// # Ok::<(), pydbm_engine::Error>(())
/// ```
pub struct Iter<'a> {
    keys: KeysIter<'a>,
}

impl<'a> Iter<'a> {
    /// A cursor at the start of `db`'s iteration order.
    pub fn new(db: &'a mut dyn Dbm) -> Iter<'a> {
        Iter {
            keys: KeysIter::new(db),
        }
    }
}

impl Iterator for Iter<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let key = match self.keys.next()? {
                Ok(k) => k,
                Err(e) => return Some(Err(e)),
            };
            match self.keys.db.get(&key) {
                Ok(Some(value)) => return Some(Ok((key, value))),
                // Listed by the cursor but not found: the format's cursor and lookup
                // disagree only for a damaged file; the pair is skipped as `items` does.
                Ok(None) => continue,
                Err(e) => {
                    self.keys.done = true;
                    self.keys.batch.clear();
                    return Some(Err(e));
                }
            }
        }
    }
}

/// A transaction on a database, from [`Dbm::transaction`]: gets, inserts and removes that
/// are committed together by [`Transaction::commit`] and undone by
/// [`Transaction::rollback`] or by dropping the guard.
///
/// Atomicity: for `dbm.gnu`, `dbm.ndbm` and `dbm.dumb` the whole transaction is one
/// commit of the engine's rollback journal (the per-operation commit is suppressed), so a
/// process killed at any point leaves all of its changes or none at
/// [`Durability::Process`] and [`Durability::Full`] (and power loss too at `Full`). At
/// [`Durability::None`] there is no journal: a rollback undoes only what the page cache
/// still holds, and a crash may leave any part. `dbm.sqlite3` runs `BEGIN IMMEDIATE` …
/// `COMMIT`; etcd sends one `Txn`.
///
/// A failed operation inside a transaction rolls the whole transaction back at once; the
/// guard then refuses further operations and [`Transaction::commit`] reports the failure.
/// Reads see the transaction's own writes.
///
/// ```
/// use pydbm_engine::Dbm;
/// # use pydbm_engine::MemDbm;
/// let mut db = MemDbm::new();
/// {
///     let mut txn = db.transaction()?;
///     txn.insert(b"k", b"v")?;
///     assert_eq!(txn.get(b"k")?, Some(b"v".to_vec()));
///     // dropped without commit: rolled back
/// }
/// assert_eq!(db.get(b"k")?, None);
/// # Ok::<(), pydbm_engine::Error>(())
/// ```
pub struct Transaction<'a> {
    db: &'a mut dyn Dbm,
    /// The error that aborted the transaction, if an operation failed.
    failed: Option<String>,
    finished: bool,
}

impl std::fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("path", &self.db.path())
            .field("failed", &self.failed)
            .finish()
    }
}

impl<'a> Transaction<'a> {
    /// Begins a transaction on `db` (what [`Dbm::transaction`] calls); the way to start one
    /// on a bare `&mut dyn Dbm`.
    ///
    /// ```
    /// use pydbm_engine::{Dbm, MemDbm, Transaction};
    /// fn tag_all(db: &mut dyn Dbm, keys: &[&[u8]]) -> pydbm_engine::Result<()> {
    ///     let mut txn = Transaction::begin(db)?;
    ///     for k in keys {
    ///         txn.insert(k, b"tagged")?;
    ///     }
    ///     txn.commit()
    /// }
    /// let mut db = MemDbm::new();
    /// tag_all(&mut db, &[b"a", b"b"])?;
    /// assert_eq!(db.len()?, 2);
    /// # Ok::<(), pydbm_engine::Error>(())
    /// ```
    pub fn begin(db: &'a mut dyn Dbm) -> Result<Transaction<'a>> {
        db.begin_transaction()?;
        Ok(Transaction {
            db,
            failed: None,
            finished: false,
        })
    }

    fn check(&self) -> Result<()> {
        match &self.failed {
            None => Ok(()),
            Some(why) => Err(Error::BadArgument(format!(
                "{}: the transaction was rolled back after an operation failed ({why})",
                self.db.path().display()
            ))),
        }
    }

    /// Runs one operation; on failure rolls the whole transaction back at once.
    fn run<T>(&mut self, op: impl FnOnce(&mut dyn Dbm) -> Result<T>) -> Result<T> {
        self.check()?;
        match op(&mut *self.db) {
            Ok(v) => Ok(v),
            Err(e) => {
                self.failed = Some(e.to_string());
                if let Err(r) = self.db.rollback_transaction() {
                    self.failed = Some(format!("{e}; the rollback failed too: {r}"));
                }
                self.finished = true;
                Err(e)
            }
        }
    }

    /// The value stored under `key` as the transaction sees it, or `None`.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.run(|db| db.get(key))
    }
    /// Whether `key` is present as the transaction sees it.
    pub fn contains(&mut self, key: &[u8]) -> Result<bool> {
        self.run(|db| db.contains(key))
    }
    /// Stores `value` under `key` (visible to the world at [`Transaction::commit`]).
    pub fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.run(|db| db.insert(key, value))
    }
    /// Removes `key`; returns whether it was present as the transaction sees it.
    pub fn remove(&mut self, key: &[u8]) -> Result<bool> {
        self.run(|db| db.remove(key))
    }

    /// Commits every change of the transaction as one atomic step. Fails if an operation
    /// of the transaction failed (it was then rolled back) or if the commit itself fails
    /// (the transaction is then rolled back).
    ///
    /// ```
    /// use pydbm_engine::Dbm;
    /// # use pydbm_engine::MemDbm;
    /// let mut db = MemDbm::new();
    /// let mut txn = db.transaction()?;
    /// txn.insert(b"a", b"1")?;
    /// txn.remove(b"missing")?;
    /// txn.commit()?;
    /// assert_eq!(db.len()?, 1);
    /// # Ok::<(), pydbm_engine::Error>(())
    /// ```
    pub fn commit(mut self) -> Result<()> {
        self.check()?;
        self.finished = true;
        match self.db.commit_transaction() {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = self.db.rollback_transaction();
                Err(e)
            }
        }
    }

    /// Undoes every change of the transaction (what dropping the guard does, with the
    /// error reported).
    ///
    /// ```
    /// use pydbm_engine::{Dbm, MemDbm};
    /// let mut db = MemDbm::new();
    /// db.insert(b"keep", b"1")?;
    /// let mut txn = db.transaction()?;
    /// txn.remove(b"keep")?;
    /// txn.rollback()?;
    /// assert!(db.contains(b"keep")?);
    /// # Ok::<(), pydbm_engine::Error>(())
    /// ```
    pub fn rollback(mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        self.db.rollback_transaction()
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.finished {
            // Errors cannot be reported from drop; `rollback()` reports them.
            let _ = self.db.rollback_transaction();
        }
    }
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

    /// An operation that fails inside a transaction (here: on a closed handle) rolls the
    /// whole transaction back and poisons the guard; commit reports it.
    #[test]
    fn failed_operation_poisons_the_transaction() {
        let mut db: Box<dyn Dbm> = Box::new(crate::MemDbm::new());
        db.insert(b"a", b"1").unwrap();
        let mut t = db.transaction().unwrap();
        t.insert(b"d", b"4").unwrap();
        t.db.close().unwrap();
        assert!(t.insert(b"e", b"5").is_err());
        assert!(t.get(b"a").is_err());
        let err = t.commit().unwrap_err();
        assert!(err.to_string().contains("rolled back"), "{err}");
    }

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
