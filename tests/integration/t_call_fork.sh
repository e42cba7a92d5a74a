#!/usr/bin/env bash
# shellcheck disable=SC2154 # NAME_PORT, NAME_LOG, NAME_PID are set by call_sipp_uas (call_lib.sh)
# Parallel forking of INVITE to two registered Contacts of one user (RFC 3261 §16.6,
# §16.7, §16.10), each Contact a SIPp UAS, the caller a SIPp UAC from a trusted source:
#  A. one device answers 486 Busy Here, the other 180 then 200 after 1 s: the caller gets
#     the 200 (never the 486); the busy device gets cpmd's ACK for its 486;
#  B. one device rings forever, the other answers 200: the ringing one gets a CANCEL with
#     "Reason: SIP;cause=200" (RFC 3326), answers 200 + 487 and gets the ACK for its 487;
#  C. both devices refuse, 404 first then 486: the caller gets one 4xx (§16.7 step 6: the
#     lowest class; within it cpmd prefers 401/407/415/420/484, otherwise keeps the first
#     one received; the test records which);
#  D. one device rings, the other answers 603 Decline: the ringing branch is CANCELled
#     and the caller gets the 603 (§16.7 step 5/6: a 6xx ends the search).
# Over UDP; case A also over TCP.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/call_lib.sh"
need sipp python3

for u in fa fb fc fd ft; do cpmd_user_add "$u@example.test" "$u-secret"; done
cpmd_start -o server.domain=example.test -o auth.trusted=127.0.0.0/8

# register_two USER TR(udp|tcp) — two Contacts of USER: the UAS "one" and "two"
register_two() {
	local suffix=
	[ "$2" = tcp ] && suffix=";transport=tcp"
	call_register "$1@example.test" "$1-secret" "sip:$1-1@127.0.0.1:${one_PORT}$suffix"
	call_register "$1@example.test" "$1-secret" "sip:$1-2@127.0.0.1:${two_PORT}$suffix"
}

case_a() { # TR
	local tr=$1 t=${1:0:1}1 u=fa m
	[ "$tr" = tcp ] && u=ft
	check "A/$tr: fork to a busy device (486) and one that rings then answers: the caller gets 200, never 486"
	call_sipp_uas one call_uas_reject.xml -t "$t"
	call_sipp_uas two call_uas.xml -t "$t" -key user "$u" -key cuser "$u-2@" -d 1000
	register_two "$u" "$tr"
	sipp_run call_uac.xml -t "$t" -s "$u" -key from_user alice -key domain example.test \
		-key cuser alice@ || fail "A/$tr: the call was not established (200/ACK/BYE)"
	local uac=$SIPP_LOG
	call_wait_uas one 15
	call_wait_uas two 15
	assert_eq "$(call_count "$uac" received '^SIP/2\.0 486')" 0 "486s relayed to the caller"
	m=$T/a-$tr
	call_msg_to "$m.ack" "$one_LOG" received '^ACK '
	hdr_has "$m.ack" 'Via|v' "^SIP/2\.0/${tr^^} 127\.0\.0\.1:$SIP_PORT;branch=z9hG4bKcpm" ||
		fail "the busy device's ACK does not come from cpmd"
	assert_eq "$(call_via_count "$m.ack")" 1 "Vias in cpmd's hop-by-hop ACK for 486"
	call_msg_to "$m.bye" "$two_LOG" received '^BYE '
}

case_a udp
case_a tcp

check "B: one device rings forever, the other answers: the ringing one gets CANCEL with Reason: SIP;cause=200"
call_sipp_uas one call_uas_ring_cancel.xml -t u1
call_sipp_uas two call_uas.xml -t u1 -key user fb -key cuser fb-2@ -d 1000
register_two fb udp
sipp_run call_uac.xml -t u1 -s fb -key from_user alice -key domain example.test \
	-key cuser alice@ || fail "B: the call was not established"
call_wait_uas two 15
call_wait_uas one 15
m=$T/b
call_msg_to "$m.cancel" "$one_LOG" received '^CANCEL sip:fb-1@127\.0\.0\.1'
hdr_has "$m.cancel" Reason '^SIP *; *cause *= *200' ||
	fail "CANCEL to the ringing device lacks Reason: SIP;cause=200 (got '$(hdr_values "$m.cancel" Reason)')"
call_msg_to "$m.inv" "$one_LOG" received '^INVITE '
# §9.1: the CANCEL's Request-URI, Call-ID, To, From, CSeq number and top Via equal the INVITE's
for h in 'Call-ID i' 'From f' 'To t'; do
	# shellcheck disable=SC2086 # "Name compact"
	assert_eq "$(hdr_values "$m.cancel" $h)" "$(hdr_values "$m.inv" $h)" "CANCEL's ${h% *} vs the INVITE's"
done
assert_eq "$(head -n 1 "$m.cancel" | cut -d' ' -f2)" "$(head -n 1 "$m.inv" | cut -d' ' -f2)" "CANCEL's Request-URI"
assert_eq "$(hdr_values "$m.cancel" Via v | head -n 1)" "$(hdr_values "$m.inv" Via v | head -n 1)" "CANCEL's Via vs the INVITE's top Via"
assert_eq "$(hdr_values "$m.cancel" CSeq)" "$(hdr_values "$m.inv" CSeq | sed 's/INVITE/CANCEL/')" "CANCEL's CSeq"
call_msg_to "$m.ack" "$one_LOG" received '^ACK '
assert_eq "$(call_count "$SIPP_LOG" received '^SIP/2\.0 487')" 0 "487s relayed to the caller"

check "C: both devices refuse (404 at once, 486 after 500 ms): the caller gets one of them (a 4xx), then ACKs"
call_sipp_uas one "$(call_scenario_code call_uas_reject.xml 404 "Not Found")" -t u1
call_sipp_uas two call_uas_reject.xml -t u1 -d 500
register_two fc udp
sipp_run call_uac_reject.xml -t u1 -s fc -key from_user alice -key domain example.test ||
	fail "C: the caller got no final error response"
call_wait_uas one 15
call_wait_uas two 15
m=$T/c
call_msg_to "$m.final" "$SIPP_LOG" received '^SIP/2\.0 [4-6][0-9][0-9]'
got=$(head -n 1 "$m.final" | cut -d' ' -f2)
case $got in
404 | 486) echo "   cpmd picked $got among 404 (first) and 486 (second)" ;;
*) fail "C: the caller got $got, not one of the branches' 4xx (404, 486)" ;;
esac
assert_eq "$(call_count "$SIPP_LOG" received '^SIP/2\.0 [4-6][0-9][0-9]')" 1 "final responses at the caller"
hdr_has "$m.final" 'To|t' 'tag=[0-9]+Rej' || fail "C: the final response is not one of the devices' (To tag)"

check "D: one device rings, the other declines (603) after 1 s: the ringing one is CANCELled, the caller gets 603"
call_sipp_uas one call_uas_ring_cancel.xml -t u1
call_sipp_uas two "$(call_scenario_code call_uas_reject.xml 603 Decline)" -t u1 -d 1000
register_two fd udp
sipp_run call_uac_reject.xml -t u1 -s fd -key from_user alice -key domain example.test ||
	fail "D: the caller got no final error response"
call_wait_uas one 15
call_wait_uas two 15
m=$T/d
call_msg_to "$m.final" "$SIPP_LOG" received '^SIP/2\.0 [4-6][0-9][0-9]'
assert_eq "$(head -n 1 "$m.final" | cut -d' ' -f2)" 603 "D: final status at the caller"
call_msg_to "$m.cancel" "$one_LOG" received '^CANCEL sip:fd-1@127\.0\.0\.1'

cpmd_alive || fail "cpmd died"
cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
echo "PASS"
