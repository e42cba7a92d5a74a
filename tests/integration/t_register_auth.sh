#!/usr/bin/env bash
# Registrar with digest authentication (RFC 3261 §10, §22; RFC 7616/8760 algorithms),
# over UDP and TCP:
#  - REGISTER without credentials -> 401 with one WWW-Authenticate per auth.algorithms
#    (default SHA-256 then MD5), realm = the domain, qop="auth", a nonce;
#  - the answer with SHA-256 or MD5 credentials -> 200 listing the binding with expires;
#  - a binding query (no Contact) lists it; Expires: 0 removes it; too brief -> 423;
#  - wrong password and unknown user -> the same refusal (403, or 401), no enumeration;
#  - SIPp reg_auth.xml (-au/-ap, MD5: SIPp 3.6.1 knows no SHA-256) -> 200;
#    reg_auth_fail.xml with a wrong password -> refused.
. "$(dirname "$0")/lib.sh"
need sipp python3

cpmd_user_add alice@example.test alice-secret
cpmd_start
CPORT=$(free_port) # the contact address: nobody needs to listen there

reg() { # TRANSPORT OUTFILE [sipmsg args...] — REGISTER alice@example.test
	local tr=$1 out=$2
	shift 2
	sipmsg --transport "$tr" --method REGISTER --uri sip:example.test \
		--from alice@example.test --to alice@example.test --final "$out" "$@" \
		>"$out.log" || true
}

for tr in udp tcp; do
	f=$T/r401-$tr.txt
	check "$tr: REGISTER without credentials -> 401, challenges SHA-256 then MD5"
	reg "$tr" "$f" --contact "sip:alice@127.0.0.1:$CPORT" --expires 600 --expect 401
	assert_contains "$f.log" "STATUS 401"
	challenges=$(hdr_values "$f" WWW-Authenticate)
	[ -n "$challenges" ] || fail "401 without WWW-Authenticate"
	printf '   %s\n' "${challenges//$'\n'/$'\n'   }"
	assert_eq "$(grep -c -i '^Digest ' <<<"$challenges")" 2 "number of Digest challenges"
	first=$(head -n 1 <<<"$challenges")
	second=$(sed -n 2p <<<"$challenges")
	grep -q -i 'algorithm=SHA-256' <<<"$first" || fail "first challenge is not SHA-256: $first"
	grep -q -i 'algorithm=MD5' <<<"$second" || fail "second challenge is not MD5: $second"
	for c in "$first" "$second"; do
		grep -q 'realm="example.test"' <<<"$c" || fail "realm is not the domain: $c"
		grep -q -E 'nonce="[^"]+"' <<<"$c" || fail "no nonce: $c"
		grep -q -i -E 'qop="([^"]*,)?auth(,[^"]*)?"' <<<"$c" || fail "no qop=\"auth\": $c"
	done

	for alg in SHA-256 MD5; do
		check "$tr: REGISTER answered with $alg credentials -> 200 listing the binding (expires <= 600)"
		f=$T/r200-$tr-$alg.txt
		reg "$tr" "$f" --contact "sip:alice@127.0.0.1:$CPORT" --expires 600 \
			--user alice@example.test --password alice-secret --algorithm "$alg" --expect 200
		assert_contains "$f.log" "STATUS 200"
		hdr_has "$f" 'Contact|m' "<sip:alice@127\.0\.0\.1:$CPORT>.*;expires=([1-9][0-9]*)" ||
			fail "200 does not list <sip:alice@127.0.0.1:$CPORT> with expires: $(hdr_values "$f" Contact m)"
		exp=$(hdr_values "$f" Contact m | grep -F "127.0.0.1:$CPORT" | grep -o -i -E 'expires=[0-9]+' | cut -d= -f2) || true
		exp=${exp%%$'\n'*}
		if [ "$exp" -lt 1 ] || [ "$exp" -gt 600 ]; then fail "binding expires=$exp not in 1..600"; fi
		hdr_has "$f" 'To|t' ';tag=' || fail "To of the 200 has no tag"
	done

	check "$tr: binding query (REGISTER without Contact) -> 200 listing the binding (§10.2.3)"
	f=$T/rq-$tr.txt
	reg "$tr" "$f" --user alice@example.test --password alice-secret --expect 200
	assert_contains "$f.log" "STATUS 200"
	hdr_has "$f" 'Contact|m' "<sip:alice@127\.0\.0\.1:$CPORT>" || fail "query does not list the binding"

	check "$tr: Expires below registrar.min_expires -> 423 with Min-Expires (§10.3 step 7)"
	f=$T/r423-$tr.txt
	reg "$tr" "$f" --contact "sip:alice@127.0.0.1:$CPORT" --expires 5 \
		--user alice@example.test --password alice-secret --expect 423
	assert_contains "$f.log" "STATUS 423"
	hdr_has "$f" Min-Expires '^[0-9]+$' || fail "423 without Min-Expires"

	check "$tr: Expires: 0 removes the binding (§10.2.2)"
	f=$T/r0-$tr.txt
	reg "$tr" "$f" --contact "sip:alice@127.0.0.1:$CPORT" --expires 0 \
		--user alice@example.test --password alice-secret --expect 200
	assert_contains "$f.log" "STATUS 200"
	if hdr_has "$f" 'Contact|m' "<sip:alice@127\.0\.0\.1:$CPORT>"; then
		hdr_has "$f" 'Contact|m' "<sip:alice@127\.0\.0\.1:$CPORT>.*;expires=0([^0-9]|$)" ||
			fail "the removed binding is still listed: $(hdr_values "$f" Contact m)"
	fi

	check "$tr: wrong password and unknown user -> the same refusal (403 or 401)"
	f=$T/rbad-$tr.txt
	reg "$tr" "$f" --contact "sip:alice@127.0.0.1:$CPORT" --expires 600 \
		--user alice@example.test --password wrong-secret
	bad=$(sed -n 's/^STATUS //p' "$f.log")
	f=$T/runk-$tr.txt
	sipmsg --transport "$tr" --method REGISTER --uri sip:example.test --from nobody@example.test \
		--to nobody@example.test --contact "sip:nobody@127.0.0.1:$CPORT" --expires 600 \
		--user nobody@example.test --password whatever --final "$f" >"$f.log" || true
	unk=$(sed -n 's/^STATUS //p' "$f.log")
	echo "   wrong password: $bad, unknown user: $unk"
	case $bad in 401 | 403) ;; *) fail "wrong password answered '$bad' (expected 403 or 401)" ;; esac
	assert_eq "$unk" "$bad" "unknown user's answer (must equal the wrong password's)"
done

check "restart with auth.algorithms=MD5,SHA-256: the 401 offers MD5 first"
cpmd_stop
cpmd_start -o auth.algorithms=MD5,SHA-256
f=$T/r401-md5first.txt
reg udp "$f" --contact "sip:alice@127.0.0.1:$CPORT" --expires 600 --expect 401
challenges=$(hdr_values "$f" WWW-Authenticate)
grep -q -i 'algorithm=MD5' <<<"${challenges%%$'\n'*}" ||
	fail "first challenge is not MD5 with auth.algorithms=MD5,SHA-256"

for tr in u1 t1; do
	UAC=$(free_port)
	check "SIPp reg_auth.xml over $tr (-au alice -ap alice-secret) -> 401 then 200 with Contact;expires"
	sipp_run reg_auth.xml -t "$tr" -au alice -ap alice-secret -auth_uri example.test \
		-key user alice -key domain example.test -key contact_host 127.0.0.1 \
		-key contact_port "$UAC" -key expires 600 || fail "SIPp REGISTER with digest over $tr failed"
	assert_contains "$SIPP_LOG" "Authorization: Digest"
	check "SIPp reg_auth_fail.xml over $tr (wrong password) -> 403/401"
	sipp_run reg_auth_fail.xml -t "$tr" -au alice -ap not-the-password -auth_uri example.test \
		-key user alice -key domain example.test -key contact_host 127.0.0.1 \
		-key contact_port "$UAC" -key expires 600 || fail "wrong password was not refused over $tr"
done

cpmd_alive || fail "cpmd died"
cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
echo "PASS"
