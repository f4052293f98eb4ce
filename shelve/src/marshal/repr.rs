//! `repr()` of a loaded marshal value, as CPython prints it.
//!
//! Known differences (docs/marshal.md): sets print in marshal-stream order, not CPython's
//! hash-table order; "printable" for non-ASCII str characters uses a built-in
//! approximation of Unicode's categories; code objects print without their address.

use std::collections::HashSet;

use super::error::{MarshalError, PyExc};
use super::float_text::{complex_part_repr, float_repr};
use super::stack::grow;
use super::value::{Node, NodeId, Value};

/// Deepest nesting printed (CPython's default recursion limit is 1000).
const MAX_REPR_DEPTH: usize = 1000;
/// Most nodes printed: refs can make a small input a DAG with an exponential expansion.
const MAX_REPR_NODES: usize = 1 << 22;
/// Longest text printed (a long str shared by many refs would otherwise print many times).
const MAX_REPR_BYTES: usize = 256 << 20;

/// `repr(value)` as CPython prints it (see the module notes for the differences).
///
/// Fails with `RecursionError` past 1000 levels or when the printed form would visit
/// more than 2^22 nodes, and with `MemoryError` past 256 MiB of text.
pub fn repr(value: &Value) -> Result<String, MarshalError> {
    let mut p = Printer {
        value,
        out: String::new(),
        active: HashSet::new(),
        budget: MAX_REPR_NODES,
    };
    p.node(value.root(), 0)?;
    Ok(p.out)
}

struct Printer<'a> {
    value: &'a Value,
    out: String,
    /// Containers being printed (CPython's `Py_ReprEnter`): a cycle prints `...`.
    active: HashSet<NodeId>,
    budget: usize,
}

fn too_deep() -> MarshalError {
    MarshalError::dump(
        PyExc::RecursionError,
        "maximum recursion depth exceeded while getting the repr of an object",
    )
}

impl Printer<'_> {
    fn seq(&mut self, items: &[NodeId], depth: usize) -> Result<(), MarshalError> {
        for (i, &item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.node(item, depth + 1)?;
        }
        Ok(())
    }

    fn node(&mut self, id: NodeId, depth: usize) -> Result<(), MarshalError> {
        if depth > MAX_REPR_DEPTH || self.budget == 0 {
            return Err(too_deep());
        }
        if self.out.len() > MAX_REPR_BYTES {
            return Err(MarshalError::dump(
                PyExc::MemoryError,
                "repr longer than 256 MiB",
            ));
        }
        grow(depth, || self.node_inner(id, depth)).unwrap_or_else(|| Err(too_deep()))
    }

    fn node_inner(&mut self, id: NodeId, depth: usize) -> Result<(), MarshalError> {
        self.budget -= 1;
        let value = self.value;
        let node = value
            .get(id)
            .ok_or_else(|| MarshalError::dump(PyExc::ValueError, "invalid node id"))?;
        let container = matches!(
            node,
            Node::Tuple(_) | Node::List(_) | Node::Dict(_) | Node::Set(_) | Node::FrozenSet(_)
        );
        if container && !self.active.insert(id) {
            self.out.push_str(match node {
                Node::Tuple(_) => "(...)",
                Node::List(_) => "[...]",
                Node::Dict(_) => "{...}",
                Node::Set(_) => "set(...)",
                _ => "frozenset(...)",
            });
            return Ok(());
        }
        match node {
            Node::None => self.out.push_str("None"),
            Node::False => self.out.push_str("False"),
            Node::True => self.out.push_str("True"),
            Node::StopIteration => self.out.push_str("<class 'StopIteration'>"),
            Node::Ellipsis => self.out.push_str("Ellipsis"),
            Node::Int { value: v, .. } => {
                let text = v
                    .to_decimal()
                    .map_err(|m| MarshalError::dump(PyExc::ValueError, m))?;
                self.out.push_str(&text);
            }
            Node::Float(x) => self.out.push_str(&float_repr(*x)),
            Node::Complex { re, im } => {
                let imag = complex_part_repr(*im);
                if *re == 0.0 && re.is_sign_positive() {
                    self.out.push_str(&imag);
                    self.out.push('j');
                } else {
                    let sign = if imag.starts_with('-') { "" } else { "+" };
                    self.out.push('(');
                    self.out.push_str(&complex_part_repr(*re));
                    self.out.push_str(sign);
                    self.out.push_str(&imag);
                    self.out.push_str("j)");
                }
            }
            Node::Bytes(b) => self.out.push_str(&bytes_repr(b)),
            Node::Str { utf8, .. } => self.out.push_str(&str_repr(utf8)),
            Node::Tuple(items) => {
                self.out.push('(');
                self.seq(items, depth)?;
                if items.len() == 1 {
                    self.out.push(',');
                }
                self.out.push(')');
            }
            Node::List(items) => {
                self.out.push('[');
                self.seq(items, depth)?;
                self.out.push(']');
            }
            Node::Dict(pairs) => {
                self.out.push('{');
                for (i, &(k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.node(k, depth + 1)?;
                    self.out.push_str(": ");
                    self.node(v, depth + 1)?;
                }
                self.out.push('}');
            }
            Node::Set(items) => {
                if items.is_empty() {
                    self.out.push_str("set()");
                } else {
                    self.out.push('{');
                    self.seq(items, depth)?;
                    self.out.push('}');
                }
            }
            Node::FrozenSet(items) => {
                if items.is_empty() {
                    self.out.push_str("frozenset()");
                } else {
                    self.out.push_str("frozenset({");
                    self.seq(items, depth)?;
                    self.out.push_str("})");
                }
            }
            Node::Code(c) => {
                let name = match value.get(c.objects[6]) {
                    Some(Node::Str { utf8, .. }) => decode_points(utf8)
                        .into_iter()
                        .filter_map(char::from_u32)
                        .collect(),
                    _ => String::from("?"),
                };
                let file = match value.get(c.objects[5]) {
                    Some(Node::Str { utf8, .. }) => decode_points(utf8)
                        .into_iter()
                        .filter_map(char::from_u32)
                        .collect(),
                    _ => String::from("?"),
                };
                self.out.push_str(&format!(
                    "<code object {name}, file \"{file}\", line {}>",
                    c.firstlineno
                ));
            }
        }
        if container {
            self.active.remove(&id);
        }
        Ok(())
    }
}

/// Decodes UTF-8 that may hold encoded surrogates into code points. Input comes from the
/// reader's validated bytes or from Rust `str`s, so every sequence is well formed.
fn decode_points(utf8: &[u8]) -> Vec<u32> {
    let mut out = Vec::with_capacity(utf8.len());
    let mut i = 0;
    while i < utf8.len() {
        let b = u32::from(utf8[i]);
        let (len, init) = match b {
            0x00..=0x7f => (1, b),
            0xc0..=0xdf => (2, b & 0x1f),
            0xe0..=0xef => (3, b & 0x0f),
            _ => (4, b & 0x07),
        };
        let mut cp = init;
        for k in 1..len {
            cp = (cp << 6) | (u32::from(*utf8.get(i + k).unwrap_or(&0x80)) & 0x3f);
        }
        out.push(cp);
        i += len;
    }
    out
}

/// Approximates Python's `str.isprintable()` for one non-ASCII code point: false for
/// controls, separators other than space, format characters, surrogates, private use and
/// noncharacters listed here; true otherwise (unassigned code points are not detected).
fn is_printable(cp: u32) -> bool {
    !matches!(cp,
        0x80..=0xa0 | 0xad | 0x0600..=0x0605 | 0x061c | 0x06dd | 0x070f | 0x1680
        | 0x180e | 0x2000..=0x200f | 0x2028..=0x202f | 0x205f..=0x2064 | 0x2066..=0x206f
        | 0x3000 | 0xd800..=0xdfff | 0xe000..=0xf8ff | 0xfeff | 0xfff9..=0xfffb
        | 0xfffe | 0xffff | 0x110bd | 0x1bca0..=0x1bca3 | 0x1d173..=0x1d17a | 0xe0001
        | 0xe0020..=0xe007f | 0xf0000..=0x10ffff)
        && (cp & 0xfffe) != 0xfffe
}

/// Python's `repr(str)`.
pub fn str_repr(utf8: &[u8]) -> String {
    let points = decode_points(utf8);
    let has_single = points.contains(&u32::from(b'\''));
    let has_double = points.contains(&u32::from(b'"'));
    let quote = if has_single && !has_double { '"' } else { '\'' };
    let mut out = String::with_capacity(utf8.len() + 2);
    out.push(quote);
    for cp in points {
        match cp {
            0x5c => out.push_str("\\\\"),
            0x09 => out.push_str("\\t"),
            0x0a => out.push_str("\\n"),
            0x0d => out.push_str("\\r"),
            c if c == u32::from(quote) => {
                out.push('\\');
                out.push(quote);
            }
            c if c < 0x20 || c == 0x7f => out.push_str(&format!("\\x{c:02x}")),
            c if c < 0x7f => out.push(char::from(c as u8)),
            c if is_printable(c) => match char::from_u32(c) {
                Some(ch) => out.push(ch),
                None => out.push_str(&format!("\\u{c:04x}")),
            },
            c if c <= 0xff => out.push_str(&format!("\\x{c:02x}")),
            c if c <= 0xffff => out.push_str(&format!("\\u{c:04x}")),
            c => out.push_str(&format!("\\U{c:08x}")),
        }
    }
    out.push(quote);
    out
}

/// Python's `repr(bytes)`.
pub fn bytes_repr(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(b.len() + 3);
    out.push('b');
    out.push(quote);
    for &c in b {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            c if char::from(c) == quote => {
                out.push('\\');
                out.push(quote);
            }
            c if !(0x20..0x7f).contains(&c) => out.push_str(&format!("\\x{c:02x}")),
            c => out.push(char::from(c)),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected texts: CPython's repr() of the same values.
    #[test]
    fn str_and_bytes_repr() {
        assert_eq!(str_repr(b"it's"), "\"it's\"");
        assert_eq!(str_repr("a\u{e9}\n\u{0}".as_bytes()), "'a\u{e9}\\n\\x00'");
        assert_eq!(str_repr(&[0xed, 0xa0, 0x80]), "'\\ud800'");
        assert_eq!(str_repr("\u{a0}".as_bytes()), "'\\xa0'");
        assert_eq!(bytes_repr(b"y"), "b'y'");
        assert_eq!(bytes_repr(b"\x00'\xff"), "b\"\\x00'\\xff\"");
    }
}
