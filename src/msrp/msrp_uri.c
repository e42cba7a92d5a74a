/* MSRP URIs (RFC 4975 §6, §9): parsing, paths, comparison (§6.1). */
#include "msrp/msrp_int.h"

#include <arpa/inet.h>
#include <string.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* unreserved of RFC 3986 §2.3 */
static bool unreserved(char c)
{
	return cpm_msrp__alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 3986 sub-delims without ';', which ends the authority here */
static bool subdelim(char c)
{
	return c && strchr("!$&'()*+,=", c) != NULL;
}

/* [userinfo "@"]: unreserved / pct-encoded / sub-delims / ":" */
static bool valid_userinfo(struct cpm_str s)
{
	for (size_t i = 0; i < s.len; i++) {
		char c = s.s[i];
		if (c == '%') {
			if (i + 2 >= s.len || hexval(s.s[i + 1]) < 0 || hexval(s.s[i + 2]) < 0)
				return false;
			i += 2;
		} else if (!unreserved(c) && !subdelim(c) && c != ':') {
			return false;
		}
	}
	return true;
}

/* IP-literal (IPv6 only) or reg-name / IPv4address: letters, digits,
 * "-" "." "_" "~" and %-escapes. */
static bool valid_host(struct cpm_str h)
{
	if (h.len == 0)
		return false;
	if (h.s[0] == '[') {
		char tmp[INET6_ADDRSTRLEN + 1];
		unsigned char bin[16];
		if (h.len < 3 || h.s[h.len - 1] != ']' || h.len - 2 > INET6_ADDRSTRLEN)
			return false;
		memcpy(tmp, h.s + 1, h.len - 2);
		tmp[h.len - 2] = '\0';
		return inet_pton(AF_INET6, tmp, bin) == 1;
	}
	for (size_t i = 0; i < h.len; i++) {
		char c = h.s[i];
		if (c == '%') {
			if (i + 2 >= h.len || hexval(h.s[i + 1]) < 0 || hexval(h.s[i + 2]) < 0)
				return false;
			i += 2;
		} else if (!unreserved(c)) {
			return false;
		}
	}
	return true;
}

int cpm_msrp_uri_parse(struct cpm_str s, struct cpm_msrp_uri *u)
{
	memset(u, 0, sizeof *u);
	u->whole = s;
	if (!s.s)
		return CPM_EPARSE;
	const char *p = s.s, *end = s.s + s.len;
	if (cpm_str_istarts(s, "msrps://")) {
		u->secure = true;
		p += 8;
	} else if (cpm_str_istarts(s, "msrp://")) {
		p += 7;
	} else {
		return CPM_EPARSE;
	}
	/* authority: up to the session-id's '/' or the transport's ';' */
	const char *as = p;
	while (p < end && *p != '/' && *p != ';')
		p++;
	const char *ae = p;
	const char *at = memchr(as, '@', (size_t)(ae - as));
	if (at) {
		u->userinfo = cpm_msrp__span(as, at);
		if (!valid_userinfo(u->userinfo))
			return CPM_EPARSE;
		as = at + 1;
	}
	/* host [":" port]; an IPv6 reference holds ':' inside its brackets */
	const char *he = ae;
	if (as < ae && *as == '[') {
		const char *rb = memchr(as, ']', (size_t)(ae - as));
		if (!rb)
			return CPM_EPARSE;
		he = rb + 1;
	} else {
		const char *colon = memchr(as, ':', (size_t)(ae - as));
		if (colon)
			he = colon;
	}
	u->host = cpm_msrp__span(as, he);
	if (!valid_host(u->host))
		return CPM_EPARSE;
	if (he < ae) {
		uint64_t port;
		if (*he != ':' || cpm_str_to_u64(cpm_msrp__span(he + 1, ae), 65535, &port))
			return CPM_EPARSE;
		u->port = (uint16_t)port;
		u->has_port = true;
	}
	/* ["/" session-id]: 1*(unreserved / "+" / "=" / "/") */
	if (p < end && *p == '/') {
		const char *ss = ++p;
		while (p < end && (unreserved(*p) || *p == '+' || *p == '=' || *p == '/'))
			p++;
		if (p == ss)
			return CPM_EPARSE;
		u->session_id = cpm_msrp__span(ss, p);
	}
	/* ";" transport, transport = "tcp" / 1*ALPHANUM */
	if (p >= end || *p != ';')
		return CPM_EPARSE;
	const char *ts = ++p;
	while (p < end && cpm_msrp__alnum(*p))
		p++;
	if (p == ts)
		return CPM_EPARSE;
	u->transport = cpm_msrp__span(ts, p);
	/* *(";" URI-parameter), URI-parameter = token ["=" token] */
	const char *ps = p;
	while (p < end) {
		if (*p++ != ';')
			return CPM_EPARSE;
		const char *n = p;
		while (p < end && cpm_msrp__token(*p) && *p != '=')
			p++;
		if (p == n)
			return CPM_EPARSE;
		if (p < end && *p == '=') {
			const char *v = ++p;
			while (p < end && cpm_msrp__token(*p))
				p++;
			if (p == v)
				return CPM_EPARSE;
		}
	}
	u->params = cpm_msrp__span(ps, end);
	return 0;
}

/* The host for comparison: %-escapes of unreserved characters decoded,
 * lowercased; an IPv6 reference as its 16 address bytes.  Returns the
 * length, or 0 when it does not fit. */
static size_t host_key(struct cpm_str h, unsigned char *out, size_t outsz)
{
	if (h.len && h.s[0] == '[') {
		char tmp[INET6_ADDRSTRLEN + 1];
		if (h.len < 3 || h.len - 2 > INET6_ADDRSTRLEN || outsz < 17)
			return 0;
		memcpy(tmp, h.s + 1, h.len - 2);
		tmp[h.len - 2] = '\0';
		out[0] = '[';
		return inet_pton(AF_INET6, tmp, out + 1) == 1 ? 17 : 0;
	}
	size_t n = 0;
	for (size_t i = 0; i < h.len; i++) {
		char c = h.s[i];
		if (c == '%' && i + 2 < h.len) {
			int hi = hexval(h.s[i + 1]), lo = hexval(h.s[i + 2]);
			if (hi >= 0 && lo >= 0 && unreserved((char)(hi * 16 + lo))) {
				c = (char)(hi * 16 + lo);
				i += 2;
			}
		}
		if (n >= outsz)
			return 0;
		out[n++] = (unsigned char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
	}
	return n;
}

bool cpm_msrp_uri_eq(const struct cpm_msrp_uri *a, const struct cpm_msrp_uri *b)
{
	if (a->secure != b->secure || a->has_port != b->has_port ||
	    (a->has_port && a->port != b->port) || !cpm_str_eq(a->session_id, b->session_id) ||
	    !cpm_str_ieq(a->transport, b->transport))
		return false;
	unsigned char ka[256], kb[256];
	size_t na = host_key(a->host, ka, sizeof ka), nb = host_key(b->host, kb, sizeof kb);
	if (na && nb)
		return na == nb && memcmp(ka, kb, na) == 0;
	/* too long to normalise: plain case-insensitive comparison */
	return cpm_str_ieq(a->host, b->host);
}

/* The next SP/HTAB-separated item of *cursor (empty at the end). */
static struct cpm_str next_item(struct cpm_str *cursor)
{
	const char *p = cursor->s, *end = p ? p + cursor->len : NULL;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	const char *s = p;
	while (p < end && *p != ' ' && *p != '\t')
		p++;
	*cursor = cpm_msrp__span(p, end);
	return cpm_msrp__span(s, p);
}

int cpm_msrp_path_next(struct cpm_str *cursor, struct cpm_msrp_uri *u)
{
	struct cpm_str it = next_item(cursor);
	if (it.len == 0)
		return 0;
	return cpm_msrp_uri_parse(it, u) ? CPM_EPARSE : 1;
}

struct cpm_str cpm_msrp_path_first(struct cpm_str path)
{
	return next_item(&path);
}
