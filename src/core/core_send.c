/* Requests the server itself sends to a registered contact (the message
 * controller's deliveries of stored messages), and the hooks through which
 * core hands undeliverable requests and new bindings to the services. */
#include "core/core_int.h"

#include <stdlib.h>
#include <string.h>

struct send_ctx {
	struct send_ctx *prev, *next;
	struct cpm_core *c;
	cpm_core_sent_cb *cb;
	void *arg;
	struct cpm_txn *ct;
};

void cpm_core_set_hooks(struct cpm_core *c, const struct cpm_core_hooks *h, void *arg)
{
	if (h)
		c->hooks = *h;
	else
		memset(&c->hooks, 0, sizeof c->hooks);
	c->hooks_arg = arg;
}

int cpm_core_add_service(struct cpm_core *c, cpm_core_service_cb *cb, void *arg)
{
	if (c->nservices == CPM_CORE_MAX_SERVICES)
		return CPM_ELIMIT;
	c->services[c->nservices].cb = cb;
	c->services[c->nservices].arg = arg;
	c->nservices++;
	return 0;
}

int cpm_core_on_binding(struct cpm_core *c, cpm_core_binding_cb *cb, void *arg)
{
	if (c->nobservers == CPM_CORE_MAX_OBSERVERS)
		return CPM_ELIMIT;
	c->observers[c->nobservers].cb = cb;
	c->observers[c->nobservers].arg = arg;
	c->nobservers++;
	return 0;
}

void cpm_core__binding_event(struct cpm_core *c, const char *aor, const char *contact,
			     const char *device, enum cpm_core_binding_event ev)
{
	if (!c->nobservers)
		return;
	unsigned live = 0;
	struct cpm_core_aor *a = cpm_core__loc_aor(&c->loc, aor, false);
	int64_t now = cpm_wall_s();
	for (struct cpm_core_binding *b = a ? a->bindings : NULL; b; b = b->next)
		if (b->expires > now)
			live++;
	for (int i = 0; i < c->nobservers; i++)
		c->observers[i].cb(c->observers[i].arg, aor, contact, device ? device : "", ev,
				   live);
}

bool cpm_core__offer(struct cpm_core *c, struct cpm_txn *st, const struct cpm_sip_msg *req,
		     const struct cpm_net_dest *src, const char *aor, const char *from_aor)
{
	for (int i = 0; i < c->nservices; i++)
		if (c->services[i].cb(c->services[i].arg, st, req, src, aor, from_aor))
			return true;
	return false;
}

struct cpm_store_worker *cpm_core_store(struct cpm_core *c)
{
	return c->store;
}

uv_loop_t *cpm_core_loop(struct cpm_core *c)
{
	return c->loop;
}

const struct cpm_conf *cpm_core_conf(const struct cpm_core *c)
{
	return c->conf;
}

static struct cpm_core_binding *find(struct cpm_core *c, const char *aor, const char *contact)
{
	struct cpm_core_aor *a = cpm_core__loc_aor(&c->loc, aor, false);
	int64_t now = cpm_wall_s();
	for (struct cpm_core_binding *b = a ? a->bindings : NULL; b; b = b->next)
		if (b->expires > now && strcmp(b->contact, contact) == 0)
			return b;
	return NULL;
}

void cpm_core_foreach_binding(struct cpm_core *c,
			      void (*cb)(void *arg, const char *aor, const char *contact,
					 const char *device),
			      void *arg)
{
	int64_t now = cpm_wall_s();
	for (size_t i = 0; i < c->loc.naor_buckets; i++)
		for (struct cpm_core_aor *a = c->loc.aors[i]; a; a = a->hnext)
			for (struct cpm_core_binding *b = a->bindings; b; b = b->next)
				if (b->expires > now)
					cb(arg, a->aor, b->contact, b->instance);
}

void cpm_core_foreach_binding_of(struct cpm_core *c, const char *aor,
				 void (*cb)(void *arg, const char *aor, const char *contact,
					    const char *device),
				 void *arg)
{
	struct cpm_core_aor *a = cpm_core__loc_aor(&c->loc, aor, false);
	int64_t now = cpm_wall_s();
	for (struct cpm_core_binding *b = a ? a->bindings : NULL; b; b = b->next)
		if (b->expires > now)
			cb(arg, a->aor, b->contact, b->instance);
}

bool cpm_core_binding_alive(struct cpm_core *c, const char *aor, const char *contact)
{
	return find(c, aor, contact) != NULL;
}

static void unlink_ctx(struct send_ctx *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		x->c->sends = x->next;
	if (x->next)
		x->next->prev = x->prev;
}

static void on_resp(void *arg, struct cpm_txn *ct, const struct cpm_sip_msg *resp, int status)
{
	struct send_ctx *x = arg;
	if (status < 200)
		return;
	unlink_ctx(x);
	if (x->cb)
		x->cb(x->arg, status, resp);
	free(x);
}

void cpm_core__send_free_all(struct cpm_core *c)
{
	/* the transaction layer is gone: no answer will come */
	while (c->sends) {
		struct send_ctx *x = c->sends;
		unlink_ctx(x);
		free(x);
	}
}

int cpm_core__request_start(struct cpm_core *c, const struct cpm_net_dest *d, const char *ruri,
			    const char *route, const char *method, const char *branch,
			    struct cpm_buf *b)
{
	const struct cpm_net_listener *l = cpm_core__listener_for(c, d);
	if (!l)
		return CPM_EADDR;
	char fresh[CPM_TXN_BRANCH_MAX];
	if (!branch) {
		cpm_txn_branch_new(fresh);
		branch = fresh;
	}
	int rc = cpm_buf_printf(b, "%s %s SIP/2.0\r\nVia: SIP/2.0/%s %s:%u;branch=%s;rport\r\n"
				   "Max-Forwards: 70\r\n",
				method, ruri, cpm_net_proto_name(l->proto), l->host, l->port,
				branch);
	if (!rc && route && route[0]) /* RFC 3327 §5.4, RFC 3261 §12.2.1.1 */
		rc = cpm_buf_printf(b, "Route: %s\r\n", route);
	return rc;
}

/* Build and send one request of the server's own to d. */
static int send_request(struct cpm_core *c, const struct cpm_net_dest *dest, const char *ruri,
			const char *route, const char *method, const char *hdrs,
			struct cpm_str ctype, struct cpm_str body, cpm_core_sent_cb *cb,
			void *arg)
{
	struct cpm_net_dest d = *dest;
	struct cpm_buf buf;
	cpm_buf_init(&buf, c->lim.max_msg);
	int rc = cpm_core__request_start(c, &d, ruri, route, method, NULL, &buf);
	if (!rc)
		rc = cpm_buf_puts(&buf, hdrs);
	if (!rc)
		rc = cpm_sip_print_body(&buf, ctype, body);
	if (!rc)
		rc = cpm_core__send_buf(c, &d, buf.p, buf.len, cb, arg);
	cpm_buf_free(&buf);
	return rc;
}

int cpm_core__send_buf(struct cpm_core *c, const struct cpm_net_dest *d, const char *buf,
		       size_t len, cpm_core_sent_cb *cb, void *arg)
{
	if (!c->txn)
		return CPM_ESTATE;
	struct send_ctx *x = calloc(1, sizeof *x);
	if (!x)
		return CPM_ENOMEM;
	x->c = c;
	x->cb = cb;
	x->arg = arg;
	int rc = cpm_txn_request(c->txn, d, buf, len, on_resp, x, &x->ct);
	if (rc) {
		free(x);
		return rc;
	}
	x->next = c->sends;
	if (x->next)
		x->next->prev = x;
	c->sends = x;
	return 0;
}

int cpm_core_send_to_contact(struct cpm_core *c, const char *aor, const char *contact,
			     const char *method, const char *hdrs, struct cpm_str ctype,
			     struct cpm_str body, cpm_core_sent_cb *cb, void *arg)
{
	if (c->stopping || !c->txn)
		return CPM_ESTATE;
	struct cpm_core_binding *b = find(c, aor, contact);
	if (!b)
		return CPM_ENOTFOUND;
	struct cpm_net_dest d;
	int rc = cpm_core__binding_dest(c, b, &d);
	if (rc)
		return rc;
	return send_request(c, &d, b->contact, b->path, method, hdrs, ctype, body, cb, arg);
}

int cpm_core__dialog_dest(struct cpm_core *c, const char *target, const char *route,
			  const struct cpm_net_dest *flow, struct cpm_net_dest *out)
{
	struct cpm_sip_uri u;
	if (route && route[0]) {
		struct cpm_str cur = cpm_str_from_cstr(route);
		struct cpm_sip_addr a;
		if (cpm_sip_addr_next(&cur, &a) != 1 || cpm_sip_uri_parse(a.uri, &u))
			return CPM_EPARSE;
		return cpm_core__uri_dest(c, &u, out);
	}
	if (flow && (flow->proto == CPM_NET_UDP || cpm_net_conn_alive(c->net, flow->conn_id))) {
		*out = *flow;
		out->lsn = NULL;
		return 0;
	}
	int rc = cpm_sip_uri_parse(cpm_str_from_cstr(target), &u);
	if (!rc)
		rc = cpm_core__uri_dest(c, &u, out);
	return rc;
}

int cpm_core_send_in_dialog(struct cpm_core *c, const char *ruri, const char *route,
			    const struct cpm_net_dest *flow, const char *method, const char *hdrs,
			    struct cpm_str ctype, struct cpm_str body, cpm_core_sent_cb *cb,
			    void *arg)
{
	if (c->stopping || !c->txn)
		return CPM_ESTATE;
	struct cpm_net_dest d;
	int rc = cpm_core__dialog_dest(c, ruri, route, flow, &d);
	if (rc)
		return rc;
	return send_request(c, &d, ruri, route, method, hdrs, ctype, body, cb, arg);
}

int cpm_core_send_to_uri(struct cpm_core *c, const char *ruri, const struct cpm_net_dest *flow,
			 const char *method, const char *hdrs, struct cpm_str ctype,
			 struct cpm_str body, cpm_core_sent_cb *cb, void *arg)
{
	return cpm_core_send_in_dialog(c, ruri, NULL, flow, method, hdrs, ctype, body, cb, arg);
}
