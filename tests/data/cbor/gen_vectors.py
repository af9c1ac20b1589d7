#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the SenML CBOR and LwM2M CBOR golden vectors of tests/data/.

Each vector is stated here as the CBOR data model (Python values) plus the
records the decoder must produce; this script encodes it in preferred
serialization (RFC 8949 §4.1: shortest heads, the narrowest float that is
exact) -- or deliberately otherwise for the decode-only vectors -- checks
that Debian's cbor2 decodes the bytes back to the same data model, and
writes tests/data/<dir>/<name>.hex with the directives read by
tests/unit/codec_vectors.h. Run it after changing a vector:

    /usr/bin/python3 tests/data/cbor/gen_vectors.py
"""
import datetime
import math
import os
import struct

import cbor2

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.dirname(HERE)


class Indef:
    """An indefinite-length array, map (items is a dict) or chunked string."""

    def __init__(self, items):
        self.items = items


class F64:
    """A float forced to double precision (a non-preferred encoding)."""

    def __init__(self, v):
        self.v = v


def head(major, arg):
    if arg < 24:
        return bytes([major << 5 | arg])
    for ai, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
        if arg < 1 << (8 * struct.calcsize(fmt)):
            return bytes([major << 5 | ai]) + struct.pack(fmt, arg)
    raise ValueError(arg)


def enc_float(v):
    for code, fmt in ((0xF9, ">e"), (0xFA, ">f")):
        try:
            b = struct.pack(fmt, v)
        except OverflowError:
            continue
        if struct.unpack(fmt, b)[0] == v or (math.isnan(v)):
            if math.isnan(v) and code != 0xF9:
                continue
            if v == 0 and math.copysign(1, v) != math.copysign(1, struct.unpack(fmt, b)[0]):
                continue
            return bytes([code]) + b
    return b"\xfb" + struct.pack(">d", v)


def enc(x):
    if isinstance(x, bool):
        return b"\xf5" if x else b"\xf4"
    if x is None:
        return b"\xf6"
    if isinstance(x, int):
        return head(0, x) if x >= 0 else head(1, -1 - x)
    if isinstance(x, float):
        return enc_float(x)
    if isinstance(x, F64):
        return b"\xfb" + struct.pack(">d", x.v)
    if isinstance(x, str):
        b = x.encode()
        return head(3, len(b)) + b
    if isinstance(x, bytes):
        return head(2, len(x)) + x
    if isinstance(x, cbor2.CBORTag):
        return head(6, x.tag) + enc(x.value)
    if isinstance(x, list):
        return head(4, len(x)) + b"".join(enc(i) for i in x)
    if isinstance(x, tuple):  # array keys of LwM2M CBOR
        return head(4, len(x)) + b"".join(enc(i) for i in x)
    if isinstance(x, dict):
        return head(5, len(x)) + b"".join(enc(k) + enc(v) for k, v in x.items())
    if isinstance(x, Indef):
        it = x.items
        if isinstance(it, dict):
            return b"\xbf" + b"".join(enc(k) + enc(v) for k, v in it.items()) + b"\xff"
        if isinstance(it, list) and it and all(isinstance(i, str) for i in it):
            return b"\x7f" + b"".join(enc(i) for i in it) + b"\xff"
        if isinstance(it, list) and it and all(isinstance(i, bytes) for i in it):
            return b"\x5f" + b"".join(enc(i) for i in it) + b"\xff"
        return b"\x9f" + b"".join(enc(i) for i in it) + b"\xff"
    raise TypeError(type(x))


def key(x):
    """Map keys: cbor2 gives arrays back as tuples."""
    k = plain(x)
    return tuple(k) if isinstance(k, list) else k


def plain(x):
    """The data model cbor2 gives back for x."""
    if isinstance(x, Indef):
        it = x.items
        if isinstance(it, dict):
            return {key(k): plain(v) for k, v in it.items()}
        if it and all(isinstance(i, str) for i in it):
            return "".join(it)
        if it and all(isinstance(i, bytes) for i in it):
            return b"".join(it)
        return [plain(i) for i in it]
    if isinstance(x, F64):
        return x.v
    if isinstance(x, list):
        return [plain(i) for i in x]
    if isinstance(x, tuple):
        return tuple(plain(i) for i in x)
    if isinstance(x, dict):
        return {key(k): plain(v) for k, v in x.items()}
    if isinstance(x, cbor2.CBORTag):
        return cbor2.CBORTag(x.tag, plain(x.value))
    return x


def same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return len(a) == len(b) and all(same(x, y) and same(a[x], b[y]) for x, y in zip(a, b))
    if isinstance(a, cbor2.CBORTag) and isinstance(b, cbor2.CBORTag):
        return a.tag == b.tag and same(a.value, b.value)
    if isinstance(a, datetime.datetime) and isinstance(b, cbor2.CBORTag):
        # cbor2 turns tag 1 (epoch time) into a datetime
        return b.tag == 1 and not isinstance(b.value, str) and a.timestamp() == b.value
    if isinstance(b, datetime.datetime):
        return same(b, a)
    return type(a) == type(b) and a == b


def hexlines(b, width=16):
    h = b.hex()
    return "\n".join(" ".join(h[i:j][k:k + 2] for k in range(0, j - i, 2))
                     for i, j in ((i, min(i + 2 * width, len(h))) for i in range(0, len(h), 2 * width)))


def write(dirname, name, comment, base, model, recs=(), exact=False, truncate=True, error=None, raw=None):
    data = raw if raw is not None else enc(model)
    if raw is None:
        try:
            back = cbor2.loads(data)
        except (ValueError, cbor2.CBORDecodeError):
            if not error:
                raise
            back = plain(model)  # cbor2 refuses some tag contents we refuse too
        if not same(back, plain(model)):
            raise SystemExit(f"{name}: cbor2 reads {back!r}, want {plain(model)!r}")
    lines = [f"# {c}" for c in comment.strip().split("\n")]
    if model is not None and raw is None:
        lines.append(f"# CBOR: {plain(model)!r}"[:400])
    lines.append(f"# @base {base}")
    if error:
        lines.append(f"# @error {error}")
    if exact:
        lines.append("# @exact")
    if truncate and not error:
        lines.append("# @truncate")
    lines += [f"# @rec {r}" for r in recs]
    lines.append(hexlines(data))
    os.makedirs(os.path.join(DATA, dirname), exist_ok=True)
    with open(os.path.join(DATA, dirname, name + ".hex"), "w") as f:
        f.write("\n".join(lines) + "\n")


# ---- SenML CBOR (RFC 8428 §6; LwM2M TS 1.1 Core §7.4.5) ----------------
BN, BT, BU, BV, BS, BVER = -2, -3, -4, -5, -6, -1
N, U, V, VS, VB, S, T, UT, VD = 0, 1, 2, 3, 4, 5, 6, 7, 8
S_DIR = "senml_cbor"


def senml(name, comment, base, model, recs=(), **kw):
    write(S_DIR, name, comment, base, model, recs, **kw)


senml("read_instance", """
Read /3/0 as SenML CBOR (TS 1.1 Core §7.4.5): bn "/3/0/" on the first
record, names relative to it, the values of the TS's TLV Device example.
Strings as vs (3), numbers as v (2), Time as an integer v.""", "/3/0", [
    {BN: "/3/0/", N: "0", VS: "Open Mobile Alliance"},
    {N: "6/0", V: 1},
    {N: "6/1", V: 5},
    {N: "9", V: 100},
    {N: "13", V: 1367491215},
    {N: "14", VS: "+02:00"},
], [
    "/3/0/0 String Open Mobile Alliance",
    "/3/0/6/0 Integer 1",
    "/3/0/6/1 Integer 5",
    "/3/0/9 Integer 100",
    "/3/0/13 Time 1367491215",
    "/3/0/14 String +02:00",
], exact=True)

senml("read_resource", """
Read /3/0/0: one record whose base name is the whole path (no n).""", "/3/0/0", [
    {BN: "/3/0/0", VS: "Open Mobile Alliance"},
], ["/3/0/0 String Open Mobile Alliance"], exact=True)

senml("read_multiple", """
Read /3/0/7 (a multiple resource): bn "/3/0/7/", one record per instance.""", "/3/0/7", [
    {BN: "/3/0/7/", N: "0", V: 3800},
    {N: "1", V: 5000},
], ["/3/0/7/0 Integer 3800", "/3/0/7/1 Integer 5000"], exact=True)

senml("read_resource_instance", """
Read /3/0/7/1 (a resource instance).""", "/3/0/7/1", [
    {BN: "/3/0/7/1", V: 5000},
], ["/3/0/7/1 Integer 5000"], exact=True)

senml("read_object", """
Read /3 with two instances: bn "/3/", names carry the instance.""", "/3", [
    {BN: "/3/", N: "0/9", V: 100},
    {N: "1/9", V: 50},
], ["/3/0/9 Integer 100", "/3/1/9 Integer 50"], exact=True)

senml("composite_request", """
A Read-Composite request (TS 1.1 Core §6.3.8): names only, no values; the
paths may stop at an object, an instance or a resource. At the root our
encoder writes no bn and absolute names.""", "/", [
    {N: "/1/0"},
    {N: "/3/0/0"},
    {N: "/3303"},
], ["/1/0 None -", "/3/0/0 None -", "/3303 None -"], exact=True)

senml("composite_values", """
A Read-Composite response / Write-Composite request across objects.""", "/", [
    {N: "/3/0/9", V: 100},
    {N: "/9999/0/4", V: 21.5},
], ["/3/0/9 Integer 100", "/9999/0/4 Float 21.5"], exact=True)

senml("types", """
Every data type on test object 9999 (resource rid has type rid % 10): a
String as vs; Integer and Unsigned (UINT64_MAX as major type 0) as v; Float
always as a CBOR float (2.0 stays a float) in the narrowest exact width
(half 1.5 and 2.0, single 100000.0, double 0.1); Boolean as vb; Opaque as
vd bytes; Time as an integer v; Objlnk as the text label "vlo"; Corelnk as
vs.""", "/9999/0", [
    {BN: "/9999/0/", N: "1", VS: "h\u00e9llo"},
    {N: "2", V: -9223372036854775808},
    {N: "3", V: 18446744073709551615},
    {N: "4", V: 1.5},
    {N: "5", VB: True},
    {N: "6", VD: b"\x00\x01\xfe\xff"},
    {N: "7", V: -1},
    {N: "8", "vlo": "3:0"},
    {N: "9", VS: "</3303/0>;rt=\"x\""},
    {N: "14", V: 2.0},
    {N: "24", V: 0.1},
    {N: "34", V: 100000.0},
    {N: "44", V: -0.0},
    {N: "52", V: 9223372036854775807},
], [
    "/9999/0/1 String h\u00e9llo",
    "/9999/0/2 Integer -9223372036854775808",
    "/9999/0/3 Unsigned 18446744073709551615",
    "/9999/0/4 Float 1.5",
    "/9999/0/5 Boolean true",
    "/9999/0/6 Opaque 0001feff",
    "/9999/0/7 Time -1",
    "/9999/0/8 Objlnk 3:0",
    "/9999/0/9 Corelnk </3303/0>;rt=\"x\"",
    "/9999/0/14 Float 2.0",
    "/9999/0/24 Float 0.1",
    "/9999/0/34 Float 100000.0",
    "/9999/0/44 Float -0.0",
    "/9999/0/52 Integer 9223372036854775807",
], exact=True)

senml("float_specials", """
CBOR carries NaN and the infinities, so SenML CBOR values do (SenML JSON
cannot). Half precision: NaN f97e00, Infinity f97c00, -Infinity f9fc00.""", "/9999/0", [
    {BN: "/9999/0/", N: "4", V: float("nan")},
    {N: "14", V: float("inf")},
    {N: "24", V: float("-inf")},
], ["/9999/0/4 Float nan", "/9999/0/14 Float inf", "/9999/0/24 Float -inf"], exact=True)

senml("timestamps", """
A Send (TS 1.1 §6.4.7) of timestamped values: t (6) on each record,
integral times as integers, others as the narrowest exact float; negative
times are relative to now (RFC 8428 §4.5.3).""", "/", [
    {N: "/9999/0/4", T: 1700000000, V: 21.5},
    {N: "/9999/0/4", T: 1700000060.5, V: 22.25},
    {N: "/9999/0/4", T: -5, V: 23.0},
], [
    "/9999/0/4 Float 21.5 @t=1700000000",
    "/9999/0/4 Float 22.25 @t=1700000060.5",
    "/9999/0/4 Float 23 @t=-5",
], exact=True)

senml("prefix", """
Object 25 gateway addressing (TS 1.2): a common prefix goes into bn with
the request path; names stay relative.""", "/", [
    {BN: "/dev0/", N: "3303/0/5700", V: 21.5},
    {N: "9999/0/1", VS: "Cel"},
], ["/dev0/3303/0/5700 Float 21.5", "/dev0/9999/0/1 String Cel"], exact=True)

senml("prefix_mixed", """
Records of two Object 25 devices: no common base name, each name
absolute with its prefix.""", "/", [
    {N: "/dev0/9999/0/2", V: 1},
    {N: "/dev1/9999/0/2", V: 2},
], ["/dev0/9999/0/2 Integer 1", "/dev1/9999/0/2 Integer 2"], exact=True)

senml("base_fields", """
Base fields carried forward (RFC 8428 §4.5): bn and bt apply to every
later record until replaced, bv is added to each v. bu, u and ut are
understood and ignored. Decode only: our encoder writes no bt/bv.""", "/", [
    {BN: "/9999/0/", BT: 1000, BV: 10, BU: "Cel", N: "4", T: 5, V: 1.5},
    {N: "2", V: 2, U: "Cel"},
    {BN: "/9999/1/", BT: 2000.5, N: "12", UT: 60, V: -20},
], [
    "/9999/0/4 Float 11.5 @t=1005",
    "/9999/0/2 Integer 12 @t=1000",
    "/9999/1/12 Integer -10 @t=2000.5",
])

senml("negative_zero_time", """
A time of -0 is time 0: bt -0 alone, and bt -0 plus t -0 (which IEEE adds
up to -0), both decode as +0, so the time reads the same whichever of bt
and t carried it and survives our encoder, which writes no bt.""", "/", [
    {BN: "/9999/0/", BT: -0.0, N: "4", V: 1.5},
    {N: "4", T: -0.0, V: 2.5},
], [
    "/9999/0/4 Float 1.5 @t=0",
    "/9999/0/4 Float 2.5 @t=0",
])

senml("indefinite", """
Indefinite-length items (RFC 8949 §3.2.2) are accepted on decode: the
array, a map, a chunked bn and a chunked vd.""", "/9999/0", Indef([
    Indef({BN: Indef(["/9999", "/0/"]), N: "6", VD: Indef([b"\x01\x02", b"", b"\x03"])}),
    {N: "1", VS: Indef(["ab", "c"])},
]), ["/9999/0/6 Opaque 010203", "/9999/0/1 String abc"])

senml("non_preferred", """
Well-formed but not preferred serialization: a one-byte integer in eight
bytes, a double where a half would do, a label as a 2-byte integer.""", "/9999/0", [
    {N: "/9999/0/2", V: 5},
    {N: "/9999/0/4", V: F64(1.5)},
], ["/9999/0/2 Integer 5", "/9999/0/4 Float 1.5"],
    raw=bytes.fromhex("82"
                      "a2 00 69 2f393939392f302f32 19 0002 1b 0000000000000005"
                      "a2 00 69 2f393939392f302f34 02 fb 3ff8000000000000".replace(" ", "")))

senml("unknown_labels", """
Labels this decoder does not know are ignored (RFC 8428 §4.4): an integer
label 23 and a text label "foo" (no trailing '_'); bver 10 is understood.""", "/9999/0", [
    {BVER: 10, N: "/9999/0/2", 23: [1, {"a": None}], "foo": "bar", V: 7},
], ["/9999/0/2 Integer 7"])

senml("type_conversion", """
Numbers take the resource's type, losslessly: an integer v for a Float
resource is a Float, a float 2.0 for an Integer resource an Integer, an
integer for Unsigned and Time resources those types.""", "/9999/0", [
    {N: "/9999/0/4", V: 3},
    {N: "/9999/0/2", V: 2.0},
    {N: "/9999/0/3", V: 7},
    {N: "/9999/0/7", V: 1700000000.0},
    {N: "/9999/0/5", V: 1},
], [
    "/9999/0/4 Float 3",
    "/9999/0/2 Integer 2",
    "/9999/0/3 Unsigned 7",
    "/9999/0/7 Time 1700000000",
    "/9999/0/5 Boolean true",
])

senml("untyped", """
Without a known type (object 5000 is not in the test table), a CBOR
integer is an Integer (an Unsigned above INT64_MAX), a CBOR float a Float
even when integral, vs a String, vd an Opaque.""", "/", [
    {N: "/5000/0/1", V: 5},
    {N: "/5000/0/2", V: 5.0},
    {N: "/5000/0/3", V: 18446744073709551615},
    {N: "/5000/0/4", VS: "x"},
    {N: "/5000/0/5", VD: b""},
], [
    "/5000/0/1 Integer 5",
    "/5000/0/2 Float 5",
    "/5000/0/3 Unsigned 18446744073709551615",
    "/5000/0/4 String x",
    "/5000/0/5 Opaque",
], exact=True)

senml("empty_pack", """
An empty pack: no records.""", "/3/0", [], [], exact=True)


def senml_err(name, comment, base, model, error="EBADMSG", raw=None):
    write(S_DIR, "err_" + name, comment, base, model, error=error, raw=raw, truncate=False)


senml_err("must_understand", "A label ending in '_' must be understood (RFC 8428 §4.4).", "/3/0",
          [{N: "/3/0/0", "foo_": 1, VS: "x"}])
senml_err("duplicate_label", "The same label twice in one record.", "/3/0", [{}],
          raw=bytes.fromhex("81a2" "00662f332f302f30" "00662f332f302f31"))
senml_err("duplicate_unknown", "An unknown label twice in one record.", "/3/0", None,
          raw=bytes.fromhex("81a3" "00662f332f302f30" "1701" "1702"))
senml_err("duplicate_text_label", "An unknown text label twice, once chunked.", "/3/0", None,
          raw=bytes.fromhex("81a3" "00662f332f302f30" "63666f6f01" "7f62666f616fff02"))
senml_err("two_values", "Two value fields (vs and v) in one record.", "/3/0",
          [{N: "/3/0/0", VS: "x", V: 1}])
senml_err("not_array", "A map where the pack (an array) belongs.", "/3/0", {N: "/3/0/0", VS: "x"})
senml_err("record_not_map", "An array item that is not a map.", "/3/0", [1])
senml_err("trailing", "A byte after the pack.", "/3/0", None,
          raw=enc([{N: "/3/0/0", VS: "x"}]) + b"\x00")
senml_err("empty", "An empty payload is no CBOR at all.", "/3/0", None, raw=b"")
senml_err("relative_name", "A name that is not an absolute path, with no bn.", "/3/0",
          [{N: "3/0/0", VS: "x"}])
senml_err("no_name", "A record with neither bn nor n.", "/3/0", [{VS: "x"}])
senml_err("outside_base", "A Write on /3/0 carrying /4/0/1.", "/3/0", [{N: "/4/0/1", V: 1}])
senml_err("value_on_instance", "A value on an instance path.", "/3", [{N: "/3/0", V: 1}])
senml_err("float_for_integer", "2.5 for an Integer resource.", "/9999/0/2",
          [{N: "/9999/0/2", V: 2.5}], error="ERANGE")
senml_err("negative_unsigned", "-1 for an Unsigned resource.", "/9999/0/3",
          [{N: "/9999/0/3", V: -1}], error="ERANGE")
senml_err("below_int64", "-2^64 does not fit an int64.", "/9999/0/2",
          [{N: "/9999/0/2", V: -18446744073709551616}], error="ERANGE")
senml_err("unsigned_for_integer", "2^63 for an Integer resource.", "/9999/0/2",
          [{N: "/9999/0/2", V: 9223372036854775808}], error="ERANGE")
senml_err("string_for_integer", "A vs for an Integer resource.", "/9999/0/2",
          [{N: "/9999/0/2", VS: "5"}], error="EINVAL")
senml_err("bool_for_string", "A vb for a String resource.", "/9999/0/1",
          [{N: "/9999/0/1", VB: True}], error="EINVAL")
senml_err("bytes_for_string", "A vd for a String resource.", "/9999/0/1",
          [{N: "/9999/0/1", VD: b"x"}], error="EINVAL")
senml_err("vlo_syntax", "vlo must be oid:iid.", "/9999/0/8", [{N: "/9999/0/8", "vlo": "3-0"}])
senml_err("vlo_range", "vlo ids above 65535.", "/9999/0/8", [{N: "/9999/0/8", "vlo": "65536:0"}])
senml_err("name_not_text", "n must be a text string.", "/3/0", [{N: 5, V: 1}])
senml_err("v_not_number", "v must be a number.", "/9999/0/2", [{N: "/9999/0/2", V: "1"}])
senml_err("vb_not_bool", "vb must be true or false.", "/9999/0/5", [{N: "/9999/0/5", VB: None}])
senml_err("vd_not_bytes", "vd must be a byte string.", "/9999/0/6", [{N: "/9999/0/6", VD: "x"}])
senml_err("tagged_value", "A tag around v.", "/9999/0/2", [{N: "/9999/0/2", V: cbor2.CBORTag(1, 5)}])
senml_err("key_bytes", "A byte string as a label.", "/3/0", [{b"\x00": 1}])
senml_err("time_nan", "A NaN time.", "/9999/0/2", [{N: "/9999/0/2", T: float("nan"), V: 1}],
          error="EINVAL")
senml_err("time_overflow", "bt + t overflowing to infinity.", "/9999/0/2",
          [{N: "/9999/0/2", BT: 1.7e308, T: 1.7e308, V: 1}], error="EINVAL")
senml_err("bad_utf8", "A vs that is not UTF-8.", "/9999/0/1", None,
          raw=bytes.fromhex("81a2" "00692f393939392f302f31" "0361ff"))
senml_err("bver_text", "bver must be an integer.", "/3/0", [{BVER: "10", N: "/3/0/0", VS: "x"}])
senml_err("bn_too_long", "A base name no path can be that long.", "/", [{BN: "/" + "a" * 200, V: 1}])

# ---- LwM2M CBOR (TS 1.2 Core §7.4.6) ------------------------------------
L_DIR = "lwm2m_cbor"


def lcbor(name, comment, base, model, recs=(), **kw):
    write(L_DIR, name, comment, base, model, recs, **kw)


lcbor("read_instance", """
Read /3/0 as LwM2M CBOR (TS 1.2 Core §7.4.6): nested maps keyed by path
ids from the root; a multiple resource is a map of its instances; Time is
tag 1 around an integer.""", "/3/0", {3: {0: {
    0: "Open Mobile Alliance",
    6: {0: 1, 1: 5},
    9: 100,
    13: cbor2.CBORTag(1, 1367491215),
    14: "+02:00",
}}}, [
    "/3/0/0 String Open Mobile Alliance",
    "/3/0/6/0 Integer 1",
    "/3/0/6/1 Integer 5",
    "/3/0/9 Integer 100",
    "/3/0/13 Time 1367491215",
    "/3/0/14 String +02:00",
], exact=True)

lcbor("read_resource", """
Read /3/0/0: a chain of single-child levels is written as one array key
[3, 0, 0] (4 bytes instead of 5 for 3: {0: {0: ...}}).""", "/3/0/0",
      {(3, 0, 0): "Open Mobile Alliance"}, ["/3/0/0 String Open Mobile Alliance"], exact=True)

lcbor("read_resource_instance", """
Read /3/0/7/1: a four-id array key.""", "/3/0/7/1",
      {(3, 0, 7, 1): 5000}, ["/3/0/7/1 Integer 5000"], exact=True)

lcbor("read_multiple", """
Read /3/0/7: [3, 0, 7] then a map of the instances.""", "/3/0/7",
      {(3, 0, 7): {0: 3800, 1: 5000}}, ["/3/0/7/0 Integer 3800", "/3/0/7/1 Integer 5000"], exact=True)

lcbor("read_object", """
Read /3 with two instances: {3: {0: {9: 100}, 1: {9: 50}}}.""", "/3",
      {3: {0: {9: 100}, 1: {9: 50}}}, ["/3/0/9 Integer 100", "/3/1/9 Integer 50"], exact=True)

lcbor("composite", """
A Read-Composite response across objects: the first object's single
chain as an array key, then a map for object 9999.""", "/", {
    (3, 0, 9): 100,
    9999: {0: {1: "x", 4: 21.5}, 1: {2: 5}},
}, ["/3/0/9 Integer 100", "/9999/0/1 String x", "/9999/0/4 Float 21.5", "/9999/1/2 Integer 5"], exact=True)

lcbor("composite_request", """
A Read-Composite request: null marks a path without value, at any level.""", "/", {
    1: {0: None},
    (3, 0, 0): None,
    3303: None,
}, ["/1/0 None -", "/3/0/0 None -", "/3303 None -"], exact=True)

lcbor("types", """
Every data type on test object 9999 (resource rid has type rid % 10):
String, Corelnk and Objlnk ("oid:iid") as text; Integer and Unsigned as
integers (UINT64_MAX as major type 0); Float as the narrowest exact float
(2.0 stays a float); Boolean; Opaque as a byte string; Time as tag 1.""", "/9999/0", {9999: {0: {
    1: "h\u00e9llo",
    2: -9223372036854775808,
    3: 18446744073709551615,
    4: 1.5,
    5: False,
    6: b"\x00\xff",
    7: cbor2.CBORTag(1, -1),
    8: "65535:65535",
    9: "</1>",
    14: 2.0,
    24: 0.1,
    34: float("nan"),
}}}, [
    "/9999/0/1 String h\u00e9llo",
    "/9999/0/2 Integer -9223372036854775808",
    "/9999/0/3 Unsigned 18446744073709551615",
    "/9999/0/4 Float 1.5",
    "/9999/0/5 Boolean false",
    "/9999/0/6 Opaque 00ff",
    "/9999/0/7 Time -1",
    "/9999/0/8 Objlnk 65535:65535",
    "/9999/0/9 Corelnk </1>",
    "/9999/0/14 Float 2",
    "/9999/0/24 Float 0.1",
    "/9999/0/34 Float nan",
], exact=True)

lcbor("empty", """
An empty map: no records.""", "/3/0", {}, [], exact=True)

lcbor("array_keys", """
Shortened paths in every allowed form (decode only): [13, 26] then a map,
a one-element array key, a full four-id key.""", "/", {
    (9999, 0): {(1,): "a", 4: 2},
    (9999, 1, 12, 3): 4,
}, ["/9999/0/1 String a", "/9999/0/4 Float 2", "/9999/1/12/3 Integer 4"])

lcbor("indefinite", """
Indefinite-length maps, an indefinite array key and chunked strings.""", "/9999", Indef({
    9999: Indef({Indef([0]): {1: Indef(["ab", "c"]), 6: Indef([b"\x01", b"\x02"])}}),
}), ["/9999/0/1 String abc", "/9999/0/6 Opaque 0102"])

lcbor("type_conversion", """
Numbers take the resource type: an integer for a Float, 2.0 for an
Integer, a plain integer for Time, tag 1 with a whole float for Time, an
objlnk string for an Objlnk resource.""", "/9999/0", {9999: {0: {
    2: 2.0, 4: 3, 7: 1700000000, 17: cbor2.CBORTag(1, 5.0), 8: "3:0",
}}}, [
    "/9999/0/2 Integer 2",
    "/9999/0/4 Float 3",
    "/9999/0/7 Time 1700000000",
    "/9999/0/17 Time 5",
    "/9999/0/8 Objlnk 3:0",
])

lcbor("untyped", """
Without a known type (object 5000): integers are Integer (Unsigned above
INT64_MAX), floats Float, text String, bytes Opaque, tag 1 Time.""", "/", {5000: {0: {
    1: 5, 2: 5.0, 3: 18446744073709551615, 4: "3:0", 5: b"", 6: True, 7: cbor2.CBORTag(1, 10),
}}}, [
    "/5000/0/1 Integer 5",
    "/5000/0/2 Float 5",
    "/5000/0/3 Unsigned 18446744073709551615",
    "/5000/0/4 String 3:0",
    "/5000/0/5 Opaque",
    "/5000/0/6 Boolean true",
    "/5000/0/7 Time 10",
], exact=True)


def lcbor_err(name, comment, base, model, error="EBADMSG", raw=None):
    write(L_DIR, "err_" + name, comment, base, model, error=error, raw=raw, truncate=False)


lcbor_err("not_map", "The payload must be a map.", "/3/0/9", [3, 0, 9, 100])
lcbor_err("bare_value", "A bare value has no path.", "/3/0/9", 100)
lcbor_err("empty", "An empty payload.", "/3/0", None, raw=b"")
lcbor_err("trailing", "A byte after the map.", "/3/0", None, raw=enc({3: {0: {9: 1}}}) + b"\x00")
lcbor_err("outside_base", "A Write on /3/0 carrying /4/0/1.", "/3/0", {4: {0: {1: 1}}})
lcbor_err("value_on_instance", "A value on an instance.", "/3", {3: {0: 1}})
lcbor_err("value_on_object", "A value on an object.", "/", {3: 1})
lcbor_err("too_deep", "Five path ids.", "/", {(3, 0, 7, 1, 2): 1})
lcbor_err("too_deep_nested", "A map below a resource instance.", "/", {(3, 0, 7, 1): {2: 1}})
lcbor_err("empty_array_key", "An empty array names nothing.", "/", {(): {3: {0: {9: 1}}}})
lcbor_err("negative_key", "Path ids are unsigned.", "/", {-1: {0: {9: 1}}})
lcbor_err("text_key", "Path ids are integers, not text.", "/", {"3": {"0": {"9": 1}}})
lcbor_err("id_65535", "Id 65535 is reserved.", "/", {3: {65535: {9: 1}}})
lcbor_err("duplicate_path", "The same path twice.", "/", {(3, 0, 9): 1, 3: {0: {9: 2}}})
lcbor_err("leaf_and_parent", "A path both a value and a parent.", "/", {(3, 0, 6): 1, (3, 0, 6, 0): 2})
lcbor_err("null_and_children", "A null (no value) path that also has children.", "/",
          {3: None, (3, 0, 9): 1})
lcbor_err("other_tag", "Only tag 1 (Time) is understood.", "/", {(3, 0, 13): cbor2.CBORTag(0, "x")})
lcbor_err("tag_text", "Tag 1 around text.", "/", {(3, 0, 13): cbor2.CBORTag(1, "x")})
lcbor_err("undefined", "undefined is no value.", "/", None, raw=bytes.fromhex("a1830300 09f7".replace(" ", "")))
lcbor_err("array_value", "An array is no value.", "/", {(3, 0, 9): [1]})
lcbor_err("float_for_integer", "2.5 for an Integer resource.", "/", {(9999, 0, 2): 2.5}, error="ERANGE")
lcbor_err("below_int64", "-2^64 does not fit.", "/", {(9999, 0, 2): -18446744073709551616}, error="ERANGE")
lcbor_err("time_fraction", "Tag 1 with a fractional time.", "/", {(9999, 0, 7): cbor2.CBORTag(1, 1.5)},
          error="ERANGE")
lcbor_err("bad_objlnk", "Text that is no oid:iid for an Objlnk resource.", "/",
          {(9999, 0, 8): "3-0"}, error="EINVAL")
lcbor_err("bytes_for_string", "A byte string for a String resource.", "/",
          {(9999, 0, 1): b"x"}, error="EINVAL")
lcbor_err("bad_utf8", "Text that is not UTF-8.", "/", None, raw=bytes.fromhex("a1" "831927 0f0001" "61ff".replace(" ", "")))

print("vectors written")
