#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Interop of our SenML CBOR and LwM2M CBOR codecs with Debian's cbor2.

Both ways:
  - codec_tool encodes a fixed record list; cbor2 decodes it and every
    record is checked field by field: labels, Python types (int, float,
    bool, bytes, str), float widths (half/single/double, read from the raw
    bytes), Time as tag 1, names against bn;
  - cbor2 encodes SenML CBOR and LwM2M CBOR payloads (plus hand-made
    indefinite-length ones); codec_tool decodes them and prints records,
    compared with what the payload means.

Usage: cbor2_interop.py CODEC_TOOL
"""
import datetime
import math
import struct
import subprocess
import sys

import cbor2

TOOL = sys.argv[1]
BN, BT, N, V, VS, VB, T, VD = -2, -3, 0, 2, 3, 4, 6, 8
VALUE_LABELS = {V, VS, VB, VD, "vlo"}

passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def run(*args, stdin=b""):
    p = subprocess.run([TOOL, *args], input=stdin, capture_output=True, check=False)
    if p.returncode != 0:
        raise SystemExit(f"codec_tool {' '.join(args)} failed: {p.stderr.decode()}")
    return p.stdout


def half(v):
    return b"\xf9" + struct.pack(">e", v)


def single(v):
    return b"\xfa" + struct.pack(">f", v)


def double(v):
    return b"\xfb" + struct.pack(">d", v)


# What codec_tool's fixed records are: path -> (SenML label, value, encoding
# the float must have or None, timestamp or None).
FIXED = {
    "/3/0/0": (VS, "Open Mobile Alliance", None, None),
    "/3/0/9": (V, 100, None, None),
    "/3/0/13": (V, 1700000000, None, None),
    "/9999/0/1": (VS, "h\u00e9llo \u20ac", None, None),
    "/9999/0/2": (V, -(2**63), None, None),
    "/9999/0/3": (V, 2**64 - 1, None, None),
    "/9999/0/4": (V, 1.5, half(1.5), None),
    "/9999/0/5": (VB, True, None, None),
    "/9999/0/6": (VD, b"\x00\xff\x00", None, None),
    "/9999/0/8": ("vlo", "3:0", None, None),
    "/9999/0/9": (VS, "</3303/0>", None, None),
    "/9999/0/12/0": (V, -1, None, None),
    "/9999/0/12/1": (V, 1, None, None),
    "/9999/0/14": (V, 2.0, half(2.0), None),
    "/9999/0/24": (V, 100000.0, single(100000.0), None),
    "/9999/0/34": (V, 0.1, double(0.1), None),
    "/9999/0/44": (V, 3.4028234663852886e38, single(3.4028234663852886e38), None),
    "/9999/1/2": (V, 7, None, 1700000000.5),
}


def same_value(got, want):
    if type(got) is not type(want):  # int vs float vs bool matters
        return False
    if isinstance(want, float):
        return struct.pack(">d", got) == struct.pack(">d", want)
    return got == want


def senml_names(pack):
    """(name, record) pairs with bn resolved (RFC 8428 §4.5)."""
    bn = ""
    for rec in pack:
        bn = rec.get(BN, bn)
        yield bn + rec.get(N, ""), rec


def check_senml_encode(base):
    raw = run("encode", "senml", base)
    pack = cbor2.loads(raw)
    want = {p: v for p, v in FIXED.items() if base == "/" or p == base or p.startswith(base + "/")}
    check(f"senml {base}: a pack (array of maps)", isinstance(pack, list) and all(isinstance(r, dict) for r in pack))
    check(f"senml {base}: record count", len(pack) == len(want), f"{len(pack)} != {len(want)}")
    if base == "/":
        check("senml /: no bn at the root", all(BN not in r for r in pack))
    else:
        check(f"senml {base}: bn on the first record only", pack[0].get(BN) == base + "/" and
              all(BN not in r for r in pack[1:]))
    seen = set()
    for name, rec in senml_names(pack):
        tag = f"senml {base} {name}"
        if name not in want:
            check(tag, False, "unexpected name")
            continue
        seen.add(name)
        label, value, enc, time = want[name]
        keys = set(rec) - {BN, N, T}
        check(tag + ": labels", keys == {label}, repr(rec))
        check(tag + ": value and its CBOR type", same_value(rec.get(label), value), repr(rec.get(label)))
        if enc is not None:
            check(tag + ": float width", bytes([label]) + enc in raw, enc.hex())
        if time is None:
            check(tag + ": no t", T not in rec)
        else:
            check(tag + ": t", same_value(rec.get(T), time) and bytes([T]) + double(time) in raw, repr(rec.get(T)))
    check(f"senml {base}: every record present", seen == set(want), repr(set(want) - seen))


def flatten(node, path=()):
    for k, v in node.items():
        p = path + (tuple(k) if isinstance(k, tuple) else (k,))
        if isinstance(v, dict):
            yield from flatten(v, p)
        else:
            yield p, v


def check_lwm2m_encode(base):
    raw = run("encode", "lwm2m", base)
    top = cbor2.loads(raw)
    check(f"lwm2m {base}: a map", isinstance(top, dict))
    got = {"/" + "/".join(map(str, p)): v for p, v in flatten(top)}
    want = {p: v for p, v in FIXED.items() if base == "/" or p == base or p.startswith(base + "/")}
    check(f"lwm2m {base}: paths from the root", set(got) == set(want), repr(set(got) ^ set(want)))
    for path, (label, value, enc, _) in want.items():
        tag = f"lwm2m {base} {path}"
        g = got.get(path)
        if path == "/3/0/13":
            # Time: tag 1 around an integer, which cbor2 reads as a datetime
            check(tag + ": tag 1", isinstance(g, datetime.datetime) and g.timestamp() == value and
                  b"\xc1\x1a" + struct.pack(">I", value) in raw, repr(g))
            continue
        check(tag + ": value and its CBOR type", same_value(g, value), repr(g))
        if enc is not None:
            check(tag + ": float width", enc in raw, enc.hex())


def parse_lines(out):
    recs = []
    for line in out.decode().splitlines():
        path, prefix, typ, value, time = line.split("\t")
        recs.append((path, prefix, typ, value, time))
    return recs


def hexs(s):
    return (s.encode() if isinstance(s, str) else s).hex()


def fl(x):
    return float(x).hex()


def check_decode(fmt, name, base, payload, want):
    out = parse_lines(run("decode", fmt, base, stdin=payload))
    got = [(p, pf, t, v, tm) for p, pf, t, v, tm in out]
    norm = []
    for p, pf, t, v, tm in want:
        norm.append((p, pf, t, v, tm))
    # floats printed with %a: compare numerically
    def key(r):
        p, pf, t, v, tm = r
        if t == "Float":
            v = float.fromhex(v) if not v.startswith(("nan", "-nan", "inf", "-inf")) else v
        if tm != "-":
            tm = float.fromhex(tm)
        return (p, pf, t, v, tm)
    # Records come in payload order; cbor2's canonical mode reorders map
    # keys, so compare as sorted lists.
    g = sorted((key(r) for r in got), key=repr)
    w = sorted((key(r) for r in norm), key=repr)
    check(f"{fmt} decode {name}", g == w, f"\n got {got}\nwant {norm}")


def senml_decode_checks():
    pack = [
        {BN: "/9999/0/", BT: 1000.0, N: "4", V: 21.5, T: 5},
        {N: "2", V: 42},
        {N: "1", VS: "text \u00fc"},
        {N: "5", VB: False},
        {N: "6", VD: b"\x01\x02"},
        {N: "8", "vlo": "65535:0"},
        {N: "9", VS: "</1/0>"},
        {N: "3", V: 2**64 - 1},
        {N: "7", V: 1700000000},
        {N: "14", V: 3},
        {BN: "/3/0/", N: "9", V: 100.0},
    ]
    want = [
        ("/9999/0/4", "-", "Float", fl(21.5), fl(1005)),
        ("/9999/0/2", "-", "Integer", "42", fl(1000)),
        ("/9999/0/1", "-", "String", hexs("text \u00fc"), fl(1000)),
        ("/9999/0/5", "-", "Boolean", "false", fl(1000)),
        ("/9999/0/6", "-", "Opaque", "0102", fl(1000)),
        ("/9999/0/8", "-", "Objlnk", "65535:0", fl(1000)),
        ("/9999/0/9", "-", "Corelnk", hexs("</1/0>"), fl(1000)),
        ("/9999/0/3", "-", "Unsigned", str(2**64 - 1), fl(1000)),
        ("/9999/0/7", "-", "Time", "1700000000", fl(1000)),
        ("/9999/0/14", "-", "Float", fl(3), fl(1000)),
        ("/3/0/9", "-", "Integer", "100", fl(1000)),
    ]
    check_decode("senml", "cbor2 default", "/", cbor2.dumps(pack), want)
    check_decode("senml", "cbor2 canonical", "/", cbor2.dumps(pack, canonical=True), want)
    check_decode("senml", "composite request", "/", cbor2.dumps([{N: "/3/0/0"}, {N: "/1/0"}, {N: "/3303"}]), [
        ("/3/0/0", "-", "None", "-", "-"), ("/1/0", "-", "None", "-", "-"), ("/3303", "-", "None", "-", "-")])
    check_decode("senml", "prefix", "/", cbor2.dumps([{BN: "/dev0/", N: "9999/0/4", V: 1.5}]), [
        ("/9999/0/4", "dev0", "Float", fl(1.5), "-")])
    # indefinite array and map, chunked strings: cbor2 cannot write them
    indef = bytes.fromhex("9f" "bf" "21" "7f" "65" + "/9999".encode().hex() + "63" + "/0/".encode().hex() + "ff"
                          "00" "61" + b"6".hex() + "08" "5f" "4101" "4102" "ff" "ff" "ff")
    check_decode("senml", "indefinite", "/", indef, [("/9999/0/6", "-", "Opaque", "0102", "-")])
    for bad, payload in (("must-understand label", cbor2.dumps([{N: "/3/0/9", V: 1, "x_": 1}])),
                         ("two values", cbor2.dumps([{N: "/3/0/9", V: 1, VS: "1"}])),
                         ("not a pack", cbor2.dumps({N: "/3/0/9", V: 1}))):
        p = subprocess.run([TOOL, "decode", "senml", "/"], input=payload, capture_output=True)
        check(f"senml decode refuses {bad}", p.returncode == 1 and p.stdout == b"", p.stderr.decode())


def lwm2m_decode_checks():
    model = {
        3: {0: {0: "x", 9: 5, 13: cbor2.CBORTag(1, 1700000000)}},
        (9999, 0): {4: 0.5, 6: b"ab", 8: "1:2", 3: 2**64 - 1, 12: {0: -7, 3: 8}},
        9999: {1: {5: True}},
    }
    want = [
        ("/3/0/0", "-", "String", hexs("x"), "-"),
        ("/3/0/9", "-", "Integer", "5", "-"),
        ("/3/0/13", "-", "Time", "1700000000", "-"),
        ("/9999/0/4", "-", "Float", fl(0.5), "-"),
        ("/9999/0/6", "-", "Opaque", hexs(b"ab"), "-"),
        ("/9999/0/8", "-", "Objlnk", "1:2", "-"),
        ("/9999/0/3", "-", "Unsigned", str(2**64 - 1), "-"),
        ("/9999/0/12/0", "-", "Integer", "-7", "-"),
        ("/9999/0/12/3", "-", "Integer", "8", "-"),
        ("/9999/1/5", "-", "Boolean", "true", "-"),
    ]
    check_decode("lwm2m", "cbor2 default", "/", cbor2.dumps(model), want)
    check_decode("lwm2m", "cbor2 canonical", "/", cbor2.dumps(model, canonical=True), want)
    check_decode("lwm2m", "datetime as tag 1", "/3/0/13",
                 cbor2.dumps({(3, 0, 13): datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.timezone.utc)},
                             datetime_as_timestamp=True),
                 [("/3/0/13", "-", "Time", "1700000000", "-")])
    p = subprocess.run([TOOL, "decode", "lwm2m", "/3/0"], input=cbor2.dumps({4: {0: {1: 1}}}), capture_output=True)
    check("lwm2m decode refuses a path outside the request", p.returncode == 1)


check_senml_encode("/")
check_senml_encode("/9999/0")
check_lwm2m_encode("/")
check_lwm2m_encode("/9999/0")
senml_decode_checks()
lwm2m_decode_checks()
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
