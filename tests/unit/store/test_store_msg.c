/* store: store-and-forward messages — put/get, pending lists, per-device
 * deliveries, expiry, usage, migration from schema 1, batches, the worker's
 * group commit, and the put rate single vs batched (printed, not asserted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "store/store.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];
static char url[600];
static char dbpath[512];

static int setup(void **state)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/cpm_store_msg_XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(dbpath, sizeof dbpath, "%s/db/cpmd.db", tmpdir);
	snprintf(url, sizeof url, "sqlite:%s", dbpath);
	return 0;
}

static int teardown(void **state)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct cpm_store *open_store(void)
{
	struct cpm_store *s = NULL;
	assert_int_equal(cpm_store_open(url, &s), 0);
	assert_non_null(s);
	return s;
}

static const char body_nul[] = "hello\0world\0\x01\xff\r\n";
#define BODY_NUL_LEN (sizeof body_nul - 1)

static struct cpm_store_msg mkmsg(const char *to, const char *call_id,
				  int64_t expires)
{
	struct cpm_store_msg m;
	memset(&m, 0, sizeof m);
	snprintf(m.recipient, sizeof m.recipient, "%s", to);
	snprintf(m.sender, sizeof m.sender, "sip:alice@example.test");
	snprintf(m.sender_display, sizeof m.sender_display, "Alice \"A\" Liddell");
	snprintf(m.call_id, sizeof m.call_id, "%s", call_id);
	snprintf(m.message_id, sizeof m.message_id, "mid-%s", call_id);
	snprintf(m.content_type, sizeof m.content_type, "text/plain;charset=utf-8");
	snprintf(m.subject, sizeof m.subject, "subj %s", call_id);
	m.body = body_nul;
	m.body_len = BODY_NUL_LEN;
	m.date = 1700000000;
	m.created = 1700000001;
	m.expires = expires;
	m.kind = CPM_STORE_MSG_MESSAGE;
	m.flags = CPM_STORE_MSG_F_NOTIFY;
	return m;
}

static int64_t put(struct cpm_store *s, const char *to, const char *cid,
		   int64_t expires)
{
	struct cpm_store_msg m = mkmsg(to, cid, expires);
	assert_int_equal(cpm_store_msg_put(s, &m), 0);
	assert_true(m.id > 0);
	return m.id;
}

struct mcollect {
	int64_t ids[64];
	char cids[64][64];
	int n;
	int stop_at;
	bool bodies_ok;
};

static int collect(void *arg, const struct cpm_store_msg *m)
{
	struct mcollect *c = arg;
	assert_true(c->n < 64);
	c->ids[c->n] = m->id;
	snprintf(c->cids[c->n], sizeof c->cids[0], "%.63s", m->call_id);
	c->n++;
	if (m->body_len != BODY_NUL_LEN || memcmp(m->body, body_nul, BODY_NUL_LEN))
		c->bodies_ok = false;
	return c->n == c->stop_at ? 77 : 0;
}

#define MC_INIT { .stop_at = -1, .bodies_ok = true }

static int list(struct cpm_store *s, const char *aor, const char *dev,
		int64_t after, int limit, int64_t now, struct mcollect *c)
{
	*c = (struct mcollect)MC_INIT;
	int rc = dev ? cpm_store_msg_list_pending_device(s, aor, dev, after, limit,
							 now, collect, c)
		     : cpm_store_msg_list_pending(s, aor, after, limit, now,
						  collect, c);
	assert_true(c->bodies_ok);
	return rc;
}

static int db_int(const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	int v = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return v;
}

/* The usage counters (kept by triggers) agree with a recount. */
static void assert_usage_consistent(struct cpm_store *s)
{
	const char *aors[] = { "bob@example.test", "carol@example.test" };
	for (int i = 0; i < 2; i++) {
		char sql[256];
		int64_t n, bytes;
		assert_int_equal(cpm_store_msg_usage(s, aors[i], &n, &bytes), 0);
		snprintf(sql, sizeof sql,
			 "SELECT count(*) FROM messages WHERE recipient = '%s' AND state = 0",
			 aors[i]);
		assert_int_equal(n, db_int(sql));
		snprintf(sql, sizeof sql,
			 "SELECT coalesce(sum(length(body)), 0) FROM messages "
			 "WHERE recipient = '%s' AND state = 0",
			 aors[i]);
		assert_int_equal(bytes, db_int(sql));
	}
	assert_int_equal(db_int("SELECT count(*) FROM message_usage WHERE "
				"count <= 0"),
			 0);
}

/* ------------------------------------------------------------- put / get */

static void test_put_get(void **state)
{
	struct cpm_store *s = open_store();
	struct cpm_store_msg m = mkmsg("bob@EXAMPLE.test", "cid-1", 1800000000), g;
	m.kind = CPM_STORE_MSG_DEFERRED;
	m.flags = CPM_STORE_MSG_F_NOTIFY | CPM_STORE_MSG_F_DEFERRED;
	snprintf(m.token, sizeof m.token, "0123456789abcdef0123456789abcdef");
	assert_int_equal(cpm_store_msg_put(s, &m), 0);
	assert_true(m.id > 0);
	assert_string_equal(m.recipient, "bob@example.test");

	assert_int_equal(cpm_store_msg_get(s, m.id, &g), 0);
	assert_int_equal(g.id, m.id);
	assert_string_equal(g.recipient, "bob@example.test");
	assert_string_equal(g.sender, m.sender);
	assert_string_equal(g.sender_display, m.sender_display);
	assert_string_equal(g.call_id, "cid-1");
	assert_string_equal(g.message_id, "mid-cid-1");
	assert_string_equal(g.content_type, m.content_type);
	assert_string_equal(g.subject, "subj cid-1");
	assert_string_equal(g.token, "0123456789abcdef0123456789abcdef");
	assert_int_equal(g.body_len, BODY_NUL_LEN);
	assert_memory_equal(g.body, body_nul, BODY_NUL_LEN);
	assert_int_equal(g.date, 1700000000);
	assert_int_equal(g.created, 1700000001);
	assert_int_equal(g.expires, 1800000000);
	assert_int_equal(g.kind, CPM_STORE_MSG_DEFERRED);
	assert_int_equal(g.flags, CPM_STORE_MSG_F_NOTIFY | CPM_STORE_MSG_F_DEFERRED);
	assert_int_equal(g.state, CPM_STORE_MSG_STORED);
	assert_ptr_not_equal(g.body, body_nul);
	cpm_store_msg_free_body(&g);
	assert_null(g.body);

	/* flags: set, then clear */
	assert_int_equal(cpm_store_msg_flags_update(s, m.id, 1 << 8, CPM_STORE_MSG_F_NOTIFY), 0);
	assert_int_equal(cpm_store_msg_get(s, m.id, &g), 0);
	assert_int_equal(g.flags, CPM_STORE_MSG_F_DEFERRED | (1 << 8));
	cpm_store_msg_free_body(&g);
	assert_int_equal(cpm_store_msg_flags_update(s, 999999, 0, 1), CPM_ENOTFOUND);

	/* a large body with every byte value, byte-exact */
	size_t big = 300000;
	unsigned char *b = malloc(big);
	assert_non_null(b);
	for (size_t i = 0; i < big; i++)
		b[i] = (unsigned char)(i * 7 + (i >> 8));
	struct cpm_store_msg m2 = mkmsg("bob@example.test", "cid-2", 0);
	m2.body = b;
	m2.body_len = big;
	m2.created = 0; /* = now */
	int64_t t0 = cpm_wall_s();
	assert_int_equal(cpm_store_msg_put(s, &m2), 0);
	assert_true(m2.id > m.id);
	assert_int_equal(cpm_store_msg_get(s, m2.id, &g), 0);
	assert_int_equal(g.body_len, big);
	assert_memory_equal(g.body, b, big);
	assert_true(g.created >= t0 && g.created <= cpm_wall_s());
	cpm_store_msg_free_body(&g);
	free(b);

	/* an empty body */
	struct cpm_store_msg m3 = mkmsg("bob@example.test", "cid-3", 0);
	m3.body = NULL;
	m3.body_len = 0;
	assert_int_equal(cpm_store_msg_put(s, &m3), 0);
	assert_int_equal(cpm_store_msg_get(s, m3.id, &g), 0);
	assert_int_equal(g.body_len, 0);
	cpm_store_msg_free_body(&g);

	/* the Call-ID is unique */
	struct cpm_store_msg dup = mkmsg("carol@example.test", "cid-1", 0);
	assert_int_equal(cpm_store_msg_put(s, &dup), CPM_EEXIST);
	assert_int_equal(cpm_store_msg_get(s, 999999, &g), CPM_ENOTFOUND);
	assert_int_equal(cpm_store_msg_get(s, 0, &g), CPM_ENOTFOUND);

	/* validation */
	struct cpm_store_msg bad = mkmsg("bob", "x1", 0);
	assert_int_equal(cpm_store_msg_put(s, &bad), CPM_EINVAL);
	bad = mkmsg("bob@example.test", "", 0);
	assert_int_equal(cpm_store_msg_put(s, &bad), CPM_EINVAL);
	bad = mkmsg("bob@example.test", "x2", 0);
	bad.sender[0] = '\0';
	assert_int_equal(cpm_store_msg_put(s, &bad), CPM_EINVAL);
	bad = mkmsg("bob@example.test", "x3", 0);
	bad.content_type[0] = '\0';
	assert_int_equal(cpm_store_msg_put(s, &bad), CPM_EINVAL);
	bad = mkmsg("bob@example.test", "x4", 0);
	bad.kind = 3;
	assert_int_equal(cpm_store_msg_put(s, &bad), CPM_EINVAL);
	bad = mkmsg("bob@example.test", "x5", 0);
	memset(bad.subject, 's', sizeof bad.subject);
	assert_int_equal(cpm_store_msg_put(s, &bad), CPM_EINVAL);
	bad = mkmsg("bob@example.test", "x6", 0);
	bad.body = NULL;
	assert_int_equal(cpm_store_msg_put(s, &bad), CPM_EINVAL);
	bad = mkmsg("bob@example.test", "x7", 0);
	bad.body_len = CPM_STORE_MSG_BODY_MAX + 1;
	assert_int_equal(cpm_store_msg_put(s, &bad), CPM_ETOOBIG);
	int64_t n, bytes;
	assert_int_equal(cpm_store_msg_usage(s, "bob@example.test", &n, &bytes), 0);
	assert_int_equal(n, 3);
	cpm_store_close(s);
}

/* ------------------------------------------------------- pending, cursor */

static void test_pending_order_cursor(void **state)
{
	struct cpm_store *s = open_store();
	int64_t ids[6];
	char cid[32];
	for (int i = 0; i < 6; i++) {
		snprintf(cid, sizeof cid, "b%d", i);
		ids[i] = put(s, "bob@example.test", cid, i == 5 ? 500 : 0);
		snprintf(cid, sizeof cid, "c%d", i);
		put(s, "carol@example.test", cid, 0);
	}
	struct mcollect c;
	assert_int_equal(list(s, "bob@Example.Test", NULL, 0, 0, 100, &c), 0);
	assert_int_equal(c.n, 6);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(c.ids[i], ids[i]);
		snprintf(cid, sizeof cid, "b%d", i);
		assert_string_equal(c.cids[i], cid);
	}
	/* pages of 4 with a cursor */
	assert_int_equal(list(s, "bob@example.test", NULL, 0, 4, 100, &c), 0);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.ids[3], ids[3]);
	assert_int_equal(list(s, "bob@example.test", NULL, c.ids[3], 4, 100, &c),
			 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ids[0], ids[4]);
	assert_int_equal(c.ids[1], ids[5]);
	assert_int_equal(list(s, "bob@example.test", NULL, ids[5], 4, 100, &c), 0);
	assert_int_equal(c.n, 0);
	/* expired (expires <= now) ones are not pending */
	assert_int_equal(list(s, "bob@example.test", NULL, 0, 0, 500, &c), 0);
	assert_int_equal(c.n, 5);
	/* nor delivered or failed ones */
	assert_int_equal(cpm_store_msg_mark_delivered(s, ids[1]), 0);
	assert_int_equal(cpm_store_msg_state_set(s, ids[2], CPM_STORE_MSG_FAILED),
			 0);
	assert_int_equal(list(s, "bob@example.test", NULL, 0, 0, 100, &c), 0);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.ids[0], ids[0]);
	assert_int_equal(c.ids[1], ids[3]);
	struct cpm_store_msg g;
	assert_int_equal(cpm_store_msg_get(s, ids[1], &g), 0);
	assert_int_equal(g.state, CPM_STORE_MSG_DELIVERED);
	cpm_store_msg_free_body(&g);
	assert_int_equal(cpm_store_msg_state_set(s, ids[1], 9), CPM_EINVAL);
	assert_int_equal(cpm_store_msg_mark_delivered(s, 424242), CPM_ENOTFOUND);
	/* a stop from the callback is returned */
	c = (struct mcollect)MC_INIT;
	c.stop_at = 2;
	assert_int_equal(cpm_store_msg_list_pending(s, "carol@example.test", 0, 0,
						    100, collect, &c),
			 77);
	assert_int_equal(c.n, 2);
	/* delete */
	assert_int_equal(cpm_store_msg_del(s, ids[0]), 0);
	assert_int_equal(cpm_store_msg_del(s, ids[0]), CPM_ENOTFOUND);
	assert_int_equal(list(s, "bob@example.test", NULL, 0, 0, 100, &c), 0);
	assert_int_equal(c.n, 3);
	assert_int_equal(list(s, "nobody@example.test", NULL, 0, 0, 100, &c), 0);
	assert_int_equal(c.n, 0);
	assert_int_equal(list(s, "nobody", NULL, 0, 0, 100, &c), CPM_EINVAL);
	assert_int_equal(list(s, "bob@example.test", NULL, 0, -1, 100, &c),
			 CPM_EINVAL);
	cpm_store_close(s);
}

/* ------------------------------------------------- devices (late fork) */

struct attempt_ctx {
	struct cpm_store *s;
	const char *dev;
	int n;
};

static int attempt_each(void *arg, const struct cpm_store_msg *m)
{
	struct attempt_ctx *a = arg;
	a->n++;
	return cpm_store_msg_delivery_set(a->s, m->id, a->dev,
					  CPM_STORE_DLV_ATTEMPT, 21);
}

static void test_devices_late_fork(void **state)
{
	struct cpm_store *s = open_store();
	const char *aor = "bob@example.test";
	const char *d1 = "<urn:uuid:00000000-0000-0000-0000-000000000001>";
	const char *d2 = "<urn:uuid:00000000-0000-0000-0000-000000000002>";
	int64_t m1 = put(s, aor, "m1", 0), m2 = put(s, aor, "m2", 0);
	struct mcollect c;

	/* device 1 is registered: it gets m1, m2 fails once (a retry) */
	assert_int_equal(list(s, aor, d1, 0, 0, 100, &c), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(cpm_store_msg_delivery_set(s, m1, d1, CPM_STORE_DLV_ATTEMPT,
						    10),
			 0);
	assert_int_equal(cpm_store_msg_delivery_set(s, m1, d1,
						    CPM_STORE_DLV_DELIVERED, 11),
			 0);
	assert_int_equal(cpm_store_msg_delivery_set(s, m2, d1, CPM_STORE_DLV_ATTEMPT,
						    12),
			 0);
	assert_int_equal(cpm_store_msg_delivery_set(s, m2, d1, CPM_STORE_DLV_ATTEMPT,
						    20),
			 0);
	assert_int_equal(list(s, aor, d1, 0, 0, 100, &c), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.ids[0], m2);

	/* other operations may run inside a listing (mark the attempts) */
	struct attempt_ctx ac = { s, d1, 0 };
	assert_int_equal(cpm_store_msg_list_pending_device(s, aor, d1, 0, 0, 100,
							   attempt_each, &ac),
			 0);
	assert_int_equal(ac.n, 1);

	/* a third message arrives, then device 2 registers: it gets all three */
	int64_t m3 = put(s, aor, "m3", 0);
	assert_int_equal(list(s, aor, d2, 0, 0, 100, &c), 0);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.ids[0], m1);
	assert_int_equal(c.ids[1], m2);
	assert_int_equal(c.ids[2], m3);
	assert_int_equal(list(s, aor, d1, 0, 0, 100, &c), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ids[0], m2);
	assert_int_equal(c.ids[1], m3);
	/* with a cursor and a limit */
	assert_int_equal(list(s, aor, d2, m1, 1, 100, &c), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.ids[0], m2);

	/* bookkeeping */
	struct cpm_store_msg_delivery d;
	assert_int_equal(cpm_store_msg_delivery_get(s, m2, d1, &d), 0);
	assert_int_equal(d.msg_id, m2);
	assert_string_equal(d.device, d1);
	assert_int_equal(d.state, CPM_STORE_DLV_ATTEMPT);
	assert_int_equal(d.attempts, 3);
	assert_int_equal(d.last_attempt, 21);
	assert_int_equal(d.delivered_at, 0);
	assert_int_equal(cpm_store_msg_delivery_get(s, m1, d1, &d), 0);
	assert_int_equal(d.state, CPM_STORE_DLV_DELIVERED);
	assert_int_equal(d.attempts, 1);
	assert_int_equal(d.last_attempt, 10);
	assert_int_equal(d.delivered_at, 11);
	/* delivered is sticky: each device gets each message once */
	assert_int_equal(cpm_store_msg_delivery_set(s, m1, d1, CPM_STORE_DLV_ATTEMPT,
						    30),
			 0);
	assert_int_equal(cpm_store_msg_delivery_set(s, m1, d1, CPM_STORE_DLV_FAILED,
						    31),
			 0);
	assert_int_equal(cpm_store_msg_delivery_get(s, m1, d1, &d), 0);
	assert_int_equal(d.state, CPM_STORE_DLV_DELIVERED);
	assert_int_equal(d.delivered_at, 11);
	/* failed for good on one device: not pending there, still elsewhere */
	assert_int_equal(cpm_store_msg_delivery_set(s, m3, d2, CPM_STORE_DLV_FAILED,
						    40),
			 0);
	assert_int_equal(list(s, aor, d2, 0, 0, 100, &c), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(list(s, aor, d1, 0, 0, 100, &c), 0);
	assert_int_equal(c.n, 2);
	/* delivered to the AoR as a whole: pending nowhere */
	assert_int_equal(cpm_store_msg_mark_delivered(s, m2), 0);
	assert_int_equal(list(s, aor, d1, 0, 0, 100, &c), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.ids[0], m3);

	/* errors */
	assert_int_equal(cpm_store_msg_delivery_get(s, m3, d1, &d), CPM_ENOTFOUND);
	assert_int_equal(cpm_store_msg_delivery_set(s, 999, d1,
						    CPM_STORE_DLV_ATTEMPT, 1),
			 CPM_ENOTFOUND);
	assert_int_equal(cpm_store_msg_delivery_set(s, m3, "", CPM_STORE_DLV_ATTEMPT,
						    1),
			 CPM_EINVAL);
	assert_int_equal(cpm_store_msg_delivery_set(s, m3, d1, 7, 1), CPM_EINVAL);
	assert_int_equal(list(s, aor, "", 0, 0, 100, &c), CPM_EINVAL);
	/* deleting a message deletes its delivery rows */
	assert_int_equal(cpm_store_msg_del(s, m1), 0);
	assert_int_equal(cpm_store_msg_delivery_get(s, m1, d1, &d), CPM_ENOTFOUND);
	cpm_store_close(s);
}

/* --------------------------------------------------------------- expiry */

struct ecollect {
	int64_t ids[16];
	int states[16];
	int n;
	int stop_at;
	bool bodies_ok;
};

static int collect_expired(void *arg, const struct cpm_store_msg *m)
{
	struct ecollect *e = arg;
	assert_true(e->n < 16);
	e->states[e->n] = m->state;
	e->ids[e->n++] = m->id;
	if (m->body_len != BODY_NUL_LEN || memcmp(m->body, body_nul, BODY_NUL_LEN))
		e->bodies_ok = false;
	return e->n == e->stop_at ? 5 : 0;
}

static void test_expire(void **state)
{
	struct cpm_store *s = open_store();
	int64_t a = put(s, "bob@example.test", "e1", 100);
	int64_t b = put(s, "bob@example.test", "e2", 200);
	int64_t never = put(s, "bob@example.test", "e3", 0);
	int64_t c = put(s, "carol@example.test", "e4", 150);
	int64_t d = put(s, "carol@example.test", "e5", 300);
	int64_t e = put(s, "carol@example.test", "e6", 300);
	assert_int_equal(cpm_store_msg_delivery_set(s, a, "dev", CPM_STORE_DLV_ATTEMPT,
						    1),
			 0);
	assert_int_equal(cpm_store_msg_mark_delivered(s, c), 0);

	struct ecollect x = { .stop_at = -1, .bodies_ok = true };
	assert_int_equal(cpm_store_msg_expire(s, 99, collect_expired, &x), 0);
	assert_int_equal(x.n, 0);
	assert_int_equal(cpm_store_msg_expire(s, 150, collect_expired, &x), 2);
	assert_int_equal(x.n, 2);
	assert_true(x.bodies_ok);
	assert_int_equal(x.ids[0], a);
	assert_int_equal(x.states[0], CPM_STORE_MSG_STORED);
	assert_int_equal(x.ids[1], c);
	assert_int_equal(x.states[1], CPM_STORE_MSG_DELIVERED);
	struct cpm_store_msg g;
	assert_int_equal(cpm_store_msg_get(s, a, &g), CPM_ENOTFOUND);
	assert_int_equal(cpm_store_msg_get(s, c, &g), CPM_ENOTFOUND);
	struct cpm_store_msg_delivery dv;
	assert_int_equal(cpm_store_msg_delivery_get(s, a, "dev", &dv),
			 CPM_ENOTFOUND);
	/* a callback stop: the ones before are removed, that one (not
	 * handled) and the rest stay */
	x = (struct ecollect){ .stop_at = 2, .bodies_ok = true };
	assert_int_equal(cpm_store_msg_expire(s, 1000, collect_expired, &x), 5);
	assert_int_equal(x.n, 2);
	assert_int_equal(x.ids[0], b);
	assert_int_equal(x.ids[1], d);
	assert_int_equal(cpm_store_msg_get(s, b, &g), CPM_ENOTFOUND);
	assert_int_equal(cpm_store_msg_get(s, d, &g), 0);
	cpm_store_msg_free_body(&g);
	assert_int_equal(cpm_store_msg_get(s, e, &g), 0);
	cpm_store_msg_free_body(&g);
	x = (struct ecollect){ .stop_at = -1, .bodies_ok = true };
	assert_int_equal(cpm_store_msg_expire(s, 1000, collect_expired, &x), 2);
	assert_int_equal(x.ids[0], d);
	assert_int_equal(x.ids[1], e);
	/* expires 0 never expires */
	assert_int_equal(cpm_store_msg_expire(s, INT64_MAX, collect_expired, &x), 0);
	assert_int_equal(cpm_store_msg_get(s, never, &g), 0);
	cpm_store_msg_free_body(&g);
	assert_int_equal(cpm_store_msg_expire(s, 1, NULL, NULL), CPM_EINVAL);
	assert_usage_consistent(s);
	cpm_store_close(s);
}

static void test_usage(void **state)
{
	struct cpm_store *s = open_store();
	int64_t n = -1, bytes = -1;
	assert_int_equal(cpm_store_msg_usage(s, "bob@example.test", &n, &bytes), 0);
	assert_int_equal(n, 0);
	assert_int_equal(bytes, 0);
	int64_t a = put(s, "bob@example.test", "u1", 0);
	put(s, "bob@example.test", "u2", 0);
	struct cpm_store_msg m = mkmsg("bob@example.test", "u3", 0);
	m.body = "xyz";
	m.body_len = 3;
	assert_int_equal(cpm_store_msg_put(s, &m), 0);
	put(s, "carol@example.test", "u4", 0);
	assert_int_equal(cpm_store_msg_usage(s, "bob@EXAMPLE.test", &n, &bytes), 0);
	assert_int_equal(n, 3);
	assert_int_equal(bytes, 2 * BODY_NUL_LEN + 3);
	/* only waiting messages count: a delivered one kept for the history
	 * leaves the box (and comes back if it waits again) */
	assert_int_equal(cpm_store_msg_mark_delivered(s, a), 0);
	assert_int_equal(cpm_store_msg_usage(s, "bob@example.test", &n, &bytes), 0);
	assert_int_equal(n, 2);
	assert_int_equal(bytes, BODY_NUL_LEN + 3);
	assert_usage_consistent(s);
	assert_int_equal(cpm_store_msg_state_set(s, a, CPM_STORE_MSG_STORED), 0);
	assert_int_equal(cpm_store_msg_usage(s, "bob@example.test", &n, &bytes), 0);
	assert_int_equal(n, 3);
	assert_usage_consistent(s);
	assert_int_equal(cpm_store_msg_state_set(s, a, CPM_STORE_MSG_FAILED), 0);
	assert_int_equal(cpm_store_msg_del(s, a), 0);
	assert_int_equal(cpm_store_msg_usage(s, "bob@example.test", &n, &bytes), 0);
	assert_int_equal(n, 2);
	assert_int_equal(bytes, BODY_NUL_LEN + 3);
	assert_usage_consistent(s);
	assert_int_equal(cpm_store_msg_usage(s, "bob", &n, &bytes), CPM_EINVAL);
	/* the recipient and the body are immutable */
	sqlite3 *db;
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE messages SET recipient = "
					  "'x@example.test'",
				      NULL, NULL, NULL),
			 SQLITE_CONSTRAINT);
	sqlite3_close(db);
	/* every message of an AoR gone: its usage row too */
	struct mcollect c;
	assert_int_equal(list(s, "carol@example.test", NULL, 0, 0, 1, &c), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(cpm_store_msg_del(s, c.ids[0]), 0);
	assert_int_equal(cpm_store_msg_usage(s, "carol@example.test", &n, &bytes),
			 0);
	assert_int_equal(n, 0);
	assert_int_equal(bytes, 0);
	assert_usage_consistent(s);
	cpm_store_close(s);
}

/* ------------------------------------------------------------ migration */

/* The schema of version 1, as released (users, bindings). */
static const char v1_schema[] =
	"CREATE TABLE users ("
	" aor TEXT PRIMARY KEY NOT NULL, realm TEXT NOT NULL,"
	" ha1_md5 TEXT NOT NULL, ha1_sha256 TEXT NOT NULL,"
	" created INTEGER NOT NULL);"
	"CREATE TABLE bindings ("
	" aor TEXT NOT NULL, contact TEXT NOT NULL,"
	" instance TEXT NOT NULL DEFAULT '', reg_id INTEGER NOT NULL DEFAULT 0,"
	" path TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT '',"
	" q1000 INTEGER NOT NULL DEFAULT 1000, expires INTEGER NOT NULL,"
	" call_id TEXT NOT NULL DEFAULT '', cseq INTEGER NOT NULL DEFAULT 0,"
	" user_agent TEXT NOT NULL DEFAULT '', PRIMARY KEY (aor, contact));"
	"CREATE INDEX bindings_expires ON bindings (expires);"
	"INSERT INTO users VALUES ('alice@example.test', 'example.test', "
	" '', '', 1600000000);"
	"INSERT INTO bindings (aor, contact, expires) VALUES "
	" ('alice@example.test', 'sip:alice@192.0.2.1', 4102444800);"
	"PRAGMA user_version = 1;";

static int count_bind(void *arg, const struct cpm_store_binding *b)
{
	(*(int *)arg)++;
	return 0;
}

static void test_migrate_from_v1(void **state)
{
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", dbpath);
	assert_int_equal(system(cmd), 0);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL,
				      NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, v1_schema, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(db_int("PRAGMA user_version"), 1);

	struct cpm_store *s = open_store();
	/* the old data is still there */
	struct cpm_store_user u;
	assert_int_equal(cpm_store_user_get(s, "alice@example.test", &u), 0);
	assert_int_equal(u.created, 1600000000);
	int n = 0;
	assert_int_equal(cpm_store_binding_list(s, 0, count_bind, &n), 0);
	assert_int_equal(n, 1);
	/* and the new tables work */
	int64_t id = put(s, "alice@example.test", "after-migration", 0);
	assert_int_equal(cpm_store_msg_delivery_set(s, id, "d", CPM_STORE_DLV_ATTEMPT,
						    1),
			 0);
	cpm_store_close(s);
	assert_int_equal(db_int("PRAGMA user_version"), 6); /* 1 -> ... -> 6 */
	assert_int_equal(db_int("SELECT count(*) FROM messages"), 1);
	/* reopening a current database does not migrate again */
	s = open_store();
	struct mcollect c;
	assert_int_equal(list(s, "alice@example.test", NULL, 0, 0, 1, &c), 0);
	assert_int_equal(c.n, 1);
	cpm_store_close(s);
}

/* -------------------------------------------------------------- batches */

static void test_batch_atomic(void **state)
{
	struct cpm_store *s = open_store();
	put(s, "bob@example.test", "existing", 0);
	struct cpm_store_msg m[5], *p[5];
	char cid[32];
	int errs[5];
	for (int i = 0; i < 5; i++) {
		snprintf(cid, sizeof cid, "batch%d", i);
		m[i] = mkmsg("bob@example.test", cid, 0);
		p[i] = &m[i];
	}
	/* row 3 collides with a stored Call-ID: nothing of the batch stays */
	snprintf(m[3].call_id, sizeof m[3].call_id, "existing");
	assert_int_equal(cpm_store_msg_put_batch(s, p, 5, errs), CPM_EEXIST);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(errs[i], i == 3 ? CPM_EEXIST : CPM_EAGAIN);
		assert_int_equal(m[i].id, 0);
	}
	int64_t n, bytes;
	assert_int_equal(cpm_store_msg_usage(s, "bob@example.test", &n, &bytes), 0);
	assert_int_equal(n, 1);
	/* a duplicate inside the batch, the same */
	snprintf(m[3].call_id, sizeof m[3].call_id, "batch1");
	assert_int_equal(cpm_store_msg_put_batch(s, p, 5, NULL), CPM_EEXIST);
	assert_int_equal(cpm_store_msg_usage(s, "bob@example.test", &n, &bytes), 0);
	assert_int_equal(n, 1);
	/* an invalid row: refused before anything is tried */
	snprintf(m[3].call_id, sizeof m[3].call_id, "batch3");
	snprintf(m[4].recipient, sizeof m[4].recipient, "no-at-sign");
	assert_int_equal(cpm_store_msg_put_batch(s, p, 5, errs), CPM_EINVAL);
	for (int i = 0; i < 5; i++)
		assert_int_equal(errs[i], i == 4 ? CPM_EINVAL : CPM_EAGAIN);
	/* all good: all stored, ids in order */
	snprintf(m[4].recipient, sizeof m[4].recipient, "bob@example.test");
	assert_int_equal(cpm_store_msg_put_batch(s, p, 5, errs), 0);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(errs[i], 0);
		assert_true(m[i].id > 0);
		if (i)
			assert_true(m[i].id > m[i - 1].id);
	}
	assert_int_equal(cpm_store_msg_put_batch(s, p, 0, errs), 0);
	assert_usage_consistent(s);
	cpm_store_close(s);

	/* committed: another connection sees all of it */
	s = open_store();
	struct mcollect c;
	assert_int_equal(list(s, "bob@example.test", NULL, 0, 0, 1, &c), 0);
	assert_int_equal(c.n, 6);
	assert_string_equal(c.cids[0], "existing");
	assert_string_equal(c.cids[5], "batch4");
	/* a batch nests inside an explicit transaction (a savepoint) */
	assert_int_equal(cpm_store_txn(s, CPM_STORE_TXN_BEGIN), 0);
	struct cpm_store_msg x = mkmsg("bob@example.test", "in-txn", 0), *px = &x;
	assert_int_equal(cpm_store_msg_put_batch(s, &px, 1, NULL), 0);
	assert_int_equal(cpm_store_txn(s, CPM_STORE_TXN_ROLLBACK), 0);
	struct cpm_store_msg g;
	assert_int_equal(cpm_store_msg_get(s, x.id, &g), CPM_ENOTFOUND);
	cpm_store_close(s);
}

static void test_reopen_persists(void **state)
{
	struct cpm_store *s = open_store();
	int64_t a = put(s, "bob@example.test", "p1", 0);
	int64_t b = put(s, "bob@example.test", "p2", 4102444800);
	assert_int_equal(cpm_store_msg_delivery_set(s, a, "d1",
						    CPM_STORE_DLV_DELIVERED, 5),
			 0);
	cpm_store_close(s);
	s = open_store();
	struct mcollect c;
	assert_int_equal(list(s, "bob@example.test", "d1", 0, 0, cpm_wall_s(), &c),
			 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.ids[0], b);
	struct cpm_store_msg g;
	assert_int_equal(cpm_store_msg_get(s, a, &g), 0);
	assert_memory_equal(g.body, body_nul, BODY_NUL_LEN);
	cpm_store_msg_free_body(&g);
	/* ids are never reused, even after the highest one is deleted */
	assert_int_equal(cpm_store_msg_del(s, b), 0);
	cpm_store_close(s);
	s = open_store();
	assert_true(put(s, "bob@example.test", "p3", 0) > b);
	cpm_store_close(s);
}

/* --------------------------------------------------------------- worker */

struct bjob {
	struct cpm_store_msg m;
	int idx;
	int rc;
	int *order, *ndone;
	struct cpm_store *check; /* another connection, read in done */
	bool visible_in_done;
	bool fail_after_put; /* writes, then fails: its write is undone */
	bool lose_txn;	     /* fails like an I/O error: the whole
			      * transaction is rolled back */
};

static int bjob_work(struct cpm_store *s, void *arg)
{
	struct bjob *j = arg;
	int rc = cpm_store_msg_put(s, &j->m);
	if (j->lose_txn) {
		cpm_store_txn(s, CPM_STORE_TXN_ROLLBACK);
		return CPM_EIO;
	}
	if (!rc && j->fail_after_put)
		rc = cpm_store_msg_delivery_set(s, j->m.id, "dev",
						CPM_STORE_DLV_ATTEMPT, 1);
	return rc ? rc : j->fail_after_put ? CPM_ELIMIT : 0;
}

static void bjob_done(void *arg, int rc)
{
	struct bjob *j = arg;
	j->rc = rc;
	j->order[(*j->ndone)++] = j->idx;
	if (!rc && j->check) {
		/* done runs after the commit: another connection sees it */
		struct cpm_store_msg g;
		j->visible_in_done = cpm_store_msg_get(j->check, j->m.id, &g) == 0;
		cpm_store_msg_free_body(&g);
	}
}

static void gate_work(struct cpm_store *s, void *arg)
{
	uv_sem_wait(arg); /* hold the worker until the queue is filled */
}

static void barrier_done(void *arg)
{
	(*(int *)arg)++;
}

/* The worker tests' frame: a worker on its own loop, a second connection
 * that sees only what is committed, a gate that holds the worker while a
 * test queues its jobs; at the end, the usage counters must match. */
static void frame_begin(uv_loop_t *loop, struct cpm_store_worker **w,
			struct cpm_store **check, uv_sem_t *gate)
{
	assert_int_equal(uv_loop_init(loop), 0);
	assert_int_equal(cpm_store_worker_new(loop, url, w), 0);
	*check = open_store();
	uv_sem_init(gate, 0);
}

static void frame_end(uv_loop_t *loop, uv_sem_t *gate, struct cpm_store *check)
{
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(loop), 0);
	uv_sem_destroy(gate);
	assert_usage_consistent(check);
	cpm_store_close(check);
}

#define NB 40

static void test_worker_batching(void **state)
{
	uv_loop_t loop;
	struct cpm_store_worker *w;
	struct cpm_store *check;
	uv_sem_t gate;
	frame_begin(&loop, &w, &check, &gate);

	static struct bjob jobs[NB];
	int order[NB], ndone = 0, barriers = 0;
	assert_int_equal(cpm_store_worker_submit(w, gate_work, NULL, &gate), 0);
	for (int i = 0; i < NB; i++) {
		char cid[32];
		snprintf(cid, sizeof cid, "w%d", i);
		jobs[i] = (struct bjob){ mkmsg("bob@example.test", cid, 0), i, -99,
					 order, &ndone, check, false, false, false };
		if (i == 7) /* a failing job in the middle of the first batch */
			snprintf(jobs[i].m.call_id, sizeof jobs[i].m.call_id, "w3");
		jobs[i].fail_after_put = i == 12;
		if (i == 30) /* an ordinary job ends the first batch */
			assert_int_equal(cpm_store_worker_submit(w, NULL,
								 barrier_done,
								 &barriers),
					 0);
		assert_int_equal(cpm_store_worker_submit_batchable(w, bjob_work,
								   bjob_done,
								   &jobs[i]),
				 0);
	}
	assert_int_equal(cpm_store_worker_submit_batchable(w, NULL, bjob_done, NULL),
			 CPM_EINVAL);
	uv_sem_post(&gate);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(ndone, NB);
	assert_int_equal(barriers, 1);
	for (int i = 0; i < NB; i++) {
		assert_int_equal(order[i], i);
		if (i == 7) {
			assert_int_equal(jobs[i].rc, CPM_EEXIST);
			continue;
		}
		if (i == 12) {
			/* its savepoint was rolled back, nobody else's */
			assert_int_equal(jobs[i].rc, CPM_ELIMIT);
			struct mcollect c;
			assert_int_equal(list(check, "bob@example.test", NULL, 0, 0,
					      1, &c),
					 0);
			assert_int_equal(c.n, NB - 2);
			for (int k = 0; k < c.n; k++)
				assert_string_not_equal(c.cids[k], "w12");
			/* (its id was not committed: job 13 got it) */
			struct cpm_store_msg_delivery d;
			assert_int_equal(cpm_store_msg_delivery_get(check,
								    jobs[i].m.id,
								    "dev", &d),
					 CPM_ENOTFOUND);
			continue;
		}
		assert_int_equal(jobs[i].rc, 0);
		assert_true(jobs[i].visible_in_done);
		if (i && i != 8 && i != 13)
			assert_true(jobs[i].m.id > jobs[i - 1].m.id);
	}
	uint64_t batches, bjobs;
	cpm_store_worker_batch_stats(w, &batches, &bjobs);
	assert_int_equal(batches, 2); /* 30 jobs, the barrier, 10 jobs */
	assert_int_equal(bjobs, NB);
	int64_t n, bytes;
	assert_int_equal(cpm_store_msg_usage(check, "bob@example.test", &n, &bytes),
			 0);
	assert_int_equal(n, NB - 2);

	/* a batch that cannot begin (another writer holds the lock, no busy
	 * wait): every job gets the error, nothing is stored */
	cpm_store_worker_flush_and_free(w);
	uv_run(&loop, UV_RUN_DEFAULT);
	struct cpm_store_options nowait = { 0 };
	assert_int_equal(cpm_store_worker_new_ex(&loop, url, &nowait, &w), 0);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
			 SQLITE_OK);
	ndone = 0;
	assert_int_equal(cpm_store_worker_submit(w, gate_work, NULL, &gate), 0);
	for (int i = 0; i < 3; i++) {
		char cid[32];
		snprintf(cid, sizeof cid, "locked%d", i);
		jobs[i] = (struct bjob){ mkmsg("bob@example.test", cid, 0), i, -99,
					 order, &ndone, NULL, false, false, false };
		assert_int_equal(cpm_store_worker_submit_batchable(w, bjob_work,
								   bjob_done,
								   &jobs[i]),
				 0);
	}
	uv_sem_post(&gate);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(ndone, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(jobs[i].rc, CPM_EBUSY);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(cpm_store_msg_usage(check, "bob@example.test", &n, &bytes),
			 0);
	assert_int_equal(n, NB - 2);

	/* a job whose failure ends the whole transaction (as SQLite does on
	 * an I/O error): the jobs before it report the error (their writes
	 * are gone), the ones after it run in a new transaction */
	ndone = 0;
	assert_int_equal(cpm_store_worker_submit(w, gate_work, NULL, &gate), 0);
	for (int i = 0; i < 6; i++) {
		char cid[32];
		snprintf(cid, sizeof cid, "lost%d", i);
		jobs[i] = (struct bjob){ mkmsg("bob@example.test", cid, 0), i, -99,
					 order, &ndone, check, false, false,
					 i == 2 };
		assert_int_equal(cpm_store_worker_submit_batchable(w, bjob_work,
								   bjob_done,
								   &jobs[i]),
				 0);
	}
	uv_sem_post(&gate);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(ndone, 6);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(order[i], i);
		assert_int_equal(jobs[i].rc, i <= 2 ? CPM_EIO : 0);
		if (i > 2)
			assert_true(jobs[i].visible_in_done);
	}
	assert_int_equal(cpm_store_msg_usage(check, "bob@example.test", &n, &bytes),
			 0);
	assert_int_equal(n, NB - 2 + 3);

	/* flush: queued batchable jobs run, done before it returns */
	ndone = 0;
	for (int i = 0; i < 5; i++) {
		char cid[32];
		snprintf(cid, sizeof cid, "flush%d", i);
		jobs[i] = (struct bjob){ mkmsg("bob@example.test", cid, 0), i, -99,
					 order, &ndone, check, false, false, false };
		assert_int_equal(cpm_store_worker_submit_batchable(w, bjob_work,
								   bjob_done,
								   &jobs[i]),
				 0);
	}
	cpm_store_worker_flush_and_free(w);
	assert_int_equal(ndone, 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(jobs[i].rc, 0);
		assert_true(jobs[i].visible_in_done);
	}
	frame_end(&loop, &gate, check);
}

/* Read jobs (cpm_store_worker_submit_read) are no barrier: between
 * batchable jobs they run inside the batch's transaction, see the writes
 * queued before them, and their done runs after the COMMIT, in order. */
struct readjob {
	const char *aor;
	int idx;
	int64_t count; /* what the read saw */
	int *order, *ndone;
	struct cpm_store *check;
	int64_t committed; /* what another connection sees in done */
	bool lose_txn;	   /* the read fails like an I/O error */
};

static void readjob_work(struct cpm_store *s, void *arg)
{
	struct readjob *r = arg;
	int64_t bytes;
	if (cpm_store_msg_usage(s, r->aor, &r->count, &bytes))
		r->count = -1;
	if (r->lose_txn)
		cpm_store_txn(s, CPM_STORE_TXN_ROLLBACK);
}

static void readjob_done(void *arg)
{
	struct readjob *r = arg;
	int64_t bytes;
	r->order[(*r->ndone)++] = r->idx;
	if (r->check && cpm_store_msg_usage(r->check, r->aor, &r->committed, &bytes))
		r->committed = -1;
}

static void test_worker_read_jobs(void **state)
{
	uv_loop_t loop;
	struct cpm_store_worker *w;
	struct cpm_store *check;
	uv_sem_t gate;
	frame_begin(&loop, &w, &check, &gate);
	static struct bjob jobs[8];
	static struct readjob reads[8];
	int order[16], border[8], ndone = 0, bdone = 0, barriers = 0;

	/* put, read, put, read, barrier, put, read */
	assert_int_equal(cpm_store_worker_submit(w, gate_work, NULL, &gate), 0);
	int k = 0, b = 0;
	for (int i = 0; i < 7; i++) {
		if (i == 4) {
			assert_int_equal(cpm_store_worker_submit(w, NULL, barrier_done,
								 &barriers),
					 0);
			continue;
		}
		if (i == 0 || i == 2 || i == 5) {
			char cid[32];
			snprintf(cid, sizeof cid, "rd%d", i);
			jobs[b] = (struct bjob){ mkmsg("carol@example.test", cid, 0), b, -99,
						 border, &bdone, NULL, false, false, false };
			assert_int_equal(cpm_store_worker_submit_batchable(w, bjob_work,
									   bjob_done,
									   &jobs[b]),
					 0);
			b++;
		} else {
			reads[k] = (struct readjob){ "carol@example.test", i, -99, order,
						     &ndone, check, -99, false };
			assert_int_equal(cpm_store_worker_submit_read(w, readjob_work,
								      readjob_done,
								      &reads[k]),
					 0);
			k++;
		}
	}
	assert_int_equal(cpm_store_worker_submit_read(w, NULL, readjob_done, NULL),
			 CPM_EINVAL);
	uv_sem_post(&gate);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(bdone, 3);
	assert_int_equal(ndone, 3);
	assert_int_equal(barriers, 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(jobs[i].rc, 0);
	/* each read saw the puts before it, and ran before the puts after */
	assert_int_equal(reads[0].count, 1);
	assert_int_equal(reads[1].count, 2);
	assert_int_equal(reads[2].count, 3);
	/* done after the COMMIT of its batch (the worker may have committed
	 * the next one too by then), in submit order */
	assert_true(reads[0].committed >= 2);
	assert_true(reads[1].committed >= 2);
	assert_int_equal(reads[2].committed, 3);
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 3);
	assert_int_equal(order[2], 6);
	uint64_t batches, bjobs;
	cpm_store_worker_batch_stats(w, &batches, &bjobs);
	assert_int_equal(batches, 2); /* put read put read | put read */
	assert_int_equal(bjobs, 3);

	/* reads alone: no transaction, no batch */
	ndone = 0;
	assert_int_equal(cpm_store_worker_submit(w, gate_work, NULL, &gate), 0);
	for (int i = 0; i < 3; i++) {
		reads[i] = (struct readjob){ "carol@example.test", i, -99, order, &ndone,
					     NULL, -99, false };
		assert_int_equal(cpm_store_worker_submit_read(w, readjob_work, readjob_done,
							      &reads[i]),
				 0);
	}
	uv_sem_post(&gate);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(ndone, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(order[i], i);
		assert_int_equal(reads[i].count, 3);
	}
	cpm_store_worker_batch_stats(w, &batches, &bjobs);
	assert_int_equal(batches, 2);

	/* a read that ends the transaction (as an I/O error would): the
	 * puts before it report the error, the rest run in a new one */
	ndone = 0;
	bdone = 0;
	assert_int_equal(cpm_store_worker_submit(w, gate_work, NULL, &gate), 0);
	for (int i = 0; i < 2; i++) {
		char cid[32];
		snprintf(cid, sizeof cid, "rdlost%d", i);
		jobs[i] = (struct bjob){ mkmsg("carol@example.test", cid, 0), i, -99,
					 border, &bdone, NULL, false, false, false };
		assert_int_equal(cpm_store_worker_submit_batchable(w, bjob_work, bjob_done,
								   &jobs[i]),
				 0);
		reads[i] = (struct readjob){ "carol@example.test", i, -99, order, &ndone,
					     check, -99, i == 0 };
		assert_int_equal(cpm_store_worker_submit_read(w, readjob_work, readjob_done,
							      &reads[i]),
				 0);
	}
	uv_sem_post(&gate);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(bdone, 2);
	assert_int_equal(ndone, 2);
	assert_int_equal(jobs[0].rc, CPM_EIO);
	assert_int_equal(jobs[1].rc, 0);
	assert_int_equal(reads[0].count, 4); /* its own view, before the loss */
	assert_int_equal(reads[1].count, 4); /* rdlost0 is gone, rdlost1 in */
	assert_int_equal(reads[1].committed, 4);

	cpm_store_worker_flush_and_free(w);
	frame_end(&loop, &gate, check);
	(void)state;
}

/* ------------------------------------------------------ rate (printed) */

static double secs(uint64_t t0)
{
	uint64_t d = cpm_now_ms() - t0;
	return (d ? (double)d : 0.5) / 1000.0;
}

struct rjob {
	struct cpm_store_msg m;
	int *ndone, *nfail;
};

static int rjob_work(struct cpm_store *s, void *arg)
{
	return cpm_store_msg_put(s, &((struct rjob *)arg)->m);
}

static void rjob_done(void *arg, int rc)
{
	struct rjob *j = arg;
	(*j->ndone)++;
	if (rc)
		(*j->nfail)++;
}

static void rjob_plain(struct cpm_store *s, void *arg)
{
	struct rjob *j = arg;
	if (cpm_store_msg_put(s, &j->m))
		j->m.id = -1;
}

static void rjob_plain_done(void *arg)
{
	struct rjob *j = arg;
	rjob_done(arg, j->m.id < 0 ? CPM_ESTORE : 0);
}

static void test_put_rate(void **state)
{
	/* CPM_STORE_BENCH_N scales it; the default keeps the suite quick */
	const char *env = getenv("CPM_STORE_BENCH_N");
	int nsingle = env ? atoi(env) : 200;
	if (nsingle < 10)
		nsingle = 10;
	int nbatch = nsingle * 10;
	struct cpm_store *s = open_store();
	char cid[32];
	uint64_t t0 = cpm_now_ms();
	for (int i = 0; i < nsingle; i++) {
		snprintf(cid, sizeof cid, "single%d", i);
		struct cpm_store_msg m = mkmsg("bob@example.test", cid, 0);
		assert_int_equal(cpm_store_msg_put(s, &m), 0);
	}
	double single = nsingle / secs(t0);

	struct cpm_store_msg *m = calloc((size_t)nbatch, sizeof *m);
	struct cpm_store_msg **p = calloc((size_t)nbatch, sizeof *p);
	assert_non_null(m);
	assert_non_null(p);
	for (int i = 0; i < nbatch; i++) {
		snprintf(cid, sizeof cid, "batch%d", i);
		m[i] = mkmsg("bob@example.test", cid, 0);
		p[i] = &m[i];
	}
	t0 = cpm_now_ms();
	for (int i = 0; i < nbatch; i += 100)
		assert_int_equal(cpm_store_msg_put_batch(s, p + i,
							 (size_t)(nbatch - i < 100
									  ? nbatch - i
									  : 100),
							 NULL),
				 0);
	double batched = nbatch / secs(t0);
	free(p);
	free(m);
	cpm_store_close(s);

	/* the worker with everything queued at once (a burst of MESSAGEs),
	 * first as ordinary jobs (one commit each), then batchable */
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	struct cpm_store_worker *w;
	assert_int_equal(cpm_store_worker_new(&loop, url, &w), 0);
	struct rjob *jobs = calloc((size_t)nbatch, sizeof *jobs);
	assert_non_null(jobs);
	int ndone = 0, nfail = 0;
	t0 = cpm_now_ms();
	for (int i = 0; i < nsingle; i++) {
		snprintf(cid, sizeof cid, "plain%d", i);
		jobs[i] = (struct rjob){ mkmsg("bob@example.test", cid, 0), &ndone,
					 &nfail };
		assert_int_equal(cpm_store_worker_submit(w, rjob_plain, rjob_plain_done,
							 &jobs[i]),
				 0);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	double plain = nsingle / secs(t0);
	assert_int_equal(ndone, nsingle);
	assert_int_equal(nfail, 0);
	ndone = 0;
	t0 = cpm_now_ms();
	for (int i = 0; i < nbatch; i++) {
		snprintf(cid, sizeof cid, "worker%d", i);
		jobs[i] = (struct rjob){ mkmsg("bob@example.test", cid, 0), &ndone,
					 &nfail };
		assert_int_equal(cpm_store_worker_submit_batchable(w, rjob_work,
								   rjob_done,
								   &jobs[i]),
				 0);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	double worker = nbatch / secs(t0);
	assert_int_equal(ndone, nbatch);
	assert_int_equal(nfail, 0);
	uint64_t batches, bjobs;
	cpm_store_worker_batch_stats(w, &batches, &bjobs);
	cpm_store_worker_flush_and_free(w);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	free(jobs);
	printf("# store msg put rate (synchronous=FULL, WAL, %s):\n"
	       "#   single put           %8.0f/s (%d puts, one commit each)\n"
	       "#   put_batch x100       %8.0f/s (%d puts)\n"
	       "#   worker, plain jobs   %8.0f/s (%d puts, one commit each)\n"
	       "#   worker, batchable    %8.0f/s (%d puts in %llu commits)\n",
	       tmpdir, single, nsingle, batched, nbatch, plain, nsingle, worker,
	       nbatch, (unsigned long long)batches);
}

int main(void)
{
	cpm_log_set_level(-1); /* the expected failures need no logging */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_order_cursor, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_devices_late_fork, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_expire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_from_v1, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_batch_atomic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_persists, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_worker_read_jobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_worker_batching, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_put_rate, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
