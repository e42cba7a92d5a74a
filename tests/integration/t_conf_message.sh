#!/usr/bin/env bash
# Room messages outside MSRP and for members not in session (issue 4: "a MESSAGE sent to
# a room URI by a member is distributed into the room, and members of a predefined room
# who are not in session get room messages through store-and-forward when the room is set
# so"): the club has --offline-sf; alice and bob are in it (MSRP), carol and dave are
# members who are not.  Bob's SEND and dave's SIP MESSAGE to the room reach the
# participants (CPIM, the sender's identity) and the history; mallory (no member) and a
# forged CPIM From get 403.  Carol (offline) has both messages stored, dave has bob's
# (not his own); carol registers and gets them, as message/cpim from the room's URI.
. "$(dirname "$0")/lib.sh"
need python3
need sqlite3
[ -x "$CPM" ] || fail "no cpm binary at $CPM (run make)"

for u in alice bob carol dave mallory; do
	cpmd_user_add "$u@example.test" "$u-secret"
done
cpmd room add club@example.test --owner alice@example.test --offline-sf \
	--members bob@example.test,carol@example.test,dave@example.test >"$T/add.out" 2>&1 ||
	fail "room add: $(cat "$T/add.out")"
cpmd_start
wait_for 5 grep -q "focus: 1 room(s) loaded" "$CPMD_LOG" || fail "the focus did not load the room"

check "SEND and a member's MESSAGE distributed; non-member and forged From refused"
"$PYTHON" "$LIB_DIR/conf_peer.py" message --room club --sip-port "$SIP_PORT" \
	--msrp-port "$MSRP_PORT" >"$T/msg.out" 2>&1 || fail "$(cat "$T/msg.out")"
cat "$T/msg.out"

waiting() { # AOR -> messages stored and not delivered
	sqlite3 "$T/var/cpmd.db" "select count(*) from messages where recipient='$1' and state=0"
}
check "members not in session: carol has both messages stored, dave has bob's"
wait_for 5 test "$(waiting carol@example.test)" = 2 || fail "carol: $(waiting carol@example.test) stored"
assert_eq "$(waiting dave@example.test)" 1 "dave's stored messages"
assert_eq "$(waiting alice@example.test)" 0 "alice's (in session)"
assert_eq "$(sqlite3 "$T/var/cpmd.db" "select count(*) from room_messages where room='club@example.test'")" \
	2 "messages in the room's history"

check "carol registers: both arrive, message/cpim from the room, the senders inside"
bg_start listen "$CPM" --server "127.0.0.1:$SIP_PORT" --user carol@example.test \
	--password carol-secret listen --count 2 --duration 20 --json
bg_wait "$BG_PID" 25
[ "$BG_RC" -eq 0 ] || fail "carol's listen exited $BG_RC: $(cat "$T/listen.out")"
"$PYTHON" - "$T/listen.out" <<'PY' || fail "delivered messages are wrong (see above)"
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print("   delivered:", msgs)
assert len(msgs) == 2, msgs
assert [m["from"] for m in msgs] == ["club@example.test"] * 2, msgs
text = json.dumps(msgs)
assert "hello from bob" in text and "dave by pager" in text, text
assert "bob@example.test" in text and "dave@example.test" in text, text
PY
cpmd_stop
assert_no_sanitizer_errors
