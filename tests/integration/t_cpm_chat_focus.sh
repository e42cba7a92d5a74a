#!/usr/bin/env bash
# `cpm chat ROOM` against cpmd's own focus (issue 4: the client and the server's room,
# end to end, no scripted peer): bob joins a predefined room and prints what arrives;
# alice joins and sends two messages (`--send`, each a session of its own): bob gets both,
# wrapped in CPIM by the switch (shown with alice's identity), in order; alice's second
# session gets the first message as history on join; carol, who is not a member of a
# members-only room, is refused (403) and cpm exits non-zero with the status.
. "$(dirname "$0")/lib.sh"
[ -x "$CPM" ] || fail "no cpm binary at $CPM (run make)"
need sqlite3

for u in alice bob carol; do cpmd_user_add "$u@example.test" "$u-secret"; done
cpmd room add lobby@example.test --owner alice@example.test --history 5 >"$T/room.out" 2>&1 ||
	fail "room add: $(cat "$T/room.out")"
cpmd room add club@example.test --owner alice@example.test --members bob@example.test \
	--members-only >>"$T/room.out" 2>&1 || fail "room add: $(cat "$T/room.out")"
cpmd_start
wait_for 10 grep -q "focus: 2 room(s) loaded" "$CPMD_LOG" || fail "the focus did not load the rooms"

check "bob joins lobby and listens"
bg_start bob "$CPM" --server "127.0.0.1:$SIP_PORT" --user bob@example.test --password bob-secret \
	chat lobby@example.test --print --count 2 --duration 30
BOB=$BG_PID
wait_for 10 grep -q "sip:bob@example.test\] chat: in lobby@example.test" "$CPMD_LOG" ||
	fail "bob did not get into the room"

in_history() { # TEXT — a message of lobby's history ends with TEXT
	[ "$(sqlite3 "$T/var/cpmd.db" "SELECT count(*) FROM room_messages WHERE
		room = 'lobby@example.test' AND CAST(body AS TEXT) LIKE '%$1%'")" -ge 1 ]
}
check "alice sends two messages into the room"
for m in "hello room" "second line"; do
	cpm --user alice@example.test --password alice-secret chat lobby@example.test --send "$m" \
		>>"$T/alice.out" 2>&1 || fail "alice's --send '$m' failed: $(cat "$T/alice.out")"
	# the history is written by the store worker after the 200: the next session
	# joins once the message is there (a rejoin within milliseconds may miss it)
	wait_for 5 in_history "$m" || fail "'$m' never reached the room's history"
done
assert_contains "$T/alice.out" "(a chat room) (200 OK)"
bg_wait "$BOB" 30
[ "$BG_RC" = 0 ] || fail "bob's cpm exited $BG_RC: $(cat "$T/bob.out")"
cat "$T/bob.out"
grep -E '^\[[0-9:]+\] alice@example.test: ' "$T/bob.out" | sed 's/^\[[0-9:]*\] //' >"$T/bob.msgs"
printf 'alice@example.test: hello room\nalice@example.test: second line\n' >"$T/want"
diff -u "$T/want" "$T/bob.msgs" || fail "bob did not get alice's two messages in order"

check "alice's second session got the first message as history"
assert_contains "$T/alice.out" "alice@example.test: hello room"
assert_contains "$CPMD_LOG" "chat: 1 history message(s) of lobby@example.test"

check "a non-member of a members-only room is refused"
if cpm --user carol@example.test --password carol-secret chat club@example.test --send x \
	>"$T/carol.out" 2>&1; then
	fail "carol got into club: $(cat "$T/carol.out")"
fi
assert_contains "$T/carol.out" "403"

cpmd_stop
assert_no_sanitizer_errors
