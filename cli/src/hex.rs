//! The CLI's byte notation: lowercase hex, with `-` for the empty byte string.

/// Encodes bytes as lowercase hex; the empty string is `-`.
pub fn encode(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "-".to_string();
    }
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    s
}

/// Decodes hex (either case) or `-`. The error says what is wrong with the text.
pub fn decode(text: &str) -> Result<Vec<u8>, String> {
    if text == "-" {
        return Ok(Vec::new());
    }
    if text.is_empty() {
        return Err("empty argument: write the empty byte string as `-`".to_string());
    }
    if !text.len().is_multiple_of(2) {
        return Err(format!(
            "odd number of hex digits in {}",
            super::excerpt::quoted(text)
        ));
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let hi = digit(pair[0]);
            let lo = digit(pair[1]);
            match (hi, lo) {
                (Some(h), Some(l)) => Ok(h << 4 | l),
                _ => Err(format!("not hex: {}", super::excerpt::quoted(text))),
            }
        })
        .collect()
}

fn digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_empty() {
        assert_eq!(encode(b""), "-");
        assert_eq!(decode("-").unwrap(), b"");
        assert_eq!(encode(&[0, 0xab, 0x7f]), "00ab7f");
        assert_eq!(decode("00AB7f").unwrap(), vec![0, 0xab, 0x7f]);
        assert!(decode("abc").is_err());
        assert!(decode("zz").is_err());
        assert!(decode("").is_err());
        let long = decode(&"z".repeat(1 << 20)).unwrap_err();
        assert!(
            long.len() < 300,
            "the error quotes at most 200 bytes: {long}"
        );
    }
}
