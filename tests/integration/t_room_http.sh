#!/usr/bin/env bash
# Chat rooms over the HTTP API (issue 4: predefined rooms "also via HTTP API"), with the
# users' SIP credentials (HTTP Digest, RFC 7616):
#  - POST /api/v1/rooms: 201 + Location, the creator owns the room; GET /api/v1/rooms lists the
#    rooms one owns or is in; GET/PUT/DELETE /api/v1/rooms/ROOM; the member list and one member
#    (PUT/DELETE, owner); the history with ?after=&limit= paging (members);
#  - every change is seen by `cpmd room show` (same store), and the reverse;
#  - refusals: no or wrong credentials 401, not the owner / not a member / another domain 403,
#    unknown room 404, existing room or a user's AoR 409, the owner's row 409, bad JSON and
#    values 400, too many members 413, a body over http.max_body_size 413.
. "$(dirname "$0")/lib.sh"
need curl jq sqlite3

cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
cpmd_user_add carol@example.test carol-secret
cpmd_start
API="http://127.0.0.1:$HTTP_PORT/api/v1/rooms"
# req USER:PASS METHOD PATH [JSON] -> status on stdout, body in $T/r.json, headers in $T/r.h
req() {
	local data=()
	[ $# -ge 4 ] && data=(-H 'Content-Type: application/json' --data "$4")
	curl -s --digest -u "$1" -X "$2" "${data[@]}" -D "$T/r.h" -o "$T/r.json" \
		-w '%{http_code}' "$API$3"
}
A=alice:alice-secret B=bob:bob-secret C=carol:carol-secret

check "POST: alice creates lobby in her domain -> 201, Location, she owns it, bob a member"
code=$(req $A POST "" '{"room":"lobby","subject":"Weekly","members_only":true,"history":5,
	"members":["bob@example.test",{"aor":"dave@remote.test","nick":"dv","role":"moderator"}]}')
cat "$T/r.json"; echo
assert_eq "$code" 201 "POST /api/v1/rooms"
assert_contains "$T/r.h" "Location: /api/v1/rooms/lobby@example.test"
assert_eq "$(jq -r .owner "$T/r.json")" alice@example.test "owner"
assert_eq "$(jq -r .role "$T/r.json")" owner "alice's role"
assert_eq "$(jq -r .members_only "$T/r.json")" true "members_only"
assert_eq "$(jq -r .history "$T/r.json")" 5 "history"
assert_eq "$(jq -r '[.members[].aor] | join(",")' "$T/r.json")" \
	"alice@example.test,dave@remote.test,bob@example.test" "members (role, then AoR)"
cpmd room show lobby@example.test >"$T/show1.out" 2>&1 || fail "room show: $(cat "$T/show1.out")"
assert_contains "$T/show1.out" "subject: Weekly"
assert_contains "$T/show1.out" "members-only"
assert_match "$T/show1.out" "moderator +dave@remote.test +dv"

check "GET /api/v1/rooms: each sees the rooms they own or are in"
cpmd room add annex@example.test --owner carol@example.test >"$T/add.out" 2>&1 ||
	fail "room add: $(cat "$T/add.out")"
assert_eq "$(req $B GET "")" 200 "bob's list"
assert_eq "$(jq -r '[.rooms[] | .room + ":" + .role] | join(",")' "$T/r.json")" \
	"lobby@example.test:member" "bob's rooms"
assert_eq "$(req $C GET "")" 200 "carol's list"
assert_eq "$(jq -r '[.rooms[].room] | join(",")' "$T/r.json")" "annex@example.test" "carol's rooms"

check "GET a room: members yes; carol not in a members-only room 403; an open room 200"
assert_eq "$(req $B GET /lobby@example.test)" 200 "bob reads lobby"
assert_eq "$(jq -r .subject "$T/r.json")" Weekly "subject"
assert_eq "$(req $C GET /lobby@example.test)" 403 "carol reads members-only lobby"
assert_eq "$(req $B GET /annex@example.test)" 200 "bob reads open annex"
assert_eq "$(jq -r .role "$T/r.json")" null "bob's role in annex"
assert_eq "$(req $B GET /lobby%40example.test)" 200 "percent-encoded @"
assert_eq "$(req $A GET /nowhere@example.test)" 404 "unknown room"
assert_eq "$(req $A GET /lobby@example.test/nothing)" 404 "unknown sub-resource"

check "PUT a room: the owner changes subject and flags (cpmd room show sees it); bob 403"
assert_eq "$(req $A PUT /lobby@example.test '{"subject":"Daily","members_only":false,"offline_sf":true,"history":null}')" 200 "PUT lobby"
assert_eq "$(jq -r '.subject + " " + (.offline_sf|tostring) + " " + (.history|tostring)' "$T/r.json")" \
	"Daily true null" "settings"
cpmd room show lobby@example.test >"$T/show2.out" 2>&1
assert_contains "$T/show2.out" "subject: Daily"
assert_contains "$T/show2.out" "flags: offline-sf"
assert_contains "$T/show2.out" "history on join: default"
assert_eq "$(req $B PUT /lobby@example.test '{"subject":"mine"}')" 403 "bob is not the owner"
assert_eq "$(req $A PUT /lobby@example.test '{"colour":"blue"}')" 400 "unknown key"
assert_eq "$(req $A PUT /lobby@example.test '{"history":-3}')" 400 "bad history"
assert_eq "$(req $A PUT /lobby@example.test '{"subject":"a\nb"}')" 400 "control character"
assert_eq "$(req $A PUT /lobby@example.test 'not json')" 400 "not JSON"
assert_eq "$(req $A PUT /lobby@example.test '{"owner":"zed@example.test"}')" 400 "unknown new owner"
assert_eq "$(req $A PUT /lobby@example.test '{"owner":"dave@remote.test"}')" 400 "a remote owner"

check "members: PUT one (201, then 200), GET one, the owner's row 409, DELETE 204 / 404"
assert_eq "$(req $A PUT /lobby@example.test/members/carol@example.test '{"nick":"cc"}')" 201 "add carol"
assert_contains "$T/r.h" "Location: /api/v1/rooms/lobby@example.test/members/carol@example.test"
assert_eq "$(req $A PUT /lobby@example.test/members/carol@example.test '{"role":"moderator"}')" 200 "carol moderator"
assert_eq "$(jq -r '.nick + " " + .role' "$T/r.json")" "cc moderator" "nick kept, role changed"
assert_eq "$(req $C GET /lobby@example.test/members/carol@example.test)" 200 "carol reads herself"
assert_eq "$(req $A PUT /lobby@example.test/members/bob@example.test '{"role":"owner"}')" 409 "role owner to bob"
assert_eq "$(req $A DELETE /lobby@example.test/members/alice@example.test)" 409 "remove the owner"
assert_eq "$(req $A PUT /lobby@example.test/members/zed@example.test '{}')" 400 "unknown local user"
assert_eq "$(req $B PUT /lobby@example.test/members/carol@example.test '{}')" 403 "bob adds"
assert_eq "$(req $A PUT /lobby@example.test/members/carol@example.test '{"role":"boss"}')" 400 "bad role"
cpmd room show lobby@example.test >"$T/show3.out" 2>&1
assert_match "$T/show3.out" "moderator +carol@example.test +cc"
assert_eq "$(req $C DELETE /lobby@example.test/members/carol@example.test)" 204 "carol leaves"
assert_eq "$(req $A DELETE /lobby@example.test/members/carol@example.test)" 404 "not a member any more"

check "the member list: PUT replaces it (the owner stays), 413 over 256, DELETE leaves the owner"
assert_eq "$(req $A PUT /lobby@example.test/members '{"members":["carol@example.test"]}')" 200 "replace"
assert_eq "$(jq -r '[.members[].aor] | join(",")' "$T/r.json")" \
	"alice@example.test,carol@example.test" "owner + carol"
big=$(python3 -c 'import json; print(json.dumps({"members": ["u%d@remote.test" % i for i in range(300)]}))')
assert_eq "$(req $A PUT /lobby@example.test/members "$big")" 413 "300 members"
assert_eq "$(req $A GET /lobby@example.test/members)" 200 "list unchanged"
assert_eq "$(jq -r '.members | length' "$T/r.json")" 2 "still 2"
assert_eq "$(req $A DELETE /lobby@example.test/members)" 204 "DELETE the list"
assert_eq "$(req $A GET /lobby@example.test/members)" 200 "list after DELETE"
assert_eq "$(jq -r '[.members[].aor] | join(",")' "$T/r.json")" alice@example.test "the owner stays"
assert_eq "$(req $A PUT /lobby@example.test/members '{"members":["bob@example.test"]}')" 200 "bob back"

check "history: members read it with after/limit paging; carol (not a member) 403"
db=$T/var/cpmd.db
for i in 1 2 3 4 5; do
	sqlite3 "$db" "INSERT INTO room_messages (room, sender, nick, content_type, body, date)
		VALUES ('lobby@example.test', 'bob@example.test', 'bobby', 'text/plain', 'hello $i', 1700000000 + $i)"
done
sqlite3 "$db" "INSERT INTO room_messages (room, sender, content_type, body, date)
	VALUES ('lobby@example.test', 'bob@example.test', 'application/octet-stream', X'00FF', 1700000010)"
assert_eq "$(req $B GET '/lobby@example.test/history?limit=2')" 200 "page 1"
assert_eq "$(jq -r '[.messages[].body] | join(",")' "$T/r.json")" "hello 1,hello 2" "page 1"
last=$(jq -r .last "$T/r.json")
assert_eq "$(req $B GET "/lobby@example.test/history?after=$last&limit=10")" 200 "page 2"
assert_eq "$(jq -r '.messages | length' "$T/r.json")" 4 "the rest"
assert_eq "$(jq -r '.messages[3].body_base64' "$T/r.json")" "AP8=" "binary body in base64"
assert_eq "$(jq -r '.messages[0].nick' "$T/r.json")" bobby "nick"
assert_eq "$(req $C GET /lobby@example.test/history)" 403 "carol"
assert_eq "$(req $B GET '/lobby@example.test/history?limit=0')" 400 "limit 0"
assert_eq "$(req $B GET '/lobby@example.test/history?after=x')" 400 "after x"
assert_eq "$(req $B DELETE /lobby@example.test/history)" 405 "DELETE history"
cpmd room history lobby@example.test --limit 2 >"$T/hist.out" 2>&1
assert_contains "$T/hist.out" "hello 5"
assert_contains "$T/hist.out" "(application/octet-stream, 2 bytes)"

check "POST refusals: existing room 409, a user's AoR 409, another domain 403, bad name 400"
assert_eq "$(req $B POST "" '{"room":"lobby"}')" 409 "lobby exists"
assert_eq "$(req $B POST "" '{"room":"carol"}')" 409 "carol is a user"
assert_eq "$(req $B POST "" '{"room":"x@127.0.0.1"}')" 403 "another domain"
assert_eq "$(req $B POST "" '{"room":"a b"}')" 400 "bad name"
assert_eq "$(req $B POST "" '{"subject":"no name"}')" 400 "no name"
assert_eq "$(req $B POST "" '{"room":"r2","members":["zed@example.test"]}')" 400 "unknown member"
assert_eq "$(req $B GET /r2@example.test)" 404 "nothing of the refused POST is left"
assert_eq "$(req $B POST "" '{"room":"r2","members_only":"yes"}')" 400 "bad flag"
assert_eq "$(req $B PATCH /lobby@example.test '{}')" 405 "PATCH"

check "authentication: none 401 with a challenge, wrong password 401, unknown user 401"
code=$(curl -s -o /dev/null -D "$T/h401" -w '%{http_code}' "$API")
assert_eq "$code" 401 "no credentials"
assert_contains "$T/h401" "WWW-Authenticate: Digest"
assert_eq "$(req alice:wrong GET "")" 401 "wrong password"
assert_eq "$(req zed:zed GET "")" 401 "unknown user"
assert_eq "$(req lobby:x GET "")" 401 "a room is no user"

check "a body over http.max_body_size -> 413"
python3 -c 'print("{\"room\":\"big\",\"subject\":\"" + "x" * 2000000 + "\"}")' >"$T/big.json"
code=$(curl -s --digest -u $A -X POST -H 'Content-Type: application/json' \
	--data-binary @"$T/big.json" -o /dev/null -w '%{http_code}' "$API")
assert_eq "$code" 413 "2 MB body"

check "DELETE: bob 403; alice 204, gone for cpmd room list and the API"
assert_eq "$(req $B DELETE /lobby@example.test)" 403 "bob deletes"
assert_eq "$(req $A DELETE /lobby@example.test)" 204 "alice deletes"
assert_eq "$(req $A GET /lobby@example.test)" 404 "gone"
cpmd room list >"$T/list.out" 2>&1
assert_not_contains "$T/list.out" "lobby@example.test"
assert_eq "$(sqlite3 "$db" "SELECT count(*) FROM room_messages WHERE room = 'lobby@example.test'")" 0 \
	"history deleted"

cpmd_stop
assert_no_sanitizer_errors
