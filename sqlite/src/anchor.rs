//! `FcntlAnchor`: keeps the engine from closing descriptors of a database file that SQLite's
//! own unix VFS holds POSIX locks on (sqlite3 spec §3.3: closing *any* descriptor of a file
//! drops *every* `fcntl` lock the process holds on it).
//!
//! Connections on SQLite's default VFS lock through their own descriptor, out of sight of
//! the engine's lock table, so an `OsVfs` open+close of the same file in this process (what
//! `pydbm_formats::whichdb` does) would silently drop them. An anchor takes a shared engine
//! `fcntl` lock on one byte far above SQLite's lock bytes for the connection's life; while
//! the table holds a range on the inode, `OsVfs` parks closing descriptors instead of
//! closing them (engine `lock.rs`), so SQLite's locks survive.

use std::path::Path;

use pydbm_engine::{LockGuard, LockKind, LockMode, LockTable, OsVfs, Vfs, VfsFile, VfsOpen};

/// The anchor byte: far above SQLite's lock bytes (0x40000000..0x40000200) and any real
/// database's length, taken shared only, so it conflicts with no one.
const ANCHOR_BYTE: u64 = 0x7fff_ffff_0000_0000;

/// A shared engine `fcntl` lock on [`ANCHOR_BYTE`] of one database file, and the engine
/// descriptor it was taken through. Dropping it releases the lock, then closes the descriptor
/// (parked by the engine while other anchors or engine locks remain on the inode).
pub(crate) struct FcntlAnchor {
    guard: Option<LockGuard>,
    file: Option<Box<dyn VfsFile>>,
}

/// Whether SQLite VFS `vfs` (`None`: the default) is one of SQLite's unix VFSes that lock
/// with classic `fcntl` locks (what a close elsewhere in the process would drop). pydbm's
/// engine VFS locks through the engine's table itself; `unix-dotfile`/`unix-none` take no
/// `fcntl` locks.
fn locks_with_fcntl(vfs: Option<&str>) -> bool {
    matches!(vfs, None | Some("unix") | Some("unix-excl"))
}

impl FcntlAnchor {
    /// The anchor for a `connect(name, uri=…, vfs=…)` that SQLite has just opened: the
    /// file a `file:` URI names (percent-decoded, `vfs=` overriding `vfs`; none for
    /// `:memory:`, `mode=memory` or a temporary database), or `name` itself, when it is
    /// on a VFS that locks with `fcntl`.
    pub(crate) fn for_connect(name: &Path, uri: bool, vfs: Option<&str>) -> Option<FcntlAnchor> {
        let parsed = if uri {
            name.to_str()
                .and_then(|n| crate::uri::FileUri::parse(n).ok().flatten())
        } else {
            None
        };
        match parsed {
            Some(u) => {
                if u.is_memory_or_temporary() || !locks_with_fcntl(u.param("vfs").or(vfs)) {
                    return None;
                }
                FcntlAnchor::take(&u.path)
            }
            None if locks_with_fcntl(vfs) => FcntlAnchor::take(name),
            None => None,
        }
    }

    /// Anchors `path` if it is a plain file this process can open for reading; `None`
    /// otherwise (`:memory:`, a temporary database): those have no descriptor for
    /// anyone else in this process to close. Call it after SQLite has opened the file, and
    /// before SQLite takes any lock (opening a descriptor drops nothing; only a close does).
    pub(crate) fn take(path: &Path) -> Option<FcntlAnchor> {
        if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" {
            return None;
        }
        let file = OsVfs::new().open(path, VfsOpen::READ).ok()?;
        let guard = LockTable::global()
            .lock(
                file.as_ref(),
                LockMode::Shared,
                LockKind::Fcntl {
                    start: ANCHOR_BYTE,
                    len: 1,
                },
                None,
            )
            .ok()?;
        Some(FcntlAnchor {
            guard: Some(guard),
            file: Some(file),
        })
    }
}

impl Drop for FcntlAnchor {
    fn drop(&mut self) {
        // The lock first: the descriptor's close then parks only while others still hold
        // ranges on the inode (their locks must survive it).
        drop(self.guard.take());
        drop(self.file.take());
    }
}
