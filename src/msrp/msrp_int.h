/* msrp — internals shared by the msrp_*.c files.  Not for other modules. */
#ifndef CPM_MSRP_INT_H
#define CPM_MSRP_INT_H

#include "msrp/msrp.h"

static inline bool cpm_msrp__alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* token of RFC 4975 §9: %x21 / %x23-27 / %x2A-2B / %x2D-2E / %x30-39 /
 * %x41-5A / %x5E-7E (the SDP token set) */
static inline bool cpm_msrp__token(char ch)
{
	unsigned char c = (unsigned char)ch;
	if (c < 0x21 || c > 0x7e)
		return false;
	return c != '"' && c != '(' && c != ')' && c != ',' && c != '/' &&
	       !(c >= ':' && c <= '@') && c != '[' && c != '\\' && c != ']';
}

static inline struct cpm_str cpm_msrp__span(const char *a, const char *b)
{
	return (struct cpm_str){ a, (size_t)(b - a) };
}

/* No CR, LF or NUL: safe to print on one line. */
static inline bool cpm_msrp__clean(struct cpm_str v)
{
	for (size_t i = 0; i < v.len; i++)
		if (v.s[i] == '\r' || v.s[i] == '\n' || v.s[i] == '\0')
			return false;
	return true;
}

/* Parse the header section buf[0, len) (start line included, every line
 * with its CRLF, without the empty line or end-line that closes it) into
 * m; has_body: an empty line closed it.  Returns 0, or CPM_EPARSE with
 * *why when the start line is unusable (the framing cannot go on);
 * header problems are recorded in m->err instead. */
int cpm_msrp__parse_head(struct cpm_msrp_msg *m, const char *buf, size_t len,
			 bool has_body, const char **why);

#endif
