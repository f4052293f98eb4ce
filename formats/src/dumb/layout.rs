//! Block layout of `.dat`: where CPython's `dbm.dumb` puts a value (python-formats spec §3.1–3.2).
//!
//! Every value starts at a multiple of [`BLOCK_SIZE`]; the gap before it is NUL-filled; a
//! replaced value is rewritten in place when it needs no more blocks than the old one.

/// CPython's `_BLOCKSIZE`.
pub const BLOCK_SIZE: u64 = 512;

/// Number of 512-byte blocks a value of `len` bytes occupies (`ceil(len / 512)`; 0 for empty).
pub fn blocks(len: u64) -> u64 {
    len.div_ceil(BLOCK_SIZE)
}

/// `pos` rounded up to the next multiple of [`BLOCK_SIZE`], or `None` on overflow.
pub fn align_up(pos: u64) -> Option<u64> {
    pos.checked_next_multiple_of(BLOCK_SIZE)
}

/// Whether a new value of `new_len` bytes is written over the old one of `old_len` bytes
/// (CPython's `_setval`) rather than appended (`_addval`): when it needs no more blocks.
pub fn fits_in_place(old_len: u64, new_len: u64) -> bool {
    blocks(new_len) <= blocks(old_len)
}

/// Where `_addval` appends a value to a `.dat` file of `dat_len` bytes: the aligned start
/// offset. The bytes between `dat_len` and it are written as NULs.
/// `None` when the offset would overflow `u64`.
pub fn append_pos(dat_len: u64) -> Option<u64> {
    align_up(dat_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_rules_match_cpython() {
        assert_eq!(blocks(0), 0);
        assert_eq!(blocks(1), 1);
        assert_eq!(blocks(512), 1);
        assert_eq!(blocks(513), 2);
        // spec §3.2: an empty value still pads to the boundary: 'empty' at 3072 then 'a' at 3072.
        assert_eq!(append_pos(3072), Some(3072));
        assert_eq!(append_pos(2648), Some(3072));
        assert!(fits_in_place(600, 1024));
        assert!(!fits_in_place(600, 1025));
        assert!(fits_in_place(0, 0));
        assert!(!fits_in_place(0, 1));
        assert_eq!(append_pos(u64::MAX), None);
    }
}
