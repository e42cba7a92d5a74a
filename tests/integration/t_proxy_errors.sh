#!/usr/bin/env bash
# Proxy error handling (RFC 3261 §16.3, §8.2, §16.7; RFC 4475):
#  - Max-Forwards: 0 -> 483; OPTIONS with Max-Forwards: 0 to the server itself -> 200;
#  - a loop (a binding whose Contact is cpmd itself) -> 482 (or 483 after iterating),
#    cpmd stays alive and the number of requests it handled is bounded;
#  - Proxy-Require: foo -> 420 with Unsupported: foo (only the unknown tags listed);
#    Require: foo is ignored by the proxy, but 420 for OPTIONS to the server / REGISTER;
#  - Request-URI scheme im: / mailto: -> 416;
#  - unknown user -> 404; known user without binding -> 480; a user whose only Contact
#    never answers (UDP port where nothing listens; sip.t1=50 so Timer F = 3.2 s) -> 480;
#  - garbage datagrams: no crash, still answering; RFC 4475 badvers.sip -> 505,
#    insuf.sip -> 400, and a few more (Via rewritten to 127.0.0.1 in a copy, so that no
#    answer can go to the foreign hosts of the corpus).
# Nothing here is trusted: requests come From a foreign domain (no auth needed to reach
# local users), and anything addressed to another domain is refused (403) unforwarded.
. "$(dirname "$0")/lib.sh"
# Proxy behaviour: store-and-forward (t_sf_*) is off here, so undeliverable MESSAGEs get 480.
. "$(dirname "$0")/reg_lib.sh"
need python3

CORPUS=$REPO/../shared/corpus/rfc4475
for u in loopy@127.0.0.1 carol@example.test dave@example.test; do
	cpmd_user_add "$u" secret-"${u%%@*}"
done
cpmd_start -o sip.t1=50 -o sip.t2=200 -o auth.register=no -o im.store_and_forward=no
FROM=sender@elsewhere.test

msg() { # NAME URI [args] — a MESSAGE from a foreign-domain sender
	local name=$1 uri=$2
	shift 2
	rs "$name" --method MESSAGE --uri "$uri" --from "$FROM" --to "${uri#*:}" --body "test $name" "$@"
}

alive() { # after hostile input: the server still answers OPTIONS
	rs "alive-$1" --method OPTIONS --uri "sip:127.0.0.1:$SIP_PORT" --from "$FROM" --timeout 5
	[ "$RS_STATUS" = 200 ] || fail "cpmd no longer answers OPTIONS after $1 (got $RS_STATUS)"
	cpmd_alive || fail "cpmd died after $1"
}

check "Max-Forwards: 0 on a MESSAGE to be proxied -> 483 (§16.3 step 3)"
msg mf0 sip:carol@example.test --max-forwards 0
expect_status 483 "MESSAGE with Max-Forwards 0"
check "OPTIONS with Max-Forwards: 0 to the server itself -> 200 (§16.3 step 3, §11)"
rs opt-mf0 --method OPTIONS --uri "sip:127.0.0.1:$SIP_PORT" --from "$FROM" --max-forwards 0
expect_status 200 "OPTIONS to the server with Max-Forwards 0"

check "Proxy-Require: foo -> 420 with Unsupported: foo (§8.2.2.3, §16.3 step 5)"
msg preq sip:carol@example.test --header "Proxy-Require: foo"
expect_status 420 "Proxy-Require: foo"
assert_eq "$(hdr_values "$RS_FILE" Unsupported)" foo "Unsupported"

check "Proxy-Require: foo, path, bar -> 420 listing only foo and bar (path is supported)"
msg preq2 sip:carol@example.test --header "Proxy-Require: foo, path" --header "Proxy-Require: bar"
expect_status 420 "Proxy-Require: foo, path, bar"
uns=$(hdr_values "$RS_FILE" Unsupported | tr -d ' ' | tr '\n' ',')
grep -q -E '(^|,)foo(,|$)' <<<"$uns" && grep -q -E '(^|,)bar(,|$)' <<<"$uns" ||
	fail "Unsupported does not list foo and bar: '$uns'"
grep -q -i -E '(^|,)path(,|$)' <<<"$uns" && fail "Unsupported lists path: '$uns'"
check "Require: foo on a request the proxy forwards is not the proxy's business (§16.3): 404, not 420"
msg req-proxied sip:nobody@example.test --header "Require: foo"
expect_status 404 "MESSAGE with Require: foo to an unknown user"
check "Require: foo on OPTIONS to the server itself -> 420 Unsupported: foo (§8.2.2.3)"
rs req-self --method OPTIONS --uri "sip:127.0.0.1:$SIP_PORT" --from "$FROM" --header "Require: foo"
expect_status 420 "OPTIONS with Require: foo"
assert_eq "$(hdr_values "$RS_FILE" Unsupported)" foo "Unsupported"
check "Require: foo on REGISTER -> 420 Unsupported: foo"
rs req-reg --uri sip:example.test --from carol@example.test --to carol@example.test \
	--contact "<sip:carol@127.0.0.1:9>" --expires 600 --header "Require: foo"
expect_status 420 "REGISTER with Require: foo"
assert_eq "$(hdr_values "$RS_FILE" Unsupported)" foo "Unsupported"

check "Request-URI scheme im: -> 416; mailto: -> 416 (§8.2.2.1)"
rs im --method MESSAGE --uri im:carol@example.test --from "$FROM" --to carol@example.test --body x
expect_status 416 "im: Request-URI"
rs mailto --method MESSAGE --uri mailto:carol@example.test --from "$FROM" --to carol@example.test --body x
expect_status 416 "mailto: Request-URI"

check "unknown user -> 404; known user without binding -> 480"
msg unknown sip:nobody@example.test
expect_status 404 "MESSAGE to an unknown user"
msg nobind sip:carol@example.test
expect_status 480 "MESSAGE to a known user without binding"

check "dave's only Contact is a UDP port where nothing listens -> 480 after Timer F (3.2 s), not later than 10 s"
DEAD=$(free_port)
rs dave-reg --uri sip:example.test --from dave@example.test --to dave@example.test \
	--contact "<sip:dave@127.0.0.1:$DEAD>" --expires 600
expect_status 200 "dave's REGISTER (auth.register=no)"
t0=$(date +%s%N)
msg dave sip:dave@example.test --timeout 15
t1=$(date +%s%N)
expect_status 480 "MESSAGE to a device that never answers"
ms=$(((t1 - t0) / 1000000))
echo "   480 after $ms ms"
[ "$ms" -ge 2500 ] || fail "480 after $ms ms: before Timer F (64*T1 = 3.2 s) expired?"
[ "$ms" -le 10000 ] || fail "480 after $ms ms: later than 10 s"

check "loop: loopy@127.0.0.1's Contact is cpmd itself; a MESSAGE to it -> 482 or 483, cpmd alive, bounded"
rs loopy-reg --uri "sip:127.0.0.1:$SIP_PORT" --from loopy@127.0.0.1 --to loopy@127.0.0.1 \
	--contact "<sip:loopy@127.0.0.1:$SIP_PORT>" --expires 600
expect_status 200 "loopy's REGISTER"
msg loop sip:loopy@127.0.0.1 --timeout 20
expect_status '48[23]' "MESSAGE around a loop"
loop_status=$RS_STATUS
echo "   $(head -n 1 "$RS_FILE" | tr -d '\r')"
alive loop

check "the loop was cut early: 482 detected within a few hops (§16.3 step 4), not by Max-Forwards exhaustion"
[ "$loop_status" = 482 ] || rfc_fail "loop answered $loop_status, not 482: the loop ran until Max-Forwards was exhausted (§16.3 step 4 loop detection missed it)"

# ---------------------------------------------------------------- garbage and torture
check "garbage datagrams: no answer needed, no crash, still answering OPTIONS"
printf 'hello, world\r\n' >"$T/g1"
head -c 1500 /dev/urandom >"$T/g2"
printf 'MESSAGE sip:carol@example.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\n' >"$T/g3"
printf '\0\0\0\0SIP/2.0 200 OK\r\n\r\n' >"$T/g4"
printf 'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKnone\r\nCSeq: 1 MESSAGE\r\nCall-ID: x\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nContent-Length: 0\r\n\r\n' >"$T/g5"
for g in g1 g2 g3 g4 g5; do
	python3 "$REG_SIP" raw --server "127.0.0.1:$SIP_PORT" --wait 0.5 "$T/$g" >"$T/$g.out" 2>&1 ||
		fail "sending $g failed: $(cat "$T/$g.out")"
	echo "   $g: $(head -n 1 "$T/$g.out")"
	grep -q -E '^SIP/2\.0 [0-9]{3}' "$T/$g.out" && ! grep -q -E '^SIP/2\.0 400' "$T/$g.out" &&
		fail "garbage $g answered $(head -n 1 "$T/$g.out") (only 400 or nothing is acceptable)"
done
alive garbage

[ -d "$CORPUS" ] || fail "RFC 4475 corpus missing at $CORPUS"
# FILE EXPECTED — send a copy whose first Via is rewritten to our own UDP socket
torture() {
	local f=$1 want=$2 got
	[ -f "$CORPUS/$f" ] || fail "corpus file $f missing"
	python3 "$REG_SIP" raw --server "127.0.0.1:$SIP_PORT" --fix-via --wait 1.5 "$CORPUS/$f" \
		>"$T/$f.out" 2>&1 || fail "sending $f failed: $(cat "$T/$f.out")"
	got=$(head -n 1 "$T/$f.out")
	echo "   $f: $got"
	grep -q -E "^SIP/2\.0 ($want)( |\$)" <<<"$got" ||
		rfc_fail "RFC 4475 $f: expected $want, got '$got'"
}
check "RFC 4475 badvers.sip (SIP/7.0) -> 505 (§3.1.2.16)"
torture badvers.sip 505
alive badvers
check "RFC 4475 insuf.sip (no Call-ID, From, To, Max-Forwards) -> 400 (§3.3.1)"
torture insuf.sip 400
alive insuf
check "RFC 4475 zeromf.sip (Max-Forwards 0) -> 483 (§3.3.11)"
torture zeromf.sip 483
check "RFC 4475 unkscm.sip (unknown Request-URI scheme) -> 416 (§3.3.2)"
torture unkscm.sip 416
check "RFC 4475 bext01.sip (unknown Proxy-Require) -> 420 (§3.3.6)"
torture bext01.sip 420
check "RFC 4475 mismatch01.sip (CSeq method != request method) -> 400 (§3.1.2.17)"
torture mismatch01.sip 400
check "RFC 4475 multi01.sip (several single-valued headers) -> 400 (§3.3.13)"
torture multi01.sip 400
alive torture

cpmd_stop
reqs=$(sed -n -E 's/.*cpmd stopped: ([0-9]+) requests.*/\1/p' "$CPMD_LOG" | tail -n 1)
echo "   requests handled in total: $reqs"
[ -n "$reqs" ] || fail "no 'cpmd stopped: N requests' line"
# ~40 sent by this test (plus retransmissions) + at most 70 hops of the loop
[ "$reqs" -le 140 ] || fail "cpmd handled $reqs requests: the loop was not bounded"
assert_no_sanitizer_errors "$CPMD_LOG"
rfc_finish
echo "PASS"
