//! Python `str`: a sequence of code points that may include lone surrogates.
//!
//! Stored as the bytes of Python's `s.encode('utf-8', 'surrogatepass')` — exactly what
//! `BINUNICODE` carries (pickle spec §1.5) — so loading and dumping never re-encode.

use std::fmt;

/// A Python string. Invariant: `bytes` is valid UTF-8 except that code points
/// U+D800..U+DFFF may appear, each encoded on its own in three bytes (`ED A0..BF xx`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PyStr {
    bytes: Vec<u8>,
}

impl fmt::Debug for PyStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", crate::pickle::repr::str_repr(self))
    }
}

impl From<&str> for PyStr {
    fn from(s: &str) -> Self {
        PyStr {
            bytes: s.as_bytes().to_vec(),
        }
    }
}

impl From<String> for PyStr {
    fn from(s: String) -> Self {
        PyStr {
            bytes: s.into_bytes(),
        }
    }
}

/// Why bytes are not UTF-8 with surrogatepass: the position and CPython's reason text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Utf8Error {
    /// Offset of the first bad byte.
    pub position: usize,
    /// The offending byte.
    pub byte: u8,
    /// CPython's wording: "invalid start byte", "invalid continuation byte", "unexpected end of data".
    pub reason: &'static str,
}

impl fmt::Display for Utf8Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'utf-8' codec can't decode byte 0x{:02x} in position {}: {}",
            self.byte, self.position, self.reason
        )
    }
}

/// Checks that `bytes` is UTF-8 as Python's `surrogatepass` decoder accepts it: well-formed
/// UTF-8 plus lone surrogates U+D800–U+DFFF encoded as three bytes.
///
/// # Errors
/// [`Utf8Error`] at the first bad byte, with CPython's reason ("invalid start byte",
/// "invalid continuation byte", "unexpected end of data").
pub fn validate_utf8_surrogatepass(bytes: &[u8]) -> Result<(), Utf8Error> {
    if std::str::from_utf8(bytes).is_ok() {
        return Ok(());
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let fail = |reason| Utf8Error {
            position: i,
            byte: b,
            reason,
        };
        let (len, lo, hi) = match b {
            0x00..=0x7f => {
                i += 1;
                continue;
            }
            0xc2..=0xdf => (2, 0x80, 0xbf),
            0xe0 => (3, 0xa0, 0xbf),
            0xe1..=0xef => (3, 0x80, 0xbf),
            0xf0 => (4, 0x90, 0xbf),
            0xf1..=0xf3 => (4, 0x80, 0xbf),
            0xf4 => (4, 0x80, 0x8f),
            _ => return Err(fail("invalid start byte")),
        };
        for k in 1..len {
            let Some(&c) = bytes.get(i + k) else {
                return Err(fail("unexpected end of data"));
            };
            let (l, h) = if k == 1 { (lo, hi) } else { (0x80, 0xbf) };
            if !(l..=h).contains(&c) {
                return Err(fail("invalid continuation byte"));
            }
        }
        i += len;
    }
    Ok(())
}

impl PyStr {
    /// Validates UTF-8 allowing encoded surrogates (Python's `'surrogatepass'`).
    ///
    /// # Errors
    /// [`Utf8Error`] naming the first bad byte, worded as CPython's decoder words it.
    pub fn from_utf8_surrogatepass(bytes: &[u8]) -> Result<PyStr, Utf8Error> {
        validate_utf8_surrogatepass(bytes)?;
        Ok(PyStr {
            bytes: bytes.to_vec(),
        })
    }

    /// Builds a string from code points (surrogates allowed). Code points above U+10FFFF are
    /// replaced by U+FFFD (they cannot occur in Python).
    pub fn from_code_points(cps: impl IntoIterator<Item = u32>) -> PyStr {
        let mut bytes = Vec::new();
        for cp in cps {
            push_code_point(&mut bytes, cp);
        }
        PyStr { bytes }
    }

    /// The surrogatepass UTF-8 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The string as Rust text, when it holds no lone surrogate.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.bytes).ok()
    }

    /// The code points, in order.
    pub fn code_points(&self) -> CodePoints<'_> {
        CodePoints {
            bytes: &self.bytes,
            pos: 0,
        }
    }

    /// Number of code points (Python's `len(s)`).
    pub fn char_len(&self) -> usize {
        self.bytes.iter().filter(|&&b| b & 0xc0 != 0x80).count()
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Appends one code point encoded as UTF-8 (surrogates as three bytes).
pub(crate) fn push_code_point(out: &mut Vec<u8>, cp: u32) {
    let cp = if cp > 0x10ffff { 0xfffd } else { cp };
    if cp < 0x80 {
        out.push(cp as u8);
    } else if cp < 0x800 {
        out.push(0xc0 | (cp >> 6) as u8);
        out.push(0x80 | (cp & 0x3f) as u8);
    } else if cp < 0x10000 {
        out.push(0xe0 | (cp >> 12) as u8);
        out.push(0x80 | ((cp >> 6) & 0x3f) as u8);
        out.push(0x80 | (cp & 0x3f) as u8);
    } else {
        out.push(0xf0 | (cp >> 18) as u8);
        out.push(0x80 | ((cp >> 12) & 0x3f) as u8);
        out.push(0x80 | ((cp >> 6) & 0x3f) as u8);
        out.push(0x80 | (cp & 0x3f) as u8);
    }
}

/// Iterator over the code points of a [`PyStr`].
pub struct CodePoints<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Iterator for CodePoints<'_> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        let b = *self.bytes.get(self.pos)?;
        let (len, init) = match b {
            0x00..=0x7f => (1, b as u32),
            0xc0..=0xdf => (2, (b & 0x1f) as u32),
            0xe0..=0xef => (3, (b & 0x0f) as u32),
            _ => (4, (b & 0x07) as u32),
        };
        let mut cp = init;
        for k in 1..len {
            // PyStr invariant: sequences are complete, so a missing byte cannot happen.
            let c = self.bytes.get(self.pos + k).copied().unwrap_or(0x80);
            cp = (cp << 6) | (c & 0x3f) as u32;
        }
        self.pos += len;
        Some(cp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surrogates_pass_and_errors_match_cpython_wording() {
        let s = PyStr::from_utf8_surrogatepass(b"a\xed\xa0\x80").unwrap();
        assert_eq!(s.code_points().collect::<Vec<_>>(), vec![0x61, 0xd800]);
        assert_eq!(s.char_len(), 2);
        let e = PyStr::from_utf8_surrogatepass(b"\xff").unwrap_err();
        assert_eq!(
            e.to_string(),
            "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"
        );
        let e = PyStr::from_utf8_surrogatepass(b"ab\xc3").unwrap_err();
        assert_eq!(e.reason, "unexpected end of data");
    }
}
