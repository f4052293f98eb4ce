//! CPython 3.11+'s limit on conversions between `int` and decimal text
//! (`sys.set_int_max_str_digits`, default 4,300 digits): `int(text)` with more digits and
//! `str(n)` / `repr(n)` of a value with more digits raise `ValueError`. The limit is what
//! keeps CPython's conversions (quadratic in the number of digits) cheap on hostile
//! input; pickle (`LONG`, protocols 0–1 ints), `pickletools.dis`, `pickle show` and
//! `marshal show` follow it here too, with CPython's messages. The sign does not count;
//! underscores between digits do not count, leading zeros do.

use std::sync::atomic::{AtomicUsize, Ordering};

/// CPython's default limit (`sys.int_info.default_max_str_digits`).
pub const DEFAULT_MAX_STR_DIGITS: usize = 4300;

/// The smallest non-zero limit CPython accepts (`sys.int_info.str_digits_check_threshold`).
pub const MIN_MAX_STR_DIGITS: usize = 640;

static LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_STR_DIGITS);

/// The current limit (`sys.get_int_max_str_digits()`); 0 means unlimited.
pub fn get_int_max_str_digits() -> usize {
    LIMIT.load(Ordering::Relaxed)
}

/// Sets the process-wide limit (`sys.set_int_max_str_digits(n)`): 0 for no limit, else
/// at least [`MIN_MAX_STR_DIGITS`]; anything else is refused with CPython's message.
pub fn set_int_max_str_digits(n: usize) -> Result<(), String> {
    // CPython 3.13 accepts 640 itself despite the message's wording.
    if n != 0 && n < MIN_MAX_STR_DIGITS {
        return Err(format!(
            "maxdigits must be 0 or larger than {MIN_MAX_STR_DIGITS}"
        ));
    }
    LIMIT.store(n, Ordering::Relaxed);
    Ok(())
}

/// Applies `PYTHONINTMAXSTRDIGITS` when set, as CPython does at startup (CPython 3.13
/// refuses to start on an invalid value; the caller reports this error instead).
pub fn set_from_env() -> Result<(), String> {
    let Some(v) = std::env::var_os("PYTHONINTMAXSTRDIGITS") else {
        return Ok(());
    };
    v.to_str()
        .and_then(|t| t.parse::<usize>().ok())
        .filter(|&n| n == 0 || n >= MIN_MAX_STR_DIGITS)
        .map(|n| LIMIT.store(n, Ordering::Relaxed))
        .ok_or_else(|| {
            format!(
                "PYTHONINTMAXSTRDIGITS: invalid limit; must be >= {MIN_MAX_STR_DIGITS} or 0 for unlimited"
            )
        })
}

/// Checks an `int(text)` conversion of `digits` decimal digits: the `ValueError` text
/// (without the `ValueError: ` prefix) when the limit forbids it.
pub fn check_parse(digits: usize) -> Result<(), String> {
    let limit = get_int_max_str_digits();
    if limit != 0 && digits > limit {
        return Err(format!(
            "Exceeds the limit ({limit} digits) for integer string conversion: value has {digits} digits; use sys.set_int_max_str_digits() to increase the limit"
        ));
    }
    Ok(())
}

/// Checks a `str(n)` conversion of a value of `bits` significant bits: refused at once
/// (before any conversion work) when even the fewest decimal digits such a value can
/// have exceed the limit; otherwise the caller converts and calls [`check_format_len`]
/// with the exact digit count, which is then at most one more than the limit permits
/// and so costs bounded work.
pub fn check_format_bits(bits: u64) -> Result<(), String> {
    let limit = get_int_max_str_digits();
    // A value with `bits` significant bits is ≥ 2^(bits-1), so it has at least
    // floor((bits-1)·log10 2) + 1 digits; 30103/100000 < log10 2.
    let min_digits = bits.saturating_sub(1).saturating_mul(30103) / 100000 + 1;
    if limit != 0 && min_digits > limit as u64 {
        return Err(format_error(limit));
    }
    Ok(())
}

/// Checks the exact digit count (sign excluded) of a finished `str(n)` conversion.
pub fn check_format_len(digits: usize) -> Result<(), String> {
    let limit = get_int_max_str_digits();
    if limit != 0 && digits > limit {
        return Err(format_error(limit));
    }
    Ok(())
}

fn format_error(limit: usize) -> String {
    format!(
        "Exceeds the limit ({limit} digits) for integer string conversion; use sys.set_int_max_str_digits() to increase the limit"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts and bounds checked against CPython 3.13.0 (`sys.set_int_max_str_digits(639)`
    /// and `(-1)` raise "maxdigits must be 0 or larger than 640"; 640 is accepted).
    #[test]
    fn limits_and_messages() {
        assert_eq!(get_int_max_str_digits(), DEFAULT_MAX_STR_DIGITS);
        assert!(set_int_max_str_digits(639).is_err());
        assert!(check_parse(4300).is_ok());
        assert_eq!(
            check_parse(4301).unwrap_err(),
            "Exceeds the limit (4300 digits) for integer string conversion: value has 4301 digits; use sys.set_int_max_str_digits() to increase the limit"
        );
        // 10**4299 (14,281 bits) has 4,300 digits; 10**4300 (14,285 bits) has 4,301.
        assert!(check_format_bits(14281).is_ok());
        assert!(check_format_len(4300).is_ok());
        assert!(check_format_len(4301).is_err());
        assert!(check_format_bits(14290).is_err());
    }
}
