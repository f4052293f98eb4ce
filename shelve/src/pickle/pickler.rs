//! The pickler: [`Pickle`] graph → bytes, choosing opcodes, memo entries, batches and
//! frames exactly as CPython 3.13's C pickler (`pickle.dumps`) does (pickle spec §1.3–§1.6).
//!
//! Node identity stands for Python object identity: a node reached twice is written once and
//! fetched from the memo after. The objects CPython shares regardless of the graph — globals
//! (one object per name), the empty and one-character latin-1 `str`, the empty and 1-byte
//! `bytes`, the interned `'latin1'` the bytes reduction names — are keyed by value instead.

use std::collections::HashMap;
use std::sync::Arc;

use pydbm_engine::{Error, Result};

use super::compat_table::{REVERSE_IMPORT_MAPPING, REVERSE_NAME_MAPPING};
use super::copyreg::{is_builtins_object, ExtensionRegistry};
use super::opcodes::code as op;
use super::pyint::PyInt;
use super::pystr::PyStr;
use super::stdlib_reduce::{array_item, user_string_newargs, ArrayValue};
use super::text::{encode_raw_unicode_escape_p0, float_repr};
use super::value::{Construct, Instance, Node, NodeId, Pickle};

/// The highest protocol pydbm writes (CPython's `pickle.HIGHEST_PROTOCOL`).
pub const HIGHEST_PROTOCOL: u8 = 5;
/// CPython 3.8–3.13's `pickle.DEFAULT_PROTOCOL`.
pub const DEFAULT_PROTOCOL: u8 = 4;

const BATCHSIZE: usize = 1000;
const FRAME_SIZE_TARGET: usize = 64 * 1024;
const FRAME_SIZE_MIN: usize = 4;
const FRAME_HEADER_SIZE: usize = 9;
const MAX_DEPTH: usize = 1000;

/// `persistent_id`: returns the pid node to write instead of a node, or `None`.
pub type PersistentId = Arc<dyn Fn(&Pickle, NodeId) -> Option<NodeId> + Send + Sync>;
/// `buffer_callback` (PEP 574): gets each `PickleBuffer`'s bytes and read-only flag; `true`
/// writes it in-band, `false` out-of-band (`NEXT_BUFFER`).
pub type BufferCallback = Arc<dyn Fn(&[u8], bool) -> bool + Send + Sync>;
/// `reducer_override`-style hook: returns another node of the graph to write in place of
/// a node (for instance an [`Instance`] describing how to rebuild it), or `None`.
pub type ReducerOverride = Arc<dyn Fn(&Pickle, NodeId) -> Option<NodeId> + Send + Sync>;

/// Options of [`dumps_with`], mirroring `pickle.Pickler`'s.
#[derive(Clone)]
pub struct DumpOptions {
    /// Protocol 0–5.
    pub protocol: u8,
    /// Rename Python 3 globals to Python 2 names at protocol < 3 (default true).
    pub fix_imports: bool,
    /// Globals registered here are written as EXT1/EXT2/EXT4 at protocol ≥ 2.
    pub extensions: Arc<ExtensionRegistry>,
    /// `persistent_id` hook.
    pub persistent_id: Option<PersistentId>,
    /// `buffer_callback` hook (protocol 5 only).
    pub buffer_callback: Option<BufferCallback>,
    /// `reducer_override` hook.
    pub reducer_override: Option<ReducerOverride>,
    /// `Pickler.fast`: no memo (shared values are written again; cycles fail).
    pub fast: bool,
}

impl DumpOptions {
    /// Defaults for a protocol: fix_imports on, no registry entries, no hooks.
    pub fn new(protocol: u8) -> DumpOptions {
        DumpOptions {
            protocol,
            fix_imports: true,
            extensions: Arc::new(ExtensionRegistry::new()),
            persistent_id: None,
            buffer_callback: None,
            reducer_override: None,
            fast: false,
        }
    }
}

/// `pickle.dumps(value, protocol)`. Errors: protocol > 5, values a protocol cannot hold
/// (PickleBuffer below 5, non-ASCII protocol-0 persistent ids), nesting deeper than 1000.
pub fn dumps(p: &Pickle, protocol: u8) -> Result<Vec<u8>> {
    Ok(dumps_with(p, &DumpOptions::new(protocol))?.0)
}

/// Like [`dumps`] with all options; also returns the out-of-band buffers, in order.
pub fn dumps_with(p: &Pickle, opts: &DumpOptions) -> Result<(Vec<u8>, Vec<Vec<u8>>)> {
    super::big_stack::run(p.nodes.len(), || dumps_inner(p, opts))
}

fn dumps_inner(p: &Pickle, opts: &DumpOptions) -> Result<(Vec<u8>, Vec<Vec<u8>>)> {
    if opts.protocol > HIGHEST_PROTOCOL {
        return Err(Error::BadArgument(format!(
            "ValueError: pickle protocol must be <= {HIGHEST_PROTOCOL}"
        )));
    }
    if opts.buffer_callback.is_some() && opts.protocol < 5 {
        return Err(Error::BadArgument(
            "ValueError: buffer_callback needs protocol >= 5".into(),
        ));
    }
    if p.root >= p.nodes.len() {
        return Err(Error::BadArgument(
            "pickle root is not a node of the graph".into(),
        ));
    }
    let mut w = Pickler {
        p,
        o: opts,
        proto: opts.protocol,
        out: Vec::new(),
        framing: false,
        frame_start: None,
        memo: MemoMap::default(),
        memo_nodes: vec![NO_MEMO; p.nodes.len()],
        memo_len: 0,
        fresh: 0,
        depth: 0,
        buffers: Vec::new(),
    };
    if w.proto >= 2 {
        w.write(&[op::PROTO, w.proto]);
    }
    if w.proto >= 4 {
        w.framing = true;
    }
    w.save(p.root, false)?;
    w.write(&[op::STOP]);
    w.commit_frame();
    Ok((w.out, w.buffers))
}

/// A `_reconstructor` base or state: a graph node, a builtin class, or a fresh container.
#[derive(Clone)]
enum BaseRef {
    Node(NodeId),
    Global(&'static str),
    List(Vec<NodeId>),
    Dict(Vec<(NodeId, NodeId)>),
}

impl BaseRef {
    fn val(&self) -> Val<'static> {
        match self {
            BaseRef::Node(n) => Val::Node(*n),
            BaseRef::Global(g) => Val::Global("builtins", g),
            BaseRef::List(items) => Val::List(items.clone()),
            BaseRef::Dict(items) => Val::Dict(items.clone()),
        }
    }
}

/// A fast non-cryptographic hasher for memo keys (keys are node ids and short names built
/// by pydbm itself, so hash flooding is not a concern): FxHash's multiply-rotate.
#[derive(Default, Clone, Copy)]
struct MemoHasher(u64);

impl std::hash::Hasher for MemoHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(v as u64);
    }
    fn write_u16(&mut self, v: u16) {
        self.write_u64(v as u64);
    }
    fn write_u8(&mut self, v: u8) {
        self.write_u64(v as u64);
    }
}

type MemoMap = HashMap<Key, u32, std::hash::BuildHasherDefault<MemoHasher>>;

const NO_MEMO: u32 = u32::MAX;

/// Identity of a Python object for the memo.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Node(NodeId),
    Global(String, String),
    ModuleName(String),
    SmallStr(u32),
    SmallBytes(u16),
    Latin1,
    Fresh(u64),
}

/// A value to write that may not be a node of the graph (reduce arguments CPython builds
/// on the fly).
enum Val<'v> {
    Node(NodeId),
    Global(&'v str, &'v str),
    Str(PyStr),
    Bytes(Vec<u8>),
    Int(i64),
    Tuple(Vec<Val<'v>>),
    List(Vec<NodeId>),
    Dict(Vec<(NodeId, NodeId)>),
    None,
    EmptyTuple,
    Latin1,
}

struct Pickler<'a> {
    p: &'a Pickle,
    o: &'a DumpOptions,
    proto: u8,
    out: Vec<u8>,
    framing: bool,
    frame_start: Option<usize>,
    /// Memo entries of keys that are not graph nodes.
    memo: MemoMap,
    /// Memo index per node id (`NO_MEMO` when absent): dense, no hashing on the hot path.
    memo_nodes: Vec<u32>,
    /// Number of memo entries written so far (the next index).
    memo_len: u32,
    fresh: u64,
    depth: usize,
    buffers: Vec<Vec<u8>>,
}

fn small_str_key(s: &PyStr) -> Option<u32> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Some(u32::MAX);
    }
    if b.len() > 2 {
        return None;
    }
    let mut it = s.code_points();
    match (it.next(), it.next()) {
        (Some(c), None) if c < 256 => Some(c),
        _ => None,
    }
}

fn small_bytes_key(b: &[u8]) -> Option<u16> {
    match b {
        [] => Some(256),
        [c] => Some(*c as u16),
        _ => None,
    }
}

impl<'a> Pickler<'a> {
    // ---- output and framing (spec §1.3) ----

    fn write(&mut self, b: &[u8]) {
        if self.framing && self.frame_start.is_none() {
            self.frame_start = Some(self.out.len());
            self.out.extend_from_slice(&[0u8; FRAME_HEADER_SIZE]);
        }
        self.out.extend_from_slice(b);
    }

    fn commit_frame(&mut self) {
        if !self.framing {
            return;
        }
        let Some(s) = self.frame_start.take() else {
            return;
        };
        let len = self.out.len() - s - FRAME_HEADER_SIZE;
        if len >= FRAME_SIZE_MIN {
            self.out[s] = op::FRAME;
            self.out[s + 1..s + 9].copy_from_slice(&(len as u64).to_le_bytes());
        } else {
            self.out.drain(s..s + FRAME_HEADER_SIZE);
        }
    }

    fn opcode_boundary(&mut self) {
        if let (true, Some(s)) = (self.framing, self.frame_start) {
            if self.out.len() - s - FRAME_HEADER_SIZE >= FRAME_SIZE_TARGET {
                self.commit_frame();
            }
        }
    }

    /// Header + payload; payloads of ≥ 64 KiB go outside any frame (3.7+).
    fn write_bytes(&mut self, header: &[u8], data: &[u8]) {
        if data.len() >= FRAME_SIZE_TARGET {
            let framing = self.framing;
            self.commit_frame();
            self.framing = false;
            self.write(header);
            self.write(data);
            self.framing = framing;
        } else {
            self.write(header);
            self.write(data);
        }
    }

    // ---- memo (spec §1.4) ----

    fn memo_put(&mut self, key: Key) {
        if self.o.fast {
            return;
        }
        let idx = self.memo_len;
        self.memo_len += 1;
        self.memo_insert(key, idx);
        if self.proto >= 4 {
            self.write(&[op::MEMOIZE]);
        } else if self.proto >= 1 {
            if idx < 256 {
                self.write(&[op::BINPUT, idx as u8]);
            } else {
                let b = op_with_le(op::LONG_BINPUT, &idx.to_le_bytes());
                self.write(&b);
            }
        } else {
            self.write(format!("p{idx}\n").as_bytes());
        }
    }

    fn memo_get(&mut self, idx: u32) {
        if self.proto >= 1 {
            if idx < 256 {
                self.write(&[op::BINGET, idx as u8]);
            } else {
                let b = op_with_le(op::LONG_BINGET, &idx.to_le_bytes());
                self.write(&b);
            }
        } else {
            self.write(format!("g{idx}\n").as_bytes());
        }
    }

    fn memo_insert(&mut self, key: Key, idx: u32) {
        match key {
            Key::Node(id) => self.memo_nodes[id] = idx,
            // fresh objects are never looked up again
            Key::Fresh(_) => {}
            other => {
                self.memo.insert(other, idx);
            }
        }
    }

    fn lookup(&self, key: &Key) -> Option<u32> {
        if self.o.fast {
            return None;
        }
        match key {
            Key::Node(id) => Some(self.memo_nodes[*id]).filter(|&i| i != NO_MEMO),
            Key::Fresh(_) => None,
            other => self.memo.get(other).copied(),
        }
    }

    fn fresh_key(&mut self) -> Key {
        self.fresh += 1;
        Key::Fresh(self.fresh)
    }

    fn node_key(&self, id: NodeId) -> Key {
        match self.p.node(id) {
            Node::Str(s) => match small_str_key(s) {
                Some(k) => Key::SmallStr(k),
                None => Key::Node(id),
            },
            Node::Bytes(b) => match small_bytes_key(b) {
                Some(k) => Key::SmallBytes(k),
                None => Key::Node(id),
            },
            Node::Global { module, name } => Key::Global(module.clone(), name.clone()),
            _ => Key::Node(id),
        }
    }

    // ---- save ----

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Error::BadArgument(
                "RecursionError: maximum recursion depth exceeded while pickling an object".into(),
            ));
        }
        Ok(())
    }

    fn save(&mut self, id: NodeId, pers_save: bool) -> Result<()> {
        // spec §1.3: a frame that reached 64 KiB is committed when the next object's save
        // starts (so a container's closing opcode stays in the frame of its last item)
        self.opcode_boundary();
        self.enter()?;
        let r = self.save_inner(id, pers_save);
        self.depth -= 1;
        r
    }

    fn save_inner(&mut self, id: NodeId, pers_save: bool) -> Result<()> {
        if id >= self.p.nodes.len() {
            return Err(Error::BadArgument(format!("node {id} is not in the graph")));
        }
        if !pers_save {
            if let Some(f) = &self.o.persistent_id {
                if let Some(pid) = f(self.p, id) {
                    return self.save_pers(pid);
                }
            }
        }
        let p = self.p;
        match p.node(id) {
            Node::None => {
                self.write(&[op::NONE]);
                return Ok(());
            }
            Node::Bool(b) => {
                self.save_bool(*b);
                return Ok(());
            }
            Node::Int(i) => {
                return self.save_int(i);
            }
            Node::Float(f) => {
                self.save_float(*f);
                return Ok(());
            }
            _ => {}
        }
        let key = self.node_key(id);
        if let Some(idx) = self.lookup(&key) {
            self.memo_get(idx);
            return Ok(());
        }
        if let Some(f) = &self.o.reducer_override {
            if let Some(other) = f(p, id) {
                if other != id {
                    return self.save_replacement(id, other);
                }
            }
        }
        match p.node(id) {
            Node::Str(s) => self.save_str(s, key),
            Node::Bytes(b) => self.save_bytes(b, key),
            Node::ByteArray(b) => self.save_bytearray(b, key),
            Node::PickleBuffer { data, readonly } => self.save_picklebuffer(data, *readonly, key),
            Node::List(items) => self.save_list(items, key),
            Node::Tuple(items) => self.save_tuple(id, items),
            Node::Dict(items) => self.save_dict(items, key),
            Node::Set(items) => self.save_set(items, key),
            Node::FrozenSet(items) => self.save_frozenset(id, items, key),
            Node::Global { module, name } => self.save_global(module, name),
            Node::Instance(inst) => self.save_instance(id, inst),
            Node::PersistentId { pid } => self.save_pers(*pid),
            Node::None | Node::Bool(_) | Node::Int(_) | Node::Float(_) => Ok(()),
        }
    }

    /// reducer_override result: written in place of `id`, then memoized under `id`'s identity.
    fn save_replacement(&mut self, id: NodeId, other: NodeId) -> Result<()> {
        self.save(other, false)?;
        let key = self.node_key(id);
        if self.lookup(&key).is_none() {
            if let Some(idx) = self.lookup(&self.node_key(other)) {
                if !self.o.fast {
                    self.memo_insert(key, idx);
                }
            }
        }
        Ok(())
    }

    fn save_val(&mut self, v: &Val<'_>) -> Result<()> {
        if !matches!(v, Val::Node(_)) {
            self.opcode_boundary();
        }
        match v {
            Val::Node(id) => self.save(*id, false),
            Val::None => {
                self.write(&[op::NONE]);
                Ok(())
            }
            Val::EmptyTuple => {
                self.write_empty_tuple();
                Ok(())
            }
            Val::Global(m, n) => {
                self.enter()?;
                let key = Key::Global(m.to_string(), n.to_string());
                let r = match self.lookup(&key) {
                    Some(i) => {
                        self.memo_get(i);
                        Ok(())
                    }
                    None => self.save_global(m, n),
                };
                self.depth -= 1;
                r
            }
            Val::Latin1 => {
                match self.lookup(&Key::Latin1) {
                    Some(i) => self.memo_get(i),
                    None => self.save_str(&PyStr::from("latin1"), Key::Latin1)?,
                }
                Ok(())
            }
            Val::Str(s) => {
                let key = match small_str_key(s) {
                    Some(k) => Key::SmallStr(k),
                    None => self.fresh_key(),
                };
                match self.lookup(&key) {
                    Some(i) => self.memo_get(i),
                    None => self.save_str(s, key)?,
                }
                Ok(())
            }
            Val::Bytes(b) => {
                self.enter()?;
                let key = match small_bytes_key(b) {
                    Some(k) => Key::SmallBytes(k),
                    None => self.fresh_key(),
                };
                let r = match self.lookup(&key) {
                    Some(i) => {
                        self.memo_get(i);
                        Ok(())
                    }
                    None => self.save_bytes(b, key),
                };
                self.depth -= 1;
                r
            }
            Val::Int(i) => self.save_int(&PyInt::from(*i)),
            Val::List(items) => {
                self.enter()?;
                let key = self.fresh_key();
                let r = self.save_list(items, key);
                self.depth -= 1;
                r
            }
            Val::Dict(items) => {
                self.enter()?;
                let key = self.fresh_key();
                let r = self.save_dict_generic(items, key);
                self.depth -= 1;
                r
            }
            Val::Tuple(items) => {
                self.enter()?;
                let r = self.save_fresh_tuple(items);
                self.depth -= 1;
                r
            }
        }
    }

    fn save_bool(&mut self, b: bool) {
        if self.proto >= 2 {
            self.write(&[if b { op::NEWTRUE } else { op::NEWFALSE }]);
        } else {
            self.write(if b { b"I01\n" } else { b"I00\n" });
        }
    }

    fn save_int(&mut self, i: &PyInt) -> Result<()> {
        if let Some(v) = i.to_i64() {
            if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
                if self.proto >= 1 {
                    if (0..=0xff).contains(&v) {
                        self.write(&[op::BININT1, v as u8]);
                    } else if (0..=0xffff).contains(&v) {
                        let b = (v as u16).to_le_bytes();
                        self.write(&[op::BININT2, b[0], b[1]]);
                    } else {
                        let b = (v as i32).to_le_bytes();
                        self.write(&[op::BININT, b[0], b[1], b[2], b[3]]);
                    }
                } else {
                    self.write(format!("I{v}\n").as_bytes());
                }
                return Ok(());
            }
        }
        if self.proto >= 2 {
            let b = i.to_le_twos_complement();
            if b.len() < 256 {
                let mut h = vec![op::LONG1, b.len() as u8];
                h.extend_from_slice(&b);
                self.write(&h);
            } else {
                let mut h = vec![op::LONG4];
                h.extend_from_slice(&(b.len() as i32).to_le_bytes());
                h.extend_from_slice(&b);
                self.write(&h);
            }
        } else {
            // Protocols 0 and 1 write the decimal text: CPython's digit limit applies.
            let text = i
                .to_decimal()
                .map_err(|m| Error::BadArgument(format!("ValueError: {m}")))?;
            self.write(format!("L{text}L\n").as_bytes());
        }
        Ok(())
    }

    fn save_float(&mut self, f: f64) {
        if self.proto >= 1 {
            let mut b = [0u8; 9];
            b[0] = op::BINFLOAT;
            b[1..].copy_from_slice(&f.to_be_bytes());
            self.write(&b);
        } else {
            self.write(format!("F{}\n", float_repr(f)).as_bytes());
        }
    }

    fn save_str(&mut self, s: &PyStr, key: Key) -> Result<()> {
        if self.proto == 0 {
            let mut b = Vec::with_capacity(s.as_bytes().len() + 2);
            b.push(op::UNICODE);
            encode_raw_unicode_escape_p0(s, &mut b);
            b.push(b'\n');
            self.write(&b);
        } else {
            let data = s.as_bytes();
            let n = data.len();
            if n <= 0xff && self.proto >= 4 {
                self.write_bytes(&[op::SHORT_BINUNICODE, n as u8], data);
            } else if n as u64 > 0xffff_ffff && self.proto >= 4 {
                let h = op_with_le(op::BINUNICODE8, &(n as u64).to_le_bytes());
                self.write_bytes(&h, data);
            } else {
                let h = op_with_le(op::BINUNICODE, &(n as u32).to_le_bytes());
                self.write_bytes(&h, data);
            }
        }
        self.memo_put(key);
        Ok(())
    }

    fn save_bytes_data(&mut self, data: &[u8]) {
        let n = data.len();
        if n <= 0xff {
            self.write_bytes(&[op::SHORT_BINBYTES, n as u8], data);
        } else if n as u64 <= 0xffff_ffff {
            let h = op_with_le(op::BINBYTES, &(n as u32).to_le_bytes());
            self.write_bytes(&h, data);
        } else {
            let h = op_with_le(op::BINBYTES8, &(n as u64).to_le_bytes());
            self.write_bytes(&h, data);
        }
    }

    fn save_bytes(&mut self, b: &[u8], key: Key) -> Result<()> {
        if self.proto < 3 {
            // spec §1.5: bytes below protocol 3 reduce to _codecs.encode(latin1 str, 'latin1')
            // or bytes() when empty; 'latin1' is one interned object in 3.13.
            if b.is_empty() {
                return self.save_reduce_vals(
                    Val::Global("builtins", "bytes"),
                    Val::EmptyTuple,
                    Some(key),
                );
            }
            let s = PyStr::from_code_points(b.iter().map(|&c| c as u32));
            return self.save_reduce_vals(
                Val::Global("_codecs", "encode"),
                Val::Tuple(vec![Val::Str(s), Val::Latin1]),
                Some(key),
            );
        }
        self.save_bytes_data(b);
        self.memo_put(key);
        Ok(())
    }

    fn save_bytearray(&mut self, b: &[u8], key: Key) -> Result<()> {
        if self.proto < 5 {
            // bytearray.__reduce_ex__: (bytearray, (bytes(self),)) or (bytearray, ())
            let args = if b.is_empty() {
                Val::EmptyTuple
            } else {
                Val::Tuple(vec![Val::Bytes(b.to_vec())])
            };
            return self.save_reduce_vals(Val::Global("builtins", "bytearray"), args, Some(key));
        }
        let h = op_with_le(op::BYTEARRAY8, &(b.len() as u64).to_le_bytes());
        self.write_bytes(&h, b);
        self.memo_put(key);
        Ok(())
    }

    fn save_picklebuffer(&mut self, data: &[u8], readonly: bool, key: Key) -> Result<()> {
        if self.proto < 5 {
            return Err(Error::BadArgument(
                "PicklingError: PickleBuffer can only be pickled with protocol >= 5".into(),
            ));
        }
        let in_band = match &self.o.buffer_callback {
            None => true,
            Some(f) => f(data, readonly),
        };
        if in_band {
            if readonly {
                self.save_bytes_data(data);
            } else {
                let h = op_with_le(op::BYTEARRAY8, &(data.len() as u64).to_le_bytes());
                self.write_bytes(&h, data);
            }
            self.memo_put(key);
        } else {
            self.buffers.push(data.to_vec());
            self.write(&[op::NEXT_BUFFER]);
            if readonly {
                self.write(&[op::READONLY_BUFFER]);
            }
        }
        Ok(())
    }

    fn write_empty_tuple(&mut self) {
        if self.proto >= 1 {
            self.write(&[op::EMPTY_TUPLE]);
        } else {
            self.write(&[op::MARK, op::TUPLE]);
        }
    }

    fn save_tuple(&mut self, id: NodeId, items: &[NodeId]) -> Result<()> {
        let n = items.len();
        if n == 0 {
            self.write_empty_tuple();
            return Ok(());
        }
        let key = Key::Node(id);
        if n <= 3 && self.proto >= 2 {
            for &i in items {
                self.save(i, false)?;
            }
            if let Some(idx) = self.lookup(&key) {
                // recursive tuple (spec §1.4): discard the elements, fetch from the memo
                for _ in 0..n {
                    self.write(&[op::POP]);
                }
                self.memo_get(idx);
                return Ok(());
            }
            self.write(&[op::TUPLE1 + n as u8 - 1]);
        } else {
            self.write(&[op::MARK]);
            for &i in items {
                self.save(i, false)?;
            }
            if let Some(idx) = self.lookup(&key) {
                if self.proto >= 1 {
                    self.write(&[op::POP_MARK]);
                } else {
                    for _ in 0..=n {
                        self.write(&[op::POP]);
                    }
                }
                self.memo_get(idx);
                return Ok(());
            }
            self.write(&[op::TUPLE]);
        }
        self.memo_put(key);
        Ok(())
    }

    fn save_fresh_tuple(&mut self, items: &[Val<'_>]) -> Result<()> {
        let n = items.len();
        if n == 0 {
            self.write_empty_tuple();
            return Ok(());
        }
        if n <= 3 && self.proto >= 2 {
            for v in items {
                self.save_val(v)?;
            }
            self.write(&[op::TUPLE1 + n as u8 - 1]);
        } else {
            self.write(&[op::MARK]);
            for v in items {
                self.save_val(v)?;
            }
            self.write(&[op::TUPLE]);
        }
        let k = self.fresh_key();
        self.memo_put(k);
        Ok(())
    }

    fn save_list(&mut self, items: &[NodeId], key: Key) -> Result<()> {
        if self.proto >= 1 {
            self.write(&[op::EMPTY_LIST]);
        } else {
            self.write(&[op::MARK, op::LIST]);
        }
        self.memo_put(key);
        if items.is_empty() {
            return Ok(());
        }
        if self.proto > 0 {
            // batch_list_exact: APPEND only when the whole list has one item (spec §1.6)
            if items.len() == 1 {
                self.save(items[0], false)?;
                self.write(&[op::APPEND]);
                return Ok(());
            }
            for chunk in items.chunks(BATCHSIZE) {
                self.save_appends(chunk)?;
            }
            Ok(())
        } else {
            self.batch_list(items)
        }
    }

    /// batch_list over an iterator (protocol 0 lists, reduce `listitems`): a final batch of
    /// one item is written with APPEND.
    fn batch_list(&mut self, items: &[NodeId]) -> Result<()> {
        if self.proto == 0 {
            for &i in items {
                self.save(i, false)?;
                self.write(&[op::APPEND]);
            }
            return Ok(());
        }
        for chunk in items.chunks(BATCHSIZE) {
            if chunk.len() == 1 {
                self.save(chunk[0], false)?;
                self.write(&[op::APPEND]);
            } else {
                self.save_appends(chunk)?;
            }
        }
        Ok(())
    }

    /// One `MARK item… APPENDS` batch.
    fn save_appends(&mut self, chunk: &[NodeId]) -> Result<()> {
        self.write(&[op::MARK]);
        for &i in chunk {
            self.save(i, false)?;
        }
        self.write(&[op::APPENDS]);
        Ok(())
    }

    fn save_dict(&mut self, items: &[(NodeId, NodeId)], key: Key) -> Result<()> {
        if self.proto >= 1 {
            self.write(&[op::EMPTY_DICT]);
        } else {
            self.write(&[op::MARK, op::DICT]);
        }
        self.memo_put(key);
        if items.is_empty() {
            return Ok(());
        }
        if self.proto > 0 {
            // batch_dict_exact: SETITEM only for a one-item dict; a size that is a multiple
            // of 1000 ends with an empty MARK SETITEMS (verified against CPython).
            if items.len() == 1 {
                self.save(items[0].0, false)?;
                self.save(items[0].1, false)?;
                self.write(&[op::SETITEM]);
                return Ok(());
            }
            let mut pos = 0;
            loop {
                self.write(&[op::MARK]);
                let mut i = 0;
                while pos < items.len() {
                    self.save(items[pos].0, false)?;
                    self.save(items[pos].1, false)?;
                    pos += 1;
                    i += 1;
                    if i == BATCHSIZE {
                        break;
                    }
                }
                self.write(&[op::SETITEMS]);
                if i != BATCHSIZE {
                    break;
                }
            }
            Ok(())
        } else {
            self.batch_dict(items)
        }
    }

    /// A dict CPython builds on the fly (exact dict): same batching as [`Self::save_dict`].
    fn save_dict_generic(&mut self, items: &[(NodeId, NodeId)], key: Key) -> Result<()> {
        self.save_dict(items, key)
    }

    fn batch_dict(&mut self, items: &[(NodeId, NodeId)]) -> Result<()> {
        if self.proto == 0 {
            for &(k, v) in items {
                self.save(k, false)?;
                self.save(v, false)?;
                self.write(&[op::SETITEM]);
            }
            return Ok(());
        }
        for chunk in items.chunks(BATCHSIZE) {
            if chunk.len() == 1 {
                self.save(chunk[0].0, false)?;
                self.save(chunk[0].1, false)?;
                self.write(&[op::SETITEM]);
            } else {
                self.write(&[op::MARK]);
                for &(k, v) in chunk {
                    self.save(k, false)?;
                    self.save(v, false)?;
                }
                self.write(&[op::SETITEMS]);
            }
        }
        Ok(())
    }

    fn save_set(&mut self, items: &[NodeId], key: Key) -> Result<()> {
        if self.proto < 4 {
            // set.__reduce__: (set, (list(self),), None)
            return self.save_reduce_vals(
                Val::Global("builtins", "set"),
                Val::Tuple(vec![Val::List(items.to_vec())]),
                Some(key),
            );
        }
        self.write(&[op::EMPTY_SET]);
        self.memo_put(key);
        if items.is_empty() {
            return Ok(());
        }
        let mut pos = 0;
        loop {
            self.write(&[op::MARK]);
            let mut i = 0;
            while pos < items.len() {
                self.save(items[pos], false)?;
                pos += 1;
                i += 1;
                if i == BATCHSIZE {
                    break;
                }
            }
            self.write(&[op::ADDITEMS]);
            if i != BATCHSIZE {
                break;
            }
        }
        Ok(())
    }

    fn save_frozenset(&mut self, id: NodeId, items: &[NodeId], key: Key) -> Result<()> {
        if self.proto < 4 {
            return self.save_reduce_vals(
                Val::Global("builtins", "frozenset"),
                Val::Tuple(vec![Val::List(items.to_vec())]),
                Some(key),
            );
        }
        self.write(&[op::MARK]);
        for &i in items {
            self.save(i, false)?;
        }
        if let Some(idx) = self.lookup(&Key::Node(id)) {
            self.write(&[op::POP_MARK]);
            self.memo_get(idx);
            return Ok(());
        }
        self.write(&[op::FROZENSET]);
        self.memo_put(key);
        Ok(())
    }

    /// The GLOBAL line names for this protocol (py2 names below 3 with fix_imports).
    fn global_names(&self, module: &str, name: &str) -> (String, String) {
        if self.proto < 3 && self.o.fix_imports {
            if let Ok(i) =
                REVERSE_NAME_MAPPING.binary_search_by(|((m, n), _)| (*m, *n).cmp(&(module, name)))
            {
                let (m, n) = REVERSE_NAME_MAPPING[i].1;
                return (m.to_string(), n.to_string());
            }
            if let Ok(i) = REVERSE_IMPORT_MAPPING.binary_search_by(|(m, _)| (*m).cmp(module)) {
                return (REVERSE_IMPORT_MAPPING[i].1.to_string(), name.to_string());
            }
        }
        (module.to_string(), name.to_string())
    }

    fn write_global_line(&mut self, module: &str, name: &str) -> Result<()> {
        let (m, n) = self.global_names(module, name);
        if self.proto < 3 && (!m.is_ascii() || !n.is_ascii()) {
            return Err(Error::BadArgument(format!(
                "PicklingError: can't pickle module identifier '{m}' using pickle protocol {}",
                self.proto
            )));
        }
        if m.contains('\n') || n.contains('\n') {
            return Err(Error::BadArgument(format!(
                "PicklingError: Can't pickle global {m}.{n}: name contains a newline"
            )));
        }
        let mut b = Vec::with_capacity(m.len() + n.len() + 3);
        b.push(op::GLOBAL);
        b.extend_from_slice(m.as_bytes());
        b.push(b'\n');
        b.extend_from_slice(n.as_bytes());
        b.push(b'\n');
        self.write(&b);
        Ok(())
    }

    fn save_global(&mut self, module: &str, name: &str) -> Result<()> {
        if self.proto >= 2 {
            if let Some(code) = self.o.extensions.code_of(module, name) {
                // EXT-coded globals are not memoized (spec §1.4)
                if code <= 0xff {
                    self.write(&[op::EXT1, code as u8]);
                } else if code <= 0xffff {
                    let b = (code as u16).to_le_bytes();
                    self.write(&[op::EXT2, b[0], b[1]]);
                } else {
                    let b = code.to_le_bytes();
                    self.write(&[op::EXT4, b[0], b[1], b[2], b[3]]);
                }
                return Ok(());
            }
        }
        if self.proto >= 4 {
            // a class's __module__ is one (interned) str object per module; a C module's
            // builtin function names its module by another str object, so
            // `array._array_reconstructor`'s 'array' is not the one `array.array` shares
            // (observed in 3.13's array pickles from protocol 4, multi-version corpus).
            let key = if (module, name) == ("array", "_array_reconstructor") {
                self.fresh_key()
            } else {
                Key::ModuleName(module.to_string())
            };
            self.opcode_boundary();
            match self.lookup(&key) {
                Some(i) => self.memo_get(i),
                None => self.save_str(&PyStr::from(module), key)?,
            }
            self.save_val(&Val::Str(PyStr::from(name)))?;
            self.write(&[op::STACK_GLOBAL]);
        } else if let Some((parent, last)) = name.rsplit_once('.') {
            // 3.13 (spec §1.7): getattr(parent, 'last'); parent GLOBAL and the argument
            // tuple are not memoized.
            self.save_val(&Val::Global("builtins", "getattr"))?;
            if self.proto >= 2 {
                self.write_unmemoized_global(module, parent)?;
                self.save_val(&Val::Str(PyStr::from(last)))?;
                self.write(&[op::TUPLE2]);
            } else {
                self.write(&[op::MARK]);
                self.write_unmemoized_global(module, parent)?;
                self.save_val(&Val::Str(PyStr::from(last)))?;
                self.write(&[op::TUPLE]);
            }
            self.write(&[op::REDUCE]);
        } else {
            self.write_global_line(module, name)?;
        }
        self.memo_put(Key::Global(module.to_string(), name.to_string()));
        Ok(())
    }

    fn write_unmemoized_global(&mut self, module: &str, name: &str) -> Result<()> {
        if let Some((parent, last)) = name.rsplit_once('.') {
            self.save_val(&Val::Global("builtins", "getattr"))?;
            if self.proto >= 2 {
                self.write_unmemoized_global(module, parent)?;
                self.save_val(&Val::Str(PyStr::from(last)))?;
                self.write(&[op::TUPLE2]);
            } else {
                self.write(&[op::MARK]);
                self.write_unmemoized_global(module, parent)?;
                self.save_val(&Val::Str(PyStr::from(last)))?;
                self.write(&[op::TUPLE]);
            }
            self.write(&[op::REDUCE]);
            Ok(())
        } else {
            self.write_global_line(module, name)
        }
    }

    fn save_pers(&mut self, pid: NodeId) -> Result<()> {
        if self.proto == 0 {
            let ok = match self.p.nodes.get(pid) {
                Some(Node::Str(s)) => s.as_str().filter(|t| t.is_ascii() && !t.contains('\n')),
                _ => None,
            };
            let Some(t) = ok else {
                return Err(Error::BadArgument(
                    "PicklingError: persistent IDs in protocol 0 must be ASCII strings".into(),
                ));
            };
            let mut b = vec![op::PERSID];
            b.extend_from_slice(t.as_bytes());
            b.push(b'\n');
            self.write(&b);
        } else {
            self.save(pid, true)?;
            self.write(&[op::BINPERSID]);
        }
        Ok(())
    }

    /// save_reduce for an object CPython reduces on the fly: `callable(*args)` + memo.
    fn save_reduce_vals(
        &mut self,
        callable: Val<'_>,
        args: Val<'_>,
        key: Option<Key>,
    ) -> Result<()> {
        self.save_val(&callable)?;
        self.save_val(&args)?;
        self.write(&[op::REDUCE]);
        if let Some(key) = key {
            if let Some(idx) = self.lookup(&key) {
                self.write(&[op::POP]);
                self.memo_get(idx);
                return Ok(());
            }
            self.memo_put(key);
        }
        Ok(())
    }

    fn save_instance(&mut self, id: NodeId, inst: &Instance) -> Result<()> {
        let p = self.p;
        let mut list_items: &[NodeId] = &inst.list_items;
        let mut dict_items: &[(NodeId, NodeId)] = &inst.dict_items;
        match &inst.construct {
            Construct::Reduce { callable, args } => {
                match array_machine_form(p, *callable, *args).filter(|_| self.proto >= 3) {
                    // 3.13's array.__reduce_ex__ from protocol 3 (stdlib_reduce::ArrayItem).
                    Some((typecode, mformat, data)) => {
                        self.save_val(&Val::Global("array", "_array_reconstructor"))?;
                        self.save_val(&Val::Tuple(vec![
                            Val::Node(*callable),
                            Val::Node(typecode),
                            Val::Int(mformat),
                            Val::Bytes(data),
                        ]))?;
                    }
                    None => {
                        self.save(*callable, false)?;
                        self.save(*args, false)?;
                    }
                }
                self.write(&[op::REDUCE]);
            }
            Construct::NewObj { cls, args } => {
                if self.proto >= 2 {
                    self.save(*cls, false)?;
                    match user_string_newargs(p, *cls, inst.state) {
                        Some(data) if matches!(p.node(*args), Node::Tuple(a) if a.is_empty()) => {
                            self.save_val(&Val::Tuple(vec![Val::Node(data)]))?
                        }
                        _ => self.save(*args, false)?,
                    }
                    self.write(&[op::NEWOBJ]);
                } else {
                    // copyreg._reduce_ex picks the first builtin base; infer it from what
                    // the object holds (list/dict items, or an int/str/float argument).
                    let base = self.infer_base(args, list_items, dict_items, inst.state);
                    let inferred = base.is_some();
                    self.write_reconstructor(*cls, base)?;
                    if inferred {
                        list_items = &[];
                        dict_items = &[];
                    }
                }
            }
            Construct::NewObjEx { cls, args, kwargs } => {
                if self.proto >= 4 {
                    self.save(*cls, false)?;
                    self.save(*args, false)?;
                    self.save(*kwargs, false)?;
                    self.write(&[op::NEWOBJ_EX]);
                } else if self.proto >= 2 {
                    self.write_partial_new(*cls, *args, *kwargs)?;
                } else {
                    self.write_reconstructor(*cls, None)?;
                }
            }
            Construct::Reconstructor {
                cls,
                base,
                base_state,
            } => {
                if self.proto < 2 {
                    self.write_reconstructor(
                        *cls,
                        Some((BaseRef::Node(*base), BaseRef::Node(*base_state))),
                    )?;
                } else {
                    // protocol ≥ 2 reduces the same object with copyreg.__newobj__
                    self.save(*cls, false)?;
                    let newargs = user_string_newargs(p, *cls, inst.state);
                    match p.node(*base_state) {
                        _ if newargs.is_some() && is_builtins_object(p, *base) => self
                            .save_val(&Val::Tuple(newargs.into_iter().map(Val::Node).collect()))?,
                        _ if is_builtins_object(p, *base) => self.write_empty_tuple(),
                        Node::List(items) => {
                            self.write_empty_tuple();
                            list_items = items;
                        }
                        Node::Dict(items) => {
                            self.write_empty_tuple();
                            dict_items = items;
                        }
                        _ => self.save_val(&Val::Tuple(vec![Val::Node(*base_state)]))?,
                    }
                    self.write(&[op::NEWOBJ]);
                }
            }
            Construct::Call { cls, args, inst } => {
                self.write(&[op::MARK]);
                match (self.proto, *inst, p.node(*cls)) {
                    (0, true, Node::Global { module, name }) => {
                        for &a in args {
                            self.save(a, false)?;
                        }
                        let (m, n) = self.global_names(module, name);
                        self.write(format!("i{m}\n{n}\n").as_bytes());
                    }
                    _ => {
                        self.save(*cls, false)?;
                        for &a in args {
                            self.save(a, false)?;
                        }
                        self.write(&[op::OBJ]);
                    }
                }
            }
        }
        let key = Key::Node(id);
        if let Some(idx) = self.lookup(&key) {
            self.write(&[op::POP]);
            self.memo_get(idx);
            return Ok(());
        }
        self.memo_put(key);
        if !list_items.is_empty() {
            self.batch_list(list_items)?;
        }
        if !dict_items.is_empty() {
            self.batch_dict(dict_items)?;
        }
        if let Some(s) = inst.state {
            self.save(s, false)?;
            self.write(&[op::BUILD]);
        }
        Ok(())
    }

    /// The builtin base and its state for `_reconstructor`, when the object shows it.
    fn infer_base(
        &mut self,
        args: &NodeId,
        list_items: &[NodeId],
        dict_items: &[(NodeId, NodeId)],
        state: Option<NodeId>,
    ) -> Option<(BaseRef, BaseRef)> {
        let p = self.p;
        if !list_items.is_empty() && dict_items.is_empty() {
            return Some((BaseRef::Global("list"), BaseRef::List(list_items.to_vec())));
        }
        if !dict_items.is_empty() && list_items.is_empty() {
            return Some((BaseRef::Global("dict"), BaseRef::Dict(dict_items.to_vec())));
        }
        if let (Node::Tuple(a), None) = (p.node(*args), state) {
            if let [x] = a.as_slice() {
                let base = match p.node(*x) {
                    Node::Int(_) => "int",
                    Node::Str(_) => "str",
                    Node::Float(_) => "float",
                    _ => return None,
                };
                return Some((BaseRef::Global(base), BaseRef::Node(*x)));
            }
        }
        None
    }

    /// `copyreg._reconstructor(cls, base, state)` REDUCE (protocol 0/1 default reduction).
    fn write_reconstructor(&mut self, cls: NodeId, base: Option<(BaseRef, BaseRef)>) -> Result<()> {
        self.save_val(&Val::Global("copyreg", "_reconstructor"))?;
        let args = match base {
            Some((b, s)) => Val::Tuple(vec![Val::Node(cls), b.val(), s.val()]),
            None => Val::Tuple(vec![
                Val::Node(cls),
                Val::Global("builtins", "object"),
                Val::None,
            ]),
        };
        self.save_val(&args)?;
        self.write(&[op::REDUCE]);
        Ok(())
    }

    /// `__newobj_ex__` below protocol 4: `partial(cls.__new__, cls, *args, **kwargs)()`
    /// (spec §1.5, corpus `cls_newargs_ex.p2`).
    fn write_partial_new(&mut self, cls: NodeId, args: NodeId, kwargs: NodeId) -> Result<()> {
        let p = self.p;
        let Node::Global { module, name } = p.node(cls) else {
            return Err(Error::BadArgument(
                "PicklingError: NEWOBJ_EX class is not a global".into(),
            ));
        };
        let new_name = format!("{name}.__new__");
        // partial object: REDUCE(partial, (func,)) memoized, BUILD (func, args, kwargs, None)
        self.save_val(&Val::Global("functools", "partial"))?;
        let func_key = Key::Global(module.clone(), new_name.clone());
        self.opcode_boundary();
        self.enter()?;
        match self.lookup(&func_key) {
            Some(i) => self.memo_get(i),
            None => self.save_global(module, &new_name)?,
        }
        self.depth -= 1;
        self.write(&[op::TUPLE1]);
        let k = self.fresh_key();
        self.memo_put(k);
        self.write(&[op::REDUCE]);
        let k = self.fresh_key();
        self.memo_put(k);
        let mut newargs = vec![Val::Node(cls)];
        if let Node::Tuple(a) = p.node(args) {
            newargs.extend(a.iter().map(|&x| Val::Node(x)));
        }
        let kw = match p.node(kwargs) {
            Node::Dict(d) if !d.is_empty() => Val::Node(kwargs),
            _ => Val::None,
        };
        let state = Val::Tuple(vec![
            Val::Global(module, &new_name),
            Val::Tuple(newargs),
            kw,
            Val::None,
        ]);
        self.save_val(&state)?;
        self.write(&[op::BUILD]);
        self.write_empty_tuple();
        self.write(&[op::REDUCE]);
        Ok(())
    }
}

/// An opcode followed by its little-endian argument (up to 8 bytes), without a heap
/// allocation: `.0[..1 + arg.len()]` is the header.
fn op_with_le(code: u8, arg: &[u8]) -> OpHeader {
    let mut b = [0u8; 9];
    b[0] = code;
    // arguments are u32 or u64 little-endian bytes: at most 8, so the slice fits
    b[1..1 + arg.len()].copy_from_slice(arg);
    OpHeader(b, 1 + arg.len())
}

/// A short opcode header built by [`op_with_le`]; derefs to its bytes.
struct OpHeader([u8; 9], usize);

impl std::ops::Deref for OpHeader {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0[..self.1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> Pickle {
        let mut p = Pickle::new();
        let mut cur = p.add(Node::List(Vec::new()));
        for _ in 0..depth {
            cur = p.add(Node::List(vec![cur]));
        }
        p.root = cur;
        p
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        // CPython raises RecursionError past ~1000 levels; so does pydbm, on a test
        // thread's small stack, in debug builds.
        for q in 0..=5 {
            assert!(dumps(&nested(990), q).is_ok());
            let e = dumps(&nested(5000), q).unwrap_err();
            assert!(e.to_string().contains("RecursionError"), "{e}");
        }
        let p = nested(880);
        let bytes = dumps(&p, 2).unwrap();
        let back = super::super::loads(&bytes, &super::super::LoadOptions::default()).unwrap();
        assert!(super::super::repr::repr(&back).is_ok());
        assert!(super::super::repr::repr(&nested(5000)).is_err());
    }
}

#[cfg(test)]
mod buffer_tests {
    use super::*;

    fn buffers() -> Pickle {
        let mut p = Pickle::new();
        let ro = p.add(Node::PickleBuffer {
            data: b"ro".to_vec(),
            readonly: true,
        });
        let rw = p.add(Node::PickleBuffer {
            data: b"rw".to_vec(),
            readonly: false,
        });
        p.root = p.add(Node::List(vec![ro, rw]));
        p
    }

    #[test]
    fn pickle_buffers_in_band_and_out_of_band() {
        // Expected bytes: CPython 3.11 pickle.dumps([PickleBuffer(b'ro'),
        // PickleBuffer(bytearray(b'rw'))], 5) with and without buffer_callback=lambda b: False.
        let p = buffers();
        assert_eq!(
            dumps(&p, 5).unwrap(),
            b"\x80\x05\x95\x16\x00\x00\x00\x00\x00\x00\x00]\x94(C\x02ro\x94\x96\x02\x00\x00\x00\x00\x00\x00\x00rw\x94e.".to_vec()
        );
        let opts = DumpOptions {
            buffer_callback: Some(Arc::new(|_: &[u8], _: bool| false)),
            ..DumpOptions::new(5)
        };
        let (bytes, oob) = dumps_with(&p, &opts).unwrap();
        assert_eq!(
            bytes,
            b"\x80\x05\x95\x08\x00\x00\x00\x00\x00\x00\x00]\x94(\x97\x98\x97e.".to_vec()
        );
        assert_eq!(oob, vec![b"ro".to_vec(), b"rw".to_vec()]);
        // loading with the buffers gives the buffers back, read-only flag included
        let lo = super::super::LoadOptions {
            buffers: Some(oob),
            ..Default::default()
        };
        let back = super::super::loads(&bytes, &lo).unwrap();
        assert!(p.isomorphic(&back));
        assert!(dumps(&p, 4)
            .unwrap_err()
            .to_string()
            .contains("protocol >= 5"));
        let four = DumpOptions {
            buffer_callback: opts.buffer_callback.clone(),
            ..DumpOptions::new(4)
        };
        assert!(dumps_with(&p, &four).is_err());
    }

    #[test]
    fn reducer_override_replaces_a_node() {
        // the override writes node b in place of node a; a later reference to a is a GET
        let mut p = Pickle::new();
        let a = p.add(Node::Str(PyStr::from("original")));
        let b = p.add(Node::Str(PyStr::from("replacement")));
        p.root = p.add(Node::List(vec![a, a]));
        let opts = DumpOptions {
            reducer_override: Some(Arc::new(move |_: &Pickle, id: NodeId| {
                (id == a).then_some(b)
            })),
            ..DumpOptions::new(2)
        };
        let (bytes, _) = dumps_with(&p, &opts).unwrap();
        let back = super::super::loads(&bytes, &Default::default()).unwrap();
        let Node::List(items) = back.node(back.root) else {
            panic!("{back:?}")
        };
        assert_eq!(items[0], items[1]);
        assert_eq!(back.node(items[0]), &Node::Str(PyStr::from("replacement")));
    }
}

/// `(array, (typecode, items))` as 3.13 reduces it from protocol 3: the typecode node, the
/// machine-format code and the machine bytes; `None` when `callable` is not `array.array`,
/// the typecode is one pydbm does not convert, or an item does not fit it.
fn array_machine_form(
    p: &Pickle,
    callable: NodeId,
    args: NodeId,
) -> Option<(NodeId, i64, Vec<u8>)> {
    if !matches!(p.node(callable), Node::Global { module, name } if module == "array" && name == "array")
    {
        return None;
    }
    let Node::Tuple(a) = p.node(args) else {
        return None;
    };
    let [typecode, list] = a.as_slice() else {
        return None;
    };
    let (Node::Str(tc), Node::List(items)) = (p.node(*typecode), p.node(*list)) else {
        return None;
    };
    let item = array_item(tc.as_str()?)?;
    let values = items
        .iter()
        .map(|&i| match p.node(i) {
            Node::Int(v) => Some(ArrayValue::Int(v.clone())),
            Node::Float(x) => Some(ArrayValue::Float(*x)),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some((*typecode, item.mformat, item.encode(&values)?))
}
