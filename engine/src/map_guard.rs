//! Memory-mapped reads that never kill the process with `SIGBUS`.
//!
//! Reading a page of a `MAP_SHARED` file mapping raises `SIGBUS` when the file cannot supply
//! the page: the file was truncated below it (by another process — libdb truncates `NAME.db`
//! when it frees the last page and takes no lock, ndbm spec §3.6), or the page is a hole on a
//! full `tmpfs`, which must allocate memory to map it even for a read. `pread` of the same
//! bytes returns a short read or zeros instead, so [`crate::OsVfs`]'s mapped reads must never
//! be the only way a byte is read.
//!
//! This module registers every read map in a fixed table and installs (once, chaining to the
//! handler that was there before) a `SIGBUS` handler: a fault inside a registered map replaces
//! the faulting page with an anonymous zero-filled page (`mmap(MAP_FIXED)`, which is what
//! `pread` returns for a hole, and what the pager reads past a short file), bumps the fault
//! counter and returns, so the interrupted copy completes. Readers compare the counter
//! ([`fault_count`]) before and after a copy: a changed count means the map now holds patched
//! pages, so the handle drops the map and reads that range again with `pread`. A fault outside
//! every registered map goes to the previous handler (Rust's stack-overflow handler, or the
//! default action, which kills the process as before).

use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, Once, OnceLock};

/// How many maps can be guarded at once; a map beyond that is not made (the handle reads
/// with `pread` instead).
const SLOTS: usize = 256;

/// First address of each registered map (valid while the slot's length is non-zero).
static STARTS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
/// Length of each registered map; 0 for a free slot.
static LENS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
/// Which slots are taken (claims and releases only; the handler reads `LENS`).
static CLAIMED: Mutex<[bool; SLOTS]> = Mutex::new([false; SLOTS]);
/// Faults the handler has absorbed since the process started.
static FAULTS: AtomicU64 = AtomicU64::new(0);
/// The system page size, set before the handler is installed.
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);
/// The `SIGBUS` disposition before ours.
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();
/// Whether the handler was installed (false when `sigaction` failed: then no map is made).
static INSTALLED: OnceLock<bool> = OnceLock::new();
static INSTALL: Once = Once::new();

/// Faults absorbed so far; a reader that sees it change across a copy from a map re-reads
/// with `pread` and remaps.
#[inline]
pub(crate) fn fault_count() -> u64 {
    FAULTS.load(Ordering::SeqCst)
}

/// A registered map; dropping it unregisters the range (before the map itself is unmapped,
/// so it must be dropped first).
#[derive(Debug)]
pub(crate) struct Registration {
    slot: usize,
}

impl Drop for Registration {
    fn drop(&mut self) {
        LENS[self.slot].store(0, Ordering::SeqCst);
        STARTS[self.slot].store(0, Ordering::SeqCst);
        let mut claimed = CLAIMED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        claimed[self.slot] = false;
    }
}

/// Registers the map `start..start + len` so that a `SIGBUS` inside it is absorbed.
/// `None` when the handler could not be installed or every slot is taken: the caller must
/// then not read through a map.
pub(crate) fn register(start: *const u8, len: usize) -> Option<Registration> {
    if len == 0 || !install() {
        return None;
    }
    let mut claimed = CLAIMED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let slot = claimed.iter().position(|c| !c)?;
    claimed[slot] = true;
    STARTS[slot].store(start as usize, Ordering::SeqCst);
    LENS[slot].store(len, Ordering::SeqCst);
    Some(Registration { slot })
}

/// Installs the handler once; whether it is in place.
fn install() -> bool {
    INSTALL.call_once(|| {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let ok = page > 0 && {
            PAGE_SIZE.store(page as usize, Ordering::SeqCst);
            // SAFETY: zeroed sigaction structs are valid values; every field we rely on is
            // set below. `on_sigbus` has the SA_SIGINFO signature.
            unsafe {
                let mut new: libc::sigaction = std::mem::zeroed();
                new.sa_sigaction = on_sigbus as *const () as usize;
                new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut new.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                // Hold the previous disposition before the handler can run.
                if libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut old) != 0 {
                    false
                } else {
                    let _ = PREVIOUS.set(old);
                    libc::sigaction(libc::SIGBUS, &new, std::ptr::null_mut()) == 0
                }
            }
        };
        let _ = INSTALLED.set(ok);
    });
    INSTALLED.get().copied().unwrap_or(false)
}

/// The `SIGBUS` handler (async-signal-safe: atomics and `mmap`/`sigaction` system calls).
extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = PAGE_SIZE.load(Ordering::SeqCst);
    for i in 0..SLOTS {
        let len = LENS[i].load(Ordering::SeqCst);
        if len == 0 {
            continue;
        }
        let start = STARTS[i].load(Ordering::SeqCst);
        if addr >= start && addr - start < len {
            let at = addr & !(page - 1);
            // SAFETY: `at` is a page inside a live map this process owns (the registration
            // is dropped before the map is unmapped, and the faulting thread is reading or,
            // for the journal's shared map, storing to it). Replacing the page with anonymous
            // zeros is what a read of the missing bytes returns through `pread`; it is
            // writable so that an interrupted store completes (into memory, not the file:
            // the store's caller sees the fault count move and writes the bytes with
            // `pwrite`, `OsSharedMap::store`).
            let r = unsafe {
                libc::mmap(
                    at as *mut c_void,
                    page,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if r != libc::MAP_FAILED {
                FAULTS.fetch_add(1, Ordering::SeqCst);
                return;
            }
            break;
        }
    }
    chain(sig, info, ctx);
}

/// Hands a fault that is not ours to the previous disposition.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    let prev = PREVIOUS.get();
    let handler = prev.map_or(libc::SIG_DFL, |p| p.sa_sigaction);
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // Restore the default action and return: the faulting instruction runs again and
        // the process dies by SIGBUS, exactly as without this module.
        // SAFETY: a zeroed sigaction with SIG_DFL is a valid disposition.
        unsafe {
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(libc::SIGBUS, &dfl, std::ptr::null_mut());
        }
        return;
    }
    let flags = prev.map_or(0, |p| p.sa_flags);
    // SAFETY: the previous handler was installed for SIGBUS with this signature (SA_SIGINFO
    // tells which of the two it has).
    unsafe {
        if flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut c_void) =
                std::mem::transmute(handler);
            f(sig, info, ctx);
        } else {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(handler);
            f(sig);
        }
    }
}
