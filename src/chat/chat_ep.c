/* Local sessions: the server as MSRP endpoint (RFC 4975), on the relay's
 * listener and connections (chat.h: "endpoints").
 *
 * Receiving: the relay routes a request whose To-Path ends at one of our
 * local session URIs here (CPM_CHAT_HOP_LOCAL).  SEND chunks are written
 * at their Byte-Range offset into a per-message buffer found by
 * Message-ID, so chunks of several messages may interleave (§7.3.1);
 * when the last byte is in, the owner gets the whole message and its
 * status answers the last chunk.  Other methods (NICKNAME) go to the owner
 * at once.  REPORTs are never answered (§7.1.2).
 *
 * Sending: whole chunks of ours are queued on the session's connection
 * (after any stream in progress there) under transactions of the relay's
 * table (T_EP), so timeouts and lost connections come back as a status. */
#include "chat/chat_int.h"

#include <stdlib.h>
#include <string.h>

#define EP_INMSG_MAX 8 /* messages being reassembled at once per session */

/* A message being reassembled. */
struct inmsg {
	struct inmsg *next;
	char msgid[CPM_MSRP_IDENT_MAX + 1];
	char *ctype;
	struct cpm_buf data;
	uint64_t got;   /* bytes received (chunks do not overlap) */
	uint64_t final; /* its length, once the '$' chunk came; 0 before */
	bool rejected;  /* 413: the rest of its chunks get 413 too */
};

/* One message we send: its chunks' transactions hold it. */
struct cpm_chat__out {
	struct cpm_chat_ep *ep; /* NULL once the session is closed */
	cpm_chat_ep_sent_cb *cb;
	void *arg;
	unsigned pending; /* chunks not answered yet */
	int status;       /* the first error */
	bool bind;        /* the empty SEND of cpm_chat_ep_connect */
	struct cpm_chat__out *prev, *next;
};

/* The request a connection receives for a local session. */
struct cpm_chat__epx {
	char sid[CPM_CHAT_SID_LEN + 1];
	char msgid[CPM_MSRP_IDENT_MAX + 1];
	char *from_path;   /* as the endpoint sees it: the REPORT's To-Path */
	char *ctype;
	uint64_t start;    /* of this chunk, 1-based */
	uint64_t total;    /* 0: unknown ('*') */
	uint64_t got;      /* body bytes of this chunk */
	enum cpm_msrp_rep sr;
	int status;        /* decided: the answer at END */
	bool body;         /* a SEND with a body (not a binding one) */
	bool newly_bound;  /* the session was bound by this request */
};

struct cpm_chat_ep {
	struct cpm_chat_relay *r;
	struct cpm_chat_sess *sess;
	char uri[CPM_CHAT_KEY_MAX + CPM_CHAT_SID_LEN + 32];
	char *peer_path; /* the peer's a=path */
	/* what we send: To-Path and From-Path once our own relay URIs in
	 * front of the peer's path are crossed (a peer that uses this
	 * server's relay, RFC 4976 §7.3), and that client's connection */
	char *send_to, *send_from;
	uint64_t client_conn;
	char *peer_last; /* its last URI: the peer itself */
	uint64_t conn_id;
	bool bound;      /* told the owner */
	const struct cpm_chat_ep_ops *ops;
	void *arg;
	struct cpm_chat_ep_limits lim;
	struct inmsg *in;
	unsigned nin;
	size_t in_bytes; /* held by the messages being reassembled */
	struct cpm_chat__out *outs;
	struct cpm_chat_ep *c_prev, *c_next; /* on the connection */
	struct cpm_chat_ep *a_prev, *a_next; /* on the relay */
};

/* ------------------------------------------------------------ bookkeeping */

static struct cpm_chat_ep *ep_find(struct cpm_chat_relay *r, const char *sid)
{
	struct cpm_chat_sess *s =
		cpm_chat_sess_find(r->table, cpm_str_from_cstr(sid), cpm_now_ms());
	return s && s->kind == CPM_CHAT_SESS_LOCAL ? s->local : NULL;
}

static void inmsg_free(struct inmsg *m)
{
	cpm_buf_free(&m->data);
	free(m->ctype);
	free(m);
}

static struct inmsg **inmsg_slot(struct cpm_chat_ep *ep, const char *msgid)
{
	struct inmsg **pp = &ep->in;
	while (*pp && strcmp((*pp)->msgid, msgid) != 0)
		pp = &(*pp)->next;
	return pp;
}

static void inmsg_drop(struct cpm_chat_ep *ep, const char *msgid)
{
	struct inmsg **pp = inmsg_slot(ep, msgid);
	if (!*pp)
		return;
	struct inmsg *m = *pp;
	*pp = m->next;
	ep->nin--;
	ep->in_bytes -= m->data.len;
	inmsg_free(m);
}

static void conn_link(struct cpm_chat_ep *ep, struct cpm_chat__conn *c)
{
	ep->conn_id = c->id;
	ep->c_prev = NULL;
	ep->c_next = c->eps;
	if (c->eps)
		c->eps->c_prev = ep;
	c->eps = ep;
	cpm_chat__touch(c); /* no idle timeout while we use it */
}

/* Off its connection (which idles out once nobody uses it). */
static void conn_unlink(struct cpm_chat_ep *ep)
{
	if (!ep->conn_id)
		return;
	struct cpm_chat__conn *c = cpm_chat__conn_any(ep->r, ep->conn_id);
	if (c) {
		if (ep->c_prev)
			ep->c_prev->c_next = ep->c_next;
		else
			c->eps = ep->c_next;
		if (ep->c_next)
			ep->c_next->c_prev = ep->c_prev;
		/* the last session on a connection of ours ends: so does the
		 * connection (RFC 4975 §5.4 lets a session's end close it);
		 * one that also relays idles out instead */
		if (!c->eps && c->st != CPM_CHAT__CLOSING && !c->relayed)
			cpm_chat__conn_close(c, "its last MSRP session ended");
		else if (!c->eps && c->st == CPM_CHAT__UP)
			cpm_chat__touch(c);
	}
	ep->conn_id = 0;
	ep->c_prev = ep->c_next = NULL;
}

void cpm_chat__epx_free(struct cpm_chat__epx *e)
{
	if (!e)
		return;
	free(e->from_path);
	free(e->ctype);
	free(e);
}

/* ------------------------------------------------------------- public API */

int cpm_chat_ep_new(struct cpm_chat_relay *r, const struct cpm_chat_ep_ops *ops, void *arg,
		    const struct cpm_chat_ep_limits *lim, struct cpm_chat_ep **out)
{
	if (!r || !r->lsn_open || r->freeing)
		return CPM_EUNSUPP;
	struct cpm_chat_ep *ep = calloc(1, sizeof *ep);
	if (!ep)
		return CPM_ENOMEM;
	int rc = cpm_chat_sess_add_local(r->table, ep, &ep->sess);
	if (rc) {
		free(ep);
		return rc;
	}
	cpm_chat_sess_uri(r->table, ep->sess, ep->uri, sizeof ep->uri);
	ep->r = r;
	ep->ops = ops;
	ep->arg = arg;
	if (lim) {
		ep->lim = *lim;
	} else {
		ep->lim.max_message = r->conf->chat.max_message_size;
		ep->lim.max_queue = r->conf->chat.max_queue;
		ep->lim.chunk = r->conf->chat.chunk_size;
	}
	if (!ep->lim.chunk)
		ep->lim.chunk = 16384;
	ep->a_next = r->eps;
	if (r->eps)
		r->eps->a_prev = ep;
	r->eps = ep;
	r->ep_st.sessions++;
	*out = ep;
	return 0;
}

void cpm_chat_ep_close(struct cpm_chat_ep *ep)
{
	if (!ep)
		return;
	struct cpm_chat_relay *r = ep->r;
	conn_unlink(ep);
	if (ep->a_prev)
		ep->a_prev->a_next = ep->a_next;
	else
		r->eps = ep->a_next;
	if (ep->a_next)
		ep->a_next->a_prev = ep->a_prev;
	/* the sends in flight finish without anyone to tell */
	for (struct cpm_chat__out *o = ep->outs; o; o = o->next) {
		o->ep = NULL;
		o->cb = NULL;
	}
	while (ep->in) {
		struct inmsg *m = ep->in;
		ep->in = m->next;
		inmsg_free(m);
	}
	cpm_chat_sess_del(r->table, ep->sess);
	r->ep_st.sessions--;
	free(ep->peer_path);
	free(ep->peer_last);
	free(ep->send_to);
	free(ep->send_from);
	free(ep);
}

const char *cpm_chat_ep_uri(const struct cpm_chat_ep *ep)
{
	return ep->uri;
}

bool cpm_chat_ep_is_bound(const struct cpm_chat_ep *ep)
{
	return ep->bound && ep->conn_id;
}

void cpm_chat_ep_set_owner(struct cpm_chat_ep *ep, const struct cpm_chat_ep_ops *ops,
			   void *arg)
{
	ep->ops = ops;
	ep->arg = arg;
}

size_t cpm_chat_ep_queued(const struct cpm_chat_ep *ep)
{
	struct cpm_chat__conn *c = cpm_chat__conn_find(ep->r, ep->conn_id);
	return c ? cpm_chat__unsent(c) : 0;
}

int cpm_chat_ep_set_peer(struct cpm_chat_ep *ep, struct cpm_str path)
{
	struct cpm_str cur = cpm_str_trim(path), last = CPM_STR_NULL;
	struct cpm_msrp_uri u;
	int n, count = 0;
	while ((n = cpm_msrp_path_next(&cur, &u)) == 1 && count < CPM_CHAT_MAX_HOPS) {
		last = u.whole;
		count++;
	}
	if (n < 0 || !count || n == 1)
		return CPM_EPARSE;
	char *p = cpm_str_dup(cpm_str_trim(path)), *l = cpm_str_dup(last);
	if (!p || !l) {
		free(p);
		free(l);
		return CPM_ENOMEM;
	}
	struct cpm_chat_route rt;
	int rc = cpm_chat_route(ep->r->table, 0, CPM_MSRP_SEND, cpm_str_trim(path),
				cpm_str_from_cstr(ep->uri), cpm_now_ms(), &rt);
	char *st = NULL, *sf = NULL;
	if (!rc && rt.hop == CPM_CHAT_HOP_ERROR)
		rc = CPM_EINVAL; /* our relay URI, but no such session of that client */
	if (!rc && (!(st = cpm_str_dup(cpm_buf_str(&rt.to))) ||
		    !(sf = cpm_str_dup(cpm_buf_str(&rt.from)))))
		rc = CPM_ENOMEM;
	uint64_t client = !rc && rt.hop == CPM_CHAT_HOP_CLIENT ? rt.conn_id : 0;
	if (!rc)
		cpm_chat_route_free(&rt);
	if (rc) {
		free(p);
		free(l);
		free(st);
		free(sf);
		return rc;
	}
	free(ep->peer_path);
	free(ep->peer_last);
	free(ep->send_to);
	free(ep->send_from);
	ep->peer_path = p;
	ep->peer_last = l;
	ep->send_to = st;
	ep->send_from = sf;
	ep->client_conn = client;
	return 0;
}

void cpm_chat_ep_stats(const struct cpm_chat_relay *r, struct cpm_chat_ep_stats *out)
{
	if (!r) {
		memset(out, 0, sizeof *out);
		return;
	}
	*out = r->ep_st;
}

/* ----------------------------------------------------------------- sending */

static void out_unlink(struct cpm_chat__out *o)
{
	if (!o->ep)
		return;
	if (o->prev)
		o->prev->next = o->next;
	else
		o->ep->outs = o->next;
	if (o->next)
		o->next->prev = o->prev;
	o->prev = o->next = NULL;
}

void cpm_chat__out_unref(struct cpm_chat__out *o)
{
	if (--o->pending)
		return;
	out_unlink(o);
	free(o);
}

static void bind_done(struct cpm_chat_ep *ep, int status)
{
	if (status / 100 == 2) {
		ep->bound = true;
		if (ep->ops && ep->ops->bound)
			ep->ops->bound(ep->arg, ep);
		return;
	}
	char why[64];
	snprintf(why, sizeof why, "the peer answered %d to the binding SEND", status);
	cpm_logi("msrp", "local session %s: %s", ep->sess->id, why);
	if (ep->ops && ep->ops->closed)
		ep->ops->closed(ep->arg, ep, why);
}

void cpm_chat__ep_settle(struct cpm_chat_relay *r, struct cpm_chat__out *o, int code)
{
	(void)r;
	if (!o)
		return;
	if (code / 100 != 2 && !o->status)
		o->status = code;
	if (--o->pending)
		return;
	struct cpm_chat_ep *ep = o->ep;
	cpm_chat_ep_sent_cb *cb = o->cb;
	void *arg = o->arg;
	int status = o->status ? o->status : 200;
	bool bind = o->bind;
	out_unlink(o);
	free(o);
	if (!ep)
		return;
	if (bind)
		bind_done(ep, status);
	else if (cb)
		cb(arg, status);
}

/* Queue one message on c as chunks of at most lim.chunk bytes, each with
 * a transaction of o. */
static int send_chunks(struct cpm_chat_ep *ep, struct cpm_chat__conn *c, struct cpm_chat__out *o,
		       struct cpm_str ctype, struct cpm_str body, struct cpm_str msgid)
{
	struct cpm_chat_relay *r = ep->r;
	size_t chunk = ep->lim.chunk;
	size_t n = body.len ? (body.len + chunk - 1) / chunk : 1;
	struct cpm_buf b;
	cpm_buf_init(&b, CPM_CHAT__BUF_MAX);
	int rc = cpm_buf_reserve(&b, body.len + n * (400 + strlen(ep->send_to) +
						      strlen(ep->send_from)));
	for (size_t i = 0; i < n && !rc; i++) {
		size_t off = i * chunk, len = body.len - off < chunk ? body.len - off : chunk;
		struct cpm_str piece = { body.s ? body.s + off : NULL, len };
		char tid[CPM_MSRP_TID_LEN + 1];
		/* a tid whose end-line the body holds would end it early (§7.1) */
		for (int tries = 0; tries < 4; tries++)
			if ((rc = cpm_chat__tid_new(r, tid)) ||
			    !cpm_msrp_body_has_endline(piece, cpm_str_from_cstr(tid)))
				break;
		if (rc)
			break;
		struct cpm_msrp_send s = {
			.tid = cpm_str_from_cstr(tid),
			.to_path = cpm_str_from_cstr(ep->send_to),
			.from_path = cpm_str_from_cstr(ep->send_from),
			.message_id = msgid,
			.has_range = true,
			.range = { .start = off + 1, .end = off + len, .total = body.len },
			.content_type = body.len || ctype.len ? ctype : CPM_STR_NULL,
			.body = piece,
			.flag = i + 1 == n ? '$' : '+',
		};
		struct cpm_chat__txn *t = calloc(1, sizeof *t);
		if (!t) {
			rc = CPM_ENOMEM;
			break;
		}
		if ((rc = cpm_msrp_print_send(&b, &s))) {
			free(t);
			break;
		}
		t->kind = CPM_CHAT__T_EP;
		memcpy(t->tid, tid, sizeof t->tid);
		t->fr = CPM_MSRP_REP_YES;
		t->out = o;
		o->pending++;
		cpm_chat__txn_start(r, t, c);
	}
	if (!rc && b.len)
		rc = cpm_chat__put(c, 0, b.p, b.len);
	cpm_buf_free(&b);
	return rc;
}

static struct cpm_chat__out *out_new(struct cpm_chat_ep *ep, cpm_chat_ep_sent_cb *cb, void *arg)
{
	struct cpm_chat__out *o = calloc(1, sizeof *o);
	if (!o)
		return NULL;
	o->ep = ep;
	o->cb = cb;
	o->arg = arg;
	/* a reference of our own while the chunks are queued */
	o->pending = 1;
	o->next = ep->outs;
	if (ep->outs)
		ep->outs->prev = o;
	ep->outs = o;
	return o;
}

/* Drop our own reference: the chunks' transactions hold the rest. */
static void out_release(struct cpm_chat__out *o, int rc)
{
	if (rc) {
		/* what was queued still completes; nobody is told */
		o->cb = NULL;
		o->bind = false;
	}
	cpm_chat__out_unref(o);
}

int cpm_chat_ep_send(struct cpm_chat_ep *ep, struct cpm_str content_type, struct cpm_str body,
		     struct cpm_str message_id, cpm_chat_ep_sent_cb *cb, void *arg)
{
	struct cpm_chat_relay *r = ep->r;
	struct cpm_chat__conn *c = cpm_chat__conn_find(r, ep->conn_id);
	if (!c || !ep->bound || !ep->peer_path)
		return CPM_EAGAIN;
	size_t nchunks = body.len ? (body.len + ep->lim.chunk - 1) / ep->lim.chunk : 1;
	/* the queue is what the kernel refused: a burst staged in this loop
	 * iteration is written first (so that one large read fanned out
	 * does not count as a slow reader), then measured */
	size_t q = cpm_chat__unsent(c);
	if (q + body.len > ep->lim.max_queue / 2) {
		cpm_chat__flush_now(c);
		q = cpm_chat__unsent(c);
	}
	if (q + body.len > ep->lim.max_queue || c->ntxn + nchunks > CPM_CHAT__TXN_MAX) {
		r->ep_st.overflows++;
		return CPM_ELIMIT;
	}
	if (!content_type.len)
		return CPM_EINVAL;
	char mid[CPM_MSRP_MSGID_LEN + 1];
	if (!message_id.len) {
		int rc = cpm_msrp_msgid_new(mid);
		if (rc)
			return rc;
		message_id = cpm_str_from_cstr(mid);
	} else if (!cpm_msrp_ident_valid(message_id)) {
		return CPM_EINVAL;
	}
	struct cpm_chat__out *o = out_new(ep, cb, arg);
	if (!o)
		return CPM_ENOMEM;
	int rc = send_chunks(ep, c, o, content_type, body, message_id);
	out_release(o, rc);
	if (!rc)
		r->ep_st.sent++;
	return rc;
}

int cpm_chat_ep_connect(struct cpm_chat_ep *ep)
{
	struct cpm_chat_relay *r = ep->r;
	if (!ep->peer_path)
		return CPM_EINVAL;
	if (ep->conn_id)
		return CPM_EEXIST;
	struct cpm_str cur = cpm_str_from_cstr(ep->send_to);
	struct cpm_msrp_uri u;
	char key[CPM_CHAT_KEY_MAX];
	if (cpm_msrp_path_next(&cur, &u) != 1 || cpm_chat_uri_key(&u, key, sizeof key))
		return CPM_EPARSE;
	int err = 0;
	/* a client of our relay is reached on its connection (RFC 4976 §6) */
	struct cpm_chat__conn *c = ep->client_conn ? cpm_chat__conn_find(r, ep->client_conn)
						   : cpm_chat__conn_to(r, key, &u, &err);
	if (!c)
		return err ? err : CPM_ECLOSED;
	conn_link(ep, c);
	char mid[CPM_MSRP_MSGID_LEN + 1];
	int rc = cpm_msrp_msgid_new(mid);
	struct cpm_chat__out *o = rc ? NULL : out_new(ep, NULL, NULL);
	if (!o) {
		conn_unlink(ep);
		return rc ? rc : CPM_ENOMEM;
	}
	o->bind = true;
	/* RFC 4975 §5.4: the active side opens with a SEND, empty if it has
	 * nothing to say, so that the passive side learns the connection */
	rc = send_chunks(ep, c, o, CPM_STR_NULL, CPM_STR_NULL, cpm_str_from_cstr(mid));
	out_release(o, rc);
	if (rc)
		conn_unlink(ep);
	return rc;
}

/* ---------------------------------------------------------------- receiving */

/* Does the From-Path end with the peer that the SDP named (RFC 4975 §5.4:
 * a session is matched by both ends' URIs)? */
static bool from_matches(const struct cpm_chat_ep *ep, struct cpm_str from)
{
	if (!ep->peer_last)
		return true; /* the owner did not say: anyone (first come) */
	struct cpm_msrp_uri u, last, want;
	int n, count = 0;
	while ((n = cpm_msrp_path_next(&from, &u)) == 1) {
		last = u;
		count++;
	}
	if (n < 0 || !count || cpm_msrp_uri_parse(cpm_str_from_cstr(ep->peer_last), &want))
		return false;
	return cpm_msrp_uri_eq(&last, &want);
}

static void x_discard(struct cpm_chat__xfer *x, int status)
{
	cpm_chat__epx_free(x->epx);
	x->epx = NULL;
	x->kind = CPM_CHAT__X_DISCARD;
	x->status = status;
}

void cpm_chat__ep_headers(struct cpm_chat__conn *c, const struct cpm_msrp_msg *m,
			  const struct cpm_chat_route *rt)
{
	struct cpm_chat_relay *r = c->r;
	struct cpm_chat__xfer *x = &c->cur;
	struct cpm_chat_ep *ep = rt->sess->local;
	struct cpm_str from = cpm_buf_str(&rt->from);
	if (!from_matches(ep, from)) {
		cpm_logi(c->name, "msrp %s: From-Path %.*s is not the peer of %s", x->tid,
			 CPM_STR_FMT(from), ep->uri);
		x_discard(x, 481);
		return;
	}
	struct cpm_chat__conn *bound = cpm_chat__conn_find(r, ep->conn_id);
	if (bound && bound != c) {
		/* RFC 4975 §5.4: one connection per session */
		x_discard(x, 506);
		return;
	}
	struct cpm_chat__epx *e = calloc(1, sizeof *e);
	if (!e || !(e->from_path = cpm_str_dup(from))) {
		free(e);
		cpm_chat__conn_close(c, "out of memory");
		return;
	}
	x->epx = e;
	x->kind = CPM_CHAT__X_LOCAL;
	memcpy(e->sid, ep->sess->id, sizeof e->sid);
	if (!bound) {
		if (ep->conn_id)
			conn_unlink(ep); /* its connection went: this one now */
		conn_link(ep, c);
		e->newly_bound = !ep->bound;
	}
	switch (m->method) {
	case CPM_MSRP_REPORT:
		/* we ask for no success reports; failures come as responses */
		cpm_logi(c->name, "msrp REPORT for %s message %.*s: %d", ep->uri,
			 CPM_STR_FMT(m->message_id), m->has_status ? m->status.code : 0);
		return;
	case CPM_MSRP_SEND:
		break;
	default:
	{
		/* may close c (then x and e are gone) */
		int st = ep->ops && ep->ops->request ? ep->ops->request(ep->arg, ep, m) : 501;
		if (c->st != CPM_CHAT__CLOSING)
			e->status = st ? st : 200;
		return;
	}
	}
	e->sr = m->success_report;
	if (!m->has_body)
		return; /* binds the connection, answered 200 */
	if (!m->message_id.len ||
	    cpm_str_copy(m->message_id, e->msgid, sizeof e->msgid)) {
		e->status = 400;
		return;
	}
	e->body = true;
	e->start = m->has_range && m->range.start ? m->range.start : 1;
	e->total = m->has_range && !m->range.total_star ? m->range.total : 0;
	struct inmsg **pp = inmsg_slot(ep, e->msgid);
	if (*pp && (*pp)->rejected) {
		e->status = 413;
		return;
	}
	if (e->total > ep->lim.max_message || e->start - 1 > ep->lim.max_message) {
		/* RFC 4975 §7.3.1 (413): stop sending this message */
		if (*pp)
			inmsg_drop(ep, e->msgid);
		e->status = 413;
		r->ep_st.rejected++;
		return;
	}
	if (!*pp) {
		if (ep->nin >= EP_INMSG_MAX) {
			e->status = 413;
			return;
		}
		struct inmsg *im = calloc(1, sizeof *im);
		if (!im || !(im->ctype = cpm_str_dup(m->content_type))) {
			free(im);
			cpm_chat__conn_close(c, "out of memory");
			return;
		}
		memcpy(im->msgid, e->msgid, sizeof im->msgid);
		cpm_buf_init(&im->data, ep->lim.max_message);
		*pp = im;
		ep->nin++;
	}
}

/* Write data at offset off of b (zeros fill a gap). */
static int put_at(struct cpm_buf *b, uint64_t off, struct cpm_str data)
{
	if (off > b->max || data.len > b->max - off)
		return CPM_ETOOBIG;
	size_t end = (size_t)off + data.len;
	if (end > b->len) {
		int rc = cpm_buf_reserve(b, end - b->len);
		if (rc)
			return rc;
		if (off > b->len)
			memset(b->p + b->len, 0, (size_t)off - b->len);
		b->len = end;
		b->p[end] = '\0';
	}
	memcpy(b->p + off, data.s, data.len);
	return 0;
}

void cpm_chat__ep_body(struct cpm_chat__conn *c, struct cpm_str data)
{
	struct cpm_chat__epx *e = c->cur.epx;
	if (!e || e->status || !e->body || !data.len)
		return;
	struct cpm_chat_ep *ep = ep_find(c->r, e->sid);
	struct inmsg *im = ep ? *inmsg_slot(ep, e->msgid) : NULL;
	if (!im) {
		e->status = 481;
		return;
	}
	/* every message being reassembled together stays within the bound
	 * (a sender that never finishes its messages holds no more) */
	uint64_t end = e->start - 1 + e->got + data.len;
	size_t before = im->data.len;
	uint64_t growth = end > before ? end - before : 0;
	if (ep->in_bytes + growth > ep->lim.max_message ||
	    put_at(&im->data, e->start - 1 + e->got, data)) {
		im->rejected = true;
		ep->in_bytes -= im->data.len;
		cpm_buf_free(&im->data);
		e->status = 413;
		c->r->ep_st.rejected++;
		cpm_logi(c->name, "msrp message %s to %s: larger than %zu bytes: 413", e->msgid,
			 ep->uri, ep->lim.max_message);
		return;
	}
	ep->in_bytes += im->data.len - before;
	e->got += data.len;
}

/* Success-Report: yes on a message the owner took (RFC 4975 §7.1.2: a
 * REPORT with Status 200 covering the whole message). */
static void success_report(struct cpm_chat__conn *c, struct cpm_chat_ep *ep,
			   const struct cpm_chat__epx *e, uint64_t len)
{
	/* back along the From-Path, our relay URIs in front crossed (the
	 * SEND came through our relay: its client is on c) */
	struct cpm_chat_route rt;
	if (cpm_chat_route(c->r->table, 0, CPM_MSRP_REPORT, cpm_str_from_cstr(e->from_path),
			   cpm_str_from_cstr(ep->uri), cpm_now_ms(), &rt))
		return;
	if (rt.hop != CPM_CHAT_HOP_CLIENT && rt.hop != CPM_CHAT_HOP_URI) {
		cpm_chat_route_free(&rt);
		return;
	}
	char tid[CPM_MSRP_TID_LEN + 1];
	struct cpm_buf b;
	cpm_buf_init(&b, 64 * 1024);
	struct cpm_msrp_report rep = {
		.tid = { tid, CPM_MSRP_TID_LEN },
		.to_path = cpm_buf_str(&rt.to),
		.from_path = cpm_buf_str(&rt.from),
		.message_id = cpm_str_from_cstr(e->msgid),
		.range = { .start = 1, .end = len, .total = len },
		.status = { .ns = 0, .code = 200, .reason = CPM_STR("OK") },
	};
	if (!cpm_chat__tid_new(c->r, tid) && !cpm_msrp_print_report(&b, &rep))
		cpm_chat__put(c, 0, b.p, b.len);
	cpm_buf_free(&b);
	cpm_chat_route_free(&rt);
}

void cpm_chat__ep_end(struct cpm_chat__conn *c, char flag)
{
	struct cpm_chat_relay *r = c->r;
	struct cpm_chat__xfer *x = &c->cur;
	struct cpm_chat__epx *e = x->epx;
	if (!e)
		return;
	struct cpm_chat_ep *ep = ep_find(r, e->sid);
	int status = e->status ? e->status : ep ? 200 : 481;
	uint64_t done = 0; /* the length of a message handed over */
	if (ep && x->method == CPM_MSRP_SEND && e->body && !e->status) {
		struct inmsg *im = *inmsg_slot(ep, e->msgid);
		if (flag == '#') {
			/* the sender gave the message up (§7.1.1) */
			inmsg_drop(ep, e->msgid);
		} else if (im) {
			im->got += e->got;
			if (flag == '$')
				im->final = e->start - 1 + e->got;
			if (im->final && im->got >= im->final) {
				struct cpm_chat_ep_msg msg = {
					.message_id = cpm_str_from_cstr(e->msgid),
					.content_type = cpm_str_from_cstr(im->ctype),
					.body = { im->data.p ? im->data.p : "", im->final },
					.from_path = cpm_str_from_cstr(e->from_path),
				};
				/* unlinked first: the owner may close ep */
				*inmsg_slot(ep, e->msgid) = im->next;
				ep->nin--;
				ep->in_bytes -= im->data.len;
				r->ep_st.received++;
				status = ep->ops && ep->ops->message
						 ? ep->ops->message(ep->arg, ep, &msg)
						 : 200;
				done = im->final;
				inmsg_free(im);
				if (c->st == CPM_CHAT__CLOSING)
					return; /* x (and e) went with it */
				ep = ep_find(r, e->sid);
			}
		}
	}
	if (x->is_request && cpm_chat__may_answer(x, status))
		cpm_chat__respond(c, x->tid, status, x->resp_to, x->resp_from, NULL);
	if (ep && done && status == 200 && e->sr == CPM_MSRP_REP_YES)
		success_report(c, ep, e, done);
	if (ep && e->newly_bound && !ep->bound && status / 100 == 2) {
		ep->bound = true;
		if (ep->ops && ep->ops->bound)
			ep->ops->bound(ep->arg, ep);
	}
	x->kind = CPM_CHAT__X_NONE; /* answered: on_end's reset follows */
}

void cpm_chat__ep_conn_gone(struct cpm_chat__conn *c)
{
	while (c->eps) {
		struct cpm_chat_ep *ep = c->eps;
		c->eps = ep->c_next;
		if (c->eps)
			c->eps->c_prev = NULL;
		ep->conn_id = 0;
		ep->c_prev = ep->c_next = NULL;
		if (ep->ops && ep->ops->closed)
			ep->ops->closed(ep->arg, ep, "connection closed");
	}
}

void cpm_chat__ep_free_all(struct cpm_chat_relay *r)
{
	while (r->eps)
		cpm_chat_ep_close(r->eps);
}
