#!/usr/bin/env bash
# MSRP relay limits: msrp.max_connections (one more is closed at once),
# msrp.idle_timeout (a silent connection is closed, one with traffic stays),
# msrp.max_header_size (a larger header section closes the connection).
. "$(dirname "$0")/lib.sh"
need python3

PEER=$LIB_DIR/msrp_peer.py
cpmd_start -o msrp.max_connections=3 -o msrp.idle_timeout=2 -o msrp.max_header_size=1024

check "connection limit, idle timeout, header size"
"$PYTHON" "$PEER" --relay "127.0.0.1:$MSRP_PORT" --timeout 30 limits --max-connections 3 \
	--idle-timeout 2 --max-header 1024 >"$T/l.out" || fail "limits: $(cat "$T/l.out")"
assert_match "$CPMD_LOG" "msrp: too many connections \(3\)"
assert_match "$CPMD_LOG" "msrp conn [0-9]+ closed: idle timeout"

cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
echo PASS
