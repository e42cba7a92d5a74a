/* conf: defaults, the INI parser, overrides, errors, dump, the sample. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "conf/conf.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

static int setup(void **state)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/cpm_conf_XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Write text to a fresh file in tmpdir, return its path (static). */
static const char *write_conf(const char *text)
{
	static char path[512];
	static int n;
	snprintf(path, sizeof path, "%s/c%d.conf", tmpdir, n++);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* The dump as a malloc'd string. */
static char *dump_str(const struct cpm_conf *c)
{
	char *p = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&p, &n);
	assert_non_null(f);
	assert_int_equal(cpm_conf_dump(c, f), 0);
	fclose(f);
	return p;
}

static int load_text(struct cpm_conf *c, const char *text, char *err,
		     size_t errsz)
{
	cpm_conf_defaults(c);
	return cpm_conf_load_file(c, write_conf(text), err, errsz);
}

static void test_defaults(void **state)
{
	struct cpm_conf c;
	cpm_conf_defaults(&c);
	assert_int_equal(c.server.ndomains, 3);
	assert_string_equal(c.server.domains[0], "example.test");
	assert_string_equal(c.server.domains[1], "127.0.0.1");
	assert_string_equal(c.server.domains[2], "localhost");
	assert_string_equal(c.server.data_dir, "./var");
	assert_int_equal(c.server.log_level, CPM_LOG_NOTICE);
	assert_string_equal(c.server.name, "cpmd");
	assert_int_equal(c.server.shutdown_grace, 5);
	assert_int_equal(c.sip.nlisten, 2);
	assert_string_equal(c.sip.listen[0].proto, "udp");
	assert_string_equal(c.sip.listen[0].host, "127.0.0.1");
	assert_int_equal(c.sip.listen[0].port, 5060);
	assert_int_equal(c.sip.listen[0].family, AF_INET);
	assert_int_equal(c.sip.listen[0].addrlen, sizeof(struct sockaddr_in));
	const struct sockaddr_in *sin =
		(const struct sockaddr_in *)&c.sip.listen[0].addr;
	assert_int_equal(ntohs(sin->sin_port), 5060);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x7f000001);
	assert_string_equal(c.sip.listen[1].proto, "tcp");
	assert_int_equal(c.sip.max_message_size, 65535);
	assert_int_equal(c.sip.max_headers, 100);
	assert_int_equal(c.sip.max_header_line, 8192);
	assert_int_equal(c.sip.tcp_idle_timeout, 600);
	assert_int_equal(c.sip.tcp_max_connections, 4096);
	assert_int_equal(c.sip.tcp_max_out_buffer, 1048576);
	assert_int_equal(c.sip.udp_rcvbuf, 4194304);
	assert_int_equal(c.sip.t1, 500);
	assert_int_equal(c.sip.t2, 4000);
	assert_int_equal(c.sip.t4, 5000);
	assert_int_equal(c.sip.max_transactions, 1000000);
	assert_true(c.sip.record_route);
	assert_int_equal(c.sip.max_branches, 16);
	assert_int_equal(c.registrar.min_expires, 60);
	assert_int_equal(c.registrar.max_expires, 3600);
	assert_int_equal(c.registrar.default_expires, 3600);
	assert_int_equal(c.registrar.max_contacts, 10);
	assert_string_equal(c.auth.realm, "");
	assert_int_equal(c.auth.ntrusted, 0);
	assert_int_equal(c.auth.nonce_ttl, 300);
	assert_int_equal(c.auth.nalgorithms, 2);
	assert_int_equal(c.auth.algorithms[0], CPM_HASH_SHA256);
	assert_int_equal(c.auth.algorithms[1], CPM_HASH_MD5);
	assert_true(c.auth.challenge_register);
	assert_int_equal(c.auth.max_nonces, 100000);
	assert_string_equal(c.http.listen.host, "127.0.0.1");
	assert_int_equal(c.http.listen.port, 8080);
	assert_string_equal(c.http.listen.proto, "tcp");
	assert_string_equal(c.store.url, "sqlite:./var/cpmd.db");
	assert_int_equal(c.store.busy_timeout, 5000);
	char err[256];
	assert_int_equal(cpm_conf_validate(&c, err, sizeof err), 0);
	cpm_conf_free(&c);
}

static void test_parse_file(void **state)
{
	struct cpm_conf c;
	char err[512] = "";
	int rc = load_text(&c,
			   "\xef\xbb\xbf# a comment\n"
			   "; another\n"
			   "\n"
			   "  [ server ]  # trailing comment\n"
			   "domain=Example.ORG , b.example ,[::1]\n"
			   "\tname   =   my server   ; comment\n"
			   "log_level = DEBUG\n"
			   "data_dir = \"/srv/a#b; c\"  # quoted\n"
			   "[sip]\n"
			   "listen = udp:0.0.0.0:5070, TCP:[::1]:5071\n"
			   "max_message_size = 64k\n"
			   "tcp_max_out_buffer = 2M\n"
			   "udp_rcvbuf = 0\n"
			   "record_route = off\n"
			   "t1=250\r\n"
			   "[auth]\n"
			   "realm = Corp#1\n"
			   "trusted = 10.1.2.3/8, ::1, 192.168.1.0/24\n"
			   "algorithms = md5\n"
			   "register = FALSE\n"
			   "[http]\n"
			   "listen =\n"
			   "[store]\n"
			   "url = SQLITE:/tmp/x.db\n"
			   "busy_timeout = 0\n",
			   err, sizeof err);
	assert_int_equal(rc, 0);
	assert_int_equal(c.server.ndomains, 3);
	assert_string_equal(c.server.domains[0], "example.org");
	assert_string_equal(c.server.domains[1], "b.example");
	assert_string_equal(c.server.domains[2], "[::1]");
	assert_string_equal(c.server.name, "my server");
	assert_int_equal(c.server.log_level, CPM_LOG_DEBUG);
	assert_string_equal(c.server.data_dir, "/srv/a#b; c");
	assert_int_equal(c.sip.nlisten, 2);
	assert_string_equal(c.sip.listen[0].host, "0.0.0.0");
	assert_int_equal(c.sip.listen[0].port, 5070);
	assert_string_equal(c.sip.listen[1].proto, "tcp");
	assert_string_equal(c.sip.listen[1].host, "::1");
	assert_int_equal(c.sip.listen[1].family, AF_INET6);
	assert_int_equal(c.sip.listen[1].port, 5071);
	assert_int_equal(c.sip.max_message_size, 65536);
	assert_int_equal(c.sip.tcp_max_out_buffer, 2 * 1048576);
	assert_int_equal(c.sip.udp_rcvbuf, 0);
	assert_false(c.sip.record_route);
	assert_int_equal(c.sip.t1, 250);
	assert_int_equal(c.sip.t2, 4000); /* untouched */
	assert_string_equal(c.auth.realm, "Corp#1");
	assert_int_equal(c.auth.ntrusted, 3);
	assert_int_equal(c.auth.trusted[0].family, AF_INET);
	assert_int_equal(c.auth.trusted[0].prefix, 8);
	assert_int_equal(c.auth.trusted[0].addr[0], 10);
	assert_int_equal(c.auth.trusted[0].addr[1], 0); /* host bits cleared */
	assert_int_equal(c.auth.trusted[1].family, AF_INET6);
	assert_int_equal(c.auth.trusted[1].prefix, 128);
	assert_int_equal(c.auth.nalgorithms, 1);
	assert_int_equal(c.auth.algorithms[0], CPM_HASH_MD5);
	assert_false(c.auth.challenge_register);
	assert_int_equal(c.http.listen.port, 0);
	assert_string_equal(c.store.url, "sqlite:/tmp/x.db");
	assert_int_equal(c.store.busy_timeout, 0);

	/* trusted / served helpers */
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	inet_pton(AF_INET, "10.200.0.1", &a4.sin_addr);
	assert_true(cpm_conf_is_trusted(&c, (struct sockaddr *)&a4));
	inet_pton(AF_INET, "192.168.2.1", &a4.sin_addr);
	assert_false(cpm_conf_is_trusted(&c, (struct sockaddr *)&a4));
	inet_pton(AF_INET, "192.168.1.77", &a4.sin_addr);
	assert_true(cpm_conf_is_trusted(&c, (struct sockaddr *)&a4));
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	inet_pton(AF_INET6, "::ffff:10.0.0.9", &a6.sin6_addr);
	assert_true(cpm_conf_is_trusted(&c, (struct sockaddr *)&a6));
	inet_pton(AF_INET6, "::1", &a6.sin6_addr);
	assert_true(cpm_conf_is_trusted(&c, (struct sockaddr *)&a6));
	inet_pton(AF_INET6, "::2", &a6.sin6_addr);
	assert_false(cpm_conf_is_trusted(&c, (struct sockaddr *)&a6));
	assert_true(cpm_conf_serves_domain(&c, CPM_STR("EXAMPLE.org")));
	assert_false(cpm_conf_serves_domain(&c, CPM_STR("example.test")));
	cpm_conf_free(&c);
}

static void test_overrides(void **state)
{
	struct cpm_conf c;
	char err[512] = "";
	assert_int_equal(load_text(&c, "[sip]\nt1 = 250\n", err, sizeof err), 0);
	assert_int_equal(cpm_conf_set(&c, "sip.t1", "300", err, sizeof err), 0);
	assert_int_equal(c.sip.t1, 300);
	assert_int_equal(cpm_conf_set_arg(&c, "auth.realm=corp", err, sizeof err), 0);
	assert_string_equal(c.auth.realm, "corp");
	assert_int_equal(cpm_conf_set_arg(&c, "auth.realm=", err, sizeof err), 0);
	assert_string_equal(c.auth.realm, "");
	assert_int_equal(cpm_conf_set_arg(&c, "server.domain=a.test", err,
					  sizeof err),
			 0);
	assert_int_equal(c.server.ndomains, 1);
	assert_int_equal(cpm_conf_set(&c, "registrar.max_contacts", "1k", err,
				      sizeof err),
			 CPM_EINVAL);
	assert_non_null(strstr(err, "registrar.max_contacts"));
	assert_non_null(strstr(err, "an integer from 1 to 1000"));
	assert_int_equal(cpm_conf_set(&c, "sip.nope", "1", err, sizeof err),
			 CPM_ENOTFOUND);
	assert_non_null(strstr(err, "unknown key 'nope' in section [sip]"));
	assert_int_equal(cpm_conf_set(&c, "nope.x", "1", err, sizeof err),
			 CPM_ENOTFOUND);
	assert_non_null(strstr(err, "unknown section [nope]"));
	assert_int_equal(cpm_conf_set(&c, "t1", "1", err, sizeof err),
			 CPM_ENOTFOUND);
	assert_int_equal(cpm_conf_set_arg(&c, "sip.t1", err, sizeof err),
			 CPM_EINVAL);
	/* a failed set leaves the old value */
	assert_int_equal(c.sip.t1, 300);
	assert_int_equal(c.registrar.max_contacts, 10);
	cpm_conf_free(&c);
}

static void expect_error(const char *text, int rc, int line, const char *needle)
{
	struct cpm_conf c;
	char err[512] = "";
	assert_int_equal(load_text(&c, text, err, sizeof err), rc);
	char where[32];
	snprintf(where, sizeof where, ".conf:%d: ", line);
	if (!strstr(err, where) || !strstr(err, needle))
		fail_msg("error '%s' lacks '%s' or '%s'", err, where, needle);
	cpm_conf_free(&c);
}

static void test_errors(void **state)
{
	expect_error("[server]\nname = x\n[bogus]\n", CPM_ENOTFOUND, 3,
		     "unknown section [bogus]");
	expect_error("[sip]\n\n# c\nt9 = 1\n", CPM_ENOTFOUND, 4,
		     "unknown key 't9' in section [sip]");
	expect_error("name = x\n", CPM_EPARSE, 1, "before any [section]");
	expect_error("[sip]\nt1\n", CPM_EPARSE, 2, "expected 'key = value'");
	expect_error("[sip\n", CPM_EPARSE, 1, "expected [section]");
	expect_error("[sip]\nt1 = 1\nt2 = 5\nt1 = 2\n", CPM_EPARSE, 4,
		     "sip.t1 set twice (first at line 2)");
	expect_error("[auth]\nrealm = \"abc\n", CPM_EPARSE, 2,
		     "unterminated quote");
	expect_error("[sip]\nt1 = fast\n", CPM_EINVAL, 2,
		     "sip.t1: expected an integer from 1 to 60000 "
		     "(milliseconds), got 'fast'");
	expect_error("[sip]\nt1 = 0\n", CPM_EINVAL, 2, "sip.t1: expected");
	expect_error("[sip]\nt1 = -5\n", CPM_EINVAL, 2, "sip.t1: expected");
	expect_error("[sip]\nt1 = 99999999999999999999\n", CPM_EINVAL, 2,
		     "sip.t1: expected");
	expect_error("[sip]\nrecord_route = maybe\n", CPM_EINVAL, 2,
		     "sip.record_route: expected yes/no, true/false, on/off or "
		     "1/0, got 'maybe'");
	expect_error("[sip]\nmax_message_size = 12G\n", CPM_EINVAL, 2,
		     "sip.max_message_size: expected a size in bytes");
	expect_error("[sip]\nmax_message_size = 100\n", CPM_EINVAL, 2,
		     "from 1024 to");
	expect_error("[sip]\nmax_message_size = k\n", CPM_EINVAL, 2,
		     "sip.max_message_size");
	expect_error("[sip]\nlisten = sctp:1.2.3.4:5060\n", CPM_EINVAL, 2,
		     "sip.listen: expected a comma-separated list");
	expect_error("[sip]\nlisten = udp:1.2.3.4\n", CPM_EINVAL, 2, "sip.listen");
	expect_error("[sip]\nlisten = udp:1.2.3.4:0\n", CPM_EINVAL, 2,
		     "sip.listen");
	expect_error("[sip]\nlisten = udp:::1:5060\n", CPM_EINVAL, 2,
		     "sip.listen");
	expect_error("[sip]\nlisten = udp:host.example:5060\n", CPM_EINVAL, 2,
		     "sip.listen");
	expect_error("[sip]\nlisten = udp:1.2.3.4:5060,udp:1.2.3.4:5060\n",
		     CPM_EINVAL, 2, "sip.listen");
	expect_error("[sip]\nlisten =\n", CPM_EINVAL, 2, "sip.listen");
	expect_error("[server]\ndomain = a.test,,b.test\n", CPM_EINVAL, 2,
		     "server.domain: expected");
	expect_error("[server]\ndomain = a.test,A.TEST\n", CPM_EINVAL, 2,
		     "server.domain");
	expect_error("[server]\ndomain = bad_host.test\n", CPM_EINVAL, 2,
		     "server.domain");
	expect_error("[server]\ndomain = \"\"\n", CPM_EINVAL, 2,
		     "server.domain");
	expect_error("[server]\ndomain = a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q\n",
		     CPM_EINVAL, 2, "1 to 16");
	expect_error("[server]\nlog_level = loud\n", CPM_EINVAL, 2,
		     "server.log_level: expected one of error, warn, notice");
	expect_error("[server]\nname = \"\"\n", CPM_EINVAL, 2, "server.name");
	expect_error("[auth]\nrealm = a\"b\n", CPM_EINVAL, 2, "auth.realm");
	expect_error("[auth]\ntrusted = 10.0.0.0/33\n", CPM_EINVAL, 2,
		     "auth.trusted: expected");
	expect_error("[auth]\ntrusted = 10.0.0\n", CPM_EINVAL, 2, "auth.trusted");
	expect_error("[auth]\nalgorithms = SHA-512\n", CPM_EINVAL, 2,
		     "auth.algorithms: expected");
	expect_error("[auth]\nalgorithms = MD5,md5\n", CPM_EINVAL, 2,
		     "auth.algorithms");
	expect_error("[auth]\nalgorithms = \"\"\n", CPM_EINVAL, 2,
		     "auth.algorithms");
	expect_error("[http]\nlisten = 127.0.0.1\n", CPM_EINVAL, 2,
		     "http.listen: expected IP:PORT");
	expect_error("[store]\nurl = mysql://x\n", CPM_EINVAL, 2,
		     "store.url: expected sqlite:PATH");
	expect_error("[store]\nurl = sqlite:\n", CPM_EINVAL, 2, "store.url");

	struct cpm_conf c;
	char err[512] = "";
	cpm_conf_defaults(&c);
	assert_int_equal(cpm_conf_load_file(&c, "/nonexistent/cpmd.conf", err,
					    sizeof err),
			 CPM_EIO);
	assert_non_null(strstr(err, "/nonexistent/cpmd.conf: "));
	/* NULL err buffer is allowed */
	assert_int_equal(cpm_conf_load_file(&c, "/nonexistent/x", NULL, 0),
			 CPM_EIO);
}

static void test_validate(void **state)
{
	struct cpm_conf c;
	char err[256];
	cpm_conf_defaults(&c);
	assert_int_equal(cpm_conf_set(&c, "sip.t1", "5000", err, sizeof err), 0);
	assert_int_equal(cpm_conf_validate(&c, err, sizeof err), CPM_EINVAL);
	assert_non_null(strstr(err, "sip.t1"));
	cpm_conf_defaults(&c);
	assert_int_equal(cpm_conf_set(&c, "registrar.default_expires", "30",
				      err, sizeof err),
			 0);
	assert_int_equal(cpm_conf_validate(&c, err, sizeof err), CPM_EINVAL);
	assert_non_null(strstr(err, "default_expires"));
	cpm_conf_defaults(&c);
	assert_int_equal(cpm_conf_set(&c, "sip.max_header_line", "128k", err,
				      sizeof err),
			 0);
	assert_int_equal(cpm_conf_validate(&c, err, sizeof err), CPM_EINVAL);
	cpm_conf_defaults(&c);
	assert_int_equal(cpm_conf_set(&c, "http.listen", "127.0.0.1:5060", err,
				      sizeof err),
			 0);
	assert_int_equal(cpm_conf_validate(&c, err, sizeof err), CPM_EINVAL);
	assert_non_null(strstr(err, "http.listen"));
	assert_int_equal(cpm_conf_set(&c, "http.listen", "[::1]:5060", err,
				      sizeof err),
			 0);
	assert_int_equal(cpm_conf_validate(&c, err, sizeof err), 0);
	/* msrp.listen: a TCP socket of its own; its expires in order */
	const char *clash[] = { "127.0.0.1:5060", "[::1]:5060" };
	for (int i = 0; i < 2; i++) {
		assert_int_equal(cpm_conf_set(&c, "msrp.listen", clash[i], err, sizeof err), 0);
		assert_int_equal(cpm_conf_validate(&c, err, sizeof err), CPM_EINVAL);
		assert_non_null(strstr(err, "msrp.listen"));
	}
	assert_int_equal(cpm_conf_set(&c, "msrp.listen", "", err, sizeof err), 0);
	assert_int_equal(c.msrp.listen.port, 0);
	assert_int_equal(cpm_conf_validate(&c, err, sizeof err), 0);
	cpm_conf_defaults(&c);
	assert_int_equal(c.msrp.listen.port, 2855);
	assert_int_equal(cpm_conf_set(&c, "msrp.default_expires", "30", err, sizeof err), 0);
	assert_int_equal(cpm_conf_validate(&c, err, sizeof err), CPM_EINVAL);
	assert_non_null(strstr(err, "msrp: expected min_expires"));
}

static void test_dump_roundtrip(void **state)
{
	struct cpm_conf a, b;
	char err[512];
	cpm_conf_defaults(&a);
	assert_int_equal(cpm_conf_set(&a, "auth.realm", "x ; y", err, sizeof err), 0);
	assert_int_equal(cpm_conf_set(&a, "auth.trusted", "10.9.9.9/16,::1",
				      err, sizeof err),
			 0);
	assert_int_equal(cpm_conf_set(&a, "sip.listen", "tcp:[::]:5062", err,
				      sizeof err),
			 0);
	assert_int_equal(cpm_conf_set(&a, "http.listen", "", err, sizeof err), 0);
	assert_int_equal(cpm_conf_set(&a, "server.log_level", "info", err,
				      sizeof err),
			 0);
	assert_int_equal(cpm_conf_set(&a, "sip.udp_rcvbuf", "1M", err, sizeof err),
			 0);
	char *da = dump_str(&a);
	assert_non_null(strstr(da, "[auth]\nrealm = \"x ; y\"\n"));
	assert_non_null(strstr(da, "trusted = 10.9.0.0/16,::1/128\n"));
	assert_non_null(strstr(da, "udp_rcvbuf = 1048576\n"));
	assert_non_null(strstr(da, "http]\nlisten = \"\"\n"));
	assert_int_equal(load_text(&b, da, err, sizeof err), 0);
	char *db = dump_str(&b);
	assert_string_equal(da, db);
	assert_string_equal(b.auth.realm, "x ; y");
	assert_int_equal(b.http.listen.port, 0);
	free(da);
	free(db);
}

/* The directory holding etc/cpmd.conf: $CPM_SRCDIR or a parent of cwd. */
static const char *sample_path(void)
{
	static char path[1024];
	const char *env = getenv("CPM_SRCDIR");
	if (env) {
		snprintf(path, sizeof path, "%s/etc/cpmd.conf", env);
		return path;
	}
	char prefix[256] = ".";
	for (int up = 0; up < 6; up++) {
		snprintf(path, sizeof path, "%s/etc/cpmd.conf", prefix);
		if (access(path, R_OK) == 0)
			return path;
		strcat(prefix, "/..");
	}
	fail_msg("etc/cpmd.conf not found (set CPM_SRCDIR)");
	return NULL;
}

static void test_sample_documents_every_key(void **state)
{
	const char *path = sample_path();
	struct cpm_conf s, d;
	char err[512] = "";
	cpm_conf_defaults(&s);
	int rc = cpm_conf_load_file(&s, path, err, sizeof err);
	if (rc)
		fail_msg("%s", err);
	/* the sample states the defaults */
	cpm_conf_defaults(&d);
	char *ds = dump_str(&s), *dd = dump_str(&d);
	assert_string_equal(ds, dd);
	free(ds);
	free(dd);

	/* every key: an active line in its section, preceded by a comment
	 * block that explains it and states "Default: <the default>" */
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char *line = NULL;
	size_t cap = 0;
	char section[64] = "";
	char block[4096] = "";
	int found[256] = { 0 };
	assert_true(cpm_conf_ndirectives < 256);
	while (getline(&line, &cap, f) >= 0) {
		char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#') {
			if (strlen(block) + strlen(p) < sizeof block)
				strcat(block, p);
			continue;
		}
		if (*p == '[') {
			sscanf(p, "[%63[^]]]", section);
			block[0] = '\0';
			continue;
		}
		char key[64];
		if (sscanf(p, "%63[a-z0-9_] =", key) == 1 && strchr(p, '=')) {
			const struct cpm_conf_directive *dir =
				cpm_conf_directive_find(section, strlen(section),
							key, strlen(key));
			if (!dir)
				fail_msg("sample key %s.%s not in the table",
					 section, key);
			char want[256];
			snprintf(want, sizeof want, "# Default: %s%s\n",
				 *dir->def ? dir->def : "\"\"",
				 *dir->def ? "" : " (empty)");
			if (!strstr(block, want))
				fail_msg("%s.%s: comment lacks '%s'", section, key,
					 want);
			/* at least one line of explanation besides the default */
			if (strlen(block) < strlen(want) + 20)
				fail_msg("%s.%s: undocumented", section, key);
			found[dir - cpm_conf_directives]++;
		}
		block[0] = '\0';
	}
	free(line);
	fclose(f);
	for (size_t i = 0; i < cpm_conf_ndirectives; i++)
		if (found[i] != 1)
			fail_msg("%s.%s documented %d times in %s",
				 cpm_conf_directives[i].section,
				 cpm_conf_directives[i].key, found[i], path);
}

/* ---------------------------------------------------------- [class.NAME] */

static void test_classes(void **state)
{
	struct cpm_conf c;
	char err[512] = "";
	int rc = load_text(&c,
			   "[class.gold]\n"
			   "storage = yes\n"
			   "max_messages = 10000\n"
			   "max_bytes = 100m   # a comment\n"
			   "max_lifetime = 30d\n"
			   "[im]\n"
			   "max_messages = 50\n"
			   "max_bytes = 2k\n"
			   "max_lifetime = 3600\n"
			   "store_and_forward = no\n"
			   "[class.Bronze_1]\n"
			   "max_bytes = 1G\n"
			   "max_lifetime = 0\n"
			   "[class.off]\n"
			   "storage = off\n"
			   "[class.empty]\n",
			   err, sizeof err);
	if (rc)
		fail_msg("%s", err);
	assert_int_equal(c.nclasses, 4);
	assert_string_equal(c.classes[0].name, "gold");
	struct cpm_conf_class k;
	assert_int_equal(cpm_conf_class_find(&c, "gold", &k), 0);
	assert_string_equal(k.name, "gold");
	assert_true(k.storage);
	assert_int_equal(k.max_messages, 10000);
	assert_int_equal(k.max_bytes, 100 * 1024 * 1024);
	assert_int_equal(k.max_lifetime, 30 * 86400);
	/* names compare without case; keys not given come from [im], read
	 * later in the file; 0 lifetime = im.max_lifetime */
	assert_int_equal(cpm_conf_class_find(&c, "bronze_1", &k), 0);
	assert_string_equal(k.name, "Bronze_1");
	assert_false(k.storage);
	assert_int_equal(k.max_messages, 50);
	assert_int_equal(k.max_bytes, 1024ull * 1024 * 1024);
	assert_int_equal(k.max_lifetime, 3600);
	assert_int_equal(cpm_conf_class_find(&c, "off", &k), 0);
	assert_false(k.storage);
	assert_int_equal(k.max_bytes, 2048);
	assert_int_equal(cpm_conf_class_find(&c, "empty", &k), 0);
	assert_int_equal(k.set, 0);
	assert_int_equal(k.max_messages, 50);
	/* the built-in default is the [im] keys */
	assert_int_equal(cpm_conf_class_find(&c, "default", &k), 0);
	assert_string_equal(k.name, "default");
	assert_false(k.storage);
	assert_int_equal(k.max_messages, 50);
	assert_int_equal(k.max_bytes, 2048);
	assert_int_equal(k.max_lifetime, 3600);
	assert_int_equal(cpm_conf_class_find(&c, "DEFAULT", NULL), 0);
	assert_int_equal(cpm_conf_class_find(&c, "silver", &k), CPM_ENOTFOUND);
	assert_int_equal(cpm_conf_class_find(&c, "gold", NULL), 0);
	assert_int_equal(cpm_conf_class_find(&c, "", NULL), CPM_ENOTFOUND);

	/* with no [class] at all: the defaults of the table */
	struct cpm_conf d;
	cpm_conf_defaults(&d);
	assert_int_equal(d.nclasses, 0);
	assert_int_equal(cpm_conf_class_find(&d, "default", &k), 0);
	assert_true(k.storage);
	assert_int_equal(k.max_messages, 1000);
	assert_int_equal(k.max_bytes, 16777216);
	assert_int_equal(k.max_lifetime, 604800);
	assert_int_equal(cpm_conf_class_find(&d, "gold", &k), CPM_ENOTFOUND);

	/* -o class.NAME.key=value: sets, or creates */
	assert_int_equal(cpm_conf_set_arg(&c, "class.gold.max_messages=7", err,
					  sizeof err),
			 0);
	assert_int_equal(cpm_conf_set_arg(&c, "class.new-one.storage=no", err,
					  sizeof err),
			 0);
	assert_int_equal(c.nclasses, 5);
	assert_int_equal(cpm_conf_class_find(&c, "gold", &k), 0);
	assert_int_equal(k.max_messages, 7);
	assert_int_equal(cpm_conf_class_find(&c, "new-one", &k), 0);
	assert_false(k.storage);
	assert_int_equal(cpm_conf_set_arg(&c, "class.gold.color=red", err,
					  sizeof err),
			 CPM_ENOTFOUND);
	assert_non_null(strstr(err, "unknown key 'color' in section [class.gold]"));
	assert_int_equal(cpm_conf_set_arg(&c, "class.gold=1", err, sizeof err),
			 CPM_ENOTFOUND);
	assert_non_null(strstr(err, "expected a key of the form class.NAME.key"));
	assert_int_equal(cpm_conf_set_arg(&c, "class.default.max_bytes=1", err,
					  sizeof err),
			 CPM_EINVAL);
	assert_non_null(strstr(err, "class 'default' is built in"));
	assert_int_equal(cpm_conf_set_arg(&c, "class.gold.max_bytes=1t", err,
					  sizeof err),
			 CPM_EINVAL);
	assert_string_equal(err, "class.gold.max_bytes: expected a size in bytes "
				 "from 0 (no limit) to 1099511627776, optionally "
				 "with a k, m or g suffix (KiB, MiB, GiB), got '1t'");
	assert_int_equal(cpm_conf_class_find(&c, "gold", &k), 0);
	assert_int_equal(k.max_bytes, 100 * 1024 * 1024); /* unchanged */

	/* the dump writes the classes and loads back to the same */
	char *da = dump_str(&c);
	assert_non_null(strstr(da, "\n[class.gold]\nstorage = yes\n"
				   "max_messages = 7\nmax_bytes = 104857600\n"
				   "max_lifetime = 2592000\n"));
	assert_non_null(strstr(da, "\n[class.empty]\n"));
	struct cpm_conf b;
	assert_int_equal(load_text(&b, da, err, sizeof err), 0);
	char *db = dump_str(&b);
	assert_string_equal(da, db);
	assert_int_equal(b.nclasses, 5);
	assert_int_equal(memcmp(b.classes, c.classes, sizeof c.classes), 0);
	free(da);
	free(db);
}

static void test_class_errors(void **state)
{
	expect_error("[class.gold]\ncolor = red\n", CPM_ENOTFOUND, 2,
		     "unknown key 'color' in section [class.gold] (known: "
		     "storage, max_messages, max_bytes, max_lifetime)");
	expect_error("[class.gold]\nstorage = maybe\n", CPM_EINVAL, 2,
		     "class.gold.storage: expected yes/no, true/false, on/off "
		     "or 1/0, got 'maybe'");
	expect_error("[class.gold]\nmax_messages = -1\n", CPM_EINVAL, 2,
		     "class.gold.max_messages: expected an integer from 0 (no "
		     "limit) to 100000000, got '-1'");
	expect_error("[class.gold]\nmax_messages = 100000001\n", CPM_EINVAL, 2,
		     "class.gold.max_messages: expected");
	expect_error("[class.gold]\nmax_messages = 10k\n", CPM_EINVAL, 2,
		     "class.gold.max_messages: expected");
	expect_error("[class.gold]\nmax_bytes = 2048g\n", CPM_EINVAL, 2,
		     "class.gold.max_bytes: expected");
	expect_error("[class.gold]\nmax_bytes = \n", CPM_EINVAL, 2,
		     "class.gold.max_bytes: expected");
	expect_error("[class.gold]\n\nmax_lifetime = 1y\n", CPM_EINVAL, 3,
		     "class.gold.max_lifetime: expected seconds from 0");
	expect_error("[class.gold]\nmax_lifetime = 999999999999\n", CPM_EINVAL, 2,
		     "class.gold.max_lifetime: expected");
	expect_error("[class.gold]\nstorage = no\nstorage = yes\n", CPM_EPARSE, 3,
		     "class.gold.storage set twice (first at line 2)");
	expect_error("[class.gold]\nstorage = no\n[im]\n[class.GOLD]\n",
		     CPM_EPARSE, 4,
		     "section [class.gold] given twice (first at line 1)");
	expect_error("[class.default]\n", CPM_EINVAL, 1,
		     "class 'default' is built in: set it with the [im] keys");
	expect_error("[class.]\n", CPM_EINVAL, 1, "class name '': expected 1 to "
						  "63 letters, digits, '-' or '_'");
	expect_error("[class.a b]\n", CPM_EINVAL, 1, "class name 'a b'");
	expect_error("[class.gold.x]\n", CPM_EINVAL, 1, "class name 'gold.x'");
	expect_error("[class.gold]\nmax_bytes = \"1k\n", CPM_EPARSE, 2,
		     "class.gold.max_bytes: unterminated quote");
	expect_error("[classes]\n", CPM_ENOTFOUND, 1,
		     "unknown section [classes] (known: server, sip, registrar, "
		     "auth, http, im, smtp, store, class.NAME)");
	/* at most 16 */
	char text[2048] = "";
	for (int i = 0; i < 17; i++)
		snprintf(text + strlen(text), sizeof text - strlen(text),
			 "[class.c%d]\nstorage = yes\n", i);
	expect_error(text, CPM_ELIMIT, 33,
		     "too many [class.NAME] sections: at most 16 (class 'c16')");
	text[strlen(text) - strlen("[class.c16]\nstorage = yes\n")] = '\0';
	struct cpm_conf c;
	char err[512];
	assert_int_equal(load_text(&c, text, err, sizeof err), 0);
	assert_int_equal(c.nclasses, 16);
	assert_int_equal(cpm_conf_set_arg(&c, "class.c99.storage=no", err,
					  sizeof err),
			 CPM_ELIMIT);
	assert_int_equal(c.nclasses, 16);
	/* an existing one may still be changed */
	assert_int_equal(cpm_conf_set_arg(&c, "class.c15.storage=no", err,
					  sizeof err),
			 0);
}

/* The sample documents [class.NAME]: each key in the explanation, and a
 * commented example section with every key that loads once uncommented. */
static void test_sample_documents_classes(void **state)
{
	const char *path = sample_path();
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char *line = NULL;
	size_t cap = 0;
	static char example[2048], block[65536];
	example[0] = block[0] = 0;
	bool in_example = false, done = false;
	while (getline(&line, &cap, f) >= 0) {
		if (!done && strncmp(line, "# [class.", 9) == 0)
			in_example = true;
		if (in_example) {
			if (strncmp(line, "# ", 2) != 0 ||
			    (line[2] != '[' && !strstr(line, " = "))) {
				in_example = false;
				done = true;
			} else {
				strcat(example, line + 2);
				continue;
			}
		}
		if (line[0] == '#' && strlen(block) + strlen(line) < sizeof block)
			strcat(block, line);
	}
	free(line);
	fclose(f);
	if (!example[0])
		fail_msg("%s: no commented [class.NAME] example", path);
	assert_non_null(strstr(block, "[class.NAME]"));
	for (size_t i = 0; i < cpm_conf_nclass_keys; i++) {
		char want[64];
		snprintf(want, sizeof want, "#   %s = ", cpm_conf_class_keys[i]);
		if (!strstr(block, want))
			fail_msg("class key %s: not explained in %s",
				 cpm_conf_class_keys[i], path);
		snprintf(want, sizeof want, "\n%s = ", cpm_conf_class_keys[i]);
		char *p = strstr(example, want);
		if (!p || strstr(p + 1, want))
			fail_msg("class key %s: not once in the example",
				 cpm_conf_class_keys[i]);
	}
	struct cpm_conf c;
	char err[512];
	if (load_text(&c, example, err, sizeof err))
		fail_msg("the example does not load: %s", err);
	assert_int_equal(c.nclasses, 1);
	assert_int_equal(c.classes[0].set,
			 CPM_CONF_CLASS_STORAGE | CPM_CONF_CLASS_MAX_MESSAGES |
				 CPM_CONF_CLASS_MAX_BYTES |
				 CPM_CONF_CLASS_MAX_LIFETIME);
}

static void test_table_sane(void **state)
{
	for (size_t i = 0; i < cpm_conf_ndirectives; i++) {
		const struct cpm_conf_directive *d = &cpm_conf_directives[i];
		assert_non_null(d->doc);
		assert_true(strlen(d->doc) > 10);
		assert_ptr_equal(cpm_conf_directive_find(d->section,
							 strlen(d->section),
							 d->key, strlen(d->key)),
				 d);
		assert_true(d->offset + d->size <= sizeof(struct cpm_conf));
		/* the field has the C type the parser writes */
		switch (d->type) {
		case CPM_CONF_T_INT:
		case CPM_CONF_T_LOGLEVEL:
			assert_int_equal(d->size, sizeof(int));
			break;
		case CPM_CONF_T_SIZE:
			assert_int_equal(d->size, sizeof(size_t));
			break;
		case CPM_CONF_T_BOOL:
			assert_int_equal(d->size, sizeof(bool));
			break;
		case CPM_CONF_T_LISTEN_ONE:
			assert_int_equal(d->size, sizeof(struct cpm_conf_listen));
			break;
		default:
			break;
		}
		if (d->type == CPM_CONF_T_INT || d->type == CPM_CONF_T_SIZE)
			assert_true(d->min <= d->max);
	}
}

/* [smtp]: defaults, the URL forms, tls, the cross-key checks, the dump. */
static void test_smtp(void **state)
{
	struct cpm_conf c;
	char err[512];
	cpm_conf_defaults(&c);
	assert_string_equal(c.smtp.url, "");
	assert_string_equal(c.smtp.from, "");
	assert_int_equal(c.smtp.tls, CPM_CONF_SMTP_TLS_NO);
	assert_int_equal(c.smtp.timeout, 30);
	assert_int_equal(c.smtp.max_in_flight, 8);
	assert_int_equal(c.smtp.max_queue, 1000);
	assert_string_equal(c.smtp.username, "");

	static const char *const good[][2] = {
		{ "smtp://127.0.0.1:2525", "smtp://127.0.0.1:2525" },
		{ "SMTP://mail.example.org", "smtp://mail.example.org" },
		{ "smtps://[::1]:465/cpmd.example.test",
		  "smtps://[::1]:465/cpmd.example.test" },
		{ "smtp://mx", "smtp://mx" },
	};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		cpm_conf_defaults(&c);
		if (cpm_conf_set(&c, "smtp.url", good[i][0], err, sizeof err))
			fail_msg("%s: %s", good[i][0], err);
		assert_string_equal(c.smtp.url, good[i][1]);
	}
	static const char *const bad[] = {
		"http://127.0.0.1",	     "smtp://",
		"smtp://user@host",	     "smtp://host:0",
		"smtp://host:99999",	     "smtp://ho st",
		"smtp://[::1",		     "smtp://[::1]x",
		"smtp://host?x=1",	     "smtp://-bad-.example",
		"127.0.0.1:25",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		cpm_conf_defaults(&c);
		if (cpm_conf_set(&c, "smtp.url", bad[i], err, sizeof err) !=
		    CPM_EINVAL)
			fail_msg("smtp.url '%s' accepted", bad[i]);
		assert_non_null(strstr(err, "smtp.url: expected"));
		assert_string_equal(c.smtp.url, "");
	}

	assert_int_equal(load_text(&c,
				   "[smtp]\nurl = smtps://mail.example.org\n"
				   "tls = YES\nfrom = im@example.org\n"
				   "username = im\npassword = \"s3cret;#\"\n"
				   "timeout = 5\nmax_in_flight = 2\n"
				   "max_queue = 0\nca_file = /etc/ca.pem\n",
				   err, sizeof err),
			 0);
	assert_int_equal(c.smtp.tls, CPM_CONF_SMTP_TLS_YES);
	assert_string_equal(c.smtp.password, "s3cret;#");
	assert_int_equal(c.smtp.max_queue, 0);
	assert_int_equal(cpm_conf_validate(&c, err, sizeof err), 0);
	/* the dump loads back to the same */
	char *d1 = dump_str(&c);
	assert_non_null(strstr(d1, "[smtp]\nurl = smtps://mail.example.org\n"));
	assert_non_null(strstr(d1, "tls = yes\n"));
	assert_non_null(strstr(d1, "password = \"s3cret;#\"\n"));
	struct cpm_conf c2;
	assert_int_equal(load_text(&c2, d1, err, sizeof err), 0);
	char *d2 = dump_str(&c2);
	assert_string_equal(d1, d2);
	free(d1);
	free(d2);

	cpm_conf_defaults(&c);
	assert_int_equal(cpm_conf_set(&c, "smtp.tls", "tls", err, sizeof err),
			 CPM_EINVAL);
	assert_non_null(strstr(err, "one of no, starttls, yes"));
	assert_int_equal(cpm_conf_set(&c, "smtp.tls", "starttls", err, sizeof err),
			 0);
	assert_int_equal(c.smtp.tls, CPM_CONF_SMTP_TLS_STARTTLS);
	assert_int_equal(cpm_conf_set(&c, "smtp.timeout", "0", err, sizeof err),
			 CPM_EINVAL);
	assert_int_equal(cpm_conf_set(&c, "smtp.max_in_flight", "1025", err,
				      sizeof err),
			 CPM_EINVAL);
	/* smtps:// is implicit TLS: tls must say so */
	assert_int_equal(cpm_conf_set(&c, "smtp.url", "smtps://mx", err, sizeof err),
			 0);
	assert_int_equal(cpm_conf_validate(&c, err, sizeof err), CPM_EINVAL);
	assert_non_null(strstr(err, "smtp.tls is starttls"));
	assert_int_equal(cpm_conf_set(&c, "smtp.tls", "yes", err, sizeof err), 0);
	assert_int_equal(cpm_conf_validate(&c, err, sizeof err), 0);
	assert_int_equal(cpm_conf_set(&c, "smtp.password", "x", err, sizeof err), 0);
	assert_int_equal(cpm_conf_validate(&c, err, sizeof err), CPM_EINVAL);
	assert_non_null(strstr(err, "smtp.password"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_parse_file),
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_dump_roundtrip),
		cmocka_unit_test(test_sample_documents_every_key),
		cmocka_unit_test(test_table_sane),
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_class_errors),
		cmocka_unit_test(test_sample_documents_classes),
		cmocka_unit_test(test_smtp),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
