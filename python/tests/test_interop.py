"""Interop with the real references: files pydbm writes are the files Debian's CPython
writes (libgdbm 1.23 for dbm.gnu, Berkeley DB 5.3 for dbm.ndbm, Lib/dbm/dumb.py), byte
for byte, and each side reads the other's files.

The package runs under the interpreter running pytest (in CI: pyenv's CPython built
without _gdbm/_dbm, the issue's acceptance scenario); the reference is
/usr/bin/python3 (override with PYDBM_REFERENCE_PYTHON). A missing reference prints
"SKIPPED: ... not available" and fails instead under CI=true.

dbm.ndbm: libdb is not reproducible (ndbm spec §4: a per-run uid in the meta page and
uninitialised memory in dead areas), so two libdb runs differ; the files are compared on
their live bytes (pydbm._pydbm.ndbm_live_diff, ndbm spec §5: everything but the uid and
dead areas) and must have the same size.

dbm.dumb: pydbm writes CPython 3.13's algorithm and the live reference is 3.11. The
.dat and .dir bytes are the same in both versions (python-formats spec §3.4); .bak
differs (3.13's ``_modified`` reset), so .bak is not compared here — the dumb crate's
own fixtures made by 3.13 cover it.
"""

import filecmp
import json
import os
import random
import subprocess
import sys

import pytest

from conftest import IMPLEMENTED, missing_reference, python313

HERE = os.path.dirname(os.path.abspath(__file__))
OPS = os.path.join(HERE, "interop_ops.py")

# module -> (files making up a database named NAME, supports reorganize in 3.11)
FORMATS = {
    "dbm.gnu": (["{}"], True),
    "dbm.ndbm": (["{}.db"], False),
    "dbm.dumb": (["{}.dat", "{}.dir"], False),
}


def scripts(name):
    """Deterministic operation scripts: small, splitting, large values, deletes, reopen."""
    reorg = FORMATS[name][1]
    out = []
    for seed in range(6):
        r = random.Random(seed)
        ops = [["open", "n"]]
        live = []
        nkeys = [10, 200, 600, 50, 1500, 300][seed]
        for i in range(nkeys):
            c = r.random()
            if c < 0.65 or not live:
                k = ("k%d-%s" % (r.randrange(nkeys), "x" * r.randrange(12))).encode()
                vlen = r.choice([0, 1, 7, 60, 300, 1000, 5000]) if seed != 4 else r.randrange(40)
                if name == "dbm.ndbm" and vlen == 0:
                    # libdb's ndbm reports empty values as missing, depending on the
                    # handle's history (ndbm spec §1); pydbm returns b'' (docs/python.md).
                    vlen = 2
                v = bytes(r.randrange(256) for _ in range(min(vlen, 64))) * (vlen // 64 + 1)
                ops.append(["set", k.hex(), v[:vlen].hex()])
                live.append(k)
            elif c < 0.85:
                k = r.choice(live)
                ops.append(["del", k.hex()])
                live = [x for x in live if x != k]
            elif c < 0.95:
                ops.append(["get", r.choice(live).hex()])
            elif c < 0.97:
                if name != "dbm.ndbm":  # _dbm objects have no sync()
                    ops.append(["sync"])
            else:
                ops += [["close"], ["open", "w"]]
        ops.append(["keys"])
        if name == "dbm.gnu":
            ops.append(["firstkey_walk"])
        if reorg and seed % 2:
            ops.append(["reorganize"])
            ops.append(["keys"])
        if seed in (2, 5):
            # 3.13's clear() (gdbm/ndbm: delete firstkey until empty), then reuse the space
            ops += [["clear"], ["keys"]]
            for i in range(20):
                ops.append(["set", ("after-clear-%d" % i).encode().hex(), ("v%d" % i * 30).encode().hex()])
            ops.append(["keys"])
        ops.append(["close"])
        out.append(ops)
    return out


def run(python, module, path, script_file):
    p = subprocess.run(
        [python, OPS, module, path, script_file], capture_output=True, text=True, timeout=300
    )
    assert p.returncode == 0, "%s %s failed:\n%s" % (python, module, p.stderr)
    return json.loads(p.stdout)


def reference_has(python, module):
    p = subprocess.run([python, "-c", "import " + module], capture_output=True)
    return p.returncode == 0


@pytest.mark.parametrize("name", ["dbm.gnu", "dbm.ndbm", "dbm.dumb"])
def test_same_bytes_as_reference(tmp_path, reference_python, name):
    if name not in IMPLEMENTED:
        pytest.skip("SKIPPED: %s not implemented in this build" % name)
    if not reference_has(reference_python, name):
        missing_reference("%s in %s" % (name, reference_python))
    ours = "pydbm." + name.split(".")[1]
    for i, ops in enumerate(scripts(name)):
        script_file = str(tmp_path / ("ops%d.json" % i))
        with open(script_file, "w") as f:
            json.dump(ops, f)
        ref_path = str(tmp_path / ("ref%d" % i))
        our_path = str(tmp_path / ("ours%d" % i))
        ref_out = run(reference_python, name, ref_path, script_file)
        our_out = run(sys.executable, ours, our_path, script_file)
        assert our_out == ref_out, "script %d: reads differ" % i
        for pattern in FORMATS[name][0]:
            a, b = pattern.format(ref_path), pattern.format(our_path)
            assert os.path.getsize(a) == os.path.getsize(b), "script %d: %s size" % (i, pattern)
            if name == "dbm.ndbm":
                import pydbm._pydbm as native

                with open(a, "rb") as fa, open(b, "rb") as fb:
                    diff = native.ndbm_live_diff(fa.read(), fb.read())
                assert diff is None, "script %d: live bytes differ: %s" % (i, diff)
            else:
                assert filecmp.cmp(a, b, shallow=False), "script %d: %s bytes differ (cmp)" % (i, pattern)
        # Each side reads the other's file.
        ref_reads_ours = run_dump(reference_python, name, our_path)
        ours_reads_ref = run_dump(sys.executable, ours, ref_path)
        assert ref_reads_ours == ours_reads_ref


def run_dump(python, module, path):
    p = subprocess.run([python, OPS, module, path, "--dump"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_acceptance_scenario_interpreter_lacks_gdbm():
    """Documents the scenario: when the running interpreter has no _gdbm, pydbm.gnu still
    opens gdbm files (test_same_bytes_as_reference proves they are libgdbm's bytes)."""
    import importlib.util

    if importlib.util.find_spec("_gdbm") is not None:
        pytest.skip("SKIPPED: this interpreter has _gdbm; the scenario needs one without")
    if "dbm.gnu" not in IMPLEMENTED:
        pytest.skip("SKIPPED: dbm.gnu not implemented in this build")
    import pydbm.gnu

    assert pydbm.gnu.open_flags == "rwcnfsu"


def corpus_dir():
    """The whichdb corpus committed in the repository (formats/tests/fixtures/whichdb/corpus:
    copies of shared/corpus files made by libgdbm 1.23, Berkeley DB 5.3 and CPython), or
    PYDBM_CORPUS."""
    env = os.environ.get("PYDBM_CORPUS")
    if env:
        return env
    repo = os.path.dirname(os.path.dirname(HERE))
    return os.path.join(repo, "formats", "tests", "fixtures", "whichdb", "corpus")


def test_whichdb_answers_as_the_reference_on_the_corpus(tmp_path, reference_python):
    """pydbm.whichdb's CPython 3.11 dialect gives /usr/bin/python3's dbm.whichdb answer for
    every database name in the corpus (gdbm, numsync gdbm, ndbm .db and .pag/.dir, dumb,
    SQLite, invalid files); the default dialect differs only where documented."""
    import pydbm._pydbm as native

    corpus = corpus_dir()
    names = set()
    for root, _dirs, files in os.walk(corpus):
        for f in files:
            stem, ext = os.path.splitext(f)
            names.add(os.path.join(root, f))
            if ext in (".db", ".pag", ".dir", ".dat", ".bak"):
                names.add(os.path.join(root, stem))
    names = sorted(names)
    listing = tmp_path / "names.json"
    listing.write_text(json.dumps(names))
    code = "import dbm, json, sys; print(json.dumps([dbm.whichdb(n) for n in json.load(open(sys.argv[1]))]))"
    p = subprocess.run([reference_python, "-c", code, str(listing)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    reference = json.loads(p.stdout)
    assert len(names) > 20
    for name, want in zip(names, reference):
        assert native.whichdb(name, "cpython3.11") == want, name
        ours = native.whichdb(name)
        if ours != want:
            # The allowed differences: 3.13 names SQLite files (the default dialect is
            # 3.13's, the live reference is 3.11), and gdbm layouts CPython cannot name.
            assert (want, ours) in (("", "dbm.sqlite3"), ("", "dbm.gnu")), name
            assert ours == native.whichdb(name, "cpython3.13") or ours == "dbm.gnu", name


def test_gdbm_locks_exclude_the_reference_both_ways(tmp_path, reference_python):
    """A writer in Debian's Python (libgdbm's flock) keeps pydbm.gnu out, and a pydbm.gnu
    writer keeps libgdbm out, as two libgdbm processes exclude each other."""
    if "dbm.gnu" not in IMPLEMENTED:
        pytest.skip("SKIPPED: dbm.gnu not implemented in this build")
    if not reference_has(reference_python, "dbm.gnu"):
        missing_reference("dbm.gnu in %s" % reference_python)
    import errno

    import pydbm.gnu

    path = str(tmp_path / "locked.gdbm")
    with pydbm.gnu.open(path, "c") as db:
        db[b"k"] = b"v"
    holder = subprocess.Popen(
        [reference_python, "-c",
         "import dbm.gnu, sys; db = dbm.gnu.open(sys.argv[1], 'w'); print('held', flush=True); sys.stdin.read(); db.close()",
         path],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(pydbm.gnu.error) as exc:
            pydbm.gnu.open(path, "w")
        assert exc.value.errno == errno.EAGAIN
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    with pydbm.gnu.open(path, "w") as db:
        probe = subprocess.run(
            [reference_python, "-c",
             "import dbm.gnu, sys\ntry:\n  dbm.gnu.open(sys.argv[1], 'w')\nexcept dbm.gnu.error as e:\n  print('refused', e.errno)",
             path],
            capture_output=True, text=True, timeout=30,
        )
        assert probe.stdout.split()[0] == "refused", probe.stdout + probe.stderr
        assert db[b"k"] == b"v"


PYTHON313 = python313() or "python3.13 (set PYDBM_PYTHON313)"

# Stores, reads, deletes and tests membership of awkward keys/values through MODULE (argv[1]:
# the stdlib dbm.sqlite3 of CPython 3.13, or pydbm.sqlite3) in a fresh file (argv[2]);
# prints what happened as JSON: each result, or the exception's type name and message.
SQLITE_BINDING_PROBE = r"""
import datetime, importlib, json, sqlite3, sys
mod = importlib.import_module(sys.argv[1])
class Point:
    def __repr__(self): return "Point"
sqlite3.register_adapter(Point, lambda p: "1;2")
class Conforms:
    def __repr__(self): return "Conforms"
    def __conform__(self, proto): return 7.25 if proto is sqlite3.PrepareProtocol else None
class ConformsBadly:
    def __repr__(self): return "ConformsBadly"
    def __conform__(self, proto): raise TypeError("no")
values = [datetime.date(2020, 1, 2), datetime.datetime(2020, 1, 2, 3, 4, 5), Point(),
          Conforms(), ConformsBadly(), 1.5, 0.1 + 0.2, 1e15, 1234567890123456.0, -0.0, 2.5e-310, 1e-5, -1.5e300,
          float("inf"), float("-inf"), float("nan"), None, 42, -7, True, 2**70, "str",
          "\udcff", b"bytes", bytearray(b"ba"), memoryview(b"mv"), [1], (1,), 1j]
def attempt(f):
    try:
        r = f()
        return ["ok", r.hex() if isinstance(r, bytes) else r]
    except Exception as e:
        return [type(e).__name__, str(e)]
out = []
db = mod.open(sys.argv[2], "n")
for v in values:
    out.append([type(v).__name__ if isinstance(v, memoryview) else repr(v)[:40],
                attempt(lambda: db.__setitem__(b"k", v) or db[b"k"]),
                attempt(lambda: db.__setitem__(v, b"value") or db[v]),
                attempt(lambda: v in db),
                attempt(lambda: db.get(v, "default")),
                attempt(lambda: db.__delitem__(v))])
out.append(sorted(k.hex() for k in db.keys()))
db.close()
print(json.dumps(out))
"""


def test_sqlite3_binds_like_cpython_3_13(tmp_path):
    """dbm.sqlite3 keys/values of every type CPython 3.13's module accepts or rejects:
    floats stored as SQLite's text, None/NaN as NULL (store -> error, lookup -> KeyError),
    unsupported types -> error("Error binding parameter N ..."), sqlite3's adapters (the
    default date/datetime ones, a registered one, __conform__) applied first. Live against 3.13's
    stdlib dbm.sqlite3 (which exists only in 3.13: the 3.11 reference cannot say)."""
    if "dbm.sqlite3" not in IMPLEMENTED:
        pytest.skip("SKIPPED: dbm.sqlite3 not implemented in this build")
    if not (python313() and reference_has(PYTHON313, "dbm.sqlite3")):
        missing_reference("CPython 3.13 with dbm.sqlite3 (%s)" % PYTHON313)

    def probe(python, module, name):
        p = subprocess.run([python, "-c", SQLITE_BINDING_PROBE, module, str(tmp_path / name)],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    ref = probe(PYTHON313, "dbm.sqlite3", "ref.sqlite3")
    ours = probe(sys.executable, "pydbm.sqlite3", "ours.sqlite3")
    for r, o in zip(ref, ours):
        assert o == r
    assert len(ref) == len(ours)
