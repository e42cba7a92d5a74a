/* name-addr / addr-spec lists, Via, token lists (RFC 3261 §20, §25.1). */
#include "sip/sip_int.h"

#include <string.h>

/* One element of an address list at p; returns the position of the ','
 * that ends it (or end), or NULL when malformed. */
static const char *addr_elem(const char *p, const char *end, struct cpm_sip_addr *a,
			     bool check_uri)
{
	memset(a, 0, sizeof *a);
	p = cpm_sip__skip_ws(p, end);
	const char *start = p, *last;
	if (p >= end)
		return NULL;
	if (*p == '*') {
		/* Contact: * (RFC 3261 §10.2.2) */
		const char *q = cpm_sip__skip_ws(p + 1, end);
		if (q < end && *q != ',')
			return NULL;
		a->star = true;
		a->whole = cpm_sip__span(p, p + 1);
		return q;
	}
	bool name_addr = false;
	if (*p == '"') {
		const char *q = cpm_sip__quoted_end(p, end);
		if (!q)
			return NULL; /* quotbal: unbalanced quotes */
		a->display = cpm_sip__span(p, q);
		q = cpm_sip__skip_ws(q, end);
		if (q >= end || *q != '<')
			return NULL;
		p = q;
		name_addr = true;
	} else {
		/* display-name = *(token LWS); octets >= 0x80 tolerated */
		const char *q = p;
		while (q < end && (cpm_sip__is(*q, CPM_SIP_C_TOKEN | CPM_SIP_C_WS) ||
				   (unsigned char)*q >= 0x80))
			q++;
		if (q < end && *q == '<') {
			a->display = cpm_str_trim(cpm_sip__span(p, q));
			p = q;
			name_addr = true;
		}
	}
	struct cpm_sip_uri u;
	if (name_addr) {
		const char *gt = memchr(p + 1, '>', (size_t)(end - p - 1));
		if (!gt)
			return NULL;
		a->uri = cpm_sip__span(p + 1, gt);
		if (check_uri && cpm_sip_uri_parse(a->uri, &u) == CPM_EPARSE)
			return NULL;
		p = gt + 1;
	} else {
		/* addr-spec: the URI ends at LWS, ';' or ','; what follows
		 * are header parameters (RFC 3261 §20).  A bare URI with
		 * ',', ';' or '?' of its own would need <> (§20.10). */
		const char *q = p;
		while (q < end && !cpm_sip__is(*q, CPM_SIP_C_WS) && *q != ';' && *q != ',')
			q++;
		a->uri = cpm_sip__span(p, q);
		if (check_uri && (cpm_sip_uri_parse(a->uri, &u) == CPM_EPARSE ||
				  memchr(a->uri.s, '?', a->uri.len)))
			return NULL;
		p = q;
	}
	last = p;
	p = cpm_sip__skip_ws(p, end);
	const char *ps = p;
	while (p < end && *p == ';') {
		struct cpm_str n, v;
		const char *q = cpm_sip__param(p + 1, end, &n, &v);
		if (!q)
			return NULL;
		if (!a->tag.s && CPM_SIP_LIT_IEQ(n, "tag"))
			a->tag = v; /* the first one counts */
		last = q;
		p = cpm_sip__skip_ws(q, end);
	}
	if (last > ps)
		a->params = cpm_sip__span(ps, last);
	if (p < end && *p != ',')
		return NULL;
	a->whole = cpm_sip__span(start, last);
	return p;
}

int cpm_sip__addr_parse(struct cpm_str s, struct cpm_sip_addr *a, bool check_uri)
{
	if (!s.s)
		return CPM_EPARSE;
	const char *end = s.s + s.len;
	const char *p = addr_elem(s.s, end, a, check_uri);
	if (!p || p != end)
		return CPM_EPARSE;
	return 0;
}

int cpm_sip_addr_parse(struct cpm_str s, struct cpm_sip_addr *a)
{
	if (!s.s)
		return CPM_EPARSE;
	const char *end = s.s + s.len;
	const char *p = addr_elem(s.s, end, a, true);
	if (!p || p != end)
		return CPM_EPARSE;
	return 0;
}

int cpm_sip_addr_next(struct cpm_str *cursor, struct cpm_sip_addr *a)
{
	if (!cursor->s)
		return 0;
	const char *end = cursor->s + cursor->len;
	const char *p = cpm_sip__skip_ws(cursor->s, end);
	if (p >= end) {
		*cursor = cpm_sip__span(end, end);
		return 0;
	}
	p = addr_elem(p, end, a, true);
	if (!p)
		return CPM_EPARSE;
	if (p < end)
		p++; /* the ',' */
	*cursor = cpm_sip__span(p, end);
	return 1;
}

/* ------------------------------------------------------------------- Via */

/* via-parm = sent-protocol LWS sent-by *( SEMI via-params ), with SWS
 * around every '/' (RFC 3261 §25.1; RFC 4475 §3.1.1.1 exercises it). */
int cpm_sip_via_next(struct cpm_str *cursor, struct cpm_sip_via *v)
{
	if (!cursor->s)
		return 0;
	const char *end = cursor->s + cursor->len;
	const char *p = cpm_sip__skip_ws(cursor->s, end), *t;
	memset(v, 0, sizeof *v);
	if (p >= end) {
		*cursor = cpm_sip__span(end, end);
		return 0;
	}
	const char *start = p;
	for (int i = 0; i < 3; i++) {
		if (i) {
			if (p >= end || *p != '/')
				return CPM_EPARSE;
			p = cpm_sip__skip_ws(p + 1, end);
		}
		t = cpm_sip__skip_token(p, end);
		if (t == p)
			return CPM_EPARSE;
		if (i == 2)
			v->transport = cpm_sip__span(p, t);
		p = cpm_sip__skip_ws(t, end);
	}
	if (p == t)
		return CPM_EPARSE; /* LWS is mandatory before sent-by */
	bool v6;
	p = cpm_sip__hostport(p, end, &v->host, &v6, &v->port, &v->has_port);
	if (!p)
		return CPM_EPARSE;
	const char *last = p;
	p = cpm_sip__skip_ws(p, end);
	const char *ps = p;
	while (p < end && *p == ';') {
		struct cpm_str n, val;
		const char *q = cpm_sip__param(p + 1, end, &n, &val);
		if (!q)
			return CPM_EPARSE;
		/* a repeated parameter: the first one counts */
		if (CPM_SIP_LIT_IEQ(n, "branch")) {
			if (!v->branch.s)
				v->branch = val;
		} else if (CPM_SIP_LIT_IEQ(n, "received")) {
			if (!v->received.s)
				v->received = val;
		} else if (!v->has_rport && CPM_SIP_LIT_IEQ(n, "rport")) {
			v->has_rport = true;
			v->rport = val;
		}
		last = q;
		p = cpm_sip__skip_ws(q, end);
	}
	if (last > ps)
		v->params = cpm_sip__span(ps, last);
	if (p < end) {
		if (*p != ',')
			return CPM_EPARSE;
		p++;
	}
	v->whole = cpm_sip__span(start, last);
	*cursor = cpm_sip__span(p, end);
	return 1;
}

/* ------------------------------------------------------------ token lists */

int cpm_sip_list_next(struct cpm_str *cursor, struct cpm_str *item)
{
	if (!cursor->s)
		return 0;
	const char *p = cursor->s, *end = cursor->s + cursor->len;
	for (;;) {
		p = cpm_sip__skip_ws(p, end);
		if (p >= end) {
			*cursor = cpm_sip__span(end, end);
			return 0;
		}
		if (*p != ',')
			break;
		p++; /* empty items are skipped */
	}
	const char *start = p;
	while (p < end && *p != ',') {
		if (*p == '"') {
			const char *q = cpm_sip__quoted_end(p, end);
			p = q ? q : end;
		} else {
			p++;
		}
	}
	*item = cpm_str_trim(cpm_sip__span(start, p));
	if (p < end)
		p++;
	*cursor = cpm_sip__span(p, end);
	return 1;
}

bool cpm_sip_list_has(struct cpm_str value, const char *token)
{
	struct cpm_str it, tok = cpm_str_from_cstr(token);
	while (cpm_sip_list_next(&value, &it) == 1) {
		long semi = cpm_str_chr(it, ';');
		if (semi >= 0)
			it = cpm_str_trim((struct cpm_str){ it.s, (size_t)semi });
		if (cpm_str_ieq(it, tok))
			return true;
	}
	return false;
}
