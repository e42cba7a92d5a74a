#!/usr/bin/env bash
# Digest authentication of the registrar and the proxy (RFC 3261 §22, RFC 7616 qop/nc,
# RFC 8760 SHA-256):
#  - 401 to an unauthenticated REGISTER carries two challenges, SHA-256 and MD5, each
#    with qop="auth";
#  - SIPp -au/-ap (MD5) and cpm (SHA-256) register successfully;
#  - wrong password -> 403; unknown user -> the same 403 (no user enumeration);
#  - a replayed Authorization (same nonce, same nc, new branch, CSeq+1) -> 401 stale=true;
#    the nonce reused with nc=2 -> 200; reused after auth.nonce_ttl -> 401 stale=true;
#  - with auth.algorithms=SHA-256 only, cpm still registers (it speaks SHA-256);
#  - alice's REGISTER for bob's AoR -> 403;
#  - MESSAGE from alice without credentials -> 407 with Proxy-Authenticate;
#    authenticated as alice but From bob -> 403;
#  - MESSAGE to another domain (sip:x@192.0.2.1) from an unauthenticated foreign From
#    -> 403 "Relaying Denied", answered before anything is forwarded;
#  - auth.trusted=127.0.0.0/8 -> no challenge at all.
. "$(dirname "$0")/lib.sh"
# Proxy behaviour: store-and-forward (t_sf_*) is off here, so undeliverable MESSAGEs get 480.
. "$(dirname "$0")/reg_lib.sh"
need sipp python3

cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
cpmd_start -o sip.t1=50 -o sip.t2=200 -o im.store_and_forward=no
CP=$(free_port) # contact port: nobody listens

check "REGISTER without credentials -> 401 with a SHA-256 and an MD5 challenge, each qop=\"auth\""
rs r401 --uri sip:example.test --from alice@example.test --to alice@example.test \
	--contact "<sip:alice@127.0.0.1:$CP>" --expires 600
expect_status 401 "REGISTER without credentials"
ch=$(hdr_values "$RS_FILE" WWW-Authenticate)
printf '   %s\n' "${ch//$'\n'/$'\n'   }"
assert_eq "$(grep -c -i '^Digest ' <<<"$ch")" 2 "number of Digest challenges"
grep -q -i -E 'algorithm="?SHA-256' <<<"$ch" || fail "no SHA-256 challenge"
grep -q -i -E 'algorithm="?MD5' <<<"$ch" || fail "no MD5 challenge"
while IFS= read -r c; do
	grep -q -i -E 'qop="([^"]*,)?auth(,[^"]*)?"' <<<"$c" || fail "challenge without qop=\"auth\": $c"
	grep -q -E 'nonce="[^"]+"' <<<"$c" || fail "challenge without a nonce: $c"
	grep -q 'realm="example.test"' <<<"$c" || fail "realm is not example.test: $c"
	grep -q -i 'stale=true' <<<"$c" && fail "a fresh challenge says stale=true: $c"
done <<<"$ch"

check "SHA-256 and MD5 credentials each -> 200"
for alg in SHA-256 MD5; do
	rs "r200-$alg" --uri sip:example.test --from alice@example.test --to alice@example.test \
		--contact "<sip:alice@127.0.0.1:$CP>" --expires 600 \
		--user alice@example.test --password alice-secret --algorithm "$alg"
	expect_status 200 "REGISTER with $alg credentials"
done

check "SIPp reg_auth.xml (-au bob -ap bob-secret, MD5) -> 200"
if ! sipp_run reg_auth.xml -t u1 -au bob -ap bob-secret -auth_uri example.test \
	-key user bob -key domain example.test -key contact_host 127.0.0.1 \
	-key contact_port "$CP" -key expires 600; then
	# SIPp 3.6.1 answers only the first challenge, and only MD5: with the default
	# order (SHA-256 first) it cannot answer.  That is SIPp's limit, not cpmd's
	# (RFC 8760 §2.4: the UAC picks the first algorithm it supports); offer MD5 first.
	say "SIPp cannot answer a SHA-256-first challenge list: retrying with auth.algorithms=MD5,SHA-256"
	cpmd_stop
	cpmd_start -o sip.t1=50 -o sip.t2=200 -o auth.algorithms=MD5,SHA-256 -o im.store_and_forward=no
	sipp_run reg_auth.xml -t u1 -au bob -ap bob-secret -auth_uri example.test \
		-key user bob -key domain example.test -key contact_host 127.0.0.1 \
		-key contact_port "$CP" -key expires 600 || fail "SIPp MD5 registration failed"
	cpmd_stop
	cpmd_start -o sip.t1=50 -o sip.t2=200 -o im.store_and_forward=no
fi
grep -q -E 'Authorization: Digest .*algorithm=MD5' "$SIPP_LOG" ||
	grep -q -E 'Authorization: Digest ' "$SIPP_LOG" || fail "SIPp sent no Authorization"

check "cpm register (SHA-256) over UDP and TCP -> exit 0"
for tr in udp tcp; do
	cpm --transport "$tr" --user alice@example.test --password alice-secret register --expires 600 \
		>"$T/cpm-$tr.out" 2>&1 || fail "cpm register over $tr failed: $(tail -n 3 "$T/cpm-$tr.out")"
done

check "wrong password -> 403; unknown user -> the same 403 (no enumeration)"
rs wrongpw --uri sip:example.test --from alice@example.test --to alice@example.test \
	--contact "<sip:alice@127.0.0.1:$CP>" --expires 600 --user alice@example.test --password not-it
expect_status 403 "wrong password"
wrong_line=$(head -n 1 "$RS_FILE" | tr -d '\r')
rs unknown --uri sip:example.test --from nobody@example.test --to nobody@example.test \
	--contact "<sip:nobody@127.0.0.1:$CP>" --expires 600 --user nobody@example.test --password whatever
expect_status 403 "unknown user"
unk_line=$(head -n 1 "$RS_FILE" | tr -d '\r')
echo "   wrong password: '$wrong_line'; unknown user: '$unk_line'"
assert_eq "$unk_line" "$wrong_line" "status line for an unknown user (must equal the wrong password's)"
check "unknown user's first REGISTER (no credentials) is challenged like a known one's"
rs unknown401 --uri sip:example.test --from nobody@example.test --to nobody@example.test \
	--contact "<sip:nobody@127.0.0.1:$CP>" --expires 600
expect_status 401 "unknown user without credentials"

check "replay: the same Authorization (same nonce and nc=00000001), new branch, CSeq+1 -> 401 stale=true"
rs replay --uri sip:example.test --from alice@example.test --to alice@example.test \
	--contact "<sip:alice@127.0.0.1:$CP>" --expires 600 \
	--user alice@example.test --password alice-secret --algorithm SHA-256 --replay "$T/replayed.txt"
expect_status 200 "the original authenticated REGISTER"
replay=$(sed -n 's/^REPLAY //p' "$T/replay.log")
assert_eq "$replay" 401 "answer to the replayed Authorization"
hdr_has "$T/replayed.txt" WWW-Authenticate 'stale=true' ||
	fail "401 to the replay lacks stale=true: $(hdr_values "$T/replayed.txt" WWW-Authenticate)"
check "replay with MD5 too -> 401 stale=true"
rs replay-md5 --uri sip:example.test --from alice@example.test --to alice@example.test \
	--contact "<sip:alice@127.0.0.1:$CP>" --expires 600 \
	--user alice@example.test --password alice-secret --algorithm MD5 --replay "$T/replayed-md5.txt"
expect_status 200 "the original authenticated REGISTER"
assert_eq "$(sed -n 's/^REPLAY //p' "$T/replay-md5.log")" 401 "answer to the replayed MD5 Authorization"
hdr_has "$T/replayed-md5.txt" WWW-Authenticate 'stale=true' || fail "401 to the MD5 replay lacks stale=true"

check "nonce reuse with an increasing nc (00000002, new cnonce) -> 200 (RFC 7616 §3.4.5)"
rs reuse --uri sip:example.test --from alice@example.test --to alice@example.test \
	--contact "<sip:alice@127.0.0.1:$CP>" --expires 600 \
	--user alice@example.test --password alice-secret --algorithm SHA-256 --again "$T/reused.txt" --again-nc 2
expect_status 200 "the original authenticated REGISTER"
assert_eq "$(sed -n 's/^AGAIN //p' "$T/reuse.log")" 200 "answer to the nonce reused with nc=2"

check "alice's credentials for bob's AoR (REGISTER To bob) -> 403 (§10.3 step 3)"
rs alice-as-bob --uri sip:example.test --from alice@example.test --to bob@example.test \
	--contact "<sip:bob@127.0.0.1:$CP>" --expires 600 --user alice@example.test --password alice-secret
expect_status 403 "REGISTER for another user's AoR"

check "MESSAGE from alice without credentials -> 407 with Proxy-Authenticate (SHA-256 and MD5, qop=auth)"
rs m407 --method MESSAGE --uri sip:bob@example.test --from alice@example.test --to bob@example.test \
	--body "no credentials"
expect_status 407 "unauthenticated MESSAGE"
pch=$(hdr_values "$RS_FILE" Proxy-Authenticate)
assert_eq "$(grep -c -i '^Digest ' <<<"$pch")" 2 "number of Proxy-Authenticate challenges"
grep -q -i -E 'qop="([^"]*,)?auth(,[^"]*)?"' <<<"$pch" || fail "407 challenge without qop=auth"
grep -q -i 'WWW-Authenticate' "$RS_FILE" && fail "407 carries WWW-Authenticate"

check "MESSAGE authenticated as alice -> past auth (bob is registered by SIPp's contact: 480 after the dead port)"
rs m-alice --method MESSAGE --uri sip:bob@example.test --from alice@example.test --to bob@example.test \
	--body "hi" --user alice@example.test --password alice-secret
expect_status '480|200' "authenticated MESSAGE"

check "authenticated as alice but From bob -> 403"
rs m-spoof --method MESSAGE --uri sip:alice@example.test --from bob@example.test --to alice@example.test \
	--body "I am bob, honest" --user alice@example.test --password alice-secret
expect_status 403 "MESSAGE with alice's credentials and From bob"

check "MESSAGE to another domain (sip:x@192.0.2.1) from an unauthenticated foreign From -> 403 Relaying Denied"
n_before=$(grep -c -i 'branch to\|forked' "$CPMD_LOG" || true)
rs relay --method MESSAGE --uri sip:x@192.0.2.1 --from mallory@evil.test --to x@192.0.2.1 --body "relay me"
expect_status 403 "open relay attempt"
head -n 1 "$RS_FILE" | grep -q -i 'Relaying Denied' || fail "reason phrase: $(head -n 1 "$RS_FILE" | tr -d '\r')"
check "from alice@example.test without credentials to sip:x@192.0.2.1 -> 407, nothing forwarded"
rs relay-local --method MESSAGE --uri sip:x@192.0.2.1 --from alice@example.test --to x@192.0.2.1 --body "relay me"
expect_status 407 "unauthenticated local From to a foreign domain"
assert_eq "$(grep -c -i 'branch to\|forked' "$CPMD_LOG" || true)" "$n_before" "forwarding attempts logged"

check "auth.algorithms=SHA-256 only: cpm registers (so it does SHA-256)"
cpmd_stop
cpmd_start -o sip.t1=50 -o sip.t2=200 -o auth.algorithms=SHA-256 -o auth.nonce_ttl=2 -o im.store_and_forward=no
rs sha-only --uri sip:example.test --from alice@example.test --to alice@example.test \
	--contact "<sip:alice@127.0.0.1:$CP>" --expires 600
expect_status 401 "REGISTER without credentials"
assert_eq "$(hdr_values "$RS_FILE" WWW-Authenticate | grep -c -i 'algorithm=SHA-256')" 1 "SHA-256 challenges"
hdr_has "$RS_FILE" WWW-Authenticate 'algorithm=MD5' && fail "MD5 offered with auth.algorithms=SHA-256"
cpm --user alice@example.test --password alice-secret register --expires 600 >"$T/cpm-sha.out" 2>&1 ||
	fail "cpm register with SHA-256 only failed: $(tail -n 3 "$T/cpm-sha.out")"

check "auth.nonce_ttl=2: the nonce reused (nc=2) after 3 s -> 401 stale=true (RFC 7616 §3.3)"
rs expired --uri sip:example.test --from alice@example.test --to alice@example.test \
	--contact "<sip:alice@127.0.0.1:$CP>" --expires 600 \
	--user alice@example.test --password alice-secret --again "$T/expired.txt" --again-nc 2 --again-delay 3.2
expect_status 200 "the original authenticated REGISTER"
assert_eq "$(sed -n 's/^AGAIN //p' "$T/expired.log")" 401 "answer to an expired nonce"
hdr_has "$T/expired.txt" WWW-Authenticate 'stale=true' || fail "401 to an expired nonce lacks stale=true"

check "auth.trusted=127.0.0.0/8: REGISTER and MESSAGE from 127.0.0.1 are not challenged"
cpmd_stop
cpmd_start -o sip.t1=50 -o sip.t2=200 -o auth.trusted=127.0.0.0/8 -o im.store_and_forward=no
rs trusted-reg --uri sip:example.test --from alice@example.test --to alice@example.test \
	--contact "<sip:alice@127.0.0.1:$CP>" --expires 600
expect_status 200 "trusted REGISTER without credentials"
rs trusted-msg --method MESSAGE --uri sip:nobody@example.test --from alice@example.test \
	--to nobody@example.test --body "trusted"
expect_status 404 "trusted MESSAGE without credentials to an unknown user"

cpmd_alive || fail "cpmd died"
cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
echo "PASS"
