#!/usr/bin/env bash
# IPv6 (RFC 3261 with RFC 5118 address forms): cpmd listening on udp:[::1]:P and
# tcp:[::1]:P only:
#  - OPTIONS to sip:[::1]:P over UDP and TCP -> 200, Via echoed with received/rport;
#  - REGISTER with an IPv6 Contact sip:bob@[::1]:Q -> 200 lists <sip:bob@[::1]:Q>;
#  - MESSAGE relayed to a SIPp UAS on [::1] (sipp -i ::1) over UDP and over TCP
#    (Contact ;transport=tcp), the UAS's 200 back to the sender.
#  - RFC 5118 torture messages sent over [::1] (first Via rewritten to our [::1] socket,
#    no trusted source, so nothing addressed elsewhere is ever forwarded): ipv6-bad
#    (R-URI sip:2001:db8::10 without brackets) -> 400; the valid ones (ipv6-good,
#    port-ambiguous/-unambiguous, 2-colons, 3-colons tolerated, IPv4-mapped) -> parsed,
#    i.e. answered with anything but 400 (here: 403, not a served domain).
# Skipped (77) when ::1 is not usable on this host.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/reg_lib.sh"
need sipp python3

if ! ipv6_usable 2>"$T/ipv6.err"; then
	echo "SKIP: ::1 is not usable here: $(cat "$T/ipv6.err")"
	exit 77
fi

cpmd_config
cpmd_start -o "sip.listen=udp:[::1]:$SIP_PORT,tcp:[::1]:$SIP_PORT" -o auth.trusted=::1/128 \
	-o sip.t1=50 -o sip.t2=200
grep -q "listening on udp:\[::1\]:$SIP_PORT" "$CPMD_LOG" || fail "cpmd does not listen on udp:[::1]:$SIP_PORT"
grep -q "listening on tcp:\[::1\]:$SIP_PORT" "$CPMD_LOG" || fail "cpmd does not listen on tcp:[::1]:$SIP_PORT"
REG_SERVER="[::1]:$SIP_PORT" # used by regsip (reg_lib.sh)
export REG_SERVER

for tr in udp tcp; do
	check "OPTIONS sip:[::1]:$SIP_PORT over $tr -> 200, Via echoed with rport (RFC 3581) for [::1]"
	rs "opt-$tr" --transport "$tr" --method OPTIONS --uri "sip:[::1]:$SIP_PORT" --from probe@example.test
	expect_status 200 "OPTIONS over $tr/IPv6"
	hdr_has "$RS_FILE" 'Via|v' "^SIP/2\.0/$tr \[::1\]:[0-9]+;branch=z9hG4bK[^;]*;rport=[0-9]+" ||
		fail "Via: $(hdr_values "$RS_FILE" Via v)"
	[ -n "$(hdr_values "$RS_FILE" Allow)" ] || fail "200 without Allow"
done

# SIPp UASs on [::1]: one UDP, one TCP (the later -i wins over lib.sh's -i 127.0.0.1)
sipp_uas_start uas_message.xml -i ::1 -m 1
UDP_UAS_PORT=$UAS_PORT UDP_UAS_PID=$UAS_PID UDP_UAS_LOG=$UAS_LOG
sipp_uas_start uas_message.xml -i ::1 -t t1 -m 1
TCP_UAS_PORT=$UAS_PORT TCP_UAS_PID=$UAS_PID TCP_UAS_LOG=$UAS_LOG
say "SIPp UAS on udp [::1]:$UDP_UAS_PORT and tcp [::1]:$TCP_UAS_PORT"

check "REGISTER (udp) with Contact <sip:bob@[::1]:$UDP_UAS_PORT> -> 200 lists it"
rs reg-bob --uri sip:example.test --from bob@example.test --to bob@example.test \
	--contact "<sip:bob@[::1]:$UDP_UAS_PORT>" --expires 600
expect_status 200 "REGISTER with an IPv6 Contact"
[ -n "$(contact_line "$RS_FILE" "sip:bob@[::1]:$UDP_UAS_PORT")" ] ||
	fail "binding not listed: $(contacts_of "$RS_FILE")"

check "REGISTER (tcp) with Contact <sip:carol@[::1]:$TCP_UAS_PORT;transport=tcp> -> 200 lists it"
rs reg-carol --transport tcp --uri sip:example.test --from carol@example.test --to carol@example.test \
	--contact "<sip:carol@[::1]:$TCP_UAS_PORT;transport=tcp>" --expires 600
expect_status 200 "REGISTER over TCP with an IPv6 Contact"
[ -n "$(contact_line "$RS_FILE" "sip:carol@[::1]:$TCP_UAS_PORT;transport=tcp")" ] ||
	fail "binding not listed: $(contacts_of "$RS_FILE")"

check "MESSAGE (udp) to bob -> relayed to the UAS on [::1] over UDP, 200 back"
rs msg-bob --method MESSAGE --uri sip:bob@example.test --from alice@example.test --to bob@example.test \
	--body "hello bob over ipv6 udp"
expect_status 200 "MESSAGE to bob over IPv6/UDP"
hdr_has "$RS_FILE" 'To|t' 'tag=[0-9]+Uas' || fail "200 not from the UAS: $(hdr_values "$RS_FILE" To t)"

check "MESSAGE (tcp) to carol -> relayed to the UAS on [::1] over TCP, 200 back"
rs msg-carol --transport tcp --method MESSAGE --uri sip:carol@example.test --from alice@example.test \
	--to carol@example.test --body "hello carol over ipv6 tcp"
expect_status 200 "MESSAGE to carol over IPv6/TCP"
hdr_has "$RS_FILE" 'To|t' 'tag=[0-9]+Uas' || fail "200 not from the UAS: $(hdr_values "$RS_FILE" To t)"

check "the UASs got the MESSAGEs with the Request-URI retargeted and cpmd's IPv6 Via on top"
UAS_PID=$UDP_UAS_PID sipp_uas_wait 15
assert_eq "$BG_RC" 0 "UDP UAS exit code"
UAS_PID=$TCP_UAS_PID sipp_uas_wait 15
assert_eq "$BG_RC" 0 "TCP UAS exit code"
assert_match "$UDP_UAS_LOG" "^MESSAGE sip:bob@\[::1\]:$UDP_UAS_PORT SIP/2\.0"
assert_contains "$UDP_UAS_LOG" "hello bob over ipv6 udp"
assert_match "$UDP_UAS_LOG" "^Via: SIP/2\.0/UDP \[::1\]:$SIP_PORT;branch=z9hG4bK"
assert_match "$TCP_UAS_LOG" "^MESSAGE sip:carol@\[::1\]:$TCP_UAS_PORT;transport=tcp SIP/2\.0"
assert_contains "$TCP_UAS_LOG" "hello carol over ipv6 tcp"
assert_match "$TCP_UAS_LOG" "^Via: SIP/2\.0/TCP \[::1\]:$SIP_PORT;branch=z9hG4bK"

check "RFC 5118 messages over [::1] (no trusted source now: nothing is forwarded)"
cpmd_stop
cpmd_start -o "sip.listen=udp:[::1]:$SIP_PORT,tcp:[::1]:$SIP_PORT" -o sip.t1=50 -o sip.t2=200
C5118=$REPO/../shared/corpus/rfc5118
[ -d "$C5118" ] || fail "RFC 5118 corpus missing at $C5118"
torture6() { # FILE ERE-of-acceptable-final-status
	local f=$1 want=$2 got
	[ -f "$C5118/$f" ] || fail "corpus file $f missing"
	python3 "$REG_SIP" raw --server "[::1]:$SIP_PORT" --fix-via --wait 1.5 "$C5118/$f" \
		>"$T/$f.out" 2>&1 || fail "sending $f failed: $(cat "$T/$f.out")"
	got=$(grep -v '^SIP/2.0 1[0-9][0-9] ' "$T/$f.out" | tail -n 1)
	echo "   $f: $got"
	grep -q -E "^SIP/2\.0 ($want) " <<<"$got" || rfc_fail "RFC 5118 $f: expected $want, got '$got'"
}
torture6 ipv6-bad.sip 400
for f in ipv6-good.sip port-ambiguous.sip port-unambiguous.sip ipv6-correct-abnf-2-colons.sip \
	ipv6-bug-abnf-3-colons.sip ipv4-mapped-ipv6.sip; do
	torture6 "$f" '40[1-35-9]|4[1-9][0-9]|[2356][0-9][0-9]'
done
rs opt-after --method OPTIONS --uri "sip:[::1]:$SIP_PORT" --from probe@example.test --timeout 5
expect_status 200 "OPTIONS after the RFC 5118 messages"

cpmd_alive || fail "cpmd died"
cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
rfc_finish
echo "PASS"
