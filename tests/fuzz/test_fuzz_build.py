#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The fuzz build exactly as the README documents it.

The README's command (the line with `-Dfuzz=true` in "Building by hand") is
run as written, only with a temporary build directory: meson must configure,
and a libFuzzer target and an ordinary program of the same build (a unit
test: those failed to link, the coverage hooks undefined, when -Dfuzz=true
came without a sanitizer) must link and run. Without clang the documented
build cannot work: skipped, and said so. Also: -Dfuzz=true with gcc stops
at configure time with a message naming clang.

Usage: test_fuzz_build.py   (FG_SOURCE_DIR: the source tree; meson sets it)
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

SOURCE = os.environ.get("FG_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def readme_command():
    with open(os.path.join(SOURCE, "README.md")) as f:
        for line in f:
            m = re.match(r"^(\S+=\S+ )*meson setup \S+ .*-Dfuzz=true\b[^#&]*", line)
            if m:
                return shlex.split(m.group(0))
    raise AssertionError("README.md documents no `meson setup ... -Dfuzz=true` line")


def run(args, env, cwd, what):
    r = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s" % (what, r.returncode, r.stdout[-4000:], r.stderr[-4000:]))
    return r


def main():
    words = readme_command()
    env = dict(os.environ)
    while "=" in words[0]:
        k, v = words.pop(0).split("=", 1)
        env[k] = v
    if not shutil.which(env.get("CC", "cc")):
        print("SKIP: %s is not installed" % env.get("CC"))
        return 77
    assert words[:2] == ["meson", "setup"], words
    with tempfile.TemporaryDirectory(prefix="fg-fuzz-build-") as tmp:
        build = os.path.join(tmp, "build")
        # The README's command, its build directory replaced.
        cmd = words[:2] + [build] + words[3:]
        print("$", " ".join(cmd), "(CC=%s)" % env.get("CC"))
        run(cmd, env, SOURCE, "configure")
        targets = ["tests/fuzz/fuzz_base64", "tests/unit/test_base64"]
        run(["ninja", "-C", build] + targets, env, SOURCE, "build of " + " ".join(targets))
        r = run([os.path.join(build, "tests/unit/test_base64")], env, SOURCE, "test_base64")
        print(r.stdout.strip().splitlines()[-1])
        corpus = os.path.join(SOURCE, "tests", "fuzz", "corpus", "base64")
        found = os.path.join(tmp, "corpus")  # what it finds goes there, not into the seeds
        os.mkdir(found)
        r = run([os.path.join(build, "tests/fuzz/fuzz_base64"), "-runs=2000", found, corpus], env, SOURCE,
                "fuzz_base64")
        done = [l for l in r.stderr.splitlines() if l.startswith("Done ")]
        print(done[-1] if done else r.stderr.strip().splitlines()[-1])
        assert done, r.stderr

        # gcc cannot build libFuzzer targets: a clear error at configure.
        if shutil.which("gcc"):
            genv = dict(env, CC="gcc")
            r = subprocess.run(["meson", "setup", os.path.join(tmp, "gcc"), "-Dfuzz=true"], env=genv, cwd=SOURCE,
                               capture_output=True, text=True)
            assert r.returncode != 0, r.stdout
            assert "-Dfuzz=true needs clang" in r.stdout + r.stderr, r.stdout + r.stderr
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
