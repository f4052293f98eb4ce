//! The store logic of `dbm.dumb`: what CPython 3.13's `_Database` does to `.dat`, `.dir` and
//! `.bak`, expressed as positional writes on three files so that one Python-level operation is
//! one atomic commit of the engine's journal (python-formats spec §3.2–3.3).
//!
//! The in-memory state mirrors CPython's: the [`Index`] (its `_index` dict), `modified` (its
//! `_modified` flag), plus the length of `.dat` and the bytes of `.dir`, kept so that the
//! `.dir`→`.bak` rename of `_commit` can be replayed as a journaled copy.
//!
//! The files are the engine's [`Pager`] over three [`pydbm_engine::FileSpec`]s ([`DAT`],
//! [`DIR`], [`BAK`]) under one journal, on any [`pydbm_engine::Vfs`]: one Python-level
//! operation is one [`Pager::commit`].
//!
//! Appends (a value with its NUL padding to `.dat`, a line to `.dir`) are collected in memory
//! and handed to the files in one write per file: at the end of every operation when the
//! pager commits each operation (a journal: `Durability::Process` or `Full`), else (under
//! `Durability::None`, where the pager only writes at sync, close or eviction) only at sync, close,
//! `_commit`, reorganize or when [`APPEND_FLUSH_BYTES`] have accumulated. Reads of values
//! still in memory are served from there.

use std::path::Path;

use pydbm_engine::{Durability, Error, OpenMode, Pager, Result};

use super::dir_index::{self, Slot};
use super::index::Index;
use super::layout;

/// Index of `.dat` among the store's files.
pub const DAT: usize = 0;
/// Index of `.dir` among the store's files.
pub const DIR: usize = 1;
/// Index of `.bak` among the store's files.
pub const BAK: usize = 2;

/// When writes are deferred, appended `.dat` bytes (or `.dir` lines) held in memory are
/// written once this many have accumulated.
pub const APPEND_FLUSH_BYTES: usize = 1 << 20;

/// The largest read-ahead window for gets in file order (see `ReadAhead`).
pub const READ_AHEAD_MAX: usize = 256 << 10;
/// The first read-ahead window once gets are seen to go through `.dat` in order.
const READ_AHEAD_MIN: usize = 16 << 10;

/// A copy of the `.dat` bytes that gets in file order are about to read, filled with one
/// [`Pager::read_direct`] per window instead of one [`Pager::read_at`] per value.
///
/// Used only when writes are deferred (then nothing is written between commits but through
/// the store, which keeps the copy current). A get that starts inside the window or within
/// one window's length past the previous value read from the file counts as sequential;
/// after two in a row the window starts at [`READ_AHEAD_MIN`] and doubles on each refill up
/// to [`READ_AHEAD_MAX`]; any other get drops back to reading just the value.
#[derive(Debug, Default)]
struct ReadAhead {
    /// The bytes of `.dat` from `pos`.
    buf: Vec<u8>,
    pos: u64,
    /// End of the last value read from the file.
    last_end: u64,
    /// Sequential gets in a row.
    streak: u32,
}

impl ReadAhead {
    /// The window's copy of `len` bytes at `pos`, if it holds them all.
    fn get(&self, pos: u64, len: usize) -> Option<&[u8]> {
        let at = usize::try_from(pos.checked_sub(self.pos)?).ok()?;
        self.buf.get(at..at.checked_add(len)?)
    }

    /// Forgets the window (after a write through the files or a failed operation).
    fn clear(&mut self) {
        self.buf.clear();
        self.streak = 0;
    }

    /// Brings bytes written at `pos` into the window's copy.
    fn overwrite(&mut self, pos: u64, data: &[u8]) {
        let win_end = self.pos + self.buf.len() as u64;
        let end = pos + data.len() as u64;
        if pos >= win_end || end <= self.pos {
            return;
        }
        let (from, to) = (pos.max(self.pos), end.min(win_end));
        self.buf[(from - self.pos) as usize..(to - self.pos) as usize]
            .copy_from_slice(&data[(from - pos) as usize..(to - pos) as usize]);
    }
}

/// Values up to this size are appended (with their `.dir` line) before the index says
/// whether the key is new, to overlap that work with the index's memory access.
const EARLY_APPEND_MAX: usize = 1024;

/// A dumb database's state over the pager of its three files.
#[derive(Debug)]
pub struct Store {
    files: Pager,
    index: Index,
    /// Logical length of `.dat`.
    dat_len: u64,
    /// The current bytes of `.dir` (what `_commit` renames to `.bak`); `None` when absent.
    dir_bytes: Option<Vec<u8>>,
    /// CPython's `_modified`.
    modified: bool,
    read_only: bool,
    /// Appended `.dat` bytes not yet handed to the files: the file's bytes from
    /// `dat_written` to `dat_len` (so `dat_tail.len() == dat_len - dat_written`).
    dat_tail: Vec<u8>,
    /// Length of `.dat` as handed to the files.
    dat_written: u64,
    /// How many bytes of `dir_bytes` have been handed to the files (the rest are appended
    /// lines still in memory).
    dir_written: usize,
    /// Whether `dir_bytes` is exactly `dir_index::encode(index)`: then `_commit`'s new `.dir`
    /// is the current one and need not be encoded again.
    dir_is_index: bool,
    /// Length of the `.dir` file as handed to the files: `dir_written` plus the override
    /// lines (below) written since the last index commit.
    dir_file_len: u64,
    /// Whether the `.dir` file holds override lines, i.e. differs from
    /// `dir_bytes[..dir_written]` (then `_commit` rewrites it whole).
    dir_file_differs: bool,
    /// Override lines not yet handed to the files: one `repr(key), (pos, siz)` line per
    /// replacement that moved or resized a value (docs/dumb.md, "Replacements").
    dir_overrides: Vec<u8>,
    /// Whether the pager runs without a journal (`Durability::None`): commits need not reach
    /// the files before sync or close, so appends are held across operations.
    defer: bool,
    /// Read-ahead for gets in file order (only when `defer`).
    ahead: ReadAhead,
    /// Set when an operation failed after it began changing the files or this state (a full
    /// disk while writing or committing): the files were rolled back to before the operation,
    /// but the in-memory index, `.dat` length and appends may still describe it (issue 16,
    /// full disk: a later `_commit` then wrote `.dir` lines naming values that never reached
    /// `.dat`), so every later use of this handle fails until the database is opened again.
    failed: bool,
    /// Set by an operation that refuses before changing anything (a corrupt slot): its
    /// failure leaves the handle usable.
    refused: bool,
    /// Whether a [`pydbm_engine::Transaction`] is open: operations then end without a
    /// commit of the journal; [`Store::commit_transaction`] commits them together.
    in_txn: bool,
}

impl Store {
    /// Opens the database as CPython 3.13's `dbm.dumb.open(name, flag)` does (spec §3.3):
    /// `New` removes `.dat`, `.bak`, `.dir` first; `Create`/`New` create a missing `.dat` and
    /// an empty `.dir`; `Read`/`Write` fail with an I/O `NotFound` error naming the missing
    /// `.dat` or `.dir`. A malformed `.dir` fails with [`Error::Corrupt`] naming the line.
    /// The setup writes are one commit.
    pub fn open(files: Pager, mode: OpenMode) -> Result<Self> {
        let defer = files.durability() == Durability::None;
        let mut store = Store {
            files,
            index: Index::new(),
            dat_len: 0,
            dir_bytes: None,
            modified: false,
            read_only: mode == OpenMode::Read,
            dat_tail: Vec::new(),
            dat_written: 0,
            dir_written: 0,
            dir_is_index: false,
            dir_file_len: 0,
            dir_file_differs: false,
            dir_overrides: Vec::new(),
            defer,
            ahead: ReadAhead::default(),
            failed: false,
            refused: false,
            in_txn: false,
        };
        match store.open_files(mode) {
            Ok(()) => Ok(store),
            Err(e) => {
                // The open failed before anything was made visible; undo partial setup.
                let _ = store.files.rollback();
                Err(e)
            }
        }
    }

    fn open_files(&mut self, mode: OpenMode) -> Result<()> {
        let creating = matches!(mode, OpenMode::Create | OpenMode::New);
        if mode == OpenMode::New {
            // _create('n'): remove .dat, .bak, .dir (errors ignored).
            for f in [DAT, BAK, DIR] {
                if self.files.exists(f) {
                    self.files.remove_file(f)?;
                }
            }
        }
        if !self.files.exists(DAT) {
            if !creating {
                return Err(missing(self.files.path(DAT)));
            }
            self.files.set_len(DAT, 0)?;
        }
        self.dat_len = self.files.len(DAT);
        self.dat_written = self.dat_len;
        if self.files.exists(DIR) {
            let len = self.files.len(DIR);
            let len = usize::try_from(len).map_err(|_| {
                Error::corrupt(self.files.path(DIR), 0, "a .dir file that fits in memory")
            })?;
            let mut text = vec![0u8; len];
            self.files.read_at(DIR, 0, &mut text)?;
            let entries = dir_index::parse(self.files.path(DIR), &text)?;
            self.index = Index::from_entries(entries);
            self.dir_written = text.len();
            self.dir_file_len = text.len() as u64;
            self.dir_is_index = text.is_empty();
            self.dir_bytes = Some(text);
        } else {
            if !creating {
                return Err(missing(self.files.path(DIR)));
            }
            // CPython 3.13 creates the empty .dir at open and starts unmodified (spec §3.3).
            self.files.set_len(DIR, 0)?;
            self.dir_bytes = Some(Vec::new());
            self.dir_written = 0;
            self.dir_is_index = self.index.is_empty();
        }
        if creating {
            self.files.commit()?;
        }
        Ok(())
    }

    /// The files underneath.
    pub fn files(&self) -> &Pager {
        &self.files
    }

    /// Consumes the store, returning the files (after [`Store::close_commit`]).
    pub fn into_files(self) -> Pager {
        self.files
    }

    /// The in-memory index (what `.dir` will hold after the next commit).
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Logical length of `.dat`.
    pub fn dat_len(&self) -> u64 {
        self.dat_len
    }

    /// Whether the handle is read-only (`'r'`).
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// CPython's `db[key]`: the value, read from `.dat` at the key's slot.
    /// A slot reaching past the end of `.dat` is [`Error::Corrupt`].
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.check_usable()?;
        let Some(slot) = self.index.get(key) else {
            return Ok(None);
        };
        let end = slot.pos.checked_add(slot.siz);
        if end.is_none_or(|end| end > self.dat_len) {
            return Err(Error::corrupt(
                self.files.path(DAT),
                slot.pos,
                format!(
                    "{} value bytes inside the .dat file of {} bytes",
                    slot.siz, self.dat_len
                ),
            ));
        }
        // Bounded by dat_len, checked above.
        let mut buf = vec![0u8; slot.siz as usize];
        self.read_dat(slot.pos, &mut buf)?;
        Ok(Some(buf))
    }

    /// Reads `.dat` bytes at `pos` (inside `dat_len`): the part below `dat_written` from the
    /// files, the rest from the appends held in memory.
    fn read_dat(&mut self, pos: u64, buf: &mut [u8]) -> Result<()> {
        let split = self.dat_written.saturating_sub(pos).min(buf.len() as u64) as usize;
        let (on_file, in_tail) = buf.split_at_mut(split);
        if !on_file.is_empty() {
            self.read_file_dat(pos, on_file)?;
        }
        if !in_tail.is_empty() {
            // pos + split >= dat_written here, and the range ends inside dat_len.
            let at = (pos + split as u64 - self.dat_written) as usize;
            in_tail.copy_from_slice(&self.dat_tail[at..at + in_tail.len()]);
        }
        Ok(())
    }

    /// Reads `.dat` bytes at `pos` that lie below `dat_written`, through the read-ahead
    /// window when gets go through the file in order.
    fn read_file_dat(&mut self, pos: u64, buf: &mut [u8]) -> Result<()> {
        if !self.defer {
            return self.files.read_at(DAT, pos, buf);
        }
        if let Some(held) = self.ahead.get(pos, buf.len()) {
            buf.copy_from_slice(held);
            return Ok(());
        }
        let ahead = &mut self.ahead;
        let reach = (ahead.buf.len() as u64).max(READ_AHEAD_MIN as u64);
        let sequential = pos >= ahead.last_end && pos - ahead.last_end <= reach;
        ahead.streak = if sequential { ahead.streak + 1 } else { 0 };
        ahead.last_end = pos + buf.len() as u64;
        if ahead.streak < 2 || buf.len() >= READ_AHEAD_MAX {
            return self.files.read_at(DAT, pos, buf);
        }
        // Refill: double the window (from READ_AHEAD_MIN, up to READ_AHEAD_MAX), at least the
        // value (shorter than READ_AHEAD_MAX here), never past what the files hold (the
        // caller's range lies below dat_written).
        let want = (ahead.buf.len() * 2).clamp(READ_AHEAD_MIN, READ_AHEAD_MAX);
        let len = (self.dat_written - pos).min(want as u64) as usize;
        let len = len.max(buf.len());
        ahead.buf.clear();
        ahead.buf.resize(len, 0);
        ahead.pos = pos;
        if let Err(e) = self.files.read_direct(DAT, pos, &mut self.ahead.buf) {
            self.ahead.clear();
            return Err(e);
        }
        buf.copy_from_slice(&self.ahead.buf[..buf.len()]);
        Ok(())
    }

    /// Writes `data` over `.dat` at `pos` (at most `dat_len`): the part below `dat_written`
    /// to the files, the rest into the appends held in memory (extending them, and
    /// `dat_len`, when it ends past `dat_len`).
    fn write_dat(&mut self, pos: u64, data: &[u8]) -> Result<()> {
        let end = pos.checked_add(data.len() as u64).ok_or_else(|| {
            Error::corrupt(self.files.path(DAT), pos, "a value offset below 2**64")
        })?;
        let split = self.dat_written.saturating_sub(pos).min(data.len() as u64) as usize;
        if split > 0 {
            self.files.write_at(DAT, pos, &data[..split])?;
            self.ahead.overwrite(pos, &data[..split]);
        }
        let rest = &data[split..];
        if !rest.is_empty() {
            let at = (pos + split as u64 - self.dat_written) as usize;
            if self.dat_tail.len() < at + rest.len() {
                self.dat_tail.resize(at + rest.len(), 0);
            }
            self.dat_tail[at..at + rest.len()].copy_from_slice(rest);
        }
        self.dat_len = self.dat_len.max(end);
        Ok(())
    }

    /// Hands the `.dat` appends held in memory to the files (one write).
    fn flush_dat(&mut self) -> Result<()> {
        if !self.dat_tail.is_empty() {
            self.files
                .write_direct(DAT, self.dat_written, &self.dat_tail)?;
            self.dat_tail.clear();
        }
        self.dat_written = self.dat_len;
        Ok(())
    }

    /// Hands the appends held in memory to the files: one write to `.dat`, then one to
    /// `.dir`. `.dat` goes first so that no `.dir` line reaches the files before the value
    /// it names: in the same transaction (`Process`/`Full`), whose write-back keeps this
    /// order, or straight to the file before the line enters the page cache (`None`).
    fn flush_appends(&mut self) -> Result<()> {
        self.flush_dat()?;
        if let Some(dir) = &self.dir_bytes {
            if self.dir_written < dir.len() {
                self.files
                    .write_at(DIR, self.dir_file_len, &dir[self.dir_written..])?;
                self.dir_file_len += (dir.len() - self.dir_written) as u64;
                self.dir_written = dir.len();
            }
        }
        if !self.dir_overrides.is_empty() {
            self.files
                .write_at(DIR, self.dir_file_len, &self.dir_overrides)?;
            self.dir_file_len += self.dir_overrides.len() as u64;
            self.dir_overrides.clear();
            self.dir_file_differs = true;
        }
        Ok(())
    }

    /// The end of an operation's writes: appends go to the files now unless writes are
    /// deferred and less than [`APPEND_FLUSH_BYTES`] are held.
    fn settle_appends(&mut self) -> Result<()> {
        let dir_held = self
            .dir_bytes
            .as_ref()
            .map_or(0, |d| d.len() - self.dir_written);
        if !self.defer
            || self.dat_tail.len() >= APPEND_FLUSH_BYTES
            || dir_held >= APPEND_FLUSH_BYTES
        {
            self.flush_appends()?;
        }
        Ok(())
    }

    /// CPython's `db[key] = value` followed by one commit of the journal.
    pub fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.check_writable()?;
        let result = self
            .insert_writes(key, value)
            .and_then(|()| self.settle_appends());
        self.finish(result)
    }

    fn insert_writes(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let len = value.len() as u64;
        // Hiding the index's cache miss: the key's table cell is requested first, and while it
        // loads, what a new key needs (the value appended, its .dir line) is done ahead; when
        // the key turns out to exist, that is taken back below (a few truncations). Only for
        // values small enough that doing the append twice would cost less than the miss.
        let hashed = self.index.prefetch(key);
        let before = (
            self.dat_tail.len(),
            self.dat_len,
            self.dir_bytes.as_ref().map(Vec::len),
        );
        let mut early = None;
        if value.len() <= EARLY_APPEND_MAX {
            // An error (a .dat length overflow) changes nothing; the paths below report it.
            if let Ok(slot) = self.append_value(value) {
                let dir = self.dir_bytes.get_or_insert_with(Vec::new);
                dir_index::encode_line(key, slot, dir);
                early = Some(slot);
            }
        }
        // One hash and probe serves the test and the set below (nothing between them changes
        // the index).
        let found = self.index.lookup_hashed(key, hashed);
        if let (Some(_), Some(_)) = (early, found.slot()) {
            // Not a new key after all: back to the state before the early append.
            self.dat_tail.truncate(before.0);
            self.dat_len = before.1;
            match (before.2, &mut self.dir_bytes) {
                (Some(n), Some(dir)) => dir.truncate(n),
                _ => self.dir_bytes = None,
            }
        }
        match found.slot() {
            None => {
                // _addval then _addkey: append the value, then one line to .dir (written with
                // the next flush; the index order and the line order stay the same).
                let slot = match early {
                    Some(slot) => slot,
                    None => {
                        let slot = self.append_value(value)?;
                        let dir = self.dir_bytes.get_or_insert_with(Vec::new);
                        dir_index::encode_line(key, slot, dir);
                        slot
                    }
                };
                self.index.set_found(found, key, slot);
            }
            Some(old)
                if old
                    .pos
                    .checked_add(old.siz)
                    .is_none_or(|e| e > self.dat_len) =>
            {
                // A corrupt slot: CPython would seek there and write; pydbm refuses to write
                // at an offset read from a damaged index (nothing has changed: the early
                // append was taken back above).
                self.refused = true;
                return Err(Error::corrupt(
                    self.files.path(DAT),
                    old.pos,
                    format!(
                        "{} value bytes inside the .dat file of {} bytes",
                        old.siz, self.dat_len
                    ),
                ));
            }
            Some(old) if layout::fits_in_place(old.siz, len) => {
                // _setval: overwrite in place; the old tail beyond len stays (spec §3.2).
                self.write_dat(old.pos, value)?;
                let slot = Slot {
                    pos: old.pos,
                    siz: len,
                };
                if slot != old {
                    self.dir_is_index = false;
                    self.note_override(key, slot);
                }
                self.index.set_found(found, key, slot);
            }
            Some(_) => {
                // Needs more blocks: append; the old blocks are leaked. .dir is untouched
                // until the next _commit.
                let slot = self.append_value(value)?;
                self.index.set_found(found, key, slot);
                self.dir_is_index = false;
                self.note_override(key, slot);
            }
        }
        self.modified = true;
        Ok(())
    }

    /// Queues an override line for `key`'s new slot, written to `.dir` in the same
    /// transaction as the value (docs/dumb.md, "Replacements"). CPython changes only its
    /// in-memory index on a replacement and rewrites `.dir` at the next `_commit`, so a
    /// process killed in between leaves `.dir` pointing at the old slot: for an in-place
    /// rewrite the old length over the new bytes (a torn value, e.g. `b'NEWVA'` for a
    /// 300-byte value over `b'abcde'`), for a moved value the old value (the completed
    /// operation lost). A `.dir` line for a key already listed replaces its slot and keeps
    /// its position when Python (and pydbm) read the file (`_update` assigns into a dict),
    /// so the appended line makes the operation complete on disk. `dir_bytes` stays what
    /// CPython's `.dir` would hold, so `_commit`'s `.bak` and `.dir` are still CPython's.
    /// Without a journal (`Durability::None`, deferred writes) nothing is promised across
    /// a kill and no line is written.
    fn note_override(&mut self, key: &[u8], slot: Slot) {
        if !self.defer {
            dir_index::encode_line(key, slot, &mut self.dir_overrides);
        }
    }

    /// `_addval`: pad `.dat` with NULs to the next block boundary and write `value` there.
    fn append_value(&mut self, value: &[u8]) -> Result<Slot> {
        let pos = layout::append_pos(self.dat_len).ok_or_else(|| {
            Error::corrupt(
                self.files.path(DAT),
                self.dat_len,
                "a .dat length below 2**64",
            )
        })?;
        let end = pos.checked_add(value.len() as u64).ok_or_else(|| {
            Error::corrupt(self.files.path(DAT), pos, "a .dat length below 2**64")
        })?;
        // The NUL padding, then the value, after the appends already held.
        let at = (pos - self.dat_written) as usize;
        self.dat_tail.resize(at, 0);
        self.dat_tail.extend_from_slice(value);
        self.dat_len = end;
        Ok(Slot {
            pos,
            siz: value.len() as u64,
        })
    }

    /// CPython's `del db[key]`, which commits the index at once; returns whether the key was
    /// present. A missing key still marks the database modified, as CPython does (its
    /// `_modified = True` precedes the `KeyError`), so the next sync/close rewrites `.dir`.
    pub fn remove(&mut self, key: &[u8]) -> Result<bool> {
        self.check_writable()?;
        self.modified = true;
        if self.index.get(key).is_none() {
            return Ok(false);
        }
        let slot = self.index.remove(key);
        self.dir_is_index = false;
        let result = self.commit_index();
        if let (Err(_), Some(slot)) = (&result, slot) {
            // Put the key back; its position moves to the end (rare failure path).
            self.index.set(key, slot);
        }
        self.finish(result)?;
        Ok(true)
    }

    /// CPython's `sync()` (`_commit`): when modified, `.dir` → `.bak` and a fresh `.dir`; then
    /// everything is written back and made durable.
    pub fn sync(&mut self) -> Result<()> {
        self.check_usable()?;
        let result = self.commit_index().and_then(|()| self.flush_appends());
        self.finish(result)?;
        self.files.sync()
    }

    /// The commit part of `close()`: like [`Store::sync`] without forcing durability beyond
    /// the journal's commit (the caller then closes the files).
    pub fn close_commit(&mut self) -> Result<()> {
        // After a failed operation nothing more is written: the index may name its values.
        self.check_usable()?;
        let result = self.commit_index().and_then(|()| self.flush_appends());
        self.finish(result)
    }

    /// Starts a transaction: appends still held in memory are written and committed first,
    /// so a rollback (which reopens the store from the files) loses nothing committed; then
    /// each operation writes as usual without committing the journal.
    pub fn begin_transaction(&mut self) -> Result<()> {
        self.check_usable()?;
        if !self.read_only {
            let flushed = self.flush_appends();
            self.finish(flushed)?;
        }
        self.in_txn = true;
        Ok(())
    }

    /// Commits every operation since [`Store::begin_transaction`] as one journal commit.
    pub fn commit_transaction(&mut self) -> Result<()> {
        self.in_txn = false;
        self.finish(Ok(()))
    }

    /// pydbm's reorganize (CPython's dumb has none): rewrites the database compactly in one
    /// transaction, byte for byte as CPython leaves a new database (`'n'`) into which every
    /// item was copied in index order and which was then closed: values at consecutive
    /// 512-byte boundaries, `.dir` in the same order, `.bak` a copy of `.dir` (no `.bak`
    /// when there are no items). Holds every value in memory while it runs.
    pub fn reorganize(&mut self) -> Result<()> {
        self.check_writable()?;
        let flushed = self.flush_appends();
        self.finish(flushed)?;
        let keys: Vec<Vec<u8>> = self.index.iter().map(|(k, _)| k.to_vec()).collect();
        let mut dat = Vec::new();
        let mut index = Index::new();
        for key in keys {
            let value = self.get(&key)?.unwrap_or_default();
            let pos = layout::append_pos(dat.len() as u64).ok_or_else(|| {
                Error::corrupt(self.files.path(DAT), 0, "a .dat below 2**64 bytes")
            })?;
            dat.resize(pos as usize, 0);
            dat.extend_from_slice(&value);
            index.set(
                &key,
                Slot {
                    pos,
                    siz: value.len() as u64,
                },
            );
        }
        let text = dir_index::encode(index.iter());
        self.ahead.clear();
        let result = (|| {
            self.files.set_len(DAT, 0)?;
            self.files.write_at(DAT, 0, &dat)?;
            self.files.set_len(DIR, 0)?;
            self.files.write_at(DIR, 0, &text)?;
            if index.is_empty() {
                self.files.remove_file(BAK)?;
            } else {
                self.files.set_len(BAK, 0)?;
                self.files.write_at(BAK, 0, &text)?;
            }
            Ok(())
        })();
        self.finish(result)?;
        self.index = index;
        self.dat_len = dat.len() as u64;
        self.dat_written = self.dat_len;
        self.dir_written = text.len();
        self.dir_file_len = text.len() as u64;
        self.dir_file_differs = false;
        self.dir_overrides.clear();
        self.dir_bytes = Some(text);
        self.dir_is_index = true;
        self.modified = false;
        Ok(())
    }

    /// `_commit` (spec §3.2): no-op unless modified; unlink `.bak`, rename `.dir` → `.bak`
    /// (written as a copy so the journal covers it), write the whole index as `.dir`; then
    /// `_modified = False` (CPython 3.13).
    fn commit_index(&mut self) -> Result<()> {
        if !self.modified || self.read_only {
            return Ok(());
        }
        // The values the new .dir names reach the files before it (see flush_appends).
        self.flush_dat()?;
        match &self.dir_bytes {
            Some(old) => {
                self.files.set_len(BAK, old.len() as u64)?;
                self.files.write_at(BAK, 0, old)?;
            }
            None => {
                if self.files.exists(BAK) {
                    self.files.remove_file(BAK)?;
                }
            }
        }
        // Override lines still in memory are superseded by the index written below.
        self.dir_overrides.clear();
        match (self.dir_is_index, &self.dir_bytes) {
            (true, Some(dir)) if !self.dir_file_differs => {
                // The new .dir is the current one: only the lines still in memory need writing.
                if self.dir_written < dir.len() {
                    self.files
                        .write_at(DIR, self.dir_written as u64, &dir[self.dir_written..])?;
                    self.dir_written = dir.len();
                }
            }
            (true, Some(dir)) => {
                // The index is the current .dir, but the file also holds override lines.
                self.files.set_len(DIR, dir.len() as u64)?;
                self.files.write_at(DIR, 0, dir)?;
                self.dir_written = dir.len();
            }
            _ => {
                let text = dir_index::encode(self.index.iter());
                self.files.set_len(DIR, text.len() as u64)?;
                self.files.write_at(DIR, 0, &text)?;
                self.dir_written = text.len();
                self.dir_bytes = Some(text);
                self.dir_is_index = true;
            }
        }
        self.dir_file_len = self.dir_written as u64;
        self.dir_file_differs = false;
        self.modified = false;
        Ok(())
    }

    /// Commits the journal after a successful operation, or rolls it back after a failed one.
    /// A failed operation, or a commit that fails itself (ENOSPC while writing back), is
    /// rolled back at once, so no hot journal is left for readers and no other library sees
    /// the operation's partial writes (issue 16, full disk). Unless the operation refused
    /// before changing anything (`refused`), this handle then refuses further use (`failed`):
    /// its in-memory state may describe the undone operation.
    ///
    /// Inside a transaction a finished operation is not committed (the transaction commits
    /// once, [`Store::commit_transaction`]); a failed one rolls back the whole transaction,
    /// after which the caller reloads the store ([`Store::open`] over the files).
    fn finish(&mut self, result: Result<()>) -> Result<()> {
        self.check_usable()?;
        let refused = std::mem::take(&mut self.refused);
        match result {
            Ok(()) if self.in_txn => Ok(()),
            Ok(()) => {
                let committed = self.files.commit();
                if committed.is_err() {
                    self.failed = true;
                    self.ahead.clear();
                    // If this rollback fails too, the journal stays hot and the next
                    // writable open recovers it; the commit's error is the one reported.
                    let _ = self.files.rollback();
                }
                committed
            }
            Err(e) => {
                // The rollback may restore bytes the window copied after they were written.
                self.ahead.clear();
                let _ = self.files.rollback();
                self.failed |= !refused;
                // Override lines of the failed operation are gone with it; the .dir file is
                // as the rollback left it.
                self.dir_overrides.clear();
                self.dir_file_len = self.files.len(DIR);
                Err(e)
            }
        }
    }

    /// Fails once an operation of this handle has failed (see `failed`).
    fn check_usable(&self) -> Result<()> {
        if self.failed {
            return Err(Error::io(
                self.files.path(DAT),
                std::io::Error::other(
                    "an earlier write failed and was rolled back; open the database again",
                ),
            ));
        }
        Ok(())
    }

    fn check_writable(&self) -> Result<()> {
        self.check_usable()?;
        if self.read_only {
            // CPython: dbm.dumb.error('The database is opened for reading only').
            return Err(Error::ReadOnly {
                path: self.files.path(DAT).to_path_buf(),
            });
        }
        Ok(())
    }
}

fn missing(path: &Path) -> Error {
    Error::io(
        path,
        std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory"),
    )
}

#[cfg(test)]
pub(crate) mod mem_files {
    //! Test support: a dumb database's pager over an in-memory disk, and its files' logical
    //! contents (what the files hold once every change is written back).
    use super::*;
    use pydbm_engine::{FileSpec, MemVfs, PagerOptions};
    use std::sync::Arc;

    /// The pager of `/t/NAME.dat`, `.dir`, `.bak` on `disk` at `durability`.
    pub fn pager_on(disk: &MemVfs, name: &str, durability: Durability) -> Pager {
        let specs = [".dat", ".dir", ".bak"]
            .iter()
            .map(|e| FileSpec::new(format!("/t/{name}{e}")))
            .collect();
        let opts = PagerOptions {
            durability,
            ..PagerOptions::default()
        };
        Pager::open(Arc::new(disk.clone()), specs, opts).expect("a pager over a memory disk opens")
    }

    /// A pager on a new memory disk committing every operation (`Durability::Process`).
    pub fn mem(name: &str) -> Pager {
        pager_on(&MemVfs::new(), name, Durability::Process)
    }

    /// A pager on a new memory disk without a journal (`Durability::None`): the store holds
    /// appends across operations.
    pub fn mem_deferred(name: &str) -> Pager {
        pager_on(&MemVfs::new(), name, Durability::None)
    }

    /// The three files' logical contents (`None` when absent).
    pub fn now(p: &mut Pager) -> [Option<Vec<u8>>; 3] {
        [DAT, DIR, BAK].map(|f| {
            p.exists(f).then(|| {
                let mut buf = vec![0u8; p.len(f) as usize];
                p.read_at(f, 0, &mut buf).expect("bytes inside the file");
                buf
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::mem_files::{mem, mem_deferred, now, pager_on};
    use super::*;
    use pydbm_engine::MemVfs;

    /// The CPython 3.13 dumb corpus, committed in tests/fixtures/dumb/corpus/py3.13 (copied
    /// from shared/corpus/dumb; see the README there).
    fn corpus_dir() -> Option<std::path::PathBuf> {
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dumb/corpus/py3.13"))
            .filter(|p| p.exists())
    }

    fn corpus(step: &str, ext: &str) -> Option<Vec<u8>> {
        let dir = corpus_dir()?;
        std::fs::read(dir.join(step).join(format!("db{ext}"))).ok()
    }

    fn assert_step(files: &mut Pager, step: &str) {
        assert_step_with_overrides(files, step, &[]);
    }

    /// Like `assert_step`, for a step after replacements in a session: pydbm's `.dir` is
    /// CPython's followed by one override line per replacement that moved or resized a
    /// value (CPython changes only its in-memory index until `_commit`; see
    /// `Store::note_override`). Every other file, and every file after a commit, is
    /// CPython's byte for byte.
    fn assert_step_with_overrides(files: &mut Pager, step: &str, overrides: &[(&[u8], Slot)]) {
        assert!(
            corpus_dir().is_some(),
            "tests/fixtures/dumb/corpus/py3.13 is committed"
        );
        for (f, ext) in [(DAT, ".dat"), (DIR, ".dir"), (BAK, ".bak")] {
            let mut want = corpus(step, ext);
            if f == DIR {
                if let Some(dir) = want.as_mut() {
                    for &(key, slot) in overrides {
                        dir_index::encode_line(key, slot, dir);
                    }
                }
            }
            let (got, want) = (&now(files)[f], want);
            if *got != want {
                let first = got
                    .as_deref()
                    .unwrap_or(&[])
                    .iter()
                    .zip(want.as_deref().unwrap_or(&[]))
                    .position(|(a, b)| a != b);
                panic!(
                    "{step} {ext}: pydbm {:?} bytes, CPython {:?} bytes, first difference at {first:?}",
                    got.as_ref().map(Vec::len),
                    want.as_ref().map(Vec::len)
                );
            }
        }
    }

    /// Replays the corpus sequence (CPython 3.13.0, shared/corpus/dumb/py3.13) through the
    /// store over the in-memory model and compares every file after every step.
    #[test]
    fn corpus_sequence_matches_cpython_3_13() {
        let mut s = Store::open(mem("db"), OpenMode::Create).unwrap();
        assert_step(&mut s.files, "01-after-open-c");
        s.insert(b"a", b"1").unwrap();
        s.insert(b"str-key", "str-val \u{20ac}".as_bytes()).unwrap();
        s.insert(b"\xff\x00'\"\\\n", b"weird key").unwrap();
        s.insert("caf\u{e9}".as_bytes(), b"latin1-printable")
            .unwrap();
        s.insert(b"big", &[b'B'; 600]).unwrap();
        s.insert(b"empty", b"").unwrap();
        assert_step(&mut s.files, "02-after-sets-before-close");
        s.close_commit().unwrap();
        assert_step(&mut s.files, "03-after-close");
        let mut s = Store::open(s.into_files(), OpenMode::Write).unwrap();
        s.insert(b"a", b"22").unwrap();
        let a_inplace = (&b"a"[..], Slot { pos: 0, siz: 2 });
        assert_step_with_overrides(&mut s.files, "04-overwrite-inplace", &[a_inplace]);
        s.insert(b"big", &[b'C'; 100]).unwrap();
        s.insert(b"a", &[b'A'; 513]).unwrap();
        let big_inplace = (
            &b"big"[..],
            Slot {
                pos: 2048,
                siz: 100,
            },
        );
        let a_moved = (
            &b"a"[..],
            Slot {
                pos: 3072,
                siz: 513,
            },
        );
        assert_step_with_overrides(
            &mut s.files,
            "05-grow-before-sync",
            &[a_inplace, big_inplace, a_moved],
        );
        s.sync().unwrap();
        assert_step(&mut s.files, "06-after-sync");
        s.sync().unwrap();
        assert_step(&mut s.files, "07-after-second-sync");
        assert!(s.remove(b"empty").unwrap());
        assert_step(&mut s.files, "08-after-delete");
        s.close_commit().unwrap();
        assert_step(&mut s.files, "09-after-close");
        let mut s = Store::open(s.into_files(), OpenMode::Read).unwrap();
        assert_eq!(s.index().len(), 5);
        assert!(matches!(s.insert(b"x", b"y"), Err(Error::ReadOnly { .. })));
        assert!(matches!(s.remove(b"a"), Err(Error::ReadOnly { .. })));
        assert_eq!(s.get(b"big").unwrap().unwrap(), vec![b'C'; 100]);
        s.close_commit().unwrap();
        assert_step(&mut s.files, "10-after-readonly");
        let mut s = Store::open(s.into_files(), OpenMode::New).unwrap();
        assert_step(&mut s.files, "11-after-open-n");
        s.insert(b"z", b"new").unwrap();
        s.close_commit().unwrap();
        assert_step(&mut s.files, "12-after-n-close");
    }

    #[test]
    fn reorganize_equals_copying_into_a_new_database() {
        let mut s = Store::open(mem("r"), OpenMode::Create).unwrap();
        s.insert(b"a", &[1; 700]).unwrap();
        s.insert(b"b", b"").unwrap();
        s.insert(b"c", b"cc").unwrap();
        s.insert(b"a", &[2; 1500]).unwrap();
        s.insert(b"c", b"c").unwrap();
        assert!(s.remove(b"b").unwrap());
        s.insert(b"b", b"again").unwrap();
        s.reorganize().unwrap();
        let mut fresh = Store::open(mem("r"), OpenMode::New).unwrap();
        fresh.insert(b"a", &[2; 1500]).unwrap();
        fresh.insert(b"c", b"c").unwrap();
        fresh.insert(b"b", b"again").unwrap();
        fresh.close_commit().unwrap();
        assert_eq!(now(&mut s.files), now(&mut fresh.files));
        assert_eq!(s.get(b"a").unwrap(), Some(vec![2; 1500]));
        // Empty database: no .bak, as CPython leaves none.
        let mut e = Store::open(mem("e"), OpenMode::Create).unwrap();
        e.insert(b"x", b"y").unwrap();
        e.sync().unwrap();
        assert!(e.remove(b"x").unwrap());
        e.reorganize().unwrap();
        assert_eq!(now(&mut e.files), [Some(vec![]), Some(vec![]), None]);
    }

    #[test]
    fn missing_files_follow_the_flag() {
        let e = Store::open(mem("m"), OpenMode::Read).unwrap_err();
        assert!(e.is_not_found() && e.to_string().contains("m.dat"), "{e}");
        let e = Store::open(mem("m"), OpenMode::Write).unwrap_err();
        assert!(e.is_not_found());
        let disk = MemVfs::new();
        disk.write_file(Path::new("/t/m.dat"), b"");
        let files = pager_on(&disk, "m", Durability::Process);
        let e = Store::open(files, OpenMode::Write).unwrap_err();
        assert!(e.is_not_found() && e.to_string().contains("m.dir"), "{e}");
        let files = pager_on(&disk, "m", Durability::Process);
        let mut s = Store::open(files, OpenMode::Create).unwrap();
        assert_eq!(now(&mut s.files)[DIR], Some(Vec::new()));
    }

    #[test]
    fn deleting_a_missing_key_still_marks_modified() {
        let mut s = Store::open(mem("d"), OpenMode::Create).unwrap();
        s.insert(b"k", b"v").unwrap();
        s.sync().unwrap();
        let dir = now(&mut s.files)[DIR].clone();
        assert!(!s.remove(b"nope").unwrap());
        s.sync().unwrap();
        // The second commit shifted .dir into .bak although nothing changed.
        assert_eq!(now(&mut s.files)[BAK], dir);
    }

    /// Appends held in memory across operations (deferred writes) leave the same files and
    /// give the same reads as writing every operation through: a random workload that
    /// crosses the flush threshold several times, with in-place rewrites that straddle the
    /// written end of `.dat` and reads of values partly on file, partly in memory.
    #[test]
    fn deferred_appends_equal_written_through() {
        let mut rng = pydbm_engine::prng::SplitMix64::new(7);
        let mut direct = Store::open(mem("w"), OpenMode::New).unwrap();
        let mut deferred = Store::open(mem_deferred("w"), OpenMode::New).unwrap();
        let mut flushed_mid_run = false;
        for step in 0..600u64 {
            let key = [b'k', rng.below(12) as u8];
            let r = rng.below(100);
            let len = match rng.below(10) {
                0 => 0,
                1..=6 => rng.below(600) as usize,
                _ => rng.below(200_000) as usize,
            };
            let value: Vec<u8> = (0..len).map(|i| (i as u64 * 7 + step) as u8).collect();
            let written_before = deferred.dat_written;
            if r < 60 {
                direct.insert(&key, &value).unwrap();
                deferred.insert(&key, &value).unwrap();
            } else if r < 70 {
                assert_eq!(direct.remove(&key).unwrap(), deferred.remove(&key).unwrap());
            } else if r < 98 {
                assert_eq!(direct.get(&key).unwrap(), deferred.get(&key).unwrap());
            } else if r < 99 {
                direct.reorganize().unwrap();
                deferred.reorganize().unwrap();
                assert_eq!(
                    now(&mut direct.files),
                    now(&mut deferred.files),
                    "step {step}"
                );
                continue;
            } else {
                direct.sync().unwrap();
                deferred.sync().unwrap();
                assert_eq!(
                    now(&mut direct.files),
                    now(&mut deferred.files),
                    "step {step}"
                );
                continue;
            }
            // A flush by the threshold, not by sync.
            flushed_mid_run |= deferred.dat_written > written_before;
            assert_eq!(direct.dat_len(), deferred.dat_len());
        }
        assert!(
            flushed_mid_run,
            "the workload never crossed the flush threshold"
        );
        direct.close_commit().unwrap();
        deferred.close_commit().unwrap();
        assert_eq!(now(&mut direct.files), now(&mut deferred.files));
    }

    /// Gets in file order go through the read-ahead window; in-place rewrites of values the
    /// window holds, gets out of order and reorganize must never give stale bytes.
    #[test]
    fn read_ahead_never_serves_stale_bytes() {
        let mut rng = pydbm_engine::prng::SplitMix64::new(5);
        let mut s = Store::open(mem_deferred("ra"), OpenMode::New).unwrap();
        let mut model: Vec<Vec<u8>> = Vec::new();
        let key = |i: usize| format!("key{i:06}").into_bytes();
        for i in 0..3000usize {
            let v: Vec<u8> = (0..rng.below(700) as usize)
                .map(|j| (i + j) as u8)
                .collect();
            s.insert(&key(i), &v).unwrap();
            model.push(v);
        }
        s.sync().unwrap();
        let mut window_used = false;
        for round in 0..3u64 {
            for i in 0..model.len() {
                if rng.below(10) == 0 {
                    // Rewrite a value a little ahead (likely inside the window), in place
                    // when it fits, else appended.
                    let j = (i + rng.below(40) as usize).min(model.len() - 1);
                    let v: Vec<u8> = (0..rng.below(700) as usize)
                        .map(|x| (x as u64 + round * 3 + 1) as u8)
                        .collect();
                    s.insert(&key(j), &v).unwrap();
                    model[j] = v;
                }
                let k = if rng.below(50) == 0 {
                    rng.below(model.len() as u64) as usize
                } else {
                    i
                };
                assert_eq!(
                    s.get(&key(k)).unwrap().as_ref(),
                    Some(&model[k]),
                    "{round} {k}"
                );
                window_used |= !s.ahead.buf.is_empty();
            }
            if round == 1 {
                s.reorganize().unwrap();
            } else {
                s.sync().unwrap();
            }
        }
        assert!(
            window_used,
            "the gets in order never filled the read-ahead window"
        );
    }

    #[test]
    fn corrupt_dir_names_the_line_and_slots_past_dat_are_errors() {
        let disk = MemVfs::new();
        disk.write_file(Path::new("/t/c.dat"), &[1; 10]);
        disk.write_file(Path::new("/t/c.dir"), b"'a', (0, 5)\n'b', (0, 50)\nnope\n");
        match Store::open(pager_on(&disk, "c", Durability::Process), OpenMode::Read) {
            Err(Error::Corrupt {
                offset: 25,
                expected,
                ..
            }) => assert!(expected.contains("line 3")),
            other => panic!("{other:?}"),
        }
        disk.write_file(
            Path::new("/t/c.dir"),
            b"'a', (0, 5)\n'b', (0, 50)\n'c', (99999999999, 1)\n",
        );
        let mut s =
            Store::open(pager_on(&disk, "c", Durability::Process), OpenMode::Write).unwrap();
        assert_eq!(s.get(b"a").unwrap(), Some(vec![1; 5]));
        assert!(matches!(s.get(b"b"), Err(Error::Corrupt { .. })));
        // No write at an offset taken from a damaged slot; nothing changes.
        let before = now(&mut s.files);
        assert!(matches!(
            s.insert(b"c", b"x"),
            Err(Error::Corrupt {
                offset: 99999999999,
                ..
            })
        ));
        assert_eq!(now(&mut s.files), before);
        s.insert(b"a", b"new").unwrap();
    }
}

#[cfg(test)]
mod fixture_tests {
    //! Replays the committed differential scripts (tests/fixtures/dumb, made by CPython's
    //! dbm.dumb with make.py) through the store over the in-memory model: isolates the
    //! algorithm from the engine's pager.
    use super::mem_files::{mem, mem_deferred, now};
    use super::*;

    fn unhex(h: &str) -> Vec<u8> {
        if h == "-" {
            return Vec::new();
        }
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).expect("fixture hex is valid"))
            .collect()
    }

    fn tohex(b: &[u8]) -> String {
        if b.is_empty() {
            return "-".into();
        }
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// make.py's `value(n, seed)`.
    pub(crate) fn value(n: usize, seed: usize) -> Vec<u8> {
        (0..n)
            .map(|i| ((seed + i * 131 + (i >> 9)) % 251) as u8)
            .collect()
    }

    #[test]
    fn fixture_scripts_match_cpython_over_the_model() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dumb");
        let mut names: Vec<_> = std::fs::read_dir(dir.join("scripts"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert!(names.len() >= 400);
        for (i, name) in names.iter().enumerate() {
            let script = std::fs::read_to_string(dir.join("scripts").join(name)).unwrap();
            // Every other script with appends held in memory across operations.
            let mut files = Some(if i % 2 == 1 {
                mem_deferred("db")
            } else {
                mem("db")
            });
            let mut store: Option<Store> = None;
            let mut out = String::new();
            for line in script.lines() {
                let op: Vec<&str> = line.split_whitespace().collect();
                match op[0] {
                    "open" => {
                        let mode = OpenOptionsFlag(op[1]).mode();
                        let pager = files.take().expect("the database is closed here");
                        store = Some(Store::open(pager, mode).unwrap());
                    }
                    "close" => {
                        let mut s = store.take().unwrap();
                        s.close_commit().unwrap();
                        files = Some(s.into_files());
                    }
                    _ => {
                        let s = store.as_mut().unwrap();
                        match op[0] {
                            "set" => s
                                .insert(
                                    &unhex(op[1]),
                                    &value(op[2].parse().unwrap(), op[3].parse().unwrap()),
                                )
                                .unwrap(),
                            "del" => {
                                if !s.remove(&unhex(op[1])).unwrap() {
                                    out.push_str("KeyError\n");
                                }
                            }
                            "get" => match s.get(&unhex(op[1])).unwrap() {
                                Some(v) => out.push_str(&format!("{}\n", tohex(&v))),
                                None => out.push_str("None\n"),
                            },
                            "keys" => {
                                let k: Vec<String> =
                                    s.index().iter().map(|(k, _)| tohex(k)).collect();
                                out.push_str(&format!("{}\n", k.join(" ")));
                            }
                            "len" => out.push_str(&format!("{}\n", s.index().len())),
                            "sync" => s.sync().unwrap(),
                            other => panic!("unknown op {other}"),
                        }
                    }
                }
            }
            let exp = dir.join("expected").join(name.trim_end_matches(".txt"));
            let got = now(files.as_mut().expect("every script ends closed"));
            for (f, file) in [(DAT, "db.dat"), (DIR, "db.dir"), (BAK, "db.bak")] {
                let want = std::fs::read(exp.join(file)).ok();
                assert!(got[f] == want, "{name} {file} differs from CPython");
            }
            assert_eq!(
                out,
                std::fs::read_to_string(exp.join("out.txt")).unwrap(),
                "{name} reads"
            );
        }
    }

    struct OpenOptionsFlag<'a>(&'a str);
    impl OpenOptionsFlag<'_> {
        fn mode(&self) -> OpenMode {
            pydbm_engine::OpenOptions::from_flag(self.0).unwrap().mode
        }
    }
}
