//! How a [`pydbm_engine::Error`] becomes the Python exception the standard module raises.
//!
//! Each module has its own `error` class (`dbm.gnu.error`, `dbm.ndbm.error` are `OSError`
//! subclasses; `dbm.dumb.error` is `OSError` itself; `dbm.sqlite3.error` an `OSError`
//! subclass) and its own wording for the same failure. [`Style`] holds the wording;
//! the class is passed in by the Python module at `open` time.
//!
//! | engine error | raised |
//! |---|---|
//! | `Io { path, source }` | `error(errno, os.strerror(errno), path)` (so `OSError` itself becomes `FileNotFoundError` & co.) |
//! | `NotFound { what }` | `error(ENOENT, "No such file or directory", what)` |
//! | `Locked { path }` | `error(EAGAIN, "Resource temporarily unavailable", path)` (libgdbm's failed `flock`) |
//! | `ReadOnly` | `error(<the module's reader message>)` |
//! | `Closed` | `error("GDBM object has already been closed")` / `"DBM object ..."` |
//! | `Corrupt` | `error(message)`; `ValueError(message)` for dumb (CPython's `literal_eval` failure) |
//! | `BadArgument`, `Unsupported`, others | `error(message)` |

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyType;

use pydbm_engine::Error;

/// Which standard module's wording to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `dbm.gnu` (`_gdbm`).
    Gnu,
    /// `dbm.ndbm` (`_dbm`).
    Ndbm,
    /// `dbm.dumb`.
    Dumb,
    /// `dbm.sqlite3` (Python 3.13).
    Sqlite3,
    /// pydbm's etcd backend (`pydbm.etcd`, `etcd://` addresses; no standard module).
    Etcd,
}

/// The operation that failed, for the messages that differ by operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Storing a value (`db[k] = v`, `setdefault`).
    Store,
    /// Deleting a key (`del db[k]`).
    Delete,
    /// Anything else.
    Other,
}

impl Style {
    /// The style for a module name such as `"dbm.gnu"` (prefix optional); `None` if unknown.
    pub fn from_module(module: &str) -> Option<Style> {
        match module.strip_prefix("dbm.").unwrap_or(module) {
            "gnu" => Some(Style::Gnu),
            "ndbm" => Some(Style::Ndbm),
            "dumb" => Some(Style::Dumb),
            "sqlite3" => Some(Style::Sqlite3),
            "etcd" => Some(Style::Etcd),
            _ => None,
        }
    }

    /// The module name as the engine's format registry spells it.
    pub fn module(self) -> &'static str {
        match self {
            Style::Gnu => "dbm.gnu",
            Style::Ndbm => "dbm.ndbm",
            Style::Dumb => "dbm.dumb",
            Style::Sqlite3 => "dbm.sqlite3",
            Style::Etcd => "etcd",
        }
    }

    /// What the module says about a closed handle.
    pub fn closed_message(self) -> &'static str {
        match self {
            Style::Gnu => "GDBM object has already been closed",
            _ => "DBM object has already been closed",
        }
    }

    /// What the module says when a read-only handle is written to.
    pub fn read_only_message(self, op: Op) -> &'static str {
        match (self, op) {
            // gdbm_strerror(GDBM_READER_CANT_DELETE / _STORE)
            (Style::Gnu, Op::Delete) => "Reader can't delete",
            (Style::Gnu, _) => "Reader can't store",
            // _dbmmodule.c's messages
            (Style::Ndbm, Op::Delete) => "cannot delete item from database",
            (Style::Ndbm, _) => "cannot add item to database",
            (Style::Dumb, _) => "The database is opened for reading only",
            (Style::Sqlite3, _) => "attempt to write a readonly database",
            (Style::Etcd, _) => "The database is opened for reading only",
        }
    }

    /// The `TypeError` message for a key that is neither bytes nor str.
    pub fn key_type_message(self) -> &'static str {
        match self {
            Style::Gnu => "gdbm mappings have bytes or string indices only",
            Style::Ndbm => "dbm mappings have bytes or string keys only",
            Style::Dumb => "keys and values must be bytes or strings",
            Style::Sqlite3 | Style::Etcd => "keys and values must be bytes or strings",
        }
    }

    /// The `TypeError` message for a value that is neither bytes nor str.
    pub fn value_type_message(self) -> &'static str {
        match self {
            Style::Gnu => "gdbm mappings have bytes or string elements only",
            Style::Ndbm => "dbm mappings have bytes or string elements only",
            Style::Dumb => "keys and values must be bytes or strings",
            Style::Sqlite3 | Style::Etcd => "keys and values must be bytes or strings",
        }
    }
}

/// Builds `cls(*args)` as a raisable [`PyErr`]; when the class cannot be called (it is
/// not an exception class), falls back to `OSError(*args)`.
fn instantiate<'py, A>(py: Python<'py>, cls: &Py<PyType>, args: A) -> PyErr
where
    A: pyo3::call::PyCallArgs<'py>,
{
    let cls = cls.bind(py);
    match cls.call1(args) {
        Ok(obj) => PyErr::from_value(obj),
        Err(e) => e,
    }
}

/// `os.strerror(errno)`, or a generic text when that fails.
fn strerror(py: Python<'_>, errno: i32) -> String {
    py.import("os")
        .and_then(|os| os.getattr("strerror"))
        .and_then(|f| f.call1((errno,)))
        .and_then(|s| s.extract::<String>())
        .unwrap_or_else(|_| format!("error {errno}"))
}

/// The value of `errno.NAME`, or `fallback` (the Linux number).
fn errno_named(py: Python<'_>, name: &str, fallback: i32) -> i32 {
    py.import("errno")
        .and_then(|m| m.getattr(name))
        .and_then(|v| v.extract::<i32>())
        .unwrap_or(fallback)
}

/// Maps an engine error of operation `op` to the exception `style`'s module raises, with
/// `error_cls` as the module's `error` class.
pub fn to_py(py: Python<'_>, style: Style, error_cls: &Py<PyType>, op: Op, err: Error) -> PyErr {
    match err {
        Error::Io { path, source } => match source.raw_os_error() {
            Some(errno) => {
                let text = strerror(py, errno);
                instantiate(py, error_cls, (errno, text, path.into_os_string()))
            }
            None => {
                let errno = match source.kind() {
                    std::io::ErrorKind::NotFound => errno_named(py, "ENOENT", 2),
                    std::io::ErrorKind::PermissionDenied => errno_named(py, "EACCES", 13),
                    std::io::ErrorKind::AlreadyExists => errno_named(py, "EEXIST", 17),
                    _ => {
                        let text = format!("{}: {source}", path.display());
                        return instantiate(py, error_cls, (text,));
                    }
                };
                let text = strerror(py, errno);
                instantiate(py, error_cls, (errno, text, path.into_os_string()))
            }
        },
        Error::NotFound { what } => {
            let errno = errno_named(py, "ENOENT", 2);
            let text = strerror(py, errno);
            instantiate(py, error_cls, (errno, text, what))
        }
        Error::Locked { path } => {
            let errno = errno_named(py, "EAGAIN", 11);
            let text = strerror(py, errno);
            instantiate(py, error_cls, (errno, text, path.into_os_string()))
        }
        Error::ReadOnly { .. } => instantiate(py, error_cls, (style.read_only_message(op),)),
        Error::Closed { .. } => instantiate(py, error_cls, (style.closed_message(),)),
        Error::Corrupt { .. } if style == Style::Dumb => {
            // CPython's dbm.dumb parses .dir with ast.literal_eval: malformed → ValueError.
            PyValueError::new_err(err.to_string())
        }
        other => instantiate(py, error_cls, (other.to_string(),)),
    }
}

/// `OSError(message)`, for failures outside any module's scope.
pub fn os_error(message: String) -> PyErr {
    PyOSError::new_err(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pyo3::types::PyAnyMethods;

    #[test]
    fn module_names_round_trip() {
        for s in [Style::Gnu, Style::Ndbm, Style::Dumb, Style::Sqlite3, Style::Etcd] {
            assert_eq!(Style::from_module(s.module()), Some(s));
        }
        assert_eq!(Style::from_module("gnu"), Some(Style::Gnu));
        assert_eq!(Style::from_module("dbm.bsd"), None);
    }

    fn with_error_class<T>(f: impl FnOnce(Python<'_>, Py<PyType>) -> T) -> T {
        pyo3::prepare_freethreaded_python();
        Python::with_gil(|py| {
            let ns = pyo3::types::PyDict::new(py);
            py.run(c"class error(OSError): pass", None, Some(&ns))
                .unwrap();
            let cls = ns
                .get_item("error")
                .unwrap()
                .expect("the class statement above defines error")
                .downcast_into::<PyType>()
                .unwrap();
            f(py, cls.unbind())
        })
    }

    #[test]
    fn io_errors_carry_errno_strerror_and_filename() {
        with_error_class(|py, cls| {
            let e = Error::io("some/file", std::io::Error::from_raw_os_error(2));
            let err = to_py(py, Style::Gnu, &cls, Op::Other, e);
            let v = err.value(py);
            assert!(v.is_instance(cls.bind(py)).unwrap());
            assert_eq!(v.getattr("errno").unwrap().extract::<i32>().unwrap(), 2);
            assert_eq!(
                v.getattr("filename").unwrap().extract::<String>().unwrap(),
                "some/file"
            );
            assert_eq!(
                v.getattr("strerror").unwrap().extract::<String>().unwrap(),
                "No such file or directory"
            );
        });
    }

    #[test]
    fn plain_oserror_class_becomes_the_errno_subclass() {
        // dbm.dumb.error is OSError itself: OSError(2, ...) is a FileNotFoundError.
        pyo3::prepare_freethreaded_python();
        Python::with_gil(|py| {
            let cls = py.get_type::<PyOSError>().unbind();
            let e = Error::NotFound {
                what: "x.dat".into(),
            };
            let err = to_py(py, Style::Dumb, &cls, Op::Other, e);
            assert!(err.is_instance_of::<pyo3::exceptions::PyFileNotFoundError>(py));
        });
    }

    #[test]
    fn messages_follow_the_module() {
        with_error_class(|py, cls| {
            let closed = || Error::Closed { path: "p".into() };
            let ro = || Error::ReadOnly { path: "p".into() };
            let msg = |s, op, e| to_py(py, s, &cls, op, e).value(py).to_string();
            assert_eq!(
                msg(Style::Gnu, Op::Other, closed()),
                "GDBM object has already been closed"
            );
            assert_eq!(
                msg(Style::Dumb, Op::Other, closed()),
                "DBM object has already been closed"
            );
            assert_eq!(msg(Style::Gnu, Op::Delete, ro()), "Reader can't delete");
            assert_eq!(msg(Style::Gnu, Op::Store, ro()), "Reader can't store");
            assert_eq!(
                msg(Style::Dumb, Op::Store, ro()),
                "The database is opened for reading only"
            );
            let corrupt = to_py(
                py,
                Style::Dumb,
                &cls,
                Op::Other,
                Error::corrupt("d.dir", 3, "a literal"),
            );
            assert!(corrupt.is_instance_of::<PyValueError>(py));
            let locked = to_py(
                py,
                Style::Gnu,
                &cls,
                Op::Other,
                Error::Locked { path: "g".into() },
            );
            assert_eq!(
                locked
                    .value(py)
                    .getattr("errno")
                    .unwrap()
                    .extract::<i32>()
                    .unwrap(),
                11
            );
        });
    }
}
