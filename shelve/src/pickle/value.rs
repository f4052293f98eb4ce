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
    pub fn isomorphic(&self, other: &Pickle) -> bool {
        let mut map_a = std::collections::HashMap::new();
        let mut map_b = std::collections::HashMap::new();
        iso(self, self.root, other, other.root, &mut map_a, &mut map_b)
    }
}

fn iso(
    a: &Pickle,
    x: NodeId,
    b: &Pickle,
    y: NodeId,
    ma: &mut std::collections::HashMap<NodeId, NodeId>,
    mb: &mut std::collections::HashMap<NodeId, NodeId>,
) -> bool {
    match (ma.get(&x), mb.get(&y)) {
        (Some(&yy), Some(&xx)) => return yy == y && xx == x,
        (None, None) => {}
        _ => return false,
    }
    ma.insert(x, y);
    mb.insert(y, x);
    let all = |ma: &mut _, mb: &mut _, xs: &[NodeId], ys: &[NodeId]| {
        xs.len() == ys.len() && xs.iter().zip(ys).all(|(p, q)| iso(a, *p, b, *q, ma, mb))
    };
    let pairs = |ma: &mut _, mb: &mut _, xs: &[(NodeId, NodeId)], ys: &[(NodeId, NodeId)]| {
        xs.len() == ys.len()
            && xs
                .iter()
                .zip(ys)
                .all(|(p, q)| iso(a, p.0, b, q.0, ma, mb) && iso(a, p.1, b, q.1, ma, mb))
    };
    match (a.node(x), b.node(y)) {
        (Node::List(p), Node::List(q))
        | (Node::Tuple(p), Node::Tuple(q))
        | (Node::Set(p), Node::Set(q))
        | (Node::FrozenSet(p), Node::FrozenSet(q)) => all(ma, mb, p, q),
        (Node::Dict(p), Node::Dict(q)) => pairs(ma, mb, p, q),
        (Node::PersistentId { pid: p }, Node::PersistentId { pid: q }) => iso(a, *p, b, *q, ma, mb),
        (Node::Float(p), Node::Float(q)) => p.to_bits() == q.to_bits(),
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
                ) => iso(a, *callable, b, *c2, ma, mb) && iso(a, *args, b, *a2, ma, mb),
                (
                    Construct::NewObjEx { cls, args, kwargs },
                    Construct::NewObjEx {
                        cls: c2,
                        args: a2,
                        kwargs: k2,
                    },
                ) => all(ma, mb, &[*cls, *args, *kwargs], &[*c2, *a2, *k2]),
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
                ) => all(ma, mb, &[*cls, *base, *base_state], &[*c2, *b2, *s2]),
                (
                    Construct::Call { cls, args, inst },
                    Construct::Call {
                        cls: c2,
                        args: a2,
                        inst: i2,
                    },
                ) => inst == i2 && iso(a, *cls, b, *c2, ma, mb) && all(ma, mb, args, a2),
                _ => false,
            };
            c && all(ma, mb, &p.list_items, &q.list_items)
                && pairs(ma, mb, &p.dict_items, &q.dict_items)
                && match (p.state, q.state) {
                    (None, None) => true,
                    (Some(s), Some(t)) => iso(a, s, b, t, ma, mb),
                    _ => false,
                }
        }
        (p, q) => p == q,
    }
}
