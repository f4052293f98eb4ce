//! gdbm's key hash (gdbm spec §7), with the x86 signed-`char` quirk.

/// The 31-bit gdbm hash of `key`, as libgdbm 1.23 computes it on x86-64.
///
/// gdbm spec §7: key bytes are taken as *signed* `char` (bytes ≥ 0x80 sign-extend before
/// the shift), all arithmetic wraps on u32.
pub fn hash(key: &[u8]) -> i32 {
    let mut v: u32 = 0x238F_13AFu32.wrapping_mul(key.len() as u32);
    // The shift for byte i is (5 i) mod 24, kept incrementally (no division per byte).
    let mut shift = 0u32;
    for &b in key {
        let c = b as i8 as i32 as u32; // signed char, sign-extended
        v = v.wrapping_add(c << shift) & 0x7FFF_FFFF;
        shift += 5;
        if shift >= 24 {
            shift -= 24;
        }
    }
    (1_103_515_243u32.wrapping_mul(v).wrapping_add(12345) & 0x7FFF_FFFF) as i32
}

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
    }

    /// The incremental shift equals the spec's `(5 i) % 24` for keys long enough to wrap
    /// the shift several times.
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
