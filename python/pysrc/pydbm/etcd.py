"""pydbm.etcd: a dbm-style mapping stored in an etcd v3 cluster under a key prefix.

Addresses are ``etcd://[USER[:PASSWORD]@]HOST:PORT[,HOST:PORT...]/PREFIX[?timeout=SECONDS]``;
record ``key`` is the etcd key ``/PREFIX/`` + ``key`` (docs/etcd.md). ``pydbm.open`` and
``pydbm.shelve.open`` accept such addresses and come here. Every write is committed on a
majority of the cluster's members before it returns; reads are linearizable.
"""

from . import _pydbm

__all__ = ["error", "open"]


class error(OSError):
    """Raised for every failure of the etcd backend (unreachable cluster, lost quorum,
    request too large, authentication, timeout); the message names the address and says
    what to do."""


def open(address, flag="c", mode=0o666, *, durability="process"):
    """Open the database at ``address`` with ``dbm.open``'s flags: ``'r'`` read-only,
    ``'w'``/``'c'`` read-write (an etcd prefix always exists), ``'n'`` deletes every
    record under the prefix first. ``mode`` and ``durability`` are accepted for
    signature compatibility and have no effect (etcd replicates and fsyncs every write
    before acknowledging it)."""
    if flag not in ("r", "w", "c", "n"):
        raise ValueError("Flag must be one of 'r', 'w', 'c', or 'n'")
    if not isinstance(address, str) or not address.startswith("etcd://"):
        raise ValueError("pydbm.etcd.open needs an etcd://HOST:PORT/PREFIX address")
    return _pydbm.open("etcd", address, flag, mode, error, durability)
