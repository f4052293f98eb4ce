//! The policy of every test that runs a real reference (CPython, libgdbm's tools, Berkeley
//! DB's utilities, the `sqlite3` command line, a shared corpus): when the reference is
//! missing, the test says loudly that it skipped; under `CI=true` it fails instead, so a
//! CI machine that lost a reference cannot pass by skipping.

/// Whether the environment says this is CI (`CI=true`).
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Reports that the reference `what` is missing: panics under `CI=true`, otherwise prints
/// `SKIPPED: {what} not available` to stderr (the caller then returns without testing).
///
/// # Panics
/// Under `CI=true`, always.
pub fn skip_or_fail(what: &str) {
    if in_ci() {
        panic!("{what} not available and CI=true");
    }
    eprintln!("SKIPPED: {what} not available");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_reference_skips_or_fails_by_the_ci_variable() {
        match std::panic::catch_unwind(|| skip_or_fail("a reference")) {
            Err(e) => {
                assert!(in_ci());
                let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
                assert_eq!(msg, "a reference not available and CI=true");
            }
            Ok(()) => assert!(!in_ci()),
        }
    }
}
