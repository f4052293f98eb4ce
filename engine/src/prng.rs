//! A small deterministic pseudo-random generator (SplitMix64) for fault injection, crash
//! workloads and journal salts. Not for cryptography.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Once;

/// SplitMix64: a 64-bit state, full period, good enough statistical quality for tests.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose whole output sequence is fixed by `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n` > 0; returns 0 for `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// True with probability `num/den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
}

/// The calling process's id, without a `getpid` system call per use: read once, then
/// cached until a `fork`, whose child handler (`pthread_atfork`) forgets it so the child
/// reads its own id on its next use. 0 means "not read yet" (no process has id 0).
///
/// Every commit takes a fresh journal salt ([`fresh_u64`]), so before this cache a
/// `getpid` syscall ran per operation (issue 17: 200,001 of them for 200,000 sets). A
/// child made by a raw `clone` system call that skips libc's fork handlers would keep its
/// parent's id here; its salts would still differ by the counter and the clock.
fn process_id() -> u32 {
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

/// Whether [`process_id`]'s fork handler is registered (only then is the id cached).
static HANDLER_OK: AtomicBool = AtomicBool::new(false);

/// A value that differs between calls and between processes (for journal salts).
pub fn fresh_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(process_id());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_spread() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        let mut c = SplitMix64::new(1);
        let hits = (0..1000).filter(|_| c.below(10) == 3).count();
        assert!((50..150).contains(&hits));
        assert_ne!(fresh_u64(), fresh_u64());
    }

    /// The cached id is the process's own, and a forked child sees its own id, not the
    /// parent's cached one (so a child's journal salts are its own).
    #[test]
    fn process_id_is_cached_and_renewed_after_fork() {
        let parent = std::process::id();
        assert_eq!(process_id(), parent);
        assert_eq!(process_id(), parent, "second read (cached)");
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
            let ok = process_id() == unsafe { libc::getpid() } as u32 && process_id() != parent;
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
        assert_eq!(process_id(), parent, "the parent keeps its own id");
    }
}
