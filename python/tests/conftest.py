"""Shared fixtures for pydbm's package tests."""

import glob
import os
import shutil
import subprocess

import pytest

import pydbm._pydbm

#: Module names this build implements, e.g. ["dbm.sqlite3", "dbm.gnu"].
IMPLEMENTED = pydbm._pydbm.implemented_modules()
ALL = ["dbm.gnu", "dbm.ndbm", "dbm.dumb", "dbm.sqlite3"]

#: Debian's CPython with dbm.gnu (libgdbm 1.23) and dbm.ndbm (libdb 5.3): the reference
#: (PYDBM_PYTHON_GDBM, as in pydbm_engine::live_reference; PYDBM_REFERENCE_PYTHON still works).
REFERENCE = (os.environ.get("PYDBM_PYTHON_GDBM") or os.environ.get("PYDBM_REFERENCE_PYTHON")
             or "/usr/bin/python3")


def python313():
    """CPython 3.13 found as pydbm_engine::live_reference finds it: PYDBM_PYTHON313, else
    python3.13 on PATH, else ~/.pyenv/versions/3.13.*/bin/python3.13 (newest first); only a
    candidate that runs and reports 3.13 counts. None when there is none."""
    set_ = os.environ.get("PYDBM_PYTHON313")
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    def patch(path):
        release = path.split(os.sep + "versions" + os.sep)[1].split(os.sep)[0]
        tail = release.split(".")[2]
        return int(tail) if tail.isdigit() else -1

    pyenv = sorted(glob.glob(os.path.join(root, "versions", "3.13.*", "bin", "python3.13")),
                   key=patch, reverse=True)
    candidates = [set_] if set_ else [shutil.which("python3.13")] + pyenv
    for exe in candidates:
        if not exe:
            continue
        try:
            out = subprocess.run([exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                 capture_output=True, text=True, timeout=30)
        except OSError:
            continue
        if out.returncode == 0 and out.stdout.strip() == "3.13":
            return exe
    return None


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
