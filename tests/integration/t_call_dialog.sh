#!/usr/bin/env bash
# shellcheck disable=SC2154 # NAME_PORT, NAME_LOG, NAME_PID are set by call_sipp_uas (call_lib.sh)
# In-dialog requests follow the Record-Route (RFC 3261 §12.2, §16.4, §16.6, §16.12), over
# UDP and TCP, with SIPp on both ends (call_uac_dialog.xml / call_uas_dialog.xml):
#  - (caller/callee over udp/udp, tcp/tcp and udp/tcp, where cpmd Record-Routes twice)
#    after INVITE/200/ACK through cpmd, the CALLEE sends a re-INVITE (200, ACK), an UPDATE
#    and finally the BYE to the caller's Contact with Route: <cpmd>; each reaches the
#    caller through cpmd (cpmd's Via on top, Max-Forwards 69), with cpmd's Route entry
#    removed and the Request-URI still the caller's Contact;
#  - in the same dialog the caller's INFO with Max-Forwards: 0 gets 483 from cpmd and
#    never reaches the callee (§16.3 step 3);
#  - a request whose Route names cpmd and then another hop: cpmd removes only its own
#    entry and sends the request, Request-URI unchanged, to that hop (§16.4, §16.6 step 6,
#    strict/loose routing: the next hop is loose, ";lr");
#  - the same with an unreachable next hop (nothing listens on that port): the request
#    fails upstream with 408 (Timer F, §16.8) over UDP, or 500 over TCP where the connection
#    is refused (a transport error counts as a 503, §16.9, which a proxy must not relay
#    as is and turns into a 500, §16.7 step 6); UDP may also see the ICMP error: 500.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/call_lib.sh"
need sipp python3

cpmd_user_add bob@example.test bob-secret
# a short T1 so that Timer F (64*T1) fires within the test
cpmd_start -o server.domain=example.test -o auth.trusted=127.0.0.0/8 -o sip.t1=100 -o sip.t2=400

# caller's transport / callee's transport: udp/tcp makes cpmd Record-Route twice (one
# entry per socket, RFC 5658), and the in-dialog requests carry both entries, both removed
for legs in udp/udp tcp/tcp udp/tcp; do
	tr=${legs%/*} ctr=${legs#*/}
	t=${tr:0:1}1 ct=${ctr:0:1}1 suffix='' TR=${tr^^}
	[ "$ctr" = tcp ] && suffix=";transport=tcp"
	check "caller $tr, callee $ctr: callee's re-INVITE, UPDATE and BYE reach the caller through cpmd; caller's INFO with Max-Forwards 0 -> 483"
	call_sipp_uas callee call_uas_dialog.xml -t "$ct" -key user bob -key domain example.test
	call_register bob@example.test bob-secret "sip:bob@127.0.0.1:${callee_PORT}$suffix"
	sipp_run call_uac_dialog.xml -t "$t" -s bob -key from_user alice -key domain example.test ||
		fail "$tr: the caller's side of the dialog failed"
	caller=$SIPP_LOG
	call_wait_uas callee 20
	cport=$(call_msg "$caller" sent '^INVITE ' | sed -n -E 's/^Contact: <sip:alice@127\.0\.0\.1:([0-9]+).*/\1/p')
	[ -n "$cport" ] || fail "no Contact in the caller's INVITE"
	m=$T/dlg-$tr-$ctr
	for meth in INVITE ACK UPDATE BYE; do
		call_msg_to "$m.$meth" "$caller" received "^$meth sip:"
		head -n 1 "$m.$meth" | grep -q -E "^$meth sip:alice@127\.0\.0\.1:$cport;transport=$TR SIP/2\.0" ||
			fail "$meth at the caller: Request-URI is not the caller's Contact: $(head -n 1 "$m.$meth")"
		hdr_has "$m.$meth" 'Via|v' "^SIP/2\.0/$TR 127\.0\.0\.1:$SIP_PORT;branch=z9hG4bKcpm" ||
			fail "the callee's $meth did not come through cpmd"
		assert_eq "$(call_via_count "$m.$meth")" 2 "Vias in the callee's $meth at the caller"
		if grep -q -i -E '^Route[[:space:]]*:' "$m.$meth"; then
			fail "$meth at the caller still carries a Route: $(hdr_values "$m.$meth" Route)"
		fi
		hdr_has "$m.$meth" Max-Forwards '^69$' || fail "$meth Max-Forwards is not 69"
		hdr_has "$m.$meth" 'From|f' 'tag=[0-9]+Dlg' || fail "$meth From is not the callee's"
	done
	# the callee sent them with a Route to cpmd; a re-INVITE is not Record-Routed again
	# by cpmd (the route set is fixed by the initial INVITE, §12.2)
	call_msg_to "$m.sent-bye" "$callee_LOG" sent '^BYE '
	rr_tcp="<sip:127\.0\.0\.1:$SIP_PORT;transport=tcp;lr>" rr_udp="<sip:127\.0\.0\.1:$SIP_PORT;lr>"
	case $legs in
	udp/udp) want="^$rr_udp$" ;;
	tcp/tcp) want="^$rr_tcp$" ;;
	*) want="^$rr_tcp, *$rr_udp$" ;; # the callee's side first
	esac
	hdr_has "$m.sent-bye" Route "$want" ||
		fail "the callee's BYE: Route '$(hdr_values "$m.sent-bye" Route)' is not cpmd's Record-Route ($want)"
	assert_eq "$(call_count "$callee_LOG" received '^INFO ')" 0 "INFOs with Max-Forwards 0 that reached the callee"
	call_msg_to "$m.483" "$caller" received '^SIP/2\.0 483'
	hdr_has "$m.483" CSeq '^2 INFO$' || fail "483 is not for the INFO"
	call_register bob@example.test bob-secret "sip:bob@127.0.0.1:${callee_PORT}$suffix" 0
done

check "Route: <cpmd>, <next hop;lr>: cpmd pops its own entry and relays to the next hop, Request-URI unchanged"
sipp_uas_start uas_message.xml -t u1
f=$T/route-live.txt
call_sipmsg --method MESSAGE --uri sip:carol@far.example --from alice@example.test \
	--to carol@far.example --body "via a route" --expect 200 --final "$f" \
	--header "Route: <sip:127.0.0.1:$SIP_PORT;lr>, <sip:127.0.0.1:$UAS_PORT;lr>" >"$f.log" 2>&1 ||
	fail "MESSAGE with a Route through cpmd to a live hop: $(tail -n 1 "$f.log")"
sipp_uas_wait 15
assert_eq "$BG_RC" 0 "next hop's SIPp exit code"
call_msg_to "$f.at-hop" "$UAS_LOG" received '^MESSAGE '
head -n 1 "$f.at-hop" | grep -q -F 'MESSAGE sip:carol@far.example SIP/2.0' ||
	fail "Request-URI changed: $(head -n 1 "$f.at-hop")"
assert_eq "$(hdr_values "$f.at-hop" Route | tr -d ' ')" "<sip:127.0.0.1:$UAS_PORT;lr>" "Route at the next hop"
hdr_has "$f.at-hop" 'Via|v' "^SIP/2\.0/UDP 127\.0\.0\.1:$SIP_PORT;branch=z9hG4bKcpm" || fail "not relayed by cpmd"

dead_udp=$(free_port)
check "Route: <cpmd>, <sip:127.0.0.1:$dead_udp;lr> (nothing listens, UDP): 408 (Timer F) or 500, within 64*T1"
f=$T/route-dead-udp.txt
call_sipmsg --method MESSAGE --uri sip:carol@far.example --from alice@example.test \
	--to carol@far.example --body "to nowhere" --timeout 20 --final "$f" \
	--header "Route: <sip:127.0.0.1:$SIP_PORT;lr>, <sip:127.0.0.1:$dead_udp;lr>" >"$f.log" 2>&1 ||
	fail "MESSAGE to an unreachable UDP hop: no final response: $(tail -n 1 "$f.log")"
st=$(head -n 1 "$f" | cut -d' ' -f2)
case $st in 408 | 500) echo "   got $st" ;; *) fail "unreachable UDP next hop: expected 408 or 500, got $st" ;; esac

dead_tcp=$(free_port)
check "Route: <cpmd>, <sip:127.0.0.1:$dead_tcp;transport=tcp;lr> (connection refused): 500, not 503"
f=$T/route-dead-tcp.txt
call_sipmsg --method MESSAGE --uri sip:carol@far.example --from alice@example.test \
	--to carol@far.example --body "to nowhere" --timeout 20 --final "$f" \
	--header "Route: <sip:127.0.0.1:$SIP_PORT;lr>, <sip:127.0.0.1:$dead_tcp;transport=tcp;lr>" >"$f.log" 2>&1 ||
	fail "MESSAGE to an unreachable TCP hop: no final response: $(tail -n 1 "$f.log")"
st=$(head -n 1 "$f" | cut -d' ' -f2)
assert_eq "$st" 500 "status for a refused TCP next hop"

cpmd_alive || fail "cpmd died"
cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
echo "PASS"
