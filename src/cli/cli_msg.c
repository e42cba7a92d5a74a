/* cli — message formats: dates (RFC 3261 §20.17), message/cpim (RFC 3862)
 * and IMDN documents (RFC 5438).
 *
 * Pure: lib + libc only, no sockets, so tests/unit/cli/test_cli.c can
 * #include this file directly. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- dates */

static const char *const month_names[12] = { "Jan", "Feb", "Mar", "Apr",
					     "May", "Jun", "Jul", "Aug",
					     "Sep", "Oct", "Nov", "Dec" };

/* Digits at *p (at most max of them, at least 1) into *v. */
static bool date_num(const char **p, const char *end, int max, int *v)
{
	int n = 0, x = 0;
	while (*p < end && n < max && **p >= '0' && **p <= '9') {
		x = x * 10 + (**p - '0');
		(*p)++;
		n++;
	}
	*v = x;
	return n > 0;
}

static void date_spaces(const char **p, const char *end)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
}

static bool date_char(const char **p, const char *end, char c)
{
	if (*p >= end || **p != c)
		return false;
	(*p)++;
	return true;
}

/* rfc1123-date = wkday "," SP date1 SP time SP "GMT" (RFC 3261 §25.1). */
int cpm_cli_date_parse(struct cpm_str s, int64_t *out)
{
	s = cpm_str_trim(s);
	const char *p = s.s, *end = s.s + s.len;
	struct tm tm;
	int day, year, hh, mm, ss, mon = -1;

	memset(&tm, 0, sizeof tm);
	/* the week day is redundant: skip it when present */
	const char *comma = s.len ? memchr(p, ',', s.len) : NULL;
	if (comma) {
		p = comma + 1;
		date_spaces(&p, end);
	}
	if (!date_num(&p, end, 2, &day) || day < 1 || day > 31)
		return CPM_EPARSE;
	date_spaces(&p, end);
	if (end - p < 3)
		return CPM_EPARSE;
	for (int i = 0; i < 12; i++)
		if (strncasecmp(p, month_names[i], 3) == 0)
			mon = i;
	if (mon < 0)
		return CPM_EPARSE;
	p += 3;
	date_spaces(&p, end);
	if (!date_num(&p, end, 4, &year) || year < 1970 || year > 9999)
		return CPM_EPARSE;
	date_spaces(&p, end);
	if (!date_num(&p, end, 2, &hh) || !date_char(&p, end, ':') ||
	    !date_num(&p, end, 2, &mm) || !date_char(&p, end, ':') ||
	    !date_num(&p, end, 2, &ss) || hh > 23 || mm > 59 || ss > 60)
		return CPM_EPARSE;
	date_spaces(&p, end);
	struct cpm_str zone = { p, (size_t)(end - p) };
	if (!cpm_str_eq_cstr(zone, "GMT") && !cpm_str_eq_cstr(zone, "UT") &&
	    !cpm_str_eq_cstr(zone, "UTC") && !cpm_str_eq_cstr(zone, "+0000"))
		return CPM_EPARSE;
	tm.tm_year = year - 1900;
	tm.tm_mon = mon;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	time_t t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mday != day) /* 31 Feb and the like */
		return CPM_EPARSE;
	*out = (int64_t)t;
	return 0;
}

void cpm_cli_date_format(int64_t t, char sep, char *out, size_t outsz)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm)) {
		snprintf(out, outsz, "?");
		return;
	}
	snprintf(out, outsz, "%04d-%02d-%02d%c%02d:%02d:%02dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, sep, tm.tm_hour,
		 tm.tm_min, tm.tm_sec);
}

void cpm_cli_copy_cut(struct cpm_str s, char *dst, size_t dstsz)
{
	size_t n = s.len < dstsz - 1 ? s.len : dstsz - 1;
	while (n > 0 && n < s.len && ((unsigned char)s.s[n] & 0xc0) == 0x80)
		n--;
	memcpy(dst, s.s, n);
	dst[n] = '\0';
}

/* ------------------------------------------------------------------ CPIM */

int cpm_cli_cpim_build(struct cpm_buf *b, const char *from_uri,
		       const char *to_uri, const char *message_id,
		       const char *dispositions, const char *ctype,
		       struct cpm_str body, int64_t now)
{
	char when[40];
	cpm_cli_date_format(now, 'T', when, sizeof when);
	/* RFC 3862 §3: message headers, CRLF, the MIME headers of the
	 * content, CRLF, the content.  RFC 5438 §6.3: the NS header binds
	 * the prefix of the IMDN headers. */
	int rc = cpm_buf_printf(b, "From: <%s>\r\nTo: <%s>\r\nDateTime: %s\r\n",
				from_uri, to_uri, when);
	if (!rc && message_id)
		rc = cpm_buf_printf(b,
				    "NS: imdn <urn:ietf:params:imdn>\r\n"
				    "imdn.Message-ID: %s\r\n"
				    "imdn.Disposition-Notification: %s\r\n",
				    message_id, dispositions);
	if (!rc)
		rc = cpm_buf_printf(b, "\r\nContent-Type: %s\r\n\r\n", ctype);
	return rc ? rc : cpm_buf_append_str(b, body);
}

bool cpm_cli_cpim_unwrap(struct cpm_str body, struct cpm_str *ctype,
			 struct cpm_str *inner)
{
	const char *end = body.s + body.len;
	const char *p = body.s;
	struct cpm_str ct = CPM_STR_NULL;
	for (int section = 0; section < 2; section++) {
		for (;;) {
			const char *nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
			if (!nl)
				return false;
			struct cpm_str line = cpm_str_trim((struct cpm_str){ p, (size_t)(nl - p) });
			p = nl + 1;
			if (line.len == 0)
				break;
			if (section == 1 && cpm_str_istarts(line, "content-type:"))
				ct = cpm_str_trim((struct cpm_str){ line.s + 13, line.len - 13 });
		}
	}
	*ctype = ct;
	*inner = (struct cpm_str){ p, (size_t)(end - p) };
	return true;
}

/* --------------------------------------------------------------- notices */

bool cpm_cli_notice_parse(struct cpm_str ctype, struct cpm_str body,
			  struct cpm_cli_notice *n)
{
	struct cpm_str mime, params, v;
	uint64_t size;

	memset(n, 0, sizeof *n);
	n->size = -1;
	if (cpm_sip_ctype_parse(ctype, &mime, &params) != 0 ||
	    !cpm_str_ieq_cstr(mime, "message/external-body") ||
	    !cpm_sip_param_find(params, "access-type", &v) ||
	    !cpm_str_ieq_cstr(cpm_sip_unquote(v), "URL") ||
	    !cpm_sip_param_find(params, "URL", &v) ||
	    cpm_str_copy(cpm_sip_unquote(v), n->url, sizeof n->url) != 0 || !n->url[0])
		return false;
	if (cpm_sip_param_find(params, "size", &v) &&
	    cpm_str_to_u64(cpm_sip_unquote(v), INT64_MAX, &size) == 0)
		n->size = (int64_t)size;
	/* RFC 2046 §5.2.3: the body starts with the content's headers */
	const char *p = body.s, *end = body.s + body.len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct cpm_str line = cpm_str_trim((struct cpm_str){ p, (size_t)((nl ? nl : end) - p) });
		p = nl ? nl + 1 : end;
		if (line.len == 0)
			break;
		if (cpm_str_istarts(line, "content-type:"))
			cpm_cli_copy_cut(cpm_str_trim((struct cpm_str){ line.s + 13, line.len - 13 }),
				       n->content_type, sizeof n->content_type);
	}
	return true;
}

/* ------------------------------------------------------------------ IMDN */

#define XML_MAX_DEPTH 16

static bool starts(const char *p, const char *end, const char *lit)
{
	size_t n = strlen(lit);
	return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0;
}

static const char *find_lit(const char *p, const char *end, const char *lit)
{
	size_t n = strlen(lit);
	for (; (size_t)(end - p) >= n; p++)
		if (memcmp(p, lit, n) == 0)
			return p;
	return NULL;
}

int cpm_cli_utf8_put(struct cpm_buf *b, unsigned long cp)
{
	char u[4];
	size_t n;
	if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return CPM_EPARSE;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return cpm_buf_append(b, u, n);
}

/* One entity reference at p ('&'), XML 1.0 §4.1/§4.6; *p moves past ';'. */
static int xml_entity(const char **p, const char *end, struct cpm_buf *b)
{
	const char *semi = memchr(*p, ';', (size_t)(end - *p));
	if (!semi || semi - *p > 12)
		return CPM_EPARSE;
	struct cpm_str name = { *p + 1, (size_t)(semi - *p - 1) };
	static const struct {
		const char *name;
		char c;
	} named[] = { { "lt", '<' }, { "gt", '>' }, { "amp", '&' },
		      { "quot", '"' }, { "apos", '\'' } };
	int rc = CPM_EPARSE;
	for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
		if (cpm_str_eq_cstr(name, named[i].name))
			rc = cpm_buf_append(b, &named[i].c, 1);
	if (rc == CPM_EPARSE && name.len >= 2 && name.s[0] == '#') {
		bool hex = name.s[1] == 'x';
		unsigned long cp = 0;
		size_t i = hex ? 2 : 1;
		if (i == name.len)
			return CPM_EPARSE;
		for (; i < name.len; i++) {
			char c = name.s[i];
			int d = c >= '0' && c <= '9' ? c - '0' :
				hex && c >= 'a' && c <= 'f' ? c - 'a' + 10 :
				hex && c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
			if (d < 0 || cp > 0x10ffff)
				return CPM_EPARSE;
			cp = cp * (hex ? 16 : 10) + (unsigned long)d;
		}
		rc = cpm_cli_utf8_put(b, cp);
	}
	*p = semi + 1;
	return rc;
}

/* The character data of a leaf element's raw content: entities decoded,
 * CDATA sections copied, comments dropped, surrounding space trimmed.
 * CPM_ETOOBIG if it does not fit in out. */
static int xml_text(struct cpm_str raw, char *out, size_t outsz)
{
	struct cpm_buf b;
	const char *p = raw.s, *end = raw.s + raw.len;
	int rc = 0;

	cpm_buf_init(&b, outsz + 256); /* room for the space trimmed */
	while (p < end && !rc) {
		if (*p == '&') {
			rc = xml_entity(&p, end, &b);
		} else if (starts(p, end, "<![CDATA[")) {
			const char *e = find_lit(p + 9, end, "]]>");
			if (!e) {
				rc = CPM_EPARSE;
				break;
			}
			rc = cpm_buf_append(&b, p + 9, (size_t)(e - p - 9));
			p = e + 3;
		} else if (starts(p, end, "<!--")) {
			const char *e = find_lit(p + 4, end, "-->");
			if (!e) {
				rc = CPM_EPARSE;
				break;
			}
			p = e + 3;
		} else {
			rc = cpm_buf_append(&b, p, 1);
			p++;
		}
	}
	if (!rc)
		rc = cpm_str_copy(cpm_str_trim(cpm_buf_str(&b)), out, outsz);
	cpm_buf_free(&b);
	return rc;
}

struct xml_elem {
	struct cpm_str local; /* name without its namespace prefix */
	const char *content;  /* just after the start tag */
	bool has_children;
};

/* The local part of a qualified name ("imdn:status" -> "status"). */
static struct cpm_str local_name(struct cpm_str q)
{
	for (size_t i = q.len; i > 0; i--)
		if (q.s[i - 1] == ':')
			return (struct cpm_str){ q.s + i, q.len - i };
	return q;
}

/* The end of a tag starting at p ('<'): the '>' outside quoted attribute
 * values, or NULL. */
static const char *tag_end(const char *p, const char *end)
{
	char quote = 0;
	for (p++; p < end; p++) {
		if (quote) {
			if (*p == quote)
				quote = 0;
		} else if (*p == '"' || *p == '\'') {
			quote = *p;
		} else if (*p == '>') {
			return p;
		} else if (*p == '<') {
			return NULL;
		}
	}
	return NULL;
}

/* Leaf text of interest, in the imdn root element (depth 1). */
static int imdn_leaf(struct cpm_cli_imdn *out, struct cpm_str name,
		     struct cpm_str raw)
{
	char tmp[300];
	if (cpm_str_eq_cstr(name, "message-id"))
		return xml_text(raw, out->message_id, sizeof out->message_id);
	if (cpm_str_eq_cstr(name, "datetime"))
		return xml_text(raw, out->datetime, sizeof out->datetime);
	if (cpm_str_eq_cstr(name, "recipient-uri"))
		return xml_text(raw, out->recipient, sizeof out->recipient);
	if (cpm_str_eq_cstr(name, "original-recipient-uri") && !out->recipient[0]) {
		int rc = xml_text(raw, tmp, sizeof tmp);
		if (rc == 0)
			snprintf(out->recipient, sizeof out->recipient, "%s", tmp);
		return rc;
	}
	return 0;
}

/* RFC 5438 §7.2.1: <imdn><message-id/><datetime/><recipient-uri/>...
 * <delivery-notification><status><delivered/></status>... */
int cpm_cli_imdn_parse(struct cpm_str xml, struct cpm_cli_imdn *out)
{
	struct xml_elem st[XML_MAX_DEPTH];
	const char *p = xml.s, *end = xml.s + xml.len;
	int depth = 0;
	bool root_done = false;

	memset(out, 0, sizeof *out);
	while (p < end) {
		const char *lt = memchr(p, '<', (size_t)(end - p));
		if (!lt)
			break;
		p = lt;
		if (starts(p, end, "<!--") || starts(p, end, "<![CDATA[")) {
			bool comment = p[2] == '-';
			const char *e = find_lit(p, end, comment ? "-->" : "]]>");
			if (!e)
				return CPM_EPARSE;
			p = e + 3;
			continue;
		}
		if (starts(p, end, "<?")) {
			const char *e = find_lit(p, end, "?>");
			if (!e)
				return CPM_EPARSE;
			p = e + 2;
			continue;
		}
		if (starts(p, end, "<!"))
			return CPM_EPARSE; /* a DTD has no business in an IMDN */
		const char *gt = tag_end(p, end);
		if (!gt)
			return CPM_EPARSE;
		bool closing = p[1] == '/';
		bool empty = !closing && gt[-1] == '/';
		const char *n = p + (closing ? 2 : 1);
		const char *ne = n;
		while (ne < gt && *ne != ' ' && *ne != '\t' && *ne != '\r' &&
		       *ne != '\n' && *ne != '/')
			ne++;
		struct cpm_str name = local_name((struct cpm_str){ n, (size_t)(ne - n) });
		if (name.len == 0)
			return CPM_EPARSE;
		if (closing) {
			if (depth == 0 || !cpm_str_eq(st[depth - 1].local, name))
				return CPM_EPARSE;
			struct xml_elem *e = &st[depth - 1];
			if (depth == 2 && !e->has_children) {
				int rc = imdn_leaf(out, name,
						   (struct cpm_str){ e->content,
								     (size_t)(p - e->content) });
				if (rc)
					return rc == CPM_ETOOBIG ? CPM_EPARSE : rc;
			}
			depth--;
			if (depth == 0)
				root_done = true;
			p = gt + 1;
			continue;
		}
		if (root_done)
			return CPM_EPARSE; /* one root element */
		if (depth == 0 && !cpm_str_eq_cstr(name, "imdn"))
			return CPM_EPARSE;
		if (depth > 0)
			st[depth - 1].has_children = true;
		/* <X-notification><status><VALUE/></status> */
		if (depth >= 2 && cpm_str_eq_cstr(st[depth - 1].local, "status")) {
			struct cpm_str kind = st[depth - 2].local;
			const size_t sfx = sizeof "-notification" - 1;
			if (kind.len > sfx &&
			    cpm_str_eq_cstr((struct cpm_str){ kind.s + kind.len - sfx, sfx },
					    "-notification") &&
			    !out->status[0]) {
				cpm_str_copy((struct cpm_str){ kind.s, kind.len - sfx },
					     out->notification, sizeof out->notification);
				if (cpm_str_copy(name, out->status, sizeof out->status))
					return CPM_EPARSE;
			}
		}
		if (!empty) {
			if (depth == XML_MAX_DEPTH)
				return CPM_EPARSE;
			st[depth++] = (struct xml_elem){ name, gt + 1, false };
		} else if (depth == 0) {
			root_done = true;
		}
		p = gt + 1;
	}
	if (depth || !root_done)
		return CPM_EPARSE;
	if (!out->message_id[0] || !out->status[0])
		return CPM_ENOTFOUND;
	return 0;
}

bool cpm_cli_imdn_positive(const struct cpm_cli_imdn *d)
{
	static const char *const ok[] = { "delivered", "displayed", "processed",
					  "stored" };
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (strcmp(d->status, ok[i]) == 0)
			return true;
	return false;
}

bool cpm_cli_imdn_final(const struct cpm_cli_imdn *d)
{
	/* RFC 5438 §7.2.1.1: processing notifications (processed, stored)
	 * say the message is on its way; a delivery notification, or any
	 * negative one, ends it */
	return strcmp(d->notification, "processing") != 0 ||
	       !cpm_cli_imdn_positive(d);
}
