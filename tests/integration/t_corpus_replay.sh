#!/usr/bin/env bash
# Robustness: replay every RFC 4475 and RFC 5118 torture message (shared corpus) to cpmd
# as one UDP datagram each (and the framing cases clerr/ncl/mcl01/dblreq also over TCP);
# after each, the server must still answer an OPTIONS.  At the end cpmd is alive, exits 0
# on SIGTERM, and (ASan build) its log holds no sanitizer report.
# Some messages carry foreign addresses in Via/Contact: the test runs in a private network
# namespace (unshare -n, loopback only) when it can; cpmd only binds 127.0.0.1 anyway.
# Corpus: $CPM_CORPUS_DIR, default <repo>/../shared/corpus; missing -> skipped (77).
if [ -z "${CPM_IN_NETNS:-}" ] && command -v unshare >/dev/null 2>&1 &&
	command -v ip >/dev/null 2>&1 && unshare -n ip link set lo up 2>/dev/null; then
	export CPM_IN_NETNS=1
	# shellcheck disable=SC2016  # $0 expands in the inner shell
	exec unshare -n bash -c 'ip link set lo up && exec bash "$0"' "$0"
fi
. "$(dirname "$0")/lib.sh"
need python3

CORPUS=${CPM_CORPUS_DIR:-$REPO/../shared/corpus}
if [ ! -d "$CORPUS/rfc4475" ] && [ ! -d "$CORPUS/rfc5118" ]; then
	echo "SKIP: no corpus at $CORPUS (set CPM_CORPUS_DIR)"
	exit 77
fi
[ -n "${CPM_IN_NETNS:-}" ] && say "running in a private network namespace"

files=()
for f in "$CORPUS"/rfc4475/*.sip "$CORPUS"/rfc5118/*.sip; do
	[ -f "$f" ] && files+=("$f")
done
[ ${#files[@]} -gt 0 ] || { echo "SKIP: no *.sip files in $CORPUS"; exit 77; }

cpmd_user_add alice@example.test alice-secret
cpmd_start

check "replay ${#files[@]} torture messages over UDP, OPTIONS after each"
"$PYTHON" "$SIPMSG" replay --server "127.0.0.1:$SIP_PORT" --wait 0.5 --check-options \
	"${files[@]}" | tee "$T/replay-udp.out" || fail "server stopped answering (see above)"
assert_eq "$(grep -c 'OPTIONS after: SIP/2.0' "$T/replay-udp.out")" "${#files[@]}" \
	"files followed by an answered OPTIONS"

tcp_files=()
for n in clerr ncl mcl01 dblreq; do
	[ -f "$CORPUS/rfc4475/$n.sip" ] && tcp_files+=("$CORPUS/rfc4475/$n.sip")
done
if [ ${#tcp_files[@]} -gt 0 ]; then
	check "replay the framing cases over TCP: ${#tcp_files[@]} files, OPTIONS after each"
	"$PYTHON" "$SIPMSG" replay --tcp --server "127.0.0.1:$SIP_PORT" --wait 0.5 --check-options \
		"${tcp_files[@]}" | tee "$T/replay-tcp.out" || fail "server stopped answering after TCP replay"
fi

check "no message got a 5xx server error (crash-like answers)"
if grep -E ': SIP/2\.0 50[0-3] ' "$T/replay-udp.out"; then
	say "note: some torture messages were answered 500-503 (listed above)"
fi

check "cpmd still alive, clean exit on SIGTERM, no sanitizer report"
cpmd_alive || fail "cpmd died during the replay"
timeout 10 "$PYTHON" "$SIPMSG" request --server "127.0.0.1:$SIP_PORT" --method OPTIONS \
	--expect 200 >"$T/final-opt.out" || fail "final OPTIONS not answered 200"
cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
echo "PASS"
