//! Berkeley DB hash-file pages other than the meta page, as plain data with
//! parse/encode functions that do no I/O (ndbm spec §3.2, §3.3, §3.5, §3.6).
//!
//! A bucket page's live layout is canonical given its pair order: items sit contiguously
//! downward from the end of the page in index order. [`HashPage::encode`] writes exactly
//! that and zero-fills every dead byte (free space, stale index slots), which libdb leaves
//! holding stale or uninitialised memory.

use super::Endian;

/// Size of the generic page header.
pub const HEADER_SIZE: usize = 26;
/// `P_INVALID`: a page on the free list.
pub const P_INVALID: u8 = 0;
/// `P_HASH_UNSORTED`: a bucket page written before libdb 4.6 (hash version 8).
pub const P_HASH_UNSORTED: u8 = 2;
/// `P_OVERFLOW`: one page of a big item.
pub const P_OVERFLOW: u8 = 7;
/// `P_HASH`: a sorted bucket page.
pub const P_HASH: u8 = 13;
/// `H_KEYDATA`: an on-page key or value.
pub const H_KEYDATA: u8 = 1;
/// `H_DUPLICATE`: an on-page duplicate set (never made through ndbm).
pub const H_DUPLICATE: u8 = 2;
/// `H_OFFPAGE`: a reference to an overflow chain.
pub const H_OFFPAGE: u8 = 3;
/// `H_OFFDUP`: an off-page duplicate tree (never made through ndbm).
pub const H_OFFDUP: u8 = 4;
/// Size of an `H_OFFPAGE` item.
pub const OFFPAGE_SIZE: usize = 12;

/// Why a page could not be parsed: offset inside the page and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageError {
    /// Offset inside the page.
    pub offset: usize,
    /// What a valid page has there.
    pub expected: String,
}

fn perr(offset: usize, expected: impl Into<String>) -> PageError {
    PageError {
        offset,
        expected: expected.into(),
    }
}

/// One key or data item of a bucket page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// `H_KEYDATA`: the bytes themselves.
    Data(Vec<u8>),
    /// `H_OFFPAGE`: the item lives in the overflow chain starting at `pgno`, `tlen` bytes long.
    OffPage {
        /// First page of the overflow chain.
        pgno: u32,
        /// Total length of the item.
        tlen: u32,
    },
}

impl Item {
    /// Bytes the item takes on the page (without its 2-byte index slot).
    pub fn size(&self) -> usize {
        match self {
            Item::Data(d) => 1 + d.len(),
            Item::OffPage { .. } => OFFPAGE_SIZE,
        }
    }

    /// Length of the item's value (the bytes it stands for).
    pub fn value_len(&self) -> u64 {
        match self {
            Item::Data(d) => d.len() as u64,
            Item::OffPage { tlen, .. } => *tlen as u64,
        }
    }
}

/// A key/data pair of a bucket page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The key item.
    pub key: Item,
    /// The data item.
    pub data: Item,
}

impl Pair {
    /// Bytes the pair takes on a page, index slots included.
    pub fn size(&self) -> usize {
        self.key.size() + self.data.size() + 4
    }
}

/// A bucket page (`P_HASH` or `P_HASH_UNSORTED`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashPage {
    /// The page's own number.
    pub pgno: u32,
    /// Previous page of the bucket chain (0 for the bucket's first page).
    pub prev: u32,
    /// Next page of the bucket chain (0 at the end).
    pub next: u32,
    /// `true` for `P_HASH` (sorted by the comparator of §3.3), `false` for `P_HASH_UNSORTED`.
    pub sorted: bool,
    /// The pairs in index order.
    pub pairs: Vec<Pair>,
}

impl HashPage {
    /// An empty sorted page (`P_INIT` of a `P_HASH` page).
    pub fn empty(pgno: u32) -> HashPage {
        HashPage {
            pgno,
            prev: 0,
            next: 0,
            sorted: true,
            pairs: Vec::new(),
        }
    }

    /// Bytes used by items and index slots.
    pub fn used(&self) -> usize {
        self.pairs.iter().map(Pair::size).sum()
    }

    /// `P_FREESPACE`: `hf_offset - (26 + 2 * entries)` for a page of `pagesize` bytes.
    pub fn free_space(&self, pagesize: usize) -> usize {
        pagesize.saturating_sub(HEADER_SIZE + self.used())
    }

    /// Encodes the page: header, index array, items packed downward from the end of the
    /// page in index order; every other byte zero. The caller guarantees the pairs fit
    /// (`used() <= pagesize - 26`).
    pub fn encode(&self, e: Endian, pagesize: usize) -> Vec<u8> {
        let mut b = vec![0u8; pagesize];
        self.encode_into(e, &mut b);
        b
    }

    /// [`Self::encode`] into `b` (a page-sized buffer, any previous contents): every byte
    /// of `b` is written, so a caller can reuse one buffer for every page without zeroing
    /// it first. The caller guarantees the pairs fit (`used() <= b.len() - 26`).
    pub fn encode_into(&self, e: Endian, b: &mut [u8]) {
        let pagesize = b.len();
        let mut top = pagesize;
        let mut slot = HEADER_SIZE;
        for p in &self.pairs {
            for item in [&p.key, &p.data] {
                top -= item.size();
                match item {
                    Item::Data(d) => {
                        b[top] = H_KEYDATA;
                        b[top + 1..top + 1 + d.len()].copy_from_slice(d);
                    }
                    Item::OffPage { pgno, tlen } => {
                        // The three unused bytes are uninitialised in libdb; pydbm writes zeros.
                        b[top] = H_OFFPAGE;
                        b[top + 1..top + 4].fill(0);
                        b[top + 4..top + 8].copy_from_slice(&e.bytes32(*pgno));
                        b[top + 8..top + 12].copy_from_slice(&e.bytes32(*tlen));
                    }
                }
                b[slot..slot + 2].copy_from_slice(&e.bytes16(top as u16));
                slot += 2;
            }
        }
        // The free area between the index array and the items is dead: zero (live mask, §4).
        b[slot..top].fill(0);
        let ptype = if self.sorted { P_HASH } else { P_HASH_UNSORTED };
        write_header(
            b,
            e,
            Header {
                pgno: self.pgno,
                prev: self.prev,
                next: self.next,
                entries: (self.pairs.len() * 2) as u16,
                hf_offset: top as u16,
                ptype,
            },
        );
    }
}

/// One page of an overflow (big item) chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverflowPage {
    /// The page's own number.
    pub pgno: u32,
    /// Previous page of the chain (0 for the first).
    pub prev: u32,
    /// Next page of the chain (0 for the last).
    pub next: u32,
    /// `OV_REF`: reference count (1).
    pub refcount: u16,
    /// The chunk of the item stored on this page (`OV_LEN` bytes at offset 26).
    pub data: Vec<u8>,
}

impl OverflowPage {
    /// Encodes the page; bytes after the data are zero (libdb leaves stale memory there).
    pub fn encode(&self, e: Endian, pagesize: usize) -> Vec<u8> {
        let mut b = vec![0u8; pagesize];
        b[HEADER_SIZE..HEADER_SIZE + self.data.len()].copy_from_slice(&self.data);
        write_header(
            &mut b,
            e,
            Header {
                pgno: self.pgno,
                prev: self.prev,
                next: self.next,
                entries: self.refcount,
                hf_offset: self.data.len() as u16,
                ptype: P_OVERFLOW,
            },
        );
        b
    }
}

/// A decoded page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// A page never written (its header's pgno is 0): libdb treats it as an empty bucket page.
    Hole,
    /// A bucket page.
    Hash(HashPage),
    /// An overflow page.
    Overflow(OverflowPage),
    /// A page on the free list (`P_INVALID`), with the next free page (0 at the end).
    Free {
        /// The page's own number.
        pgno: u32,
        /// Next page of the free list.
        next: u32,
    },
}

impl Page {
    /// The image of a freed page: `P_INIT` with type `P_INVALID`, `next` = the old free-list
    /// head, `hf_offset` = page size (ndbm spec §3.6); body zero-filled (libdb keeps old data).
    pub fn encode_free(pgno: u32, next: u32, e: Endian, pagesize: usize) -> Vec<u8> {
        let mut b = vec![0u8; pagesize];
        write_header(
            &mut b,
            e,
            Header {
                pgno,
                prev: 0,
                next,
                entries: 0,
                hf_offset: pagesize as u16,
                ptype: P_INVALID,
            },
        );
        b
    }

    /// Parses page number `pgno` of a file in byte order `e` with page size `b.len()`.
    /// Checks that the header's page number matches, that index offsets lie inside the
    /// page and describe items of at least one byte, and that item types are known.
    pub fn parse(b: &[u8], pgno: u32, e: Endian) -> Result<Page, PageError> {
        let pagesize = b.len();
        if pagesize < 512 {
            return Err(perr(0, "a page of at least 512 bytes"));
        }
        let hdr_pgno = e.u32(&b[8..12]);
        if hdr_pgno == 0 {
            // ndbm spec §5.1: a page whose pgno field is 0 is a hole (an unused bucket page).
            return Ok(Page::Hole);
        }
        if hdr_pgno != pgno {
            return Err(perr(8, format!("page number {pgno}, found {hdr_pgno}")));
        }
        let prev = e.u32(&b[12..16]);
        let next = e.u32(&b[16..20]);
        let entries = e.u16(&b[20..22]) as usize;
        let hf_offset = e.u16(&b[22..24]) as usize;
        match b[25] {
            P_HASH | P_HASH_UNSORTED => {
                if !entries.is_multiple_of(2) {
                    return Err(perr(20, format!("an even item count, found {entries}")));
                }
                let inp_end = HEADER_SIZE + 2 * entries;
                if inp_end > pagesize {
                    return Err(perr(20, format!("at most {} items", (pagesize - 26) / 2)));
                }
                let mut items = Vec::with_capacity(entries);
                let mut end = pagesize;
                for j in 0..entries {
                    let slot = HEADER_SIZE + 2 * j;
                    let off = e.u16(&b[slot..slot + 2]) as usize;
                    if off < inp_end || off >= end {
                        return Err(perr(
                            slot,
                            format!("item offset in {inp_end}..{end}, found {off}"),
                        ));
                    }
                    let raw = &b[off..end];
                    items.push(parse_item(raw, e).map_err(|x| perr(off, x))?);
                    end = off;
                }
                if entries > 0 && hf_offset != end {
                    return Err(perr(
                        22,
                        format!("hf_offset {end} (offset of the last item), found {hf_offset}"),
                    ));
                }
                let mut pairs = Vec::with_capacity(entries / 2);
                let mut it = items.into_iter();
                while let (Some(key), Some(data)) = (it.next(), it.next()) {
                    pairs.push(Pair { key, data });
                }
                Ok(Page::Hash(HashPage {
                    pgno,
                    prev,
                    next,
                    sorted: b[25] == P_HASH,
                    pairs,
                }))
            }
            P_OVERFLOW => {
                if HEADER_SIZE + hf_offset > pagesize {
                    return Err(perr(
                        22,
                        format!("overflow length at most {}", pagesize - HEADER_SIZE),
                    ));
                }
                Ok(Page::Overflow(OverflowPage {
                    pgno,
                    prev,
                    next,
                    refcount: entries as u16,
                    data: b[HEADER_SIZE..HEADER_SIZE + hf_offset].to_vec(),
                }))
            }
            P_INVALID => Ok(Page::Free { pgno, next }),
            t => Err(perr(
                25,
                format!(
                    "page type 13 (hash), 2 (unsorted hash), 7 (overflow) or 0 (free), found {t}"
                ),
            )),
        }
    }
}

fn parse_item(raw: &[u8], e: Endian) -> Result<Item, String> {
    match raw.first() {
        Some(&H_KEYDATA) => Ok(Item::Data(raw[1..].to_vec())),
        // Bytes 1..4 of an H_OFFPAGE item are unused (uninitialised in libdb's files).
        Some(&H_OFFPAGE) if raw.len() == OFFPAGE_SIZE => Ok(Item::OffPage {
            pgno: e.u32(&raw[4..8]),
            tlen: e.u32(&raw[8..12]),
        }),
        Some(&H_OFFPAGE) => Err(format!(
            "an H_OFFPAGE item of {OFFPAGE_SIZE} bytes, found {}",
            raw.len()
        )),
        Some(&H_DUPLICATE) | Some(&H_OFFDUP) => {
            Err("H_KEYDATA or H_OFFPAGE item (duplicate sets are not made through ndbm)".into())
        }
        Some(t) => Err(format!(
            "item type 1 (H_KEYDATA) or 3 (H_OFFPAGE), found {t}"
        )),
        None => Err("an item of at least one byte".into()),
    }
}

/// The generic header fields pydbm writes (LSN is always `(0, 1)`, level 0).
struct Header {
    pgno: u32,
    prev: u32,
    next: u32,
    entries: u16,
    hf_offset: u16,
    ptype: u8,
}

fn write_header(b: &mut [u8], e: Endian, h: Header) {
    // ndbm spec §3.2: LSN (0, 1) = "not logged".
    b[0..4].copy_from_slice(&e.bytes32(0));
    b[4..8].copy_from_slice(&e.bytes32(1));
    b[8..12].copy_from_slice(&e.bytes32(h.pgno));
    b[12..16].copy_from_slice(&e.bytes32(h.prev));
    b[16..20].copy_from_slice(&e.bytes32(h.next));
    b[20..22].copy_from_slice(&e.bytes16(h.entries));
    // hf_offset is a u16: a 65536-byte page stores 0 there, as libdb does.
    b[22..24].copy_from_slice(&e.bytes16(h.hf_offset));
    b[24] = 0;
    b[25] = h.ptype;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `encode_into` over a buffer full of garbage (the reused scratch buffer) produces
    /// exactly `encode`'s bytes, dead bytes zero included, and the page parses back.
    #[test]
    fn encode_into_overwrites_every_byte() {
        let mut page = HashPage::empty(7);
        page.prev = 3;
        page.next = 9;
        page.pairs.push(Pair {
            key: Item::Data(b"alpha".to_vec()),
            data: Item::OffPage {
                pgno: 12,
                tlen: 5000,
            },
        });
        page.pairs.push(Pair {
            key: Item::Data(b"beta".to_vec()),
            data: Item::Data(vec![0x55; 100]),
        });
        for e in [Endian::Little, Endian::Big] {
            let fresh = page.encode(e, 4096);
            let mut reused = vec![0xA7u8; 4096];
            page.encode_into(e, &mut reused);
            assert_eq!(fresh, reused);
            match Page::parse(&reused, 7, e) {
                Ok(Page::Hash(back)) => assert_eq!(back, page),
                other => panic!("expected the hash page back, got {other:?}"),
            }
        }
    }
}
