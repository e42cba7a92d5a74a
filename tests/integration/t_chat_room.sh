#!/usr/bin/env bash
# Predefined chat room (RFC 7701 MSRP switch, RFC 4579 focus; issue 4 acceptance): five
# participants join a room of the store with INVITE (200 with Contact ;isfocus and an
# SDP answer naming a local MSRP session of cpmd), one of them (carol) passive: cpmd
# connects to her; dave's MSRP goes through cpmd's own relay (AUTH, Use-Path in his path).  History on join (the last N messages, oldest first), NICKNAME
# (425 for a taken one, 424 malformed), a forged CPIM From refused (403), a private
# message (CPIM To one participant: only her), isComposing fanned out, Success-Report
# from the switch, a flood of 4 x 400 messages of 4 KB while eve never reads her socket:
# everyone else gets every message of the others in order, eve is dropped with a BYE;
# BYE leaves.  A members-only room refuses a non-member (403) and takes a member.
. "$(dirname "$0")/lib.sh"
need python3
need sqlite3

PEER=$LIB_DIR/chat_room_peer.py
for u in alice bob carol dave eve mallory; do
	cpmd_user_add "$u@example.test" "$u-secret"
done
# lobby: open, the last 3 messages on join; club (members only) comes while cpmd runs
cpmd room add lobby@example.test --owner alice@example.test --history 3 >>"$T/room.out" 2>&1 ||
	fail "room add: $(cat "$T/room.out")"
# a small queue per participant: the slow one overflows soon after the kernel's buffers
cpmd_start -o chat.max_queue=65536 -o chat.max_message_size=65536
wait_for 5 grep -q "focus: 1 room(s) loaded" "$CPMD_LOG" || fail "the focus did not load the room"
cpmd room add club@example.test --owner alice@example.test --members bob@example.test \
	--members-only >>"$T/room.out" 2>&1 || fail "room add: $(cat "$T/room.out")"
cpmd room member add club@example.test bob@example.test --nick bobby >>"$T/room.out" 2>&1 ||
	fail "member add: $(cat "$T/room.out")"
wait_for 5 grep -q "focus: 2 room(s) loaded" "$CPMD_LOG" || fail "the focus did not see the new room"
peer() { "$PYTHON" "$PEER" --sip-port "$SIP_PORT" --msrp-port "$MSRP_PORT" "$@"; }

check "five participants, one slow: history, nicknames, private, isComposing, flood, BYE"
peer room --room lobby --count 400 --size 4000 >"$T/lobby.out" 2>&1 || fail "$(tail -n 5 "$T/lobby.out")"
cat "$T/lobby.out"
assert_contains "$CPMD_LOG" "[sip:eve@example.test] chat: dropped from lobby@example.test: slow participant"

check "the room's history is in the store"
n=$(sqlite3 "$T/var/cpmd.db" "SELECT count(*) FROM room_messages WHERE room = 'lobby@example.test'")
# 3 history + marker + report please + 1600 flood + after dave (isComposing and private not)
[ "$n" -ge 1606 ] || fail "history: $n messages stored, expected at least 1606"
cpmd room history lobby@example.test --limit 1 >"$T/h1.out" 2>&1 || fail "$(cat "$T/h1.out")"
assert_contains "$T/h1.out" "Ally <alice@example.test>: (message/cpim"

check "members-only room: a non-member gets 403, a member 200"
peer refused --room club --user mallory --expect 403 >"$T/r1.out" 2>&1 || fail "$(cat "$T/r1.out")"
peer refused --room club --user bob --expect 200 >"$T/r2.out" 2>&1 || fail "$(cat "$T/r2.out")"
check "a URI that is neither a room nor a user: not the focus's business (404)"
peer refused --room nobody --user bob --expect 404 >"$T/r3.out" 2>&1 || fail "$(cat "$T/r3.out")"

check "status counters: joins, one refused, one dropped, the history written"
"$PYTHON" - "$HTTP_PORT" >"$T/status.out" 2>&1 <<'EOF' || fail "$(cat "$T/status.out")"
import json, sys, urllib.request
c = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/api/v1/status"))["chat"]
print(c)
assert c["joins"] == 6 and c["refused"] == 1 and c["dropped"] == 1, c
assert c["stored"] >= 1606 and c["rejected"] == 2 and c["overflows"] >= 1, c
assert c["participants"] == 0 and c["local_sessions"] == 0, c
EOF
check "the server stops with a participant in a room: it is told, cpmd exits cleanly"
bg_start stay "$PYTHON" "$PEER" --sip-port "$SIP_PORT" stay --room lobby --user bob
stay_pid=$BG_PID
wait_for 10 grep -q joined "$T/stay.out" || fail "bob did not join: $(cat "$T/stay.out")"
cpmd_stop
bg_wait "$stay_pid" 40
[ "$BG_RC" -eq 0 ] || fail "stay: $(cat "$T/stay.out")"
assert_no_sanitizer_errors
