//! CPython's `dbm.dumb`: the `.dat`/`.dir`/`.bak` triple (python-formats spec §3).
//!
//! - [`dir_index`]: parse/encode of the `.dir` text (pure).
//! - [`layout`]: the 512-byte block rules of `.dat` (pure).
//! - [`index`]: the insertion-ordered in-memory index.
//! - [`store`]: CPython 3.13's write algorithm over three transactional files.
//! - [`check`]: index-vs-.dat consistency analysis (pure).
//! - [`fuzzing`]: the fuzz targets' entry points.

pub mod check;
pub mod dir_index;
pub mod fuzzing;
pub mod index;
pub mod layout;
pub mod store;
