//! `trait Format`: what the `pydbm` CLI and `pydbm::open` need from each dbm format
//! besides the mapping itself (open, check, stats, recover, crashtest).

use std::path::{Path, PathBuf};

use crate::{Dbm, Error, OpenOptions, Result};

/// One problem found by [`Format::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file the problem is in.
    pub file: PathBuf,
    /// Byte offset of the bad structure, when it has one.
    pub offset: Option<u64>,
    /// What is wrong, and what was expected instead.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.offset {
            Some(off) => write!(
                f,
                "{}: offset {}: {}",
                self.file.display(),
                off,
                self.message
            ),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// The journal finding `check` reports for the database whose journal is
/// `<primary>-journal`, decided by [`crate::journal_status`] — the same function every open
/// and `pydbm recover` use, so the three agree on whether the journal is hot. `None` when
/// no rollback is needed (no journal, an invalidated one, or a torn header).
pub fn journal_problem(vfs: &dyn crate::Vfs, primary: &Path) -> Result<Option<Problem>> {
    let message = match crate::journal_status(vfs, primary)? {
        crate::JournalStatus::Absent | crate::JournalStatus::Cold => return Ok(None),
        crate::JournalStatus::Hot { in_use: true, .. } => {
            "a writer is running: its transaction is in progress (the journal is locked); \
             check again when it has finished"
        }
        crate::JournalStatus::Hot { in_use: false, .. } => {
            "a hot rollback journal: an operation was interrupted and the files may hold its \
             partial writes; run `pydbm recover` (or open the database writable)"
        }
    };
    Ok(Some(Problem {
        file: crate::journal_path(primary),
        offset: None,
        message: message.into(),
    }))
}

/// The result of a [`Format::crashtest`] run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrashReport {
    /// How many crash points were simulated (each write and sync of the workload).
    pub crash_points: u64,
    /// How many recoveries did not give a committed state.
    pub violations: u64,
    /// A human-readable line per violation (at most a few dozen kept).
    pub details: Vec<String>,
}

/// A dbm file format: the entry points the CLI dispatches to.
///
/// Every method but [`Format::module`] and [`Format::open_in`] has a default
/// ([`Format::open`] opens on the real file system through `open_in`; the tools fail with
/// [`Error::Unsupported`]), so a format can ship its mapping before its tooling.
pub trait Format: Sync {
    /// The Python module name: `"dbm.gnu"`, `"dbm.ndbm"`, `"dbm.dumb"`, `"dbm.sqlite3"`.
    fn module(&self) -> &'static str;
    /// Opens `path` (as Python's `dbm.<module>.open` takes it) with `opts`, with every file
    /// of the database read and written through `vfs`: [`crate::OsVfs`] for real files,
    /// [`crate::MemVfs`] for memory, [`crate::FaultVfs`] for crash tests. The same code runs
    /// whatever the `vfs`, so a crash suite over `FaultVfs` checks what the CLI runs.
    /// Formats that cannot run over some file layers say so in their docs and fail with
    /// [`Error::Unsupported`].
    fn open_in(
        &self,
        vfs: std::sync::Arc<dyn crate::Vfs>,
        path: &Path,
        opts: &OpenOptions,
    ) -> Result<Box<dyn Dbm>>;
    /// Opens `path` on the real file system: [`Format::open_in`] with [`crate::OsVfs`].
    /// Formats may override it to choose how the OS files are read (a memory map), never
    /// what they hold.
    fn open(&self, path: &Path, opts: &OpenOptions) -> Result<Box<dyn Dbm>> {
        self.open_in(std::sync::Arc::new(crate::OsVfs::new()), path, opts)
    }
    /// Verifies every structure of the file; an empty list means the file is sound.
    fn check(&self, path: &Path) -> Result<Vec<Problem>> {
        Err(Error::unsupported(
            path,
            format!("check for {}", self.module()),
        ))
    }
    /// Variant and space accounting, as `(name, value)` lines.
    fn stats(&self, path: &Path) -> Result<Vec<(String, String)>> {
        Err(Error::unsupported(
            path,
            format!("stats for {}", self.module()),
        ))
    }
    /// Rolls back a hot journal or rebuilds a damaged file; returns a line per action taken
    /// and per record lost.
    fn recover(&self, path: &Path) -> Result<Vec<String>> {
        Err(Error::unsupported(
            path,
            format!("recover for {}", self.module()),
        ))
    }
    /// `pydbm recover --discard`: deletes the database's rollback journal without rolling it
    /// back (under the exclusive lock, never a live writer's; [`crate::Pager::discard_journal`]),
    /// for a journal recovery refuses because the files changed after the crash.
    fn discard_journal(&self, path: &Path) -> Result<Vec<String>> {
        Err(Error::unsupported(
            path,
            format!("recover --discard for {}", self.module()),
        ))
    }
    /// Runs a random workload of `ops` operations from `seed` over the fault-injecting
    /// file layer, crashing at every write and sync point. `progress(done, total)` is
    /// called as crash points are run.
    fn crashtest(
        &self,
        ops: u64,
        seed: u64,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<CrashReport> {
        let _ = (ops, seed, progress);
        Err(Error::unsupported(
            Path::new(self.module()),
            "crashtest for this format",
        ))
    }
}
