//! Prints which live references the recorded `cargo test` runs used and which they skipped, from the
//! records every live test leaves under `target/live-references/`
//! (`pydbm_engine::live_reference`). `-- --reset` empties the directory first (run it before
//! `cargo test` so the summary covers exactly one run); `-- --strict` exits 1 when anything
//! skipped; `-- --locate` prints where each CPython reference is found (variable, path or
//! `missing`; the live tests themselves fail under `CI=true` when one they need is missing).

use pydbm_engine::live_reference::{python, record_dir, summary, Python};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
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
        return;
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
        return;
    }
    match summary(&dir) {
        Ok(text) => {
            print!("{text}");
            let strict = args.iter().any(|a| a == "--strict");
            if strict && text.lines().any(|l| l.starts_with("SKIPPED ")) {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("live_references: cannot read {}: {e}", dir.display());
            std::process::exit(1);
        }
    }
}
