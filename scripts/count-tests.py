"""Count test cases in a meson testlog.json: every TAP 'ok'/'not ok' line of
a TAP test counts as one case; any other test counts as one. A TAP test that
failed without reporting a failing case (a crash, a timeout) counts one more
failure so nothing is hidden. Prints "PASSED FAILED"."""
import json
import re
import sys

passed = failed = 0
with open(sys.argv[1]) as f:
    for line in f:
        t = json.loads(line)
        result = t.get("result", "")
        if result == "SKIP":
            continue
        ok = result in ("OK", "EXPECTEDFAIL")
        out = t.get("stdout") or ""
        oks = len(re.findall(r"^ok \d+", out, re.M))
        noks = len(re.findall(r"^not ok \d+", out, re.M))
        if oks + noks:
            passed += oks
            failed += noks
            if not ok and noks == 0:
                failed += 1
        elif ok:
            passed += 1
        else:
            failed += 1
print(passed, failed)
