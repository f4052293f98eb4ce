//! # pydbm-sqlite
//!
//! Python's `sqlite3` module semantics over rusqlite, and the `dbm.sqlite3` frontend.
#![warn(missing_docs)]
