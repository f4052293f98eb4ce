//! `pickletools.dis`: the symbolic disassembly `python3 -m pickletools FILE` prints,
//! character for character, including its stack/mark/memo sanity checks.

use std::collections::HashSet;

use pydbm_engine::Result;

use super::error::PickleError;
use super::opcodes::{lookup, Arg, OpInfo};
use super::pyint::{DecimalError, PyInt};
use super::pystr::PyStr;
use super::repr::{bytes_repr, str_repr};
use super::text::{decode_escape, decode_raw_unicode_escape, float_repr, parse_python_float};
use crate::py_exc::PyExc;

/// One decoded opcode: where it starts, what it is, its argument as Python would `repr` it.
#[derive(Debug, Clone)]
pub struct Op {
    /// Offset of the opcode byte.
    pub pos: usize,
    /// The opcode.
    pub info: &'static OpInfo,
    /// `repr()` of the decoded argument (None when the opcode has none).
    pub arg_repr: Option<String>,
    /// The argument as an integer, for memo and protocol opcodes.
    pub arg_int: Option<i64>,
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn read(&mut self, n: usize) -> &'a [u8] {
        let end = self.pos.saturating_add(n).min(self.data.len());
        let s = &self.data[self.pos..end];
        self.pos = end;
        s
    }
    fn exact(&mut self, n: usize, what: &str) -> std::result::Result<&'a [u8], String> {
        let s = self.read(n);
        if s.len() == n {
            Ok(s)
        } else {
            Err(format!("not enough data in stream to read {what}"))
        }
    }
    fn readline(&mut self) -> &'a [u8] {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        self.read(n)
    }
    fn stringnl(
        &mut self,
        decode: bool,
        stripquotes: bool,
    ) -> std::result::Result<Vec<u8>, String> {
        let line = self.readline();
        let Some(data) = line.strip_suffix(b"\n") else {
            return Err("no newline found when trying to read stringnl".into());
        };
        let mut data = data;
        if stripquotes {
            match data.first() {
                Some(&q @ (b'"' | b'\'')) => {
                    if data.len() < 2 || data[data.len() - 1] != q {
                        return Err(format!(
                            "strinq quote {} not found at both ends of {}",
                            bytes_repr(&[q]),
                            bytes_repr(data)
                        ));
                    }
                    data = &data[1..data.len() - 1];
                }
                _ => return Err(format!("no string quotes around {}", bytes_repr(data))),
            }
        }
        if decode {
            // pickletools reports the codec's ValueError message alone
            let d = decode_escape(data).map_err(|e| e.message)?;
            if let Some(p) = d.iter().position(|&b| b >= 0x80) {
                return Err(format!(
                    "'ascii' codec can't decode byte 0x{:02x} in position {p}: ordinal not in range(128)",
                    d[p]
                ));
            }
            return Ok(d);
        }
        Ok(data.to_vec())
    }
    fn counted(&mut self, n: u64, what: &str) -> std::result::Result<&'a [u8], String> {
        let avail = (self.data.len() - self.pos) as u64;
        if n > avail {
            self.pos = self.data.len();
            return Err(format!(
                "expected {n} bytes in a {what}, but only {avail} remain"
            ));
        }
        Ok(self.read(n as usize))
    }
}

fn latin1_repr(b: &[u8]) -> String {
    str_repr(&PyStr::from_code_points(b.iter().map(|&c| c as u32)))
}

fn int_from_text(s: &[u8]) -> std::result::Result<PyInt, String> {
    std::str::from_utf8(s)
        .ok()
        .ok_or(DecimalError::Invalid)
        .and_then(PyInt::parse_decimal)
        .map_err(|e| match e {
            DecimalError::TooManyDigits(m) => m,
            DecimalError::Invalid => {
                format!("invalid literal for int() with base 10: {}", bytes_repr(s))
            }
        })
}

fn read_arg(r: &mut Reader<'_>, arg: Arg) -> std::result::Result<(String, Option<i64>), String> {
    let u = |b: &[u8]| {
        let mut a = [0u8; 8];
        a[..b.len()].copy_from_slice(b);
        u64::from_le_bytes(a)
    };
    Ok(match arg {
        Arg::None => (String::new(), None),
        Arg::Uint1 => {
            let v = u(r.exact(1, "uint1")?);
            (v.to_string(), Some(v as i64))
        }
        Arg::Uint2 => {
            let v = u(r.exact(2, "uint2")?);
            (v.to_string(), Some(v as i64))
        }
        Arg::Uint4 => {
            let v = u(r.exact(4, "uint4")?);
            (v.to_string(), Some(v as i64))
        }
        Arg::Uint8 => {
            let v = u(r.exact(8, "uint8")?);
            (v.to_string(), i64::try_from(v).ok())
        }
        Arg::Int4 => {
            let v = u(r.exact(4, "int4")?) as u32 as i32;
            (v.to_string(), Some(v as i64))
        }
        Arg::DecimalnlShort => {
            let s = r.stringnl(false, false)?;
            match s.as_slice() {
                b"00" => ("False".into(), Some(0)),
                b"01" => ("True".into(), Some(1)),
                _ => {
                    let v = int_from_text(&s)?;
                    (v.to_string(), v.to_i64())
                }
            }
        }
        Arg::DecimalnlLong => {
            let s = r.stringnl(false, false)?;
            let t = s.strip_suffix(b"L").unwrap_or(&s);
            let v = int_from_text(t)?;
            (v.to_string(), v.to_i64())
        }
        Arg::Floatnl => {
            let s = r.stringnl(false, false)?;
            let v = std::str::from_utf8(&s)
                .ok()
                .and_then(parse_python_float)
                .ok_or_else(|| format!("could not convert string to float: {}", bytes_repr(&s)))?;
            (float_repr(v), None)
        }
        Arg::Float8 => {
            let b = r.exact(8, "float8")?;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            (float_repr(f64::from_be_bytes(a)), None)
        }
        Arg::Stringnl => {
            let s = r.stringnl(true, true)?;
            (latin1_repr(&s), None)
        }
        Arg::StringnlNoescape => {
            let s = r.stringnl(true, false)?;
            (latin1_repr(&s), None)
        }
        Arg::StringnlNoescapePair => {
            let mut a = r.stringnl(true, false)?;
            let b = r.stringnl(true, false)?;
            a.push(b' ');
            a.extend_from_slice(&b);
            (latin1_repr(&a), None)
        }
        Arg::String1 => {
            let n = u(r.exact(1, "uint1")?);
            (latin1_repr(r.counted(n, "string1")?), None)
        }
        Arg::String4 => {
            let n = u(r.exact(4, "int4")?) as u32 as i32;
            if n < 0 {
                return Err(format!("string4 byte count < 0: {n}"));
            }
            (latin1_repr(r.counted(n as u64, "string4")?), None)
        }
        Arg::Bytes1 => {
            let n = u(r.exact(1, "uint1")?);
            (bytes_repr(r.counted(n, "bytes1")?), None)
        }
        Arg::Bytes4 => {
            let n = u(r.exact(4, "uint4")?);
            (bytes_repr(r.counted(n, "bytes4")?), None)
        }
        Arg::Bytes8 => {
            let n = u(r.exact(8, "uint8")?);
            (bytes_repr(r.counted(n, "bytes8")?), None)
        }
        Arg::Bytearray8 => {
            let n = u(r.exact(8, "uint8")?);
            (
                format!("bytearray({})", bytes_repr(r.counted(n, "bytearray8")?)),
                None,
            )
        }
        Arg::Unicodestringnl => {
            let line = r.readline();
            let Some(data) = line.strip_suffix(b"\n") else {
                return Err("no newline found when trying to read unicodestringnl".into());
            };
            let s = decode_raw_unicode_escape(data)
                .map_err(|e| format!("{}: {}", e.exc.name(), e.message))?;
            (str_repr(&s), None)
        }
        Arg::Unicodestring1 | Arg::Unicodestring4 | Arg::Unicodestring8 => {
            let (w, what) = match arg {
                Arg::Unicodestring1 => (1, "unicodestring1"),
                Arg::Unicodestring4 => (4, "unicodestring4"),
                _ => (8, "unicodestring8"),
            };
            let n = u(r.exact(w, "length")?);
            let b = r.counted(n, what)?;
            let s = PyStr::from_utf8_surrogatepass(b).map_err(|e| e.to_string())?;
            (str_repr(&s), None)
        }
        Arg::Long1 => {
            let n = u(r.exact(1, "uint1")?);
            let b = r.read(n as usize);
            if b.len() as u64 != n {
                return Err("not enough data in stream to read long1".into());
            }
            (PyInt::from_le_twos_complement(b).to_decimal()?, None)
        }
        Arg::Long4 => {
            let n = u(r.exact(4, "int4")?) as u32 as i32;
            if n < 0 {
                return Err(format!("long4 byte count < 0: {n}"));
            }
            if n as usize > r.data.len() - r.pos {
                r.pos = r.data.len();
                return Err("not enough data in stream to read long4".into());
            }
            let b = r.read(n as usize);
            (PyInt::from_le_twos_complement(b).to_decimal()?, None)
        }
    })
}

/// `pickletools.genops`: the opcodes of the first pickle in `data`, through STOP.
pub fn genops(data: &[u8]) -> Result<Vec<Op>> {
    let (ops, err) = genops_partial(data);
    match err {
        None => Ok(ops),
        Some((pos, msg)) => Err(PickleError::new(PyExc::ValueError, msg)
            .at(pos, None)
            .into()),
    }
}

fn genops_partial(data: &[u8]) -> (Vec<Op>, Option<(usize, String)>) {
    let mut ops = Vec::new();
    for op in OpStream::new(data) {
        match op {
            Ok(o) => ops.push(o),
            Err(e) => return (ops, Some(e)),
        }
    }
    (ops, None)
}

/// `pickletools.genops` as a lazy iterator: one opcode at a time, then `Err((pos, msg))`
/// once if the pickle is malformed, then nothing. Nothing is kept but the position.
struct OpStream<'a> {
    r: Reader<'a>,
    done: bool,
}

impl<'a> OpStream<'a> {
    fn new(data: &'a [u8]) -> OpStream<'a> {
        OpStream {
            r: Reader { data, pos: 0 },
            done: false,
        }
    }

    fn step(&mut self) -> std::result::Result<Op, (usize, String)> {
        let r = &mut self.r;
        let pos = r.pos;
        let Some(&c) = r.data.get(pos) else {
            return Err((pos, "pickle exhausted before seeing STOP".into()));
        };
        r.pos += 1;
        let Some(info) = lookup(c) else {
            let code = if (0x20..0x7f).contains(&c) && c != b'\'' && c != b'\\' {
                format!("b'{}'", c as char)
            } else {
                bytes_repr(&[c])
            };
            return Err((pos, format!("at position {pos}, opcode {code} unknown")));
        };
        let (repr, int) = read_arg(r, info.arg).map_err(|m| (pos, m))?;
        if c == b'.' {
            self.done = true;
        }
        Ok(Op {
            pos,
            info,
            arg_repr: (info.arg != Arg::None).then_some(repr),
            arg_int: int,
        })
    }
}

impl Iterator for OpStream<'_> {
    type Item = std::result::Result<Op, (usize, String)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let op = self.step();
        if op.is_err() {
            self.done = true;
        }
        Some(op)
    }
}

/// The text `python3 -m pickletools FILE` prints for `data`, and the error pickletools
/// raises after printing it (`ValueError: ...`), if any. Built in memory: the listing of
/// a MARK-heavy pickle grows quadratically (each line is indented by the open MARKs), so
/// output meant for a stream goes through [`dis_write`].
pub fn dis_partial(data: &[u8]) -> (String, Option<String>) {
    let mut out = Vec::new();
    let err = dis_write(data, &mut out).expect("writing to a Vec<u8> never fails");
    (
        String::from_utf8(out).expect("the listing is written from Rust strings"),
        err,
    )
}

/// [`dis_partial`] streamed to `out` as pickletools does: one line at a time, reading
/// one opcode at a time, so memory stays bounded by the input and the open MARKs
/// whatever the listing's length. Returns pickletools' error after the lines it printed
/// (`Ok(Some(msg))`), or the writer's error.
pub fn dis_write(data: &[u8], out: &mut dyn std::io::Write) -> std::io::Result<Option<String>> {
    let mut stack: Vec<&'static str> = Vec::new();
    let mut memo: HashSet<i64> = HashSet::new();
    let mut memo_len = 0i64;
    let mut maxproto: i32 = -1;
    let mut markstack: Vec<usize> = Vec::new();
    for o in OpStream::new(data) {
        let o = match o {
            Ok(o) => o,
            Err((_, e)) => return Ok(Some(e)),
        };
        let info = o.info;
        let code_repr = super::repr::char_escape(info.code);
        let code_repr = if info.code == b'\\' {
            "\\\\".to_string()
        } else {
            code_repr
        };
        write!(out, "{:5}: {:<4} ", o.pos, code_repr)?;
        write_indent(out, markstack.len())?;
        let mut line = info.name.to_string();
        maxproto = maxproto.max(info.proto as i32);
        let mut numtopop = info.pops as usize;
        let mut markmsg: Option<String> = None;
        let mut errormsg: Option<String> = None;
        let pop_on_mark = info.name == "POP" && stack.last() == Some(&"mark");
        if info.mark_index.is_some() || pop_on_mark {
            if let Some(mp) = markstack.pop() {
                markmsg = Some(format!("(MARK at {mp})"));
                while let Some(t) = stack.pop() {
                    if t == "mark" {
                        break;
                    }
                }
                numtopop = info.mark_index.map_or(0, |i| i as usize);
            } else {
                markmsg = Some("no MARK exists on stack".into());
                errormsg = markmsg.clone();
            }
        }
        let mut after: Vec<&'static str> = info.after.to_vec();
        match info.name {
            "PUT" | "BINPUT" | "LONG_BINPUT" | "MEMOIZE" => {
                let idx = if info.name == "MEMOIZE" {
                    markmsg = Some(format!("(as {memo_len})"));
                    memo_len
                } else {
                    o.arg_int.unwrap_or(-1)
                };
                if memo.contains(&idx) {
                    errormsg = Some(format!(
                        "memo key {} already defined",
                        o.arg_repr.clone().unwrap_or_else(|| "None".into())
                    ));
                } else if stack.is_empty() {
                    errormsg = Some("stack is empty -- can't store into memo".into());
                } else if stack.last() == Some(&"mark") {
                    errormsg = Some("can't store markobject in the memo".into());
                } else {
                    memo.insert(idx);
                    memo_len = memo.len() as i64;
                }
            }
            "GET" | "BINGET" | "LONG_BINGET" => {
                let idx = o.arg_int.unwrap_or(-1);
                if memo.contains(&idx) {
                    after = vec!["any"];
                } else {
                    errormsg = Some(format!(
                        "memo key {} has never been stored into",
                        o.arg_repr.clone().unwrap_or_default()
                    ));
                }
            }
            _ => {}
        }
        if o.arg_repr.is_some() || markmsg.is_some() {
            line.push_str(&" ".repeat(10usize.saturating_sub(info.name.len())));
            if let Some(a) = &o.arg_repr {
                line.push(' ');
                line.push_str(a);
            }
            if let Some(m) = &markmsg {
                line.push(' ');
                line.push_str(m);
            }
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
        if let Some(e) = errormsg {
            return Ok(Some(e));
        }
        if stack.len() < numtopop {
            return Ok(Some(format!(
                "tries to pop {numtopop} items from stack with only {} items",
                stack.len()
            )));
        }
        stack.truncate(stack.len() - numtopop);
        if info.name == "MARK" {
            markstack.push(o.pos);
        }
        stack.extend(after);
    }
    writeln!(out, "highest protocol among opcodes = {maxproto}")?;
    if !stack.is_empty() {
        return Ok(Some(format!(
            "stack not empty after STOP: [{}]",
            stack.join(", ")
        )));
    }
    Ok(None)
}

/// Writes `levels` indentation steps of four spaces without building the whole string.
fn write_indent(out: &mut dyn std::io::Write, levels: usize) -> std::io::Result<()> {
    const SPACES: [u8; 1024] = [b' '; 1024];
    let mut left = levels.saturating_mul(4);
    while left > 0 {
        let n = left.min(SPACES.len());
        out.write_all(&SPACES[..n])?;
        left -= n;
    }
    Ok(())
}

/// `python3 -m pickletools FILE` output for a well-formed pickle; for a malformed one, an
/// error carrying pickletools' message (the partial text is in [`dis_partial`]).
pub fn dis(data: &[u8]) -> Result<String> {
    match dis_partial(data) {
        (text, None) => Ok(text),
        // pickletools' errors are ValueErrors; dis_partial keeps no offset
        (_, Some(e)) => Err(PickleError::new(PyExc::ValueError, e).into()),
    }
}

#[cfg(test)]
mod streaming_tests {
    /// A writer that keeps the first `cap` bytes and then fails.
    struct Capped {
        kept: Vec<u8>,
        cap: usize,
    }

    impl std::io::Write for Capped {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.kept.len() + buf.len() > self.cap {
                return Err(std::io::Error::other("full"));
            }
            self.kept.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// 200,000 MARKs: the listing is ~80 GB (each line indented by the open MARKs), which
    /// the in-memory listing tried to allocate (`memory allocation of 4294967296 bytes
    /// failed`). Streamed, the first megabyte arrives at once and a writer error ends it.
    #[test]
    fn a_mark_heavy_listing_streams() {
        let mut data = vec![b'('; 200_000];
        data.push(b'.');
        let start = std::time::Instant::now();
        let mut out = Capped {
            kept: Vec::new(),
            cap: 1 << 20,
        };
        let r = super::dis_write(&data, &mut out);
        assert!(r.is_err(), "the capped writer ends the listing");
        assert!(start.elapsed().as_secs() < 5, "{:?}", start.elapsed());
        let text = String::from_utf8(out.kept).unwrap();
        assert!(
            text.starts_with("    0: (    MARK\n    1: (        MARK\n"),
            "{}",
            &text[..80]
        );
    }
}
