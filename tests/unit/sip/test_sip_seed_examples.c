/* sip: requirement R12 — the seed documents' example messages (digest §3,
 * ../shared/mission/seeds-digest.md) are parsed leniently or rejected with a
 * defined status, never a crash; and a rejected request can still be
 * answered.  Their known defects (scheme-less URIs, CSeq method mismatch,
 * wrong Content-Length, missing branch) decide the expected verdicts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sip/sip.h"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *p = malloc((size_t)n + 1);
	if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		p = NULL;
	}
	fclose(f);
	if (p) {
		p[n] = '\0';
		*len = (size_t)n;
	}
	return p;
}

static char *digest(size_t *len)
{
	const char *env = getenv("CPM_SHARED_DIR");
	char path[1024];
	snprintf(path, sizeof path, "%s/mission/seeds-digest.md", env ? env : "../shared");
	return slurp(path, len);
}

/* Does a code block start with a SIP request line? */
static bool is_request_block(const char *b, const char *e)
{
	const char *nl = memchr(b, '\n', (size_t)(e - b));
	if (!nl || nl - b < 12)
		return false;
	return memcmp(nl - 7, "SIP/2.0", 7) == 0 && b[0] >= 'A' && b[0] <= 'Z';
}

struct verdict {
	const char *first_line_prefix;
	int status; /* 0 = accepted */
};

/* What the defects listed in the digest lead to. */
static const struct verdict verdicts[] = {
	/* E1/E2: scheme-less Request-URI (R12: a defined rejection) */
	{ "INVITE colleagues@conference.nokia.com", 400 },
	{ "INVITE IMS-B@nokia.com", 400 },
	/* E3: CSeq says INVITE in a MESSAGE (RFC 3261 §8.1.1.5) */
	{ "MESSAGE sip:conference.nokia.com", 400 },
};

static void test_seed_examples(void **state)
{
	size_t len;
	char *doc = digest(&len);
	if (!doc)
		skip();
	const char *sec = strstr(doc, "## 3. Concrete example messages");
	assert_non_null(sec);
	const char *end = strstr(sec, "\n## 4.");
	if (!end)
		end = doc + len;
	struct cpm_sip_limits lim;
	cpm_sip_limits_default(&lim);
	unsigned blocks = 0, accepted = 0, rejected = 0, checked = 0;
	const char *p = sec;
	while ((p = strstr(p, "\n```\n")) && p < end) {
		const char *b = p + 5;
		const char *e = strstr(b, "\n```");
		if (!e || e > end)
			break;
		p = e + 4;
		if (!is_request_block(b, e))
			continue;
		blocks++;
		/* the fences hold LF lines: make CRLF, as on the wire */
		size_t n = (size_t)(e - b) + 1;
		char *wire = malloc(2 * n + 4);
		size_t w = 0;
		for (size_t i = 0; i < n; i++) {
			char ch = i < n - 1 ? b[i] : '\n';
			if (ch == '\n')
				wire[w++] = '\r';
			wire[w++] = ch;
		}
		struct cpm_sip_msg *m = malloc(sizeof *m);
		int rc = cpm_sip_msg_parse(m, wire, w, CPM_SIP_DATAGRAM, &lim);
		if (rc == 0) {
			accepted++;
		} else {
			rejected++;
			/* a defined error, and an answer that can be built */
			assert_true(m->err_status == 400 || m->err_status == 413 ||
				    m->err_status == 505 || m->err_status == 513);
			assert_non_null(m->err_reason);
			struct cpm_buf out;
			cpm_buf_init(&out, 65536);
			assert_int_equal(cpm_sip_print_response_start(&out, m, m->err_status,
								      m->err_reason, "t"), 0);
			assert_int_equal(cpm_sip_print_body(&out, CPM_STR_NULL, CPM_STR_NULL), 0);
			struct cpm_sip_msg *r = malloc(sizeof *r);
			assert_int_equal(cpm_sip_msg_parse(r, out.p, out.len, CPM_SIP_DATAGRAM, &lim), 0);
			assert_int_equal(r->status, m->err_status);
			free(r);
			cpm_buf_free(&out);
		}
		for (size_t i = 0; i < sizeof verdicts / sizeof verdicts[0]; i++) {
			size_t pl = strlen(verdicts[i].first_line_prefix);
			if ((size_t)(e - b) >= pl && memcmp(b, verdicts[i].first_line_prefix, pl) == 0) {
				checked++;
				if (verdicts[i].status == 0)
					assert_int_equal(rc, 0);
				else
					assert_int_equal(m->err_status, verdicts[i].status);
			}
		}
		free(m);
		free(wire);
	}
	print_message("seed examples: %u request blocks, %u accepted, %u rejected\n", blocks,
		      accepted, rejected);
	assert_true(blocks >= 4);
	assert_true(checked >= 3);
	free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_examples),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
