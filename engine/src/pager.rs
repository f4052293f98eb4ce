//! `Pager`: transactions over a set of files, through the page cache, under one rollback
//! journal named `<files[0]>-journal`.
//!
//! Commit sequence (docs/journal.md has the crash argument):
//! 1. journal: header (original lengths) and the original bytes of every page changed in the
//!    transaction are written (and fsynced under [`Durability::Full`]);
//! 2. pages: truncations, dirty pages, final lengths, created and removed files are written
//!    to the database files (fsynced under `Full`);
//! 3. the journal is invalidated by overwriting its magic with zeros (fsynced under `Full`).
//!
//! A dirty page evicted from a full cache in the middle of a transaction goes through the
//! same order: the journal up to now is written (and synced under `Full`) before the page.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::cache::{PageCache, PageKey};
use crate::journal::{
    encode_fresh, encode_posts, FreshImage, JournalFile, JournalHeader, JournalRecord, LengthMark,
    PostImage, MAX_HEADER_LEN,
};
use crate::journal_writer::JournalWriter;
use crate::lock::{LockGuard, LockKind, LockMode, LockTable};
use crate::recovery::{
    journal_name, journal_path, journal_status, lock_journal, probe, refuse_hot_journal, roll_back,
    JournalState, JournalStatus,
};
use crate::{Durability, Error, Result, Vfs, VfsFile, VfsOpen};

/// Index of a file in the list given to [`Pager::open`].
pub type FileId = usize;

/// The largest file length a pager handles: `i64::MAX`, the largest `off_t`.
pub const MAX_FILE_LEN: u64 = i64::MAX as u64;

/// One file managed by a [`Pager`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// Where the file is (it may not exist yet).
    pub path: PathBuf,
    /// Permission bits used if the pager creates it (before the umask).
    pub create_mode: u32,
}

impl FileSpec {
    /// A spec with Python's default creation mode `0o666`.
    pub fn new(path: impl Into<PathBuf>) -> FileSpec {
        FileSpec {
            path: path.into(),
            create_mode: 0o666,
        }
    }
}

/// A deliberate defect, for tests that prove the crash suite can fail. Never use it otherwise;
/// exported (and settable in [`PagerOptions`]) only for tests and the `test-support` feature.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagerTestFault {
    /// Do not fsync the journal before writing pages (breaks `Full` under power loss).
    SkipJournalSync,
    /// Write the pages before the journal (breaks `Process` under a process kill).
    PagesBeforeJournal,
    /// Never fsync a database file's directory (breaks `Full` when directory changes can be
    /// lost, [`crate::CrashKind::PowerLossUnsyncedDirs`]).
    SkipDirSync,
}

/// How a [`Pager`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagerOptions {
    /// Bytes per page (default 4096).
    pub page_size: usize,
    /// Page cache capacity in bytes (default 8 MiB).
    pub cache_bytes: usize,
    /// Crash-safety level of commits.
    pub durability: Durability,
    /// Refuse writes ([`Error::ReadOnly`]); files are opened read-only.
    pub read_only: bool,
    /// Lock to take on `files[0]` for the pager's lifetime.
    pub lock: Option<(LockKind, LockMode)>,
    /// How long to wait for that lock (`None`: fail at once).
    pub lock_timeout: Option<Duration>,
    /// For tests only: a deliberate defect (see [`PagerTestFault`]).
    #[cfg(any(test, feature = "test-support"))]
    #[doc(hidden)]
    pub test_fault: Option<PagerTestFault>,
}

impl PagerOptions {
    /// Whether the test-only defect `fault` is set (always false without the `test-support`
    /// feature, where the field does not exist).
    fn has_test_fault(&self, fault: PagerTestFault) -> bool {
        #[cfg(any(test, feature = "test-support"))]
        return self.test_fault == Some(fault);
        #[cfg(not(any(test, feature = "test-support")))]
        {
            let _ = fault;
            false
        }
    }
}

impl Default for PagerOptions {
    fn default() -> Self {
        PagerOptions {
            page_size: 4096,
            cache_bytes: 8 << 20,
            durability: Durability::Process,
            read_only: false,
            lock: None,
            lock_timeout: None,
            #[cfg(any(test, feature = "test-support"))]
            test_fault: None,
        }
    }
}

/// The pager's view of one file.
#[derive(Debug)]
struct FileState {
    spec: FileSpec,
    handle: Option<Box<dyn VfsFile>>,
    /// Length on disk (as far as this pager has written it).
    disk_len: u64,
    /// Logical existence, including uncommitted changes.
    exists: bool,
    /// Logical length, including uncommitted changes.
    len: u64,
    /// Disk bytes at or past this offset are logically gone (a truncation not yet written).
    zero_from: u64,
    /// Written since its last fsync (so `Full` commits must sync it, even when the writes
    /// were evictions earlier in the transaction).
    unsynced: bool,
}

impl FileState {
    /// Where the disk's bytes stop counting: past the disk length or a pending truncation,
    /// the logical bytes of a page that is not dirty are zeros.
    fn disk_end(&self) -> u64 {
        self.disk_len.min(self.zero_from)
    }
}

/// The open transaction.
#[derive(Debug)]
struct Txn {
    salt: u64,
    /// Each file's length at the start, or `None` if it did not exist.
    orig: Vec<Option<u64>>,
    /// Per page, the sorted disjoint in-page byte ranges whose original bytes are recorded.
    journaled: HashMap<PageKey, Vec<(usize, usize)>>,
    records: Vec<JournalRecord>,
    /// How many of `records` are in the journal file.
    flushed: usize,
    header_written: bool,
    /// Journal bytes written so far (the next record's offset).
    journal_pos: u64,
    /// Whether a database file was changed on disk (by an eviction) during the transaction.
    db_touched: bool,
    /// Per page, the indices in `records` of its pre-image records (for post-images).
    rec_by_page: BTreeMap<PageKey, Vec<u32>>,
    /// Post-images noted so far (docs/journal.md, "Post-images"); `posts_flushed` of them
    /// are in the journal file.
    posts: Vec<PostImage>,
    posts_flushed: usize,
    /// Fresh images noted so far (bytes at or past a file's original length, which have no
    /// pre-image); `fresh_flushed` of them are in the journal file.
    fresh: Vec<FreshImage>,
    fresh_flushed: usize,
    /// Per file, the least and greatest logical length in the transaction so far, and the
    /// range last written to the journal as a lengths mark.
    len_range: Vec<(u64, u64)>,
    len_flushed: Vec<(u64, u64)>,
}

/// Bytes per sector: pre-image records never straddle a multiple of this, so that a write
/// torn at sector boundaries (power loss) leaves each record's range whole — either as the
/// write left it or as before it (docs/journal.md, "Post-images").
const RECORD_SECTOR: u64 = 512;

/// Transactions over a set of files (see the module docs).
///
/// Writes on a read-only pager fail with [`Error::ReadOnly`]; a file index out of range is
/// [`Error::BadArgument`]. [`Pager::close`] consumes the pager. Dropping a pager without
/// closing it does no I/O: the open transaction is abandoned (the next open rolls back
/// whatever reached the disk), and under `Durability::None` every change since the last
/// [`Pager::sync`] that is still in the cache is lost.
///
/// Without a lock ([`PagerOptions::lock`] = `None`), nothing stops another handle from
/// rolling back this pager's journal mid-operation: use a lock whenever handles share files.
///
/// # Example
///
/// A transaction over an in-memory disk: changes are visible at once, survive a reopen after
/// [`Pager::commit`], and vanish on [`Pager::rollback`].
///
/// ```
/// use std::sync::Arc;
/// use pydbm_engine::{FileSpec, MemVfs, Pager, PagerOptions, Vfs};
///
/// let disk = MemVfs::new();
/// let vfs: Arc<dyn Vfs> = Arc::new(disk.clone());
/// let mut pager = Pager::open(vfs.clone(), vec![FileSpec::new("/db/data")], PagerOptions::default())?;
/// pager.write_at(0, 0, b"hello")?;
/// pager.commit()?;
///
/// pager.write_at(0, 0, b"HELLO, world")?;
/// assert_eq!(pager.len(0), 12); // uncommitted changes are visible to this pager
/// pager.rollback()?;
/// assert_eq!(pager.len(0), 5);
/// pager.close()?;
///
/// let mut again = Pager::open(vfs, vec![FileSpec::new("/db/data")], PagerOptions::default())?;
/// let mut buf = [0u8; 5];
/// again.read_at(0, 0, &mut buf)?;
/// assert_eq!(&buf, b"hello");
/// assert_eq!(disk.read_file("/db/data".as_ref()).as_deref(), Some(&b"hello"[..]));
/// # Ok::<(), pydbm_engine::Error>(())
/// ```
#[derive(Debug)]
pub struct Pager {
    vfs: Arc<dyn Vfs>,
    files: Vec<FileState>,
    opts: PagerOptions,
    cache: PageCache,
    txn: Option<Txn>,
    journal_path: PathBuf,
    /// The open journal (from the first journal write until close): `pwrite`, or stores to a
    /// shared map under `Process` (docs/journal.md, "Process durability: the mapped journal").
    journal: Option<JournalWriter>,
    /// The journal's own lock, held exclusive from its creation until close: it tells every
    /// other handle and process that a live writer owns the journal.
    journal_lock: Option<LockGuard>,
    lock: Option<LockGuard>,
    /// A database file was created or removed since the directories were last fsynced
    /// (by a commit, an eviction or a rollback): `Full` syncs them before the journal is
    /// invalidated, or the change could vanish in a power loss after the commit.
    dir_dirty: bool,
    /// Every dirty cached page with the in-page byte range changed since it was last
    /// written (sorted, so write-back order is deterministic; no scan of the whole cache).
    dirty: DirtyPages,
    /// Each file's name as the journal header spells it (computed once, at open).
    names: Vec<Vec<u8>>,
    /// Closed in place by [`crate::Store::finish`]: every [`crate::Store`] method but `len`
    /// and `path` then fails with [`Error::Closed`].
    pub(crate) closed: bool,
}

/// The dirty pages: each with its in-page changed range (sorted by key, for a
/// deterministic write-back order), plus one bit per page number and file so that a read
/// asks "is this page dirty?" without a tree or hash lookup.
#[derive(Debug, Default)]
struct DirtyPages {
    ranges: BTreeMap<PageKey, (usize, usize)>,
    /// Per dirty page, the sequence number of its last change: write-back goes in this
    /// order (docs/recovery.md, "Write order").
    changed_at: BTreeMap<PageKey, u64>,
    /// The next sequence number.
    seq: u64,
    /// `bits[file][page / 64] >> (page % 64) & 1`: whether the page is in `ranges`.
    bits: Vec<Vec<u64>>,
}

impl DirtyPages {
    fn set_bit(&mut self, (f, p): PageKey, on: bool) {
        let w = (p / 64) as usize;
        if self.bits.len() <= f {
            self.bits.resize_with(f + 1, Vec::new);
        }
        let words = &mut self.bits[f];
        if words.len() <= w {
            if !on {
                return;
            }
            words.resize(w + 1, 0);
        }
        if on {
            words[w] |= 1 << (p % 64);
        } else {
            words[w] &= !(1 << (p % 64));
        }
    }

    /// Whether page `key` is dirty.
    #[inline]
    fn contains(&self, (f, p): PageKey) -> bool {
        self.bits
            .get(f)
            .and_then(|w| w.get((p / 64) as usize))
            .is_some_and(|w| w >> (p % 64) & 1 == 1)
    }

    /// Marks in-page bytes `a..b` of page `key` changed (widening its range).
    fn add(&mut self, key: PageKey, a: usize, b: usize) {
        let range = self.ranges.entry(key).or_insert((a, b));
        range.0 = range.0.min(a);
        range.1 = range.1.max(b);
        self.seq += 1;
        self.changed_at.insert(key, self.seq);
        self.set_bit(key, true);
    }

    /// The dirty pages, least recently changed first (ties, which cannot happen, by key).
    fn in_change_order(&self) -> Vec<PageKey> {
        let mut keys: Vec<(u64, PageKey)> = self
            .ranges
            .keys()
            .map(|k| (self.changed_at.get(k).copied().unwrap_or(0), *k))
            .collect();
        keys.sort_unstable();
        keys.into_iter().map(|(_, k)| k).collect()
    }

    /// Sets page `key`'s range (putting back one taken out).
    fn insert(&mut self, key: PageKey, range: (usize, usize)) {
        self.ranges.insert(key, range);
        self.seq += 1;
        self.changed_at.insert(key, self.seq);
        self.set_bit(key, true);
    }

    fn remove(&mut self, key: &PageKey) -> Option<(usize, usize)> {
        let r = self.ranges.remove(key);
        self.changed_at.remove(key);
        self.set_bit(*key, false);
        r
    }

    fn clear(&mut self) {
        self.ranges.clear();
        self.changed_at.clear();
        self.bits.clear();
    }
}

/// Bytes compared per step when looking for the changed span of a write (`==` on slices
/// of this size is one vectorised `memcmp` call).
const DIFF_BLOCK: usize = 256;

/// The 8 bytes of `s` at `i` as one word (for comparing 8 bytes at a time).
#[inline]
fn word(s: &[u8], i: usize) -> u64 {
    u64::from_ne_bytes(s[i..i + 8].try_into().expect("an 8-byte slice"))
}

/// The span `a..b` of the smallest range outside which `old` and `new` (equal lengths)
/// are equal, or `None` when they are equal. Scans in blocks, then words, then bytes,
/// from each end.
fn changed_span(old: &[u8], new: &[u8]) -> Option<(usize, usize)> {
    debug_assert_eq!(old.len(), new.len());
    let n = old.len();
    let mut a = 0;
    while a + DIFF_BLOCK <= n && old[a..a + DIFF_BLOCK] == new[a..a + DIFF_BLOCK] {
        a += DIFF_BLOCK;
    }
    while a + 8 <= n && word(old, a) == word(new, a) {
        a += 8;
    }
    a += old[a..].iter().zip(&new[a..]).position(|(x, y)| x != y)?;
    let mut b = n;
    while b >= a + DIFF_BLOCK && old[b - DIFF_BLOCK..b] == new[b - DIFF_BLOCK..b] {
        b -= DIFF_BLOCK;
    }
    while b >= a + 8 && word(old, b - 8) == word(new, b - 8) {
        b -= 8;
    }
    while old[b - 1] == new[b - 1] {
        b -= 1;
    }
    Some((a, b))
}

fn open_handle(
    vfs: &dyn Vfs,
    spec: &FileSpec,
    read_only: bool,
) -> Result<Option<Box<dyn VfsFile>>> {
    if !vfs.exists(&spec.path)? {
        return Ok(None);
    }
    let how = if read_only {
        VfsOpen::READ
    } else {
        VfsOpen::WRITE
    };
    Ok(Some(vfs.open(&spec.path, how)?))
}

impl Pager {
    /// Opens `files` (which may not exist yet, and must all be in one directory) under one
    /// journal named `<files[0]>-journal`.
    ///
    /// Takes `opts.lock` on `files[0]` (creating it empty if it is missing and the pager is
    /// writable, since a lock needs a file; a read-only pager with a lock fails with
    /// [`Error::Io`] of kind `NotFound` instead), then rolls back a hot journal. A shared-lock
    /// pager that finds a valid hot journal briefly takes the lock exclusive to recover; when
    /// it cannot, it fails with [`Error::Locked`] (an invalidated or torn-header journal needs
    /// no recovery and is left alone). Without a lock the pager never rolls back, since the
    /// journal may be a live writer's: a hot journal fails the open with
    /// [`Error::HotJournal`] (open with a lock, or call [`Pager::recover`]).
    /// Errors: [`Error::BadArgument`] for no files, files in different directories, a page
    /// size not in 1..=16 MiB or a journal header over [`crate::journal::MAX_HEADER_LEN`];
    /// [`Error::Io`]; [`Error::Corrupt`] when the journal names other files or is refused as
    /// hostile (see [`Pager::recover`]).
    pub fn open(vfs: Arc<dyn Vfs>, files: Vec<FileSpec>, opts: PagerOptions) -> Result<Pager> {
        if files.is_empty() {
            return Err(Error::BadArgument("a pager needs at least one file".into()));
        }
        if opts.page_size == 0 || opts.page_size > (1 << 24) {
            return Err(Error::BadArgument(format!(
                "page size {} is not in 1..=16 MiB",
                opts.page_size
            )));
        }
        let journal_path = journal_path(&files[0].path);
        // Recovery only touches plain names beside the journal (journal.md, "Validity
        // rules"), so every file must live in the primary's directory.
        for f in &files {
            if f.path.parent() != journal_path.parent() || f.path.file_name().is_none() {
                return Err(Error::BadArgument(format!(
                    "{}: every file of a pager must be in the directory of {}",
                    f.path.display(),
                    files[0].path.display()
                )));
            }
        }
        let names: Vec<Vec<u8>> = files
            .iter()
            .map(|f| journal_name(&journal_path, &f.path))
            .collect();
        let header_len = JournalHeader {
            version: crate::journal::VERSION,
            page_size: opts.page_size as u32,
            salt: 0,
            files: names
                .iter()
                .map(|n| JournalFile {
                    name: n.clone(),
                    orig_len: None,
                })
                .collect(),
        }
        .encode()
        .len();
        if header_len > MAX_HEADER_LEN {
            return Err(Error::BadArgument(format!(
                "{} files with these names need a {header_len}-byte journal header (at most {MAX_HEADER_LEN})",
                files.len()
            )));
        }
        let mut lock = None;
        let mut primary_created = false;
        if let Some((kind, mode)) = opts.lock {
            let primary = &files[0];
            let handle = if opts.read_only {
                vfs.open(&primary.path, VfsOpen::READ)?
            } else {
                primary_created = !vfs.exists(&primary.path)?;
                vfs.open(
                    &primary.path,
                    VfsOpen {
                        mode: primary.create_mode,
                        ..VfsOpen::CREATE
                    },
                )?
            };
            let guard = LockTable::global().lock(&*handle, mode, kind, opts.lock_timeout)?;
            if mode == LockMode::Exclusive && !opts.read_only {
                // Only a writer's open rolls back (docs/recovery.md): it holds the database's
                // exclusive lock, and recover_under_lock checks that no live writer owns the
                // journal.
                recover_under_lock(&*vfs, &*handle, kind, &journal_path, Some(&names))?;
            } else {
                refuse_hot_journal(&*vfs, &files[0].path)?;
            }
            lock = Some(guard);
        } else {
            // Without a lock the journal may be a live writer's: never roll it back here.
            refuse_hot_journal(&*vfs, &files[0].path)?;
        }
        if primary_created && opts.durability == Durability::Full {
            // The lock needed the file: make its directory entry as durable as a commit's.
            if let Some(dir) = journal_path.parent() {
                vfs.sync_dir(dir)?;
            }
        }
        let mut states = Vec::with_capacity(files.len());
        for spec in files {
            let handle = open_handle(&*vfs, &spec, opts.read_only)?;
            let len = match &handle {
                Some(h) => h.len()?,
                None => 0,
            };
            states.push(FileState {
                exists: handle.is_some(),
                handle,
                disk_len: len,
                len,
                zero_from: u64::MAX,
                unsynced: false,
                spec,
            });
        }
        Ok(Pager {
            cache: PageCache::new(opts.page_size, opts.cache_bytes),
            vfs,
            files: states,
            opts,
            txn: None,
            journal_path,
            journal: None,
            journal_lock: None,
            lock,
            dir_dirty: false,
            dirty: DirtyPages::default(),
            names,
            closed: false,
        })
    }

    /// Rolls back a hot journal of the pager whose first file is `primary`, without opening
    /// any format. `Ok(None)` when there was no hot journal; otherwise a line per action.
    ///
    /// Takes the exclusive lock on `primary` first (whole-file, the namespace every pager and
    /// libgdbm use; creating `primary` empty for the lock if it is missing, and removing it
    /// again unless the journal restores it), so it never rolls back a live writer's journal:
    /// [`Error::Locked`] when another handle holds the file. A hostile journal is refused with
    /// [`Error::Corrupt`] and left in place: a file name that is not a plain name beside the
    /// journal (absolute, `..`, a separator), or an original length that neither the file nor
    /// the journal's records cover.
    ///
    /// # Example
    ///
    /// A process killed in the middle of a commit leaves a hot journal; `recover` puts the
    /// committed bytes back ([`crate::journal_status`] is the read-only probe):
    ///
    /// ```
    /// use std::path::Path;
    /// use std::sync::Arc;
    /// use pydbm_engine::{
    ///     journal_status, CrashKind, FaultConfig, FaultVfs, FileSpec, JournalStatus, MemVfs,
    ///     Pager, PagerOptions, Vfs,
    /// };
    ///
    /// let path = Path::new("/db/file");
    /// let disk = MemVfs::new();
    /// disk.write_file(path, &[b'a'; 8192]);
    /// // Kill the process at the 3rd write or sync of the commit below.
    /// let fault = FaultVfs::new(
    ///     disk,
    ///     FaultConfig { seed: 1, crash_at: Some(3), kind: CrashKind::ProcessKill },
    /// );
    /// let vfs: Arc<dyn Vfs> = Arc::new(fault.clone());
    /// let mut pager = Pager::open(vfs, vec![FileSpec::new(path)], PagerOptions::default())?;
    /// pager.write_at(0, 0, &[b'b'; 8192])?;
    /// assert!(pager.commit().is_err()); // "simulated crash"
    /// drop(pager);
    ///
    /// let rebooted = fault.surviving_disk();
    /// assert!(matches!(journal_status(&rebooted, path)?, JournalStatus::Hot { in_use: false, .. }));
    /// let actions = Pager::recover(&rebooted, path)?.expect("the journal was hot");
    /// assert!(!actions.is_empty());
    /// assert_eq!(rebooted.read_file(path), Some(vec![b'a'; 8192]));
    /// assert_eq!(journal_status(&rebooted, path)?, JournalStatus::Absent);
    /// # Ok::<(), pydbm_engine::Error>(())
    /// ```
    pub fn recover(vfs: &dyn Vfs, primary: &Path) -> Result<Option<Vec<String>>> {
        Pager::recover_or_discard(vfs, primary, false)
    }

    /// `pydbm recover --discard`: deletes a hot (or cold) journal of the pager whose first
    /// file is `primary` without rolling it back, under the same locks as
    /// [`Pager::recover`] (so never a live writer's journal). For the user who decides that
    /// the files as they are (e.g. with another program's later writes) are to be kept.
    /// `Ok(None)` when there is no journal.
    pub fn discard_journal(vfs: &dyn Vfs, primary: &Path) -> Result<Option<Vec<String>>> {
        Pager::recover_or_discard(vfs, primary, true)
    }

    fn recover_or_discard(
        vfs: &dyn Vfs,
        primary: &Path,
        discard: bool,
    ) -> Result<Option<Vec<String>>> {
        let journal = journal_path(primary);
        if journal_status(vfs, primary)? == JournalStatus::Absent {
            return Ok(None);
        }
        let created = !vfs.exists(primary)?;
        let handle = vfs.open(primary, VfsOpen::CREATE)?;
        let guard =
            match LockTable::global().lock(&*handle, LockMode::Exclusive, LockKind::Flock, None) {
                Ok(g) => g,
                Err(e) => {
                    if created {
                        drop(handle);
                        vfs.remove(primary)?;
                    }
                    return Err(e);
                }
            };
        let restores_primary = match probe(vfs, &journal)? {
            JournalState::Hot { header, .. } => {
                let name = journal_name(&journal, primary);
                header
                    .files
                    .iter()
                    .any(|f| f.name == name && f.orig_len.is_some())
            }
            _ => false,
        };
        let result = (|| {
            let jf = match vfs.open(&journal, VfsOpen::READ) {
                Err(e) if e.is_not_found() => return Ok(None),
                other => other?,
            };
            let _owned = lock_journal(&*jf, LockMode::Exclusive)?;
            if discard {
                drop(jf);
                vfs.remove(&journal)?;
                return Ok(Some(vec![format!(
                    "{}: deleted without rolling back; the files keep their current bytes",
                    journal.display()
                )]));
            }
            roll_back(vfs, &journal, None, true)
        })();
        if created && !restores_primary && vfs.exists(primary)? && handle.len()? == 0 {
            // The empty file existed only to carry the lock.
            vfs.remove(primary)?;
        }
        drop(guard);
        result
    }

    /// The file system the pager works on.
    pub fn vfs(&self) -> &Arc<dyn Vfs> {
        &self.vfs
    }

    /// The journal's path: `<files[0]>-journal`.
    pub fn journal_path(&self) -> &Path {
        &self.journal_path
    }

    /// The page size.
    pub fn page_size(&self) -> usize {
        self.opts.page_size
    }

    /// Number of files.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// The path of file `f` (panics on an index out of range, like slice indexing).
    pub fn path(&self, f: FileId) -> &Path {
        &self.files[f].spec.path
    }

    /// The durability commits run at.
    pub fn durability(&self) -> Durability {
        self.opts.durability
    }

    /// Whether a transaction is open (changes not yet committed).
    pub fn in_transaction(&self) -> bool {
        self.txn.is_some()
    }

    /// Whether file `f` exists (including uncommitted changes); false for a bad index.
    pub fn exists(&self, f: FileId) -> bool {
        self.files.get(f).is_some_and(|s| s.exists)
    }

    /// Logical length of file `f` including uncommitted changes; 0 for a bad index or a
    /// missing file.
    pub fn len(&self, f: FileId) -> u64 {
        self.files.get(f).map_or(0, |s| s.len)
    }

    #[inline]
    fn check_file(&self, f: FileId) -> Result<()> {
        if f < self.files.len() {
            Ok(())
        } else {
            Err(Error::BadArgument(format!(
                "file index {f} out of range (pager has {} files)",
                self.files.len()
            )))
        }
    }

    /// Rejects a byte range ending past `i64::MAX` (the largest `off_t`), which no file can
    /// hold and whose page arithmetic would overflow.
    fn check_range(&self, f: FileId, offset: u64, len: usize) -> Result<()> {
        match offset.checked_add(len as u64) {
            Some(end) if end <= MAX_FILE_LEN => Ok(()),
            _ => Err(Error::BadArgument(format!(
                "{}: {len} byte(s) at offset {offset} end past the largest file offset {MAX_FILE_LEN}",
                self.files[f].spec.path.display()
            ))),
        }
    }

    fn check_writable(&self, f: FileId) -> Result<()> {
        self.check_file(f)?;
        if self.opts.read_only {
            return Err(Error::ReadOnly {
                path: self.files[f].spec.path.clone(),
            });
        }
        Ok(())
    }

    fn begin(&mut self) {
        if self.txn.is_some() || self.opts.durability == Durability::None {
            return;
        }
        self.txn = Some(Txn {
            salt: crate::prng::fresh_u64(),
            orig: self
                .files
                .iter()
                .map(|s| s.exists.then_some(s.len))
                .collect(),
            journaled: HashMap::new(),
            records: Vec::new(),
            flushed: 0,
            header_written: false,
            journal_pos: 0,
            db_touched: false,
            rec_by_page: BTreeMap::new(),
            posts: Vec::new(),
            posts_flushed: 0,
            fresh: Vec::new(),
            fresh_flushed: 0,
            len_range: self
                .files
                .iter()
                .map(|s| {
                    let l = if s.exists { s.len } else { 0 };
                    (l, l)
                })
                .collect(),
            len_flushed: self
                .files
                .iter()
                .map(|s| {
                    let l = if s.exists { s.len } else { 0 };
                    (l, l)
                })
                .collect(),
        });
    }

    /// Widens file `f`'s length range in the open transaction to its current logical length.
    fn track_len(&mut self, f: FileId) {
        let len = self.files[f].len;
        if let Some(txn) = &mut self.txn {
            let r = &mut txn.len_range[f];
            r.0 = r.0.min(len);
            r.1 = r.1.max(len);
        }
    }

    /// Reads a page from disk (zeros past the disk's end or a pending truncation), into
    /// `reuse` (a buffer freed by an eviction) when given.
    fn load_page(&self, key: PageKey, reuse: Option<Box<[u8]>>) -> Result<Box<[u8]>> {
        let ps = self.opts.page_size as u64;
        let st = &self.files[key.0];
        let start = key.1 * ps;
        let valid_end = st.disk_end().min(start + ps).max(start);
        let n = (valid_end - start) as usize;
        let mut data = match reuse {
            Some(mut b) if b.len() == self.opts.page_size => {
                b[n..].fill(0);
                b
            }
            _ => vec![0u8; self.opts.page_size].into_boxed_slice(),
        };
        if let (Some(h), true) = (&st.handle, n > 0) {
            h.read_exact_at(&mut data[..n], start)?;
        }
        Ok(data)
    }

    /// Makes sure `key` is cached, evicting (under journal protection) to make room.
    fn fetch(&mut self, key: PageKey) -> Result<()> {
        if self.cache.contains(key) {
            return Ok(());
        }
        let mut spare = None;
        while self.cache.is_full() {
            spare = self.evict_one()?.or(spare);
        }
        let data = self.load_page(key, spare)?;
        self.cache.insert(key, data, false);
        Ok(())
    }

    /// Evicts one page (writing it back under journal protection if dirty); returns its
    /// buffer for reuse.
    fn evict_one(&mut self) -> Result<Option<Box<[u8]>>> {
        let Some(key) = self.cache.victim() else {
            return Ok(None);
        };
        let page = self
            .cache
            .remove(key)
            .expect("cache.victim() returned a key the cache holds");
        if page.dirty {
            let ps = self.opts.page_size;
            let range = self.dirty.remove(&key).unwrap_or((0, ps));
            if let Some(txn) = &mut self.txn {
                note_posts(txn, ps as u64, key, range, &page.data);
            }
            let full = self.opts.durability == Durability::Full;
            let res = self
                .flush_journal()
                .and_then(|()| self.write_page(key, range.0, &page.data[range.0..range.1]))
                .and_then(|()| {
                    // Under Full, a page written twice in one transaction (here, then at
                    // commit) must not have both writes pending at a power loss: a mix of
                    // the two matches no post-image. Rare: only large transactions evict.
                    match (full, &self.files[key.0].handle) {
                        (true, Some(h)) => {
                            h.sync()?;
                            self.files[key.0].unsynced = false;
                            Ok(())
                        }
                        _ => Ok(()),
                    }
                });
            if let Err(e) = res {
                self.cache.insert(key, page.data, true);
                self.dirty.insert(key, range);
                return Err(e);
            }
        }
        Ok(Some(page.data))
    }

    /// Records the original bytes of in-page range `from..to` of page `key` in the
    /// transaction, except those already recorded: only bytes about to change are journaled
    /// (a 100-byte write journals 100 bytes, not the page), each byte once per transaction.
    fn journal_range(&mut self, key: PageKey, from: usize, to: usize) -> Result<()> {
        let ps = self.opts.page_size as u64;
        let Some(txn) = &self.txn else { return Ok(()) };
        let start = key.1 * ps;
        let orig_len = match txn.orig[key.0] {
            Some(l) if start < l => l,
            // Bytes at or past the original end need no record: rollback truncates them.
            _ => return Ok(()),
        };
        let to = to.min((orig_len - start).min(ps) as usize);
        if from >= to {
            return Ok(());
        }
        let done = txn.journaled.get(&key).map_or(&[][..], |v| &v[..]);
        let mut gaps = Vec::new();
        let mut pos = from;
        for &(a, b) in done {
            if b <= pos {
                continue;
            }
            if a >= to {
                break;
            }
            if a > pos {
                gaps.push((pos, a));
            }
            pos = pos.max(b);
        }
        if pos < to {
            gaps.push((pos, to));
        }
        if gaps.is_empty() {
            return Ok(());
        }
        self.fetch(key)?;
        let page = &self
            .cache
            .get_mut(key)
            .expect("fetch() just cached this page")
            .data;
        // Every byte of the page not yet recorded still holds its original value: a byte is
        // recorded before its first change.
        // One record per sector piece (RECORD_SECTOR): a torn write leaves each whole.
        let mut recs: Vec<JournalRecord> = Vec::with_capacity(gaps.len());
        for &(a, b) in &gaps {
            let mut from = a;
            while from < b {
                let abs = start + from as u64;
                let sector_end = (abs / RECORD_SECTOR + 1) * RECORD_SECTOR;
                let to = b.min((sector_end - start) as usize);
                recs.push(JournalRecord {
                    file: key.0 as u32,
                    offset: abs,
                    data: page[from..to].to_vec(),
                });
                from = to;
            }
        }
        let txn = self.txn.as_mut().expect("checked above");
        let first = txn.records.len() as u32;
        txn.rec_by_page
            .entry(key)
            .or_default()
            .extend(first..first + recs.len() as u32);
        txn.records.extend(recs);
        let ranges = txn.journaled.entry(key).or_default();
        ranges.extend(gaps);
        ranges.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
        for &(a, b) in ranges.iter() {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        *ranges = merged;
        Ok(())
    }

    /// Reads exactly `buf.len()` bytes of file `f` at `offset`, including uncommitted changes.
    /// Reading past the logical end is [`Error::Corrupt`] naming the file and offset; a range
    /// ending past [`MAX_FILE_LEN`] is [`Error::BadArgument`].
    pub fn read_at(&mut self, f: FileId, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.check_file(f)?;
        self.check_range(f, offset, buf.len())?;
        let st = &self.files[f];
        let end = offset.checked_add(buf.len() as u64);
        if end.is_none_or(|e| e > st.len) || (!st.exists && !buf.is_empty()) {
            return Err(Error::corrupt(
                &st.spec.path,
                offset,
                format!("{} byte(s) within the file's {} byte(s)", buf.len(), st.len),
            ));
        }
        let ps = self.opts.page_size as u64;
        let direct = st.handle.as_ref().is_some_and(|h| h.is_mapped());
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let key = (f, pos / ps);
            let in_page = (pos % ps) as usize;
            let n = (buf.len() - done).min(self.opts.page_size - in_page);
            if direct && !self.dirty.contains(key) {
                // A page that is not dirty holds the disk's bytes (read_uncached's rule),
                // cached or not: no cache lookup.
                self.read_uncached(f, pos, &mut buf[done..done + n])?;
            } else if let Some(page) = self.cache.get_mut(key) {
                buf[done..done + n].copy_from_slice(&page.data[in_page..in_page + n]);
            } else {
                self.fetch(key)?;
                let page = self
                    .cache
                    .get_mut(key)
                    .expect("fetch() just cached this page");
                buf[done..done + n].copy_from_slice(&page.data[in_page..in_page + n]);
            }
            done += n;
        }
        Ok(())
    }

    /// The `len` bytes of file `f` at `offset` where they lie (the cached page, or the
    /// file's map), without copying them, when they lie in one page and that page is
    /// cached, dirty, or readable from a mapped handle. Otherwise (several pages, an
    /// unmapped page not cached, bytes past the logical or the disk length) `Ok(None)`: the
    /// caller falls back to [`Pager::read_at`], which also reports those errors. The bytes
    /// are those `read_at` would return; the slice borrows the pager mutably, so nothing
    /// changes them while it lives. Errors: a bad file index, remapping a grown file.
    #[inline]
    pub fn bytes_at(&mut self, f: FileId, offset: u64, len: usize) -> Result<Option<&[u8]>> {
        self.check_file(f)?;
        let ps = self.opts.page_size as u64;
        let st = &mut self.files[f];
        let Some(end) = offset.checked_add(len as u64) else {
            return Ok(None);
        };
        if len == 0 || end > st.len || !st.exists {
            return Ok(None);
        }
        // Page arithmetic by shifts for the usual power-of-two page size (a lookup's hot
        // path: three divisions otherwise).
        let (page, last, in_page) = if ps.is_power_of_two() {
            let sh = ps.trailing_zeros();
            (offset >> sh, (end - 1) >> sh, (offset & (ps - 1)) as usize)
        } else {
            (offset / ps, (end - 1) / ps, (offset % ps) as usize)
        };
        if page != last {
            return Ok(None);
        }
        let key = (f, page);
        let dirty = self.dirty.contains(key);
        if !dirty {
            let disk_end = st.disk_end();
            if let Some(h) = st.handle.as_mut().filter(|h| h.is_mapped()) {
                // A page that is not dirty holds the disk's bytes (read_uncached's rule);
                // past the disk length or a pending truncation they are zeros: copy those.
                if end > disk_end {
                    return Ok(None);
                }
                return h.bytes_at(offset, len);
            }
        }
        Ok(self
            .cache
            .get_mut(key)
            .map(|page| &page.data[in_page..in_page + len]))
    }

    /// A hint that `len` bytes of file `f` at `offset` will be read soon: when the file is
    /// mapped and the bytes lie in one page, prefetches them from where a read would take
    /// them (the map for a page that is not dirty, the cached page for a dirty one). Never
    /// fails and changes nothing (not even the cache's recently-used bits).
    pub fn prefetch(&self, f: FileId, offset: u64, len: usize) {
        let Some(st) = self.files.get(f) else { return };
        let Some(h) = st.handle.as_ref().filter(|h| h.is_mapped()) else {
            return;
        };
        let ps = self.opts.page_size as u64;
        let end = offset.saturating_add(len as u64);
        if len == 0 || end > st.len || (end - 1) / ps != offset / ps {
            return;
        }
        let key = (f, offset / ps);
        if self.dirty.contains(key) {
            if let Some(page) = self.cache.peek(key) {
                let at = (offset % ps) as usize;
                crate::prefetch::prefetch_bytes(&page.data[at..at + len]);
            }
        } else if end <= st.disk_end() {
            h.prefetch(offset, len);
        }
    }

    /// Reads bytes of a page that is not dirty straight from file `f` (for mapped files,
    /// where that is a copy, not a system call), without caching the page. The disk holds
    /// the logical bytes of every page that is not dirty (a dirty page leaves the cache only
    /// after it is written; a clean cached page was loaded by this rule or written back),
    /// except past the disk length or a pending truncation, where the logical bytes are
    /// zeros: the same rule as `load_page` (`shrink` zeroes a cached page's cut tail).
    fn read_uncached(&self, f: FileId, pos: u64, buf: &mut [u8]) -> Result<()> {
        let st = &self.files[f];
        let end = pos + buf.len() as u64;
        let valid_end = st.disk_end().clamp(pos, end);
        let n = (valid_end - pos) as usize;
        if let (Some(h), true) = (&st.handle, n > 0) {
            h.read_exact_at(&mut buf[..n], pos)?;
        }
        buf[n..].fill(0);
        Ok(())
    }

    /// Writes `data` into file `f` at `offset` (creating the file if absent), inside the
    /// current transaction (started if none). Nothing reaches the file before
    /// [`Pager::commit`] or an eviction protected by the journal. A range ending past
    /// [`MAX_FILE_LEN`] is [`Error::BadArgument`].
    pub fn write_at(&mut self, f: FileId, offset: u64, data: &[u8]) -> Result<()> {
        self.check_writable(f)?;
        self.check_range(f, offset, data.len())?;
        let end = offset + data.len() as u64;
        self.begin();
        // The logical length grows first: an eviction during the loop writes a page only
        // up to the logical length.
        let st = &mut self.files[f];
        if !st.exists {
            st.exists = true;
            st.len = 0;
        }
        st.len = st.len.max(end);
        self.track_len(f);
        let ps = self.opts.page_size as u64;
        let mut done = 0usize;
        while done < data.len() {
            let pos = offset + done as u64;
            let key = (f, pos / ps);
            let in_page = (pos % ps) as usize;
            let n = (data.len() - done).min(self.opts.page_size - in_page);
            let chunk = &data[done..done + n];
            done += n;
            self.fetch(key)?;
            // Only the bytes that differ change: a format that rewrites a whole structure
            // (a 4 KiB gdbm bucket for one new slot) journals, dirties and writes back just
            // the changed span. Bytes left alone already hold the value written.
            let (a, b) = {
                let page = self
                    .cache
                    .get_mut(key)
                    .expect("fetch() just cached this page");
                match changed_span(&page.data[in_page..in_page + n], chunk) {
                    None => continue,
                    Some(span) => span,
                }
            };
            self.journal_range(key, in_page + a, in_page + b)?;
            let page = self
                .cache
                .get_mut(key)
                .expect("journal_range() keeps a cached page cached");
            page.data[in_page + a..in_page + b].copy_from_slice(&chunk[a..b]);
            page.dirty = true;
            self.dirty.add(key, in_page + a, in_page + b);
        }
        Ok(())
    }

    /// Like [`Pager::write_at`], but under [`Durability::None`] (no journal, nothing to keep
    /// atomic) the bytes go straight to the file in one positional write instead of through
    /// the page cache; cached pages the range overlaps are updated too, so reads and later
    /// write-backs see the new bytes. For large appends (dbm.dumb's `.dat`) this saves copying
    /// every byte into cache pages and writing them back a page at a time. Under the other
    /// durabilities, or when the file is not on disk as it logically is (pending creation or
    /// removal), it is exactly [`Pager::write_at`].
    pub fn write_direct(&mut self, f: FileId, offset: u64, data: &[u8]) -> Result<()> {
        self.check_writable(f)?;
        self.check_range(f, offset, data.len())?;
        let st = &self.files[f];
        if self.opts.durability != Durability::None
            || self.txn.is_some()
            || !st.exists
            || st.handle.is_none()
            || data.is_empty()
        {
            return self.write_at(f, offset, data);
        }
        // A pending truncation must reach the file first, or it would cut these bytes later.
        self.apply_truncation(f)?;
        let end = offset + data.len() as u64;
        let st = &mut self.files[f];
        st.handle
            .as_ref()
            .expect("checked above: the file is on disk")
            .write_at(data, offset)?;
        st.disk_len = st.disk_len.max(end);
        st.len = st.len.max(end);
        st.unsynced = true;
        // Cached copies of the range (clean or dirty) take the new bytes; a dirty page's
        // later write-back then rewrites them unchanged.
        let ps = self.opts.page_size as u64;
        for p in offset / ps..=(end - 1) / ps {
            if let Some(page) = self.cache.get_mut((f, p)) {
                let (in_page, in_range) = page_overlap(p, ps, offset, end);
                page.data[in_page].copy_from_slice(&data[in_range]);
            }
        }
        Ok(())
    }

    /// Like [`Pager::read_at`], for a large run of bytes read once (dbm.dumb's gets in file
    /// order): under [`Durability::None`] with no transaction open, the bytes on disk come
    /// straight into `buf` in one positional read instead of through cache pages, and the
    /// pages the range overlaps that are cached (the newer bytes when dirty) are copied over
    /// them; bytes past a pending truncation or past the disk's end read as zeros, as
    /// [`Pager::read_at`] gives them. Otherwise it is exactly [`Pager::read_at`].
    pub fn read_direct(&mut self, f: FileId, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.check_file(f)?;
        self.check_range(f, offset, buf.len())?;
        let st = &self.files[f];
        let end = offset + buf.len() as u64;
        if self.opts.durability != Durability::None
            || self.txn.is_some()
            || !st.exists
            || st.handle.is_none()
            || buf.is_empty()
            || end > st.len
        {
            return self.read_at(f, offset, buf);
        }
        self.read_uncached(f, offset, buf)?;
        let ps = self.opts.page_size as u64;
        for p in offset / ps..=(end - 1) / ps {
            if let Some(page) = self.cache.get_mut((f, p)) {
                let (in_page, in_range) = page_overlap(p, ps, offset, end);
                buf[in_range].copy_from_slice(&page.data[in_page]);
            }
        }
        Ok(())
    }

    /// Truncates or extends (with zeros) file `f` to `len` bytes, creating it if absent,
    /// inside the current transaction. A `len` past [`MAX_FILE_LEN`] is [`Error::BadArgument`].
    pub fn set_len(&mut self, f: FileId, len: u64) -> Result<()> {
        self.check_writable(f)?;
        self.check_range(f, len, 0)?;
        self.begin();
        self.shrink(f, len)?;
        let st = &mut self.files[f];
        st.exists = true;
        st.len = len;
        self.track_len(f);
        Ok(())
    }

    /// Logically cuts file `f` to `len` if it is longer, journaling the bytes it drops.
    fn shrink(&mut self, f: FileId, len: u64) -> Result<()> {
        let cur = self.files[f].len;
        if len >= cur {
            return Ok(());
        }
        let ps = self.opts.page_size as u64;
        let orig = self.txn.as_ref().and_then(|t| t.orig[f]).unwrap_or(0);
        let journal_end = cur.min(orig);
        let mut p = len / ps;
        while p * ps < journal_end {
            self.journal_range((f, p), 0, self.opts.page_size)?;
            p += 1;
        }
        self.note_cut(f, len)?;
        for key in self.cache.keys_from(f, len.div_ceil(ps)) {
            self.cache.remove(key);
            self.dirty.remove(&key);
        }
        if !len.is_multiple_of(ps) {
            if let Some(page) = self.cache.get_mut((f, len / ps)) {
                page.data[(len % ps) as usize..].fill(0);
            }
        }
        let st = &mut self.files[f];
        st.zero_from = st.zero_from.min(len);
        st.len = len;
        self.track_len(f);
        Ok(())
    }

    /// Notes what the disk will hold, once the truncation of file `f` to `len` reaches it, in
    /// the fresh piece and the pre-image records that `len` cuts: their bytes on disk now
    /// (below any pending truncation) followed by zeros. A kill after the truncation and
    /// before the page's next write leaves exactly that (docs/journal.md, "Post-images").
    fn note_cut(&mut self, f: FileId, len: u64) -> Result<()> {
        let Some(txn) = &self.txn else { return Ok(()) };
        let ps = self.opts.page_size as u64;
        let st = &self.files[f];
        let Some(h) = &st.handle else { return Ok(()) };
        let disk_end = st.disk_end().min(len);
        let read_cut = |from: u64, to: u64| -> Result<Vec<u8>> {
            let mut buf = vec![0u8; (to - from) as usize];
            let n = disk_end.clamp(from, to) - from;
            h.read_exact_at(&mut buf[..n as usize], from)?;
            Ok(buf)
        };
        let orig = txn.orig[f].unwrap_or(0);
        let mut fresh = None;
        if len > orig {
            let sector = crate::journal::FRESH_SECTOR;
            let start = (len / sector * sector).max(len / ps * ps).max(orig);
            if start < len {
                let end = FreshImage::piece_end(start, ps);
                fresh = Some(FreshImage {
                    file: f as u32,
                    offset: start,
                    crc: crc32fast::hash(&read_cut(start, end)?),
                });
            }
        }
        let mut posts = Vec::new();
        if let Some(idxs) = txn.rec_by_page.get(&(f, len / ps)) {
            for &i in idxs {
                let r = &txn.records[i as usize];
                let end = r.offset + r.data.len() as u64;
                if r.offset < len && len < end {
                    posts.push(PostImage {
                        record: i,
                        crc: crc32fast::hash(&read_cut(r.offset, end)?),
                    });
                }
            }
        }
        let txn = self.txn.as_mut().expect("checked above");
        txn.fresh.extend(fresh);
        txn.posts.extend(posts);
        Ok(())
    }

    /// Removes file `f` inside the current transaction (its bytes are journaled, so a
    /// rollback brings it back). Removing a missing file does nothing.
    pub fn remove_file(&mut self, f: FileId) -> Result<()> {
        self.check_writable(f)?;
        if !self.files[f].exists {
            return Ok(());
        }
        self.begin();
        self.shrink(f, 0)?;
        let st = &mut self.files[f];
        st.exists = false;
        st.len = 0;
        Ok(())
    }

    /// Writes the transaction's unwritten journal bytes (header first); fsyncs under `Full`.
    fn flush_journal(&mut self) -> Result<()> {
        let Some(txn) = &self.txn else { return Ok(()) };
        if txn.header_written
            && txn.flushed == txn.records.len()
            && txn.posts_flushed == txn.posts.len()
            && txn.fresh_flushed == txn.fresh.len()
            && txn.len_flushed == txn.len_range
        {
            return Ok(());
        }
        let mut bytes = Vec::with_capacity(
            256 + txn.records[txn.flushed..]
                .iter()
                .map(|r| r.data.len() + crate::journal::RECORD_HEADER_LEN)
                .sum::<usize>()
                + (txn.posts.len() - txn.posts_flushed) * crate::journal::POST_ENTRY_LEN
                + (txn.fresh.len() - txn.fresh_flushed) * crate::journal::FRESH_ENTRY_LEN,
        );
        if !txn.header_written {
            let header = JournalHeader {
                version: crate::journal::VERSION,
                page_size: self.opts.page_size as u32,
                salt: txn.salt,
                files: self
                    .names
                    .iter()
                    .zip(&txn.orig)
                    .map(|(name, o)| JournalFile {
                        name: name.clone(),
                        orig_len: *o,
                    })
                    .collect(),
            };
            bytes.extend(header.encode());
        }
        for rec in &txn.records[txn.flushed..] {
            rec.encode_into(&mut bytes, txn.salt);
        }
        // Post-images after the records they refer to, and the length ranges: both before
        // any database byte they describe is written (docs/journal.md, "Post-images").
        encode_posts(&mut bytes, txn.salt, &txn.posts[txn.posts_flushed..]);
        encode_fresh(&mut bytes, txn.salt, &txn.fresh[txn.fresh_flushed..]);
        for (f, (&now, &done)) in txn.len_range.iter().zip(&txn.len_flushed).enumerate() {
            if now != done {
                LengthMark {
                    file: f as u32,
                    lo: now.0,
                    hi: now.1,
                }
                .encode_into(&mut bytes, txn.salt);
            }
        }
        let pos = txn.journal_pos;
        let full = self.opts.durability == Durability::Full;
        let mut created = false;
        if self.journal.is_none() {
            created = !self.vfs.exists(&self.journal_path)?;
            let mode = self.files[0].spec.create_mode;
            let j = self.vfs.open(
                &self.journal_path,
                VfsOpen {
                    mode,
                    ..VfsOpen::CREATE
                },
            )?;
            // A live writer owns its journal (docs/recovery.md): held until close, so no
            // other handle or process rolls it back or deletes it under this writer. Readers
            // probe it for an instant, so wait briefly for them.
            self.journal_lock = match LockTable::global().lock(
                &*j,
                LockMode::Exclusive,
                LockKind::Flock,
                Some(JOURNAL_LOCK_WAIT),
            ) {
                Ok(g) => Some(g),
                Err(Error::Unsupported { .. }) => None,
                Err(e) => return Err(e),
            };
            // Process: the journal's bytes are stores to a shared map of it, no system call
            // per commit. Full keeps pwrite + fsync (its ordering argument is fsync's).
            let use_map = self.opts.durability == Durability::Process;
            self.journal = Some(JournalWriter::new(j, use_map));
        }
        let j = self.journal.as_mut().expect("opened just above");
        // In the page cache (a store or a pwrite) before the caller's first database write.
        j.write_at(&bytes, pos)?;
        if full && !self.opts.has_test_fault(PagerTestFault::SkipJournalSync) {
            j.sync()?;
            if created {
                if let Some(dir) = self.journal_path.parent() {
                    self.vfs.sync_dir(dir)?;
                }
            }
        }
        let txn = self.txn.as_mut().expect("checked at the top");
        txn.header_written = true;
        txn.flushed = txn.records.len();
        txn.posts_flushed = txn.posts.len();
        txn.fresh_flushed = txn.fresh.len();
        txn.len_flushed.clone_from(&txn.len_range);
        txn.journal_pos = pos + bytes.len() as u64;
        Ok(())
    }

    /// Notes that a database file is about to change on disk, so that [`Pager::rollback`]
    /// restores the files from the transaction's records (set before the change: a change
    /// that fails half-way must be undone too).
    fn touch_db(&mut self) {
        if let Some(t) = &mut self.txn {
            t.db_touched = true;
        }
    }

    /// Makes sure file `f` exists on disk, creating it.
    fn ensure_on_disk(&mut self, f: FileId) -> Result<()> {
        if self.files[f].handle.is_some() {
            return Ok(());
        }
        self.touch_db();
        let spec = &self.files[f].spec;
        let h = self.vfs.open(
            &spec.path,
            VfsOpen {
                mode: spec.create_mode,
                truncate: true,
                ..VfsOpen::CREATE
            },
        )?;
        let st = &mut self.files[f];
        st.handle = Some(h);
        st.disk_len = 0;
        st.unsynced = true;
        // journal.md, "dir-sync rule": a file created here (at commit, or by an eviction in
        // the middle of a transaction) needs its directory synced before the invalidation.
        self.dir_dirty = true;
        Ok(())
    }

    /// Applies file `f`'s pending truncation to disk.
    fn apply_truncation(&mut self, f: FileId) -> Result<()> {
        if self.files[f].zero_from < self.files[f].disk_len {
            self.touch_db();
        }
        let full = self.opts.durability == Durability::Full;
        let st = &mut self.files[f];
        if st.zero_from < st.disk_len {
            if let Some(h) = &st.handle {
                h.set_len(st.zero_from)?;
                if full {
                    // Durable before any page write of the transaction: a power loss then
                    // leaves every byte the truncation cut either zero or as a later write
                    // left it, never the old byte beside a new one in one journaled range
                    // (post-images could prove neither; docs/journal.md, "Post-images").
                    h.sync()?;
                }
            }
            st.disk_len = st.zero_from;
            st.unsynced = !full;
        }
        st.zero_from = u64::MAX;
        Ok(())
    }

    /// Writes `data`, the bytes of page `key` from in-page offset `at`, to its file (only the
    /// part below the logical length).
    fn write_page(&mut self, key: PageKey, at: usize, data: &[u8]) -> Result<()> {
        let (f, p) = key;
        let start = p * self.opts.page_size as u64 + at as u64;
        if start >= self.files[f].len || data.is_empty() {
            return Ok(());
        }
        self.ensure_on_disk(f)?;
        self.apply_truncation(f)?;
        let n = (self.files[f].len - start).min(data.len() as u64) as usize;
        self.touch_db();
        let st = &mut self.files[f];
        st.handle
            .as_ref()
            .expect("ensure_on_disk() opened it")
            .write_at(&data[..n], start)?;
        st.disk_len = st.disk_len.max(start + n as u64);
        st.unsynced = true;
        Ok(())
    }

    /// Writes every pending change to the files (creations and removals set `dir_dirty`).
    // Indexing by file id: the loop body calls `&mut self` methods with it.
    #[allow(clippy::needless_range_loop)]
    fn write_back(&mut self) -> Result<()> {
        for f in 0..self.files.len() {
            if !self.files[f].exists {
                if self.files[f].handle.is_some() {
                    self.touch_db();
                    self.files[f].handle = None;
                    self.dir_dirty = true;
                    self.vfs.remove(&self.files[f].spec.path)?;
                }
                let st = &mut self.files[f];
                st.disk_len = 0;
                st.zero_from = u64::MAX;
                continue;
            }
            if self.files[f].handle.is_none() {
                self.ensure_on_disk(f)?;
            }
            if self.files[f].zero_from < self.files[f].disk_len {
                self.apply_truncation(f)?;
            }
            self.files[f].zero_from = u64::MAX;
        }
        // Pages in the order of their last change, not of their offsets: a format that
        // updates its structures bottom-up (gdbm: record, bucket, directory, header) then
        // has them reach the file in that order, so a process killed during write-back
        // leaves other libraries, which know nothing of the journal, the most consistent
        // file possible (docs/recovery.md, "Write order"). Rollback does not depend on it.
        for key in self.dirty.in_change_order() {
            let (a, b) = self
                .dirty
                .remove(&key)
                .expect("in_change_order lists dirty pages");
            let page = self
                .cache
                .get_mut(key)
                .expect("the dirty map lists cached pages only");
            let data = page.data[a..b].to_vec();
            if let Err(e) = self.write_page(key, a, &data) {
                self.dirty.insert(key, (a, b));
                return Err(e);
            }
            self.cache
                .get_mut(key)
                .expect("the dirty map lists cached pages only")
                .dirty = false;
        }
        if self
            .files
            .iter()
            .any(|st| st.handle.is_some() && st.disk_len != st.len)
        {
            self.touch_db();
        }
        for st in &mut self.files {
            if let Some(h) = &st.handle {
                if st.disk_len != st.len {
                    h.set_len(st.len)?;
                    st.disk_len = st.len;
                    st.unsynced = true;
                }
            }
        }
        Ok(())
    }

    /// Fsyncs every file written since its last fsync (or every file when `all`), and the
    /// directory when a file was created or removed since it was last synced.
    fn sync_files(&mut self, all: bool) -> Result<()> {
        for st in &mut self.files {
            if let (true, Some(h)) = (all || st.unsynced, &st.handle) {
                h.sync()?;
                st.unsynced = false;
            }
        }
        if self.dir_dirty && !self.opts.has_test_fault(PagerTestFault::SkipDirSync) {
            // Every file is in the journal's directory (checked at open).
            if let Some(dir) = self.journal_path.parent() {
                self.vfs.sync_dir(dir)?;
            }
        }
        self.dir_dirty = false;
        Ok(())
    }

    fn invalidate_journal(&mut self, fsync: bool) -> Result<()> {
        if let Some(j) = &mut self.journal {
            // One 8-byte write inside the first sector: atomic even under power loss. Under
            // Process a store to the map, after every database write of the commit.
            j.write_at(&crate::journal::INVALIDATED_MAGIC, 0)?;
            if fsync {
                j.sync()?;
            }
        }
        Ok(())
    }

    /// Ends the current operation atomically, per the pager's [`Durability`]:
    /// `None` keeps changes in the cache until [`Pager::sync`]/[`Pager::close`]; `Process` and
    /// `Full` run journal → pages → invalidate (with fsyncs under `Full`). Without an open
    /// transaction it does nothing. On error the transaction stays open; call
    /// [`Pager::rollback`] or drop the pager (the next open rolls back the journal).
    pub fn commit(&mut self) -> Result<()> {
        if self.txn.is_none() {
            return Ok(());
        }
        let full = self.opts.durability == Durability::Full;
        if let Some(txn) = &mut self.txn {
            let ps = self.opts.page_size as u64;
            for (&key, &range) in &self.dirty.ranges {
                if let Some(page) = self.cache.peek(key) {
                    note_posts(txn, ps, key, range, &page.data);
                }
            }
        }
        if self.opts.has_test_fault(PagerTestFault::PagesBeforeJournal) {
            self.write_back()?;
            self.flush_journal()?;
        } else {
            self.flush_journal()?;
            self.write_back()?;
        }
        if full {
            self.sync_files(false)?;
        }
        self.invalidate_journal(full)?;
        self.txn = None;
        Ok(())
    }

    /// Discards the current transaction's changes: files are as at its start (pages already
    /// evicted to disk are restored from the transaction's journal records). Under
    /// `Durability::None` (no journal) only changes still in the cache are discarded.
    pub fn rollback(&mut self) -> Result<()> {
        if let Some(txn) = self.txn.take() {
            if txn.db_touched {
                // Same work as hot-journal recovery, from the records kept in memory.
                for rec in &txn.records {
                    let f = rec.file as usize;
                    self.ensure_on_disk(f)?;
                    self.files[f]
                        .handle
                        .as_ref()
                        .expect("ensure_on_disk() opened it")
                        .write_at(&rec.data, rec.offset)?;
                }
                for (f, orig) in txn.orig.iter().enumerate() {
                    match orig {
                        None => {
                            if self.files[f].handle.take().is_some() {
                                self.dir_dirty = true;
                                self.vfs.remove(&self.files[f].spec.path)?;
                            }
                        }
                        Some(len) => {
                            self.ensure_on_disk(f)?;
                            let st = &mut self.files[f];
                            st.handle
                                .as_ref()
                                .expect("ensure_on_disk() opened it")
                                .set_len(*len)?;
                            st.unsynced = true;
                        }
                    }
                }
                if self.opts.durability == Durability::Full {
                    // Restored bytes, lengths, and re-created or removed files' directory
                    // entries are durable before the journal stops describing them.
                    self.sync_files(false)?;
                }
            }
            self.invalidate_journal(self.opts.durability == Durability::Full)?;
        }
        self.cache.clear();
        self.dirty.clear();
        for st in &mut self.files {
            st.handle = open_handle(&*self.vfs, &st.spec, self.opts.read_only)?;
            st.exists = st.handle.is_some();
            st.disk_len = match &st.handle {
                Some(h) => h.len()?,
                None => 0,
            };
            st.len = st.disk_len;
            st.zero_from = u64::MAX;
            st.unsynced = false;
        }
        Ok(())
    }

    /// Python's `db.sync()`: commits, writes every change back and fsyncs every file.
    pub fn sync(&mut self) -> Result<()> {
        if self.opts.read_only {
            return Ok(());
        }
        self.commit()?;
        self.write_back()?;
        self.sync_files(true)?;
        if let Some(j) = &self.journal {
            // fsync covers the map's stores too.
            j.sync()?;
        }
        Ok(())
    }

    /// Commits, writes everything back, removes the journal and releases the lock.
    pub fn close(mut self) -> Result<()> {
        self.close_in_place()
    }

    /// [`Pager::close`] without consuming the pager (for [`crate::Store::finish`]): on
    /// success the pager is marked closed, its lock and file handles are released, and the
    /// [`crate::Store`] methods fail with [`Error::Closed`]. Closing a closed pager does
    /// nothing. On error the pager stays open (the transaction may be retried or dropped).
    pub(crate) fn close_in_place(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        if !self.opts.read_only {
            self.close_writes()?;
        }
        self.closed = true;
        self.cache.clear();
        self.dirty.clear();
        // The order a consumed pager released them in: its lock, then (dropping the
        // struct) the file handles, then the journal's lock.
        drop(self.lock.take());
        for st in &mut self.files {
            st.handle = None;
        }
        drop(self.journal.take());
        drop(self.journal_lock.take());
        Ok(())
    }

    /// The writing half of [`Pager::close`]: commit, write back, sync under `Full`, remove
    /// the journal.
    fn close_writes(&mut self) -> Result<()> {
        self.commit()?;
        self.write_back()?;
        if self.opts.durability == Durability::Full {
            self.sync_files(false)?;
        }
        // Dropping the writer unmaps the journal before it is removed.
        if self.journal.take().is_some() || self.vfs.exists(&self.journal_path)? {
            match self.vfs.remove(&self.journal_path) {
                Err(e) if e.is_not_found() => {}
                other => other?,
            }
        }
        Ok(())
    }
}

/// A writer's open, holding the database's exclusive lock on `primary` (through `kind`):
/// rolls back a hot journal, or deletes a cold one. Refuses with [`Error::Locked`] when a
/// live writer owns the journal (its lock is held). When the open's own lock is not an OS
/// `flock` ([`LockKind::None`], ndbm today), an exclusive `flock` on a second descriptor of
/// the primary is taken around the rollback, so another pydbm process holding the file
/// with `flock` is never rolled back under.
fn recover_under_lock(
    vfs: &dyn Vfs,
    primary: &dyn VfsFile,
    kind: LockKind,
    journal: &Path,
    names: Option<&[Vec<u8>]>,
) -> Result<()> {
    // The usual case, no journal: one stat, no open.
    if !vfs.exists(journal)? {
        return Ok(());
    }
    let jf = match vfs.open(journal, VfsOpen::READ) {
        Err(e) if e.is_not_found() => return Ok(()),
        other => other?,
    };
    let _owned = lock_journal(&*jf, LockMode::Exclusive)?;
    drop(jf);
    let _os_lock = match kind {
        LockKind::Flock => None,
        _ => crate::lock::os_flock_exclusive(vfs, primary.path())?,
    };
    roll_back(vfs, journal, names, false)?;
    Ok(())
}

/// How long a writer waits for its journal's lock (readers hold it only to probe it).
const JOURNAL_LOCK_WAIT: Duration = Duration::from_secs(2);

/// Notes the post-images of a write of in-page range `range` of page `key`, whose whole
/// content after the write is `page`: for each pre-image record of the page that the range
/// touches, the crc32 of the record's range as the write leaves it; and for each piece of
/// the range at or past the file's original length (bytes with no pre-image), a fresh image
/// of the whole piece (docs/journal.md, "Post-images"). Bytes of the page past the file's
/// logical length are zeros, as a reader of the file past its end takes them.
fn note_posts(txn: &mut Txn, ps: u64, key: PageKey, range: (usize, usize), page: &[u8]) {
    let start = key.1 * ps;
    let orig = txn.orig[key.0].unwrap_or(0);
    let mut at = (start + range.0 as u64).max(orig);
    let write_end = start + range.1 as u64;
    if at < write_end {
        // Pieces on the fixed grid (sector and page bounds, starting no lower than the
        // original length): a piece written twice gets a crc per write, for the same range.
        let sector = crate::journal::FRESH_SECTOR;
        at = (at / sector * sector).max(orig).max(start);
        while at < write_end {
            let end = FreshImage::piece_end(at, ps);
            let piece = &page[(at - start) as usize..(end - start) as usize];
            txn.fresh.push(FreshImage {
                file: key.0 as u32,
                offset: at,
                crc: crc32fast::hash(piece),
            });
            at = end;
        }
    }
    let Some(idxs) = txn.rec_by_page.get(&key) else {
        return;
    };
    for &i in idxs {
        let r = &txn.records[i as usize];
        let a = (r.offset - start) as usize;
        let b = a + r.data.len();
        if a < range.1 && range.0 < b && b <= page.len() {
            txn.posts.push(PostImage {
                record: i,
                crc: crc32fast::hash(&page[a..b]),
            });
        }
    }
}

/// Where page `p` (of `ps` bytes) and the byte range `offset..end` overlap: the overlap's
/// position inside the page and inside the range. The caller has checked they do overlap.
fn page_overlap(
    p: u64,
    ps: u64,
    offset: u64,
    end: u64,
) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    let (page_start, page_end) = (p * ps, (p + 1) * ps);
    let (from, to) = (offset.max(page_start), end.min(page_end));
    (
        (from - page_start) as usize..(to - page_start) as usize,
        (from - offset) as usize..(to - offset) as usize,
    )
}

#[cfg(test)]
mod tests {
    use super::changed_span;
    use crate::prng::SplitMix64;

    #[test]
    fn changed_span_is_the_smallest_differing_range() {
        let mut rng = SplitMix64::new(7);
        for _ in 0..2000 {
            let n = 1 + rng.below(1200) as usize;
            let old: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            let mut new = old.clone();
            let want = if rng.below(8) == 0 {
                None
            } else {
                let a = rng.below(n as u64) as usize;
                let b = a + 1 + rng.below((n - a) as u64) as usize;
                for (i, byte) in new.iter_mut().enumerate().take(b).skip(a) {
                    if i == a || i == b - 1 || rng.below(2) == 0 {
                        *byte = !*byte;
                    }
                }
                Some((a, b))
            };
            assert_eq!(changed_span(&old, &new), want, "n {n}");
        }
    }
}
