/* cli — digest authentication (RFC 3261 §22, RFC 7616, RFC 8760).
 *
 * Pure: lib + sip only, no sockets, so tests/unit/cli/test_cli.c can
 * #include this file directly. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------- response */

static int hash_parts(enum cpm_hash_alg alg, const struct cpm_str *parts,
		      size_t n, char out[CPM_HASH_HEX_MAX])
{
	return cpm_hash_hex(alg, parts, n, out);
}

int cpm_cli_digest_response(const struct cpm_cli_digest *d,
			    char out[CPM_HASH_HEX_MAX])
{
	char ha1[CPM_HASH_HEX_MAX], ha2[CPM_HASH_HEX_MAX];
	char hbody[CPM_HASH_HEX_MAX];
	const struct cpm_str colon = CPM_STR(":");
	int rc;

	if (!d->username || !d->realm || !d->password || !d->method || !d->uri ||
	    !d->nonce)
		return CPM_EINVAL;
	if ((d->qop || d->sess) && (!d->cnonce || !*d->cnonce))
		return CPM_EINVAL;
	if (d->qop && (!d->nc || strlen(d->nc) != 8))
		return CPM_EINVAL;

	rc = cpm_hash_ha1(d->alg, d->username, d->realm, d->password, ha1);
	if (rc)
		return rc;
	if (d->sess) {
		struct cpm_str p[5] = { cpm_str_from_cstr(ha1), colon,
					cpm_str_from_cstr(d->nonce), colon,
					cpm_str_from_cstr(d->cnonce) };
		rc = hash_parts(d->alg, p, 5, ha1);
		if (rc)
			return rc;
	}

	if (d->qop == 2) {
		rc = hash_parts(d->alg, &d->body, 1, hbody);
		if (rc)
			return rc;
		struct cpm_str p[5] = { cpm_str_from_cstr(d->method), colon,
					cpm_str_from_cstr(d->uri), colon,
					cpm_str_from_cstr(hbody) };
		rc = hash_parts(d->alg, p, 5, ha2);
	} else {
		struct cpm_str p[3] = { cpm_str_from_cstr(d->method), colon,
					cpm_str_from_cstr(d->uri) };
		rc = hash_parts(d->alg, p, 3, ha2);
	}
	if (rc)
		return rc;

	if (d->qop) {
		struct cpm_str p[11] = {
			cpm_str_from_cstr(ha1),	      colon,
			cpm_str_from_cstr(d->nonce),  colon,
			cpm_str_from_cstr(d->nc),     colon,
			cpm_str_from_cstr(d->cnonce), colon,
			d->qop == 2 ? CPM_STR("auth-int") : CPM_STR("auth"),
			colon,			      cpm_str_from_cstr(ha2),
		};
		return hash_parts(d->alg, p, 11, out);
	}
	struct cpm_str p[5] = { cpm_str_from_cstr(ha1), colon,
				cpm_str_from_cstr(d->nonce), colon,
				cpm_str_from_cstr(ha2) };
	return hash_parts(d->alg, p, 5, out);
}

/* ------------------------------------------------------------ challenges */

/* Parse "MD5", "SHA-256", "MD5-sess", "SHA-256-sess". */
static int alg_parse(struct cpm_str name, enum cpm_hash_alg *alg, bool *sess)
{
	*sess = false;
	if (name.len > 5 &&
	    cpm_str_ieq_cstr((struct cpm_str){ name.s + name.len - 5, 5 },
			     "-sess")) {
		*sess = true;
		name.len -= 5;
		if (name.len == 0)
			return CPM_EUNSUPP;
	}
	return cpm_hash_alg_parse(name, alg);
}

/* Higher is better. */
static int challenge_score(const struct cpm_cli_challenge *c)
{
	int s = c->alg == CPM_HASH_SHA256 ? 100 : 0;
	s += c->qop == 1 ? 30 : c->qop == 2 ? 20 : 10;
	s += c->sess ? 0 : 1;
	return s;
}

int cpm_cli_challenge_offer(struct cpm_str value, bool proxy,
			    struct cpm_cli_challenge *ch, int *best)
{
	struct cpm_sip_auth au;
	struct cpm_cli_challenge c;

	memset(&au, 0, sizeof au);
	memset(&c, 0, sizeof c);
	if (cpm_sip_auth_parse(value, &au) != 0 ||
	    !cpm_str_ieq_cstr(au.scheme, "Digest") || au.nonce.len == 0)
		return CPM_EUNSUPP;
	c.proxy = proxy;
	c.has_alg = au.algorithm.len > 0;
	if (alg_parse(au.algorithm, &c.alg, &c.sess) != 0)
		return CPM_EUNSUPP;
	if (au.qop.len == 0)
		c.qop = 0;
	else if (cpm_sip_list_has(au.qop, "auth"))
		c.qop = 1;
	else if (cpm_sip_list_has(au.qop, "auth-int"))
		c.qop = 2;
	else
		return CPM_EUNSUPP;
	c.stale = au.stale;
	if (cpm_str_copy(au.realm, c.realm, sizeof c.realm) != 0 ||
	    cpm_str_copy(au.nonce, c.nonce, sizeof c.nonce) != 0 ||
	    cpm_str_copy(au.opaque, c.opaque, sizeof c.opaque) != 0)
		return CPM_EUNSUPP;
	int score = challenge_score(&c);
	if (score <= *best)
		return 0;
	*best = score;
	*ch = c;
	return 1;
}

int cpm_cli_challenge_choose(const struct cpm_sip_msg *resp,
			     struct cpm_cli_challenge *ch)
{
	enum cpm_sip_hdr_id id = resp->status == 407 ?
					 CPM_SIP_H_PROXY_AUTHENTICATE :
					 CPM_SIP_H_WWW_AUTHENTICATE;
	bool unsupported = false;
	int best = -1;

	for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(resp, id); h;
	     h = cpm_sip_msg_hdr_next(resp, h))
		if (cpm_cli_challenge_offer(h->value,
					    id == CPM_SIP_H_PROXY_AUTHENTICATE,
					    ch, &best) < 0)
			unsupported = true;
	if (best >= 0)
		return 0;
	return unsupported ? CPM_EUNSUPP : CPM_ENOTFOUND;
}

bool cpm_cli_auth_retry(struct cpm_cli_auth_retry *st, bool with_auth,
			const struct cpm_cli_challenge *ch,
			struct cpm_cli_challenge *cur, bool *have_ch)
{
	if (with_auth && st->fresh) {
		if (!ch->stale || st->stale_retry)
			return false;
		st->stale_retry = true;
	}
	*cur = *ch;
	*have_ch = true;
	st->fresh = true;
	return true;
}

/* ------------------------------------------------------------ the header */

/* Append a quoted-string, escaping '"' and '\'. */
static int put_quoted(struct cpm_buf *b, const char *s)
{
	int rc = cpm_buf_puts(b, "\"");
	for (; rc == 0 && *s; s++) {
		if (*s == '"' || *s == '\\')
			rc = cpm_buf_puts(b, "\\");
		if (rc == 0)
			rc = cpm_buf_append(b, s, 1);
	}
	return rc ? rc : cpm_buf_puts(b, "\"");
}

int cpm_cli_auth_header(struct cpm_buf *b, struct cpm_cli_challenge *ch,
			const char *username, const char *password,
			const char *method, const char *uri,
			struct cpm_str body, const char *cnonce)
{
	char cn[33], nc[9], resp[CPM_HASH_HEX_MAX];
	int rc;

	if (!cnonce) {
		rc = cpm_rand_hex(cn, 16);
		if (rc)
			return rc;
		cnonce = cn;
	}
	ch->nc++;
	snprintf(nc, sizeof nc, "%08x", (unsigned)ch->nc);

	struct cpm_cli_digest d = {
		.alg = ch->alg,
		.sess = ch->sess,
		.qop = ch->qop,
		.username = username,
		.realm = ch->realm,
		.password = password,
		.method = method,
		.uri = uri,
		.nonce = ch->nonce,
		.cnonce = cnonce,
		.nc = nc,
		.body = body,
	};
	rc = cpm_cli_digest_response(&d, resp);
	if (rc)
		return rc;

	rc = cpm_buf_puts(b, ch->proxy ? "Proxy-Authorization: Digest username="
				       : "Authorization: Digest username=");
	if (!rc)
		rc = put_quoted(b, username);
	if (!rc)
		rc = cpm_buf_puts(b, ", realm=");
	if (!rc)
		rc = put_quoted(b, ch->realm);
	if (!rc)
		rc = cpm_buf_puts(b, ", nonce=");
	if (!rc)
		rc = put_quoted(b, ch->nonce);
	if (!rc)
		rc = cpm_buf_puts(b, ", uri=");
	if (!rc)
		rc = put_quoted(b, uri);
	if (!rc)
		rc = cpm_buf_printf(b, ", response=\"%s\"", resp);
	if (!rc && (ch->has_alg || ch->alg != CPM_HASH_MD5 || ch->sess))
		rc = cpm_buf_printf(b, ", algorithm=%s%s",
				    cpm_hash_alg_name(ch->alg),
				    ch->sess ? "-sess" : "");
	if (!rc && (ch->qop || ch->sess)) {
		rc = cpm_buf_puts(b, ", cnonce=");
		if (!rc)
			rc = put_quoted(b, cnonce);
	}
	if (!rc && ch->opaque[0]) {
		rc = cpm_buf_puts(b, ", opaque=");
		if (!rc)
			rc = put_quoted(b, ch->opaque);
	}
	if (!rc && ch->qop)
		rc = cpm_buf_printf(b, ", qop=%s, nc=%s",
				    ch->qop == 2 ? "auth-int" : "auth", nc);
	if (!rc)
		rc = cpm_buf_puts(b, "\r\n");
	return rc;
}
