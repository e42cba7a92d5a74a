#!/usr/bin/env bash
# Presence between real phones (baresip 1.0, libre 1.1) through cpmd, issue 5:
#  - alice's two baresips register and PUBLISH (account pubint; PIDF with a fixed tuple id
#    "t4109", so cpmd must rename one to compose them), each challenged (407, MD5); a
#    phone that sends two initial PUBLISHes at once (baresip 1.0 does) keeps one
#    publication (presence.replace_same_source); its first PUBLISH, before it registered,
#    says <basic>unknown</basic> and gets 400;
#  - bob's baresip has alice as a contact with presence and SUBSCRIBEs (Event: presence):
#    cpmd answers it as the presence agent (not alice's phones), bob's baresip shows
#    alice "online" from the composed document, which carries both devices' tuples;
#  - alice's phones go offline (ctrl_tcp "presence_offline": PUBLISH closed, the same
#    entity-tag): bob's baresip shows alice "offline";
#  - SIGTERM: bob's subscription ends with reason=deactivated.
. "$(dirname "$0")/lib.sh"
need baresip python3
[ -f /usr/lib/baresip/modules/presence.so ] || { echo "SKIP: baresip presence module missing"; exit 77; }
[ -f /usr/lib/baresip/modules/ctrl_tcp.so ] || { echo "SKIP: baresip ctrl_tcp module missing"; exit 77; }

cpmd_user_add alice@127.0.0.1 alice-secret
cpmd_user_add bob@127.0.0.1 bob-secret
# libre 1.1 answers MD5 challenges only
cpmd_start -o auth.algorithms=MD5 -o presence.default_policy=allow \
	-o presence.min_notify_interval=0
dom=127.0.0.1:$SIP_PORT

# baresip also binds TLS on its SIP port + 1: two free ports in a row
pair_port() {
	local p
	for _ in $(seq 1 50); do
		p=$(free_port)
		if ! _port_bound "$((p + 1))" && [ "$((p + 1))" -lt 32768 ]; then
			_PORTS+="$((p + 1)) "
			echo "$p"
			return 0
		fi
	done
	fail "no pair of free ports for baresip"
}
# bare NAME USER PASSWORD ACCOUNT-PARAMS [CONTACT] — configure and start one baresip
# (-s: SIP trace on its output); sets CTRL (its ctrl_tcp port) and BARE (its pid)
bare() {
	local d=$T/$1 sp
	sp=$(pair_port)
	CTRL=$(free_port)
	mkdir -p "$d"
	cat >"$d/config" <<CONF
sip_listen		127.0.0.1:$sp
ctrl_tcp_listen		127.0.0.1:$CTRL
module_path		/usr/lib/baresip/modules
module_tmp		uuid.so
module_tmp		account.so
module_app		contact.so
module_app		menu.so
module_app		presence.so
module			ctrl_tcp.so
CONF
	echo "<sip:$2@$dom;transport=udp>;auth_pass=$3;regint=600$4" >"$d/accounts"
	: >"$d/contacts"
	[ -z "${5:-}" ] || echo "\"$5\" <sip:$5@$dom>;presence=p2p" >"$d/contacts"
	# line-buffered: the test reads the output while baresip runs
	bg_start "$1" timeout -k 5 90 stdbuf -oL -eL baresip -s -f "$d"
	BARE=$BG_PID
}
ctrl() { # PORT COMMAND — one ctrl_tcp command (netstring JSON), the answer on stdout
	"$PYTHON" - "$1" "$2" <<'PY'
import json, socket, sys, time
port, cmd = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
b = json.dumps({"command": cmd, "token": "t"}).encode()
s.sendall(str(len(b)).encode() + b":" + b + b",")
buf, end = b"", time.time() + 5
while time.time() < end and b'"response"' not in buf:
    try:
        buf += s.recv(65536)
    except socket.timeout:
        break
print(buf.decode(errors="replace"))
PY
}

check "alice's two phones register and publish (407 then 200 with SIP-ETag)"
bare alice1 alice alice-secret ";pubint=60"
A1=$BARE A1C=$CTRL
bare alice2 alice alice-secret ";pubint=60"
A2=$BARE A2C=$CTRL
published() { [ "$(grep -c 'alice@127.0.0.1 published' "$CPMD_LOG")" -ge 2 ]; }
wait_for 15 published ||
	fail "alice's phones did not publish: $(grep -i publish "$CPMD_LOG" | tail -n 5)"
grep -q -E '^SIP/2\.0 407' "$T/alice1.out" || fail "alice's PUBLISH was not challenged"
grep -q -E '^SIP-ETag: [0-9a-f]{16}' "$T/alice1.out" || fail "no SIP-ETag at alice's phone"

check "bob's phone subscribes to alice: cpmd answers, bob sees alice online (both tuples)"
bare bob bob bob-secret "" alice
B=$BARE BC=$CTRL
wait_for 15 grep -q "bob@127.0.0.1 subscribed to presence of alice@127.0.0.1" "$CPMD_LOG" ||
	fail "bob's SUBSCRIBE did not reach cpmd's presence agent"
# baresip prints no change from its initial "Unknown": ask for its contact list
alice_shown() { ctrl "$BC" contacts >"$T/contacts.out" && grep -q -E "$1" "$T/contacts.out"; }
wait_for 10 alice_shown "Online.*sip:alice@127\.0\.0\.1:$SIP_PORT" ||
	fail "bob's baresip does not show alice online: $(cat "$T/contacts.out")"
# one tuple per phone (a phone that published twice at start replaced its first)
grep -q 'id="t4109"' "$T/bob.out" && grep -q 'id="t4109-2"' "$T/bob.out" ||
	fail "the NOTIFY does not carry both phones' tuples"
assert_not_contains "$T/bob.out" 'id="t4109-3"'

check "alice's phones go offline: bob sees alice offline"
ctrl "$A1C" presence_offline >"$T/ctrl1.out"
ctrl "$A2C" presence_offline >"$T/ctrl2.out"
wait_for 10 grep -q -E "^<sip:alice@127\.0\.0\.1:$SIP_PORT> changed status from .*Online.* to .*Offline" \
	"$T/bob.out" || fail "bob's baresip does not show alice offline: $(grep -i status "$T/bob.out" | tail -n 5)"
grep -q "alice@127.0.0.1 modified publication" "$CPMD_LOG" || fail "no modify in cpmd.log"

cpmd_stop
grep -q "Subscription-State: terminated;reason=deactivated" "$T/bob.out" ||
	fail "bob's baresip got no terminating NOTIFY at shutdown"
for p in "$A1" "$A2" "$B"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "$A1" "$A2" "$B"; do bg_wait "$p" 10; done
assert_no_sanitizer_errors
echo PASS
