//! The "live bytes" of a Berkeley DB hash file (ndbm spec §4, §5): the file with every
//! byte libdb does not define zeroed — the meta uid, the free area of bucket pages
//! (between the index array and the items, which also holds page 2's stale meta copy),
//! the unused bytes of `H_OFFPAGE` items, the tail of overflow pages and the body of free
//! pages. Two files are L3-identical when their live images are equal.

use super::meta::HashMeta;
use super::page::{HEADER_SIZE, H_OFFPAGE, P_HASH, P_HASH_UNSORTED, P_INVALID, P_OVERFLOW};

/// The live image of `bytes` (same length, dead bytes zeroed). Works on raw bytes so it
/// does not depend on pydbm's page parser; fails only when the meta page is unreadable.
pub fn live_image(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let meta = HashMeta::parse(bytes).map_err(|e| format!("meta page: {}", e.expected))?;
    let e = meta.endian;
    let ps = meta.pagesize as usize;
    let mut out = vec![0u8; bytes.len()];
    let meta_len = ps.min(bytes.len());
    out[..meta_len].copy_from_slice(&bytes[..meta_len]);
    out[52..72].fill(0);
    let mut off = ps;
    while off + ps <= bytes.len() {
        let raw = &bytes[off..off + ps];
        let dst = &mut out[off..off + ps];
        let entries = e.u16(&raw[20..22]) as usize;
        let hf = e.u16(&raw[22..24]) as usize;
        match raw[25] {
            P_HASH | P_HASH_UNSORTED if e.u32(&raw[8..12]) != 0 => {
                let inp_end = (HEADER_SIZE + 2 * entries).min(ps);
                dst[..inp_end].copy_from_slice(&raw[..inp_end]);
                let hf = hf.min(ps);
                dst[hf..].copy_from_slice(&raw[hf..]);
                for j in 0..entries {
                    let s = HEADER_SIZE + 2 * j;
                    if s + 2 > ps {
                        break;
                    }
                    let io = e.u16(&raw[s..s + 2]) as usize;
                    if io + 4 <= ps && raw[io] == H_OFFPAGE {
                        dst[io + 1..io + 4].fill(0);
                    }
                }
            }
            P_OVERFLOW => {
                let end = (HEADER_SIZE + hf).min(ps);
                dst[..end].copy_from_slice(&raw[..end]);
            }
            P_INVALID if e.u32(&raw[8..12]) != 0 => {
                dst[..HEADER_SIZE].copy_from_slice(&raw[..HEADER_SIZE])
            }
            _ => dst.copy_from_slice(raw),
        }
        off += ps;
    }
    out[off..].copy_from_slice(&bytes[off..]);
    Ok(out)
}

/// Describes the first difference between the live images of `a` and `b`, or `None`
/// when they are L3-identical.
pub fn live_diff(a: &[u8], b: &[u8]) -> Option<String> {
    let (la, lb) = match (live_image(a), live_image(b)) {
        (Ok(x), Ok(y)) => (x, y),
        (x, y) => return Some(format!("unreadable: {:?} / {:?}", x.err(), y.err())),
    };
    if la.len() != lb.len() {
        return Some(format!("file sizes differ: {} vs {}", la.len(), lb.len()));
    }
    let first = la.iter().zip(&lb).position(|(x, y)| x != y)?;
    let ndiff = la.iter().zip(&lb).filter(|(x, y)| x != y).count();
    let ps = 4096;
    Some(format!(
        "{ndiff} live bytes differ; first at offset {first} (page {}, +{}): {:#04x} vs {:#04x}",
        first / ps,
        first % ps,
        la[first],
        lb[first]
    ))
}
