//! The encoded size of etcd requests, checked before sending against the cluster's
//! `--max-request-bytes` (etcd's default 1.5 MiB = 1,572,864 bytes), so an oversized
//! request fails locally with a clear error instead of a gRPC refusal.
//!
//! Sizes follow the protobuf wire format of etcd's `rpc.proto`: a length-delimited field
//! costs one tag byte, the varint of its length, then its bytes. etcd compares the size of
//! the whole Raft proposal (the request inside an `InternalRaftRequest` with a small
//! header), so [`PROPOSAL_OVERHEAD`] bytes are reserved on top.

/// etcd's default `--max-request-bytes`.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1_572_864;

/// Bytes reserved for the Raft proposal's header around a request (etcd's
/// `InternalRaftRequest` header: request id, auth revision, user name); generous.
pub const PROPOSAL_OVERHEAD: usize = 512;

/// Length of `n` as a protobuf varint.
fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Size of a length-delimited field with a one-byte tag holding `len` bytes (omitted, as
/// proto3 does, when empty).
fn field_len(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        1 + varint_len(len) + len
    }
}

/// Size of a length-delimited message field that is always present (a oneof member).
fn message_field_len(len: usize) -> usize {
    1 + varint_len(len) + len
}

/// Encoded size of a `PutRequest{key, value}`.
pub fn put_len(key: usize, value: usize) -> usize {
    field_len(key) + field_len(value)
}

/// Encoded size of a `DeleteRangeRequest{key}`.
pub fn delete_len(key: usize) -> usize {
    field_len(key)
}

/// Size a `PutRequest` or `DeleteRangeRequest` of `inner` bytes adds to a `TxnRequest`'s
/// `success` list (wrapped in a `RequestOp`).
pub fn txn_op_len(inner: usize) -> usize {
    message_field_len(message_field_len(inner))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_fields_have_protobuf_sizes() {
        assert_eq!(varint_len(0), 1);
        assert_eq!(varint_len(127), 1);
        assert_eq!(varint_len(128), 2);
        assert_eq!(varint_len(16_383), 2);
        assert_eq!(varint_len(16_384), 3);
        // key "a" (3 bytes), value of 200 bytes (1 + 2 + 200).
        assert_eq!(put_len(1, 200), 3 + 203);
        assert_eq!(put_len(1, 0), 3);
        assert_eq!(delete_len(5), 7);
        // RequestOp{request_put: PutRequest(10 bytes)} = 12 bytes, as a success entry 14.
        assert_eq!(txn_op_len(10), 14);
    }
}
