#!/usr/bin/env bash
# `cpm chat ROOM` (the client of h-chatcli) against cpmd's own focus and conference event
# package, end to end: alice sits in the lobby and her cpm subscribes to the room's
# conference state (RFC 4575); bob comes in, says something and leaves (`cpm chat
# --send`): alice's terminal shows the room's state, bob joined (by the display-text the
# package gives, his reserved nickname), his message, bob left; alice's /quit ends her
# subscription and her session.
. "$(dirname "$0")/lib.sh"
[ -x "$CPM" ] || fail "no cpm binary at $CPM (run make)"

for u in alice bob; do cpmd_user_add "$u@example.test" "$u-secret"; done
cpmd room add lobby@example.test --owner alice@example.test --history 0 >"$T/room.out" 2>&1 ||
	fail "room add: $(cat "$T/room.out")"
cpmd room member add lobby@example.test bob@example.test --nick bobby >>"$T/room.out" 2>&1 ||
	fail "member add: $(cat "$T/room.out")"
cpmd_start -o presence.min_notify_interval=0
wait_for 10 grep -q "focus: 1 room(s) loaded" "$CPMD_LOG" || fail "the focus did not load the room"
export HOME=$T/home
mkdir -p "$HOME"

check "alice's cpm chat shows the room's state from cpmd's conference NOTIFYs"
mkfifo "$T/alice.in"
exec 4<>"$T/alice.in"
bg_start alice bash -c 'exec "$@" <"$0"' "$T/alice.in" "$CPM" --server "127.0.0.1:$SIP_PORT" \
	--user alice@example.test --password alice-secret chat lobby@example.test
ALICE_PID=$BG_PID
wait_for 10 grep -q "alice@example.test subscribed to conference of lobby@example.test" \
	"$CPMD_LOG" || fail "alice's cpm did not subscribe: $(cat "$T/alice.out")"
wait_for 10 grep -q -E '^\* in the room' "$T/alice.out" ||
	fail "no room state shown: $(cat "$T/alice.out")"

check "bob joins, talks, leaves: alice sees it"
"$CPM" --server "127.0.0.1:$SIP_PORT" --user bob@example.test --password bob-secret \
	chat lobby@example.test --send "hello from bob" >"$T/bob.out" 2>&1 ||
	fail "bob's cpm chat --send: $(cat "$T/bob.out")"
wait_for 10 grep -q -E '^\* bobby \(bob@example\.test\) left$' "$T/alice.out" ||
	fail "alice does not show bob leaving: $(cat "$T/alice.out")"
echo "/quit" >&4
bg_wait "$ALICE_PID" 20
assert_eq "$BG_RC" 0 "alice's exit code"
exec 4>&-
cat "$T/alice.out"
assert_match "$T/alice.out" '^\* bobby \(bob@example\.test\) joined$'
assert_match "$T/alice.out" 'hello from bob$'
cpmd_stop
assert_no_sanitizer_errors
