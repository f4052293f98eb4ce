//! Linear-hashing table expansion (`__ham_expand_table`, `__ham_split_page`),
//! ndbm spec §3.4 and §5.1 step 5.

use pydbm_engine::Result;

use super::hash::{ceil_log2, hash};
use super::meta::NSPARES;
use super::page::{HashPage, Item, H_KEYDATA};
use super::page_edit::{self, NewItem};
use super::store::HashStore;
use pydbm_engine::Store;

impl<F: Store> HashStore<F> {
    /// Adds bucket `max_bucket + 1` and splits bucket `new & low_mask` into it. On a new
    /// doubling a whole group of pages is reserved at the end of the file (only its last
    /// page is written, as an empty bucket page) and recorded in `spares`.
    pub(super) fn expand(&mut self) -> Result<()> {
        let new = self.meta.max_bucket.wrapping_add(1);
        if new >= 1 << 31 {
            return Err(self.corrupt(72, "max_bucket below 2^31 (the table cannot grow)"));
        }
        let old = new & self.meta.low_mask;
        let doubling = self.meta.max_bucket == self.meta.high_mask;
        if doubling {
            let g = ceil_log2(new as u64) as usize + 1;
            if g < NSPARES && self.meta.spares[g] == 0 {
                let old_last = self.meta.last_pgno;
                // Buckets 0..=max_bucket are `new` distinct pages in 1..=last_pgno (ndbm
                // spec §3.4), so a doubling at most doubles the file. A meta whose
                // max_bucket says otherwise would reserve a group sized by a hostile field
                // (a fuzzed file asked for 27.5 GB here).
                if new > old_last {
                    return Err(self.corrupt(
                        72,
                        format!(
                            "max_bucket {} with {new} bucket pages inside last_pgno {old_last}",
                            self.meta.max_bucket
                        ),
                    ));
                }
                let Some(last) = old_last.checked_add(new) else {
                    return Err(self.corrupt(32, "room for another group of bucket pages"));
                };
                self.meta.last_pgno = last;
                self.meta.spares[g] = old_last + 1 - new;
                self.write_hash(&HashPage::empty(last))?;
            }
        }
        // The new bucket's page must lie inside the file. Open checks only the buckets in
        // use; a hostile meta can name a group reserved before (spares[g] != 0) or a group
        // whose unused buckets fall outside the file, and `bucket_page` would then wrap or
        // point past last_pgno (found by the ndbm_open fuzzer: spares[2] = 0xffffffff put
        // bucket 2 on page 1). Nothing has changed yet unless a group was reserved above,
        // which places the bucket inside the file by construction.
        let g = ceil_log2(u64::from(new) + 1) as usize;
        let page = u64::from(new) + u64::from(self.meta.spares[g.min(NSPARES - 1)]);
        if page == 0 || page > u64::from(self.meta.last_pgno) {
            return Err(self.corrupt(
                96 + 4 * g.min(NSPARES - 1) as u64,
                format!(
                    "spares[{g}] placing bucket {new} on a page in 1..=last_pgno ({}), found page {page}",
                    self.meta.last_pgno
                ),
            ));
        }
        self.meta.max_bucket = new;
        if doubling {
            self.meta.low_mask = self.meta.high_mask;
            self.meta.high_mask = new | self.meta.low_mask;
        }
        self.meta_dirty = true;
        self.split(old, new)
    }

    /// Re-inserts every pair of bucket `old`'s chain, in chain and index order, into the
    /// re-initialised pages of `old` and `new`. A target that runs out of room gets a chain
    /// page (`db_new`); each drained source chain page is freed right away, so the next
    /// allocation may reuse it (ndbm spec §5.1 step 5).
    fn split(&mut self, old: u32, new: u32) -> Result<()> {
        let old_pg = self.meta.bucket_page(old);
        let new_pg = self.meta.bucket_page(new);
        if self.split_in_place(old_pg, new_pg, new)? {
            return Ok(());
        }
        // The source pages are rewritten or freed below: take them out of the decoded-page
        // cache and move their pairs instead of copying them.
        let first_src = self.hash_page(old_pg)?;
        let mut src = self.take_hash(first_src);
        let mut targets = [HashPage::empty(old_pg), HashPage::empty(new_pg)];
        let mut first = true;
        let mut hops = 0u32;
        loop {
            for pair in std::mem::take(&mut src.pairs) {
                let big_key;
                let k: &[u8] = match &pair.key {
                    Item::Data(d) => d,
                    Item::OffPage { pgno, tlen } => {
                        big_key = self.read_big(*pgno, *tlen)?;
                        &big_key
                    }
                };
                let t = usize::from(self.meta.bucket_of(hash(k)) == new);
                if targets[t].free_space(self.pagesize) < pair.size() {
                    let n = self.db_new()?;
                    let mut page = HashPage::empty(n);
                    page.prev = targets[t].pgno;
                    targets[t].next = n;
                    let full = std::mem::replace(&mut targets[t], page);
                    self.write_hash_owned(full)?;
                }
                let off = matches!(pair.key, Item::OffPage { .. });
                let (_, idx) = self.search_as(&targets[t], k, off)?;
                targets[t].pairs.insert(idx, pair);
            }
            let next = src.next;
            if !first {
                self.db_free(src.pgno)?;
            }
            if next == 0 {
                break;
            }
            let pg = self.next_in_chain(&src, &mut hops)?;
            let page = self.hash_page(pg)?;
            src = self.take_hash(page);
            first = false;
        }
        for t in targets {
            self.write_hash_owned(t)?;
        }
        Ok(())
    }
}

/// The item a raw data item of a page accepted by [`page_edit::check_hash_page`] stands for.
fn data_item(d: &[u8], e: super::Endian) -> NewItem<'_> {
    if d[0] == H_KEYDATA {
        NewItem::Data(&d[1..])
    } else {
        NewItem::OffPage {
            pgno: e.u32(&d[4..8]),
            tlen: e.u32(&d[8..12]),
        }
    }
}

impl<F: Store> HashStore<F> {
    /// Reads bucket page `pgno` into `buf` for the raw split; a hole becomes an empty page.
    /// Returns false when the page is not a sorted page of on-page keys.
    fn load_split_page(&mut self, pgno: u32, buf: &mut Vec<u8>) -> Result<bool> {
        let e = self.meta.endian;
        self.read_raw_into(pgno, buf)?;
        if page_edit::header(buf, e).pgno == 0 {
            // ndbm spec §5.1: a hole is an empty bucket page.
            page_edit::init_empty(buf, e, pgno, 0, 0);
            return Ok(true);
        }
        if !page_edit::check_hash_page(buf, pgno, e) {
            return Ok(false);
        }
        let n = page_edit::header(buf, e).entries;
        Ok((0..n)
            .step_by(2)
            .all(|j| page_edit::item(buf, e, j)[0] == H_KEYDATA))
    }

    /// [`Self::split`] over raw page bytes, the same steps in the same order (pairs in
    /// chain and index order, a target chain page allocated when a target is full, each
    /// drained source chain page freed at once), moving item bytes instead of decoding the
    /// pages. Returns false, having changed nothing, when a page of the old bucket's chain
    /// is not a sorted page of on-page keys: the decoding split handles that.
    fn split_in_place(&mut self, old_pg: u32, new_pg: u32, new: u32) -> Result<bool> {
        if !self.in_place {
            return Ok(false);
        }
        let mut src = std::mem::take(&mut self.split_bufs[0]);
        let res = self.split_raw(old_pg, new_pg, new, &mut src);
        self.split_bufs[0] = src;
        res
    }

    fn split_raw(&mut self, old_pg: u32, new_pg: u32, new: u32, src: &mut Vec<u8>) -> Result<bool> {
        let e = self.meta.endian;
        // Check the whole chain before changing anything.
        let mut pg = old_pg;
        let mut hops = 0u32;
        loop {
            if !self.load_split_page(pg, src)? {
                return Ok(false);
            }
            let next = page_edit::header(src, e).next;
            if next == 0 {
                break;
            }
            hops += 1;
            if hops > self.meta.last_pgno {
                return Ok(false);
            }
            pg = next;
        }
        let ps = self.pagesize;
        let mut targets = [
            std::mem::take(&mut self.split_bufs[1]),
            std::mem::take(&mut self.split_bufs[2]),
        ];
        for (t, pgno) in targets.iter_mut().zip([old_pg, new_pg]) {
            t.resize(ps, 0);
            page_edit::init_empty(t, e, pgno, 0, 0);
        }
        let res = self.split_pairs(old_pg, new, src, &mut targets);
        let [a, b] = targets;
        self.split_bufs[1] = a;
        self.split_bufs[2] = b;
        res.map(|()| true)
    }

    /// Moves every pair of the chain starting at `old_pg` into `targets` (pages of buckets
    /// `new & low_mask` and `new`), then writes the targets.
    fn split_pairs(
        &mut self,
        old_pg: u32,
        new: u32,
        src: &mut Vec<u8>,
        targets: &mut [Vec<u8>; 2],
    ) -> Result<()> {
        let e = self.meta.endian;
        let mut pg = old_pg;
        let mut first = true;
        loop {
            // Checked by split_raw: a sorted page of on-page keys (or a hole).
            self.load_split_page(pg, src)?;
            let n = page_edit::header(src, e).entries;
            for i in 0..n / 2 {
                let k = page_edit::item(src, e, 2 * i);
                let d = page_edit::item(src, e, 2 * i + 1);
                let key = &k[1..];
                let t = usize::from(self.meta.bucket_of(hash(key)) == new);
                if page_edit::free_space(&targets[t], e) < k.len() + d.len() + 4 {
                    let n = self.db_new()?;
                    let full = page_edit::header(&targets[t], e).pgno;
                    page_edit::set_next(&mut targets[t], e, n);
                    self.write_split_target(full, &targets[t])?;
                    page_edit::init_empty(&mut targets[t], e, n, full, 0);
                }
                let Some((_, idx)) = super::inplace::search_sorted(&targets[t], e, key) else {
                    return Err(self.corrupt(
                        pg as u64 * self.pagesize as u64,
                        "bucket pages of on-page keys only",
                    ));
                };
                page_edit::insert_pair(
                    &mut targets[t],
                    e,
                    idx,
                    NewItem::Data(key),
                    data_item(d, e),
                );
            }
            let next = page_edit::header(src, e).next;
            if !first {
                self.db_free(pg)?;
            }
            if next == 0 {
                break;
            }
            pg = next;
            first = false;
        }
        for t in targets.iter() {
            let pgno = page_edit::header(t, e).pgno;
            self.write_split_target(pgno, t)?;
        }
        Ok(())
    }

    fn write_split_target(&mut self, pgno: u32, page: &[u8]) -> Result<()> {
        let at = self.page_write_offset(pgno)?;
        self.hash_cache.remove(&pgno);
        self.file.write_at(at, page)
    }
}
