#!/usr/bin/env bash
# Robustness: replay the shared fuzz seeds and crash regressions (Kamailio's legacy test
# messages, the PROTOS c07-sip sample, OpenSIPS OSS-Fuzz regressions whole and cut at
# the first NUL, pjproject's SIP seeds) to cpmd over UDP and over TCP (a new connection
# each); after each, the server must still answer an OPTIONS.  At the end cpmd is alive,
# exits 0 on SIGTERM and its log (ASan build) has no sanitizer report.
# Some seeds carry real-world addresses: the test runs only inside a private network
# namespace (unshare -n, loopback only); without one it is skipped (77).
# Corpus: $CPM_CORPUS_DIR/fuzz-seeds, default <repo>/../shared/corpus.
if [ -z "${CPM_IN_NETNS:-}" ]; then
	if command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 &&
		unshare -n ip link set lo up 2>/dev/null; then
		export CPM_IN_NETNS=1
		# shellcheck disable=SC2016  # $0 expands in the inner shell
		exec unshare -n bash -c 'ip link set lo up && exec bash "$0"' "$0"
	fi
	echo "SKIP: no private network namespace (unshare -n) for seeds with real-world addresses"
	exit 77
fi
. "$(dirname "$0")/lib.sh"
need python3

SEEDS=${CPM_CORPUS_DIR:-$REPO/../shared/corpus}/fuzz-seeds
if [ ! -d "$SEEDS" ]; then
	echo "SKIP: no fuzz seeds at $SEEDS (set CPM_CORPUS_DIR)"
	exit 77
fi

files=()
for f in "$SEEDS"/kamailio-test-misc-sip/* "$SEEDS"/protos-c07-sip-sample/* \
	"$SEEDS"/opensips-ossfuzz-regressions/*.bin; do
	[ -f "$f" ] && files+=("$f")
done
while IFS= read -r f; do
	files+=("$f")
done < <(find "$SEEDS/pjproject-seeds/sip" "$SEEDS/pjproject-seeds/sip-dialog" -type f 2>/dev/null | sort)
# OpenSIPS passes its regressions with strlen(): also send the part before the first NUL
mkdir -p "$T/nulcut"
while IFS= read -r f; do
	files+=("$f")
done < <("$PYTHON" - "$T/nulcut" "$SEEDS"/opensips-ossfuzz-regressions/*.bin <<'PY'
import os, sys
out = sys.argv[1]
for p in sys.argv[2:]:
    data = open(p, "rb").read()
    if b"\0" in data:
        q = os.path.join(out, os.path.basename(p) + ".cut")
        open(q, "wb").write(data[:data.index(b"\0")])
        print(q)
PY
)
[ ${#files[@]} -gt 0 ] || { echo "SKIP: no seed files under $SEEDS"; exit 77; }

cpmd_start

for tr in udp tcp; do
	check "replay ${#files[@]} seeds over $tr, OPTIONS after each"
	opt=()
	[ "$tr" = udp ] || opt=(--tcp)
	"$PYTHON" "$SIPMSG" replay "${opt[@]}" --server "127.0.0.1:$SIP_PORT" --wait 0.2 \
		--check-options "${files[@]}" >"$T/replay-$tr.out" 2>&1 || {
		tail -n 5 "$T/replay-$tr.out"
		fail "server stopped answering during the $tr replay"
	}
	assert_eq "$(grep -c 'OPTIONS after: SIP/2.0' "$T/replay-$tr.out")" "${#files[@]}" \
		"$tr seeds followed by an answered OPTIONS"
	cpmd_alive || fail "cpmd died during the $tr replay"
done

check "cpmd still alive, clean exit on SIGTERM, no sanitizer report"
"$PYTHON" "$SIPMSG" request --server "127.0.0.1:$SIP_PORT" --method OPTIONS --expect 200 \
	>"$T/final-opt.out" || fail "final OPTIONS not answered 200"
cpmd_stop
assert_no_sanitizer_errors "$CPMD_LOG"
echo "PASS"
