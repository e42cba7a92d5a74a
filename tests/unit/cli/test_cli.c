/* cli: digest response computation (RFC 7616 §3.9.1, RFC 2617 §3.5,
 * RFC 2069 style, -sess/auth-int), challenge choice, the Authorization
 * header, argument, config, address and header parsing, the listen output
 * escaping, and one UDP client transaction (Timer E retransmission, 401
 * retry with SHA-256) against a fake server thread on 127.0.0.1.
 *
 * build/libcpm.a holds no src/cli objects, so the cli sources are included
 * here directly: cli_main.c with CPM_CLI_TEST defined, which leaves out
 * main(), and the others as they are.  They need lib, sip and libc only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>

#define CPM_CLI_TEST 1
#include "../../../src/cli/cli_auth.c"
#include "../../../src/cli/cli_main.c"
#include "../../../src/cli/cli_msg.c"
#include "../../../src/cli/cli_ua.c"
#include "../../../src/cli/cli_http.c"
#include "../../../src/cli/cli_cmd.c"
#include "../../../src/cli/cli_inbox.c"
#include "cli_argv.h"

/* ------------------------------------------------------------ digest */

static const char *const rfc7616_nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
static const char *const rfc7616_cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

static void rfc7616(enum cpm_hash_alg alg, const char *expect)
{
	char out[CPM_HASH_HEX_MAX];
	struct cpm_cli_digest d = {
		.alg = alg,
		.qop = 1,
		.username = "Mufasa",
		.realm = "http-auth@example.org",
		.password = "Circle of Life",
		.method = "GET",
		.uri = "/dir/index.html",
		.nonce = rfc7616_nonce,
		.cnonce = rfc7616_cnonce,
		.nc = "00000001",
	};
	assert_int_equal(cpm_cli_digest_response(&d, out), 0);
	assert_string_equal(out, expect);
}

static void test_digest_rfc7616_md5(void **state)
{
	rfc7616(CPM_HASH_MD5, "8ca523f5e9506fed4657c9700eebdbec");
}

static void test_digest_rfc7616_sha256(void **state)
{
	rfc7616(CPM_HASH_SHA256,
		"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
}

static void test_digest_rfc2617(void **state)
{
	char out[CPM_HASH_HEX_MAX];
	struct cpm_cli_digest d = {
		.alg = CPM_HASH_MD5,
		.qop = 1,
		.username = "Mufasa",
		.realm = "testrealm@host.com",
		.password = "Circle Of Life",
		.method = "GET",
		.uri = "/dir/index.html",
		.nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093",
		.cnonce = "0a4f113b",
		.nc = "00000001",
	};
	assert_int_equal(cpm_cli_digest_response(&d, out), 0);
	assert_string_equal(out, "6629fae49393a05397450978507c4ef1");
}

static void test_digest_no_qop_and_sess(void **state)
{
	char out[CPM_HASH_HEX_MAX];
	/* RFC 2069 compatibility: H(HA1:nonce:HA2) */
	struct cpm_cli_digest d = {
		.alg = CPM_HASH_MD5,
		.username = "alice",
		.realm = "example.test",
		.password = "secret",
		.method = "REGISTER",
		.uri = "sip:example.test",
		.nonce = "abc123",
	};
	assert_int_equal(cpm_cli_digest_response(&d, out), 0);
	assert_string_equal(out, "ebc2386e4f0aa60ae81a2fca3c185a24");

	/* SHA-256-sess with qop=auth-int (values from an independent
	 * Python hashlib computation) */
	struct cpm_cli_digest s = {
		.alg = CPM_HASH_SHA256,
		.sess = true,
		.qop = 2,
		.username = "alice",
		.realm = "example.test",
		.password = "secret",
		.method = "MESSAGE",
		.uri = "sip:bob@example.test",
		.nonce = "n1",
		.cnonce = "c1",
		.nc = "00000002",
		.body = CPM_STR("hello"),
	};
	assert_int_equal(cpm_cli_digest_response(&s, out), 0);
	assert_string_equal(out,
			    "44a60ffc6f5690fe50c4f49c6250a5565cf3f256d41899b24c3ad4f566ed8910");

	/* qop without cnonce is refused */
	s.cnonce = NULL;
	assert_int_equal(cpm_cli_digest_response(&s, out), CPM_EINVAL);
}

static void parse_resp(struct cpm_sip_msg *m, const char *text)
{
	struct cpm_sip_limits lim;
	cpm_sip_limits_default(&lim);
	assert_int_equal(cpm_sip_msg_parse(m, text, strlen(text), CPM_SIP_DATAGRAM, &lim), 0);
}

#define RESP_HEAD(code)                                                 \
	"SIP/2.0 " code "\r\n"                                          \
	"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1;rport=5070\r\n" \
	"From: <sip:alice@example.test>;tag=a\r\n"                      \
	"To: <sip:alice@example.test>;tag=b\r\n"                        \
	"Call-ID: c1\r\n"                                               \
	"CSeq: 1 REGISTER\r\n"

static void test_challenge_prefers_sha256(void **state)
{
	static struct cpm_sip_msg m;
	struct cpm_cli_challenge ch;
	static const char text[] =
		RESP_HEAD("401 Unauthorized")
		"WWW-Authenticate: Digest realm=\"example.test\", nonce=\"n-md5\", "
		"algorithm=MD5, qop=\"auth\"\r\n"
		"WWW-Authenticate: Digest realm=\"example.test\", nonce=\"n-sha\", "
		"algorithm=SHA-256, qop=\"auth,auth-int\", opaque=\"op\"\r\n"
		"WWW-Authenticate: Digest realm=\"example.test\", nonce=\"n-x\", "
		"algorithm=SHA-512-256, qop=\"auth\"\r\n"
		"Content-Length: 0\r\n\r\n";

	parse_resp(&m, text);
	assert_int_equal(cpm_cli_challenge_choose(&m, &ch), 0);
	assert_int_equal(ch.alg, CPM_HASH_SHA256);
	assert_false(ch.proxy);
	assert_int_equal(ch.qop, 1);
	assert_string_equal(ch.nonce, "n-sha");
	assert_string_equal(ch.realm, "example.test");
	assert_string_equal(ch.opaque, "op");
}

static void test_challenge_proxy_and_unsupported(void **state)
{
	static struct cpm_sip_msg m;
	struct cpm_cli_challenge ch;
	static const char proxy[] =
		RESP_HEAD("407 Proxy Authentication Required")
		"Proxy-Authenticate: Digest realm=\"r\", nonce=\"n\"\r\n"
		"Content-Length: 0\r\n\r\n";
	static const char other[] =
		RESP_HEAD("401 Unauthorized")
		"WWW-Authenticate: Basic realm=\"r\"\r\n"
		"Content-Length: 0\r\n\r\n";
	static const char none[] =
		RESP_HEAD("401 Unauthorized")
		"Content-Length: 0\r\n\r\n";

	parse_resp(&m, proxy);
	assert_int_equal(cpm_cli_challenge_choose(&m, &ch), 0);
	assert_true(ch.proxy);
	assert_int_equal(ch.alg, CPM_HASH_MD5);
	assert_false(ch.has_alg);
	assert_int_equal(ch.qop, 0);

	parse_resp(&m, other);
	assert_int_equal(cpm_cli_challenge_choose(&m, &ch), CPM_EUNSUPP);
	parse_resp(&m, none);
	assert_int_equal(cpm_cli_challenge_choose(&m, &ch), CPM_ENOTFOUND);
}

static void test_auth_header(void **state)
{
	struct cpm_cli_challenge ch;
	struct cpm_buf b;

	memset(&ch, 0, sizeof ch);
	ch.alg = CPM_HASH_MD5;
	ch.has_alg = true;
	ch.qop = 1;
	strcpy(ch.realm, "http-auth@example.org");
	strcpy(ch.nonce, rfc7616_nonce);
	strcpy(ch.opaque, "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS");
	cpm_buf_init(&b, 4096);
	assert_int_equal(cpm_cli_auth_header(&b, &ch, "Mufasa", "Circle of Life",
					     "GET", "/dir/index.html",
					     CPM_STR_NULL, rfc7616_cnonce),
			 0);
	assert_string_equal(
		b.p,
		"Authorization: Digest username=\"Mufasa\", "
		"realm=\"http-auth@example.org\", "
		"nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
		"uri=\"/dir/index.html\", "
		"response=\"8ca523f5e9506fed4657c9700eebdbec\", algorithm=MD5, "
		"cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", "
		"opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\", "
		"qop=auth, nc=00000001\r\n");

	/* the nonce count goes up on reuse; proxy challenges give
	 * Proxy-Authorization; quotes in the username are escaped */
	cpm_buf_reset(&b);
	ch.proxy = true;
	ch.alg = CPM_HASH_SHA256;
	assert_int_equal(cpm_cli_auth_header(&b, &ch, "a\"b", "pw", "MESSAGE",
					     "sip:bob@example.test", CPM_STR_NULL,
					     NULL),
			 0);
	assert_non_null(strstr(b.p, "Proxy-Authorization: Digest username=\"a\\\"b\""));
	assert_non_null(strstr(b.p, "algorithm=SHA-256"));
	assert_non_null(strstr(b.p, "nc=00000002\r\n"));
	cpm_buf_free(&b);
}

/* ---------------------------------------------------------- arguments */

static int parse(struct cpm_cli_args *a, char *err, ...)
{
	va_list ap;
	va_start(ap, err);
	int rc = cli_argv_parse(a, err, 256, ap);
	va_end(ap);
	return rc;
}

static void test_args_globals(void **state)
{
	struct cpm_cli_args a;
	char err[256];

	assert_int_equal(parse(&a, err, "--server", "127.0.0.1:5070", "--transport",
			       "tcp", "--user", "sip:alice@example.test",
			       "--password=s3cret", "--local-port", "5071", "-v",
			       "--timeout", "3", "register", "--expires", "60",
			       NULL),
			 0);
	assert_int_equal(a.cmd, CPM_CLI_CMD_REGISTER);
	assert_string_equal(a.server, "127.0.0.1:5070");
	assert_int_equal(a.transport, CPM_CLI_TCP);
	assert_string_equal(a.user, "alice@example.test"); /* sip: stripped */
	assert_string_equal(a.password, "s3cret");
	assert_int_equal(a.local_port, 5071);
	assert_true(a.verbose);
	assert_int_equal(a.timeout_s, 3);
	assert_int_equal(a.expires, 60);
	assert_false(a.unregister);

	/* defaults */
	assert_int_equal(parse(&a, err, "register", "--unregister", NULL), 0);
	assert_int_equal(a.transport, CPM_CLI_UDP);
	assert_int_equal(a.timeout_s, 10);
	assert_int_equal(a.expires, 3600);
	assert_true(a.unregister);

	/* globals after the command and after positionals */
	assert_int_equal(parse(&a, err, "-v", "options", "sip:127.0.0.1:5999",
			       "--server", "127.0.0.1:5999", NULL),
			 0);
	assert_int_equal(a.cmd, CPM_CLI_CMD_OPTIONS);
	assert_int_equal(a.npos, 1);
	assert_string_equal(a.pos[0], "sip:127.0.0.1:5999");
	assert_string_equal(a.server, "127.0.0.1:5999");
}

static void test_args_send_listen(void **state)
{
	struct cpm_cli_args a;
	char err[256];

	assert_int_equal(parse(&a, err, "send", "--type", "text/html", "--header",
			       "Request-Disposition: no-fork", "--header",
			       "Subject: hi", "bob@example.test", "-", NULL),
			 0);
	assert_int_equal(a.cmd, CPM_CLI_CMD_SEND);
	assert_string_equal(a.content_type, "text/html");
	assert_int_equal(a.nheaders, 2);
	assert_string_equal(a.headers[0], "Request-Disposition: no-fork");
	assert_int_equal(a.npos, 2);
	assert_string_equal(a.pos[1], "-");

	/* "--" ends the options: a text that starts with a dash */
	assert_int_equal(parse(&a, err, "send", "bob", "--", "--not-an-option", NULL), 0);
	assert_string_equal(a.pos[1], "--not-an-option");

	assert_int_equal(parse(&a, err, "listen", "--count", "2", "--duration", "30",
			       "--expires", "120", "--json", NULL),
			 0);
	assert_int_equal(a.count, 2);
	assert_int_equal(a.duration, 30);
	assert_int_equal(a.expires, 120);
	assert_true(a.json);
	assert_int_equal(a.keepalive_s, 25);
	assert_int_equal(parse(&a, err, "listen", "--keepalive=0", NULL), 0);
	assert_int_equal(a.keepalive_s, 0);
	assert_int_equal(parse(&a, err, "listen", "--expires", "0", NULL), CPM_EINVAL);
}

static void test_args_report_inbox_fetch(void **state)
{
	struct cpm_cli_args a;
	char err[256];

	/* --report: the wait is optional, so only --report=S carries it */
	assert_int_equal(parse(&a, err, "send", "--report", "bob", "hi", NULL), 0);
	assert_true(a.report);
	assert_int_equal(a.report_s, CPM_CLI_REPORT_WAIT);
	assert_int_equal(parse(&a, err, "send", "bob", "hi", "--report=5", NULL), 0);
	assert_true(a.report);
	assert_int_equal(a.report_s, 5);
	assert_int_equal(parse(&a, err, "send", "bob", "hi", NULL), 0);
	assert_false(a.report);
	assert_int_equal(parse(&a, err, "send", "--report", "5", "bob", "hi", NULL),
			 CPM_EINVAL);
	assert_non_null(strstr(err, "unexpected argument"));
	assert_int_equal(parse(&a, err, "send", "--report=0", "bob", "hi", NULL), CPM_EINVAL);
	assert_non_null(strstr(err, "bad report wait '0'"));
	assert_int_equal(parse(&a, err, "send", "--report=x", "bob", "hi", NULL), CPM_EINVAL);
	assert_int_equal(parse(&a, err, "listen", "--report", NULL), CPM_EINVAL);
	assert_non_null(strstr(err, "unknown option '--report' for listen"));

	/* --http is global; https is refused with a reason */
	assert_int_equal(parse(&a, err, "inbox", "--http", "http://[::1]:8081/cpm",
			       "--json", NULL),
			 0);
	assert_int_equal(a.cmd, CPM_CLI_CMD_INBOX);
	assert_true(a.json);
	assert_string_equal(a.http, "http://[::1]:8081/cpm");
	assert_int_equal(parse(&a, err, "--http", "https://h/", "inbox", NULL), CPM_EINVAL);
	assert_non_null(strstr(err, "https is not supported"));
	assert_int_equal(parse(&a, err, "--http", "h:8080", "inbox", NULL), CPM_EINVAL);
	assert_int_equal(parse(&a, err, "inbox", "12", NULL), CPM_EINVAL);

	assert_int_equal(parse(&a, err, "fetch", "12", "-o", "out.bin", NULL), 0);
	assert_int_equal(a.cmd, CPM_CLI_CMD_FETCH);
	assert_string_equal(a.pos[0], "12");
	assert_string_equal(a.output, "out.bin");
	assert_int_equal(parse(&a, err, "fetch", "--output=x", "http://h:1/m/3?t=abc",
			       NULL),
			 0);
	assert_string_equal(a.output, "x");
	assert_string_equal(a.pos[0], "http://h:1/m/3?t=abc");
	assert_int_equal(parse(&a, err, "fetch", NULL), CPM_EINVAL);
	assert_non_null(strstr(err, "fetch needs a message ID or URL"));
	assert_int_equal(parse(&a, err, "fetch", "1", "2", NULL), CPM_EINVAL);
	assert_int_equal(parse(&a, err, "fetch", "1", "-o", NULL), CPM_EINVAL);
	assert_non_null(strstr(err, "-o needs a value"));

	/* the config key http; the command line wins */
	cpm_cli_args_init(&a);
	assert_int_equal(cpm_cli_config_parse(&a, "http = http://10.0.0.1:9000/\n", 29,
					      "cfg", err, sizeof err),
			 0);
	assert_string_equal(a.http, "http://10.0.0.1:9000/");
	assert_int_equal(cpm_cli_config_parse(&a, "http = ftp://x/\n", 16, "cfg", err,
					      sizeof err),
			 CPM_EINVAL);
	assert_string_equal(err, "cfg:1: bad http URL 'ftp://x/'");
	assert_int_equal(parse(&a, err, "--http", "http://a/", "inbox", NULL), 0);
	assert_int_equal(cpm_cli_config_parse(&a, "http = http://b/\n", 17, "cfg", err,
					      sizeof err),
			 0);
	assert_string_equal(a.http, "http://a/");
}

static void test_args_errors(void **state)
{
	struct cpm_cli_args a;
	char err[256];

	assert_int_equal(parse(&a, err, NULL), CPM_EINVAL);
	assert_non_null(strstr(err, "no command"));
	assert_int_equal(parse(&a, err, "frobnicate", NULL), CPM_EINVAL);
	assert_non_null(strstr(err, "unknown command 'frobnicate'"));
	assert_int_equal(parse(&a, err, "send", "bob", NULL), CPM_EINVAL);
	assert_non_null(strstr(err, "send needs TO and TEXT"));
	assert_int_equal(parse(&a, err, "send", "a", "b", "c", NULL), CPM_EINVAL);
	assert_int_equal(parse(&a, err, "--transport", "sctp", "options", NULL), CPM_EINVAL);
	assert_non_null(strstr(err, "bad transport 'sctp'"));
	assert_int_equal(parse(&a, err, "--user", "x@", "register", NULL), CPM_EINVAL);
	assert_non_null(strstr(err, "bad address 'x@'"));
	assert_int_equal(parse(&a, err, "--server", NULL), CPM_EINVAL);
	assert_non_null(strstr(err, "--server needs a value"));
	assert_int_equal(parse(&a, err, "--server", "h:99999", "options", NULL), CPM_EINVAL);
	assert_int_equal(parse(&a, err, "--timeout", "0", "options", NULL), CPM_EINVAL);
	assert_int_equal(parse(&a, err, "register", "--count", "3", NULL), CPM_EINVAL);
	assert_non_null(strstr(err, "unknown option '--count' for register"));
	assert_int_equal(parse(&a, err, "send", "--header", "Via: x", "b", "t", NULL),
			 CPM_EINVAL);
	assert_int_equal(parse(&a, err, "send", "--header", "NoColon", "b", "t", NULL),
			 CPM_EINVAL);
	assert_int_equal(parse(&a, err, "register", "extra", NULL), CPM_EINVAL);
}

static void test_args_help(void **state)
{
	struct cpm_cli_args a;
	char err[256];

	assert_int_equal(parse(&a, err, "help", NULL), 0);
	assert_true(a.help);
	assert_null(a.help_topic);
	assert_int_equal(parse(&a, err, "help", "send", NULL), 0);
	assert_string_equal(a.help_topic, "send");
	assert_int_equal(parse(&a, err, "listen", "--help", NULL), 0);
	assert_true(a.help);
	assert_int_equal(a.cmd, CPM_CLI_CMD_LISTEN);
	/* send --help needs no positionals */
	assert_int_equal(parse(&a, err, "send", "--help", NULL), 0);
	assert_int_equal(parse(&a, err, "--version", NULL), 0);
	assert_int_equal(a.cmd, CPM_CLI_CMD_VERSION);
}

/* ------------------------------------------------------------- config */

static void test_config(void **state)
{
	struct cpm_cli_args a;
	char err[256];
	static const char text[] =
		"# cpm config\n"
		"[default]\n"
		"server = 127.0.0.1:5080\n"
		"transport=tcp\r\n"
		"  user = \"bob@example.test\"\n"
		"; comment\n"
		"password = pw\n"
		"local_port = 5090\n";

	cpm_cli_args_init(&a);
	assert_int_equal(cpm_cli_config_parse(&a, text, strlen(text), "cfg", err,
					      sizeof err),
			 0);
	assert_string_equal(a.server, "127.0.0.1:5080");
	assert_int_equal(a.transport, CPM_CLI_TCP);
	assert_string_equal(a.user, "bob@example.test");
	assert_string_equal(a.password, "pw");
	assert_int_equal(a.local_port, 5090);

	/* the command line wins */
	assert_int_equal(parse(&a, err, "--server", "[::1]:5060", "--transport", "udp",
			       "--user", "alice@example.test", "--password", "cli",
			       "options", NULL),
			 0);
	assert_int_equal(cpm_cli_config_parse(&a, text, strlen(text), "cfg", err,
					      sizeof err),
			 0);
	assert_string_equal(a.server, "[::1]:5060");
	assert_int_equal(a.transport, CPM_CLI_UDP);
	assert_string_equal(a.user, "alice@example.test");
	assert_string_equal(a.password, "cli");
	assert_int_equal(a.local_port, 5090);

	cpm_cli_args_init(&a);
	assert_int_equal(cpm_cli_config_parse(&a, "transport = sctp\n", 17, "cfg",
					      err, sizeof err),
			 CPM_EINVAL);
	assert_string_equal(err, "cfg:1: bad transport 'sctp'");
	assert_int_equal(cpm_cli_config_parse(&a, "\nnonsense\n", 10, "cfg", err,
					      sizeof err),
			 CPM_EINVAL);
	assert_string_equal(err, "cfg:2: expected 'key = value'");
}

static void test_config_files(void **state)
{
	struct cpm_cli_args a;
	char err[256], dir[] = "/tmp/cpm-test-XXXXXX", cfg[300], pwf[300];
	assert_non_null(mkdtemp(dir));
	snprintf(cfg, sizeof cfg, "%s/config", dir);
	snprintf(pwf, sizeof pwf, "%s/pw", dir);
	FILE *f = fopen(cfg, "w");
	fputs("user = carol@example.test\npassword = fromconfig\n", f);
	fclose(f);
	f = fopen(pwf, "w");
	fputs("fromfile\r\nsecond line\n", f);
	fclose(f);

	assert_int_equal(parse(&a, err, "--config", cfg, "--password-file", pwf,
			       "register", NULL),
			 0);
	assert_int_equal(cpm_cli_config_load(&a, err, sizeof err), 0);
	assert_string_equal(a.user, "carol@example.test");
	assert_string_equal(a.password, "fromfile");

	assert_int_equal(parse(&a, err, "--config", cfg, "register", NULL), 0);
	assert_int_equal(cpm_cli_config_load(&a, err, sizeof err), 0);
	assert_string_equal(a.password, "fromconfig");

	/* an explicit --config that does not exist is an error */
	unlink(cfg);
	assert_int_equal(parse(&a, err, "--config", cfg, "register", NULL), 0);
	assert_int_equal(cpm_cli_config_load(&a, err, sizeof err), CPM_EINVAL);
	assert_non_null(strstr(err, "cannot read config file"));
	unlink(pwf);
	rmdir(dir);
}

/* ------------------------------------------------- addresses, headers */

static void test_hostport(void **state)
{
	char host[256];
	uint16_t port;

	assert_int_equal(cpm_cli_hostport_parse("127.0.0.1:5070", host, sizeof host, &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 5070);
	assert_int_equal(cpm_cli_hostport_parse("example.test", host, sizeof host, &port), 0);
	assert_string_equal(host, "example.test");
	assert_int_equal(port, 0);
	assert_int_equal(cpm_cli_hostport_parse("[::1]:5080", host, sizeof host, &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 5080);
	assert_int_equal(cpm_cli_hostport_parse("::1", host, sizeof host, &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 0);
	assert_int_equal(cpm_cli_hostport_parse("sip:h.test:1", host, sizeof host, &port), 0);
	assert_string_equal(host, "h.test");
	assert_int_equal(cpm_cli_hostport_parse("h:0", host, sizeof host, &port), CPM_EADDR);
	assert_int_equal(cpm_cli_hostport_parse(":5060", host, sizeof host, &port), CPM_EADDR);
	assert_int_equal(cpm_cli_hostport_parse("[::1", host, sizeof host, &port), CPM_EADDR);
	assert_int_equal(cpm_cli_hostport_parse("a@b", host, sizeof host, &port), CPM_EADDR);
}

static void test_target_uri(void **state)
{
	char out[300];

	assert_int_equal(cpm_cli_target_uri("bob", "example.test", out, sizeof out), 0);
	assert_string_equal(out, "sip:bob@example.test");
	assert_int_equal(cpm_cli_target_uri("bob@other.test", "example.test", out, sizeof out), 0);
	assert_string_equal(out, "sip:bob@other.test");
	assert_int_equal(cpm_cli_target_uri("sip:bob@127.0.0.1:5070", "x", out, sizeof out), 0);
	assert_string_equal(out, "sip:bob@127.0.0.1:5070");
	assert_int_equal(cpm_cli_target_uri("sip:127.0.0.1:5070", NULL, out, sizeof out), 0);
	assert_int_equal(cpm_cli_target_uri("127.0.0.1", NULL, out, sizeof out), 0);
	assert_string_equal(out, "sip:127.0.0.1");
	assert_int_equal(cpm_cli_target_uri("x@", "example.test", out, sizeof out), CPM_EADDR);
	assert_int_equal(cpm_cli_target_uri("@host", "example.test", out, sizeof out), CPM_EADDR);
	assert_int_equal(cpm_cli_target_uri("", "example.test", out, sizeof out), CPM_EADDR);
	assert_int_equal(cpm_cli_target_uri("bob smith", "example.test", out, sizeof out), CPM_EADDR);
	assert_int_equal(cpm_cli_target_uri("a@b@c", "example.test", out, sizeof out), CPM_EADDR);
}

static void test_header_check(void **state)
{
	assert_int_equal(cpm_cli_header_check("Request-Disposition: no-fork"), 0);
	assert_int_equal(cpm_cli_header_check("X-Foo:bar"), 0);
	assert_int_equal(cpm_cli_header_check("Call-ID: x"), CPM_EPERM);
	assert_int_equal(cpm_cli_header_check("l: 5"), CPM_EPERM); /* compact */
	assert_int_equal(cpm_cli_header_check("Content-Type: a/b"), CPM_EPERM);
	assert_int_equal(cpm_cli_header_check(": x"), CPM_EINVAL);
	assert_int_equal(cpm_cli_header_check("Bad Name: x"), CPM_EINVAL);
	assert_int_equal(cpm_cli_header_check("X: a\r\nVia: evil"), CPM_EINVAL);
}

/* ------------------------------------------------------ listen output */

static void test_output_escaping(void **state)
{
	struct cpm_buf b;
	cpm_buf_init(&b, 4096);
	put_json_str(&b, CPM_STR("a\"b\\c\r\nd\x01 h\xc3\xa9 \xff"));
	assert_string_equal(b.p, "\"a\\\"b\\\\c\\r\\nd\\u0001 h\xc3\xa9 \\ufffd\"");
	cpm_buf_reset(&b);
	put_line_text(&b, CPM_STR("one\r\ntwo\nthree\x1b\tx"));
	assert_string_equal(b.p, "one\\ntwo\\nthree\\x1b\tx");
	cpm_buf_free(&b);

	struct cpm_str ct, inner;
	assert_true(cpm_cli_cpim_unwrap(CPM_STR("From: <im:a@b>\r\nNS: x\r\n\r\n"
					"Content-Type: text/plain\r\n\r\nHi there"),
				&ct, &inner));
	assert_true(cpm_str_eq_cstr(ct, "text/plain"));
	assert_true(cpm_str_eq_cstr(inner, "Hi there"));
	assert_int_equal(refresh_ms(3600), 3540000);
	assert_int_equal(refresh_ms(60), 30000);
	assert_int_equal(refresh_ms(1), 1000);
}

/* ------------------------------------------------- one UDP transaction */

struct fake {
	int fd;
	char got[4][4096]; /* the requests received */
	int n;
};

static void fake_reply(struct fake *f, const char *req, struct sockaddr_in *to,
		       const char *status, const char *extra)
{
	static struct cpm_sip_msg m;
	struct cpm_sip_limits lim;
	struct cpm_buf b;
	cpm_sip_limits_default(&lim);
	if (cpm_sip_msg_parse(&m, req, strlen(req), CPM_SIP_DATAGRAM, &lim) != 0)
		return;
	cpm_buf_init(&b, 8192);
	cpm_sip_print_response_start(&b, &m, atoi(status), status + 4, "ft");
	cpm_buf_puts(&b, extra);
	cpm_sip_print_body(&b, CPM_STR_NULL, CPM_STR_NULL);
	sendto(f->fd, b.p, b.len, 0, (struct sockaddr *)to, sizeof *to);
	cpm_buf_free(&b);
}

/* Drops the first request, answers its retransmission 401 (MD5 and
 * SHA-256 offered), answers the authenticated one 200. */
static void *fake_server(void *arg)
{
	struct fake *f = arg;
	struct sockaddr_in from;
	while (f->n < 3) {
		socklen_t fl = sizeof from;
		ssize_t n = recvfrom(f->fd, f->got[f->n], sizeof f->got[0] - 1, 0,
				     (struct sockaddr *)&from, &fl);
		if (n <= 0)
			break;
		f->got[f->n][n] = '\0';
		f->n++;
		if (f->n == 2)
			fake_reply(f, f->got[1], &from, "401 Unauthorized",
				   "WWW-Authenticate: Digest realm=\"example.test\", "
				   "nonce=\"abc\", algorithm=MD5, qop=\"auth\"\r\n"
				   "WWW-Authenticate: Digest realm=\"example.test\", "
				   "nonce=\"abc\", algorithm=SHA-256, qop=\"auth\"\r\n");
		else if (f->n == 3)
			fake_reply(f, f->got[2], &from, "200 OK",
				   "Allow: MESSAGE, OPTIONS\r\n");
	}
	return NULL;
}

static struct cpm_str hdr_of(const char *msg, const char *name)
{
	static struct cpm_sip_msg m;
	struct cpm_sip_limits lim;
	cpm_sip_limits_default(&lim);
	assert_int_equal(cpm_sip_msg_parse(&m, msg, strlen(msg), CPM_SIP_DATAGRAM, &lim), 0);
	const struct cpm_sip_hdr *h = cpm_sip_msg_hdr_by_name(&m, name);
	return h ? h->value : CPM_STR_NULL;
}

static void test_udp_transaction(void **state)
{
	static struct fake f;
	static struct cpm_cli_ua ua;
	struct cpm_cli_args a;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof sin;
	pthread_t th;
	char err[256];

	memset(&f, 0, sizeof f);
	f.fd = socket(AF_INET, SOCK_DGRAM, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(f.fd, (struct sockaddr *)&sin, sizeof sin), 0);
	getsockname(f.fd, (struct sockaddr *)&sin, &sl);
	char server[32];
	snprintf(server, sizeof server, "127.0.0.1:%u", ntohs(sin.sin_port));
	assert_int_equal(parse(&a, err, "--server", server, "--user", "alice@example.test",
			       "--password", "secret", "--timeout", "5", "options", NULL),
			 0);
	assert_int_equal(pthread_create(&th, NULL, fake_server, &f), 0);

	assert_int_equal(cpm_cli_ua_open(&ua, &a), 0);
	struct cpm_cli_req req = {
		.method = CPM_SIP_OPTIONS,
		.ruri = "sip:example.test",
		.to_uri = "sip:example.test",
	};
	const struct cpm_sip_msg *m = NULL;
	uint64_t t0 = cpm_now_ms();
	assert_int_equal(cpm_cli_ua_request(&ua, &req, &m), 0);
	uint64_t took = cpm_now_ms() - t0;
	assert_int_equal(m->status, 200);
	assert_true(ua.sent_credentials);
	cpm_cli_ua_close(&ua);
	pthread_join(th, NULL);
	close(f.fd);

	assert_int_equal(f.n, 3);
	/* Timer E: the retransmission came after T1 = 500 ms */
	assert_true(took >= 450 && took < 4500);
	/* retransmission: byte-identical */
	assert_string_equal(f.got[0], f.got[1]);
	/* the authenticated retry: same Call-ID and From, new branch,
	 * CSeq + 1, SHA-256 chosen */
	assert_true(cpm_str_eq(hdr_of(f.got[1], "Call-ID"), hdr_of(f.got[2], "Call-ID")));
	assert_true(cpm_str_eq(hdr_of(f.got[1], "From"), hdr_of(f.got[2], "From")));
	assert_false(cpm_str_eq(hdr_of(f.got[1], "Via"), hdr_of(f.got[2], "Via")));
	assert_true(cpm_str_istarts(hdr_of(f.got[2], "Via"), "SIP/2.0/UDP 127.0.0.1:"));
	assert_non_null(strstr(f.got[2], ";branch=z9hG4bK"));
	assert_non_null(strstr(f.got[2], ";rport"));
	uint64_t c1, c2;
	struct cpm_str s1 = hdr_of(f.got[1], "CSeq"), s2 = hdr_of(f.got[2], "CSeq");
	s1.len = (size_t)cpm_str_chr(s1, ' ');
	s2.len = (size_t)cpm_str_chr(s2, ' ');
	assert_int_equal(cpm_str_to_u64(s1, UINT32_MAX, &c1), 0);
	assert_int_equal(cpm_str_to_u64(s2, UINT32_MAX, &c2), 0);
	assert_int_equal(c2, c1 + 1);
	struct cpm_str auth = hdr_of(f.got[2], "Authorization");
	assert_true(cpm_str_istarts(auth, "Digest username=\"alice\""));
	char tmp[1024];
	cpm_str_copy(auth, tmp, sizeof tmp);
	assert_non_null(strstr(tmp, "algorithm=SHA-256"));
	assert_non_null(strstr(tmp, "qop=auth, nc=00000001"));
	assert_true(cpm_str_eq_cstr(hdr_of(f.got[2], "User-Agent"), "cpm/0.1"));
	assert_true(cpm_str_eq_cstr(hdr_of(f.got[2], "Content-Length"), "0"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digest_rfc7616_md5),
		cmocka_unit_test(test_digest_rfc7616_sha256),
		cmocka_unit_test(test_digest_rfc2617),
		cmocka_unit_test(test_digest_no_qop_and_sess),
		cmocka_unit_test(test_challenge_prefers_sha256),
		cmocka_unit_test(test_challenge_proxy_and_unsupported),
		cmocka_unit_test(test_auth_header),
		cmocka_unit_test(test_args_globals),
		cmocka_unit_test(test_args_send_listen),
		cmocka_unit_test(test_args_report_inbox_fetch),
		cmocka_unit_test(test_args_errors),
		cmocka_unit_test(test_args_help),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_config_files),
		cmocka_unit_test(test_hostport),
		cmocka_unit_test(test_target_uri),
		cmocka_unit_test(test_header_check),
		cmocka_unit_test(test_output_escaping),
		cmocka_unit_test(test_udp_transaction),
	};
	return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
