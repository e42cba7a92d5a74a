/* Slices: comparisons, trimming, numbers, copies. */
#include "lib/lib.h"

#include <stdlib.h>
#include <string.h>

struct cpm_str cpm_str_from_cstr(const char *cs)
{
	return (struct cpm_str){ cs, cs ? strlen(cs) : 0 };
}

bool cpm_str_eq(struct cpm_str a, struct cpm_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.s, b.s, a.len) == 0);
}

static inline unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

bool cpm_str_ieq(struct cpm_str a, struct cpm_str b)
{
	if (a.len != b.len)
		return false;
	for (size_t i = 0; i < a.len; i++)
		if (lower((unsigned char)a.s[i]) != lower((unsigned char)b.s[i]))
			return false;
	return true;
}

bool cpm_str_ieq_cstr(struct cpm_str a, const char *cs)
{
	return cpm_str_ieq(a, cpm_str_from_cstr(cs));
}

bool cpm_str_eq_cstr(struct cpm_str a, const char *cs)
{
	return cpm_str_eq(a, cpm_str_from_cstr(cs));
}

bool cpm_str_istarts(struct cpm_str a, const char *prefix)
{
	size_t n = strlen(prefix);
	return a.len >= n && cpm_str_ieq((struct cpm_str){ a.s, n },
					 (struct cpm_str){ prefix, n });
}

static inline bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

struct cpm_str cpm_str_trim(struct cpm_str a)
{
	while (a.len && is_ws(a.s[0])) {
		a.s++;
		a.len--;
	}
	while (a.len && is_ws(a.s[a.len - 1]))
		a.len--;
	return a;
}

long cpm_str_chr(struct cpm_str a, char c)
{
	const char *p = a.len ? memchr(a.s, c, a.len) : NULL;
	return p ? (long)(p - a.s) : -1;
}

int cpm_str_to_u64(struct cpm_str a, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (a.len == 0)
		return CPM_EPARSE;
	for (size_t i = 0; i < a.len; i++) {
		unsigned char c = (unsigned char)a.s[i];
		if (c < '0' || c > '9')
			return CPM_EPARSE;
		unsigned d = (unsigned)(c - '0');
		/* v * 10 + d <= max, without wrapping (d may exceed max) */
		if (d > max || v > (max - d) / 10)
			return CPM_ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

char *cpm_str_dup(struct cpm_str a)
{
	char *p = malloc(a.len + 1);
	if (!p)
		return NULL;
	if (a.len)
		memcpy(p, a.s, a.len);
	p[a.len] = '\0';
	return p;
}

int cpm_str_copy(struct cpm_str a, char *dst, size_t dstsz)
{
	if (dstsz == 0 || a.len >= dstsz)
		return CPM_ETOOBIG;
	if (a.len)
		memcpy(dst, a.s, a.len);
	dst[a.len] = '\0';
	return 0;
}
