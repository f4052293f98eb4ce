"""The Python package case of issue 17: one interpreter, N sets + N gets of 100-byte values.

Every side runs in this one process, in alternated rounds (default 3; odd rounds in reverse
order), each on a new file: open, N sets of 16-byte keys, N gets in a scattered order, close.
CPU time is ``time.process_time()`` (user + system of this process) around the whole side.
The table gives each side's median CPU seconds and the median of its per-round ratio to
Debian's ``dbm.gnu`` (libgdbm) in that same round.

Sides: ``pydbm.gnu`` at its default durability (``process``) and at ``durability='none'``,
``dbm.gnu``; ``pydbm.ndbm`` (default, none) and ``dbm.ndbm`` (libdb 5.3); ``pydbm.dumb``
(default, none) and ``dbm.dumb``; ``lmdb`` (``sync=False``, one write transaction per set
and one read transaction per get: like pydbm's default, it survives a killed process) and
``semidbm`` (pure Python, append-only). A side whose module does not import is reported as
SKIPPED.

The interpreter must import pydbm's abi3 wheel, ``dbm.gnu`` and ``dbm.ndbm``: Debian's
``/usr/bin/python3`` (python3-gdbm) in a venv that sees the system site packages::

    apt-get install -y python3-venv python3-gdbm
    /usr/bin/python3 -m venv --system-site-packages /tmp/pydbm-bench
    /tmp/pydbm-bench/bin/python -m pip install "maturin>=1.5,<2" lmdb semidbm
    cd python && /tmp/pydbm-bench/bin/maturin build --release \\
        --interpreter /tmp/pydbm-bench/bin/python -o /tmp/pydbm-bench/wheels
    /tmp/pydbm-bench/bin/python -m pip install --force-reinstall /tmp/pydbm-bench/wheels/pydbm-*.whl
    cd / && /tmp/pydbm-bench/bin/python /path/to/pydbm/python/bench.py [N] [ROUNDS]

(run it from outside ``python/`` so that ``import pydbm`` is the installed wheel.)
"""

import importlib
import os
import shutil
import sys
import tempfile
import time

VALUE = b"v" * 100


def keys_and_order(n):
    """16-byte keys (the hex of i * 0x9E3779B97F4A7C15, as the Rust benches use) and a
    scattered get order (j * 1000003 mod n)."""
    keys = [b"%016x" % ((i * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) for i in range(n)]
    order = [keys[(j * 1000003) % n] for j in range(n)]
    return keys, order


def dbm_side(module, **kwargs):
    """A side that runs the workload through a dbm-style module's ``open(path, 'n')``."""
    mod = importlib.import_module(module)

    def run(path, keys, order):
        db = mod.open(path, "n", **kwargs)
        for k in keys:
            db[k] = VALUE
        for k in order:
            if len(db[k]) != 100:
                raise AssertionError("%s returned a wrong value" % module)
        db.close()

    return run


def lmdb_side():
    """lmdb with sync=False, one transaction per operation."""
    lmdb = importlib.import_module("lmdb")

    def run(path, keys, order):
        env = lmdb.open(path, map_size=1 << 30, sync=False)
        for k in keys:
            with env.begin(write=True) as txn:
                txn.put(k, VALUE)
        for k in order:
            with env.begin() as txn:
                if len(txn.get(k)) != 100:
                    raise AssertionError("lmdb returned a wrong value")
        env.close()

    return run


def semidbm_side():
    """semidbm (pure Python, append-only)."""
    semidbm = importlib.import_module("semidbm")

    def run(path, keys, order):
        db = semidbm.open(path, "n")
        for k in keys:
            db[k] = VALUE
        for k in order:
            if len(db[k]) != 100:
                raise AssertionError("semidbm returned a wrong value")
        db.close()

    return run


SIDES = [
    ("dbm.gnu (libgdbm)", lambda: dbm_side("dbm.gnu")),
    ("pydbm.gnu default (process)", lambda: dbm_side("pydbm.gnu")),
    ("pydbm.gnu durability='none'", lambda: dbm_side("pydbm.gnu", durability="none")),
    ("dbm.ndbm (libdb 5.3)", lambda: dbm_side("dbm.ndbm")),
    ("pydbm.ndbm default (process)", lambda: dbm_side("pydbm.ndbm")),
    ("pydbm.ndbm durability='none'", lambda: dbm_side("pydbm.ndbm", durability="none")),
    ("dbm.dumb", lambda: dbm_side("dbm.dumb")),
    ("pydbm.dumb default (process)", lambda: dbm_side("pydbm.dumb")),
    ("pydbm.dumb durability='none'", lambda: dbm_side("pydbm.dumb", durability="none")),
    ("lmdb (sync=False, txn per op)", lmdb_side),
    ("semidbm", semidbm_side),
]

# Which side each ratio column divides by, and which pydbm side faces which reference.
BASE = "dbm.gnu (libgdbm)"
OWN_REFERENCE = {
    "pydbm.gnu default (process)": "dbm.gnu (libgdbm)",
    "pydbm.gnu durability='none'": "dbm.gnu (libgdbm)",
    "pydbm.ndbm default (process)": "dbm.ndbm (libdb 5.3)",
    "pydbm.ndbm durability='none'": "dbm.ndbm (libdb 5.3)",
    "pydbm.dumb default (process)": "dbm.dumb",
    "pydbm.dumb durability='none'": "dbm.dumb",
}


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def loadavg():
    try:
        return " ".join("%.2f" % x for x in os.getloadavg())
    except OSError:
        return "?"


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    keys, order = keys_and_order(n)
    runners = []
    for label, make in SIDES:
        try:
            runners.append((label, make()))
        except ImportError as e:
            print("SKIPPED %s: %s" % (label, e))
    try:
        import pydbm

        where = os.path.dirname(pydbm.__file__)
    except ImportError:
        where = "(not installed)"

    print(
        "python bench: %s %s, pydbm from %s; %d sets + %d gets of 100-byte values, "
        "%d alternated rounds, process CPU time; load average at start %s"
        % (
            sys.executable,
            sys.version.split()[0],
            where,
            n,
            n,
            rounds,
            loadavg(),
        )
    )
    times = {label: [] for label, _ in runners}
    for r in range(rounds):
        order_of_sides = runners if r % 2 == 0 else list(reversed(runners))
        for label, run in order_of_sides:
            d = tempfile.mkdtemp(prefix="pydbm-bench-")
            try:
                c0 = time.process_time()
                run(os.path.join(d, "db"), keys, order)
                times[label].append(time.process_time() - c0)
            finally:
                shutil.rmtree(d)
        print("round %d done, load average %s" % (r + 1, loadavg()))

    def ratio(a, b):
        if a not in times or b not in times:
            return None
        return median([x / y for x, y in zip(times[a], times[b])])

    print()
    print("%-32s %9s %12s %22s" % ("side", "cpu s", "vs dbm.gnu", "vs own reference"))
    for label, _ in runners:
        base = ratio(label, BASE)
        own = OWN_REFERENCE.get(label)
        own_ratio = ratio(label, own) if own else None
        print(
            "%-32s %9.3f %12s %22s"
            % (
                label,
                median(times[label]),
                "%.3fx" % base if base is not None else "SKIPPED",
                "%.3fx (%s)" % (own_ratio, own.split()[0]) if own_ratio is not None else "",
            )
        )
    print("per-round CPU seconds:")
    for label, _ in runners:
        print("  %-32s %s" % (label, " ".join("%.3f" % t for t in times[label])))


if __name__ == "__main__":
    main()
