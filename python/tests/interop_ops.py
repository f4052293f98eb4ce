"""Apply one operation script to a dbm database and print what was read, as JSON.

Run by test_interop.py under two interpreters: the reference (Debian's /usr/bin/python3,
module ``dbm.gnu``/``dbm.ndbm``/``dbm.dumb``) and the package's (``pydbm.gnu``...), so
the files both leave behind can be compared byte for byte.

usage: python interop_ops.py MODULE PATH OPS.json        (ops: list of lists)
       python interop_ops.py MODULE PATH --dump           (print every record)

Ops: ["open", flag] | ["set", hexkey, hexval] | ["del", hexkey] | ["get", hexkey] |
["keys"] | ["sync"] | ["reorganize"] | ["close"] | ["firstkey_walk"] | ["clear"].

``clear`` is ``db.clear()`` for pydbm's modules (CPython 3.13's semantics); the 3.11
reference modules have no ``clear`` on gdbm/ndbm objects, so there it runs the loop
3.13's ``_gdbm``/``_dbm`` ``clear`` run in C: delete the first key until none is left
(gdbm: ``firstkey()``; ndbm: ``keys()[0]``, which is ``dbm_firstkey``).
"""

import importlib
import json
import sys


def main():
    modname, path, script = sys.argv[1], sys.argv[2], sys.argv[3]
    mod = importlib.import_module(modname)
    if script == "--dump":
        with mod.open(path, "r") as db:
            print(json.dumps(sorted([k.hex(), db[k].hex()] for k in db.keys())))
        return
    with open(script) as f:
        ops = json.load(f)
    out = []
    db = None
    for op in ops:
        kind = op[0]
        if kind == "open":
            db = mod.open(path, op[1])
        elif kind == "set":
            db[bytes.fromhex(op[1])] = bytes.fromhex(op[2])
        elif kind == "del":
            try:
                del db[bytes.fromhex(op[1])]
                out.append(True)
            except KeyError:
                out.append(False)
        elif kind == "get":
            v = db.get(bytes.fromhex(op[1]))
            out.append(None if v is None else v.hex())
        elif kind == "keys":
            out.append([k.hex() for k in db.keys()])
        elif kind == "firstkey_walk":
            keys = []
            k = db.firstkey()
            while k is not None:
                keys.append(k.hex())
                k = db.nextkey(k)
            out.append(keys)
        elif kind == "clear":
            if modname.startswith("pydbm.") or modname == "dbm.dumb":
                db.clear()
            elif modname == "dbm.gnu":
                k = db.firstkey()
                while k is not None:
                    del db[k]
                    k = db.firstkey()
            else:
                keys = db.keys()
                while keys:
                    del db[keys[0]]
                    keys = db.keys()
        elif kind == "sync":
            db.sync()
        elif kind == "reorganize":
            db.reorganize()
        elif kind == "close":
            db.close()
            db = None
        else:
            raise SystemExit("unknown op %r" % (op,))
    if db is not None:
        db.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
