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
}
