//! In-place edits of a bucket page's raw bytes, the way libdb makes them (ndbm spec §3.3,
//! §3.6, §5.1): `__ham_insertpair` shifts the items at and after the insertion index down
//! by the new pair's size and opens two index slots; `__ham_dpair` shifts the later items
//! up over the removed pair; a same-page value replacement resizes one data item in place.
//!
//! Pure functions over a page-sized `&mut [u8]`: no I/O, no allocation. Given a page
//! accepted by [`check_hash_page`] whose dead bytes are zero ([`zero_dead`] makes them so
//! on a page read from a file), they produce exactly the bytes
//! [`super::page::HashPage::encode`] writes for the edited pair list: live bytes as libdb
//! lays them out, and every dead byte (the free area between the index array and the
//! items, the unused bytes of `H_OFFPAGE` items) zero — libdb leaves stale memory there,
//! pydbm does not. Each edit zeroes the bytes it vacates and reports what it changed.
//!
//! Layout reminder (ndbm spec §3.2/§3.3): header (26 bytes), `inp[entries]` u16 offsets
//! growing up, items packed downward from the end of the page in index order: item `j`
//! occupies `inp[j]..inp[j-1]` (`inp[-1]` = page size); `hf_offset` = `inp[entries-1]`.

use super::page::{HEADER_SIZE, H_KEYDATA, H_OFFPAGE, OFFPAGE_SIZE, P_HASH};
use super::Endian;

/// An item to place on a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewItem<'a> {
    /// `H_KEYDATA`: the bytes themselves.
    Data(&'a [u8]),
    /// `H_OFFPAGE`: a reference to an overflow chain starting at `pgno`, `tlen` bytes long.
    OffPage {
        /// First page of the overflow chain.
        pgno: u32,
        /// Total length of the item.
        tlen: u32,
    },
}

impl NewItem<'_> {
    /// Bytes the item takes on the page (without its index slot).
    pub fn size(&self) -> usize {
        match self {
            NewItem::Data(d) => 1 + d.len(),
            NewItem::OffPage { .. } => OFFPAGE_SIZE,
        }
    }

    fn write(&self, e: Endian, out: &mut [u8]) {
        match self {
            NewItem::Data(d) => {
                out[0] = H_KEYDATA;
                out[1..].copy_from_slice(d);
            }
            NewItem::OffPage { pgno, tlen } => {
                out[0] = H_OFFPAGE;
                // Uninitialised in libdb's files; zero in pydbm's (ndbm spec §4 item 3).
                out[1..4].fill(0);
                out[4..8].copy_from_slice(&e.bytes32(*pgno));
                out[8..12].copy_from_slice(&e.bytes32(*tlen));
            }
        }
    }
}

/// What an edit changed on the page, so the caller writes only that: the header and index
/// array `0..head`, and the item bytes `items`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    /// End of the changed header and index area (from offset 0).
    pub head: usize,
    /// The changed item bytes (possibly empty).
    pub items: std::ops::Range<usize>,
}

/// The header fields of a bucket page that the edits read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawHashHeader {
    /// The page's own number (0 for a hole).
    pub pgno: u32,
    /// Previous page of the bucket chain.
    pub prev: u32,
    /// Next page of the bucket chain.
    pub next: u32,
    /// Number of items (twice the number of pairs).
    pub entries: usize,
}

/// Reads the header fields of page `b`.
pub fn header(b: &[u8], e: Endian) -> RawHashHeader {
    RawHashHeader {
        pgno: e.u32(&b[8..12]),
        prev: e.u32(&b[12..16]),
        next: e.u32(&b[16..20]),
        entries: e.u16(&b[20..22]) as usize,
    }
}

fn slot(b: &[u8], e: Endian, j: usize) -> usize {
    let s = HEADER_SIZE + 2 * j;
    e.u16(&b[s..s + 2]) as usize
}

fn set_slot(b: &mut [u8], e: Endian, j: usize, v: usize) {
    let s = HEADER_SIZE + 2 * j;
    b[s..s + 2].copy_from_slice(&e.bytes16(v as u16));
}

/// Where item `j`'s bytes end: the page size for item 0, else item `j - 1`'s offset.
fn item_end(b: &[u8], e: Endian, j: usize) -> usize {
    if j == 0 {
        b.len()
    } else {
        slot(b, e, j - 1)
    }
}

/// Item `j`'s bytes (type byte first) on a page accepted by [`check_hash_page`].
pub fn item(b: &[u8], e: Endian, j: usize) -> &[u8] {
    &b[slot(b, e, j)..item_end(b, e, j)]
}

/// Offset of the lowest item (`hf_offset` of a page accepted by [`check_hash_page`]).
fn items_start(b: &[u8], e: Endian, entries: usize) -> usize {
    item_end(b, e, entries)
}

/// `P_FREESPACE` of a page accepted by [`check_hash_page`]:
/// `hf_offset - (26 + 2 * entries)`.
pub fn free_space(b: &[u8], e: Endian) -> usize {
    let n = header(b, e).entries;
    items_start(b, e, n) - (HEADER_SIZE + 2 * n)
}

/// Whether page `b` is a sorted bucket page numbered `pgno` that [`super::page::Page::parse`]
/// accepts as such: even item count, offsets strictly descending inside the page and above
/// the index array, every item `H_KEYDATA` or a 12-byte `H_OFFPAGE`, `hf_offset` at the
/// lowest item. A page failing this is left to the decoding path (which reports it).
pub fn check_hash_page(b: &[u8], pgno: u32, e: Endian) -> bool {
    let h = header(b, e);
    if h.pgno != pgno || b[25] != P_HASH || !h.entries.is_multiple_of(2) || b.len() > 1 << 16 {
        return false;
    }
    let inp_end = HEADER_SIZE + 2 * h.entries;
    if inp_end > b.len() {
        return false;
    }
    let mut end = b.len();
    for j in 0..h.entries {
        let off = slot(b, e, j);
        if off < inp_end || off >= end {
            return false;
        }
        match b[off] {
            H_KEYDATA => {}
            H_OFFPAGE if end - off == OFFPAGE_SIZE => {}
            _ => return false,
        }
        end = off;
    }
    h.entries == 0 || e.u16(&b[22..24]) as usize == end
}

/// Writes the canonical header of a bucket page (LSN `(0, 1)`, level 0, type `P_HASH`) with
/// the given links, item count and `hf_offset`.
fn write_header(b: &mut [u8], e: Endian, h: RawHashHeader, hf_offset: usize) {
    // ndbm spec §3.2: LSN (0, 1) = "not logged".
    b[0..4].copy_from_slice(&e.bytes32(0));
    b[4..8].copy_from_slice(&e.bytes32(1));
    b[8..12].copy_from_slice(&e.bytes32(h.pgno));
    b[12..16].copy_from_slice(&e.bytes32(h.prev));
    b[16..20].copy_from_slice(&e.bytes32(h.next));
    b[20..22].copy_from_slice(&e.bytes16(h.entries as u16));
    // hf_offset is a u16: a 65536-byte page stores 0 there, as libdb does.
    b[22..24].copy_from_slice(&e.bytes16(hf_offset as u16));
    b[24] = 0;
    b[25] = P_HASH;
}

/// `P_INIT` of an empty bucket page `pgno` with chain links `prev`/`next`; the body is
/// zero-filled (libdb leaves whatever the buffer held).
pub fn init_empty(b: &mut [u8], e: Endian, pgno: u32, prev: u32, next: u32) {
    b.fill(0);
    let len = b.len();
    write_header(
        b,
        e,
        RawHashHeader {
            pgno,
            prev,
            next,
            entries: 0,
        },
        len,
    );
}

/// Sets the `next` link of a page accepted by [`check_hash_page`] (rewriting the header
/// canonically, as every edit does).
pub fn set_next(b: &mut [u8], e: Endian, next: u32) -> Changed {
    let mut h = header(b, e);
    h.next = next;
    let hf = items_start(b, e, h.entries);
    write_header(b, e, h, hf);
    Changed {
        head: HEADER_SIZE,
        items: 0..0,
    }
}

/// Zeroes the dead bytes of a page accepted by [`check_hash_page`], before editing a page
/// read from a file: the free area between
/// the index array and the items, and the three unused bytes of each `H_OFFPAGE` item
/// (what [`super::page::HashPage::encode`] writes as zeros). Bytes already zero are not
/// written. Returns whether any byte changed: only on pages whose dead bytes hold stale
/// data, which pydbm's edits never leave.
pub fn zero_dead(b: &mut [u8], e: Endian) -> bool {
    let n = header(b, e).entries;
    let free = HEADER_SIZE + 2 * n..items_start(b, e, n);
    let mut changed = false;
    if !is_zero(&b[free.clone()]) {
        b[free].fill(0);
        changed = true;
    }
    for j in 0..n {
        let off = slot(b, e, j);
        if b[off] == H_OFFPAGE && b[off + 1..off + 4] != [0, 0, 0] {
            b[off + 1..off + 4].fill(0);
            changed = true;
        }
    }
    changed
}

/// Whether every byte of `s` is zero (32 bytes per comparison).
fn is_zero(s: &[u8]) -> bool {
    let mut blocks = s.chunks_exact(32);
    for block in &mut blocks {
        if block != [0u8; 32] {
            return false;
        }
    }
    blocks.remainder().iter().all(|&x| x == 0)
}

/// `__ham_insertpair`: inserts `key`/`data` as pair `index` (items `2*index`, `2*index+1`)
/// of a page accepted by [`check_hash_page`] with at least `key.size() + data.size() + 4`
/// bytes of free space: the items from that index on move down by the pair's size, their
/// index slots move up by two.
pub fn insert_pair(b: &mut [u8], e: Endian, index: usize, key: NewItem, data: NewItem) -> Changed {
    let mut h = header(b, e);
    let n = h.entries;
    let j = 2 * index;
    debug_assert!(j <= n && free_space(b, e) >= key.size() + data.size() + 4);
    let (ks, total) = (key.size(), key.size() + data.size());
    let at = item_end(b, e, j);
    let hf = items_start(b, e, n);
    // Items j..n occupy hf..at: move them down to make room directly below item j-1.
    b.copy_within(hf..at, hf - total);
    for i in (j..n).rev() {
        let off = slot(b, e, i);
        set_slot(b, e, i + 2, off - total);
    }
    key.write(e, &mut b[at - ks..at]);
    data.write(e, &mut b[at - total..at - ks]);
    set_slot(b, e, j, at - ks);
    set_slot(b, e, j + 1, at - total);
    h.entries = n + 2;
    write_header(b, e, h, hf - total);
    Changed {
        head: HEADER_SIZE + 2 * (n + 2),
        items: hf - total..at,
    }
}

/// `__ham_dpair`: removes pair `index` from a page accepted by [`check_hash_page`]; the
/// later items move up over it, their index slots down by two. The vacated bytes and
/// index slots become dead (zero).
pub fn delete_pair(b: &mut [u8], e: Endian, index: usize) -> Changed {
    let mut h = header(b, e);
    let n = h.entries;
    let j = 2 * index;
    debug_assert!(j + 2 <= n);
    let at = item_end(b, e, j);
    let low = slot(b, e, j + 1);
    let total = at - low;
    let hf = items_start(b, e, n);
    // Items j+2..n occupy hf..low: move them up to end directly below item j-1.
    b.copy_within(hf..low, hf + total);
    for i in j + 2..n {
        let off = slot(b, e, i);
        set_slot(b, e, i - 2, off + total);
    }
    // The vacated bytes and the two last index slots are dead now: zero.
    b[hf..hf + total].fill(0);
    let slots = HEADER_SIZE + 2 * (n - 2);
    b[slots..slots + 4].fill(0);
    h.entries = n - 2;
    write_header(b, e, h, hf + total);
    Changed {
        head: HEADER_SIZE + 2 * n,
        items: hf..at,
    }
}

/// Replaces the data item of pair `index` of a page accepted by [`check_hash_page`] with
/// an on-page `value` (the same-page branch of `__ham_replpair`, ndbm spec §5.1 step 3):
/// the live layout equals deleting the pair and inserting it again at the same index. The
/// caller checked that a growth fits in the free space.
pub fn replace_data(b: &mut [u8], e: Endian, index: usize, value: &[u8]) -> Changed {
    let mut h = header(b, e);
    let n = h.entries;
    let j = 2 * index + 1;
    let at = item_end(b, e, j);
    let old = at - slot(b, e, j);
    let new = 1 + value.len();
    let hf = items_start(b, e, n);
    let low = at - old;
    // Items j+1..n occupy hf..low and move by old - new.
    let new_hf = hf + old - new;
    debug_assert!(new <= old || new - old <= free_space(b, e));
    b.copy_within(hf..low, new_hf);
    if new_hf > hf {
        // A shrink vacates bytes below the items: dead, zero.
        b[hf..new_hf].fill(0);
    }
    for i in j + 1..n {
        let off = slot(b, e, i);
        set_slot(b, e, i, off + old - new);
    }
    NewItem::Data(value).write(e, &mut b[at - new..at]);
    set_slot(b, e, j, at - new);
    h.entries = n;
    write_header(b, e, h, new_hf);
    Changed {
        head: HEADER_SIZE + 2 * n,
        items: hf.min(new_hf)..at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ndbm::page::{HashPage, Item, Page, Pair};
    use proptest::prelude::*;

    fn new_item(i: &Item) -> NewItem<'_> {
        match i {
            Item::Data(d) => NewItem::Data(d),
            Item::OffPage { pgno, tlen } => NewItem::OffPage {
                pgno: *pgno,
                tlen: *tlen,
            },
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(usize, Pair),
        Delete(usize),
        Replace(usize, Vec<u8>),
        Next(u32),
    }

    fn item_strategy() -> impl Strategy<Value = Item> {
        prop_oneof![
            8 => proptest::collection::vec(any::<u8>(), 0..300).prop_map(Item::Data),
            1 => (1u32..1000, 1025u32..100_000).prop_map(|(pgno, tlen)| Item::OffPage { pgno, tlen }),
        ]
    }

    fn op_strategy() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (any::<usize>(), item_strategy(), item_strategy())
                .prop_map(|(i, key, data)| Op::Insert(i, Pair { key, data })),
            3 => any::<usize>().prop_map(Op::Delete),
            3 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 0..300))
                .prop_map(|(i, v)| Op::Replace(i, v)),
            1 => (0u32..50).prop_map(Op::Next),
        ]
    }

    proptest! {
        /// Random insert/delete/replace/relink sequences: the page edited in place stays
        /// byte-identical to the decoded page model encoded from scratch (dead bytes zero
        /// included), in both byte orders, also when every dead byte holds stale data
        /// before each edit (as libdb's pages do), and the reported ranges cover every
        /// changed byte.
        #[test]
        fn in_place_edits_equal_decode_and_encode(
            ops in proptest::collection::vec(op_strategy(), 1..120),
            big_endian in any::<bool>(),
            garbage in any::<bool>(),
        ) {
            let e = if big_endian { Endian::Big } else { Endian::Little };
            let ps = 4096;
            let mut model = HashPage::empty(5);
            model.prev = 3;
            let mut raw = model.encode(e, ps);
            for (step, op) in ops.into_iter().enumerate() {
                if garbage {
                    // Stale bytes in every dead byte, as libdb leaves them.
                    let n = header(&raw, e).entries;
                    let free = HEADER_SIZE + 2 * n..items_start(&raw, e, n);
                    for i in free {
                        raw[i] = (i * 7 + step) as u8 | 1;
                    }
                    for j in 0..n {
                        let off = slot(&raw, e, j);
                        if raw[off] == H_OFFPAGE {
                            raw[off + 1..off + 4].copy_from_slice(&[0xAA, 0xBB, step as u8]);
                        }
                    }
                }
                prop_assert!(check_hash_page(&raw, 5, e));
                let before = raw.clone();
                // What the store does to a page it read before editing it.
                let stale = zero_dead(&mut raw, e);
                let changed = match op {
                    Op::Insert(i, pair) => {
                        if free_space(&raw, e) < pair.size() {
                            continue;
                        }
                        let i = i % (model.pairs.len() + 1);
                        let c = insert_pair(&mut raw, e, i, new_item(&pair.key), new_item(&pair.data));
                        model.pairs.insert(i, pair);
                        c
                    }
                    Op::Delete(i) => {
                        if model.pairs.is_empty() {
                            continue;
                        }
                        let i = i % model.pairs.len();
                        let c = delete_pair(&mut raw, e, i);
                        model.pairs.remove(i);
                        c
                    }
                    Op::Replace(i, v) => {
                        if model.pairs.is_empty() {
                            continue;
                        }
                        let i = i % model.pairs.len();
                        let old = model.pairs[i].data.size();
                        if 1 + v.len() > old && 1 + v.len() - old > free_space(&raw, e) {
                            continue;
                        }
                        let c = replace_data(&mut raw, e, i, &v);
                        model.pairs[i].data = Item::Data(v);
                        c
                    }
                    Op::Next(n) => {
                        model.next = n;
                        set_next(&mut raw, e, n)
                    }
                };
                // Writing only the reported ranges over the old bytes gives the new page
                // (all of it when stale dead bytes were zeroed).
                let mut applied = before;
                if stale {
                    applied.copy_from_slice(&raw);
                } else {
                    applied[..changed.head].copy_from_slice(&raw[..changed.head]);
                    applied[changed.items.clone()].copy_from_slice(&raw[changed.items.clone()]);
                }
                prop_assert_eq!(&applied, &raw);
                prop_assert_eq!(free_space(&raw, e), model.free_space(ps));
                prop_assert_eq!(&raw, &model.encode(e, ps));
                prop_assert_eq!(Page::parse(&raw, 5, e).ok(), Some(Page::Hash(model.clone())));
            }
        }
    }

    /// A page the decoding path would reject is not accepted for in-place editing.
    #[test]
    fn check_refuses_what_parse_refuses() {
        let e = Endian::Little;
        let mut page = HashPage::empty(4);
        page.pairs.push(Pair {
            key: Item::Data(b"k".to_vec()),
            data: Item::Data(b"v".to_vec()),
        });
        let good = page.encode(e, 4096);
        assert!(check_hash_page(&good, 4, e));
        assert!(!check_hash_page(&good, 5, e), "wrong page number");
        let mut bad = good.clone();
        bad[25] = 2; // unsorted
        assert!(!check_hash_page(&bad, 4, e));
        let mut bad = good.clone();
        bad[20] = 3; // odd entries
        assert!(!check_hash_page(&bad, 4, e));
        let mut bad = good.clone();
        bad[26] = 0x10; // offset into the index array
        bad[27] = 0;
        assert!(!check_hash_page(&bad, 4, e));
        let mut bad = good.clone();
        bad[4094] = 9; // unknown item type
        assert!(!check_hash_page(&bad, 4, e));
        let mut bad = good;
        bad[22] = 0; // hf_offset not at the lowest item
        assert!(!check_hash_page(&bad, 4, e));
    }
}
