/* Stateful proxy (RFC 3261 §16): route processing with loose routing,
 * Record-Route, authentication of requests from served domains (407),
 * location lookup and parallel forking to every binding, best-response
 * selection (§16.7), CANCEL propagation (§16.10), stateless forwarding of
 * ACKs for 2xx and of stray 2xx retransmissions (RFC 6026), loop detection
 * (§16.3 step 4, 482) and Max-Forwards (483). */
#include "core/core_int.h"

#include <stdlib.h>
#include <string.h>

struct proxy_ctx;

struct proxy_branch {
	struct proxy_ctx *ctx;
	struct cpm_txn *ct;
	int status;
	bool done;
};

struct proxy_ctx {
	struct cpm_core_pending p; /* kind = CPM_CORE_PENDING_PROXY */
	struct proxy_ctx *prev, *next; /* the core's list of live contexts */
	bool is_invite;
	bool local_target;   /* forked to a user's bindings */
	char aor[256];       /* the user, when local_target */
	bool final_sent;
	bool cancelled;
	int pending;
	int nbranches;
	int best_status;
	char *best;          /* the best final response so far, rewritten */
	size_t best_len;
	struct proxy_branch br[];
};

/* Decision state of a request before it is forwarded (auth may be async). */
struct route_job {
	struct cpm_core_pending p;
	struct cpm_net_dest src;
	size_t npop;          /* our Route entries at the top */
	bool in_dialog;
	bool trusted;
	bool authenticated;
	char from_aor[256];
	char to_aor[256];     /* R-URI AoR when it is a local user */
	struct cpm_sip_auth cred;
	int user_rc;
	struct cpm_store_user user;
	int stage; /* 0 = auth lookup, 1 = callee exists? */
};

static void route_continue(struct cpm_core *c, struct route_job *j);

static char *ctx_str(const struct cpm_sip_msg *m, char buf[96])
{
	if (cpm_str_copy(m->call_id, buf, 96))
		snprintf(buf, 96, "%.80s", m->call_id.s ? m->call_id.s : "?");
	return buf;
}

/* ------------------------------------------------------------- branches */

/* Loop detection (RFC 3261 §16.3 step 4 / §16.6 step 8): our branch
 * carries a hash of what identifies the request at this hop, so a request
 * that comes back unchanged finds its own hash in a Via we wrote. */
static uint32_t loop_hash(const struct cpm_sip_msg *req)
{
	uint32_t h = 2166136261u;
	struct cpm_str parts[4] = { req->ruri, req->from.tag, req->call_id,
				    req->cseq.method_s };
	for (int i = 0; i < 4; i++)
		for (size_t k = 0; k < parts[i].len; k++) {
			h ^= (unsigned char)parts[i].s[k];
			h *= 16777619u;
		}
	h ^= req->cseq.num;
	h *= 16777619u;
	return h;
}

static void branch_make(uint32_t h, char out[CPM_TXN_BRANCH_MAX])
{
	/* "z9hG4bKcpm" + 8 hex of the loop hash + "." + 16 hex of a counter
	 * mixed with per-process randomness (unique, and no syscall) */
	static const char hex[] = "0123456789abcdef";
	static uint64_t salt, seq;
	if (!salt)
		cpm_rand_bytes(&salt, sizeof salt);
	uint64_t u = (++seq * 0x9e3779b97f4a7c15ull) ^ salt;
	memcpy(out, "z9hG4bKcpm", 10);
	for (int i = 0; i < 8; i++)
		out[10 + i] = hex[(h >> (28 - 4 * i)) & 15];
	out[18] = '.';
	for (int i = 0; i < 16; i++)
		out[19 + i] = hex[(u >> (60 - 4 * i)) & 15];
	out[35] = '\0';
}

static bool via_is_me(struct cpm_core *c, const struct cpm_sip_via *v)
{
	uint16_t port = v->has_port ? v->port : 5060;
	unsigned n = cpm_net_listener_count(c->net);
	for (unsigned i = 0; i < n; i++) {
		const struct cpm_net_listener *l = cpm_net_listener_at(c->net, i);
		if (l->port == port && cpm_str_ieq_cstr(v->host, l->host))
			return true;
	}
	return false;
}

static bool is_loop(struct cpm_core *c, const struct cpm_sip_msg *req)
{
	char mine[CPM_TXN_BRANCH_MAX];
	const size_t n = 18; /* "z9hG4bKcpm" + 8 hex of the hash */
	bool have = false;
	for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(req, CPM_SIP_H_VIA); h;
	     h = cpm_sip_msg_hdr_next(req, h)) {
		if (!memmem(h->value.s, h->value.len, "z9hG4bKcpm", 10))
			continue;
		if (!have) { /* only requests that went through us pay for it */
			branch_make(loop_hash(req), mine);
			have = true;
		}
		struct cpm_str cur = h->value;
		struct cpm_sip_via v;
		while (cpm_sip_via_next(&cur, &v) == 1)
			if (v.branch.len > n && memcmp(v.branch.s, mine, n) == 0 &&
			    via_is_me(c, &v))
				return true;
	}
	return false;
}

/* Count the Route entries at the top that are ours (loose routing, §16.4). */
static size_t count_my_routes(struct cpm_core *c, const struct cpm_sip_msg *req,
			      struct cpm_sip_addr *next)
{
	size_t n = 0;
	for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(req, CPM_SIP_H_ROUTE); h;
	     h = cpm_sip_msg_hdr_next(req, h)) {
		struct cpm_str cur = h->value;
		struct cpm_sip_addr a;
		while (cpm_sip_addr_next(&cur, &a) == 1) {
			struct cpm_sip_uri u;
			if (cpm_sip_uri_parse(a.uri, &u) == 0 && cpm_core__uri_is_me(c, &u)) {
				n++;
				continue;
			}
			if (next)
				*next = a;
			return n;
		}
	}
	if (next)
		memset(next, 0, sizeof *next);
	return n;
}

const struct cpm_net_listener *cpm_core__listener_for(struct cpm_core *c,
						      const struct cpm_net_dest *d)
{
	const struct cpm_net_listener *l =
		cpm_net_listener_find(c->net, d->proto, cpm_net_addr_family(&d->peer));
	if (!l)
		l = cpm_net_listener_find(c->net, CPM_NET_UDP,
					  cpm_net_addr_family(&d->peer));
	return l;
}

static int print_rr(struct cpm_buf *b, const struct cpm_net_listener *l)
{
	if (l->proto == CPM_NET_TCP)
		return cpm_buf_printf(b, "<sip:%s:%u;transport=tcp;lr>", l->host, l->port);
	return cpm_buf_printf(b, "<sip:%s:%u;lr>", l->host, l->port);
}

/* Build the request for one branch (RFC 3261 §16.6). */
static int build_request(struct cpm_core *c, const struct cpm_sip_msg *req,
			 struct cpm_str ruri, size_t npop, const char *path,
			 const struct cpm_net_listener *out_l,
			 const struct cpm_net_listener *in_l, const char *branch,
			 struct cpm_buf *b)
{
	/* no printf on this path: it runs for every relayed request */
	int rc = cpm_buf_reserve(b, req->len + 512);
	rc = rc ? rc : cpm_buf_append_str(b, req->method_s);
	rc = rc ? rc : cpm_buf_append(b, " ", 1);
	rc = rc ? rc : cpm_buf_append_str(b, ruri);
	rc = rc ? rc : cpm_buf_append(b, " SIP/2.0\r\nVia: SIP/2.0/", 23);
	rc = rc ? rc : cpm_buf_puts(b, cpm_net_proto_name(out_l->proto));
	rc = rc ? rc : cpm_buf_append(b, " ", 1);
	rc = rc ? rc : cpm_buf_puts(b, out_l->host);
	rc = rc ? rc : cpm_buf_append(b, ":", 1);
	rc = rc ? rc : cpm_buf_put_u64(b, out_l->port);
	rc = rc ? rc : cpm_buf_append(b, ";branch=", 8);
	rc = rc ? rc : cpm_buf_puts(b, branch);
	rc = rc ? rc : cpm_buf_append(b, ";rport\r\n", 8);
	bool rr = c->conf->sip.record_route &&
		  (req->method == CPM_SIP_INVITE || req->method == CPM_SIP_SUBSCRIBE ||
		   req->method == CPM_SIP_REFER) && !req->to.tag.len;
	if (!rc && rr) {
		/* double Record-Route when the two legs use different sockets
		 * (RFC 5658), the callee's side first */
		rc = cpm_buf_puts(b, "Record-Route: ");
		if (!rc)
			rc = print_rr(b, out_l);
		if (!rc && in_l && in_l != out_l) {
			rc = cpm_buf_puts(b, ", ");
			if (!rc)
				rc = print_rr(b, in_l);
		}
		if (!rc)
			rc = cpm_buf_puts(b, "\r\n");
	}
	if (!rc && path && path[0]) /* RFC 3327 §5.4: Path becomes Route */
		rc = cpm_buf_printf(b, "Route: %s\r\n", path);
	size_t skip = npop;
	bool mf_done = false;
	for (unsigned i = 0; i < req->nhdrs && !rc; i++) {
		const struct cpm_sip_hdr *h = &req->hdrs[i];
		switch (h->id) {
		case CPM_SIP_H_MAX_FORWARDS:
			if (!mf_done) {
				rc = cpm_buf_append(b, "Max-Forwards: ", 14);
				if (!rc)
					rc = cpm_buf_put_u64(b, req->max_forwards > 0
								? (uint64_t)req->max_forwards - 1 : 0);
				if (!rc)
					rc = cpm_buf_append(b, "\r\n", 2);
			}
			mf_done = true;
			continue;
		case CPM_SIP_H_CONTENT_LENGTH:
			continue;
		case CPM_SIP_H_PROXY_AUTHORIZATION: {
			/* credentials for our realm end here (RFC 3261 §22.3):
			 * they are not the next hop's business */
			struct cpm_sip_auth a;
			if (cpm_sip_auth_parse(h->value, &a) == 0 &&
			    (cpm_conf_serves_domain(c->conf, a.realm) ||
			     cpm_str_eq_cstr(a.realm, c->conf->auth.realm)))
				continue;
			break;
		}
		case CPM_SIP_H_ROUTE:
			if (skip) {
				struct cpm_str cur = h->value;
				struct cpm_sip_addr a;
				while (skip && cpm_sip_addr_next(&cur, &a) == 1)
					skip--;
				cur = cpm_str_trim(cur);
				if (cur.len)
					rc = cpm_buf_printf(b, "Route: %.*s\r\n", CPM_STR_FMT(cur));
				continue;
			}
			break;
		default:
			break;
		}
		rc = cpm_buf_append_str(b, h->raw);
	}
	if (!rc && !mf_done)
		rc = cpm_buf_puts(b, "Max-Forwards: 70\r\n");
	if (!rc)
		rc = cpm_sip_print_body(b, CPM_STR_NULL, req->body);
	return rc;
}

/* A response without our top Via (§16.7 step 3).  CPM_ENOTFOUND when no
 * Via would remain: such a response was meant for us, not to forward. */
static int strip_via(const struct cpm_sip_msg *resp, struct cpm_buf *b)
{
	const struct cpm_sip_hdr *v1 = cpm_sip_msg_hdr(resp, CPM_SIP_H_VIA);
	if (v1 && !cpm_sip_msg_hdr_next(resp, v1) && !memchr(v1->value.s, ',', v1->value.len))
		return CPM_ENOTFOUND;
	int rc = cpm_buf_append(b, resp->buf, resp->first_line.len);
	if (!rc)
		rc = cpm_buf_puts(b, "\r\n");
	bool first = true;
	for (unsigned i = 0; i < resp->nhdrs && !rc; i++) {
		const struct cpm_sip_hdr *h = &resp->hdrs[i];
		if (h->id == CPM_SIP_H_VIA && first) {
			first = false;
			struct cpm_str cur = h->value;
			struct cpm_sip_via v;
			if (cpm_sip_via_next(&cur, &v) == 1) {
				cur = cpm_str_trim(cur);
				if (cur.len)
					rc = cpm_buf_printf(b, "Via: %.*s\r\n", CPM_STR_FMT(cur));
			}
			continue;
		}
		rc = cpm_buf_append_str(b, h->raw);
	}
	if (!rc)
		rc = cpm_buf_puts(b, "\r\n");
	if (!rc && resp->body.len)
		rc = cpm_buf_append_str(b, resp->body);
	return rc;
}

/* ------------------------------------------------------ proxy contexts */

static void ctx_gone(void *owner, struct cpm_txn *t)
{
	struct proxy_ctx *x = owner;
	x->p.st = NULL;
}

static void ctx_link(struct proxy_ctx *x)
{
	struct cpm_core *c = x->p.core;
	x->next = c->proxies;
	if (x->next)
		x->next->prev = x;
	c->proxies = x;
}

static void ctx_free(struct proxy_ctx *x)
{
	struct cpm_core *c = x->p.core;
	if (x->prev)
		x->prev->next = x->next;
	else
		c->proxies = x->next;
	if (x->next)
		x->next->prev = x->prev;
	if (x->p.st)
		cpm_txn_set_owner(x->p.st, NULL, NULL);
	free(x->best);
	free(x);
}

static void ctx_maybe_free(struct proxy_ctx *x)
{
	if (x->pending <= 0)
		ctx_free(x);
}

void cpm_core__proxy_free_all(struct cpm_core *c)
{
	while (c->proxies) {
		struct proxy_ctx *x = c->proxies;
		x->p.st = NULL; /* the layer is gone with its transactions */
		ctx_free(x);
	}
}

static void cancel_others(struct proxy_ctx *x, const struct proxy_branch *keep,
			  const char *reason)
{
	for (int i = 0; i < x->nbranches; i++) {
		struct proxy_branch *br = &x->br[i];
		if (br != keep && !br->done && br->ct)
			cpm_txn_cancel(br->ct, reason);
	}
}

/* §16.7 step 6: 6xx first, then the lowest class; among 4xx prefer the
 * ones the caller can act on. */
static int resp_rank(int st)
{
	if (st >= 600)
		return 0;
	int cls = st / 100;
	int r = cls * 10;
	if (cls == 4 && (st == 401 || st == 407 || st == 415 || st == 420 || st == 484))
		r -= 5;
	if (st == 408 || st == 503) /* our own timeouts / transport failures */
		r += 3;
	return r;
}

static void send_final(struct proxy_ctx *x)
{
	struct cpm_core *c = x->p.core;
	if (x->final_sent || !x->p.st)
		return;
	x->final_sent = true;
	int st = x->best_status ? x->best_status : 408;
	if (x->local_target && (st == 408 || st == 503 || st == 480)) {
		/* every device of the user failed or timed out: a message may
		 * still be kept for later (the message controller decides) */
		const struct cpm_sip_msg *req = cpm_txn_req(x->p.st);
		if (req && (req->method == CPM_SIP_MESSAGE || req->method == CPM_SIP_INFO ||
		     req->method == CPM_SIP_INVITE) &&
		    c->hooks.undelivered) {
			struct cpm_txn *st_ = x->p.st;
			cpm_txn_set_owner(st_, NULL, NULL);
			x->p.st = NULL;
			if (c->hooks.undelivered(c->hooks_arg, st_, req, x->aor, st))
				return;
			x->p.st = st_;
			cpm_txn_set_owner(st_, x, ctx_gone);
		}
		if (st == 480 && x->best)
			cpm_txn_reply_buf(x->p.st, st, x->best, x->best_len);
		else
			cpm_core__reply(c, x->p.st, 480, NULL, NULL);
		return;
	}
	if (x->best && st != 503)
		cpm_txn_reply_buf(x->p.st, st, x->best, x->best_len);
	else if (st == 503)
		cpm_core__reply(c, x->p.st, 500, "Downstream Unavailable", NULL);
	else
		cpm_core__reply(c, x->p.st, st, NULL, NULL);
}

static void relay_response(struct proxy_ctx *x, const struct cpm_sip_msg *resp)
{
	if (!x->p.st)
		return;
	struct cpm_buf b;
	cpm_buf_init(&b, resp->len + 64);
	int src = strip_via(resp, &b);
	if (src == CPM_ENOTFOUND && resp->status >= 200 && !cpm_txn_has_final(x->p.st))
		cpm_core__reply(x->p.core, x->p.st, resp->status, NULL, NULL);
	if (src == 0) {
		int rc = cpm_txn_reply_buf(x->p.st, resp->status, b.p, b.len);
		if (rc == CPM_ESTATE && resp->status >= 200 && resp->status < 300) {
			/* a further 2xx to INVITE from another branch: forwarded
			 * statelessly (§16.7 step 5, RFC 6026 §8.3) */
			struct cpm_net_dest d;
			cpm_txn_response_dest(cpm_txn_req(x->p.st), cpm_txn_src(x->p.st), &d);
			cpm_txn_send_stateless(x->p.core->txn, &d, b.p, b.len);
		}
	}
	cpm_buf_free(&b);
}

static void on_branch_resp(void *arg, struct cpm_txn *ct,
			   const struct cpm_sip_msg *resp, int status)
{
	struct proxy_branch *br = arg;
	struct proxy_ctx *x = br->ctx;
	if (status < 200) {
		if (status > 100 && resp && !x->final_sent)
			relay_response(x, resp);
		return;
	}
	br->done = true;
	br->ct = NULL;
	br->status = status;
	x->pending--;
	if (status < 300) {
		if (resp)
			relay_response(x, resp);
		x->final_sent = true;
		x->p.core->n_relayed++;
		if (x->is_invite)
			cancel_others(x, br, "Reason: SIP;cause=200;text=\"Call completed elsewhere\"");
	} else if (!x->final_sent) {
		if (!x->best_status || resp_rank(status) < resp_rank(x->best_status)) {
			x->best_status = status;
			free(x->best);
			x->best = NULL;
			x->best_len = 0;
			if (resp) {
				struct cpm_buf b;
				cpm_buf_init(&b, resp->len + 64);
				if (strip_via(resp, &b) == 0) {
					x->best = b.p;
					x->best_len = b.len;
				} else {
					cpm_buf_free(&b);
				}
			}
		}
		if (status >= 600 && x->is_invite)
			cancel_others(x, br, NULL);
	}
	if (x->pending == 0)
		send_final(x);
	ctx_maybe_free(x);
}

static int branch_dest_binding(struct cpm_core *c, struct cpm_core_binding *b,
			       struct cpm_net_dest *d)
{
	if (!b->cdest_ready) {
		struct cpm_sip_uri u;
		int urc = cpm_sip_uri_parse(cpm_str_from_cstr(b->contact), &u);
		b->cdest_rc = urc ? urc : cpm_core__uri_dest(c, &u, &b->cdest);
		b->cdest_ready = true;
	}
	struct cpm_net_dest ud = b->cdest;
	int drc = b->cdest_rc;
	if (b->has_flow && b->flow.proto == CPM_NET_TCP &&
	    cpm_net_conn_alive(c->net, b->flow.conn_id)) {
		*d = b->flow; /* reuse the registration's connection (RFC 5626) */
		d->lsn = NULL;
		return 0;
	}
	if (drc == 0) {
		/* behind a NAT the registered source, not the Contact, is
		 * reachable (RFC 3581 symmetric response routing) */
		if (b->has_flow && b->flow.proto == ud.proto &&
		    cpm_net_addr_family(&b->flow.peer) == cpm_net_addr_family(&ud.peer)) {
			if (!cpm_net_addr_ip_eq(&b->flow.peer, &ud.peer)) {
				*d = b->flow;
				d->lsn = NULL;
				d->conn_id = 0;
				return 0;
			}
		}
		*d = ud;
		return 0;
	}
	if (b->has_flow) {
		*d = b->flow;
		d->lsn = NULL;
		d->conn_id = 0;
		return 0;
	}
	return drc;
}

int cpm_core__binding_dest(struct cpm_core *c, struct cpm_core_binding *b,
			   struct cpm_net_dest *d)
{
	if (b->path[0]) {
		/* RFC 3327 §5.4: the request goes to the first Path entry
		 * (it becomes the top Route) */
		struct cpm_str cur = cpm_str_from_cstr(b->path);
		struct cpm_sip_addr pa;
		struct cpm_sip_uri pu;
		if (cpm_sip_addr_next(&cur, &pa) != 1 || cpm_sip_uri_parse(pa.uri, &pu))
			return CPM_EADDR;
		return cpm_core__uri_dest(c, &pu, d);
	}
	return branch_dest_binding(c, b, d);
}

struct fwd_target {
	struct cpm_str ruri;
	struct cpm_net_dest dest;
	const char *path;
};

/* Start one client transaction per target; answers the request when none
 * could be started. */
static void fork_targets(struct cpm_core *c, struct cpm_txn *st,
			 const struct cpm_sip_msg *req, const struct cpm_net_dest *src,
			 size_t npop, struct fwd_target *t, int nt, const char *local_aor)
{
	bool local = local_aor != NULL;
	struct proxy_ctx *x = calloc(1, sizeof *x + (size_t)nt * sizeof x->br[0]);
	if (!x) {
		cpm_core__reply(c, st, 500, "Out Of Memory", NULL);
		return;
	}
	x->p.kind = CPM_CORE_PENDING_PROXY;
	x->p.core = c;
	x->p.st = st;
	x->is_invite = req->method == CPM_SIP_INVITE;
	x->local_target = local;
	if (local)
		snprintf(x->aor, sizeof x->aor, "%s", local_aor);
	cpm_txn_set_owner(st, x, ctx_gone);
	ctx_link(x);
	char cbuf[96];
	int last_err = 0;
	struct cpm_buf b;
	cpm_buf_init(&b, c->lim.max_msg + 2048);
	uint32_t lh = loop_hash(req);
	for (int i = 0; i < nt; i++) {
		const struct cpm_net_listener *out_l = cpm_core__listener_for(c, &t[i].dest);
		if (!out_l) {
			last_err = CPM_EADDR;
			continue;
		}
		char branch[CPM_TXN_BRANCH_MAX];
		branch_make(lh, branch);
		cpm_buf_reset(&b);
		int rc = build_request(c, req, t[i].ruri, npop, t[i].path, out_l, src->lsn,
				       branch, &b);
		if (rc) {
			last_err = rc;
			continue;
		}
		struct proxy_branch *br = &x->br[x->nbranches];
		br->ctx = x;
		x->nbranches++;
		x->pending++;
		rc = cpm_txn_request(c->txn, &t[i].dest, b.p, b.len, on_branch_resp, br, &br->ct);
		if (rc) {
			x->nbranches--;
			x->pending--;
			last_err = rc;
			char peer[CPM_NET_ADDR_STRLEN];
			cpm_net_addr_print(&t[i].dest.peer, peer, sizeof peer);
			cpm_logi(ctx_str(req, cbuf), "branch to %s failed: %s", peer,
				 cpm_strerror(rc));
		}
	}
	cpm_buf_free(&b);
	if (x->nbranches == 0) {
		ctx_free(x);
		if (local)
			cpm_core__reply(c, st, 480, NULL, NULL);
		else
			cpm_core__reply(c, st, last_err == CPM_ETOOBIG ? 513 :
					       cpm_core_err_status(last_err), NULL, NULL);
		return;
	}
	cpm_logd(ctx_str(req, cbuf), "%.*s forked to %d branch(es)",
		 CPM_STR_FMT(req->method_s), x->nbranches);
}

/* ------------------------------------------------------------- routing */

/* Route jobs (1.4 KB, past malloc's fast bins) are kept for reuse: one
 * per proxied request.  Single-threaded, like all of core. */
#define JOB_POOL_MAX 256
static struct route_job *job_pool[JOB_POOL_MAX];
static unsigned job_pool_n;

static struct route_job *job_new(void)
{
	if (job_pool_n) {
		struct route_job *j = job_pool[--job_pool_n];
		memset(j, 0, sizeof *j);
		return j;
	}
	return calloc(1, sizeof(struct route_job));
}

static void job_free(struct route_job *j)
{
	cpm_core__pending_detach(&j->p);
	if (job_pool_n < JOB_POOL_MAX)
		job_pool[job_pool_n++] = j;
	else
		free(j);
}

void cpm_core__proxy_pool_drain(void)
{
	while (job_pool_n)
		free(job_pool[--job_pool_n]);
}


static void user_work(struct cpm_store *s, void *arg)
{
	struct route_job *j = arg;
	j->user_rc = cpm_store_user_get(s, j->stage == 0 ? j->from_aor : j->to_aor,
					&j->user);
}

static void user_done(void *arg)
{
	struct route_job *j = arg;
	struct cpm_core *c = j->p.core;
	struct cpm_txn *st = j->p.st;
	if (!st) {
		job_free(j);
		return;
	}
	const struct cpm_sip_msg *req = cpm_txn_req(st);
	if (j->user_rc && j->user_rc != CPM_ENOTFOUND) {
		cpm_core__reply(c, st, 500, "Storage Failure", "Retry-After: 5\r\n");
		job_free(j);
		return;
	}
	if (j->stage == 1) {
		/* the callee has no binding: does it exist at all? */
		char cb[96];
		if (j->user_rc == CPM_ENOTFOUND) {
			cpm_logi(ctx_str(req, cb), "%.*s to unknown user %s",
				 CPM_STR_FMT(req->method_s), j->to_aor);
			cpm_core__reply(c, st, 404, NULL, NULL);
		} else if ((req->method == CPM_SIP_MESSAGE || req->method == CPM_SIP_INFO ||
		     req->method == CPM_SIP_INVITE) &&
		    c->hooks.undelivered &&
			   (cpm_core__pending_detach(&j->p),
			    c->hooks.undelivered(c->hooks_arg, st, req, j->to_aor, 480))) {
			/* the message controller answers (stored: 202) */
		} else {
			cpm_logi(ctx_str(req, cb), "%.*s to %s: not registered",
				 CPM_STR_FMT(req->method_s), j->to_aor);
			cpm_core__reply(c, st, 480, NULL, NULL);
		}
		job_free(j);
		return;
	}
	const char *realm = cpm_core__realm(c, j->from_aor);
	if (j->user_rc == CPM_ENOTFOUND) {
		cpm_core__reply(c, st, 403, NULL, NULL);
		job_free(j);
		return;
	}
	enum cpm_core_auth_result r = cpm_core__auth_verify(&c->auth, req->method_s, &j->cred, &j->user);
	if (r == CPM_CORE_AUTH_STALE) {
		cpm_core__challenge(c, st, realm, true, true);
		job_free(j);
		return;
	}
	if (r == CPM_CORE_AUTH_BAD) {
		cpm_core__reply(c, st, 400, "Bad Credentials", NULL);
		job_free(j);
		return;
	}
	if (r != CPM_CORE_AUTH_OK) {
		char cb[96];
		char peer[CPM_NET_ADDR_STRLEN];
		cpm_net_addr_print(&j->src.peer, peer, sizeof peer);
		cpm_logn(ctx_str(req, cb), "authentication failed for %s from %s", j->from_aor,
			 peer);
		cpm_core__reply(c, st, 403, NULL, NULL);
		job_free(j);
		return;
	}
	j->authenticated = true;
	route_continue(c, j);
}

/* Forward to the one destination in t[0] (resolved with result rc), the
 * Request-URI unchanged; an unresolvable one is answered 404. */
static void forward_one(struct cpm_core *c, struct route_job *j, struct fwd_target *t,
			int rc, const char *unresolvable)
{
	struct cpm_txn *st = j->p.st;
	const struct cpm_sip_msg *req = cpm_txn_req(st);
	if (rc) {
		cpm_core__reply(c, st, rc == CPM_EADDR ? 404 : cpm_core_err_status(rc),
				rc == CPM_EADDR ? unresolvable : NULL, NULL);
	} else {
		t[0].ruri = req->ruri;
		t[0].path = NULL;
		fork_targets(c, st, req, &j->src, j->npop, t, 1, NULL);
	}
	job_free(j);
}

/* After authentication: pick the targets and fork. */
static void route_continue(struct cpm_core *c, struct route_job *j)
{
	struct cpm_txn *st = j->p.st;
	const struct cpm_sip_msg *req = cpm_txn_req(st);
	struct cpm_sip_addr next;
	count_my_routes(c, req, &next);
	struct fwd_target t[64];
	int max = c->conf->sip.max_branches < 64 ? c->conf->sip.max_branches : 64;
	if (max < 1)
		max = 1;

	if (next.uri.len) {
		/* a Route remains: send to it, the Request-URI unchanged */
		struct cpm_sip_uri u;
		int rc = cpm_sip_uri_parse(next.uri, &u);
		if (!rc)
			rc = cpm_core__uri_dest(c, &u, &t[0].dest);
		forward_one(c, j, t, rc, "Route Not Resolvable");
		return;
	}

	/* out of dialog, for a local user: a service may serve it itself
	 * (SUBSCRIBE to a package the server implements) */
	if (j->to_aor[0] && !j->in_dialog && c->nservices) {
		struct cpm_sip_uri ru;
		cpm_core__pending_detach(&j->p);
		if (cpm_sip_uri_parse(req->ruri, &ru) == 0 &&
		    cpm_core__offer(c, st, req, &j->src, j->to_aor,
				    j->authenticated ? j->from_aor : "")) {
			job_free(j);
			return;
		}
		cpm_core__pending_attach(&j->p, c, st);
	}
	if (j->to_aor[0]) {
local_user:;
		struct cpm_core_aor *a = cpm_core__loc_aor(&c->loc, j->to_aor, false);
		int nt = 0;
		int64_t now = cpm_wall_s();
		for (struct cpm_core_binding *b = a ? a->bindings : NULL; b && nt < max;
		     b = b->next) {
			if (b->expires <= now)
				continue;
			if (cpm_core__binding_dest(c, b, &t[nt].dest))
				continue;
			t[nt].ruri = cpm_str_from_cstr(b->contact);
			t[nt].path = b->path;
			nt++;
		}
		if (nt == 0) {
			j->stage = 1;
			if (cpm_core__store_read(c, user_work, user_done, j) == 0)
				return;
			cpm_core__reply(c, st, 480, NULL, NULL);
			job_free(j);
			return;
		}
		fork_targets(c, st, req, &j->src, j->npop, t, nt, j->to_aor);
		job_free(j);
		return;
	}

	/* not a local user: an in-dialog target, or another domain */
	if (!j->in_dialog && !j->trusted && !j->authenticated) {
		cpm_core__reply(c, st, 403, "Relaying Denied", NULL);
		job_free(j);
		return;
	}
	struct cpm_core_binding *b = cpm_core__loc_by_contact(&c->loc, req->ruri);
	int rc;
	if (b) {
		rc = branch_dest_binding(c, b, &t[0].dest);
	} else {
		struct cpm_sip_uri u;
		rc = cpm_sip_uri_parse(req->ruri, &u);
		if (!rc)
			rc = cpm_core__uri_dest(c, &u, &t[0].dest);
	}
	if (rc == CPM_EADDR && j->in_dialog &&
	    cpm_core__aor_local(c, req->ruri, j->to_aor, sizeof j->to_aor) == 0)
		goto local_user; /* a remote target that is an AoR of ours */
	forward_one(c, j, t, rc, "Destination Not Resolvable");
}

void cpm_core__proxy_request(struct cpm_core *c, struct cpm_txn *st,
			     const struct cpm_sip_msg *req,
			     const struct cpm_sip_uri *ruri,
			     const struct cpm_net_dest *src)
{
	if (is_loop(c, req)) {
		cpm_core__reply(c, st, 482, NULL, NULL);
		return;
	}
	struct route_job *j = job_new();
	if (!j) {
		cpm_core__reply(c, st, 500, "Out Of Memory", NULL);
		return;
	}
	cpm_core__pending_attach(&j->p, c, st);
	j->src = *src;
	struct cpm_sip_addr next;
	j->npop = count_my_routes(c, req, &next);
	j->in_dialog = req->to.tag.len > 0;
	j->trusted = cpm_conf_is_trusted(c->conf, &src->peer.u.sa);

	/* Out of dialog, a Request-URI in a served domain is an AoR to look
	 * up; in a dialog it is the peer's remote target (its Contact). */
	if (!next.uri.len && !j->in_dialog) {
		int rc = cpm_core__aor_of(c, ruri, j->to_aor, sizeof j->to_aor);
		if (rc && rc != CPM_ENOTFOUND) {
			cpm_core__reply(c, st, rc == CPM_ESCHEME ? 416 : 400, NULL, NULL);
			job_free(j);
			return;
		}
		if (rc)
			j->to_aor[0] = '\0';
	}
	/* Out-of-dialog requests claiming a served domain in From must be
	 * authenticated (the server is never an open relay). */
	bool from_local = cpm_core__aor_local(c, req->from.uri, j->from_aor,
					      sizeof j->from_aor) == 0;
	if (from_local && !j->in_dialog && !j->trusted) {
		const char *realm = cpm_core__realm(c, j->from_aor);
		enum cpm_core_auth_result r = cpm_core__auth_find(req, true, realm, &j->cred);
		if (r == CPM_CORE_AUTH_BAD) {
			cpm_core__reply(c, st, 400, "Bad Proxy-Authorization", NULL);
			job_free(j);
			return;
		}
		if (r == CPM_CORE_AUTH_NONE) {
			cpm_core__challenge(c, st, realm, true, false);
			job_free(j);
			return;
		}
		const char *at = strrchr(j->from_aor, '@');
		struct cpm_str user = { j->from_aor, at ? (size_t)(at - j->from_aor) : 0 };
		if (!cpm_str_eq(j->cred.username, user) &&
		    !cpm_str_eq_cstr(j->cred.username, j->from_aor)) {
			cpm_core__reply(c, st, 403, "Identity Mismatch", NULL);
			job_free(j);
			return;
		}
		j->stage = 0;
		if (cpm_core__store_read(c, user_work, user_done, j) == 0)
			return;
		cpm_core__reply(c, st, 500, "Storage Unavailable", NULL);
		job_free(j);
		return;
	}
	route_continue(c, j);
}

/* ------------------------------------------------- CANCEL, ACK, strays */

void cpm_core__proxy_cancel(struct cpm_core *c, struct cpm_txn *st)
{
	struct cpm_txn *inv = cpm_txn_cancel_target(st);
	if (!inv) {
		cpm_core__reply(c, st, 481, NULL, NULL);
		return;
	}
	/* §16.10: answer the CANCEL, then cancel every pending branch; the
	 * branches' 487s answer the INVITE. */
	cpm_core__reply(c, st, 200, NULL, NULL);
	/* the INVITE's owner is core's (a lookup or a proxy context) or a
	 * service's (the message controller storing a message an INVITE
	 * carried): a service answers its INVITE itself, a 200 after the
	 * CANCEL being allowed (§9.2) */
	if (cpm_txn_owner(inv) && !cpm_txn_owned_by(inv, ctx_gone) &&
	    !cpm_txn_owned_by(inv, cpm_core__pending_gone))
		return;
	struct cpm_core_pending *p = cpm_txn_owner(inv);
	if (p && p->kind == CPM_CORE_PENDING_PROXY) {
		struct proxy_ctx *x = (struct proxy_ctx *)p;
		x->cancelled = true;
		cancel_others(x, NULL, NULL);
	} else if (!cpm_txn_has_final(inv)) {
		/* still authenticating or looking up: end it here */
		if (p) {
			p->st = NULL;
			cpm_txn_set_owner(inv, NULL, NULL);
		}
		cpm_core__reply(c, inv, 487, NULL, NULL);
	}
}

void cpm_core__proxy_ack(struct cpm_core *c, const struct cpm_sip_msg *req,
			 const struct cpm_net_dest *src)
{
	struct cpm_sip_addr next;
	size_t npop = count_my_routes(c, req, &next);
	struct cpm_net_dest d;
	int rc;
	if (next.uri.len) {
		struct cpm_sip_uri u;
		rc = cpm_sip_uri_parse(next.uri, &u);
		if (!rc)
			rc = cpm_core__uri_dest(c, &u, &d);
	} else {
		struct cpm_sip_uri u;
		rc = cpm_sip_uri_parse(req->ruri, &u);
		if (!rc && cpm_core__uri_is_me(c, &u)) {
			/* an ACK for us: absorbed, and told to the services */
			if (c->hooks.ack)
				c->hooks.ack(c->hooks_arg, req);
			return;
		}
		struct cpm_core_binding *b = cpm_core__loc_by_contact(&c->loc, req->ruri);
		if (b)
			rc = branch_dest_binding(c, b, &d);
		else if (!rc)
			rc = cpm_core__uri_dest(c, &u, &d);
	}
	if (rc || req->max_forwards == 0)
		return;
	const struct cpm_net_listener *out_l = cpm_core__listener_for(c, &d);
	if (!out_l)
		return;
	char branch[CPM_TXN_BRANCH_MAX];
	branch_make(loop_hash(req), branch);
	struct cpm_buf b;
	cpm_buf_init(&b, c->lim.max_msg + 2048);
	if (build_request(c, req, req->ruri, npop, NULL, out_l, src->lsn, branch, &b) == 0)
		cpm_txn_send_stateless(c->txn, &d, b.p, b.len);
	cpm_buf_free(&b);
}

void cpm_core__proxy_stray(struct cpm_core *c, const struct cpm_sip_msg *resp,
			   const struct cpm_net_dest *src)
{
	/* Only 2xx to INVITE are forwarded (RFC 6026 §8.3); the top Via must
	 * be ours and the next one says where to. */
	if (resp->status < 200 || resp->status >= 300 || resp->cseq.method != CPM_SIP_INVITE)
		return;
	if (!via_is_me(c, &resp->via))
		return;
	struct cpm_sip_via next;
	bool found = false, first = true;
	for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(resp, CPM_SIP_H_VIA); h && !found;
	     h = cpm_sip_msg_hdr_next(resp, h)) {
		struct cpm_str cur = h->value;
		while (cpm_sip_via_next(&cur, &next) == 1) {
			if (first) {
				first = false;
				continue;
			}
			found = true;
			break;
		}
	}
	if (!found)
		return;
	struct cpm_net_dest d;
	memset(&d, 0, sizeof d);
	d.proto = cpm_net_proto_parse(next.transport);
	if (!d.proto)
		return;
	struct cpm_str host = next.received.len ? next.received : next.host;
	uint16_t port = next.has_port ? next.port : 5060;
	if (next.rport.len) {
		uint64_t p;
		if (cpm_str_to_u64(next.rport, 65535, &p) == 0)
			port = (uint16_t)p;
	}
	if (cpm_net_addr_from_host(host, port, &d.peer))
		return;
	struct cpm_buf b;
	cpm_buf_init(&b, resp->len + 64);
	if (strip_via(resp, &b) == 0)
		cpm_txn_send_stateless(c->txn, &d, b.p, b.len);
	cpm_buf_free(&b);
}
