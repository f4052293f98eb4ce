"""pydbm.pickle_scan against CPython's own unpickler: the globals it lists are exactly the
(module, name) pairs CPython's Unpickler.find_class resolves for the same pickle, in order,
each once; and scanning never imports or executes anything."""

import _compat_pickle
import collections
import datetime
import decimal
import fractions
import io
import os
import pickle
import subprocess
import sys

import pytest

import pydbm


class RecordingUnpickler(pickle._Unpickler):
    """CPython's (pure-Python) unpickler, recording what find_class is asked for (after fix_imports)."""

    def __init__(self, data):
        super().__init__(io.BytesIO(data))
        self.seen = []

    def find_class(self, module, name):
        key = (module, name)
        if self.proto < 3 and self.fix_imports:
            if key in _compat_pickle.NAME_MAPPING:
                key = _compat_pickle.NAME_MAPPING[key]
            elif module in _compat_pickle.IMPORT_MAPPING:
                key = (_compat_pickle.IMPORT_MAPPING[module], name)
        if key not in self.seen:
            self.seen.append(key)
        return super().find_class(module, name)


def cpython_globals(data):
    u = RecordingUnpickler(data)
    u.load()
    return u.seen


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


VALUES = [
    [1, "two", 3.0, b"four", None, True],
    collections.OrderedDict(a=1, b=[collections.Counter("hello")]),
    {"when": datetime.datetime(2024, 5, 6, 7, 8, 9), "d": decimal.Decimal("1.25")},
    [fractions.Fraction(3, 7), {1, 2}, frozenset({3}), bytearray(b"x")],
    [os.path.join, len, collections.deque([1, 2])],
    Point(1, [Point(2, 3)]),
]


@pytest.mark.parametrize("protocol", range(0, pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("index", range(len(VALUES)))
def test_scan_equals_find_class_calls(protocol, index):
    data = pickle.dumps(VALUES[index], protocol)
    assert pydbm.pickle_scan(data) == cpython_globals(data)


def test_scan_does_not_execute():
    # A pickle whose load would run os.system: the scan names it and runs nothing.
    marker = "/tmp/pydbm-pickle-scan-must-not-exist-%d" % os.getpid()
    data = b"cos\nsystem\n(S'touch " + marker.encode() + b"'\ntR."
    assert pydbm.pickle_scan(data) == [("os", "system")]
    assert not os.path.exists(marker)


def test_scan_of_module_not_importable_here():
    # No import happens, so a module that does not exist is still listed.
    data = b"\x80\x02cno_such_mod\nCls\nq\x00)\x81q\x01."
    assert pydbm.pickle_scan(data) == [("no_such_mod", "Cls")]


def test_bad_pickles_raise_unpickling_error():
    with pytest.raises(pickle.UnpicklingError):
        pydbm.pickle_scan(b"\x80\x04\x95\x10\x00")
    with pytest.raises(pickle.UnpicklingError):
        pydbm.pickle_scan(b"cos\nsys")
    with pytest.raises(TypeError):
        pydbm.pickle_scan(12)


def test_shelf_values_scan(tmp_path):
    import pydbm.shelve

    path = str(tmp_path / "shelf")
    with pydbm.shelve.open(path, "c") as sh:
        sh["od"] = collections.OrderedDict(a=1)
    with pydbm.open(path, "r") as db:
        assert pydbm.pickle_scan(db[b"od"]) == [("collections", "OrderedDict")]
