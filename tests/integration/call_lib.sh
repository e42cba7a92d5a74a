# shellcheck shell=bash
# tests/integration/call_lib.sh — helpers for the call/dialog tests (t_call_*.sh,
# t_baresip*.sh), sourced after lib.sh.  Nothing here edits lib.sh's state except through
# its own helpers (free_port, bg_start, fail, ...).
# shellcheck disable=SC2034

# A pyenv shim python3 on PATH costs about 2 s per start (lib.sh's free_port runs it for
# every port); the system python3 (stdlib only is needed) is put first on PATH for this test.
if [ -x /usr/bin/python3 ]; then
	CALL_PY=/usr/bin/python3
	mkdir -p "$T/bin"
	ln -sf /usr/bin/python3 "$T/bin/python3"
	PATH=$T/bin:$PATH
else
	CALL_PY=python3
fi

# call_sipmsg ARGS... — like lib.sh's sipmsg, with $CALL_PY.
call_sipmsg() {
	"$CALL_PY" "$SIPMSG" request --server "127.0.0.1:$SIP_PORT" "$@"
}

# call_register AOR PASSWORD CONTACT [EXPIRES] — REGISTER one Contact for AOR with digest
# credentials (sipmsg.py over UDP); fails the test unless the answer is 200.
call_register() {
	local aor=$1 pw=$2 contact=$3 exp=${4:-600} f
	f=$T/reg-$(printf '%s' "$aor$contact" | md5sum | cut -c1-8).txt
	call_sipmsg --method REGISTER --uri "sip:${aor#*@}" --from "$aor" --to "$aor" \
		--contact "$contact" --expires "$exp" --user "$aor" --password "$pw" \
		--expect 200 --final "$f" >"$f.log" 2>&1 ||
		fail "REGISTER $aor -> $contact: $(tail -n 2 "$f.log" | tr '\n' ' ')"
}

# call_msg LOG DIR ERE [N] — print the N-th (default 1) message of a SIPp -trace_msg log
# whose direction is DIR ("sent" or "received") and whose first line matches ERE (Python
# regex); exit 1 when there is none.  Lines end with LF (no CR).
call_msg() {
	"$CALL_PY" - "$@" <<'PY'
import re, sys
log, want, ere = sys.argv[1], sys.argv[2], sys.argv[3]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 1
text = open(log, encoding="utf-8", errors="replace").read().replace("\r", "")
# SIPp blocks: "----...---- <time>\n<PROTO> message (sent|received) [from|to ...]...:\n\n<msg>"
parts = re.split(r"^-{20,}[^\n]*\n", text, flags=re.M)
k = 0
for p in parts:
    m = re.match(r"[^\n]*message (sent|received)[^\n]*\n+", p)
    if not m or m.group(1) != want:
        continue
    msg = p[m.end():].strip("\n")
    if not msg or not re.search(ere, msg.split("\n", 1)[0]):
        continue
    k += 1
    if k == n:
        print(msg)
        sys.exit(0)
sys.exit(1)
PY
}

# call_msg_to FILE LOG DIR ERE [N] — call_msg into FILE; fails the test when missing.
call_msg_to() {
	local out=$1
	shift
	call_msg "$@" >"$out" || fail "no $2 message matching /$3/ (#${4:-1}) in $(basename "$1")"
}

# call_count LOG DIR ERE — how many such messages the log holds.
call_count() {
	local n=0
	while call_msg "$1" "$2" "$3" $((n + 1)) >/dev/null; do n=$((n + 1)); done
	echo "$n"
}

# call_via_count FILE — the number of Via values in a message (all Via/v lines, commas).
call_via_count() {
	grep -i -E '^(Via|v)[[:space:]]*:' "$1" | sed -E 's/^[^:]*://' | tr ',' '\n' | grep -c . || true
}

# call_sipp_uas NAME SCENARIO [sipp args] — like sipp_uas_start, but keeps the PID, port
# and log in variables named NAME_PID, NAME_PORT, NAME_LOG (several UAS at once).
call_sipp_uas() {
	local name=$1
	shift
	sipp_uas_start "$@"
	echo "$UAS_PID" >>"$T/soft.pids"
	printf -v "${name}_PID" '%s' "$UAS_PID"
	printf -v "${name}_PORT" '%s' "$UAS_PORT"
	printf -v "${name}_LOG" '%s' "$UAS_LOG"
}

# call_wait_uas NAME [SECONDS] — wait for that UAS to exit, fail unless exit code 0.
call_wait_uas() {
	local pid_var=${1}_PID log_var=${1}_LOG
	bg_wait "${!pid_var}" "${2:-30}"
	if [ "$BG_RC" -ne 0 ]; then
		tail -n 20 "${!log_var%.msg}.err" >&2 2>/dev/null || true
		fail "SIPp UAS $1 exited $BG_RC"
	fi
}

# call_log_has ERE — does cpmd.log have a line matching ERE?
call_log_has() {
	grep -q -E -- "$1" "$CPMD_LOG"
}

# call_scenario_code SCENARIO CODE REASON — a copy of sipp/SCENARIO in $T with
# "486 Busy Here" replaced by "CODE REASON" (SIPp validates status codes at load time, so
# they cannot be -key values); prints the copy's path.
call_scenario_code() {
	local out=$T/${1%.xml}-$2.xml
	sed "s/486 Busy Here/$2 $3/" "$SIPP_DIR/$1" >"$out"
	echo "$out"
}

# call_soft FUNC [ARGS] — run one test step (a shell function) in a subshell so that its
# failure is recorded (CALL_SOFT_FAILED) instead of ending the test at once; its output is
# shown, SIPp UAS it left behind (call_sipp_uas) are stopped.  End the test with
# call_soft_end.
CALL_SOFT_FAILED=()
call_soft() {
	local rc=0 out=$T/soft-$((${#CALL_SOFT_FAILED[@]} + _SIPP_SEQ)).out
	: >"$T/soft.pids"
	("$@") >"$out" 2>&1 || rc=$?
	cat "$out"
	_SIPP_SEQ=$((_SIPP_SEQ + 20)) # the subshell's SIPp file names are not reused
	local pid
	while read -r pid; do kill -TERM "$pid" 2>/dev/null || true; done <"$T/soft.pids"
	if [ "$rc" -ne 0 ]; then
		CALL_SOFT_FAILED+=("$1: $(grep -o -E 'FAIL: .*' "$out" | head -n 1)")
	fi
	return 0
}

call_soft_end() {
	[ "${#CALL_SOFT_FAILED[@]}" -eq 0 ] ||
		fail "${#CALL_SOFT_FAILED[@]} step(s) failed: $(printf '%s; ' "${CALL_SOFT_FAILED[@]}")"
}
