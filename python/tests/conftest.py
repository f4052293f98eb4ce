"""Shared fixtures for pydbm's package tests."""

import os
import shutil

import pytest

import pydbm._pydbm

#: Module names this build implements, e.g. ["dbm.sqlite3", "dbm.gnu"].
IMPLEMENTED = pydbm._pydbm.implemented_modules()
ALL = ["dbm.gnu", "dbm.ndbm", "dbm.dumb", "dbm.sqlite3"]

#: Debian's CPython with dbm.gnu (libgdbm 1.23) and dbm.ndbm (libdb 5.3): the reference.
REFERENCE = os.environ.get("PYDBM_REFERENCE_PYTHON", "/usr/bin/python3")


def module_param():
    """pytest params over every dbm format; unimplemented ones skip loudly."""
    params = []
    for m in ALL:
        marks = []
        if m not in IMPLEMENTED:
            marks.append(pytest.mark.skip(reason="SKIPPED: %s not implemented in this build" % m))
        params.append(pytest.param(m, marks=marks, id=m.split(".")[1]))
    return params


def missing_reference(what):
    """Skip (printing loudly) when a live reference is missing; fail instead under CI=true."""
    msg = "SKIPPED: %s not available" % what
    print(msg)
    if os.environ.get("CI") == "true":
        pytest.fail(msg + " (CI=true requires it)")
    pytest.skip(msg)


@pytest.fixture
def reference_python():
    """Path of the reference interpreter, or skip/fail when it is missing."""
    exe = REFERENCE if os.path.exists(REFERENCE) else shutil.which(REFERENCE)
    if not exe:
        missing_reference("reference python %s" % REFERENCE)
    return exe
