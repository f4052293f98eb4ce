//! Conversion of Python key and value arguments to bytes, as the standard dbm modules
//! accept them: `bytes`, `str` (encoded UTF-8), and other bytes-like objects
//! (`bytearray`, `memoryview`, ...).

use std::borrow::Cow;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyInt, PyString};

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

/// [`to_bytes`] plus `dbm.sqlite3`'s coercion of integers: SQLite binds an `int` as an
/// INTEGER and `CAST(? AS BLOB)` renders it in decimal, so `db[1]` is `db[b"1"]`
/// (python-formats spec §5; `True` binds as 1). Floats are not coerced (SQLite's `%!.15g`
/// rendering is not Python's `repr`): they raise `TypeError`.
pub fn to_bytes_sqlite<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(b) = obj.downcast::<PyBool>() {
        let text: &[u8] = if b.is_true() { b"1" } else { b"0" };
        return Ok(Cow::Borrowed(text));
    }
    if obj.downcast::<PyInt>().is_ok() {
        let n: i64 = obj.extract().map_err(|_| {
            pyo3::exceptions::PyOverflowError::new_err(
                "Python int too large to convert to SQLite INTEGER",
            )
        })?;
        return Ok(Cow::Owned(n.to_string().into_bytes()));
    }
    to_bytes(obj, what)
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
    fn sqlite_coerces_ints_like_sqlite() {
        with_py(|py| {
            for (src, want) in [(c"1", &b"1"[..]), (c"-42", b"-42"), (c"True", b"1")] {
                let obj = py.eval(src, None, None).unwrap();
                assert_eq!(&*to_bytes_sqlite(&obj, "x").unwrap(), want);
            }
            let f = py.eval(c"1.5", None, None).unwrap();
            assert!(to_bytes_sqlite(&f, "x").is_err());
            let big = py.eval(c"2**70", None, None).unwrap();
            assert!(to_bytes_sqlite(&big, "x").is_err());
        });
    }
}
