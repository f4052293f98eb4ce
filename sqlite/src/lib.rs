//! # pydbm-sqlite
//!
//! Python's `sqlite3` module semantics over rusqlite, and the `dbm.sqlite3` frontend.
//!
//! - [`dbm`]: `dbm.sqlite3` (Python 3.13's schema and SQL) as a [`pydbm_engine::Dbm`], and
//!   [`dbm::FORMAT`] for the CLI.
//! - [`error`]: the DB-API exception hierarchy.
#![warn(missing_docs)]

pub mod dbm;
pub mod error;
mod open;
mod result_codes;
pub mod uri;

pub use dbm::{SqliteDbm, SqliteFormat, FORMAT};
pub use error::{Error, ErrorKind, Result};
pub use result_codes::result_code_name;
