//! Structural verification of a Berkeley DB hash file: the classes of problem
//! `db5.3_verify` reports (meta fields, page numbers and types, item offsets, bucket chain
//! links, pairs in the wrong bucket, page order, overflow chains, the free list, pages
//! referenced twice or not at all, file size).

use pydbm_engine::{Problem, Result};

use super::hash::{cmp_onpage, hash};
use super::page::{Item, Page};
use super::store::HashStore;
use pydbm_engine::Store;

/// How a page is used, as found by walking the structures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    Unseen,
    Bucket(u32),
    Overflow,
    Free,
}

struct Checker<'a, F: Store> {
    st: &'a mut HashStore<F>,
    uses: Vec<Use>,
    problems: Vec<Problem>,
}

impl<F: Store> Checker<'_, F> {
    fn problem(&mut self, offset: Option<u64>, message: String) {
        if self.problems.len() < 1000 {
            self.problems.push(Problem {
                file: self.st.file.path().to_path_buf(),
                offset,
                message,
            });
        }
    }

    /// Reports an error met while walking: a corrupt structure at its own offset.
    fn error(&mut self, fallback: u64, context: String, e: pydbm_engine::Error) {
        match e {
            pydbm_engine::Error::Corrupt {
                offset, expected, ..
            } => self.problem(Some(offset), format!("{context}: expected {expected}")),
            other => self.problem(Some(fallback), format!("{context}: {other}")),
        }
    }

    fn page_off(&self, pgno: u32) -> u64 {
        pgno as u64 * self.st.pagesize as u64
    }

    /// Claims page `pgno` for `how`; false (with a problem) when it is out of range or
    /// already used.
    fn claim(&mut self, pgno: u32, how: Use, from: String) -> bool {
        if pgno == 0 || pgno > self.st.meta.last_pgno {
            self.problem(
                None,
                format!(
                    "{from}: page {pgno} is outside 1..={}",
                    self.st.meta.last_pgno
                ),
            );
            return false;
        }
        let prev = self.uses[pgno as usize];
        if prev != Use::Unseen {
            let off = self.page_off(pgno);
            self.problem(
                Some(off),
                format!("{from}: page {pgno} is already used ({prev:?}): a loop or a shared page"),
            );
            return false;
        }
        self.uses[pgno as usize] = how;
        true
    }

    fn check_overflow(&mut self, first: u32, tlen: u32, from: String) {
        let mut pgno = first;
        let mut prev = 0u32;
        let mut total = 0u64;
        while pgno != 0 {
            if !self.claim(pgno, Use::Overflow, from.clone()) {
                return;
            }
            let off = self.page_off(pgno);
            match self.st.read_page(pgno) {
                Ok(Page::Overflow(o)) => {
                    if o.prev != prev {
                        self.problem(
                            Some(off + 12),
                            format!("overflow page {pgno}: prev {prev}, found {}", o.prev),
                        );
                    }
                    if o.refcount != 1 {
                        self.problem(
                            Some(off + 20),
                            format!(
                                "overflow page {pgno}: reference count 1, found {}",
                                o.refcount
                            ),
                        );
                    }
                    if o.next != 0 && o.data.len() != self.st.pagesize - 26 {
                        self.problem(
                            Some(off + 22),
                            format!(
                                "overflow page {pgno}: a full page of {} bytes before the chain's end, found {}",
                                self.st.pagesize - 26,
                                o.data.len()
                            ),
                        );
                    }
                    total += o.data.len() as u64;
                    prev = pgno;
                    pgno = o.next;
                }
                Ok(_) => {
                    self.problem(
                        Some(off + 25),
                        format!("{from}: page {pgno} is not an overflow page"),
                    );
                    return;
                }
                Err(e) => {
                    self.error(off, from.clone(), e);
                    return;
                }
            }
        }
        if total != tlen as u64 {
            self.problem(
                Some(self.page_off(first)),
                format!("{from}: overflow chain holds {total} bytes, the item says {tlen}"),
            );
        }
    }

    fn check_bucket(&mut self, bucket: u32) {
        let mut pgno = self.st.meta.bucket_page(bucket);
        let mut prev = 0u32;
        let mut first = true;
        while pgno != 0 {
            if !self.claim(pgno, Use::Bucket(bucket), format!("bucket {bucket}")) {
                return;
            }
            let off = self.page_off(pgno);
            let page = match self.st.read_page(pgno) {
                Ok(Page::Hash(h)) => h,
                Ok(Page::Hole) if first => return,
                Ok(other) => {
                    let kind = match other {
                        Page::Hole => "a zero (never written) page",
                        Page::Overflow(_) => "an overflow page",
                        _ => "a free page",
                    };
                    self.problem(
                        Some(off + 25),
                        format!("bucket {bucket}: page {pgno} is {kind}, expected a hash page"),
                    );
                    return;
                }
                Err(e) => {
                    self.error(off, format!("bucket {bucket}"), e);
                    return;
                }
            };
            if page.prev != prev {
                self.problem(
                    Some(off + 12),
                    format!(
                        "bucket {bucket}: page {pgno} prev {prev}, found {}",
                        page.prev
                    ),
                );
            }
            let mut last_onpage: Option<Vec<u8>> = None;
            for (i, pair) in page.pairs.iter().enumerate() {
                let key = match self.st.item_bytes(&pair.key) {
                    Ok(k) => k,
                    Err(e) => {
                        self.error(
                            off,
                            format!("bucket {bucket}: page {pgno} pair {i}: key"),
                            e,
                        );
                        continue;
                    }
                };
                let b = self.st.meta.bucket_of(hash(&key));
                if b != bucket {
                    self.problem(
                        Some(off),
                        format!("page {pgno} pair {i}: key hashes to bucket {b}, found in bucket {bucket}"),
                    );
                }
                // ndbm spec §3.3: on-page keys are sorted longer-first; libdb's own pages
                // are not consistently ordered around off-page keys, so only on-page
                // neighbours are compared.
                match &pair.key {
                    Item::Data(d) if page.sorted => {
                        if let Some(p) = &last_onpage {
                            if cmp_onpage(p, d) != std::cmp::Ordering::Less {
                                self.problem(
                                    Some(off),
                                    format!("page {pgno} pair {i}: keys out of order (sorted hash page)"),
                                );
                            }
                        }
                        last_onpage = Some(d.clone());
                    }
                    Item::OffPage { pgno: ov, tlen } => {
                        last_onpage = None;
                        self.check_overflow(*ov, *tlen, format!("page {pgno} pair {i} key"));
                    }
                    _ => {}
                }
                if let Item::OffPage { pgno: ov, tlen } = pair.data {
                    self.check_overflow(ov, tlen, format!("page {pgno} pair {i} data"));
                }
            }
            if !first && page.pairs.is_empty() {
                self.problem(
                    Some(off),
                    format!("bucket {bucket}: chain page {pgno} is empty"),
                );
            }
            prev = pgno;
            pgno = page.next;
            first = false;
        }
    }

    fn check_free_list(&mut self) {
        let mut pgno = self.st.meta.free;
        while pgno != 0 {
            if !self.claim(pgno, Use::Free, "free list".into()) {
                return;
            }
            let off = self.page_off(pgno);
            match self.st.read_page(pgno) {
                Ok(Page::Free { next, .. }) => pgno = next,
                Ok(_) => {
                    self.problem(
                        Some(off + 25),
                        format!("free list: page {pgno} is not a free (P_INVALID) page"),
                    );
                    return;
                }
                Err(e) => {
                    self.error(off, "free list".to_string(), e);
                    return;
                }
            }
        }
    }

    fn check_unreferenced(&mut self) {
        for pgno in 1..=self.st.meta.last_pgno {
            if self.uses[pgno as usize] != Use::Unseen {
                continue;
            }
            let off = self.page_off(pgno);
            match self.st.read_page(pgno) {
                // Reserved bucket pages: holes, or the empty page libdb writes at the end
                // of each group (ndbm spec §3.4).
                Ok(Page::Hole) => {}
                Ok(Page::Hash(h)) if h.pairs.is_empty() && h.next == 0 && h.prev == 0 => {}
                Ok(_) => self.problem(
                    Some(off),
                    format!("page {pgno} is not referenced by any bucket, overflow item or the free list"),
                ),
                Err(e) => self.error(off, format!("unreferenced page {pgno}"), e),
            }
        }
    }
}

/// Verifies every structure reachable in the file and returns the problems found (empty:
/// the file is sound). I/O failures are errors; damage is reported as problems.
pub fn check<F: Store>(st: &mut HashStore<F>) -> Result<Vec<Problem>> {
    let last = st.meta.last_pgno;
    let ps = st.pagesize as u64;
    let want_len = (last as u64 + 1) * ps;
    let len = st.file.len();
    let mut c = Checker {
        // HashStore::open guarantees last_pgno * pagesize < file length, so this is bounded
        // by the file's size.
        uses: vec![Use::Unseen; last as usize + 1],
        st,
        problems: Vec::new(),
    };
    if len != want_len {
        c.problem(
            Some(32),
            format!("file is {len} bytes; last_pgno {last} means {want_len}"),
        );
    }
    if c.st.meta.nelem > 0x8000_0000 {
        let n = c.st.meta.nelem;
        c.problem(Some(88), format!("nelem {n} is above 0x80000000"));
    }
    for b in 0..=c.st.meta.max_bucket {
        c.check_bucket(b);
    }
    c.check_free_list();
    c.check_unreferenced();
    Ok(c.problems)
}
