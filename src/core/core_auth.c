/* Digest authentication (RFC 3261 §22, RFC 7616 qop=auth, RFC 8760
 * SHA-256).  Nonces are self-validating ("TS RND MAC", MAC keyed with a
 * per-process secret) and also kept in a bounded table that records the
 * highest nonce-count seen, so a replayed request is refused (RFC 7616
 * §3.3 nc) and an evicted or pre-restart nonce is answered stale=true. */
#include "core/core_int.h"

#include <stdlib.h>
#include <string.h>

struct cpm_core_nonce {
	struct cpm_core_nonce *hnext;
	struct cpm_core_nonce *fifo_next;
	uint64_t key;
	uint32_t nc; /* highest nc accepted; UINT32_MAX = used without qop */
	bool dead;   /* evicted from the hash, still in the FIFO */
};

#define NONCE_HEX_LEN 40 /* 8 ts + 16 rnd + 16 mac */

int cpm_core__auth_init(struct cpm_core_auth *a, unsigned ttl_s, size_t max)
{
	memset(a, 0, sizeof *a);
	if (cpm_rand_bytes(a->secret, sizeof a->secret))
		return CPM_EIO;
	a->nbuckets = 1024;
	while (a->nbuckets < max)
		a->nbuckets *= 2;
	a->buckets = calloc(a->nbuckets, sizeof *a->buckets);
	if (!a->buckets)
		return CPM_ENOMEM;
	a->max = max ? max : 1;
	a->ttl_s = ttl_s;
	return 0;
}

void cpm_core__auth_cleanup(struct cpm_core_auth *a)
{
	struct cpm_core_nonce *n = a->oldest;
	while (n) {
		struct cpm_core_nonce *nn = n->fifo_next;
		free(n);
		n = nn;
	}
	free(a->buckets);
	memset(a, 0, sizeof *a);
}

static struct cpm_core_nonce **nonce_slot(struct cpm_core_auth *a, uint64_t key)
{
	struct cpm_core_nonce **pp = &a->buckets[(key ^ (key >> 29)) & (a->nbuckets - 1)];
	while (*pp && (*pp)->key != key)
		pp = &(*pp)->hnext;
	return pp;
}

static void nonce_evict_oldest(struct cpm_core_auth *a)
{
	struct cpm_core_nonce *n = a->oldest;
	if (!n)
		return;
	a->oldest = n->fifo_next;
	if (!a->oldest)
		a->newest = NULL;
	struct cpm_core_nonce **pp = nonce_slot(a, n->key);
	if (*pp == n)
		*pp = n->hnext;
	a->count--;
	free(n);
}

static int nonce_mac(const struct cpm_core_auth *a, struct cpm_str ts,
		     struct cpm_str rnd, char mac[17])
{
	char secret_hex[65];
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < sizeof a->secret; i++) {
		secret_hex[2 * i] = hex[a->secret[i] >> 4];
		secret_hex[2 * i + 1] = hex[a->secret[i] & 15];
	}
	struct cpm_str parts[5] = { { secret_hex, 64 }, CPM_STR(":"), ts,
				    CPM_STR(":"), rnd };
	char out[CPM_HASH_HEX_MAX];
	int rc = cpm_hash_hex(CPM_HASH_SHA256, parts, 5, out);
	if (rc)
		return rc;
	memcpy(mac, out, 16);
	mac[16] = '\0';
	return 0;
}

static int nonce_new(struct cpm_core_auth *a, char out[NONCE_HEX_LEN + 1])
{
	uint64_t key;
	if (cpm_rand_bytes(&key, sizeof key))
		return CPM_EIO;
	snprintf(out, NONCE_HEX_LEN + 1, "%08x%016llx", (unsigned)cpm_wall_s(),
		 (unsigned long long)key);
	int rc = nonce_mac(a, (struct cpm_str){ out, 8 },
			   (struct cpm_str){ out + 8, 16 }, out + 24);
	if (rc)
		return rc;
	while (a->count >= a->max)
		nonce_evict_oldest(a);
	struct cpm_core_nonce *n = calloc(1, sizeof *n);
	if (!n)
		return CPM_ENOMEM;
	n->key = key;
	struct cpm_core_nonce **pp = nonce_slot(a, key);
	n->hnext = *pp;
	*pp = n;
	if (a->newest)
		a->newest->fifo_next = n;
	else
		a->oldest = n;
	a->newest = n;
	a->count++;
	return 0;
}

int cpm_core__auth_challenge(struct cpm_core_auth *a, struct cpm_buf *b,
			     bool proxy, const char *realm,
			     const enum cpm_hash_alg *algs, int nalgs,
			     bool stale)
{
	char nonce[NONCE_HEX_LEN + 1];
	int rc = nonce_new(a, nonce);
	if (rc)
		return rc;
	for (int i = 0; i < nalgs; i++) {
		rc = cpm_buf_printf(b,
				    "%s: Digest realm=\"%s\", nonce=\"%s\", "
				    "algorithm=%s, qop=\"auth\"%s\r\n",
				    proxy ? "Proxy-Authenticate" : "WWW-Authenticate",
				    realm, nonce, cpm_hash_alg_name(algs[i]),
				    stale ? ", stale=true" : "");
		if (rc)
			return rc;
	}
	return 0;
}

enum cpm_core_auth_result cpm_core__auth_find(const struct cpm_sip_msg *req,
					      bool proxy, const char *realm,
					      struct cpm_sip_auth *cred)
{
	enum cpm_sip_hdr_id id = proxy ? CPM_SIP_H_PROXY_AUTHORIZATION
				       : CPM_SIP_H_AUTHORIZATION;
	bool bad = false;
	for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(req, id); h;
	     h = cpm_sip_msg_hdr_next(req, h)) {
		struct cpm_sip_auth c;
		if (cpm_sip_auth_parse(h->value, &c) < 0 ||
		    !cpm_str_ieq_cstr(c.scheme, "Digest")) {
			bad = true;
			continue;
		}
		if (!cpm_str_eq_cstr(c.realm, realm))
			continue;
		if (!c.username.len || !c.nonce.len || !c.response.len ||
		    !c.uri.len) {
			bad = true;
			continue;
		}
		*cred = c;
		return CPM_CORE_AUTH_OK;
	}
	return bad ? CPM_CORE_AUTH_BAD : CPM_CORE_AUTH_NONE;
}

static bool is_hex(struct cpm_str s)
{
	for (size_t i = 0; i < s.len; i++) {
		char ch = s.s[i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
		      (ch >= 'A' && ch <= 'F')))
			return false;
	}
	return true;
}

enum cpm_core_auth_result cpm_core__auth_verify(struct cpm_core_auth *a,
					       struct cpm_str method,
					       const struct cpm_sip_auth *cred,
					       const struct cpm_store_user *u)
{
	enum cpm_hash_alg alg;
	if (cpm_hash_alg_parse(cred->algorithm, &alg))
		return CPM_CORE_AUTH_BAD;
	const char *ha1 = alg == CPM_HASH_SHA256 ? u->ha1_sha256 : u->ha1_md5;
	if (!ha1[0])
		return CPM_CORE_AUTH_FAILED;

	/* the nonce: ours, fresh, known */
	struct cpm_str nonce = cred->nonce;
	if (nonce.len != NONCE_HEX_LEN || !is_hex(nonce))
		return CPM_CORE_AUTH_STALE;
	char mac[17];
	if (nonce_mac(a, (struct cpm_str){ nonce.s, 8 },
		      (struct cpm_str){ nonce.s + 8, 16 }, mac) ||
	    memcmp(mac, nonce.s + 24, 16) != 0)
		return CPM_CORE_AUTH_STALE;
	char tmp[17];
	memcpy(tmp, nonce.s, 8);
	tmp[8] = '\0';
	int64_t issued = (int64_t)strtoul(tmp, NULL, 16);
	int64_t now = cpm_wall_s();
	if (now - issued > (int64_t)a->ttl_s || issued - now > 60)
		return CPM_CORE_AUTH_STALE;
	memcpy(tmp, nonce.s + 8, 16);
	tmp[16] = '\0';
	uint64_t key = strtoull(tmp, NULL, 16);
	struct cpm_core_nonce *n = *nonce_slot(a, key);
	if (!n)
		return CPM_CORE_AUTH_STALE;

	bool qop = cred->qop.len != 0;
	uint32_t nc = 0;
	if (qop) {
		if (!cpm_str_ieq_cstr(cred->qop, "auth") || cred->nc.len != 8 ||
		    !is_hex(cred->nc) || !cred->cnonce.len)
			return CPM_CORE_AUTH_BAD;
		memcpy(tmp, cred->nc.s, 8);
		tmp[8] = '\0';
		nc = (uint32_t)strtoul(tmp, NULL, 16);
		if (nc == 0 || nc <= n->nc)
			return CPM_CORE_AUTH_STALE; /* replay (RFC 7616 §3.4) */
	} else if (n->nc != 0) {
		return CPM_CORE_AUTH_STALE; /* RFC 2069 style: single use */
	}

	/* HA2 = H(method ":" digest-uri); response per RFC 7616 §3.4.1 */
	char ha2[CPM_HASH_HEX_MAX], resp[CPM_HASH_HEX_MAX];
	struct cpm_str p2[3] = { method, CPM_STR(":"), cred->uri };
	if (cpm_hash_hex(alg, p2, 3, ha2))
		return CPM_CORE_AUTH_FAILED;
	struct cpm_str h1 = cpm_str_from_cstr(ha1);
	struct cpm_str h2 = cpm_str_from_cstr(ha2);
	int rc;
	if (qop) {
		struct cpm_str p[11] = { h1, CPM_STR(":"), nonce, CPM_STR(":"),
					 cred->nc, CPM_STR(":"), cred->cnonce,
					 CPM_STR(":"), cred->qop, CPM_STR(":"), h2 };
		rc = cpm_hash_hex(alg, p, 11, resp);
	} else {
		struct cpm_str p[5] = { h1, CPM_STR(":"), nonce, CPM_STR(":"), h2 };
		rc = cpm_hash_hex(alg, p, 5, resp);
	}
	if (rc || !cpm_str_ieq(cred->response, cpm_str_from_cstr(resp)))
		return CPM_CORE_AUTH_FAILED;
	n->nc = qop ? nc : UINT32_MAX;
	return CPM_CORE_AUTH_OK;
}

/* ------------------------------------------------------------ HTTP digest
 *
 * The HTTP API (message pick-up, inbox) authenticates users with their SIP
 * credentials: RFC 7616 Digest is the same computation as RFC 3261 §22
 * (method and request-target in HA2), so the nonces, their lifetime and
 * the nc replay table are shared with SIP. */

int cpm_core_http_challenge(struct cpm_core *c, const char *realm, bool stale,
			    char vals[][CPM_CORE_CHALLENGE_MAX], int max)
{
	struct cpm_buf b;
	cpm_buf_init(&b, 4096);
	int rc = cpm_core__auth_challenge(&c->auth, &b, false, realm, c->conf->auth.algorithms,
					  c->conf->auth.nalgorithms, stale);
	int n = 0;
	/* one "WWW-Authenticate: VALUE\r\n" line per algorithm */
	for (const char *p = b.p; !rc && p && *p && n < max;) {
		const char *v = strchr(p, ':');
		const char *e = v ? strstr(v, "\r\n") : NULL;
		if (!e)
			break;
		v += 2;
		snprintf(vals[n++], CPM_CORE_CHALLENGE_MAX, "%.*s", (int)(e - v), v);
		p = e + 2;
	}
	cpm_buf_free(&b);
	return rc ? rc : n;
}

int cpm_core_http_verify(struct cpm_core *c, const char *method, const char *target,
			 struct cpm_str authorization, const char *realm,
			 const struct cpm_store_user *u)
{
	struct cpm_sip_auth cred;
	if (cpm_sip_auth_parse(authorization, &cred) < 0 ||
	    !cpm_str_ieq_cstr(cred.scheme, "Digest") || !cred.username.len ||
	    !cred.nonce.len || !cred.response.len || !cred.uri.len)
		return CPM_EPARSE;
	if (!cpm_str_eq_cstr(cred.realm, realm))
		return CPM_EAUTH;
	/* RFC 7616 §3.4.6: the uri must be the request-target */
	if (!cpm_str_eq_cstr(cred.uri, target))
		return CPM_EPARSE;
	/* the stored HA1 is H(user ":" realm ":" password), user being the
	 * AoR's user part; the whole AoR is accepted as the name too */
	const char *at = strchr(u->aor, '@');
	size_t ulen = at ? (size_t)(at - u->aor) : strlen(u->aor);
	if (!cpm_str_eq(cred.username, (struct cpm_str){ u->aor, ulen }) &&
	    !cpm_str_eq_cstr(cred.username, u->aor))
		return CPM_EAUTH;
	switch (cpm_core__auth_verify(&c->auth, cpm_str_from_cstr(method), &cred, u)) {
	case CPM_CORE_AUTH_OK: return 0;
	case CPM_CORE_AUTH_STALE: return CPM_EAGAIN;
	case CPM_CORE_AUTH_BAD: return CPM_EPARSE;
	default: return CPM_EAUTH;
	}
}
