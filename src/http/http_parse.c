/* The HTTP/1.1 request parser (RFC 9112): incremental, bounded, pure (lib
 * only, no I/O, no allocation), so it can be fuzzed on its own. */
#define CPM_HTTP_PARSE_ONLY
#include "http/http.h"

#include <string.h>

void cpm_http_limits_default(struct cpm_http_limits *l)
{
	l->max_head = 16 * 1024;
	l->max_target = 8 * 1024;
	l->max_headers = 64;
	l->max_body = 1024 * 1024;
}

const char *cpm_http_status_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	}
	return "Unknown";
}

bool cpm_http_req_header(const struct cpm_http_req *r, const char *name,
			 struct cpm_str *value)
{
	struct cpm_str n = cpm_str_from_cstr(name);
	for (unsigned i = 0; i < r->nhdrs; i++)
		if (cpm_str_ieq(r->hdrs[i].name, n)) {
			if (value)
				*value = r->hdrs[i].value;
			return true;
		}
	return false;
}

void cpm_http_parser_init(struct cpm_http_parser *p)
{
	memset(p, 0, sizeof *p);
}

/* RFC 9110 §5.6.2 tchar */
static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

static int fail(struct cpm_http_parser *p, int status, const char *reason)
{
	p->status = status;
	p->reason = reason;
	switch (status) {
	case 413:
	case 414:
	case 431:
		return CPM_ETOOBIG;
	case 411:
	case 501:
		return CPM_EUNSUPP;
	case 505:
		return CPM_EVERSION;
	}
	return CPM_EPARSE;
}

/* Strip a CR before the LF at line[len] (RFC 9112 §2.2: a bare LF is
 * accepted as a line terminator; a CR elsewhere is an error, caught by the
 * character checks). */
static struct cpm_str line_at(const char *buf, size_t from, size_t lf)
{
	size_t n = lf - from;
	if (n && buf[from + n - 1] == '\r')
		n--;
	return (struct cpm_str){ buf + from, n };
}

/* request-line = method SP request-target SP HTTP-version (RFC 9112 §3).
 * Fills method, target, path, query, minor. */
static int parse_request_line(struct cpm_http_parser *p, struct cpm_str l,
			      const struct cpm_http_limits *lim)
{
	struct cpm_http_req *r = &p->req;
	size_t i = 0;
	while (i < l.len && is_tchar((unsigned char)l.s[i]))
		i++;
	if (i == 0 || i >= l.len || l.s[i] != ' ')
		return fail(p, 400, "bad method");
	r->method = (struct cpm_str){ l.s, i };
	size_t t = ++i;
	/* RFC 9112 §3.2: the target holds no whitespace; every byte must be
	 * visible ASCII, and '#' (a fragment) is not part of any form. */
	while (i < l.len && l.s[i] != ' ') {
		unsigned char c = (unsigned char)l.s[i];
		if (c <= 0x20 || c >= 0x7f || c == '#')
			return fail(p, 400, "bad request-target");
		if (c == '%' && (i + 2 >= l.len || !is_hex((unsigned char)l.s[i + 1]) ||
				 !is_hex((unsigned char)l.s[i + 2])))
			return fail(p, 400, "bad percent-encoding");
		i++;
	}
	if (i - t > lim->max_target)
		return fail(p, 414, "request-target too long");
	if (i == t || i >= l.len)
		return fail(p, 400, "bad request line");
	r->target = (struct cpm_str){ l.s + t, i - t };
	struct cpm_str v = { l.s + i + 1, l.len - i - 1 };
	/* HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3) */
	if (v.len != 8 || memcmp(v.s, "HTTP/", 5) != 0 || v.s[6] != '.' ||
	    v.s[5] < '0' || v.s[5] > '9' || v.s[7] < '0' || v.s[7] > '9')
		return fail(p, 400, "bad HTTP version");
	if (v.s[5] != '1')
		return fail(p, 505, "HTTP version not supported");
	/* a higher 1.x minor is served as 1.1 (RFC 9110 §6.2) */
	r->minor = v.s[7] == '0' ? 0 : 1;

	/* origin-form, absolute-form (RFC 9112 §3.2.1, §3.2.2),
	 * asterisk-form (OPTIONS only, §3.2.4).  authority-form is for
	 * CONNECT, which no route serves: 400. */
	struct cpm_str tg = r->target;
	if (tg.s[0] != '/') {
		if (cpm_str_eq_cstr(tg, "*")) {
			if (!cpm_str_eq_cstr(r->method, "OPTIONS"))
				return fail(p, 400, "asterisk-form needs OPTIONS");
			r->path = tg;
			r->query = (struct cpm_str){ tg.s + tg.len, 0 };
			return 0;
		}
		size_t skip;
		if (cpm_str_istarts(tg, "http://"))
			skip = 7;
		else if (cpm_str_istarts(tg, "https://"))
			skip = 8;
		else
			return fail(p, 400, "bad request-target form");
		struct cpm_str rest = { tg.s + skip, tg.len - skip };
		long slash = cpm_str_chr(rest, '/');
		long q = cpm_str_chr(rest, '?');
		if (slash < 0 || (q >= 0 && q < slash)) {
			/* "http://h" or "http://h?x": the path is "/" */
			tg = (struct cpm_str){ "/", 1 };
			if (q >= 0) {
				r->path = tg;
				r->query = (struct cpm_str){ rest.s + q + 1,
							     rest.len - (size_t)q - 1 };
				return 0;
			}
		} else {
			if (slash == 0)
				return fail(p, 400, "empty authority");
			tg = (struct cpm_str){ rest.s + slash,
					       rest.len - (size_t)slash };
		}
	}
	long q = cpm_str_chr(tg, '?');
	if (q < 0) {
		r->path = tg;
		r->query = (struct cpm_str){ tg.s + tg.len, 0 };
	} else {
		r->path = (struct cpm_str){ tg.s, (size_t)q };
		r->query = (struct cpm_str){ tg.s + q + 1, tg.len - (size_t)q - 1 };
	}
	return 0;
}

/* Does the comma-separated list contain the token (any case)? */
static bool list_has(struct cpm_str v, const char *tok)
{
	while (v.len) {
		long c = cpm_str_chr(v, ',');
		size_t n = c < 0 ? v.len : (size_t)c;
		if (cpm_str_ieq_cstr(cpm_str_trim((struct cpm_str){ v.s, n }), tok))
			return true;
		if (c < 0)
			break;
		v.s += n + 1;
		v.len -= n + 1;
	}
	return false;
}

/* Content-Length = 1*DIGIT; a list of identical values is accepted
 * (RFC 9112 §6.3 item 5), anything else is an unrecoverable framing
 * error. */
static int content_length(struct cpm_http_parser *p, struct cpm_str v,
			  const struct cpm_http_limits *lim, uint64_t *out)
{
	bool have = false;
	uint64_t val = 0;
	while (true) {
		long c = cpm_str_chr(v, ',');
		size_t n = c < 0 ? v.len : (size_t)c;
		struct cpm_str item = cpm_str_trim((struct cpm_str){ v.s, n });
		uint64_t x;
		int rc = cpm_str_to_u64(item, UINT64_MAX / 2, &x);
		if (rc == CPM_ERANGE)
			return fail(p, 413, "body too large");
		if (rc)
			return fail(p, 400, "bad Content-Length");
		if (have && x != val)
			return fail(p, 400, "conflicting Content-Length");
		have = true;
		val = x;
		if (c < 0)
			break;
		v.s += n + 1;
		v.len -= n + 1;
	}
	if (*out != UINT64_MAX && *out != val)
		return fail(p, 400, "conflicting Content-Length");
	if (val > lim->max_body)
		return fail(p, 413, "body too large");
	*out = val;
	return 0;
}

/* The whole head: buf[p->start .. p->head_len).  Fills p->req (slices into
 * buf) and p->body_len. */
static int parse_head(struct cpm_http_parser *p, const char *buf,
		      const struct cpm_http_limits *lim)
{
	struct cpm_http_req *r = &p->req;
	memset(r, 0, sizeof *r);
	size_t end = p->head_len;
	const char *lf = memchr(buf + p->start, '\n', end - p->start);
	size_t pos = (size_t)(lf - buf);
	int rc = parse_request_line(p, line_at(buf, p->start, pos), lim);
	if (rc)
		return rc;
	unsigned max = lim->max_headers < CPM_HTTP_HDRS_CAP ? lim->max_headers
							   : CPM_HTTP_HDRS_CAP;
	uint64_t clen = UINT64_MAX;
	bool te = false, te_chunked = false;
	unsigned nhost = 0;
	struct cpm_str conn = CPM_STR_NULL;
	for (size_t from = pos + 1;;) {
		lf = memchr(buf + from, '\n', end - from);
		pos = (size_t)(lf - buf);
		struct cpm_str l = line_at(buf, from, pos);
		from = pos + 1;
		if (l.len == 0)
			break; /* the empty line ending the head */
		/* obs-fold (RFC 9112 §5.2): rejected */
		if (l.s[0] == ' ' || l.s[0] == '\t')
			return fail(p, 400, "obsolete line folding");
		size_t i = 0;
		while (i < l.len && is_tchar((unsigned char)l.s[i]))
			i++;
		/* no whitespace between name and colon (RFC 9112 §5.1) */
		if (i == 0 || i >= l.len || l.s[i] != ':')
			return fail(p, 400, "bad header field");
		struct cpm_str name = { l.s, i };
		struct cpm_str val = { l.s + i + 1, l.len - i - 1 };
		/* field-value: VCHAR, obs-text, SP, HTAB (RFC 9110 §5.5); CR,
		 * LF and NUL are never allowed */
		for (size_t k = 0; k < val.len; k++) {
			unsigned char c = (unsigned char)val.s[k];
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return fail(p, 400, "bad header value");
		}
		while (val.len && (val.s[0] == ' ' || val.s[0] == '\t')) {
			val.s++;
			val.len--;
		}
		while (val.len && (val.s[val.len - 1] == ' ' ||
				   val.s[val.len - 1] == '\t'))
			val.len--;
		if (r->nhdrs >= max)
			return fail(p, 431, "too many header fields");
		r->hdrs[r->nhdrs].name = name;
		r->hdrs[r->nhdrs].value = val;
		r->nhdrs++;
		if (cpm_str_ieq_cstr(name, "Content-Length")) {
			rc = content_length(p, val, lim, &clen);
			if (rc)
				return rc;
		} else if (cpm_str_ieq_cstr(name, "Transfer-Encoding")) {
			te = true;
			/* the final coding decides (RFC 9112 §6.3 item 4) */
			long c = -1;
			for (size_t k = val.len; k > 0; k--)
				if (val.s[k - 1] == ',') {
					c = (long)k - 1;
					break;
				}
			struct cpm_str last = cpm_str_trim(
				(struct cpm_str){ val.s + c + 1, val.len - (size_t)(c + 1) });
			te_chunked = cpm_str_ieq_cstr(last, "chunked");
		} else if (cpm_str_ieq_cstr(name, "Host")) {
			nhost++;
		} else if (cpm_str_ieq_cstr(name, "Connection")) {
			/* several Connection fields combine as one list; the
			 * first is enough for close/keep-alive in practice,
			 * but check them all */
			if (list_has(val, "close"))
				conn = CPM_STR("close");
			else if (!conn.len && list_has(val, "keep-alive"))
				conn = CPM_STR("keep-alive");
		} else if (cpm_str_ieq_cstr(name, "Expect")) {
			if (cpm_str_ieq_cstr(val, "100-continue"))
				r->expect_continue = true;
		}
	}
	if (te) {
		/* RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 is faulty
		 * framing.  We read bodies by Content-Length only: a chunked
		 * request gets 411 (RFC 9110 §15.5.12), any other coding 501
		 * (RFC 9112 §6.1). */
		if (r->minor == 0)
			return fail(p, 400, "Transfer-Encoding in HTTP/1.0");
		if (te_chunked)
			return fail(p, 411, "chunked request bodies are not supported");
		return fail(p, 501, "unsupported transfer coding");
	}
	/* RFC 9112 §3.2: exactly one Host in HTTP/1.1 */
	if (r->minor == 1 && nhost != 1)
		return fail(p, 400, nhost ? "more than one Host" : "missing Host");
	if (nhost > 1)
		return fail(p, 400, "more than one Host");
	p->body_len = clen == UINT64_MAX ? 0 : (size_t)clen;
	if (r->minor == 1)
		r->keep_alive = !cpm_str_eq_cstr(conn, "close");
	else
		r->keep_alive = cpm_str_eq_cstr(conn, "keep-alive");
	return 0;
}

int cpm_http_parse(struct cpm_http_parser *p, const char *buf, size_t len,
		   const struct cpm_http_limits *lim)
{
	struct cpm_http_limits def;
	if (!lim) {
		cpm_http_limits_default(&def);
		lim = &def;
	}
	if (p->status)
		return fail(p, p->status, p->reason);
	if (!p->head_ready) {
		/* scan the new bytes for line ends: the request line is
		 * checked as soon as it is complete, the head ends at the
		 * first empty line */
		size_t i = p->scan;
		size_t lim_head = lim->max_head;
		/* never look past the limit, so that the outcome does not
		 * depend on how the bytes were split into reads */
		size_t scan_end = len < lim_head ? len : lim_head;
		for (; i < scan_end; i++) {
			if (buf[i] != '\n')
				continue;
			struct cpm_str l = line_at(buf, p->line, i);
			if (!p->rl_checked) {
				if (l.len == 0) {
					/* RFC 9112 §2.2: empty lines before
					 * the request line are ignored */
					p->start = p->line = i + 1;
					if (i + 1 > lim_head)
						return fail(p, 431, "head too large");
					continue;
				}
				int rc = parse_request_line(p, l, lim);
				if (rc)
					return rc;
				p->rl_checked = true;
			} else if (l.len == 0) {
				p->head_len = i + 1;
				break;
			}
			p->line = i + 1;
		}
		if (!p->head_len) {
			p->scan = scan_end;
			if (len > lim_head) {
				/* an over-long first line is a target issue
				 * when the target is what makes it long */
				if (!p->rl_checked &&
				    lim_head - p->start > lim->max_target + 64)
					return fail(p, 414, "request line too long");
				return fail(p, 431, "head too large");
			}
			return 0;
		}
		if (p->head_len > lim_head)
			return fail(p, 431, "head too large");
		int rc = parse_head(p, buf, lim);
		if (rc)
			return rc;
		p->head_ready = true;
		if (len - p->head_len < p->body_len)
			return 0;
	} else {
		if (len - p->head_len < p->body_len)
			return 0;
		/* the buffer may have moved since the head was parsed */
		int rc = parse_head(p, buf, lim);
		if (rc)
			return rc;
	}
	p->req.body = (struct cpm_str){ buf + p->head_len, p->body_len };
	p->used = p->head_len + p->body_len;
	return 1;
}
