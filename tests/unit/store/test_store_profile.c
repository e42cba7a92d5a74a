/* store: per-user profiles (schema 3): put/get, the user's deletion,
 * the 2 -> 3 migration, and a CLI connection writing while the worker's
 * connection reads and writes. */
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
	snprintf(tmpdir, sizeof tmpdir, "/tmp/cpm_prof_XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(dbpath, sizeof dbpath, "%s/cpmd.db", tmpdir);
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

static void add_user(struct cpm_store *s, const char *aor)
{
	struct cpm_store_user u;
	memset(&u, 0, sizeof u);
	snprintf(u.aor, sizeof u.aor, "%s", aor);
	snprintf(u.realm, sizeof u.realm, "example.test");
	u.created = 1700000000;
	assert_int_equal(cpm_store_user_add(s, &u), 0);
}

static const char prof_a[] = "store-and-forward=no\naccepts=text/plain\n"
			     "class=default\n";
static const char prof_b[] = "store-and-forward=forward:sip:bob@example.test\n"
			     "accepts=*/*\nclass=gold\n";

static int sql_int(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	int v = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return v;
}

static void test_put_get(void **state)
{
	struct cpm_store *s = open_store();
	char t[CPM_STORE_PROFILE_MAX];
	/* no user, no profile: the default applies */
	assert_int_equal(cpm_store_profile_get(s, "alice@example.test", t, sizeof t),
			 CPM_ENOTFOUND);
	/* a profile needs its user */
	assert_int_equal(cpm_store_profile_put(s, "alice@example.test", prof_a),
			 CPM_ENOTFOUND);
	add_user(s, "alice@example.test");
	assert_int_equal(cpm_store_profile_get(s, "alice@example.test", t, sizeof t),
			 CPM_ENOTFOUND);
	/* the AoR is normalised like the users' */
	assert_int_equal(cpm_store_profile_put(s, "alice@EXAMPLE.test", prof_a), 0);
	assert_int_equal(cpm_store_profile_get(s, "alice@example.test", t, sizeof t),
			 0);
	assert_string_equal(t, prof_a);
	/* replace */
	assert_int_equal(cpm_store_profile_put(s, "alice@example.test", prof_b), 0);
	assert_int_equal(cpm_store_profile_get(s, "alice@Example.Test", t, sizeof t),
			 0);
	assert_string_equal(t, prof_b);
	/* case of the user part matters */
	assert_int_equal(cpm_store_profile_get(s, "Alice@example.test", t, sizeof t),
			 CPM_ENOTFOUND);
	/* a buffer too small */
	char small[8];
	assert_int_equal(cpm_store_profile_get(s, "alice@example.test", small,
					       sizeof small),
			 CPM_ETOOBIG);
	/* argument checks */
	assert_int_equal(cpm_store_profile_get(s, "alice", t, sizeof t), CPM_EINVAL);
	assert_int_equal(cpm_store_profile_get(s, "alice@example.test", t, 0),
			 CPM_EINVAL);
	assert_int_equal(cpm_store_profile_get(s, "alice@example.test", NULL, 9),
			 CPM_EINVAL);
	assert_int_equal(cpm_store_profile_put(s, "alice@example.test", ""),
			 CPM_EINVAL);
	assert_int_equal(cpm_store_profile_put(s, "alice@example.test", NULL),
			 CPM_EINVAL);
	assert_int_equal(cpm_store_profile_put(s, "alice@example.test", "a=\rb"),
			 CPM_EINVAL);
	assert_int_equal(cpm_store_profile_put(s, "nobody", prof_a), CPM_EINVAL);
	char *big = malloc(CPM_STORE_PROFILE_MAX + 1);
	memset(big, 'x', CPM_STORE_PROFILE_MAX);
	big[CPM_STORE_PROFILE_MAX] = '\0';
	assert_int_equal(cpm_store_profile_put(s, "alice@example.test", big),
			 CPM_ETOOBIG);
	big[CPM_STORE_PROFILE_MAX - 1] = '\0'; /* the largest that fits */
	assert_int_equal(cpm_store_profile_put(s, "alice@example.test", big), 0);
	assert_int_equal(cpm_store_profile_get(s, "alice@example.test", t, sizeof t),
			 0);
	assert_int_equal(strlen(t), CPM_STORE_PROFILE_MAX - 1);
	free(big);
	/* failed puts changed nothing else; profiles are per user */
	add_user(s, "bob@example.test");
	assert_int_equal(cpm_store_profile_get(s, "bob@example.test", t, sizeof t),
			 CPM_ENOTFOUND);
	cpm_store_close(s);
}

static void test_user_del_deletes_profile(void **state)
{
	struct cpm_store *s = open_store();
	char t[CPM_STORE_PROFILE_MAX];
	add_user(s, "alice@example.test");
	add_user(s, "bob@example.test");
	assert_int_equal(cpm_store_profile_put(s, "alice@example.test", prof_a), 0);
	assert_int_equal(cpm_store_profile_put(s, "bob@example.test", prof_b), 0);
	assert_int_equal(cpm_store_user_del(s, "alice@example.test"), 0);
	assert_int_equal(cpm_store_profile_get(s, "alice@example.test", t, sizeof t),
			 CPM_ENOTFOUND);
	/* a new user of the same AoR starts from the default */
	add_user(s, "alice@example.test");
	assert_int_equal(cpm_store_profile_get(s, "alice@example.test", t, sizeof t),
			 CPM_ENOTFOUND);
	/* the other user's profile is untouched */
	assert_int_equal(cpm_store_profile_get(s, "bob@example.test", t, sizeof t), 0);
	assert_string_equal(t, prof_b);
	/* a deletion rolled back keeps the profile */
	assert_int_equal(cpm_store_txn(s, CPM_STORE_TXN_BEGIN), 0);
	assert_int_equal(cpm_store_user_del(s, "bob@example.test"), 0);
	assert_int_equal(cpm_store_profile_get(s, "bob@example.test", t, sizeof t),
			 CPM_ENOTFOUND);
	assert_int_equal(cpm_store_txn(s, CPM_STORE_TXN_ROLLBACK), 0);
	assert_int_equal(cpm_store_profile_get(s, "bob@example.test", t, sizeof t), 0);
	assert_string_equal(t, prof_b);
	cpm_store_close(s);
	assert_int_equal(sql_int("SELECT count(*) FROM profiles"), 1);
}

/* A version 2 database: today's schema minus what migrations 2 -> ... -> 6 add,
 * with a user written in version 2. */
static void test_migration_v2_to_v3(void **state)
{
	cpm_store_close(open_store());
	assert_int_equal(sql_int("PRAGMA user_version"), 6);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(
		sqlite3_exec(db,
			     "DROP TRIGGER users_del; DROP TABLE profiles;"
			     "DROP TRIGGER users_not_room; DROP TABLE rooms;"
			     "DROP TABLE room_members; DROP TABLE room_messages;"
			     "DROP TABLE room_serial;"
			     "ALTER TABLE messages DROP COLUMN token;"
			     "DROP TRIGGER messages_done; DROP TRIGGER messages_again;"
			     "INSERT INTO users VALUES ('carol@example.test', "
			     "'example.test', '', '', 1600000000);"
			     "PRAGMA user_version = 2;",
			     NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(sql_int("SELECT count(*) FROM sqlite_master WHERE "
				 "name = 'profiles'"),
			 0);

	struct cpm_store *s = open_store();
	assert_int_equal(sql_int("PRAGMA user_version"), 6);
	char t[CPM_STORE_PROFILE_MAX];
	struct cpm_store_user u;
	assert_int_equal(cpm_store_user_get(s, "carol@example.test", &u), 0);
	assert_int_equal(u.created, 1600000000);
	/* no profile after the migration: the default */
	assert_int_equal(cpm_store_profile_get(s, "carol@example.test", t, sizeof t),
			 CPM_ENOTFOUND);
	assert_int_equal(cpm_store_profile_put(s, "carol@example.test", prof_a), 0);
	cpm_store_close(s);
	/* reopening does not migrate again and keeps the profile */
	s = open_store();
	assert_int_equal(cpm_store_profile_get(s, "carol@example.test", t, sizeof t),
			 0);
	assert_string_equal(t, prof_a);
	/* the trigger came with the migration */
	assert_int_equal(cpm_store_user_del(s, "carol@example.test"), 0);
	cpm_store_close(s);
	assert_int_equal(sql_int("SELECT count(*) FROM profiles"), 0);
}

/* ------------------------------------------------- CLI while the worker runs */

struct pjob {
	const char *aor;
	const char *put; /* NULL: get */
	int rc;
	char text[CPM_STORE_PROFILE_MAX];
	bool done;
};

static void pjob_work(struct cpm_store *s, void *arg)
{
	struct pjob *j = arg;
	if (j->put)
		j->rc = cpm_store_profile_put(s, j->aor, j->put);
	else
		j->rc = cpm_store_profile_get(s, j->aor, j->text, sizeof j->text);
}

static void pjob_done(void *arg)
{
	((struct pjob *)arg)->done = true;
}

static void run_job(uv_loop_t *loop, struct cpm_store_worker *w, struct pjob *j)
{
	j->done = false;
	assert_int_equal(cpm_store_worker_submit(w, pjob_work, pjob_done, j), 0);
	while (!j->done)
		uv_run(loop, UV_RUN_ONCE);
}

static void test_cli_and_worker(void **state)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct cpm_store_worker *w;
	assert_int_equal(cpm_store_worker_new(&loop, url, &w), 0);
	/* the CLI's own connection */
	struct cpm_store *cli = open_store();
	add_user(cli, "alice@example.test");

	struct pjob j = { .aor = "alice@example.test" };
	run_job(&loop, w, &j);
	assert_int_equal(j.rc, CPM_ENOTFOUND);
	/* the CLI writes, the worker sees it at once */
	assert_int_equal(cpm_store_profile_put(cli, "alice@example.test", prof_a), 0);
	run_job(&loop, w, &j);
	assert_int_equal(j.rc, 0);
	assert_string_equal(j.text, prof_a);
	/* the worker writes, the CLI sees it */
	struct pjob p = { .aor = "alice@example.test", .put = prof_b };
	run_job(&loop, w, &p);
	assert_int_equal(p.rc, 0);
	char t[CPM_STORE_PROFILE_MAX];
	assert_int_equal(cpm_store_profile_get(cli, "alice@example.test", t,
					       sizeof t),
			 0);
	assert_string_equal(t, prof_b);
	/* the CLI holds the write lock: the worker's write waits for it
	 * (store.busy_timeout), then succeeds, after the CLI's commit */
	assert_int_equal(cpm_store_txn(cli, CPM_STORE_TXN_BEGIN), 0);
	assert_int_equal(cpm_store_profile_put(cli, "alice@example.test", prof_a), 0);
	p.put = "store-and-forward=notify\naccepts=*/*\nclass=default\n";
	p.done = false;
	assert_int_equal(cpm_store_worker_submit(w, pjob_work, pjob_done, &p), 0);
	usleep(200 * 1000);
	assert_false(p.done);
	uv_run(&loop, UV_RUN_NOWAIT);
	assert_false(p.done);
	assert_int_equal(cpm_store_txn(cli, CPM_STORE_TXN_COMMIT), 0);
	while (!p.done)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(p.rc, 0);
	assert_int_equal(cpm_store_profile_get(cli, "alice@example.test", t,
					       sizeof t),
			 0);
	assert_string_equal(t, p.put);
	/* a worker's read during the CLI's transaction sees the committed
	 * text (WAL: readers do not wait) */
	assert_int_equal(cpm_store_txn(cli, CPM_STORE_TXN_BEGIN), 0);
	assert_int_equal(cpm_store_profile_put(cli, "alice@example.test", prof_a), 0);
	run_job(&loop, w, &j);
	assert_int_equal(j.rc, 0);
	assert_string_equal(j.text, p.put);
	assert_int_equal(cpm_store_txn(cli, CPM_STORE_TXN_ROLLBACK), 0);

	cpm_store_close(cli);
	cpm_store_worker_flush_and_free(w);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_del_deletes_profile, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_migration_v2_to_v3, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cli_and_worker, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
