# shellcheck shell=bash
# tests/integration/reg_lib.sh — shared helpers of the registrar / proxy / transport tests
# (t_registrar_*, t_auth_*, t_proxy_*, t_tcp_flow, t_ipv6).  Source it after lib.sh.
# shellcheck disable=SC2034
REG_SIP=$LIB_DIR/reg_sip.py
# The pyenv shim costs ~1 s per start on the test hosts; the system python3 (stdlib
# only is needed) starts in ~0.1 s.  Put it first for lib.sh's helpers too (free_port).
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 8))'; then
	PATH=/usr/bin:$PATH
fi
_RFC_FAILS=()

# regsip ARGS... — reg_sip.py request against cpmd (127.0.0.1:$SIP_PORT unless --server).
regsip() {
	python3 "$REG_SIP" request --server "${REG_SERVER:-127.0.0.1:$SIP_PORT}" "$@"
}

# rs NAME ARGS... — run regsip, final response in $T/NAME.txt, output in $T/NAME.log;
# sets RS_FILE and RS_STATUS (the final status code, or "none").  Never fails by itself.
rs() {
	local name=$1
	shift
	RS_FILE=$T/$name.txt
	rm -f "$RS_FILE"
	regsip --final "$RS_FILE" "$@" >"$T/$name.log" 2>&1 || true
	RS_STATUS=$(sed -n 's/^STATUS //p' "$T/$name.log" | tail -n 1)
	[ -n "$RS_STATUS" ] || RS_STATUS=none
	[ -f "$RS_FILE" ] || : >"$RS_FILE"
}

# expect_status CODE WHAT — the last rs answered CODE (CODE may be an ERE like '48[23]').
expect_status() {
	if ! grep -q -E "^($1)\$" <<<"$RS_STATUS"; then
		echo "   last response: $(head -n 1 "$RS_FILE" | tr -d '\r')" >&2
		fail "$2: expected $1, got $RS_STATUS"
	fi
}

# A deviation from an RFC that must not stop the remaining checks: recorded, reported
# at rfc_finish (which then fails the test).
rfc_fail() {
	printf 'FAIL (continuing): %s\n' "$*" >&2
	_RFC_FAILS+=("$*")
}

rfc_finish() {
	if [ "${#_RFC_FAILS[@]}" -gt 0 ]; then
		local f
		for f in "${_RFC_FAILS[@]}"; do printf 'FAILED CHECK: %s\n' "$f" >&2; done
		fail "${#_RFC_FAILS[@]} check(s) failed"
	fi
}

# Contact values of a saved response, one per line (several per header are split).
contacts_of() { # FILE
	python3 - "$1" <<'PY'
import re, sys
data = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
head = data.split("\r\n\r\n", 1)[0]
for line in head.split("\r\n")[1:]:
    name, _, value = line.partition(":")
    if name.strip().lower() not in ("contact", "m"):
        continue
    # split on commas outside <> and quotes
    depth, q, cur = 0, False, ""
    for ch in value:
        if ch == '"':
            q = not q
        elif not q and ch == "<":
            depth += 1
        elif not q and ch == ">":
            depth -= 1
        if ch == "," and not q and depth == 0:
            print(cur.strip()); cur = ""
        else:
            cur += ch
    if cur.strip():
        print(cur.strip())
PY
}

# The Contact value listing URI (exact <URI>), or empty.
contact_line() { # FILE URI
	contacts_of "$1" | grep -F -- "<$2>" | head -n 1 || true
}

# A parameter of the Contact listing URI (empty if absent).
contact_param() { # FILE URI PARAM
	contact_line "$1" "$2" | tr ';' '\n' | sed -n -E "s/^[[:space:]]*$3=\"?([^\"]*)\"?[[:space:]]*\$/\\1/Ip" | head -n 1
}

ncontacts() { # FILE
	contacts_of "$1" | grep -c . || true
}

# Is ::1 usable (a UDP and TCP socket bind, and the kernel routes to it)?
ipv6_usable() {
	python3 - <<'PY'
import socket, sys
try:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET6, kind)
        s.bind(("::1", 0))
        s.close()
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.bind(("::1", 0))
    v = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    v.sendto(b"x", u.getsockname())
    u.settimeout(1)
    u.recvfrom(10)
except OSError as e:
    print(e, file=sys.stderr)
    sys.exit(1)
PY
}
