//! Python `int`: arbitrary-size integers as pickle needs them.
//!
//! Values that fit an `i64` stay inline; larger ones keep their magnitude as base-2³² limbs.
//! Only what pickle, pickletools and `repr` need is implemented: conversion from and to
//! decimal text and from and to little-endian two's-complement bytes (pickle spec §1.2,
//! `long1`/`long4`: `encode_long(0) == b""`).

use std::cmp::Ordering;
use std::fmt;

/// An arbitrary-size signed integer.
///
/// Invariant: `Big` is only used for values outside the `i64` range, its magnitude has no
/// high zero limbs, so every value has exactly one representation and `==` is value equality.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum PyInt {
    /// A value within `i64`.
    Small(i64),
    /// A value outside `i64`: sign (`true` = negative) and magnitude limbs, least significant first.
    Big {
        /// True when the value is negative.
        negative: bool,
        /// The absolute value, base 2³², least significant limb first, no high zero limbs.
        magnitude: Vec<u32>,
    },
}

impl fmt::Debug for PyInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl From<i64> for PyInt {
    fn from(v: i64) -> Self {
        PyInt::Small(v)
    }
}

impl PyInt {
    /// Builds a value from sign and magnitude, normalising to `Small` where it fits.
    fn from_sign_magnitude(negative: bool, mut magnitude: Vec<u32>) -> PyInt {
        while magnitude.last() == Some(&0) {
            magnitude.pop();
        }
        if magnitude.len() <= 2 {
            let m = magnitude.first().copied().unwrap_or(0) as u64
                | (magnitude.get(1).copied().unwrap_or(0) as u64) << 32;
            if !negative && m <= i64::MAX as u64 {
                return PyInt::Small(m as i64);
            }
            if negative && m <= 1u64 << 63 {
                return PyInt::Small((m as i64).wrapping_neg());
            }
        }
        PyInt::Big {
            negative,
            magnitude,
        }
    }

    /// The value as an `i64`, if it fits.
    pub fn to_i64(&self) -> Option<i64> {
        match self {
            PyInt::Small(v) => Some(*v),
            PyInt::Big { .. } => None,
        }
    }

    /// Sign and magnitude limbs of the value.
    fn sign_magnitude(&self) -> (bool, Vec<u32>) {
        match self {
            PyInt::Small(v) => {
                let m = v.unsigned_abs();
                let mut limbs = vec![m as u32, (m >> 32) as u32];
                while limbs.last() == Some(&0) {
                    limbs.pop();
                }
                (*v < 0, limbs)
            }
            PyInt::Big {
                negative,
                magnitude,
            } => (*negative, magnitude.clone()),
        }
    }

    /// Decodes little-endian two's-complement bytes (pickle's `LONG1`/`LONG4` payload).
    /// The empty slice is 0.
    pub fn from_le_twos_complement(bytes: &[u8]) -> PyInt {
        if bytes.len() <= 8 {
            if bytes.is_empty() {
                return PyInt::Small(0);
            }
            let negative = bytes[bytes.len() - 1] & 0x80 != 0;
            let mut buf = if negative { [0xffu8; 8] } else { [0u8; 8] };
            buf[..bytes.len()].copy_from_slice(bytes);
            return PyInt::Small(i64::from_le_bytes(buf));
        }
        let negative = bytes[bytes.len() - 1] & 0x80 != 0;
        let mut limbs: Vec<u32> = bytes
            .chunks(4)
            .map(|c| {
                let mut b = if negative { [0xffu8; 4] } else { [0u8; 4] };
                b[..c.len()].copy_from_slice(c);
                u32::from_le_bytes(b)
            })
            .collect();
        if negative {
            // magnitude = !x + 1
            let mut carry = 1u64;
            for l in limbs.iter_mut() {
                let v = (!*l) as u64 + carry;
                *l = v as u32;
                carry = v >> 32;
            }
        }
        PyInt::from_sign_magnitude(negative, limbs)
    }

    /// Encodes as minimal little-endian two's complement, as Python's `pickle.encode_long`
    /// does (0 → empty; 255 → `ff 00`; -256 → `00 ff`).
    pub fn to_le_twos_complement(&self) -> Vec<u8> {
        if let PyInt::Small(v) = self {
            if *v == 0 {
                return Vec::new();
            }
            let bytes = v.to_le_bytes();
            let mut n = 8;
            // drop redundant sign bytes
            while n > 1 {
                let top = bytes[n - 1];
                let next = bytes[n - 2];
                if (top == 0 && next & 0x80 == 0) || (top == 0xff && next & 0x80 != 0) {
                    n -= 1;
                } else {
                    break;
                }
            }
            return bytes[..n].to_vec();
        }
        let (negative, mut limbs) = self.sign_magnitude();
        if negative {
            let mut carry = 1u64;
            for l in limbs.iter_mut() {
                let v = (!*l) as u64 + carry;
                *l = v as u32;
                carry = v >> 32;
            }
        }
        let mut out: Vec<u8> = limbs.iter().flat_map(|l| l.to_le_bytes()).collect();
        let sign_byte = if negative { 0xff } else { 0 };
        while out.len() > 1 {
            let top = out[out.len() - 1];
            let next = out[out.len() - 2];
            if top == sign_byte && (next & 0x80 != 0) == negative {
                out.pop();
            } else {
                break;
            }
        }
        if (out[out.len() - 1] & 0x80 != 0) != negative {
            out.push(sign_byte);
        }
        out
    }

    /// Parses Python `int()` decimal text: optional whitespace, sign, digits (underscores
    /// between digits allowed). Fails with [`DecimalError::Invalid`] when the text is not a
    /// decimal integer and [`DecimalError::TooManyDigits`] when it has more digits than
    /// `sys.set_int_max_str_digits` allows (checked before any conversion work).
    pub fn parse_decimal(text: &str) -> Result<PyInt, DecimalError> {
        let t = text.trim_matches(|c: char| c.is_ascii_whitespace());
        let (negative, digits) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            Some(_) => (false, t),
            None => return Err(DecimalError::Invalid),
        };
        if digits.is_empty()
            || digits.starts_with('_')
            || digits.ends_with('_')
            || digits.contains("__")
        {
            return Err(DecimalError::Invalid);
        }
        let clean: Vec<u8> = digits.bytes().filter(|&b| b != b'_').collect();
        if !clean.iter().all(u8::is_ascii_digit) {
            return Err(DecimalError::Invalid);
        }
        crate::int_max_str_digits::check_parse(clean.len()).map_err(DecimalError::TooManyDigits)?;
        if clean.len() <= 18 {
            let mut v: i64 = 0;
            for d in &clean {
                v = v * 10 + (d - b'0') as i64;
            }
            return Ok(PyInt::Small(if negative { -v } else { v }));
        }
        let mut limbs: Vec<u32> = Vec::new();
        for chunk in clean.chunks(9) {
            let mut mul = 1u64;
            let mut add = 0u64;
            for d in chunk {
                mul *= 10;
                add = add * 10 + (d - b'0') as u64;
            }
            let mut carry = add;
            for l in limbs.iter_mut() {
                let v = *l as u64 * mul + carry;
                *l = v as u32;
                carry = v >> 32;
            }
            if carry != 0 {
                limbs.push(carry as u32);
            }
        }
        Ok(PyInt::from_sign_magnitude(negative, limbs))
    }

    /// `str(n)`: decimal text, or the `ValueError` text (without `ValueError: `) when the
    /// value has more digits than `sys.set_int_max_str_digits` allows. Values far over the
    /// limit are refused from their bit length, before any conversion work, so the cost
    /// is bounded by the limit (the conversion is quadratic in the digit count).
    pub fn to_decimal(&self) -> Result<String, String> {
        crate::int_max_str_digits::check_format_bits(self.bit_length())?;
        let s = self.to_string();
        let digits = s.len() - usize::from(s.starts_with('-'));
        crate::int_max_str_digits::check_format_len(digits)?;
        Ok(s)
    }

    /// Number of bits of the absolute value (Python's `int.bit_length`).
    pub fn bit_length(&self) -> u64 {
        let (_, m) = self.sign_magnitude();
        match m.last() {
            None => 0,
            Some(top) => (m.len() as u64 - 1) * 32 + (32 - top.leading_zeros() as u64),
        }
    }

    /// Compares with an `i64`.
    pub fn cmp_i64(&self, other: i64) -> Ordering {
        match self {
            PyInt::Small(v) => v.cmp(&other),
            PyInt::Big { negative: true, .. } => Ordering::Less,
            PyInt::Big { .. } => Ordering::Greater,
        }
    }
}

/// Why [`PyInt::parse_decimal`] refused a text.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecimalError {
    /// Not a decimal integer literal.
    Invalid,
    /// More digits than the limit: CPython's `ValueError` text (without the prefix).
    TooManyDigits(String),
}

impl fmt::Display for PyInt {
    /// Decimal text, as Python's `repr(int)` with no digit limit (quadratic in the digit
    /// count: Python-facing output goes through [`PyInt::to_decimal`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PyInt::Small(v) => write!(f, "{v}"),
            PyInt::Big {
                negative,
                magnitude,
            } => {
                let mut limbs = magnitude.clone();
                let mut chunks: Vec<u32> = Vec::new();
                while !limbs.is_empty() {
                    let mut rem = 0u64;
                    for l in limbs.iter_mut().rev() {
                        let cur = (rem << 32) | *l as u64;
                        *l = (cur / 1_000_000_000) as u32;
                        rem = cur % 1_000_000_000;
                    }
                    chunks.push(rem as u32);
                    while limbs.last() == Some(&0) {
                        limbs.pop();
                    }
                }
                let mut s = String::new();
                if *negative {
                    s.push('-');
                }
                let mut first = true;
                for c in chunks.iter().rev() {
                    if first {
                        s.push_str(&c.to_string());
                        first = false;
                    } else {
                        s.push_str(&format!("{c:09}"));
                    }
                }
                f.write_str(&s)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twos_complement_examples_from_pickle_docs() {
        // pickle.encode_long examples (pickletools docstring)
        let cases: &[(i64, &[u8])] = &[
            (0, b""),
            (255, b"\xff\x00"),
            (32767, b"\xff\x7f"),
            (-256, b"\x00\xff"),
            (-32768, b"\x00\x80"),
            (-128, b"\x80"),
            (127, b"\x7f"),
        ];
        for (v, bytes) in cases {
            assert_eq!(
                PyInt::Small(*v).to_le_twos_complement(),
                bytes.to_vec(),
                "{v}"
            );
            assert_eq!(PyInt::from_le_twos_complement(bytes), PyInt::Small(*v));
        }
    }

    #[test]
    fn big_decimal_round_trip() {
        let s = "-1".to_string() + &"0".repeat(100);
        let v = PyInt::parse_decimal(&s).unwrap();
        assert_eq!(v.to_string(), s);
        let b = v.to_le_twos_complement();
        assert_eq!(PyInt::from_le_twos_complement(&b), v);
        let m = PyInt::parse_decimal("18446744073709551616").unwrap();
        assert_eq!(m.to_le_twos_complement(), b"\0\0\0\0\0\0\0\0\x01".to_vec());
        assert_eq!(
            PyInt::parse_decimal("-9223372036854775808").unwrap(),
            PyInt::Small(i64::MIN)
        );
        assert_eq!(
            PyInt::from_le_twos_complement(b"\0\0\0\0\0\0\0\x80\xff"),
            PyInt::Small(i64::MIN)
        );
    }
}
