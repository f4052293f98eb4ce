//! Lookup and key listing over the raw bytes of bucket pages, without decoding them (the
//! get path on a miss in the decoded-page cache; `keys` and `count`). Only the common shape is handled here: a sorted
//! `P_HASH` chain whose probed keys are all `H_KEYDATA`. Anything else (an unsorted page,
//! an off-page key, an offset out of place, an unknown item type) answers
//! [`RawLookup::Undecided`], and the caller takes the decoding path, which gives the exact
//! answer or the precise `Corrupt` error.

use std::cmp::Ordering;

use pydbm_engine::Result;

use super::hash::cmp_onpage;
use super::page::{HEADER_SIZE, H_KEYDATA, H_OFFPAGE, OFFPAGE_SIZE, P_HASH};
use super::page_edit;
use super::store::HashStore;
use super::Endian;
use pydbm_engine::Store;

/// What a raw lookup found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RawLookup {
    /// The key's value.
    Found(Vec<u8>),
    /// The key is not in its bucket.
    Absent,
    /// The raw path cannot decide; use the decoding path.
    Undecided,
}

/// On one page: the key's data item, "not here" with the next chain page, or undecided.
enum OnPage<'a> {
    Data(&'a [u8]),
    NotHere(u32),
    Undecided,
}

/// Item `j`'s bytes on page `b` (type byte first), or `None` when its offset is out of
/// place (`inp_end <= off < end of item j-1`).
fn item(b: &[u8], e: Endian, j: usize, inp_end: usize) -> Option<&[u8]> {
    let slot = HEADER_SIZE + 2 * j;
    let off = e.u16(&b[slot..slot + 2]) as usize;
    let end = if j == 0 {
        b.len()
    } else {
        e.u16(&b[slot - 2..slot]) as usize
    };
    (off >= inp_end && off < end && end <= b.len()).then(|| &b[off..end])
}

/// `__ham_getindex`'s binary search on a sorted page of on-page keys (the probe sequence of
/// [`HashStore::search_as`] with `key_offpage = false`), over raw bytes.
fn search_page<'a>(b: &'a [u8], pgno: u32, e: Endian, key: &[u8]) -> OnPage<'a> {
    let hdr_pgno = e.u32(&b[8..12]);
    if hdr_pgno == 0 {
        // ndbm spec §5.1: a hole is an empty bucket page.
        return OnPage::NotHere(0);
    }
    if hdr_pgno != pgno || b[25] != P_HASH {
        return OnPage::Undecided;
    }
    let next = e.u32(&b[16..20]);
    let entries = e.u16(&b[20..22]) as usize;
    let inp_end = HEADER_SIZE + 2 * entries;
    if !entries.is_multiple_of(2) || inp_end > b.len() {
        return OnPage::Undecided;
    }
    let mut base = 0usize;
    let mut lim = entries / 2;
    while lim != 0 {
        let i = base + (lim >> 1);
        let Some(k) = item(b, e, 2 * i, inp_end) else {
            return OnPage::Undecided;
        };
        if k[0] != H_KEYDATA {
            return OnPage::Undecided;
        }
        match cmp_onpage(key, &k[1..]) {
            Ordering::Equal => {
                return match item(b, e, 2 * i + 1, inp_end) {
                    Some(d) => OnPage::Data(d),
                    None => OnPage::Undecided,
                }
            }
            Ordering::Greater => {
                base = i + 1;
                lim -= 1;
            }
            Ordering::Less => {}
        }
        lim >>= 1;
    }
    OnPage::NotHere(next)
}

impl<F: Store> HashStore<F> {
    /// Looks `key` up, using decoded pages where cached and raw page bytes otherwise.
    pub(super) fn raw_lookup(&mut self, key: &[u8]) -> Result<RawLookup> {
        let bucket = self.bucket_of_key(key);
        let mut pgno = self.meta.bucket_page(bucket);
        let mut hops = 0u32;
        let mut buf = std::mem::take(&mut self.scratch);
        let res = loop {
            if self.hash_cache.contains_key(&pgno) {
                // A decoded page is at hand: the decoding path answers as cheaply.
                break Ok(RawLookup::Undecided);
            }
            if let Err(e) = self.read_raw_into(pgno, &mut buf) {
                break Err(e);
            }
            let e = self.meta.endian;
            match search_page(&buf, pgno, e, key) {
                OnPage::Undecided => break Ok(RawLookup::Undecided),
                OnPage::NotHere(0) => break Ok(RawLookup::Absent),
                OnPage::NotHere(next) => {
                    hops += 1;
                    if hops > self.meta.last_pgno {
                        break Ok(RawLookup::Undecided);
                    }
                    pgno = next;
                }
                OnPage::Data(d) => match d[0] {
                    H_KEYDATA => break Ok(RawLookup::Found(d[1..].to_vec())),
                    H_OFFPAGE if d.len() >= OFFPAGE_SIZE => {
                        let (p, t) = (e.u32(&d[4..8]), e.u32(&d[8..12]));
                        break self.read_big(p, t).map(RawLookup::Found);
                    }
                    _ => break Ok(RawLookup::Undecided),
                },
            }
        };
        self.scratch = buf;
        res
    }
}

impl<F: Store> HashStore<F> {
    /// Walks every bucket chain in iteration order (bucket 0..=max_bucket, chain order,
    /// index order) and pushes each key to `out` when given; returns the number of pairs.
    /// Sorted pages are read as raw bytes; a page already decoded in the cache, an unsorted
    /// page, or one [`page_edit::check_hash_page`] refuses goes through the decoding path
    /// (which reports corruption precisely).
    pub(super) fn walk_keys(&mut self, mut out: Option<&mut Vec<Vec<u8>>>) -> Result<usize> {
        let mut buf = std::mem::take(&mut self.iter_buf);
        let mut count = 0usize;
        let res = (|| {
            let e = self.meta.endian;
            for bucket in 0..=self.meta.max_bucket {
                let mut pgno = self.meta.bucket_page(bucket);
                let mut hops = 0u32;
                loop {
                    let raw = !self.hash_cache.contains_key(&pgno) && {
                        self.read_raw_into(pgno, &mut buf)?;
                        let hdr = page_edit::header(&buf, e);
                        hdr.pgno == 0 || page_edit::check_hash_page(&buf, pgno, e)
                    };
                    let next = if raw {
                        let hdr = page_edit::header(&buf, e);
                        // ndbm spec §5.1: a hole (pgno field 0) is an empty bucket page.
                        let n = if hdr.pgno == 0 { 0 } else { hdr.entries };
                        count += n / 2;
                        if let Some(out) = out.as_deref_mut() {
                            for j in (0..n).step_by(2) {
                                let k = page_edit::item(&buf, e, j);
                                if k[0] == H_KEYDATA {
                                    out.push(k[1..].to_vec());
                                } else {
                                    let (p, t) = (e.u32(&k[4..8]), e.u32(&k[8..12]));
                                    out.push(self.read_big(p, t)?);
                                }
                            }
                        }
                        if hdr.pgno == 0 {
                            0
                        } else {
                            hdr.next
                        }
                    } else {
                        let page = self.hash_page(pgno)?;
                        count += page.pairs.len();
                        if let Some(out) = out.as_deref_mut() {
                            for p in &page.pairs {
                                out.push(self.item_bytes(&p.key)?);
                            }
                        }
                        page.next
                    };
                    if next == 0 {
                        break;
                    }
                    hops += 1;
                    if hops > self.meta.last_pgno {
                        return Err(self.corrupt(
                            pgno as u64 * self.pagesize as u64 + 16,
                            "a bucket chain without a loop",
                        ));
                    }
                    pgno = next;
                }
            }
            Ok(())
        })();
        self.iter_buf = buf;
        res.map(|()| count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pydbm_engine::prng::SplitMix64;
    use pydbm_engine::{Pager, PagerOptions};

    /// On a freshly opened store (empty decoded cache), the raw path never disagrees with
    /// the decoding path: every stored key (small, 1025-byte off-page keys and values) is
    /// found with its value or left undecided, absent keys are absent or undecided, and
    /// the common case (on-page keys) is decided.
    #[test]
    fn raw_lookup_agrees_with_the_decoding_path() {
        let mut st = HashStore::create(
            Pager::in_memory("raw.db", &[], PagerOptions::default()).unwrap(),
            [0; 20],
        )
        .unwrap();
        let mut rng = SplitMix64::new(42);
        let mut pairs = Vec::new();
        for i in 0..3000u32 {
            let klen = if i % 97 == 0 {
                1025
            } else {
                4 + (rng.below(20) as usize)
            };
            let vlen = if i % 53 == 0 {
                5000
            } else {
                rng.below(120) as usize
            };
            let mut k = i.to_le_bytes().to_vec();
            k.resize(klen, (i % 251) as u8);
            let v: Vec<u8> = (0..vlen).map(|j| (j as u8) ^ (i as u8)).collect();
            st.put(&k, &v).unwrap();
            pairs.push((k, v));
        }
        st.file_mut().commit().unwrap();
        let bytes = st.into_file().image().unwrap();
        let mut fresh =
            HashStore::open(Pager::in_memory("raw.db", &bytes, PagerOptions::default()).unwrap())
                .unwrap();
        // The raw key walk lists what the decoding walk lists, in the same order.
        let decoded: Vec<Vec<u8>> = fresh.items().unwrap().into_iter().map(|(k, _)| k).collect();
        fresh.hash_cache.clear();
        assert_eq!(fresh.keys().unwrap(), decoded);
        assert_eq!(fresh.count().unwrap(), pairs.len());
        let mut decided = 0;
        for (k, v) in &pairs {
            match fresh.raw_lookup(k).unwrap() {
                RawLookup::Found(got) => {
                    assert_eq!(&got, v);
                    decided += 1;
                }
                RawLookup::Undecided => {}
                RawLookup::Absent => panic!("raw lookup missed a stored key of {} bytes", k.len()),
            }
            assert_eq!(fresh.get(k).unwrap().as_ref(), Some(v));
        }
        assert!(
            decided > pairs.len() / 2,
            "only {decided} lookups decided on raw bytes"
        );
        for i in 0..500u32 {
            let k = format!("absent-{i}").into_bytes();
            assert!(matches!(
                fresh.raw_lookup(&k).unwrap(),
                RawLookup::Absent | RawLookup::Undecided
            ));
            assert_eq!(fresh.get(&k).unwrap(), None);
        }
    }
}

#[cfg(test)]
mod corpus_key_tests {
    use super::*;
    use crate::ndbm::corpus_tests::corpus_files;
    use pydbm_engine::{Pager, PagerOptions};

    /// On every libdb corpus file (both byte orders, unsorted pages, big keys, chains),
    /// the raw key walk lists exactly the keys of the decoding walk.
    #[test]
    fn raw_key_walk_lists_what_the_decoding_walk_lists() {
        for (name, bytes) in corpus_files() {
            let Ok(mut st) =
                HashStore::open(Pager::in_memory(&name, &bytes, PagerOptions::default()).unwrap())
            else {
                continue;
            };
            let raw = st.keys().unwrap();
            assert_eq!(st.count().unwrap(), raw.len(), "{name}");
            let decoded: Vec<Vec<u8>> = st.items().unwrap().into_iter().map(|(k, _)| k).collect();
            assert_eq!(raw, decoded, "{name}");
        }
    }
}
