#!/usr/bin/env bash
# Registrar details (RFC 3261 §10.2/§10.3, RFC 3327 Path, RFC 5626 instance/reg-id).
# Runs from a trusted source (auth.trusted=127.0.0.0/8: auth is not the point here),
# then once authenticated:
#  - several Contacts per AoR with q and expires: the 200 lists every binding with its
#    expires and q (§10.3 step 8);
#  - Contact;expires=0 removes only that binding; "Contact: *" + "Expires: 0" removes all;
#    "*" with another Contact, or with a non-zero / missing Expires -> 400 (§10.3 step 6);
#  - expires below registrar.min_expires -> 423 + Min-Expires (step 7); above
#    registrar.max_expires -> shortened to it;
#  - refresh with the same Call-ID and an equal or lower CSeq -> 500 (step 7); another
#    Call-ID updates whatever its CSeq; bindings are matched by URI comparison (§19.1.4:
#    host case, parameter order, escaping), transport=udp vs none are two bindings;
#  - +sip.instance/reg-id: the same instance re-registering a new Contact replaces the
#    old binding (RFC 5626 §6), and the 200 carries "Require: outbound";
#  - Path with "Supported: path": the 200 echoes Path; a MESSAGE to the user carries
#    Route = Path and is sent to the Path (RFC 3327 §5.3, §5.4; RFC 3261 §16.6 step 7);
#  - registrar.max_contacts -> 403 beyond it; Record-Route ignored; an AoR of another
#    domain than the Request-URI's -> 404 (step 5);
#  - bindings survive cpmd_restart: a REGISTER without Contact (a query, §10.2.3)
#    lists them;
#  - authenticated (no trusted source): two Contacts with q -> 200 lists both.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/reg_lib.sh"
need sipp python3

MAXC=3
# small T1/T2: Timer F/J = 3.2 s, so failed branches and shutdowns are quick
cpmd_start -o sip.t1=50 -o sip.t2=200 -o auth.trusted=127.0.0.0/8 -o registrar.min_expires=60 \
	-o registrar.max_expires=3600 -o registrar.default_expires=1200 \
	-o registrar.max_contacts=$MAXC

P1=$(free_port) P2=$(free_port) P3=$(free_port) # contact ports: nobody listens there
C1="sip:dev1@127.0.0.1:$P1" C2="sip:dev2@127.0.0.1:$P2" C3="sip:dev3@127.0.0.1:$P3"
CID=bindings-$RANDOM@reg-test

in_range() { # VALUE LO HI
	[ -n "$1" ] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]
}
q_is() { # FILE URI Q — the listed q equals Q numerically (absent q = 1)
	local q
	q=$(contact_param "$1" "$2" q)
	python3 -c "import sys; sys.exit(0 if abs(float(sys.argv[1] or 1) - float(sys.argv[2])) < 1e-9 else 1)" "$q" "$3"
}

# ---------------------------------------------------------------- several contacts
check "three Contacts (q=0.3 expires=300, q=0.9 expires=600, no q + Expires: 1000) -> 200 lists all three"
rs multi --uri sip:example.test --from b1@example.test --to b1@example.test --call-id "$CID" --cseq 1 \
	--contact "<$C1>;q=0.3;expires=300" --contact "<$C2>;q=0.9;expires=600" --contact "<$C3>" \
	--expires 1000
expect_status 200 "REGISTER with three Contacts"
contacts_of "$RS_FILE" | sed 's/^/   /'
assert_eq "$(ncontacts "$RS_FILE")" 3 "number of bindings listed"
in_range "$(contact_param "$RS_FILE" "$C1" expires)" 290 300 || fail "dev1 expires not ~300: $(contact_line "$RS_FILE" "$C1")"
in_range "$(contact_param "$RS_FILE" "$C2" expires)" 590 600 || fail "dev2 expires not ~600: $(contact_line "$RS_FILE" "$C2")"
in_range "$(contact_param "$RS_FILE" "$C3" expires)" 990 1000 || fail "dev3 expires not ~1000 (Expires header): $(contact_line "$RS_FILE" "$C3")"
check "q honoured in the listing: dev1 q=0.3, dev2 q=0.9, dev3 q=1"
q_is "$RS_FILE" "$C1" 0.3 || fail "dev1 q: $(contact_line "$RS_FILE" "$C1")"
q_is "$RS_FILE" "$C2" 0.9 || fail "dev2 q: $(contact_line "$RS_FILE" "$C2")"
q_is "$RS_FILE" "$C3" 1 || fail "dev3 q: $(contact_line "$RS_FILE" "$C3")"
hdr_has "$RS_FILE" 'To|t' ';tag=' || fail "To of the 200 has no tag"
[ -n "$(hdr_values "$RS_FILE" Date)" ] || fail "the 200 has no Date header (§10.3 step 8 SHOULD)"

check "query (no Contact) -> 200 lists the same three bindings (§10.2.3)"
rs query1 --uri sip:example.test --from b1@example.test --to b1@example.test --call-id "$CID" --cseq 2
expect_status 200 "query"
assert_eq "$(ncontacts "$RS_FILE")" 3 "bindings listed by the query"

check "Contact: <dev1>;expires=0 removes only dev1 (§10.2.2)"
rs del1 --uri sip:example.test --from b1@example.test --to b1@example.test --call-id "$CID" --cseq 3 \
	--contact "<$C1>;expires=0"
expect_status 200 "removing dev1"
[ -z "$(contact_line "$RS_FILE" "$C1")" ] ||
	[ "$(contact_param "$RS_FILE" "$C1" expires)" = 0 ] || fail "dev1 still listed: $(contact_line "$RS_FILE" "$C1")"
[ -n "$(contact_line "$RS_FILE" "$C2")" ] || fail "dev2 was removed too"
[ -n "$(contact_line "$RS_FILE" "$C3")" ] || fail "dev3 was removed too"

check "refresh dev2 with the same Call-ID and a higher CSeq (4) -> 200"
rs fresh --uri sip:example.test --from b1@example.test --to b1@example.test --call-id "$CID" --cseq 4 \
	--contact "<$C2>;expires=600"
expect_status 200 "refresh with a higher CSeq"
check "refresh dev2 with the same Call-ID and an equal CSeq (4) -> 500 (out of order, §10.3 step 7)"
rs stale-eq --uri sip:example.test --from b1@example.test --to b1@example.test --call-id "$CID" --cseq 4 \
	--contact "<$C2>;expires=600"
expect_status 500 "refresh with an equal CSeq"
check "refresh dev2 with the same Call-ID and a lower CSeq (2) -> 500"
rs stale-lo --uri sip:example.test --from b1@example.test --to b1@example.test --call-id "$CID" --cseq 2 \
	--contact "<$C2>;expires=600"
expect_status 500 "refresh with a lower CSeq"
check "removing dev2 with a stale CSeq (3) -> 500, the binding stays"
rs stale-del --uri sip:example.test --from b1@example.test --to b1@example.test --call-id "$CID" --cseq 3 \
	--contact "<$C2>;expires=0"
expect_status 500 "removal with a lower CSeq"

check "Contact: * with another Contact -> 400"
rs star-mix --uri sip:example.test --from b1@example.test --to b1@example.test --call-id "$CID" --cseq 5 \
	--contact "*" --contact "<$C3>" --expires 0
expect_status 400 "* with another Contact"
check "Contact: * with Expires: 300 -> 400"
rs star-300 --uri sip:example.test --from b1@example.test --to b1@example.test --call-id "$CID" --cseq 6 \
	--contact "*" --expires 300
expect_status 400 "* with a non-zero Expires"
check "Contact: * without Expires -> 400"
rs star-noexp --uri sip:example.test --from b1@example.test --to b1@example.test --call-id "$CID" --cseq 7 \
	--contact "*"
expect_status 400 "* without Expires"
check "the invalid wildcards changed nothing: dev2 and dev3 still bound"
rs query2 --uri sip:example.test --from b1@example.test --to b1@example.test --call-id "$CID" --cseq 8
expect_status 200 "query"
assert_eq "$(ncontacts "$RS_FILE")" 2 "bindings after the rejected wildcards"

check "Contact: * with Expires: 0 removes every binding; a query lists none"
rs star --uri sip:example.test --from b1@example.test --to b1@example.test --call-id "$CID" --cseq 9 \
	--contact "*" --expires 0
expect_status 200 "* with Expires: 0"
assert_eq "$(ncontacts "$RS_FILE")" 0 "bindings listed after *"
rs query3 --uri sip:example.test --from b1@example.test --to b1@example.test --call-id "$CID" --cseq 10
expect_status 200 "query"
assert_eq "$(ncontacts "$RS_FILE")" 0 "bindings listed by a query after *"

# ---------------------------------------------------------------- misc §10.3
check "Record-Route in a REGISTER is ignored and never in the response (§10.3)"
rs rr --uri sip:example.test --from b5@example.test --to b5@example.test \
	--header "Record-Route: <sip:rr.example.test;lr>" --contact "<$C1>" --expires 600
expect_status 200 "REGISTER with Record-Route"
grep -q -i -E '^Record-Route[[:space:]]*:' "$RS_FILE" && fail "Record-Route in the response to REGISTER"
check "an AoR (To) not valid for the Request-URI's domain -> 404 (§10.3 step 5)"
rs foreign-aor --uri sip:example.test --from u@other.test --to u@other.test --contact "<$C1>" --expires 600
[ "$RS_STATUS" = 404 ] ||
	rfc_fail "§10.3 step 5: REGISTER sip:example.test with To <sip:u@other.test> answered '$(head -n 1 "$RS_FILE" | tr -d '\r')', not 404"

# ---------------------------------------------------------------- expiry bounds
check "expires=5 < registrar.min_expires=60 -> 423 with Min-Expires: 60"
rs brief --uri sip:example.test --from b2@example.test --to b2@example.test --contact "<$C1>;expires=5"
expect_status 423 "too brief"
assert_eq "$(hdr_values "$RS_FILE" Min-Expires)" 60 "Min-Expires"
rs brief-q --uri sip:example.test --from b2@example.test --to b2@example.test
assert_eq "$(ncontacts "$RS_FILE")" 0 "bindings after the 423"

check "Expires: 99999 > registrar.max_expires=3600 -> 200 with expires shortened to <= 3600"
rs long --uri sip:example.test --from b2@example.test --to b2@example.test --contact "<$C1>" --expires 99999
expect_status 200 "long registration"
in_range "$(contact_param "$RS_FILE" "$C1" expires)" 3590 3600 ||
	fail "expires not capped to 3600: $(contact_line "$RS_FILE" "$C1")"

check "no expiry given -> registrar.default_expires (1200)"
rs dflt --uri sip:example.test --from b2@example.test --to b2@example.test --contact "<$C2>"
expect_status 200 "registration without expiry"
in_range "$(contact_param "$RS_FILE" "$C2" expires)" 1190 1200 ||
	fail "expires not the default 1200: $(contact_line "$RS_FILE" "$C2")"

# ---------------------------------------------------------------- URI comparison
check "a refresh matches the binding by URI comparison (§10.3 step 7, §19.1.4), not by string"
PE=$(free_port)
rs eq0 --uri sip:example.test --from eq@example.test --to eq@example.test \
	--contact "<sip:eq@LocalHost:$PE;lr;foo=bar>" --expires 600
expect_status 200 "first registration"
rs eq1 --uri sip:example.test --from eq@example.test --to eq@example.test \
	--contact "<sip:eq@localhost:$PE;lr;foo=bar>" --expires 600
expect_status 200 "host in another case"
[ "$(ncontacts "$RS_FILE")" = 1 ] ||
	rfc_fail "§19.1.4: <sip:eq@LocalHost:$PE;lr;foo=bar> and <sip:eq@localhost:...> (host case) made $(ncontacts "$RS_FILE") bindings, not 1"
rs eq2 --uri sip:example.test --from eq@example.test --to eq@example.test --contact "*" --expires 0
rs eq3 --uri sip:example.test --from eq@example.test --to eq@example.test \
	--contact "<sip:eq@localhost:$PE;lr;foo=bar>" --expires 600
rs eq4 --uri sip:example.test --from eq@example.test --to eq@example.test \
	--contact "<sip:eq@localhost:$PE;foo=bar;lr>" --expires 600
expect_status 200 "parameters in another order"
[ "$(ncontacts "$RS_FILE")" = 1 ] ||
	rfc_fail "§19.1.4: <sip:eq@localhost:$PE;lr;foo=bar> and <...;foo=bar;lr> (parameter order) made $(ncontacts "$RS_FILE") bindings, not 1"
rs eq5 --uri sip:example.test --from eq@example.test --to eq@example.test --contact "*" --expires 0
rs eq6 --uri sip:example.test --from eq@example.test --to eq@example.test \
	--contact "<sip:eq@localhost:$PE>" --expires 600
rs eq7 --uri sip:example.test --from eq@example.test --to eq@example.test \
	--contact "<sip:%65q@localhost:$PE>;expires=0"
expect_status 200 "removal with an escaped user part"
[ "$(ncontacts "$RS_FILE")" = 0 ] ||
	rfc_fail "§19.1.4: Contact <sip:%65q@localhost:$PE>;expires=0 did not remove <sip:eq@localhost:$PE> (escaped = unescaped)"
check "a URI with transport=udp is a different binding from one without (§19.1.4)"
rs eq8 --uri sip:example.test --from eq@example.test --to eq@example.test \
	--contact "<sip:eq@localhost:$PE;transport=udp>" --expires 600
rs eq9 --uri sip:example.test --from eq@example.test --to eq@example.test \
	--contact "<sip:eq@localhost:$PE>" --expires 600
expect_status 200 "the URI without transport"
rs eq10 --uri sip:example.test --from eq@example.test --to eq@example.test
[ "$(ncontacts "$RS_FILE")" = 2 ] || fail "transport=udp and no transport were merged: $(contacts_of "$RS_FILE")"
rs eq11 --uri sip:example.test --from eq@example.test --to eq@example.test --contact "*" --expires 0
check "another Call-ID with a lower CSeq updates the binding (§10.3 step 7 compares CSeq only within one Call-ID)"
rs cid1 --uri sip:example.test --from eq@example.test --to eq@example.test --call-id "cidA-$RANDOM" --cseq 50 \
	--contact "<sip:eq@localhost:$PE>" --expires 600
expect_status 200 "registration with CSeq 50"
rs cid2 --uri sip:example.test --from eq@example.test --to eq@example.test --call-id "cidB-$RANDOM" --cseq 1 \
	--contact "<sip:eq@localhost:$PE>" --expires 900
expect_status 200 "update from another Call-ID with CSeq 1"
in_range "$(contact_param "$RS_FILE" "sip:eq@localhost:$PE" expires)" 890 900 || fail "binding not updated to 900 s"

# ---------------------------------------------------------------- instance / reg-id
INST='"<urn:uuid:00000000-0000-1000-8000-00a0c91e6bf6>"'
check "+sip.instance/reg-id=1 with Contact dev1 -> 200 lists it"
rs inst1 --uri sip:example.test --from b3@example.test --to b3@example.test \
	--header "Supported: outbound, path" --contact "<$C1;ob>;+sip.instance=$INST;reg-id=1" --expires 600
expect_status 200 "instance registration"
[ -n "$(contact_line "$RS_FILE" "$C1;ob")" ] || fail "instance binding not listed: $(contacts_of "$RS_FILE")"
check "the same instance and reg-id from a new Contact (dev2, new Call-ID) replaces the old binding (RFC 5626 §6)"
rs inst2 --uri sip:example.test --from b3@example.test --to b3@example.test \
	--header "Supported: outbound, path" --contact "<$C2;ob>;+sip.instance=$INST;reg-id=1" --expires 600
expect_status 200 "instance re-registration"
contacts_of "$RS_FILE" | sed 's/^/   /'
assert_eq "$(ncontacts "$RS_FILE")" 1 "bindings of the instance"
[ -n "$(contact_line "$RS_FILE" "$C2;ob")" ] || fail "new contact not listed"
contact_line "$RS_FILE" "$C2;ob" | grep -q -F 'urn:uuid:00000000-0000-1000-8000-00a0c91e6bf6' ||
	fail "+sip.instance not echoed in the listing"
check "a different reg-id of the same instance is a second binding"
rs inst3 --uri sip:example.test --from b3@example.test --to b3@example.test \
	--header "Supported: outbound, path" --contact "<$C3;ob>;+sip.instance=$INST;reg-id=2" --expires 600
expect_status 200 "second flow"
assert_eq "$(ncontacts "$RS_FILE")" 2 "bindings of the instance with reg-id 1 and 2"
check "the 200 to a REGISTER whose reg-id was honoured has 'Require: outbound' (RFC 5626 §6)"
hdr_has "$RS_FILE" Require '(^|[ ,])outbound([ ,]|$)' ||
	rfc_fail "RFC 5626 §6: 200 to a REGISTER with reg-id and Supported: outbound lacks 'Require: outbound'"

# ---------------------------------------------------------------- Path (RFC 3327)
sipp_uas_start r_uas_route.xml -m 2
EDGE=$UAS_PORT
say "edge proxy stand-in: SIPp UAS on udp 127.0.0.1:$EDGE"
PATH1="<sip:edge1@127.0.0.1:$EDGE;lr>"
check "REGISTER with Supported: path and Path: $PATH1 -> 200 echoes the Path (RFC 3327 §5.3)"
rs path1 --uri sip:example.test --from p1@example.test --to p1@example.test \
	--header "Supported: path" --header "Path: $PATH1" --contact "<sip:p1@127.0.0.1:$EDGE>" --expires 600
expect_status 200 "REGISTER with Path"
assert_eq "$(hdr_values "$RS_FILE" Path)" "$PATH1" "Path echoed in the 200"

check "MESSAGE to p1 -> reaches the edge with Route: $PATH1, 200 back"
rs pmsg1 --method MESSAGE --uri sip:p1@example.test --from sender@example.test --to p1@example.test \
	--body "via the path"
expect_status 200 "MESSAGE to a user registered with a Path"

PATH2="<sip:edge2@127.0.0.1:$EDGE;lr>"
DEAD=$(free_port)
# the Contact's port: nobody answers there, but what arrives is recorded (diagnostics)
bg_start contact-catcher python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1]))); s.settimeout(15)
try:
    d, a = s.recvfrom(65535); print("received from %s:%d: %s" % (a[0], a[1], d.split(b"\r\n", 1)[0].decode()), flush=True)
except socket.timeout:
    print("nothing received")
' "$DEAD"
check "Path points at the edge, Contact at a dead port: MESSAGE goes to the Path (RFC 3261 §16.6 steps 6-7) -> 200"
rs path2 --uri sip:example.test --from p2@example.test --to p2@example.test \
	--header "Supported: path" --header "Path: $PATH2" --contact "<sip:p2@127.0.0.1:$DEAD>" --expires 600
expect_status 200 "REGISTER with Path"
rs pmsg2 --method MESSAGE --uri sip:p2@example.test --from sender@example.test --to p2@example.test \
	--body "via the path, contact behind it" --timeout 12
if [ "$RS_STATUS" != 200 ]; then
	rfc_fail "RFC 3327 §5.4/RFC 3261 §16.6 step 7: MESSAGE to a user registered with Path $PATH2 and Contact port $DEAD was answered $RS_STATUS (not sent to the Path's host)"
	echo "   at the Contact's port $DEAD: $(cat "$T/contact-catcher.out")" >&2
	kill -TERM "$UAS_PID" 2>/dev/null || true
fi
sipp_uas_wait 10
if [ "$RS_STATUS" = 200 ]; then
	assert_eq "$BG_RC" 0 "edge UAS exit code (Route checks)"
fi
check "the edge's MESSAGE had Route: $PATH1 and Request-URI = the Contact"
route=$(grep -i -E '^Route:' "$UAS_LOG" | head -n 1 | sed -E 's/^[^:]*:[[:space:]]*//' | tr -d '\r') || true
assert_eq "$route" "$PATH1" "Route of the relayed MESSAGE"
assert_match "$UAS_LOG" "^MESSAGE sip:p1@127\.0\.0\.1:$EDGE SIP/2\.0"

# ---------------------------------------------------------------- max_contacts
check "registrar.max_contacts=$MAXC: $MAXC contacts -> 200, one more -> 403"
rs max3 --uri sip:example.test --from m@example.test --to m@example.test \
	--contact "<$C1>" --contact "<$C2>" --contact "<$C3>" --expires 1800
expect_status 200 "$MAXC contacts"
P4=$(free_port)
rs max4 --uri sip:example.test --from m@example.test --to m@example.test \
	--contact "<sip:dev4@127.0.0.1:$P4>" --expires 1800
expect_status 403 "a contact beyond max_contacts"
check "refreshing one of the $MAXC is still allowed"
rs max-refresh --uri sip:example.test --from m@example.test --to m@example.test --contact "<$C1>" --expires 1800
expect_status 200 "refresh at max_contacts"
assert_eq "$(ncontacts "$RS_FILE")" "$MAXC" "bindings at max_contacts"

# ---------------------------------------------------------------- persistence
check "bindings survive a restart: a query after cpmd_restart lists m's 3 and b3's 2 bindings"
cpmd_restart
rs persist-m --uri sip:example.test --from m@example.test --to m@example.test
expect_status 200 "query after restart"
contacts_of "$RS_FILE" | sed 's/^/   /'
assert_eq "$(ncontacts "$RS_FILE")" 3 "m's bindings after restart"
for c in "$C1" "$C2" "$C3"; do
	in_range "$(contact_param "$RS_FILE" "$c" expires)" 1700 1800 ||
		fail "binding $c after restart: $(contact_line "$RS_FILE" "$c")"
done
rs persist-b3 --uri sip:example.test --from b3@example.test --to b3@example.test
expect_status 200 "query after restart"
assert_eq "$(ncontacts "$RS_FILE")" 2 "b3's bindings after restart"
contact_line "$RS_FILE" "$C2;ob" | grep -q -F 'reg-id=1' || fail "reg-id lost across the restart"
rs persist-p1 --uri sip:example.test --from p1@example.test --to p1@example.test
assert_eq "$(ncontacts "$RS_FILE")" 1 "p1's binding after restart"

# ---------------------------------------------------------------- authenticated
check "authenticated run (no trusted source): carol registers two Contacts with q -> 200 lists both"
cpmd_stop
cpmd_user_add carol@example.test carol-secret
cpmd_start -o sip.t1=50 -o sip.t2=200 -o registrar.min_expires=60 -o registrar.max_expires=3600 \
	-o registrar.max_contacts=$MAXC
rs noauth --uri sip:example.test --from carol@example.test --to carol@example.test --contact "<$C1>"
expect_status 401 "REGISTER without credentials (not trusted any more)"
rs carol --uri sip:example.test --from carol@example.test --to carol@example.test \
	--contact "<$C1>;q=0.5" --contact "<$C2>;q=0.1" --expires 900 \
	--user carol@example.test --password carol-secret
expect_status 200 "authenticated REGISTER"
assert_eq "$(ncontacts "$RS_FILE")" 2 "carol's bindings"
q_is "$RS_FILE" "$C1" 0.5 || fail "carol dev1 q: $(contact_line "$RS_FILE" "$C1")"
q_is "$RS_FILE" "$C2" 0.1 || fail "carol dev2 q: $(contact_line "$RS_FILE" "$C2")"
in_range "$(contact_param "$RS_FILE" "$C2" expires)" 890 900 || fail "carol dev2 expires"
check "authenticated Contact: * / Expires: 0 -> 200, none left"
rs carol-star --uri sip:example.test --from carol@example.test --to carol@example.test \
	--contact "*" --expires 0 --user carol@example.test --password carol-secret
expect_status 200 "authenticated unregister-all"
assert_eq "$(ncontacts "$RS_FILE")" 0 "carol's bindings after *"

cpmd_alive || fail "cpmd died"
cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
rfc_finish
echo "PASS"
