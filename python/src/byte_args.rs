//! Conversion of Python key and value arguments to bytes, as the standard dbm modules
//! accept them: `bytes`, `str` (encoded UTF-8), and other bytes-like objects
//! (`bytearray`, `memoryview`, ...).

use std::borrow::Cow;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString};

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
