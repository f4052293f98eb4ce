#!/usr/bin/env python3
"""Writes the seed journals of the journal_recovery fuzz target (format: engine/src/journal.rs,
docs/journal.md). The target rolls each back over /db/db holding 8 KiB of a pattern."""
import os
import struct
import zlib

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus", "journal_recovery")


def header(page_size, salt, files):
    out = b"pydbmJNL" + struct.pack("<IIQI", 1, page_size, salt, len(files))
    for name, orig in files:
        out += struct.pack("<I", len(name)) + name
        out += struct.pack("<BQ", 0 if orig is None else 1, orig or 0)
    return out + struct.pack("<I", zlib.crc32(out))


def record(salt, file, offset, data):
    head = struct.pack("<IQI", file, offset, len(data))
    crc = zlib.crc32(struct.pack("<Q", salt) + head + data)
    return head + struct.pack("<I", crc) + data


def main():
    salt = 0x0123456789ABCDEF
    h = header(512, salt, [(b"db", 8192), (b"db.dir", None)])
    good = h + record(salt, 0, 0, b"\xaa" * 512) + record(salt, 0, 4096, b"\xbb" * 100)
    seeds = {
        "valid_two_records": good,
        "torn_tail": good[:-40],
        "header_only_new_file": header(4096, 7, [(b"db", 100), (b"other", None)]),
        "bad_header_crc": h[:-1] + bytes([h[-1] ^ 1]),
        "stale_salt_record": h + record(salt ^ 1, 0, 0, b"\xcc" * 16),
    }
    for name, data in seeds.items():
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
