//! The hash store: lookup, insert, replace, delete and iteration over a Berkeley DB 5.3
//! hash file, following libdb's algorithms step by step so the live bytes match (ndbm spec
//! §5.1). Page allocation is in `alloc.rs`, table expansion in `split.rs`.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use pydbm_engine::{Error, Result};

use super::hash::{cmp_offpage, cmp_onpage, getindex, hash};
use super::meta::HashMeta;
use super::page::{HashPage, Item, Page, Pair};
use super::raw_lookup::RawLookup;
use pydbm_engine::Store;

/// Largest item kept on a bucket page: `pagesize / 4` (`ISBIG`, ndbm spec §3.3).
pub fn max_onpage(pagesize: usize) -> usize {
    pagesize / 4
}

/// An open hash database over a [`Store`]. Every mutating method leaves the work
/// uncommitted; the caller commits (one operation = one commit) or rolls back on error.
pub struct HashStore<F: Store> {
    pub(super) file: F,
    pub(super) meta: HashMeta,
    pub(super) meta_page: Vec<u8>,
    pub(super) pagesize: usize,
    pub(super) meta_dirty: bool,
    /// Decoded bucket pages (as committed or as this operation wrote them). Cleared on
    /// rollback; past [`HASH_CACHE_PAGES`] an arbitrary page is evicted per insertion.
    pub(super) hash_cache: HashMap<u32, Arc<HashPage>>,
    /// One page-sized buffer reused for every page read and bucket-page encode, so the
    /// read and write paths allocate no page buffer per operation.
    pub(super) scratch: Vec<u8>,
    /// The bucket page being edited in place (`inplace.rs`), reused across operations.
    pub(super) edit: Vec<u8>,
    /// The edited page is new (a hole, a new chain page): write it whole.
    pub(super) edit_whole: bool,
    /// Whether inserts, replaces and deletes may take the in-place fast path (`false`
    /// only in tests comparing it with the decoding path).
    pub(super) in_place: bool,
    /// Page buffer of the raw key walk (`raw_lookup.rs`).
    pub(super) iter_buf: Vec<u8>,
    /// Page buffers of the raw split (`split.rs`): source page, the two targets.
    pub(super) split_bufs: [Vec<u8>; 3],
    /// The meta page image being encoded, compared with `meta_page` to write only changes.
    pub(super) meta_next: Vec<u8>,
}

/// Bytes of the meta page that [`HashMeta::encode_into`] writes (ndbm spec §3.1: only the
/// first 512 bytes are meaningful).
const META_BYTES: usize = 512;

/// Most decoded bucket pages kept by a [`HashStore`].
pub const HASH_CACHE_PAGES: usize = 4096;

/// Where a key was found: the page (decoded) and the pair index on it.
pub(super) struct Found {
    pub page: Arc<HashPage>,
    pub index: usize,
}

impl<F: Store> HashStore<F> {
    /// Opens an existing hash file: parses and validates the meta page. Fails with
    /// [`Error::Corrupt`] on a bad meta page and [`Error::Unsupported`] on checksummed,
    /// encrypted, duplicate or sub-database files.
    pub fn open(mut file: F) -> Result<Self> {
        let path = file.path().to_path_buf();
        if file.len() < 512 {
            return Err(Error::corrupt(
                &path,
                file.len(),
                "a Berkeley DB hash meta page (the file is shorter than 512 bytes)",
            ));
        }
        let mut head = vec![0u8; 512];
        file.read_at(0, &mut head)?;
        let meta =
            HashMeta::parse(&head).map_err(|e| Error::corrupt(&path, e.offset, e.expected))?;
        if meta.metaflags & 1 != 0 || meta.encrypt_alg != 0 {
            return Err(Error::unsupported(
                &path,
                "Berkeley DB page checksums or encryption",
            ));
        }
        if meta.flags != 0 {
            return Err(Error::unsupported(
                &path,
                format!(
                    "hash database flags {:#x} (duplicates or sub-databases)",
                    meta.flags
                ),
            ));
        }
        meta.validate()
            .map_err(|e| Error::corrupt(&path, e.offset, e.expected))?;
        let pagesize = meta.pagesize as usize;
        // libdb files are (last_pgno + 1) pages long; at least the last page must start
        // inside the file, which also bounds every table walk by the file's size.
        if meta.last_pgno as u64 * pagesize as u64 >= file.len() {
            return Err(Error::corrupt(
                &path,
                32,
                format!(
                    "last_pgno {} inside a file of {} bytes ({pagesize}-byte pages)",
                    meta.last_pgno,
                    file.len()
                ),
            ));
        }
        let mut meta_page = vec![0u8; pagesize];
        let n = (file.len() as usize).min(pagesize);
        file.read_at(0, &mut meta_page[..n])?;
        Ok(HashStore::with_meta(file, meta, meta_page, pagesize))
    }

    /// Writes a new, empty database into `file` (which must be empty) as the ndbm shim's
    /// `__ham_new_file` does (ndbm spec §5.1 step 1): the meta page, page 1 left a hole,
    /// page 2 an empty bucket page. `uid` is the 20-byte file id. Not committed.
    pub fn create(mut file: F, uid: [u8; 20]) -> Result<Self> {
        let meta = HashMeta::new_ndbm(uid);
        let pagesize = meta.pagesize as usize;
        let meta_page = meta.encode();
        file.set_len(0)?;
        file.write_at(0, &meta_page)?;
        // Page 2 carries a stale copy of the meta buffer in libdb (§4 item 2); pydbm writes
        // an empty page, which is equally valid.
        let p2 = HashPage::empty(2).encode(meta.endian, pagesize);
        file.write_at(2 * pagesize as u64, &p2)?;
        Ok(HashStore::with_meta(file, meta, meta_page, pagesize))
    }

    /// A store over `file` with its meta page read or written: nothing dirty, empty caches
    /// and scratch buffers, in-place edits allowed.
    fn with_meta(file: F, meta: HashMeta, meta_page: Vec<u8>, pagesize: usize) -> Self {
        HashStore {
            file,
            meta,
            meta_page,
            pagesize,
            meta_dirty: false,
            hash_cache: HashMap::new(),
            scratch: Vec::new(),
            edit: Vec::new(),
            edit_whole: false,
            in_place: true,
            meta_next: Vec::new(),
            split_bufs: Default::default(),
            iter_buf: Vec::new(),
        }
    }

    /// Re-reads the meta page from the file (after a rollback discarded changes the
    /// in-memory copy still has).
    pub fn reload_meta(&mut self) -> Result<()> {
        let mut page = vec![0u8; self.pagesize];
        let n = (self.file.len() as usize).min(self.pagesize);
        self.file.read_at(0, &mut page[..n])?;
        let path = self.file.path().to_path_buf();
        self.meta =
            HashMeta::parse(&page).map_err(|e| Error::corrupt(&path, e.offset, e.expected))?;
        self.meta_page = page;
        self.meta_dirty = false;
        self.hash_cache.clear();
        Ok(())
    }

    /// The decoded meta page as it stands (uncommitted changes included).
    pub fn meta(&self) -> &HashMeta {
        &self.meta
    }

    /// Page `pgno` (1..=last_pgno), decoded; [`pydbm_engine::Error::Corrupt`] when it does
    /// not parse.
    pub fn page(&mut self, pgno: u32) -> Result<Page> {
        self.read_page(pgno)
    }

    /// The underlying file.
    pub fn file(&self) -> &F {
        &self.file
    }

    /// The underlying file, mutably (commit, rollback, sync).
    pub fn file_mut(&mut self) -> &mut F {
        &mut self.file
    }

    /// Consumes the store, returning the file.
    pub fn into_file(self) -> F {
        self.file
    }

    pub(super) fn corrupt(&self, offset: u64, expected: impl Into<String>) -> Error {
        Error::corrupt(self.file.path(), offset, expected)
    }

    /// Reads page `pgno` (1..=last_pgno) into `buf` (resized to a page). A page past the
    /// end of the file reads as zeros (a hole); a page number outside the table is
    /// [`Error::Corrupt`].
    pub(super) fn read_raw_into(&mut self, pgno: u32, buf: &mut Vec<u8>) -> Result<()> {
        if pgno == 0 || pgno > self.meta.last_pgno {
            return Err(self.corrupt(
                28,
                format!("a page number in 1..={}, found {pgno}", self.meta.last_pgno),
            ));
        }
        let off = pgno as u64 * self.pagesize as u64;
        buf.resize(self.pagesize, 0);
        let len = self.file.len();
        let n = if off < len {
            ((len - off) as usize).min(self.pagesize)
        } else {
            0
        };
        if n > 0 {
            self.file.read_at(off, &mut buf[..n])?;
        }
        buf[n..].fill(0);
        Ok(())
    }

    /// Page `pgno`, decoded.
    pub(super) fn read_page(&mut self, pgno: u32) -> Result<Page> {
        let mut raw = std::mem::take(&mut self.scratch);
        let res = self.read_raw_into(pgno, &mut raw).and_then(|()| {
            let off = pgno as u64 * self.pagesize as u64;
            Page::parse(&raw, pgno, self.meta.endian)
                .map_err(|e| self.corrupt(off + e.offset as u64, e.expected))
        });
        self.scratch = raw;
        res
    }

    /// Bucket page `pgno`, shared from the cache; a hole reads as an empty page
    /// (`__ham_pgin`).
    pub(super) fn hash_page(&mut self, pgno: u32) -> Result<Arc<HashPage>> {
        if let Some(p) = self.hash_cache.get(&pgno) {
            return Ok(p.clone());
        }
        let page = match self.read_page(pgno)? {
            Page::Hole => HashPage::empty(pgno),
            Page::Hash(h) => h,
            _ => {
                return Err(self.corrupt(
                    pgno as u64 * self.pagesize as u64 + 25,
                    format!("a hash bucket page at page {pgno}"),
                ))
            }
        };
        let page = Arc::new(page);
        self.cache_hash(page.clone());
        Ok(page)
    }

    fn cache_hash(&mut self, page: Arc<HashPage>) {
        if self.hash_cache.len() >= HASH_CACHE_PAGES && !self.hash_cache.contains_key(&page.pgno) {
            // Evict one arbitrary page (the map's order is effectively random).
            if let Some(&victim) = self.hash_cache.keys().next() {
                self.hash_cache.remove(&victim);
            }
        }
        self.hash_cache.insert(page.pgno, page);
    }

    /// Turns a shared page into an owned one to modify, without copying when the cache
    /// held the only other reference (the entry is dropped; writing the page re-caches it).
    pub(super) fn take_hash(&mut self, page: Arc<HashPage>) -> HashPage {
        self.hash_cache.remove(&page.pgno);
        Arc::try_unwrap(page).unwrap_or_else(|shared| (*shared).clone())
    }

    /// Writes a bucket page, keeping it (without a copy) as the cached decoded page.
    pub(super) fn write_hash_owned(&mut self, page: HashPage) -> Result<()> {
        self.write_hash_bytes(&page)?;
        self.cache_hash(Arc::new(page));
        Ok(())
    }

    /// The file offset of page `pgno` for a write: every page pydbm writes lies in
    /// 1..=last_pgno (allocation raises last_pgno first), so a page number a hostile meta
    /// or chain pointer produced outside it is [`pydbm_engine::Error::Corrupt`] instead of
    /// a write that grows the file (or an in-memory image) by gigabytes.
    pub(super) fn page_write_offset(&self, pgno: u32) -> Result<u64> {
        if pgno == 0 || pgno > self.meta.last_pgno {
            return Err(self.corrupt(
                32,
                format!(
                    "a page to write in 1..={} (last_pgno), found {pgno}",
                    self.meta.last_pgno
                ),
            ));
        }
        Ok(pgno as u64 * self.pagesize as u64)
    }

    /// Encodes `page` into the scratch buffer and writes it to its place in the file.
    fn write_hash_bytes(&mut self, page: &HashPage) -> Result<()> {
        let at = self.page_write_offset(page.pgno)?;
        let mut buf = std::mem::take(&mut self.scratch);
        buf.resize(self.pagesize, 0);
        page.encode_into(self.meta.endian, &mut buf);
        let res = self.file.write_at(at, &buf);
        self.scratch = buf;
        res
    }

    /// Bucket page `pgno`, an owned copy to modify.
    pub(super) fn read_hash(&mut self, pgno: u32) -> Result<HashPage> {
        Ok((*self.hash_page(pgno)?).clone())
    }

    /// Writes a bucket page.
    pub(super) fn write_hash(&mut self, page: &HashPage) -> Result<()> {
        self.write_hash_bytes(page)?;
        self.cache_hash(Arc::new(page.clone()));
        Ok(())
    }

    /// Writes a page that is not a bucket page (overflow, free), dropping any cached copy.
    pub(super) fn write_other(&mut self, pgno: u32, bytes: &[u8]) -> Result<()> {
        let at = self.page_write_offset(pgno)?;
        self.hash_cache.remove(&pgno);
        self.file.write_at(at, bytes)
    }

    /// Truncates the file to `pages` pages, dropping cached copies of the pages cut off.
    pub(super) fn truncate_pages(&mut self, pages: u32) -> Result<()> {
        self.hash_cache.retain(|&p, _| p < pages);
        self.file.set_len(pages as u64 * self.pagesize as u64)
    }

    /// Writes the meta page if it changed: only the blocks whose bytes changed (usually
    /// just `nelem`), or the whole page while the file is shorter than one page.
    pub(super) fn flush_meta(&mut self) -> Result<()> {
        if !self.meta_dirty {
            return Ok(());
        }
        if self.file.len() < self.pagesize as u64 || self.meta_page.len() < META_BYTES {
            self.meta.encode_into(&mut self.meta_page);
            self.file.write_at(0, &self.meta_page)?;
        } else {
            // `encode_into` writes only the first 512 bytes (ndbm spec §3.1): encode into a
            // copy of those and write the 64-byte blocks that changed.
            let mut next = std::mem::take(&mut self.meta_next);
            next.clear();
            next.extend_from_slice(&self.meta_page[..META_BYTES]);
            self.meta.encode_into(&mut next);
            let res = super::inplace::write_changed(
                &mut self.file,
                0,
                &self.meta_page[..META_BYTES],
                &next,
            );
            self.meta_page[..META_BYTES].copy_from_slice(&next);
            self.meta_next = next;
            res?;
        }
        self.meta_dirty = false;
        Ok(())
    }

    /// Reads the `tlen` bytes of the overflow chain starting at `pgno`.
    pub(super) fn read_big(&mut self, mut pgno: u32, tlen: u32) -> Result<Vec<u8>> {
        let cap = (self.pagesize - super::page::HEADER_SIZE) as u64 * self.meta.last_pgno as u64;
        if tlen as u64 > cap {
            return Err(self.corrupt(
                pgno as u64 * self.pagesize as u64,
                format!("an overflow item of at most {cap} bytes, found length {tlen}"),
            ));
        }
        let mut out = Vec::with_capacity(tlen as usize);
        let mut hops = 0u32;
        while (out.len() as u64) < tlen as u64 {
            hops += 1;
            if pgno == 0 || hops > self.meta.last_pgno {
                return Err(self.corrupt(
                    pgno as u64 * self.pagesize as u64,
                    format!("an overflow chain holding {tlen} bytes"),
                ));
            }
            match self.read_page(pgno)? {
                Page::Overflow(o) => {
                    out.extend_from_slice(&o.data);
                    pgno = o.next;
                }
                _ => {
                    return Err(self.corrupt(
                        pgno as u64 * self.pagesize as u64 + 25,
                        format!("an overflow page at page {pgno}"),
                    ))
                }
            }
        }
        if out.len() as u64 != tlen as u64 {
            return Err(self.corrupt(
                pgno as u64 * self.pagesize as u64,
                format!("an overflow chain of exactly {tlen} bytes"),
            ));
        }
        Ok(out)
    }

    /// The bytes an item stands for.
    pub(super) fn item_bytes(&mut self, item: &Item) -> Result<Vec<u8>> {
        match item {
            Item::Data(d) => Ok(d.clone()),
            Item::OffPage { pgno, tlen } => self.read_big(*pgno, *tlen),
        }
    }

    /// Compares a search key with a page's key item (ndbm spec §3.3). `key_offpage` is
    /// true when the key being placed is an `H_OFFPAGE` item whose index `__ham_insertpair`
    /// computes (a split's `__ham_copypair`, a replace's re-add): libdb then compares through `__db_moff` / `__db_coff`, plain
    /// lexicographic order, even against on-page items — while a lookup (whose index a fresh
    /// insert reuses) uses the longer-first rule against on-page items. libdb's binary search can therefore
    /// miss big keys it inserted; pydbm reproduces that exactly.
    pub(super) fn cmp_key(
        &mut self,
        key: &[u8],
        item: &Item,
        key_offpage: bool,
    ) -> Result<Ordering> {
        match item {
            Item::Data(d) if key_offpage => Ok(cmp_offpage(key, d)),
            Item::Data(d) => Ok(cmp_onpage(key, d)),
            Item::OffPage { pgno, tlen } => {
                let big = self.read_big(*pgno, *tlen)?;
                Ok(cmp_offpage(key, &big))
            }
        }
    }

    /// `__ham_getindex`: on a sorted page, libdb's binary search (the probe sequence
    /// matters when off-page keys make the order inconsistent); on an unsorted page a
    /// linear scan. Returns whether the key is there and its index or insertion index.
    pub(super) fn search(&mut self, page: &HashPage, key: &[u8]) -> Result<(bool, usize)> {
        self.search_as(page, key, false)
    }

    /// [`Self::search`] for placing a key; `key_offpage` as in [`Self::cmp_key`].
    pub(super) fn search_as(
        &mut self,
        page: &HashPage,
        key: &[u8],
        key_offpage: bool,
    ) -> Result<(bool, usize)> {
        if !page.sorted {
            for (i, p) in page.pairs.iter().enumerate() {
                if self.cmp_key(key, &p.key, key_offpage)? == Ordering::Equal {
                    return Ok((true, i));
                }
            }
            return Ok((false, page.pairs.len()));
        }
        getindex(page.pairs.len(), |i| {
            self.cmp_key(key, &page.pairs[i].key, key_offpage)
        })
    }

    /// Sorts an unsorted (version 8) page in place before its first insert, as libdb does.
    pub(super) fn sort_page(&mut self, page: &mut HashPage) -> Result<()> {
        if page.sorted {
            return Ok(());
        }
        let pairs = std::mem::take(&mut page.pairs);
        page.sorted = true;
        for p in pairs {
            let k = self.item_bytes(&p.key)?;
            let off = matches!(p.key, Item::OffPage { .. });
            let (_, idx) = self.search_as(page, &k, off)?;
            page.pairs.insert(idx, p);
        }
        Ok(())
    }

    /// The bucket `key` belongs to under the current masks.
    pub(super) fn bucket_of_key(&self, key: &[u8]) -> u32 {
        self.meta.bucket_of(hash(key))
    }

    /// Walks the chain of the bucket holding `key`; returns where it is, if anywhere.
    pub(super) fn lookup(&mut self, key: &[u8]) -> Result<Option<Found>> {
        let bucket = self.bucket_of_key(key);
        let mut pgno = self.meta.bucket_page(bucket);
        let mut hops = 0u32;
        loop {
            let page = self.hash_page(pgno)?;
            let (found, index) = self.search(&page, key)?;
            if found {
                return Ok(Some(Found { page, index }));
            }
            if page.next == 0 {
                return Ok(None);
            }
            pgno = self.next_in_chain(&page, &mut hops)?;
        }
    }

    /// The next page of a bucket chain, guarding against loops.
    pub(super) fn next_in_chain(&self, page: &HashPage, hops: &mut u32) -> Result<u32> {
        *hops += 1;
        if *hops > self.meta.last_pgno {
            return Err(self.corrupt(
                page.pgno as u64 * self.pagesize as u64 + 16,
                "a bucket chain without a loop",
            ));
        }
        Ok(page.next)
    }

    /// The value stored under `key`.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        // Pages not in the decoded cache are searched as raw bytes (raw_lookup.rs).
        match self.raw_lookup(key)? {
            RawLookup::Found(v) => return Ok(Some(v)),
            RawLookup::Absent => return Ok(None),
            RawLookup::Undecided => {}
        }
        match self.lookup(key)? {
            // One copy of an on-page value (no clone of the item first).
            Some(f) => match &f.page.pairs[f.index].data {
                Item::Data(d) => Ok(Some(d.clone())),
                Item::OffPage { pgno, tlen } => Ok(Some(self.read_big(*pgno, *tlen)?)),
            },
            None => Ok(None),
        }
    }

    /// Calls `f(key_item, data_item)` for every pair in iteration order (bucket 0..max,
    /// chain order, index order), the order of `dbm_firstkey`/`dbm_nextkey`.
    pub fn for_each_pair(
        &mut self,
        f: &mut dyn FnMut(&mut Self, &Pair) -> Result<()>,
    ) -> Result<()> {
        for bucket in 0..=self.meta.max_bucket {
            let mut pgno = self.meta.bucket_page(bucket);
            let mut hops = 0u32;
            loop {
                let page = self.hash_page(pgno)?;
                for p in &page.pairs {
                    f(self, p)?;
                }
                if page.next == 0 {
                    break;
                }
                pgno = self.next_in_chain(&page, &mut hops)?;
            }
        }
        Ok(())
    }

    /// Appends the keys of bucket `bucket` (its page and overflow chain, in chain and index
    /// order) to `out`: one step of a cursor in `dbm_firstkey`/`dbm_nextkey` order.
    pub fn bucket_keys(&mut self, bucket: u32, out: &mut Vec<Vec<u8>>) -> Result<()> {
        let mut pgno = self.meta.bucket_page(bucket);
        let mut hops = 0u32;
        loop {
            let page = self.hash_page(pgno)?;
            for p in &page.pairs {
                out.push(self.item_bytes(&p.key)?);
            }
            if page.next == 0 {
                return Ok(());
            }
            pgno = self.next_in_chain(&page, &mut hops)?;
        }
    }

    /// Every key in iteration order.
    pub fn keys(&mut self) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        self.walk_keys(Some(&mut out))?;
        Ok(out)
    }

    /// Every `(key, value)` in iteration order.
    pub fn items(&mut self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        self.for_each_pair(&mut |s, p| {
            let k = s.item_bytes(&p.key)?;
            let v = s.item_bytes(&p.data)?;
            out.push((k, v));
            Ok(())
        })?;
        Ok(out)
    }

    /// Number of pairs, counted by walking the buckets (`nelem` is not exact, §6).
    pub fn count(&mut self) -> Result<usize> {
        self.walk_keys(None)
    }

    /// Size a pair of an item of `n` bytes takes in the `need` sum: `n + 3` on-page, 14 off-page.
    pub(super) fn isz(&self, n: usize) -> usize {
        if n > max_onpage(self.pagesize) {
            super::page::OFFPAGE_SIZE + 2
        } else {
            n + 3
        }
    }

    /// `d[key] = value` (DBM_REPLACE): insert, or replace the existing value (ndbm spec §5.1).
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.put_with(key, value, true).map(|_| ())
    }

    /// `DBM_INSERT` (Python's `setdefault` path): stores only when `key` is absent; returns
    /// whether it stored.
    pub fn put_new(&mut self, key: &[u8], value: &[u8]) -> Result<bool> {
        self.put_with(key, value, false)
    }

    fn put_with(&mut self, key: &[u8], value: &[u8], replace: bool) -> Result<bool> {
        if let Some(done) = self.put_in_place(key, value, replace)? {
            self.flush_meta()?;
            return Ok(done);
        }
        let need = self.isz(key.len()) + self.isz(value.len());
        let bucket = self.bucket_of_key(key);
        let mut pgno = self.meta.bucket_page(bucket);
        // ndbm spec §5.1 step 2: remember the first chain page with need < free space
        // (`seek_found_page`), searching every page for the key.
        let mut remembered: Option<u32> = None;
        let mut hops = 0u32;
        let last = loop {
            let page = self.hash_page(pgno)?;
            if remembered.is_none() && need < page.free_space(self.pagesize) {
                remembered = Some(page.pgno);
            }
            let (found, index) = self.search(&page, key)?;
            if found {
                if !replace {
                    return Ok(false);
                }
                let page = self.take_hash(page);
                self.replace(page, index, key, value)?;
                self.flush_meta()?;
                return Ok(true);
            }
            if page.next == 0 {
                break page;
            }
            pgno = self.next_in_chain(&page, &mut hops)?;
        };
        let start = match remembered {
            Some(p) if p != last.pgno => self.read_hash(p)?,
            _ => self.take_hash(last),
        };
        self.add_pair(start, key, value, true)?;
        self.flush_meta()?;
        Ok(true)
    }

    /// `__ham_add_el`: from page `cur`, advance to the first chain page with room, append a
    /// chain page if none, store big items, insert the pair sorted, `nelem++`, and expand
    /// the table when a chain page was added or the page holds more than `ffactor` pairs.
    ///
    /// `lookup_index` says the cursor still holds the insertion index the lookup computed
    /// on `cur` (a fresh insert): libdb then uses it as is. Otherwise (a replace, or after
    /// moving along the chain) `__ham_insertpair` recomputes it by the key *item's* type,
    /// which for a big key is lexicographic order (see [`Self::cmp_key`]).
    pub(super) fn add_pair(
        &mut self,
        mut cur: HashPage,
        key: &[u8],
        value: &[u8],
        mut lookup_index: bool,
    ) -> Result<()> {
        let need = self.isz(key.len()) + self.isz(value.len());
        let mut hops = 0u32;
        while !cur.pairs.is_empty() && cur.next != 0 && cur.free_space(self.pagesize) < need {
            let next = self.next_in_chain(&cur, &mut hops)?;
            cur = self.read_hash(next)?;
            lookup_index = false;
        }
        let mut do_expand = false;
        if cur.free_space(self.pagesize) < need {
            // §5.1 step 5: the chain page is allocated before any overflow page.
            let n = self.db_new()?;
            let mut page = HashPage::empty(n);
            page.prev = cur.pgno;
            page.next = cur.next;
            cur.next = n;
            self.write_hash(&cur)?;
            cur = page;
            do_expand = true;
        }
        let key_item = self.store_item(key)?;
        let data_item = self.store_item(value)?;
        self.sort_page(&mut cur)?;
        // The lookup's index compared the user's key as H_KEYDATA even when it is stored
        // off-page; a recomputed index compares by the stored item's type.
        let by_item_type = !lookup_index && matches!(key_item, Item::OffPage { .. });
        let (_, idx) = self.search_as(&cur, key, by_item_type)?;
        cur.pairs.insert(
            idx,
            Pair {
                key: key_item,
                data: data_item,
            },
        );
        let pairs_here = cur.pairs.len();
        self.write_hash_owned(cur)?;
        self.meta.nelem = self.meta.nelem.wrapping_add(1);
        self.meta_dirty = true;
        if do_expand || (self.meta.ffactor != 0 && pairs_here > self.meta.ffactor as usize) {
            self.expand()?;
        }
        Ok(())
    }

    /// An item for `bytes`: on-page, or an overflow chain when longer than `pagesize / 4`.
    fn store_item(&mut self, bytes: &[u8]) -> Result<Item> {
        if bytes.len() as u64 > u32::MAX as u64 {
            // ndbm spec §6: an item's total length is a u32.
            return Err(Error::BadArgument(format!(
                "a Berkeley DB key or value holds at most 4294967295 bytes, not {}",
                bytes.len()
            )));
        }
        if bytes.len() > max_onpage(self.pagesize) {
            let pgno = self.put_big(bytes)?;
            Ok(Item::OffPage {
                pgno,
                tlen: bytes.len() as u32,
            })
        } else {
            Ok(Item::Data(bytes.to_vec()))
        }
    }

    /// `__ham_replpair` for a whole-value overwrite (ndbm spec §5.1 step 3).
    fn replace(
        &mut self,
        mut page: HashPage,
        index: usize,
        key: &[u8],
        value: &[u8],
    ) -> Result<()> {
        let old = page.pairs[index].data.clone();
        let grows = value.len() as i64 - old.value_len() as i64;
        let big_new = value.len() > max_onpage(self.pagesize);
        let old_big = matches!(old, Item::OffPage { .. });
        if old_big || big_new || grows > page.free_space(self.pagesize) as i64 {
            // Delete the pair without reclaiming its page, then add it again starting from
            // this same page (ndbm spec §5.1 step 3; a page remembered by the lookup is
            // not used on this path — verified against libdb).
            self.delete_at(&mut page, index, false)?;
            self.add_pair(page, key, value, false)
        } else {
            page.pairs[index].data = Item::Data(value.to_vec());
            self.write_hash_owned(page)
        }
    }

    /// `del db[key]`: returns whether the key was there.
    pub fn delete(&mut self, key: &[u8]) -> Result<bool> {
        if let Some(done) = self.delete_in_place(key)? {
            self.flush_meta()?;
            return Ok(done);
        }
        match self.lookup(key)? {
            None => Ok(false),
            Some(f) => {
                let index = f.index;
                let mut page = self.take_hash(f.page);
                self.delete_at(&mut page, index, true)?;
                self.flush_meta()?;
                Ok(true)
            }
        }
    }

    /// `__ham_del_pair`: frees the key's then the value's overflow chain, removes the pair,
    /// `nelem--`, and (when `reclaim`) unlinks an emptied chain page or pulls the next page
    /// into an emptied first bucket page (ndbm spec §3.6). `page` is updated in place and
    /// written.
    pub(super) fn delete_at(
        &mut self,
        page: &mut HashPage,
        index: usize,
        reclaim: bool,
    ) -> Result<()> {
        let pair = page.pairs.remove(index);
        if let Item::OffPage { pgno, .. } = pair.key {
            self.free_big(pgno)?;
        }
        if let Item::OffPage { pgno, .. } = pair.data {
            self.free_big(pgno)?;
        }
        self.meta.nelem = self.meta.nelem.wrapping_sub(1);
        self.meta_dirty = true;
        if !(reclaim && page.pairs.is_empty()) {
            return self.write_hash(page);
        }
        if page.prev != 0 {
            // A non-first chain page: unlink and free it.
            let mut prev = self.read_hash(page.prev)?;
            prev.next = page.next;
            self.write_hash(&prev)?;
            if page.next != 0 {
                let mut next = self.read_hash(page.next)?;
                next.prev = page.prev;
                self.write_hash(&next)?;
            }
            self.db_free(page.pgno)
        } else if page.next != 0 {
            // An emptied first bucket page takes over its successor's content.
            let succ = self.read_hash(page.next)?;
            page.pairs = succ.pairs;
            page.sorted = succ.sorted;
            page.next = succ.next;
            self.write_hash(page)?;
            if succ.next != 0 {
                let mut after = self.read_hash(succ.next)?;
                after.prev = page.pgno;
                self.write_hash(&after)?;
            }
            self.db_free(succ.pgno)
        } else {
            self.write_hash(page)
        }
    }
}
