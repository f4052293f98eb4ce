//! Rebuilding a damaged gdbm file from what is readable (`pydbm recover`): every record
//! reachable through the directory whose bucket and bytes check out goes into a fresh
//! file of the same layout and block size; everything else is reported as lost.

use std::collections::HashSet;

use pydbm_engine::{Error, Pager, Result};

use super::check::walk;
use super::handle::{FileOptions, GdbmFile};
use super::header::new_block_size;

/// The outcome of a salvage: the new file image and a line per action and per loss.
#[derive(Debug, Clone)]
pub struct Salvaged {
    /// The rebuilt file.
    pub image: Vec<u8>,
    /// Records kept.
    pub kept: usize,
    /// Human-readable report lines.
    pub report: Vec<String>,
}

/// Salvages `data` (a whole gdbm file, as found on disk). Fails with
/// [`Error::Corrupt`] when not even the header is readable.
pub fn salvage(path: &std::path::Path, data: &[u8]) -> Result<Salvaged> {
    let w = walk(data);
    let Some(h) = w.header.clone() else {
        let p = w.problems.first();
        return Err(Error::corrupt(
            path,
            p.map_or(0, |p| p.offset),
            format!(
                "a readable gdbm header to salvage from ({})",
                p.map_or("", |p| p.message.as_str())
            ),
        ));
    };
    let mut report: Vec<String> = w
        .problems
        .iter()
        .map(|p| format!("offset {}: {}", p.offset, p.message))
        .collect();
    // The damaged header's block size only has to be large enough to read (spec §18
    // rule 2: > header_avail_offset + 31, e.g. 106 bytes); a fresh file follows the rule
    // for new files (spec §3.1: below 512 → a power of two from the system's block size,
    // here 512), so every bucket holds at least one slot and the directory is a power
    // of two.
    let block_size = new_block_size(h.block_size, 512);
    if block_size != h.block_size {
        report.push(format!(
            "block size {} is not one gdbm creates; the fresh file uses {block_size}",
            h.block_size
        ));
    }
    let mut fresh = GdbmFile::create(
        Pager::new_image(path)?,
        h.layout,
        block_size,
        FileOptions::default(),
    )?;
    let mut seen = HashSet::new();
    let mut kept = 0;
    for (k, v) in &w.records {
        if seen.insert(k.clone()) {
            fresh.store(k, v, false)?;
            kept += 1;
        } else {
            report.push(format!("duplicate key {} dropped", hex(k)));
        }
    }
    fresh.sync()?;
    if w.bad_buckets > 0 {
        report.push(format!(
            "{} unreadable bucket(s): their records are lost (up to {} each)",
            w.bad_buckets, h.bucket_elems
        ));
    }
    if w.bad_records > 0 {
        report.push(format!("{} unreadable record(s) lost", w.bad_records));
    }
    report.push(format!("salvaged {kept} record(s) into a fresh file"));
    Ok(Salvaged {
        image: fresh.into_storage().image()?,
        kept,
        report,
    })
}

fn hex(b: &[u8]) -> String {
    if b.is_empty() {
        "-".into()
    } else {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pydbm_engine::PagerOptions;

    #[test]
    fn salvage_keeps_readable_records() {
        let mut db = GdbmFile::open(
            Pager::in_memory("t", &[], PagerOptions::default()).unwrap(),
            FileOptions {
                writable: true,
                block_size: 512,
                ..FileOptions::default()
            },
        )
        .unwrap();
        for i in 0..100u32 {
            db.store(&i.to_be_bytes(), b"value", true).unwrap();
        }
        let mut img = db.close().unwrap().image().unwrap();
        // Tear the file: drop the last block (as a crash mid-extension could).
        let n = img.len() - 512;
        img.truncate(n);
        let s = salvage(std::path::Path::new("t"), &img).unwrap();
        assert!(s.kept > 0 && s.kept <= 100);
        let w = walk(&s.image);
        assert!(w.problems.is_empty(), "{:?}", w.problems);
        assert_eq!(w.records.len(), s.kept);
    }
}
