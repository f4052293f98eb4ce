//! SQLite's rendering of a REAL as text, which is what `dbm.sqlite3` (CPython 3.13)
//! stores for a `float` key or value: the statements say `CAST(? AS BLOB)`, SQLite binds
//! the float as a REAL and the cast renders it with its own printf, `"%!.15g"`
//! (python-formats spec §5). That rendering is *not* Python's `repr`: `0.1 + 0.2`
//! becomes `b"0.3"`, `1e15` becomes `b"1.0e+15"`, `-0.0` becomes `b"0.0"`, infinities
//! `b"Inf"`/`b"-Inf"`, and NaN binds as NULL.
//!
//! The digits come from SQLite 3.40's printf (the library CPython 3.13 links here and on
//! Debian 12), which works in the C `long double` of x86-64: the x87 80-bit format with a
//! 64-bit significand. Its scale-by-powers-of-ten loops round at every step, so
//! extreme values carry visible error (`2.5e-310` renders as `2.50000000000002e-310`).
//! [`Ext`] reproduces that arithmetic exactly (round-to-nearest-even at 64 bits) so the
//! bytes equal the reference's; the committed fixture `tests/fixtures/sqlite_real/`
//! (made by CPython 3.13 + SQLite 3.40.1) proves it on a few thousand values.

use std::cmp::Ordering;

/// A non-negative x87 extended-precision value `mant * 2^exp`; `mant` has its top bit set
/// (normalized) or is 0 (the value zero). Only what the renderer needs: multiply, divide,
/// add, split into integer and fraction, compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ext {
    mant: u64,
    exp: i32,
}

impl Ext {
    const ZERO: Ext = Ext { mant: 0, exp: 0 };

    /// The exact value of a finite, non-negative `f64` (every double is an extended value).
    fn from_f64(x: f64) -> Ext {
        let bits = x.to_bits() & !(1u64 << 63);
        let biased = ((bits >> 52) & 0x7ff) as i32;
        let frac = bits & ((1u64 << 52) - 1);
        if biased == 0 {
            if frac == 0 {
                return Ext::ZERO;
            }
            // subnormal double: frac * 2^-1074
            let lz = frac.leading_zeros();
            return Ext {
                mant: frac << lz,
                exp: -1074 - lz as i32,
            };
        }
        Ext {
            mant: (frac | (1u64 << 52)) << 11,
            exp: biased - 1075 - 11,
        }
    }

    fn is_zero(self) -> bool {
        self.mant == 0
    }

    /// `v * 2^ev`, rounded to 64 significant bits, nearest-even; `sticky` says nonzero bits
    /// were already dropped below `v`'s lowest bit.
    fn round_from(v: u128, ev: i32, sticky: bool) -> Ext {
        if v == 0 {
            return Ext::ZERO;
        }
        let top = 127 - v.leading_zeros() as i32;
        if top <= 63 {
            let up = 63 - top;
            return Ext {
                mant: (v << up) as u64,
                exp: ev - up,
            };
        }
        let sh = (top - 63) as u32;
        let mut mant = (v >> sh) as u64;
        let rem = v & ((1u128 << sh) - 1);
        let half = 1u128 << (sh - 1);
        let mut exp = ev + sh as i32;
        let round_up = rem > half || (rem == half && (sticky || mant & 1 == 1));
        if round_up {
            mant = mant.wrapping_add(1);
            if mant == 0 {
                mant = 1u64 << 63;
                exp += 1;
            }
        }
        Ext { mant, exp }
    }

    fn mul(self, o: Ext) -> Ext {
        if self.is_zero() || o.is_zero() {
            return Ext::ZERO;
        }
        Ext::round_from(self.mant as u128 * o.mant as u128, self.exp + o.exp, false)
    }

    fn div(self, o: Ext) -> Ext {
        if self.is_zero() {
            return Ext::ZERO;
        }
        let divisor = o.mant as u128;
        let num = (self.mant as u128) << 64;
        let q1 = num / divisor;
        let r1 = num % divisor;
        // two more quotient bits so a guard bit always exists below the 64 kept ones
        let q = (q1 << 2) | ((r1 << 2) / divisor);
        let r = (r1 << 2) % divisor;
        Ext::round_from(q, self.exp - o.exp - 66, r != 0)
    }

    fn add(self, o: Ext) -> Ext {
        if self.is_zero() {
            return o;
        }
        if o.is_zero() {
            return self;
        }
        let (big, small) = if self.cmp_value(o) == Ordering::Less {
            (o, self)
        } else {
            (self, o)
        };
        let d = (big.exp - small.exp) as u32;
        let wide = (small.mant as u128) << 62;
        let (shifted, sticky) = if d >= 127 {
            (0, true)
        } else {
            let s = wide >> d;
            (s, (s << d) != wide)
        };
        Ext::round_from(((big.mant as u128) << 62) + shifted, big.exp - 62, sticky)
    }

    /// `(trunc(self), self - trunc(self))`: the C `(int)` conversion and the exact
    /// fractional part (subtracting an extended value's own integer part is exact).
    /// Only called on values below 16.
    fn split_digit(self) -> (u8, Ext) {
        if self.is_zero() || self.exp <= -64 {
            return (0, self);
        }
        if self.exp >= 0 {
            // an integer (never happens for the renderer's values, all below 16)
            return ((self.mant << self.exp.min(63)) as u8, Ext::ZERO);
        }
        let sh = (-self.exp) as u32;
        let int = self.mant >> sh;
        let frac = self.mant & ((1u64 << sh) - 1);
        (int as u8, Ext::round_from(frac as u128, self.exp, false))
    }

    fn cmp_value(self, o: Ext) -> Ordering {
        match (self.is_zero(), o.is_zero()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => self.exp.cmp(&o.exp).then(self.mant.cmp(&o.mant)),
        }
    }

    fn ge(self, o: Ext) -> bool {
        self.cmp_value(o) != Ordering::Less
    }
}

/// The text SQLite 3.40 makes of the REAL `x` (`CAST(x AS TEXT)`, printf `"%!.15g"`), or
/// `None` for NaN (SQLite binds a NaN double as NULL).
///
/// 15 significant digits, trailing zeros dropped but at least one digit after the point,
/// exponent form (`e+NN`, at least two exponent digits) when the decimal exponent is
/// below -4 or above 14; `-0.0` loses its sign.
pub fn render_real(x: f64) -> Option<String> {
    if x.is_nan() {
        return None;
    }
    let negative = x < 0.0;
    if x.is_infinite() {
        // SQLite's scale loop runs past 10^350 and prints "Inf" after the sign
        return Some(if negative { "-Inf" } else { "Inf" }.to_owned());
    }
    let ten = Ext::from_f64(10.0);
    let mut v = Ext::from_f64(x.abs());
    // "%.15g" keeps 15 significant digits: one before the point, 14 after
    let precision: i32 = 14;
    let mut exp: i32 = 0;
    if !v.is_zero() {
        // SQLite printf: scale by 1e100, then 1e10, then 10 until below the next power,
        // divide once, then bring values below 1 up by 1e8 and 10 (all in long double)
        let mut scale = Ext::from_f64(1.0);
        for (step, digits) in [(1e100, 100), (1e10, 10), (10.0, 1)] {
            let step = Ext::from_f64(step);
            while v.ge(step.mul(scale)) && exp <= 350 {
                scale = scale.mul(step);
                exp += digits;
            }
        }
        v = v.div(scale);
        let e8 = Ext::from_f64(1e8);
        let e_minus8 = Ext::from_f64(1e-8);
        while !v.ge(e_minus8) {
            v = v.mul(e8);
            exp -= 8;
        }
        let one = Ext::from_f64(1.0);
        while !v.ge(one) {
            v = v.mul(ten);
            exp -= 1;
        }
    }
    // the rounding term is computed in double: 5e-5 * 1e-10 (half a unit of the 15th digit)
    let rounder = 5.0e-5_f64 * 1.0e-10;
    v = v.add(Ext::from_f64(rounder));
    if v.ge(ten) {
        v = v.mul(Ext::from_f64(0.1));
        exp += 1;
    }
    let exponential = exp < -4 || exp > precision;
    let (mut frac_digits, mut int_exp) = if exponential {
        (precision, 0)
    } else {
        (precision - exp, exp)
    };

    // the '!' flag allows 26 significant digits from the long double; later ones are '0'
    let mut significant = 26;
    let mut next_digit = |v: &mut Ext| -> char {
        if significant <= 0 {
            return '0';
        }
        significant -= 1;
        let (d, frac) = v.split_digit();
        *v = frac.mul(ten);
        char::from(b'0' + d.min(9))
    };

    let mut out = String::with_capacity(24);
    if negative {
        out.push('-');
    }
    if int_exp < 0 {
        out.push('0');
    } else {
        while int_exp >= 0 {
            out.push(next_digit(&mut v));
            int_exp -= 1;
        }
    }
    out.push('.');
    int_exp += 1;
    while int_exp < 0 {
        out.push('0');
        frac_digits -= 1;
        int_exp += 1;
    }
    while frac_digits > 0 {
        out.push(next_digit(&mut v));
        frac_digits -= 1;
    }
    // trailing zeros go, but '!' keeps one digit after the point
    while out.ends_with('0') {
        out.pop();
    }
    if out.ends_with('.') {
        out.push('0');
    }
    if exponential {
        out.push('e');
        let mut e = exp;
        if e < 0 {
            out.push('-');
            e = -e;
        } else {
            out.push('+');
        }
        if e >= 100 {
            out.push(char::from(b'0' + (e / 100) as u8));
            e %= 100;
        }
        out.push(char::from(b'0' + (e / 10) as u8));
        out.push(char::from(b'0' + (e % 10) as u8));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line of the fixture made by CPython 3.13 + SQLite 3.40.1
    /// (`tests/fixtures/sqlite_real/make.py`): `<f64 bits hex> <rendered text or NULL>`.
    #[test]
    fn renders_as_sqlite_3_40_did_on_the_fixture() {
        let text = include_str!("../tests/fixtures/sqlite_real/cases.txt");
        let mut n = 0;
        let mut wrong = Vec::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (bits, want) = line
                .split_once(' ')
                .expect("fixture lines are '<hex> <text>'");
            let x = f64::from_bits(u64::from_str_radix(bits, 16).expect("fixture hex bits"));
            let got = render_real(x).unwrap_or_else(|| "NULL".to_owned());
            if got != want {
                wrong.push(format!("{x:e} ({bits}): got {got}, SQLite {want}"));
            }
            n += 1;
        }
        assert!(n > 1000, "fixture too small: {n} cases");
        assert!(
            wrong.is_empty(),
            "{} of {n} differ:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
    }

    #[test]
    fn extended_arithmetic_rounds_to_nearest_even() {
        let one = Ext::from_f64(1.0);
        let three = Ext::from_f64(3.0);
        // 1/3 in 64 bits: 0xAAAA...AAAB (the 65th bit is 1, then more ones: round up)
        let third = one.div(three);
        assert_eq!(third.mant, 0xAAAA_AAAA_AAAA_AAAB);
        // 2^64 - 1 + 1 -> carries into a new top bit
        let big = Ext {
            mant: u64::MAX,
            exp: 0,
        };
        let sum = big.add(Ext::from_f64(1.0));
        assert_eq!(
            sum,
            Ext {
                mant: 1 << 63,
                exp: 1
            }
        );
        // an exact tie (half an ulp) rounds to even: (2^64 - 1) + 0.5 stays at ...FFFF? no:
        // the sum 2^64 - 0.5 needs 65 bits; its 64-bit neighbours are 2^64 - 1 (odd) and
        // 2^64 (even), so it rounds up
        let sum = big.add(Ext::from_f64(0.5));
        assert_eq!(
            sum,
            Ext {
                mant: 1 << 63,
                exp: 1
            }
        );
    }

    #[test]
    fn special_values() {
        assert_eq!(render_real(f64::NAN), None);
        assert_eq!(render_real(f64::INFINITY).as_deref(), Some("Inf"));
        assert_eq!(render_real(f64::NEG_INFINITY).as_deref(), Some("-Inf"));
        assert_eq!(render_real(-0.0).as_deref(), Some("0.0"));
    }
}
