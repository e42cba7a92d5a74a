/* multipart bodies (RFC 2046 §5.1). */
#include "sip/sip_int.h"

#include <string.h>

/* What may follow a boundary for it to be a delimiter: "--" (the close
 * delimiter), or transport padding and a line end (RFC 2046 §5.1.1).  A
 * line like "--boundaryX" inside a part is content. */
static bool delim_tail(const char *p, const char *end)
{
	if (end - p >= 2 && p[0] == '-' && p[1] == '-')
		return true;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p == end || *p == '\n' || (*p == '\r' && (p + 1 == end || p[1] == '\n'));
}

/* Position of "--boundary" at the start of a line in [p, end), or NULL.
 * The first delimiter may open the body; later ones follow a (CR)LF. */
static const char *find_delim(const char *base, const char *p, const char *end,
			      struct cpm_str boundary)
{
	size_t blen = boundary.len;
	while (p < end && (size_t)(end - p) >= blen + 2) {
		const char *d = memmem(p, (size_t)(end - p), "--", 2);
		if (!d || (size_t)(end - d) < blen + 2)
			return NULL;
		if ((d == base || d[-1] == '\n') &&
		    memcmp(d + 2, boundary.s, blen) == 0 &&
		    delim_tail(d + 2 + blen, end))
			return d;
		p = d + 1;
	}
	return NULL;
}

/* End of a line at p: the position after its LF, or NULL. */
static const char *line_end(const char *p, const char *end)
{
	const char *lf = memchr(p, '\n', (size_t)(end - p));
	return lf ? lf + 1 : NULL;
}

static void part_header(struct cpm_sip_part *part, struct cpm_str name,
			struct cpm_str value)
{
	if (cpm_str_ieq_cstr(name, "Content-Type"))
		part->content_type = value;
	else if (cpm_str_ieq_cstr(name, "Content-Disposition"))
		part->disposition = value;
	else if (cpm_str_ieq_cstr(name, "Content-ID"))
		part->content_id = value;
}

int cpm_sip_multipart_next(struct cpm_str *cursor, struct cpm_str boundary,
			   struct cpm_sip_part *part)
{
	memset(part, 0, sizeof *part);
	/* boundary := 1*70 bchars (RFC 2046 §5.1.1) */
	if (!cursor->s || !boundary.s || boundary.len == 0 || boundary.len > 70)
		return CPM_EPARSE;
	const char *base = cursor->s, *end = cursor->s + cursor->len;
	const char *p = base;
	/* Either the preamble (first call) or the CRLF that ended the
	 * previous part precedes the delimiter. */
	if (p < end && *p == '\r')
		p++;
	if (p < end && *p == '\n')
		p++;
	const char *d = find_delim(p, p, end, boundary);
	if (!d && p == base)
		return CPM_EPARSE;
	if (!d) {
		/* not at a line start right after the previous part: scan */
		d = find_delim(base, base, end, boundary);
		if (!d)
			return CPM_EPARSE;
	}
	p = d + 2 + boundary.len;
	if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
		/* close-delimiter: the epilogue is ignored */
		*cursor = cpm_sip__span(end, end);
		return 0;
	}
	/* transport-padding, then CRLF */
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p < end && *p == '\r')
		p++;
	if (p >= end || *p != '\n')
		return CPM_EPARSE;
	p++;
	/* the part's header block, up to an empty line */
	const char *hs = p;
	for (;;) {
		if (p >= end)
			return CPM_EPARSE;
		if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n'))
			break;
		const char *le = line_end(p, end);
		if (!le)
			return CPM_EPARSE;
		/* unfold */
		while (le < end && (*le == ' ' || *le == '\t')) {
			const char *n = line_end(le, end);
			if (!n)
				return CPM_EPARSE;
			le = n;
		}
		const char *colon = memchr(p, ':', (size_t)(le - p));
		if (!colon)
			return CPM_EPARSE;
		struct cpm_str name = cpm_str_trim(cpm_sip__span(p, colon));
		part_header(part, name, cpm_str_trim(cpm_sip__span(colon + 1, le)));
		p = le;
	}
	part->headers = cpm_sip__span(hs, p);
	p += (*p == '\r') ? 2 : 1;
	/* the body runs up to the CRLF before the next delimiter */
	const char *bs = p;
	const char *nd = find_delim(base, p, end, boundary);
	if (!nd)
		return CPM_EPARSE;
	const char *be = nd;
	if (be > bs && be[-1] == '\n')
		be--;
	if (be > bs && be[-1] == '\r')
		be--;
	part->body = cpm_sip__span(bs, be);
	*cursor = cpm_sip__span(be, end);
	return 1;
}
