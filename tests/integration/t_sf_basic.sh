#!/usr/bin/env bash
# Store-and-forward, first step (issue 3; R15-R16, R22-R26, R31-R33 of the seeds digest):
#  - a MESSAGE to a known user with no binding is stored and answered 202 Accepted
#    (RFC 3428 §4), only once it is on disk: it survives SIGTERM and kill -9;
#  - the sender's "Content-Disposition: instant" and "Request-Disposition: do-not-store"
#    get 480 and nothing is stored; an unknown user still gets 404;
#  - when the user registers, the messages arrive in arrival order with the original
#    From, the original Date and the body unchanged, each with a stable Call-ID;
#  - a message is delivered once: registering again brings nothing new;
#  - with im.store_and_forward=no the answer is 480 again.
. "$(dirname "$0")/lib.sh"
need python3 sqlite3
[ -x "$CPM" ] || fail "no cpm binary at $CPM (run make)"

cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
cpmd_start

send() { # TEXT [cpm send options...] -> the cpm output in $T/send.out, exit code in SEND_RC
	local text=$1
	shift
	SEND_RC=0
	cpm --user alice@example.test --password alice-secret send "$@" bob@example.test "$text" \
		>"$T/send.out" 2>&1 || SEND_RC=$?
}
stored_count() {
	sqlite3 "$T/var/cpmd.db" "select count(*) from messages where recipient='bob@example.test' and state=0" 2>/dev/null || echo "?"
}

check "bob has no binding: three MESSAGEs -> 202 Accepted each"
for i in 1 2 3; do
	send "stored message #$i for bob"
	[ "$SEND_RC" -eq 0 ] || fail "send #$i: exit $SEND_RC: $(cat "$T/send.out")"
	assert_contains "$T/send.out" "202 Accepted"
done
assert_eq "$(stored_count)" 3 "messages waiting in the database"

check "Content-Disposition: instant (R16) -> 480, not stored"
send "instant message" --header "Content-Disposition: instant"
[ "$SEND_RC" -ne 0 ] || fail "an instant MESSAGE to an offline user succeeded: $(cat "$T/send.out")"
assert_contains "$T/send.out" "480"
check "Request-Disposition: do-not-store (R26) -> 480, not stored"
send "do not store me" --header "Request-Disposition: do-not-store"
assert_contains "$T/send.out" "480"
assert_eq "$(stored_count)" 3 "messages waiting after the refused ones"

check "unknown user -> 404 (nothing stored for users that do not exist)"
rc=0
cpm --user alice@example.test --password alice-secret send nobody@example.test "x" >"$T/nobody.out" 2>&1 || rc=$?
assert_contains "$T/nobody.out" "404"

check "durability: a 202 survives SIGTERM, and a 202 survives kill -9"
cpmd_restart
send "stored message #4 for bob, then kill -9"
assert_contains "$T/send.out" "202 Accepted"
cpmd_kill9
cpmd_start
assert_eq "$(stored_count)" 4 "messages waiting after kill -9"

check "bob registers: the 4 messages arrive in order, original From, Date and body, stable Call-ID"
bg_start listen "$CPM" --server "127.0.0.1:$SIP_PORT" --user bob@example.test \
	--password bob-secret listen --count 4 --duration 20 --json
bg_wait "$BG_PID" 25
[ "$BG_RC" -eq 0 ] || fail "bob's listen exited $BG_RC: $(cat "$T/listen.out")"
python3 - "$T/listen.out" <<'PY' || fail "delivered messages are wrong (see above)"
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
bodies = [m["body"] for m in msgs]
want = ["stored message #%d for bob" % i for i in (1, 2, 3)] + ["stored message #4 for bob, then kill -9"]
print("   delivered:", bodies)
assert bodies == want, "order/body: %r" % bodies
for m in msgs:
    assert m["from"] == "alice@example.test", m["from"]
    assert m["call_id"].endswith("@sf.cpmd"), m["call_id"]
    assert m["date"].endswith(" GMT"), m["date"]
assert len({m["call_id"] for m in msgs}) == 4
PY
none_waiting() { [ "$(stored_count)" = 0 ]; }
wait_for 5 none_waiting || fail "still $(stored_count) messages marked waiting after delivery"

check "delivered once: bob registers again and gets nothing"
bg_start listen2 "$CPM" --server "127.0.0.1:$SIP_PORT" --user bob@example.test \
	--password bob-secret listen --duration 3 --json
bg_wait "$BG_PID" 10
if grep -q '^{' "$T/listen2.out"; then
	fail "messages delivered twice: $(cat "$T/listen2.out")"
fi

check "with im.store_and_forward=no the same MESSAGE gets 480"
cpmd_stop
cpmd_start -o im.store_and_forward=no
send "not stored"
assert_contains "$T/send.out" "480"

cpmd_stop
assert_no_sanitizer_errors
