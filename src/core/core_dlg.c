/* INVITE dialogs the server takes part in as a user agent (RFC 3261 §12,
 * §13, §14, §15): the UAS side (a service accepts an INVITE: chat focus,
 * B2BUA) and the UAC side (the server invites someone), the requests inside
 * them both ways, ACK and 2xx retransmission, BYE.  See core.h. */
#include "core/core_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DLG_TAG_LEN 16

enum dlg_state {
	DLG_CALLING = 1, /* UAC: our INVITE is unanswered */
	DLG_WAIT_ACK,    /* UAS: our 2xx is out, the ACK has not come */
	DLG_CONFIRMED,
};

struct dlg_branch;
struct dlg_req;

struct cpm_core_dlg {
	struct cpm_core *c;
	struct cpm_core_dlg *hnext;	  /* in c->dlg_tab, by Call-ID + our tag */
	struct cpm_core_dlg *prev, *next; /* every dialog */
	const struct cpm_core_dlg_ops *ops;
	void *arg;
	bool uac;
	enum dlg_state st;
	char local_tag[DLG_TAG_LEN + 1];
	char *call_id;
	char *remote_tag;
	char *local_hdr;  /* our From/To value without tag: "<sip:..>" or name-addr */
	char *remote_hdr; /* the peer's, without tag */
	char *local_uri, *remote_uri, *remote_display;
	char *target;	  /* remote target: its Contact URI */
	char *route;	  /* the route set as a Route value, "" if none */
	char *contact;	  /* our Contact line, CRLF included */
	struct cpm_net_dest flow; /* where the peer's requests came from / we sent to */
	bool has_flow;
	uint32_t local_cseq, remote_cseq, invite_cseq;
	/* UAS: the 2xx and its transaction, for retransmission (§13.3.1.4) */
	struct cpm_txn *st_inv;
	char *ok_extra;
	char *ok_ctype;
	char *ok_body;
	size_t ok_len;
	uint64_t interval, elapsed;
	/* UAC: the branches of our INVITE, and the ACK for retransmitted 2xx */
	struct dlg_branch *branches;
	bool timed_out;
	int best;
	char *ack;
	size_t ack_len;
	struct cpm_net_dest ack_dest;
	struct dlg_req *reqs; /* requests of ours awaiting their answer */
	bool freed;	      /* unlinked; the memory goes with the timer */
	uv_timer_t timer;
};

struct dlg_branch {
	struct dlg_branch *next;
	struct cpm_core_dlg *d; /* NULL once the dialog let it go */
	struct cpm_txn *ct;
	struct cpm_net_dest dest;
	bool done;
};

struct dlg_req {
	struct dlg_req *next;
	struct cpm_core_dlg *d; /* NULL once the dialog is gone */
	cpm_core_sent_cb *cb;
	void *arg;
};

/* ------------------------------------------------------------- the table */

static size_t bucket(const struct cpm_core *c, struct cpm_str call_id, struct cpm_str tag)
{
	uint64_t h = cpm_core__hash(call_id.s, call_id.len);
	h ^= cpm_core__hash(tag.s, tag.len) * 31;
	return (size_t)(h % c->dlg_nbuckets);
}

static struct cpm_core_dlg *lookup(struct cpm_core *c, struct cpm_str call_id,
				   struct cpm_str tag)
{
	if (!c->dlg_nbuckets || !tag.len)
		return NULL;
	for (struct cpm_core_dlg *d = c->dlg_tab[bucket(c, call_id, tag)]; d; d = d->hnext)
		if (cpm_str_eq_cstr(call_id, d->call_id) && cpm_str_eq_cstr(tag, d->local_tag))
			return d;
	return NULL;
}

static int link_dlg(struct cpm_core_dlg *d)
{
	struct cpm_core *c = d->c;
	if (!c->dlg_nbuckets) {
		c->dlg_tab = calloc(1024, sizeof *c->dlg_tab);
		if (!c->dlg_tab)
			return CPM_ENOMEM;
		c->dlg_nbuckets = 1024;
	}
	size_t b = bucket(c, cpm_str_from_cstr(d->call_id), cpm_str_from_cstr(d->local_tag));
	d->hnext = c->dlg_tab[b];
	c->dlg_tab[b] = d;
	d->next = c->dlgs;
	if (d->next)
		d->next->prev = d;
	c->dlgs = d;
	c->ndlgs++;
	return 0;
}

static void timer_closed(uv_handle_t *h)
{
	struct cpm_core_dlg *d = h->data;
	free(d->call_id);
	free(d->remote_tag);
	free(d->local_hdr);
	free(d->remote_hdr);
	free(d->local_uri);
	free(d->remote_uri);
	free(d->remote_display);
	free(d->target);
	free(d->route);
	free(d->contact);
	free(d->ok_extra);
	free(d->ok_ctype);
	free(d->ok_body);
	free(d->ack);
	free(d);
}

static void st_gone(void *owner, struct cpm_txn *t)
{
	struct cpm_core_dlg *d = owner;
	(void)t;
	d->st_inv = NULL;
}

/* Unlink and free d (the memory goes with the timer's close callback). */
static void dlg_free(struct cpm_core_dlg *d)
{
	struct cpm_core *c = d->c;
	d->freed = true;
	size_t b = bucket(c, cpm_str_from_cstr(d->call_id), cpm_str_from_cstr(d->local_tag));
	for (struct cpm_core_dlg **pp = &c->dlg_tab[b]; *pp; pp = &(*pp)->hnext)
		if (*pp == d) {
			*pp = d->hnext;
			break;
		}
	if (d->prev)
		d->prev->next = d->next;
	else
		c->dlgs = d->next;
	if (d->next)
		d->next->prev = d->prev;
	c->ndlgs--;
	if (d->st_inv)
		cpm_txn_set_owner(d->st_inv, NULL, NULL);
	for (struct dlg_branch *br = d->branches, *n; br; br = n) {
		n = br->next;
		if (!br->done) { /* no callback will come for it */
			cpm_txn_cancel(br->ct, NULL);
			cpm_txn_detach(br->ct);
		}
		free(br);
	}
	d->branches = NULL;
	for (struct dlg_req *r = d->reqs; r; r = r->next)
		r->d = NULL;
	uv_timer_stop(&d->timer);
	uv_close((uv_handle_t *)&d->timer, timer_closed);
}

size_t cpm_core_dlg_count(const struct cpm_core *c)
{
	return c->ndlgs;
}

/* ------------------------------------------------------------ building */

/* Where requests of the dialog go (§12.2.1.1): the first Route entry when
 * the route set is not empty, else the flow the peer used while it is
 * usable, else the remote target. */
static int dest_of(struct cpm_core_dlg *d, struct cpm_net_dest *out)
{
	return cpm_core__dialog_dest(d->c, d->target, d->route, d->has_flow ? &d->flow : NULL,
				     out);
}

static const struct cpm_net_listener *listener(struct cpm_core *c, const struct cpm_net_dest *d)
{
	return cpm_core__listener_for(c, d);
}

static int make_contact(struct cpm_core_dlg *d, const struct cpm_net_dest *dest,
			const struct cpm_core_dlg_params *p)
{
	const struct cpm_net_listener *l = listener(d->c, dest);
	if (!l)
		return CPM_EADDR;
	const char *user = p && p->contact_user ? p->contact_user : "";
	char line[768];
	int n = snprintf(line, sizeof line, "Contact: <sip:%s%s%s:%u%s>%s\r\n", user,
			 user[0] ? "@" : "", l->host, (unsigned)l->port,
			 l->proto == CPM_NET_TCP ? ";transport=tcp" : "",
			 p && p->contact_params ? p->contact_params : "");
	if (n < 0 || (size_t)n >= sizeof line)
		return CPM_ETOOBIG;
	d->contact = strdup(line);
	return d->contact ? 0 : CPM_ENOMEM;
}

/* "display <uri>" of an address, without its parameters: the From/To value
 * the dialog uses (the tag is added when printing). */
static char *addr_value(const struct cpm_sip_addr *a)
{
	size_t n = a->display.len + a->uri.len + 4;
	char *s = malloc(n);
	if (!s)
		return NULL;
	if (a->display.len)
		snprintf(s, n, "%.*s <%.*s>", (int)a->display.len, a->display.s,
			 (int)a->uri.len, a->uri.s);
	else
		snprintf(s, n, "<%.*s>", (int)a->uri.len, a->uri.s);
	return s;
}

static bool target_refresh(const char *method)
{
	return !strcmp(method, "INVITE") || !strcmp(method, "UPDATE") ||
	       !strcmp(method, "SUBSCRIBE") || !strcmp(method, "NOTIFY") ||
	       !strcmp(method, "REFER");
}

/* The headers after Route of a request of the dialog. */
static int dialog_hdrs(struct cpm_core_dlg *d, struct cpm_buf *b, const char *method,
		       uint32_t cseq)
{
	int rc = cpm_buf_printf(b, "From: %s;tag=%s\r\nTo: %s%s%s\r\nCall-ID: %s\r\n"
				   "CSeq: %u %s\r\n",
				d->local_hdr, d->local_tag, d->remote_hdr,
				d->remote_tag && d->remote_tag[0] ? ";tag=" : "",
				d->remote_tag ? d->remote_tag : "", d->call_id, cseq, method);
	if (!rc && target_refresh(method))
		rc = cpm_buf_puts(b, d->contact);
	return rc;
}

/* ----------------------------------------------------- requests of ours */

static void on_req_answer(void *arg, int status, const struct cpm_sip_msg *resp)
{
	struct dlg_req *r = arg;
	struct cpm_core_dlg *d = r->d;
	if (d) {
		for (struct dlg_req **pp = &d->reqs; *pp; pp = &(*pp)->next)
			if (*pp == r) {
				*pp = r->next;
				break;
			}
	}
	if (d && r->cb)
		r->cb(r->arg, status, resp);
	/* §12.2.1.2: 481 or 408 to a request in the dialog ends it */
	if (d && (status == 481 || status == 408)) {
		/* the callback may have ended it already (its memory stays until
		 * the timer's close callback, on a later loop turn) */
		if (!d->freed) {
			const struct cpm_core_dlg_ops *ops = d->ops;
			void *oarg = d->arg;
			if (ops && ops->ended)
				ops->ended(oarg, d, CPM_CORE_DLG_END_GONE);
			dlg_free(d);
		}
	}
	free(r);
}

static int dlg_send(struct cpm_core_dlg *d, const char *method, const char *extra,
		    struct cpm_str ctype, struct cpm_str body, cpm_core_sent_cb *cb, void *arg)
{
	struct cpm_core *c = d->c;
	if (!c->txn)
		return CPM_ESTATE;
	struct cpm_net_dest dest;
	int rc = dest_of(d, &dest);
	if (rc)
		return rc;
	uint32_t cseq = ++d->local_cseq;
	struct cpm_buf b;
	cpm_buf_init(&b, c->lim.max_msg);
	rc = cpm_core__request_start(c, &dest, d->target, d->route, method, NULL, &b);
	if (!rc)
		rc = dialog_hdrs(d, &b, method, cseq);
	if (!rc && extra)
		rc = cpm_buf_puts(&b, extra);
	if (!rc)
		rc = cpm_sip_print_body(&b, ctype, body);
	if (!rc && !strcmp(method, "BYE")) {
		/* the dialog goes now: the answer is not awaited (nothing to
		 * free if it never comes, e.g. at shutdown) */
		rc = cpm_core__send_buf(c, &dest, b.p, b.len, NULL, NULL);
		cpm_buf_free(&b);
		return rc;
	}
	struct dlg_req *r = rc ? NULL : calloc(1, sizeof *r);
	if (!r) {
		cpm_buf_free(&b);
		return rc ? rc : CPM_ENOMEM;
	}
	r->d = d;
	r->cb = cb;
	r->arg = arg;
	rc = cpm_core__send_buf(c, &dest, b.p, b.len, on_req_answer, r);
	cpm_buf_free(&b);
	if (rc) {
		free(r);
		return rc;
	}
	r->next = d->reqs;
	d->reqs = r;
	return 0;
}

int cpm_core_dlg_request(struct cpm_core_dlg *d, const char *method, const char *extra_hdrs,
			 struct cpm_str ctype, struct cpm_str body, cpm_core_sent_cb *cb,
			 void *arg)
{
	if (!d || !method || d->st == DLG_CALLING)
		return CPM_ESTATE;
	return dlg_send(d, method, extra_hdrs, ctype, body, cb, arg);
}

void cpm_core_dlg_bye(struct cpm_core_dlg *d)
{
	if (!d)
		return;
	if (d->st != DLG_CALLING) /* §15: BYE once the dialog exists */
		dlg_send(d, "BYE", NULL, CPM_STR_NULL, CPM_STR_NULL, NULL, NULL);
	dlg_free(d); /* an unanswered INVITE: its branches are cancelled */
}

void cpm_core_dlg_set_owner(struct cpm_core_dlg *d, const struct cpm_core_dlg_ops *ops,
			    void *arg)
{
	d->ops = ops;
	d->arg = arg;
}

const char *cpm_core_dlg_call_id(const struct cpm_core_dlg *d)
{
	return d->call_id;
}

const char *cpm_core_dlg_local_uri(const struct cpm_core_dlg *d)
{
	return d->local_uri;
}

const char *cpm_core_dlg_remote_uri(const struct cpm_core_dlg *d)
{
	return d->remote_uri;
}

const char *cpm_core_dlg_remote_display(const struct cpm_core_dlg *d)
{
	return d->remote_display;
}

const char *cpm_core_dlg_remote_target(const struct cpm_core_dlg *d)
{
	return d->target;
}

/* ------------------------------------------------------------------- UAS */

static void end_with(struct cpm_core_dlg *d, enum cpm_core_dlg_end why)
{
	const struct cpm_core_dlg_ops *ops = d->ops;
	if (ops && ops->ended)
		ops->ended(d->arg, d, why);
	dlg_free(d);
}

/* Our 2xx again at T1, 2T1 ... T2 over UDP until the ACK; no ACK in 64*T1:
 * BYE (§13.3.1.4). */
static void uas_tick(uv_timer_t *t)
{
	struct cpm_core_dlg *d = t->data;
	const struct cpm_conf *conf = d->c->conf;
	d->elapsed += d->interval;
	if (d->elapsed >= 64 * (uint64_t)conf->sip.t1) {
		cpm_logi(d->call_id, "dialog: no ACK for our 2xx, BYE");
		dlg_send(d, "BYE", NULL, CPM_STR_NULL, CPM_STR_NULL, NULL, NULL);
		end_with(d, CPM_CORE_DLG_END_NO_ACK);
		return;
	}
	if (d->st_inv && !cpm_net_proto_reliable(d->flow.proto))
		cpm_txn_reply(d->st_inv, 200, "OK", d->local_tag, d->ok_extra,
			      cpm_str_from_cstr(d->ok_ctype ? d->ok_ctype : ""),
			      (struct cpm_str){ d->ok_body, d->ok_len });
	uint64_t next = d->interval * 2;
	if (next > (uint64_t)conf->sip.t2)
		next = (uint64_t)conf->sip.t2;
	if (cpm_net_proto_reliable(d->flow.proto))
		next = 64 * (uint64_t)conf->sip.t1 - d->elapsed; /* only the deadline */
	d->interval = next;
	uv_timer_start(&d->timer, uas_tick, next, 0);
}

static struct cpm_core_dlg *dlg_new(struct cpm_core *c, const struct cpm_core_dlg_ops *ops,
				    void *arg)
{
	struct cpm_core_dlg *d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	d->c = c;
	d->ops = ops;
	d->arg = arg;
	cpm_rand_hex(d->local_tag, DLG_TAG_LEN / 2);
	uv_timer_init(c->loop, &d->timer);
	d->timer.data = d;
	return d;
}

/* Free a dialog that was never linked. */
static void dlg_discard(struct cpm_core_dlg *d)
{
	uv_close((uv_handle_t *)&d->timer, timer_closed);
}

int cpm_core_dlg_accept(struct cpm_core *c, struct cpm_txn *st,
			const struct cpm_core_dlg_params *p,
			const struct cpm_core_dlg_ops *ops, void *arg,
			struct cpm_core_dlg **out)
{
	const struct cpm_sip_msg *req = cpm_txn_req(st);
	const struct cpm_net_dest *src = cpm_txn_src(st);
	if (!req || !src || req->method != CPM_SIP_INVITE || cpm_txn_has_final(st))
		return CPM_ESTATE;
	const struct cpm_sip_hdr *ch = cpm_sip_msg_hdr(req, CPM_SIP_H_CONTACT);
	struct cpm_sip_addr contact;
	struct cpm_str cur = ch ? ch->value : CPM_STR_NULL;
	if (!ch || cpm_sip_addr_next(&cur, &contact) != 1 || contact.star)
		return CPM_EPARSE;
	struct cpm_core_dlg *d = dlg_new(c, ops, arg);
	if (!d)
		return CPM_ENOMEM;
	d->st = DLG_WAIT_ACK;
	d->flow = *src;
	d->has_flow = true;
	d->remote_cseq = req->cseq.num;
	d->invite_cseq = req->cseq.num;
	d->local_cseq = 0;
	/* §12.1.1: the route set is the Record-Route list in order */
	struct cpm_buf rr;
	cpm_buf_init(&rr, 8192);
	int rc = 0;
	for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(req, CPM_SIP_H_RECORD_ROUTE);
	     h && !rc; h = cpm_sip_msg_hdr_next(req, h))
		rc = cpm_buf_printf(&rr, "%s%.*s", rr.len ? ", " : "", (int)h->value.len,
				    h->value.s);
	if (!rc)
		rc = cpm_buf_append(&rr, "", 1);
	d->route = rc ? NULL : strdup(rr.p);
	cpm_buf_free(&rr);
	d->call_id = cpm_str_dup(req->call_id);
	d->remote_tag = cpm_str_dup(req->from.tag);
	d->local_hdr = addr_value(&req->to);
	d->remote_hdr = addr_value(&req->from);
	d->local_uri = cpm_str_dup(req->to.uri);
	d->remote_uri = cpm_str_dup(req->from.uri);
	d->remote_display = cpm_str_dup(cpm_sip_unquote(req->from.display));
	d->target = cpm_str_dup(contact.uri);
	if (!rc && !(d->route && d->call_id && d->remote_tag && d->local_hdr && d->remote_hdr &&
		     d->local_uri && d->remote_uri && d->remote_display && d->target))
		rc = CPM_ENOMEM;
	if (!rc)
		rc = make_contact(d, src, p);
	/* the 2xx: Record-Route copied (§12.1.1), our Contact, the owner's */
	struct cpm_buf ex;
	cpm_buf_init(&ex, 16384);
	for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(req, CPM_SIP_H_RECORD_ROUTE);
	     h && !rc; h = cpm_sip_msg_hdr_next(req, h))
		rc = cpm_buf_printf(&ex, "Record-Route: %.*s\r\n", (int)h->value.len, h->value.s);
	if (!rc)
		rc = cpm_buf_printf(&ex, "%s%sServer: %s\r\n", d->contact,
				    p && p->extra_hdrs ? p->extra_hdrs : "",
				    c->conf->server.name);
	if (!rc)
		rc = cpm_buf_append(&ex, "", 1);
	if (!rc && !(d->ok_extra = strdup(ex.p)))
		rc = CPM_ENOMEM;
	cpm_buf_free(&ex);
	if (!rc && p && p->body.len) {
		d->ok_ctype = cpm_str_dup(p->ctype);
		d->ok_body = malloc(p->body.len);
		if (!d->ok_ctype || !d->ok_body)
			rc = CPM_ENOMEM;
		else {
			memcpy(d->ok_body, p->body.s, p->body.len);
			d->ok_len = p->body.len;
		}
	}
	if (!rc)
		rc = cpm_txn_reply(st, 200, "OK", d->local_tag, d->ok_extra,
				   cpm_str_from_cstr(d->ok_ctype ? d->ok_ctype : ""),
				   (struct cpm_str){ d->ok_body, d->ok_len });
	if (!rc)
		rc = link_dlg(d);
	if (rc) {
		dlg_discard(d);
		return rc;
	}
	d->st_inv = st;
	cpm_txn_set_owner(st, d, st_gone);
	d->interval = (uint64_t)c->conf->sip.t1;
	if (cpm_net_proto_reliable(src->proto))
		d->interval = 64 * (uint64_t)c->conf->sip.t1;
	uv_timer_start(&d->timer, uas_tick, d->interval, 0);
	cpm_logi(d->call_id, "dialog: accepted INVITE from %s", d->remote_uri);
	if (out)
		*out = d;
	return 0;
}

/* ------------------------------------------------------------------- UAC */

static void uac_done(struct cpm_core_dlg *d, int status, const struct cpm_sip_msg *resp)
{
	uv_timer_stop(&d->timer);
	const struct cpm_core_dlg_ops *ops = d->ops;
	void *arg = d->arg;
	if (status >= 300)
		cpm_logi(d->call_id, "dialog: INVITE to %s failed: %d", d->remote_uri, status);
	if (ops && ops->answered)
		ops->answered(arg, d, status, resp);
	if (status >= 300) {
		/* the callback may have freed d (cpm_core_dlg_bye); else ours */
		if (!d->freed)
			dlg_free(d);
	}
}

/* The ACK for a 2xx (§13.2.2.4): same CSeq number, a new branch, the route
 * set; kept for the 2xx retransmissions. */
static int send_ack(struct cpm_core_dlg *d)
{
	struct cpm_core *c = d->c;
	if (!d->ack) {
		struct cpm_net_dest dest;
		int rc = dest_of(d, &dest);
		if (rc)
			return rc;
		struct cpm_buf b;
		cpm_buf_init(&b, c->lim.max_msg);
		rc = cpm_core__request_start(c, &dest, d->target, d->route, "ACK", NULL, &b);
		if (!rc)
			rc = dialog_hdrs(d, &b, "ACK", d->invite_cseq);
		if (!rc)
			rc = cpm_sip_print_body(&b, CPM_STR_NULL, CPM_STR_NULL);
		if (!rc && !(d->ack = malloc(b.len)))
			rc = CPM_ENOMEM;
		if (!rc) {
			memcpy(d->ack, b.p, b.len);
			d->ack_len = b.len;
			d->ack_dest = dest;
		}
		cpm_buf_free(&b);
		if (rc)
			return rc;
	}
	return cpm_txn_send_stateless(c->txn, &d->ack_dest, d->ack, d->ack_len);
}

/* A 2xx from a second branch: its own dialog, which we do not want (§13.2.2.4):
 * ACK it and BYE it. */
static void refuse_extra_2xx(struct cpm_core_dlg *d, const struct cpm_sip_msg *resp,
			     const struct cpm_net_dest *dest)
{
	struct cpm_core_dlg tmp = *d;
	tmp.remote_tag = cpm_str_dup(resp->to.tag);
	struct cpm_sip_addr ct;
	const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(resp, CPM_SIP_H_CONTACT);
	struct cpm_str cur = h ? h->value : CPM_STR_NULL;
	tmp.target = h && cpm_sip_addr_next(&cur, &ct) == 1 ? cpm_str_dup(ct.uri) : NULL;
	tmp.route = "";
	tmp.flow = *dest;
	tmp.has_flow = true;
	tmp.ack = NULL;
	if (tmp.remote_tag && tmp.target) {
		send_ack(&tmp);
		struct cpm_buf b;
		cpm_buf_init(&b, d->c->lim.max_msg);
		if (!cpm_core__request_start(d->c, dest, tmp.target, NULL, "BYE", NULL, &b) &&
		    !dialog_hdrs(&tmp, &b, "BYE", d->invite_cseq + 1) &&
		    !cpm_sip_print_body(&b, CPM_STR_NULL, CPM_STR_NULL))
			cpm_core__send_buf(d->c, dest, b.p, b.len, NULL, NULL);
		cpm_buf_free(&b);
	}
	free(tmp.remote_tag);
	free(tmp.target);
	free(tmp.ack);
}

static int status_rank(int s)
{
	/* §16.7 step 6, simplified: 6xx first, then the lowest class, 408
	 * and 503 last */
	if (s >= 600)
		return 0;
	if (s == 408 || s == 503)
		return 1000 + s;
	return s;
}

static void on_branch(void *arg, struct cpm_txn *ct, const struct cpm_sip_msg *resp, int status)
{
	struct dlg_branch *br = arg;
	(void)ct;
	if (status < 200)
		return;
	br->done = true;
	struct cpm_core_dlg *d = br->d;
	if (status < 300 && resp) {
		if (d->st != DLG_CALLING) {
			refuse_extra_2xx(d, resp, &br->dest);
			return;
		}
		/* §12.1.2: the dialog from the 2xx */
		struct cpm_sip_addr ct_addr;
		const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(resp, CPM_SIP_H_CONTACT);
		struct cpm_str cur = h ? h->value : CPM_STR_NULL;
		free(d->remote_tag);
		d->remote_tag = cpm_str_dup(resp->to.tag);
		free(d->target);
		d->target = h && cpm_sip_addr_next(&cur, &ct_addr) == 1
				    ? cpm_str_dup(ct_addr.uri)
				    : strdup(d->remote_uri);
		/* the route set: Record-Route in reverse order */
		struct cpm_str vals[64];
		int nv = 0;
		for (const struct cpm_sip_hdr *rh = cpm_sip_msg_hdr(resp, CPM_SIP_H_RECORD_ROUTE);
		     rh; rh = cpm_sip_msg_hdr_next(resp, rh)) {
			struct cpm_str rc2 = rh->value;
			struct cpm_sip_addr a;
			while (nv < 64 && cpm_sip_addr_next(&rc2, &a) == 1)
				vals[nv++] = a.whole;
		}
		struct cpm_buf rb;
		cpm_buf_init(&rb, 8192);
		int rc = 0;
		for (int i = nv - 1; i >= 0 && !rc; i--)
			rc = cpm_buf_printf(&rb, "%s%.*s", rb.len ? ", " : "", (int)vals[i].len,
					    vals[i].s);
		if (!rc)
			rc = cpm_buf_append(&rb, "", 1);
		free(d->route);
		d->route = rc ? strdup("") : strdup(rb.p);
		cpm_buf_free(&rb);
		d->flow = br->dest;
		d->has_flow = true;
		d->st = DLG_CONFIRMED;
		if (!d->remote_tag || !d->target || !d->route) {
			uac_done(d, 500, NULL);
			return;
		}
		send_ack(d);
		/* the other branches: CANCEL (§16.7 step 10 style) */
		for (struct dlg_branch *o = d->branches; o; o = o->next)
			if (o != br && !o->done)
				cpm_txn_cancel(o->ct, "Reason: SIP;cause=200;text=\"Call completed elsewhere\"");
		cpm_logi(d->call_id, "dialog: INVITE to %s answered %d", d->remote_uri, status);
		uac_done(d, status, resp);
		return;
	}
	if (d->st != DLG_CALLING)
		return;
	if (!d->best || status_rank(status) < status_rank(d->best))
		d->best = status;
	for (struct dlg_branch *o = d->branches; o; o = o->next)
		if (!o->done)
			return;
	uac_done(d, d->timed_out ? 408 : d->best, d->best == status ? resp : NULL);
}

/* The CANCELs did not bring the branches' final answers: give up. */
static void uac_giveup(uv_timer_t *t)
{
	uac_done(t->data, 408, NULL);
}

static void uac_timeout(uv_timer_t *t)
{
	struct cpm_core_dlg *d = t->data;
	d->timed_out = true;
	cpm_logi(d->call_id, "dialog: INVITE to %s unanswered, CANCEL", d->remote_uri);
	for (struct dlg_branch *o = d->branches; o; o = o->next)
		if (!o->done)
			cpm_txn_cancel(o->ct, NULL);
	/* the 487s normally end it (on_branch) */
	uv_timer_start(&d->timer, uac_giveup, 32 * (uint64_t)d->c->conf->sip.t1, 0);
}

static int add_branch(struct cpm_core_dlg *d, const struct cpm_net_dest *dest, const char *ruri,
		      const char *path, const struct cpm_core_dlg_params *p)
{
	struct cpm_core *c = d->c;
	struct dlg_branch *br = calloc(1, sizeof *br);
	if (!br)
		return CPM_ENOMEM;
	br->d = d;
	br->dest = *dest;
	struct cpm_buf b;
	cpm_buf_init(&b, c->lim.max_msg);
	int rc = cpm_core__request_start(c, dest, ruri, path, "INVITE", NULL, &b);
	if (!rc)
		rc = dialog_hdrs(d, &b, "INVITE", d->invite_cseq);
	if (!rc && p && p->extra_hdrs)
		rc = cpm_buf_puts(&b, p->extra_hdrs);
	if (!rc)
		rc = cpm_sip_print_body(&b, p ? p->ctype : CPM_STR_NULL,
					p ? p->body : CPM_STR_NULL);
	if (!rc)
		rc = cpm_txn_request(c->txn, dest, b.p, b.len, on_branch, br, &br->ct);
	cpm_buf_free(&b);
	if (rc) {
		free(br);
		return rc;
	}
	br->next = d->branches;
	d->branches = br;
	return 0;
}

struct fork_ctx {
	struct cpm_core_dlg *d;
	const struct cpm_core_dlg_params *p;
	int sent, err;
};

static void fork_one(void *arg, const char *aor, const char *contact, const char *device)
{
	struct fork_ctx *f = arg;
	(void)device;
	struct cpm_core *c = f->d->c;
	struct cpm_core_aor *a = cpm_core__loc_aor(&c->loc, aor, false);
	for (struct cpm_core_binding *b = a ? a->bindings : NULL; b; b = b->next) {
		if (strcmp(b->contact, contact) != 0)
			continue;
		struct cpm_net_dest dest;
		int rc = cpm_core__binding_dest(c, b, &dest);
		if (!rc && !f->d->contact)
			rc = make_contact(f->d, &dest, f->p);
		if (!rc)
			rc = add_branch(f->d, &dest, b->contact, b->path, f->p);
		if (rc)
			f->err = rc;
		else
			f->sent++;
		return;
	}
}

int cpm_core_dlg_invite(struct cpm_core *c, const char *from_uri, const char *to_uri,
			const struct cpm_core_dlg_params *p, unsigned timeout_s,
			const struct cpm_core_dlg_ops *ops, void *arg,
			struct cpm_core_dlg **out)
{
	if (!from_uri || !to_uri || c->stopping || !c->txn)
		return CPM_ESTATE;
	struct cpm_sip_addr fa, ta;
	struct cpm_sip_uri tu;
	if (cpm_sip_addr_parse(cpm_str_from_cstr(from_uri), &fa) ||
	    cpm_sip_addr_parse(cpm_str_from_cstr(to_uri), &ta) ||
	    cpm_sip_uri_parse(ta.uri, &tu))
		return CPM_EPARSE;
	struct cpm_core_dlg *d = dlg_new(c, ops, arg);
	if (!d)
		return CPM_ENOMEM;
	d->uac = true;
	d->st = DLG_CALLING;
	d->invite_cseq = d->local_cseq = 1;
	char host[80] = "cpmd";
	if (cpm_net_listener_count(c->net))
		snprintf(host, sizeof host, "%s", cpm_net_listener_at(c->net, 0)->host);
	char cid[160];
	char rnd[33];
	cpm_rand_hex(rnd, 16);
	snprintf(cid, sizeof cid, "%s@%s", rnd, host);
	d->call_id = strdup(cid);
	d->local_hdr = addr_value(&fa);
	d->remote_hdr = addr_value(&ta);
	d->local_uri = cpm_str_dup(fa.uri);
	d->remote_uri = cpm_str_dup(ta.uri);
	d->remote_display = cpm_str_dup(cpm_sip_unquote(ta.display));
	d->remote_tag = strdup("");
	d->target = cpm_str_dup(ta.uri);
	d->route = strdup("");
	int rc = 0;
	if (!(d->call_id && d->local_hdr && d->remote_hdr && d->local_uri && d->remote_uri &&
	      d->remote_display && d->remote_tag && d->target && d->route))
		rc = CPM_ENOMEM;
	char aor[256];
	struct fork_ctx f = { d, p, 0, 0 };
	if (!rc && cpm_core__aor_of(c, &tu, aor, sizeof aor) >= 0 && tu.user.len) {
		cpm_core_foreach_binding_of(c, aor, fork_one, &f);
		if (!f.sent)
			rc = f.err ? f.err : CPM_ENOTFOUND; /* a local user, offline */
	} else if (!rc) {
		struct cpm_net_dest dest;
		rc = cpm_core__uri_dest(c, &tu, &dest);
		if (!rc)
			rc = make_contact(d, &dest, p);
		if (!rc)
			rc = add_branch(d, &dest, d->target, NULL, p);
	}
	if (!rc)
		rc = link_dlg(d);
	if (rc) {
		for (struct dlg_branch *br = d->branches, *n; br; br = n) {
			n = br->next;
			cpm_txn_cancel(br->ct, NULL);
			cpm_txn_detach(br->ct);
			free(br);
		}
		d->branches = NULL;
		dlg_discard(d);
		return rc;
	}
	uv_timer_start(&d->timer, uac_timeout, (uint64_t)(timeout_s ? timeout_s : 60) * 1000, 0);
	cpm_logi(d->call_id, "dialog: INVITE to %s (%d branch%s)", d->remote_uri,
		 f.sent ? f.sent : 1, f.sent > 1 ? "es" : "");
	if (out)
		*out = d;
	return 0;
}

/* ------------------------------------------------------------- dispatch */

bool cpm_core__dlg_request(struct cpm_core *c, struct cpm_txn *st, const struct cpm_sip_msg *req)
{
	struct cpm_core_dlg *d = lookup(c, req->call_id, req->to.tag);
	if (!d) {
		if (!st || !req->to.tag.len)
			return false;
		/* a request with a To tag sent to one of our listeners with a
		 * user part (the Contact of a dialog of ours, e.g. a focus's
		 * sip:room@HOST:PORT) and matching no dialog: we are the UAS
		 * and the dialog is gone (§12.2.2) */
		struct cpm_sip_uri u;
		if (cpm_sip_uri_parse(req->ruri, &u) || !u.user.len || !u.has_port)
			return false;
		u.user = CPM_STR_NULL;
		if (!cpm_core__uri_is_me(c, &u) || !cpm_core__routes_all_mine(c, req))
			return false;
		cpm_core__reply(c, st, 481, NULL, NULL);
		return true;
	}
	if (!st) { /* ACK for our 2xx (§13.3.1.4) */
		if (d->st == DLG_WAIT_ACK && req->cseq.num == d->invite_cseq) {
			d->st = DLG_CONFIRMED;
			uv_timer_stop(&d->timer);
			if (d->st_inv) {
				cpm_txn_set_owner(d->st_inv, NULL, NULL);
				d->st_inv = NULL;
			}
		}
		return true;
	}
	if (req->method == CPM_SIP_CANCEL)
		return false; /* the proxy's CANCEL handling answers it */
	/* §12.2.2: a lower CSeq than the last one is out of order */
	if (d->remote_cseq && req->cseq.num < d->remote_cseq) {
		cpm_core__reply(c, st, 500, "CSeq Out of Order", NULL);
		return true;
	}
	d->remote_cseq = req->cseq.num;
	if (req->method == CPM_SIP_BYE) {
		cpm_core__reply(c, st, 200, NULL, NULL);
		cpm_logi(d->call_id, "dialog: BYE from %s", d->remote_uri);
		end_with(d, CPM_CORE_DLG_END_BYE);
		return true;
	}
	if (d->ops && d->ops->request)
		d->ops->request(d->arg, d, st, req);
	else
		cpm_core__reply(c, st, 405, NULL, NULL);
	return true;
}

bool cpm_core__dlg_stray(struct cpm_core *c, const struct cpm_sip_msg *resp)
{
	/* a retransmitted 2xx to one of our INVITEs: the ACK again */
	if (resp->status < 200 || resp->status >= 300 || resp->cseq.method != CPM_SIP_INVITE)
		return false;
	struct cpm_core_dlg *d = lookup(c, resp->call_id, resp->from.tag);
	if (!d || !d->uac)
		return false;
	if (d->ack && cpm_str_eq_cstr(resp->to.tag, d->remote_tag ? d->remote_tag : ""))
		cpm_txn_send_stateless(c->txn, &d->ack_dest, d->ack, d->ack_len);
	return true;
}

void cpm_core__dlg_shutdown(struct cpm_core *c)
{
	while (c->dlgs) {
		struct cpm_core_dlg *d = c->dlgs;
		if (d->st != DLG_CALLING)
			dlg_send(d, "BYE", NULL, CPM_STR_NULL, CPM_STR_NULL, NULL, NULL);
		end_with(d, CPM_CORE_DLG_END_SHUTDOWN);
	}
}

void cpm_core__dlg_free_all(struct cpm_core *c)
{
	while (c->dlgs)
		dlg_free(c->dlgs);
	free(c->dlg_tab);
	c->dlg_tab = NULL;
	c->dlg_nbuckets = 0;
}
