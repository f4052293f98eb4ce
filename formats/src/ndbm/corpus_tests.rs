//! Every file of the committed libdb corpus lists exactly the pairs of its
//! `db5.3_dump -p` output, in the same order (ndbm spec §5).

use std::path::PathBuf;

use super::pagefile::MemFile;
use super::parse_db_dump;
use super::store::HashStore;

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
        let mut st = HashStore::open(MemFile::new(&name, bytes)).unwrap();
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
    let mut st = HashStore::open(MemFile::new("emptykv", bytes)).unwrap();
    let items = st.items().unwrap();
    assert!(items.iter().any(|(_, v)| v.is_empty()));
    for (k, v) in items {
        assert_eq!(st.get(&k).unwrap(), Some(v));
    }
}
