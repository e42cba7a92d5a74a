/* MSRP header section: the start line (RFC 4975 §7, §9), the header
 * table, and the value syntax of each header the protocol defines
 * (RFC 4975 §9, RFC 4976 §5, §6).  The framing lives in msrp_parse.c. */
#include "msrp/msrp_int.h"

#include <string.h>

struct hdef {
	const char *name;
	const char *dup; /* non-NULL: at most one such header */
	const char *bad;
};

static const struct hdef hdefs[CPM_MSRP_H__COUNT] = {
	[CPM_MSRP_H_OTHER] = { "", NULL, NULL },
	[CPM_MSRP_H_TO_PATH] = { "To-Path", "Multiple To-Path", "Bad To-Path" },
	[CPM_MSRP_H_FROM_PATH] = { "From-Path", "Multiple From-Path", "Bad From-Path" },
	[CPM_MSRP_H_MESSAGE_ID] = { "Message-ID", "Multiple Message-ID", "Bad Message-ID" },
	[CPM_MSRP_H_BYTE_RANGE] = { "Byte-Range", "Multiple Byte-Range", "Bad Byte-Range" },
	[CPM_MSRP_H_STATUS] = { "Status", "Multiple Status", "Bad Status" },
	[CPM_MSRP_H_CONTENT_TYPE] = { "Content-Type", "Multiple Content-Type",
				      "Bad Content-Type" },
	[CPM_MSRP_H_SUCCESS_REPORT] = { "Success-Report", "Multiple Success-Report",
					"Bad Success-Report" },
	[CPM_MSRP_H_FAILURE_REPORT] = { "Failure-Report", "Multiple Failure-Report",
					"Bad Failure-Report" },
	[CPM_MSRP_H_USE_PATH] = { "Use-Path", "Multiple Use-Path", "Bad Use-Path" },
	[CPM_MSRP_H_WWW_AUTHENTICATE] = { "WWW-Authenticate", NULL, "Bad WWW-Authenticate" },
	[CPM_MSRP_H_AUTHORIZATION] = { "Authorization", "Multiple Authorization",
				       "Bad Authorization" },
	[CPM_MSRP_H_AUTHENTICATION_INFO] = { "Authentication-Info",
					     "Multiple Authentication-Info",
					     "Bad Authentication-Info" },
	[CPM_MSRP_H_EXPIRES] = { "Expires", "Multiple Expires", "Bad Expires" },
	[CPM_MSRP_H_MIN_EXPIRES] = { "Min-Expires", "Multiple Min-Expires", "Bad Min-Expires" },
	[CPM_MSRP_H_MAX_EXPIRES] = { "Max-Expires", "Multiple Max-Expires", "Bad Max-Expires" },
	[CPM_MSRP_H_CONTENT_ID] = { "Content-ID", NULL, NULL },
	[CPM_MSRP_H_CONTENT_DESCRIPTION] = { "Content-Description", NULL, NULL },
	[CPM_MSRP_H_CONTENT_DISPOSITION] = { "Content-Disposition", NULL, NULL },
};

const char *cpm_msrp_hdr_name(enum cpm_msrp_hdr_id id)
{
	return (unsigned)id < CPM_MSRP_H__COUNT ? hdefs[id].name : "";
}

enum cpm_msrp_hdr_id cpm_msrp_hdr_id_parse(struct cpm_str name)
{
	for (int i = 1; i < CPM_MSRP_H__COUNT; i++)
		if (cpm_str_ieq_cstr(name, hdefs[i].name))
			return (enum cpm_msrp_hdr_id)i;
	return CPM_MSRP_H_OTHER;
}

bool cpm_msrp_ident_valid(struct cpm_str s)
{
	if (s.len < 4 || s.len > CPM_MSRP_IDENT_MAX || !cpm_msrp__alnum(s.s[0]))
		return false;
	for (size_t i = 1; i < s.len; i++) {
		char c = s.s[i];
		if (!cpm_msrp__alnum(c) && c != '.' && c != '-' && c != '+' && c != '%' &&
		    c != '=')
			return false;
	}
	return true;
}

/* 1*DIGIT of at most 20 digits that fits max, at *p; *p moves past it. */
static bool number(const char **p, const char *end, uint64_t max, uint64_t *out)
{
	const char *s = *p;
	while (*p < end && **p >= '0' && **p <= '9')
		(*p)++;
	return cpm_str_to_u64(cpm_msrp__span(s, *p), max, out) == 0;
}

int cpm_msrp_range_parse(struct cpm_str v, struct cpm_msrp_range *r)
{
	const char *p = v.s, *end = v.s + v.len;
	memset(r, 0, sizeof *r);
	if (!v.s || !number(&p, end, UINT64_MAX - 1, &r->start) || r->start == 0 ||
	    p >= end || *p++ != '-')
		return CPM_EPARSE;
	if (p < end && *p == '*') {
		r->end_star = true;
		p++;
	} else if (!number(&p, end, UINT64_MAX - 1, &r->end) || r->end + 1 < r->start) {
		return CPM_EPARSE;
	}
	if (p >= end || *p++ != '/')
		return CPM_EPARSE;
	if (p < end && *p == '*') {
		r->total_star = true;
		p++;
	} else if (!number(&p, end, UINT64_MAX - 1, &r->total) ||
		   (!r->end_star && r->end > r->total)) {
		return CPM_EPARSE;
	}
	return p == end ? 0 : CPM_EPARSE;
}

/* utf8text = *(HTAB / %x20-7E / UTF8-NONASCII) */
static bool utf8text(struct cpm_str s)
{
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

static bool three_digits(const char *p)
{
	return p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9' &&
	       p[2] >= '0' && p[2] <= '9';
}

int cpm_msrp_status_parse(struct cpm_str v, struct cpm_msrp_status *st)
{
	memset(st, 0, sizeof *st);
	/* namespace SP status-code [SP text-reason] */
	if (!v.s || v.len < 7 || !three_digits(v.s) || v.s[3] != ' ' || !three_digits(v.s + 4) ||
	    (v.len > 7 && v.s[7] != ' '))
		return CPM_EPARSE;
	st->ns = (unsigned)((v.s[0] - '0') * 100 + (v.s[1] - '0') * 10 + (v.s[2] - '0'));
	st->code = (v.s[4] - '0') * 100 + (v.s[5] - '0') * 10 + (v.s[6] - '0');
	st->reason = v.len > 8 ? cpm_msrp__span(v.s + 8, v.s + v.len)
			       : (struct cpm_str){ v.s + v.len, 0 };
	if (st->code < 100 || !utf8text(st->reason))
		return CPM_EPARSE;
	return 0;
}

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

/* quoted-string at p (*p == '"'): the position after the closing quote,
 * or NULL.  qd-esc = "\" "\" / "\" DQUOTE, kept as is in the value. */
static const char *quoted_end(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\') {
			if (++p >= end)
				return NULL;
		} else if (*p == '"') {
			return p + 1;
		}
	}
	return NULL;
}

int cpm_msrp_auth_param_next(struct cpm_str *cursor, struct cpm_str *name,
			     struct cpm_str *value)
{
	const char *p = cursor->s, *end = p ? p + cursor->len : NULL;
	p = skip_ws(p, end);
	if (p >= end)
		return 0;
	const char *n = p;
	while (p < end && cpm_msrp__token(*p) && *p != '=')
		p++;
	if (p == n)
		return CPM_EPARSE;
	*name = cpm_msrp__span(n, p);
	p = skip_ws(p, end);
	if (p >= end || *p != '=')
		return CPM_EPARSE;
	p = skip_ws(p + 1, end);
	if (p < end && *p == '"') {
		const char *q = quoted_end(p, end);
		if (!q)
			return CPM_EPARSE;
		*value = cpm_msrp__span(p + 1, q - 1);
		p = q;
	} else {
		const char *v = p;
		while (p < end && cpm_msrp__token(*p) && *p != ',')
			p++;
		if (p == v)
			return CPM_EPARSE;
		*value = cpm_msrp__span(v, p);
	}
	p = skip_ws(p, end);
	if (p < end) {
		/* "," separates parameters; one must follow it */
		if (*p != ',' || skip_ws(p + 1, end) >= end)
			return CPM_EPARSE;
		p++;
	}
	*cursor = cpm_msrp__span(p, end);
	return 1;
}

static const struct {
	const char *name;
	size_t off;
} auth_fields[] = {
	{ "username", offsetof(struct cpm_msrp_auth, username) },
	{ "realm", offsetof(struct cpm_msrp_auth, realm) },
	{ "nonce", offsetof(struct cpm_msrp_auth, nonce) },
	{ "uri", offsetof(struct cpm_msrp_auth, uri) },
	{ "response", offsetof(struct cpm_msrp_auth, response) },
	{ "algorithm", offsetof(struct cpm_msrp_auth, algorithm) },
	{ "cnonce", offsetof(struct cpm_msrp_auth, cnonce) },
	{ "opaque", offsetof(struct cpm_msrp_auth, opaque) },
	{ "qop", offsetof(struct cpm_msrp_auth, qop) },
	{ "nc", offsetof(struct cpm_msrp_auth, nc) },
	{ "nextnonce", offsetof(struct cpm_msrp_auth, nextnonce) },
	{ "rspauth", offsetof(struct cpm_msrp_auth, rspauth) },
};

int cpm_msrp_auth_parse(struct cpm_str value, struct cpm_msrp_auth *a)
{
	memset(a, 0, sizeof *a);
	if (!value.s)
		return CPM_EPARSE;
	const char *p = skip_ws(value.s, value.s + value.len), *end = value.s + value.len;
	const char *t = p;
	while (t < end && cpm_msrp__token(*t) && *t != '=')
		t++;
	if (t == p)
		return CPM_EPARSE;
	/* "Digest" SP params, or (Authentication-Info) params only */
	if (skip_ws(t, end) >= end || *skip_ws(t, end) != '=') {
		if (t < end && *t != ' ' && *t != '\t')
			return CPM_EPARSE;
		a->scheme = cpm_msrp__span(p, t);
		p = t;
	}
	struct cpm_str cur = cpm_msrp__span(p, end), n, v;
	int rc;
	while ((rc = cpm_msrp_auth_param_next(&cur, &n, &v)) == 1) {
		if (cpm_str_ieq_cstr(n, "stale")) {
			a->stale = cpm_str_ieq_cstr(v, "true");
			continue;
		}
		for (size_t i = 0; i < sizeof auth_fields / sizeof auth_fields[0]; i++)
			if (cpm_str_ieq_cstr(n, auth_fields[i].name))
				*(struct cpm_str *)((char *)a + auth_fields[i].off) = v;
	}
	return rc;
}

/* media-type = type "/" subtype *(";" gen-param), gen-param = pname
 * ["=" pval], pval = token / quoted-string; SP around ';' tolerated. */
static bool valid_ctype(struct cpm_str v)
{
	const char *p = v.s, *end = v.s + v.len, *s = p;
	while (p < end && cpm_msrp__token(*p))
		p++;
	if (p == s || p >= end || *p++ != '/')
		return false;
	s = p;
	while (p < end && cpm_msrp__token(*p))
		p++;
	if (p == s)
		return false;
	for (;;) {
		p = skip_ws(p, end);
		if (p >= end)
			return true;
		if (*p != ';')
			return false;
		p = skip_ws(p + 1, end);
		s = p;
		while (p < end && cpm_msrp__token(*p) && *p != '=')
			p++;
		if (p == s)
			return false;
		if (p < end && *p == '=') {
			p++;
			if (p < end && *p == '"') {
				p = quoted_end(p, end);
				if (!p)
					return false;
			} else {
				s = p;
				while (p < end && cpm_msrp__token(*p))
					p++;
				if (p == s)
					return false;
			}
		}
	}
}

static bool valid_path(struct cpm_str v)
{
	struct cpm_msrp_uri u;
	int rc, n = 0;
	while ((rc = cpm_msrp_path_next(&v, &u)) == 1)
		n++;
	return rc == 0 && n > 0;
}

static void note(struct cpm_msrp_msg *m, const char *why)
{
	if (m->err)
		return;
	m->err = CPM_EPARSE;
	m->err_status = m->is_request ? 400 : 0;
	m->err_reason = why;
}

static enum cpm_msrp_rep report_value(struct cpm_str v, bool partial_ok)
{
	if (cpm_str_ieq_cstr(v, "yes"))
		return CPM_MSRP_REP_YES;
	if (cpm_str_ieq_cstr(v, "no"))
		return CPM_MSRP_REP_NO;
	if (partial_ok && cpm_str_ieq_cstr(v, "partial"))
		return CPM_MSRP_REP_PARTIAL;
	return CPM_MSRP_REP_ABSENT;
}

/* Check one header's value and keep what the message struct types.
 * Returns false when the value is malformed. */
static bool typed(struct cpm_msrp_msg *m, const struct cpm_msrp_hdr *h)
{
	struct cpm_str v = h->value;
	struct cpm_msrp_auth au;
	uint64_t n;
	switch (h->id) {
	case CPM_MSRP_H_TO_PATH:
		m->to_path = v;
		return valid_path(v);
	case CPM_MSRP_H_FROM_PATH:
		m->from_path = v;
		return valid_path(v);
	case CPM_MSRP_H_USE_PATH:
		m->use_path = v;
		return valid_path(v);
	case CPM_MSRP_H_MESSAGE_ID:
		m->message_id = v;
		return cpm_msrp_ident_valid(v);
	case CPM_MSRP_H_BYTE_RANGE:
		m->has_range = cpm_msrp_range_parse(v, &m->range) == 0;
		return m->has_range;
	case CPM_MSRP_H_STATUS:
		m->has_status = cpm_msrp_status_parse(v, &m->status) == 0;
		return m->has_status;
	case CPM_MSRP_H_CONTENT_TYPE:
		m->content_type = v;
		return valid_ctype(v);
	case CPM_MSRP_H_SUCCESS_REPORT:
		m->success_report = report_value(v, false);
		return m->success_report != CPM_MSRP_REP_ABSENT;
	case CPM_MSRP_H_FAILURE_REPORT:
		m->failure_report = report_value(v, true);
		return m->failure_report != CPM_MSRP_REP_ABSENT;
	case CPM_MSRP_H_WWW_AUTHENTICATE:
	case CPM_MSRP_H_AUTHORIZATION:
		return cpm_msrp_auth_parse(v, &au) == 0 && au.scheme.len;
	case CPM_MSRP_H_AUTHENTICATION_INFO:
		return cpm_msrp_auth_parse(v, &au) == 0 && !au.scheme.len;
	case CPM_MSRP_H_EXPIRES:
	case CPM_MSRP_H_MIN_EXPIRES:
	case CPM_MSRP_H_MAX_EXPIRES:
		if (cpm_str_to_u64(v, UINT32_MAX, &n))
			return false;
		*(h->id == CPM_MSRP_H_EXPIRES ? &m->expires :
		  h->id == CPM_MSRP_H_MIN_EXPIRES ? &m->min_expires : &m->max_expires) = (int64_t)n;
		return true;
	default:
		return true;
	}
}

/* One header line [p, le) without its CRLF. */
static void header_line(struct cpm_msrp_msg *m, const char *p, const char *le,
			int *last_seen)
{
	if (!utf8text(cpm_msrp__span(p, le))) {
		note(m, "Control character in header");
		return;
	}
	/* hname = ALPHA *token, then ":" SP value (SP tolerated missing) */
	const char *n = p;
	while (p < le && cpm_msrp__token(*p))
		p++;
	if (p == n || !((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z')) || p >= le ||
	    *p != ':') {
		note(m, "Bad header line");
		return;
	}
	if (m->nhdrs >= CPM_MSRP_HDRS_CAP)
		return; /* the framer's limit keeps us below; never reached */
	struct cpm_msrp_hdr *h = &m->hdrs[m->nhdrs++];
	h->name = cpm_msrp__span(n, p);
	h->id = cpm_msrp_hdr_id_parse(h->name);
	const char *vs = skip_ws(p + 1, le), *ve = le;
	while (ve > vs && (ve[-1] == ' ' || ve[-1] == '\t'))
		ve--;
	h->value = cpm_msrp__span(vs, ve);
	const struct hdef *d = &hdefs[h->id];
	if (d->dup && last_seen[h->id]) {
		note(m, d->dup);
		return;
	}
	last_seen[h->id] = 1;
	if (!typed(m, h))
		note(m, d->bad);
}

/* "MSRP" SP transact-id SP (method / status-code [SP comment]) */
static int start_line(struct cpm_msrp_msg *m, const char *p, const char *le,
		      const char **why)
{
	if (le - p < 5 || memcmp(p, "MSRP ", 5) != 0) {
		*why = "Not an MSRP message";
		return CPM_EPARSE;
	}
	p += 5;
	const char *t = p;
	while (p < le && *p != ' ')
		p++;
	m->tid = cpm_msrp__span(t, p);
	if (!cpm_msrp_ident_valid(m->tid)) {
		*why = "Bad transaction-id";
		return CPM_EPARSE;
	}
	if (p >= le) {
		*why = "Bad start line";
		return CPM_EPARSE;
	}
	p++;
	if (le - p >= 3 && three_digits(p) && (le - p == 3 || p[3] == ' ')) {
		m->code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
		m->comment = le - p > 4 ? cpm_msrp__span(p + 4, le)
					: (struct cpm_str){ le, 0 };
		if (m->code < 100 || !utf8text(m->comment)) {
			*why = "Bad status line";
			return CPM_EPARSE;
		}
		return 0;
	}
	/* method = 1*UPALPHA (case-sensitive) */
	m->method_s = cpm_msrp__span(p, le);
	if (p == le) {
		*why = "Bad method";
		return CPM_EPARSE;
	}
	for (; p < le; p++) {
		if (*p < 'A' || *p > 'Z') {
			*why = "Bad method";
			return CPM_EPARSE;
		}
	}
	m->is_request = true;
	m->method = cpm_str_eq_cstr(m->method_s, "SEND")     ? CPM_MSRP_SEND :
		    cpm_str_eq_cstr(m->method_s, "REPORT") ? CPM_MSRP_REPORT :
		    cpm_str_eq_cstr(m->method_s, "AUTH")   ? CPM_MSRP_AUTH :
							     CPM_MSRP_OTHER;
	return 0;
}

static void msg_init(struct cpm_msrp_msg *m, const char *buf)
{
	struct cpm_str none = { buf, 0 };
	m->is_request = false;
	m->tid = m->method_s = m->comment = none;
	m->method = CPM_MSRP_OTHER;
	m->code = 0;
	m->nhdrs = 0;
	m->to_path = m->from_path = m->use_path = m->message_id = m->content_type = none;
	m->has_range = m->has_status = m->has_body = false;
	memset(&m->range, 0, sizeof m->range);
	memset(&m->status, 0, sizeof m->status);
	m->success_report = m->failure_report = CPM_MSRP_REP_ABSENT;
	m->expires = m->min_expires = m->max_expires = -1;
	m->err = m->err_status = 0;
	m->err_reason = NULL;
}

int cpm_msrp__parse_head(struct cpm_msrp_msg *m, const char *buf, size_t len,
			 bool has_body, const char **why)
{
	const char *p = buf, *end = buf + len;
	msg_init(m, buf);
	const char *lf = memchr(p, '\n', len);
	if (!lf) {
		*why = "Bad start line";
		return CPM_EPARSE;
	}
	int rc = start_line(m, p, lf - 1, why);
	if (rc)
		return rc;
	int seen[CPM_MSRP_H__COUNT] = { 0 };
	for (p = lf + 1; p < end; p = lf + 1) {
		lf = memchr(p, '\n', (size_t)(end - p));
		if (!lf)
			break; /* the framer hands complete lines only */
		header_line(m, p, lf - 1, seen);
	}
	m->has_body = has_body;
	/* RFC 4975 §7.1, §7.1.1, §7.1.2, §7.2.  The ABNF puts To-Path and
	 * From-Path first; any place is accepted, once each. */
	if (!seen[CPM_MSRP_H_TO_PATH])
		note(m, "Missing To-Path");
	if (!seen[CPM_MSRP_H_FROM_PATH])
		note(m, "Missing From-Path");
	if (m->is_request && m->method == CPM_MSRP_SEND && !seen[CPM_MSRP_H_MESSAGE_ID])
		note(m, "SEND without Message-ID");
	if (m->is_request && m->method == CPM_MSRP_REPORT) {
		if (!seen[CPM_MSRP_H_MESSAGE_ID])
			note(m, "REPORT without Message-ID");
		if (!seen[CPM_MSRP_H_STATUS])
			note(m, "REPORT without Status");
	}
	if (has_body && !m->is_request)
		note(m, "Body in response");
	if (has_body && !seen[CPM_MSRP_H_CONTENT_TYPE])
		note(m, "Body without Content-Type");
	return 0;
}

const struct cpm_msrp_hdr *cpm_msrp_msg_hdr(const struct cpm_msrp_msg *m,
					    enum cpm_msrp_hdr_id id)
{
	for (unsigned i = 0; i < m->nhdrs; i++)
		if (m->hdrs[i].id == id)
			return &m->hdrs[i];
	return NULL;
}
