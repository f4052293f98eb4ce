//! Hostile files built in memory, one per review finding: each must give a clear error
//! (and never a panic, a doubled-out directory, duplicate keys or a negative count).

use pydbm_engine::Error;

use super::bucket::Bucket;
use super::handle::{FileOptions, GdbmFile};
use super::hash::hash;
use super::layout::Layout;
use pydbm_engine::{Pager, PagerOptions};

fn opts(writable: bool) -> FileOptions {
    FileOptions {
        writable,
        ..FileOptions::default()
    }
}

/// A fresh 512-byte-block file holding `keys` (value = key).
fn image(keys: &[&[u8]]) -> Vec<u8> {
    let st = Pager::in_memory("h.gdbm", &[], PagerOptions::default()).unwrap();
    let mut db = GdbmFile::create(st, Layout::NATIVE, 512, opts(true)).unwrap();
    for k in keys {
        db.store(k, k, true).unwrap();
    }
    db.close().unwrap().image().unwrap()
}

fn open(img: Vec<u8>, writable: bool) -> GdbmFile<Pager> {
    GdbmFile::open(
        Pager::in_memory("h.gdbm", &img, PagerOptions::default()).unwrap(),
        opts(writable),
    )
    .unwrap()
}

/// Rewrites the bucket at `adr` of `img` through `f`.
fn patch_bucket(img: &mut [u8], adr: i64, f: impl FnOnce(&mut Bucket)) {
    let db = open(img.to_vec(), false);
    let (l, n, bs) = (
        db.header().layout,
        db.header().bucket_elems as usize,
        db.header().bucket_size as usize,
    );
    let at = adr as usize;
    let mut b = Bucket::parse(l, &img[at..at + bs], n, adr as u64).unwrap();
    f(&mut b);
    b.encode_into(l, &mut img[at..at + bs]);
}

fn is_corrupt(e: &Error) -> bool {
    matches!(e, Error::Corrupt { .. })
}

/// split.rs: a full bucket whose (distinct) hashes share 22 leading bits with the new key
/// would need a 2^23-entry (64 MiB) directory; refused before any doubling.
#[test]
fn split_refuses_hashes_with_a_long_common_prefix() {
    let mut img = image(&[b"a"]);
    let db = open(img.clone(), false);
    let adr = db.directory()[0];
    let n = db.header().bucket_elems as usize;
    drop(db);
    let h = hash(b"new key");
    patch_bucket(&mut img, adr, |b| {
        let proto = b.elems.iter().find(|e| e.hash != -1).copied().unwrap();
        for (i, e) in b.elems.iter_mut().enumerate() {
            *e = proto;
            // Distinct values that agree with h on exactly the top 22 of 31 bits.
            e.hash = (h & !0x1ff) | (!h & 0x100) | (i as i32 & 0xff);
        }
        b.count = n as i32;
    });
    let mut db = open(img.clone(), true);
    let bits = db.header().dir_bits;
    let e = db.store(b"new key", b"v", true).unwrap_err();
    assert!(is_corrupt(&e), "{e}");
    assert!(e.to_string().contains("leading bits"), "{e}");
    assert_eq!(db.header().dir_bits, bits, "the directory was not doubled");
    // Sharing 28 bits needs more than libgdbm's 2^29-byte limit: DirOverflow up front.
    patch_bucket(&mut img, adr, |b| {
        for (i, e) in b.elems.iter_mut().enumerate() {
            e.hash = (h & !0x7) ^ ((i as i32 % 7) + 1);
        }
    });
    let mut db = open(img, true);
    let e = db.store(b"new key", b"v", true).unwrap_err();
    assert!(e.to_string().contains("this split needs"), "{e}");
}

/// handle.rs each_bucket/scan_from: a directory that references bucket A, then B, then A
/// again is corrupt, not a source of duplicate keys and an inflated len.
#[test]
fn non_contiguous_directory_runs_are_corrupt() {
    // 40 keys force a few splits, so the directory has at least two buckets.
    let keys: Vec<Vec<u8>> = (0..40).map(|i| format!("key{i}").into_bytes()).collect();
    let refs: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
    let mut img = image(&refs);
    let db = open(img.clone(), false);
    let (dir_at, dir) = (db.header().dir as usize, db.directory().to_vec());
    let l = db.header().layout;
    drop(db);
    assert!(dir.len() >= 4 && dir[0] != dir[dir.len() - 1]);
    let mut hostile = dir.clone();
    let last = hostile.len() - 1;
    hostile[last] = dir[0];
    img[dir_at..dir_at + dir.len() * 8].copy_from_slice(&super::directory::encode(l, &hostile));
    let mut db = open(img.clone(), false);
    assert!(is_corrupt(&db.count().unwrap_err()));
    let mut db = open(img.clone(), false);
    assert!(is_corrupt(&db.keys().unwrap_err()));
    let mut db = open(img, false);
    assert!(is_corrupt(&db.firstkey().unwrap_err()));
    // The untouched file iterates every key once.
    let mut db = open(image(&refs), false);
    assert_eq!(db.count().unwrap(), 40);
}

/// handle.rs delete: a bucket whose count field says 0 but has a live slot is corrupt;
/// the delete must not write count = -1.
#[test]
fn delete_with_zero_count_is_corrupt() {
    let mut img = image(&[b"k"]);
    let adr = open(img.clone(), false).directory()[0];
    patch_bucket(&mut img, adr, |b| b.count = 0);
    let mut db = open(img, true);
    let e = db.delete(b"k").unwrap_err();
    assert!(is_corrupt(&e), "{e}");
    assert!(db.needs_recovery());
}

/// alloc.rs get_block: an allocation that rounds up past i32::MAX is a BadArgument, not a
/// negative size.
#[test]
fn allocation_rounding_past_i32_max_is_refused() {
    let mut db = open(image(&[b"k"]), true);
    db.get_bucket(0).unwrap();
    let e = db.alloc(i32::MAX - 3).unwrap_err();
    assert!(matches!(e, Error::BadArgument(_)), "{e}");
}

/// alloc.rs pop_avail_block: a stack block whose next_block is its own address, or whose
/// bytes overlap a free entry, is corrupt (else one region is handed out twice).
#[test]
fn self_linked_or_overlapping_avail_stack_block_is_corrupt() {
    // Many deletes of distinct-sized records overflow the header table onto the stack.
    let keys: Vec<Vec<u8>> = (0..400).map(|i| format!("k{i:04}").into_bytes()).collect();
    let st = Pager::in_memory("h.gdbm", &[], PagerOptions::default()).unwrap();
    let fo = FileOptions {
        central_free: true,
        ..opts(true)
    };
    let mut db = GdbmFile::create(st, Layout::NATIVE, 512, fo).unwrap();
    for (i, k) in keys.iter().enumerate() {
        db.store(k, &vec![b'v'; 8 + i * 3], true).unwrap();
    }
    for k in keys.iter().step_by(2) {
        db.delete(k).unwrap();
    }
    let next = db.header().avail.next_block;
    assert!(next != 0, "the workload pushed a stack block");
    let l = db.header().layout;
    let img = db.close().unwrap().image().unwrap();
    let at = next as usize;
    // next_block field of the stack block: after size (i32) and count (i32).
    let mut selfloop = img.clone();
    selfloop[at + 8..at + 16].copy_from_slice(&next.to_ne_bytes());
    assert_eq!(l.off_size(), 8);
    // A live entry of the block that covers the block's own bytes.
    let mut overlap = img.clone();
    assert!(u32::from_ne_bytes(img[at + 4..at + 8].try_into().unwrap()) > 0);
    overlap[at + 16..at + 20].copy_from_slice(&16i32.to_ne_bytes());
    overlap[at + 24..at + 32].copy_from_slice(&(next + 8).to_ne_bytes());
    // Allocations drain the header table until the block is popped.
    for (bad, what) in [
        (selfloop, "its own address"),
        (overlap, "outside the free space it lists"),
    ] {
        let mut db = open(bad, true);
        let mut err = None;
        for i in 0..2000 {
            if let Err(e) = db.store(format!("new{i}").as_bytes(), &[b'x'; 40], true) {
                err = Some(e);
                break;
            }
        }
        let e = err.expect("the hostile stack block was rejected");
        assert!(is_corrupt(&e) && e.to_string().contains(what), "{e}");
    }
}
