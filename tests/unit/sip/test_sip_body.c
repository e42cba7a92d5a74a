/* sip: Digest credentials/challenges, Content-Type, multipart bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sip/sip.h"

#define EQ(slice, lit) assert_true(cpm_str_eq_cstr((slice), (lit)))

static struct cpm_str heap(const char *s, size_t n, char **keep)
{
	char *c = malloc(n ? n : 1);
	memcpy(c, s, n);
	*keep = c;
	return (struct cpm_str){ c, n };
}
#define HEAP(lit, k) heap((lit), sizeof(lit) - 1, (k))

static void test_auth_credentials(void **state)
{
	(void)state;
	struct cpm_sip_auth a;
	char *k;
	struct cpm_str v = HEAP("Digest username=\"bob\", realm=\"biloxi.com\",\r\n"
				"  nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"sip:bob@biloxi.com\",\r\n"
				"  qop=auth, nc=00000001, cnonce=\"0a4f113b\",\r\n"
				"  response=\"6629fae49393a05397450978507c4ef1\",\r\n"
				"  opaque=\"5ccc069c403ebaf9f0171e9517f40e41\", algorithm=MD5,"
				"  x-unknown=\"a, b\"", &k);
	assert_int_equal(cpm_sip_auth_parse(v, &a), 0);
	EQ(a.scheme, "Digest");
	EQ(a.username, "bob");
	EQ(a.realm, "biloxi.com");
	EQ(a.nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093");
	EQ(a.uri, "sip:bob@biloxi.com");
	EQ(a.qop, "auth");
	EQ(a.nc, "00000001");
	EQ(a.cnonce, "0a4f113b");
	EQ(a.response, "6629fae49393a05397450978507c4ef1");
	EQ(a.opaque, "5ccc069c403ebaf9f0171e9517f40e41");
	EQ(a.algorithm, "MD5");
	assert_false(a.stale);
	free(k);

	v = HEAP("Digest realm=\"atlanta.com\", qop=\"auth,auth-int\", nonce=\"n\", "
		 "algorithm=\"SHA-256\", stale=TRUE", &k);
	assert_int_equal(cpm_sip_auth_parse(v, &a), 0);
	EQ(a.qop, "auth,auth-int");
	EQ(a.algorithm, "SHA-256");
	assert_true(a.stale);
	assert_int_equal(a.username.len, 0);
	free(k);

	v = HEAP("Digest", &k);
	assert_int_equal(cpm_sip_auth_parse(v, &a), 0);
	EQ(a.scheme, "Digest");
	free(k);

	const char *bad[] = { "", "Digest realm", "Digest realm=", "Digest realm=\"x",
			      "Digest realm=\"x\" nonce=\"y\"", "Digest ,realm=x",
			      "Digest realm=x,", "=x", "Digest realm=x,,nonce=y" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		v = heap(bad[i], strlen(bad[i]), &k);
		if (cpm_sip_auth_parse(v, &a) >= 0)
			fail_msg("accepted '%s'", bad[i]);
		free(k);
	}
}

static void test_ctype(void **state)
{
	(void)state;
	struct cpm_str mime, params;
	char *k;
	struct cpm_str v = HEAP("multipart/mixed ; boundary=\"unique-boundary-1\" ;x=y", &k);
	assert_int_equal(cpm_sip_ctype_parse(v, &mime, &params), 0);
	EQ(mime, "multipart/mixed");
	EQ(params, "; boundary=\"unique-boundary-1\" ;x=y");
	struct cpm_str b;
	assert_true(cpm_sip_param_find(params, "boundary", &b));
	EQ(cpm_sip_unquote(b), "unique-boundary-1");
	free(k);
	v = HEAP("text/plain", &k);
	assert_int_equal(cpm_sip_ctype_parse(v, &mime, &params), 0);
	EQ(mime, "text/plain");
	assert_int_equal(params.len, 0);
	free(k);
	const char *bad[] = { "", "text", "text/", "/plain", "text/plain;", "text/plain x",
			      "text/plain;charset" "=" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		v = heap(bad[i], strlen(bad[i]), &k);
		if (cpm_sip_ctype_parse(v, &mime, &params) >= 0)
			fail_msg("accepted '%s'", bad[i]);
		free(k);
	}
}

static void test_multipart(void **state)
{
	(void)state;
	char *k;
	static const char body[] =
		"preamble\r\n"
		"--b1\r\n"
		"Content-Type: text/plain\r\n"
		"Content-ID: <p1@x>\r\n"
		"\r\n"
		"one\r\n"
		"--b1  \r\n"
		"Content-Type: application/octet-stream\r\n"
		"Content-Disposition:\r\n render;handling=optional\r\n"
		"\r\n"
		"t\0o\r\n--b1x\r\n"
		"--b1\r\n"
		"\r\n"
		"--b1--\r\n"
		"epilogue";
	struct cpm_str cur = heap(body, sizeof body - 1, &k);
	struct cpm_sip_part p;
	struct cpm_str bnd = CPM_STR("b1");
	assert_int_equal(cpm_sip_multipart_next(&cur, bnd, &p), 1);
	EQ(p.content_type, "text/plain");
	EQ(p.content_id, "<p1@x>");
	EQ(p.body, "one");
	assert_int_equal(cpm_sip_multipart_next(&cur, bnd, &p), 1);
	EQ(p.content_type, "application/octet-stream");
	EQ(p.disposition, "render;handling=optional");
	assert_int_equal(p.body.len, 10);
	assert_memory_equal(p.body.s, "t\0o\r\n--b1x", 10);
	assert_int_equal(p.headers.len,
			 strlen("Content-Type: application/octet-stream\r\n"
				"Content-Disposition:\r\n render;handling=optional\r\n"));
	/* a part without headers and with an empty body */
	assert_int_equal(cpm_sip_multipart_next(&cur, bnd, &p), 1);
	assert_int_equal(p.headers.len, 0);
	assert_int_equal(p.body.len, 0);
	assert_int_equal(cpm_sip_multipart_next(&cur, bnd, &p), 0);
	free(k);

	/* body that opens with the delimiter, LF only */
	static const char lf[] = "--zz\nContent-Type: a/b\n\nX\n--zz--";
	cur = heap(lf, sizeof lf - 1, &k);
	assert_int_equal(cpm_sip_multipart_next(&cur, CPM_STR("zz"), &p), 1);
	EQ(p.body, "X");
	assert_int_equal(cpm_sip_multipart_next(&cur, CPM_STR("zz"), &p), 0);
	free(k);

	/* malformed: no delimiter, no closing delimiter, bad boundary */
	const char *bad[] = { "no delimiter here", "--b1\r\nContent-Type: a/b\r\n\r\nbody",
			      "--b1\r\nContent-Type: a/b", "--b1junk\r\n\r\nx\r\n--b1x",
			      "--b1\r\nno colon\r\n\r\nx\r\n--b1--" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cur = heap(bad[i], strlen(bad[i]), &k);
		if (cpm_sip_multipart_next(&cur, bnd, &p) >= 0)
			fail_msg("accepted '%s'", bad[i]);
		free(k);
	}
	/* "--b1junk" is not a delimiter: preamble, then the close: no parts */
	cur = HEAP("--b1junk\r\n\r\nx\r\n--b1--", &k);
	assert_int_equal(cpm_sip_multipart_next(&cur, bnd, &p), 0);
	free(k);
	cur = HEAP("--b1--", &k);
	assert_true(cpm_sip_multipart_next(&cur, CPM_STR(""), &p) < 0);
	free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auth_credentials),
		cmocka_unit_test(test_ctype),
		cmocka_unit_test(test_multipart),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
