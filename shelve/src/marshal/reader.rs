//! `loads`: marshal bytes → [`Value`], as CPython 3.13's `marshal.loads` reads them.
//!
//! Follows python-formats spec §2.2–§2.4: every type code of versions 0–4 (3.13 rejects
//! the 3.14 `:` slice code the same way), FLAG_REF slots assigned in pre-order with
//! containers reserving theirs before their children, trailing bytes ignored, nesting
//! deeper than 2000 rejected. Lengths are checked against the bytes left before anything
//! is allocated, so hostile input costs at most its own size.

use std::collections::HashMap;

use super::error::{MarshalError, PyExc};
use super::hashkey::{hash_key, HashKey, HASH_BUDGET};
use super::long::PyLong;
use super::stack::grow;
use super::value::{CodeObject, Node, NodeId, Value};
use crate::pickle::pystr::validate_utf8_surrogatepass;

/// CPython's `MAX_MARSHAL_STACK_DEPTH` (release builds): deepest nesting read or written.
pub const MAX_DEPTH: usize = 2000;

/// Loads one marshalled object from the start of `data`; bytes after it are ignored.
///
/// Errors carry CPython's exception class and message (spec §2.4) and the offset of the
/// failing item: `EOFError: EOF read where object expected` (nothing left where an object
/// starts), `EOFError: marshal data too short` (a payload runs past the end),
/// `ValueError: bad marshal data (...)`, `TypeError: NULL object in marshal data for ...`,
/// `TypeError: unhashable type: ...`, `UnicodeDecodeError`, `ValueError: recursion limit
/// exceeded`.
pub fn loads(data: &[u8]) -> Result<Value, MarshalError> {
    let mut r = Reader {
        data,
        pos: 0,
        depth: 0,
        refs: Vec::new(),
        value: Value::new(),
        hash_budget: HASH_BUDGET.saturating_add(data.len().saturating_mul(2)),
    };
    match r.object()? {
        Some(id) => {
            r.value.set_root(id);
            Ok(r.value)
        }
        None => Err(MarshalError::at(
            0,
            PyExc::TypeError,
            "NULL object in marshal data for object",
        )),
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    depth: usize,
    /// FLAG_REF slots; `None` = reserved by a frozenset or code object still being read.
    refs: Vec<Option<NodeId>>,
    value: Value,
    /// Node visits left for hashing dict keys and set elements in this load.
    hash_budget: usize,
}

fn too_short(at: usize) -> MarshalError {
    MarshalError::at(at, PyExc::EofError, "marshal data too short")
}

fn no_thread(at: usize) -> MarshalError {
    MarshalError::at(
        at,
        PyExc::RecursionError,
        "cannot start a thread for a deeper stack",
    )
}

fn bad(at: usize, what: &str) -> MarshalError {
    MarshalError::at(at, PyExc::ValueError, format!("bad marshal data ({what})"))
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MarshalError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| too_short(self.pos))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// A one-byte field (a float's text length, a short str's or small tuple's size);
    /// CPython 3.13's `r_byte` reports EOF here as "EOF read where not expected" (3.11.2
    /// said "EOF read where object expected"; 3.11.7 already says 3.13's text), not
    /// "marshal data too short".
    fn u8(&mut self) -> Result<u8, MarshalError> {
        match self.data.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(MarshalError::at(
                self.pos,
                PyExc::EofError,
                "EOF read where not expected",
            )),
        }
    }

    fn i32(&mut self) -> Result<i32, MarshalError> {
        let b = self.take(4)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn f64(&mut self) -> Result<f64, MarshalError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_le_bytes(a))
    }

    /// A u32 size field; negative (as CPython's signed read sees it) is `what` out of range.
    fn size(&mut self, start: usize, what: &str) -> Result<usize, MarshalError> {
        let n = self.i32()?;
        usize::try_from(n).map_err(|_| bad(start, &format!("{what} size out of range")))
    }

    /// Reads one object. `Ok(None)` is marshal's NULL (`0`), which only ends a dict.
    fn object(&mut self) -> Result<Option<NodeId>, MarshalError> {
        let start = self.pos;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.depth -= 1;
            return Err(MarshalError::at(
                start,
                PyExc::ValueError,
                "recursion limit exceeded",
            ));
        }
        let result = match self.data.get(self.pos) {
            None => Err(MarshalError::at(
                start,
                PyExc::EofError,
                "EOF read where object expected",
            )),
            Some(&code) => {
                self.pos += 1;
                let depth = self.depth;
                grow(depth, || self.body(code & 0x7f, code & 0x80 != 0, start))
                    .unwrap_or_else(|| Err(no_thread(start)))
            }
        };
        self.depth -= 1;
        result
    }

    /// A child object that may not be NULL.
    fn child(&mut self, container: &str) -> Result<NodeId, MarshalError> {
        let at = self.pos;
        self.object()?.ok_or_else(|| {
            MarshalError::at(
                at,
                PyExc::TypeError,
                format!("NULL object in marshal data for {container}"),
            )
        })
    }

    fn leaf(&mut self, flag: bool, node: Node) -> NodeId {
        let id = self.value.push(node);
        if flag {
            self.refs.push(Some(id));
        }
        id
    }

    fn body(&mut self, code: u8, flag: bool, start: usize) -> Result<Option<NodeId>, MarshalError> {
        let id = match code {
            b'0' => return Ok(None),
            // Singletons never take a ref slot, even with FLAG_REF set (spec §2.2).
            b'N' => self.value.push(Node::None),
            b'F' => self.value.push(Node::False),
            b'T' => self.value.push(Node::True),
            b'S' => self.value.push(Node::StopIteration),
            b'.' => self.value.push(Node::Ellipsis),
            b'i' => {
                let v = self.i32()?;
                self.leaf(flag, int_node(i64::from(v)))
            }
            b'I' => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                self.leaf(flag, int_node(i64::from_le_bytes(a)))
            }
            b'l' => {
                let v = self.long(start)?;
                self.leaf(
                    flag,
                    Node::Int {
                        value: v,
                        fresh: true,
                    },
                )
            }
            b'f' => {
                let x = self.float_text()?;
                self.leaf(flag, Node::Float(x))
            }
            b'g' => {
                let x = self.f64()?;
                self.leaf(flag, Node::Float(x))
            }
            b'x' => {
                let re = self.float_text()?;
                let im = self.float_text()?;
                self.leaf(flag, Node::Complex { re, im })
            }
            b'y' => {
                let re = self.f64()?;
                let im = self.f64()?;
                self.leaf(flag, Node::Complex { re, im })
            }
            b's' => {
                let n = self.size(start, "bytes object")?;
                let b = self.take(n)?.to_vec();
                self.leaf(flag, Node::Bytes(b))
            }
            b'u' | b't' => {
                let n = self.size(start, "string")?;
                let at = self.pos;
                let raw = self.take(n)?;
                check_utf8_surrogatepass(raw, at)?;
                let node = Node::Str {
                    utf8: raw.to_vec(),
                    interned: code == b't',
                };
                self.leaf(flag, node)
            }
            b'a' | b'A' | b'z' | b'Z' => {
                let n = if code == b'a' || code == b'A' {
                    self.size(start, "string")?
                } else {
                    usize::from(self.u8()?)
                };
                let raw = self.take(n)?;
                // The ASCII codes are decoded as Latin-1: CPython does not check them.
                let node = Node::Str {
                    utf8: latin1_to_utf8(raw),
                    interned: code == b'A' || code == b'Z',
                };
                self.leaf(flag, node)
            }
            b'(' | b')' => {
                let n = if code == b'(' {
                    self.size(start, "tuple")?
                } else {
                    usize::from(self.u8()?)
                };
                let id = self.leaf(flag, Node::Tuple(Vec::new()));
                let mut items = Vec::with_capacity(n.min(self.remaining()));
                for _ in 0..n {
                    items.push(self.child("tuple")?);
                }
                self.fill(id, Node::Tuple(items));
                id
            }
            b'[' => {
                let n = self.size(start, "list")?;
                let id = self.leaf(flag, Node::List(Vec::new()));
                let mut items = Vec::with_capacity(n.min(self.remaining()));
                for _ in 0..n {
                    items.push(self.child("list")?);
                }
                self.fill(id, Node::List(items));
                id
            }
            b'{' => {
                let id = self.leaf(flag, Node::Dict(Vec::new()));
                let mut pairs: Vec<(NodeId, NodeId)> = Vec::new();
                let mut index: HashMap<HashKey, usize> = HashMap::new();
                loop {
                    let key_at = self.pos;
                    // A NULL key or a NULL value ends the dict (CPython breaks on either).
                    let Some(k) = self.object()? else { break };
                    let Some(v) = self.object()? else { break };
                    let key = hash_key(&self.value, k, key_at, &mut self.hash_budget)?;
                    match index.get(&key) {
                        // The first key object stays; the last value wins.
                        Some(&i) => pairs[i].1 = v,
                        None => {
                            index.insert(key, pairs.len());
                            pairs.push((k, v));
                        }
                    }
                }
                self.fill(id, Node::Dict(pairs));
                id
            }
            b'<' | b'>' => {
                let n = self.size(start, "set")?;
                let frozen = code == b'>';
                // Frozensets reserve their slot (a ref to them while incomplete is
                // invalid); sets take it at once.
                let (id, slot) = if frozen && n > 0 {
                    let slot = flag.then(|| {
                        self.refs.push(None);
                        self.refs.len() - 1
                    });
                    (self.value.push(Node::FrozenSet(Vec::new())), slot)
                } else if frozen {
                    (self.leaf(flag, Node::FrozenSet(Vec::new())), None)
                } else {
                    (self.leaf(flag, Node::Set(Vec::new())), None)
                };
                let mut items = Vec::with_capacity(n.min(self.remaining()));
                let mut seen: HashMap<HashKey, ()> = HashMap::new();
                for _ in 0..n {
                    let at = self.pos;
                    let item = self.child("set")?;
                    let key = hash_key(&self.value, item, at, &mut self.hash_budget)?;
                    if seen.insert(key, ()).is_none() {
                        items.push(item);
                    }
                }
                self.fill(
                    id,
                    if frozen {
                        Node::FrozenSet(items)
                    } else {
                        Node::Set(items)
                    },
                );
                if let Some(slot) = slot {
                    self.refs[slot] = Some(id);
                }
                id
            }
            b'r' => {
                let n = self.i32()?;
                let slot = usize::try_from(n)
                    .ok()
                    .and_then(|i| self.refs.get(i).copied().flatten());
                return match slot {
                    Some(id) => Ok(Some(id)),
                    None => Err(bad(start, "invalid reference")),
                };
            }
            b'c' => self.code(flag)?,
            _ => return Err(bad(start, "unknown type code")),
        };
        Ok(Some(id))
    }

    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn fill(&mut self, id: NodeId, node: Node) {
        // `id` was pushed by this reader a moment ago, so it exists.
        let filled = self.value.replace(id, node);
        debug_assert!(filled.is_some());
    }

    fn long(&mut self, start: usize) -> Result<PyLong, MarshalError> {
        let n = self.i32()?;
        if n == i32::MIN {
            return Err(bad(start, "long size out of range"));
        }
        let count = n.unsigned_abs() as usize;
        let mut digits = Vec::with_capacity(count.min(self.remaining() / 2));
        for _ in 0..count {
            let at = self.pos;
            let b = self.take(2)?;
            let d = u16::from_le_bytes([b[0], b[1]]);
            if d >= 0x8000 {
                return Err(bad(at, "digit out of range in long"));
            }
            digits.push(d);
        }
        PyLong::from_digits(n < 0, digits).ok_or_else(|| bad(start, "unnormalized long data"))
    }

    /// A `f`-style float: u8 length + text, parsed as CPython's `PyOS_string_to_double`.
    fn float_text(&mut self) -> Result<f64, MarshalError> {
        let at = self.pos;
        let n = self.u8()?;
        let raw = self.take(usize::from(n))?;
        // CPython NUL-terminates the buffer, so text after a NUL is ignored.
        let text = raw.split(|&b| b == 0).next().unwrap_or(&[]);
        parse_python_float(text).ok_or_else(|| {
            MarshalError::at(
                at,
                PyExc::ValueError,
                format!(
                    "could not convert string to float: '{}'",
                    String::from_utf8_lossy(text)
                ),
            )
        })
    }

    fn code(&mut self, flag: bool) -> Result<NodeId, MarshalError> {
        let slot = flag.then(|| {
            self.refs.push(None);
            self.refs.len() - 1
        });
        let mut header = [0i32; 5];
        for h in header.iter_mut() {
            *h = self.i32()?;
        }
        let mut objects = [0usize; 8];
        for o in objects.iter_mut() {
            *o = self.child("object")?;
        }
        let firstlineno = self.i32()?;
        let mut tables = [0usize; 2];
        for t in tables.iter_mut() {
            *t = self.child("object")?;
        }
        let id = self.value.push(Node::Code(Box::new(CodeObject {
            header,
            objects,
            firstlineno,
            tables,
        })));
        if let Some(slot) = slot {
            self.refs[slot] = Some(id);
        }
        Ok(id)
    }
}

fn int_node(v: i64) -> Node {
    Node::Int {
        value: PyLong::from(v),
        fresh: false,
    }
}

fn latin1_to_utf8(raw: &[u8]) -> Vec<u8> {
    if raw.is_ascii() {
        return raw.to_vec();
    }
    raw.iter()
        .map(|&b| char::from(b))
        .collect::<String>()
        .into_bytes()
}

/// Parses float text the way `PyOS_string_to_double` does: the whole text, optional sign,
/// decimal or exponent form, `inf`/`infinity`/`nan` in any case; no surrounding spaces.
pub(crate) fn parse_python_float(text: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(text).ok()?;
    if s.is_empty() || s.contains('_') {
        return None;
    }
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = body.to_ascii_lowercase();
    let special = match lower.as_str() {
        "inf" | "infinity" => Some(f64::INFINITY),
        "nan" => Some(f64::NAN),
        _ => None,
    };
    if let Some(v) = special {
        return Some(if s.starts_with('-') { -v } else { v });
    }
    if !body
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    s.parse::<f64>().ok()
}

/// Validates UTF-8 as Python's `surrogatepass` decoder does (lone surrogates U+D800–U+DFFF
/// encoded as three bytes are allowed); the error names the first bad byte, at its offset in
/// the marshal data (`base` is where `raw` starts).
fn check_utf8_surrogatepass(raw: &[u8], base: usize) -> Result<(), MarshalError> {
    validate_utf8_surrogatepass(raw)
        .map_err(|e| MarshalError::at(base + e.position, PyExc::UnicodeDecodeError, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(hex: &str) -> String {
        let data = decode_hex(hex);
        let e = loads(&data).expect_err("must fail");
        format!("{}: {}", e.exc.name(), e.message)
    }

    pub(crate) fn decode_hex(h: &str) -> Vec<u8> {
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).expect("test hex is valid"))
            .collect()
    }

    // Expected texts below were printed by /usr/bin/python3 (3.11) `marshal.loads`; the
    // messages are the same in 3.13 (spec §2.4).
    #[test]
    fn errors_match_cpython_wording() {
        assert_eq!(err(""), "EOFError: EOF read where object expected");
        assert_eq!(
            err("30"),
            "TypeError: NULL object in marshal data for object"
        );
        assert_eq!(
            err("5b0100000030"),
            "TypeError: NULL object in marshal data for list"
        );
        assert_eq!(
            err("28010000003029"),
            "TypeError: NULL object in marshal data for tuple"
        );
        assert_eq!(
            err("5b02000000ce7200000000"),
            "ValueError: bad marshal data (invalid reference)"
        );
        assert_eq!(
            err("6c0200000005000000"),
            "ValueError: bad marshal data (unnormalized long data)"
        );
        assert_eq!(
            err("6c01000000ffff"),
            "ValueError: bad marshal data (digit out of range in long)"
        );
        assert_eq!(
            err("75020000ffff"),
            "ValueError: bad marshal data (string size out of range)"
        );
        assert_eq!(
            err("7501000000ff"),
            "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"
        );
        assert_eq!(
            err("660378797a"),
            "ValueError: could not convert string to float: 'xyz'"
        );
        assert_eq!(err("6700"), "EOFError: marshal data too short");
        assert_eq!(
            err("3a"),
            "ValueError: bad marshal data (unknown type code)"
        );
        assert_eq!(
            err("3f"),
            "ValueError: bad marshal data (unknown type code)"
        );
        assert_eq!(err("72000000"), "EOFError: marshal data too short");
        assert_eq!(
            err("be0100000072000000004e"),
            "ValueError: bad marshal data (invalid reference)"
        );
        assert_eq!(
            err("3c010000005b00000000"),
            "TypeError: unhashable type: 'list'"
        );
    }

    #[test]
    fn nesting_limit_is_cpythons() {
        // 1999 lists around None load; 2000 do not (measured with 3.11).
        let mut ok = b"[\x01\x00\x00\x00".repeat(1999);
        ok.push(b'N');
        let deep_enough = std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(move || {
                let fine = loads(&ok).is_ok();
                let mut bad = b"[\x01\x00\x00\x00".repeat(2000);
                bad.push(b'N');
                let e = loads(&bad).expect_err("2001 levels");
                (fine, e.message)
            })
            .expect("spawn")
            .join()
            .expect("join");
        assert!(deep_enough.0);
        assert_eq!(deep_enough.1, "recursion limit exceeded");
    }

    #[test]
    fn dict_and_set_collapse_equal_keys() {
        // {1: 2, 1.0: 3} as CPython loads it: one key, the int, with value 3.
        let v = loads(&decode_hex(
            "7be901000000e90200000067000000000000f03fe90300000030",
        ))
        .expect("valid");
        match v.get(v.root()) {
            Some(Node::Dict(pairs)) => assert_eq!(pairs.len(), 1),
            other => panic!("expected a dict, got {other:?}"),
        }
        // A NULL value ends a dict and the rest is ignored.
        let v = loads(&decode_hex("7b6901000000307b")).expect("valid");
        assert_eq!(v.get(v.root()), Some(&Node::Dict(vec![])));
    }

    #[test]
    fn ascii_codes_decode_as_latin1() {
        let v = loads(&decode_hex("7a01e9")).expect("valid");
        assert_eq!(
            v.get(v.root()),
            Some(&Node::Str {
                utf8: "é".as_bytes().to_vec(),
                interned: false
            })
        );
    }
}
