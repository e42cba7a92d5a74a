#!/usr/bin/env bash
# Presence-aware treatment (issue 5; seed 000 Example 1): bob publishes "busy" (RPID); an
# INVITE for him is not forked: alice gets 486, and bob, whose profile lets the server keep
# messages, finds a "missed session from alice" notice when his device registers.  When
# bob's presence says nothing busy, the INVITE is treated as usual (480: no device).
. "$(dirname "$0")/lib.sh"
need python3 curl
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

check "HTTP: bob's composed presence (PIDF, busy) and his watcher lists, with his Digest"
U="http://127.0.0.1:$HTTP_PORT/api/v1/users/bob@example.test"
code=$(curl -s --digest -u bob:bob-secret -o "$T/pidf.xml" -D "$T/pidf.h" -w '%{http_code}' "$U/presence")
assert_eq "$code" 200 "GET presence"
grep -qi '^Content-Type: application/pidf+xml' "$T/pidf.h" || fail "type: $(cat "$T/pidf.h")"
grep -q 'busy' "$T/pidf.xml" || fail "no busy activity: $(cat "$T/pidf.xml")"
assert_eq "$(curl -s --digest -u alice:alice-secret -o /dev/null -w '%{http_code}' "$U/presence")" 401 "alice reads bob's document"
code=$(curl -s --digest -u bob:bob-secret -X PUT --data '{"watcher":"alice@example.test","rule":"allow"}' \
	-o "$T/w.json" -w '%{http_code}' "$U/watchers")
assert_eq "$code" 200 "PUT watchers"
grep -q '"watcher": *"alice@example.test", *"rule": *"allow"' "$T/w.json" || fail "lists: $(cat "$T/w.json")"
cpmd presence list bob@example.test >"$T/plist.out" 2>&1 || true
grep -q 'alice@example.test' "$T/plist.out" || fail "cpmd presence list: $(cat "$T/plist.out")"
assert_eq "$(curl -s --digest -u bob:bob-secret -X PUT --data '{"watcher":"alice@example.test","rule":"maybe"}' \
	-o /dev/null -w '%{http_code}' "$U/watchers")" 400 "bad rule"

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

check "cpm watch: alice (allowed above) watches bob; bob's cpm presence set away shows up"
bg_start watch "$CPM" --server "127.0.0.1:$SIP_PORT" --user alice@example.test --password alice-secret \
	watch bob@example.test --count 2 --duration 15
watch_pid=$BG_PID
wait_for 5 grep -q '^bob@example.test: open' "$T/watch.out" || fail "no first NOTIFY: $(cat "$T/watch.out")"

check "cpm presence set away \"at lunch\" publishes; the document says so; a bad status is refused"
cpm --user bob@example.test --password bob-secret presence set away "at lunch" >"$T/cp.out" 2>&1 ||
	fail "cpm presence: $(cat "$T/cp.out")"
assert_contains "$T/cp.out" "presence away: at lunch published"
curl -s --digest -u bob:bob-secret -o "$T/pidf2.xml" "$U/presence"
grep -q 'away' "$T/pidf2.xml" || fail "no away: $(cat "$T/pidf2.xml")"
grep -q 'at lunch' "$T/pidf2.xml" || fail "no note: $(cat "$T/pidf2.xml")"
bg_wait "$watch_pid" 20
cat "$T/watch.out"
grep -q '^bob@example.test: open, away "at lunch" \[active' "$T/watch.out" || fail "watch did not show away: $(cat "$T/watch.out")"
rc=0
cpm --user bob@example.test --password bob-secret presence set sleepy >"$T/cp2.out" 2>&1 || rc=$?
assert_eq "$rc" 2 "exit status for an unknown status"

cpmd_stop
assert_no_sanitizer_errors
