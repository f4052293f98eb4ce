//! Every file of the committed libdb corpus lists exactly the pairs of its
//! `db5.3_dump -p` output, in the same order (ndbm spec §5).

use std::path::PathBuf;

use super::parse_db_dump;
use super::store::HashStore;
use pydbm_engine::{Pager, PagerOptions};

pub(crate) fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ndbm/corpus")
}

pub(crate) fn corpus_files() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(corpus_dir()).expect("the corpus fixture directory is committed") {
        let p = e.expect("readable directory entry").path();
        if p.extension().is_some_and(|x| x == "db") {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            out.push((name, std::fs::read(&p).expect("readable corpus file")));
        }
    }
    out.sort();
    out
}

#[test]
fn every_corpus_file_lists_its_dump() {
    let files = corpus_files();
    assert!(files.len() >= 20, "corpus has {} files", files.len());
    for (name, bytes) in files {
        let dump = std::fs::read(corpus_dir().join(format!("{name}.dump.txt"))).unwrap();
        let want = parse_db_dump(&dump).unwrap();
        let mut st =
            HashStore::open(Pager::in_memory(&name, &bytes, PagerOptions::default()).unwrap())
                .unwrap();
        let got = st.items().unwrap();
        assert_eq!(got.len(), want.len(), "{name}: pair count");
        assert_eq!(got, want, "{name}: pairs and order");
        for (k, v) in &want {
            assert_eq!(st.get(k).unwrap().as_ref(), Some(v), "{name}: get");
        }
        assert_eq!(st.count().unwrap(), want.len());
    }
}

#[test]
fn empty_values_are_returned() {
    // ndbm spec §1: Python's binding can fail to return empty values; pydbm returns b"".
    let bytes = std::fs::read(corpus_dir().join("emptykv.db")).unwrap();
    let mut st =
        HashStore::open(Pager::in_memory("emptykv", &bytes, PagerOptions::default()).unwrap())
            .unwrap();
    let items = st.items().unwrap();
    assert!(items.iter().any(|(_, v)| v.is_empty()));
    for (k, v) in items {
        assert_eq!(st.get(&k).unwrap(), Some(v));
    }
}

#[test]
fn every_corpus_file_checks_clean() {
    for (name, bytes) in corpus_files() {
        let mut st =
            HashStore::open(Pager::in_memory(&name, &bytes, PagerOptions::default()).unwrap())
                .unwrap();
        let problems = super::check::check(&mut st).unwrap();
        assert!(problems.is_empty(), "{name}: {problems:?}");
    }
}

#[test]
fn check_reports_damage_by_class() {
    let bytes = std::fs::read(corpus_dir().join("chains.db")).unwrap();
    // A page number that does not match its position.
    let mut b = bytes.clone();
    b[3 * 4096 + 8] ^= 0x40;
    let mut st =
        HashStore::open(Pager::in_memory("chains", &b, PagerOptions::default()).unwrap()).unwrap();
    let p = super::check::check(&mut st).unwrap();
    assert!(p.iter().any(|p| p.offset == Some(3 * 4096 + 8)), "{p:?}");
    // A key moved to another bucket's page: first item byte of page 1's first key.
    let mut b = bytes.clone();
    let off = u16::from_le_bytes([b[4096 + 26], b[4096 + 27]]) as usize;
    b[4096 + off + 1] ^= 0x5a;
    let mut st =
        HashStore::open(Pager::in_memory("chains", &b, PagerOptions::default()).unwrap()).unwrap();
    let p = super::check::check(&mut st).unwrap();
    assert!(
        p.iter().any(|p| p.message.contains("hashes to bucket")),
        "{p:?}"
    );
    // A truncated file.
    let mut b = bytes.clone();
    b.truncate(b.len() - 100);
    let mut st =
        HashStore::open(Pager::in_memory("chains", &b, PagerOptions::default()).unwrap()).unwrap();
    let p = super::check::check(&mut st).unwrap();
    assert!(p.iter().any(|p| p.message.contains("last_pgno")), "{p:?}");
}

#[test]
fn crashtest_small_workload_has_no_violations() {
    for d in [
        pydbm_engine::Durability::Process,
        pydbm_engine::Durability::Full,
    ] {
        let rep = super::format::crashtest(40, 7, d, None, &mut |_, _| {}).unwrap();
        assert!(rep.crash_points > 100, "{rep:?}");
        assert_eq!(rep.violations, 0, "{:?}", rep.details);
    }
}

#[test]
fn big_endian_files_stay_big_endian_and_sound_after_writes() {
    let bytes = std::fs::read(corpus_dir().join("be_small.db")).unwrap();
    let mut st =
        HashStore::open(Pager::in_memory("be_small", &bytes, PagerOptions::default()).unwrap())
            .unwrap();
    assert_eq!(st.meta().endian, super::Endian::Big);
    let before = st.items().unwrap();
    for i in 0..500u32 {
        st.put(
            format!("k{i}").as_bytes(),
            &vec![i as u8; (i % 7 * 300) as usize],
        )
        .unwrap();
    }
    for i in (0..500u32).step_by(3) {
        assert!(st.delete(format!("k{i}").as_bytes()).unwrap());
    }
    st.file_mut().commit().unwrap();
    let bytes = st.into_file().image().unwrap();
    assert_eq!(&bytes[12..16], &[0, 0x06, 0x15, 0x61]);
    let mut st =
        HashStore::open(Pager::in_memory("be_small", &bytes, PagerOptions::default()).unwrap())
            .unwrap();
    assert!(super::check::check(&mut st).unwrap().is_empty());
    for (k, v) in &before {
        assert_eq!(st.get(k).unwrap().as_ref(), Some(v));
    }
    for i in 0..500u32 {
        let want = (i % 3 != 0).then(|| vec![i as u8; (i % 7 * 300) as usize]);
        assert_eq!(st.get(format!("k{i}").as_bytes()).unwrap(), want);
    }
    assert_eq!(st.count().unwrap(), before.len() + 500 - 167);
}
