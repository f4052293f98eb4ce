//! gdbm 1.23 (`dbm.gnu`): see docs/gdbm.md and the gdbm spec.
//!
//! Layers, bottom up: pure on-disk structures ([`layout`], [`header`], [`directory`],
//! [`bucket`], [`avail`], [`hash`]); the store logic over the engine's [`pydbm_engine::Store`]
//! ([`handle::GdbmFile`], with allocation and splitting in their own modules); and the
//! Python-facing database.

pub mod avail;
pub mod bucket;
pub mod cache;
pub mod char_sign;
pub mod directory;
pub mod handle;
pub mod hash;
pub mod header;
pub mod layout;

mod alloc;
#[cfg(test)]
mod hostile_tests;
mod split;

pub use handle::{FileOptions, GdbmFile};
pub use layout::{GdbmCode, Layout, Malformed};
pub mod check;
pub mod db;
pub mod dump;
pub use db::GnuDb;
pub mod open;
pub mod salvage;
pub use open::{open, open_with, os_vfs, GnuOptions};
pub mod format;
pub use format::{GnuFormat, FORMAT};
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz_entry;
