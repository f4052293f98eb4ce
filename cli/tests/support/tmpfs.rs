//! A tmpfs mounted for one test (the full-disk tests of `cli/tests/locking.rs` and
//! `cli/tests/realkill`), included by `#[path]` into each test binary that needs it.

use std::path::Path;
use std::process::{Command, Stdio};

/// A tmpfs mounted on a fresh temporary directory, unmounted on drop.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`mount -o size=…`, e.g. `"2m"`); `None` after
    /// `skip_or_fail` when mounting is not permitted (it needs root).
    pub fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("temp dir");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            pydbm_engine::live_reference::skip_or_fail("mounting a tmpfs (`mount -t tmpfs`, root)");
            return None;
        }
        Some(Tmpfs { dir })
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // A busy mount is detached lazily; the temp dir is removed after it.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
