#!/usr/bin/env bash
# scripts/run.sh [cpmd options] — Quick start: install build deps, build, create the demo
# users, then run the server in the foreground (Ctrl-C or SIGTERM stops it).
#
# With no options the server uses etc/cpmd.conf when present (else the built-in defaults,
# which are the same): SQLite under ./var, SIP on 127.0.0.1:5060 UDP+TCP,
# HTTP on 127.0.0.1:8080.  Any option given replaces the default "-c etc/cpmd.conf",
# e.g.  scripts/run.sh -c etc/cpmd.conf -o sip.listen=udp:127.0.0.1:5070
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh build
make -j2
mkdir -p var

if [ $# -eq 0 ] && [ -f etc/cpmd.conf ]; then
	set -- -c etc/cpmd.conf
fi

# Demo users, only when the store has none yet.  "user list" fails on a fresh
# database on some versions: treat that as "no users".
users=$(build/cpmd "$@" user list 2>/dev/null || true)
if ! grep -q '@' <<<"$users"; then
	build/cpmd "$@" user add alice@example.test --password alice-secret
	build/cpmd "$@" user add bob@example.test --password bob-secret
	echo "run.sh: created demo users alice@example.test and bob@example.test"
fi

cat <<'TXT'

cpmd is starting (SIP on 127.0.0.1:5060 UDP+TCP unless configured otherwise).
Try the demo users from two other terminals:

  build/cpm --user alice@example.test --password alice-secret --server 127.0.0.1 listen
  build/cpm --user bob@example.test --password bob-secret --server 127.0.0.1 send alice@example.test "hi"

Manage users with:  build/cpmd user add|passwd|del|list ...   (see README.md)

TXT
exec build/cpmd "$@"
