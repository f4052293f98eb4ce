//! The unpickler: bytes → [`Pickle`] graph, for protocols 0–5 and Python 2 streams.
//!
//! A stack machine over the opcodes (pickle spec §1.2). It never executes anything: globals
//! are names, instances keep their reduce structure. Every length is checked against the
//! remaining input before anything is allocated, so memory stays bounded by the input.
//! Errors are worded like CPython 3.13's C unpickler (spec §1.10), with offset and opcode.

use std::collections::HashMap;
use std::sync::Arc;

use pydbm_engine::{Error, Result};

use super::canonical_table::CANONICAL_NAME;
use super::compat_table::{IMPORT_MAPPING, NAME_MAPPING};
use super::construction_table::{self, Construction, Made, Piece, SetAttr};
use super::copyreg::{evaluate_known_call, ClassFilter, ExtensionRegistry};
use super::error::PickleError;
use super::opcodes::{code as op, lookup};
use super::pyint::{DecimalError, PyInt};
use super::pystr::PyStr;
use super::stdlib_reduce::{self, array_item, fraction_terms, str_pattern_flags, ArrayValue};
use super::text::{decode_escape, decode_raw_unicode_escape, parse_python_float};
use super::value::{Construct, Instance, Node, NodeId, Pickle};
use crate::py_exc::PyExc;

/// A caller's `persistent_load`: given the graph and the pid node, returns the node that
/// stands for the persistent object (it may add nodes to the graph).
pub type PersistentLoad = Arc<dyn Fn(&mut Pickle, NodeId) -> Result<NodeId> + Send + Sync>;

/// What to do with persistent ids (`PERSID`/`BINPERSID`).
#[derive(Clone, Default)]
pub enum Persistent {
    /// CPython's default without `persistent_load`: an UnpicklingError.
    #[default]
    Reject,
    /// Keep them as [`Node::PersistentId`] (lossless; they re-dump as they were).
    Keep,
    /// Call the caller's function.
    Load(PersistentLoad),
}

/// Options of [`loads`], mirroring `pickle.loads`' keyword arguments.
#[derive(Clone)]
pub struct LoadOptions {
    /// How Python 2 `str` (STRING/BINSTRING/SHORT_BINSTRING) is decoded: `ASCII` (default),
    /// `latin1`, `utf-8`, or `bytes` to keep them as bytes.
    pub encoding: String,
    /// Decoding error handler: `strict` (default), `replace`, `ignore`, `surrogateescape`.
    pub errors: String,
    /// Map Python 2 module/class names to Python 3 ones for protocol < 3 (default true).
    pub fix_imports: bool,
    /// The extension registry EXT1/EXT2/EXT4 codes are looked up in.
    pub extensions: Arc<ExtensionRegistry>,
    /// The allow-list of globals.
    pub filter: ClassFilter,
    /// Persistent id handling.
    pub persistent: Persistent,
    /// Out-of-band buffers for `NEXT_BUFFER` (PEP 574), consumed in order.
    pub buffers: Option<Vec<Vec<u8>>>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            encoding: "ASCII".into(),
            errors: "strict".into(),
            fix_imports: true,
            extensions: Arc::new(ExtensionRegistry::new()),
            filter: ClassFilter::AllowAll,
            persistent: Persistent::Reject,
            buffers: None,
        }
    }
}

/// Loads the first pickle in `data` (bytes after its STOP are ignored, as `pickle.loads`
/// does). Errors: truncated or malformed input, unknown opcodes, stack/mark/memo misuse,
/// forbidden globals, unregistered EXT codes — each naming the offset and opcode.
pub fn loads(data: &[u8], opts: &LoadOptions) -> Result<Pickle> {
    Ok(Unpickler::new(data, opts).run()?.0)
}

/// Like [`loads`], and also returns the offset just past the STOP opcode.
pub fn loads_with_end(data: &[u8], opts: &LoadOptions) -> Result<(Pickle, usize)> {
    Unpickler::new(data, opts).run()
}

const NO_ENTRY: NodeId = usize::MAX;

struct Unpickler<'a> {
    data: &'a [u8],
    pos: usize,
    opts: &'a LoadOptions,
    graph: Pickle,
    stack: Vec<NodeId>,
    marks: Vec<usize>,
    memo: Vec<NodeId>,
    memo_overflow: HashMap<u64, NodeId>,
    proto: u8,
    // CPython shares these objects (pickle spec §1.4): one node each.
    none: NodeId,
    true_: NodeId,
    false_: NodeId,
    empty_tuple: NodeId,
    small_str: HashMap<u32, NodeId>,
    small_bytes: HashMap<i32, NodeId>,
    globals: HashMap<(String, String), NodeId>,
    /// Attribute names of the instance dicts the construction table built, one node per
    /// name: setattr interns the name, so every instance's dict shares the key object, and
    /// it is not the str object a pickle gave (names such as `msg` are interned in CPython
    /// before the load; a name nothing interned before would keep the pickle's object, which
    /// shows only when that object is also used elsewhere in the same pickle).
    attribute_names: HashMap<String, NodeId>,
    /// Instances built through the construction table → the argument tuple the pickle
    /// gave (restored when a BUILD cannot be applied as setattr calls).
    constructed: HashMap<NodeId, NodeId>,
    /// Code points of the texts the construction table made so far (see
    /// [`MAX_CONSTRUCTED_TEXT`]).
    constructed_text: usize,
    buffers_used: usize,
    op_pos: usize,
    op_code: u8,
}

/// Most code points the construction table formats in one load (16 Mi): past it the load
/// fails with `MemoryError` ([`Unpickler::constructed_instance`]).
const MAX_CONSTRUCTED_TEXT: usize = 1 << 24;

/// An unpickling error: CPython's exception class and message, placed at the opcode being
/// read ([`PickleError`], carried as [`Error::Decode`]).
fn err(offset: usize, opcode: u8, exc: PyExc, msg: impl Into<String>) -> Error {
    PickleError::new(exc, msg)
        .at(offset, lookup(opcode).map(|o| o.name))
        .into()
}

impl<'a> Unpickler<'a> {
    fn new(data: &'a [u8], opts: &'a LoadOptions) -> Self {
        let mut graph = Pickle::new();
        let none = graph.add(Node::None);
        let true_ = graph.add(Node::Bool(true));
        let false_ = graph.add(Node::Bool(false));
        let empty_tuple = graph.add(Node::Tuple(Vec::new()));
        Unpickler {
            data,
            pos: 0,
            opts,
            graph,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: Vec::new(),
            memo_overflow: HashMap::new(),
            proto: 0,
            none,
            true_,
            false_,
            empty_tuple,
            small_str: HashMap::new(),
            small_bytes: HashMap::new(),
            globals: HashMap::new(),
            attribute_names: HashMap::new(),
            constructed: HashMap::new(),
            constructed_text: 0,
            buffers_used: 0,
            op_pos: 0,
            op_code: 0,
        }
    }

    fn fail(&self, exc: PyExc, msg: impl Into<String>) -> Error {
        err(self.op_pos, self.op_code, exc, msg)
    }

    /// `e` (a codec's failure) placed at the opcode being read.
    fn locate(&self, e: PickleError) -> Error {
        e.at(self.op_pos, lookup(self.op_code).map(|o| o.name))
            .into()
    }

    /// A class filter's refusal placed at the opcode being read; any other error unchanged.
    fn locate_engine(&self, e: Error) -> Error {
        match e {
            Error::Decode(inner) => match inner.downcast::<PickleError>() {
                Ok(p) if p.offset.is_none() => self.locate(*p),
                Ok(p) => Error::Decode(p),
                Err(other) => Error::Decode(other),
            },
            other => other,
        }
    }

    fn truncated(&self) -> Error {
        self.fail(PyExc::UnpicklingError, "pickle data was truncated")
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.data.len() - self.pos < n {
            return Err(self.truncated());
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn take_len(&mut self, n: u64) -> Result<&'a [u8]> {
        if n > (self.data.len() - self.pos) as u64 {
            return Err(self.truncated());
        }
        self.take(n as usize)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i32(&mut self) -> Result<i32> {
        Ok(self.u32()? as i32)
    }
    fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn line(&mut self) -> Result<&'a [u8]> {
        let rest = &self.data[self.pos..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.pos += i + 1;
                Ok(&rest[..i])
            }
            None => Err(self.truncated()),
        }
    }

    fn push(&mut self, id: NodeId) {
        self.stack.push(id);
    }

    fn add_push(&mut self, node: Node) {
        let id = self.graph.add(node);
        self.stack.push(id);
    }

    fn pop(&mut self) -> Result<NodeId> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.fail(PyExc::UnpicklingError, "unpickling stack underflow"));
        }
        Ok(self.stack.pop().unwrap_or(NO_ENTRY))
    }

    fn top(&self) -> Result<NodeId> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.fail(PyExc::UnpicklingError, "unpickling stack underflow"));
        }
        Ok(self.stack[self.stack.len() - 1])
    }

    fn pop_mark(&mut self) -> Result<Vec<NodeId>> {
        let Some(m) = self.marks.pop() else {
            return Err(self.fail(PyExc::UnpicklingError, "could not find MARK"));
        };
        Ok(self.stack.split_off(m))
    }

    fn memo_put(&mut self, idx: u64, id: NodeId) {
        if (idx as usize) < self.memo.len() {
            self.memo[idx as usize] = id;
        } else if idx <= (self.memo.len() as u64).max(self.data.len() as u64 * 2 + 64) {
            // Growth bounded by the input size; larger indices go to the map.
            self.memo.resize(idx as usize + 1, NO_ENTRY);
            self.memo[idx as usize] = id;
        } else {
            self.memo_overflow.insert(idx, id);
        }
    }

    fn memo_get(&mut self, idx: u64) -> Result<()> {
        let id = match self.memo.get(idx as usize) {
            Some(&id) if id != NO_ENTRY => id,
            _ => match self.memo_overflow.get(&idx) {
                Some(&id) => id,
                None => {
                    return Err(self.fail(
                        PyExc::UnpicklingError,
                        format!("Memo value not found at index {idx}"),
                    ))
                }
            },
        };
        self.push(id);
        Ok(())
    }

    fn str_node(&mut self, s: PyStr) -> NodeId {
        // CPython shares the empty str and 1-character latin-1 strs (pickle spec §1.4).
        let mut cps = s.code_points();
        let key = match (cps.next(), cps.next()) {
            (None, _) => Some(u32::MAX),
            (Some(c), None) if c < 256 => Some(c),
            _ => None,
        };
        match key {
            Some(k) => *self
                .small_str
                .entry(k)
                .or_insert_with(|| self.graph.add(Node::Str(s))),
            None => self.graph.add(Node::Str(s)),
        }
    }

    fn bytes_node(&mut self, b: &[u8]) -> NodeId {
        // CPython shares the empty bytes and 1-byte bytes (pickle spec §1.4).
        let key = match b {
            [] => Some(-1),
            [c] => Some(*c as i32),
            _ => None,
        };
        match key {
            Some(k) => *self
                .small_bytes
                .entry(k)
                .or_insert_with(|| self.graph.add(Node::Bytes(b.to_vec()))),
            None => self.graph.add(Node::Bytes(b.to_vec())),
        }
    }

    fn push_utf8(&mut self, b: &[u8]) -> Result<()> {
        let s = PyStr::from_utf8_surrogatepass(b)
            .map_err(|e| self.fail(PyExc::UnicodeDecodeError, format!("{e}")))?;
        let id = self.str_node(s);
        self.push(id);
        Ok(())
    }

    /// Python 2 `str` payload: decoded per `encoding`/`errors` (pickle spec §1.8).
    fn push_py2_string(&mut self, b: &[u8]) -> Result<()> {
        let enc = self
            .opts
            .encoding
            .to_ascii_lowercase()
            .replace(['-', '_'], "");
        let errors = self.opts.errors.as_str();
        if enc == "bytes" {
            let id = self.bytes_node(b);
            self.push(id);
            return Ok(());
        }
        let s = match enc.as_str() {
            "latin1" | "iso88591" | "l1" | "8859" | "cp819" | "latin" => {
                PyStr::from_code_points(b.iter().map(|&c| c as u32))
            }
            "ascii" | "usascii" | "646" | "utf8" | "u8" => {
                let ascii = enc != "utf8" && enc != "u8";
                let name = if ascii { "ascii" } else { "utf-8" };
                let ok = if ascii {
                    b.iter().position(|&c| c >= 0x80)
                } else {
                    PyStr::from_utf8_surrogatepass(b).err().map(|e| e.position)
                };
                match ok {
                    None => PyStr::from_utf8_surrogatepass(b)
                        .map_err(|e| self.fail(PyExc::UnicodeDecodeError, format!("{e}")))?,
                    Some(p) if errors == "strict" => {
                        let why = if ascii {
                            "ordinal not in range(128)"
                        } else {
                            "invalid start byte"
                        };
                        return Err(self.fail(
                            PyExc::UnicodeDecodeError,
                            format!(
                                "'{name}' codec can't decode byte 0x{:02x} in position {p}: {why}",
                                b[p]
                            ),
                        ));
                    }
                    Some(_) => {
                        let mut cps = Vec::new();
                        let text = String::from_utf8_lossy(b);
                        if ascii {
                            for &c in b {
                                if c < 0x80 {
                                    cps.push(c as u32);
                                } else {
                                    match errors {
                                        "ignore" => {}
                                        "surrogateescape" => cps.push(0xdc00 + c as u32),
                                        "backslashreplace" => cps.extend(
                                            format!("\\x{c:02x}").chars().map(|c| c as u32),
                                        ),
                                        _ => cps.push(0xfffd),
                                    }
                                }
                            }
                        } else {
                            for ch in text.chars() {
                                if ch == '\u{fffd}' && errors == "ignore" {
                                    continue;
                                }
                                cps.push(ch as u32);
                            }
                        }
                        PyStr::from_code_points(cps)
                    }
                }
            }
            _ => {
                return Err(self.fail(
                    PyExc::LookupError,
                    format!("unknown encoding: {}", self.opts.encoding),
                ))
            }
        };
        let id = self.str_node(s);
        self.push(id);
        Ok(())
    }

    fn global(&mut self, module: String, name: String) -> Result<NodeId> {
        let (module, name) = if self.proto < 3 && self.opts.fix_imports {
            map_py2_name(module, name)
        } else {
            (module, name)
        };
        self.opts
            .filter
            .check(&module, &name)
            .map_err(|e| self.locate_engine(e))?;
        let key = canonical_name(module, name);
        if let Some(&id) = self.globals.get(&key) {
            return Ok(id);
        }
        let id = self.graph.add(Node::Global {
            module: key.0.clone(),
            name: key.1.clone(),
        });
        self.globals.insert(key, id);
        Ok(id)
    }

    /// The `builtins.<name>` class node of an object CPython builds itself (not through
    /// `find_class`, so the class filter is not asked).
    fn builtin_class(&mut self, name: &str) -> NodeId {
        let key = ("builtins".to_string(), name.to_string());
        if let Some(&id) = self.globals.get(&key) {
            return id;
        }
        let id = self.graph.add(Node::Global {
            module: key.0.clone(),
            name: key.1.clone(),
        });
        self.globals.insert(key, id);
        id
    }

    /// BUILD on an `AttributeError` (see [`Self::reduce_instance`]): CPython's
    /// `BaseException.__setstate__` sets each key as an attribute — `args` replaces the
    /// arguments, `name` and `obj` go to their slots, the rest to `__dict__` — and 3.13's
    /// `__getstate__` gives back `__dict__`, then `name` when it was set, then `args`.
    /// `None` (BUILD as usual) for any other instance or a state that is not a dict.
    fn attribute_error_state(&mut self, inst: NodeId, state: NodeId) -> Option<()> {
        let Node::Instance(i) = self.graph.node(inst) else {
            return None;
        };
        let Construct::Reduce { callable, args } = i.construct else {
            return None;
        };
        if !matches!(self.graph.node(callable), Node::Global { module, name }
            if module == "builtins" && name == "AttributeError")
        {
            return None;
        }
        let Node::Dict(items) = self.graph.node(state) else {
            return None;
        };
        let key_is = |g: &Pickle, k: NodeId, want: &str| matches!(g.node(k), Node::Str(s) if s.as_str() == Some(want));
        let g = &self.graph;
        let mut rest = Vec::new();
        let (mut name, mut new_args) = (None, None);
        for &(k, v) in items {
            if key_is(g, k, "args") {
                // setattr converts to a tuple; only a tuple keeps its identity.
                if !matches!(g.node(v), Node::Tuple(_)) {
                    return None;
                }
                new_args = Some((k, v));
            } else if key_is(g, k, "name") {
                name = Some((k, v));
            } else if !key_is(g, k, "obj") {
                rest.push((k, v));
            }
        }
        let (args_key, args) = match new_args {
            Some(kv) => kv,
            None => (self.str_node(PyStr::from("args")), args),
        };
        rest.extend(name);
        rest.push((args_key, args));
        let merged = self.graph.add(Node::Dict(rest));
        if let Node::Instance(i) = &mut self.graph.nodes[inst] {
            i.construct = Construct::Reduce { callable, args };
            i.state = Some(merged);
        }
        Some(())
    }

    /// `cls(*args)` for a class of the construction table (construction_table.rs): the
    /// instance with the `args` and dict CPython 3.13's `__init__` leaves. `Ok(None)` (build it
    /// as the pickle says) for any other call, and when a text the `__init__` formats needs
    /// the `repr`/`str` of an argument pydbm cannot print exactly (anything but a str, bytes,
    /// int, float, bool or None). Every text is a new object, so a pickle calling such a class
    /// many times on one long shared argument makes its length many times over: past
    /// [`MAX_CONSTRUCTED_TEXT`] code points in one load it is a `MemoryError`, not an
    /// allocation sized by the input's reference count.
    fn constructed_instance(&mut self, callable: NodeId, args: NodeId) -> Result<Option<NodeId>> {
        let c = match (self.graph.node(callable), self.graph.node(args)) {
            (Node::Global { module, name }, Node::Tuple(a)) => {
                let is_none = |i: usize| matches!(self.graph.node(a[i]), Node::None);
                match construction_table::lookup(module, name, a.len(), is_none) {
                    Some(c) => c,
                    None => return Ok(None),
                }
            }
            _ => return Ok(None),
        };
        self.construct(callable, args, c)
    }

    /// [`Self::constructed_instance`] for the listed construction `c`.
    fn construct(
        &mut self,
        callable: NodeId,
        args: NodeId,
        c: &'static Construction,
    ) -> Result<Option<NodeId>> {
        let Node::Tuple(a) = self.graph.node(args) else {
            return Ok(None);
        };
        let a = a.clone();
        // Texts first, so nothing is added to the graph when one cannot be made.
        let values = c
            .args
            .iter()
            .chain(c.dict.unwrap_or(&[]).iter().map(|(_, m)| m));
        let mut texts = Vec::new();
        for m in values {
            if let Made::Text(pieces) = m {
                let Some(t) = self.construction_text(pieces, &a) else {
                    return Ok(None);
                };
                self.constructed_text += t.char_len();
                if self.constructed_text > MAX_CONSTRUCTED_TEXT {
                    return Err(self.fail(
                        PyExc::MemoryError,
                        format!(
                            "the exception messages CPython's __init__ would format exceed \
                             pydbm's limit of {MAX_CONSTRUCTED_TEXT} characters per pickle"
                        ),
                    ));
                }
                texts.push(t);
            }
        }
        let mut texts = texts.into_iter();
        let mut fresh = Vec::new();
        let mut value = |u: &mut Self, m: &Made| -> Option<NodeId> {
            Some(match *m {
                Made::Arg(i) => *a.get(i)?,
                Made::None => u.none,
                Made::EmptyList => {
                    let id = u.graph.add(Node::List(Vec::new()));
                    fresh.push(id);
                    id
                }
                Made::Text(_) => {
                    let id = u.str_node(texts.next()?);
                    fresh.push(id);
                    id
                }
                Made::Same(k) => *fresh.get(k)?,
            })
        };
        let mut new_args = Vec::with_capacity(c.args.len());
        for m in c.args {
            let Some(v) = value(self, m) else {
                return Ok(None);
            };
            new_args.push(v);
        }
        let mut dict = Vec::new();
        for (key, m) in c.dict.unwrap_or(&[]) {
            let Some(v) = value(self, m) else {
                return Ok(None);
            };
            let k = self.attribute_name(key);
            dict.push((k, v));
        }
        let new_args = self.graph.add(Node::Tuple(new_args));
        let state = c.dict.map(|_| self.graph.add(Node::Dict(dict)));
        let id = self.graph.add(Node::Instance(Box::new(Instance {
            construct: Construct::Reduce {
                callable,
                args: new_args,
            },
            list_items: Vec::new(),
            dict_items: Vec::new(),
            state,
        })));
        self.constructed.insert(id, args);
        Ok(Some(id))
    }

    /// The text of `pieces` for the arguments `a`: `repr()` and `str()` of atoms only.
    fn construction_text(&self, pieces: &[Piece], a: &[NodeId]) -> Option<PyStr> {
        let mut cps: Vec<u32> = Vec::new();
        for p in pieces {
            match *p {
                Piece::Lit(s) => cps.extend(s.chars().map(u32::from)),
                Piece::Str(i) => match self.graph.node(*a.get(i)?) {
                    Node::Str(s) => cps.extend(s.code_points()),
                    n => cps.extend(super::repr::atom_repr(n)?.chars().map(u32::from)),
                },
                Piece::Repr(i) => {
                    let r = super::repr::atom_repr(self.graph.node(*a.get(i)?))?;
                    cps.extend(r.chars().map(u32::from));
                }
            }
        }
        Some(PyStr::from_code_points(cps))
    }

    /// BUILD on an instance of the construction table: `BaseException.__setstate__` sets each
    /// key of a dict state as an attribute ([`construction_table::setattr_kind`]): a key
    /// already in the instance dict keeps its place and key object and takes the new value, a
    /// new key is appended; `args` takes a tuple as it is and a list's items as a new tuple;
    /// the slots the reduce leaves out change nothing; `None` sets nothing. A state this does
    /// not model (not a dict, a key that is not a str, `__class__`/`__dict__`/`__weakref__`,
    /// `args` of another type) restores the pickle's own arguments and state, as before the
    /// table. `None` (BUILD as usual) for any other instance.
    fn constructed_state(&mut self, inst: NodeId, state: NodeId) -> Option<()> {
        let &orig_args = self.constructed.get(&inst)?;
        let Node::Instance(i) = self.graph.node(inst) else {
            return None;
        };
        let (current, callable, mut args) = match i.construct {
            Construct::Reduce { callable, args } => (i.state, callable, args),
            _ => return None,
        };
        let g = &self.graph;
        let mut args_items = None;
        // The merged dict: keys already there keep their node; new ones are names to intern.
        let merged = match g.node(state) {
            Node::None => return Some(()),
            Node::Dict(items) => {
                let mut out: Vec<(Result<NodeId, String>, NodeId)> =
                    match current.map(|s| g.node(s)) {
                        Some(Node::Dict(d)) => d.iter().map(|&(k, v)| (Ok(k), v)).collect(),
                        _ => Vec::new(),
                    };
                let mut ok = true;
                for &(k, v) in items {
                    let Some(name) = (match g.node(k) {
                        Node::Str(ks) => ks.as_str(),
                        _ => None,
                    }) else {
                        ok = false;
                        break;
                    };
                    match construction_table::setattr_kind(name) {
                        SetAttr::Dict => {
                            let same = |key: &Result<NodeId, String>| match key {
                                Ok(ek) => {
                                    matches!(g.node(*ek), Node::Str(e) if e.as_str() == Some(name))
                                }
                                Err(n) => n == name,
                            };
                            match out.iter_mut().find(|(key, _)| same(key)) {
                                Some(slot) => slot.1 = v,
                                None => out.push((Err(name.to_string()), v)),
                            }
                        }
                        SetAttr::Args => match g.node(v) {
                            Node::Tuple(_) => args = v,
                            Node::List(items) => args_items = Some(items.clone()),
                            _ => {
                                ok = false;
                                break;
                            }
                        },
                        SetAttr::Unreduced => {}
                        SetAttr::Other => {
                            ok = false;
                            break;
                        }
                    }
                }
                ok.then_some(out)
            }
            _ => None,
        };
        if let (Some(items), Some(_)) = (args_items, &merged) {
            args = self.graph.add(Node::Tuple(items));
        }
        let new_state = match merged {
            Some(out) if out.is_empty() && current.is_none() => None,
            Some(out) => {
                let out = out
                    .into_iter()
                    .map(|(key, v)| match key {
                        Ok(k) => (k, v),
                        Err(name) => (self.attribute_name(&name), v),
                    })
                    .collect();
                Some(self.graph.add(Node::Dict(out)))
            }
            None => {
                self.constructed.remove(&inst);
                args = orig_args;
                Some(state)
            }
        };
        if let Node::Instance(i) = &mut self.graph.nodes[inst] {
            i.construct = Construct::Reduce { callable, args };
            i.state = new_state;
        }
        Some(())
    }

    /// The key node of attribute `name` in the instance dicts the construction table builds
    /// (see `attribute_names`).
    fn attribute_name(&mut self, name: &str) -> NodeId {
        if let Some(&k) = self.attribute_names.get(name) {
            return k;
        }
        let k = self.str_node(PyStr::from(name));
        self.attribute_names.insert(name.to_string(), k);
        k
    }

    fn line_utf8(&self, b: &[u8]) -> Result<String> {
        String::from_utf8(b.to_vec()).map_err(|e| {
            self.fail(
                PyExc::UnicodeDecodeError,
                format!(
                    "'utf-8' codec can't decode byte 0x{:02x} in position {}: invalid start byte",
                    b[e.utf8_error().valid_up_to()],
                    e.utf8_error().valid_up_to()
                ),
            )
        })
    }

    fn instance(&mut self, construct: Construct) -> NodeId {
        self.graph.add(Node::Instance(Box::new(Instance {
            construct,
            list_items: Vec::new(),
            dict_items: Vec::new(),
            state: None,
        })))
    }

    /// An `INST`/`OBJ` instance (Python 2's old-style classes; Python 3 never writes these
    /// opcodes). Without arguments CPython 3 creates it with `cls.__new__(cls)` and re-dumps
    /// it by the default object reduction (`copyreg._reconstructor(cls, object, None)` below
    /// protocol 2, `NEWOBJ` from 2), so it is loaded as that; with arguments (a Python 2
    /// `__getinitargs__`) it stays a call.
    fn old_style_instance(&mut self, cls: NodeId, args: Vec<NodeId>, inst: bool) -> NodeId {
        if !args.is_empty() || !matches!(self.graph.node(cls), Node::Global { .. }) {
            return self.instance(Construct::Call { cls, args, inst });
        }
        let key = ("builtins".to_string(), "object".to_string());
        let base = match self.globals.get(&key) {
            Some(&id) => id,
            None => {
                let id = self.graph.add(Node::Global {
                    module: key.0.clone(),
                    name: key.1.clone(),
                });
                self.globals.insert(key, id);
                id
            }
        };
        let base_state = self.none;
        self.instance(Construct::Reconstructor {
            cls,
            base,
            base_state,
        })
    }

    /// A `REDUCE` instance; Python 2's reductions of a few standard types are rewritten to
    /// what the object CPython 3 builds from them reduces to, so a recode matches 3.13:
    /// - `date`/`datetime`/`time` with a `str` state (py2 `str` decoded as latin1): CPython's
    ///   datetime constructors take such a str as the state and encode it back to latin1
    ///   (Lib/datetime.py's pickle-compatibility check), so the state becomes bytes;
    /// - `deque([items])` / `deque([items], maxlen)`: 3.13's `deque.__reduce__` is
    ///   `(deque, () | ((), maxlen), None, iter(items))`;
    /// - `OrderedDict([[k, v], ...])`: 3.13's is `(OrderedDict, (), None, None, iter(items))`;
    /// - the exception classes of the construction table (construction_table.rs): the `args`
    ///   and instance dict their `__init__` leaves ([`Self::constructed_instance`]).
    fn reduce_instance(&mut self, callable: NodeId, args: NodeId) -> NodeId {
        let g = &self.graph;
        let (Node::Global { module, name }, Node::Tuple(a)) = (g.node(callable), g.node(args))
        else {
            return self.instance(Construct::Reduce { callable, args });
        };
        let a = a.clone();
        let mut list_items = Vec::new();
        let mut dict_items = Vec::new();
        let mut new_args = None;
        match (module.as_str(), name.as_str(), a.as_slice()) {
            ("datetime", kind @ ("date" | "datetime" | "time"), [s, rest @ ..]) => {
                if let Node::Str(st) = g.node(*s) {
                    let cps: Vec<u32> = st.code_points().collect();
                    let ok = cps.iter().all(|&c| c <= 0xff)
                        && match kind {
                            "date" | "datetime" => {
                                cps.len() == if kind == "date" { 4 } else { 10 }
                                    && (1..=12).contains(&(cps[2] & 0x7f))
                            }
                            _ => cps.len() == 6 && (cps[0] & 0x7f) < 24,
                        };
                    if ok {
                        let bytes = cps.iter().map(|&c| c as u8).collect::<Vec<u8>>();
                        let rest = rest.to_vec();
                        let b = self.bytes_node(&bytes);
                        let mut items = vec![b];
                        items.extend(rest);
                        new_args = Some(self.graph.add(Node::Tuple(items)));
                    }
                }
            }
            ("collections", "deque", [l, rest @ ..]) if rest.len() <= 1 => {
                if let Node::List(items) = g.node(*l) {
                    list_items = items.clone();
                    let rest = rest.to_vec();
                    new_args = Some(if rest.is_empty() {
                        self.empty_tuple
                    } else {
                        let e = self.empty_tuple;
                        self.graph.add(Node::Tuple(vec![e, rest[0]]))
                    });
                }
            }
            ("fractions", "Fraction", [text]) => {
                // 2.7/3.6 reduce to (Fraction, (str,)); 3.13 re-dumps (numerator, denominator).
                if let Some((n, d)) = match g.node(*text) {
                    Node::Str(t) => t.as_str().and_then(fraction_terms),
                    _ => None,
                } {
                    let n = self.graph.add(Node::Int(n));
                    let d = self.graph.add(Node::Int(d));
                    new_args = Some(self.graph.add(Node::Tuple(vec![n, d])));
                }
            }
            ("re", "_compile", [pattern, flags]) => {
                // A Python 2 str pattern compiles with re.UNICODE in Python 3.
                if let (Node::Str(_), Node::Int(f)) = (g.node(*pattern), g.node(*flags)) {
                    if let Some(f) = f.to_i64().and_then(str_pattern_flags) {
                        let pattern = *pattern;
                        let f = self.graph.add(Node::Int(PyInt::from(f)));
                        new_args = Some(self.graph.add(Node::Tuple(vec![pattern, f])));
                    }
                }
            }
            ("array", "_array_reconstructor", [cls, typecode, mformat, data]) => {
                // 3.x from protocol 3: rebuilt as (array, (typecode, items)), the form the
                // pickler writes below 3 and turns back into this from 3 (stdlib_reduce).
                let item = match (g.node(*cls), g.node(*typecode), g.node(*mformat)) {
                    (Node::Global { module, name }, Node::Str(tc), Node::Int(mf))
                        if module == "array" && name == "array" =>
                    {
                        tc.as_str()
                            .and_then(array_item)
                            .filter(|it| mf.to_i64() == Some(it.mformat))
                    }
                    _ => None,
                };
                let values = match (item, g.node(*data)) {
                    (Some(item), Node::Bytes(b)) => item.decode(b),
                    _ => None,
                };
                if let Some(values) = values {
                    let (cls, typecode) = (*cls, *typecode);
                    let items = values
                        .into_iter()
                        .map(|v| {
                            self.graph.add(match v {
                                ArrayValue::Int(i) => Node::Int(i),
                                ArrayValue::Float(x) => Node::Float(x),
                            })
                        })
                        .collect();
                    let list = self.graph.add(Node::List(items));
                    let args = self.graph.add(Node::Tuple(vec![typecode, list]));
                    return self.graph.add(Node::Instance(Box::new(Instance {
                        construct: Construct::Reduce {
                            callable: cls,
                            args,
                        },
                        list_items,
                        dict_items,
                        state: None,
                    })));
                }
            }
            ("builtins", "OSError", [errno, _strerror, rest @ ..]) if rest.len() <= 1 => {
                // OSError(errno, strerror[, filename]) builds the errno's subclass (PEP 3151),
                // which reduces to itself with the same arguments.
                if let Some(sub) = match g.node(*errno) {
                    Node::Int(e) => e.to_i64().and_then(stdlib_reduce::oserror_subclass),
                    _ => None,
                } {
                    let callable = self.builtin_class(sub);
                    return self.instance(Construct::Reduce { callable, args });
                }
            }
            ("builtins", "AttributeError", _) => {
                // 3.13's AttributeError.__reduce__ always carries its __getstate__ dict,
                // {'args': args} when nothing else was set; BUILD merges the rest.
                let key = self.str_node(PyStr::from("args"));
                let state = self.graph.add(Node::Dict(vec![(key, args)]));
                return self.graph.add(Node::Instance(Box::new(Instance {
                    construct: Construct::Reduce { callable, args },
                    list_items,
                    dict_items,
                    state: Some(state),
                })));
            }
            ("collections", "OrderedDict", [l]) => {
                if let Node::List(pairs) = g.node(*l) {
                    let mut items = Vec::new();
                    for &pair in pairs {
                        match g.node(pair) {
                            Node::List(kv) | Node::Tuple(kv) if kv.len() == 2 => {
                                items.push((kv[0], kv[1]))
                            }
                            _ => return self.instance(Construct::Reduce { callable, args }),
                        }
                    }
                    dict_items = items;
                    new_args = Some(self.empty_tuple);
                }
            }
            _ => {}
        }
        self.graph.add(Node::Instance(Box::new(Instance {
            construct: Construct::Reduce {
                callable,
                args: new_args.unwrap_or(args),
            },
            list_items,
            dict_items,
            state: None,
        })))
    }

    /// Recognises `partial(cls.__new__, cls, *args, **kwargs)()` — how protocols 2/3 write
    /// `__newobj_ex__` (spec §1.5) — as the NEWOBJ_EX it stands for.
    fn partial_new(&mut self, callable: NodeId, args: NodeId) -> Option<Construct> {
        let g = &self.graph;
        if !matches!(g.node(args), Node::Tuple(a) if a.is_empty()) {
            return None;
        }
        let Node::Instance(pi) = g.node(callable) else {
            return None;
        };
        let Construct::Reduce { callable: pc, .. } = pi.construct else {
            return None;
        };
        if !matches!(g.node(pc), Node::Global { module, name } if module == "functools" && name == "partial")
        {
            return None;
        }
        let Node::Tuple(st) = g.node(pi.state?) else {
            return None;
        };
        let [func, fargs, kw, _] = st.as_slice() else {
            return None;
        };
        let Node::Global { name: fname, .. } = g.node(*func) else {
            return None;
        };
        let Node::Tuple(fa) = g.node(*fargs) else {
            return None;
        };
        let cls = *fa.first()?;
        match g.node(cls) {
            Node::Global { name, .. } if fname.strip_suffix(".__new__") == Some(name.as_str()) => {}
            _ => return None,
        }
        let rest = fa[1..].to_vec();
        let kw = *kw;
        let kwargs = match g.node(kw) {
            Node::Dict(_) => kw,
            Node::None => self.graph.add(Node::Dict(Vec::new())),
            _ => return None,
        };
        let args = if rest.is_empty() {
            self.empty_tuple
        } else {
            self.graph.add(Node::Tuple(rest))
        };
        Some(Construct::NewObjEx { cls, args, kwargs })
    }

    fn check_hashable(&self, key: NodeId) -> Result<()> {
        let t = match self.graph.node(key) {
            Node::List(_) => "list",
            Node::Dict(_) => "dict",
            Node::Set(_) => "set",
            Node::ByteArray(_) => "bytearray",
            // An out-of-band buffer is the caller's writable memory (a bytearray passed in
            // CPython's `buffers=`), and READONLY_BUFFER over it or over an in-band bytearray
            // is a read-only view of that bytearray: CPython 3.13 refuses to hash both
            // ("unhashable type: 'bytearray'"), and pydbm dumps the writable one in-band
            // as a bytearray.
            Node::PickleBuffer { .. } => "bytearray",
            _ => return Ok(()),
        };
        Err(self.fail(PyExc::TypeError, format!("unhashable type: '{t}'")))
    }

    fn set_items(&mut self, target: NodeId, items: &[NodeId]) -> Result<()> {
        for pair in items.chunks(2) {
            self.check_hashable(pair[0])?;
        }
        let pairs = items.chunks(2).map(|c| (c[0], c[1]));
        match &mut self.graph.nodes[target] {
            Node::Dict(d) => d.extend(pairs),
            Node::Instance(i) => i.dict_items.extend(pairs),
            _ => {
                return Err(self.fail(
                    PyExc::TypeError,
                    format!(
                        "'{}' object does not support item assignment",
                        type_name(self.graph.node(target))
                    ),
                ))
            }
        }
        Ok(())
    }

    fn append_items(&mut self, target: NodeId, items: Vec<NodeId>) -> Result<()> {
        match &mut self.graph.nodes[target] {
            Node::List(l) => l.extend(items),
            Node::Instance(i) => i.list_items.extend(items),
            _ => {
                return Err(self.fail(
                    PyExc::AttributeError,
                    format!(
                        "'{}' object has no attribute 'append'",
                        type_name(self.graph.node(target))
                    ),
                ))
            }
        }
        Ok(())
    }

    fn run(mut self) -> Result<(Pickle, usize)> {
        loop {
            self.op_pos = self.pos;
            let Some(&c) = self.data.get(self.pos) else {
                return Err(err(self.pos, 0, PyExc::EofError, "Ran out of input"));
            };
            self.op_code = c;
            self.pos += 1;
            match c {
                op::STOP => {
                    let root = self.pop()?;
                    self.graph.root = root;
                    return Ok((self.graph, self.pos));
                }
                op::PROTO => {
                    let p = self.u8()?;
                    if p > 5 {
                        return Err(self.fail(
                            PyExc::ValueError,
                            format!("unsupported pickle protocol: {p}"),
                        ));
                    }
                    self.proto = p;
                }
                op::FRAME => {
                    let n = self.u64()?;
                    if n > (self.data.len() - self.pos) as u64 {
                        return Err(self.truncated());
                    }
                }
                op::MARK => self.marks.push(self.stack.len()),
                op::POP => {
                    if let Some(&m) = self.marks.last() {
                        if m == self.stack.len() {
                            // POP on a mark pops the mark (pickle.py / _pickle.c behaviour)
                            self.marks.pop();
                            continue;
                        }
                    }
                    self.pop()?;
                }
                op::POP_MARK => {
                    self.pop_mark()?;
                }
                op::DUP => {
                    let t = self.top()?;
                    self.push(t);
                }
                op::NONE => self.push(self.none),
                op::NEWTRUE => self.push(self.true_),
                op::NEWFALSE => self.push(self.false_),
                op::INT => {
                    let l = self.line()?;
                    match l {
                        b"00" => self.push(self.false_),
                        b"01" => self.push(self.true_),
                        _ => {
                            let v = std::str::from_utf8(l)
                                .ok()
                                .and_then(|s| PyInt::parse_decimal(s.trim_end_matches('\r')).ok())
                                .ok_or_else(|| {
                                    self.fail(PyExc::ValueError, "could not convert string to int")
                                })?;
                            self.add_push(Node::Int(v));
                        }
                    }
                }
                op::LONG => {
                    let l = self.line()?;
                    let t = std::str::from_utf8(l).unwrap_or("\u{fffd}");
                    let t2 = t.strip_suffix('L').unwrap_or(t);
                    let v = PyInt::parse_decimal(t2).map_err(|e| match e {
                        DecimalError::TooManyDigits(m) => self.fail(PyExc::ValueError, m),
                        DecimalError::Invalid => self.fail(
                            PyExc::ValueError,
                            format!("invalid literal for int() with base 10: '{t}\\n'"),
                        ),
                    })?;
                    self.add_push(Node::Int(v));
                }
                op::BININT => {
                    let v = self.i32()?;
                    self.add_push(Node::Int(PyInt::Small(v as i64)));
                }
                op::BININT1 => {
                    let v = self.u8()?;
                    self.add_push(Node::Int(PyInt::Small(v as i64)));
                }
                op::BININT2 => {
                    let v = self.u16()?;
                    self.add_push(Node::Int(PyInt::Small(v as i64)));
                }
                op::LONG1 => {
                    let n = self.u8()? as u64;
                    let b = self.take_len(n)?;
                    self.add_push(Node::Int(PyInt::from_le_twos_complement(b)));
                }
                op::LONG4 => {
                    let n = self.i32()?;
                    if n < 0 {
                        return Err(self.fail(
                            PyExc::UnpicklingError,
                            "LONG pickle has negative byte count",
                        ));
                    }
                    let b = self.take_len(n as u64)?;
                    self.add_push(Node::Int(PyInt::from_le_twos_complement(b)));
                }
                op::FLOAT => {
                    let l = self.line()?;
                    if float_prefix_overflows(l) {
                        // CPython's C unpickler parses FLOAT with an overflow check
                        // (checked live against 3.13: `F1e99999` → OverflowError quoting
                        // at most 200 bytes of the line, newline included).
                        let mut quoted = l.to_vec();
                        quoted.push(b'\n');
                        quoted.truncate(200);
                        return Err(self.fail(
                            PyExc::OverflowError,
                            format!(
                                "value too large to convert to float: '{}'",
                                String::from_utf8_lossy(&quoted)
                            ),
                        ));
                    }
                    let t = std::str::from_utf8(l).ok();
                    let v = t.and_then(parse_python_float).ok_or_else(|| {
                        self.fail(
                            PyExc::ValueError,
                            format!(
                                "could not convert string to float: '{}\\n'",
                                String::from_utf8_lossy(l)
                            ),
                        )
                    })?;
                    self.add_push(Node::Float(v));
                }
                op::BINFLOAT => {
                    let b = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    self.add_push(Node::Float(f64::from_be_bytes(a)));
                }
                op::STRING => {
                    let l = self.line()?;
                    let l = l.strip_suffix(b"\r").unwrap_or(l);
                    let inner = if l.len() >= 2
                        && (l[0] == b'\'' || l[0] == b'"')
                        && l[l.len() - 1] == l[0]
                    {
                        &l[1..l.len() - 1]
                    } else {
                        return Err(self.fail(
                            PyExc::UnpicklingError,
                            "the STRING opcode argument must be quoted",
                        ));
                    };
                    let raw = decode_escape(inner).map_err(|e| self.locate(e))?;
                    self.push_py2_string(&raw)?;
                }
                op::BINSTRING => {
                    let n = self.i32()?;
                    if n < 0 {
                        return Err(self.truncated());
                    }
                    let b = self.take_len(n as u64)?;
                    self.push_py2_string(b)?;
                }
                op::SHORT_BINSTRING => {
                    let n = self.u8()? as u64;
                    let b = self.take_len(n)?;
                    self.push_py2_string(b)?;
                }
                op::BINBYTES => {
                    let n = self.u32()? as u64;
                    let b = self.take_len(n)?;
                    let id = self.bytes_node(b);
                    self.push(id);
                }
                op::SHORT_BINBYTES => {
                    let n = self.u8()? as u64;
                    let b = self.take_len(n)?;
                    let id = self.bytes_node(b);
                    self.push(id);
                }
                op::BINBYTES8 => {
                    let n = self.u64()?;
                    let b = self.take_len(n)?;
                    let id = self.bytes_node(b);
                    self.push(id);
                }
                op::BYTEARRAY8 => {
                    let n = self.u64()?;
                    let b = self.take_len(n)?;
                    self.add_push(Node::ByteArray(b.to_vec()));
                }
                op::UNICODE => {
                    let l = self.line()?;
                    let s = decode_raw_unicode_escape(l).map_err(|e| self.locate(e))?;
                    let id = self.str_node(s);
                    self.push(id);
                }
                op::SHORT_BINUNICODE => {
                    let n = self.u8()? as u64;
                    let b = self.take_len(n)?;
                    self.push_utf8(b)?;
                }
                op::BINUNICODE => {
                    let n = self.u32()? as u64;
                    let b = self.take_len(n)?;
                    self.push_utf8(b)?;
                }
                op::BINUNICODE8 => {
                    let n = self.u64()?;
                    let b = self.take_len(n)?;
                    self.push_utf8(b)?;
                }
                op::EMPTY_TUPLE => self.push(self.empty_tuple),
                op::TUPLE => {
                    let items = self.pop_mark()?;
                    if items.is_empty() {
                        self.push(self.empty_tuple);
                    } else {
                        self.add_push(Node::Tuple(items));
                    }
                }
                op::TUPLE1 | op::TUPLE2 | op::TUPLE3 => {
                    let n = (c - op::TUPLE1 + 1) as usize;
                    let floor = self.marks.last().copied().unwrap_or(0);
                    if self.stack.len() < floor + n {
                        return Err(self.fail(PyExc::UnpicklingError, "unpickling stack underflow"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.add_push(Node::Tuple(items));
                }
                op::EMPTY_LIST => self.add_push(Node::List(Vec::new())),
                op::LIST => {
                    let items = self.pop_mark()?;
                    self.add_push(Node::List(items));
                }
                op::EMPTY_DICT => self.add_push(Node::Dict(Vec::new())),
                op::DICT => {
                    let items = self.pop_mark()?;
                    if items.len() % 2 != 0 {
                        return Err(
                            self.fail(PyExc::UnpicklingError, "odd number of items for DICT")
                        );
                    }
                    let d = self.graph.add(Node::Dict(Vec::new()));
                    self.set_items(d, &items)?;
                    self.push(d);
                }
                op::EMPTY_SET => self.add_push(Node::Set(Vec::new())),
                op::FROZENSET => {
                    let items = self.pop_mark()?;
                    for &i in &items {
                        self.check_hashable(i)?;
                    }
                    self.add_push(Node::FrozenSet(items));
                }
                op::APPEND => {
                    let v = self.pop()?;
                    let l = self.top()?;
                    self.append_items(l, vec![v])?;
                }
                op::APPENDS => {
                    let items = self.pop_mark()?;
                    let l = self.top()?;
                    self.append_items(l, items)?;
                }
                op::SETITEM => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let d = self.top()?;
                    self.set_items(d, &[k, v])?;
                }
                op::SETITEMS => {
                    let items = self.pop_mark()?;
                    if items.len() % 2 != 0 {
                        return Err(
                            self.fail(PyExc::UnpicklingError, "odd number of items for SETITEMS")
                        );
                    }
                    let d = self.top()?;
                    self.set_items(d, &items)?;
                }
                op::ADDITEMS => {
                    let items = self.pop_mark()?;
                    let s = self.top()?;
                    for &i in &items {
                        self.check_hashable(i)?;
                    }
                    match &mut self.graph.nodes[s] {
                        Node::Set(v) => v.extend(items),
                        _ => {
                            return Err(self.fail(
                                PyExc::AttributeError,
                                format!(
                                    "'{}' object has no attribute 'add'",
                                    type_name(self.graph.node(s))
                                ),
                            ))
                        }
                    }
                }
                op::GET => {
                    let l = self.line()?;
                    let idx = std::str::from_utf8(l)
                        .ok()
                        .and_then(|s| s.trim().parse::<u64>().ok())
                        .ok_or_else(|| {
                            self.fail(PyExc::ValueError, "could not convert string to int")
                        })?;
                    self.memo_get(idx)?;
                }
                op::BINGET => {
                    let i = self.u8()? as u64;
                    self.memo_get(i)?;
                }
                op::LONG_BINGET => {
                    let i = self.u32()? as u64;
                    self.memo_get(i)?;
                }
                op::PUT => {
                    let l = self.line()?;
                    let idx = std::str::from_utf8(l)
                        .ok()
                        .and_then(|s| s.trim().parse::<i64>().ok())
                        .ok_or_else(|| {
                            self.fail(PyExc::ValueError, "could not convert string to int")
                        })?;
                    if idx < 0 {
                        return Err(self.fail(PyExc::ValueError, "negative PUT argument"));
                    }
                    let t = self.top()?;
                    self.memo_put(idx as u64, t);
                }
                op::BINPUT => {
                    let i = self.u8()? as u64;
                    let t = self.top()?;
                    self.memo_put(i, t);
                }
                op::LONG_BINPUT => {
                    let i = self.u32()? as u64;
                    let t = self.top()?;
                    self.memo_put(i, t);
                }
                op::MEMOIZE => {
                    let t = self.top()?;
                    let i = self.memo.len() as u64;
                    self.memo_put(i, t);
                }
                op::GLOBAL => {
                    let m = self.line()?;
                    let n = self.line()?;
                    let m = self.line_utf8(m)?;
                    let n = self.line_utf8(n)?;
                    let id = self.global(m, n)?;
                    self.push(id);
                }
                op::STACK_GLOBAL => {
                    let n = self.pop()?;
                    let m = self.pop()?;
                    let (Node::Str(m), Node::Str(n)) = (self.graph.node(m), self.graph.node(n))
                    else {
                        return Err(self.fail(PyExc::UnpicklingError, "STACK_GLOBAL requires str"));
                    };
                    let (Some(m), Some(n)) = (m.as_str(), n.as_str()) else {
                        return Err(self.fail(PyExc::UnpicklingError, "STACK_GLOBAL requires str"));
                    };
                    let (m, n) = (m.to_string(), n.to_string());
                    let id = self.global(m, n)?;
                    self.push(id);
                }
                op::EXT1 | op::EXT2 | op::EXT4 => {
                    let code = match c {
                        op::EXT1 => self.u8()? as i32,
                        op::EXT2 => self.u16()? as i32,
                        _ => self.i32()?,
                    };
                    if code <= 0 {
                        return Err(self.fail(PyExc::UnpicklingError, "EXT specifies code <= 0"));
                    }
                    let Some((m, n)) = self.opts.extensions.lookup(code) else {
                        return Err(self.fail(
                            PyExc::ValueError,
                            format!("unregistered extension code {code}"),
                        ));
                    };
                    let (m, n) = (m.to_string(), n.to_string());
                    // the registry holds Python 3 names: no fix_imports mapping
                    self.opts
                        .filter
                        .check(&m, &n)
                        .map_err(|e| self.locate_engine(e))?;
                    let key = (m, n);
                    let id = match self.globals.get(&key) {
                        Some(&id) => id,
                        None => {
                            let id = self.graph.add(Node::Global {
                                module: key.0.clone(),
                                name: key.1.clone(),
                            });
                            self.globals.insert(key, id);
                            id
                        }
                    };
                    self.push(id);
                }
                op::REDUCE => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    if !matches!(self.graph.node(args), Node::Tuple(_)) {
                        return Err(self.fail(PyExc::TypeError, "argument list must be a tuple"));
                    }
                    let id = match evaluate_known_call(&self.graph, callable, args) {
                        Some(Node::Bytes(b)) if b.len() <= 1 => self.bytes_node(&b),
                        Some(n) => self.graph.add(n),
                        None => match self.partial_new(callable, args) {
                            Some(c) => self.instance(c),
                            None => match self.constructed_instance(callable, args)? {
                                Some(id) => id,
                                None => self.reduce_instance(callable, args),
                            },
                        },
                    };
                    self.push(id);
                }
                op::NEWOBJ => {
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    if !matches!(self.graph.node(args), Node::Tuple(_)) {
                        return Err(self.fail(
                            PyExc::UnpicklingError,
                            "NEWOBJ expected an arg tuple, not ".to_string()
                                + type_name(self.graph.node(args)),
                        ));
                    }
                    if !matches!(
                        self.graph.node(cls),
                        Node::Global { .. } | Node::Instance(_)
                    ) {
                        return Err(self.fail(
                            PyExc::UnpicklingError,
                            format!(
                                "NEWOBJ class argument must be a type, not {}",
                                type_name(self.graph.node(cls))
                            ),
                        ));
                    }
                    let id = self.instance(Construct::NewObj { cls, args });
                    self.push(id);
                }
                op::NEWOBJ_EX => {
                    let kwargs = self.pop()?;
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    if !matches!(self.graph.node(args), Node::Tuple(_))
                        || !matches!(self.graph.node(kwargs), Node::Dict(_))
                    {
                        return Err(self.fail(
                            PyExc::UnpicklingError,
                            "NEWOBJ_EX args must be a tuple and kwargs a dict",
                        ));
                    }
                    if !matches!(
                        self.graph.node(cls),
                        Node::Global { .. } | Node::Instance(_)
                    ) {
                        return Err(self.fail(
                            PyExc::UnpicklingError,
                            format!(
                                "NEWOBJ_EX class argument must be a type, not {}",
                                type_name(self.graph.node(cls))
                            ),
                        ));
                    }
                    let id = self.instance(Construct::NewObjEx { cls, args, kwargs });
                    self.push(id);
                }
                op::BUILD => {
                    let state = self.pop()?;
                    let inst = self.top()?;
                    if self.attribute_error_state(inst, state).is_some()
                        || self.constructed_state(inst, state).is_some()
                    {
                        continue;
                    }
                    match &mut self.graph.nodes[inst] {
                        Node::Instance(i) => i.state = Some(state),
                        other => {
                            let t = type_name(other);
                            return Err(self.fail(
                                PyExc::AttributeError,
                                format!("'{t}' object has no attribute '__dict__'"),
                            ));
                        }
                    }
                }
                op::INST => {
                    let m = self.line()?;
                    let n = self.line()?;
                    let (m, n) = (self.line_utf8(m)?, self.line_utf8(n)?);
                    let args = self.pop_mark()?;
                    let cls = self.global(m, n)?;
                    let id = self.old_style_instance(cls, args, true);
                    self.push(id);
                }
                op::OBJ => {
                    let mut args = self.pop_mark()?;
                    if args.is_empty() {
                        return Err(self.fail(PyExc::UnpicklingError, "unpickling stack underflow"));
                    }
                    let cls = args.remove(0);
                    let id = self.old_style_instance(cls, args, false);
                    self.push(id);
                }
                op::PERSID | op::BINPERSID => {
                    let pid = if c == op::PERSID {
                        let l = self.line()?;
                        if !l.is_ascii() {
                            return Err(self.fail(
                                PyExc::UnpicklingError,
                                "persistent IDs in protocol 0 must be ASCII strings",
                            ));
                        }
                        self.str_node(PyStr::from_utf8_surrogatepass(l).unwrap_or_default())
                    } else {
                        self.pop()?
                    };
                    match &self.opts.persistent {
                        Persistent::Reject => return Err(self.fail(
                            PyExc::UnpicklingError, "A load persistent id instruction was encountered, but no persistent_load function was specified.",
                        )),
                        Persistent::Keep => self.add_push(Node::PersistentId { pid }),
                        Persistent::Load(f) => {
                            let f = f.clone();
                            let id = f(&mut self.graph, pid)?;
                            if id >= self.graph.nodes.len() {
                                return Err(Error::BadArgument(
                                    "persistent_load returned a node id outside the graph".into(),
                                ));
                            }
                            self.push(id);
                        }
                    }
                }
                op::NEXT_BUFFER => {
                    let Some(bufs) = &self.opts.buffers else {
                        return Err(self.fail(PyExc::UnpicklingError, "pickle stream refers to out-of-band data but no *buffers* argument was given"));
                    };
                    let Some(b) = bufs.get(self.buffers_used) else {
                        return Err(
                            self.fail(PyExc::UnpicklingError, "not enough out-of-band buffers")
                        );
                    };
                    self.buffers_used += 1;
                    let data = b.clone();
                    self.add_push(Node::PickleBuffer {
                        data,
                        readonly: false,
                    });
                }
                op::READONLY_BUFFER => {
                    let t = self.top()?;
                    match &mut self.graph.nodes[t] {
                        Node::PickleBuffer { readonly, .. } => *readonly = true,
                        Node::Bytes(_) => {}
                        Node::ByteArray(b) => {
                            let data = std::mem::take(b);
                            self.graph.nodes[t] = Node::PickleBuffer {
                                data,
                                readonly: true,
                            };
                        }
                        other => {
                            let t = type_name(other);
                            return Err(self.fail(
                                PyExc::TypeError,
                                format!("a bytes-like object is required, not '{t}'"),
                            ));
                        }
                    }
                }
                _ => {
                    return Err(self.fail(
                        PyExc::UnpicklingError,
                        format!("invalid load key, '{}'.", super::repr::char_escape(c)),
                    ))
                }
            }
        }
    }
}

impl Default for PyStr {
    fn default() -> Self {
        PyStr::from("")
    }
}

/// Python 2 → 3 names on load (`_compat_pickle.NAME_MAPPING` then `IMPORT_MAPPING`).
pub(crate) fn map_py2_name(module: String, name: String) -> (String, String) {
    if let Ok(i) =
        NAME_MAPPING.binary_search_by(|((m, n), _)| (*m, *n).cmp(&(module.as_str(), name.as_str())))
    {
        let (m, n) = NAME_MAPPING[i].1;
        return (m.to_string(), n.to_string());
    }
    if let Ok(i) = IMPORT_MAPPING.binary_search_by(|(m, _)| (*m).cmp(module.as_str())) {
        return (IMPORT_MAPPING[i].1.to_string(), name);
    }
    (module, name)
}

/// The name CPython 3.13 pickles the object `module.name` under when that is an alias of a
/// class or function (`socket.SocketType` is `_socket.socket`, `io.StringIO` is
/// `_io.StringIO`, `functools.reduce` is `_functools.reduce`, 3.11's
/// `_collections._tuplegetter` is 3.13's `collections._tuplegetter`): CPython resolves a
/// global to its object, whose `__module__` and `__qualname__` name it when it is pickled
/// again (pickle spec §1.5). The table covers the modules of the compat tables and every
/// name CPython 2.7, 3.6, 3.11 and 3.13 write for their classes and functions
/// (canonical_table.rs). Applied after the class filter, which sees the name as written
/// (mapped from Python 2 below protocol 3), as CPython's `find_class` does. Other names are
/// kept.
pub(crate) fn canonical_name(module: String, name: String) -> (String, String) {
    match CANONICAL_NAME
        .binary_search_by(|((m, n), _)| (*m, *n).cmp(&(module.as_str(), name.as_str())))
    {
        Ok(i) => {
            let (m, n) = CANONICAL_NAME[i].1;
            (m.to_string(), n.to_string())
        }
        Err(_) => (module, name),
    }
}

/// Python's type name of a node, for error messages.
pub(crate) fn type_name(n: &Node) -> &'static str {
    match n {
        Node::None => "NoneType",
        Node::Bool(_) => "bool",
        Node::Int(_) => "int",
        Node::Float(_) => "float",
        Node::Str(_) => "str",
        Node::Bytes(_) => "bytes",
        Node::ByteArray(_) => "bytearray",
        Node::List(_) => "list",
        Node::Tuple(_) => "tuple",
        Node::Dict(_) => "dict",
        Node::Set(_) => "set",
        Node::FrozenSet(_) => "frozenset",
        Node::Global { .. } => "type",
        Node::Instance(_) => "object",
        Node::PersistentId { .. } => "object",
        Node::PickleBuffer { .. } => "pickle.PickleBuffer",
    }
}

/// Whether the decimal number at the start of a FLOAT line (sign, digits with an optional
/// point, optional exponent: the longest prefix `strtod` reads) is finite text whose
/// value overflows a double, such as `1e99999` or 400 nines. `inf`/`nan` spellings and
/// texts that do not start with a number are not overflows.
fn float_prefix_overflows(line: &[u8]) -> bool {
    let mut i = usize::from(matches!(line.first(), Some(b'+' | b'-')));
    let start_digits = i;
    while line.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let mut mantissa_digits = i - start_digits;
    if line.get(i) == Some(&b'.') {
        i += 1;
        let f = i;
        while line.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        mantissa_digits += i - f;
    }
    if mantissa_digits == 0 {
        return false;
    }
    if matches!(line.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(line.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let e = j;
        while line.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        if j > e {
            i = j;
        }
    }
    std::str::from_utf8(&line[..i])
        .ok()
        .and_then(|t| t.parse::<f64>().ok())
        .is_some_and(f64::is_infinite)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed failure of loading `data`, as `EXC: message` (CPython's traceback line).
    /// Out-of-band buffers are writable (bytearray) memory: a set, frozenset or dict key
    /// holding one is refused as CPython 3.13 refuses it with `buffers=[bytearray(b"oob")]`
    /// (its messages; the first case was found by the `pickle_load` fuzzer, where pydbm
    /// accepted the frozenset and then could not load its own re-dump).
    #[test]
    fn out_of_band_buffers_are_unhashable() {
        let opts = LoadOptions {
            buffers: Some(vec![b"oob".to_vec()]),
            ..LoadOptions::default()
        };
        for data in [
            &b"\x80\x05(\x97\x91."[..],
            &b"\x80\x05(\x97\x98\x91."[..],
            &b"\x80\x05}\x97K\x01s."[..],
        ] {
            let err = loads(data, &opts).expect_err("a buffer is unhashable");
            let p = PickleError::of(&err).unwrap_or_else(|| panic!("not a PickleError: {err}"));
            let got = format!("{}: {}", p.exc.name(), p.message);
            assert_eq!(got, "TypeError: unhashable type: 'bytearray'", "{data:?}");
        }
    }

    fn load_err(data: &[u8]) -> String {
        match loads(data, &LoadOptions::default()) {
            Ok(p) => panic!("{data:?} loaded: {p:?}"),
            Err(e) => {
                let p = PickleError::of(&e).unwrap_or_else(|| panic!("not a PickleError: {e}"));
                format!("{}: {}", p.exc.name(), p.message)
            }
        }
    }

    /// The first argument of the root REDUCE instance.
    fn first_reduce_arg(p: &Pickle) -> &Node {
        let Node::Instance(inst) = p.node(p.root) else {
            panic!("root is not an instance: {p:?}")
        };
        let Construct::Reduce { args, .. } = inst.construct else {
            panic!("not a REDUCE instance: {p:?}")
        };
        let Node::Tuple(a) = p.node(args) else {
            panic!("args are not a tuple: {p:?}")
        };
        p.node(a[0])
    }

    #[test]
    fn py2_date_str_state_becomes_bytes_only_when_it_is_a_valid_state() {
        // datetime.date(1999, 12, 31) as Python 2 pickled it, its state str loaded as latin1:
        // PROTO 2, GLOBAL 'datetime date', BINUNICODE '\x07\xcf\x0c\x1f', TUPLE1, REDUCE, STOP
        let mut data =
            b"\x80\x02cdatetime\ndate\nX\x05\x00\x00\x00\x07\xc3\x8f\x0c\x1f\x85R.".to_vec();
        let p = loads(&data, &LoadOptions::default()).unwrap();
        assert_eq!(first_reduce_arg(&p), &Node::Bytes(vec![7, 0xcf, 12, 31]));
        // three code points: not a date state, CPython's constructor would not treat it as one
        data.splice(18..27, b"\x04\x00\x00\x00\x07\xc3\x8f\x0c".iter().copied());
        let p = loads(&data, &LoadOptions::default()).unwrap();
        assert!(matches!(first_reduce_arg(&p), Node::Str(_)), "{p:?}");
    }

    #[test]
    fn error_texts_follow_cpython_313_c_unpickler() {
        // spec §1.10, column "C _pickle" (CPython 3.13)
        let cases: &[(&[u8], &str)] = &[
            (b"", "EOFError: Ran out of input"),
            (b"\x80\x04K\x01", "EOFError: Ran out of input"),
            (b"J\x01\x00", "UnpicklingError: pickle data was truncated"),
            (b"\x8c\x05ab", "UnpicklingError: pickle data was truncated"),
            (b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00", "UnpicklingError: pickle data was truncated"),
            (b"\xff", "UnpicklingError: invalid load key, '\\xff'."),
            (b"\x80\x06N.", "ValueError: unsupported pickle protocol: 6"),
            (b"a.", "UnpicklingError: unpickling stack underflow"),
            (b".", "UnpicklingError: unpickling stack underflow"),
            (b"K\x01t.", "UnpicklingError: could not find MARK"),
            (b"h\x05.", "UnpicklingError: Memo value not found at index 5"),
            (b"g0\n.", "UnpicklingError: Memo value not found at index 0"),
            (b"Sabc\n.", "UnpicklingError: the STRING opcode argument must be quoted"),
            (b"S'abc\n.", "UnpicklingError: the STRING opcode argument must be quoted"),
            (b"T\xff\xff\xff\xff.", "UnpicklingError: pickle data was truncated"),
            (
                b"X\x01\x00\x00\x00\xff.",
                "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte",
            ),
            (b"\x80\x02\x82\x07.", "ValueError: unregistered extension code 7"),
            (
                b"\x80\x05\x97.",
                "UnpicklingError: pickle stream refers to out-of-band data but no *buffers* argument was given",
            ),
            (
                b"Pabc\n.",
                "UnpicklingError: A load persistent id instruction was encountered, but no persistent_load function was specified.",
            ),
            (b"}(K\x01u.", "UnpicklingError: odd number of items for SETITEMS"),
            (b"1.", "UnpicklingError: could not find MARK"),
            (b"2.", "UnpicklingError: unpickling stack underflow"),
            (b"}]K\x01s.", "TypeError: unhashable type: 'list'"),
            (b"K\x01)\x81.", "UnpicklingError: NEWOBJ class argument must be a type, not int"),
            (b"\x8a\x05\x01.", "UnpicklingError: pickle data was truncated"),
            (b"G\x00\x00.", "UnpicklingError: pickle data was truncated"),
        ];
        for (data, want) in cases {
            let got = load_err(data);
            assert!(
                got.starts_with(want),
                "{data:?}: got {got:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn trailing_bytes_after_stop_are_ignored() {
        let p = loads(b"N.garbage", &LoadOptions::default()).unwrap();
        assert_eq!(p.node(p.root), &Node::None);
    }

    #[test]
    fn huge_declared_lengths_do_not_allocate() {
        // a 13-byte pickle claiming 2^63 bytes of BINBYTES8 payload
        let got = load_err(b"\x8e\xff\xff\xff\xff\xff\xff\xff\x7f.");
        assert!(got.contains("truncated"), "{got}");
        // LONG_BINPUT at index 4e9 goes to the overflow map, not a 4e9-entry vector
        let p = loads(
            b"Nr\x00\x28\x6b\xeej\x00\x28\x6b\xee.",
            &LoadOptions::default(),
        )
        .unwrap();
        assert_eq!(p.node(p.root), &Node::None);
    }

    #[test]
    fn class_filter_and_persistent_ids() {
        let opts = LoadOptions {
            filter: ClassFilter::safe_builtins(),
            ..LoadOptions::default()
        };
        let e = match loads(b"cos\nsystem\n(S'id'\ntR.", &opts) {
            Err(e) => {
                let p = PickleError::of(&e).expect("a PickleError").clone();
                assert_eq!(p.exc, PyExc::UnpicklingError);
                // placed at the GLOBAL opcode, the first byte
                assert_eq!((p.offset, p.opcode), (Some(0), Some("GLOBAL")));
                e.to_string()
            }
            other => panic!("{other:?}"),
        };
        assert!(
            e.starts_with("UnpicklingError: global 'os.system' is forbidden"),
            "{e}"
        );
        let keep = LoadOptions {
            persistent: Persistent::Keep,
            ..LoadOptions::default()
        };
        let p = loads(b"Pabc\n.", &keep).unwrap();
        let Node::PersistentId { pid } = p.node(p.root) else {
            panic!("{p:?}")
        };
        assert_eq!(p.node(*pid), &Node::Str(PyStr::from("abc")));
        // the persistent id re-dumps as it was (protocol 0: PERSID line)
        assert_eq!(super::super::dumps(&p, 0).unwrap(), b"Pabc\n.");
    }

    #[test]
    fn python2_strings_follow_encoding_option() {
        let data = b"U\x03a\xffb.";
        assert!(load_err(data)
            .starts_with("UnicodeDecodeError: 'ascii' codec can't decode byte 0xff in position 1"));
        for (enc, want) in [
            ("latin1", Node::Str(PyStr::from("a\u{ff}b"))),
            ("bytes", Node::Bytes(b"a\xffb".to_vec())),
        ] {
            let o = LoadOptions {
                encoding: enc.into(),
                ..LoadOptions::default()
            };
            let p = loads(data, &o).unwrap();
            assert_eq!(p.node(p.root), &want);
        }
    }
}
