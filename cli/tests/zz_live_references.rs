//! The last test target of this package (cargo runs test targets in name order): prints
//! which live references this `cargo test` run used and which it skipped
//! (`pydbm_engine::live_reference::print_run_summary`), because libtest hides the SKIPPED
//! lines of passing tests. `harness = false`: a plain `main` whose output cargo shows.

fn main() -> std::process::ExitCode {
    pydbm_engine::live_reference::print_run_summary()
}
