#!/usr/bin/env bash
# `cpm chat`: MSRP sessions (RFC 4975) between two cpm clients, set up with INVITE/200/ACK
# routed by cpmd's proxy:
#  - udp: alice at a terminal (pty_drive.py) calls bob (`cpm chat --accept`, lines on
#    standard input): her typing reaches bob as isComposing (RFC 3994) "is typing", her line
#    is a SEND, bob's line comes back; MSRP goes straight between the clients (the relay
#    sees nothing); alice's /quit sends BYE, which ends bob's side (exit 0 both);
#  - tcp: at a terminal ^D (and ^C) hangs up with BYE;
#  - tcp: `--send TEXT` (exit 0 once the SEND got 200) and `--send TEXT --report` (waits
#    for the Success-Report, §7.1.2); bob `--accept --print --count N`;
#  - a 200 KB message (`--send -` from a file) goes in 16 KB chunks (Byte-Range, '+'/'$')
#    and arrives whole, byte for byte;
#  - through cpmd's MSRP relay (RFC 4976) with AUTH for both: a=path starts with the
#    relay's Use-Path, messages both ways, also after the relay sessions' 3 s lifetime
#    (the clients refresh them with AUTH, §5.1), the relay counts the AUTHs and the
#    requests it relayed; only alice behind the relay; only bob (and a 200 KB message);
#  - a wrong password on the relay: exit 1 with a clear message, no INVITE sent.
. "$(dirname "$0")/lib.sh"
need python3 jq curl
[ -x "$CPM" ] || fail "no cpm binary at $CPM (run make)"

cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
# relay sessions last 3 s unless refreshed (RFC 4976 §5.1): the clients must refresh them
cpmd_start -o msrp.min_expires=1 -o msrp.default_expires=3
export HOME=$T/home
mkdir -p "$HOME"
RELAY="msrp://127.0.0.1:$MSRP_PORT;tcp"
TS='\[[0-9]{2}:[0-9]{2}:[0-9]{2}\]'

base() { # TRANSPORT USER — the common cpm options of a user
	printf '%s\n' "$CPM" --server "127.0.0.1:$SIP_PORT" --transport "$1" --timeout 10 \
		--user "$2@example.test" --password "$2-secret"
}
relay_stat() { # KEY — a counter of the MSRP relay (GET /api/v1/status)
	curl -s "http://127.0.0.1:$HTTP_PORT/api/v1/status" | jq -r ".msrp.$1"
}
bob_accept() { # TRANSPORT NAME ARGS... — bob waits for a chat in the background
	local tr=$1 name=$2
	shift 2
	mapfile -t B < <(base "$tr" bob)
	bg_start "$name" "${B[@]}" chat --accept "$@"
	BOB_PID=$BG_PID
	wait_for 10 bob_registered || fail "bob did not register: $(cat "$T/$name.out")"
}
bob_registered() {
	sipmsg --method REGISTER --uri sip:example.test --from bob@example.test --to bob@example.test \
		--user bob@example.test --password bob-secret --expect 200 --final "$T/bq.txt" \
		>/dev/null 2>&1 && grep -q -i -E '^(Contact|m)[[:space:]]*:.*sip:' "$T/bq.txt"
}

# ---------------------------------------------------------------- udp, interactive

check "udp: alice at a terminal calls bob: typing shown, messages both ways, /quit -> BYE"
mkfifo "$T/bob1.in"
exec 3<>"$T/bob1.in" # keeps the fifo open: bob reads his lines from it
mapfile -t B < <(base udp bob)
bg_start bob1 bash -c 'exec "$@" <"$0"' "$T/bob1.in" "${B[@]}" chat --accept --duration 60
BOB_PID=$BG_PID
wait_for 10 bob_registered || fail "bob did not register: $(cat "$T/bob1.out")"
mapfile -t A < <(base udp alice)
"$PYTHON" "$LIB_DIR/pty_drive.py" --log "$T/alice1.pty" -- "${A[@]}" chat bob >"$T/alice1.drive" 2>&1 <<EOF &
expect bob@example\.test.*200 OK
expect alice> 5
type hello bob, alice here
wait-file $T/bob1.out alice@example\.test is typing 10
key enter
wait-file $T/bob1.out alice@example\.test: hello bob, alice here 10
type half a li
expect bob@example\.test: hi alice 15
type ne
key enter
wait-file $T/bob1.out alice@example\.test: half a line 10
type /quit
key enter
eof 15
EOF
ALICE_PID=$!
wait_for 20 grep -q 'alice@example.test: hello bob, alice here' "$T/bob1.out" ||
	fail "bob did not get alice's message: $(cat "$T/bob1.out") / $(cat "$T/alice1.drive")"
# bob answers while alice is in the middle of a line: it prints above her prompt and
# her line stays as it was
wait_for 20 grep -q 'half a li' "$T/alice1.pty" || fail "alice's typing does not show: $(cat "$T/alice1.drive")"
echo "hi alice" >&3
bg_wait "$ALICE_PID" 30
assert_eq "$BG_RC" 0 "alice's cpm chat at the terminal (exit code; $(cat "$T/alice1.drive"))"
bg_wait "$BOB_PID" 15
assert_eq "$BG_RC" 0 "bob's cpm chat --accept exit code"
exec 3>&-
cat "$T/bob1.out"
assert_match "$T/bob1.out" '^\* alice@example\.test is typing$'
assert_match "$T/bob1.out" "^$TS alice@example\.test: hello bob, alice here$"
assert_match "$T/bob1.out" "^$TS alice@example\.test: half a line$"
assert_match "$T/bob1.out" '^\* session ended by alice@example\.test \(BYE\)$'
tr -d '\r' <"$T/alice1.pty" | grep -q -E "$TS bob@example\.test: hi alice" ||
	fail "alice's terminal does not show bob's line: $(cat "$T/alice1.pty")"
assert_eq "$(relay_stat requests)" 0 "requests the MSRP relay saw (the session is end to end)"

check "tcp: at a terminal, ^D hangs up (BYE); ^C too"
for key in ctrl-d ctrl-c; do
	bob_accept tcp "bob-$key" --print --duration 30
	mapfile -t A < <(base tcp alice)
	"$PYTHON" "$LIB_DIR/pty_drive.py" --log "$T/alice-$key.pty" -- "${A[@]}" chat bob \
		>"$T/alice-$key.drive" 2>&1 <<EOF || fail "alice with $key: $(cat "$T/alice-$key.drive")"
expect alice> 10
type before $key
key enter
wait-file $T/bob-$key.out alice@example\.test: before $key 10
key $key
eof 15
EOF
	bg_wait "$BOB_PID" 15
	assert_eq "$BG_RC" 0 "bob's exit code after alice's $key"
	assert_match "$T/bob-$key.out" '^\* session ended by alice@example\.test \(BYE\)$'
done

# ---------------------------------------------------------------- tcp, --send

check "tcp: cpm chat bob --send TEXT -> exit 0 after the 200 to the SEND; bob --print shows it"
bob_accept tcp bob2 --print --count 1 --duration 30
mapfile -t A < <(base tcp alice)
"${A[@]}" chat bob --send "one shot over tcp" >"$T/alice2.out" 2>&1 ||
	fail "alice --send: $(cat "$T/alice2.out")"
assert_match "$T/alice2.out" '^sent \(200 OK\)$'
bg_wait "$BOB_PID" 15
assert_eq "$BG_RC" 0 "bob --accept --print --count 1 exit code"
assert_match "$T/bob2.out" "^$TS alice@example\.test: one shot over tcp$"

check "tcp: --send TEXT --report waits for the Success-Report (RFC 4975 §7.1.2)"
bob_accept tcp bob3 --print --count 1 --duration 30
"${A[@]}" chat bob --send "with a report" --report >"$T/alice3.out" 2>&1 ||
	fail "alice --send --report: $(cat "$T/alice3.out")"
cat "$T/alice3.out"
assert_match "$T/alice3.out" '^\* report: [0-9a-f]+ 200 OK \(bytes 1-13/13\)$'
assert_match "$T/alice3.out" '^delivered \(Success-Report 200\)$'
bg_wait "$BOB_PID" 15
assert_eq "$BG_RC" 0 "bob exit code"

check "tcp: a 200 KB message goes in 16 KB chunks and arrives whole"
head -c 160000 /dev/urandom | base64 -w 0 >"$T/big.txt"
truncate -s 204800 "$T/big.txt"
bob_accept tcp bob4 --print --count 1 --duration 30
"${A[@]}" -v chat bob --send - <"$T/big.txt" >"$T/alice4.out" 2>"$T/alice4.err" ||
	fail "alice --send - (200 KB): $(grep -v '^[A-Za-z0-9+/=]\{200\}' "$T/alice4.err" | tail -n 20)"
grep -q -E '^cpm: msrp: message [0-9a-f]+: 204800 bytes in 13 chunks$' "$T/alice4.err" ||
	fail "alice did not send 13 chunks: $(grep 'cpm: msrp' "$T/alice4.err")"
bg_wait "$BOB_PID" 15
assert_eq "$BG_RC" 0 "bob exit code"
sed -n -E "s/^$TS alice@example\.test: //p" "$T/bob4.out" | tr -d '\n' >"$T/big.got"
cmp -s "$T/big.txt" "$T/big.got" ||
	fail "the 200 KB message arrived altered ($(wc -c <"$T/big.got") bytes)"

# ---------------------------------------------------------------- through the relay

check "through cpmd's MSRP relay, AUTH for both: a=path via the relay, messages both ways"
auth0=$(relay_stat auth_ok) req0=$(relay_stat requests)
mkfifo "$T/bob5.in" "$T/alice5.in"
exec 3<>"$T/bob5.in" 4<>"$T/alice5.in"
mapfile -t B < <(base tcp bob)
bg_start bob5 bash -c 'exec "$@" <"$0"' "$T/bob5.in" "${B[@]}" chat --accept --relay "$RELAY" --duration 60
BOB_PID=$BG_PID
wait_for 10 bob_registered || fail "bob did not register: $(cat "$T/bob5.out")"
mapfile -t A < <(base udp alice)
bg_start alice5 bash -c 'exec "$@" <"$0"' "$T/alice5.in" "${A[@]}" -v chat bob --relay "$RELAY"
ALICE_PID=$BG_PID
echo "through the relay" >&4
wait_for 20 grep -q 'alice@example.test: through the relay' "$T/bob5.out" ||
	fail "bob did not get alice's message: $(cat "$T/bob5.out")"
sleep 5 # longer than the relay sessions' 3 s: they live on only if refreshed
echo "back through the relay" >&3
wait_for 20 grep -q -E "^$TS bob@example\.test: back through the relay" "$T/alice5.out" ||
	fail "alice did not get bob's message: $(grep -v '^[<>]' "$T/alice5.out" | tail -n 30)"
echo "/quit" >&4
bg_wait "$ALICE_PID" 15
assert_eq "$BG_RC" 0 "alice exit code"
bg_wait "$BOB_PID" 15
assert_eq "$BG_RC" 0 "bob exit code"
exec 3>&- 4>&-
# RFC 4976 §6.1: each side's a=path starts with its relay's session URI
grep -q -E "^a=path:msrp://127\.0\.0\.1:$MSRP_PORT/[^ ]+;tcp msrp://" "$T/alice5.out" ||
	fail "alice's offer has no relay URI first in a=path: $(grep 'a=path' "$T/alice5.out")"
[ "$(grep -c -E "^a=path:msrp://127\.0\.0\.1:$MSRP_PORT/" "$T/alice5.out")" -ge 2 ] ||
	fail "bob's answer has no relay URI in a=path: $(grep 'a=path' "$T/alice5.out")"
grep -q -E '^cpm: msrp: relay session refreshed for 3 s$' "$T/alice5.out" ||
	fail "alice did not refresh her relay session: $(grep 'cpm: msrp' "$T/alice5.out")"
auth1=$(relay_stat auth_ok)
[ "$((auth1 - auth0))" -ge 6 ] || fail "the relay granted $((auth1 - auth0)) AUTHs (expected 2 and the refreshes)"
req1=$(relay_stat requests)
[ "$((req1 - req0))" -ge 3 ] || fail "the relay relayed $((req1 - req0)) requests (expected the bind and two messages)"

check "relay: only alice behind it, then only bob; a 200 KB message through it"
bob_accept tcp bob6 --print --count 1 --duration 30
"${A[@]}" chat bob --relay "$RELAY" --send "alice behind the relay" >"$T/alice6.out" 2>&1 ||
	fail "alice via the relay: $(cat "$T/alice6.out")"
bg_wait "$BOB_PID" 15
assert_eq "$BG_RC" 0 "bob exit code"
assert_match "$T/bob6.out" "^$TS alice@example\.test: alice behind the relay$"
bob_accept tcp bob7 --print --count 1 --duration 30 --relay "$RELAY"
sleep 4 # bob keeps his 3 s relay session while he waits for the INVITE
"${A[@]}" chat bob --send - <"$T/big.txt" >"$T/alice7.out" 2>&1 ||
	fail "alice to bob behind the relay (200 KB): $(tail -n 5 "$T/alice7.out")"
bg_wait "$BOB_PID" 15
assert_eq "$BG_RC" 0 "bob exit code"
sed -n -E "s/^$TS alice@example\.test: //p" "$T/bob7.out" | tr -d '\n' >"$T/big7.got"
cmp -s "$T/big.txt" "$T/big7.got" || fail "the 200 KB message through the relay arrived altered"

check "a wrong password on the relay: exit 1, a clear message, no INVITE"
failed0=$(relay_stat auth_failed)
rc=0
"$CPM" --server "127.0.0.1:$SIP_PORT" --timeout 5 --user alice@example.test --password wrong \
	chat bob --relay "$RELAY" --send "never" >"$T/wrong.out" 2>&1 || rc=$?
cat "$T/wrong.out"
assert_eq "$rc" 1 "exit code with a wrong relay password"
assert_match "$T/wrong.out" 'relay .*refused the credentials of alice'
assert_not_contains "$T/wrong.out" "calling"
[ "$(relay_stat auth_failed)" -gt "$failed0" ] || fail "the relay did not count a failed AUTH"

cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
echo PASS
