/* SIP transports on libuv: UDP listeners with batched receive, TCP
 * listeners and connections with RFC 3261 §18.3 stream framing, RFC 5626
 * §3.5.1 CRLF keep-alives, idle timeouts and per-connection limits. */
#include "net/net.h"
#include "net/net_int.h"

#include <stdlib.h>
#include <string.h>

#define UDP_CHUNK (64 * 1024)
#define UDP_MMSG 16            /* datagrams per recvmmsg batch */
#define TCP_RDBUF (64 * 1024)
#define MAX_LISTENERS 32

struct lsn {
	struct cpm_net_listener pub; /* first: dest->lsn points here */
	struct cpm_net *n;
	union {
		uv_handle_t h;
		uv_udp_t udp;
		uv_tcp_t tcp;
	} u;
	bool open;
};

enum conn_state { CONN_CONNECTING, CONN_UP, CONN_CLOSING };

struct conn {
	uv_tcp_t tcp;
	uv_timer_t timer; /* connect timeout, then idle timeout */
	struct cpm_net *n;
	uint64_t id;
	enum conn_state st;
	bool outgoing;
	bool announced;   /* conn_cb(up=true) was called */
	int handles;      /* open uv handles (tcp + timer) */
	struct cpm_net_addr peer;
	const struct cpm_net_listener *lsn;
	struct cpm_net__hnode by_id, by_peer;
	struct cpm_buf in;
	struct cpm_buf pend;  /* queued while connecting */
	size_t out_pending;   /* bytes in uv_write requests */
	bool close_after_flush;
	char name[CPM_NET_ADDR_STRLEN];
};

struct wreq {
	uv_write_t req;
	struct conn *c;
	size_t len;
	char data[];
};

struct ureq {
	uv_udp_send_t req;
	char data[];
};

struct cpm_net {
	uv_loop_t *loop;
	struct cpm_net_conf conf;
	cpm_net_recv_cb *rcb;
	cpm_net_conn_cb *ccb;
	void *arg;
	struct lsn *lsns[MAX_LISTENERS];
	unsigned nlsns;
	struct cpm_net__htab conns_by_id, conns_by_peer;
	unsigned nconns;
	uint64_t next_id;
	char *udp_buf;     /* shared recvmmsg buffer, single-threaded */
	char tcp_buf[TCP_RDBUF];
	bool freeing;
	unsigned handles;  /* open uv handles owned by the net */
};

void cpm_net_conf_default(struct cpm_net_conf *c)
{
	memset(c, 0, sizeof *c);
	cpm_sip_limits_default(&c->lim);
	c->tcp_idle_s = 600;
	c->max_conns = 4096;
	c->max_out_buf = 1024 * 1024;
	c->udp_rcvbuf = 4 * 1024 * 1024;
	c->tcp_connect_ms = 10000;
}

int cpm_net_new(uv_loop_t *loop, const struct cpm_net_conf *c,
		struct cpm_net **out)
{
	struct cpm_net *n = calloc(1, sizeof *n);
	if (!n)
		return CPM_ENOMEM;
	n->loop = loop;
	if (c)
		n->conf = *c;
	else
		cpm_net_conf_default(&n->conf);
	if (!n->conf.lim.max_msg)
		cpm_sip_limits_default(&n->conf.lim);
	if (!n->conf.max_out_buf)
		n->conf.max_out_buf = 1024 * 1024;
	if (!n->conf.tcp_connect_ms)
		n->conf.tcp_connect_ms = 10000;
	n->next_id = 1;
	n->udp_buf = malloc((size_t)UDP_CHUNK * UDP_MMSG);
	if (!n->udp_buf || cpm_net__htab_init(&n->conns_by_id, 64) ||
	    cpm_net__htab_init(&n->conns_by_peer, 64)) {
		free(n->udp_buf);
		cpm_net__htab_free(&n->conns_by_id);
		free(n);
		return CPM_ENOMEM;
	}
	*out = n;
	return 0;
}

void cpm_net_set_handler(struct cpm_net *n, cpm_net_recv_cb *rcb,
			 cpm_net_conn_cb *ccb, void *arg)
{
	n->rcb = rcb;
	n->ccb = ccb;
	n->arg = arg;
}

static void net_release(struct cpm_net *n)
{
	if (!n->freeing || n->handles)
		return;
	for (unsigned i = 0; i < n->nlsns; i++)
		free(n->lsns[i]);
	cpm_net__htab_free(&n->conns_by_id);
	cpm_net__htab_free(&n->conns_by_peer);
	free(n->udp_buf);
	free(n);
}

static uint64_t addr_hash(const struct cpm_net_addr *a)
{
	uint64_t h = CPM_NET__HASH_INIT;
	uint16_t port = cpm_net_addr_port(a);
	int fam = a->u.sa.sa_family;
	h = cpm_net__hash(h, &fam, sizeof fam);
	h = cpm_net__hash(h, &port, sizeof port);
	if (fam == AF_INET)
		h = cpm_net__hash(h, &a->u.in.sin_addr, 4);
	else if (fam == AF_INET6)
		h = cpm_net__hash(h, &a->u.in6.sin6_addr, 16);
	return h;
}

/* ------------------------------------------------------------------ UDP */

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct lsn *l = h->data;
	struct cpm_net *n = l->n;
	/* One shared buffer, never freed here: libuv reads one batch at a
	 * time and hands every chunk to udp_recv before it asks for the next
	 * buffer, on this single thread. */
	buf->base = n->udp_buf;
	buf->len = (size_t)UDP_CHUNK * UDP_MMSG;
}

/* RFC 5626 §4.4.2 / §8: STUN keep-alives on the SIP UDP port.  A Binding
 * request (RFC 5389 §6: first two bits 0, magic cookie) gets a Binding
 * success response with XOR-MAPPED-ADDRESS.  Returns true when buf was
 * STUN (answered or dropped). */
#define STUN_COOKIE 0x2112A442u
static bool udp_stun(struct lsn *l, const struct cpm_net_addr *peer,
		     const unsigned char *b, size_t len)
{
	if (len < 20 || (b[0] & 0xc0) != 0)
		return false;
	uint32_t cookie = (uint32_t)b[4] << 24 | (uint32_t)b[5] << 16 |
			  (uint32_t)b[6] << 8 | b[7];
	if (cookie != STUN_COOKIE)
		return false;
	size_t mlen = (size_t)b[2] << 8 | b[3];
	if (mlen + 20 != len || (mlen & 3))
		return true; /* malformed STUN: drop */
	if (b[0] != 0x00 || b[1] != 0x01)
		return true; /* only Binding requests are answered */
	unsigned char r[20 + 4 + 20];
	size_t n = 20;
	r[0] = 0x01;
	r[1] = 0x01; /* Binding success response */
	memcpy(r + 4, b + 4, 16); /* cookie + transaction id */
	int fam = peer->u.sa.sa_family;
	uint16_t port = cpm_net_addr_port(peer) ^ (uint16_t)(STUN_COOKIE >> 16);
	r[n++] = 0x00;
	r[n++] = 0x20; /* XOR-MAPPED-ADDRESS */
	r[n++] = 0x00;
	r[n++] = fam == AF_INET ? 8 : 20;
	r[n++] = 0x00;
	r[n++] = fam == AF_INET ? 0x01 : 0x02;
	r[n++] = (unsigned char)(port >> 8);
	r[n++] = (unsigned char)port;
	if (fam == AF_INET) {
		const unsigned char *ip =
			(const unsigned char *)&peer->u.in.sin_addr;
		for (int i = 0; i < 4; i++)
			r[n++] = ip[i] ^ r[4 + i];
	} else {
		const unsigned char *ip = peer->u.in6.sin6_addr.s6_addr;
		for (int i = 0; i < 16; i++)
			r[n++] = ip[i] ^ r[4 + i]; /* cookie + transaction id */
	}
	r[2] = (unsigned char)((n - 20) >> 8);
	r[3] = (unsigned char)(n - 20);
	uv_buf_t ub = uv_buf_init((char *)r, (unsigned)n);
	uv_udp_try_send(&l->u.udp, &ub, 1, &peer->u.sa);
	return true;
}

static void udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
		     const struct sockaddr *addr, unsigned flags)
{
	struct lsn *l = h->data;
	struct cpm_net *n = l->n;

	/* libuv 1.44: with recvmmsg every datagram arrives flagged
	 * UV_UDP_MMSG_CHUNK (a slice of the batch buffer), then one call
	 * with nread 0 and UV_UDP_MMSG_FREE hands the whole buffer back;
	 * without recvmmsg, or on errors, the buffer comes back once with
	 * neither flag.  The buffer is the net's own, so there is nothing
	 * to free in any case: only chunks and plain datagrams count. */
	if (flags & UV_UDP_MMSG_FREE)
		return;
	if (nread < 0) {
		cpm_logw("net", "udp receive on %s:%u: %s", l->pub.host,
			 l->pub.port, uv_strerror((int)nread));
		return;
	}
	if (nread == 0 || !addr || n->freeing)
		return;
	struct cpm_net_dest src = { .proto = CPM_NET_UDP, .lsn = &l->pub };
	if (addr->sa_family == AF_INET) {
		memcpy(&src.peer.u.in, addr, sizeof src.peer.u.in);
		src.peer.len = sizeof src.peer.u.in;
	} else if (addr->sa_family == AF_INET6) {
		memcpy(&src.peer.u.in6, addr, sizeof src.peer.u.in6);
		src.peer.len = sizeof src.peer.u.in6;
	} else {
		return;
	}
	if ((flags & UV_UDP_PARTIAL) || (size_t)nread > n->conf.lim.max_msg) {
		char a[CPM_NET_ADDR_STRLEN];
		cpm_net_addr_print(&src.peer, a, sizeof a);
		cpm_logi(a, "udp: dropped datagram of %zd bytes (max %zu)",
			 nread, n->conf.lim.max_msg);
		return;
	}
	if (udp_stun(l, &src.peer, (const unsigned char *)buf->base,
		     (size_t)nread))
		return;
	/* Lone CRLF keep-alives over UDP (RFC 5626 uses STUN there; some
	 * clients send CRLF anyway): ignore silently. */
	bool blank = true;
	for (ssize_t i = 0; i < nread && blank; i++)
		if (buf->base[i] != '\r' && buf->base[i] != '\n')
			blank = false;
	if (blank)
		return;
	if (n->rcb)
		n->rcb(n->arg, &src, buf->base, (size_t)nread);
}

static void lsn_closed(uv_handle_t *h)
{
	struct lsn *l = h->data;
	struct cpm_net *n = l->n;
	n->handles--;
	net_release(n);
}

static int listen_udp(struct cpm_net *n, struct lsn *l)
{
	int fam = l->pub.addr.u.sa.sa_family;
	int rc = uv_udp_init_ex(n->loop, &l->u.udp,
				(unsigned)fam | UV_UDP_RECVMMSG);
	if (rc)
		return rc;
	l->u.udp.data = l;
	l->open = true;
	n->handles++;
	rc = uv_udp_bind(&l->u.udp, &l->pub.addr.u.sa,
			 fam == AF_INET6 ? UV_UDP_IPV6ONLY : 0);
	if (rc)
		return rc;
	if (n->conf.udp_rcvbuf) {
		int sz = (int)n->conf.udp_rcvbuf;
		if (uv_recv_buffer_size((uv_handle_t *)&l->u.udp, &sz))
			cpm_logw("net", "udp: cannot set receive buffer");
	}
	int len = sizeof l->pub.addr.u.ss;
	rc = uv_udp_getsockname(&l->u.udp, &l->pub.addr.u.sa, &len);
	if (rc)
		return rc;
	l->pub.addr.len = (socklen_t)len;
	rc = uv_udp_recv_start(&l->u.udp, udp_alloc, udp_recv);
	if (!rc)
		cpm_logd("net", "udp: recvmmsg %s",
			 uv_udp_using_recvmmsg(&l->u.udp) ? "on" : "off");
	return rc;
}

static void udp_sent(uv_udp_send_t *req, int status)
{
	free(req);
}

static int send_udp(struct cpm_net *n, const struct cpm_net_dest *dst,
		    const char *buf, size_t len)
{
	int fam = dst->peer.u.sa.sa_family;
	struct lsn *l = NULL;
	if (dst->lsn && dst->lsn->proto == CPM_NET_UDP &&
	    dst->lsn->addr.u.sa.sa_family == fam)
		l = (struct lsn *)(void *)dst->lsn;
	if (!l)
		l = (struct lsn *)(void *)cpm_net_listener_find(n, CPM_NET_UDP,
								 fam);
	if (!l || !l->open)
		return CPM_EADDR;
	uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
	int rc = uv_udp_try_send(&l->u.udp, &b, 1, &dst->peer.u.sa);
	if (rc >= 0)
		return 0;
	if (rc != UV_EAGAIN && rc != UV_ENOSYS) {
		char a[CPM_NET_ADDR_STRLEN];
		cpm_net_addr_print(&dst->peer, a, sizeof a);
		cpm_logi(a, "udp send: %s", uv_strerror(rc));
		return rc == UV_EMSGSIZE ? CPM_ETOOBIG : CPM_EIO;
	}
	struct ureq *r = malloc(sizeof *r + len);
	if (!r)
		return CPM_ENOMEM;
	memcpy(r->data, buf, len);
	b = uv_buf_init(r->data, (unsigned)len);
	rc = uv_udp_send(&r->req, &l->u.udp, &b, 1, &dst->peer.u.sa,
			 udp_sent);
	if (rc) {
		free(r);
		return CPM_EIO;
	}
	return 0;
}

/* ------------------------------------------------------------------ TCP */

static void conn_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	if (--c->handles)
		return;
	struct cpm_net *n = c->n;
	/* reported from here, never from inside a cpm_net_send call */
	if (n->ccb && !n->freeing && c->id)
		n->ccb(n->arg, c->id, false);
	cpm_buf_free(&c->in);
	cpm_buf_free(&c->pend);
	free(c);
	n->handles--;
	net_release(n);
}

static void conn_close(struct conn *c, const char *why)
{
	struct cpm_net *n = c->n;
	if (c->st == CONN_CLOSING)
		return;
	c->st = CONN_CLOSING;
	cpm_logi(c->name, "tcp conn %llu closed: %s", (unsigned long long)c->id,
		 why);
	cpm_net__htab_del(&n->conns_by_id, &c->by_id);
	cpm_net__htab_del(&n->conns_by_peer, &c->by_peer);
	n->nconns--;
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void conn_timer_cb(uv_timer_t *t)
{
	struct conn *c = t->data;
	conn_close(c, c->st == CONN_CONNECTING ? "connect timeout"
					       : "idle timeout");
}

static void conn_touch(struct conn *c)
{
	if (c->n->conf.tcp_idle_s)
		uv_timer_start(&c->timer, conn_timer_cb,
			       (uint64_t)c->n->conf.tcp_idle_s * 1000, 0);
}

static struct conn *conn_new(struct cpm_net *n, const struct cpm_net_listener *lsn,
			     bool outgoing)
{
	struct conn *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->n = n;
	c->lsn = lsn;
	c->outgoing = outgoing;
	c->st = outgoing ? CONN_CONNECTING : CONN_UP;
	cpm_buf_init(&c->in, n->conf.lim.max_msg + 1024);
	cpm_buf_init(&c->pend, n->conf.max_out_buf);
	uv_tcp_init(n->loop, &c->tcp);
	uv_timer_init(n->loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->handles = 2;
	n->handles++;
	c->id = n->next_id++;
	return c;
}

static void conn_register(struct conn *c)
{
	struct cpm_net *n = c->n;
	cpm_net_addr_print(&c->peer, c->name, sizeof c->name);
	cpm_net__htab_add(&n->conns_by_id, &c->by_id, c->id);
	cpm_net__htab_add(&n->conns_by_peer, &c->by_peer, addr_hash(&c->peer));
	n->nconns++;
}

static struct conn *conn_by_id(const struct cpm_net *n, uint64_t id)
{
	struct cpm_net__hnode *nd = cpm_net__htab_first(&n->conns_by_id, id);
	return nd ? cpm_net__container(nd, struct conn, by_id) : NULL;
}

static struct conn *conn_by_peer(const struct cpm_net *n,
				 const struct cpm_net_addr *a)
{
	struct cpm_net__hnode *nd =
		cpm_net__htab_first(&n->conns_by_peer, addr_hash(a));
	struct conn *best = NULL;
	for (; nd; nd = cpm_net__htab_next(nd)) {
		struct conn *c = cpm_net__container(nd, struct conn, by_peer);
		if (!cpm_net_addr_eq(&c->peer, a))
			continue;
		if (c->st == CONN_UP)
			return c;
		if (!best)
			best = c;
	}
	return best;
}

static void write_done(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)(void *)req;
	struct conn *c = w->c;
	c->out_pending -= w->len;
	free(w);
	if (status < 0 && status != UV_ECANCELED)
		conn_close(c, uv_strerror(status));
	else if (c->close_after_flush && !c->out_pending)
		conn_close(c, "closed locally");
}

static int conn_write(struct conn *c, const char *buf, size_t len)
{
	if (c->out_pending + len > c->n->conf.max_out_buf)
		return CPM_ETOOBIG;
	struct wreq *w = malloc(sizeof *w + len);
	if (!w)
		return CPM_ENOMEM;
	memcpy(w->data, buf, len);
	w->c = c;
	w->len = len;
	uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
	int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_done);
	if (rc) {
		free(w);
		conn_close(c, uv_strerror(rc));
		return CPM_ECLOSED;
	}
	c->out_pending += len;
	conn_touch(c); /* idle means no traffic either way */
	return 0;
}

static void tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	buf->base = c->n->tcp_buf;
	buf->len = sizeof c->n->tcp_buf;
}

/* Deliver every complete message in c->in. */
static void conn_process(struct conn *c)
{
	struct cpm_net *n = c->n;
	for (;;) {
		if (c->st != CONN_UP || n->freeing)
			return;
		char *p = c->in.p;
		size_t len = c->in.len;
		/* RFC 5626 §3.5.1: a double-CRLF "ping" is answered with a
		 * single-CRLF "pong"; a lone CRLF (a pong, or RFC 3261 §7.5
		 * leading CRLF) is skipped. */
		if (len >= 4 && memcmp(p, "\r\n\r\n", 4) == 0) {
			cpm_buf_consume(&c->in, 4);
			cpm_logd(c->name, "tcp keep-alive ping");
			conn_write(c, "\r\n", 2);
			continue;
		}
		if (len >= 2 && p[0] == '\r' && p[1] == '\n') {
			if (len == 2 || (len == 3 && p[2] == '\r'))
				return; /* maybe the start of a ping */
			cpm_buf_consume(&c->in, 2);
			continue;
		}
		if (!len)
			return;
		size_t skip = 0, msglen = 0;
		int rc = cpm_sip_frame(p, len, &n->conf.lim, &skip, &msglen);
		if (rc == 0) {
			if (len > n->conf.lim.max_msg)
				conn_close(c, "message too big");
			return;
		}
		if (rc < 0) {
			/* RFC 4475 §3.1.2.x: framing cannot be recovered on a
			 * stream; close the connection. */
			conn_close(c, rc == CPM_ETOOBIG ? "message too big"
							: "framing error");
			return;
		}
		if (skip + msglen > len) {
			conn_close(c, "framing error");
			return;
		}
		struct cpm_net_dest src = {
			.proto = CPM_NET_TCP,
			.peer = c->peer,
			.lsn = c->lsn,
			.conn_id = c->id,
		};
		if (n->rcb)
			n->rcb(n->arg, &src, p + skip, msglen);
		/* the handler may have closed c; its buffers live until the
		 * close callback */
		if (c->st != CONN_UP)
			return;
		cpm_buf_consume(&c->in, skip + msglen);
	}
}

static void tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	if (nread < 0) {
		conn_close(c, nread == UV_EOF ? "eof" : uv_strerror((int)nread));
		return;
	}
	if (nread == 0 || c->st != CONN_UP)
		return;
	conn_touch(c);
	if (cpm_buf_append(&c->in, buf->base, (size_t)nread)) {
		conn_close(c, "message too big");
		return;
	}
	conn_process(c);
}

static void conn_up(struct conn *c)
{
	struct cpm_net *n = c->n;
	c->st = CONN_UP;
	conn_touch(c);
	int rc = uv_read_start((uv_stream_t *)&c->tcp, tcp_alloc, tcp_read);
	if (rc) {
		conn_close(c, uv_strerror(rc));
		return;
	}
	c->announced = true;
	if (n->ccb)
		n->ccb(n->arg, c->id, true);
}

static void tcp_accept(uv_stream_t *s, int status)
{
	struct lsn *l = s->data;
	struct cpm_net *n = l->n;
	if (status < 0) {
		cpm_logw("net", "tcp accept on %s:%u: %s", l->pub.host,
			 l->pub.port, uv_strerror(status));
		return;
	}
	struct conn *c = conn_new(n, &l->pub, false);
	if (!c)
		return;
	c->st = CONN_CONNECTING; /* not registered yet */
	if (uv_accept(s, (uv_stream_t *)&c->tcp)) {
		c->st = CONN_CLOSING;
		c->id = 0;
		uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
		uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
		return;
	}
	int len = sizeof c->peer.u.ss;
	uv_tcp_getpeername(&c->tcp, &c->peer.u.sa, &len);
	c->peer.len = (socklen_t)len;
	conn_register(c);
	if (n->conf.max_conns && n->nconns > n->conf.max_conns) {
		cpm_logw(c->name, "tcp: too many connections (%u)",
			 n->conf.max_conns);
		c->st = CONN_UP;
		conn_close(c, "connection limit");
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	cpm_logi(c->name, "tcp conn %llu accepted", (unsigned long long)c->id);
	conn_up(c);
}

static int listen_tcp(struct cpm_net *n, struct lsn *l)
{
	int fam = l->pub.addr.u.sa.sa_family;
	int rc = uv_tcp_init_ex(n->loop, &l->u.tcp, (unsigned)fam);
	if (rc)
		return rc;
	l->u.tcp.data = l;
	l->open = true;
	n->handles++;
	rc = uv_tcp_bind(&l->u.tcp, &l->pub.addr.u.sa,
			 fam == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
	if (rc)
		return rc;
	rc = uv_listen((uv_stream_t *)&l->u.tcp, 511, tcp_accept);
	if (rc)
		return rc;
	int len = sizeof l->pub.addr.u.ss;
	rc = uv_tcp_getsockname(&l->u.tcp, &l->pub.addr.u.sa, &len);
	l->pub.addr.len = (socklen_t)len;
	return rc;
}

static void tcp_connected(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	free(req);
	if (c->st == CONN_CLOSING)
		return;
	if (status < 0) {
		conn_close(c, uv_strerror(status));
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	cpm_logi(c->name, "tcp conn %llu connected", (unsigned long long)c->id);
	conn_up(c);
	if (c->st != CONN_UP)
		return;
	if (c->pend.len) {
		conn_write(c, c->pend.p, c->pend.len);
		cpm_buf_free(&c->pend);
	}
}

static int conn_connect(struct cpm_net *n, const struct cpm_net_dest *dst,
			struct conn **out)
{
	int fam = dst->peer.u.sa.sa_family;
	if (fam != AF_INET && fam != AF_INET6)
		return CPM_EADDR;
	if (n->conf.max_conns && n->nconns >= n->conf.max_conns)
		return CPM_ELIMIT;
	const struct cpm_net_listener *lsn = dst->lsn;
	if (!lsn || lsn->proto != CPM_NET_TCP ||
	    lsn->addr.u.sa.sa_family != fam)
		lsn = cpm_net_listener_find(n, CPM_NET_TCP, fam);
	struct conn *c = conn_new(n, lsn, true);
	if (!c)
		return CPM_ENOMEM;
	c->peer = dst->peer;
	conn_register(c);
	uv_connect_t *req = malloc(sizeof *req);
	int rc = req ? uv_tcp_connect(req, &c->tcp, &dst->peer.u.sa,
				      tcp_connected)
		     : UV_ENOMEM;
	if (rc) {
		free(req);
		conn_close(c, uv_strerror(rc));
		return CPM_EADDR;
	}
	req->data = c;
	uv_timer_start(&c->timer, conn_timer_cb, n->conf.tcp_connect_ms, 0);
	cpm_logi(c->name, "tcp conn %llu connecting", (unsigned long long)c->id);
	*out = c;
	return 0;
}

static int send_tcp(struct cpm_net *n, const struct cpm_net_dest *dst,
		    const char *buf, size_t len, uint64_t *conn_id)
{
	struct conn *c = NULL;
	if (dst->conn_id) {
		c = conn_by_id(n, dst->conn_id);
		if (c && c->st == CONN_CLOSING)
			c = NULL;
	}
	if (!c && dst->peer.u.sa.sa_family)
		c = conn_by_peer(n, &dst->peer);
	if (!c) {
		if (!dst->peer.u.sa.sa_family)
			return CPM_ECLOSED;
		if (n->freeing)
			return CPM_ECLOSED;
		int rc = conn_connect(n, dst, &c);
		if (rc)
			return rc;
	}
	if (conn_id)
		*conn_id = c->id;
	if (c->st == CONN_CONNECTING)
		return cpm_buf_append(&c->pend, buf, len);
	return conn_write(c, buf, len);
}

/* --------------------------------------------------------------- public */

int cpm_net_send_conn(struct cpm_net *n, const struct cpm_net_dest *dst,
		      const char *buf, size_t len, uint64_t *conn_id)
{
	if (conn_id)
		*conn_id = 0;
	if (len > n->conf.lim.max_msg)
		return CPM_ETOOBIG;
	switch (dst->proto) {
	case CPM_NET_UDP:
		return send_udp(n, dst, buf, len);
	case CPM_NET_TCP:
		return send_tcp(n, dst, buf, len, conn_id);
	}
	return CPM_EADDR;
}

int cpm_net_send(struct cpm_net *n, const struct cpm_net_dest *dst,
		 const char *buf, size_t len)
{
	return cpm_net_send_conn(n, dst, buf, len, NULL);
}

bool cpm_net_conn_alive(const struct cpm_net *n, uint64_t conn_id)
{
	struct conn *c = conn_by_id(n, conn_id);
	return c && c->st != CONN_CLOSING;
}

void cpm_net_conn_close(struct cpm_net *n, uint64_t conn_id)
{
	struct conn *c = conn_by_id(n, conn_id);
	if (!c || c->st == CONN_CLOSING)
		return;
	if (c->out_pending)
		c->close_after_flush = true;
	else
		conn_close(c, "closed locally");
}

unsigned cpm_net_conn_count(const struct cpm_net *n)
{
	return n->nconns;
}

/* "proto:host:port" */
static int parse_spec_item(struct cpm_str item, enum cpm_net_proto *proto,
			   struct cpm_net_addr *addr)
{
	long c = cpm_str_chr(item, ':');
	if (c <= 0)
		return CPM_EINVAL;
	*proto = cpm_net_proto_parse((struct cpm_str){ item.s, (size_t)c });
	if (!*proto)
		return CPM_EINVAL;
	struct cpm_str rest = { item.s + c + 1, item.len - (size_t)c - 1 };
	/* the port follows the last ':' (after ']' for IPv6) */
	size_t i = rest.len;
	while (i > 0 && rest.s[i - 1] != ':' && rest.s[i - 1] != ']')
		i--;
	if (i == 0 || rest.s[i - 1] != ':')
		return CPM_EINVAL;
	struct cpm_str host = { rest.s, i - 1 };
	struct cpm_str port = { rest.s + i, rest.len - i };
	uint64_t pv;
	if (cpm_str_to_u64(port, 65535, &pv))
		return CPM_EINVAL;
	if (host.len && host.s[0] != '[' && memchr(host.s, ':', host.len))
		return CPM_EINVAL; /* unbracketed IPv6 is ambiguous */
	return cpm_net_addr_from_host(host, (uint16_t)pv, addr) ? CPM_EINVAL
								 : 0;
}

int cpm_net_listen(struct cpm_net *n, const char *spec)
{
	const char *p = spec;
	while (p && *p) {
		const char *e = strchr(p, ',');
		if (!e)
			e = p + strlen(p);
		struct cpm_str item =
			cpm_str_trim((struct cpm_str){ p, (size_t)(e - p) });
		p = *e ? e + 1 : e;
		if (!item.len)
			continue;
		if (n->nlsns >= MAX_LISTENERS)
			return CPM_ELIMIT;
		struct lsn *l = calloc(1, sizeof *l);
		if (!l)
			return CPM_ENOMEM;
		l->n = n;
		if (parse_spec_item(item, &l->pub.proto, &l->pub.addr)) {
			cpm_loge("net", "bad listen spec '%.*s'",
				 CPM_STR_FMT(item));
			free(l);
			return CPM_EINVAL;
		}
		n->lsns[n->nlsns++] = l; /* freed with the net */
		int rc = l->pub.proto == CPM_NET_UDP ? listen_udp(n, l)
						      : listen_tcp(n, l);
		if (rc) {
			cpm_loge("net", "cannot listen on '%.*s': %s",
				 CPM_STR_FMT(item), uv_strerror(rc));
			if (l->open) {
				l->open = false;
				uv_close(&l->u.h, lsn_closed);
			}
			return CPM_EIO;
		}
		l->pub.port = cpm_net_addr_port(&l->pub.addr);
		cpm_net_addr_host(&l->pub.addr, true, l->pub.host,
				  sizeof l->pub.host);
		cpm_logn("net", "listening on %s:%s:%u",
			 l->pub.proto == CPM_NET_UDP ? "udp" : "tcp",
			 l->pub.host, l->pub.port);
	}
	return 0;
}

const struct cpm_net_listener *cpm_net_listener_find(const struct cpm_net *n,
						     enum cpm_net_proto proto,
						     int family)
{
	for (unsigned i = 0; i < n->nlsns; i++) {
		const struct lsn *l = n->lsns[i];
		if (l->open && l->pub.proto == proto &&
		    l->pub.addr.u.sa.sa_family == family)
			return &l->pub;
	}
	/* a closed TCP listener still names the address to use */
	for (unsigned i = 0; i < n->nlsns; i++) {
		const struct lsn *l = n->lsns[i];
		if (l->pub.port && l->pub.proto == proto &&
		    l->pub.addr.u.sa.sa_family == family)
			return &l->pub;
	}
	return NULL;
}

unsigned cpm_net_listener_count(const struct cpm_net *n)
{
	return n->nlsns;
}

const struct cpm_net_listener *cpm_net_listener_at(const struct cpm_net *n,
						   unsigned i)
{
	return i < n->nlsns ? &n->lsns[i]->pub : NULL;
}

void cpm_net_stop_accepting(struct cpm_net *n)
{
	for (unsigned i = 0; i < n->nlsns; i++) {
		struct lsn *l = n->lsns[i];
		if (l->open && l->pub.proto == CPM_NET_TCP) {
			l->open = false;
			uv_close(&l->u.h, lsn_closed);
		}
	}
}

void cpm_net_free(struct cpm_net *n)
{
	if (!n)
		return;
	n->freeing = true;
	for (unsigned i = 0; i < n->nlsns; i++) {
		struct lsn *l = n->lsns[i];
		if (l->open) {
			l->open = false;
			uv_close(&l->u.h, lsn_closed);
		}
	}
	for (size_t i = 0; i < n->conns_by_id.nb; i++) {
		while (n->conns_by_id.b[i]) {
			struct conn *c = cpm_net__container(
				n->conns_by_id.b[i], struct conn, by_id);
			conn_close(c, "shutdown");
		}
	}
	net_release(n);
}
