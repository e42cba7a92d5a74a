/* store: the SQLite backend through the wrappers, the worker thread, and
 * several connections on one database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "store/store.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];
static char url[600];
static char dbpath[512];

static int setup(void **state)
{
	static int n;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/cpm_store_XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	/* nested, missing directories: open must create them */
	snprintf(dbpath, sizeof dbpath, "%s/a/b%d/cpmd.db", tmpdir, n++);
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

static struct cpm_store_user mkuser(const char *aor, const char *c)
{
	struct cpm_store_user u;
	memset(&u, 0, sizeof u);
	snprintf(u.aor, sizeof u.aor, "%s", aor);
	snprintf(u.realm, sizeof u.realm, "example.test");
	memset(u.ha1_md5, c[0], 32);
	memset(u.ha1_sha256, c[0], 64);
	u.created = 1700000000;
	return u;
}

static struct cpm_store_binding mkbind(const char *aor, const char *contact,
				       int q1000, int64_t expires)
{
	struct cpm_store_binding b;
	memset(&b, 0, sizeof b);
	snprintf(b.aor, sizeof b.aor, "%s", aor);
	snprintf(b.contact, sizeof b.contact, "%s", contact);
	snprintf(b.instance, sizeof b.instance, "<urn:uuid:1234>");
	b.reg_id = 1;
	snprintf(b.path, sizeof b.path, "<sip:edge.example;lr>");
	snprintf(b.source, sizeof b.source, "udp:192.0.2.1:5060");
	b.q1000 = q1000;
	b.expires = expires;
	snprintf(b.call_id, sizeof b.call_id, "cid-%s", contact);
	b.cseq = 4000000000u;
	snprintf(b.user_agent, sizeof b.user_agent, "test/1.0");
	return b;
}

/* ------------------------------------------------------------------- users */

static void test_open_creates(void **state)
{
	struct cpm_store *s = open_store();
	struct stat st;
	assert_int_equal(stat(dbpath, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	cpm_store_close(s);

	sqlite3 *db;
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q,
					    NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 6); /* schema 6: chat rooms */
	sqlite3_finalize(q);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q,
					    NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
	sqlite3_finalize(q);
	sqlite3_close(db);

	assert_int_equal(cpm_store_open("mysql:x", &s), CPM_ESCHEME);
	assert_null(s);
	assert_int_equal(cpm_store_open("nocolon", &s), CPM_ESCHEME);
	assert_int_equal(cpm_store_open("sqlite:/proc/nope/x.db", &s), CPM_EIO);
}

static void test_newer_schema_refused(void **state)
{
	cpm_store_close(open_store());
	sqlite3 *db;
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL,
				      NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	struct cpm_store *s = NULL;
	assert_int_equal(cpm_store_open(url, &s), CPM_EVERSION);
	assert_null(s);
}

static void test_migrates_old_database(void **state)
{
	/* an empty database of version 0 (created by someone else) */
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", dbpath);
	assert_int_equal(system(cmd), 0);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE other(x)", NULL, NULL,
				      NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	struct cpm_store *s = open_store();
	struct cpm_store_user u = mkuser("bob@example.test", "a");
	assert_int_equal(cpm_store_user_add(s, &u), 0);
	cpm_store_close(s);
}

static void test_user_crud(void **state)
{
	struct cpm_store *s = open_store();
	struct cpm_store_user u = mkuser("alice@Example.TEST", "a"), g;

	assert_int_equal(cpm_store_user_get(s, "alice@example.test", &g),
			 CPM_ENOTFOUND);
	assert_int_equal(cpm_store_user_add(s, &u), 0);
	assert_int_equal(cpm_store_user_add(s, &u), CPM_EEXIST);
	struct cpm_store_user u2 = mkuser("alice@example.test", "b");
	assert_int_equal(cpm_store_user_add(s, &u2), CPM_EEXIST);

	assert_int_equal(cpm_store_user_get(s, "alice@EXAMPLE.test", &g), 0);
	assert_string_equal(g.aor, "alice@example.test");
	assert_string_equal(g.realm, "example.test");
	assert_string_equal(g.ha1_md5, u.ha1_md5);
	assert_string_equal(g.ha1_sha256, u.ha1_sha256);
	assert_int_equal(g.created, 1700000000);
	/* the user part is case-sensitive */
	assert_int_equal(cpm_store_user_get(s, "Alice@example.test", &g),
			 CPM_ENOTFOUND);

	/* update: realm and HA1s, created kept */
	u2.created = 5;
	snprintf(u2.realm, sizeof u2.realm, "corp");
	assert_int_equal(cpm_store_user_update(s, &u2), 0);
	assert_int_equal(cpm_store_user_get(s, "alice@example.test", &g), 0);
	assert_string_equal(g.realm, "corp");
	assert_string_equal(g.ha1_md5, u2.ha1_md5);
	assert_int_equal(g.created, 1700000000);
	struct cpm_store_user nobody = mkuser("nobody@example.test", "c");
	assert_int_equal(cpm_store_user_update(s, &nobody), CPM_ENOTFOUND);

	assert_int_equal(cpm_store_user_del(s, "alice@example.test"), 0);
	assert_int_equal(cpm_store_user_del(s, "alice@example.test"),
			 CPM_ENOTFOUND);
	assert_int_equal(cpm_store_user_get(s, "alice@example.test", &g),
			 CPM_ENOTFOUND);
	cpm_store_close(s);
}

static void test_user_validation(void **state)
{
	struct cpm_store *s = open_store();
	struct cpm_store_user g;
	static const char *const bad[] = { "alice",	  "@example.test",
					   "alice@",	  "a@b@c",
					   "al ice@x.test", "alice@x_y.test",
					   "<a>@x.test",  "a@x.test:5060",
					   "a@[::1",	  "" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct cpm_store_user u = mkuser(bad[i], "a");
		if (cpm_store_user_add(s, &u) != CPM_EINVAL)
			fail_msg("AoR '%s' accepted", bad[i]);
		assert_int_equal(cpm_store_user_get(s, bad[i], &g), CPM_EINVAL);
	}
	struct cpm_store_user v6 = mkuser("a@[::1]", "a");
	assert_int_equal(cpm_store_user_add(s, &v6), 0);
	struct cpm_store_user u = mkuser("a@x.test", "a");
	u.ha1_md5[5] = 'Z';
	assert_int_equal(cpm_store_user_add(s, &u), CPM_EINVAL);
	u = mkuser("a@x.test", "a");
	u.ha1_sha256[10] = '\0';
	assert_int_equal(cpm_store_user_add(s, &u), CPM_EINVAL);
	u = mkuser("a@x.test", "a");
	memset(u.realm, 'r', sizeof u.realm); /* not terminated */
	assert_int_equal(cpm_store_user_add(s, &u), CPM_EINVAL);
	/* empty HA1 = that algorithm not provisioned */
	u = mkuser("a@x.test", "a");
	u.ha1_md5[0] = '\0';
	assert_int_equal(cpm_store_user_add(s, &u), 0);
	char out[16];
	assert_int_equal(cpm_store_aor_normalize("alice@example.test", out,
						 sizeof out),
			 CPM_ETOOBIG);
	cpm_store_close(s);
}

struct collect {
	char aors[16][256];
	int n;
	int stop_at;
	struct cpm_store *s;
	int nested_rc;
};

static int collect_user(void *arg, const struct cpm_store_user *u)
{
	struct collect *c = arg;
	snprintf(c->aors[c->n++], sizeof c->aors[0], "%s", u->aor);
	if (c->s) {
		struct cpm_store_user g;
		/* other statements may run inside a listing ... */
		assert_int_equal(cpm_store_user_get(c->s, u->aor, &g), 0);
		/* ... the same listing may not */
		c->nested_rc = cpm_store_user_list(c->s, collect_user, c);
		c->s = NULL;
	}
	return c->n == c->stop_at ? 42 : 0;
}

static void test_user_list(void **state)
{
	struct cpm_store *s = open_store();
	struct collect c = { .stop_at = -1 };
	assert_int_equal(cpm_store_user_list(s, collect_user, &c), 0);
	assert_int_equal(c.n, 0);
	const char *aors[] = { "carol@example.test", "alice@example.test",
			       "bob@other.test" };
	for (int i = 0; i < 3; i++) {
		struct cpm_store_user u = mkuser(aors[i], "a");
		assert_int_equal(cpm_store_user_add(s, &u), 0);
	}
	memset(&c, 0, sizeof c);
	c.stop_at = -1;
	c.s = s;
	assert_int_equal(cpm_store_user_list(s, collect_user, &c), 0);
	assert_int_equal(c.nested_rc, CPM_EBUSY);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.aors[0], "alice@example.test");
	assert_string_equal(c.aors[1], "bob@other.test");
	assert_string_equal(c.aors[2], "carol@example.test");
	/* a non-zero callback result stops and is returned */
	memset(&c, 0, sizeof c);
	c.stop_at = 2;
	assert_int_equal(cpm_store_user_list(s, collect_user, &c), 42);
	assert_int_equal(c.n, 2);
	/* and the statement is usable again */
	memset(&c, 0, sizeof c);
	c.stop_at = -1;
	assert_int_equal(cpm_store_user_list(s, collect_user, &c), 0);
	assert_int_equal(c.n, 3);
	cpm_store_close(s);
}

/* ---------------------------------------------------------------- bindings */

struct bcollect {
	struct cpm_store_binding b[16];
	int n;
};

static int collect_binding(void *arg, const struct cpm_store_binding *b)
{
	struct bcollect *c = arg;
	assert_true(c->n < 16);
	c->b[c->n++] = *b;
	return 0;
}

static void test_bindings(void **state)
{
	struct cpm_store *s = open_store();
	struct cpm_store_binding b1 = mkbind("alice@EXAMPLE.test",
					     "sip:alice@192.0.2.1:5060", 500, 1000);
	struct cpm_store_binding b2 = mkbind("alice@example.test",
					     "sip:alice@192.0.2.2:5060", 1000, 2000);
	struct cpm_store_binding b3 = mkbind("bob@example.test",
					     "sip:bob@192.0.2.3;transport=tcp",
					     1000, 3000);
	assert_int_equal(cpm_store_binding_put(s, &b1), 0);
	assert_int_equal(cpm_store_binding_put(s, &b2), 0);
	assert_int_equal(cpm_store_binding_put(s, &b3), 0);

	struct bcollect c = { 0 };
	assert_int_equal(cpm_store_binding_list(s, 0, collect_binding, &c), 0);
	assert_int_equal(c.n, 3);
	/* by AoR, q descending */
	assert_string_equal(c.b[0].contact, b2.contact);
	assert_string_equal(c.b[1].contact, b1.contact);
	assert_string_equal(c.b[2].contact, b3.contact);
	/* every field round-trips, AoR normalised */
	const struct cpm_store_binding *r = &c.b[1];
	assert_string_equal(r->aor, "alice@example.test");
	assert_string_equal(r->instance, b1.instance);
	assert_int_equal(r->reg_id, 1);
	assert_string_equal(r->path, b1.path);
	assert_string_equal(r->source, b1.source);
	assert_int_equal(r->q1000, 500);
	assert_int_equal(r->expires, 1000);
	assert_string_equal(r->call_id, b1.call_id);
	assert_int_equal(r->cseq, 4000000000u);
	assert_string_equal(r->user_agent, "test/1.0");

	/* upsert by (aor, contact): refresh b1 */
	b1.expires = 5000;
	b1.cseq = 7;
	b1.q1000 = 1000;
	b1.instance[0] = '\0';
	assert_int_equal(cpm_store_binding_put(s, &b1), 0);
	memset(&c, 0, sizeof c);
	assert_int_equal(cpm_store_binding_list(s, 0, collect_binding, &c), 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.b[0].contact, b1.contact); /* same q, contact order */
	assert_int_equal(c.b[0].expires, 5000);
	assert_int_equal(c.b[0].cseq, 7);
	assert_string_equal(c.b[0].instance, "");

	/* expiry: list shows expires > now only */
	memset(&c, 0, sizeof c);
	assert_int_equal(cpm_store_binding_list(s, 2000, collect_binding, &c), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.b[0].contact, b1.contact);
	assert_string_equal(c.b[1].contact, b3.contact);
	/* purge deletes expires <= now */
	assert_int_equal(cpm_store_binding_purge(s, 2000), 0);
	assert_int_equal(cpm_store_binding_purge(s, 2000), 0);
	memset(&c, 0, sizeof c);
	assert_int_equal(cpm_store_binding_list(s, 0, collect_binding, &c), 0);
	assert_int_equal(c.n, 2);

	/* delete one, then all of an AoR */
	assert_int_equal(cpm_store_binding_del(s, "bob@Example.Test", b3.contact), 0);
	assert_int_equal(cpm_store_binding_del(s, "bob@example.test", b3.contact),
			 CPM_ENOTFOUND);
	assert_int_equal(cpm_store_binding_put(s, &b2), 0);
	assert_int_equal(cpm_store_binding_del_aor(s, "alice@example.test"), 0);
	assert_int_equal(cpm_store_binding_del_aor(s, "alice@example.test"), 0);
	memset(&c, 0, sizeof c);
	assert_int_equal(cpm_store_binding_list(s, 0, collect_binding, &c), 0);
	assert_int_equal(c.n, 0);

	/* validation */
	struct cpm_store_binding bad = mkbind("nobody", "sip:x@y", 1000, 1);
	assert_int_equal(cpm_store_binding_put(s, &bad), CPM_EINVAL);
	bad = mkbind("a@b.test", "", 1000, 1);
	assert_int_equal(cpm_store_binding_put(s, &bad), CPM_EINVAL);
	bad = mkbind("a@b.test", "sip:x@y", 1001, 1);
	assert_int_equal(cpm_store_binding_put(s, &bad), CPM_EINVAL);
	cpm_store_close(s);
}

static void test_reopen_persists(void **state)
{
	struct cpm_store *s = open_store();
	struct cpm_store_user u = mkuser("alice@example.test", "a");
	assert_int_equal(cpm_store_user_add(s, &u), 0);
	struct cpm_store_binding b = mkbind("alice@example.test", "sip:a@h", 1000,
					    INT64_C(4102444800));
	assert_int_equal(cpm_store_binding_put(s, &b), 0);
	cpm_store_close(s);

	s = open_store();
	struct cpm_store_user g;
	assert_int_equal(cpm_store_user_get(s, "alice@example.test", &g), 0);
	assert_string_equal(g.ha1_sha256, u.ha1_sha256);
	struct bcollect c = { 0 };
	assert_int_equal(cpm_store_binding_list(s, cpm_wall_s(), collect_binding,
						&c),
			 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.b[0].expires, INT64_C(4102444800));
	cpm_store_close(s);
}

/* ------------------------------------------------- several connections */

struct writer {
	const char *prefix;
	int n;
	int failures;
	struct cpm_store_options opts;
};

static void writer_thread(void *arg)
{
	struct writer *w = arg;
	struct cpm_store *s;
	if (cpm_store_open_ex(url, &w->opts, &s)) {
		w->failures = w->n;
		return;
	}
	for (int i = 0; i < w->n; i++) {
		char aor[64];
		snprintf(aor, sizeof aor, "%s%d@example.test", w->prefix, i);
		struct cpm_store_user u = mkuser(aor, "a");
		if (cpm_store_user_add(s, &u))
			w->failures++;
		struct cpm_store_binding b = mkbind(aor, "sip:x@h", 1000, 99999);
		if (cpm_store_binding_put(s, &b))
			w->failures++;
	}
	cpm_store_close(s);
}

static int count_user(void *arg, const struct cpm_store_user *u)
{
	(*(int *)arg)++;
	return 0;
}

static void test_two_connections(void **state)
{
	/* two writers (say the server and the CLI) at once, each with its own
	 * connection: the busy timeout serialises them, nothing fails */
	cpm_store_close(open_store());
	struct writer a = { "a", 200, 0, { 5000 } }, b = { "b", 200, 0, { 5000 } };
	uv_thread_t ta, tb;
	assert_int_equal(uv_thread_create(&ta, writer_thread, &a), 0);
	assert_int_equal(uv_thread_create(&tb, writer_thread, &b), 0);
	/* and a reader meanwhile */
	struct cpm_store *s = open_store();
	for (int i = 0; i < 20; i++) {
		int n = 0;
		assert_int_equal(cpm_store_user_list(s, count_user, &n), 0);
	}
	uv_thread_join(&ta);
	uv_thread_join(&tb);
	assert_int_equal(a.failures, 0);
	assert_int_equal(b.failures, 0);
	int n = 0;
	assert_int_equal(cpm_store_user_list(s, count_user, &n), 0);
	assert_int_equal(n, 400);
	/* one connection sees the other's writes at once */
	struct cpm_store *s2 = open_store();
	struct cpm_store_user u = mkuser("late@example.test", "a"), g;
	assert_int_equal(cpm_store_user_add(s2, &u), 0);
	assert_int_equal(cpm_store_user_get(s, "late@example.test", &g), 0);
	cpm_store_close(s2);
	cpm_store_close(s);
}

struct locker {
	int hold_ms;
	int rc;
	uv_sem_t locked;
};

static void locker_thread(void *arg)
{
	struct locker *l = arg;
	/* no cmocka assertions off the main thread: report through l->rc */
	sqlite3 *db;
	l->rc = sqlite3_open(dbpath, &db);
	if (l->rc == SQLITE_OK)
		l->rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	uv_sem_post(&l->locked);
	usleep((useconds_t)l->hold_ms * 1000);
	if (l->rc == SQLITE_OK)
		l->rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(db);
}

static void test_busy_timeout(void **state)
{
	cpm_store_close(open_store());
	struct cpm_store_options nowait = { 0 }, wait = { 3000 };
	struct cpm_store *fast, *patient;
	assert_int_equal(cpm_store_open_ex(url, &nowait, &fast), 0);
	assert_int_equal(cpm_store_open_ex(url, &wait, &patient), 0);

	struct locker l = { .hold_ms = 300, .rc = -1 };
	uv_sem_init(&l.locked, 0);
	uv_thread_t t;
	assert_int_equal(uv_thread_create(&t, locker_thread, &l), 0);
	uv_sem_wait(&l.locked);
	assert_int_equal(l.rc, SQLITE_OK);
	struct cpm_store_user u1 = mkuser("u1@example.test", "a");
	struct cpm_store_user u2 = mkuser("u2@example.test", "a");
	assert_int_equal(cpm_store_user_add(fast, &u1), CPM_EBUSY);
	assert_true(strstr(cpm_store_last_error(fast), "locked") != NULL);
	uint64_t t0 = cpm_now_ms();
	assert_int_equal(cpm_store_user_add(patient, &u2), 0);
	assert_true(cpm_now_ms() - t0 >= 100);
	uv_thread_join(&t);
	assert_int_equal(l.rc, SQLITE_OK);
	uv_sem_destroy(&l.locked);
	/* reads are not blocked by a writer in WAL mode; fast works again */
	assert_int_equal(cpm_store_user_add(fast, &u1), 0);
	cpm_store_close(fast);
	cpm_store_close(patient);
}

/* ------------------------------------------------------------------ worker */

struct wjob {
	int idx;
	int *order;	 /* done order */
	int *ndone;
	int *work_order; /* work order */
	int *nwork;
	uv_thread_t loop_thread;
	bool work_on_loop, done_off_loop;
	int rc;
};

static void wjob_work(struct cpm_store *s, void *arg)
{
	struct wjob *j = arg;
	uv_thread_t self = uv_thread_self();
	j->work_on_loop = uv_thread_equal(&self, &j->loop_thread);
	j->work_order[(*j->nwork)++] = j->idx;
	char aor[64];
	snprintf(aor, sizeof aor, "w%d@example.test", j->idx);
	struct cpm_store_user u = mkuser(aor, "a");
	j->rc = cpm_store_user_add(s, &u);
}

static void wjob_done(void *arg)
{
	struct wjob *j = arg;
	uv_thread_t self = uv_thread_self();
	j->done_off_loop = !uv_thread_equal(&self, &j->loop_thread);
	j->order[(*j->ndone)++] = j->idx;
}

#define NJOBS 64

static void test_worker(void **state)
{
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	struct cpm_store_worker *w;
	assert_int_equal(cpm_store_worker_new(&loop, url, &w), 0);
	/* idle worker does not keep the loop running */
	assert_int_equal(uv_run(&loop, UV_RUN_NOWAIT), 0);

	static struct wjob jobs[NJOBS];
	int order[NJOBS], work_order[NJOBS], ndone = 0, nwork = 0;
	for (int i = 0; i < NJOBS; i++) {
		jobs[i] = (struct wjob){ i, order, &ndone, work_order, &nwork,
					 uv_thread_self(), false, false, -99 };
		assert_int_equal(cpm_store_worker_submit(w, wjob_work, wjob_done,
							 &jobs[i]),
				 0);
	}
	assert_int_equal(cpm_store_worker_pending(w), NJOBS);
	/* no done callback before the loop runs */
	assert_int_equal(ndone, 0);
	/* the loop runs until every job is done, then returns */
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(ndone, NJOBS);
	assert_int_equal(cpm_store_worker_pending(w), 0);
	for (int i = 0; i < NJOBS; i++) {
		assert_int_equal(order[i], i);
		assert_int_equal(work_order[i], i);
		assert_false(jobs[i].work_on_loop);
		assert_false(jobs[i].done_off_loop);
		assert_int_equal(jobs[i].rc, 0);
	}
	/* a duplicate fails in the job, reported through arg */
	jobs[0].rc = -99;
	ndone = nwork = 0;
	assert_int_equal(cpm_store_worker_submit(w, wjob_work, wjob_done, &jobs[0]),
			 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(jobs[0].rc, CPM_EEXIST);

	/* the worker's writes are visible to another connection */
	struct cpm_store *s = open_store();
	int n = 0;
	assert_int_equal(cpm_store_user_list(s, count_user, &n), 0);
	assert_int_equal(n, NJOBS);
	cpm_store_close(s);

	/* flush: queued jobs run and their done callbacks are called before
	 * flush_and_free returns, without running the loop */
	ndone = nwork = 0;
	for (int i = 0; i < 10; i++) {
		jobs[i].idx = 100 + i;
		assert_int_equal(cpm_store_worker_submit(w, wjob_work, wjob_done,
							 &jobs[i]),
				 0);
	}
	/* NULL work (a barrier) and NULL done are allowed */
	assert_int_equal(cpm_store_worker_submit(w, NULL, wjob_done, &jobs[10]), 0);
	assert_int_equal(cpm_store_worker_submit(w, wjob_work, NULL, &jobs[11]), 0);
	jobs[10].idx = 110;
	cpm_store_worker_flush_and_free(w);
	assert_int_equal(ndone, 11);
	assert_int_equal(nwork, 11);
	for (int i = 0; i < 11; i++)
		assert_int_equal(order[i], 100 + i);
	/* the handle closes on the next loop run, then the loop is empty */
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void slow_work(struct cpm_store *s, void *arg)
{
	usleep(20000);
	(*(int *)arg)++;
}

static void test_worker_refuses_after_flush(void **state)
{
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	struct cpm_store_worker *w;
	assert_int_equal(cpm_store_worker_new(&loop, "bogus:x", &w), CPM_ESCHEME);
	assert_int_equal(cpm_store_worker_new(&loop, url, &w), 0);
	int ran = 0;
	for (int i = 0; i < 5; i++)
		assert_int_equal(cpm_store_worker_submit(w, slow_work, NULL, &ran),
				 0);
	cpm_store_worker_flush_and_free(w);
	assert_int_equal(ran, 5);
	/* until the loop closes the handle, submit is refused, not a crash */
	assert_int_equal(cpm_store_worker_submit(w, slow_work, NULL, &ran),
			 CPM_ESTATE);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

struct chain {
	struct cpm_store_worker *w;
	int left, done;
};

static void chain_work(struct cpm_store *s, void *arg)
{
	struct cpm_store_binding b = mkbind("chain@example.test", "sip:c@h", 1000,
					    ((struct chain *)arg)->left);
	cpm_store_binding_put(s, &b);
}

static void chain_done(void *arg)
{
	struct chain *c = arg;
	c->done++;
	/* a done callback may submit the next job */
	if (--c->left > 0)
		assert_int_equal(cpm_store_worker_submit(c->w, chain_work,
							 chain_done, c),
				 0);
}

static void test_worker_chain(void **state)
{
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	struct chain c = { NULL, 10, 0 };
	assert_int_equal(cpm_store_worker_new(&loop, url, &c.w), 0);
	assert_int_equal(cpm_store_worker_submit(c.w, chain_work, chain_done, &c),
			 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(c.done, 10);
	assert_int_equal(cpm_store_worker_pending(c.w), 0);
	cpm_store_worker_flush_and_free(c.w);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* the worker (the server) and a direct connection (the CLI) together */
static void cli_thread(void *arg)
{
	struct writer *wr = arg;
	writer_thread(wr);
}

static void test_worker_with_cli(void **state)
{
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	struct cpm_store_worker *w;
	assert_int_equal(cpm_store_worker_new(&loop, url, &w), 0);
	struct writer cli = { "cli", 100, 0, { 5000 } };
	uv_thread_t t;
	assert_int_equal(uv_thread_create(&t, cli_thread, &cli), 0);
	static struct wjob jobs[NJOBS];
	int order[NJOBS], work_order[NJOBS], ndone = 0, nwork = 0;
	for (int i = 0; i < NJOBS; i++) {
		jobs[i] = (struct wjob){ i, order, &ndone, work_order, &nwork,
					 uv_thread_self(), false, false, -99 };
		assert_int_equal(cpm_store_worker_submit(w, wjob_work, wjob_done,
							 &jobs[i]),
				 0);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_thread_join(&t);
	assert_int_equal(cli.failures, 0);
	for (int i = 0; i < NJOBS; i++)
		assert_int_equal(jobs[i].rc, 0);
	cpm_store_worker_flush_and_free(w);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	struct cpm_store *s = open_store();
	int n = 0;
	assert_int_equal(cpm_store_user_list(s, count_user, &n), 0);
	assert_int_equal(n, NJOBS + 100);
	cpm_store_close(s);
}

int main(void)
{
	cpm_log_set_level(-1); /* the expected failures need no logging */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_migrates_old_database, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_user_crud, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_validation, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_user_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bindings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_persists, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_two_connections, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_busy_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_worker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_worker_refuses_after_flush,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_worker_with_cli, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_worker_chain, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
