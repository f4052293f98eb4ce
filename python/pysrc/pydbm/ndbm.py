"""pydbm.ndbm: a drop-in for the standard ``dbm.ndbm`` (Debian's: Berkeley DB 5.3 hash
files named ``NAME.db``)."""

from . import _common
from . import _pydbm

_common.require("dbm.ndbm")

__all__ = ["error", "open", "library"]

#: What ``dbm.ndbm.library`` says on Debian.
library = "Berkeley DB"


class error(OSError):
    """Raised on ndbm errors, as ``dbm.ndbm.error`` (an OSError subclass)."""

    __module__ = "pydbm.ndbm"


def open(filename, flag="r", mode=0o666, /, *, durability="process"):
    """Open an ndbm database as ``dbm.ndbm.open`` does (flags ``r w c n``, and the legacy ``rw`` meaning ``c``).

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
    if flag == "rw":
        flag = "c"  # _dbmmodule.c: "rw" is kept for backward compatibility, O_RDWR|O_CREAT
    if flag not in ("r", "w", "c", "n"):
        raise error("arg 2 to open should be 'r', 'w', 'c', or 'n'")
    return _pydbm.open("dbm.ndbm", _common.fspath(filename), flag, mode, error, durability)
