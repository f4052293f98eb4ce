"""pydbm.sqlite3: Python 3.13's ``dbm.sqlite3`` (an SQLite file with one ``Dict`` table),
available on any Python version."""

import pathlib

from . import _common
from . import _pydbm

_common.require("dbm.sqlite3")

__all__ = ["error", "open"]


class error(OSError):
    """Raised on dbm.sqlite3 errors (an OSError subclass)."""

    __module__ = "pydbm.sqlite3"


def _normalize_uri(path):
    """The ``file:`` URI CPython 3.13's ``dbm.sqlite3`` opens ``path`` with (python-formats
    spec §5): the absolute path as a percent-quoted file URI, every ``//`` collapsed to
    ``/``. pydbm opens the path directly; this is kept for code (and CPython's test suite)
    that imports it from ``dbm.sqlite3``."""
    uri = pathlib.Path(path).absolute().as_uri()
    while "//" in uri:
        uri = uri.replace("//", "/")
    return uri


def open(filename, /, flag="r", mode=0o666, *, durability="process"):
    """Open an SQLite-backed dbm as ``dbm.sqlite3.open`` does.

    ``durability`` (keyword-only, pydbm's own; default ``"process"``) sets SQLite's
    ``PRAGMA synchronous`` on the WAL-mode database, and so what a crash may cost:

    - ``"none"`` (``OFF``): no fsync at all. A committed update survives a killed process
      (the WAL is in the OS page cache), but a power loss may lose recent updates or
      corrupt the database.
    - ``"process"`` (``NORMAL``, the default): a committed update survives a killed
      process; a power loss may roll back the most recent updates but leaves the database
      consistent.
    - ``"full"`` (``FULL``, CPython's own setting): every commit is fsynced, so it also
      survives power loss.

    Any other value raises ValueError.
    """
    if flag not in ("r", "w", "c", "n"):
        raise ValueError("Flag must be one of 'r', 'w', 'c', or 'n', not %r" % (flag,))
    return _pydbm.open("dbm.sqlite3", _common.fspath(filename), flag, mode, error, durability)
