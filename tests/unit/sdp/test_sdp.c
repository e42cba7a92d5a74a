/* sdp: RFC 8866 parsing and printing; the MSRP attributes of RFC 4975
 * §8, RFC 6135 and RFC 6714; the seed's m=messaging line (digest E1/E2,
 * requirements R54-R56); limits; a malformed case for every field with
 * its precise reason and line; B2BUA rewrites and print round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msrp/msrp.h"
#include "sdp/sdp.h"

static struct cpm_str S(const char *s)
{
	return cpm_str_from_cstr(s);
}

static struct cpm_sdp d, d2;

static void parse_ok(struct cpm_sdp *x, const char *s)
{
	int rc = cpm_sdp_parse(x, s, strlen(s), NULL);
	if (rc)
		fail_msg("rc %d line %u: %s", rc, x->err_line, x->err_reason);
}

/* print x; the text must parse again and print the same */
static void print_stable(const struct cpm_sdp *x, struct cpm_buf *b)
{
	static struct cpm_sdp y;
	cpm_buf_reset(b);
	assert_int_equal(cpm_sdp_print(b, x), 0);
	int rc = cpm_sdp_parse(&y, b->p, b->len, NULL);
	if (rc)
		fail_msg("printed SDP does not parse: %s (line %u)\n%s", y.err_reason, y.err_line,
			 b->p);
	struct cpm_buf b2;
	cpm_buf_init(&b2, 1 << 16);
	assert_int_equal(cpm_sdp_print(&b2, &y), 0);
	assert_string_equal(b->p, b2.p);
	cpm_buf_free(&b2);
}

/* RFC 8866 §5 */
static const char rfc8866[] =
	"v=0\r\n"
	"o=jdoe 3724394400 3724394405 IN IP4 198.51.100.1\r\n"
	"s=Call to John Smith\r\n"
	"i=SDP Offer #1\r\n"
	"u=http://www.jdoe.example.com/home.html\r\n"
	"e=Jane Doe <jane@jdoe.example.com>\r\n"
	"p=+1 617 555-6011\r\n"
	"c=IN IP4 198.51.100.1\r\n"
	"t=0 0\r\n"
	"m=audio 49170 RTP/AVP 0\r\n"
	"m=audio 49180 RTP/AVP 0\r\n"
	"m=video 51372 RTP/AVP 99\r\n"
	"c=IN IP6 2001:db8::2\r\n"
	"a=rtpmap:99 h263-1998/90000\r\n";

static void test_rfc8866_example(void **state)
{
	(void)state;
	parse_ok(&d, rfc8866);
	assert_int_equal(d.version, 0);
	assert_true(cpm_str_eq_cstr(d.origin.username, "jdoe"));
	assert_true(cpm_str_eq_cstr(d.origin.sess_id, "3724394400"));
	assert_true(cpm_str_eq_cstr(d.origin.sess_version, "3724394405"));
	assert_true(cpm_str_eq_cstr(d.origin.nettype, "IN"));
	assert_true(cpm_str_eq_cstr(d.origin.addrtype, "IP4"));
	assert_true(cpm_str_eq_cstr(d.origin.address, "198.51.100.1"));
	assert_true(cpm_str_eq_cstr(d.name, "Call to John Smith"));
	assert_true(cpm_str_eq_cstr(d.info, "SDP Offer #1"));
	assert_true(cpm_str_eq_cstr(d.uri, "http://www.jdoe.example.com/home.html"));
	assert_true(d.has_conn);
	assert_true(cpm_str_eq_cstr(d.conn.address, "198.51.100.1"));
	assert_int_equal(d.conn.suffix.len, 0);
	assert_int_equal(d.nmedia, 3);
	assert_true(cpm_str_eq_cstr(d.media[0].media, "audio"));
	assert_int_equal(d.media[0].port, 49170);
	assert_true(cpm_str_eq_cstr(d.media[0].proto, "RTP/AVP"));
	assert_true(cpm_str_eq_cstr(d.media[0].fmts, "0"));
	assert_int_equal(d.media[1].port, 49180);
	assert_false(d.media[1].has_conn);
	assert_true(d.media[2].has_conn);
	assert_true(cpm_str_eq_cstr(d.media[2].conn.addrtype, "IP6"));
	assert_true(cpm_str_eq_cstr(d.media[2].conn.address, "2001:db8::2"));
	assert_ptr_equal(cpm_sdp_media_conn(&d, 0), &d.conn);
	assert_ptr_equal(cpm_sdp_media_conn(&d, 2), &d.media[2].conn);
	assert_null(cpm_sdp_media_conn(&d, 3));
	assert_int_equal(d.nattrs, 1);
	assert_int_equal(d.attrs[0].media, 2);
	assert_true(cpm_str_eq_cstr(d.attrs[0].name, "rtpmap"));
	assert_true(cpm_str_eq_cstr(d.attrs[0].value, "99 h263-1998/90000"));
	assert_int_equal(d.nlines, 3); /* e= p= t= */
	assert_false(cpm_sdp_media_is_msrp(&d.media[0]));

	struct cpm_buf b;
	cpm_buf_init(&b, 1 << 16);
	assert_int_equal(cpm_sdp_print(&b, &d), 0);
	assert_string_equal(b.p, rfc8866);
	print_stable(&d, &b);
	cpm_buf_free(&b);
}

/* RFC 4975 §8 (offer and answer of §8.7 shape), RFC 4976 relays in the
 * path, RFC 6135 connection setup, RFC 6714 CEMA. */
static const char offer[] =
	"v=0\r\n"
	"o=alice 2890844526 2890844527 IN IP4 alice.example.com\r\n"
	"s= -\r\n"
	"c=IN IP4 alice.example.com\r\n"
	"t=0 0\r\n"
	"m=message 7777 TCP/MSRP *\r\n"
	"a=accept-types:message/cpim text/plain text/html\r\n"
	"a=accept-wrapped-types:text/plain image/jpeg image/gif image/tiff\r\n"
	"a=max-size:65536\r\n"
	"a=path:msrps://a.example.org:9000/kjfjan;tcp msrps://alice.example.com:9892/98cjs;tcp\r\n"
	"a=setup:actpass\r\n"
	"a=connection:new\r\n"
	"a=msrp-cema\r\n"
	"a=sendonly\r\n";

static void test_msrp_attributes(void **state)
{
	(void)state;
	parse_ok(&d, offer);
	assert_int_equal(d.nmedia, 1);
	assert_true(cpm_sdp_media_is_msrp(&d.media[0]));
	assert_true(cpm_str_eq_cstr(d.media[0].fmts, "*"));
	assert_true(cpm_str_eq_cstr(d.name, " -"));
	struct cpm_sdp_msrp ms;
	const char *why = "x";
	assert_int_equal(cpm_sdp_msrp_get(&d, 0, &ms, &why), 0);
	assert_null(why);
	assert_true(cpm_str_eq_cstr(ms.accept_types, "message/cpim text/plain text/html"));
	assert_true(cpm_str_eq_cstr(ms.accept_wrapped_types,
				    "text/plain image/jpeg image/gif image/tiff"));
	assert_true(ms.has_max_size);
	assert_int_equal(ms.max_size, 65536);
	assert_int_equal(ms.setup, CPM_SDP_SETUP_ACTPASS);
	assert_int_equal(ms.connection, CPM_SDP_CONNECTION_NEW);
	assert_true(ms.cema);
	assert_int_equal(ms.dir, CPM_SDP_SENDONLY);
	/* the path parses with msrp.h: the first hop is the relay */
	struct cpm_str cur = ms.path, t;
	struct cpm_msrp_uri u;
	assert_int_equal(cpm_msrp_path_next(&cur, &u), 1);
	assert_true(cpm_str_eq_cstr(u.host, "a.example.org"));
	assert_int_equal(cpm_msrp_path_next(&cur, &u), 1);
	assert_true(cpm_str_eq_cstr(u.session_id, "98cjs"));
	assert_int_equal(cpm_msrp_path_next(&cur, &u), 0);
	cur = ms.accept_types;
	int n = 0;
	while (cpm_sdp_list_next(&cur, &t) == 1)
		n++;
	assert_int_equal(n, 3);
	assert_int_equal(cpm_sdp_msrp_get(&d, 1, &ms, &why), CPM_EINVAL);

	/* the answer: defaults, TLS, the direction from the session level */
	const char *answer = "v=0\r\no=bob 2890844612 2890844616 IN IP4 bob.example.com\r\n"
			     "s= -\r\nc=IN IP4 bob.example.com\r\nt=0 0\r\na=recvonly\r\n"
			     "m=message 8888 TCP/TLS/MSRP *\r\na=accept-types:*\r\n"
			     "a=path:msrps://bob.example.com:8888/9di4eae923wzd;tcp\r\n"
			     "m=message 8889 TCP/MSRP *\r\na=inactive\r\n"
			     "a=accept-types:text/*\r\n";
	parse_ok(&d, answer);
	assert_true(cpm_sdp_media_is_msrp(&d.media[0]));
	assert_int_equal(cpm_sdp_msrp_get(&d, 0, &ms, NULL), 0);
	assert_false(ms.has_max_size);
	assert_int_equal(ms.setup, CPM_SDP_SETUP_NONE);
	assert_int_equal(ms.connection, CPM_SDP_CONNECTION_NONE);
	assert_false(ms.cema);
	assert_int_equal(ms.dir, CPM_SDP_RECVONLY);
	assert_int_equal(ms.accept_wrapped_types.len, 0);
	assert_int_equal(cpm_sdp_msrp_get(&d, 1, &ms, NULL), 0);
	assert_int_equal(ms.dir, CPM_SDP_INACTIVE);
	assert_int_equal(ms.path.len, 0);

	/* every bad value, each with its reason */
	struct {
		const char *attrs;
		const char *why;
	} bad[] = {
		{ "a=path:\r\n", "Bad a=path" },
		{ "a=path:sip:bob@example.com\r\n", "Bad a=path" },
		{ "a=path:msrp://\r\n", "Bad a=path" },
		{ "a=path:msrp://a/b;tcp\r\na=path:msrp://a/c;tcp\r\n", "Duplicate a=path" },
		{ "a=accept-types:text\r\n", "Bad a=accept-types" },
		{ "a=accept-types:/plain\r\n", "Bad a=accept-types" },
		{ "a=accept-types:text/\r\n", "Bad a=accept-types" },
		{ "a=accept-types\r\n", "Bad a=accept-types" },
		{ "a=accept-types:*\r\na=accept-types:*\r\n", "Duplicate a=accept-types" },
		{ "a=accept-wrapped-types:text/plain a/b;x\r\n", "Bad a=accept-wrapped-types" },
		{ "a=max-size:10k\r\n", "Bad a=max-size" },
		{ "a=max-size:99999999999999999999\r\n", "Bad a=max-size" },
		{ "a=max-size:1\r\na=max-size:2\r\n", "Duplicate a=max-size" },
		{ "a=setup:sometimes\r\n", "Bad a=setup" },
		{ "a=setup:active\r\na=setup:passive\r\n", "Duplicate a=setup" },
		{ "a=connection:old\r\n", "Bad a=connection" },
		{ "a=connection:new\r\na=connection:new\r\n", "Duplicate a=connection" },
		{ "a=msrp-cema\r\na=msrp-cema\r\n", "Duplicate a=msrp-cema" },
		{ "a=sendonly\r\na=recvonly\r\n", "Conflicting direction attributes" },
	};
	static char sdp[1024];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(sdp, sizeof sdp,
			 "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=message 1 TCP/MSRP *\r\n%s",
			 bad[i].attrs);
		parse_ok(&d, sdp);
		why = NULL;
		assert_int_equal(cpm_sdp_msrp_get(&d, 0, &ms, &why), CPM_EPARSE);
		if (!why || strcmp(why, bad[i].why))
			fail_msg("case %zu: %s", i, why ? why : "(null)");
	}
	/* setup values, case-insensitively; holdconn (RFC 4145) */
	const char *setups[] = { "ACTIVE", "passive", "actpass", "holdconn" };
	for (int i = 0; i < 4; i++) {
		snprintf(sdp, sizeof sdp,
			 "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\na=setup:%s\r\n"
			 "a=connection:existing\r\nm=message 1 TCP/MSRP *\r\n", setups[i]);
		parse_ok(&d, sdp);
		assert_int_equal(cpm_sdp_msrp_get(&d, 0, &ms, NULL), 0);
		assert_int_equal(ms.setup, CPM_SDP_SETUP_ACTIVE + i);
		assert_int_equal(ms.connection, CPM_SDP_CONNECTION_EXISTING);
	}
}

/* The SDP of the example whose heading starts with title in the seed
 * digest: from "v=0" to the end of its code block (LF line ends, as in
 * the seed). */
static struct cpm_str digest_sdp(const char *text, const char *title)
{
	const char *h = strstr(text, title);
	assert_non_null(h);
	const char *v = strstr(h, "\nv=0\n");
	assert_non_null(v);
	const char *e = strstr(v, "\n```");
	assert_non_null(e);
	return (struct cpm_str){ v + 1, (size_t)(e + 1 - (v + 1)) };
}

/* Seed 001 Figs. 5 and 6 (digest §3 E1, E2): the originator's SDP and
 * the one the S&F server rewrote (R56). */
static void test_seed_messaging(void **state)
{
	(void)state;
	const char *env = getenv("CPM_SHARED_DIR");
	char path[1024];
	static char text[1 << 20];
	snprintf(path, sizeof path, "%s/mission/seeds-digest.md", env ? env : "../shared");
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot read %s", path);
	size_t len = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[len] = '\0';
	struct cpm_str e1 = digest_sdp(text, "### E1 ");
	struct cpm_str e2 = digest_sdp(text, "### E2 ");
	assert_int_equal(cpm_sdp_parse(&d, e1.s, e1.len, NULL), 0);
	assert_int_equal(cpm_sdp_parse(&d2, e2.s, e2.len, NULL), 0);
	struct cpm_sdp_messaging mg;
	assert_int_equal(d.nmedia, 1);
	assert_true(cpm_str_eq_cstr(d.media[0].media, "messaging"));
	assert_int_equal(d.media[0].port, 3456);
	assert_true(cpm_str_eq_cstr(d.media[0].proto, "IMTP/instant MESSAGE/instant"));
	assert_true(cpm_str_eq_cstr(d.media[0].fmts, "html"));
	assert_true(cpm_str_eq_cstr(d.origin.addrtype, "IP6"));
	assert_true(cpm_str_eq_cstr(d.conn.address, "IMS-A.nokia.com"));
	assert_int_equal(cpm_sdp_media_messaging(&d.media[0], &mg), 0);
	assert_int_equal(mg.imtp, CPM_SDP_MODE_INSTANT);
	assert_int_equal(mg.message, CPM_SDP_MODE_INSTANT);
	assert_int_equal(d2.media[0].port, 5680);
	assert_true(cpm_str_eq_cstr(d2.conn.address, "conference.nokia.com"));

	/* R56: the S&F server's rewrite of E1 gives E2's SDP */
	d.origin.address = d2.origin.address;
	d.conn.address = S("conference.nokia.com");
	d.media[0].port = 5680;
	struct cpm_buf b, b2;
	cpm_buf_init(&b, 4096);
	cpm_buf_init(&b2, 4096);
	assert_int_equal(cpm_sdp_print(&b, &d), 0);
	assert_int_equal(cpm_sdp_print(&b2, &d2), 0);
	assert_string_equal(b.p, b2.p);
	assert_non_null(strstr(b.p, "\r\nm=messaging 5680 IMTP/instant MESSAGE/instant html\r\n"));
	print_stable(&d, &b);
	cpm_buf_free(&b);
	cpm_buf_free(&b2);

	/* R55: instant and S&F, either transport alone, any case */
	struct {
		const char *m;
		int rc;
		enum cpm_sdp_msg_mode imtp, message;
		const char *proto, *fmts;
	} t[] = {
		{ "messaging 1 IMTP/S&F MESSAGE/instant html", 0, CPM_SDP_MODE_SF,
		  CPM_SDP_MODE_INSTANT, "IMTP/S&F MESSAGE/instant", "html" },
		{ "messaging 1 MESSAGE/s&f text", 0, CPM_SDP_MODE_NONE, CPM_SDP_MODE_SF,
		  "MESSAGE/s&f", "text" },
		{ "Messaging 1 imtp/INSTANT html plain", 0, CPM_SDP_MODE_INSTANT,
		  CPM_SDP_MODE_NONE, "imtp/INSTANT", "html plain" },
		{ "messaging 1 IMTP/instant MESSAGE/S&F", 0, CPM_SDP_MODE_INSTANT,
		  CPM_SDP_MODE_NONE, "IMTP/instant", "MESSAGE/S&F" },
		{ "messaging 1 IMTP/later html", CPM_EPARSE, 0, 0, "IMTP/later", "html" },
		{ "messaging 1 SMTP/instant html", CPM_EPARSE, 0, 0, "SMTP/instant", "html" },
		{ "messaging 1 IMTP/instant IMTP/S&F html", CPM_EPARSE, 0, 0,
		  "IMTP/instant IMTP/S&F", "html" },
		{ "messaging 1 IMTP/instant/x html", CPM_EPARSE, 0, 0, "IMTP/instant/x", "html" },
		{ "message 1 TCP/MSRP *", CPM_ENOTFOUND, 0, 0, "TCP/MSRP", "*" },
	};
	static char sdp[512];
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		snprintf(sdp, sizeof sdp, "v=0\no=- 0 1 IN IP6 h\ns=s\nt=0 0\nm=%s\n", t[i].m);
		parse_ok(&d, sdp);
		assert_true(cpm_str_eq_cstr(d.media[0].proto, t[i].proto));
		assert_true(cpm_str_eq_cstr(d.media[0].fmts, t[i].fmts));
		int rc = cpm_sdp_media_messaging(&d.media[0], &mg);
		if (rc != t[i].rc)
			fail_msg("case %zu: rc %d", i, rc);
		if (rc == 0) {
			assert_int_equal(mg.imtp, t[i].imtp);
			assert_int_equal(mg.message, t[i].message);
		}
	}
	assert_string_equal(cpm_sdp_msg_mode_name(CPM_SDP_MODE_SF), "S&F");
	assert_string_equal(cpm_sdp_msg_mode_name(CPM_SDP_MODE_INSTANT), "instant");
	assert_string_equal(cpm_sdp_msg_mode_name(CPM_SDP_MODE_NONE), "");
}

/* RFC 8866 §5: bare LF accepted; a last line without its end; blank
 * lines and trailing whitespace ignored; multicast suffixes; b= k= r= z=
 * kept verbatim and printed in place. */
static void test_leniency_and_verbatim(void **state)
{
	(void)state;
	const char *s = "v=0\n"
			"o=- 20518 0 IN IP4 203.0.113.1  \n"
			"s=\n"
			"\n"
			"c=IN IP4 233.252.0.1/127/2\r\n"
			"b=AS:128\n"
			"t=2873397496 2873404696\n"
			"r=604800 3600 0 90000\n"
			"z=2882844526 -1h 2898848070 0\n"
			"t=0 0\n"
			"k=prompt\n"
			"a=recvonly\n"
			"m=audio 49170/2 RTP/AVP 0 8 101\n"
			"i=the audio\n"
			"c=IN IP6 FF15::101/3\n"
			"c=IN IP6 FF15::102/3\n"
			"b=CT:64\n"
			"k=clear:abc\n"
			"a=ptime:20\n"
			"a=rtpmap:101 telephone-event/8000";
	parse_ok(&d, s);
	assert_true(cpm_str_eq_cstr(d.origin.address, "203.0.113.1"));
	assert_int_equal(d.name.len, 0);
	assert_true(cpm_str_eq_cstr(d.conn.address, "233.252.0.1"));
	assert_true(cpm_str_eq_cstr(d.conn.suffix, "/127/2"));
	assert_int_equal(d.media[0].nports, 2);
	assert_true(cpm_str_eq_cstr(d.media[0].fmts, "0 8 101"));
	assert_true(cpm_str_eq_cstr(d.media[0].info, "the audio"));
	assert_true(cpm_str_eq_cstr(d.media[0].conn.suffix, "/3"));
	assert_int_equal(d.nattrs, 3);
	assert_true(cpm_str_eq_cstr(d.attrs[2].value, "101 telephone-event/8000"));
	struct cpm_str cur = d.media[0].fmts, f;
	int n = 0;
	while (cpm_sdp_list_next(&cur, &f) == 1)
		n++;
	assert_int_equal(n, 3);
	struct cpm_buf b;
	cpm_buf_init(&b, 4096);
	assert_int_equal(cpm_sdp_print(&b, &d), 0);
	assert_string_equal(b.p, "v=0\r\n"
				 "o=- 20518 0 IN IP4 203.0.113.1\r\n"
				 "s=-\r\n"
				 "c=IN IP4 233.252.0.1/127/2\r\n"
				 "b=AS:128\r\n"
				 "t=2873397496 2873404696\r\n"
				 "r=604800 3600 0 90000\r\n"
				 "z=2882844526 -1h 2898848070 0\r\n"
				 "t=0 0\r\n"
				 "k=prompt\r\n"
				 "a=recvonly\r\n"
				 "m=audio 49170/2 RTP/AVP 0 8 101\r\n"
				 "i=the audio\r\n"
				 "c=IN IP6 FF15::101/3\r\n"
				 "c=IN IP6 FF15::102/3\r\n"
				 "b=CT:64\r\n"
				 "k=clear:abc\r\n"
				 "a=ptime:20\r\n"
				 "a=rtpmap:101 telephone-event/8000\r\n");
	print_stable(&d, &b);
	cpm_buf_free(&b);
}

static void test_limits(void **state)
{
	(void)state;
	struct cpm_sdp_limits lim;
	cpm_sdp_limits_default(&lim);
	assert_int_equal(lim.max_media, 16);
	assert_int_equal(lim.max_attrs, 64);
	assert_int_equal(lim.max_lines, 32);
	assert_int_equal(lim.max_line, 2048);
	const char *s = rfc8866;
	lim.max_media = 2;
	assert_int_equal(cpm_sdp_parse(&d, s, strlen(s), &lim), CPM_ELIMIT);
	assert_string_equal(d.err_reason, "Too many m= lines");
	assert_int_equal(d.err_line, 12);
	lim.max_media = 3;
	assert_int_equal(cpm_sdp_parse(&d, s, strlen(s), &lim), 0);
	lim.max_attrs = 0;
	assert_int_equal(cpm_sdp_parse(&d, s, strlen(s), &lim), CPM_ELIMIT);
	assert_string_equal(d.err_reason, "Too many a= lines");
	cpm_sdp_limits_default(&lim);
	lim.max_lines = 2;
	assert_int_equal(cpm_sdp_parse(&d, s, strlen(s), &lim), CPM_ELIMIT);
	assert_string_equal(d.err_reason, "Too many lines");
	assert_int_equal(d.err_line, 9);
	cpm_sdp_limits_default(&lim);
	lim.max_line = 47; /* the o= line is 48 bytes without its CRLF */
	assert_int_equal(cpm_sdp_parse(&d, s, strlen(s), &lim), CPM_ELIMIT);
	assert_string_equal(d.err_reason, "Line too long");
	assert_int_equal(d.err_line, 2);
	lim.max_line = 48;
	assert_int_equal(cpm_sdp_parse(&d, s, strlen(s), &lim), 0);
	/* the hard caps hold whatever the limits say */
	static char big[40000];
	size_t n = (size_t)snprintf(big, sizeof big, "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n");
	for (int i = 0; i < CPM_SDP_ATTRS_CAP + 1; i++)
		n += (size_t)snprintf(big + n, sizeof big - n, "a=x%d\r\n", i);
	lim.max_attrs = 100000;
	assert_int_equal(cpm_sdp_parse(&d, big, n, &lim), CPM_ELIMIT);
	assert_int_equal(d.nattrs, CPM_SDP_ATTRS_CAP);
}

static void test_malformed(void **state)
{
	(void)state;
	struct {
		const char *sdp;
		int rc;
		const char *why;
		unsigned line;
	} t[] = {
		{ "", CPM_EPARSE, "Missing v=", 1 },
		{ "\r\n\r\n", CPM_EPARSE, "Missing v=", 3 },
		{ "o=- 1 1 IN IP4 h\r\n", CPM_EPARSE, "Missing v=", 1 },
		{ "v=1\r\n", CPM_EPARSE, "Bad v=", 1 },
		{ "v=x\r\n", CPM_EPARSE, "Bad v=", 1 },
		{ "v=0\r\n", CPM_EPARSE, "Missing o=", 2 },
		{ "v=0\r\ns=x\r\n", CPM_EPARSE, "Missing o=", 2 },
		{ "v=0\r\no=- 1 1 IN IP4\r\n", CPM_EPARSE, "Bad o=", 2 },
		{ "v=0\r\no=- x 1 IN IP4 h\r\n", CPM_EPARSE, "Bad o=", 2 },
		{ "v=0\r\no=- 1 1x IN IP4 h\r\n", CPM_EPARSE, "Bad o=", 2 },
		{ "v=0\r\no=- 1 1 I/N IP4 h\r\n", CPM_EPARSE, "Bad o=", 2 },
		{ "v=0\r\no=- 1 1 IN IP4 h x\r\n", CPM_EPARSE, "Bad o=", 2 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\n", CPM_EPARSE, "Missing s=", 3 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\nt=0 0\r\n", CPM_EPARSE, "Missing s=", 3 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\n", CPM_EPARSE, "Missing t=", 4 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\n", CPM_EPARSE,
		  "Missing t=", 4 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nv=0\r\n", CPM_EPARSE, "Duplicate v=", 4 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\no=- 1 1 IN IP4 h\r\n", CPM_EPARSE,
		  "Duplicate o=", 4 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\ns=-\r\n", CPM_EPARSE, "Duplicate s=", 4 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\ni=a\r\ni=b\r\n", CPM_EPARSE, "Duplicate i=", 5 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nu=a\r\nu=b\r\n", CPM_EPARSE, "Duplicate u=", 5 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nu=\r\n", CPM_EPARSE, "Bad u=", 4 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\ne=\r\n", CPM_EPARSE, "Bad e=", 4 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\np=\r\n", CPM_EPARSE, "Bad p=", 4 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nk=\r\n", CPM_EPARSE, "Bad k=", 4 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4\r\n", CPM_EPARSE, "Bad c=", 4 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 h/\r\n", CPM_EPARSE, "Bad c=", 4 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 h/1/2/3\r\n", CPM_EPARSE, "Bad c=", 4 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 /1\r\n", CPM_EPARSE, "Bad c=", 4 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 h\r\nc=IN IP4 h\r\n", CPM_EPARSE,
		  "Duplicate c=", 5 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nb=AS\r\n", CPM_EPARSE, "Bad b=", 4 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nb=AS:x\r\n", CPM_EPARSE, "Bad b=", 4 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0\r\n", CPM_EPARSE, "Bad t=", 4 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 x\r\n", CPM_EPARSE, "Bad t=", 4 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nr=1 2 3\r\n", CPM_EPARSE, "r= before t=", 4 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nz=1 2\r\n", CPM_EPARSE, "z= before t=", 4 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nr=\r\n", CPM_EPARSE, "Bad r=", 5 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nz= \r\n", CPM_EPARSE, "Bad z=", 5 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nx=1\r\n", CPM_EPARSE,
		  "Unknown type letter", 5 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nV=0\r\n", CPM_EPARSE, "Bad line", 5 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\na\r\n", CPM_EPARSE, "Bad line", 5 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n a=x\r\n", CPM_EPARSE, "Bad line", 5 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\na=x\ry\r\n", CPM_EPARSE,
		  "Control character in line", 5 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\na=:x\r\n", CPM_EPARSE, "Bad a= name", 5 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\na=a b:x\r\n", CPM_EPARSE,
		  "Bad a= name", 5 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio\r\n", CPM_EPARSE,
		  "Bad m= port", 5 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=a/b 1 RTP/AVP 0\r\n", CPM_EPARSE,
		  "Bad m= media", 5 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 65536 RTP/AVP 0\r\n",
		  CPM_EPARSE, "Bad m= port", 5 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1/0 RTP/AVP 0\r\n",
		  CPM_EPARSE, "Bad m= port count", 5 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1/ RTP/AVP 0\r\n",
		  CPM_EPARSE, "Bad m= port count", 5 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP//AVP 0\r\n",
		  CPM_EPARSE, "Bad m= proto", 5 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1 /AVP 0\r\n", CPM_EPARSE,
		  "Bad m= proto", 5 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1\r\n", CPM_EPARSE,
		  "Bad m= proto", 5 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP\r\n", CPM_EPARSE,
		  "Missing m= format", 5 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0 a:b\r\n",
		  CPM_EPARSE, "Bad m= format", 5 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=messaging 1 IMTP/instant M//x h\r\n",
		  CPM_EPARSE, "Bad m= proto", 5 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\nt=0 0\r\n",
		  CPM_EPARSE, "Session-level line in a media section", 6 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\ni=a\r\ni=b\r\n",
		  CPM_EPARSE, "Duplicate i=", 7 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\nc=IN\r\n",
		  CPM_EPARSE, "Bad c=", 6 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\nc=IN IP4 h\r\n"
		  "c=IN IP4\r\n", CPM_EPARSE, "Bad c=", 7 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\nb=x\r\n",
		  CPM_EPARSE, "Bad b=", 6 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\nk=\r\n",
		  CPM_EPARSE, "Bad k=", 6 },
		{ "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\nq=1\r\n",
		  CPM_EPARSE, "Unknown type letter", 6 },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		int rc = cpm_sdp_parse(&d, t[i].sdp, strlen(t[i].sdp), NULL);
		if (rc != t[i].rc || !d.err_reason || strcmp(d.err_reason, t[i].why) ||
		    d.err_line != t[i].line)
			fail_msg("case %zu: rc %d, line %u: %s", i, rc, d.err_line,
				 d.err_reason ? d.err_reason : "(null)");
	}
	/* a NUL inside a line */
	const char nul[] = "v=0\r\no=- 1 1 IN IP4 h\r\ns=a\0b\r\nt=0 0\r\n";
	assert_int_equal(cpm_sdp_parse(&d, nul, sizeof nul - 1, NULL), CPM_EPARSE);
	assert_string_equal(d.err_reason, "Control character in line");
	assert_int_equal(cpm_sdp_parse(&d, NULL, 0, NULL), CPM_EPARSE);
}

/* What the B2BUA does (R56, R60): point c=, the m= port and a=path at
 * itself, drop or add attributes, print. */
static void test_rewrite_and_print(void **state)
{
	(void)state;
	parse_ok(&d, offer);
	d.conn.address = S("relay.cpmd.example");
	d.media[0].port = 40000;
	int pi = cpm_sdp_attr_find(&d, 0, "path", -1);
	assert_true(pi >= 0);
	d.attrs[pi].value = S("msrp://relay.cpmd.example:40000/s1;tcp");
	int ci = cpm_sdp_attr_find(&d, 0, "msrp-cema", -1);
	assert_true(ci >= 0);
	cpm_sdp_attr_remove(&d, (unsigned)ci);
	assert_int_equal(cpm_sdp_attr_find(&d, 0, "msrp-cema", -1), -1);
	int ai = cpm_sdp_attr_add(&d, -1, S("tool"), S("cpmd"), true);
	assert_int_equal(ai, (int)d.nattrs - 1);
	ai = cpm_sdp_attr_add(&d, 0, S("x-flag"), CPM_STR_NULL, false);
	assert_int_equal(ai, (int)d.nattrs - 1);
	assert_int_equal(cpm_sdp_attr_add(&d, 1, S("x"), CPM_STR_NULL, false), CPM_EINVAL);
	assert_int_equal(cpm_sdp_attr_add(&d, -2, S("x"), CPM_STR_NULL, false), CPM_EINVAL);
	struct cpm_buf b;
	cpm_buf_init(&b, 4096);
	assert_int_equal(cpm_sdp_print(&b, &d), 0);
	assert_string_equal(b.p,
			    "v=0\r\n"
			    "o=alice 2890844526 2890844527 IN IP4 alice.example.com\r\n"
			    "s= -\r\n"
			    "c=IN IP4 relay.cpmd.example\r\n"
			    "t=0 0\r\n"
			    "a=tool:cpmd\r\n"
			    "m=message 40000 TCP/MSRP *\r\n"
			    "a=accept-types:message/cpim text/plain text/html\r\n"
			    "a=accept-wrapped-types:text/plain image/jpeg image/gif image/tiff\r\n"
			    "a=max-size:65536\r\n"
			    "a=path:msrp://relay.cpmd.example:40000/s1;tcp\r\n"
			    "a=setup:actpass\r\n"
			    "a=connection:new\r\n"
			    "a=sendonly\r\n"
			    "a=x-flag\r\n");
	print_stable(&d, &b);
	/* the second a=sendonly, found after the first */
	assert_int_equal(cpm_sdp_attr_find(&d, 0, "sendonly", cpm_sdp_attr_find(&d, 0, "sendonly",
										  -1)), -1);
	cpm_sdp_attr_remove(&d, 1000); /* out of range: nothing */

	/* no line injection through a rewritten slice */
	struct cpm_sdp_conn keep = d.conn;
	d.conn.address = S("h\r\na=evil");
	cpm_buf_reset(&b);
	assert_int_equal(cpm_sdp_print(&b, &d), CPM_EINVAL);
	d.conn = keep;
	d.attrs[pi].value = S("x\ny");
	assert_int_equal(cpm_sdp_print(&b, &d), CPM_EINVAL);
	d.attrs[pi].value = S("msrp://a/b;tcp");
	d.media[0].proto = CPM_STR_NULL;
	assert_int_equal(cpm_sdp_print(&b, &d), CPM_EINVAL);
	parse_ok(&d, offer);
	d.origin.username = CPM_STR_NULL;
	assert_int_equal(cpm_sdp_print(&b, &d), CPM_EINVAL);
	parse_ok(&d, offer);
	struct cpm_buf small;
	cpm_buf_init(&small, 64);
	assert_int_equal(cpm_sdp_print(&small, &d), CPM_ETOOBIG);
	cpm_buf_free(&small);

	/* built from nothing: t=0 0 and s=- are supplied */
	memset(&d, 0, sizeof d);
	d.origin = (struct cpm_sdp_origin){ S("-"), S("1"), S("2"), S("IN"), S("IP6"), S("::1") };
	d.nmedia = 1;
	d.media[0] = (struct cpm_sdp_media){ .media = S("message"), .port = 9,
					     .proto = S("TCP/MSRP"), .fmts = S("*") };
	assert_int_equal(cpm_sdp_attr_add(&d, 0, S("path"), S("msrp://[::1]:9/x;tcp"), true), 0);
	cpm_buf_reset(&b);
	assert_int_equal(cpm_sdp_print(&b, &d), 0);
	assert_string_equal(b.p, "v=0\r\no=- 1 2 IN IP6 ::1\r\ns=-\r\nt=0 0\r\n"
				 "m=message 9 TCP/MSRP *\r\na=path:msrp://[::1]:9/x;tcp\r\n");
	print_stable(&d, &b);
	cpm_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc8866_example),
		cmocka_unit_test(test_msrp_attributes),
		cmocka_unit_test(test_seed_messaging),
		cmocka_unit_test(test_leniency_and_verbatim),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_rewrite_and_print),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
