#!/usr/bin/env bash
# scripts/test.sh [FILTER...] — Quick start: install test deps, build (ASan+UBSan and release)
# and run every test (unit + integration).  Ends with "N passed, N failed[, N skipped]";
# exits 1 if any test failed.  With FILTER, only tests whose name contains it are run
# (after the same build).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh test
if [ $# -gt 0 ]; then
	make -j2 MODE=asan all unit-bins
	make -j2 all
	exec tests/run.sh "$@"
fi
exec make -j2 check
