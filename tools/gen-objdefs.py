#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Generate lwm2m/objdefs.c, fieldgate's built-in object table, from the OMA
LwM2M registry's DDF XML files.

Run by hand when the table should change; the output is committed, the
registry's XML is not (it is read from a checkout given on the command line):

    /usr/bin/python3 tools/gen-objdefs.py ../shared/lwm2m-registry > lwm2m/objdefs.c

To add an object, add its id to OBJECTS below and re-run. IPSO reusable
resources (ids 5000 and up, shared by many objects) go into one dictionary of
macros so that each IPSO object is a single line listing its resource ids with
a mandatory (M) or optional (O) mark; the script checks that every object
using a shared id agrees on its name, type, operations, multiplicity, units
and range, and fails otherwise.

The field rules are the same as the run-time DDF loader's (lwm2m/ddf.c):
values are trimmed, Units empty -> NULL, and RangeEnumeration gives a range
only when it is a plain numeric "MIN..MAX" with MIN <= MAX.
"""

import os
import re
import textwrap
import sys
import xml.etree.ElementTree as ET

# Objects 0, 1, 3, 4, 5, 9, 25 (LwM2M core, Software Management and the Gateway object) and the IPSO
# smart objects that exist in the registry.
OBJECTS = [0, 1, 3, 4, 5, 9, 25] + list(range(3200, 3204)) + list(range(3300, 3351)) + [26241, 26242]

# fieldgate's own objects the gateway serves itself, read from this
# repository (they are installed with the object files too, for servers).
LOCAL = {oid: os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "conf", "objects", "%d.xml" % oid)
         for oid in (26241, 26242)}

# Ids >= this and found in IPSO objects are treated as reusable resources.
REUSABLE_MIN = 5000

TYPES = {
    "": "NONE",
    "String": "STR",
    "Integer": "INT",
    "Unsigned Integer": "UINT",
    "Float": "FLT",
    "Boolean": "BOOL",
    "Opaque": "OPQ",
    "Time": "TIME",
    "Objlnk": "OLNK",
    "Corelnk": "CLNK",
}
OPS = {"": "NOP", "R": "R_", "W": "W_", "RW": "RW", "E": "E_"}
RANGE_RE = re.compile(r"^(-?[0-9]+(?:\.[0-9]+)?)\.\.(-?[0-9]+(?:\.[0-9]+)?)$")


def text(el, tag):
    v = el.findtext(tag)
    return v.strip() if v is not None else None


def c_str(s):
    if s is None:
        return "NULL"
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "?":
            out.append("\\?")  # no trigraphs
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def c_double(x):
    r = repr(float(x))
    return r if ("e" in r or "." in r) else r + ".0"


def parse_range(s):
    m = RANGE_RE.match(s or "")
    if not m:
        return None
    lo, hi = float(m.group(1)), float(m.group(2))
    if lo > hi:
        return None
    return lo, hi


def load(regdir, oid):
    path = LOCAL.get(oid) or os.path.join(regdir, "%d.xml" % oid)
    if not os.path.exists(path):
        return None
    root = ET.parse(path).getroot()
    objs = [o for o in root.findall("Object") if o.get("ObjectType", "MODefinition") == "MODefinition"]
    if len(objs) != 1:
        sys.exit("%s: expected one object definition" % path)
    o = objs[0]
    if int(text(o, "ObjectID")) != oid:
        sys.exit("%s: ObjectID mismatch" % path)
    ver = text(o, "ObjectVersion") or "1.0"
    major, minor = (int(x) for x in ver.split("."))
    res = []
    for it in o.findall("Resources/Item"):
        rng = parse_range(text(it, "RangeEnumeration"))
        units = text(it, "Units") or None
        res.append({
            "rid": int(it.get("ID")),
            "name": text(it, "Name"),
            "type": TYPES[text(it, "Type") or ""],
            "ops": OPS[text(it, "Operations") or ""],
            "multiple": text(it, "MultipleInstances") == "Multiple",
            "mandatory": text(it, "Mandatory") == "Mandatory",
            "units": units,
            "range": rng,
        })
    res.sort(key=lambda r: r["rid"])
    return {
        "oid": oid,
        "name": text(o, "Name"),
        "major": major,
        "minor": minor,
        "multiple": text(o, "MultipleInstances") == "Multiple",
        "mandatory": text(o, "Mandatory") == "Mandatory",
        "res": res,
    }


def flags(r, with_mandatory):
    f = []
    if with_mandatory:
        f.append("M" if r["mandatory"] else "O")
    if r["multiple"]:
        f.append("MULT")
    if r["range"]:
        f.append("RNG")
    return " | ".join(f) if f else "0"


def res_body(r, flag_expr):
    lo, hi = r["range"] if r["range"] else (0, 0)
    return "%d, %s, %s, %s, %s, %s, %s, %s" % (
        r["rid"], r["type"], r["ops"], flag_expr, c_str(r["name"]), c_str(r["units"]),
        c_double(lo) if r["range"] else "0", c_double(hi) if r["range"] else "0")


def shared_key(r):
    return (r["name"], r["type"], r["ops"], r["multiple"], r["units"], r["range"])


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen-objdefs.py REGISTRY_DIR > lwm2m/objdefs.c")
    regdir = sys.argv[1]
    objs = [o for o in (load(regdir, oid) for oid in OBJECTS) if o]

    ipso = {}
    for o in objs:
        if o["oid"] < 3200:
            continue
        for r in o["res"]:
            if r["rid"] < REUSABLE_MIN:
                continue
            k = shared_key(r)
            if r["rid"] in ipso and ipso[r["rid"]][0] != k:
                sys.exit("resource %d differs between objects %d and %d" %
                         (r["rid"], ipso[r["rid"]][1], o["oid"]))
            ipso.setdefault(r["rid"], (k, o["oid"], r))

    src = []
    w = src.append
    w("/* SPDX-License-Identifier: Apache-2.0 */")
    w("/*")
    w(" * GENERATED by tools/gen-objdefs.py from the OMA LwM2M registry's DDF files")
    w(" * (OpenMobileAlliance/lwm2m-registry) and conf/objects/2624[12].xml; edit the")
    w(" * script's OBJECTS list and re-run it rather than editing this file. Objects:")
    ids = ", ".join(str(o["oid"]) for o in objs) + "."
    for line in textwrap.wrap(ids, 100):
        w(" *   " + line)
    w(" *")
    w(" * Constant data: every registry points at it, nothing is copied. IPSO")
    w(" * reusable resources are one macro each (IPSO_<id>(mandatory mark)) so that")
    w(" * an IPSO object is one line; the core objects spell out their resources.")
    w(" * Fields: rid, type, operations, flags, name, units, range min, range max.")
    w(" */")
    w('#include "lwm2m/registry_internal.h"')
    w("")
    w("/* clang-format off */")
    w("")
    w("#define NONE LWM2M_TYPE_NONE")
    w("#define STR  LWM2M_TYPE_STRING")
    w("#define INT  LWM2M_TYPE_INTEGER")
    w("#define UINT LWM2M_TYPE_UNSIGNED")
    w("#define FLT  LWM2M_TYPE_FLOAT")
    w("#define BOOL LWM2M_TYPE_BOOLEAN")
    w("#define OPQ  LWM2M_TYPE_OPAQUE")
    w("#define TIME LWM2M_TYPE_TIME")
    w("#define OLNK LWM2M_TYPE_OBJLNK")
    w("#define CLNK LWM2M_TYPE_CORELNK")
    w("#define NOP  0")
    w("#define R_   LWM2M_OP_R")
    w("#define W_   LWM2M_OP_W")
    w("#define RW   (LWM2M_OP_R | LWM2M_OP_W)")
    w("#define E_   LWM2M_OP_E")
    w("#define M    LWM2M_RES_MANDATORY")
    w("#define O    0")
    w("#define MULT LWM2M_RES_MULTIPLE")
    w("#define RNG  LWM2M_RES_HAS_RANGE")
    w("")
    w("#define RES(rid_, type_, ops_, flags_, name_, units_, min_, max_) \\")
    w("\t{ .rid = (rid_), .type = (type_), .ops = (ops_), .flags = (flags_), \\")
    w("\t  .name = (name_), .units = (units_), .min = (min_), .max = (max_) }")
    w("#define I(rid_, m_) IPSO_##rid_(m_)")
    w("#define OBJ(oid_, major_, minor_, flags_, name_) \\")
    w("\t{ .oid = (oid_), .ver_major = (major_), .ver_minor = (minor_), .flags = (flags_), \\")
    w("\t  .nres = sizeof(res_##oid_) / sizeof(res_##oid_[0]), .name = (name_), .res = res_##oid_ }")
    w("")
    w("/* IPSO reusable resources */")
    for rid in sorted(ipso):
        r = ipso[rid][2]
        w("#define IPSO_%d(m_) RES(%s)" % (rid, res_body(r, "(m_)" + ("" if flags(r, False) == "0" else " | " + flags(r, False)))))
    w("")
    for o in objs:
        if o["oid"] < 3200:
            w("/* %d %s %d.%d */" % (o["oid"], o["name"], o["major"], o["minor"]))
            w("static const struct lwm2m_resdef res_%d[] = {" % o["oid"])
            for r in o["res"]:
                w("\tRES(%s)," % res_body(r, flags(r, True)))
            w("};")
        else:
            items = []
            for r in o["res"]:
                if r["rid"] >= REUSABLE_MIN:
                    items.append("I(%d, %s)" % (r["rid"], "M" if r["mandatory"] else "O"))
                else:
                    items.append("RES(%s)" % res_body(r, flags(r, True)))
            w("static const struct lwm2m_resdef res_%d[] = { %s };" % (o["oid"], ", ".join(items)))
    w("")
    w("const struct lwm2m_objdef lwm2m_builtin_objdefs[] = {")
    for o in objs:
        f = []
        if o["multiple"]:
            f.append("LWM2M_OBJ_MULTIPLE")
        if o["mandatory"]:
            f.append("LWM2M_OBJ_MANDATORY")
        w("\tOBJ(%d, %d, %d, %s, %s)," % (o["oid"], o["major"], o["minor"],
                                          " | ".join(f) if f else "0", c_str(o["name"])))
    w("};")
    w("")
    w("const size_t lwm2m_builtin_objdefs_count = sizeof(lwm2m_builtin_objdefs) / sizeof(lwm2m_builtin_objdefs[0]);")
    w("")
    w("/* clang-format on */")
    print("\n".join(src))


if __name__ == "__main__":
    main()
