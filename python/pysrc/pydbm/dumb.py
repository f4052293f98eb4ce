"""pydbm.dumb: a drop-in for the standard ``dbm.dumb`` (``NAME.dat``/``.dir``/``.bak``,
written as CPython 3.13 writes them)."""

from . import _common
from . import _pydbm

_common.require("dbm.dumb")

__all__ = ["error", "open"]

#: As in the standard module, dumb's error is OSError itself.
error = OSError


def open(file, flag="c", mode=0o666, *, durability="process"):
    """Open a dumb database as ``dbm.dumb.open`` does (default flag ``'c'``).

    An invalid flag raises ValueError; a missing ``.dat``/``.dir`` with ``'r'``/``'w'``
    raises FileNotFoundError; a ``.dir`` that is not the literal index raises ValueError.

    ``durability`` (keyword-only, pydbm's own): ``"process"`` (default; every update is
    one journaled transaction that survives a killed process), ``"full"`` (also survives
    power loss), ``"none"`` (no journal, written back at sync/close like the C library).
    """
    if flag not in ("r", "w", "c", "n"):
        raise ValueError("Flag must be one of 'r', 'w', 'c', or 'n'")
    return _pydbm.open("dbm.dumb", _common.fspath(file), flag, mode, error, durability)
