//! `RecordingVfs`: a file system wrapper that logs every state-changing call, in order, so a
//! crash at any of them can be rebuilt afterwards without running the workload again
//! ([`crate::crash_replay`]).
//!
//! The events are exactly the ones [`crate::FaultVfs`] counts, numbered alike from 1:
//! `write_at`, `set_len`, `sync`, `remove`, `rename`, `sync_dir`, an `open` that creates a
//! missing file, and an `open` that truncates an existing one. Each event names the file's
//! *node* (an inode: it follows renames), carries the bytes written, and notes how many
//! committed states the workload had reported before it (set by the caller through
//! [`RecordingVfs::note_state`]). An event whose inner call failed is still counted (as
//! `FaultVfs` counts it) but marked not applied.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::{Result, Vfs, VfsFile, VfsOpen};

/// One state-changing call on a [`RecordingVfs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordedOp {
    /// `open` created the missing file `path` as the new empty node `node`.
    Create {
        /// The created path.
        path: PathBuf,
        /// The new node's number.
        node: usize,
    },
    /// `open` with `truncate` emptied node `node` (recorded like `set_len(0)`).
    Truncate {
        /// The truncated node.
        node: usize,
    },
    /// `write_at(data, offset)` on node `node`.
    Write {
        /// The written node.
        node: usize,
        /// Where the write starts.
        offset: u64,
        /// The bytes written.
        data: Vec<u8>,
    },
    /// `set_len(len)` on node `node`.
    SetLen {
        /// The resized node.
        node: usize,
        /// The new length.
        len: u64,
    },
    /// `sync` of node `node`: everything written to it so far is durable.
    Sync {
        /// The synced node.
        node: usize,
    },
    /// `remove(path)`.
    Remove {
        /// The removed path.
        path: PathBuf,
    },
    /// `rename(from, to)` (replaces `to`).
    Rename {
        /// The old name.
        from: PathBuf,
        /// The new name.
        to: PathBuf,
    },
    /// `sync_dir(dir)` (directory changes are modelled as durable at once: no effect).
    SyncDir {
        /// The synced directory.
        dir: PathBuf,
    },
}

/// One logged event: the call, whether the inner file system carried it out, and how many
/// committed states had been reported before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    /// The call.
    pub op: RecordedOp,
    /// False when the inner call failed (the event counts, but changed nothing).
    pub applied: bool,
    /// How many times [`RecordingVfs::note_state`] had been called before this event.
    pub states_before: usize,
}

#[derive(Debug, Default)]
struct RecordState {
    events: Vec<RecordedEvent>,
    /// Number of events when only counting (`keep_data == false` drops the log).
    count: u64,
    keep_log: bool,
    states: usize,
    paths: HashMap<PathBuf, usize>,
    next_node: usize,
}

impl RecordState {
    fn push(&mut self, op: RecordedOp, applied: bool) {
        self.count += 1;
        if self.keep_log {
            let states_before = self.states;
            self.events.push(RecordedEvent {
                op,
                applied,
                states_before,
            });
        }
    }
}

/// A [`Vfs`] wrapper that logs every event (see the module docs). Cloning shares the log.
///
/// The node model starts empty: the wrapped file system must start empty too (files it
/// already holds are not in the log, so a replay would not know their bytes).
///
/// ```
/// use std::path::Path;
/// use pydbm_engine::{MemVfs, RecordedOp, RecordingVfs, Vfs, VfsOpen};
///
/// let rec = RecordingVfs::new(MemVfs::new());
/// let f = rec.open(Path::new("/d/x"), VfsOpen::CREATE)?; // event 1: create
/// f.write_at(b"abc", 0)?; // event 2
/// rec.note_state(); // the workload reported a committed state here
/// f.sync()?; // event 3
/// assert_eq!(rec.events(), 3);
/// let log = rec.take_events();
/// assert!(matches!(log[0].op, RecordedOp::Create { .. }));
/// assert!(matches!(&log[1].op, RecordedOp::Write { data, .. } if data.as_slice() == b"abc"));
/// assert_eq!(log[2].states_before, 1);
/// # Ok::<(), pydbm_engine::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct RecordingVfs<V> {
    inner: V,
    state: Arc<Mutex<RecordState>>,
}

impl<V: Vfs> RecordingVfs<V> {
    /// Wraps `inner` (an empty file system), keeping the full log.
    pub fn new(inner: V) -> RecordingVfs<V> {
        Self::with_log(inner, true)
    }

    /// Wraps `inner` counting events only (no bytes kept; [`RecordingVfs::take_events`]
    /// then gives an empty log). Used to check a workload repeats itself cheaply.
    pub fn counting(inner: V) -> RecordingVfs<V> {
        Self::with_log(inner, false)
    }

    fn with_log(inner: V, keep_log: bool) -> RecordingVfs<V> {
        RecordingVfs {
            inner,
            state: Arc::new(Mutex::new(RecordState {
                keep_log,
                ..RecordState::default()
            })),
        }
    }

    /// How many events have happened so far.
    pub fn events(&self) -> u64 {
        self.state.lock().count
    }

    /// Notes that the workload reported a committed state now (later events record it).
    pub fn note_state(&self) {
        self.state.lock().states += 1;
    }

    /// The log so far, leaving it empty (event numbering continues).
    pub fn take_events(&self) -> Vec<RecordedEvent> {
        std::mem::take(&mut self.state.lock().events)
    }

    /// The wrapped file system.
    pub fn inner(&self) -> &V {
        &self.inner
    }
}

impl<V: Vfs> Vfs for RecordingVfs<V> {
    fn open(&self, path: &Path, how: VfsOpen) -> Result<Box<dyn VfsFile>> {
        let mut st = self.state.lock();
        let node = match st.paths.get(path).copied() {
            None if how.create && how.write => {
                // The same event FaultVfs counts: a create of a missing file.
                let result = self.inner.open(path, how);
                let node = st.next_node;
                st.next_node += 1;
                st.push(
                    RecordedOp::Create {
                        path: path.to_path_buf(),
                        node,
                    },
                    result.is_ok(),
                );
                let inner = result?;
                st.paths.insert(path.to_path_buf(), node);
                return Ok(Box::new(RecordingFile {
                    inner,
                    node,
                    path: path.to_path_buf(),
                    state: self.state.clone(),
                }));
            }
            None => return self.inner.open(path, how),
            Some(n) => n,
        };
        let result = self.inner.open(path, how);
        if how.truncate && how.write {
            st.push(RecordedOp::Truncate { node }, result.is_ok());
        }
        let inner = result?;
        Ok(Box::new(RecordingFile {
            inner,
            node,
            path: path.to_path_buf(),
            state: self.state.clone(),
        }))
    }

    fn exists(&self, path: &Path) -> Result<bool> {
        self.inner.exists(path)
    }

    fn remove(&self, path: &Path) -> Result<()> {
        let mut st = self.state.lock();
        let result = self.inner.remove(path);
        st.push(
            RecordedOp::Remove {
                path: path.to_path_buf(),
            },
            result.is_ok(),
        );
        result?;
        st.paths.remove(path);
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let mut st = self.state.lock();
        let result = self.inner.rename(from, to);
        st.push(
            RecordedOp::Rename {
                from: from.to_path_buf(),
                to: to.to_path_buf(),
            },
            result.is_ok(),
        );
        result?;
        if let Some(n) = st.paths.remove(from) {
            st.paths.insert(to.to_path_buf(), n);
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        let mut st = self.state.lock();
        let result = self.inner.sync_dir(dir);
        st.push(
            RecordedOp::SyncDir {
                dir: dir.to_path_buf(),
            },
            result.is_ok(),
        );
        result
    }
}

/// A handle on a [`RecordingVfs`] file.
#[derive(Debug)]
struct RecordingFile {
    inner: Box<dyn VfsFile>,
    node: usize,
    path: PathBuf,
    state: Arc<Mutex<RecordState>>,
}

impl VfsFile for RecordingFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        self.inner.read_at(buf, offset)
    }

    fn write_at(&self, data: &[u8], offset: u64) -> Result<()> {
        let mut st = self.state.lock();
        let result = self.inner.write_at(data, offset);
        let op = RecordedOp::Write {
            node: self.node,
            offset,
            data: if st.keep_log {
                data.to_vec()
            } else {
                Vec::new()
            },
        };
        st.push(op, result.is_ok());
        result
    }

    fn sync(&self) -> Result<()> {
        let mut st = self.state.lock();
        let result = self.inner.sync();
        st.push(RecordedOp::Sync { node: self.node }, result.is_ok());
        result
    }

    fn len(&self) -> Result<u64> {
        self.inner.len()
    }

    fn set_len(&self, len: u64) -> Result<()> {
        let mut st = self.state.lock();
        let result = self.inner.set_len(len);
        st.push(
            RecordedOp::SetLen {
                node: self.node,
                len,
            },
            result.is_ok(),
        );
        result
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn identity(&self) -> Option<(u64, u64)> {
        self.inner.identity()
    }

    fn raw_fd(&self) -> Option<i32> {
        self.inner.raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemVfs;

    #[test]
    fn logs_events_with_nodes_that_follow_renames() {
        let v = RecordingVfs::new(MemVfs::new());
        let f = v.open(Path::new("/a"), VfsOpen::CREATE).unwrap(); // 1
        v.note_state();
        f.write_at(b"xy", 0).unwrap(); // 2
        f.sync().unwrap(); // 3
        v.rename(Path::new("/a"), Path::new("/b")).unwrap(); // 4
        assert!(v.remove(Path::new("/a")).is_err()); // 5, not applied
        f.set_len(1).unwrap(); // 6
        let g = v.open(Path::new("/b"), VfsOpen::WRITE).unwrap(); // no event
        g.write_at(b"z", 1).unwrap(); // 7
        assert_eq!(v.events(), 7);
        let log = v.take_events();
        assert_eq!(log.len(), 7);
        assert_eq!(log[0].states_before, 0);
        assert_eq!(log[1].states_before, 1);
        assert!(!log[4].applied && log[3].applied);
        assert_eq!(
            log[6].op,
            RecordedOp::Write {
                node: 0,
                offset: 1,
                data: b"z".to_vec()
            }
        );
        assert_eq!(v.inner().read_file(Path::new("/b")).unwrap(), b"xz");
    }
}
