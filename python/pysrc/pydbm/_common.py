"""Shared helpers of pydbm's Python modules (not public)."""

import os

from . import _pydbm


def fspath(file):
    """The path as ``str`` for the native layer: accepts str, bytes and os.PathLike
    (as the standard dbm modules do since 3.11); bytes are decoded with the file-system
    encoding and ``surrogateescape``, so any byte path round-trips."""
    return os.fsdecode(os.fspath(file))


def implemented(module):
    """Whether this build of pydbm implements ``module`` (``"dbm.gnu"`` ...)."""
    return module in _pydbm.implemented_modules()


def require(module):
    """Raise ImportError (what ``import dbm.gnu`` raises without ``_gdbm``) when this
    build does not implement ``module`` yet."""
    if not implemented(module):
        raise ImportError(
            "pydbm: %s is not implemented in this build (formats available: %s)"
            % (module, ", ".join(_pydbm.implemented_modules()) or "none")
        )
