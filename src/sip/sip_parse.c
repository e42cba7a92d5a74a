/* Message parsing (RFC 3261 §7, §18.3, §20) and stream framing. */
#include "sip/sip_int.h"

#include <string.h>

/* Record an error; the first one found is the one reported.  Parsing goes
 * on where it can, so that a server can still answer a bad request with
 * the Via, From, To, Call-ID and CSeq it carries (RFC 4475 §3.1.2.16 wants
 * a 505, §3.3.8 a 400). */
static int fail(struct cpm_sip_msg *m, int *err, int rc, int status, const char *why)
{
	if (*err)
		return rc;
	*err = rc;
	/* a malformed response is dropped silently (RFC 3261 §18.1.2) */
	m->err_status = m->is_request ? status : 0;
	m->err_reason = why;
	return rc;
}

static void msg_init(struct cpm_sip_msg *m, const char *buf, size_t len)
{
	m->buf = buf;
	m->len = len;
	m->is_request = false;
	m->first_line = (struct cpm_str){ buf, 0 };
	m->method = CPM_SIP_OTHER;
	m->method_s = m->ruri = m->reason = CPM_STR_NULL;
	m->status = 0;
	m->nhdrs = 0;
	for (int i = 0; i < CPM_SIP_H__COUNT; i++)
		m->first[i] = -1;
	m->body_off = len;
	m->body = (struct cpm_str){ buf ? buf + len : NULL, 0 };
	m->call_id = CPM_STR_NULL;
	memset(&m->cseq, 0, sizeof m->cseq);
	memset(&m->from, 0, sizeof m->from);
	memset(&m->to, 0, sizeof m->to);
	memset(&m->via, 0, sizeof m->via);
	m->max_forwards = -1;
	m->content_length = -1;
	m->err_status = 0;
	m->err_reason = NULL;
}

static bool is_sip20(struct cpm_str v)
{
	/* ABNF literals are case-insensitive: "SIP" "/" 1*DIGIT "." 1*DIGIT */
	return v.len == 7 && cpm_str_ieq(v, CPM_STR("SIP/2.0"));
}

/* "SIP/" 1*DIGIT "." 1*DIGIT: a version, just not ours (then 505). */
static bool is_version(struct cpm_str v)
{
	if (v.len < 7 || !cpm_str_istarts(v, "SIP/"))
		return false;
	const char *p = v.s + 4, *end = v.s + v.len, *d = p;
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	if (p == d || p >= end || *p != '.')
		return false;
	d = ++p;
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	return p != d && p == end;
}

static int parse_request_line(struct cpm_sip_msg *m, int *err, bool trusted, const char *p,
			      const char *le)
{
	const char *t = cpm_sip__skip_token(p, le);
	if (t == p || (t < le && *t != ' '))
		return fail(m, err, CPM_EPARSE, 400, "Bad method");
	if (t == le)
		return fail(m, err, CPM_EPARSE, 400, "Bad request line");
	m->method_s = cpm_sip__span(p, t);
	m->method = cpm_sip_method_parse(m->method_s);
	/* Request-Line = Method SP Request-URI SP SIP-Version CRLF: exactly
	 * one SP each (RFC 4475 §3.1.2.8-10 lwsruri, lwsstart, trws) */
	const char *u = t + 1;
	const char *sp = memchr(u, ' ', (size_t)(le - u));
	if (!sp || sp == u)
		return fail(m, err, CPM_EPARSE, 400, "Bad request line");
	m->ruri = cpm_sip__span(u, sp);
	struct cpm_str ver = cpm_sip__span(sp + 1, le);
	if (!is_sip20(ver)) {
		if (is_version(ver))
			return fail(m, err, CPM_EVERSION, 505, "Version Not Supported");
		return fail(m, err, CPM_EPARSE, 400, "Bad request line");
	}
	if (trusted)
		return 0;
	struct cpm_sip_uri uri;
	int rc = cpm_sip_uri_parse(m->ruri, &uri);
	if (rc == CPM_EPARSE)
		return fail(m, err, CPM_EPARSE, 400, "Bad Request-URI");
	/* headers are not allowed in a Request-URI (§19.1.1, table 1;
	 * RFC 4475 §3.1.2.11 escruri) */
	if (rc == 0 && uri.headers.s)
		return fail(m, err, CPM_EPARSE, 400, "Headers in Request-URI");
	return 0;
}

static int parse_status_line(struct cpm_sip_msg *m, int *err, const char *p,
			     const char *le)
{
	const char *sp = memchr(p, ' ', (size_t)(le - p));
	if (!sp || !is_sip20(cpm_sip__span(p, sp)))
		return fail(m, err, CPM_EVERSION, 0, "Bad SIP version");
	p = sp + 1;
	/* Status-Code = 3DIGIT, 100..699 (RFC 4475 §3.1.2.19 bigcode) */
	if (le - p < 3 || !(p[0] >= '1' && p[0] <= '6') || !(p[1] >= '0' && p[1] <= '9') ||
	    !(p[2] >= '0' && p[2] <= '9') || (le - p > 3 && p[3] != ' '))
		return fail(m, err, CPM_EPARSE, 0, "Bad status code");
	m->status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	p += 3;
	if (p < le)
		p++;
	m->reason = cpm_sip__span(p, le);
	return 0;
}

/* CSeq = 1*DIGIT LWS Method (§20.16); the number fits 32 bits (§8.1.1.5). */
static int parse_cseq(struct cpm_str v, struct cpm_sip_cseq *c)
{
	const char *p = v.s, *end = v.s + v.len, *d = p;
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	uint64_t n;
	if (p == d || cpm_str_to_u64(cpm_sip__span(d, p), UINT32_MAX, &n))
		return CPM_EPARSE;
	const char *t = cpm_sip__skip_ws(p, end);
	if (t == p)
		return CPM_EPARSE;
	p = cpm_sip__skip_token(t, end);
	if (p == t || p != end)
		return CPM_EPARSE;
	c->num = (uint32_t)n;
	c->method_s = cpm_sip__span(t, p);
	c->method = cpm_sip_method_parse(c->method_s);
	return 0;
}

/* Headers that may appear only once (RFC 3261 §7.3.1 / §20: not lists);
 * RFC 4475 §3.3.8 multi01, §3.3.9 mcl01. */
static const char *dup_reason(enum cpm_sip_hdr_id id)
{
	switch (id) {
	case CPM_SIP_H_FROM: return "Multiple From";
	case CPM_SIP_H_TO: return "Multiple To";
	case CPM_SIP_H_CALL_ID: return "Multiple Call-ID";
	case CPM_SIP_H_CSEQ: return "Multiple CSeq";
	case CPM_SIP_H_MAX_FORWARDS: return "Multiple Max-Forwards";
	case CPM_SIP_H_CONTENT_TYPE: return "Multiple Content-Type";
	case CPM_SIP_H_CONTENT_LENGTH: return "Multiple Content-Length";
	default: return NULL;
	}
}

static int parse_headers(struct cpm_sip_msg *m, int *err, const char *p,
			 const char *end, const struct cpm_sip_limits *lim, bool cut,
			 const char **body)
{
	unsigned maxh = lim->max_hdrs;
	if (maxh == 0 || maxh > CPM_SIP_HDRS_CAP)
		maxh = CPM_SIP_HDRS_CAP;
	int last[CPM_SIP_H__COUNT];
	for (;;) {
		if (p >= end)
			goto truncated;
		/* the empty line ends the header section; bare LF tolerated */
		if (*p == '\n') {
			*body = p + 1;
			return 0;
		}
		if (*p == '\r' && p + 1 < end && p[1] == '\n') {
			*body = p + 2;
			return 0;
		}
		const char *hs = p;
		const char *t = cpm_sip__skip_token(p, end);
		if (t == p)
			return fail(m, err, CPM_EPARSE, 400, "Bad header name");
		const char *q = t;
		while (q < end && (*q == ' ' || *q == '\t'))
			q++;
		if (q >= end)
			goto truncated;
		if (*q != ':')
			return fail(m, err, CPM_EPARSE, 400, "Bad header line");
		/* the field ends at a LF not followed by SP/HTAB (§7.3.1) */
		const char *le = q + 1;
		for (;;) {
			const char *lf = memchr(le, '\n', (size_t)(end - le));
			if (!lf)
				goto truncated;
			le = lf + 1;
			if (le < end && (*le == ' ' || *le == '\t'))
				continue;
			break;
		}
		if ((size_t)(le - hs) > lim->max_line)
			return fail(m, err, CPM_ETOOBIG, 513, "Header field too long");
		if (m->nhdrs >= maxh)
			return fail(m, err, CPM_ELIMIT, 513, "Too many header fields");
		unsigned n = m->nhdrs++;
		struct cpm_sip_hdr *h = &m->hdrs[n];
		h->name = cpm_sip__span(hs, t);
		h->id = cpm_sip_hdr_id_parse(h->name);
		/* trim LWS; the final CRLF is never part of the value */
		const char *vs = q + 1, *ve = le;
		while (vs < ve && cpm_sip__is(*vs, CPM_SIP_C_WS))
			vs++;
		while (ve > vs && cpm_sip__is(ve[-1], CPM_SIP_C_WS))
			ve--;
		h->value = cpm_sip__span(vs, ve);
		h->raw = cpm_sip__span(hs, le);
		h->next = -1;
		if (m->first[h->id] < 0) {
			m->first[h->id] = (int)n;
		} else {
			const char *dup = dup_reason(h->id);
			if (dup)
				fail(m, err, CPM_EPARSE, 400, dup);
			m->hdrs[last[h->id]].next = (int)n;
		}
		last[h->id] = (int)n;
		p = le;
	}
truncated:
	if (cut)
		return fail(m, err, CPM_ETOOBIG, 513, "Message Too Large");
	return fail(m, err, CPM_EPARSE, 400, "Missing end of headers");
}

int cpm_sip_msg_parse(struct cpm_sip_msg *m, const char *buf, size_t len,
		      enum cpm_sip_framing framing,
		      const struct cpm_sip_limits *lim)
{
	struct cpm_sip_limits dflt;
	int err = 0;
	if (!lim) {
		cpm_sip_limits_default(&dflt);
		lim = &dflt;
	}
	bool trusted = (framing & CPM_SIP_TRUSTED) != 0;
	/* responses are relayed, not interpreted: their From/To URIs are
	 * not validated (a bad one is the next hop's business) */
	bool check_uris = !trusted;
	framing = (enum cpm_sip_framing)(framing & CPM_SIP_STREAM);
	msg_init(m, buf, len);
	if (!buf || len == 0)
		return fail(m, &err, CPM_EPARSE, 0, "Empty message");
	const char *p = buf, *end = buf + len;
	/* CRLFs before the start line are ignored (§7.5) */
	while (p < end && (*p == '\r' || *p == '\n'))
		p++;
	if (p == end)
		return fail(m, &err, CPM_EPARSE, 0, "Empty message");
	m->is_request = !(end - p >= 4 && memcmp(p, "SIP/", 4) == 0);

	/* never look past max_msg for the header section */
	bool cut = len > lim->max_msg;
	const char *hend = cut ? buf + lim->max_msg : end;
	if (p >= hend)
		return fail(m, &err, CPM_ETOOBIG, 513, "Message Too Large");
	size_t scan = (size_t)(hend - p);
	if (scan > lim->max_line + 2)
		scan = lim->max_line + 2;
	const char *lf = memchr(p, '\n', scan);
	if (!lf) {
		if ((size_t)(hend - p) > lim->max_line)
			return fail(m, &err, CPM_ETOOBIG, 414, "Start line too long");
		return fail(m, &err, CPM_EPARSE, 400, "Truncated start line");
	}
	const char *le = lf;
	if (le > p && le[-1] == '\r')
		le--;
	m->first_line = cpm_sip__span(p, le);
	if (m->is_request)
		parse_request_line(m, &err, trusted, p, le);
	else
		parse_status_line(m, &err, p, le);

	const char *body = NULL;
	if (parse_headers(m, &err, lf + 1, hend, lim, cut, &body) == 0)
		m->body_off = (size_t)(body - buf);

	/* mandatory headers (§8.1.1; RFC 4475 §3.3.1 insuf) */
	if (m->first[CPM_SIP_H_VIA] < 0)
		fail(m, &err, CPM_EPARSE, 400, "Missing Via");
	if (m->first[CPM_SIP_H_FROM] < 0)
		fail(m, &err, CPM_EPARSE, 400, "Missing From");
	if (m->first[CPM_SIP_H_TO] < 0)
		fail(m, &err, CPM_EPARSE, 400, "Missing To");
	if (m->first[CPM_SIP_H_CALL_ID] < 0)
		fail(m, &err, CPM_EPARSE, 400, "Missing Call-ID");
	if (m->first[CPM_SIP_H_CSEQ] < 0)
		fail(m, &err, CPM_EPARSE, 400, "Missing CSeq");

	/* the eager fields, each as far as it goes */
	const struct cpm_sip_hdr *h;
	if (m->first[CPM_SIP_H_CALL_ID] >= 0) {
		h = &m->hdrs[m->first[CPM_SIP_H_CALL_ID]];
		/* callid = word [ "@" word ]: no LWS inside */
		bool ok = h->value.len > 0;
		for (size_t i = 0; ok && i < h->value.len; i++)
			ok = !cpm_sip__is(h->value.s[i], CPM_SIP_C_WS);
		if (ok)
			m->call_id = h->value;
		else
			fail(m, &err, CPM_EPARSE, 400, "Bad Call-ID");
	}
	if (m->first[CPM_SIP_H_CSEQ] >= 0) {
		h = &m->hdrs[m->first[CPM_SIP_H_CSEQ]];
		if (parse_cseq(h->value, &m->cseq))
			fail(m, &err, CPM_EPARSE, 400, "Bad CSeq");
		/* the CSeq method equals the request method, ACK and CANCEL
		 * included (§8.1.1.5, §9.1, §17.1.1.3; RFC 4475 §3.1.2.17) */
		else if (m->is_request && !cpm_str_eq(m->cseq.method_s, m->method_s))
			fail(m, &err, CPM_EPARSE, 400, "CSeq method mismatch");
	}
	/* "*" is a Contact form only (§10.2.2) */
	if (m->first[CPM_SIP_H_FROM] >= 0) {
		h = &m->hdrs[m->first[CPM_SIP_H_FROM]];
		if (cpm_sip__addr_parse(h->value, &m->from, check_uris && m->is_request) ||
		    m->from.star) {
			memset(&m->from, 0, sizeof m->from);
			fail(m, &err, CPM_EPARSE, 400, "Bad From");
		}
	}
	if (m->first[CPM_SIP_H_TO] >= 0) {
		h = &m->hdrs[m->first[CPM_SIP_H_TO]];
		if (cpm_sip__addr_parse(h->value, &m->to, check_uris && m->is_request) ||
		    m->to.star) {
			memset(&m->to, 0, sizeof m->to);
			fail(m, &err, CPM_EPARSE, 400, "Bad To");
		}
	}
	if (m->first[CPM_SIP_H_VIA] >= 0) {
		h = &m->hdrs[m->first[CPM_SIP_H_VIA]];
		struct cpm_str cur = h->value;
		/* on failure, what was read (sent-by, transport) stays: it is
		 * enough to send the 400 back (RFC 4475 §3.1.2.1 badinv01) */
		if (cpm_sip_via_next(&cur, &m->via) != 1)
			fail(m, &err, CPM_EPARSE, 400, "Bad Via");
	}
	if (m->first[CPM_SIP_H_MAX_FORWARDS] >= 0) {
		uint64_t v;
		h = &m->hdrs[m->first[CPM_SIP_H_MAX_FORWARDS]];
		/* Max-Forwards = 1*DIGIT, 0..255 (§20.22) */
		if (cpm_str_to_u64(h->value, 255, &v))
			fail(m, &err, CPM_EPARSE, 400, "Bad Max-Forwards");
		else
			m->max_forwards = (int)v;
	}
	if (m->first[CPM_SIP_H_CONTENT_LENGTH] >= 0) {
		uint64_t v;
		h = &m->hdrs[m->first[CPM_SIP_H_CONTENT_LENGTH]];
		/* digits only: a sign or garbage is an error, never a size
		 * (RFC 4475 §3.1.2.3 ncl) */
		if (cpm_str_to_u64(h->value, INT32_MAX, &v))
			fail(m, &err, CPM_EPARSE, 400, "Bad Content-Length");
		else
			m->content_length = (long)v;
	}
	if (!body)
		return err; /* the header section did not end */

	size_t avail = len - m->body_off, blen = avail;
	if (m->content_length >= 0) {
		/* a datagram shorter than announced is an error (§18.3;
		 * RFC 4475 §3.1.2.2 clerr); extra octets are ignored
		 * (§3.1.1.8 dblreq) */
		if ((size_t)m->content_length > avail)
			return fail(m, &err, CPM_EPARSE, 400, "Content-Length larger than body");
		blen = (size_t)m->content_length;
	} else if (framing == CPM_SIP_STREAM) {
		return fail(m, &err, CPM_EPARSE, 400, "Missing Content-Length");
	}
	if (m->body_off + blen > lim->max_msg)
		return fail(m, &err, CPM_ETOOBIG, 413, "Request Entity Too Large");
	m->body = (struct cpm_str){ buf + m->body_off, blen };
	return err;
}

/* ---------------------------------------------------------------- framing */

/* A Content-Length (or "l") field name at the start of a header line? */
static bool is_cl_name(const char *p, const char *end, const char **colon)
{
	const char *t = cpm_sip__skip_token(p, end);
	struct cpm_str n = cpm_sip__span(p, t);
	if (!(n.len == 1 && (*p == 'l' || *p == 'L')) &&
	    !(n.len == 14 && cpm_str_ieq_cstr(n, "content-length")))
		return false;
	while (t < end && (*t == ' ' || *t == '\t'))
		t++;
	if (t >= end || *t != ':')
		return false;
	*colon = t;
	return true;
}

int cpm_sip_frame(const char *buf, size_t len, const struct cpm_sip_limits *lim,
		  size_t *skip, size_t *msglen)
{
	struct cpm_sip_limits dflt;
	if (!lim) {
		cpm_sip_limits_default(&dflt);
		lim = &dflt;
	}
	size_t s = 0;
	/* RFC 5626 §3.5.1 keep-alives: CRLF (and CRLFCRLF pings) */
	while (s < len) {
		if (buf[s] == '\n')
			s++;
		else if (buf[s] == '\r' && s + 1 < len && buf[s + 1] == '\n')
			s += 2;
		else
			break;
	}
	*skip = s;
	*msglen = 0;
	const char *p = buf + s;
	size_t n = len - s;
	if (n == 0)
		return 0;
	size_t scan = n > lim->max_msg ? lim->max_msg : n;
	const char *end = p + scan;
	/* find the empty line: LF followed by LF or CRLF */
	const char *q = p, *hend = NULL;
	while (q < end) {
		const char *lf = memchr(q, '\n', (size_t)(end - q));
		if (!lf || lf + 1 >= end)
			break;
		if (lf[1] == '\n') {
			hend = lf + 2;
			break;
		}
		if (lf[1] == '\r' && lf + 2 < end && lf[2] == '\n') {
			hend = lf + 3;
			break;
		}
		q = lf + 1;
	}
	if (!hend)
		return n > lim->max_msg ? CPM_ETOOBIG : 0;
	/* Content-Length is mandatory on streams (§18.3, §20.14) */
	bool found = false;
	uint64_t cl = 0;
	const char *lf = memchr(p, '\n', (size_t)(hend - p)); /* start line */
	q = lf + 1;
	while (q < hend) {
		const char *nl = memchr(q, '\n', (size_t)(hend - q));
		const char *le = nl + 1, *colon;
		while (le < hend && (*le == ' ' || *le == '\t')) {
			nl = memchr(le, '\n', (size_t)(hend - le));
			le = nl + 1;
		}
		if (is_cl_name(q, le, &colon)) {
			uint64_t v;
			if (found)
				return CPM_EPARSE; /* RFC 4475 §3.3.9 mcl01 */
			if (cpm_str_to_u64(cpm_str_trim(cpm_sip__span(colon + 1, le)),
					   INT32_MAX, &v))
				return CPM_EPARSE;
			found = true;
			cl = v;
		}
		q = le;
	}
	if (!found)
		return CPM_EPARSE;
	size_t hlen = (size_t)(hend - p);
	if (cl > lim->max_msg || hlen + cl > lim->max_msg)
		return CPM_ETOOBIG;
	*msglen = hlen + (size_t)cl;
	return n >= *msglen ? 1 : 0;
}

/* ------------------------------------------------------------- rebasing */

struct rebase {
	const char *obuf, *nbuf;
	size_t cut_off, cut_end, new_len;
};

static size_t rebase_off(const struct rebase *r, size_t off)
{
	if (off <= r->cut_off)
		return off;
	if (off >= r->cut_end)
		return off - r->cut_end + r->cut_off + r->new_len;
	return r->cut_off; /* inside the replaced bytes: clamp */
}

static void rebase_str(const struct rebase *r, struct cpm_str *x)
{
	if (!x->s)
		return;
	size_t off = (size_t)(x->s - r->obuf);
	size_t end = off + x->len;
	size_t no = rebase_off(r, off);
	size_t ne = end == off ? no : rebase_off(r, end);
	x->s = r->nbuf + no;
	x->len = ne >= no ? ne - no : 0;
}

static void rebase_addr(const struct rebase *r, struct cpm_sip_addr *a)
{
	rebase_str(r, &a->whole);
	rebase_str(r, &a->display);
	rebase_str(r, &a->uri);
	rebase_str(r, &a->params);
	rebase_str(r, &a->tag);
}

/* A plain copy: every slice keeps its offset. */
#define MOVE(x) do { if ((x).s) (x).s = nbuf + ((x).s - obuf); } while (0)
static int rebase_plain(struct cpm_sip_msg *m, const char *nbuf, size_t nlen)
{
	const char *obuf = m->buf;
	MOVE(m->first_line);
	MOVE(m->method_s);
	MOVE(m->ruri);
	MOVE(m->reason);
	for (unsigned i = 0; i < m->nhdrs; i++) {
		MOVE(m->hdrs[i].name);
		MOVE(m->hdrs[i].value);
		MOVE(m->hdrs[i].raw);
	}
	MOVE(m->body);
	MOVE(m->call_id);
	MOVE(m->cseq.method_s);
	struct cpm_sip_addr *as[2] = { &m->from, &m->to };
	for (int i = 0; i < 2; i++) {
		MOVE(as[i]->whole);
		MOVE(as[i]->display);
		MOVE(as[i]->uri);
		MOVE(as[i]->params);
		MOVE(as[i]->tag);
	}
	struct cpm_sip_via *v = &m->via;
	MOVE(v->whole);
	MOVE(v->transport);
	MOVE(v->host);
	MOVE(v->params);
	MOVE(v->branch);
	MOVE(v->received);
	MOVE(v->rport);
	m->buf = nbuf;
	m->len = nlen;
	return 0;
}
#undef MOVE

int cpm_sip_msg_rebase(struct cpm_sip_msg *m, const char *nbuf, size_t nlen,
		       size_t cut_off, size_t cut_end, size_t new_len)
{
	if (cut_end == cut_off && new_len == 0)
		return rebase_plain(m, nbuf, nlen);
	const struct rebase r = { m->buf, nbuf, cut_off, cut_end, new_len };
	rebase_str(&r, &m->first_line);
	rebase_str(&r, &m->method_s);
	rebase_str(&r, &m->ruri);
	rebase_str(&r, &m->reason);
	for (unsigned i = 0; i < m->nhdrs; i++) {
		rebase_str(&r, &m->hdrs[i].name);
		rebase_str(&r, &m->hdrs[i].value);
		rebase_str(&r, &m->hdrs[i].raw);
	}
	m->body_off = rebase_off(&r, m->body_off);
	rebase_str(&r, &m->body);
	rebase_str(&r, &m->call_id);
	rebase_str(&r, &m->cseq.method_s);
	rebase_addr(&r, &m->from);
	rebase_addr(&r, &m->to);
	m->buf = nbuf;
	m->len = nlen;
	const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(m, CPM_SIP_H_VIA);
	if (!h)
		return CPM_EPARSE;
	struct cpm_str cur = h->value;
	return cpm_sip_via_next(&cur, &m->via) == 1 ? 0 : CPM_EPARSE;
}
