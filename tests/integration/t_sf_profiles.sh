#!/usr/bin/env bash
# The recipient's profile and class decide a stored message's fate (issue 3, "What decides
# a message's fate" point 2), set with `cpmd user set` while the server runs:
#  - store-and-forward=no: a MESSAGE to the offline user gets 480, nothing stored;
#  - accepts=text/plain: an image/png MESSAGE gets 415 with Accept: text/plain;
#  - class=tiny ([class.tiny] max_messages = 1): the first message is stored (202), the
#    second gets 486 (the quota; never silent loss);
#  - the sender's instant still wins over a profile that would store (480);
#  - accepts holds on the live path too: a reachable user is not sent a refused type (415).
. "$(dirname "$0")/lib.sh"
need python3 sqlite3

cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
cpmd_start -o class.tiny.max_messages=1

send() { # TEXT [options] -> $T/send.out (cpm -v: the wire messages too)
	local text=$1
	shift
	cpm -v --user alice@example.test --password alice-secret send "$@" bob@example.test "$text" \
		>"$T/send.out" 2>&1 || true
}
set_profile() {
	# the CLI reads the same configuration as the server (the class is defined there)
	cpmd -o class.tiny.max_messages=1 user set bob@example.test "$@" >"$T/set.out" 2>&1 ||
		fail "user set $*: $(cat "$T/set.out")"
}

check "store-and-forward=no -> 480, nothing stored"
set_profile store-and-forward=no
send "not kept"
assert_match "$T/send.out" 'failed: 480'
assert_eq "$(sqlite3 "$T/var/cpmd.db" 'select count(*) from messages')" 0 "stored messages"

check "accepts=text/plain -> an image/png MESSAGE gets 415 with Accept: text/plain"
set_profile store-and-forward=yes accepts=text/plain
send "PNG" --type image/png
assert_match "$T/send.out" 'failed: 415'
assert_match "$T/send.out" '^Accept: text/plain'

check "class=tiny (max_messages 1): first 202, second 486"
set_profile accepts=*/* class=tiny
send "first"
assert_contains "$T/send.out" "202 Accepted"
send "second"
assert_match "$T/send.out" 'failed: 486'

check "Content-Disposition: instant wins over a profile that stores -> 480"
set_profile class=default
send "instant" --header "Content-Disposition: instant"
assert_match "$T/send.out" 'failed: 480'

check "accepts on the live path: bob online, accepts=text/plain -> image/png 415, text/plain 200"
set_profile accepts=text/plain
bg_start bob "$CPM" --server "127.0.0.1:$SIP_PORT" --user bob@example.test --password bob-secret \
	listen --count 2 --duration 20
bob_pid=$BG_PID
sleep 3 # (the first message of the quota check arrives); the server re-reads changed profiles every 2 s
send "PNG live" --type image/png
assert_match "$T/send.out" 'failed: 415'
assert_match "$T/send.out" '^Accept: text/plain'
send "text live"
assert_contains "$T/send.out" "200 OK"
bg_wait "$bob_pid" 25
grep -q 'text live' "$T/bob.out" || fail "bob did not get the text: $(cat "$T/bob.out")"
grep -q 'PNG live' "$T/bob.out" && fail "bob got the refused PNG"

check "cpmd user show reports the profile"
cpmd user show bob@example.test >"$T/show.out" 2>&1 || fail "user show: $(cat "$T/show.out")"
assert_contains "$T/show.out" "store-and-forward=yes"

cpmd_stop
assert_no_sanitizer_errors
