//! # pydbm
//!
//! Python's data-persistence stack rebuilt in Rust. This facade re-exports the layers.
#![warn(missing_docs)]

pub use pydbm_engine as engine;
pub use pydbm_engine::{
    CursorPosition, Dbm, Durability, Error, Items, Iter, KeysIter, MemDbm, OpenMode, OpenOptions,
    Result, Transaction,
};
pub use pydbm_formats::dumb::DumbDb;
pub use pydbm_formats::gnu::{GnuDb, GnuOptions};
pub use pydbm_sqlite::SqliteDbm;

mod options;
pub use options::{DbFormat, Options};
pub use pydbm_formats as formats;
pub use pydbm_shelve as shelve;
pub use pydbm_sqlite as sqlite;

mod open;
pub use open::{default_module, open, open_shelf, open_with_mode, whichdb};
pub mod registry;
pub use registry::format_for;
pub mod remote;
#[cfg(feature = "etcd")]
pub use pydbm_etcd as etcd;

pub mod cli;
#[doc(hidden)]
pub mod fuzz_entry;
