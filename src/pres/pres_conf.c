/* The conference event package (RFC 4575) over the subscription machinery:
 * SUBSCRIBE "Event: conference" to a room URI (the chat module says which
 * URIs are rooms; others are routed as usual), authorized for the room's
 * members (the owner included) and its current participants, 403 for
 * others, 404 when the store has no such room; the first NOTIFY and the one after
 * each refresh carry the whole state, the others what changed
 * (state="partial"), each with the next version of the subscription.  The
 * room code (src/chat) tells what happens through cpm_pres_conf_*. */
#include "pres/pres_int.h"

#include "conf/conf.h"
#include "store/store.h"
#include "txn/txn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DOC_MAX (4u * 1024 * 1024)

typedef struct cpm_pres__sub sub_t;

/* "sip:room@d" or "room@d" -> "room@d" (the form of a subscription's aor
 * and of the store's room URIs). */
static const char *room_key(const char *room)
{
	if (strncasecmp(room, "sip:", 4) == 0)
		return room + 4;
	if (strncasecmp(room, "sips:", 5) == 0)
		return room + 5;
	return room;
}

/* The deleted entries every watcher of room has seen go. */
static void prune(struct cpm_pres *p, const char *room)
{
	uint64_t min = UINT64_MAX;
	for (sub_t *s = cpm_pres__subs_of(p, room); s; s = s->anext)
		if (s->pkg == &cpm_pres__conf_pkg && !s->gone && s->seen < min)
			min = s->seen;
	cpm_pres_confs_prune(p->confs, room, min);
}

/* --------------------------------------------------------- the package */

static int conf_authorize(struct cpm_pres *p, const char *aor, const char *watcher)
{
	return CPM_PRES__ACTIVE; /* admit() decided */
}

static void conf_state(sub_t *s)
{
	struct cpm_pres *p = s->p;
	if (s->ending) {
		/* the terminating NOTIFY of an expiry: the state is moot */
		cpm_pres__sub_notify(s, NULL, 0);
		return;
	}
	if (s->refreshed) {
		/* RFC 6665 §4.2.1.2: after a refresh, the whole state */
		s->seen = 0;
		s->refreshed = false;
	}
	struct cpm_buf b;
	cpm_buf_init(&b, DOC_MAX);
	int rc = cpm_pres_confs_doc(p->confs, s->aor, s->version, &s->seen, &b);
	if (rc == 1) {
		cpm_pres__sub_notify_failed(s); /* nothing new for this one */
	} else if (rc) {
		cpm_logw(s->call_id, "conference state of %s: %s", s->aor, cpm_strerror(rc));
		cpm_pres__sub_notify_failed(s);
	} else {
		/* RFC 4575 §5.1: versions count the documents of the
		 * subscription */
		s->version++;
		cpm_pres__sub_notify(s, b.p, b.len);
		prune(p, s->aor);
	}
	cpm_buf_free(&b);
}

static void conf_ended(sub_t *s)
{
	prune(s->p, s->aor); /* s is unlinked already */
}

/* The checks of a new subscription: the room, then the watcher. */
struct admit {
	struct cpm_pres *p;
	struct cpm_txn *st;
	char room[CPM_PRES_AOR_LEN];
	char watcher[CPM_PRES_AOR_LEN];
	char from_aor[CPM_PRES_AOR_LEN];
	char event[32];
	int rc, member_rc;
	struct cpm_store_room r;
};

static void admit_work(struct cpm_store *st, void *arg)
{
	struct admit *a = arg;
	a->rc = cpm_store_room_get(st, a->room, &a->r);
	if (a->rc == 0 && strcmp(a->r.owner, a->watcher) != 0) {
		struct cpm_store_room_member m;
		a->member_rc = cpm_store_room_member_get(st, a->room, a->watcher, &m);
	}
}

static void admit_gone(void *owner, struct cpm_txn *t)
{
	struct admit *a = owner;
	a->st = NULL;
}

static void admit_done(void *arg)
{
	struct admit *a = arg;
	struct cpm_pres *p = a->p;
	struct cpm_txn *st = a->st;
	if (!st) {
		free(a);
		return;
	}
	cpm_txn_set_owner(st, NULL, NULL);
	char uri[CPM_PRES_AOR_LEN + 8];
	snprintf(uri, sizeof uri, "sip:%s", a->watcher);
	if (p->stopping) {
		cpm_pres__reply(p, st, 503, NULL, NULL, NULL);
	} else if (a->rc == CPM_ENOTFOUND) {
		cpm_pres__reply(p, st, 404, "No Such Conference", NULL, NULL);
	} else if (a->rc) {
		cpm_pres__reply(p, st, 500, "Storage Unavailable", NULL, NULL);
	} else if (a->member_rc && !cpm_pres_confs_has(p->confs, a->room, uri)) {
		/* members, the owner, and whoever takes part may watch */
		cpm_logi(a->room, "%s may not watch conference %s: not a member", a->watcher,
			 a->room);
		cpm_pres__reply(p, st, 403, "Members Only", NULL, NULL);
	} else {
		cpm_pres_confs_describe(p->confs, a->room, NULL, a->r.subject,
					(a->r.flags & CPM_STORE_ROOM_F_ADHOC) != 0);
		cpm_pres__sub_create(p, st, a->room, a->from_aor, &cpm_pres__conf_pkg, a->event);
	}
	free(a);
}

static void conf_admit(struct cpm_pres *p, struct cpm_txn *st, const char *aor,
		       const char *watcher, const char *from_aor, const char *event)
{
	struct admit *a = calloc(1, sizeof *a);
	if (!a) {
		cpm_pres__reply(p, st, 500, NULL, NULL, NULL);
		return;
	}
	a->p = p;
	a->st = st;
	snprintf(a->room, sizeof a->room, "%s", aor);
	snprintf(a->watcher, sizeof a->watcher, "%s", watcher);
	snprintf(a->from_aor, sizeof a->from_aor, "%s", from_aor);
	snprintf(a->event, sizeof a->event, "%s", event);
	cpm_txn_set_owner(st, a, admit_gone);
	if (cpm_store_worker_submit(p->store, admit_work, admit_done, a)) {
		cpm_txn_set_owner(st, NULL, NULL);
		cpm_pres__reply(p, st, 500, "Storage Unavailable", NULL, NULL);
		free(a);
	}
}

/* The rooms are the chat module's (its focus knows them, ad-hoc ones
 * included); any other URI, a user's included, is not ours. */
static bool conf_serves(struct cpm_pres *p, const char *aor)
{
	return p->rooms_cb && p->rooms_cb(p->rooms_arg, aor);
}

const struct cpm_pres__pkg cpm_pres__conf_pkg = {
	.name = "conference",
	.ctype = CPM_PRES_CONF_TYPE,
	.throttled = true, /* presence.min_notify_interval, changes merged */
	.authorize = conf_authorize,
	.state = conf_state,
	.ended = conf_ended,
	.admit = conf_admit,
	.serves = conf_serves,
};

int cpm_pres__conf_init(struct cpm_pres *p)
{
	return cpm_pres_confs_new((unsigned)p->conf->presence.max_conference_users, &p->confs);
}

void cpm_pres__conf_free(struct cpm_pres *p)
{
	cpm_pres_confs_free(p->confs);
	p->confs = NULL;
}

/* ---------------------------------------------------------------- API */

void cpm_pres_conf_set_rooms(struct cpm_pres *p, cpm_pres_conf_rooms_cb *cb, void *arg)
{
	if (!p)
		return;
	p->rooms_cb = cb;
	p->rooms_arg = arg;
}

static void changed(struct cpm_pres *p, const char *room)
{
	if (cpm_pres__subs_of(p, room))
		cpm_pres__notify_aor(p, room, &cpm_pres__conf_pkg);
	else
		prune(p, room); /* nobody watches: no deleted entry is kept */
}

int cpm_pres_conf_user(struct cpm_pres *p, const char *room, const struct cpm_pres_conf_user *u)
{
	if (!p || !p->confs || p->stopping)
		return 0;
	room = room_key(room);
	int rc = cpm_pres_confs_set(p->confs, room, u);
	if (rc == 1)
		changed(p, room);
	return rc < 0 ? rc : 0;
}

void cpm_pres_conf_left(struct cpm_pres *p, const char *room, const char *uri,
			enum cpm_pres_conf_disc how, const char *reason)
{
	if (!p || !p->confs || p->stopping)
		return;
	room = room_key(room);
	if (cpm_pres_confs_gone(p->confs, room, uri, how, reason, cpm_wall_s()) == 1)
		changed(p, room);
}

void cpm_pres_conf_describe(struct cpm_pres *p, const char *room, const char *display,
			    const char *subject, bool adhoc)
{
	if (!p || !p->confs || p->stopping)
		return;
	room = room_key(room);
	if (cpm_pres_confs_describe(p->confs, room, display, subject, adhoc) == 1)
		changed(p, room);
}

void cpm_pres_conf_end(struct cpm_pres *p, const char *room)
{
	if (!p || !p->confs)
		return;
	room = room_key(room);
	/* RFC 6665 §4.2.2: the resource is gone, "noresource" */
	for (sub_t *s = cpm_pres__subs_of(p, room), *next; s; s = next) {
		next = s->anext;
		if (s->pkg == &cpm_pres__conf_pkg)
			cpm_pres__sub_end(s, "noresource");
	}
	cpm_pres_confs_drop(p->confs, room);
}

unsigned cpm_pres_conf_watchers(struct cpm_pres *p, const char *room)
{
	unsigned n = 0;
	if (!p)
		return 0;
	for (sub_t *s = cpm_pres__subs_of(p, room_key(room)); s; s = s->anext)
		n += s->pkg == &cpm_pres__conf_pkg && !s->gone && !s->ending;
	return n;
}
