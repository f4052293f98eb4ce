//! Cache-line prefetch hints: ask the CPU to start loading memory the caller will read
//! soon, so the load overlaps other work. x86-64 `prefetcht0`; no effect on other targets.
//! A hint never faults, reads nothing into the program and changes no memory, whatever the
//! address (even a stale or unmapped one), so these functions are safe.

/// Hints the cache line holding `addr`.
#[inline]
pub fn prefetch_address(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: `_mm_prefetch` needs SSE, part of the x86-64 baseline the compiler already
        // targets. A prefetch is only a hint: it never faults and the pointer is never
        // dereferenced.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(addr as *const i8) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// Hints every cache line of the `len` bytes from `start` (the first byte's line, one per
/// 64 bytes after it, and the last byte's line, which an unaligned start would miss).
#[inline]
pub fn prefetch_range(start: *const u8, len: usize) {
    let mut off = 0;
    while off < len {
        prefetch_address((start as usize).wrapping_add(off));
        off += 64;
    }
    if let Some(last) = len.checked_sub(1) {
        prefetch_address((start as usize).wrapping_add(last));
    }
}

/// Hints the cache lines holding `v`.
#[inline]
pub fn prefetch_value<T>(v: &T) {
    prefetch_range(std::ptr::from_ref(v).cast(), std::mem::size_of::<T>());
}

/// Hints the cache lines holding `bytes`.
#[inline]
pub fn prefetch_bytes(bytes: &[u8]) {
    prefetch_range(bytes.as_ptr(), bytes.len());
}
