//! Free-space ("avail") tables and avail-stack blocks (gdbm spec §6).
//!
//! A table is a slice of [`AvailElem`] with a separate live count: entries `[0, count)`
//! are live and sorted by size; entries past `count` are stale leftovers that are still
//! written to disk (spec §12.6), so the primitives here reproduce libgdbm's exact shifts.

use super::layout::{GdbmCode, Layout, Malformed};

/// One free piece of the file: `size` bytes at `adr` (spec §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct AvailElem {
    /// Size in bytes.
    pub size: i32,
    /// Absolute file address.
    pub adr: i64,
}

impl AvailElem {
    /// Decodes one element at `pos` of `buf` (caller guarantees bounds).
    pub fn parse(l: Layout, buf: &[u8], pos: usize) -> AvailElem {
        AvailElem {
            size: l.get_i32(buf, pos),
            adr: l.get_off(buf, pos + l.avail_adr_offset()),
        }
    }
    /// Encodes at `pos` of `buf`, padding zeroed.
    pub fn encode(self, l: Layout, buf: &mut [u8], pos: usize) {
        l.put_i32(buf, pos, self.size);
        let adr = pos + l.avail_adr_offset();
        buf[pos + 4..adr].fill(0);
        l.put_off(buf, adr, self.adr);
    }
    /// End address (saturating; hostile files may hold huge values).
    pub fn end(self) -> i64 {
        self.adr.saturating_add(self.size as i64)
    }
}

/// libgdbm's binary search over a size-sorted table (spec §6.2 `lookup`): returns the
/// index of the first equal element it probes, or the insertion point.
pub fn lookup(table: &[AvailElem], count: usize, size: i32) -> usize {
    let mut start = 0usize;
    let mut n = count.min(table.len());
    while n > 0 {
        let pivot = start + n / 2;
        if table[pivot].size == size {
            return pivot;
        }
        if size > table[pivot].size {
            start = pivot + 1;
            n -= 1;
        }
        n /= 2;
    }
    start
}

fn remove_at(table: &mut [AvailElem], count: &mut i32, i: usize) {
    let c = *count as usize;
    table.copy_within(i + 1..c, i);
    *count -= 1;
}

/// Best-fit removal (spec §6.2 `take` / `get_elem`): the entry `lookup(size)` finds, or
/// `None` when it is past the live entries. Leaves the old last entry as a stale copy.
pub fn take(table: &mut [AvailElem], count: &mut i32, size: i32) -> Option<AvailElem> {
    let c = (*count).clamp(0, table.len() as i32) as usize;
    *count = c as i32;
    let i = lookup(table, c, size);
    if i >= c {
        return None;
    }
    let e = table[i];
    remove_at(table, count, i);
    Some(e)
}

/// Inserts a free piece (spec §6.2 `put` / `_gdbm_put_av_elem`): pieces of ≤ 4 bytes are
/// dropped; with `merge`, adjacent live pieces are absorbed first. Fails (without changing
/// anything) when the table is already full — callers push or check first.
pub fn put(
    table: &mut [AvailElem],
    count: &mut i32,
    mut elem: AvailElem,
    merge: bool,
) -> Result<(), Malformed> {
    if elem.size <= 4 {
        return Ok(());
    }
    *count = (*count).clamp(0, table.len() as i32);
    if merge {
        let mut i: isize = 0;
        while i < *count as isize {
            let iu = i as usize;
            if table[iu].end() == elem.adr {
                elem.adr = table[iu].adr;
                elem.size = elem.size.wrapping_add(table[iu].size);
                remove_at(table, count, iu);
                i -= 1;
            }
            // gdbm spec §6.2: after a merge at 0 libgdbm tests index -1 (aliases the
            // table's head); that never matches in practice, so it is treated as no match.
            if i >= 0 {
                let iu = i as usize;
                if elem.end() == table[iu].adr {
                    elem.size = elem.size.wrapping_add(table[iu].size);
                    remove_at(table, count, iu);
                    i -= 1;
                }
            }
            i += 1;
        }
    }
    let c = *count as usize;
    if c >= table.len() {
        return Err(Malformed::new(
            GdbmCode::BadAvail,
            0,
            "room in a full avail table",
        ));
    }
    let idx = lookup(table, c, elem.size);
    table.copy_within(idx..c, idx + 1);
    table[idx] = elem;
    *count += 1;
    Ok(())
}

/// Whether the live entries are sorted by size (libgdbm re-sorts otherwise, spec §8).
pub fn is_sorted(table: &[AvailElem], count: usize) -> bool {
    table[..count.min(table.len())]
        .windows(2)
        .all(|w| w[0].size <= w[1].size)
}

/// An avail block: the header's table (spec §3) or a block of the avail stack (§6.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailBlock {
    /// The `size` field as stored (the header's capacity, also in stack blocks).
    pub size: i32,
    /// Live entries.
    pub count: i32,
    /// Address of the next (older) stack block; 0 = none.
    pub next_block: i64,
    /// All slots the block has room for, live and stale.
    pub table: Vec<AvailElem>,
}

impl AvailBlock {
    /// Decodes an avail block of `slots` entries at `pos` in `buf`. `file_offset` is the
    /// buffer's file address (for error offsets). Fails when `buf` is too short.
    pub fn parse(
        l: Layout,
        buf: &[u8],
        pos: usize,
        slots: usize,
        file_offset: u64,
    ) -> Result<AvailBlock, Malformed> {
        let need = pos + l.avail_head() + slots * l.avail_elem();
        if buf.len() < need {
            return Err(Malformed::new(
                GdbmCode::BadAvail,
                file_offset + pos as u64,
                format!("an avail block of {} bytes", need - pos),
            ));
        }
        let size = l.get_i32(buf, pos);
        let count = l.get_i32(buf, pos + 4);
        let next_block = l.get_off(buf, pos + 8);
        let base = pos + l.avail_head();
        let table = (0..slots)
            .map(|i| AvailElem::parse(l, buf, base + i * l.avail_elem()))
            .collect();
        Ok(AvailBlock {
            size,
            count,
            next_block,
            table,
        })
    }

    /// Encodes at `pos` of `buf` (which must hold head + all slots).
    pub fn encode(&self, l: Layout, buf: &mut [u8], pos: usize) {
        l.put_i32(buf, pos, self.size);
        l.put_i32(buf, pos + 4, self.count);
        // The head is `int, int, off_t`: 16 bytes (no padding at either alignment) or 12.
        l.put_off(buf, pos + 8, self.next_block);
        let base = pos + l.avail_head();
        for (i, e) in self.table.iter().enumerate() {
            e.encode(l, buf, base + i * l.avail_elem());
        }
    }

    /// Checks `0 ≤ count ≤ slots` and that every live entry lies in `[min_adr, next_block]`
    /// (spec §18 rule 6). `at` is the block's file address.
    pub fn validate(&self, min_adr: i64, file_end: i64, at: u64) -> Result<(), Malformed> {
        if self.count < 0 || self.count as usize > self.table.len() {
            return Err(Malformed::new(
                GdbmCode::BadAvail,
                at + 4,
                format!(
                    "avail count in 0..={}, found {}",
                    self.table.len(),
                    self.count
                ),
            ));
        }
        for (i, e) in self.table[..self.count as usize].iter().enumerate() {
            if e.adr < min_adr || e.size < 0 || e.end() > file_end {
                return Err(Malformed::new(
                    GdbmCode::BadAvail,
                    at,
                    format!(
                        "avail entry {i} inside the file ({} bytes at {} lies outside {min_adr}..{file_end})",
                        e.size, e.adr
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(size: i32, adr: i64) -> AvailElem {
        AvailElem { size, adr }
    }

    #[test]
    fn take_is_best_fit_and_leaves_stale_copy() {
        let mut t = vec![e(10, 100), e(20, 200), e(30, 300), AvailElem::default()];
        let mut c = 3;
        assert_eq!(take(&mut t, &mut c, 15), Some(e(20, 200)));
        assert_eq!(c, 2);
        assert_eq!(t, vec![e(10, 100), e(30, 300), e(30, 300), e(0, 0)]);
        assert_eq!(take(&mut t, &mut c, 31), None);
    }

    #[test]
    fn put_sorted_drops_tiny_and_merges() {
        let mut t = vec![AvailElem::default(); 4];
        let mut c = 0;
        put(&mut t, &mut c, e(30, 300), false).unwrap();
        put(&mut t, &mut c, e(10, 100), false).unwrap();
        put(&mut t, &mut c, e(4, 50), false).unwrap();
        assert_eq!(c, 2);
        assert_eq!(&t[..2], &[e(10, 100), e(30, 300)]);
        put(&mut t, &mut c, e(190, 110), true).unwrap();
        assert_eq!(c, 1);
        assert_eq!(t[0], e(230, 100));
        let mut full = vec![e(10, 1); 1];
        let mut c1 = 1;
        assert!(put(&mut full, &mut c1, e(10, 5), false).is_err());
    }

    #[test]
    fn lookup_probe_order() {
        let t = vec![e(5, 0), e(5, 1), e(5, 2), e(5, 3)];
        // spec §6.2: stops at the first equal element it probes (pivot 2).
        assert_eq!(lookup(&t, 4, 5), 2);
        assert_eq!(lookup(&t, 4, 6), 4);
        assert_eq!(lookup(&t, 4, 0), 0);
    }
}
