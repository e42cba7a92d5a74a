#!/usr/bin/env bash
# MSRP interop with another relay: alice AUTHs on cpmd's relay (Digest), bob on
# Kamailio's msrp module (RFC 4976 relay, no authentication here).  alice's chunked
# messages cross both relays (cpmd connects to Kamailio), bob's reply comes back through
# them (Kamailio connects to cpmd); every chunk gets its hop-by-hop 200.
. "$(dirname "$0")/lib.sh"
need python3 kamailio
KMOD=/usr/lib/x86_64-linux-gnu/kamailio/modules
[ -f "$KMOD/msrp.so" ] || { echo "SKIP: Kamailio's msrp module is not installed"; exit 77; }

PEER=$LIB_DIR/msrp_peer.py
KAM_PORT=$(free_port)
mkdir -p "$T/kam"
# cmap_size must be set: without it msrp_cmap_save() fails and AUTH is never answered
cat >"$T/kam/msrp.cfg" <<CFG
#!KAMAILIO
debug=2
log_stderror=yes
children=2
listen=tcp:127.0.0.1:$KAM_PORT
tcp_accept_no_cl=yes
loadmodule "sl.so"
loadmodule "kex.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "msrp.so"
modparam("msrp", "cmap_size", 8)
modparam("msrp", "use_path_addr", "127.0.0.1:$KAM_PORT")
request_route { sl_send_reply("403", "No SIP Here"); exit; }
event_route[msrp:frame-in] {
  msrp_reply_flags("1");
  if (msrp_is_reply()) { msrp_relay(); exit; }
  if (\$msrp(method)=="AUTH") { if (\$msrp(nexthops)>0) { msrp_relay(); exit; } msrp_cmap_save(); exit; }
  if (\$msrp(method)=="SEND" || \$msrp(method)=="REPORT") {
    if (\$msrp(nexthops)>1) { if (\$msrp(method)!="REPORT") msrp_reply("200","OK"); msrp_relay(); exit; }
    if (msrp_cmap_lookup()) { if (\$msrp(method)!="REPORT") msrp_reply("200","OK"); msrp_relay_flags("1"); msrp_relay(); }
    else msrp_reply("481", "Session-does-not-exist");
    exit; }
  msrp_reply("501", "Request-method-not-understood"); }
CFG
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

cpmd_stop
kill -TERM "$KAM_PID" 2>/dev/null || true
assert_no_sanitizer_errors "$CPMD_LOG"
echo PASS
