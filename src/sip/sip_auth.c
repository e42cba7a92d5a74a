/* Digest credentials and challenges (RFC 3261 §25.1 / RFC 7616 / RFC 8760),
 * Content-Type. */
#include "sip/sip_int.h"

#include <string.h>

/* credentials / challenge = auth-scheme LWS auth-param *(COMMA auth-param);
 * auth-param = name LWS "=" LWS ( token / quoted-string ). */
int cpm_sip_auth_parse(struct cpm_str value, struct cpm_sip_auth *a)
{
	memset(a, 0, sizeof *a);
	if (!value.s)
		return CPM_EPARSE;
	const char *p = value.s, *end = value.s + value.len;
	p = cpm_sip__skip_ws(p, end);
	const char *t = cpm_sip__skip_token(p, end);
	if (t == p)
		return CPM_EPARSE;
	a->scheme = cpm_sip__span(p, t);
	p = cpm_sip__skip_ws(t, end);
	if (p == end)
		return 0;
	if (p == t)
		return CPM_EPARSE;
	for (;;) {
		const char *n = p;
		t = cpm_sip__skip_token(p, end);
		if (t == n)
			return CPM_EPARSE;
		struct cpm_str name = cpm_sip__span(n, t), val;
		p = cpm_sip__skip_ws(t, end);
		if (p >= end || *p != '=')
			return CPM_EPARSE;
		p = cpm_sip__skip_ws(p + 1, end);
		if (p >= end)
			return CPM_EPARSE;
		if (*p == '"') {
			const char *q = cpm_sip__quoted_end(p, end);
			if (!q)
				return CPM_EPARSE;
			val = cpm_sip__span(p + 1, q - 1);
			p = q;
		} else {
			const char *v = p;
			while (p < end && *p != ',' && *p != '"' &&
			       !cpm_sip__is(*p, CPM_SIP_C_WS))
				p++;
			if (p == v)
				return CPM_EPARSE;
			val = cpm_sip__span(v, p);
		}
		switch (cpm_sip__lower((unsigned char)name.s[0])) {
		case 'u':
			if (cpm_str_ieq_cstr(name, "username"))
				a->username = val;
			else if (cpm_str_ieq_cstr(name, "uri"))
				a->uri = val;
			break;
		case 'r':
			if (cpm_str_ieq_cstr(name, "realm"))
				a->realm = val;
			else if (cpm_str_ieq_cstr(name, "response"))
				a->response = val;
			break;
		case 'n':
			if (cpm_str_ieq_cstr(name, "nonce"))
				a->nonce = val;
			else if (cpm_str_ieq_cstr(name, "nc"))
				a->nc = val;
			break;
		case 'a':
			if (cpm_str_ieq_cstr(name, "algorithm"))
				a->algorithm = val;
			break;
		case 'c':
			if (cpm_str_ieq_cstr(name, "cnonce"))
				a->cnonce = val;
			break;
		case 'o':
			if (cpm_str_ieq_cstr(name, "opaque"))
				a->opaque = val;
			break;
		case 'q':
			if (cpm_str_ieq_cstr(name, "qop"))
				a->qop = val;
			break;
		case 's':
			if (cpm_str_ieq_cstr(name, "stale"))
				a->stale = cpm_str_ieq_cstr(val, "true");
			break;
		}
		p = cpm_sip__skip_ws(p, end);
		if (p >= end)
			return 0;
		if (*p != ',')
			return CPM_EPARSE;
		p = cpm_sip__skip_ws(p + 1, end);
	}
}

/* media-type = m-type SLASH m-subtype *(SEMI m-parameter) (§20.15) */
int cpm_sip_ctype_parse(struct cpm_str value, struct cpm_str *mime,
			struct cpm_str *params)
{
	if (!value.s)
		return CPM_EPARSE;
	const char *p = value.s, *end = value.s + value.len;
	p = cpm_sip__skip_ws(p, end);
	const char *start = p, *t = cpm_sip__skip_token(p, end);
	if (t == p)
		return CPM_EPARSE;
	p = cpm_sip__skip_ws(t, end);
	if (p >= end || *p != '/')
		return CPM_EPARSE;
	p = cpm_sip__skip_ws(p + 1, end);
	t = cpm_sip__skip_token(p, end);
	if (t == p)
		return CPM_EPARSE;
	*mime = cpm_sip__span(start, t);
	p = cpm_sip__skip_ws(t, end);
	const char *ps = p, *last = p;
	while (p < end && *p == ';') {
		struct cpm_str n, v;
		const char *q = cpm_sip__param(p + 1, end, &n, &v);
		if (!q)
			return CPM_EPARSE;
		last = q;
		p = cpm_sip__skip_ws(q, end);
	}
	if (p != end)
		return CPM_EPARSE;
	*params = last > ps ? cpm_sip__span(ps, last) : cpm_sip__span(end, end);
	return 0;
}
