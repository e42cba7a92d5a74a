/* Bounded growable buffers. */
#include "lib/lib.h"

#include <stdlib.h>
#include <string.h>

void cpm_buf_init(struct cpm_buf *b, size_t max)
{
	b->p = NULL;
	b->len = b->cap = 0;
	b->max = max;
}

void cpm_buf_free(struct cpm_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void cpm_buf_reset(struct cpm_buf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

int cpm_buf_reserve(struct cpm_buf *b, size_t extra)
{
	if (extra > b->max || b->len > b->max - extra)
		return CPM_ETOOBIG;
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	char *p = realloc(b->p, cap);
	if (!p)
		return CPM_ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int cpm_buf_append(struct cpm_buf *b, const void *data, size_t n)
{
	int rc = cpm_buf_reserve(b, n);
	if (rc)
		return rc;
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int cpm_buf_puts(struct cpm_buf *b, const char *cs)
{
	return cpm_buf_append(b, cs, strlen(cs));
}

int cpm_buf_append_str(struct cpm_buf *b, struct cpm_str s)
{
	return cpm_buf_append(b, s.s, s.len);
}

int cpm_buf_printf(struct cpm_buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return CPM_EINVAL;
	if ((size_t)n < sizeof small)
		return cpm_buf_append(b, small, (size_t)n);
	int rc = cpm_buf_reserve(b, (size_t)n);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void cpm_buf_consume(struct cpm_buf *b, size_t n)
{
	if (n >= b->len) {
		cpm_buf_reset(b);
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
	b->p[b->len] = '\0';
}

size_t cpm_fmt_u64(char *out, uint64_t v)
{
	char tmp[24];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

int cpm_buf_put_u64(struct cpm_buf *b, uint64_t v)
{
	char tmp[24];
	return cpm_buf_append(b, tmp, cpm_fmt_u64(tmp, v));
}
