#!/usr/bin/env bash
# MSRP interop with another relay: alice AUTHs on cpmd's relay (Digest), bob on
# Kamailio's msrp module (RFC 4976 relay, no authentication here).  alice's chunked
# messages cross both relays (cpmd connects to Kamailio), bob's reply comes back through
# them (Kamailio connects to cpmd); every chunk gets its hop-by-hop 200.  An AUTH to
# Kamailio sent through cpmd's relay is forwarded and its 200 comes back.
. "$(dirname "$0")/lib.sh"
need python3 kamailio
KMOD=/usr/lib/x86_64-linux-gnu/kamailio/modules
[ -f "$KMOD/msrp.so" ] || { echo "SKIP: Kamailio's msrp module is not installed"; exit 77; }

PEER=$LIB_DIR/msrp_peer.py
KAM_PORT=$(free_port)
mkdir -p "$T/kam"
. "$LIB_DIR/kamailio_msrp.sh"
kamailio_msrp_cfg "$KAM_PORT" >"$T/kam/msrp.cfg"
bg_start kamailio kamailio -f "$T/kam/msrp.cfg" -P "$T/kam/kamailio.pid" -Y "$T/kam" -m 32 -M 8 -E -DD
KAM_PID=$BG_PID
wait_for 10 _port_bound "$KAM_PORT" || fail "kamailio did not listen on $KAM_PORT"

cpmd_user_add alice@example.test alice-secret
cpmd_start

check "alice (cpmd relay) <-> bob (Kamailio relay): 3 messages in 2 KB chunks, and a reply"
"$PYTHON" "$PEER" --relay "127.0.0.1:$MSRP_PORT" --status "http://127.0.0.1:$HTTP_PORT/api/v1/status" \
	--timeout 30 chat --alice alice:alice-secret --bob bob:x --bob-relay "127.0.0.1:$KAM_PORT" \
	--count 3 --size 5000 --chunk 2000 --binary --reply >"$T/k.out" || fail "interop: $(cat "$T/k.out")"
# Kamailio answered every chunk cpmd forwarded to it
assert_match "$T/k.out" '^STATUS=.*"transactions": 0'
assert_match "$CPMD_LOG" "msrp conn [0-9]+ connected"

check "AUTH with Kamailio through cpmd's relay (two relays, RFC 4976 §5): forwarded and answered back"
"$PYTHON" "$PEER" --relay "127.0.0.1:$MSRP_PORT" --timeout 30 chain --alice alice:alice-secret \
	--outer "127.0.0.1:$KAM_PORT" >"$T/k2.out" || fail "chained AUTH: $(cat "$T/k2.out")"

check "AUTH with cpmd through Kamailio's relay: cpmd's 401 and 200 go back through Kamailio"
"$PYTHON" "$PEER" --relay "127.0.0.1:$KAM_PORT" --timeout 30 chain --alice x:x \
	--bob alice:alice-secret --outer "127.0.0.1:$MSRP_PORT" >"$T/k3.out" ||
	fail "chained AUTH (cpmd outer): $(cat "$T/k3.out")"

cpmd_stop
kill -TERM "$KAM_PID" 2>/dev/null || true
assert_no_sanitizer_errors "$CPMD_LOG"
echo PASS
