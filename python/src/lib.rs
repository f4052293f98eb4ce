//! `pydbm._pydbm`: the native half of the `pydbm` Python package.
//!
//! It exposes one class, [`database::Database`] (an open dbm file of any format pydbm
//! implements), and one opening function, [`database::open`]. The Python modules
//! `pydbm.gnu`, `pydbm.ndbm`, `pydbm.dumb` and `pydbm.sqlite3` (in `pysrc/`) validate
//! their flags as the standard modules do and call `open` with their own `error` class,
//! so every failure surfaces as the exception the standard module raises
//! (see [`error_map`]). [`pickle_scan::pickle_scan`] lists the globals a pickle would
//! import without executing it.
#![warn(missing_docs)]

pub mod byte_args;
pub mod database;
pub mod error_map;
pub mod ndbm_live;
pub mod pickle_scan;
pub mod sqlite_real;

use pyo3::prelude::*;

/// The extension module `pydbm._pydbm`.
#[pymodule]
fn _pydbm(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<database::Database>()?;
    m.add_class::<database::KeyIterator>()?;
    m.add_function(wrap_pyfunction!(database::open, m)?)?;
    m.add_function(wrap_pyfunction!(database::implemented_modules, m)?)?;
    m.add_function(wrap_pyfunction!(pickle_scan::pickle_scan, m)?)?;
    m.add_function(wrap_pyfunction!(database::whichdb, m)?)?;
    m.add_function(wrap_pyfunction!(ndbm_live::ndbm_live_diff, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
