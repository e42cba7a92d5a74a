#!/usr/bin/env bash
# The HTTP status API (src/http) with curl:
#  - GET /health -> 200 {"status":"ok"}, with Date, Server, Content-Length, Content-Type;
#  - GET /api/v1/status -> 200 JSON: version, uptime, core counters, domains, SIP listeners;
#    the registration count and the bindings change after a REGISTER (sipmsg.py, digest);
#  - unknown path -> 404, known path with another method -> 405 with Allow (RFC 9110 §15.5.6);
#  - a 100 KB header -> 431 (RFC 6585 §5), an HTTP/2.0 request line -> 505;
#  - two requests on one connection (keep-alive, curl with two URLs);
#  - one log line per request (peer, method, path, status, bytes); cpmd alive, clean stop.
. "$(dirname "$0")/lib.sh"
need curl jq python3

cpmd_config
cpmd_user_add alice@example.test alice-secret
cpmd_start
URL=http://127.0.0.1:$HTTP_PORT

code() { # ARGS... — curl, prints the status code only
	curl -s -o "$T/body.out" -w '%{http_code}' --max-time 10 "$@"
}

check "GET /health -> 200 {\"status\":\"ok\"} with the mandatory headers"
curl -s -D "$T/health.hdr" -o "$T/health.json" --max-time 10 "$URL/health" || fail "curl /health failed"
assert_match "$T/health.hdr" '^HTTP/1\.1 200 OK'
assert_match "$T/health.hdr" '^Date: [A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} GMT'
assert_match "$T/health.hdr" '^Server: '
assert_match "$T/health.hdr" '^Content-Length: 15'
assert_match "$T/health.hdr" '^Content-Type: application/json'
assert_eq "$(jq -r .status "$T/health.json")" ok "/health status"

check "GET /api/v1/status -> 200 JSON with version, uptime, counters, domains, listeners"
assert_eq "$(code "$URL/api/v1/status")" 200 "/api/v1/status code"
cp "$T/body.out" "$T/status1.json"
jq -e '.version | type == "string"' "$T/status1.json" >/dev/null || fail "no version"
for k in uptime_s requests relayed registrations aors bindings transactions tcp_connections; do
	jq -e --arg k "$k" '.[$k] | type == "number"' "$T/status1.json" >/dev/null ||
		fail "status has no numeric '$k': $(cat "$T/status1.json")"
done
assert_eq "$(jq -r .stopping "$T/status1.json")" false "stopping"
jq -e '.domains | index("example.test") != null' "$T/status1.json" >/dev/null || fail "domains lack example.test"
jq -e --argjson p "$SIP_PORT" '[.sip_listen[] | select(.proto == "udp" and .host == "127.0.0.1" and .port == $p)] | length == 1' \
	"$T/status1.json" >/dev/null || fail "sip_listen lacks udp:127.0.0.1:$SIP_PORT: $(cat "$T/status1.json")"
regs1=$(jq -r .registrations "$T/status1.json")
binds1=$(jq -r .bindings "$T/status1.json")

check "a REGISTER (digest) changes the registration count and the bindings"
sipmsg --method REGISTER --uri sip:example.test --from alice@example.test --to alice@example.test \
	--contact "sip:alice@127.0.0.1:5999" --expires 600 \
	--user alice@example.test --password alice-secret --expect 200 >"$T/reg.out" ||
	fail "REGISTER: $(tail -n 1 "$T/reg.out")"
assert_eq "$(code "$URL/api/v1/status")" 200 "/api/v1/status code after REGISTER"
cp "$T/body.out" "$T/status2.json"
regs2=$(jq -r .registrations "$T/status2.json")
binds2=$(jq -r .bindings "$T/status2.json")
[ "$regs2" -gt "$regs1" ] || fail "registrations did not grow: $regs1 -> $regs2"
[ "$binds2" -eq $((binds1 + 1)) ] || fail "bindings: $binds1 -> $binds2 (expected +1)"
echo "   registrations $regs1 -> $regs2, bindings $binds1 -> $binds2"

check "unknown path -> 404 JSON"
assert_eq "$(code "$URL/no/such/path")" 404 "unknown path"
assert_eq "$(jq -r .status "$T/body.out")" 404 "404 body"

check "known path, other method -> 405 with Allow"
curl -s -D "$T/405.hdr" -o /dev/null --max-time 10 -X POST "$URL/health" || fail "curl POST failed"
assert_match "$T/405.hdr" '^HTTP/1\.1 405 '
assert_match "$T/405.hdr" '^Allow: GET, HEAD'

check "a 100 KB header -> 431"
big=$(head -c 102400 /dev/zero | tr '\0' x)
assert_eq "$(code -H "X-Big: $big" "$URL/health")" 431 "100 KB header"

check "HTTP/2.0 request line -> 505 (raw socket)"
"$PYTHON" - "$HTTP_PORT" >"$T/505.out" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET /health HTTP/2.0\r\nHost: x\r\n\r\n")
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
print(data.decode(errors="replace").splitlines()[0])
PY
assert_match "$T/505.out" '^HTTP/1\.1 505 '

check "keep-alive: two requests on one connection"
curl -sv --max-time 10 "$URL/health" "$URL/api/v1/status" >"$T/ka.out" 2>"$T/ka.err" || fail "curl keep-alive failed"
assert_contains "$T/ka.err" "Re-using existing connection"
[ "$(grep -c '^< HTTP/1.1 200 OK' "$T/ka.err")" -eq 2 ] || fail "expected two 200 responses"

check "one log line per request: peer, method, path, status, bytes"
assert_match "$CPMD_LOG" '\[127\.0\.0\.1:[0-9]+\] http GET /health 200 15 bytes'
assert_match "$CPMD_LOG" '\[127\.0\.0\.1:[0-9]+\] http POST /health 405 [0-9]+ bytes'
assert_match "$CPMD_LOG" '\[127\.0\.0\.1:[0-9]+\] http GET /no/such/path 404 [0-9]+ bytes'
assert_match "$CPMD_LOG" 'http - - 431 [0-9]+ bytes'

check "cpmd still alive, SIP still answers"
cpmd_alive || fail "cpmd died"
sipmsg --method OPTIONS --uri "sip:127.0.0.1:$SIP_PORT" --from probe@example.test \
	--to "127.0.0.1:$SIP_PORT" --expect 200 >"$T/opt.out" || fail "OPTIONS after HTTP: $(tail -n 1 "$T/opt.out")"

check "during the shutdown grace: /health -> 503 {\"status\":\"stopping\"} with Connection: close"
# a MESSAGE to alice's binding (nobody listens there) keeps a client transaction alive, so
# the shutdown waits (server.shutdown_grace); a kept-alive HTTP connection asks meanwhile
bg_start message "$PYTHON" "$SIPMSG" request --server "127.0.0.1:$SIP_PORT" --method MESSAGE \
	--uri sip:alice@example.test --from alice@example.test --to alice@example.test \
	--body hello --user alice@example.test --password alice-secret --timeout 20
# the 407 challenge comes first; the authenticated retry follows at once
wait_for 10 grep -q '^SIP/2\.0 407' "$T/message.out" || fail "MESSAGE: no 407 challenge"
sleep 0.5
"$PYTHON" - "$HTTP_PORT" "$CPMD_PID" >"$T/stopping.out" 2>&1 <<'PY'
import os, signal, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
def ask():
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    n = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0])
    while len(body) < n:
        body += s.recv(4096)
    return head.decode(), body.decode()
h, b = ask()
print(h.splitlines()[0], b)
os.kill(int(sys.argv[2]), signal.SIGTERM)
time.sleep(0.3)
h, b = ask()
print(h.splitlines()[0], b)
print("close" if "\r\nConnection: close" in h else "no-close")
PY
cat "$T/stopping.out"
assert_match "$T/stopping.out" '^HTTP/1\.1 200 OK \{"status":"ok"\}'
assert_match "$T/stopping.out" '^HTTP/1\.1 503 Service Unavailable \{"status":"stopping"\}'
assert_match "$T/stopping.out" '^close$'
bg_wait "$CPMD_PID" 20
CPMD_PID=
assert_eq "$BG_RC" 0 "cpmd exit code after SIGTERM"
assert_no_sanitizer_errors "$CPMD_LOG"

check "an HTTP port in use is a startup error with a clear message"
"$PYTHON" - "$HTTP_PORT" >"$T/holder.out" 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
print("bound", flush=True)
time.sleep(30)
PY
_PIDS+=("$!")
wait_for 5 grep -q bound "$T/holder.out" || fail "port holder did not bind"
rc=0
timeout 20 "$CPMD" -c "$CPMD_CONF" >"$T/busy.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "cpmd started although the HTTP port is taken"
assert_match "$T/busy.out" 'cannot start HTTP on 127\.0\.0\.1:[0-9]+ \(http\.listen\)'
assert_no_sanitizer_errors "$T/busy.out"
echo "PASS"
