/* cli: message formats — RFC 1123 dates (RFC 3261 §20.17), IMDN documents
 * (RFC 5438 §7.2.1, with namespace prefixes, entities, CDATA, comments and
 * the malformed cases), pick-up notices (RFC 4483), the message/cpim body of send --report read back
 * by the server's own indicator parser (src/im), and what listen decides
 * about a received MESSAGE (stored or not, report or not, the report
 * line).
 *
 * The cli sources are included directly, as in test_cli.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "im/im.h"
#include "pres/pres.h"

#define CPM_CLI_TEST 1
#include "../../../src/cli/cli_auth.c"
#include "../../../src/cli/cli_main.c"
#include "../../../src/cli/cli_msg.c"
#include "../../../src/cli/cli_ua.c"
#include "../../../src/cli/cli_http.c"
#include "../../../src/cli/cli_cmd.c"
#include "../../../src/cli/cli_inbox.c"
#include "../../../src/cli/cli_watchers.c"

/* ---------------------------------------------------------------- dates */

static void test_date_parse(void **state)
{
	int64_t t;
	char out[40];

	assert_int_equal(cpm_cli_date_parse(CPM_STR("Mon, 30 Nov 2026 03:03:58 GMT"), &t), 0);
	assert_int_equal(t, 1796007838);
	/* RFC 9110 §5.6.7's example */
	assert_int_equal(cpm_cli_date_parse(CPM_STR("Sun, 06 Nov 1994 08:49:37 GMT"), &t), 0);
	assert_int_equal(t, 784111777);
	/* no week day, one-digit day, UTC, surrounding space */
	assert_int_equal(cpm_cli_date_parse(CPM_STR("  6 Nov 1994 08:49:37 UTC "), &t), 0);
	assert_int_equal(t, 784111777);
	assert_int_equal(cpm_cli_date_parse(CPM_STR("Thu, 29 Feb 2024 23:59:59 +0000"), &t), 0);
	assert_int_equal(t, 1709251199);

	static const char *const bad[] = {
		"",
		"Mon, 30 Nov 2026",
		"Mon, 30 Foo 2026 03:03:58 GMT",
		"Mon, 31 Feb 2026 03:03:58 GMT", /* no such day */
		"Mon, 30 Nov 2026 24:00:00 GMT",
		"Mon, 30 Nov 2026 03:03:58 CET",
		"Mon, 30 Nov 2026 03:03:58 GMTX",
		"Mon, 30 Nov 1969 03:03:58 GMT",
		"Mon, 30 Nov 2026 3-03-58 GMT",
		"2026-11-30T03:03:58Z",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(cpm_cli_date_parse(cpm_str_from_cstr(bad[i]), &t), CPM_EPARSE);

	cpm_cli_date_format(1796007838, ' ', out, sizeof out);
	assert_string_equal(out, "2026-11-30 03:03:58Z");
	cpm_cli_date_format(784111777, 'T', out, sizeof out);
	assert_string_equal(out, "1994-11-06T08:49:37Z");
}

/* ------------------------------------------------------------------ IMDN */

/* What cpmd sends (src/im/im_ctl.c report_send). */
static const char server_imdn[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<imdn xmlns=\"urn:ietf:params:xml:ns:imdn\">\n"
	"<message-id>fe83fde61f48b0ad79f72027</message-id>\n"
	"<datetime>2026-11-30T03:03:52Z</datetime>\n"
	"<recipient-uri>sip:bob@example.test</recipient-uri>\n"
	"<original-recipient-uri>sip:bob@example.test</original-recipient-uri>\n"
	"<delivery-notification><status><delivered/></status></delivery-notification>\n"
	"</imdn>\n";

static void test_imdn_parse(void **state)
{
	struct cpm_cli_imdn d;

	assert_int_equal(cpm_cli_imdn_parse(cpm_str_from_cstr(server_imdn), &d), 0);
	assert_string_equal(d.message_id, "fe83fde61f48b0ad79f72027");
	assert_string_equal(d.datetime, "2026-11-30T03:03:52Z");
	assert_string_equal(d.recipient, "sip:bob@example.test");
	assert_string_equal(d.notification, "delivery");
	assert_string_equal(d.status, "delivered");
	assert_true(cpm_cli_imdn_positive(&d));
	assert_true(cpm_cli_imdn_final(&d));

	/* RFC 5438 §7.2.1.1's layout: indentation, a line break inside a
	 * start tag, only the original recipient */
	static const char rfc[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
		"<imdn xmlns=\"urn:ietf:params:xml:ns:imdn\">\r\n"
		"     <message-id>34jk324j</message-id>\r\n"
		"     <datetime>2008-04-04T12:16:49-05:00</datetime>\r\n"
		"     <original-recipient-uri\r\n"
		"        >im:bob@example.com</original-recipient-uri>\r\n"
		"     <delivery-notification>\r\n"
		"        <status>\r\n"
		"           <failed/>\r\n"
		"        </status>\r\n"
		"     </delivery-notification>\r\n"
		"</imdn>\r\n";
	assert_int_equal(cpm_cli_imdn_parse(cpm_str_from_cstr(rfc), &d), 0);
	assert_string_equal(d.message_id, "34jk324j");
	assert_string_equal(d.recipient, "im:bob@example.com");
	assert_string_equal(d.status, "failed");
	assert_false(cpm_cli_imdn_positive(&d));
	assert_true(cpm_cli_imdn_final(&d));

	/* a namespace prefix, comments, entities, CDATA, attributes with
	 * '>' in quotes, a spaced empty element; processing/stored is not
	 * final */
	static const char prefixed[] =
		"<i:imdn xmlns:i='urn:ietf:params:xml:ns:imdn' x=\"a>b\"><!-- <no> -->"
		"<i:message-id> a&amp;b&#x41;&#66;<![CDATA[<x>]]> </i:message-id>"
		"<i:recipient-uri>sip:bob@example.test</i:recipient-uri>"
		"<i:processing-notification><i:status><i:stored /></i:status>"
		"</i:processing-notification></i:imdn>";
	assert_int_equal(cpm_cli_imdn_parse(cpm_str_from_cstr(prefixed), &d), 0);
	assert_string_equal(d.message_id, "a&bAB<x>");
	assert_string_equal(d.notification, "processing");
	assert_string_equal(d.status, "stored");
	assert_true(cpm_cli_imdn_positive(&d));
	assert_false(cpm_cli_imdn_final(&d));

	/* nothing to report */
	assert_int_equal(cpm_cli_imdn_parse(CPM_STR("<imdn><message-id>x</message-id></imdn>"),
					    &d),
			 CPM_ENOTFOUND);
	assert_int_equal(cpm_cli_imdn_parse(
				 CPM_STR("<imdn><delivery-notification><status><delivered/>"
					 "</status></delivery-notification></imdn>"),
				 &d),
			 CPM_ENOTFOUND);

	static const char *const bad[] = {
		"",
		"just text",
		"<foo/>",
		"<imdn><message-id>x</imdn>",	       /* mismatched */
		"<imdn><message-id>x</message-id>",    /* unclosed */
		"<imdn/><imdn/>",		       /* two roots */
		"<!DOCTYPE imdn [<!ENTITY a \"b\">]><imdn/>",
		"<imdn><message-id>&bogus;</message-id></imdn>",
		"<imdn><message-id>&#0;</message-id></imdn>",
		"<imdn><message-id x=\"unterminated></message-id></imdn>",
		"<imdn><!-- never closed </imdn>",
		"<imdn></>",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(cpm_cli_imdn_parse(cpm_str_from_cstr(bad[i]), &d), CPM_EPARSE);

	/* nesting is bounded */
	char deep[400] = "<imdn>";
	for (int i = 0; i < 20; i++)
		strcat(deep, "<a>");
	assert_int_equal(cpm_cli_imdn_parse(cpm_str_from_cstr(deep), &d), CPM_EPARSE);
	/* a message-id longer than the field is refused, not cut */
	char longid[600] = "<imdn><message-id>";
	memset(longid + strlen(longid), 'x', 300);
	strcat(longid, "</message-id><delivery-notification><status><delivered/></status>"
		       "</delivery-notification></imdn>");
	assert_int_equal(cpm_cli_imdn_parse(cpm_str_from_cstr(longid), &d), CPM_EPARSE);
}

/* ------------------------------------------------------------------ CPIM */

static const struct cpm_sip_msg *parse_sip(const char *text)
{
	static struct cpm_sip_msg m;
	static char copy[8192];
	struct cpm_sip_limits lim;
	snprintf(copy, sizeof copy, "%s", text);
	cpm_sip_limits_default(&lim);
	assert_int_equal(cpm_sip_msg_parse(&m, copy, strlen(copy), CPM_SIP_DATAGRAM, &lim), 0);
	return &m;
}

/* A MESSAGE with body of type ctype and extra header lines. */
static const struct cpm_sip_msg *message(const char *ctype, const char *extra,
					 struct cpm_str body)
{
	static char text[8192];
	snprintf(text, sizeof text,
		 "MESSAGE sip:bob@example.test SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx1\r\n"
		 "Max-Forwards: 70\r\n"
		 "From: <sip:alice@example.test>;tag=1\r\n"
		 "To: <sip:bob@example.test>\r\n"
		 "Call-ID: c1@test\r\n"
		 "CSeq: 1 MESSAGE\r\n"
		 "%s"
		 "Content-Type: %s\r\n"
		 "Content-Length: %zu\r\n"
		 "\r\n"
		 "%.*s",
		 extra, ctype, body.len, CPM_STR_FMT(body));
	return parse_sip(text);
}

static void test_cpim_read_by_server(void **state)
{
	struct cpm_buf b;
	struct cpm_im_indicators ind;

	cpm_buf_init(&b, 8192);
	assert_int_equal(cpm_cli_cpim_build(&b, "sip:alice@example.test",
					    "sip:bob@example.test", "0123456789abcdef01234567",
					    "positive-delivery, negative-delivery, processing",
					    "text/plain;charset=UTF-8", CPM_STR("hello\r\nbob"),
					    1796007838),
			 0);
	assert_string_equal(b.p,
			    "From: <sip:alice@example.test>\r\n"
			    "To: <sip:bob@example.test>\r\n"
			    "DateTime: 2026-11-30T03:03:58Z\r\n"
			    "NS: imdn <urn:ietf:params:imdn>\r\n"
			    "imdn.Message-ID: 0123456789abcdef01234567\r\n"
			    "imdn.Disposition-Notification: positive-delivery, "
			    "negative-delivery, processing\r\n"
			    "\r\n"
			    "Content-Type: text/plain;charset=UTF-8\r\n"
			    "\r\n"
			    "hello\r\nbob");

	/* the server reads the same request for reports and the id */
	const struct cpm_sip_msg *m = message("message/cpim", "", cpm_buf_str(&b));
	memset(&ind, 0, sizeof ind);
	assert_int_equal(cpm_im_indicators_parse(m, &ind), 0);
	assert_true(ind.seen & CPM_IM_SEEN_IMDN_POSITIVE);
	assert_true(ind.seen & CPM_IM_SEEN_IMDN_NEGATIVE);
	assert_true(ind.seen & CPM_IM_SEEN_IMDN_PROCESSING);
	assert_false(ind.seen & CPM_IM_SEEN_IMDN_DISPLAY);
	assert_true(cpm_str_eq_cstr(ind.message_id, "0123456789abcdef01234567"));
	assert_true(cpm_str_eq_cstr(ind.payload_type, "text/plain"));

	/* and listen unwraps it */
	struct cpm_str ct, inner;
	assert_true(cpm_cli_cpim_unwrap(cpm_buf_str(&b), &ct, &inner));
	assert_true(cpm_str_eq_cstr(ct, "text/plain;charset=UTF-8"));
	assert_true(cpm_str_eq_cstr(inner, "hello\r\nbob"));
	assert_false(cpm_cli_cpim_unwrap(CPM_STR("From: x\r\n"), &ct, &inner));
	cpm_buf_free(&b);
}

/* ------------------------------------------------------- listen's view */

static void test_listen_stored_and_reports(void **state)
{
	char hdr[128], date[64];
	int64_t sent;
	struct cpm_cli_imdn d;
	struct cpm_buf b;

	/* a Date 10 s old: stored; 1 s old: live; none or unreadable: live */
	time_t old = (time_t)cpm_wall_s() - 10;
	struct tm tm;
	gmtime_r(&old, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	snprintf(hdr, sizeof hdr, "Date: %s\r\n", date);
	assert_true(message_stored(message("text/plain", hdr, CPM_STR("hi")), &sent));
	assert_int_equal(sent, (int64_t)old);
	time_t fresh = (time_t)cpm_wall_s() - 1;
	gmtime_r(&fresh, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	snprintf(hdr, sizeof hdr, "Date: %s\r\n", date);
	assert_false(message_stored(message("text/plain", hdr, CPM_STR("hi")), &sent));
	assert_int_equal(sent, (int64_t)fresh);
	assert_false(message_stored(message("text/plain", "", CPM_STR("hi")), &sent));
	assert_int_equal(sent, 0);
	assert_false(message_stored(message("text/plain", "Date: yesterday\r\n", CPM_STR("hi")),
				    &sent));

	/* a report, bare or in CPIM (RFC 5438 §7.1) */
	struct cpm_str imdn = cpm_str_from_cstr(server_imdn);
	assert_true(message_report(message("message/imdn+xml", "", imdn), &d));
	assert_string_equal(d.status, "delivered");
	cpm_buf_init(&b, 8192);
	cpm_buf_puts(&b, "From: <sip:bob@example.test>\r\nNS: imdn <urn:ietf:params:imdn>\r\n\r\n"
			 "Content-Type: message/imdn+xml\r\n\r\n");
	cpm_buf_append_str(&b, imdn);
	assert_true(message_report(message("message/cpim", "", cpm_buf_str(&b)), &d));
	assert_string_equal(d.message_id, "fe83fde61f48b0ad79f72027");
	/* not reports: text, an unreadable IMDN */
	assert_false(message_report(message("text/plain", "", CPM_STR("hi")), &d));
	assert_false(message_report(message("message/imdn+xml", "", CPM_STR("<imdn>")), &d));

	/* the line listen prints; the recipient's AoR, or the sender's */
	cpm_buf_reset(&b);
	assert_int_equal(cpm_cli_imdn_parse(imdn, &d), 0);
	put_report_line(&b, &d, "x@y");
	assert_string_equal(b.p, "report: fe83fde61f48b0ad79f72027 delivered by bob@example.test");
	cpm_buf_reset(&b);
	d.recipient[0] = '\0';
	strcpy(d.message_id, "evil\nid");
	put_report_line(&b, &d, "bob@example.test");
	assert_string_equal(b.p, "report: evil\\nid delivered by bob@example.test");
	cpm_buf_free(&b);
}

static void test_notice_parse(void **state)
{
	struct cpm_cli_notice n;

	/* what cpmd sends (src/im/im_ctl.c notice_build) */
	assert_true(cpm_cli_notice_parse(
		CPM_STR("message/external-body; access-type=\"URL\"; "
			"URL=\"http://127.0.0.1:8080/m/3?t=8967e8407e432833f4cdea8650ad36d2\"; "
			"size=14; expiration=\"Mon, 07 Dec 2026 03:09:52 GMT\""),
		CPM_STR("Content-Type: text/plain\r\nContent-ID: <m3.8967e840@example.test>\r\n\r\n"),
		&n));
	assert_string_equal(n.url, "http://127.0.0.1:8080/m/3?t=8967e8407e432833f4cdea8650ad36d2");
	assert_string_equal(n.content_type, "text/plain");
	assert_int_equal(n.size, 14);
	/* parameters in any case and order, no size, no body */
	assert_true(cpm_cli_notice_parse(CPM_STR("Message/External-Body;url=\"http://h/m/1\";"
						 "ACCESS-TYPE=url"),
					 CPM_STR(""), &n));
	assert_string_equal(n.url, "http://h/m/1");
	assert_int_equal(n.size, -1);
	assert_string_equal(n.content_type, "");
	/* not notices */
	assert_false(cpm_cli_notice_parse(CPM_STR("text/plain"), CPM_STR("x"), &n));
	assert_false(cpm_cli_notice_parse(CPM_STR("message/external-body; access-type=\"ftp\"; "
						  "URL=\"http://h/\""),
					  CPM_STR(""), &n));
	assert_false(cpm_cli_notice_parse(CPM_STR("message/external-body; access-type=URL"),
					  CPM_STR(""), &n));
}

/* cpm presence: the PIDF it publishes, read back by the server's parser:
 * the basic status, the busy activities, the escaped note. */
static void test_presence_pidf_read_by_server(void **state)
{
	(void)state;
	static const struct {
		const char *status;
		bool busy;
	} cases[] = { { "open", false },  { "away", false },	{ "busy", true },
		      { "meeting", true }, { "on-the-phone", true }, { "dnd", true } };
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct cpm_buf b;
		cpm_buf_init(&b, 8192);
		assert_int_equal(cpm_cli_pidf(&b, "bob@example.test", cases[i].status, "a <b> & c"), 0);
		struct cpm_pres_pidf *d = NULL;
		char err[200];
		assert_int_equal(cpm_pres_pidf_parse((struct cpm_str){ b.p, b.len }, &d, err,
						     sizeof err), 0);
		const struct cpm_pres_state *st = cpm_pres_pidf_state(d);
		if (cpm_pres_state_busy(st) != cases[i].busy)
			fail_msg("%s: busy %d", cases[i].status, cases[i].busy);
		assert_non_null(strstr(b.p, "a &lt;b&gt; &amp; c"));
		cpm_pres_pidf_free(d);
		cpm_buf_free(&b);
	}
	struct cpm_buf b;
	cpm_buf_init(&b, 8192);
	assert_int_equal(cpm_cli_pidf(&b, "bob@example.test", "sleepy", NULL), CPM_EINVAL);
	/* cpm watch's line for what cpm presence publishes */
	char line[256];
	assert_int_equal(cpm_cli_pidf(&b, "bob@example.test", "meeting", "room 4"), 0);
	cpm_cli_pidf_summary((struct cpm_str){ b.p, b.len }, line, sizeof line);
	assert_string_equal(line, "open, meeting \"room 4\"");
	cpm_cli_pidf_summary(CPM_STR(""), line, sizeof line);
	assert_string_equal(line, "pending");
	cpm_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_date_parse),
		cmocka_unit_test(test_imdn_parse),
		cmocka_unit_test(test_cpim_read_by_server),
		cmocka_unit_test(test_listen_stored_and_reports),
		cmocka_unit_test(test_notice_parse),
		cmocka_unit_test(test_presence_pidf_read_by_server),
	};
	return cmocka_run_group_tests_name("cli_msg", tests, NULL, NULL);
}
