/* Location service: the bindings of every AoR, in memory, indexed by AoR and
 * by Contact URI (so in-dialog requests to a registered contact can reuse
 * its flow).  Persistence is the registrar's job (core_reg.c). */
#include "core/core_int.h"

#include <stdlib.h>
#include <string.h>

uint64_t cpm_core__hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

int cpm_core__loc_init(struct cpm_core_loc *l)
{
	memset(l, 0, sizeof *l);
	l->naor_buckets = l->ncontact_buckets = 1024;
	l->aors = calloc(l->naor_buckets, sizeof *l->aors);
	l->contacts = calloc(l->ncontact_buckets, sizeof *l->contacts);
	if (!l->aors || !l->contacts) {
		free(l->aors);
		free(l->contacts);
		return CPM_ENOMEM;
	}
	return 0;
}

void cpm_core__loc_cleanup(struct cpm_core_loc *l)
{
	for (size_t i = 0; i < l->naor_buckets; i++) {
		struct cpm_core_aor *a = l->aors[i];
		while (a) {
			struct cpm_core_aor *an = a->hnext;
			struct cpm_core_binding *b = a->bindings;
			while (b) {
				struct cpm_core_binding *bn = b->next;
				free(b);
				b = bn;
			}
			free(a);
			a = an;
		}
	}
	free(l->aors);
	free(l->contacts);
	memset(l, 0, sizeof *l);
}

/* Grow a chained table to twice its size when the load passes 1. */
static void grow_aors(struct cpm_core_loc *l)
{
	size_t n = l->naor_buckets * 2;
	struct cpm_core_aor **t = calloc(n, sizeof *t);
	if (!t)
		return; /* keep the longer chains */
	for (size_t i = 0; i < l->naor_buckets; i++) {
		struct cpm_core_aor *a = l->aors[i];
		while (a) {
			struct cpm_core_aor *an = a->hnext;
			size_t k = cpm_core__hash(a->aor, strlen(a->aor)) & (n - 1);
			a->hnext = t[k];
			t[k] = a;
			a = an;
		}
	}
	free(l->aors);
	l->aors = t;
	l->naor_buckets = n;
}

static void grow_contacts(struct cpm_core_loc *l)
{
	size_t n = l->ncontact_buckets * 2;
	struct cpm_core_binding **t = calloc(n, sizeof *t);
	if (!t)
		return;
	for (size_t i = 0; i < l->ncontact_buckets; i++) {
		struct cpm_core_binding *b = l->contacts[i];
		while (b) {
			struct cpm_core_binding *bn = b->cnext;
			size_t k = cpm_core__hash(b->contact, strlen(b->contact)) & (n - 1);
			b->cnext = t[k];
			t[k] = b;
			b = bn;
		}
	}
	free(l->contacts);
	l->contacts = t;
	l->ncontact_buckets = n;
}

struct cpm_core_aor *cpm_core__loc_aor(struct cpm_core_loc *l, const char *aor,
				       bool create)
{
	size_t len = strlen(aor);
	size_t k = cpm_core__hash(aor, len) & (l->naor_buckets - 1);
	for (struct cpm_core_aor *a = l->aors[k]; a; a = a->hnext)
		if (strcmp(a->aor, aor) == 0)
			return a;
	if (!create || len >= sizeof ((struct cpm_core_aor *)0)->aor)
		return NULL;
	struct cpm_core_aor *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	memcpy(a->aor, aor, len + 1);
	a->hnext = l->aors[k];
	l->aors[k] = a;
	if (++l->naors > l->naor_buckets)
		grow_aors(l);
	return a;
}

static void contact_link(struct cpm_core_loc *l, struct cpm_core_binding *b)
{
	size_t k = cpm_core__hash(b->contact, strlen(b->contact)) &
		   (l->ncontact_buckets - 1);
	b->cnext = l->contacts[k];
	l->contacts[k] = b;
}

static void contact_unlink(struct cpm_core_loc *l, struct cpm_core_binding *b,
			   const char *contact)
{
	size_t k = cpm_core__hash(contact, strlen(contact)) & (l->ncontact_buckets - 1);
	for (struct cpm_core_binding **pp = &l->contacts[k]; *pp; pp = &(*pp)->cnext)
		if (*pp == b) {
			*pp = b->cnext;
			return;
		}
}

struct cpm_core_binding *cpm_core__loc_add(struct cpm_core_loc *l,
					   struct cpm_core_aor *a,
					   const struct cpm_core_binding *src)
{
	struct cpm_core_binding *b = malloc(sizeof *b);
	if (!b)
		return NULL;
	*b = *src;
	b->aor = a;
	/* keep the list ordered by q, highest first (RFC 3261 §16.6 order) */
	struct cpm_core_binding **pp = &a->bindings;
	while (*pp && (*pp)->q1000 >= b->q1000)
		pp = &(*pp)->next;
	b->next = *pp;
	*pp = b;
	a->nbindings++;
	contact_link(l, b);
	if (++l->nbindings > l->ncontact_buckets)
		grow_contacts(l);
	return b;
}

static void aor_drop_if_empty(struct cpm_core_loc *l, struct cpm_core_aor *a)
{
	if (a->bindings)
		return;
	size_t k = cpm_core__hash(a->aor, strlen(a->aor)) & (l->naor_buckets - 1);
	for (struct cpm_core_aor **pp = &l->aors[k]; *pp; pp = &(*pp)->hnext)
		if (*pp == a) {
			*pp = a->hnext;
			l->naors--;
			free(a);
			return;
		}
}

void cpm_core__loc_remove(struct cpm_core_loc *l, struct cpm_core_binding *b)
{
	struct cpm_core_aor *a = b->aor;
	for (struct cpm_core_binding **pp = &a->bindings; *pp; pp = &(*pp)->next)
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	a->nbindings--;
	contact_unlink(l, b, b->contact);
	l->nbindings--;
	free(b);
	aor_drop_if_empty(l, a);
}

void cpm_core__loc_reindex(struct cpm_core_loc *l, struct cpm_core_binding *b,
			   const char *old_contact)
{
	contact_unlink(l, b, old_contact);
	contact_link(l, b);
}

struct cpm_core_binding *cpm_core__loc_by_contact(struct cpm_core_loc *l,
						  struct cpm_str contact)
{
	size_t k = cpm_core__hash(contact.s, contact.len) & (l->ncontact_buckets - 1);
	for (struct cpm_core_binding *b = l->contacts[k]; b; b = b->cnext)
		if (strlen(b->contact) == contact.len &&
		    memcmp(b->contact, contact.s, contact.len) == 0)
			return b;
	return NULL;
}

void cpm_core__loc_expire(struct cpm_core_loc *l, int64_t now,
			  void (*gone)(void *arg, const struct cpm_core_binding *b),
			  void *arg)
{
	for (size_t i = 0; i < l->naor_buckets; i++) {
		struct cpm_core_aor *a = l->aors[i];
		while (a) {
			struct cpm_core_aor *an = a->hnext;
			struct cpm_core_binding *b = a->bindings;
			while (b) {
				struct cpm_core_binding *bn = b->next;
				if (b->expires <= now) {
					if (gone)
						gone(arg, b);
					cpm_core__loc_remove(l, b); /* may free a */
				}
				b = bn;
			}
			a = an;
		}
	}
}
