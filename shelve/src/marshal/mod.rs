//! marshal: CPython's internal serialization format, versions 0–4 (and 5's writer).
//!
//! - [`loads`] reads any marshal stream CPython 3.13 reads (every type code but the 3.14
//!   slice; code objects of the 3.11–3.13 layout load as an opaque [`CodeObject`] node)
//!   into a [`Value`] graph that keeps shared references and cycles.
//! - [`dumps`] writes a graph; [`recode`] is `marshal.dumps(marshal.loads(data), version)`
//!   and matches CPython's bytes under the reference-count policy of spec §2.3 (see
//!   docs/marshal.md for the one documented exception).
//! - [`show`] is `repr(marshal.loads(data))`.
//!
//! Nothing here touches files. Spec: python-formats.md §2.
//!
//! ```
//! use pydbm_shelve::marshal;
//!
//! // CPython 3.13: marshal.dumps((1, 'a', b'b', 2.5, None, [True], {'k': frozenset({7})}, 2**70), 4)
//! let m: &[u8] = b"\xa9\x08\xe9\x01\x00\x00\x00\xda\x01a\xf3\x01\x00\x00\x00b\xe7\x00\x00\x00\x00\x00\x00\x04@N\
//!     [\x01\x00\x00\x00T{\xda\x01k>\x01\x00\x00\x00\xe9\x07\x00\x00\x000l\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x04";
//! assert_eq!(
//!     marshal::show(m)?,
//!     "(1, 'a', b'b', 2.5, None, [True], {'k': frozenset({7})}, 1180591620717411303424)"
//! );
//! // marshal.dumps(marshal.loads(m), 4): the loaded values' reference counts differ from
//! // the literal's, so only the outer tuple keeps FLAG_REF (spec §2.3).
//! let v4: &[u8] = b")\x08\xe9\x01\x00\x00\x00\xda\x01as\x01\x00\x00\x00bg\x00\x00\x00\x00\x00\x00\x04@N\
//!     [\x01\x00\x00\x00T{\xda\x01k>\x01\x00\x00\x00\xe9\x07\x00\x00\x000l\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x04";
//! assert_eq!(marshal::recode(m, 4)?, v4);
//! // Version 2 has no references and no short forms.
//! let v2: &[u8] = b"(\x08\x00\x00\x00i\x01\x00\x00\x00u\x01\x00\x00\x00as\x01\x00\x00\x00bg\x00\x00\x00\x00\x00\x00\x04@N\
//!     [\x01\x00\x00\x00T{u\x01\x00\x00\x00k>\x01\x00\x00\x00i\x07\x00\x00\x000l\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x04";
//! let value = marshal::loads(m)?;
//! assert_eq!(marshal::dumps(&value, 2)?, v2);
//! // A truncated stream is an EOFError, as in CPython.
//! let err = marshal::loads(&m[..10]).unwrap_err();
//! assert!(err.to_string().contains("EOF"), "{err}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod float_text;
mod hashkey;
mod long;
mod reader;
mod repr;
mod stack;
mod value;
mod writer;

pub use error::{MarshalError, PyExc};
pub use float_text::{float_repr, format_g17};
pub use long::PyLong;
pub use reader::{loads, MAX_DEPTH};
pub use repr::{bytes_repr, repr, str_repr};
pub use value::{CodeObject, Flavor, Node, NodeId, Value};
pub use writer::{dumps, dumps_with, DumpOptions};

/// The marshal version CPython 3.4–3.13 writes by default (`marshal.version`).
pub const VERSION: u32 = 4;

/// `marshal.dumps(marshal.loads(data), version)` as CPython 3.13 computes it.
///
/// Errors: whatever [`loads`] or [`dumps`] report (e.g. a self-containing list at version
/// < 3 is "object too deeply nested to marshal").
pub fn recode(data: &[u8], version: u32) -> Result<Vec<u8>, MarshalError> {
    dumps(&loads(data)?, version)
}

/// [`recode`] imitating a given CPython ([`Flavor::CPython311`] for Debian's 3.11).
pub fn recode_as(data: &[u8], version: u32, flavor: Flavor) -> Result<Vec<u8>, MarshalError> {
    let opts = DumpOptions {
        flavor,
        ..DumpOptions::default()
    };
    dumps_with(&loads(data)?, version, &opts)
}

/// `repr(marshal.loads(data))` as CPython prints it (sets in stream order; see [`repr`]).
pub fn show(data: &[u8]) -> Result<String, MarshalError> {
    repr(&loads(data)?)
}

/// The body of the `marshal_load` fuzz target (also replayed by `cargo test`): loads
/// arbitrary bytes and, when they load, prints them and re-dumps them at every version
/// (output capped at 16 MiB), checking that every successful dump loads again.
///
/// Panics only when that round-trip property fails, which is a bug.
#[cfg(any(test, feature = "fuzzing"))]
pub fn fuzz_one(data: &[u8]) {
    let Ok(value) = loads(data) else { return };
    let _ = repr(&value);
    for version in 0..=5 {
        let opts = DumpOptions {
            max_len: 16 << 20,
            ..DumpOptions::default()
        };
        if let Ok(bytes) = dumps_with(&value, version, &opts) {
            let again = loads(&bytes);
            assert!(again.is_ok(), "dump at v{version} does not load: {again:?}");
        }
    }
}

/// The body of the `marshal_show` fuzz target: `pydbm marshal show` (load, then repr) on
/// arbitrary bytes. Errors are fine; a panic, hang or unbounded allocation is a bug.
#[cfg(any(test, feature = "fuzzing"))]
pub fn fuzz_show(data: &[u8]) {
    let _ = show(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2000 levels (CPython's limit) load, dump and fail to print on a default test
    /// thread's stack: the recursion continues on stack segments (stack.rs).
    #[test]
    fn deepest_nesting_fits_the_stack() {
        let mut ok = b"[\x01\x00\x00\x00".repeat(1999);
        ok.push(b'N');
        let v = loads(&ok).expect("1999 lists around None load (CPython 3.11 too)");
        assert_eq!(dumps(&v, 4).expect("and dump").len(), ok.len());
        assert_eq!(
            repr(&v).expect_err("deeper than repr's 1000").exc,
            PyExc::RecursionError
        );
    }

    /// Frozensets nested 300 deep: every level sorts its elements by their own dump, which
    /// naively re-dumps the whole subtree at each level (2^depth work); keys are memoized.
    #[test]
    fn nested_sets_dump_in_polynomial_time() {
        let mut v = Value::new();
        let mut s = v.push(Node::FrozenSet(vec![]));
        for i in 0..300 {
            let n = v.int(i);
            s = v.push(Node::FrozenSet(vec![s, n]));
        }
        v.set_root(s);
        let bytes = dumps(&v, 4).expect("dumps");
        assert_eq!(recode(&bytes, 4).expect("recode"), bytes);
    }

    /// A set holding one tuple DAG (2^16 leaves) through 300 refs: hashing each ref again
    /// would visit ~2^24 nodes (CPython would grind through them); the load stops with an
    /// error at the per-load budget (2^20 + 2 per input byte) instead.
    #[test]
    fn hashing_work_per_load_is_bounded() {
        let mut v = Value::new();
        let mut t = v.int(7);
        for _ in 0..16 {
            t = v.push(Node::Tuple(vec![t, t]));
        }
        let s = v.push(Node::Set(vec![t; 300]));
        v.set_root(s);
        let bytes = dumps(&v, 4).expect("refs keep the dump small");
        assert!(bytes.len() < 3000);
        let e = loads(&bytes).expect_err("budget");
        assert_eq!(e.exc, PyExc::ValueError);
        assert!(e.message.contains("too large to hash"), "{}", e.message);
    }

    /// A shared tuple DAG 40 levels deep: v4 writes refs (linear), v2 would be 2^40 nodes.
    #[test]
    fn shared_dag_is_bounded() {
        let mut v = Value::new();
        let mut t = v.push(Node::Tuple(vec![]));
        for _ in 0..40 {
            t = v.push(Node::Tuple(vec![t, t]));
        }
        v.set_root(t);
        assert!(dumps(&v, 4).expect("refs keep it small").len() < 1000);
        let opts = DumpOptions {
            max_len: 1 << 20,
            ..DumpOptions::default()
        };
        let e = dumps_with(&v, 2, &opts).expect_err("exponential at v2");
        assert_eq!(e.exc, PyExc::MemoryError);
        assert!(repr(&v).is_err());
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// A value tree: leaves and containers, each node used once; set elements and dict
        /// keys distinct under Python equality (so loading does not collapse them).
        #[derive(Debug, Clone)]
        enum Tree {
            Int(i64),
            Float(f64),
            Str(String),
            Bytes(Vec<u8>),
            Tuple(Vec<Tree>),
            List(Vec<Tree>),
            Dict(Vec<(String, Tree)>),
            Set(Vec<i64>),
        }

        fn tree() -> impl Strategy<Value = Tree> {
            let leaf = prop_oneof![
                any::<i64>().prop_map(Tree::Int),
                (-300i64..300).prop_map(Tree::Int),
                any::<f64>().prop_map(Tree::Float),
                "[a-z\\u{e9}\\u{1F600}]{0,5}".prop_map(Tree::Str),
                proptest::collection::vec(any::<u8>(), 0..4).prop_map(Tree::Bytes),
                proptest::collection::btree_set(any::<i64>(), 0..4)
                    .prop_map(|s| Tree::Set(s.into_iter().collect())),
            ];
            leaf.prop_recursive(4, 32, 4, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4).prop_map(Tree::Tuple),
                    proptest::collection::vec(inner.clone(), 0..4).prop_map(Tree::List),
                    proptest::collection::btree_map("[a-z]{0,3}", inner, 0..4)
                        .prop_map(|m| Tree::Dict(m.into_iter().collect())),
                ]
            })
        }

        fn build(v: &mut Value, t: &Tree) -> NodeId {
            let node = match t {
                Tree::Int(i) => return v.int(*i),
                Tree::Float(x) => Node::Float(*x),
                Tree::Str(s) => return v.str(s),
                Tree::Bytes(b) => return v.bytes(b),
                Tree::Tuple(items) => Node::Tuple(items.iter().map(|i| build(v, i)).collect()),
                Tree::List(items) => Node::List(items.iter().map(|i| build(v, i)).collect()),
                Tree::Dict(pairs) => Node::Dict(
                    pairs
                        .iter()
                        .map(|(k, x)| {
                            let k = v.str(k);
                            (k, build(v, x))
                        })
                        .collect(),
                ),
                Tree::Set(items) => Node::Set(items.iter().map(|&i| v.int(i)).collect()),
            };
            v.push(node)
        }

        proptest! {
            /// dumps then recode is a fixpoint at every version, and a loaded set-free
            /// value prints the same as the built one.
            #[test]
            fn dump_load_dump_is_a_fixpoint(t in tree(), version in 0u32..=4) {
                let mut v = Value::new();
                let root = build(&mut v, &t);
                v.set_root(root);
                let bytes = dumps(&v, version).expect("a tree dumps");
                let again = recode(&bytes, version).expect("its dump loads");
                prop_assert_eq!(&again, &bytes);
                // Sets are written sorted (3.11+), so only set-free trees print unchanged.
                if !format!("{t:?}").contains("Set(") {
                    prop_assert_eq!(show(&bytes).expect("shows"), repr(&v).expect("shows"));
                }
            }
        }
    }
}
