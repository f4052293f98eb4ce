//! Linear-hashing table expansion (`__ham_expand_table`, `__ham_split_page`),
//! ndbm spec §3.4 and §5.1 step 5.

use pydbm_engine::Result;

use super::hash::{ceil_log2, hash};
use super::meta::NSPARES;
use super::page::{HashPage, Item};
use super::pagefile::PageFile;
use super::store::HashStore;

impl<F: PageFile> HashStore<F> {
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
                let Some(last) = old_last.checked_add(new) else {
                    return Err(self.corrupt(32, "room for another group of bucket pages"));
                };
                self.meta.last_pgno = last;
                self.meta.spares[g] = old_last + 1 - new;
                self.write_hash(&HashPage::empty(last))?;
            }
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
