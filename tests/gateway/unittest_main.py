# SPDX-License-Identifier: Apache-2.0
"""The end of every Python test script: run the __main__ module's tests
verbosely, print the closing line "N passed, N failed[, N skipped]" that
scripts/count-tests.py and the CI read, return the exit status."""
import unittest


def run():
    res = unittest.main(module="__main__", exit=False, verbosity=2).result
    failed = len(res.failures) + len(res.errors)
    line = "%d passed, %d failed" % (res.testsRun - failed - len(res.skipped), failed)
    if res.skipped:
        line += ", %d skipped" % len(res.skipped)
    print(line)
    return 0 if res.wasSuccessful() else 1
