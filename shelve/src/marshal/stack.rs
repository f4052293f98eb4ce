//! Deep recursion without stack overflow: every [`SEGMENT`] levels, the recursion
//! continues on a fresh scoped thread with its own [`SEGMENT_STACK`]-byte stack.
//!
//! marshal nests up to 2000 levels (CPython's limit, which pydbm keeps for byte
//! compatibility); in a debug build that is more than a 2 MiB test-thread stack holds.
//! Inputs nested less than [`SEGMENT`] deep never leave the caller's thread.

/// Levels of recursion run on one stack segment.
pub(crate) const SEGMENT: usize = 48;
/// Size of each extra stack segment.
const SEGMENT_STACK: usize = 8 << 20;

/// Runs `f` inline, or on a new stack segment when `depth` is a multiple of [`SEGMENT`].
/// Returns `None` only when the operating system refuses a new thread.
pub(crate) fn grow<T: Send>(depth: usize, f: impl FnOnce() -> T + Send) -> Option<T> {
    if depth == 0 || !depth.is_multiple_of(SEGMENT) {
        return Some(f());
    }
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("pydbm-deep-recursion".into())
            .stack_size(SEGMENT_STACK)
            .spawn_scoped(scope, f)
            .ok()?;
        match handle.join() {
            Ok(v) => Some(v),
            // A panic in `f` is a bug; carry it to the caller unchanged.
            Err(payload) => std::panic::resume_unwind(payload),
        }
    })
}
