/* The relay's route table: sessions handed out by AUTH, connections known
 * by URI authority, and the routing decision with its path rewriting
 * (RFC 4976 §6, §7).  No I/O, no clock: the caller gives the time. */
#include "chat/chat.h"

#include <stdlib.h>
#include <string.h>

struct peer {
	struct peer *hnext;
	uint64_t conn_id;
	char key[];
};

struct cpm_chat_table {
	char host[256]; /* lowercase, IPv6 with brackets */
	uint16_t port;
	char base[300]; /* msrp://host:port */
	size_t max_sessions;
	struct cpm_chat_sess **sb; /* buckets, by id */
	size_t nsb, nsess;
	struct peer **pb; /* buckets, by key */
	size_t npb, npeers;
};

/* FNV-1a */
static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static void lower_copy(char *dst, const char *src, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = src[i];
		dst[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
	}
	dst[n] = '\0';
}

int cpm_chat_table_new(const char *host, uint16_t port, size_t max_sessions,
		       struct cpm_chat_table **out)
{
	size_t hl = strlen(host);
	if (!hl || hl + 3 > sizeof((struct cpm_chat_table *)0)->host)
		return CPM_EINVAL;
	struct cpm_chat_table *t = calloc(1, sizeof *t);
	if (!t)
		return CPM_ENOMEM;
	/* an IPv6 literal gets its brackets, as in a URI */
	bool v6 = strchr(host, ':') && host[0] != '[';
	if (v6) {
		t->host[0] = '[';
		lower_copy(t->host + 1, host, hl);
		t->host[hl + 1] = ']';
		t->host[hl + 2] = '\0';
	} else {
		lower_copy(t->host, host, hl);
	}
	t->port = port ? port : CPM_MSRP_DEFAULT_PORT;
	snprintf(t->base, sizeof t->base, "msrp://%s:%u", t->host, t->port);
	t->max_sessions = max_sessions;
	t->nsb = t->npb = 64;
	t->sb = calloc(t->nsb, sizeof *t->sb);
	t->pb = calloc(t->npb, sizeof *t->pb);
	if (!t->sb || !t->pb) {
		cpm_chat_table_free(t);
		return CPM_ENOMEM;
	}
	*out = t;
	return 0;
}

static void sess_free(struct cpm_chat_sess *s)
{
	free(s->client_uri);
	free(s->aor);
	free(s);
}

void cpm_chat_table_free(struct cpm_chat_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; t->sb && i < t->nsb; i++)
		for (struct cpm_chat_sess *s = t->sb[i], *n; s; s = n) {
			n = s->hnext;
			sess_free(s);
		}
	for (size_t i = 0; t->pb && i < t->npb; i++)
		for (struct peer *p = t->pb[i], *n; p; p = n) {
			n = p->hnext;
			free(p);
		}
	free(t->sb);
	free(t->pb);
	free(t);
}

const char *cpm_chat_table_base(const struct cpm_chat_table *t)
{
	return t->base;
}

bool cpm_chat_uri_is_self(const struct cpm_chat_table *t, const struct cpm_msrp_uri *u)
{
	uint16_t port = u->has_port ? u->port : CPM_MSRP_DEFAULT_PORT;
	if (port != t->port || u->secure)
		return false;
	return cpm_str_ieq(u->host, cpm_str_from_cstr(t->host));
}

/* ---------------------------------------------------------------- sessions */

/* Double the buckets when the load passes 1 (rehashing in place). */
static void sess_grow(struct cpm_chat_table *t)
{
	if (t->nsess < t->nsb)
		return;
	size_t n = t->nsb * 2;
	struct cpm_chat_sess **nb = calloc(n, sizeof *nb);
	if (!nb)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < t->nsb; i++)
		for (struct cpm_chat_sess *s = t->sb[i], *nx; s; s = nx) {
			nx = s->hnext;
			size_t b = hash_bytes(s->id, CPM_CHAT_SID_LEN) & (n - 1);
			s->hnext = nb[b];
			nb[b] = s;
		}
	free(t->sb);
	t->sb = nb;
	t->nsb = n;
}

static struct cpm_chat_sess **sess_slot(struct cpm_chat_table *t, struct cpm_str id)
{
	struct cpm_chat_sess **pp = &t->sb[hash_bytes(id.s, id.len) & (t->nsb - 1)];
	while (*pp && !(id.len == CPM_CHAT_SID_LEN && memcmp((*pp)->id, id.s, id.len) == 0))
		pp = &(*pp)->hnext;
	return pp;
}

int cpm_chat_sess_add(struct cpm_chat_table *t, uint64_t conn_id, struct cpm_str client_uri,
		      const char *aor, uint64_t expires_ms, struct cpm_chat_sess **out)
{
	if (t->nsess >= t->max_sessions)
		return CPM_ELIMIT;
	struct cpm_chat_sess *s = calloc(1, sizeof *s);
	if (!s)
		return CPM_ENOMEM;
	s->client_uri = cpm_str_dup(client_uri);
	s->aor = cpm_str_dup(cpm_str_from_cstr(aor ? aor : ""));
	if (!s->client_uri || !s->aor) {
		sess_free(s);
		return CPM_ENOMEM;
	}
	/* 80 random bits: a session URI cannot be guessed (RFC 4976 §5) */
	for (int tries = 0;; tries++) {
		int rc = cpm_rand_hex(s->id, CPM_CHAT_SID_LEN / 2);
		if (rc || tries > 8) {
			sess_free(s);
			return rc ? rc : CPM_EEXIST;
		}
		if (!*sess_slot(t, (struct cpm_str){ s->id, CPM_CHAT_SID_LEN }))
			break;
	}
	s->conn_id = conn_id;
	s->expires_ms = expires_ms;
	sess_grow(t);
	struct cpm_chat_sess **pp = sess_slot(t, (struct cpm_str){ s->id, CPM_CHAT_SID_LEN });
	*pp = s;
	t->nsess++;
	*out = s;
	return 0;
}

int cpm_chat_sess_add_local(struct cpm_chat_table *t, void *local, struct cpm_chat_sess **out)
{
	int rc = cpm_chat_sess_add(t, 0, cpm_str_from_cstr(""), NULL, UINT64_MAX, out);
	if (!rc) {
		(*out)->kind = CPM_CHAT_SESS_LOCAL;
		(*out)->local = local;
	}
	return rc;
}

void cpm_chat_sess_del(struct cpm_chat_table *t, struct cpm_chat_sess *s)
{
	struct cpm_chat_sess **pp = sess_slot(t, (struct cpm_str){ s->id, CPM_CHAT_SID_LEN });
	if (*pp != s)
		return;
	*pp = s->hnext;
	t->nsess--;
	sess_free(s);
}

struct cpm_chat_sess *cpm_chat_sess_find(struct cpm_chat_table *t, struct cpm_str id,
					 uint64_t now_ms)
{
	if (id.len != CPM_CHAT_SID_LEN)
		return NULL;
	struct cpm_chat_sess *s = *sess_slot(t, id);
	if (s && s->expires_ms <= now_ms) {
		cpm_chat_sess_del(t, s);
		return NULL;
	}
	return s;
}

/* Remove the sessions for which drop(s, arg) is true. */
static size_t sess_sweep(struct cpm_chat_table *t, bool (*drop)(const struct cpm_chat_sess *s,
								 uint64_t arg),
			 uint64_t arg)
{
	size_t n = 0;
	for (size_t i = 0; i < t->nsb; i++) {
		struct cpm_chat_sess **pp = &t->sb[i];
		while (*pp) {
			struct cpm_chat_sess *s = *pp;
			if (drop(s, arg)) {
				*pp = s->hnext;
				sess_free(s);
				t->nsess--;
				n++;
			} else {
				pp = &s->hnext;
			}
		}
	}
	return n;
}

static bool of_conn(const struct cpm_chat_sess *s, uint64_t conn_id)
{
	return s->kind == CPM_CHAT_SESS_RELAY && s->conn_id == conn_id;
}

static bool expired(const struct cpm_chat_sess *s, uint64_t now_ms)
{
	return s->kind == CPM_CHAT_SESS_RELAY && s->expires_ms <= now_ms;
}

size_t cpm_chat_sess_drop_conn(struct cpm_chat_table *t, uint64_t conn_id)
{
	return t->nsess ? sess_sweep(t, of_conn, conn_id) : 0;
}

size_t cpm_chat_sess_expire(struct cpm_chat_table *t, uint64_t now_ms)
{
	return t->nsess ? sess_sweep(t, expired, now_ms) : 0;
}

size_t cpm_chat_sess_count(const struct cpm_chat_table *t)
{
	return t->nsess;
}

int cpm_chat_sess_uri(const struct cpm_chat_table *t, const struct cpm_chat_sess *s,
		      char *out, size_t outsz)
{
	int n = snprintf(out, outsz, "%s/%s;tcp", t->base, s->id);
	return n < 0 || (size_t)n >= outsz ? CPM_ETOOBIG : 0;
}

/* ------------------------------------------------------------------- peers */

int cpm_chat_uri_key(const struct cpm_msrp_uri *u, char *out, size_t outsz)
{
	uint16_t port = u->has_port ? u->port : CPM_MSRP_DEFAULT_PORT;
	if (!u->host.len || u->host.len + 8 > outsz)
		return CPM_ETOOBIG;
	lower_copy(out, u->host.s, u->host.len);
	snprintf(out + u->host.len, outsz - u->host.len, ":%u", port);
	return 0;
}

static struct peer **peer_slot(const struct cpm_chat_table *t, const char *key)
{
	struct peer **pp = &t->pb[hash_bytes(key, strlen(key)) & (t->npb - 1)];
	while (*pp && strcmp((*pp)->key, key) != 0)
		pp = &(*pp)->hnext;
	return pp;
}

static void peer_grow(struct cpm_chat_table *t)
{
	if (t->npeers < t->npb)
		return;
	size_t n = t->npb * 2;
	struct peer **nb = calloc(n, sizeof *nb);
	if (!nb)
		return;
	for (size_t i = 0; i < t->npb; i++)
		for (struct peer *p = t->pb[i], *nx; p; p = nx) {
			nx = p->hnext;
			size_t b = hash_bytes(p->key, strlen(p->key)) & (n - 1);
			p->hnext = nb[b];
			nb[b] = p;
		}
	free(t->pb);
	t->pb = nb;
	t->npb = n;
}

int cpm_chat_peer_set(struct cpm_chat_table *t, const char *key, uint64_t conn_id,
		      bool replace)
{
	struct peer **pp = peer_slot(t, key);
	if (*pp) {
		if (replace)
			(*pp)->conn_id = conn_id;
		return 0;
	}
	size_t kl = strlen(key);
	struct peer *p = malloc(sizeof *p + kl + 1);
	if (!p)
		return CPM_ENOMEM;
	memcpy(p->key, key, kl + 1);
	p->conn_id = conn_id;
	p->hnext = NULL;
	peer_grow(t);
	pp = peer_slot(t, key);
	*pp = p;
	t->npeers++;
	return 0;
}

uint64_t cpm_chat_peer_find(const struct cpm_chat_table *t, const char *key)
{
	struct peer *p = *peer_slot(t, key);
	return p ? p->conn_id : 0;
}

void cpm_chat_peer_del(struct cpm_chat_table *t, const char *key, uint64_t conn_id)
{
	struct peer **pp = peer_slot(t, key);
	if (!*pp || (*pp)->conn_id != conn_id)
		return;
	struct peer *p = *pp;
	*pp = p->hnext;
	free(p);
	t->npeers--;
}

/* ----------------------------------------------------------------- routing */

void cpm_chat_route_free(struct cpm_chat_route *r)
{
	cpm_buf_free(&r->to);
	cpm_buf_free(&r->from);
}

static int route_err(struct cpm_chat_route *r, int status, const char *why)
{
	r->hop = CPM_CHAT_HOP_ERROR;
	r->status = status;
	r->reason = why;
	return 0;
}

/* Move the first URI of r->to (first, a slice of it) to the front of
 * r->from (RFC 4976 §7.3: "the relay removes its URI from the To-Path and
 * puts it first in the From-Path"). */
static int shift(struct cpm_chat_route *r, struct cpm_str first, struct cpm_buf *tmp)
{
	int rc;
	cpm_buf_reset(tmp);
	if ((rc = cpm_buf_append_str(tmp, first)) || (rc = cpm_buf_append(tmp, " ", 1)) ||
	    (rc = cpm_buf_append_str(tmp, cpm_buf_str(&r->from))))
		return rc;
	struct cpm_buf x = r->from;
	r->from = *tmp;
	*tmp = x;
	/* the rest of To-Path, without the separating whitespace */
	const char *rest = first.s + first.len, *end = r->to.p + r->to.len;
	while (rest < end && (*rest == ' ' || *rest == '\t'))
		rest++;
	size_t n = (size_t)(end - rest);
	memmove(r->to.p, rest, n);
	r->to.len = n;
	r->to.p[n] = '\0';
	return 0;
}

int cpm_chat_route(struct cpm_chat_table *t, uint64_t src_conn, enum cpm_msrp_method m,
		   struct cpm_str to_path, struct cpm_str from_path, uint64_t now_ms,
		   struct cpm_chat_route *r)
{
	memset(r, 0, sizeof *r);
	/* the paths are bounded by the header section that carried them */
	cpm_buf_init(&r->to, SIZE_MAX / 4);
	cpm_buf_init(&r->from, SIZE_MAX / 4);
	struct cpm_buf tmp;
	cpm_buf_init(&tmp, SIZE_MAX / 4);
	int rc;
	if ((rc = cpm_buf_append_str(&r->to, cpm_str_trim(to_path))) ||
	    (rc = cpm_buf_append_str(&r->from, cpm_str_trim(from_path))))
		goto out;
	if (!r->from.len) {
		rc = route_err(r, 400, "no From-Path");
		goto out;
	}
	for (;;) {
		struct cpm_str cur = cpm_buf_str(&r->to);
		struct cpm_msrp_uri u1, u2;
		int n1 = cpm_msrp_path_next(&cur, &u1);
		if (n1 <= 0) {
			rc = route_err(r, 400, n1 ? "bad To-Path URI" : "empty To-Path");
			goto out;
		}
		if (!cpm_chat_uri_is_self(t, &u1)) {
			if (r->steps == 0 && src_conn) {
				/* RFC 4975 §7.3.1: not a session of ours */
				rc = route_err(r, 481, "To-Path is not for this relay");
				goto out;
			}
			/* the next hop after our URIs (or a generated request) */
			r->next = u1;
			r->hop = CPM_CHAT_HOP_URI;
			if (cpm_chat_uri_key(&u1, r->key, sizeof r->key))
				rc = route_err(r, 400, "next hop URI too long");
			goto out;
		}
		int n2 = cpm_msrp_path_next(&cur, &u2);
		if (n2 < 0) {
			rc = route_err(r, 400, "bad To-Path URI");
			goto out;
		}
		if (m == CPM_MSRP_AUTH && n2 == 0 && r->steps == 0) {
			r->hop = CPM_CHAT_HOP_AUTH;
			goto out;
		}
		struct cpm_chat_sess *s = cpm_chat_sess_find(t, u1.session_id, now_ms);
		if (!s) {
			rc = route_err(r, 481, u1.session_id.len ? "unknown or expired session"
								 : "no session in the relay URI");
			goto out;
		}
		if (s->kind == CPM_CHAT_SESS_LOCAL) {
			/* the server is the endpoint: the path must end here */
			if (n2 != 0) {
				rc = route_err(r, 481, "To-Path goes on past a local session");
				goto out;
			}
			r->sess = s;
			r->next = u1;
			r->hop = CPM_CHAT_HOP_LOCAL;
			goto out;
		}
		if (n2 == 0) {
			/* a relay session is not an endpoint */
			rc = route_err(r, 481, "To-Path ends at the relay");
			goto out;
		}
		/* RFC 4976 §7.3: forward only for the authenticated client:
		 * what it sends (on its connection), or what goes to it */
		struct cpm_msrp_uri cu;
		bool inbound = cpm_msrp_uri_parse(cpm_str_from_cstr(s->client_uri), &cu) == 0 &&
			       cpm_msrp_uri_eq(&u2, &cu);
		bool outbound = src_conn && src_conn == s->conn_id;
		if (!inbound && !outbound) {
			rc = route_err(r, 403, "session of another client");
			goto out;
		}
		if (++r->steps > CPM_CHAT_MAX_HOPS) {
			rc = route_err(r, 400, "too many relay hops");
			goto out;
		}
		r->sess = s;
		if ((rc = shift(r, u1.whole, &tmp)))
			goto out;
		if (inbound) {
			/* to the client, on its connection (RFC 4976 §6: the
			 * relay cannot reach a client otherwise) */
			cur = cpm_buf_str(&r->to);
			if (cpm_msrp_path_next(&cur, &r->next) != 1) {
				rc = route_err(r, 400, "bad To-Path URI");
				goto out;
			}
			r->hop = CPM_CHAT_HOP_CLIENT;
			r->conn_id = s->conn_id;
			goto out;
		}
	}
out:
	cpm_buf_free(&tmp);
	if (rc)
		cpm_chat_route_free(r);
	return rc;
}
