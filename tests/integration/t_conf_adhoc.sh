#!/usr/bin/env bash
# Ad-hoc conference and REFER (issue 4 acceptance: "an ad-hoc conference of three created
# with a URI list", "REFER"; RFC 5366, RFC 4579, RFC 3515, RFC 4575; seed 003 Figs.
# 10-11): alice INVITEs conf@example.test with her SDP offer and a URI list; the focus
# of a new room answers (;isfocus) and INVITEs bob, carol and dave (frank, listed too,
# has no device: not called); alice watches the
# conference: bob and carol accept, dave refuses (busy); messages flow through the
# switch; bob REFERs erin in (sipfrag NOTIFYs, erin referred by bob); only the owner
# may REFER a BYE; when everyone has left, the room is deleted from the store.
. "$(dirname "$0")/lib.sh"
need python3
need sqlite3

for u in alice bob carol dave erin frank; do
	cpmd_user_add "$u@example.test" "$u-secret"
done
cpmd_start -o presence.min_notify_interval=0

check "ad-hoc room of alice, bob and carol from a URI list; dave declines; REFER adds erin"
"$PYTHON" "$LIB_DIR/conf_peer.py" adhoc --sip-port "$SIP_PORT" --msrp-port "$MSRP_PORT" \
	>"$T/adhoc.out" 2>&1 || fail "$(cat "$T/adhoc.out")"
cat "$T/adhoc.out"
room=$(sed -n 's/^room //p' "$T/adhoc.out" | tail -n 1)
assert_contains "$CPMD_LOG" "chat: ad-hoc room $room with 4 invitee(s)"
assert_contains "$CPMD_LOG" "chat: leaves $room: no device registered"
assert_contains "$CPMD_LOG" "REFER sip:erin@example.test into $room: inviting"

check "the room went with its last participant"
gone() { [ "$(sqlite3 "$T/var/cpmd.db" "select count(*) from rooms where uri='$room'")" = 0 ]; }
wait_for 5 gone || fail "ad-hoc room $room still in the store"
assert_contains "$CPMD_LOG" "chat: ad-hoc room $room is over"
cpmd_stop
assert_no_sanitizer_errors
