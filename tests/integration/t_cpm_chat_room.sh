#!/usr/bin/env bash
# `cpm chat ROOM` against a scripted focus (chat_focus.py, registered as
# room@example.test), while cpmd's own rooms are built elsewhere:
#  - the focus answers with isfocus in its Contact (RFC 4579 §3): cpm takes it for a room
#    and sends message/cpim (RFC 7701 §7) To the room;
#  - cpm SUBSCRIBEs to the conference URI (Event: conference, RFC 4575) and shows who
#    is in the room from the full state, then who joined and who left from a partial one;
#  - a CPIM message from another participant is shown with the CPIM From's name;
#  - --nick sends a NICKNAME request (RFC 7701 §7.1); /msg NICK TEXT is a private
#    message, To the participant's URI learnt from the conference state (§7.4);
#  - /quit unsubscribes (Expires: 0) and sends BYE.
. "$(dirname "$0")/lib.sh"
need python3
[ -x "$CPM" ] || fail "no cpm binary at $CPM (run make)"

cpmd_user_add alice@example.test alice-secret
cpmd_user_add room@example.test room-secret
cpmd_start
export HOME=$T/home
mkdir -p "$HOME"
TS='\[[0-9]{2}:[0-9]{2}:[0-9]{2}\]'

check "the focus registers as room@example.test"
FPORT=$(free_port)
sipmsg --method REGISTER --uri sip:example.test --from room@example.test --to room@example.test \
	--contact "sip:room@127.0.0.1:$FPORT" --expires 600 --user room@example.test \
	--password room-secret --expect 200 >"$T/reg.log" 2>&1 || fail "REGISTER: $(cat "$T/reg.log")"
bg_start focus "$PYTHON" "$LIB_DIR/chat_focus.py" --sip-port "$FPORT" --room sip:room@example.test --timeout 60
FOCUS_PID=$BG_PID
wait_for 5 grep -q READY "$T/focus.out" || fail "the focus did not start: $(cat "$T/focus.out")"

check "alice joins with --nick, talks to the room, sends a private message, /quit"
mkfifo "$T/alice.in"
exec 4<>"$T/alice.in"
bg_start alice bash -c 'exec "$@" <"$0"' "$T/alice.in" "$CPM" --server "127.0.0.1:$SIP_PORT" \
	--user alice@example.test --password alice-secret chat room@example.test --nick Ally
ALICE_PID=$BG_PID
echo "hello room" >&4
wait_for 15 grep -q -E '^\* Bob \(bob@example\.test\) left$' "$T/alice.out" ||
	fail "alice does not show the partial state: $(cat "$T/alice.out")"
echo "/msg Carol psst" >&4
wait_for 10 grep -q '^GOT sip:carol@example.test psst$' "$T/focus.out" ||
	fail "the private message did not reach the focus To carol: $(cat "$T/focus.out")"
echo "/quit" >&4
bg_wait "$ALICE_PID" 20
assert_eq "$BG_RC" 0 "alice's exit code"
bg_wait "$FOCUS_PID" 20
assert_eq "$BG_RC" 0 "the focus's exit code (it saw the BYE)"
exec 4>&-
cat "$T/alice.out" "$T/focus.out"
assert_match "$T/alice.out" '\(a chat room\)'
assert_match "$T/alice.out" '^\* in the room \(2\): Alice, Bob$'
assert_match "$T/alice.out" '^\* Carol \(carol@example\.test\) joined$'
assert_match "$T/alice.out" "^$TS Bob: hello from bob in the room$"
assert_match "$T/alice.out" '^\* nickname accepted$'
assert_match "$T/focus.out" '^GOT sip:room@example\.test hello room$'
assert_match "$T/focus.out" '^NICK Ally$'
assert_match "$T/focus.out" '^SUBSCRIBE$'
# the unsubscribe comes before the BYE
[ "$(grep -E '^(UNSUBSCRIBE|BYE)$' "$T/focus.out" | tr '\n' ' ')" = "UNSUBSCRIBE BYE " ] ||
	fail "expected UNSUBSCRIBE then BYE at the focus: $(cat "$T/focus.out")"

cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
echo PASS
