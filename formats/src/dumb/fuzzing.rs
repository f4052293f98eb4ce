//! Entry points of the dumb fuzz targets (`fuzz/fuzz_targets/dumb_*.rs`), also replayed over
//! their seed corpora by plain `cargo test`. Each panics only when an invariant is broken.

use super::dir_index;
use std::path::Path;

/// `dumb_dir`: parses `data` as a `.dir` file; what parses must re-encode to CPython's
/// canonical text, which must parse back to the same entries.
pub fn dir_text(data: &[u8]) {
    let path = Path::new("fuzz.dir");
    if let Ok(entries) = dir_index::parse(path, data) {
        let text = dir_index::encode(entries.iter().map(|(k, s)| (k.as_slice(), *s)));
        let again = dir_index::parse(path, &text).expect("canonical .dir text parses");
        assert_eq!(again, entries, "re-encoded .dir parses to the same entries");
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    /// Every file of `fuzz/corpus/<target>/`.
    pub(crate) fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus")
            .join(target);
        let mut out: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("readable corpus entry").path())
            .map(|p| {
                let data = std::fs::read(&p).expect("readable seed");
                (p, data)
            })
            .collect();
        out.sort();
        assert!(!out.is_empty(), "no seeds for {target}");
        out
    }

    #[test]
    fn dumb_dir_seeds_replay() {
        for (_, data) in seeds("dumb_dir") {
            super::dir_text(&data);
        }
    }
}
