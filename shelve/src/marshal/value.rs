//! The value graph marshal loads into and dumps from.
//!
//! A loaded value is an arena of [`Node`]s addressed by [`NodeId`]; containers hold ids, so
//! an object referenced twice (marshal's `TYPE_REF`) is one node with two parents, and a list
//! that contains itself is a cycle. Identity matters because marshal's writer decides
//! `FLAG_REF`/`TYPE_REF` per object (python-formats spec §2.3).

use super::long::PyLong;

/// Index of a node in a [`Value`]'s arena.
pub type NodeId = usize;

/// A code object, kept as its fields so it re-dumps through the same writer.
///
/// Layout of CPython 3.11–3.13 (python-formats spec §2.2, `c`): five raw int32 fields
/// (argcount, posonlyargcount, kwonlyargcount, stacksize, flags), eight objects (code,
/// consts, names, localsplusnames, localspluskinds, filename, name, qualname), the raw
/// int32 firstlineno, then two objects (linetable, exceptiontable). pydbm does not
/// interpret code objects; other CPython versions' layouts are not supported.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeObject {
    /// argcount, posonlyargcount, kwonlyargcount, stacksize, flags.
    pub header: [i32; 5],
    /// code, consts, names, localsplusnames, localspluskinds, filename, name, qualname.
    pub objects: [NodeId; 8],
    /// co_firstlineno.
    pub firstlineno: i32,
    /// linetable, exceptiontable.
    pub tables: [NodeId; 2],
}

/// One Python object.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// `None`.
    None,
    /// `False`.
    False,
    /// `True`.
    True,
    /// The class `StopIteration` (marshal's `S`).
    StopIteration,
    /// `Ellipsis`.
    Ellipsis,
    /// An `int`. `fresh` is true when CPython builds a new object for it even in the
    /// small-int range −5..=256 (ints read from `TYPE_LONG`); false when it comes from
    /// CPython's small-int cache (ints read from `i`/`I`, or built by Rust code).
    Int {
        /// The value.
        value: PyLong,
        /// Not taken from CPython's small-int cache.
        fresh: bool,
    },
    /// A `float`.
    Float(f64),
    /// A `complex`.
    Complex {
        /// Real part.
        re: f64,
        /// Imaginary part.
        im: f64,
    },
    /// A `bytes` object (marshal also loads bytearray/memoryview dumps as bytes).
    Bytes(Vec<u8>),
    /// A `str`, as UTF-8 that may encode lone surrogates (Python's "surrogatepass").
    Str {
        /// The code points, UTF-8 encoded (surrogates allowed).
        utf8: Vec<u8>,
        /// Whether the string is interned (`sys.intern`).
        interned: bool,
    },
    /// A `tuple`.
    Tuple(Vec<NodeId>),
    /// A `list`.
    List(Vec<NodeId>),
    /// A `dict`, in insertion order.
    Dict(Vec<(NodeId, NodeId)>),
    /// A `set`, in marshal-stream order (see docs/marshal.md on set order).
    Set(Vec<NodeId>),
    /// A `frozenset`, in marshal-stream order.
    FrozenSet(Vec<NodeId>),
    /// A code object (opaque to pydbm).
    Code(Box<CodeObject>),
}

impl Node {
    /// Python's type name (`type(x).__name__`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Node::None => "NoneType",
            Node::False | Node::True => "bool",
            Node::StopIteration => "type",
            Node::Ellipsis => "ellipsis",
            Node::Int { .. } => "int",
            Node::Float(_) => "float",
            Node::Complex { .. } => "complex",
            Node::Bytes(_) => "bytes",
            Node::Str { .. } => "str",
            Node::Tuple(_) => "tuple",
            Node::List(_) => "list",
            Node::Dict(_) => "dict",
            Node::Set(_) => "set",
            Node::FrozenSet(_) => "frozenset",
            Node::Code(_) => "code",
        }
    }

    /// Calls `f` with each id this node refers to, in marshal order, without allocating.
    pub fn for_each_child(&self, mut f: impl FnMut(NodeId)) {
        match self {
            Node::Tuple(v) | Node::List(v) | Node::Set(v) | Node::FrozenSet(v) => {
                v.iter().for_each(|&c| f(c))
            }
            Node::Dict(pairs) => pairs.iter().for_each(|&(k, v)| {
                f(k);
                f(v)
            }),
            Node::Code(c) => c.objects.iter().chain(c.tables.iter()).for_each(|&c| f(c)),
            _ => {}
        }
    }

    /// The ids this node refers to, in marshal order (dict: key, value, key, value...).
    pub fn children(&self) -> Vec<NodeId> {
        match self {
            Node::Tuple(v) | Node::List(v) | Node::Set(v) | Node::FrozenSet(v) => v.clone(),
            Node::Dict(pairs) => pairs.iter().flat_map(|&(k, v)| [k, v]).collect(),
            Node::Code(c) => c.objects.iter().chain(c.tables.iter()).copied().collect(),
            _ => Vec::new(),
        }
    }
}

/// Which CPython's writer to imitate where their outputs differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavor {
    /// CPython 3.13 (the default): one-character Latin-1 strs are interned.
    #[default]
    CPython313,
    /// CPython 3.11 (Debian's live reference): one-character strs are shared but not
    /// interned, so they re-dump as `z`/`u` with FLAG_REF instead of `Z`/`t`.
    CPython311,
}

/// Identity of an object as CPython would see it: cached singletons and interned strings
/// are one object however many nodes spell them (python-formats spec §2.3: small ints
/// −5..256, the empty tuple, the empty bytes, the empty and one-character Latin-1 strs, and
/// interned strs are shared objects).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Identity {
    /// A distinct object.
    Node(NodeId),
    /// A cached small int.
    SmallInt(i64),
    /// `()`.
    EmptyTuple,
    /// `b''`.
    EmptyBytes,
    /// An interned or cached (empty, one-character Latin-1) str, by content.
    CachedStr(Vec<u8>),
}

/// A loaded (or built) marshal value: an arena of nodes and the root.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    nodes: Vec<Node>,
    root: NodeId,
}

impl Default for Value {
    fn default() -> Self {
        Value::new()
    }
}

impl Value {
    /// An arena holding only `None`, which is the root.
    pub fn new() -> Value {
        Value {
            nodes: vec![Node::None],
            root: 0,
        }
    }

    /// Adds a node and returns its id. Ids in containers must name nodes of this arena
    /// ([`crate::marshal::dumps`] fails with "invalid node id" otherwise).
    pub fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// Replaces node `id` (used to fill containers reserved before their children).
    /// Fails when `id` is not in the arena.
    pub fn replace(&mut self, id: NodeId, node: Node) -> Option<()> {
        *self.nodes.get_mut(id)? = node;
        Some(())
    }

    /// Makes `id` the root.
    pub fn set_root(&mut self, id: NodeId) {
        self.root = id;
    }

    /// The root node's id.
    pub fn root(&self) -> NodeId {
        self.root
    }

    /// The node with id `id`, if it exists.
    pub fn get(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id)
    }

    /// Number of nodes in the arena (reachable or not).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the arena is empty (never true: [`Value::new`] holds `None`).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Shorthand: adds an `int` (from CPython's small-int cache when in range).
    pub fn int(&mut self, v: i64) -> NodeId {
        self.push(Node::Int {
            value: PyLong::from(v),
            fresh: false,
        })
    }

    /// Shorthand: adds a non-interned `str`.
    pub fn str(&mut self, s: &str) -> NodeId {
        self.push(Node::Str {
            utf8: s.as_bytes().to_vec(),
            interned: false,
        })
    }

    /// Shorthand: adds a `bytes`.
    pub fn bytes(&mut self, b: &[u8]) -> NodeId {
        self.push(Node::Bytes(b.to_vec()))
    }

    /// CPython's identity for node `id` (see [`Identity`]).
    pub(crate) fn identity(&self, id: NodeId) -> Identity {
        match self.nodes.get(id) {
            Some(Node::Int {
                value,
                fresh: false,
            }) => match value.to_i64() {
                Some(v) if (-5..=256).contains(&v) => Identity::SmallInt(v),
                _ => Identity::Node(id),
            },
            Some(Node::Tuple(items)) if items.is_empty() => Identity::EmptyTuple,
            Some(Node::Bytes(b)) if b.is_empty() => Identity::EmptyBytes,
            Some(Node::Str { utf8, interned }) if *interned || is_cached_char(utf8) => {
                Identity::CachedStr(utf8.clone())
            }
            _ => Identity::Node(id),
        }
    }

    /// Whether node `id` is a str the given CPython treats as interned: interned strs and
    /// the empty str in every version; in 3.13 also every one-character str below U+0100
    /// (spec §2.3), which 3.11 caches without interning.
    pub(crate) fn is_interned_str(&self, id: NodeId, flavor: Flavor) -> bool {
        match self.nodes.get(id) {
            Some(Node::Str { utf8, interned }) => {
                *interned
                    || utf8.is_empty()
                    || (flavor == Flavor::CPython313 && is_cached_char(utf8))
            }
            _ => false,
        }
    }

    /// Reference counts as CPython has them right after `marshal.loads` returns the root
    /// to a call: one per container slot holding the object among nodes reachable from the
    /// root, plus one for the root itself. Unreachable nodes (a dict's duplicate key,
    /// dropped as CPython drops it) count zero and contribute nothing.
    pub(crate) fn refcounts(&self) -> Vec<u32> {
        let mut counts = vec![0u32; self.nodes.len()];
        let mut seen = vec![false; self.nodes.len()];
        let mut stack = vec![self.root];
        if let Some(c) = counts.get_mut(self.root) {
            *c = 1;
        }
        while let Some(id) = stack.pop() {
            match seen.get_mut(id) {
                Some(s) if !*s => *s = true,
                _ => continue,
            }
            if let Some(node) = self.nodes.get(id) {
                node.for_each_child(|child| {
                    if let Some(c) = counts.get_mut(child) {
                        *c = c.saturating_add(1);
                        stack.push(child);
                    }
                });
            }
        }
        counts
    }
}

/// The empty str and one-character strs below U+0100 are CPython-cached singletons
/// (interned in 3.13: spec §2.3 `da 00`, `da 01 61`, `f4 02000000 c3a9`).
fn is_cached_char(utf8: &[u8]) -> bool {
    match utf8 {
        [] => true,
        [b] if *b < 0x80 => true,
        [0xc2 | 0xc3, b] if (0x80..0xc0).contains(b) => true,
        _ => false,
    }
}
