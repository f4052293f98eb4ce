//! CPython's `dbm.dumb`: the `.dat`/`.dir`/`.bak` triple (python-formats spec §3).
//!
//! - [`dir_index`]: parse/encode of the `.dir` text (pure).
//! - [`layout`]: the 512-byte block rules of `.dat` (pure).
//! - [`index`]: the insertion-ordered in-memory index.
//! - [`check`]: index-vs-`.dat` consistency analysis (pure).
//! - [`store`]: CPython 3.13's write algorithm over the engine's multi-file pager.
//! - [`db`]: [`DumbDb`], the [`pydbm_engine::Dbm`] over the engine's pager.
//! - [`format`](mod@format): [`DumbFormat`] / [`FORMAT`], the CLI's check, stats, recover, crashtest.
//! - [`crashtest`]: the crash workload run through the engine's harness.
//! - `fuzzing`: the fuzz targets' entry points (feature `fuzzing`).
//!
//! Design note: `docs/dumb.md`.

pub mod check;
pub mod crashtest;
pub mod db;
pub mod dir_index;
pub mod format;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod index;
pub mod layout;
pub mod store;

pub use db::DumbDb;
pub use format::{DumbFormat, FORMAT};
