//! `ndbm_live_diff(a, b)`: compares two Berkeley DB hash files on their *live* bytes
//! (ndbm spec §4–5: libdb leaves uninitialised memory and a per-run uid in its files, so
//! two libdb runs never give equal bytes; pydbm's writer equals libdb on every byte libdb
//! defines). Used by the interop tests, and useful to anyone checking a file pydbm wrote
//! against one libdb wrote.

use pyo3::prelude::*;

/// `None` when the two files (their bytes) are identical on every live byte, else a
/// description of the first difference (offset, page, count) or of why a file could not
/// be read.
#[pyfunction]
pub fn ndbm_live_diff(a: &[u8], b: &[u8]) -> Option<String> {
    pydbm_formats::ndbm::live::live_diff(a, b)
}
