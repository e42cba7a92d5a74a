/* Registrar (RFC 3261 §10.3, RFC 3327 Path, RFC 5626 instance/reg-id):
 * authenticate, validate every Contact, apply the changes to the location
 * table, persist them through the store worker and answer 200 only once
 * they are committed, listing every binding of the AoR. */
#include "core/core_int.h"

#include <stdlib.h>
#include <string.h>

struct reg_change {
	bool del;
	struct cpm_store_binding b;
};

struct reg_job {
	struct cpm_core_pending p;
	struct cpm_net_dest src;
	char aor[256];
	bool trusted;
	bool have_cred;
	struct cpm_sip_auth cred;
	/* user lookup */
	int user_rc;
	struct cpm_store_user user;
	/* persistence */
	bool del_all;
	bool outbound; /* reg-id with Supported: outbound */
	size_t nchanges;
	struct reg_change *changes;
	int store_rc;
};

static void job_free(struct reg_job *j)
{
	cpm_core__pending_detach(&j->p);
	free(j->changes);
	free(j);
}

int cpm_core__source_print(const struct cpm_net_dest *d, char *out, size_t n)
{
	char a[CPM_NET_ADDR_STRLEN];
	cpm_net_addr_print(&d->peer, a, sizeof a);
	return snprintf(out, n, "%s:%s", d->proto == CPM_NET_TCP ? "tcp" : "udp", a);
}

static int source_parse(const char *s, struct cpm_net_dest *d)
{
	memset(d, 0, sizeof *d);
	if (strncmp(s, "udp:", 4) == 0)
		d->proto = CPM_NET_UDP;
	else if (strncmp(s, "tcp:", 4) == 0)
		d->proto = CPM_NET_TCP;
	else
		return CPM_EPARSE;
	const char *hp = s + 4;
	const char *colon = strrchr(hp, ':');
	if (!colon)
		return CPM_EPARSE;
	uint64_t port;
	if (cpm_str_to_u64(cpm_str_from_cstr(colon + 1), 65535, &port))
		return CPM_EPARSE;
	return cpm_net_addr_from_host((struct cpm_str){ hp, (size_t)(colon - hp) },
				      (uint16_t)port, &d->peer);
}

static void binding_to_store(const struct cpm_core_binding *b,
			     struct cpm_store_binding *o)
{
	memset(o, 0, sizeof *o);
	snprintf(o->aor, sizeof o->aor, "%s", b->aor->aor);
	snprintf(o->contact, sizeof o->contact, "%s", b->contact);
	snprintf(o->instance, sizeof o->instance, "%s", b->instance);
	o->reg_id = b->reg_id;
	snprintf(o->path, sizeof o->path, "%s", b->path);
	if (b->has_flow)
		cpm_core__source_print(&b->flow, o->source, sizeof o->source);
	o->q1000 = b->q1000;
	o->expires = b->expires;
	snprintf(o->call_id, sizeof o->call_id, "%s", b->call_id);
	o->cseq = b->cseq;
	snprintf(o->user_agent, sizeof o->user_agent, "%s", b->user_agent);
}

/* ----------------------------------------------------------- load / sweep */

static int load_one(void *arg, const struct cpm_store_binding *sb)
{
	struct cpm_core *c = arg;
	struct cpm_core_aor *a = cpm_core__loc_aor(&c->loc, sb->aor, true);
	if (!a)
		return CPM_ENOMEM;
	struct cpm_core_binding b;
	memset(&b, 0, sizeof b);
	snprintf(b.contact, sizeof b.contact, "%s", sb->contact);
	snprintf(b.instance, sizeof b.instance, "%s", sb->instance);
	b.reg_id = sb->reg_id;
	snprintf(b.path, sizeof b.path, "%s", sb->path);
	snprintf(b.call_id, sizeof b.call_id, "%s", sb->call_id);
	b.cseq = sb->cseq;
	snprintf(b.user_agent, sizeof b.user_agent, "%s", sb->user_agent);
	b.q1000 = sb->q1000;
	b.expires = sb->expires;
	b.has_flow = sb->source[0] && source_parse(sb->source, &b.flow) == 0;
	return cpm_core__loc_add(&c->loc, a, &b) ? 0 : CPM_ENOMEM;
}

int cpm_core__reg_load(struct cpm_core *c, const char *url)
{
	struct cpm_store *s;
	struct cpm_store_options so = CPM_STORE_OPTIONS_DEFAULT;
	so.busy_timeout_ms = c->conf->store.busy_timeout;
	int rc = cpm_store_open_ex(url, &so, &s);
	if (rc)
		return rc;
	rc = cpm_store_binding_purge(s, cpm_wall_s());
	if (!rc)
		rc = cpm_store_binding_list(s, cpm_wall_s(), load_one, c);
	cpm_store_close(s);
	if (!rc)
		cpm_logn(NULL, "location: %zu bindings of %zu AoRs restored",
			 c->loc.nbindings, c->loc.naors);
	return rc;
}

static void purge_work(struct cpm_store *s, void *arg)
{
	int64_t *now = arg;
	cpm_store_binding_purge(s, *now);
}

static void purge_done(void *arg)
{
	free(arg);
}

struct expired_one {
	char aor[256], contact[512], device[256];
};

struct expired_list {
	struct expired_one *v;
	size_t n, cap;
};

static void expired_log(void *arg, const struct cpm_core_binding *b)
{
	struct expired_list *l = arg;
	cpm_logi(b->call_id, "binding expired: %s -> %s", b->aor->aor, b->contact);
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		struct expired_one *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return;
		l->v = v;
		l->cap = cap;
	}
	struct expired_one *e = &l->v[l->n++];
	snprintf(e->aor, sizeof e->aor, "%s", b->aor->aor);
	snprintf(e->contact, sizeof e->contact, "%s", b->contact);
	snprintf(e->device, sizeof e->device, "%s", b->instance);
}

void cpm_core__reg_sweep(struct cpm_core *c)
{
	static unsigned tick;
	int64_t now = cpm_wall_s();
	struct expired_list l = { 0 };
	cpm_core__loc_expire(&c->loc, now, expired_log, c->nobservers ? &l : &l);
	/* told once the location no longer holds them (live_left is right) */
	for (size_t i = 0; i < l.n; i++)
		cpm_core__binding_event(c, l.v[i].aor, l.v[i].contact, l.v[i].device,
					CPM_CORE_BINDING_EXPIRED);
	free(l.v);
	if (++tick % 60 == 0) {
		int64_t *arg = malloc(sizeof *arg);
		if (arg) {
			*arg = now;
			if (cpm_core__store_submit(c, purge_work, purge_done, arg))
				free(arg);
		}
	}
}

/* ------------------------------------------------------------ the answer */

static void reply_ok(struct cpm_core *c, struct reg_job *j)
{
	struct cpm_txn *st = j->p.st;
	const struct cpm_sip_msg *req = cpm_txn_req(st);
	struct cpm_buf b;
	cpm_buf_init(&b, 65536);
	int64_t now = cpm_wall_s();
	struct cpm_core_aor *a = cpm_core__loc_aor(&c->loc, j->aor, false);
	int rc = 0;
	for (struct cpm_core_binding *x = a ? a->bindings : NULL; x && !rc; x = x->next) {
		rc = cpm_buf_printf(&b, "Contact: <%s>;expires=%lld", x->contact,
				    (long long)(x->expires > now ? x->expires - now : 0));
		if (!rc && x->q1000 != 1000)
			rc = cpm_buf_printf(&b, ";q=%d.%03d", x->q1000 / 1000, x->q1000 % 1000);
		if (!rc && x->instance[0])
			rc = cpm_buf_printf(&b, ";+sip.instance=\"%s\"", x->instance);
		if (!rc && x->reg_id)
			rc = cpm_buf_printf(&b, ";reg-id=%d", x->reg_id);
		if (!rc)
			rc = cpm_buf_puts(&b, "\r\n");
	}
	/* RFC 3327 §5.3: echo Path when the UA supports it */
	if (!rc && cpm_sip_msg_hdr(req, CPM_SIP_H_PATH) &&
	    cpm_sip_msg_hdr(req, CPM_SIP_H_SUPPORTED) &&
	    cpm_sip_list_has(cpm_sip_msg_hdr(req, CPM_SIP_H_SUPPORTED)->value, "path"))
		for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(req, CPM_SIP_H_PATH);
		     h && !rc; h = cpm_sip_msg_hdr_next(req, h))
			rc = cpm_buf_printf(&b, "Path: %.*s\r\n", CPM_STR_FMT(h->value));
	/* RFC 5626 §6: a registration that asked for outbound gets it */
	if (!rc && j->outbound)
		rc = cpm_buf_puts(&b, "Require: outbound\r\n");
	if (!rc) {
		char date[CPM_DATE_LEN];
		cpm_fmt_date(now, date);
		rc = cpm_buf_printf(&b, "Date: %s\r\n", date);
	}
	if (rc)
		cpm_core__reply(c, st, 500, "Too Many Bindings To List", NULL);
	else
		cpm_core__reply(c, st, 200, NULL, b.p);
	cpm_buf_free(&b);
}

static void persist_work(struct cpm_store *s, void *arg)
{
	struct reg_job *j = arg;
	int rc = 0;
	if (j->del_all)
		rc = cpm_store_binding_del_aor(s, j->aor);
	for (size_t i = 0; i < j->nchanges && (!rc || rc == CPM_ENOTFOUND); i++) {
		if (j->changes[i].del)
			rc = cpm_store_binding_del(s, j->aor, j->changes[i].b.contact);
		else
			rc = cpm_store_binding_put(s, &j->changes[i].b);
	}
	j->store_rc = rc == CPM_ENOTFOUND ? 0 : rc;
}

static void persist_done(void *arg)
{
	struct reg_job *j = arg;
	if (j->p.st) {
		if (j->store_rc) {
			cpm_loge(j->aor, "cannot save bindings: %s",
				 cpm_strerror(j->store_rc));
			cpm_core__reply(j->p.core, j->p.st, 500, "Storage Failure",
					"Retry-After: 5\r\n");
		} else {
			reply_ok(j->p.core, j);
			/* the services learn about the device now: stored
			 * messages may wait for it (issue: delivery on REGISTER) */
			struct cpm_core *c = j->p.core;
			for (size_t i = 0; i < j->nchanges && c->hooks.registered; i++)
				if (!j->changes[i].del)
					c->hooks.registered(c->hooks_arg, j->aor,
							    j->changes[i].b.contact,
							    j->changes[i].b.instance);
			for (size_t i = 0; i < j->nchanges; i++)
				cpm_core__binding_event(c, j->aor, j->changes[i].b.contact,
							j->changes[i].b.instance,
							j->changes[i].del ? CPM_CORE_BINDING_REMOVED
									  : CPM_CORE_BINDING_SAVED);
		}
	}
	job_free(j);
}

/* ------------------------------------------------------ contact handling */

struct contact_req {
	struct cpm_str uri;
	int64_t expires; /* seconds from now */
	int q1000;
	struct cpm_str instance;
	int reg_id;
};

static int parse_q(struct cpm_str v)
{
	/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) */
	if (!v.len || (v.s[0] != '0' && v.s[0] != '1'))
		return -1;
	int q = (v.s[0] - '0') * 1000;
	if (v.len > 1) {
		if (v.s[1] != '.' || v.len > 5)
			return -1;
		int scale = 100;
		for (size_t i = 2; i < v.len; i++, scale /= 10) {
			if (v.s[i] < '0' || v.s[i] > '9')
				return -1;
			q += (v.s[i] - '0') * scale;
		}
	}
	return q > 1000 ? -1 : q;
}

/* RFC 3261 §10.3 step 7: a Contact matches a binding under the URI
 * comparison rules of §19.1.4 (host case, parameter order, escapes). */
static bool contact_eq(struct cpm_str uri, const char *contact)
{
	if (cpm_str_eq_cstr(uri, contact))
		return true;
	struct cpm_sip_uri a, b;
	if (cpm_sip_uri_parse(uri, &a) || cpm_sip_uri_parse(cpm_str_from_cstr(contact), &b))
		return false;
	return cpm_sip_uri_eq(&a, &b);
}

static struct cpm_core_binding *find_binding(struct cpm_core_aor *a,
					     const struct contact_req *cr)
{
	for (struct cpm_core_binding *b = a ? a->bindings : NULL; b; b = b->next) {
		/* RFC 5626 §6: same instance and reg-id = the same flow */
		if (cr->instance.len && cpm_str_eq_cstr(cr->instance, b->instance) &&
		    cr->reg_id == b->reg_id)
			return b;
		if (contact_eq(cr->uri, b->contact))
			return b;
	}
	return NULL;
}

#define MAX_REG_CONTACTS 32

static void reg_process(struct cpm_core *c, struct reg_job *j)
{
	struct cpm_txn *st = j->p.st;
	const struct cpm_sip_msg *req = cpm_txn_req(st);
	const struct cpm_conf *cf = c->conf;
	int64_t now = cpm_wall_s();

	int64_t hdr_expires = -1;
	const struct cpm_sip_hdr *eh = cpm_sip_msg_hdr(req, CPM_SIP_H_EXPIRES);
	if (eh) {
		uint64_t v;
		if (cpm_str_to_u64(eh->value, UINT32_MAX, &v) == 0)
			hdr_expires = (int64_t)v;
		else
			hdr_expires = cf->registrar.default_expires; /* §10.3 lenient */
	}

	struct contact_req crs[MAX_REG_CONTACTS];
	size_t ncr = 0;
	bool star = false;
	for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(req, CPM_SIP_H_CONTACT); h;
	     h = cpm_sip_msg_hdr_next(req, h)) {
		struct cpm_str cur = h->value;
		struct cpm_sip_addr a;
		int r;
		while ((r = cpm_sip_addr_next(&cur, &a)) == 1) {
			if (a.star) {
				star = true;
				continue;
			}
			if (ncr == MAX_REG_CONTACTS) {
				cpm_core__reply(c, st, 403, "Too Many Contacts", NULL);
				goto out;
			}
			struct cpm_sip_uri cu;
			int urc = cpm_sip_uri_parse(a.uri, &cu);
			if (urc < 0 && urc != CPM_ESCHEME) {
				cpm_core__reply(c, st, 400, "Bad Contact URI", NULL);
				goto out;
			}
			struct contact_req *cr = &crs[ncr++];
			memset(cr, 0, sizeof *cr);
			cr->uri = a.uri;
			struct cpm_str v;
			cr->expires = hdr_expires >= 0 ? hdr_expires
						       : cf->registrar.default_expires;
			if (cpm_sip_param_find(a.params, "expires", &v)) {
				uint64_t e;
				if (cpm_str_to_u64(cpm_sip_unquote(v), UINT32_MAX, &e) == 0)
					cr->expires = (int64_t)e;
			}
			cr->q1000 = 1000;
			if (cpm_sip_param_find(a.params, "q", &v)) {
				cr->q1000 = parse_q(v);
				if (cr->q1000 < 0) {
					cpm_core__reply(c, st, 400, "Bad q Value", NULL);
					goto out;
				}
			}
			if (cpm_sip_param_find(a.params, "+sip.instance", &v))
				cr->instance = cpm_sip_unquote(v);
			if (cpm_sip_param_find(a.params, "reg-id", &v)) {
				uint64_t rid;
				if (cpm_str_to_u64(v, 65535, &rid) == 0)
					cr->reg_id = (int)rid;
				const struct cpm_sip_hdr *sup =
					cpm_sip_msg_hdr(req, CPM_SIP_H_SUPPORTED);
				if (cr->reg_id && cr->instance.len && sup &&
				    cpm_sip_list_has(sup->value, "outbound"))
					j->outbound = true;
			}
			if (cr->uri.len >= sizeof ((struct cpm_core_binding *)0)->contact ||
			    cr->instance.len >= sizeof ((struct cpm_core_binding *)0)->instance) {
				cpm_core__reply(c, st, 400, "Contact Too Long", NULL);
				goto out;
			}
		}
		if (r < 0) {
			cpm_core__reply(c, st, 400, "Bad Contact", NULL);
			goto out;
		}
	}

	struct cpm_core_aor *a = cpm_core__loc_aor(&c->loc, j->aor, false);
	char callid[256];
	cpm_str_copy(req->call_id.len < sizeof callid ? req->call_id : CPM_STR(""),
		     callid, sizeof callid);

	if (star) {
		/* RFC 3261 §10.2.2: "*" only alone and with Expires: 0 */
		if (ncr || hdr_expires != 0) {
			cpm_core__reply(c, st, 400, "Invalid Wildcard Contact", NULL);
			goto out;
		}
		for (struct cpm_core_binding *b = a ? a->bindings : NULL; b; b = b->next)
			if (strcmp(b->call_id, callid) == 0 && req->cseq.num <= b->cseq) {
				cpm_core__reply(c, st, 500, "Stale CSeq", "Retry-After: 1\r\n");
				goto out;
			}
		while (a && a->bindings) {
			struct cpm_core_aor *keep = a->nbindings > 1 ? a : NULL;
			cpm_core__loc_remove(&c->loc, a->bindings);
			a = keep;
		}
		j->del_all = true;
		cpm_logi(callid, "unregistered all bindings of %s", j->aor);
		goto persist;
	}

	/* validate the whole request before changing anything (§10.3 step 6) */
	size_t remaining = a ? a->nbindings : 0;
	for (size_t i = 0; i < ncr; i++) {
		struct contact_req *cr = &crs[i];
		if (cr->expires > 0 && cr->expires < cf->registrar.min_expires) {
			char extra[64];
			snprintf(extra, sizeof extra, "Min-Expires: %d\r\n",
				 cf->registrar.min_expires);
			cpm_core__reply(c, st, 423, NULL, extra);
			goto out;
		}
		if (cr->expires > cf->registrar.max_expires)
			cr->expires = cf->registrar.max_expires;
		struct cpm_core_binding *b = find_binding(a, cr);
		if (b && strcmp(b->call_id, callid) == 0 && req->cseq.num <= b->cseq) {
			cpm_core__reply(c, st, 500, "Stale CSeq", "Retry-After: 1\r\n");
			goto out;
		}
		if (!b && cr->expires > 0)
			remaining++;
		else if (b && cr->expires == 0)
			remaining--;
	}
	if (remaining > (size_t)cf->registrar.max_contacts) {
		cpm_core__reply(c, st, 403, "Too Many Contacts", NULL);
		goto out;
	}

	/* apply */
	j->changes = calloc(2 * ncr + 1, sizeof *j->changes);
	if (!j->changes) {
		cpm_core__reply(c, st, 500, "Out Of Memory", NULL);
		goto out;
	}
	char path[1024] = "";
	size_t plen = 0;
	for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(req, CPM_SIP_H_PATH); h;
	     h = cpm_sip_msg_hdr_next(req, h)) {
		if (plen + h->value.len + 2 >= sizeof path)
			break;
		if (plen)
			path[plen++] = ',';
		memcpy(path + plen, h->value.s, h->value.len);
		plen += h->value.len;
		path[plen] = '\0';
	}
	const struct cpm_sip_hdr *ua = cpm_sip_msg_hdr(req, CPM_SIP_H_USER_AGENT);
	for (size_t i = 0; i < ncr; i++) {
		struct contact_req *cr = &crs[i];
		a = cpm_core__loc_aor(&c->loc, j->aor, cr->expires > 0);
		struct cpm_core_binding *b = find_binding(a, cr);
		struct reg_change *ch = &j->changes[j->nchanges++];
		if (cr->expires == 0) {
			ch->del = true;
			cpm_str_copy(cr->uri, ch->b.contact, sizeof ch->b.contact);
			if (b) {
				snprintf(ch->b.contact, sizeof ch->b.contact, "%s", b->contact);
				cpm_logi(callid, "unregistered %s -> %s", j->aor, b->contact);
				cpm_core__loc_remove(&c->loc, b);
			}
			continue;
		}
		if (!a) {
			cpm_core__reply(c, st, 500, "Out Of Memory", NULL);
			goto out;
		}
		struct cpm_core_binding nb;
		memset(&nb, 0, sizeof nb);
		cpm_str_copy(cr->uri, nb.contact, sizeof nb.contact);
		cpm_str_copy(cr->instance, nb.instance, sizeof nb.instance);
		nb.reg_id = cr->reg_id;
		snprintf(nb.path, sizeof nb.path, "%s", path);
		snprintf(nb.call_id, sizeof nb.call_id, "%s", callid);
		nb.cseq = req->cseq.num;
		if (ua)
			cpm_str_copy(ua->value.len < sizeof nb.user_agent ? ua->value
									  : CPM_STR(""),
				     nb.user_agent, sizeof nb.user_agent);
		nb.q1000 = cr->q1000;
		nb.expires = now + cr->expires;
		nb.flow = j->src;
		nb.has_flow = true;
		if (b && strcmp(b->contact, nb.contact) != 0) {
			/* same instance and reg-id, new contact (RFC 5626 §6):
			 * the old row goes too */
			struct reg_change *old = &j->changes[j->nchanges++];
			old->del = true;
			snprintf(old->b.contact, sizeof old->b.contact, "%s", b->contact);
		}
		if (b)
			cpm_core__loc_remove(&c->loc, b);
		a = cpm_core__loc_aor(&c->loc, j->aor, true);
		struct cpm_core_binding *added = a ? cpm_core__loc_add(&c->loc, a, &nb) : NULL;
		if (!added) {
			cpm_core__reply(c, st, 500, "Out Of Memory", NULL);
			goto out;
		}
		binding_to_store(added, &ch->b);
		cpm_logi(callid, "registered %s -> %s for %llds", j->aor, nb.contact,
			 (long long)cr->expires);
	}
persist:
	/* 200 only after the commit: a binding we acknowledged survives a
	 * crash (issue: bindings persist and survive a restart). */
	if (cpm_core__store_submit(c, persist_work, persist_done, j) == 0)
		return;
	cpm_core__reply(c, st, 500, "Storage Unavailable", NULL);
out:
	job_free(j);
}

/* ----------------------------------------------------------- auth steps */

static void user_work(struct cpm_store *s, void *arg)
{
	struct reg_job *j = arg;
	j->user_rc = cpm_store_user_get(s, j->aor, &j->user);
}

static void user_done(void *arg)
{
	struct reg_job *j = arg;
	struct cpm_core *c = j->p.core;
	struct cpm_txn *st = j->p.st;
	if (!st) {
		job_free(j);
		return;
	}
	const struct cpm_sip_msg *req = cpm_txn_req(st);
	const char *realm = cpm_core__realm(c, j->aor);
	if (j->user_rc == CPM_ENOTFOUND && !j->trusted) {
		/* Same answer as a wrong password: no user enumeration. */
		cpm_logi(j->aor, "REGISTER for unknown user");
		cpm_core__reply(c, st, 403, NULL, NULL);
		job_free(j);
		return;
	}
	if (j->user_rc && j->user_rc != CPM_ENOTFOUND) {
		cpm_core__reply(c, st, 500, "Storage Failure", "Retry-After: 5\r\n");
		job_free(j);
		return;
	}
	if (j->have_cred) {
		enum cpm_core_auth_result r = cpm_core__auth_verify(&c->auth, req->method_s, &j->cred,
								  &j->user);
		if (r == CPM_CORE_AUTH_STALE) {
			cpm_core__challenge(c, st, realm, false, true);
			job_free(j);
			return;
		}
		if (r == CPM_CORE_AUTH_BAD) {
			cpm_core__reply(c, st, 400, "Bad Credentials", NULL);
			job_free(j);
			return;
		}
		if (r != CPM_CORE_AUTH_OK) {
			char peer[CPM_NET_ADDR_STRLEN];
			cpm_net_addr_print(&j->src.peer, peer, sizeof peer);
			cpm_logn(j->aor, "REGISTER authentication failed from %s", peer);
			cpm_core__reply(c, st, 403, NULL, NULL);
			job_free(j);
			return;
		}
	}
	reg_process(c, j);
}

void cpm_core__reg_request(struct cpm_core *c, struct cpm_txn *st,
			   const struct cpm_sip_msg *req,
			   const struct cpm_net_dest *src)
{
	struct reg_job *j = calloc(1, sizeof *j);
	if (!j) {
		cpm_core__reply(c, st, 500, "Out Of Memory", NULL);
		return;
	}
	cpm_core__pending_attach(&j->p, c, st);
	j->src = *src;
	int rc = cpm_core__aor_local(c, req->to.uri, j->aor, sizeof j->aor);
	if (rc == CPM_ESCHEME) {
		cpm_core__reply(c, st, 416, NULL, NULL);
		goto fail;
	}
	if (rc == CPM_ENOTFOUND) {
		/* §10.3 step 5: an AoR outside our domains is not found */
		cpm_core__reply(c, st, 404, "Domain Not Served Here", NULL);
		goto fail;
	}
	if (rc) {
		cpm_core__reply(c, st, 400, "Bad To URI", NULL);
		goto fail;
	}
	j->trusted = cpm_conf_is_trusted(c->conf, &src->peer.u.sa);
	if (!j->trusted && c->conf->auth.challenge_register) {
		const char *realm = cpm_core__realm(c, j->aor);
		enum cpm_core_auth_result r = cpm_core__auth_find(req, false, realm, &j->cred);
		if (r == CPM_CORE_AUTH_BAD) {
			cpm_core__reply(c, st, 400, "Bad Authorization Header", NULL);
			goto fail;
		}
		if (r == CPM_CORE_AUTH_NONE) {
			cpm_core__challenge(c, st, realm, false, false);
			goto fail;
		}
		/* the authenticated identity must be the AoR's user (§10.3 step 4) */
		const char *at = strrchr(j->aor, '@');
		struct cpm_str user = { j->aor, at ? (size_t)(at - j->aor) : 0 };
		if (!cpm_str_eq(j->cred.username, user) &&
		    !cpm_str_eq_cstr(j->cred.username, j->aor)) {
			cpm_core__reply(c, st, 403, "Identity Mismatch", NULL);
			goto fail;
		}
		j->have_cred = true;
	}
	if (j->trusted) {
		/* trusted sources (an edge proxy, a test rig) may register any
		 * AoR of a served domain without a subscriber entry */
		reg_process(c, j);
		return;
	}
	if (cpm_core__store_read(c, user_work, user_done, j) == 0)
		return;
	cpm_core__reply(c, st, 500, "Storage Unavailable", NULL);
fail:
	job_free(j);
}
