/* msrp: URIs (RFC 4975 §6, §9), the comparison rules of §6.1, paths, and
 * the header value helpers (Byte-Range, Status, idents, digest). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msrp/msrp.h"

static struct cpm_str S(const char *s)
{
	return cpm_str_from_cstr(s);
}

static void test_uri_parse(void **state)
{
	(void)state;
	struct cpm_msrp_uri u;
	assert_int_equal(cpm_msrp_uri_parse(S("msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp"),
					    &u), 0);
	assert_false(u.secure);
	assert_true(cpm_str_eq_cstr(u.host, "biloxi.example.com"));
	assert_true(u.has_port);
	assert_int_equal(u.port, 12763);
	assert_true(cpm_str_eq_cstr(u.session_id, "kjhd37s2s20w2a"));
	assert_true(cpm_str_eq_cstr(u.transport, "tcp"));
	assert_int_equal(u.params.len, 0);
	assert_int_equal(u.userinfo.len, 0);

	assert_int_equal(cpm_msrp_uri_parse(S("MSRPS://alice@intra.example.com;tcp"), &u), 0);
	assert_true(u.secure);
	assert_true(cpm_str_eq_cstr(u.userinfo, "alice"));
	assert_true(cpm_str_eq_cstr(u.host, "intra.example.com"));
	assert_false(u.has_port);
	assert_int_equal(u.session_id.len, 0);

	assert_int_equal(cpm_msrp_uri_parse(S("msrp://[2001:db8::1]:2855/a+b=c/d_e~f.g-h;TCP;x=y;z"),
					    &u), 0);
	assert_true(cpm_str_eq_cstr(u.host, "[2001:db8::1]"));
	assert_int_equal(u.port, 2855);
	assert_true(cpm_str_eq_cstr(u.session_id, "a+b=c/d_e~f.g-h"));
	assert_true(cpm_str_eq_cstr(u.transport, "TCP"));
	assert_true(cpm_str_eq_cstr(u.params, ";x=y;z"));

	assert_int_equal(cpm_msrp_uri_parse(S("msrp://192.0.2.1:0/s;ws"), &u), 0);
	assert_int_equal(cpm_msrp_uri_parse(S("msrp://a%41b;tcp"), &u), 0);
	assert_int_equal(cpm_msrp_uri_parse(S("msrp://us%20er:pw@h;tcp"), &u), 0);

	const char *bad[] = {
		"",
		"sip:alice@example.com",
		"msrp:/h/s;tcp",
		"msrp://h/s",           /* no transport */
		"msrp://h/s;",          /* empty transport */
		"msrp://h/s;t-c",       /* transport = 1*ALPHANUM */
		"msrp:///s;tcp",        /* empty host */
		"msrp://h:/s;tcp",      /* empty port */
		"msrp://h:65536/s;tcp",
		"msrp://h:12a/s;tcp",
		"msrp://h/;tcp",        /* empty session-id */
		"msrp://h/s?x;tcp",
		"msrp://h/s;tcp;",      /* empty parameter */
		"msrp://h/s;tcp;=x",
		"msrp://h/s;tcp;x=",
		"msrp://h/s;tcp x",
		"msrp://[2001:db8::1/s;tcp",
		"msrp://[2001:db8::g]/s;tcp",
		"msrp://[]/s;tcp",
		"msrp://h%4/s;tcp",
		"msrp://h%zz;tcp",
		"msrp://a b;tcp",
		"msrp://u<@h;tcp",
		"msrp://u%4@h;tcp",
		"msrp://h]:1;tcp",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (cpm_msrp_uri_parse(S(bad[i]), &u) != CPM_EPARSE)
			fail_msg("accepted %s", bad[i]);
	assert_int_equal(cpm_msrp_uri_parse(CPM_STR_NULL, &u), CPM_EPARSE);
}

static bool eq(const char *a, const char *b)
{
	struct cpm_msrp_uri ua, ub;
	assert_int_equal(cpm_msrp_uri_parse(S(a), &ua), 0);
	assert_int_equal(cpm_msrp_uri_parse(S(b), &ub), 0);
	bool r = cpm_msrp_uri_eq(&ua, &ub);
	assert_true(r == cpm_msrp_uri_eq(&ub, &ua));
	return r;
}

/* RFC 4975 §6.1 */
static void test_uri_eq(void **state)
{
	(void)state;
	assert_true(eq("msrp://h.example.com:1/abc;tcp", "msrp://h.example.com:1/abc;tcp"));
	assert_true(eq("MSRP://H.Example.COM:1/abc;tcp", "msrp://h.example.com:1/abc;TCP"));
	assert_true(eq("msrp://%68.example.com:1/abc;tcp", "msrp://h.example.com:1/abc;tcp"));
	assert_true(eq("msrp://bob@h:1/abc;tcp", "msrp://alice@h:1/abc;tcp"));
	assert_true(eq("msrp://h:1/abc;tcp;a=b", "msrp://h:1/abc;tcp"));
	assert_true(eq("msrp://[2001:DB8:0::1]:9/s;tcp", "msrp://[2001:db8::1]:9/s;tcp"));
	assert_true(eq("msrp://h/s;tcp", "msrp://h/s;tcp"));
	assert_false(eq("msrps://h:1/abc;tcp", "msrp://h:1/abc;tcp"));
	assert_false(eq("msrp://h:1/abc;tcp", "msrp://h:2/abc;tcp"));
	assert_false(eq("msrp://h:2855/abc;tcp", "msrp://h/abc;tcp"));
	assert_false(eq("msrp://h:1/abc;tcp", "msrp://h:1/ABC;tcp"));
	assert_false(eq("msrp://h:1/abc;tcp", "msrp://h:1;tcp"));
	assert_false(eq("msrp://h:1/abc;tcp", "msrp://h:1/abc;ws"));
	assert_false(eq("msrp://h:1/abc;tcp", "msrp://g:1/abc;tcp"));
	assert_false(eq("msrp://[2001:db8::1]:9/s;tcp", "msrp://[2001:db8::2]:9/s;tcp"));
	/* %2F is reserved: it is not decoded, so it never equals a '/' */
	assert_false(eq("msrp://a%2Fb:1/s;tcp", "msrp://a%2fc:1/s;tcp"));
	assert_true(eq("msrp://a%2Fb:1/s;tcp", "msrp://A%2fB:1/s;tcp"));
}

static void test_paths(void **state)
{
	(void)state;
	struct cpm_str cur = S("msrps://relay.example.com:2855/hjdhfha;tcp  "
			       "msrps://bob.example.com:8888/9di4ea;tcp ");
	struct cpm_msrp_uri u;
	assert_int_equal(cpm_msrp_path_next(&cur, &u), 1);
	assert_true(cpm_str_eq_cstr(u.host, "relay.example.com"));
	assert_int_equal(cpm_msrp_path_next(&cur, &u), 1);
	assert_true(cpm_str_eq_cstr(u.session_id, "9di4ea"));
	assert_int_equal(cpm_msrp_path_next(&cur, &u), 0);
	cur = S("msrp://a/b;tcp junk");
	assert_int_equal(cpm_msrp_path_next(&cur, &u), 1);
	assert_int_equal(cpm_msrp_path_next(&cur, &u), CPM_EPARSE);
	assert_true(cpm_str_eq_cstr(cpm_msrp_path_first(S("  msrp://x/y;tcp msrp://z/w;tcp")),
				    "msrp://x/y;tcp"));
	assert_int_equal(cpm_msrp_path_first(S("   ")).len, 0);
	assert_int_equal(cpm_msrp_path_first(CPM_STR_NULL).len, 0);
}

static void test_values(void **state)
{
	(void)state;
	struct cpm_msrp_range r;
	assert_int_equal(cpm_msrp_range_parse(S("1-25/25"), &r), 0);
	assert_int_equal(r.start, 1);
	assert_int_equal(r.end, 25);
	assert_int_equal(cpm_msrp_range_parse(S("5-*/*"), &r), 0);
	assert_true(r.end_star && r.total_star);
	assert_int_equal(cpm_msrp_range_parse(S("1-10/*"), &r), 0);
	assert_int_equal(cpm_msrp_range_parse(S("1-*/100"), &r), 0);
	assert_int_equal(cpm_msrp_range_parse(S("11-10/10"), &r), 0); /* empty chunk at the end */
	const char *bad[] = { "", "-1/1", "1-/1", "1-1/", "1-1/1 ", " 1-1/1", "1-1-1/1",
			      "0-0/0", "x-1/1", "1-2/1", "3-1/5", "1-*/*/", "1-**/*" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (cpm_msrp_range_parse(S(bad[i]), &r) != CPM_EPARSE)
			fail_msg("range accepted: %s", bad[i]);

	struct cpm_msrp_status st;
	assert_int_equal(cpm_msrp_status_parse(S("000 200 OK"), &st), 0);
	assert_int_equal(st.code, 200);
	assert_int_equal(cpm_msrp_status_parse(S("000 413"), &st), 0);
	assert_int_equal(st.reason.len, 0);
	assert_int_equal(cpm_msrp_status_parse(S("123 481 Session gone \xc3\xa9"), &st), 0);
	assert_int_equal(st.ns, 123);
	const char *bads[] = { "000 200OK", "000  200", "00 200", "000 2000", "000 099",
			       "000 200 a\tb\x01", "a00 200" };
	for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++)
		if (cpm_msrp_status_parse(S(bads[i]), &st) != CPM_EPARSE)
			fail_msg("status accepted: %s", bads[i]);

	assert_true(cpm_msrp_ident_valid(S("a786hjs2")));
	assert_true(cpm_msrp_ident_valid(S("1.-+")));
	assert_true(cpm_msrp_ident_valid(S("abcdefghijklmnopqrstuvwxyz012345")));
	assert_false(cpm_msrp_ident_valid(S("abcdefghijklmnopqrstuvwxyz0123456")));
	assert_false(cpm_msrp_ident_valid(S("abc")));
	assert_false(cpm_msrp_ident_valid(S(".abc")));
	assert_false(cpm_msrp_ident_valid(S("ab cd")));
	assert_false(cpm_msrp_ident_valid(S("ab/cd")));

	assert_int_equal(cpm_msrp_hdr_id_parse(S("to-path")), CPM_MSRP_H_TO_PATH);
	assert_int_equal(cpm_msrp_hdr_id_parse(S("BYTE-RANGE")), CPM_MSRP_H_BYTE_RANGE);
	assert_int_equal(cpm_msrp_hdr_id_parse(S("X-Foo")), CPM_MSRP_H_OTHER);
	assert_string_equal(cpm_msrp_hdr_name(CPM_MSRP_H_WWW_AUTHENTICATE), "WWW-Authenticate");
	assert_string_equal(cpm_msrp_hdr_name(CPM_MSRP_H__COUNT), "");
	for (int i = 1; i < CPM_MSRP_H__COUNT; i++)
		assert_int_equal(cpm_msrp_hdr_id_parse(S(cpm_msrp_hdr_name(i))), i);

	struct cpm_msrp_auth a;
	assert_int_equal(cpm_msrp_auth_parse(S("Digest realm=\"r\\\"x\", stale=TRUE,algorithm=MD5"),
					     &a), 0);
	assert_true(cpm_str_eq_cstr(a.realm, "r\\\"x"));
	assert_true(a.stale);
	assert_true(cpm_str_eq_cstr(a.algorithm, "MD5"));
	assert_int_equal(cpm_msrp_auth_parse(S("Digest"), &a), 0);
	assert_true(cpm_str_eq_cstr(a.scheme, "Digest"));
	const char *bada[] = { "", "Digest realm", "Digest realm=", "Digest realm=\"x",
			       "Digest realm=x,", "Digest realm=x y=z", "Digest,realm=x",
			       "Digest realm=x,,y=z", "=x" };
	for (size_t i = 0; i < sizeof bada / sizeof bada[0]; i++)
		if (cpm_msrp_auth_parse(S(bada[i]), &a) != CPM_EPARSE)
			fail_msg("auth accepted: %s", bada[i]);
	struct cpm_str cur = S(" a=1 , b = \"2\""), n, v;
	assert_int_equal(cpm_msrp_auth_param_next(&cur, &n, &v), 1);
	assert_true(cpm_str_eq_cstr(n, "a") && cpm_str_eq_cstr(v, "1"));
	assert_int_equal(cpm_msrp_auth_param_next(&cur, &n, &v), 1);
	assert_true(cpm_str_eq_cstr(n, "b") && cpm_str_eq_cstr(v, "2"));
	assert_int_equal(cpm_msrp_auth_param_next(&cur, &n, &v), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uri_parse),
		cmocka_unit_test(test_uri_eq),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
