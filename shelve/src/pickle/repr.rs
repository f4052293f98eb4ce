//! Python `repr()` of loaded values (`pydbm pickle show`): exact for built-in types
//! (str quoting and escapes, bytes, float repr, recursive containers), a readable
//! `Class(...)` structure for instances.

use std::collections::HashSet;

use pydbm_engine::{Error, Result};

use super::printable_table::NON_PRINTABLE;
use super::pystr::PyStr;
use super::text::float_repr;
use super::value::{Construct, Node, NodeId, Pickle};

/// Deepest nesting `repr` follows before failing (CPython's recursion limit is 1000).
const MAX_DEPTH: usize = 900;
/// Most nodes printed: memo GETs make a small pickle a DAG whose printed form doubles per
/// level (a 200-byte pickle can ask for 2^60 nodes; CPython would print until memory runs
/// out).
const MAX_REPR_NODES: usize = 1 << 22;
/// Longest text printed (one long str shared by many references prints many times).
const MAX_REPR_BYTES: usize = 256 << 20;

fn printable(cp: u32) -> bool {
    if (0x20..0x7f).contains(&cp) {
        return true;
    }
    if cp < 0xa1 {
        return false;
    }
    NON_PRINTABLE
        .binary_search_by(|&(a, b)| {
            if cp < a {
                std::cmp::Ordering::Greater
            } else if cp > b {
                std::cmp::Ordering::Less
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_err()
}

/// `repr(str)`: single quotes unless the text has `'` and no `"`.
pub fn str_repr(s: &PyStr) -> String {
    let has_sq = s.as_bytes().contains(&b'\'');
    let has_dq = s.as_bytes().contains(&b'"');
    let q = if has_sq && !has_dq { '"' } else { '\'' };
    let mut out = String::with_capacity(s.as_bytes().len() + 2);
    out.push(q);
    for cp in s.code_points() {
        match cp {
            0x5c => out.push_str("\\\\"),
            0x09 => out.push_str("\\t"),
            0x0a => out.push_str("\\n"),
            0x0d => out.push_str("\\r"),
            c if c == q as u32 => {
                out.push('\\');
                out.push(q);
            }
            c if printable(c) => out.push(char::from_u32(c).unwrap_or('\u{fffd}')),
            c if c < 0x100 => out.push_str(&format!("\\x{c:02x}")),
            c if c < 0x10000 => out.push_str(&format!("\\u{c:04x}")),
            c => out.push_str(&format!("\\U{c:08x}")),
        }
    }
    out.push(q);
    out
}

/// `repr(bytes)`: `b'...'` with the same quote rule.
pub fn bytes_repr(b: &[u8]) -> String {
    let has_sq = b.contains(&b'\'');
    let has_dq = b.contains(&b'"');
    let q = if has_sq && !has_dq { b'"' } else { b'\'' };
    let mut out = String::with_capacity(b.len() + 3);
    out.push('b');
    out.push(q as char);
    for &c in b {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            c if c == q => {
                out.push('\\');
                out.push(q as char);
            }
            0x20..=0x7e => out.push(c as char),
            c => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push(q as char);
    out
}

/// One byte as CPython prints it in "invalid load key, '%c'.": the character if printable
/// ASCII, else `\xNN`.
pub fn char_escape(c: u8) -> String {
    if (0x20..0x7f).contains(&c) {
        (c as char).to_string()
    } else {
        format!("\\x{c:02x}")
    }
}

/// `repr()` of a single immutable atom (`None`, `bool`, `int`, `float`, `str`, `bytes`),
/// exactly as CPython prints it; `None` for any other node (containers and instances are
/// not formatted here) and for an int too long for `int_max_str_digits` (CPython raises).
pub fn atom_repr(node: &Node) -> Option<String> {
    Some(match node {
        Node::None => "None".to_string(),
        Node::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        Node::Int(i) => i.to_decimal().ok()?,
        Node::Float(f) => float_repr(*f),
        Node::Str(s) => str_repr(s),
        Node::Bytes(b) => bytes_repr(b),
        _ => return None,
    })
}

/// `repr()` of the pickle's root value.
pub fn repr(p: &Pickle) -> Result<String> {
    super::big_stack::run(p.nodes.len(), || repr_inner(p))
}

fn repr_inner(p: &Pickle) -> Result<String> {
    let mut r = Repr {
        p,
        active: HashSet::new(),
        depth: 0,
        budget: MAX_REPR_NODES,
    };
    let mut out = String::new();
    r.go(p.root, &mut out)?;
    Ok(out)
}

struct Repr<'a> {
    p: &'a Pickle,
    active: HashSet<NodeId>,
    depth: usize,
    /// Nodes left to print (see [`MAX_REPR_NODES`]).
    budget: usize,
}

const BUILTIN_CLASSES: &[&str] = &[
    "int",
    "str",
    "bytes",
    "bytearray",
    "float",
    "complex",
    "list",
    "tuple",
    "dict",
    "set",
    "frozenset",
    "object",
    "type",
    "bool",
    "range",
    "slice",
    "memoryview",
    "property",
    "BaseException",
    "Exception",
    "ValueError",
    "TypeError",
    "KeyError",
    "IndexError",
    "OSError",
    "RuntimeError",
    "AttributeError",
    "NameError",
    "StopIteration",
    "ZeroDivisionError",
];

impl Repr<'_> {
    fn seq(&mut self, items: &[NodeId], out: &mut String) -> Result<()> {
        for (i, &it) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            self.go(it, out)?;
        }
        Ok(())
    }

    fn pairs(&mut self, items: &[(NodeId, NodeId)], out: &mut String) -> Result<()> {
        for (i, &(k, v)) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            self.go(k, out)?;
            out.push_str(": ");
            self.go(v, out)?;
        }
        Ok(())
    }

    fn go(&mut self, id: NodeId, out: &mut String) -> Result<()> {
        if self.budget == 0 {
            return Err(Error::BadArgument(format!(
                "MemoryError: repr would print more than {MAX_REPR_NODES} objects (shared references expand)"
            )));
        }
        self.budget -= 1;
        if out.len() > MAX_REPR_BYTES {
            return Err(Error::BadArgument(
                "MemoryError: repr longer than 256 MiB".into(),
            ));
        }
        let p = self.p;
        let node = p.node(id);
        let recursive_form = match node {
            Node::List(_) => Some("[...]"),
            Node::Dict(_) => Some("{...}"),
            Node::Tuple(_) => Some("(...)"),
            Node::Set(_) => Some("set(...)"),
            Node::FrozenSet(_) => Some("frozenset(...)"),
            Node::Instance(_) => Some("..."),
            _ => None,
        };
        if let Some(f) = recursive_form {
            if self.active.contains(&id) {
                out.push_str(f);
                return Ok(());
            }
            if self.depth >= MAX_DEPTH {
                return Err(Error::BadArgument(
                    "RecursionError: maximum recursion depth exceeded while getting the repr of an object".into(),
                ));
            }
            self.active.insert(id);
            self.depth += 1;
        }
        let r = self.node(id, node, out);
        if recursive_form.is_some() {
            self.active.remove(&id);
            self.depth -= 1;
        }
        r
    }

    fn node(&mut self, _id: NodeId, node: &Node, out: &mut String) -> Result<()> {
        let p = self.p;
        match node {
            Node::None => out.push_str("None"),
            Node::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
            Node::Int(i) => out.push_str(
                &i.to_decimal()
                    .map_err(|m| Error::BadArgument(format!("ValueError: {m}")))?,
            ),
            Node::Float(f) => out.push_str(&float_repr(*f)),
            Node::Str(s) => out.push_str(&str_repr(s)),
            Node::Bytes(b) => out.push_str(&bytes_repr(b)),
            Node::ByteArray(b) => {
                out.push_str("bytearray(");
                out.push_str(&bytes_repr(b));
                out.push(')');
            }
            Node::PickleBuffer { data, .. } => {
                out.push_str("<pickle.PickleBuffer ");
                out.push_str(&bytes_repr(data));
                out.push('>');
            }
            Node::List(items) => {
                out.push('[');
                self.seq(items, out)?;
                out.push(']');
            }
            Node::Tuple(items) => {
                out.push('(');
                self.seq(items, out)?;
                if items.len() == 1 {
                    out.push(',');
                }
                out.push(')');
            }
            Node::Dict(items) => {
                out.push('{');
                self.pairs(items, out)?;
                out.push('}');
            }
            Node::Set(items) => {
                if items.is_empty() {
                    out.push_str("set()");
                } else {
                    out.push('{');
                    self.seq(items, out)?;
                    out.push('}');
                }
            }
            Node::FrozenSet(items) => {
                if items.is_empty() {
                    out.push_str("frozenset()");
                } else {
                    out.push_str("frozenset({");
                    self.seq(items, out)?;
                    out.push_str("})");
                }
            }
            Node::Global { module, name } => out.push_str(&global_repr(module, name)),
            Node::PersistentId { pid } => {
                out.push_str("<persistent id ");
                self.go(*pid, out)?;
                out.push('>');
            }
            Node::Instance(inst) => {
                let (cls, args): (NodeId, Option<NodeId>) = match &inst.construct {
                    Construct::Reduce { callable, args } => (*callable, Some(*args)),
                    Construct::NewObj { cls, args } => (*cls, Some(*args)),
                    Construct::NewObjEx { cls, args, .. } => (*cls, Some(*args)),
                    Construct::Reconstructor {
                        cls, base_state, ..
                    } => (*cls, Some(*base_state)),
                    Construct::Call { cls, .. } => (*cls, None),
                };
                if let (Node::Global { module, name }, Some(a)) = (p.node(cls), args) {
                    if let Some(s) = self.known(module, name, a, inst)? {
                        out.push_str(&s);
                        return Ok(());
                    }
                }
                match p.node(cls) {
                    Node::Global { module, name } if module == "builtins" => out.push_str(name),
                    Node::Global { module, name } => {
                        out.push_str(module);
                        out.push('.');
                        out.push_str(name);
                    }
                    _ => self.go(cls, out)?,
                }
                out.push('(');
                let mut first = true;
                let mut sep = |out: &mut String| {
                    if !first {
                        out.push_str(", ");
                    }
                    first = false;
                };
                match &inst.construct {
                    Construct::Reduce { args, .. } | Construct::NewObj { args, .. } => {
                        if let Node::Tuple(a) = p.node(*args) {
                            for &x in a {
                                sep(out);
                                self.go(x, out)?;
                            }
                        }
                    }
                    Construct::NewObjEx { args, kwargs, .. } => {
                        if let Node::Tuple(a) = p.node(*args) {
                            for &x in a {
                                sep(out);
                                self.go(x, out)?;
                            }
                        }
                        if let Node::Dict(kw) = p.node(*kwargs) {
                            for &(k, v) in kw {
                                sep(out);
                                match p.node(k) {
                                    Node::Str(s) => out.push_str(s.as_str().unwrap_or("?")),
                                    _ => self.go(k, out)?,
                                }
                                out.push('=');
                                self.go(v, out)?;
                            }
                        }
                    }
                    Construct::Reconstructor { base_state, .. } => {
                        if !matches!(p.node(*base_state), Node::None) {
                            sep(out);
                            self.go(*base_state, out)?;
                        }
                    }
                    Construct::Call { args, .. } => {
                        for &x in args {
                            sep(out);
                            self.go(x, out)?;
                        }
                    }
                }
                if !inst.list_items.is_empty() {
                    sep(out);
                    out.push('[');
                    self.seq(&inst.list_items, out)?;
                    out.push(']');
                }
                if !inst.dict_items.is_empty() {
                    sep(out);
                    out.push('{');
                    self.pairs(&inst.dict_items, out)?;
                    out.push('}');
                }
                if let Some(s) = inst.state {
                    sep(out);
                    out.push_str("state=");
                    self.go(s, out)?;
                }
                out.push(')');
            }
        }
        Ok(())
    }

    /// Reprs of a few stdlib types whose reduce structure determines them fully.
    fn known(
        &mut self,
        module: &str,
        name: &str,
        args: NodeId,
        inst: &super::value::Instance,
    ) -> Result<Option<String>> {
        let p = self.p;
        let a: &[NodeId] = match p.node(args) {
            Node::Tuple(a) => a,
            _ => return Ok(None),
        };
        let num = |id: NodeId| -> Option<f64> {
            match p.node(id) {
                Node::Float(f) => Some(*f),
                Node::Int(i) => i.to_i64().map(|v| v as f64),
                _ => None,
            }
        };
        let mut s = String::new();
        match (module, name, a) {
            ("builtins", "complex", [re, im]) if inst.state.is_none() => {
                let (Some(re), Some(im)) = (num(*re), num(*im)) else {
                    return Ok(None);
                };
                let ims = float_repr(im);
                let ims = ims.strip_suffix(".0").unwrap_or(&ims);
                if re == 0.0 && !re.is_sign_negative() {
                    s = format!("{ims}j");
                } else {
                    let res = float_repr(re);
                    let res = res.strip_suffix(".0").unwrap_or(&res);
                    let sign = if im.is_sign_negative() || im.is_nan() && ims.starts_with('-') {
                        ""
                    } else {
                        "+"
                    };
                    s = format!("({res}{sign}{ims}j)");
                }
            }
            ("builtins", "range", [_, _, _]) | ("builtins", "slice", [_, _, _]) => {
                s.push_str(name);
                s.push('(');
                let a = a.to_vec();
                let last = if name == "range"
                    && matches!(p.node(a[2]), Node::Int(i) if i.to_i64() == Some(1))
                {
                    2
                } else {
                    3
                };
                self.seq(&a[..last], &mut s)?;
                s.push(')');
            }
            ("builtins", "type", [x]) => {
                let n = match p.node(*x) {
                    Node::None => "NoneType",
                    Node::Global { module, name } if module == "builtins" && name == "Ellipsis" => {
                        "ellipsis"
                    }
                    Node::Global { module, name }
                        if module == "builtins" && name == "NotImplemented" =>
                    {
                        "NotImplementedType"
                    }
                    _ => return Ok(None),
                };
                s = format!("<class '{n}'>");
            }
            ("decimal", "Decimal", [v]) => {
                let Node::Str(v) = p.node(*v) else {
                    return Ok(None);
                };
                s = format!("Decimal({})", str_repr(v));
            }
            ("fractions", "Fraction", [n, d]) => {
                s.push_str("Fraction(");
                self.go(*n, &mut s)?;
                s.push_str(", ");
                self.go(*d, &mut s)?;
                s.push(')');
            }
            ("collections", "OrderedDict", []) if inst.list_items.is_empty() => {
                if inst.dict_items.is_empty() {
                    s.push_str("OrderedDict()");
                } else {
                    s.push_str("OrderedDict({");
                    self.pairs(&inst.dict_items.clone(), &mut s)?;
                    s.push_str("})");
                }
            }
            ("collections", "OrderedDict", [l]) if inst.dict_items.is_empty() => {
                // Python 2 form: OrderedDict([[k, v], ...])
                let Node::List(pairs) = p.node(*l) else {
                    return Ok(None);
                };
                let mut items = Vec::new();
                for &pair in pairs {
                    match p.node(pair) {
                        Node::List(kv) | Node::Tuple(kv) if kv.len() == 2 => {
                            items.push((kv[0], kv[1]))
                        }
                        _ => return Ok(None),
                    }
                }
                if items.is_empty() {
                    s.push_str("OrderedDict()");
                } else {
                    s.push_str("OrderedDict({");
                    self.pairs(&items, &mut s)?;
                    s.push_str("})");
                }
            }
            ("collections", "defaultdict", [f]) => {
                s.push_str("defaultdict(");
                self.go(*f, &mut s)?;
                s.push_str(", {");
                self.pairs(&inst.dict_items.clone(), &mut s)?;
                s.push_str("})");
            }
            ("collections", "Counter", [d]) if inst.dict_items.is_empty() => {
                // Counter.__repr__: most_common() order (stable sort by count, descending)
                // when every count is an int, else insertion order (CPython's TypeError fallback).
                let Node::Dict(items) = p.node(*d) else {
                    return Ok(None);
                };
                let mut items = items.clone();
                // (counts beyond i64 also keep insertion order: a known simplification)
                let counts: Option<Vec<i64>> = items
                    .iter()
                    .map(|(_, v)| match p.node(*v) {
                        Node::Int(i) => i.to_i64(),
                        Node::Bool(b) => Some(i64::from(*b)),
                        _ => None,
                    })
                    .collect();
                if let Some(counts) = counts {
                    let mut order: Vec<usize> = (0..items.len()).collect();
                    order.sort_by(|&x, &y| counts[y].cmp(&counts[x]));
                    items = order.into_iter().map(|i| items[i]).collect();
                }
                if items.is_empty() {
                    s.push_str("Counter()");
                } else {
                    s.push_str("Counter({");
                    self.pairs(&items, &mut s)?;
                    s.push_str("})");
                }
            }
            ("collections", "deque", []) => {
                // deque.__reduce__: (deque, ()) or (deque, ((), maxlen)) + list items
                s.push_str("deque([");
                self.seq(&inst.list_items.clone(), &mut s)?;
                s.push_str("])");
            }
            ("collections", "deque", [_, m]) => {
                s.push_str("deque([");
                self.seq(&inst.list_items.clone(), &mut s)?;
                s.push_str("], maxlen=");
                self.go(*m, &mut s)?;
                s.push(')');
            }
            ("datetime", "timedelta", [d, sec, us]) => {
                let (Some(d), Some(sec), Some(us)) =
                    (int_of(p, *d), int_of(p, *sec), int_of(p, *us))
                else {
                    return Ok(None);
                };
                let mut parts = Vec::new();
                for (n, v) in [("days", d), ("seconds", sec), ("microseconds", us)] {
                    if v != 0 {
                        parts.push(format!("{n}={v}"));
                    }
                }
                if parts.is_empty() {
                    parts.push("0".into());
                }
                s = format!("datetime.timedelta({})", parts.join(", "));
            }
            ("datetime", "timezone", [off, rest @ ..]) => {
                let Node::Instance(oi) = p.node(*off) else {
                    return Ok(None);
                };
                let Construct::Reduce { callable, args } = &oi.construct else {
                    return Ok(None);
                };
                let Node::Global { module, name } = p.node(*callable) else {
                    return Ok(None);
                };
                let Some(off_repr) = self.known(&module.clone(), &name.clone(), *args, oi)? else {
                    return Ok(None);
                };
                match rest {
                    [] if off_repr == "datetime.timedelta(0)" => {
                        s.push_str("datetime.timezone.utc")
                    }
                    [] => s = format!("datetime.timezone({off_repr})"),
                    [n] => {
                        let Node::Str(n) = p.node(*n) else {
                            return Ok(None);
                        };
                        s = format!("datetime.timezone({off_repr}, {})", str_repr(n));
                    }
                    _ => return Ok(None),
                }
            }
            ("datetime", kind @ ("date" | "datetime" | "time"), [st, tz @ ..]) => {
                let b: Vec<u8> = match p.node(*st) {
                    Node::Bytes(b) => b.clone(),
                    Node::Str(t) => t.code_points().map(|c| c as u8).collect(),
                    _ => return Ok(None),
                };
                let mut fields: Vec<i64> = Vec::new();
                let mut fold = false;
                match (kind, b.as_slice()) {
                    ("date", [yh, yl, m, d]) => {
                        fields.extend([*yh as i64 * 256 + *yl as i64, *m as i64, *d as i64]);
                    }
                    ("datetime", [yh, yl, m, d, hh, mm, ss, u1, u2, u3]) => {
                        fold = m & 0x80 != 0;
                        fields.extend([
                            *yh as i64 * 256 + *yl as i64,
                            (m & 0x7f) as i64,
                            *d as i64,
                        ]);
                        fields.extend([*hh as i64, *mm as i64, *ss as i64]);
                        fields.push(((*u1 as i64) << 16) | ((*u2 as i64) << 8) | *u3 as i64);
                    }
                    ("time", [hh, mm, ss, u1, u2, u3]) => {
                        fold = hh & 0x80 != 0;
                        fields.extend([(hh & 0x7f) as i64, *mm as i64, *ss as i64]);
                        fields.push(((*u1 as i64) << 16) | ((*u2 as i64) << 8) | *u3 as i64);
                    }
                    _ => return Ok(None),
                }
                if kind != "date" {
                    // repr drops a zero microsecond, then a zero second
                    let n = fields.len();
                    if fields[n - 1] == 0 {
                        fields.pop();
                        if fields[n - 2] == 0 {
                            fields.pop();
                        }
                    }
                }
                let text: Vec<String> = fields.iter().map(|v| v.to_string()).collect();
                s = format!("datetime.{kind}({}", text.join(", "));
                if let [tz] = tz {
                    s.push_str(", tzinfo=");
                    self.go(*tz, &mut s)?;
                }
                if fold {
                    s.push_str(", fold=1");
                }
                s.push(')');
            }
            _ => return Ok(None),
        }
        Ok(Some(s))
    }
}

fn int_of(p: &Pickle, id: NodeId) -> Option<i64> {
    match p.node(id) {
        Node::Int(i) => i.to_i64(),
        _ => None,
    }
}

/// How Python prints a class or function object named `module.name`.
pub fn global_repr(module: &str, name: &str) -> String {
    if module == "builtins" {
        match name {
            "Ellipsis" | "NotImplemented" => return name.to_string(),
            n if BUILTIN_CLASSES.contains(&n) => return format!("<class '{n}'>"),
            n if n.chars().next().is_some_and(|c| c.is_lowercase()) => {
                return format!("<built-in function {n}>")
            }
            n => return format!("<class '{n}'>"),
        }
    }
    let last = name.rsplit('.').next().unwrap_or(name);
    if last.chars().next().is_some_and(|c| c.is_uppercase()) {
        format!("<class '{module}.{name}'>")
    } else {
        format!("<function {name}>")
    }
}

#[cfg(test)]
mod budget_tests {
    /// 64 levels of `(x, x)` over one memoized list: 389 bytes of pickle whose printed
    /// form has 2^64 tuples. Refused with MemoryError after 2^22 objects, at once.
    #[test]
    fn shared_references_cannot_expand_without_bound() {
        let mut data = b"\x80\x04]\x94".to_vec(); // EMPTY_LIST, MEMOIZE (memo 0)
        for i in 0..64u8 {
            data.extend_from_slice(&[b'h', i, b'h', i, b'\x86', b'\x94']); // (m_i, m_i) as memo i+1
        }
        data.push(b'.');
        let p = super::super::loads(&data, &super::super::LoadOptions::default())
            .expect("a valid pickle");
        let start = std::time::Instant::now();
        let e = super::repr(&p).expect_err("2^64 objects are not printed");
        assert!(e.to_string().contains("MemoryError"), "{e}");
        assert!(start.elapsed().as_secs() < 20, "{:?}", start.elapsed());
    }
}
