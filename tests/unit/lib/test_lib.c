/* lib: numbers, slices, bounded buffers and the error table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lib/lib.h"

static int u64(const char *s, uint64_t max, uint64_t *v)
{
	return cpm_str_to_u64(cpm_str_from_cstr(s), max, v);
}

static void test_to_u64(void **state)
{
	uint64_t v = 77;
	assert_int_equal(u64("0", 0, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(u64("5", 9, &v), 0);
	assert_int_equal(v, 5);
	/* a digit larger than a small max (the check must not wrap) */
	assert_int_equal(u64("5", 3, &v), CPM_ERANGE);
	assert_int_equal(u64("9", 8, &v), CPM_ERANGE);
	assert_int_equal(u64("10", 9, &v), CPM_ERANGE);
	assert_int_equal(u64("100", 100, &v), 0);
	assert_int_equal(v, 100);
	assert_int_equal(u64("101", 100, &v), CPM_ERANGE);
	assert_int_equal(u64("18446744073709551615", UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(u64("18446744073709551616", UINT64_MAX, &v), CPM_ERANGE);
	assert_int_equal(u64("", 10, &v), CPM_EPARSE);
	assert_int_equal(u64("1a", 100, &v), CPM_EPARSE);
	assert_int_equal(u64("-1", 100, &v), CPM_EPARSE);
}

static void test_buf(void **state)
{
	struct cpm_buf b;
	cpm_buf_init(&b, 8);
	assert_int_equal(cpm_buf_puts(&b, "1234"), 0);
	assert_int_equal(cpm_buf_printf(&b, "%d", 567), 0);
	assert_string_equal(b.p, "1234567");
	/* bounded: a write that would pass the limit fails, the content stays */
	assert_int_equal(cpm_buf_puts(&b, "89"), CPM_ETOOBIG);
	assert_string_equal(b.p, "1234567");
	cpm_buf_free(&b);
}

static void test_date(void **state)
{
	char d[CPM_DATE_LEN];
	cpm_fmt_date(0, d);
	assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 GMT");
	cpm_fmt_date(1796015000, d);
	assert_string_equal(d, "Mon, 30 Nov 2026 05:03:20 GMT");
	int64_t t = 0;
	assert_int_equal(cpm_parse_date(CPM_STR(" Mon, 30 Nov 2026 05:03:20 GMT "), &t), 0);
	assert_int_equal(t, 1796015000);
	assert_int_equal(cpm_parse_date(cpm_str_from_cstr(d), &t), 0);
	assert_int_equal(t, 1796015000);
	assert_int_equal(cpm_parse_date(CPM_STR("yesterday"), &t), CPM_EPARSE);
	assert_int_equal(cpm_parse_date(CPM_STR(""), &t), CPM_EPARSE);
}

static void test_errors(void **state)
{
	assert_string_equal(cpm_strerror(CPM_ENOTFOUND), "not found");
	assert_string_equal(cpm_strerror(CPM_ESCHEME), "unsupported URI scheme");
	assert_non_null(cpm_strerror(-9999));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_to_u64),
		cmocka_unit_test(test_buf),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_date),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
