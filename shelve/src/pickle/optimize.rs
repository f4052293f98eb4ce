//! `pickletools.optimize`: drops PUT/MEMOIZE entries that no GET uses, renumbers the memo
//! densely and re-frames the result the way pickletools does (its Python framer).

use std::collections::HashMap;

use pydbm_engine::Result;

use super::dis::genops;
use super::error::PickleError;
use crate::py_exc::PyExc;

enum Piece {
    Put(i64),
    Get(i64),
    Raw(usize, usize),
}

const FRAME_SIZE_TARGET: usize = 64 * 1024;
const FRAME_SIZE_MIN: usize = 4;

/// `pickletools.optimize(data)`. Errors: whatever `genops` rejects (truncated or unknown
/// opcodes), and a GET of a memo entry no PUT defined.
pub fn optimize(data: &[u8]) -> Result<Vec<u8>> {
    let ops = genops(data)?;
    let mut pieces = Vec::new();
    let mut oldids = 0i64;
    let mut used: HashMap<i64, Option<i64>> = HashMap::new();
    let mut proto = 0u8;
    let mut header: &[u8] = &[];
    for (i, o) in ops.iter().enumerate() {
        let end = ops.get(i + 1).map_or(o.pos + 1, |n| n.pos);
        let name = o.info.name;
        if name.contains("PUT") {
            oldids += 1;
            pieces.push(Piece::Put(o.arg_int.unwrap_or(-1)));
        } else if name == "MEMOIZE" {
            pieces.push(Piece::Put(oldids));
            oldids += 1;
        } else if name.contains("FRAME") {
        } else if name.contains("GET") {
            proto = proto.max(o.info.proto);
            let a = o.arg_int.unwrap_or(-1);
            used.insert(a, None);
            pieces.push(Piece::Get(a));
        } else if name == "PROTO" {
            let a = o.arg_int.unwrap_or(0) as u8;
            proto = proto.max(a);
            if o.pos == 0 {
                header = &data[o.pos..end];
            } else {
                pieces.push(Piece::Raw(o.pos, end));
            }
        } else {
            pieces.push(Piece::Raw(o.pos, end));
        }
    }
    let mut out = header.to_vec();
    let framing = proto >= 4;
    let mut frame: Vec<u8> = Vec::new();
    let commit = |out: &mut Vec<u8>, frame: &mut Vec<u8>, force: bool| {
        if framing && (frame.len() >= FRAME_SIZE_TARGET || force) && !frame.is_empty() {
            if frame.len() >= FRAME_SIZE_MIN {
                out.push(0x95);
                out.extend_from_slice(&(frame.len() as u64).to_le_bytes());
            }
            out.append(frame);
        }
    };
    let mut idx = 0i64;
    for piece in pieces {
        let (bytes, frameless): (Vec<u8>, bool) = match piece {
            Piece::Put(a) => {
                let Some(slot) = used.get_mut(&a) else {
                    continue;
                };
                *slot = Some(idx);
                let b = memo_op(proto, idx, true);
                idx += 1;
                (b, false)
            }
            Piece::Get(a) => {
                let Some(Some(n)) = used.get(&a).copied() else {
                    return Err(PickleError::new(
                        PyExc::KeyError,
                        format!("memo key {a} used before it was stored"),
                    )
                    .into());
                };
                (memo_op(proto, n, false), false)
            }
            Piece::Raw(s, e) => (data[s..e].to_vec(), e - s > FRAME_SIZE_TARGET),
        };
        commit(&mut out, &mut frame, frameless);
        if !framing || frameless {
            out.extend_from_slice(&bytes);
        } else {
            frame.extend_from_slice(&bytes);
        }
    }
    commit(&mut out, &mut frame, true);
    Ok(out)
}

/// What pickle.py's `Pickler.put`/`get` write at protocol `proto`.
fn memo_op(proto: u8, idx: i64, put: bool) -> Vec<u8> {
    if put && proto >= 4 {
        return vec![0x94];
    }
    if proto >= 1 {
        if idx < 256 {
            vec![if put { b'q' } else { b'h' }, idx as u8]
        } else {
            let mut v = vec![if put { b'r' } else { b'j' }];
            v.extend_from_slice(&(idx as u32).to_le_bytes());
            v
        }
    } else {
        format!("{}{idx}\n", if put { 'p' } else { 'g' }).into_bytes()
    }
}
