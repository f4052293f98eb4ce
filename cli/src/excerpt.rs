//! Echoing user input in error messages: at most [`MAX_ECHO`] bytes of it, so a 50 MB
//! malformed script line or dump line gives a one-line error, not a 50 MB one.

/// How many bytes of an offending input an error message repeats.
pub const MAX_ECHO: usize = 200;

/// `text` as an error message quotes it: whole when it is at most [`MAX_ECHO`] bytes, else
/// its first [`MAX_ECHO`] bytes (cut at a character boundary) followed by
/// `…(N bytes in all)`.
pub fn excerpt(text: &str) -> String {
    if text.len() <= MAX_ECHO {
        return text.to_string();
    }
    let mut cut = MAX_ECHO;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…({} bytes in all)", &text[..cut], text.len())
}

/// [`excerpt`] in Rust's debug quoting (`"..."`), as messages about one argument show it.
pub fn quoted(text: &str) -> String {
    if text.len() <= MAX_ECHO {
        return format!("{text:?}");
    }
    let short = excerpt(text);
    let (head, tail) = short.split_at(short.rfind('…').unwrap_or(short.len()));
    format!("{head:?}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_whole_and_long_text_is_cut() {
        assert_eq!(excerpt("abc"), "abc");
        assert_eq!(quoted("zz"), "\"zz\"");
        let long = "é".repeat(1000);
        let e = excerpt(&long);
        assert!(e.len() < MAX_ECHO + 40, "{e}");
        assert!(e.ends_with("…(2000 bytes in all)"), "{e}");
        let q = quoted(&"z".repeat(5000));
        assert!(q.starts_with("\"zzz"), "{q}");
        assert!(q.ends_with("\"…(5000 bytes in all)"), "{q}");
        assert_eq!(q.matches('z').count(), MAX_ECHO);
    }
}
