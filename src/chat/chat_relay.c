/* The relay proper (RFC 4976 §6, §7): what to do with each message a
 * connection receives.
 *
 * A request whose To-Path starts with one of our session URIs is routed
 * (chat_route.c) and streamed to the next hop as it arrives: the rewritten
 * header section first, then each body piece the parser hands out, then
 * the end-line, under a transaction id of ours.  The relay answers the
 * previous hop itself (transaction responses are hop by hop, RFC 4975
 * §7.2; RFC 4976 §7.3), and waits for the next hop's response: an error
 * or no response within msrp.transaction_timeout becomes a REPORT to the
 * sender when its Failure-Report asks for one (RFC 4975 §7.1.2), or the
 * error itself when the chunk is still arriving.  Responses to AUTH and to
 * methods we do not know go back to the previous hop (RFC 4976 §7.3.1).
 * REPORTs are relayed and never answered. */
#include "chat/chat_int.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ transactions */

static struct cpm_chat__txn **txn_slot(struct cpm_chat_relay *r, const char *tid)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (const char *p = tid; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	struct cpm_chat__txn **pp = &r->tb[h & (r->ntb - 1)];
	while (*pp && strcmp((*pp)->tid, tid) != 0)
		pp = &(*pp)->hnext;
	return pp;
}

static struct cpm_chat__txn *txn_find(struct cpm_chat_relay *r, struct cpm_str tid)
{
	char t[CPM_MSRP_TID_LEN + 1];
	if (tid.len != CPM_MSRP_TID_LEN)
		return NULL;
	memcpy(t, tid.s, tid.len);
	t[tid.len] = '\0';
	return *txn_slot(r, t);
}

static void txn_grow(struct cpm_chat_relay *r)
{
	if (r->ntxns < r->ntb)
		return;
	size_t old = r->ntb;
	struct cpm_chat__txn **ob = r->tb, **nb = calloc(old * 2, sizeof *nb);
	if (!nb)
		return;
	r->tb = nb;
	r->ntb = old * 2;
	for (size_t i = 0; i < old; i++)
		for (struct cpm_chat__txn *t = ob[i], *n; t; t = n) {
			n = t->hnext;
			struct cpm_chat__txn **pp = txn_slot(r, t->tid);
			t->hnext = NULL;
			*pp = t;
		}
	free(ob);
}

static void txn_free(struct cpm_chat__txn *t)
{
	if (t->out)
		cpm_chat__out_unref(t->out);
	free(t->rep_to);
	free(t->self);
	free(t->msgid);
	free(t);
}

/* Into the tables: by tid, on its next hop's list. */
static void txn_link(struct cpm_chat_relay *r, struct cpm_chat__txn *t, struct cpm_chat__conn *d)
{
	txn_grow(r);
	struct cpm_chat__txn **pp = txn_slot(r, t->tid);
	t->hnext = *pp; /* *pp is NULL: tids are fresh (2^64 of them) */
	*pp = t;
	r->ntxns++;
	t->d_prev = NULL;
	t->d_next = d->txns;
	if (d->txns)
		d->txns->d_prev = t;
	d->txns = t;
	d->ntxn++;
}

/* Out of every table, and freed; a chunk still arriving forgets it. */
static void txn_del(struct cpm_chat_relay *r, struct cpm_chat__txn *t)
{
	struct cpm_chat__txn **pp = txn_slot(r, t->tid);
	if (*pp == t) {
		*pp = t->hnext;
		r->ntxns--;
		/* closing: still ours to unlink */
		struct cpm_chat__conn *d = cpm_chat__conn_any(r, t->dst);
		if (d) {
			if (t->d_prev)
				t->d_prev->d_next = t->d_next;
			else
				d->txns = t->d_next;
			if (t->d_next)
				t->d_next->d_prev = t->d_prev;
			d->ntxn--;
			if (d->waiters && d->ntxn + 1 == CPM_CHAT__TXN_MAX)
				cpm_chat__wake(d);
		}
	}
	if (t->armed) {
		if (t->f_prev)
			t->f_prev->f_next = t->f_next;
		else
			r->fifo = t->f_next;
		if (t->f_next)
			t->f_next->f_prev = t->f_prev;
		else
			r->fifo_tail = t->f_prev;
	}
	if (t->streaming) {
		struct cpm_chat__conn *s = cpm_chat__conn_find(r, t->src);
		if (s && s->cur.txn == t)
			s->cur.txn = NULL;
	}
	txn_free(t);
}

/* The chunk is all sent: the response is due within the timeout (RFC 4975
 * §7.3 has 30 s).  Every transaction has the same timeout, so the FIFO is
 * in deadline order. */
static void txn_arm(struct cpm_chat_relay *r, struct cpm_chat__txn *t)
{
	t->streaming = false;
	t->armed = true;
	t->deadline_ms = cpm_now_ms() + (uint64_t)r->conf->msrp.transaction_timeout * 1000;
	t->f_next = NULL;
	t->f_prev = r->fifo_tail;
	if (r->fifo_tail)
		r->fifo_tail->f_next = t;
	else
		r->fifo = t;
	r->fifo_tail = t;
}

void cpm_chat__txn_start(struct cpm_chat_relay *r, struct cpm_chat__txn *t,
			 struct cpm_chat__conn *d)
{
	t->dst = d->id;
	txn_link(r, t, d);
	txn_arm(r, t);
}

/* --------------------------------------------------------------- writing */

int cpm_chat__respond(struct cpm_chat__conn *c, const char *tid, int code, const char *to,
		      const char *from, const char *extra)
{
	struct cpm_buf b;
	cpm_buf_init(&b, 64 * 1024);
	struct cpm_str t = cpm_str_from_cstr(tid);
	const char *comment = cpm_msrp_comment(code);
	int rc = cpm_buf_printf(&b, "MSRP %s %03d%s%s\r\n", tid, code % 1000, *comment ? " " : "",
				comment);
	if (!rc)
		rc = cpm_msrp_print_hdr(&b, "To-Path", cpm_str_from_cstr(to));
	if (!rc)
		rc = cpm_msrp_print_hdr(&b, "From-Path", cpm_str_from_cstr(from));
	if (!rc && extra)
		rc = cpm_buf_puts(&b, extra);
	if (!rc)
		rc = cpm_msrp_print_end_line(&b, t, '$', false);
	if (!rc)
		rc = cpm_chat__put(c, 0, b.p, b.len);
	cpm_buf_free(&b);
	return rc;
}

static int end_line(struct cpm_chat__conn *d, uint64_t writer, const char *tid, char flag,
		    bool after_body)
{
	char v[16 + CPM_MSRP_TID_LEN];
	struct cpm_buf b = { v, 0, sizeof v, sizeof v - 1 };
	/* a fixed buffer that never grows: the line fits */
	cpm_msrp_print_end_line(&b, cpm_str_from_cstr(tid), flag, after_body);
	return cpm_chat__put(d, writer, b.p, b.len);
}

/* RFC 4975 §7.1.1: no response for Failure-Report "no", only errors for
 * "partial"; never for REPORT (§7.1.2).  AUTH and other methods: always. */
bool cpm_chat__may_answer(const struct cpm_chat__xfer *x, int status)
{
	if (x->method == CPM_MSRP_REPORT)
		return false;
	if (x->method != CPM_MSRP_SEND)
		return true;
	if (x->fr == CPM_MSRP_REP_NO)
		return false;
	return x->fr != CPM_MSRP_REP_PARTIAL || status != 200;
}

/* --------------------------------------------------------------- REPORTs */

/* A failure REPORT for a SEND we forwarded (RFC 4975 §7.1.2): To-Path the
 * SEND's From-Path at our hop, From-Path our URI there, the chunk's
 * Message-ID and Byte-Range, Status 000 code. */
static void report(struct cpm_chat_relay *r, struct cpm_chat__txn *t, int code)
{
	if (t->kind != CPM_CHAT__T_SEND || t->fr == CPM_MSRP_REP_NO || !t->msgid)
		return;
	struct cpm_chat_route rt;
	if (cpm_chat_route(r->table, 0, CPM_MSRP_REPORT, cpm_str_from_cstr(t->rep_to),
			   cpm_str_from_cstr(t->self), cpm_now_ms(), &rt))
		return;
	struct cpm_chat__conn *d = NULL;
	int err = 0;
	if (rt.hop == CPM_CHAT_HOP_CLIENT)
		d = cpm_chat__conn_find(r, rt.conn_id);
	else if (rt.hop == CPM_CHAT_HOP_URI) {
		/* back to the previous hop: the connection the SEND came on */
		d = rt.steps ? NULL : cpm_chat__conn_find(r, t->src);
		if (!d)
			d = cpm_chat__conn_to(r, rt.key, &rt.next, &err);
	}
	char tid[CPM_MSRP_TID_LEN + 1];
	struct cpm_buf b;
	cpm_buf_init(&b, 64 * 1024);
	struct cpm_msrp_report rep = {
		.tid = { tid, CPM_MSRP_TID_LEN },
		.to_path = cpm_buf_str(&rt.to),
		.from_path = cpm_buf_str(&rt.from),
		.message_id = cpm_str_from_cstr(t->msgid),
		.range = { .start = t->start, .end = t->start + t->len - 1, .total = t->total,
			   .total_star = t->total_star },
		.status = { .ns = 0, .code = code,
			    .reason = cpm_str_from_cstr(cpm_msrp_comment(code)) },
	};
	if (d && !cpm_chat__tid_new(r, tid) && !cpm_msrp_print_report(&b, &rep) &&
	    !cpm_chat__put(d, 0, b.p, b.len)) {
		r->st.reports++;
		cpm_logi(d->name, "msrp REPORT %d for message %s", code, t->msgid);
	} else {
		cpm_logi("msrp", "no REPORT %d for message %s: %s", code, t->msgid,
			 rt.hop == CPM_CHAT_HOP_ERROR ? rt.reason : "no route back");
	}
	cpm_buf_free(&b);
	cpm_chat_route_free(&rt);
}

/* --------------------------------------------------------------- streams */

void cpm_chat__xfer_reset(struct cpm_chat__xfer *x)
{
	cpm_chat__epx_free(x->epx);
	free(x->resp_to); /* resp_from shares the allocation */
	cpm_buf_free(&x->head);
	if (x->txn && !x->started)
		txn_free(x->txn); /* never linked */
	memset(x, 0, sizeof *x);
}

/* The chunk c is streaming stops here: the next hop's stream ends as
 * interrupted ('#', RFC 4975 §7.1.1) and its transaction is forgotten. */
static void cut(struct cpm_chat__conn *c)
{
	struct cpm_chat_relay *r = c->r;
	struct cpm_chat__xfer *x = &c->cur;
	if (x->kind != CPM_CHAT__X_FORWARD || !x->started)
		return;
	struct cpm_chat__conn *d = cpm_chat__conn_find(r, x->dst);
	if (d && d->owner == c->id) {
		end_line(d, c->id, x->out_tid, '#', x->has_body);
		cpm_chat__release(d);
	}
	if (x->txn)
		txn_del(r, x->txn);
	x->txn = NULL;
}

/* The chunk c is receiving cannot go on: cut, the rest is dropped, and
 * status is the answer at its end. */
static void xfer_fail(struct cpm_chat__conn *c, int status, const char *why)
{
	struct cpm_chat__xfer *x = &c->cur;
	if (x->kind != CPM_CHAT__X_FORWARD)
		return;
	cpm_logi(c->name, "msrp %s: %d (%s)", x->tid, status, why);
	cut(c);
	cpm_buf_free(&x->head);
	if (x->txn && !x->started)
		txn_free(x->txn);
	x->txn = NULL;
	x->kind = CPM_CHAT__X_DISCARD;
	x->status = status;
	if (c->waits)
		cpm_chat__schedule(c);
}

/* The next hop answered t (or not: 408). */
static void txn_settle(struct cpm_chat_relay *r, struct cpm_chat__txn *t, int code)
{
	if (t->kind == CPM_CHAT__T_EP) {
		/* t goes first: the owner told may close connections (this
		 * one too, whose closing settles its transactions) */
		struct cpm_chat__out *o = t->out;
		t->out = NULL;
		txn_del(r, t);
		cpm_chat__ep_settle(r, o, code);
		return;
	}
	if (code / 100 == 2) {
		txn_del(r, t);
		return;
	}
	if (t->streaming) {
		struct cpm_chat__conn *s = cpm_chat__conn_find(r, t->src);
		if (s && s->cur.txn == t) {
			/* still arriving: the previous hop gets the error at
			 * the end of the chunk (xfer_fail drops t) */
			char why[64];
			snprintf(why, sizeof why, "next hop answered %d", code);
			xfer_fail(s, code, why);
			return;
		}
	}
	report(r, t, code);
	txn_del(r, t);
}

void cpm_chat__txn_sweep(struct cpm_chat_relay *r, uint64_t now_ms)
{
	while (r->fifo && r->fifo->deadline_ms <= now_ms)
		txn_settle(r, r->fifo, 408);
}

/* What is waiting for: c's own output (its answers pile up), or the next
 * hop of its chunk (full, or busy with another stream). */
static struct cpm_chat__conn *blocker(struct cpm_chat__conn *c)
{
	struct cpm_chat_relay *r = c->r;
	if (cpm_chat__pending(c) > r->max_out)
		return c;
	struct cpm_chat__xfer *x = &c->cur;
	if (x->kind != CPM_CHAT__X_FORWARD)
		return NULL;
	struct cpm_chat__conn *d = cpm_chat__conn_find(r, x->dst);
	if (!d) {
		xfer_fail(c, 408, "next hop connection lost");
		return NULL;
	}
	if (!x->started && ((d->owner && d->owner != c->id) ||
			    (x->txn && d->ntxn >= CPM_CHAT__TXN_MAX)))
		return d;
	return cpm_chat__ahead(d) > r->max_out ? d : NULL;
}

/* The next hop is free: the header section goes, the stream is ours. */
static void xfer_start(struct cpm_chat__conn *c)
{
	struct cpm_chat_relay *r = c->r;
	struct cpm_chat__xfer *x = &c->cur;
	struct cpm_chat__conn *d = cpm_chat__conn_find(r, x->dst);
	d->owner = c->id;
	x->started = true;
	if (x->txn)
		txn_link(r, x->txn, d);
	cpm_chat__put(d, c->id, x->head.p, x->head.len);
	cpm_buf_free(&x->head);
}

/* The rewritten header section: our tid, the method as received (the
 * parser checked it), the new paths, every other header field as
 * received (in order: Content-Type stays last). */
static int build_head(struct cpm_buf *b, const struct cpm_msrp_msg *m, const char *tid,
		      const struct cpm_chat_route *rt)
{
	size_t need = 64 + rt->to.len + rt->from.len + m->method_s.len;
	for (unsigned i = 0; i < m->nhdrs; i++)
		need += m->hdrs[i].name.len + m->hdrs[i].value.len + 4;
	int rc = cpm_buf_reserve(b, need); /* one allocation */
	if (rc)
		return rc;
	if ((rc = cpm_buf_append(b, "MSRP ", 5)) || (rc = cpm_buf_puts(b, tid)) ||
	    (rc = cpm_buf_append(b, " ", 1)) || (rc = cpm_buf_append_str(b, m->method_s)) ||
	    (rc = cpm_buf_append(b, "\r\n", 2)) ||
	    (rc = cpm_msrp_print_hdr(b, "To-Path", cpm_buf_str(&rt->to))) ||
	    (rc = cpm_msrp_print_hdr(b, "From-Path", cpm_buf_str(&rt->from))))
		return rc;
	for (unsigned i = 0; i < m->nhdrs && !rc; i++) {
		const struct cpm_msrp_hdr *h = &m->hdrs[i];
		if (h->id == CPM_MSRP_H_TO_PATH || h->id == CPM_MSRP_H_FROM_PATH)
			continue;
		if (!(rc = cpm_buf_append_str(b, h->name)) && !(rc = cpm_buf_append(b, ": ", 2)) &&
		    !(rc = cpm_buf_append_str(b, h->value)))
			rc = cpm_buf_append(b, "\r\n", 2);
	}
	if (!rc && m->has_body)
		rc = cpm_buf_append(b, "\r\n", 2);
	return rc;
}

/* The transaction of a forwarded request, ready to link when its stream
 * starts; NULL when none is kept (REPORT, Failure-Report "no"). */
static struct cpm_chat__txn *txn_new(struct cpm_chat__conn *c, const struct cpm_msrp_msg *m,
				     const struct cpm_chat__xfer *x,
				     const struct cpm_chat_route *rt, int *err)
{
	*err = 0;
	if (m->method == CPM_MSRP_REPORT ||
	    (m->method == CPM_MSRP_SEND && m->failure_report == CPM_MSRP_REP_NO))
		return NULL;
	struct cpm_chat__txn *t = calloc(1, sizeof *t);
	if (!t) {
		*err = CPM_ENOMEM;
		return NULL;
	}
	t->kind = m->method == CPM_MSRP_SEND ? CPM_CHAT__T_SEND : CPM_CHAT__T_BACK;
	memcpy(t->tid, x->out_tid, sizeof t->tid);
	memcpy(t->up_tid, x->tid, sizeof t->up_tid);
	t->dst = x->dst;
	t->src = c->id;
	t->streaming = true;
	t->fr = m->failure_report;
	/* the From-Path as it was at our last hop, and our URI there */
	struct cpm_str from = cpm_buf_str(&rt->from), self = cpm_msrp_path_first(from);
	struct cpm_str rest = { self.s + self.len, from.len - self.len };
	t->rep_to = cpm_str_dup(cpm_str_trim(rest));
	t->self = cpm_str_dup(self);
	if (m->message_id.len)
		t->msgid = cpm_str_dup(m->message_id);
	t->start = m->has_range && m->range.start ? m->range.start : 1;
	t->total = m->has_range ? m->range.total : 0;
	t->total_star = m->has_range ? m->range.total_star : true;
	if (!t->rep_to || !t->self || (m->message_id.len && !t->msgid)) {
		txn_free(t);
		*err = CPM_ENOMEM;
		return NULL;
	}
	return t;
}

/* Learn who is at the other end of an accepted connection: the first
 * From-Path URI of what it sends is its authority (RFC 4975 §6: a
 * connection is reused for the URIs of that authority). */
static void learn(struct cpm_chat__conn *c, struct cpm_str from_path)
{
	if (c->key[0] || c->outgoing)
		return;
	struct cpm_msrp_uri u;
	struct cpm_str cur = from_path;
	char key[CPM_CHAT_KEY_MAX];
	if (cpm_msrp_path_next(&cur, &u) != 1 || cpm_chat_uri_is_self(c->r->table, &u) ||
	    cpm_chat_uri_key(&u, key, sizeof key))
		return;
	if (cpm_chat__conn_find(c->r, cpm_chat_peer_find(c->r->table, key)))
		return; /* another connection has it */
	if (cpm_chat_peer_set(c->r->table, key, c->id, true) == 0)
		memcpy(c->key, key, sizeof key);
}

static void discard(struct cpm_chat__conn *c, int status, const char *why)
{
	struct cpm_chat__xfer *x = &c->cur;
	x->kind = CPM_CHAT__X_DISCARD;
	x->status = status;
	if (status)
		cpm_logi(c->name, "msrp %s %s: %d (%s)", x->tid,
			 x->is_request ? "request" : "response", status, why);
}

/* A response from a next hop. */
static void on_response(struct cpm_chat__conn *c, const struct cpm_msrp_msg *m)
{
	struct cpm_chat_relay *r = c->r;
	struct cpm_chat__txn *t = txn_find(r, m->tid);
	if (!t || t->dst != c->id) {
		cpm_logd(c->name, "msrp response %d to unknown transaction %.*s", m->code,
			 CPM_STR_FMT(m->tid));
		return;
	}
	if (t->kind != CPM_CHAT__T_BACK) {
		txn_settle(r, t, m->code);
		return;
	}
	/* back to the previous hop, under its tid: To-Path the request's
	 * From-Path there, From-Path our URI then the responder's path */
	struct cpm_chat__conn *s = cpm_chat__conn_find(r, t->src);
	struct cpm_buf b;
	cpm_buf_init(&b, 64 * 1024);
	char code[8];
	snprintf(code, sizeof code, "%03d", m->code % 1000);
	int rc = cpm_buf_printf(&b, "MSRP %s %s%s%.*s\r\n", t->up_tid, code,
				m->comment.len ? " " : "", CPM_STR_FMT(m->comment));
	if (!rc)
		rc = cpm_msrp_print_hdr(&b, "To-Path", cpm_str_from_cstr(t->rep_to));
	if (!rc)
		rc = cpm_buf_printf(&b, "From-Path: %s %.*s\r\n", t->self,
				    CPM_STR_FMT(m->from_path));
	for (unsigned i = 0; i < m->nhdrs && !rc; i++) {
		const struct cpm_msrp_hdr *h = &m->hdrs[i];
		if (h->id != CPM_MSRP_H_TO_PATH && h->id != CPM_MSRP_H_FROM_PATH)
			rc = cpm_buf_printf(&b, "%.*s: %.*s\r\n", CPM_STR_FMT(h->name),
					    CPM_STR_FMT(h->value));
	}
	if (!rc)
		rc = cpm_msrp_print_end_line(&b, cpm_str_from_cstr(t->up_tid), '$', false);
	if (!rc && s)
		cpm_chat__put(s, 0, b.p, b.len);
	cpm_buf_free(&b);
	txn_del(r, t);
}

static void on_headers(struct cpm_chat__conn *c)
{
	struct cpm_chat_relay *r = c->r;
	const struct cpm_msrp_msg *m = &c->ps.msg;
	struct cpm_chat__xfer *x = &c->cur;
	cpm_chat__xfer_reset(x);
	x->is_request = m->is_request;
	x->method = m->method;
	x->has_body = m->has_body;
	x->fr = m->failure_report;
	cpm_str_copy(m->tid, x->tid, sizeof x->tid); /* the parser checked its length */
	if (!m->is_request) {
		on_response(c, m);
		discard(c, 0, "");
		return;
	}
	/* our answer goes to the previous hop, from us as it named us.  A
	 * response to a SEND names only that hop (RFC 4975 §7.2); one to AUTH
	 * (or another method) carries the whole From-Path, so that relays on
	 * the way back can route it without state (RFC 4976 §7.3; Kamailio
	 * relies on it) */
	struct cpm_str pt = m->method == CPM_MSRP_SEND ? cpm_msrp_path_first(m->from_path)
						       : cpm_str_trim(m->from_path),
		       us = cpm_msrp_path_first(m->to_path);
	x->resp_to = malloc(pt.len + us.len + 2);
	if (!x->resp_to) {
		cpm_chat__conn_close(c, "out of memory");
		return;
	}
	memcpy(x->resp_to, pt.s, pt.len);
	x->resp_to[pt.len] = '\0';
	x->resp_from = x->resp_to + pt.len + 1;
	memcpy(x->resp_from, us.s, us.len);
	x->resp_from[us.len] = '\0';
	if (m->err) {
		discard(c, m->err_status ? m->err_status : 400, m->err_reason);
		return;
	}
	if (!pt.len || !us.len) {
		discard(c, 400, "no To-Path or From-Path");
		return;
	}
	learn(c, m->from_path);
	struct cpm_chat_route rt;
	if (cpm_chat_route(r->table, c->id, m->method, m->to_path, m->from_path, cpm_now_ms(),
			   &rt)) {
		cpm_chat__conn_close(c, "out of memory");
		return;
	}
	struct cpm_chat__conn *d = NULL;
	int err = 0;
	if (rt.hop != CPM_CHAT_HOP_LOCAL && rt.hop != CPM_CHAT_HOP_ERROR)
		c->relayed = true;
	switch (rt.hop) {
	case CPM_CHAT_HOP_ERROR:
		discard(c, rt.status, rt.reason);
		break;
	case CPM_CHAT_HOP_AUTH:
		discard(c, 0, "");
		cpm_chat__auth(c, m);
		break;
	case CPM_CHAT_HOP_LOCAL:
		cpm_chat__ep_headers(c, m, &rt);
		break;
	case CPM_CHAT_HOP_CLIENT:
		d = cpm_chat__conn_find(r, rt.conn_id);
		if (!d)
			discard(c, 481, "the session's client is gone");
		break;
	case CPM_CHAT_HOP_URI:
		d = cpm_chat__conn_to(r, rt.key, &rt.next, &err);
		if (!d)
			/* RFC 4975 §7.1.2 has no "unreachable": the
			 * transaction cannot complete, as on a timeout */
			discard(c, err == CPM_EUNSUPP ? 400 : 408,
				err == CPM_EUNSUPP ? "msrps next hop (no TLS)"
				: err == CPM_EADDR ? "next hop is not an IP address"
						   : "cannot connect to the next hop");
		break;
	}
	if (d) {
		x->kind = CPM_CHAT__X_FORWARD;
		x->dst = d->id;
		x->answer_ok = m->method == CPM_MSRP_SEND && cpm_chat__may_answer(x, 200);
		cpm_buf_init(&x->head, SIZE_MAX / 4);
		if (cpm_chat__tid_new(r, x->out_tid) || build_head(&x->head, m, x->out_tid, &rt) ||
		    ((x->txn = txn_new(c, m, x, &rt, &err)) == NULL && err)) {
			cpm_buf_free(&x->head);
			cpm_chat_route_free(&rt);
			cpm_chat__conn_close(c, "out of memory");
			return;
		}
		r->st.requests++;
	}
	cpm_chat_route_free(&rt);
}

static void on_body(struct cpm_chat__conn *c, struct cpm_str data)
{
	struct cpm_chat__xfer *x = &c->cur;
	if (x->kind == CPM_CHAT__X_LOCAL) {
		cpm_chat__ep_body(c, data);
		return;
	}
	if (x->kind != CPM_CHAT__X_FORWARD || !data.len)
		return;
	struct cpm_chat__conn *d = cpm_chat__conn_find(c->r, x->dst);
	if (!d || cpm_chat__put(d, c->id, data.s, data.len)) {
		xfer_fail(c, 408, "next hop connection lost");
		return;
	}
	x->body += data.len;
	c->r->st.bytes += data.len;
}

static void on_end(struct cpm_chat__conn *c, char flag)
{
	struct cpm_chat_relay *r = c->r;
	struct cpm_chat__xfer *x = &c->cur;
	if (x->kind == CPM_CHAT__X_LOCAL)
		cpm_chat__ep_end(c, flag);
	if (x->kind == CPM_CHAT__X_FORWARD) {
		struct cpm_chat__conn *d = cpm_chat__conn_find(r, x->dst);
		if (d && !end_line(d, c->id, x->out_tid, flag, x->has_body)) {
			cpm_chat__release(d);
			if (x->txn) {
				x->txn->len = x->body;
				txn_arm(r, x->txn);
				x->txn = NULL;
			}
			if (x->answer_ok)
				cpm_chat__respond(c, x->tid, 200, x->resp_to, x->resp_from, NULL);
		} else {
			xfer_fail(c, 408, "next hop connection lost");
		}
	}
	if (x->kind == CPM_CHAT__X_DISCARD && x->is_request && x->status && cpm_chat__may_answer(x, x->status))
		cpm_chat__respond(c, x->tid, x->status, x->resp_to, x->resp_from, NULL);
	cpm_chat__xfer_reset(x);
}

void cpm_chat__process(struct cpm_chat__conn *c)
{
	struct cpm_chat_relay *r = c->r;
	size_t off = 0;
	while (c->st == CPM_CHAT__UP && !r->freeing) {
		struct cpm_chat__conn *w = blocker(c);
		cpm_chat__wait(c, w);
		if (w)
			break;
		if (c->cur.kind == CPM_CHAT__X_FORWARD && !c->cur.started)
			xfer_start(c);
		struct cpm_msrp_event ev;
		int rc = cpm_msrp_parse(&c->ps, c->in.p + off, c->in.len - off, &ev);
		if (rc < 0) {
			/* framing is lost on a stream: close (RFC 4975 §7.3
			 * has no way to resynchronise) */
			cpm_logi(c->name, "msrp: %s", c->ps.err_reason ? c->ps.err_reason
								       : cpm_strerror(rc));
			xfer_fail(c, 400, "framing error");
			cpm_chat__conn_close(c, "malformed MSRP");
			return;
		}
		if (rc == CPM_MSRP_EV_NONE)
			break;
		if (rc == CPM_MSRP_EV_HEADERS)
			on_headers(c);
		else if (rc == CPM_MSRP_EV_BODY)
			on_body(c, ev.data);
		else
			on_end(c, ev.flag);
		off += ev.used;
	}
	cpm_chat__input_done(c, off);
}

void cpm_chat__conn_gone(struct cpm_chat__conn *c)
{
	struct cpm_chat_relay *r = c->r;
	struct cpm_chat__xfer *x = &c->cur;
	/* the sender went away mid-chunk: nobody is left to report to */
	cut(c);
	cpm_chat__xfer_reset(x);
	/* what was sent here and not answered fails */
	while (c->txns)
		txn_settle(r, c->txns, 408);
}
