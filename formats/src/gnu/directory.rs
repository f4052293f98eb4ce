//! The bucket directory (gdbm spec §5): `2^dir_bits` bucket addresses.

use super::layout::Layout;

/// Decodes `buf` (exactly `dir_size` bytes) into bucket addresses.
pub fn parse(l: Layout, buf: &[u8]) -> Vec<i64> {
    buf.chunks_exact(l.off_size())
        .map(|c| l.get_off(c, 0))
        .collect()
}

/// Encodes the directory (`entries.len() * off_size` bytes).
pub fn encode(l: Layout, entries: &[i64]) -> Vec<u8> {
    let mut buf = vec![0u8; entries.len() * l.off_size()];
    for (i, &e) in entries.iter().enumerate() {
        l.put_off(&mut buf, i * l.off_size(), e);
    }
    buf
}

/// Doubles the directory: entry `i` becomes entries `2i` and `2i+1` (spec §5, §12.4).
pub fn doubled(entries: &[i64]) -> Vec<i64> {
    entries.iter().flat_map(|&e| [e, e]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_double() {
        let d = vec![8192i64, 8192, 12288, 4096 * 7];
        let b = encode(Layout::NATIVE, &d);
        assert_eq!(parse(Layout::NATIVE, &b), d);
        assert_eq!(doubled(&d[..2]), vec![8192; 4]);
    }
}
