/* im: profile and class strings (`cpmd user set`, [class.NAME]): values,
 * precise errors, the profile left unchanged on error, accepts matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "im/im.h"

static void test_defaults(void **state)
{
	(void)state;
	struct cpm_im_profile p;
	struct cpm_im_class c;
	struct cpm_im_limits l;
	cpm_im_profile_default(&p);
	cpm_im_class_default(&c);
	cpm_im_limits_default(&l);
	assert_int_equal(p.mode, CPM_IM_SF_YES); /* issue §3 */
	assert_int_equal(p.naccepts, 0);
	assert_string_equal(p.class_name, "default");
	assert_true(c.storage);
	assert_int_equal(c.max_messages, 1000);
	assert_int_equal(c.max_bytes, 10u << 20);
	assert_int_equal(c.max_lifetime, 0);
	assert_int_equal(l.max_inline_size, 1300);
	assert_int_equal(l.default_lifetime, 7 * 86400);
	assert_int_equal(l.quota_bytes_status, 507);
}

static void test_store_and_forward(void **state)
{
	(void)state;
	struct cpm_im_profile p;
	char err[CPM_IM_ERR_MAX];
	cpm_im_profile_default(&p);
	/* R111 words, any case (the seed writes NO | YES | NOTIFY) */
	assert_int_equal(cpm_im_profile_set(&p, "store-and-forward=notify", err), 0);
	assert_int_equal(p.mode, CPM_IM_SF_NOTIFY);
	assert_int_equal(cpm_im_profile_set(&p, "Store-And-Forward = NO", err), 0);
	assert_int_equal(p.mode, CPM_IM_SF_NO);
	assert_int_equal(cpm_im_profile_set(&p, "store-and-forward=Yes", err), 0);
	assert_int_equal(p.mode, CPM_IM_SF_YES);
	/* forward targets */
	assert_int_equal(cpm_im_profile_set(&p, "store-and-forward=forward:sip:x@y", err), 0);
	assert_int_equal(p.mode, CPM_IM_SF_FORWARD);
	assert_string_equal(p.target, "sip:x@y");
	assert_int_equal(cpm_im_profile_set(&p, "store-and-forward=forward:mailto:a@b", err), 0);
	assert_string_equal(p.target, "mailto:a@b");
	assert_int_equal(cpm_im_profile_set(&p, "store-and-forward=FORWARD: sips:vm@example.com;transport=tls", err), 0);
	assert_string_equal(p.target, "sips:vm@example.com;transport=tls");
	assert_int_equal(cpm_im_profile_set(&p, "store-and-forward=forward:mailto:first.last+im@mail.example.org", err), 0);
	/* back to yes clears the target */
	assert_int_equal(cpm_im_profile_set(&p, "store-and-forward=yes", err), 0);
	assert_string_equal(p.target, "");

	struct {
		const char *kv;
		int rc;
		const char *msg; /* a piece of the error text */
	} bad[] = {
		{ "store-and-forward=maybe", CPM_EINVAL, "\"maybe\" is not no, yes, notify" },
		{ "store-and-forward=", CPM_EINVAL, "is not no, yes" },
		{ "store-and-forward=to e-mail", CPM_EINVAL, "to e-mail" },
		{ "store-and-forward=forward:", CPM_EINVAL, "needs a URI" },
		{ "store-and-forward=forward:tel:+358401234567", CPM_ESCHEME, "\"tel:\"" },
		{ "store-and-forward=forward:http://example.com/", CPM_ESCHEME, "\"http:\"" },
		{ "store-and-forward=forward:bob@example.com", CPM_EPARSE, "no scheme" },
		{ "store-and-forward=forward:sip:", CPM_EPARSE, "malformed SIP URI" },
		{ "store-and-forward=forward:sip:a@b?subject=x", CPM_EPARSE, "?headers" },
		{ "store-and-forward=forward:mailto:bob", CPM_EPARSE, "not local@domain" },
		{ "store-and-forward=forward:mailto:@example.com", CPM_EPARSE, "not local@domain" },
		{ "store-and-forward=forward:mailto:a@", CPM_EPARSE, "not local@domain" },
		{ "store-and-forward=forward:mailto:a@b,c@d", CPM_EPARSE, "no ','" },
		{ "store-and-forward=forward:mailto:a@b?subject=hi", CPM_EPARSE, "no '?'" },
		{ "store-and-forward=forward:mailto:a b@c", CPM_EPARSE, "offset" },
		{ "store-and-forward=forward:mailto:a@.example", CPM_EPARSE, "bad domain" },
		{ "store-and-forward=forward:mailto:a@ex_ample.com", CPM_EPARSE, "bad domain" },
		{ "store-and-forward", CPM_EINVAL, "expected key=value" },
		{ "colour=blue", CPM_EINVAL, "unknown key \"colour\"" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct cpm_im_profile before;
		cpm_im_profile_default(&p);
		assert_int_equal(cpm_im_profile_set(&p, "store-and-forward=notify", NULL), 0);
		before = p;
		err[0] = '\0';
		int rc = cpm_im_profile_set(&p, bad[i].kv, err);
		if (rc != bad[i].rc || !strstr(err, bad[i].msg))
			fail_msg("%s: rc %d err \"%s\"", bad[i].kv, rc, err);
		assert_memory_equal(&p, &before, sizeof p); /* unchanged */
	}
	/* a target too long */
	char kv[600];
	int n = snprintf(kv, sizeof kv, "store-and-forward=forward:sip:");
	memset(kv + n, 'a', 300);
	strcpy(kv + n + 300, "@example.com");
	assert_int_equal(cpm_im_profile_set(&p, kv, err), CPM_ETOOBIG);
	assert_non_null(strstr(err, "longer than"));
	/* NULLs */
	assert_int_equal(cpm_im_profile_set(NULL, "class=a", NULL), CPM_EINVAL);
	assert_int_equal(cpm_im_profile_set(&p, NULL, NULL), CPM_EINVAL);
}

static void test_accepts_parse(void **state)
{
	(void)state;
	struct cpm_im_profile p;
	char err[CPM_IM_ERR_MAX];
	cpm_im_profile_default(&p);
	assert_int_equal(cpm_im_profile_set(&p, "accepts=text/plain,message/*", err), 0);
	assert_int_equal(p.naccepts, 2);
	assert_string_equal(p.accepts[0], "text/plain");
	assert_string_equal(p.accepts[1], "message/*");
	assert_int_equal(cpm_im_profile_set(&p, "accepts= Image/JPEG ; q=0.5 , image/* ,application/vnd.x+xml", err), 0);
	assert_int_equal(p.naccepts, 3);
	assert_string_equal(p.accepts[0], "image/jpeg");
	assert_string_equal(p.accepts[1], "image/*");
	assert_string_equal(p.accepts[2], "application/vnd.x+xml");
	/* any/any in the list: everything, the same profile as the default */
	struct cpm_im_profile d;
	cpm_im_profile_default(&d);
	assert_int_equal(cpm_im_profile_set(&p, "accepts=image/png, */*", err), 0);
	assert_int_equal(p.naccepts, 0);
	assert_memory_equal(&p, &d, sizeof p);

	struct {
		const char *kv;
		int rc;
		const char *msg;
	} bad[] = {
		{ "accepts=jpeg,gif", CPM_EPARSE, "item 1 \"jpeg\" is not type/subtype" },
		{ "accepts=text/plain,gif", CPM_EPARSE, "item 2 \"gif\"" },
		{ "accepts=*/plain", CPM_EPARSE, "item 1" },
		{ "accepts=text/pl*in", CPM_EPARSE, "item 1" },
		{ "accepts=te*t/plain", CPM_EPARSE, "item 1" },
		{ "accepts=/plain", CPM_EPARSE, "item 1" },
		{ "accepts=text/", CPM_EPARSE, "item 1" },
		{ "accepts=text/plain/x", CPM_EPARSE, "item 1" },
		{ "accepts=text/pla in", CPM_EPARSE, "item 1" },
		{ "accepts=", CPM_EINVAL, "empty list" },
		{ "accepts= , ,", CPM_EINVAL, "empty list" },
		{ "accepts=a/1,a/2,a/3,a/4,a/5,a/6,a/7,a/8,a/9,a/10,a/11,a/12,a/13,a/14,a/15,a/16,a/17",
		  CPM_ELIMIT, "more than 16" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct cpm_im_profile before = p;
		err[0] = '\0';
		int rc = cpm_im_profile_set(&p, bad[i].kv, err);
		if (rc != bad[i].rc || !strstr(err, bad[i].msg))
			fail_msg("%s: rc %d err \"%s\"", bad[i].kv, rc, err);
		assert_memory_equal(&p, &before, sizeof p);
	}
	/* exactly 16 is fine */
	assert_int_equal(cpm_im_profile_set(&p, "accepts=a/1,a/2,a/3,a/4,a/5,a/6,a/7,a/8,a/9,"
						"a/10,a/11,a/12,a/13,a/14,a/15,a/16", err), 0);
	assert_int_equal(p.naccepts, 16);
	/* an item too long */
	char kv[400];
	int n = snprintf(kv, sizeof kv, "accepts=application/");
	memset(kv + n, 'x', 200);
	kv[n + 200] = '\0';
	assert_int_equal(cpm_im_profile_set(&p, kv, err), CPM_ETOOBIG);
}

static void test_accepts_match(void **state)
{
	(void)state;
	struct cpm_im_profile p;
	cpm_im_profile_default(&p);
	/* no list: everything */
	assert_true(cpm_im_accepts(&p, CPM_STR("application/x-anything")));
	assert_int_equal(cpm_im_profile_set(&p, "accepts=text/plain,image/*,application/vnd.x+xml", NULL), 0);
	assert_true(cpm_im_accepts(&p, CPM_STR("text/plain")));
	assert_true(cpm_im_accepts(&p, CPM_STR("Text/Plain; charset=utf-8")));
	assert_true(cpm_im_accepts(&p, CPM_STR(" text/plain ")));
	assert_false(cpm_im_accepts(&p, CPM_STR("text/html")));
	assert_true(cpm_im_accepts(&p, CPM_STR("image/jpeg")));
	assert_true(cpm_im_accepts(&p, CPM_STR("IMAGE/gif")));
	assert_false(cpm_im_accepts(&p, CPM_STR("imagex/gif")));
	assert_false(cpm_im_accepts(&p, CPM_STR("imag/gif")));
	assert_true(cpm_im_accepts(&p, CPM_STR("application/vnd.x+xml")));
	assert_false(cpm_im_accepts(&p, CPM_STR("application/vnd.x")));
	assert_false(cpm_im_accepts(&p, CPM_STR("message/cpim")));
	assert_false(cpm_im_accepts(&p, CPM_STR("garbage")));
	assert_false(cpm_im_accepts(&p, CPM_STR("/plain")));
	/* no body: nothing to refuse */
	assert_true(cpm_im_accepts(&p, CPM_STR_NULL));
	assert_true(cpm_im_accepts(&p, CPM_STR("")));
	assert_int_equal(cpm_im_profile_set(&p, "accepts=*/*", NULL), 0);
	assert_true(cpm_im_accepts(&p, CPM_STR("video/mp4")));
	/* the Accept header of a 415 */
	struct cpm_buf b;
	cpm_buf_init(&b, 4096);
	assert_int_equal(cpm_im_accept_header(&p, &b), 0);
	assert_string_equal(b.p, "*/*");
	cpm_buf_reset(&b);
	cpm_im_profile_default(&p);
	assert_int_equal(cpm_im_accept_header(&p, &b), 0);
	assert_string_equal(b.p, "*/*");
	cpm_buf_reset(&b);
	assert_int_equal(cpm_im_profile_set(&p, "accepts=image/jpeg,image/gif", NULL), 0);
	assert_int_equal(cpm_im_accept_header(&p, &b), 0);
	assert_string_equal(b.p, "image/jpeg, image/gif");
	cpm_buf_free(&b);
}

static void test_class_name_and_format(void **state)
{
	(void)state;
	struct cpm_im_profile p, q;
	char err[CPM_IM_ERR_MAX];
	cpm_im_profile_default(&p);
	assert_int_equal(cpm_im_profile_set(&p, "class=premium_2", err), 0);
	assert_string_equal(p.class_name, "premium_2");
	assert_int_equal(cpm_im_profile_set(&p, "class=", err), CPM_EINVAL);
	assert_int_equal(cpm_im_profile_set(&p, "class=gold.plus", err), CPM_EINVAL);
	assert_non_null(strstr(err, "only letters"));
	char kv[200] = "class=";
	memset(kv + 6, 'c', 100);
	kv[106] = '\0';
	assert_int_equal(cpm_im_profile_set(&p, kv, err), CPM_ETOOBIG);
	assert_string_equal(p.class_name, "premium_2");

	/* format, and read it back line by line */
	assert_int_equal(cpm_im_profile_set(&p, "store-and-forward=forward:sip:vm@example.com;lr", err), 0);
	assert_int_equal(cpm_im_profile_set(&p, "accepts=text/*,image/png", err), 0);
	struct cpm_buf b;
	cpm_buf_init(&b, 4096);
	assert_int_equal(cpm_im_profile_format(&p, &b), 0);
	assert_string_equal(b.p, "store-and-forward=forward:sip:vm@example.com;lr\n"
				 "accepts=text/*, image/png\n"
				 "class=premium_2\n");
	cpm_im_profile_default(&q);
	char *save = NULL;
	for (char *line = strtok_r(b.p, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		assert_int_equal(cpm_im_profile_set(&q, line, err), 0);
	assert_memory_equal(&p, &q, sizeof p);
	cpm_buf_free(&b);
}

static void test_class_set(void **state)
{
	(void)state;
	struct cpm_im_class c;
	char err[CPM_IM_ERR_MAX];
	cpm_im_class_default(&c);
	assert_int_equal(cpm_im_class_set(&c, "storage", "no", err), 0);
	assert_false(c.storage);
	assert_int_equal(cpm_im_class_set(&c, "storage", " ON ", err), 0);
	assert_true(c.storage);
	assert_int_equal(cpm_im_class_set(&c, "storage", "0", err), 0);
	assert_false(c.storage);
	assert_int_equal(cpm_im_class_set(&c, "storage", "True", err), 0);
	assert_true(c.storage);
	assert_int_equal(cpm_im_class_set(&c, "max_messages", "250", err), 0);
	assert_int_equal(c.max_messages, 250);
	assert_int_equal(cpm_im_class_set(&c, "max_bytes", "64k", err), 0);
	assert_int_equal(c.max_bytes, 65536);
	assert_int_equal(cpm_im_class_set(&c, "max_bytes", "5M", err), 0);
	assert_int_equal(c.max_bytes, 5u << 20);
	assert_int_equal(cpm_im_class_set(&c, "max_bytes", "2g", err), 0);
	assert_int_equal(c.max_bytes, (uint64_t)2 << 30);
	assert_int_equal(cpm_im_class_set(&c, "max_bytes", "123", err), 0);
	assert_int_equal(c.max_bytes, 123);
	assert_int_equal(cpm_im_class_set(&c, "max_lifetime", "3d", err), 0);
	assert_int_equal(c.max_lifetime, 3 * 86400);
	assert_int_equal(cpm_im_class_set(&c, "max_lifetime", "2w", err), 0);
	assert_int_equal(c.max_lifetime, 14 * 86400);
	assert_int_equal(cpm_im_class_set(&c, "max_lifetime", "90m", err), 0);
	assert_int_equal(c.max_lifetime, 5400);
	assert_int_equal(cpm_im_class_set(&c, "max_lifetime", "12h", err), 0);
	assert_int_equal(c.max_lifetime, 43200);
	assert_int_equal(cpm_im_class_set(&c, "max_lifetime", "45s", err), 0);
	assert_int_equal(c.max_lifetime, 45);
	assert_int_equal(cpm_im_class_set(&c, "max_lifetime", "0", err), 0);
	assert_int_equal(c.max_lifetime, 0);

	struct {
		const char *key, *value;
		int rc;
		const char *msg;
	} bad[] = {
		{ "storage", "maybe", CPM_EINVAL, "not yes or no" },
		{ "max_messages", "10k", CPM_EINVAL, "unknown unit" },
		{ "max_messages", "-1", CPM_EINVAL, "not a number" },
		{ "max_messages", "", CPM_EINVAL, "not a number" },
		{ "max_bytes", "5x", CPM_EINVAL, "unknown unit" },
		{ "max_bytes", "k", CPM_EINVAL, "not a number" },
		{ "max_bytes", "99999999999999999999", CPM_ERANGE, "not a number" },
		{ "max_bytes", "99999999999999g", CPM_ERANGE, "out of range" },
		{ "max_lifetime", "1y", CPM_EINVAL, "unknown unit" },
		{ "max_lifetime", "99999999999999999w", CPM_ERANGE, "out of range" },
		{ "max_size", "1", CPM_EINVAL, "unknown class key \"max_size\"" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct cpm_im_class before = c;
		err[0] = '\0';
		int rc = cpm_im_class_set(&c, bad[i].key, bad[i].value, err);
		if (rc != bad[i].rc || !strstr(err, bad[i].msg))
			fail_msg("%s=%s: rc %d err \"%s\"", bad[i].key, bad[i].value, rc, err);
		assert_memory_equal(&c, &before, sizeof c);
	}
	assert_int_equal(cpm_im_class_set(NULL, "storage", "no", NULL), CPM_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_store_and_forward),
		cmocka_unit_test(test_accepts_parse),
		cmocka_unit_test(test_accepts_match),
		cmocka_unit_test(test_class_name_and_format),
		cmocka_unit_test(test_class_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
