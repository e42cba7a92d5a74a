#!/usr/bin/env bash
# The SMTP sink of the e-mail interworking tests (smtp_sink.py, aiosmtpd), driven by
# two independent clients, curl's SMTP (the libcurl that cpmd uses, through its CLI) and
# Python's smtplib: a mail is stored byte-exact with its envelope (RFC 5321 §4.5.2
# dot-stuffing undone), --reject answers RCPT with 5xx/4xx (§4.2), --data-reply refuses
# the data, --auth requires AUTH (RFC 4954), STARTTLS (RFC 3207) is offered with
# --tls-cert, --max-messages and --exit-after stop it.  The e-mail module itself is tested
# against this sink by tests/unit/iwf/test_iwf_smtp.c; this test checks the sink that the
# forward:mailto integration tests build on.
. "$(dirname "$0")/lib.sh"
need curl openssl
SINK=$LIB_DIR/smtp_sink.py
"$PYTHON" -c 'import aiosmtpd' 2>/dev/null || {
	echo "SKIP: python3-aiosmtpd is not installed"
	exit 77
}

sink_start() { # NAME ARGS... — start a sink in $T/NAME, its port in $SINK_PORT
	local name=$1
	shift
	mkdir -p "$T/$name"
	bg_start "sink-$name" "$PYTHON" "$SINK" --dir "$T/$name" --port-file "$T/$name/port" \
		--exit-after 60 "$@"
	SINK_PID=$BG_PID
	wait_for 10 test -s "$T/$name/port" || fail "sink $name did not start: $(cat "$T/sink-$name.out")"
	SINK_PORT=$(cat "$T/$name/port")
}

printf 'From: <alice@example.test>\r\nTo: <bob@example.org>\r\nSubject: t\r\n\r\nline 1\r\n.leading dot\r\n.\r\nend\r\n' >"$T/mail.txt"

check "curl: a mail is stored byte-exact, with its envelope"
sink_start plain --reject "bad@example.org=550:5.1.1 no such user" \
	--reject "busy@example.org=451:4.3.0 busy"
curl -sS --url "smtp://127.0.0.1:$SINK_PORT" --mail-from im@example.test \
	--mail-rcpt bob@example.org --upload-file "$T/mail.txt" || fail "curl: exit $?"
wait_for 5 test -s "$T/plain/1.eml" || fail "no 1.eml"
cmp "$T/mail.txt" "$T/plain/1.eml" || fail "1.eml differs from what was sent"
jq -e '.mail_from == "im@example.test" and .rcpt_tos == ["bob@example.org"] and .tls == false
	and .size == 95' "$T/plain/1.json" >/dev/null || fail "1.json: $(cat "$T/plain/1.json")"
grep -q '^MSG 1 im@example.test bob@example.org$' "$T/sink-plain.out" || fail "no MSG line"

check "--reject: 550 and 451 to RCPT TO (curl exit 55), nothing stored"
rc=0
curl -sS --url "smtp://127.0.0.1:$SINK_PORT" --mail-from im@example.test \
	--mail-rcpt bad@example.org --upload-file "$T/mail.txt" 2>"$T/curl.err" || rc=$?
assert_eq "$rc" 55 "curl exit for a 550 recipient"
assert_contains "$T/curl.err" "550"
rc=0
curl -sS --url "smtp://127.0.0.1:$SINK_PORT" --mail-from im@example.test \
	--mail-rcpt busy@example.org --upload-file "$T/mail.txt" 2>"$T/curl.err" || rc=$?
assert_eq "$rc" 55 "curl exit for a 451 recipient"
assert_contains "$T/curl.err" "451"
[ ! -e "$T/plain/2.eml" ] || fail "a refused mail was stored"

check "smtplib: replies seen by another client (550 names the recipient, 451, 250)"
"$PYTHON" - "$SINK_PORT" >"$T/smtplib.out" 2>&1 <<'PY' || fail "smtplib: $(cat "$T/smtplib.out")"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.ehlo("client.test")
assert s.mail("im@example.test")[0] == 250
code, text = s.rcpt("bad@example.org")
assert (code, text) == (550, b"5.1.1 no such user"), (code, text)
assert s.rcpt("busy@example.org")[0] == 451
assert s.rcpt("carol@example.org")[0] == 250
code, text = s.data(b"Subject: two\r\n\r\nbody\r\n")
assert code == 250 and text.startswith(b"2.0.0 Ok: queued as sink-2"), (code, text)
s.quit()
PY
wait_for 5 test -s "$T/plain/2.eml" || fail "no 2.eml"
jq -e '.rcpt_tos == ["carol@example.org"]' "$T/plain/2.json" >/dev/null ||
	fail "2.json: $(cat "$T/plain/2.json")"

check "--data-reply 554: the data is refused (curl exit 55 after DATA), nothing stored"
sink_start refuse --data-reply "554:5.6.0 refused"
rc=0
curl -sS --url "smtp://127.0.0.1:$SINK_PORT" --mail-from im@example.test \
	--mail-rcpt bob@example.org --upload-file "$T/mail.txt" 2>"$T/curl.err" || rc=$?
[ "$rc" -ne 0 ] || fail "curl succeeded against --data-reply 554"
[ ! -e "$T/refuse/1.eml" ] || fail "a refused mail was stored"

check "--auth: required before MAIL (530), wrong password 535, right one stored with the user"
sink_start auth --auth im:s3cret
rc=0
curl -sS --url "smtp://127.0.0.1:$SINK_PORT" --mail-from im@example.test \
	--mail-rcpt bob@example.org --upload-file "$T/mail.txt" 2>"$T/curl.err" || rc=$?
[ "$rc" -ne 0 ] || fail "a mail without AUTH was accepted"
rc=0
curl -sS --url "smtp://127.0.0.1:$SINK_PORT" --user im:wrong --mail-from im@example.test \
	--mail-rcpt bob@example.org --upload-file "$T/mail.txt" 2>"$T/curl.err" || rc=$?
assert_eq "$rc" 67 "curl exit for a wrong password (CURLE_LOGIN_DENIED)"
curl -sS --url "smtp://127.0.0.1:$SINK_PORT" --user im:s3cret --mail-from im@example.test \
	--mail-rcpt bob@example.org --upload-file "$T/mail.txt" || fail "AUTH: curl exit $?"
wait_for 5 test -s "$T/auth/1.eml" || fail "no 1.eml"
jq -e '.auth_user == "im"' "$T/auth/1.json" >/dev/null || fail "1.json: $(cat "$T/auth/1.json")"

check "--tls-cert --require-tls: STARTTLS with a verified certificate, plain refused"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$T/key.pem" -out "$T/cert.pem" \
	>/dev/null 2>&1 || fail "openssl req"
sink_start tls --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" --require-tls --max-messages 1
rc=0
curl -sS --url "smtp://127.0.0.1:$SINK_PORT" --mail-from im@example.test \
	--mail-rcpt bob@example.org --upload-file "$T/mail.txt" 2>"$T/curl.err" || rc=$?
[ "$rc" -ne 0 ] || fail "a plain mail was accepted by --require-tls"
curl -sS --ssl-reqd --cacert "$T/cert.pem" --url "smtp://127.0.0.1:$SINK_PORT" \
	--mail-from im@example.test --mail-rcpt bob@example.org --upload-file "$T/mail.txt" ||
	fail "STARTTLS: curl exit $?"
wait_for 5 test -s "$T/tls/1.eml" || fail "no 1.eml"
jq -e '.tls == true' "$T/tls/1.json" >/dev/null || fail "1.json: $(cat "$T/tls/1.json")"

check "--max-messages 1: the sink exits after its first mail"
bg_wait "$SINK_PID" 10
assert_eq "$BG_RC" 0 "sink exit code after --max-messages"

check "--exit-after: the sink stops by itself"
mkdir -p "$T/short"
bg_start sink-short "$PYTHON" "$SINK" --dir "$T/short" --exit-after 1
bg_wait "$BG_PID" 10
assert_eq "$BG_RC" 0 "sink exit code after --exit-after 1"
grep -q '^PORT [0-9]\+$' "$T/sink-short.out" || fail "no PORT line: $(cat "$T/sink-short.out")"
echo PASS
