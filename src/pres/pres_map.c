/* A string-keyed hash map (FNV-1a, chained, doubling), for the per-user
 * and per-dialog indexes of the pres module. */
#include "pres/pres_int.h"

#include <stdlib.h>
#include <string.h>

struct cpm_pres__map_ent {
	struct cpm_pres__map_ent *next;
	uint64_t h;
	void *val;
	char key[];
};

static uint64_t fnv(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

static struct cpm_pres__map_ent **slot(const struct cpm_pres__map *m, const char *key,
				       uint64_t h)
{
	struct cpm_pres__map_ent **e = &m->b[h & (m->nb - 1)];
	while (*e && ((*e)->h != h || strcmp((*e)->key, key) != 0))
		e = &(*e)->next;
	return e;
}

void *cpm_pres__map_get(const struct cpm_pres__map *m, const char *key)
{
	if (!m->nb)
		return NULL;
	struct cpm_pres__map_ent *e = *slot(m, key, fnv(key));
	return e ? e->val : NULL;
}

static int grow(struct cpm_pres__map *m)
{
	size_t nb = m->nb ? m->nb * 2 : 64;
	struct cpm_pres__map_ent **b = calloc(nb, sizeof *b);
	if (!b)
		return CPM_ENOMEM;
	for (size_t i = 0; i < m->nb; i++) {
		struct cpm_pres__map_ent *e = m->b[i], *next;
		for (; e; e = next) {
			next = e->next;
			e->next = b[e->h & (nb - 1)];
			b[e->h & (nb - 1)] = e;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
	return 0;
}

int cpm_pres__map_put(struct cpm_pres__map *m, const char *key, void *val)
{
	if (m->n >= m->nb && grow(m))
		return CPM_ENOMEM;
	uint64_t h = fnv(key);
	struct cpm_pres__map_ent **s = slot(m, key, h);
	if (*s) {
		(*s)->val = val;
		return 0;
	}
	size_t kl = strlen(key);
	struct cpm_pres__map_ent *e = malloc(sizeof *e + kl + 1);
	if (!e)
		return CPM_ENOMEM;
	e->next = NULL;
	e->h = h;
	e->val = val;
	memcpy(e->key, key, kl + 1);
	*s = e;
	m->n++;
	return 0;
}

void *cpm_pres__map_del(struct cpm_pres__map *m, const char *key)
{
	if (!m->nb)
		return NULL;
	struct cpm_pres__map_ent **s = slot(m, key, fnv(key)), *e = *s;
	if (!e)
		return NULL;
	void *val = e->val;
	*s = e->next;
	free(e);
	m->n--;
	return val;
}

void cpm_pres__map_each(const struct cpm_pres__map *m,
			void (*cb)(void *arg, const char *key, void *val), void *arg)
{
	for (size_t i = 0; i < m->nb; i++) {
		struct cpm_pres__map_ent *e = m->b[i], *next;
		for (; e; e = next) {
			next = e->next; /* cb may delete e */
			cb(arg, e->key, e->val);
		}
	}
}

void cpm_pres__map_free(struct cpm_pres__map *m, void (*fr)(void *val))
{
	for (size_t i = 0; i < m->nb; i++) {
		struct cpm_pres__map_ent *e = m->b[i], *next;
		for (; e; e = next) {
			next = e->next;
			if (fr)
				fr(e->val);
			free(e);
		}
	}
	free(m->b);
	memset(m, 0, sizeof *m);
}
