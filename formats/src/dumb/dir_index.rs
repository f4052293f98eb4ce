//! The `.dir` index text of `dbm.dumb`: parse and encode, no I/O.
//!
//! Each line is `"%r, %r\n" % (key.decode('latin-1'), (pos, siz))` (python-formats spec §3.1).
//! The encoder reproduces CPython's `repr(str)` for the code points U+0000–U+00FF exactly;
//! the parser accepts the subset of Python literal syntax that `ast.literal_eval` would turn
//! into a `(str, (int, int))` pair for such a line, without ever evaluating the text.
//!
//! ```
//! use std::path::Path;
//! use pydbm_formats::dumb::dir_index::{encode, parse, Slot};
//!
//! let entries = [(&b"k\xe9y"[..], Slot { pos: 512, siz: 3 }), (&b"it's"[..], Slot { pos: 0, siz: 0 })];
//! let text = encode(entries);
//! // Python: "%r, %r\n" % (key.decode("latin-1"), (pos, siz))
//! assert_eq!(text, b"'k\xe9y', (512, 3)\n\"it's\", (0, 0)\n");
//! let back = parse(Path::new("db.dir"), &text)?;
//! assert_eq!(back, entries.map(|(k, s)| (k.to_vec(), s)));
//! // A line that is no (str, (int, int)) pair names the file, its offset and the line.
//! let err = parse(Path::new("db.dir"), b"'a', (0, 1)\n'b', (0,)\n").unwrap_err();
//! assert!(err.to_string().contains("db.dir"), "{err}");
//! assert!(err.to_string().contains("line 2"), "{err}");
//! # Ok::<(), pydbm_engine::Error>(())
//! ```

use std::path::Path;

use pydbm_engine::{Error, Result};

/// One entry of the index: where a key's value lives in `.dat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Slot {
    /// Byte offset of the value's first byte in `.dat` (a multiple of 512 when pydbm or
    /// CPython wrote it).
    pub pos: u64,
    /// Length of the value in bytes.
    pub siz: u64,
}

/// Appends the `.dir` line for `key` at `slot` to `out`, byte for byte as CPython writes it.
///
/// Cannot fail: every byte string has a Latin-1 repr.
pub fn encode_line(key: &[u8], slot: Slot, out: &mut Vec<u8>) {
    encode_key_repr(key, out);
    out.extend_from_slice(b", (");
    push_decimal(slot.pos, out);
    out.extend_from_slice(b", ");
    push_decimal(slot.siz, out);
    out.extend_from_slice(b")\n");
}

/// Encodes a whole index (entries in iteration order) as the `.dir` file CPython's `_commit`
/// writes.
pub fn encode<'a>(entries: impl IntoIterator<Item = (&'a [u8], Slot)>) -> Vec<u8> {
    let entries = entries.into_iter();
    let mut out = Vec::with_capacity(entries.size_hint().0 * 32);
    for (key, slot) in entries {
        encode_line(key, slot, &mut out);
    }
    out
}

fn push_decimal(mut n: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Whether CPython's `str.isprintable()` is false for code point `c` (U+0000–U+00FF).
/// python-formats spec §3.1: non-printable = 0x00–0x1f, 0x7f–0xa0 and 0xad.
fn latin1_unprintable(c: u8) -> bool {
    c < 0x20 || (0x7f..=0xa0).contains(&c) || c == 0xad
}

/// Appends CPython's `repr(key.decode('latin-1'))` to `out`, Latin-1 encoded.
pub fn encode_key_repr(key: &[u8], out: &mut Vec<u8>) {
    // repr picks double quotes only when the text has a ' and no " (spec §3.1).
    let quote = if key.contains(&b'\'') && !key.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    out.push(quote);
    // Fast path: bytes repr() writes as they are (printable, not a quote, not a backslash,
    // which covers \t \n \r too) are copied in one go.
    if key
        .iter()
        .all(|&c| c != b'\\' && c != quote && !latin1_unprintable(c))
    {
        out.extend_from_slice(key);
        out.push(quote);
        return;
    }
    for &c in key {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            c if c == quote => {
                out.push(b'\\');
                out.push(c);
            }
            c if latin1_unprintable(c) => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\x");
                out.push(HEX[usize::from(c >> 4)]);
                out.push(HEX[usize::from(c & 0xf)]);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// Whitespace Python's `str.rstrip()` removes, restricted to Latin-1 code points.
fn is_py_space(c: u8) -> bool {
    matches!(
        c,
        b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f | b' ' | 0x85 | 0xa0
    )
}

/// Parses a whole `.dir` file into its entries, in file order.
///
/// Lines are split as Python's text mode reads them (`\n`, `\r\n` and a lone `\r` all end a
/// line), each line is right-stripped of whitespace and parsed by [`parse_line`]. A later
/// line for the same key replaces the earlier one in place, as assigning into a dict does
/// (the caller's map keeps the first position). `path` names the file in errors.
///
/// Errors: [`Error::Corrupt`] with `offset` = byte offset of the bad line's start and
/// `expected` naming the 1-based line number and what was wrong.
pub fn parse(path: &Path, text: &[u8]) -> Result<Vec<(Vec<u8>, Slot)>> {
    let mut entries = Vec::new();
    for line in lines(text) {
        let parsed = parse_line(line.text).map_err(|what| {
            Error::corrupt(
                path,
                line.offset,
                format!(
                    "line {}: a `'key', (pos, size)` entry ({what})",
                    line.number
                ),
            )
        })?;
        entries.push(parsed);
    }
    Ok(entries)
}

/// One line of a `.dir` text, without its terminator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// 1-based line number.
    pub number: u64,
    /// Byte offset of the line's first byte in the file.
    pub offset: u64,
    /// The line's bytes (no `\n`/`\r`).
    pub text: &'a [u8],
}

/// Splits `text` into lines as Python's text mode reads them: `\n`, `\r\n` and a lone `\r`
/// each end a line; a final line without terminator counts; an empty text has no lines.
pub fn lines(text: &[u8]) -> impl Iterator<Item = Line<'_>> {
    let mut start = 0usize;
    let mut number = 0u64;
    std::iter::from_fn(move || {
        if start >= text.len() {
            return None;
        }
        number += 1;
        let rest = &text[start..];
        let (line_len, term_len) = match rest.iter().position(|&c| c == b'\n' || c == b'\r') {
            Some(i) if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') => (i, 2),
            Some(i) => (i, 1),
            None => (rest.len(), 0),
        };
        let line = Line {
            number,
            offset: start as u64,
            text: &rest[..line_len],
        };
        start += line_len + term_len;
        Some(line)
    })
}

/// Parses one `.dir` line (without its line terminator) into `(key, slot)`.
///
/// Accepts what `ast.literal_eval(line.rstrip())` followed by `key.encode('latin-1')`
/// accepts for the shapes CPython 2.7–3.13 write: an optional `u` prefix, either quote
/// style, every escape of Python string literals except `\N{...}`, adjacent literal
/// concatenation, optional outer parentheses, spaces/tabs between tokens, a trailing
/// `# comment`, and decimal integers (with `_` separators). The error string says what
/// was expected where parsing stopped.
///
/// Deliberately stricter than `literal_eval` (no valid file has them): negative or
/// ≥ 2**64 integers, `\N{...}` escapes, and non-decimal integer literals are errors.
pub fn parse_line(line: &[u8]) -> std::result::Result<(Vec<u8>, Slot), String> {
    let mut end = line.len();
    while end > 0 && is_py_space(line[end - 1]) {
        end -= 1;
    }
    let mut p = Parser {
        s: &line[..end],
        i: 0,
    };
    if p.s.contains(&0) {
        return Err("a line without NUL bytes".into());
    }
    p.skip_ws();
    let outer = p.eat(b'(');
    let key = p.string()?;
    p.expect(b',')?;
    p.skip_ws();
    let pair_close = if p.eat(b'(') {
        b')'
    } else if p.eat(b'[') {
        b']'
    } else {
        return Err(p.wanted("'(' opening the (pos, size) pair"));
    };
    let pos = p.integer()?;
    p.expect(b',')?;
    let siz = p.integer()?;
    p.skip_ws();
    p.eat(b',');
    p.expect(pair_close)?;
    if outer {
        p.skip_ws();
        p.eat(b',');
        p.expect(b')')?;
    }
    p.skip_ws();
    if p.i < p.s.len() && p.s[p.i] != b'#' {
        return Err(p.wanted("end of line"));
    }
    Ok((key, Slot { pos, siz }))
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn wanted(&self, what: &str) -> String {
        format!("expected {what} at column {}", self.i + 1)
    }

    /// Spaces, tabs and form feeds separate tokens in Python source.
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | 0x0c)) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> std::result::Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.wanted(&format!("'{}'", c as char)))
        }
    }

    fn integer(&mut self) -> std::result::Result<u64, String> {
        self.skip_ws();
        let start = self.i;
        let mut value: u64 = 0;
        let mut last_underscore = false;
        while let Some(c) = self.peek() {
            match c {
                b'0'..=b'9' => {
                    value = value
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(u64::from(c - b'0')))
                        .ok_or_else(|| self.wanted("an integer below 2**64"))?;
                    last_underscore = false;
                }
                b'_' if self.i > start && !last_underscore => last_underscore = true,
                _ => break,
            }
            self.i += 1;
        }
        let digits = &self.s[start..self.i];
        // Python forbids leading zeros in a nonzero decimal literal, and a trailing '_'.
        if digits.is_empty()
            || last_underscore
            || (digits.len() > 1
                && digits[0] == b'0'
                && digits.iter().any(|&d| d != b'0' && d != b'_'))
        {
            self.i = start;
            return Err(self.wanted("a non-negative decimal integer"));
        }
        if matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'.') {
            return Err(self.wanted("a non-negative decimal integer"));
        }
        Ok(value)
    }

    /// One or more adjacent string literals, concatenated, as Latin-1 bytes.
    fn string(&mut self) -> std::result::Result<Vec<u8>, String> {
        let mut out = Vec::new();
        let mut any = false;
        loop {
            self.skip_ws();
            let save = self.i;
            let mut raw = false;
            // Prefixes: u/U (3.3+), r/R (raw); combinations ur are not valid in Python 3.
            match self.peek() {
                Some(b'u' | b'U') => self.i += 1,
                Some(b'r' | b'R') => {
                    raw = true;
                    self.i += 1;
                }
                _ => {}
            }
            match self.peek() {
                Some(q @ (b'\'' | b'"')) => {
                    self.i += 1;
                    self.literal_body(q, raw, &mut out)?;
                    any = true;
                }
                _ => {
                    self.i = save;
                    break;
                }
            }
        }
        if any {
            Ok(out)
        } else {
            Err(self.wanted("a quoted key"))
        }
    }

    fn literal_body(
        &mut self,
        q: u8,
        raw: bool,
        out: &mut Vec<u8>,
    ) -> std::result::Result<(), String> {
        let triple = self.s[self.i..].starts_with(&[q, q]);
        if triple {
            self.i += 2;
        }
        loop {
            let Some(c) = self.peek() else {
                return Err(self.wanted("the closing quote"));
            };
            if c == q {
                if !triple {
                    self.i += 1;
                    return Ok(());
                }
                if self.s[self.i..].starts_with(&[q, q, q]) {
                    self.i += 3;
                    return Ok(());
                }
                out.push(c);
                self.i += 1;
                continue;
            }
            if c != b'\\' {
                out.push(c);
                self.i += 1;
                continue;
            }
            let Some(e) = self.s.get(self.i + 1).copied() else {
                return Err(self.wanted("a character after '\\'"));
            };
            if raw {
                // Raw strings keep the backslash; it still protects the next quote.
                out.push(b'\\');
                out.push(e);
                self.i += 2;
                continue;
            }
            self.i += 2;
            match e {
                b'\\' | b'\'' | b'"' => out.push(e),
                b'a' => out.push(0x07),
                b'b' => out.push(0x08),
                b'f' => out.push(0x0c),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'v' => out.push(0x0b),
                b'0'..=b'7' => {
                    let mut v = u32::from(e - b'0');
                    for _ in 0..2 {
                        match self.peek() {
                            Some(d @ b'0'..=b'7') => {
                                v = v * 8 + u32::from(d - b'0');
                                self.i += 1;
                            }
                            _ => break,
                        }
                    }
                    self.push_code_point(v, out)?;
                }
                b'x' => {
                    let v = self.hex_digits(2)?;
                    self.push_code_point(v, out)?;
                }
                b'u' => {
                    let v = self.hex_digits(4)?;
                    self.push_code_point(v, out)?;
                }
                b'U' => {
                    let v = self.hex_digits(8)?;
                    self.push_code_point(v, out)?;
                }
                b'N' => return Err(self.wanted("an escape other than \\N{...}")),
                // Python keeps an unknown escape as the backslash and the character.
                other => {
                    out.push(b'\\');
                    out.push(other);
                }
            }
        }
    }

    fn hex_digits(&mut self, n: usize) -> std::result::Result<u32, String> {
        let mut v: u32 = 0;
        for _ in 0..n {
            let d = self
                .peek()
                .and_then(|c| (c as char).to_digit(16))
                .ok_or_else(|| self.wanted(&format!("{n} hex digits in an escape")))?;
            v = v.wrapping_mul(16).wrapping_add(d);
            self.i += 1;
        }
        Ok(v)
    }

    /// A key must encode to Latin-1 (CPython: `key.encode('Latin-1')`).
    fn push_code_point(&self, v: u32, out: &mut Vec<u8>) -> std::result::Result<(), String> {
        match u8::try_from(v) {
            Ok(b) => {
                out.push(b);
                Ok(())
            }
            Err(_) => Err(format!(
                "a key character below U+0100 (got U+{v:04X}) before column {}",
                self.i + 1
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(key: &[u8], pos: u64, siz: u64) -> Vec<u8> {
        let mut v = Vec::new();
        encode_line(key, Slot { pos, siz }, &mut v);
        v
    }

    #[test]
    fn encodes_the_corpus_line_for_a_nasty_key() {
        // corpus dumb/py3.13/03-after-close/db.dir, third line.
        assert_eq!(
            line(b"\xff\x00'\"\\\n", 1024, 9),
            b"'\xff\\x00\\'\"\\\\\\n', (1024, 9)\n".to_vec()
        );
        assert_eq!(
            line(b"caf\xc3\xa9", 1536, 16),
            b"'caf\xc3\xa9', (1536, 16)\n".to_vec()
        );
        assert_eq!(line(b"it's", 0, 0), b"\"it's\", (0, 0)\n".to_vec());
        assert_eq!(line(b"", 512, 3), b"'', (512, 3)\n".to_vec());
        assert_eq!(
            line(b"\x7f\xa0\xad\xa1\t\r", 0, 1),
            b"'\\x7f\\xa0\\xad\xa1\\t\\r', (0, 1)\n".to_vec()
        );
    }

    #[test]
    fn every_single_byte_key_round_trips() {
        for b in 0..=255u8 {
            for key in [vec![b], vec![b'\'', b], vec![b'"', b'\'', b]] {
                let l = line(&key, 7, 9);
                let (k, s) = parse_line(&l[..l.len() - 1]).unwrap();
                assert_eq!((k, s), (key, Slot { pos: 7, siz: 9 }));
            }
        }
    }

    #[test]
    fn accepts_python_literal_variants() {
        let ok: &[(&[u8], &[u8])] = &[
            (b"'a', (0, 1)", b"a"),
            (b"u'a' , ( 0 ,1 ) ", b"a"),
            (b"\"a\", (0, 1)\x85", b"a"),
            (b"('a', (0, 1))", b"a"),
            (b"'a' \"b\", (0, 1)", b"ab"),
            (b"'\\101\\x41\\u0041\\U00000041', (0, 1)", b"AAAA"),
            (b"'\\q', (0, 1) # comment", b"\\q"),
            (b"r'\\n', (0, 1)", b"\\n"),
            (b"'''a'b''', (0, 1)", b"a'b"),
            (b"'a', [0, 1]", b"a"),
            (b"\t'a', (0, 1_0)", b"a"),
        ];
        for (text, key) in ok {
            let (k, _) = parse_line(text)
                .unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(text)));
            assert_eq!(&k, key);
        }
    }

    #[test]
    fn rejects_what_literal_eval_or_latin1_would_reject() {
        let bad: &[&[u8]] = &[
            b"",
            b"'a'",
            b"'a', (0, 1",
            b"'a', (01, 1)",
            b"'a', (-1, 1)",
            b"'a', (0, 1L)",
            b"'a', (0, 1) x",
            b"b'a', (0, 1)",
            b"'\\u0100', (0, 1)",
            b"'\\N{BULLET}', (0, 1)",
            b"'a\x00', (0, 1)",
            b"'a, (0, 1)",
            b"'a', (99999999999999999999999, 1)",
            b"__import__('os'), (0, 1)",
        ];
        for text in bad {
            assert!(
                parse_line(text).is_err(),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn parse_splits_lines_like_python_text_mode_and_names_the_line() {
        let path = Path::new("x.dir");
        let got = parse(path, b"'a', (0, 1)\r\n'b', (512, 2)\r'c', (1024, 0)").unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[2], (b"c".to_vec(), Slot { pos: 1024, siz: 0 }));
        match parse(path, b"'a', (0, 1)\n\n") {
            Err(Error::Corrupt {
                offset, expected, ..
            }) => {
                assert_eq!(offset, 12);
                assert!(expected.starts_with("line 2:"), "{expected}");
            }
            other => panic!("{other:?}"),
        }
    }
}
