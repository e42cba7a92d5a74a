#!/usr/bin/env bash
# `cpm chat` with another MSRP relay implementation (RFC 4976): bob's cpm waits behind
# Kamailio's msrp relay (its AUTH, no authentication there), alice's cpm calls him
# through cpmd's proxy with her MSRP behind cpmd's relay (Digest AUTH).  Her message
# crosses both relays in 2 KB chunks (Kamailio keeps each frame whole in a 16 KB
# buffer), bob's reply comes back the same way, the Success-Reports cross them too,
# and alice's /quit ends the session with BYE.
. "$(dirname "$0")/lib.sh"
need python3 kamailio
[ -x "$CPM" ] || fail "no cpm binary at $CPM (run make)"
KMOD=/usr/lib/x86_64-linux-gnu/kamailio/modules
[ -f "$KMOD/msrp.so" ] || { echo "SKIP: Kamailio's msrp module is not installed"; exit 77; }

KAM_PORT=$(free_port)
mkdir -p "$T/kam"
. "$LIB_DIR/kamailio_msrp.sh"
kamailio_msrp_cfg "$KAM_PORT" >"$T/kam/msrp.cfg"
bg_start kamailio kamailio -f "$T/kam/msrp.cfg" -P "$T/kam/kamailio.pid" -Y "$T/kam" -m 32 -M 8 -E -DD
wait_for 10 _port_bound "$KAM_PORT" || fail "kamailio did not listen on $KAM_PORT"

cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
cpmd_start
export HOME=$T/home
mkdir -p "$HOME"
TS='\[[0-9]{2}:[0-9]{2}:[0-9]{2}\]'
common=(--server "127.0.0.1:$SIP_PORT" --transport tcp --timeout 10)

check "alice (cpmd's relay) <-> bob (Kamailio's relay): 6 KB in 2 KB chunks, a reply, BYE"
mkfifo "$T/bob.in" "$T/alice.in"
exec 3<>"$T/bob.in" 4<>"$T/alice.in"
bg_start bob bash -c 'exec "$@" <"$0"' "$T/bob.in" "$CPM" "${common[@]}" --user bob@example.test \
	--password bob-secret -v chat --accept --relay "msrp://127.0.0.1:$KAM_PORT;tcp" --chunk 2048 \
	--duration 60
BOB_PID=$BG_PID
wait_for 10 grep -q 'waiting for a chat' "$T/bob.out" || fail "bob did not start: $(tail -n 20 "$T/bob.out")"
bg_start alice bash -c 'exec "$@" <"$0"' "$T/alice.in" "$CPM" "${common[@]}" --user alice@example.test \
	--password alice-secret -v chat bob --relay "msrp://127.0.0.1:$MSRP_PORT;tcp" --chunk 2048
ALICE_PID=$BG_PID
big=$(head -c 4608 /dev/urandom | base64 -w 0)
printf '%s\n' "$big" >&4
wait_for 20 grep -q -F "alice@example.test: $big" "$T/bob.out" ||
	fail "bob did not get alice's 6 KB message: $(grep -E '^(cpm:|MSRP [0-9a-f]+ [0-9]{3})' "$T/bob.out" | tail -n 20)"
echo "reply across two relays" >&3
wait_for 20 grep -q -E "^$TS bob@example\.test: reply across two relays" "$T/alice.out" ||
	fail "alice did not get bob's reply: $(grep -E '^(cpm:|MSRP [0-9a-f]+ [0-9]{3})' "$T/alice.out" | tail -n 20)"
echo "/quit" >&4
bg_wait "$ALICE_PID" 20
assert_eq "$BG_RC" 0 "alice's exit code"
bg_wait "$BOB_PID" 20
assert_eq "$BG_RC" 0 "bob's exit code"
exec 3>&- 4>&-
grep -q -E "^a=path:msrp://127\.0\.0\.1:$KAM_PORT/[^ ]+;tcp msrp://" "$T/alice.out" ||
	fail "bob's answer has no Kamailio session URI first in a=path"
grep -q -E "^a=path:msrp://127\.0\.0\.1:$MSRP_PORT/[^ ]+;tcp msrp://" "$T/bob.out" ||
	fail "alice's offer has no cpmd relay URI first in a=path"
assert_match "$T/bob.out" '^\* session ended by alice@example\.test \(BYE\)$'
# both relays answered every chunk: no "not delivered" and no timeout
! grep -q -E 'not delivered|no answer in' "$T/alice.out" "$T/bob.out" ||
	fail "a SEND failed: $(grep -h -E 'not delivered|no answer in' "$T/alice.out" "$T/bob.out")"
assert_match "$CPMD_LOG" "msrp conn [0-9]+ connected"
# the Success-Reports (asked for through relays) crossed both relays
grep -q -E '^Status: 000 200' "$T/alice.out" || fail "no Success-Report reached alice"
grep -q -E '^Status: 000 200' "$T/bob.out" || fail "no Success-Report reached bob"

cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
echo PASS
