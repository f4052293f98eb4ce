//! How CPython 3.13 re-reduces standard-library value types that older Pythons pickled with
//! other constructor arguments. CPython rebuilds the real object on load and asks it for its
//! 3.13 `__reduce__`; pydbm never runs code, so the unpickler rewrites the argument tuple
//! into the form 3.13's reduce returns (checked by the multi-version corpus, `std_*` values
//! pickled by CPython 2.7, 3.6, 3.11 and 3.13 and re-dumped by 3.13:
//! shelve/tests/fixtures/pickle/multi/make_multi.py).

use super::pyint::PyInt;
use super::value::{Node, NodeId, Pickle};

/// `collections.UserString.__getnewargs__` returns `(self.data[:],)` — the same str
/// object, since slicing a whole str returns it — so from protocol 2 CPython writes
/// `NEWOBJ(UserString, (data,))` where a plain object gets `()`. Returns the `data` node of
/// the instance state when `cls` is `collections.UserString` and the state is a dict
/// holding `'data'`.
pub fn user_string_newargs(p: &Pickle, cls: NodeId, state: Option<NodeId>) -> Option<NodeId> {
    if !matches!(p.node(cls), Node::Global { module, name } if module == "collections" && name == "UserString")
    {
        return None;
    }
    let Node::Dict(items) = p.node(state?) else {
        return None;
    };
    items
        .iter()
        .find(|(k, _)| matches!(p.node(*k), Node::Str(s) if s.as_str() == Some("data")))
        .map(|&(_, v)| v)
}

/// `fractions.Fraction`: CPython 2.7 and 3.6 reduce a fraction to `(Fraction, (str(self),))`,
/// 3.11+ to `(Fraction, (numerator, denominator))`. Returns the two terms of the text
/// `"[-]N/D"` or `"[-]N"` in lowest terms with a positive denominator, as
/// `Fraction.__new__` computes them; `None` for any other text (CPython's other string
/// forms — decimals, exponents, spaces — are not what `str(Fraction)` writes, and stay as
/// they are), for a zero denominator, and for terms too large to reduce here (beyond
/// 128 bits, unless the denominator is 1).
pub fn fraction_terms(text: &str) -> Option<(PyInt, PyInt)> {
    let (num, den) = text.split_once('/').unwrap_or((text, "1"));
    let (negative, digits) = match num.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, num),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(digits) || !all_digits(den) {
        return None;
    }
    let sign = if negative { "-" } else { "" };
    if den.bytes().all(|b| b == b'0') {
        return None;
    }
    if den.trim_start_matches('0') == "1" {
        return Some((
            PyInt::parse_decimal(&format!("{sign}{digits}")).ok()?,
            PyInt::from(1),
        ));
    }
    let (n, d): (u128, u128) = (digits.parse().ok()?, den.parse().ok()?);
    let g = gcd(n, d);
    let (n, d) = (n / g, d / g);
    // -0/5 is 0/1, as in Python.
    let sign = if n == 0 { "" } else { sign };
    Some((
        PyInt::parse_decimal(&format!("{sign}{n}")).ok()?,
        PyInt::parse_decimal(&d.to_string()).ok()?,
    ))
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The `OSError` subclass CPython 3.13 on Linux builds for `OSError(errno, strerror, ...)`
/// (PEP 3151's errno table, Linux errno values; checked with live 3.13 for errno 1..199),
/// or `None` when the errno keeps plain `OSError`.
pub fn oserror_subclass(errno: i64) -> Option<&'static str> {
    Some(match errno {
        1 | 13 => "PermissionError",
        2 => "FileNotFoundError",
        3 => "ProcessLookupError",
        4 => "InterruptedError",
        10 => "ChildProcessError",
        11 | 114 | 115 => "BlockingIOError",
        17 => "FileExistsError",
        20 => "NotADirectoryError",
        21 => "IsADirectoryError",
        32 | 108 => "BrokenPipeError",
        103 => "ConnectionAbortedError",
        104 => "ConnectionResetError",
        110 => "TimeoutError",
        111 => "ConnectionRefusedError",
        _ => return None,
    })
}

/// `re._compile(pattern, flags)` for a str pattern: Python 3 compiles str patterns with
/// `re.UNICODE` (32) unless `re.ASCII` (256) is given, so a Python 2 pickle's flags come back
/// with 32 added. `None` (leave the call alone) when 32 is already set, or with `re.LOCALE`
/// (4), which Python 3 refuses for str patterns, or with `re.ASCII`.
pub fn str_pattern_flags(flags: i64) -> Option<i64> {
    const LOCALE: i64 = 4;
    const UNICODE: i64 = 32;
    const ASCII: i64 = 256;
    (flags >= 0 && flags & (LOCALE | UNICODE | ASCII) == 0).then_some(flags | UNICODE)
}

/// How an `array.array` typecode stores one item on CPython 3.13 for x86-64 Linux (LP64,
/// little-endian): its size, whether it is a float, and the machine-format code
/// `array._array_reconstructor` takes (the `mformat_code` the 3.13 reduce writes from
/// protocol 3: unsigned/signed 8-bit 0/1, 16-bit LE 2/4, 32-bit LE 6/8, 64-bit LE 10/12,
/// IEEE 754 float LE 14, double LE 16; observed with live 3.13, multi-version corpus).
/// `None` for the character typecodes `u`/`w`, which pydbm leaves as loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrayItem {
    /// Bytes per item.
    pub size: usize,
    /// Signed integer (else unsigned, unless a float).
    pub signed: bool,
    /// IEEE 754 float (`f`: 4 bytes, `d`: 8).
    pub float: bool,
    /// The machine-format code.
    pub mformat: i64,
}

/// The [`ArrayItem`] of `typecode`.
pub fn array_item(typecode: &str) -> Option<ArrayItem> {
    let (size, signed, float, mformat) = match typecode {
        "b" => (1, true, false, 1),
        "B" => (1, false, false, 0),
        "h" => (2, true, false, 4),
        "H" => (2, false, false, 2),
        "i" => (4, true, false, 8),
        "I" => (4, false, false, 6),
        "l" | "q" => (8, true, false, 12),
        "L" | "Q" => (8, false, false, 10),
        "f" => (4, false, true, 14),
        "d" => (8, false, true, 16),
        _ => return None,
    };
    Some(ArrayItem {
        size,
        signed,
        float,
        mformat,
    })
}

/// One item of an array as a Python value.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayValue {
    /// An integer item.
    Int(PyInt),
    /// A float item (`f` widened to f64, as Python reads it).
    Float(f64),
}

impl ArrayItem {
    /// The items of the machine bytes `data` (what `array.tolist()` gives); `None` when the
    /// length is not a multiple of the item size.
    pub fn decode(&self, data: &[u8]) -> Option<Vec<ArrayValue>> {
        if !data.len().is_multiple_of(self.size) {
            return None;
        }
        let items = data.chunks_exact(self.size).map(|c| {
            let mut b = [0u8; 8];
            b[..self.size].copy_from_slice(c);
            if self.float {
                ArrayValue::Float(if self.size == 4 {
                    f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                } else {
                    f64::from_le_bytes(b)
                })
            } else if self.signed {
                // Sign-extend from the item width.
                let shift = 64 - 8 * self.size as u32;
                ArrayValue::Int(PyInt::from((i64::from_le_bytes(b) << shift) >> shift))
            } else {
                let v = u64::from_le_bytes(b);
                ArrayValue::Int(match i64::try_from(v) {
                    Ok(v) => PyInt::from(v),
                    Err(_) => PyInt::from_le_twos_complement(&[&b[..], &[0]].concat()),
                })
            }
        });
        Some(items.collect())
    }

    /// The machine bytes of `items` (what `array.tobytes()` gives); `None` when an item is
    /// not of the typecode's kind or out of its range (CPython could not have built it).
    pub fn encode(&self, items: &[ArrayValue]) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(items.len() * self.size);
        for item in items {
            match (item, self.float) {
                (ArrayValue::Float(x), true) => {
                    if self.size == 4 {
                        out.extend_from_slice(&(*x as f32).to_le_bytes());
                    } else {
                        out.extend_from_slice(&x.to_le_bytes());
                    }
                }
                (ArrayValue::Int(i), false) => {
                    let bytes = i.to_le_twos_complement();
                    let negative = bytes.last().is_some_and(|&b| b & 0x80 != 0);
                    if negative && !self.signed {
                        return None;
                    }
                    // Fits when the two's-complement form is no longer than the item (or
                    // one byte longer for an unsigned value whose top bit is set).
                    let mut b = bytes;
                    if !self.signed && b.len() == self.size + 1 && b[self.size] == 0 {
                        b.pop();
                    } else if !self.signed && b.len() == self.size && b[self.size - 1] & 0x80 != 0 {
                        return None;
                    }
                    if b.len() > self.size {
                        return None;
                    }
                    let fill = if negative { 0xff } else { 0 };
                    b.resize(self.size, fill);
                    out.extend_from_slice(&b);
                }
                _ => return None,
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(t: &str) -> Option<(String, String)> {
        fraction_terms(t).map(|(n, d)| (n.to_string(), d.to_string()))
    }

    #[test]
    fn fraction_text_gives_3_13_terms() {
        let t = |n: &str, d: &str| Some((n.to_string(), d.to_string()));
        assert_eq!(terms("3/7"), t("3", "7"));
        assert_eq!(terms("-3/2"), t("-3", "2"));
        assert_eq!(terms("5"), t("5", "1"));
        assert_eq!(terms("6/4"), t("3", "2"));
        assert_eq!(terms("-0/5"), t("0", "1"));
        assert_eq!(
            terms("1180591620717411303424/3"),
            t("1180591620717411303424", "3")
        );
        assert_eq!(terms("1/0"), None);
        assert_eq!(terms("1.5"), None);
        assert_eq!(terms(" 1/2"), None);
        assert_eq!(terms("1/-2"), None);
        assert_eq!(terms(""), None);
    }

    #[test]
    fn array_items_round_trip_through_machine_bytes() {
        let i = array_item("i").expect("i");
        let items = i
            .decode(&[1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff])
            .expect("whole items");
        assert_eq!(
            items,
            vec![
                ArrayValue::Int(PyInt::from(1)),
                ArrayValue::Int(PyInt::from(-2))
            ]
        );
        assert_eq!(
            i.encode(&items).expect("fits"),
            [1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff]
        );
        let q = array_item("Q").expect("Q");
        let max = q.decode(&[0xff; 8]).expect("one item");
        assert_eq!(q.encode(&max).expect("fits"), [0xff; 8]);
        let b = array_item("B").expect("B");
        assert_eq!(
            b.encode(&[ArrayValue::Int(PyInt::from(255))]),
            Some(vec![255])
        );
        assert_eq!(b.encode(&[ArrayValue::Int(PyInt::from(256))]), None);
        assert_eq!(b.encode(&[ArrayValue::Int(PyInt::from(-1))]), None);
        let sb = array_item("b").expect("b");
        assert_eq!(sb.encode(&[ArrayValue::Int(PyInt::from(128))]), None);
        assert_eq!(
            sb.encode(&[ArrayValue::Int(PyInt::from(-128))]),
            Some(vec![0x80])
        );
        assert_eq!(i.decode(&[1, 2, 3]), None);
        let d = array_item("d").expect("d");
        assert_eq!(
            d.encode(&[ArrayValue::Float(1.5)]),
            Some(1.5f64.to_le_bytes().to_vec())
        );
        assert_eq!(array_item("u"), None);
    }

    #[test]
    fn str_patterns_gain_the_unicode_flag() {
        assert_eq!(str_pattern_flags(2), Some(34));
        assert_eq!(str_pattern_flags(0), Some(32));
        assert_eq!(str_pattern_flags(34), None);
        assert_eq!(str_pattern_flags(4), None);
        assert_eq!(str_pattern_flags(256), None);
    }
}
