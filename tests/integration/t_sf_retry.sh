#!/usr/bin/env bash
# Store-and-forward when the device is registered but does not answer (issue 3: "all
# bindings answer 408/480/503 or time out" -> stored; "a retry timer with exponential
# back-off while bindings exist"), across a restart:
#  - bob's only binding points at a UDP port where nothing listens: alice's MESSAGE times
#    out there (Timer F, 3.2 s with sip.t1=50) and is stored: 202;
#  - cpmd restarts: the binding is restored and the controller tries it again (timeout),
#    then retries with back-off;
#  - a SIPp UAS starts on that port: the retry delivers the message (original body).
. "$(dirname "$0")/lib.sh"
need python3 sipp sqlite3

cpmd_user_add bob@example.test bob-secret
OPTS=(-o sip.t1=50 -o sip.t2=200 -o auth.trusted=127.0.0.0/8 -o im.retry_interval=1)
cpmd_start "${OPTS[@]}"
BOB_PORT=$(free_port)

check "bob registers a Contact on port $BOB_PORT where nothing listens yet"
sipmsg --method REGISTER --uri sip:example.test --from bob@example.test --to bob@example.test \
	--contact "sip:bob@127.0.0.1:$BOB_PORT" --expires 600 --expect 200 --final "$T/reg.txt" \
	>"$T/reg.log" 2>&1 || fail "REGISTER: $(tail -n 2 "$T/reg.log")"

check "alice's MESSAGE times out at the device -> stored, 202"
start=$(date +%s%N)
cpm --user alice@example.test --password x send bob@example.test "retry me, bob" \
	>"$T/send.out" 2>&1 || true
ms=$((($(date +%s%N) - start) / 1000000))
assert_contains "$T/send.out" "202 Accepted"
echo "   202 after $ms ms (Timer F first)"
[ "$ms" -ge 2500 ] || fail "202 after $ms ms: the device was not tried first?"

check "restart: the restored binding is tried again (still nothing there)"
cpmd_restart
wait_for 10 grep -q "retry in" "$CPMD_LOG" || fail "no retry was scheduled after the restart"

check "a UAS starts on port $BOB_PORT: a retry delivers the stored message"
cp=$(free_port)
mp=$(free_port)
bg_start uas timeout -k 5 60 sipp -sf "$SIPP_DIR/uas_message.xml" -i 127.0.0.1 -p "$BOB_PORT" \
	-cp "$cp" -mp "$mp" -nostdin -m 1 -timeout 50s -trace_msg -message_file "$T/uas.msg"
uas_pid=$BG_PID
bg_wait "$uas_pid" 60
[ "$BG_RC" -eq 0 ] || fail "the UAS got no MESSAGE (exit $BG_RC); see cpmd.log"
assert_contains "$T/uas.msg" "retry me, bob"
assert_contains "$T/uas.msg" "@sf.cpmd"
count=$(sqlite3 "$T/var/cpmd.db" "select count(*) from messages where state=0")
assert_eq "$count" 0 "messages still waiting after delivery"

cpmd_stop
assert_no_sanitizer_errors
