/* msrp: framing and header parsing — the RFC 4975 §7 and §11 message
 * shapes and RFC 4976 AUTH exchanges, fed whole, one byte at a time and
 * split at every offset; bodies that hold "-------" without the
 * transaction id; limits; and a malformed case for every field, each with
 * its precise reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msrp_feed.h"

/* RFC 4975 §4: Alice's first SEND and Bob's 200. */
static const char send1[] =
	"MSRP a786hjs2 SEND\r\n"
	"To-Path: msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp\r\n"
	"From-Path: msrp://atlanta.example.com:7654/jshA7weztas;tcp\r\n"
	"Message-ID: 87652491\r\n"
	"Byte-Range: 1-25/25\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"Hey Bob, are you there?\r\n"
	"\r\n"
	"-------a786hjs2$\r\n";
static const char body1[] = "Hey Bob, are you there?\r\n";

static const char ok1[] =
	"MSRP a786hjs2 200 OK\r\n"
	"To-Path: msrp://atlanta.example.com:7654/jshA7weztas;tcp\r\n"
	"From-Path: msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp\r\n"
	"-------a786hjs2$\r\n";

/* A message in two chunks (§5.1, §7.1.1): the first with "+", the range
 * end and total unknown; then the rest with "$". */
static const char chunks[] =
	"MSRP dkei38sd SEND\r\n"
	"To-Path: msrp://alicepc.example.com:7777/iau39soe2843z;tcp\r\n"
	"From-Path: msrp://bobpc.example.com:8888/9di4eae923wzd;tcp\r\n"
	"Message-ID: 4564dpWd\r\n"
	"Byte-Range: 1-*/*\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"abcd\r\n"
	"-------dkei38sd+\r\n"
	"MSRP dkei38ia SEND\r\n"
	"To-Path: msrp://alicepc.example.com:7777/iau39soe2843z;tcp\r\n"
	"From-Path: msrp://bobpc.example.com:8888/9di4eae923wzd;tcp\r\n"
	"Message-ID: 4564dpWd\r\n"
	"Byte-Range: 5-8/8\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"EFGH\r\n"
	"-------dkei38ia$\r\n";

/* §7.1.2 / §11.5: a success report. */
static const char report1[] =
	"MSRP dkei38sd REPORT\r\n"
	"To-Path: msrp://alicepc.example.com:7777/iau39soe2843z;tcp\r\n"
	"From-Path: msrp://bobpc.example.com:8888/9di4eae923wzd;tcp\r\n"
	"Message-ID: 12339sdqwer\r\n"
	"Byte-Range: 1-106/106\r\n"
	"Status: 000 200 OK\r\n"
	"-------dkei38sd$\r\n";

/* §7.1.1 / requirement R66: an empty SEND binds a connection. */
static const char empty_send[] =
	"MSRP 4a7cd8e1 SEND\r\n"
	"To-Path: msrp://relay.example.com:2855/hjdhfha;tcp\r\n"
	"From-Path: msrp://alice.example.com:9892/98cjs;tcp\r\n"
	"Message-ID: 9a7cf2b1\r\n"
	"Byte-Range: 1-0/0\r\n"
	"-------4a7cd8e1$\r\n";

/* RFC 4976 §5.1, §8.1: the AUTH exchange with a relay. */
static const char auth1[] =
	"MSRP 49fh AUTH\r\n"
	"To-Path: msrps://alice@intra.example.com;tcp\r\n"
	"From-Path: msrps://alice.example.com:9892/98cjs;tcp\r\n"
	"-------49fh$\r\n";
static const char auth401[] =
	"MSRP 49fh 401 Unauthorized\r\n"
	"To-Path: msrps://alice.example.com:9892/98cjs;tcp\r\n"
	"From-Path: msrps://alice@intra.example.com;tcp\r\n"
	"WWW-Authenticate: Digest realm=\"intra.example.com\", qop=\"auth\", "
	"nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\"\r\n"
	"-------49fh$\r\n";
static const char auth2[] =
	"MSRP 49fi AUTH\r\n"
	"To-Path: msrps://alice@intra.example.com;tcp\r\n"
	"From-Path: msrps://alice.example.com:9892/98cjs;tcp\r\n"
	"Authorization: Digest username=\"Alice\", realm=\"intra.example.com\", "
	"nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", qop=auth, nc=00000001, "
	"cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\"\r\n"
	"-------49fi$\r\n";
static const char auth200[] =
	"MSRP 49fi 200 OK\r\n"
	"To-Path: msrps://alice.example.com:9892/98cjs;tcp\r\n"
	"From-Path: msrps://alice@intra.example.com;tcp\r\n"
	"Use-Path: msrps://relay.example.com:2855/hjdhfha;tcp\r\n"
	"Expires: 900\r\n"
	"Authentication-Info: nextnonce=\"38fb1aa5\", qop=auth, rspauth=\"ab12\", "
	"cnonce=\"0a4f113b\", nc=00000001\r\n"
	"-------49fi$\r\n";
static const char auth423[] =
	"MSRP 49fj 423 Interval Out-of-Bounds\r\n"
	"To-Path: msrps://alice.example.com:9892/98cjs;tcp\r\n"
	"From-Path: msrps://alice@intra.example.com;tcp\r\n"
	"Min-Expires: 60\r\n"
	"Max-Expires: 3600\r\n"
	"-------49fj$\r\n";

static void whole(const char *s, struct cpm_msrp_msg *m, struct cpm_str *body, char *flag)
{
	size_t used = 0;
	const char *why = NULL;
	int rc = cpm_msrp_msg_parse(s, strlen(s), NULL, m, body, flag, &used, &why);
	if (rc != 1)
		fail_msg("rc %d: %s", rc, why ? why : "");
	assert_int_equal(used, strlen(s));
}

static void test_rfc4975_send_and_ok(void **state)
{
	(void)state;
	static struct cpm_msrp_msg m;
	struct cpm_str body;
	char flag;
	whole(send1, &m, &body, &flag);
	assert_true(m.is_request);
	assert_int_equal(m.method, CPM_MSRP_SEND);
	assert_true(cpm_str_eq_cstr(m.method_s, "SEND"));
	assert_true(cpm_str_eq_cstr(m.tid, "a786hjs2"));
	assert_int_equal(m.nhdrs, 5);
	assert_true(cpm_str_eq_cstr(m.to_path, "msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp"));
	assert_true(cpm_str_eq_cstr(m.from_path, "msrp://atlanta.example.com:7654/jshA7weztas;tcp"));
	assert_true(cpm_str_eq_cstr(m.message_id, "87652491"));
	assert_true(m.has_range);
	assert_int_equal(m.range.start, 1);
	assert_int_equal(m.range.end, 25);
	assert_int_equal(m.range.total, 25);
	assert_true(cpm_str_eq_cstr(m.content_type, "text/plain"));
	assert_true(m.has_body);
	assert_int_equal(m.err, 0);
	assert_null(m.err_reason);
	assert_int_equal(flag, '$');
	assert_int_equal(body.len, strlen(body1));
	assert_memory_equal(body.s, body1, body.len);
	assert_int_equal(m.expires, -1);
	assert_non_null(cpm_msrp_msg_hdr(&m, CPM_MSRP_H_BYTE_RANGE));
	assert_null(cpm_msrp_msg_hdr(&m, CPM_MSRP_H_STATUS));

	whole(ok1, &m, &body, &flag);
	assert_false(m.is_request);
	assert_int_equal(m.code, 200);
	assert_true(cpm_str_eq_cstr(m.comment, "OK"));
	assert_false(m.has_body);
	assert_int_equal(body.len, 0);
	assert_int_equal(m.err, 0);
}

static void test_chunks_and_report(void **state)
{
	(void)state;
	struct feed_run r;
	feed_run(chunks, strlen(chunks), NULL, 0, CPM_MSRP_STREAM, NULL, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.nmsgs, 2);
	assert_int_equal(r.left, 0);
	assert_string_equal(r.msgs[0].tid, "dkei38sd");
	assert_int_equal(r.msgs[0].flag, '+');
	assert_int_equal(r.msgs[0].body_len, 4);
	assert_memory_equal(r.msgs[0].body, "abcd", 4);
	assert_string_equal(r.msgs[1].tid, "dkei38ia");
	assert_int_equal(r.msgs[1].flag, '$');
	assert_memory_equal(r.msgs[1].body, "EFGH", 4);

	static struct cpm_msrp_msg m;
	struct cpm_str body;
	char flag;
	size_t used;
	assert_int_equal(cpm_msrp_msg_parse(chunks, strlen(chunks), NULL, &m, &body, &flag,
					    &used, NULL), 1);
	assert_true(m.range.end_star && m.range.total_star);
	assert_int_equal(flag, '+');
	assert_int_equal(memcmp(chunks + used, "MSRP dkei38ia", 13), 0);

	whole(report1, &m, &body, &flag);
	assert_int_equal(m.method, CPM_MSRP_REPORT);
	assert_true(m.has_status);
	assert_int_equal(m.status.ns, 0);
	assert_int_equal(m.status.code, 200);
	assert_true(cpm_str_eq_cstr(m.status.reason, "OK"));
	assert_int_equal(m.err, 0);

	whole(empty_send, &m, &body, &flag);
	assert_int_equal(m.err, 0);
	assert_false(m.has_body);
	assert_int_equal(m.range.start, 1);
	assert_int_equal(m.range.end, 0);
	assert_int_equal(m.range.total, 0);
}

static void test_rfc4976_auth(void **state)
{
	(void)state;
	static struct cpm_msrp_msg m;
	struct cpm_str body;
	char flag;
	struct cpm_msrp_auth a;

	whole(auth1, &m, &body, &flag);
	assert_int_equal(m.method, CPM_MSRP_AUTH);
	assert_int_equal(m.err, 0);
	struct cpm_msrp_uri u;
	struct cpm_str cur = m.to_path;
	assert_int_equal(cpm_msrp_path_next(&cur, &u), 1);
	assert_true(cpm_str_eq_cstr(u.userinfo, "alice"));
	assert_int_equal(u.session_id.len, 0);

	whole(auth401, &m, &body, &flag);
	assert_int_equal(m.code, 401);
	assert_int_equal(m.err, 0);
	const struct cpm_msrp_hdr *h = cpm_msrp_msg_hdr(&m, CPM_MSRP_H_WWW_AUTHENTICATE);
	assert_non_null(h);
	assert_int_equal(cpm_msrp_auth_parse(h->value, &a), 0);
	assert_true(cpm_str_eq_cstr(a.scheme, "Digest"));
	assert_true(cpm_str_eq_cstr(a.realm, "intra.example.com"));
	assert_true(cpm_str_eq_cstr(a.qop, "auth"));
	assert_true(cpm_str_eq_cstr(a.nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093"));

	whole(auth2, &m, &body, &flag);
	assert_int_equal(m.err, 0);
	h = cpm_msrp_msg_hdr(&m, CPM_MSRP_H_AUTHORIZATION);
	assert_non_null(h);
	assert_int_equal(cpm_msrp_auth_parse(h->value, &a), 0);
	assert_true(cpm_str_eq_cstr(a.username, "Alice"));
	assert_true(cpm_str_eq_cstr(a.nc, "00000001"));
	assert_true(cpm_str_eq_cstr(a.cnonce, "0a4f113b"));
	assert_true(cpm_str_eq_cstr(a.response, "6629fae49393a05397450978507c4ef1"));

	whole(auth200, &m, &body, &flag);
	assert_int_equal(m.err, 0);
	assert_int_equal(m.expires, 900);
	assert_true(cpm_str_eq_cstr(m.use_path, "msrps://relay.example.com:2855/hjdhfha;tcp"));
	h = cpm_msrp_msg_hdr(&m, CPM_MSRP_H_AUTHENTICATION_INFO);
	assert_int_equal(cpm_msrp_auth_parse(h->value, &a), 0);
	assert_int_equal(a.scheme.len, 0);
	assert_true(cpm_str_eq_cstr(a.nextnonce, "38fb1aa5"));
	assert_true(cpm_str_eq_cstr(a.rspauth, "ab12"));

	whole(auth423, &m, &body, &flag);
	assert_int_equal(m.err, 0);
	assert_int_equal(m.min_expires, 60);
	assert_int_equal(m.max_expires, 3600);
	assert_int_equal(m.expires, -1);
}

/* The same bytes, whole and in pieces of every size up to 50, one byte at
 * a time included, in both modes: the same messages. */
static void test_split_everywhere(void **state)
{
	(void)state;
	static char all[8192];
	snprintf(all, sizeof all, "%s%s%s%s%s%s", send1, ok1, chunks, report1, empty_send,
		 auth200);
	size_t len = strlen(all);
	static struct feed_run ref, r;
	feed_run(all, len, NULL, 0, CPM_MSRP_STREAM, NULL, &ref);
	assert_int_equal(ref.rc, 0);
	assert_int_equal(ref.nmsgs, 7);
	assert_int_equal(ref.msgs[0].nbody_events, 1);
	for (int mode = 0; mode < 2; mode++) {
		for (size_t step = 1; step <= 50; step++) {
			feed_run(all, len, &step, 1, (enum cpm_msrp_mode)mode, NULL, &r);
			assert_int_equal(r.rc, 0);
			assert_int_equal(r.nmsgs, ref.nmsgs);
			assert_int_equal(r.left, 0);
			for (int i = 0; i < ref.nmsgs; i++) {
				assert_string_equal(r.msgs[i].tid, ref.msgs[i].tid);
				assert_int_equal(r.msgs[i].flag, ref.msgs[i].flag);
				assert_int_equal(r.msgs[i].nhdrs, ref.msgs[i].nhdrs);
				assert_int_equal(r.msgs[i].code, ref.msgs[i].code);
				assert_string_equal(r.msgs[i].to_path, ref.msgs[i].to_path);
				assert_int_equal(r.msgs[i].body_len, ref.msgs[i].body_len);
				assert_memory_equal(r.msgs[i].body, ref.msgs[i].body,
						    ref.msgs[i].body_len);
				if (mode == CPM_MSRP_WHOLE)
					assert_true(r.msgs[i].nbody_events <= 1);
			}
		}
	}
	/* one byte at a time: the body comes in many pieces, and nothing of
	 * it is held back longer than the end-line could need */
	size_t one = 1;
	feed_run(send1, strlen(send1), &one, 1, CPM_MSRP_STREAM, NULL, &r);
	assert_int_equal(r.nmsgs, 1);
	assert_true(r.msgs[0].nbody_events > 10);
	assert_int_equal(r.msgs[0].body_len, strlen(body1));
}

/* The end-line cut in two at every offset, within a large body. */
static void test_endline_split(void **state)
{
	(void)state;
	static char msg[70000];
	const char *head = "MSRP Zq9+x.4%=- SEND\r\n"
			   "To-Path: msrp://b.example.com:1/s;tcp\r\n"
			   "From-Path: msrp://a.example.com:2/t;tcp\r\n"
			   "Message-ID: m1234\r\n"
			   "Content-Type: application/octet-stream\r\n\r\n";
	size_t n = strlen(head);
	memcpy(msg, head, n);
	size_t bstart = n;
	for (size_t i = 0; i < 65536; i++)
		msg[n++] = (char)(i * 7 + 3); /* every byte value, CR and '-' too */
	size_t bend = n;
	const char *el = "\r\n-------Zq9+x.4%=-#\r\n";
	memcpy(msg + n, el, strlen(el));
	n += strlen(el);
	static struct feed_run r;
	for (size_t cut = bend - 3; cut <= n; cut++) {
		size_t steps[2] = { cut, n };
		feed_run(msg, n, steps, 2, CPM_MSRP_STREAM, NULL, &r);
		assert_int_equal(r.rc, 0);
		assert_int_equal(r.nmsgs, 1);
		assert_int_equal(r.msgs[0].flag, '#');
		assert_int_equal(r.msgs[0].body_len, bend - bstart);
		assert_int_equal(r.left, 0);
	}
	/* streaming keeps only the tail: never more than the header section
	 * plus 43 bytes were buffered, with 1000-byte reads */
	struct cpm_msrp_parser p;
	struct cpm_msrp_event ev;
	struct cpm_buf b;
	cpm_buf_init(&b, 1 << 20);
	cpm_msrp_parser_init(&p, NULL, CPM_MSRP_STREAM);
	size_t fed = 0, maxbuf = 0, got = 0;
	bool end = false;
	while (!end && fed < n) {
		size_t k = n - fed < 1000 ? n - fed : 1000;
		assert_int_equal(cpm_buf_append(&b, msg + fed, k), 0);
		fed += k;
		if (b.len > maxbuf && fed > bstart + 1000)
			maxbuf = b.len;
		int rc;
		while ((rc = cpm_msrp_parse(&p, b.p, b.len, &ev)) > 0) {
			if (rc == CPM_MSRP_EV_BODY)
				got += ev.data.len;
			end = rc == CPM_MSRP_EV_END;
			cpm_buf_consume(&b, ev.used);
		}
		assert_true(rc >= 0);
	}
	assert_true(end);
	assert_int_equal(got, bend - bstart);
	assert_true(maxbuf <= 1000 + 43);
	cpm_buf_free(&b);
}

/* The body may hold "-------" with another id, or the id without a flag
 * after it, or with a flag but no CRLF before it... only CRLF, the
 * hyphens, the id and a flag end it. */
static void test_body_lookalikes(void **state)
{
	(void)state;
	const char *bodies[] = {
		"-------",
		"x\r\n-------",
		"\r\n-------abcd1234",
		"\r\n-------abcd1234X\r\n",
		"\r\n-------abcd12345$\r\n",
		"\r\n-------abcd123$\r\n",
		"\r\n------abcd1234$\r\n",
		"x-------abcd1234$ in the middle of a line",
		"\r\n\r\n-------abcd123",
		"",
	};
	static char msg[512];
	static struct feed_run r;
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		snprintf(msg, sizeof msg,
			 "MSRP abcd1234 SEND\r\n"
			 "To-Path: msrp://b.example.com/s;tcp\r\n"
			 "From-Path: msrp://a.example.com/t;tcp\r\n"
			 "Message-ID: m1234\r\n"
			 "Content-Type: text/plain\r\n\r\n%s\r\n-------abcd1234$\r\n",
			 bodies[i]);
		for (size_t step = 1; step <= 3; step++) {
			feed_run(msg, strlen(msg), &step, 1, CPM_MSRP_STREAM, NULL, &r);
			assert_int_equal(r.rc, 0);
			assert_int_equal(r.nmsgs, 1);
			assert_int_equal(r.msgs[0].body_len, strlen(bodies[i]));
			assert_memory_equal(r.msgs[0].body, bodies[i], strlen(bodies[i]));
			assert_null(r.msgs[0].err_reason);
		}
	}
	/* lenient: an empty body written without the CRLF before the end-line */
	const char *bare = "MSRP abcd1234 SEND\r\n"
			   "To-Path: msrp://b.example.com/s;tcp\r\n"
			   "From-Path: msrp://a.example.com/t;tcp\r\n"
			   "Message-ID: m1234\r\n"
			   "Content-Type: text/plain\r\n\r\n-------abcd1234$\r\n";
	size_t one = 1;
	feed_run(bare, strlen(bare), &one, 1, CPM_MSRP_STREAM, NULL, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.nmsgs, 1);
	assert_int_equal(r.msgs[0].body_len, 0);
}

/* Parse s in one go (stream mode); return the fatal reason or NULL. */
static const char *fatal_of(const char *s, const struct cpm_msrp_limits *lim, int *rc)
{
	static struct feed_run r;
	feed_run(s, strlen(s), NULL, 0, CPM_MSRP_STREAM, lim, &r);
	*rc = r.rc;
	return r.why;
}

static void test_framing_errors(void **state)
{
	(void)state;
	struct {
		const char *in;
		int rc;
		const char *why;
	} t[] = {
		{ "SIP/2.0 200 OK\r\n", CPM_EPARSE, "Not an MSRP message" },
		{ "MSR", 0, NULL },
		{ "msrp abcd SEND\r\n", CPM_EPARSE, "Not an MSRP message" },
		{ "MSRP abc SEND\r\n\r\n", CPM_EPARSE, "Bad transaction-id" },
		{ "MSRP -abc SEND\r\n\r\n", CPM_EPARSE, "Bad transaction-id" },
		{ "MSRP abcd_ SEND\r\n\r\n", CPM_EPARSE, "Bad transaction-id" },
		{ "MSRP 012345678901234567890123456789012 SEND\r\n\r\n", CPM_EPARSE,
		  "Bad transaction-id" },
		{ "MSRP abcd\r\n\r\n", CPM_EPARSE, "Bad start line" },
		{ "MSRP abcd send\r\n\r\n", CPM_EPARSE, "Bad method" },
		{ "MSRP abcd \r\n\r\n", CPM_EPARSE, "Bad method" },
		{ "MSRP abcd 20 OK\r\n\r\n", CPM_EPARSE, "Bad method" },
		{ "MSRP abcd 099 x\r\n\r\n", CPM_EPARSE, "Bad status line" },
		{ "MSRP abcd 200 O\x01K\r\n\r\n", CPM_EPARSE, "Bad status line" },
		{ "MSRP abcd SEND\n", CPM_EPARSE, "Bare LF" },
		{ "MSRP abcd SEND\r\nTo-Path: x\n", CPM_EPARSE, "Bare LF" },
		{ "MSRP abcd SEND\r\n-------abce$\r\n", CPM_EPARSE, "Bad end-line" },
		{ "MSRP abcd SEND\r\n-------abcd\r\n", CPM_EPARSE, "Bad end-line" },
		{ "MSRP abcd SEND\r\n-------abcd$ \r\n", CPM_EPARSE, "Bad end-line" },
		{ "MSRP abcd SEND\r\n-------abcd!\r\n", CPM_EPARSE, "Bad end-line" },
		{ "MSRP abcd SEND\r\nContent-Type: a/b\r\n\r\nx\r\n-------abcd$x\r\n",
		  CPM_EPARSE, "Bad end-line" },
		{ "MSRP abcd SEND\r\nContent-Type: a/b\r\n\r\n-------abcd+\n", CPM_EPARSE,
		  "Bad end-line" },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		int rc;
		const char *why = fatal_of(t[i].in, NULL, &rc);
		if (rc != t[i].rc || (t[i].why && (!why || strcmp(why, t[i].why))))
			fail_msg("case %zu: rc %d why %s", i, rc, why ? why : "(null)");
	}
	/* sticky, and the caller may not lose bytes */
	struct cpm_msrp_parser p;
	struct cpm_msrp_event ev;
	cpm_msrp_parser_init(&p, NULL, CPM_MSRP_STREAM);
	assert_int_equal(cpm_msrp_parse(&p, "MSRP ab", 7, &ev), CPM_MSRP_EV_NONE);
	assert_int_equal(cpm_msrp_parse(&p, "MSRP a", 6, &ev), CPM_EINVAL);
	assert_int_equal(cpm_msrp_parse(&p, "MSRP abcd", 9, &ev), CPM_EINVAL);
	assert_string_equal(p.err_reason, "Bytes lost between calls");
}

/* Header problems do not break the framing: the message is delivered
 * with err_reason (and 400 to answer a request). */
static void test_header_errors(void **state)
{
	(void)state;
	const char *to = "To-Path: msrp://b.example.com:1/s;tcp\r\n";
	const char *from = "From-Path: msrp://a.example.com:2/t;tcp\r\n";
	struct {
		const char *hdrs; /* after To-Path and From-Path */
		const char *why;
	} t[] = {
		{ "Message-ID: abc\r\n", "Bad Message-ID" },
		{ "Message-ID: m1234\r\nMessage-ID: m1235\r\n", "Multiple Message-ID" },
		{ "Message-ID: m1234\r\nByte-Range: 0-1/1\r\n", "Bad Byte-Range" },
		{ "Message-ID: m1234\r\nByte-Range: 3-1/4\r\n", "Bad Byte-Range" },
		{ "Message-ID: m1234\r\nByte-Range: 1-5/4\r\n", "Bad Byte-Range" },
		{ "Message-ID: m1234\r\nByte-Range: 1-2\r\n", "Bad Byte-Range" },
		{ "Message-ID: m1234\r\nByte-Range: 1-2/3x\r\n", "Bad Byte-Range" },
		{ "Message-ID: m1234\r\nByte-Range: 1-99999999999999999999999/*\r\n",
		  "Bad Byte-Range" },
		{ "Message-ID: m1234\r\nStatus: 000 20 OK\r\n", "Bad Status" },
		{ "Message-ID: m1234\r\nStatus: 0 200\r\n", "Bad Status" },
		{ "Message-ID: m1234\r\nSuccess-Report: partial\r\n", "Bad Success-Report" },
		{ "Message-ID: m1234\r\nFailure-Report: maybe\r\n", "Bad Failure-Report" },
		{ "Message-ID: m1234\r\nExpires: -1\r\n", "Bad Expires" },
		{ "Message-ID: m1234\r\nMin-Expires: 99999999999\r\n", "Bad Min-Expires" },
		{ "Message-ID: m1234\r\nMax-Expires: \r\n", "Bad Max-Expires" },
		{ "Message-ID: m1234\r\nUse-Path: http://x;tcp\r\n", "Bad Use-Path" },
		{ "Message-ID: m1234\r\nWWW-Authenticate: realm=\"x\"\r\n",
		  "Bad WWW-Authenticate" },
		{ "Message-ID: m1234\r\nAuthorization: Digest realm=\"x\r\n",
		  "Bad Authorization" },
		{ "Message-ID: m1234\r\nAuthentication-Info: Digest nc=1\r\n",
		  "Bad Authentication-Info" },
		{ "Message-ID: m1234\r\nContent-Type: text\r\n\r\n", "Bad Content-Type" },
		{ "Message-ID: m1234\r\nContent-Type: text/plain;\r\n\r\n", "Bad Content-Type" },
		{ "Message-ID: m1234\r\nContent-Type: a/b\r\nContent-Type: a/b\r\n\r\n",
		  "Multiple Content-Type" },
		{ "Message-ID: m1234\r\n\r\n", "Body without Content-Type" },
		{ "Message-ID: m1234\r\nX-\x01: y\r\n", "Control character in header" },
		{ "Message-ID: m1234\r\n1X: y\r\n", "Bad header line" },
		{ "Message-ID: m1234\r\nX y\r\n", "Bad header line" },
		{ "", "SEND without Message-ID" },
	};
	static char msg[1024];
	static struct feed_run r;
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		bool body = strstr(t[i].hdrs, "\r\n\r\n") != NULL;
		snprintf(msg, sizeof msg, "MSRP abcd SEND\r\n%s%s%s%s-------abcd$\r\n", to, from,
			 t[i].hdrs, body ? "x\r\n" : "");
		feed_run(msg, strlen(msg), NULL, 0, CPM_MSRP_STREAM, NULL, &r);
		if (r.rc != 0 || r.nmsgs != 1 || !r.msgs[0].err_reason ||
		    strcmp(r.msgs[0].err_reason, t[i].why) != 0)
			fail_msg("case %zu: rc %d (%s) n %d reason %s", i, r.rc,
				 r.why ? r.why : "", r.nmsgs,
				 r.msgs[0].err_reason ? r.msgs[0].err_reason : "(null)");
		assert_int_equal(r.msgs[0].err_status, 400);
	}
	struct {
		const char *in;
		const char *why;
		int status;
	} u[] = {
		{ "MSRP abcd SEND\r\nFrom-Path: msrp://a.example.com/t;tcp\r\n"
		  "Message-ID: m1234\r\n-------abcd$\r\n", "Missing To-Path", 400 },
		{ "MSRP abcd SEND\r\nTo-Path: msrp://a.example.com/t;tcp\r\n"
		  "Message-ID: m1234\r\n-------abcd$\r\n", "Missing From-Path", 400 },
		{ "MSRP abcd SEND\r\nTo-Path: msrp://a.example.com/t;tcp\r\n"
		  "To-Path: msrp://a.example.com/t;tcp\r\n-------abcd$\r\n",
		  "Multiple To-Path", 400 },
		{ "MSRP abcd SEND\r\nTo-Path: msrp://a.example.com/t\r\n-------abcd$\r\n",
		  "Bad To-Path", 400 },
		{ "MSRP abcd SEND\r\nTo-Path: msrp://a/t;tcp\r\nFrom-Path: \r\n-------abcd$\r\n",
		  "Bad From-Path", 400 },
		{ "MSRP abcd REPORT\r\nTo-Path: msrp://a/t;tcp\r\nFrom-Path: msrp://b/u;tcp\r\n"
		  "Status: 000 200 OK\r\n-------abcd$\r\n", "REPORT without Message-ID", 400 },
		{ "MSRP abcd REPORT\r\nTo-Path: msrp://a/t;tcp\r\nFrom-Path: msrp://b/u;tcp\r\n"
		  "Message-ID: m1234\r\n-------abcd$\r\n", "REPORT without Status", 400 },
		{ "MSRP abcd 200 OK\r\nTo-Path: msrp://a/t;tcp\r\nFrom-Path: msrp://b/u;tcp\r\n"
		  "Content-Type: a/b\r\n\r\nx\r\n-------abcd$\r\n", "Body in response", 0 },
		{ "MSRP abcd 200 OK\r\nTo-Path: msrp://a/t;tcp\r\n-------abcd$\r\n",
		  "Missing From-Path", 0 },
	};
	for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
		feed_run(u[i].in, strlen(u[i].in), NULL, 0, CPM_MSRP_STREAM, NULL, &r);
		if (r.rc != 0 || r.nmsgs != 1 || !r.msgs[0].err_reason ||
		    strcmp(r.msgs[0].err_reason, u[i].why) != 0)
			fail_msg("case u%zu: rc %d n %d reason %s", i, r.rc, r.nmsgs,
				 r.msgs[0].err_reason ? r.msgs[0].err_reason : "(null)");
		assert_int_equal(r.msgs[0].err_status, u[i].status);
	}
	/* an unknown method and extension headers are fine */
	const char *ext = "MSRP abcd NICKNAME\r\nTo-Path: msrp://a/t;tcp\r\n"
			  "From-Path: msrp://b/u;tcp\r\nUse-Nickname: \"Alice\"\r\n"
			  "Content-ID: <x@y>\r\n-------abcd$\r\n";
	feed_run(ext, strlen(ext), NULL, 0, CPM_MSRP_STREAM, NULL, &r);
	assert_int_equal(r.nmsgs, 1);
	assert_null(r.msgs[0].err_reason);
	assert_int_equal(r.msgs[0].method, CPM_MSRP_OTHER);
}

static void test_limits(void **state)
{
	(void)state;
	struct cpm_msrp_limits lim;
	cpm_msrp_limits_default(&lim);
	assert_int_equal(lim.max_head, 16384);
	assert_int_equal(lim.max_hdrs, 32);
	assert_int_equal(lim.max_chunk, 1024 * 1024);
	int rc;
	size_t n = strlen(send1);
	/* header section: the same verdict whatever the read sizes */
	lim.max_head = 150;
	assert_string_equal(fatal_of(send1, &lim, &rc), "Header section too large");
	assert_int_equal(rc, CPM_ELIMIT);
	static struct feed_run r;
	size_t one = 1;
	feed_run(send1, n, &one, 1, CPM_MSRP_STREAM, &lim, &r);
	assert_int_equal(r.rc, CPM_ELIMIT);
	lim.max_head = 212; /* exactly the header section with its empty line */
	feed_run(send1, n, &one, 1, CPM_MSRP_STREAM, &lim, &r);
	assert_int_equal(r.rc, 0);
	lim.max_head = 211;
	feed_run(send1, n, &one, 1, CPM_MSRP_STREAM, &lim, &r);
	assert_int_equal(r.rc, CPM_ELIMIT);
	/* header count */
	cpm_msrp_limits_default(&lim);
	lim.max_hdrs = 4;
	assert_string_equal(fatal_of(send1, &lim, &rc), "Too many header fields");
	assert_int_equal(rc, CPM_ELIMIT);
	lim.max_hdrs = 5;
	assert_null(fatal_of(send1, &lim, &rc));
	/* chunk size: whole mode only */
	cpm_msrp_limits_default(&lim);
	lim.max_chunk = strlen(body1) - 1;
	feed_run(send1, n, NULL, 0, CPM_MSRP_WHOLE, &lim, &r);
	assert_int_equal(r.rc, CPM_ELIMIT);
	assert_string_equal(r.why, "Chunk too large");
	feed_run(send1, n, &one, 1, CPM_MSRP_WHOLE, &lim, &r);
	assert_int_equal(r.rc, CPM_ELIMIT);
	feed_run(send1, n, NULL, 0, CPM_MSRP_STREAM, &lim, &r);
	assert_int_equal(r.rc, 0);
	lim.max_chunk = strlen(body1);
	feed_run(send1, n, &one, 1, CPM_MSRP_WHOLE, &lim, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.msgs[0].body_len, strlen(body1));
}

/* WHOLE mode keeps every slice valid until END; msg_parse reports a
 * partial message as 0. */
static void test_whole_mode(void **state)
{
	(void)state;
	struct cpm_msrp_parser p;
	struct cpm_msrp_event ev;
	size_t n = strlen(send1);
	cpm_msrp_parser_init(&p, NULL, CPM_MSRP_WHOLE);
	assert_int_equal(cpm_msrp_parse(&p, send1, n, &ev), CPM_MSRP_EV_HEADERS);
	assert_int_equal(ev.used, 0);
	assert_int_equal(cpm_msrp_parse(&p, send1, n, &ev), CPM_MSRP_EV_BODY);
	assert_int_equal(ev.used, 0);
	assert_true(ev.data.s > send1 && ev.data.len == strlen(body1));
	assert_int_equal(cpm_msrp_parse(&p, send1, n, &ev), CPM_MSRP_EV_END);
	assert_int_equal(ev.used, n);
	assert_int_equal(ev.flag, '$');
	assert_true(cpm_str_eq_cstr(p.msg.message_id, "87652491"));
	assert_int_equal(p.body_len, 0); /* reset for the next message */

	static struct cpm_msrp_msg m;
	struct cpm_str body;
	char flag;
	size_t used;
	for (size_t cut = 0; cut < n; cut++)
		assert_int_equal(cpm_msrp_msg_parse(send1, cut, NULL, &m, &body, &flag, &used,
						    NULL), 0);
	const char *why = NULL;
	assert_int_equal(cpm_msrp_msg_parse("GET / HTTP/1.1\r\n", 16, NULL, &m, &body, &flag,
					    &used, &why), CPM_EPARSE);
	assert_string_equal(why, "Not an MSRP message");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4975_send_and_ok),
		cmocka_unit_test(test_chunks_and_report),
		cmocka_unit_test(test_rfc4976_auth),
		cmocka_unit_test(test_split_everywhere),
		cmocka_unit_test(test_endline_split),
		cmocka_unit_test(test_body_lookalikes),
		cmocka_unit_test(test_framing_errors),
		cmocka_unit_test(test_header_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_whole_mode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
