#!/usr/bin/env bash
# Two real SIP phones (baresip 1.0, libre 1.1) through cpmd, over UDP then over TCP:
#  - alice@127.0.0.1 and bob@127.0.0.1 are added with `cpmd user add` (127.0.0.1 is one of
#    cpmd's domains, as in its defaults); each baresip has the account
#    <sip:USER@127.0.0.1:PORT> (PORT = cpmd's), registers and answers the 401 with
#    auth_pass (MD5 only: libre 1.1 gives up on a response that also offers SHA-256);
#  - alice sends bob a MESSAGE (RFC 3428): cpmd challenges it (407), baresip retries with
#    credentials, bob's baresip prints the text;
#  - alice dials bob (ctrl_tcp "dial"): INVITE with an SDP offer (G.711, audio from the
#    ausine module, played to a file: no sound devices), 407, INVITE with credentials,
#    bob auto-answers (answermode=auto), 200 with Record-Route, ACK: both sides report
#    CALL_ESTABLISHED;
#  - alice hangs up (ctrl_tcp "hangup"): the BYE carries a Route to cpmd, arrives at bob
#    through cpmd, and both sides report CALL_CLOSED;
#  - finally, a baresip account with an outbound proxy (<sip:carol@example.test> with
#    outbound="sip:127.0.0.1:PORT;lr"), the usual phone setup: its REGISTER carries
#    Route: <cpmd;lr> and must reach the registrar (RFC 3261 §16.4: cpmd removes its own
#    Route entry; §10.2) -> 401 -> 200.
# The baresip SIP traces (-s) and ctrl_tcp events are checked, as is cpmd's log.  Checks
# marked "(late)" record their failure and the test fails at the end, so that one broken
# step does not hide the others.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/call_lib.sh"
need baresip python3
[ -f /usr/lib/baresip/modules/ctrl_tcp.so ] || { echo "SKIP: baresip ctrl_tcp module missing"; exit 77; }

cpmd_user_add alice@127.0.0.1 alice-secret
cpmd_user_add bob@127.0.0.1 bob-secret
cpmd_user_add carol@example.test carol-secret
cpmd_start -o auth.algorithms=MD5
LATE=()
late_fail() { printf 'FAIL (late): %s\n' "$*" >&2; LATE+=("$*"); }

# baresip binds TLS on its SIP port + 1 as well: ports spaced 2 apart, each checked free
bare_port() {
	local p
	for _ in $(seq 1 50); do
		p=$(free_port)
		if ! _port_bound "$((p + 1))" && [ "$((p + 1))" -lt 65535 ]; then
			free_port_mark "$((p + 1))"
			echo "$p"
			return 0
		fi
	done
	fail "no pair of free ports for baresip"
}
free_port_mark() { _PORTS+="$1 "; }

# baresip_conf NAME SIPPORT CTRLPORT TR PASSWORD PEER [DOMAIN OUTBOUND]
baresip_conf() {
	local d=$T/$1-$4 dom=${7:-127.0.0.1:$SIP_PORT} ob=
	[ -z "${8:-}" ] || ob=";outbound=\"$8\""
	mkdir -p "$d"
	cat >"$d/config" <<CONF
sip_listen		127.0.0.1:$2
ctrl_tcp_listen		127.0.0.1:$3
audio_player		aufile,$d/played.wav
audio_source		ausine,440
ausrc_srate		48000
auplay_srate		48000
ausrc_channels		2
auplay_channels		2
audio_alert		aufile,/dev/null
rtp_ports		$(($2 + 20000 > 64000 ? 40000 : $2 + 20000))-$(($2 + 20000 > 64000 ? 40010 : $2 + 20010))
module_path		/usr/lib/baresip/modules
module			stdio.so
module			g711.so
module			ausine.so
module			aufile.so
module_tmp		uuid.so
module_tmp		account.so
module_app		contact.so
module_app		menu.so
module			ctrl_tcp.so
CONF
	echo "<sip:$1@$dom;transport=$4>;auth_pass=$5$ob;regint=600;answermode=auto;ptime=20" >"$d/accounts"
	echo "\"$6\" <sip:$6@$dom>" >"$d/contacts"
	echo "$d"
}

cat >"$T/drive.py" <<'PY'
"""Drive two baresip instances through ctrl_tcp (netstring JSON): MESSAGE, dial, hangup.
usage: drive.py ALICE_CTRL BOB_CTRL BOB_URI LOGFILE"""
import json, socket, sys, time

def netstring(obj):
    b = json.dumps(obj).encode()
    return str(len(b)).encode() + b":" + b + b","

class Ctrl:
    def __init__(self, name, port, log):
        self.name, self.log, self.buf, self.seen = name, log, b"", []
        deadline = time.monotonic() + 10
        while True:
            try:
                self.s = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.s.settimeout(0.1)

    def send(self, command, params=None, token="t"):
        msg = {"command": command, "token": token}
        if params is not None:
            msg["params"] = params
        self.log.write(f"{self.name} >> {json.dumps(msg)}\n")
        self.s.sendall(netstring(msg))

    def poll(self):
        try:
            chunk = self.s.recv(65536)
            if chunk:
                self.buf += chunk
        except socket.timeout:
            pass
        while True:
            colon = self.buf.find(b":")
            if colon < 0:
                return
            n = int(self.buf[:colon])
            if len(self.buf) < colon + 1 + n + 1:
                return
            body = self.buf[colon + 1:colon + 1 + n]
            self.buf = self.buf[colon + 2 + n:]
            try:
                obj = json.loads(body)
            except ValueError:
                obj = {"raw": body.decode("utf-8", "replace")}
            self.seen.append(obj)
            self.log.write(f"{self.name} << {json.dumps(obj)}\n")
            self.log.flush()

def wait(ctrls, pred, secs, what):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        for c in ctrls:
            c.poll()
        if pred():
            print(f"ok: {what}", flush=True)
            return True
    print(f"TIMEOUT: {what}", flush=True)
    return False

def has(c, typ):
    return any(o.get("event") and o.get("type") == typ for o in c.seen)

def response(c, token):
    for o in c.seen:
        if o.get("response") and o.get("token") == token:
            return o
    return None

def main():
    a_port, b_port, bob_uri, logf = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    log = open(logf, "a")
    a, b = Ctrl("alice", a_port, log), Ctrl("bob", b_port, log)
    ok = True
    a.send("reginfo", token="ra")
    b.send("reginfo", token="rb")
    ok &= wait([a, b], lambda: response(a, "ra") and response(b, "rb"), 5, "reginfo answered")
    for c, t in ((a, "ra"), (b, "rb")):
        r = response(c, t) or {}
        print(f"{c.name} reginfo: {json.dumps(r.get('data', ''))}", flush=True)
    a.send("message", "hello bob, this is alice through cpmd", token="m")
    ok &= wait([a, b], lambda: response(a, "m"), 5, "message command accepted")
    time.sleep(2)
    a.send("dial", bob_uri, token="d")
    ok &= wait([a, b], lambda: has(a, "CALL_ESTABLISHED") and has(b, "CALL_ESTABLISHED"), 20,
               "CALL_ESTABLISHED at alice and bob")
    time.sleep(1.5)
    a.send("hangup", token="h")
    ok &= wait([a, b], lambda: has(a, "CALL_CLOSED") and has(b, "CALL_CLOSED"), 15,
               "CALL_CLOSED at alice and bob")
    for c in (a, b):
        print(c.name + " events: " + " ".join(o.get("type", "") for o in c.seen if o.get("event")), flush=True)
    return 0 if ok else 1

sys.exit(main())
PY

# bare_start NAME CONFDIR — baresip -s (SIP trace) in the background, output in
# $T/NAME.out, stdin a FIFO held open by this shell (stdio.so wants a pollable stdin that
# never ends; "cmd &" alone would give it /dev/null).  Sets BARE_PID.
BARE_FD=20
bare_start() {
	mkfifo "$T/$1.in"
	eval "exec $BARE_FD<>\"\$T/\$1.in\""
	timeout -k 5 90 baresip -s -f "$2" <&"$BARE_FD" >"$T/$1.out" 2>&1 &
	BARE_PID=$!
	_PIDS+=("$BARE_PID")
	BARE_FD=$((BARE_FD + 1))
}

bare_stop() { # PID...
	local p
	for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "$@"; do bg_wait "$p" 10; done
}

for tr in udp tcp; do
	dom=127.0.0.1:$SIP_PORT
	check "$tr: alice and bob (baresip) register with cpmd, digest MD5"
	ap=$(bare_port) bp=$(bare_port) ac=$(free_port) bc=$(free_port)
	ad=$(baresip_conf alice "$ap" "$ac" "$tr" alice-secret bob)
	bd=$(baresip_conf bob "$bp" "$bc" "$tr" bob-secret alice)
	bare_start "alice-$tr" "$ad"
	apid=$BARE_PID
	bare_start "bob-$tr" "$bd"
	bpid=$BARE_PID
	wait_for 15 call_log_has "registered alice@127\.0\.0\.1 -> sip:[^ ]*127\.0\.0\.1:${ap}[;> ]" ||
		fail "$tr: alice's baresip did not register (cpmd.log)"
	wait_for 15 call_log_has "registered bob@127\.0\.0\.1 -> sip:[^ ]*127\.0\.0\.1:${bp}[;> ]" ||
		fail "$tr: bob's baresip did not register (cpmd.log)"
	assert_match "$T/alice-$tr.out" '^SIP/2\.0 401'

	check "$tr: alice -> bob MESSAGE, then a call: dial, auto-answer, CALL_ESTABLISHED, alice hangs up, CALL_CLOSED"
	rc=0
	timeout 60 "$CALL_PY" "$T/drive.py" "$ac" "$bc" "sip:bob@$dom" "$T/ctrl-$tr.log" >"$T/drive-$tr.out" 2>&1 || rc=$?
	cat "$T/drive-$tr.out"
	[ "$rc" -eq 0 ] || say "$tr: ctrl_tcp driver exit $rc (its steps are checked below)"
	grep -q -E '^alice reginfo: .*(OK|200)' "$T/drive-$tr.out" || fail "$tr: alice's reginfo does not show the registration"
	grep -q -E '^bob reginfo: .*(OK|200)' "$T/drive-$tr.out" || fail "$tr: bob's reginfo does not show the registration"
	grep -q '^ok: message command accepted' "$T/drive-$tr.out" || fail "$tr: alice's message command failed"
	grep -q '^ok: CALL_ESTABLISHED at alice and bob' "$T/drive-$tr.out" || fail "$tr: the call was not established on both sides"

	check "$tr: bob's baresip printed alice's MESSAGE"
	# the UI line "sip:FROM: \"TEXT\"" (the SIP trace also shows the body, without quotes)
	wait_for 5 grep -q -E "sip:alice@127\\.0\\.0\\.1:$SIP_PORT: \"hello bob, this is alice through cpmd\"" "$T/bob-$tr.out" ||
		fail "$tr: bob's output does not show the MESSAGE"

	check "$tr: the INVITE was challenged (407) and relayed with cpmd's Record-Route; ACK went through cpmd"
	"$CALL_PY" - "$T/bob-$tr.out" "$T/alice-$tr.out" "$SIP_PORT" "${tr^^}" >"$T/trace-$tr.txt" 2>&1 <<'PY' || true
import re, sys
bob, alice = open(sys.argv[1], errors="replace").read(), open(sys.argv[2], errors="replace").read()
port, TR = sys.argv[3], sys.argv[4]
def msgs(text, start):
    # baresip -s prints each message after a line "PROTO src -> dst"
    return [m.group(0) for m in re.finditer(r"^" + start + r"[^\n]*\n(?:[^\n]+\n)*", text.replace("\r", ""), re.M)]
def line(cond, what):
    print(("ok   " if cond else "BAD  ") + what)
via_cpmd = r"^Via: *SIP/2\.0/%s 127\.0\.0\.1:%s;branch=z9hG4bKcpm" % (TR, port)
inv = msgs(bob, "INVITE sip:")
line(len(inv) >= 1, "INVITE: bob received it")
line(bool(inv) and re.search(r"^Record-Route: *<sip:127\.0\.0\.1:%s[;>]" % port, inv[0], re.M | re.I) is not None, "INVITE: cpmd's Record-Route at bob")
line(bool(inv) and re.search(via_cpmd, inv[0], re.M | re.I) is not None, "INVITE: came from cpmd (top Via)")
line(any(re.search(r"^CSeq: *\d+ INVITE", m, re.M) for m in msgs(alice, r"SIP/2\.0 407")), "INVITE: alice got a 407")
line(any(re.search(r"^CSeq: *\d+ MESSAGE", m, re.M) for m in msgs(alice, r"SIP/2\.0 407")), "MESSAGE: alice got a 407")
for meth in ("ACK", "BYE"):
    got = msgs(bob, meth + " sip:")
    sent = msgs(alice, meth + " sip:")
    # the last one: alice's first ACK is the hop-by-hop ACK for the 407
    line(bool(sent) and re.search(r"^Route: *<sip:127\.0\.0\.1:%s[;>]" % port, sent[-1], re.M | re.I) is not None, meth + ": alice sent it with a Route to cpmd")
    line(bool(got), meth + ": bob received it")
    line(bool(got) and re.search(via_cpmd, got[-1], re.M | re.I) is not None, meth + ": came from cpmd (top Via)")
ok200 = [m for m in msgs(bob, r"SIP/2\.0 200") if re.search(r"^CSeq: *\d+ BYE", m, re.M | re.I)]
line(bool(ok200), "BYE: bob answered 200")
PY
	cat "$T/trace-$tr.txt"
	for what in "INVITE: bob received it" "INVITE: cpmd's Record-Route at bob" "INVITE: came from cpmd (top Via)" \
		"INVITE: alice got a 407" "MESSAGE: alice got a 407" "ACK: alice sent it with a Route to cpmd" \
		"ACK: bob received it" "ACK: came from cpmd (top Via)"; do
		grep -q -x -F "ok   $what" "$T/trace-$tr.txt" || fail "$tr: $what — not seen in the SIP traces"
	done

	check "$tr: (late) alice's BYE goes through cpmd to bob, both calls end (CALL_CLOSED)"
	for what in "BYE: alice sent it with a Route to cpmd" "BYE: bob received it" "BYE: came from cpmd (top Via)" "BYE: bob answered 200"; do
		grep -q -x -F "ok   $what" "$T/trace-$tr.txt" || late_fail "$tr: $what — not seen in the SIP traces"
	done
	grep -q '^ok: CALL_CLOSED at alice and bob' "$T/drive-$tr.out" || late_fail "$tr: CALL_CLOSED not reported by both baresips"
	if grep -q -E 'BYE to unknown user' "$CPMD_LOG"; then
		late_fail "$tr: cpmd: $(grep -E 'BYE to unknown user' "$CPMD_LOG" | tail -n 1)"
	fi
	bare_stop "$apid" "$bpid"
done

check "(late) baresip with an outbound proxy: REGISTER with Route: <cpmd;lr> reaches the registrar -> 401 -> 200"
cp_=$(bare_port) cc=$(free_port)
cd_=$(baresip_conf carol "$cp_" "$cc" udp carol-secret alice example.test "sip:127.0.0.1:$SIP_PORT;transport=udp")
bare_start carol-ob "$cd_"
cpid=$BARE_PID
if ! wait_for 10 call_log_has "registered carol@example\.test -> sip:[^ ]*127\.0\.0\.1:${cp_}[;> ]"; then
	first=$(grep -A1 -E '^SIP/2\.0 [0-9]+' "$T/carol-ob.out" | grep -E '^SIP/2\.0' | head -n 2 | tr '\n' ' ')
	late_fail "carol's REGISTER through the outbound proxy was not registered (answers: $first)"
fi
bare_stop "$cpid"

cpmd_alive || fail "cpmd died"
cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
[ "${#LATE[@]}" -eq 0 ] || fail "${#LATE[@]} late check(s) failed: $(printf '%s; ' "${LATE[@]}")"
echo "PASS"
