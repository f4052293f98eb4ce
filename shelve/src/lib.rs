//! # pydbm-shelve
//!
//! Python's value formats and `shelve`: pickle (with copyreg), marshal, and `Shelf`
//! over any [`pydbm_engine::Dbm`]. Pure computation: nothing here touches files.
#![warn(missing_docs)]

pub mod int_max_str_digits;
pub mod marshal;
pub mod pickle;
pub mod py_exc;
pub use py_exc::PyExc;
pub mod shelf;
