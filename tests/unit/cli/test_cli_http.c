/* cli: the HTTP client of cpm inbox / cpm fetch — URLs, response parsing
 * (Content-Length, chunked, close-delimited, interim 1xx, obs-fold,
 * limits, byte-by-byte arrival), digest credentials for GET (RFC 7616
 * §3.9.1 example), the JSON reader of the inbox list (order, white space,
 * unknown keys, escapes, errors), the inbox table, and whole requests
 * against a fake HTTP server thread on 127.0.0.1 that checks the digest
 * response itself (401 -> retry -> 200 chunked in small pieces; a wrong
 * password; a server that never answers).
 *
 * The cli sources are included directly, as in test_cli.c. */
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

static int parse_args(struct cpm_cli_args *a, ...)
{
	char err[256];
	va_list ap;
	va_start(ap, a);
	int rc = cli_argv_parse(a, err, sizeof err, ap);
	va_end(ap);
	return rc;
}

/* ------------------------------------------------------------------ URLs */

static void test_url(void **state)
{
	struct cpm_cli_url u, j;
	char o[300];

	assert_int_equal(cpm_cli_url_parse("http://127.0.0.1:8080/m/12?t=abc#frag", &u), 0);
	assert_string_equal(u.host, "127.0.0.1");
	assert_int_equal(u.port, 8080);
	assert_string_equal(u.target, "/m/12?t=abc");
	assert_int_equal(cpm_cli_url_parse("HTTP://example.test", &u), 0);
	assert_int_equal(u.port, 80);
	assert_string_equal(u.target, "/");
	assert_int_equal(cpm_cli_url_parse("http://example.test?x=1", &u), 0);
	assert_string_equal(u.target, "/?x=1");
	assert_int_equal(cpm_cli_url_parse("http://[::1]:8081/cpm/", &u), 0);
	assert_string_equal(u.host, "::1");
	cpm_cli_url_origin(&u, o, sizeof o);
	assert_string_equal(o, "http://[::1]:8081");

	assert_int_equal(cpm_cli_url_parse("https://h/", &u), CPM_ESCHEME);
	assert_int_equal(cpm_cli_url_parse("ftp://h/", &u), CPM_ESCHEME);
	static const char *const bad[] = { "h:80", "http://", "http:///x", "http://[::1/",
					   "http://::1/", "http://u:p@h/", "http://h:0/",
					   "http://h:99999/", "http://h/a b" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(cpm_cli_url_parse(bad[i], &u), CPM_EINVAL);

	/* joining the API paths to the base */
	assert_int_equal(cpm_cli_url_parse("http://h:1/", &u), 0);
	assert_int_equal(url_join(&u, "m/12", &j), 0);
	assert_string_equal(j.target, "/m/12");
	assert_int_equal(cpm_cli_url_parse("http://h:1/cpm/?x=1", &u), 0);
	assert_int_equal(url_join(&u, "m/12", &j), 0);
	assert_string_equal(j.target, "/cpm/m/12");
	assert_string_equal(j.host, "h");

	struct cpm_buf b;
	cpm_buf_init(&b, 256);
	assert_int_equal(cpm_cli_url_put_segment(&b, "alice@example.test"), 0);
	assert_string_equal(b.p, "alice@example.test");
	cpm_buf_reset(&b);
	assert_int_equal(cpm_cli_url_put_segment(&b, "a b/c%?#\xc3\xa9"), 0);
	assert_string_equal(b.p, "a%20b%2Fc%25%3F%23%C3%A9");
	cpm_buf_free(&b);

	/* the base URL: --http, else http://SERVER-HOST:8080 */
	struct cpm_cli_args a;
	assert_int_equal(parse_args(&a, "--server", "127.0.0.1:5060", "inbox", NULL), 0);
	assert_int_equal(cpm_cli_http_base(&a, &u), 0);
	assert_string_equal(u.host, "127.0.0.1");
	assert_int_equal(u.port, CPM_CLI_HTTP_PORT);
	assert_string_equal(u.target, "/");
	assert_int_equal(parse_args(&a, "--server", "[::1]:5070", "inbox", NULL), 0);
	assert_int_equal(cpm_cli_http_base(&a, &u), 0);
	assert_string_equal(u.host, "::1");
	assert_int_equal(parse_args(&a, "--user", "alice@example.test", "inbox", NULL), 0);
	assert_int_equal(cpm_cli_http_base(&a, &u), 0);
	assert_string_equal(u.host, "example.test");
	assert_int_equal(parse_args(&a, "--server", "10.1.1.1", "--http",
				    "http://127.0.0.1:9/api", "inbox", NULL),
			 0);
	assert_int_equal(cpm_cli_http_base(&a, &u), 0);
	assert_string_equal(u.host, "127.0.0.1");
	assert_int_equal(u.port, 9);
	assert_string_equal(u.target, "/api");
}

/* ------------------------------------------------------------- responses */

static int parse_resp(const char *text, bool eof, struct cpm_cli_http_resp *r)
{
	return cpm_cli_http_resp_parse(text, strlen(text), eof, r);
}

static void test_resp_parse(void **state)
{
	struct cpm_cli_http_resp r;
	cpm_cli_http_resp_init(&r);

	static const char cl[] = "HTTP/1.1 200 OK\r\n"
				 "Content-Type: application/json\r\n"
				 "Content-Length: 5\r\n"
				 "\r\n"
				 "hello";
	assert_int_equal(parse_resp(cl, false, &r), 1);
	assert_int_equal(r.status, 200);
	assert_true(cpm_str_eq_cstr(r.reason, "OK"));
	assert_true(cpm_str_eq_cstr(r.body, "hello"));
	assert_int_equal(r.used, strlen(cl));
	assert_true(cpm_str_eq_cstr(cpm_cli_http_hdr_get(&r, "content-type"),
				    "application/json"));
	assert_null(cpm_cli_http_hdr_get(&r, "X-None").s);
	/* every shorter prefix is incomplete, not an error */
	for (size_t n = 0; n < strlen(cl); n++)
		assert_int_equal(cpm_cli_http_resp_parse(cl, n, false, &r), 0);
	/* ... and an error when the peer closed there */
	assert_int_equal(cpm_cli_http_resp_parse(cl, strlen(cl) - 1, true, &r), CPM_EPARSE);

	/* chunked with extensions and a trailer; bare LF line ends */
	static const char ch[] = "HTTP/1.1 200 OK\n"
				 "Transfer-Encoding: gzip, chunked\n"
				 "\n"
				 "5;ext=1\r\nhello\r\n"
				 "1\r\n \r\n"
				 "A\r\n0123456789\r\n"
				 "0\r\n"
				 "X-Trailer: yes\r\n"
				 "\r\n";
	for (size_t n = 0; n < strlen(ch); n++)
		assert_int_equal(cpm_cli_http_resp_parse(ch, n, false, &r), 0);
	assert_int_equal(parse_resp(ch, false, &r), 1);
	assert_true(cpm_str_eq_cstr(r.body, "hello 0123456789"));
	assert_int_equal(r.used, strlen(ch));

	/* close-delimited, after a 100 Continue; reason phrase may be empty */
	static const char cd[] = "HTTP/1.1 100 Continue\r\n\r\n"
				 "HTTP/1.0 404 \r\n"
				 "Server: x\r\n\r\n"
				 "not found";
	assert_int_equal(parse_resp(cd, false, &r), 0);
	assert_int_equal(parse_resp(cd, true, &r), 1);
	assert_int_equal(r.status, 404);
	assert_int_equal(r.reason.len, 0);
	assert_true(cpm_str_eq_cstr(r.body, "not found"));

	/* two challenges and an obs-fold continuation */
	static const char au[] = "HTTP/1.1 401 Unauthorized\r\n"
				 "WWW-Authenticate: Digest realm=\"example.test\",\r\n"
				 "  nonce=\"n1\", algorithm=MD5, qop=\"auth\"\r\n"
				 "WWW-Authenticate: Digest realm=\"example.test\", nonce=\"n2\", "
				 "algorithm=SHA-256, qop=\"auth\"\r\n"
				 "Content-Length: 0\r\n\r\n";
	assert_int_equal(parse_resp(au, false, &r), 1);
	assert_int_equal(r.nhdrs, 3);
	struct cpm_cli_challenge c;
	assert_int_equal(cpm_cli_http_challenge_choose(&r, &c), 0);
	assert_int_equal(c.alg, CPM_HASH_SHA256);
	assert_string_equal(c.nonce, "n2");
	assert_false(c.proxy);

	/* no body for 204 */
	assert_int_equal(parse_resp("HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n",
				    false, &r),
			 1);
	assert_int_equal(r.body.len, 0);

	/* malformed */
	static const char *const bad[] = {
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 200OK\r\n\r\n",
		"SIP/2.0 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nNo colon\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad name: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\n continuation first\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nxx",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX",
		"HTTP/1.1 101 Switching Protocols\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(parse_resp(bad[i], false, &r), CPM_EPARSE);
	/* identical Content-Length values are one (RFC 9110 §8.6) */
	assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nxx",
				    false, &r),
			 1);

	/* limits: header count, head size, chunk size */
	struct cpm_buf big;
	cpm_buf_init(&big, 1 << 20);
	cpm_buf_puts(&big, "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i < CPM_CLI_HTTP_MAX_HDRS + 1; i++)
		cpm_buf_printf(&big, "X-%d: y\r\n", i);
	cpm_buf_puts(&big, "\r\n");
	assert_int_equal(cpm_cli_http_resp_parse(big.p, big.len, false, &r), CPM_ETOOBIG);
	cpm_buf_reset(&big);
	cpm_buf_puts(&big, "HTTP/1.1 200 OK\r\nX: ");
	while (big.len <= CPM_CLI_HTTP_MAX_HEAD)
		cpm_buf_puts(&big, "aaaaaaaaaaaaaaaa");
	assert_int_equal(cpm_cli_http_resp_parse(big.p, big.len, false, &r), CPM_ETOOBIG);
	cpm_buf_free(&big);
	assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				    "ffffffffffffffff\r\n",
				    false, &r),
			 CPM_ETOOBIG);
	assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n",
				    false, &r),
			 CPM_ETOOBIG);
	cpm_cli_http_resp_free(&r);
}

/* ------------------------------------------------------ digest over HTTP */

static void test_request_digest(void **state)
{
	struct cpm_cli_http_resp r;
	struct cpm_cli_challenge c;
	struct cpm_cli_url u;
	struct cpm_buf b;

	/* RFC 7616 §3.9.1: the two challenges, SHA-256 chosen */
	static const char chal[] =
		"HTTP/1.1 401 Unauthorized\r\n"
		"WWW-Authenticate: Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", "
		"algorithm=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
		"opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"\r\n"
		"WWW-Authenticate: Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", "
		"algorithm=MD5, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
		"opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"\r\n"
		"Content-Length: 0\r\n\r\n";
	cpm_cli_http_resp_init(&r);
	assert_int_equal(parse_resp(chal, false, &r), 1);
	assert_int_equal(cpm_cli_http_challenge_choose(&r, &c), 0);
	assert_int_equal(c.alg, CPM_HASH_SHA256);
	assert_int_equal(c.qop, 1);
	cpm_cli_http_resp_free(&r);

	assert_int_equal(cpm_cli_url_parse("http://www.example.org/dir/index.html", &u), 0);
	cpm_buf_init(&b, 4096);
	assert_int_equal(cpm_cli_http_request_build(&b, &u, &c, "Mufasa", "Circle of Life",
						    "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"),
			 0);
	assert_string_equal(
		b.p,
		"GET /dir/index.html HTTP/1.1\r\n"
		"Host: www.example.org\r\n"
		"User-Agent: cpm/0.1\r\n"
		"Accept: */*\r\n"
		"Connection: close\r\n"
		"Authorization: Digest username=\"Mufasa\", realm=\"http-auth@example.org\", "
		"nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", uri=\"/dir/index.html\", "
		"response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", "
		"algorithm=SHA-256, cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", "
		"opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\", qop=auth, nc=00000001\r\n"
		"\r\n");

	/* no credentials; the port and the query go where they belong; the
	 * digest uri is the whole request target */
	cpm_buf_reset(&b);
	assert_int_equal(cpm_cli_url_parse("http://[::1]:8080/m/3?t=x", &u), 0);
	assert_int_equal(cpm_cli_http_request_build(&b, &u, NULL, NULL, NULL, NULL), 0);
	assert_true(strncmp(b.p, "GET /m/3?t=x HTTP/1.1\r\nHost: [::1]:8080\r\n", 41) == 0);
	assert_null(strstr(b.p, "Authorization"));
	cpm_buf_reset(&b);
	assert_int_equal(cpm_cli_http_request_build(&b, &u, &c, "alice", "pw", "cn"), 0);
	assert_non_null(strstr(b.p, "uri=\"/m/3?t=x\""));
	assert_non_null(strstr(b.p, "nc=00000002")); /* the nonce count goes on */
	cpm_buf_free(&b);

	/* the retry rule: one retry for a fresh challenge, one more only
	 * when that nonce went stale */
	struct cpm_cli_auth_retry ar = { false, false };
	struct cpm_cli_challenge cur;
	bool have = false;
	assert_true(cpm_cli_auth_retry(&ar, false, &c, &cur, &have));
	assert_true(have);
	assert_false(cpm_cli_auth_retry(&ar, true, &c, &cur, &have));
	c.stale = true;
	assert_true(cpm_cli_auth_retry(&ar, true, &c, &cur, &have));
	assert_false(cpm_cli_auth_retry(&ar, true, &c, &cur, &have));
}

/* ------------------------------------------------------------ the inbox */

static const char example_list[] =
	"{\"aor\":\"alice@example.test\",\"messages\":[{\"id\":12,\"from\":\"sip:bob@example.test\","
	"\"display\":\"Bob\",\"date\":\"2026-11-30T03:00:00Z\",\"content_type\":\"text/plain\","
	"\"size\":5,\"subject\":\"\",\"deferred\":false,\"pull\":false,"
	"\"url\":\"http://127.0.0.1:8080/m/12\"}]}";

static void test_inbox_json(void **state)
{
	struct cpm_cli_inbox in;
	char err[200];

	assert_int_equal(cpm_cli_inbox_parse(cpm_str_from_cstr(example_list), &in, err,
					     sizeof err),
			 0);
	assert_string_equal(in.aor, "alice@example.test");
	assert_int_equal(in.n, 1);
	assert_int_equal(in.msgs[0].id, 12);
	assert_string_equal(in.msgs[0].from, "sip:bob@example.test");
	assert_string_equal(in.msgs[0].display, "Bob");
	assert_string_equal(in.msgs[0].date, "2026-11-30T03:00:00Z");
	assert_string_equal(in.msgs[0].content_type, "text/plain");
	assert_int_equal(in.msgs[0].size, 5);
	assert_string_equal(in.msgs[0].subject, "");
	assert_false(in.msgs[0].deferred);
	assert_string_equal(in.msgs[0].url, "http://127.0.0.1:8080/m/12");
	cpm_cli_inbox_free(&in);

	/* keys in another order, white space, keys of a later version with
	 * nested values, escapes, null, several messages */
	static const char other[] =
		" {\n  \"version\" : [1, {\"a\": [true, null, -1.5e3]}, \"x\"],\n"
		"  \"messages\" : [\n"
		"    { \"url\" : \"http:\\/\\/h\\/m\\/7\", \"size\" : 120, \"pull\" : true,\n"
		"      \"subject\" : \"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\"\", \"id\" : 7,\n"
		"      \"deferred\" : true, \"extra\" : {\"k\": {}}, \"display\" : null,\n"
		"      \"from\" : \"sip:carol@example.test\" },\n"
		"    {\"id\": 9, \"content_type\": \"image/png\"}\n"
		"  ],\n"
		"  \"aor\" : \"alice@example.test\"\n"
		"}\n";
	assert_int_equal(cpm_cli_inbox_parse(cpm_str_from_cstr(other), &in, err, sizeof err),
			 0);
	assert_int_equal(in.n, 2);
	assert_int_equal(in.msgs[0].id, 7);
	assert_string_equal(in.msgs[0].url, "http://h/m/7");
	assert_string_equal(in.msgs[0].subject, "caf\xc3\xa9 \xf0\x9f\x98\x80 \"q\"");
	assert_true(in.msgs[0].pull);
	assert_true(in.msgs[0].deferred);
	assert_string_equal(in.msgs[0].display, "");
	assert_int_equal(in.msgs[0].size, 120);
	assert_int_equal(in.msgs[1].id, 9);
	assert_string_equal(in.msgs[1].content_type, "image/png");
	assert_string_equal(in.aor, "alice@example.test");
	cpm_cli_inbox_free(&in);

	assert_int_equal(cpm_cli_inbox_parse(CPM_STR("{\"messages\":[]}"), &in, err, sizeof err),
			 0);
	assert_int_equal(in.n, 0);
	cpm_cli_inbox_free(&in);

	/* a display name longer than the field is cut at a character */
	char longname[400];
	int n = snprintf(longname, sizeof longname, "{\"messages\":[{\"id\":1,\"display\":\"");
	for (int i = 0; i < 100; i++)
		n += snprintf(longname + n, sizeof longname - (size_t)n, "\xc3\xa9");
	snprintf(longname + n, sizeof longname - (size_t)n, "\"}]}");
	assert_int_equal(cpm_cli_inbox_parse(cpm_str_from_cstr(longname), &in, err, sizeof err),
			 0);
	assert_int_equal(strlen(in.msgs[0].display), 126); /* 63 whole characters */
	cpm_cli_inbox_free(&in);

	static const struct {
		const char *json, *err;
	} bad[] = {
		{ "", "not a JSON object" },
		{ "[]", "not a JSON object" },
		{ "{\"aor\":\"a\"}", "no \"messages\" list" },
		{ "{\"messages\":{}}", "\"messages\" is not a list" },
		{ "{\"messages\":[]} x", "data after the JSON object" },
		{ "{\"messages\":[{\"id\":1}", "malformed" },
		{ "{\"messages\":[{\"from\":\"x\"}]}", "message #1: no \"id\"" },
		{ "{\"messages\":[{\"id\":\"12\"}]}", "message #1: bad value of \"id\"" },
		{ "{\"messages\":[{\"id\":1.5}]}", "message #1: bad value of \"id\"" },
		{ "{\"messages\":[{\"id\":-1}]}", "message #1: bad value of \"id\"" },
		{ "{\"messages\":[{\"id\":1},{\"id\":2,\"pull\":1}]}",
		  "message #2: bad value of \"pull\"" },
		{ "{\"messages\":[3]}", "message #1: not an object" },
		{ "{\"messages\":[{\"id\":1,\"from\":\"a\nb\"}]}", "message #1: bad value of \"from\"" },
		{ "{\"messages\":[{\"id\":1,\"from\":\"\\ud800\"}]}", "message #1" },
		{ "{\"messages\":[{\"id\":1,\"from\":\"\\u0000\"}]}", "message #1" },
		{ "{\"messages\":[{\"id\":1,\"from\":\"\xff\"}]}", "message #1" },
		{ "{\"messages\":[{\"id\":1,\"from\":\"\\x\"}]}", "message #1" },
		{ "{\"messages\":[{\"id\":1 \"from\":\"a\"}]}", "message #1" },
		{ "{\"aor\":tru, \"messages\":[]}", "bad value of \"aor\"" },
		{ "{\"z\":01, \"messages\":[]}", "malformed" },
		{ "{\"messages\":[], \"messages\":[]}", "\"messages\" is not a list" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		int rc = cpm_cli_inbox_parse(cpm_str_from_cstr(bad[i].json), &in, err, sizeof err);
		if (rc != CPM_EPARSE || !strstr(err, bad[i].err))
			fail_msg("case %zu (%s): rc %d, err '%s', want '%s'", i, bad[i].json, rc,
				 err, bad[i].err);
		assert_null(in.msgs);
	}

	/* nesting in unknown values is bounded */
	char deep[300] = "{\"x\":";
	for (int i = 0; i < 70; i++)
		strcat(deep, "[");
	assert_int_equal(cpm_cli_inbox_parse(cpm_str_from_cstr(deep), &in, err, sizeof err),
			 CPM_ELIMIT);
	assert_string_equal(err, "bad value of \"x\"");
}

static void test_inbox_table(void **state)
{
	struct cpm_cli_inbox in;
	char err[200], *text = NULL;
	size_t len = 0;
	static const char list[] =
		"{\"aor\":\"alice@example.test\",\"messages\":["
		"{\"id\":12,\"from\":\"sip:bob@example.test\",\"display\":\"Bob\","
		"\"date\":\"2026-11-30T03:00:00Z\",\"content_type\":\"text/plain\",\"size\":5,"
		"\"subject\":\"\",\"deferred\":false,\"pull\":false},"
		"{\"id\":130,\"from\":\"sip:carol@example.test\",\"date\":\"2026-11-30T03:01:00Z\","
		"\"content_type\":\"image/png\",\"size\":20480,\"subject\":\"a\\u0007 picture "
		"with a subject much longer than the column\",\"deferred\":true,\"pull\":true}]}";

	assert_int_equal(cpm_cli_inbox_parse(cpm_str_from_cstr(list), &in, err, sizeof err), 0);
	FILE *f = open_memstream(&text, &len);
	cpm_cli_inbox_print(f, &in);
	fclose(f);
	assert_string_equal(
		text,
		"ID   DATE                  FROM                    TYPE        SIZE   "
		"SUBJECT                         FLAGS\n"
		"12   2026-11-30 03:00:00Z  Bob <bob@example.test>  text/plain  5      "
		"-                               -\n"
		"130  2026-11-30 03:01:00Z  carol@example.test      image/png   20480  "
		"a? picture with a subject m...  deferred,pull\n"
		"2 messages waiting for alice@example.test\n");
	free(text);
	cpm_cli_inbox_free(&in);

	in.n = 0;
	snprintf(in.aor, sizeof in.aor, "bob@example.test");
	f = open_memstream(&text, &len);
	cpm_cli_inbox_print(f, &in);
	fclose(f);
	assert_string_equal(text, "no messages waiting for bob@example.test\n");
	free(text);
}

/* ------------------------------------------------- against a fake server */

/* Answers connection i with script[i]: a literal response, sent in
 * 7-byte pieces; "DIGEST": 200 (chunked) if the Authorization header
 * carries the right digest response for alice/alice-secret, else 401;
 * NULL: reads and never answers. */
struct hfake {
	int lfd;
	const char *script[4];
	int nconn;
	char got[4][4096];
	int n;
	int digest_ok;
};

static const char challenge_401[] =
	"HTTP/1.1 401 Unauthorized\r\n"
	"WWW-Authenticate: Digest realm=\"example.test\", nonce=\"srvnonce1\", "
	"algorithm=MD5, qop=\"auth\"\r\n"
	"WWW-Authenticate: Digest realm=\"example.test\", nonce=\"srvnonce1\", "
	"algorithm=SHA-256, qop=\"auth\"\r\n"
	"Content-Length: 0\r\n"
	"Connection: close\r\n\r\n";

/* The server's side of RFC 7616: recompute the response from the header
 * fields (the request line gives method and target). */
static bool digest_valid(const char *req)
{
	const char *h = strstr(req, "\r\nAuthorization: ");
	if (!h)
		return false;
	h += 17;
	const char *e = strstr(h, "\r\n");
	struct cpm_sip_auth au;
	memset(&au, 0, sizeof au);
	if (cpm_sip_auth_parse((struct cpm_str){ h, (size_t)(e - h) }, &au) != 0)
		return false;
	char user[64], realm[64], nonce[64], uri[256], cnonce[64], nc[16], resp[80];
	const char *sp = strchr(req + 4, ' ');
	if (cpm_str_copy(au.username, user, sizeof user) || cpm_str_copy(au.realm, realm, sizeof realm) ||
	    cpm_str_copy(au.nonce, nonce, sizeof nonce) || cpm_str_copy(au.uri, uri, sizeof uri) ||
	    cpm_str_copy(au.cnonce, cnonce, sizeof cnonce) || cpm_str_copy(au.nc, nc, sizeof nc) ||
	    cpm_str_copy(au.response, resp, sizeof resp) || !sp)
		return false;
	/* the digest uri is the request target */
	if (strlen(uri) != (size_t)(sp - req - 4) || strncmp(req + 4, uri, strlen(uri)) != 0)
		return false;
	if (strcmp(user, "alice") || strcmp(realm, "example.test") || strcmp(nonce, "srvnonce1") ||
	    !cpm_str_eq_cstr(au.algorithm, "SHA-256") || !cpm_str_eq_cstr(au.qop, "auth"))
		return false;
	struct cpm_cli_digest d = {
		.alg = CPM_HASH_SHA256, .qop = 1, .username = "alice",
		.realm = "example.test", .password = "alice-secret", .method = "GET",
		.uri = uri, .nonce = nonce, .cnonce = cnonce, .nc = nc,
	};
	char want[CPM_HASH_HEX_MAX];
	return cpm_cli_digest_response(&d, want) == 0 && strcmp(want, resp) == 0;
}

static void send_slowly(int fd, const char *s)
{
	size_t len = strlen(s);
	for (size_t i = 0; i < len; i += 7) {
		size_t n = len - i < 7 ? len - i : 7;
		if (send(fd, s + i, n, MSG_NOSIGNAL) < 0)
			return;
		usleep(200);
	}
}

static void *hfake_run(void *arg)
{
	struct hfake *f = arg;
	for (int i = 0; i < f->nconn; i++) {
		int fd = accept(f->lfd, NULL, NULL);
		if (fd < 0)
			break;
		size_t len = 0;
		char *buf = f->got[f->n];
		while (!strstr(buf, "\r\n\r\n") && len < sizeof f->got[0] - 1) {
			ssize_t n = recv(fd, buf + len, sizeof f->got[0] - 1 - len, 0);
			if (n <= 0)
				break;
			len += (size_t)n;
			buf[len] = '\0';
		}
		f->n++;
		const char *s = f->script[i];
		if (!s) {
			char c;
			while (recv(fd, &c, 1, 0) > 0) /* until the client gives up */
				;
		} else if (strcmp(s, "DIGEST") == 0) {
			if (digest_valid(buf)) {
				f->digest_ok++;
				static char ok[4096];
				size_t bl = strlen(example_list);
				snprintf(ok, sizeof ok,
					 "HTTP/1.1 200 OK\r\n"
					 "Content-Type: application/json\r\n"
					 "Transfer-Encoding: chunked\r\n\r\n"
					 "%zx\r\n%.*s\r\n%zx\r\n%s\r\n0\r\n\r\n",
					 (size_t)40, 40, example_list, bl - 40,
					 example_list + 40);
				send_slowly(fd, ok);
			} else {
				send_slowly(fd, challenge_401);
			}
		} else {
			send_slowly(fd, s);
		}
		close(fd);
	}
	return NULL;
}

static void hfake_start(struct hfake *f, pthread_t *th, char *url, size_t urlsz,
			const char *path)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof sin;
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(listen(f->lfd, 4), 0);
	getsockname(f->lfd, (struct sockaddr *)&sin, &sl);
	snprintf(url, urlsz, "http://127.0.0.1:%u%s", ntohs(sin.sin_port), path);
	assert_int_equal(pthread_create(th, NULL, hfake_run, f), 0);
}

static void test_http_client(void **state)
{
	static struct hfake f;
	static struct cpm_cli_http h;
	struct cpm_cli_args a;
	struct cpm_cli_url u;
	const struct cpm_cli_http_resp *r = NULL;
	pthread_t th;
	char url[200], err[200];

	/* 401 (MD5 and SHA-256 offered) -> credentials -> 200 chunked */
	memset(&f, 0, sizeof f);
	f.script[0] = challenge_401;
	f.script[1] = "DIGEST";
	f.nconn = 2;
	hfake_start(&f, &th, url, sizeof url, "/api/v1/users/alice@example.test/messages");
	assert_int_equal(parse_args(&a, "--user", "alice@example.test", "--password",
				    "alice-secret", "--timeout", "5", "inbox", NULL),
			 0);
	assert_int_equal(cpm_cli_url_parse(url, &u), 0);
	cpm_cli_http_init(&h, &a, "alice");
	assert_int_equal(cpm_cli_http_get(&h, &u, &r), 0);
	assert_int_equal(r->status, 200);
	assert_true(h.sent_credentials);
	struct cpm_cli_inbox in;
	assert_int_equal(cpm_cli_inbox_parse(r->body, &in, err, sizeof err), 0);
	assert_int_equal(in.n, 1);
	assert_int_equal(in.msgs[0].id, 12);
	cpm_cli_inbox_free(&in);
	cpm_cli_http_free(&h);
	pthread_join(th, NULL);
	close(f.lfd);
	assert_int_equal(f.n, 2);
	assert_int_equal(f.digest_ok, 1);
	assert_true(strncmp(f.got[0], "GET /api/v1/users/alice@example.test/messages HTTP/1.1\r\n",
			    56) == 0);
	assert_null(strstr(f.got[0], "Authorization"));
	assert_non_null(strstr(f.got[0], "\r\nHost: 127.0.0.1:"));
	assert_non_null(strstr(f.got[0], "\r\nConnection: close\r\n"));

	/* a wrong password: one retry, then the 401 is the answer */
	memset(&f, 0, sizeof f);
	f.script[0] = challenge_401;
	f.script[1] = "DIGEST";
	f.nconn = 2;
	hfake_start(&f, &th, url, sizeof url, "/m/12");
	assert_int_equal(parse_args(&a, "--user", "alice@example.test", "--password", "wrong",
				    "--timeout", "5", "fetch", "12", NULL),
			 0);
	assert_int_equal(cpm_cli_url_parse(url, &u), 0);
	cpm_cli_http_init(&h, &a, "alice");
	assert_int_equal(cpm_cli_http_get(&h, &u, &r), 0);
	assert_int_equal(r->status, 401);
	assert_true(h.sent_credentials);
	cpm_cli_http_free(&h);
	pthread_join(th, NULL);
	close(f.lfd);
	assert_int_equal(f.n, 2);
	assert_int_equal(f.digest_ok, 0);

	/* a token URL: no credentials asked, none sent; the body and the
	 * headers of fetch */
	memset(&f, 0, sizeof f);
	f.script[0] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
		      "X-CPM-From: sip:bob@example.test\r\nContent-Length: 5\r\n\r\nhello";
	f.nconn = 1;
	hfake_start(&f, &th, url, sizeof url, "/m/12?t=tok3n");
	assert_int_equal(parse_args(&a, "--timeout", "5", "fetch", url, NULL), 0);
	assert_int_equal(cpm_cli_url_parse(url, &u), 0);
	cpm_cli_http_init(&h, &a, "");
	assert_int_equal(cpm_cli_http_get(&h, &u, &r), 0);
	assert_int_equal(r->status, 200);
	assert_true(cpm_str_eq_cstr(r->body, "hello"));
	assert_true(cpm_str_eq_cstr(cpm_cli_http_hdr_get(r, "X-CPM-From"),
				    "sip:bob@example.test"));
	cpm_cli_http_free(&h);
	pthread_join(th, NULL);
	close(f.lfd);
	assert_true(strncmp(f.got[0], "GET /m/12?t=tok3n HTTP/1.1\r\n", 28) == 0);

	/* a server that never answers: the request times out */
	memset(&f, 0, sizeof f);
	f.script[0] = NULL;
	f.nconn = 1;
	hfake_start(&f, &th, url, sizeof url, "/");
	assert_int_equal(parse_args(&a, "--timeout", "1", "inbox", NULL), 0);
	assert_int_equal(cpm_cli_url_parse(url, &u), 0);
	cpm_cli_http_init(&h, &a, "alice");
	uint64_t t0 = cpm_now_ms();
	assert_int_equal(cpm_cli_http_get(&h, &u, &r), CPM_ETIMEDOUT);
	uint64_t took = cpm_now_ms() - t0;
	assert_true(took >= 900 && took < 3000);
	cpm_cli_http_free(&h);
	pthread_join(th, NULL);
	close(f.lfd);

	/* a closed port: a connection error, at once */
	assert_int_equal(cpm_cli_url_parse(url, &u), 0);
	cpm_cli_http_init(&h, &a, "alice");
	assert_int_equal(cpm_cli_http_get(&h, &u, &r), CPM_EADDR);
	cpm_cli_http_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_resp_parse),
		cmocka_unit_test(test_request_digest),
		cmocka_unit_test(test_inbox_json),
		cmocka_unit_test(test_inbox_table),
		cmocka_unit_test(test_http_client),
	};
	return cmocka_run_group_tests_name("cli_http", tests, NULL, NULL);
}
