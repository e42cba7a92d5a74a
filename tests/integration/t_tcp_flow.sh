#!/usr/bin/env bash
# Transports: TCP flow reuse, keep-alives, symmetric response routing.
#  - A UA registers over TCP from a connection it keeps open (SIPp -t t1, and a python
#    UA), with a Contact where nobody listens (transport=tcp): alice's MESSAGE to it
#    arrives on that same connection (RFC 5626 §5.3-style flow reuse, RFC 3261 §18.2.1
#    connection reuse) and the UA's 200 goes back to alice; a re-registration from a new
#    connection moves the flow; two devices behind two flows both get a forked MESSAGE;
#  - a CRLFCRLF keep-alive ping on TCP is answered with a CRLF pong (RFC 5626 §3.5.1);
#  - a UDP REGISTER with "Via: ...;rport" whose sent-by port is wrong gets its response
#    at the source port, with rport and received filled in (RFC 3581 §4); without rport
#    the response goes to the sent-by port (RFC 3261 §18.2.2).
. "$(dirname "$0")/lib.sh"
# Proxy behaviour: store-and-forward (t_sf_*) is off here, so undeliverable MESSAGEs get 480.
. "$(dirname "$0")/reg_lib.sh"
need sipp python3 ss

cpmd_user_add alice@example.test alice-secret
cpmd_start -o sip.t1=50 -o sip.t2=200 -o auth.trusted=127.0.0.0/8 -o im.store_and_forward=no

# ---------------------------------------------------------------- SIPp flow
DEADP=$(free_port)
CID=tcpflow-$RANDOM-$$
check "SIPp (-t t1) registers flow@example.test over TCP, Contact port $DEADP (nobody listens), keeps the connection"
bg_start sipp-flow sipp_run r_tcp_flow.xml -t t1 -cid_str "$CID-%u" -key user flow \
	-key domain example.test -key contact_port "$DEADP"
SIPP_FLOW_PID=$BG_PID
wait_for 10 grep -q "registered flow@example.test -> sip:flow@127.0.0.1:$DEADP;transport=tcp" "$CPMD_LOG" ||
	fail "SIPp's REGISTER over TCP was not accepted: $(tail -n 5 "$CPMD_LOG")"
check "the binding is listed with its transport=tcp Contact"
rs flow-q --uri sip:example.test --from flow@example.test --to flow@example.test
expect_status 200 "query"
[ -n "$(contact_line "$RS_FILE" "sip:flow@127.0.0.1:$DEADP;transport=tcp")" ] ||
	fail "binding not listed: $(contacts_of "$RS_FILE")"

check "alice -> flow MESSAGE (udp): delivered on SIPp's registration connection, 200 back to alice"
rs flow-msg --method MESSAGE --uri sip:flow@example.test --from alice@example.test --to flow@example.test \
	--call-id "$CID-1" --body "hello over the flow" --timeout 15
expect_status 200 "MESSAGE to a UA reachable only over its registration's TCP connection"
hdr_has "$RS_FILE" 'To|t' 'tag=[0-9]+Flow' || fail "the 200 is not the UA's: $(hdr_values "$RS_FILE" To t)"
bg_wait "$SIPP_FLOW_PID" 20
assert_eq "$BG_RC" 0 "SIPp flow scenario exit code"
flow_msg=$(ls "$T"/sipp-*-r_tcp_flow.msg 2>/dev/null | head -n 1)
[ -n "$flow_msg" ] || fail "no SIPp message log"
assert_match "$flow_msg" '^MESSAGE sip:flow@127\.0\.0\.1:'"$DEADP"';transport=tcp SIP/2\.0'
assert_contains "$flow_msg" "hello over the flow"

# ---------------------------------------------------------------- python flow
DEADP2=$(free_port)
check "python UA: REGISTER over TCP (Contact port $DEADP2, nobody listens), MESSAGE arrives on the same socket"
bg_start tcpua python3 "$REG_SIP" tcpua --server "127.0.0.1:$SIP_PORT" --aor pyflow@example.test \
	--contact-port "$DEADP2" --wait 20
UA_PID=$BG_PID
wait_for 10 grep -q REGISTERED "$T/tcpua.out" || fail "python UA did not register: $(cat "$T/tcpua.out")"
rs py-msg --method MESSAGE --uri sip:pyflow@example.test --from alice@example.test --to pyflow@example.test \
	--transport tcp --body "python flow" --timeout 15
expect_status 200 "MESSAGE to the python UA over its flow"
bg_wait "$UA_PID" 10
assert_eq "$BG_RC" 0 "python UA exit code"
assert_contains "$T/tcpua.out" "GOT MESSAGE sip:pyflow@127.0.0.1:$DEADP2;transport=tcp SIP/2.0"
assert_contains "$T/tcpua.out" "python flow"

check "after the UA closed its connection, a MESSAGE to it fails (480), not delivered elsewhere"
rs py-msg2 --method MESSAGE --uri sip:pyflow@example.test --from alice@example.test --to pyflow@example.test \
	--body "nobody there" --timeout 15
expect_status 480 "MESSAGE after the flow closed (Contact port unreachable)"

check "re-registration from a new TCP connection moves the flow: the MESSAGE arrives on the new one"
DEADP3=$(free_port)
bg_start tcpua-old python3 "$REG_SIP" tcpua --server "127.0.0.1:$SIP_PORT" --aor mover@example.test \
	--contact-port "$DEADP3" --wait 0.3
bg_wait "$BG_PID" 10
grep -q REGISTERED "$T/tcpua-old.out" || fail "first registration failed: $(cat "$T/tcpua-old.out")"
bg_start tcpua-new python3 "$REG_SIP" tcpua --server "127.0.0.1:$SIP_PORT" --aor mover@example.test \
	--contact-port "$DEADP3" --wait 20
UA_PID=$BG_PID
wait_for 10 grep -q REGISTERED "$T/tcpua-new.out" || fail "second registration failed: $(cat "$T/tcpua-new.out")"
rs mover-msg --method MESSAGE --uri sip:mover@example.test --from alice@example.test --to mover@example.test \
	--body "to the new flow" --timeout 15
expect_status 200 "MESSAGE after the UA re-registered from a new connection"
bg_wait "$UA_PID" 10
assert_contains "$T/tcpua-new.out" "GOT MESSAGE sip:mover@127.0.0.1:$DEADP3;transport=tcp SIP/2.0"

check "two devices of one AoR, each behind its own TCP flow: the MESSAGE forks to both (parallel fork)"
DA=$(free_port) DB=$(free_port)
bg_start tcpua-a python3 "$REG_SIP" tcpua --server "127.0.0.1:$SIP_PORT" --aor duo@example.test \
	--contact-port "$DA" --wait 20
PA=$BG_PID
bg_start tcpua-b python3 "$REG_SIP" tcpua --server "127.0.0.1:$SIP_PORT" --aor duo@example.test \
	--contact-port "$DB" --wait 20
PB=$BG_PID
wait_for 10 grep -q REGISTERED "$T/tcpua-a.out" || fail "device a did not register: $(cat "$T/tcpua-a.out")"
wait_for 10 grep -q REGISTERED "$T/tcpua-b.out" || fail "device b did not register: $(cat "$T/tcpua-b.out")"
rs duo-msg --method MESSAGE --uri sip:duo@example.test --from alice@example.test --to duo@example.test \
	--body "to both" --timeout 15
expect_status 200 "MESSAGE forked to two flows"
bg_wait "$PA" 10
bg_wait "$PB" 10
assert_contains "$T/tcpua-a.out" "GOT MESSAGE sip:duo@127.0.0.1:$DA;transport=tcp SIP/2.0"
assert_contains "$T/tcpua-b.out" "GOT MESSAGE sip:duo@127.0.0.1:$DB;transport=tcp SIP/2.0"

# ---------------------------------------------------------------- keep-alive
check "TCP CRLFCRLF ping -> CRLF pong (RFC 5626 §3.5.1)"
python3 "$REG_SIP" ping --server "127.0.0.1:$SIP_PORT" --wait 3 >"$T/ping.out" 2>&1 ||
	fail "keep-alive: $(cat "$T/ping.out")"
assert_contains "$T/ping.out" PONG

# ---------------------------------------------------------------- rport
WRONG=$(free_port)
bg_start catcher python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1]))); s.settimeout(20)
while True:
    try:
        d, a = s.recvfrom(65535)
    except socket.timeout:
        break
    print(d.split(b"\r\n", 1)[0].decode(), flush=True)
' "$WRONG"
CATCHER=$BG_PID
check "UDP REGISTER with ;rport and a wrong sent-by port ($WRONG): response at the source port (RFC 3581 §4)"
rs rport --uri sip:example.test --from rp@example.test --to rp@example.test \
	--contact "<sip:rp@127.0.0.1:$WRONG>" --expires 600 --via-port "$WRONG" --timeout 5
expect_status 200 "REGISTER with rport (response must come to the source port)"
via=$(hdr_values "$RS_FILE" 'Via' v | head -n 1)
echo "   Via: $via"
grep -q -E ";rport=[0-9]+" <<<"$via" || fail "rport not filled in: $via"
grep -q -F ";rport=$WRONG" <<<"$via" && fail "rport carries the sent-by port, not the source port: $via"
grep -q -F ";received=127.0.0.1" <<<"$via" || fail "received not added (RFC 3581 §4: always with rport): $via"
check "the same without rport: the response goes to the sent-by port (RFC 3261 §18.2.2), not the source"
rs norport --uri sip:example.test --from rp@example.test --to rp@example.test \
	--contact "<sip:rp@127.0.0.1:$WRONG>" --expires 600 --via-port "$WRONG" --no-rport --timeout 3
assert_eq "$RS_STATUS" none "response at the source port without rport"
wait_for 5 grep -q '^SIP/2.0 200' "$T/catcher.out" || fail "the sent-by port got no response: $(cat "$T/catcher.out")"
kill "$CATCHER" 2>/dev/null || true

cpmd_alive || fail "cpmd died"
cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
echo "PASS"
