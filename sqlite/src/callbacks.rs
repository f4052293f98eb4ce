//! User callbacks on a connection (spec §1.2): functions, aggregates, window functions,
//! collations, authorizer, progress handler, trace callback — with Python's error texts.
//!
//! The authorizer and the trace callback go through `rusqlite::ffi` because rusqlite's
//! versions do not hand over what Python's do: the raw action code and arguments
//! (authorizer), and a closure rather than a plain `fn` (trace).

use std::cmp::Ordering;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use rusqlite::ffi;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{ToSqlOutput, ValueRef};

use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::value::{to_sql_output, Value};

/// A trace callback: receives each statement's SQL as SQLite runs it (expanded: bound
/// parameters written inline).
pub type TraceFn = Box<dyn Fn(&str) + Send + Sync>;
/// An authorizer: `(action, arg1, arg2, db_name, trigger_or_view)` → `SQLITE_OK` (0),
/// `SQLITE_DENY` (1) or `SQLITE_IGNORE` (2).
pub type AuthorizerFn =
    Box<dyn Fn(i32, Option<&str>, Option<&str>, Option<&str>, Option<&str>) -> i32 + Send + Sync>;

/// A collation: compares two strings.
pub type CollationFn = Box<dyn Fn(&str, &str) -> Ordering + Send + 'static>;

/// The boxed callbacks SQLite holds raw pointers to; kept alive until replaced or closed.
#[derive(Default)]
pub(crate) struct Hooks {
    trace: Option<Box<TraceFn>>,
    authorizer: Option<Box<AuthorizerFn>>,
}

impl Hooks {
    /// Unregisters the raw callbacks from `db` (before it closes or the boxes drop).
    pub(crate) fn clear_raw(&mut self, db: &rusqlite::Connection) {
        // SAFETY: db's handle is valid while db lives; passing null callbacks unregisters.
        unsafe {
            let h = db.handle();
            ffi::sqlite3_trace_v2(h, 0, None, std::ptr::null_mut());
            ffi::sqlite3_set_authorizer(h, None, std::ptr::null_mut());
        }
        self.trace = None;
        self.authorizer = None;
    }
}

/// An aggregate class (`step`, `finalize`) for [`Connection::create_aggregate`]; one
/// instance is made per group.
pub trait Aggregate: Send {
    /// `step(*args)`: one row of the group.
    fn step(&mut self, args: &[Value]) -> Result<()>;
    /// `finalize()`: the group's result.
    fn finalize(&mut self) -> Result<Value>;
}

/// A window aggregate class (adds `value` and `inverse`) for
/// [`Connection::create_window_function`].
pub trait WindowAggregate: Aggregate {
    /// `value()`: the current result of the window.
    fn value(&mut self) -> Result<Value>;
    /// `inverse(*args)`: a row leaves the window.
    fn inverse(&mut self, args: &[Value]) -> Result<()>;
}

fn args_of(ctx: &Context<'_>) -> Vec<Value> {
    (0..ctx.len())
        .map(|i| match ctx.get_raw(i) {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(v) => Value::Int(v),
            ValueRef::Real(v) => Value::Float(v),
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
        })
        .collect()
}

#[derive(Debug)]
struct PyMessage(&'static str);
impl std::fmt::Display for PyMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
impl std::error::Error for PyMessage {}

fn user_error(msg: &'static str) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(Box::new(PyMessage(msg)))
}

fn result_value(v: Value, msg: &'static str) -> rusqlite::Result<ToSqlOutput<'static>> {
    use rusqlite::types::Value as S;
    let owned = match to_sql_output(&v, 1).map_err(|_| user_error(msg))? {
        ToSqlOutput::Borrowed(r) => S::from(r),
        ToSqlOutput::Owned(o) => o,
        _ => return Err(user_error(msg)),
    };
    Ok(ToSqlOutput::Owned(owned))
}

type Factory<T> = Arc<dyn Fn() -> Box<T> + Send + Sync>;

/// rusqlite's side of a Python aggregate class (plain or window): makes an instance per
/// group and maps its errors to Python's messages.
struct AggAdapter<T: ?Sized>(Factory<T>);
type AggState<T> = AssertUnwindSafe<Box<T>>;
type WinAdapter = AggAdapter<dyn WindowAggregate>;
type WinState = AggState<dyn WindowAggregate>;

impl<T: Aggregate + ?Sized + 'static>
    rusqlite::functions::Aggregate<AggState<T>, ToSqlOutput<'static>> for AggAdapter<T>
{
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<AggState<T>> {
        Ok(AssertUnwindSafe((self.0)()))
    }
    fn step(&self, ctx: &mut Context<'_>, acc: &mut AggState<T>) -> rusqlite::Result<()> {
        acc.step(&args_of(ctx))
            .map_err(|_| user_error("user-defined aggregate's 'step' method raised error"))
    }
    fn finalize(
        &self,
        _: &mut Context<'_>,
        acc: Option<AggState<T>>,
    ) -> rusqlite::Result<ToSqlOutput<'static>> {
        const MSG: &str = "user-defined aggregate's 'finalize' method raised error";
        match acc {
            // No rows: Python never made an instance and returns NULL.
            None => Ok(ToSqlOutput::Owned(rusqlite::types::Value::Null)),
            Some(mut a) => {
                let v = a.finalize().map_err(|_| user_error(MSG))?;
                result_value(v, MSG)
            }
        }
    }
}

impl rusqlite::functions::WindowAggregate<WinState, ToSqlOutput<'static>> for WinAdapter {
    fn value(&self, acc: Option<&mut WinState>) -> rusqlite::Result<ToSqlOutput<'static>> {
        const MSG: &str = "user-defined aggregate's 'value' method raised error";
        match acc {
            None => Ok(ToSqlOutput::Owned(rusqlite::types::Value::Null)),
            Some(a) => {
                let v = a.value().map_err(|_| user_error(MSG))?;
                result_value(v, MSG)
            }
        }
    }
    fn inverse(&self, ctx: &mut Context<'_>, acc: &mut WinState) -> rusqlite::Result<()> {
        acc.inverse(&args_of(ctx))
            .map_err(|_| user_error("user-defined aggregate's 'inverse' method raised error"))
    }
}

unsafe extern "C" fn trace_trampoline(
    evt: c_uint,
    ctx: *mut c_void,
    p: *mut c_void,
    x: *mut c_void,
) -> c_int {
    if evt != ffi::SQLITE_TRACE_STMT as c_uint || ctx.is_null() {
        return 0;
    }
    // SAFETY: ctx is the Box<TraceFn> registered below, alive until unregistered;
    // p is the statement and x its unexpanded SQL text, per sqlite3_trace_v2.
    let f = &*(ctx as *const TraceFn);
    let raw = if x.is_null() {
        String::new()
    } else {
        CStr::from_ptr(x as *const c_char)
            .to_string_lossy()
            .into_owned()
    };
    let text = if raw.starts_with("--") {
        // Trigger entry: SQLite passes a "-- TRIGGER name" comment.
        raw
    } else {
        let e = ffi::sqlite3_expanded_sql(p as *mut ffi::sqlite3_stmt);
        if e.is_null() {
            raw
        } else {
            let s = CStr::from_ptr(e).to_string_lossy().into_owned();
            ffi::sqlite3_free(e as *mut c_void);
            s
        }
    };
    let _ = catch_unwind(AssertUnwindSafe(|| f(&text)));
    0
}

unsafe extern "C" fn auth_trampoline(
    ctx: *mut c_void,
    action: c_int,
    a1: *const c_char,
    a2: *const c_char,
    db: *const c_char,
    src: *const c_char,
) -> c_int {
    // SAFETY: ctx is the Box<AuthorizerFn> registered below; the strings are NUL-terminated
    // or null, per sqlite3_set_authorizer.
    let f = &*(ctx as *const AuthorizerFn);
    let s = |p: *const c_char| {
        if p.is_null() {
            None
        } else {
            Some(CStr::from_ptr(p).to_string_lossy().into_owned())
        }
    };
    let (a1, a2, db, src) = (s(a1), s(a2), s(db), s(src));
    catch_unwind(AssertUnwindSafe(|| {
        f(
            action,
            a1.as_deref(),
            a2.as_deref(),
            db.as_deref(),
            src.as_deref(),
        )
    }))
    .unwrap_or(ffi::SQLITE_DENY)
}

impl Connection {
    /// `create_function(name, narg, func, *, deterministic=False)`; `narg = -1` takes any
    /// number of arguments. An `Err` from `func`, or a result that cannot be bound, makes
    /// the query fail with `OperationalError: user-defined function raised exception`.
    pub fn create_function(
        &self,
        name: &str,
        narg: i32,
        func: impl Fn(&[Value]) -> Result<Value> + Send + Sync + 'static,
        deterministic: bool,
    ) -> Result<()> {
        let mut flags = FunctionFlags::SQLITE_UTF8;
        if deterministic {
            flags |= FunctionFlags::SQLITE_DETERMINISTIC;
        }
        const MSG: &str = "user-defined function raised exception";
        self.lock()?
            .db()?
            .create_scalar_function(name, narg, flags, move |ctx| {
                let v = func(&args_of(ctx)).map_err(|_| user_error(MSG))?;
                result_value(v, MSG)
            })
            .map_err(Error::from)
    }

    /// Removes the function `name` taking `narg` arguments (later calls fail with
    /// `no such function`). Python documents `create_function(name, narg, None)` for
    /// this, but CPython 3.13.0 registers `None` as the function instead, so its calls
    /// fail with "user-defined function raised exception" (checked live; make.py --audit).
    pub fn remove_function(&self, name: &str, narg: i32) -> Result<()> {
        self.lock()?
            .db()?
            .remove_function(name, narg)
            .map_err(Error::from)
    }

    /// `create_aggregate(name, n_arg, aggregate_class)`: `factory` makes one instance per
    /// group.
    pub fn create_aggregate(
        &self,
        name: &str,
        narg: i32,
        factory: impl Fn() -> Box<dyn Aggregate> + Send + Sync + 'static,
    ) -> Result<()> {
        self.lock()?
            .db()?
            .create_aggregate_function(
                name,
                narg,
                FunctionFlags::SQLITE_UTF8,
                AggAdapter(Arc::new(factory)),
            )
            .map_err(Error::from)
    }

    /// `create_window_function(name, num_params, aggregate_class)` (3.11+).
    pub fn create_window_function(
        &self,
        name: &str,
        narg: i32,
        factory: impl Fn() -> Box<dyn WindowAggregate> + Send + Sync + 'static,
    ) -> Result<()> {
        self.lock()?
            .db()?
            .create_window_function(
                name,
                narg,
                FunctionFlags::SQLITE_UTF8,
                AggAdapter::<dyn WindowAggregate>(Arc::new(factory)),
            )
            .map_err(Error::from)
    }

    /// `create_collation(name, callable)`; `None` removes it.
    pub fn create_collation(&self, name: &str, cmp: Option<CollationFn>) -> Result<()> {
        let st = self.lock()?;
        let db = st.db()?;
        match cmp {
            Some(f) => db.create_collation(name, move |a, b| f(a, b)),
            None => db.remove_collation(name),
        }
        .map_err(Error::from)
    }

    /// `set_authorizer(callback)`; `None` clears it (3.11+).
    pub fn set_authorizer(&self, cb: Option<AuthorizerFn>) -> Result<()> {
        let mut st = self.lock()?;
        // SAFETY: the handle is valid; the box outlives its registration (it is only
        // dropped after being replaced or unregistered).
        let h = unsafe { st.db()?.handle() };
        match cb {
            Some(f) => {
                let b = Box::new(f);
                let p = &*b as *const AuthorizerFn as *mut c_void;
                unsafe { ffi::sqlite3_set_authorizer(h, Some(auth_trampoline), p) };
                st.hooks.authorizer = Some(b);
            }
            None => {
                unsafe { ffi::sqlite3_set_authorizer(h, None, std::ptr::null_mut()) };
                st.hooks.authorizer = None;
            }
        }
        Ok(())
    }

    /// `set_progress_handler(handler, n)`: `handler` runs every `n` VM instructions;
    /// returning `true` (Python: non-zero) aborts the query (`OperationalError:
    /// interrupted`). `None` clears it.
    pub fn set_progress_handler(
        &self,
        handler: Option<Box<dyn FnMut() -> bool + Send + 'static>>,
        n: i32,
    ) -> Result<()> {
        let st = self.lock()?;
        st.db()?.progress_handler(n, handler);
        Ok(())
    }

    /// `set_trace_callback(callback)`: called with each statement's expanded SQL as
    /// SQLite runs it (including the module's implicit `BEGIN `/`COMMIT`). `None` clears it.
    pub fn set_trace_callback(&self, cb: Option<TraceFn>) -> Result<()> {
        let mut st = self.lock()?;
        // SAFETY: as in set_authorizer.
        let h = unsafe { st.db()?.handle() };
        match cb {
            Some(f) => {
                let b = Box::new(f);
                let p = &*b as *const TraceFn as *mut c_void;
                unsafe {
                    ffi::sqlite3_trace_v2(
                        h,
                        ffi::SQLITE_TRACE_STMT as c_uint,
                        Some(trace_trampoline),
                        p,
                    )
                };
                st.hooks.trace = Some(b);
            }
            None => {
                unsafe { ffi::sqlite3_trace_v2(h, 0, None, std::ptr::null_mut()) };
                st.hooks.trace = None;
            }
        }
        Ok(())
    }
}
