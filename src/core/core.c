/* core: lifecycle, request dispatch, answers to requests for the server
 * itself, and the error-to-status table. */
#include "core/core_int.h"

#include <stdlib.h>
#include <string.h>

#define ALLOW_HDR "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, REGISTER, " \
		  "SUBSCRIBE, NOTIFY, REFER, INFO, UPDATE, PRACK, PUBLISH\r\n"
#define ACCEPT_HDR "Accept: text/plain, message/cpim, application/sdp, " \
		   "application/im-iscomposing+xml, multipart/mixed\r\n"
#define SUPPORTED_HDR "Supported: path, outbound\r\n"

void cpm_core_stats(const struct cpm_core *c, struct cpm_core_stats *out)
{
	memset(out, 0, sizeof *out);
	out->requests = c->n_requests;
	out->relayed = c->n_relayed;
	out->registrations = c->n_registers;
	out->aors = c->loc.naors;
	out->bindings = c->loc.nbindings;
	out->transactions = c->txn ? cpm_txn_layer_count(c->txn) : 0;
	out->tcp_connections = c->net ? cpm_net_conn_count(c->net) : 0;
	out->stopping = c->stopping;
}

int cpm_core_err_status(int err)
{
	switch (err) {
	case 0:
		return 200;
	case CPM_ENOMEM:
	case CPM_ELIMIT:
	case CPM_EBUSY:
		return 503;
	case CPM_EPARSE:
	case CPM_EINVAL:
		return 400;
	case CPM_ETOOBIG:
		return 513;
	case CPM_ENOTFOUND:
		return 404;
	case CPM_ETIMEDOUT:
		return 408;
	case CPM_EAUTH:
	case CPM_EPERM:
		return 403;
	case CPM_EUNSUPP:
		return 501;
	case CPM_EVERSION:
		return 505;
	case CPM_ESCHEME:
		return 416;
	case CPM_EADDR:
	case CPM_ECLOSED:
		return 503;
	default:
		return 500;
	}
}

const char *cpm_core__to_tag(void)
{
	static char tag[17];
	if (!tag[0])
		cpm_rand_hex(tag, 8);
	return tag;
}

void cpm_core__reply(struct cpm_core *c, struct cpm_txn *st, int status,
		     const char *reason, const char *extra)
{
	/* no fixed buffer: a registrar's 200 lists every binding */
	struct cpm_buf hdrs;
	cpm_buf_init(&hdrs, 256 * 1024);
	int rc = cpm_buf_puts(&hdrs, "Server: ");
	rc = rc ? rc : cpm_buf_puts(&hdrs, c->conf->server.name);
	rc = rc ? rc : cpm_buf_append(&hdrs, "\r\n", 2);
	rc = rc ? rc : cpm_buf_puts(&hdrs, extra ? extra : "");
	if (!rc)
		rc = cpm_txn_reply(st, status, reason, cpm_core__to_tag(), hdrs.p,
				   CPM_STR_NULL, CPM_STR_NULL);
	cpm_buf_free(&hdrs);
	if (rc && rc != CPM_ESTATE) {
		const struct cpm_sip_msg *req = cpm_txn_req(st);
		char ctx[96];
		cpm_str_copy(req->call_id.len < sizeof ctx ? req->call_id : CPM_STR("?"),
			     ctx, sizeof ctx);
		cpm_logw(ctx, "cannot send %d: %s", status, cpm_strerror(rc));
	}
}

void cpm_core__challenge(struct cpm_core *c, struct cpm_txn *st, const char *realm,
			 bool proxy, bool stale)
{
	struct cpm_buf b;
	cpm_buf_init(&b, 4096);
	int rc = cpm_core__auth_challenge(&c->auth, &b, proxy, realm, c->conf->auth.algorithms,
					  c->conf->auth.nalgorithms, stale);
	if (rc)
		cpm_core__reply(c, st, 500, "Cannot Challenge", NULL);
	else
		cpm_core__reply(c, st, proxy ? 407 : 401, NULL, b.p);
	cpm_buf_free(&b);
}

/* ------------------------------------------------------------- addressing */

bool cpm_core_uri_is_local_user(struct cpm_core *c, const struct cpm_sip_uri *u)
{
	if ((u->scheme != CPM_SIP_SCHEME_SIP && u->scheme != CPM_SIP_SCHEME_SIPS) ||
	    !u->user.len || !cpm_conf_serves_domain(c->conf, u->host))
		return false;
	if (!u->has_port)
		return true;
	/* an explicit port that is not ours: some other process there */
	unsigned n = cpm_net_listener_count(c->net);
	for (unsigned i = 0; i < n; i++)
		if (cpm_net_listener_at(c->net, i)->port == u->port)
			return true;
	return false;
}

bool cpm_core__uri_is_me(struct cpm_core *c, const struct cpm_sip_uri *u)
{
	if (u->scheme != CPM_SIP_SCHEME_SIP && u->scheme != CPM_SIP_SCHEME_SIPS)
		return false;
	uint16_t port = u->has_port ? u->port : 5060;
	unsigned n = cpm_net_listener_count(c->net);
	if (!u->user.len && cpm_conf_serves_domain(c->conf, u->host)) {
		/* a served domain is us, unless an explicit port says it is
		 * some other process on that host (a UA's Contact) */
		if (!u->has_port)
			return true;
		for (unsigned i = 0; i < n; i++)
			if (cpm_net_listener_at(c->net, i)->port == port)
				return true;
	}
	struct cpm_net_addr a;
	if (cpm_net_addr_from_host(u->host, port, &a))
		return false;
	for (unsigned i = 0; i < n; i++) {
		const struct cpm_net_listener *l = cpm_net_listener_at(c->net, i);
		if (l->port == port && cpm_net_addr_family(&l->addr) ==
					       cpm_net_addr_family(&a)) {
			struct cpm_net_addr la = l->addr;
			if (cpm_net_addr_eq(&la, &a))
				return true;
		}
	}
	return false;
}

int cpm_core__uri_dest(struct cpm_core *c, const struct cpm_sip_uri *u,
		       struct cpm_net_dest *out)
{
	if (u->scheme != CPM_SIP_SCHEME_SIP && u->scheme != CPM_SIP_SCHEME_SIPS)
		return CPM_ESCHEME;
	memset(out, 0, sizeof *out);
	out->proto = CPM_NET_UDP;
	if (u->transport.len) {
		enum cpm_net_proto p = cpm_net_proto_parse(u->transport);
		if (!p)
			return CPM_EUNSUPP;
		out->proto = p;
	}
	if (u->scheme == CPM_SIP_SCHEME_SIPS)
		return CPM_EUNSUPP; /* TLS arrives with the WS/TLS transports */
	struct cpm_str host = u->maddr.len ? u->maddr : u->host;
	int rc = cpm_net_addr_from_host(host, u->has_port ? u->port : 5060,
					&out->peer);
	if (rc)
		return CPM_EADDR; /* no DNS: RFC 3263 resolution is not done */
	return 0;
}

int cpm_core__aor_of(struct cpm_core *c, const struct cpm_sip_uri *u, char *out,
		     size_t outsz)
{
	if (u->scheme != CPM_SIP_SCHEME_SIP && u->scheme != CPM_SIP_SCHEME_SIPS)
		return CPM_ESCHEME;
	if (!u->user.len || !cpm_conf_serves_domain(c->conf, u->host))
		return CPM_ENOTFOUND;
	int rc = cpm_sip_uri_aor(u, out, outsz);
	return rc < 0 ? rc : 0;
}

int cpm_core__aor_local(struct cpm_core *c, struct cpm_str uri_text, char *out,
			size_t outsz)
{
	struct cpm_sip_uri u;
	int rc = cpm_sip_uri_parse(uri_text, &u);
	if (rc)
		return rc;
	return cpm_core__aor_of(c, &u, out, outsz);
}

const char *cpm_core__realm(struct cpm_core *c, const char *aor)
{
	if (c->conf->auth.realm[0])
		return c->conf->auth.realm;
	const char *at = strrchr(aor, '@');
	return at ? at + 1 : aor;
}

/* ---------------------------------------------------------- pending steps */

void cpm_core__pending_gone(void *owner, struct cpm_txn *t)
{
	struct cpm_core_pending *p = owner;
	p->st = NULL;
}

void cpm_core__pending_attach(struct cpm_core_pending *p, struct cpm_core *c,
			      struct cpm_txn *st)
{
	p->core = c;
	p->st = st;
	cpm_txn_set_owner(st, p, cpm_core__pending_gone);
}

void cpm_core__pending_detach(struct cpm_core_pending *p)
{
	/* only if the txn is still ours: a proxy context may have taken it
	 * over meanwhile (fork_targets) */
	if (p->st && cpm_txn_owner(p->st) == p)
		cpm_txn_set_owner(p->st, NULL, NULL);
	p->st = NULL;
}

bool cpm_core__routes_all_mine(struct cpm_core *c, const struct cpm_sip_msg *req)
{
	for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(req, CPM_SIP_H_ROUTE); h;
	     h = cpm_sip_msg_hdr_next(req, h)) {
		struct cpm_str cur = h->value;
		struct cpm_sip_addr a;
		int r;
		while ((r = cpm_sip_addr_next(&cur, &a)) == 1) {
			struct cpm_sip_uri u;
			if (cpm_sip_uri_parse(a.uri, &u) || !cpm_core__uri_is_me(c, &u))
				return false;
		}
		if (r < 0)
			return false;
	}
	return true;
}

int cpm_core__store_submit(struct cpm_core *c,
			   void (*work)(struct cpm_store *s, void *arg),
			   void (*done)(void *arg), void *arg)
{
	return cpm_store_worker_submit(c->store, work, done, arg);
}

int cpm_core__store_read(struct cpm_core *c, void (*work)(struct cpm_store *s, void *arg),
			 void (*done)(void *arg), void *arg)
{
	/* no barrier between group commits (cpm_store_worker_submit_read) */
	return cpm_store_worker_submit_read(c->store, work, done, arg);
}

/* --------------------------------------------------------------- dispatch */

static void answer_self(struct cpm_core *c, struct cpm_txn *st,
			const struct cpm_sip_msg *req)
{
	switch (req->method) {
	case CPM_SIP_OPTIONS:
		/* RFC 3261 §11.2 */
		cpm_core__reply(c, st, 200, NULL,
				ALLOW_HDR ACCEPT_HDR SUPPORTED_HDR
				"Accept-Encoding: identity\r\n"
				"Accept-Language: en\r\n");
		return;
	case CPM_SIP_OTHER:
		/* unknown method: 501 with Allow (RFC 3261 §8.2.1) */
		cpm_core__reply(c, st, 501, NULL, ALLOW_HDR);
		return;
	case CPM_SIP_BYE:
	case CPM_SIP_INFO:
	case CPM_SIP_UPDATE:
	case CPM_SIP_PRACK:
	case CPM_SIP_NOTIFY:
		/* in-dialog methods, but we hold no dialog: §12.2.2 */
		cpm_core__reply(c, st, 481, NULL, NULL);
		return;
	default:
		/* known, but not served at the server's own URI */
		cpm_core__reply(c, st, 405, NULL, ALLOW_HDR);
		return;
	}
}

/* Proxy-Require / Require option tags we do not support give 420 with
 * Unsupported (RFC 3261 §8.2.2.3, §16.3 step 5). */
static bool check_require(struct cpm_core *c, struct cpm_txn *st,
			  const struct cpm_sip_msg *req, enum cpm_sip_hdr_id id)
{
	static const char *const supported[] = { "path", "outbound", NULL };
	char unsup[512] = "";
	size_t ulen = 0;
	for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(req, id); h;
	     h = cpm_sip_msg_hdr_next(req, h)) {
		struct cpm_str cur = h->value, item;
		while (cpm_sip_list_next(&cur, &item) == 1) {
			bool ok = false;
			for (int i = 0; supported[i]; i++)
				if (cpm_str_ieq_cstr(item, supported[i]))
					ok = true;
			if (!ok && ulen + item.len + 3 < sizeof unsup) {
				if (ulen)
					unsup[ulen++] = ',';
				memcpy(unsup + ulen, item.s, item.len);
				ulen += item.len;
				unsup[ulen] = '\0';
			}
		}
	}
	if (!ulen)
		return true;
	char extra[600];
	snprintf(extra, sizeof extra, "Unsupported: %s\r\n", unsup);
	cpm_core__reply(c, st, 420, NULL, extra);
	return false;
}

static void on_request(void *arg, struct cpm_txn *st,
		       const struct cpm_sip_msg *req,
		       const struct cpm_net_dest *src)
{
	struct cpm_core *c = arg;
	c->n_requests++;
	if (!st) { /* ACK to a 2xx or unmatched: forwarded statelessly */
		if (!cpm_core__dlg_request(c, NULL, req))
			cpm_core__proxy_ack(c, req, src);
		return;
	}
	/* in one of the server's own dialogs (focus, B2BUA): whatever the
	 * Request-URI says, it is ours (§12.2.2) */
	if (req->to.tag.len && req->method != CPM_SIP_CANCEL &&
	    cpm_core__dlg_request(c, st, req))
		return;
	if (c->stopping) {
		cpm_core__reply(c, st, 503, "Shutting Down", "Retry-After: 5\r\n");
		return;
	}
	if (req->method == CPM_SIP_CANCEL) {
		/* an INVITE a service holds (the B2BUA's caller leg): the
		 * service answers the CANCEL and the INVITE (RFC 3261 §9.2) */
		if (cpm_txn_cancel_target(st) && cpm_core__offer(c, st, req, src, NULL, ""))
			return;
		cpm_core__proxy_cancel(c, st);
		return;
	}
	struct cpm_sip_uri ruri;
	int rc = cpm_sip_uri_parse(req->ruri, &ruri);
	if (rc == CPM_ESCHEME || (rc == 0 && ruri.scheme == CPM_SIP_SCHEME_OTHER)) {
		cpm_core__reply(c, st, 416, NULL, NULL);
		return;
	}
	if (rc) {
		cpm_core__reply(c, st, 400, "Bad Request-URI", NULL);
		return;
	}
	if (!check_require(c, st, req, CPM_SIP_H_PROXY_REQUIRE))
		return;
	/* a Route set made only of our own entries (an outbound proxy
	 * setting, RFC 3261 §16.4) is as good as none */
	bool no_route = !cpm_sip_msg_hdr(req, CPM_SIP_H_ROUTE) ||
			cpm_core__routes_all_mine(c, req);
	/* for the server itself: our address or a served domain, no user part */
	bool to_me = !ruri.user.len && cpm_core__uri_is_me(c, &ruri) && no_route;
	if (req->max_forwards == 0 && !(to_me && req->method == CPM_SIP_OPTIONS)) {
		cpm_core__reply(c, st, 483, NULL, NULL); /* §16.3 step 3 */
		return;
	}
	if (req->method == CPM_SIP_REGISTER && no_route &&
	    (to_me || (!ruri.user.len && cpm_conf_serves_domain(c->conf, ruri.host)))) {
		if (!check_require(c, st, req, CPM_SIP_H_REQUIRE))
			return;
		c->n_registers++;
		cpm_core__reg_request(c, st, req, src);
		return;
	}
	if (to_me) {
		if (!check_require(c, st, req, CPM_SIP_H_REQUIRE))
			return;
		/* services first: a dialog they hold (a subscription) */
		if (!cpm_core__offer(c, st, req, src, NULL, ""))
			answer_self(c, st, req);
		return;
	}
	cpm_core__proxy_request(c, st, req, &ruri, src);
}

static void on_stray(void *arg, const struct cpm_sip_msg *resp,
		     const struct cpm_net_dest *src)
{
	if (!cpm_core__dlg_stray(arg, resp))
		cpm_core__proxy_stray(arg, resp, src);
}

/* A message that does not parse: answer what can be answered statelessly
 * (RFC 3261 §16.3 / §8.2); responses and hopeless requests are dropped. */
static void on_bad(void *arg, const struct cpm_sip_msg *m, int err,
		   const struct cpm_net_dest *src)
{
	struct cpm_core *c = arg;
	char peer[CPM_NET_ADDR_STRLEN];
	cpm_net_addr_print(&src->peer, peer, sizeof peer);
	cpm_logi(peer, "bad message (%s): %s", cpm_strerror(err),
		 m->err_reason ? m->err_reason : "unparseable");
	if (!m->err_status || !m->is_request || m->method == CPM_SIP_ACK)
		return;
	/* A Via says where the answer goes; the rest (From, To, Call-ID,
	 * CSeq) is echoed when present (RFC 4475 §3.1.2.18 insuf: a request
	 * missing Call-ID, From and To still gets its 400). */
	if (m->first[CPM_SIP_H_VIA] < 0 || !m->via.host.len)
		return;
	struct cpm_buf b;
	cpm_buf_init(&b, 16384);
	int rc = cpm_sip_print_response_start(&b, m, m->err_status, m->err_reason,
					      cpm_core__to_tag());
	if (!rc)
		rc = cpm_buf_printf(&b, "Server: %s\r\n", c->conf->server.name);
	if (!rc)
		rc = cpm_sip_print_body(&b, CPM_STR_NULL, CPM_STR_NULL);
	if (!rc) {
		struct cpm_net_dest d;
		cpm_txn_response_dest(m, src, &d);
		cpm_txn_send_stateless(c->txn, &d, b.p, b.len);
	}
	cpm_buf_free(&b);
}

static const struct cpm_txn_handler handler = {
	.request = on_request,
	.stray_response = on_stray,
	.bad_message = on_bad,
};

/* ------------------------------------------------------------- lifecycle */

static void on_sweep(uv_timer_t *t)
{
	struct cpm_core *c = t->data;
	cpm_core__reg_sweep(c);
}

int cpm_core_new(uv_loop_t *loop, const struct cpm_conf *conf,
		 struct cpm_core **out, char *err, size_t errsz)
{
	struct cpm_core *c = calloc(1, sizeof *c);
	if (!c)
		return CPM_ENOMEM;
	c->loop = loop;
	c->conf = conf;
	cpm_sip_limits_default(&c->lim);
	c->lim.max_msg = conf->sip.max_message_size;
	c->lim.max_hdrs = (unsigned)conf->sip.max_headers;
	c->lim.max_line = conf->sip.max_header_line;
	int rc = cpm_core__loc_init(&c->loc);
	if (!rc)
		rc = cpm_core__auth_init(&c->auth, (unsigned)conf->auth.nonce_ttl,
					 (size_t)conf->auth.max_nonces);
	if (rc) {
		snprintf(err, errsz, "initialisation: %s", cpm_strerror(rc));
		goto fail;
	}
	struct cpm_store_options so = CPM_STORE_OPTIONS_DEFAULT;
	so.busy_timeout_ms = conf->store.busy_timeout;
	rc = cpm_core__reg_load(c, conf->store.url);
	if (rc) {
		snprintf(err, errsz, "store %s: %s", conf->store.url,
			 cpm_strerror(rc));
		goto fail;
	}
	rc = cpm_store_worker_new_ex(loop, conf->store.url, &so, &c->store);
	if (rc) {
		snprintf(err, errsz, "store %s: %s", conf->store.url,
			 cpm_strerror(rc));
		goto fail;
	}

	struct cpm_net_conf nc;
	cpm_net_conf_default(&nc);
	nc.lim = c->lim;
	nc.tcp_idle_s = (unsigned)conf->sip.tcp_idle_timeout;
	nc.max_conns = (unsigned)conf->sip.tcp_max_connections;
	nc.max_out_buf = conf->sip.tcp_max_out_buffer;
	nc.udp_rcvbuf = (unsigned)conf->sip.udp_rcvbuf;
	rc = cpm_net_new(loop, &nc, &c->net);
	if (rc) {
		snprintf(err, errsz, "network: %s", cpm_strerror(rc));
		goto fail;
	}
	struct cpm_txn_conf tc;
	cpm_txn_conf_default(&tc);
	tc.t1_ms = (unsigned)conf->sip.t1;
	tc.t2_ms = (unsigned)conf->sip.t2;
	tc.t4_ms = (unsigned)conf->sip.t4;
	tc.max_txns = (unsigned)conf->sip.max_transactions;
	tc.lim = c->lim;
	rc = cpm_txn_layer_new(loop, c->net, &tc, &handler, c, &c->txn);
	if (rc) {
		snprintf(err, errsz, "transactions: %s", cpm_strerror(rc));
		goto fail;
	}
	for (int i = 0; i < conf->sip.nlisten; i++) {
		const struct cpm_conf_listen *l = &conf->sip.listen[i];
		char spec[96];
		if (l->family == AF_INET6)
			snprintf(spec, sizeof spec, "%s:[%s]:%u", l->proto, l->host, l->port);
		else
			snprintf(spec, sizeof spec, "%s:%s:%u", l->proto, l->host, l->port);
		rc = cpm_net_listen(c->net, spec);
		if (rc) {
			snprintf(err, errsz, "cannot listen on %s: %s", spec,
				 cpm_strerror(rc));
			goto fail;
		}
	}
	uv_timer_init(loop, &c->sweep);
	c->sweep.data = c;
	uv_timer_start(&c->sweep, on_sweep, 1000, 1000);
	uv_timer_init(loop, &c->stop_timer);
	c->stop_timer.data = c;
	*out = c;
	return 0;
fail:
	cpm_core_free(c);
	return rc ? rc : CPM_EIO;
}

static void close_noop(uv_handle_t *h)
{
}

static void finish_stop(struct cpm_core *c)
{
	uv_timer_stop(&c->stop_timer);
	uv_timer_stop(&c->sweep);
	cpm_core__dlg_free_all(c);
	if (c->txn) {
		cpm_txn_layer_free(c->txn);
		c->txn = NULL;
	}
	cpm_core__proxy_free_all(c);
	cpm_core__send_free_all(c);
	if (c->net) {
		cpm_net_free(c->net);
		c->net = NULL;
	}
	if (c->store) {
		cpm_store_worker_flush_and_free(c->store);
		c->store = NULL;
	}
	uv_close((uv_handle_t *)&c->sweep, close_noop);
	uv_close((uv_handle_t *)&c->stop_timer, close_noop);
	cpm_logn(NULL, "cpmd stopped: %llu requests, %llu relayed, %llu registrations",
		 (unsigned long long)c->n_requests, (unsigned long long)c->n_relayed,
		 (unsigned long long)c->n_registers);
	if (c->stop_done)
		c->stop_done(c->stop_arg);
}

static void on_stop_tick(uv_timer_t *t)
{
	struct cpm_core *c = t->data;
	/* transactions past their final response only absorb retransmissions:
	 * no need to wait for their timers */
	unsigned live = c->txn ? cpm_txn_layer_unfinished(c->txn) : 0;
	if (live == 0 || cpm_now_ms() >= c->stop_deadline) {
		if (live)
			cpm_logw(NULL, "shutdown: %u transactions unfinished after %d s",
				 live, c->conf->server.shutdown_grace);
		finish_stop(c);
	}
}

void cpm_core_shutdown(struct cpm_core *c, void (*done)(void *arg), void *arg)
{
	if (c->stopping)
		return;
	c->stopping = true;
	c->stop_done = done;
	c->stop_arg = arg;
	c->stop_deadline = cpm_now_ms() + (uint64_t)c->conf->server.shutdown_grace * 1000;
	cpm_logn(NULL, "shutdown: stop accepting, %u transactions live",
		 c->txn ? cpm_txn_layer_count(c->txn) : 0);
	if (c->net)
		cpm_net_stop_accepting(c->net);
	cpm_core__dlg_shutdown(c); /* the BYEs go out during the grace time */
	uv_timer_start(&c->stop_timer, on_stop_tick, 0, 50);
}

void cpm_core_free(struct cpm_core *c)
{
	if (!c)
		return;
	cpm_core__dlg_free_all(c);
	if (c->txn)
		cpm_txn_layer_free(c->txn);
	cpm_core__proxy_free_all(c);
	cpm_core__send_free_all(c);
	if (c->net)
		cpm_net_free(c->net);
	if (c->store)
		cpm_store_worker_flush_and_free(c->store);
	cpm_core__loc_cleanup(&c->loc);
	cpm_core__auth_cleanup(&c->auth);
	cpm_core__proxy_pool_drain();
	free(c);
}
