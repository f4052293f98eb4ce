//! # pydbm
//!
//! Python's data-persistence stack rebuilt in Rust. This facade re-exports the layers.
//!
//! ## Use from Rust
//!
//! Open a database with [`Options`] (the format named by the method, or found from the file
//! or its extension), group writes in a [`Transaction`], and walk it with a lazy cursor:
//!
//! ```
//! use pydbm::{Dbm, Durability, Options};
//! let dir = tempfile::tempdir()?;
//! let mut db = Options::new()
//!     .create()
//!     .durability(Durability::Process)
//!     .open_sqlite3(dir.path().join("app.sqlite3"))?;
//! let mut txn = db.transaction()?;
//! txn.insert(b"user/1", b"ada")?;
//! txn.insert(b"user/2", b"grace")?;
//! txn.commit()?; // both or neither, even if the process is killed
//! for item in db.iter() {
//!     let (key, value) = item?;
//!     println!("{} = {}", String::from_utf8_lossy(&key), String::from_utf8_lossy(&value));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The same works on `Box<dyn Dbm>` from [`Options::open`]. [`open`] is Python's
//! `dbm.open` (flag strings, and CPython 3.13's rule that a new database is `dbm.sqlite3`);
//! `examples/embedded_kv.rs` is a complete program.
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
