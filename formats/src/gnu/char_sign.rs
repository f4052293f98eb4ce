//! Which `char` signedness a file's writer hashed its keys with (gdbm spec §0 fact 2, §7;
//! docs/gdbm.md "Layouts").
//!
//! gdbm's hash reads key bytes as plain `char`: signed on x86 (x86-64, i386), unsigned on
//! s390x, PowerPC and ARM. The header does not record it, so the stored hash of a key with
//! a byte ≥ 0x80 is the only witness: it equals exactly one of the two hashes.
//!
//! - Big-endian files (writers of either kind: s390x and PowerPC unsigned, SPARC and m68k
//!   signed) are asked at open ([`detect`]); none deciding → unsigned.
//! - Little-endian files (x86's signed `char`, or arm64/armhf's unsigned one) start as
//!   signed, undecided, at no cost on open; the handle settles it from the first evidence
//!   it meets: a key whose stored hash tells (iteration), a lookup of a key with a byte
//!   ≥ 0x80 that hits, or misses but finds the key under the other hash
//!   ([`found_with_other_sign`]), or, before
//!   the first store of a key with a byte ≥ 0x80, a [`detect`] pass (none deciding →
//!   signed). None of this goes through the bucket cache, so x86 files keep libgdbm's bytes.

use pydbm_engine::Result;

use super::bucket::Bucket;
use super::hash::{dir_index, hash, hash_for, hash_unsigned_char};
use super::header::Header;
use pydbm_engine::Store;

/// What one live slot says about its writer: `Some(true)` for an unsigned `char`,
/// `Some(false)` for a signed one, `None` when the key hashes the same either way (no byte
/// ≥ 0x80) or matches neither (a damaged slot, reported elsewhere).
pub fn evidence(key: &[u8], stored_hash: i32) -> Option<bool> {
    if key.iter().all(|&b| b < 0x80) {
        return None;
    }
    let signed = hash(key) == stored_hash;
    let unsigned = hash_unsigned_char(key) == stored_hash;
    match (signed, unsigned) {
        (true, false) => Some(false),
        (false, true) => Some(true),
        _ => None,
    }
}

/// Whether the writer of the opened file `st` (header and directory already read) had an
/// unsigned `char`: walks the buckets the directory names until a live key decides
/// ([`evidence`]); `None` when none does (the file then hashes the same either way).
/// Slots whose `key_start` shows a short ASCII key are passed without reading the record;
/// unreadable buckets and records are skipped (the operations that need them report
/// them). Reads the storage directly, never through the bucket cache, so libgdbm's cache
/// state (and with it the bytes later splits write) is untouched. Costs one pass over the
/// buckets and, when no key decides early, the keys' records.
pub fn detect<S: Store>(st: &mut S, header: &Header, dir: &[i64]) -> Result<Option<bool>> {
    let bucket_size = header.bucket_size.max(0) as usize;
    let elems = header.bucket_elems.max(0) as usize;
    let mut raw = vec![0u8; bucket_size];
    let mut bucket = Bucket::zeroed(elems);
    let mut key = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for &adr in dir {
        if !seen.insert(adr) || !read_bucket(st, adr, &mut raw, header, &mut bucket)? {
            continue;
        }
        for e in &bucket.elems {
            if e.hash == -1 || e.key_size < 0 {
                continue;
            }
            let ks = e.key_size as usize;
            if ks <= 4 && e.key_start[..ks].iter().all(|&b| b < 0x80) {
                continue;
            }
            if !read_key(st, e.ptr, ks, &mut key)? {
                continue;
            }
            if let Some(unsigned) = evidence(&key, e.hash) {
                return Ok(Some(unsigned));
            }
        }
    }
    Ok(None)
}

/// Whether `key` is stored where the hash of the other `char` signedness puts it (than
/// `header.layout.unsigned_char`): its bucket is read directly (not through the bucket
/// cache) and probed as gdbm probes (spec §10). A hit proves the file's writer hashed
/// with the other signedness.
pub fn found_with_other_sign<S: Store>(
    st: &mut S,
    header: &Header,
    dir: &[i64],
    key: &[u8],
) -> Result<bool> {
    let h = hash_for(key, !header.layout.unsigned_char);
    let n = header.bucket_elems.max(0) as usize;
    let Some(&adr) = dir.get(dir_index(h, header.dir_bits.max(0) as u32)) else {
        return Ok(false);
    };
    let mut raw = vec![0u8; header.bucket_size.max(0) as usize];
    let mut bucket = Bucket::zeroed(n);
    if n == 0 || !read_bucket(st, adr, &mut raw, header, &mut bucket)? {
        return Ok(false);
    }
    let pre = key.len().min(4);
    let mut stored = Vec::new();
    let mut i = h as usize % n;
    for _ in 0..n {
        let e = bucket.elems[i];
        if e.hash == -1 {
            break;
        }
        if e.hash == h
            && e.key_size as usize == key.len()
            && e.key_start[..pre] == key[..pre]
            && read_key(st, e.ptr, key.len(), &mut stored)?
            && stored == key
        {
            return Ok(true);
        }
        i = (i + 1) % n;
    }
    Ok(false)
}

/// Reads and decodes the bucket at `adr` into `bucket`; false when it does not lie in the
/// file or does not decode.
fn read_bucket<S: Store>(
    st: &mut S,
    adr: i64,
    raw: &mut [u8],
    header: &Header,
    bucket: &mut Bucket,
) -> Result<bool> {
    if adr < 0 || (adr as u64).saturating_add(raw.len() as u64) > st.len() {
        return Ok(false);
    }
    st.read_at(adr as u64, raw)?;
    let elems = header.bucket_elems.max(0) as usize;
    Ok(bucket
        .parse_into(header.layout, raw, elems, adr as u64)
        .is_ok())
}

/// Reads the `len` key bytes of the record at `ptr` into `key`; false when they do not
/// lie in the file.
fn read_key<S: Store>(st: &mut S, ptr: i64, len: usize, key: &mut Vec<u8>) -> Result<bool> {
    if ptr < 0 || (ptr as u64).saturating_add(len as u64) > st.len() {
        return Ok(false);
    }
    key.resize(len, 0);
    st.read_at(ptr as u64, key)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_from_one_key() {
        let k = b"\xff\x80\x01";
        assert_eq!(evidence(k, hash(k)), Some(false));
        assert_eq!(evidence(k, hash_unsigned_char(k)), Some(true));
        assert_eq!(evidence(b"ascii", hash(b"ascii")), None);
        assert_eq!(evidence(k, 12345), None);
    }
}
