#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The benchmark suite (issue 13): every benchmark of tests/bench, one table,
# each figure beside its baseline from the same run and the ratio; failed
# registrations and lost notifications counted and printed.
#
#   scripts/bench.sh [BUILD_DIR] [benchmark ...]     (default: build, all)
#
# FG_BENCH_SIZE=small runs a few devices and short windows (what the test
# bench-suite-small checks); the default full size is issue 13's and wants a
# quiet machine. FG_BENCH_N sets the devices of the idle and scale
# benchmarks. The build needs -Dtests=true (the default).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
if [[ $# -gt 0 && -d $1 ]]; then
	build=$1
	shift
fi
ninja -C "$build" >/dev/null
export FG_SOURCE_DIR=$PWD FG_BUILD_DIR=$PWD/$build
export FG_REGISTRY_DIR=${FG_REGISTRY_DIR:-$PWD/../shared/lwm2m-registry}
exec /usr/bin/python3 tests/bench/suite.py "$build" "$@"
