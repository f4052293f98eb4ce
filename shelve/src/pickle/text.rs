//! Python's text codecs and number formats that pickle's text opcodes use: `escape_decode`
//! (STRING), `raw-unicode-escape` (UNICODE), `float()` parsing and `repr(float)` (FLOAT).

use super::pystr::{push_code_point, PyStr};
use super::PickleError;
use crate::py_exc::PyExc;

/// Python's `codecs.escape_decode` (what the unpickler applies to a STRING argument).
pub fn decode_escape(s: &[u8]) -> Result<Vec<u8>, PickleError> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        let Some(&e) = s.get(i) else {
            return Err(PickleError::new(PyExc::ValueError, "Trailing \\ in string"));
        };
        i += 1;
        match e {
            b'\n' => {}
            b'\\' => out.push(b'\\'),
            b'\'' => out.push(b'\''),
            b'"' => out.push(b'"'),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b't' => out.push(9),
            b'n' => out.push(10),
            b'r' => out.push(13),
            b'v' => out.push(11),
            b'a' => out.push(7),
            b'0'..=b'7' => {
                let mut v = (e - b'0') as u32;
                for _ in 0..2 {
                    match s.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + (d - b'0') as u32;
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(v as u8);
            }
            b'x' => {
                let h = s.get(i..i + 2).and_then(|h| {
                    std::str::from_utf8(h)
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                });
                match h {
                    Some(v) if s[i].is_ascii_hexdigit() && s[i + 1].is_ascii_hexdigit() => {
                        out.push(v);
                        i += 2;
                    }
                    _ => {
                        return Err(PickleError::new(
                            PyExc::ValueError,
                            format!("invalid \\x escape at position {}", i - 2),
                        ))
                    }
                }
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    Ok(out)
}

/// Python's `raw-unicode-escape` decoding: bytes are latin-1 code points except `\uXXXX`
/// and `\UXXXXXXXX` (preceded by an odd number of backslashes).
pub fn decode_raw_unicode_escape(s: &[u8]) -> Result<PyStr, PickleError> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c == b'\\' && i + 1 < s.len() && (s[i + 1] == b'u' || s[i + 1] == b'U') {
            // count preceding backslashes: an even run before this one means it escapes
            let mut run = 0;
            let mut j = i;
            while j > 0 && s[j - 1] == b'\\' {
                run += 1;
                j -= 1;
            }
            if run % 2 == 0 {
                let n = if s[i + 1] == b'u' { 4 } else { 8 };
                let hex = s.get(i + 2..i + 2 + n);
                let v = hex
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u32::from_str_radix(h, 16).ok());
                match v {
                    Some(v) if v <= 0x10ffff => {
                        push_code_point(&mut out, v);
                        i += 2 + n;
                        continue;
                    }
                    Some(_) => {
                        return Err(PickleError::new(
                            PyExc::UnicodeDecodeError,
                            format!("'rawunicodeescape' codec can't decode bytes in position {}-{}: \\Uxxxxxxxx out of range",
                            i,
                            i + 1 + n
                        )))
                    }
                    None => {
                        return Err(PickleError::new(
                            PyExc::UnicodeDecodeError,
                            format!("'rawunicodeescape' codec can't decode bytes in position {}-{}: truncated \\{}XXXX escape",
                            i,
                            (i + 1 + n).min(s.len() - 1),
                            s[i + 1] as char
                        )))
                    }
                }
            }
        }
        push_code_point(&mut out, c as u32);
        i += 1;
    }
    // built from whole code points, so the bytes are valid surrogatepass UTF-8
    PyStr::from_utf8_surrogatepass(&out)
        .map_err(|e| PickleError::new(PyExc::UnicodeDecodeError, e.to_string()))
}

/// Python's `raw-unicode-escape` encoding as the protocol-0 pickler uses it (pickle spec §1.5:
/// also `\` `\0` `\n` `\r` `\x1a` escaped as `\u005c` etc. since 3.7).
pub fn encode_raw_unicode_escape_p0(s: &PyStr, out: &mut Vec<u8>) {
    for cp in s.code_points() {
        match cp {
            0x5c | 0x00 | 0x0a | 0x0d | 0x1a => {
                out.extend_from_slice(format!("\\u{cp:04x}").as_bytes());
            }
            0..=0xff => out.push(cp as u8),
            0x100..=0xffff => out.extend_from_slice(format!("\\u{cp:04x}").as_bytes()),
            _ => out.extend_from_slice(format!("\\U{cp:08x}").as_bytes()),
        }
    }
}

/// Python's `float(text)` for what pickles hold: decimal/exponent forms, `inf`, `nan`,
/// `infinity`, with optional sign and surrounding whitespace.
pub fn parse_python_float(t: &str) -> Option<f64> {
    let t = t.trim_matches(|c: char| c.is_ascii_whitespace());
    let (neg, body) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let lower = body.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        _ => {
            if body.is_empty()
                || !body.bytes().all(|b| {
                    b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-' | b'_')
                })
                || !body
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_digit() || b == b'.')
            {
                return None;
            }
            body.replace('_', "").parse::<f64>().ok()?
        }
    };
    Some(if neg { -v } else { v })
}

/// Python's `repr(float)`: shortest round-trip digits, exponent form when the decimal
/// exponent is < -4 or ≥ 16 (`1e+16`, `5e-324`, `0.0001`, `-0.0`, `inf`, `nan`).
pub fn float_repr(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let e = format!("{v:e}"); // shortest digits, e.g. "-1.25e0", "1e16"
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mant) = match mant.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mant),
    };
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    if !(-4..16).contains(&exp) {
        let mut m = digits[..1].to_string();
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let es = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{m}e{es}{:02}", exp.abs());
    }
    let point = exp + 1; // digits before the decimal point
    let s = if point <= 0 {
        format!("0.{}{}", "0".repeat((-point) as usize), digits)
    } else if point as usize >= digits.len() {
        format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
    } else {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    };
    format!("{sign}{s}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        // expected strings are what CPython's repr() prints for these values
        let cases: &[(f64, &str)] = &[
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (0.1, "0.1"),
            (1.5, "1.5"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (5e-324, "5e-324"),
            (1e300, "1e+300"),
            (-1.25, "-1.25"),
            (1.0 / 3.0, "0.3333333333333333"),
            (123456789.0, "123456789.0"),
        ];
        for (v, s) in cases {
            assert_eq!(float_repr(*v), *s);
            assert_eq!(parse_python_float(s), Some(*v));
        }
    }

    #[test]
    fn escapes() {
        assert_eq!(
            decode_escape(br"a\n\\b\x00c\td").unwrap(),
            b"a\n\\b\x00c\td"
        );
        let s = decode_raw_unicode_escape(br"a\u00e9\\u0041").unwrap();
        assert_eq!(s.as_str(), Some("a\u{e9}\\\\u0041"));
    }
}
