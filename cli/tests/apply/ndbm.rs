//! `pydbm apply` end to end: scripts recorded through the reference library, replayed
//! through the CLI binary, must leave the file the reference left.
//!
//! dbm.ndbm: the 60 scripts of formats/tests/fixtures/ndbm/scripts/ were run through
//! Python's `dbm.ndbm` (Berkeley DB 5.3) by that directory's make.py, which kept libdb's
//! file as `sNNNN.db`. libdb leaves uninitialised memory in dead areas and a per-run file
//! id, so the comparison is of the live bytes (ndbm spec §5, `live_diff`).

use std::path::Path;

fn apply(db_type: &str, path: &Path, script: &[u8]) {
    let out = super::run_apply(db_type, "n", path, script);
    assert!(
        out.status.success(),
        "pydbm apply failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ndbm_scripts_through_the_cli_leave_libdbs_live_bytes() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .join("formats/tests/fixtures/ndbm/scripts");
    let mut scripts: Vec<_> = std::fs::read_dir(&dir)
        .expect("the ndbm script fixtures are committed")
        .map(|e| e.expect("readable fixture directory").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    scripts.sort();
    assert!(scripts.len() >= 60, "found {} scripts", scripts.len());
    let tmp = tempfile::tempdir().expect("temp dir");
    for script in &scripts {
        let name = script.file_stem().expect("sNNNN.txt");
        let want =
            std::fs::read(script.with_extension("db")).expect("libdb's file beside the script");
        let path = tmp.path().join(name);
        apply("ndbm", &path, &std::fs::read(script).expect("script"));
        let got = std::fs::read(path.with_extension("db")).expect("pydbm wrote NAME.db");
        if let Some(diff) = pydbm_formats::ndbm::live::live_diff(&got, &want) {
            panic!("{}: {diff}", script.display());
        }
    }
}
