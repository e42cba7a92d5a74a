/* The presence service: PUBLISH (RFC 3903) into the publication store, the
 * composed document of each user (PIDF, RFC 3863; registrations stand in
 * for users who publish nothing), the presence package (RFC 3856) and the
 * watcher-info package (RFC 3857/3858) over the subscription machinery,
 * the watchers' authorization (RFC 3856 §6.6) with the rules file, and the
 * presence-aware API of pres.h. */
#include "pres/pres_int.h"

#include "conf/conf.h"
#include "core/core.h"
#include "sip/sip.h"
#include "txn/txn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOC_MAX (4u * 1024 * 1024) /* a composed or watcher-info document */
#define RULES_POLL_MS 1000

typedef struct cpm_pres__sub sub_t;

/* The composed state of a user who has publications. */
struct pstate {
	uint64_t gen;          /* of the publications st was merged from */
	uint64_t doc_gen;      /* ... and doc composed from (lazily) */
	struct cpm_buf doc;
	struct cpm_pres_state st;
	bool open;             /* at the last change, registrations included */
};

static void pstate_free(void *v)
{
	struct pstate *ps = v;
	cpm_buf_free(&ps->doc);
	free(ps);
}

/* ------------------------------------------------------- composed state */

static void count_binding(void *arg, const char *aor, const char *contact, const char *device)
{
	(*(unsigned *)arg)++;
}

/* Registration state, read at the moment it is needed (core has no
 * "binding changed" notification for services yet). */
static bool registered(struct cpm_pres *p, const char *aor)
{
	unsigned n = 0;
	cpm_core_foreach_binding_of(p->core, aor, count_binding, &n);
	return n > 0;
}

/* The composed state of aor, and its document into out (may be NULL). */
static int current(struct cpm_pres *p, const char *aor, struct cpm_buf *out,
		   struct cpm_pres_state *st)
{
	char entity[CPM_PRES_AOR_LEN + 8];
	snprintf(entity, sizeof entity, "sip:%s", aor);
	unsigned max = (unsigned)p->conf->presence.max_publications_per_user;
	uint64_t gen = cpm_pres_pubs_gen(p->pubs, aor);
	bool reg = registered(p, aor);
	bool closed_offline = strcmp(p->conf->presence.unregistered, "closed") == 0;
	if (gen == 0 || (closed_offline && !reg)) {
		/* nothing published (or the user is offline and that wins):
		 * one tuple from the registrations */
		int basic = gen == 0 && p->conf->presence.from_registration && reg;
		memset(st, 0, sizeof *st);
		st->open = basic;
		return out ? cpm_pres_pidf_compose(entity, NULL, 0, basic, out, NULL) : 0;
	}
	struct pstate *ps = cpm_pres__map_get(&p->docs, aor);
	if (!ps) {
		ps = calloc(1, sizeof *ps);
		if (!ps)
			return CPM_ENOMEM;
		cpm_buf_init(&ps->doc, DOC_MAX);
		if (cpm_pres__map_put(&p->docs, aor, ps)) {
			pstate_free(ps);
			return CPM_ENOMEM;
		}
	}
	if (ps->gen == gen && (!out || ps->doc_gen == gen)) {
		*st = ps->st;
		return out ? cpm_buf_append(out, ps->doc.p, ps->doc.len) : 0;
	}
	const struct cpm_pres_pub **list = calloc(max, sizeof *list);
	struct cpm_pres_pidf **docs = calloc(max, sizeof *docs);
	int rc = list && docs ? 0 : CPM_ENOMEM;
	size_t n = rc ? 0 : cpm_pres_pubs_of(p->pubs, aor, list, max);
	for (size_t i = 0; i < n; i++)
		docs[i] = list[i]->pidf;
	if (!rc && !out) {
		/* the state only (a PUBLISH nobody watches): no document */
		cpm_pres_pidf_merge(docs, n, &ps->st);
		ps->gen = gen;
	} else if (!rc) {
		cpm_buf_reset(&ps->doc);
		rc = cpm_pres_pidf_compose(entity, docs, n, -1, &ps->doc, &ps->st);
		ps->gen = ps->doc_gen = rc ? 0 : gen;
	}
	free(list);
	free(docs);
	if (rc)
		return rc;
	*st = ps->st;
	return out ? cpm_buf_append(out, ps->doc.p, ps->doc.len) : 0;
}

static void presence_state(sub_t *s)
{
	struct cpm_buf b;
	cpm_buf_init(&b, DOC_MAX);
	struct cpm_pres_state st;
	int rc = current(s->p, s->aor, &b, &st);
	if (rc) {
		cpm_logw(s->call_id, "presence of %s: %s", s->aor, cpm_strerror(rc));
		cpm_pres__sub_notify_failed(s);
	} else {
		cpm_pres__sub_notify(s, b.p, b.len);
	}
	cpm_buf_free(&b);
}

static void arm_pub_timer(struct cpm_pres *p);

/* aor's publications changed: watchers, the open hook, the timer. */
static void pubs_changed(struct cpm_pres *p, const char *aor, bool was_open)
{
	struct cpm_pres_state st;
	bool open = current(p, aor, NULL, &st) == 0 && st.open;
	struct pstate *ps = cpm_pres__map_get(&p->docs, aor);
	if (cpm_pres_pubs_gen(p->pubs, aor) == 0) {
		if (ps)
			pstate_free(cpm_pres__map_del(&p->docs, aor));
	} else if (ps) {
		ps->open = open;
	}
	cpm_logd(aor, "presence of %s: %s%s%s", aor, open ? "open" : "closed",
		 cpm_pres_state_busy(&st) ? ", busy" : "", st.note[0] ? ", with a note" : "");
	cpm_pres__notify_aor(p, aor, &cpm_pres__presence_pkg);
	if (!was_open && open && !p->stopping) {
		cpm_logi(aor, "%s is back (presence open)", aor);
		for (int i = 0; i < p->nopen; i++)
			p->open_cbs[i].cb(p->open_cbs[i].arg, aor);
	}
	arm_pub_timer(p);
}

static void expired_one(void *arg, const char *aor)
{
	struct cpm_pres *p = arg;
	struct pstate *ps = cpm_pres__map_get(&p->docs, aor);
	cpm_logi(aor, "a publication of %s expired", aor);
	pubs_changed(p, aor, ps && ps->open);
}

static void on_pub_timer(uv_timer_t *t)
{
	struct cpm_pres *p = t->data;
	cpm_pres_pubs_expire(p->pubs, cpm_wall_s(), expired_one, p);
	arm_pub_timer(p);
}

static void arm_pub_timer(struct cpm_pres *p)
{
	if (p->stopping || !p->pub_timer)
		return;
	int64_t next = cpm_pres_pubs_next_expiry(p->pubs);
	if (next == INT64_MAX) {
		uv_timer_stop(p->pub_timer);
		return;
	}
	int64_t now = cpm_wall_s();
	uint64_t ms = next > now ? (uint64_t)(next - now) * 1000 : 0;
	uv_timer_start(p->pub_timer, on_pub_timer, ms, 0);
}

/* --------------------------------------------------------------- PUBLISH */

static void answer_pub(struct cpm_pres *p, struct cpm_txn *st, const char *etag, int64_t e)
{
	char extra[128];
	if (etag)
		snprintf(extra, sizeof extra, "SIP-ETag: %s\r\nExpires: %lld\r\n", etag,
			 (long long)e);
	else
		snprintf(extra, sizeof extra, "Expires: %lld\r\n", (long long)e);
	cpm_pres__reply(p, st, 200, NULL, NULL, extra);
}

/* The body of a PUBLISH, parsed; 0 with *out NULL when there is none, -1
 * when st was answered. */
static int publish_body(struct cpm_pres *p, struct cpm_txn *st, const struct cpm_sip_msg *req,
			struct cpm_pres_pidf **out)
{
	*out = NULL;
	if (!req->body.len)
		return 0;
	const struct cpm_sip_hdr *ct = cpm_sip_msg_hdr(req, CPM_SIP_H_CONTENT_TYPE);
	struct cpm_str mime = CPM_STR_NULL, params;
	if (!ct || cpm_sip_ctype_parse(ct->value, &mime, &params) ||
	    !cpm_str_ieq_cstr(mime, CPM_PRES_PIDF_TYPE)) {
		cpm_pres__reply(p, st, 415, NULL, NULL, "Accept: " CPM_PRES_PIDF_TYPE "\r\n");
		return -1;
	}
	if (req->body.len > p->conf->presence.max_pidf_size) {
		cpm_pres__reply(p, st, 413, NULL, NULL, NULL);
		return -1;
	}
	char err[128] = "", extra[256];
	int rc = cpm_pres_pidf_parse(req->body, out, err, sizeof err);
	if (rc == CPM_EPARSE) {
		/* the reason is ours (no peer text): RFC 3261 §20.43 Warning */
		snprintf(extra, sizeof extra, "Warning: 399 cpmd \"%s\"\r\n", err);
		cpm_pres__reply(p, st, 400, "Bad PIDF Document", NULL, extra);
		return -1;
	}
	if (rc) {
		cpm_pres__reply(p, st, 500, NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

/* RFC 3903 §6 steps 3-8, once the publisher is known to be the user. */
static void publish_checked(struct cpm_pres *p, struct cpm_txn *st, const char *aor)
{
	const struct cpm_sip_msg *req = cpm_txn_req(st);
	const char *ctx = NULL;
	char cid[128] = "";
	if (cpm_str_copy(req->call_id, cid, sizeof cid) == 0)
		ctx = cid;
	char etag[CPM_PRES_ETAG_LEN] = "";
	const struct cpm_sip_hdr *im = cpm_sip_msg_hdr(req, CPM_SIP_H_SIP_IF_MATCH);
	if (im && cpm_str_copy(cpm_str_trim(im->value), etag, sizeof etag)) {
		cpm_pres__reply(p, st, 412, NULL, NULL, NULL); /* too long: not ours */
		return;
	}
	if (im && !cpm_pres_pubs_find(p->pubs, aor, etag)) {
		/* step 3: no such publication (expired, or never ours) */
		cpm_pres__reply(p, st, 412, NULL, NULL, NULL);
		return;
	}
	int64_t e = cpm_pres__expires(p, st, req, NULL);
	if (e < 0)
		return;
	struct cpm_pres_pidf *doc;
	if (publish_body(p, st, req, &doc))
		return;
	struct cpm_pres_state before;
	bool was_open = current(p, aor, NULL, &before) == 0 && before.open;
	const struct cpm_pres_pub *pub = NULL;
	int rc = 0;
	if (im && e == 0) { /* removal */
		cpm_pres_pidf_free(doc);
		cpm_pres_pubs_remove(p->pubs, aor, etag);
		cpm_logi(ctx, "%s removed a publication", aor);
		answer_pub(p, st, NULL, 0);
		pubs_changed(p, aor, was_open);
		return;
	}
	if (im) { /* refresh (no body) or modify */
		bool modify = doc != NULL;
		rc = cpm_pres_pubs_update(p->pubs, aor, etag, doc, cpm_wall_s() + e, &pub);
		if (!rc) {
			cpm_logi(ctx, "%s %s publication %s -> %s for %lld s", aor,
				 modify ? "modified" : "refreshed", etag, pub->etag, (long long)e);
			answer_pub(p, st, pub->etag, e);
			if (modify)
				pubs_changed(p, aor, was_open);
			else
				arm_pub_timer(p);
			return;
		}
	} else if (!doc) {
		/* step 4: an initial publication carries the state */
		cpm_pres__reply(p, st, 400, "Missing Body", NULL, NULL);
		return;
	} else if (e == 0) {
		cpm_pres_pidf_free(doc); /* published and gone at once */
		answer_pub(p, st, NULL, 0);
		return;
	} else {
		/* the address of the device: one publication each */
		char source[CPM_PRES_SOURCE_LEN] = "", peer[CPM_NET_ADDR_STRLEN];
		const struct cpm_net_dest *src = cpm_txn_src(st);
		if (src && cpm_net_addr_print(&src->peer, peer, sizeof peer) >= 0)
			snprintf(source, sizeof source, "%s:%s", cpm_net_proto_name(src->proto), peer);
		const struct cpm_pres_pub *same =
			p->conf->presence.replace_same_source
				? cpm_pres_pubs_find_source(p->pubs, aor, source)
				: NULL;
		if (same) {
			snprintf(etag, sizeof etag, "%s", same->etag);
			rc = cpm_pres_pubs_update(p->pubs, aor, etag, doc, cpm_wall_s() + e, &pub);
		} else {
			bool evicted = false;
			rc = cpm_pres_pubs_add(p->pubs, aor, source, doc, cpm_wall_s() + e, &pub,
					       &evicted);
			if (evicted)
				cpm_logi(ctx, "%s had too many publications: the oldest went", aor);
		}
		if (!rc) {
			cpm_logi(ctx, "%s published %s for %lld s from %s%s", aor, pub->etag,
				 (long long)e, source, same ? " (replacing its previous one)" : "");
			answer_pub(p, st, pub->etag, e);
			pubs_changed(p, aor, was_open);
			return;
		}
	}
	if (rc == CPM_ELIMIT)
		cpm_pres__reply(p, st, 503, "Too Many Publications", NULL, "Retry-After: 60\r\n");
	else if (rc == CPM_ENOTFOUND)
		cpm_pres__reply(p, st, 412, NULL, NULL, NULL);
	else
		cpm_pres__reply(p, st, 500, NULL, NULL, NULL);
}

static void pub_user_checked(struct cpm_pres *p, struct cpm_txn *st, void *arg)
{
	publish_checked(p, st, arg);
}

void cpm_pres__publish(struct cpm_pres *p, struct cpm_txn *st, const struct cpm_sip_msg *req,
		       const struct cpm_net_dest *src, const char *aor, const char *from_aor)
{
	/* RFC 3903 §6 step 2: the event package */
	const struct cpm_sip_hdr *ev = cpm_sip_msg_hdr(req, CPM_SIP_H_EVENT);
	struct cpm_str v = ev ? ev->value : CPM_STR_NULL;
	long semi = cpm_str_chr(v, ';');
	if (semi >= 0)
		v.len = (size_t)semi;
	if (!cpm_str_ieq_cstr(cpm_str_trim(v), "presence")) {
		cpm_pres__reply(p, st, 489, NULL, NULL, "Allow-Events: presence\r\n");
		return;
	}
	/* step 1: only the user publishes their presence */
	char who[CPM_PRES_AOR_LEN];
	if (cpm_pres__identity(req, from_aor, who, sizeof who) || strcmp(who, aor) != 0) {
		cpm_pres__reply(p, st, 403, "Not Your Presence", NULL, NULL);
		return;
	}
	if (from_aor[0]) { /* authenticated: the user exists */
		publish_checked(p, st, aor);
		return;
	}
	/* a refresh, modify or removal of a publication we hold (RFC 3903 §6
	 * step 3 finds it): the user was looked up when it was made, no need to
	 * ask the store again (two PUBLISHes of three, in a device's life) */
	const struct cpm_sip_hdr *im = cpm_sip_msg_hdr(req, CPM_SIP_H_SIP_IF_MATCH);
	char etag[CPM_PRES_ETAG_LEN];
	if (im && cpm_str_copy(cpm_str_trim(im->value), etag, sizeof etag) == 0 &&
	    cpm_pres_pubs_find(p->pubs, aor, etag)) {
		publish_checked(p, st, aor);
		return;
	}
	/* a trusted source asserted the user: does it exist? */
	char *a = strdup(aor);
	if (!a) {
		cpm_pres__reply(p, st, 500, NULL, NULL, NULL);
		return;
	}
	cpm_pres__with_user(p, st, aor, pub_user_checked, a);
}

/* --------------------------------------------------------- authorization */

static int presence_authorize(struct cpm_pres *p, const char *aor, const char *watcher)
{
	if (strcmp(aor, watcher) == 0)
		return CPM_PRES__ACTIVE; /* one's own presence */
	switch (cpm_pres_rules_get(p->rules, aor, watcher)) {
	case CPM_PRES_RULE_ALLOW:
		return CPM_PRES__ACTIVE;
	case CPM_PRES_RULE_BLOCK:
		return 403;
	case CPM_PRES_RULE_PENDING:
		return CPM_PRES__PENDING;
	case CPM_PRES_RULE_NONE:
		break;
	}
	const char *pol = p->conf->presence.default_policy;
	if (strcmp(pol, "allow") == 0)
		return CPM_PRES__ACTIVE;
	if (strcmp(pol, "block") == 0)
		return 403;
	return CPM_PRES__PENDING;
}

struct rule_arg {
	const char *aor, *watcher;
	enum cpm_pres_rule rule;
	bool only_new; /* pending: only when there is no entry yet */
};

static int rule_apply(void *arg, struct cpm_pres_rules *r)
{
	struct rule_arg *a = arg;
	if (a->only_new && cpm_pres_rules_get(r, a->aor, a->watcher) != CPM_PRES_RULE_NONE)
		return 0;
	return cpm_pres_rules_set(r, a->aor, a->watcher, a->rule);
}

/* Every presence watcher of aor (NULL: of everyone) against the rules:
 * pending ones allowed become active, refused ones end. */
static void reevaluate(struct cpm_pres *p, const char *aor)
{
	for (sub_t *s = p->subs, *next; s; s = next) {
		next = s->next;
		if (s->pkg != &cpm_pres__presence_pkg || s->ending || (aor && strcmp(s->aor, aor)))
			continue;
		int d = presence_authorize(p, s->aor, s->watcher);
		if (d >= 300) {
			cpm_logi(s->call_id, "%s may no longer watch %s", s->watcher, s->aor);
			cpm_pres__sub_end(s, "rejected");
		} else if (d == CPM_PRES__ACTIVE && s->state == CPM_PRES__PENDING) {
			cpm_pres__sub_activate(s);
		} else if (d == CPM_PRES__PENDING && s->state == CPM_PRES__ACTIVE) {
			/* no longer allowed, not refused: subscribe again and
			 * wait (RFC 6665 §4.2.2 deactivated) */
			cpm_pres__sub_end(s, "deactivated");
		}
	}
	/* the lists changed: the watcher-info subscribers see it */
	for (sub_t *s = p->subs; s; s = s->next)
		if (s->pkg == &cpm_pres__winfo_pkg && (!aor || strcmp(s->aor, aor) == 0))
			cpm_pres__sub_changed(s);
}

static void on_rules_changed(uv_fs_poll_t *h, int status, const uv_stat_t *prev,
			     const uv_stat_t *curr)
{
	struct cpm_pres *p = h->data;
	if (p->stopping)
		return;
	struct cpm_pres_rules *r;
	char err[256] = "";
	if (cpm_pres_rules_new((unsigned)p->conf->presence.max_rules, &r))
		return;
	int rc = cpm_pres_rules_load(r, p->rules_path, err, sizeof err);
	if (rc) {
		cpm_logw(NULL, "%s: %s; the previous lists stay", p->rules_path, err);
		cpm_pres_rules_free(r);
		return;
	}
	cpm_pres_rules_free(p->rules);
	p->rules = r;
	cpm_logi(NULL, "presence lists reloaded from %s", p->rules_path);
	reevaluate(p, NULL);
}

static void presence_created(sub_t *s, bool pending)
{
	struct cpm_pres *p = s->p;
	if (pending &&
	    cpm_pres_rules_get(p->rules, s->aor, s->watcher) == CPM_PRES_RULE_NONE) {
		/* the confirm policy: the user decides later */
		struct rule_arg a = { s->aor, s->watcher, CPM_PRES_RULE_PENDING, true };
		char err[256] = "";
		int rc = cpm_pres_rules_update(p->rules, p->rules_path, rule_apply, &a, err,
					       sizeof err);
		if (rc) {
			cpm_logw(s->call_id, "pending watcher %s of %s not saved: %s", s->watcher,
				 s->aor, err[0] ? err : cpm_strerror(rc));
			rule_apply(&a, p->rules);
		}
	}
	cpm_pres__notify_aor(p, s->aor, &cpm_pres__winfo_pkg);
}

static void presence_ended(sub_t *s)
{
	cpm_pres__notify_aor(s->p, s->aor, &cpm_pres__winfo_pkg);
}

const struct cpm_pres__pkg cpm_pres__presence_pkg = {
	.name = "presence",
	.ctype = CPM_PRES_PIDF_TYPE,
	.throttled = true,
	.watcher = true,
	.authorize = presence_authorize,
	.state = presence_state,
	.created = presence_created,
	.ended = presence_ended,
};

/* ---------------------------------------------------------- watcher-info */

/* RFC 3857 §5.4: a user's watcher information is theirs alone. */
static int winfo_authorize(struct cpm_pres *p, const char *aor, const char *watcher)
{
	return strcmp(aor, watcher) == 0 ? CPM_PRES__ACTIVE : 403;
}

struct winfo_ctx {
	struct cpm_pres__winfo_list {
		struct cpm_pres_winfo_watcher *w;
		char (*uri)[CPM_PRES_AOR_LEN + 8];
		char (*id)[32];
		size_t n, cap;
	} l;
	struct cpm_pres *p;
	const char *aor;
};

static int winfo_add(struct winfo_ctx *c, const char *watcher, const char *id,
		     const char *status, const char *event, int64_t duration)
{
	struct cpm_pres__winfo_list *l = &c->l;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		void *w = realloc(l->w, cap * sizeof *l->w);
		if (w)
			l->w = w;
		void *u = realloc(l->uri, cap * sizeof *l->uri);
		if (u)
			l->uri = u;
		void *i = realloc(l->id, cap * sizeof *l->id);
		if (i)
			l->id = i;
		if (!w || !u || !i)
			return CPM_ENOMEM;
		l->cap = cap;
	}
	snprintf(l->uri[l->n], sizeof l->uri[l->n], "sip:%s", watcher);
	snprintf(l->id[l->n], sizeof l->id[l->n], "%s", id);
	l->w[l->n] = (struct cpm_pres_winfo_watcher){ .status = status,
						      .event = event,
						      .duration = duration };
	l->n++;
	return 0;
}

static void winfo_waiting(void *arg, const char *watcher, enum cpm_pres_rule r)
{
	struct winfo_ctx *c = arg;
	if (r != CPM_PRES_RULE_PENDING)
		return;
	for (sub_t *s = cpm_pres__subs_of(c->p, c->aor); s; s = s->anext)
		if (s->pkg == &cpm_pres__presence_pkg && !s->ending &&
		    strcmp(s->watcher, watcher) == 0)
			return; /* listed with its subscription */
	/* RFC 3857 §5.2 "waiting": asked, not decided, not subscribed now */
	char id[32];
	uint64_t h = 1469598103934665603ull;
	for (const char *q = watcher; *q; q++)
		h = (h ^ (unsigned char)*q) * 1099511628211ull;
	snprintf(id, sizeof id, "w%016llx", (unsigned long long)h);
	winfo_add(c, watcher, id, "waiting", "timeout", -1);
}

static void winfo_state(sub_t *s)
{
	struct cpm_pres *p = s->p;
	struct winfo_ctx c = { .p = p, .aor = s->aor };
	int64_t now = cpm_wall_s();
	int rc = 0;
	for (sub_t *w = cpm_pres__subs_of(p, s->aor); w && !rc; w = w->anext)
		if (w->pkg == &cpm_pres__presence_pkg && !w->ending)
			rc = winfo_add(&c, w->watcher, w->local_tag,
				       w->state == CPM_PRES__PENDING ? "pending" : "active",
				       w->wevent, now - w->created);
	if (!rc)
		cpm_pres_rules_each(p->rules, s->aor, winfo_waiting, &c);
	for (size_t i = 0; i < c.l.n; i++) {
		c.l.w[i].uri = c.l.uri[i];
		c.l.w[i].id = c.l.id[i];
	}
	struct cpm_buf b;
	cpm_buf_init(&b, DOC_MAX);
	char resource[CPM_PRES_AOR_LEN + 8];
	snprintf(resource, sizeof resource, "sip:%s", s->aor);
	if (!rc)
		rc = cpm_pres_winfo_doc(resource, s->version, c.l.w, c.l.n, &b);
	if (rc) {
		cpm_logw(s->call_id, "watcher-info of %s: %s", s->aor, cpm_strerror(rc));
		cpm_pres__sub_notify_failed(s);
	} else {
		s->version++; /* RFC 3858 §4.1: one more per document sent */
		cpm_pres__sub_notify(s, b.p, b.len);
	}
	cpm_buf_free(&b);
	free(c.l.w);
	free(c.l.uri);
	free(c.l.id);
}

const struct cpm_pres__pkg cpm_pres__winfo_pkg = {
	.name = "presence.winfo",
	.ctype = CPM_PRES_WINFO_TYPE,
	.throttled = true,
	.authorize = winfo_authorize,
	.state = winfo_state,
};

/* ------------------------------------------------------------- lifetime */

static void handle_closed(uv_handle_t *h)
{
	free(h);
}

int cpm_pres__presence_init(struct cpm_pres *p)
{
	int rc = cpm_pres_pubs_new((unsigned)p->conf->presence.max_publications_per_user,
				   (unsigned)p->conf->presence.max_publications, &p->pubs);
	if (!rc)
		rc = cpm_pres_rules_new((unsigned)p->conf->presence.max_rules, &p->rules);
	if (rc)
		return rc;
	if (snprintf(p->rules_path, sizeof p->rules_path, "%s/presence.json",
		     p->conf->server.data_dir) >= (int)sizeof p->rules_path)
		return CPM_ETOOBIG;
	char err[256] = "";
	rc = cpm_pres_rules_load(p->rules, p->rules_path, err, sizeof err);
	if (rc) {
		cpm_loge(NULL, "presence lists: %s", err);
		return rc;
	}
	p->pub_timer = calloc(1, sizeof *p->pub_timer);
	p->rules_poll = calloc(1, sizeof *p->rules_poll);
	if (!p->pub_timer || !p->rules_poll) {
		free(p->pub_timer);
		free(p->rules_poll);
		p->pub_timer = NULL;
		p->rules_poll = NULL;
		return CPM_ENOMEM;
	}
	uv_timer_init(p->loop, p->pub_timer);
	p->pub_timer->data = p;
	uv_fs_poll_init(p->loop, p->rules_poll);
	p->rules_poll->data = p;
	if (uv_fs_poll_start(p->rules_poll, on_rules_changed, p->rules_path, RULES_POLL_MS))
		cpm_logw(NULL, "%s: changes will not be seen until a restart", p->rules_path);
	return 0;
}

void cpm_pres__presence_stop(struct cpm_pres *p)
{
	if (p->pub_timer)
		uv_timer_stop(p->pub_timer);
	if (p->rules_poll)
		uv_fs_poll_stop(p->rules_poll);
}

void cpm_pres__presence_free(struct cpm_pres *p)
{
	if (p->pub_timer)
		uv_close((uv_handle_t *)p->pub_timer, handle_closed);
	if (p->rules_poll)
		uv_close((uv_handle_t *)p->rules_poll, handle_closed);
	p->pub_timer = NULL;
	p->rules_poll = NULL;
	cpm_pres__map_free(&p->docs, pstate_free);
	cpm_pres_pubs_free(p->pubs);
	cpm_pres_rules_free(p->rules);
}

/* ------------------------------------------------------------------ API */

bool cpm_pres_is_busy(struct cpm_pres *p, const char *aor)
{
	struct cpm_pres_state st;
	return p && current(p, aor, NULL, &st) == 0 && cpm_pres_state_busy(&st);
}

bool cpm_pres_is_open(struct cpm_pres *p, const char *aor)
{
	struct cpm_pres_state st;
	return p && current(p, aor, NULL, &st) == 0 && st.open;
}

void cpm_pres_on_missed(struct cpm_pres *p, cpm_pres_missed_cb *cb, void *arg)
{
	p->missed_cb = cb;
	p->missed_arg = arg;
}

int cpm_pres_on_open(struct cpm_pres *p, cpm_pres_open_cb *cb, void *arg)
{
	if (p->nopen == (int)(sizeof p->open_cbs / sizeof *p->open_cbs))
		return CPM_ELIMIT;
	p->open_cbs[p->nopen].cb = cb;
	p->open_cbs[p->nopen].arg = arg;
	p->nopen++;
	return 0;
}

int cpm_pres_document(struct cpm_pres *p, const char *aor, struct cpm_buf *out)
{
	struct cpm_pres_state st;
	return current(p, aor, out, &st);
}

int cpm_pres_rule_set(struct cpm_pres *p, const char *aor, const char *watcher,
		      enum cpm_pres_rule r)
{
	char a[CPM_PRES_AOR_LEN], w[CPM_PRES_AOR_LEN], err[256] = "";
	if (cpm_pres_watcher_norm(aor, a, sizeof a) || cpm_pres_watcher_norm(watcher, w, sizeof w))
		return CPM_EINVAL;
	struct rule_arg arg = { a, w, r, false };
	int rc = cpm_pres_rules_update(p->rules, p->rules_path, rule_apply, &arg, err, sizeof err);
	if (rc) {
		if (err[0])
			cpm_logw(NULL, "presence lists: %s", err);
		return rc;
	}
	reevaluate(p, a);
	return 0;
}

void cpm_pres_rule_each(struct cpm_pres *p, const char *aor,
			void (*cb)(void *arg, const char *watcher, enum cpm_pres_rule r),
			void *arg)
{
	cpm_pres_rules_each(p->rules, aor, cb, arg);
}
