//! libdb's default hash function, the bucket arithmetic helpers and the key order of
//! sorted bucket pages.

use std::cmp::Ordering;

/// `__ham_func5`: FNV-1 with an initial value of 0 (ndbm spec §3.4):
/// `h = h * 16777619; h ^= byte` for every byte.
pub fn hash(key: &[u8]) -> u32 {
    let mut h: u32 = 0;
    for &c in key {
        h = h.wrapping_mul(16_777_619);
        h ^= c as u32;
    }
    h
}

/// Smallest `i` with `2^i >= n` (`__db_log2`); `ceil_log2(0) == ceil_log2(1) == 0`.
pub fn ceil_log2(n: u64) -> u32 {
    if n <= 1 {
        0
    } else {
        64 - (n - 1).leading_zeros()
    }
}

/// `__ham_getindex`'s binary search over the `n` pairs of a sorted page: `cmp(i)` orders
/// the search key against pair `i`'s key. Returns whether the key is there and its index,
/// or the index it would be inserted at. Probes the same pairs, in the same order, as
/// libdb; the first error from `cmp` ends the search.
pub(super) fn getindex<E>(
    n: usize,
    mut cmp: impl FnMut(usize) -> Result<Ordering, E>,
) -> Result<(bool, usize), E> {
    let mut base = 0usize;
    let mut lim = n;
    while lim != 0 {
        let i = base + (lim >> 1);
        match cmp(i)? {
            Ordering::Equal => return Ok((true, i)),
            Ordering::Greater => {
                base = i + 1;
                lim -= 1;
            }
            Ordering::Less => {}
        }
        lim >>= 1;
    }
    Ok((false, base))
}

/// Order of a search key against an on-page key item (ndbm spec §3.3): bytes compare as
/// `memcmp` on the common prefix; when one is a prefix of the other the **longer** sorts
/// first (libdb 4.6+'s inverted tie-break). `Less` means `key` sorts before `item`.
pub fn cmp_onpage(key: &[u8], item: &[u8]) -> Ordering {
    let n = key.len().min(item.len());
    match key[..n].cmp(&item[..n]) {
        Ordering::Equal => item.len().cmp(&key.len()),
        o => o,
    }
}

/// Order of a search key against an off-page (overflow) key item: plain lexicographic
/// order, shorter first (`__db_moff`, ndbm spec §3.3).
pub fn cmp_offpage(key: &[u8], item: &[u8]) -> Ordering {
    key.cmp(item)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charkey_matches_the_spec() {
        assert_eq!(hash(b"%$sniglet^&\0"), super::super::meta::H_CHARKEY);
    }

    #[test]
    fn ceil_log2_values() {
        let v: Vec<u32> = (1..=9).map(ceil_log2).collect();
        assert_eq!(v, vec![0, 1, 2, 2, 3, 3, 3, 3, 4]);
    }

    #[test]
    fn prefix_keys_sort_longer_first() {
        assert_eq!(cmp_onpage(b"pp", b"p"), Ordering::Less);
        assert_eq!(cmp_onpage(b"p", b"pp"), Ordering::Greater);
        assert_eq!(cmp_onpage(b"a", b"b"), Ordering::Less);
        assert_eq!(cmp_onpage(b"", b"x"), Ordering::Greater);
        assert_eq!(cmp_offpage(b"p", b"pp"), Ordering::Less);
    }
}
