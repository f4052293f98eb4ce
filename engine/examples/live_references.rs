//! Prints which live references the recorded `cargo test` runs used and which they skipped, from the
//! records every live test leaves under `target/live-references/`
//! (`pydbm_engine::live_reference`). `-- --reset` empties the directory first (run it before
//! `cargo test` so the summary covers exactly one run); `-- --strict` exits 1 when anything
//! skipped; `-- --locate` prints where each CPython reference is found (variable, path or
//! `missing`; the live tests themselves fail under `CI=true` when one they need is missing).
//!
//! `-- test ARGS…` runs `cargo test ARGS…` and then prints the summary of exactly that run's
//! records, so the summary is the run's last output (after the doctests, which cargo runs
//! after every other test target); it exits with cargo's status, or 1 when cargo passed
//! but a reference was missing under `CI=true`. `cargo test-all ARGS…` is this, through the
//! alias in `.cargo/config.toml`.

use pydbm_engine::live_reference::{
    print_summary_of_run, python, record_dir, run_of_cargo_process, summary, Python,
};

/// The variables `cargo run` sets for this example's own package and target: not passed on
/// to the `cargo test` it starts, which sets its own for each test target.
const PER_TARGET_VARS: [&str; 6] = [
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_PKG_",
];

/// `cargo test ARGS`, then the summary of that run's live references; the exit status.
fn test_then_summary(args: &[String]) -> std::process::ExitCode {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = std::process::Command::new(&cargo);
    command.arg("test").args(args);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if PER_TARGET_VARS
            .iter()
            .any(|v| name == *v || (v.ends_with('_') && name.starts_with(v)))
        {
            command.env_remove(name.as_ref());
        }
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!(
                "live_references: cannot run {}: {e}",
                cargo.to_string_lossy()
            );
            return std::process::ExitCode::FAILURE;
        }
    };
    // Read while the child lives: its pid and start time name its test processes' records.
    let run = run_of_cargo_process(child.id());
    let status = match child.wait() {
        Ok(status) => status,
        Err(e) => {
            eprintln!("live_references: waiting for cargo test: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let scope = match &run {
        Some(run) => format!("this whole cargo test (cargo process {run})"),
        None => "this cargo test (its process id could not be read: nothing to sum)".to_string(),
    };
    let summary = print_summary_of_run(run.as_deref(), &scope);
    if !status.success() {
        eprintln!("live_references: cargo test failed ({status})");
        return std::process::ExitCode::from(status.code().map_or(1, |c| c.clamp(1, 255) as u8));
    }
    summary
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("test") {
        return test_then_summary(&args[1..]);
    }
    let Some(dir) = record_dir() else {
        eprintln!("live_references: cannot locate the target directory");
        std::process::exit(1);
    };
    if args.iter().any(|a| a == "--locate") {
        for which in Python::ALL {
            match python(which) {
                Some(path) => println!("{:<18} {}: {}", which.env_var(), which, path.display()),
                None => println!("{:<18} {}: missing", which.env_var(), which),
            }
        }
        return std::process::ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "--reset") {
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                eprintln!("live_references: cannot remove {}: {e}", dir.display());
                std::process::exit(1);
            }
        }
        return std::process::ExitCode::SUCCESS;
    }
    match summary(&dir) {
        Ok(text) => {
            print!("{text}");
            let strict = args.iter().any(|a| a == "--strict");
            if strict && text.lines().any(|l| l.starts_with("SKIPPED ")) {
                return std::process::ExitCode::FAILURE;
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("live_references: cannot read {}: {e}", dir.display());
            std::process::ExitCode::FAILURE
        }
    }
}
