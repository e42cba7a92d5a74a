#!/usr/bin/env bash
# Profile forward to e-mail (issue 3; R35, R111 "to e-mail", seed 002 Fig. 1 user C):
# bob's profile is forward:mailto:bob@mail.test; a MESSAGE for him goes out by SMTP to a
# real SMTP server started here (smtp_sink.py, aiosmtpd) at smtp.url:
#  - taken by the mail server -> 202, the mail carries the text, the sender, the subject;
#  - the mail server refuses the recipient (550) -> 480;
#  - the mail server is down -> 503 with Retry-After (nothing acknowledged, nothing lost);
#  - smtp.url empty (e-mail off) -> 480.
. "$(dirname "$0")/lib.sh"
need python3
"$PYTHON" -c 'import aiosmtpd' 2>/dev/null || { echo "skip: python3-aiosmtpd missing"; exit 77; }
TR=${SF_TRANSPORT:-udp}

mkdir -p "$T/mail"
bg_start sink "$PYTHON" "$LIB_DIR/smtp_sink.py" --dir "$T/mail" --port-file "$T/mail.port" \
	--exit-after 120 --reject refused@mail.test=550
wait_for 10 test -s "$T/mail.port" || fail "the SMTP sink did not start: $(cat "$T/sink.out")"
SMTP_PORT=$(cat "$T/mail.port")

for u in alice bob carol dave; do
	cpmd_user_add "$u@example.test" "$u-secret"
done
cpmd_start -o "smtp.url=smtp://127.0.0.1:$SMTP_PORT" -o smtp.from=gateway@mail.test
cpmd user set bob@example.test store-and-forward=forward:mailto:bob@mail.test >/dev/null
cpmd user set carol@example.test store-and-forward=forward:mailto:refused@mail.test >/dev/null
dead=$(free_port)

send() { # TO TEXT [options]
	local to=$1 text=$2
	shift 2
	cpm --transport "$TR" --user alice@example.test --password alice-secret send "$@" "$to" "$text" \
		>"$T/send.out" 2>&1 || true
}

check "bob's messages go by e-mail: 202, the mail has the text, the subject, the sender"
send bob@example.test "hello by mail" --header "Subject: lunch?"
assert_contains "$T/send.out" "202"
wait_for 10 test -s "$T/mail/1.eml" || fail "no mail arrived"
cat "$T/mail/1.eml"
grep -q 'hello by mail' "$T/mail/1.eml" || fail "the text is not in the mail"
grep -qi '^Subject: lunch?' "$T/mail/1.eml" || fail "no subject"
grep -qi '^To: .*bob@mail.test' "$T/mail/1.eml" || fail "not to bob@mail.test"
grep -qi '^X-CPM-SIP-From: sip:alice@example.test' "$T/mail/1.eml" || fail "no SIP sender"
grep -q '"bob@mail.test"' "$T/mail/1.json" || fail "envelope: $(cat "$T/mail/1.json")"
grep -q '"gateway@mail.test"' "$T/mail/1.json" || fail "envelope sender: $(cat "$T/mail/1.json")"

check "the mail server refuses the address (550) -> 480"
send carol@example.test "to a refused address"
assert_contains "$T/send.out" "480"

check "the mail server is down -> 503 with Retry-After"
cpmd_stop
cpmd_start -o "smtp.url=smtp://127.0.0.1:$dead" -o smtp.timeout=5
cpm -v --transport "$TR" --user alice@example.test --password alice-secret send bob@example.test "mail server down" \
	>"$T/send.out" 2>&1 || true
assert_contains "$T/send.out" "503"
assert_match "$T/send.out" '^Retry-After: '

check "e-mail off (smtp.url empty) -> 480"
cpmd_stop
cpmd_start -o smtp.url=
send bob@example.test "nowhere to go"
assert_contains "$T/send.out" "480"

cpmd_stop
assert_no_sanitizer_errors
