#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The value-template vectors (tests/data/mappings/template/render.txt)
rendered by the reference: Jinja2 with Home Assistant's own float, int and
round filters (homeassistant/helpers/template.py: float/int raise when the
value is no number and no default is given; round converts with float()
first and gives an integer at precision 0) and undefined names as errors.
Each line must render to the text the C evaluator is expected to print, or
raise where the C evaluator returns an error. Lines marked #deviation are
documented differences (mappings/template.c) and are skipped here.

Usage: template_jinja.py   (Debian's python3-jinja2)
"""
import json
import math
import os
import sys

import jinja2

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("FG_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
VECTORS = os.path.join(SOURCE, "tests", "data", "mappings", "template", "render.txt")

_NONE = object()


class NoDefault(ValueError):
    pass


def ha_float(value, default=_NONE):
    try:
        return float(value)
    except (ValueError, TypeError):
        if default is _NONE:
            raise NoDefault("float got invalid input %r and no default" % (value,))
        return default


def ha_int(value, default=_NONE, base=10):
    result = jinja2.filters.do_int(value, default=default, base=base)
    if result is _NONE:
        raise NoDefault("int got invalid input %r and no default" % (value,))
    return result


def ha_round(value, precision=0, method="common", default=_NONE):
    try:
        multiplier = float(10 ** precision)
        if method == "ceil":
            value = math.ceil(float(value) * multiplier) / multiplier
        elif method == "floor":
            value = math.floor(float(value) * multiplier) / multiplier
        elif method == "half":
            value = round(float(value) * 2) / 2
        else:
            value = round(float(value), precision)
        return int(value) if precision == 0 else value
    except (ValueError, TypeError):
        if default is _NONE:
            raise NoDefault("round got invalid input %r and no default" % (value,))
        return default


def render(template, payload):
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters["float"] = ha_float
    env.filters["int"] = ha_int
    env.filters["round"] = ha_round
    values = {"value": payload}
    try:
        values["value_json"] = json.loads(payload)
    except ValueError:
        pass  # as Home Assistant: value_json is then undefined
    return env.from_string(template).render(values)


def main():
    bad = checked = 0
    for n, line in enumerate(open(VECTORS, encoding="utf-8"), 1):
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        f = line.split("\t")
        if len(f) > 3 and f[3].startswith("#deviation"):
            continue
        template, payload, want = f[0], f[1], f[2]
        try:
            got = "=" + render(template, payload)
        except (jinja2.UndefinedError, NoDefault, TypeError, ZeroDivisionError, ValueError) as e:
            got = "!" + type(e).__name__
        ok = got == want if want.startswith("=") else got.startswith("!")
        checked += 1
        if not ok:
            bad += 1
            print("render.txt:%d: %s on %s: Jinja2 gives %s, the vector says %s" % (n, template, payload, got, want))
    print("%d vectors rendered by Jinja2 %s, %d differ" % (checked, jinja2.__version__, bad))
    return 1 if bad or checked < 50 else 0


if __name__ == "__main__":
    sys.exit(main())
