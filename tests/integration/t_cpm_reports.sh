#!/usr/bin/env bash
# cpm send --report and cpm listen with stored messages (issue 3 acceptance; RFC 3428 §7
# 202, RFC 5438 IMDN in RFC 3862 message/cpim, RFC 3261 §20.17 Date), over UDP and TCP:
#  - bob is offline; alice's `cpm send --report` prints "202 Accepted (stored for later
#    delivery)" and "report: ID stored by bob@example.test", and keeps waiting;
#  - bob's `cpm listen` gets the message marked "[stored, sent DATE]" with the Date alice
#    sent (--json: "stored": true, "sent", and the CPIM imdn.Message-ID = ID);
#  - alice's send then prints "report: ID delivered by bob@example.test" and exits 0;
#  - a message that expires before bob comes back (Expires: 2, im.sweep_interval=1):
#    "stored", then "failed", exit 4;
#  - bob online: "200 OK (delivered)" at once, exit 0, no wait;
#  - nobody comes within --report=2: exit 3, the message stays stored.
. "$(dirname "$0")/lib.sh"
need python3
[ -x "$CPM" ] || fail "no cpm binary at $CPM (run make)"

cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
cpmd_start -o im.sweep_interval=1
mkdir -p "$T/home"
export HOME=$T/home # no ~/.config/cpm/config of the user, for the background runs too

alice_send() { # NAME TRANSPORT ARGS... — alice's cpm send in the background
	local name=$1 tr=$2
	shift 2
	bg_start "$name" "$CPM" --server "127.0.0.1:$SIP_PORT" --transport "$tr" --timeout 10 \
		--user alice@example.test --password alice-secret send "$@"
}
bob_listen() { # NAME TRANSPORT ARGS...
	local name=$1 tr=$2
	shift 2
	bg_start "$name" "$CPM" --server "127.0.0.1:$SIP_PORT" --transport "$tr" --timeout 10 \
		--user bob@example.test --password bob-secret listen "$@"
}
report_id() { # FILE STATUS -> the message id of "report: ID STATUS by bob@example.test"
	sed -n -E "s/^report: ([0-9a-f]+) $2 by bob@example\.test\$/\1/p" "$1" | head -n 1
}

for tr in udp tcp; do
	check "$tr: bob offline; alice send --report -> 202 and a 'stored' report, still waiting"
	text="while you were away ($tr) #$RANDOM"
	t0=$(date +%s)
	alice_send "send-$tr" "$tr" --report=40 bob@example.test "$text"
	send_pid=$BG_PID
	wait_for 10 grep -q "^report: .* stored by bob@example.test" "$T/send-$tr.out" ||
		fail "no 'stored' report: $(cat "$T/send-$tr.out")"
	assert_contains "$T/send-$tr.out" "202 Accepted (stored for later delivery)"
	kill -0 "$send_pid" 2>/dev/null || fail "cpm send did not wait for the delivery report"
	id=$(report_id "$T/send-$tr.out" stored)
	[ -n "$id" ] || fail "cannot read the message id of the report: $(cat "$T/send-$tr.out")"
	echo "   message id $id"

	# the original Date must be at least 5 s old to be shown as stored
	sleep 6
	check "$tr: bob listens -> '[stored, sent DATE]' with alice's Date; alice prints 'delivered', exit 0"
	if [ "$tr" = tcp ]; then
		bob_listen "listen-$tr" "$tr" --count 1 --duration 20 --json
	else
		bob_listen "listen-$tr" "$tr" --count 1 --duration 20
	fi
	bg_wait "$BG_PID" 25
	[ "$BG_RC" -eq 0 ] || fail "bob's listen exited $BG_RC: $(cat "$T/listen-$tr.out")"
	cat "$T/listen-$tr.out"
	if [ "$tr" = tcp ]; then
		"$PYTHON" - "$T/listen-$tr.out" "$text" "$id" "$t0" <<'PY' || fail "bob's JSON line is wrong (see above)"
import calendar, json, re, sys, time
out, text, mid, t0 = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
msgs = [json.loads(l) for l in open(out) if l.startswith("{")]
assert len(msgs) == 1, msgs
m = msgs[0]
assert m["stored"] is True, m
assert m["content_type"].startswith("message/cpim"), m["content_type"]
assert "imdn.Message-ID: %s\r\n" % mid in m["body"], m["body"]
assert m["body"].endswith("\r\n\r\n" + text), m["body"]
sent = calendar.timegm(time.strptime(m["sent"], "%Y-%m-%dT%H:%M:%SZ"))
hdr = calendar.timegm(time.strptime(m["date"], "%a, %d %b %Y %H:%M:%S GMT"))
assert sent == hdr, (m["sent"], m["date"])
assert abs(sent - t0) <= 2, "sent %d, alice sent at %d" % (sent, t0)
print("   stored, sent", m["sent"], "(alice sent at %d)" % t0)
PY
	else
		line=$(grep -F "alice@example.test: $text" "$T/listen-$tr.out") ||
			fail "bob did not print 'alice@example.test: $text'"
		[[ $line =~ ^\[stored,\ sent\ ([0-9]{4}-[0-9]{2}-[0-9]{2})\ ([0-9:]{8})Z\]\  ]] ||
			fail "no '[stored, sent DATE]' prefix: $line"
		sent=$(date -u -d "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}" +%s)
		echo "   sent $sent, alice sent at $t0"
		[ $((sent - t0)) -ge -2 ] && [ $((sent - t0)) -le 2 ] ||
			fail "the date shown ($line) is not the time alice sent it ($t0)"
	fi
	bg_wait "$send_pid" 20
	cat "$T/send-$tr.out"
	[ "$BG_RC" -eq 0 ] || fail "alice's send --report exited $BG_RC (expected 0): $(cat "$T/send-$tr.out")"
	assert_eq "$(report_id "$T/send-$tr.out" delivered)" "$id" "message id of the 'delivered' report"

	check "$tr: a message that expires before bob comes (Expires: 2) -> 'stored', then 'failed', exit 4"
	alice_send "expire-$tr" "$tr" --report=20 --header "Expires: 2" bob@example.test "too late"
	bg_wait "$BG_PID" 25
	cat "$T/expire-$tr.out"
	assert_eq "$BG_RC" 4 "cpm send --report exit code for an expired message"
	id=$(report_id "$T/expire-$tr.out" stored)
	[ -n "$id" ] || fail "no 'stored' report for the expiring message"
	assert_eq "$(report_id "$T/expire-$tr.out" failed)" "$id" "message id of the 'failed' report"

	check "$tr: bob online -> '200 OK (delivered)' at once, exit 0"
	bob_listen "online-$tr" "$tr" --count 1 --duration 20
	bob_pid=$BG_PID
	wait_for 10 grep -q "listening" "$T/online-$tr.out" || fail "bob's listen did not register: $(cat "$T/online-$tr.out")"
	start=$(date +%s%N)
	alice_send "live-$tr" "$tr" --report bob@example.test "live #$RANDOM"
	bg_wait "$BG_PID" 15
	ms=$((($(date +%s%N) - start) / 1000000))
	cat "$T/live-$tr.out"
	assert_eq "$BG_RC" 0 "cpm send --report exit code for a live delivery"
	assert_contains "$T/live-$tr.out" "200 OK (delivered)"
	[ "$ms" -lt 8000 ] || fail "send --report took $ms ms for a live delivery: it should not wait"
	bg_wait "$bob_pid" 10
	grep -q -E "^alice@example.test: live #" "$T/online-$tr.out" || fail "bob did not get the live message: $(cat "$T/online-$tr.out")"
done

check "nobody comes within --report=2 -> exit 3, the message stays stored"
alice_send pending udp --report=2 bob@example.test "for later"
bg_wait "$BG_PID" 20
cat "$T/pending.out"
assert_eq "$BG_RC" 3 "cpm send --report exit code without a final report"
assert_contains "$T/pending.out" "202 Accepted"
bob_listen later udp --count 1 --duration 10
bg_wait "$BG_PID" 15
grep -q "alice@example.test: for later" "$T/later.out" || fail "the message was lost: $(cat "$T/later.out")"

check "send --report removed alice's bindings"
sipmsg --method REGISTER --uri sip:example.test --from alice@example.test --to alice@example.test \
	--user alice@example.test --password alice-secret --expect 200 --final "$T/aq.txt" >"$T/aq.log" 2>&1 ||
	fail "REGISTER query for alice failed: $(cat "$T/aq.log")"
if grep -q -i -E '^(Contact|m)[[:space:]]*:.*sip:' "$T/aq.txt"; then
	fail "alice still has bindings: $(grep -i -E '^(Contact|m)[[:space:]]*:' "$T/aq.txt")"
fi

cpmd_alive || fail "cpmd died"
cpmd_stop
for f in "$CPMD_LOG" "$T"/*.out; do assert_no_sanitizer_errors "$f"; done
echo "PASS"
