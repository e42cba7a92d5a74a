#!/usr/bin/env bash
# Deferred 1:1 chat (issue 4, "Deferred 1:1 chat"; seeds 001/002): an anchored chat INVITE
# for a user who is offline (no binding) is answered by the server for the user:
#  - 200 with a Warning (RFC 3261 §20.43, code 399) saying the user is offline and that the
#    messages will be stored; the answer's SDP points at the server;
#  - each MESSAGE alice sends in the session is stored for bob: 202;
#  - bob's phone registers: both messages arrive, in order, From alice, original Date;
#  - bob's profile says store-and-forward=no: the same INVITE gets 480 (as without the
#    B2BUA), with a Warning; an unknown user gets 404; b2bua.deferred=no: 480 from core.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/call_lib.sh"
. "$(dirname "$0")/b2b_lib.sh"
need sipp python3

cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
cpmd_start -o auth.trusted=127.0.0.0/8

SEED='m=messaging 3456 IMTP/instant MESSAGE/instant html'
BODY=$'v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n'"$SEED"$'\r\n'

check "bob is offline: the server answers for him (200 + Warning), alice's messages get 202"
sipp_run b2b_uac_store.xml -s bob -key from_user alice -key domain example.test \
	-key mline "$SEED" -key msg 'are you there?' -key msg2 'call me back' ||
	fail "the caller's side"
call_msg_to "$T/200" "$SIPP_LOG" received '^SIP/2\.0 200 .*'
hdr_has "$T/200" Warning '^399 cpmd "bob@example\.test is offline: your messages will be stored and delivered later"$' ||
	fail "Warning: $(hdr_values "$T/200" Warning)"
grep -q -E "^m=messaging $SIP_PORT MESSAGE/instant html" "$T/200" || fail "answer: $(grep '^m=' "$T/200")"
assert_match "$CPMD_LOG" 'deferred chat sip:alice@example.test -> bob@example.test \(offline\): answered for the callee'
assert_eq "$(grep -c 'in-session message for bob@example.test: stored' "$CPMD_LOG")" 2 "stored messages"

check "bob's phone registers: both messages, in order, From alice, original Date"
bg_start phone "$PYTHON" "$LIB_DIR/b2b_phone.py" "$SIP_PORT" bob@example.test 2 20
bg_wait "$BG_PID" 25
assert_eq "$BG_RC" 0 "bob's phone (got: $(cat "$T/phone.out"))"
b2b_phone_got "$T/phone.out" 'are you there\?' 'call me back'

check "bob's profile refuses storage: 480 with a Warning; an unknown user: 404"
cpmd user set bob@example.test store-and-forward=no >"$T/set.out" 2>&1 || fail "user set: $(cat "$T/set.out")"
# bob's phone is gone but its binding lives: unregister it (sipmsg over the trusted source)
call_sipmsg --method REGISTER --uri sip:example.test --from bob@example.test --to bob@example.test \
	--header 'Contact: *' --expires 0 --user bob@example.test --password bob-secret --expect 200 >"$T/unreg.out" 2>&1 ||
	fail "unregister: $(tail -n 3 "$T/unreg.out")"
call_sipmsg --method INVITE --uri sip:bob@example.test --from alice@example.test --to bob@example.test \
	--contact auto --ctype application/sdp --timeout 5 --body "$BODY" --final "$T/no.txt" >"$T/no.out" 2>&1 || true
assert_contains "$T/no.out" "STATUS 480"
hdr_has "$T/no.txt" Warning '^399 cpmd "bob@example\.test is offline"$' || fail "480 Warning: $(hdr_values "$T/no.txt" Warning)"
call_sipmsg --method INVITE --uri sip:carol@example.test --from alice@example.test --to carol@example.test \
	--contact auto --ctype application/sdp --timeout 5 --body "$BODY" >"$T/carol.out" 2>&1 || true
assert_contains "$T/carol.out" "STATUS 404"

check "b2bua.deferred=no: core's 480 for an offline user, nothing anchored"
cpmd_stop
cpmd user set bob@example.test store-and-forward=yes >"$T/set2.out" 2>&1 || fail "user set: $(cat "$T/set2.out")"
cpmd_start -o auth.trusted=127.0.0.0/8 -o b2bua.deferred=no
call_sipmsg --method INVITE --uri sip:bob@example.test --from alice@example.test --to bob@example.test \
	--contact auto --ctype application/sdp --timeout 5 --body "$BODY" >"$T/off.out" 2>&1 || true
assert_contains "$T/off.out" "STATUS 480"
assert_match "$CPMD_LOG" 'INVITE to bob@example.test: not registered'

cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
echo PASS
