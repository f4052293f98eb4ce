//! How a pager's journal bytes reach the journal file: `pwrite` ([`VfsFile::write_at`]), or,
//! under [`crate::Durability::Process`] on a file layer that offers it, stores to a shared map
//! of the file ([`VfsFile::map_shared`]; docs/journal.md, "Process durability: the mapped
//! journal"). The bytes, their offsets and their order are the same either way: only the
//! system calls differ (none per commit once the map is made, against one `pwrite` for the
//! records and one for the invalidation).

use crate::{Result, SharedMap, VfsFile};

/// The first map of a journal: 64 KiB (a one-key commit's journal is a few hundred bytes).
pub(crate) const FIRST_MAP_LEN: u64 = 64 << 10;
/// A map grows by doubling up to steps of this size (16 MiB), then by this much at a time.
const MAP_GROWTH_CAP: u64 = 16 << 20;
/// No map past 1 GiB: a larger journal's bytes past the map are written with `pwrite`.
const MAX_MAP_LEN: u64 = 1 << 30;

/// The length of the map that holds `need` bytes, grown from `current` (see
/// [`FIRST_MAP_LEN`]); `None` past [`MAX_MAP_LEN`].
pub(crate) fn map_len_for(need: u64, current: u64) -> Option<u64> {
    if need > MAX_MAP_LEN {
        return None;
    }
    let mut len = current.max(FIRST_MAP_LEN);
    while len < need {
        len += len.min(MAP_GROWTH_CAP);
    }
    Some(len.min(MAX_MAP_LEN))
}

/// The pager's open journal file and, when mapped, its shared map.
#[derive(Debug)]
pub(crate) struct JournalWriter {
    /// The shared map of the file's first bytes, when journal writes are stores. Declared
    /// before `file`, so it is unmapped before the file is closed (and the pager drops the
    /// writer before it removes the journal).
    map: Option<Box<dyn SharedMap>>,
    file: Box<dyn VfsFile>,
    /// Whether to store through a shared map when the file layer offers one.
    use_map: bool,
    /// Reserving or mapping failed (a full disk, a file system without `fallocate`): no
    /// further attempt in this writer's life, which would cost failing system calls per
    /// commit; writes beyond the current map (if any) are `pwrite`s from then on.
    map_refused: bool,
}

impl JournalWriter {
    /// A writer for the open journal `file`; `use_map` asks for the mapped path (only for
    /// `Durability::Process`: a `Full` journal keeps `pwrite` + `fsync`).
    pub(crate) fn new(file: Box<dyn VfsFile>, use_map: bool) -> JournalWriter {
        JournalWriter {
            map: None,
            file,
            use_map,
            map_refused: false,
        }
    }

    /// The journal file (for tests).
    #[cfg(test)]
    pub(crate) fn file(&self) -> &dyn VfsFile {
        &*self.file
    }

    /// Whether the writer currently stores through a shared map (for tests).
    #[cfg(test)]
    pub(crate) fn mapped_len(&self) -> Option<usize> {
        self.map.as_ref().map(|m| m.len())
    }

    /// Writes `data` at byte `pos` of the journal: a store into the shared map when the map
    /// holds (or can be grown to hold) the range, else `pwrite`. Either way the bytes are in
    /// the OS page cache when this returns, before any later system call of this process.
    pub(crate) fn write_at(&mut self, data: &[u8], pos: u64) -> Result<()> {
        if self.use_map && !data.is_empty() {
            let end = pos.saturating_add(data.len() as u64);
            if self.ensure_mapped(end) {
                let map = self
                    .map
                    .as_mut()
                    .expect("ensure_mapped() returned true: the map exists");
                // `end` fits the map, so `pos` fits a usize.
                if map.store(pos as usize, data) {
                    return Ok(());
                }
                // A page of the map was lost (the file cut short by someone else): the bytes
                // may be in memory only. Drop the map; `pwrite` puts them in the file.
                self.map = None;
            }
        }
        self.file.write_at(data, pos)
    }

    /// Makes sure the map covers bytes `0..end`, growing (reserving and remapping) it when
    /// it does not; false when it cannot (the caller uses `pwrite`).
    fn ensure_mapped(&mut self, end: u64) -> bool {
        let current = self.map.as_ref().map_or(0, |m| m.len() as u64);
        if end <= current {
            return true;
        }
        if self.map_refused {
            return false;
        }
        let Some(len) = map_len_for(end, current) else {
            return false;
        };
        // The new map is made before the old one is dropped: if it fails, the old one still
        // serves the (usual) small transactions.
        match self.file.map_shared(len) {
            Ok(Some(map)) => {
                self.map = Some(map);
                true
            }
            Ok(None) | Err(_) => {
                self.map_refused = true;
                false
            }
        }
    }

    /// `fsync` of the journal (stores through the map included: they dirty the file's pages
    /// in the page cache like `pwrite` does).
    pub(crate) fn sync(&self) -> Result<()> {
        self.file.sync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{parse_journal, JournalRecord};
    use crate::{Durability, FileSpec, OsVfs, Pager, PagerOptions, Vfs};
    use std::path::Path;
    use std::sync::Arc;

    /// 4 KiB pages and a 4-page cache, so that a transaction of more than 4 pages evicts
    /// (the journal is written, then pages, in the middle of the transaction).
    fn opts(durability: Durability) -> PagerOptions {
        PagerOptions {
            page_size: 4096,
            cache_bytes: 4 * 4096,
            durability,
            ..PagerOptions::default()
        }
    }

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    /// The journal as a reader sees it (`pread`, as `journal_status` and `pydbm check` read
    /// it), parsed.
    fn read_journal(path: &Path) -> (u64, Option<crate::journal::ParsedJournal>) {
        let bytes = std::fs::read(path).unwrap();
        (bytes.len() as u64, parse_journal(&bytes).unwrap())
    }

    /// A journal mapped at 64 KiB grows across chunk boundaries in the middle of a
    /// transaction (evictions write the journal, then pages); `pread` sees every record the
    /// stores wrote, and a "killed" writer (dropped: no further I/O) is rolled back exactly.
    #[test]
    fn mapped_journal_grows_across_chunks_and_a_killed_transaction_rolls_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        let jp = dir.path().join("db-journal");
        let base = pattern(300 << 10, 1);
        std::fs::write(&db, &base).unwrap();
        let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
        let mut p = Pager::open(vfs, vec![FileSpec::new(&db)], opts(Durability::Process)).unwrap();
        // One small commit: the journal is mapped at its first length.
        p.write_at(0, 10, b"small").unwrap();
        p.commit().unwrap();
        let (len, parsed) = read_journal(&jp);
        assert_eq!(len, FIRST_MAP_LEN, "reserved to the first map length");
        assert!(parsed.is_none(), "invalidated by a store");
        let committed = {
            let mut b = base.clone();
            b[10..15].copy_from_slice(b"small");
            b
        };
        assert_eq!(std::fs::read(&db).unwrap(), committed);
        // 200 KiB of pre-images: the map grows 64 → 128 → 256 KiB while pages are evicted.
        p.write_at(0, 4096, &pattern(200 << 10, 7)).unwrap();
        let (len, parsed) = read_journal(&jp);
        assert_eq!(len, 256 << 10);
        let parsed = parsed.expect("a valid hot journal");
        let bytes: usize = parsed.records.iter().map(|r| r.data.len()).sum();
        assert!(
            bytes >= (200 << 10) - 4 * 4096,
            "all but the cached pages' pre-images are in the journal: {bytes}"
        );
        assert!(parsed.records.iter().all(|r: &JournalRecord| {
            let at = r.offset as usize;
            r.data == committed[at..at + r.data.len()]
        }));
        assert_ne!(
            std::fs::read(&db).unwrap(),
            committed,
            "evictions wrote pages"
        );
        drop(p);
        let lines = Pager::recover(&OsVfs::new(), &db).unwrap().unwrap();
        assert!(lines.iter().any(|l| l.contains("rolled back")), "{lines:?}");
        assert_eq!(std::fs::read(&db).unwrap(), committed);
        assert!(!jp.exists());
    }

    /// A journal reused by a small transaction after a large one holds, past the new
    /// records, the large one's stale records (and zeros past them): the salt makes them
    /// fail their crc, so a killed small transaction rolls back only its own changes.
    #[test]
    fn reused_longer_journal_with_a_stale_tail_rolls_back_only_the_last_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        let jp = dir.path().join("db-journal");
        std::fs::write(&db, pattern(160 << 10, 3)).unwrap();
        let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
        let mut p = Pager::open(vfs, vec![FileSpec::new(&db)], opts(Durability::Process)).unwrap();
        // Large transaction: ~150 KiB of records, committed (the magic zeroed, records kept).
        p.write_at(0, 0, &pattern(150 << 10, 9)).unwrap();
        p.commit().unwrap();
        let after_large = std::fs::read(&db).unwrap();
        let stale = std::fs::read(&jp).unwrap();
        assert_eq!(stale.len(), 256 << 10);
        assert_eq!(stale[..8], [0u8; 8]);
        // Small transaction over 6 pages (evicts), then the process "dies".
        p.write_at(0, 8192, &pattern(6 * 4096, 200)).unwrap();
        drop(p);
        let journal = std::fs::read(&jp).unwrap();
        let parsed = parse_journal(&journal).unwrap().expect("hot");
        // Valid: the small transaction's records written before its evictions (the last
        // cached pages' are still in memory), nothing of the large one's.
        let own: usize = parsed.records.iter().map(|r| r.data.len()).sum();
        assert!(
            (2 * 4096..=6 * 4096).contains(&own),
            "{own} bytes of records"
        );
        for r in &parsed.records {
            let at = r.offset as usize;
            assert!(at >= 8192 && at + r.data.len() <= 8192 + 6 * 4096, "{at}");
            assert_eq!(r.data, after_large[at..at + r.data.len()]);
        }
        assert!(
            parsed.ignored_tail > 100 << 10,
            "the stale records are a tail"
        );
        // The stale records are really there: bytes of the large transaction past the new ones.
        let end = journal.len() - parsed.ignored_tail;
        assert_eq!(journal[end + 64..end + 4096], stale[end + 64..end + 4096]);
        Pager::recover(&OsVfs::new(), &db).unwrap().unwrap();
        assert_eq!(std::fs::read(&db).unwrap(), after_large);
    }

    /// `Full` keeps `pwrite` (its crash argument is fsync's): no reservation, no map.
    #[test]
    fn full_durability_journal_is_not_mapped() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        std::fs::write(&db, [1u8; 100]).unwrap();
        let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
        let mut p = Pager::open(vfs, vec![FileSpec::new(&db)], opts(Durability::Full)).unwrap();
        p.write_at(0, 0, b"x").unwrap();
        p.commit().unwrap();
        let len = std::fs::metadata(dir.path().join("db-journal"))
            .unwrap()
            .len();
        assert!(len < 4096, "pwrite journal of {len} bytes");
        p.close().unwrap();
    }

    /// The writer over a file layer without shared maps (memory) writes with `pwrite`; over
    /// an OS file it maps, and a lost page (the file cut by someone else) is reported by the
    /// store and the bytes go through `pwrite`: never `SIGBUS`.
    #[test]
    fn writer_falls_back_to_pwrite_without_a_map_and_after_a_lost_page() {
        let mem = crate::MemVfs::new();
        let f = mem.open(Path::new("/j"), crate::VfsOpen::CREATE).unwrap();
        let mut w = JournalWriter::new(f, true);
        w.write_at(b"abc", 5).unwrap();
        assert_eq!(w.mapped_len(), None);
        assert_eq!(mem.read_file(Path::new("/j")).unwrap(), b"\0\0\0\0\0abc");

        let dir = tempfile::tempdir().unwrap();
        let jp = dir.path().join("j");
        let f = OsVfs::new().open(&jp, crate::VfsOpen::CREATE).unwrap();
        let mut w = JournalWriter::new(f, true);
        w.write_at(b"hello", 70_000).unwrap();
        assert_eq!(w.mapped_len(), Some(128 << 10));
        assert_eq!(std::fs::metadata(&jp).unwrap().len(), 128 << 10);
        assert_eq!(&std::fs::read(&jp).unwrap()[70_000..70_005], b"hello");
        // Another process cuts the file under the map: the next store faults, is absorbed
        // and reported; the writer drops the map and the bytes reach the file by pwrite.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&jp)
            .unwrap()
            .set_len(0)
            .unwrap();
        w.write_at(b"again", 100).unwrap();
        let now = std::fs::read(&jp).unwrap();
        assert_eq!(&now[100..105], b"again");
        assert!(w.file().len().unwrap() >= 105);
    }

    /// A tmpfs of `size` mounted on a fresh directory, unmounted on drop; `None` after
    /// `skip_or_fail` where mounting is not permitted (root only).
    struct Tmpfs(tempfile::TempDir);

    impl Tmpfs {
        fn mount(size: &str) -> Option<Tmpfs> {
            let dir = tempfile::tempdir().unwrap();
            let ok = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(dir.path())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                crate::live_reference::skip_or_fail("mounting a tmpfs (`mount -t tmpfs`, root)");
                return None;
            }
            Some(Tmpfs(dir))
        }
    }

    impl Drop for Tmpfs {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(self.0.path())
                .status();
        }
    }

    /// A full 1 MiB tmpfs: the journal's reservation fails (`ENOSPC`) where a store into an
    /// unreserved hole would have killed the process with `SIGBUS`; the commit fails with a
    /// clean error, the rollback restores the file, and after space is freed commits work.
    #[test]
    fn full_tmpfs_fails_the_commit_cleanly_never_sigbus() {
        let Some(fs) = Tmpfs::mount("1m") else { return };
        let db = fs.0.path().join("db");
        let base = pattern(256 << 10, 5);
        std::fs::write(&db, &base).unwrap();
        // Fill the rest of the file system.
        let filler = fs.0.path().join("filler");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&filler).unwrap();
            while f.write_all(&[0u8; 4096]).is_ok() {}
        }
        let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
        let mut p = Pager::open(vfs, vec![FileSpec::new(&db)], opts(Durability::Process)).unwrap();
        p.write_at(0, 0, &pattern(200 << 10, 77)).unwrap_err();
        // Not one byte reached the file: the journal could not be written first.
        assert_eq!(std::fs::read(&db).unwrap(), base);
        let err = p.commit().unwrap_err();
        assert!(
            err.to_string().contains("No space left"),
            "a clean ENOSPC: {err}"
        );
        // Free the space (the rollback invalidates the journal: a write too), roll back.
        std::fs::remove_file(&filler).unwrap();
        p.rollback().unwrap();
        assert_eq!(std::fs::read(&db).unwrap(), base);
        // This pager no longer tries to map (one failed reservation is enough): pwrite.
        p.write_at(0, 0, b"fits now").unwrap();
        p.commit().unwrap();
        let mut want = base.clone();
        want[..8].copy_from_slice(b"fits now");
        assert_eq!(std::fs::read(&db).unwrap(), want);
        p.close().unwrap();
        assert_eq!(std::fs::read(&db).unwrap(), want);
    }
}

#[cfg(test)]
mod length_tests {
    use super::*;

    #[test]
    fn map_lengths_double_from_64k_then_step_by_16m_and_stop_at_1g() {
        assert_eq!(map_len_for(1, 0), Some(64 << 10));
        assert_eq!(map_len_for(64 << 10, 0), Some(64 << 10));
        assert_eq!(map_len_for((64 << 10) + 1, 64 << 10), Some(128 << 10));
        assert_eq!(map_len_for(300 << 10, 128 << 10), Some(512 << 10));
        assert_eq!(map_len_for((16 << 20) + 1, 16 << 20), Some(32 << 20));
        assert_eq!(map_len_for((32 << 20) + 1, 32 << 20), Some(48 << 20));
        assert_eq!(map_len_for(1 << 30, 0), Some(1 << 30));
        assert_eq!(map_len_for((1 << 30) + 1, 0), None);
        assert_eq!(map_len_for(u64::MAX, 0), None);
    }
}
