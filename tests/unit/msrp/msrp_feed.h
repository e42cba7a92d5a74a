/* msrp tests: drive the incremental parser over a byte string fed in
 * pieces, the way a connection does (a cpm_buf that grows by each read
 * and loses ev.used bytes at its front after each event), and record what
 * came out.  Included by the msrp test programs. */
#ifndef CPM_TEST_MSRP_FEED_H
#define CPM_TEST_MSRP_FEED_H

#include <string.h>

#include "msrp/msrp.h"

#define FEED_MAX_MSGS 8

struct feed_msg {
	char tid[CPM_MSRP_IDENT_MAX + 1];
	bool is_request;
	enum cpm_msrp_method method;
	int code;
	unsigned nhdrs;
	char to_path[256];
	char from_path[256];
	const char *err_reason;
	int err_status;
	char flag;
	size_t body_len;
	char body[8192];
	unsigned nbody_events;
	bool ended;
};

struct feed_run {
	int nmsgs;
	struct feed_msg msgs[FEED_MAX_MSGS];
	int rc;          /* 0 or the parser's error */
	const char *why; /* its reason */
	size_t left;     /* bytes left in the buffer at the end */
};

static void feed_copy(char *dst, size_t dstsz, struct cpm_str s)
{
	size_t n = s.len < dstsz - 1 ? s.len : dstsz - 1;
	memcpy(dst, s.s, n);
	dst[n] = '\0';
}

/* Feed in[0, len) in pieces whose sizes cycle through steps (nsteps 0:
 * all at once). */
static void feed_run(const char *in, size_t len, const size_t *steps, size_t nsteps,
		     enum cpm_msrp_mode mode, const struct cpm_msrp_limits *lim,
		     struct feed_run *out)
{
	static struct cpm_msrp_parser p;
	struct cpm_buf b;
	size_t fed = 0, si = 0;
	memset(out, 0, sizeof *out);
	cpm_buf_init(&b, 1 << 24);
	cpm_msrp_parser_init(&p, lim, mode);
	for (;;) {
		size_t step = nsteps ? steps[si++ % nsteps] : len;
		if (step > len - fed)
			step = len - fed;
		if (step && cpm_buf_append(&b, in + fed, step) != 0)
			break;
		fed += step;
		struct cpm_msrp_event ev;
		int rc;
		while ((rc = cpm_msrp_parse(&p, b.p, b.len, &ev)) > 0) {
			struct feed_msg *m = &out->msgs[out->nmsgs < FEED_MAX_MSGS ?
							out->nmsgs : FEED_MAX_MSGS - 1];
			if (rc == CPM_MSRP_EV_HEADERS) {
				feed_copy(m->tid, sizeof m->tid, p.msg.tid);
				m->is_request = p.msg.is_request;
				m->method = p.msg.method;
				m->code = p.msg.code;
				m->nhdrs = p.msg.nhdrs;
				feed_copy(m->to_path, sizeof m->to_path, p.msg.to_path);
				feed_copy(m->from_path, sizeof m->from_path, p.msg.from_path);
				m->err_reason = p.msg.err_reason;
				m->err_status = p.msg.err_status;
			} else if (rc == CPM_MSRP_EV_BODY) {
				if (m->body_len + ev.data.len <= sizeof m->body)
					memcpy(m->body + m->body_len, ev.data.s, ev.data.len);
				m->body_len += ev.data.len;
				m->nbody_events++;
			} else {
				m->flag = ev.flag;
				m->ended = true;
				out->nmsgs++;
			}
			cpm_buf_consume(&b, ev.used);
		}
		if (rc < 0) {
			out->rc = rc;
			out->why = p.err_reason;
			break;
		}
		if (fed == len)
			break;
	}
	out->left = b.len;
	cpm_buf_free(&b);
}

#endif
