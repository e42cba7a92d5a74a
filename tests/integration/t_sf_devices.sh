#!/usr/bin/env bash
# Per-device delivery of stored messages (issue 3: "a message stored for an AoR is
# delivered to each of the user's devices that registers before it expires (late fork),
# not only to the first one, and each device gets it once"; devices are bindings with
# +sip.instance, RFC 5626):
#  - two MESSAGEs for offline bob are stored (202);
#  - device A registers (+sip.instance A): it gets both, in order;
#  - device B registers later (+sip.instance B): it gets both too;
#  - device A registers again: nothing is sent to it a second time.
. "$(dirname "$0")/lib.sh"
need python3 sipp

cpmd_user_add bob@example.test bob-secret
cpmd_start -o auth.trusted=127.0.0.0/8

register() { # PORT INSTANCE
	sipmsg --method REGISTER --uri sip:example.test --from bob@example.test --to bob@example.test \
		--header "Contact: <sip:bob@127.0.0.1:$1>;+sip.instance=\"<urn:uuid:$2>\";reg-id=1" \
		--header "Supported: outbound" --expires 600 --expect 200 --final "$T/reg-$2.txt" \
		>"$T/reg-$2.log" 2>&1 || fail "REGISTER of device $2: $(tail -n 2 "$T/reg-$2.log")"
}
uas() { # NAME PORT COUNT — a SIPp UAS taking COUNT MESSAGEs
	bg_start "$1" timeout -k 5 40 sipp -sf "$SIPP_DIR/uas_message.xml" -i 127.0.0.1 -p "$2" \
		-cp "$(free_port)" -mp "$(free_port)" -nostdin -m "$3" -timeout 30s \
		-trace_msg -message_file "$T/$1.msg"
}
delivered_to() { grep -c "delivered to sip:bob@127.0.0.1:$1" "$CPMD_LOG" || true; }

check "two MESSAGEs for offline bob -> 202 each"
for i in 1 2; do
	cpm --user alice@example.test --password x send bob@example.test "late fork #$i" \
		>"$T/send.out" 2>&1 || true
	assert_contains "$T/send.out" "202 Accepted"
done

PA=$(free_port)
PB=$(free_port)
check "device A (instance aaaa) registers -> gets both, in order"
uas devA "$PA" 2
sleep 0.5
register "$PA" aaaa
bg_wait "$BG_PID" 35
[ "$BG_RC" -eq 0 ] || fail "device A did not get 2 MESSAGEs (exit $BG_RC)"
python3 - "$T/devA.msg" <<'PY' || fail "device A: wrong order"
import sys
t = open(sys.argv[1], errors="replace").read()
a, b = t.find("late fork #1"), t.find("late fork #2")
assert 0 <= a < b, (a, b)
PY

check "device B (instance bbbb) registers later -> gets both as well"
uas devB "$PB" 2
sleep 0.5
register "$PB" bbbb
bg_wait "$BG_PID" 35
[ "$BG_RC" -eq 0 ] || fail "device B did not get 2 MESSAGEs (exit $BG_RC)"
assert_contains "$T/devB.msg" "late fork #1"
assert_contains "$T/devB.msg" "late fork #2"

check "device A registers again -> nothing sent to it twice"
register "$PA" aaaa
sleep 2
assert_eq "$(delivered_to "$PA")" 2 "deliveries to device A"
assert_eq "$(delivered_to "$PB")" 2 "deliveries to device B"

cpmd_stop
assert_no_sanitizer_errors
