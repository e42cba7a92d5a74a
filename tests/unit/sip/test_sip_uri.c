/* sip: URIs, AORs, URI equality, parameters, quoted strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sip/sip.h"

/* parse from an exact-size heap copy: ASan catches over-reads */
static int uri(const char *s, struct cpm_sip_uri *u, char **keep)
{
	size_t n = strlen(s);
	char *c = malloc(n ? n : 1);
	memcpy(c, s, n);
	*keep = c;
	return cpm_sip_uri_parse((struct cpm_str){ c, n }, u);
}

#define EQ(slice, lit) assert_true(cpm_str_eq_cstr((slice), (lit)))

static void test_uri_sip(void **state)
{
	(void)state;
	struct cpm_sip_uri u;
	char *k;
	assert_int_equal(uri("sip:alice:secret@Example.COM:5070;transport=tcp;lr;maddr=10.0.0.1"
			     "?subject=hi&priority=urgent",
			     &u, &k),
			 0);
	assert_int_equal(u.scheme, CPM_SIP_SCHEME_SIP);
	EQ(u.scheme_s, "sip");
	EQ(u.user, "alice");
	EQ(u.password, "secret");
	EQ(u.host, "Example.COM");
	assert_true(u.has_port);
	assert_int_equal(u.port, 5070);
	EQ(u.params, ";transport=tcp;lr;maddr=10.0.0.1");
	EQ(u.headers, "subject=hi&priority=urgent");
	EQ(u.transport, "tcp");
	EQ(u.maddr, "10.0.0.1");
	assert_true(u.lr);
	assert_int_equal(u.user_param.len, 0);
	free(k);

	assert_int_equal(uri("SIPS:example.com", &u, &k), 0);
	assert_int_equal(u.scheme, CPM_SIP_SCHEME_SIPS);
	assert_int_equal(u.user.len, 0);
	EQ(u.host, "example.com");
	assert_false(u.has_port);
	assert_false(u.lr);
	free(k);

	/* RFC 4475 §3.1.1.9 semiuri: ';' belongs to the user part */
	assert_int_equal(uri("sip:user;par=u%40example.net@example.com", &u, &k), 0);
	EQ(u.user, "user;par=u%40example.net");
	EQ(u.host, "example.com");
	assert_int_equal(u.params.len, 0);
	free(k);

	/* RFC 4475 §3.1.1.2 intmeth R-URI */
	assert_int_equal(uri("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,"
			     "weird!*pas$wo~d_too.(doesn't-it)@example.com",
			     &u, &k),
			 0);
	EQ(u.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
	EQ(u.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
	free(k);

	assert_int_equal(uri("sip:+1-212-555-1212@gw.example.com;user=phone", &u, &k), 0);
	EQ(u.user_param, "phone");
	free(k);
}

static void test_uri_ipv6(void **state)
{
	(void)state;
	struct cpm_sip_uri u;
	char *k;
	assert_int_equal(uri("sip:[2001:db8::10]", &u, &k), 0);
	EQ(u.host, "[2001:db8::10]");
	assert_true(u.host_is_ipv6);
	assert_false(u.has_port);
	free(k);
	assert_int_equal(uri("sip:user@[2001:db8::10]:5070;lr", &u, &k), 0);
	EQ(u.host, "[2001:db8::10]");
	assert_int_equal(u.port, 5070);
	assert_true(u.lr);
	free(k);
	/* RFC 5118 §4.3: well-formed, the 5070 is an address group */
	assert_int_equal(uri("sip:[2001:db8::10:5070]", &u, &k), 0);
	assert_false(u.has_port);
	free(k);
	const char *good[] = { "sip:[::1]", "sip:[::]", "sip:[::ffff:192.0.2.10]:19823",
			       "sip:[2001:db8::192.0.2.1]", "sip:[1:2:3:4:5:6:7:8]",
			       "sip:[fe80::1:2]",
			       /* RFC 5118 §4.10: the ABNF's 3-colon form is tolerated */
			       "sip:[2001:db8:::192.0.2.1]" };
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		if (uri(good[i], &u, &k) != 0)
			fail_msg("rejected %s", good[i]);
		free(k);
	}
	const char *bad[] = { "sip:2001:db8::10",	 "sip:[2001:db8::::192.0.2.1]",
			      "sip:[2001:db8::10",	 "sip:[1:2:3:4:5:6:7:8:9]",
			      "sip:[1::2::3]",		 "sip:[12345::1]",
			      "sip:[::1]:",		 "sip:[::1]:99999",
			      "sip:[]",			 "sip:[:1]",
			      "sip:[1:]",		 "sip:[::256.1.1.1]",
			      "sip:[g::1]",		 "sip:[1:2:3:4:5:6:7::8:9]" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (uri(bad[i], &u, &k) != CPM_EPARSE)
			fail_msg("accepted %s", bad[i]);
		free(k);
	}
}

static void test_uri_tel_other_bad(void **state)
{
	(void)state;
	struct cpm_sip_uri u;
	char *k;
	assert_int_equal(uri("tel:+1-201-555-0123;phone-context=example.com", &u, &k), 0);
	assert_int_equal(u.scheme, CPM_SIP_SCHEME_TEL);
	EQ(u.user, "+1-201-555-0123");
	EQ(u.params, ";phone-context=example.com");
	free(k);
	assert_int_equal(uri("nobodyKnowsThisScheme:totallyopaquecontent", &u, &k),
			 CPM_ESCHEME);
	EQ(u.scheme_s, "nobodyKnowsThisScheme");
	EQ(u.whole, "nobodyKnowsThisScheme:totallyopaquecontent");
	free(k);
	assert_int_equal(uri("soap.beep://192.0.2.103:3002", &u, &k), CPM_ESCHEME);
	free(k);
	const char *bad[] = { "",
			      "sip:",
			      "sip:@example.com",
			      "sip:user@",
			      "sip:user@host:",
			      "sip:user@host:0x10",
			      "sip:us er@host",
			      "<sip:user@host>",
			      "sip:user@host>",
			      "sip:user%2@host",
			      "sip:user%ZZ@host",
			      "sip:user@host;a=%G0",
			      "sip:user@ho~st",
			      "sip:user@.host",
			      "sip:user@host?x=<y>",
			      "1sip:host",
			      "sip",
			      "tel:",
			      "tel:;x=1",
			      "sip:user@host:123456",
			      "sip:user@host:65536",
			      "sip:a@b@c",
			      /* fuzz regression: empty pvalue made uri_eq fail */
			      "sip:alice@client.example.com;transport=udp;received=",
			      "sip:h;;lr",
			      "sip:h;",
			      "sip:h;=x",
			      "tel:+1;x=" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (uri(bad[i], &u, &k) != CPM_EPARSE)
			fail_msg("accepted '%s'", bad[i]);
		free(k);
	}
	assert_int_equal(uri("sip:user@host:65535", &u, &k), 0);
	assert_int_equal(u.port, 65535);
	free(k);
}

static void test_uri_aor(void **state)
{
	(void)state;
	struct cpm_sip_uri u;
	char *k, out[128];
	/* RFC 4475 §3.1.1.4 escnull: %00 stays, never truncates */
	assert_int_equal(uri("sip:null-%00-null@Example.COM:5060;transport=udp", &u, &k), 0);
	assert_int_equal(cpm_sip_uri_aor(&u, out, sizeof out), 25);
	assert_string_equal(out, "null-%00-null@example.com");
	free(k);
	/* unreserved escapes are decoded, others upper-cased */
	assert_int_equal(uri("sip:%61lice%2a%3a%3A@H", &u, &k), 0);
	assert_int_equal(cpm_sip_uri_aor(&u, out, sizeof out), 14);
	assert_string_equal(out, "alice*%3A%3A@h");
	free(k);
	/* RFC 4475 §3.1.1.3 esc01 */
	assert_int_equal(uri("sip:sips%3Auser%40example.com@example.net", &u, &k), 0);
	cpm_sip_uri_aor(&u, out, sizeof out);
	assert_string_equal(out, "sips%3Auser%40example.com@example.net");
	free(k);
	assert_int_equal(uri("sip:example.com", &u, &k), 0);
	assert_int_equal(cpm_sip_uri_aor(&u, out, sizeof out), 11);
	assert_string_equal(out, "example.com");
	assert_int_equal(cpm_sip_uri_aor(&u, out, 11), CPM_ETOOBIG);
	assert_int_equal(cpm_sip_uri_aor(&u, out, 12), 11);
	free(k);
	assert_int_equal(uri("tel:+123", &u, &k), 0);
	assert_int_equal(cpm_sip_uri_aor(&u, out, sizeof out), 4);
	assert_string_equal(out, "+123");
	free(k);
}

static bool ueq(const char *a, const char *b)
{
	struct cpm_sip_uri ua, ub;
	char *ka, *kb;
	assert_int_equal(uri(a, &ua, &ka), 0);
	assert_int_equal(uri(b, &ub, &kb), 0);
	bool r = cpm_sip_uri_eq(&ua, &ub);
	assert_int_equal(cpm_sip_uri_eq(&ub, &ua), r);
	free(ka);
	free(kb);
	return r;
}

static void test_uri_eq(void **state)
{
	(void)state;
	/* RFC 3261 §19.1.4 examples */
	assert_true(ueq("sip:%61lice@atlanta.com;transport=TCP",
			"sip:alice@AtLanTa.CoM;Transport=tcp"));
	assert_true(ueq("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"));
	assert_true(ueq("sip:carol@chicago.com;security=on", "sip:carol@chicago.com"));
	assert_true(ueq("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
			"sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"));
	assert_false(ueq("SIP:ALICE@AtLanTa.CoM;Transport=udp",
			 "sip:alice@AtLanTa.CoM;Transport=UDP"));
	assert_false(ueq("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"));
	assert_false(ueq("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"));
	assert_false(ueq("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"));
	assert_false(ueq("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;newparam=6"));
	assert_false(ueq("sip:a@h", "sips:a@h"));
	assert_false(ueq("sip:a:x@h", "sip:a:y@h"));
	/* fuzz regressions: a URI always equals itself, whatever the length
	 * of its parameter names (RFC 4475 longreq) */
	assert_true(ueq("sip:user@example.com:6000;unknownparam1=verylonglonglonglonglong"
			"longlonglonglonglonglonglonglonglonglonglonglonglonglonglongvalue;"
			"longparamnamenamenamenamenamenamenamenamenamenamenamenamenamenamename"
			"namenamenamename=shortvalue;verylonglonglonglonglonglonglonglonglong"
			"longlonglonglonglonglonglonglongParameterNameWithNoValue",
			"sip:user@example.com:6000;unknownparam1=verylonglonglonglonglong"
			"longlonglonglonglonglonglonglonglonglonglonglonglonglonglongvalue;"
			"longparamnamenamenamenamenamenamenamenamenamenamenamenamenamenamename"
			"namenamenamename=shortvalue;verylonglonglonglonglonglonglonglonglong"
			"longlonglonglonglonglonglonglongParameterNameWithNoValue"));
	assert_true(ueq("sip:h;a[1]:/&+$=%20x", "sip:h;A[1]:/&+$=%20X"));
	/* repeated names compare occurrence by occurrence */
	assert_true(ueq("sip:211111948@195.37.77.101;r2=on;ftag=e4977.101;transport=tcp;"
			"r2=on;ftag=e495220a31344eb39a6bf44ee3b01303;lr=on",
			"sip:211111948@195.37.77.101;r2=on;ftag=e4977.101;transport=tcp;"
			"r2=on;ftag=e495220a31344eb39a6bf44ee3b01303;lr=on"));
	assert_false(ueq("sip:h;x=1;x=2", "sip:h;x=1;x=3"));
}

static void test_param_find(void **state)
{
	(void)state;
	struct cpm_str v;
	struct cpm_str p = CPM_STR(";a=b;LR; c = \"q;,x\" ;d");
	assert_true(cpm_sip_param_find(p, "a", &v));
	EQ(v, "b");
	assert_true(cpm_sip_param_find(p, "lr", &v));
	assert_int_equal(v.len, 0);
	assert_true(cpm_sip_param_find(p, "C", &v));
	EQ(v, "\"q;,x\"");
	EQ(cpm_sip_unquote(v), "q;,x");
	assert_true(cpm_sip_param_find(p, "d", NULL));
	assert_false(cpm_sip_param_find(p, "e", &v));
	assert_false(cpm_sip_param_find(p, "", &v));
	/* leading ';' optional */
	assert_true(cpm_sip_param_find(CPM_STR("x=1;y=2"), "y", &v));
	EQ(v, "2");
	assert_false(cpm_sip_param_find(CPM_STR_NULL, "y", &v));
	assert_false(cpm_sip_param_find(CPM_STR(";x=\"unterminated"), "x", &v));
	assert_false(cpm_sip_param_find(CPM_STR(";x="), "x", &v));
	assert_true(cpm_sip_param_find(CPM_STR(";;x=1"), "x", &v));
	/* unquote */
	EQ(cpm_sip_unquote(CPM_STR("abc")), "abc");
	EQ(cpm_sip_unquote(CPM_STR("\"\"")), "");
	EQ(cpm_sip_unquote(CPM_STR("\"")), "\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uri_sip),
		cmocka_unit_test(test_uri_ipv6),
		cmocka_unit_test(test_uri_tel_other_bad),
		cmocka_unit_test(test_uri_aor),
		cmocka_unit_test(test_uri_eq),
		cmocka_unit_test(test_param_find),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
