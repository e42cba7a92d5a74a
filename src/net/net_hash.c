/* Intrusive chained hash table for connections and transactions. */
#include "net/net_int.h"

#include <string.h>

#include <stdlib.h>

int cpm_net__htab_init(struct cpm_net__htab *t, size_t nb)
{
	size_t n = 16;
	while (n < nb)
		n *= 2;
	t->b = calloc(n, sizeof *t->b);
	if (!t->b)
		return CPM_ENOMEM;
	t->nb = n;
	t->n = 0;
	return 0;
}

void cpm_net__htab_free(struct cpm_net__htab *t)
{
	free(t->b);
	t->b = NULL;
	t->nb = t->n = 0;
}

static void htab_grow(struct cpm_net__htab *t)
{
	size_t nb = t->nb * 2;
	struct cpm_net__hnode **b = calloc(nb, sizeof *b);
	if (!b)
		return;
	for (size_t i = 0; i < t->nb; i++) {
		struct cpm_net__hnode *nd = t->b[i], *nx;
		for (; nd; nd = nx) {
			nx = nd->next;
			size_t j = nd->key & (nb - 1);
			nd->next = b[j];
			b[j] = nd;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

void cpm_net__htab_add(struct cpm_net__htab *t, struct cpm_net__hnode *nd,
		       uint64_t key)
{
	if (t->n >= t->nb)
		htab_grow(t);
	size_t i = key & (t->nb - 1);
	nd->key = key;
	nd->next = t->b[i];
	t->b[i] = nd;
	t->n++;
}

void cpm_net__htab_del(struct cpm_net__htab *t, struct cpm_net__hnode *nd)
{
	struct cpm_net__hnode **pp = &t->b[nd->key & (t->nb - 1)];
	for (; *pp; pp = &(*pp)->next) {
		if (*pp == nd) {
			*pp = nd->next;
			nd->next = NULL;
			t->n--;
			return;
		}
	}
}

struct cpm_net__hnode *cpm_net__htab_first(const struct cpm_net__htab *t,
					   uint64_t key)
{
	if (!t->nb)
		return NULL;
	struct cpm_net__hnode *nd = t->b[key & (t->nb - 1)];
	while (nd && nd->key != key)
		nd = nd->next;
	return nd;
}

struct cpm_net__hnode *cpm_net__htab_next(const struct cpm_net__hnode *nd)
{
	uint64_t key = nd->key;
	struct cpm_net__hnode *x = nd->next;
	while (x && x->key != key)
		x = x->next;
	return x;
}

uint64_t cpm_net__hash(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

uint64_t cpm_net__hash_lower(uint64_t h, const void *p, size_t n)
{
	/* Case-insensitive: every byte is OR-ed with 0x20, which folds 'A'
	 * onto 'a' (and a few non-letters onto others, harmless for a hash),
	 * eight bytes at a time. */
	const unsigned char *s = p;
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, s, 8);
		w |= 0x2020202020202020ULL;
		h ^= w;
		h *= 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
		s += 8;
		n -= 8;
	}
	while (n--) {
		h ^= (uint64_t)(*s++ | 0x20);
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 32;
	return h;
}
