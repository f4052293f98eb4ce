//! [`Database`]: an open dbm file as a Python object, and [`open`], which makes one.
//!
//! The object behaves as the standard module's database object: `db[k]`, `db[k] = v`,
//! `del db[k]`, `k in db`, `len(db)`, `keys()`, `get`, `setdefault`, `firstkey`/`nextkey`,
//! `reorganize`, `sync`, `close`, and the context-manager protocol. It also offers the
//! mapping methods `dbm.dumb`'s `MutableMapping` base gives (`items`, `values`, `pop`,
//! iteration), which the C modules lack; they are harmless extras there.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple, PyType};

use pydbm_engine::{Dbm, Durability, Error, OpenOptions};
use pydbm_formats::gnu::GnuDb;

use crate::byte_args::{to_bytes, to_bytes_sqlite};
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
        PyValueError::new_err(format!(
            "{} is not implemented by this pydbm build",
            style.module()
        ))
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
    /// Locks the handle state. A poisoned lock (a panic mid-operation, which pydbm's
    /// formats never do) is reported as an `error`, not propagated as a panic.
    fn lock(&self) -> PyResult<MutexGuard<'_, Inner>> {
        self.inner.lock().map_err(|_| {
            error_map::os_error("pydbm: database handle poisoned by an earlier panic".into())
        })
    }

    /// Runs `f` on the open database with the GIL released, mapping errors for `op`.
    fn with_db<T: Send>(
        &self,
        py: Python<'_>,
        op: Op,
        f: impl FnOnce(&mut dyn Dbm) -> pydbm_engine::Result<T> + Send,
    ) -> PyResult<T> {
        let mut guard = self.lock()?;
        let inner = &mut *guard;
        let result = match inner.db.as_mut() {
            Some(db) => py.allow_threads(|| f(db.dbm())),
            None => Err(Error::Closed {
                path: inner.path.clone(),
            }),
        };
        result.map_err(|e| self.err(py, op, e))
    }

    /// Like [`Database::with_db`], on the concrete handle.
    fn with_handle<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Handle) -> pydbm_engine::Result<T> + Send,
    ) -> PyResult<T> {
        let mut guard = self.lock()?;
        let inner = &mut *guard;
        let result = match inner.db.as_mut() {
            Some(db) => py.allow_threads(|| f(db)),
            None => Err(Error::Closed {
                path: inner.path.clone(),
            }),
        };
        result.map_err(|e| self.err(py, Op::Other, e))
    }

    fn err(&self, py: Python<'_>, op: Op, e: Error) -> PyErr {
        error_map::to_py(py, self.style, &self.error_cls, op, e)
    }

    fn key<'a>(&self, key: &'a Bound<'_, PyAny>) -> PyResult<std::borrow::Cow<'a, [u8]>> {
        match self.style {
            Style::Sqlite3 => to_bytes_sqlite(key, self.style.key_type_message()),
            _ => to_bytes(key, self.style.key_type_message()),
        }
    }

    fn value<'a>(&self, value: &'a Bound<'_, PyAny>) -> PyResult<std::borrow::Cow<'a, [u8]>> {
        match self.style {
            Style::Sqlite3 => to_bytes_sqlite(value, self.style.value_type_message()),
            _ => to_bytes(value, self.style.value_type_message()),
        }
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
        let k = self.key(key)?;
        match self.with_db(py, Op::Other, |db| db.get(&k))? {
            Some(v) => Ok(PyBytes::new(py, &v)),
            None => Err(PyKeyError::new_err(key.clone().unbind())),
        }
    }

    fn __setitem__(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let k = self.key(key)?;
        let v = self.value(value)?;
        self.with_db(py, Op::Store, |db| db.insert(&k, &v))
    }

    fn __delitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let k = self.key(key)?;
        if self.with_db(py, Op::Delete, |db| db.remove(&k))? {
            Ok(())
        } else {
            Err(PyKeyError::new_err(key.clone().unbind()))
        }
    }

    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let k = self.key(key)?;
        self.with_db(py, Op::Other, |db| db.contains(&k))
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.with_db(py, Op::Other, |db| db.len())
    }

    /// Iterates over a snapshot of the keys (as `dbm.dumb` does).
    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let keys = self.keys(py)?;
        keys.try_iter().map(|it| it.into_any())
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
        let k = self.key(key)?;
        match self.with_db(py, Op::Other, |db| db.get(&k))? {
            Some(v) => Ok(PyBytes::new(py, &v).into_any()),
            None => Ok(default.unwrap_or_else(|| py.None().into_bound(py))),
        }
    }

    /// `db.setdefault(key, default=b'')`: the stored value, storing `default` if absent.
    #[pyo3(signature = (key, default=None))]
    fn setdefault<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let k = self.key(key)?;
        if let Some(v) = self.with_db(py, Op::Other, |db| db.get(&k))? {
            return Ok(PyBytes::new(py, &v));
        }
        let d: Vec<u8> = match &default {
            Some(d) => self.value(d)?.into_owned(),
            None => Vec::new(),
        };
        self.with_db(py, Op::Store, |db| db.insert(&k, &d))?;
        Ok(PyBytes::new(py, &d))
    }

    /// `db.pop(key[, default])`, as `MutableMapping.pop`.
    #[pyo3(signature = (key, *default))]
    fn pop<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = self.key(key)?;
        match self.with_db(py, Op::Other, |db| db.get(&k))? {
            Some(v) => {
                self.with_db(py, Op::Delete, |db| db.remove(&k))?;
                Ok(PyBytes::new(py, &v).into_any())
            }
            None if !default.is_empty() => default.get_item(0),
            None => Err(PyKeyError::new_err(key.clone().unbind())),
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
        let k = self.key(key)?.into_owned();
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
    fn iterkeys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.__iter__(py)
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
        let taken = self.lock()?.db.take();
        match taken {
            Some(mut db) => py
                .allow_threads(|| db.dbm().close())
                .map_err(|e| self.err(py, Op::Other, e)),
            None => Ok(()),
        }
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

    fn __repr__(&self) -> PyResult<String> {
        let inner = self.lock()?;
        let state = if inner.db.is_some() { "open" } else { "closed" };
        Ok(format!(
            "<pydbm {} database {:?} ({state})>",
            self.style.module(),
            inner.path.display().to_string()
        ))
    }
}

/// `whichdb(path, dialect="pydbm")`: which module made the database at `path`
/// (`pydbm_formats::whichdb`, python-formats spec §6).
///
/// Returns `None` when `path` cannot be opened, `""` for an unknown format, else the
/// standard module's name (`"dbm.gnu"`, `"dbm.ndbm"`, `"dbm.dumb"`, `"dbm.sqlite3"`).
/// `dialect`: `"pydbm"` (CPython 3.13's answers, plus `"dbm.gnu"` for the numsync and
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
    py.allow_threads(|| whichdb_as(&pydbm_engine::OsVfs::new(), &path, dialect))
        .map_err(|e| error_map::os_error(e.to_string()))
}
