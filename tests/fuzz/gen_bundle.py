#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the seed corpus of fuzz_bundle (tests/fuzz/corpus/bundle/): valid
bundles (plain and gzip, with an object definition), a manifest alone, and
archives the reader must refuse (a path with '..', an absolute path, a
symbolic link, a device, a file not listed, a listed file missing, not a
tar archive, a truncated one)."""
import io
import os
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "gateway"))
import bundlemk  # noqa: E402

OUT = os.path.join(HERE, "corpus", "bundle")
OBJECT = """<?xml version="1.0" encoding="utf-8"?>
<LWM2M><Object ObjectType="MODefinition"><Name>Acme Meter</Name><ObjectID>33000</ObjectID>
<ObjectVersion>1.0</ObjectVersion><MultipleInstances>Multiple</MultipleInstances><Mandatory>Optional</Mandatory>
<Resources><Item ID="0"><Name>Energy</Name><Operations>R</Operations><MultipleInstances>Single</MultipleInstances>
<Mandatory>Mandatory</Mandatory><Type>Float</Type><RangeEnumeration></RangeEnumeration><Units>Wh</Units></Item>
</Resources></Object></LWM2M>
"""


def odd(kind, name):
    def add(t):
        info = tarfile.TarInfo(name)
        info.type = kind
        if kind == tarfile.SYMTYPE:
            info.linkname = "/etc/passwd"
        t.addfile(info)
    return add


def main():
    os.makedirs(OUT, exist_ok=True)
    man = bundlemk.manifest("acme", "1.0", ["acme-th"])
    prof = bundlemk.renamed_profile("z2m-th-sensor", "acme-th")
    good = {"bundle.yaml": man, "profiles/acme-th.yaml": prof}
    seeds = {
        "valid.tar": bundlemk.tar(good),
        "valid.tar.gz": bundlemk.tar(good, gz=True),
        "objects.tar": bundlemk.tar({"bundle.yaml": bundlemk.manifest("acme-obj", "2", [], ["33000"]),
                                     "objects/33000.xml": OBJECT}),
        "manifest.yaml": man.encode(),
        "dotdot.tar": bundlemk.tar({"bundle.yaml": man, "profiles/../../x.yaml": prof}),
        "absolute.tar": bundlemk.tar({"bundle.yaml": man, "/tmp/acme-th.yaml": prof}),
        "symlink.tar": bundlemk.tar(good, extra=odd(tarfile.SYMTYPE, "profiles/link.yaml")),
        "device.tar": bundlemk.tar(good, extra=odd(tarfile.CHRTYPE, "profiles/dev.yaml")),
        "unlisted.tar": bundlemk.tar(dict(good, **{"profiles/other.yaml": prof})),
        "missing.tar": bundlemk.tar({"bundle.yaml": man}),
        "bad-manifest.tar": bundlemk.tar({"bundle.yaml": "name: ../x\nversion: [1]\nfoo: 1\n"}),
        "not-a-tar.bin": b"PK\x03\x04 this is a zip, not a tar",
        "truncated.tar": bundlemk.tar(good)[:700],
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
