//! `PyLong`: Python's arbitrary-precision `int`, stored the way marshal writes it.
//!
//! marshal's `TYPE_LONG` (python-formats spec §2.2) is a sign plus little-endian base-2^15
//! digits, so that is the representation: conversion to and from the wire is a copy.
//! Only what marshal needs is implemented: construction, comparison, `i32`/`i64`
//! conversion, exact conversion from an integral `f64`, and decimal `repr`.

use std::fmt;

/// Number of bits in one marshal digit (`PyLong_MARSHAL_SHIFT`).
pub const DIGIT_BITS: u32 = 15;
/// One more than the largest digit value.
pub const DIGIT_BASE: u32 = 1 << DIGIT_BITS;

/// An arbitrary-precision integer: an `i64` when it fits (no allocation), else sign and
/// magnitude in base 2^15, little-endian.
///
/// Invariant (canonical form): `Big` only holds values outside `i64`, with no
/// most-significant zero digit, so derived equality and hashing are value equality.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PyLong(Repr);

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Repr {
    Small(i64),
    Big { negative: bool, digits: Vec<u16> },
}

fn small_digits(v: i64) -> Vec<u16> {
    let mut mag = v.unsigned_abs();
    let mut digits = Vec::new();
    while mag != 0 {
        digits.push((mag & u64::from(DIGIT_BASE - 1)) as u16);
        mag >>= DIGIT_BITS;
    }
    digits
}

/// The value of sign + digits if it fits an `i64`.
fn digits_to_i64(negative: bool, digits: &[u16]) -> Option<i64> {
    if digits.len() > 5 {
        return None;
    }
    let mut mag: u128 = 0;
    for &d in digits.iter().rev() {
        mag = (mag << DIGIT_BITS) | u128::from(d);
    }
    if negative {
        if mag <= (i64::MAX as u128) + 1 {
            Some((mag as i128).wrapping_neg() as i64)
        } else {
            None
        }
    } else {
        i64::try_from(mag).ok()
    }
}

impl PyLong {
    fn canonical(negative: bool, digits: Vec<u16>) -> PyLong {
        match digits_to_i64(negative, &digits) {
            Some(v) => PyLong(Repr::Small(v)),
            None => PyLong(Repr::Big { negative, digits }),
        }
    }
}

impl PyLong {
    /// The integer zero.
    pub fn zero() -> PyLong {
        PyLong(Repr::Small(0))
    }

    /// Builds from a sign and base-2^15 digits (least significant first).
    ///
    /// Returns `None` when a digit is ≥ 2^15 or the top digit is zero (marshal's
    /// "unnormalized long data"); a zero-length magnitude is zero whatever the sign.
    pub fn from_digits(negative: bool, digits: Vec<u16>) -> Option<PyLong> {
        if digits.iter().any(|&d| u32::from(d) >= DIGIT_BASE) {
            return None;
        }
        if digits.last() == Some(&0) {
            return None;
        }
        Some(PyLong::canonical(negative, digits))
    }

    /// Number of significant bits of the magnitude (`int.bit_length()`).
    pub fn bit_length(&self) -> u64 {
        match &self.0 {
            Repr::Small(v) => 64 - u64::from(v.unsigned_abs().leading_zeros()),
            Repr::Big { digits, .. } => match digits.last() {
                None => 0,
                Some(&top) => {
                    (digits.len() as u64 - 1) * u64::from(DIGIT_BITS)
                        + (16 - u64::from(top.leading_zeros()))
                }
            },
        }
    }

    /// `str(n)`: decimal text, or the `ValueError` text when the value has more digits
    /// than `sys.set_int_max_str_digits` allows, refused from the bit length before any
    /// conversion work (the conversion is quadratic in the digit count).
    pub fn to_decimal(&self) -> Result<String, String> {
        crate::int_max_str_digits::check_format_bits(self.bit_length())?;
        let s = self.to_string();
        crate::int_max_str_digits::check_format_len(s.len() - usize::from(s.starts_with('-')))?;
        Ok(s)
    }

    /// Whether the value is below zero.
    pub fn is_negative(&self) -> bool {
        match &self.0 {
            Repr::Small(v) => *v < 0,
            Repr::Big { negative, .. } => *negative,
        }
    }

    /// The magnitude's base-2^15 digits, least significant first (empty for zero).
    pub fn digits(&self) -> std::borrow::Cow<'_, [u16]> {
        match &self.0 {
            Repr::Small(v) => std::borrow::Cow::Owned(small_digits(*v)),
            Repr::Big { digits, .. } => std::borrow::Cow::Borrowed(digits),
        }
    }

    /// The value as an `i64`, when it fits.
    pub fn to_i64(&self) -> Option<i64> {
        match &self.0 {
            Repr::Small(v) => Some(*v),
            Repr::Big { .. } => None,
        }
    }

    /// The value as an `i32`, when it fits (marshal writes such ints as `TYPE_INT`).
    pub fn to_i32(&self) -> Option<i32> {
        self.to_i64().and_then(|v| i32::try_from(v).ok())
    }

    /// The exact integer value of a finite `f64` with no fractional part, else `None`.
    pub fn from_integral_f64(x: f64) -> Option<PyLong> {
        if !x.is_finite() || x.fract() != 0.0 {
            return None;
        }
        let bits = x.to_bits();
        let negative = bits >> 63 == 1;
        let exp_field = ((bits >> 52) & 0x7ff) as i32;
        let frac = bits & ((1u64 << 52) - 1);
        if exp_field == 0 {
            // Subnormals and zero: integral only when zero.
            return Some(PyLong::zero());
        }
        let mantissa = frac | (1u64 << 52);
        let shift = exp_field - 1075; // value = mantissa * 2^shift
        let (mantissa, shift) = if shift < 0 {
            // fract() == 0 guarantees the dropped bits are zero.
            (mantissa >> (-shift) as u32, 0u32)
        } else {
            (mantissa, shift as u32)
        };
        let total_bits = 64 - mantissa.leading_zeros() + shift;
        let ndigits = total_bits.div_ceil(DIGIT_BITS) as usize;
        let mut digits = Vec::with_capacity(ndigits);
        for i in 0..ndigits {
            let lo = i as i64 * i64::from(DIGIT_BITS) - i64::from(shift);
            let mut d: u64 = 0;
            for b in 0..i64::from(DIGIT_BITS) {
                let bit = lo + b;
                if (0..64).contains(&bit) && (mantissa >> bit) & 1 == 1 {
                    d |= 1 << b;
                }
            }
            digits.push(d as u16);
        }
        while digits.last() == Some(&0) {
            digits.pop();
        }
        Some(PyLong::canonical(negative && !digits.is_empty(), digits))
    }
}

impl From<i64> for PyLong {
    fn from(v: i64) -> PyLong {
        PyLong(Repr::Small(v))
    }
}

impl fmt::Display for PyLong {
    /// Decimal, as Python's `repr(int)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (negative, digits) = match &self.0 {
            Repr::Small(v) => return write!(f, "{v}"),
            Repr::Big { negative, digits } => (*negative, digits),
        };
        // Repeated division of the base-2^15 magnitude by 10^4.
        let mut mag: Vec<u32> = digits.iter().map(|&d| u32::from(d)).collect();
        let mut chunks: Vec<u32> = Vec::new();
        while !mag.is_empty() {
            let mut rem: u32 = 0;
            for d in mag.iter_mut().rev() {
                let cur = (rem << DIGIT_BITS) | *d;
                *d = cur / 10_000;
                rem = cur % 10_000;
            }
            chunks.push(rem);
            while mag.last() == Some(&0) {
                mag.pop();
            }
        }
        let mut out = String::new();
        if negative {
            out.push('-');
        }
        let mut iter = chunks.iter().rev();
        if let Some(first) = iter.next() {
            out.push_str(&first.to_string());
        }
        for c in iter {
            out.push_str(&format!("{c:04}"));
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i64_round_trip_and_display() {
        for v in [
            0i64,
            1,
            -1,
            32767,
            32768,
            -32768,
            i64::MAX,
            i64::MIN,
            1 << 40,
        ] {
            let l = PyLong::from(v);
            assert_eq!(l.to_i64(), Some(v));
            assert_eq!(l.to_string(), v.to_string());
        }
    }

    #[test]
    fn normalization_is_checked() {
        assert!(PyLong::from_digits(false, vec![5, 0]).is_none());
        assert!(PyLong::from_digits(false, vec![0x8000]).is_none());
        assert_eq!(PyLong::from_digits(true, vec![]), Some(PyLong::zero()));
    }

    #[test]
    fn integral_floats_convert_exactly() {
        assert_eq!(PyLong::from_integral_f64(1.0), Some(PyLong::from(1)));
        assert_eq!(PyLong::from_integral_f64(-0.0), Some(PyLong::zero()));
        assert_eq!(
            PyLong::from_integral_f64(9007199254740993.0_f64),
            Some(PyLong::from(9007199254740992))
        );
        assert_eq!(PyLong::from_integral_f64(0.5), None);
        assert_eq!(PyLong::from_integral_f64(f64::NAN), None);
        let big = PyLong::from_integral_f64(2f64.powi(70)).expect("2**70 is integral");
        assert_eq!(big.to_string(), "1180591620717411303424");
    }
}
