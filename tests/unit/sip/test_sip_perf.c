/* sip: cost of parsing a typical 600-byte MESSAGE.
 *
 * No timing assertions: this checks the parse and loops, so that the
 * instruction count can be read with callgrind on an optimised build:
 *
 *   gcc -std=c17 -D_GNU_SOURCE -O2 -Isrc -o /tmp/sip_perf \
 *       tests/unit/sip/test_sip_perf.c src/sip/\*.c src/lib/\*.c -lcmocka -lcrypto
 *   CPM_SIP_PERF_ITERS=10000 valgrind --tool=callgrind \
 *       --toggle-collect=cpm_sip_msg_parse --callgrind-out-file=/tmp/cg.out /tmp/sip_perf
 *   callgrind_annotate /tmp/cg.out | head    # total Ir / 10000
 *
 * Measured 2026-11-30 (gcc 12.2 -O2, x86-64, 10000 iterations): 6,560
 * instructions per parse of this 599-byte message, everything eager
 * included (start line and R-URI, 10 header fields, Via[0], From and To
 * with their URIs, Call-ID, CSeq, Max-Forwards, Content-Length).  For
 * scale (shared/guide/ecosystem.md §2.5, same size of message): sofia-sip
 * 30.7k, libosip2 61k, libre 78k, a bare header splitter 1.5k. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sip/sip.h"

static const char msg600[] =
	"MESSAGE sip:bob@biloxi.example.com SIP/2.0\r\n"
	"Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK776sgdkse;rport\r\n"
	"Max-Forwards: 70\r\n"
	"From: \"Alice\" <sip:alice@atlanta.example.com>;tag=49583\r\n"
	"To: <sip:bob@biloxi.example.com>\r\n"
	"Call-ID: asd88asd77a@1.2.3.4\r\n"
	"CSeq: 1 MESSAGE\r\n"
	"Contact: <sip:alice@client.atlanta.example.com;transport=tcp>\r\n"
	"User-Agent: cpm-perf/1.0\r\n"
	"Content-Type: text/plain;charset=UTF-8\r\n"
	"Content-Length: 167\r\n"
	"\r\n"
	"Watson, come here. I want to see you. This is a reasonably sized instant "
	"message body, padded so that the whole request is about six hundred octets long, "
	"give or take.";

static void test_perf_loop(void **state)
{
	(void)state;
	assert_true(sizeof msg600 - 1 >= 580 && sizeof msg600 - 1 <= 620);
	const char *e = getenv("CPM_SIP_PERF_ITERS");
	long iters = e ? atol(e) : 1000;
	static struct cpm_sip_msg m;
	struct cpm_sip_limits lim;
	cpm_sip_limits_default(&lim);
	for (long i = 0; i < iters; i++)
		assert_int_equal(cpm_sip_msg_parse(&m, msg600, sizeof msg600 - 1,
						   CPM_SIP_STREAM, &lim), 0);
	assert_int_equal(m.nhdrs, 10);
	assert_int_equal(m.method, CPM_SIP_MESSAGE);
	assert_int_equal(m.body.len, 167);
	assert_int_equal(m.content_length, 167);
	assert_true(cpm_str_eq_cstr(m.via.branch, "z9hG4bK776sgdkse"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_perf_loop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
