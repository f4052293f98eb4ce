//! Float ↔ text the way CPython does it: `%.17g` for marshal versions 0–1 (`f`/`x`,
//! spec §2.1) and `repr()` for [`crate::marshal::show`].

/// Splits a finite non-zero `|x|` printed by Rust's `{:e}`/`{:.Ne}` into its significant
/// digits and decimal exponent (`d.ddd × 10^exp`).
fn digits_and_exp(sci: &str) -> (String, i32) {
    let (mant, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    (digits, exp.parse().unwrap_or(0))
}

fn special(x: f64) -> Option<&'static str> {
    if x.is_nan() {
        Some("nan")
    } else if x == f64::INFINITY {
        Some("inf")
    } else if x == f64::NEG_INFINITY {
        Some("-inf")
    } else {
        None
    }
}

/// Lays out significant `digits` with decimal exponent `exp` as C's `%g` / Python's repr
/// do: fixed notation when `-4 <= exp < sci_at`, else `d.ddde±XX`.
fn layout(negative: bool, digits: &str, exp: i32, sci_at: i32, add_dot_0: bool) -> String {
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if exp < -4 || exp >= sci_at {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(digits);
            out.push_str(&"0".repeat(int_len - digits.len()));
            if add_dot_0 {
                out.push_str(".0");
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    } else {
        out.push_str("0.");
        out.push_str(&"0".repeat((-exp - 1) as usize));
        out.push_str(digits);
    }
    out
}

/// `PyOS_double_to_string(x, 'g', 17, 0)`: what marshal versions 0–1 write for a float
/// (`0.10000000000000001`, `-0`, `1.0000000000000001e+300`, `nan`, `inf`).
pub fn format_g17(x: f64) -> String {
    if let Some(s) = special(x) {
        return s.to_string();
    }
    let negative = x.is_sign_negative();
    if x == 0.0 {
        return if negative { "-0" } else { "0" }.to_string();
    }
    let (digits, exp) = digits_and_exp(&format!("{:.16e}", x.abs()));
    // %g drops trailing zeros (no '#' flag).
    let trimmed = digits.trim_end_matches('0');
    let trimmed = if trimmed.is_empty() { "0" } else { trimmed };
    layout(negative, trimmed, exp, 17, false)
}

/// Python's `repr(float)`: shortest round-tripping digits, fixed notation for
/// 1e-4 <= |x| < 1e16, with `.0` on integral values.
pub fn float_repr(x: f64) -> String {
    repr_core(x, true)
}

/// A complex component as `complex.__repr__` prints it (`repr` digits, no `.0`).
pub fn complex_part_repr(x: f64) -> String {
    repr_core(x, false)
}

fn repr_core(x: f64, add_dot_0: bool) -> String {
    if let Some(s) = special(x) {
        return s.to_string();
    }
    let negative = x.is_sign_negative();
    if x == 0.0 {
        let z = if add_dot_0 { "0.0" } else { "0" };
        return if negative {
            format!("-{z}")
        } else {
            z.to_string()
        };
    }
    let (digits, exp) = digits_and_exp(&format!("{:e}", x.abs()));
    layout(negative, &digits, exp, 16, add_dot_0)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected strings: CPython's marshal v0 text (corpus `014-float_0_1.v0`,
    // `018-float_1e300.v0`, `015-float_neg0.v0`, `019-complex.v0`) and `repr()`.
    #[test]
    fn g17_matches_corpus() {
        assert_eq!(format_g17(0.1), "0.10000000000000001");
        assert_eq!(format_g17(1e300), "1.0000000000000001e+300");
        assert_eq!(format_g17(-0.0), "-0");
        assert_eq!(format_g17(1.5), "1.5");
        assert_eq!(format_g17(-0.25), "-0.25");
        assert_eq!(format_g17(2.5), "2.5");
        assert_eq!(format_g17(f64::NAN), "nan");
        assert_eq!(format_g17(f64::NEG_INFINITY), "-inf");
        assert_eq!(format_g17(1e16), "10000000000000000");
        assert_eq!(format_g17(1e17), "1e+17");
        assert_eq!(format_g17(1e-5), "1.0000000000000001e-05");
    }

    #[test]
    fn repr_matches_python() {
        assert_eq!(float_repr(0.1), "0.1");
        assert_eq!(float_repr(1e300), "1e+300");
        assert_eq!(float_repr(-0.0), "-0.0");
        assert_eq!(float_repr(1.0), "1.0");
        assert_eq!(float_repr(1e16), "1e+16");
        assert_eq!(float_repr(1e15), "1000000000000000.0");
        assert_eq!(float_repr(1e-4), "0.0001");
        assert_eq!(float_repr(1e-5), "1e-05");
        assert_eq!(float_repr(123456789012345680.0), "1.2345678901234568e+17");
        assert_eq!(complex_part_repr(1.0), "1");
        assert_eq!(complex_part_repr(-0.25), "-0.25");
    }
}
