#!/usr/bin/env bash
# Subscriptions behind a record-routing proxy (RFC 3261 §12.1.1, §12.2.1.1) and the
# Event id (RFC 6665 §7.2.1, §8.2.1):
#  - alice SUBSCRIBEs to her message-summary with "Event: message-summary;id=42" and a
#    Record-Route naming a second socket of the test (the "proxy");
#  - the 200 copies the Record-Route;
#  - the NOTIFY goes to the proxy socket (not to the Contact's address) with
#    "Route: <proxy;lr>", the Request-URI alice's Contact, and "Event: ...;id=42";
#  - the same for a presence subscription of bob to alice (allowed), and a subscription
#    without Record-Route still gets its NOTIFY straight at its Contact, with no Route.
. "$(dirname "$0")/lib.sh"
need python3

cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
cpmd_start -o auth.trusted=127.0.0.0/8 -o presence.min_notify_interval=0 \
	-o presence.default_policy=allow

cat >"$T/sub.py" <<'PY'
import secrets, socket, sys, time
port, event, frm, to, rr = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] == "rr"
ua = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); ua.bind(("127.0.0.1", 0)); ua.settimeout(0.2)
px = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); px.bind(("127.0.0.1", 0)); px.settimeout(0.2)
up, pp = ua.getsockname()[1], px.getsockname()[1]
rr_hdr = f"Record-Route: <sip:127.0.0.1:{pp};lr>\r\n" if rr else ""
ua.sendto((f"SUBSCRIBE sip:{to} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{up};branch=z9hG4bK{secrets.token_hex(6)};rport\r\n"
           f"Max-Forwards: 70\r\nFrom: <sip:{frm}>;tag={secrets.token_hex(4)}\r\nTo: <sip:{to}>\r\n"
           f"Call-ID: {secrets.token_hex(8)}@t\r\nCSeq: 1 SUBSCRIBE\r\nEvent: {event};id=42\r\n"
           f"Contact: <sip:sub@127.0.0.1:{up}>\r\n{rr_hdr}Expires: 60\r\nContent-Length: 0\r\n\r\n").encode(),
          ("127.0.0.1", port))
end = time.time() + 10
got_ok = got_notify = False
while time.time() < end and not (got_ok and got_notify):
    for name, s in (("ua", ua), ("proxy", px)):
        try:
            d, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        msg = d.decode(errors="replace")
        head = msg.split("\r\n\r\n", 1)[0]
        first = head.split("\r\n", 1)[0]
        if first.startswith("SIP/2.0 100"):
            continue
        print(f"== {name}: {first}")
        for line in head.split("\r\n")[1:]:
            if line.split(":", 1)[0].lower() in ("route", "record-route", "event"):
                print(line)
        if first.startswith("SIP/2.0 2"):
            got_ok = True
        elif first.startswith("NOTIFY"):
            got_notify = True
            hs = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in head.split("\r\n")[1:] if ":" in l}
            s.sendto((f"SIP/2.0 200 OK\r\nVia: {hs['via']}\r\nFrom: {hs['from']}\r\nTo: {hs['to']}\r\n"
                      f"Call-ID: {hs['call-id']}\r\nCSeq: {hs['cseq']}\r\nContent-Length: 0\r\n\r\n").encode(), addr)
print("PORTS", up, pp)
sys.exit(0 if got_ok and got_notify else 1)
PY

say "message-summary with Record-Route and Event id"
python3 "$T/sub.py" "$SIP_PORT" message-summary alice@example.test alice@example.test rr >"$T/mwi.out" 2>&1 ||
	{ cat "$T/mwi.out"; fail "no 200 or no NOTIFY"; }
cat "$T/mwi.out"
read -r _ up pp < <(grep '^PORTS' "$T/mwi.out")
check "the 200 copies the Record-Route"
grep -A3 '^== ua: SIP/2.0 200' "$T/mwi.out" | grep -q "Record-Route: <sip:127.0.0.1:$pp;lr>" ||
	fail "200 without the Record-Route"
check "the NOTIFY went to the proxy, with Route and the Event id"
assert_contains "$T/mwi.out" "== proxy: NOTIFY sip:sub@127.0.0.1:$up SIP/2.0"
assert_contains "$T/mwi.out" "Route: <sip:127.0.0.1:$pp;lr>"
assert_contains "$T/mwi.out" "Event: message-summary;id=42"
assert_not_contains "$T/mwi.out" "== ua: NOTIFY"

say "presence with Record-Route"
python3 "$T/sub.py" "$SIP_PORT" presence bob@example.test alice@example.test rr >"$T/pres.out" 2>&1 ||
	{ cat "$T/pres.out"; fail "presence: no 200 or no NOTIFY"; }
cat "$T/pres.out"
read -r _ up pp < <(grep '^PORTS' "$T/pres.out")
assert_contains "$T/pres.out" "== proxy: NOTIFY sip:sub@127.0.0.1:$up SIP/2.0"
assert_contains "$T/pres.out" "Event: presence;id=42"

say "no Record-Route: straight to the Contact, no Route"
python3 "$T/sub.py" "$SIP_PORT" message-summary alice@example.test alice@example.test none \
	>"$T/plain.out" 2>&1 || { cat "$T/plain.out"; fail "plain: no 200 or no NOTIFY"; }
cat "$T/plain.out"
assert_contains "$T/plain.out" "== ua: NOTIFY"
assert_not_contains "$T/plain.out" "Route:"

cpmd_stop
assert_no_sanitizer_errors
