/* The store front: URL dispatch, argument checks and AoR normalisation in
 * front of the backend vtables. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

static const struct cpm_store_ops *const backends[] = {
	&cpm_store_sqlite_ops,
};

int cpm_store_open_ex(const char *url, const struct cpm_store_options *opts,
		      struct cpm_store **out)
{
	*out = NULL;
	const char *colon = url ? strchr(url, ':') : NULL;
	if (!colon)
		return CPM_ESCHEME;
	struct cpm_str scheme = { url, (size_t)(colon - url) };
	const struct cpm_store_ops *ops = NULL;
	for (size_t i = 0; i < sizeof backends / sizeof *backends; i++)
		if (cpm_str_ieq_cstr(scheme, backends[i]->name))
			ops = backends[i];
	if (!ops)
		return CPM_ESCHEME;
	struct cpm_store *s = calloc(1, sizeof *s);
	if (!s)
		return CPM_ENOMEM;
	s->ops = ops;
	s->opts = opts ? *opts : CPM_STORE_OPTIONS_DEFAULT;
	int rc = ops->open(s, colon + 1);
	if (rc) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int cpm_store_open(const char *url, struct cpm_store **out)
{
	return cpm_store_open_ex(url, NULL, out);
}

void cpm_store_close(struct cpm_store *s)
{
	if (!s)
		return;
	s->ops->close(s);
	free(s);
}

const char *cpm_store_last_error(const struct cpm_store *s)
{
	return s ? s->errmsg : "";
}

/* ------------------------------------------------------------------- checks */

static bool bad_char(unsigned char c)
{
	return c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '"' ||
	       c == '@';
}

int cpm_store_aor_normalize(const char *aor, char *out, size_t outsz)
{
	if (!aor)
		return CPM_EINVAL;
	const char *at = strchr(aor, '@');
	if (!at || at == aor || !at[1])
		return CPM_EINVAL;
	for (const char *p = aor; p < at; p++)
		if (bad_char((unsigned char)*p))
			return CPM_EINVAL;
	const char *dom = at + 1;
	bool v6 = dom[0] == '[';
	for (const char *p = dom; *p; p++) {
		unsigned char c = (unsigned char)*p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '-' ||
			  (v6 && (c == ':' || (c == '[' && p == dom) ||
				  (c == ']' && !p[1])));
		if (!ok)
			return CPM_EINVAL;
	}
	if (v6 && dom[strlen(dom) - 1] != ']')
		return CPM_EINVAL;
	size_t n = strlen(aor);
	if (n >= outsz)
		return CPM_ETOOBIG;
	for (size_t i = 0; i < n; i++) {
		char c = aor[i];
		if (aor + i > at && c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		out[i] = c;
	}
	out[n] = '\0';
	return 0;
}

#define TERMINATED(arr) (memchr((arr), '\0', sizeof(arr)) != NULL)
#define TERMINATED_N(p, n) (memchr((p), '\0', (n)) != NULL)

static bool hex_or_empty(const char *h, size_t want)
{
	size_t n = strlen(h);
	if (n == 0)
		return true;
	if (n != want)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
			return false;
	return true;
}

static int check_user(const struct cpm_store_user *u, struct cpm_store_user *n)
{
	if (!u || !TERMINATED(u->aor) || !TERMINATED(u->realm) ||
	    !TERMINATED(u->ha1_md5) || !TERMINATED(u->ha1_sha256))
		return CPM_EINVAL;
	if (!hex_or_empty(u->ha1_md5, 32) || !hex_or_empty(u->ha1_sha256, 64))
		return CPM_EINVAL;
	*n = *u;
	return cpm_store_aor_normalize(u->aor, n->aor, sizeof n->aor) ? CPM_EINVAL
									 : 0;
}

static int check_binding(const struct cpm_store_binding *b,
			 struct cpm_store_binding *n)
{
	if (!b || !TERMINATED(b->aor) || !TERMINATED(b->contact) ||
	    !TERMINATED(b->instance) || !TERMINATED(b->path) ||
	    !TERMINATED(b->source) || !TERMINATED(b->call_id) ||
	    !TERMINATED(b->user_agent))
		return CPM_EINVAL;
	if (!b->contact[0] || b->q1000 < 0 || b->q1000 > 1000)
		return CPM_EINVAL;
	*n = *b;
	return cpm_store_aor_normalize(b->aor, n->aor, sizeof n->aor) ? CPM_EINVAL
									 : 0;
}

/* ----------------------------------------------------------------- wrappers */

int cpm_store_user_add(struct cpm_store *s, const struct cpm_store_user *u)
{
	struct cpm_store_user n;
	int rc = check_user(u, &n);
	return rc ? rc : s->ops->user_add(s, &n);
}

int cpm_store_user_del(struct cpm_store *s, const char *aor)
{
	char a[256];
	if (cpm_store_aor_normalize(aor, a, sizeof a))
		return CPM_EINVAL;
	return s->ops->user_del(s, a);
}

int cpm_store_user_get(struct cpm_store *s, const char *aor,
		       struct cpm_store_user *out)
{
	char a[256];
	if (cpm_store_aor_normalize(aor, a, sizeof a))
		return CPM_EINVAL;
	return s->ops->user_get(s, a, out);
}

int cpm_store_user_update(struct cpm_store *s, const struct cpm_store_user *u)
{
	struct cpm_store_user n;
	int rc = check_user(u, &n);
	return rc ? rc : s->ops->user_update(s, &n);
}

int cpm_store_user_list(struct cpm_store *s,
			int (*cb)(void *arg, const struct cpm_store_user *u),
			void *arg)
{
	if (!cb)
		return CPM_EINVAL;
	return s->ops->user_list(s, cb, arg);
}

int cpm_store_binding_put(struct cpm_store *s, const struct cpm_store_binding *b)
{
	struct cpm_store_binding n;
	int rc = check_binding(b, &n);
	return rc ? rc : s->ops->binding_put(s, &n);
}

int cpm_store_binding_del(struct cpm_store *s, const char *aor,
			  const char *contact)
{
	char a[256];
	if (cpm_store_aor_normalize(aor, a, sizeof a) || !contact || !*contact)
		return CPM_EINVAL;
	return s->ops->binding_del(s, a, contact);
}

int cpm_store_binding_del_aor(struct cpm_store *s, const char *aor)
{
	char a[256];
	if (cpm_store_aor_normalize(aor, a, sizeof a))
		return CPM_EINVAL;
	return s->ops->binding_del_aor(s, a);
}

int cpm_store_binding_list(struct cpm_store *s, int64_t now,
			   int (*cb)(void *arg,
				     const struct cpm_store_binding *b),
			   void *arg)
{
	if (!cb)
		return CPM_EINVAL;
	return s->ops->binding_list(s, now, cb, arg);
}

int cpm_store_binding_purge(struct cpm_store *s, int64_t now)
{
	return s->ops->binding_purge(s, now);
}

/* ----------------------------------------------------------------- messages */

static int check_msg(struct cpm_store_msg *m)
{
	if (!m || !TERMINATED(m->recipient) || !TERMINATED(m->sender) ||
	    !TERMINATED(m->sender_display) || !TERMINATED(m->call_id) ||
	    !TERMINATED(m->message_id) || !TERMINATED(m->content_type) ||
	    !TERMINATED(m->subject))
		return CPM_EINVAL;
	if (!m->sender[0] || !m->call_id[0] || !m->content_type[0] ||
	    (!m->body && m->body_len) || m->kind < CPM_STORE_MSG_MESSAGE ||
	    m->kind > CPM_STORE_MSG_DEFERRED || m->state < CPM_STORE_MSG_STORED ||
	    m->state > CPM_STORE_MSG_FAILED || m->flags < 0 || m->expires < 0)
		return CPM_EINVAL;
	if (m->body_len > CPM_STORE_MSG_BODY_MAX)
		return CPM_ETOOBIG;
	char a[256];
	if (cpm_store_aor_normalize(m->recipient, a, sizeof a))
		return CPM_EINVAL;
	memcpy(m->recipient, a, sizeof a);
	if (m->created == 0)
		m->created = cpm_wall_s();
	return 0;
}

int cpm_store_msg_put(struct cpm_store *s, struct cpm_store_msg *m)
{
	int rc = check_msg(m);
	return rc ? rc : s->ops->msg_put(s, m);
}

int cpm_store_msg_put_batch(struct cpm_store *s, struct cpm_store_msg *const *msgs,
			    size_t n, int *errs)
{
	if (!msgs && n)
		return CPM_EINVAL;
	int first = 0;
	for (size_t i = 0; i < n; i++) {
		int rc = check_msg(msgs[i]);
		if (errs)
			errs[i] = rc;
		if (rc && !first)
			first = rc;
	}
	if (first) {
		/* nothing is tried: the good ones may be retried */
		for (size_t i = 0; errs && i < n; i++)
			if (!errs[i])
				errs[i] = CPM_EAGAIN;
		return first;
	}
	return n ? s->ops->msg_put_batch(s, msgs, n, errs) : 0;
}

int cpm_store_msg_get(struct cpm_store *s, int64_t id, struct cpm_store_msg *out)
{
	if (!out)
		return CPM_EINVAL;
	out->body = NULL;
	out->body_len = 0;
	if (id <= 0)
		return CPM_ENOTFOUND;
	return s->ops->msg_get(s, id, out);
}

void cpm_store_msg_free_body(struct cpm_store_msg *m)
{
	if (!m)
		return;
	free((void *)m->body);
	m->body = NULL;
	m->body_len = 0;
}

static int msg_list(struct cpm_store *s, const char *aor, const char *device,
		    int64_t after_id, int limit, int64_t now,
		    int (*cb)(void *arg, const struct cpm_store_msg *m), void *arg)
{
	char a[256];
	if (!cb || limit < 0 || cpm_store_aor_normalize(aor, a, sizeof a))
		return CPM_EINVAL;
	return s->ops->msg_list(s, a, device, after_id, limit, now, cb, arg);
}

int cpm_store_msg_list_pending(struct cpm_store *s, const char *aor,
			       int64_t after_id, int limit, int64_t now,
			       int (*cb)(void *arg, const struct cpm_store_msg *m),
			       void *arg)
{
	return msg_list(s, aor, NULL, after_id, limit, now, cb, arg);
}

int cpm_store_msg_list_pending_device(
	struct cpm_store *s, const char *aor, const char *device, int64_t after_id,
	int limit, int64_t now, int (*cb)(void *arg, const struct cpm_store_msg *m),
	void *arg)
{
	if (!device || !*device)
		return CPM_EINVAL;
	return msg_list(s, aor, device, after_id, limit, now, cb, arg);
}

int cpm_store_msg_delivery_set(struct cpm_store *s, int64_t id,
			       const char *device, int state, int64_t now)
{
	if (!device || !*device || strlen(device) >= 256 ||
	    state < CPM_STORE_DLV_ATTEMPT || state > CPM_STORE_DLV_FAILED)
		return CPM_EINVAL;
	return s->ops->msg_delivery_set(s, id, device, state, now);
}

int cpm_store_msg_delivery_get(struct cpm_store *s, int64_t id,
			       const char *device,
			       struct cpm_store_msg_delivery *out)
{
	if (!device || !*device || !out)
		return CPM_EINVAL;
	return s->ops->msg_delivery_get(s, id, device, out);
}

int cpm_store_msg_state_set(struct cpm_store *s, int64_t id, int state)
{
	if (state < CPM_STORE_MSG_STORED || state > CPM_STORE_MSG_FAILED)
		return CPM_EINVAL;
	return s->ops->msg_state_set(s, id, state);
}

int cpm_store_msg_mark_delivered(struct cpm_store *s, int64_t id)
{
	return cpm_store_msg_state_set(s, id, CPM_STORE_MSG_DELIVERED);
}

int cpm_store_msg_del(struct cpm_store *s, int64_t id)
{
	return s->ops->msg_del(s, id);
}

int cpm_store_msg_expire(struct cpm_store *s, int64_t now,
			 int (*cb)(void *arg, const struct cpm_store_msg *m),
			 void *arg)
{
	if (!cb)
		return CPM_EINVAL;
	return s->ops->msg_expire(s, now, cb, arg);
}

int cpm_store_msg_usage(struct cpm_store *s, const char *aor, int64_t *count,
			int64_t *bytes)
{
	char a[256];
	if (!count || !bytes || cpm_store_aor_normalize(aor, a, sizeof a))
		return CPM_EINVAL;
	return s->ops->msg_usage(s, a, count, bytes);
}

int cpm_store_profile_get(struct cpm_store *s, const char *aor, char *text,
			  size_t sz)
{
	char a[256];
	if (!text || sz == 0 || cpm_store_aor_normalize(aor, a, sizeof a))
		return CPM_EINVAL;
	text[0] = '\0';
	return s->ops->profile_get(s, a, text, sz);
}

int cpm_store_profile_put(struct cpm_store *s, const char *aor,
			  const char *text)
{
	char a[256];
	if (!text || !*text || cpm_store_aor_normalize(aor, a, sizeof a))
		return CPM_EINVAL;
	size_t n = strnlen(text, CPM_STORE_PROFILE_MAX);
	if (n >= CPM_STORE_PROFILE_MAX)
		return CPM_ETOOBIG;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];
		if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
			return CPM_EINVAL;
	}
	return s->ops->profile_put(s, a, text, cpm_wall_s());
}

int cpm_store_msg_flags_update(struct cpm_store *s, int64_t id, int set, int clear)
{
	return id > 0 ? s->ops->msg_flags(s, id, set, clear) : CPM_EINVAL;
}

int cpm_store_profile_list(struct cpm_store *s,
			   int (*cb)(void *arg, const char *aor, const char *text),
			   void *arg)
{
	return cb ? s->ops->profile_list(s, cb, arg) : CPM_EINVAL;
}

int cpm_store_profile_stamp(struct cpm_store *s, int64_t *updated, int64_t *count)
{
	return updated && count ? s->ops->profile_stamp(s, updated, count) : CPM_EINVAL;
}

int cpm_store_txn(struct cpm_store *s, int op)
{
	return s->ops->txn(s, op);
}

/* -------------------------------------------------------------------- rooms */

/* Free text kept in a room (subject, nick): no control characters, as it
 * ends up in SIP headers, CPIM and terminals. */
static bool plain_text(const char *t)
{
	for (; *t; t++)
		if ((unsigned char)*t < 0x20 || *t == 0x7f)
			return false;
	return true;
}

static int norm(const char *in, char out[256])
{
	return in && TERMINATED_N(in, 256) && !cpm_store_aor_normalize(in, out, 256)
		       ? 0
		       : CPM_EINVAL;
}

int cpm_store_room_put(struct cpm_store *s, const struct cpm_store_room *r)
{
	if (!r || !TERMINATED(r->subject) || !plain_text(r->subject) ||
	    r->flags < 0 || (r->flags & ~CPM_STORE_ROOM_F_ALL) || r->history < -1 ||
	    r->history > CPM_STORE_ROOM_HISTORY_MAX)
		return CPM_EINVAL;
	struct cpm_store_room n = *r;
	if (norm(r->uri, n.uri) || norm(r->owner, n.owner))
		return CPM_EINVAL;
	if (n.created == 0)
		n.created = cpm_wall_s();
	return s->ops->room_put(s, &n);
}

int cpm_store_room_get(struct cpm_store *s, const char *uri,
		       struct cpm_store_room *out)
{
	char u[256];
	if (!out || norm(uri, u))
		return CPM_EINVAL;
	return s->ops->room_get(s, u, out);
}

int cpm_store_room_del(struct cpm_store *s, const char *uri)
{
	char u[256];
	return norm(uri, u) ? CPM_EINVAL : s->ops->room_del(s, u);
}

int cpm_store_room_list(struct cpm_store *s,
			int (*cb)(void *arg, const struct cpm_store_room *r),
			void *arg)
{
	return cb ? s->ops->room_list(s, NULL, cb, arg) : CPM_EINVAL;
}

int cpm_store_room_list_member(struct cpm_store *s, const char *aor,
			       int (*cb)(void *arg, const struct cpm_store_room *r),
			       void *arg)
{
	char a[256];
	if (!cb || norm(aor, a))
		return CPM_EINVAL;
	return s->ops->room_list(s, a, cb, arg);
}

int cpm_store_room_member_put(struct cpm_store *s,
			      const struct cpm_store_room_member *m)
{
	if (!m || !TERMINATED(m->nick) || !plain_text(m->nick) ||
	    m->role < CPM_STORE_ROOM_MEMBER || m->role > CPM_STORE_ROOM_OWNER)
		return CPM_EINVAL;
	struct cpm_store_room_member n = *m;
	if (norm(m->room, n.room) || norm(m->aor, n.aor))
		return CPM_EINVAL;
	if (n.added == 0)
		n.added = cpm_wall_s();
	return s->ops->room_member_put(s, &n);
}

int cpm_store_room_member_del(struct cpm_store *s, const char *room,
			      const char *aor)
{
	char r[256], a[256];
	if (norm(room, r) || norm(aor, a))
		return CPM_EINVAL;
	return s->ops->room_member_del(s, r, a);
}

int cpm_store_room_member_get(struct cpm_store *s, const char *room,
			      const char *aor, struct cpm_store_room_member *out)
{
	char r[256], a[256];
	if (!out || norm(room, r) || norm(aor, a))
		return CPM_EINVAL;
	return s->ops->room_member_get(s, r, a, out);
}

int cpm_store_room_member_list(
	struct cpm_store *s, const char *room,
	int (*cb)(void *arg, const struct cpm_store_room_member *m), void *arg)
{
	char r[256];
	if (!cb || norm(room, r))
		return CPM_EINVAL;
	return s->ops->room_member_list(s, r, cb, arg);
}

int cpm_store_room_msg_add(struct cpm_store *s, struct cpm_store_room_msg *m)
{
	if (!m || !TERMINATED(m->sender) || !TERMINATED(m->nick) ||
	    !TERMINATED(m->message_id) || !TERMINATED(m->content_type) ||
	    !m->sender[0] || !m->content_type[0] || !plain_text(m->nick) ||
	    (!m->body && m->body_len) || m->date < 0)
		return CPM_EINVAL;
	if (m->body_len > CPM_STORE_MSG_BODY_MAX)
		return CPM_ETOOBIG;
	char r[256];
	if (norm(m->room, r))
		return CPM_EINVAL;
	memcpy(m->room, r, sizeof r);
	if (m->date == 0)
		m->date = cpm_wall_s();
	return s->ops->room_msg_add(s, m);
}

int cpm_store_room_msg_last(
	struct cpm_store *s, const char *room, int n,
	int (*cb)(void *arg, const struct cpm_store_room_msg *m), void *arg)
{
	char r[256];
	if (!cb || n < 0 || norm(room, r))
		return CPM_EINVAL;
	return n ? s->ops->room_msg_list(s, r, n, 0, 0, cb, arg) : 0;
}

int cpm_store_room_msg_list(
	struct cpm_store *s, const char *room, int64_t after_id, int limit,
	int (*cb)(void *arg, const struct cpm_store_room_msg *m), void *arg)
{
	char r[256];
	if (!cb || limit < 0 || norm(room, r))
		return CPM_EINVAL;
	return s->ops->room_msg_list(s, r, 0, after_id, limit, cb, arg);
}

int cpm_store_room_msg_count(struct cpm_store *s, const char *room,
			     int64_t *count)
{
	char r[256];
	if (!count || norm(room, r))
		return CPM_EINVAL;
	return s->ops->room_msg_count(s, r, count);
}

int cpm_store_room_msg_trim(struct cpm_store *s, const char *room, int keep)
{
	char r[256];
	if (keep < 0 || norm(room, r))
		return CPM_EINVAL;
	return s->ops->room_msg_trim(s, r, keep);
}

int cpm_store_room_stamp(struct cpm_store *s, int64_t *updated, int64_t *count)
{
	return updated && count ? s->ops->room_stamp(s, updated, count) : CPM_EINVAL;
}
