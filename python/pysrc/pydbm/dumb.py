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

    ``durability`` (keyword-only, pydbm's own; default ``"process"``) is what a crash may cost:

    - ``"none"``: no journal; updates are written back to the file at ``sync()``/``close()``
      (or when the page cache fills), as CPython's ``dbm.dumb`` writes its index. A killed process or a power
      loss may lose or tear anything written since the last ``sync()``. Fastest.
    - ``"process"`` (the default): every update is one journaled transaction. Once it
      returns it survives a killed process, and no update is ever half-applied. Nothing is
      fsynced, so a power loss may lose the most recent updates.
    - ``"full"``: as ``"process"``, and every update is fsynced (journal and file) before it
      returns, so it also survives power loss.

    Any other value raises ValueError.
    """
    if flag not in ("r", "w", "c", "n"):
        raise ValueError("Flag must be one of 'r', 'w', 'c', or 'n'")
    return _pydbm.open("dbm.dumb", _common.fspath(file), flag, mode, error, durability)
