#!/usr/bin/env bash
# tests/run.sh [--unit-only|--integration-only] [FILTER...] — run the test suites.
#
# 1. Every unit test binary build/asan/tests/*/* (cmocka; built by `make MODE=asan unit-bins`),
#    cwd = the repository root, ASAN_OPTIONS=detect_leaks=1, UBSAN_OPTIONS=print_stacktrace=1:
#    halt_on_error=1.  Each cmocka test case counts as one test; a binary that crashes, leaks
#    or exits non-zero without cmocka reporting a failure counts one failed test.
# 2. Every integration test tests/integration/t_*.sh (one test each) under `timeout 300`.
#    Exit 0 = passed, 77 = skipped (a tool is missing), anything else = failed.
#
# FILTER keeps the tests whose name (e.g. "sip/test_sip_uri" or "t_options") contains it
# (several FILTERs: any of them).
# Logs: build/test-logs/<name>.log; a failed test's log is printed.
# Ends with the line "N passed, N failed" (", N skipped" when some were skipped), and
# exits 1 if any test failed (2 if nothing was run).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

unit=1 integ=1 filters=()
while [ $# -gt 0 ]; do
	case $1 in
	--unit-only) integ=0 ;;
	--integration-only) unit=0 ;;
	-h | --help)
		sed -n '2,15s/^# \{0,1\}//p' "$0"
		exit 0
		;;
	-*)
		echo "run.sh: unknown option $1" >&2
		exit 2
		;;
	*) filters+=("$1") ;;
	esac
	shift
done

LOGS=build/test-logs
mkdir -p "$LOGS"
passed=0 failed=0 skipped=0 ran=0
failed_names=()
UNIT_TIMEOUT=${CPM_UNIT_TIMEOUT:-300}
INTEG_TIMEOUT=${CPM_INTEG_TIMEOUT:-300}
SHOW_LINES=${CPM_SHOW_LINES:-400}

now_ms() { date +%s%3N; }

selected() { # NAME — no filter, or NAME contains one of them
	local f
	[ ${#filters[@]} -gt 0 ] || return 0
	for f in "${filters[@]}"; do
		[[ $1 != *"$f"* ]] || return 0
	done
	return 1
}

show_log() { # FILE
	echo "----- $1 (last $SHOW_LINES lines) -----"
	tail -n "$SHOW_LINES" "$1"
	echo "----- end of $1 -----"
}

# Sum of the N in lines "[  TAG  ] N test(s)" of a cmocka log.
cm_sum() { # FILE TAG
	awk -v tag="$2" '
		index($0, "[  " tag) == 1 || index($0, "[ " tag) == 1 {
			s = $0; sub(/^\[[^]]*\][ \t]*/, "", s)
			if (s ~ /^[0-9]+ test\(s\)/) { n += s + 0 }
		}
		END { print n + 0 }' "$1"
}

cm_count() { # FILE REGEX — lines matching
	grep -c -E -- "$2" "$1" 2>/dev/null || true
}

if [ "$unit" = 1 ]; then
	bins=()
	for b in build/asan/tests/*/*; do
		if [ ! -f "$b" ] || [ ! -x "$b" ]; then continue; fi
		bins+=("$b")
	done
	if [ ${#bins[@]} -eq 0 ]; then
		echo "run.sh: no unit test binaries under build/asan/tests (run: make MODE=asan unit-bins)"
	fi
	for b in "${bins[@]}"; do
		name=${b#build/asan/tests/}
		selected "$name" || continue
		log=$LOGS/unit-${name//\//-}.log
		t0=$(now_ms)
		rc=0
		CMOCKA_MESSAGE_OUTPUT=STDOUT ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
			UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
			timeout -k 10 "$UNIT_TIMEOUT" "$b" >"$log" 2>&1 </dev/null || rc=$?
		secs=$(awk -v a="$t0" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }')
		p=$(cm_sum "$log" "PASSED")
		f=$(cm_sum "$log" "FAILED")
		s=$(cm_sum "$log" "SKIPPED")
		runs=$(cm_count "$log" '^\[ RUN      \]')
		planned=$(awk '/^\[==========\] Running [0-9]+ test/ { n += $3 } END { print n + 0 }' "$log")
		[ "$planned" -ge "$runs" ] || planned=$runs
		oks=$(cm_count "$log" '^\[       OK \]')
		note=
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			# crash, sanitizer abort, leak report or timeout: the cases that did not
			# report OK count as failed (at least one)
			p=$oks
			f=$((planned - oks - s))
			[ "$f" -ge 1 ] || f=1
			case $rc in
			124) note=" (timeout after ${UNIT_TIMEOUT}s)" ;;
			*) note=" (exit $rc)" ;;
			esac
		elif [ "$rc" -eq 0 ] && [ $((p + f + s)) -eq 0 ]; then
			p=1 # not a cmocka program: one test
		elif [ "$rc" -ne 0 ] && [ "$f" -gt 0 ] && grep -q -E 'ERROR: [A-Za-z]+Sanitizer|runtime error:' "$log"; then
			note=" (exit $rc, sanitizer report)"
		fi
		passed=$((passed + p))
		failed=$((failed + f))
		skipped=$((skipped + s))
		ran=$((ran + 1))
		if [ "$f" -gt 0 ]; then
			echo "FAIL  unit $name: $p passed, $f failed$note [${secs}s]"
			grep -E '^\[  (FAILED|ERROR)' "$log" | grep -v -E 'test\(s\)' | awk '!seen[$0]++' | head -n 20 | sed 's/^/      /'
			show_log "$log"
			failed_names+=("unit:$name")
		else
			extra=
			[ "$s" -eq 0 ] || extra=", $s skipped"
			echo "ok    unit $name: $p passed$extra [${secs}s]"
		fi
	done
fi

if [ "$integ" = 1 ]; then
	for t in tests/integration/t_*.sh; do
		[ -f "$t" ] || continue
		name=$(basename "$t" .sh)
		selected "$name" || continue
		log=$LOGS/$name.log
		t0=$(now_ms)
		rc=0
		timeout -k 15 "$INTEG_TIMEOUT" bash "$t" >"$log" 2>&1 </dev/null || rc=$?
		secs=$(awk -v a="$t0" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }')
		ran=$((ran + 1))
		case $rc in
		0)
			passed=$((passed + 1))
			echo "ok    $name [${secs}s]"
			;;
		77)
			skipped=$((skipped + 1))
			echo "skip  $name: $(grep -m1 '^SKIP' "$log" || echo "exit 77") [${secs}s]"
			;;
		*)
			failed=$((failed + 1))
			failed_names+=("$name")
			why="exit $rc"
			[ "$rc" -ne 124 ] || why="timeout after ${INTEG_TIMEOUT}s"
			echo "FAIL  $name: $why [${secs}s]"
			show_log "$log"
			;;
		esac
	done
fi

if [ "$ran" -eq 0 ]; then
	echo "run.sh: no test matched ${filters[*]:-(no filter)}" >&2
fi
if [ ${#failed_names[@]} -gt 0 ]; then
	echo "failed: ${failed_names[*]}"
fi
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] || exit 1
[ "$ran" -gt 0 ] || exit 2
exit 0
