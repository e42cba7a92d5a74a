#!/usr/bin/env bash
# Presence authorization and watcher information (RFC 3856 §6.6, RFC 3857/3858), issue 5.
# cpmd runs with presence.default_policy=confirm and a source it trusts (the watchers'
# identity is their From), with NOTIFYs rate limited to one per 1.5 s:
#  - carol, allowed with `cpmd presence allow`, sees alice open from her registration
#    alone (a tuple built by the server);
#  - bob, in no list, gets 202 and a NOTIFY "pending" without a body; `cpmd presence
#    pending` lists him;
#  - alice watches who watches her (Event: presence.winfo): carol active, bob pending;
#    bob may not read alice's watcher information (403); a blocked domain gets 403;
#  - erin asks and unsubscribes before alice decides: "waiting" in alice's winfo;
#  - `cpmd presence allow` (the running server reloads the lists): bob's subscription
#    becomes active with the PIDF, alice's winfo says "approved"; `cpmd presence block`:
#    bob's ends (terminated;reason=rejected) and he leaves alice's winfo;
#  - rate limiting: two publications in the same interval reach carol as one NOTIFY
#    carrying the second;
#  - a watched user is deleted: the next refresh ends the subscription (reason=noresource);
#  - SIGTERM: the remaining subscriptions end with reason=deactivated.
. "$(dirname "$0")/lib.sh"
need python3

for u in alice bob carol dave; do cpmd_user_add "$u@example.test" "$u-secret"; done
cpmd presence allow alice@example.test carol@example.test >"$T/cli.out" 2>&1 ||
	fail "cpmd presence allow: $(cat "$T/cli.out")"
cpmd presence allow dave@example.test carol@example.test >>"$T/cli.out" 2>&1 || fail "allow"
cpmd_start -o auth.trusted=127.0.0.0/8 -o presence.default_policy=confirm \
	-o presence.min_notify_interval=1500 -o presence.min_expires=2

cat >"$T/ua.py" <<'PY'
# A watcher: SUBSCRIBE, answer each NOTIFY 200 and print a summary line of it; the file
# NAME.refresh makes it refresh, NAME.stop unsubscribe; it ends after a terminated NOTIFY.
import os, re, secrets, socket, sys, time
port, user, target, event, tdir, name = sys.argv[1:7]
accept = "application/watcherinfo+xml" if event.endswith(".winfo") else "application/pidf+xml"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0)); s.settimeout(0.1)
lport = s.getsockname()[1]
cid, ftag, cseq = secrets.token_hex(8) + "@ua", secrets.token_hex(4), 1
to_tag, target_uri = "", f"sip:{target}"
def req(ruri, expires):
    global cseq
    tt = f";tag={to_tag}" if to_tag else ""
    m = (f"SUBSCRIBE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{secrets.token_hex(6)};rport\r\n"
         f"Max-Forwards: 70\r\nFrom: <sip:{user}>;tag={ftag}\r\nTo: <sip:{target}>{tt}\r\n"
         f"Call-ID: {cid}\r\nCSeq: {cseq} SUBSCRIBE\r\nContact: <sip:{user.split('@')[0]}@127.0.0.1:{lport}>\r\n"
         f"Event: {event}\r\nAccept: {accept}\r\nExpires: {expires}\r\nContent-Length: 0\r\n\r\n")
    cseq += 1
    s.sendto(m.encode(), ("127.0.0.1", int(port)))
def hdr(msg, n):
    m = re.search(r"^" + n + r"\s*:\s*(.*?)\r?$", msg, re.I | re.M)
    return m.group(1) if m else ""
def summary(body):
    if not body.strip():
        return "-"
    if "<watcherinfo" in body:
        ws = re.findall(r"<watcher ([^>]*)>([^<]*)</watcher>", body)
        out = []
        for attrs, uri in ws:
            a = dict(re.findall(r'([\w-]+)="([^"]*)"', attrs))
            out.append(f"{uri}={a.get('status')}/{a.get('event')}")
        v = re.search(r'version="(\d+)"', body).group(1)
        return f"v{v} " + (",".join(sorted(out)) or "nobody")
    tuples = ",".join(f"{i}={b}" for i, b in re.findall(
        r'<(?:\w+:)?tuple[^>]*id="([^"]+)".*?<(?:\w+:)?basic>(\w+)<', body, re.S))
    notes = ",".join(re.findall(r"<note>([^<]*)</note>", body))
    return f"{tuples} {notes}".strip()
req(target_uri, 60)
end = time.time() + 60
while time.time() < end:
    for what in ("refresh", "stop"):
        f = os.path.join(tdir, f"{name}.{what}")
        if os.path.exists(f) and to_tag:
            os.unlink(f)
            req(target_uri, 0 if what == "stop" else 60)
    try:
        d, addr = s.recvfrom(65535)
    except socket.timeout:
        continue
    msg = d.decode(errors="replace")
    first = msg.split("\r\n", 1)[0]
    if first.startswith("SIP/2.0"):
        code = first.split()[1]
        if code == "100":
            continue
        if not to_tag:
            m = re.search(r";tag=([^;>\s]+)", hdr(msg, "To"))
            to_tag = m.group(1) if m else ""
            c = re.search(r"<([^>]+)>", hdr(msg, "Contact"))
            target_uri = c.group(1) if c else target_uri
        print("RESPONSE", hdr(msg, "CSeq"), code, flush=True)
        if int(code) >= 300 and hdr(msg, "CSeq").startswith("1 "):
            break
        continue
    if first.startswith("NOTIFY"):
        head, _, body = msg.partition("\r\n\r\n")
        lines = [l for l in head.split("\r\n") if re.match(r"(Via|From|To|Call-ID|CSeq)\s*:", l, re.I)]
        s.sendto(("SIP/2.0 200 OK\r\n" + "\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode(), addr)
        state = hdr(msg, "Subscription-State")
        print(f"NOTIFY {hdr(msg, 'Event')} | {state} | {hdr(msg, 'Content-Type') or '-'} | {summary(body)}", flush=True)
        if state.startswith("terminated"):
            break
PY
ua_start() { # NAME WATCHER TARGET EVENT
	bg_start "$1" "$PYTHON" "$T/ua.py" "$SIP_PORT" "$2" "$3" "$4" "$T" "$1"
}
last() { grep '^NOTIFY' "$T/$1.out" | tail -n 1; }
nnotify() { grep -c '^NOTIFY' "$T/$1.out" || true; }
wait_line() { # NAME ERE [SECONDS] — the UA printed a line matching ERE
	wait_for "${3:-6}" grep -q -E -- "$2" "$T/$1.out" || fail "$1: no line /$2/: $(cat "$T/$1.out")"
}
pidf() { # TUPLE BASIC NOTE
	printf '<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@example.test"><tuple id="%s"><status><basic>%s</basic></status></tuple><note>%s</note></presence>' "$1" "$2" "$3"
}
ETAG=
publish() { # TUPLE BASIC NOTE — the first creates a publication, the next modify it
	local im=()
	[ -z "$ETAG" ] || im=(--header "SIP-If-Match: $ETAG")
	sipmsg --method PUBLISH --uri sip:alice@example.test --from alice@example.test \
		--header "Event: presence" "${im[@]}" --expires 60 --ctype application/pidf+xml \
		--body "$(pidf "$@")" --expect 200 --final "$T/pub.txt" >"$T/pub.log" 2>&1 ||
		fail "PUBLISH: $(cat "$T/pub.log")"
	ETAG=$(hdr_values "$T/pub.txt" SIP-ETag)
}

check "carol (allowed) sees alice open from her registration alone"
sipmsg --method REGISTER --uri sip:example.test --from alice@example.test \
	--to alice@example.test --contact auto --expires 60 --expect 200 >"$T/reg.log" 2>&1 ||
	fail "REGISTER: $(cat "$T/reg.log")"
ua_start carol carol@example.test alice@example.test presence
wait_line carol '^NOTIFY presence \| active;expires=[0-9]+ \| application/pidf\+xml \| cpmd-registration=open'
assert_contains "$T/carol.out" "RESPONSE 1 SUBSCRIBE 200"

check "bob (no entry, policy confirm): 202, NOTIFY pending without a body; listed as pending"
ua_start bob bob@example.test alice@example.test presence
wait_line bob '^NOTIFY presence \| pending;expires=[0-9]+ \| - \| -$'
assert_contains "$T/bob.out" "RESPONSE 1 SUBSCRIBE 202"
wait_for 3 grep -qx bob@example.test <<<"$(cpmd presence pending alice@example.test)" ||
	fail "bob not pending: $(cpmd presence list)"

check "alice's watcher-info: carol active, bob pending; refused to bob and to a blocked domain"
ua_start winfo alice@example.test alice@example.test presence.winfo
wait_line winfo '^NOTIFY presence.winfo \| active;expires=[0-9]+ \| application/watcherinfo\+xml \| v0 sip:bob@example.test=pending/subscribe,sip:carol@example.test=active/subscribe$'
ua_start spy bob@example.test alice@example.test presence.winfo
wait_line spy '^RESPONSE 1 SUBSCRIBE 403'
cpmd presence block alice@example.test '*@evil.test' >>"$T/cli.out" 2>&1 || fail "block *@evil.test"
sleep 1.5 # the server polls the lists every second
ua_start mallory mallory@evil.test alice@example.test presence
wait_line mallory '^RESPONSE 1 SUBSCRIBE 403'

check "erin asks and goes away before a decision: 'waiting' in alice's winfo"
ua_start erin erin@example.test alice@example.test presence
wait_line erin '^NOTIFY presence \| pending;'
touch "$T/erin.stop"
wait_line erin '^NOTIFY presence \| terminated;reason=timeout \| - \| -$'
wait_line winfo 'sip:carol@example.test=active/subscribe,sip:erin@example.test=waiting/timeout$'

check "cpmd presence allow bob: his subscription turns active with the state; winfo: approved"
cpmd presence allow alice@example.test sip:bob@example.test >>"$T/cli.out" 2>&1 || fail "allow bob"
wait_line bob '^NOTIFY presence \| active;expires=[0-9]+ \| application/pidf\+xml \| cpmd-registration=open'
wait_line winfo 'sip:bob@example.test=active/approved,sip:carol@example.test=active/subscribe,sip:erin@example.test=waiting/timeout$'
assert_eq "$(cpmd presence pending alice@example.test)" "erin@example.test" "pending after allow"

check "cpmd presence block bob: terminated;reason=rejected, gone from alice's winfo"
cpmd presence block alice@example.test bob@example.test >>"$T/cli.out" 2>&1 || fail "block bob"
wait_line bob '^NOTIFY presence \| terminated;reason=rejected \| - \| -$'
wait_line winfo 'v[0-9]+ sip:carol@example.test=active/subscribe,sip:erin@example.test=waiting/timeout$'
assert_contains "$T/cli.out" "alice@example.test: 1 watcher blocked"
grep -q "alice@example.test block bob@example.test" <<<"$(cpmd presence list alice@example.test)" ||
	fail "list: $(cpmd presence list)"

check "rate limiting: two changes within min_notify_interval reach carol as one NOTIFY"
sleep 1.6
publish desk open "first"
wait_line carol 'desk=open first$'
n=$(nnotify carol)
publish desk open "second"
publish desk open "third"
wait_line carol 'desk=open third$' 4
sleep 1.6
assert_eq "$(nnotify carol)" "$((n + 1))" "NOTIFYs carol got after the first"
assert_not_contains "$T/carol.out" "desk=open second"

check "a watched user is deleted: the next refresh ends it with reason=noresource"
ua_start dave carol@example.test dave@example.test presence
wait_line dave '^NOTIFY presence \| active;expires=[0-9]+ \| application/pidf\+xml \| cpmd-registration=closed'
cpmd user del dave@example.test >>"$T/cli.out" 2>&1 || fail "user del"
touch "$T/dave.refresh"
wait_line dave '^NOTIFY presence \| terminated;reason=noresource \| - \| -$'
assert_contains "$T/dave.out" "RESPONSE 2 SUBSCRIBE 200"

check "SIGTERM: the remaining subscriptions end with reason=deactivated"
cpmd_stop
wait_line carol '^NOTIFY presence \| terminated;reason=deactivated'
wait_line winfo '^NOTIFY presence.winfo \| terminated;reason=deactivated'
assert_no_sanitizer_errors
echo PASS
