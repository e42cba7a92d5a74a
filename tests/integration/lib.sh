# tests/integration/lib.sh — sourced by every tests/integration/t_*.sh.
#
# Gives each test a private temp dir $T (removed at exit unless CPM_KEEP_TMP=1), kills
# every background process the test started (by PID) at exit, and helpers to run cpmd,
# SIPp, sipsak and cpm against it.  Everything binds 127.0.0.1 only; every wait is bounded.
#
# Environment:
#   CPMD, CPM        binaries (default build/asan/X when it exists, else build/X)
#   CPM_KEEP_TMP=1   keep $T after the test (its path is printed)
#   CPM_TEST_VERBOSE=1  trace every command (set -x)
#
# Exit codes: 0 pass, 1 fail, 77 skip (a needed tool is missing).
# shellcheck disable=SC2034  # variables set here for the tests (SIPP_LOG, UAS_LOG, ...)
set -euo pipefail

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$LIB_DIR/../.." && pwd)
cd "$REPO"
TEST_NAME=$(basename "$0" .sh)
SIPP_DIR=$LIB_DIR/sipp
SIPMSG=$LIB_DIR/sipmsg.py

if [ -z "${CPMD:-}" ]; then
	if [ -x build/asan/cpmd ]; then CPMD=$REPO/build/asan/cpmd; else CPMD=$REPO/build/cpmd; fi
fi
if [ -z "${CPM:-}" ]; then
	if [ -x build/asan/cpm ]; then CPM=$REPO/build/asan/cpm; else CPM=$REPO/build/cpm; fi
fi
# /usr/bin/python3 first: a pyenv shim on PATH costs ~0.7 s per start
if [ -z "${PYTHON:-}" ]; then
	if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

T=$(mktemp -d "${TMPDIR:-/tmp}/cpmd-$TEST_NAME.XXXXXX")
_PIDS=()
_PORTS=" "
_SIPP_SEQ=0
CPMD_PID=
CPMD_CONF=$T/cpmd.conf
CPMD_LOG=$T/cpmd.log
CPMD_EXTRA=()
SIPP_LOG='' UAS_LOG='' UAS_PORT='' UAS_PID='' BG_RC='' BG_PID=''
SIP_PORT=
HTTP_PORT=
MSRP_PORT=
if [ "${CPM_TEST_VERBOSE:-0}" = 1 ]; then set -x; fi

# ---- messages and assertions ---------------------------------------------------------

say() { printf '%s\n' "-- $*"; }
check() { printf "CHECK [%3ds]: %s\n" "$SECONDS" "$*"; }

_dump_logs() {
	local f
	for f in "$T"/*.log "$T"/*.out "$T"/*.err; do
		[ -s "$f" ] || continue
		printf '\n===== %s (last 60 lines) =====\n' "${f#"$T"/}"
		tail -n 60 "$f"
	done
}

fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

assert_eq() { # ACTUAL EXPECTED [WHAT]
	[ "$1" = "$2" ] || fail "${3:-value}: expected '$2', got '$1'"
}

assert_contains() { # FILE TEXT — fixed string, case-sensitive
	grep -q -F -- "$2" "$1" || fail "$(basename "$1") does not contain '$2'"
}

assert_not_contains() { # FILE TEXT
	if grep -q -F -- "$2" "$1"; then fail "$(basename "$1") contains '$2'"; fi
}

assert_match() { # FILE ERE — extended regex, case-insensitive
	grep -q -i -E -- "$2" "$1" || fail "$(basename "$1") has no line matching /$2/"
}

need() { # CMD... — skip the test (exit 77) when a tool is missing
	local c
	for c in "$@"; do
		if ! command -v "$c" >/dev/null 2>&1; then
			echo "SKIP: '$c' is not installed"
			exit 77
		fi
	done
}

# ---- processes -------------------------------------------------------------------------

_cleanup() {
	local rc=$? pid
	set +e
	for pid in "${_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${_PIDS[@]}"; do
		for _ in $(seq 1 30); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		_dump_logs >&2
	fi
	if [ "${CPM_KEEP_TMP:-0}" = 1 ]; then
		echo "temp dir kept: $T" >&2
	else
		rm -rf "$T"
	fi
	exit "$rc"
}
trap _cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

bg_start() { # NAME CMD... — run CMD in the background, output in $T/NAME.out; sets BG_PID
	local name=$1
	shift
	"$@" >"$T/$name.out" 2>&1 &
	BG_PID=$!
	_PIDS+=("$BG_PID")
}

bg_wait() { # PID [SECONDS] — wait for a background process; its exit code in BG_RC
	local pid=$1 secs=${2:-30} i
	for ((i = 0; i < secs * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		BG_RC=124
		return 0
	fi
	BG_RC=0
	wait "$pid" || BG_RC=$?
}

wait_for() { # SECONDS CMD... — poll CMD every 0.1 s until it succeeds; 1 on timeout
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 10; i++)); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	return 1
}

free_port() { # [LO HI] — a port free on 127.0.0.1 for both UDP and TCP, not handed out before
	# Candidates come from 20000-32767 by default, below the kernel's ephemeral range
	# (32768-60999 by default), so that no outgoing connection grabs them before their use.
	local p i lo=${1:-20000} hi=${2:-32767}
	for ((i = 0; i < 50; i++)); do
		p=$("$PYTHON" - "$lo" "$hi" <<'PY'
import random, socket, sys
for _ in range(500):
    port = random.randint(int(sys.argv[1]), int(sys.argv[2]))
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        t.bind(("127.0.0.1", port))
        u.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        t.close()
        u.close()
    print(port)
    break
PY
		)
		[ -n "$p" ] || continue
		case $_PORTS in *" $p "*) continue ;; esac
		_PORTS+="$p "
		echo "$p"
		return 0
	done
	fail "free_port: no free port found"
}

# ---- cpmd ----------------------------------------------------------------------------------

cpmd_config() { # write $CPMD_CONF (once); allocates SIP_PORT, HTTP_PORT and MSRP_PORT
	[ -f "$CPMD_CONF" ] && return 0
	# a 4-digit SIP port: sipsak 0.9.8.1 cuts a 5-digit port of its Request-URI to 4 digits
	[ -n "$SIP_PORT" ] || SIP_PORT=$(free_port 2000 9999)
	[ -n "$HTTP_PORT" ] || HTTP_PORT=$(free_port)
	[ -n "$MSRP_PORT" ] || MSRP_PORT=$(free_port)
	mkdir -p "$T/var"
	cat >"$CPMD_CONF" <<EOF
# written by tests/integration/lib.sh for $TEST_NAME
[server]
domain = example.test,127.0.0.1
data_dir = $T/var
log_level = info

[sip]
listen = udp:127.0.0.1:$SIP_PORT,tcp:127.0.0.1:$SIP_PORT

[http]
listen = 127.0.0.1:$HTTP_PORT

[msrp]
listen = 127.0.0.1:$MSRP_PORT

[store]
url = sqlite:$T/var/cpmd.db
EOF
}

cpmd() { # ARGS... — run "$CPMD -c $CPMD_CONF ARGS..." in the foreground
	cpmd_config
	"$CPMD" -c "$CPMD_CONF" "$@"
}

cpmd_start() { # [-o section.key=value ...] — start the server, wait until it is ready
	[ -x "$CPMD" ] || fail "no cpmd binary at $CPMD (run make)"
	cpmd_config
	[ -z "$CPMD_PID" ] || fail "cpmd_start: cpmd is already running (pid $CPMD_PID)"
	CPMD_EXTRA=("$@")
	echo "=== start $(date +%T.%N) ===" >>"$CPMD_LOG"
	local i start_line
	start_line=$(wc -l <"$CPMD_LOG")
	"$CPMD" -c "$CPMD_CONF" "$@" >>"$CPMD_LOG" 2>&1 &
	CPMD_PID=$!
	_PIDS+=("$CPMD_PID")
	for ((i = 0; i < 100; i++)); do
		if ! kill -0 "$CPMD_PID" 2>/dev/null; then
			local rc=0
			wait "$CPMD_PID" || rc=$?
			CPMD_PID=
			fail "cpmd exited during startup (exit $rc); see cpmd.log"
		fi
		if tail -n +"$((start_line + 1))" "$CPMD_LOG" | grep -q "cpmd ready"; then
			say "cpmd ready (pid $CPMD_PID, SIP 127.0.0.1:$SIP_PORT udp+tcp)"
			return 0
		fi
		# every second, also accept an answer to OPTIONS as "ready"
		if ((i % 10 == 9)) && command -v sipsak >/dev/null 2>&1 &&
			timeout 3 sipsak -s "sip:127.0.0.1:$SIP_PORT" >/dev/null 2>&1; then
			say "cpmd answers OPTIONS (pid $CPMD_PID, SIP 127.0.0.1:$SIP_PORT udp+tcp)"
			return 0
		fi
		sleep 0.1
	done
	fail "cpmd not ready after 10 s"
}

cpmd_stop() { # SIGTERM, wait (at most 20 s), assert exit code 0
	[ -n "$CPMD_PID" ] || fail "cpmd_stop: cpmd is not running"
	kill -TERM "$CPMD_PID" 2>/dev/null || true
	bg_wait "$CPMD_PID" 20
	local pid=$CPMD_PID
	CPMD_PID=
	[ "$BG_RC" -ne 124 ] || fail "cpmd (pid $pid) did not exit within 20 s of SIGTERM"
	[ "$BG_RC" -eq 0 ] || fail "cpmd exited with $BG_RC after SIGTERM (expected 0)"
	say "cpmd stopped cleanly (SIGTERM, exit 0)"
}

cpmd_restart() { # SIGTERM (exit 0 asserted), then start again with the same options
	cpmd_stop
	cpmd_start "${CPMD_EXTRA[@]}"
}

cpmd_kill9() {
	[ -n "$CPMD_PID" ] || fail "cpmd_kill9: cpmd is not running"
	kill -KILL "$CPMD_PID" 2>/dev/null || true
	wait "$CPMD_PID" 2>/dev/null || true
	CPMD_PID=
	say "cpmd killed (SIGKILL)"
}

cpmd_alive() {
	[ -n "$CPMD_PID" ] && kill -0 "$CPMD_PID" 2>/dev/null
}

cpmd_user_add() { # AOR PASSWORD
	cpmd user add "$1" --password "$2" >>"$T/user.out" 2>&1 ||
		fail "cpmd user add $1 failed: $(tail -n 3 "$T/user.out")"
}

# build/cpm against this server, with HOME=$T/home (no ~/.config/cpm/config of the user).
cpm() { # [--transport udp|tcp] ARGS...
	mkdir -p "$T/home"
	HOME=$T/home "$CPM" --server "127.0.0.1:$SIP_PORT" --timeout 10 "$@"
}

# Sanitizer reports in cpmd.log (ASan, UBSan, LSan).
assert_no_sanitizer_errors() { # [FILE]
	local f=${1:-$CPMD_LOG}
	if grep -E -q 'ERROR: (Address|Leak|Memory|Thread|Undefined)Sanitizer|runtime error:' "$f"; then
		grep -E -n -A20 'ERROR: [A-Za-z]+Sanitizer|runtime error:' "$f" | head -n 60 >&2
		fail "sanitizer error in $(basename "$f")"
	fi
}

# ---- SIP tools -----------------------------------------------------------------------------

sipmsg() { # ARGS... — tests/integration/sipmsg.py request --server 127.0.0.1:$SIP_PORT ARGS
	"$PYTHON" "$SIPMSG" request --server "127.0.0.1:$SIP_PORT" "$@"
}

# sipp_run SCENARIO [sipp args...] — a SIPp UAC against cpmd (127.0.0.1:$SIP_PORT), in the
# foreground: local/control/media ports unique, -nostdin -m 1 -timeout 30s (a later -m in
# the args wins), messages in $T/sipp-N-NAME.msg, errors in .err, screen in .out.
# Sets SIPP_LOG (the .msg file) and returns sipp's exit code (0: every call succeeded).
sipp_run() {
	local scen=$1
	shift
	[ -f "$scen" ] || scen=$SIPP_DIR/$scen
	_SIPP_SEQ=$((_SIPP_SEQ + 1))
	local base
	base=$T/sipp-$_SIPP_SEQ-$(basename "$scen" .xml)
	SIPP_LOG=$base.msg
	local p cp mp rc=0
	p=$(free_port)
	cp=$(free_port)
	mp=$(free_port)
	(cd "$T" && timeout -k 5 60 sipp "127.0.0.1:$SIP_PORT" -sf "$scen" -i 127.0.0.1 \
		-p "$p" -cp "$cp" -mp "$mp" -nostdin -m 1 -timeout 30s -timeout_error \
		-trace_msg -message_file "$base.msg" -trace_err -error_file "$base.err" \
		"$@" >"$base.out" 2>&1) || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "sipp $(basename "$scen") $* exited $rc; last errors:" >&2
		tail -n 15 "$base.err" >&2 2>/dev/null || true
	fi
	return "$rc"
}

# sipp_uas_start SCENARIO [sipp args...] — a SIPp UAS in the background on a free port.
# Sets UAS_PORT, UAS_PID and UAS_LOG (its message file, complete once it exits).
sipp_uas_start() {
	local scen=$1
	shift
	[ -f "$scen" ] || scen=$SIPP_DIR/$scen
	_SIPP_SEQ=$((_SIPP_SEQ + 1))
	local base
	base=$T/sipp-$_SIPP_SEQ-$(basename "$scen" .xml)
	UAS_LOG=$base.msg
	local cp mp
	UAS_PORT=$(free_port)
	cp=$(free_port)
	mp=$(free_port)
	(cd "$T" && exec timeout -k 5 90 sipp -sf "$scen" -i 127.0.0.1 -p "$UAS_PORT" \
		-cp "$cp" -mp "$mp" -nostdin -m 1 -timeout 60s \
		-trace_msg -message_file "$base.msg" -trace_err -error_file "$base.err" \
		"$@" >"$base.out" 2>&1) &
	UAS_PID=$!
	_PIDS+=("$UAS_PID")
	# bounded wait until it listens on UDP or TCP
	wait_for 5 _port_bound "$UAS_PORT" || fail "sipp UAS did not bind port $UAS_PORT"
}

_port_bound() {
	ss -H -lun "sport = :$1" 2>/dev/null | grep -q . || ss -H -ltn "sport = :$1" 2>/dev/null | grep -q .
}

sipp_uas_wait() { # [SECONDS] — wait for the UAS to exit; its code in BG_RC
	bg_wait "$UAS_PID" "${1:-30}"
}

# The values of a header in a saved message (long or compact name, case-insensitive).
hdr_values() { # FILE NAME [COMPACT]
	local re=$2
	[ -z "${3:-}" ] || re="($2|$3)"
	grep -i -E "^${re}[[:space:]]*:" "$1" | sed -E 's/^[^:]*:[[:space:]]*//' | tr -d '\r'
}

# Does a header of a saved message match an ERE (case-insensitive)?  NAME may be
# "Long|compact", e.g. "To|t".  (No "| grep -q" pipelines: they race with pipefail.)
hdr_has() { # FILE NAME ERE
	local v
	v=$(grep -i -E "^($2)[[:space:]]*:" "$1" | sed -E 's/^[^:]*:[[:space:]]*//' | tr -d '\r') || true
	grep -q -i -E -- "$3" <<<"$v"
}

# ---- SIPp media ports (appended for t_sf_matrix*.sh and t_sf_crash.sh) -------------------------

# media_port — a port P for SIPp's -mp: SIPp binds P (audio RTP) and P+2 (video RTP), and fails
# to start when P+2 is taken, so P+2 must be free as well.  A later -mp on the command line
# wins: `sipp_run SCENARIO -mp "$(media_port)" ...` overrides sipp_run's own choice.
# (Called through $(...), it cannot record P+2 in _PORTS: the check is whether it is bound now.)
media_port() {
	local p i
	for ((i = 0; i < 50; i++)); do
		p=$(free_port 20000 32760)
		if ! _port_bound "$((p + 2))" && ! _port_bound "$((p + 1))"; then
			echo "$p"
			return 0
		fi
	done
	fail "media_port: no free port P with P+2 free"
}

# bg_end PID SECONDS — wait for a background job started as `timeout ... CMD` (bg_start); past
# SECONDS, send it SIGTERM, which timeout(1) passes on to CMD.  (bg_wait alone would SIGKILL
# timeout(1) and leave CMD running on its own.)  Exit code in BG_RC, as bg_wait.
bg_end() {
	if ! wait_for "$2" _bg_gone "$1"; then
		kill -TERM "$1" 2>/dev/null || true
	fi
	bg_wait "$1" 5
}
_bg_gone() { ! kill -0 "$1" 2>/dev/null; }
