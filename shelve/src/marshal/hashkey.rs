//! Python's hash equality for dict keys and set elements.
//!
//! `marshal.loads` builds real dicts and sets, so duplicate keys collapse by Python's `==`
//! (`1`, `1.0`, `True` and `(1+0j)` are one key; the first key object stays, the last value
//! wins) and unhashable elements fail with `TypeError: unhashable type`. [`HashKey`] is a
//! canonical form with exactly Python's equality: two hashable objects are equal iff their
//! keys are. NaN is only equal to itself (identity), as in CPython's dict lookup.

use super::error::{MarshalError, PyExc};
use super::long::PyLong;
use super::stack::grow;
use super::value::{Identity, Node, NodeId, Value};

/// Deepest tuple/frozenset nesting hashed before giving up (CPython would overflow its
/// C stack or raise RecursionError on a self-containing tuple).
const MAX_HASH_DEPTH: usize = 2000;

/// Canonical equality key of a hashable value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum HashKey {
    None,
    Ellipsis,
    StopIteration,
    Int(PyLong),
    /// A non-integral finite float, by bits (with -0.0 already folded into `Int(0)`).
    Float(u64),
    /// A complex with non-zero imaginary part, by bits (signed zeros folded).
    Complex(u64, u64),
    /// Compared by identity only (NaN, code objects).
    Ident(Identity),
    Str(Vec<u8>),
    Bytes(Vec<u8>),
    Tuple(Vec<HashKey>),
    /// Sorted element keys.
    FrozenSet(Vec<HashKey>),
}

fn fold_zero(x: f64) -> u64 {
    if x == 0.0 {
        0
    } else {
        x.to_bits()
    }
}

fn float_key(value: &Value, id: NodeId, x: f64) -> HashKey {
    if x.is_nan() {
        return HashKey::Ident(value.identity(id));
    }
    match PyLong::from_integral_f64(x) {
        Some(i) => HashKey::Int(i),
        None => HashKey::Float(x.to_bits()),
    }
}

/// Node visits allowed for hashing during one load, besides two per input byte (which
/// covers every input without refs: each node takes at least one byte). Refs let a small
/// input describe a tuple DAG whose expansion is exponential, or reuse a big key many
/// times (CPython would hash it forever); pydbm stops instead.
pub(crate) const HASH_BUDGET: usize = 1 << 20;

/// The equality key of node `id`; `offset` is where the element was read (for the error).
/// Each node visited takes one unit of `budget` (shared by a whole load).
pub(crate) fn hash_key(
    value: &Value,
    id: NodeId,
    offset: usize,
    budget: &mut usize,
) -> Result<HashKey, MarshalError> {
    key_at_depth(value, id, offset, 0, budget)
}

fn key_at_depth(
    value: &Value,
    id: NodeId,
    offset: usize,
    depth: usize,
    budget: &mut usize,
) -> Result<HashKey, MarshalError> {
    if *budget == 0 {
        return Err(MarshalError::at(
            offset,
            PyExc::ValueError,
            "set elements and dict keys too large to hash (pydbm visits at most 2^20 + 2 per input byte nodes per load)",
        ));
    }
    *budget -= 1;
    if depth > MAX_HASH_DEPTH {
        return Err(MarshalError::at(
            offset,
            PyExc::RecursionError,
            "maximum recursion depth exceeded while hashing a set element or dict key",
        ));
    }
    grow(depth, || key_node(value, id, offset, depth, budget)).unwrap_or_else(|| {
        Err(MarshalError::at(
            offset,
            PyExc::RecursionError,
            "cannot start a thread for a deeper stack",
        ))
    })
}

fn key_node(
    value: &Value,
    id: NodeId,
    offset: usize,
    depth: usize,
    budget: &mut usize,
) -> Result<HashKey, MarshalError> {
    let node = value.get(id).ok_or_else(|| {
        MarshalError::at(
            offset,
            PyExc::ValueError,
            "bad marshal data (invalid reference)",
        )
    })?;
    Ok(match node {
        Node::None => HashKey::None,
        Node::Ellipsis => HashKey::Ellipsis,
        Node::StopIteration => HashKey::StopIteration,
        Node::False => HashKey::Int(PyLong::zero()),
        Node::True => HashKey::Int(PyLong::from(1)),
        Node::Int { value: v, .. } => HashKey::Int(v.clone()),
        Node::Float(x) => float_key(value, id, *x),
        Node::Complex { re, im } => {
            if *im == 0.0 {
                float_key(value, id, *re)
            } else if re.is_nan() || im.is_nan() {
                HashKey::Ident(value.identity(id))
            } else {
                HashKey::Complex(fold_zero(*re), fold_zero(*im))
            }
        }
        Node::Str { utf8, .. } => HashKey::Str(utf8.clone()),
        Node::Bytes(b) => HashKey::Bytes(b.clone()),
        Node::Tuple(items) => {
            let mut keys = Vec::with_capacity(items.len());
            for &item in items {
                keys.push(key_at_depth(value, item, offset, depth + 1, budget)?);
            }
            HashKey::Tuple(keys)
        }
        Node::FrozenSet(items) => {
            let mut keys = Vec::with_capacity(items.len());
            for &item in items {
                keys.push(key_at_depth(value, item, offset, depth + 1, budget)?);
            }
            keys.sort();
            HashKey::FrozenSet(keys)
        }
        Node::Code(_) => HashKey::Ident(value.identity(id)),
        Node::List(_) | Node::Dict(_) | Node::Set(_) => {
            return Err(MarshalError::at(
                offset,
                PyExc::TypeError,
                format!("unhashable type: '{}'", node.type_name()),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_equality_matches_python() {
        let mut v = Value::new();
        let one = v.int(1);
        let onef = v.push(Node::Float(1.0));
        let t = v.push(Node::True);
        let c = v.push(Node::Complex { re: 1.0, im: 0.0 });
        let nz = v.push(Node::Float(-0.0));
        let z = v.int(0);
        let k = |id| hash_key(&v, id, 0, &mut HASH_BUDGET.clone()).expect("hashable");
        assert_eq!(k(one), k(onef));
        assert_eq!(k(one), k(t));
        assert_eq!(k(one), k(c));
        assert_eq!(k(nz), k(z));
        let nan1 = v.push(Node::Float(f64::NAN));
        let nan2 = v.push(Node::Float(f64::NAN));
        let k = |id| hash_key(&v, id, 0, &mut HASH_BUDGET.clone()).expect("hashable");
        assert_ne!(k(nan1), k(nan2));
        assert_eq!(k(nan1), k(nan1));
    }

    #[test]
    fn lists_are_unhashable() {
        let mut v = Value::new();
        let l = v.push(Node::List(vec![]));
        let t = v.push(Node::Tuple(vec![l]));
        let e = hash_key(&v, t, 7, &mut HASH_BUDGET.clone())
            .expect_err("a tuple holding a list is unhashable");
        assert_eq!(e.message, "unhashable type: 'list'");
        assert_eq!(e.offset, Some(7));
    }

    #[test]
    fn self_containing_tuple_is_an_error_not_a_hang() {
        let mut v = Value::new();
        let t = v.push(Node::Tuple(vec![]));
        v.replace(t, Node::Tuple(vec![t])).expect("t exists");
        assert_eq!(
            hash_key(&v, t, 0, &mut HASH_BUDGET.clone())
                .expect_err("cyclic")
                .exc,
            PyExc::RecursionError
        );
    }
}
