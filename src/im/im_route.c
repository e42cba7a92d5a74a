/* Messages the controller routes itself, beyond "store what core could not
 * deliver":
 *  - profile forwards (R35, R111, seed 002 Fig. 1 user C): the FORWARD
 *    fate re-targets the message to the profile's sip:/sips: URI; a local
 *    target gets the whole treatment (live, then its own rules);
 *  - URI-list MESSAGEs (RFC 5365): one copy per recipient, each with the
 *    whole treatment, a 202 to the sender and a report per recipient.
 * Copies are jobs (im_int.h) whose answer goes to a fin callback instead
 * of a server transaction. */
#include "im/im_int.h"

#include <stdlib.h>
#include <string.h>

#define MAX_FORWARD_HOPS 3 /* a forward of a forward of a forward: 482 */

/* ------------------------------------------------------ live, then rules */

struct live {
	struct cpm_im__job *j;
	unsigned pending;
	bool won;
};

static void live_sent(void *arg, int status, const struct cpm_sip_msg *resp)
{
	struct live *l = arg;
	struct cpm_im__job *j = l->j;
	l->pending--;
	if (status >= 200 && status < 300 && !l->won) {
		l->won = true;
		j->ctl->n_delivered++;
		cpm_logi(j->m.call_id, "message for %s delivered live (%d)", j->m.recipient, status);
		cpm_im__reply(j, 200, "OK", NULL);
	}
	if (l->pending)
		return;
	bool won = l->won;
	free(l);
	if (!won)
		cpm_im__job_decide(j); /* nobody took it: the rules decide */
	else
		cpm_im__job_free(j);
}

static void live_one(void *arg, const char *aor, const char *contact, const char *device)
{
	struct live *l = arg;
	struct cpm_im__job *j = l->j;
	struct cpm_buf h;
	cpm_buf_init(&h, 8192);
	char to[300];
	snprintf(to, sizeof to, "sip:%s", aor);
	int rc = cpm_im__headers(&h, j->m.sender_display, j->m.sender, to, j->m.call_id,
				 j->m.date, j->m.subject, j->m.kind == CPM_STORE_MSG_REPORT);
	if (!rc)
		rc = cpm_core_send_to_contact(j->ctl->core, aor, contact, "MESSAGE", h.p,
					      cpm_str_from_cstr(j->m.content_type),
					      (struct cpm_str){ j->m.body, j->m.body_len }, live_sent,
					      l);
	cpm_buf_free(&h);
	if (!rc)
		l->pending++;
}

void cpm_im__submit(struct cpm_im__job *j)
{
	struct live *l = calloc(1, sizeof *l);
	if (!l) {
		cpm_im__reply(j, 500, "Server Internal Error", NULL);
		cpm_im__job_free(j);
		return;
	}
	l->j = j;
	cpm_core_foreach_binding_of(j->ctl->core, j->m.recipient, live_one, l);
	if (l->pending == 0) {
		free(l);
		cpm_im__job_decide(j);
	}
}

/* A copy of job j for another recipient (same sender, indicators and
 * body; a Call-ID of its own). */
static struct cpm_im__job *job_copy(const struct cpm_im__job *j, const char *aor)
{
	struct cpm_im__job *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->ctl = j->ctl;
	c->hops = j->hops;
	c->check_user = true; /* a local address, maybe nobody's */
	c->m = j->m;
	c->ind = j->ind;
	memcpy(c->payload_type, j->payload_type, sizeof c->payload_type);
	snprintf(c->m.recipient, sizeof c->m.recipient, "%s", aor);
	c->m.id = 0;
	c->m.flags = 0;
	c->m.token[0] = '\0';
	/* derived from the original's: one Call-ID per (message, recipient) */
	cpm_im__stored_call_id(c->m.call_id, sizeof c->m.call_id, CPM_STR_NULL,
			       cpm_str_from_cstr(j->m.call_id), j->hops, aor);
	if (j->m.body_len) {
		c->body = malloc(j->m.body_len);
		if (!c->body) {
			free(c);
			return NULL;
		}
		memcpy(c->body, j->m.body, j->m.body_len);
	}
	c->m.body = c->body;
	struct cpm_str mime, params;
	c->ind.content_type = cpm_sip_ctype_parse(cpm_str_from_cstr(c->m.content_type), &mime,
						  &params) == 0
				      ? mime
				      : cpm_str_from_cstr(c->m.content_type);
	c->ind.payload_type = cpm_str_from_cstr(c->payload_type);
	c->ind.message_id = cpm_str_from_cstr(c->m.message_id);
	return c;
}

/* ------------------------------------------------------------- forwards */

static void forward_fin(void *arg, int status, const char *reason)
{
	struct cpm_im__job *j = arg;
	if (status >= 200 && status < 300)
		j->ctl->n_forwarded++;
	if (status == 200 && j->d.report_delivered)
		cpm_im__report_send(j->ctl, j->m.sender, j->m.recipient, j->m.message_id,
				    "delivered");
	cpm_im__reply(j, status, reason, NULL);
	cpm_im__job_free(j);
}

static void forward_sent(void *arg, int status, const struct cpm_sip_msg *resp)
{
	struct cpm_im__job *j = arg;
	cpm_logi(j->m.call_id, "forward of the message for %s to %s: %d", j->m.recipient,
		 j->d.target, status);
	/* the target's answer is the sender's (RFC 3261 §16.7 for one
	 * branch); a 2xx is a delivery */
	forward_fin(j, status >= 200 && status < 300 ? 200 : status,
		    status >= 200 && status < 300 ? "OK" : NULL);
}

void cpm_im_ctl_set_mailer(struct cpm_im_ctl *ctl, cpm_im_mail_fn *fn, void *arg)
{
	ctl->mailer = fn;
	ctl->mailer_arg = arg;
}

/* The mail server's verdict on a forward:mailto: (R35, R111 "to e-mail",
 * seed 002 Fig. 1 user C).  Taken: 202, the message went on to another
 * system (RFC 3428 §7); refused for good: 480; not now: 503 with
 * Retry-After, so that the sender tries again (nothing was acknowledged). */
static void mail_done(void *cbarg, int rc, const char *reply)
{
	struct cpm_im__job *j = cbarg;
	cpm_logi(j->m.call_id, "e-mail forward of the message for %s to %s: %s%s%s", j->m.recipient,
		 j->d.target, rc ? cpm_strerror(rc) : "sent", reply && reply[0] ? ", " : "",
		 reply ? reply : "");
	if (rc == 0) {
		j->ctl->n_forwarded++;
		cpm_im__reply(j, 202, "Forwarded By E-mail", NULL);
	} else if (rc == CPM_EADDR || rc == CPM_EPERM || rc == CPM_EAUTH || rc == CPM_EUNSUPP) {
		cpm_im__reply(j, 480, "E-mail Forward Refused", NULL);
	} else {
		cpm_im__reply(j, 503, "E-mail Forward Unavailable", "Retry-After: 60\r\n");
	}
	cpm_im__job_free(j);
}

void cpm_im__forward(struct cpm_im__job *j)
{
	struct cpm_im_ctl *ctl = j->ctl;
	const char *target = j->d.target;
	struct cpm_sip_uri u;
	char aor[256];
	if (strncmp(target, "mailto:", 7) == 0) {
		/* e-mail goes through the iwf (smtp.url) */
		int rc = ctl->mailer ? ctl->mailer(ctl->mailer_arg, &j->m, target, mail_done, j)
				     : CPM_EUNSUPP;
		if (rc) {
			cpm_logn(j->m.call_id, "forward of the message for %s to %s: %s",
				 j->m.recipient, target,
				 rc == CPM_EUNSUPP ? "e-mail is off (smtp.url)" : cpm_strerror(rc));
			if (rc == CPM_ELIMIT)
				cpm_im__reply(j, 503, "E-mail Forward Busy", "Retry-After: 5\r\n");
			else
				cpm_im__reply(j, 480, "Forwarding Not Available", NULL);
			cpm_im__job_free(j);
		}
		return;
	}
	if (j->hops >= MAX_FORWARD_HOPS) {
		cpm_logn(j->m.call_id, "forward of the message for %s to %s: too many forwards",
			 j->m.recipient, target);
		cpm_im__reply(j, 482, "Forwarding Loop", NULL);
		cpm_im__job_free(j);
		return;
	}
	if (cpm_sip_uri_parse(cpm_str_from_cstr(target), &u) || !u.user.len ||
	    cpm_sip_uri_aor(&u, aor, sizeof aor) < 0) {
		cpm_im__reply(j, 480, "Forwarding Target Unusable", NULL);
		cpm_im__job_free(j);
		return;
	}
	cpm_logi(j->m.call_id, "message for %s forwarded to %s (profile)", j->m.recipient, target);
	if (cpm_core_uri_is_local_user(ctl->core, &u)) {
		/* a user of ours: live to their devices, then their rules */
		struct cpm_im__job *c = job_copy(j, aor);
		if (!c) {
			cpm_im__reply(j, 500, "Server Internal Error", NULL);
			cpm_im__job_free(j);
			return;
		}
		c->hops = j->hops + 1;
		c->fin = forward_fin;
		c->fin_arg = j;
		cpm_im__submit(c);
		return;
	}
	struct cpm_buf h;
	cpm_buf_init(&h, 8192);
	int rc = cpm_im__headers(&h, j->m.sender_display, j->m.sender, target, j->m.call_id,
				 j->m.date, j->m.subject, j->m.kind == CPM_STORE_MSG_REPORT);
	if (!rc)
		rc = cpm_core_send_to_uri(ctl->core, target, NULL, "MESSAGE", h.p,
					  cpm_str_from_cstr(j->m.content_type),
					  (struct cpm_str){ j->m.body, j->m.body_len }, forward_sent,
					  j);
	cpm_buf_free(&h);
	if (rc) {
		cpm_logn(j->m.call_id, "forward to %s: %s", target, cpm_strerror(rc));
		cpm_im__reply(j, 480, "Forwarding Target Unreachable", NULL);
		cpm_im__job_free(j);
	}
}

/* ------------------------------------------------------------ URI lists */

struct list_copy {
	struct cpm_im_ctl *ctl;
	char sender[512];
	char recipient[256];
	char message_id[128];
	char call_id[256];
};

/* RFC 5365 §4.2: the sender learns each recipient's fate from reports. */
static void list_fin(void *arg, int status, const char *reason)
{
	struct list_copy *lc = arg;
	const char *what = status >= 200 && status < 300 ? (status == 202 ? "stored" : "delivered")
							: "failed";
	cpm_logi(lc->call_id, "list copy for %s: %d %s", lc->recipient, status,
		 reason ? reason : "");
	if (!lc->ctl->stopping)
		cpm_im__report_send(lc->ctl, lc->sender, lc->recipient, lc->message_id, what);
	free(lc);
}

static void list_sent(void *arg, int status, const struct cpm_sip_msg *resp)
{
	list_fin(arg, status, NULL);
}

static bool require_has(const struct cpm_sip_msg *req, const char *tag)
{
	for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(req, CPM_SIP_H_REQUIRE); h;
	     h = cpm_sip_msg_hdr_next(req, h)) {
		struct cpm_str cur = h->value, item;
		while (cpm_sip_list_next(&cur, &item) == 1)
			if (cpm_str_ieq_cstr(item, tag))
				return true;
	}
	return false;
}

static void st_reply(struct cpm_im_ctl *ctl, struct cpm_txn *st, int status, const char *reason,
		     const char *extra)
{
	char hdrs[1024];
	snprintf(hdrs, sizeof hdrs, "Server: %s\r\n%s", ctl->conf->server.name,
		 extra ? extra : "");
	cpm_txn_reply(st, status, reason, NULL, hdrs, CPM_STR_NULL, CPM_STR_NULL);
}

static void list_one(struct cpm_im_ctl *ctl, const struct cpm_sip_msg *req,
		     const struct cpm_im_list *l, const struct cpm_im_list_entry *e,
		     const struct cpm_im__job *proto)
{
	struct list_copy *lc = calloc(1, sizeof *lc);
	if (!lc)
		return;
	lc->ctl = ctl;
	snprintf(lc->sender, sizeof lc->sender, "%s", proto->m.sender);
	snprintf(lc->recipient, sizeof lc->recipient, "%s", e->aor);
	snprintf(lc->message_id, sizeof lc->message_id, "%s", proto->m.message_id);
	struct cpm_sip_uri u;
	if (cpm_sip_uri_parse(cpm_str_from_cstr(e->uri), &u) == 0 &&
	    cpm_core_uri_is_local_user(ctl->core, &u)) {
		struct cpm_im__job *c = job_copy(proto, e->aor);
		if (!c) {
			list_fin(lc, 500, NULL);
			return;
		}
		snprintf(lc->call_id, sizeof lc->call_id, "%s", c->m.call_id);
		c->fin = list_fin;
		c->fin_arg = lc;
		cpm_im__submit(c);
		return;
	}
	/* another domain: one attempt, its answer is the report */
	char rnd[33];
	cpm_rand_hex(rnd, 16);
	snprintf(lc->call_id, sizeof lc->call_id, "%s@sf.cpmd", rnd);
	struct cpm_buf h;
	cpm_buf_init(&h, 8192);
	int rc = cpm_im__headers(&h, proto->m.sender_display, proto->m.sender, e->uri,
				 lc->call_id, proto->m.date, proto->m.subject, false);
	if (!rc)
		rc = cpm_core_send_to_uri(ctl->core, e->uri, NULL, "MESSAGE", h.p,
					  cpm_str_from_cstr(proto->m.content_type),
					  (struct cpm_str){ proto->m.body, proto->m.body_len },
					  list_sent, lc);
	cpm_buf_free(&h);
	if (rc)
		list_fin(lc, 480, "Unreachable");
	(void)l;
	(void)req;
}

/* RFC 5365: a MESSAGE with Require: recipient-list-message to a served
 * domain is ours to explode, whatever its user part.  The sender was
 * authenticated by core (or is trusted). */
static void list_request(struct cpm_im_ctl *ctl, struct cpm_txn *st,
			 const struct cpm_sip_msg *req, const char *aor)
{
	struct cpm_im_list l;
	char err[CPM_IM_ERR_MAX] = "";
	int rc = cpm_im_list_parse(req, (unsigned)ctl->conf->im.max_list_recipients, &l, err);
	if (rc) {
		cpm_logi(aor, "URI-list MESSAGE refused: %s", err);
		if (rc == CPM_EUNSUPP)
			st_reply(ctl, st, 415, NULL, "Accept: multipart/mixed\r\n");
		else if (rc == CPM_ELIMIT)
			st_reply(ctl, st, 403, "Too Many Recipients", NULL);
		else
			st_reply(ctl, st, 400, err[0] ? err : NULL, NULL);
		return;
	}
	char ctype[128];
	struct cpm_im__job *proto = NULL;
	if (cpm_str_copy(l.payload_ctype, ctype, sizeof ctype) == 0)
		proto = cpm_im__job_new(ctl, req, aor, ctype, l.payload);
	if (!proto) {
		cpm_im_list_free(&l);
		st_reply(ctl, st, 400, "Unusable Message Part", NULL);
		return;
	}
	/* the rules look at the message part, not at the multipart wrapper */
	struct cpm_str mime, params;
	if (cpm_sip_ctype_parse(l.payload_ctype, &mime, &params) == 0)
		cpm_str_copy(mime, proto->payload_type, sizeof proto->payload_type);
	proto->ind.payload_type = cpm_str_from_cstr(proto->payload_type);
	proto->ind.kind = cpm_str_ieq_cstr(proto->ind.payload_type, "message/imdn+xml")
				  ? CPM_IM_KIND_IMDN
				  : CPM_IM_KIND_MESSAGE;
	/* RFC 5365 §4.2 / RFC 3428: accepted, the copies follow */
	st_reply(ctl, st, 202, NULL, NULL);
	ctl->n_listed++;
	cpm_logi(proto->m.call_id, "URI-list MESSAGE from %s to %u recipients", proto->m.sender,
		 l.n);
	for (unsigned i = 0; i < l.n && !ctl->stopping; i++)
		list_one(ctl, req, &l, &l.v[i], proto);
	cpm_im__job_free(proto);
	cpm_im_list_free(&l);
}

/* ------------------------------------------------ accepts, on the live path */

#define PROF_POLL_MS 2000

struct prof_load {
	struct cpm_im_ctl *ctl;
	int64_t updated, count;
	bool changed;
	struct cpm_im__prof *v;
	size_t n, cap;
	int rc;
};

static int prof_one(void *arg, const char *aor, const char *text)
{
	struct prof_load *pl = arg;
	struct cpm_im_profile p;
	char err[CPM_IM_ERR_MAX];
	cpm_im_profile_default(&p);
	if (cpm_im_profile_parse(&p, text, err) || p.naccepts == 0)
		return 0; /* accepts everything: nothing to check live */
	if (pl->n == pl->cap) {
		size_t cap = pl->cap ? 2 * pl->cap : 16;
		struct cpm_im__prof *v = realloc(pl->v, cap * sizeof *v);
		if (!v)
			return CPM_ENOMEM;
		pl->v = v;
		pl->cap = cap;
	}
	snprintf(pl->v[pl->n].aor, sizeof pl->v[pl->n].aor, "%s", aor);
	pl->v[pl->n].p = p;
	pl->n++;
	return 0;
}

static void prof_work(struct cpm_store *s, void *arg)
{
	struct prof_load *pl = arg;
	struct cpm_im_ctl *ctl = pl->ctl;
	pl->rc = cpm_store_profile_stamp(s, &pl->updated, &pl->count);
	if (pl->rc || (pl->updated == ctl->prof_updated && pl->count == ctl->prof_count))
		return; /* (read-only on the worker: the loop writes them) */
	pl->changed = true;
	pl->rc = cpm_store_profile_list(s, prof_one, pl);
}

static void prof_done(void *arg)
{
	struct prof_load *pl = arg;
	struct cpm_im_ctl *ctl = pl->ctl;
	ctl->prof_loading = false;
	if (pl->rc == 0 && pl->changed) {
		free(ctl->profs);
		ctl->profs = pl->v; /* sorted: the store lists in AoR order */
		ctl->nprofs = pl->n;
		ctl->prof_updated = pl->updated;
		ctl->prof_count = pl->count;
		pl->v = NULL;
		cpm_logd("im", "%zu profiles restrict content types", ctl->nprofs);
	} else if (pl->rc) {
		cpm_logw("im", "cannot read the profiles: %s", cpm_strerror(pl->rc));
	}
	free(pl->v);
	free(pl);
}

static void prof_poll(uv_timer_t *t)
{
	struct cpm_im_ctl *ctl = t->data;
	if (ctl->prof_loading || ctl->stopping)
		return;
	struct prof_load *pl = calloc(1, sizeof *pl);
	if (!pl)
		return;
	pl->ctl = ctl;
	ctl->prof_loading = true;
	if (cpm_store_worker_submit(ctl->store, prof_work, prof_done, pl)) {
		ctl->prof_loading = false;
		free(pl);
	}
}

void cpm_im__prof_start(struct cpm_im_ctl *ctl)
{
	ctl->prof_updated = ctl->prof_count = -1;
	uv_timer_init(ctl->loop, &ctl->prof_timer);
	ctl->prof_timer.data = ctl;
	uv_timer_start(&ctl->prof_timer, prof_poll, 0, PROF_POLL_MS);
	uv_unref((uv_handle_t *)&ctl->prof_timer);
}

void cpm_im__prof_stop(struct cpm_im_ctl *ctl)
{
	uv_timer_stop(&ctl->prof_timer);
}

static const struct cpm_im_profile *prof_find(const struct cpm_im_ctl *ctl, const char *aor)
{
	size_t lo = 0, hi = ctl->nprofs;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(ctl->profs[mid].aor, aor);
		if (c == 0)
			return &ctl->profs[mid].p;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* R29, seed 002 Fig. 1 step 4: a type the recipient's profile does not
 * accept gets 415 with the Accept list, whether the user is reachable or
 * not (the stored path applies the same rule S2). */
static bool accepts_refused(struct cpm_im_ctl *ctl, struct cpm_txn *st,
			    const struct cpm_sip_msg *req, const char *aor)
{
	const struct cpm_im_profile *p = ctl->nprofs ? prof_find(ctl, aor) : NULL;
	if (!p)
		return false;
	struct cpm_im_indicators ind;
	if (cpm_im_indicators_parse(req, &ind) || cpm_im_accepts(p, ind.payload_type))
		return false; /* a malformed body is core's (400) */
	struct cpm_buf b;
	cpm_buf_init(&b, 4096);
	if (cpm_buf_puts(&b, "Accept: ") || cpm_im_accept_header(p, &b) ||
	    cpm_buf_puts(&b, "\r\n"))
		cpm_buf_reset(&b);
	ctl->n_refused++;
	cpm_logi(aor, "%.*s not accepted by the profile: 415", (int)ind.payload_type.len,
		 ind.payload_type.s);
	st_reply(ctl, st, 415, NULL, b.len ? b.p : NULL);
	cpm_buf_free(&b);
	return true;
}

bool cpm_im__service(void *arg, struct cpm_txn *st, const struct cpm_sip_msg *req,
		     const struct cpm_net_dest *src, const char *aor, const char *from_aor)
{
	struct cpm_im_ctl *ctl = arg;
	if (!aor && req->method == CPM_SIP_BYE && cpm_im__ghost_known(ctl, req->call_id)) {
		/* the end of an INVITE answered for an offline user */
		st_reply(ctl, st, 200, NULL, NULL);
		return true;
	}
	if (!aor || req->method != CPM_SIP_MESSAGE)
		return false;
	if (ctl->conf->im.store_and_forward && require_has(req, "recipient-list-message")) {
		list_request(ctl, st, req, aor);
		return true;
	}
	return accepts_refused(ctl, st, req, aor);
}
