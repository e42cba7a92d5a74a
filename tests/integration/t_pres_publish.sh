#!/usr/bin/env bash
# Presence publication (RFC 3903) and NOTIFY on change (RFC 3856), issue 5:
#  - SIPp (sipp/pres_publish.xml), each PUBLISH challenged and authenticated: an initial
#    PUBLISH gets 200 with SIP-ETag and Expires; a refresh (SIP-If-Match, no body) a new
#    entity-tag; a modify (SIP-If-Match + PIDF) another; a removal (Expires: 0) 200 with
#    Expires: 0; the removed tag then 412;
#  - the refusals (sipmsg.py): 489 + Allow-Events for another event package, 403 when bob
#    publishes alice's presence, 423 + Min-Expires, 415 + Accept for a body that is not
#    PIDF, 400 (+ Warning) for malformed PIDF, 413 over presence.max_pidf_size, 412 for
#    an unknown entity-tag, 400 for an initial PUBLISH without a body;
#  - two initial PUBLISHes from one address: the second replaces the first (412 after);
#  - a SIPp watcher (sipp/pres_watch.xml, bob, allowed by the default policy) sees: the
#    state built from registrations (closed, nobody registered), each device's publication
#    composed into one document (two tuples, the RPID person on the phone), the short
#    publication of one device expire, and the terminating NOTIFY (reason=timeout) with
#    the last state.
. "$(dirname "$0")/lib.sh"
need sipp python3

cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
cpmd_start -o auth.algorithms=MD5,SHA-256 -o presence.min_expires=2 \
	-o presence.min_notify_interval=0 -o presence.default_policy=allow \
	-o presence.max_pidf_size=2048

NS='xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid"'
pidf() { # TUPLE BASIC NOTE [ACTIVITY]
	local person=
	[ -z "${4:-}" ] || person="<dm:person id=\"p-$1\"><rpid:activities><rpid:$4/></rpid:activities></dm:person>"
	printf '<?xml version="1.0" encoding="UTF-8"?>\n<presence %s entity="sip:alice@example.test"><tuple id="%s"><status><basic>%s</basic></status></tuple><note>%s</note>%s</presence>' \
		"$NS" "$1" "$2" "$3" "$person"
}
# publish EXPECT [EVENT] [sipmsg args...]: a PUBLISH by alice to her AoR
publish() {
	local want=$1 ev=presence
	shift
	case ${1:-} in -*) ;; *) ev=$1; shift ;; esac
	sipmsg --method PUBLISH --uri sip:alice@example.test --user alice@example.test \
		--password alice-secret --header "Event: $ev" --expect "$want" \
		--final "$T/pub.txt" "$@" >"$T/pub.log" 2>&1 ||
		fail "PUBLISH $* (expected $want): $(cat "$T/pub.log")"
}

check "SIPp: PUBLISH 200 + SIP-ETag; refresh and modify get new tags; remove; 412 after"
sipp_run pres_publish.xml -au alice -ap alice-secret -auth_uri alice@example.test \
	-key user alice -key domain example.test -key expires 60 \
	-trace_logs -log_file "$T/sipp-pub.log" || fail "pres_publish.xml failed"
e1=$(sed -n 's/^etag1=\([0-9a-zA-Z]*\) .*/\1/p' "$T/sipp-pub.log")
e2=$(sed -n 's/^etag2=\([0-9a-zA-Z]*\)$/\1/p' "$T/sipp-pub.log")
e3=$(sed -n 's/^etag3=\([0-9a-zA-Z]*\)$/\1/p' "$T/sipp-pub.log")
[ -n "$e1" ] && [ -n "$e2" ] && [ -n "$e3" ] || fail "entity-tags not logged: $(cat "$T/sipp-pub.log")"
[ "$e1" != "$e2" ] && [ "$e2" != "$e3" ] && [ "$e1" != "$e3" ] ||
	fail "each successful PUBLISH gets a new entity-tag: $e1 $e2 $e3"
assert_contains "$T/sipp-pub.log" "etag1=$e1 expires=60"
assert_contains "$T/sipp-pub.log" "removed, expires=0"

check "refusals: 489, 403, 423, 415, 400 (malformed), 413, 412, 400 (no body)"
publish 489 dialog --ctype application/pidf+xml --body "$(pidf t open x)"
hdr_has "$T/pub.txt" 'Allow-Events|u' '^presence$' || fail "489 without Allow-Events: presence"
sipmsg --method PUBLISH --uri sip:alice@example.test --user bob@example.test \
	--password bob-secret --header "Event: presence" --ctype application/pidf+xml \
	--body "$(pidf t open x)" --expect 403 >"$T/pub.log" 2>&1 ||
	fail "bob publishing alice's presence: $(cat "$T/pub.log")"
publish 423 --expires 1 --ctype application/pidf+xml --body "$(pidf t open x)"
hdr_has "$T/pub.txt" 'Min-Expires' '^2$' || fail "423 without Min-Expires: 2"
publish 415 --ctype text/plain --body "I am here"
hdr_has "$T/pub.txt" 'Accept' '^application/pidf\+xml$' || fail "415 without Accept"
publish 400 --ctype application/pidf+xml \
	--body "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:alice@example.test\"><tuple id=\"t\"/></presence>"
hdr_has "$T/pub.txt" 'Warning' 'tuple without status' || fail "400 without the Warning"
publish 400 --ctype application/pidf+xml --body "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"><tuple"
publish 413 --ctype application/pidf+xml --body "$(pidf t open "$(head -c 3000 /dev/zero | tr '\0' x)")"
publish 412 --header "SIP-If-Match: 0123456789abcdef" --ctype application/pidf+xml \
	--body "$(pidf t open x)"
publish 400 --expires 60

check "a second initial PUBLISH from the same address replaces the first (no stale state)"
lp=$(free_port)
publish 200 --local-port "$lp" --expires 60 --ctype application/pidf+xml --body "$(pidf r open one)"
first=$(hdr_values "$T/pub.txt" SIP-ETag)
publish 200 --local-port "$lp" --expires 60 --ctype application/pidf+xml --body "$(pidf r closed two)"
second=$(hdr_values "$T/pub.txt" SIP-ETag)
assert_contains "$CPMD_LOG" "alice@example.test published $second for 60 s from UDP:127.0.0.1:$lp (replacing its previous one)"
publish 412 --header "SIP-If-Match: $first" --expires 60
publish 200 --header "SIP-If-Match: $second" --expires 0
hdr_has "$T/pub.txt" 'Expires' '^0$' || fail "removal not answered Expires: 0"

check "bob watches alice: closed (no device), then the devices' publications composed"
wp=$(free_port)
wcp=$(free_port)
wmp=$(free_port)
bg_start watch env -C "$T" timeout -k 5 60 sipp "127.0.0.1:$SIP_PORT" \
	-sf "$SIPP_DIR/pres_watch.xml" -i 127.0.0.1 -p "$wp" -cp "$wcp" -mp "$wmp" -nostdin \
	-m 1 -timeout 50s -timeout_error -trace_msg -message_file "$T/watch.msg" \
	-trace_err -error_file "$T/watch.err" -au bob -ap bob-secret \
	-auth_uri alice@example.test -key user bob -key target alice \
	-key domain example.test -key expires 12
WATCH=$BG_PID
wait_for 8 grep -q "bob@example.test subscribed to presence of alice@example.test" "$CPMD_LOG" ||
	fail "bob's subscription not seen"
sleep 0.5
publish 200 --expires 60 --ctype application/pidf+xml --body "$(pidf desk open "at my desk")"
hdr_has "$T/pub.txt" 'SIP-ETag' '^[0-9a-f]{16}$' || fail "no SIP-ETag"
hdr_has "$T/pub.txt" 'Expires' '^60$' || fail "Expires not 60"
sleep 0.5
publish 200 --expires 3 --ctype application/pidf+xml \
	--body "$(pidf mobile closed "driving" on-the-phone)"
wait_for 8 grep -q "a publication of alice@example.test expired" "$CPMD_LOG" ||
	fail "the 3 s publication did not expire"
bg_wait "$WATCH" 30
[ "$BG_RC" -eq 0 ] || fail "the watcher failed ($BG_RC): $(tail -n 20 "$T/watch.err" 2>/dev/null)"

# The NOTIFYs bob answered, in order: state | tuples (id=basic) | activities | notes
"$PYTHON" - "$T/watch.msg" >"$T/notifies.txt" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
for m in re.split(r"\n-{10,}[^\n]*\n", text):
    m = m.split("\n", 1)[1] if "message received" in m.split("\n", 1)[0] else ""
    m = m.strip()
    if not m.startswith("NOTIFY "):
        continue
    head, _, body = m.partition("\n\n")
    st = re.search(r"^Subscription-State:\s*(\S+)", head, re.M | re.I).group(1)
    ct = re.search(r"^Content-Type:\s*(\S+)", head, re.M | re.I)
    tuples = ",".join(f"{i}={b}" for i, b in re.findall(
        r'<(?:\w+:)?tuple[^>]*id="([^"]+)".*?<(?:\w+:)?basic>(\w+)<', body, re.S))
    acts = ",".join(re.findall(r"<rpid:(on-the-phone|busy|away)/>", body))
    notes = ",".join(re.findall(r"<note>([^<]*)</note>", body))
    print(f"{st.split(';')[0]} | {ct.group(1) if ct else '-'} | {tuples} | {acts} | {notes}")
PY
cat "$T/notifies.txt"
exp="active | application/pidf+xml | cpmd-registration=closed |  | 
active | application/pidf+xml | desk=open |  | at my desk
active | application/pidf+xml | mobile=closed,desk=open | on-the-phone | driving,at my desk
active | application/pidf+xml | desk=open |  | at my desk
terminated | application/pidf+xml | desk=open |  | at my desk"
assert_eq "$(cat "$T/notifies.txt")" "$exp" "the NOTIFYs bob got"
grep -q "Subscription-State: terminated;reason=timeout" "$T/watch.msg" ||
	fail "the last NOTIFY is not terminated;reason=timeout"

cpmd_stop
assert_no_sanitizer_errors
echo PASS
