//! Page allocation for the hash store: `__db_new` (LIFO free list first, else extend the
//! file), `__db_free` (push on the free list, or truncate when freeing the last page), and
//! overflow chains for big items (`__db_poff`, `__db_doff`). ndbm spec §3.5, §3.6.

use pydbm_engine::Result;

use super::page::{OverflowPage, Page, HEADER_SIZE};
use super::store::HashStore;
use pydbm_engine::Store;

impl<F: Store> HashStore<F> {
    /// `__db_new`: the head of the free list, or `last_pgno + 1`.
    pub(super) fn db_new(&mut self) -> Result<u32> {
        self.meta_dirty = true;
        let head = self.meta.free;
        if head != 0 {
            match self.read_page(head)? {
                Page::Free { next, .. } => {
                    self.meta.free = next;
                    return Ok(head);
                }
                _ => {
                    return Err(self.corrupt(
                        head as u64 * self.pagesize as u64 + 25,
                        format!("free-list page {head} of type 0 (P_INVALID)"),
                    ))
                }
            }
        }
        if self.meta.last_pgno >= u32::MAX - 1 {
            return Err(self.corrupt(32, "room for another page (last_pgno below 2^32 - 1)"));
        }
        self.meta.last_pgno += 1;
        Ok(self.meta.last_pgno)
    }

    /// `__db_free`: the last page of the file is truncated away (`last_pgno--`); any other
    /// page becomes the new free-list head, its body zero-filled (libdb keeps old data).
    pub(super) fn db_free(&mut self, pgno: u32) -> Result<()> {
        self.meta_dirty = true;
        if pgno == self.meta.last_pgno {
            // ndbm spec §3.6: freeing the file's last page truncates the file.
            self.truncate_pages(pgno)?;
            self.meta.last_pgno -= 1;
            return Ok(());
        }
        let bytes = Page::encode_free(pgno, self.meta.free, self.meta.endian, self.pagesize);
        self.write_other(pgno, &bytes)?;
        self.meta.free = pgno;
        Ok(())
    }

    /// `__db_poff`: stores `bytes` in a new overflow chain, `pagesize - 26` bytes per page,
    /// pages allocated in chain order; returns the first page.
    pub(super) fn put_big(&mut self, bytes: &[u8]) -> Result<u32> {
        let chunk = self.pagesize - HEADER_SIZE;
        let mut pgnos = Vec::with_capacity(bytes.len().div_ceil(chunk));
        for _ in bytes.chunks(chunk) {
            pgnos.push(self.db_new()?);
        }
        for (i, data) in bytes.chunks(chunk).enumerate() {
            let page = OverflowPage {
                pgno: pgnos[i],
                prev: if i == 0 { 0 } else { pgnos[i - 1] },
                next: pgnos.get(i + 1).copied().unwrap_or(0),
                refcount: 1,
                data: data.to_vec(),
            };
            let img = page.encode(self.meta.endian, self.pagesize);
            self.write_other(page.pgno, &img)?;
        }
        Ok(pgnos[0])
    }

    /// `__db_doff`: frees every page of the overflow chain starting at `pgno`, in chain order.
    pub(super) fn free_big(&mut self, mut pgno: u32) -> Result<()> {
        let mut hops = 0u32;
        while pgno != 0 {
            hops += 1;
            if hops > self.meta.last_pgno + 1 {
                return Err(self.corrupt(
                    pgno as u64 * self.pagesize as u64 + 16,
                    "an overflow chain without a loop",
                ));
            }
            let next = match self.read_page(pgno)? {
                Page::Overflow(o) => o.next,
                _ => {
                    return Err(self.corrupt(
                        pgno as u64 * self.pagesize as u64 + 25,
                        format!("an overflow page at page {pgno}"),
                    ))
                }
            };
            self.db_free(pgno)?;
            pgno = next;
        }
        Ok(())
    }
}
