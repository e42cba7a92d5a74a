#!/usr/bin/env bash
# Message waiting (issue 3; seed 000 and R43; RFC 3842 over RFC 6665):
#  - alice SUBSCRIBEs to message-summary for her own AoR: 200 with Expires and a Contact,
#    then a NOTIFY "Messages-Waiting: no" (Subscription-State: active);
#  - bob's MESSAGE for offline alice is stored (202): a NOTIFY says "yes", counts
#    "text-message: 1/0" and lists it with From, Date and Content-Type;
#  - alice registers and takes it: a NOTIFY says "no" again;
#  - an in-dialog refresh is answered 200; Expires: 0 ends it with a NOTIFY
#    "terminated"; a refresh of an unknown dialog gets 481;
#  - the seeds' alias "Event: message" is served the same way.
. "$(dirname "$0")/lib.sh"
need python3
[ -x "$CPM" ] || fail "no cpm binary at $CPM (run make)"

cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
cpmd_start -o auth.trusted=127.0.0.0/8

cat >"$T/mwi_ua.py" <<'PY'
# A subscriber: SUBSCRIBE, then answer every NOTIFY 200 and print its state; when the
# file "stop" appears, refresh once, then unsubscribe (Expires: 0), then probe 481.
import os, re, secrets, socket, sys, time
port, event, tdir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0)); s.settimeout(0.2)
lport = s.getsockname()[1]
cid, ftag, cseq = secrets.token_hex(8) + "@mwi", secrets.token_hex(4), 1
def req(method, ruri, extra, to_tag=""):
    global cseq
    tt = f";tag={to_tag}" if to_tag else ""
    m = (f"{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{secrets.token_hex(6)};rport\r\n"
         f"Max-Forwards: 70\r\nFrom: <sip:alice@example.test>;tag={ftag}\r\n"
         f"To: <sip:alice@example.test>{tt}\r\nCall-ID: {cid}\r\nCSeq: {cseq} {method}\r\n"
         f"Contact: <sip:alice@127.0.0.1:{lport}>\r\n{extra}Content-Length: 0\r\n\r\n")
    cseq += 1
    s.sendto(m.encode(), ("127.0.0.1", port))
def hdr(msg, name):
    m = re.search(r"^" + name + r"\s*:\s*(.*?)\r?$", msg, re.I | re.M)
    return m.group(1) if m else ""
def answer(msg):
    head = msg.split("\r\n\r\n", 1)[0]  # the body lists From/Date of messages too
    lines = [l for l in head.split("\r\n") if re.match(r"(Via|From|To|Call-ID|CSeq)\s*:", l, re.I)]
    s.sendto(("SIP/2.0 200 OK\r\n" + "\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode(), addr)
def pump(until, want_final=None):
    global addr
    final = None
    end = time.time() + until
    while time.time() < end:
        try:
            d, addr = s.recvfrom(65535)
        except socket.timeout:
            if want_final is None and os.path.exists(os.path.join(tdir, "stop")):
                return None
            continue
        msg = d.decode(errors="replace")
        first = msg.split("\r\n", 1)[0]
        if first.startswith("NOTIFY"):
            answer(msg)
            body = msg.split("\r\n\r\n", 1)[1]
            print("NOTIFY", hdr(msg, "Event"), "|", hdr(msg, "Subscription-State"), "|",
                  hdr(body, "Messages-Waiting"), "|", hdr(body, "text-message"), "|",
                  hdr(body, "From"), "|", hdr(body, "Content-Type"), "|",
                  hdr(body, "Content-Location"), flush=True)
            if "terminated" in hdr(msg, "Subscription-State") and want_final == "terminated":
                return "terminated"
        elif first.startswith("SIP/2.0"):
            code = first.split()[1]
            if code != "100":
                print("RESPONSE", hdr(msg, "CSeq"), code, "expires=" + hdr(msg, "Expires"),
                      "contact=" + hdr(msg, "Contact"), flush=True)
                final = (code, msg)
                if want_final == "response":
                    return final
    return final
req("SUBSCRIBE", "sip:alice@example.test",
    f"Event: {event}\r\nAccept: application/simple-message-summary\r\nExpires: 120\r\n")
code, ok = pump(5, "response")
to_tag = re.search(r";tag=([^;>\s]+)", hdr(ok, "To")).group(1)
target = re.search(r"<([^>]+)>", hdr(ok, "Contact")).group(1)
pump(60)  # NOTIFYs until told to stop
req("SUBSCRIBE", target, f"Event: {event}\r\nExpires: 120\r\n", to_tag)
pump(3, "response")
req("SUBSCRIBE", target, f"Event: {event}\r\nExpires: 0\r\n", to_tag)
pump(5, "terminated")
req("SUBSCRIBE", target, f"Event: {event}\r\nExpires: 60\r\n", to_tag)
pump(3, "response")
PY

run_ua() { # EVENT NAME
	rm -f "$T/stop"
	bg_start "$2" /usr/bin/python3 "$T/mwi_ua.py" "$SIP_PORT" "$1" "$T"
	UA_PID=$BG_PID
}
notifies() { grep -c '^NOTIFY' "$T/$1.out" || true; }

check "alice subscribes to message-summary: 200 (Expires, Contact) + NOTIFY Messages-Waiting: no"
run_ua message-summary ua
wait_for 5 grep -q '^NOTIFY.*| no |' "$T/ua.out" || fail "no first NOTIFY: $(cat "$T/ua.out")"
assert_match "$T/ua.out" '^RESPONSE 1 SUBSCRIBE 200 expires=120 contact=<sip:127\.0\.0\.1:'
assert_match "$T/ua.out" '^NOTIFY message-summary \| active;expires=1[12][0-9] \| no'

check "bob's MESSAGE to offline alice -> 202 and NOTIFY yes, text-message 1/0, From bob"
cpm --user bob@example.test --password bob-secret send alice@example.test "call me back" \
	>"$T/send.out" 2>&1 || true
assert_contains "$T/send.out" "202 Accepted"
wait_for 5 grep -q '^NOTIFY.*| yes | 1/0 | <sip:bob@example.test> | text/plain' "$T/ua.out" ||
	fail "no NOTIFY for the stored message: $(cat "$T/ua.out")"
assert_match "$T/ua.out" '^NOTIFY.*\| yes \| 1/0 \|.*text/plain \| http://127\.0\.0\.1:[0-9]+/m/[0-9]+\?t=[0-9a-f]{32}$'

check "alice registers and takes the message -> NOTIFY Messages-Waiting: no"
n=$(notifies ua)
bg_start listen "$CPM" --server "127.0.0.1:$SIP_PORT" --user alice@example.test \
	--password alice-secret listen --count 1 --duration 15
bg_wait "$BG_PID" 20
[ "$BG_RC" -eq 0 ] || fail "alice got nothing: $(cat "$T/listen.out")"
wait_for 5 test "$(notifies ua)" -gt "$n" || fail "no NOTIFY after the delivery"
tail -n 1 "$T/ua.out" | grep -q '| no | 0/0' || fail "last NOTIFY is not 'no 0/0': $(tail -n 1 "$T/ua.out")"

check "refresh 200; Expires: 0 -> 200 + NOTIFY terminated; then 481"
touch "$T/stop"
bg_wait "$UA_PID" 20
cat "$T/ua.out"
assert_match "$T/ua.out" '^RESPONSE 2 SUBSCRIBE 200 expires=120'
assert_match "$T/ua.out" '^RESPONSE 3 SUBSCRIBE 200 expires=0'
assert_match "$T/ua.out" '^NOTIFY message-summary \| terminated'
assert_match "$T/ua.out" '^RESPONSE 4 SUBSCRIBE 481'

check "the seeds' alias Event: message is served too"
run_ua message ua2
wait_for 5 grep -q '^NOTIFY message | active' "$T/ua2.out" || fail "alias not served: $(cat "$T/ua2.out")"
touch "$T/stop"
bg_wait "$UA_PID" 20

cpmd_stop
assert_no_sanitizer_errors
