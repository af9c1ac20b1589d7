"""Count test cases (skipped ones are not counted) in a meson testlog.json: every TAP 'ok'/'not ok' line of
a TAP test counts as one case; any other test counts as one. A TAP test that
failed without reporting a failing case (a crash, a timeout) counts one more
failure so nothing is hidden. Prints "PASSED FAILED SKIPPED"."""
import json
import re
import sys

passed = failed = skipped = 0
with open(sys.argv[1]) as f:
    for line in f:
        t = json.loads(line)
        result = t.get("result", "")
        if result == "SKIP":
            skipped += 1
            continue
        ok = result in ("OK", "EXPECTEDFAIL")
        out = t.get("stdout") or ""
        # cmocka marks a skipped case "not ok N # SKIP"; TAP allows either.
        skip = r"^%s \d+.*#\s*SKIP"
        skips_ok = len(re.findall(skip % "ok", out, re.M | re.I))
        skips_nok = len(re.findall(skip % "not ok", out, re.M | re.I))
        oks = len(re.findall(r"^ok \d+", out, re.M)) - skips_ok
        noks = len(re.findall(r"^not ok \d+", out, re.M)) - skips_nok
        if oks + noks + skips_ok + skips_nok:
            passed += oks
            failed += noks
            skipped += skips_ok + skips_nok
            if not ok and noks == 0:
                failed += 1
        elif ok:
            passed += 1
        else:
            failed += 1
print(passed, failed, skipped)
