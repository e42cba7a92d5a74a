#!/usr/bin/env bash
# Delivery reports (issue 3; seed 001 claims 9-11, seed 002 store command "notify",
# RFC 5438 IMDN):
#  - alice asks for reports (Request-Disposition: notify) on a MESSAGE to offline bob:
#    202, and alice, who is online, gets an IMDN "stored" (processing notification);
#  - bob registers and takes the message: alice gets an IMDN "delivered" naming the same
#    message-id;
#  - a message that expires before bob comes back (sender Expires: 2, RFC 3428 §7) gives
#    alice an IMDN "failed";
#  - reports to an offline sender are stored and reach her when she registers;
#  - without "notify", no report at all.
. "$(dirname "$0")/lib.sh"
need python3
[ -x "$CPM" ] || fail "no cpm binary at $CPM (run make)"

cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
cpmd_start -o im.sweep_interval=1

send() { # TEXT [options] — alice sends to bob
	local text=$1
	shift
	cpm --user alice@example.test --password alice-secret send "$@" bob@example.test "$text" \
		>"$T/send.out" 2>&1 || true
}
listen() { # NAME USER PASS COUNT SECONDS — cpm listen --json in the background
	bg_start "$1" "$CPM" --server "127.0.0.1:$SIP_PORT" --user "$2" --password "$3" \
		listen --count "$4" --duration "$5" --json
}
reports() { # FILE -> "status message-id" per IMDN received
	python3 - "$1" <<'PY'
import json, re, sys
for l in open(sys.argv[1]):
    if not l.startswith("{"):
        continue
    m = json.loads(l)
    if m["content_type"] != "message/imdn+xml":
        continue
    st = re.search(r"<status><(\w+)/></status>", m["body"]).group(1)
    mid = re.search(r"<message-id>([^<]*)</message-id>", m["body"]).group(1)
    print(st, mid, m["from"])
PY
}

check "alice is online; alice -> offline bob with Request-Disposition: notify -> 202 + IMDN stored"
listen alice-1 alice@example.test alice-secret 2 40
alice_pid=$BG_PID
sleep 1.5
send "please tell me when bob reads this" --header "Request-Disposition: notify"
assert_contains "$T/send.out" "202 Accepted"
wait_for 10 grep -q 'stored/' "$T/alice-1.out" || fail "no IMDN stored reached alice: $(cat "$T/alice-1.out")"

check "bob registers and takes it -> alice gets IMDN delivered for the same message-id"
listen bob-1 bob@example.test bob-secret 1 20
bg_wait "$BG_PID" 25
[ "$BG_RC" -eq 0 ] || fail "bob got nothing: $(cat "$T/bob-1.out")"
bg_wait "$alice_pid" 30
reports "$T/alice-1.out" >"$T/r1.txt"
cat "$T/r1.txt"
[ "$(awk '{print $1}' "$T/r1.txt" | tr '\n' ' ')" = "stored delivered " ] ||
	fail "expected reports 'stored delivered', got: $(cat "$T/r1.txt")"
[ "$(awk '{print $2}' "$T/r1.txt" | sort -u | wc -l)" -eq 1 ] || fail "the two reports name different message-ids"
grep -q "bob@example.test" "$T/r1.txt" || fail "reports do not come from bob's address"

check "alice offline: a message that expires (Expires: 2) -> IMDN failed, stored for alice"
send "this one will expire" --header "Request-Disposition: notify" --header "Expires: 2"
assert_contains "$T/send.out" "202 Accepted"
sleep 4
listen alice-2 alice@example.test alice-secret 2 20
bg_wait "$BG_PID" 25
reports "$T/alice-2.out" >"$T/r2.txt"
cat "$T/r2.txt"
[ "$(awk '{print $1}' "$T/r2.txt" | tr '\n' ' ')" = "stored failed " ] ||
	fail "expected 'stored failed' for the expired message, got: $(cat "$T/r2.txt")"

check "no notify: no report"
send "no report wanted"
assert_contains "$T/send.out" "202 Accepted"
listen alice-3 alice@example.test alice-secret 1 3
bg_wait "$BG_PID" 10
if grep -q 'imdn' "$T/alice-3.out"; then
	fail "a report was sent without being asked for: $(cat "$T/alice-3.out")"
fi

cpmd_stop
assert_no_sanitizer_errors
