//! `MemVfs`: a file system held in memory, for tests and for crash images.
//!
//! Files behave like POSIX files: handles opened on a path share its bytes, a removed
//! file stays readable through handles already open, and a rename moves the bytes to the
//! new name. Nothing here ever touches the disk.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::{Error, Result, Vfs, VfsFile, VfsOpen};

/// Device numbers handed to in-memory disks count down from here, so they never collide
/// with a real device number in the lock table.
const MEM_DEVICE_BASE: u64 = u64::MAX - (1 << 32);

static NEXT_DISK: AtomicU64 = AtomicU64::new(0);

/// One file's bytes plus its synthetic inode number.
#[derive(Debug)]
struct MemInode {
    ino: u64,
    data: RwLock<Vec<u8>>,
}

#[derive(Debug, Default)]
struct MemDisk {
    files: HashMap<PathBuf, Arc<MemInode>>,
    next_ino: u64,
}

/// An in-memory file system implementing [`Vfs`].
///
/// Cloning a `MemVfs` gives another handle on the *same* disk; [`MemVfs::snapshot`] copies
/// the disk. Each disk has its own synthetic device number, so the lock table treats files
/// of two different disks as different files and files of one disk like real files.
///
/// ```
/// use std::path::Path;
/// use pydbm_engine::{MemVfs, Vfs, VfsOpen};
///
/// let disk = MemVfs::new();
/// let f = disk.open(Path::new("/d/a"), VfsOpen::CREATE)?;
/// f.write_at(b"abc", 0)?;
/// let before = disk.snapshot(); // a deep copy: later writes do not reach it
/// f.write_at(b"def", 3)?;
/// assert_eq!(disk.read_file(Path::new("/d/a")), Some(b"abcdef".to_vec()));
/// assert_eq!(before.read_file(Path::new("/d/a")), Some(b"abc".to_vec()));
/// // POSIX-like: an unlinked file stays readable through an open handle.
/// disk.remove(Path::new("/d/a"))?;
/// assert!(!disk.exists(Path::new("/d/a"))?);
/// let mut buf = [0u8; 6];
/// assert_eq!(f.read_at(&mut buf, 0)?, 6);
/// assert_eq!(&buf, b"abcdef");
/// # Ok::<(), pydbm_engine::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct MemVfs {
    disk: Arc<Mutex<MemDisk>>,
    device: u64,
    limit: u64,
}

/// The default largest size of one in-memory file (1 GiB).
pub const DEFAULT_MEM_FILE_LIMIT: u64 = 1 << 30;

impl Default for MemVfs {
    fn default() -> Self {
        Self::new()
    }
}

impl MemVfs {
    /// An empty in-memory disk whose files may grow to [`DEFAULT_MEM_FILE_LIMIT`] bytes.
    pub fn new() -> MemVfs {
        MemVfs::with_limit(DEFAULT_MEM_FILE_LIMIT)
    }

    /// An empty in-memory disk whose files may grow to `limit` bytes; a write or `set_len`
    /// past it fails with an [`Error::Io`] (so hostile length fields cannot exhaust memory).
    pub fn with_limit(limit: u64) -> MemVfs {
        MemVfs {
            disk: Arc::new(Mutex::new(MemDisk::default())),
            device: MEM_DEVICE_BASE - NEXT_DISK.fetch_add(1, Ordering::Relaxed),
            limit,
        }
    }

    /// A deep copy of the whole disk: later changes to either side do not show in the other.
    pub fn snapshot(&self) -> MemVfs {
        let copy = MemVfs::with_limit(self.limit);
        {
            let src = self.disk.lock();
            let mut dst = copy.disk.lock();
            for (path, inode) in &src.files {
                let ino = dst.next_ino;
                dst.next_ino += 1;
                dst.files.insert(
                    path.clone(),
                    Arc::new(MemInode {
                        ino,
                        data: RwLock::new(inode.data.read().clone()),
                    }),
                );
            }
        }
        copy
    }

    /// Every path on the disk, sorted.
    pub fn paths(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.disk.lock().files.keys().cloned().collect();
        v.sort();
        v
    }

    /// The whole content of `path`, or `None` when it does not exist.
    pub fn read_file(&self, path: &Path) -> Option<Vec<u8>> {
        self.disk
            .lock()
            .files
            .get(path)
            .map(|f| f.data.read().clone())
    }

    /// Creates or replaces `path` with `data` (a test convenience; not counted as I/O).
    pub fn write_file(&self, path: &Path, data: &[u8]) {
        let mut disk = self.disk.lock();
        let ino = disk.next_ino;
        disk.next_ino += 1;
        disk.files.insert(
            path.to_path_buf(),
            Arc::new(MemInode {
                ino,
                data: RwLock::new(data.to_vec()),
            }),
        );
    }

    /// Removes `path` if it exists (a test convenience).
    pub fn delete_file(&self, path: &Path) {
        self.disk.lock().files.remove(path);
    }
}

fn not_found(path: &Path) -> Error {
    Error::io(
        path,
        io::Error::new(io::ErrorKind::NotFound, "no such file (in-memory disk)"),
    )
}

impl Vfs for MemVfs {
    fn open(&self, path: &Path, how: VfsOpen) -> Result<Box<dyn VfsFile>> {
        if (how.create || how.truncate) && !how.write {
            return Err(Error::BadArgument(format!(
                "{}: create/truncate need write access",
                path.display()
            )));
        }
        let mut disk = self.disk.lock();
        let inode = match disk.files.get(path) {
            Some(f) => f.clone(),
            None if how.create => {
                let ino = disk.next_ino;
                disk.next_ino += 1;
                let f = Arc::new(MemInode {
                    ino,
                    data: RwLock::new(Vec::new()),
                });
                disk.files.insert(path.to_path_buf(), f.clone());
                f
            }
            None => return Err(not_found(path)),
        };
        if how.truncate {
            inode.data.write().clear();
        }
        Ok(Box::new(MemFile {
            inode,
            path: path.to_path_buf(),
            writable: how.write,
            device: self.device,
            limit: self.limit,
        }))
    }

    fn exists(&self, path: &Path) -> Result<bool> {
        Ok(self.disk.lock().files.contains_key(path))
    }

    fn remove(&self, path: &Path) -> Result<()> {
        match self.disk.lock().files.remove(path) {
            Some(_) => Ok(()),
            None => Err(not_found(path)),
        }
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let mut disk = self.disk.lock();
        let f = disk.files.remove(from).ok_or_else(|| not_found(from))?;
        disk.files.insert(to.to_path_buf(), f);
        Ok(())
    }

    fn sync_dir(&self, _dir: &Path) -> Result<()> {
        Ok(())
    }
}

/// A handle on a [`MemVfs`] file.
#[derive(Debug)]
struct MemFile {
    inode: Arc<MemInode>,
    path: PathBuf,
    writable: bool,
    device: u64,
    limit: u64,
}

impl MemFile {
    fn check_writable(&self) -> Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(Error::io(
                &self.path,
                io::Error::new(io::ErrorKind::PermissionDenied, "handle opened read-only"),
            ))
        }
    }
}

/// Converts a file size to usize, failing past the disk's limit.
fn mem_pos(path: &Path, pos: u64, limit: u64) -> Result<usize> {
    match usize::try_from(pos) {
        Ok(p) if pos <= limit => Ok(p),
        _ => Err(Error::io(
            path,
            io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!("in-memory file would exceed its {limit}-byte limit"),
            ),
        )),
    }
}

impl VfsFile for MemFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        let data = self.inode.data.read();
        let len = data.len() as u64;
        if offset >= len {
            return Ok(0);
        }
        let start = offset as usize;
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    fn write_at(&self, bytes: &[u8], offset: u64) -> Result<()> {
        self.check_writable()?;
        let end = mem_pos(
            &self.path,
            offset.saturating_add(bytes.len() as u64),
            self.limit,
        )?;
        let start = end - bytes.len();
        let mut data = self.inode.data.write();
        if data.len() < end {
            data.resize(end, 0);
        }
        data[start..end].copy_from_slice(bytes);
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        Ok(())
    }

    fn len(&self) -> Result<u64> {
        Ok(self.inode.data.read().len() as u64)
    }

    fn set_len(&self, len: u64) -> Result<()> {
        self.check_writable()?;
        let len = mem_pos(&self.path, len, self.limit)?;
        self.inode.data.write().resize(len, 0);
        Ok(())
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn identity(&self) -> Option<(u64, u64)> {
        Some((self.device, self.inode.ino))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_share_bytes_and_snapshot_copies() {
        let vfs = MemVfs::new();
        let p = Path::new("/a");
        let f = vfs.open(p, VfsOpen::CREATE).unwrap();
        f.write_at(b"hello", 3).unwrap();
        let g = vfs.open(p, VfsOpen::READ).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(g.read_at(&mut buf, 0).unwrap(), 8);
        assert_eq!(&buf, b"\0\0\0hello");
        assert!(g.write_at(b"x", 0).is_err());
        let snap = vfs.snapshot();
        f.set_len(2).unwrap();
        assert_eq!(snap.read_file(p).unwrap(), b"\0\0\0hello");
        assert_eq!(vfs.read_file(p).unwrap(), b"\0\0");
        assert_ne!(
            f.identity(),
            snap.open(p, VfsOpen::READ).unwrap().identity()
        );
        vfs.rename(p, Path::new("/b")).unwrap();
        assert!(!vfs.exists(p).unwrap());
        assert!(vfs.open(p, VfsOpen::READ).unwrap_err().is_not_found());
        vfs.remove(Path::new("/b")).unwrap();
        // an unlinked file stays readable through an open handle
        assert_eq!(f.len().unwrap(), 2);
        let small = MemVfs::with_limit(10);
        let h = small.open(p, VfsOpen::CREATE).unwrap();
        assert!(h.write_at(b"abc", 8).is_err());
        assert!(h.set_len(u64::MAX).is_err());
        h.write_at(b"ab", 8).unwrap();
    }
}
