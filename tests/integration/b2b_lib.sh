# shellcheck shell=bash
# tests/integration/b2b_lib.sh — helpers for the B2BUA tests (t_b2b_*.sh), sourced after
# lib.sh.

# b2b_phone_got OUT BODY1 BODY2 — b2b_phone.py's output OUT holds exactly the two messages
# of b2b_uac_store.xml, in order: From alice ("Alice" <sip:alice@example.test>), her
# Dates (05:00:01 and 05:00:02), the bodies BODY1 and BODY2 (EREs).
b2b_phone_got() {
	local out=$1 got
	got=$(grep '^MESSAGE' "$out" || true)
	[ "$(printf '%s\n' "$got" | grep -c .)" = 2 ] || fail "deliveries: $(cat "$out")"
	printf '%s\n' "$got" | sed -n 1p |
		grep -q -E "^MESSAGE from=\"Alice\" <sip:alice@example\\.test>;tag=[^ ]* date=Mon, 30 Nov 2026 05:00:01 GMT body=$2\$" ||
		fail "first delivery: $(printf '%s\n' "$got" | sed -n 1p)"
	printf '%s\n' "$got" | sed -n 2p |
		grep -q -E "^MESSAGE from=\"Alice\" <sip:alice@example\\.test>;tag=[^ ]* date=Mon, 30 Nov 2026 05:00:02 GMT body=$3\$" ||
		fail "second delivery: $(printf '%s\n' "$got" | sed -n 2p)"
}
