/* The publication store (RFC 3903 soft state): per user a list of
 * publications, newest first, each with its entity-tag; a heap orders
 * them all by expiry.  Pure: no I/O, no timers (the caller arms one). */
#include "pres/pres_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pub {
	struct cpm_pres_pub pub; /* first: handed out as a cpm_pres_pub */
	struct user *u;
	struct pub *next;        /* in u's list, highest seq first */
	size_t hi;               /* index in the heap */
};

struct user {
	struct pub *pubs;
	unsigned n;
	uint64_t gen;
	char aor[];
};

struct cpm_pres_pubs {
	unsigned max_per_user, max_total;
	struct cpm_pres__map users;
	struct pub **heap;
	size_t nheap, cap;
	uint64_t seq;
};

/* ------------------------------------------------------------------ heap */

static void heap_set(struct cpm_pres_pubs *ps, size_t i, struct pub *p)
{
	ps->heap[i] = p;
	p->hi = i;
}

static void heap_up(struct cpm_pres_pubs *ps, size_t i)
{
	struct pub *p = ps->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (ps->heap[parent]->pub.expires_at <= p->pub.expires_at)
			break;
		heap_set(ps, i, ps->heap[parent]);
		i = parent;
	}
	heap_set(ps, i, p);
}

static void heap_down(struct cpm_pres_pubs *ps, size_t i)
{
	struct pub *p = ps->heap[i];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		int64_t best = p->pub.expires_at;
		if (l < ps->nheap && ps->heap[l]->pub.expires_at < best) {
			m = l;
			best = ps->heap[l]->pub.expires_at;
		}
		if (r < ps->nheap && ps->heap[r]->pub.expires_at < best)
			m = r;
		if (m == i)
			break;
		heap_set(ps, i, ps->heap[m]);
		i = m;
	}
	heap_set(ps, i, p);
}

static void heap_fix(struct cpm_pres_pubs *ps, struct pub *p)
{
	heap_up(ps, p->hi);
	heap_down(ps, p->hi);
}

static void heap_remove(struct cpm_pres_pubs *ps, struct pub *p)
{
	size_t i = p->hi;
	struct pub *last = ps->heap[--ps->nheap];
	if (last == p)
		return;
	heap_set(ps, i, last);
	heap_up(ps, i);
	heap_down(ps, last->hi);
}

/* ---------------------------------------------------------------- users */

static struct user *user_get(struct cpm_pres_pubs *ps, const char *aor, bool create)
{
	struct user *u = cpm_pres__map_get(&ps->users, aor);
	if (u || !create)
		return u;
	size_t l = strlen(aor);
	u = calloc(1, sizeof *u + l + 1);
	if (!u)
		return NULL;
	memcpy(u->aor, aor, l + 1);
	if (cpm_pres__map_put(&ps->users, aor, u)) {
		free(u);
		return NULL;
	}
	return u;
}

static void unlink_pub(struct user *u, struct pub *p)
{
	for (struct pub **pp = &u->pubs; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			u->n--;
			return;
		}
}

static void push_front(struct user *u, struct pub *p)
{
	p->next = u->pubs;
	u->pubs = p;
	u->n++;
}

/* Drop p; frees its user when it was the last one. */
static void pub_drop(struct cpm_pres_pubs *ps, struct pub *p)
{
	struct user *u = p->u;
	heap_remove(ps, p);
	unlink_pub(u, p);
	cpm_pres_pidf_free(p->pub.pidf);
	free(p);
	u->gen = ++ps->seq;
	if (!u->n) {
		cpm_pres__map_del(&ps->users, u->aor);
		free(u);
	}
}

static void new_etag(char *etag)
{
	cpm_rand_hex(etag, 8);
}

/* ------------------------------------------------------------------ API */

int cpm_pres_pubs_new(unsigned max_per_user, unsigned max_total, struct cpm_pres_pubs **out)
{
	struct cpm_pres_pubs *ps = calloc(1, sizeof *ps);
	if (!ps)
		return CPM_ENOMEM;
	ps->max_per_user = max_per_user ? max_per_user : 1;
	ps->max_total = max_total ? max_total : 1;
	*out = ps;
	return 0;
}

static void free_user(void *val)
{
	struct user *u = val;
	struct pub *p = u->pubs, *next;
	for (; p; p = next) {
		next = p->next;
		cpm_pres_pidf_free(p->pub.pidf);
		free(p);
	}
	free(u);
}

void cpm_pres_pubs_free(struct cpm_pres_pubs *ps)
{
	if (!ps)
		return;
	cpm_pres__map_free(&ps->users, free_user);
	free(ps->heap);
	free(ps);
}

int cpm_pres_pubs_add(struct cpm_pres_pubs *ps, const char *aor, const char *source,
		      struct cpm_pres_pidf *pidf, int64_t expires_at,
		      const struct cpm_pres_pub **out, bool *evicted)
{
	*evicted = false;
	struct user *u = user_get(ps, aor, false);
	if (u && u->n >= ps->max_per_user) {
		/* the one that would expire first: a device that lost its
		 * entity-tag (a restart) stopped refreshing it */
		struct pub *old = u->pubs;
		for (struct pub *p = u->pubs; p; p = p->next)
			if (p->pub.expires_at < old->pub.expires_at)
				old = p;
		bool last = u->n == 1;
		pub_drop(ps, old);
		*evicted = true;
		if (last)
			u = NULL;
	}
	if (ps->nheap >= ps->max_total) {
		cpm_pres_pidf_free(pidf);
		return CPM_ELIMIT;
	}
	if (ps->nheap == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 64;
		struct pub **h = realloc(ps->heap, cap * sizeof *h);
		if (!h) {
			cpm_pres_pidf_free(pidf);
			return CPM_ENOMEM;
		}
		ps->heap = h;
		ps->cap = cap;
	}
	if (!u)
		u = user_get(ps, aor, true);
	struct pub *p = u ? calloc(1, sizeof *p) : NULL;
	if (!p) {
		if (u && !u->n) {
			cpm_pres__map_del(&ps->users, u->aor);
			free(u);
		}
		cpm_pres_pidf_free(pidf);
		return CPM_ENOMEM;
	}
	p->u = u;
	snprintf(p->pub.source, sizeof p->pub.source, "%s", source ? source : "");
	p->pub.pidf = pidf;
	p->pub.expires_at = expires_at;
	p->pub.seq = ++ps->seq;
	do
		new_etag(p->pub.etag);
	while (cpm_pres_pubs_find(ps, aor, p->pub.etag) != NULL);
	push_front(u, p);
	u->gen = p->pub.seq;
	ps->heap[ps->nheap] = p;
	p->hi = ps->nheap++;
	heap_up(ps, p->hi);
	*out = &p->pub;
	return 0;
}

static struct pub *find(const struct cpm_pres_pubs *ps, const char *aor, const char *etag)
{
	struct user *u = cpm_pres__map_get(&ps->users, aor);
	for (struct pub *p = u ? u->pubs : NULL; p; p = p->next)
		if (strcmp(p->pub.etag, etag) == 0)
			return p;
	return NULL;
}

const struct cpm_pres_pub *cpm_pres_pubs_find(const struct cpm_pres_pubs *ps, const char *aor,
					      const char *etag)
{
	struct pub *p = find(ps, aor, etag);
	return p ? &p->pub : NULL;
}

const struct cpm_pres_pub *cpm_pres_pubs_find_source(const struct cpm_pres_pubs *ps,
						     const char *aor, const char *source)
{
	struct user *u = cpm_pres__map_get(&ps->users, aor);
	for (struct pub *p = u ? u->pubs : NULL; p; p = p->next)
		if (source[0] && strcmp(p->pub.source, source) == 0)
			return &p->pub;
	return NULL;
}

int cpm_pres_pubs_update(struct cpm_pres_pubs *ps, const char *aor, const char *etag,
			 struct cpm_pres_pidf *pidf, int64_t expires_at,
			 const struct cpm_pres_pub **out)
{
	struct pub *p = find(ps, aor, etag);
	if (!p) {
		cpm_pres_pidf_free(pidf);
		return CPM_ENOTFOUND;
	}
	if (pidf) {
		cpm_pres_pidf_free(p->pub.pidf);
		p->pub.pidf = pidf;
		p->pub.seq = ++ps->seq;
		p->u->gen = p->pub.seq;
		unlink_pub(p->u, p);
		push_front(p->u, p);
	}
	char old[CPM_PRES_ETAG_LEN];
	memcpy(old, p->pub.etag, sizeof old);
	do
		new_etag(p->pub.etag);
	while (strcmp(p->pub.etag, old) == 0 || find(ps, aor, p->pub.etag) != p);
	p->pub.expires_at = expires_at;
	heap_fix(ps, p);
	*out = &p->pub;
	return 0;
}

int cpm_pres_pubs_remove(struct cpm_pres_pubs *ps, const char *aor, const char *etag)
{
	struct pub *p = find(ps, aor, etag);
	if (!p)
		return CPM_ENOTFOUND;
	pub_drop(ps, p);
	return 0;
}

size_t cpm_pres_pubs_of(const struct cpm_pres_pubs *ps, const char *aor,
			const struct cpm_pres_pub **out, size_t max)
{
	struct user *u = cpm_pres__map_get(&ps->users, aor);
	size_t n = 0;
	for (struct pub *p = u ? u->pubs : NULL; p && n < max; p = p->next)
		out[n++] = &p->pub;
	return n;
}

size_t cpm_pres_pubs_count(const struct cpm_pres_pubs *ps)
{
	return ps->nheap;
}

uint64_t cpm_pres_pubs_gen(const struct cpm_pres_pubs *ps, const char *aor)
{
	struct user *u = cpm_pres__map_get(&ps->users, aor);
	return u ? u->gen : 0;
}

int64_t cpm_pres_pubs_next_expiry(const struct cpm_pres_pubs *ps)
{
	return ps->nheap ? ps->heap[0]->pub.expires_at : INT64_MAX;
}

size_t cpm_pres_pubs_expire(struct cpm_pres_pubs *ps, int64_t now,
			    void (*cb)(void *arg, const char *aor), void *arg)
{
	size_t n = 0;
	while (ps->nheap && ps->heap[0]->pub.expires_at <= now) {
		struct pub *p = ps->heap[0];
		char aor[CPM_PRES_AOR_LEN];
		snprintf(aor, sizeof aor, "%s", p->u->aor);
		pub_drop(ps, p);
		n++;
		if (cb)
			cb(arg, aor);
	}
	return n;
}
