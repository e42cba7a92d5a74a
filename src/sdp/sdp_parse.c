/* SDP parsing (RFC 8866 §5, §9).
 *
 * One pass over the lines.  v=, o=, s= are checked for position; the other
 * session-level lines are accepted in any order before the first m= (RFC
 * 8866 fixes an order, but peers get it wrong and nothing here depends on
 * it), and each m= section takes i= c= b= k= a= only.  Typed fields are
 * filled for o= s= i= u= c= m= a=; the others are kept verbatim as
 * struct cpm_sdp_line so that printing gives them back. */
#include "sdp/sdp_int.h"

#include <string.h>

void cpm_sdp_limits_default(struct cpm_sdp_limits *lim)
{
	lim->max_media = 16;
	lim->max_attrs = 64;
	lim->max_lines = 32;
	lim->max_line = 2048;
}

struct pstate {
	struct cpm_sdp *d;
	const struct cpm_sdp_limits *lim;
	unsigned lineno;
	bool seen_v, seen_o, seen_s, seen_t;
};

static int fail(struct pstate *ps, int rc, const char *why)
{
	ps->d->err_line = ps->lineno;
	ps->d->err_reason = why;
	return rc;
}

/* The next field separated by one or more SP: *p is moved past it and
 * the spaces after it. */
static struct cpm_str field(const char **p, const char *end)
{
	const char *s = *p, *q = s;
	while (q < end && *q != ' ')
		q++;
	struct cpm_str f = { s, (size_t)(q - s) };
	while (q < end && *q == ' ')
		q++;
	*p = q;
	return f;
}

/* "/" 1*DIGIT ["/" 1*DIGIT] (RFC 8866 §9 IP4-multicast ttl and count, or
 * IP6-multicast count). */
static bool valid_suffix(struct cpm_str s)
{
	if (s.len == 0)
		return true;
	const char *p = s.s, *end = s.s + s.len;
	for (int part = 0; part < 2 && p < end; part++) {
		if (*p++ != '/')
			return false;
		const char *d = p;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		if (p == d || p - d > 10)
			return false;
	}
	return p == end;
}

static int parse_conn(struct cpm_str v, struct cpm_sdp_conn *c)
{
	const char *p = v.s, *end = v.s + v.len;
	c->nettype = field(&p, end);
	c->addrtype = field(&p, end);
	struct cpm_str a = field(&p, end);
	if (p != end || !cpm_sdp__is_token_str(c->nettype) ||
	    !cpm_sdp__is_token_str(c->addrtype) || a.len == 0)
		return CPM_EPARSE;
	long slash = cpm_str_chr(a, '/');
	if (slash < 0) {
		c->address = a;
		c->suffix = (struct cpm_str){ a.s + a.len, 0 };
	} else {
		c->address = (struct cpm_str){ a.s, (size_t)slash };
		c->suffix = (struct cpm_str){ a.s + slash, a.len - (size_t)slash };
	}
	if (c->address.len == 0 || !valid_suffix(c->suffix))
		return CPM_EPARSE;
	return 0;
}

/* o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address> */
static int parse_origin(struct cpm_str v, struct cpm_sdp_origin *o)
{
	const char *p = v.s, *end = v.s + v.len;
	o->username = field(&p, end);
	o->sess_id = field(&p, end);
	o->sess_version = field(&p, end);
	o->nettype = field(&p, end);
	o->addrtype = field(&p, end);
	o->address = field(&p, end);
	if (p != end || o->username.len == 0 || !cpm_sdp__is_digits(o->sess_id) ||
	    !cpm_sdp__is_digits(o->sess_version) || !cpm_sdp__is_token_str(o->nettype) ||
	    !cpm_sdp__is_token_str(o->addrtype) || o->address.len == 0)
		return CPM_EPARSE;
	return 0;
}

/* token *("/" token): proto, and fmt leniently */
static bool valid_slashed(struct cpm_str s)
{
	if (s.len == 0 || s.s[0] == '/' || s.s[s.len - 1] == '/')
		return false;
	for (size_t i = 0; i < s.len; i++) {
		if (s.s[i] == '/') {
			if (s.s[i + 1] == '/')
				return false;
		} else if (!cpm_sdp__is_token(s.s[i])) {
			return false;
		}
	}
	return true;
}

/* m=<media> <port>[/<n>] <proto> 1*(SP <fmt>).  The seed's m=messaging
 * line carries two protocols ("IMTP/instant MESSAGE/instant html"): for
 * that media the proto takes every leading token with a '/', leaving at
 * least one token as the format. */
static const char *parse_media(struct cpm_str v, struct cpm_sdp_media *m)
{
	const char *p = v.s, *end = v.s + v.len;
	memset(m, 0, sizeof *m);
	m->media = field(&p, end);
	if (!cpm_sdp__is_token_str(m->media))
		return "Bad m= media";
	struct cpm_str port = field(&p, end);
	long slash = cpm_str_chr(port, '/');
	struct cpm_str pn = port, cnt = CPM_STR_NULL;
	if (slash >= 0) {
		pn.len = (size_t)slash;
		cnt = (struct cpm_str){ port.s + slash + 1, port.len - (size_t)slash - 1 };
	}
	uint64_t n;
	if (cpm_str_to_u64(pn, 65535, &n))
		return "Bad m= port";
	m->port = (uint16_t)n;
	if (slash >= 0) {
		if (cpm_str_to_u64(cnt, 65535, &n) || n == 0)
			return "Bad m= port count";
		m->nports = (unsigned)n;
	}
	const char *ps = p;
	struct cpm_str proto = field(&p, end);
	if (!valid_slashed(proto))
		return "Bad m= proto";
	const char *pe = proto.s + proto.len;
	if (cpm_str_ieq_cstr(m->media, "messaging")) {
		for (;;) {
			const char *save = p;
			struct cpm_str t = field(&p, end);
			if (t.len == 0 || cpm_str_chr(t, '/') < 0 || p == end) {
				p = save;
				break;
			}
			if (!valid_slashed(t))
				return "Bad m= proto";
			pe = t.s + t.len;
		}
	}
	m->proto = (struct cpm_str){ ps, (size_t)(pe - ps) };
	if (p == end)
		return "Missing m= format";
	m->fmts = (struct cpm_str){ p, (size_t)(end - p) };
	/* fmt = token (RFC 8866 §9); a '/' is let in, as MIME types and
	 * the seed's "MESSAGE/S&F" appear there */
	while (p < end) {
		struct cpm_str f = field(&p, end);
		if (!valid_slashed(f))
			return "Bad m= format";
	}
	return NULL;
}

/* a=<attribute-name>[:<attribute-value>] */
static int parse_attr(struct pstate *ps, struct cpm_str v, int media)
{
	struct cpm_sdp *d = ps->d;
	if (d->nattrs >= ps->lim->max_attrs || d->nattrs >= CPM_SDP_ATTRS_CAP)
		return fail(ps, CPM_ELIMIT, "Too many a= lines");
	struct cpm_sdp_attr *a = &d->attrs[d->nattrs];
	long colon = cpm_str_chr(v, ':');
	a->media = media;
	a->has_value = colon >= 0;
	a->name = v;
	a->value = (struct cpm_str){ v.s + v.len, 0 };
	if (colon >= 0) {
		a->name.len = (size_t)colon;
		a->value = (struct cpm_str){ v.s + colon + 1, v.len - (size_t)colon - 1 };
	}
	if (!cpm_sdp__is_token_str(a->name))
		return fail(ps, CPM_EPARSE, "Bad a= name");
	d->nattrs++;
	return 0;
}

static int add_line(struct pstate *ps, char type, struct cpm_str v, int media)
{
	struct cpm_sdp *d = ps->d;
	if (d->nlines >= ps->lim->max_lines || d->nlines >= CPM_SDP_LINES_CAP)
		return fail(ps, CPM_ELIMIT, "Too many lines");
	d->lines[d->nlines++] = (struct cpm_sdp_line){ media, type, v };
	return 0;
}

/* t=<start> <stop>: NTP seconds, 0 for unbounded (RFC 8866 §5.9). */
static bool valid_time(struct cpm_str v)
{
	const char *p = v.s, *end = v.s + v.len;
	struct cpm_str a = field(&p, end), b = field(&p, end);
	return p == end && cpm_sdp__is_digits(a) && cpm_sdp__is_digits(b) &&
	       a.len <= 20 && b.len <= 20;
}

/* b=<bwtype>:<bandwidth> */
static bool valid_bandwidth(struct cpm_str v)
{
	long colon = cpm_str_chr(v, ':');
	if (colon < 0)
		return false;
	struct cpm_str t = { v.s, (size_t)colon };
	struct cpm_str n = { v.s + colon + 1, v.len - (size_t)colon - 1 };
	return cpm_sdp__is_token_str(t) && cpm_sdp__is_digits(n);
}

static int session_line(struct pstate *ps, char type, struct cpm_str v)
{
	struct cpm_sdp *d = ps->d;
	switch (type) {
	case 'i':
		if (d->info.s)
			return fail(ps, CPM_EPARSE, "Duplicate i=");
		d->info = v;
		return 0;
	case 'u':
		if (d->uri.s)
			return fail(ps, CPM_EPARSE, "Duplicate u=");
		if (v.len == 0)
			return fail(ps, CPM_EPARSE, "Bad u=");
		d->uri = v;
		return 0;
	case 'c':
		if (d->has_conn)
			return fail(ps, CPM_EPARSE, "Duplicate c=");
		if (parse_conn(v, &d->conn))
			return fail(ps, CPM_EPARSE, "Bad c=");
		d->has_conn = true;
		return 0;
	case 't':
		if (!valid_time(v))
			return fail(ps, CPM_EPARSE, "Bad t=");
		ps->seen_t = true;
		return add_line(ps, type, v, -1);
	case 'r':
	case 'z':
		/* repeat times and zone adjustments follow a t= (§5.10-11) */
		if (!ps->seen_t)
			return fail(ps, CPM_EPARSE, type == 'r' ? "r= before t=" : "z= before t=");
		if (v.len == 0)
			return fail(ps, CPM_EPARSE, type == 'r' ? "Bad r=" : "Bad z=");
		return add_line(ps, type, v, -1);
	case 'b':
		if (!valid_bandwidth(v))
			return fail(ps, CPM_EPARSE, "Bad b=");
		return add_line(ps, type, v, -1);
	case 'e':
	case 'p':
	case 'k':
		if (v.len == 0)
			return fail(ps, CPM_EPARSE, type == 'e' ? "Bad e=" :
						   type == 'p' ? "Bad p=" : "Bad k=");
		return add_line(ps, type, v, -1);
	case 'a':
		return parse_attr(ps, v, -1);
	}
	return fail(ps, CPM_EPARSE, "Unknown type letter");
}

static int media_line(struct pstate *ps, char type, struct cpm_str v)
{
	struct cpm_sdp *d = ps->d;
	int mi = (int)d->nmedia - 1;
	struct cpm_sdp_media *m = &d->media[mi];
	switch (type) {
	case 'i':
		if (m->info.s)
			return fail(ps, CPM_EPARSE, "Duplicate i=");
		m->info = v;
		return 0;
	case 'c':
		/* *connection-field: more than one is legal (§5.7) */
		if (m->has_conn) {
			struct cpm_sdp_conn extra;
			if (parse_conn(v, &extra))
				return fail(ps, CPM_EPARSE, "Bad c=");
			return add_line(ps, type, v, mi);
		}
		if (parse_conn(v, &m->conn))
			return fail(ps, CPM_EPARSE, "Bad c=");
		m->has_conn = true;
		return 0;
	case 'b':
		if (!valid_bandwidth(v))
			return fail(ps, CPM_EPARSE, "Bad b=");
		return add_line(ps, type, v, mi);
	case 'k':
		if (v.len == 0)
			return fail(ps, CPM_EPARSE, "Bad k=");
		return add_line(ps, type, v, mi);
	case 'a':
		return parse_attr(ps, v, mi);
	case 'v': case 'o': case 's': case 'u': case 'e': case 'p':
	case 't': case 'r': case 'z':
		return fail(ps, CPM_EPARSE, "Session-level line in a media section");
	}
	return fail(ps, CPM_EPARSE, "Unknown type letter");
}

static int one_line(struct pstate *ps, char type, struct cpm_str v)
{
	struct cpm_sdp *d = ps->d;
	/* v= o= s= open the description, in this order (§5) */
	if (!ps->seen_v) {
		if (type != 'v')
			return fail(ps, CPM_EPARSE, "Missing v=");
		uint64_t n;
		if (cpm_str_to_u64(v, 9, &n) || n != 0)
			return fail(ps, CPM_EPARSE, "Bad v=");
		d->version = 0;
		ps->seen_v = true;
		return 0;
	}
	if (!ps->seen_o) {
		if (type != 'o')
			return fail(ps, CPM_EPARSE, "Missing o=");
		if (parse_origin(v, &d->origin))
			return fail(ps, CPM_EPARSE, "Bad o=");
		ps->seen_o = true;
		return 0;
	}
	if (!ps->seen_s) {
		if (type != 's')
			return fail(ps, CPM_EPARSE, "Missing s=");
		d->name = v;
		ps->seen_s = true;
		return 0;
	}
	if (type == 'v' || type == 'o' || type == 's')
		return fail(ps, CPM_EPARSE, type == 'v' ? "Duplicate v=" :
					   type == 'o' ? "Duplicate o=" : "Duplicate s=");
	if (type == 'm') {
		if (!ps->seen_t)
			return fail(ps, CPM_EPARSE, "Missing t=");
		if (d->nmedia >= ps->lim->max_media || d->nmedia >= CPM_SDP_MEDIA_CAP)
			return fail(ps, CPM_ELIMIT, "Too many m= lines");
		const char *why = parse_media(v, &d->media[d->nmedia]);
		if (why)
			return fail(ps, CPM_EPARSE, why);
		d->nmedia++;
		return 0;
	}
	if (d->nmedia)
		return media_line(ps, type, v);
	return session_line(ps, type, v);
}

int cpm_sdp_parse(struct cpm_sdp *d, const char *buf, size_t len,
		  const struct cpm_sdp_limits *lim)
{
	struct cpm_sdp_limits dflt;
	if (!lim) {
		cpm_sdp_limits_default(&dflt);
		lim = &dflt;
	}
	memset(d, 0, offsetof(struct cpm_sdp, media));
	d->nmedia = d->nattrs = d->nlines = 0;
	d->err_line = 0;
	d->err_reason = NULL;
	struct pstate ps = { .d = d, .lim = lim };
	const char *p = buf, *end = buf ? buf + len : NULL;
	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		const char *le = lf ? lf : end;
		const char *next = lf ? lf + 1 : end;
		ps.lineno++;
		/* CRLF or bare LF; then trailing whitespace is not content */
		if (le > p && le[-1] == '\r')
			le--;
		if ((size_t)(le - p) > lim->max_line)
			return fail(&ps, CPM_ELIMIT, "Line too long");
		while (le > p && (le[-1] == ' ' || le[-1] == '\t'))
			le--;
		if (le == p) {
			p = next;
			continue;
		}
		if (le - p < 2 || p[0] < 'a' || p[0] > 'z' || p[1] != '=')
			return fail(&ps, CPM_EPARSE, "Bad line");
		/* text = byte-string: no NUL, CR or LF inside (§9) */
		for (const char *q = p + 2; q < le; q++)
			if (*q == '\0' || *q == '\r')
				return fail(&ps, CPM_EPARSE, "Control character in line");
		int rc = one_line(&ps, p[0], (struct cpm_str){ p + 2, (size_t)(le - p - 2) });
		if (rc)
			return rc;
		p = next;
	}
	ps.lineno++;
	if (!ps.seen_v)
		return fail(&ps, CPM_EPARSE, "Missing v=");
	if (!ps.seen_o)
		return fail(&ps, CPM_EPARSE, "Missing o=");
	if (!ps.seen_s)
		return fail(&ps, CPM_EPARSE, "Missing s=");
	if (!ps.seen_t)
		return fail(&ps, CPM_EPARSE, "Missing t=");
	return 0;
}
