"""pydbm.etcd, pydbm.open and pydbm.shelve.open over a real one-member etcd cluster
(/usr/bin/etcd from Debian's etcd-server, on free loopback ports, data in a temp dir).
Skips loudly without etcd or without the wheel's `etcd` feature; fails under CI=true."""

import os
import socket
import subprocess
import sys
import tempfile
import time

import pytest

import pydbm
import pydbm.shelve
from conftest import missing_reference

ETCD = os.environ.get("PYDBM_ETCD_BIN", "/usr/bin/etcd")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    """`HOST:PORT` of a fresh one-member etcd, killed at the end of the module."""
    if not os.path.exists(ETCD):
        missing_reference("etcd server %s (Debian etcd-server)" % ETCD)
    try:
        import pydbm.etcd  # noqa: F401
        pydbm.etcd.open("etcd://127.0.0.1:1/probe")
    except pydbm.etcd.error:
        pass  # the feature is there: nothing listens on port 1
    except ValueError as e:
        missing_reference("the wheel's etcd feature (%s)" % e)
    client, peer = _free_port(), _free_port()
    tmp = tempfile.TemporaryDirectory()
    log = open(os.path.join(tmp.name, "etcd.log"), "wb")
    proc = subprocess.Popen(
        [ETCD, "--name", "m0", "--data-dir", os.path.join(tmp.name, "m0.etcd"),
         "--listen-client-urls", "http://127.0.0.1:%d" % client,
         "--advertise-client-urls", "http://127.0.0.1:%d" % client,
         "--listen-peer-urls", "http://127.0.0.1:%d" % peer,
         "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer,
         "--initial-cluster", "m0=http://127.0.0.1:%d" % peer,
         "--log-level", "warn", "--logger", "zap"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    endpoint = "127.0.0.1:%d" % client
    try:
        deadline = time.time() + 30
        while True:
            try:
                pydbm.open("etcd://%s/probe?timeout=1" % endpoint, "r").close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        yield endpoint
    finally:
        proc.kill()
        proc.wait()
        log.close()
        tmp.cleanup()


def test_open_whichdb_and_the_mapping_protocol(cluster):
    addr = "etcd://%s/py" % cluster
    assert pydbm.whichdb(addr) == "etcd"
    db = pydbm.open(addr, "n")
    db["a"] = "1"
    db[b"b\x00"] = b"\xff"
    assert db[b"a"] == b"1" and db["b\x00"] == b"\xff"
    assert sorted(db.keys()) == [b"a", b"b\x00"]
    assert len(db) == 2 and b"a" in db
    del db["a"]
    with pytest.raises(KeyError):
        db["a"]
    db.sync()
    db.close()
    ro = pydbm.open(addr, "r")
    assert list(ro.keys()) == [b"b\x00"]
    with pytest.raises(pydbm.etcd.error, match="reading only"):
        ro["x"] = "y"
    ro.close()


def test_shelf_written_here_is_read_by_another_process(cluster):
    addr = "etcd://%s/shelf" % cluster
    with pydbm.shelve.open(addr, "n") as sh:
        sh["job"] = {"state": "done", "tries": [1, 2]}
    code = ("import pydbm.shelve, sys\n"
            "with pydbm.shelve.open(sys.argv[1], 'r') as sh:\n"
            "    print(sorted(sh.items()))\n")
    out = subprocess.run([sys.executable, "-c", code, addr], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "[('job', {'state': 'done', 'tries': [1, 2]})]\n"


def test_unreachable_address_raises_the_module_error_naming_it(cluster):
    port = _free_port()
    with pytest.raises(pydbm.etcd.error, match="127.0.0.1:%d.*cannot connect" % port):
        pydbm.open("etcd://127.0.0.1:%d/x?timeout=1" % port, "c")
