/* sip — internals shared by the sip_*.c files.  Not for other modules. */
#ifndef CPM_SIP_INT_H
#define CPM_SIP_INT_H

#include "sip/sip.h"

/* Character classes (RFC 3261 §25.1), one bit each in cpm_sip__cc[]. */
#define CPM_SIP_C_TOKEN 0x01  /* token: alphanum - . ! % * _ + ` ' ~ */
#define CPM_SIP_C_WS 0x02     /* SP HTAB CR LF (LWS inside a field value) */
#define CPM_SIP_C_HEX 0x04
#define CPM_SIP_C_ALNUM 0x08
#define CPM_SIP_C_UNRES 0x10  /* unreserved: alphanum mark */
#define CPM_SIP_C_USER 0x20   /* user: unreserved + user-unreserved */
#define CPM_SIP_C_PASS 0x40   /* password: unreserved + & = + $ , */
#define CPM_SIP_C_HOST 0x80   /* hostname: alphanum - . _ */

extern const unsigned char cpm_sip__cc[256];

/* Bits of cpm_sip__cc2[]. */
#define CPM_SIP_C2_UPARAM 0x01 /* uri-parameter: paramchar ";" "=" */
#define CPM_SIP_C2_UHDR 0x02   /* uri headers: hnv-unreserved / unreserved "&" "=" */
#define CPM_SIP_C2_VAL 0x04    /* generic value octet: visible, not ; , " */

extern const unsigned char cpm_sip__cc2[256];

static inline bool cpm_sip__is2(char c, unsigned cls)
{
	return (cpm_sip__cc2[(unsigned char)c] & cls) != 0;
}

/* a equals the lowercase literal lit, ignoring case; no strlen. */
#define CPM_SIP_LIT_IEQ(a, lit) \
	((a).len == sizeof(lit) - 1 && cpm_sip__ieq_lc((a).s, (lit), sizeof(lit) - 1))

/* lit must hold only lowercase letters, digits and '-': for those,
 * (c | 0x20) == lit[i] holds exactly when c matches ignoring case (only
 * 'A'..'Z' gain the bit and land on a letter). */
static inline bool cpm_sip__ieq_lc(const char *s, const char *lit, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)(s[i] | 0x20) != (unsigned char)lit[i])
			return false;
	return true;
}

static inline bool cpm_sip__is(char c, unsigned cls)
{
	return (cpm_sip__cc[(unsigned char)c] & cls) != 0;
}

static inline unsigned char cpm_sip__lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static inline int cpm_sip__hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)cpm_sip__lower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Skip LWS (SP, HTAB and folding CR/LF: inside a header value any CR or LF
 * left is part of a fold, RFC 3261 §7.3.1). */
static inline const char *cpm_sip__skip_ws(const char *p, const char *end)
{
	while (p < end && cpm_sip__is(*p, CPM_SIP_C_WS))
		p++;
	return p;
}

static inline const char *cpm_sip__skip_token(const char *p, const char *end)
{
	while (p < end && cpm_sip__is(*p, CPM_SIP_C_TOKEN))
		p++;
	return p;
}

static inline struct cpm_str cpm_sip__span(const char *a, const char *b)
{
	return (struct cpm_str){ a, (size_t)(b - a) };
}

/* A quoted-string starting at p (*p == '"'): returns the position after the
 * closing quote, or NULL when it is not closed.  quoted-pair ("\" any) is
 * skipped as a unit (RFC 3261 §25.1). */
const char *cpm_sip__quoted_end(const char *p, const char *end);

/* One generic parameter after its ';' (p points just after the ';'):
 *   LWS name [LWS "=" LWS (value / quoted-string)]
 * Returns the position after it or NULL on a syntax error.  *val gets the
 * value (quotes kept) or an empty slice with a NULL-free pointer. */
const char *cpm_sip__param(const char *p, const char *end, struct cpm_str *name,
			   struct cpm_str *val);

/* Parse host[:port] at p, stopping at the first character that cannot
 * continue it.  Returns the end or NULL on bad syntax. */
const char *cpm_sip__hostport(const char *p, const char *end, struct cpm_str *host,
			      bool *v6, uint16_t *port, bool *has_port);

/* cpm_sip_addr_parse, optionally without validating the URI */
int cpm_sip__addr_parse(struct cpm_str s, struct cpm_sip_addr *a, bool check_uri);

#endif
