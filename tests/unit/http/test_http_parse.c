/* http parser: request line, headers, bodies, pipelining, split reads at
 * every byte boundary, limits, bad inputs, HTTP/1.0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "http/http.h"

/* Parse s in one go; returns the parser's result. */
static int parse1(struct cpm_http_parser *p, const char *s,
		  const struct cpm_http_limits *lim)
{
	cpm_http_parser_init(p);
	return cpm_http_parse(p, s, strlen(s), lim);
}

static int status_of(const char *s, const struct cpm_http_limits *lim)
{
	struct cpm_http_parser p;
	int rc = parse1(&p, s, lim);
	if (rc == 1)
		return 0;
	if (rc == 0)
		return -1; /* incomplete */
	assert_non_null(p.reason);
	return p.status;
}

static void test_simple_get(void **state)
{
	struct cpm_http_parser p;
	const char *s = "GET /api/v1/status?x=1&y HTTP/1.1\r\n"
			"Host: a\r\n"
			"X-Thing:   padded value \t\r\n"
			"\r\n";
	assert_int_equal(parse1(&p, s, NULL), 1);
	assert_int_equal(p.used, strlen(s));
	assert_true(cpm_str_eq_cstr(p.req.method, "GET"));
	assert_true(cpm_str_eq_cstr(p.req.path, "/api/v1/status"));
	assert_true(cpm_str_eq_cstr(p.req.query, "x=1&y"));
	assert_true(cpm_str_eq_cstr(p.req.target, "/api/v1/status?x=1&y"));
	assert_int_equal(p.req.minor, 1);
	assert_true(p.req.keep_alive);
	assert_int_equal(p.req.nhdrs, 2);
	struct cpm_str v;
	assert_true(cpm_http_req_header(&p.req, "x-THING", &v));
	assert_true(cpm_str_eq_cstr(v, "padded value"));
	assert_true(cpm_http_req_header(&p.req, "HOST", &v));
	assert_false(cpm_http_req_header(&p.req, "Content-Length", &v));
	assert_int_equal(p.req.body.len, 0);
}

static void test_body_and_bare_lf(void **state)
{
	struct cpm_http_parser p;
	const char *s = "POST /m HTTP/1.1\nHost: a\nContent-Length: 5\n\nhelloGET";
	assert_int_equal(parse1(&p, s, NULL), 1);
	assert_true(cpm_str_eq_cstr(p.req.body, "hello"));
	assert_int_equal(p.used, strlen(s) - 3);
	/* identical Content-Length values are one value (RFC 9112 §6.3) */
	s = "POST /m HTTP/1.1\r\nHost: a\r\nContent-Length: 2, 2\r\n"
	    "Content-Length: 2\r\n\r\nok";
	assert_int_equal(parse1(&p, s, NULL), 1);
	assert_true(cpm_str_eq_cstr(p.req.body, "ok"));
}

static void test_connection_semantics(void **state)
{
	struct cpm_http_parser p;
	assert_int_equal(parse1(&p, "GET / HTTP/1.1\r\nHost: a\r\n"
				    "Connection: foo, Close\r\n\r\n", NULL), 1);
	assert_false(p.req.keep_alive);
	/* HTTP/1.0: close unless keep-alive; no Host needed */
	assert_int_equal(parse1(&p, "GET / HTTP/1.0\r\n\r\n", NULL), 1);
	assert_int_equal(p.req.minor, 0);
	assert_false(p.req.keep_alive);
	assert_int_equal(parse1(&p, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
				NULL), 1);
	assert_true(p.req.keep_alive);
	/* 1.x with a higher minor is served as 1.1 (RFC 9110 §6.2) */
	assert_int_equal(parse1(&p, "GET / HTTP/1.7\r\nHost: a\r\n\r\n", NULL), 1);
	assert_int_equal(p.req.minor, 1);
	assert_int_equal(parse1(&p, "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
				    "Content-Length: 3\r\n\r\n", NULL), 0);
	assert_true(p.req.expect_continue);
	assert_true(p.head_ready);
}

static void test_target_forms(void **state)
{
	struct cpm_http_parser p;
	assert_int_equal(parse1(&p, "GET http://h.example:80/x/y?q HTTP/1.1\r\nHost: h\r\n\r\n",
				NULL), 1);
	assert_true(cpm_str_eq_cstr(p.req.path, "/x/y"));
	assert_true(cpm_str_eq_cstr(p.req.query, "q"));
	assert_int_equal(parse1(&p, "GET http://h HTTP/1.1\r\nHost: h\r\n\r\n", NULL), 1);
	assert_true(cpm_str_eq_cstr(p.req.path, "/"));
	assert_int_equal(parse1(&p, "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", NULL), 1);
	assert_true(cpm_str_eq_cstr(p.req.path, "*"));
	assert_int_equal(status_of("GET * HTTP/1.1\r\nHost: h\r\n\r\n", NULL), 400);
	assert_int_equal(status_of("CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n", NULL), 400);
	assert_int_equal(parse1(&p, "GET /a%20b HTTP/1.1\r\nHost: h\r\n\r\n", NULL), 1);
	assert_true(cpm_str_eq_cstr(p.req.path, "/a%20b"));
}

static void test_leading_empty_lines(void **state)
{
	struct cpm_http_parser p;
	const char *s = "\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
	assert_int_equal(parse1(&p, s, NULL), 1);
	assert_int_equal(p.used, strlen(s));
	assert_true(cpm_str_eq_cstr(p.req.method, "GET"));
}

static void test_bad_inputs(void **state)
{
	static const struct {
		const char *in;
		int status;
	} cases[] = {
		{ "GET\r\n\r\n", 400 },
		{ " GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
		{ "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
		{ "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400 },
		{ "GET /\r\n\r\n", 400 }, /* HTTP/0.9 */
		{ "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
		{ "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
		{ "GET /a#f HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
		{ "GET /a%2 HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
		{ "GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
		{ "GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
		{ "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
		{ "GET / http/1.1\r\nHost: a\r\n\r\n", 400 },
		{ "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400 },
		{ "GET / HTTP/1\r\nHost: a\r\n\r\n", 400 },
		{ "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505 },
		{ "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505 },
		{ "GET / HTTP/3.0\r\n\r\n", 505 },
		{ "GET / HTTP/1.1\r\n\r\n", 400 },		     /* no Host */
		{ "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400 },   /* RFC 9112 §5.1 */
		{ "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nX: a\001b\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 411 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 411 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 411 },
		{ "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int st = status_of(cases[i].in, NULL);
		if (st != cases[i].status)
			fail_msg("case %zu '%s': status %d, expected %d", i,
				 cases[i].in, st, cases[i].status);
	}
	/* an error sticks */
	struct cpm_http_parser p;
	const char *s = "BAD\r\n";
	assert_true(parse1(&p, s, NULL) < 0);
	assert_true(cpm_http_parse(&p, s, strlen(s), NULL) < 0);
	assert_int_equal(p.status, 400);
}

static void test_early_reject(void **state)
{
	/* a broken request line is refused before the head is complete */
	struct cpm_http_parser p;
	assert_int_equal(parse1(&p, "GET / HTTP/9.9\r\nHost: a\r\n", NULL),
			 CPM_EVERSION);
	assert_int_equal(p.status, 505);
	assert_int_equal(parse1(&p, "GET / HTTP/1.1\r\nHost: a\r\n", NULL), 0);
}

static void test_limits(void **state)
{
	struct cpm_http_limits lim;
	cpm_http_limits_default(&lim);
	lim.max_head = 256;
	lim.max_target = 64;
	lim.max_headers = 3;
	lim.max_body = 10;
	char buf[2048];

	/* head over max_head: 431, also before the end of the head */
	snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: a\r\nX: %0300d\r\n\r\n", 0);
	assert_int_equal(status_of(buf, &lim), 431);
	snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: a\r\nX: %0300d", 0);
	assert_int_equal(status_of(buf, &lim), 431);
	/* exactly at the limit passes */
	const char *base = "GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n";
	size_t pad = 256 - strlen(base);
	snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: a\r\nX: %0*d\r\n\r\n",
		 (int)pad, 0);
	assert_int_equal(strlen(buf), 256);
	assert_int_equal(status_of(buf, &lim), 0);
	/* header count */
	assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", &lim), 0);
	assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
				   &lim), 431);
	/* target */
	snprintf(buf, sizeof buf, "GET /%064d HTTP/1.1\r\nHost: a\r\n\r\n", 0);
	assert_int_equal(status_of(buf, &lim), 414);
	snprintf(buf, sizeof buf, "GET /%063d HTTP/1.1\r\nHost: a\r\n\r\n", 0);
	assert_int_equal(status_of(buf, &lim), 0);
	snprintf(buf, sizeof buf, "GET /%0400d", 0); /* no line end yet */
	assert_int_equal(status_of(buf, &lim), 414);
	/* body */
	assert_int_equal(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n",
				   &lim), 413);
	assert_int_equal(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n"
				   "0123456789", &lim), 0);
	/* leading empty lines count */
	memset(buf, '\n', 300);
	buf[300] = '\0';
	assert_int_equal(status_of(buf, &lim), 431);
	/* max_headers above the cap is clamped */
	lim.max_headers = 100000;
	lim.max_head = 1 << 20;
	struct cpm_buf b;
	cpm_buf_init(&b, 1 << 20);
	cpm_buf_puts(&b, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 0; i < CPM_HTTP_HDRS_CAP; i++)
		cpm_buf_puts(&b, "X: y\r\n");
	cpm_buf_puts(&b, "\r\n");
	assert_int_equal(status_of(b.p, &lim), 431);
	cpm_buf_free(&b);
}

/* Feed the requests in s cut at every byte boundary (two pieces, then one
 * byte at a time), consuming as a server would; check what parses. */
struct expect {
	const char *method, *path, *body;
	bool keep_alive;
};

static void run_stream(const char *s, size_t split, const struct expect *ex,
		       size_t nex, bool bytewise)
{
	size_t total = strlen(s);
	/* the buffer moves between calls: a fresh copy each time */
	char *held = NULL;
	size_t have = 0, fed = 0, got = 0;
	struct cpm_http_parser p;
	cpm_http_parser_init(&p);
	while (got < nex) {
		size_t next;
		if (bytewise)
			next = fed < total ? fed + 1 : total;
		else
			next = fed < split ? split : total;
		size_t add = next - fed;
		char *nb = malloc(have + add + 1);
		assert_non_null(nb);
		if (have)
			memcpy(nb, held, have);
		memcpy(nb + have, s + fed, add);
		free(held);
		held = nb;
		have += add;
		fed = next;
		for (;;) {
			int rc = cpm_http_parse(&p, held, have, NULL);
			assert_true(rc >= 0);
			if (rc == 0)
				break;
			assert_true(got < nex);
			assert_true(cpm_str_eq_cstr(p.req.method, ex[got].method));
			assert_true(cpm_str_eq_cstr(p.req.path, ex[got].path));
			assert_true(cpm_str_eq_cstr(p.req.body, ex[got].body));
			assert_int_equal(p.req.keep_alive, ex[got].keep_alive);
			got++;
			memmove(held, held + p.used, have - p.used);
			have -= p.used;
			cpm_http_parser_init(&p);
		}
		if (fed == total)
			break;
	}
	assert_int_equal(got, nex);
	assert_int_equal(have, 0);
	free(held);
}

static const char pipeline[] =
	"GET /health HTTP/1.1\r\nHost: a\r\n\r\n"
	"POST /api/v1/messages?to=x HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n"
	"Content-Type: text/plain\r\n\r\nhello\r\n\r\nyo"
	"\r\n"
	"GET /m/42 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
	"PUT /x HTTP/1.1\nHost: a\nContent-Length: 0\nConnection: close\n\n";

static const struct expect pipeline_ex[] = {
	{ "GET", "/health", "", true },
	{ "POST", "/api/v1/messages", "hello\r\n\r\nyo", true },
	{ "GET", "/m/42", "", true },
	{ "PUT", "/x", "", false },
};

static void test_pipelining(void **state)
{
	run_stream(pipeline, strlen(pipeline), pipeline_ex, 4, false);
}

static void test_split_every_boundary(void **state)
{
	size_t n = strlen(pipeline);
	for (size_t i = 1; i < n; i++)
		run_stream(pipeline, i, pipeline_ex, 4, false);
	run_stream(pipeline, 0, pipeline_ex, 4, true);
}

static void test_split_errors(void **state)
{
	/* an error is found whatever the split */
	const char *s = "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n";
	size_t n = strlen(s);
	for (size_t i = 1; i <= n; i++) {
		struct cpm_http_parser p;
		cpm_http_parser_init(&p);
		int rc = cpm_http_parse(&p, s, i, NULL);
		if (rc == 0)
			rc = cpm_http_parse(&p, s, n, NULL);
		assert_int_equal(rc, CPM_EPARSE);
		assert_int_equal(p.status, 400);
	}
}

static void test_status_reason(void **state)
{
	assert_string_equal(cpm_http_status_reason(404), "Not Found");
	assert_string_equal(cpm_http_status_reason(431),
			    "Request Header Fields Too Large");
	assert_string_equal(cpm_http_status_reason(799), "Unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_get),
		cmocka_unit_test(test_body_and_bare_lf),
		cmocka_unit_test(test_connection_semantics),
		cmocka_unit_test(test_target_forms),
		cmocka_unit_test(test_leading_empty_lines),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_early_reject),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_pipelining),
		cmocka_unit_test(test_split_every_boundary),
		cmocka_unit_test(test_split_errors),
		cmocka_unit_test(test_status_reason),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
