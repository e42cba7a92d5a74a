/* pres: the publication store (RFC 3903 soft state): entity-tags, refresh
 * and modify (a new tag each time), removal, the per-user and total
 * limits, expiry in time order, the generation counter; and the watchers'
 * rules: lookup with domain entries, the pending eviction, JSON, the file
 * with its lock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pres/pres.h"

static struct cpm_pres_pidf *doc(const char *basic)
{
	char text[512];
	snprintf(text, sizeof text,
		 "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:a@b\">"
		 "<tuple id=\"t\"><status><basic>%s</basic></status></tuple></presence>",
		 basic);
	struct cpm_pres_pidf *d;
	assert_int_equal(cpm_pres_pidf_parse(cpm_str_from_cstr(text), &d, NULL, 0), 0);
	return d;
}

static void test_lifecycle(void **state)
{
	struct cpm_pres_pubs *ps;
	assert_int_equal(cpm_pres_pubs_new(3, 100, &ps), 0);
	const struct cpm_pres_pub *a, *b, *x;
	bool ev;
	assert_int_equal(cpm_pres_pubs_gen(ps, "alice@example.test"), 0);
	assert_int_equal(cpm_pres_pubs_add(ps, "alice@example.test", "udp:192.0.2.1:5060",
					   doc("open"), 1000, &a, &ev),
			 0);
	assert_false(ev);
	char etag_a[CPM_PRES_ETAG_LEN];
	snprintf(etag_a, sizeof etag_a, "%s", a->etag);
	assert_int_equal(strlen(etag_a), 16);
	uint64_t g1 = cpm_pres_pubs_gen(ps, "alice@example.test");
	assert_true(g1 > 0);
	assert_int_equal(cpm_pres_pubs_add(ps, "alice@example.test", "udp:192.0.2.1:5060",
					   doc("closed"), 900, &b, &ev),
			 0);
	assert_string_not_equal(a->etag, b->etag);
	uint64_t g2 = cpm_pres_pubs_gen(ps, "alice@example.test");
	assert_true(g2 > g1);
	/* newest first */
	const struct cpm_pres_pub *list[8];
	assert_int_equal(cpm_pres_pubs_of(ps, "alice@example.test", list, 8), 2);
	assert_ptr_equal(list[0], b);
	assert_ptr_equal(list[1], a);
	assert_ptr_equal(cpm_pres_pubs_find(ps, "alice@example.test", etag_a), a);
	assert_null(cpm_pres_pubs_find(ps, "bob@example.test", etag_a)); /* scoped to the AoR */
	assert_null(cpm_pres_pubs_find(ps, "alice@example.test", "nope"));
	/* by the publisher's address: the newest */
	assert_ptr_equal(cpm_pres_pubs_find_source(ps, "alice@example.test", "udp:192.0.2.1:5060"),
			 b);
	assert_null(cpm_pres_pubs_find_source(ps, "alice@example.test", "udp:192.0.2.1:5061"));
	assert_null(cpm_pres_pubs_find_source(ps, "bob@example.test", "udp:192.0.2.1:5060"));

	/* refresh: a new tag, the old one is gone, the state (gen) unchanged */
	assert_int_equal(cpm_pres_pubs_update(ps, "alice@example.test", etag_a, NULL, 2000, &x), 0);
	assert_ptr_equal(x, a);
	assert_string_not_equal(x->etag, etag_a);
	assert_null(cpm_pres_pubs_find(ps, "alice@example.test", etag_a));
	assert_int_equal(cpm_pres_pubs_gen(ps, "alice@example.test"), g2);
	assert_int_equal(cpm_pres_pubs_update(ps, "alice@example.test", etag_a, NULL, 2000, &x),
			 CPM_ENOTFOUND);
	/* modify: new state, moves to the front */
	char etag_x[CPM_PRES_ETAG_LEN];
	snprintf(etag_x, sizeof etag_x, "%s", x->etag);
	assert_int_equal(cpm_pres_pubs_update(ps, "alice@example.test", etag_x, doc("closed"),
					      2000, &x),
			 0);
	assert_true(cpm_pres_pubs_gen(ps, "alice@example.test") > g2);
	assert_int_equal(cpm_pres_pubs_of(ps, "alice@example.test", list, 8), 2);
	assert_ptr_equal(list[0], x);
	assert_false(cpm_pres_pidf_state(list[0]->pidf)->open);
	/* modify with an unknown tag frees the document (no leak under ASan) */
	assert_int_equal(cpm_pres_pubs_update(ps, "alice@example.test", "zz", doc("open"), 1, &x),
			 CPM_ENOTFOUND);

	/* expiry in time order: b (900) first */
	assert_int_equal(cpm_pres_pubs_next_expiry(ps), 900);
	assert_int_equal(cpm_pres_pubs_expire(ps, 899, NULL, NULL), 0);
	assert_int_equal(cpm_pres_pubs_expire(ps, 900, NULL, NULL), 1);
	assert_int_equal(cpm_pres_pubs_count(ps), 1);
	assert_int_equal(cpm_pres_pubs_next_expiry(ps), 2000);
	/* removal of the last: the user is gone (gen 0) */
	assert_int_equal(cpm_pres_pubs_of(ps, "alice@example.test", list, 8), 1);
	snprintf(etag_x, sizeof etag_x, "%s", list[0]->etag);
	assert_int_equal(cpm_pres_pubs_remove(ps, "alice@example.test", etag_x), 0);
	assert_int_equal(cpm_pres_pubs_remove(ps, "alice@example.test", etag_x), CPM_ENOTFOUND);
	assert_int_equal(cpm_pres_pubs_gen(ps, "alice@example.test"), 0);
	assert_int_equal(cpm_pres_pubs_count(ps), 0);
	assert_int_equal(cpm_pres_pubs_next_expiry(ps), INT64_MAX);
	cpm_pres_pubs_free(ps);
}

static void expired_cb(void *arg, const char *aor)
{
	strcat(arg, aor);
	strcat(arg, ",");
}

static void test_limits(void **state)
{
	struct cpm_pres_pubs *ps;
	assert_int_equal(cpm_pres_pubs_new(2, 3, &ps), 0);
	const struct cpm_pres_pub *p1, *p2, *p3, *q;
	bool ev;
	assert_int_equal(cpm_pres_pubs_add(ps, "a@x", "", doc("open"), 500, &p1, &ev), 0);
	assert_int_equal(cpm_pres_pubs_add(ps, "a@x", "", doc("open"), 100, &p2, &ev), 0);
	char old[CPM_PRES_ETAG_LEN];
	snprintf(old, sizeof old, "%s", p2->etag);
	/* per user: the one expiring first makes room */
	assert_int_equal(cpm_pres_pubs_add(ps, "a@x", "", doc("closed"), 700, &p3, &ev), 0);
	assert_true(ev);
	assert_null(cpm_pres_pubs_find(ps, "a@x", old));
	assert_int_equal(cpm_pres_pubs_count(ps), 2);
	/* in total */
	assert_int_equal(cpm_pres_pubs_add(ps, "b@x", "", doc("open"), 10, &q, &ev), 0);
	assert_int_equal(cpm_pres_pubs_add(ps, "c@x", "", doc("open"), 10, &q, &ev), CPM_ELIMIT);
	assert_int_equal(cpm_pres_pubs_count(ps), 3);
	/* the expiry callback names each AoR */
	char seen[64] = "";
	assert_int_equal(cpm_pres_pubs_expire(ps, 600, expired_cb, seen), 2);
	assert_string_equal(seen, "b@x,a@x,");
	cpm_pres_pubs_free(ps); /* frees what is left */
}

/* Many publications with random expiries come out in order. */
static void test_heap_order(void **state)
{
	struct cpm_pres_pubs *ps;
	assert_int_equal(cpm_pres_pubs_new(1000, 100000, &ps), 0);
	srand(7);
	const struct cpm_pres_pub *p;
	bool ev;
	char aor[32];
	for (int i = 0; i < 2000; i++) {
		snprintf(aor, sizeof aor, "u%d@x", i % 97);
		assert_int_equal(cpm_pres_pubs_add(ps, aor, "", doc("open"), rand() % 100000, &p, &ev),
				 0);
		if (i % 3 == 0) { /* refresh some to another time */
			char e[CPM_PRES_ETAG_LEN];
			snprintf(e, sizeof e, "%s", p->etag);
			assert_int_equal(cpm_pres_pubs_update(ps, aor, e, NULL, rand() % 100000, &p),
					 0);
		}
	}
	int64_t last = -1;
	while (cpm_pres_pubs_count(ps)) {
		int64_t t = cpm_pres_pubs_next_expiry(ps);
		assert_true(t >= last);
		assert_true(cpm_pres_pubs_expire(ps, t, NULL, NULL) >= 1);
		last = t;
	}
	cpm_pres_pubs_free(ps);
}

/* ------------------------------------------------------------- rules */

static void test_rules(void **state)
{
	struct cpm_pres_rules *r;
	assert_int_equal(cpm_pres_rules_new(3, &r), 0);
	const char *a = "alice@example.test";
	assert_int_equal(cpm_pres_rules_get(r, a, "bob@example.test"), CPM_PRES_RULE_NONE);
	assert_int_equal(cpm_pres_rules_set(r, a, "bob@example.test", CPM_PRES_RULE_ALLOW), 0);
	assert_int_equal(cpm_pres_rules_set(r, a, "*@evil.test", CPM_PRES_RULE_BLOCK), 0);
	assert_int_equal(cpm_pres_rules_get(r, a, "bob@example.test"), CPM_PRES_RULE_ALLOW);
	assert_int_equal(cpm_pres_rules_get(r, "carol@example.test", "bob@example.test"),
			 CPM_PRES_RULE_NONE);
	assert_int_equal(cpm_pres_rules_get(r, a, "mallory@evil.test"), CPM_PRES_RULE_BLOCK);
	/* the exact entry wins over the domain */
	assert_int_equal(cpm_pres_rules_set(r, a, "friend@evil.test", CPM_PRES_RULE_PENDING), 0);
	assert_int_equal(cpm_pres_rules_get(r, a, "friend@evil.test"), CPM_PRES_RULE_PENDING);
	/* full (3): a new entry takes the place of the oldest pending */
	assert_int_equal(cpm_pres_rules_set(r, a, "dave@example.test", CPM_PRES_RULE_PENDING), 0);
	assert_int_equal(cpm_pres_rules_get(r, a, "friend@evil.test"), CPM_PRES_RULE_BLOCK);
	assert_int_equal(cpm_pres_rules_set(r, a, "dave@example.test", CPM_PRES_RULE_ALLOW), 0);
	assert_int_equal(cpm_pres_rules_set(r, a, "erin@example.test", CPM_PRES_RULE_ALLOW),
			 CPM_ELIMIT);
	/* removal */
	assert_int_equal(cpm_pres_rules_set(r, a, "*@evil.test", CPM_PRES_RULE_NONE), 0);
	assert_int_equal(cpm_pres_rules_get(r, a, "mallory@evil.test"), CPM_PRES_RULE_NONE);
	assert_int_equal(cpm_pres_rules_set(r, a, "nobody@x", CPM_PRES_RULE_NONE), 0);
	assert_int_equal(cpm_pres_rules_set(r, a, "", CPM_PRES_RULE_ALLOW), CPM_EINVAL);

	/* JSON round trip */
	struct cpm_buf b;
	cpm_buf_init(&b, 1 << 20);
	assert_int_equal(cpm_pres_rules_dump(r, &b), 0);
	assert_non_null(strstr(b.p, "\"alice@example.test\""));
	struct cpm_pres_rules *r2;
	assert_int_equal(cpm_pres_rules_new(3, &r2), 0);
	char err[256] = "";
	assert_int_equal(cpm_pres_rules_parse(r2, cpm_buf_str(&b), err, sizeof err), 0);
	assert_int_equal(cpm_pres_rules_get(r2, a, "bob@example.test"), CPM_PRES_RULE_ALLOW);
	assert_int_equal(cpm_pres_rules_get(r2, a, "dave@example.test"), CPM_PRES_RULE_ALLOW);
	/* bad documents are refused and leave nothing */
	const char *bad[] = {
		"[1]", "{\"users\": []}", "{\"users\": {\"alice@example.test\": {\"allow\": 3}}}",
		"{\"users\": {\"alice@example.test\": {\"allow\": [\"no at sign\"]}}}",
		"{\"users\": {\"not an aor\": {}}}", "{", "{\"users\": {\"a@b\": {}, \"a@b\": {}}}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(cpm_pres_rules_parse(r2, cpm_str_from_cstr(bad[i]), err,
						      sizeof err),
				 CPM_EPARSE);
		assert_int_equal(cpm_pres_rules_get(r2, a, "bob@example.test"),
				 CPM_PRES_RULE_NONE);
	}
	/* names are normalized: scheme, host case */
	assert_int_equal(cpm_pres_rules_parse(r2,
					      cpm_str_from_cstr("{\"users\": {\"sip:alice@EXAMPLE."
								"test\": {\"block\": [\"sip:Bob@Ex"
								"ample.TEST\"]}}}"),
					      err, sizeof err),
			 0);
	assert_int_equal(cpm_pres_rules_get(r2, a, "Bob@example.test"), CPM_PRES_RULE_BLOCK);
	cpm_buf_free(&b);
	cpm_pres_rules_free(r2);
	cpm_pres_rules_free(r);
}

static void test_watcher_norm(void **state)
{
	char out[256];
	assert_int_equal(cpm_pres_watcher_norm("sip:Bob@Example.TEST", out, sizeof out), 0);
	assert_string_equal(out, "Bob@example.test");
	assert_int_equal(cpm_pres_watcher_norm("bob@example.test;transport=tcp", out, sizeof out),
			 0);
	assert_string_equal(out, "bob@example.test");
	assert_int_equal(cpm_pres_watcher_norm("*@Example.test", out, sizeof out), 0);
	assert_string_equal(out, "*@example.test");
	assert_int_equal(cpm_pres_watcher_norm("example.test", out, sizeof out), CPM_EINVAL);
	assert_int_equal(cpm_pres_watcher_norm("a b@example.test", out, sizeof out), CPM_EINVAL);
	assert_int_equal(cpm_pres_watcher_norm("", out, sizeof out), CPM_EINVAL);
	assert_int_equal(cpm_pres_watcher_norm("\"x\"@y", out, sizeof out), CPM_EINVAL);
}

static int add_pending(void *arg, struct cpm_pres_rules *r)
{
	return cpm_pres_rules_set(r, "alice@example.test", arg, CPM_PRES_RULE_PENDING);
}

static int refuse(void *arg, struct cpm_pres_rules *r)
{
	cpm_pres_rules_set(r, "alice@example.test", "zed@example.test", CPM_PRES_RULE_ALLOW);
	return CPM_EINVAL;
}

static void test_rules_file(void **state)
{
	char dir[] = "/tmp/cpm-pres-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof path, "%s/presence.json", dir);
	struct cpm_pres_rules *r, *other;
	assert_int_equal(cpm_pres_rules_new(10, &r), 0);
	assert_int_equal(cpm_pres_rules_new(10, &other), 0);
	char err[256] = "";
	/* no file: empty lists */
	assert_int_equal(cpm_pres_rules_load(r, path, err, sizeof err), 0);
	assert_int_equal(cpm_pres_rules_update(r, path, add_pending, "bob@example.test", err,
					       sizeof err),
			 0);
	assert_int_equal(cpm_pres_rules_get(r, "alice@example.test", "bob@example.test"),
			 CPM_PRES_RULE_PENDING);
	/* another writer (the CLI) adds to what is in the file, not to its
	 * own stale copy */
	assert_int_equal(cpm_pres_rules_update(other, path, add_pending, "carol@example.test", err,
					       sizeof err),
			 0);
	assert_int_equal(cpm_pres_rules_get(other, "alice@example.test", "bob@example.test"),
			 CPM_PRES_RULE_PENDING);
	assert_int_equal(cpm_pres_rules_load(r, path, err, sizeof err), 0);
	assert_int_equal(cpm_pres_rules_get(r, "alice@example.test", "carol@example.test"),
			 CPM_PRES_RULE_PENDING);
	/* a refused change writes nothing and keeps the lists */
	assert_int_equal(cpm_pres_rules_update(r, path, refuse, NULL, err, sizeof err), CPM_EINVAL);
	assert_int_equal(cpm_pres_rules_get(r, "alice@example.test", "zed@example.test"),
			 CPM_PRES_RULE_NONE);
	assert_int_equal(cpm_pres_rules_get(r, "alice@example.test", "carol@example.test"),
			 CPM_PRES_RULE_PENDING);
	assert_int_equal(cpm_pres_rules_load(other, path, err, sizeof err), 0);
	assert_int_equal(cpm_pres_rules_get(other, "alice@example.test", "zed@example.test"),
			 CPM_PRES_RULE_NONE);
	/* a broken file is an error, not empty lists */
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"users\": ", f);
	fclose(f);
	assert_int_equal(cpm_pres_rules_load(other, path, err, sizeof err), CPM_EPARSE);
	assert_int_equal(cpm_pres_rules_update(r, path, add_pending, "x@y", err, sizeof err),
			 CPM_EPARSE);
	assert_int_equal(cpm_pres_rules_get(r, "alice@example.test", "carol@example.test"),
			 CPM_PRES_RULE_PENDING);
	cpm_pres_rules_free(r);
	cpm_pres_rules_free(other);
	char lock[160], tmp[160];
	snprintf(lock, sizeof lock, "%s.lock", path);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	unlink(path);
	unlink(lock);
	unlink(tmp);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lifecycle),  cmocka_unit_test(test_limits),
		cmocka_unit_test(test_heap_order), cmocka_unit_test(test_rules),
		cmocka_unit_test(test_watcher_norm), cmocka_unit_test(test_rules_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
