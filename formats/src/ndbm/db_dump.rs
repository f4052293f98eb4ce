//! A parser for Berkeley DB `db_dump` text output (`pydbm load`), both the printable
//! (`db_dump -p`, `format=print`) and the hex (`format=bytevalue`) forms.
//!
//! The text is a header block (`VERSION=3`, `format=...`, ..., `HEADER=END`) followed by
//! data lines, each starting with one space, alternating key and value, ended by
//! `DATA=END`. Several such sections (sub-databases) may follow each other; every pair of
//! every section is returned. In `print` form a byte is itself when printable, `\\` for a
//! backslash, or `\xx` (two hex digits); in `bytevalue` form every byte is two hex digits.
//!
//! ```
//! use pydbm_formats::ndbm::parse_db_dump;
//!
//! // `db5.3_dump -p nd.db` of a file Python's dbm.ndbm wrote with
//! // d[b"k\x01"] = b"v a"; d[b"x"] = b"\xff"
//! let text = b"VERSION=3\nformat=print\ntype=hash\nh_nelem=3\ndb_pagesize=4096\nHEADER=END\n \
//!              k\\01\n v a\n x\n \\ff\nDATA=END\n";
//! let want = vec![(b"k\x01".to_vec(), b"v a".to_vec()), (b"x".to_vec(), b"\xff".to_vec())];
//! assert_eq!(parse_db_dump(text)?, want);
//! // The same file dumped without -p (format=bytevalue).
//! let hex = b"VERSION=3\nformat=bytevalue\ntype=hash\nh_nelem=3\ndb_pagesize=4096\n\
//!             HEADER=END\n 6b01\n 762061\n 78\n ff\nDATA=END\n";
//! assert_eq!(parse_db_dump(hex)?, want);
//! // A data line must start with a space; the error names the line.
//! let err = parse_db_dump(b"VERSION=3\nformat=print\nHEADER=END\nk\n v\nDATA=END\n").unwrap_err();
//! assert!(err.to_string().contains("line 4: a data line starting with a space"), "{err}");
//! # Ok::<(), pydbm_engine::Error>(())
//! ```

use pydbm_engine::{Error, Result};

fn bad(line: usize, what: impl Into<String>) -> Error {
    Error::BadArgument(format!("db_dump text, line {line}: {}", what.into()))
}

fn hexval(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn decode(body: &[u8], printable: bool, line: usize) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        if printable && c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        if printable {
            // c == b'\\'
            if body.get(i + 1) == Some(&b'\\') {
                out.push(b'\\');
                i += 2;
                continue;
            }
            i += 1;
        }
        let hi = body.get(i).and_then(|&c| hexval(c));
        let lo = body.get(i + 1).and_then(|&c| hexval(c));
        match (hi, lo) {
            (Some(h), Some(l)) => out.push(h << 4 | l),
            _ => return Err(bad(line, format!("two hex digits at column {}", i + 2))),
        }
        i += 2;
    }
    Ok(out)
}

/// Parses `db_dump` output into its `(key, value)` pairs, in the order listed.
///
/// Fails with [`Error::BadArgument`] naming the line on a missing `HEADER=END`, an
/// unknown `format=`, a data line without its leading space, bad escapes, or a key
/// without a value.
pub fn parse_db_dump(text: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut pairs = Vec::new();
    let mut lines = text
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .enumerate()
        .peekable();
    let mut sections = 0;
    while let Some(&(_, l)) = lines.peek() {
        if l.is_empty() {
            lines.next();
            continue;
        }
        // Header block.
        let mut printable = None;
        let mut ended = false;
        for (n, l) in lines.by_ref() {
            if l == b"HEADER=END" {
                ended = true;
                break;
            }
            if let Some(f) = l.strip_prefix(b"format=") {
                printable = Some(match f {
                    b"print" => true,
                    b"bytevalue" => false,
                    _ => return Err(bad(n + 1, "format=print or format=bytevalue")),
                });
            } else if !l.contains(&b'=') {
                return Err(bad(n + 1, "a header line NAME=VALUE"));
            }
        }
        if !ended {
            return Err(bad(0, "a header ending with HEADER=END"));
        }
        let printable = printable.unwrap_or(false);
        let mut key: Option<Vec<u8>> = None;
        let mut data_end = false;
        for (n, l) in lines.by_ref() {
            if l == b"DATA=END" {
                data_end = true;
                break;
            }
            let body = l
                .strip_prefix(b" ")
                .ok_or_else(|| bad(n + 1, "a data line starting with a space"))?;
            let bytes = decode(body, printable, n + 1)?;
            match key.take() {
                None => key = Some(bytes),
                Some(k) => pairs.push((k, bytes)),
            }
        }
        if !data_end {
            return Err(bad(0, "data ending with DATA=END"));
        }
        if key.is_some() {
            return Err(bad(0, "a value line after the last key"));
        }
        sections += 1;
    }
    if sections == 0 {
        return Err(bad(1, "a db_dump header (VERSION=3 ... HEADER=END)"));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_and_hex_forms() {
        let p = b"VERSION=3\nformat=print\ntype=hash\nHEADER=END\n a\\\\b\n \\00\\ff\n e\n \nDATA=END\n";
        assert_eq!(
            parse_db_dump(p).unwrap(),
            vec![(b"a\\b".to_vec(), vec![0, 255]), (b"e".to_vec(), vec![])]
        );
        let h = b"VERSION=3\nformat=bytevalue\ntype=hash\nHEADER=END\n 6162\n 00\nDATA=END\n";
        assert_eq!(parse_db_dump(h).unwrap(), vec![(b"ab".to_vec(), vec![0])]);
    }

    #[test]
    fn malformed_dumps_are_errors() {
        assert!(parse_db_dump(b"").is_err());
        assert!(parse_db_dump(b"VERSION=3\nHEADER=END\n 61\nDATA=END\n").is_err());
        assert!(
            parse_db_dump(b"VERSION=3\nformat=print\nHEADER=END\n \\4\n x\nDATA=END\n").is_err()
        );
        assert!(parse_db_dump(b"VERSION=3\nformat=print\nHEADER=END\nx\n x\nDATA=END\n").is_err());
        assert!(parse_db_dump(b"VERSION=3\nformat=print\nHEADER=END\n a\n b\n").is_err());
    }
}
