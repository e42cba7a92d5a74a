#!/usr/bin/env bash
# shellcheck disable=SC2154 # NAME_PORT, NAME_LOG are set by call_sipp_uas (call_lib.sh)
# Anchored sessions that do not come up (issue 4; the server as B2BUA):
#  - the caller cancels while the callee's leg rings: the caller's CANCEL gets 200 and its
#    INVITE 487 from the server (RFC 3261 §9.2), and the server CANCELs its own INVITE to
#    the callee (who answers 487 and gets the ACK);
#  - the callee refuses: its 486, 603 and 480 go back to the caller as they are (and the
#    caller's ACK ends it); nothing stays behind (b2bua.sessions 0, no dialog);
#  - an offer asking for IMTP only (the seed's transport the server does not speak) -> 488.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/call_lib.sh"
need sipp python3

cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
cpmd_start -o auth.trusted=127.0.0.0/8

SEED='m=messaging 3456 IMTP/instant MESSAGE/instant html'

check "the caller cancels: 200 + 487 to alice, CANCEL to bob's ringing device"
call_sipp_uas ring b2b_uas_ring.xml
call_register bob@example.test bob-secret "sip:bob@127.0.0.1:${ring_PORT}"
sipp_run b2b_uac_cancel.xml -s bob -key from_user alice -key domain example.test \
	-key mline "$SEED" || fail "the caller's CANCEL"
call_wait_uas ring 20
call_msg_to "$T/cancel" "$ring_LOG" received '^CANCEL '
assert_match "$CPMD_LOG" 'anchored session sip:alice@example.test -> bob@example.test: the caller cancelled'
call_register bob@example.test bob-secret "sip:bob@127.0.0.1:${ring_PORT}" 0

# a copy of call_uac_reject.xml whose offer is the seed's line
sed -e "s|m=audio \[media_port\] RTP/AVP 0|$SEED|" -e '/a=rtpmap/d' "$SIPP_DIR/call_uac_reject.xml" >"$T/b2b_uac_reject.xml"

for code in "486 Busy Here" "603 Decline" "480 Temporarily Unavailable"; do
	n=${code%% *}
	check "bob's device answers $n: alice gets $n from the server"
	scen=$(call_scenario_code call_uas_reject.xml "$n" "${code#* }")
	call_sipp_uas rej "$scen"
	call_register bob@example.test bob-secret "sip:bob@127.0.0.1:${rej_PORT}"
	sipp_run "$T/b2b_uac_reject.xml" -s bob -key from_user alice -key domain example.test ||
		fail "the caller's side ($n)"
	call_wait_uas rej 20
	call_msg_to "$T/final-$n" "$SIPP_LOG" received '^SIP/2\.0 [4-6][0-9][0-9] '
	head -n 1 "$T/final-$n" | grep -q "^SIP/2.0 $n " || fail "alice got $(head -n 1 "$T/final-$n"), not $n"
	assert_match "$CPMD_LOG" "the callee answered $n"
	call_register bob@example.test bob-secret "sip:bob@127.0.0.1:${rej_PORT}" 0
done
curl -s "http://127.0.0.1:$HTTP_PORT/api/v1/status" >"$T/status.json"
"$PYTHON" - "$T/status.json" <<'PY' || fail "status counters: $(cat "$T/status.json")"
import json, sys
b = json.load(open(sys.argv[1]))["b2bua"]
assert b["sessions"] == 0 and b["anchored"] == 0 and b["failed"] == 4, b
PY

check "IMTP only: the server cannot anchor it -> 488"
call_sipmsg --method INVITE --uri sip:bob@example.test --from alice@example.test \
	--to bob@example.test --contact auto --ctype application/sdp --timeout 5 \
	--body $'v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=messaging 3456 IMTP/instant html\r\n' \
	>"$T/imtp.out" 2>&1 || true
assert_contains "$T/imtp.out" "STATUS 488"

cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
echo PASS
