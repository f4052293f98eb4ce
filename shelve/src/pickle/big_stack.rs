//! Running the recursive walks (pickler, repr) of large graphs on a thread with a big stack,
//! so the 1000-level nesting limit CPython has is reachable on any caller's stack (a test
//! thread has 2 MiB; debug-build frames need ~2 KiB per level).

/// Graphs with at most this many nodes cannot nest deeper than this: run them inline.
const INLINE_NODES: usize = 256;
/// Stack for the walker thread (reserved address space; pages are committed lazily).
const STACK_BYTES: usize = 256 << 20;

/// Runs `f` inline for small graphs, else on a scoped thread with a 256 MiB stack. Falls back
/// to inline if the thread cannot be spawned.
pub(crate) fn run<R: Send>(nodes: usize, f: impl FnOnce() -> R + Send) -> R {
    if nodes <= INLINE_NODES {
        return f();
    }
    let mut f = Some(f);
    let r = std::thread::scope(|s| {
        let g = &mut f;
        std::thread::Builder::new()
            .stack_size(STACK_BYTES)
            .spawn_scoped(s, move || g.take().map(|f| f()))
            .ok()
            .map(|h| h.join())
    });
    match r {
        Some(Ok(Some(v))) => v,
        Some(Err(panic)) => std::panic::resume_unwind(panic),
        // spawn failed: f was not moved out
        _ => match f.take() {
            Some(f) => f(),
            None => unreachable!("the walker ran but returned nothing"),
        },
    }
}
