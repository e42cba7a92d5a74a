/* sip: name-addr/addr-spec lists, Via, token lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sip/sip.h"

#define EQ(slice, lit) assert_true(cpm_str_eq_cstr((slice), (lit)))

static struct cpm_str heap(const char *s, char **keep)
{
	size_t n = strlen(s);
	char *c = malloc(n ? n : 1);
	memcpy(c, s, n);
	*keep = c;
	return (struct cpm_str){ c, n };
}

static void test_addr_forms(void **state)
{
	(void)state;
	struct cpm_sip_addr a;
	char *k;
	assert_int_equal(cpm_sip_addr_parse(heap("\"Bob \\\"B\\\"\" <sip:bob@b.com;lr>;tag=x;q=0.5", &k), &a), 0);
	EQ(a.display, "\"Bob \\\"B\\\"\"");
	EQ(a.uri, "sip:bob@b.com;lr");
	EQ(a.params, ";tag=x;q=0.5");
	EQ(a.tag, "x");
	assert_false(a.star);
	EQ(a.whole, "\"Bob \\\"B\\\"\" <sip:bob@b.com;lr>;tag=x;q=0.5");
	free(k);

	/* addr-spec: the params belong to the header (RFC 3261 §20) */
	assert_int_equal(cpm_sip_addr_parse(heap("sip:bob@b.com;tag=1;lr", &k), &a), 0);
	EQ(a.uri, "sip:bob@b.com");
	EQ(a.params, ";tag=1;lr");
	EQ(a.tag, "1");
	assert_int_equal(a.display.len, 0);
	free(k);

	/* RFC 4475 wsinv To / From */
	assert_int_equal(cpm_sip_addr_parse(heap("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n", &k), &a), 0);
	EQ(a.uri, "sip:vivekg@chair-dnrc.example.com");
	EQ(a.tag, "1918181833n");
	free(k);
	assert_int_equal(cpm_sip_addr_parse(heap("\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8", &k), &a), 0);
	EQ(a.display, "\"J Rosenberg \\\\\\\"\"");
	EQ(a.tag, "98asjd8");
	free(k);

	/* token display names, no space before '<' (lwsdisp) */
	assert_int_equal(cpm_sip_addr_parse(heap("caller<sip:caller@example.com>;tag=323", &k), &a), 0);
	EQ(a.display, "caller");
	free(k);
	assert_int_equal(cpm_sip_addr_parse(heap("token1~` token2'+_ <sip:m@example.com>", &k), &a), 0);
	EQ(a.display, "token1~` token2'+_");
	free(k);
	assert_int_equal(cpm_sip_addr_parse(heap("<tel:+1234>", &k), &a), 0);
	EQ(a.uri, "tel:+1234");
	free(k);
	assert_int_equal(cpm_sip_addr_parse(heap("<urn:service:sos>", &k), &a), 0);
	free(k);
	assert_int_equal(cpm_sip_addr_parse(heap("*", &k), &a), 0);
	assert_true(a.star);
	free(k);
	/* header escapes inside <> are fine (regescrt) */
	assert_int_equal(cpm_sip_addr_parse(heap("<sip:user@example.com?Route=%3Csip:sip.example.com%3E>", &k), &a), 0);
	free(k);

	const char *bad[] = {
		"",
		"   ",
		"\"Mr. J. User <sip:j.user@example.com>", /* quotbal */
		"\"Watson, Thomas\" < sip:t.watson@example.org >", /* badaspec */
		"Bell, Alexander <sip:a.g.bell@example.com>;tag=43", /* baddn */
		"sip:user@example.com?Route=%3Csip:sip.example.com%3E", /* regbadct */
		"<sip:a@b",
		"<sip:a@b> junk",
		"<sip:a@b>;",
		"<sip:a@b>;tag=",
		"<sip:a@b>;;tag=1",
		"<sip:a@b>, <sip:c@d>",
		"\"x\" sip:a@b",
		"<>",
		"* ;x=1",
		"<sip:a@[::1>",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (cpm_sip_addr_parse(heap(bad[i], &k), &a) != CPM_EPARSE)
			fail_msg("accepted '%s'", bad[i]);
		free(k);
	}
	assert_int_equal(cpm_sip_addr_parse(CPM_STR_NULL, &a), CPM_EPARSE);
}

static void test_addr_list(void **state)
{
	(void)state;
	struct cpm_sip_addr a;
	char *k;
	struct cpm_str cur = heap(" \"A, B\" <sip:a@x;lr>;expires=60 ,sip:b@y;q=0.1,\r\n <sip:c,d@z?h=1>, *", &k);
	assert_int_equal(cpm_sip_addr_next(&cur, &a), 1);
	EQ(a.display, "\"A, B\"");
	EQ(a.uri, "sip:a@x;lr");
	EQ(a.params, ";expires=60");
	assert_int_equal(cpm_sip_addr_next(&cur, &a), 1);
	EQ(a.uri, "sip:b@y");
	EQ(a.params, ";q=0.1");
	assert_int_equal(cpm_sip_addr_next(&cur, &a), 1);
	EQ(a.uri, "sip:c,d@z?h=1");
	assert_int_equal(cpm_sip_addr_next(&cur, &a), 1);
	assert_true(a.star);
	assert_int_equal(cpm_sip_addr_next(&cur, &a), 0);
	assert_int_equal(cpm_sip_addr_next(&cur, &a), 0);
	free(k);

	cur = heap("<sip:a@x>,,<sip:b@y>", &k);
	assert_int_equal(cpm_sip_addr_next(&cur, &a), 1);
	assert_true(cpm_sip_addr_next(&cur, &a) < 0);
	free(k);
	/* badinv01 Contact */
	cur = heap("\"Joe\" <sip:joe@example.org>;;;;", &k);
	assert_true(cpm_sip_addr_next(&cur, &a) < 0);
	free(k);
	cur = CPM_STR_NULL;
	assert_int_equal(cpm_sip_addr_next(&cur, &a), 0);
}

static void test_via(void **state)
{
	(void)state;
	struct cpm_sip_via v;
	char *k;
	/* RFC 4475 wsinv: SWS around '/', folding, params with LWS */
	struct cpm_str cur = heap("SIP  / 2.0  / TCP     spindle.example.com   ;\r\n"
				  "  branch  =   z9hG4bK9ikj8  ,\r\n"
				  " SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n"
				  " z9hG4bK30239", &k);
	assert_int_equal(cpm_sip_via_next(&cur, &v), 1);
	EQ(v.transport, "TCP");
	EQ(v.host, "spindle.example.com");
	assert_false(v.has_port);
	EQ(v.branch, "z9hG4bK9ikj8");
	assert_int_equal(cpm_sip_via_next(&cur, &v), 1);
	EQ(v.transport, "UDP");
	EQ(v.host, "192.168.255.111");
	EQ(v.branch, "z9hG4bK30239");
	assert_int_equal(cpm_sip_via_next(&cur, &v), 0);
	free(k);

	cur = heap("SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3-111;received=[2001:db8::9:255];rport=5061", &k);
	assert_int_equal(cpm_sip_via_next(&cur, &v), 1);
	EQ(v.host, "[2001:db8::9:1]");
	assert_true(v.has_port);
	assert_int_equal(v.port, 6050);
	EQ(v.received, "[2001:db8::9:255]");
	assert_true(v.has_rport);
	EQ(v.rport, "5061");
	EQ(v.params, ";branch=z9hG4bKas3-111;received=[2001:db8::9:255];rport=5061");
	free(k);
	/* RFC 5118 §4.5: received without brackets */
	cur = heap("SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3", &k);
	assert_int_equal(cpm_sip_via_next(&cur, &v), 1);
	EQ(v.received, "2001:db8::9:255");
	assert_false(v.has_rport);
	free(k);

	const char *bad[] = {
		"SIP/2.0/UDP",
		"SIP/2.0 UDP host",
		"SIP/2.0/UDPhost",
		"SIP/2.0/UDP host:",
		"SIP/2.0/UDP host;",
		"SIP/2.0/UDP 192.0.2.15;;,;,,", /* badinv01 */
		"SIP/2.0/UDP host junk",
		"SIP/2.0/UDP [2001:db8::1",
		"SIP/2.0/UDP host;branch=\"x",
		"/2.0/UDP host",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cur = heap(bad[i], &k);
		if (cpm_sip_via_next(&cur, &v) >= 0)
			fail_msg("accepted '%s'", bad[i]);
		free(k);
	}
}

static void test_list(void **state)
{
	(void)state;
	struct cpm_str it;
	char *k;
	struct cpm_str cur = heap("application/sdp, application/pkcs7-mime,\r\n"
				  "        multipart/mixed,,\"a,b\" ;q=1, text/plain;charset=utf-8 ,", &k);
	const char *want[] = { "application/sdp", "application/pkcs7-mime", "multipart/mixed",
			       "\"a,b\" ;q=1", "text/plain;charset=utf-8" };
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(cpm_sip_list_next(&cur, &it), 1);
		EQ(it, want[i]);
	}
	assert_int_equal(cpm_sip_list_next(&cur, &it), 0);
	free(k);
	struct cpm_str v = CPM_STR("timer, 100rel ,Path, text/plain;charset=x");
	assert_true(cpm_sip_list_has(v, "path"));
	assert_true(cpm_sip_list_has(v, "100rel"));
	assert_true(cpm_sip_list_has(v, "TEXT/PLAIN"));
	assert_false(cpm_sip_list_has(v, "gruu"));
	assert_false(cpm_sip_list_has(v, "time"));
	assert_false(cpm_sip_list_has(CPM_STR(""), "x"));
	cur = CPM_STR_NULL;
	assert_int_equal(cpm_sip_list_next(&cur, &it), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_forms),
		cmocka_unit_test(test_addr_list),
		cmocka_unit_test(test_via),
		cmocka_unit_test(test_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
