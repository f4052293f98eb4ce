//! gdbm_dump / gdbm_load file formats (gdbm spec §17): the ASCII dump and the binary
//! ("flat file") export. Pure: bytes in, records out, and back.
//!
//! Unlike gdbm_load 1.23, the ASCII reader here accepts empty keys and values followed by
//! more records (each `#:len=` line starts a new datum), and the binary writer writes
//! empty data instead of failing.

use super::layout::{GdbmCode, Malformed};

/// The header fields of an ASCII dump.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DumpMeta {
    /// `#:file=`: the database name as given to open.
    pub file: String,
    /// `uid`, `user`, `gid`, `group` (names only if they resolve).
    pub uid: u32,
    /// User name, if known.
    pub user: Option<String>,
    /// Group id.
    pub gid: u32,
    /// Group name, if known.
    pub group: Option<String>,
    /// Permission bits (written in octal).
    pub mode: u32,
    /// `true` for `#:format=numsync`.
    pub numsync: bool,
    /// The `ctime()` text of the first line, e.g. `Tue Nov 24 03:14:46 2026`.
    pub created: String,
}

/// A parsed dump: its header (ASCII dumps only) and records in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dump {
    /// Header parameters (`None` for a binary dump, which has none).
    pub meta: Option<DumpMeta>,
    /// `(key, value)` pairs.
    pub records: Vec<(Vec<u8>, Vec<u8>)>,
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with `=` padding.
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            B64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            B64[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Decodes standard base64 (padding optional); `None` on a bad character.
pub fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0;
    for &c in text {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// The library version string libgdbm 1.23 on Debian writes into dumps.
pub const GDBM_VERSION: &str = "GDBM version 1.23. 04/02/2022";

/// Writes an ASCII dump (spec §17.1) of `records` in the given order.
pub fn write_ascii(meta: &DumpMeta, records: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut s = String::new();
    s += &format!(
        "# GDBM dump file created by {GDBM_VERSION} on {}\n",
        meta.created
    );
    s += "#:version=1.1\n";
    s += &format!("#:file={}\n", meta.file);
    s += &format!("#:uid={}", meta.uid);
    if let Some(u) = &meta.user {
        s += &format!(",user={u}");
    }
    s += &format!(",gid={}", meta.gid);
    if let Some(g) = &meta.group {
        s += &format!(",group={g}");
    }
    s += &format!(",mode={:o}\n", meta.mode);
    s += &format!(
        "#:format={}\n",
        if meta.numsync { "numsync" } else { "standard" }
    );
    s += "# End of header\n";
    for (k, v) in records {
        for d in [k, v] {
            s += &format!("#:len={}\n", d.len());
            let b = base64_encode(d);
            for line in b.as_bytes().chunks(76) {
                s += std::str::from_utf8(line).expect("base64 is ASCII");
                s.push('\n');
            }
        }
    }
    s += &format!("#:count={}\n", records.len());
    s += "# End of data\n";
    s.into_bytes()
}

fn parse_params(line: &str) -> Vec<(String, String)> {
    line.split(',')
        .filter_map(|p| {
            let (n, v) = p.split_once('=')?;
            Some((n.trim().to_string(), v.trim().trim_matches('"').to_string()))
        })
        .collect()
}

fn malformed(offset: usize, what: impl Into<String>) -> Malformed {
    Malformed::new(GdbmCode::MalformedData, offset as u64, what)
}

/// Reads an ASCII dump. Accepts empty keys/values anywhere (gdbm_load 1.23 does not).
pub fn read_ascii(data: &[u8]) -> Result<Dump, Malformed> {
    let mut meta = DumpMeta::default();
    let mut records = Vec::new();
    let mut pending: Option<Vec<u8>> = None;
    let mut cur: Option<(usize, Vec<u8>, usize)> = None; // (len, base64 so far, line offset)
    let mut pos = 0;
    let mut in_header = true;
    let finish = |len: usize, b64: &[u8], off: usize| -> Result<Vec<u8>, Malformed> {
        let d = base64_decode(b64).ok_or_else(|| malformed(off, "base64 data"))?;
        if d.len() != len {
            return Err(malformed(
                off,
                format!("{len} bytes of data, found {}", d.len()),
            ));
        }
        Ok(d)
    };
    let mut push = |d: Vec<u8>, pending: &mut Option<Vec<u8>>| match pending.take() {
        None => *pending = Some(d),
        Some(k) => records.push((k, d)),
    };
    while pos < data.len() {
        let end = data[pos..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(data.len(), |i| pos + i);
        let line = &data[pos..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let off = pos;
        pos = end + 1;
        if let Some(rest) = line.strip_prefix(b"#:") {
            let text = String::from_utf8_lossy(rest);
            let params = parse_params(&text);
            if let Some((_, v)) = params.iter().find(|(n, _)| n == "len") {
                if let Some((len, b64, o)) = cur.take() {
                    let d = finish(len, &b64, o)?;
                    push(d, &mut pending);
                }
                let len: usize = v
                    .parse()
                    .map_err(|_| malformed(off, "a number after #:len="))?;
                if len > i32::MAX as usize {
                    return Err(malformed(off, "a length ≤ 2^31-1"));
                }
                cur = Some((len, Vec::new(), off));
                continue;
            }
            if in_header {
                for (n, v) in params {
                    match n.as_str() {
                        "file" => meta.file = v,
                        "uid" => meta.uid = v.parse().unwrap_or(0),
                        "gid" => meta.gid = v.parse().unwrap_or(0),
                        "user" => meta.user = Some(v),
                        "group" => meta.group = Some(v),
                        "mode" => meta.mode = u32::from_str_radix(&v, 8).unwrap_or(0),
                        "format" => meta.numsync = v == "numsync",
                        _ => {}
                    }
                }
            }
            continue;
        }
        if line.starts_with(b"#") {
            if line.starts_with(b"# End of header") {
                in_header = false;
            } else if let Some(rest) = line.strip_prefix(b"# GDBM dump file created by ") {
                let t = String::from_utf8_lossy(rest);
                if let Some((_, c)) = t.split_once(" on ") {
                    meta.created = c.to_string();
                }
            }
            if let Some((len, b64, o)) = cur.take() {
                let d = finish(len, &b64, o)?;
                push(d, &mut pending);
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        match cur.as_mut() {
            Some((_, b64, _)) => b64.extend_from_slice(line),
            None => return Err(malformed(off, "a #:len= line before data")),
        }
    }
    if let Some((len, b64, o)) = cur.take() {
        let d = finish(len, &b64, o)?;
        push(d, &mut pending);
    }
    if pending.is_some() {
        return Err(malformed(data.len(), "a value for the last key"));
    }
    Ok(Dump {
        meta: Some(meta),
        records,
    })
}

/// The flat-file header gdbm_export writes (spec §17.2).
pub fn binary_header() -> Vec<u8> {
    format!("!\r\n! GDBM FLAT FILE DUMP -- THIS IS NOT A TEXT FILE\r\n! {GDBM_VERSION}\r\n!\r\n")
        .into_bytes()
}

/// Writes a binary (flat) dump: 8-byte lengths (big-endian u32 then 4 zero bytes, as
/// x86-64 libgdbm writes them). Empty data is written, not refused.
pub fn write_binary(records: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = binary_header();
    for (k, v) in records {
        for d in [k, v] {
            out.extend_from_slice(&(d.len() as u32).to_be_bytes());
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(d);
        }
    }
    out
}

/// Reads a binary (flat) dump.
pub fn read_binary(data: &[u8]) -> Result<Dump, Malformed> {
    let (mut bangs, mut nl, mut pos) = (0, 0, 0);
    loop {
        let c = *data
            .get(pos)
            .ok_or_else(|| malformed(pos, "the end of the flat-file header"))?;
        pos += 1;
        if c == b'!' {
            bangs += 1;
        }
        if c == b'\n' {
            nl += 1;
            if bangs > 3 && nl > 2 {
                break;
            }
        }
    }
    let mut records = Vec::new();
    let mut pending: Option<Vec<u8>> = None;
    while pos < data.len() {
        let head = data
            .get(pos..pos + 8)
            .ok_or_else(|| malformed(pos, "an 8-byte length"))?;
        if head[4..] != [0, 0, 0, 0] {
            return Err(malformed(
                pos,
                "an 8-byte length (4-byte big-endian value, 4 zero bytes)",
            ));
        }
        let len = u32::from_be_bytes(head[..4].try_into().expect("4 bytes")) as usize;
        if len > i32::MAX as usize {
            return Err(malformed(pos, "a length ≤ 2^31-1"));
        }
        pos += 8;
        let d = data
            .get(pos..pos + len)
            .ok_or_else(|| malformed(pos, format!("{len} bytes of data")))?
            .to_vec();
        pos += len;
        match pending.take() {
            None => pending = Some(d),
            Some(k) => records.push((k, d)),
        }
    }
    if pending.is_some() {
        return Err(malformed(pos, "a value for the last key"));
    }
    Ok(Dump {
        meta: None,
        records,
    })
}

/// Reads either dump format, by the first byte (`!` = binary), as gdbm_load does.
pub fn read_any(data: &[u8]) -> Result<Dump, Malformed> {
    if data.first() == Some(&b'!') {
        read_binary(data)
    } else {
        read_ascii(data)
    }
}

/// `ctime()`-style text (`Tue Nov 24 03:14:46 2026`) for a Unix time, in UTC.
pub fn ctime_utc(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // civil-from-days (Howard Hinnant's algorithm)
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        WD[(days.rem_euclid(7)) as usize],
        MO[(m - 1) as usize],
        d,
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        y
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_roundtrip() {
        for n in 0..10 {
            let d: Vec<u8> = (0..n).map(|i| (i * 37) as u8).collect();
            assert_eq!(base64_decode(base64_encode(&d).as_bytes()).unwrap(), d);
        }
        assert_eq!(base64_encode(b"alpha"), "YWxwaGE=");
    }

    #[test]
    fn ascii_empty_datum_then_more_records() {
        let recs = vec![
            (b"".to_vec(), b"empty-key".to_vec()),
            (b"k".to_vec(), b"".to_vec()),
            (b"z".to_vec(), vec![7u8; 200]),
        ];
        let meta = DumpMeta {
            file: "x.gdbm".into(),
            mode: 0o644,
            created: ctime_utc(0),
            ..DumpMeta::default()
        };
        let text = write_ascii(&meta, &recs);
        let back = read_ascii(&text).unwrap();
        assert_eq!(back.records, recs);
        assert_eq!(back.meta.unwrap(), meta);
        assert_eq!(read_binary(&write_binary(&recs)).unwrap().records, recs);
    }

    #[test]
    fn ctime_format() {
        // 2026-11-24 03:14:46 UTC was a Tuesday.
        assert_eq!(ctime_utc(1795490086), "Tue Nov 24 03:14:46 2026");
    }
}
