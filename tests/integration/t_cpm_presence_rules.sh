#!/usr/bin/env bash
# Users manage who may watch them with `cpm presence allow|block|pending|remove|list`
# (issue 5: the HTTP API behind it, PUT/GET /api/v1/users/AOR/watchers with Digest):
#  - bob blocks carol, allows the whole domain *@example.test, puts dave on pending;
#    `cpm presence list` shows the three rules;
#  - carol's SUBSCRIBE is refused (403, `cpm watch` fails), alice (by the domain rule)
#    gets bob's presence, dave's subscription is pending (202 / pending state);
#  - remove drops carol's rule: she falls under the domain rule and may watch;
#  - a malformed watcher is refused (400, exit 1), a wrong password too (401, exit 1),
#    and the server's view (`cpmd presence list`) is the same as the user's.
. "$(dirname "$0")/lib.sh"
[ -x "$CPM" ] || fail "no cpm binary at $CPM (run make)"

for u in alice bob carol dave; do cpmd_user_add "$u@example.test" "$u-secret"; done
cpmd_start -o presence.default_policy=confirm -o presence.min_notify_interval=0
HTTP="http://127.0.0.1:$HTTP_PORT"
bobcpm() { cpm --http "$HTTP" --user bob@example.test --password bob-secret "$@"; }

check "bob sets his rules and lists them"
bobcpm presence block carol@example.test >"$T/r1.out" 2>&1 || fail "block: $(cat "$T/r1.out")"
assert_contains "$T/r1.out" "carol@example.test: block"
bobcpm presence allow '*@example.test' >"$T/r2.out" 2>&1 || fail "allow: $(cat "$T/r2.out")"
bobcpm presence pending dave@example.test >"$T/r3.out" 2>&1 || fail "pending: $(cat "$T/r3.out")"
bobcpm presence list >"$T/list.out" 2>&1 || fail "list: $(cat "$T/list.out")"
cat "$T/list.out"
assert_match "$T/list.out" '^block +carol@example.test$'
assert_match "$T/list.out" '^allow +\*@example.test$'
assert_match "$T/list.out" '^pending +dave@example.test$'
cpmd presence list bob@example.test >"$T/srv.out" 2>&1 || fail "cpmd presence list: $(cat "$T/srv.out")"
assert_contains "$T/srv.out" "carol@example.test"

watch_once() { # USER — one NOTIFY or a refusal
	cpm --user "$1@example.test" --password "$1-secret" watch bob@example.test --count 1 \
		--duration 5 >"$T/w-$1.out" 2>&1
}
check "carol is refused, alice sees bob, dave is pending"
if watch_once carol; then fail "carol could watch bob: $(cat "$T/w-carol.out")"; fi
assert_contains "$T/w-carol.out" "403"
watch_once alice || fail "alice could not watch bob: $(cat "$T/w-alice.out")"
assert_contains "$T/w-alice.out" "bob@example.test: "
watch_once dave || true
assert_contains "$T/w-dave.out" "pending"

check "remove: carol falls back to the domain rule"
bobcpm presence remove carol@example.test >"$T/r4.out" 2>&1 || fail "remove: $(cat "$T/r4.out")"
assert_contains "$T/r4.out" "carol@example.test: removed"
bobcpm presence list >"$T/list2.out" 2>&1
assert_not_contains "$T/list2.out" "carol@example.test"
watch_once carol || fail "carol still refused: $(cat "$T/w-carol.out")"

check "refusals: a malformed watcher (400), a wrong password (401)"
if bobcpm presence allow 'not an address' >"$T/bad.out" 2>&1; then fail "a bad watcher was taken"; fi
assert_contains "$T/bad.out" "400"
if cpm --http "$HTTP" --user bob@example.test --password wrong presence list >"$T/pw.out" 2>&1; then
	fail "a wrong password listed the rules"
fi
assert_contains "$T/pw.out" "401"
if bobcpm presence allow >"$T/usage.out" 2>&1; then fail "allow without a watcher was accepted"; fi

cpmd_stop
assert_no_sanitizer_errors
