//! `sqlite3.connect` and `sqlite3.Connection` (spec §1.1–§1.3, §1.10): Python's
//! transaction control (legacy `isolation_level` and 3.12's `autocommit`), thread checks,
//! and the connection-level API.
//!
//! # Example
//!
//! Every output below is what CPython 3.13's `sqlite3` gives for the same calls:
//!
//! ```
//! use pydbm_sqlite::{connect, ConnectOptions, ErrorKind, Value};
//!
//! let con = connect(":memory:", &ConnectOptions::default())?;
//! con.execute("CREATE TABLE t (k TEXT UNIQUE, v)", ())?;
//! let rows: Vec<(&str, Value)> =
//!     vec![("a", Value::Int(1)), ("b", Value::Float(2.5)), ("c", Value::Bytes(vec![0]))];
//! con.executemany("INSERT INTO t VALUES (?, ?)", rows)?;
//! assert!(con.in_transaction()?); // legacy control: an implicit BEGIN before the INSERTs
//! con.commit()?;
//! assert!(!con.in_transaction()?);
//!
//! let found = con.execute("SELECT k, v FROM t WHERE k > ? ORDER BY k", ("a",))?.fetchall()?;
//! let shown: Vec<String> = found.iter().map(Value::repr).collect();
//! assert_eq!(shown, ["('b', 2.5)", "('c', b'\\x00')"]);
//!
//! let err = con.execute("INSERT INTO t VALUES ('a', 0)", ()).unwrap_err();
//! assert_eq!(err.kind, ErrorKind::IntegrityError);
//! assert_eq!(err.message, "UNIQUE constraint failed: t.k");
//! assert_eq!(err.sqlite_errorname, Some("SQLITE_CONSTRAINT_UNIQUE"));
//! con.rollback()?;
//!
//! assert_eq!(
//!     con.iterdump(None)?,
//!     [
//!         "BEGIN TRANSACTION;",
//!         "CREATE TABLE t (k TEXT UNIQUE, v);",
//!         "INSERT INTO \"t\" VALUES('a',1);",
//!         "INSERT INTO \"t\" VALUES('b',2.5);",
//!         "INSERT INTO \"t\" VALUES('c',X'00');",
//!         "COMMIT;",
//!     ]
//! );
//! con.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::cursor::{BindParams, Cursor, QuerySlots};
use crate::error::{Error, ErrorKind, Result};
use crate::open::{open_like_python, DEFAULT_CACHED_STATEMENTS};
use crate::statement::StatementCache;
use crate::value::{TextFactory, Value};

/// `sqlite3.PARSE_DECLTYPES`: pick converters by declared column type.
pub const PARSE_DECLTYPES: i32 = 1;
/// `sqlite3.PARSE_COLNAMES`: pick converters by a `[type]` tag in the column name.
pub const PARSE_COLNAMES: i32 = 2;

/// `Connection.autocommit` (3.12+): how transactions are controlled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Autocommit {
    /// `sqlite3.LEGACY_TRANSACTION_CONTROL` (the default): `isolation_level` decides; an
    /// implicit `BEGIN` precedes INSERT/UPDATE/DELETE/REPLACE outside a transaction.
    #[default]
    Legacy,
    /// `True`: SQLite's own autocommit; `commit()`/`rollback()` do nothing.
    On,
    /// `False` (PEP 249): a transaction is always open; `commit()`/`rollback()` start a
    /// new one; `close()` rolls back.
    Off,
}

/// What `sqlite3.connect()` takes besides the database name.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Seconds to wait for a lock (`timeout=5.0`).
    pub timeout: f64,
    /// `PARSE_DECLTYPES | PARSE_COLNAMES` bits (`detect_types=0`).
    pub detect_types: i32,
    /// `None` for autocommit, or `""`/`"DEFERRED"`/`"IMMEDIATE"`/`"EXCLUSIVE"` (default `""`).
    pub isolation_level: Option<String>,
    /// Refuse use from other threads (`check_same_thread=True`).
    pub check_same_thread: bool,
    /// Prepared-statement cache size (`cached_statements=128`).
    pub cached_statements: usize,
    /// Interpret the name as a `file:` URI (`uri=False`).
    pub uri: bool,
    /// `autocommit=LEGACY_TRANSACTION_CONTROL`.
    pub autocommit: Autocommit,
    /// pydbm extension: the SQLite VFS to open through (e.g. [`crate::vfs`]'s engine VFS);
    /// `None` is SQLite's default (unix) VFS.
    pub vfs: Option<String>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            timeout: 5.0,
            detect_types: 0,
            isolation_level: Some(String::new()),
            check_same_thread: true,
            cached_statements: DEFAULT_CACHED_STATEMENTS,
            uri: false,
            autocommit: Autocommit::Legacy,
            vfs: None,
        }
    }
}

/// A function turning `(column names, values)` into a row object (`row_factory`).
pub type RowFactoryFn = Arc<dyn Fn(&[String], Vec<Value>) -> Result<Value> + Send + Sync>;

/// `Connection.row_factory` / `Cursor.row_factory`.
#[derive(Clone, Default)]
pub enum RowFactory {
    /// `None`: rows are tuples ([`Value::Tuple`]).
    #[default]
    Tuple,
    /// `sqlite3.Row` ([`Value::Row`]).
    Row,
    /// Any callable.
    Custom(RowFactoryFn),
}

impl std::fmt::Debug for RowFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RowFactory::Tuple => f.write_str("None"),
            RowFactory::Row => f.write_str("sqlite3.Row"),
            RowFactory::Custom(_) => f.write_str("<callable>"),
        }
    }
}

/// Mutable state of a connection, behind its mutex.
///
/// Field order matters: the statements (`queries`, `statements`) are dropped, so
/// finalized, before `db` closes the handle.
pub(crate) struct State {
    /// Statements cursors are in the middle of (lazy rows), one slot per cursor.
    pub(crate) queries: QuerySlots,
    /// Python's statement cache (`cached_statements`).
    pub(crate) statements: StatementCache,
    pub(crate) db: Option<rusqlite::Connection>,
    pub(crate) isolation_level: Option<String>,
    pub(crate) autocommit: Autocommit,
    pub(crate) detect_types: i32,
    pub(crate) row_factory: RowFactory,
    pub(crate) text_factory: TextFactory,
    pub(crate) hooks: crate::callbacks::Hooks,
    /// Keeps engine closes of this file from dropping SQLite's POSIX locks (spec §3.3);
    /// declared after `db` so it is released after the handle closes.
    pub(crate) anchor: Option<crate::anchor::FcntlAnchor>,
}

impl State {
    pub(crate) fn db(&self) -> Result<&rusqlite::Connection> {
        self.db.as_ref().ok_or_else(Error::closed_database)
    }

    pub(crate) fn db_mut(&mut self) -> Result<&mut rusqlite::Connection> {
        self.db.as_mut().ok_or_else(Error::closed_database)
    }

    /// Runs a transaction-control statement through SQLite (so the trace callback sees it).
    pub(crate) fn exec(&self, sql: &str) -> Result<()> {
        self.db()?.execute_batch(sql).map_err(Error::from)
    }
}

pub(crate) struct Inner {
    pub(crate) state: Mutex<State>,
    owner: u64,
    /// Thread ident of the thread holding `state` (0: none), to refuse re-entry from a
    /// callback instead of deadlocking.
    /// Relaxed ordering suffices: a thread only compares it with its own ident, which
    /// only that thread ever stores, and its own later store of 0 (before unlocking) is
    /// always visible to itself.
    holder: AtomicU64,
    /// Query slots of cursors dropped while this thread held `state` (inside a callback),
    /// freed at the next lock.
    orphans: Mutex<Vec<usize>>,
    has_orphans: AtomicBool,
    check_same_thread: bool,
    interrupt: rusqlite::InterruptHandle,
    /// Set by `close()`: lets cursors refuse to hand out buffered rows without taking the
    /// state lock.
    closed: std::sync::atomic::AtomicBool,
    /// Where this connection's warnings go (made current on the thread while it is used).
    warnings: Arc<crate::warning::WarningSink>,
}

impl Drop for Inner {
    /// The last handle is gone: if nobody called `close()`, warn as CPython 3.13 does
    /// (the handle then closes as the fields drop).
    fn drop(&mut self) {
        let open = match self.state.get_mut() {
            Ok(st) => st.db.is_some(),
            Err(poisoned) => poisoned.into_inner().db.is_some(),
        };
        if open {
            crate::warning::unclosed_database(self as *const Inner as *const ());
        }
    }
}

/// The locked state of a connection; clears the holder mark when dropped.
pub(crate) struct StateGuard<'a> {
    guard: MutexGuard<'a, State>,
    holder: &'a AtomicU64,
    /// Routes warnings raised while the state is held to this connection.
    _warnings: crate::warning::CurrentSink<'a>,
}

impl std::ops::Deref for StateGuard<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.guard
    }
}

impl std::ops::DerefMut for StateGuard<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.guard
    }
}

impl Drop for StateGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.holder.store(0, Ordering::Relaxed);
    }
}

/// Python's ProgrammingError for a connection used from a thread other than its creator
/// (out of line: the check runs on every state lock).
#[cold]
fn wrong_thread(owner: u64, me: u64) -> Error {
    Error::programming(format!(
        "SQLite objects created in a thread can only be used in that same thread. The object was created in thread id {owner} and this is thread id {me}."
    ))
}

/// The calling thread's id as Python's `threading.get_ident()` reports it.
#[inline]
pub(crate) fn thread_ident() -> u64 {
    // SAFETY: pthread_self has no preconditions.
    unsafe { libc::pthread_self() as u64 }
}

/// An open database connection (`sqlite3.Connection`).
///
/// Cloning gives another handle on the same connection (like another Python reference).
/// With `check_same_thread` (the default) every method but [`Connection::interrupt`] fails
/// from a thread other than the creator with Python's ProgrammingError.
#[derive(Clone)]
pub struct Connection {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<sqlite3.Connection>")
    }
}

/// `sqlite3.connect(database, ...)`: opens `database` (a path, `":memory:"`, or with
/// `uri` a `file:` URI). Failure: `OperationalError: unable to open database file`.
pub fn connect(database: impl AsRef<Path>, opts: &ConnectOptions) -> Result<Connection> {
    validate_isolation_level(opts.isolation_level.as_deref())?;
    let name = database.as_ref().to_string_lossy().into_owned();
    let timeout = Duration::from_secs_f64(opts.timeout.max(0.0));
    let db = open_like_python(
        &name,
        opts.uri,
        timeout,
        opts.cached_statements,
        opts.vfs.as_deref(),
    )?;
    let interrupt = db.get_interrupt_handle();
    // The file SQLite locks with fcntl: a plain path, or the one a `file:` URI names
    // (EngineVfs locks through the engine already).
    let anchor =
        crate::anchor::FcntlAnchor::for_connect(database.as_ref(), opts.uri, opts.vfs.as_deref());
    let state = State {
        queries: QuerySlots::default(),
        statements: StatementCache::new(opts.cached_statements),
        anchor,
        db: Some(db),
        isolation_level: opts.isolation_level.as_deref().map(str::to_ascii_uppercase),
        autocommit: opts.autocommit,
        detect_types: opts.detect_types,
        row_factory: RowFactory::Tuple,
        text_factory: TextFactory::Str,
        hooks: Default::default(),
    };
    if opts.autocommit == Autocommit::Off {
        // spec §1.3: PEP 249 mode opens a transaction at connect.
        state.exec("BEGIN")?;
    }
    Ok(Connection {
        inner: Arc::new(Inner {
            state: Mutex::new(state),
            owner: thread_ident(),
            holder: AtomicU64::new(0),
            orphans: Mutex::new(Vec::new()),
            has_orphans: AtomicBool::new(false),
            check_same_thread: opts.check_same_thread,
            interrupt,
            closed: Default::default(),
            warnings: Default::default(),
        }),
    })
}

fn validate_isolation_level(level: Option<&str>) -> Result<()> {
    match level {
        None => Ok(()),
        Some(l)
            if l.is_empty()
                || l.eq_ignore_ascii_case("DEFERRED")
                || l.eq_ignore_ascii_case("IMMEDIATE")
                || l.eq_ignore_ascii_case("EXCLUSIVE") =>
        {
            Ok(())
        }
        Some(_) => Err(Error::value(
            "isolation_level string must be '', 'DEFERRED', 'IMMEDIATE', or 'EXCLUSIVE'",
        )),
    }
}

impl Connection {
    /// Locks the state after the thread check; fails as Python does when the connection is
    /// used from another thread (with `check_same_thread`) or is closed.
    #[inline(always)]
    pub(crate) fn lock(&self) -> Result<StateGuard<'_>> {
        let st = self.lock_state()?;
        if st.db.is_none() {
            return Err(Error::closed_database());
        }
        Ok(st)
    }

    /// Locks the state after the thread check, open or closed. A callback (user function,
    /// trace, authorizer…) that uses the connection it runs on gets Python's
    /// "Recursive use of cursors not allowed." ProgrammingError instead of a deadlock.
    #[inline(always)]
    pub(crate) fn lock_state(&self) -> Result<StateGuard<'_>> {
        let me = thread_ident();
        self.check_thread_is(me)?;
        if self.inner.holder.load(Ordering::Relaxed) == me {
            return Err(Error::programming("Recursive use of cursors not allowed."));
        }
        let mut st = self.acquire_state(me);
        self.free_orphans(&mut st);
        Ok(st)
    }

    /// [`Connection::lock`] around one call of `f`, for the per-row path (`for row in
    /// cursor`): the same checks and errors, but the guard stays a local instead of moving
    /// through a `Result<StateGuard>`, whose copies between differently sized stack slots
    /// cost store-forwarding stalls on every row (perf annotate showed them as 70% of the
    /// samples of `Cursor::next`).
    #[inline(always)]
    pub(crate) fn with_open_state<R>(&self, f: impl FnOnce(&mut State) -> Result<R>) -> Result<R> {
        let me = thread_ident();
        self.check_thread_is(me)?;
        if self.inner.holder.load(Ordering::Relaxed) == me {
            return Err(Error::programming("Recursive use of cursors not allowed."));
        }
        let mut st = self.acquire_state(me);
        self.free_orphans(&mut st);
        if st.db.is_none() {
            return Err(Error::closed_database());
        }
        f(&mut st)
    }

    /// Frees the query slots of cursors dropped while the state was held (see
    /// [`Connection::free_query_slot`]).
    #[inline(always)]
    fn free_orphans(&self, st: &mut State) {
        // A plain load first: the swap (a read-modify-write) only when there are orphans.
        if self.inner.has_orphans.load(Ordering::SeqCst)
            && self.inner.has_orphans.swap(false, Ordering::SeqCst)
        {
            let orphans = std::mem::take(
                &mut *self
                    .inner
                    .orphans
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            );
            for slot in orphans {
                crate::cursor::free_slot(st, slot);
            }
        }
    }

    /// A dropped cursor gives its query slot back (its statement is reset and returned
    /// to the cache). No thread check: Python frees a cursor from any thread. Inside a
    /// callback on this thread (state already held) the slot is freed at the next lock.
    pub(crate) fn free_query_slot(&self, slot: usize) {
        let me = thread_ident();
        if self.inner.holder.load(Ordering::Relaxed) == me {
            self.inner
                .orphans
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(slot);
            self.inner.has_orphans.store(true, Ordering::SeqCst);
            return;
        }
        let mut st = self.acquire_state(me);
        crate::cursor::free_slot(&mut st, slot);
    }

    /// Takes the state mutex (a poisoned one is recovered: the state stays consistent
    /// between calls), marks thread `me` as its holder and routes warnings raised while it
    /// is held to this connection.
    #[inline(always)]
    fn acquire_state(&self, me: u64) -> StateGuard<'_> {
        let guard = self
            .inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.inner.holder.store(me, Ordering::Relaxed);
        StateGuard {
            guard,
            holder: &self.inner.holder,
            _warnings: crate::warning::CurrentSink::enter(&self.inner.warnings),
        }
    }

    #[inline]
    fn check_thread_is(&self, me: u64) -> Result<()> {
        if self.inner.check_same_thread && me != self.inner.owner {
            return Err(wrong_thread(self.inner.owner, me));
        }
        Ok(())
    }

    /// `Connection.cursor()`.
    pub fn cursor(&self) -> Result<Cursor> {
        drop(self.lock()?);
        Ok(Cursor::new(self.clone()))
    }

    /// `Connection.execute(sql, parameters)`: a new cursor that ran `sql`.
    pub fn execute(&self, sql: &str, params: impl BindParams) -> Result<Cursor> {
        let mut c = self.cursor()?;
        c.execute(sql, params)?;
        Ok(c)
    }

    /// `Connection.executemany(sql, seq_of_parameters)`.
    pub fn executemany<I, P>(&self, sql: &str, params: I) -> Result<Cursor>
    where
        I: IntoIterator<Item = P>,
        P: BindParams,
    {
        let mut c = self.cursor()?;
        c.executemany(sql, params)?;
        Ok(c)
    }

    /// `Connection.executescript(sql_script)`.
    pub fn executescript(&self, script: &str) -> Result<Cursor> {
        let mut c = self.cursor()?;
        c.executescript(script)?;
        Ok(c)
    }

    /// `Connection.commit()`: commits a pending transaction (no-op when none, or with
    /// `autocommit=True`); with `autocommit=False` a new transaction begins at once.
    pub fn commit(&self) -> Result<()> {
        let st = self.lock()?;
        match st.autocommit {
            Autocommit::Legacy => {
                if !st.db()?.is_autocommit() {
                    st.exec("COMMIT")?;
                }
            }
            Autocommit::On => {}
            Autocommit::Off => {
                st.exec("COMMIT")?;
                st.exec("BEGIN")?;
            }
        }
        Ok(())
    }

    /// `Connection.rollback()`: the counterpart of [`Connection::commit`].
    pub fn rollback(&self) -> Result<()> {
        let st = self.lock()?;
        match st.autocommit {
            Autocommit::Legacy => {
                if !st.db()?.is_autocommit() {
                    st.exec("ROLLBACK")?;
                }
            }
            Autocommit::On => {}
            Autocommit::Off => {
                st.exec("ROLLBACK")?;
                st.exec("BEGIN")?;
            }
        }
        Ok(())
    }

    /// `Connection.close()`: a pending transaction is lost (legacy / `autocommit=True`) or
    /// rolled back (`autocommit=False`). Closing twice is fine.
    pub fn close(&self) -> Result<()> {
        let mut st = self.lock_state()?;
        if st.db.is_none() {
            return Ok(());
        }
        if st.autocommit == Autocommit::Off && !st.db()?.is_autocommit() {
            st.exec("ROLLBACK")?;
        }
        // Cursors' pending statements and the cache are finalized first: their later
        // fetches fail with "Cannot operate on a closed database.".
        st.queries.finalize_all();
        st.statements.clear();
        if let Some(db) = st.db.take() {
            st.hooks.clear_raw(&db);
            db.close().map_err(|(_, e)| Error::from(e))?;
        }
        st.anchor = None;
        self.inner.closed.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Python's check that the connection is open (`Cannot operate on a closed
    /// database.`), for cursors whose rows are already buffered.
    #[inline]
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(Error::closed_database());
        }
        Ok(())
    }

    /// `Connection.in_transaction`: whether SQLite is inside a transaction.
    pub fn in_transaction(&self) -> Result<bool> {
        Ok(!self.lock()?.db()?.is_autocommit())
    }

    /// `Connection.total_changes`.
    pub fn total_changes(&self) -> Result<u64> {
        Ok(self.lock()?.db()?.total_changes())
    }

    /// `Connection.isolation_level`.
    pub fn isolation_level(&self) -> Result<Option<String>> {
        Ok(self.lock()?.isolation_level.clone())
    }

    /// Sets `Connection.isolation_level`; `None` commits a pending transaction first
    /// (legacy mode). Bad strings: Python's ValueError.
    pub fn set_isolation_level(&self, level: Option<&str>) -> Result<()> {
        validate_isolation_level(level)?;
        let mut st = self.lock()?;
        if level.is_none() && st.autocommit == Autocommit::Legacy && !st.db()?.is_autocommit() {
            st.exec("COMMIT")?;
        }
        // CPython stores (and begins with) the level upper-cased: "exclusive" → "EXCLUSIVE".
        st.isolation_level = level.map(str::to_ascii_uppercase);
        Ok(())
    }

    /// `Connection.autocommit` (3.12+).
    pub fn autocommit(&self) -> Result<Autocommit> {
        Ok(self.lock()?.autocommit)
    }

    /// Sets `Connection.autocommit`: to `On` commits a pending transaction; to `Off`
    /// begins one (3.12 semantics).
    pub fn set_autocommit(&self, mode: Autocommit) -> Result<()> {
        let mut st = self.lock()?;
        let in_tx = !st.db()?.is_autocommit();
        match mode {
            Autocommit::On if in_tx => st.exec("COMMIT")?,
            Autocommit::Off if !in_tx => st.exec("BEGIN")?,
            _ => {}
        }
        st.autocommit = mode;
        Ok(())
    }

    /// Sets `Connection.row_factory`.
    pub fn set_row_factory(&self, f: RowFactory) -> Result<()> {
        self.lock()?.row_factory = f;
        Ok(())
    }

    /// Sets `Connection.text_factory`.
    pub fn set_text_factory(&self, f: TextFactory) -> Result<()> {
        self.lock()?.text_factory = f;
        Ok(())
    }

    /// `Connection.interrupt()`: aborts the running query from any thread (exempt from the
    /// thread check, as in Python); it fails with `OperationalError: interrupted`.
    pub fn interrupt(&self) {
        self.inner.interrupt.interrupt();
    }

    /// `with con:` — runs `f`; commits if it succeeds, rolls back if it fails (and
    /// returns its error). The connection stays open. No-op transaction handling with
    /// `autocommit=True`.
    pub fn scope<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let r = f(self);
        if self.autocommit()? == Autocommit::On {
            return r;
        }
        match r {
            Ok(v) => {
                self.commit()?;
                Ok(v)
            }
            Err(e) => {
                self.rollback()?;
                Err(e)
            }
        }
    }

    /// The warnings recorded on this connection so far (see [`crate::warning`]).
    pub fn warnings(&self) -> Vec<crate::warning::Warning> {
        self.inner.warnings.recorded()
    }

    /// Removes and returns the warnings recorded on this connection.
    pub fn take_warnings(&self) -> Vec<crate::warning::Warning> {
        self.inner.warnings.take()
    }

    /// Sets what this connection does with warnings (Python's filter action); `None`
    /// follows [`crate::warning::set_global_warning_action`].
    pub fn set_warning_action(&self, action: Option<crate::warning::WarningAction>) {
        self.inner.warnings.set_action(action);
    }

    /// Sets a function called with each warning this connection records (`None`: the
    /// process-wide hook, if any).
    pub fn set_warning_hook(&self, hook: Option<crate::warning::WarningHook>) {
        self.inner.warnings.set_hook(hook);
    }

    /// `Connection.getlimit(category)` (`SQLITE_LIMIT_*` number). Unknown categories:
    /// `ProgrammingError: 'category' is out of bounds`.
    pub fn getlimit(&self, category: i32) -> Result<i32> {
        let l = limit_of(category)?;
        self.lock()?.db()?.limit(l).map_err(Error::from)
    }

    /// `Connection.setlimit(category, limit)`: returns the previous limit.
    pub fn setlimit(&self, category: i32, limit: i32) -> Result<i32> {
        let l = limit_of(category)?;
        self.lock()?.db()?.set_limit(l, limit).map_err(Error::from)
    }

    /// `Connection.getconfig(op)` (`SQLITE_DBCONFIG_*` number, 3.12+).
    pub fn getconfig(&self, op: i32) -> Result<bool> {
        let c = dbconfig_of(op)?;
        self.lock()?.db()?.db_config(c).map_err(Error::from)
    }

    /// `Connection.setconfig(op, enable)`: returns nothing, like Python's (`None`).
    pub fn setconfig(&self, op: i32, enable: bool) -> Result<()> {
        let c = dbconfig_of(op)?;
        self.lock()?
            .db()?
            .set_db_config(c, enable)
            .map(|_| ())
            .map_err(Error::from)
    }

    /// `Connection.serialize(name="main")`: the database image as bytes.
    pub fn serialize(&self, name: &str) -> Result<Vec<u8>> {
        let st = self.lock()?;
        let data = st.db()?.serialize(name).map_err(Error::from)?;
        Ok(data.to_vec())
    }

    /// `Connection.deserialize(data, name="main")`: replaces the database with `data`.
    pub fn deserialize(&self, data: &[u8], name: &str) -> Result<()> {
        let mut st = self.lock()?;
        st.db_mut()?
            .deserialize_read_exact(name, data, data.len(), false)
            .map_err(Error::from)
    }

    /// `Connection.enable_load_extension(enabled)`.
    pub fn enable_load_extension(&self, enabled: bool) -> Result<()> {
        let st = self.lock()?;
        let db = st.db()?;
        if enabled {
            // SAFETY: enabling extension loading is what the caller asks for; loading
            // code is the documented risk of this API, as in Python.
            unsafe { db.load_extension_enable() }.map_err(Error::from)
        } else {
            db.load_extension_disable().map_err(Error::from)
        }
    }

    /// `Connection.load_extension(path, *, entrypoint=None)`.
    pub fn load_extension(&self, path: &Path, entrypoint: Option<&str>) -> Result<()> {
        let st = self.lock()?;
        // SAFETY: the caller asked to run the extension's code (Python's contract).
        unsafe { st.db()?.load_extension(path, entrypoint) }.map_err(Error::from)
    }

    /// `Connection.backup(target, *, pages=-1, progress=None, name="main", sleep=0.250)`:
    /// copies database `name` into `target`'s main database, `pages` pages per step
    /// (all at once when ≤ 0), calling `progress(status, remaining, total)` after each.
    pub fn backup(
        &self,
        target: &Connection,
        pages: i32,
        mut progress: Option<&mut dyn FnMut(i32, i32, i32)>,
        name: &str,
        sleep: Duration,
    ) -> Result<()> {
        if Arc::ptr_eq(&self.inner, &target.inner) {
            return Err(Error::value(
                "target cannot be the same connection instance",
            ));
        }
        let src = self.lock()?;
        let mut dst = target.lock()?;
        let b = rusqlite::backup::Backup::new_with_names(src.db()?, name, dst.db_mut()?, "main")?;
        let step = if pages <= 0 { -1 } else { pages };
        loop {
            let r = b.step(step)?;
            let p = b.progress();
            use rusqlite::backup::StepResult;
            let status = match r {
                StepResult::Done => 101,
                StepResult::More => 0,
                StepResult::Busy => 5,
                StepResult::Locked => 6,
                _ => 0,
            };
            if let Some(f) = progress.as_mut() {
                f(status, p.remaining, p.pagecount);
            }
            match r {
                StepResult::Done => return Ok(()),
                StepResult::Busy | StepResult::Locked => std::thread::sleep(sleep),
                _ => {}
            }
        }
    }

    /// `Connection.blobopen(table, column, row, *, readonly=False, name="main")`.
    pub fn blobopen(
        &self,
        table: &str,
        column: &str,
        row: i64,
        readonly: bool,
        name: &str,
    ) -> Result<crate::blob::Blob> {
        crate::blob::Blob::open(self.clone(), table, column, row, readonly, name)
    }

    /// `Connection.iterdump(*, filter=None)` (3.13 output): the SQL text that recreates
    /// the database, one statement per item.
    pub fn iterdump(&self, filter: Option<&str>) -> Result<Vec<String>> {
        let st = self.lock()?;
        crate::dump::iterdump(st.db()?, filter)
    }
}

fn limit_of(category: i32) -> Result<rusqlite::limits::Limit> {
    use rusqlite::limits::Limit as L;
    Ok(match category {
        0 => L::SQLITE_LIMIT_LENGTH,
        1 => L::SQLITE_LIMIT_SQL_LENGTH,
        2 => L::SQLITE_LIMIT_COLUMN,
        3 => L::SQLITE_LIMIT_EXPR_DEPTH,
        4 => L::SQLITE_LIMIT_COMPOUND_SELECT,
        5 => L::SQLITE_LIMIT_VDBE_OP,
        6 => L::SQLITE_LIMIT_FUNCTION_ARG,
        7 => L::SQLITE_LIMIT_ATTACHED,
        8 => L::SQLITE_LIMIT_LIKE_PATTERN_LENGTH,
        9 => L::SQLITE_LIMIT_VARIABLE_NUMBER,
        10 => L::SQLITE_LIMIT_TRIGGER_DEPTH,
        11 => L::SQLITE_LIMIT_WORKER_THREADS,
        _ => return Err(Error::programming("'category' is out of bounds")),
    })
}

fn dbconfig_of(op: i32) -> Result<rusqlite::config::DbConfig> {
    use rusqlite::config::DbConfig as C;
    Ok(match op {
        1002 => C::SQLITE_DBCONFIG_ENABLE_FKEY,
        1003 => C::SQLITE_DBCONFIG_ENABLE_TRIGGER,
        1004 => C::SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER,
        1006 => C::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        1007 => C::SQLITE_DBCONFIG_ENABLE_QPSG,
        1008 => C::SQLITE_DBCONFIG_TRIGGER_EQP,
        1009 => C::SQLITE_DBCONFIG_RESET_DATABASE,
        1010 => C::SQLITE_DBCONFIG_DEFENSIVE,
        1011 => C::SQLITE_DBCONFIG_WRITABLE_SCHEMA,
        1012 => C::SQLITE_DBCONFIG_LEGACY_ALTER_TABLE,
        1013 => C::SQLITE_DBCONFIG_DQS_DML,
        1014 => C::SQLITE_DBCONFIG_DQS_DDL,
        1015 => C::SQLITE_DBCONFIG_ENABLE_VIEW,
        1016 => C::SQLITE_DBCONFIG_LEGACY_FILE_FORMAT,
        1017 => C::SQLITE_DBCONFIG_TRUSTED_SCHEMA,
        _ => {
            return Err(Error::new(
                ErrorKind::ValueError,
                format!("unknown config 'op': {op}"),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A callback using its own connection gets an error, not a deadlock.
    #[test]
    fn reentry_from_a_callback_is_refused() {
        let c = connect(":memory:", &ConnectOptions::default()).unwrap();
        let inner = c.clone();
        c.create_function(
            "again",
            0,
            move |_| {
                let e = inner.execute("select 1", ()).unwrap_err();
                assert_eq!(e.message, "Recursive use of cursors not allowed.");
                Err(e)
            },
            false,
        )
        .unwrap();
        let e = c.execute("select again()", ()).unwrap_err();
        assert_eq!(e.message, "user-defined function raised exception");
        // The connection is usable afterwards.
        assert!(c.execute("select 1", ()).is_ok());
    }

    /// A cursor's pending query holds a read on its table (SQLite refuses DROP TABLE);
    /// dropping the cursor resets the statement, also when it is dropped inside a callback
    /// running on this connection (the slot is freed at the next lock).
    #[test]
    fn dropped_cursors_release_their_statements() {
        let c = connect(":memory:", &ConnectOptions::default()).unwrap();
        c.execute("create table t(a)", ()).unwrap();
        c.executemany("insert into t values (?)", (0..5).map(|i| [i]))
            .unwrap();
        c.commit().unwrap();
        let mut cur = c.execute("select a from t", ()).unwrap();
        assert!(cur.fetchone().unwrap().is_some());
        let e = c.execute("drop table t", ()).unwrap_err();
        assert_eq!(e.message, "database table is locked");
        drop(cur);
        c.execute("create table u(a)", ()).unwrap();
        c.execute("insert into u values (1)", ()).unwrap();
        c.commit().unwrap();
        let pending = Arc::new(Mutex::new(Some(c.execute("select a from t", ()).unwrap())));
        let inside = pending.clone();
        c.create_function(
            "drop_cursor",
            0,
            move |_| {
                drop(inside.lock().unwrap().take());
                Ok(Value::Int(1))
            },
            false,
        )
        .unwrap();
        c.execute("select drop_cursor()", ()).unwrap();
        assert!(pending.lock().unwrap().is_none());
        c.execute("drop table t", ()).unwrap();
    }

    #[test]
    fn isolation_level_and_autocommit_setters() {
        let c = connect(":memory:", &ConnectOptions::default()).unwrap();
        assert_eq!(c.isolation_level().unwrap(), Some(String::new()));
        c.execute("create table t(a)", ()).unwrap();
        c.execute("insert into t values (1)", ()).unwrap();
        assert!(c.in_transaction().unwrap());
        c.set_isolation_level(None).unwrap(); // commits
        assert!(!c.in_transaction().unwrap());
        c.set_autocommit(Autocommit::Off).unwrap(); // begins
        assert!(c.in_transaction().unwrap());
        c.execute("insert into t values (2)", ()).unwrap();
        c.close().unwrap(); // rolls back
        assert_eq!(
            c.execute("select 1", ()).unwrap_err().message,
            "Cannot operate on a closed database."
        );
    }

    /// interrupt() from another thread aborts a running query (`OperationalError: interrupted`).
    #[test]
    fn interrupt_from_another_thread() {
        let c = connect(":memory:", &ConnectOptions::default()).unwrap();
        let other = c.clone();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            other.interrupt();
        });
        let e = c
            .execute(
                "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n",
                (),
            )
            .unwrap_err();
        h.join().unwrap();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::OperationalError, "interrupted")
        );
    }

    #[test]
    fn factories_config_and_extensions() {
        let c = connect(":memory:", &ConnectOptions::default()).unwrap();
        c.set_text_factory(TextFactory::Custom(Arc::new(|b: &[u8]| {
            Ok(Value::Text(String::from_utf8_lossy(b).to_uppercase()))
        })))
        .unwrap();
        c.set_row_factory(RowFactory::Custom(Arc::new(
            |cols: &[String], vals: Vec<Value>| {
                Ok(Value::Text(format!("{}={}", cols[0], vals[0].repr())))
            },
        )))
        .unwrap();
        let v = c
            .execute("select 'abc' as k", ())
            .unwrap()
            .fetchone()
            .unwrap()
            .unwrap();
        assert_eq!(v, Value::Text("k='ABC'".into()));
        // getconfig reads back what setconfig set (3.12+).
        c.setconfig(1002, true).unwrap();
        assert!(c.getconfig(1002).unwrap());
        assert!(c.getconfig(9999).is_err());
        // Extensions: disabled by default; enabled, a missing library is an OperationalError.
        let e = c
            .load_extension(Path::new("/nonexistent/ext.so"), None)
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::OperationalError);
        c.enable_load_extension(true).unwrap();
        let e = c
            .load_extension(Path::new("/nonexistent/ext.so"), None)
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::OperationalError);
        c.enable_load_extension(false).unwrap();
    }
}
