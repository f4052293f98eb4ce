//! [`Database`]: an open dbm file as a Python object, and [`open`], which makes one.
//!
//! The object behaves as the standard module's database object: `db[k]`, `db[k] = v`,
//! `del db[k]`, `k in db`, `len(db)`, `keys()`, `get`, `setdefault`, `firstkey`/`nextkey`,
//! `reorganize`, `sync`, `close`, and the context-manager protocol. It also offers the
//! mapping methods `dbm.dumb`'s `MutableMapping` base gives (`items`, `values`, `pop`,
//! iteration), which the C modules lack; they are harmless extras there.

use std::path::PathBuf;
use std::sync::Mutex;

use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple, PyType};

use pydbm_engine::{Dbm, Durability, Error, OpenOptions};
use pydbm_formats::gnu::GnuDb;

use crate::byte_args::{to_bytes, to_sqlite_param, SqliteParam};
use crate::error_map::{self, Op, Style};

/// An open database: gdbm files keep their concrete type for `firstkey`/`nextkey`,
/// whose reads move libgdbm's bucket cache exactly as `gdbm_firstkey`/`gdbm_nextkey` do
/// (gdbm spec §12.6: the cache decides which buffers later splits reuse, so the bytes).
enum Handle {
    Gnu(Box<GnuDb>),
    Other(Box<dyn Dbm>),
}

impl Handle {
    fn dbm(&mut self) -> &mut dyn Dbm {
        match self {
            Handle::Gnu(db) => db.as_mut(),
            Handle::Other(db) => db.as_mut(),
        }
    }
}

/// The open file, or nothing once closed.
struct Inner {
    db: Option<Handle>,
    path: PathBuf,
}

/// An open database of any pydbm format (`pydbm.gnu.open(...)` and friends return one).
///
/// Cannot be instantiated from Python (as `_gdbm.gdbm` cannot, bpo-43916).
#[pyclass(module = "pydbm._pydbm", name = "Database")]
pub struct Database {
    inner: Mutex<Inner>,
    style: Style,
    error_cls: Py<PyType>,
}

/// Module names the native layer can open (the formats that have landed in pydbm).
#[pyfunction]
pub fn implemented_modules() -> Vec<&'static str> {
    pydbm::registry::MODULES
        .iter()
        .copied()
        .filter(|m| pydbm::format_for(m).is_some())
        .collect()
}

/// `open(module, path, flag, mode, error_cls)`: opens `path` as `module`'s
/// `open(path, flag, mode)` does.
///
/// `flag` must already be validated by the caller (each Python module checks its own
/// letters with its own message); a flag the engine still rejects raises `error_cls`.
/// Raises `error_cls` (as [`error_map::to_py`] maps it) on any failure, and `ValueError`
/// for a module pydbm does not implement.
///
/// `durability` is pydbm's crash-safety level: `"process"` (default: every operation is
/// one journaled transaction that survives a killed process), `"full"` (also fsynced:
/// survives power loss), `"none"` (no journal; changes written back at `sync`/`close`,
/// like the C libraries). Anything else raises `ValueError`.
#[pyfunction]
#[pyo3(signature = (module, path, flag, mode, error_cls, durability = "process"))]
pub fn open(
    py: Python<'_>,
    module: &str,
    path: PathBuf,
    flag: &str,
    mode: u32,
    error_cls: Py<PyType>,
    durability: &str,
) -> PyResult<Database> {
    let style = Style::from_module(module)
        .ok_or_else(|| PyValueError::new_err(format!("unknown dbm module {module:?}")))?;
    let format = pydbm::format_for(style.module()).ok_or_else(|| {
        PyValueError::new_err(match style {
            Style::Etcd => "this pydbm was built without the `etcd` cargo feature".to_string(),
            _ => format!("{} is not implemented by this pydbm build", style.module()),
        })
    })?;
    let mut opts = OpenOptions::from_flag(flag)
        .map_err(|e| error_map::to_py(py, style, &error_cls, Op::Other, e))?;
    opts.file_mode = mode;
    opts.durability = match durability {
        "process" => Durability::Process,
        "full" => Durability::Full,
        "none" => Durability::None,
        other => {
            return Err(PyValueError::new_err(format!(
                "durability must be 'process', 'full' or 'none', not {other:?}"
            )))
        }
    };
    let db = py
        .allow_threads(|| match style {
            Style::Gnu => {
                pydbm_formats::gnu::open(&path, &opts).map(|db| Handle::Gnu(Box::new(db)))
            }
            _ => format.open(&path, &opts).map(Handle::Other),
        })
        .map_err(|e| {
            // _dbmmodule.c reports open failures with the name as given (no ".db").
            let e = match (style, e) {
                (Style::Ndbm, Error::Io { source, .. }) => Error::Io {
                    path: path.clone(),
                    source,
                },
                (_, e) => e,
            };
            error_map::to_py(py, style, &error_cls, Op::Other, e)
        })?;
    Ok(Database {
        inner: Mutex::new(Inner { db: Some(db), path }),
        style,
        error_cls,
    })
}

impl Database {
    /// Runs `f` on the handle state with the mutex held and the GIL released, both while
    /// waiting for the mutex and while working: waiting with the GIL held would deadlock
    /// against a thread that holds the mutex and needs the GIL back. A poisoned mutex (a
    /// panic mid-operation, which pydbm's formats never do) becomes an error, not a panic.
    fn locked<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Inner) -> pydbm_engine::Result<T> + Send,
    ) -> pydbm_engine::Result<T> {
        let inner = &self.inner;
        py.allow_threads(|| {
            let mut guard = inner.lock().map_err(|_| {
                Error::BadArgument("database handle poisoned by an earlier panic".into())
            })?;
            f(&mut guard)
        })
    }

    /// Runs `f` on the open database (GIL released), mapping errors for `op`.
    fn with_db<T: Send>(
        &self,
        py: Python<'_>,
        op: Op,
        f: impl FnOnce(&mut dyn Dbm) -> pydbm_engine::Result<T> + Send,
    ) -> PyResult<T> {
        self.locked(py, |inner| match inner.db.as_mut() {
            Some(db) => f(db.dbm()),
            None => Err(Error::Closed {
                path: inner.path.clone(),
            }),
        })
        .map_err(|e| self.err(py, op, e))
    }

    /// Like [`Database::with_db`], on the concrete handle.
    fn with_handle<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Handle) -> pydbm_engine::Result<T> + Send,
    ) -> PyResult<T> {
        self.locked(py, |inner| match inner.db.as_mut() {
            Some(db) => f(db),
            None => Err(Error::Closed {
                path: inner.path.clone(),
            }),
        })
        .map_err(|e| self.err(py, Op::Other, e))
    }

    fn err(&self, py: Python<'_>, op: Op, e: Error) -> PyErr {
        error_map::to_py(py, self.style, &self.error_cls, op, e)
    }

    /// A key argument as bytes; `None` is SQL NULL (dbm.sqlite3 only: `None`, NaN).
    ///
    /// dbm.sqlite3 checks for a closed handle before binding (its `_execute`), so a
    /// closed sqlite3 handle raises the closed error before any binding error.
    fn key<'a>(&self, py: Python<'_>, key: &'a Bound<'_, PyAny>) -> PyResult<SqliteParam<'a>> {
        match self.style {
            Style::Sqlite3 => {
                self.ensure_open(py)?;
                to_sqlite_param(key, 1, self.error_cls.bind(py))
            }
            _ => to_bytes(key, self.style.key_type_message()).map(Some),
        }
    }

    /// A value argument as bytes; `None` is SQL NULL (dbm.sqlite3 only).
    fn value<'a>(&self, py: Python<'_>, value: &'a Bound<'_, PyAny>) -> PyResult<SqliteParam<'a>> {
        match self.style {
            Style::Sqlite3 => to_sqlite_param(value, 2, self.error_cls.bind(py)),
            _ => to_bytes(value, self.style.value_type_message()).map(Some),
        }
    }

    /// The error dbm.sqlite3 raises for storing NULL (SQLite checks `key`, then `value`).
    fn not_null(&self, py: Python<'_>, column: &str) -> PyErr {
        PyErr::from_type(
            self.error_cls.bind(py).clone(),
            (format!("NOT NULL constraint failed: Dict.{column}"),),
        )
    }

    /// Stores `value` at `key` after binding both (dbm.sqlite3: NULL violates NOT NULL).
    fn store(&self, py: Python<'_>, k: &SqliteParam<'_>, v: &SqliteParam<'_>) -> PyResult<()> {
        let k = k.as_deref().ok_or_else(|| self.not_null(py, "key"))?;
        let v = v.as_deref().ok_or_else(|| self.not_null(py, "value"))?;
        self.with_db(py, Op::Store, |db| db.insert(k, v))
    }

    /// The value at `key`; a NULL key matches nothing (`key = NULL` is never true).
    fn lookup(&self, py: Python<'_>, k: &SqliteParam<'_>) -> PyResult<Option<Vec<u8>>> {
        match k.as_deref() {
            Some(k) => self.with_db(py, Op::Other, |db| db.get(k)),
            None => self.ensure_open(py).map(|_| None),
        }
    }

    /// Raises the module's closed error when the handle is closed.
    fn ensure_open(&self, py: Python<'_>) -> PyResult<()> {
        self.with_db(py, Op::Other, |_| Ok(()))
    }

    fn keys_vec(&self, py: Python<'_>) -> PyResult<Vec<Vec<u8>>> {
        self.with_db(py, Op::Other, |db| db.keys())
    }
}

#[pymethods]
impl Database {
    /// Refuses direct instantiation with CPython's wording (bpo-43916).
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn py_new(
        _args: &Bound<'_, PyTuple>,
        _kwargs: Option<&Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<Self> {
        Err(PyTypeError::new_err(
            "cannot create 'pydbm._pydbm.Database' instances",
        ))
    }

    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let k = self.key(py, key)?;
        match self.lookup(py, &k)? {
            Some(v) => Ok(PyBytes::new(py, &v)),
            None => Err(PyKeyError::new_err((key.clone().unbind(),))),
        }
    }

    fn __setitem__(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let k = self.key(py, key)?;
        let v = self.value(py, value)?;
        self.store(py, &k, &v)
    }

    fn __delitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let k = self.key(py, key)?;
        let removed = match k.as_deref() {
            Some(k) => self.with_db(py, Op::Delete, |db| db.remove(k))?,
            None => false,
        };
        if removed {
            Ok(())
        } else {
            Err(PyKeyError::new_err((key.clone().unbind(),)))
        }
    }

    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        match self.key(py, key)?.as_deref() {
            Some(k) => self.with_db(py, Op::Other, |db| db.contains(k)),
            None => self.ensure_open(py).map(|_| false),
        }
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.with_db(py, Op::Other, |db| db.len())
    }

    /// Iterates over the keys.
    ///
    /// gdbm/ndbm/dumb: a snapshot taken now (as `dbm.dumb` iterates its index).
    /// dbm.sqlite3: as 3.13's generator, nothing runs until the first `next()`, which
    /// raises the closed error on a closed handle; once started, closing the handle makes
    /// the next `next()` raise `error("Cannot operate on a closed database.")` (the
    /// `sqlite3` cursor's message, which dbm.sqlite3 re-raises as its `error`).
    fn __iter__(slf: Bound<'_, Self>) -> PyResult<KeyIterator> {
        let keys = {
            let this = slf.borrow();
            if this.style == Style::Sqlite3 {
                None
            } else {
                Some(this.keys_vec(slf.py())?.into_iter())
            }
        };
        Ok(KeyIterator {
            db: slf.unbind(),
            keys,
        })
    }

    /// Every key, in the file's own order, as a list of bytes.
    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let keys = self.keys_vec(py)?;
        PyList::new(py, keys.iter().map(|k| PyBytes::new(py, k)))
    }

    /// Every `(key, value)` pair, as a list.
    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let pairs = self.with_db(py, Op::Other, |db| {
            pydbm_engine::Items::of(db)?.collect::<pydbm_engine::Result<Vec<_>>>()
        })?;
        PyList::new(
            py,
            pairs
                .iter()
                .map(|(k, v)| (PyBytes::new(py, k), PyBytes::new(py, v))),
        )
    }

    /// Every value, in key order, as a list.
    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let pairs = self.with_db(py, Op::Other, |db| {
            pydbm_engine::Items::of(db)?.collect::<pydbm_engine::Result<Vec<_>>>()
        })?;
        PyList::new(py, pairs.iter().map(|(_, v)| PyBytes::new(py, v)))
    }

    /// `db.get(key, default=None)`.
    #[pyo3(signature = (key, default=None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = self.key(py, key)?;
        match self.lookup(py, &k)? {
            Some(v) => Ok(PyBytes::new(py, &v).into_any()),
            None => Ok(default.unwrap_or_else(|| py.None().into_bound(py))),
        }
    }

    /// `db.setdefault(key, default)`: the stored value, storing `default` if absent.
    ///
    /// gdbm/ndbm/dumb: `default` defaults to `b''` and the stored bytes are returned.
    /// dbm.sqlite3 (`MutableMapping.setdefault`): `default` defaults to `None` (storing it
    /// fails the NOT NULL constraint) and `default` itself is returned.
    #[pyo3(signature = (key, default=None))]
    fn setdefault<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = self.key(py, key)?;
        if let Some(v) = self.lookup(py, &k)? {
            return Ok(PyBytes::new(py, &v).into_any());
        }
        if self.style == Style::Sqlite3 {
            let default = default.unwrap_or_else(|| py.None().into_bound(py));
            let d = self.value(py, &default)?;
            self.store(py, &k, &d)?;
            return Ok(default);
        }
        let d: Vec<u8> = match &default {
            Some(d) => self
                .value(py, d)?
                .map(|c| c.into_owned())
                .unwrap_or_default(),
            None => Vec::new(),
        };
        self.store(py, &k, &Some(std::borrow::Cow::Borrowed(&d[..])))?;
        Ok(PyBytes::new(py, &d).into_any())
    }

    /// `db.pop(key[, default])`, as `MutableMapping.pop`.
    #[pyo3(signature = (key, *default))]
    fn pop<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = self.key(py, key)?;
        match self.lookup(py, &k)? {
            Some(v) => {
                let k = k.as_deref().unwrap_or_default();
                self.with_db(py, Op::Delete, |db| db.remove(k))?;
                Ok(PyBytes::new(py, &v).into_any())
            }
            None if !default.is_empty() => default.get_item(0),
            None => Err(PyKeyError::new_err((key.clone().unbind(),))),
        }
    }

    /// `db.firstkey()`: the first key in iteration order, or `None` when empty.
    ///
    /// gdbm: `gdbm_firstkey`. Other formats: the first of `keys()`.
    fn firstkey<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let key = self.with_handle(py, |h| match h {
            Handle::Gnu(db) => db.firstkey(),
            Handle::Other(db) => Ok(db.keys()?.into_iter().next()),
        })?;
        Ok(key.map(|k| PyBytes::new(py, &k)))
    }

    /// `db.nextkey(key)`: the key after `key` in iteration order, or `None` at the end.
    ///
    /// gdbm: `gdbm_nextkey`. Other formats: the key after `key` in `keys()` (quadratic
    /// over a whole walk; those modules have no `nextkey` in CPython).
    fn nextkey<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let k = self
            .key(py, key)?
            .map(|c| c.into_owned())
            .unwrap_or_default();
        let next = self.with_handle(py, |h| match h {
            Handle::Gnu(db) => db.nextkey(&k),
            Handle::Other(db) => {
                let keys = db.keys()?;
                let pos = keys.iter().position(|x| *x == k);
                Ok(pos.and_then(|i| keys.into_iter().nth(i + 1)))
            }
        })?;
        Ok(next.map(|k| PyBytes::new(py, &k)))
    }

    /// `iterkeys()`: `dbm.dumb`'s alias of iteration.
    fn iterkeys(slf: Bound<'_, Self>) -> PyResult<KeyIterator> {
        Database::__iter__(slf)
    }

    /// `db.clear()` (CPython 3.13): removes every key.
    ///
    /// gdbm and ndbm delete `firstkey()` until none is left, as 3.13's `_gdbm`/`_dbm`
    /// `clear` do (for gdbm the walk moves the bucket cache, which decides the bytes of
    /// later writes, gdbm spec §12.6). dumb and sqlite3 inherit `MutableMapping.clear`
    /// (`popitem` until empty: delete the first key in iteration order), the same order
    /// as deleting a snapshot of `keys()` front to back. Errors as `del db[k]`, except a
    /// gdbm reader: `error("cannot delete item from database")`, 3.13's fixed text.
    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        self.locked(py, |inner| match inner.db.as_mut() {
            Some(Handle::Gnu(db)) => {
                while let Some(k) = db.firstkey()? {
                    db.remove(&k)?;
                }
                Ok(())
            }
            Some(Handle::Other(db)) => {
                for k in db.keys()? {
                    db.remove(&k)?;
                }
                Ok(())
            }
            None => Err(Error::Closed {
                path: inner.path.clone(),
            }),
        })
        .map_err(|e| match (self.style, e) {
            // 3.13's _gdbm clear reports any failed gdbm_delete with this fixed text
            (Style::Gnu, Error::ReadOnly { .. }) => PyErr::from_type(
                self.error_cls.bind(py).clone(),
                ("cannot delete item from database",),
            ),
            (_, e) => self.err(py, Op::Delete, e),
        })
    }

    /// `db.__init__(...)` called again on an open object: dbm.sqlite3 refuses with
    /// `error("DBM object does not support reinitialization")`; the C modules' objects
    /// have no `__init__` of their own, so `object.__init__` raises `TypeError`.
    #[pyo3(name = "__init__", signature = (*_args, **_kwargs))]
    fn reinit(
        &self,
        py: Python<'_>,
        _args: &Bound<'_, PyTuple>,
        _kwargs: Option<&Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<()> {
        match self.style {
            Style::Sqlite3 => Err(PyErr::from_type(
                self.error_cls.bind(py).clone(),
                ("DBM object does not support reinitialization",),
            )),
            _ => Err(PyTypeError::new_err(
                "Database.__init__() takes exactly one argument (the instance to initialize)",
            )),
        }
    }

    /// `db.reorganize()`: compacts the file (gdbm, dumb).
    fn reorganize(&self, py: Python<'_>) -> PyResult<()> {
        self.with_db(py, Op::Store, |db| db.reorganize())
    }

    /// `db.sync()`: writes every change to the file.
    fn sync(&self, py: Python<'_>) -> PyResult<()> {
        self.with_db(py, Op::Other, |db| db.sync())
    }

    /// `db.close()`: flushes and releases the file; closing twice is allowed.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.locked(py, |inner| match inner.db.take() {
            Some(mut db) => db.dbm().close(),
            None => Ok(()),
        })
        .map_err(|e| self.err(py, Op::Other, e))
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    /// The Python module whose files this is (`"dbm.gnu"`...).
    #[getter]
    fn module(&self) -> &'static str {
        self.style.module()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let (open, path) = self
            .locked(py, |inner| {
                Ok((inner.db.is_some(), inner.path.display().to_string()))
            })
            .map_err(|e| self.err(py, Op::Other, e))?;
        let state = if open { "open" } else { "closed" };
        Ok(format!(
            "<pydbm {} database {path:?} ({state})>",
            self.style.module()
        ))
    }
}

/// The iterator `iter(db)` returns (see [`Database`]'s `__iter__`).
#[pyclass(module = "pydbm._pydbm", name = "KeyIterator")]
pub struct KeyIterator {
    db: Py<Database>,
    /// The keys not yet returned; `None` until a dbm.sqlite3 iteration starts.
    keys: Option<std::vec::IntoIter<Vec<u8>>>,
}

#[pymethods]
impl KeyIterator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let db = self.db.bind(py).borrow();
        if db.style == Style::Sqlite3 {
            match &self.keys {
                None => self.keys = Some(db.keys_vec(py)?.into_iter()),
                Some(rest) if rest.len() > 0 && db.ensure_open(py).is_err() => {
                    return Err(PyErr::from_type(
                        db.error_cls.bind(py).clone(),
                        ("Cannot operate on a closed database.",),
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(self
            .keys
            .as_mut()
            .and_then(|it| it.next())
            .map(|k| PyBytes::new(py, &k)))
    }
}

/// `whichdb(path, dialect="pydbm")`: which module made the database at `path`
/// (`pydbm_formats::whichdb`, python-formats spec §6).
///
/// Returns `None` when `path` cannot be opened, `""` for an unknown format, else the
/// standard module's name (`"dbm.gnu"`, `"dbm.ndbm"`, `"dbm.dumb"`, `"dbm.sqlite3"`);
/// `"etcd"` for an `etcd://` address, whatever the dialect. `dialect`: `"pydbm"` (CPython 3.13's answers, plus `"dbm.gnu"` for the numsync and
/// byte-swapped gdbm files pydbm opens but CPython cannot name), `"cpython3.13"` or
/// `"cpython3.11"` (no SQLite check) for the exact answers of those versions. An unknown
/// dialect raises `ValueError`; a file-layer failure raises `OSError`.
#[pyfunction]
#[pyo3(signature = (path, dialect = "pydbm"))]
pub fn whichdb(py: Python<'_>, path: PathBuf, dialect: &str) -> PyResult<Option<&'static str>> {
    use pydbm_formats::whichdb::{whichdb_as, Dialect};
    let dialect = match dialect {
        "pydbm" => Dialect::Pydbm,
        "cpython3.13" => Dialect::CPython313,
        "cpython3.11" => Dialect::CPython311,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown whichdb dialect {other:?} (pydbm, cpython3.13, cpython3.11)"
            )))
        }
    };
    if pydbm::remote::is_etcd_address(&path) {
        // docs/etcd.md: an address names its backend by its form.
        return Ok(Some(pydbm::remote::ETCD_MODULE));
    }
    py.allow_threads(|| whichdb_as(&pydbm_engine::OsVfs::new(), &path, dialect))
        .map_err(|e| error_map::os_error(e.to_string()))
}
