"""pydbm.gnu: a drop-in for the standard ``dbm.gnu`` (libgdbm 1.23 files, byte for byte).

Usage is the standard module's::

    import pydbm.gnu
    with pydbm.gnu.open("data.gdbm", "c") as db:
        db[b"key"] = b"value"
"""

from . import _common
from . import _pydbm

_common.require("dbm.gnu")

__all__ = ["error", "open", "open_flags"]

#: The flag letters ``open`` accepts: a mode (``r w c n``) then modifiers (``f s u``).
open_flags = "rwcnfsu"


class error(OSError):
    """Raised on gdbm errors, as ``dbm.gnu.error`` (an OSError subclass)."""

    __module__ = "pydbm.gnu"


def open(filename, flag="r", mode=0o666, /, *, durability="process"):
    """Open a gdbm database as ``dbm.gnu.open`` does.

    ``flag``: ``'r'`` read-only (default), ``'w'`` read-write, ``'c'`` create if missing,
    ``'n'`` always new; optionally followed by ``'f'`` (fast, a no-op in gdbm 1.23),
    ``'s'`` (synchronized) and ``'u'`` (no locking). ``mode`` is the permission of a
    created file (before the umask). Errors raise :class:`error`.

    ``durability`` (keyword-only, pydbm's own; default ``"process"``) is what a crash may cost:

    - ``"none"``: no journal; updates are written back to the file at ``sync()``/``close()``
      (or when the page cache fills), as the C library does. A killed process or a power
      loss may lose or tear anything written since the last ``sync()``. Fastest.
    - ``"process"`` (the default): every update is one journaled transaction. Once it
      returns it survives a killed process, and no update is ever half-applied. Nothing is
      fsynced, so a power loss may lose the most recent updates.
    - ``"full"``: as ``"process"``, and every update is fsynced (journal and file) before it
      returns, so it also survives power loss.

    Any other value raises ValueError.
    """
    if not isinstance(flag, str):
        raise TypeError("open() argument 2 must be str, not %s" % type(flag).__name__)
    if not flag or flag[0] not in "rwcn":
        raise error("First flag must be one of 'r', 'w', 'c' or 'n'")
    for c in flag[1:]:
        if c not in "fsu":
            raise error("Flag '%s' is not supported." % c)
    return _pydbm.open("dbm.gnu", _common.fspath(filename), flag, mode, error, durability)
