//! The `apply` script language: one dbm operation a line (docs/cli.md).

use super::hex;

/// One line of an `apply` script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `set HEXKEY HEXVAL`: `db[key] = value`.
    Set(Vec<u8>, Vec<u8>),
    /// `del HEXKEY`: `del db[key]`.
    Del(Vec<u8>),
    /// `get HEXKEY`: `db.get(key)`.
    Get(Vec<u8>),
    /// `keys`: `list(db.keys())`.
    Keys,
    /// `len`: `len(db)`.
    Len,
    /// `sync`: `db.sync()`.
    Sync,
    /// `reorganize`: `db.reorganize()`.
    Reorganize,
    /// `reopen`: close, then open again with `'w'`.
    Reopen,
}

/// A script line that could not be parsed: its 1-based number and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// [`parse`] on a script as read from stdin: a script that is not UTF-8 is refused with the
/// number of the first line that is not.
pub fn parse_bytes(bytes: &[u8]) -> Result<Vec<(usize, Op)>, ScriptError> {
    let text = super::utf8_position::as_text(bytes).map_err(|bad| ScriptError {
        line: bad.line,
        message: bad.to_string(),
    })?;
    parse(text)
}

/// Parses a whole script into `(line number, op)` pairs, skipping blank lines and `#` comments.
pub fn parse(text: &str) -> Result<Vec<(usize, Op)>, ScriptError> {
    let mut ops = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |message: String| ScriptError {
            line: i + 1,
            message,
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        let arg = |n: usize| -> Result<Vec<u8>, ScriptError> {
            hex::decode(words[n]).map_err(|m| err(m.clone()))
        };
        let want = |n: usize| -> Result<(), ScriptError> {
            if words.len() == n + 1 {
                Ok(())
            } else {
                Err(err(format!(
                    "`{}` takes {} argument(s), found {}",
                    words[0],
                    n,
                    words.len() - 1
                )))
            }
        };
        let op = match words[0] {
            "set" => {
                want(2)?;
                Op::Set(arg(1)?, arg(2)?)
            }
            "del" => {
                want(1)?;
                Op::Del(arg(1)?)
            }
            "get" => {
                want(1)?;
                Op::Get(arg(1)?)
            }
            "keys" => {
                want(0)?;
                Op::Keys
            }
            "len" => {
                want(0)?;
                Op::Len
            }
            "sync" => {
                want(0)?;
                Op::Sync
            }
            "reorganize" => {
                want(0)?;
                Op::Reorganize
            }
            "reopen" => {
                want(0)?;
                Op::Reopen
            }
            other => {
                return Err(err(format!(
                    "unknown operation `{}`",
                    super::excerpt::excerpt(other)
                )))
            }
        };
        ops.push((i + 1, op));
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_operation() {
        let s = "# c\n\nset 61 -\ndel 61\nget 6162\nkeys\nlen\nsync\nreorganize\nreopen\n";
        let ops = parse(s).unwrap();
        assert_eq!(ops.len(), 8);
        assert_eq!(ops[0], (3, Op::Set(b"a".to_vec(), vec![])));
        assert_eq!(ops[2], (5, Op::Get(b"ab".to_vec())));
        assert_eq!(ops[7], (10, Op::Reopen));
    }

    #[test]
    fn bad_lines_name_their_number() {
        assert_eq!(parse("keys\nset 61\n").unwrap_err().line, 2);
        assert_eq!(parse("frob\n").unwrap_err().line, 1);
        assert_eq!(parse("get 6\n").unwrap_err().line, 1);
    }

    #[test]
    fn non_utf8_names_its_line_and_long_words_are_cut() {
        let e = parse_bytes(b"keys\n# x\nset 61 \xff62\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert_eq!(e.message, "not UTF-8 text: byte 0xff at column 8");
        let long = format!("{}\n", "q".repeat(100_000));
        let e = parse(&long).unwrap_err();
        assert!(e.message.len() < 300, "{}", e.message);
        let long = format!("get {}\n", "zz".repeat(100_000));
        assert!(parse(&long).unwrap_err().message.len() < 300);
    }
}
