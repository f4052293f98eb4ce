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

    def __init__(self, filename, flag="c", protocol=None, writeback=False):
        _shelve.Shelf.__init__(self, _pydbm_pkg.open(filename, flag), protocol, writeback)


def open(filename, flag="c", protocol=None, writeback=False):
    """Open a persistent dictionary, as ``shelve.open`` does, with pydbm's formats."""
    return DbfilenameShelf(filename, flag, protocol, writeback)
