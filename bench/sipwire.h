/* sipwire.h: the little SIP text handling that bench/loadgen.c and
 * bench/drainrx.c share (header lines, the 200 OK a UAS answers).  Header
 * only, libc only, so that each tool still builds from its own .c file
 * (cc -O2 -o loadgen loadgen.c). */
#ifndef CPM_BENCH_SIPWIRE_H
#define CPM_BENCH_SIPWIRE_H

/* the includer defines _GNU_SOURCE first (memmem) */
#include <stddef.h>
#include <string.h>
#include <strings.h>

/* Next header line in [*p, end): sets name/value and returns 1; -1 for a
 * line without ':'; 0 at the empty line that ends the header section (*p
 * is at the body then) or at the end of the buffer. */
static int sw_next_hdr(const char **p, const char *end, const char **name, size_t *nlen,
		       const char **val, size_t *vlen)
{
	const char *s = *p;
	const char *eol = memchr(s, '\n', (size_t)(end - s));
	if (!eol)
		return 0;
	const char *le = eol;
	if (le > s && le[-1] == '\r')
		le--;
	*p = eol + 1;
	if (le == s)
		return 0; /* empty line */
	const char *colon = memchr(s, ':', (size_t)(le - s));
	if (!colon)
		return -1;
	const char *ne = colon;
	while (ne > s && (ne[-1] == ' ' || ne[-1] == '\t'))
		ne--;
	const char *v = colon + 1;
	while (v < le && (*v == ' ' || *v == '\t'))
		v++;
	*name = s;
	*nlen = (size_t)(ne - s);
	*val = v;
	*vlen = (size_t)(le - v);
	return 1;
}

/* Is the header name n the full name, or its compact form (0: none)? */
static int sw_hname(const char *n, size_t nl, const char *full, char compact)
{
	if (nl == 1)
		return compact && (n[0] | 0x20) == compact;
	return nl == strlen(full) && strncasecmp(n, full, nl) == 0;
}

/* Called for every header line (sw_each_hdr, sw_answer_200). */
typedef void (*sw_hdr_fn)(void *arg, const char *n, size_t nl, const char *v, size_t vl);

/* Call on_hdr for every header line of the message [m, m + len) (after its
 * first line). */
static inline void sw_each_hdr(const char *m, size_t len, sw_hdr_fn on_hdr, void *arg)
{
	const char *end = m + len, *p = memchr(m, '\n', len), *n, *v;
	size_t nl, vl;
	int r;
	if (!p)
		return;
	p++;
	while ((r = sw_next_hdr(&p, end, &n, &nl, &v, &vl)) != 0)
		if (r > 0)
			on_hdr(arg, n, nl, v, vl);
}

/* Build into out (cap bytes) the 200 OK to the request [m, m + len): its
 * Via, From, To (with to_tag added when it has none), Call-ID and CSeq
 * (RFC 3261 §8.2.6.2), no body.  *body (if not NULL) gets the start of the
 * request's body.  Returns the length, or 0 when the request lacks one of
 * those headers or the answer would not fit. */
static size_t sw_answer_200(const char *m, size_t len, char *out, size_t cap, const char *to_tag,
			    sw_hdr_fn on_hdr, void *arg, const char **body)
{
	const char *end = m + len, *p = memchr(m, '\n', len), *n, *v;
	size_t nl, vl, ol = 0, tl = strlen(to_tag);
	int r, have = 0;
	if (!p)
		return 0;
	p++;
#define SW_PUT(s, l) do { if (ol + (l) + 64 > cap) return 0; memcpy(out + ol, (s), (l)); ol += (l); } while (0)
	SW_PUT("SIP/2.0 200 OK\r\n", 16);
	while ((r = sw_next_hdr(&p, end, &n, &nl, &v, &vl)) != 0) {
		if (r < 0)
			continue;
		if (on_hdr)
			on_hdr(arg, n, nl, v, vl);
		int to = sw_hname(n, nl, "to", 't');
		if (sw_hname(n, nl, "via", 'v') || sw_hname(n, nl, "from", 'f') || to ||
		    sw_hname(n, nl, "call-id", 'i') || sw_hname(n, nl, "cseq", 0)) {
			SW_PUT(n, (size_t)(v + vl - n));
			if (to && !memmem(v, vl, ";tag=", 5)) {
				SW_PUT(";tag=", 5);
				SW_PUT(to_tag, tl);
			}
			SW_PUT("\r\n", 2);
			have++;
		}
	}
	if (have < 5)
		return 0;
	SW_PUT("Content-Length: 0\r\n\r\n", 21);
#undef SW_PUT
	if (body)
		*body = p;
	return ol;
}

#endif
