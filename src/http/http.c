/* The HTTP/1.1 server: a TCP listener, connections with an input buffer
 * fed to the parser, routing, and responses written in request order
 * (RFC 9112 §9.3.2: pipelined requests are answered in order, one at a
 * time: the next request is not dispatched before the reply to the
 * previous one). */
#include "http/http_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RDBUF (64 * 1024)
#define MAX_EXTRA_HDRS 2048 /* bytes of cpm_http_resp_header per response */

struct route {
	char *method;
	char *path; /* without the '*' for prefixes */
	size_t plen;
	bool prefix;
	cpm_http_handler_cb *cb;
	void *arg;
};

enum conn_state { CONN_UP, CONN_CLOSING };

struct cpm_http_resp {
	struct conn *c;
	bool pending;	 /* dispatched, no reply yet */
	bool head;	 /* drop the body (HEAD) */
	struct cpm_buf extra; /* extra header lines */
	void (*abort_cb)(void *arg);
	void *abort_arg;
};

struct conn {
	uv_tcp_t tcp;
	uv_timer_t timer; /* idle timeout */
	struct cpm_http *h;
	struct conn *prev, *next;
	enum conn_state st;
	int handles;
	struct cpm_buf in;
	struct cpm_http_parser ps;
	struct cpm_http_resp resp;
	bool reading;
	bool in_dispatch;     /* inside process(): a reply must not recurse */
	bool close_after;     /* the current request ends the connection */
	bool sent_continue;
	size_t out_pending;
	bool close_after_flush;
	bool lingering;	      /* write side shut, draining input */
	char peer[64];
};

struct wreq {
	uv_write_t req;
	struct conn *c;
	size_t len;
	char data[];
};

struct cpm_http {
	uv_loop_t *loop;
	struct cpm_http_conf conf;
	uv_tcp_t lsn;
	bool lsn_open;
	uint16_t port;
	struct route *routes;
	size_t nroutes;
	struct conn *conns;
	unsigned nconns;
	bool stopping;
	bool freeing;
	unsigned handles;
	char rdbuf[RDBUF];
};

void cpm_http_conf_default(struct cpm_http_conf *c)
{
	memset(c, 0, sizeof *c);
	cpm_http_limits_default(&c->lim);
	c->idle_timeout_ms = 30000;
	c->max_conns = 1024;
	c->max_out_buf = 4 * 1024 * 1024;
	snprintf(c->server_name, sizeof c->server_name, "cpmd");
}

void cpm_http__date(int64_t t, char *out)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed",
					 "Thu", "Fri", "Sat" };
	static const char mons[12][4] = { "Jan", "Feb", "Mar", "Apr",
					  "May", "Jun", "Jul", "Aug",
					  "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm)) {
		memset(&tm, 0, sizeof tm);
		tm.tm_mday = 1;
		tm.tm_year = 70;
		tm.tm_wday = 4;
	}
	/* fields are in range after gmtime_r; the year is clamped to 4
	 * digits so that the length is fixed */
	int year = tm.tm_year + 1900;
	if (year < 0 || year > 9999)
		year = 9999;
	char tmp[96];
	snprintf(tmp, sizeof tmp, "%s, %02d %s %04d %02d:%02d:%02d GMT",
		 days[(unsigned)tm.tm_wday % 7], tm.tm_mday % 100,
		 mons[(unsigned)tm.tm_mon % 12], year, tm.tm_hour % 100,
		 tm.tm_min % 100, tm.tm_sec % 100);
	memcpy(out, tmp, CPM_HTTP__DATE_LEN);
	out[CPM_HTTP__DATE_LEN] = '\0';
}

int cpm_http_new(uv_loop_t *loop, const struct cpm_http_conf *conf,
		 struct cpm_http **out)
{
	struct cpm_http *h = calloc(1, sizeof *h);
	if (!h)
		return CPM_ENOMEM;
	h->loop = loop;
	if (conf)
		h->conf = *conf;
	else
		cpm_http_conf_default(&h->conf);
	if (!h->conf.lim.max_head)
		cpm_http_limits_default(&h->conf.lim);
	if (!h->conf.max_out_buf)
		h->conf.max_out_buf = 4 * 1024 * 1024;
	if (!h->conf.server_name[0])
		snprintf(h->conf.server_name, sizeof h->conf.server_name, "cpmd");
	*out = h;
	return 0;
}

static void release(struct cpm_http *h)
{
	if (!h->freeing || h->handles)
		return;
	for (size_t i = 0; i < h->nroutes; i++) {
		free(h->routes[i].method);
		free(h->routes[i].path);
	}
	free(h->routes);
	free(h);
}

int cpm_http_route(struct cpm_http *h, const char *method, const char *path,
		   cpm_http_handler_cb *cb, void *arg)
{
	if (!method || !path || path[0] != '/' || !cb)
		return CPM_EINVAL;
	size_t plen = strlen(path);
	bool prefix = plen && path[plen - 1] == '*';
	struct route *r = realloc(h->routes, (h->nroutes + 1) * sizeof *r);
	if (!r)
		return CPM_ENOMEM;
	h->routes = r;
	r = &h->routes[h->nroutes];
	memset(r, 0, sizeof *r);
	r->method = cpm_str_dup(cpm_str_from_cstr(method));
	r->path = cpm_str_dup((struct cpm_str){ path, prefix ? plen - 1 : plen });
	if (!r->method || !r->path) {
		free(r->method);
		free(r->path);
		return CPM_ENOMEM;
	}
	r->plen = prefix ? plen - 1 : plen;
	r->prefix = prefix;
	r->cb = cb;
	r->arg = arg;
	h->nroutes++;
	return 0;
}

/* ------------------------------------------------------------ connections */

static void conn_handle_closed(uv_handle_t *hd)
{
	struct conn *c = hd->data;
	if (--c->handles)
		return;
	struct cpm_http *h = c->h;
	cpm_buf_free(&c->in);
	cpm_buf_free(&c->resp.extra);
	free(c);
	h->handles--;
	release(h);
}

static void conn_close(struct conn *c, const char *why)
{
	struct cpm_http *h = c->h;
	if (c->st == CONN_CLOSING)
		return;
	c->st = CONN_CLOSING;
	cpm_logd(c->peer, "http conn closed: %s", why);
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	h->nconns--;
	if (c->resp.pending) {
		c->resp.pending = false;
		if (c->resp.abort_cb)
			c->resp.abort_cb(c->resp.abort_arg);
	}
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void timer_cb(uv_timer_t *t)
{
	struct conn *c = t->data;
	conn_close(c, c->lingering ? "closed after response" : "idle timeout");
}

static void conn_touch(struct conn *c)
{
	if (c->st != CONN_UP || c->lingering)
		return;
	/* no idle timeout while a handler owes a reply */
	if (c->resp.pending || !c->h->conf.idle_timeout_ms)
		uv_timer_stop(&c->timer);
	else
		uv_timer_start(&c->timer, timer_cb, c->h->conf.idle_timeout_ms, 0);
}

static void process(struct conn *c);
static void read_update(struct conn *c);

static void shutdown_done(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;
	free(req);
	if (c->st == CONN_UP && status < 0)
		conn_close(c, uv_strerror(status));
}

/* RFC 9112 §9.6: after the last response, shut the write side and keep
 * reading (discarding) for a while, so that a client still sending does
 * not get a reset that destroys the response before it reads it. */
#define LINGER_MS 2000
static void conn_linger(struct conn *c)
{
	uv_shutdown_t *req = malloc(sizeof *req);
	if (!req) {
		conn_close(c, "closed after response");
		return;
	}
	req->data = c;
	if (uv_shutdown(req, (uv_stream_t *)&c->tcp, shutdown_done)) {
		free(req);
		conn_close(c, "closed after response");
		return;
	}
	c->lingering = true;
	uv_timer_start(&c->timer, timer_cb, LINGER_MS, 0);
	read_update(c);
}

static void write_done(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)(void *)req;
	struct conn *c = w->c;
	c->out_pending -= w->len;
	free(w);
	if (c->st == CONN_CLOSING)
		return;
	if (status < 0) {
		conn_close(c, uv_strerror(status));
		return;
	}
	if (c->close_after_flush && !c->out_pending) {
		if (!c->lingering)
			conn_linger(c);
		return;
	}
	/* below the output limit again: go on with pipelined requests */
	if (!c->resp.pending && !c->close_after_flush)
		process(c);
	read_update(c);
}

static int conn_write(struct conn *c, const char *buf, size_t len)
{
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
	conn_touch(c);
	return 0;
}

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = hd->data;
	buf->base = c->h->rdbuf;
	buf->len = sizeof c->h->rdbuf;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	if (nread < 0) {
		conn_close(c, nread == UV_EOF ? "eof" : uv_strerror((int)nread));
		return;
	}
	if (nread == 0 || c->st != CONN_UP)
		return;
	if (c->close_after_flush)
		return; /* answered with close: the rest is discarded */
	/* The timer restarts when a request begins, not on every read: a
	 * request must arrive whole within idle_timeout_ms (no slow-drip
	 * requests holding a connection forever). */
	if (!c->in.len)
		conn_touch(c);
	if (cpm_buf_append(&c->in, buf->base, (size_t)nread)) {
		/* only pipelined input can exceed the buffer (a single
		 * request over it fails in the parser first) */
		conn_close(c, "input buffer full");
		return;
	}
	process(c);
	read_update(c);
}

/* Read only while the next request can be dispatched: no reply pending
 * (the request slices point into c->in, which must not move), output
 * below its limit, no close scheduled. */
static void read_update(struct conn *c)
{
	if (c->st != CONN_UP)
		return;
	bool want = c->lingering || (!c->resp.pending && !c->close_after_flush &&
		    c->out_pending <= c->h->conf.max_out_buf);
	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
			c->reading = true;
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
}

/* ---------------------------------------------------------------- replies */

static bool token_ok(const char *s, bool value)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '\r' || ch == '\n' || ch == 0x7f ||
		    (ch < 0x20 && ch != '\t') || (!value && (ch <= 0x20 || ch == ':')))
			return false;
	}
	return true;
}

int cpm_http_resp_header(struct cpm_http_resp *resp, const char *name,
			 const char *value)
{
	if (!resp->pending)
		return CPM_ESTATE;
	if (!name[0] || !token_ok(name, false) || !token_ok(value, true))
		return CPM_EINVAL;
	int rc = cpm_buf_printf(&resp->extra, "%s: %s\r\n", name, value);
	return rc < 0 ? rc : 0;
}

void cpm_http_resp_on_abort(struct cpm_http_resp *resp,
			    void (*cb)(void *arg), void *arg)
{
	resp->abort_cb = cb;
	resp->abort_arg = arg;
}

/* The request is over: drop its bytes, go on with the next one (unless we
 * are inside process(), which loops by itself). */
static void request_done(struct conn *c)
{
	if (c->st != CONN_UP)
		return;
	if (c->ps.used) {
		cpm_buf_consume(&c->in, c->ps.used);
		c->ps.used = 0;
	}
	cpm_http_parser_init(&c->ps);
	c->sent_continue = false;
	conn_touch(c);
	if (!c->in_dispatch) {
		process(c);
		read_update(c);
	}
}

/* Build and queue one response.  For parse errors and close-delimited
 * exchanges the connection closes once it is written. */
static int send_response(struct conn *c, int status, const char *ctype,
			 struct cpm_str body, bool head, const char *extra,
			 size_t extra_len, const struct cpm_str *method,
			 const struct cpm_str *path)
{
	struct cpm_http *h = c->h;
	char date[CPM_HTTP__DATE_LEN + 1];
	cpm_http__date(cpm_wall_s(), date);
	if (h->stopping)
		c->close_after = true;
	struct cpm_buf b;
	cpm_buf_init(&b, 64 * 1024 + extra_len + body.len);
	/* RFC 9110 §8.6, §15.3.5: a 204 has no content and no
	 * Content-Length; a 304 has no content either (§15.4.5) */
	if (status == 204 || status == 304)
		body = CPM_STR_NULL;
	/* a 1.0 client gets a 1.1 status line too (RFC 9110 §6.2: the
	 * version is the sender's capability); keep-alive is explicit */
	int rc = cpm_buf_printf(&b,
				"HTTP/1.1 %d %s\r\n"
				"Date: %s\r\n"
				"Server: %s\r\n",
				status, cpm_http_status_reason(status), date,
				h->conf.server_name);
	if (!rc && status != 204)
		rc = cpm_buf_printf(&b,
				    "Content-Type: %s\r\n"
				    "Content-Length: %zu\r\n",
				    ctype ? ctype : "application/octet-stream",
				    body.len);
	if (!rc && extra_len)
		rc = cpm_buf_append(&b, extra, extra_len);
	if (!rc) {
		if (c->close_after)
			rc = cpm_buf_puts(&b, "Connection: close\r\n");
		else if (c->ps.req.minor == 0)
			rc = cpm_buf_puts(&b, "Connection: keep-alive\r\n");
	}
	if (!rc)
		rc = cpm_buf_puts(&b, "\r\n");
	if (!rc && !head && body.len)
		rc = cpm_buf_append(&b, body.s, body.len);
	if (rc) {
		cpm_buf_free(&b);
		return rc;
	}
	if (method && path)
		cpm_logi(c->peer, "http %.*s %.*s %d %zu bytes",
			 CPM_STR_FMT(*method), CPM_STR_FMT(*path), status,
			 head ? (size_t)0 : body.len);
	else /* no valid request line: nothing of it is logged */
		cpm_logi(c->peer, "http - - %d %zu bytes (%s)", status, body.len,
			 status == 503 ? "connection limit" : c->ps.reason);
	rc = conn_write(c, b.p, b.len);
	cpm_buf_free(&b);
	if (rc)
		return rc;
	if (c->close_after) {
		c->close_after_flush = true;
		read_update(c);
	}
	return 0;
}

int cpm_http_reply(struct cpm_http_resp *resp, int status,
		   const char *content_type, struct cpm_str body)
{
	if (!resp->pending)
		return CPM_ESTATE;
	struct conn *c = resp->c;
	if (status < 200 || status > 599)
		status = 500;
	const struct cpm_http_req *r = &c->ps.req;
	resp->pending = false;
	resp->abort_cb = NULL;
	int rc = send_response(c, status, content_type, body, resp->head,
			       resp->extra.p, resp->extra.len, &r->method,
			       &r->path);
	cpm_buf_reset(&resp->extra);
	if (rc && c->st == CONN_UP)
		conn_close(c, "cannot send response");
	request_done(c);
	return rc;
}

int cpm_http_reply_json(struct cpm_http_resp *resp, int status, json_t *j)
{
	if (!j)
		return cpm_http_reply_error(resp, 500);
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!s)
		return cpm_http_reply_error(resp, 500);
	int rc = cpm_http_reply(resp, status, "application/json",
				cpm_str_from_cstr(s));
	free(s);
	return rc;
}

int cpm_http_reply_error(struct cpm_http_resp *resp, int status)
{
	char body[160];
	int n = snprintf(body, sizeof body, "{\"status\":%d,\"error\":\"%s\"}",
			 status, cpm_http_status_reason(status));
	return cpm_http_reply(resp, status, "application/json",
			      (struct cpm_str){ body, (size_t)n });
}

/* --------------------------------------------------------------- dispatch */

static bool route_matches_path(const struct route *rt, struct cpm_str path)
{
	if (rt->prefix)
		return path.len >= rt->plen && memcmp(path.s, rt->path, rt->plen) == 0;
	return path.len == rt->plen && memcmp(path.s, rt->path, rt->plen) == 0;
}

static bool method_is(const struct route *rt, struct cpm_str m)
{
	return strcmp(rt->method, "*") == 0 || cpm_str_eq_cstr(m, rt->method);
}

static void dispatch(struct conn *c)
{
	struct cpm_http *h = c->h;
	const struct cpm_http_req *r = &c->ps.req;
	struct cpm_http_resp *resp = &c->resp;
	resp->c = c;
	resp->pending = true;
	resp->head = false;
	resp->abort_cb = NULL;
	cpm_buf_reset(&resp->extra);
	c->close_after = !r->keep_alive;

	/* the most specific path first: the exact match, then the longest
	 * prefix; among the routes of that path, the method */
	const struct route *best = NULL;
	for (size_t i = 0; i < h->nroutes; i++) {
		const struct route *rt = &h->routes[i];
		if (!route_matches_path(rt, r->path))
			continue;
		if (!best || (!rt->prefix && best->prefix) ||
		    (rt->prefix && best->prefix && rt->plen > best->plen))
			best = rt;
	}
	if (!best) {
		cpm_http_reply_error(resp, 404);
		return;
	}
	const struct route *hit = NULL;
	bool head_via_get = false;
	char allow[256] = "";
	size_t an = 0;
	bool allow_get = false, allow_head = false;
	for (size_t i = 0; i < h->nroutes; i++) {
		const struct route *rt = &h->routes[i];
		if (rt->prefix != best->prefix || rt->plen != best->plen ||
		    memcmp(rt->path, best->path, rt->plen) != 0)
			continue;
		if (!hit && method_is(rt, r->method))
			hit = rt;
		if (strcmp(rt->method, "GET") == 0)
			allow_get = true;
		if (strcmp(rt->method, "HEAD") == 0)
			allow_head = true;
		if (an + strlen(rt->method) + 3 < sizeof allow)
			an += (size_t)snprintf(allow + an, sizeof allow - an,
					       "%s%s", an ? ", " : "", rt->method);
	}
	if (!hit && allow_get && cpm_str_eq_cstr(r->method, "HEAD")) {
		/* RFC 9110 §9.3.2: HEAD is GET without the content */
		for (size_t i = 0; i < h->nroutes && !hit; i++) {
			const struct route *rt = &h->routes[i];
			if (rt->prefix == best->prefix && rt->plen == best->plen &&
			    memcmp(rt->path, best->path, rt->plen) == 0 &&
			    strcmp(rt->method, "GET") == 0)
				hit = rt;
		}
		head_via_get = true;
	}
	if (allow_get && !allow_head && an + 8 < sizeof allow)
		an += (size_t)snprintf(allow + an, sizeof allow - an, ", HEAD");
	if (!hit) {
		/* RFC 9110 §15.5.6: 405 carries Allow */
		cpm_http_resp_header(resp, "Allow", allow);
		cpm_http_reply_error(resp, 405);
		return;
	}
	resp->head = head_via_get || cpm_str_eq_cstr(r->method, "HEAD");
	struct cpm_http_request rq = { .req = r, .peer = c->peer,
				       .head = head_via_get };
	hit->cb(hit->arg, &rq, resp);
}

/* Parse and dispatch every complete request in c->in, in order, while no
 * reply is pending. */
static void process(struct conn *c)
{
	struct cpm_http *h = c->h;
	while (c->st == CONN_UP && !c->resp.pending && !c->close_after_flush &&
	       !h->freeing && c->out_pending <= h->conf.max_out_buf &&
	       c->in.len) {
		int rc = cpm_http_parse(&c->ps, c->in.p, c->in.len, &h->conf.lim);
		if (rc == 0) {
			/* RFC 9110 §10.1.1: ask for the body once the head
			 * was accepted */
			if (c->ps.head_ready && c->ps.req.expect_continue &&
			    !c->sent_continue && c->ps.req.minor == 1) {
				c->sent_continue = true;
				conn_write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
			}
			return;
		}
		if (rc < 0) {
			/* the framing is lost: answer and close (RFC 9112
			 * §9.6).  The request line may be half-parsed: log
			 * none of it. */
			char body[200];
			int n = snprintf(body, sizeof body,
					 "{\"status\":%d,\"error\":\"%s\"}",
					 c->ps.status, c->ps.reason);
			c->close_after = true;
			c->ps.req.minor = 1;
			if (send_response(c, c->ps.status, "application/json",
					  (struct cpm_str){ body, (size_t)n },
					  false, NULL, 0, NULL, NULL) &&
			    c->st == CONN_UP)
				conn_close(c, "cannot send response");
			return;
		}
		c->in_dispatch = true;
		dispatch(c);
		c->in_dispatch = false;
		if (c->resp.pending) {
			conn_touch(c); /* stops the idle timer */
			return;	       /* async: request_done resumes */
		}
	}
}

/* ------------------------------------------------------------- listener */

static void lsn_closed(uv_handle_t *hd)
{
	struct cpm_http *h = hd->data;
	h->handles--;
	release(h);
}

static void on_accept(uv_stream_t *s, int status)
{
	struct cpm_http *h = s->data;
	if (status < 0) {
		cpm_logw("http", "accept: %s", uv_strerror(status));
		return;
	}
	struct conn *c = calloc(1, sizeof *c);
	if (!c)
		return;
	c->h = h;
	uv_tcp_init(h->loop, &c->tcp);
	uv_timer_init(h->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->handles = 2;
	h->handles++;
	/* the buffer holds one request at most, plus pipelined bytes */
	cpm_buf_init(&c->in, h->conf.lim.max_head + h->conf.lim.max_body + RDBUF);
	cpm_buf_init(&c->resp.extra, MAX_EXTRA_HDRS);
	cpm_http_parser_init(&c->ps);
	c->st = CONN_UP;
	c->next = h->conns;
	if (h->conns)
		h->conns->prev = c;
	h->conns = c;
	h->nconns++;
	if (uv_accept(s, (uv_stream_t *)&c->tcp)) {
		conn_close(c, "accept failed");
		return;
	}
	struct sockaddr_storage ss;
	int len = sizeof ss;
	snprintf(c->peer, sizeof c->peer, "?");
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
		char host[48] = "";
		int port = 0;
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;
			uv_ip4_name(in, host, sizeof host);
			port = ntohs(in->sin_port);
			snprintf(c->peer, sizeof c->peer, "%s:%d", host, port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
			uv_ip6_name(in6, host, sizeof host);
			port = ntohs(in6->sin6_port);
			snprintf(c->peer, sizeof c->peer, "[%s]:%d", host, port);
		}
	}
	uv_tcp_nodelay(&c->tcp, 1);
	if (h->conf.max_conns && h->nconns > h->conf.max_conns) {
		cpm_logw(c->peer, "http: too many connections (%u)", h->conf.max_conns);
		static const char body[] = "{\"status\":503,\"error\":\"Service Unavailable\"}";
		c->close_after = true;
		if (send_response(c, 503, "application/json",
				  (struct cpm_str){ body, sizeof body - 1 }, false,
				  NULL, 0, NULL, NULL) &&
		    c->st == CONN_UP)
			conn_close(c, "connection limit");
		return;
	}
	conn_touch(c);
	read_update(c);
}

int cpm_http_listen(struct cpm_http *h, const struct sockaddr *addr)
{
	if (h->lsn_open || h->freeing)
		return CPM_ESTATE;
	int fam = addr->sa_family;
	if (fam != AF_INET && fam != AF_INET6)
		return CPM_EINVAL;
	int rc = uv_tcp_init_ex(h->loop, &h->lsn, (unsigned)fam);
	if (rc)
		return CPM_EIO;
	h->lsn.data = h;
	h->lsn_open = true;
	h->handles++;
	rc = uv_tcp_bind(&h->lsn, addr, fam == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
	if (!rc)
		rc = uv_listen((uv_stream_t *)&h->lsn, 511, on_accept);
	struct sockaddr_storage ss;
	int len = sizeof ss;
	if (!rc)
		rc = uv_tcp_getsockname(&h->lsn, (struct sockaddr *)&ss, &len);
	if (rc) {
		cpm_loge("http", "cannot listen: %s", uv_strerror(rc));
		h->lsn_open = false;
		uv_close((uv_handle_t *)&h->lsn, lsn_closed);
		return CPM_EIO;
	}
	h->port = ntohs(fam == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
				       : ((struct sockaddr_in6 *)&ss)->sin6_port);
	cpm_logn("http", "listening on port %u", h->port);
	return 0;
}

uint16_t cpm_http_port(const struct cpm_http *h)
{
	return h->lsn_open ? h->port : 0;
}

unsigned cpm_http_conn_count(const struct cpm_http *h)
{
	return h->nconns;
}

void cpm_http_stop_accepting(struct cpm_http *h)
{
	h->stopping = true;
	if (h->lsn_open) {
		h->lsn_open = false;
		uv_close((uv_handle_t *)&h->lsn, lsn_closed);
	}
	/* open connections stay (their requests see the stopping state)
	 * until cpm_http_free */
}

void cpm_http_free(struct cpm_http *h)
{
	if (!h)
		return;
	h->stopping = true;
	h->freeing = true;
	if (h->lsn_open) {
		h->lsn_open = false;
		uv_close((uv_handle_t *)&h->lsn, lsn_closed);
	}
	while (h->conns)
		conn_close(h->conns, "server stopped");
	release(h);
}
