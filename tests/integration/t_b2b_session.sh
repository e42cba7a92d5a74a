#!/usr/bin/env bash
# shellcheck disable=SC2154 # callee_PORT, callee_LOG are set by call_sipp_uas (call_lib.sh)
# Anchored 1:1 sessions, the server as B2BUA (issue 4; seed 001 Figs. 4-6, R54-R56):
#  - alice's INVITE carries the seed's line "m=messaging 3456 IMTP/instant MESSAGE/instant
#    html": the server does not proxy it; it calls bob itself (From alice, a new Call-ID),
#    with the SDP rewritten to point at the server (o=/c= its address, the m= port its SIP
#    port, "MESSAGE/instant" alone: the server speaks no IMTP), and answers alice once bob
#    answered, with bob's answer rewritten the same way (seed Fig. 6);
#  - the transport is in-dialog SIP MESSAGE: alice's MESSAGE reaches bob on the server's
#    leg (his dialog), with alice's text and Date, and alice gets bob's 200; bob's MESSAGE
#    reaches alice the same way;
#  - alice's BYE is answered and relayed: bob gets a BYE on his leg;
#  - policy: with b2bua.anchor=never the same INVITE is proxied to bob unchanged.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/call_lib.sh"
need sipp python3

cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
cpmd_start -o auth.trusted=127.0.0.0/8

SEED='m=messaging 3456 IMTP/instant MESSAGE/instant html'

check "seed line: bob called by the server, SDP rewritten; MESSAGE both ways; BYE relayed"
call_sipp_uas callee b2b_uas.xml -key user bob -key domain example.test \
	-key mline 'm=messaging 4567 MESSAGE/instant html' -key msg 'hi alice, bob here'
call_register bob@example.test bob-secret "sip:bob@127.0.0.1:${callee_PORT}"
sipp_run b2b_uac.xml -s bob -key from_user alice -key domain example.test -key mline "$SEED" \
	-key aline 'a=sendrecv' -key msg 'hello bob' || fail "the caller's side failed"
caller=$SIPP_LOG
call_wait_uas callee 20

m=$T/s1
call_msg_to "$m.inv" "$callee_LOG" received '^INVITE '
hdr_has "$m.inv" 'From|f' '^"Alice" <sip:alice@example\.test>;tag=' || fail "INVITE at bob: From is not alice's: $(hdr_values "$m.inv" From f)"
cid_a=$(call_msg "$caller" sent '^INVITE ' | sed -n -E 's/^Call-ID: *//Ip' | head -n 1)
cid_b=$(hdr_values "$m.inv" Call-ID i)
[ -n "$cid_b" ] && [ "$cid_a" != "$cid_b" ] || fail "bob's leg has the caller's Call-ID ($cid_b): not a B2BUA"
grep -q -E "^m=messaging $SIP_PORT MESSAGE/instant html" "$m.inv" || fail "bob's offer: m= line not rewritten: $(grep '^m=' "$m.inv")"
grep -q -E '^c=IN IP4 127\.0\.0\.1' "$m.inv" || fail "bob's offer: no c= of the server"
grep -q 'a=sendrecv' "$m.inv" || fail "bob's offer lost the caller's attributes"
if grep -q '3456' "$m.inv"; then fail "bob's offer still names alice's port"; fi
call_msg_to "$m.200" "$caller" received '^SIP/2\.0 200 .*' 1
grep -q -E "^m=messaging $SIP_PORT MESSAGE/instant html" "$m.200" || fail "alice's answer: m= not the server's: $(grep '^m=' "$m.200")"
if grep -q '4567' "$m.200"; then fail "alice's answer still names bob's port"; fi
hdr_has "$m.200" 'Contact|m' "^<sip:bob@127\.0\.0\.1:$SIP_PORT" || fail "alice's 200: Contact is not the server's: $(hdr_values "$m.200" Contact m)"

call_msg_to "$m.msg_b" "$callee_LOG" received '^MESSAGE '
assert_contains "$m.msg_b" 'hello bob'
hdr_has "$m.msg_b" Date '^Mon, 30 Nov 2026 06:00:00 GMT$' || fail "alice's Date not kept: $(hdr_values "$m.msg_b" Date)"
hdr_has "$m.msg_b" 'Call-ID|i' "^$cid_b\$" || fail "alice's MESSAGE is not on bob's leg"
call_msg_to "$m.msg_a" "$caller" received '^MESSAGE '
assert_contains "$m.msg_a" 'hi alice, bob here'
hdr_has "$m.msg_a" 'Call-ID|i' "^$cid_a\$" || fail "bob's MESSAGE is not on alice's leg"
hdr_has "$m.msg_a" 'From|f' '^<?sip:bob@example\.test' || fail "bob's MESSAGE at alice: From $(hdr_values "$m.msg_a" From f)"
call_msg_to "$m.bye" "$callee_LOG" received '^BYE '
hdr_has "$m.bye" 'Call-ID|i' "^$cid_b\$" || fail "the BYE relayed to bob is not on his leg"
assert_match "$CPMD_LOG" "anchored \(MESSAGE/instant\)"
assert_match "$CPMD_LOG" "anchored session sip:alice@example.test -> bob@example.test up"
assert_match "$CPMD_LOG" "in-session MESSAGE caller -> callee: 200"
assert_match "$CPMD_LOG" "in-session MESSAGE callee -> caller: 200"
wait_for 5 grep -q "anchored session sip:alice@example.test -> bob@example.test ended" "$CPMD_LOG" ||
	fail "the session did not end"
curl -s "http://127.0.0.1:$HTTP_PORT/api/v1/status" >"$T/status.json"
"$PYTHON" - "$T/status.json" <<'PY' || fail "status counters: $(cat "$T/status.json")"
import json, sys
b = json.load(open(sys.argv[1]))["b2bua"]
assert b["anchored"] == 1 and b["relayed"] == 2 and b["sessions"] == 0, b
PY

check "b2bua.anchor=never: the same INVITE is proxied (bob sees alice's Call-ID and port)"
cpmd_stop
cpmd_start -o auth.trusted=127.0.0.0/8 -o b2bua.anchor=never
call_sipp_uas callee2 call_uas.xml -key user bob -key cuser bob@ -key domain example.test
call_register bob@example.test bob-secret "sip:bob@127.0.0.1:${callee2_PORT}"
call_sipmsg --method INVITE --uri sip:bob@example.test --from alice@example.test \
	--to bob@example.test --contact auto --ctype application/sdp --timeout 5 \
	--body $'v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n'"$SEED"$'\r\n' \
	>"$T/never.out" 2>&1 || true
assert_contains "$T/never.out" "STATUS 200"
call_msg_to "$m.inv2" "$callee2_LOG" received '^INVITE '
hdr_has "$m.inv2" 'Via|v' "^SIP/2\.0/UDP 127\.0\.0\.1:$SIP_PORT;branch=z9hG4bKcpm" || fail "not proxied"
assert_eq "$(call_via_count "$m.inv2")" 2 "Vias of the proxied INVITE"
grep -q '^m=messaging 3456 IMTP/instant MESSAGE/instant html' "$m.inv2" || fail "the proxied offer was changed"

cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
echo PASS
