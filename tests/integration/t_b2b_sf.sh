#!/usr/bin/env bash
# shellcheck disable=SC2154 # callee_PORT, callee_LOG are set by call_sipp_uas (call_lib.sh)
# An anchored session in S&F mode (issue 4; seed 001: "IMTP/S&F MESSAGE/S&F", R55/R56):
#  - bob answers alice's session and leaves at once (BYE): in S&F mode the server keeps
#    alice's leg (no BYE to her);
#  - alice's two MESSAGEs, for a participant who is no longer in the session, are handed
#    to store-and-forward: 202 each;
#  - the session's history is in the store (b2b_messages: sender, recipient, date, body);
#  - bob's phone registers: it gets both messages, in order, with alice as From and her
#    original Date (RFC 3261 §20.17);
#  - the other way round: alice leaves at once, bob's MESSAGE is stored for her (202) and
#    her phone gets it when it registers (From bob: the callee's AoR, his Date);
#  - bob's device answers 480 (he never answers): in S&F mode the server answers alice
#    for him (Warning "not answering") and stores her messages.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/call_lib.sh"
. "$(dirname "$0")/b2b_lib.sh"
need sipp python3 sqlite3

cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
cpmd_start -o auth.trusted=127.0.0.0/8

SF='m=messaging 3456 IMTP/S&F MESSAGE/S&F html'

check "bob answers and leaves; alice's messages are stored for him (202)"
call_sipp_uas callee b2b_uas_leave.xml -key user bob -key domain example.test \
	-key mline 'm=messaging 4567 MESSAGE/S&F html'
call_register bob@example.test bob-secret "sip:bob@127.0.0.1:${callee_PORT}"
sipp_run b2b_uac_store.xml -s bob -key from_user alice -key domain example.test \
	-key mline "$SF" -key msg 'first, while you were away' -key msg2 'second one' ||
	fail "the caller's side"
caller=$SIPP_LOG
call_wait_uas callee 20
call_msg_to "$T/inv" "$callee_LOG" received '^INVITE '
grep -q -E "^m=messaging $SIP_PORT MESSAGE/S&F html" "$T/inv" || fail "bob's offer: $(grep '^m=' "$T/inv")"
assert_eq "$(call_count "$caller" received '^BYE ')" 0 "BYEs to alice (S&F keeps her leg)"
assert_match "$CPMD_LOG" 'the callee left \(BYE\)'
assert_match "$CPMD_LOG" 'in-session message for bob@example.test: stored \(202\)'
assert_eq "$(grep -c 'in-session message for bob@example.test: stored' "$CPMD_LOG")" 2 "stored messages"

check "the session's history is in the store"
db=$T/var/cpmd.db
wait_for 5 test "$(sqlite3 "$db" 'SELECT count(*) FROM b2b_messages')" = 2 ||
	fail "history rows: $(sqlite3 "$db" 'SELECT * FROM b2b_messages')"
sqlite3 -separator '|' "$db" 'SELECT sender, recipient, date, CAST(body AS TEXT) FROM b2b_messages ORDER BY id' >"$T/hist"
head -n 1 "$T/hist" | grep -q -E '^sip:alice@example\.test\|sip:bob@example\.test\|1796014801\|first, while you were away' ||
	fail "history: $(cat "$T/hist")"

check "bob's phone registers: both messages, in order, From alice, original Date"
call_register bob@example.test bob-secret "sip:bob@127.0.0.1:${callee_PORT}" 0
bg_start phone "$PYTHON" "$LIB_DIR/b2b_phone.py" "$SIP_PORT" bob@example.test 2 20
phone=$BG_PID
bg_wait "$phone" 25
assert_eq "$BG_RC" 0 "bob's phone (got: $(cat "$T/phone.out"))"
b2b_phone_got "$T/phone.out" 'first, while you were away' 'second one'

check "alice leaves first; bob's message is stored for her, delivered on REGISTER"
call_sipp_uas callee2 b2b_uas_store.xml -key user bob -key domain example.test \
	-key mline 'm=messaging 4567 MESSAGE/S&F html' -key msg 'sorry, I was away'
call_register bob@example.test bob-secret "sip:bob@127.0.0.1:${callee2_PORT}"
sipp_run b2b_uac_leave.xml -s bob -key from_user alice -key domain example.test -key mline "$SF" ||
	fail "the caller's side"
call_wait_uas callee2 20
assert_match "$CPMD_LOG" 'the caller left \(BYE\)'
wait_for 5 grep -q 'in-session message for alice@example.test: stored (202)' "$CPMD_LOG" ||
	fail "nothing stored for alice"
bg_start aphone "$PYTHON" "$LIB_DIR/b2b_phone.py" "$SIP_PORT" alice@example.test 1 20
bg_wait "$BG_PID" 25
assert_eq "$BG_RC" 0 "alice's phone (got: $(cat "$T/aphone.out"))"
grep -q -E '^MESSAGE from=<sip:bob@example\.test>;tag=[^ ]* date=Mon, 30 Nov 2026 05:10:00 GMT body=sorry, I was away$' "$T/aphone.out" ||
	fail "delivery to alice: $(cat "$T/aphone.out")"

check "S&F, bob's device answers 480 (never answered): the server answers alice, her messages are stored"
call_sipmsg --method REGISTER --uri sip:example.test --from bob@example.test --to bob@example.test \
	--header 'Contact: *' --expires 0 --user bob@example.test --password bob-secret --expect 200 \
	>"$T/unreg.out" 2>&1 || fail "unregister bob: $(tail -n 3 "$T/unreg.out")"
scen=$(call_scenario_code call_uas_reject.xml 480 "Temporarily Unavailable")
call_sipp_uas rej "$scen"
call_register bob@example.test bob-secret "sip:bob@127.0.0.1:${rej_PORT}"
sipp_run b2b_uac_store.xml -s bob -key from_user alice -key domain example.test \
	-key mline "$SF" -key msg 'third' -key msg2 'fourth' || fail "the caller's side"
call_wait_uas rej 20
call_msg_to "$T/200na" "$SIPP_LOG" received '^SIP/2\.0 200 .*'
hdr_has "$T/200na" Warning '^399 cpmd "bob@example\.test is not answering: your messages will be stored and delivered later"$' ||
	fail "Warning: $(hdr_values "$T/200na" Warning)"
assert_match "$CPMD_LOG" 'the callee answered 480'
assert_eq "$(grep -c 'in-session message for bob@example.test: stored' "$CPMD_LOG")" 4 "messages stored for bob in all"

cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
echo PASS
