//! How an `etcd-client` failure becomes a pydbm [`Error::Remote`]: one class per cause,
//! a message naming the endpoints and what to do, and a statement of whether the request
//! may have been applied (a timed-out write may have been; a refused one was not).

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use pydbm_engine::{Error, RemoteFailure};

use crate::address::EtcdAddress;

/// What the request was, for the message ("put", "range read", "transaction of 12 operations").
pub(crate) type Request<'a> = &'a str;

/// The [`Error::Remote`] for `class` with message `what`, naming `address`.
pub(crate) fn remote(address: &EtcdAddress, kind: RemoteFailure, what: String) -> Error {
    Error::Remote {
        endpoint: address.display(),
        kind,
        what,
    }
}

/// The error for a request that got no answer within `timeout`. When no endpoint accepts a
/// TCP connection any more the cluster is unreachable; otherwise the members are up but did
/// not commit in time (typically lost quorum).
pub(crate) fn timed_out(address: &EtcdAddress, request: Request, timeout: Duration) -> Error {
    if !any_endpoint_accepts(address, timeout.min(Duration::from_secs(1))) {
        return unreachable(address, request);
    }
    remote(
        address,
        RemoteFailure::Timeout,
        format!(
            "{request}: no answer within {:.1}s; the cluster may have lost quorum (fewer than a \
             majority of members up) or be overloaded. A write may or may not have been applied: \
             read it back before retrying. Raise the limit with ?timeout=SECONDS",
            timeout.as_secs_f64()
        ),
    )
}

/// The error for a cluster none of whose endpoints accepts connections.
pub(crate) fn unreachable(address: &EtcdAddress, request: Request) -> Error {
    remote(
        address,
        RemoteFailure::Unreachable,
        format!(
            "{request}: cannot connect to any endpoint ({}); check the address and that etcd is \
             running and listening for clients there. Nothing was applied",
            address.endpoints.join(", ")
        ),
    )
}

/// Whether at least one endpoint accepts a TCP connection within `within`.
pub(crate) fn any_endpoint_accepts(address: &EtcdAddress, within: Duration) -> bool {
    address.endpoints.iter().any(|endpoint| {
        endpoint
            .to_socket_addrs()
            .map(|mut addrs| addrs.any(|a| TcpStream::connect_timeout(&a, within).is_ok()))
            .unwrap_or(false)
    })
}

/// Whether `err` says the connection to the chosen member could not be made, so the
/// request was never sent (tonic's "tcp connect error" from a refused connection).
pub(crate) fn never_sent(err: &etcd_client::Error) -> bool {
    match err {
        etcd_client::Error::GRpcStatus(status) => {
            format!("{:?}", status.code()) == "Unavailable"
                && status.message().contains("tcp connect error")
        }
        _ => false,
    }
}

/// Maps an `etcd-client` error of `request` to pydbm's error, by the gRPC status and
/// etcd's error texts (etcd's `rpctypes` package: "etcdserver: no leader", "etcdserver:
/// request is too large", "etcdserver: too many operations in txn request", "etcdserver:
/// mvcc: database space exceeded", "etcdserver: authentication failed, invalid user ID or
/// password", "etcdserver: permission denied", "etcdserver: request timed out").
pub(crate) fn from_client(
    address: &EtcdAddress,
    request: Request,
    timeout: Duration,
    err: etcd_client::Error,
) -> Error {
    let (code, message) = match &err {
        etcd_client::Error::GRpcStatus(status) => {
            (format!("{:?}", status.code()), status.message().to_string())
        }
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => {
            return if any_endpoint_accepts(address, Duration::from_secs(1)) {
                remote(
                    address,
                    RemoteFailure::Rejected,
                    format!("{request}: connection failed: {err}"),
                )
            } else {
                unreachable(address, request)
            };
        }
        other => (String::new(), other.to_string()),
    };
    let lower = message.to_ascii_lowercase();
    let (kind, advice) = if lower.contains("no leader") {
        (
            RemoteFailure::NoQuorum,
            "the cluster has no leader: fewer than a majority of its members are up. The \
             request was refused before it was proposed, so nothing was applied; restart the \
             stopped members and retry",
        )
    } else if lower.contains("too many operations in txn") {
        (
            RemoteFailure::TooLarge,
            "the transaction has more operations than the cluster allows (etcd's \
             --max-txn-ops, default 128); nothing was applied: split it or raise the limit",
        )
    } else if lower.contains("request is too large") || lower.contains("larger than max") {
        (
            RemoteFailure::TooLarge,
            "the request exceeds the cluster's size limit (etcd's --max-request-bytes, \
             default 1.5 MiB); nothing was applied: split it or raise the limit",
        )
    } else if lower.contains("database space exceeded") {
        (
            RemoteFailure::NoSpace,
            "the cluster's storage quota is exhausted (etcd's --quota-backend-bytes); compact \
             and defragment it, then disarm the NOSPACE alarm (etcdctl alarm disarm)",
        )
    } else if lower.contains("authentication failed")
        || lower.contains("permission denied")
        || lower.contains("user name is empty")
        || lower.contains("invalid auth token")
        || code == "Unauthenticated"
        || code == "PermissionDenied"
    {
        (
            RemoteFailure::Auth,
            "authentication or permission failure: give USER:PASSWORD@ in the address and \
             grant the user read/write on the prefix (etcdctl role grant-permission --prefix)",
        )
    } else if lower.contains("timed out")
        || lower.contains("leader changed")
        || code == "DeadlineExceeded"
        || code == "Cancelled"
    {
        return timed_out(address, request, timeout);
    } else if lower.contains("transport error")
        || lower.contains("connection reset")
        || lower.contains("broken pipe")
        || lower.contains("connection closed")
    {
        (
            RemoteFailure::Timeout,
            "the connection to the member broke while the request was in flight (the member \
             stopped or was killed); it may or may not have been applied: read it back \
             before retrying",
        )
    } else if code == "Unavailable" {
        if !any_endpoint_accepts(address, Duration::from_secs(1)) {
            return unreachable(address, request);
        }
        (
            RemoteFailure::Timeout,
            "the member is unavailable (stopping, or lost its connection); a write may or may \
             not have been applied: read it back before retrying",
        )
    } else {
        (RemoteFailure::Rejected, "the cluster refused the request")
    };
    remote(
        address,
        kind,
        format!("{request}: {advice} (etcd said: {message})"),
    )
}
