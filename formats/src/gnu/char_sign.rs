//! Which `char` signedness a file's writer hashed its keys with (gdbm spec §0 fact 2, §7;
//! docs/gdbm.md "Layouts").
//!
//! gdbm's hash reads key bytes as plain `char`: signed on x86 (x86-64, i386), unsigned on
//! s390x, PowerPC and ARM. The header does not record it, so the stored hash of a key with
//! a byte ≥ 0x80 is the only witness: it equals exactly one of the two hashes. pydbm asks
//! the keys of big-endian files (whose writers are of either kind: s390x and PowerPC
//! unsigned, SPARC and m68k signed) at open; little-endian files are taken as x86's (the
//! layouts libgdbm on x86-64 and i386 write; docs/gdbm.md says what that leaves out).

use pydbm_engine::Result;

use super::bucket::Bucket;
use super::hash::{hash, hash_unsigned_char};
use super::header::Header;
use super::storage::Storage;

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

/// Whether the writer of the opened big-endian file `st` (header and directory already
/// read) had an unsigned `char`: walks the buckets the directory names until a live key
/// decides ([`evidence`]); true when none does (the file then hashes the same either way;
/// new keys get the hash of s390x and PowerPC, the big-endian machines Debian builds gdbm
/// for, whose `char` is unsigned). Slots whose first bytes (`key_start`) show a short
/// ASCII key are decided without reading the record; unreadable buckets and records are
/// skipped (the operations that need them report them). Costs one pass over the buckets
/// and, in a file without such keys, the keys' records.
pub fn detect<S: Storage>(st: &mut S, header: &Header, dir: &[i64]) -> Result<bool> {
    let layout = header.layout;
    let bucket_size = header.bucket_size.max(0) as usize;
    let elems = header.bucket_elems.max(0) as usize;
    let file_len = st.len();
    let mut raw = vec![0u8; bucket_size];
    let mut bucket = Bucket::zeroed(elems);
    let mut key = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for &adr in dir {
        if adr < 0 || (adr as u64).saturating_add(bucket_size as u64) > file_len {
            continue;
        }
        if !seen.insert(adr) {
            continue;
        }
        st.read_at(adr as u64, &mut raw)?;
        if bucket.parse_into(layout, &raw, elems, adr as u64).is_err() {
            continue;
        }
        for e in &bucket.elems {
            if e.hash == -1 || e.key_size < 0 || e.ptr < 0 {
                continue;
            }
            let ks = e.key_size as usize;
            if ks <= 4 && e.key_start[..ks].iter().all(|&b| b < 0x80) {
                continue;
            }
            if (e.ptr as u64).saturating_add(ks as u64) > file_len {
                continue;
            }
            key.resize(ks, 0);
            st.read_at(e.ptr as u64, &mut key)?;
            if let Some(unsigned) = evidence(&key, e.hash) {
                return Ok(unsigned);
            }
        }
    }
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
