//! # pydbm-sqlite
//!
//! Python's `sqlite3` module semantics over rusqlite, and the `dbm.sqlite3` frontend.
//!
//! - [`connect`] / [`Connection`] / [`Cursor`] / [`Row`] / [`Value`]: the `sqlite3` module
//!   (3.11–3.13 behaviour, 3.12's `autocommit`), with the DB-API [`Error`] hierarchy.
//! - [`dbm`]: `dbm.sqlite3` (Python 3.13's schema and SQL) as a [`pydbm_engine::Dbm`], and
//!   [`dbm::FORMAT`] for the CLI.
#![warn(missing_docs)]

mod anchor;
pub mod blob;
pub mod callbacks;
pub mod connection;
pub mod crash;
pub mod cursor;
pub mod datetime;
pub mod dbm;
pub mod dbm_crash;
pub mod dump;
pub mod error;
mod ofd_presence;
mod open;
pub mod params;
mod result_codes;
pub mod row;
pub mod shell;
mod shm;
mod statement;
pub mod uri;
pub mod value;
pub mod vfs;
pub mod warning;

pub use blob::Blob;
pub use callbacks::{Aggregate, WindowAggregate};
pub use connection::{
    connect, Autocommit, ConnectOptions, Connection, RowFactory, PARSE_COLNAMES, PARSE_DECLTYPES,
};
pub use cursor::{complete_statement, Cursor};
pub use dbm::{SqliteDbm, SqliteFormat, FORMAT};
pub use error::{Error, ErrorKind, Result};
pub use params::{BindParams, Params, ToBind};
pub use result_codes::result_code_name;
pub use row::Row;
pub use shell::shell;
pub use value::{
    adapt, register_adapter, register_converter, Object, PrepareProtocol, TextFactory, Tuple, Value,
};
pub use vfs::EngineVfs;
pub use warning::{Warning, WarningAction, WarningCategory, WarningHook};

/// `sqlite3.apilevel`.
pub const APILEVEL: &str = "2.0";
/// `sqlite3.paramstyle`.
pub const PARAMSTYLE: &str = "qmark";
/// `sqlite3.threadsafety`: 3 for SQLite's serialized mode (the bundled build's default).
pub fn threadsafety() -> i32 {
    // SAFETY: sqlite3_threadsafe has no preconditions.
    match unsafe { rusqlite::ffi::sqlite3_threadsafe() } {
        0 => 0,
        2 => 1,
        _ => 3,
    }
}
/// `sqlite3.sqlite_version`: the SQLite library's version string.
pub fn sqlite_version() -> &'static str {
    rusqlite::version()
}
/// `sqlite3.LEGACY_TRANSACTION_CONTROL`.
pub const LEGACY_TRANSACTION_CONTROL: i32 = -1;
