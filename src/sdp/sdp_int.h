/* sdp — internals shared by the sdp_*.c files.  Not for other modules. */
#ifndef CPM_SDP_INT_H
#define CPM_SDP_INT_H

#include "sdp/sdp.h"

/* token-char of RFC 8866 §9: %x21 / %x23-27 / %x2A-2B / %x2D-2E / %x30-39 /
 * %x41-5A / %x5E-7E.  '&' is one, so the seed's "S&F" is a token. */
static inline bool cpm_sdp__is_token(char ch)
{
	unsigned char c = (unsigned char)ch;
	if (c < 0x21 || c > 0x7e)
		return false;
	return c != '"' && c != '(' && c != ')' && c != ',' && c != '/' &&
	       !(c >= ':' && c <= '@') && c != '[' && c != '\\' && c != ']';
}

static inline bool cpm_sdp__is_token_str(struct cpm_str s)
{
	if (s.len == 0)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (!cpm_sdp__is_token(s.s[i]))
			return false;
	return true;
}

static inline bool cpm_sdp__is_digits(struct cpm_str s)
{
	if (s.len == 0)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (s.s[i] < '0' || s.s[i] > '9')
			return false;
	return true;
}

#endif
