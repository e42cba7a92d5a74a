#!/usr/bin/env bash
# MESSAGE relay through the stateful proxy (RFC 3428, RFC 3261 §16):
#  - bob registers (SIPp reg_auth.xml) a Contact pointing at a SIPp UAS (uas_message.xml);
#  - alice's MESSAGE without credentials -> 407 with Proxy-Authenticate;
#  - alice's MESSAGE answered to the 407 (SIPp -au/-ap over UDP and TCP, and sipmsg.py with
#    SHA-256) reaches the UAS with the Request-URI retargeted to the Contact, an added Via
#    and Max-Forwards 69 (§16.6), and the UAS's 200 comes back to alice (its To tag,
#    the proxy's Via removed, §16.7);
#  - unknown user -> 404; known user without a binding -> 480;
#  - from a trusted source (auth.trusted=127.0.0.0/8): no challenge, 200 / 404 / 480.
. "$(dirname "$0")/lib.sh"
# Proxy behaviour: store-and-forward (t_sf_*) is off here, so undeliverable MESSAGEs get 480.
need sipp python3

cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
cpmd_user_add carol@example.test carol-secret
# SIPp 3.6.1 answers only the first challenge, and only MD5: offer MD5 first
cpmd_start -o auth.algorithms=MD5,SHA-256 -o im.store_and_forward=no

N_MSG=4
sipp_uas_start uas_message.xml -m "$N_MSG"
say "bob's UA: SIPp UAS on udp 127.0.0.1:$UAS_PORT"

check "bob registers Contact <sip:bob@127.0.0.1:$UAS_PORT> (SIPp reg_auth.xml) -> 200"
sipp_run reg_auth.xml -t u1 -au bob -ap bob-secret -auth_uri example.test \
	-key user bob -key domain example.test -key contact_host 127.0.0.1 \
	-key contact_port "$UAS_PORT" -key expires 600 || fail "bob's REGISTER failed"

check "MESSAGE from alice without credentials -> 407 with Proxy-Authenticate (realm example.test)"
f=$T/m407.txt
sipmsg --method MESSAGE --uri sip:bob@example.test --from alice@example.test \
	--to bob@example.test --body "no credentials" --expect 407 --final "$f" >"$f.log" ||
	fail "unauthenticated MESSAGE: $(tail -n 1 "$f.log")"
hdr_has "$f" Proxy-Authenticate 'Digest .*realm="example.test"' || fail "407 without a Proxy-Authenticate challenge"

for tr in u1 t1; do
	check "alice -> bob MESSAGE over $tr, SIPp uac_message_auth.xml: 407, then 200 from bob's UA"
	sipp_run uac_message_auth.xml -t "$tr" -s bob -au alice -ap alice-secret \
		-auth_uri bob@example.test -key from_user alice -key domain example.test ||
		fail "alice's MESSAGE over $tr was not answered 200"
	grep -q -E 'tag=[0-9]+Uas' "$SIPP_LOG" || fail "the 200 alice got does not carry the UAS's To tag"
done

check "alice -> bob MESSAGE with SHA-256 credentials (sipmsg.py): 200 relayed, one Via left"
f=$T/msha.txt
sipmsg --transport tcp --method MESSAGE --uri sip:bob@example.test --from alice@example.test \
	--to bob@example.test --body "hello bob, sha-256" --user alice@example.test \
	--password alice-secret --algorithm SHA-256 --expect 200 --final "$f" >"$f.log" ||
	fail "MESSAGE with SHA-256 credentials: $(tail -n 1 "$f.log")"
hdr_has "$f" 'To|t' 'tag=[0-9]+Uas' || fail "200 not from bob's UA: $(hdr_values "$f" To t)"
assert_eq "$(grep -c -i -E '^(Via|v)[[:space:]]*:' "$f")" 1 "Via count in the relayed 200"

check "MESSAGE to an unknown user of the domain -> 404"
f=$T/m404.txt
sipmsg --method MESSAGE --uri sip:nobody@example.test --from alice@example.test \
	--to nobody@example.test --body "anyone?" --user alice@example.test \
	--password alice-secret --expect 404 --final "$f" >"$f.log" ||
	fail "unknown user: $(tail -n 1 "$f.log")"

check "MESSAGE to a known user without a binding (carol) -> 480"
f=$T/m480.txt
sipmsg --transport tcp --method MESSAGE --uri sip:carol@example.test --from alice@example.test \
	--to carol@example.test --body "carol?" --user alice@example.test \
	--password alice-secret --expect 480 --final "$f" >"$f.log" ||
	fail "user without binding: $(tail -n 1 "$f.log")"

check "restart with auth.trusted=127.0.0.0/8: requests from 127.0.0.1 are not challenged"
cpmd_stop
cpmd_start -o auth.algorithms=MD5,SHA-256 -o auth.trusted=127.0.0.0/8 -o im.store_and_forward=no
sipp_run uac_message.xml -t u1 -s bob -key from_user alice -key domain example.test ||
	fail "trusted MESSAGE to bob was not answered 200"
sipp_run uac_message_404.xml -t u1 -s nobody -key from_user alice -key domain example.test ||
	fail "trusted MESSAGE to an unknown user was not answered 404"
sipp_run uac_message_480.xml -t t1 -s carol -key from_user alice -key domain example.test ||
	fail "trusted MESSAGE to carol (no binding) was not answered 480"

check "bob's UA got all $N_MSG MESSAGEs, retargeted to its Contact, with Max-Forwards 69 and two Vias"
sipp_uas_wait 20
assert_eq "$BG_RC" 0 "SIPp UAS exit code"
got=$(grep -c -E "^MESSAGE sip:bob@127\.0\.0\.1:${UAS_PORT}[;> ]" "$UAS_LOG" || true)
[ "$got" -ge "$N_MSG" ] || fail "UAS got $got MESSAGEs with Request-URI sip:bob@127.0.0.1:$UAS_PORT (expected $N_MSG)"
assert_contains "$UAS_LOG" "cpmd-test-message #1 from alice to bob"
assert_contains "$UAS_LOG" "hello bob, sha-256"
assert_match "$UAS_LOG" '^Max-Forwards: *69'
"$PYTHON" - "$UAS_LOG" <<'PY' || fail "a relayed MESSAGE does not carry exactly 2 Vias (proxy's on top)"
import re, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
msgs = [m for m in re.split(r"\n-{10,}[^\n]*\n", text) if re.search(r"^MESSAGE sip:", m, re.M)]
bad = 0
for m in msgs:
    head = m[m.index("MESSAGE sip:"):].split("\n\n")[0]
    vias = re.findall(r"^(?:via|v)\s*:\s*(.*)$", head, re.M | re.I)
    n = sum(len(v.split(",")) for v in vias)
    if n != 2 or "branch=z9hG4bK" not in vias[0]:
        print("bad Via set:", vias); bad = 1
sys.exit(bad)
PY

cpmd_alive || fail "cpmd died"
cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
echo "PASS"
