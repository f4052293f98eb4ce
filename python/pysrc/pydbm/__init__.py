"""pydbm: Python's dbm formats (gnu, ndbm, dumb, sqlite3) as drop-in modules, backed by
pydbm's Rust engine and byte-compatible with the C libraries.

Two-line use::

    import pydbm.gnu
    db = pydbm.gnu.open("data.gdbm", "c")

``pydbm.open``/``pydbm.whichdb`` mirror ``dbm.open``/``dbm.whichdb``; ``pydbm.shelve.open``
opens a shelf over a pydbm database.
"""

import importlib
import os

from . import _pydbm

__all__ = ["open", "whichdb", "error"]

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

_SQLITE_MAGIC = b"SQLite format 3\0"
_GDBM_MAGICS = (0x13579ACE, 0x13579ACD, 0x13579ACF)


def _load(name):
    mod = _modules.get(name)
    if mod is None:
        mod = importlib.import_module(name)
        _modules[name] = mod
    return mod


def _module_for(result):
    """The pydbm module for a whichdb result such as ``"dbm.gnu"``."""
    return "pydbm." + result.split(".", 1)[1]


def open(file, flag="r", mode=0o666):
    """Open or create a database of any format, as ``dbm.open`` does.

    ``'n'`` always creates a new database of the first format this build implements
    (CPython 3.13's order: sqlite3, gnu, ndbm, dumb); otherwise the format is read
    from the file with :func:`whichdb`.
    """
    global _defaultmod
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
    return mod.open(file, flag, mode)


def whichdb(filename):
    """Guess which db package can open ``filename``, as ``dbm.whichdb`` (3.13) does.

    Returns ``None`` when the file cannot be opened, ``""`` when its format is unknown,
    else the standard module's name (``"dbm.gnu"``, ``"dbm.ndbm"``, ``"dbm.dumb"``,
    ``"dbm.sqlite3"``), so a file can be checked against the standard library's answer.
    """
    # python-formats spec §6, steps 1-7.
    filename = os.fsencode(filename)
    # 1. ndbm: .pag + .dir, or a Berkeley DB .db that ndbm opens.
    try:
        with _builtin_open(filename + b".pag", "rb"):
            pass
        with _builtin_open(filename + b".dir", "rb"):
            pass
        return "dbm.ndbm"
    except OSError:
        try:
            with _builtin_open(filename + b".db", "rb"):
                pass
            try:
                ndbm = _load("pydbm.ndbm")
            except ImportError:
                ndbm = None
            if ndbm is not None:
                d = ndbm.open(filename)
                d.close()
                return "dbm.ndbm"
        except OSError:
            pass
    # 2. dumb: .dat exists and .dir is empty or starts with a quote.
    try:
        os.stat(filename + b".dat")
        size = os.stat(filename + b".dir").st_size
        if size == 0:
            return "dbm.dumb"
        with _builtin_open(filename + b".dir", "rb") as f:
            if f.read(1) in (b"'", b'"'):
                return "dbm.dumb"
    except OSError:
        pass
    # 3-4. the file itself.
    try:
        f = _builtin_open(filename, "rb")
    except OSError:
        return None
    with f:
        s16 = f.read(16)
    if len(s16) < 4:
        return ""
    # 5. SQLite.
    if s16 == _SQLITE_MAGIC:
        return "dbm.sqlite3"
    # 6. gdbm magics, native byte order only (numsync and swapped files are not recognised,
    #    as in CPython).
    magic = int.from_bytes(s16[:4], _native_order)
    if magic in _GDBM_MAGICS:
        return "dbm.gnu"
    # 7. unknown.
    return ""


import builtins as _builtins  # noqa: E402
import sys as _sys  # noqa: E402

_builtin_open = _builtins.open
_native_order = _sys.byteorder
