//! The calling process's id, cached (no `getpid` system call per use) and renewed in the
//! child of a `fork`: what journal salts and the lock table's ownership check read.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Once;

/// The calling process's id, without a `getpid` system call per use: read once, then
/// cached until a `fork`, whose child handler (`pthread_atfork`) forgets it so the child
/// reads its own id on its next use. 0 means "not read yet" (no process has id 0).
///
/// Every commit takes a fresh journal salt ([`crate::prng::fresh_u64`]), so before this cache a
/// `getpid` syscall ran per operation (issue 17: 200,001 of them for 200,000 sets). A
/// child made by a raw `clone` system call that skips libc's fork handlers would keep its
/// parent's id here; its salts would still differ by the counter and the clock.
pub(crate) fn current() -> u32 {
    static PID: AtomicU32 = AtomicU32::new(0);
    static FORK_HANDLER: Once = Once::new();
    extern "C" fn forget_in_child() {
        PID.store(0, Ordering::Relaxed);
    }
    let cached = PID.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    // Registered before the first id is cached, so no fork can copy a cached id into a
    // child without the handler clearing it there.
    FORK_HANDLER.call_once(|| {
        // SAFETY: registers a child handler that only stores to an atomic (async-signal
        // safe); pthread_atfork only fails with ENOMEM, in which case no id is ever cached
        // (the fallback below re-reads it on every call).
        let rc = unsafe { libc::pthread_atfork(None, None, Some(forget_in_child)) };
        HANDLER_OK.store(rc == 0, Ordering::Relaxed);
    });
    let pid = std::process::id();
    if HANDLER_OK.load(Ordering::Relaxed) {
        PID.store(pid, Ordering::Relaxed);
    }
    pid
}

/// Whether [`current`]'s fork handler is registered (only then is the id cached).
static HANDLER_OK: AtomicBool = AtomicBool::new(false);

#[cfg(test)]
mod tests {
    use super::*;

    /// The cached id is the process's own, and a forked child sees its own id, not the
    /// parent's cached one (so a child's journal salts are its own).
    #[test]
    fn process_id_is_cached_and_renewed_after_fork() {
        let parent = std::process::id();
        assert_eq!(current(), parent);
        assert_eq!(current(), parent, "second read (cached)");
        // SAFETY: the child only calls process_id (an atomic load, a completed Once, and
        // getpid) and _exit, without allocating, so forking a multi-threaded test process
        // is safe here.
        let child = unsafe { libc::fork() };
        assert!(
            child >= 0,
            "fork failed: {}",
            std::io::Error::last_os_error()
        );
        if child == 0 {
            // SAFETY: getpid and _exit have no preconditions.
            let ok = current() == unsafe { libc::getpid() } as u32 && current() != parent;
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked; status is a valid out pointer.
        let waited = unsafe { libc::waitpid(child, &mut status, 0) };
        assert_eq!(
            waited,
            child,
            "waitpid: {}",
            std::io::Error::last_os_error()
        );
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "the forked child read its parent's cached process id (status {status:#x})"
        );
        assert_eq!(current(), parent, "the parent keeps its own id");
    }
}
