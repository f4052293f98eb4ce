"""pydbm: Python's dbm formats (gnu, ndbm, dumb, sqlite3) as drop-in modules, backed by
pydbm's Rust engine and byte-compatible with the C libraries.

Two-line use::

    import pydbm.gnu
    db = pydbm.gnu.open("data.gdbm", "c")

``pydbm.open``/``pydbm.whichdb`` mirror ``dbm.open``/``dbm.whichdb``; ``pydbm.shelve.open``
opens a shelf over a pydbm database. Both also take ``etcd://HOST:PORT/PREFIX`` addresses
(``pydbm.etcd``, docs/etcd.md).
"""

import importlib
import os

from . import _pydbm
from ._pydbm import pickle_scan

__all__ = ["open", "whichdb", "error", "pickle_scan"]

__version__ = _pydbm.__version__

#: Backend order for a new database: CPython 3.13's ``dbm._names`` (the formats this
#: build does not implement are skipped).
_names = ["pydbm.sqlite3", "pydbm.gnu", "pydbm.ndbm", "pydbm.dumb"]
_defaultmod = None
_modules = {}


class error(Exception):
    """``dbm.error[0]``: raised by :func:`open` when the type cannot be determined."""


#: As ``dbm.error``: a tuple usable in ``except``; backend errors are OSError subclasses.
error = (error, OSError)


def _load(name):
    mod = _modules.get(name)
    if mod is None:
        mod = importlib.import_module(name)
        _modules[name] = mod
    return mod


def _module_for(result):
    """The pydbm module for a whichdb result such as ``"dbm.gnu"``."""
    return "pydbm." + result.split(".", 1)[1]


def open(file, flag="r", mode=0o666, *, durability="process"):
    """Open or create a database of any format, as ``dbm.open`` does.

    ``'n'`` always creates a new database of the first format this build implements
    (CPython 3.13's order: sqlite3, gnu, ndbm, dumb); otherwise the format is read
    from the file with :func:`whichdb`.

    ``durability`` (keyword-only, pydbm's own; default ``"process"``) is passed to the
    chosen module's ``open`` and sets what a crash may cost:

    - ``"none"``: no journal (gnu, ndbm, dumb: updates are written back at ``sync()``/
      ``close()``; sqlite3: ``PRAGMA synchronous = OFF``). A killed process (gnu, ndbm,
      dumb) or a power loss (all) may lose or tear anything since the last ``sync()``.
    - ``"process"`` (the default): every update is one atomic transaction that survives a
      killed process once it returns; nothing is fsynced, so a power loss may lose the
      most recent updates (sqlite3: ``synchronous = NORMAL``).
    - ``"full"``: as ``"process"``, and every update is fsynced before it returns, so it
      also survives power loss (sqlite3: ``synchronous = FULL``, CPython's setting).

    Any other value raises ValueError. An ``etcd://`` address accepts and ignores it
    (etcd replicates and fsyncs every write).
    """
    global _defaultmod
    if isinstance(file, str) and file.startswith("etcd://"):
        # docs/etcd.md: an etcd address names its backend.
        return _load("pydbm.etcd").open(file, flag, mode, durability=durability)
    if _defaultmod is None:
        for name in _names:
            try:
                _defaultmod = _load(name)
            except ImportError:
                continue
            break
        else:
            raise ImportError("no pydbm dbm module is available")

    result = whichdb(file) if "n" not in flag else None
    if result is None:
        if "c" in flag or "n" in flag:
            mod = _defaultmod
        else:
            raise error[0]("db file doesn't exist; use 'c' or 'n' flag to create a new db")
    elif result == "":
        raise error[0]("db type could not be determined")
    else:
        try:
            mod = _load(_module_for(result))
        except ImportError:
            raise error[0]("db type is {0}, but the module is not available".format(result))
    return mod.open(file, flag, mode, durability=durability)


def whichdb(filename):
    """Guess which db package can open ``filename``, as ``dbm.whichdb`` (3.13) does.

    Returns ``None`` when the file cannot be opened, ``""`` when its format is unknown,
    else the standard module's name (``"dbm.gnu"``, ``"dbm.ndbm"``, ``"dbm.dumb"``,
    ``"dbm.sqlite3"``). Unlike CPython, gdbm files in the numsync (gdbm >= 1.21) or
    byte-swapped layouts, which pydbm opens, are named ``"dbm.gnu"`` rather than ``""``.
    Accepts str, bytes and os.PathLike. An ``etcd://`` address gives ``"etcd"``.
    """
    return _pydbm.whichdb(os.fsdecode(os.fspath(filename)))
