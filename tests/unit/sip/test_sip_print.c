/* sip: reason phrases, response and body printing (round trip). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sip/sip.h"

static void test_reason(void **state)
{
	(void)state;
	struct {
		int code;
		const char *r;
	} t[] = {
		{ 100, "Trying" },
		{ 180, "Ringing" },
		{ 181, "Call Is Being Forwarded" },
		{ 182, "Queued" },
		{ 183, "Session Progress" },
		{ 200, "OK" },
		{ 202, "Accepted" },
		{ 204, "No Notification" },
		{ 300, "Multiple Choices" },
		{ 301, "Moved Permanently" },
		{ 302, "Moved Temporarily" },
		{ 305, "Use Proxy" },
		{ 380, "Alternative Service" },
		{ 400, "Bad Request" },
		{ 401, "Unauthorized" },
		{ 402, "Payment Required" },
		{ 403, "Forbidden" },
		{ 404, "Not Found" },
		{ 405, "Method Not Allowed" },
		{ 406, "Not Acceptable" },
		{ 407, "Proxy Authentication Required" },
		{ 408, "Request Timeout" },
		{ 410, "Gone" },
		{ 412, "Conditional Request Failed" },
		{ 413, "Request Entity Too Large" },
		{ 414, "Request-URI Too Long" },
		{ 415, "Unsupported Media Type" },
		{ 416, "Unsupported URI Scheme" },
		{ 417, "Unknown Resource-Priority" },
		{ 420, "Bad Extension" },
		{ 421, "Extension Required" },
		{ 423, "Interval Too Brief" },
		{ 428, "Use Identity Header" },
		{ 429, "Provide Referrer Identity" },
		{ 430, "Flow Failed" },
		{ 439, "First Hop Lacks Outbound Support" },
		{ 470, "Consent Needed" },
		{ 480, "Temporarily Unavailable" },
		{ 481, "Call/Transaction Does Not Exist" },
		{ 482, "Loop Detected" },
		{ 483, "Too Many Hops" },
		{ 484, "Address Incomplete" },
		{ 485, "Ambiguous" },
		{ 486, "Busy Here" },
		{ 487, "Request Terminated" },
		{ 488, "Not Acceptable Here" },
		{ 489, "Bad Event" },
		{ 491, "Request Pending" },
		{ 493, "Undecipherable" },
		{ 494, "Security Agreement Required" },
		{ 500, "Server Internal Error" },
		{ 501, "Not Implemented" },
		{ 502, "Bad Gateway" },
		{ 503, "Service Unavailable" },
		{ 504, "Server Time-out" },
		{ 505, "Version Not Supported" },
		{ 513, "Message Too Large" },
		{ 580, "Precondition Failure" },
		{ 600, "Busy Everywhere" },
		{ 603, "Decline" },
		{ 604, "Does Not Exist Anywhere" },
		{ 606, "Not Acceptable" },
		{ 499, "Bad Request" }, /* unknown: class default */
		{ 299, "OK" },
		{ 0, "Unknown" },
		{ 700, "Unknown" },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		assert_string_equal(cpm_sip_reason(t[i].code), t[i].r);
}

static const char req_text[] =
	"MESSAGE sip:bob@example.com SIP/2.0\r\n"
	"Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bK1,\r\n"
	"  SIP/2.0/TCP p2.example.com;branch=z9hG4bK2\r\n"
	"Max-Forwards: 70\r\n"
	"v: SIP/2.0/UDP ua.example.com;branch=z9hG4bK3;rport=5060\r\n"
	"f: \"Alice\" <sip:alice@example.com>;tag=a1\r\n"
	"t: sip:bob@example.com\r\n"
	"i: cid-1@example.com\r\n"
	"CSeq:  7\r\n  MESSAGE\r\n"
	"Content-Length: 0\r\n"
	"\r\n";

static void test_response_start(void **state)
{
	(void)state;
	struct cpm_sip_msg *m = malloc(sizeof *m);
	assert_int_equal(cpm_sip_msg_parse(m, req_text, sizeof req_text - 1,
					   CPM_SIP_DATAGRAM, NULL), 0);
	struct cpm_buf b;
	cpm_buf_init(&b, 4096);
	assert_int_equal(cpm_sip_print_response_start(&b, m, 200, NULL, "srv77"), 0);
	assert_int_equal(cpm_sip_print_body(&b, CPM_STR("text/plain"), CPM_STR("hi")), 0);
	const char *want =
		"SIP/2.0 200 OK\r\n"
		"Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bK1, SIP/2.0/TCP p2.example.com;branch=z9hG4bK2\r\n"
		"Via: SIP/2.0/UDP ua.example.com;branch=z9hG4bK3;rport=5060\r\n"
		"From: \"Alice\" <sip:alice@example.com>;tag=a1\r\n"
		"To: sip:bob@example.com;tag=srv77\r\n"
		"Call-ID: cid-1@example.com\r\n"
		"CSeq: 7 MESSAGE\r\n"
		"Content-Type: text/plain\r\n"
		"Content-Length: 2\r\n"
		"\r\n"
		"hi";
	assert_string_equal(b.p, want);

	/* the printed response parses back, as a response */
	struct cpm_sip_msg *r = malloc(sizeof *r);
	char *copy = malloc(b.len); /* r points into it: b is reused below */
	memcpy(copy, b.p, b.len);
	assert_int_equal(cpm_sip_msg_parse(r, copy, b.len, CPM_SIP_STREAM, NULL), 0);
	assert_false(r->is_request);
	assert_int_equal(r->status, 200);
	assert_true(cpm_str_eq_cstr(r->to.tag, "srv77"));
	assert_true(cpm_str_eq_cstr(r->via.branch, "z9hG4bK1"));
	assert_true(cpm_str_eq_cstr(r->body, "hi"));

	/* To already tagged: no second tag; explicit reason; no body */
	cpm_buf_reset(&b);
	assert_int_equal(cpm_sip_print_response_start(&b, r, 486, "Busy Here Now", "zz"), 0);
	assert_int_equal(cpm_sip_print_body(&b, CPM_STR_NULL, CPM_STR_NULL), 0);
	assert_non_null(strstr(b.p, "SIP/2.0 486 Busy Here Now\r\n"));
	assert_non_null(strstr(b.p, "To: sip:bob@example.com;tag=srv77\r\n"));
	assert_null(strstr(b.p, "zz"));
	assert_null(strstr(b.p, "Content-Type"));
	assert_non_null(strstr(b.p, "Content-Length: 0\r\n\r\n"));
	assert_int_equal(b.p[b.len - 1], '\n');

	/* no tag requested */
	cpm_buf_reset(&b);
	assert_int_equal(cpm_sip_print_response_start(&b, m, 100, NULL, NULL), 0);
	assert_non_null(strstr(b.p, "To: sip:bob@example.com\r\n"));

	/* bad status, and the buffer limit */
	assert_int_equal(cpm_sip_print_response_start(&b, m, 99, NULL, NULL), CPM_EINVAL);
	struct cpm_buf small;
	cpm_buf_init(&small, 40);
	assert_int_equal(cpm_sip_print_response_start(&small, m, 200, NULL, NULL),
			 CPM_ETOOBIG);
	cpm_buf_free(&small);
	cpm_buf_free(&b);
	free(m);
	free(r);
	free(copy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reason),
		cmocka_unit_test(test_response_start),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
