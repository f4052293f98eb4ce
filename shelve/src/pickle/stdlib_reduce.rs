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
            PyInt::parse_decimal(&format!("{sign}{digits}"))?,
            PyInt::from(1),
        ));
    }
    let (n, d): (u128, u128) = (digits.parse().ok()?, den.parse().ok()?);
    let g = gcd(n, d);
    let (n, d) = (n / g, d / g);
    // -0/5 is 0/1, as in Python.
    let sign = if n == 0 { "" } else { sign };
    Some((
        PyInt::parse_decimal(&format!("{sign}{n}"))?,
        PyInt::parse_decimal(&d.to_string())?,
    ))
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
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
    fn str_patterns_gain_the_unicode_flag() {
        assert_eq!(str_pattern_flags(2), Some(34));
        assert_eq!(str_pattern_flags(0), Some(32));
        assert_eq!(str_pattern_flags(34), None);
        assert_eq!(str_pattern_flags(4), None);
        assert_eq!(str_pattern_flags(256), None);
    }
}
