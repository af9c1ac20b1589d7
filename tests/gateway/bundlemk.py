# SPDX-License-Identifier: Apache-2.0
"""Profile bundles (Object 9, docs/updates.md) made in memory: a tar archive
of bundle.yaml and the files it lists. Used by test_bundles.py, the fuzz
corpus generator and scripts/demo.sh."""
import io
import os
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("FG_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
PROFILES = os.path.join(SOURCE, "mappings", "profiles")


def manifest(name, version, profiles=(), objects=()):
    text = "name: %s\nversion: \"%s\"\n" % (name, version)
    if profiles:
        text += "profiles: [%s]\n" % ", ".join(profiles)
    if objects:
        text += "objects: [%s]\n" % ", ".join(objects)
    return text


def renamed_profile(source, name):
    """A shipped profile under another name (its `profile:` key too)."""
    with open(os.path.join(PROFILES, source + ".yaml")) as f:
        text = f.read()
    return text.replace("profile: %s\n" % source, "profile: %s\n" % name, 1)


def tar(files, gz=False, extra=None):
    """files: {name: text}; extra(tarfile) may add odd entries."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w", format=tarfile.PAX_FORMAT) as t:
        for name, text in files.items():
            data = text.encode() if isinstance(text, str) else text
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            t.addfile(info, io.BytesIO(data))
        if extra:
            extra(t)
    return buf.getvalue()


def profile_bundle(name, version, profile, source="z2m-th-sensor", text=None, gz=False):
    """A bundle with one profile: source renamed to profile, or text."""
    return tar({"bundle.yaml": manifest(name, version, [profile]),
                "profiles/%s.yaml" % profile: text if text is not None else renamed_profile(source, profile)},
               gz=gz)
