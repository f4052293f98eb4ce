//! # pydbm-engine
//!
//! The storage core every pydbm format stands on. It knows nothing about any file
//! format; it moves bytes between files and memory safely:
//!
//! - [`Vfs`] / [`VfsFile`]: the file layer, with [`OsVfs`] (real files), [`MemVfs`]
//!   (memory) and [`FaultVfs`] (simulated crashes).
//! - [`LockTable`]: the process-wide lock table over `flock`, `fcntl` or nothing.
//! - [`Store`]: the transactional byte store gdbm and ndbm run on, implemented by
//!   [`Pager`] (file 0).
//! - [`Pager`]: transactions through a bounded page cache under a crc32-checked rollback
//!   journal ([`journal`] has the record format).
//! - [`crash`]: the crash-recovery harness every format reuses; [`crash_replay`]: the same
//!   checks in linear time, rebuilding each crash image from one [`RecordingVfs`] run.
//! - [`Dbm`]: the mapping every format implements, with [`OpenOptions`], its
//!   [`Transaction`] guard and lazy cursors ([`Iter`], [`KeysIter`]); [`MemDbm`] holds one
//!   in memory.
//! - [`Error`]: the one error type of the workspace.
//! - `live_reference` (feature `test-support`, for the workspace's tests): the skip-or-fail policy
//!   of tests that run a real reference.
#![warn(missing_docs)]

mod cache;
pub mod crash;
pub mod crash_replay;
mod dbm;
mod error;
mod fault_vfs;
mod format;
pub mod journal;
mod journal_writer;
#[cfg(any(test, feature = "test-support"))]
pub mod live_reference;
mod lock;
mod map_guard;
mod mem_dbm;
mod mem_vfs;
mod os_vfs;
pub mod owner_names;
mod pager;
#[cfg(test)]
mod pager_tests;
pub mod prefetch;
pub mod prng;
mod process_id;
mod recording_vfs;
mod recovery;
pub mod slab;
mod store;
mod vfs;

pub use cache::{Page, PageCache, PageKey};
pub use dbm::{
    CursorPosition, Dbm, Durability, Items, Iter, KeysIter, OpenMode, OpenOptions, Transaction,
    SQLITE_DEFAULT_LOCK_TIMEOUT,
};
pub use error::{Error, RemoteFailure, Result};
pub use fault_vfs::{CrashKind, FaultConfig, FaultVfs, SECTOR};
pub use format::{journal_problem, CrashReport, Format, Problem};
pub use lock::{LockGuard, LockKind, LockMode, LockTable};
pub use mem_dbm::MemDbm;
pub use mem_vfs::{MemVfs, DEFAULT_MEM_FILE_LIMIT};
pub use os_vfs::OsVfs;
#[doc(hidden)]
#[cfg(any(test, feature = "test-support"))]
pub use pager::PagerTestFault;
pub use pager::{FileId, FileSpec, Pager, PagerOptions, MAX_FILE_LEN};
pub use recording_vfs::{RecordedEvent, RecordedOp, RecordingVfs};
#[cfg(any(test, feature = "fuzzing"))]
pub use recovery::recover_in_memory;
pub use recovery::{journal_path, journal_status, refuse_hot_journal, JournalStatus};
pub use store::Store;
pub use vfs::{FileMeta, SharedMap, Vfs, VfsFile, VfsOpen};
