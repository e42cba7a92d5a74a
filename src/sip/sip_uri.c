/* URIs (RFC 3261 §19.1, RFC 3966 tel:, RFC 5118 IPv6), generic parameters,
 * quoted strings. */
#include "sip/sip_int.h"

#include <string.h>

/* ------------------------------------------------------- shared lexemes */

const char *cpm_sip__quoted_end(const char *p, const char *end)
{
	p++; /* the opening quote */
	while (p < end) {
		if (*p == '"')
			return p + 1;
		if (*p == '\\') {
			/* quoted-pair: the escaped octet may be anything but
			 * CR/LF (RFC 3261 §25.1); a '\' at the end is broken. */
			if (p + 1 >= end || p[1] == '\r' || p[1] == '\n')
				return NULL;
			p += 2;
			continue;
		}
		p++;
	}
	return NULL;
}

/* gen-value = token / host / quoted-string (RFC 3261 §25.1); host brings
 * ':' '[' ']'.  Accept every visible octet except the separators. */
static inline bool is_valchar(char c)
{
	return cpm_sip__is2(c, CPM_SIP_C2_VAL);
}

const char *cpm_sip__param(const char *p, const char *end, struct cpm_str *name,
			   struct cpm_str *val)
{
	p = cpm_sip__skip_ws(p, end);
	const char *n = p;
	/* names are tokens in header parameters but 1*paramchar in URIs
	 * (§19.1.1: '[' ']' '/' ':' '&' '+' '$' and escapes): accept both */
	while (p < end && is_valchar(*p) && *p != '=')
		p++;
	if (p == n)
		return NULL;
	*name = cpm_sip__span(n, p);
	const char *after_name = p;
	p = cpm_sip__skip_ws(p, end);
	if (p >= end || *p != '=') {
		*val = (struct cpm_str){ after_name, 0 };
		return after_name;
	}
	p = cpm_sip__skip_ws(p + 1, end);
	if (p >= end)
		return NULL;
	const char *v = p;
	if (*p == '"') {
		p = cpm_sip__quoted_end(p, end);
		if (!p)
			return NULL;
	} else {
		while (p < end && is_valchar(*p))
			p++;
		if (p == v)
			return NULL;
	}
	*val = cpm_sip__span(v, p);
	return p;
}

/* The nth (from 0) parameter called name. */
static bool param_lookup_nth(struct cpm_str params, struct cpm_str name,
			     unsigned nth, struct cpm_str *val)
{
	if (!params.s || !name.s)
		return false;
	const char *p = params.s, *end = params.s + params.len;
	bool first = true;
	for (;;) {
		p = cpm_sip__skip_ws(p, end);
		if (p >= end)
			return false;
		if (*p == ';')
			p++;
		else if (!first)
			return false;
		first = false;
		p = cpm_sip__skip_ws(p, end);
		if (p >= end)
			return false;
		if (*p == ';')
			continue; /* tolerate ";;" when searching */
		struct cpm_str n, v;
		p = cpm_sip__param(p, end, &n, &v);
		if (!p)
			return false;
		if (cpm_str_ieq(n, name) && nth-- == 0) {
			if (val)
				*val = v;
			return true;
		}
	}
}

static bool param_lookup(struct cpm_str params, struct cpm_str name,
			 struct cpm_str *val)
{
	return param_lookup_nth(params, name, 0, val);
}

bool cpm_sip_param_find(struct cpm_str params, const char *name,
			struct cpm_str *val)
{
	if (!name)
		return false;
	return param_lookup(params, cpm_str_from_cstr(name), val);
}

struct cpm_str cpm_sip_unquote(struct cpm_str s)
{
	if (s.len >= 2 && s.s[0] == '"' && s.s[s.len - 1] == '"')
		return (struct cpm_str){ s.s + 1, s.len - 2 };
	return s;
}

/* ----------------------------------------------------------------- hosts */

static bool ipv4_ok(const char *p, const char *end)
{
	for (int octet = 0; octet < 4; octet++) {
		if (octet) {
			if (p >= end || *p != '.')
				return false;
			p++;
		}
		unsigned v = 0, nd = 0;
		while (p < end && *p >= '0' && *p <= '9' && nd < 4) {
			v = v * 10 + (unsigned)(*p - '0');
			p++;
			nd++;
		}
		if (nd == 0 || nd > 3 || v > 255)
			return false;
	}
	return p == end;
}

/* RFC 4291 §2.2 text form inside the brackets.  RFC 3261's ABNF also lets
 * through a third colon before an IPv4 tail ("2001:db8:::192.0.2.1"); RFC
 * 5118 §4.10 asks implementations to tolerate it, so we do. */
static bool ipv6_ok(const char *p, const char *end)
{
	unsigned groups = 0;
	bool dbl = false;
	if (end - p < 2)
		return false;
	if (p[0] == ':') {
		if (p[1] != ':')
			return false;
		dbl = true;
		p += 2;
		if (p == end)
			return true;
	}
	for (;;) {
		const char *g = p;
		while (p < end && cpm_sip__is(*p, CPM_SIP_C_HEX) && p - g < 5)
			p++;
		if (p < end && *p == '.') {
			/* IPv4 tail: takes two groups, ends the address */
			if (!ipv4_ok(g, end))
				return false;
			groups += 2;
			break;
		}
		if (p == g || p - g > 4)
			return false;
		groups++;
		if (p == end)
			break;
		if (*p != ':')
			return false;
		p++;
		if (p < end && *p == ':') {
			if (dbl)
				return false;
			dbl = true;
			p++;
			if (p == end)
				break;
			if (*p == ':' && ipv4_ok(p + 1, end)) {
				groups += 2; /* RFC 5118 §4.10 tolerance */
				break;
			}
		} else if (p == end) {
			return false;
		}
		if (groups > 8)
			return false;
	}
	return dbl ? groups <= 7 : groups == 8;
}

const char *cpm_sip__hostport(const char *p, const char *end, struct cpm_str *host,
			      bool *v6, uint16_t *port, bool *has_port)
{
	const char *h = p;
	*v6 = false;
	*has_port = false;
	*port = 0;
	if (p < end && *p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));
		if (!rb || !ipv6_ok(p + 1, rb))
			return NULL;
		p = rb + 1;
		*v6 = true;
	} else {
		while (p < end && cpm_sip__is(*p, CPM_SIP_C_HOST))
			p++;
		if (p == h || *h == '.' || *h == '-')
			return NULL;
	}
	*host = cpm_sip__span(h, p);
	if (p < end && *p == ':') {
		p++;
		unsigned v = 0, nd = 0;
		while (p < end && *p >= '0' && *p <= '9') {
			if (++nd > 5)
				return NULL;
			v = v * 10 + (unsigned)(*p - '0');
			p++;
		}
		if (nd == 0 || v > 65535)
			return NULL;
		*port = (uint16_t)v;
		*has_port = true;
	}
	return p;
}

/* ------------------------------------------------------------------ URIs */

/* One character of a user / password / param / header, or an escape. */
static const char *esc_run(const char *p, const char *end, unsigned cls,
			   unsigned cls2)
{
	while (p < end) {
		if (*p == '%') {
			if (end - p < 3 || !cpm_sip__is(p[1], CPM_SIP_C_HEX) ||
			    !cpm_sip__is(p[2], CPM_SIP_C_HEX))
				return p;
			p += 3;
		} else if (cpm_sip__is(*p, cls) || cpm_sip__is2(*p, cls2)) {
			p++;
		} else {
			break;
		}
	}
	return p;
}

/* uri-parameters = *( ";" pname [ "=" pvalue ] ), both non-empty. */
static bool params_ok(struct cpm_str params)
{
	if (!params.s)
		return true;
	const char *p = params.s, *end = params.s + params.len;
	struct cpm_str n, v;
	while (p < end) {
		if (*p != ';')
			return false;
		p = cpm_sip__param(p + 1, end, &n, &v);
		if (!p)
			return false;
	}
	return true;
}

static int parse_sip(const char *p, const char *end, struct cpm_sip_uri *u)
{
	const char *at = memchr(p, '@', (size_t)(end - p));
	if (at) {
		/* userinfo (§19.1.1): the user may hold ';' '?' '/' (semiuri,
		 * intmeth), so it ends at the '@', not at the first of those */
		const char *c = memchr(p, ':', (size_t)(at - p));
		const char *ue = c ? c : at;
		if (ue == p || esc_run(p, ue, CPM_SIP_C_USER, 0) != ue)
			return CPM_EPARSE;
		u->user = cpm_sip__span(p, ue);
		if (c) {
			if (esc_run(c + 1, at, CPM_SIP_C_PASS, 0) != at)
				return CPM_EPARSE;
			u->password = cpm_sip__span(c + 1, at);
		}
		p = at + 1;
	}
	p = cpm_sip__hostport(p, end, &u->host, &u->host_is_ipv6, &u->port,
			      &u->has_port);
	if (!p)
		return CPM_EPARSE;
	if (p < end && *p == ';') {
		const char *q = esc_run(p, end, 0, CPM_SIP_C2_UPARAM);
		u->params = cpm_sip__span(p, q);
		p = q;
	}
	if (p < end && *p == '?') {
		const char *q = esc_run(p + 1, end, 0, CPM_SIP_C2_UHDR);
		if (q != end)
			return CPM_EPARSE;
		u->headers = cpm_sip__span(p + 1, end);
		p = end;
	}
	if (p != end)
		return CPM_EPARSE;
	/* one pass: validate and pick the common parameters (first wins) */
	const char *q = u->params.s, *pe = q ? q + u->params.len : NULL;
	while (q && q < pe) {
		struct cpm_str n, v;
		if (*q != ';' || !(q = cpm_sip__param(q + 1, pe, &n, &v)))
			return CPM_EPARSE;
		switch (n.len) {
		case 2:
			if (!u->lr && CPM_SIP_LIT_IEQ(n, "lr"))
				u->lr = true;
			break;
		case 4:
			if (!u->user_param.s && CPM_SIP_LIT_IEQ(n, "user"))
				u->user_param = v;
			break;
		case 5:
			if (!u->maddr.s && CPM_SIP_LIT_IEQ(n, "maddr"))
				u->maddr = v;
			break;
		case 9:
			if (!u->transport.s && CPM_SIP_LIT_IEQ(n, "transport"))
				u->transport = v;
			break;
		}
	}
	return 0;
}

/* tel: (RFC 3966): the number up to the first ';', then parameters. */
static int parse_tel(const char *p, const char *end, struct cpm_sip_uri *u)
{
	const char *semi = memchr(p, ';', (size_t)(end - p));
	const char *ne = semi ? semi : end;
	if (ne == p)
		return CPM_EPARSE;
	for (const char *q = p; q < ne; q++)
		if (!cpm_sip__is(*q, CPM_SIP_C_HEX) && !strchr("*#+-.()pPwW", *q))
			return CPM_EPARSE;
	u->user = cpm_sip__span(p, ne);
	if (semi)
		u->params = cpm_sip__span(semi, end);
	return params_ok(u->params) ? 0 : CPM_EPARSE;
}

int cpm_sip_uri_parse(struct cpm_str s, struct cpm_sip_uri *u)
{
	memset(u, 0, sizeof *u);
	u->whole = s;
	if (!s.s || s.len == 0)
		return CPM_EPARSE;
	const char *p = s.s, *end = s.s + s.len;
	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
	if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
		return CPM_EPARSE;
	const char *q = p + 1;
	while (q < end && (cpm_sip__is(*q, CPM_SIP_C_ALNUM) || *q == '+' ||
			   *q == '-' || *q == '.'))
		q++;
	if (q >= end || *q != ':')
		return CPM_EPARSE;
	u->scheme_s = cpm_sip__span(p, q);
	q++;
	if (q == end)
		return CPM_EPARSE;
	/* sip/sips: every component is checked against its character
	 * class below; other schemes: no LWS, controls, '<' '>' '"' */
	if (CPM_SIP_LIT_IEQ(u->scheme_s, "sip")) {
		u->scheme = CPM_SIP_SCHEME_SIP;
		return parse_sip(q, end, u);
	}
	if (CPM_SIP_LIT_IEQ(u->scheme_s, "sips")) {
		u->scheme = CPM_SIP_SCHEME_SIPS;
		return parse_sip(q, end, u);
	}
	for (const char *x = q; x < end; x++) {
		unsigned char c = (unsigned char)*x;
		if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == '"')
			return CPM_EPARSE;
	}
	if (CPM_SIP_LIT_IEQ(u->scheme_s, "tel")) {
		u->scheme = CPM_SIP_SCHEME_TEL;
		return parse_tel(q, end, u);
	}
	return CPM_ESCHEME;
}

static const char hexdig[] = "0123456789ABCDEF";

int cpm_sip_uri_aor(const struct cpm_sip_uri *u, char *out, size_t outsz)
{
	size_t o = 0;
#define PUT(ch)                           \
	do {                              \
		if (o + 1 >= outsz)       \
			return CPM_ETOOBIG; \
		out[o++] = (char)(ch);    \
	} while (0)
	if (!out || outsz == 0)
		return CPM_ETOOBIG;
	const char *s = u->user.s;
	for (size_t i = 0; i < u->user.len; i++) {
		if (s[i] == '%' && i + 2 < u->user.len &&
		    cpm_sip__hexval(s[i + 1]) >= 0 && cpm_sip__hexval(s[i + 2]) >= 0) {
			/* RFC 3261 §19.1.4: escaped unreserved characters equal
			 * their plain form; everything else stays escaped (so
			 * %00 cannot truncate anything, RFC 4475 §3.1.1.4) */
			int v = cpm_sip__hexval(s[i + 1]) * 16 + cpm_sip__hexval(s[i + 2]);
			if (cpm_sip__is((char)v, CPM_SIP_C_UNRES)) {
				PUT(v);
			} else {
				PUT('%');
				PUT(hexdig[v >> 4]);
				PUT(hexdig[v & 15]);
			}
			i += 2;
		} else {
			PUT(s[i]);
		}
	}
	if (u->user.len && u->host.len)
		PUT('@');
	for (size_t i = 0; i < u->host.len; i++)
		PUT(cpm_sip__lower((unsigned char)u->host.s[i]));
#undef PUT
	out[o] = '\0';
	return (int)o;
}

/* Next octet of an escaped string, decoding %XX. */
static bool esc_getc(struct cpm_str s, size_t *i, unsigned char *c)
{
	if (*i >= s.len)
		return false;
	if (s.s[*i] == '%' && *i + 2 < s.len && cpm_sip__hexval(s.s[*i + 1]) >= 0 &&
	    cpm_sip__hexval(s.s[*i + 2]) >= 0) {
		*c = (unsigned char)(cpm_sip__hexval(s.s[*i + 1]) * 16 +
				     cpm_sip__hexval(s.s[*i + 2]));
		*i += 3;
		return true;
	}
	*c = (unsigned char)s.s[(*i)++];
	return true;
}

static bool esc_eq(struct cpm_str a, struct cpm_str b, bool icase)
{
	size_t i = 0, j = 0;
	unsigned char ca, cb;
	for (;;) {
		bool ha = esc_getc(a, &i, &ca), hb = esc_getc(b, &j, &cb);
		if (!ha || !hb)
			return ha == hb;
		if (icase) {
			ca = cpm_sip__lower(ca);
			cb = cpm_sip__lower(cb);
		}
		if (ca != cb)
			return false;
	}
}

static bool special_param(struct cpm_str n)
{
	return cpm_str_ieq_cstr(n, "user") || cpm_str_ieq_cstr(n, "ttl") ||
	       cpm_str_ieq_cstr(n, "method") || cpm_str_ieq_cstr(n, "maddr") ||
	       cpm_str_ieq_cstr(n, "transport");
}

/* Every parameter of a that b also has must match; user, ttl, method, maddr
 * and transport must be in both or in neither (§19.1.4). */
static bool params_cover(struct cpm_str a, struct cpm_str b)
{
	if (!a.s)
		return true;
	const char *p = a.s, *end = a.s + a.len;
	while (p && p < end) {
		if (*p == ';') {
			p++;
			continue;
		}
		struct cpm_str n, v, bv;
		p = cpm_sip__param(p, end, &n, &v);
		if (!p)
			return false;
		/* a repeated name (Record-Route "r2=on;...;r2=on") is
		 * compared with the same occurrence in b */
		unsigned nth = 0;
		struct cpm_str prefix = cpm_sip__span(a.s, n.s);
		for (struct cpm_str x; param_lookup_nth(prefix, n, nth, &x);)
			nth++;
		if (param_lookup_nth(b, n, nth, &bv)) {
			if (!esc_eq(v, bv, true))
				return false;
		} else if (special_param(n)) {
			return false;
		}
	}
	return true;
}

bool cpm_sip_uri_eq(const struct cpm_sip_uri *a, const struct cpm_sip_uri *b)
{
	if (a->scheme != b->scheme)
		return false;
	if (a->scheme != CPM_SIP_SCHEME_SIP && a->scheme != CPM_SIP_SCHEME_SIPS)
		return cpm_str_eq(a->whole, b->whole);
	/* user and password: case-sensitive, escapes decoded */
	if (!esc_eq(a->user, b->user, false) || !esc_eq(a->password, b->password, false))
		return false;
	if (!cpm_str_ieq(a->host, b->host))
		return false;
	/* a port that is absent differs from an explicit default port */
	if (a->has_port != b->has_port || a->port != b->port)
		return false;
	if (!params_cover(a->params, b->params) || !params_cover(b->params, a->params))
		return false;
	/* header components are never ignored; compared as a whole here */
	return esc_eq(a->headers, b->headers, true);
}
