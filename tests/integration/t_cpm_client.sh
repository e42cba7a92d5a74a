#!/usr/bin/env bash
# The `cpm` client against cpmd, over UDP and TCP:
#  - cpm options -> exit 0; cpm register -> exit 0, "registered ... (expires N)";
#    cpm register --unregister -> exit 0;
#  - bob runs `cpm listen --count 1` in the background; alice's `cpm send` -> exit 0, and
#    bob's listen prints "alice@example.test: TEXT" and exits 0;
#  - a wrong password -> exit 1 with a clear error message.
. "$(dirname "$0")/lib.sh"
need python3
[ -x "$CPM" ] || fail "no cpm binary at $CPM (run make)"

cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
cpmd_start

bob_query() { # REGISTER query for bob (RFC 3261 §10.2.3): 0 if answered 200
	rm -f "$T/bobq.txt"
	sipmsg --method REGISTER --uri sip:example.test --from bob@example.test --to bob@example.test \
		--user bob@example.test --password bob-secret --expect 200 --final "$T/bobq.txt" \
		>"$T/bobq.log" 2>&1
}
bob_bound() { bob_query && grep -q -i -E '^(Contact|m)[[:space:]]*:.*sip:' "$T/bobq.txt"; }
bob_unbound() { bob_query && ! grep -q -i -E '^(Contact|m)[[:space:]]*:.*sip:' "$T/bobq.txt"; }

for tr in udp tcp; do
	check "$tr: cpm options -> exit 0"
	cpm --transport "$tr" options >"$T/opt-$tr.out" 2>&1 || fail "cpm options over $tr: $(cat "$T/opt-$tr.out")"

	check "$tr: cpm register / register --unregister (alice) -> exit 0"
	cpm --transport "$tr" --user alice@example.test --password alice-secret register --expires 120 \
		>"$T/reg-$tr.out" 2>&1 || fail "cpm register over $tr: $(cat "$T/reg-$tr.out")"
	assert_match "$T/reg-$tr.out" 'registered alice@example\.test at .*\(expires [0-9]+\)'
	cpm --transport "$tr" --user alice@example.test --password alice-secret register --unregister \
		>"$T/unreg-$tr.out" 2>&1 || fail "cpm register --unregister over $tr: $(cat "$T/unreg-$tr.out")"

	check "$tr: bob listens (--count 1), alice sends -> bob prints 'alice@example.test: TEXT'"
	text="hello bob over $tr, from alice #$RANDOM"
	bg_start "listen-$tr" "$CPM" --server "127.0.0.1:$SIP_PORT" --transport "$tr" \
		--user bob@example.test --password bob-secret listen --count 1 --duration 30
	listen_pid=$BG_PID
	export HOME=$T/home # as the cpm wrapper does, for the background run too
	wait_for 10 bob_bound || fail "bob's cpm listen did not register within 10 s: $(cat "$T/listen-$tr.out")"
	cpm --transport "$tr" --user alice@example.test --password alice-secret \
		send bob@example.test "$text" >"$T/send-$tr.out" 2>&1 ||
		fail "cpm send over $tr: $(cat "$T/send-$tr.out")"
	bg_wait "$listen_pid" 15
	assert_eq "$BG_RC" 0 "cpm listen --count 1 exit code"
	grep -q -F "alice@example.test: $text" "$T/listen-$tr.out" ||
		fail "listen did not print 'alice@example.test: $text': $(cat "$T/listen-$tr.out")"
	check "$tr: bob's binding is removed when listen exits"
	wait_for 5 bob_unbound || fail "bob's binding is still listed after listen exited: $(cat "$T/bobq.txt")"
done

check "cpm send with a wrong password -> exit 1 and a clear error"
rc=0
cpm --user alice@example.test --password wrong-password send bob@example.test "x" \
	>"$T/wrong.out" 2>&1 || rc=$?
assert_eq "$rc" 1 "cpm exit code with a wrong password"
cat "$T/wrong.out"
assert_match "$T/wrong.out" '(auth|password|credential|forbidden|403)'

check "cpm register with a wrong password -> exit 1"
rc=0
cpm --user alice@example.test --password wrong-password register >"$T/wrong2.out" 2>&1 || rc=$?
assert_eq "$rc" 1 "cpm register exit code with a wrong password"
assert_match "$T/wrong2.out" '(auth|password|credential|forbidden|403)'

cpmd_alive || fail "cpmd died"
cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
echo "PASS"
