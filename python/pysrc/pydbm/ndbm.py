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

    ``durability`` (keyword-only, pydbm's own): ``"process"``, ``"full"`` or ``"none"``,
    as for :func:`pydbm.gnu.open`.
    """
    if flag == "rw":
        flag = "c"  # _dbmmodule.c: "rw" is kept for backward compatibility, O_RDWR|O_CREAT
    if flag not in ("r", "w", "c", "n"):
        raise error("arg 2 to open should be 'r', 'w', 'c', or 'n'")
    return _pydbm.open("dbm.ndbm", _common.fspath(filename), flag, mode, error, durability)
