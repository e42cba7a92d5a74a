/* RFC 3261 §17 transactions with the RFC 6026 corrections: matching,
 * state machines, timers A-K (L for the INVITE server "Accepted" state),
 * response routing per §18.2.2 and RFC 3581. */
#include "txn/txn.h"
#include "net/net_int.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define COOKIE "z9hG4bK"
#define COOKIE_LEN 7
/* A TU that never answers must not leak transactions: a server txn with no
 * final response is dropped after this long (INVITE: well past Timer C). */
#define SAFETY_NONINV_MULT 128 /* × T1 */
#define SAFETY_INV_MS (10 * 60 * 1000)

enum txn_state {
	/* server INVITE */
	ST_PROCEEDING = 1,
	ST_COMPLETED,
	ST_CONFIRMED,
	ST_ACCEPTED, /* RFC 6026 §7.1 */
	/* server non-INVITE */
	ST_TRYING,
	/* client INVITE */
	ST_CALLING,
	/* (client also uses PROCEEDING, COMPLETED, TRYING, ACCEPTED) */
	ST_TERMINATED,
};

/* What matching needs from the request, kept while the parsed message may
 * be dropped. */
struct txn_key {
	struct cpm_str branch, host, method_s, call_id, ruri, from_tag, to_tag;
	struct cpm_str via; /* the whole top via-parm */
	uint32_t cseq;
	uint16_t port;
	bool has_port;
	enum cpm_sip_method rmethod; /* the request's own method */
};

struct cpm_txn {
	struct cpm_txn_layer *l;
	struct cpm_net__hnode hn;      /* in l->txns (matching) */
	struct cpm_net__hnode conn_hn; /* client over TCP: in l->by_conn */
	struct cpm_txn *prev, *next;   /* in l->all */
	bool server, invite, rfc2543, in_conn_tab, detached;
	enum txn_state st;
	enum cpm_sip_method method; /* key method (ACK → INVITE) */
	uv_timer_t timer;
	uint64_t retx_at, end_at; /* absolute uv_now ms, 0 = off */
	/* end_at is kept in a FIFO of equal durations (struct endq), or on
	 * the txn's own timer when no queue is free (end_on_timer) */
	struct endq *eq;
	struct cpm_txn *eq_prev, *eq_next;
	uint64_t eq_at;
	bool end_on_timer;
	uint64_t retx_iv;
	bool end_is_timeout;      /* end_at fires Timer B/F (408) */
	int status;               /* last sent (server) / received (client) */
	char *raw;                /* own copy of the request */
	size_t raw_len;
	/* the parsed request; dropped once a non-INVITE txn is Completed
	 * (~9 KB each, and most live txns sit in Completed) and parsed
	 * again on demand by cpm_txn_req */
	struct cpm_sip_msg *m;
	bool trim_pending;
	struct cpm_txn *trim_prev, *trim_next; /* in l->trim */
	struct txn_key k;         /* matching fields, slices into raw */
	struct cpm_net_dest src;  /* server: where it came from; client: dst */
	struct cpm_net_dest rdst; /* server: where responses go */
	char *resp;               /* server: last response sent */
	size_t resp_len;
	char *ack;                /* client INVITE: ACK for a non-2xx final */
	size_t ack_len;
	/* client */
	cpm_txn_resp_cb *cb;
	void *cb_arg;
	bool cancel_wanted, cancel_done;
	char *cancel_reason;
	/* owner */
	void *owner;
	void (*gone)(void *owner, struct cpm_txn *t);
	char cid[72]; /* Call-ID for logs */
};

/* Transactions end after one of a few fixed durations (Timers J, K, H,
 * I, D, L, B, F, the safety ends): all the txns waiting the same duration
 * end in the order they started waiting, so one FIFO and one libuv timer
 * per duration replace a heap operation per transaction. */
#define TXN_ENDQ_MAX 8

struct endq {
	struct cpm_txn_layer *l;
	uint64_t dur;
	struct cpm_txn *head, *tail;
	uv_timer_t timer;
};

struct cpm_txn_layer {
	uv_loop_t *loop;
	struct cpm_net *net;
	struct cpm_txn_conf conf;
	struct cpm_txn_handler h;
	void *arg;
	cpm_net_conn_cb *ccb;
	void *ccb_arg;
	struct cpm_net__htab txns;
	struct cpm_net__htab by_conn;
	struct cpm_txn *all;
	unsigned count;
	unsigned handles; /* txn timers still open */
	bool freeing;
	struct cpm_sip_msg scratch;
	/* parsed-message structs (~9 KB, past malloc's fast bins) kept for
	 * reuse: a relayed request needs three */
	void *msg_pool;
	unsigned msg_pool_n;
	/* server txns whose parsed request is dropped after this turn of
	 * the loop (one check handle for all, no timer per txn) */
	struct cpm_txn *trim;
	uv_check_t trim_check;
	struct endq endqs[TXN_ENDQ_MAX];
	int nendq;
};

#define MSG_POOL_MAX 1024

static struct cpm_sip_msg *msg_alloc(struct cpm_txn_layer *l)
{
	if (l->msg_pool) {
		void *m = l->msg_pool;
		l->msg_pool = *(void **)m;
		l->msg_pool_n--;
		return m;
	}
	return malloc(sizeof(struct cpm_sip_msg));
}

static void msg_free(struct cpm_txn_layer *l, struct cpm_sip_msg *m)
{
	if (!m)
		return;
	if (l->freeing || l->msg_pool_n >= MSG_POOL_MAX) {
		free(m);
		return;
	}
	*(void **)m = l->msg_pool;
	l->msg_pool = m;
	l->msg_pool_n++;
}

static void trim_unlink(struct cpm_txn *t)
{
	struct cpm_txn_layer *l = t->l;
	if (!t->trim_pending)
		return;
	if (t->trim_prev)
		t->trim_prev->trim_next = t->trim_next;
	else
		l->trim = t->trim_next;
	if (t->trim_next)
		t->trim_next->trim_prev = t->trim_prev;
	t->trim_prev = t->trim_next = NULL;
	t->trim_pending = false;
}

static void trim_run(uv_check_t *h)
{
	struct cpm_txn_layer *l = h->data;
	while (l->trim) {
		struct cpm_txn *t = l->trim;
		trim_unlink(t);
		msg_free(l, t->m);
		t->m = NULL;
	}
}

static void msg_pool_drain(struct cpm_txn_layer *l)
{
	while (l->msg_pool) {
		void *m = l->msg_pool;
		l->msg_pool = *(void **)m;
		free(m);
	}
	l->msg_pool_n = 0;
}

void cpm_txn_conf_default(struct cpm_txn_conf *c)
{
	memset(c, 0, sizeof *c);
	c->t1_ms = 500;
	c->t2_ms = 4000;
	c->t4_ms = 5000;
	c->max_txns = 200000;
	cpm_sip_limits_default(&c->lim);
}

static void set_cid(char *out, size_t outsz, struct cpm_str callid)
{
	size_t n = callid.len < outsz - 1 ? callid.len : outsz - 1;
	for (size_t i = 0; i < n; i++) {
		char c = callid.s[i];
		out[i] = (c >= 0x21 && c < 0x7f) ? c : '?';
	}
	out[n] = '\0';
}

static bool has_cookie(struct cpm_str branch)
{
	return branch.len > COOKIE_LEN &&
	       memcmp(branch.s, COOKIE, COOKIE_LEN) == 0;
}

static enum cpm_sip_method key_method(enum cpm_sip_method m)
{
	return m == CPM_SIP_ACK ? CPM_SIP_INVITE : m;
}

/* ------------------------------------------------------------- matching */

static uint64_t mix_method(uint64_t h, enum cpm_sip_method m,
			   struct cpm_str other, bool server)
{
	unsigned char tag[2] = { (unsigned char)m, server ? 1 : 2 };
	h = cpm_net__hash(h, tag, sizeof tag);
	if (m == CPM_SIP_OTHER)
		h = cpm_net__hash(h, other.s, other.len);
	return h;
}

/* Key of a message for matching.  Server: §17.2.3 (branch with cookie),
 * else the RFC 2543 tuple (Call-ID and CSeq number hashed, the rest
 * compared).  Client: §17.1.3, branch and CSeq method. */
static uint64_t msg_key(const struct cpm_sip_msg *m, enum cpm_sip_method meth,
			struct cpm_str meth_s, bool server)
{
	uint64_t h = CPM_NET__HASH_INIT;
	if (!server || has_cookie(m->via.branch)) {
		h = cpm_net__hash_lower(h, m->via.branch.s, m->via.branch.len);
	} else {
		h = cpm_net__hash(h, m->call_id.s, m->call_id.len);
		h = cpm_net__hash(h, &m->cseq.num, sizeof m->cseq.num);
		h ^= 0x2543;
	}
	return mix_method(h, meth, meth_s, server);
}

static bool sentby_eq(const struct txn_key *k, const struct cpm_sip_via *b)
{
	uint16_t pa = k->has_port ? k->port : 0, pb = b->has_port ? b->port : 0;
	return pa == pb && cpm_str_ieq(k->host, b->host);
}

static bool method_eq(const struct cpm_txn *t, enum cpm_sip_method m,
		      struct cpm_str ms)
{
	if (t->method != m)
		return false;
	if (m != CPM_SIP_OTHER)
		return true;
	return cpm_str_eq(t->k.method_s, ms);
}

/* §17.2.3: does request m (looked up as method meth) match server txn t? */
static bool server_match(const struct cpm_txn *t, const struct cpm_sip_msg *m,
			 enum cpm_sip_method meth)
{
	const struct txn_key *k = &t->k;
	if (!t->server || !method_eq(t, meth, m->method_s))
		return false;
	if (!t->rfc2543) {
		return has_cookie(m->via.branch) &&
		       cpm_str_ieq(k->branch, m->via.branch) &&
		       sentby_eq(k, &m->via);
	}
	/* RFC 3261 §17.2.3 last paragraphs: RFC 2543 compatibility.  The
	 * INVITE, its retransmissions, the ACK for a non-2xx and the CANCEL
	 * share Request-URI, From tag, Call-ID, CSeq number and top Via; the
	 * To tag of an ACK is ours, so it is not compared. */
	if (has_cookie(m->via.branch))
		return false;
	if (!cpm_str_eq(k->call_id, m->call_id) ||
	    k->cseq != m->cseq.num ||
	    !cpm_str_eq(k->ruri, m->ruri) ||
	    !cpm_str_eq(k->from_tag, m->from.tag) ||
	    !cpm_str_ieq(k->via, m->via.whole))
		return false;
	if (m->method != CPM_SIP_ACK && !cpm_str_eq(k->to_tag, m->to.tag))
		return false;
	return true;
}

static struct cpm_txn *server_find(const struct cpm_txn_layer *l,
				   const struct cpm_sip_msg *m,
				   enum cpm_sip_method meth)
{
	uint64_t k = msg_key(m, meth, m->method_s, true);
	for (struct cpm_net__hnode *nd = cpm_net__htab_first(&l->txns, k); nd;
	     nd = cpm_net__htab_next(nd)) {
		struct cpm_txn *t = cpm_net__container(nd, struct cpm_txn, hn);
		if (t->st != ST_TERMINATED && server_match(t, m, meth))
			return t;
	}
	return NULL;
}

/* §17.1.3: branch of the top Via and the CSeq method. */
/* The client txn with this branch and key method (§17.1.3). */
static struct cpm_txn *client_find_key(const struct cpm_txn_layer *l, struct cpm_str branch,
				       enum cpm_sip_method meth, struct cpm_str meth_s)
{
	uint64_t k = mix_method(cpm_net__hash_lower(CPM_NET__HASH_INIT, branch.s, branch.len),
				meth, meth_s, false);
	for (struct cpm_net__hnode *nd = cpm_net__htab_first(&l->txns, k); nd;
	     nd = cpm_net__htab_next(nd)) {
		struct cpm_txn *t = cpm_net__container(nd, struct cpm_txn, hn);
		if (!t->server && t->st != ST_TERMINATED && method_eq(t, meth, meth_s) &&
		    cpm_str_ieq(t->k.branch, branch))
			return t;
	}
	return NULL;
}

/* The key of a request the TU wrote in the usual layout: "METHOD SP",
 * and a first header line "Via: SIP/2.0/T host;...;branch=z9hG4bK...".
 * false (full parse) for INVITE (its ACK and CANCEL need the message),
 * ACK, or anything else. */
static bool light_key(const char *p, size_t len, struct cpm_str *method_s,
		      enum cpm_sip_method *m, struct cpm_str *branch, struct cpm_str *callid)
{
	const char *end = p + len;
	const char *sp = memchr(p, ' ', len);
	const char *eol = memchr(p, '\r', len);
	if (!sp || !eol || sp > eol || eol + 8 > end || memcmp(eol, "\r\nVia: ", 7) != 0)
		return false;
	*method_s = (struct cpm_str){ p, (size_t)(sp - p) };
	*m = cpm_sip_method_parse(*method_s);
	if (*m == CPM_SIP_INVITE || *m == CPM_SIP_ACK || *m == CPM_SIP_CANCEL)
		return false;
	const char *vl = eol + 7;
	const char *vend = memchr(vl, '\r', (size_t)(end - vl));
	if (!vend || memchr(vl, ',', (size_t)(vend - vl)))
		return false; /* one via-parm only */
	const char *b = memmem(vl, (size_t)(vend - vl), ";branch=", 8);
	if (!b)
		return false;
	b += 8;
	const char *be = b;
	while (be < vend && *be != ';' && *be != ' ')
		be++;
	*branch = (struct cpm_str){ b, (size_t)(be - b) };
	if (!has_cookie(*branch))
		return false;
	*callid = CPM_STR("");
	const char *c = memmem(vend, (size_t)(end - vend), "\r\nCall-ID: ", 11);
	if (c) {
		c += 11;
		const char *ce = memchr(c, '\r', (size_t)(end - c));
		if (ce)
			*callid = (struct cpm_str){ c, (size_t)(ce - c) };
	}
	return true;
}

static struct cpm_txn *client_find(const struct cpm_txn_layer *l,
				   const struct cpm_sip_msg *resp)
{
	enum cpm_sip_method meth = resp->cseq.method;
	uint64_t k = msg_key(resp, meth, resp->cseq.method_s, false);
	for (struct cpm_net__hnode *nd = cpm_net__htab_first(&l->txns, k); nd;
	     nd = cpm_net__htab_next(nd)) {
		struct cpm_txn *t = cpm_net__container(nd, struct cpm_txn, hn);
		if (t->server || t->st == ST_TERMINATED)
			continue;
		if (!method_eq(t, meth, resp->cseq.method_s))
			continue;
		if (cpm_str_ieq(t->k.branch, resp->via.branch))
			return t;
	}
	return NULL;
}

/* --------------------------------------------------------------- timers */

static void txn_timer_cb(uv_timer_t *tm);
static void txn_end_fire(struct cpm_txn *t);

static void eq_unlink(struct cpm_txn *t)
{
	struct endq *q = t->eq;
	if (!q)
		return;
	if (t->eq_prev)
		t->eq_prev->eq_next = t->eq_next;
	else
		q->head = t->eq_next;
	if (t->eq_next)
		t->eq_next->eq_prev = t->eq_prev;
	else
		q->tail = t->eq_prev;
	t->eq = NULL;
	t->eq_prev = t->eq_next = NULL;
	t->eq_at = 0;
}

static void eq_fire(uv_timer_t *tm)
{
	struct endq *q = tm->data;
	uint64_t now = uv_now(q->l->loop);
	while (q->head && q->head->eq_at <= now) {
		struct cpm_txn *t = q->head;
		eq_unlink(t);
		txn_end_fire(t);
	}
	/* a head that left early may have armed us too soon: aim again */
	if (q->head)
		uv_timer_start(&q->timer, eq_fire, q->head->eq_at - now, 0);
}

static bool eq_link(struct cpm_txn *t, uint64_t now)
{
	struct cpm_txn_layer *l = t->l;
	uint64_t dur = t->end_at > now ? t->end_at - now : 0;
	struct endq *q = NULL;
	for (int i = 0; i < l->nendq; i++)
		if (l->endqs[i].dur == dur)
			q = &l->endqs[i];
	if (!q) {
		if (l->nendq == TXN_ENDQ_MAX || l->freeing)
			return false;
		q = &l->endqs[l->nendq++];
		q->l = l;
		q->dur = dur;
		q->head = q->tail = NULL;
		uv_timer_init(l->loop, &q->timer);
		q->timer.data = q;
		l->handles++;
	}
	t->eq = q;
	t->eq_at = t->end_at;
	t->eq_prev = q->tail;
	t->eq_next = NULL;
	if (q->tail)
		q->tail->eq_next = t;
	else
		q->head = t;
	q->tail = t;
	if (!uv_is_active((uv_handle_t *)&q->timer))
		uv_timer_start(&q->timer, eq_fire, dur, 0);
	return true;
}

static void txn_arm(struct cpm_txn *t)
{
	uint64_t now = uv_now(t->l->loop);
	if (t->end_at != t->eq_at || (!t->end_at && t->end_on_timer)) {
		eq_unlink(t);
		t->end_on_timer = t->end_at && !eq_link(t, now);
	}
	uint64_t next = t->retx_at;
	if (t->end_on_timer && (!next || t->end_at < next))
		next = t->end_at;
	if (!next) {
		if (uv_is_active((uv_handle_t *)&t->timer))
			uv_timer_stop(&t->timer);
		return;
	}
	uv_timer_start(&t->timer, txn_timer_cb, next > now ? next - now : 0, 0);
}

static uint64_t now_ms(const struct cpm_txn *t)
{
	return uv_now(t->l->loop);
}

static bool reliable(const struct cpm_txn *t)
{
	return cpm_net_proto_reliable(t->src.proto);
}

/* --------------------------------------------------------- life and death */

static void layer_maybe_free(struct cpm_txn_layer *l)
{
	if (l->freeing && !l->handles) {
		msg_pool_drain(l);
		cpm_net__htab_free(&l->txns);
		cpm_net__htab_free(&l->by_conn);
		free(l);
	}
}

static void txn_closed(uv_handle_t *h)
{
	struct cpm_txn *t = h->data;
	struct cpm_txn_layer *l = t->l;
	free(t->raw);
	msg_free(l, t->m);
	free(t->resp);
	free(t->ack);
	free(t->cancel_reason);
	free(t);
	l->handles--;
	layer_maybe_free(l);
}

static void endq_closed(uv_handle_t *h)
{
	struct endq *q = h->data;
	struct cpm_txn_layer *l = q->l;
	l->handles--;
	layer_maybe_free(l);
}

static void trim_closed(uv_handle_t *h)
{
	struct cpm_txn_layer *l = h->data;
	l->handles--;
	layer_maybe_free(l);
}

/* Remove t from every table and free it once its timer has closed.  The
 * memory stays valid until the next loop iteration. */
static void txn_terminate(struct cpm_txn *t)
{
	struct cpm_txn_layer *l = t->l;
	if (t->st == ST_TERMINATED)
		return;
	t->st = ST_TERMINATED;
	trim_unlink(t);
	eq_unlink(t);
	cpm_net__htab_del(&l->txns, &t->hn);
	if (t->in_conn_tab) {
		cpm_net__htab_del(&l->by_conn, &t->conn_hn);
		t->in_conn_tab = false;
	}
	if (t->prev)
		t->prev->next = t->next;
	else
		l->all = t->next;
	if (t->next)
		t->next->prev = t->prev;
	l->count--;
	uv_close((uv_handle_t *)&t->timer, txn_closed);
	cpm_logd(t->cid, "txn %s %.*s terminated",
		 t->server ? "server" : "client", CPM_STR_FMT(t->k.method_s));
	if (t->gone) {
		void (*gone)(void *, struct cpm_txn *) = t->gone;
		t->gone = NULL;
		gone(t->owner, t);
	}
}

/* Copy buf, parse it into t->req; "via_over" replaces the top via-parm
 * (RFC 3581 received/rport) when not NULL. */
static int txn_set_req(struct cpm_txn *t, const struct cpm_sip_msg *m,
		       const char *via_over, size_t via_len)
{
	struct cpm_txn_layer *l = t->l;
	size_t len = m->len;
	size_t vs = 0, ve = 0;
	if (via_over) {
		vs = (size_t)(m->via.whole.s - m->buf);
		ve = vs + m->via.whole.len;
		len = m->len - m->via.whole.len + via_len;
	}
	t->raw = malloc(len + 1);
	if (!t->raw)
		return CPM_ENOMEM;
	if (via_over) {
		memcpy(t->raw, m->buf, vs);
		memcpy(t->raw + vs, via_over, via_len);
		memcpy(t->raw + vs + via_len, m->buf + ve, m->len - ve);
	} else {
		memcpy(t->raw, m->buf, m->len);
	}
	t->raw[len] = '\0';
	t->raw_len = len;
	if (!t->m && !(t->m = msg_alloc(l)))
		return CPM_ENOMEM;
	/* move the parse onto the copy rather than parse it again: only
	 * the header table that is in use is copied */
	size_t used = offsetof(struct cpm_sip_msg, hdrs) + m->nhdrs * sizeof m->hdrs[0];
	memcpy(t->m, m, used);
	t->m->body_off = m->body_off;
	t->m->body = m->body;
	size_t tail = offsetof(struct cpm_sip_msg, call_id);
	memcpy((char *)t->m + tail, (const char *)m + tail, sizeof *m - tail);
	int rc = cpm_sip_msg_rebase(t->m, t->raw, len, vs, ve, via_over ? via_len : 0);
	(void)l;
	if (!rc)
		rc = t->m->err_status ? CPM_EPARSE : 0;
	if (rc && via_over) {
		/* never lose a request to our own rewriting */
		free(t->raw);
		t->raw = NULL;
		return txn_set_req(t, m, NULL, 0);
	}
	return rc;
}

static struct cpm_txn *txn_alloc(struct cpm_txn_layer *l, bool server)
{
	struct cpm_txn *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->l = l;
	t->server = server;
	uv_timer_init(l->loop, &t->timer);
	t->timer.data = t;
	l->handles++;
	return t;
}

static void key_set(struct txn_key *k, const struct cpm_sip_msg *r)
{
	k->branch = r->via.branch;
	k->host = r->via.host;
	k->port = r->via.port;
	k->has_port = r->via.has_port;
	k->via = r->via.whole;
	k->method_s = r->method_s;
	k->rmethod = r->method;
	k->call_id = r->call_id;
	k->cseq = r->cseq.num;
	k->ruri = r->ruri;
	k->from_tag = r->from.tag;
	k->to_tag = r->to.tag;
}

/* The parsed request, parsed again if it was dropped (the bytes are the
 * same, so this cannot fail but for memory). */
static struct cpm_sip_msg *txn_msg(struct cpm_txn *t)
{
	if (t->m)
		return t->m;
	struct cpm_sip_msg *m = msg_alloc(t->l);
	if (!m)
		return NULL;
	if (cpm_sip_msg_parse(m, t->raw, t->raw_len, CPM_SIP_DATAGRAM,
			      &t->l->conf.lim)) {
		msg_free(t->l, m);
		return NULL;
	}
	t->m = m;
	return m;
}

/* Put t in the tables (its req is parsed). */
static void txn_link(struct cpm_txn *t)
{
	struct cpm_txn_layer *l = t->l;
	const struct cpm_sip_msg *r = t->m;
	key_set(&t->k, r);
	set_cid(t->cid, sizeof t->cid, r->call_id);
	t->invite = r->method == CPM_SIP_INVITE;
	t->method = key_method(r->method);
	t->rfc2543 = t->server && !has_cookie(r->via.branch);
	cpm_net__htab_add(&l->txns, &t->hn,
			  msg_key(r, t->method, r->method_s, t->server));
	t->next = l->all;
	if (l->all)
		l->all->prev = t;
	l->all = t;
	l->count++;
}

/* txn_link for a client txn known by its key only (no parsed message). */
static void txn_link_light(struct cpm_txn *t, struct cpm_str method_s, enum cpm_sip_method m,
			   struct cpm_str branch, struct cpm_str callid)
{
	struct cpm_txn_layer *l = t->l;
	memset(&t->k, 0, sizeof t->k);
	t->k.branch = branch;
	t->k.method_s = method_s;
	t->k.rmethod = m;
	set_cid(t->cid, sizeof t->cid, callid);
	t->invite = false;
	t->method = key_method(m);
	t->rfc2543 = false;
	uint64_t h = cpm_net__hash_lower(CPM_NET__HASH_INIT, branch.s, branch.len);
	cpm_net__htab_add(&l->txns, &t->hn, mix_method(h, t->method, method_s, false));
	t->next = l->all;
	if (l->all)
		l->all->prev = t;
	l->all = t;
	l->count++;
}

/* A txn that was allocated but never linked. */
static void txn_discard(struct cpm_txn *t)
{
	t->st = ST_TERMINATED;
	uv_close((uv_handle_t *)&t->timer, txn_closed);
}

/* ------------------------------------------------------- response routing */

void cpm_txn_response_dest(const struct cpm_sip_msg *req,
			   const struct cpm_net_dest *src,
			   struct cpm_net_dest *out)
{
	*out = *src;
	const struct cpm_sip_via *v = &req->via;
	uint16_t via_port = v->has_port && v->port ? v->port : 5060;
	if (cpm_net_proto_reliable(src->proto)) {
		/* §18.2.2: the connection the request came on while it is
		 * open (net uses conn_id first), else a new connection to
		 * the source IP ("received") and the sent-by port.  With
		 * rport the source port is the right one (RFC 3581 §4). */
		if (!v->has_rport) {
			struct cpm_net_addr a = src->peer;
			if (a.u.sa.sa_family == AF_INET)
				a.u.in.sin_port = htons(via_port);
			else if (a.u.sa.sa_family == AF_INET6)
				a.u.in6.sin6_port = htons(via_port);
			out->peer = a;
		}
		return;
	}
	/* UDP: RFC 3581 §4: with rport, the source IP and port; otherwise
	 * §18.2.2: the "received" address (the source IP) and sent-by port.
	 * maddr is not honoured (deprecated for this use by RFC 3261). */
	out->conn_id = 0;
	if (!v->has_rport) {
		if (out->peer.u.sa.sa_family == AF_INET)
			out->peer.u.in.sin_port = htons(via_port);
		else if (out->peer.u.sa.sa_family == AF_INET6)
			out->peer.u.in6.sin6_port = htons(via_port);
	}
}

/* RFC 3261 §18.2.1 / RFC 3581 §4: the top via-parm with "received" added
 * when sent-by is not the source IP, and a bare "rport" filled in. */
static int via_rewrite(const struct cpm_sip_msg *m,
		       const struct cpm_net_dest *src, struct cpm_buf *b)
{
	const struct cpm_sip_via *v = &m->via;
	char ip[INET6_ADDRSTRLEN + 2], ipb[INET6_ADDRSTRLEN + 2];
	if (cpm_net_addr_host(&src->peer, false, ip, sizeof ip) < 0 ||
	    cpm_net_addr_host(&src->peer, true, ipb, sizeof ipb) < 0)
		return CPM_EADDR;
	bool need_recv = !cpm_str_ieq_cstr(v->host, ip) &&
			 !cpm_str_ieq_cstr(v->host, ipb);
	bool need_rport = v->has_rport && v->rport.len == 0;
	if (!need_recv && !need_rport)
		return 0;
	struct cpm_str whole = v->whole;
	size_t pre = v->params.len ? (size_t)(v->params.s - whole.s)
				   : whole.len;
	int rc = cpm_buf_append(b, whole.s, pre);
	/* walk the parameters */
	const char *p = whole.s + pre, *end = whole.s + whole.len;
	while (!rc && p < end) {
		if (*p == ';') {
			p++;
			continue;
		}
		const char *q = p;
		bool inq = false;
		while (q < end && (inq || *q != ';')) {
			if (*q == '"')
				inq = !inq;
			q++;
		}
		struct cpm_str prm = cpm_str_trim((struct cpm_str){ p, (size_t)(q - p) });
		long eq = cpm_str_chr(prm, '=');
		struct cpm_str name = eq >= 0 ? cpm_str_trim((struct cpm_str){ prm.s, (size_t)eq })
					      : prm;
		if (cpm_str_ieq_cstr(name, "received")) {
			/* replaced below */
		} else if (cpm_str_ieq_cstr(name, "rport") && eq < 0) {
			rc = cpm_buf_append(b, ";rport=", 7);
			if (!rc)
				rc = cpm_buf_put_u64(b, cpm_net_addr_port(&src->peer));
		} else if (prm.len) {
			rc = cpm_buf_puts(b, ";");
			if (!rc)
				rc = cpm_buf_append_str(b, prm);
		}
		p = q;
	}
	/* RFC 3581 §4: with rport, received is added even when equal */
	if (!rc)
		rc = cpm_buf_append(b, ";received=", 10);
	if (!rc)
		rc = cpm_buf_puts(b, ip);
	return rc;
}

/* ----------------------------------------------------------- server side */

static int server_send(struct cpm_txn *t)
{
	int rc = cpm_net_send(t->l->net, &t->rdst, t->resp, t->resp_len);
	if (rc)
		cpm_logi(t->cid, "txn: sending %d failed: %s", t->status,
			 cpm_strerror(rc));
	return rc;
}

/* Take ownership of the malloc'd response buf and send it. */
static int server_respond(struct cpm_txn *st, int status, char *buf,
			  size_t len)
{
	struct cpm_txn_layer *l = st->l;
	free(st->resp);
	st->resp = buf;
	st->resp_len = len;
	st->status = status;
	int rc = server_send(st);
	uint64_t now = now_ms(st);
	uint64_t t1 = l->conf.t1_ms;

	if (status < 200)
		return rc;
	if (st->invite) {
		if (status < 300) {
			/* RFC 6026 §7.1: Accepted, Timer L; the TU sends 2xx
			 * retransmissions itself. */
			st->st = ST_ACCEPTED;
			st->retx_at = 0;
			st->end_at = now + 64 * t1;
		} else {
			/* §17.2.1: Completed, Timer G (unreliable) and H */
			st->st = ST_COMPLETED;
			if (!reliable(st)) {
				st->retx_iv = t1;
				st->retx_at = now + t1;
			}
			st->end_at = now + 64 * t1;
		}
	} else {
		/* §17.2.2: Completed, Timer J (0 on reliable transports;
		 * still through the timer so the TU never sees the txn go
		 * from inside cpm_txn_reply) */
		st->st = ST_COMPLETED;
		st->end_at = now + (reliable(st) ? 0 : 64 * t1);
		/* the TU is done with the request: drop the parsed copy at
		 * the next turn of the loop (no retransmissions here, the
		 * retransmission slot of the timer is free) */
		if (!st->trim_pending) {
			st->trim_pending = true;
			st->trim_prev = NULL;
			st->trim_next = l->trim;
			if (l->trim)
				l->trim->trim_prev = st;
			l->trim = st;
		}
	}
	st->end_is_timeout = false;
	txn_arm(st);
	return rc;
}

static bool server_final_allowed(const struct cpm_txn *st, int status)
{
	if (st->st == ST_TERMINATED || !st->server)
		return false;
	/* RFC 6026 §8.5: further 2xx (retransmissions relayed by a proxy)
	 * may be sent in Accepted */
	if (st->st == ST_ACCEPTED)
		return status >= 200 && status < 300;
	return st->st == ST_PROCEEDING || st->st == ST_TRYING;
}

int cpm_txn_reply_buf(struct cpm_txn *st, int status, const char *buf,
		      size_t len)
{
	if (!st || status < 100 || status > 699)
		return CPM_EINVAL;
	if (!server_final_allowed(st, status))
		return CPM_ESTATE;
	char *copy = malloc(len ? len : 1);
	if (!copy)
		return CPM_ENOMEM;
	memcpy(copy, buf, len);
	if (st->st == ST_ACCEPTED) {
		int rc = cpm_net_send(st->l->net, &st->rdst, copy, len);
		free(copy);
		return rc;
	}
	if (!st->invite && st->st == ST_TRYING && status < 200)
		st->st = ST_PROCEEDING;
	return server_respond(st, status, copy, len);
}

int cpm_txn_reply(struct cpm_txn *st, int status, const char *reason,
		  const char *to_tag, const char *extra_hdrs,
		  struct cpm_str ctype, struct cpm_str body)
{
	if (!st || status < 100 || status > 699)
		return CPM_EINVAL;
	if (!server_final_allowed(st, status))
		return CPM_ESTATE;
	struct cpm_buf b;
	cpm_buf_init(&b, st->l->conf.lim.max_msg);
	const struct cpm_sip_msg *req = txn_msg(st);
	if (!req)
		return CPM_ENOMEM;
	int rc = cpm_sip_print_response_start(&b, req, status, reason,
					      status > 100 ? to_tag : NULL);
	if (!rc && extra_hdrs)
		rc = cpm_buf_puts(&b, extra_hdrs);
	if (!rc)
		rc = cpm_sip_print_body(&b, ctype, body);
	if (rc) {
		cpm_buf_free(&b);
		return rc;
	}
	if (st->st == ST_ACCEPTED) {
		rc = cpm_net_send(st->l->net, &st->rdst, b.p, b.len);
		cpm_buf_free(&b);
		return rc;
	}
	if (!st->invite && st->st == ST_TRYING && status < 200)
		st->st = ST_PROCEEDING;
	return server_respond(st, status, b.p, b.len);
}

bool cpm_txn_has_final(const struct cpm_txn *t)
{
	return t->status >= 200 || t->st == ST_TERMINATED;
}

int cpm_txn_status(const struct cpm_txn *t)
{
	return t->status;
}

const struct cpm_sip_msg *cpm_txn_req(const struct cpm_txn *t)
{
	return txn_msg((struct cpm_txn *)(uintptr_t)t);
}

const struct cpm_net_dest *cpm_txn_src(const struct cpm_txn *t)
{
	return &t->src;
}

struct cpm_txn *cpm_txn_cancel_target(const struct cpm_txn *cst)
{
	if (!cst || !cst->server || cst->k.rmethod != CPM_SIP_CANCEL)
		return NULL;
	const struct cpm_sip_msg *m = cpm_txn_req(cst);
	if (!m)
		return NULL;
	/* RFC 3261 §9.2: the §17.2.3 rules with the method INVITE */
	return server_find(cst->l, m, CPM_SIP_INVITE);
}

void cpm_txn_set_owner(struct cpm_txn *t, void *owner,
		       void (*gone)(void *owner, struct cpm_txn *t))
{
	t->owner = owner;
	t->gone = gone;
}

void *cpm_txn_owner(const struct cpm_txn *t)
{
	return t->owner;
}

bool cpm_txn_owned_by(const struct cpm_txn *t, void (*gone)(void *owner, struct cpm_txn *t))
{
	return t->owner && t->gone == gone;
}

/* Retransmitted request or ACK for an existing server txn. */
static void server_on_request(struct cpm_txn *st, const struct cpm_sip_msg *m,
			      const struct cpm_net_dest *src)
{
	struct cpm_txn_layer *l = st->l;
	if (m->method == CPM_SIP_ACK) {
		if (st->st == ST_COMPLETED) {
			/* §17.2.1: Confirmed, Timer I */
			st->st = ST_CONFIRMED;
			st->retx_at = 0;
			st->end_at = now_ms(st) +
				     (reliable(st) ? 0 : l->conf.t4_ms);
			txn_arm(st);
			cpm_logd(st->cid, "txn: ACK for %d", st->status);
		} else if (st->st == ST_ACCEPTED) {
			/* RFC 6026 §7.1: an ACK in Accepted goes to the TU */
			if (l->h.request)
				l->h.request(l->arg, NULL, m, src);
		}
		/* else absorbed (Confirmed, or an ACK before any final) */
		return;
	}
	/* retransmission: the last response again (§17.2.1 / §17.2.2);
	 * absorbed in Trying and Accepted (RFC 6026 §8.6) */
	if (st->resp && st->st != ST_ACCEPTED && st->st != ST_CONFIRMED) {
		cpm_logd(st->cid, "txn: retransmitted %.*s, resending %d",
			 CPM_STR_FMT(m->method_s), st->status);
		server_send(st);
	}
}

static void stateless_reply(struct cpm_txn_layer *l, const struct cpm_sip_msg *m,
			    const struct cpm_net_dest *src, int status)
{
	struct cpm_buf b;
	struct cpm_net_dest d;
	cpm_buf_init(&b, l->conf.lim.max_msg);
	if (!cpm_sip_print_response_start(&b, m, status, NULL, NULL) &&
	    !cpm_sip_print_body(&b, CPM_STR_NULL, CPM_STR_NULL)) {
		cpm_txn_response_dest(m, src, &d);
		cpm_net_send(l->net, &d, b.p, b.len);
	}
	cpm_buf_free(&b);
}

static void server_new(struct cpm_txn_layer *l, const struct cpm_sip_msg *m,
		       const struct cpm_net_dest *src)
{
	char cid[72];
	set_cid(cid, sizeof cid, m->call_id);
	if (l->conf.max_txns && l->count >= l->conf.max_txns) {
		cpm_logw(cid, "txn: limit of %u transactions, 503",
			 l->conf.max_txns);
		stateless_reply(l, m, src, 503);
		return;
	}
	struct cpm_txn *st = txn_alloc(l, true);
	if (!st)
		return;
	struct cpm_buf via;
	cpm_buf_init(&via, 1024);
	int rc = via_rewrite(m, src, &via);
	if (!rc)
		rc = txn_set_req(st, m, via.len ? via.p : NULL, via.len);
	cpm_buf_free(&via);
	if (rc) {
		cpm_logw(cid, "txn: cannot keep request: %s", cpm_strerror(rc));
		txn_discard(st);
		return;
	}
	st->src = *src;
	cpm_txn_response_dest(st->m, src, &st->rdst);
	txn_link(st);
	uint64_t now = now_ms(st);
	if (st->invite) {
		st->st = ST_PROCEEDING;
		st->end_at = now + SAFETY_INV_MS;
	} else {
		st->st = ST_TRYING;
		st->end_at = now + (uint64_t)SAFETY_NONINV_MULT * l->conf.t1_ms;
	}
	txn_arm(st);
	cpm_logd(st->cid, "txn: new server %.*s", CPM_STR_FMT(m->method_s));
	if (st->invite) {
		/* §17.2.1 / §16.2: 100 Trying at once */
		cpm_txn_reply(st, 100, NULL, NULL, NULL, CPM_STR_NULL,
			      CPM_STR_NULL);
	}
	if (l->h.request)
		l->h.request(l->arg, st, st->m, &st->src);
}

/* ----------------------------------------------------------- client side */

static void client_deliver(struct cpm_txn *ct, const struct cpm_sip_msg *resp,
			   int status)
{
	if (ct->cb && !ct->detached)
		ct->cb(ct->cb_arg, ct, resp, status);
}

static int client_send(struct cpm_txn *ct)
{
	uint64_t cid = 0;
	int rc = cpm_net_send_conn(ct->l->net, &ct->src, ct->raw, ct->raw_len,
				   &cid);
	if (!rc && cid && cid != ct->src.conn_id) {
		struct cpm_txn_layer *l = ct->l;
		ct->src.conn_id = cid;
		if (ct->in_conn_tab)
			cpm_net__htab_del(&l->by_conn, &ct->conn_hn);
		cpm_net__htab_add(&l->by_conn, &ct->conn_hn, cid);
		ct->in_conn_tab = true;
	}
	return rc;
}

/* Append the Via (top only), Route set, Call-ID, From, CSeq of the
 * original request, for ACK and CANCEL (§17.1.1.3, §9.1). */
static int build_hop_req(struct cpm_buf *b, const struct cpm_sip_msg *r,
			 const char *method, struct cpm_str to,
			 const char *extra)
{
	int rc = cpm_buf_printf(b, "%s %.*s SIP/2.0\r\nVia: %.*s\r\n", method,
				CPM_STR_FMT(r->ruri), CPM_STR_FMT(r->via.whole));
	for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(r, CPM_SIP_H_ROUTE);
	     !rc && h; h = cpm_sip_msg_hdr_next(r, h))
		rc = cpm_buf_append_str(b, h->raw);
	const struct cpm_sip_hdr *from = cpm_sip_msg_hdr(r, CPM_SIP_H_FROM);
	if (!rc)
		rc = cpm_buf_printf(b,
				    "Max-Forwards: 70\r\nFrom: %.*s\r\nTo: %.*s\r\n"
				    "Call-ID: %.*s\r\nCSeq: %u %s\r\n",
				    CPM_STR_FMT(from ? from->value : r->from.whole),
				    CPM_STR_FMT(to), CPM_STR_FMT(r->call_id),
				    (unsigned)r->cseq.num, method);
	if (!rc && extra && *extra)
		rc = cpm_buf_printf(b, "%s\r\n", extra);
	if (!rc)
		rc = cpm_buf_puts(b, "Content-Length: 0\r\n\r\n");
	return rc;
}

static void client_send_ack(struct cpm_txn *ct, const struct cpm_sip_msg *resp)
{
	struct cpm_txn_layer *l = ct->l;
	if (!ct->ack) {
		/* §17.1.1.3: To from the response (with its tag) */
		const struct cpm_sip_hdr *to = cpm_sip_msg_hdr(resp, CPM_SIP_H_TO);
		struct cpm_buf b;
		cpm_buf_init(&b, l->conf.lim.max_msg);
		if (build_hop_req(&b, ct->m, "ACK",
				  to ? to->value : resp->to.whole, NULL)) {
			cpm_buf_free(&b);
			return;
		}
		ct->ack = b.p;
		ct->ack_len = b.len;
	}
	int rc = cpm_net_send(l->net, &ct->src, ct->ack, ct->ack_len);
	if (rc)
		cpm_logi(ct->cid, "txn: ACK send failed: %s", cpm_strerror(rc));
}

static int client_start(struct cpm_txn_layer *l, const struct cpm_net_dest *dst,
			const char *buf, size_t len, cpm_txn_resp_cb *cb,
			void *arg, struct cpm_txn **out);

static void absorb_cb(void *arg, struct cpm_txn *ct,
		      const struct cpm_sip_msg *resp, int status)
{
}

static void client_send_cancel(struct cpm_txn *ct)
{
	struct cpm_txn_layer *l = ct->l;
	ct->cancel_done = true;
	const struct cpm_sip_hdr *to = cpm_sip_msg_hdr(ct->m, CPM_SIP_H_TO);
	struct cpm_buf b;
	cpm_buf_init(&b, l->conf.lim.max_msg);
	/* §9.1: Request-URI, Call-ID, To, From, CSeq number and the single
	 * Via (same branch) of the request being cancelled */
	int rc = build_hop_req(&b, ct->m, "CANCEL",
			       to ? to->value : ct->m->to.whole,
			       ct->cancel_reason);
	struct cpm_txn *cc = NULL;
	struct cpm_net_dest d = ct->src;
	if (!rc)
		rc = client_start(l, &d, b.p, b.len, absorb_cb, NULL, &cc);
	cpm_buf_free(&b);
	if (rc)
		cpm_logi(ct->cid, "txn: CANCEL failed: %s", cpm_strerror(rc));
	else
		cpm_logi(ct->cid, "txn: CANCEL sent");
}

static void client_on_response(struct cpm_txn *ct, const struct cpm_sip_msg *m)
{
	struct cpm_txn_layer *l = ct->l;
	int status = m->status;
	uint64_t now = now_ms(ct);
	uint64_t t1 = l->conf.t1_ms;

	if (status < 200) {
		if (ct->st == ST_CALLING || ct->st == ST_TRYING ||
		    ct->st == ST_PROCEEDING) {
			if (ct->invite) {
				/* §17.1.1.2: Proceeding, no more A or B; a
				 * safety end, the TU's Timer C should act
				 * first */
				ct->retx_at = 0;
				ct->end_at = now + SAFETY_INV_MS;
				ct->end_is_timeout = true;
			} else if (ct->st == ST_TRYING && ct->retx_at) {
				/* §17.1.2.2: E continues at T2 */
				ct->retx_iv = l->conf.t2_ms;
			}
			ct->st = ST_PROCEEDING;
			ct->status = status;
			txn_arm(ct);
			if (ct->invite && ct->cancel_wanted &&
			    !ct->cancel_done)
				client_send_cancel(ct);
			if (ct->st == ST_PROCEEDING)
				client_deliver(ct, m, status);
		}
		return;
	}
	if (ct->st == ST_COMPLETED) {
		/* a retransmitted final: INVITE → the ACK again (§17.1.1.2),
		 * non-INVITE → absorbed */
		if (ct->invite && status >= 300)
			client_send_ack(ct, m);
		return;
	}
	if (ct->st != ST_CALLING && ct->st != ST_PROCEEDING &&
	    ct->st != ST_TRYING)
		return;
	ct->status = status;
	ct->retx_at = 0;
	ct->end_is_timeout = false;
	if (ct->invite && status < 300) {
		/* RFC 6026 §8.4: the TU gets the 2xx; later 2xx reach the
		 * TU as strays.  The ACK is the TU's. */
		client_deliver(ct, m, status);
		txn_terminate(ct);
		return;
	}
	if (ct->invite) {
		client_send_ack(ct, m);
		/* §17.1.1.2: Completed, Timer D (≥ 32 s, 0 reliable) */
		ct->st = ST_COMPLETED;
		ct->end_at = now + (reliable(ct) ? 0 : (64 * t1 > 32000 ? 64 * t1 : 32000));
	} else {
		/* §17.1.2.2: Completed, Timer K */
		ct->st = ST_COMPLETED;
		ct->end_at = now + (reliable(ct) ? 0 : l->conf.t4_ms);
	}
	client_deliver(ct, m, status);
	ct->detached = true; /* gone for the TU */
	if (!ct->invite) {
		/* only the key is needed from now on */
		msg_free(l, ct->m);
		ct->m = NULL;
	}
	if (ct->st == ST_COMPLETED && reliable(ct))
		txn_terminate(ct);
	else
		txn_arm(ct);
}

/* Timer B/F, or a transport failure: the TU hears 408/503 once. */
static void client_fail(struct cpm_txn *ct, int status)
{
	cpm_logi(ct->cid, "txn: client %.*s %s", CPM_STR_FMT(ct->k.method_s),
		 status == 408 ? "timed out" : "transport error");
	ct->status = status;
	client_deliver(ct, NULL, status);
	ct->detached = true;
	txn_terminate(ct);
}

static int client_start(struct cpm_txn_layer *l, const struct cpm_net_dest *dst,
			const char *buf, size_t len, cpm_txn_resp_cb *cb,
			void *arg, struct cpm_txn **out)
{
	struct cpm_txn *ct = txn_alloc(l, false);
	if (!ct)
		return CPM_ENOMEM;
	ct->raw = malloc(len + 1);
	if (!ct->raw) {
		txn_discard(ct);
		return CPM_ENOMEM;
	}
	memcpy(ct->raw, buf, len);
	ct->raw[len] = '\0';
	ct->raw_len = len;
	/* A non-INVITE request of the TU's own needs only its key (branch,
	 * method, §17.1.3) and nothing else of the message until someone
	 * asks (cpm_txn_req parses it then): read the key off the first
	 * line and the top Via instead of parsing it all. */
	struct cpm_str lbranch, lmethod, lcallid;
	enum cpm_sip_method lm;
	bool light = light_key(ct->raw, len, &lmethod, &lm, &lbranch, &lcallid);
	int rc = 0;
	if (!light) {
		ct->m = msg_alloc(l);
		if (!ct->m) {
			txn_discard(ct);
			return CPM_ENOMEM;
		}
		/* our own bytes: no need to validate the URIs again */
		rc = cpm_sip_msg_parse(ct->m, ct->raw, len,
				       CPM_SIP_DATAGRAM | CPM_SIP_TRUSTED, &l->conf.lim);
		if (rc || !ct->m->is_request || ct->m->method == CPM_SIP_ACK ||
		    !has_cookie(ct->m->via.branch)) {
			txn_discard(ct);
			return rc ? rc : CPM_EPARSE;
		}
		lm = ct->m->method;
		lmethod = ct->m->method_s;
		lbranch = ct->m->via.branch;
	}
	ct->method = key_method(lm);
	if (client_find_key(l, lbranch, ct->method, lmethod)) {
		txn_discard(ct);
		return CPM_EEXIST;
	}
	ct->src = *dst;
	ct->cb = cb;
	ct->cb_arg = arg;
	rc = client_send(ct);
	if (rc) {
		txn_discard(ct);
		return rc;
	}
	if (light)
		txn_link_light(ct, lmethod, lm, lbranch, lcallid);
	else
		txn_link(ct);
	uint64_t now = now_ms(ct), t1 = l->conf.t1_ms;
	ct->st = ct->invite ? ST_CALLING : ST_TRYING;
	if (!reliable(ct)) {
		/* Timer A (§17.1.1.2) / E (§17.1.2.2) */
		ct->retx_iv = t1;
		ct->retx_at = now + t1;
	}
	/* Timer B / F */
	ct->end_at = now + 64 * t1;
	ct->end_is_timeout = true;
	txn_arm(ct);
	cpm_logd(ct->cid, "txn: new client %.*s", CPM_STR_FMT(ct->k.method_s));
	if (out)
		*out = ct;
	return 0;
}

int cpm_txn_request(struct cpm_txn_layer *l, const struct cpm_net_dest *dst,
		    const char *buf, size_t len, cpm_txn_resp_cb *cb,
		    void *arg, struct cpm_txn **out)
{
	if (out)
		*out = NULL;
	if (l->freeing)
		return CPM_ESTATE;
	return client_start(l, dst, buf, len, cb, arg, out);
}

int cpm_txn_cancel(struct cpm_txn *ct, const char *reason_hdr)
{
	if (!ct || ct->server || !ct->invite)
		return CPM_EINVAL;
	if (ct->st == ST_TERMINATED || ct->status >= 200 || ct->cancel_wanted)
		return 0;
	ct->cancel_wanted = true;
	if (reason_hdr) {
		ct->cancel_reason = strdup(reason_hdr);
		if (!ct->cancel_reason)
			return CPM_ENOMEM;
	}
	/* §9.1: not before a provisional response */
	if (ct->st == ST_PROCEEDING)
		client_send_cancel(ct);
	return 0;
}

void cpm_txn_detach(struct cpm_txn *ct)
{
	if (ct)
		ct->detached = true;
}

int cpm_txn_send_stateless(struct cpm_txn_layer *l,
			   const struct cpm_net_dest *dst, const char *buf,
			   size_t len)
{
	return cpm_net_send(l->net, dst, buf, len);
}

/* --------------------------------------------------------- timer events */

/* end_at reached: Timer B/F (408 to the TU), or the end of a state. */
static void txn_end_fire(struct cpm_txn *t)
{
	if (t->st == ST_TERMINATED)
		return;
	if (!t->server && t->end_is_timeout) {
		client_fail(t, 408); /* Timer B / F */
		return;
	}
	if (t->server && (t->st == ST_PROCEEDING || t->st == ST_TRYING))
		cpm_logw(t->cid, "txn: TU never answered %.*s", CPM_STR_FMT(t->k.method_s));
	else if (t->server && t->st == ST_COMPLETED && t->invite)
		cpm_logi(t->cid, "txn: no ACK for %d (Timer H)", t->status);
	txn_terminate(t);
}

static void txn_timer_cb(uv_timer_t *tm)
{
	struct cpm_txn *t = tm->data;
	struct cpm_txn_layer *l = t->l;
	uint64_t now = now_ms(t);

	if (t->st == ST_TERMINATED)
		return;
	if (t->end_on_timer && t->end_at && now >= t->end_at) {
		txn_end_fire(t);
		return;
	}
	if (t->retx_at && now >= t->retx_at) {
		if (t->server) {
			/* Timer G: §17.2.1, doubling up to T2 */
			server_send(t);
			t->retx_iv *= 2;
			if (t->retx_iv > l->conf.t2_ms)
				t->retx_iv = l->conf.t2_ms;
		} else {
			client_send(t);
			if (t->invite) {
				/* Timer A doubles without a cap */
				t->retx_iv *= 2;
			} else {
				/* Timer E: min(2E, T2), T2 in Proceeding */
				t->retx_iv = t->st == ST_PROCEEDING
						     ? l->conf.t2_ms
						     : t->retx_iv * 2;
				if (t->retx_iv > l->conf.t2_ms)
					t->retx_iv = l->conf.t2_ms;
			}
		}
		t->retx_at = now + t->retx_iv;
	}
	txn_arm(t);
}

/* --------------------------------------------------------------- layer */

static void layer_recv(void *arg, const struct cpm_net_dest *src,
		       const char *buf, size_t len)
{
	struct cpm_txn_layer *l = arg;
	struct cpm_sip_msg *m = &l->scratch;
	if (l->freeing)
		return;
	int rc = cpm_sip_msg_parse(m, buf, len,
				   src->proto == CPM_NET_UDP ? CPM_SIP_DATAGRAM
							     : CPM_SIP_STREAM,
				   &l->conf.lim);
	if (rc) {
		if (!m->is_request)
			m->err_status = 0; /* never answer a response */
		if (CPM_LOG_ENABLED(CPM_LOG_INFO)) {
			char a[CPM_NET_ADDR_STRLEN];
			cpm_net_addr_print(&src->peer, a, sizeof a);
			cpm_logi(a, "txn: bad message (%s): %d %s",
				 cpm_strerror(rc), m->err_status,
				 m->err_reason ? m->err_reason : "");
		}
		if (l->h.bad_message)
			l->h.bad_message(l->arg, m, rc, src);
		return;
	}
	if (!m->is_request) {
		struct cpm_txn *ct = client_find(l, m);
		if (ct)
			client_on_response(ct, m);
		else if (l->h.stray_response)
			l->h.stray_response(l->arg, m, src);
		return;
	}
	struct cpm_txn *st = server_find(l, m, key_method(m->method));
	if (st) {
		server_on_request(st, m, src);
		return;
	}
	if (m->method == CPM_SIP_ACK) {
		/* an ACK for a 2xx (its own branch) or matching nothing */
		if (l->h.request)
			l->h.request(l->arg, NULL, m, src);
		return;
	}
	server_new(l, m, src);
}

static void layer_conn(void *arg, uint64_t conn_id, bool up)
{
	struct cpm_txn_layer *l = arg;
	if (!up && !l->freeing) {
		/* §17.1.4: a transport failure fails the client txns that
		 * were using the connection */
		struct cpm_net__hnode *nd;
		while ((nd = cpm_net__htab_first(&l->by_conn, conn_id))) {
			struct cpm_txn *ct =
				cpm_net__container(nd, struct cpm_txn, conn_hn);
			cpm_net__htab_del(&l->by_conn, nd);
			ct->in_conn_tab = false;
			if (ct->st == ST_CALLING || ct->st == ST_TRYING ||
			    ct->st == ST_PROCEEDING)
				client_fail(ct, 503);
		}
	}
	if (l->ccb)
		l->ccb(l->ccb_arg, conn_id, up);
}

int cpm_txn_layer_new(uv_loop_t *loop, struct cpm_net *net,
		      const struct cpm_txn_conf *c,
		      const struct cpm_txn_handler *h, void *arg,
		      struct cpm_txn_layer **out)
{
	struct cpm_txn_layer *l = calloc(1, sizeof *l);
	if (!l)
		return CPM_ENOMEM;
	l->loop = loop;
	l->net = net;
	if (c)
		l->conf = *c;
	else
		cpm_txn_conf_default(&l->conf);
	if (!l->conf.t1_ms)
		l->conf.t1_ms = 500;
	if (!l->conf.t2_ms)
		l->conf.t2_ms = 4000;
	if (!l->conf.t4_ms)
		l->conf.t4_ms = 5000;
	if (!l->conf.lim.max_msg)
		cpm_sip_limits_default(&l->conf.lim);
	if (h)
		l->h = *h;
	l->arg = arg;
	if (cpm_net__htab_init(&l->txns, 1024) ||
	    cpm_net__htab_init(&l->by_conn, 64)) {
		cpm_net__htab_free(&l->txns);
		free(l);
		return CPM_ENOMEM;
	}
	uv_check_init(loop, &l->trim_check);
	l->trim_check.data = l;
	uv_check_start(&l->trim_check, trim_run);
	uv_unref((uv_handle_t *)&l->trim_check); /* never keeps the loop alive */
	l->handles++;
	cpm_net_set_handler(net, layer_recv, layer_conn, l);
	*out = l;
	return 0;
}

void cpm_txn_layer_set_conn_cb(struct cpm_txn_layer *l, cpm_net_conn_cb *ccb,
			       void *arg)
{
	l->ccb = ccb;
	l->ccb_arg = arg;
}

void cpm_txn_layer_free(struct cpm_txn_layer *l)
{
	if (!l)
		return;
	l->freeing = true;
	cpm_net_set_handler(l->net, NULL, NULL, NULL);
	while (l->all) {
		struct cpm_txn *t = l->all;
		t->detached = true;
		txn_terminate(t);
	}
	msg_pool_drain(l);
	for (int i = 0; i < l->nendq; i++) {
		uv_timer_stop(&l->endqs[i].timer);
		uv_close((uv_handle_t *)&l->endqs[i].timer, endq_closed);
	}
	/* the layer goes with the last of its handles (this one included) */
	uv_check_stop(&l->trim_check);
	uv_close((uv_handle_t *)&l->trim_check, trim_closed);
}

unsigned cpm_txn_layer_count(const struct cpm_txn_layer *l)
{
	return l->count;
}

unsigned cpm_txn_layer_unfinished(const struct cpm_txn_layer *l)
{
	unsigned n = 0;
	for (const struct cpm_txn *t = l->all; t; t = t->next)
		if (t->st == ST_PROCEEDING || t->st == ST_TRYING || t->st == ST_CALLING)
			n++;
	return n;
}

struct cpm_net *cpm_txn_layer_net(struct cpm_txn_layer *l)
{
	return l->net;
}

void cpm_txn_branch_new(char out[CPM_TXN_BRANCH_MAX])
{
	memcpy(out, COOKIE, COOKIE_LEN);
	if (cpm_rand_hex(out + COOKIE_LEN, 12) != 0) {
		/* getrandom cannot really fail; keep branches unique anyway */
		static uint64_t seq;
		snprintf(out + COOKIE_LEN, CPM_TXN_BRANCH_MAX - COOKIE_LEN,
			 "%llx%llx", (unsigned long long)cpm_now_ms(),
			 (unsigned long long)++seq);
	}
}
