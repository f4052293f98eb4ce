"""pydbm.shelve: ``shelve.open`` over a pydbm database.

The serializer is CPython's own pickle and the Shelf class is the standard
``shelve.Shelf``; only the storage is pydbm's, so a shelf written here is the file
``shelve.open`` writes with the same backend.
"""

import shelve as _shelve

import pydbm as _pydbm_pkg

__all__ = ["open", "Shelf", "BsdDbShelf", "DbfilenameShelf"]

Shelf = _shelve.Shelf
BsdDbShelf = _shelve.BsdDbShelf


class DbfilenameShelf(_shelve.Shelf):
    """``shelve.DbfilenameShelf`` whose database is opened with :func:`pydbm.open`."""

    def __init__(self, filename, flag="c", protocol=None, writeback=False, *,
                 durability="process"):
        db = _pydbm_pkg.open(filename, flag, durability=durability)
        _shelve.Shelf.__init__(self, db, protocol, writeback)


def open(filename, flag="c", protocol=None, writeback=False, *, durability="process"):
    """Open a persistent dictionary, as ``shelve.open`` does, with pydbm's formats.

    ``durability`` (keyword-only, pydbm's own; default ``"process"``) is passed to
    :func:`pydbm.open` and sets what a crash may cost each write to the shelf:

    - ``"none"``: no journal; updates reach the file at ``sync()``/``close()``. A killed
      process or a power loss may lose or tear anything since the last ``sync()``.
    - ``"process"`` (the default): every update is one atomic transaction that survives a
      killed process once it returns; a power loss may lose the most recent updates.
    - ``"full"``: as ``"process"``, and every update is fsynced, so it also survives
      power loss.

    Any other value raises ValueError. With ``writeback=True`` entries are written (each
    under this guarantee) at ``sync()``/``close()``.
    """
    return DbfilenameShelf(filename, flag, protocol, writeback, durability=durability)
