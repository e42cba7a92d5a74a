#!/usr/bin/env bash
# `cpmd room add|set|member|show|list|history|del` while the server runs: each change is in
# the running server's store at once (seen over its HTTP API), and the server's own writes
# (HTTP) are seen by the CLI; room URIs and user AoRs never collide (either way); served
# domains only; precise errors with exit 1, usage errors with exit 2 (as `cpmd user`).
. "$(dirname "$0")/lib.sh"
need curl jq sqlite3

cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
cpmd_user_add carol@example.test carol-secret
cpmd_start
API="http://127.0.0.1:$HTTP_PORT/api/v1/rooms"
get() { curl -s --digest -u "$1" -o "$T/get.json" -w '%{http_code}' "$API$2"; }
# room_rc EXPECTED_RC OUTFILE ARGS... — run `cpmd room ARGS`, check its exit status
room_rc() {
	local want=$1 out=$2 rc=0
	shift 2
	cpmd room "$@" >"$T/$out" 2>&1 || rc=$?
	assert_eq "$rc" "$want" "exit status of 'cpmd room $*' ($(head -c 300 "$T/$out"))"
}

check "room add while running -> exit 0; the server's API shows the room at once"
room_rc 0 add.out add lobby@Example.TEST --owner alice@example.test \
	--members bob@example.test,dave@remote.test --subject "Weekly sync" --members-only --history 7
assert_contains "$T/add.out" "added room lobby@example.test (owner alice@example.test, 2 members"
assert_eq "$(get bob:bob-secret /lobby@example.test)" 200 "bob reads the room"
assert_eq "$(jq -r '.subject + "|" + (.members_only|tostring) + "|" + (.history|tostring)' "$T/get.json")" \
	"Weekly sync|true|7" "settings over HTTP"
assert_eq "$(jq -r '[.members[] | .aor + ":" + .role] | join(",")' "$T/get.json")" \
	"alice@example.test:owner,bob@example.test:member,dave@remote.test:member" "members over HTTP"

check "room list and room show"
room_rc 0 list.out list
assert_match "$T/list.out" "^lobby@example.test +alice@example.test +3 +0 +members-only +Weekly sync"
room_rc 0 show.out show sip:lobby@example.test
assert_contains "$T/show.out" "owner: alice@example.test"
assert_contains "$T/show.out" "history on join: 7"
assert_contains "$T/show.out" "messages: 0"
assert_match "$T/show.out" "owner +alice@example.test"

check "member add/del and set, seen by the server; the server's writes seen by the CLI"
room_rc 0 m1.out member add lobby@example.test carol@example.test --nick cc --role moderator
assert_eq "$(get carol:carol-secret /lobby@example.test/members/carol@example.test)" 200 "carol is in"
assert_eq "$(jq -r '.nick + ":" + .role' "$T/get.json")" "cc:moderator" "nick and role over HTTP"
room_rc 0 m2.out member add lobby@example.test carol@example.test --nick cee
assert_contains "$T/m2.out" "role moderator, nick 'cee'"
room_rc 0 set.out set lobby@example.test --open --offline-sf --history default --subject Daily
assert_eq "$(get carol:carol-secret /lobby@example.test)" 200 "GET after set"
assert_eq "$(jq -r '.subject + "|" + (.members_only|tostring) + "|" + (.offline_sf|tostring) + "|" + (.history|tostring)' "$T/get.json")" \
	"Daily|false|true|null" "set over HTTP"
room_rc 0 own.out set lobby@example.test --owner bob@example.test
assert_eq "$(get bob:bob-secret /lobby@example.test)" 200 "GET after the owner change"
assert_eq "$(jq -r '[.members[] | .aor + ":" + .role] | join(",")' "$T/get.json")" \
	"bob@example.test:owner,alice@example.test:moderator,carol@example.test:moderator,dave@remote.test:member" \
	"the new owner and the previous one"
curl -s --digest -u bob:bob-secret -X DELETE -o /dev/null "$API/lobby@example.test/members/dave@remote.test"
room_rc 0 show2.out show lobby@example.test
assert_not_contains "$T/show2.out" "dave@remote.test"
room_rc 0 m3.out member del lobby@example.test carol@example.test
assert_eq "$(get carol:carol-secret /lobby@example.test/members/carol@example.test)" 404 "carol is out"

check "history: the last N, oldest first, text shown, other types summarised"
db=$T/var/cpmd.db
for i in 1 2 3; do
	sqlite3 "$db" "INSERT INTO room_messages (room, sender, nick, content_type, body, date)
		VALUES ('lobby@example.test', 'bob@example.test', 'bobby', 'text/plain', 'line $i', 1700000000 + $i)"
done
sqlite3 "$db" "INSERT INTO room_messages (room, sender, content_type, body, date)
	VALUES ('lobby@example.test', 'alice@example.test', 'text/plain', 'esc ' || char(27) || '[31m', 1700000010)"
room_rc 0 hist.out history lobby@example.test --limit 3
assert_not_contains "$T/hist.out" "line 1"
assert_contains "$T/hist.out" "bobby <bob@example.test>: line 2"
assert_contains "$T/hist.out" 'esc \x1b[31m'
[ "$(grep -n 'line 2' "$T/hist.out" | cut -d: -f1)" -lt "$(grep -n 'line 3' "$T/hist.out" | cut -d: -f1)" ] ||
	fail "history not oldest first: $(cat "$T/hist.out")"
room_rc 0 show3.out show lobby@example.test
assert_contains "$T/show3.out" "messages: 4"

check "collisions: a room on a user's AoR, a user on a room's URI -> exit 1, precise"
room_rc 1 c1.out add carol@example.test --owner alice@example.test
assert_contains "$T/c1.out" "carol@example.test is a user's AoR"
rc=0
cpmd user add lobby@example.test --password x >"$T/c2.out" 2>&1 || rc=$?
assert_eq "$rc" 1 "user add on a room's URI"
assert_contains "$T/c2.out" "is a chat room's URI"
room_rc 1 c3.out add lobby@example.test --owner alice@example.test
assert_contains "$T/c3.out" "already exists"

check "errors: domain not served, unknown owner or member, no such room, the owner's row -> exit 1"
room_rc 1 e1.out add x@elsewhere.test --owner alice@example.test
assert_contains "$T/e1.out" "domain 'elsewhere.test' of x@elsewhere.test is not served here"
room_rc 1 e9.out add r2@example.test --owner dave@remote.test
assert_contains "$T/e9.out" "--owner: domain 'remote.test'"
room_rc 1 e2.out add r2@example.test --owner zed@example.test
assert_contains "$T/e2.out" "no such user: zed@example.test"
room_rc 1 e3.out add r2@example.test --owner alice@example.test --members bob@example.test,zed@example.test
assert_contains "$T/e3.out" "no such user: zed@example.test"
assert_eq "$(sqlite3 "$db" "SELECT count(*) FROM rooms WHERE uri = 'r2@example.test'")" 0 "nothing of a refused add"
room_rc 1 e4.out show nowhere@example.test
assert_contains "$T/e4.out" "no such room: nowhere@example.test"
room_rc 1 e5.out member del lobby@example.test bob@example.test
assert_contains "$T/e5.out" "owns lobby@example.test"
room_rc 1 e6.out member add lobby@example.test alice@example.test --role owner
assert_contains "$T/e6.out" "the role owner is the owner's alone"
room_rc 1 e7.out set lobby@example.test --history 99999
assert_contains "$T/e7.out" "--history"
room_rc 1 e8.out member del lobby@example.test zed@example.test
assert_contains "$T/e8.out" "zed@example.test is not a member of lobby@example.test"

check "usage errors -> exit 2"
room_rc 2 u1.out add
room_rc 2 u2.out add r3@example.test
assert_contains "$T/u2.out" "missing --owner"
room_rc 2 u3.out frobnicate
room_rc 2 u4.out set lobby@example.test
room_rc 2 u5.out add r3@example.test --owner alice@example.test --bogus
room_rc 2 u6.out member
room_rc 2 u7.out history lobby@example.test --limit 0
room_rc 2 u8.out set lobby@example.test --open --members-only
room_rc 0 help.out help
assert_contains "$T/help.out" "room member add ROOM AOR"

check "room del -> gone for the server too, with its history; a second del -> exit 1"
room_rc 0 del.out del lobby@example.test
assert_eq "$(get bob:bob-secret /lobby@example.test)" 404 "gone over HTTP"
assert_eq "$(sqlite3 "$db" "SELECT count(*) FROM room_messages")" 0 "history deleted"
assert_eq "$(sqlite3 "$db" "SELECT count(*) FROM room_members")" 0 "members deleted"
room_rc 1 del2.out del lobby@example.test
assert_contains "$T/del2.out" "no such room"

cpmd_stop
assert_no_sanitizer_errors
