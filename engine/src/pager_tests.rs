//! Unit tests of the pager against a plain in-memory model.

use std::path::Path;
use std::sync::Arc;

use crate::prng::SplitMix64;
use crate::{
    Durability, Error, FileSpec, LockKind, LockMode, MemVfs, OsVfs, Pager, PagerOptions, Vfs,
};

fn specs() -> Vec<FileSpec> {
    vec![FileSpec::new("/d/a.dat"), FileSpec::new("/d/a.dir")]
}

fn small(durability: Durability) -> PagerOptions {
    PagerOptions {
        page_size: 64,
        cache_bytes: 4 * 64,
        durability,
        ..PagerOptions::default()
    }
}

/// `opts` with an exclusive in-process lock (what a writer that may recover takes).
fn locked(opts: PagerOptions) -> PagerOptions {
    PagerOptions {
        lock: Some((LockKind::None, LockMode::Exclusive)),
        ..opts
    }
}

fn contents(p: &mut Pager, f: usize) -> Option<Vec<u8>> {
    if !p.exists(f) {
        return None;
    }
    let mut buf = vec![0u8; p.len(f) as usize];
    p.read_at(f, 0, &mut buf).unwrap();
    Some(buf)
}

#[test]
fn commit_persists_and_reads_back() {
    let mem = MemVfs::new();
    let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
    let mut p = Pager::open(vfs.clone(), specs(), small(Durability::Process)).unwrap();
    assert!(!p.exists(0));
    p.write_at(0, 100, b"hello").unwrap();
    assert_eq!(p.len(0), 105);
    assert_eq!(
        mem.read_file(Path::new("/d/a.dat")),
        None,
        "nothing written before commit"
    );
    p.commit().unwrap();
    let mut want = vec![0u8; 105];
    want[100..].copy_from_slice(b"hello");
    assert_eq!(mem.read_file(Path::new("/d/a.dat")).unwrap(), want);
    let journal = mem.read_file(Path::new("/d/a.dat-journal")).unwrap();
    assert_eq!(
        journal[..8],
        [0u8; 8],
        "commit invalidates the journal's magic"
    );
    p.close().unwrap();
    assert!(!mem.exists(Path::new("/d/a.dat-journal")).unwrap());
    let mut p = Pager::open(vfs, specs(), small(Durability::Full)).unwrap();
    assert_eq!(contents(&mut p, 0).unwrap(), want);
    assert_eq!(contents(&mut p, 1), None);
    let mut b = [0u8; 6];
    match p.read_at(0, 100, &mut b) {
        Err(Error::Corrupt { offset: 100, .. }) => {}
        other => panic!("expected Corrupt at 100, got {other:?}"),
    }
}

#[test]
fn rollback_and_hot_journal_restore_evicted_pages() {
    for durability in [Durability::Process, Durability::Full] {
        let mem = MemVfs::new();
        let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
        let mut p = Pager::open(vfs.clone(), specs(), small(durability)).unwrap();
        let base: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        p.write_at(0, 0, &base).unwrap();
        p.commit().unwrap();
        // A transaction bigger than the 4-page cache: pages are evicted to disk.
        p.write_at(0, 0, &[0xEE; 900]).unwrap();
        p.write_at(1, 0, b"new file").unwrap();
        p.set_len(0, 500).unwrap();
        assert_ne!(mem.read_file(Path::new("/d/a.dat")).unwrap(), base);
        p.rollback().unwrap();
        assert_eq!(contents(&mut p, 0).unwrap(), base);
        assert_eq!(contents(&mut p, 1), None);
        assert_eq!(mem.read_file(Path::new("/d/a.dat")).unwrap(), base);
        // Same again, but the process "dies": the next open finds the hot journal.
        p.write_at(0, 10, &[0xAB; 700]).unwrap();
        p.remove_file(0).unwrap();
        p.write_at(1, 5, b"x").unwrap();
        assert!(mem.read_file(Path::new("/d/a.dat-journal")).unwrap().len() > 8);
        drop(p);
        let lines = Pager::recover(&*vfs, Path::new("/d/a.dat"))
            .unwrap()
            .unwrap();
        assert!(lines.iter().any(|l| l.contains("rolled back")), "{lines:?}");
        assert_eq!(mem.read_file(Path::new("/d/a.dat")).unwrap(), base);
        assert_eq!(mem.read_file(Path::new("/d/a.dir")), None);
        assert!(!mem.exists(Path::new("/d/a.dat-journal")).unwrap());
        assert_eq!(Pager::recover(&*vfs, Path::new("/d/a.dat")).unwrap(), None);
    }
}

/// A read-only open never writes (docs/recovery.md): with a hot journal it is refused and
/// leaves the journal and the files as they are; the next writer's open rolls back.
#[test]
fn read_only_open_refuses_a_hot_journal_and_a_writer_recovers_it() {
    let mem = MemVfs::new();
    let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
    let mut p = Pager::open(vfs.clone(), specs(), small(Durability::Process)).unwrap();
    p.write_at(0, 0, &[1; 300]).unwrap();
    p.commit().unwrap();
    p.write_at(0, 0, &[2; 600]).unwrap();
    drop(p);
    let ro = PagerOptions {
        read_only: true,
        lock: Some((LockKind::Flock, LockMode::Shared)),
        ..small(Durability::Process)
    };
    let journal = Path::new("/d/a.dat-journal");
    let before = (mem.read_file(Path::new("/d/a.dat")), mem.read_file(journal));
    match Pager::open(vfs.clone(), specs(), ro.clone()) {
        Err(e @ Error::HotJournal { .. }) => assert!(
            e.to_string()
                .contains("open writable or run `pydbm recover`"),
            "{e}"
        ),
        other => panic!("expected HotJournal, got {other:?}"),
    }
    assert_eq!(
        (mem.read_file(Path::new("/d/a.dat")), mem.read_file(journal)),
        before,
        "a reader changed a file"
    );
    let w = Pager::open(vfs.clone(), specs(), locked(small(Durability::Process))).unwrap();
    w.close().unwrap();
    let mut r = Pager::open(vfs, specs(), ro).unwrap();
    assert_eq!(contents(&mut r, 0).unwrap(), vec![1; 300]);
    assert!(matches!(
        r.write_at(0, 0, b"x"),
        Err(Error::ReadOnly { .. })
    ));
    assert!(!mem.exists(journal).unwrap());
}

#[test]
fn journal_for_other_files_is_refused() {
    let mem = MemVfs::new();
    let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
    let mut p = Pager::open(vfs.clone(), specs(), small(Durability::Process)).unwrap();
    p.write_at(0, 0, &[1; 600]).unwrap();
    drop(p);
    let other = vec![FileSpec::new("/d/a.dat")];
    match Pager::open(vfs, other, locked(small(Durability::Process))) {
        Err(Error::Corrupt { .. }) => {}
        r => panic!("expected Corrupt, got {r:?}"),
    }
}

#[test]
fn exclusive_pagers_exclude_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
    let spec = vec![FileSpec::new(dir.path().join("db"))];
    let opts = PagerOptions {
        lock: Some((LockKind::Flock, LockMode::Exclusive)),
        ..PagerOptions::default()
    };
    let a = Pager::open(vfs.clone(), spec.clone(), opts.clone()).unwrap();
    assert!(matches!(
        Pager::open(vfs.clone(), spec.clone(), opts.clone()),
        Err(Error::Locked { .. })
    ));
    a.close().unwrap();
    let b = Pager::open(vfs, spec, opts).unwrap();
    b.close().unwrap();
}

/// Random operations against a model, over every durability, with a tiny cache so that
/// evictions happen inside transactions; commits and rollbacks at random points.
#[test]
fn random_operations_match_model() {
    for (seed, durability) in (0..24u64).zip(
        [Durability::None, Durability::Process, Durability::Full]
            .into_iter()
            .cycle(),
    ) {
        let mem = MemVfs::new();
        let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
        let model = random_model_run(seed, durability, vfs, specs());
        for (i, spec) in specs().iter().enumerate() {
            assert_eq!(
                mem.read_file(&spec.path),
                model[i],
                "seed {seed} file {i} on disk"
            );
        }
    }
}

/// The same random workload on real files read through a memory map: the pager then reads
/// pages that are not dirty straight from the map instead of its cache (including after
/// truncations, removals, evictions and rollbacks), and must still see the model's bytes.
#[test]
fn random_operations_match_model_with_mmap_reads() {
    for (seed, durability) in (100..112u64).zip(
        [Durability::None, Durability::Process, Durability::Full]
            .into_iter()
            .cycle(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let specs = vec![
            FileSpec::new(dir.path().join("a.dat")),
            FileSpec::new(dir.path().join("a.dir")),
        ];
        let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::with_mmap_reads());
        let model = random_model_run(seed, durability, vfs, specs.clone());
        for (i, spec) in specs.iter().enumerate() {
            assert_eq!(
                std::fs::read(&spec.path).ok(),
                model[i],
                "seed {seed} file {i} on disk"
            );
        }
    }
}

/// Runs 300 random writes, truncations, removals, commits and rollbacks on a small-cache
/// pager over `vfs`, checking whole-file and random-range reads against a model after each
/// step; closes the pager and returns the model.
fn random_model_run(
    seed: u64,
    durability: Durability,
    vfs: Arc<dyn Vfs>,
    specs: Vec<FileSpec>,
) -> Vec<Option<Vec<u8>>> {
    let mut rng = SplitMix64::new(seed);
    let mut p = Pager::open(vfs, specs, small(durability)).unwrap();
    let mut model: Vec<Option<Vec<u8>>> = vec![None, None];
    let mut committed = model.clone();
    for _ in 0..300 {
        let f = rng.below(2) as usize;
        match rng.below(10) {
            0..=4 => {
                let off = rng.below(700);
                let data: Vec<u8> = (0..rng.below(200)).map(|_| rng.next_u64() as u8).collect();
                // write_direct: straight to the file under None, write_at otherwise.
                if rng.below(3) == 0 {
                    p.write_direct(f, off, &data).unwrap();
                } else {
                    p.write_at(f, off, &data).unwrap();
                }
                let m = model[f].get_or_insert_with(Vec::new);
                let end = off as usize + data.len();
                if m.len() < end {
                    m.resize(end, 0);
                }
                m[off as usize..end].copy_from_slice(&data);
            }
            5 => {
                let len = rng.below(800);
                p.set_len(f, len).unwrap();
                model[f]
                    .get_or_insert_with(Vec::new)
                    .resize(len as usize, 0);
            }
            6 => {
                p.remove_file(f).unwrap();
                model[f] = None;
            }
            7 if durability != Durability::None => {
                p.rollback().unwrap();
                model = committed.clone();
            }
            _ => {
                p.commit().unwrap();
                committed = model.clone();
            }
        }
        for (i, want) in model.iter().enumerate() {
            // Prefetch hints anywhere (dirty or clean pages, past the end) never fail.
            p.prefetch(i, rng.below(900), rng.below(130) as usize);
            assert_eq!(&contents(&mut p, i), want, "seed {seed} file {i}");
            if let Some(m) = want.as_ref().filter(|m| !m.is_empty()) {
                let a = rng.below(m.len() as u64) as usize;
                let b = a + rng.below((m.len() - a) as u64 + 1) as usize;
                let mut buf = vec![0xAA; b - a];
                p.read_at(i, a as u64, &mut buf).unwrap();
                assert_eq!(buf, m[a..b], "seed {seed} file {i} bytes {a}..{b}");
                // read_direct: straight from the file (cached pages over it) under None with
                // no transaction open, read_at otherwise; the same bytes either way.
                let mut buf = vec![0xee; b - a];
                p.read_direct(i, a as u64, &mut buf).unwrap();
                assert_eq!(buf, m[a..b], "seed {seed} file {i} read_direct {a}..{b}");
                // bytes_at: the same bytes in place when it can show them (one page, cached,
                // dirty or mapped); `None` otherwise, never different bytes.
                if let Some(bytes) = p.bytes_at(i, a as u64, b - a).unwrap() {
                    assert_eq!(bytes, &m[a..b], "seed {seed} file {i} bytes_at {a}..{b}");
                }
            }
        }
    }
    p.close().unwrap();
    model
}

/// A commit that fails half-way (the disk refuses a page write after a truncation and a
/// removal were applied) must leave `rollback` able to restore both files.
#[test]
fn rollback_after_a_failed_commit_restores_truncated_and_removed_files() {
    for durability in [Durability::Process, Durability::Full] {
        let mem = MemVfs::with_limit(4096);
        let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
        let mut p = Pager::open(vfs.clone(), specs(), small(durability)).unwrap();
        let a: Vec<u8> = (0..1000u32).map(|i| (i * 3) as u8).collect();
        let b: Vec<u8> = (0..300u32).map(|i| (i * 5) as u8).collect();
        p.write_at(0, 0, &a).unwrap();
        p.write_at(1, 0, &b).unwrap();
        p.commit().unwrap();
        // File 0 is truncated, file 1 removed; the page written past the limit fails last.
        p.set_len(0, 10).unwrap();
        p.remove_file(1).unwrap();
        p.write_at(0, 5000, b"too far").unwrap();
        assert!(p.commit().is_err(), "the write past the limit fails");
        p.rollback().unwrap();
        assert_eq!(mem.read_file(Path::new("/d/a.dat")).unwrap(), a);
        assert_eq!(mem.read_file(Path::new("/d/a.dir")).unwrap(), b);
        assert_eq!(contents(&mut p, 0).unwrap(), a);
        assert_eq!(contents(&mut p, 1).unwrap(), b);
    }
}

#[test]
fn ranges_past_the_largest_offset_are_bad_arguments() {
    let vfs: Arc<dyn Vfs> = Arc::new(MemVfs::new());
    let mut p = Pager::open(vfs, specs(), small(Durability::Process)).unwrap();
    let max = crate::MAX_FILE_LEN;
    for off in [u64::MAX - 2, max, max - 1] {
        assert!(
            matches!(p.write_at(0, off, b"xy"), Err(Error::BadArgument(_))),
            "write at {off}"
        );
        let mut buf = [0u8; 2];
        assert!(
            matches!(p.read_at(0, off, &mut buf), Err(Error::BadArgument(_))),
            "read at {off}"
        );
    }
    assert!(matches!(p.set_len(0, u64::MAX), Err(Error::BadArgument(_))));
    assert!(matches!(p.set_len(0, max + 1), Err(Error::BadArgument(_))));
    assert!(!p.exists(0), "nothing was created");
}

/// Leaves a hot journal: a committed 300-byte file 0, then an uncommitted overwrite whose
/// pages reached the disk through evictions (the pager is dropped mid-transaction).
fn hot_journal(vfs: &Arc<dyn Vfs>) -> Vec<u8> {
    let mut p = Pager::open(vfs.clone(), specs(), small(Durability::Process)).unwrap();
    p.write_at(0, 0, &[1; 300]).unwrap();
    p.commit().unwrap();
    p.write_at(0, 0, &[2; 600]).unwrap();
    drop(p);
    vec![1; 300]
}

/// Without a lock the journal may be a live writer's: an open must neither roll it back nor
/// delete it, read-only or not.
#[test]
fn unlocked_open_refuses_a_hot_journal_and_changes_nothing() {
    let mem = MemVfs::new();
    let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
    hot_journal(&vfs);
    let disk = mem.read_file(Path::new("/d/a.dat")).unwrap();
    let journal = mem.read_file(Path::new("/d/a.dat-journal")).unwrap();
    for read_only in [false, true] {
        let opts = PagerOptions {
            read_only,
            ..small(Durability::Process)
        };
        match Pager::open(vfs.clone(), specs(), opts) {
            Err(e @ Error::HotJournal { .. }) => {
                assert!(e.to_string().contains("pydbm recover"), "{e}")
            }
            r => panic!("expected HotJournal, got {r:?}"),
        }
        assert_eq!(mem.read_file(Path::new("/d/a.dat")).unwrap(), disk);
        assert_eq!(
            mem.read_file(Path::new("/d/a.dat-journal")).unwrap(),
            journal
        );
    }
    // An invalidated journal is no obstacle.
    let mut p = Pager::open(vfs.clone(), specs(), locked(small(Durability::Process))).unwrap();
    assert_eq!(contents(&mut p, 0).unwrap(), vec![1; 300]);
    p.write_at(0, 0, b"x").unwrap();
    p.commit().unwrap();
    drop(p);
    assert!(mem.exists(Path::new("/d/a.dat-journal")).unwrap());
    Pager::open(vfs, specs(), small(Durability::Process)).unwrap();
}

/// A reader that finds an invalidated journal must not ask for the exclusive lock: with a
/// second reader holding the shared lock that would fail with Locked.
#[test]
fn shared_open_ignores_an_invalidated_journal() {
    let mem = MemVfs::new();
    let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
    let mut p = Pager::open(vfs.clone(), specs(), small(Durability::Process)).unwrap();
    p.write_at(0, 0, &[1; 300]).unwrap();
    p.commit().unwrap();
    drop(p);
    assert!(mem.exists(Path::new("/d/a.dat-journal")).unwrap());
    let ro = PagerOptions {
        read_only: true,
        lock: Some((LockKind::None, LockMode::Shared)),
        ..small(Durability::Process)
    };
    let mut a = Pager::open(vfs.clone(), specs(), ro.clone()).unwrap();
    let mut b = Pager::open(vfs.clone(), specs(), ro).unwrap();
    assert_eq!(contents(&mut a, 0), contents(&mut b, 0));
}

/// `recover` takes the exclusive lock: a live writer's journal is never rolled back.
#[test]
fn recover_refuses_while_a_writer_holds_the_lock() {
    let mem = MemVfs::new();
    let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
    let mut w = Pager::open(vfs.clone(), specs(), locked(small(Durability::Process))).unwrap();
    w.write_at(0, 0, &[1; 300]).unwrap();
    w.commit().unwrap();
    w.write_at(0, 0, &[2; 600]).unwrap(); // evicts under the journal: the journal is hot
    let journal = mem.read_file(Path::new("/d/a.dat-journal")).unwrap();
    assert!(matches!(
        Pager::recover(&*vfs, Path::new("/d/a.dat")),
        Err(Error::Locked { .. })
    ));
    assert_eq!(
        mem.read_file(Path::new("/d/a.dat-journal")).unwrap(),
        journal
    );
    w.commit().unwrap();
    assert_eq!(contents(&mut w, 0).unwrap(), vec![2; 600]);
    drop(w);
    assert_eq!(Pager::recover(&*vfs, Path::new("/d/a.dat")).unwrap(), None);
    // No journal at all: nothing is created for the lock.
    assert_eq!(Pager::recover(&*vfs, Path::new("/d/none")).unwrap(), None);
    assert!(!mem.exists(Path::new("/d/none")).unwrap());
}

fn forged_journal(names: &[(&[u8], Option<u64>)], records: &[(u32, u64, Vec<u8>)]) -> Vec<u8> {
    use crate::journal::{JournalFile, JournalHeader, JournalRecord};
    // Version 1 (pre-images only): `Pager::recover` rolls those back unverified, so the
    // hostile-journal checks are what refuses them.
    let h = JournalHeader {
        version: crate::journal::VERSION_1,
        page_size: 64,
        salt: 9,
        files: names
            .iter()
            .map(|(n, l)| JournalFile {
                name: n.to_vec(),
                orig_len: *l,
            })
            .collect(),
    };
    let mut j = h.encode();
    for (file, offset, data) in records {
        j.extend(
            JournalRecord {
                file: *file,
                offset: *offset,
                data: data.clone(),
            }
            .encode(9),
        );
    }
    j
}

/// A hostile journal naming files outside its directory, or declaring an original length
/// nothing covers, is refused: no file changes, the journal stays for inspection.
#[test]
fn recover_refuses_hostile_journals() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("absolute", forged_journal(&[(b"/v/victim", None)], &[])),
        ("dotdot", forged_journal(&[(b"../v/victim", None)], &[])),
        ("separator", forged_journal(&[(b"sub/victim", None)], &[])),
        ("dots", forged_journal(&[(b"..", Some(0))], &[])),
        ("itself", forged_journal(&[(b"a.dat-journal", None)], &[])),
        (
            "duplicate",
            forged_journal(&[(b"a.dat", Some(4)), (b"a.dat", None)], &[]),
        ),
        (
            "huge original length",
            forged_journal(&[(b"a.dat", Some(1 << 60))], &[]),
        ),
        (
            "gap in the records",
            forged_journal(
                &[(b"a.dat", Some(300))],
                &[(0, 100, vec![7; 64]), (0, 228, vec![7; 64])],
            ),
        ),
    ];
    for (what, j) in cases {
        let mem = MemVfs::new();
        let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
        mem.write_file(Path::new("/v/victim"), b"precious");
        mem.write_file(Path::new("/d/sub/victim"), b"precious");
        mem.write_file(Path::new("/d/a.dat"), &[5; 100]);
        mem.write_file(Path::new("/d/a.dat-journal"), &j);
        match Pager::recover(&*vfs, Path::new("/d/a.dat")) {
            Err(Error::Corrupt { .. }) => {}
            r => panic!("{what}: expected Corrupt, got {r:?}"),
        }
        assert_eq!(
            mem.read_file(Path::new("/v/victim")).unwrap(),
            b"precious",
            "{what}"
        );
        assert_eq!(
            mem.read_file(Path::new("/d/sub/victim")).unwrap(),
            b"precious",
            "{what}"
        );
        assert_eq!(
            mem.read_file(Path::new("/d/a.dat")).unwrap(),
            vec![5; 100],
            "{what}"
        );
        assert_eq!(
            mem.read_file(Path::new("/d/a.dat-journal")).unwrap(),
            j,
            "{what}"
        );
    }
    // The same shape with the records covering the gap is a valid journal and recovers.
    let mem = MemVfs::new();
    let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
    mem.write_file(Path::new("/d/a.dat"), &[5; 100]);
    let recs: Vec<(u32, u64, Vec<u8>)> = vec![
        (0, 64, vec![7; 64]),
        (0, 128, vec![7; 64]),
        (0, 192, vec![7; 64]),
        (0, 256, vec![7; 44]),
    ];
    mem.write_file(
        Path::new("/d/a.dat-journal"),
        &forged_journal(&[(b"a.dat", Some(300))], &recs),
    );
    Pager::recover(&*vfs, Path::new("/d/a.dat"))
        .unwrap()
        .unwrap();
    let mut want = vec![5; 64];
    want.extend([7; 236]);
    assert_eq!(mem.read_file(Path::new("/d/a.dat")).unwrap(), want);
}

/// A sparse 1 TiB journal behind a valid header: recovery reads it in bounded pieces (it
/// used to allocate the whole file length and abort).
#[test]
fn recover_reads_a_huge_sparse_journal_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    std::fs::write(&db, [5u8; 100]).unwrap();
    let jp = dir.path().join("db-journal");
    std::fs::write(&jp, forged_journal(&[(b"db", Some(100))], &[])).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&jp).unwrap();
    if f.set_len(1 << 40).is_err() {
        println!("SKIPPED: this file system cannot hold a 1 TiB sparse file");
        return;
    }
    drop(f);
    let lines = Pager::recover(&OsVfs::new(), &db).unwrap().unwrap();
    assert!(lines.iter().any(|l| l.contains("torn tail")), "{lines:?}");
    assert_eq!(std::fs::read(&db).unwrap(), [5u8; 100]);
    assert!(!jp.exists());
}

/// Only the bytes a write changes are journaled (once each), not whole pages.
#[test]
fn journal_records_only_the_changed_bytes() {
    let mem = MemVfs::new();
    let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
    let opts = PagerOptions {
        page_size: 4096,
        ..PagerOptions::default()
    };
    // The file exists before the pager (no first transaction whose journal, with a fresh
    // image per 512 appended bytes, would outlast the one measured).
    mem.write_file(Path::new("/d/a.dat"), &[1; 8192]);
    let mut p = Pager::open(vfs, specs(), opts).unwrap();
    p.write_at(0, 100, &[2; 10]).unwrap();
    p.write_at(0, 105, &[3; 10]).unwrap(); // overlaps: only bytes 110..115 are new
    p.write_at(0, 100, &[4; 3]).unwrap(); // already journaled: no record
    p.commit().unwrap();
    let j = mem.read_file(Path::new("/d/a.dat-journal")).unwrap();
    let header =
        crate::journal::JournalHeader::parse(&[&crate::journal::MAGIC[..], &j[8..]].concat())
            .unwrap()
            .1;
    let rec = crate::journal::RECORD_HEADER_LEN;
    assert_eq!(
        j.len(),
        header + 2 * rec + 15 + rec + 2 * crate::journal::POST_ENTRY_LEN,
        "two records, 10 + 5 bytes, and one post-image record for both"
    );
    let mut want = vec![1u8; 8192];
    want[100..103].fill(4);
    want[103..105].fill(2);
    want[105..115].fill(3);
    assert_eq!(mem.read_file(Path::new("/d/a.dat")).unwrap(), want);
}

/// A hot journal whose transaction wrote pages (evictions), then the file changed by
/// "another program": in a range the transaction journaled, or past every length the
/// transaction gave it. Recovery refuses (naming the file and offset), changes nothing and
/// keeps the journal; `discard_journal` deletes it and leaves the files as they are. The
/// same journal over the files as the crash left them rolls back.
#[test]
fn recovery_refuses_to_roll_back_over_later_writes() {
    let setup = || {
        let mem = MemVfs::new();
        let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
        let mut p = Pager::open(vfs.clone(), specs(), small(Durability::Process)).unwrap();
        let base: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        p.write_at(0, 0, &base).unwrap();
        p.commit().unwrap();
        // Bigger than the 4-page cache: evicted pages reach the file, then the process dies.
        p.write_at(0, 0, &[0xEE; 900]).unwrap();
        drop(p);
        assert_ne!(mem.read_file(Path::new("/d/a.dat")).unwrap(), base);
        (mem, vfs, base)
    };
    let journal = Path::new("/d/a.dat-journal");
    // Untouched since the crash: rolls back.
    let (mem, vfs, base) = setup();
    Pager::recover(&*vfs, Path::new("/d/a.dat"))
        .unwrap()
        .unwrap();
    assert_eq!(mem.read_file(Path::new("/d/a.dat")).unwrap(), base);
    type Foreign = fn(&mut Vec<u8>);
    let foreign: [(&str, Foreign, &str); 2] = [
        ("rewrote byte 3", |d| d[3] = 0x11, "offset 0:"),
        (
            "appended",
            |d| d.extend_from_slice(&[7; 100]),
            "expected a length in 1000..=1000",
        ),
    ];
    for (what, change, want) in foreign {
        let (mem, vfs, _) = setup();
        let mut data = mem.read_file(Path::new("/d/a.dat")).unwrap();
        change(&mut data);
        mem.write_file(Path::new("/d/a.dat"), &data);
        let j = mem.read_file(journal).unwrap();
        for attempt in 0..2 {
            let err = if attempt == 0 {
                Pager::recover(&*vfs, Path::new("/d/a.dat")).unwrap_err()
            } else {
                Pager::open(vfs.clone(), specs(), locked(small(Durability::Process))).unwrap_err()
            };
            let text = err.to_string();
            assert!(
                text.contains("/d/a.dat: corrupt at ") && text.contains(want),
                "{what}: {text}"
            );
            assert!(text.contains("pydbm recover --discard"), "{what}: {text}");
            assert_eq!(
                mem.read_file(Path::new("/d/a.dat")).unwrap(),
                data,
                "{what}"
            );
            assert_eq!(mem.read_file(journal).unwrap(), j, "{what}: journal kept");
        }
        let lines = Pager::discard_journal(&*vfs, Path::new("/d/a.dat"))
            .unwrap()
            .unwrap();
        assert!(
            lines[0].contains("deleted without rolling back"),
            "{lines:?}"
        );
        assert!(!mem.exists(journal).unwrap());
        assert_eq!(
            mem.read_file(Path::new("/d/a.dat")).unwrap(),
            data,
            "{what}"
        );
    }
}

/// A live writer owns its journal: while it is open (mid-transaction, journal hot), no
/// recovery, writer or reader open in the process rolls the journal back or deletes it.
#[test]
fn a_live_writers_journal_is_never_rolled_back() {
    let mem = MemVfs::new();
    let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
    let mut p = Pager::open(vfs.clone(), specs(), small(Durability::Process)).unwrap();
    p.write_at(0, 0, &[1; 1000]).unwrap();
    p.commit().unwrap();
    p.write_at(0, 0, &[2; 900]).unwrap(); // evictions: the journal is hot
    let journal = Path::new("/d/a.dat-journal");
    let j = mem.read_file(journal).unwrap();
    assert!(matches!(
        crate::journal_status(&*vfs, Path::new("/d/a.dat")).unwrap(),
        crate::JournalStatus::Hot { in_use: true, .. }
    ));
    assert!(matches!(
        Pager::recover(&*vfs, Path::new("/d/a.dat")),
        Err(Error::Locked { .. })
    ));
    assert!(matches!(
        Pager::open(vfs.clone(), specs(), locked(small(Durability::Process))),
        Err(Error::Locked { .. })
    ));
    let ro = PagerOptions {
        read_only: true,
        ..small(Durability::Process)
    };
    assert!(matches!(
        Pager::open(vfs.clone(), specs(), ro),
        Err(Error::Locked { .. })
    ));
    assert_eq!(mem.read_file(journal).unwrap(), j);
    p.commit().unwrap();
    p.close().unwrap();
    let mut want = vec![2u8; 900];
    want.extend([1u8; 100]);
    assert_eq!(mem.read_file(Path::new("/d/a.dat")).unwrap(), want);
}

/// Issue 16 (dumb, reference first): "another program" writes after the crash where the old
/// post-image check compared nothing — past the least length of a transaction that
/// truncated the file (dbm.dumb's reorganize, `.dir` rewrites), and in bytes the transaction
/// appended past the original length (`.dat` appends, new `.dir` lines) — keeping every
/// length inside the transaction's range. Recovery must refuse both; over the files as the
/// crash left them it rolls back.
#[test]
fn recovery_refuses_later_writes_past_the_least_length_and_in_appended_bytes() {
    let base: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8 + 1).collect();
    type Txn = fn(&mut Pager);
    let cases: [(&str, Txn); 2] = [
        ("truncated to 0 and rewritten", |p| {
            p.set_len(0, 0).unwrap();
            p.write_at(0, 0, &[0xEE; 700]).unwrap();
        }),
        ("appended", |p| p.write_at(0, 1000, &[0xEE; 700]).unwrap()),
    ];
    for (what, txn) in cases {
        let setup = || {
            let mem = MemVfs::new();
            let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
            let mut p = Pager::open(vfs.clone(), specs(), small(Durability::Process)).unwrap();
            p.write_at(0, 0, &base).unwrap();
            p.commit().unwrap();
            // Bigger than the 4-page cache: evicted pages reach the file, then the process
            // dies.
            txn(&mut p);
            drop(p);
            (mem, vfs)
        };
        let (mem, vfs) = setup();
        Pager::recover(&*vfs, Path::new("/d/a.dat"))
            .unwrap()
            .unwrap();
        assert_eq!(
            mem.read_file(Path::new("/d/a.dat")).unwrap(),
            base,
            "{what}: untouched since the crash, it rolls back"
        );
        let (mem, vfs) = setup();
        let mut data = mem.read_file(Path::new("/d/a.dat")).unwrap();
        // Another program appends at the file's end as the crash left it (as CPython's dumb
        // does), staying inside the lengths the transaction gave the file.
        data.extend_from_slice(&[7; 100]);
        let hi = if what == "appended" { 1700 } else { 1000 };
        assert!(data.len() <= hi, "{what}: {} bytes", data.len());
        mem.write_file(Path::new("/d/a.dat"), &data);
        let err = Pager::recover(&*vfs, Path::new("/d/a.dat")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("/d/a.dat: corrupt at ") && text.contains("pydbm recover --discard"),
            "{what}: {text}"
        );
        assert_eq!(
            mem.read_file(Path::new("/d/a.dat")).unwrap(),
            data,
            "{what}: the other program's bytes are kept"
        );
    }
}
