#!/usr/bin/env bash
# shellcheck disable=SC2154 # NAME_PORT, NAME_LOG, NAME_PID are set by call_sipp_uas (call_lib.sh)
# CANCEL through the stateful proxy (RFC 3261 §9, §16.10), over UDP and TCP:
#  - the caller (SIPp call_uac_cancel.xml) sends INVITE, bob's device (SIPp
#    call_uas_ring_cancel.xml) rings, the caller CANCELs: cpmd answers 200 to the CANCEL
#    itself, sends its own CANCEL to the device (same Request-URI, Call-ID, From, To, CSeq
#    number and top Via as the INVITE it forwarded), the device answers 200 + 487, cpmd
#    ACKs the 487 and relays a 487 to the caller, who ACKs it (cpmd absorbs that ACK);
#  - the same with two ringing devices (forked): both get CANCEL, the caller gets one 487;
#  - the callee's 200 crosses the caller's CANCEL (UDP, TCP): cpmd still relays the 200
#    (§16.7 step 5), the caller ACKs it and sends BYE; cpmd must stay up (ASan);
#  - CANCEL matching no transaction -> 481 (§16.10, §9.2), over UDP and TCP.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/call_lib.sh"
need sipp python3

cpmd_user_add bob@example.test bob-secret
cpmd_user_add carol@example.test carol-secret
cpmd_user_add dave@example.test dave-secret
cpmd_start -o server.domain=example.test -o auth.trusted=127.0.0.0/8

check_cancelled_device() { # NAME(one|two) TR
	local log_var=${1}_LOG m=$T/cancel-$1-$2-$RANDOM
	call_msg_to "$m.inv" "${!log_var}" received '^INVITE '
	call_msg_to "$m.cancel" "${!log_var}" received '^CANCEL '
	hdr_has "$m.cancel" 'Via|v' "^SIP/2\.0/${2^^} 127\.0\.0\.1:$SIP_PORT;branch=z9hG4bKcpm" ||
		fail "the device's CANCEL does not come from cpmd"
	assert_eq "$(call_via_count "$m.cancel")" 1 "Vias in cpmd's CANCEL (hop by hop, §9.1)"
	assert_eq "$(hdr_values "$m.cancel" Via v)" "$(hdr_values "$m.inv" Via v | head -n 1 | sed 's/, SIP\/2.0.*//')" "CANCEL's Via vs the INVITE's top Via"
	assert_eq "$(head -n 1 "$m.cancel" | cut -d' ' -f2)" "$(head -n 1 "$m.inv" | cut -d' ' -f2)" "CANCEL's Request-URI"
	assert_eq "$(hdr_values "$m.cancel" CSeq)" "$(hdr_values "$m.inv" CSeq | sed 's/INVITE/CANCEL/')" "CANCEL's CSeq"
	assert_eq "$(hdr_values "$m.cancel" To t)" "$(hdr_values "$m.inv" To t)" "CANCEL's To"
	call_msg_to "$m.ack" "${!log_var}" received '^ACK '
	hdr_has "$m.ack" CSeq '^[0-9]+ ACK$' || fail "bad ACK CSeq"
}

check_caller() { # TR — the caller's log ($SIPP_LOG): 200 to CANCEL, one 487, no 2xx to INVITE
	local m=$T/caller-$1-$RANDOM
	call_msg_to "$m.200" "$SIPP_LOG" received '^SIP/2\.0 200'
	hdr_has "$m.200" CSeq '^1 CANCEL$' || fail "the 200 at the caller is not for the CANCEL"
	assert_eq "$(call_count "$SIPP_LOG" received '^SIP/2\.0 487')" 1 "487s at the caller"
	call_msg_to "$m.487" "$SIPP_LOG" received '^SIP/2\.0 487'
	assert_eq "$(call_via_count "$m.487")" 1 "Vias in the 487 at the caller"
	hdr_has "$m.487" 'To|t' 'tag=[0-9]+Ring' ||
		fail "the 487 at the caller is not the device's (To: $(hdr_values "$m.487" To t)): cpmd answered the INVITE itself instead of CANCELling the branch"
}

# Each step runs in a subshell (call_soft): a failure is recorded, the next steps still run.
step_cancel() { # TR
	local tr=$1 t=${1:0:1}1 suffix=''
	[ "$tr" = tcp ] && suffix=";transport=tcp"
	check "$tr: caller CANCELs a ringing call: 200 to the CANCEL, CANCEL to the device, 487 to the caller, ACK"
	call_sipp_uas one call_uas_ring_cancel.xml -t "$t"
	call_register bob@example.test bob-secret "sip:bob-1@127.0.0.1:${one_PORT}$suffix"
	sipp_run call_uac_cancel.xml -t "$t" -s bob -key from_user alice -key domain example.test ||
		fail "$tr: CANCEL flow failed at the caller"
	call_register bob@example.test bob-secret "sip:bob-1@127.0.0.1:${one_PORT}$suffix" 0
	check_caller "$tr"
	call_wait_uas one 25
	check_cancelled_device one "$tr"
}

step_fork() {
	check "udp: caller CANCELs a call forked to two ringing devices: both are CANCELled, the caller gets one 487"
	call_sipp_uas one call_uas_ring_cancel.xml -t u1
	call_sipp_uas two call_uas_ring_cancel.xml -t u1
	call_register carol@example.test carol-secret "sip:carol-1@127.0.0.1:${one_PORT}"
	call_register carol@example.test carol-secret "sip:carol-2@127.0.0.1:${two_PORT}"
	sipp_run call_uac_cancel.xml -t u1 -s carol -key from_user alice -key domain example.test ||
		fail "forked CANCEL flow failed at the caller"
	call_register carol@example.test carol-secret "sip:carol-1@127.0.0.1:${one_PORT}" 0
	call_register carol@example.test carol-secret "sip:carol-2@127.0.0.1:${two_PORT}" 0
	check_caller udp
	call_wait_uas one 25
	call_wait_uas two 25
	check_cancelled_device one udp
	check_cancelled_device two udp
}

step_race() { # TR
	local tr=$1 t=${1:0:1}1 suffix='' rc=0
	[ "$tr" = tcp ] && suffix=";transport=tcp"
	check "$tr: the callee's 200 crosses the caller's CANCEL: cpmd relays the 200 (§16.7 step 5), the caller ACKs and hangs up, cpmd survives"
	call_sipp_uas race call_uas_cancel_race.xml -t "$t" -key user dave
	call_register dave@example.test dave-secret "sip:dave@127.0.0.1:${race_PORT}$suffix"
	sipp_run call_uac_cancel_race.xml -t "$t" -s dave -key from_user alice -key domain example.test || rc=$?
	call_register dave@example.test dave-secret "sip:dave@127.0.0.1:${race_PORT}$suffix" 0
	sleep 1
	cpmd_alive || { assert_no_sanitizer_errors "$CPMD_LOG"; fail "$tr: cpmd died after the crossed 200/CANCEL"; }
	assert_no_sanitizer_errors "$CPMD_LOG"
	[ "$rc" -eq 0 ] || fail "$tr: the caller did not get the crossed 200 (or could not ACK/BYE)"
	call_wait_uas race 20
}

# after each step: cpmd must still run (an ASan report in cpmd.log explains a crash)
alive() {
	sleep 0.5 # a crash may follow the UAS leaving (its TCP connection closing)
	if ! cpmd_alive; then
		assert_no_sanitizer_errors "$CPMD_LOG"
		fail "cpmd died after step $1 (failed steps: $(printf '%s; ' "${CALL_SOFT_FAILED[@]}"))"
	fi
}
call_soft step_cancel udp
alive "cancel udp"
call_soft step_cancel tcp
alive "cancel tcp"
call_soft step_fork
alive "cancel forked call"
call_soft step_race udp
alive "200/CANCEL race udp"
call_soft step_race tcp
alive "200/CANCEL race tcp"

for tr in udp tcp; do
	check "$tr: CANCEL that matches no transaction -> 481"
	f=$T/c481-$tr.txt
	call_sipmsg --transport "$tr" --method CANCEL --uri sip:bob@example.test --from alice@example.test \
		--to bob@example.test --expect 481 --final "$f" >"$f.log" 2>&1 ||
		fail "unknown CANCEL over $tr: $(tail -n 1 "$f.log")"
done

cpmd_alive || fail "cpmd died"
cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
call_soft_end
echo "PASS"
