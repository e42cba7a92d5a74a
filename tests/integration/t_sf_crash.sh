#!/usr/bin/env bash
# Store-and-forward durability under load (issue 3: "a crash at any instant loses no
# message that was answered 202"): a sender streams MESSAGEs to an offline user over UDP
# (about 400/s, each with a numbered body), cpmd is killed with SIGKILL in the middle of
# the stream, then started again.  Every message the sender saw answered 202 must be in
# the database, and nothing is stored twice.
. "$(dirname "$0")/lib.sh"
need python3 sqlite3

cpmd_user_add bob@example.test bob-secret
cpmd_start -o auth.trusted=127.0.0.0/8

cat >"$T/stream.py" <<'PY'
import os, socket, sys, time
port, n, rate, acked_file = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.setblocking(False)
lport = s.getsockname()[1]
run = os.urandom(4).hex()
acked, sent = {}, {}
def msg(i):
    body = f"crash test message {i}"
    return (f"MESSAGE sip:bob@example.test SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK-{run}-{i};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:loader@example.test>;tag={run}{i}\r\n"
            f"To: <sip:bob@example.test>\r\nCall-ID: {i}-{run}@crash\r\nCSeq: 1 MESSAGE\r\n"
            f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode()
t0 = time.time()
i = 0
while time.time() - t0 < n / rate + 3:
    now = time.time()
    while i < n and i < (now - t0) * rate:
        try:
            s.sendto(msg(i), ("127.0.0.1", port))
            sent[i] = now
        except OSError:
            pass
        i += 1
    # retransmit unanswered ones after 500 ms (RFC 3261 timer E, once)
    for k, ts in list(sent.items()):
        if k not in acked and now - ts > 0.5:
            try:
                s.sendto(msg(k), ("127.0.0.1", port))
            except OSError:
                pass
            sent[k] = now + 3600
    try:
        while True:
            d = s.recv(65535).decode(errors="replace")
            first = d.split("\r\n", 1)[0]
            for line in d.split("\r\n"):
                if line.lower().startswith("call-id:"):
                    cid = line.split(":", 1)[1].strip()
                    k = int(cid.split("-", 1)[0])
                    if " 202 " in first:
                        acked[k] = first
    except (BlockingIOError, ValueError):
        pass
    time.sleep(0.002)
with open(acked_file, "w") as f:
    for k in sorted(acked):
        f.write(f"crash test message {k}\n")
print(f"sent {i}, answered 202: {len(acked)}")
PY

check "stream 1200 MESSAGEs at ~400/s to offline bob; kill -9 cpmd after 1.5 s"
bg_start stream /usr/bin/python3 "$T/stream.py" "$SIP_PORT" 1200 400 "$T/acked.txt"
stream_pid=$BG_PID
sleep 1.5
cpmd_kill9
bg_wait "$stream_pid" 20
cat "$T/stream.out"
acked=$(wc -l <"$T/acked.txt")
[ "$acked" -ge 50 ] || fail "only $acked messages were answered 202 before the kill: the test proves nothing"

check "restart: every message answered 202 is stored, none twice"
cpmd_start -o auth.trusted=127.0.0.0/8
sqlite3 "$T/var/cpmd.db" "select cast(body as text) from messages where recipient='bob@example.test'" \
	| sort >"$T/stored.txt"
stored=$(wc -l <"$T/stored.txt")
dups=$(uniq -d "$T/stored.txt" | wc -l)
lost=$(sort "$T/acked.txt" | comm -23 - "$T/stored.txt" | wc -l)
echo "   answered 202: $acked, stored: $stored, lost: $lost, stored twice: $dups"
assert_eq "$lost" 0 "messages answered 202 but not stored"
assert_eq "$dups" 0 "messages stored twice"

cpmd_stop
assert_no_sanitizer_errors
