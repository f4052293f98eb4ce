#!/usr/bin/python3
"""What a killed pydbm writer leaves for the other libraries (docs/recovery.md).

For each format: a database of 200 keys is committed with `pydbm apply`; a second
`pydbm apply` runs 3000 sets of new keys and is killed with SIGKILL after a random delay;
then, WITHOUT any pydbm command touching the files, the reference library opens the file
read-only and reads every key it lists (dbm.gnu = libgdbm, dbm.ndbm = Berkeley DB 5.3,
dbm.dumb = CPython), and for gnu/ndbm the reference verifier runs (`gdbmtool -r FILE count`,
`db5.3_verify`). A kill "leaves a torn file" when the reference fails to open or list it,
a listed key cannot be fetched, or the verifier fails. Also counted: kills that left a hot
journal (pydbm rolls it back on its next writable open or `pydbm recover`).

Usage: killed_writer_leaves.py PYDBM_BINARY [KILLS_PER_FORMAT] [SEED]
"""
import os, random, signal, subprocess, sys, tempfile, time

pydbm = sys.argv[1]
kills = int(sys.argv[2]) if len(sys.argv) > 2 else 20
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)

def script(prefix, n):
    return "".join("set %s %s\n" % ((prefix + "%05d" % i).encode().hex(), ("v%d" % i * 20).encode().hex()) for i in range(n)).encode()

READ = r"""
import sys, importlib
m = importlib.import_module(sys.argv[1])
d = m.open(sys.argv[2], 'r')
ks = list(d.keys())
bad = sum(1 for k in ks if d.get(k) is None)
d.close()
print(len(ks), bad)
"""

def journal_hot(primary):
    j = primary + "-journal"
    try:
        with open(j, "rb") as f:
            return f.read(8) == b"pydbmJNL"
    except FileNotFoundError:
        return False

for kind, module in [("gnu", "dbm.gnu"), ("ndbm", "dbm.ndbm"), ("dumb", "dbm.dumb")]:
    torn = hot = 0
    details = []
    for k in range(kills):
        d = tempfile.mkdtemp()
        name = os.path.join(d, "db")
        primary = {"gnu": name, "ndbm": name + ".db", "dumb": name + ".dat"}[kind]
        subprocess.run([pydbm, "apply", "--type", kind, "--flag", "n", name], input=script("base", 200), check=True)
        p = subprocess.Popen([pydbm, "apply", "--type", kind, "--flag", "w", name], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        data = script("new", 3000)
        p.stdin.write(data); p.stdin.close()
        time.sleep(rng.uniform(0.005, 0.12))
        p.send_signal(signal.SIGKILL); p.wait()
        if journal_hot(primary):
            hot += 1
        r = subprocess.run(["/usr/bin/python3", "-c", READ, module, name], capture_output=True, text=True)
        problem = None
        if r.returncode != 0:
            problem = "reference failed: " + (r.stderr.strip().splitlines() or ["?"])[-1]
        else:
            n, bad = map(int, r.stdout.split())
            if bad:
                problem = "%d of %d listed keys not fetchable" % (bad, n)
        if problem is None and kind == "gnu":
            v = subprocess.run(["gdbmtool", "-r", name, "count"], capture_output=True, text=True)
            if v.returncode != 0 or "rror" in v.stderr or "alformed" in v.stderr + v.stdout:
                problem = "gdbmtool: " + (v.stderr + v.stdout).strip()[:120]
        if problem is None and kind == "ndbm":
            v = subprocess.run(["db5.3_verify", "-q", primary], capture_output=True, text=True)
            if v.returncode != 0:
                problem = "db5.3_verify: " + (v.stderr + v.stdout).strip()[:120]
        if problem:
            torn += 1
            details.append(problem)
    print("%s: %d kills, %d left a hot journal, %d left a file the reference reads torn" % (kind, kills, hot, torn))
    for line in details[:5]:
        print("   ", line)
