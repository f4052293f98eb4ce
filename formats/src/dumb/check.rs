//! Consistency analysis of a dumb database's index against its `.dat` length (no I/O):
//! entries outside `.dat`, overlapping values, and orphaned space.
//!
//! A value that does not start at a multiple of 512 is not a problem: CPython never writes
//! one, but its `dbm.dumb` reads it (`f.seek(pos); f.read(siz)`, python-formats spec §3.1)
//! and replaces it in place like any other, so `check` accepts it as `recover` does and
//! [`Analysis::unaligned`] only counts it for `stats`.

use super::dir_index::Slot;
use super::layout::{self, BLOCK_SIZE};

/// One finding about an index entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The value's bytes `pos..pos+siz` reach past the end of `.dat`.
    OutsideDat {
        /// The key.
        key: Vec<u8>,
        /// Its slot.
        slot: Slot,
    },
    /// Two keys' value bytes share at least one byte.
    Overlap {
        /// The key whose value starts first.
        first: Vec<u8>,
        /// The key whose value starts inside the first one's.
        second: Vec<u8>,
        /// Offset where the second value starts.
        pos: u64,
    },
}

/// The result of [`analyze`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Analysis {
    /// Problems, in index order (outside `.dat`) then offset order (overlaps).
    pub findings: Vec<Finding>,
    /// How many values do not start at a multiple of 512 (readable; CPython never writes
    /// them).
    pub unaligned: u64,
    /// Sum of the live values' sizes.
    pub live_bytes: u64,
    /// Bytes of `.dat` not inside any live value's block-padded range (leaked by replacements
    /// and deletions; CPython never reclaims them).
    pub orphaned_bytes: u64,
}

/// Checks `entries` (the index, in order) against a `.dat` of `dat_len` bytes.
pub fn analyze<'a>(entries: impl IntoIterator<Item = (&'a [u8], Slot)>, dat_len: u64) -> Analysis {
    let mut out = Analysis::default();
    let mut ranges: Vec<(u64, u64, &[u8])> = Vec::new();
    for (key, slot) in entries {
        out.live_bytes = out.live_bytes.saturating_add(slot.siz);
        let end = slot.pos.checked_add(slot.siz);
        match end {
            Some(end) if end <= dat_len => {
                if slot.pos % BLOCK_SIZE != 0 {
                    out.unaligned += 1;
                }
                ranges.push((slot.pos, end, key));
            }
            _ => out.findings.push(Finding::OutsideDat {
                key: key.to_vec(),
                slot,
            }),
        }
    }
    ranges.sort_unstable_by_key(|r| (r.0, r.1));
    // Overlaps of the exact byte ranges (empty values overlap nothing).
    let mut widest: Option<(u64, &[u8])> = None;
    for &(pos, end, key) in &ranges {
        if pos == end {
            continue;
        }
        if let Some((wend, wkey)) = widest {
            if pos < wend {
                out.findings.push(Finding::Overlap {
                    first: wkey.to_vec(),
                    second: key.to_vec(),
                    pos,
                });
            }
            if end > wend {
                widest = Some((end, key));
            }
        } else {
            widest = Some((end, key));
        }
    }
    // Covered bytes: union of the block-padded ranges, clipped to dat_len.
    let mut covered = 0u64;
    let mut cur: Option<(u64, u64)> = None;
    for &(pos, end, _) in &ranges {
        let padded = layout::align_up(end).unwrap_or(u64::MAX).min(dat_len);
        let start = pos - pos % BLOCK_SIZE;
        match cur {
            Some((s, e)) if start <= e => cur = Some((s, e.max(padded))),
            Some((s, e)) => {
                covered += e - s;
                cur = Some((start, padded));
            }
            None => cur = Some((start, padded)),
        }
    }
    if let Some((s, e)) = cur {
        covered += e - s;
    }
    out.orphaned_bytes = dat_len.saturating_sub(covered);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(pos: u64, siz: u64) -> Slot {
        Slot { pos, siz }
    }

    #[test]
    fn finds_outside_overlap_and_orphans_and_counts_unaligned() {
        let e: Vec<(&[u8], Slot)> = vec![
            (b"a", s(0, 600)),
            (b"b", s(512, 10)),
            (b"c", s(2048, 0)),
            (b"d", s(2048, 5)),
            (b"e", s(3000, 1)),
            (b"f", s(4000, 200)),
        ];
        let a = analyze(e, 3585);
        assert_eq!(
            a.findings,
            vec![
                Finding::OutsideDat {
                    key: b"f".to_vec(),
                    slot: s(4000, 200)
                },
                Finding::Overlap {
                    first: b"a".to_vec(),
                    second: b"b".to_vec(),
                    pos: 512
                },
            ]
        );
        // covered: [0,1024) [2048,2560) [2560,3072) -> 2048 bytes; 3585 - 2048.
        assert_eq!(a.orphaned_bytes, 3585 - 2048);
        assert_eq!(a.live_bytes, 600 + 10 + 5 + 1 + 200);
        assert_eq!(a.unaligned, 1, "e at 3000");
    }

    #[test]
    fn a_cpython_file_without_replacements_has_no_orphans() {
        // corpus py3.13/03-after-close
        let e: Vec<(&[u8], Slot)> = vec![
            (b"a", s(0, 1)),
            (b"str-key", s(512, 11)),
            (b"x", s(1024, 9)),
            (b"c", s(1536, 16)),
            (b"big", s(2048, 600)),
            (b"empty", s(3072, 0)),
        ];
        let a = analyze(e, 3072);
        assert!(a.findings.is_empty());
        assert_eq!(a.orphaned_bytes, 0);
    }
}
