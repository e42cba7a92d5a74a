#!/usr/bin/env bash
# scripts/deps.sh [build|test|bench] — install the Debian 12 packages a profile needs.
#
#   build  compiler and libraries for `make`
#   test   build + unit/integration test tools (cmocka, sanitizers, SIPp, sipsak, baresip, ...)
#   bench  test + Kamailio (the reference server) and measurement tools
#
# Idempotent: when `dpkg -s` shows every package installed, it does nothing (no
# network).  Otherwise it runs `apt-get update` once, then installs what is missing
# with --no-install-recommends.  Needs root, or sudo.  A package that apt does not
# know is reported and skipped (build packages are mandatory: that is an error).
set -euo pipefail

profile=${1:-build}

BUILD_PKGS=(gcc make pkg-config libuv1-dev libsqlite3-dev libssl-dev libjansson-dev libxml2-dev
	libcurl4-openssl-dev libedit-dev)
TEST_PKGS=(libcmocka-dev clang llvm libclang-rt-14-dev sip-tester sipsak baresip-core
	sqlite3 python3 iproute2 procps jq valgrind curl python3-aiosmtpd openssl)
BENCH_PKGS=(kamailio kamailio-sqlite-modules kamailio-presence-modules linux-perf)

case $profile in
build) pkgs=("${BUILD_PKGS[@]}") ;;
test) pkgs=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}") ;;
bench) pkgs=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}" "${BENCH_PKGS[@]}") ;;
-h | --help | help)
	sed -n '2,11s/^# \{0,1\}//p' "$0"
	exit 0
	;;
*)
	echo "usage: $0 [build|test|bench]" >&2
	exit 2
	;;
esac

is_installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

missing=()
for p in "${pkgs[@]}"; do
	is_installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "deps.sh: all ${#pkgs[@]} '$profile' packages are installed"
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps.sh: missing packages (${missing[*]}) and no apt-get: install them by hand" >&2
	exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=(sudo)
	else
		echo "deps.sh: missing packages (${missing[*]}); run as root or install sudo" >&2
		exit 1
	fi
fi

echo "deps.sh: installing for '$profile': ${missing[*]}"
"${SUDO[@]}" apt-get update

# Keep only the names apt knows (a candidate version exists).
install=()
for p in "${missing[@]}"; do
	cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ { print $2; exit }')
	if [ -n "$cand" ] && [ "$cand" != "(none)" ]; then
		install+=("$p")
	else
		for b in "${BUILD_PKGS[@]}"; do
			if [ "$b" = "$p" ]; then
				echo "deps.sh: required package '$p' is not available from apt" >&2
				exit 1
			fi
		done
		echo "deps.sh: warning: package '$p' is not available from apt; skipped" >&2
	fi
done

if [ ${#install[@]} -gt 0 ]; then
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends "${install[@]}"
fi
echo "deps.sh: '$profile' packages ready"
