/* msrp: printing — SEND chunks with each flag, REPORT, AUTH, every
 * response code the session layer sends with the path swap of RFC 4975
 * §7.2, fresh ids; each printed message parses back to the same values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msrp/msrp.h"

static struct cpm_str S(const char *s)
{
	return cpm_str_from_cstr(s);
}

static struct cpm_msrp_msg back;

/* Parse b as one whole message; returns its body. */
static struct cpm_str parse_back(const struct cpm_buf *b, char *flag)
{
	struct cpm_str body;
	size_t used = 0;
	const char *why = NULL;
	int rc = cpm_msrp_msg_parse(b->p, b->len, NULL, &back, &body, flag, &used, &why);
	if (rc != 1)
		fail_msg("printed message does not parse (%d %s):\n%s", rc, why ? why : "", b->p);
	assert_int_equal(used, b->len);
	if (back.err_reason)
		fail_msg("printed message has a bad header (%s):\n%s", back.err_reason, b->p);
	return body;
}

static void test_send(void **state)
{
	(void)state;
	struct cpm_buf b;
	cpm_buf_init(&b, 4096);
	struct cpm_msrp_send s = {
		.tid = S("a786hjs2"),
		.to_path = S("msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp"),
		.from_path = S("msrp://atlanta.example.com:7654/jshA7weztas;tcp"),
		.message_id = S("87652491"),
		.has_range = true,
		.range = { .start = 1, .end = 25, .total = 25 },
		.content_type = S("text/plain"),
		.body = S("Hey Bob, are you there?\r\n"),
		.flag = '$',
	};
	assert_int_equal(cpm_msrp_print_send(&b, &s), 0);
	assert_string_equal(b.p,
			    "MSRP a786hjs2 SEND\r\n"
			    "To-Path: msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp\r\n"
			    "From-Path: msrp://atlanta.example.com:7654/jshA7weztas;tcp\r\n"
			    "Message-ID: 87652491\r\n"
			    "Byte-Range: 1-25/25\r\n"
			    "Content-Type: text/plain\r\n"
			    "\r\n"
			    "Hey Bob, are you there?\r\n"
			    "\r\n"
			    "-------a786hjs2$\r\n");
	char flag;
	struct cpm_str body = parse_back(&b, &flag);
	assert_true(cpm_str_eq(body, s.body));
	assert_int_equal(flag, '$');

	/* each flag, reports, unknown range end */
	const char flags[] = { '+', '#', '$' };
	for (int i = 0; i < 3; i++) {
		cpm_buf_reset(&b);
		s.flag = flags[i];
		s.range = (struct cpm_msrp_range){ .start = 26, .end_star = true, .total_star = true };
		s.success_report = CPM_MSRP_REP_YES;
		s.failure_report = CPM_MSRP_REP_PARTIAL;
		s.body = S("-------a786hjs2 but no flag; \r\n-------a786hjs3$");
		assert_int_equal(cpm_msrp_print_send(&b, &s), 0);
		body = parse_back(&b, &flag);
		assert_int_equal(flag, flags[i]);
		assert_true(cpm_str_eq(body, s.body));
		assert_true(back.range.end_star && back.range.total_star);
		assert_int_equal(back.range.start, 26);
		assert_int_equal(back.success_report, CPM_MSRP_REP_YES);
		assert_int_equal(back.failure_report, CPM_MSRP_REP_PARTIAL);
	}

	/* the empty SEND that binds a connection (R66) */
	cpm_buf_reset(&b);
	s.body = s.content_type = CPM_STR_NULL;
	s.success_report = s.failure_report = CPM_MSRP_REP_ABSENT;
	s.range = (struct cpm_msrp_range){ .start = 1, .end = 0, .total = 0 };
	s.flag = '$';
	assert_int_equal(cpm_msrp_print_send(&b, &s), 0);
	body = parse_back(&b, &flag);
	assert_false(back.has_body);
	assert_non_null(strstr(b.p, "Byte-Range: 1-0/0\r\n-------a786hjs2$\r\n"));

	/* refused: the body holds its end-line, bad ids, injection, flags */
	struct cpm_msrp_send bad = s;
	bad.content_type = S("text/plain");
	bad.body = S("x\r\n-------a786hjs2+\r\ny");
	assert_int_equal(cpm_msrp_print_send(&b, &bad), CPM_EINVAL);
	bad.body = S("-------a786hjs2#");
	assert_int_equal(cpm_msrp_print_send(&b, &bad), CPM_EINVAL);
	bad = s;
	bad.tid = S("abc");
	assert_int_equal(cpm_msrp_print_send(&b, &bad), CPM_EINVAL);
	bad = s;
	bad.message_id = S("m 1234");
	assert_int_equal(cpm_msrp_print_send(&b, &bad), CPM_EINVAL);
	bad = s;
	bad.to_path = S("msrp://a/b;tcp\r\nX-Evil: 1");
	assert_int_equal(cpm_msrp_print_send(&b, &bad), CPM_EINVAL);
	bad = s;
	bad.from_path = S("  ");
	assert_int_equal(cpm_msrp_print_send(&b, &bad), CPM_EINVAL);
	bad = s;
	bad.flag = '!';
	assert_int_equal(cpm_msrp_print_send(&b, &bad), CPM_EINVAL);
	bad = s;
	bad.body = S("x"); /* a body needs a Content-Type */
	assert_int_equal(cpm_msrp_print_send(&b, &bad), CPM_EINVAL);
	bad = s;
	bad.success_report = CPM_MSRP_REP_PARTIAL;
	assert_int_equal(cpm_msrp_print_send(&b, &bad), CPM_EINVAL);
	bad = s;
	bad.range = (struct cpm_msrp_range){ .start = 0, .end = 1, .total = 1 };
	assert_int_equal(cpm_msrp_print_send(&b, &bad), CPM_EINVAL);
	bad.range = (struct cpm_msrp_range){ .start = 1, .end = 5, .total = 4 };
	assert_int_equal(cpm_msrp_print_send(&b, &bad), CPM_EINVAL);
	cpm_buf_free(&b);

	/* a full buffer */
	struct cpm_buf small;
	cpm_buf_init(&small, 30);
	assert_int_equal(cpm_msrp_print_send(&small, &s), CPM_ETOOBIG);
	cpm_buf_free(&small);
}

/* A streaming relay prints the head, then the body as it comes, then the
 * end-line: the pieces together parse as one message. */
static void test_send_in_pieces(void **state)
{
	(void)state;
	struct cpm_buf b;
	cpm_buf_init(&b, 4096);
	struct cpm_str tid = S("Zx81.ab");
	assert_int_equal(cpm_msrp_print_req_start(&b, tid, "SEND", S("msrp://b/s;tcp"),
						  S("msrp://r/q;tcp msrp://a/t;tcp")), 0);
	assert_int_equal(cpm_msrp_print_hdr(&b, "Message-ID", S("m-1")), CPM_OK);
	assert_int_equal(cpm_msrp_print_body_start(&b, S("message/cpim")), 0);
	assert_int_equal(cpm_buf_puts(&b, "part one, "), 0);
	assert_int_equal(cpm_buf_puts(&b, "part two"), 0);
	assert_int_equal(cpm_msrp_print_end_line(&b, tid, '+', true), 0);
	char flag;
	struct cpm_str body;
	size_t used;
	static struct cpm_msrp_msg m;
	assert_int_equal(cpm_msrp_msg_parse(b.p, b.len, NULL, &m, &body, &flag, &used, NULL), 1);
	assert_true(cpm_str_eq_cstr(body, "part one, part two"));
	assert_int_equal(flag, '+');
	/* Message-ID "m-1" is too short for an ident: reported, not fatal */
	assert_string_equal(m.err_reason, "Bad Message-ID");
	assert_int_equal(cpm_msrp_print_body_start(&b, CPM_STR_NULL), CPM_EINVAL);
	assert_int_equal(cpm_msrp_print_req_start(&b, tid, "send", S("msrp://b/s;tcp"),
						  S("msrp://a/t;tcp")), CPM_EINVAL);
	assert_int_equal(cpm_msrp_print_req_start(&b, tid, "", S("msrp://b/s;tcp"),
						  S("msrp://a/t;tcp")), CPM_EINVAL);
	assert_int_equal(cpm_msrp_print_hdr(&b, "X", S("a\nb")), CPM_EINVAL);
	cpm_buf_free(&b);
}

static void test_report_and_auth(void **state)
{
	(void)state;
	struct cpm_buf b;
	cpm_buf_init(&b, 4096);
	struct cpm_msrp_report r = {
		.tid = S("dkei38sd"),
		.to_path = S("msrp://alicepc.example.com:7777/iau39soe2843z;tcp"),
		.from_path = S("msrp://bobpc.example.com:8888/9di4eae923wzd;tcp"),
		.message_id = S("12339sdqwer"),
		.range = { .start = 1, .end = 106, .total = 106 },
		.status = { .ns = 0, .code = 200, .reason = S("OK") },
	};
	assert_int_equal(cpm_msrp_print_report(&b, &r), 0);
	assert_string_equal(b.p,
			    "MSRP dkei38sd REPORT\r\n"
			    "To-Path: msrp://alicepc.example.com:7777/iau39soe2843z;tcp\r\n"
			    "From-Path: msrp://bobpc.example.com:8888/9di4eae923wzd;tcp\r\n"
			    "Message-ID: 12339sdqwer\r\n"
			    "Byte-Range: 1-106/106\r\n"
			    "Status: 000 200 OK\r\n"
			    "-------dkei38sd$\r\n");
	char flag;
	parse_back(&b, &flag);
	assert_int_equal(back.method, CPM_MSRP_REPORT);
	assert_int_equal(back.status.code, 200);

	cpm_buf_reset(&b);
	r.status = (struct cpm_msrp_status){ .ns = 7, .code = 481 };
	assert_int_equal(cpm_msrp_print_report(&b, &r), 0);
	assert_non_null(strstr(b.p, "Status: 007 481\r\n"));
	parse_back(&b, &flag);
	assert_int_equal(back.status.ns, 7);
	r.status.code = 99;
	assert_int_equal(cpm_msrp_print_report(&b, &r), CPM_EINVAL);
	r.status = (struct cpm_msrp_status){ .ns = 0, .code = 200, .reason = S("a\rb") };
	assert_int_equal(cpm_msrp_print_report(&b, &r), CPM_EINVAL);

	/* RFC 4976 §5.1: AUTH without, then with credentials */
	cpm_buf_reset(&b);
	struct cpm_msrp_auth_req a = {
		.tid = S("49fh"),
		.to_path = S("msrps://alice@intra.example.com;tcp"),
		.from_path = S("msrps://alice.example.com:9892/98cjs;tcp"),
		.expires = -1,
	};
	assert_int_equal(cpm_msrp_print_auth(&b, &a), 0);
	assert_string_equal(b.p, "MSRP 49fh AUTH\r\n"
				 "To-Path: msrps://alice@intra.example.com;tcp\r\n"
				 "From-Path: msrps://alice.example.com:9892/98cjs;tcp\r\n"
				 "-------49fh$\r\n");
	parse_back(&b, &flag);
	assert_int_equal(back.method, CPM_MSRP_AUTH);
	cpm_buf_reset(&b);
	a.tid = S("49fi");
	a.authorization = S("Digest username=\"Alice\", realm=\"intra.example.com\", "
			    "nonce=\"dcd98b71\", qop=auth, nc=00000001, cnonce=\"0a4f113b\", "
			    "response=\"6629fae49393a05397450978507c4ef1\"");
	a.expires = 900;
	assert_int_equal(cpm_msrp_print_auth(&b, &a), 0);
	parse_back(&b, &flag);
	assert_int_equal(back.expires, 900);
	struct cpm_msrp_auth au;
	assert_int_equal(cpm_msrp_auth_parse(cpm_msrp_msg_hdr(&back, CPM_MSRP_H_AUTHORIZATION)->value,
					     &au), 0);
	assert_true(cpm_str_eq_cstr(au.nonce, "dcd98b71"));
	cpm_buf_free(&b);
}

/* §7.2: a response's To-Path is the previous hop (the first From-Path
 * URI of the request), its From-Path the responder (the first To-Path
 * URI), for every code the session layer sends. */
static void test_responses(void **state)
{
	(void)state;
	static const char req[] =
		"MSRP juh76 SEND\r\n"
		"To-Path: msrps://bob.example.net:8145/foo;tcp\r\n"
		"From-Path: msrps://a.example.org:9000/kjfjan;tcp "
		"msrps://alice.example.com:9892/98cjs;tcp\r\n"
		"Message-ID: 87652\r\n"
		"Byte-Range: 1-2/2\r\n"
		"Content-Type: text/plain\r\n\r\nHi\r\n"
		"-------juh76$\r\n";
	static struct cpm_msrp_msg m;
	struct cpm_str body;
	char flag;
	size_t used;
	assert_int_equal(cpm_msrp_msg_parse(req, strlen(req), NULL, &m, &body, &flag, &used, NULL),
			 1);
	struct {
		int code;
		const char *comment;
	} t[] = {
		{ 200, "OK" },
		{ 400, "Bad Request" },
		{ 403, "Forbidden" },
		{ 408, "Request Timeout" },
		{ 413, "Stop Sending Message" },
		{ 415, "Unsupported Media Type" },
		{ 423, "Interval Out-of-Bounds" },
		{ 481, "Session Does Not Exist" },
		{ 501, "Not Implemented" },
		{ 506, "Session Already Bound" },
		{ 401, "Unauthorized" },
	};
	struct cpm_buf b;
	cpm_buf_init(&b, 4096);
	char want[512];
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		cpm_buf_reset(&b);
		assert_string_equal(cpm_msrp_comment(t[i].code), t[i].comment);
		assert_int_equal(cpm_msrp_print_response(&b, &m, t[i].code, NULL), 0);
		snprintf(want, sizeof want,
			 "MSRP juh76 %d %s\r\n"
			 "To-Path: msrps://a.example.org:9000/kjfjan;tcp\r\n"
			 "From-Path: msrps://bob.example.net:8145/foo;tcp\r\n"
			 "-------juh76$\r\n",
			 t[i].code, t[i].comment);
		assert_string_equal(b.p, want);
		parse_back(&b, &flag);
		assert_int_equal(back.code, t[i].code);
		assert_false(back.is_request);
		assert_true(cpm_str_eq_cstr(back.comment, t[i].comment));
	}
	assert_string_equal(cpm_msrp_comment(299), "");
	/* an unknown code has no default comment; a custom one; the relay's
	 * 200 to AUTH carries Use-Path and Expires (RFC 4976 §5.1) */
	cpm_buf_reset(&b);
	assert_int_equal(cpm_msrp_print_response(&b, &m, 299, NULL), 0);
	assert_true(strncmp(b.p, "MSRP juh76 299\r\n", 16) == 0);
	parse_back(&b, &flag);
	assert_int_equal(back.comment.len, 0);
	cpm_buf_reset(&b);
	assert_int_equal(cpm_msrp_print_resp_start(&b, S("49fi"), 200, "Fine", S("msrps://r;tcp"),
						   S("msrps://a/x;tcp")), 0);
	assert_int_equal(cpm_msrp_print_hdr(&b, "Use-Path", S("msrps://r:2855/h;tcp")), 0);
	assert_int_equal(cpm_msrp_print_hdr(&b, "Expires", S("900")), 0);
	assert_int_equal(cpm_msrp_print_end_line(&b, S("49fi"), '$', false), 0);
	parse_back(&b, &flag);
	assert_true(cpm_str_eq_cstr(back.comment, "Fine"));
	assert_true(cpm_str_eq_cstr(back.use_path, "msrps://r:2855/h;tcp"));
	assert_true(cpm_str_eq_cstr(back.to_path, "msrps://a/x;tcp"));

	assert_int_equal(cpm_msrp_print_response(&b, &m, 99, NULL), CPM_EINVAL);
	assert_int_equal(cpm_msrp_print_response(&b, &m, 1000, NULL), CPM_EINVAL);
	assert_int_equal(cpm_msrp_print_response(&b, &m, 200, "a\nb"), CPM_EINVAL);
	char longc[200];
	memset(longc, 'x', sizeof longc - 1);
	longc[sizeof longc - 1] = '\0';
	assert_int_equal(cpm_msrp_print_response(&b, &m, 200, longc), CPM_EINVAL);
	assert_int_equal(cpm_msrp_print_resp_start(&b, S("49fi"), 200, NULL, S(""),
						   S("msrps://a/x;tcp")), CPM_EINVAL);
	cpm_buf_free(&b);
}

static void test_ids(void **state)
{
	(void)state;
	char t1[CPM_MSRP_TID_LEN + 1], t2[CPM_MSRP_TID_LEN + 1];
	char m1[CPM_MSRP_MSGID_LEN + 1];
	assert_int_equal(cpm_msrp_tid_new(t1), 0);
	assert_int_equal(cpm_msrp_tid_new(t2), 0);
	assert_int_equal(cpm_msrp_msgid_new(m1), 0);
	assert_int_equal(strlen(t1), CPM_MSRP_TID_LEN);
	assert_int_equal(strlen(m1), CPM_MSRP_MSGID_LEN);
	assert_true(cpm_msrp_ident_valid(S(t1)));
	assert_true(cpm_msrp_ident_valid(S(m1)));
	assert_string_not_equal(t1, t2);

	assert_false(cpm_msrp_body_has_endline(S("-------abcd"), S("abcd")));
	assert_true(cpm_msrp_body_has_endline(S("-------abcd$"), S("abcd")));
	assert_true(cpm_msrp_body_has_endline(S("x-------abcd#y"), S("abcd")));
	assert_false(cpm_msrp_body_has_endline(S("x-------abcde$"), S("abcd")));
	assert_false(cpm_msrp_body_has_endline(S("------abcd$"), S("abcd")));
	assert_true(cpm_msrp_body_has_endline(S("--------abcd+"), S("abcd")));
	assert_false(cpm_msrp_body_has_endline(CPM_STR_NULL, S("abcd")));
	/* dashes everywhere, the end-line last; a flag just past the body */
	char many[600];
	memset(many, '-', sizeof many);
	memcpy(many + sizeof many - 5, "abcd$", 5);
	assert_true(cpm_msrp_body_has_endline((struct cpm_str){ many, sizeof many }, S("abcd")));
	assert_false(cpm_msrp_body_has_endline((struct cpm_str){ many, sizeof many - 1 }, S("abcd")));
	memcpy(many + sizeof many - 5, "abcd-", 5);
	assert_false(cpm_msrp_body_has_endline((struct cpm_str){ many, sizeof many }, S("abcd")));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_send),
		cmocka_unit_test(test_send_in_pieces),
		cmocka_unit_test(test_report_and_auth),
		cmocka_unit_test(test_responses),
		cmocka_unit_test(test_ids),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
