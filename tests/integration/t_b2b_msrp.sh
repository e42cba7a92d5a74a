#!/usr/bin/env bash
# Anchored MSRP chats, the standard form (issue 4: "an anchored session ... with the
# standard form"; docs/ARCHITECTURE.md "chat: B2BUA"): alice's INVITE offers
# "m=message ... TCP/MSRP" with a=cpm-anchor; the server terminates MSRP on both legs
# (b2b_msrp_ua.py):
#  - instant: bob's INVITE comes from the server with its own a=path, alice's answer names
#    the server, the server binds to bob (RFC 4975 §5.4, bob is passive), alice's SEND
#    reaches bob and bob's reply reaches alice through the server, BYE relayed; a bob who
#    connects himself (a=setup:active) and late gets what alice wrote before;
#  - S&F: bob hangs up; alice's leg stays and her next SEND is stored for bob, with the
#    session's history in the store; bob's phone registers and gets it (From alice);
#  - deferred: bob offline, the server answers alice (Warning); her SENDs are stored and
#    delivered when bob registers;
#  - b2bua.anchor=always anchors an MSRP offer without a=cpm-anchor (log line).
. "$(dirname "$0")/lib.sh"
need python3 sqlite3

cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
cpmd_start -o auth.trusted=127.0.0.0/8

ua() { "$PYTHON" "$LIB_DIR/b2b_msrp_ua.py" "$@" --sip-port "$SIP_PORT" --msrp-port "$MSRP_PORT"; }

check "instant: MSRP both ways through the server, BYE relayed"
ua session >"$T/s1.out" 2>&1 || fail "session: $(cat "$T/s1.out")"
cat "$T/s1.out"
assert_match "$CPMD_LOG" 'anchored \(MSRP/instant\)'
assert_match "$CPMD_LOG" "in-session MSRP message caller -> callee: 200"
assert_match "$CPMD_LOG" "in-session MSRP message callee -> caller: 200"

check "bob answers a=setup:active and connects 1 s late: alice's first message waits for him"
"$PYTHON" "$SIPMSG" request --server "127.0.0.1:$SIP_PORT" --method REGISTER --uri sip:example.test \
	--from bob@example.test --to bob@example.test --header 'Contact: *' --expires 0 \
	--user bob@example.test --password bob-secret --expect 200 >"$T/unreg0.out" 2>&1 || fail "unregister"
ua session --bob-active 1 >"$T/s1b.out" 2>&1 || fail "late bob: $(cat "$T/s1b.out")"
cat "$T/s1b.out"

check "S&F: bob leaves, alice's next message is stored for him; history; delivered on REGISTER"
# unregister bob's UA of the first part (it is gone)
"$PYTHON" "$SIPMSG" request --server "127.0.0.1:$SIP_PORT" --method REGISTER --uri sip:example.test \
	--from bob@example.test --to bob@example.test --header 'Contact: *' --expires 0 \
	--user bob@example.test --password bob-secret --expect 200 >"$T/unreg.out" 2>&1 || fail "unregister"
ua session --mode 'S&F' --leave >"$T/s2.out" 2>&1 || fail "S&F session: $(cat "$T/s2.out")"
cat "$T/s2.out"
wait_for 5 grep -q 'in-session message for bob@example.test: stored (202)' "$CPMD_LOG" ||
	fail "nothing stored for bob"
wait_for 5 test "$(sqlite3 "$T/var/cpmd.db" 'SELECT count(*) FROM b2b_messages')" = 3 ||
	fail "history: $(sqlite3 "$T/var/cpmd.db" 'SELECT sender, recipient, CAST(body AS TEXT) FROM b2b_messages')"
"$PYTHON" "$SIPMSG" request --server "127.0.0.1:$SIP_PORT" --method REGISTER --uri sip:example.test \
	--from bob@example.test --to bob@example.test --header 'Contact: *' --expires 0 \
	--user bob@example.test --password bob-secret --expect 200 >"$T/unreg2.out" 2>&1 || fail "unregister"
bg_start phone "$PYTHON" "$LIB_DIR/b2b_phone.py" "$SIP_PORT" bob@example.test 1 20
bg_wait "$BG_PID" 25
assert_eq "$BG_RC" 0 "bob's phone (got: $(cat "$T/phone.out"))"
grep -q -E '^MESSAGE from=.*<sip:alice@example\.test>.* body=are you still there\?$' "$T/phone.out" ||
	fail "delivery: $(cat "$T/phone.out")"

check "deferred: bob offline, alice's MSRP messages stored, delivered when he registers"
"$PYTHON" "$SIPMSG" request --server "127.0.0.1:$SIP_PORT" --method REGISTER --uri sip:example.test \
	--from bob@example.test --to bob@example.test --header 'Contact: *' --expires 0 \
	--user bob@example.test --password bob-secret --expect 200 >"$T/unreg3.out" 2>&1 || fail "unregister"
ua deferred >"$T/d.out" 2>&1 || fail "deferred: $(cat "$T/d.out")"
cat "$T/d.out"
bg_start phone2 "$PYTHON" "$LIB_DIR/b2b_phone.py" "$SIP_PORT" bob@example.test 2 20
bg_wait "$BG_PID" 25
assert_eq "$BG_RC" 0 "bob's phone (got: $(cat "$T/phone2.out"))"
grep '^MESSAGE' "$T/phone2.out" | sed -n 1p | grep -q 'body=msrp one$' || fail "first: $(cat "$T/phone2.out")"
grep '^MESSAGE' "$T/phone2.out" | sed -n 2p | grep -q 'body=msrp two$' || fail "second: $(cat "$T/phone2.out")"

check "b2bua.anchor=always: an MSRP offer without a=cpm-anchor is anchored too"
cpmd_stop
cpmd_start -o auth.trusted=127.0.0.0/8 -o b2bua.anchor=always
"$PYTHON" "$SIPMSG" request --server "127.0.0.1:$SIP_PORT" --method REGISTER --uri sip:example.test \
	--from bob@example.test --to bob@example.test --header 'Contact: *' --expires 0 \
	--user bob@example.test --password bob-secret --expect 200 >"$T/unreg4.out" 2>&1 || fail "unregister"
ua deferred --mode none >"$T/always.out" 2>&1 || fail "anchor=always: $(cat "$T/always.out")"
assert_match "$CPMD_LOG" 'anchored \(MSRP/instant, by policy\)'

cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
echo PASS
