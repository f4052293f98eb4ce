//! gdbm's key hash (gdbm spec §7), with the x86 signed-`char` quirk.

/// The 31-bit gdbm hash of `key`, as libgdbm 1.23 computes it on x86-64 (and i386).
///
/// gdbm spec §7: key bytes are taken as *signed* `char` (bytes ≥ 0x80 sign-extend before
/// the shift), all arithmetic wraps on u32.
#[inline]
pub fn hash(key: &[u8]) -> i32 {
    hash_chars::<true>(key)
}

/// The hash as a build whose plain `char` is unsigned computes it (s390x, PowerPC, ARM:
/// spec §0 fact 2; docs/gdbm.md "Layouts"): key bytes are zero-extended. Equals [`hash`]
/// for keys without a byte ≥ 0x80.
pub fn hash_unsigned_char(key: &[u8]) -> i32 {
    hash_chars::<false>(key)
}

/// [`hash`] or, with `unsigned_char`, [`hash_unsigned_char`]: the hash of the build a
/// file's [`super::Layout::unsigned_char`] names.
#[inline(always)]
pub fn hash_for(key: &[u8], unsigned_char: bool) -> i32 {
    if unsigned_char {
        hash_unsigned_char(key)
    } else {
        hash(key)
    }
}

/// The hash with key bytes read as `signed char` (`SIGNED`) or `unsigned char`.
#[inline(always)]
fn hash_chars<const SIGNED: bool>(key: &[u8]) -> i32 {
    let mut v: u32 = 0x238F_13AFu32.wrapping_mul(key.len() as u32);
    // The spec masks to 31 bits after every byte; masking is reduction mod 2^31, which
    // commutes with wrapping addition, so one mask at the end gives the same value. The
    // shift for byte i is (5 i) mod 24, which repeats every 24 bytes: whole 8-byte groups
    // take their shifts from the table as constants (an unrolled body per group), the last
    // few bytes one at a time.
    let mut periods = key.chunks_exact(24);
    for p in periods.by_ref() {
        v = v
            .wrapping_add(group_sum::<0, SIGNED>(&p[..8]))
            .wrapping_add(group_sum::<1, SIGNED>(&p[8..16]))
            .wrapping_add(group_sum::<2, SIGNED>(&p[16..]));
    }
    // Under 24 bytes left: at most two whole groups, then single bytes.
    let rest = periods.remainder();
    let mut done = 0;
    if rest.len() >= 8 {
        v = v.wrapping_add(group_sum::<0, SIGNED>(&rest[..8]));
        done = 8;
        if rest.len() >= 16 {
            v = v.wrapping_add(group_sum::<1, SIGNED>(&rest[8..16]));
            done = 16;
        }
    }
    for (&b, &shift) in rest[done..].iter().zip(&SHIFTS[done..]) {
        v = v.wrapping_add(char_value::<SIGNED>(b) << shift);
    }
    v &= 0x7FFF_FFFF;
    (1_103_515_243u32.wrapping_mul(v).wrapping_add(12345) & 0x7FFF_FFFF) as i32
}

/// A key byte as a signed `char`, sign-extended (gdbm spec §7).
#[inline(always)]
fn signed(b: u8) -> u32 {
    b as i8 as i32 as u32
}

/// A key byte as the writer's `char`: sign-extended when `SIGNED`, else zero-extended.
#[inline(always)]
fn char_value<const SIGNED: bool>(b: u8) -> u32 {
    if SIGNED {
        signed(b)
    } else {
        b as u32
    }
}

/// The sum of one 8-byte group's shifted bytes, group `G` (0, 1 or 2) of a 24-byte period.
#[inline(always)]
fn group_sum<const G: usize, const SIGNED: bool>(group: &[u8]) -> u32 {
    let group: &[u8; 8] = group.try_into().expect("groups are 8-byte slices");
    let mut v = 0u32;
    for j in 0..8 {
        v = v.wrapping_add(char_value::<SIGNED>(group[j]) << SHIFTS[8 * G + j]);
    }
    v
}

/// `(5 i) mod 24` for i in 0..24 (gdbm spec §7).
const SHIFTS: [u32; 24] = {
    let mut t = [0u32; 24];
    let mut i = 0;
    while i < 24 {
        t[i] = (5 * i as u32) % 24;
        i += 1;
    }
    t
};

/// Directory index of hash `h` in a directory of `2^dir_bits` entries (the top bits).
#[inline]
pub fn dir_index(h: i32, dir_bits: u32) -> usize {
    if dir_bits == 0 {
        0
    } else {
        (h as u32 >> (31 - dir_bits.min(31))) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_check_values() {
        // gdbm spec §7 "Checks".
        assert_eq!(hash(b""), 0x3039);
        assert_eq!(hash(b"alpha"), 0x52ae87fd);
        assert_eq!(hash(b"\xff\x80\x01"), 0x4a00823d);
        assert_eq!(hash("kéy".as_bytes()), 0x601743a6);
        // spec §7: "an unsigned-char build would give 0x5a1c4d3d".
        assert_eq!(hash_unsigned_char(b"\xff\x80\x01"), 0x5a1c4d3d);
        assert_eq!(hash_unsigned_char(b"alpha"), 0x52ae87fd);
    }

    /// The table-driven shift and the single final mask equal the spec's per-byte `(5 i) %
    /// 24` shift and per-byte mask, for keys long enough to wrap the shift several times.
    #[test]
    fn incremental_shift_matches_the_spec_formula() {
        let spec = |key: &[u8]| {
            let mut v: u32 = 0x238F_13AFu32.wrapping_mul(key.len() as u32);
            for (i, &b) in key.iter().enumerate() {
                let shift = ((i as u32).wrapping_mul(5)) % 24;
                v = v.wrapping_add((b as i8 as i32 as u32) << shift) & 0x7FFF_FFFF;
            }
            (1_103_515_243u32.wrapping_mul(v).wrapping_add(12345) & 0x7FFF_FFFF) as i32
        };
        let mut rng = pydbm_engine::prng::SplitMix64::new(7);
        for len in 0..100usize {
            let key: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            assert_eq!(hash(&key), spec(&key), "{key:02x?}");
        }
    }
}
