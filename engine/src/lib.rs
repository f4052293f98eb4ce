//! # pydbm-engine
//!
//! The storage core every pydbm format stands on. It knows nothing about any file
//! format; it moves bytes between files and memory safely:
//!
//! - [`Vfs`] / [`VfsFile`]: the file layer.
//! - [`Dbm`]: the mapping every format implements, with [`OpenOptions`].
//! - [`Error`]: the one error type of the workspace.
#![warn(missing_docs)]

mod dbm;
mod error;
mod format;
mod vfs;

pub use dbm::{Dbm, Durability, Items, OpenMode, OpenOptions};
pub use error::{Error, Result};
pub use format::{CrashReport, Format, Problem};
pub use vfs::{Vfs, VfsFile, VfsOpen};
