//! # pydbm
//!
//! Python's data-persistence stack rebuilt in Rust. This facade re-exports the layers.
#![warn(missing_docs)]

pub use pydbm_engine as engine;
pub use pydbm_engine::{Dbm, Durability, Error, OpenMode, OpenOptions, Result};
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
