#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   1. clang-format check of every C file
#   2. gcc build with -Werror, every test (unit, interop, gateway, fuzz replay)
#   3. clang build with ASan+UBSan and libFuzzer, every test again, then each
#      fuzz target for FUZZ_SECONDS (default 20) from its seed corpus
#   4. clang build with TSan, the tests whose code runs threads (gateway,
#      the client's bootstrap state writer, the Modbus bus workers, the MQTT
#      bridge's name lookups)
# Ends with one line "N passed, N failed" counting individual test cases
# (cmocka TAP subtests count one each). Exit status 0 only if none failed.
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
"$here/scripts/install-deps.sh" || exit 1

fuzz_seconds=${FUZZ_SECONDS:-20}
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
pass=0
fail=0
skipped=0

record() { # name status
	if [[ $2 == 0 ]]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAILED: $1"
	fi
}

# 1. formatting
echo "==> clang-format check"
bad=$(git ls-files '*.c' '*.h' | xargs -r clang-format --dry-run -Werror 2>&1 | grep -c 'error:' || true)
if [[ $bad != 0 ]]; then
	git ls-files '*.c' '*.h' | xargs -r clang-format --dry-run -Werror 2>&1 | grep 'error:' | cut -d: -f1 | sort -u
fi
record clang-format "$bad"

count_meson() { # builddir
	/usr/bin/python3 "$here/scripts/count-tests.py" "$1/meson-logs/testlog.json" >"$results/count"
	read -r p f s <"$results/count"
	pass=$((pass + p))
	fail=$((fail + f))
	skipped=$((skipped + s))
}

run_build() { # dir setup-args...
	local dir=$1
	shift
	if [[ ! -f "$dir/build.ninja" ]]; then
		meson setup "$dir" "$@" || return 1
	else
		meson configure "$dir" "$@" >/dev/null || return 1
	fi
	ninja -C "$dir" || return 1
}

# 2. gcc, warnings are errors
echo "==> gcc build (-Werror)"
if run_build build -Dwerror=true; then
	meson test -C build --print-errorlogs --num-processes 2 --timeout-multiplier 2
	count_meson build
else
	record gcc-build 1
fi

# 3. clang, sanitizers, fuzzing
echo "==> clang build with ASan+UBSan and libFuzzer"
if [[ ! -f build-asan/build.ninja ]]; then
	CC=clang run_build build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false -Dfuzz=true
else
	run_build build-asan
fi
if [[ $? == 0 ]]; then
	meson test -C build-asan --print-errorlogs --num-processes 2 --timeout-multiplier 3
	count_meson build-asan
	echo "==> fuzzing each target for ${fuzz_seconds}s, $(nproc) at a time"
	export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	fuzz_one() { # binary name
		mkdir -p "$results/corpus-$2" "$results/art-$2"
		"$1" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
			-artifact_prefix="$results/art-$2/" \
			"$results/corpus-$2" "tests/fuzz/corpus/$2" >"$results/fuzz-$2.log" 2>&1
		echo $? >"$results/fuzz-$2.rc"
	}
	names=()
	for f in build-asan/tests/fuzz/fuzz_*; do
		[[ -f $f && -x $f ]] || continue
		name=${f##*/fuzz_}
		names+=("$name")
		while (($(jobs -rp | wc -l) >= $(nproc))); do
			wait -n
		done
		fuzz_one "$f" "$name" &
	done
	wait
	for name in "${names[@]}"; do
		if [[ $(cat "$results/fuzz-$name.rc") == 0 ]]; then
			echo "fuzz $name: ok ($(grep -o 'Done [0-9]* runs' "$results/fuzz-$name.log" | tail -1))"
			record "fuzz-$name" 0
		else
			tail -40 "$results/fuzz-$name.log"
			mkdir -p fuzz-findings && cp -f "$results/art-$name"/* fuzz-findings/ 2>/dev/null
			echo "fuzz $name: FAILED, inputs kept in fuzz-findings/"
			record "fuzz-$name" 1
		fi
	done
else
	record clang-asan-build 1
fi

# 4. threads under TSan: the gateway's resolver threads, the client's
#    bootstrap state writer, the Modbus bus workers, the MQTT name lookups.
#    halt_on_error makes a race fail the test.
echo "==> clang build with TSan"
if [[ ! -f build-tsan/build.ninja ]]; then
	CC=clang meson setup build-tsan -Dwerror=true -Db_sanitize=thread -Db_lundef=false >/dev/null
fi
if ninja -C build-tsan >"$results/tsan-build.log" 2>&1; then
	export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
	meson test -C build-tsan --suite gateway --print-errorlogs --num-processes 2 --timeout-multiplier 3
	count_meson build-tsan
	# the client's bootstrap state writer thread
	meson test -C build-tsan client-bootstrap client-bootstrap-state --print-errorlogs --timeout-multiplier 3
	count_meson build-tsan
	# the Modbus bridge's bus workers (one thread per bus), the MQTT
	# bridge's broker name lookups
	# The list first, then grep: with pipefail, `meson --list | grep -q`
	# fails when grep exits at its first match and meson gets SIGPIPE, which
	# skipped a suite now and then without a word.
	tsan_tests=$(meson test -C build-tsan --list 2>/dev/null)
	for suite in modbus mqtt; do
		if grep -q "^fieldgate:$suite /" <<<"$tsan_tests"; then
			meson test -C build-tsan --suite "$suite" --print-errorlogs --num-processes 2 \
				--timeout-multiplier 3
			count_meson build-tsan
		fi
	done
else
	tail -30 "$results/tsan-build.log"
	record clang-tsan-build 1
fi

if [[ $skipped != 0 ]]; then
	echo "${pass} passed, ${fail} failed, ${skipped} skipped"
else
	echo "${pass} passed, ${fail} failed"
fi
[[ $fail == 0 ]]
