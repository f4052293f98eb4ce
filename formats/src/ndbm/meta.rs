//! The Berkeley DB hash meta page (page 0, `HMETA`), as plain data.
//!
//! ndbm spec §3.1. Only the first 512 bytes are meaningful; the rest of the page is zero
//! in files libdb creates. [`HashMeta::encode_into`] patches the known fields into an
//! existing page image so bytes pydbm does not model (the uid, libdb's stat cache) survive.

use super::{Endian, PAGE_SIZE};

/// `DB_HASHMAGIC`, the magic number at offset 12.
pub const HASH_MAGIC: u32 = 0x0006_1561;
/// The hash version libdb 4.6 .. 6.x writes (sorted bucket pages).
pub const HASH_VERSION: u32 = 9;
/// `P_HASHMETA`, the page type of the meta page.
pub const P_HASHMETA: u8 = 8;
/// `h_charkey`: hash("%$sniglet^&\0") with the FNV-1 variant libdb uses (ndbm spec §3.1).
pub const H_CHARKEY: u32 = 0x5E68_8DD1;
/// The fill factor the ndbm shim sets (`set_h_ffactor(40)`).
pub const NDBM_FFACTOR: u32 = 40;
/// Number of entries of the `spares` array.
pub const NSPARES: usize = 32;

/// Why a meta page could not be parsed: the byte offset inside the page and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaError {
    /// Offset inside page 0.
    pub offset: u64,
    /// What a valid meta page has there.
    pub expected: String,
}

/// The decoded hash meta page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashMeta {
    /// Byte order of every integer in the file (detected from the magic).
    pub endian: Endian,
    /// LSN (file, offset); `(0, 1)` for files never logged.
    pub lsn: (u32, u32),
    /// Format version: 9 (sorted pages), 8 (unsorted pages) or 7.
    pub version: u32,
    /// Page size in bytes; pydbm handles 4096 only for writing, any power of two 512..65536 for reading.
    pub pagesize: u32,
    /// `encrypt_alg` (0 = none).
    pub encrypt_alg: u8,
    /// `metaflags` (bit 0: page checksums).
    pub metaflags: u8,
    /// Head of the free-page list, 0 when empty.
    pub free: u32,
    /// Number of the last page of the file.
    pub last_pgno: u32,
    /// `nparts` (partitioning; 0).
    pub nparts: u32,
    /// Stat cache: key count (written only by `DB->stat`).
    pub key_count: u32,
    /// Stat cache: record count.
    pub record_count: u32,
    /// Database flags (`DB_HASH_DUP` = 1, `SUBDB` = 2, `DUPSORT` = 4).
    pub flags: u32,
    /// The 20-byte file id.
    pub uid: [u8; 20],
    /// Highest bucket number in use.
    pub max_bucket: u32,
    /// Mask for the current doubling (`2^k - 1`).
    pub high_mask: u32,
    /// `high_mask >> 1`.
    pub low_mask: u32,
    /// Fill factor (pairs per bucket page before a split).
    pub ffactor: u32,
    /// libdb's element counter: live pairs + 1 for files made through ndbm (§6).
    pub nelem: u32,
    /// Hash of the check string; must equal [`H_CHARKEY`].
    pub h_charkey: u32,
    /// Bucket-to-page translation: page of bucket b is `b + spares[ceil_log2(b + 1)]`.
    pub spares: [u32; NSPARES],
}

fn rd32(e: Endian, b: &[u8], off: usize) -> u32 {
    e.u32(&b[off..off + 4])
}

impl HashMeta {
    /// The meta page of a new database as the ndbm shim creates it (ndbm spec §3.4):
    /// 2 buckets on pages 1 and 2, spares `[1, 1]`, `nelem` 1, `last_pgno` 2.
    pub fn new_ndbm(uid: [u8; 20]) -> HashMeta {
        let mut spares = [0u32; NSPARES];
        spares[0] = 1;
        spares[1] = 1;
        HashMeta {
            endian: Endian::Little,
            lsn: (0, 1),
            version: HASH_VERSION,
            pagesize: PAGE_SIZE as u32,
            encrypt_alg: 0,
            metaflags: 0,
            free: 0,
            last_pgno: 2,
            nparts: 0,
            key_count: 0,
            record_count: 0,
            flags: 0,
            uid,
            max_bucket: 1,
            high_mask: 1,
            low_mask: 0,
            ffactor: NDBM_FFACTOR,
            nelem: 1,
            h_charkey: H_CHARKEY,
            spares,
        }
    }

    /// Parses the first 512 bytes of page 0. Detects the byte order from the magic at
    /// offset 12. Fails (with the offset of the bad field) on a wrong magic, an unknown
    /// version, a page size that is not a power of two in 512..=65536, or a page type
    /// other than `P_HASHMETA`. Semantic checks (masks, spares) are [`HashMeta::validate`]'s.
    pub fn parse(b: &[u8]) -> Result<HashMeta, MetaError> {
        if b.len() < 512 {
            return Err(MetaError {
                offset: b.len() as u64,
                expected: "a 512-byte hash meta page".into(),
            });
        }
        let endian = if Endian::Little.u32(&b[12..16]) == HASH_MAGIC {
            Endian::Little
        } else if Endian::Big.u32(&b[12..16]) == HASH_MAGIC {
            Endian::Big
        } else {
            return Err(MetaError {
                offset: 12,
                expected: format!("hash magic {HASH_MAGIC:#x} (either byte order)"),
            });
        };
        let e = endian;
        let version = rd32(e, b, 16);
        if !(7..=10).contains(&version) {
            return Err(MetaError {
                offset: 16,
                expected: format!("hash version 7..=10, found {version}"),
            });
        }
        let pagesize = rd32(e, b, 20);
        if !(512..=65536).contains(&pagesize) || !pagesize.is_power_of_two() {
            return Err(MetaError {
                offset: 20,
                expected: format!("a power-of-two page size 512..=65536, found {pagesize}"),
            });
        }
        if b[25] != P_HASHMETA {
            return Err(MetaError {
                offset: 25,
                expected: format!("page type {P_HASHMETA} (P_HASHMETA), found {}", b[25]),
            });
        }
        let mut uid = [0u8; 20];
        uid.copy_from_slice(&b[52..72]);
        let mut spares = [0u32; NSPARES];
        for (i, s) in spares.iter_mut().enumerate() {
            *s = rd32(e, b, 96 + 4 * i);
        }
        Ok(HashMeta {
            endian,
            lsn: (rd32(e, b, 0), rd32(e, b, 4)),
            version,
            pagesize,
            encrypt_alg: b[24],
            metaflags: b[26],
            free: rd32(e, b, 28),
            last_pgno: rd32(e, b, 32),
            nparts: rd32(e, b, 36),
            key_count: rd32(e, b, 40),
            record_count: rd32(e, b, 44),
            flags: rd32(e, b, 48),
            uid,
            max_bucket: rd32(e, b, 72),
            high_mask: rd32(e, b, 76),
            low_mask: rd32(e, b, 80),
            ffactor: rd32(e, b, 84),
            nelem: rd32(e, b, 88),
            h_charkey: rd32(e, b, 92),
            spares,
        })
    }

    /// Checks the fields a reader relies on: the hash check value, masks consistent with
    /// `max_bucket`, and every bucket's page inside the file. Returns the first problem.
    pub fn validate(&self) -> Result<(), MetaError> {
        if self.h_charkey != H_CHARKEY {
            return Err(MetaError {
                offset: 92,
                expected: format!(
                    "h_charkey {H_CHARKEY:#x} (libdb's default hash), found {:#x}",
                    self.h_charkey
                ),
            });
        }
        // libdb keeps high_mask = 2^ceil_log2(max_bucket + 1) - 1 and low_mask = high_mask >> 1
        // (ndbm spec §3.4; a table doubles when max_bucket passes high_mask). Looser masks
        // let a split skip the doubling and put a new bucket on a page that is not its own
        // (found by the ndbm_open fuzzer: max_bucket 3 with masks 7/3 put bucket 4 on page 4).
        let want_high = (1u64 << super::hash::ceil_log2(u64::from(self.max_bucket) + 1)) - 1;
        if u64::from(self.high_mask) != want_high || self.low_mask != self.high_mask >> 1 {
            return Err(MetaError {
                offset: 72,
                expected: format!(
                    "masks high {want_high:#x} / low {:#x} for max_bucket {}, found high {:#x} / low {:#x}",
                    want_high >> 1,
                    self.max_bucket,
                    self.high_mask,
                    self.low_mask
                ),
            });
        }
        if self.max_bucket >= 1 << 31 {
            return Err(MetaError {
                offset: 72,
                expected: "max_bucket below 2^31".into(),
            });
        }
        // Every bucket's page must lie inside [1, last_pgno]: checking the first and last
        // bucket of each spares group covers all of them (pages are consecutive per group).
        let groups = super::hash::ceil_log2(self.max_bucket as u64 + 1) as usize;
        for g in 0..=groups.min(NSPARES - 1) {
            let first = if g == 0 { 0u64 } else { 1u64 << (g - 1) };
            let last = ((1u64 << g) - 1).min(self.max_bucket as u64);
            if first > self.max_bucket as u64 {
                break;
            }
            for b in [first, last] {
                let page = b + self.spares[g] as u64;
                if page == 0 || page > self.last_pgno as u64 {
                    return Err(MetaError {
                        offset: 96 + 4 * g as u64,
                        expected: format!(
                            "spares[{g}] placing bucket {b} on a page in 1..={}, found page {page}",
                            self.last_pgno
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// Writes the modelled fields into `page` (at least 512 bytes), leaving every other byte
    /// (unused areas, anything libdb keeps there) as it is.
    pub fn encode_into(&self, page: &mut [u8]) {
        let e = self.endian;
        let mut put = |off: usize, v: u32| page[off..off + 4].copy_from_slice(&e.bytes32(v));
        put(0, self.lsn.0);
        put(4, self.lsn.1);
        put(8, 0);
        put(12, HASH_MAGIC);
        put(16, self.version);
        put(20, self.pagesize);
        put(28, self.free);
        put(32, self.last_pgno);
        put(36, self.nparts);
        put(40, self.key_count);
        put(44, self.record_count);
        put(48, self.flags);
        put(72, self.max_bucket);
        put(76, self.high_mask);
        put(80, self.low_mask);
        put(84, self.ffactor);
        put(88, self.nelem);
        put(92, self.h_charkey);
        for (i, s) in self.spares.iter().enumerate() {
            put(96 + 4 * i, *s);
        }
        page[24] = self.encrypt_alg;
        page[25] = P_HASHMETA;
        page[26] = self.metaflags;
        page[52..72].copy_from_slice(&self.uid);
    }

    /// A fresh page image holding this meta page (zeros elsewhere).
    pub fn encode(&self) -> Vec<u8> {
        let mut page = vec![0u8; self.pagesize as usize];
        self.encode_into(&mut page);
        page
    }

    /// The page holding bucket `b` (ndbm spec §3.4: `b + spares[ceil_log2(b + 1)]`).
    pub fn bucket_page(&self, b: u32) -> u32 {
        let g = super::hash::ceil_log2(b as u64 + 1) as usize;
        b.wrapping_add(self.spares[g.min(NSPARES - 1)])
    }

    /// The bucket a key with hash `h` lives in (linear hashing, ndbm spec §3.4).
    pub fn bucket_of(&self, h: u32) -> u32 {
        let b = h & self.high_mask;
        if b > self.max_bucket {
            b & self.low_mask
        } else {
            b
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_meta_round_trips_and_validates() {
        let m = HashMeta::new_ndbm([7; 20]);
        let page = m.encode();
        assert_eq!(&page[12..16], &[0x61, 0x15, 0x06, 0]);
        let back = HashMeta::parse(&page).unwrap();
        assert_eq!(back, m);
        back.validate().unwrap();
        assert_eq!(m.bucket_page(0), 1);
        assert_eq!(m.bucket_page(1), 2);
    }

    #[test]
    fn big_endian_meta_parses() {
        let mut m = HashMeta::new_ndbm([0; 20]);
        m.endian = Endian::Big;
        let page = m.encode();
        assert_eq!(&page[12..16], &[0, 0x06, 0x15, 0x61]);
        assert_eq!(HashMeta::parse(&page).unwrap(), m);
    }

    #[test]
    fn bad_magic_and_masks_are_reported() {
        let mut page = HashMeta::new_ndbm([0; 20]).encode();
        page[12] = 0;
        assert_eq!(HashMeta::parse(&page).unwrap_err().offset, 12);
        let mut m = HashMeta::new_ndbm([0; 20]);
        m.max_bucket = 5;
        assert_eq!(m.validate().unwrap_err().offset, 72);
        let mut m = HashMeta::new_ndbm([0; 20]);
        m.last_pgno = 1;
        assert!(m.validate().is_err());
    }
}
