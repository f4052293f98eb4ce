//! The write fast path: insert, replace and delete by editing bucket pages' raw bytes in
//! place (`page_edit.rs`), as libdb does, instead of decoding a page into pairs and
//! encoding it again. Each operation writes only the byte ranges it changed.
//!
//! It covers the common shape: on-page keys and values (≤ `pagesize / 4` bytes) in a
//! bucket whose chain pages are sorted `P_HASH` pages (or a never-written hole) and whose
//! probed keys are on-page. It follows the same steps as the decoding path in `store.rs`
//! (ndbm spec §5.1: the remembered page with room, a new chain page when the last one is
//! full, the sorted index, `nelem`, expansion), so the files are the same byte for byte;
//! anything else — big items, reclaiming an emptied chain page, a replace that must move
//! the pair, an unsorted or malformed page — answers "undecided" before changing anything,
//! and the caller takes the decoding path, which handles it or reports the exact error.

use pydbm_engine::Result;

use super::hash::{cmp_onpage, getindex};
use super::page::H_KEYDATA;
use super::page_edit::{self, Changed, NewItem};
use super::store::{max_onpage, HashStore};
use super::Endian;
use pydbm_engine::Store;

/// Granularity of the meta page's changed-range comparison: runs of differing 64-byte
/// blocks are written as one range.
const DIFF_BLOCK: usize = 64;

/// `__ham_getindex`'s binary search on a sorted page accepted by
/// [`page_edit::check_hash_page`], comparing the key as an on-page item: whether the key is
/// there and its index or insertion index. `None` when a probed key is off-page (the
/// decoding path compares those).
pub(super) fn search_sorted(b: &[u8], e: Endian, key: &[u8]) -> Option<(bool, usize)> {
    getindex(page_edit::header(b, e).entries / 2, |i| {
        let k = page_edit::item(b, e, 2 * i);
        if k[0] != H_KEYDATA {
            return Err(());
        }
        Ok(cmp_onpage(key, &k[1..]))
    })
    .ok()
}

/// Where a raw walk of a bucket chain ended. The page it names is in `HashStore::edit`.
enum Walk {
    /// The walk cannot decide on raw bytes: use the decoding path.
    Undecided,
    /// The key is pair `index` of page `pgno`.
    Found { pgno: u32, index: usize },
    /// The key is absent; `last` is the chain's last page, `roomy` the first page with
    /// `need < free space` (`seek_found_page`, ndbm spec §5.1 step 2).
    Absent { last: u32, roomy: Option<u32> },
}

impl<F: Store> HashStore<F> {
    /// Reads page `pgno` into the edit buffer; a hole becomes an empty bucket page
    /// (`__ham_pgin`). Returns false when the page is not one the fast path edits.
    fn load_edit(&mut self, pgno: u32) -> Result<bool> {
        let mut buf = std::mem::take(&mut self.edit);
        let res = self.read_raw_into(pgno, &mut buf);
        let e = self.meta.endian;
        let ok = res.map(|()| {
            if page_edit::header(&buf, e).pgno == 0 {
                // ndbm spec §5.1: a page whose pgno field is 0 is an unused bucket page.
                page_edit::init_empty(&mut buf, e, pgno, 0, 0);
                self.edit_whole = true;
                true
            } else {
                self.edit_whole = false;
                page_edit::check_hash_page(&buf, pgno, e)
            }
        });
        self.edit = buf;
        ok
    }

    /// Walks the chain of `key`'s bucket on raw bytes. `need` (an insert's pair size)
    /// asks for the first page with more free space.
    fn walk_raw(&mut self, key: &[u8], need: usize) -> Result<Walk> {
        let e = self.meta.endian;
        let mut pgno = self.meta.bucket_page(self.bucket_of_key(key));
        let mut roomy = None;
        let mut hops = 0u32;
        loop {
            if !self.load_edit(pgno)? {
                return Ok(Walk::Undecided);
            }
            if roomy.is_none() && need < page_edit::free_space(&self.edit, e) {
                roomy = Some(pgno);
            }
            match search_sorted(&self.edit, e, key) {
                None => return Ok(Walk::Undecided),
                Some((true, index)) => return Ok(Walk::Found { pgno, index }),
                Some((false, _)) => {}
            }
            let next = page_edit::header(&self.edit, e).next;
            if next == 0 {
                return Ok(Walk::Absent { last: pgno, roomy });
            }
            hops += 1;
            if hops > self.meta.last_pgno {
                // A loop: the decoding path reports it.
                return Ok(Walk::Undecided);
            }
            pgno = next;
        }
    }

    /// Zeroes stale dead bytes of the page in the edit buffer before an edit (libdb's pages
    /// hold stale data there); the page is then written whole.
    fn prepare_edit(&mut self) {
        if page_edit::zero_dead(&mut self.edit, self.meta.endian) {
            self.edit_whole = true;
        }
    }

    /// Writes what an edit of the edit buffer changed to page `pgno`: the header and index
    /// area and the changed items, or the whole page when it is new (a hole, a new chain
    /// page, not yet entirely inside the file) or [`Self::prepare_edit`] zeroed stale dead
    /// bytes. Drops any decoded copy of the page.
    fn commit_edit(&mut self, pgno: u32, changed: Changed) -> Result<()> {
        self.hash_cache.remove(&pgno);
        let ps = self.pagesize as u64;
        let base = self.page_write_offset(pgno)?;
        if self.edit_whole || self.file.len() < base + ps {
            self.edit_whole = false;
            return self.file.write_at(base, &self.edit);
        }
        self.file.write_at(base, &self.edit[..changed.head])?;
        if !changed.items.is_empty() {
            let at = changed.items.start;
            self.file
                .write_at(base + at as u64, &self.edit[changed.items])?;
        }
        Ok(())
    }

    /// Fast path of `put` / `put_new` (ndbm spec §5.1 steps 2 and 3). `None`: undecided,
    /// nothing was changed.
    pub(super) fn put_in_place(
        &mut self,
        key: &[u8],
        value: &[u8],
        replace: bool,
    ) -> Result<Option<bool>> {
        let max = max_onpage(self.pagesize);
        if !self.in_place || key.len() > max || value.len() > max {
            return Ok(None);
        }
        let e = self.meta.endian;
        let need = self.isz(key.len()) + self.isz(value.len());
        let (last, roomy) = match self.walk_raw(key, need)? {
            Walk::Undecided => return Ok(None),
            Walk::Found { .. } if !replace => return Ok(Some(false)),
            Walk::Found { pgno, index } => {
                let old = page_edit::item(&self.edit, e, 2 * index + 1);
                if old[0] != H_KEYDATA {
                    return Ok(None);
                }
                let grows = value.len() as i64 - (old.len() - 1) as i64;
                if grows > page_edit::free_space(&self.edit, e) as i64 {
                    // Delete and re-add (possibly on another page): the decoding path.
                    return Ok(None);
                }
                self.prepare_edit();
                let changed = page_edit::replace_data(&mut self.edit, e, index, value);
                self.commit_edit(pgno, changed)?;
                return Ok(Some(true));
            }
            Walk::Absent { last, roomy } => (last, roomy),
        };
        let mut target = roomy.unwrap_or(last);
        if target != last && !self.load_edit(target)? {
            return Ok(None);
        }
        let mut do_expand = false;
        let index = if page_edit::free_space(&self.edit, e) >= need {
            match search_sorted(&self.edit, e, key) {
                Some((_, index)) => index,
                // The walk searched this page already; the decoding path is the answer
                // to anything it could not.
                None => return Ok(None),
            }
        } else {
            // The last page is full (no page had room): link a new chain page after it and
            // expand afterwards (`__ham_add_ovflpage`, ndbm spec §3.3/§3.4).
            let n = self.db_new()?;
            self.prepare_edit();
            let changed = page_edit::set_next(&mut self.edit, e, n);
            self.commit_edit(target, changed)?;
            page_edit::init_empty(&mut self.edit, e, n, target, 0);
            self.edit_whole = true;
            target = n;
            do_expand = true;
            0
        };
        self.prepare_edit();
        let changed = page_edit::insert_pair(
            &mut self.edit,
            e,
            index,
            NewItem::Data(key),
            NewItem::Data(value),
        );
        let pairs_here = page_edit::header(&self.edit, e).entries / 2;
        self.commit_edit(target, changed)?;
        self.meta.nelem = self.meta.nelem.wrapping_add(1);
        self.meta_dirty = true;
        if do_expand || (self.meta.ffactor != 0 && pairs_here > self.meta.ffactor as usize) {
            self.expand()?;
        }
        Ok(Some(true))
    }

    /// Fast path of `delete` (`__ham_del_pair` when no page is reclaimed and no overflow
    /// chain freed). `None`: undecided, nothing was changed.
    pub(super) fn delete_in_place(&mut self, key: &[u8]) -> Result<Option<bool>> {
        if !self.in_place {
            return Ok(None);
        }
        let e = self.meta.endian;
        let (pgno, index) = match self.walk_raw(key, usize::MAX)? {
            Walk::Undecided => return Ok(None),
            Walk::Absent { .. } => return Ok(Some(false)),
            Walk::Found { pgno, index } => (pgno, index),
        };
        let h = page_edit::header(&self.edit, e);
        let on_page = page_edit::item(&self.edit, e, 2 * index)[0] == H_KEYDATA
            && page_edit::item(&self.edit, e, 2 * index + 1)[0] == H_KEYDATA;
        // An emptied chain page is reclaimed (ndbm spec §3.6): the decoding path does that.
        let keeps_page = h.entries > 2 || (h.prev == 0 && h.next == 0);
        if !on_page || !keeps_page {
            return Ok(None);
        }
        self.prepare_edit();
        let changed = page_edit::delete_pair(&mut self.edit, e, index);
        self.commit_edit(pgno, changed)?;
        self.meta.nelem = self.meta.nelem.wrapping_sub(1);
        self.meta_dirty = true;
        Ok(Some(true))
    }
}

/// Writes the 64-byte blocks of image `new` (at file offset `base`) that differ from
/// `old`, runs of adjacent differing blocks as one write. Both images have the same length.
pub(super) fn write_changed<F: Store>(
    file: &mut F,
    base: u64,
    old: &[u8],
    new: &[u8],
) -> Result<()> {
    debug_assert_eq!(old.len(), new.len());
    let mut run: Option<usize> = None;
    let mut at = 0usize;
    for (a, b) in old.chunks(DIFF_BLOCK).zip(new.chunks(DIFF_BLOCK)) {
        match (a != b, run) {
            (true, None) => run = Some(at),
            (false, Some(start)) => {
                file.write_at(base + start as u64, &new[start..at])?;
                run = None;
            }
            _ => {}
        }
        at += b.len();
    }
    if let Some(start) = run {
        file.write_at(base + start as u64, &new[start..])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ndbm::corpus_tests::corpus_files;
    use pydbm_engine::prng::SplitMix64;
    use pydbm_engine::{Pager, PagerOptions};

    /// Runs the same operations through a store using the in-place fast path and one using
    /// only the decoding path; after every operation both files are byte-identical and
    /// both answer the same. Keys: short random ones, prefix-related ones, empty, 1024 and
    /// 1025 bytes; values: empty to 1025 bytes and multi-page; puts, `put_new`, gets,
    /// replaces that grow and shrink, deletes.
    fn same_bytes_both_paths(start: Vec<u8>, seed: u64, ops: usize) {
        let mut fast = HashStore::open(
            Pager::in_memory("fast.db", &start.clone(), PagerOptions::default()).unwrap(),
        )
        .unwrap();
        let mut slow =
            HashStore::open(Pager::in_memory("slow.db", &start, PagerOptions::default()).unwrap())
                .unwrap();
        slow.in_place = false;
        let mut rng = SplitMix64::new(seed);
        let mut keys: Vec<Vec<u8>> = fast.keys().unwrap();
        for step in 0..ops {
            let key = match rng.below(10) {
                0..=2 if !keys.is_empty() => keys[rng.below(keys.len() as u64) as usize].clone(),
                3 => b"prefixprefix"[..1 + rng.below(12) as usize].to_vec(),
                4 if rng.below(20) == 0 => vec![b'K'; [0, 1024, 1025][rng.below(3) as usize]],
                _ => (0..1 + rng.below(24))
                    .map(|_| rng.below(256) as u8)
                    .collect(),
            };
            let vlen = match rng.below(20) {
                0 => 0,
                1 => 1024,
                2 => 1025,
                3 if rng.below(4) == 0 => 9000,
                _ => rng.below(300) as usize,
            };
            let value: Vec<u8> = (0..vlen).map(|i| (i as u64 ^ step as u64) as u8).collect();
            match rng.below(10) {
                0..=5 => {
                    fast.put(&key, &value).unwrap();
                    slow.put(&key, &value).unwrap();
                    keys.push(key.clone());
                }
                6 => assert_eq!(
                    fast.put_new(&key, &value).unwrap(),
                    slow.put_new(&key, &value).unwrap()
                ),
                7 => assert_eq!(fast.get(&key).unwrap(), slow.get(&key).unwrap()),
                _ => assert_eq!(fast.delete(&key).unwrap(), slow.delete(&key).unwrap()),
            }
            fast.file_mut().commit().unwrap();
            slow.file_mut().commit().unwrap();
            assert!(
                fast.file_mut().image().unwrap() == slow.file_mut().image().unwrap(),
                "seed {seed}: files differ after operation {step}"
            );
        }
        assert_eq!(fast.items().unwrap(), slow.items().unwrap());
    }

    #[test]
    fn in_place_path_writes_what_the_decoding_path_writes() {
        let fresh = {
            let mut st = HashStore::create(
                Pager::in_memory("new.db", &[], PagerOptions::default()).unwrap(),
                [7; 20],
            )
            .unwrap();
            st.file_mut().commit().unwrap();
            st.into_file().image().unwrap()
        };
        for seed in 0..6 {
            same_bytes_both_paths(fresh.clone(), seed, 3000);
        }
    }

    /// The same on libdb's own files, whose dead areas hold stale bytes: both paths zero
    /// them when they rewrite a page.
    #[test]
    fn in_place_path_matches_on_libdb_files() {
        for (i, (_, bytes)) in corpus_files().into_iter().enumerate() {
            if HashStore::open(
                Pager::in_memory("c.db", &bytes.clone(), PagerOptions::default()).unwrap(),
            )
            .is_err()
            {
                continue;
            }
            same_bytes_both_paths(bytes, 100 + i as u64, 400);
        }
    }
}
