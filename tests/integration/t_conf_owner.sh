#!/usr/bin/env bash
# The owner removes a member and closes the room (issue 4; RFC 4579 focus, RFC 4575
# events): alice (the owner), bob and carol are in the lobby, dave watches it.
# `cpmd room member del` while cpmd runs: the focus notices the store change within a
# second, sends bob a BYE, and dave's NOTIFY says bob is deleted, booted, and why.  The
# owner's DELETE /api/v1/rooms/lobby (carol's is refused 403) closes it: alice and carol
# get a BYE, dave's subscription ends with reason=noresource, an INVITE to it gets 404.
. "$(dirname "$0")/lib.sh"
need python3
need sqlite3
need curl

for u in alice bob carol dave; do
	cpmd_user_add "$u@example.test" "$u-secret"
done
cpmd room add lobby@example.test --owner alice@example.test \
	--members bob@example.test,carol@example.test,dave@example.test >"$T/add.out" 2>&1 ||
	fail "room add: $(cat "$T/add.out")"
cpmd_start -o presence.min_notify_interval=0
wait_for 5 grep -q "focus: 1 room(s) loaded" "$CPMD_LOG" || fail "the focus did not load the room"

check "member removed (cpmd room), room closed (HTTP API): BYEs and conference events"
"$PYTHON" "$LIB_DIR/conf_peer.py" owner --sip-port "$SIP_PORT" --msrp-port "$MSRP_PORT" \
	--http-port "$HTTP_PORT" --cpmd "$CPMD" --conf "$CPMD_CONF" \
	>"$T/owner.out" 2>&1 || fail "$(cat "$T/owner.out")"
cat "$T/owner.out"
assert_contains "$CPMD_LOG" "chat: leaves lobby@example.test: removed from the room's members"
assert_contains "$CPMD_LOG" "chat: leaves lobby@example.test: the room was closed"
cpmd_stop
assert_no_sanitizer_errors
