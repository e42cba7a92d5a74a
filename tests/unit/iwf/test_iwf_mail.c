/* iwf: building a mail from a stored SIP message (cpm_iwf_mail_build) and
 * the address helpers.  Every mail built here also passes check_mail: CRLF
 * only, ASCII only, lines <= 998 and header lines <= 78 octets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "iwf/iwf.h"

#include <stdlib.h>
#include <string.h>

#define FROM "cpmd@example.test"

/* ------------------------------------------------------------- decoders */

static int hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* RFC 2045 §6.7 decoding; *n gets the length.  malloc'd. */
static char *qp_decode(const char *s, size_t len, size_t *n)
{
	char *out = malloc(len + 1);
	size_t k = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '=' && i + 2 < len + 1 && s[i + 1] == '\r' && s[i + 2] == '\n') {
			i += 2; /* soft break */
		} else if (s[i] == '=') {
			assert_true(i + 2 < len);
			int h = hexv(s[i + 1]), l = hexv(s[i + 2]);
			assert_true(h >= 0 && l >= 0);
			out[k++] = (char)(h * 16 + l);
			i += 2;
		} else {
			out[k++] = s[i];
		}
	}
	out[k] = '\0';
	*n = k;
	return out;
}

static char *b64_decode(const char *s, size_t len, size_t *n)
{
	static const char al[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc(len + 1);
	size_t k = 0;
	unsigned acc = 0, bits = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '=')
			continue;
		const char *p = strchr(al, s[i]);
		assert_non_null(p);
		acc = (acc << 6) | (unsigned)(p - al);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[k++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[k] = '\0';
	*n = k;
	return out;
}

/* The value of header name (unfolded: CRLF removed, RFC 5322 §2.2.3);
 * malloc'd, NULL when absent; *count gets how many there are. */
static char *header(const char *mail, const char *name, int *count)
{
	const char *end = strstr(mail, "\r\n\r\n");
	assert_non_null(end);
	size_t nl = strlen(name);
	char *val = NULL;
	int c = 0;
	for (const char *p = mail; p < end;) {
		const char *eol = strstr(p, "\r\n");
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			c++;
			if (!val) {
				/* the field runs to a CRLF not followed by WSP */
				const char *q = eol;
				while (q < end && (q[2] == ' ' || q[2] == '\t'))
					q = strstr(q + 2, "\r\n");
				const char *v = p + nl + 1;
				while (*v == ' ')
					v++;
				val = malloc((size_t)(q - v) + 1);
				size_t k = 0;
				for (const char *r = v; r < q; r++)
					if (*r != '\r' && *r != '\n')
						val[k++] = *r;
				val[k] = '\0';
			}
		}
		p = eol + 2;
	}
	if (count)
		*count = c;
	return val;
}

/* RFC 2047 decoding of a header value: encoded-words (UTF-8, Q or B)
 * decoded, the whitespace between two of them dropped (§6.2).  Each word
 * must hold whole UTF-8 characters (§5): checked. */
static char *ew_decode(const char *v)
{
	char *out = malloc(strlen(v) * 2 + 1);
	size_t k = 0;
	bool prev_ew = false;
	for (const char *p = v; *p;) {
		if (strncmp(p, "=?UTF-8?Q?", 10) == 0) {
			const char *e = strstr(p + 10, "?=");
			assert_non_null(e);
			assert_true(e + 2 - p <= 75);
			size_t start = k;
			for (const char *q = p + 10; q < e; q++) {
				if (*q == '_') {
					out[k++] = ' ';
				} else if (*q == '=') {
					out[k++] = (char)(hexv(q[1]) * 16 + hexv(q[2]));
					q += 2;
				} else {
					/* RFC 2047 §5(3): the phrase-safe set */
					assert_true(strchr("!*+-/", *q) || (*q >= 'a' && *q <= 'z') ||
						    (*q >= 'A' && *q <= 'Z') ||
						    (*q >= '0' && *q <= '9'));
					out[k++] = *q;
				}
			}
			/* whole characters: does not start with a continuation
			 * byte, does not end inside a sequence */
			if (k > start) {
				assert_true(((unsigned char)out[start] & 0xc0) != 0x80);
				size_t last = k - 1;
				while (last > start && ((unsigned char)out[last] & 0xc0) == 0x80)
					last--;
				unsigned char lead = (unsigned char)out[last];
				size_t want = lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
				assert_int_equal(k - last, want);
			}
			p = e + 2;
			prev_ew = true;
			continue;
		}
		if (*p == ' ' && prev_ew) {
			const char *q = p;
			while (*q == ' ')
				q++;
			if (strncmp(q, "=?", 2) == 0) {
				p = q;
				continue;
			}
		}
		prev_ew = false;
		out[k++] = *p++;
	}
	out[k] = '\0';
	return out;
}

/* The invariants of every mail we build.  A header line may pass 78
 * octets only when it has nowhere to fold: no space after "Name: " (a long
 * URI). */
static void check_mail(const char *m, size_t len)
{
	assert_true(len > 0);
	assert_int_equal(strlen(m), len); /* no NUL */
	const char *hend = strstr(m, "\r\n\r\n");
	assert_non_null(hend);
	size_t line = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)m[i];
		assert_true(c < 0x80); /* 7bit: every SIP byte was encoded */
		if (c == '\r') {
			assert_true(i + 1 < len && m[i + 1] == '\n');
			if (m + i < hend && line > 78) {
				const char *ls = m + i - line;
				const char *sp = memchr(ls, ' ', line);
				if (ls[0] == ' ' || !sp || memchr(sp + 1, ' ', (size_t)(m + i - sp - 1)))
					fail_msg("header line of %zu octets: %.*s", line, (int)line, ls);
			}
			assert_true(line <= 998);
			line = 0;
			i++;
			continue;
		}
		assert_true(c != '\n'); /* no bare LF */
		line++;
	}
	assert_true(len >= 2 && m[len - 2] == '\r' && m[len - 1] == '\n');
	/* one of each of these */
	static const char *const once[] = { "Date", "From", "To", "Subject",
					    "Message-ID", "MIME-Version",
					    "Content-Type" };
	for (size_t i = 0; i < sizeof once / sizeof *once; i++) {
		int n;
		free(header(m, once[i], &n));
		if (n != 1)
			fail_msg("%d %s headers", n, once[i]);
	}
}

static struct cpm_iwf_mail base_mail(void)
{
	return (struct cpm_iwf_mail){
		.rcpt = "mailto:bob@example.org",
		.sender = "sip:alice@example.test",
		.sender_display = "\"Alice Liddell\"",
		.content_type = "text/plain",
		.body = "Hello Bob\nsee you at 5\n",
		.body_len = 23,
		.date = 1700000000, /* Tue, 14 Nov 2023 22:13:20 UTC */
		.call_id = "0123456789abcdef@sf.cpmd",
	};
}

/* Build m; the mail as a malloc'd string, checked. */
static char *build(const struct cpm_iwf_mail *m)
{
	struct cpm_buf b;
	cpm_buf_init(&b, 64 << 20);
	int rc = cpm_iwf_mail_build(m, FROM, &b);
	if (rc)
		fail_msg("build: %s", cpm_strerror(rc));
	check_mail(b.p, b.len);
	return b.p; /* the buffer's memory, NUL-terminated */
}

static const char *body_of(const char *mail)
{
	return strstr(mail, "\r\n\r\n") + 4;
}

static void assert_header(const char *mail, const char *name, const char *want)
{
	char *v = header(mail, name, NULL);
	if (!v)
		fail_msg("no %s header", name);
	if (strcmp(v, want) != 0)
		fail_msg("%s: '%s', expected '%s'", name, v, want);
	free(v);
}

/* ----------------------------------------------------------------- tests */

static void test_addresses(void **state)
{
	assert_true(cpm_iwf_addr_valid("bob@example.org"));
	assert_true(cpm_iwf_addr_valid("b.o-b+tag@mail.example.org"));
	assert_true(cpm_iwf_addr_valid("x@[127.0.0.1]"));
	assert_true(cpm_iwf_addr_valid("x@[IPv6:::1]"));
	static const char *const bad[] = {
		"", "bob", "@example.org", "bob@", "bob@@example.org",
		".bob@example.org", "bo..b@example.org", "bob.@example.org",
		"bob@-example.org", "bob@example-.org", "bob@exa_mple.org",
		"b ob@example.org", "\"b ob\"@example.org", "bob@example.org>",
		"<bob@example.org>", "bob@example.org\r\nRCPT TO:<eve@evil.test>",
		"b\xc3\xb6" "b@example.org", "bob@ex\xc3\xa4" "mple.org", "a,b@example.org",
		"bob@example..org",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (cpm_iwf_addr_valid(bad[i]))
			fail_msg("'%s' accepted", bad[i]);
	char local[80];
	memset(local, 'a', 65);
	strcpy(local + 65, "@x.org");
	assert_false(cpm_iwf_addr_valid(local)); /* local part > 64 */
	local[64] = '@';
	local[65] = '\0';
	strcat(local, "x.org");
	assert_true(cpm_iwf_addr_valid(local));

	char out[CPM_IWF_ADDR_MAX + 1];
	assert_int_equal(cpm_iwf_mailto_parse("mailto:bob@example.org", out, sizeof out), 0);
	assert_string_equal(out, "bob@example.org");
	assert_int_equal(cpm_iwf_mailto_parse("MAILTO:b%6Fb@example.org?subject=x", out,
					      sizeof out),
			 0);
	assert_string_equal(out, "bob@example.org");
	assert_int_equal(cpm_iwf_mailto_parse("bob@example.org", out, sizeof out), 0);
	assert_int_equal(cpm_iwf_mailto_parse("mailto:a@x.org,b@y.org", out, sizeof out),
			 CPM_EADDR);
	assert_int_equal(cpm_iwf_mailto_parse("mailto:bob@example.org%0D%0ADATA", out,
					      sizeof out),
			 CPM_EADDR);
	assert_int_equal(cpm_iwf_mailto_parse("mailto:bob%00@example.org", out, sizeof out),
			 CPM_EADDR);
	assert_int_equal(cpm_iwf_mailto_parse("mailto:bob@example.org%4", out, sizeof out),
			 CPM_EADDR);
	assert_int_equal(cpm_iwf_mailto_parse("sip:bob@example.org", out, sizeof out),
			 CPM_EADDR);
	assert_int_equal(cpm_iwf_mailto_parse(NULL, out, sizeof out), CPM_EADDR);
	assert_int_equal(cpm_iwf_mailto_parse("bob@example.org", out, 8), CPM_ETOOBIG);
}

static void test_plain_text(void **state)
{
	struct cpm_iwf_mail m = base_mail();
	char *mail = build(&m);
	assert_header(mail, "Date", "Tue, 14 Nov 2023 22:13:20 +0000");
	assert_header(mail, "From", "\"Alice Liddell\" <" FROM ">");
	assert_header(mail, "Reply-To", "\"Alice Liddell\" <alice@example.test>");
	assert_header(mail, "To", "<bob@example.org>");
	assert_header(mail, "Subject", "Message from Alice Liddell");
	assert_header(mail, "X-CPM-SIP-From", "sip:alice@example.test");
	assert_header(mail, "Auto-Submitted", "auto-generated");
	assert_header(mail, "MIME-Version", "1.0");
	assert_header(mail, "Content-Type", "text/plain; charset=UTF-8");
	assert_header(mail, "Content-Transfer-Encoding", "7bit");
	/* line breaks made CRLF (RFC 2049 §4) */
	assert_string_equal(body_of(mail), "Hello Bob\r\nsee you at 5\r\n");
	/* the Message-ID: from the Call-ID, stable, in our domain */
	char *id1 = header(mail, "Message-ID", NULL);
	assert_int_equal(strlen(id1), strlen("<cpm.@example.test>") + 32);
	assert_true(strncmp(id1, "<cpm.", 5) == 0);
	assert_non_null(strstr(id1, "@example.test>"));
	m.date = 1800000000;
	m.body = "other";
	m.body_len = 5;
	char *again = build(&m);
	char *id2 = header(again, "Message-ID", NULL);
	assert_string_equal(id1, id2);
	m.call_id = "another@sf.cpmd";
	char *other = build(&m);
	char *id3 = header(other, "Message-ID", NULL);
	assert_string_not_equal(id1, id3);
	free(id1);
	free(id2);
	free(id3);
	free(mail);
	free(again);
	free(other);
}

static void test_sender_forms(void **state)
{
	struct cpm_iwf_mail m = base_mail();
	/* no display: user@host names the sender */
	m.sender_display = NULL;
	m.subject = "Lunch?";
	m.sender = "sips:Carol@Example.TEST;transport=tcp";
	char *mail = build(&m);
	assert_header(mail, "From", "\"Carol@example.test\" <" FROM ">");
	assert_header(mail, "Reply-To", "\"Carol@example.test\" <Carol@example.test>");
	assert_header(mail, "Subject", "Lunch?");
	assert_header(mail, "X-CPM-SIP-From", "sips:Carol@Example.TEST;transport=tcp");
	free(mail);
	/* tel: and IP hosts: no mail address to reply to */
	m.sender = "tel:+15551234567";
	mail = build(&m);
	assert_header(mail, "From", "\"tel:+15551234567\" <" FROM ">");
	int n;
	free(header(mail, "Reply-To", &n));
	assert_int_equal(n, 0);
	free(mail);
	/* a quoted display-name with escapes and specials */
	m.sender = "sip:d@example.test";
	m.sender_display = "\"Dan \\\"The Man\\\" <boss>, Jr.\"";
	mail = build(&m);
	assert_header(mail, "From", "\"Dan \\\"The Man\\\" <boss>, Jr.\" <" FROM ">");
	free(mail);
	/* errors */
	m.sender = "";
	struct cpm_buf b;
	cpm_buf_init(&b, 1 << 20);
	assert_int_equal(cpm_iwf_mail_build(&m, FROM, &b), CPM_EINVAL);
	m.sender = "sip:d@example.test";
	m.call_id = NULL;
	assert_int_equal(cpm_iwf_mail_build(&m, FROM, &b), CPM_EINVAL);
	m.call_id = "x";
	assert_int_equal(cpm_iwf_mail_build(&m, "not an address", &b), CPM_EINVAL);
	m.rcpt = "mailto:bob@example.org>";
	assert_int_equal(cpm_iwf_mail_build(&m, FROM, &b), CPM_EADDR);
	m.rcpt = NULL;
	assert_int_equal(cpm_iwf_mail_build(&m, FROM, &b), CPM_EADDR);
	cpm_buf_free(&b);
}

/* CR, LF and the other controls in every SIP-provided value: no header can
 * be injected, the mail stays well-formed. */
static void test_header_injection(void **state)
{
	struct cpm_iwf_mail m = base_mail();
	m.subject = "hi\r\nBcc: eve@evil.test\r\n\r\nfake body";
	m.sender_display = "\"A\r\nX-Evil: 1\"\nCc: eve@evil.test";
	m.sender = "sip:alice@example.test\r\nX-Evil2: 1";
	m.content_type = "text/plain; charset=\"utf-8\r\nX-Evil3: 1\"";
	char *mail = build(&m);
	static const char *const evil[] = { "Bcc", "X-Evil", "Cc", "X-Evil2", "X-Evil3" };
	for (size_t i = 0; i < sizeof evil / sizeof *evil; i++) {
		int n;
		free(header(mail, evil[i], &n));
		if (n)
			fail_msg("header %s injected", evil[i]);
	}
	assert_null(strstr(mail, "\r\nBcc:"));
	assert_header(mail, "Subject", "hi Bcc: eve@evil.test fake body");
	/* a bad charset is replaced */
	assert_header(mail, "Content-Type", "text/plain; charset=UTF-8");
	char *from = header(mail, "From", NULL);
	assert_string_equal(from, "\"\\\"A X-Evil: 1\\\" Cc: eve@evil.test\" <" FROM ">");
	free(from);
	/* the URI keeps its bytes, escaped */
	assert_header(mail, "X-CPM-SIP-From", "sip:alice@example.test%0D%0AX-Evil2:%201");
	free(mail);
	/* a long URI of control characters: escaped, cut below 998 octets */
	char uri[1200] = "sip:";
	memset(uri + 4, '\n', 1000);
	m.sender = uri;
	mail = build(&m); /* check_mail: every line <= 998 */
	char *v = header(mail, "X-CPM-SIP-From", NULL);
	assert_true(strlen(v) >= 900 && strlen(v) < 910);
	free(v);
	free(mail);
}

/* Long subjects fold at spaces before 78 columns; unfolding restores them. */
static void test_folding(void **state)
{
	struct cpm_iwf_mail m = base_mail();
	char subj[600] = "";
	for (int i = 0; i < 40; i++)
		strcat(subj, i ? " word-number-xx" : "word-number-xx");
	m.subject = subj;
	char *mail = build(&m); /* check_mail: lines <= 78 */
	assert_header(mail, "Subject", subj);
	/* folded: several physical lines */
	const char *s = strstr(mail, "\r\nSubject: ");
	assert_non_null(s);
	assert_non_null(strstr(s + 2, "\r\n "));
	free(mail);
	/* one 200-octet word cannot fold: encoded-words instead */
	memset(subj, 'x', 200);
	subj[200] = '\0';
	mail = build(&m);
	char *v = header(mail, "Subject", NULL);
	assert_true(strncmp(v, "=?UTF-8?Q?", 10) == 0);
	char *d = ew_decode(v);
	assert_string_equal(d, subj);
	free(d);
	free(v);
	free(mail);
	/* something that reads as an encoded-word is encoded itself */
	m.subject = "=?UTF-8?Q?not_one?=";
	mail = build(&m);
	v = header(mail, "Subject", NULL);
	assert_string_not_equal(v, m.subject);
	d = ew_decode(v);
	assert_string_equal(d, m.subject);
	free(d);
	free(v);
	free(mail);
}

/* RFC 2047: non-ASCII display names and subjects. */
static void test_rfc2047(void **state)
{
	struct cpm_iwf_mail m = base_mail();
	m.sender_display = "\"Zoë Ångström 日本語のテキストがとても長い名前です\"";
	m.subject = "Grüße aus Köln — 🎉 ein längerer Betreff, der über mehrere "
		    "encoded-words geht, damit gefaltet wird";
	char *mail = build(&m);
	char *v = header(mail, "Subject", NULL);
	char *d = ew_decode(v);
	assert_string_equal(d, m.subject);
	free(d);
	free(v);
	v = header(mail, "From", NULL);
	d = ew_decode(v);
	assert_string_equal(d, "Zoë Ångström 日本語のテキストがとても長い名前です <" FROM ">");
	/* never inside quotes (RFC 2047 §5) */
	assert_null(strchr(v, '"'));
	free(d);
	free(v);
	/* the default subject carries the display name too */
	m.subject = NULL;
	m.sender_display = "Zoë";
	free(mail);
	mail = build(&m);
	v = header(mail, "Subject", NULL);
	d = ew_decode(v);
	assert_string_equal(d, "Message from Zoë");
	free(d);
	free(v);
	/* invalid UTF-8 becomes U+FFFD */
	m.subject = "bad \xff\xfe end \xe2\x82";
	free(mail);
	mail = build(&m);
	v = header(mail, "Subject", NULL);
	d = ew_decode(v);
	assert_string_equal(d, "bad \xef\xbf\xbd\xef\xbf\xbd end \xef\xbf\xbd\xef\xbf\xbd");
	free(d);
	free(v);
	free(mail);
}

static void test_quoted_printable(void **state)
{
	struct cpm_iwf_mail m = base_mail();
	/* mostly ASCII with 8-bit: quoted-printable */
	const char *text = "Caf\xc3\xa9 at 5? a=b \nend with space \n";
	m.body = text;
	m.body_len = strlen(text);
	char *mail = build(&m);
	assert_header(mail, "Content-Transfer-Encoding", "quoted-printable");
	const char *b = body_of(mail);
	assert_string_equal(b, "Caf=C3=A9 at 5? a=3Db=20\r\nend with space=20\r\n");
	size_t n;
	char *dec = qp_decode(b, strlen(b), &n);
	assert_string_equal(dec, "Caf\xc3\xa9 at 5? a=b \r\nend with space \r\n");
	free(dec);
	free(mail);
	/* a 3000-octet ASCII line: over 998, soft breaks */
	char *lng = malloc(3001);
	for (int i = 0; i < 3000; i++)
		lng[i] = (char)('a' + i % 26);
	lng[3000] = '\0';
	m.body = lng;
	m.body_len = 3000;
	mail = build(&m);
	assert_header(mail, "Content-Transfer-Encoding", "quoted-printable");
	b = body_of(mail);
	for (const char *p = b; *p;) {
		const char *e = strstr(p, "\r\n");
		assert_non_null(e);
		assert_true(e - p <= 76);
		p = e + 2;
	}
	dec = qp_decode(b, strlen(b), &n);
	assert_int_equal(n, 3000);
	assert_memory_equal(dec, lng, 3000);
	free(dec);
	free(mail);
	free(lng);
	/* mostly non-ASCII: base64, with the CRLF canonical form inside */
	const char *jp = "日本語のテキスト\nです";
	m.body = jp;
	m.body_len = strlen(jp);
	m.content_type = "text/plain;charset=utf-8";
	mail = build(&m);
	assert_header(mail, "Content-Transfer-Encoding", "base64");
	assert_header(mail, "Content-Type", "text/plain; charset=utf-8");
	b = body_of(mail);
	dec = b64_decode(b, strlen(b), &n);
	assert_string_equal(dec, "日本語のテキスト\r\nです");
	free(dec);
	free(mail);
}

static void test_other_text(void **state)
{
	struct cpm_iwf_mail m = base_mail();
	m.content_type = "TEXT/HTML; charset=ISO-8859-1";
	m.body = "<p>caf\xe9</p>\r\n";
	m.body_len = strlen(m.body);
	char *mail = build(&m);
	assert_header(mail, "Content-Type", "text/html; charset=ISO-8859-1");
	assert_string_equal(body_of(mail), "<p>caf=E9</p>\r\n");
	free(mail);
	/* no body */
	m.content_type = NULL;
	m.body = NULL;
	m.body_len = 0;
	mail = build(&m);
	assert_header(mail, "Content-Type", "text/plain; charset=UTF-8");
	assert_string_equal(body_of(mail), "");
	free(mail);
}

/* The body parts of a multipart mail, split on its boundary. */
static int mime_parts(const char *mail, char parts[][4096], int max)
{
	char *ct = header(mail, "Content-Type", NULL);
	const char *bq = strstr(ct, "boundary=\"");
	assert_non_null(bq);
	char delim[128];
	snprintf(delim, sizeof delim, "\r\n--%.*s", (int)(strchr(bq + 10, '"') - bq - 10),
		 bq + 10);
	free(ct);
	const char *p = strstr(body_of(mail) - 2, delim);
	int n = 0;
	while (p && n < max) {
		p += strlen(delim);
		if (strncmp(p, "--", 2) == 0)
			return n; /* the closing delimiter */
		const char *next = strstr(p, delim);
		assert_non_null(next);
		snprintf(parts[n++], 4096, "%.*s", (int)(next - p - 2), p + 2);
		p = next;
	}
	fail_msg("no closing delimiter");
	return -1;
}

static void test_attachment(void **state)
{
	unsigned char png[300];
	for (size_t i = 0; i < sizeof png; i++)
		png[i] = (unsigned char)i;
	struct cpm_iwf_mail m = base_mail();
	m.content_type = "image/png";
	m.body = png;
	m.body_len = sizeof png;
	char *mail = build(&m);
	char *ct = header(mail, "Content-Type", NULL);
	assert_true(strncmp(ct, "multipart/mixed; boundary=\"=_cpm_", 33) == 0);
	free(ct);
	char parts[4][4096];
	assert_int_equal(mime_parts(mail, parts, 4), 2);
	/* a short text first */
	assert_non_null(strstr(parts[0], "Content-Type: text/plain; charset=UTF-8\r\n"));
	assert_non_null(strstr(parts[0], "Alice Liddell (alice@example.test) sent you a SIP "
					 "message of type image/png (300 bytes); it is attached."));
	/* then the payload */
	assert_non_null(strstr(parts[1], "Content-Type: image/png; name=\"message.png\"\r\n"));
	assert_non_null(strstr(parts[1], "Content-Transfer-Encoding: base64\r\n"));
	assert_non_null(
		strstr(parts[1], "Content-Disposition: attachment; filename=\"message.png\"\r\n"));
	const char *b = strstr(parts[1], "\r\n\r\n") + 4;
	size_t n;
	char *dec = b64_decode(b, strlen(b), &n);
	assert_int_equal(n, sizeof png);
	assert_memory_equal(dec, png, sizeof png);
	free(dec);
	free(mail);
	/* message types and unknown ones: octet-stream (RFC 2045 §6.4) */
	m.content_type = "message/rfc822";
	mail = build(&m);
	assert_int_equal(mime_parts(mail, parts, 4), 2);
	assert_non_null(strstr(parts[1], "Content-Type: application/octet-stream; "
					 "name=\"message.bin\"\r\n"));
	free(mail);
	m.content_type = "not a type";
	mail = build(&m);
	assert_int_equal(mime_parts(mail, parts, 4), 2);
	assert_non_null(strstr(parts[0], "of type unknown (300 bytes)"));
	free(mail);
}

static void test_cpim(void **state)
{
	const char *cpim = "From: <sip:alice@example.test>\r\n"
			   "To: <sip:bob@example.test>\r\n"
			   "NS: imdn <urn:ietf:params:imdn>\r\n"
			   "Subject:;lang=fr Bonjour\r\n"
			   "Subject: Hello\r\n"
			   "imdn.Message-ID: 34jk324j\r\n"
			   "\r\n"
			   "Content-Type: text/plain; charset=utf-8\r\n"
			   "\r\n"
			   "Salut =_ Bob\r\n";
	struct cpm_iwf_mail m = base_mail();
	m.content_type = "message/cpim";
	m.body = cpim;
	m.body_len = strlen(cpim);
	char *mail = build(&m);
	assert_header(mail, "Subject", "Bonjour");
	assert_header(mail, "Content-Type", "text/plain; charset=utf-8");
	assert_string_equal(body_of(mail), "Salut =_ Bob\r\n");
	free(mail);
	/* the SIP Subject wins */
	m.subject = "From SIP";
	mail = build(&m);
	assert_header(mail, "Subject", "From SIP");
	free(mail);
	/* a broken CPIM: sent as an attachment */
	m.body = "no blank line";
	m.body_len = strlen(m.body);
	mail = build(&m);
	char parts[4][4096];
	assert_int_equal(mime_parts(mail, parts, 4), 2);
	assert_non_null(strstr(parts[1], "application/octet-stream"));
	free(mail);
}

/* A multipart SIP body: its parts become the mail's, text inline. */
static void test_multipart_body(void **state)
{
	const char *body = "--XYZ\r\n"
			   "Content-Type: text/plain\r\n"
			   "\r\n"
			   "see the =_ picture\r\n"
			   "--XYZ\r\n"
			   "Content-Type: image/jpeg\r\n"
			   "Content-Disposition: render; filename=\"cat.jpg\"\r\n"
			   "\r\n"
			   "\xff\xd8\xff\xe0JFIF\r\n"
			   "--XYZ\r\n"
			   "Content-Type: application/x-evil\r\n"
			   "Content-Disposition: attachment; filename=\"../../etc/passwd\"\r\n"
			   "\r\n"
			   "x\r\n"
			   "--XYZ--\r\n";
	struct cpm_iwf_mail m = base_mail();
	m.content_type = "multipart/mixed; boundary=XYZ";
	m.body = body;
	m.body_len = strlen(body);
	char *mail = build(&m);
	char parts[5][4096];
	assert_int_equal(mime_parts(mail, parts, 5), 4);
	assert_non_null(strstr(parts[0], "sent you a SIP message in 3 parts"));
	/* "=_" in 7bit text would risk the boundary: quoted-printable */
	assert_non_null(strstr(parts[1], "Content-Transfer-Encoding: quoted-printable\r\n"));
	assert_non_null(strstr(parts[1], "see the =3D_ picture"));
	assert_non_null(strstr(parts[2], "Content-Type: image/jpeg; name=\"cat.jpg\"\r\n"));
	const char *b = strstr(parts[2], "\r\n\r\n") + 4;
	size_t n;
	char *dec = b64_decode(b, strlen(b), &n);
	assert_int_equal(n, 8);
	assert_memory_equal(dec, "\xff\xd8\xff\xe0JFIF", 8);
	free(dec);
	/* a file name with a path is not used */
	assert_non_null(strstr(parts[3], "filename=\"message.bin\""));
	free(mail);
}

static void test_from_store(void **state)
{
	struct cpm_store_msg sm;
	memset(&sm, 0, sizeof sm);
	snprintf(sm.sender, sizeof sm.sender, "sip:alice@example.test");
	snprintf(sm.sender_display, sizeof sm.sender_display, "\"Alice\"");
	snprintf(sm.call_id, sizeof sm.call_id, "abc@sf.cpmd");
	snprintf(sm.content_type, sizeof sm.content_type, "text/plain");
	snprintf(sm.subject, sizeof sm.subject, "stored");
	sm.body = "hi";
	sm.body_len = 2;
	sm.date = 1700000000;
	struct cpm_iwf_mail m;
	cpm_iwf_mail_from_store(&m, &sm, "mailto:bob@example.org");
	char *mail = build(&m);
	assert_header(mail, "Subject", "stored");
	assert_header(mail, "From", "\"Alice\" <" FROM ">");
	assert_string_equal(body_of(mail), "hi\r\n");
	free(mail);
	/* the buffer's limit */
	struct cpm_buf b;
	cpm_buf_init(&b, 100);
	assert_int_equal(cpm_iwf_mail_build(&m, FROM, &b), CPM_ETOOBIG);
	cpm_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_plain_text),
		cmocka_unit_test(test_sender_forms),
		cmocka_unit_test(test_header_injection),
		cmocka_unit_test(test_folding),
		cmocka_unit_test(test_rfc2047),
		cmocka_unit_test(test_quoted_printable),
		cmocka_unit_test(test_other_text),
		cmocka_unit_test(test_attachment),
		cmocka_unit_test(test_cpim),
		cmocka_unit_test(test_multipart_body),
		cmocka_unit_test(test_from_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
