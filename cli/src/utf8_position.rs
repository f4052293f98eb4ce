//! Where line-oriented input (an `apply` script, a hex dump) stops being UTF-8 text, for
//! errors that name the line and column of the first bad byte.

/// The first byte of `bytes` that is not part of valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadByte {
    /// 1-based line number.
    pub line: usize,
    /// 1-based byte column within the line.
    pub column: usize,
    /// The byte.
    pub byte: u8,
}

impl std::fmt::Display for BadByte {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "not UTF-8 text: byte {:#04x} at column {}",
            self.byte, self.column
        )
    }
}

/// `bytes` as text, or where it stops being UTF-8.
pub fn as_text(bytes: &[u8]) -> Result<&str, BadByte> {
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let before = &bytes[..at];
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        BadByte {
            line: before.iter().filter(|&&b| b == b'\n').count() + 1,
            column: at - line_start + 1,
            byte: bytes[at],
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_line_and_column() {
        assert_eq!(as_text(b"ab\ncd"), Ok("ab\ncd"));
        let bad = as_text(b"keys\n# x\nset 61 \xff62\n").unwrap_err();
        assert_eq!(
            bad,
            BadByte {
                line: 3,
                column: 8,
                byte: 0xff
            }
        );
        assert_eq!(bad.to_string(), "not UTF-8 text: byte 0xff at column 8");
        // A truncated multi-byte sequence at the very end.
        assert_eq!(as_text(b"\xd0").unwrap_err().line, 1);
    }
}
