/* cpmd user: the provisioning commands against a real store.  app_user.c
 * belongs to the cpmd program, not to libcpm, so it is included here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "app/app_user.c"

#include <fcntl.h>
#include <sys/stat.h>

static char tmpdir[256];
static struct cpm_conf conf;
static char out[8192], err[8192];

static int setup(void **state)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/cpm_appuser_XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	cpm_conf_defaults(&conf);
	char url[512], e[256];
	snprintf(url, sizeof url, "sqlite:%s/var/cpmd.db", tmpdir);
	return cpm_conf_set(&conf, "store.url", url, e, sizeof e);
}

static int teardown(void **state)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void slurp(int fd, char *buf, size_t bufsz)
{
	lseek(fd, 0, SEEK_SET);
	ssize_t n = read(fd, buf, bufsz - 1);
	buf[n < 0 ? 0 : n] = '\0';
	close(fd);
}

/* Run "cpmd user ARGS..." (NULL-terminated) with stdin from /dev/null and
 * stdout/stderr captured into out/err. */
static int run(const char *arg0, ...)
{
	char *argv[16];
	int argc = 0;
	va_list ap;
	va_start(ap, arg0);
	for (const char *a = arg0; a && argc < 15; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;

	char p1[300], p2[300];
	snprintf(p1, sizeof p1, "%s/out", tmpdir);
	snprintf(p2, sizeof p2, "%s/err", tmpdir);
	fflush(stdout);
	fflush(stderr);
	int o = open(p1, O_RDWR | O_CREAT | O_TRUNC, 0600);
	int e = open(p2, O_RDWR | O_CREAT | O_TRUNC, 0600);
	int in = open("/dev/null", O_RDONLY);
	int so = dup(1), se = dup(2), si = dup(0);
	dup2(o, 1);
	dup2(e, 2);
	dup2(in, 0);
	close(in);
	clearerr(stdin);
	int rc = cpm_app_user_main(&conf, argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	dup2(si, 0);
	close(so);
	close(se);
	close(si);
	clearerr(stdin);
	slurp(o, out, sizeof out);
	slurp(e, err, sizeof err);
	return rc;
}

static void get_user(const char *aor, struct cpm_store_user *u)
{
	struct cpm_store *s;
	assert_int_equal(cpm_store_open(conf.store.url, &s), 0);
	assert_int_equal(cpm_store_user_get(s, aor, u), 0);
	cpm_store_close(s);
}

static void expect_ha1(const struct cpm_store_user *u, const char *user,
		       const char *realm, const char *pw)
{
	char md5[CPM_HASH_HEX_MAX], sha[CPM_HASH_HEX_MAX];
	assert_int_equal(cpm_hash_ha1(CPM_HASH_MD5, user, realm, pw, md5), 0);
	assert_int_equal(cpm_hash_ha1(CPM_HASH_SHA256, user, realm, pw, sha), 0);
	assert_string_equal(u->realm, realm);
	assert_string_equal(u->ha1_md5, md5);
	assert_string_equal(u->ha1_sha256, sha);
}

static void test_add_and_passwd(void **state)
{
	assert_int_equal(run("add", "alice@Example.Test", "--password",
			     "supersecretpw", NULL),
			 0);
	assert_string_equal(out, "added alice@example.test (realm example.test)\n");
	assert_string_equal(err, "");
	struct cpm_store_user u;
	get_user("alice@example.test", &u);
	expect_ha1(&u, "alice", "example.test", "supersecretpw");
	int64_t now = cpm_wall_s();
	assert_true(u.created <= now && u.created > now - 60);

	/* the password itself is nowhere in the database files */
	char cmd[600];
	snprintf(cmd, sizeof cmd,
		 "cat '%s'/var/cpmd.db* | grep -q supersecretpw", tmpdir);
	assert_int_not_equal(system(cmd), 0);

	/* duplicate */
	assert_int_equal(run("add", "sip:alice@example.test", "--password=x",
			     NULL),
			 1);
	assert_non_null(strstr(err, "cpmd user add: user alice@example.test "
				    "already exists"));

	/* passwd from a file, with auth.realm set meanwhile */
	char path[300], e[256];
	snprintf(path, sizeof path, "%s/pw", tmpdir);
	FILE *f = fopen(path, "w");
	fputs("n3w pass\r\nignored second line\n", f);
	fclose(f);
	assert_int_equal(cpm_conf_set(&conf, "auth.realm", "corp", e, sizeof e), 0);
	assert_int_equal(run("passwd", "alice@example.test", "--password-file",
			     path, NULL),
			 0);
	assert_string_equal(out,
			    "password changed for alice@example.test (realm corp)\n");
	struct cpm_store_user u2;
	get_user("alice@example.test", &u2);
	expect_ha1(&u2, "alice", "corp", "n3w pass");
	assert_int_equal(u2.created, u.created);
	assert_int_equal(run("passwd", "bob@example.test", "--password", "x",
			     NULL),
			 1);
	assert_non_null(strstr(err, "no such user: bob@example.test"));

	/* the user part keeps its case; new users get auth.realm */
	assert_int_equal(run("add", "Bob@localhost", "--password", "pw", NULL), 0);
	get_user("Bob@localhost", &u);
	expect_ha1(&u, "Bob", "corp", "pw");
}

static void test_add_errors(void **state)
{
	assert_int_equal(run("add", "alice@elsewhere.test", "--password", "x",
			     NULL),
			 1);
	assert_non_null(strstr(err, "domain 'elsewhere.test' of "
				    "alice@elsewhere.test is not served here "
				    "(server.domain: example.test, 127.0.0.1, "
				    "localhost)"));
	assert_int_equal(run("add", "alice", "--password", "x", NULL), 1);
	assert_non_null(strstr(err, "invalid AoR 'alice': expected user@domain"));
	assert_int_equal(run("add", "a b@example.test", "--password", "x", NULL),
			 1);
	assert_int_equal(run("add", "alice@example.test", "--password", "", NULL),
			 1);
	assert_non_null(strstr(err, "empty password"));
	char path[300];
	snprintf(path, sizeof path, "%s/empty", tmpdir);
	fclose(fopen(path, "w"));
	assert_int_equal(run("add", "alice@example.test", "--password-file", path,
			     NULL),
			 1);
	assert_int_equal(run("add", "alice@example.test", "--password-file",
			     "/nonexistent/pw", NULL),
			 1);
	assert_non_null(strstr(err, "/nonexistent/pw"));
	/* stdin is not a terminal here: no prompt, a usage error */
	assert_int_equal(run("add", "alice@example.test", NULL), 2);
	assert_non_null(strstr(err, "no password"));
	/* --password-file - reads stdin (/dev/null: nothing) */
	assert_int_equal(run("add", "alice@example.test", "--password-file", "-",
			     NULL),
			 1);
	/* usage errors */
	assert_int_equal(run("add", NULL), 2);
	assert_non_null(strstr(err, "missing AOR"));
	assert_int_equal(run("add", "a@example.test", "--password", NULL), 2);
	assert_int_equal(run("add", "a@example.test", "--password", "x",
			     "--password-file", "f", NULL),
			 2);
	assert_int_equal(run("add", "a@example.test", "--force", NULL), 2);
	assert_non_null(strstr(err, "unknown option '--force'"));
	assert_int_equal(run("add", "a@example.test", "b@example.test", NULL), 2);
	assert_int_equal(run("list", "extra", NULL), 2);
	assert_int_equal(run("del", "a@example.test", "--password", "x", NULL), 2);
	assert_int_equal(run("frobnicate", NULL), 2);
	assert_non_null(strstr(err, "unknown command 'frobnicate'"));
	char *argv0[] = { NULL };
	fflush(stderr);
	int devnull = open("/dev/null", O_WRONLY), se = dup(2);
	dup2(devnull, 2);
	int rc = cpm_app_user_main(&conf, 0, argv0);
	dup2(se, 2);
	close(se);
	close(devnull);
	assert_int_equal(rc, 2);
	assert_int_equal(run("help", NULL), 0);
	assert_non_null(strstr(out, "user add AOR"));
	assert_int_equal(run("set", "alice@example.test", "x=y", NULL), 1);
	assert_string_equal(err, "cpmd user set: no such user: alice@example.test\n");
	assert_int_equal(run("set", "alice@example.test", NULL), 2);
	assert_non_null(strstr(err, "cpmd user set: missing KEY=VALUE"));
	assert_int_equal(run("set", NULL), 2);
	assert_non_null(strstr(err, "missing AOR"));
	assert_int_equal(run("set", "alice@example.test", "--force", NULL), 2);
	assert_int_equal(run("show", NULL), 2);
	assert_int_equal(run("show", "alice@example.test", "class=x", NULL), 2);
	assert_int_equal(run("show", "alice@example.test", NULL), 1);
	assert_string_equal(err,
			    "cpmd user show: no such user: alice@example.test\n");
	/* nothing was created */
	assert_int_equal(run("list", NULL), 0);
	assert_string_equal(out, "AOR  REALM  STORE-AND-FORWARD  CREATED\n");
}

static int count_binding(void *arg, const struct cpm_store_binding *b)
{
	(*(int *)arg)++;
	return 0;
}

static void test_list_and_del(void **state)
{
	assert_int_equal(run("add", "carol@example.test", "--password", "a", NULL),
			 0);
	assert_int_equal(run("add", "al@127.0.0.1", "--password", "a", NULL), 0);
	assert_int_equal(run("list", NULL), 0);
	/* aligned: every line has REALM and CREATED at the same columns */
	char *l1 = out, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
	assert_int_equal(strncmp(l1, "AOR ", 4), 0);
	assert_int_equal(strncmp(l2, "al@127.0.0.1 ", 13), 0);
	assert_int_equal(strncmp(l3, "carol@example.test ", 19), 0);
	size_t realm_col = (size_t)(strstr(l1, "REALM") - l1);
	assert_int_equal(realm_col, strlen("carol@example.test  "));
	assert_int_equal(strncmp(l2 + realm_col, "127.0.0.1 ", 10), 0);
	assert_int_equal(strncmp(l3 + realm_col, "example.test ", 13), 0);
	size_t created_col = (size_t)(strstr(l1, "CREATED") - l1);
	assert_true(l3[created_col] == '2' && l3[created_col + 4] == '-');
	assert_int_equal(strlen(l3), created_col + strlen("2026-11-30T00:00:00Z\n"));

	/* del removes the user and its registrations */
	struct cpm_store *s;
	assert_int_equal(cpm_store_open(conf.store.url, &s), 0);
	struct cpm_store_binding b;
	memset(&b, 0, sizeof b);
	strcpy(b.aor, "carol@example.test");
	strcpy(b.contact, "sip:carol@192.0.2.1");
	b.q1000 = 1000;
	b.expires = cpm_wall_s() + 3600;
	assert_int_equal(cpm_store_binding_put(s, &b), 0);
	cpm_store_close(s);
	assert_int_equal(run("del", "carol@EXAMPLE.test", NULL), 0);
	assert_string_equal(out, "deleted carol@example.test\n");
	assert_int_equal(cpm_store_open(conf.store.url, &s), 0);
	int nb = 0;
	assert_int_equal(cpm_store_binding_list(s, 0, count_binding, &nb), 0);
	assert_int_equal(nb, 0);
	cpm_store_close(s);
	assert_int_equal(run("del", "carol@example.test", NULL), 1);
	assert_non_null(strstr(err, "no such user: carol@example.test"));
	assert_int_equal(run("del", "nonsense", NULL), 1);
	assert_int_equal(run("list", NULL), 0);
	assert_null(strstr(out, "carol"));
	assert_non_null(strstr(out, "al@127.0.0.1"));
}

/* ------------------------------------------------------- user set / show */

static void get_profile(const char *aor, char *text, size_t sz, int want)
{
	struct cpm_store *s;
	assert_int_equal(cpm_store_open(conf.store.url, &s), 0);
	assert_int_equal(cpm_store_profile_get(s, aor, text, sz), want);
	cpm_store_close(s);
}

static void test_set_show(void **state)
{
	char e[256], text[CPM_STORE_PROFILE_MAX];
	assert_int_equal(cpm_conf_set_arg(&conf, "class.gold.max_messages=5", e,
					  sizeof e),
			 0);
	assert_int_equal(run("add", "alice@example.test", "--password", "pw",
			     NULL),
			 0);
	/* a new user has the server default, stored nowhere */
	get_profile("alice@example.test", text, sizeof text, CPM_ENOTFOUND);
	assert_int_equal(run("show", "sip:alice@Example.test", NULL), 0);
	char created[32];
	struct cpm_store_user u;
	get_user("alice@example.test", &u);
	cpm_app_iso_time(u.created, created);
	char want[1024];
	snprintf(want, sizeof want,
		 "aor: alice@example.test\nrealm: example.test\ncreated: %s\n"
		 "profile: server default\nstore-and-forward=yes\n"
		 "accepts=*/*\nclass=default\n"
		 "class default: storage=yes max_messages=1000 "
		 "max_bytes=16777216 max_lifetime=604800\n",
		 created);
	assert_string_equal(out, want);
	assert_string_equal(err, "");

	/* several keys at once, any case for keys and words */
	assert_int_equal(run("set", "alice@example.test", "Store-And-Forward=NOTIFY",
			     "accepts=Text/Plain, image/*", "class=gold", NULL),
			 0);
	assert_string_equal(out, "profile of alice@example.test:\n"
				 "store-and-forward=notify\n"
				 "accepts=text/plain, image/*\nclass=gold\n");
	get_profile("alice@example.test", text, sizeof text, 0);
	assert_string_equal(text, "store-and-forward=notify\n"
				  "accepts=text/plain, image/*\nclass=gold\n");
	/* one key later keeps the others */
	assert_int_equal(run("set", "alice@example.test",
			     "store-and-forward=forward:sip:bob@example.test",
			     NULL),
			 0);
	get_profile("alice@example.test", text, sizeof text, 0);
	assert_string_equal(text, "store-and-forward=forward:sip:bob@example.test\n"
				  "accepts=text/plain, image/*\nclass=gold\n");
	assert_int_equal(run("show", "alice@example.test", NULL), 0);
	assert_non_null(strstr(out, "profile: set\n"
				    "store-and-forward=forward:sip:bob@example.test\n"
				    "accepts=text/plain, image/*\nclass=gold\n"
				    "class gold: storage=yes max_messages=5 "
				    "max_bytes=16777216 max_lifetime=604800\n"));
	/* the list shows the mode */
	assert_int_equal(run("add", "bob@example.test", "--password", "pw", NULL),
			 0);
	assert_int_equal(run("list", NULL), 0);
	char *l1 = out, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
	size_t col = (size_t)(strstr(l1, "STORE-AND-FORWARD") - l1);
	assert_int_equal(strncmp(l2 + col, "forward ", 8), 0);
	assert_int_equal(strncmp(l3 + col, "yes ", 4), 0);
	/* class default is always there, whatever the configuration */
	assert_int_equal(run("set", "bob@example.test", "class=default",
			     "store-and-forward=no", NULL),
			 0);
	assert_int_equal(run("list", NULL), 0);
	l3 = strchr(strchr(out, '\n') + 1, '\n') + 1;
	assert_int_equal(strncmp(l3 + col, "no ", 3), 0);
}

/* Any bad assignment: exit 1, its precise message, nothing saved (even
 * the good assignments before it). */
static void expect_set_error(const char *kv1, const char *kv2, const char *msg)
{
	char before[CPM_STORE_PROFILE_MAX], after[CPM_STORE_PROFILE_MAX];
	get_profile("alice@example.test", before, sizeof before, 0);
	assert_int_equal(run("set", "alice@example.test", kv1, kv2, NULL), 1);
	if (strcmp(err, msg) != 0)
		fail_msg("set %s %s: got '%s', want '%s'", kv1, kv2 ? kv2 : "", err,
			 msg);
	assert_string_equal(out, "");
	get_profile("alice@example.test", after, sizeof after, 0);
	assert_string_equal(before, after);
}

static void test_set_errors(void **state)
{
	char e[256];
	assert_int_equal(cpm_conf_set_arg(&conf, "class.gold.storage=no", e,
					  sizeof e),
			 0);
	assert_int_equal(cpm_conf_set_arg(&conf, "class.silver.storage=yes", e,
					  sizeof e),
			 0);
	assert_int_equal(run("add", "alice@example.test", "--password", "pw",
			     NULL),
			 0);
	assert_int_equal(run("set", "alice@example.test", "store-and-forward=yes",
			     NULL),
			 0);
	expect_set_error("store-and-forward=no", "class=platinum",
			 "cpmd user set: class: \"platinum\" is not defined "
			 "(default, or a [class.NAME] section of the "
			 "configuration: gold, silver); nothing saved\n");
	expect_set_error("accepts=text/plain", "store-and-forward=maybe",
			 "cpmd user set: store-and-forward: \"maybe\" is not no, "
			 "yes, notify or forward:<uri>; nothing saved\n");
	expect_set_error("store-and-forward=forward:tel:+123", NULL,
			 "cpmd user set: store-and-forward: forward target scheme "
			 "\"tel:\" is not sip:, sips: or mailto:; nothing saved\n");
	expect_set_error("accepts=jpeg", NULL,
			 "cpmd user set: accepts: item 1 \"jpeg\" is not "
			 "type/subtype, type/* or */* (e.g. image/jpeg); nothing "
			 "saved\n");
	expect_set_error("accepts=", NULL,
			 "cpmd user set: accepts: empty list (*/* accepts "
			 "everything); nothing saved\n");
	expect_set_error("color=red", NULL,
			 "cpmd user set: unknown key \"color\" (store-and-forward, "
			 "accepts, class); nothing saved\n");
	expect_set_error("class", NULL,
			 "cpmd user set: \"class\": expected key=value; nothing "
			 "saved\n");
	expect_set_error("class=a b", NULL,
			 "cpmd user set: class: \"a b\": only letters, digits, '-' "
			 "and '_'; nothing saved\n");
	/* a user of a domain not served, an unknown user */
	assert_int_equal(run("set", "alice@elsewhere.test", "class=gold", NULL), 1);
	assert_non_null(strstr(err, "domain 'elsewhere.test' of "
				    "alice@elsewhere.test is not served here"));
	assert_int_equal(run("set", "carol@example.test", "class=gold", NULL), 1);
	assert_string_equal(err, "cpmd user set: no such user: carol@example.test\n");
	/* class names compare without case, as in the configuration */
	assert_int_equal(run("set", "alice@example.test", "class=GOLD", NULL), 0);
	assert_int_equal(run("show", "alice@example.test", NULL), 0);
	assert_non_null(strstr(out, "class=GOLD\nclass gold: storage=no "));
	/* a class removed from the configuration since */
	struct cpm_conf saved = conf;
	conf.nclasses = 0;
	assert_int_equal(run("show", "alice@example.test", NULL), 0);
	assert_non_null(strstr(out, "class GOLD: not in the configuration (the "
				    "default class applies)\n"));
	/* ... other keys can still be changed */
	assert_int_equal(run("set", "alice@example.test", "accepts=text/*", NULL), 0);
	conf = saved;

	/* a stored profile that does not parse is reported, not overwritten */
	struct cpm_store *s;
	assert_int_equal(cpm_store_open(conf.store.url, &s), 0);
	assert_int_equal(cpm_store_profile_put(s, "alice@example.test",
					       "store-and-forward=sometimes\n"),
			 0);
	cpm_store_close(s);
	assert_int_equal(run("set", "alice@example.test", "class=gold", NULL), 1);
	assert_string_equal(err, "cpmd user set: the stored profile of "
				 "alice@example.test is invalid: store-and-forward: "
				 "\"sometimes\" is not no, yes, notify or "
				 "forward:<uri>\n");
	assert_int_equal(run("show", "alice@example.test", NULL), 1);
	assert_int_equal(run("list", NULL), 0);
	assert_non_null(strstr(out, "(invalid)"));

	/* deleting the user deletes the profile */
	assert_int_equal(run("del", "alice@example.test", NULL), 0);
	char text[CPM_STORE_PROFILE_MAX];
	get_profile("alice@example.test", text, sizeof text, CPM_ENOTFOUND);
	assert_int_equal(run("add", "alice@example.test", "--password", "pw",
			     NULL),
			 0);
	assert_int_equal(run("show", "alice@example.test", NULL), 0);
	assert_non_null(strstr(out, "profile: server default\n"));
}

static void test_store_unavailable(void **state)
{
	char e[256];
	assert_int_equal(cpm_conf_set(&conf, "store.url", "sqlite:/proc/no/x.db",
				      e, sizeof e),
			 0);
	cpm_log_set_level(-1);
	assert_int_equal(run("list", NULL), 1);
	cpm_log_set_level(CPM_LOG_NOTICE);
	assert_non_null(strstr(err, "cannot open the store sqlite:/proc/no/x.db"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_and_passwd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_and_del, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_show, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_unavailable, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
