/* MSRP framing (RFC 4975 §7.1, §9): an incremental parser fed with the
 * bytes of a TCP stream.
 *
 * The header section ends with an empty line (a body follows) or with the
 * end-line itself (no body).  Its lines are scanned as they arrive, and
 * parsed once (msrp_hdr.c) when the section is complete.  A body has no
 * length: it ends where CRLF "-------" transaction-id flag CRLF appears,
 * which the sender guarantees is never inside the body (§7.1).  Body
 * bytes are handed out as soon as they cannot be the start of that line:
 * only the longest tail that is a prefix of it is held back, so a split
 * end-line is found on a later call without keeping any state about it.
 * All offsets are relative to the caller's buffer, which loses ev.used
 * bytes at its front after each event; the parser stores them already
 * adjusted for that drop. */
#include "msrp/msrp_int.h"

#include <string.h>

enum { ST_HEAD = 0, ST_BODY, ST_ENDLINE };

void cpm_msrp_limits_default(struct cpm_msrp_limits *lim)
{
	lim->max_head = 16384;
	lim->max_hdrs = 32;
	lim->max_chunk = 1024 * 1024;
}

static void reset(struct cpm_msrp_parser *p)
{
	p->state = ST_HEAD;
	p->scan = p->bs = p->el = 0;
	p->nlines = 0;
	p->body_len = 0;
}

void cpm_msrp_parser_init(struct cpm_msrp_parser *p, const struct cpm_msrp_limits *lim,
			  enum cpm_msrp_mode mode)
{
	memset(p, 0, sizeof *p);
	if (lim)
		p->lim = *lim;
	else
		cpm_msrp_limits_default(&p->lim);
	if (p->lim.max_hdrs == 0 || p->lim.max_hdrs > CPM_MSRP_HDRS_CAP)
		p->lim.max_hdrs = CPM_MSRP_HDRS_CAP;
	p->mode = mode;
	reset(p);
}

/* Errors are sticky: the stream cannot be resynchronised. */
static int fail(struct cpm_msrp_parser *p, int rc, const char *why)
{
	p->err = rc;
	p->err_reason = why;
	return rc;
}

static int emit(struct cpm_msrp_parser *p, struct cpm_msrp_event *ev,
		enum cpm_msrp_ev type, size_t used, size_t len)
{
	ev->type = type;
	ev->used = used;
	p->keep = len - used;
	return (int)type;
}

/* Is there an end-line at buf[at]?  skip = 2 matches it without its
 * leading CRLF.  1: yes, *mend = the offset after its CRLF; 0: no; 2: its
 * first bytes are there, more are needed; -1: the transaction id and a
 * flag without the CRLF that must follow. */
static int endline_at(const struct cpm_msrp_parser *p, const char *buf, size_t len,
		      size_t at, size_t skip, size_t *mend)
{
	size_t m = p->patlen - skip, have = len - at;
	if (memcmp(buf + at, p->pat + skip, have < m ? have : m) != 0)
		return 0;
	if (have <= m)
		return 2;
	char f = buf[at + m];
	if (f != '$' && f != '+' && f != '#')
		return 0;
	/* decide on each byte as it comes, so that the verdict does not
	 * depend on how the stream was split */
	if (have >= m + 2 && buf[at + m + 1] != '\r')
		return -1;
	if (have >= m + 3 && buf[at + m + 2] != '\n')
		return -1;
	if (have < m + 3)
		return 2;
	*mend = at + m + 3;
	return 1;
}

static int head_step(struct cpm_msrp_parser *p, const char *buf, size_t len,
		     struct cpm_msrp_event *ev)
{
	/* fail fast on a peer that speaks something else */
	if (memcmp(buf, "MSRP ", len < 5 ? len : 5) != 0)
		return fail(p, CPM_EPARSE, "Not an MSRP message");
	size_t pos = p->scan, hend, le;
	bool has_body = false;
	for (;;) {
		const char *lf = pos < len ? memchr(buf + pos, '\n', len - pos) : NULL;
		if (!lf) {
			if (len > p->lim.max_head)
				return fail(p, CPM_ELIMIT, "Header section too large");
			p->scan = pos;
			return emit(p, ev, CPM_MSRP_EV_NONE, 0, len);
		}
		le = (size_t)(lf - buf);
		/* the limit first, so that the verdict does not depend on how
		 * the bytes were split */
		if (le + 1 > p->lim.max_head)
			return fail(p, CPM_ELIMIT, "Header section too large");
		if (le == pos || buf[le - 1] != '\r')
			return fail(p, CPM_EPARSE, "Bare LF");
		if (pos > 0 && le - 1 == pos) {
			has_body = true;
			break;
		}
		if (pos > 0 && le - 1 - pos >= 7 && memcmp(buf + pos, "-------", 7) == 0)
			break;
		if (pos > 0 && ++p->nlines > p->lim.max_hdrs)
			return fail(p, CPM_ELIMIT, "Too many header fields");
		pos = le + 1;
	}
	hend = pos;
	const char *why = "Bad start line";
	int rc = cpm_msrp__parse_head(&p->msg, buf, hend, has_body, &why);
	if (rc)
		return fail(p, rc, why);
	/* the tid outlives the header bytes, which a streaming caller drops */
	struct cpm_str tid = p->msg.tid;
	memcpy(p->pat, "\r\n-------", 9);
	memcpy(p->pat + 9, tid.s, tid.len);
	p->patlen = 9 + tid.len;
	bool stream = p->mode == CPM_MSRP_STREAM;
	size_t used;
	if (!has_body) {
		/* end-line = "-------" transact-id continuation-flag CRLF */
		size_t mend;
		if (le + 1 - hend != p->patlen - 2 + 3 ||
		    endline_at(p, buf, le + 1, hend, 2, &mend) != 1)
			return fail(p, CPM_EPARSE, "Bad end-line");
		used = stream ? hend : 0;
		p->state = ST_ENDLINE;
		p->el = hend - used;
	} else {
		used = stream ? le + 1 : 0;
		p->state = ST_BODY;
		p->bs = p->scan = le + 1 - used;
	}
	p->body_len = 0;
	return emit(p, ev, CPM_MSRP_EV_HEADERS, used, len);
}

static int body_step(struct cpm_msrp_parser *p, const char *buf, size_t len,
		     struct cpm_msrp_event *ev)
{
	const bool stream = p->mode == CPM_MSRP_STREAM;
	const size_t bs = p->bs;
	size_t from = p->scan, at = SIZE_MAX, mend = 0, avail;
	int r = 0;
	if (len <= bs)
		return emit(p, ev, CPM_MSRP_EV_NONE, 0, len);
	/* Nothing of the body yet: the end-line may come without the CRLF
	 * that should precede it (an empty body written as "\r\n\r\n" then
	 * the end-line; lenient, as the body cannot hold the end-line). */
	if (p->body_len == 0 && from == bs) {
		r = endline_at(p, buf, len, bs, 2, &mend);
		if (r == 2)
			return emit(p, ev, CPM_MSRP_EV_NONE, 0, len);
		if (r != 0)
			at = bs;
	}
	while (at == SIZE_MAX && from < len) {
		const char *hit = memmem(buf + from, len - from, p->pat, p->patlen);
		if (!hit)
			break;
		size_t i = (size_t)(hit - buf);
		r = endline_at(p, buf, len, i, 0, &mend);
		if (r == 0)
			from = i + 1; /* "-------<tid>" then no flag: body */
		else
			at = i;
	}
	if (at != SIZE_MAX) {
		avail = at;
	} else {
		/* hold back the longest tail that could start the end-line */
		size_t k = p->patlen - 1;
		if (k > len - from)
			k = len - from;
		while (k && memcmp(buf + len - k, p->pat, k) != 0)
			k--;
		avail = len - k;
	}
	if (!stream && avail - bs > p->lim.max_chunk)
		return fail(p, CPM_ELIMIT, "Chunk too large");
	if (stream && avail > bs) {
		/* hand out what is surely body; the end-line, if found, comes
		 * next, at the front of the buffer */
		ev->data = (struct cpm_str){ buf + bs, avail - bs };
		p->body_len += avail - bs;
		p->scan = 0;
		return emit(p, ev, CPM_MSRP_EV_BODY, avail, len);
	}
	if (at == SIZE_MAX || r == 2) {
		p->scan = at != SIZE_MAX ? at : avail;
		return emit(p, ev, CPM_MSRP_EV_NONE, 0, len);
	}
	if (r < 0)
		return fail(p, CPM_EPARSE, "Bad end-line");
	if (!stream && at > bs && p->body_len == 0) {
		ev->data = (struct cpm_str){ buf + bs, at - bs };
		p->body_len = at - bs;
		p->scan = at;
		return emit(p, ev, CPM_MSRP_EV_BODY, 0, len);
	}
	ev->flag = buf[mend - 3];
	reset(p);
	return emit(p, ev, CPM_MSRP_EV_END, mend, len);
}

int cpm_msrp_parse(struct cpm_msrp_parser *p, const char *buf, size_t len,
		   struct cpm_msrp_event *ev)
{
	ev->type = CPM_MSRP_EV_NONE;
	ev->used = 0;
	ev->data = (struct cpm_str){ buf, 0 };
	ev->flag = 0;
	if (p->err)
		return p->err;
	if (len < p->keep || (len && !buf))
		return fail(p, CPM_EINVAL, "Bytes lost between calls");
	if (len == 0)
		return emit(p, ev, CPM_MSRP_EV_NONE, 0, len);
	switch (p->state) {
	case ST_HEAD:
		return head_step(p, buf, len, ev);
	case ST_BODY:
		return body_step(p, buf, len, ev);
	default: {
		/* the body-less end-line, checked with the headers */
		size_t ellen = p->patlen - 2 + 3;
		ev->flag = buf[p->el + ellen - 3];
		size_t used = p->el + ellen;
		reset(p);
		return emit(p, ev, CPM_MSRP_EV_END, used, len);
	}
	}
}

int cpm_msrp_msg_parse(const char *buf, size_t len, const struct cpm_msrp_limits *lim,
		       struct cpm_msrp_msg *m, struct cpm_str *body, char *flag,
		       size_t *used, const char **why)
{
	struct cpm_msrp_parser p;
	struct cpm_msrp_event ev;
	cpm_msrp_parser_init(&p, lim, CPM_MSRP_WHOLE);
	*body = (struct cpm_str){ buf, 0 };
	/* HEADERS, maybe BODY, END: nothing is dropped in WHOLE mode */
	for (int step = 0; step < 3; step++) {
		int rc = cpm_msrp_parse(&p, buf, len, &ev);
		if (rc < 0) {
			if (why)
				*why = p.err_reason;
			return rc;
		}
		if (rc == CPM_MSRP_EV_NONE)
			return 0;
		if (rc == CPM_MSRP_EV_BODY)
			*body = ev.data;
		if (rc == CPM_MSRP_EV_END) {
			*m = p.msg;
			*flag = ev.flag;
			*used = ev.used;
			return 1;
		}
	}
	return 0;
}
