#!/usr/bin/env bash
# The store-and-forward profile over the HTTP API (issue 3 §2: "cpmd user set …, also via the
# HTTP API"): GET/PUT /api/v1/users/AOR/profile with the user's Digest credentials.
#  - GET: the default profile; PUT {"store-and-forward":"no","accepts":[...]}: 200 and the
#    new profile, seen by `cpmd user show` and by the server's rules (a MESSAGE -> 480);
#  - the class is the operator's (403); unknown keys, bad values, bad JSON: 400; another
#    user's credentials: 401.
. "$(dirname "$0")/lib.sh"
need curl jq
[ -x "$CPM" ] || fail "no cpm binary at $CPM (run make)"

cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
cpmd_start
U="http://127.0.0.1:$HTTP_PORT/api/v1/users/bob@example.test/profile"
put() { # USER:PASS JSON -> body in $T/put.json, status in $T/code
	curl -s --digest -u "$1" -X PUT -H 'Content-Type: application/json' --data "$2" \
		-o "$T/put.json" -w '%{http_code}' "$U" >"$T/code"
}

check "GET: the default profile"
code=$(curl -s --digest -u bob:bob-secret -o "$T/get.json" -w '%{http_code}' "$U")
assert_eq "$code" 200 "GET profile"
cat "$T/get.json"; echo
assert_eq "$(jq -r '."store-and-forward"' "$T/get.json")" yes "default mode"
assert_eq "$(jq -r '.accepts | join(",")' "$T/get.json")" "*/*" "default accepts"
assert_eq "$(jq -r '.class' "$T/get.json")" default "default class"

check "PUT: store-and-forward=no, accepts text/plain and image/*"
put bob:bob-secret '{"store-and-forward":"no","accepts":["text/plain","image/*"]}'
assert_eq "$(cat "$T/code")" 200 "PUT profile"
assert_eq "$(jq -r '."store-and-forward"' "$T/put.json")" no "mode"
assert_eq "$(jq -r '.accepts | join(",")' "$T/put.json")" "text/plain,image/*" "accepts"
cpmd user show bob@example.test >"$T/show.out" 2>&1
assert_contains "$T/show.out" "store-and-forward=no"
assert_contains "$T/show.out" "text/plain"

check "the rules use it: a MESSAGE to offline bob -> 480 (profile no)"
cpm --user alice@example.test --password alice-secret send bob@example.test "hello" >"$T/send.out" 2>&1 || true
assert_contains "$T/send.out" "480"

check "refusals: class 403, unknown key 400, bad value 400, not JSON 400, alice 401"
put bob:bob-secret '{"class":"gold"}'
assert_eq "$(cat "$T/code")" 403 "class"
put bob:bob-secret '{"colour":"blue"}'
assert_eq "$(cat "$T/code")" 400 "unknown key"
put bob:bob-secret '{"store-and-forward":"maybe"}'
assert_eq "$(cat "$T/code")" 400 "bad mode"
jq -r .error "$T/put.json"
put bob:bob-secret 'not json'
assert_eq "$(cat "$T/code")" 400 "not JSON"
put alice:alice-secret '{"store-and-forward":"yes"}'
assert_eq "$(cat "$T/code")" 401 "another user's credentials"
cpmd user show bob@example.test >"$T/show2.out" 2>&1
assert_contains "$T/show2.out" "store-and-forward=no"

cpmd_stop
assert_no_sanitizer_errors
