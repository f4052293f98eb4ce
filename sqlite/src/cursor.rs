//! `sqlite3.Cursor` (spec §1.4, §1.5): statement execution with Python's parameter
//! binding, implicit transactions, converters, `rowcount`/`lastrowid`/`description`.
//!
//! Rows are stepped lazily, as CPython does: `execute` of a query steps its first row; each
//! row handed out (fetchone/fetchmany/fetchall/iteration) is read and then the next one is
//! stepped, so an error of a later step surfaces on the fetch that steps it (and the row
//! read before it is lost, as in Python). DML and DDL run to completion in `execute`. The
//! pending statement lives in the connection's state (a `QuerySlots` slot owned by the
//! cursor), so `Connection::close` finalizes it and later fetches fail with Python's
//! "Cannot operate on a closed database.".
//!
//! ```
//! use std::collections::BTreeMap;
//! use pydbm_sqlite::{connect, ConnectOptions, Value};
//!
//! let con = connect(":memory:", &ConnectOptions::default())?;
//! con.executescript("CREATE TABLE t (k, v); INSERT INTO t VALUES ('a', 1), ('b', 2.5);")?;
//! let mut cur = con.cursor()?;
//! cur.execute("SELECT k AS key, v FROM t ORDER BY k", ())?;
//! assert_eq!(cur.description(), Some(&["key".to_string(), "v".to_string()][..]));
//! assert_eq!(cur.fetchone()?.map(|row| row.repr()), Some("('a', 1)".to_string()));
//! assert_eq!(cur.fetchmany(Some(5))?.len(), 1);
//! assert!(cur.fetchone()?.is_none());
//!
//! let mut named = BTreeMap::new();
//! named.insert("k".to_string(), Value::Text("d".into()));
//! named.insert("v".to_string(), Value::Null);
//! cur.execute("INSERT INTO t VALUES (:k, :v)", named)?;
//! assert_eq!((cur.lastrowid(), cur.rowcount()), (Some(3), 1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;

use rusqlite::types::ValueRef;

use crate::connection::{
    Autocommit, Connection, RowFactory, State, PARSE_COLNAMES, PARSE_DECLTYPES,
};
use crate::error::{Error, Result};
use crate::row::Row;
use crate::statement::{CacheToken, Statement};
use crate::value::{converter, from_sql, ConverterFn, TextFactory, Tuple, Value};

pub use crate::params::{BindParams, Params, ToBind};

/// Values per block that fetched rows share (see [`Tuple`]): 1024 values, so 512 rows of two
/// columns cost one allocation besides their text.
const BLOCK_VALUES: usize = 1024;

/// A statement a cursor is in the middle of (a query with rows left).
pub(crate) struct Query {
    stmt: Statement,
    token: Option<CacheToken>,
    /// A row has been stepped and not handed out yet.
    has_row: bool,
    /// Python's `is_dml`: `rowcount` adds `changes()` when the statement completes.
    dml: bool,
    /// Column names as `description` shows them (shared by every `sqlite3.Row`).
    shown: Arc<[String]>,
    /// Converters by column (`detect_types`), `None` when there are none.
    convs: Option<Box<[Option<ConverterFn>]>>,
    /// Values of rows read but not yet cut into tuples: the block being filled, which
    /// becomes the rows' shared storage as it is (no copy).
    scratch: Vec<Value>,
    /// The block of the last row fetched alone (fetchone, iteration): reused in place for
    /// the next one when the caller has dropped that row, so `for row in cursor` costs no
    /// allocation per row beyond the values' own.
    single: Option<Arc<Vec<Value>>>,
}

/// Per connection: the statements its cursors are in the middle of, one slot per cursor
/// that has executed something. Only touched with the connection's state locked.
#[derive(Default)]
pub(crate) struct QuerySlots {
    slots: Vec<Option<Query>>,
    free: Vec<usize>,
}

impl QuerySlots {
    fn alloc(&mut self) -> usize {
        match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        }
    }

    fn get_mut(&mut self, slot: usize) -> Option<&mut Query> {
        self.slots.get_mut(slot).and_then(Option::as_mut)
    }

    /// Finalizes every pending statement (the connection is closing). Slots stay allocated
    /// to their cursors.
    pub(crate) fn finalize_all(&mut self) {
        for s in &mut self.slots {
            *s = None;
        }
    }
}

/// Ends the statement in `slot` (if any): reset and back to the statement cache.
fn release(st: &mut State, slot: usize) {
    if let Some(q) = st.queries.slots.get_mut(slot).and_then(Option::take) {
        st.statements.give_back(q.stmt, q.token);
    }
}

/// Releases `slot` for good (its cursor is gone).
pub(crate) fn free_slot(st: &mut State, slot: usize) {
    release(st, slot);
    if slot < st.queries.slots.len() {
        st.queries.free.push(slot);
    }
}

/// A cursor: runs statements and hands out their rows.
pub struct Cursor {
    conn: Connection,
    run: RunState,
    closed: bool,
    /// `Cursor.arraysize`: rows `fetchmany()` returns by default (1).
    pub arraysize: usize,
    /// `Cursor.row_factory`: overrides the connection's when set.
    pub row_factory: Option<RowFactory>,
}

/// What the last execution left in the cursor.
struct RunState {
    /// This cursor's slot in the connection's [`QuerySlots`].
    slot: Option<usize>,
    description: Option<Arc<[String]>>,
    rowcount: i64,
    lastrowid: Option<i64>,
}

impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("rowcount", &self.run.rowcount)
            .field("lastrowid", &self.run.lastrowid)
            .field("description", &self.run.description)
            .finish()
    }
}

/// Skips leading whitespace and SQL comments (`-- …\n`, `/* … */`).
pub(crate) fn skip_space_and_comments(sql: &str) -> &str {
    let mut s = sql;
    loop {
        let t = s.trim_start();
        if let Some(rest) = t.strip_prefix("--") {
            s = rest.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(rest) = t.strip_prefix("/*") {
            s = rest.split_once("*/").map_or("", |(_, r)| r);
        } else {
            return t;
        }
    }
}

/// CPython's `is_dml`: the first keyword (after whitespace and comments) is INSERT,
/// UPDATE, DELETE or REPLACE (spec §1.3). A `WITH … INSERT` is not.
pub(crate) fn is_dml(sql: &str) -> bool {
    let s = skip_space_and_comments(sql).as_bytes();
    ["insert", "update", "delete", "replace"]
        .iter()
        .any(|k| s.len() >= k.len() && s[..k.len()].eq_ignore_ascii_case(k.as_bytes()))
}

/// The name shown in `description`: with `PARSE_COLNAMES`, cut at `[` (and one space
/// before it), so `"x [foo]"` → `"x"`.
fn display_name(name: &str, detect: i32) -> String {
    if detect & PARSE_COLNAMES != 0 {
        if let Some(pos) = name.find('[') {
            let cut = if pos > 0 && name.as_bytes()[pos - 1] == b' ' {
                pos - 1
            } else {
                pos
            };
            return name[..cut].to_string();
        }
    }
    name.to_string()
}

/// The converter for a column: the `[name]` tag (PARSE_COLNAMES) takes precedence over the
/// first word of the declared type (PARSE_DECLTYPES) (spec §1.5).
fn converter_for(name: &str, decl: Option<&str>, detect: i32) -> Option<ConverterFn> {
    if detect & PARSE_COLNAMES != 0 {
        if let Some(a) = name.find('[') {
            if let Some(b) = name[a + 1..].find(']') {
                if let Some(c) = converter(&name[a + 1..a + 1 + b]) {
                    return Some(c);
                }
            }
        }
    }
    if detect & PARSE_DECLTYPES != 0 {
        if let Some(d) = decl {
            let word = d.split([' ', '(']).next().unwrap_or("");
            return converter(word);
        }
    }
    None
}

/// `sqlite3.complete_statement(sql)`: whether `sql` holds one or more complete statements
/// (ends with a `;` outside strings, comments and triggers), by `sqlite3_complete`.
pub fn complete_statement(sql: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(sql) else {
        return false;
    };
    // SAFETY: c is a valid NUL-terminated string; sqlite3_complete only reads it.
    unsafe { rusqlite::ffi::sqlite3_complete(c.as_ptr()) != 0 }
}

fn only_space_and_comments(s: &str) -> bool {
    let mut t = skip_space_and_comments(s);
    while let Some(rest) = t.strip_prefix(';') {
        t = skip_space_and_comments(rest);
    }
    t.is_empty()
}

/// Python reports "You can only execute one statement at a time." whenever anything but
/// whitespace and comments follows a valid first statement, even text that does not parse.
fn prepare_error(db: &rusqlite::Connection, sql: &str, e: rusqlite::Error) -> Error {
    for (i, b) in sql.bytes().enumerate() {
        if b == b';' && complete_statement(&sql[..=i]) {
            if db.prepare(&sql[..=i]).is_ok() && !only_space_and_comments(&sql[i + 1..]) {
                return Error::programming("You can only execute one statement at a time.");
            }
            break;
        }
    }
    Error::from(e)
}

/// Binds one parameter set, with Python's errors for a count or shape mismatch.
fn bind<P: BindParams + ?Sized>(stmt: &mut Statement, params: &P) -> Result<()> {
    let n = stmt.parameter_count();
    match params.positional_len() {
        Some(len) => {
            if len != n {
                return Err(Error::programming(format!(
                    "Incorrect number of bindings supplied. The current statement uses {n}, and there are {len} supplied."
                )));
            }
            if stmt.has_named_params() {
                crate::warning::named_placeholders_with_sequence(stmt, n)?;
            }
            for i in 0..n {
                // positional(i) exists for every i < len by the trait's contract; a
                // missing one binds NULL rather than panicking.
                match params.positional(i) {
                    Some(v) => {
                        let out = v.to_bind(i + 1)?;
                        stmt.bind(i + 1, &out)?;
                    }
                    None => stmt.bind(
                        i + 1,
                        &rusqlite::types::ToSqlOutput::Borrowed(ValueRef::Null),
                    )?,
                }
            }
        }
        None => {
            for i in 1..=n {
                let Some(name) = stmt.parameter_name(i) else {
                    return Err(Error::programming(format!(
                        "Binding {i} has no name, but you supplied a dictionary (which has only names)."
                    )));
                };
                let Some(v) = params.named(&name[1..]) else {
                    return Err(Error::programming(format!(
                        "You did not supply a value for binding parameter {name}."
                    )));
                };
                let out = v.to_bind(i)?;
                stmt.bind(i, &out)?;
            }
        }
    }
    Ok(())
}

impl RunState {
    /// Runs `sql` once per parameter set with the connection locked; a query run once
    /// (`execute`) is left in `slot` with its first row stepped.
    fn run<P: BindParams>(
        &mut self,
        st: &mut State,
        sql: &str,
        param_sets: impl Iterator<Item = P>,
        multiple: bool,
    ) -> Result<()> {
        let slot = match self.slot {
            Some(s) => s,
            None => {
                let s = st.queries.alloc();
                self.slot = Some(s);
                s
            }
        };
        // A new execute resets the statement the cursor was in the middle of.
        release(st, slot);
        self.description = None;
        let r = self.run_in(st, slot, sql, param_sets, multiple);
        if r.is_err() {
            self.rowcount = -1;
            release(st, slot);
        }
        r
    }

    fn run_in<P: BindParams>(
        &mut self,
        st: &mut State,
        slot: usize,
        sql: &str,
        param_sets: impl Iterator<Item = P>,
        multiple: bool,
    ) -> Result<()> {
        let Some(db) = st.db.as_ref() else {
            return Err(Error::closed_database());
        };
        if only_space_and_comments(sql) {
            // An empty statement (or only comments) does nothing (CPython 3.11).
            self.rowcount = -1;
            return Ok(());
        }
        let (stmt, token) = match st.statements.checkout(db, sql) {
            Ok(Some(x)) => x,
            Ok(None) => {
                self.rowcount = -1;
                return Ok(());
            }
            Err(e) => return Err(prepare_error(db, sql, e)),
        };
        let readonly = stmt.readonly();
        let detect = st.detect_types;
        let ncols = stmt.column_count();
        let shown: Arc<[String]> = (0..ncols)
            .map(|i| display_name(stmt.column_name(i), detect))
            .collect();
        let convs = (detect != 0 && ncols > 0).then(|| {
            (0..ncols)
                .map(|i| converter_for(stmt.column_name(i), stmt.column_decltype(i), detect))
                .collect::<Box<[_]>>()
        });
        let dml = is_dml(sql);
        // From here on the statement sits in the slot, so an error path gives it back.
        st.queries.slots[slot] = Some(Query {
            stmt,
            token,
            has_row: false,
            dml,
            shown: shown.clone(),
            convs,
            scratch: Vec::new(),
            single: None,
        });
        if multiple && readonly {
            return Err(Error::programming(
                "executemany() can only execute DML statements.",
            ));
        }
        // spec §1.3: legacy mode begins a transaction before DML outside one.
        if st.autocommit == Autocommit::Legacy && dml && db.is_autocommit() {
            if let Some(level) = &st.isolation_level {
                db.execute_batch(&format!("BEGIN {level}"))
                    .map_err(Error::from)?;
            }
        }
        let Some(q) = st.queries.get_mut(slot) else {
            return Err(Error::programming("statement slot lost"));
        };
        self.rowcount = if dml { 0 } else { -1 };
        let mut first = true;
        for params in param_sets {
            if !first {
                q.stmt.reset();
            }
            first = false;
            bind(&mut q.stmt, &params)?;
            if multiple {
                // Rows of a DML statement with RETURNING are stepped through and dropped.
                while q.stmt.step()? {}
                if dml {
                    self.rowcount += db.changes() as i64;
                }
            } else if q.stmt.step()? {
                q.has_row = true;
            } else if dml {
                self.rowcount += db.changes() as i64;
            }
        }
        if !multiple {
            self.lastrowid = Some(db.last_insert_rowid());
        }
        if ncols > 0 {
            self.description = Some(shown);
        }
        if !q.has_row {
            release(st, slot);
        }
        Ok(())
    }

    /// One row (fetchone, iteration): read it, then step the next.
    fn fetch_one(
        &mut self,
        st: &mut State,
        row_factory: Option<&RowFactory>,
    ) -> Result<Option<Value>> {
        let Some(slot) = self.slot else {
            return Ok(None);
        };
        let State {
            db,
            queries,
            row_factory: conn_factory,
            text_factory,
            ..
        } = &mut *st;
        let Some(db) = db.as_ref() else {
            return Err(Error::closed_database());
        };
        let Some(q) = queries.get_mut(slot) else {
            return Ok(None);
        };
        if !q.has_row {
            return Ok(None);
        }
        let factory = row_factory.unwrap_or(conn_factory);
        // A row that cannot be converted stays current (no step), as in Python. When the
        // previous single row's block is ours alone again, the values go straight into it.
        let n = q.shown.len();
        let reusable = match (factory, q.single.as_mut().and_then(unshared)) {
            (RowFactory::Custom(_), _) => None,
            (_, Some(b)) if b.len() == n => Some(b),
            _ => None,
        };
        let in_place = match reusable {
            Some(b) => {
                if q.convs.is_none() && matches!(text_factory, TextFactory::Str) {
                    for (i, slot) in b.iter_mut().enumerate() {
                        plain_value_into(slot, &q.stmt, i)?;
                    }
                } else {
                    for (i, slot) in b.iter_mut().enumerate() {
                        *slot = column_value(&q.stmt, q.convs.as_deref(), i, db, text_factory)?;
                    }
                }
                true
            }
            None => {
                q.scratch.clear();
                read_row(q, db, text_factory)?;
                false
            }
        };
        let result = match q.stmt.step() {
            Err(e) => {
                // Python drops the row it read, resets and forgets the statement.
                q.has_row = false;
                Err(e)
            }
            Ok(more) => {
                if !more {
                    q.has_row = false;
                    if q.dml {
                        self.rowcount += db.changes() as i64;
                    }
                }
                match factory {
                    RowFactory::Custom(f) => {
                        let vals: Vec<Value> = q.scratch.drain(..).collect();
                        f(&q.shown, vals).map(Some)
                    }
                    _ if in_place => Ok(Some(row_object(q, factory))),
                    _ => Ok(Some(single_row(q, factory))),
                }
            }
        };
        if !q.has_row {
            release(st, slot);
        }
        result
    }

    /// Hands out up to `limit` rows to `sink`: each is read, then the next one stepped.
    fn fetch(
        &mut self,
        st: &mut State,
        row_factory: Option<&RowFactory>,
        limit: usize,
        sink: &mut dyn FnMut(Value),
    ) -> Result<()> {
        let Some(slot) = self.slot else {
            return Ok(());
        };
        let State {
            db,
            queries,
            row_factory: conn_factory,
            text_factory,
            ..
        } = &mut *st;
        let Some(db) = db.as_ref() else {
            return Err(Error::closed_database());
        };
        let Some(q) = queries.get_mut(slot) else {
            return Ok(());
        };
        let factory = row_factory.unwrap_or(conn_factory);
        let ncols = q.shown.len().max(1);
        let block_rows = (BLOCK_VALUES / ncols).clamp(1, limit.max(1));
        let mut pending = 0usize;
        let mut handed = 0usize;
        let mut failure = None;
        q.scratch.clear();
        while handed + pending < limit && q.has_row {
            if q.scratch.capacity() == 0 {
                q.scratch.reserve_exact(block_rows * q.shown.len());
            }
            if let Err(e) = read_row(q, db, text_factory) {
                q.scratch.truncate(pending * q.shown.len());
                failure = Some(e);
                break;
            }
            match q.stmt.step() {
                Ok(true) => {}
                Ok(false) => {
                    q.has_row = false;
                    if q.dml {
                        self.rowcount += db.changes() as i64;
                    }
                }
                Err(e) => {
                    // Python drops the row it read, resets and forgets the statement.
                    q.has_row = false;
                    q.scratch.clear();
                    pending = 0;
                    failure = Some(e);
                    break;
                }
            }
            pending += 1;
            if let RowFactory::Custom(f) = factory {
                let vals: Vec<Value> = q.scratch.drain(..).collect();
                pending = 0;
                handed += 1;
                match f(&q.shown, vals) {
                    Ok(v) => sink(v),
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            } else if pending == block_rows {
                handed += pending;
                cut_block(q, pending, factory, sink);
                pending = 0;
            }
        }
        if pending > 0 {
            cut_block(q, pending, factory, sink);
        }
        if !q.has_row {
            release(st, slot);
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Reads the current row's columns into `q.scratch`, converting as Python does.
fn read_row(q: &mut Query, db: &rusqlite::Connection, tf: &TextFactory) -> Result<()> {
    if q.convs.is_none() && matches!(tf, TextFactory::Str) {
        // No converters, text as `str`: the plain mapping, one match per column.
        for i in 0..q.shown.len() {
            let v = plain_value(&q.stmt, i)?;
            q.scratch.push(v);
        }
        return Ok(());
    }
    for i in 0..q.shown.len() {
        let v = column_value(&q.stmt, q.convs.as_deref(), i, db, tf)?;
        q.scratch.push(v);
    }
    Ok(())
}

/// Column `i` of the current row under the plain mapping (no converter, text as `str`).
#[inline(always)]
fn plain_value(stmt: &Statement, i: usize) -> Result<Value> {
    Ok(match stmt.value_ref(i) {
        ValueRef::Integer(x) => Value::Int(x),
        ValueRef::Real(x) => Value::Float(x),
        ValueRef::Null => Value::Null,
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => Value::Text(s.to_owned()),
            // Invalid UTF-8: from_sql's OperationalError.
            Err(_) => from_sql(ValueRef::Text(t), &TextFactory::Str, stmt.column_name(i))?,
        },
    })
}

/// Stores column `i` of the current row in `slot` under the plain mapping, as
/// [`plain_value`] would, reusing the text or bytes buffer the slot already holds when the
/// new value fits in it: the slot belongs to a row the caller has dropped (its block is
/// ours alone), so `for row in cursor` over a text column allocates nothing per row once
/// the buffer has grown to the column's longest value.
#[inline(always)]
fn plain_value_into(slot: &mut Value, stmt: &Statement, i: usize) -> Result<()> {
    match (stmt.value_ref(i), &mut *slot) {
        (ValueRef::Integer(x), _) => *slot = Value::Int(x),
        (ValueRef::Real(x), _) => *slot = Value::Float(x),
        (ValueRef::Null, _) => *slot = Value::Null,
        (ValueRef::Text(t), Value::Text(s)) if s.capacity() >= t.len() => {
            match std::str::from_utf8(t) {
                Ok(new) => {
                    s.clear();
                    s.push_str(new);
                }
                Err(_) => {
                    *slot = from_sql(ValueRef::Text(t), &TextFactory::Str, stmt.column_name(i))?
                }
            }
        }
        (ValueRef::Blob(b), Value::Bytes(v)) if v.capacity() >= b.len() => {
            v.clear();
            v.extend_from_slice(b);
        }
        _ => *slot = plain_value(stmt, i)?,
    }
    Ok(())
}

/// Column `i` of the current row as Python's cursor converts it: a converter for non-NULL
/// values when one applies, else the plain SQLite ↔ Python mapping under `tf`.
fn column_value(
    stmt: &Statement,
    convs: Option<&[Option<ConverterFn>]>,
    i: usize,
    db: &rusqlite::Connection,
    tf: &TextFactory,
) -> Result<Value> {
    let v = stmt.value_ref(i);
    match (convs.and_then(|c| c.get(i)).and_then(Option::as_ref), v) {
        (Some(_), ValueRef::Null) => Ok(Value::Null),
        (Some(c), v) => c(&raw_bytes(db, v)?),
        (None, ValueRef::Integer(x)) => Ok(Value::Int(x)),
        (None, ValueRef::Real(x)) => Ok(Value::Float(x)),
        // The common case, decoded and copied once; invalid UTF-8 gets from_sql's error.
        (None, ValueRef::Text(t)) if matches!(tf, TextFactory::Str) => match std::str::from_utf8(t)
        {
            Ok(s) => Ok(Value::Text(s.to_owned())),
            Err(_) => from_sql(v, tf, stmt.column_name(i)),
        },
        (None, v) => from_sql(v, tf, stmt.column_name(i)),
    }
}

/// `Arc::get_mut` for a row block, without its compare-and-swap on the weak count (one
/// atomic read-modify-write per row less on `for row in cursor`): no `Weak` is ever made of
/// a row block ([`Tuple`]'s block is private and never downgraded), so the block is ours
/// alone exactly when its strong count is 1 and, holding that one `Arc` mutably, no other
/// can appear.
#[inline(always)]
fn unshared(b: &mut Arc<Vec<Value>>) -> Option<&mut Vec<Value>> {
    if Arc::strong_count(b) != 1 || Arc::weak_count(b) != 0 {
        return None;
    }
    // Pairs with the Release decrement of the last other holder's drop (on any thread), so
    // its reads of the block happen before our writes, as in `Arc::get_mut`.
    std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
    // SAFETY: `b` is the only `Arc` of the block and no `Weak` exists (see above), so
    // nothing else can read or write the block while the returned borrow of `b` lives; the
    // pointer comes from the Arc's own allocation (`Arc::as_ptr`), valid while `b` is.
    Some(unsafe { &mut *(Arc::as_ptr(b) as *mut Vec<Value>) })
}

/// Turns the one row read into `q.scratch` into a row object, reusing the block of the
/// previous single row when the caller has dropped it.
fn single_row(q: &mut Query, factory: &RowFactory) -> Value {
    let n = q.shown.len();
    match q.single.as_mut().and_then(unshared) {
        Some(b) if b.len() == n => {
            for (dst, src) in b.iter_mut().zip(q.scratch.drain(..)) {
                *dst = src;
            }
        }
        _ => q.single = Some(Arc::new(q.scratch.drain(..).collect())),
    }
    row_object(q, factory)
}

/// The row object over `q.single` (the tuple, or a `sqlite3.Row` around it).
fn row_object(q: &Query, factory: &RowFactory) -> Value {
    let t = match &q.single {
        Some(b) => Tuple::in_block(b, 0, b.len()),
        None => Tuple::default(),
    };
    match factory {
        RowFactory::Row => Value::Row(Box::new(Row::new(q.shown.clone(), t))),
        _ => Value::Tuple(t),
    }
}

/// Turns the `rows` rows read into `q.scratch` into row objects sharing one block.
fn cut_block(q: &mut Query, rows: usize, factory: &RowFactory, sink: &mut dyn FnMut(Value)) {
    let n = q.shown.len();
    if rows == 1 {
        sink(single_row(q, factory));
        return;
    }
    let block = Arc::new(std::mem::take(&mut q.scratch));
    for r in 0..rows {
        let t = Tuple::in_block(&block, r * n, n);
        sink(match factory {
            RowFactory::Row => Value::Row(Box::new(Row::new(q.shown.clone(), t))),
            _ => Value::Tuple(t),
        });
    }
}

impl Cursor {
    pub(crate) fn new(conn: Connection) -> Cursor {
        Cursor {
            conn,
            run: RunState {
                slot: None,
                description: None,
                rowcount: -1,
                lastrowid: None,
            },
            closed: false,
            arraysize: 1,
            row_factory: None,
        }
    }

    /// Python's first check on a cursor: a closed cursor fails before anything else (even
    /// from another thread, CPython 3.13); the thread and a closed connection are checked
    /// next, by `Connection::lock`, which every caller takes right after.
    #[inline]
    fn check(&self) -> Result<()> {
        if self.closed {
            return Err(Error::programming("Cannot operate on a closed cursor."));
        }
        // CPython 3.13: fetching from a cursor whose connection closed fails too.
        self.conn.check_open()
    }

    /// `Cursor.connection`.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// `Cursor.execute(sql, parameters=())`: exactly one statement. A query steps its
    /// first row here; the rest are stepped as they are fetched.
    pub fn execute(&mut self, sql: &str, params: impl BindParams) -> Result<&mut Cursor> {
        self.run(sql, std::iter::once(params), false)?;
        Ok(self)
    }

    /// `Cursor.executemany(sql, seq_of_parameters)`: DML only
    /// (`ProgrammingError: executemany() can only execute DML statements.`); `rowcount`
    /// is the sum over all parameter sets; `lastrowid` is left unchanged. Each parameter
    /// set (a tuple, array, `Vec`, map…) is bound from a borrow, without copying it.
    pub fn executemany<I, P>(&mut self, sql: &str, params: I) -> Result<&mut Cursor>
    where
        I: IntoIterator<Item = P>,
        P: BindParams,
    {
        self.run(sql, params.into_iter(), true)?;
        Ok(self)
    }

    /// `Cursor.executescript(script)`: in legacy mode commits a pending transaction first,
    /// then runs every statement with no implicit transaction handling.
    pub fn executescript(&mut self, script: &str) -> Result<&mut Cursor> {
        self.check()?;
        {
            let mut guard = self.conn.lock()?;
            let st: &mut State = &mut guard;
            if let Some(slot) = self.run.slot {
                release(st, slot);
            }
            self.run.description = None;
            if st.autocommit == Autocommit::Legacy && !st.db()?.is_autocommit() {
                st.exec("COMMIT")?;
            }
            st.db()?.execute_batch(script).map_err(Error::from)?;
        }
        Ok(self)
    }

    fn run<P: BindParams>(
        &mut self,
        sql: &str,
        param_sets: impl Iterator<Item = P>,
        multiple: bool,
    ) -> Result<()> {
        self.check()?;
        let mut guard = self.conn.lock()?;
        self.run.run(&mut guard, sql, param_sets, multiple)
    }

    fn fetch(&mut self, limit: usize, sink: &mut dyn FnMut(Value)) -> Result<()> {
        self.check()?;
        let mut guard = self.conn.lock()?;
        self.run
            .fetch(&mut guard, self.row_factory.as_ref(), limit, sink)
    }

    /// `Cursor.fetchone()`: the next row, or `None`.
    #[inline]
    pub fn fetchone(&mut self) -> Result<Option<Value>> {
        self.check()?;
        let (run, factory) = (&mut self.run, self.row_factory.as_ref());
        self.conn.with_open_state(|st| run.fetch_one(st, factory))
    }

    /// `Cursor.fetchmany(size=arraysize)`. A size of 0 fetches every remaining row, as
    /// CPython 3.11–3.13 do (checked live: `make.py --audit`).
    pub fn fetchmany(&mut self, size: Option<usize>) -> Result<Vec<Value>> {
        let n = match size.unwrap_or(self.arraysize) {
            0 => usize::MAX,
            n => n,
        };
        let mut rows = Vec::with_capacity(n.min(BLOCK_VALUES));
        self.fetch(n, &mut |v| rows.push(v))?;
        Ok(rows)
    }

    /// `Cursor.fetchall()`: every remaining row.
    pub fn fetchall(&mut self) -> Result<Vec<Value>> {
        let mut rows = Vec::new();
        self.fetch(usize::MAX, &mut |v| rows.push(v))?;
        Ok(rows)
    }

    /// `Cursor.description`: one column name per result column (Python's 7-tuples have
    /// six `None`s after it); `None` for statements without result columns.
    pub fn description(&self) -> Option<&[String]> {
        self.run.description.as_deref()
    }

    /// `Cursor.rowcount`: -1 before any DML and for non-DML statements; the number of
    /// changed rows for INSERT/UPDATE/DELETE/REPLACE (summed over `executemany`). With
    /// `RETURNING` it is final once the last row has been fetched (as in Python).
    pub fn rowcount(&self) -> i64 {
        self.run.rowcount
    }

    /// `Cursor.lastrowid`: `None` before the first `execute`, then SQLite's
    /// `last_insert_rowid()` after each successful `execute` (not `executemany`).
    pub fn lastrowid(&self) -> Option<i64> {
        self.run.lastrowid
    }

    /// `Cursor.close()`: resets the pending statement; later use fails with "Cannot
    /// operate on a closed cursor.".
    pub fn close(&mut self) {
        self.closed = true;
        if let (Some(slot), Ok(mut guard)) = (self.run.slot, self.conn.lock()) {
            release(&mut guard, slot);
        }
    }

    /// `Cursor.setinputsizes(sizes)`: a no-op (DB-API).
    pub fn setinputsizes(&self) {}

    /// `Cursor.setoutputsize(size, column=None)`: a no-op (DB-API).
    pub fn setoutputsize(&self) {}
}

impl Drop for Cursor {
    fn drop(&mut self) {
        if let Some(slot) = self.run.slot.take() {
            self.conn.free_query_slot(slot);
        }
    }
}

impl Iterator for Cursor {
    type Item = Result<Value>;

    /// `for row in cursor`: one step per row.
    fn next(&mut self) -> Option<Result<Value>> {
        self.fetchone().transpose()
    }
}

/// The bytes a converter receives for a non-NULL value: TEXT/BLOB as stored, numbers as
/// SQLite renders them as text (CPython reads them with `sqlite3_column_blob`).
fn raw_bytes(db: &rusqlite::Connection, v: ValueRef<'_>) -> Result<Vec<u8>> {
    Ok(match v {
        ValueRef::Text(t) | ValueRef::Blob(t) => t.to_vec(),
        ValueRef::Integer(i) => i.to_string().into_bytes(),
        ValueRef::Real(f) => {
            let s: String = db.query_row("SELECT CAST(?1 AS TEXT)", [f], |r| r.get(0))?;
            s.into_bytes()
        }
        ValueRef::Null => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dml_detection_like_cpython() {
        assert!(is_dml("  /* c */ -- x\n InSeRt into t values(1)"));
        assert!(is_dml("replace into t values(1)"));
        assert!(!is_dml(
            "with x as (select 1) insert into t select * from x"
        ));
        assert!(!is_dml("select 1"));
        assert!(!is_dml("create table t(a)"));
    }

    #[test]
    fn colnames_cut_like_cpython() {
        // Observed with CPython 3.11: 'x [foo]' → 'x', 'y[bar]' → 'y', 'z  [q]' → 'z '.
        assert_eq!(display_name("x [foo]", PARSE_COLNAMES), "x");
        assert_eq!(display_name("y[bar]", PARSE_COLNAMES), "y");
        assert_eq!(display_name("z  [q]", PARSE_COLNAMES), "z ");
        assert_eq!(display_name("x [foo]", 0), "x [foo]");
    }

    use crate::connection::{connect, ConnectOptions};
    use std::collections::{BTreeMap, HashMap};

    fn mem(opts: &ConnectOptions) -> Connection {
        connect(":memory:", opts).unwrap()
    }

    fn ints(rows: &[Value]) -> Vec<i64> {
        rows.iter()
            .map(|r| r.as_tuple().unwrap()[0].as_int().unwrap())
            .collect()
    }

    /// `for row in cursor` reuses the dropped row's text and bytes buffers in place: every
    /// row still reads back exactly, whatever the previous row held in the same column
    /// (longer, shorter, another type, invalid UTF-8), and a row still held by the caller
    /// is never overwritten.
    #[test]
    fn row_at_a_time_reuse_keeps_values_exact() {
        let c = mem(&ConnectOptions::default());
        c.execute("create table t(i, a)", ()).unwrap();
        let col: Vec<Value> = vec![
            Value::from("a much longer text than the next one"),
            Value::from("short"),
            Value::from(""),
            Value::Int(7),
            Value::from("text after an int"),
            Value::Bytes(b"\x00\x01\x02 bytes".to_vec()),
            Value::Bytes(b"b".to_vec()),
            Value::from("text after bytes"),
            Value::Null,
            Value::Float(1.5),
            Value::from("é∑ multibyte"),
        ];
        for (i, v) in col.iter().enumerate() {
            c.execute("insert into t values(?, ?)", (i as i64, v.clone()))
                .unwrap();
        }
        let mut cur = c.execute("select i, a from t order by i", ()).unwrap();
        let mut n = 0;
        for row in &mut cur {
            let row = row.unwrap();
            let t = row.as_tuple().unwrap();
            assert_eq!(t[0], Value::Int(n as i64));
            assert_eq!(t[1], col[n], "row {n}");
            n += 1;
        }
        assert_eq!(n, col.len());
        // A held row keeps its values while later rows are read.
        let mut cur = c.execute("select a from t order by i", ()).unwrap();
        let first = cur.next().unwrap().unwrap();
        let second = cur.next().unwrap().unwrap();
        assert_eq!(first.as_tuple().unwrap()[0], col[0]);
        assert_eq!(second.as_tuple().unwrap()[0], col[1]);
        drop((first, second));
        let third = cur.next().unwrap().unwrap();
        assert_eq!(third.as_tuple().unwrap()[0], col[2]);
        drop(third);
        let fourth = cur.next().unwrap().unwrap();
        assert_eq!(fourth.as_tuple().unwrap()[0], col[3]);
        // Invalid UTF-8 in a reused text slot: Python's error, and the row stays current.
        c.execute("insert into t values(99, cast(x'ff41' as text))", ())
            .unwrap();
        let mut cur = c
            .execute("select a from t where i in (0, 99) order by i", ())
            .unwrap();
        drop(cur.next().unwrap().unwrap());
        let e = cur.next().unwrap().unwrap_err();
        assert!(
            e.message
                .starts_with("Could not decode to UTF-8 column 'a'"),
            "{}",
            e.message
        );
    }

    /// Every BindParams shape binds the same values, from borrows; Python's count and
    /// shape errors are kept.
    #[test]
    fn parameter_shapes_bind_alike() {
        let c = mem(&ConnectOptions::default());
        let sql = "select ?, ?, ?";
        let want = "(1, 'a', None)";
        let none: Option<i64> = None;
        let got = |cur: Result<Cursor>| cur.unwrap().fetchone().unwrap().unwrap().repr();
        assert_eq!(got(c.execute(sql, (1, "a", none))), want);
        assert_eq!(
            got(c.execute(sql, (1i64, String::from("a"), Value::Null))),
            want
        );
        let vals = [Value::Int(1), Value::from("a"), Value::Null];
        assert_eq!(got(c.execute(sql, &vals)), want);
        assert_eq!(got(c.execute(sql, &vals[..])), want);
        assert_eq!(got(c.execute(sql, vals.to_vec())), want);
        assert_eq!(got(c.execute(sql, Params::Seq(vals.to_vec()))), want);
        assert_eq!(
            got(c.execute("select ?", [&b"\x00\xff"[..]])),
            "(b'\\x00\\xff',)"
        );
        let named = "select :x, @y";
        let mut h = HashMap::new();
        h.insert("x".to_string(), Value::Int(1));
        h.insert("y".to_string(), Value::from("b"));
        assert_eq!(got(c.execute(named, &h)), "(1, 'b')");
        let b: BTreeMap<String, i64> = [("x".to_string(), 1), ("y".to_string(), 2)].into();
        assert_eq!(got(c.execute(named, b)), "(1, 2)");
        assert_eq!(
            got(c.execute(named, vec![("x", 1), ("y", 2), ("x", 3)])),
            "(3, 2)"
        );
        let e = c.execute(sql, (1, 2)).unwrap_err();
        assert_eq!(
            e.message,
            "Incorrect number of bindings supplied. The current statement uses 3, and there are 2 supplied."
        );
        let e = c.execute(named, vec![("x", 1)]).unwrap_err();
        assert_eq!(
            e.message,
            "You did not supply a value for binding parameter @y."
        );
        let e = c.execute("select ?", &h).unwrap_err();
        assert_eq!(
            e.message,
            "Binding 1 has no name, but you supplied a dictionary (which has only names)."
        );
    }

    /// Rows handed out keep their values while later rows are fetched: a block is reused
    /// in place only once the caller has dropped the row made from it.
    #[test]
    fn rows_kept_by_the_caller_are_never_overwritten() {
        let c = mem(&ConnectOptions::default());
        c.execute("create table t(a, b)", ()).unwrap();
        c.executemany(
            "insert into t values (?, ?)",
            (0..3000).map(|i| (i, format!("row{i}"))),
        )
        .unwrap();
        // Iteration, every row kept.
        let kept: Vec<Value> = c
            .execute("select a, b from t", ())
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(ints(&kept), (0..3000).collect::<Vec<_>>());
        assert_eq!(kept[1234].as_tuple().unwrap()[1], Value::from("row1234"));
        // fetchone with a row held, then dropped (the block is then reused).
        let mut cur = c.execute("select a from t", ()).unwrap();
        let first = cur.fetchone().unwrap().unwrap();
        let second = cur.fetchone().unwrap().unwrap();
        assert_eq!(ints(&[first.clone(), second]), vec![0, 1]);
        let third = cur.fetchone().unwrap().unwrap();
        assert_eq!(ints(&[first, third]), vec![0, 2]);
        // fetchmany/fetchall blocks: one row outlives the rest of its block.
        let mut cur = c.execute("select a, b from t", ()).unwrap();
        let some = cur.fetchmany(Some(700)).unwrap();
        let one = some[699].clone();
        drop(some);
        let rest = cur.fetchall().unwrap();
        assert_eq!(rest.len(), 2300);
        assert_eq!(ints(&[one, rest[0].clone()]), vec![699, 700]);
        // sqlite3.Row rows share the column names and keep their values too.
        c.set_row_factory(RowFactory::Row).unwrap();
        let rows: Vec<Value> = c
            .execute("select a as x from t where a < 3", ())
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        let xs: Vec<i64> = rows
            .iter()
            .map(|r| match r {
                Value::Row(r) => r.by_name("X").unwrap().as_int().unwrap(),
                other => panic!("not a Row: {other:?}"),
            })
            .collect();
        assert_eq!(xs, vec![0, 1, 2]);
    }

    /// A small (or no) statement cache still runs everything; cursors in the middle of the
    /// same SQL do not disturb each other.
    #[test]
    fn statement_cache_sizes() {
        for cached in [0, 1, 128] {
            let opts = ConnectOptions {
                cached_statements: cached,
                ..Default::default()
            };
            let c = mem(&opts);
            c.execute("create table t(a)", ()).unwrap();
            c.executemany("insert into t values (?)", (0..10).map(|i| [i]))
                .unwrap();
            let mut a = c.execute("select a from t", ()).unwrap();
            let mut b = c.execute("select a from t", ()).unwrap();
            for sql in ["select 1", "select 2", "select a from t where a > 5"] {
                assert!(!c.execute(sql, ()).unwrap().fetchall().unwrap().is_empty());
            }
            assert_eq!(ints(&a.fetchmany(Some(3)).unwrap()), vec![0, 1, 2]);
            assert_eq!(ints(&b.fetchall().unwrap()).len(), 10);
            assert_eq!(ints(&a.fetchall().unwrap()), (3..10).collect::<Vec<_>>());
        }
    }

    /// With check_same_thread off a cursor may move to another thread, fetch and be
    /// dropped there.
    #[test]
    fn cursor_moves_between_threads() {
        let opts = ConnectOptions {
            check_same_thread: false,
            ..Default::default()
        };
        let c = mem(&opts);
        c.execute("create table t(a)", ()).unwrap();
        c.executemany("insert into t values (?)", (0..100).map(|i| (i,)))
            .unwrap();
        let mut cur = c.execute("select a from t", ()).unwrap();
        assert!(cur.fetchone().unwrap().is_some());
        let n = std::thread::spawn(move || cur.fetchall().unwrap().len())
            .join()
            .unwrap();
        assert_eq!(n, 99);
        c.execute("drop table t", ()).unwrap();
    }

    /// CPython 3.13 checks a closed cursor before the thread and the connection:
    /// "Cannot operate on a closed cursor." from another thread and after `close()` of the
    /// connection (observed live); an open cursor from another thread gets the thread error.
    #[test]
    fn closed_cursor_is_checked_first() {
        let c = mem(&ConnectOptions::default());
        let mut closed = c.execute("select 1", ()).unwrap();
        closed.close();
        let open = c.cursor().unwrap();
        let (e1, e2) = std::thread::spawn(move || {
            let mut closed = closed;
            let mut open = open;
            (
                closed.fetchone().unwrap_err().message,
                open.fetchone().unwrap_err().message,
            )
        })
        .join()
        .unwrap();
        assert_eq!(e1, "Cannot operate on a closed cursor.");
        assert!(
            e2.starts_with("SQLite objects created in a thread can only be used"),
            "{e2}"
        );
        let mut closed = c.execute("select 1", ()).unwrap();
        closed.close();
        c.close().unwrap();
        assert_eq!(
            closed.execute("select 1", ()).unwrap_err().message,
            "Cannot operate on a closed cursor."
        );
    }

    /// A row that cannot be decoded fails its fetch and stays current, so every later
    /// fetchone fails the same way (CPython 3.13, observed live: ('a',) then the
    /// OperationalError three times). The second fetch reuses the first row's block.
    #[test]
    fn undecodable_row_fails_every_fetch() {
        let c = mem(&ConnectOptions::default());
        c.execute("create table t(a)", ()).unwrap();
        c.execute(
            "insert into t values ('a'), (cast(x'ff41' as text)), ('b')",
            (),
        )
        .unwrap();
        let mut cur = c.execute("select a from t", ()).unwrap();
        assert_eq!(cur.fetchone().unwrap().unwrap().repr(), "('a',)");
        for _ in 0..3 {
            let e = cur.fetchone().unwrap_err();
            assert_eq!(
                e.message,
                "Could not decode to UTF-8 column 'a' with text '\u{fffd}A'"
            );
        }
    }
}
