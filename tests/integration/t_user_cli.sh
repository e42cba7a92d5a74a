#!/usr/bin/env bash
# `cpmd user add|list|passwd|del` while the server runs: the running server sees each
# change at once (REGISTER with digest: 200 with the current password, 403 otherwise);
# passwords are never stored in clear (`sqlite3 DB .dump` contains none of them);
# duplicate add, unknown user, foreign domain and usage errors are refused.
. "$(dirname "$0")/lib.sh"
need python3 sqlite3

PW1=Xq7-first-secret-4711
PW2=Zr9-second-secret-0815
cpmd_start

register_as() { # AOR PASSWORD EXPECTED_CODE [transport]
	local f=$T/reg-$RANDOM.txt
	sipmsg --transport "${4:-udp}" --method REGISTER --uri sip:example.test --from "$1" --to "$1" \
		--contact "sip:${1%@*}@127.0.0.1:9" --expires 300 --user "$1" --password "$2" \
		--final "$f" >"$f.log" || true
	local got
	got=$(sed -n 's/^STATUS //p' "$f.log")
	assert_eq "$got" "$3" "REGISTER as $1 with password '$2'"
}

check "user add while running -> exit 0; the server accepts the new user's credentials at once"
cpmd user add dave@example.test --password "$PW1" >"$T/add.out" 2>&1 || fail "user add: $(cat "$T/add.out")"
register_as dave@example.test "$PW1" 200
register_as dave@example.test "$PW1" 200 tcp

check "user list shows dave@example.test"
cpmd user list >"$T/list1.out" 2>&1 || fail "user list failed: $(cat "$T/list1.out")"
assert_contains "$T/list1.out" "dave@example.test"

check "user add of an existing user -> non-zero exit, password unchanged"
if cpmd user add dave@example.test --password other >"$T/dup.out" 2>&1; then
	fail "duplicate user add succeeded"
fi
register_as dave@example.test "$PW1" 200

check "user add in a domain not served -> refused"
if cpmd user add eve@not-served.example --password x >"$T/foreign.out" 2>&1; then
	fail "user add accepted a domain that is not in server.domain"
fi

check "usage errors -> exit 2"
rc=0
cpmd user add >"$T/usage.out" 2>&1 || rc=$?
assert_eq "$rc" 2 "exit code of 'cpmd user add' without AOR"
rc=0
cpmd user frobnicate >"$T/usage2.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "'cpmd user frobnicate' succeeded"

check "user passwd -> the old password is refused (403), the new one accepted"
cpmd user passwd dave@example.test --password "$PW2" >"$T/passwd.out" 2>&1 ||
	fail "user passwd: $(cat "$T/passwd.out")"
register_as dave@example.test "$PW1" 403
register_as dave@example.test "$PW2" 200

check "user passwd of an unknown user -> non-zero exit"
if cpmd user passwd nobody@example.test --password x >"$T/passwd2.out" 2>&1; then
	fail "passwd of an unknown user succeeded"
fi

check "no password in clear in the database (sqlite3 .dump)"
db=$T/var/cpmd.db
[ -f "$db" ] || fail "no database at $db"
sqlite3 "$db" .dump >"$T/dump.sql" 2>"$T/dump.err" || fail "sqlite3 .dump failed: $(cat "$T/dump.err")"
assert_contains "$T/dump.sql" "dave"
assert_not_contains "$T/dump.sql" "$PW1"
assert_not_contains "$T/dump.sql" "$PW2"
# nor the WAL / journal, nor any file of the data directory
if grep -r -l -a -F -e "$PW1" -e "$PW2" "$T/var" >"$T/grep.out" 2>/dev/null; then
	fail "a password is stored in clear in: $(tr '\n' ' ' <"$T/grep.out")"
fi

check "user del -> gone from the list, REGISTER refused like any unknown user (403)"
cpmd user del dave@example.test >"$T/del.out" 2>&1 || fail "user del: $(cat "$T/del.out")"
cpmd user list >"$T/list2.out" 2>&1 || fail "user list failed"
assert_not_contains "$T/list2.out" "dave@example.test"
register_as dave@example.test "$PW2" 403
if cpmd user del dave@example.test >"$T/del2.out" 2>&1; then
	fail "deleting a deleted user succeeded"
fi

cpmd_alive || fail "cpmd died"
cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
echo "PASS"
