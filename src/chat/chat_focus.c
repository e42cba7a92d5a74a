/* The focus of predefined chat rooms (RFC 4579 focus, RFC 7701 switch).
 *
 * A core service: an out-of-dialog INVITE whose Request-URI is a room of
 * the store is answered here.  Members-only rooms refuse non-members (403);
 * the SDP answer (chat_sdp.c) names a fresh local MSRP session (chat_ep.c);
 * the 200 carries Contact <sip:room@...>;isfocus through core's dialog
 * layer.  Once the participant's MSRP session is bound it gets the room's
 * last N messages (chat.history, or the room's own setting), then live
 * traffic; each public message is stored in the room's history by the
 * store worker, off the loop.  BYE, a lost MSRP connection or a full queue
 * (the slow participant is dropped, with a BYE) end the participation.
 *
 * The rooms and their members are cached on the loop: a timer asks the
 * store for its room stamp (cpm_store_room_stamp) every second and reloads
 * when it moved, so `cpmd room add` while running takes effect within a
 * second without a store read per INVITE. */
#include "chat/chat_int.h"

#include "core/core.h"
#include "sip/sip.h"
#include "store/store.h"
#include "txn/txn.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FOCUS_REFRESH_MS 1000
#define FOCUS_DIAL_S 30 /* an invitee who does not answer by then: CANCEL */
#define FOCUS_BIND_MS 32000 /* a participant whose MSRP session is not bound
			     * by then is let go (RFC 4975 has no timer: ours) */
#define ACCEPT_TYPES "message/cpim text/plain application/im-iscomposing+xml"
#define ACCEPT_WRAPPED "text/plain application/im-iscomposing+xml *"

/* ------------------------------------------------------------------ cache */

struct cmember {
	char aor[256];
	char nick[64];
	int role; /* enum cpm_store_room_role */
};

struct croom {
	struct cpm_store_room room;
	struct cmember *members;
	size_t nmembers, cap;
};

struct cache {
	struct croom *rooms;
	size_t n, cap;
};

static void cache_free(struct cache *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->rooms[i].members);
	free(c->rooms);
	memset(c, 0, sizeof *c);
}

static const struct croom *cache_find(const struct cache *c, const char *uri)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcasecmp(c->rooms[i].room.uri, uri) == 0)
			return &c->rooms[i];
	return NULL;
}

static const struct cmember *croom_member(const struct croom *r, const char *aor)
{
	for (size_t i = 0; i < r->nmembers; i++)
		if (strcasecmp(r->members[i].aor, aor) == 0)
			return &r->members[i];
	return NULL;
}

/* ------------------------------------------------------------------ state */

struct held {
	struct held *next;
	size_t len;
	char body[];
};

struct lroom;

/* One participant: a dialog, a local MSRP session, a room member. */
struct part {
	struct cpm_chat_focus *f;
	uint64_t id;
	struct lroom *lr;
	struct cpm_chat_member *mb;
	struct cpm_chat_ep *ep;
	struct cpm_core_dlg *dlg;
	char aor[300]; /* "sip:alice@example.test" */
	char display[128]; /* of the INVITE's From, "" if none */
	bool hist_pending;
	bool bound;
	uint64_t joined_ms;
	int64_t joined_wall;
	/* dialled out (ad-hoc invitees, REFER; chat_adhoc.c, chat_refer.c) */
	bool dialing;             /* our INVITE is unanswered */
	bool dialed_out;
	char referred_by[300];    /* the REFERrer's URI, "" */
	cpm_chat__dial_cb *dial_done; /* the final answer, once */
	void *dial_arg;
	const char *doomed; /* a leg failure: it goes at the next sweep */
	struct held *held, *held_tail;
	size_t held_bytes;
	struct part *prev, *next;
};

/* A room with participants (kept while empty until the next sweep). */
struct lroom {
	struct cpm_chat_focus *f;
	char uri[256]; /* "lobby@example.test" */
	int history;
	struct cpm_chat_room *room;
	struct lroom *next;
};

struct cpm_chat_focus {
	struct cpm_core *core;
	struct cpm_chat_relay *relay;
	const struct cpm_conf *conf;
	uv_timer_t timer;
	bool timer_open, stopping, freeing;
	unsigned jobs; /* store jobs in flight */
	struct cache cache;
	bool loaded, loading;
	int64_t stamp_updated, stamp_count;
	struct lroom *rooms;
	struct part *parts;
	uint64_t next_id;
	struct cpm_chat_focus_stats st;
	struct cpm_pres *pres; /* the conference event package (chat_conf.c) */
	struct cpm_im_ctl *im; /* offline members' copies (chat_roommsg.c) */
	unsigned local_gen;    /* rooms put in the cache here (ad-hoc): a
				* reload started before is stale */
};

static void focus_release(struct cpm_chat_focus *f);

/* ---------------------------------------------------------- cache refresh */

struct load_job {
	struct cpm_chat_focus *f;
	unsigned local_gen;
	int64_t seen_updated, seen_count;
	bool force;
	int rc;
	bool changed;
	int64_t updated, count;
	struct cache c;
};

static int load_room_cb(void *arg, const struct cpm_store_room *r)
{
	struct cache *c = arg;
	if (c->n == c->cap) {
		size_t n = c->cap ? c->cap * 2 : 16;
		struct croom *nr = realloc(c->rooms, n * sizeof *nr);
		if (!nr)
			return CPM_ENOMEM;
		c->rooms = nr;
		c->cap = n;
	}
	memset(&c->rooms[c->n], 0, sizeof c->rooms[c->n]);
	c->rooms[c->n++].room = *r;
	return 0;
}

static int load_member_cb(void *arg, const struct cpm_store_room_member *m)
{
	struct croom *r = arg;
	if (r->nmembers == r->cap) {
		size_t n = r->cap ? r->cap * 2 : 8;
		struct cmember *nm = realloc(r->members, n * sizeof *nm);
		if (!nm)
			return CPM_ENOMEM;
		r->members = nm;
		r->cap = n;
	}
	struct cmember *x = &r->members[r->nmembers++];
	snprintf(x->aor, sizeof x->aor, "%s", m->aor);
	snprintf(x->nick, sizeof x->nick, "%s", m->nick);
	x->role = m->role;
	return 0;
}

/* Worker thread: the stamp, and everything when it moved. */
static void load_work(struct cpm_store *s, void *arg)
{
	struct load_job *j = arg;
	j->rc = cpm_store_room_stamp(s, &j->updated, &j->count);
	if (j->rc < 0)
		return;
	if (!j->force && j->updated == j->seen_updated && j->count == j->seen_count)
		return;
	j->changed = true;
	j->rc = cpm_store_room_list(s, load_room_cb, &j->c);
	for (size_t i = 0; j->rc >= 0 && i < j->c.n; i++)
		j->rc = cpm_store_room_member_list(s, j->c.rooms[i].room.uri, load_member_cb,
						   &j->c.rooms[i]);
}

static void sweep_rooms(struct cpm_chat_focus *f);
static void sweep_unbound(struct cpm_chat_focus *f);
static void store_changed(struct cpm_chat_focus *f, const struct cache *old);

static void load_done(void *arg)
{
	struct load_job *j = arg;
	struct cpm_chat_focus *f = j->f;
	f->jobs--;
	f->loading = false;
	if (!f->freeing && j->rc >= 0 && j->changed && j->local_gen == f->local_gen) {
		struct cache old = f->cache;
		f->cache = j->c;
		memset(&j->c, 0, sizeof j->c);
		store_changed(f, &old);
		cache_free(&old);
		f->stamp_updated = j->updated;
		f->stamp_count = j->count;
		cpm_logn("chat", "focus: %zu room(s) loaded", f->cache.n);
		/* ad-hoc rooms of a previous run: their calls died with it */
		for (size_t i = 0; !f->loaded && i < f->cache.n; i++)
			if (f->cache.rooms[i].room.flags & CPM_STORE_ROOM_F_ADHOC)
				cpm_chat__adhoc_over(f->core, f->cache.rooms[i].room.uri);
		f->loaded = true;
	} else if (j->rc < 0) {
		cpm_logw("chat", "focus: loading the rooms: %s", cpm_strerror(j->rc));
	}
	cache_free(&j->c);
	free(j);
	if (f->freeing)
		focus_release(f);
}

static void refresh(struct cpm_chat_focus *f)
{
	if (f->loading || f->freeing)
		return;
	struct load_job *j = calloc(1, sizeof *j);
	if (!j)
		return;
	j->f = f;
	j->force = !f->loaded;
	j->local_gen = f->local_gen;
	j->seen_updated = f->stamp_updated;
	j->seen_count = f->stamp_count;
	if (cpm_store_worker_submit_read(cpm_core_store(f->core), load_work, load_done, j)) {
		free(j);
		return;
	}
	f->jobs++;
	f->loading = true;
}

static void timer_cb(uv_timer_t *t)
{
	struct cpm_chat_focus *f = t->data;
	sweep_unbound(f);
	sweep_rooms(f);
	refresh(f);
}

/* ------------------------------------------------------------ participants */

static struct part *part_find(struct cpm_chat_focus *f, uint64_t id)
{
	for (struct part *p = f->parts; p; p = p->next)
		if (p->id == id)
			return p;
	return NULL;
}

static void held_free(struct part *p)
{
	while (p->held) {
		struct held *h = p->held;
		p->held = h->next;
		free(h);
	}
	p->held_tail = NULL;
	p->held_bytes = 0;
}

/* The end of a participation: its dialog (BYE when bye), its MSRP session,
 * its place in the room.  p is freed. */
static void part_end(struct part *p, const char *why, bool bye)
{
	struct cpm_chat_focus *f = p->f;
	cpm_logi(p->aor, "chat: leaves %s: %s", p->lr->uri, why);
	if (p->bound)
		cpm_chat__conf_left(f->pres, p->lr->uri, p->aor, bye, why);
	if (p->dialing)
		cpm_chat__conf_failed(f->pres, p->lr->uri, p->aor, 487);
	if (p->dial_done) {
		cpm_chat__dial_cb *done = p->dial_done;
		p->dial_done = NULL;
		done(p->dial_arg, 487);
	}
	if (p->dlg) {
		struct cpm_core_dlg *d = p->dlg;
		p->dlg = NULL;
		if (bye)
			cpm_core_dlg_bye(d);
	}
	if (p->ep)
		cpm_chat_ep_close(p->ep);
	if (p->mb)
		cpm_chat_room_leave(p->mb);
	held_free(p);
	if (p->prev)
		p->prev->next = p->next;
	else
		f->parts = p->next;
	if (p->next)
		p->next->prev = p->prev;
	f->st.participants--;
	free(p);
}

/* Leg: to the participant's MSRP session; held while its history is on
 * the way (so that history comes first, in order). */
/* Each leg has its own transactions (RFC 7701: reports are per leg, the
 * sender hears only the switch): a participant whose session is gone
 * (481) or that does not answer (408) is let go at the next sweep (not
 * from here: this runs inside the MSRP layer). */
static void leg_sent(void *arg, int status)
{
	struct part *p = arg;
	if (status / 100 == 2 || p->doomed)
		return;
	cpm_logi(p->aor, "chat: a message to the participant got %d", status);
	if (status == 481)
		p->doomed = "its MSRP session is gone (481)";
	else if (status == 408)
		p->doomed = "it does not answer its MSRP transactions (408)";
}

static int leg_send(void *leg, struct cpm_str ctype, struct cpm_str body)
{
	struct part *p = leg;
	if (p->doomed)
		return CPM_EAGAIN;
	if (!p->hist_pending)
		return cpm_chat_ep_send(p->ep, ctype, body, CPM_STR_NULL, leg_sent, p);
	if (p->held_bytes + body.len > p->f->conf->chat.max_queue)
		return CPM_ELIMIT;
	struct held *h = malloc(sizeof *h + body.len);
	if (!h)
		return CPM_ENOMEM;
	h->next = NULL;
	h->len = body.len;
	memcpy(h->body, body.s, body.len);
	if (p->held_tail)
		p->held_tail->next = h;
	else
		p->held = h;
	p->held_tail = h;
	p->held_bytes += body.len;
	return 0;
}

static const struct cpm_chat_leg_ops leg_ops = { leg_send };

/* Participants whose leg failed, or that never bound their MSRP session,
 * go (with a BYE). */
static void sweep_unbound(struct cpm_chat_focus *f)
{
	uint64_t now = cpm_now_ms();
	for (struct part *p = f->parts, *n; p; p = n) {
		n = p->next;
		if (p->doomed)
			part_end(p, p->doomed, true);
		else if (!p->bound && !p->dialing && now - p->joined_ms > FOCUS_BIND_MS)
			part_end(p, "its MSRP session was never bound", true);
	}
}

/* The store changed (`cpmd room`, the HTTP API): the participants of a
 * room that was deleted (closed by its owner), or who were removed from
 * its members, go with a BYE; the watchers of a deleted room are told
 * (RFC 6665 §4.2.2 noresource). */
static void store_changed(struct cpm_chat_focus *f, const struct cache *old)
{
	for (struct part *p = f->parts, *n; p; p = n) {
		n = p->next;
		const struct croom *now = cache_find(&f->cache, p->lr->uri);
		const struct croom *was = cache_find(old, p->lr->uri);
		if (!now)
			part_end(p, "the room was closed", true);
		else if (was && croom_member(was, p->aor + 4) && !croom_member(now, p->aor + 4))
			part_end(p, "removed from the room's members", true);
	}
	for (size_t i = 0; i < old->n; i++)
		if (!cache_find(&f->cache, old->rooms[i].room.uri))
			cpm_chat__conf_end(f->pres, old->rooms[i].room.uri);
}

/* History on join. */
struct hist_job {
	struct cpm_chat_focus *f;
	uint64_t part_id;
	char room[256];
	int n;
	int rc;
	struct cpm_buf bodies; /* each: 8-byte length, then the bytes */
};

static int hist_cb(void *arg, const struct cpm_store_room_msg *m)
{
	struct hist_job *j = arg;
	uint64_t len = m->body_len;
	int rc = cpm_buf_append(&j->bodies, &len, sizeof len);
	if (!rc)
		rc = cpm_buf_append(&j->bodies, m->body, m->body_len);
	return rc;
}

static void hist_work(struct cpm_store *s, void *arg)
{
	struct hist_job *j = arg;
	j->rc = cpm_store_room_msg_last(s, j->room, j->n, hist_cb, j);
}

/* History sent: what came meanwhile follows. */
static void hist_flush(struct part *p)
{
	p->hist_pending = false;
	while (p->held) {
		struct held *h = p->held;
		p->held = h->next;
		if (!p->held)
			p->held_tail = NULL;
		p->held_bytes -= h->len;
		uint64_t id = p->id;
		struct cpm_chat_focus *f = p->f;
		int rc = cpm_chat_room_send_to(p->lr->room, p->mb, (struct cpm_str){ h->body, h->len });
		free(h);
		if (rc && !part_find(f, id))
			return; /* dropped */
	}
}

static void hist_done(void *arg)
{
	struct hist_job *j = arg;
	struct cpm_chat_focus *f = j->f;
	f->jobs--;
	struct part *p = f->freeing ? NULL : part_find(f, j->part_id);
	if (p && j->rc < 0)
		cpm_logw(p->aor, "chat: history of %s: %s", j->room, cpm_strerror(j->rc));
	size_t off = 0, sent = 0;
	while (p && j->rc >= 0 && off + 8 <= j->bodies.len) {
		uint64_t len;
		memcpy(&len, j->bodies.p + off, sizeof len);
		off += 8;
		struct cpm_str b = { j->bodies.p + off, (size_t)len };
		off += (size_t)len;
		uint64_t id = p->id;
		if (cpm_chat_room_send_to(p->lr->room, p->mb, b) && !part_find(f, id))
			p = NULL;
		else
			sent++;
	}
	if (p) {
		cpm_logi(p->aor, "chat: %zu history message(s) of %s", sent, j->room);
		hist_flush(p);
	}
	cpm_buf_free(&j->bodies);
	free(j);
	if (f->freeing)
		focus_release(f);
}

/* The conference event package learns p is in (or changed). */
static void conf_joined(struct part *p)
{
	struct cpm_chat_focus *f = p->f;
	const struct croom *cr = cache_find(&f->cache, p->lr->uri);
	const struct cmember *m = cr ? croom_member(cr, p->aor + 4) : NULL;
	int role = m ? m->role : CPM_STORE_ROOM_MEMBER;
	const char *nick = cpm_chat_member_nick(p->mb);
	cpm_chat__conf_joined(f->pres, p->lr->uri, p->aor, nick[0] ? nick : p->display, role,
			      p->joined_wall, p->dialed_out, p->referred_by);
}

static void ep_bound(void *arg, struct cpm_chat_ep *ep)
{
	(void)ep;
	struct part *p = arg;
	struct cpm_chat_focus *f = p->f;
	cpm_logi(p->aor, "chat: in %s (MSRP session bound)", p->lr->uri);
	p->bound = true;
	cpm_chat_room_ready(p->mb);
	conf_joined(p);
	int n = p->lr->history >= 0 ? p->lr->history : f->conf->chat.history;
	if (n <= 0)
		return;
	struct hist_job *j = calloc(1, sizeof *j);
	if (!j)
		return;
	j->f = f;
	j->part_id = p->id;
	j->n = n;
	snprintf(j->room, sizeof j->room, "%s", p->lr->uri);
	cpm_buf_init(&j->bodies, SIZE_MAX / 4);
	if (cpm_store_worker_submit_read(cpm_core_store(f->core), hist_work, hist_done, j)) {
		free(j);
		return;
	}
	f->jobs++;
	p->hist_pending = true;
}

static int ep_message(void *arg, struct cpm_chat_ep *ep, const struct cpm_chat_ep_msg *m)
{
	(void)ep;
	struct part *p = arg;
	return cpm_chat_room_receive(p->mb, m->content_type, m->body, m->message_id);
}

/* NICKNAME (RFC 7701 §7.1): Use-Nickname: quoted-string. */
static int ep_request(void *arg, struct cpm_chat_ep *ep, const struct cpm_msrp_msg *m)
{
	(void)ep;
	struct part *p = arg;
	if (!cpm_str_eq_cstr(m->method_s, "NICKNAME"))
		return 501;
	struct cpm_str v = CPM_STR_NULL;
	for (unsigned i = 0; i < m->nhdrs; i++)
		if (cpm_str_ieq_cstr(m->hdrs[i].name, "Use-Nickname"))
			v = m->hdrs[i].value;
	if (v.len < 2 || v.s[0] != '"' || v.s[v.len - 1] != '"')
		return 424;
	v = (struct cpm_str){ v.s + 1, v.len - 2 };
	int st = cpm_chat_room_nickname(p->mb, v);
	if (st == 200)
		conf_joined(p); /* the nickname is the display-text */
	cpm_logi(p->aor, "chat: NICKNAME \"%.*s\" in %s: %d", CPM_STR_FMT(v), p->lr->uri, st);
	return st;
}

static void ep_closed(void *arg, struct cpm_chat_ep *ep, const char *why)
{
	(void)ep;
	part_end(arg, why, true);
}

static const struct cpm_chat_ep_ops ep_ops = { ep_bound, ep_message, ep_request, ep_closed };

/* In-dialog requests other than BYE: a re-INVITE is refused (the session
 * stays as it is), the rest is not implemented here yet. */
static void dlg_request(void *arg, struct cpm_core_dlg *d, struct cpm_txn *st,
			const struct cpm_sip_msg *req)
{
	struct part *p = arg;
	if (req->method == CPM_SIP_REFER) {
		/* RFC 4579 §5.5: a participant asks the focus to add or
		 * remove someone (chat_refer.c) */
		const struct croom *cr = cache_find(&p->f->cache, p->lr->uri);
		bool owner = cr && strcasecmp(cr->room.owner, p->aor + 4) == 0;
		cpm_chat__refer(p->f, p->id, p->lr->uri, p->aor, owner, d, st, req);
		return;
	}
	(void)d;
	cpm_txn_reply(st, req->method == CPM_SIP_INVITE ? 488 : 501, NULL, NULL, NULL,
		      CPM_STR_NULL, CPM_STR_NULL);
}

static void dlg_ended(void *arg, struct cpm_core_dlg *d, enum cpm_core_dlg_end why)
{
	(void)d;
	struct part *p = arg;
	p->dlg = NULL; /* core frees it */
	part_end(p,
		 why == CPM_CORE_DLG_END_BYE ? "BYE"
		 : why == CPM_CORE_DLG_END_NO_ACK ? "no ACK"
		 : why == CPM_CORE_DLG_END_GONE ? "dialog gone"
						: "shutdown",
		 false);
}

static const struct cpm_core_dlg_ops dlg_ops = { dlg_request, NULL, dlg_ended };

/* ------------------------------------------------------------------ rooms */

static void room_message(void *arg, struct cpm_chat_room *r, const struct cpm_chat_room_msg *m);
static void room_dropped(void *arg, struct cpm_chat_room *r, struct cpm_chat_member *m,
			 const char *why);
static const struct cpm_chat_room_ops room_ops = { room_message, room_dropped };

struct store_job {
	struct cpm_chat_focus *f;
	struct cpm_store_room_msg m;
	char body[];
};

static int store_work(struct cpm_store *s, void *arg)
{
	struct store_job *j = arg;
	j->m.body = j->body;
	return cpm_store_room_msg_add(s, &j->m);
}

static void store_done(void *arg, int rc)
{
	struct store_job *j = arg;
	struct cpm_chat_focus *f = j->f;
	f->jobs--;
	if (rc < 0)
		cpm_logw("chat", "room %s: history not stored: %s", j->m.room, cpm_strerror(rc));
	else
		f->st.stored++;
	free(j);
	if (f->freeing)
		focus_release(f);
}

/* A room with offline store-and-forward: the members not in session get
 * the message through the message controller (chat_roommsg.c). */
static void offline_copies(struct lroom *lr, const struct cpm_chat_room_msg *m)
{
	struct cpm_chat_focus *f = lr->f;
	const struct croom *cr = cache_find(&f->cache, lr->uri);
	if (!f->im || !cr || !(cr->room.flags & CPM_STORE_ROOM_F_OFFLINE_SF) || !cr->nmembers)
		return;
	const char **absent = calloc(cr->nmembers, sizeof *absent);
	size_t n = 0;
	for (size_t i = 0; absent && i < cr->nmembers; i++) {
		const char *aor = cr->members[i].aor;
		bool in = strcasecmp(aor, m->sender + (strncmp(m->sender, "sip:", 4) ? 0 : 4)) == 0;
		for (struct part *p = f->parts; p && !in; p = p->next)
			in = p->lr == lr && strcasecmp(p->aor + 4, aor) == 0;
		if (!in)
			absent[n++] = aor;
	}
	size_t sent = cpm_chat__room_offline(f->im, lr->uri, m->nick, absent, n, m->cpim);
	if (sent)
		cpm_logi(lr->uri, "chat: %zu member(s) not in %s get the message later", sent,
			 lr->uri);
	free(absent);
}

/* History: the wrapped message, stored by the worker (batched). */
static void room_message(void *arg, struct cpm_chat_room *r, const struct cpm_chat_room_msg *m)
{
	(void)r;
	struct lroom *lr = arg;
	struct cpm_chat_focus *f = lr->f;
	if (m->cpim.len > CPM_STORE_MSG_BODY_MAX)
		return;
	struct store_job *j = calloc(1, sizeof *j + m->cpim.len + 1);
	if (!j)
		return;
	j->f = f;
	snprintf(j->m.room, sizeof j->m.room, "%s", lr->uri);
	snprintf(j->m.sender, sizeof j->m.sender, "%s",
		 strncmp(m->sender, "sip:", 4) == 0 ? m->sender + 4 : m->sender);
	snprintf(j->m.nick, sizeof j->m.nick, "%s", m->nick);
	if (m->message_id.len < sizeof j->m.message_id)
		cpm_str_copy(m->message_id, j->m.message_id, sizeof j->m.message_id);
	snprintf(j->m.content_type, sizeof j->m.content_type, "message/cpim");
	memcpy(j->body, m->cpim.s, m->cpim.len);
	j->m.body_len = m->cpim.len;
	if (cpm_store_worker_submit_batchable(cpm_core_store(f->core), store_work, store_done,
					      j)) {
		free(j);
	} else {
		f->jobs++;
	}
	offline_copies(lr, m);
}

static void room_dropped(void *arg, struct cpm_chat_room *r, struct cpm_chat_member *m,
			 const char *why)
{
	(void)r;
	struct lroom *lr = arg;
	struct part *p = cpm_chat_member_leg(m);
	lr->f->st.dropped++;
	cpm_logn(p->aor, "chat: dropped from %s: %s", lr->uri, why);
	part_end(p, why, true);
}

static struct lroom *lroom_get(struct cpm_chat_focus *f, const struct croom *cr)
{
	for (struct lroom *lr = f->rooms; lr; lr = lr->next)
		if (strcasecmp(lr->uri, cr->room.uri) == 0)
			return lr;
	struct lroom *lr = calloc(1, sizeof *lr);
	if (!lr)
		return NULL;
	lr->f = f;
	snprintf(lr->uri, sizeof lr->uri, "%s", cr->room.uri);
	lr->history = cr->room.history;
	char uri[300];
	snprintf(uri, sizeof uri, "sip:%s", cr->room.uri);
	if (cpm_chat_room_new(uri, &room_ops, lr, &lr->room)) {
		free(lr);
		return NULL;
	}
	for (size_t i = 0; i < cr->nmembers; i++)
		if (cr->members[i].nick[0]) {
			char aor[300];
			snprintf(aor, sizeof aor, "sip:%s", cr->members[i].aor);
			cpm_chat_room_reserve(lr->room, aor, cr->members[i].nick);
		}
	lr->next = f->rooms;
	f->rooms = lr;
	f->st.rooms++;
	return lr;
}

/* Empty live rooms go (not from inside a room callback: from the timer). */
static void sweep_rooms(struct cpm_chat_focus *f)
{
	struct lroom **pp = &f->rooms;
	while (*pp) {
		struct lroom *lr = *pp;
		bool parts = false;
		for (struct part *p = f->parts; p && !parts; p = p->next)
			parts = p->lr == lr; /* an invitee not answered yet */
		if (cpm_chat_room_count(lr->room) == 0 && !parts) {
			const struct croom *cr = cache_find(&f->cache, lr->uri);
			if (cr && (cr->room.flags & CPM_STORE_ROOM_F_ADHOC) && !f->freeing)
				cpm_chat__adhoc_over(f->core, lr->uri); /* RFC 5366: it ends */
			*pp = lr->next;
			cpm_chat_room_free(lr->room);
			free(lr);
			f->st.rooms--;
		} else {
			pp = &lr->next;
		}
	}
}

/* -------------------------------------------------------------- the INVITE */

static void refuse(struct cpm_txn *st, int status, const char *why)
{
	char hdrs[300], tag[17];
	snprintf(hdrs, sizeof hdrs, "Warning: 399 cpmd \"%s\"\r\n", why);
	cpm_rand_hex(tag, 8);
	cpm_txn_reply(st, status, NULL, tag, hdrs, CPM_STR_NULL, CPM_STR_NULL);
}

/* Who sends req: the identity core verified, else its From's AoR. */
static int caller_aor(const struct cpm_sip_msg *req, const char *from_aor, char *aor, size_t sz)
{
	if (from_aor && from_aor[0]) {
		snprintf(aor, sz, "%s", from_aor);
		return 0;
	}
	struct cpm_sip_uri u;
	if (cpm_sip_uri_parse(req->from.uri, &u) || cpm_sip_uri_aor(&u, aor, sz) < 0)
		return CPM_EPARSE;
	return 0;
}

/* The display name of req's From, unquoted, "" if none. */
static void caller_display(const struct cpm_sip_msg *req, char *display, size_t sz)
{
	struct cpm_str d = req->from.display;
	if (d.len >= 2 && d.s[0] == '"' && d.s[d.len - 1] == '"')
		d = (struct cpm_str){ d.s + 1, d.len - 2 };
	display[0] = '\0';
	if (d.len < sz)
		cpm_str_copy(d, display, sz);
}

/* A MESSAGE to the room (RFC 3428 pager mode) from a member or a
 * participant: distributed into it as a participant's SEND would be. */
static void room_msg(struct cpm_chat_focus *f, const struct croom *cr, struct cpm_txn *st,
		     const struct cpm_sip_msg *req, const char *from_aor)
{
	char aor[256], uri[300], display[128];
	if (caller_aor(req, from_aor, aor, sizeof aor)) {
		refuse(st, 400, "bad From URI");
		return;
	}
	struct lroom *lr = lroom_get(f, cr);
	if (!lr) {
		refuse(st, 500, "out of memory");
		return;
	}
	struct part *sp = NULL;
	for (struct part *p = f->parts; p && !sp; p = p->next)
		if (p->lr == lr && p->mb && strcasecmp(p->aor + 4, aor) == 0)
			sp = p;
	if (!sp && !croom_member(cr, aor)) {
		cpm_logi(aor, "chat: MESSAGE to %s from a non-member: 403", cr->room.uri);
		refuse(st, 403, "members only");
		return;
	}
	const struct cpm_sip_hdr *ct = cpm_sip_msg_hdr(req, CPM_SIP_H_CONTENT_TYPE);
	struct cpm_str ctype = ct ? cpm_str_trim(ct->value) : CPM_STR("text/plain");
	snprintf(uri, sizeof uri, "sip:%s", aor);
	caller_display(req, display, sizeof display);
	int status = cpm_chat__room_inject(lr->room, sp ? sp->mb : NULL, uri, display, ctype,
					   req->body, CPM_STR_NULL);
	cpm_logi(aor, "chat: MESSAGE into %s: %d", cr->room.uri, status);
	if (status != 200) {
		refuse(st, status == 403 || status == 404 || status == 400 ? status : 500,
		       status == 403 ? "CPIM From is not the sender"
		       : status == 404 ? "no such participant"
				       : "bad message");
		return;
	}
	char tag[17];
	cpm_rand_hex(tag, 8);
	cpm_txn_reply(st, 200, NULL, tag, NULL, CPM_STR_NULL, CPM_STR_NULL);
}

/* What our m=message section says for p's local session. */
static void sdp_params(const struct part *p, struct cpm_chat_sdp_params *sp, char *host,
		       size_t hostsz)
{
	/* our a=path names our authority: the SDP's host and port */
	struct cpm_msrp_uri mu;
	snprintf(host, hostsz, "127.0.0.1");
	uint16_t port = CPM_MSRP_DEFAULT_PORT;
	if (cpm_msrp_uri_parse(cpm_str_from_cstr(cpm_chat_ep_uri(p->ep)), &mu) == 0) {
		cpm_str_copy(mu.host, host, hostsz);
		port = mu.has_port ? mu.port : CPM_MSRP_DEFAULT_PORT;
	}
	static const char *const extra[] = { "chatroom:nickname private-messages" };
	*sp = (struct cpm_chat_sdp_params){
		.host = host,
		.port = port,
		.path = cpm_chat_ep_uri(p->ep),
		.accept_types = ACCEPT_TYPES,
		.accept_wrapped = ACCEPT_WRAPPED,
		.max_size = p->f->conf->chat.max_message_size,
		.extra = extra,
		.nextra = 1,
		.sess_id = (uint64_t)cpm_wall_s(),
	};
}

static void join(struct cpm_chat_focus *f, const struct croom *cr, struct cpm_txn *st,
		 const struct cpm_sip_msg *req, const char *from_aor, struct cpm_str offer)
{
	char aor[256] = "";
	if (caller_aor(req, from_aor, aor, sizeof aor)) {
		refuse(st, 400, "bad From URI");
		return;
	}
	if ((cr->room.flags & CPM_STORE_ROOM_F_MEMBERS_ONLY) && !croom_member(cr, aor)) {
		cpm_logi(aor, "chat: not a member of %s: 403", cr->room.uri);
		f->st.refused++;
		refuse(st, 403, "members only");
		return;
	}
	if (!offer.len) {
		refuse(st, 488, "an SDP offer with m=message TCP/MSRP is needed");
		return;
	}
	struct lroom *lr = lroom_get(f, cr);
	if (!lr) {
		refuse(st, 500, "out of memory");
		return;
	}
	if (cpm_chat_room_count(lr->room) >= (unsigned)f->conf->chat.max_participants) {
		refuse(st, 486, "the room is full");
		return;
	}
	struct part *p = calloc(1, sizeof *p);
	if (!p) {
		refuse(st, 500, "out of memory");
		return;
	}
	p->f = f;
	p->id = ++f->next_id;
	p->lr = lr;
	p->joined_ms = cpm_now_ms();
	p->joined_wall = cpm_wall_s();
	snprintf(p->aor, sizeof p->aor, "sip:%s", aor);
	int rc = cpm_chat_ep_new(f->relay, &ep_ops, p, NULL, &p->ep);
	if (rc) {
		free(p);
		refuse(st, rc == CPM_EUNSUPP ? 488 : 503, "no MSRP listener (msrp.listen)");
		return;
	}
	char host[256];
	struct cpm_chat_sdp_params sp;
	sdp_params(p, &sp, host, sizeof host);
	struct cpm_chat_sdp_peer peer;
	const char *why = NULL;
	struct cpm_buf sdp;
	cpm_buf_init(&sdp, 16384);
	rc = cpm_chat_sdp_answer(offer, &sp, &sdp, &peer, &why);
	if (!rc)
		rc = cpm_chat_ep_set_peer(p->ep, cpm_str_from_cstr(peer.path));
	char display[128];
	caller_display(req, display, sizeof display);
	snprintf(p->display, sizeof p->display, "%s", display);
	if (!rc)
		rc = cpm_chat_room_join(lr->room, p->aor, display, &leg_ops, p, &p->mb);
	if (rc) {
		cpm_logi(aor, "chat: INVITE to %s refused: %s", cr->room.uri,
			 why ? why : cpm_strerror(rc));
		cpm_chat_ep_close(p->ep);
		free(p);
		cpm_buf_free(&sdp);
		refuse(st, rc == CPM_EPARSE ? 400 : 488, why ? why : "SDP");
		return;
	}
	char user[256];
	snprintf(user, sizeof user, "%s", cr->room.uri);
	char *at = strchr(user, '@');
	if (at)
		*at = '\0';
	struct cpm_core_dlg_params dp = {
		.contact_user = user,
		.contact_params = ";isfocus", /* RFC 4579 §3 */
		.extra_hdrs = "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS\r\n",
		.ctype = CPM_STR("application/sdp"),
		.body = cpm_buf_str(&sdp),
	};
	p->next = f->parts;
	if (f->parts)
		f->parts->prev = p;
	f->parts = p;
	f->st.participants++;
	f->st.joins++;
	rc = cpm_core_dlg_accept(f->core, st, &dp, &dlg_ops, p, &p->dlg);
	cpm_buf_free(&sdp);
	if (rc) {
		p->dlg = NULL;
		part_end(p, "cannot answer the INVITE", false);
		refuse(st, 500, "dialog");
		return;
	}
	cpm_logi(p->aor, "chat: joins %s (%u in the room)%s", cr->room.uri,
		 cpm_chat_room_count(lr->room), peer.we_connect ? ", we connect" : "");
	if (peer.we_connect && (rc = cpm_chat_ep_connect(p->ep)))
		part_end(p, "cannot connect to the participant's MSRP path", true);
}

static bool on_request(void *arg, struct cpm_txn *st, const struct cpm_sip_msg *req,
		       const struct cpm_net_dest *src, const char *aor, const char *from_aor)
{
	(void)src;
	struct cpm_chat_focus *f = arg;
	if (!aor || f->stopping || req->to.tag.len ||
	    (req->method != CPM_SIP_INVITE && req->method != CPM_SIP_MESSAGE))
		return false;
	if (req->method == CPM_SIP_INVITE && cpm_chat__adhoc_is_factory(f->conf, aor)) {
		char caller[256];
		if (caller_aor(req, from_aor, caller, sizeof caller))
			refuse(st, 400, "bad From URI");
		else
			cpm_chat__adhoc_invite(f, st, req, caller);
		return true;
	}
	const struct croom *cr = cache_find(&f->cache, aor);
	if (!cr)
		return false;
	const struct cpm_sip_hdr *ct = cpm_sip_msg_hdr(req, CPM_SIP_H_CONTENT_TYPE);
	if (req->method == CPM_SIP_MESSAGE)
		room_msg(f, cr, st, req, from_aor);
	else
		join(f, cr, st, req, from_aor,
		     ct && cpm_str_istarts(ct->value, "application/sdp") ? req->body
									  : CPM_STR_NULL);
	return true;
}

/* -------------------------------------------------------------- dial-out
 *
 * The focus calls users into a room (RFC 4579 §5.4: ad-hoc invitees,
 * REFER): our INVITE offers a local MSRP session (a=setup:actpass);
 * the 2xx's answer says who connects; the participant counts from then
 * on like one who called in. */

static void uac_answered(void *arg, struct cpm_core_dlg *d, int status,
			 const struct cpm_sip_msg *resp)
{
	struct part *p = arg;
	struct cpm_chat_focus *f = p->f;
	cpm_chat__dial_cb *done = p->dial_done;
	void *darg = p->dial_arg;
	p->dial_done = NULL;
	p->dialing = false;
	if (status / 100 != 2) {
		p->dlg = NULL; /* core frees it */
		cpm_chat__conf_failed(f->pres, p->lr->uri, p->aor, status);
		part_end(p, "the invitation was not accepted", false);
		if (done)
			done(darg, status);
		return;
	}
	struct cpm_chat_sdp_peer peer;
	const char *why = NULL;
	int rc = cpm_chat_sdp_read_answer(resp->body, &peer, &why);
	if (!rc)
		rc = cpm_chat_ep_set_peer(p->ep, cpm_str_from_cstr(peer.path));
	snprintf(p->display, sizeof p->display, "%s", cpm_core_dlg_remote_display(d));
	if (!rc)
		rc = cpm_chat_room_join(p->lr->room, p->aor, p->display, &leg_ops, p, &p->mb);
	p->joined_ms = cpm_now_ms();
	if (done)
		done(darg, rc ? 488 : status);
	if (rc) {
		cpm_chat__conf_failed(f->pres, p->lr->uri, p->aor, 488);
		part_end(p, why ? why : "unusable SDP answer", true);
		return;
	}
	cpm_logi(p->aor, "chat: accepted the invitation to %s%s", p->lr->uri,
		 peer.we_connect ? ", we connect" : "");
	if (peer.we_connect && cpm_chat_ep_connect(p->ep))
		part_end(p, "cannot connect to the participant's MSRP path", true);
}

static const struct cpm_core_dlg_ops uac_ops = { dlg_request, uac_answered, dlg_ended };

int cpm_chat__focus_dial(struct cpm_chat_focus *f, const char *room, const char *uri,
			 const char *referred_by, cpm_chat__dial_cb *done, void *arg)
{
	const struct croom *cr = cache_find(&f->cache, room);
	if (f->stopping)
		return CPM_ESTATE;
	if (!cr)
		return CPM_ENOTFOUND;
	struct lroom *lr = lroom_get(f, cr);
	if (!lr)
		return CPM_ENOMEM;
	unsigned n = 0;
	for (struct part *q = f->parts; q; q = q->next)
		if (q->lr == lr) {
			n++;
			if (strcasecmp(q->aor, uri) == 0)
				return CPM_EEXIST; /* in, or being called */
		}
	if (n >= (unsigned)f->conf->chat.max_participants)
		return CPM_ELIMIT;
	struct part *p = calloc(1, sizeof *p);
	if (!p)
		return CPM_ENOMEM;
	p->f = f;
	p->id = ++f->next_id;
	p->lr = lr;
	p->joined_ms = cpm_now_ms();
	p->joined_wall = cpm_wall_s();
	p->dialing = p->dialed_out = true;
	snprintf(p->aor, sizeof p->aor, "%s", uri);
	snprintf(p->referred_by, sizeof p->referred_by, "%s", referred_by ? referred_by : "");
	int rc = cpm_chat_ep_new(f->relay, &ep_ops, p, NULL, &p->ep);
	if (rc) {
		free(p);
		return rc;
	}
	char host[256];
	struct cpm_chat_sdp_params sp;
	sdp_params(p, &sp, host, sizeof host);
	struct cpm_buf sdp;
	cpm_buf_init(&sdp, 16384);
	rc = cpm_chat_sdp_offer(&sp, &sdp);
	char user[256], from[600];
	snprintf(user, sizeof user, "%s", room);
	char *at = strchr(user, '@');
	if (at)
		*at = '\0';
	snprintf(from, sizeof from, "\"%s\" <sip:%s>", user, room);
	struct cpm_core_dlg_params dp = {
		.contact_user = user,
		.contact_params = ";isfocus",
		.extra_hdrs = "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, REFER\r\n",
		.ctype = CPM_STR("application/sdp"),
		.body = cpm_buf_str(&sdp),
	};
	p->next = f->parts;
	if (f->parts)
		f->parts->prev = p;
	f->parts = p;
	f->st.participants++;
	if (!rc)
		rc = cpm_core_dlg_invite(f->core, from, uri, &dp, FOCUS_DIAL_S, &uac_ops, p, &p->dlg);
	cpm_buf_free(&sdp);
	if (rc) {
		/* a local user with no device (CPM_ENOTFOUND): unavailable */
		cpm_chat__conf_dialing(f->pres, room, uri, p->referred_by);
		cpm_chat__conf_failed(f->pres, room, uri, rc == CPM_ENOTFOUND ? 480 : 500);
		p->dlg = NULL;
		part_end(p, rc == CPM_ENOTFOUND ? "no device registered" : "cannot send the INVITE",
			 false);
		return rc;
	}
	p->dial_done = done;
	p->dial_arg = arg;
	cpm_logi(uri, "chat: %s invites %s%s%s", room, uri, p->referred_by[0] ? ", referred by " : "",
		 p->referred_by);
	cpm_chat__conf_dialing(f->pres, room, uri, p->referred_by);
	return 0;
}

int cpm_chat__focus_kick(struct cpm_chat_focus *f, const char *room, const char *uri,
			 const char *why)
{
	for (struct part *p = f->parts; p; p = p->next)
		if (strcasecmp(p->lr->uri, room) == 0 && strcasecmp(p->aor, uri) == 0) {
			part_end(p, why, true);
			return 0;
		}
	return CPM_ENOTFOUND;
}

struct cpm_core_dlg *cpm_chat__focus_part_dlg(struct cpm_chat_focus *f, uint64_t part_id)
{
	struct part *p = part_find(f, part_id);
	return p ? p->dlg : NULL;
}

struct cpm_core *cpm_chat__focus_core(struct cpm_chat_focus *f)
{
	return f->core;
}

bool cpm_chat__focus_adhoc_join(struct cpm_chat_focus *f, const struct cpm_store_room *room,
				const char *const *members, size_t n, struct cpm_txn *st,
				const struct cpm_sip_msg *req, const char *creator,
				struct cpm_str offer)
{
	/* into the cache now (the store has it; a reload under way is stale) */
	struct croom *cr = NULL;
	if (load_room_cb(&f->cache, room) == 0) {
		cr = &f->cache.rooms[f->cache.n - 1];
		struct cpm_store_room_member m = { .role = CPM_STORE_ROOM_OWNER };
		snprintf(m.aor, sizeof m.aor, "%s", room->owner);
		load_member_cb(cr, &m);
		m.role = CPM_STORE_ROOM_MEMBER;
		for (size_t i = 0; i < n; i++) {
			snprintf(m.aor, sizeof m.aor, "%s", members[i]);
			load_member_cb(cr, &m);
		}
		f->local_gen++;
	}
	if (!cr) {
		refuse(st, 500, "out of memory");
		return false;
	}
	join(f, cr, st, req, creator, offer);
	for (struct part *p = f->parts; p; p = p->next)
		if (strcasecmp(p->lr->uri, room->uri) == 0 && strcasecmp(p->aor + 4, creator) == 0)
			return true;
	return false;
}

void cpm_chat__focus_hold(struct cpm_chat_focus *f)
{
	f->jobs++;
}

bool cpm_chat__focus_unhold(struct cpm_chat_focus *f)
{
	f->jobs--;
	if (f->freeing) {
		focus_release(f);
		return false;
	}
	return true;
}

/* ------------------------------------------------------------------ life */

int cpm_chat_focus_new(struct cpm_core *core, struct cpm_chat_relay *relay,
		       struct cpm_chat_focus **out)
{
	struct cpm_chat_focus *f = calloc(1, sizeof *f);
	if (!f)
		return CPM_ENOMEM;
	f->core = core;
	f->relay = relay;
	f->conf = cpm_core_conf(core);
	int rc = cpm_core_add_service(core, on_request, f);
	if (rc) {
		free(f);
		return rc;
	}
	uv_timer_init(cpm_core_loop(core), &f->timer);
	f->timer.data = f;
	f->timer_open = true;
	uv_timer_start(&f->timer, timer_cb, FOCUS_REFRESH_MS, FOCUS_REFRESH_MS);
	uv_unref((uv_handle_t *)&f->timer);
	refresh(f);
	*out = f;
	return 0;
}

void cpm_chat_focus_stop(struct cpm_chat_focus *f)
{
	if (f)
		f->stopping = true;
}

static void timer_closed(uv_handle_t *h)
{
	struct cpm_chat_focus *f = h->data;
	f->timer_open = false;
	focus_release(f);
}

static void focus_release(struct cpm_chat_focus *f)
{
	if (f->jobs || f->timer_open)
		return;
	cache_free(&f->cache);
	free(f);
}

void cpm_chat_focus_free(struct cpm_chat_focus *f)
{
	if (!f || f->freeing)
		return;
	f->freeing = true;
	f->stopping = true;
	while (f->parts)
		part_end(f->parts, "server stopped", true);
	sweep_rooms(f);
	uv_close((uv_handle_t *)&f->timer, timer_closed);
}

static bool is_room(void *arg, const char *aor)
{
	struct cpm_chat_focus *f = arg;
	return cache_find(&f->cache, aor) != NULL;
}

void cpm_chat_focus_set_pres(struct cpm_chat_focus *f, struct cpm_pres *pres)
{
	if (!f)
		return;
	f->pres = pres;
	cpm_chat__conf_rooms(pres, is_room, f);
}

void cpm_chat_focus_set_im(struct cpm_chat_focus *f, struct cpm_im_ctl *im)
{
	if (f)
		f->im = im;
}

void cpm_chat_focus_stats(const struct cpm_chat_focus *f, struct cpm_chat_focus_stats *out)
{
	if (!f) {
		memset(out, 0, sizeof *out);
		return;
	}
	*out = f->st;
}
