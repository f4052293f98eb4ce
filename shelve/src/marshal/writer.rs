//! `dumps`: [`Value`] → marshal bytes, as CPython 3.13's `marshal.dumps` writes them.
//!
//! CPython decides FLAG_REF from reference counts (spec §2.3), which a Rust value does not
//! have. The policy here is the one the spec derives from `marshal.dumps(marshal.loads(b),
//! v)`: an object is flagged (v ≥ 3) when it is held more than once in the graph (the root
//! counts one extra holder: the caller), or when CPython always holds another reference to
//! it (small ints from the cache, `()`, `b''`, interned strs, the empty and one-character
//! Latin-1 strs). Set and frozenset elements are written sorted by their own dump (3.11+),
//! and each one is flagged, because CPython's sort holds an extra reference to it. The sort
//! key itself is the element's dump with one extra reference under 3.13 (its set iteration
//! hands out a new reference per element) and without it under 3.11 (a borrowed one).

use std::collections::HashMap;

use super::error::{MarshalError, PyExc};
use super::float_text::format_g17;
use super::reader::MAX_DEPTH;
use super::stack::grow;
use super::value::{Flavor, Identity, Node, NodeId, Value};

/// Dumps `value` in marshal format `version` (0–4 as CPython 3.13; 5 and above write what
/// 4 writes, since a [`Value`] holds no slices).
///
/// Fails with `ValueError: object too deeply nested to marshal` past 2000 levels (a
/// self-containing list at version < 3 does), and `ValueError: unmarshallable object` for
/// a payload longer than 2^31−1 or a node id not in the arena.
pub fn dumps(value: &Value, version: u32) -> Result<Vec<u8>, MarshalError> {
    dumps_with(value, version, &DumpOptions::default())
}

/// Settings of [`dumps_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DumpOptions {
    /// Which CPython's bytes to produce where versions differ.
    pub flavor: Flavor,
    /// The caller holds one more reference to the root (as `v = loads(x); dumps(v)` does
    /// in Python, unlike `dumps(loads(x))`), so the root gets FLAG_REF at version ≥ 3.
    pub root_held: bool,
    /// Fail with `MemoryError` once the output passes this many bytes. Below version 3 a
    /// shared object is written again at every use, so a small graph can expand
    /// exponentially (CPython does the same); untrusted graphs should set a bound.
    pub max_len: usize,
}

impl Default for DumpOptions {
    fn default() -> Self {
        DumpOptions {
            flavor: Flavor::CPython313,
            root_held: false,
            max_len: usize::MAX,
        }
    }
}

/// [`dumps`] with explicit [`DumpOptions`].
pub fn dumps_with(
    value: &Value,
    version: u32,
    opts: &DumpOptions,
) -> Result<Vec<u8>, MarshalError> {
    let counts = value.refcounts();
    let mut w = Writer {
        value,
        version,
        counts: &counts,
        out: Vec::new(),
        by_node: NodeSlots::Dense(vec![None; value.len()]),
        by_content: HashMap::new(),
        entries: 0,
        depth: 0,
        max_len: opts.max_len,
        flavor: opts.flavor,
        sort_keys: HashMap::new(),
        stack_base: 0,
    };
    w.object(value.root(), opts.root_held)?;
    Ok(w.out)
}

struct Writer<'a> {
    value: &'a Value,
    version: u32,
    counts: &'a [u32],
    out: Vec<u8>,
    /// Ref slot of each node given one so far (distinct objects), by node id.
    by_node: NodeSlots,
    /// Ref slot of each shared object (cached singletons, interned strs), by identity.
    by_content: HashMap<Identity, u32>,
    /// Ref slots handed out so far.
    entries: usize,
    depth: usize,
    max_len: usize,
    flavor: Flavor,
    /// Each set element's own dump (its sort key), computed once per dump: nested sets
    /// would otherwise re-dump their subtrees at every level, exponentially.
    sort_keys: HashMap<NodeId, Vec<u8>>,
    /// Recursion levels of the writers this one runs inside (for stack segments only).
    stack_base: usize,
}

/// Ref slots by node id: a vector for a whole dump, a map for the small dumps of single set
/// elements (which would otherwise allocate a slot per node of the graph each time).
enum NodeSlots {
    Dense(Vec<Option<u32>>),
    Sparse(HashMap<NodeId, u32>),
}

impl NodeSlots {
    fn get(&self, id: NodeId) -> Option<u32> {
        match self {
            NodeSlots::Dense(v) => v.get(id).copied().flatten(),
            NodeSlots::Sparse(m) => m.get(&id).copied(),
        }
    }

    fn set(&mut self, id: NodeId, index: u32) {
        match self {
            NodeSlots::Dense(v) => {
                if let Some(slot) = v.get_mut(id) {
                    *slot = Some(index);
                }
            }
            NodeSlots::Sparse(m) => {
                m.insert(id, index);
            }
        }
    }
}

fn unmarshallable() -> MarshalError {
    MarshalError::dump(PyExc::ValueError, "unmarshallable object")
}

impl Writer<'_> {
    fn u32(&mut self, n: usize) -> Result<(), MarshalError> {
        let n = i32::try_from(n).map_err(|_| unmarshallable())?;
        self.out.extend_from_slice(&n.to_le_bytes());
        Ok(())
    }

    /// Writes node `id`; `extra_ref` is true while a caller (the set sort) holds one more
    /// reference to it than the graph does.
    fn object(&mut self, id: NodeId, extra_ref: bool) -> Result<(), MarshalError> {
        self.depth += 1;
        let r = if self.depth > MAX_DEPTH {
            Err(MarshalError::dump(
                PyExc::ValueError,
                "object too deeply nested to marshal",
            ))
        } else {
            // Segment by the real stack depth: a set element's writer runs nested inside
            // its parent's recursion.
            let depth = self.stack_base + self.depth;
            grow(depth, || self.object_inner(id, extra_ref)).unwrap_or_else(|| {
                Err(MarshalError::dump(
                    PyExc::RecursionError,
                    "cannot start a thread for a deeper stack",
                ))
            })
        };
        self.depth -= 1;
        r
    }

    fn object_inner(&mut self, id: NodeId, extra_ref: bool) -> Result<(), MarshalError> {
        if self.out.len() > self.max_len {
            return Err(MarshalError::dump(
                PyExc::MemoryError,
                format!("marshal output exceeds {} bytes", self.max_len),
            ));
        }
        let value = self.value;
        let node = value.get(id).ok_or_else(unmarshallable)?;
        let single = match node {
            Node::None => Some(b'N'),
            Node::False => Some(b'F'),
            Node::True => Some(b'T'),
            Node::StopIteration => Some(b'S'),
            Node::Ellipsis => Some(b'.'),
            _ => None,
        };
        if let Some(b) = single {
            // Singletons are written before any ref handling (spec §2.2).
            self.out.push(b);
            return Ok(());
        }
        let mut flag = 0u8;
        if self.version >= 3 {
            let holders = self.counts.get(id).copied().unwrap_or(0) + u32::from(extra_ref);
            let ident = value.identity(id);
            let shared = !matches!(ident, Identity::Node(_));
            if holders > 1 || shared {
                let known = match &ident {
                    Identity::Node(n) => self.by_node.get(*n),
                    other => self.by_content.get(other).copied(),
                };
                if let Some(index) = known {
                    self.out.push(b'r');
                    self.out.extend_from_slice(&index.to_le_bytes());
                    return Ok(());
                }
                let index = u32::try_from(self.entries).map_err(|_| unmarshallable())?;
                self.entries += 1;
                match ident {
                    Identity::Node(n) => self.by_node.set(n, index),
                    other => {
                        self.by_content.insert(other, index);
                    }
                }
                flag = 0x80;
            }
        }
        match node {
            Node::Int { value: v, .. } => match v.to_i32() {
                Some(small) => {
                    self.out.push(b'i' | flag);
                    self.out.extend_from_slice(&small.to_le_bytes());
                }
                None => {
                    self.out.push(b'l' | flag);
                    let digits = v.digits();
                    let n = i32::try_from(digits.len()).map_err(|_| unmarshallable())?;
                    let n = if v.is_negative() { -n } else { n };
                    self.out.extend_from_slice(&n.to_le_bytes());
                    for d in digits.iter() {
                        self.out.extend_from_slice(&d.to_le_bytes());
                    }
                }
            },
            Node::Float(x) => {
                if self.version > 1 {
                    self.out.push(b'g' | flag);
                    self.out.extend_from_slice(&x.to_le_bytes());
                } else {
                    self.out.push(b'f' | flag);
                    self.float_text(*x);
                }
            }
            Node::Complex { re, im } => {
                if self.version > 1 {
                    self.out.push(b'y' | flag);
                    self.out.extend_from_slice(&re.to_le_bytes());
                    self.out.extend_from_slice(&im.to_le_bytes());
                } else {
                    self.out.push(b'x' | flag);
                    self.float_text(*re);
                    self.float_text(*im);
                }
            }
            Node::Bytes(b) => {
                self.out.push(b's' | flag);
                self.u32(b.len())?;
                self.out.extend_from_slice(b);
            }
            Node::Str { utf8, .. } => {
                let interned = value.is_interned_str(id, self.flavor);
                if self.version >= 4 && utf8.is_ascii() {
                    if utf8.len() < 256 {
                        self.out.push(if interned { b'Z' } else { b'z' } | flag);
                        self.out.push(utf8.len() as u8);
                    } else {
                        self.out.push(if interned { b'A' } else { b'a' } | flag);
                        self.u32(utf8.len())?;
                    }
                } else {
                    let code = if interned && self.version >= 3 {
                        b't'
                    } else {
                        b'u'
                    };
                    self.out.push(code | flag);
                    self.u32(utf8.len())?;
                }
                self.out.extend_from_slice(utf8);
            }
            Node::Tuple(items) => {
                if self.version >= 4 && items.len() < 256 {
                    self.out.push(b')' | flag);
                    self.out.push(items.len() as u8);
                } else {
                    self.out.push(b'(' | flag);
                    self.u32(items.len())?;
                }
                for &item in items {
                    self.object(item, false)?;
                }
            }
            Node::List(items) => {
                self.out.push(b'[' | flag);
                self.u32(items.len())?;
                for &item in items {
                    self.object(item, false)?;
                }
            }
            Node::Dict(pairs) => {
                self.out.push(b'{' | flag);
                for &(k, v) in pairs {
                    self.object(k, false)?;
                    self.object(v, false)?;
                }
                self.out.push(b'0');
            }
            Node::Set(items) | Node::FrozenSet(items) => {
                let code = if matches!(node, Node::Set(_)) {
                    b'<'
                } else {
                    b'>'
                };
                self.out.push(code | flag);
                self.u32(items.len())?;
                for item in self.sorted_elements(items)? {
                    self.object(item, true)?;
                }
            }
            Node::Code(c) => {
                self.out.push(b'c' | flag);
                for h in c.header {
                    self.out.extend_from_slice(&h.to_le_bytes());
                }
                for &o in &c.objects {
                    self.object(o, false)?;
                }
                self.out.extend_from_slice(&c.firstlineno.to_le_bytes());
                for &t in &c.tables {
                    self.object(t, false)?;
                }
            }
            Node::None | Node::False | Node::True | Node::StopIteration | Node::Ellipsis => {
                // Handled above.
            }
        }
        Ok(())
    }

    fn float_text(&mut self, x: f64) {
        let text = format_g17(x);
        // %.17g is at most 24 characters, so the u8 length cannot overflow.
        self.out.push(text.len() as u8);
        self.out.extend_from_slice(text.as_bytes());
    }

    /// Elements in CPython 3.11+'s order: sorted by each element's own `marshal.dumps`
    /// (spec §2.3, bpo-37596), dumped alone by a fresh writer at this version. Stable, so
    /// equal dumps keep stream order.
    ///
    /// The element's reference count during that dump differs by version: 3.13 iterates the
    /// set with a new reference to each element (so an element only the set holds is
    /// flagged in its key: `{5, 1000}` sorts `e9 05…` before `e9 e8 03…`), 3.11 with a
    /// borrowed one (`69 e8 03…` sorts first). Checked against live 3.13 and 3.11
    /// (shelve/tests/marshal.rs).
    fn sorted_elements(&mut self, items: &[NodeId]) -> Result<Vec<NodeId>, MarshalError> {
        let mut keyed = Vec::with_capacity(items.len());
        for &item in items {
            if let Some(key) = self.sort_keys.get(&item) {
                keyed.push((key.clone(), item));
                continue;
            }
            let mut alone = Writer {
                value: self.value,
                version: self.version,
                counts: self.counts,
                out: Vec::new(),
                by_node: NodeSlots::Sparse(HashMap::new()),
                by_content: HashMap::new(),
                entries: 0,
                depth: 0,
                max_len: self.max_len,
                flavor: self.flavor,
                sort_keys: std::mem::take(&mut self.sort_keys),
                stack_base: self.stack_base + self.depth,
            };
            let written = alone.object(item, self.flavor == Flavor::CPython313);
            self.sort_keys = std::mem::take(&mut alone.sort_keys);
            written?;
            self.sort_keys.insert(item, alone.out.clone());
            keyed.push((alone.out, item));
        }
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(keyed.into_iter().map(|(_, id)| id).collect())
    }
}
