//! Space allocation (gdbm spec §11) and the avail stack (§6.3), on an open handle.
//!
//! Every choice here (best fit, table order, which table a freed piece goes to, when half
//! of the header table is pushed to a stack block) decides bytes in the file, so the rules
//! follow libgdbm 1.23 exactly.

use pydbm_engine::Result;

use super::avail::{self, AvailBlock, AvailElem};
use super::bucket::BUCKET_AVAIL;
use super::handle::GdbmFile;
use super::layout::{GdbmCode, Malformed};
use pydbm_engine::Store;

impl<S: Store> GdbmFile<S> {
    fn header_full(&self) -> bool {
        self.header.avail.count as usize >= self.header.avail.table.len()
    }

    fn avail_err(&self, m: Malformed) -> pydbm_engine::Error {
        m.at(self.st.path())
    }

    /// `put` into the header table (spec §6.2).
    fn header_put(&mut self, e: AvailElem, merge: bool) -> Result<()> {
        let a = &mut self.header.avail;
        avail::put(&mut a.table, &mut a.count, e, merge).map_err(|m| self.avail_err(m))
    }

    /// `put` into the current bucket's table.
    fn bucket_put(&mut self, e: AvailElem, merge: bool) -> Result<()> {
        let b = self.cur_mut();
        let r = avail::put(&mut b.avail, &mut b.av_count, e, merge);
        r.map_err(|m| self.avail_err(m))
    }

    /// alloc(n) (spec §11.1): best fit from the current bucket, else (after maybe popping
    /// a stack block) the header table, else the end of the file. The remainder is freed.
    pub(super) fn alloc(&mut self, n: i32) -> Result<i64> {
        let b = self.cur_mut();
        let mut chunk = avail::take(&mut b.avail, &mut b.av_count, n);
        if chunk.is_none() {
            if self.header.avail.count <= (self.header.avail.size >> 1)
                && self.header.avail.next_block != 0
            {
                self.pop_avail_block()?;
            }
            let a = &mut self.header.avail;
            chunk = avail::take(&mut a.table, &mut a.count, n);
            if chunk.is_none() {
                chunk = Some(self.get_block(n)?);
            }
            self.header_changed = true;
        }
        let c = chunk.expect("chunk was just set");
        self.free(c.adr + n as i64, c.size.wrapping_sub(n))?;
        Ok(c.adr)
    }

    /// get_block(n) (spec §11.4): whole blocks at the end of the file.
    fn get_block(&mut self, n: i32) -> Result<AvailElem> {
        let bs = self.header.block_size.max(1) as i64;
        // Whole blocks covering n (at least one).
        let size = ((n.max(1) as i64 + bs - 1) / bs) * bs;
        let size = i32::try_from(size).map_err(|_| {
            pydbm_engine::Error::BadArgument(format!(
                "an allocation of {n} bytes rounds up to {size}, past gdbm's 2 GiB limit"
            ))
        })?;
        let adr = self.header.next_block;
        let next = adr
            .checked_add(size as i64)
            .filter(|&v| v <= i64::MAX / 2)
            .ok_or_else(|| {
                Malformed::new(
                    GdbmCode::BadHeader,
                    32,
                    "next_block small enough to grow the file",
                )
                .at(self.st.path())
            })?;
        self.header.next_block = next;
        self.header_changed = true;
        Ok(AvailElem { size, adr })
    }

    /// free(adr, n) (spec §11.2), then `adjust_bucket_avail` when the header changed.
    pub(super) fn free(&mut self, adr: i64, n: i32) -> Result<()> {
        if n <= 4 {
            return Ok(());
        }
        let e = AvailElem { size: n, adr };
        let merge = self.coalesce;
        if n >= self.header.block_size
            || self.central_free
            || self.cur().av_count as usize >= BUCKET_AVAIL
        {
            if self.header_full() {
                self.push_avail_block()?;
            }
            self.header_put(e, merge)?;
            self.header_changed = true;
        } else {
            self.bucket_put(e, merge)?;
        }
        if self.header_changed {
            self.adjust_bucket_avail()?;
        }
        Ok(())
    }

    /// adjust_bucket_avail (spec §11.2 step 5).
    fn adjust_bucket_avail(&mut self) -> Result<()> {
        let merge = self.coalesce;
        if self.cur().av_count < 2 {
            if self.header.avail.count > 0 {
                self.header.avail.count -= 1;
                let e = self.header.avail.table[self.header.avail.count as usize];
                self.bucket_put(e, merge)?;
            }
        } else {
            while self.cur().av_count > 4 && !self.header_full() {
                let b = self.cur_mut();
                let e = avail::take(&mut b.avail, &mut b.av_count, 0)
                    .expect("bucket table has > 4 entries");
                self.header_put(e, merge)?;
            }
        }
        Ok(())
    }

    /// Size in bytes of an avail-stack block (spec §6.3 step 1).
    fn stack_block_len(&self) -> usize {
        let l = self.header.layout;
        (self.header.avail.size.max(0) as usize * l.avail_elem()) / 2
            + l.avail_head()
            + l.avail_elem()
    }

    /// push_avail_block (spec §6.3): half of the header table goes to a new stack block.
    fn push_avail_block(&mut self) -> Result<()> {
        let l = self.header.layout;
        let len = self.stack_block_len();
        let slots = (len - l.avail_head()) / l.avail_elem();
        let a = &mut self.header.avail;
        let loc = match avail::take(&mut a.table, &mut a.count, len as i32) {
            Some(e) => e,
            None => self.get_block(len as i32)?,
        };
        let mut block = AvailBlock {
            size: self.header.avail.size,
            count: 0,
            next_block: self.header.avail.next_block,
            table: vec![AvailElem::default(); slots],
        };
        self.header.avail.next_block = loc.adr;
        let count = self.header.avail.count as usize;
        for i in 1..count {
            let e = self.header.avail.table[i];
            if i % 2 == 1 {
                if (block.count as usize) < slots {
                    block.table[block.count as usize] = e;
                    block.count += 1;
                }
            } else {
                self.header.avail.table[i / 2] = e;
            }
        }
        self.header.avail.count -= block.count;
        self.free(loc.adr + len as i64, loc.size.wrapping_sub(len as i32))?;
        let mut raw = vec![0u8; len];
        block.encode(l, &mut raw, 0);
        self.st.write_at(loc.adr as u64, &raw)
    }

    /// A popped stack block must not link to itself, and its own bytes must not overlap
    /// space the header table or the block itself lists as free: otherwise a later pop
    /// reads it again (a cycle) and one region is handed out twice.
    fn check_popped_block(&mut self, block: &AvailBlock, at: i64, len: usize) -> Result<()> {
        let end = at.saturating_add(len as i64);
        let overlaps =
            |e: &AvailElem| e.size > 0 && e.adr < end && at < e.adr.saturating_add(e.size as i64);
        let hc = (self.header.avail.count.max(0) as usize).min(self.header.avail.table.len());
        let bc = (block.count.max(0) as usize).min(block.table.len());
        let bad = if block.next_block == at {
            Some("an avail-stack block whose next_block is not its own address".to_string())
        } else {
            self.header.avail.table[..hc]
                .iter()
                .chain(&block.table[..bc])
                .find(|e| overlaps(e))
                .map(|e| {
                    format!(
                        "an avail-stack block ({len} bytes at {at}) outside the free space it \
                         lists (overlaps {} bytes at {})",
                        e.size, e.adr
                    )
                })
        };
        match bad {
            Some(expected) => {
                self.need_recovery = true;
                Err(Malformed::new(GdbmCode::BadAvail, at as u64, expected).at(self.st.path()))
            }
            None => Ok(()),
        }
    }

    /// pop_avail_block (spec §6.3): the top stack block's entries go back into the header
    /// table (merging), and the block's own space is freed.
    fn pop_avail_block(&mut self) -> Result<()> {
        if self.header_full() {
            self.push_avail_block()?;
        }
        let l = self.header.layout;
        let len = self.stack_block_len();
        let slots = (len - l.avail_head()) / l.avail_elem();
        let at = self.header.avail.next_block;
        if at < self.header.bucket_size as i64
            || (at as u64).saturating_add(len as u64) > self.st.len()
        {
            self.need_recovery = true;
            return Err(Malformed::new(
                GdbmCode::BadAvail,
                l.header_avail_offset() as u64 + 8,
                format!("an avail-stack block of {len} bytes inside the file (at {at})"),
            )
            .at(self.st.path()));
        }
        let mut raw = vec![0u8; len];
        self.st.read_at(at as u64, &mut raw)?;
        let block =
            AvailBlock::parse(l, &raw, 0, slots, at as u64).map_err(|m| m.at(self.st.path()))?;
        if let Err(m) = block.validate(
            self.header.bucket_size as i64,
            self.header.next_block,
            at as u64,
        ) {
            self.need_recovery = true;
            return Err(m.at(self.st.path()));
        }
        self.check_popped_block(&block, at, len)?;
        for i in 0..block.count as usize {
            if self.header_full() {
                self.push_avail_block()?;
            }
            self.header_put(block.table[i], true)?;
        }
        self.header.avail.next_block = block.next_block;
        self.header_changed = true;
        if self.header_full() {
            self.push_avail_block()?;
        }
        self.header_put(
            AvailElem {
                size: len as i32,
                adr: at,
            },
            true,
        )
    }
}
