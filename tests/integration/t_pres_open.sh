#!/usr/bin/env bash
# Presence turning open delivers the stored messages (issue 5; seeds 001/002: the
# store-and-forward server learns from presence that the user is back):
#  - alice's phone is registered but she published "closed, away";
#  - bob's MESSAGE reaches the phone, which answers 480: the message is stored (202 to
#    bob) and, with im.retry_interval at one hour, would wait that long;
#  - alice modifies her publication to "open": cpmd logs that she is back and delivers
#    the stored message to the phone at once, with bob's text.
. "$(dirname "$0")/lib.sh"
need python3
[ -x "$CPM" ] || fail "no cpm binary at $CPM (run make)"

cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
cpmd_start -o auth.trusted=127.0.0.0/8 -o im.retry_interval=3600 \
	-o presence.min_notify_interval=0

cat >"$T/phone.py" <<'PY'
# alice's phone: REGISTER (the source is trusted), then answer the first MESSAGE 480 and
# the next ones 200, printing each.
import re, secrets, socket, sys, time
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0)); s.settimeout(0.2)
lport = s.getsockname()[1]
s.sendto((f"REGISTER sip:example.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{secrets.token_hex(6)};rport\r\n"
          f"Max-Forwards: 70\r\nFrom: <sip:alice@example.test>;tag={secrets.token_hex(4)}\r\n"
          f"To: <sip:alice@example.test>\r\nCall-ID: {secrets.token_hex(8)}@phone\r\nCSeq: 1 REGISTER\r\n"
          f"Contact: <sip:alice@127.0.0.1:{lport}>\r\nExpires: 120\r\nContent-Length: 0\r\n\r\n").encode(),
         ("127.0.0.1", port))
n = 0
end = time.time() + 60
while time.time() < end:
    try:
        d, addr = s.recvfrom(65535)
    except socket.timeout:
        continue
    msg = d.decode(errors="replace")
    first = msg.split("\r\n", 1)[0]
    if first.startswith("SIP/2.0"):
        print("REGISTER", first.split()[1], flush=True)
        continue
    if not first.startswith("MESSAGE"):
        continue
    n += 1
    head, _, body = msg.partition("\r\n\r\n")
    lines = [l for l in head.split("\r\n") if re.match(r"(Via|From|To|Call-ID|CSeq)\s*:", l, re.I)]
    code = "480 Temporarily Unavailable" if n == 1 else "200 OK"
    s.sendto((f"SIP/2.0 {code}\r\n" + "\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode(), addr)
    print(f"MESSAGE {n} answered {code.split()[0]} | {body.strip()}", flush=True)
    if n == 2:
        break
PY

pidf() { # BASIC ACTIVITY
	printf '<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:alice@example.test"><tuple id="phone"><status><basic>%s</basic></status></tuple><dm:person id="me"><rpid:activities><rpid:%s/></rpid:activities></dm:person></presence>' "$1" "$2"
}

check "alice's phone registers; she publishes closed (away)"
bg_start phone "$PYTHON" "$T/phone.py" "$SIP_PORT"
PHONE=$BG_PID
wait_for 5 grep -q '^REGISTER 200' "$T/phone.out" || fail "phone not registered: $(cat "$T/phone.out")"
sipmsg --method PUBLISH --uri sip:alice@example.test --from alice@example.test \
	--header "Event: presence" --expires 300 --ctype application/pidf+xml \
	--body "$(pidf closed away)" --expect 200 --final "$T/pub.txt" >"$T/pub.log" 2>&1 ||
	fail "PUBLISH: $(cat "$T/pub.log")"
etag=$(hdr_values "$T/pub.txt" SIP-ETag)

check "bob's MESSAGE: the phone answers 480, the message is stored (202)"
cpm --user bob@example.test --password bob-secret send alice@example.test "are you back?" \
	>"$T/send.out" 2>&1 || true
assert_contains "$T/send.out" "202 Accepted"
assert_contains "$T/phone.out" "MESSAGE 1 answered 480 | are you back?"

check "alice publishes open: cpmd delivers the stored message at once"
sleep 1
assert_not_contains "$T/phone.out" "MESSAGE 2"
sipmsg --method PUBLISH --uri sip:alice@example.test --from alice@example.test \
	--header "Event: presence" --header "SIP-If-Match: $etag" --expires 300 \
	--ctype application/pidf+xml --body "$(pidf open working)" --expect 200 \
	>"$T/pub.log" 2>&1 || fail "PUBLISH (modify): $(cat "$T/pub.log")"
wait_for 8 grep -q '^MESSAGE 2 answered 200 | are you back?' "$T/phone.out" ||
	fail "the stored message was not delivered: $(cat "$T/phone.out")"
assert_contains "$CPMD_LOG" "alice@example.test is back (presence open)"
bg_wait "$PHONE" 5

cpmd_stop
assert_no_sanitizer_errors
echo PASS
