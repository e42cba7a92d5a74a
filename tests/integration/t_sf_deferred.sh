#!/usr/bin/env bash
# Deferred retrieval (issue 3 "Deferred retrieval"; seed 001 Fig. 1; RFC 4483; R23, R30, R36):
#  - "Content-Disposition: store&fwd" (and a body over im.max_inline_size) to an offline
#    user -> 202; when the user registers, the device gets a notice: a MESSAGE from the
#    original sender whose body is message/external-body with the pick-up URL, size, type;
#  - GET on that URL (single-use token) returns the body and marks it delivered; the token
#    does not work twice; a wrong token gets 404;
#  - the seed 002 "store" command keeps a message without pushing it: the inbox lists it
#    and the user fetches it with HTTP Digest (the SIP credentials);
#  - GET /api/v1/users/AOR/messages lists the waiting messages (Digest), 401 otherwise;
#  - fetching a message whose sender asked for reports sends the "delivered" IMDN.
. "$(dirname "$0")/lib.sh"
need python3 curl jq
[ -x "$CPM" ] || fail "no cpm binary at $CPM (run make)"

cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
cpmd_start -o im.max_inline_size=200
H="http://127.0.0.1:$HTTP_PORT"

send() { # TEXT [options] — alice sends to bob
	local text=$1
	shift
	cpm --user alice@example.test --password alice-secret send "$@" bob@example.test "$text" \
		>"$T/send.out" 2>&1 || true
	assert_contains "$T/send.out" "202 Accepted"
}
inbox() { # USER:PASS AOR -> JSON on stdout, HTTP status in $T/code
	curl -s --digest -u "$1" -o "$T/inbox.json" -w '%{http_code}' "$H/api/v1/users/$2/messages" >"$T/code"
	cat "$T/inbox.json"
}

check "four messages to offline bob: store&fwd, oversized, 'store' (pull), plain -> 202 each"
send "deferred hello" --header "Content-Disposition: store&fwd" --header "Subject: by reference"
big=$(printf 'B%.0s' $(seq 1 300))
send "$big"
send "pull me when you like" --header "Request-Disposition: store"
send "plain and small"

check "inbox without credentials -> 401 with Digest challenges"
code=$(curl -s -o /dev/null -D "$T/h401" -w '%{http_code}' "$H/api/v1/users/bob@example.test/messages")
assert_eq "$code" 401 "inbox without credentials"
grep -qi '^WWW-Authenticate: Digest realm="example.test".*algorithm=SHA-256' "$T/h401" || fail "no SHA-256 challenge: $(cat "$T/h401")"
grep -qi '^WWW-Authenticate: Digest .*algorithm=MD5' "$T/h401" || fail "no MD5 challenge"
inbox bob:wrong bob@example.test >/dev/null
assert_eq "$(cat "$T/code")" 401 "wrong password"
inbox alice:alice-secret bob@example.test >/dev/null
assert_eq "$(cat "$T/code")" 401 "alice's credentials on bob's inbox"
inbox bob:bob-secret nobody@example.test >/dev/null
assert_eq "$(cat "$T/code")" 401 "unknown user (no enumeration)"

check "inbox with bob's credentials: 4 waiting, flags right"
inbox bob:bob-secret bob@example.test >"$T/i1.json"
assert_eq "$(cat "$T/code")" 200 "inbox"
cat "$T/i1.json"; echo
assert_eq "$(jq '.messages | length' "$T/i1.json")" 4 "waiting messages"
assert_eq "$(jq -r '[.messages[].deferred] | map(tostring) | join(",")' "$T/i1.json")" "true,true,false,false" "deferred flags"
assert_eq "$(jq -r '[.messages[].pull] | map(tostring) | join(",")' "$T/i1.json")" "false,false,true,false" "pull flags"
assert_eq "$(jq -r '.messages[0].subject' "$T/i1.json")" "by reference" "subject"
assert_eq "$(jq -r '.messages[1].size' "$T/i1.json")" 300 "size"
assert_eq "$(jq -r '.messages[0].from' "$T/i1.json")" "sip:alice@example.test" "from"
pull_id=$(jq -r '.messages[2].id' "$T/i1.json")

check "bob registers: two notices (external-body) and the plain message, not the pulled one"
bg_start bob "$CPM" --server "127.0.0.1:$SIP_PORT" --user bob@example.test --password bob-secret \
	listen --count 3 --duration 15 --json
bg_wait "$BG_PID" 25
cat "$T/bob.out"
n=$(grep -c 'message/external-body' "$T/bob.out" || true)
assert_eq "$n" 2 "notices"
grep -q 'plain and small' "$T/bob.out" || fail "the small message was not pushed"
grep -q 'pull me' "$T/bob.out" && fail "the 'store' (pull) message was pushed"
python3 - "$T/bob.out" >"$T/urls" <<'PY'
import json, re, sys
for l in open(sys.argv[1]):
    if not l.startswith("{"):
        continue
    m = json.loads(l)
    if not m["content_type"].startswith("message/external-body"):
        continue
    ct = m["content_type"]
    assert 'access-type="URL"' in ct, ct
    url = re.search(r'URL="([^"]+)"', ct).group(1)
    size = re.search(r'size=(\d+)', ct).group(1)
    assert "Content-Type: text/plain" in m["body"], m["body"]
    assert "Content-ID: <" in m["body"], m["body"]
    assert "alice@example.test" in m["from"], m["from"]
    print(url, size)
PY
cat "$T/urls"
assert_eq "$(wc -l <"$T/urls")" 2 "notice URLs"
url1=$(awk 'NR==1{print $1}' "$T/urls")
url2=$(awk 'NR==2{print $1}' "$T/urls")
assert_match "$T/urls" '\?t=[0-9a-f]{32} 14$'

check "GET the notice URL (token) -> the body; a second GET -> 404; a wrong token -> 404"
code=$(curl -s -D "$T/h1" -o "$T/b1" -w '%{http_code}' "$url1")
assert_eq "$code" 200 "fetch by token"
assert_eq "$(cat "$T/b1")" "deferred hello" "fetched body"
grep -qi '^Content-Type: text/plain' "$T/h1" || fail "content type: $(cat "$T/h1")"
grep -qi '^X-CPM-From: .*sip:alice@example.test' "$T/h1" || fail "X-CPM-From: $(cat "$T/h1")"
grep -qi '^X-CPM-Subject: by reference' "$T/h1" || fail "X-CPM-Subject: $(cat "$T/h1")"
assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "$url1")" 404 "token used twice"
assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "${url2%?t=*}?t=00000000000000000000000000000000")" 404 "wrong token"
code=$(curl -s -o "$T/b2" -w '%{http_code}' "$url2")
assert_eq "$code" 200 "second notice URL"
assert_eq "$(wc -c <"$T/b2")" 300 "oversized body length"

check "the pulled message: GET /m/ID needs bob's Digest; then it is delivered"
assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "$H/m/$pull_id")" 401 "no credentials"
assert_eq "$(curl -s --digest -u alice:alice-secret -o /dev/null -w '%{http_code}' "$H/m/$pull_id")" 401 "alice's credentials"
code=$(curl -s --digest -u bob:bob-secret -o "$T/b3" -w '%{http_code}' "$H/m/$pull_id")
assert_eq "$code" 200 "fetch by digest"
assert_eq "$(cat "$T/b3")" "pull me when you like" "pulled body"
assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "$H/m/999999")" 401 "unknown id without credentials"
assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "$H/m/abc")" 404 "malformed id"
inbox bob:bob-secret bob@example.test >"$T/i2.json"
assert_eq "$(jq '.messages | length' "$T/i2.json")" 0 "inbox after the fetches"

check "a deferred message with notify: the fetch sends alice the 'delivered' report"
send "tell me when fetched" --header "Content-Disposition: store&fwd" --header "Request-Disposition: notify"
inbox bob:bob-secret bob@example.test >"$T/i3.json"
id=$(jq -r '.messages[0].id' "$T/i3.json")
bg_start alice "$CPM" --server "127.0.0.1:$SIP_PORT" --user alice@example.test --password alice-secret \
	listen --count 2 --duration 15 --json
alice_pid=$BG_PID
sleep 1.5
assert_eq "$(curl -s --digest -u bob:bob-secret -o /dev/null -w '%{http_code}' "$H/m/$id")" 200 "fetch"
bg_wait "$alice_pid" 20
grep -q 'delivered/' "$T/alice.out" || fail "no delivered report: $(cat "$T/alice.out")"

cpmd_stop
assert_no_sanitizer_errors
