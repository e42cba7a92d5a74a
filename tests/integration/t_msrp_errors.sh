#!/usr/bin/env bash
# MSRP relay errors (RFC 4975 §7.1.2, §7.3; RFC 4976 §6, §7.3): 481 for an unknown
# session, a To-Path not for the relay, a relay URI without a session or a To-Path
# ending at the relay; 403 through another client's session; 400 for a bad header;
# no answer to REPORT or Failure-Report: no; REPORTs generated on failure: 408 when the
# next hop does not answer within msrp.transaction_timeout, the next hop's 481, 408 when
# it cannot be reached; a 413 while the chunk is still arriving cuts the next hop's stream
# ('#') and is the relay's answer; a non-MSRP stream is closed.
. "$(dirname "$0")/lib.sh"
need python3

PEER=$LIB_DIR/msrp_peer.py
cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
cpmd_start -o msrp.transaction_timeout=2 -o msrp.connect_timeout=2
peer() { "$PYTHON" "$PEER" --relay "127.0.0.1:$MSRP_PORT" --timeout 30 "$@"; }
AB=(--alice alice:alice-secret --bob bob:bob-secret)

check "481 / 403 / 400, no answer to REPORT and Failure-Report: no"
peer errors "${AB[@]}" >"$T/e1.out" || fail "errors: $(cat "$T/e1.out")"

check "REPORTs: 408 timeout, 481 from the next hop, 413 mid-chunk, unreachable next hop"
peer report "${AB[@]}" >"$T/e2.out" || fail "report: $(cat "$T/e2.out")"
assert_match "$CPMD_LOG" "msrp REPORT 408 for message"
assert_match "$CPMD_LOG" "msrp REPORT 481 for message"

cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
echo PASS
