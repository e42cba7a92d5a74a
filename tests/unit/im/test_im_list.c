/* im: URI-list MESSAGE bodies (RFC 5365, RFC 4826, RFC 5364) read by
 * cpm_im_list_parse from real requests: the payload part, recipients with
 * copyControl, duplicates, the limit, and every refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "im/im.h"

struct req {
	char wire[16384];
	struct cpm_sip_msg m;
};

/* A MESSAGE with the given Content-Type and body (LF lines become CRLF). */
static void build(struct req *r, const char *ctype, const char *body)
{
	char b[8192];
	size_t o = 0;
	for (const char *p = body; *p && o < sizeof b - 2; p++) {
		if (*p == '\n')
			b[o++] = '\r';
		b[o++] = *p;
	}
	b[o] = '\0';
	int n = snprintf(r->wire, sizeof r->wire,
			 "MESSAGE sip:list@example.test SIP/2.0\r\n"
			 "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n"
			 "Max-Forwards: 70\r\nTo: <sip:list@example.test>\r\n"
			 "From: <sip:alice@example.test>;tag=49583\r\n"
			 "Call-ID: a84b4c76e66710@192.0.2.1\r\nCSeq: 1 MESSAGE\r\n"
			 "Require: recipient-list-message\r\n"
			 "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n%s",
			 ctype, o, b);
	struct cpm_sip_limits lim;
	cpm_sip_limits_default(&lim);
	if (cpm_sip_msg_parse(&r->m, r->wire, (size_t)n, CPM_SIP_DATAGRAM, &lim))
		fail_msg("parse: %s", r->m.err_reason);
}

#define MP "multipart/mixed;boundary=\"b1\""

static const char body_ok[] =
	"--b1\n"
	"Content-Type: text/plain\n"
	"\n"
	"Hello everybody\n"
	"--b1\n"
	"Content-Type: application/resource-lists+xml\n"
	"Content-Disposition: recipient-list\n"
	"\n"
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\"\n"
	" xmlns:cp=\"urn:ietf:params:xml:ns:copycontrol\">\n"
	" <list>\n"
	"  <entry uri=\"sip:bob@example.test\" cp:copyControl=\"to\"/>\n"
	"  <entry uri=\"sip:carol@example.test;transport=tcp\" cp:copyControl=\"cc\"/>\n"
	"  <list><entry uri=\"sip:dave@Example.TEST\" cp:copyControl=\"bcc\"/></list>\n"
	"  <entry uri=\"sip:bob@example.test\"/>\n"
	"  <entry uri=\"sips:erin@other.test\"/>\n"
	" </list>\n"
	"</resource-lists>\n"
	"--b1--\n";

static void test_ok(void **state)
{
	struct req r;
	build(&r, MP, body_ok);
	struct cpm_im_list l;
	char err[CPM_IM_ERR_MAX] = "";
	assert_int_equal(cpm_im_list_parse(&r.m, 10, &l, err), 0);
	assert_true(cpm_str_eq_cstr(l.payload_ctype, "text/plain"));
	assert_true(cpm_str_eq_cstr(l.payload, "Hello everybody"));
	assert_int_equal(l.n, 4); /* bob once */
	assert_string_equal(l.v[0].aor, "bob@example.test");
	assert_int_equal(l.v[0].copy, CPM_IM_COPY_TO);
	assert_string_equal(l.v[1].aor, "carol@example.test");
	assert_string_equal(l.v[1].uri, "sip:carol@example.test;transport=tcp");
	assert_int_equal(l.v[1].copy, CPM_IM_COPY_CC);
	assert_string_equal(l.v[2].aor, "dave@example.test");
	assert_int_equal(l.v[2].copy, CPM_IM_COPY_BCC);
	assert_string_equal(l.v[3].aor, "erin@other.test");
	cpm_im_list_free(&l);

	/* the limit counts distinct recipients */
	assert_int_equal(cpm_im_list_parse(&r.m, 4, &l, err), 0);
	cpm_im_list_free(&l);
	assert_int_equal(cpm_im_list_parse(&r.m, 3, &l, err), CPM_ELIMIT);
	assert_non_null(strstr(err, "too many"));
}

static void refused(const char *ctype, const char *body, int want, const char *errpart)
{
	struct req r;
	build(&r, ctype, body);
	struct cpm_im_list l;
	char err[CPM_IM_ERR_MAX] = "";
	int rc = cpm_im_list_parse(&r.m, 10, &l, err);
	if (rc != want || !strstr(err, errpart))
		fail_msg("want %d '%s', got %d '%s'", want, errpart, rc, err);
	assert_null(l.v);
}

#define LIST_PART(xml)                                   \
	"--b1\nContent-Type: application/resource-lists+xml\n" \
	"Content-Disposition: recipient-list\n\n" xml "\n"
#define RL_OPEN "<resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\"><list>"
#define RL_CLOSE "</list></resource-lists>"
#define TEXT_PART "--b1\nContent-Type: text/plain\n\nhi\n"

static void test_refusals(void **state)
{
	refused("text/plain", "hello", CPM_EUNSUPP, "multipart/mixed");
	refused(MP, TEXT_PART "--b1--\n", CPM_EPARSE, "no recipient-list part");
	refused(MP, LIST_PART(RL_OPEN "<entry uri=\"sip:bob@example.test\"/>" RL_CLOSE) "--b1--\n",
		CPM_EPARSE, "no message part");
	refused(MP, TEXT_PART LIST_PART(RL_OPEN "<entry uri=\"sip:bob@exa" ) "--b1--\n",
		CPM_EPARSE, "well-formed");
	refused(MP, TEXT_PART LIST_PART("<lists xmlns=\"urn:x\"/>") "--b1--\n", CPM_EPARSE,
		"root");
	refused(MP, TEXT_PART LIST_PART(RL_OPEN RL_CLOSE) "--b1--\n", CPM_EPARSE, "empty");
	refused(MP, TEXT_PART LIST_PART(RL_OPEN "<entry uri=\"tel:+123\"/>" RL_CLOSE) "--b1--\n",
		CPM_EPARSE, "tel:+123");
	refused(MP, TEXT_PART LIST_PART(RL_OPEN "<entry uri=\"sip:example.test\"/>" RL_CLOSE)
		"--b1--\n", CPM_EPARSE, "user URI");
	refused(MP, TEXT_PART LIST_PART(RL_OPEN "<entry/>" RL_CLOSE) "--b1--\n", CPM_EPARSE,
		"without uri");
	refused(MP, TEXT_PART LIST_PART(RL_OPEN "<entry-ref ref=\"x\"/>" RL_CLOSE) "--b1--\n",
		CPM_EUNSUPP, "entry-ref");
	/* an external entity is neither fetched nor expanded (no XXE) */
	refused(MP, TEXT_PART LIST_PART("<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
					RL_OPEN "<entry uri=\"sip:&x;@example.test\"/>" RL_CLOSE)
		"--b1--\n", CPM_EPARSE, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
