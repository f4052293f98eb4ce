//! Prepared statements a cursor keeps between calls, and Python's statement cache
//! (spec §1.4: `cached_statements`, an LRU of prepared statements keyed by SQL text).
//!
//! rusqlite's `Statement<'conn>` borrows its `Connection` and resets itself when its
//! `Rows` are dropped, so it cannot stay half-stepped inside a cursor between two fetches
//! (Python steps lazily). This module owns the `sqlite3_stmt` handle itself, through
//! rusqlite's `ffi`. Every [`Statement`] lives in the connection's `State` (the cache or a
//! cursor's slot) and is used only while that state's mutex is held; `Connection::close`
//! finalizes all of them before it closes the handle.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, CStr};
use std::ptr::NonNull;

use pydbm_engine::slab::Slab;
use rusqlite::ffi;
use rusqlite::types::{ToSqlOutput, ValueRef};

use crate::error::{Error, Result};

/// The error SQLite reports on `db` for the failed call that returned `rc`, as rusqlite
/// reports it (so it maps to the same DB-API error).
pub(crate) fn sqlite_error(db: *mut ffi::sqlite3, rc: c_int) -> rusqlite::Error {
    // SAFETY: db is an open connection handle (callers hold the connection's state lock
    // and the handle is only closed under that lock); sqlite3_extended_errcode and
    // sqlite3_errmsg only read its error state; the message is copied before return.
    let (code, msg) = unsafe {
        let code = ffi::sqlite3_extended_errcode(db);
        let p = ffi::sqlite3_errmsg(db);
        let msg = (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned());
        (if code == 0 { rc } else { code }, msg)
    };
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), msg)
}

/// One prepared statement (`sqlite3_stmt`), finalized on drop.
#[derive(Debug)]
pub(crate) struct Statement {
    raw: NonNull<ffi::sqlite3_stmt>,
    db: NonNull<ffi::sqlite3>,
    /// Whether some parameter is named (`:a`, `@a`, `$a`; not `?NNN`), found at prepare
    /// time so binding a sequence checks Python 3.12's deprecation once per statement.
    has_named_params: bool,
}

// SAFETY: the handle is opened with SQLITE_OPEN_NOMUTEX (multi-thread mode), where a
// connection and its statements may be used from any thread, one thread at a time. A
// Statement is only reachable through the connection's `State`, behind its mutex, so no
// two threads use it (or its connection) at once.
unsafe impl Send for Statement {}

/// What [`Statement::prepare`] found in `sql`.
pub(crate) enum Prepared {
    /// One statement (anything after it is whitespace or comments).
    One(Statement),
    /// No statement at all (empty, or only comments).
    Empty,
}

impl Statement {
    /// Compiles the first statement of `sql` on `db`. Text after it that holds another
    /// statement is rusqlite's `MultipleStatement` error (as `Connection::prepare`).
    pub(crate) fn prepare(db: &rusqlite::Connection, sql: &str) -> rusqlite::Result<Prepared> {
        // SAFETY: handle() returns the open connection's pointer; it stays open while the
        // caller holds the state lock (and every Statement is finalized before close).
        let handle = unsafe { db.handle() };
        let Some(dbp) = NonNull::new(handle) else {
            return Err(rusqlite::Error::InvalidQuery);
        };
        let (first, tail) = prepare_one(dbp, sql)?;
        let Some(stmt) = first else {
            return Ok(Prepared::Empty);
        };
        let rest = &sql[tail..];
        if !rest.is_empty() {
            // Like rusqlite: a tail that compiles to a statement (or fails to compile) is
            // an error; whitespace and comments are not.
            if prepare_one(dbp, rest)?.0.is_some() {
                return Err(rusqlite::Error::MultipleStatement);
            }
        }
        Ok(Prepared::One(stmt))
    }

    fn db(&self) -> *mut ffi::sqlite3 {
        self.db.as_ptr()
    }

    fn err(&self, rc: c_int) -> Error {
        Error::from(sqlite_error(self.db(), rc))
    }

    /// `sqlite3_bind_parameter_count`.
    pub(crate) fn parameter_count(&self) -> usize {
        // SAFETY: raw is a live statement (finalized only in Drop).
        unsafe { ffi::sqlite3_bind_parameter_count(self.raw.as_ptr()) as usize }
    }

    /// The name of parameter `i` (1-based) with its `:`/`@`/`$`/`?` prefix, or `None` for
    /// a nameless `?`.
    pub(crate) fn parameter_name(&self, i: usize) -> Option<&str> {
        // SAFETY: raw is live; the returned string is owned by the statement and lives
        // as long as it (borrowed from &self), or is NULL.
        unsafe {
            let p = ffi::sqlite3_bind_parameter_name(self.raw.as_ptr(), i as c_int);
            cstr(p)
        }
    }

    /// Whether some parameter has a name other than `?NNN` (Python 3.12 deprecates binding
    /// those from a sequence).
    pub(crate) fn has_named_params(&self) -> bool {
        self.has_named_params
    }

    /// `sqlite3_stmt_readonly`: the statement makes no direct change to the database.
    pub(crate) fn readonly(&self) -> bool {
        // SAFETY: raw is live.
        unsafe { ffi::sqlite3_stmt_readonly(self.raw.as_ptr()) != 0 }
    }

    /// `sqlite3_column_count`.
    pub(crate) fn column_count(&self) -> usize {
        // SAFETY: raw is live.
        unsafe { ffi::sqlite3_column_count(self.raw.as_ptr()) as usize }
    }

    /// The name of result column `i` (`sqlite3_column_name`); "" if SQLite has none
    /// (out of memory).
    pub(crate) fn column_name(&self, i: usize) -> &str {
        // SAFETY: raw is live; the name stays valid until the statement is finalized or
        // re-prepared (a schema change re-prepares only inside step, which needs &mut).
        unsafe { cstr(ffi::sqlite3_column_name(self.raw.as_ptr(), i as c_int)).unwrap_or("") }
    }

    /// The declared type of result column `i` (`sqlite3_column_decltype`), if it is a
    /// table column with one.
    pub(crate) fn column_decltype(&self, i: usize) -> Option<&str> {
        // SAFETY: as in column_name.
        unsafe { cstr(ffi::sqlite3_column_decltype(self.raw.as_ptr(), i as c_int)) }
    }

    /// Binds `v` to parameter `i` (1-based). Text and blobs are copied by SQLite
    /// (`SQLITE_TRANSIENT`, as rusqlite binds them), so `v` may be dropped afterwards.
    pub(crate) fn bind(&mut self, i: usize, v: &ToSqlOutput<'_>) -> Result<()> {
        use rusqlite::types::Value as S;
        let r = match v {
            ToSqlOutput::Borrowed(v) => *v,
            ToSqlOutput::Owned(S::Null) => ValueRef::Null,
            ToSqlOutput::Owned(S::Integer(n)) => ValueRef::Integer(*n),
            ToSqlOutput::Owned(S::Real(f)) => ValueRef::Real(*f),
            ToSqlOutput::Owned(S::Text(s)) => ValueRef::Text(s.as_bytes()),
            ToSqlOutput::Owned(S::Blob(b)) => ValueRef::Blob(b),
            // The only other forms rusqlite has (zeroblob, arrays) are never produced here.
            _ => return Err(Error::programming("unsupported parameter form")),
        };
        let st = self.raw.as_ptr();
        let col = i as c_int;
        // SAFETY: st is live; text/blob pointers are valid for len bytes during the call
        // and SQLITE_TRANSIENT makes SQLite copy them before returning. Empty text and
        // blobs use a static non-NULL pointer / zeroblob, since NULL would bind NULL.
        let rc = unsafe {
            match r {
                ValueRef::Null => ffi::sqlite3_bind_null(st, col),
                ValueRef::Integer(n) => ffi::sqlite3_bind_int64(st, col, n),
                ValueRef::Real(f) => ffi::sqlite3_bind_double(st, col, f),
                ValueRef::Text(t) => {
                    let p: *const c_char = if t.is_empty() {
                        c"".as_ptr()
                    } else {
                        t.as_ptr().cast()
                    };
                    ffi::sqlite3_bind_text64(
                        st,
                        col,
                        p,
                        t.len() as u64,
                        ffi::SQLITE_TRANSIENT(),
                        ffi::SQLITE_UTF8 as u8,
                    )
                }
                ValueRef::Blob([]) => ffi::sqlite3_bind_zeroblob(st, col, 0),
                ValueRef::Blob(b) => ffi::sqlite3_bind_blob64(
                    st,
                    col,
                    b.as_ptr().cast(),
                    b.len() as u64,
                    ffi::SQLITE_TRANSIENT(),
                ),
            }
        };
        if rc == ffi::SQLITE_OK {
            Ok(())
        } else {
            Err(self.err(rc))
        }
    }

    /// `sqlite3_step`: `true` when a row is ready, `false` when done. On an error the
    /// statement is reset (as Python does) and SQLite's error is returned.
    #[inline]
    pub(crate) fn step(&mut self) -> Result<bool> {
        // SAFETY: st is live and used by one thread at a time (state lock).
        let rc = unsafe { ffi::sqlite3_step(self.raw.as_ptr()) };
        match rc {
            ffi::SQLITE_ROW => Ok(true),
            ffi::SQLITE_DONE => Ok(false),
            rc => {
                let e = self.err(rc);
                self.reset();
                Err(e)
            }
        }
    }

    /// `sqlite3_reset`: back to the start, bindings kept. Its return code repeats the last
    /// step's error, which has already been reported, so it is ignored.
    pub(crate) fn reset(&mut self) {
        // SAFETY: st is live.
        unsafe { ffi::sqlite3_reset(self.raw.as_ptr()) };
    }

    /// `sqlite3_clear_bindings`: every parameter back to NULL.
    pub(crate) fn clear_bindings(&mut self) {
        // SAFETY: st is live.
        unsafe { ffi::sqlite3_clear_bindings(self.raw.as_ptr()) };
    }

    /// Column `i` of the current row (only valid after [`Statement::step`] returned `true`
    /// and until the next step or reset, which both need `&mut self`).
    ///
    /// Read through one `sqlite3_column_value` and the `sqlite3_value_*` accessors: one
    /// column lookup per value instead of one per accessor (type, then text, then length).
    /// sqlite3.h calls such an unprotected value not thread-safe; every use of this
    /// statement and its connection happens under the connection's state lock, so no
    /// other thread touches the connection while the value is read.
    #[inline]
    pub(crate) fn value_ref(&self, i: usize) -> ValueRef<'_> {
        let st = self.raw.as_ptr();
        // SAFETY: st is live and positioned on a row; `v` is the column's value, valid until
        // the next step/reset/finalize (all of which need &mut self or self by value).
        // text/blob pointers are read after the type check and before the length, per
        // sqlite3.h. A NULL text/blob pointer with a nonzero length cannot occur except on
        // OOM, where an empty value is returned rather than reading through NULL.
        unsafe {
            let v = ffi::sqlite3_column_value(st, i as c_int);
            match ffi::sqlite3_value_type(v) {
                ffi::SQLITE_INTEGER => ValueRef::Integer(ffi::sqlite3_value_int64(v)),
                ffi::SQLITE_FLOAT => ValueRef::Real(ffi::sqlite3_value_double(v)),
                ffi::SQLITE_TEXT => {
                    let p = ffi::sqlite3_value_text(v);
                    let n = ffi::sqlite3_value_bytes(v) as usize;
                    ValueRef::Text(bytes_at(p, n))
                }
                ffi::SQLITE_BLOB => {
                    let p = ffi::sqlite3_value_blob(v).cast::<u8>();
                    let n = ffi::sqlite3_value_bytes(v) as usize;
                    ValueRef::Blob(bytes_at(p, n))
                }
                _ => ValueRef::Null,
            }
        }
    }
}

impl Drop for Statement {
    fn drop(&mut self) {
        // SAFETY: raw is live and dropped once; the connection is still open because
        // every Statement is dropped (close() and State's field order) before the handle.
        unsafe { ffi::sqlite3_finalize(self.raw.as_ptr()) };
    }
}

/// `len` bytes at `p`, or an empty slice for NULL.
///
/// # Safety
/// `p` must be NULL or valid for reads of `len` bytes for the returned lifetime.
unsafe fn bytes_at<'a>(p: *const u8, len: usize) -> &'a [u8] {
    if p.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: guaranteed by the caller.
        unsafe { std::slice::from_raw_parts(p, len) }
    }
}

/// A NUL-terminated UTF-8 string SQLite owns, or `None` for NULL (or invalid UTF-8, which
/// SQLite's own names never are).
///
/// # Safety
/// `p` must be NULL or point to a NUL-terminated string valid for the returned lifetime.
unsafe fn cstr<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        return None;
    }
    // SAFETY: guaranteed by the caller.
    unsafe { CStr::from_ptr(p) }.to_str().ok()
}

/// Compiles the first statement of `sql`; returns it (None for no statement) and the byte
/// offset where the rest of `sql` begins.
fn prepare_one(
    db: NonNull<ffi::sqlite3>,
    sql: &str,
) -> rusqlite::Result<(Option<Statement>, usize)> {
    if sql.len() >= c_int::MAX as usize {
        return Err(rusqlite::Error::SqliteFailure(
            ffi::Error::new(ffi::SQLITE_TOOBIG),
            None,
        ));
    }
    let mut raw: *mut ffi::sqlite3_stmt = std::ptr::null_mut();
    let mut tail: *const c_char = std::ptr::null();
    let start = sql.as_ptr().cast::<c_char>();
    // SAFETY: db is open; sql is valid for sql.len() bytes (SQLite does not need a NUL
    // when given the length); raw and tail are valid out-pointers. tail points into sql.
    let rc = unsafe {
        ffi::sqlite3_prepare_v2(db.as_ptr(), start, sql.len() as c_int, &mut raw, &mut tail)
    };
    if rc != ffi::SQLITE_OK {
        return Err(sqlite_error(db.as_ptr(), rc));
    }
    let consumed = if tail.is_null() {
        sql.len()
    } else {
        // tail is inside sql or one past its end.
        (tail as usize)
            .saturating_sub(start as usize)
            .min(sql.len())
    };
    let stmt = NonNull::new(raw).map(|raw| {
        let mut stmt = Statement {
            raw,
            db,
            has_named_params: false,
        };
        stmt.has_named_params = (1..=stmt.parameter_count())
            .any(|i| stmt.parameter_name(i).is_some_and(|n| !n.starts_with('?')));
        stmt
    });
    Ok((stmt, consumed))
}

/// Where a checked-out statement goes back to: its cache slot and that slot's generation
/// (a slot evicted meanwhile has a new generation, and the statement is finalized).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CacheToken {
    slot: usize,
    generation: u64,
}

struct CacheSlot {
    sql: Box<str>,
    /// `None` while a cursor has it checked out.
    stmt: Option<Statement>,
    generation: u64,
    last_used: u64,
}

/// Python's per-connection statement cache: at most `capacity` statements by SQL text,
/// least recently used evicted. A statement is checked out by one cursor at a time; a
/// second cursor running the same SQL meanwhile gets a fresh, uncached statement (as
/// CPython does when the cached one is in use).
pub(crate) struct StatementCache {
    capacity: usize,
    index: HashMap<Box<str>, usize>,
    slots: Slab<CacheSlot>,
    clock: u64,
}

impl StatementCache {
    /// An empty cache holding at most `capacity` statements (0: no caching).
    pub(crate) fn new(capacity: usize) -> StatementCache {
        StatementCache {
            capacity,
            index: HashMap::new(),
            slots: Slab::new(),
            clock: 0,
        }
    }

    /// A statement for `sql` (one hash lookup on a hit), and where to return it.
    pub(crate) fn checkout(
        &mut self,
        db: &rusqlite::Connection,
        sql: &str,
    ) -> rusqlite::Result<Option<(Statement, Option<CacheToken>)>> {
        self.clock += 1;
        if let Some(&i) = self.index.get(sql) {
            if let Some(slot) = self.slots.get_mut(i) {
                slot.last_used = self.clock;
                let token = CacheToken {
                    slot: i,
                    generation: slot.generation,
                };
                if let Some(stmt) = slot.stmt.take() {
                    return Ok(Some((stmt, Some(token))));
                }
            }
            // In use by another cursor: a private statement.
            return Ok(match Statement::prepare(db, sql)? {
                Prepared::One(s) => Some((s, None)),
                Prepared::Empty => None,
            });
        }
        let stmt = match Statement::prepare(db, sql)? {
            Prepared::One(s) => s,
            Prepared::Empty => return Ok(None),
        };
        if self.capacity == 0 {
            return Ok(Some((stmt, None)));
        }
        if self.index.len() >= self.capacity {
            self.evict_lru();
        }
        let generation = self.clock;
        let slot = CacheSlot {
            sql: sql.into(),
            stmt: None,
            generation,
            last_used: self.clock,
        };
        let i = self.slots.insert(slot);
        self.index.insert(sql.into(), i);
        Ok(Some((
            stmt,
            Some(CacheToken {
                slot: i,
                generation,
            }),
        )))
    }

    fn evict_lru(&mut self) {
        let lru = self.slots.iter().map(|(i, s)| (s.last_used, i)).min();
        if let Some(slot) = lru.and_then(|(_, i)| self.slots.remove(i)) {
            self.index.remove(&slot.sql);
        }
    }

    /// Gives a statement back: reset, bindings cleared, kept if its slot still exists and
    /// is empty, finalized otherwise.
    pub(crate) fn give_back(&mut self, mut stmt: Statement, token: Option<CacheToken>) {
        stmt.reset();
        stmt.clear_bindings();
        if let Some(t) = token {
            if let Some(slot) = self.slots.get_mut(t.slot) {
                if slot.generation == t.generation && slot.stmt.is_none() {
                    slot.stmt = Some(stmt);
                }
            }
        }
    }

    /// Finalizes every cached statement (before the connection closes).
    pub(crate) fn clear(&mut self) {
        self.index.clear();
        self.slots.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> rusqlite::Connection {
        rusqlite::Connection::open_in_memory().unwrap()
    }

    #[test]
    fn steps_binds_and_reads_columns() {
        let c = db();
        let Prepared::One(mut s) = Statement::prepare(&c, "select ?1, ?2, ?3, ?4, ?5").unwrap()
        else {
            panic!("one statement");
        };
        let vals = [
            ToSqlOutput::Owned(rusqlite::types::Value::Integer(7)),
            ToSqlOutput::Borrowed(ValueRef::Text(b"")),
            ToSqlOutput::Borrowed(ValueRef::Blob(b"")),
            ToSqlOutput::Borrowed(ValueRef::Real(1.5)),
            ToSqlOutput::Owned(rusqlite::types::Value::Null),
        ];
        for (i, v) in vals.iter().enumerate() {
            s.bind(i + 1, v).unwrap();
        }
        assert!(s.step().unwrap());
        assert_eq!(s.value_ref(0), ValueRef::Integer(7));
        // Empty text and blob stay text and blob (not NULL).
        assert_eq!(s.value_ref(1), ValueRef::Text(b""));
        assert_eq!(s.value_ref(2), ValueRef::Blob(b""));
        assert_eq!(s.value_ref(3), ValueRef::Real(1.5));
        assert_eq!(s.value_ref(4), ValueRef::Null);
        assert!(!s.step().unwrap());
    }

    #[test]
    fn multiple_statements_and_empty_sql() {
        let c = db();
        assert!(matches!(
            Statement::prepare(&c, "select 1; select 2"),
            Err(rusqlite::Error::MultipleStatement)
        ));
        assert!(matches!(
            Statement::prepare(&c, "select 1; -- trailing"),
            Ok(Prepared::One(_))
        ));
        assert!(matches!(
            Statement::prepare(&c, "/* nothing */"),
            Ok(Prepared::Empty)
        ));
    }

    #[test]
    fn cache_shares_evicts_and_hands_out_private_copies() {
        let c = db();
        let mut cache = StatementCache::new(2);
        let (a, ta) = cache.checkout(&c, "select 1").unwrap().unwrap();
        let a_ptr = a.raw;
        // Checked out: the same SQL gets a private statement.
        let (b, tb) = cache.checkout(&c, "select 1").unwrap().unwrap();
        assert!(tb.is_none());
        assert_ne!(b.raw, a_ptr);
        cache.give_back(b, tb);
        cache.give_back(a, ta);
        let (a2, ta2) = cache.checkout(&c, "select 1").unwrap().unwrap();
        assert_eq!(a2.raw, a_ptr, "a cache hit reuses the statement");
        cache.give_back(a2, ta2);
        // Two more SQL texts evict "select 1" (least recently used, capacity 2).
        for sql in ["select 2", "select 3"] {
            let (s, t) = cache.checkout(&c, sql).unwrap().unwrap();
            cache.give_back(s, t);
        }
        assert_eq!(cache.index.len(), 2);
        assert!(!cache.index.contains_key("select 1"));
    }
}
