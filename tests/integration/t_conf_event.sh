#!/usr/bin/env bash
# Conference event package (RFC 4575 over RFC 6665; issue 4): carol, a member of the
# lobby, SUBSCRIBEs "Event: conference" to it and gets a full conference-info document
# (version 0, the room's subject, nobody in it); mallory, no member, gets 403; a URI that
# is no room 404.  Alice (the owner) and bob (a moderator with a reserved nickname) join
# through the focus: each join is a partial NOTIFY holding that user only (connected,
# dialed-in, role, display-text), versions one more each time; alice's NICKNAME changes
# her display-text; bob's BYE makes him deleted (disconnected, departed); a refresh gets
# the full state again; Expires: 0 ends the subscription with a terminating NOTIFY.
# With presence.min_notify_interval, changes within the interval make one NOTIFY.
. "$(dirname "$0")/lib.sh"
need python3
need sqlite3

for u in alice bob carol mallory; do
	cpmd_user_add "$u@example.test" "$u-secret"
done
now=$(date +%s)
sqlite3 "$T/var/cpmd.db" <<SQL
INSERT INTO rooms (uri, owner, subject, flags, history, created) VALUES
  ('lobby@example.test', 'alice@example.test', 'the lobby', 0, 0, $now);
INSERT INTO room_members (room, aor, nick, role, added) VALUES
  ('lobby@example.test', 'alice@example.test', '', 2, $now),
  ('lobby@example.test', 'bob@example.test', 'bobby', 1, $now),
  ('lobby@example.test', 'carol@example.test', '', 0, $now);
SQL
cpmd_start -o presence.min_notify_interval=0
wait_for 5 grep -q "focus: 1 room(s) loaded" "$CPMD_LOG" || fail "the focus did not load the room"

check "a member watches the lobby: full, then one partial per change; refused, unknown"
"$PYTHON" "$LIB_DIR/conf_peer.py" event --sip-port "$SIP_PORT" --msrp-port "$MSRP_PORT" \
	>"$T/event.out" 2>&1 || fail "$(cat "$T/event.out")"
cat "$T/event.out"
assert_contains "$CPMD_LOG" "mallory@example.test may not watch conference lobby@example.test"

check "rate limited like presence: two joins within the interval, one NOTIFY"
cpmd_stop
cpmd_start -o presence.min_notify_interval=1500
wait_for 5 grep -q "focus: 1 room(s) loaded" "$CPMD_LOG" || fail "the focus did not load the room"
"$PYTHON" "$LIB_DIR/conf_peer.py" throttle --sip-port "$SIP_PORT" --msrp-port "$MSRP_PORT" \
	>"$T/throttle.out" 2>&1 || fail "$(cat "$T/throttle.out")"
cat "$T/throttle.out"
cpmd_stop
assert_no_sanitizer_errors
