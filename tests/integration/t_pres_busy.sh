#!/usr/bin/env bash
# Presence-aware treatment (issue 5; seed 000 Example 1): bob publishes "busy" (RPID); an
# INVITE for him is not forked: alice gets 486, and bob, whose profile lets the server keep
# messages, finds a "missed session from alice" notice when his device registers.  When
# bob's presence says nothing busy, the INVITE is treated as usual (480: no device).
. "$(dirname "$0")/lib.sh"
need python3
[ -x "$CPM" ] || fail "no cpm binary at $CPM (run make)"

cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
cpmd_start -o auth.trusted=127.0.0.1/32

pidf() { # ACTIVITY-ELEMENT
	printf '%s' '<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:bob@example.test"><tuple id="t1"><status><basic>open</basic></status></tuple><dm:person id="p1"><rpid:activities>'"$1"'</rpid:activities></dm:person></presence>'
}

check "bob publishes busy; alice's INVITE -> 486, not forked"
sipmsg --method PUBLISH --uri sip:bob@example.test --from bob@example.test --to bob@example.test \
	--header "Event: presence" --header "Expires: 120" --ctype application/pidf+xml \
	--body "$(pidf '<rpid:busy/>')" >"$T/pub.out" 2>&1 || true
assert_contains "$T/pub.out" "STATUS 200"
sipmsg --method INVITE --uri sip:bob@example.test --from alice@example.test --to bob@example.test \
	--contact auto --ctype application/sdp --body $'v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n' \
	>"$T/inv.out" 2>&1 || true
assert_contains "$T/inv.out" "STATUS 486"
assert_match "$CPMD_LOG" 'INVITE not forked: presence says busy'

check "bob registers: the missed-session notice from alice arrives"
bg_start bob "$CPM" --server "127.0.0.1:$SIP_PORT" --user bob@example.test --password bob-secret \
	listen --count 1 --duration 15 --json
bg_wait "$BG_PID" 20
grep -q 'missed session from' "$T/bob.out" || fail "no notice: $(cat "$T/bob.out")"
grep -q '"from":"alice@example.test"' "$T/bob.out" || fail "notice not from alice: $(cat "$T/bob.out")"

check "bob publishes available: the INVITE is treated as usual (480, no device)"
sipmsg --method PUBLISH --uri sip:bob@example.test --from bob@example.test --to bob@example.test \
	--header "Event: presence" --header "Expires: 120" --ctype application/pidf+xml \
	--body "$(pidf '<rpid:unknown/>')" >"$T/pub2.out" 2>&1 || true
assert_contains "$T/pub2.out" "STATUS 200"
sipmsg --method INVITE --uri sip:bob@example.test --from alice@example.test --to bob@example.test \
	--contact auto --ctype application/sdp --body $'v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n' \
	>"$T/inv2.out" 2>&1 || true
assert_contains "$T/inv2.out" "STATUS 480"

cpmd_stop
assert_no_sanitizer_errors
