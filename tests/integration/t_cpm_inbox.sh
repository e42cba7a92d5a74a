#!/usr/bin/env bash
# cpm inbox and cpm fetch over the server's HTTP API (issue 3 acceptance: "cpm inbox lists
# waiting messages via HTTP"; RFC 7616 Digest with the SIP credentials, RFC 4483 pick-up
# URLs):
#  - three messages for offline bob (one with a Subject, one kept by the seed 002 "store"
#    command, one "store&fwd" = deferred); `cpm inbox` prints them in a table, in arrival
#    order, with their flags; --json gives the server's list; the config key http works;
#  - a wrong password -> exit 1, "authentication failed";
#  - `cpm fetch ID` prints the body (Digest); an unknown id -> exit 1; `-o FILE` writes it
#    and says so; the inbox shrinks;
#  - the deferred message's notice URL (single-use token) is fetched without a password,
#    and a second time -> exit 1 "already fetched";
#  - alice's `cpm send --report` of a "store" (pull) message: bob's `cpm fetch` makes
#    alice print "report: ID delivered by bob@example.test" and exit 0;
#  - listen shows a notice as "FROM: [waiting on the server: TYPE, N bytes; cpm fetch 'URL']"
#    (--json: fetch_url);
#  - nothing waiting -> "no messages waiting"; no server -> exit 1, "cannot connect".
. "$(dirname "$0")/lib.sh"
need python3
[ -x "$CPM" ] || fail "no cpm binary at $CPM (run make)"

cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
cpmd_start
H="http://127.0.0.1:$HTTP_PORT"
mkdir -p "$T/home"
export HOME=$T/home

send() { # TEXT [options] — alice sends to bob, 202 expected
	local text=$1
	shift
	cpm --user alice@example.test --password alice-secret send "$@" bob@example.test "$text" \
		>"$T/send.out" 2>&1 || fail "cpm send: $(cat "$T/send.out")"
	assert_contains "$T/send.out" "202 Accepted"
}
bob() { # cpm ARGS... as bob, against the HTTP API
	cpm --user bob@example.test --password bob-secret --http "$H" "$@"
}

check "three messages for offline bob: a Subject, a 'store' (pull), a 'store&fwd' (deferred)"
send "hello inbox" --header "Subject: first one"
send "pull me when you like" --header "Request-Disposition: store"
send "deferred body" --header "Content-Disposition: store&fwd"

check "cpm inbox: a table of the three, in arrival order, with flags"
bob inbox >"$T/inbox1.out" 2>&1 || fail "cpm inbox: $(cat "$T/inbox1.out")"
cat "$T/inbox1.out"
assert_match "$T/inbox1.out" '^ID +DATE +FROM +TYPE +SIZE +SUBJECT +FLAGS$'
assert_contains "$T/inbox1.out" "3 messages waiting for bob@example.test"
mapfile -t rows < <(grep -E '^[0-9]+ +20[0-9]{2}-' "$T/inbox1.out")
assert_eq "${#rows[@]}" 3 "table rows"
[[ ${rows[0]} =~ ^([0-9]+)\ +20[0-9]{2}-[0-9]{2}-[0-9]{2}\ [0-9:]{8}Z\ +alice@example\.test\ +text/plain\ +11\ +first\ one\ +-$ ]] ||
	fail "row 1: '${rows[0]}'"
id1=${BASH_REMATCH[1]}
[[ ${rows[1]} =~ ^([0-9]+)\ .*\ 21\ +-\ +pull$ ]] || fail "row 2: '${rows[1]}'"
id2=${BASH_REMATCH[1]}
[[ ${rows[2]} =~ ^([0-9]+)\ .*\ 13\ +-\ +deferred$ ]] || fail "row 3: '${rows[2]}'"
[ "$id1" -lt "$id2" ] || fail "not in arrival order: $id1, $id2"

check "cpm inbox --json: the server's list, the same ids; the config key http"
bob inbox --json >"$T/inbox1.json" 2>"$T/inbox1.err" || fail "cpm inbox --json: $(cat "$T/inbox1.err")"
"$PYTHON" - "$T/inbox1.json" "$id1" "$id2" <<'PY' || fail "inbox --json is wrong"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["aor"] == "bob@example.test", d
ids = [m["id"] for m in d["messages"]]
assert ids[:2] == [int(sys.argv[2]), int(sys.argv[3])] and len(ids) == 3, ids
assert d["messages"][0]["subject"] == "first one", d["messages"][0]
assert d["messages"][0]["from"] == "sip:alice@example.test", d["messages"][0]
PY
printf 'user = bob@example.test\npassword = bob-secret\nhttp = %s\n' "$H" >"$T/bob.conf"
"$CPM" --config "$T/bob.conf" inbox >"$T/inbox-conf.out" 2>&1 || fail "inbox with the config file: $(cat "$T/inbox-conf.out")"
assert_contains "$T/inbox-conf.out" "3 messages waiting for bob@example.test"

check "a wrong password -> exit 1, 'authentication failed'"
rc=0
cpm --user bob@example.test --password wrong --http "$H" inbox >"$T/wrong.out" 2>&1 || rc=$?
cat "$T/wrong.out"
assert_eq "$rc" 1 "exit code with a wrong password"
assert_contains "$T/wrong.out" "authentication failed: 401"

check "cpm fetch ID: the body; an unknown id -> exit 1; -o FILE"
bob fetch "$id1" >"$T/fetch1.out" 2>"$T/fetch1.err" || fail "cpm fetch $id1: $(cat "$T/fetch1.err")"
assert_eq "$(cat "$T/fetch1.out")" "hello inbox" "fetched body"
rc=0
bob fetch 999999 >"$T/fetch1b.out" 2>&1 || rc=$?
cat "$T/fetch1b.out"
assert_eq "$rc" 1 "exit code of an unknown id"
# the server answers an unknown id like bad credentials (no probing of ids)
assert_match "$T/fetch1b.out" "message 999999: 401 .*unknown message"
bob fetch "$id2" -o "$T/pulled.txt" >"$T/fetch2.out" 2>&1 || fail "cpm fetch -o: $(cat "$T/fetch2.out")"
cat "$T/fetch2.out"
assert_eq "$(cat "$T/pulled.txt")" "pull me when you like" "body written by -o"
assert_match "$T/fetch2.out" "^saved 21 bytes \(text/plain\) from .*sip:alice@example.test.*, sent .* GMT, to $T/pulled.txt$"
bob inbox >"$T/inbox2.out" 2>&1 || fail "cpm inbox: $(cat "$T/inbox2.out")"
assert_contains "$T/inbox2.out" "1 message waiting for bob@example.test"

check "the deferred message's notice URL (single-use token): fetched without a password"
bg_start listen "$CPM" --server "127.0.0.1:$SIP_PORT" --user bob@example.test --password bob-secret \
	listen --count 1 --duration 15 --json
bg_wait "$BG_PID" 20
url=$("$PYTHON" - "$T/listen.out" <<'PY'
import json, re, sys
for l in open(sys.argv[1]):
    if l.startswith("{"):
        m = json.loads(l)
        url = re.search(r'URL="([^"]+)"', m["content_type"]).group(1)
        assert m["fetch_url"] == url, (m["fetch_url"], url)
        print(url)
PY
) || fail "no notice URL: $(cat "$T/listen.out")"
echo "   $url"
cpm fetch "$url" >"$T/fetch3.out" 2>"$T/fetch3.err" || fail "cpm fetch URL: $(cat "$T/fetch3.err")"
assert_eq "$(cat "$T/fetch3.out")" "deferred body" "body fetched by token"
rc=0
cpm fetch "$url" >"$T/fetch3b.out" 2>&1 || rc=$?
cat "$T/fetch3b.out"
assert_eq "$rc" 1 "exit code of a used token"
assert_contains "$T/fetch3b.out" "404 Not Found (unknown, or already fetched)"

check "nothing waiting -> 'no messages waiting'"
bob inbox >"$T/inbox3.out" 2>&1 || fail "cpm inbox: $(cat "$T/inbox3.out")"
assert_contains "$T/inbox3.out" "no messages waiting for bob@example.test"

check "alice: send --report of a 'store' message; bob fetches it -> alice prints 'delivered', exit 0"
bg_start report "$CPM" --server "127.0.0.1:$SIP_PORT" --user alice@example.test \
	--password alice-secret send --report=30 --header "Request-Disposition: store" \
	bob@example.test "fetch me for a report"
report_pid=$BG_PID
wait_for 10 grep -q "stored by bob@example.test" "$T/report.out" ||
	fail "no 'stored' report: $(cat "$T/report.out")"
bob inbox --json >"$T/inbox4.json" 2>&1 || fail "cpm inbox: $(cat "$T/inbox4.json")"
id=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["messages"][0]["id"])' "$T/inbox4.json")
bob fetch "$id" >"$T/fetch4.out" 2>&1 || fail "cpm fetch $id: $(cat "$T/fetch4.out")"
assert_eq "$(cat "$T/fetch4.out")" "fetch me for a report" "the CPIM content"
bg_wait "$report_pid" 20
cat "$T/report.out"
assert_eq "$BG_RC" 0 "alice's send --report exit code"
mid=$(sed -n -E 's/^report: ([0-9a-f]+) stored by bob@example\.test$/\1/p' "$T/report.out")
assert_contains "$T/report.out" "report: $mid delivered by bob@example.test"

check "listen shows a pick-up notice as a line with the fetch command"
send "deferred again" --header "Content-Disposition: store&fwd"
bg_start listen2 "$CPM" --server "127.0.0.1:$SIP_PORT" --user bob@example.test --password bob-secret \
	listen --count 1 --duration 15
bg_wait "$BG_PID" 20
cat "$T/listen2.out"
line=$(grep -E "^alice@example.test: \[waiting on the server: text/plain, 14 bytes; cpm fetch 'http://[^']+'\]$" \
	"$T/listen2.out") || fail "no notice line in listen's output"
url=$(sed -E "s/.*cpm fetch '([^']+)'.*/\1/" <<<"$line")
cpm fetch "$url" >"$T/fetch5.out" 2>"$T/fetch5.err" || fail "cpm fetch URL: $(cat "$T/fetch5.err")"
assert_eq "$(cat "$T/fetch5.out")" "deferred again" "body fetched with the notice line's URL"

check "no HTTP server -> exit 1, 'cannot connect'"
rc=0
cpm --user bob@example.test --password bob-secret --http "http://127.0.0.1:$(free_port)" inbox \
	>"$T/noserver.out" 2>&1 || rc=$?
assert_eq "$rc" 1 "exit code without a server"
assert_contains "$T/noserver.out" "cannot connect"

cpmd_alive || fail "cpmd died"
cpmd_stop
for f in "$CPMD_LOG" "$T"/*.out "$T"/*.err; do assert_no_sanitizer_errors "$f"; done
echo "PASS"
