/* The users of each conference with change generations: what a watcher of
 * the conference event package (RFC 4575) has not seen yet.  Pure: no I/O,
 * no logging. */
#include "pres/pres_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct cuser {
	char *uri, *display, *endpoint, *referred_by, *reason;
	enum cpm_pres_conf_role role;
	enum cpm_pres_conf_status status;
	enum cpm_pres_conf_joining joining;
	enum cpm_pres_conf_disc disc;
	int64_t joined, left;
	uint64_t gen;  /* of its last change */
	bool deleted;  /* gone: kept until every watcher saw it */
};

struct conf {
	struct cuser *u;
	size_t n, cap;
	size_t live;     /* not deleted */
	uint64_t floor;  /* deleted entries up to this generation were dropped
			  * before every watcher saw them */
	char *display, *subject;
	bool adhoc;
	uint64_t desc_gen; /* of the last description change */
};

struct cpm_pres_confs {
	struct cpm_pres__map rooms; /* room -> struct conf */
	uint64_t gen;
	unsigned max_users;
};

static void cuser_clear(struct cuser *u)
{
	free(u->uri);
	free(u->display);
	free(u->endpoint);
	free(u->referred_by);
	free(u->reason);
	memset(u, 0, sizeof *u);
}

static void conf_free(void *v)
{
	struct conf *c = v;
	for (size_t i = 0; i < c->n; i++)
		cuser_clear(&c->u[i]);
	free(c->u);
	free(c->display);
	free(c->subject);
	free(c);
}

int cpm_pres_confs_new(unsigned max_users, struct cpm_pres_confs **out)
{
	if (max_users < 1)
		return CPM_EINVAL;
	struct cpm_pres_confs *cs = calloc(1, sizeof *cs);
	if (!cs)
		return CPM_ENOMEM;
	cs->max_users = max_users;
	cs->gen = 1; /* a watcher's *seen is never 0 after a document */
	*out = cs;
	return 0;
}

void cpm_pres_confs_free(struct cpm_pres_confs *cs)
{
	if (!cs)
		return;
	cpm_pres__map_free(&cs->rooms, conf_free);
	free(cs);
}

static struct conf *conf_get(struct cpm_pres_confs *cs, const char *room, bool create)
{
	struct conf *c = cpm_pres__map_get(&cs->rooms, room);
	if (c || !create)
		return c;
	c = calloc(1, sizeof *c);
	if (c && cpm_pres__map_put(&cs->rooms, room, c)) {
		free(c);
		c = NULL;
	}
	return c;
}

static struct cuser *find(const struct conf *c, const char *uri)
{
	/* SIP URIs as the room code gives them (scheme and host are
	 * case-insensitive, RFC 3261 §19.1.4; users differ rarely by case) */
	for (size_t i = 0; c && i < c->n; i++)
		if (strcasecmp(c->u[i].uri, uri) == 0)
			return &c->u[i];
	return NULL;
}

static bool same(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Replace *dst with a copy of src ("" for NULL). */
static int set_str(char **dst, const char *src)
{
	char *d = strdup(src ? src : "");
	if (!d)
		return CPM_ENOMEM;
	free(*dst);
	*dst = d;
	return 0;
}

/* Remove entry i (order kept: documents list users as they came). */
static void remove_at(struct conf *c, size_t i)
{
	cuser_clear(&c->u[i]);
	memmove(&c->u[i], &c->u[i + 1], (c->n - i - 1) * sizeof *c->u);
	c->n--;
}

/* Room for one more entry: drop the oldest deleted one when full. */
static int make_room(struct cpm_pres_confs *cs, struct conf *c)
{
	if (c->live >= cs->max_users)
		return CPM_ELIMIT;
	if (c->n >= cs->max_users) {
		size_t oldest = c->n;
		for (size_t i = 0; i < c->n; i++)
			if (c->u[i].deleted && (oldest == c->n || c->u[i].gen < c->u[oldest].gen))
				oldest = i;
		if (oldest == c->n)
			return CPM_ELIMIT;
		/* watchers who had not seen it need the whole state again */
		if (c->u[oldest].gen > c->floor)
			c->floor = c->u[oldest].gen;
		remove_at(c, oldest);
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		struct cuser *u = realloc(c->u, cap * sizeof *u);
		if (!u)
			return CPM_ENOMEM;
		c->u = u;
		c->cap = cap;
	}
	return 0;
}

int cpm_pres_confs_set(struct cpm_pres_confs *cs, const char *room,
		       const struct cpm_pres_conf_user *u)
{
	if (!u->uri || !u->uri[0] || !room || !room[0])
		return CPM_EINVAL;
	struct conf *c = conf_get(cs, room, true);
	if (!c)
		return CPM_ENOMEM;
	struct cuser *e = find(c, u->uri);
	if (e && !e->deleted && same(e->display, u->display) && same(e->endpoint, u->endpoint) &&
	    same(e->referred_by, u->referred_by) && same(e->reason, u->reason) &&
	    e->role == u->role && e->status == u->status && e->joining == u->joining &&
	    e->joined == u->joined && e->disc == u->disc && e->left == u->left)
		return 0;
	if (!e) {
		int rc = make_room(cs, c);
		if (rc)
			return rc;
		e = &c->u[c->n];
		memset(e, 0, sizeof *e);
		if (set_str(&e->uri, u->uri))
			return CPM_ENOMEM;
		c->n++;
		e->deleted = true; /* counted live below */
	} else if (e->deleted && c->live >= cs->max_users) {
		return CPM_ELIMIT;
	}
	if (set_str(&e->display, u->display) || set_str(&e->endpoint, u->endpoint) ||
	    set_str(&e->referred_by, u->referred_by) || set_str(&e->reason, u->reason))
		return CPM_ENOMEM;
	if (e->deleted)
		c->live++;
	e->deleted = false;
	e->role = u->role;
	e->status = u->status;
	e->joining = u->joining;
	e->joined = u->joined;
	e->disc = u->disc;
	e->left = u->left;
	e->gen = ++cs->gen;
	return 1;
}

int cpm_pres_confs_gone(struct cpm_pres_confs *cs, const char *room, const char *uri,
			enum cpm_pres_conf_disc how, const char *reason, int64_t when)
{
	struct conf *c = conf_get(cs, room, false);
	struct cuser *e = find(c, uri);
	if (!e || e->deleted)
		return 0;
	if (set_str(&e->reason, reason))
		return CPM_ENOMEM;
	e->deleted = true;
	e->status = CPM_PRES_CONF_DISCONNECTED;
	e->disc = how;
	e->left = when;
	e->gen = ++cs->gen;
	c->live--;
	return 1;
}

int cpm_pres_confs_describe(struct cpm_pres_confs *cs, const char *room, const char *display,
			    const char *subject, bool adhoc)
{
	if (!room || !room[0])
		return CPM_EINVAL;
	struct conf *c = conf_get(cs, room, true);
	if (!c)
		return CPM_ENOMEM;
	if ((!display || same(c->display, display)) && (!subject || same(c->subject, subject)) &&
	    c->adhoc == adhoc)
		return 0;
	if ((display && set_str(&c->display, display)) || (subject && set_str(&c->subject, subject)))
		return CPM_ENOMEM;
	c->adhoc = adhoc;
	c->desc_gen = ++cs->gen;
	return 1;
}

bool cpm_pres_confs_has(const struct cpm_pres_confs *cs, const char *room, const char *uri)
{
	const struct cuser *e = find(cpm_pres__map_get(&cs->rooms, room), uri);
	return e && !e->deleted;
}

unsigned cpm_pres_confs_count(const struct cpm_pres_confs *cs, const char *room)
{
	const struct conf *c = cpm_pres__map_get(&cs->rooms, room);
	unsigned n = 0;
	for (size_t i = 0; c && i < c->n; i++)
		n += !c->u[i].deleted && c->u[i].status == CPM_PRES_CONF_CONNECTED;
	return n;
}

void cpm_pres_confs_drop(struct cpm_pres_confs *cs, const char *room)
{
	struct conf *c = cpm_pres__map_del(&cs->rooms, room);
	if (c)
		conf_free(c);
}

static void view(const struct cuser *e, struct cpm_pres_conf_user *u)
{
	*u = (struct cpm_pres_conf_user){
		.uri = e->uri,
		.display = e->display,
		.role = e->role,
		.endpoint = e->endpoint,
		.status = e->status,
		.joining = e->joining,
		.joined = e->joined,
		.referred_by = e->referred_by,
		.disc = e->disc,
		.reason = e->reason,
		.left = e->left,
		.deleted = e->deleted,
	};
}

int cpm_pres_confs_doc(struct cpm_pres_confs *cs, const char *room, unsigned version,
		       uint64_t *seen, struct cpm_buf *out)
{
	struct conf *c = conf_get(cs, room, false);
	/* full: a new watcher, a refresh (RFC 6665 §4.2.1.2 wants the whole
	 * state), or one who missed a deleted entry that is gone */
	bool full = *seen == 0 || (c && *seen < c->floor);
	if (!full) {
		bool changed = c && c->desc_gen > *seen;
		for (size_t i = 0; c && i < c->n && !changed; i++)
			changed = c->u[i].gen > *seen;
		if (!changed) {
			*seen = cs->gen;
			return 1;
		}
	}
	size_t n = c ? c->n : 0, k = 0;
	struct cpm_pres_conf_user *users = n ? calloc(n, sizeof *users) : NULL;
	if (n && !users)
		return CPM_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct cuser *e = &c->u[i];
		if (full ? !e->deleted : e->gen > *seen)
			view(e, &users[k++]);
	}
	char entity[CPM_PRES_AOR_LEN + 8];
	snprintf(entity, sizeof entity, "sip:%s", room);
	unsigned count = cpm_pres_confs_count(cs, room);
	struct cpm_pres_conf_info ci = {
		.entity = entity,
		.version = version,
		.partial = !full,
		.describe = c && (full || c->desc_gen > *seen),
		.display = c ? c->display : NULL,
		.subject = c ? c->subject : NULL,
		.adhoc = c && c->adhoc,
		.user_count = count,
		.active = count > 0,
		.users = users,
		.n = k,
	};
	int rc = cpm_pres_conf_doc(&ci, out);
	free(users);
	if (!rc)
		*seen = cs->gen;
	return rc;
}

void cpm_pres_confs_prune(struct cpm_pres_confs *cs, const char *room, uint64_t min_seen)
{
	struct conf *c = conf_get(cs, room, false);
	if (!c)
		return;
	for (size_t i = 0; i < c->n;)
		if (c->u[i].deleted && c->u[i].gen <= min_seen)
			remove_at(c, i);
		else
			i++;
	/* nobody left: the conference goes; its description too once
	 * nobody watches (the next watcher's admission describes it again) */
	if (!c->n && (!c->desc_gen || min_seen == UINT64_MAX))
		cpm_pres_confs_drop(cs, room);
}
