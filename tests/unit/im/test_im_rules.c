/* im: the store-and-forward decision table (cpm_im_decide), one test per
 * row of docs/STORE_AND_FORWARD.md at least.  Each row test also checks
 * the row's fate and status as written in the document, and
 * test_doc_rows_all_tested fails when the document gains, loses or renames
 * a row, so that code, table and tests cannot drift apart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "im/im.h"

/* ------------------------------------------------------ the document table */

#define MAX_ROWS 32

struct doc_row {
	char id[8];
	char fate[32];
	int status;
	bool tested;
};

static struct doc_row rows[MAX_ROWS];
static unsigned nrows;

static char *slurp(const char *path)
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
	if (p)
		p[n] = '\0';
	return p;
}

/* The cells of "| S7 | when | fate | status | source |" rows of the
 * "Decision table" section. */
static int load_doc(void **state)
{
	(void)state;
	const char *paths[] = { "docs/STORE_AND_FORWARD.md", "../docs/STORE_AND_FORWARD.md",
				"../../docs/STORE_AND_FORWARD.md",
				"../../../docs/STORE_AND_FORWARD.md" };
	char *doc = NULL;
	for (size_t i = 0; !doc && i < sizeof paths / sizeof paths[0]; i++)
		doc = slurp(paths[i]);
	if (!doc)
		return -1;
	char *sec = strstr(doc, "## Decision table");
	if (!sec) {
		free(doc);
		return -1;
	}
	char *end = strstr(sec + 3, "\n## ");
	if (end)
		*end = '\0';
	nrows = 0;
	for (char *line = strtok(sec, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, "| S", 3) != 0)
			continue;
		assert_true(nrows < MAX_ROWS);
		struct doc_row *r = &rows[nrows++];
		char cells[6][256];
		int nc = 0;
		char *p = line + 1;
		while (nc < 6 && *p) {
			char *bar = strchr(p, '|');
			if (!bar)
				break;
			size_t n = (size_t)(bar - p);
			while (n && (*p == ' '))
				p++, n--;
			while (n && p[n - 1] == ' ')
				n--;
			if (n > 255)
				n = 255;
			memcpy(cells[nc], p, n);
			cells[nc][n] = '\0';
			nc++;
			p = bar + 1;
		}
		if (nc < 4) {
			free(doc);
			return -1;
		}
		snprintf(r->id, sizeof r->id, "%.7s", cells[0]);
		/* the fate cell is `name`, maybe with words after it */
		char *f = cells[2];
		if (*f == '`')
			f++;
		size_t fl = strcspn(f, "` ");
		snprintf(r->fate, sizeof r->fate, "%.*s", (int)fl, f);
		r->status = atoi(cells[3]);
		r->tested = false;
	}
	free(doc);
	return nrows ? 0 : -1;
}

static void doc_check(const char *id, const struct cpm_im_decision *d)
{
	for (unsigned i = 0; i < nrows; i++) {
		if (strcmp(rows[i].id, id) != 0)
			continue;
		/* the code names its rule with the row id first */
		const char *rn = cpm_im_rule_name(d->rule);
		size_t il = strlen(id);
		if (strncmp(rn, id, il) != 0 || rn[il] != ' ')
			fail_msg("row %s: decided by rule %s", id, rn);
		if (strcmp(rows[i].fate, cpm_im_fate_name(d->fate)) != 0)
			fail_msg("row %s: doc says %s, code says %s", id, rows[i].fate,
				 cpm_im_fate_name(d->fate));
		if (rows[i].status != d->status)
			fail_msg("row %s: doc says status %d, code says %d", id,
				 rows[i].status, d->status);
		rows[i].tested = true;
		return;
	}
	fail_msg("row %s is not in docs/STORE_AND_FORWARD.md", id);
}

/* ---------------------------------------------------------------- fixture */

struct fx {
	struct cpm_im_indicators ind;
	struct cpm_im_profile prof;
	struct cpm_im_class cls;
	struct cpm_im_usage use;
	struct cpm_im_limits lim;
	size_t len;
	int64_t exp;
	struct cpm_im_decision d;
};

/* A 100-byte text/plain MESSAGE, no indicator, server defaults, empty box. */
static void fx_init(struct fx *f)
{
	memset(f, 0, sizeof *f);
	f->ind.method = CPM_SIP_MESSAGE;
	f->ind.kind = CPM_IM_KIND_MESSAGE;
	f->ind.content_type = CPM_STR("text/plain");
	f->ind.payload_type = CPM_STR("text/plain");
	f->ind.expires = -1;
	cpm_im_profile_default(&f->prof);
	cpm_im_class_default(&f->cls);
	cpm_im_limits_default(&f->lim);
	f->len = 100;
	f->exp = -1;
}

static void run(struct fx *f)
{
	assert_int_equal(cpm_im_decide(&f->ind, &f->prof, &f->cls, &f->use, f->len,
				       &f->lim, f->exp, &f->d), 0);
}

static void set(struct fx *f, const char *kv)
{
	char err[CPM_IM_ERR_MAX];
	if (cpm_im_profile_set(&f->prof, kv, err) != 0)
		fail_msg("%s: %s", kv, err);
}

#define EXPECT(f, fate_, rule_, status_)                     \
	do {                                                  \
		run(f);                                       \
		assert_int_equal((f)->d.fate, (fate_));       \
		assert_int_equal((f)->d.rule, (rule_));       \
		assert_int_equal((f)->d.status, (status_));   \
	} while (0)

/* ------------------------------------------------------------- the rows */

static void test_s1_session(void **state)
{
	(void)state;
	struct fx f;
	/* INVITE without a message payload: a call, whatever it asks */
	fx_init(&f);
	f.ind.method = CPM_SIP_INVITE;
	f.ind.kind = CPM_IM_KIND_SESSION;
	f.ind.payload_type = CPM_STR_NULL;
	f.ind.req = CPM_IM_REQ_STORE_FWD;
	EXPECT(&f, CPM_IM_DELIVER_ONLY, CPM_IM_RULE_SESSION, 480);
	doc_check("S1", &f.d);
	/* INVITE with a payload but no store indicator */
	fx_init(&f);
	f.ind.method = CPM_SIP_INVITE;
	f.ind.payload_type = CPM_STR("image/jpeg");
	EXPECT(&f, CPM_IM_DELIVER_ONLY, CPM_IM_RULE_SESSION, 480);
	/* ... even when the profile would not accept the SDP */
	set(&f, "accepts=text/plain");
	f.ind.payload_type = CPM_STR_NULL;
	f.ind.kind = CPM_IM_KIND_SESSION;
	EXPECT(&f, CPM_IM_DELIVER_ONLY, CPM_IM_RULE_SESSION, 480);
	/* INFO likewise */
	fx_init(&f);
	f.ind.method = CPM_SIP_INFO;
	f.ind.req = CPM_IM_REQ_INSTANT;
	EXPECT(&f, CPM_IM_DELIVER_ONLY, CPM_IM_RULE_SESSION, 480);
	/* with payload and a store indicator it is a message (seed 002 claims 6-7) */
	fx_init(&f);
	f.ind.method = CPM_SIP_INVITE;
	f.ind.payload_type = CPM_STR("image/jpeg");
	f.ind.req = CPM_IM_REQ_STORE_FWD;
	EXPECT(&f, CPM_IM_STORE, CPM_IM_RULE_STORE, 202);
	f.ind.method = CPM_SIP_INFO;
	f.ind.req = CPM_IM_REQ_DEFERRED;
	EXPECT(&f, CPM_IM_STORE_DEFERRED, CPM_IM_RULE_DEFERRED_REQ, 202);
}

static void test_s2_not_accepted(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	set(&f, "accepts=text/plain,message/*");
	f.ind.payload_type = CPM_STR("image/jpeg");
	EXPECT(&f, CPM_IM_REJECT, CPM_IM_RULE_NOT_ACCEPTED, 415);
	assert_true(f.d.accept_hdr);
	assert_false(f.d.never_store);
	doc_check("S2", &f.d);
	struct cpm_buf b;
	cpm_buf_init(&b, 1024);
	assert_int_equal(cpm_im_accept_header(&f.prof, &b), 0);
	assert_string_equal(b.p, "text/plain, message/*");
	cpm_buf_free(&b);
	/* before instant, store requests, forward, profile no, quotas */
	f.ind.req = CPM_IM_REQ_INSTANT;
	EXPECT(&f, CPM_IM_REJECT, CPM_IM_RULE_NOT_ACCEPTED, 415);
	f.ind.req = CPM_IM_REQ_DEFERRED;
	EXPECT(&f, CPM_IM_REJECT, CPM_IM_RULE_NOT_ACCEPTED, 415);
	set(&f, "store-and-forward=forward:sip:other@example.com");
	EXPECT(&f, CPM_IM_REJECT, CPM_IM_RULE_NOT_ACCEPTED, 415);
	set(&f, "store-and-forward=no");
	EXPECT(&f, CPM_IM_REJECT, CPM_IM_RULE_NOT_ACCEPTED, 415);
	/* isComposing not accepted: 415 as on the live path */
	fx_init(&f);
	set(&f, "accepts=text/*");
	f.ind.kind = CPM_IM_KIND_ISCOMPOSING;
	f.ind.payload_type = CPM_STR("application/im-iscomposing+xml");
	EXPECT(&f, CPM_IM_REJECT, CPM_IM_RULE_NOT_ACCEPTED, 415);
	/* IMDN reports follow the same list ("stored like messages") */
	f.ind.kind = CPM_IM_KIND_IMDN;
	f.ind.payload_type = CPM_STR("message/imdn+xml");
	EXPECT(&f, CPM_IM_REJECT, CPM_IM_RULE_NOT_ACCEPTED, 415);
	/* accepted types go on */
	f.ind.kind = CPM_IM_KIND_MESSAGE;
	f.ind.payload_type = CPM_STR("TEXT/HTML");
	EXPECT(&f, CPM_IM_STORE, CPM_IM_RULE_STORE, 202);
	/* no body: nothing to refuse */
	f.ind.kind = CPM_IM_KIND_NONE;
	f.ind.payload_type = CPM_STR_NULL;
	f.len = 0;
	EXPECT(&f, CPM_IM_STORE, CPM_IM_RULE_STORE, 202);
}

static void test_s3_iscomposing(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	f.ind.kind = CPM_IM_KIND_ISCOMPOSING;
	f.ind.payload_type = CPM_STR("application/im-iscomposing+xml");
	EXPECT(&f, CPM_IM_DELIVER_ONLY, CPM_IM_RULE_ISCOMPOSING, 480);
	assert_true(f.d.never_store);
	doc_check("S3", &f.d);
	/* whatever the sender or the profile asks */
	f.ind.req = CPM_IM_REQ_DEFERRED;
	f.ind.notify = true;
	EXPECT(&f, CPM_IM_DELIVER_ONLY, CPM_IM_RULE_ISCOMPOSING, 480);
	assert_true(f.d.never_store);
	assert_false(f.d.report_delivered);
	set(&f, "store-and-forward=forward:mailto:bob@example.com");
	EXPECT(&f, CPM_IM_DELIVER_ONLY, CPM_IM_RULE_ISCOMPOSING, 480);
	set(&f, "store-and-forward=notify");
	EXPECT(&f, CPM_IM_DELIVER_ONLY, CPM_IM_RULE_ISCOMPOSING, 480);
}

static void test_s4_instant(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	f.ind.req = CPM_IM_REQ_INSTANT;
	EXPECT(&f, CPM_IM_DELIVER_ONLY, CPM_IM_RULE_INSTANT, 480);
	assert_false(f.d.never_store);
	doc_check("S4", &f.d);
	/* wins over every profile that would store or forward */
	set(&f, "store-and-forward=notify");
	EXPECT(&f, CPM_IM_DELIVER_ONLY, CPM_IM_RULE_INSTANT, 480);
	assert_false(f.d.report_delivered);
	set(&f, "store-and-forward=forward:sip:voicemail@example.com");
	EXPECT(&f, CPM_IM_DELIVER_ONLY, CPM_IM_RULE_INSTANT, 480);
	set(&f, "store-and-forward=no");
	EXPECT(&f, CPM_IM_DELIVER_ONLY, CPM_IM_RULE_INSTANT, 480);
	/* and over quota or size answers: nothing is stored */
	set(&f, "store-and-forward=yes");
	f.cls.max_messages = 1;
	f.use.count = 5;
	EXPECT(&f, CPM_IM_DELIVER_ONLY, CPM_IM_RULE_INSTANT, 480);
}

static void test_s5_stale(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	f.exp = 0;
	EXPECT(&f, CPM_IM_DELIVER_ONLY, CPM_IM_RULE_STALE, 480);
	doc_check("S5", &f.d);
	f.ind.req = CPM_IM_REQ_STORE_FWD;
	EXPECT(&f, CPM_IM_DELIVER_ONLY, CPM_IM_RULE_STALE, 480);
	set(&f, "store-and-forward=forward:mailto:a@b.example");
	EXPECT(&f, CPM_IM_DELIVER_ONLY, CPM_IM_RULE_STALE, 480);
	/* 1 second is still worth storing */
	set(&f, "store-and-forward=yes");
	f.exp = 1;
	EXPECT(&f, CPM_IM_STORE, CPM_IM_RULE_STORE, 202);
	assert_int_equal(f.d.expires, 1);
}

static void test_s6_forward(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	set(&f, "store-and-forward=forward:sip:assistant@example.com");
	EXPECT(&f, CPM_IM_FORWARD, CPM_IM_RULE_FORWARD, 0);
	assert_string_equal(f.d.target, "sip:assistant@example.com");
	assert_false(f.d.report_stored);
	assert_false(f.d.report_delivered);
	doc_check("S6", &f.d);
	set(&f, "store-and-forward=forward:mailto:bob@example.com");
	EXPECT(&f, CPM_IM_FORWARD, CPM_IM_RULE_FORWARD, 0);
	assert_string_equal(f.d.target, "mailto:bob@example.com");
	/* no storage here: class and quotas do not apply */
	f.cls.storage = false;
	EXPECT(&f, CPM_IM_FORWARD, CPM_IM_RULE_FORWARD, 0);
	f.cls.storage = true;
	f.cls.max_messages = 1;
	f.use.count = 1;
	f.cls.max_bytes = 10;
	f.len = 5000;
	EXPECT(&f, CPM_IM_FORWARD, CPM_IM_RULE_FORWARD, 0);
	/* the sender's store requests do not override the recipient's forward */
	f.ind.req = CPM_IM_REQ_DEFERRED;
	EXPECT(&f, CPM_IM_FORWARD, CPM_IM_RULE_FORWARD, 0);
	/* reports asked by the sender; "stored" never, it is not stored */
	f.ind.notify = true;
	EXPECT(&f, CPM_IM_FORWARD, CPM_IM_RULE_FORWARD, 0);
	assert_false(f.d.report_stored);
	assert_true(f.d.report_delivered);
	assert_true(f.d.report_failed);
}

static void test_s7_profile_no(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	set(&f, "store-and-forward=NO"); /* the seed's spelling (R111) */
	EXPECT(&f, CPM_IM_DELIVER_ONLY, CPM_IM_RULE_PROFILE_NO, 480);
	doc_check("S7", &f.d);
}

static void test_s8_profile_no_request(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	set(&f, "store-and-forward=no");
	const enum cpm_im_request reqs[] = { CPM_IM_REQ_STORE_FWD, CPM_IM_REQ_STORE,
					     CPM_IM_REQ_DEFERRED };
	for (size_t i = 0; i < 3; i++) {
		f.ind.req = reqs[i];
		EXPECT(&f, CPM_IM_REJECT, CPM_IM_RULE_PROFILE_NO_REQ, 480);
		doc_check("S8", &f.d);
	}
	assert_non_null(strstr(f.d.reason, "Storage"));
	/* profile no comes before class and quota answers */
	f.cls.storage = false;
	EXPECT(&f, CPM_IM_REJECT, CPM_IM_RULE_PROFILE_NO_REQ, 480);
}

static void test_s9_class_off(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	assert_int_equal(cpm_im_class_set(&f.cls, "storage", "no", NULL), 0);
	EXPECT(&f, CPM_IM_DELIVER_ONLY, CPM_IM_RULE_CLASS_OFF, 480);
	doc_check("S9", &f.d);
	/* also for profile notify */
	set(&f, "store-and-forward=notify");
	EXPECT(&f, CPM_IM_DELIVER_ONLY, CPM_IM_RULE_CLASS_OFF, 480);
}

static void test_s10_class_off_request(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	f.cls.storage = false;
	f.ind.req = CPM_IM_REQ_STORE_FWD;
	EXPECT(&f, CPM_IM_REJECT, CPM_IM_RULE_CLASS_OFF_REQ, 480);
	doc_check("S10", &f.d);
	f.ind.req = CPM_IM_REQ_DEFERRED;
	EXPECT(&f, CPM_IM_REJECT, CPM_IM_RULE_CLASS_OFF_REQ, 480);
	/* before quotas */
	f.cls.max_messages = 1;
	f.use.count = 1;
	EXPECT(&f, CPM_IM_REJECT, CPM_IM_RULE_CLASS_OFF_REQ, 480);
}

static void test_s11_too_big(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	f.cls.max_bytes = 1000;
	f.len = 1001;
	EXPECT(&f, CPM_IM_REJECT, CPM_IM_RULE_TOO_BIG, 413);
	doc_check("S11", &f.d);
	/* even with an empty box, and before the count quota */
	f.cls.max_messages = 1;
	f.use.count = 1;
	EXPECT(&f, CPM_IM_REJECT, CPM_IM_RULE_TOO_BIG, 413);
	/* exactly the quota fits in an empty box */
	f.use.count = 0;
	f.len = 1000;
	f.lim.max_inline_size = 0;
	EXPECT(&f, CPM_IM_STORE, CPM_IM_RULE_STORE, 202);
	/* max_bytes 0 = no limit */
	f.cls.max_bytes = 0;
	f.len = (size_t)1 << 30;
	EXPECT(&f, CPM_IM_STORE, CPM_IM_RULE_STORE, 202);
}

static void test_s12a_quota_count(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	f.cls.max_messages = 10;
	f.use.count = 10;
	EXPECT(&f, CPM_IM_REJECT, CPM_IM_RULE_QUOTA_COUNT, 486);
	doc_check("S12a", &f.d);
	f.use.count = 9;
	EXPECT(&f, CPM_IM_STORE, CPM_IM_RULE_STORE, 202);
	/* count before bytes */
	f.use.count = 10;
	f.cls.max_bytes = 100;
	f.use.bytes = 100;
	f.len = 1;
	EXPECT(&f, CPM_IM_REJECT, CPM_IM_RULE_QUOTA_COUNT, 486);
	/* 0 = no limit */
	f.cls.max_messages = 0;
	f.cls.max_bytes = 0;
	f.use.count = 1000000;
	EXPECT(&f, CPM_IM_STORE, CPM_IM_RULE_STORE, 202);
}

static void test_s12b_quota_bytes(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	f.cls.max_bytes = 1000;
	f.use.bytes = 900;
	f.len = 101;
	EXPECT(&f, CPM_IM_REJECT, CPM_IM_RULE_QUOTA_BYTES, 507);
	doc_check("S12b", &f.d);
	f.len = 100;
	EXPECT(&f, CPM_IM_STORE, CPM_IM_RULE_STORE, 202);
	/* the operator may prefer 486 */
	f.len = 101;
	f.lim.quota_bytes_status = 486;
	EXPECT(&f, CPM_IM_REJECT, CPM_IM_RULE_QUOTA_BYTES, 486);
	/* a nonsense status falls back to 507 */
	f.lim.quota_bytes_status = 200;
	EXPECT(&f, CPM_IM_REJECT, CPM_IM_RULE_QUOTA_BYTES, 507);
	/* usage already past the quota (class lowered): no wrap-around */
	f.use.bytes = 5000;
	f.len = 1;
	EXPECT(&f, CPM_IM_REJECT, CPM_IM_RULE_QUOTA_BYTES, 507);
}

static void test_s13_deferred_request(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	f.ind.req = CPM_IM_REQ_DEFERRED;
	EXPECT(&f, CPM_IM_STORE_DEFERRED, CPM_IM_RULE_DEFERRED_REQ, 202);
	assert_false(f.d.pull);
	doc_check("S13", &f.d);
	/* a small body too */
	f.len = 1;
	EXPECT(&f, CPM_IM_STORE_DEFERRED, CPM_IM_RULE_DEFERRED_REQ, 202);
}

static void test_s14_deferred_size(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	f.len = 1301;
	EXPECT(&f, CPM_IM_STORE_DEFERRED, CPM_IM_RULE_DEFERRED_SIZE, 202);
	doc_check("S14", &f.d);
	f.len = 1300;
	EXPECT(&f, CPM_IM_STORE, CPM_IM_RULE_STORE, 202);
	f.lim.max_inline_size = 0;
	f.len = 100000;
	EXPECT(&f, CPM_IM_STORE, CPM_IM_RULE_STORE, 202);
	/* pull keeps its flag when it goes deferred */
	f.lim.max_inline_size = 10;
	f.ind.req = CPM_IM_REQ_STORE;
	EXPECT(&f, CPM_IM_STORE_DEFERRED, CPM_IM_RULE_DEFERRED_SIZE, 202);
	assert_true(f.d.pull);
}

static void test_s15_store(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	EXPECT(&f, CPM_IM_STORE, CPM_IM_RULE_STORE, 202);
	assert_string_equal(f.d.reason, "Accepted");
	assert_false(f.d.pull);
	assert_false(f.d.report_stored || f.d.report_delivered || f.d.report_failed);
	assert_int_equal(f.d.expires, 7 * 86400);
	doc_check("S15", &f.d);
	/* every store request, profile yes and notify */
	f.ind.req = CPM_IM_REQ_STORE_FWD;
	EXPECT(&f, CPM_IM_STORE, CPM_IM_RULE_STORE, 202);
	f.ind.req = CPM_IM_REQ_STORE;
	EXPECT(&f, CPM_IM_STORE, CPM_IM_RULE_STORE, 202);
	assert_true(f.d.pull); /* R30 */
	set(&f, "store-and-forward=notify");
	f.ind.req = CPM_IM_REQ_NONE;
	EXPECT(&f, CPM_IM_STORE, CPM_IM_RULE_STORE, 202);
	/* IMDN bodies are stored like messages */
	f.ind.kind = CPM_IM_KIND_IMDN;
	f.ind.payload_type = CPM_STR("message/imdn+xml");
	EXPECT(&f, CPM_IM_STORE, CPM_IM_RULE_STORE, 202);
	/* NULL class = the default class */
	assert_int_equal(cpm_im_decide(&f.ind, &f.prof, NULL, &f.use, 10, &f.lim, -1, &f.d), 0);
	assert_int_equal(f.d.fate, CPM_IM_STORE);
}

/* --------------------------------------------------- columns of the rows */

static void test_expiry(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	/* min(sender Expires, class lifetime) */
	f.cls.max_lifetime = 3600;
	f.exp = 7200;
	run(&f);
	assert_int_equal(f.d.expires, 3600);
	f.exp = 60;
	run(&f);
	assert_int_equal(f.d.expires, 60);
	/* no sender Expires: the class lifetime */
	f.exp = -1;
	run(&f);
	assert_int_equal(f.d.expires, 3600);
	/* no class lifetime: the server default bounds the sender too */
	f.cls.max_lifetime = 0;
	f.exp = 30 * 86400;
	run(&f);
	assert_int_equal(f.d.expires, 7 * 86400);
	/* nothing bounds it */
	f.lim.default_lifetime = 0;
	f.exp = -1;
	run(&f);
	assert_int_equal(f.d.expires, -1);
	f.exp = 5;
	run(&f);
	assert_int_equal(f.d.expires, 5);
	/* deferred gets the same expiry */
	f.ind.req = CPM_IM_REQ_DEFERRED;
	run(&f);
	assert_int_equal(f.d.fate, CPM_IM_STORE_DEFERRED);
	assert_int_equal(f.d.expires, 5);
	/* refusals carry none */
	f.ind.req = CPM_IM_REQ_INSTANT;
	run(&f);
	assert_int_equal(f.d.expires, -1);
}

static void test_reports(void **state)
{
	(void)state;
	struct fx f;
	/* store command notify (R27, R48) */
	fx_init(&f);
	f.ind.req = CPM_IM_REQ_STORE_FWD;
	f.ind.notify = true;
	run(&f);
	assert_true(f.d.report_stored && f.d.report_delivered && f.d.report_failed);
	/* profile notify (R111) */
	fx_init(&f);
	set(&f, "store-and-forward=notify");
	run(&f);
	assert_true(f.d.report_stored && f.d.report_delivered && f.d.report_failed);
	/* CPIM IMDN: only what was asked (RFC 5438) */
	fx_init(&f);
	f.ind.seen = CPM_IM_SEEN_IMDN_POSITIVE;
	run(&f);
	assert_false(f.d.report_stored);
	assert_true(f.d.report_delivered);
	assert_false(f.d.report_failed);
	f.ind.seen = CPM_IM_SEEN_IMDN_NEGATIVE | CPM_IM_SEEN_IMDN_PROCESSING;
	run(&f);
	assert_true(f.d.report_stored);
	assert_false(f.d.report_delivered);
	assert_true(f.d.report_failed);
	f.ind.seen = CPM_IM_SEEN_IMDN_DISPLAY; /* display is the device's job */
	run(&f);
	assert_false(f.d.report_stored || f.d.report_delivered || f.d.report_failed);
	/* no report about a report */
	fx_init(&f);
	set(&f, "store-and-forward=notify");
	f.ind.kind = CPM_IM_KIND_IMDN;
	f.ind.notify = true;
	f.ind.seen = CPM_IM_SEEN_IMDN_POSITIVE;
	run(&f);
	assert_int_equal(f.d.fate, CPM_IM_STORE);
	assert_false(f.d.report_stored || f.d.report_delivered || f.d.report_failed);
	/* refusals never report (the SIP answer is the report) */
	fx_init(&f);
	set(&f, "store-and-forward=no");
	f.ind.req = CPM_IM_REQ_STORE_FWD;
	f.ind.notify = true;
	run(&f);
	assert_int_equal(f.d.fate, CPM_IM_REJECT);
	assert_false(f.d.report_stored || f.d.report_delivered || f.d.report_failed);
}

static void test_decide_args(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	assert_int_equal(cpm_im_decide(NULL, &f.prof, &f.cls, &f.use, 0, &f.lim, -1, &f.d),
			 CPM_EINVAL);
	assert_int_equal(cpm_im_decide(&f.ind, NULL, &f.cls, &f.use, 0, &f.lim, -1, &f.d),
			 CPM_EINVAL);
	assert_int_equal(cpm_im_decide(&f.ind, &f.prof, &f.cls, NULL, 0, &f.lim, -1, &f.d),
			 CPM_EINVAL);
	assert_int_equal(cpm_im_decide(&f.ind, &f.prof, &f.cls, &f.use, 0, NULL, -1, &f.d),
			 CPM_EINVAL);
	assert_int_equal(cpm_im_decide(&f.ind, &f.prof, &f.cls, &f.use, 0, &f.lim, -1, NULL),
			 CPM_EINVAL);
	assert_string_equal(cpm_im_fate_name(CPM_IM_REJECT), "reject");
	assert_string_equal(cpm_im_request_name(CPM_IM_REQ_DEFERRED), "deferred");
}

/* Last: every row of the document was checked by a row test above. */
static void test_doc_rows_all_tested(void **state)
{
	(void)state;
	static const char *const ids[] = { "S1", "S2", "S3", "S4", "S5", "S6", "S7",
					   "S8", "S9", "S10", "S11", "S12a", "S12b",
					   "S13", "S14", "S15" };
	assert_int_equal(nrows, sizeof ids / sizeof ids[0]);
	for (unsigned i = 0; i < nrows; i++) {
		if (!rows[i].tested)
			fail_msg("row %s of docs/STORE_AND_FORWARD.md has no test", rows[i].id);
		assert_string_equal(rows[i].id, ids[i]); /* in evaluation order */
	}
	/* and every rule of the code has a row */
	for (int r = CPM_IM_RULE_SESSION; r <= CPM_IM_RULE_STORE; r++) {
		const char *rn = cpm_im_rule_name((enum cpm_im_rule)r);
		assert_int_not_equal(strcmp(rn, "?"), 0);
		size_t il = strcspn(rn, " ");
		bool found = false;
		for (unsigned i = 0; i < nrows; i++)
			found |= strlen(rows[i].id) == il && strncmp(rows[i].id, rn, il) == 0;
		if (!found)
			fail_msg("rule %s has no row in the document", rn);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_s1_session),
		cmocka_unit_test(test_s2_not_accepted),
		cmocka_unit_test(test_s3_iscomposing),
		cmocka_unit_test(test_s4_instant),
		cmocka_unit_test(test_s5_stale),
		cmocka_unit_test(test_s6_forward),
		cmocka_unit_test(test_s7_profile_no),
		cmocka_unit_test(test_s8_profile_no_request),
		cmocka_unit_test(test_s9_class_off),
		cmocka_unit_test(test_s10_class_off_request),
		cmocka_unit_test(test_s11_too_big),
		cmocka_unit_test(test_s12a_quota_count),
		cmocka_unit_test(test_s12b_quota_bytes),
		cmocka_unit_test(test_s13_deferred_request),
		cmocka_unit_test(test_s14_deferred_size),
		cmocka_unit_test(test_s15_store),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_reports),
		cmocka_unit_test(test_decide_args),
		cmocka_unit_test(test_doc_rows_all_tested),
	};
	return cmocka_run_group_tests(tests, load_doc, NULL);
}
