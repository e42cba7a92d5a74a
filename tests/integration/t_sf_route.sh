#!/usr/bin/env bash
# Messages the controller routes itself (issue 3):
#  - profile forward to a SIP URI (R35, R111): a local target gets the whole treatment
#    (live 200, or stored 202 for the target); a remote target (a SIPp UAS) answers for it;
#    forwards that loop end with 482;
#  - URI-list MESSAGE (RFC 5365): 202, one copy per recipient (online: live; offline:
#    stored; another domain: sent there), and a report per recipient to the sender;
#    refusals (no list part 400, too many recipients 403, not multipart 415);
#  - a message carried in INFO (seed 002 claim 7) with a store request, to an offline user:
#    202, delivered as a MESSAGE when the user registers; without a store request: 480;
#  - the same in an INVITE (claim 6, a SIPp UAC): the server answers for the user (200 whose
#    SDP rejects the offered stream), the ACK and BYE end it, the user gets the message.
. "$(dirname "$0")/lib.sh"
need python3 sipp
[ -x "$CPM" ] || fail "no cpm binary at $CPM (run make)"

for u in alice bob carol dave fwd ext loop1 loop2; do
	cpmd_user_add "$u@example.test" "$u-secret"
done
cpmd_start -o im.max_list_recipients=4 -o auth.trusted=127.0.0.1/32
cpmd user set fwd@example.test store-and-forward=forward:sip:carol@example.test >/dev/null
cpmd user set loop1@example.test store-and-forward=forward:sip:loop2@example.test >/dev/null
cpmd user set loop2@example.test store-and-forward=forward:sip:loop1@example.test >/dev/null

send() { # TO TEXT [options] — alice sends
	local to=$1 text=$2
	shift 2
	cpm --user alice@example.test --password alice-secret send "$@" "$to" "$text" \
		>"$T/send.out" 2>&1 || true
}
listen() { # NAME USER COUNT SECONDS
	bg_start "$1" "$CPM" --server "127.0.0.1:$SIP_PORT" --user "$2@example.test" \
		--password "$2-secret" listen --count "$3" --duration "$4" --json
}

check "forward to a local user who is offline: 202, stored for carol, delivered when she registers"
send fwd@example.test "via fwd, stored"
assert_contains "$T/send.out" "202 Accepted"
listen carol-1 carol 1 15
bg_wait "$BG_PID" 20
grep -q 'via fwd, stored' "$T/carol-1.out" || fail "carol did not get it: $(cat "$T/carol-1.out")"
grep -q '"from":"alice@example.test"' "$T/carol-1.out" || fail "not from alice: $(cat "$T/carol-1.out")"

check "forward to a local user who is online: 200, live"
listen carol-2 carol 1 15
carol_pid=$BG_PID
sleep 1.5
send fwd@example.test "via fwd, live"
assert_contains "$T/send.out" "200 OK"
bg_wait "$carol_pid" 20
grep -q 'via fwd, live' "$T/carol-2.out" || fail "carol did not get it live"

check "forward to another domain (a SIPp UAS): its answer reaches the sender"
sipp_uas_start uas_message.xml
cpmd user set ext@example.test "store-and-forward=forward:sip:ext@127.0.0.1:$UAS_PORT" >/dev/null
send ext@example.test "to the outside"
assert_contains "$T/send.out" "200 OK"
sipp_uas_wait 20
grep -q 'to the outside' "$UAS_LOG" || fail "the UAS did not get the message"

check "forwards that loop: 482"
send loop1@example.test "round and round"
assert_contains "$T/send.out" "482"

check "URI-list MESSAGE: bob online, carol offline, a UAS elsewhere, bob twice -> 202 + 3 reports"
listen bob-1 bob 1 20
bob_pid=$BG_PID
listen alice-1 alice 3 25
alice_pid=$BG_PID
sipp_uas_start uas_message.xml
sleep 1.5
list_body=$'--b1\r\nContent-Type: text/plain\r\n\r\nhello list\r\n--b1\r\nContent-Type: application/resource-lists+xml\r\nContent-Disposition: recipient-list\r\n\r\n<?xml version="1.0"?>\r\n<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list>\r\n<entry uri="sip:bob@example.test"/>\r\n<entry uri="sip:carol@example.test"/>\r\n<entry uri="sip:erin@127.0.0.1:'"$UAS_PORT"$'"/>\r\n<entry uri="sip:bob@example.test"/>\r\n</list></resource-lists>\r\n--b1--\r\n'
sipmsg --method MESSAGE --uri sip:list@example.test --from alice@example.test --to list@example.test \
	--user alice@example.test --password alice-secret \
	--header "Require: recipient-list-message" --ctype 'multipart/mixed;boundary="b1"' \
	--body "$list_body" >"$T/list.out" 2>&1 || true
assert_contains "$T/list.out" "STATUS 202"
bg_wait "$bob_pid" 25
grep -q 'hello list' "$T/bob-1.out" || fail "bob did not get the list message: $(cat "$T/bob-1.out")"
sipp_uas_wait 20
grep -q 'hello list' "$UAS_LOG" || fail "the UAS did not get the list message"
bg_wait "$alice_pid" 30
python3 - "$T/alice-1.out" >"$T/reports" <<'PY'
import json, re, sys
for l in open(sys.argv[1]):
    if not l.startswith("{"):
        continue
    m = json.loads(l)
    if m["content_type"] != "message/imdn+xml":
        continue
    st = re.search(r"<status><(\w+)/></status>", m["body"]).group(1)
    rcpt = re.search(r"<recipient-uri>([^<]*)</recipient-uri>", m["body"]).group(1)
    print(rcpt, st)
PY
sort "$T/reports" >"$T/reports.sorted"
cat "$T/reports.sorted"
printf '%s\n' "sip:bob@example.test delivered" "sip:carol@example.test stored" \
	"sip:erin@127.0.0.1 delivered" >"$T/want"
diff "$T/want" "$T/reports.sorted" || fail "per-recipient reports differ"
listen carol-3 carol 1 15
bg_wait "$BG_PID" 20
grep -q 'hello list' "$T/carol-3.out" || fail "carol did not get the stored list copy"

check "URI-list refusals: no list part 400, too many 403, not multipart 415"
nolist=$'--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1--\r\n'
sipmsg --method MESSAGE --uri sip:list@example.test --from alice@example.test --to list@example.test \
	--user alice@example.test --password alice-secret --header "Require: recipient-list-message" \
	--ctype 'multipart/mixed;boundary="b1"' --body "$nolist" >"$T/l2.out" 2>&1 || true
assert_contains "$T/l2.out" "STATUS 400"
many=$'--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1\r\nContent-Type: application/resource-lists+xml\r\nContent-Disposition: recipient-list\r\n\r\n<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list><entry uri="sip:a@example.test"/><entry uri="sip:b@example.test"/><entry uri="sip:c@example.test"/><entry uri="sip:d@example.test"/><entry uri="sip:e@example.test"/></list></resource-lists>\r\n--b1--\r\n'
sipmsg --method MESSAGE --uri sip:list@example.test --from alice@example.test --to list@example.test \
	--user alice@example.test --password alice-secret --header "Require: recipient-list-message" \
	--ctype 'multipart/mixed;boundary="b1"' --body "$many" >"$T/l3.out" 2>&1 || true
assert_contains "$T/l3.out" "STATUS 403"
sipmsg --method MESSAGE --uri sip:list@example.test --from alice@example.test --to list@example.test \
	--user alice@example.test --password alice-secret --header "Require: recipient-list-message" \
	--body "plain" >"$T/l4.out" 2>&1 || true
assert_contains "$T/l4.out" "STATUS 415"

check "INFO with a message and a store request to offline dave: 202, then a MESSAGE on register"
sipmsg --method INFO --uri sip:dave@example.test --from alice@example.test --to dave@example.test \
	--user alice@example.test --password alice-secret \
	--header "Request-Disposition: store-and-forward" --body "carried in INFO" >"$T/i1.out" 2>&1 || true
assert_contains "$T/i1.out" "STATUS 202"
sipmsg --method INFO --uri sip:dave@example.test --from alice@example.test --to dave@example.test \
	--user alice@example.test --password alice-secret --body "no store request" >"$T/i2.out" 2>&1 || true
assert_contains "$T/i2.out" "STATUS 480"
listen dave-1 dave 1 15
bg_wait "$BG_PID" 20
grep -q 'carried in INFO' "$T/dave-1.out" || fail "dave did not get the INFO's message: $(cat "$T/dave-1.out")"

check "INVITE with an SDP offer and a message, store request, offline dave: 200 (stream rejected), ACK, BYE 200; dave gets the message"
sipp_run sf_invite_uac.xml -s dave -t u1 || fail "the INVITE scenario failed"
grep -q 'm=audio 0 RTP/AVP 0' "$SIPP_LOG" || fail "no rejected stream in the 200"
listen dave-2 dave 1 15
bg_wait "$BG_PID" 20
grep -q 'carried in an INVITE' "$T/dave-2.out" || fail "dave did not get the INVITE's message: $(cat "$T/dave-2.out")"
grep -q '"content_type":"text/plain"' "$T/dave-2.out" || fail "not the text part: $(cat "$T/dave-2.out")"

cpmd_stop
assert_no_sanitizer_errors
