//! Conversion of Python key and value arguments to bytes, as the standard dbm modules
//! accept them: `bytes`, `str` (encoded UTF-8), and other bytes-like objects
//! (`bytearray`, `memoryview`, ...).

use std::borrow::Cow;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyString, PyType};

/// The bytes of a key or value argument.
///
/// `str` is encoded UTF-8 (a lone surrogate raises `UnicodeEncodeError`, as
/// `str.encode('utf-8')` does). Objects that are neither `bytes`, `str` nor `bytearray`
/// are converted with `bytes(obj)` when they support the buffer protocol (the limited
/// API of Python 3.8 has no direct buffer access). Anything else raises `TypeError`
/// with `what` as the message (each module's own wording).
pub fn to_bytes<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(b) = obj.downcast::<PyBytes>() {
        return Ok(Cow::Borrowed(b.as_bytes()));
    }
    if let Ok(s) = obj.downcast::<PyString>() {
        let text = s.to_cow()?;
        return Ok(Cow::Owned(text.into_owned().into_bytes()));
    }
    if let Ok(b) = obj.downcast::<PyByteArray>() {
        return Ok(Cow::Owned(b.to_vec()));
    }
    let py = obj.py();
    let memoryview = py.import("builtins")?.getattr("memoryview")?;
    if obj.is_instance(&memoryview)? {
        let b = obj.call_method0("tobytes")?;
        let b = b.downcast_into::<PyBytes>()?;
        return Ok(Cow::Owned(b.as_bytes().to_vec()));
    }
    Err(PyTypeError::new_err(what.to_owned()))
}

/// A `dbm.sqlite3` key or value as SQLite binds it: the bytes `CAST(? AS BLOB)` yields,
/// or `None` for SQL NULL (`None`, and a NaN float, which SQLite binds as NULL).
pub type SqliteParam<'a> = Option<Cow<'a, [u8]>>;

/// A `dbm.sqlite3` argument converted as CPython 3.13's module converts it
/// (python-formats spec §5: `sqlite3` binds the object, `CAST(? AS BLOB)` renders it):
///
/// * `None` and NaN → SQL NULL (`Ok(None)`; the caller raises what the statement would:
///   `KeyError` for a lookup, `error("NOT NULL constraint failed: Dict.key")` for a store);
/// * `int` (and `bool`, int subclasses) → decimal; beyond 64 bits `OverflowError` with
///   `sqlite3`'s message;
/// * `float` → SQLite 3.40's `"%!.15g"` text ([`crate::sqlite_real`]);
/// * `str` → UTF-8 (a lone surrogate raises `UnicodeEncodeError`, as `sqlite3` does);
/// * anything with the buffer protocol → its bytes;
/// * first of all, objects `sqlite3` would adapt are adapted ([`sqlite_adapt`]);
/// * anything else → `error_cls("Error binding parameter N: type 'T' is not supported")`,
///   `position` being 1 for a key, 2 for a value (the statement's parameter number).
pub fn to_sqlite_param<'a>(
    obj: &'a Bound<'_, PyAny>,
    position: usize,
    error_cls: &Bound<'_, PyType>,
) -> PyResult<SqliteParam<'a>> {
    let adapted = sqlite_adapt(obj)?;
    if !adapted.is(obj) {
        let owned = to_sqlite_value(&adapted, position, error_cls)?;
        return Ok(owned.map(|c| Cow::Owned(c.into_owned())));
    }
    to_sqlite_value(obj, position, error_cls)
}

/// `sqlite3`'s adaptation step before binding (PEP 246, as `_sqlite3` runs it): objects
/// that are not exactly `int`/`float`/`str`/`bytearray` go through the adapter registered
/// for `(type(obj), sqlite3.PrepareProtocol)` in `sqlite3.adapters` (the default ones turn
/// `datetime.date`/`datetime.datetime` into ISO text), else `obj.__conform__(PrepareProtocol)`
/// (a `TypeError` from it is ignored), else stay as they are. Without an importable
/// `sqlite3` module nothing is adapted. An adapter's exception propagates.
fn sqlite_adapt<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if obj.is_exact_instance_of::<PyInt>()
        || obj.is_exact_instance_of::<PyFloat>()
        || obj.is_exact_instance_of::<PyString>()
        || obj.is_exact_instance_of::<PyByteArray>()
    {
        return Ok(obj.clone());
    }
    let py = obj.py();
    let Ok(sqlite3) = py.import("sqlite3") else {
        return Ok(obj.clone());
    };
    let proto = sqlite3.getattr("PrepareProtocol")?;
    let adapters = sqlite3.getattr("adapters")?;
    if let Ok(adapters) = adapters.downcast::<PyDict>() {
        if let Some(adapter) = adapters.get_item((obj.get_type(), proto.clone()))? {
            return adapter.call1((obj,));
        }
    }
    if let Ok(conform) = obj.getattr("__conform__") {
        match conform.call1((proto,)) {
            Ok(adapted) if !adapted.is_none() => return Ok(adapted),
            Ok(_) => {}
            Err(e) if e.is_instance_of::<pyo3::exceptions::PyTypeError>(py) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(obj.clone())
}

/// [`to_sqlite_param`] after adaptation: the binding rules by type.
fn to_sqlite_value<'a>(
    obj: &'a Bound<'_, PyAny>,
    position: usize,
    error_cls: &Bound<'_, PyType>,
) -> PyResult<SqliteParam<'a>> {
    if obj.is_none() {
        return Ok(None);
    }
    if let Ok(b) = obj.downcast::<PyBool>() {
        let text: &[u8] = if b.is_true() { b"1" } else { b"0" };
        return Ok(Some(Cow::Borrowed(text)));
    }
    if obj.downcast::<PyInt>().is_ok() {
        let n: i64 = obj.extract().map_err(|_| {
            pyo3::exceptions::PyOverflowError::new_err(
                "Python int too large to convert to SQLite INTEGER",
            )
        })?;
        return Ok(Some(Cow::Owned(n.to_string().into_bytes())));
    }
    if let Ok(f) = obj.downcast::<PyFloat>() {
        return Ok(crate::sqlite_real::render_real(f.value()).map(|t| Cow::Owned(t.into_bytes())));
    }
    if let Ok(b) = to_bytes(obj, "") {
        return Ok(Some(b));
    }
    if obj.downcast::<PyString>().is_ok() {
        // to_bytes failed on a str: the UnicodeEncodeError of a lone surrogate
        return to_bytes(obj, "").map(Some);
    }
    // any other buffer-protocol object (array.array, ...) binds as a BLOB
    let py = obj.py();
    if let Ok(view) = py.import("builtins")?.getattr("memoryview")?.call1((obj,)) {
        let b = view.call_method0("tobytes")?;
        let b = b.downcast_into::<PyBytes>()?;
        return Ok(Some(Cow::Owned(b.as_bytes().to_vec())));
    }
    let type_name = obj.get_type().name()?;
    Err(PyErr::from_type(
        error_cls.clone(),
        (format!(
            "Error binding parameter {position}: type '{type_name}' is not supported"
        ),),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_py<T>(f: impl FnOnce(Python<'_>) -> T) -> T {
        pyo3::prepare_freethreaded_python();
        Python::with_gil(f)
    }

    #[test]
    fn accepts_bytes_str_bytearray_memoryview() {
        with_py(|py| {
            let cases: Vec<(Bound<'_, PyAny>, &[u8])> = vec![
                (PyBytes::new(py, b"ab\xbd").into_any(), b"ab\xbd"),
                (
                    PyString::new(py, "\u{1f40d}").into_any(),
                    "\u{1f40d}".as_bytes(),
                ),
                (PyByteArray::new(py, b"xy").into_any(), b"xy"),
                (py.eval(c"memoryview(b'mv')", None, None).unwrap(), b"mv"),
            ];
            for (obj, want) in cases {
                assert_eq!(&*to_bytes(&obj, "bad").unwrap(), want);
            }
        });
    }

    #[test]
    fn rejects_other_types_with_the_given_message() {
        with_py(|py| {
            let obj = py.eval(c"[1]", None, None).unwrap();
            let err = to_bytes(&obj, "keys must be bytes").unwrap_err();
            assert!(err.is_instance_of::<PyTypeError>(py));
            assert_eq!(err.value(py).to_string(), "keys must be bytes");
            // a lone surrogate cannot be encoded UTF-8, as str.encode('utf-8') fails
            let s = py.eval(c"'\\udcff'", None, None).unwrap();
            assert!(to_bytes(&s, "x").is_err());
        });
    }

    #[test]
    fn sqlite_binds_like_sqlite3() {
        with_py(|py| {
            let err_cls = py.get_type::<pyo3::exceptions::PyOSError>();
            let conv = |src: &std::ffi::CStr, pos| {
                let obj = py.eval(src, None, None).unwrap();
                to_sqlite_param(&obj, pos, &err_cls).map(|o| o.map(|c| c.into_owned()))
            };
            // what CPython 3.13's dbm.sqlite3 stored for these (probe run with 3.13.0)
            for (src, want) in [
                (c"1", &b"1"[..]),
                (c"-42", b"-42"),
                (c"True", b"1"),
                (c"3.14", b"3.14"),
                (c"1e15", b"1.0e+15"),
                (c"bytearray(b'ba')", b"ba"),
                (c"__import__('array').array('B', b'ar')", b"ar"),
            ] {
                assert_eq!(conv(src, 1).unwrap().as_deref(), Some(want));
            }
            assert_eq!(conv(c"None", 1).unwrap(), None);
            assert_eq!(conv(c"float('nan')", 2).unwrap(), None);
            assert!(conv(c"2**70", 1)
                .unwrap_err()
                .is_instance_of::<pyo3::exceptions::PyOverflowError>(py));
            assert!(conv(c"'\\udcff'", 1)
                .unwrap_err()
                .is_instance_of::<pyo3::exceptions::PyUnicodeEncodeError>(py));
            let e = conv(c"[1]", 2).unwrap_err();
            assert!(e.is_instance_of::<pyo3::exceptions::PyOSError>(py));
            assert_eq!(
                e.value(py).to_string(),
                "Error binding parameter 2: type 'list' is not supported"
            );
        });
    }
}
