/* MSRP over TCP on the loop (RFC 4975 §6, RFC 4976): the listener, the
 * connections we accept and open, their input and output buffers, idle
 * and connect timeouts, the connection limit, and backpressure.
 *
 * Output is staged per connection and written once per loop iteration
 * (the idle callback), so that a burst of small messages costs one write.
 * A connection whose unsent bytes pass msrp.max_out_buffer is "full":
 * whoever wants to send to it waits (is not read) until it drains to
 * half of that.  A message being relayed owns the outgoing stream until
 * its end-line (MSRP messages cannot interleave on a connection); whole
 * messages of ours queued meanwhile follow it. */
#include "chat/chat_int.h"

#include "core/core.h"

#include <stdlib.h>
#include <string.h>

struct wreq {
	uv_write_t req;
	struct cpm_chat__conn *c;
	char *data;
	size_t len;
};

void cpm_chat__acct(struct cpm_chat_relay *r, ssize_t delta)
{
	r->buffered += (size_t)delta;
	if (r->buffered > r->st.buffered_max)
		r->st.buffered_max = r->buffered;
}

int cpm_chat__tid_new(struct cpm_chat_relay *r, char out[CPM_MSRP_TID_LEN + 1])
{
	/* a tid must not be guessable: a body holding "-------<tid>$" would
	 * end our chunk early (RFC 4975 §7.1); one syscall per message is
	 * what a pool saves */
	const size_t n = CPM_MSRP_TID_LEN / 2;
	if (r->rnd_used + n > sizeof r->rnd || !r->rnd_used) {
		int rc = cpm_rand_bytes(r->rnd, sizeof r->rnd);
		if (rc)
			return rc;
		r->rnd_used = 0;
	}
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		unsigned char b = r->rnd[r->rnd_used + i];
		out[2 * i] = hex[b >> 4];
		out[2 * i + 1] = hex[b & 15];
	}
	memset(r->rnd + r->rnd_used, 0, n);
	r->rnd_used += n;
	out[CPM_MSRP_TID_LEN] = '\0';
	return 0;
}

/* -------------------------------------------------------------- by id */

struct cpm_chat__conn *cpm_chat__conn_find(struct cpm_chat_relay *r, uint64_t id)
{
	if (!id)
		return NULL;
	struct cpm_chat__conn *c = r->cb[id & (r->ncb - 1)];
	while (c && c->id != id)
		c = c->hnext;
	return c && c->st != CPM_CHAT__CLOSING ? c : NULL;
}

struct cpm_chat__conn *cpm_chat__conn_any(struct cpm_chat_relay *r, uint64_t id)
{
	struct cpm_chat__conn *c = id ? r->cb[id & (r->ncb - 1)] : NULL;
	while (c && c->id != id)
		c = c->hnext;
	return c;
}

static void byid_add(struct cpm_chat_relay *r, struct cpm_chat__conn *c)
{
	if (r->nconns >= r->ncb) {
		size_t n = r->ncb * 2;
		struct cpm_chat__conn **nb = calloc(n, sizeof *nb);
		if (nb) {
			for (size_t i = 0; i < r->ncb; i++)
				for (struct cpm_chat__conn *x = r->cb[i], *nx; x; x = nx) {
					nx = x->hnext;
					x->hnext = nb[x->id & (n - 1)];
					nb[x->id & (n - 1)] = x;
				}
			free(r->cb);
			r->cb = nb;
			r->ncb = n;
		}
	}
	struct cpm_chat__conn **pp = &r->cb[c->id & (r->ncb - 1)];
	c->hnext = *pp;
	*pp = c;
}

static void byid_del(struct cpm_chat_relay *r, struct cpm_chat__conn *c)
{
	struct cpm_chat__conn **pp = &r->cb[c->id & (r->ncb - 1)];
	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
}

/* ------------------------------------------------------- idle: ready, flush */

static void flush(struct cpm_chat__conn *c);

static void on_idle(uv_idle_t *h)
{
	struct cpm_chat_relay *r = h->data;
	/* connections woken since: process their input (which may wake
	 * others; what is left after a bounded number waits for the next
	 * iteration), then write what was staged */
	for (int n = 0; r->ready && n < 4096; n++) {
		struct cpm_chat__conn *c = r->ready;
		r->ready = c->ready_next;
		if (!r->ready)
			r->ready_tail = NULL;
		c->ready = false;
		c->ready_next = NULL;
		if (c->st == CPM_CHAT__UP && !r->freeing)
			cpm_chat__process(c);
	}
	while (r->dirty) {
		struct cpm_chat__conn *c = r->dirty;
		r->dirty = c->dirty_next;
		c->dirty = false;
		c->dirty_next = NULL;
		flush(c);
	}
	if (!r->ready) {
		uv_idle_stop(&r->idle);
		r->idle_on = false;
	}
}

static void kick(struct cpm_chat_relay *r)
{
	if (!r->idle_on && !r->freeing) {
		uv_idle_start(&r->idle, on_idle);
		r->idle_on = true;
	}
}

void cpm_chat__schedule(struct cpm_chat__conn *c)
{
	if (c->ready || c->st != CPM_CHAT__UP)
		return;
	struct cpm_chat_relay *r = c->r;
	c->ready = true;
	c->ready_next = NULL;
	if (r->ready_tail)
		r->ready_tail->ready_next = c;
	else
		r->ready = c;
	r->ready_tail = c;
	kick(r);
}

static void mark_dirty(struct cpm_chat__conn *c)
{
	if (c->dirty || c->st == CPM_CHAT__CLOSING)
		return;
	c->dirty = true;
	c->dirty_next = c->r->dirty;
	c->r->dirty = c;
	kick(c->r);
}

/* ---------------------------------------------------------- waiting */

static void unwait(struct cpm_chat__conn *c);

void cpm_chat__wait(struct cpm_chat__conn *c, struct cpm_chat__conn *on)
{
	if (c->waits == on)
		return;
	unwait(c);
	if (!on)
		return;
	c->r->st.stalls++;
	c->waits = on;
	c->w_prev = NULL;
	c->w_next = on->waiters;
	if (on->waiters)
		on->waiters->w_prev = c;
	on->waiters = c;
}

static void unwait(struct cpm_chat__conn *c)
{
	if (!c->waits)
		return;
	if (c->w_prev)
		c->w_prev->w_next = c->w_next;
	else
		c->waits->waiters = c->w_next;
	if (c->w_next)
		c->w_next->w_prev = c->w_prev;
	c->waits = NULL;
	c->w_prev = c->w_next = NULL;
}

/* Everyone waiting for c gets another chance (from the idle callback). */
void cpm_chat__wake(struct cpm_chat__conn *c)
{
	while (c->waiters) {
		struct cpm_chat__conn *w = c->waiters;
		unwait(w);
		cpm_chat__schedule(w);
	}
}

/* ----------------------------------------------------------- output */

size_t cpm_chat__pending(const struct cpm_chat__conn *c)
{
	return c->out.len + c->deferred.len + c->inflight;
}

size_t cpm_chat__ahead(const struct cpm_chat__conn *c)
{
	return c->out.len + c->inflight;
}

static void write_done(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)(void *)req;
	struct cpm_chat__conn *c = w->c;
	struct cpm_chat_relay *r = c->r;
	c->inflight -= w->len;
	cpm_chat__acct(r, -(ssize_t)w->len);
	free(w->data);
	free(w);
	if (c->st == CPM_CHAT__CLOSING)
		return;
	if (status < 0) {
		cpm_chat__conn_close(c, uv_strerror(status));
		return;
	}
	/* drained to half the bound: the senders waiting go on (the deferred
	 * bytes wait for the stream in progress: not counted, or that stream
	 * would wait for itself) */
	if (c->waiters && cpm_chat__ahead(c) <= r->max_out / 2)
		cpm_chat__wake(c);
}

static void flush(struct cpm_chat__conn *c)
{
	if (c->st != CPM_CHAT__UP || !c->out.len)
		return;
	struct wreq *w = malloc(sizeof *w);
	if (!w) {
		cpm_chat__conn_close(c, "out of memory");
		return;
	}
	/* the staged buffer itself goes to the kernel: no copy */
	w->c = c;
	w->data = c->out.p;
	w->len = c->out.len;
	size_t max = c->out.max;
	cpm_buf_init(&c->out, max);
	c->inflight += w->len;
	uv_buf_t b = uv_buf_init(w->data, (unsigned)w->len);
	int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_done);
	if (rc) {
		c->inflight -= w->len;
		cpm_chat__acct(c->r, -(ssize_t)w->len);
		free(w->data);
		free(w);
		cpm_chat__conn_close(c, uv_strerror(rc));
		return;
	}
	cpm_chat__touch(c);
}

size_t cpm_chat__unsent(struct cpm_chat__conn *c)
{
	size_t q = c->out.len + c->deferred.len;
	if (c->st == CPM_CHAT__UP)
		q += uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
	return q;
}

void cpm_chat__flush_now(struct cpm_chat__conn *c)
{
	flush(c);
}

int cpm_chat__put(struct cpm_chat__conn *c, uint64_t writer, const void *p, size_t n)
{
	if (c->st == CPM_CHAT__CLOSING)
		return CPM_ECLOSED;
	struct cpm_buf *b = c->owner && c->owner != writer ? &c->deferred : &c->out;
	int rc = cpm_buf_append(b, p, n);
	if (rc) {
		cpm_chat__conn_close(c, "output buffer full");
		return rc;
	}
	cpm_chat__acct(c->r, (ssize_t)n);
	if (b == &c->out)
		mark_dirty(c);
	return 0;
}

void cpm_chat__release(struct cpm_chat__conn *c)
{
	c->owner = 0;
	if (c->deferred.len) {
		size_t n = c->deferred.len;
		int rc = cpm_buf_append(&c->out, c->deferred.p, n);
		cpm_buf_free(&c->deferred);
		if (rc) {
			cpm_chat__acct(c->r, -(ssize_t)n);
			cpm_chat__conn_close(c, "output buffer full");
			return;
		}
		mark_dirty(c);
	}
	cpm_chat__wake(c);
}

/* ----------------------------------------------------------- connections */

static void conn_handle_closed(uv_handle_t *h)
{
	struct cpm_chat__conn *c = h->data;
	if (--c->handles)
		return;
	struct cpm_chat_relay *r = c->r;
	cpm_chat__acct(r, -(ssize_t)(c->acct_in + c->out.len + c->deferred.len));
	cpm_buf_free(&c->in);
	cpm_buf_free(&c->out);
	cpm_buf_free(&c->deferred);
	cpm_chat__xfer_reset(&c->cur);
	free(c);
	r->handles--;
	if (r->freeing && !r->handles && !r->jobs)
		cpm_chat_relay_free(r);
}

/* Out of the ready and dirty lists: its memory goes before the next idle
 * callback (close callbacks run at the end of this loop iteration). */
static void unlist(struct cpm_chat__conn *c)
{
	struct cpm_chat_relay *r = c->r;
	if (c->ready) {
		struct cpm_chat__conn **pp = &r->ready, *prev = NULL;
		while (*pp != c) {
			prev = *pp;
			pp = &(*pp)->ready_next;
		}
		*pp = c->ready_next;
		if (r->ready_tail == c)
			r->ready_tail = prev;
		c->ready = false;
	}
	if (c->dirty) {
		struct cpm_chat__conn **pp = &r->dirty;
		while (*pp != c)
			pp = &(*pp)->dirty_next;
		*pp = c->dirty_next;
		c->dirty = false;
	}
}

void cpm_chat__conn_close(struct cpm_chat__conn *c, const char *why)
{
	if (c->st == CPM_CHAT__CLOSING)
		return;
	struct cpm_chat_relay *r = c->r;
	cpm_logi(c->name, "msrp conn %llu closed: %s", (unsigned long long)c->id, why);
	/* from here on nobody finds it: what streamed to it or waited for
	 * it fails, what it was streaming ends */
	c->st = CPM_CHAT__CLOSING;
	cpm_chat__conn_gone(c);
	cpm_chat__ep_conn_gone(c);
	unwait(c);
	cpm_chat__wake(c);
	unlist(c);
	if (c->key[0])
		cpm_chat_peer_del(r->table, c->key, c->id);
	cpm_chat_sess_drop_conn(r->table, c->id);
	byid_del(r, c);
	if (c->prev)
		c->prev->next = c->next;
	else
		r->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	r->nconns--;
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void timer_cb(uv_timer_t *t)
{
	struct cpm_chat__conn *c = t->data;
	cpm_chat__conn_close(c, c->st == CPM_CHAT__CONNECTING ? "connect timeout" : "idle timeout");
}

/* The idle timeout restarts on traffic either way. */
void cpm_chat__touch(struct cpm_chat__conn *c)
{
	/* a connection carrying local sessions lives as long as they do
	 * (a quiet chat room member is not idle) */
	if (c->eps && c->st == CPM_CHAT__UP) {
		uv_timer_stop(&c->timer);
		return;
	}
	if (c->st == CPM_CHAT__UP)
		uv_timer_start(&c->timer, timer_cb,
			       (uint64_t)c->r->conf->msrp.idle_timeout * 1000, 0);
}

static struct cpm_chat__conn *conn_new(struct cpm_chat_relay *r, bool outgoing)
{
	struct cpm_chat__conn *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->r = r;
	c->outgoing = outgoing;
	c->id = r->next_id++;
	c->st = outgoing ? CPM_CHAT__CONNECTING : CPM_CHAT__UP;
	struct cpm_msrp_limits lim;
	cpm_msrp_limits_default(&lim);
	lim.max_head = r->conf->msrp.max_header_size;
	cpm_msrp_parser_init(&c->ps, &lim, CPM_MSRP_STREAM);
	cpm_buf_init(&c->in, lim.max_head + CPM_CHAT__RDSZ + 64);
	cpm_buf_init(&c->out, CPM_CHAT__BUF_MAX);
	cpm_buf_init(&c->deferred, CPM_CHAT__BUF_MAX);
	uv_tcp_init(r->loop, &c->tcp);
	uv_timer_init(r->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->handles = 2;
	r->handles++;
	c->next = r->conns;
	if (r->conns)
		r->conns->prev = c;
	r->conns = c;
	r->nconns++;
	byid_add(r, c);
	snprintf(c->name, sizeof c->name, "msrp#%llu", (unsigned long long)c->id);
	return c;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct cpm_chat__conn *c = h->data;
	/* read straight into the input buffer: no copy */
	if (cpm_buf_reserve(&c->in, CPM_CHAT__RDSZ)) {
		buf->base = NULL;
		buf->len = 0;
		return;
	}
	buf->base = c->in.p + c->in.len;
	buf->len = c->in.cap - c->in.len - 1;
}

static void read_update(struct cpm_chat__conn *c);

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct cpm_chat__conn *c = s->data;
	if (nread == UV_ENOBUFS) {
		cpm_chat__conn_close(c, "input buffer full");
		return;
	}
	if (nread < 0) {
		cpm_chat__conn_close(c, nread == UV_EOF ? "eof" : uv_strerror((int)nread));
		return;
	}
	if (nread == 0 || c->st != CPM_CHAT__UP)
		return;
	c->in.len += (size_t)nread;
	c->in.p[c->in.len] = '\0';
	cpm_chat__touch(c);
	cpm_chat__process(c);
}

/* Read while nothing holds the connection back. */
static void read_update(struct cpm_chat__conn *c)
{
	if (c->st != CPM_CHAT__UP)
		return;
	bool want = !c->waits;
	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
			c->reading = true;
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
}

void cpm_chat__input_done(struct cpm_chat__conn *c, size_t used)
{
	if (c->st == CPM_CHAT__CLOSING)
		return;
	if (used)
		cpm_buf_consume(&c->in, used);
	if (!c->in.len)
		cpm_buf_free(&c->in); /* an idle connection holds no buffer */
	cpm_chat__acct(c->r, (ssize_t)c->in.len - (ssize_t)c->acct_in);
	c->acct_in = c->in.len;
	read_update(c);
}

static void set_name(struct cpm_chat__conn *c)
{
	struct cpm_net_addr a;
	int len = sizeof a.u.ss;
	memset(&a, 0, sizeof a);
	if (uv_tcp_getpeername(&c->tcp, &a.u.sa, &len) == 0) {
		a.len = (socklen_t)len;
		cpm_net_addr_print(&a, c->name, sizeof c->name);
	}
}

static void on_accept(uv_stream_t *s, int status)
{
	struct cpm_chat_relay *r = s->data;
	if (status < 0) {
		cpm_logw("msrp", "accept: %s", uv_strerror(status));
		return;
	}
	struct cpm_chat__conn *c = conn_new(r, false);
	if (!c)
		return;
	if (uv_accept(s, (uv_stream_t *)&c->tcp)) {
		cpm_chat__conn_close(c, "accept failed");
		return;
	}
	set_name(c);
	if (r->nconns > (unsigned)r->conf->msrp.max_connections) {
		/* nothing was said on it yet: no MSRP answer is possible */
		cpm_logw(c->name, "msrp: too many connections (%d)", r->conf->msrp.max_connections);
		cpm_chat__conn_close(c, "connection limit");
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	cpm_logi(c->name, "msrp conn %llu accepted", (unsigned long long)c->id);
	cpm_chat__touch(c);
	read_update(c);
}

static void on_connect(uv_connect_t *req, int status)
{
	struct cpm_chat__conn *c = req->data;
	free(req);
	if (c->st == CPM_CHAT__CLOSING)
		return;
	if (status < 0) {
		cpm_chat__conn_close(c, uv_strerror(status));
		return;
	}
	c->st = CPM_CHAT__UP;
	uv_tcp_nodelay(&c->tcp, 1);
	cpm_logi(c->name, "msrp conn %llu connected", (unsigned long long)c->id);
	cpm_chat__touch(c);
	read_update(c);
	flush(c);
	if (c->waiters && cpm_chat__ahead(c) <= c->r->max_out / 2)
		cpm_chat__wake(c);
}

struct cpm_chat__conn *cpm_chat__conn_to(struct cpm_chat_relay *r, const char *key,
					 const struct cpm_msrp_uri *u, int *err)
{
	struct cpm_chat__conn *c = cpm_chat__conn_find(r, cpm_chat_peer_find(r->table, key));
	if (c)
		return c;
	if (u->secure) {
		*err = CPM_EUNSUPP; /* msrps: no TLS here */
		return NULL;
	}
	struct cpm_net_addr a;
	/* literal addresses only: no DNS on the loop (RFC 4975 §6.2 would
	 * want A/AAAA lookups of a host name) */
	if (cpm_net_addr_from_host(u->host, u->has_port ? u->port : CPM_MSRP_DEFAULT_PORT, &a)) {
		*err = CPM_EADDR;
		return NULL;
	}
	if (r->freeing || r->nconns >= (unsigned)r->conf->msrp.max_connections) {
		*err = CPM_ELIMIT;
		return NULL;
	}
	c = conn_new(r, true);
	uv_connect_t *req = c ? malloc(sizeof *req) : NULL;
	if (!req) {
		if (c)
			cpm_chat__conn_close(c, "out of memory");
		*err = CPM_ENOMEM;
		return NULL;
	}
	cpm_net_addr_print(&a, c->name, sizeof c->name);
	snprintf(c->key, sizeof c->key, "%s", key);
	int rc = uv_tcp_connect(req, &c->tcp, &a.u.sa, on_connect);
	if (rc) {
		free(req);
		cpm_chat__conn_close(c, uv_strerror(rc));
		*err = CPM_EADDR;
		return NULL;
	}
	req->data = c;
	cpm_chat_peer_set(r->table, key, c->id, true);
	uv_timer_start(&c->timer, timer_cb, (uint64_t)r->conf->msrp.connect_timeout * 1000, 0);
	cpm_logi(c->name, "msrp conn %llu connecting", (unsigned long long)c->id);
	return c;
}

/* ------------------------------------------------------------- the relay */

static void handle_closed(uv_handle_t *h)
{
	struct cpm_chat_relay *r = h->data;
	r->handles--;
	if (r->freeing && !r->handles && !r->jobs)
		cpm_chat_relay_free(r);
}

static void sweep_cb(uv_timer_t *t)
{
	struct cpm_chat_relay *r = t->data;
	uint64_t now = cpm_now_ms();
	cpm_chat__txn_sweep(r, now);
	cpm_chat_sess_expire(r->table, now);
}

int cpm_chat_relay_new(struct cpm_core *core, struct cpm_chat_relay **out, char *err,
		       size_t errsz)
{
	const struct cpm_conf *conf = cpm_core_conf(core);
	struct cpm_chat_relay *r = calloc(1, sizeof *r);
	if (!r) {
		snprintf(err, errsz, "out of memory");
		return CPM_ENOMEM;
	}
	r->core = core;
	r->conf = conf;
	r->loop = cpm_core_loop(core);
	r->next_id = 1;
	r->max_out = conf->msrp.max_out_buffer;
	r->ncb = 64;
	r->ntb = 1024;
	r->cb = calloc(r->ncb, sizeof *r->cb);
	r->tb = calloc(r->ntb, sizeof *r->tb);
	const struct cpm_conf_listen *l = &conf->msrp.listen;
	const char *host = conf->msrp.host[0] ? conf->msrp.host : l->port ? l->host : "127.0.0.1";
	int rc = r->cb && r->tb ? cpm_chat_table_new(host, l->port, (size_t)conf->msrp.max_sessions,
						     &r->table)
				: CPM_ENOMEM;
	if (rc) {
		free(r->cb);
		free(r->tb);
		free(r);
		snprintf(err, errsz, "msrp: %s", cpm_strerror(rc));
		return rc;
	}
	uv_timer_init(r->loop, &r->sweep);
	uv_idle_init(r->loop, &r->idle);
	r->sweep.data = r->idle.data = r;
	r->handles = 2;
	uv_timer_start(&r->sweep, sweep_cb, 1000, 1000);
	uv_unref((uv_handle_t *)&r->sweep); /* not a reason to keep running */
	*out = r;
	if (!l->port)
		return 0;
	rc = uv_tcp_init_ex(r->loop, &r->lsn, (unsigned)l->family);
	if (!rc) {
		r->lsn.data = r;
		r->lsn_open = true;
		r->handles++;
		rc = uv_tcp_bind(&r->lsn, (const struct sockaddr *)&l->addr,
				 l->family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
	}
	if (!rc)
		rc = uv_listen((uv_stream_t *)&r->lsn, 511, on_accept);
	struct sockaddr_storage ss;
	int len = sizeof ss;
	if (!rc)
		rc = uv_tcp_getsockname(&r->lsn, (struct sockaddr *)&ss, &len);
	if (rc) {
		snprintf(err, errsz, "cannot listen for MSRP on %s%s%s:%u (msrp.listen): %s",
			 l->family == AF_INET6 ? "[" : "", l->host,
			 l->family == AF_INET6 ? "]" : "", l->port, uv_strerror(rc));
		return CPM_EIO;
	}
	r->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						 : ((struct sockaddr_in6 *)&ss)->sin6_port);
	cpm_logn("msrp", "relay listening on port %u as %s", r->port,
		 cpm_chat_table_base(r->table));
	return 0;
}

uint16_t cpm_chat_relay_port(const struct cpm_chat_relay *r)
{
	return r && r->lsn_open ? r->port : 0;
}

void cpm_chat_relay_stop(struct cpm_chat_relay *r)
{
	if (r && r->lsn_open) {
		r->lsn_open = false;
		uv_close((uv_handle_t *)&r->lsn, handle_closed);
	}
}

static void txns_free(struct cpm_chat_relay *r)
{
	for (size_t i = 0; i < r->ntb; i++)
		for (struct cpm_chat__txn *t = r->tb[i], *n; t; t = n) {
			n = t->hnext;
			if (t->out)
				cpm_chat__out_unref(t->out);
			free(t->rep_to);
			free(t->self);
			free(t->msgid);
			free(t);
		}
}

void cpm_chat_relay_free(struct cpm_chat_relay *r)
{
	if (!r)
		return;
	if (!r->freeing) {
		r->freeing = true;
		cpm_chat_relay_stop(r);
		cpm_chat__ep_free_all(r);
		while (r->conns)
			cpm_chat__conn_close(r->conns, "server stopped");
		uv_close((uv_handle_t *)&r->sweep, handle_closed);
		uv_close((uv_handle_t *)&r->idle, handle_closed);
		return; /* the last close callback (or store job) comes back here */
	}
	if (r->handles || r->jobs)
		return;
	txns_free(r);
	cpm_chat_table_free(r->table);
	free(r->cb);
	free(r->tb);
	free(r);
}

void cpm_chat_relay_stats(const struct cpm_chat_relay *r, struct cpm_chat_relay_stats *out)
{
	if (!r) {
		memset(out, 0, sizeof *out);
		return;
	}
	*out = r->st;
	out->connections = r->nconns;
	out->sessions = cpm_chat_sess_count(r->table);
	out->transactions = r->ntxns;
	out->buffered = r->buffered;
}
