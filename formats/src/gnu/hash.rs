//! gdbm's key hash (gdbm spec §7), with the x86 signed-`char` quirk.

/// The 31-bit gdbm hash of `key`, as libgdbm 1.23 computes it on x86-64.
///
/// gdbm spec §7: key bytes are taken as *signed* `char` (bytes ≥ 0x80 sign-extend before
/// the shift), all arithmetic wraps on u32.
pub fn hash(key: &[u8]) -> i32 {
    let mut v: u32 = 0x238F_13AFu32.wrapping_mul(key.len() as u32);
    for (i, &b) in key.iter().enumerate() {
        let c = b as i8 as i32 as u32; // signed char, sign-extended
        let shift = ((i as u32).wrapping_mul(5)) % 24;
        v = v.wrapping_add(c << shift) & 0x7FFF_FFFF;
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
}
