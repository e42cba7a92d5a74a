#!/usr/bin/env bash
# The busy callee (issue 5, seed 000 Example 1: "the caller's chat is offered the store-and-
# forward path"): bob's phone is registered but bob published busy (RPID):
#  - alice's anchored chat INVITE is not forked to the phone: the server answers it 200 for
#    bob, with a Warning saying he is busy and that messages will be stored;
#  - alice's MESSAGEs get 202 and wait (the phone gets nothing while bob is busy);
#  - bob publishes that he is no longer busy: the stored messages reach his phone, in
#    order, From alice, with her Date;
#  - bob's profile refuses storage: the INVITE gets presence.busy_status (486), as without
#    the B2BUA.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/call_lib.sh"
. "$(dirname "$0")/b2b_lib.sh"
need sipp python3

cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
cpmd_start -o auth.trusted=127.0.0.0/8 -o presence.min_notify_interval=0

SEED='m=messaging 3456 IMTP/instant MESSAGE/instant html'
pidf() { # ACTIVITY-ELEMENT
	printf '%s' '<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:bob@example.test"><tuple id="t1"><status><basic>open</basic></status></tuple><dm:person id="p1"><rpid:activities>'"$1"'</rpid:activities></dm:person></presence>'
}
publish() { # ACTIVITY-ELEMENT OUT
	call_sipmsg --method PUBLISH --uri sip:bob@example.test --from bob@example.test --to bob@example.test \
		--header "Event: presence" --header "Expires: 120" --ctype application/pidf+xml \
		--body "$(pidf "$1")" >"$2" 2>&1 || true
	assert_contains "$2" "STATUS 200"
}

check "bob's phone registers, bob publishes busy; alice's chat is answered by the server"
bg_start phone "$PYTHON" "$LIB_DIR/b2b_phone.py" "$SIP_PORT" bob@example.test 2 40
phone=$BG_PID
wait_for 5 grep -q '^REGISTER 200' "$T/phone.out" || fail "bob's phone: $(cat "$T/phone.out")"
publish '<rpid:busy/>' "$T/pub1.out"
sipp_run b2b_uac_store.xml -s bob -key from_user alice -key domain example.test \
	-key mline "$SEED" -key msg 'lunch at noon?' -key msg2 'ping me' || fail "the caller's side"
call_msg_to "$T/200" "$SIPP_LOG" received '^SIP/2\.0 200 .*'
hdr_has "$T/200" Warning '^399 cpmd "bob@example\.test is busy: your messages will be stored and delivered later"$' ||
	fail "Warning: $(hdr_values "$T/200" Warning)"
assert_match "$CPMD_LOG" 'deferred chat sip:alice@example.test -> bob@example.test \(busy\)'
assert_eq "$(grep -c 'in-session message for bob@example.test: stored' "$CPMD_LOG")" 2 "stored messages"
sleep 1
assert_not_contains "$T/phone.out" "REQUEST INVITE"
assert_not_contains "$T/phone.out" "MESSAGE from="

check "bob is no longer busy: the stored messages reach his phone"
publish '<rpid:unknown/>' "$T/pub2.out"
bg_wait "$phone" 20
assert_eq "$BG_RC" 0 "bob's phone (got: $(cat "$T/phone.out"))"
assert_match "$CPMD_LOG" 'bob@example.test is back \(presence open, no longer busy\)'
b2b_phone_got "$T/phone.out" 'lunch at noon\?' 'ping me'

check "bob busy again, his profile refuses storage: 486 with a Warning"
publish '<rpid:busy/>' "$T/pub3.out"
cpmd user set bob@example.test store-and-forward=no >"$T/set.out" 2>&1 || fail "user set: $(cat "$T/set.out")"
call_sipmsg --method INVITE --uri sip:bob@example.test --from alice@example.test --to bob@example.test \
	--contact auto --ctype application/sdp --timeout 5 --final "$T/486.txt" \
	--body $'v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n'"$SEED"$'\r\n' \
	>"$T/486.out" 2>&1 || true
assert_contains "$T/486.out" "STATUS 486"
hdr_has "$T/486.txt" Warning '^399 cpmd "bob@example\.test is busy"$' || fail "486 Warning: $(hdr_values "$T/486.txt" Warning)"

cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
echo PASS
