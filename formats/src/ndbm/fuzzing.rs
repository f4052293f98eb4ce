//! Entry point of the `ndbm_open` fuzz target (`fuzz/fuzz_targets/ndbm_open.rs`), also
//! replayed over its seed corpus by plain `cargo test`. It panics only when an invariant
//! is broken; hostile bytes must give errors, never panics, hangs or huge allocations.

use super::check::check;
use super::store::HashStore;
use pydbm_engine::{Durability, Pager, PagerOptions};

/// The in-memory store a fuzz input runs on: a pager over a memory disk with no journal
/// (nothing here rolls back), as fast as a plain buffer for these small files.
fn fuzz_pager() -> PagerOptions {
    PagerOptions {
        durability: Durability::None,
        ..PagerOptions::default()
    }
}

/// `ndbm_open`: opens `data` as a Berkeley DB hash file in memory, iterates it, looks every
/// listed key up, runs the checker, then inserts (small and big items, enough to split)
/// and deletes. Errors are fine at every step; after a successful write the file must
/// still open.
pub fn open_bytes(data: &[u8]) {
    let Ok(file) = Pager::in_memory("fuzz.db", data, fuzz_pager()) else {
        return;
    };
    let Ok(mut st) = HashStore::open(file) else {
        return;
    };
    if let Ok(keys) = st.keys() {
        for k in keys.iter().take(64) {
            let _ = st.get(k);
        }
    }
    let _ = st.count();
    let _ = check(&mut st);
    let mut wrote = true;
    for i in 0..48u32 {
        let k = format!("fuzz-{i}");
        wrote &= st.put(k.as_bytes(), &[i as u8; 40]).is_ok();
        if !wrote {
            break;
        }
    }
    if wrote {
        wrote &= st.put(&[b'B'; 1500], &[7; 5000]).is_ok();
    }
    if wrote {
        wrote &= st.delete(b"fuzz-3").is_ok();
    }
    if wrote {
        st.file_mut()
            .commit()
            .expect("a memory pager without a journal commits without I/O");
        let bytes = st
            .into_file()
            .image()
            .expect("a memory pager's image reads back");
        let file = Pager::in_memory("fuzz.db", &bytes, fuzz_pager())
            .expect("a memory pager over bytes pydbm wrote opens");
        let mut again = HashStore::open(file).expect("a file pydbm wrote opens");
        assert_eq!(
            again.get(b"fuzz-7").expect("a key pydbm stored reads back"),
            Some(vec![7u8; 40])
        );
    }
}

/// The body of the `ndbm_db_dump` fuzz target: `data` parsed as `db_dump -p`/`db_dump`
/// text (what `pydbm load` accepts from libdb's tools). Errors are fine; panics are bugs.
pub fn db_dump_text(data: &[u8]) {
    if let Ok(pairs) = super::parse_db_dump(data) {
        let total: usize = pairs.iter().map(|(k, v)| k.len() + v.len()).sum();
        assert!(
            total <= data.len(),
            "decoded pairs are never longer than their text"
        );
    }
}

/// The body of the `ndbm_open_any` fuzz target: `data` as `fuzz.db` on an in-memory disk,
/// opened through [`super::format::open_any`] — the sniffing path every user open takes
/// (db-1.85 hash read-only, else Berkeley DB 5.3 hash) — read, then opened `'w'` and
/// written. Errors are fine; panics are bugs.
pub fn open_any_bytes(data: &[u8]) {
    use pydbm_engine::{MemVfs, OpenOptions, Vfs};
    use std::path::Path;
    use std::sync::Arc;
    let mem = MemVfs::new();
    mem.write_file(Path::new("/fuzz/fuzz.db"), data);
    let vfs: Arc<dyn Vfs> = Arc::new(mem);
    let path = Path::new("/fuzz/fuzz");
    let r = OpenOptions::from_flag("r").expect("valid flag");
    if let Ok(mut db) = super::format::open_any(vfs.clone(), path, &r) {
        if let Ok(keys) = db.keys() {
            for k in keys.iter().take(64) {
                let _ = db.get(k);
            }
        }
        let _ = db.len();
        let _ = db.get(b"alpha");
        let _ = db.close();
    }
    let w = OpenOptions::from_flag("w").expect("valid flag");
    if let Ok(mut db) = super::format::open_any(vfs, path, &w) {
        for i in 0..24u32 {
            if db.insert(&i.to_le_bytes(), &[i as u8; 40]).is_err() {
                break;
            }
        }
        let _ = db.remove(&3u32.to_le_bytes());
        let _ = db.keys();
        let _ = db.close();
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    #[test]
    fn ndbm_open_seeds_replay() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/ndbm_open");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let data = std::fs::read(e.unwrap().path()).unwrap();
            super::open_bytes(&data);
            n += 1;
        }
        assert!(n >= 5, "only {n} seeds");
    }
}

#[cfg(test)]
mod bounded_writes {
    use super::super::store::HashStore;
    use pydbm_engine::Pager;

    /// `spares[2]` of a 3-page file points group 2 at page ~6.9 million: the first split
    /// that doubles the table used to write bucket 2's page there (`expand` →
    /// the in-memory file's write, a 27.5 GB allocation found by cargo-fuzz on a mutated
    /// be_small.db). The write is refused as corruption naming last_pgno.
    #[test]
    fn a_bucket_page_past_last_pgno_is_not_written() {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus/ndbm_open/spares_past_end.db");
        let bytes = std::fs::read(dir).expect("committed reproducer");
        let len = bytes.len();
        let mut st = HashStore::open(
            Pager::in_memory("spares_past_end.db", &bytes, super::fuzz_pager()).unwrap(),
        )
        .expect("the meta of the reproducer validates (group 2 is not in use yet)");
        let mut err = None;
        for i in 0..200u32 {
            if let Err(e) = st.put(format!("k{i}").as_bytes(), b"v") {
                err = Some(e.to_string());
                break;
            }
        }
        let err = err.expect("a put reaches the doubling and fails");
        assert!(err.contains("last_pgno"), "{err}");
        assert!(st.into_file().image().unwrap().len() <= len + 4 * 4096);
        super::open_bytes(
            &std::fs::read(
                std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../fuzz/corpus/ndbm_open/spares_past_end.db"),
            )
            .unwrap(),
        );
    }
}
