#!/usr/bin/env bash
# A call through the stateful proxy with SIPp on both ends (RFC 3261 §16, §12), over UDP
# and over TCP:
#  - bob registers a Contact pointing at a SIPp UAS (call_uas.xml);
#  - alice's SIPp UAC (call_uac.xml, trusted source: auth.trusted=127.0.0.0/8) sends
#    INVITE with SDP -> 100/180 -> 200 with SDP; the 200 must carry a Record-Route naming
#    cpmd (regexp check inside the scenario), then ACK and BYE to bob's Contact with a Route
#    built from it -> 200;
#  - bob's UAS sees the INVITE retargeted to its Contact with cpmd's Record-Route, and the
#    ACK and BYE arriving through cpmd (cpmd's Via on top, Max-Forwards 69) with no Route
#    left (cpmd removed its own entry: loose routing, §16.4), and the 200's Vias trimmed;
#  - cpmd's debug log shows the INVITE and the BYE of each call proxied ("forked to 1
#    branch(es)"); the ACK is forwarded statelessly and seen at the callee;
#  - the same call from an untrusted source with digest: INVITE -> 407 -> ACK -> INVITE
#    with Proxy-Authorization (call_uac_auth.xml, SIPp -au/-ap) -> 200 -> ACK -> BYE;
#  - with 127.0.0.1 among cpmd's domains (its default), Contacts sip:bob@127.0.0.1:PORT
#    and sip:127.0.0.1:PORT (another port than cpmd's) still get the ACK and the BYE.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/call_lib.sh"
need sipp python3

cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret

# checks on bob's side of one call: LOG of the UAS, TR = udp|tcp
check_uas_side() {
	local log=$1 tr=$2 m=$T/uas-$2-$RANDOM
	call_msg_to "$m.inv" "$log" received "^INVITE sip:${CUSER}127\.0\.0\.1:[0-9]+"
	hdr_has "$m.inv" Record-Route "<sip:127\.0\.0\.1:${SIP_PORT}[;>]" ||
		fail "INVITE at the callee has no Record-Route to cpmd: $(hdr_values "$m.inv" Record-Route)"
	hdr_has "$m.inv" 'Via|v' "^SIP/2\.0/$tr 127\.0\.0\.1:$SIP_PORT;branch=z9hG4bK" ||
		fail "INVITE at the callee: top Via is not cpmd's"
	assert_eq "$(call_via_count "$m.inv")" 2 "Vias in the INVITE at the callee"
	hdr_has "$m.inv" Max-Forwards '^69$' || fail "INVITE Max-Forwards not 69"
	for meth in ACK BYE; do
		call_msg_to "$m.$meth" "$log" received "^$meth sip:"
		hdr_has "$m.$meth" 'Via|v' "^SIP/2\.0/$tr 127\.0\.0\.1:$SIP_PORT;branch=z9hG4bK" ||
			fail "$meth did not come through cpmd (top Via: $(hdr_values "$m.$meth" Via v | head -n 1))"
		assert_eq "$(call_via_count "$m.$meth")" 2 "Vias in the $meth at the callee"
		if grep -q -i -E '^Route[[:space:]]*:' "$m.$meth"; then
			fail "$meth at the callee still carries a Route: $(hdr_values "$m.$meth" Route)"
		fi
		hdr_has "$m.$meth" Max-Forwards '^69$' || fail "$meth Max-Forwards not 69"
	done
}

run_call() { # TR(u1|t1) TRANSPORT(udp|tcp) UAC-SCENARIO [sipp args]
	local t=$1 tr=$2 scen=$3
	shift 3
	local uport
	sipp_uas_start call_uas.xml -t "$t" -key user bob -key cuser "$CUSER" -d 300
	uport=$UAS_PORT
	echo "$UAS_PID" >>"$T/uas.pids"
	local contact="sip:${CUSER}127.0.0.1:$uport"
	[ "$tr" = tcp ] && contact="$contact;transport=tcp"
	call_register bob@example.test bob-secret "$contact"
	sipp_run "$scen" -t "$t" -s bob -key from_user alice -key domain example.test \
		-key cuser "${CUSER:+alice@}" "$@" || fail "$scen over $tr: the call failed"
	local uac_log=$SIPP_LOG
	sipp_uas_wait 20
	assert_eq "$BG_RC" 0 "SIPp UAS exit code ($tr)"
	check_uas_side "$UAS_LOG" "${tr^^}"
	# the caller's side: the 200 came back with exactly its own Via, and it sent the BYE
	# with a Route to cpmd
	local m=$T/uac-$tr-$RANDOM
	call_msg_to "$m.200" "$uac_log" received '^SIP/2\.0 200' 1
	assert_eq "$(call_via_count "$m.200")" 1 "Vias in the 200 at the caller"
	hdr_has "$m.200" 'To|t' 'tag=[0-9]+Uas' || fail "200 not from the callee's UAS"
	hdr_has "$m.200" Record-Route "^<sip:127\.0\.0\.1:$SIP_PORT(;transport=tcp)?;lr>" ||
		fail "the 200 at the caller has no Record-Route to cpmd: $(hdr_values "$m.200" Record-Route)"
	call_msg_to "$m.bye" "$uac_log" sent "^BYE sip:${CUSER}127\.0\.0\.1:$uport"
	# cpmd's own account (log_level=debug): the INVITE and the BYE were proxied statefully
	local cid
	cid=$(hdr_values "$m.bye" Call-ID i)
	if [ "$LOG_DEBUG" = 1 ]; then
		for meth in INVITE BYE; do
			grep -q -F "[$cid] $meth forked to 1 branch(es)" "$CPMD_LOG" ||
				fail "cpmd.log does not show the $meth of call $cid proxied ('$meth forked to 1 branch(es)')"
		done
	fi
	hdr_has "$m.bye" Route "<sip:127\.0\.0\.1:${SIP_PORT}[;>]" || fail "the caller's BYE has no Route to cpmd"
	# expire the binding so the next run starts from a single Contact
	call_register bob@example.test bob-secret "$contact" 0
}

# cpmd serves only example.test here: the phones' Contacts are sip:USER@127.0.0.1:PORT,
# and 127.0.0.1 must not look like one of cpmd's domains for these (see the last part).
DOM=(-o server.domain=example.test -o server.log_level=debug)
LOG_DEBUG=1
CUSER=bob@
cpmd_start "${DOM[@]}" -o auth.trusted=127.0.0.0/8 -o auth.algorithms=MD5,SHA-256
for tr in udp tcp; do
	check "trusted call over $tr: INVITE/180/200 (Record-Route to cpmd)/ACK/BYE through cpmd"
	run_call "${tr:0:1}1" "$tr" call_uac.xml
done
cpmd_alive || fail "cpmd died"
cpmd_stop

# SIPp 3.6.1 answers only MD5 challenges
cpmd_start "${DOM[@]}" -o auth.algorithms=MD5,SHA-256
for tr in udp tcp; do
	check "authenticated call over $tr: INVITE -> 407 -> ACK -> INVITE with Proxy-Authorization -> 200 -> ACK -> BYE"
	run_call "${tr:0:1}1" "$tr" call_uac_auth.xml -au alice -ap alice-secret -auth_uri bob@example.test
done
cpmd_alive || fail "cpmd died"
cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"

# cpmd's default domains include 127.0.0.1 (and lib.sh's config too).  A Contact
# sip:bob@127.0.0.1:PORT or sip:127.0.0.1:PORT names a UA, not cpmd (another port): the
# in-dialog ACK and BYE addressed to it must still be forwarded (RFC 3261 §16.4-16.6,
# §12.2: the Request-URI of an in-dialog request is the peer's remote target).
LOG_DEBUG=0
cpmd_start -o auth.trusted=127.0.0.0/8
bad=
for CUSER in bob@ ""; do
	check "served domain 127.0.0.1: call to Contact sip:${CUSER}127.0.0.1:PORT over udp: ACK and BYE reach the callee"
	# in a subshell, so that a failure is recorded rather than fatal
	: >"$T/uas.pids"
	if ! (run_call u1 udp call_uac.xml) >"$T/served-${CUSER:-nouser}.out" 2>&1; then
		grep -o -E 'FAIL: .*' "$T/served-${CUSER:-nouser}.out" >&2 || true
		bad+=" sip:${CUSER}127.0.0.1:PORT"
	fi
	_SIPP_SEQ=$((_SIPP_SEQ + 10))
	while read -r pid; do # the subshell's SIPp UAS, if it is still waiting
		kill -TERM "$pid" 2>/dev/null || true
	done <"$T/uas.pids"
done
cpmd_alive || fail "cpmd died"
cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
[ -z "$bad" ] || fail "with 127.0.0.1 served, the dialog broke for Contact(s)$bad (see above and cpmd.log)"
echo "PASS"
