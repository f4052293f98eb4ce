//! # pydbm-formats
//!
//! Byte-compatible dbm file formats, each implementing [`pydbm_engine::Dbm`]:
//! gdbm 1.23 (`gnu`), Berkeley DB 5.3 hash / gdbm_compat / db1.85 (`ndbm`) and
//! CPython's `dbm.dumb` (`dumb`).
#![warn(missing_docs)]

pub mod dumb;
pub mod gnu;
pub mod ndbm;
pub mod whichdb;

#[cfg(test)]
mod transaction_crash_tests;
