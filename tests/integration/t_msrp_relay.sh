#!/usr/bin/env bash
# MSRP relay (RFC 4976 §6, §7): two clients AUTHed on cpmd exchange a 1 KB message and
# a reply (To-Path/From-Path rewritten at each of the relay's URIs), several messages,
# a 5 MB message in 64 KB chunks and a 5 MB single chunk with a slow reader: streamed
# hop by hop, the relay's buffered bytes stay bounded (status counter buffered_max) and
# backpressure engages; a peer without a relay that listens (the relay connects) and
# one that connects first and binds its connection with an empty SEND (R66); a sender
# that goes away mid-chunk (the next hop's copy ends with '#', nothing stays behind).
. "$(dirname "$0")/lib.sh"
need python3

PEER=$LIB_DIR/msrp_peer.py
cpmd_user_add alice@example.test alice-secret
cpmd_user_add bob@example.test bob-secret
cpmd_start -o msrp.max_out_buffer=65536
peer() {
	"$PYTHON" "$PEER" --relay "127.0.0.1:$MSRP_PORT" --status "http://127.0.0.1:$HTTP_PORT/api/v1/status" \
		--timeout 60 "$@"
}
AB=(--alice alice:alice-secret --bob bob:bob-secret)

check "1 KB message alice -> bob through the relay, and bob's reply"
peer chat "${AB[@]}" --size 1024 --reply >"$T/c1.out" || fail "chat: $(cat "$T/c1.out")"

check "20 messages of 10 KB in 4 KB chunks"
peer chat "${AB[@]}" --count 20 --size 10240 --chunk 4096 --binary >"$T/c2.out" || fail "$(cat "$T/c2.out")"

check "5 MB in 64 KB chunks, slow reader: relay memory bounded, backpressure"
# bound: max_out_buffer (64 KB) on the two connections, a 64 KB read and a header
# section on each, with slack for the answers queued meanwhile
peer chat "${AB[@]}" --size $((5 * 1024 * 1024)) --chunk 65536 --binary --slow 2 --bob-rcvbuf 16384 \
	--max-buffered $((512 * 1024)) --expect-stalls >"$T/c3.out" || fail "$(cat "$T/c3.out")"

check "5 MB in one chunk, slow reader: streamed, never buffered whole"
peer chat "${AB[@]}" --size $((5 * 1024 * 1024)) --binary --slow 2 --bob-rcvbuf 16384 \
	--max-buffered $((512 * 1024)) --expect-stalls >"$T/c4.out" || fail "$(cat "$T/c4.out")"

check "bob without a relay, listening: the relay connects to him"
peer chat --alice alice:alice-secret --bob-mode listen --count 3 --size 3000 --reply >"$T/c5.out" ||
	fail "$(cat "$T/c5.out")"

check "bob without a relay, connecting first with an empty SEND: his connection is used"
peer chat --alice alice:alice-secret --bob-mode connect --count 3 --size 3000 --reply >"$T/c6.out" ||
	fail "$(cat "$T/c6.out")"

check "alice goes away in the middle of a chunk: bob's copy is interrupted ('#')"
peer cut "${AB[@]}" >"$T/c7.out" || fail "$(cat "$T/c7.out")"

check "figures"
grep -h -E '^(RATE|STATUS)=' "$T"/c3.out "$T"/c4.out

cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
echo PASS
