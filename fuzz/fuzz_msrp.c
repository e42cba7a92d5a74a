/* libFuzzer harness for src/msrp: the input is a byte stream of MSRP
 * messages.  It is parsed four times: in STREAM and in WHOLE mode, each
 * fed at once and in pieces whose sizes come from the first input bytes,
 * into a buffer that moves between calls.  Piecewise parsing must give
 * what whole-buffer parsing gives (the same messages, bodies, flags and
 * verdict), and STREAM what WHOLE gives unless WHOLE hit max_chunk.
 * Every slice must lie inside the buffer; the helpers and the printer run
 * over what parsed, and a printed response must parse back.  Invariants
 * are checked with abort(). */
#include <stdlib.h>
#include <string.h>

#include "msrp/msrp.h"

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

#define MAX_MSGS 64

struct seen {
	int n;                   /* messages that reached END */
	uint64_t sig[MAX_MSGS];  /* start line, headers, verdict */
	uint64_t body[MAX_MSGS]; /* hash of the body bytes, in order */
	uint64_t blen[MAX_MSGS];
	char flag[MAX_MSGS];
	int rc;                  /* 0 or the final error */
	const char *why;
	size_t left;             /* bytes in the buffer at the end (rc 0) */
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 1099511628211ull;
	return h;
}

static uint64_t mixs(uint64_t h, struct cpm_str s)
{
	return mix(h, s.s, s.len) * 31 + s.len;
}

static bool inside(const char *buf, size_t len, struct cpm_str s)
{
	return s.len == 0 || (s.s >= buf && s.s + s.len <= buf + len);
}

static void walk_path(struct cpm_str v)
{
	struct cpm_msrp_uri u, u2;
	int guard = 0;
	while (cpm_msrp_path_next(&v, &u) == 1) {
		CHECK(++guard < 100000);
		CHECK(cpm_msrp_uri_parse(u.whole, &u2) == 0);
		CHECK(cpm_msrp_uri_eq(&u, &u2) && cpm_msrp_uri_eq(&u2, &u));
	}
}

/* A 200 to a request that parsed cleanly parses back, paths swapped. */
static void answer(const struct cpm_msrp_msg *m)
{
	struct cpm_buf b;
	static struct cpm_msrp_msg r;
	struct cpm_str body;
	char flag;
	size_t used;
	cpm_buf_init(&b, 1 << 20);
	CHECK(cpm_msrp_print_response(&b, m, 200, NULL) == 0);
	CHECK(cpm_msrp_msg_parse(b.p, b.len, NULL, &r, &body, &flag, &used, NULL) == 1);
	CHECK(used == b.len && r.err == 0 && r.code == 200 && flag == '$');
	CHECK(cpm_str_eq(r.tid, m->tid));
	CHECK(cpm_str_eq(r.to_path, cpm_msrp_path_first(m->from_path)));
	CHECK(cpm_str_eq(r.from_path, cpm_msrp_path_first(m->to_path)));
	cpm_buf_free(&b);
}

static uint64_t check_headers(const struct cpm_msrp_msg *m, const char *buf, size_t len)
{
	CHECK(m->nhdrs <= CPM_MSRP_HDRS_CAP);
	CHECK(cpm_msrp_ident_valid(m->tid) && inside(buf, len, m->tid));
	CHECK(m->is_request ? m->method_s.len > 0 : (m->code >= 100 && m->code <= 999));
	CHECK((m->err == 0) == (m->err_reason == NULL));
	CHECK(m->err_status == (m->err && m->is_request ? 400 : 0));
	uint64_t h = 1469598103934665603ull;
	h = mixs(h, m->tid);
	h = mixs(h, m->method_s);
	h = mixs(h, m->comment);
	h = mix(h, &m->code, sizeof m->code);
	h = mix(h, &m->has_body, sizeof m->has_body);
	if (m->err_reason)
		h = mix(h, m->err_reason, strlen(m->err_reason));
	for (unsigned i = 0; i < m->nhdrs; i++) {
		const struct cpm_msrp_hdr *hd = &m->hdrs[i];
		CHECK(inside(buf, len, hd->name) && inside(buf, len, hd->value));
		for (size_t k = 0; k < hd->value.len; k++)
			CHECK(hd->value.s[k] != '\r' && hd->value.s[k] != '\n');
		h = mixs(mixs(h, hd->name), hd->value);
		struct cpm_msrp_auth a;
		cpm_msrp_auth_parse(hd->value, &a);
		struct cpm_msrp_range r;
		if (cpm_msrp_range_parse(hd->value, &r) == 0)
			CHECK(r.start >= 1 && (r.end_star || r.end + 1 >= r.start));
	}
	CHECK(inside(buf, len, m->to_path) && inside(buf, len, m->from_path));
	CHECK(inside(buf, len, m->content_type) && inside(buf, len, m->message_id));
	walk_path(m->to_path);
	walk_path(m->from_path);
	walk_path(m->use_path);
	if (m->is_request && !m->err)
		answer(m);
	return h;
}

/* Parse data fed in pieces; piece sizes cycle through steps (0: all). */
static void run(const uint8_t *data, size_t size, const uint8_t *steps, size_t nsteps,
		enum cpm_msrp_mode mode, const struct cpm_msrp_limits *lim, struct seen *out)
{
	static struct cpm_msrp_parser p;
	memset(out, 0, sizeof *out);
	char *buf = NULL;
	size_t have = 0, fed = 0, si = 0;
	uint64_t body = 0, blen = 0, sig = 0;
	cpm_msrp_parser_init(&p, lim, mode);
	for (;;) {
		size_t step = nsteps ? (size_t)steps[si++ % nsteps] + 1 : size;
		size_t add = size - fed < step ? size - fed : step;
		/* a fresh allocation each time: the buffer moves */
		char *nb = malloc(have + add + 1);
		CHECK(nb != NULL);
		if (have)
			memcpy(nb, buf, have);
		if (add)
			memcpy(nb + have, data + fed, add);
		free(buf);
		buf = nb;
		have += add;
		fed += add;
		struct cpm_msrp_event ev;
		int rc;
		while (out->n < MAX_MSGS && (rc = cpm_msrp_parse(&p, buf, have, &ev)) > 0) {
			CHECK(ev.used <= have);
			if (rc == CPM_MSRP_EV_HEADERS) {
				sig = check_headers(&p.msg, buf, have);
				body = 1469598103934665603ull;
				blen = 0;
			} else if (rc == CPM_MSRP_EV_BODY) {
				CHECK(ev.data.len > 0 && inside(buf, have, ev.data));
				body = mix(body, ev.data.s, ev.data.len); /* bytes, not pieces */
				blen += ev.data.len;
				CHECK(p.body_len == blen);
			} else {
				CHECK(rc == CPM_MSRP_EV_END);
				CHECK(ev.flag == '$' || ev.flag == '+' || ev.flag == '#');
				CHECK(mode == CPM_MSRP_STREAM || ev.used >= blen);
				out->sig[out->n] = sig;
				out->body[out->n] = body;
				out->blen[out->n] = blen;
				out->flag[out->n] = ev.flag;
				out->n++;
			}
			memmove(buf, buf + ev.used, have - ev.used);
			have -= ev.used;
		}
		if (out->n == MAX_MSGS)
			break;
		if (rc < 0) {
			CHECK(p.err_reason != NULL);
			/* sticky */
			CHECK(cpm_msrp_parse(&p, buf, have, &ev) == rc);
			out->rc = rc;
			out->why = p.err_reason;
			break;
		}
		if (fed == size)
			break;
	}
	out->left = have;
	free(buf);
}

static void same(const struct seen *a, const struct seen *b, bool left)
{
	CHECK(a->n == b->n);
	for (int i = 0; i < a->n; i++) {
		CHECK(a->sig[i] == b->sig[i]);
		CHECK(a->body[i] == b->body[i] && a->blen[i] == b->blen[i]);
		CHECK(a->flag[i] == b->flag[i]);
	}
	if (a->n < MAX_MSGS) {
		CHECK(a->rc == b->rc);
		CHECK(a->why == b->why || (a->why && b->why && !strcmp(a->why, b->why)));
		if (left && a->rc == 0)
			CHECK(a->left == b->left);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cpm_msrp_limits lim;
	cpm_msrp_limits_default(&lim);
	if (size && (data[size - 1] & 0x81) == 0x81) {
		/* tight limits now and then */
		lim.max_head = 32 + (data[size - 1] & 0x7e) * 4;
		lim.max_hdrs = (data[size - 1] & 0x0e) / 2 + 1;
		lim.max_chunk = (data[size - 1] & 0x3e);
	}
	/* the first bytes, up to 4, give the piece sizes of the split runs */
	uint8_t steps[4] = { 0, 0, 0, 0 };
	size_t ns = size < 4 ? size : 4;
	memcpy(steps, data, ns);
	for (size_t i = 0; i < ns; i++)
		steps[i] &= 0x3f;
	if (!ns)
		ns = 1;

	static struct seen sw, ss, ww, ws;
	run(data, size, NULL, 0, CPM_MSRP_STREAM, &lim, &sw);
	run(data, size, steps, ns, CPM_MSRP_STREAM, &lim, &ss);
	run(data, size, NULL, 0, CPM_MSRP_WHOLE, &lim, &ww);
	run(data, size, steps, ns, CPM_MSRP_WHOLE, &lim, &ws);
	same(&sw, &ss, true);
	same(&ww, &ws, true);
	/* STREAM and WHOLE agree, but WHOLE may stop at max_chunk */
	if (ww.rc == CPM_ELIMIT && ww.why && !strcmp(ww.why, "Chunk too large")) {
		CHECK(sw.n >= ww.n);
		for (int i = 0; i < ww.n; i++)
			CHECK(sw.sig[i] == ww.sig[i] && sw.blen[i] == ww.blen[i] &&
			      sw.body[i] == ww.body[i]);
	} else {
		same(&sw, &ww, false);
	}

	/* helpers over the raw input */
	struct cpm_str raw = { (const char *)data, size };
	struct cpm_msrp_uri u;
	if (cpm_msrp_uri_parse(raw, &u) == 0)
		CHECK(cpm_msrp_uri_eq(&u, &u));
	walk_path(raw);
	struct cpm_msrp_auth a;
	cpm_msrp_auth_parse(raw, &a);
	struct cpm_msrp_status st;
	cpm_msrp_status_parse(raw, &st);
	cpm_msrp_body_has_endline(raw, CPM_STR("abcd"));
	return 0;
}
