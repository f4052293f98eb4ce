"""pytest tests of the pydbm Python package: the standard modules' interface and errors.

What the standard modules do is checked here from their documented behaviour; the
byte-for-byte comparison against the real C libraries is in test_interop.py.
"""

import ast
import errno
import importlib
import os
import pathlib
import pickle
import shutil
import subprocess

import pytest

import pydbm
import pydbm.shelve
from conftest import ALL, IMPLEMENTED, REFERENCE, missing_reference, module_param, python313


def pymod(name):
    return importlib.import_module("pydbm." + name.split(".")[1])


def base(tmp_path, name):
    return str(tmp_path / ("db-" + name.split(".")[1]))


@pytest.mark.parametrize("name", module_param())
def test_mapping_roundtrip(tmp_path, name):
    mod = pymod(name)
    path = base(tmp_path, name)
    with mod.open(path, "c") as db:
        assert list(db.keys()) == []
        db["a"] = "b"
        db[b"bytes \xbd"] = b"value \xbd"
        db["snake \U0001f40d"] = "\U0001f40d"
        db[bytearray(b"ba")] = memoryview(b"mv")
        assert len(db) == 4
        assert db[b"a"] == b"b"
        assert db["a"] == b"b"
        assert "a" in db and b"a" in db and b"zz" not in db
        assert db.get(b"zz") is None
        assert db.get(b"zz", b"d") == b"d"
        assert db[b"ba"] == b"mv"
        with pytest.raises(KeyError):
            db[b"zz"]
        with pytest.raises(KeyError):
            del db[b"zz"]
        del db[b"ba"]
        assert len(db) == 3
        assert db.setdefault(b"new", b"x") == b"x"
        assert db.setdefault(b"new", b"y") == b"x"
    with mod.open(path, "r") as db:
        assert sorted(db.keys()) == sorted(
            [b"a", b"bytes \xbd", "snake \U0001f40d".encode(), b"new"]
        )
        assert db["snake \U0001f40d"] == "\U0001f40d".encode()
        assert dict(db.items())[b"a"] == b"b"


@pytest.mark.parametrize("name", module_param())
def test_many_records_survive_reopen(tmp_path, name):
    mod = pymod(name)
    path = base(tmp_path, name)
    expect = {}
    with mod.open(path, "n") as db:
        for i in range(2000):
            k = b"key-%d" % i
            v = b"v" * (i % 300)
            db[k] = v
            expect[k] = v
        for i in range(0, 2000, 3):
            del db[b"key-%d" % i]
            del expect[b"key-%d" % i]
    with mod.open(path, "r") as db:
        assert len(db) == len(expect)
        assert {k: db[k] for k in db.keys()} == expect


@pytest.mark.parametrize("name", module_param())
def test_closed_handle_raises_module_error(tmp_path, name):
    mod = pymod(name)
    db = mod.open(base(tmp_path, name), "c")
    db.close()
    db.close()  # closing twice is allowed
    msg = "GDBM object has already been closed" if name == "dbm.gnu" else "DBM object has already been closed"
    for op in (lambda: db[b"a"], lambda: db.keys(), lambda: len(db), lambda: b"a" in db):
        with pytest.raises(mod.error) as exc:
            op()
        assert str(exc.value) == msg


@pytest.mark.parametrize("name", module_param())
def test_error_is_oserror(name):
    assert issubclass(pymod(name).error, OSError)


@pytest.mark.parametrize("name", module_param())
def test_read_only_rejects_writes(tmp_path, name):
    mod = pymod(name)
    path = base(tmp_path, name)
    with mod.open(path, "c") as db:
        db[b"k"] = b"v"
    with mod.open(path, "r") as db:
        with pytest.raises(mod.error):
            db[b"x"] = b"y"
        with pytest.raises(mod.error):
            del db[b"k"]
        assert db[b"k"] == b"v"


@pytest.mark.parametrize("name", [p for p in module_param() if p.values[0] != "dbm.sqlite3"])
def test_missing_file_is_enoent_with_filename(tmp_path, name):
    mod = pymod(name)
    path = base(tmp_path, name)
    with pytest.raises(mod.error) as exc:
        mod.open(path, "r")
    assert exc.value.errno == errno.ENOENT
    assert os.path.basename(path) in str(exc.value.filename)


@pytest.mark.parametrize("name", module_param())
def test_path_types(tmp_path, name):
    mod = pymod(name)
    path = base(tmp_path, name)
    for p in (path, pathlib.Path(path), os.fsencode(path)):
        with mod.open(p, "c") as db:
            db[b"k"] = b"v"
        with mod.open(p, "r") as db:
            assert db[b"k"] == b"v"


@pytest.mark.parametrize("name", module_param())
def test_bad_key_type(tmp_path, name):
    mod = pymod(name)
    # dbm.sqlite3 (3.13) reports sqlite3's binding error as its own error, the C modules
    # and dumb raise TypeError (test_interop checks the sqlite3 wording live against 3.13)
    expected = mod.error if name == "dbm.sqlite3" else TypeError
    with mod.open(base(tmp_path, name), "c") as db:
        with pytest.raises(expected):
            db[[1]] = b"v"
        with pytest.raises(expected):
            db[b"k"] = [1]


def test_flag_validation_messages(tmp_path):
    if "dbm.gnu" in IMPLEMENTED:
        import pydbm.gnu

        assert pydbm.gnu.open_flags == "rwcnfsu"
        with pytest.raises(pydbm.gnu.error, match="First flag must be one of 'r', 'w', 'c' or 'n'"):
            pydbm.gnu.open(str(tmp_path / "g"), "x")
        with pytest.raises(pydbm.gnu.error, match="Flag 'x' is not supported."):
            pydbm.gnu.open(str(tmp_path / "g"), "rx")
        for flag in ("cf", "cs", "cu", "wf"):
            pydbm.gnu.open(str(tmp_path / "g"), flag).close()
    if "dbm.dumb" in IMPLEMENTED:
        import pydbm.dumb

        with pytest.raises(ValueError, match="Flag must be one of 'r', 'w', 'c', or 'n'"):
            pydbm.dumb.open(str(tmp_path / "d"), "x")
    if "dbm.sqlite3" in IMPLEMENTED:
        import pydbm.sqlite3

        with pytest.raises(ValueError, match="not 'x'"):
            pydbm.sqlite3.open(str(tmp_path / "s"), "x")


def test_instantiation_refused():
    with pytest.raises(TypeError, match="cannot create 'pydbm._pydbm.Database' instances"):
        pydbm._pydbm.Database()


@pytest.mark.parametrize("name", module_param())
def test_whichdb_names_each_format_and_open_dispatches(tmp_path, name):
    mod = pymod(name)
    path = base(tmp_path, name)
    with mod.open(path, "c") as db:
        db[b"1"] = b"one"
    assert pydbm.whichdb(path) == name
    assert pydbm.whichdb(pathlib.Path(path)) == name
    with pydbm.open(path, "r") as db:
        assert db.module == name
        assert db[b"1"] == b"one"


def test_whichdb_missing_and_unknown(tmp_path):
    assert pydbm.whichdb(str(tmp_path / "missing")) is None
    (tmp_path / "junk").write_bytes(b"not a database at all")
    assert pydbm.whichdb(str(tmp_path / "junk")) == ""
    (tmp_path / "tiny").write_bytes(b"ab")
    assert pydbm.whichdb(str(tmp_path / "tiny")) == ""
    with pytest.raises(pydbm.error[0], match="db file doesn't exist"):
        pydbm.open(str(tmp_path / "missing"))
    with pytest.raises(pydbm.error, match="db type could not be determined"):
        pydbm.open(str(tmp_path / "junk"))


def test_whichdb_agrees_with_the_standard_library(tmp_path):
    import dbm

    for name in IMPLEMENTED:
        path = base(tmp_path, name)
        with pymod(name).open(path, "c") as db:
            db[b"k"] = b"v"
        if name == "dbm.sqlite3" and not hasattr(dbm, "sqlite3"):
            # The running CPython's whichdb predates dbm.sqlite3: ask CPython 3.13's.
            want = other_whichdb(python313(), "dbm.sqlite3", "CPython 3.13 (PYDBM_PYTHON313)", path)
        elif name == "dbm.ndbm" and getattr(dbm, "ndbm", None) is None:
            # Without _dbm this CPython's whichdb cannot recognise NAME.db: ask the
            # reference's (Debian's python3 with Berkeley DB's dbm.ndbm).
            ref = REFERENCE if os.path.exists(REFERENCE) else shutil.which(REFERENCE)
            want = other_whichdb(ref, "dbm.ndbm", "reference python %s" % REFERENCE, path)
        else:
            want = dbm.whichdb(path)
        assert pydbm.whichdb(path) == want, name


def other_whichdb(exe, module, what, path):
    """dbm.whichdb(path) as the interpreter exe answers it (it must import module); a missing
    interpreter skips loudly, or fails under CI=true."""
    if not exe or subprocess.run([exe, "-c", "import " + module], capture_output=True).returncode:
        missing_reference("%s with %s" % (what, module))
    out = subprocess.run([exe, "-c", "import dbm, sys; print(repr(dbm.whichdb(sys.argv[1])))", path],
                         capture_output=True, text=True, check=True)
    return ast.literal_eval(out.stdout.strip())


def test_open_new_uses_first_implemented_format(tmp_path):
    path = str(tmp_path / "fresh")
    with pydbm.open(path, "c") as db:
        db[b"k"] = b"v"
        expect = [m for m in ["dbm.sqlite3", "dbm.gnu", "dbm.ndbm", "dbm.dumb"] if m in IMPLEMENTED][0]
        assert db.module == expect


def test_shelve_roundtrip(tmp_path):
    path = str(tmp_path / "shelf")
    value = {"list": [1, 2.5, None], "tuple": (b"x", "y"), "set": {1, 2}}
    with pydbm.shelve.open(path, "c") as sh:
        sh["value"] = value
        sh["n"] = 42
    with pydbm.shelve.open(path, "r") as sh:
        assert sh["value"] == value
        assert sorted(sh.keys()) == ["n", "value"]
    # The stored bytes are CPython's pickle of the value under the UTF-8 key.
    with pydbm.open(path, "r") as db:
        assert pickle.loads(db[b"n"]) == 42
    with pydbm.shelve.open(path, "w", writeback=True) as sh:
        sh["value"]["list"].append(3)
    with pydbm.shelve.open(path, "r") as sh:
        assert sh["value"]["list"] == [1, 2.5, None, 3]


def test_sqlite3_coerces_int_keys_and_values(tmp_path):
    if "dbm.sqlite3" not in IMPLEMENTED:
        pytest.skip("SKIPPED: dbm.sqlite3 not implemented in this build")
    import pydbm.sqlite3

    with pydbm.sqlite3.open(str(tmp_path / "s"), "c") as db:
        db[1] = 2
        assert db[b"1"] == b"2"
        db[b"1"] = b"x"
        assert len(db) == 1  # python-formats spec §5: db[1] and db[b"1"] are one key


@pytest.mark.parametrize("name", module_param())
@pytest.mark.parametrize("durability", ["process", "full", "none"])
def test_durability_levels_store_the_same_records(tmp_path, name, durability):
    mod = pymod(name)
    path = base(tmp_path, name)
    with mod.open(path, "c", durability=durability) as db:
        for i in range(300):
            db[b"k%d" % i] = b"v" * i
    with mod.open(path, "r") as db:
        assert len(db) == 300 and db[b"k299"] == b"v" * 299
    with pytest.raises(ValueError):
        mod.open(path, "r", durability="sometimes")


def _open_functions():
    """Every ``open`` the package documents ``durability=`` on, by name."""
    funcs = {"pydbm.open": pydbm.open, "pydbm.shelve.open": pydbm.shelve.open}
    for m in ALL:
        if m in IMPLEMENTED:
            funcs["pydbm.%s.open" % m.split(".")[1]] = pymod(m).open
    return funcs


@pytest.mark.parametrize("func", sorted(_open_functions()))
def test_open_docstrings_document_durability(func):
    """Each ``open`` says what each durability level guarantees and which is the default
    (issue 17), and its signature takes ``durability`` as a keyword defaulting to it."""
    import inspect

    f = _open_functions()[func]
    doc = inspect.getdoc(f) or ""
    assert "durability" in doc, func
    for level in ('"none"', '"process"', '"full"'):
        assert level in doc, (func, level)
    assert 'default ``"process"``' in doc, func
    for guarantee in ("killed process", "power loss", "ValueError"):
        assert guarantee in doc, (func, guarantee)
    param = inspect.signature(f).parameters["durability"]
    assert param.kind is inspect.Parameter.KEYWORD_ONLY and param.default == "process", func


@pytest.mark.parametrize("durability", ["process", "full", "none"])
def test_open_and_shelve_accept_durability(tmp_path, durability):
    path = str(tmp_path / "any")
    with pydbm.open(path, "c", durability=durability) as db:
        db[b"k"] = b"v"
    with pydbm.open(path, "r", durability=durability) as db:
        assert db[b"k"] == b"v"
    shelf = str(tmp_path / "shelf")
    with pydbm.shelve.open(shelf, "c", durability=durability) as sh:
        sh["n"] = [1, 2]
    with pydbm.shelve.open(shelf, "r") as sh:
        assert sh["n"] == [1, 2]
    with pytest.raises(ValueError):
        pydbm.open(path, "r", durability="sometimes")
    with pytest.raises(ValueError):
        pydbm.shelve.open(shelf, "r", durability="sometimes")


THREADS_SCRIPT = r"""
import sys, threading, importlib
mod = importlib.import_module(sys.argv[1])
db = mod.open(sys.argv[2], "c")
def work(t):
    for i in range(300):
        db[b"t%d-%d" % (t, i)] = b"x" * (i % 50)
        db.get(b"t%d-%d" % ((t + 1) % 4, i))
        len(db)
threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
for th in threads: th.start()
for th in threads: th.join()
n = len(db)
db.close()
print(n)
"""


@pytest.mark.parametrize("name", module_param())
def test_threads_share_one_handle_without_deadlock(tmp_path, name):
    # Each call waits for the handle's mutex with the GIL released; a run that deadlocks
    # is killed by the timeout and fails.
    import subprocess
    import sys

    p = subprocess.run(
        [sys.executable, "-c", THREADS_SCRIPT, "pydbm." + name.split(".")[1], base(tmp_path, name)],
        capture_output=True, text=True, timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "1200"


@pytest.mark.parametrize("name", module_param())
def test_clear(tmp_path, name):
    """clear() (CPython 3.13) empties the database and persists; on a reader it fails with
    the module's error (gdbm: 3.13's fixed "cannot delete item from database")."""
    mod = pymod(name)
    p = base(tmp_path, name)
    with mod.open(p, "c") as db:
        for i in range(300):
            db[b"k%d" % i] = b"v" * (i % 50)
        db.clear()
        assert len(db) == 0 and db.keys() == []
        db[b"again"] = b"1"
    with mod.open(p, "r") as db:
        assert db.keys() == [b"again"]
        with pytest.raises(mod.error) as e:
            db.clear()
        if name == "dbm.gnu":
            assert str(e.value) == "cannot delete item from database"
