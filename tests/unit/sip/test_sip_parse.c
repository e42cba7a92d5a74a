/* sip: message parsing, framing and validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sip/sip.h"

/* Parse a copy in an exact-size heap block so ASan catches any read past
 * the end (the parser must never assume a NUL terminator). */
static int parse_as(struct cpm_sip_msg *m, const char *text, size_t len,
		    enum cpm_sip_framing fr, char **keep)
{
	char *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, text, len);
	*keep = copy;
	return cpm_sip_msg_parse(m, copy, len, fr, NULL);
}

#define MSG_MESSAGE                                                     \
	"MESSAGE sip:bob@example.com SIP/2.0\r\n"                       \
	"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport\r\n" \
	"Max-Forwards: 70\r\n"                                          \
	"To: Bob <sip:bob@example.com>\r\n"                             \
	"From: \"Alice A.\" <sip:alice@example.com>;tag=1928301774\r\n" \
	"Call-ID: a84b4c76e66710@pc33.example.com\r\n"                  \
	"CSeq: 314159 MESSAGE\r\n"                                      \
	"Content-Type: text/plain\r\n"                                  \
	"Content-Length: 5\r\n"                                         \
	"\r\n"                                                          \
	"hello"

static struct cpm_sip_msg m;

static void test_message_basic(void **state)
{
	(void)state;
	char *k;
	const char *t = MSG_MESSAGE;
	assert_int_equal(parse_as(&m, t, strlen(t), CPM_SIP_DATAGRAM, &k), 0);
	assert_true(m.is_request);
	assert_int_equal(m.method, CPM_SIP_MESSAGE);
	assert_true(cpm_str_eq_cstr(m.ruri, "sip:bob@example.com"));
	assert_int_equal(m.nhdrs, 8);
	assert_true(cpm_str_eq_cstr(m.call_id, "a84b4c76e66710@pc33.example.com"));
	assert_int_equal(m.cseq.num, 314159);
	assert_int_equal(m.cseq.method, CPM_SIP_MESSAGE);
	assert_true(cpm_str_eq_cstr(m.from.tag, "1928301774"));
	assert_true(cpm_str_eq_cstr(m.from.display, "\"Alice A.\""));
	assert_true(cpm_str_eq_cstr(m.from.uri, "sip:alice@example.com"));
	assert_int_equal(m.to.tag.len, 0);
	assert_true(cpm_str_eq_cstr(m.to.display, "Bob"));
	assert_true(cpm_str_eq_cstr(m.via.transport, "UDP"));
	assert_true(cpm_str_eq_cstr(m.via.host, "192.0.2.1"));
	assert_int_equal(m.via.port, 5060);
	assert_true(cpm_str_eq_cstr(m.via.branch, "z9hG4bK776asdhds"));
	assert_true(m.via.has_rport);
	assert_int_equal(m.via.rport.len, 0);
	assert_int_equal(m.max_forwards, 70);
	assert_int_equal(m.content_length, 5);
	assert_true(cpm_str_eq_cstr(m.body, "hello"));
	assert_int_equal(m.body_off, strlen(t) - 5);
	const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(&m, CPM_SIP_H_CONTENT_TYPE);
	assert_non_null(h);
	assert_true(cpm_str_eq_cstr(h->value, "text/plain"));
	assert_true(cpm_str_eq_cstr(h->raw, "Content-Type: text/plain\r\n"));
	assert_ptr_equal(cpm_sip_msg_hdr_by_name(&m, "c"), h);
	assert_ptr_equal(cpm_sip_msg_hdr_by_name(&m, "content-TYPE"), h);
	assert_null(cpm_sip_msg_hdr_by_name(&m, "Subject"));
	assert_null(cpm_sip_msg_hdr_next(&m, h));
	assert_null(m.err_reason);
	free(k);
}

static void test_response_basic(void **state)
{
	(void)state;
	char *k;
	const char *t = "SIP/2.0 180 Ringing\r\n"
			"v: SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bKx\r\n"
			"Via: SIP/2.0/UDP a.example.com, SIP/2.0/UDP b.example.com\r\n"
			"f: <sip:a@example.com>;tag=1\r\n"
			"t: <sip:b@example.com>;tag=2\r\n"
			"i: cid\r\n"
			"CSeq: 1 INVITE\r\n"
			"l: 0\r\n\r\n";
	assert_int_equal(parse_as(&m, t, strlen(t), CPM_SIP_STREAM, &k), 0);
	assert_false(m.is_request);
	assert_int_equal(m.status, 180);
	assert_true(cpm_str_eq_cstr(m.reason, "Ringing"));
	assert_true(cpm_str_eq_cstr(m.via.host, "[2001:db8::1]"));
	assert_int_equal(m.via.port, 5061);
	const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(&m, CPM_SIP_H_VIA);
	assert_true(cpm_str_eq_cstr(h->name, "v"));
	h = cpm_sip_msg_hdr_next(&m, h);
	assert_non_null(h);
	struct cpm_str cur = h->value;
	struct cpm_sip_via v;
	assert_int_equal(cpm_sip_via_next(&cur, &v), 1);
	assert_true(cpm_str_eq_cstr(v.host, "a.example.com"));
	assert_int_equal(cpm_sip_via_next(&cur, &v), 1);
	assert_true(cpm_str_eq_cstr(v.host, "b.example.com"));
	assert_int_equal(cpm_sip_via_next(&cur, &v), 0);
	assert_true(cpm_str_eq_cstr(m.body, ""));
	free(k);
}

struct bad {
	const char *text;
	int status;
	const char *reason;
};

#define HDRS_OK                                          \
	"Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\r\n" \
	"From: <sip:a@example.com>;tag=1\r\n"            \
	"To: <sip:b@example.com>\r\n"                    \
	"Call-ID: x@y\r\n"

static const struct bad bads[] = {
	{ "OPTIONS sip:a@b SIP/3.0\r\n" HDRS_OK "CSeq: 1 OPTIONS\r\n\r\n", 505,
	  "Version Not Supported" },
	{ "OPTIONS sip:a@b SIP/2.0 \r\n" HDRS_OK "CSeq: 1 OPTIONS\r\n\r\n", 400,
	  "Bad request line" },
	{ "OPTIONS  sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 1 OPTIONS\r\n\r\n", 400,
	  "Bad request line" },
	{ "OPT(ONS sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 1 OPTIONS\r\n\r\n", 400,
	  "Bad method" },
	{ "OPTIONS sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 1 INVITE\r\n\r\n", 400,
	  "CSeq method mismatch" },
	{ "OPTIONS sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: x OPTIONS\r\n\r\n", 400,
	  "Bad CSeq" },
	{ "OPTIONS sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 4294967296 OPTIONS\r\n\r\n", 400,
	  "Bad CSeq" },
	{ "OPTIONS sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 1OPTIONS\r\n\r\n", 400,
	  "Bad CSeq" },
	{ "OPTIONS sip:a@b SIP/2.0\r\n" HDRS_OK "\r\n", 400, "Missing CSeq" },
	{ "OPTIONS sip:a@b SIP/2.0\r\nCSeq: 1 OPTIONS\r\n"
	  "Via: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\n\r\n",
	  400, "Missing Call-ID" },
	{ "OPTIONS sip:a@b SIP/2.0\r\nCSeq: 1 OPTIONS\r\n"
	  "Call-ID: x\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\n\r\n",
	  400, "Missing Via" },
	{ "OPTIONS sip:a@b SIP/2.0\r\nCSeq: 1 OPTIONS\r\n"
	  "Call-ID: x\r\nVia: SIP/2.0/UDP h\r\nTo: <sip:a@b>\r\n\r\n",
	  400, "Missing From" },
	{ "OPTIONS sip:a@b SIP/2.0\r\nCSeq: 1 OPTIONS\r\n"
	  "Call-ID: x\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\n\r\n",
	  400, "Missing To" },
	{ "OPTIONS sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 1 OPTIONS\r\n"
	  "Content-Length: 0\r\nl: 0\r\n\r\n", 400, "Multiple Content-Length" },
	{ "OPTIONS sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 1 OPTIONS\r\n"
	  "Content-Length: -1\r\n\r\n", 400, "Bad Content-Length" },
	{ "OPTIONS sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 1 OPTIONS\r\n"
	  "Content-Length: 99999999999999999999999\r\n\r\n", 400, "Bad Content-Length" },
	{ "OPTIONS sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 1 OPTIONS\r\n"
	  "Content-Length: 12abc\r\n\r\n", 400, "Bad Content-Length" },
	{ "OPTIONS sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 1 OPTIONS\r\n"
	  "Content-Length: 10\r\n\r\nabc", 400, "Content-Length larger than body" },
	{ "OPTIONS sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 1 OPTIONS\r\n"
	  "Max-Forwards: 256\r\n\r\n", 400, "Bad Max-Forwards" },
	{ "OPTIONS sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 1 OPTIONS\r\n"
	  "Max-Forwards: ten\r\n\r\n", 400, "Bad Max-Forwards" },
	{ "OPTIONS sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 1 OPTIONS\r\n"
	  "Call-ID: z\r\n\r\n", 400, "Multiple Call-ID" },
	{ "OPTIONS sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 1 OPTIONS\r\n"
	  "t: <sip:c@d>\r\n\r\n", 400, "Multiple To" },
	{ "OPTIONS sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 1 OPTIONS\r\n"
	  "CSeq: 2 OPTIONS\r\n\r\n", 400, "Multiple CSeq" },
	{ "OPTIONS sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 1 OPTIONS\r\n"
	  "c: text/plain\r\nContent-Type: text/html\r\n\r\n", 400,
	  "Multiple Content-Type" },
	{ "OPTIONS <sip:a@b> SIP/2.0\r\n" HDRS_OK "CSeq: 1 OPTIONS\r\n\r\n", 400,
	  "Bad Request-URI" },
	{ "OPTIONS sip:2001:db8::10 SIP/2.0\r\n" HDRS_OK "CSeq: 1 OPTIONS\r\n\r\n",
	  400, "Bad Request-URI" },
	{ "OPTIONS sip:a@b?Route=%3Csip:x%3E SIP/2.0\r\n" HDRS_OK
	  "CSeq: 1 OPTIONS\r\n\r\n", 400, "Headers in Request-URI" },
	{ "OPTIONS sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 1 OPTIONS\r\n", 400,
	  "Missing end of headers" },
	{ "OPTIONS sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 1 OPTIONS\r\nBad line\r\n\r\n",
	  400, "Bad header line" },
	{ "OPTIONS sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 1 OPTIONS\r\n: x\r\n\r\n",
	  400, "Bad header name" },
	{ "OPTIONS sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 1 OPTIONS\r\n"
	  "Via: SIP/2.0/UDP\r\n\r\n", 0, NULL }, /* only Via[0] is eager */
	{ "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;;\r\n"
	  "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n"
	  "Call-ID: x@y\r\nCSeq: 1 OPTIONS\r\n\r\n", 400, "Bad Via" },
	{ "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n"
	  "From: \"unbalanced <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n"
	  "Call-ID: x@y\r\nCSeq: 1 OPTIONS\r\n\r\n", 400, "Bad From" },
	{ "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n"
	  "From: <sip:a@example.com>;tag=1\r\nTo: < sip:b@example.com >\r\n"
	  "Call-ID: x@y\r\nCSeq: 1 OPTIONS\r\n\r\n", 400, "Bad To" },
	{ "OPTIONS sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 1 OPTIONS\r\n", 400,
	  "Missing end of headers" },
	{ "OPTIONS sip:a@b SIP/2.0", 400, "Truncated start line" },
	{ "OPTIONS\r\n", 400, "Bad request line" },
	/* responses: dropped (status 0) */
	{ "SIP/2.0 4294967301 big\r\n" HDRS_OK "CSeq: 1 INVITE\r\n\r\n", 0,
	  "Bad status code" },
	{ "SIP/2.0 99 low\r\n" HDRS_OK "CSeq: 1 INVITE\r\n\r\n", 0, "Bad status code" },
	{ "SIP/2.0 700 high\r\n" HDRS_OK "CSeq: 1 INVITE\r\n\r\n", 0,
	  "Bad status code" },
	{ "SIP/2.0 20x OK\r\n" HDRS_OK "CSeq: 1 INVITE\r\n\r\n", 0, "Bad status code" },
	{ "SIP/3.0 200 OK\r\n" HDRS_OK "CSeq: 1 INVITE\r\n\r\n", 0, "Bad SIP version" },
	{ "SIP/2.0 200 OK\r\n" HDRS_OK "\r\n", 0, "Missing CSeq" },
};

static void test_bad_messages(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
		char *k;
		int rc = parse_as(&m, bads[i].text, strlen(bads[i].text),
				  CPM_SIP_DATAGRAM, &k);
		if (!bads[i].reason) {
			if (rc != 0)
				fail_msg("case %zu: unexpected error %s", i, m.err_reason);
		} else {
			if (rc >= 0)
				fail_msg("case %zu accepted, expected %s", i, bads[i].reason);
			if (m.err_status != bads[i].status ||
			    strcmp(m.err_reason, bads[i].reason) != 0)
				fail_msg("case %zu: got %d %s, expected %d %s", i,
					 m.err_status, m.err_reason, bads[i].status,
					 bads[i].reason);
		}
		free(k);
	}
}

/* After the first error the parser goes on, so that the fields needed for
 * an error response are there (RFC 4475 badvers wants a 505, multi01 and
 * badinv01 a 400). */
static void test_error_keeps_fields(void **state)
{
	(void)state;
	char *k;
	const char *t = "OPTIONS sip:a@b SIP/7.0\r\n"
			"Via: SIP/2.0/UDP h.example.com:5070;;\r\n"
			"From: <sip:a@example.com>;tag=1\r\n"
			"To: <sip:b@example.com>\r\n"
			"Call-ID: x@y\r\n"
			"CSeq: 99999999999 OPTIONS\r\n"
			"CSeq: 2 OPTIONS\r\n"
			"\r\n";
	assert_int_equal(parse_as(&m, t, strlen(t), CPM_SIP_DATAGRAM, &k), CPM_EVERSION);
	assert_int_equal(m.err_status, 505);
	assert_string_equal(m.err_reason, "Version Not Supported");
	assert_true(cpm_str_eq_cstr(m.call_id, "x@y"));
	assert_true(cpm_str_eq_cstr(m.via.host, "h.example.com"));
	assert_int_equal(m.via.port, 5070);
	assert_true(cpm_str_eq_cstr(m.from.tag, "1"));
	assert_int_equal(m.nhdrs, 6);
	struct cpm_buf b;
	cpm_buf_init(&b, 4096);
	assert_int_equal(cpm_sip_print_response_start(&b, &m, m.err_status, m.err_reason, "x"), 0);
	assert_non_null(strstr(b.p, "SIP/2.0 505 Version Not Supported\r\n"));
	assert_non_null(strstr(b.p, "\r\nCSeq: 99999999999 OPTIONS\r\n"));
	assert_non_null(strstr(b.p, "\r\nTo: <sip:b@example.com>;tag=x\r\n"));
	cpm_buf_free(&b);
	free(k);

	/* a duplicate is reported, the header section is still complete */
	t = "OPTIONS sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 1 OPTIONS\r\nCall-ID: z\r\n"
	    "Content-Length: 0\r\n\r\n";
	assert_int_equal(parse_as(&m, t, strlen(t), CPM_SIP_DATAGRAM, &k), CPM_EPARSE);
	assert_string_equal(m.err_reason, "Multiple Call-ID");
	assert_int_equal(m.nhdrs, 7);
	assert_int_equal(m.cseq.num, 1);
	assert_int_equal(m.content_length, 0);
	assert_int_equal(m.body_off, strlen(t));
	free(k);
}

static void test_stream_needs_cl(void **state)
{
	(void)state;
	char *k;
	const char *t = "OPTIONS sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 1 OPTIONS\r\n\r\n";
	assert_int_equal(parse_as(&m, t, strlen(t), CPM_SIP_DATAGRAM, &k), 0);
	assert_int_equal(m.content_length, -1);
	assert_int_equal(m.max_forwards, -1);
	free(k);
	assert_int_not_equal(parse_as(&m, t, strlen(t), CPM_SIP_STREAM, &k), 0);
	assert_int_equal(m.err_status, 400);
	assert_string_equal(m.err_reason, "Missing Content-Length");
	free(k);
}

static void test_folding_and_lf(void **state)
{
	(void)state;
	char *k;
	const char *t = "\r\n\r\nINVITE sip:a@b SIP/2.0\n"
			"Via: SIP  /  2.0\n /UDP\n  h.example.com ;\n branch = z9hG4bKq\n"
			"From:\n <sip:a@example.com>\n  ;tag=9\n"
			"To: sip:b@example.com ; tag = 77\n"
			"Call-ID: x@y\n"
			"cseq: 0009\n  INVITE\n"
			"MaX-fOrWaRdS: 0068\n"
			"Content-Length   : 3\n"
			"\nabcdef";
	assert_int_equal(parse_as(&m, t, strlen(t), CPM_SIP_DATAGRAM, &k), 0);
	assert_true(cpm_str_eq_cstr(m.first_line, "INVITE sip:a@b SIP/2.0"));
	assert_true(cpm_str_eq_cstr(m.via.transport, "UDP"));
	assert_true(cpm_str_eq_cstr(m.via.host, "h.example.com"));
	assert_true(cpm_str_eq_cstr(m.via.branch, "z9hG4bKq"));
	assert_true(cpm_str_eq_cstr(m.from.tag, "9"));
	assert_true(cpm_str_eq_cstr(m.to.tag, "77"));
	assert_true(cpm_str_eq_cstr(m.to.uri, "sip:b@example.com"));
	assert_int_equal(m.cseq.num, 9);
	assert_int_equal(m.max_forwards, 68);
	assert_true(cpm_str_eq_cstr(m.body, "abc"));
	free(k);
}

static void test_limits(void **state)
{
	(void)state;
	struct cpm_sip_limits lim;
	cpm_sip_limits_default(&lim);
	assert_int_equal(lim.max_msg, 65535);
	assert_int_equal(lim.max_hdrs, 100);
	assert_int_equal(lim.max_line, 8192);

	/* too many header fields */
	struct cpm_buf b;
	cpm_buf_init(&b, 1 << 20);
	cpm_buf_puts(&b, "OPTIONS sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 1 OPTIONS\r\n");
	for (int i = 0; i < 120; i++)
		cpm_buf_printf(&b, "X-H%d: v\r\n", i);
	cpm_buf_puts(&b, "\r\n");
	assert_int_equal(cpm_sip_msg_parse(&m, b.p, b.len, CPM_SIP_DATAGRAM, &lim),
			 CPM_ELIMIT);
	assert_int_equal(m.err_status, 513);
	assert_string_equal(m.err_reason, "Too many header fields");
	lim.max_hdrs = 500; /* clamped to CPM_SIP_HDRS_CAP */
	assert_int_equal(cpm_sip_msg_parse(&m, b.p, b.len, CPM_SIP_DATAGRAM, &lim), 0);
	assert_int_equal(m.nhdrs, 125);
	lim.max_hdrs = 100;

	/* a header field over max_line */
	cpm_buf_reset(&b);
	cpm_buf_puts(&b, "OPTIONS sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 1 OPTIONS\r\nX: ");
	for (int i = 0; i < 9000; i++)
		cpm_buf_append(&b, "a", 1);
	cpm_buf_puts(&b, "\r\n\r\n");
	assert_int_equal(cpm_sip_msg_parse(&m, b.p, b.len, CPM_SIP_DATAGRAM, &lim),
			 CPM_ETOOBIG);
	assert_int_equal(m.err_status, 513);

	/* header section past max_msg: 513 */
	lim.max_msg = 1000;
	assert_int_equal(cpm_sip_msg_parse(&m, b.p, b.len, CPM_SIP_DATAGRAM, &lim),
			 CPM_ETOOBIG);
	assert_int_equal(m.err_status, 513);
	assert_string_equal(m.err_reason, "Message Too Large");

	/* body past max_msg: 413 */
	cpm_buf_reset(&b);
	cpm_buf_puts(&b, "MESSAGE sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 1 MESSAGE\r\n"
			 "Content-Length: 2000\r\n\r\n");
	for (int i = 0; i < 2000; i++)
		cpm_buf_append(&b, "b", 1);
	assert_int_equal(cpm_sip_msg_parse(&m, b.p, b.len, CPM_SIP_DATAGRAM, &lim),
			 CPM_ETOOBIG);
	assert_int_equal(m.err_status, 413);
	assert_string_equal(m.err_reason, "Request Entity Too Large");
	cpm_buf_free(&b);
}

static void test_truncations(void **state)
{
	(void)state;
	/* every prefix of a valid message: no crash, no read past the end */
	const char *t = MSG_MESSAGE;
	size_t n = strlen(t);
	for (size_t i = 0; i < n; i++) {
		char *k;
		int rc = parse_as(&m, t, i, CPM_SIP_DATAGRAM, &k);
		assert_true(rc < 0 || i >= n - 5);
		free(k);
	}
}

static void test_frame(void **state)
{
	(void)state;
	size_t skip, mlen;
	const char *t = MSG_MESSAGE;
	size_t n = strlen(t);
	struct cpm_sip_limits lim;
	cpm_sip_limits_default(&lim);

	assert_int_equal(cpm_sip_frame(t, n, &lim, &skip, &mlen), 1);
	assert_int_equal(skip, 0);
	assert_int_equal(mlen, n);
	for (size_t i = 0; i < n; i++) {
		char *c = malloc(i + 1);
		memcpy(c, t, i);
		assert_int_equal(cpm_sip_frame(c, i, &lim, &skip, &mlen), 0);
		free(c);
	}

	/* keep-alives, then two messages back to back */
	struct cpm_buf b;
	cpm_buf_init(&b, 1 << 16);
	cpm_buf_puts(&b, "\r\n\r\n\r\n");
	cpm_buf_puts(&b, t);
	cpm_buf_puts(&b, t);
	assert_int_equal(cpm_sip_frame(b.p, b.len, &lim, &skip, &mlen), 1);
	assert_int_equal(skip, 6);
	assert_int_equal(mlen, n);
	assert_int_equal(cpm_sip_msg_parse(&m, b.p + skip, mlen, CPM_SIP_STREAM, &lim), 0);
	assert_true(cpm_str_eq_cstr(m.body, "hello"));
	assert_int_equal(cpm_sip_frame(b.p + skip + mlen, b.len - skip - mlen, &lim,
				       &skip, &mlen), 1);
	assert_int_equal(skip, 0);

	/* only keep-alives */
	assert_int_equal(cpm_sip_frame("\r\n\r\n", 4, &lim, &skip, &mlen), 0);
	assert_int_equal(skip, 4);
	assert_int_equal(cpm_sip_frame("\r\n\r", 3, &lim, &skip, &mlen), 0);
	assert_int_equal(skip, 2);

	/* LF-only, compact l:, folded value */
	const char *lf = "OPTIONS sip:a@b SIP/2.0\nl:\n 2\nVia: x\n\nab";
	assert_int_equal(cpm_sip_frame(lf, strlen(lf), &lim, &skip, &mlen), 1);
	assert_int_equal(mlen, strlen(lf));

	/* missing / bad / duplicated Content-Length */
	const char *nocl = "OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n";
	assert_int_equal(cpm_sip_frame(nocl, strlen(nocl), &lim, &skip, &mlen),
			 CPM_EPARSE);
	const char *neg = "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -999\r\n\r\n";
	assert_int_equal(cpm_sip_frame(neg, strlen(neg), &lim, &skip, &mlen),
			 CPM_EPARSE);
	const char *two = "OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\nContent-Length: 1\r\n\r\nx";
	assert_int_equal(cpm_sip_frame(two, strlen(two), &lim, &skip, &mlen),
			 CPM_EPARSE);
	/* Content-Length-Foo is not Content-Length */
	const char *cl2 = "OPTIONS sip:a@b SIP/2.0\r\nContent-Lengthy: 1\r\nl : 0\r\n\r\n";
	assert_int_equal(cpm_sip_frame(cl2, strlen(cl2), &lim, &skip, &mlen), 1);

	/* limits: a huge announced body, and headers that never end */
	const char *big = "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 9999999\r\n\r\n";
	assert_int_equal(cpm_sip_frame(big, strlen(big), &lim, &skip, &mlen),
			 CPM_ETOOBIG);
	lim.max_msg = 64;
	cpm_buf_reset(&b);
	for (int i = 0; i < 20; i++)
		cpm_buf_puts(&b, "X-Header: 1\r\n");
	assert_int_equal(cpm_sip_frame(b.p, b.len, &lim, &skip, &mlen), CPM_ETOOBIG);
	cpm_buf_free(&b);
}

static void test_methods_and_names(void **state)
{
	(void)state;
	assert_int_equal(cpm_sip_method_parse(CPM_STR("INVITE")), CPM_SIP_INVITE);
	assert_int_equal(cpm_sip_method_parse(CPM_STR("invite")), CPM_SIP_OTHER);
	assert_int_equal(cpm_sip_method_parse(CPM_STR("PRACK")), CPM_SIP_PRACK);
	assert_int_equal(cpm_sip_method_parse(CPM_STR("SUBSCRIBE")), CPM_SIP_SUBSCRIBE);
	assert_int_equal(cpm_sip_method_parse(CPM_STR_NULL), CPM_SIP_OTHER);
	for (int i = CPM_SIP_INVITE; i <= CPM_SIP_PRACK; i++)
		assert_int_equal(cpm_sip_method_parse(cpm_str_from_cstr(
					 cpm_sip_method_name((enum cpm_sip_method)i))),
				 i);
	for (int i = 1; i < CPM_SIP_H__COUNT; i++) {
		const char *n = cpm_sip_hdr_name((enum cpm_sip_hdr_id)i);
		assert_true(n[0] != '\0');
		assert_int_equal(cpm_sip_hdr_id_parse(cpm_str_from_cstr(n)), i);
	}
	assert_string_equal(cpm_sip_hdr_name(CPM_SIP_H_OTHER), "");
	struct {
		const char *n;
		enum cpm_sip_hdr_id id;
	} c[] = {
		{ "i", CPM_SIP_H_CALL_ID },	{ "M", CPM_SIP_H_CONTACT },
		{ "e", CPM_SIP_H_CONTENT_ENCODING }, { "l", CPM_SIP_H_CONTENT_LENGTH },
		{ "c", CPM_SIP_H_CONTENT_TYPE }, { "f", CPM_SIP_H_FROM },
		{ "s", CPM_SIP_H_SUBJECT },	{ "k", CPM_SIP_H_SUPPORTED },
		{ "t", CPM_SIP_H_TO },		{ "V", CPM_SIP_H_VIA },
		{ "o", CPM_SIP_H_EVENT },	{ "r", CPM_SIP_H_REFER_TO },
		{ "u", CPM_SIP_H_ALLOW_EVENTS }, { "a", CPM_SIP_H_ACCEPT_CONTACT },
		{ "d", CPM_SIP_H_REQUEST_DISPOSITION }, { "b", CPM_SIP_H_REFERRED_BY },
		{ "j", CPM_SIP_H_OTHER },	{ "x", CPM_SIP_H_OTHER },
		{ "CALL-id", CPM_SIP_H_CALL_ID }, { "www-AUTHENTICATE", CPM_SIP_H_WWW_AUTHENTICATE },
		{ "Via2", CPM_SIP_H_OTHER },	{ "C%6Fntact", CPM_SIP_H_OTHER },
		{ "", CPM_SIP_H_OTHER },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
		assert_int_equal(cpm_sip_hdr_id_parse(cpm_str_from_cstr(c[i].n)), c[i].id);
}

static void test_hdr_by_name_alias(void **state)
{
	(void)state;
	char *k;
	const char *t = "OPTIONS sip:a@b SIP/2.0\r\n" HDRS_OK "CSeq: 1 OPTIONS\r\n"
			"x: 1800\r\nX-Foo: 1\r\nSession-Expires: 90\r\nContact: <sip:c@d>\r\n"
			"m: <sip:e@f>\r\n\r\n";
	assert_int_equal(parse_as(&m, t, strlen(t), CPM_SIP_DATAGRAM, &k), 0);
	const struct cpm_sip_hdr *h = cpm_sip_msg_hdr_by_name(&m, "Session-Expires");
	assert_non_null(h);
	assert_true(cpm_str_eq_cstr(h->value, "1800"));
	h = cpm_sip_msg_hdr_by_name(&m, "x-foo");
	assert_non_null(h);
	assert_true(cpm_str_eq_cstr(h->value, "1"));
	h = cpm_sip_msg_hdr(&m, CPM_SIP_H_CONTACT);
	assert_true(cpm_str_eq_cstr(h->value, "<sip:c@d>"));
	h = cpm_sip_msg_hdr_next(&m, h);
	assert_true(cpm_str_eq_cstr(h->value, "<sip:e@f>"));
	assert_null(cpm_sip_msg_hdr_next(&m, h));
	free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message_basic),
		cmocka_unit_test(test_response_basic),
		cmocka_unit_test(test_bad_messages),
		cmocka_unit_test(test_error_keeps_fields),
		cmocka_unit_test(test_stream_needs_cl),
		cmocka_unit_test(test_folding_and_lf),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_frame),
		cmocka_unit_test(test_methods_and_names),
		cmocka_unit_test(test_hdr_by_name_alias),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
