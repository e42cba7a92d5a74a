#!/usr/bin/env bash
# MSRP relay AUTH (RFC 4976 §5.1, §6.2): 401 with Digest challenges (SHA-256 and MD5),
# 200 with Use-Path and Expires for the user's SIP credentials (user part and realm),
# a refresh of the same session, the same 401 for a wrong password and an unknown user,
# 423 with Min-Expires / Max-Expires, and the counters in /api/v1/status.
. "$(dirname "$0")/lib.sh"
need python3 curl

PEER=$LIB_DIR/msrp_peer.py
cpmd_user_add alice@example.test alice-secret
cpmd_start -o msrp.min_expires=60 -o msrp.max_expires=600 -o msrp.default_expires=300
peer() { "$PYTHON" "$PEER" --relay "127.0.0.1:$MSRP_PORT" --timeout 20 "$@"; }

check "AUTH alice (SHA-256): 401 then 200 with Use-Path and the default Expires"
peer auth --user alice --password alice-secret --algorithm SHA-256 >"$T/a1.out" || fail "auth: $(cat "$T/a1.out")"
assert_contains "$T/a1.out" "EXPIRES=300"

check "AUTH with MD5 credentials and Expires 120"
peer auth --user alice --password alice-secret --algorithm MD5 --expires 120 >"$T/a2.out" ||
	fail "auth md5: $(cat "$T/a2.out")"
assert_contains "$T/a2.out" "EXPIRES=120"

check "wrong password and unknown user: 401 with a new challenge"
peer auth --user alice --password wrong --expect 401 >"$T/a4.out" || fail "$(cat "$T/a4.out")"
peer auth --user nobody --password x --expect 401 >"$T/a5.out" || fail "$(cat "$T/a5.out")"

check "Expires out of bounds: 423 with Min-Expires / Max-Expires"
peer auth --user alice --password alice-secret --expires 10 --expect 423 >"$T/a6.out" || fail "$(cat "$T/a6.out")"
assert_contains "$T/a6.out" "MIN_EXPIRES=60"
peer auth --user alice --password alice-secret --expires 100000 --expect 423 >"$T/a7.out" || fail "$(cat "$T/a7.out")"
assert_contains "$T/a7.out" "MAX_EXPIRES=600"

check "status counters"
curl -sf "http://127.0.0.1:$HTTP_PORT/api/v1/status" >"$T/status.json" || fail "status"
"$PYTHON" - "$T/status.json" <<'PY' || fail "status: $(cat "$T/status.json")"
import json, sys
m = json.load(open(sys.argv[1]))["msrp"]
assert m["auth_ok"] == 4, m          # 2 AUTHs and their refreshes
assert m["auth_failed"] == 2, m
PY
assert_match "$CPMD_LOG" "msrp AUTH alice@example.test: session [0-9a-f]{20}"

cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
echo PASS
