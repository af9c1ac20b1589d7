# SPDX-License-Identifier: Apache-2.0
"""Seeds of the held-samples file (lwm2m/client/sfq.h), written from the
format's description alone (an independent writer): valid files with every
value type, GONE ranges, a torn tail, a wrong CRC, another name, a future
version. Run: /usr/bin/python3 gen_sfq.py corpus/sfq"""
import os
import struct
import sys
import zlib


def header(name=b"ep0", version=1):
    h = b"FGSQ" + bytes([version, 0]) + struct.pack(">H", len(name))
    return h + struct.pack(">I", zlib.crc32(h + name)) + name


def record(kind, payload):
    body = bytes([kind]) + struct.pack(">I", len(payload)) + payload
    return body + struct.pack(">I", zlib.crc32(body))


def sample(seq, ms, path, typ, value):
    ids = b"".join(struct.pack(">H", i) for i in path)
    return record(1, struct.pack(">QqB", seq, ms, len(path)) + ids + bytes([typ]) + value)


def gone(first, last, why=1):
    return record(2, struct.pack(">QQB", first, last, why))


T = 1700000000000
P = (3303, 0, 5700)
FLOAT, INT, UINT, BOOL, STR, OPAQUE, TIME, OBJLNK, CORELNK = 4, 2, 3, 5, 1, 6, 7, 8, 9
seeds = {
    "empty": header(),
    "floats": header() + b"".join(sample(i, T + 200 * i, P, FLOAT, struct.pack(">d", 20 + i / 10))
                                  for i in range(8)),
    "types": header() + sample(1, T, (3, 0, 13), TIME, struct.pack(">q", 1700000000))
    + sample(2, T + 1, (3303, 0, 5701), STR, b"Cel")
    + sample(3, T + 2, (3, 0, 11, 0), INT, struct.pack(">q", -16))
    + sample(4, T + 3, (3, 0, 9), UINT, struct.pack(">Q", 2 ** 63 + 5))
    + sample(5, T + 4, (3342, 0, 5500), BOOL, b"\x01")
    + sample(6, T + 5, (3, 0, 6, 1), OPAQUE, b"\x00\xff\x10")
    + sample(7, T + 6, (3203, 0, 1), OBJLNK, struct.pack(">HH", 3303, 0))
    + sample(8, T + 7, (3, 0, 22), CORELNK, b"</3303/0>"),
    "gone": header() + b"".join(sample(i, T + i, P, FLOAT, struct.pack(">d", i)) for i in range(10))
    + gone(0, 3) + gone(5, 5, 2) + gone(2, 6),
    "torn": header() + sample(1, T, P, FLOAT, struct.pack(">d", 1.5)) + sample(2, T + 1, P, FLOAT,
                                                                               struct.pack(">d", 2.5))[:-3],
    "badcrc": header() + sample(1, T, P, FLOAT, struct.pack(">d", 1.5))[:-1] + b"\x00",
    "othername": header(b"ep1") + sample(1, T, P, FLOAT, struct.pack(">d", 1.5)),
    "version2": header(version=2) + sample(1, T, P, FLOAT, struct.pack(">d", 1.5)),
    "dupseq": header() + sample(1, T, P, FLOAT, struct.pack(">d", 1)) + sample(1, T, P, FLOAT,
                                                                               struct.pack(">d", 2)),
    "nan": header() + sample(1, T, P, FLOAT, struct.pack(">d", float("nan"))),
    "badpath": header() + sample(1, T, (3303, 0), FLOAT, struct.pack(">d", 1)),
}
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "sfq")
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
