//! The value graph: what a pickle holds, as plain data.
//!
//! A [`Pickle`] is an arena of [`Node`]s addressed by [`NodeId`]. Containers refer to their
//! items by id, so a value reached twice is one node (shared reference) and a container may
//! contain itself (cycle). Node identity models CPython object identity, which decides the
//! pickler's memo (pickle spec §1.4): two nodes are two objects, even when equal.

use super::pyint::PyInt;
use super::pystr::PyStr;

/// Index of a node in [`Pickle::nodes`].
pub type NodeId = usize;

/// How an instance was (or will be) created. Mirrors the opcodes that create objects.
#[derive(Debug, Clone, PartialEq)]
pub enum Construct {
    /// `callable(*args)` — `REDUCE`; `args` is a tuple node.
    Reduce {
        /// The callable (usually a [`Node::Global`]).
        callable: NodeId,
        /// The argument tuple.
        args: NodeId,
    },
    /// `cls.__new__(cls, *args)` — `NEWOBJ` (protocol ≥ 2).
    NewObj {
        /// The class.
        cls: NodeId,
        /// The argument tuple.
        args: NodeId,
    },
    /// `cls.__new__(cls, *args, **kwargs)` — `NEWOBJ_EX` (protocol ≥ 4).
    NewObjEx {
        /// The class.
        cls: NodeId,
        /// The argument tuple.
        args: NodeId,
        /// The keyword-argument dict.
        kwargs: NodeId,
    },
    /// `copyreg._reconstructor(cls, base, state)` — protocol 0/1 default object reduction
    /// (pickle spec §1.5, §8).
    Reconstructor {
        /// The class.
        cls: NodeId,
        /// The first non-heap base (`builtins.object` for plain classes).
        base: NodeId,
        /// The base's constructor argument (`None` for `object`).
        base_state: NodeId,
    },
    /// Old-style instantiation by `INST module name` (protocol 0) or `OBJ` (protocol 1):
    /// `cls(*args)`.
    Call {
        /// The class (a global).
        cls: NodeId,
        /// The positional arguments.
        args: Vec<NodeId>,
        /// True when it came from `INST` rather than `OBJ`.
        inst: bool,
    },
}

/// An object created by a reduce-style opcode, with what was applied to it afterwards.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// How the object is created.
    pub construct: Construct,
    /// Items appended by `APPEND`/`APPENDS` (list subclasses).
    pub list_items: Vec<NodeId>,
    /// Items set by `SETITEM`/`SETITEMS` (dict subclasses).
    pub dict_items: Vec<(NodeId, NodeId)>,
    /// The `BUILD` state, if any.
    pub state: Option<NodeId>,
}

/// One value of the graph.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// `int`, any size.
    Int(PyInt),
    /// `float`.
    Float(f64),
    /// `str` (lone surrogates allowed).
    Str(PyStr),
    /// `bytes`.
    Bytes(Vec<u8>),
    /// `bytearray`.
    ByteArray(Vec<u8>),
    /// `list`.
    List(Vec<NodeId>),
    /// `tuple`.
    Tuple(Vec<NodeId>),
    /// `dict`, in insertion order (a key set twice keeps its first position, last value).
    Dict(Vec<(NodeId, NodeId)>),
    /// `set`, in pickle order.
    Set(Vec<NodeId>),
    /// `frozenset`, in pickle order.
    FrozenSet(Vec<NodeId>),
    /// A module attribute (class, function, `Ellipsis`…): module and qualified name, with
    /// Python 3 names (after `fix_imports`).
    Global {
        /// Module name, e.g. `builtins`.
        module: String,
        /// Qualified name, e.g. `Outer.Inner`.
        name: String,
    },
    /// An instance, as its reduce structure (never executed).
    Instance(Box<Instance>),
    /// A persistent id kept as-is (no `persistent_load` was given): the pid value, and
    /// whether it came from `BINPERSID` (any object) rather than `PERSID` (an ASCII line).
    PersistentId {
        /// The pid object.
        pid: NodeId,
    },
    /// A `pickle.PickleBuffer` (PEP 574): in-band data or an out-of-band buffer.
    PickleBuffer {
        /// The bytes.
        data: Vec<u8>,
        /// Read-only (bytes-like) rather than writable (bytearray-like).
        readonly: bool,
    },
}

/// A loaded or built pickle: the node arena and the root value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pickle {
    /// All nodes; ids index this vector.
    pub nodes: Vec<Node>,
    /// The value the pickle stands for.
    pub root: NodeId,
}

impl Pickle {
    /// An empty graph (root 0 is not valid until a node is added and `root` set).
    pub fn new() -> Pickle {
        Pickle::default()
    }

    /// Adds a node and returns its id.
    pub fn add(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// Builds a graph holding one value tree (no sharing) and makes it the root.
    pub fn single(node: Node) -> Pickle {
        let mut p = Pickle::new();
        p.root = p.add(node);
        p
    }

    /// The node with id `id`. Panics if `id` is not a node of this graph (a caller bug:
    /// ids only come from this graph).
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    /// Structural equality of two graphs' values up to isomorphism: the same shape with the
    /// same sharing (a node shared in one is shared in the other at the same places).
    /// Immutable atoms (numbers, str, bytes, globals, `()`) compare by value. Graphs nested
    /// deeper than 10 000 levels compare as not isomorphic (the walk is recursive).
    pub fn isomorphic(&self, other: &Pickle) -> bool {
        if self.root >= self.nodes.len() || other.root >= other.nodes.len() {
            return false;
        }
        super::big_stack::run(self.nodes.len().max(other.nodes.len()), || {
            iso(self, self.root, other, other.root, &mut IsoState::default())
        })
    }
}

#[derive(Default)]
struct IsoState {
    ma: std::collections::HashMap<NodeId, NodeId>,
    mb: std::collections::HashMap<NodeId, NodeId>,
    depth: usize,
}

fn iso(a: &Pickle, x: NodeId, b: &Pickle, y: NodeId, st: &mut IsoState) -> bool {
    if st.depth > 10_000 {
        return false;
    }
    st.depth += 1;
    let r = iso_node(a, x, b, y, st);
    st.depth -= 1;
    r
}

fn all(a: &Pickle, b: &Pickle, st: &mut IsoState, xs: &[NodeId], ys: &[NodeId]) -> bool {
    xs.len() == ys.len() && xs.iter().zip(ys).all(|(p, q)| iso(a, *p, b, *q, st))
}

fn pairs(
    a: &Pickle,
    b: &Pickle,
    st: &mut IsoState,
    xs: &[(NodeId, NodeId)],
    ys: &[(NodeId, NodeId)],
) -> bool {
    xs.len() == ys.len()
        && xs
            .iter()
            .zip(ys)
            .all(|(p, q)| iso(a, p.0, b, q.0, st) && iso(a, p.1, b, q.1, st))
}

fn iso_node(a: &Pickle, x: NodeId, b: &Pickle, y: NodeId, st: &mut IsoState) -> bool {
    // immutable atoms compare by value: their identity is CPython's business (cached
    // singletons, unmemoized ints), not the graph's
    let atom = |n: &Node| {
        matches!(
            n,
            Node::None
                | Node::Bool(_)
                | Node::Int(_)
                | Node::Float(_)
                | Node::Str(_)
                | Node::Bytes(_)
                | Node::Global { .. }
        ) || matches!(n, Node::Tuple(v) if v.is_empty())
    };
    if atom(a.node(x)) || atom(b.node(y)) {
        return match (a.node(x), b.node(y)) {
            (Node::Float(p), Node::Float(q)) => {
                p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan())
            }
            (p, q) => p == q,
        };
    }
    match (st.ma.get(&x), st.mb.get(&y)) {
        (Some(&yy), Some(&xx)) => return yy == y && xx == x,
        (None, None) => {}
        _ => return false,
    }
    st.ma.insert(x, y);
    st.mb.insert(y, x);
    match (a.node(x), b.node(y)) {
        (Node::List(p), Node::List(q))
        | (Node::Tuple(p), Node::Tuple(q))
        | (Node::Set(p), Node::Set(q))
        | (Node::FrozenSet(p), Node::FrozenSet(q)) => all(a, b, st, p, q),
        (Node::Dict(p), Node::Dict(q)) => pairs(a, b, st, p, q),
        (Node::PersistentId { pid: p }, Node::PersistentId { pid: q }) => iso(a, *p, b, *q, st),
        (Node::Instance(p), Node::Instance(q)) => {
            let c = match (&p.construct, &q.construct) {
                (
                    Construct::Reduce { callable, args },
                    Construct::Reduce {
                        callable: c2,
                        args: a2,
                    },
                )
                | (
                    Construct::NewObj {
                        cls: callable,
                        args,
                    },
                    Construct::NewObj { cls: c2, args: a2 },
                ) => all(a, b, st, &[*callable, *args], &[*c2, *a2]),
                (
                    Construct::NewObjEx { cls, args, kwargs },
                    Construct::NewObjEx {
                        cls: c2,
                        args: a2,
                        kwargs: k2,
                    },
                ) => all(a, b, st, &[*cls, *args, *kwargs], &[*c2, *a2, *k2]),
                (
                    Construct::Reconstructor {
                        cls,
                        base,
                        base_state,
                    },
                    Construct::Reconstructor {
                        cls: c2,
                        base: b2,
                        base_state: s2,
                    },
                ) => all(a, b, st, &[*cls, *base, *base_state], &[*c2, *b2, *s2]),
                (
                    Construct::Call { cls, args, inst },
                    Construct::Call {
                        cls: c2,
                        args: a2,
                        inst: i2,
                    },
                ) => inst == i2 && iso(a, *cls, b, *c2, st) && all(a, b, st, args, a2),
                _ => false,
            };
            c && all(a, b, st, &p.list_items, &q.list_items)
                && pairs(a, b, st, &p.dict_items, &q.dict_items)
                && match (p.state, q.state) {
                    (None, None) => true,
                    (Some(s), Some(t)) => iso(a, s, b, t, st),
                    _ => false,
                }
        }
        (p, q) => p == q,
    }
}
