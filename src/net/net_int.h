/* net — internal helpers shared by net/ and txn/: an intrusive chained hash
 * table keyed by a 64-bit hash (duplicate keys allowed; callers compare
 * their own full keys while walking a chain). */
#ifndef CPM_NET_INT_H
#define CPM_NET_INT_H

#include <stddef.h>
#include <stdint.h>

#include "lib/lib.h"

struct cpm_net__hnode {
	struct cpm_net__hnode *next;
	uint64_t key;
};

struct cpm_net__htab {
	struct cpm_net__hnode **b;
	size_t nb; /* power of two */
	size_t n;
};

#define cpm_net__container(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

int cpm_net__htab_init(struct cpm_net__htab *t, size_t nb);
void cpm_net__htab_free(struct cpm_net__htab *t);
/* Grows the table when the load passes 1 (growth failure is not an error:
 * the chains just get longer). */
void cpm_net__htab_add(struct cpm_net__htab *t, struct cpm_net__hnode *nd,
		       uint64_t key);
void cpm_net__htab_del(struct cpm_net__htab *t, struct cpm_net__hnode *nd);
/* First node with this key, then cpm_net__htab_next for the following. */
struct cpm_net__hnode *cpm_net__htab_first(const struct cpm_net__htab *t,
					   uint64_t key);
struct cpm_net__hnode *cpm_net__htab_next(const struct cpm_net__hnode *nd);

/* FNV-1a 64, chainable: h = cpm_net__hash(h, p, n), start with
 * CPM_NET__HASH_INIT. */
#define CPM_NET__HASH_INIT 0xcbf29ce484222325ULL
uint64_t cpm_net__hash(uint64_t h, const void *p, size_t n);
/* Same, ASCII-lowercasing every byte. */
uint64_t cpm_net__hash_lower(uint64_t h, const void *p, size_t n);

#endif
