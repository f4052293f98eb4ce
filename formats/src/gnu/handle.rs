//! An open gdbm database over a [`Store`]: lookup, store, delete, iteration, count,
//! sync and reorganize with libgdbm 1.23's exact in-memory state (bucket cache, buffer
//! pool, header/directory change flags), so the bytes written are libgdbm's bytes.
//!
//! Allocation lives in `alloc.rs`, bucket splitting in `split.rs`.

use pydbm_engine::{Error, Result};

use super::avail::{self, AvailElem};
use super::bucket::Bucket;
use super::cache::BucketCache;
use super::directory;
use super::hash::{dir_index, hash_for};
use super::header::Header;
use super::layout::{GdbmCode, Layout, Malformed};
use pydbm_engine::{Pager, Store};

/// How to open a gdbm file image (the parts of `gdbm_open`'s arguments that matter to
/// the bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileOptions {
    /// Open for writing (`GDBM_WRITER` and up).
    pub writable: bool,
    /// Truncate and initialise (`GDBM_NEWDB`).
    pub truncate: bool,
    /// Requested block size for a new file (below 512: use `st_blksize`, spec §3.1).
    pub block_size: i32,
    /// The new file's `st_blksize`.
    pub st_blksize: u64,
    /// Create new files in the extended (numsync) format (`GDBM_NUMSYNC`).
    pub numsync: bool,
    /// `GDBM_SYNC` (Python `'s'`): fsync when the header or directory is written.
    pub sync_writes: bool,
    /// `GDBM_SETCENTFREE`: every free goes to the header table.
    pub central_free: bool,
    /// `GDBM_SETCOALESCEBLKS`: merge adjacent free pieces.
    pub coalesce: bool,
}

impl Default for FileOptions {
    fn default() -> Self {
        FileOptions {
            writable: false,
            truncate: false,
            block_size: 0,
            st_blksize: 4096,
            numsync: false,
            sync_writes: false,
            central_free: false,
            coalesce: false,
        }
    }
}

/// How many upcoming keys iteration prefetches (`GdbmFile::prefetch_next_key`): enough
/// for a key's memory latency to overlap the caller's work on the keys before it.
const PREFETCH_KEYS: usize = 3;

/// Why an operation could not run: the file needs recovery (spec §18 rule 3).
fn need_recovery(h: &Header) -> Malformed {
    Malformed::new(
        GdbmCode::NeedRecovery,
        h.next_block.max(0) as u64,
        "file size equal to header next_block (the file was left inconsistent; run recover)",
    )
}

/// An open gdbm database. All methods keep libgdbm's in-memory state in step, including
/// for reads (a read can change which buffer a later split recycles, spec §12.6).
pub struct GdbmFile<S: Store> {
    pub(super) st: S,
    pub(super) header: Header,
    pub(super) dir: Vec<i64>,
    pub(super) cache: BucketCache,
    /// Address of the current bucket (0 = none yet).
    pub(super) current: i64,
    pub(super) header_changed: bool,
    pub(super) dir_changed: bool,
    pub(super) need_recovery: bool,
    pub(super) writable: bool,
    pub(super) central_free: bool,
    pub(super) coalesce: bool,
    pub(super) sync_writes: bool,
    scratch: Vec<u8>,
    /// Whether `dir` is known to reference every bucket from one contiguous run (checked
    /// lazily before the first iteration; splits keep it so).
    dir_runs_checked: bool,
    /// The key `scan_from` last returned, with its directory index, slot and bucket: lets
    /// `nextkey` skip the lookup libgdbm does, when it would change nothing (the bucket is
    /// still current, so already most recently used).
    /// The key itself lives in `last_key` (a buffer reused across calls: no allocation
    /// per `nextkey`).
    last_iter: Option<(usize, usize, i64)>,
    last_key: Vec<u8>,
    /// Reused buffer for record reads (`read_record_buf`).
    record_buf: Vec<u8>,
    /// Whether `header.layout.unsigned_char` is settled: by the file's keys, or because
    /// this handle created the file. Little-endian files open unsettled (char_sign.rs).
    char_settled: bool,
    /// Whether a [`pydbm_engine::Transaction`] is open: `end_update` then leaves the
    /// storage's commit (and the `'s'` syncs) to [`GdbmFile::commit_transaction`].
    in_txn: bool,
}

impl<S: Store> GdbmFile<S> {
    /// Opens (or, when writable and empty or `truncate`, initialises) a gdbm image.
    ///
    /// Errors: a read-only open of an empty file → `Corrupt` (gdbm "Empty database");
    /// bad magic, block size, header, directory → `Corrupt` with the offset (spec §18).
    /// A file whose `next_block` is below its size opens in the needs-recovery state.
    pub fn open(mut st: S, opts: FileOptions) -> Result<GdbmFile<S>> {
        if opts.writable && (opts.truncate || st.is_empty()) {
            if opts.truncate {
                st.set_len(0)?;
            }
            let layout = if opts.numsync {
                Layout::NATIVE_NUMSYNC
            } else {
                Layout::NATIVE
            };
            let bs = super::header::new_block_size(opts.block_size, opts.st_blksize);
            return GdbmFile::create(st, layout, bs, opts);
        }
        if st.is_empty() {
            return Err(
                Malformed::new(GdbmCode::EmptyDatabase, 0, "a non-empty gdbm file").at(st.path()),
            );
        }
        let len = st.len();
        let mut first = vec![0u8; len.min(128) as usize];
        st.read_at(0, &mut first)?;
        let (_, bs) = Header::peek(&first).map_err(|m| m.at(st.path()))?;
        if (bs as u64) > len {
            return Err(Malformed::new(
                GdbmCode::FileEof,
                0,
                format!("a file of at least one {bs}-byte header block (file is {len} bytes)"),
            )
            .at(st.path()));
        }
        let mut hb = vec![0u8; bs];
        st.read_at(0, &mut hb)?;
        let mut header = Header::parse(&hb).map_err(|m| m.at(st.path()))?;
        let needs = header.validate(len).map_err(|m| m.at(st.path()))?;
        if opts.writable && header.next_block > (len as i64).saturating_add(1 << 30) {
            // pydbm: refuse to grow a file by more than 1 GiB on the word of its header.
            return Err(Malformed::new(
                GdbmCode::BadHeader,
                32,
                format!(
                    "next_block within 1 GiB of the file size {len} (found {})",
                    header.next_block
                ),
            )
            .at(st.path()));
        }
        if opts.writable && !avail::is_sorted(&header.avail.table, header.avail.count as usize) {
            // gdbm spec §8: writers re-sort an out-of-order table (files of gdbm ≤ 1.15).
            let c = header.avail.count as usize;
            header.avail.table[..c].sort_by_key(|e| e.size);
        }
        let mut db = vec![0u8; header.dir_size as usize];
        st.read_at(header.dir as u64, &mut db)?;
        let dir = directory::parse(header.layout, &db);
        if header.layout.big_endian {
            // Big-endian writers differ in `char` signedness; their keys tell (spec §7).
            header.layout.unsigned_char =
                super::char_sign::detect(&mut st, &header, &dir)?.unwrap_or(true);
        }
        let elems = header.bucket_elems as usize;
        let header_big_endian = header.layout.big_endian;
        Ok(GdbmFile {
            st,
            header,
            dir,
            cache: BucketCache::new(elems),
            current: 0,
            header_changed: false,
            dir_changed: false,
            need_recovery: needs,
            writable: opts.writable,
            central_free: opts.central_free,
            coalesce: opts.coalesce,
            sync_writes: opts.sync_writes,
            scratch: Vec::new(),
            dir_runs_checked: false,
            last_iter: None,
            last_key: Vec::new(),
            record_buf: Vec::new(),
            char_settled: header_big_endian,
            in_txn: false,
        })
    }

    /// Initialises an empty database with `layout` and `block_size` (spec §2).
    pub fn create(
        mut st: S,
        layout: Layout,
        block_size: i32,
        opts: FileOptions,
    ) -> Result<GdbmFile<S>> {
        // A new file needs a bucket of at least one slot, a header avail table of at
        // least two entries and a power-of-two directory in one block (spec §3.1).
        let bs_usize = usize::try_from(block_size).unwrap_or(0);
        if layout.bucket_elems(bs_usize) < 1
            || layout.header_avail_capacity(bs_usize) < 2
            || !(bs_usize / layout.off_size()).is_power_of_two()
        {
            return Err(Error::BadArgument(format!(
                "block size {block_size} cannot hold a new gdbm file (spec §3.1: a power of two large enough for one bucket slot)"
            )));
        }
        let header = Header::new(layout, block_size);
        let bs = block_size as i64;
        let dir = vec![2 * bs; header.dir_size as usize / layout.off_size()];
        let mut bucket = Bucket::zeroed(header.bucket_elems as usize);
        bucket.reset(0);
        bucket.av_count = 1;
        bucket.avail[0] = AvailElem {
            size: block_size,
            adr: 3 * bs,
        };
        st.write_at(0, &header.encode())?;
        st.write_at(bs as u64, &directory::encode(layout, &dir))?;
        let mut bb = vec![0u8; block_size as usize];
        bucket.encode_into(layout, &mut bb);
        st.write_at(2 * bs as u64, &bb)?;
        st.set_len(header.next_block as u64)?;
        st.commit()?;
        st.sync()?;
        let elems = header.bucket_elems as usize;
        Ok(GdbmFile {
            st,
            header,
            dir,
            cache: BucketCache::new(elems),
            current: 0,
            header_changed: false,
            dir_changed: false,
            need_recovery: false,
            writable: true,
            central_free: opts.central_free,
            coalesce: opts.coalesce,
            sync_writes: opts.sync_writes,
            scratch: Vec::new(),
            dir_runs_checked: false,
            last_iter: None,
            last_key: Vec::new(),
            record_buf: Vec::new(),
            char_settled: true,
            in_txn: false,
        })
    }

    /// The decoded header (as of the last completed operation).
    pub fn header(&self) -> &Header {
        &self.header
    }
    /// The bucket directory.
    pub fn directory(&self) -> &[i64] {
        &self.dir
    }
    /// Whether the file is in the needs-recovery state (spec §18 rule 3).
    pub fn needs_recovery(&self) -> bool {
        self.need_recovery
    }
    /// Whether the handle may write.
    pub fn is_writable(&self) -> bool {
        self.writable
    }
    /// The underlying storage.
    pub fn storage(&self) -> &S {
        &self.st
    }
    /// The underlying storage, mutably (callers must not write through it).
    pub fn storage_mut(&mut self) -> &mut S {
        &mut self.st
    }
    /// Gives the storage back.
    pub fn into_storage(self) -> S {
        self.st
    }

    fn corrupt(&mut self, m: Malformed) -> Error {
        self.need_recovery = true;
        m.at(self.st.path())
    }

    /// Loads the bucket at directory index `idx` through the cache and makes it current.
    pub(super) fn get_bucket(&mut self, idx: usize) -> Result<i64> {
        self.get_bucket_probing(idx, usize::MAX)
    }

    /// [`Self::get_bucket`]; on a cache hit, slot `elem` (the probe walk's start; `usize::MAX`:
    /// none) is prefetched with the cache entry.
    fn get_bucket_probing(&mut self, idx: usize, elem: usize) -> Result<i64> {
        let l = self.header.layout;
        let adr = self.dir[idx];
        let dir_off = self.header.dir as u64 + (idx * l.off_size()) as u64;
        if adr < self.header.block_size as i64 {
            return Err(self.corrupt(Malformed::new(
                GdbmCode::BadDirEntry,
                dir_off,
                format!(
                    "a bucket address ≥ {} (found {adr})",
                    self.header.block_size
                ),
            )));
        }
        if self.cache.touch_dir(idx, adr, elem) {
            self.current = adr;
            return Ok(adr);
        }
        let bsz = self.header.bucket_size as usize;
        if (adr as u64).saturating_add(bsz as u64) > self.st.len() {
            return Err(self.corrupt(Malformed::new(
                GdbmCode::FileEof,
                dir_off,
                format!("a bucket of {bsz} bytes inside the file (at {adr})"),
            )));
        }
        // gdbm spec §12.7: a full cache grows or evicts its LRU bucket (written if changed).
        if let Some((eadr, eb, changed)) = self.cache.make_room(self.header.dir_bits as u32) {
            if changed {
                self.write_bucket(eadr, &eb)?;
            }
            self.cache.release_buffer(eb);
        }
        // gdbm spec §12.6: every cache miss takes a buffer from the pool.
        let mut b = self.cache.take_buffer();
        let mut raw = std::mem::take(&mut self.scratch);
        raw.resize(bsz, 0);
        let res = self.st.read_at(adr as u64, &mut raw);
        let parsed = res.and_then(|_| {
            b.parse_into(l, &raw, self.header.bucket_elems as usize, adr as u64)
                .and_then(|_| {
                    b.validate(
                        self.header.dir_bits,
                        self.header.bucket_size,
                        self.header.next_block,
                        adr as u64,
                    )
                })
                .map_err(|m| self.corrupt(m))
        });
        self.scratch = raw;
        if let Err(e) = parsed {
            self.cache.release_buffer(b);
            return Err(e);
        }
        if self.writable && !avail::is_sorted(&b.avail, b.av_count as usize) {
            let c = b.av_count as usize;
            b.avail[..c].sort_by_key(|e| e.size);
        }
        self.cache.insert(adr, b, false, None);
        self.current = adr;
        Ok(adr)
    }

    pub(super) fn write_bucket(&mut self, adr: i64, b: &Bucket) -> Result<()> {
        let mut raw = std::mem::take(&mut self.scratch);
        // encode_into writes every byte (bucket.rs test): no clearing needed.
        raw.resize(self.header.bucket_size as usize, 0);
        b.encode_into(self.header.layout, &mut raw);
        let r = self.st.write_at(adr as u64, &raw);
        self.scratch = raw;
        r
    }

    pub(super) fn cur(&self) -> &Bucket {
        self.cache
            .get(self.current)
            .expect("the current bucket is always cached")
    }

    pub(super) fn cur_mut(&mut self) -> &mut Bucket {
        self.cache
            .get_mut(self.current, true)
            .expect("the current bucket is always cached")
    }

    /// Checks that the record at `ptr` (`key_size + data_size` bytes) lies in the file, so
    /// no read or buffer is ever sized past a record that lies in the file.
    fn check_record(&mut self, ptr: i64, key_size: i32, data_size: i32) -> Result<()> {
        let end = (ptr as i128) + key_size as i128 + data_size as i128;
        if ptr < 0 || key_size < 0 || data_size < 0 || end > self.st.len() as i128 {
            return Err(self.corrupt(Malformed::new(
                GdbmCode::BadHashTable,
                self.current as u64,
                format!("a record inside the file ({key_size}+{data_size} bytes at {ptr})"),
            )));
        }
        Ok(())
    }

    /// Reads `len` bytes of the record at `ptr` (from file offset `from`) into
    /// `self.record_buf` (a buffer reused across reads: no allocation or zeroing per
    /// record), checking first that the whole record lies in the file.
    fn read_record_buf(
        &mut self,
        ptr: i64,
        key_size: i32,
        data_size: i32,
        from: u64,
        len: usize,
    ) -> Result<()> {
        self.check_record(ptr, key_size, data_size)?;
        let mut buf = std::mem::take(&mut self.record_buf);
        buf.resize(len, 0);
        let r = self.st.read_at(from, &mut buf);
        self.record_buf = buf;
        r
    }

    /// `_gdbm_findkey` (spec §10): loads the key's bucket, returns the hash and the slot.
    pub(super) fn findkey(&mut self, key: &[u8]) -> Result<(i32, Option<usize>)> {
        self.findkey_value(key, None).map(|(h, slot, _)| (h, slot))
    }

    /// `findkey`; with `value_out`, a found key's value is read in the same read as its
    /// key and appended to `value_out` (when the fast path found it: the third field says
    /// whether it did).
    fn findkey_value(
        &mut self,
        key: &[u8],
        mut value_out: Option<&mut Vec<u8>>,
    ) -> Result<(i32, Option<usize>, bool)> {
        let found = self.probe_key(key, value_out.as_deref_mut())?;
        if self.char_settled {
            return Ok(found);
        }
        if key.iter().any(|&b| b >= 0x80) {
            // A little-endian file of unsettled `char` signedness (char_sign.rs): a key
            // with a byte >= 0x80 found under the current hash proves it; one stored under
            // the other hash proves the other (looked up without the bucket cache, and
            // only then loaded as libgdbm on that machine would).
            if found.1.is_some() {
                self.char_settled = true;
            } else if super::char_sign::found_with_other_sign(
                &mut self.st,
                &self.header,
                &self.dir,
                key,
            )? {
                self.header.layout.unsigned_char = !self.header.layout.unsigned_char;
                self.char_settled = true;
                return self.probe_key(key, value_out);
            }
        }
        Ok(found)
    }

    /// The probe of `findkey_value` with the file's current hash.
    #[inline(always)]
    fn probe_key(
        &mut self,
        key: &[u8],
        mut value_out: Option<&mut Vec<u8>>,
    ) -> Result<(i32, Option<usize>, bool)> {
        let h = hash_for(key, self.header.layout.unsigned_char);
        let idx = dir_index(h, self.header.dir_bits as u32);
        let n = self.header.bucket_elems as usize;
        let home = if n == 0 { usize::MAX } else { (h as usize) % n };
        self.get_bucket_probing(idx, home)?;
        if n == 0 {
            return Ok((h, None, false));
        }
        let pre = key.len().min(4);
        // Walk the probe chain (spec §10) and compare each look-alike slot's key as soon as
        // it is met, stopping at the first match as libgdbm does: a successful lookup
        // touches ~2-3 slots at usual fill, not the whole chain up to the next empty slot.
        let mut i = home;
        let mut left = n; // slots not yet probed (a full bucket has no empty slot)
        loop {
            let next = {
                let b = self
                    .cache
                    .get(self.current)
                    .expect("the current bucket is always cached");
                let mut next = None;
                while left > 0 {
                    let e = &b.elems[i];
                    if e.hash == -1 {
                        break;
                    }
                    let at = i;
                    // (i + 1) % n without a division per probe.
                    i += 1;
                    if i == n {
                        i = 0;
                    }
                    left -= 1;
                    if e.hash == h
                        && e.key_size as usize == key.len()
                        && e.key_start[..pre] == key[..pre]
                    {
                        next = Some((at, *e));
                        break;
                    }
                }
                next
            };
            let Some((at, e)) = next else {
                return Ok((h, None, false));
            };
            // The record's key (and, for a get, its value) is compared and copied where it
            // lies when the storage can show it in place (one page, cached or mapped): no
            // copy into `record_buf` first. Such a record lies in the file, so
            // `check_record` (which names a bad pointer or size) is only needed on the
            // copying path.
            let klen = key.len();
            let len = klen
                + value_out
                    .as_ref()
                    .map_or(0, |_| e.data_size.max(0) as usize);
            if e.ptr >= 0 && e.data_size >= 0 {
                if let Some(rec) = self.st.bytes_at(e.ptr as u64, len)? {
                    match record_matches(rec, key, value_out.as_deref_mut()) {
                        Some(filled) => return Ok((h, Some(at), filled)),
                        None => continue,
                    }
                }
            }
            // One read for key and (for a get) value; the key is compared before the
            // value is copied out.
            self.read_record_buf(e.ptr, e.key_size, e.data_size, e.ptr as u64, len)?;
            if let Some(filled) = record_matches(&self.record_buf, key, value_out.as_deref_mut()) {
                return Ok((h, Some(at), filled));
            }
        }
    }

    /// `gdbm_fetch`: the value under `key`. A file needing recovery finds nothing.
    pub fn fetch(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut value = Vec::new();
        Ok(self.fetch_into(key, &mut value)?.then_some(value))
    }

    /// `gdbm_fetch` into a caller's buffer: clears `out`, and if `key` is stored puts its
    /// value there and returns `true`. Reusing one buffer across calls makes a `get` free
    /// of allocation (the value is copied once, from the record into `out`). A file needing
    /// recovery finds nothing.
    pub fn fetch_into(&mut self, key: &[u8], out: &mut Vec<u8>) -> Result<bool> {
        out.clear();
        if self.need_recovery {
            return Ok(false);
        }
        let (_, slot, filled) = self.findkey_value(key, Some(&mut *out))?;
        if filled {
            return Ok(true);
        }
        match slot {
            None => Ok(false),
            Some(i) => {
                let e = self.cur().elems[i];
                let from = (e.ptr as u64).saturating_add(e.key_size as u64);
                self.read_record_buf(e.ptr, e.key_size, e.data_size, from, e.data_size as usize)?;
                out.extend_from_slice(&self.record_buf);
                Ok(true)
            }
        }
    }

    /// `gdbm_exists`.
    pub fn exists(&mut self, key: &[u8]) -> Result<bool> {
        if self.need_recovery {
            return Ok(false);
        }
        Ok(self.findkey(key)?.1.is_some())
    }

    fn check_writable(&self) -> Result<()> {
        if !self.writable {
            return Err(Error::ReadOnly {
                path: self.st.path().to_path_buf(),
            });
        }
        if self.need_recovery {
            return Err(need_recovery(&self.header).at(self.st.path()));
        }
        Ok(())
    }

    /// Runs one modifying operation; on failure rolls the storage back and reloads the
    /// in-memory state from the last committed file.
    fn update<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        match f(self) {
            Ok(v) => Ok(v),
            Err(e) => {
                let recovery = self.need_recovery;
                if self.st.rollback().is_ok() {
                    let _ = self.reload();
                }
                self.need_recovery |= recovery;
                Err(e)
            }
        }
    }

    /// Re-reads header and directory and empties the cache (after a rollback).
    fn reload(&mut self) -> Result<()> {
        let bs = self.header.block_size as usize;
        let mut hb = vec![0u8; bs];
        self.st.read_at(0, &mut hb)?;
        let mut h = Header::parse(&hb).map_err(|m| m.at(self.st.path()))?;
        // Not in the header: the same file's writer, detected at open.
        h.layout.unsigned_char = self.header.layout.unsigned_char;
        let nr = h
            .validate(self.st.len())
            .map_err(|m| m.at(self.st.path()))?;
        let mut db = vec![0u8; h.dir_size as usize];
        self.st.read_at(h.dir as u64, &mut db)?;
        self.dir = directory::parse(h.layout, &db);
        self.dir_runs_checked = false;
        self.header = h;
        self.cache.clear();
        self.current = 0;
        self.last_iter = None;
        self.header_changed = false;
        self.dir_changed = false;
        self.need_recovery = nr;
        Ok(())
    }

    /// `gdbm_store` (spec §12.1). `replace = false` is `GDBM_INSERT`: returns `Ok(false)`
    /// and writes nothing when the key exists.
    pub fn store(&mut self, key: &[u8], value: &[u8], replace: bool) -> Result<bool> {
        self.check_writable()?;
        if key.len() > i32::MAX as usize
            || value.len() > i32::MAX as usize
            || key.len() + value.len() > i32::MAX as usize
        {
            return Err(Error::BadArgument(
                "gdbm keys and values are limited to 2 GiB together".into(),
            ));
        }
        self.update(|s| s.store_inner(key, value, replace))
    }

    fn store_inner(&mut self, key: &[u8], value: &[u8], replace: bool) -> Result<bool> {
        let (mut h, mut found) = self.findkey(key)?;
        if found.is_none() && !self.char_settled && key.iter().any(|&b| b >= 0x80) {
            // Before a key whose hash depends on it goes in, settle the writer's `char`
            // signedness from the file's keys (none telling: x86's signed `char`).
            let unsigned =
                super::char_sign::detect(&mut self.st, &self.header, &self.dir)?.unwrap_or(false);
            self.char_settled = true;
            if unsigned != self.header.layout.unsigned_char {
                self.header.layout.unsigned_char = unsigned;
                (h, found) = self.findkey(key)?;
            }
        }
        let new_size = (key.len() + value.len()) as i32;
        let n = self.header.bucket_elems as usize;
        let (slot, adr) = match found {
            Some(i) => {
                if !replace {
                    return Ok(false);
                }
                let e = self.cur().elems[i];
                if e.key_size.wrapping_add(e.data_size) == new_size {
                    (i, e.ptr)
                } else {
                    self.free(e.ptr, e.key_size.wrapping_add(e.data_size))?;
                    (i, self.alloc(new_size)?)
                }
            }
            None => {
                let adr = self.alloc(new_size)?;
                if self.cur().count as usize >= n {
                    self.split(h)?;
                }
                let b = self.cur_mut();
                let mut i = (h as usize) % n;
                let mut probes = 0;
                while b.elems[i].hash != -1 {
                    i = (i + 1) % n;
                    probes += 1;
                    if probes > n {
                        return Err(Malformed::new(
                            GdbmCode::BadBucket,
                            0,
                            "a free slot in a bucket whose count is below capacity",
                        )
                        .at(self.st.path()));
                    }
                }
                b.count += 1;
                let e = &mut b.elems[i];
                e.hash = h;
                let pre = key.len().min(4);
                e.key_start[..pre].copy_from_slice(&key[..pre]);
                (i, adr)
            }
        };
        {
            let e = &mut self.cur_mut().elems[slot];
            e.ptr = adr;
            e.key_size = key.len() as i32;
            e.data_size = value.len() as i32;
        }
        if !key.is_empty() {
            self.st.write_at(adr as u64, key)?;
        }
        if !value.is_empty() {
            self.st.write_at(adr as u64 + key.len() as u64, value)?;
        }
        self.end_update()?;
        Ok(true)
    }

    /// `gdbm_delete` (spec §12.2). Returns whether the key was there.
    pub fn delete(&mut self, key: &[u8]) -> Result<bool> {
        self.check_writable()?;
        self.update(|s| s.delete_inner(key))
    }

    fn delete_inner(&mut self, key: &[u8]) -> Result<bool> {
        let (_, found) = self.findkey(key)?;
        let Some(slot) = found else {
            return Ok(false);
        };
        let n = self.header.bucket_elems as usize;
        let b = self.cur_mut();
        if b.count <= 0 {
            let adr = self.current;
            return Err(self.corrupt(Malformed::new(
                GdbmCode::BadBucket,
                adr as u64,
                "a positive count in a bucket with a live slot",
            )));
        }
        let b = self.cur_mut();
        let saved = b.elems[slot];
        b.elems[slot].hash = -1;
        b.count -= 1;
        // gdbm spec §12.2 step 3: repair the probe chain.
        let mut last = slot;
        let mut j = (slot + 1) % n;
        while j != last && b.elems[j].hash != -1 {
            let home = (b.elems[j].hash as usize) % n;
            if (last < j && (home <= last || home > j)) || (last > j && home <= last && home > j) {
                b.elems[last] = b.elems[j];
                b.elems[j].hash = -1;
                last = j;
            }
            j = (j + 1) % n;
        }
        self.free(saved.ptr, saved.key_size.wrapping_add(saved.data_size))?;
        self.end_update()?;
        Ok(true)
    }

    /// end_update (spec §12.5): writes changed buckets, the directory, the header, extends
    /// the file to `next_block`, and commits the transaction.
    pub(super) fn end_update(&mut self) -> Result<()> {
        self.last_iter = None;
        for adr in self.cache.take_changed() {
            let b = self
                .cache
                .get(adr)
                .expect("take_changed returns cached addresses");
            // encode_into writes every byte (bucket.rs test): no clearing needed.
            self.scratch.resize(self.header.bucket_size as usize, 0);
            b.encode_into(self.header.layout, &mut self.scratch);
            self.st.write_at(adr as u64, &self.scratch)?;
        }
        if self.dir_changed {
            let raw = directory::encode(self.header.layout, &self.dir);
            self.st.write_at(self.header.dir as u64, &raw)?;
            self.dir_changed = false;
            if self.sync_writes && !self.header_changed && !self.in_txn {
                self.st.sync()?;
            }
        }
        if self.header_changed {
            let raw = self.header.encode();
            self.st.write_at(0, &raw)?;
            self.header_changed = false;
            if self.sync_writes && !self.in_txn {
                self.st.sync()?;
            }
            if self.st.len() < self.header.next_block as u64 {
                self.st.set_len(self.header.next_block as u64)?;
            }
        }
        if self.in_txn {
            // One commit for the whole transaction (commit_transaction).
            return Ok(());
        }
        self.st.commit()
    }

    /// Starts a transaction: until [`GdbmFile::commit_transaction`] or
    /// [`GdbmFile::rollback_transaction`], each store and delete writes its buckets,
    /// directory and header to the storage as usual but does not commit, so the storage's
    /// journal makes all of them one atomic step.
    pub fn begin_transaction(&mut self) -> Result<()> {
        self.st.commit()?;
        self.in_txn = true;
        Ok(())
    }

    /// Commits every update since [`GdbmFile::begin_transaction`] in one storage commit
    /// (and, for `'s'`, one sync).
    pub fn commit_transaction(&mut self) -> Result<()> {
        self.in_txn = false;
        self.st.commit()?;
        if self.sync_writes && self.writable {
            self.st.sync()?;
        }
        Ok(())
    }

    /// Undoes every update since [`GdbmFile::begin_transaction`] through the storage's
    /// rollback and reloads header, directory and bucket cache from the file.
    pub fn rollback_transaction(&mut self) -> Result<()> {
        self.in_txn = false;
        let recovery = self.need_recovery;
        self.st.rollback()?;
        self.reload()?;
        self.need_recovery |= recovery;
        Ok(())
    }

    /// `gdbm_sync` (Python `db.sync()`): bumps numsync in the extended format, writes
    /// anything pending and makes the file durable.
    pub fn sync(&mut self) -> Result<()> {
        if self.writable && !self.need_recovery {
            if self.header.layout.numsync {
                self.header.numsync = self.header.numsync.wrapping_add(1);
                self.header_changed = true;
            }
            self.update(|s| s.end_update())?;
        }
        self.st.sync()
    }

    /// Visits every distinct bucket in directory order (loading each through the cache)
    /// and calls `f` with the current bucket.
    fn each_bucket(&mut self, mut f: impl FnMut(&mut Self) -> Result<()>) -> Result<()> {
        self.check_dir_runs()?;
        let mut idx = 0;
        while idx < self.dir.len() {
            let adr = self.get_bucket(idx)?;
            f(self)?;
            while idx < self.dir.len() && self.dir[idx] == adr {
                idx += 1;
            }
        }
        Ok(())
    }

    /// `gdbm_count` (Python `len()`): loads every distinct bucket. Fails when the file
    /// needs recovery.
    pub fn count(&mut self) -> Result<usize> {
        if self.need_recovery {
            return Err(need_recovery(&self.header).at(self.st.path()));
        }
        let mut total = 0usize;
        self.each_bucket(|s| {
            total += s.cur().count.max(0) as usize;
            Ok(())
        })?;
        Ok(total)
    }

    /// Reads the key of slot `i` of the current bucket (at `idx_adr`) into
    /// `self.record_buf` and verifies it belongs there.
    fn slot_key(&mut self, i: usize, idx_adr: i64) -> Result<()> {
        let e = self.cur().elems[i];
        self.read_record_buf(
            e.ptr,
            e.key_size,
            e.data_size,
            e.ptr as u64,
            e.key_size.max(0) as usize,
        )?;
        if !self.char_settled {
            // The first key that tells the writer's `char` signedness settles it.
            if let Some(unsigned) = super::char_sign::evidence(&self.record_buf, e.hash) {
                self.header.layout.unsigned_char = unsigned;
                self.char_settled = true;
            }
        }
        // gdbm spec §16: each returned key's hash and bucket are verified.
        let h = hash_for(&self.record_buf, self.header.layout.unsigned_char);
        let idx = dir_index(h, self.header.dir_bits as u32);
        if h != e.hash || self.dir.get(idx) != Some(&idx_adr) {
            return Err(self.corrupt(Malformed::new(
                GdbmCode::BadHashEntry,
                idx_adr as u64,
                format!("slot {i}'s key to hash to {:#x} in this bucket", e.hash),
            )));
        }
        Ok(())
    }

    /// Every key in iteration order (Python `keys()`, spec §16). Empty when the file needs
    /// recovery.
    pub fn keys(&mut self) -> Result<Vec<Vec<u8>>> {
        if self.need_recovery {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let n = self.header.bucket_elems as usize;
        self.each_bucket(|s| {
            let adr = s.current;
            let live: Vec<usize> = {
                let b = s.cur();
                (0..n).filter(|&i| b.elems[i].hash != -1).collect()
            };
            for i in live {
                s.slot_key(i, adr)?;
                out.push(s.record_buf.clone());
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Iteration visits each bucket once by skipping its run of directory entries, which
    /// is only right when every bucket's entries are contiguous (always so in a file
    /// libgdbm or pydbm wrote). A directory that references one bucket from two runs
    /// would list its keys twice: report it as corrupt (like check.rs does).
    fn check_dir_runs(&mut self) -> Result<()> {
        if self.dir_runs_checked {
            return Ok(());
        }
        let mut seen = std::collections::HashSet::new();
        let mut prev = None;
        for (i, &adr) in self.dir.iter().enumerate() {
            if prev != Some(adr) && !seen.insert(adr) {
                let off = self.header.dir as u64 + (i * self.header.layout.off_size()) as u64;
                return Err(self.corrupt(Malformed::new(
                    GdbmCode::BadDirEntry,
                    off,
                    format!("each bucket referenced by one run of entries ({adr} appears again)"),
                )));
            }
            prev = Some(adr);
        }
        self.dir_runs_checked = true;
        Ok(())
    }

    /// The first key at or after slot `slot` of the bucket at directory index `idx`, in
    /// iteration order. With `at_current`, the bucket at `idx` is already the current (most
    /// recently used) bucket, so loading it again would change nothing and is skipped.
    fn scan_from(
        &mut self,
        mut idx: usize,
        mut slot: usize,
        mut at_current: bool,
    ) -> Result<Option<Vec<u8>>> {
        self.check_dir_runs()?;
        let n = self.header.bucket_elems as usize;
        while idx < self.dir.len() {
            let adr = if std::mem::take(&mut at_current) {
                debug_assert_eq!(self.dir[idx], self.current);
                self.current
            } else {
                self.get_bucket(idx)?
            };
            let found = {
                let b = self.cur();
                (slot.min(n)..n).find(|&s| b.elems[s].hash != -1)
            };
            if let Some(s) = found {
                self.slot_key(s, adr)?;
                self.prefetch_next_key(s + 1);
                self.last_key.clear();
                self.last_key.extend_from_slice(&self.record_buf);
                self.last_iter = Some((idx, s, adr));
                return Ok(Some(self.record_buf.clone()));
            }
            while idx < self.dir.len() && self.dir[idx] == adr {
                idx += 1;
            }
            slot = 0;
        }
        Ok(None)
    }

    /// Iteration reads one key per call from a record anywhere in the file: ask the storage
    /// to start loading the keys of the current bucket's next [`PREFETCH_KEYS`] live slots
    /// at or after `slot`, so the coming `nextkey` calls do not wait for memory. A hint
    /// only: nothing is read or checked here (the read itself checks the record's bounds).
    fn prefetch_next_key(&self, slot: usize) {
        let b = self.cur();
        let Some(rest) = b.elems.get(slot..) else {
            return;
        };
        for e in rest.iter().filter(|e| e.hash != -1).take(PREFETCH_KEYS) {
            if e.ptr >= 0 && e.key_size > 0 {
                self.st.prefetch(e.ptr as u64, e.key_size as usize);
            }
        }
    }

    /// `gdbm_firstkey`.
    pub fn firstkey(&mut self) -> Result<Option<Vec<u8>>> {
        if self.need_recovery {
            return Ok(None);
        }
        self.scan_from(0, 0, false)
    }

    /// `gdbm_nextkey`: the key after `key` (which must exist) in iteration order.
    pub fn nextkey(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if self.need_recovery {
            return Ok(None);
        }
        if let Some((idx, slot, adr)) = self.last_iter.take() {
            // The bucket is still current, hence most recently used: findkey would only
            // find the same slot again.
            if self.last_key == key && self.current == adr && self.cache.contains(adr) {
                return self.scan_from(idx, slot + 1, true);
            }
        }
        let (h, slot) = self.findkey(key)?;
        let Some(slot) = slot else { return Ok(None) };
        let idx = dir_index(h, self.header.dir_bits as u32);
        self.scan_from(idx, slot + 1, true)
    }

    /// `gdbm_reorganize` (spec §16): rebuilds the file compactly (all records inserted in
    /// iteration order into a fresh file of the same block size and format, synced once)
    /// and replaces the file's contents with it in one transaction. The handle continues
    /// with the new file's cache and buffer pool, as libgdbm's does.
    pub fn reorganize(&mut self) -> Result<()> {
        self.check_writable()?;
        let keys = self.keys()?;
        let path = self.st.path().to_path_buf();
        let mut fresh = GdbmFile::create(
            Pager::new_image(&path)?,
            self.header.layout,
            self.header.block_size,
            FileOptions {
                writable: true,
                central_free: self.central_free,
                coalesce: self.coalesce,
                ..FileOptions::default()
            },
        )?;
        for k in keys {
            let v = self.fetch(&k)?.ok_or_else(|| Error::NotFound {
                what: format!("key {k:02x?} listed by iteration"),
            })?;
            fresh.store(&k, &v, false)?;
        }
        fresh.sync()?;
        let image = fresh.st.image()?;
        self.update(|s| {
            s.st.write_at(0, &image)?;
            s.st.set_len(image.len() as u64)?;
            s.st.commit()
        })?;
        self.header = fresh.header;
        self.dir = fresh.dir;
        self.dir_runs_checked = false;
        self.cache = fresh.cache;
        self.current = fresh.current;
        self.last_iter = None;
        self.header_changed = false;
        self.dir_changed = false;
        Ok(())
    }

    /// `gdbm_convert` (spec §4): switches between the standard and the extended (numsync)
    /// header. The avail table moves (64-bit: offset 40 ⇄ 72) and its capacity changes by
    /// two; entries that no longer fit are freed from the end (largest first).
    pub fn convert(&mut self, numsync: bool) -> Result<()> {
        self.check_writable()?;
        if self.header.layout.numsync == numsync {
            return Ok(());
        }
        self.update(|s| {
            let mut layout = s.header.layout;
            layout.numsync = numsync;
            layout.omagic = false;
            let cap = layout.header_avail_capacity(s.header.block_size as usize);
            let old = s.header.avail.table.clone();
            let mut extra = Vec::new();
            while s.header.avail.count as usize > cap {
                s.header.avail.count -= 1;
                extra.push(old[s.header.avail.count as usize]);
            }
            let mut table: Vec<AvailElem> = old.iter().copied().take(cap).collect();
            // Growing: libgdbm moves the block down in its header buffer, so the new last
            // slots keep the bytes that were there (the old table's last entries).
            let mut k = old.len().saturating_sub(cap - table.len().min(cap));
            while table.len() < cap {
                table.push(old.get(k).copied().unwrap_or_default());
                k += 1;
            }
            s.header.layout = layout;
            s.header.avail.table = table;
            s.header.avail.size = cap as i32;
            s.header.ext_version = 0;
            s.header.numsync = 0;
            s.header_changed = true;
            if !extra.is_empty() {
                if s.current == 0 {
                    s.get_bucket(0)?;
                }
                for e in extra {
                    s.free(e.adr, e.size)?;
                }
            }
            s.end_update()
        })
    }

    /// Writes back and makes durable, then gives the storage back (gdbm_close: no header
    /// rewrite).
    pub fn close(mut self) -> Result<S> {
        self.st.finish()?;
        Ok(self.st)
    }
}

/// Whether record bytes `rec` (the key, then for a get the value) hold `key`; if so, and
/// `out` is given, appends the value to it. `Some(filled)` on a match (`filled`: a value
/// was copied), `None` otherwise.
fn record_matches(rec: &[u8], key: &[u8], out: Option<&mut Vec<u8>>) -> Option<bool> {
    if rec[..key.len()] != *key {
        return None;
    }
    Some(match out {
        Some(out) => {
            out.extend_from_slice(&rec[key.len()..]);
            true
        }
        None => false,
    })
}
