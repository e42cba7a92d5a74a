#!/usr/bin/env bash
# OPTIONS to the server itself (Request-URI without a user part) over UDP and TCP, with
# sipsak, SIPp and sipmsg.py: 200 OK carrying Allow, Accept and Supported (RFC 3261 §11.2),
# and a response that echoes Via/From/Call-ID/CSeq and tags To (§8.2.6.2).
. "$(dirname "$0")/lib.sh"
need sipp sipsak python3

cpmd_start

for tr in udp tcp; do
	check "sipsak OPTIONS over $tr -> 200"
	rc=0
	timeout 20 sipsak -vv --transport "$tr" -s "sip:127.0.0.1:$SIP_PORT" >"$T/sipsak-$tr.out" 2>&1 || rc=$?
	assert_eq "$rc" 0 "sipsak exit code over $tr"
	assert_match "$T/sipsak-$tr.out" '^SIP/2\.0 200'

	check "SIPp options.xml over $tr -> 200 with Allow (OPTIONS, REGISTER, MESSAGE), Accept, Supported"
	sipp_run options.xml -t "${tr:0:1}1" || fail "SIPp OPTIONS over $tr failed"

	check "sipmsg OPTIONS over $tr: exact response checks"
	f=$T/opt-$tr.txt
	sipmsg --transport "$tr" --method OPTIONS --uri "sip:127.0.0.1:$SIP_PORT" \
		--from probe@example.test --to "127.0.0.1:$SIP_PORT" --expect 200 --final "$f" \
		--header "Accept: application/sdp" >"$T/sipmsg-$tr.out" ||
		fail "OPTIONS over $tr: $(tail -n 1 "$T/sipmsg-$tr.out")"
	allow=$(hdr_values "$f" Allow | tr '\n' ',')
	[ -n "$allow" ] || fail "200 OK has no Allow header"
	for m in OPTIONS REGISTER MESSAGE; do
		grep -q -i -E "(^|[ ,])$m([ ,]|$)" <<<"$allow" || fail "Allow '$allow' lacks $m"
	done
	[ -n "$(hdr_values "$f" Accept)" ] || fail "200 OK has no Accept header"
	grep -q -i -E '^(Supported|k)[[:space:]]*:' "$f" || fail "200 OK has no Supported header"
	# §8.2.6.2: To gets a tag, Call-ID/CSeq/From/Via are copied
	hdr_has "$f" 'To|t' "^<sip:127.0.0.1:$SIP_PORT>;tag=." ||
		fail "To not echoed with a tag: $(hdr_values "$f" To t)"
	hdr_has "$f" CSeq '^1 OPTIONS$' || fail "CSeq not echoed: $(hdr_values "$f" CSeq)"
	hdr_has "$f" 'Call-ID|i' '@sipmsg$' || fail "Call-ID not echoed"
	hdr_has "$f" 'From|f' ';tag=' || fail "From tag not echoed"
	hdr_has "$f" 'Via|v' "^SIP/2.0/$tr 127.0.0.1:[0-9]+;branch=z9hG4bK" || fail "Via not echoed"
	echo "   Allow: $allow"
done

check "unknown method to the server itself -> 501 with Allow (RFC 3261 §8.2.1)"
f=$T/foo.txt
sipmsg --method FOOBAR --uri "sip:127.0.0.1:$SIP_PORT" --from probe@example.test \
	--to "127.0.0.1:$SIP_PORT" --expect 501 --final "$f" >"$T/sipmsg-foo.out" ||
	fail "FOOBAR: $(tail -n 1 "$T/sipmsg-foo.out")"
[ -n "$(hdr_values "$f" Allow)" ] || fail "501 has no Allow header"

cpmd_alive || fail "cpmd died"
cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
echo "PASS"
