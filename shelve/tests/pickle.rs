//! pickle against CPython: the 3.13 corpus (committed fixtures made by the reference, see
//! tests/fixtures/pickle/make.py) and the live /usr/bin/python3 (3.11) where available.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pydbm_shelve::pickle::{self, ExtensionRegistry, LoadOptions};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pickle")
}

/// The copyreg codes `pydbm_corpus_classes` registers on import.
fn corpus_registry() -> Arc<ExtensionRegistry> {
    let mut r = ExtensionRegistry::new();
    r.add_extension("pydbm_corpus_classes", "ExtSmall", 0xF0)
        .unwrap();
    r.add_extension("pydbm_corpus_classes", "ExtMedium", 0x1234)
        .unwrap();
    r.add_extension("pydbm_corpus_classes", "ExtLarge", 0x12345678)
        .unwrap();
    Arc::new(r)
}

fn corpus_opts() -> LoadOptions {
    LoadOptions {
        extensions: corpus_registry(),
        ..LoadOptions::default()
    }
}

/// value stem → protocol → bytes, for the C-pickler files of p3/.
fn corpus() -> BTreeMap<String, BTreeMap<u8, Vec<u8>>> {
    let mut m: BTreeMap<String, BTreeMap<u8, Vec<u8>>> = BTreeMap::new();
    for e in std::fs::read_dir(fixtures().join("corpus/p3")).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".pyimpl.pickle") {
            continue;
        }
        let mut parts = name.split('.');
        let stem = parts.next().unwrap().to_string();
        let proto: u8 = parts.next().unwrap()[1..].parse().unwrap();
        let data = std::fs::read(fixtures().join("corpus/p3").join(&name)).unwrap();
        m.entry(stem).or_default().insert(proto, data);
    }
    m
}

#[test]
fn corpus_recode_matches_cpython_313_for_every_protocol_pair() {
    // recode.json (made by make.py with the live reference) lists where
    // dumps(loads(F(v,p)), q) differs from the corpus file F(v,q): only the slotted class at
    // q < 2, where CPython raises TypeError because it runs the class's copyreg code.
    let opts = corpus_opts();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (stem, by_proto) in corpus() {
        for (&p, data) in &by_proto {
            for q in 0..=5u8 {
                if stem == "095-cls_slotted" && q < 2 {
                    continue; // CPython: TypeError from copyreg._reduce_ex (needs the class)
                }
                if (stem == "096-cls_newargs" || stem == "097-cls_newargs_ex") && p < 2 && q >= 2 {
                    // Not reproducible without running the class: CPython calls the loaded
                    // object's __getnewargs__(_ex__), which protocols 0/1 do not record.
                    // Same-protocol and p>=2 sources are checked.
                    continue;
                }
                let want = &by_proto[&q];
                match pickle::recode(data, q, &opts) {
                    Ok(got) if &got == want => checked += 1,
                    Ok(got) => failures.push(format!(
                        "{stem}.p{p} -> p{q}: got {} want {}",
                        hex(&got),
                        hex(want)
                    )),
                    Err(e) => failures.push(format!("{stem}.p{p} -> p{q}: error {e}")),
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} recodes differ:\n{}",
        failures.len(),
        failures.len() + checked,
        failures.join("\n")
    );
}

fn hex(b: &[u8]) -> String {
    if b.len() > 200 {
        return format!("<{} bytes>", b.len());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

struct Entry {
    file: String,
    name: String,
    repr: String,
    dis: String,
}

fn unhex(h: &str) -> String {
    let b: Vec<u8> = (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect();
    String::from_utf8(b).unwrap()
}

/// manifest.tsv: the 3.13 corpus manifest (repr and pickletools.dis of each file).
fn manifest() -> Vec<Entry> {
    std::fs::read_to_string(fixtures().join("manifest.tsv"))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Entry {
                file: f[0].to_string(),
                name: f[1].to_string(),
                repr: unhex(f[2]),
                dis: unhex(f[3]),
            }
        })
        .filter(|e| !e.dis.is_empty()) // entries CPython could not pickle have no file
        .collect()
}

#[test]
fn corpus_dis_matches_pickletools() {
    let mut failures = Vec::new();
    let entries = manifest();
    assert!(entries.len() > 700);
    for e in &entries {
        let data = std::fs::read(fixtures().join("corpus").join(&e.file)).unwrap();
        // the manifest keeps head and tail of very long listings around this marker
        let same = |t: &str| match e.dis.split_once("\n...[truncated]...\n") {
            Some((head, tail)) => t.starts_with(head) && t.ends_with(tail),
            None => t == e.dis,
        };
        match pickle::dis(&data) {
            Ok(t) if same(&t) => {}
            Ok(t) => failures.push(format!("{}:\n{}\nwant:\n{}", e.file, t, e.dis)),
            Err(err) => failures.push(format!("{}: {err}", e.file)),
        }
    }
    let names: Vec<&str> = failures
        .iter()
        .map(|f| f.split(':').next().unwrap_or(""))
        .collect();
    assert!(
        failures.is_empty(),
        "{} differ: {}\n{}",
        failures.len(),
        names.join(" "),
        failures[..failures.len().min(8)].join("\n")
    );
}

#[test]
fn corpus_show_matches_python_repr() {
    let opts = corpus_opts();
    let mut failures = Vec::new();
    for e in &manifest() {
        let data = std::fs::read(fixtures().join("corpus").join(&e.file)).unwrap();
        let got = pickle::show(&data, &opts).unwrap_or_else(|err| format!("ERROR {err}"));
        // the manifest cuts reprs longer than 300 characters
        let same = got == e.repr || (e.repr.chars().count() >= 300 && got.starts_with(&e.repr));
        // user-class reprs come from their __repr__; a function's repr holds its address
        if !same && !e.name.starts_with("cls_") && e.name != "global_func" {
            failures.push(format!(
                "{}: got {} want {}",
                e.file,
                &got[..got.len().min(300)],
                e.repr
            ));
        }
    }
    let names: Vec<&str> = failures
        .iter()
        .map(|f| f.split(':').next().unwrap_or(""))
        .collect();
    assert!(
        failures.is_empty(),
        "{} differ: {}\n{}",
        failures.len(),
        names.join(" "),
        failures[..failures.len().min(8)].join("\n")
    );
}
