//! The body of the `pickle_load` fuzz target, shared with the seed-replay test.

use super::{dumps, loads, recode, LoadOptions, Persistent};

/// Feeds arbitrary bytes through load, dis and recode to every protocol, and checks that a
/// successful load round-trips (dump → load gives an isomorphic graph, re-dump is a
/// fixpoint). Errors are fine; a panic, hang or unbounded allocation is a bug.
pub fn pickle_load(data: &[u8]) {
    let opts = LoadOptions {
        persistent: Persistent::Keep,
        buffers: Some(vec![b"oob".to_vec(); 4]),
        ..LoadOptions::default()
    };
    pickle_dis(data);
    let Ok(p) = loads(data, &opts) else {
        return;
    };
    let _ = super::repr::repr(&p);
    for q in 0..=5u8 {
        let _ = recode(data, q, &opts);
        if let Ok(bytes) = dumps(&p, q) {
            let back = loads(&bytes, &opts)
                .unwrap_or_else(|e| panic!("pydbm cannot load its own protocol {q} dump: {e}"));
            assert!(
                p.isomorphic(&back) || !tree_like(&p),
                "protocol {q} dump changed the graph"
            );
            let again = dumps(&back, q).expect("a loaded dump re-dumps");
            if again != bytes && q < 3 && names_globals(&p) {
                // Below protocol 3 global names pass through the Python 2 compat tables
                // both ways. CPython only pickles importable objects under their own
                // names, so its re-dump is a fixpoint; pydbm never imports and keeps a
                // name as written, so a name CPython could not load (protocol 4
                // `UserDict.UserDict`: dumped as is, loaded as collections.UserDict,
                // re-dumped as UserDict.IterableUserDict) or a name CPython resolves to a
                // non-class object (tkFileDialog.X is the string 'x') settles one round
                // later. The corpus keeps both.
                let back2 = loads(&again, &opts).expect("pydbm loads its own re-dump");
                let again2 = dumps(&back2, q).expect("a loaded dump re-dumps");
                assert_eq!(again2, again, "protocol {q} re-dump does not settle");
            } else {
                assert_eq!(again, bytes, "protocol {q} re-dump is not a fixpoint");
            }
        }
    }
}

/// Whether the graph names a global (a GLOBAL/STACK_GLOBAL name or an instance's class).
fn names_globals(p: &super::Pickle) -> bool {
    p.nodes
        .iter()
        .any(|n| matches!(n, super::Node::Instance(_) | super::Node::Global { .. }))
}

/// Graphs whose reduce structures the pickler rewrites per protocol (instances, nested
/// globals) are not expected to be isomorphic after a dump, nor are PickleBuffers (written
/// in-band they load back as bytes/bytearray, as in CPython), nor persistent references
/// (never memoized: CPython's pickler writes the pid at each reference and the unpickler
/// calls persistent_load each time, so one persistent object reached twice, e.g. as a
/// frozenset element and as another reference's pid, loads back as two); plain data is.
fn tree_like(p: &super::Pickle) -> bool {
    p.nodes.iter().all(|n| {
        !matches!(
            n,
            super::Node::Instance(_)
                | super::Node::Global { .. }
                | super::Node::PickleBuffer { .. }
                | super::Node::PersistentId { .. }
        )
    })
}

/// The body of the `pickle_dis` fuzz target: `pydbm pickle dis` on arbitrary bytes (the
/// listing of what decodes, then the error). Errors are fine; a panic, hang or unbounded
/// allocation is a bug.
pub fn pickle_dis(data: &[u8]) {
    let mut out = CappedSink { left: 1 << 20 };
    let _ = super::dis_write(data, &mut out);
}

/// A writer that discards its input and fails after `left` bytes: the fuzzer checks the
/// work per byte of listing, not how long a quadratic listing of a MARK-heavy input is.
struct CappedSink {
    left: usize,
}

impl std::io::Write for CappedSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() > self.left {
            return Err(std::io::Error::other("listing longer than the fuzz cap"));
        }
        self.left -= buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The body of the `pickle_show` fuzz target: `pydbm pickle show` (load, then repr) on
/// arbitrary bytes, with default options and with Python 2 `bytes` decoding.
pub fn pickle_show(data: &[u8]) {
    let _ = super::show(data, &LoadOptions::default());
    let py2 = LoadOptions {
        encoding: "bytes".into(),
        ..LoadOptions::default()
    };
    let _ = super::show(data, &py2);
}
