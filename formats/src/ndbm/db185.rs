//! A read-only reader for the 4.4BSD db-1.85 hash file (`NAME.db`) that macOS and FreeBSD
//! Pythons write through their libc's ndbm (ndbm spec §7).
//!
//! Scope: the header, bucket pages, bucket overflow chains (`OVFLPAGE` links) and on-page
//! pairs, in either page byte order. Big pairs (`PARTIAL_KEY`, `FULL_KEY`,
//! `FULL_KEY_DATA`, spread over chained overflow pages by `hash_bigkey.c`) are reported as
//! [`Error::Unsupported`]. No public sample files exist; the tests use files built from
//! the spec's description of the format, not files made by a real db-1.85.

use std::path::{Path, PathBuf};

use pydbm_engine::{Error, Result};

/// db-1.85 hash magic (`HASHMAGIC`), stored big-endian at offset 0.
pub const MAGIC: u32 = 0x0006_1561;
/// `h_charkey` of the default hash (`hash4`) over `"%$sniglet^&\0"` (ndbm spec §7).
pub const CHARKEY: u32 = 0x956E_7DE3;
/// Size of the header fields pydbm reads (through `bitmaps[32]`).
pub const HEADER_LEN: usize = 260;
const OVFLPAGE: u16 = 0;
const REAL_KEY: u16 = 4;
const SPLITSHIFT: u32 = 11;
const SPLITMASK: u32 = 0x7FF;

/// `hash4`, db-1.85's default hash: `h = h * 33 + byte`, from 0.
pub fn hash4(key: &[u8]) -> u32 {
    key.iter()
        .fold(0u32, |h, &c| h.wrapping_mul(33).wrapping_add(c as u32))
}

/// The db-1.85 hash header (`HASHHDR`), decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// 1 or 2.
    pub version: u32,
    /// Byte order of the pages: 1234 (little) or 4321 (big).
    pub lorder: u32,
    /// Page (bucket) size.
    pub bsize: u32,
    /// Highest bucket in use.
    pub max_bucket: u32,
    /// Mask over the whole table.
    pub high_mask: u32,
    /// Mask over its lower half.
    pub low_mask: u32,
    /// Exact number of keys.
    pub nkeys: u32,
    /// Pages taken by the header.
    pub hdrpages: u32,
    /// Overflow pages before each split point.
    pub spares: [u32; 32],
}

fn be(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

impl Header {
    /// Parses the big-endian header; checks magic, version, byte order, page size, the hash
    /// check value and the masks. `Err((offset, expected))`.
    pub fn parse(b: &[u8]) -> std::result::Result<Header, (u64, String)> {
        if b.len() < HEADER_LEN {
            return Err((0, format!("a {HEADER_LEN}-byte db-1.85 hash header")));
        }
        if be(b, 0) != MAGIC {
            return Err((0, format!("db-1.85 hash magic {MAGIC:#x} (big-endian)")));
        }
        let version = be(b, 4);
        if !(1..=2).contains(&version) {
            return Err((4, format!("version 1 or 2, found {version}")));
        }
        let lorder = be(b, 8);
        if lorder != 1234 && lorder != 4321 {
            return Err((8, format!("byte order 1234 or 4321, found {lorder}")));
        }
        let bsize = be(b, 12);
        if !(256..=65536).contains(&bsize) || !bsize.is_power_of_two() {
            return Err((
                12,
                format!("a power-of-two bucket size 256..=65536, found {bsize}"),
            ));
        }
        let h_charkey = be(b, 64);
        if h_charkey != CHARKEY {
            return Err((
                64,
                format!("h_charkey {CHARKEY:#x} (the default hash), found {h_charkey:#x}"),
            ));
        }
        let (max_bucket, high_mask, low_mask) = (be(b, 40), be(b, 44), be(b, 48));
        if high_mask == u32::MAX
            || !(high_mask + 1).is_power_of_two()
            || low_mask != high_mask >> 1
            || max_bucket > high_mask
        {
            return Err((
                40,
                format!("max_bucket {max_bucket} within masks {high_mask:#x}/{low_mask:#x}"),
            ));
        }
        let mut spares = [0u32; 32];
        for (i, s) in spares.iter_mut().enumerate() {
            *s = be(b, 68 + 4 * i);
        }
        Ok(Header {
            version,
            lorder,
            bsize,
            max_bucket,
            high_mask,
            low_mask,
            nkeys: be(b, 56),
            hdrpages: be(b, 60),
            spares,
        })
    }

    /// `BUCKET_TO_PAGE`: `B + hdrpages + (B ? spares[log2(B + 1) - 1] : 0)`.
    pub fn bucket_page(&self, b: u32) -> u64 {
        let extra = if b == 0 {
            0
        } else {
            let g = super::hash::ceil_log2(b as u64 + 1) as usize;
            self.spares[(g.max(1) - 1).min(31)] as u64
        };
        b as u64 + self.hdrpages as u64 + extra
    }

    /// `OADDR_TO_PAGE`: split point in the top 5 bits, page within it in the low 11.
    pub fn oaddr_page(&self, oaddr: u16) -> u64 {
        let split = (oaddr as u32) >> SPLITSHIFT;
        let n = (oaddr as u32) & SPLITMASK;
        self.bucket_page((1u32 << split).wrapping_sub(1)) + n as u64
    }

    /// The bucket of a key (same linear hashing as Berkeley DB, with `hash4`).
    pub fn bucket_of(&self, key: &[u8]) -> u32 {
        let b = hash4(key) & self.high_mask;
        if b > self.max_bucket {
            b & self.low_mask
        } else {
            b
        }
    }
}

/// An open db-1.85 hash file, held in memory (read-only).
#[derive(Debug, Clone)]
pub struct Db185 {
    path: PathBuf,
    bytes: Vec<u8>,
    header: Header,
}

impl Db185 {
    /// Whether `bytes` start like a db-1.85 hash file (big-endian magic at offset 0).
    pub fn sniff(bytes: &[u8]) -> bool {
        bytes.len() >= 8 && be(bytes, 0) == MAGIC && (1..=2).contains(&be(bytes, 4))
    }

    /// Parses the header of `bytes` (the whole file, named `path` in errors).
    pub fn open(path: &Path, bytes: Vec<u8>) -> Result<Db185> {
        let header = Header::parse(&bytes).map_err(|(o, e)| Error::corrupt(path, o, e))?;
        Ok(Db185 {
            path: path.to_path_buf(),
            bytes,
            header,
        })
    }

    /// The decoded header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    fn u16_at(&self, page: &[u8], i: usize) -> Result<u16> {
        let b = page
            .get(2 * i..2 * i + 2)
            .ok_or_else(|| Error::corrupt(&self.path, 2 * i as u64, "an offset inside the page"))?;
        Ok(if self.header.lorder == 1234 {
            u16::from_le_bytes([b[0], b[1]])
        } else {
            u16::from_be_bytes([b[0], b[1]])
        })
    }

    /// Page `n`; a page past the end of the file is empty (db-1.85 writes pages lazily).
    fn page(&self, n: u64) -> Vec<u8> {
        let bs = self.header.bsize as usize;
        let mut p = vec![0u8; bs];
        let Some(off) = n.checked_mul(bs as u64) else {
            return p;
        };
        if off < self.bytes.len() as u64 {
            let off = off as usize;
            let end = (off + bs).min(self.bytes.len());
            p[..end - off].copy_from_slice(&self.bytes[off..end]);
        }
        p
    }

    /// The pairs of one bucket, following its overflow-page chain.
    fn bucket_pairs(&self, bucket: u32, out: &mut Vec<(Vec<u8>, Vec<u8>)>) -> Result<()> {
        let mut pgno = self.header.bucket_page(bucket);
        let bs = self.header.bsize as usize;
        let max_hops = self.bytes.len() / bs + 2;
        for _ in 0..max_hops {
            let page = self.page(pgno);
            let base = pgno * bs as u64;
            let n = self.u16_at(&page, 0)? as usize;
            if n + 3 > bs / 2 {
                return Err(Error::corrupt(
                    &self.path,
                    base,
                    "an entry count that fits the page",
                ));
            }
            let mut end = bs;
            let mut next = None;
            let mut i = 1;
            while i < n {
                let koff = self.u16_at(&page, i)? as usize;
                let doff = self.u16_at(&page, i + 1)?;
                if doff < REAL_KEY {
                    if doff == OVFLPAGE {
                        next = Some(self.header.oaddr_page(koff as u16));
                        break;
                    }
                    return Err(Error::unsupported(
                        &self.path,
                        format!("db-1.85 big key/data pairs (page {pgno}, entry {i})"),
                    ));
                }
                let doff = doff as usize;
                if !(koff <= end && doff <= koff && doff >= 2 * (n + 3)) {
                    return Err(Error::corrupt(
                        &self.path,
                        base + 2 * i as u64,
                        format!("key/data offsets descending below {end}"),
                    ));
                }
                out.push((page[koff..end].to_vec(), page[doff..koff].to_vec()));
                end = doff;
                i += 2;
            }
            match next {
                Some(p) => pgno = p,
                None => return Ok(()),
            }
        }
        Err(Error::corrupt(
            &self.path,
            0,
            format!("bucket {bucket}'s overflow chain without a loop"),
        ))
    }

    /// Every pair, in db-1.85's iteration order (bucket order, then page and entry order).
    pub fn items(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        let bs = self.header.bsize as u64;
        for b in 0..=self.header.max_bucket {
            // Buckets past the end of the file are empty pages; stop walking them once the
            // table outgrows the file (bounded by the file's size).
            if self.header.bucket_page(b) * bs > self.bytes.len() as u64 + bs * 64 {
                break;
            }
            self.bucket_pairs(b, &mut out)?;
        }
        Ok(out)
    }

    /// The value stored under `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut pairs = Vec::new();
        self.bucket_pairs(self.header.bucket_of(key), &mut pairs)?;
        Ok(pairs.into_iter().find(|(k, _)| k == key).map(|(_, v)| v))
    }
}

/// A db-1.85 hash file opened through `dbm.ndbm` semantics: read-only (writes fail with
/// [`Error::Unsupported`]). The file is read whole at open; no lock is taken (the reference
/// takes none either).
#[derive(Debug)]
pub struct Db185Db {
    db: Option<Db185>,
    path: PathBuf,
}

impl Db185Db {
    /// Opens `path.db` read-only through `vfs`.
    pub fn open_with(vfs: &dyn pydbm_engine::Vfs, path: &Path) -> Result<Db185Db> {
        let file = super::db::db_path(path);
        let f = vfs.open(&file, pydbm_engine::VfsOpen::READ)?;
        let len = f.len()?;
        let mut bytes =
            vec![
                0u8;
                usize::try_from(len)
                    .map_err(|_| Error::unsupported(&file, "a file larger than memory"))?
            ];
        f.read_exact_at(&mut bytes, 0)?;
        Ok(Db185Db {
            db: Some(Db185::open(&file, bytes)?),
            path: path.to_path_buf(),
        })
    }

    fn db(&self) -> Result<&Db185> {
        self.db.as_ref().ok_or_else(|| Error::Closed {
            path: self.path.clone(),
        })
    }

    fn no_writes(&self) -> Error {
        Error::unsupported(
            super::db::db_path(&self.path),
            "writing db-1.85 hash files (read-only reader)",
        )
    }
}

impl pydbm_engine::Dbm for Db185Db {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db()?.get(key)
    }

    fn insert(&mut self, _key: &[u8], _value: &[u8]) -> Result<()> {
        self.db()?;
        Err(self.no_writes())
    }

    fn remove(&mut self, _key: &[u8]) -> Result<bool> {
        self.db()?;
        Err(self.no_writes())
    }

    fn keys(&mut self) -> Result<Vec<Vec<u8>>> {
        Ok(self.db()?.items()?.into_iter().map(|(k, _)| k).collect())
    }

    fn len(&mut self) -> Result<usize> {
        Ok(self.db()?.items()?.len())
    }

    fn sync(&mut self) -> Result<()> {
        self.db().map(|_| ())
    }

    fn close(&mut self) -> Result<()> {
        self.db = None;
        Ok(())
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn module(&self) -> &'static str {
        "dbm.ndbm"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a db-1.85 hash file as ndbm spec §7 describes it: big-endian header in page
    /// 0, `pairs_per_page` pairs per bucket page before an overflow page is chained.
    fn build(pairs: &[(&[u8], &[u8])], lorder: u32, max_bucket: u32, per_page: usize) -> Vec<u8> {
        let bs = 512usize;
        let high = (max_bucket + 1).next_power_of_two() - 1;
        let h = Header {
            version: 2,
            lorder,
            bsize: bs as u32,
            max_bucket,
            high_mask: high,
            low_mask: high >> 1,
            nkeys: pairs.len() as u32,
            hdrpages: 1,
            spares: [0; 32],
        };
        // Overflow pages live after the last bucket of the top split point (1 << split) - 1.
        let split = super::super::hash::ceil_log2(max_bucket as u64 + 1);
        let mut buckets: Vec<Vec<(&[u8], &[u8])>> = vec![Vec::new(); max_bucket as usize + 1];
        for &(k, v) in pairs {
            buckets[h.bucket_of(k) as usize].push((k, v));
        }
        let ovfl_base = h.bucket_page((1u32 << split) - 1);
        let mut pages: std::collections::BTreeMap<u64, Vec<u8>> = Default::default();
        let mut next_ovfl = 1u32;
        let w16 = |p: &mut Vec<u8>, i: usize, v: u16| {
            let b = if lorder == 1234 {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            };
            p[2 * i..2 * i + 2].copy_from_slice(&b);
        };
        for (b, items) in buckets.iter().enumerate() {
            let mut pgno = h.bucket_page(b as u32);
            let chunks: Vec<_> = items.chunks(per_page.max(1)).collect();
            for (ci, chunk) in chunks.iter().enumerate() {
                let mut p = vec![0u8; bs];
                let mut end = bs;
                let mut sp = Vec::new();
                for &(k, v) in chunk.iter() {
                    let ko = end - k.len();
                    p[ko..end].copy_from_slice(k);
                    let d = ko - v.len();
                    p[d..ko].copy_from_slice(v);
                    sp.push(ko as u16);
                    sp.push(d as u16);
                    end = d;
                }
                let mut next = None;
                if ci + 1 < chunks.len() {
                    let oaddr = ((split << SPLITSHIFT) | next_ovfl) as u16;
                    next = Some(ovfl_base + next_ovfl as u64);
                    next_ovfl += 1;
                    sp.push(oaddr);
                    sp.push(OVFLPAGE);
                }
                let n = sp.len();
                w16(&mut p, 0, n as u16);
                for (i, v) in sp.iter().enumerate() {
                    w16(&mut p, i + 1, *v);
                }
                w16(&mut p, n + 1, (end - 2 * (n + 3)) as u16);
                w16(&mut p, n + 2, end as u16);
                pages.insert(pgno, p);
                if let Some(nx) = next {
                    pgno = nx;
                }
            }
        }
        let last = pages.keys().next_back().copied().unwrap_or(0);
        let mut file = vec![0u8; (last as usize + 1) * bs];
        let hdr = &mut file[..HEADER_LEN];
        let mut put = |off: usize, v: u32| hdr[off..off + 4].copy_from_slice(&v.to_be_bytes());
        put(0, MAGIC);
        put(4, h.version);
        put(8, lorder);
        put(12, bs as u32);
        put(40, h.max_bucket);
        put(44, h.high_mask);
        put(48, h.low_mask);
        put(52, 40);
        put(56, h.nkeys);
        put(60, h.hdrpages);
        put(64, CHARKEY);
        for (i, s) in h.spares.iter().enumerate() {
            put(68 + 4 * i, *s);
        }
        for (n, p) in pages {
            file[n as usize * bs..(n as usize + 1) * bs].copy_from_slice(&p);
        }
        file
    }

    #[test]
    fn opens_through_the_format_read_only() {
        use pydbm_engine::{Dbm, Format, MemVfs};
        let file = build(&[(b"a", b"b"), (b"c", b"")], 4321, 1, 10);
        let vfs = MemVfs::new();
        vfs.write_file(Path::new("/m/x.db"), &file);
        let mut db = Db185Db::open_with(&vfs, Path::new("/m/x")).unwrap();
        assert_eq!(db.len().unwrap(), 2);
        assert_eq!(db.get(b"c").unwrap(), Some(vec![]));
        assert!(matches!(
            db.insert(b"k", b"v"),
            Err(Error::Unsupported { .. })
        ));
        db.close().unwrap();
        assert!(matches!(db.get(b"a"), Err(Error::Closed { .. })));
        let _ = &super::super::FORMAT as &dyn Format;
    }

    /// The db-1.85 seeds of the `ndbm_open_any` fuzz target are files this module's
    /// spec builder makes (both byte orders, one and several buckets); the committed
    /// copies must stay equal to them. `PYDBM_WRITE_SEEDS=1` rewrites them.
    #[test]
    fn fuzz_seeds_are_built_from_the_spec() {
        let keys: Vec<Vec<u8>> = (0..12).map(|i| format!("key{i}").into_bytes()).collect();
        let pairs: Vec<(&[u8], &[u8])> = keys.iter().map(|k| (&k[..], &k[1..])).collect();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/ndbm_open_any");
        for (lorder, max_bucket, per_page) in [(1234, 0, 25), (4321, 3, 4)] {
            let file = build(&pairs, lorder, max_bucket, per_page);
            let p = dir.join(format!("db185_{lorder}_{max_bucket}.db"));
            if std::env::var_os("PYDBM_WRITE_SEEDS").is_some() {
                std::fs::write(&p, &file).unwrap();
            }
            let committed = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            assert_eq!(
                committed,
                file,
                "{} differs from the builder's",
                p.display()
            );
        }
    }

    #[test]
    fn charkey_is_hash4_of_the_check_string() {
        assert_eq!(hash4(b"%$sniglet^&\0"), CHARKEY);
    }

    #[test]
    fn reads_files_built_from_the_spec() {
        let keys: Vec<Vec<u8>> = (0..60).map(|i| format!("key{i}").into_bytes()).collect();
        let vals: Vec<Vec<u8>> = (0..60).map(|i| vec![b'v'; i % 9]).collect();
        let pairs: Vec<(&[u8], &[u8])> = keys
            .iter()
            .zip(&vals)
            .map(|(k, v)| (&k[..], &v[..]))
            .collect();
        for lorder in [1234, 4321] {
            for (max_bucket, per_page) in [(0, 25), (3, 4), (6, 2)] {
                let file = build(&pairs, lorder, max_bucket, per_page);
                assert!(Db185::sniff(&file));
                let db = Db185::open(Path::new("t.db"), file).unwrap();
                let mut items = db.items().unwrap();
                assert_eq!(
                    items.len(),
                    pairs.len(),
                    "lorder {lorder} buckets {max_bucket}"
                );
                for (k, v) in &pairs {
                    assert_eq!(db.get(k).unwrap().as_deref(), Some(*v));
                }
                items.sort();
                let mut want: Vec<_> = pairs
                    .iter()
                    .map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .collect();
                want.sort();
                assert_eq!(items, want);
                assert_eq!(db.get(b"absent").unwrap(), None);
            }
        }
    }

    #[test]
    fn bad_headers_and_big_pairs_are_errors() {
        let file = build(&[(b"a", b"b")], 1234, 0, 10);
        let mut bad = file.clone();
        bad[64] ^= 1;
        assert!(matches!(
            Db185::open(Path::new("t"), bad),
            Err(Error::Corrupt { offset: 64, .. })
        ));
        let mut big = file.clone();
        // Mark the first pair's data offset as FULL_KEY (2).
        big[512 + 4..512 + 6].copy_from_slice(&2u16.to_le_bytes());
        let db = Db185::open(Path::new("t"), big).unwrap();
        assert!(matches!(db.items(), Err(Error::Unsupported { .. })));
        let mut loopy = file;
        loopy[512..514].copy_from_slice(&2000u16.to_le_bytes());
        let db = Db185::open(Path::new("t"), loopy).unwrap();
        assert!(db.items().is_err());
    }
}
