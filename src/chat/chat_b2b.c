/* chat_b2b.c — anchored 1:1 sessions: the server as B2BUA (issue 4, seed
 * 001 Figs. 4-6, seed 000 Example 1).
 *
 * A core service offered out-of-dialog INVITEs for local users before the
 * proxy forks them (and before presence answers busy users).  For an offer
 * that asks for anchoring (cpm_chat_b2b_decide) it holds the caller's
 * INVITE, calls the callee through core's dialogs (forked to its bindings)
 * with the offer rewritten to point at the server, and answers the caller
 * once the callee's leg answers, with the callee's answer rewritten the
 * same way.  Then it relays between the legs: each in-dialog MESSAGE of one
 * leg is sent on the other and the sender gets the far side's status; a
 * BYE on one leg ends the other (instant mode).
 *
 * S&F mode: the session outlives a participant who leaves; what is written
 * for someone not in the session goes to the store-and-forward path
 * (cpm_im_ctl_store) and, with b2bua.history, every message of the session
 * is kept in the store (b2b_messages).
 *
 * Deferred chat: a callee with no binding, or whose presence is busy, or
 * (S&F mode) who did not answer, is answered for by the server when the
 * rules would store a message for them (a dry run of cpm_im_ctl_store);
 * the 200 carries a Warning, and every MESSAGE of the caller is stored
 * for the callee (202), delivered when they register or publish open.
 *
 * Lifetimes: a session lives while one of its legs (or the caller's
 * unanswered INVITE) lives.  A message in flight is an op: it holds the
 * sender's server transaction (its owner callback clears it) and, for the
 * S&F fallback, a copy of the message.  Ops towards a leg end with it
 * (core calls no callback of a gone dialog); store ops end when im calls
 * back, the session may be gone by then (op->s NULL). */
#include "chat/chat_b2b_int.h"

#include "core/core.h"
#include "im/im.h"
#include "pres/pres.h"
#include "sip/sip.h"
#include "store/store.h"
#include "txn/txn.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- helpers */

static const char *leg_name(int leg)
{
	return leg == LEG_A ? "caller" : "callee";
}

static struct cpm_core_dlg *leg_dlg(struct b2b_sess *s, int leg)
{
	return leg == LEG_A ? s->a : s->b;
}

/* The Date of a request (RFC 3261 §20.17), else now. */
static int64_t req_date(const struct cpm_sip_msg *req)
{
	const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(req, CPM_SIP_H_DATE);
	int64_t t;
	return h && cpm_parse_date(h->value, &t) == 0 ? t : cpm_wall_s();
}

static struct cpm_str req_ctype(const struct cpm_sip_msg *req)
{
	const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(req, CPM_SIP_H_CONTENT_TYPE);
	return h && h->value.len ? h->value : CPM_STR("text/plain");
}

static void user_part(const char *aor, char *out, size_t sz)
{
	const char *at = strchr(aor, '@');
	size_t n = at ? (size_t)(at - aor) : strlen(aor);
	if (n >= sz)
		n = sz - 1;
	memcpy(out, aor, n);
	out[n] = '\0';
}

/* ------------------------------------------------------------------ ops */

static void op_unlink(struct b2b_op *o)
{
	struct b2b_op **pp = o->s ? &o->s->ops : &o->b->orphans;
	while (*pp && *pp != o)
		pp = &(*pp)->next;
	if (*pp)
		*pp = o->next;
	o->next = NULL;
}

static void op_free(struct b2b_op *o)
{
	op_unlink(o);
	if (o->st)
		cpm_txn_set_owner(o->st, NULL, NULL);
	free(o->ctype);
	free(o->body);
	free(o);
}

static void op_st_gone(void *owner, struct cpm_txn *t)
{
	struct b2b_op *o = owner;
	(void)t;
	o->st = NULL;
}

static void op_reply(struct b2b_op *o, int status, const char *reason)
{
	if (!o->st)
		return;
	char hdrs[256];
	snprintf(hdrs, sizeof hdrs, "Server: %s\r\n", o->b->conf->server.name);
	cpm_txn_reply(o->st, status, reason, NULL, hdrs, CPM_STR_NULL, CPM_STR_NULL);
	cpm_txn_set_owner(o->st, NULL, NULL);
	o->st = NULL;
}

/* A new op for a message from leg `from` (copied: the S&F fallback and the
 * store need it after the request is gone); st may be NULL (MSRP). */
static struct b2b_op *op_new(struct b2b_sess *s, int from, struct cpm_txn *st, int64_t date,
			     struct cpm_str ctype, struct cpm_str body)
{
	struct b2b_op *o = calloc(1, sizeof *o);
	if (!o)
		return NULL;
	o->b = s->b2b;
	o->s = s;
	o->from = from;
	o->date = date;
	o->ctype = cpm_str_dup(ctype.len ? ctype : CPM_STR("text/plain"));
	o->body_len = body.len;
	o->body = malloc(body.len ? body.len : 1);
	if (!o->ctype || !o->body) {
		free(o->ctype);
		free(o->body);
		free(o);
		return NULL;
	}
	memcpy(o->body, body.s, body.len);
	o->st = st;
	if (st)
		cpm_txn_set_owner(st, o, op_st_gone);
	o->next = s->ops;
	s->ops = o;
	return o;
}

/* ---------------------------------------------------------------- sessions */

static void sess_free(struct b2b_sess *s)
{
	struct cpm_chat_b2b *b = s->b2b;
	if (s->st) {
		cpm_txn_set_owner(s->st, NULL, NULL);
		s->st = NULL;
	}
	/* store ops outlive the session: im calls them back */
	while (s->ops) {
		struct b2b_op *o = s->ops;
		s->ops = o->next;
		o->next = NULL;
		if (o->storing) {
			o->s = NULL;
			o->next = b->orphans;
			b->orphans = o;
		} else {
			o->s = NULL;
			op_reply(o, 481, "Session Ended");
			op_free(o);
		}
	}
	if (s->ep_a)
		cpm_chat_ep_close(s->ep_a);
	if (s->ep_b)
		cpm_chat_ep_close(s->ep_b);
	if (s->prev)
		s->prev->next = s->next;
	else
		b->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	b->nsessions--;
	free(s->offer);
	free(s);
}

/* The session is over when no leg and no pending INVITE remain. */
static void sess_check_end(struct b2b_sess *s)
{
	if (!s->a && !s->b && !s->st) {
		cpm_logi(s->call_id, "anchored session %s -> %s ended", s->caller, s->callee);
		sess_free(s);
	}
}

/* Answer the caller's pending INVITE with a failure. */
static void caller_fail(struct b2b_sess *s, int status, const char *reason, const char *warning)
{
	if (!s->st)
		return;
	char hdrs[512];
	snprintf(hdrs, sizeof hdrs, "Server: %s\r\n%s%s%s", s->b2b->conf->server.name,
		 warning ? "Warning: 399 cpmd \"" : "", warning ? warning : "",
		 warning ? "\"\r\n" : "");
	cpm_txn_reply(s->st, status, reason, s->tag, hdrs, CPM_STR_NULL, CPM_STR_NULL);
	cpm_txn_set_owner(s->st, NULL, NULL);
	s->st = NULL;
	s->b2b->n_failed++;
}

static void st_gone(void *owner, struct cpm_txn *t)
{
	struct b2b_sess *s = owner;
	(void)t;
	s->st = NULL;
	if (!s->a) { /* unanswered and gone (timeout): give up the callee's leg */
		if (s->b) {
			cpm_core_dlg_bye(s->b);
			s->b = NULL;
		}
		sess_check_end(s);
	}
}

/* ---------------------------------------------------------- store path */

static void history_add(struct b2b_sess *s, const struct b2b_op *o, const char *sender,
			const char *recipient);

static void store_done(void *arg, int status, const char *reason)
{
	struct b2b_op *o = arg;
	struct cpm_chat_b2b *b = o->b;
	if (status == 202)
		b->n_stored++;
	cpm_logi(o->s ? o->s->call_id : NULL, "in-session message for %s: %s (%d)",
		 o->recipient, status == 202 ? "stored" : "not stored", status);
	op_reply(o, status, reason);
	op_free(o);
}

/* Hand the op's message to store-and-forward for the participant of leg
 * `to` (who is not in the session): the sender hears 202 or the refusal. */
static void op_store(struct b2b_op *o)
{
	struct b2b_sess *s = o->s;
	int to = o->from == LEG_A ? LEG_B : LEG_A;
	snprintf(o->recipient, sizeof o->recipient, "%s", to == LEG_B ? s->callee : s->caller_aor);
	if (!o->recipient[0]) { /* a caller from elsewhere: nowhere to keep it */
		op_reply(o, 480, "Participant Left");
		op_free(o);
		return;
	}
	const char *sender = o->from == LEG_A ? s->caller : s->callee_uri;
	const char *display = o->from == LEG_A ? s->caller_display : "";
	struct cpm_im_ctl_msg m = {
		.aor = o->recipient, .sender = sender, .display = display,
		.ctype = o->ctype, .body = { o->body, o->body_len }, .date = o->date,
	};
	o->storing = true;
	int rc = cpm_im_ctl_store(s->b2b->im, &m, false, store_done, o);
	if (rc == CPM_EIO)
		return; /* store_done ran with 500 */
	if (rc) {
		o->storing = false;
		op_reply(o, rc == CPM_ETOOBIG ? 413 : 480, NULL);
		op_free(o);
	}
}

/* ------------------------------------------------------------ relaying */

static void relay_sent(void *arg, int status, const struct cpm_sip_msg *resp)
{
	struct b2b_op *o = arg;
	struct b2b_sess *s = o->s;
	(void)resp;
	cpm_logi(s->call_id, "in-session MESSAGE %s -> %s: %d", leg_name(o->from),
		 leg_name(o->from == LEG_A ? LEG_B : LEG_A), status);
	if (status >= 200 && status < 300) {
		s->b2b->n_relayed++;
		op_reply(o, 200, NULL);
		op_free(o);
		return;
	}
	if (s->plan.sf && (status == 408 || status == 480 || status == 481)) {
		op_store(o); /* the recipient is gone: keep it for them */
		return;
	}
	op_reply(o, status, NULL);
	op_free(o);
}

static void msrp_sent(void *arg, int status)
{
	struct b2b_op *o = arg;
	struct b2b_sess *s = o->s;
	cpm_logi(s->call_id, "in-session MSRP message %s -> %s: %d", leg_name(o->from),
		 leg_name(o->to_leg), status);
	if (status == 200) {
		s->b2b->n_relayed++;
		op_free(o);
		return;
	}
	if (s->plan.sf) {
		op_store(o); /* not taken: keep it for them */
		return;
	}
	op_free(o); /* the sender had its 200 hop by hop: the log says it was lost */
}

/* MSRP: send o on the other leg's session (bound). */
static void msrp_send(struct b2b_op *o, struct cpm_chat_ep *ep)
{
	struct b2b_sess *s = o->s;
	o->queued = false;
	int rc = cpm_chat_ep_send(ep, cpm_str_from_cstr(o->ctype),
				  (struct cpm_str){ o->body, o->body_len }, CPM_STR_NULL, msrp_sent,
				  o);
	if (rc == 0)
		return;
	cpm_logi(s->call_id, "in-session MSRP message %s -> %s: %s", leg_name(o->from),
		 leg_name(o->to_leg), cpm_strerror(rc));
	o->to_leg = 0;
	if (s->plan.sf || s->deferred)
		op_store(o);
	else
		op_free(o);
}

static void relay(struct b2b_op *o)
{
	struct b2b_sess *s = o->s;
	int to = o->from == LEG_A ? LEG_B : LEG_A;
	struct cpm_core_dlg *d = leg_dlg(s, to);
	if (s->plan.transport == CPM_CHAT_B2B_MSRP) {
		struct cpm_chat_ep *ep = to == LEG_A ? s->ep_a : s->ep_b;
		if (d && ep) {
			o->to_leg = to;
			if (cpm_chat_ep_is_bound(ep))
				msrp_send(o, ep);
			else
				o->queued = true; /* sent once the session binds (ep_bound) */
			return;
		}
		if (s->plan.sf || s->deferred)
			op_store(o);
		else
			op_free(o);
		return;
	}
	if (!d) {
		if (s->plan.sf || s->deferred) {
			op_store(o);
		} else {
			op_reply(o, 481, "Participant Left");
			op_free(o);
		}
		return;
	}
	char date[CPM_DATE_LEN], hdrs[128];
	cpm_fmt_date(o->date, date);
	snprintf(hdrs, sizeof hdrs, "Date: %s\r\n", date);
	o->to_leg = to;
	int rc = cpm_core_dlg_request(d, "MESSAGE", hdrs, cpm_str_from_cstr(o->ctype),
				      (struct cpm_str){ o->body, o->body_len }, relay_sent, o);
	if (rc) {
		op_reply(o, cpm_core_err_status(rc), NULL);
		op_free(o);
	}
}

/* ------------------------------------------------------- dialog callbacks */

static void leg_request(struct b2b_sess *s, int leg, struct cpm_txn *st,
			const struct cpm_sip_msg *req)
{
	char hdrs[256];
	snprintf(hdrs, sizeof hdrs, "Server: %s\r\n", s->b2b->conf->server.name);
	if (req->method != CPM_SIP_MESSAGE) {
		/* re-INVITE, UPDATE, INFO...: the session is fixed (RFC 3261
		 * §14.2 lets a UAS refuse a change) */
		cpm_txn_reply(st, req->method == CPM_SIP_INVITE ? 488 : 405, NULL, NULL,
			      "Allow: ACK, BYE, CANCEL, MESSAGE\r\n", CPM_STR_NULL, CPM_STR_NULL);
		return;
	}
	struct b2b_op *o = op_new(s, leg, st, req_date(req), req_ctype(req), req->body);
	if (!o) {
		cpm_txn_reply(st, 500, "Out Of Memory", NULL, hdrs, CPM_STR_NULL, CPM_STR_NULL);
		return;
	}
	if (s->b2b->conf->b2bua.history && s->plan.sf)
		history_add(s, o, leg == LEG_A ? s->caller : s->callee_uri,
			    leg == LEG_A ? s->callee_uri : s->caller);
	relay(o);
}

/* A leg is gone: its ops end, and the other leg follows unless S&F. */
static void leg_gone(struct b2b_sess *s, int leg, const char *why)
{
	if (leg == LEG_A)
		s->a = NULL;
	else
		s->b = NULL;
	struct cpm_chat_ep **ep = leg == LEG_A ? &s->ep_a : &s->ep_b;
	if (*ep) { /* no send callback follows: its ops are ended below */
		cpm_chat_ep_close(*ep);
		*ep = NULL;
	}
	cpm_logi(s->call_id, "anchored session %s -> %s: the %s left (%s)", s->caller, s->callee,
		 leg_name(leg), why);
	for (struct b2b_op *o = s->ops, *next; o; o = next) {
		next = o->next;
		if (o->storing || o->to_leg != leg || o->from == leg)
			continue;
		if (s->plan.sf) {
			op_store(o);
		} else {
			op_reply(o, 481, "Participant Left");
			op_free(o);
		}
	}
	/* the sender's own messages still waiting for the other leg stay */
	int other = leg == LEG_A ? LEG_B : LEG_A;
	struct cpm_core_dlg *od = leg_dlg(s, other);
	if (od && !s->plan.sf) {
		cpm_core_dlg_bye(od); /* relay the BYE (instant mode) */
		if (other == LEG_A)
			s->a = NULL;
		else
			s->b = NULL;
		struct cpm_chat_ep **oep = other == LEG_A ? &s->ep_a : &s->ep_b;
		if (*oep) {
			cpm_chat_ep_close(*oep);
			*oep = NULL;
		}
		for (struct b2b_op *o = s->ops, *next; o; o = next) {
			next = o->next;
			if (!o->storing && o->to_leg == other) {
				op_reply(o, 481, "Session Ended");
				op_free(o);
			}
		}
	}
	sess_check_end(s);
}

static void a_request(void *arg, struct cpm_core_dlg *d, struct cpm_txn *st,
		      const struct cpm_sip_msg *req)
{
	(void)d;
	leg_request(arg, LEG_A, st, req);
}

static void b_request(void *arg, struct cpm_core_dlg *d, struct cpm_txn *st,
		      const struct cpm_sip_msg *req)
{
	(void)d;
	leg_request(arg, LEG_B, st, req);
}

static const char *end_name(enum cpm_core_dlg_end why)
{
	switch (why) {
	case CPM_CORE_DLG_END_BYE:
		return "BYE";
	case CPM_CORE_DLG_END_NO_ACK:
		return "no ACK";
	case CPM_CORE_DLG_END_GONE:
		return "unreachable";
	default:
		return "shutdown";
	}
}

static void a_ended(void *arg, struct cpm_core_dlg *d, enum cpm_core_dlg_end why)
{
	(void)d;
	leg_gone(arg, LEG_A, end_name(why));
}

static void b_ended(void *arg, struct cpm_core_dlg *d, enum cpm_core_dlg_end why)
{
	(void)d;
	leg_gone(arg, LEG_B, end_name(why));
}

static void b_answered(void *arg, struct cpm_core_dlg *d, int status,
		       const struct cpm_sip_msg *resp);

static const struct cpm_core_dlg_ops a_ops = { a_request, NULL, a_ended };
static const struct cpm_core_dlg_ops b_ops = { b_request, b_answered, b_ended };

/* ------------------------------------------------------- MSRP legs
 *
 * With m=message TCP/MSRP the server terminates MSRP on both legs (a local
 * session each, cpm_chat_ep_*) and copies each whole message to the other
 * leg.  A message is answered 200 hop by hop once it is handed on (RFC 4975
 * §7.3: a relay-like answer; the far side's failure is logged, or, in S&F
 * mode, the message is stored for the participant). */

static int ep_message(struct b2b_sess *s, int leg, const struct cpm_chat_ep_msg *m)
{
	struct b2b_op *o = op_new(s, leg, NULL, cpm_wall_s(), m->content_type, m->body);
	if (!o)
		return 413;
	if (s->b2b->conf->b2bua.history && s->plan.sf)
		history_add(s, o, leg == LEG_A ? s->caller : s->callee_uri,
			    leg == LEG_A ? s->callee_uri : s->caller);
	int to = leg == LEG_A ? LEG_B : LEG_A;
	if (!leg_dlg(s, to) && !s->plan.sf && !s->deferred) {
		op_free(o);
		return 481; /* instant mode, the other participant left */
	}
	relay(o);
	return 200;
}

static int a_ep_message(void *arg, struct cpm_chat_ep *ep, const struct cpm_chat_ep_msg *m)
{
	(void)ep;
	return ep_message(arg, LEG_A, m);
}

static int b_ep_message(void *arg, struct cpm_chat_ep *ep, const struct cpm_chat_ep_msg *m)
{
	(void)ep;
	return ep_message(arg, LEG_B, m);
}

static void ep_bound(struct b2b_sess *s, int leg)
{
	cpm_logi(s->call_id, "anchored session %s -> %s: the %s's MSRP session is bound", s->caller,
		 s->callee, leg_name(leg));
	struct cpm_chat_ep *ep = leg == LEG_A ? s->ep_a : s->ep_b;
	/* what the other side wrote meanwhile, oldest first (the list is
	 * newest first): one at a time from the tail */
	for (;;) {
		struct b2b_op *oldest = NULL;
		for (struct b2b_op *o = s->ops; o; o = o->next)
			if (o->queued && o->to_leg == leg)
				oldest = o;
		if (!oldest)
			break;
		msrp_send(oldest, ep);
	}
}

static void a_ep_bound(void *arg, struct cpm_chat_ep *ep)
{
	(void)ep;
	ep_bound(arg, LEG_A);
}

static void b_ep_bound(void *arg, struct cpm_chat_ep *ep)
{
	(void)ep;
	ep_bound(arg, LEG_B);
}

/* The MSRP connection of a leg went: that leg ends (BYE). */
static void ep_closed(struct b2b_sess *s, int leg, const char *why)
{
	struct cpm_core_dlg *d = leg_dlg(s, leg);
	cpm_logi(s->call_id, "anchored session: the %s's MSRP connection: %s", leg_name(leg), why);
	if (!d) { /* not answered yet (a deferred chat's caller, a callee's leg
		   * before its answer): only the session goes */
		struct cpm_chat_ep **ep = leg == LEG_A ? &s->ep_a : &s->ep_b;
		cpm_chat_ep_close(*ep);
		*ep = NULL;
		return;
	}
	cpm_core_dlg_bye(d);
	leg_gone(s, leg, "MSRP connection closed");
}

static void a_ep_closed(void *arg, struct cpm_chat_ep *ep, const char *why)
{
	(void)ep;
	ep_closed(arg, LEG_A, why);
}

static void b_ep_closed(void *arg, struct cpm_chat_ep *ep, const char *why)
{
	(void)ep;
	ep_closed(arg, LEG_B, why);
}

static const struct cpm_chat_ep_ops a_ep_ops = { a_ep_bound, a_ep_message, NULL, a_ep_closed };
static const struct cpm_chat_ep_ops b_ep_ops = { b_ep_bound, b_ep_message, NULL, b_ep_closed };

/* The MSRP section `media` of a description: its a=path and a=setup. */
static int msrp_peer(struct cpm_str sdp, int media, char *path, size_t sz,
		     enum cpm_sdp_setup *setup)
{
	struct cpm_sdp *d = malloc(sizeof *d);
	if (!d)
		return CPM_ENOMEM;
	struct cpm_sdp_msrp mm;
	int rc = cpm_sdp_parse(d, sdp.s, sdp.len, NULL);
	if (!rc && (media < 0 || (unsigned)media >= d->nmedia ||
		    !cpm_sdp_media_is_msrp(&d->media[media]) || !d->media[media].port))
		rc = CPM_EUNSUPP;
	if (!rc)
		rc = cpm_sdp_msrp_get(d, (unsigned)media, &mm, NULL);
	if (!rc && (!mm.path.len || cpm_str_copy(mm.path, path, sz)))
		rc = CPM_EPARSE;
	if (!rc)
		*setup = mm.setup;
	free(d);
	return rc;
}

/* Our authority in a leg's SDP: the host and port of our session URI. */
static void ep_rw(const struct cpm_chat_ep *ep, char *host, size_t hsz,
		  struct cpm_chat_b2b_rw *rw)
{
	struct cpm_msrp_uri mu;
	snprintf(host, hsz, "127.0.0.1");
	rw->port = CPM_MSRP_DEFAULT_PORT;
	if (cpm_msrp_uri_parse(cpm_str_from_cstr(cpm_chat_ep_uri(ep)), &mu) == 0) {
		struct cpm_str h = mu.host;
		if (h.len > 2 && h.s[0] == '[') { /* SDP addresses have no brackets */
			h.s++;
			h.len -= 2;
		}
		cpm_str_copy(h, host, hsz);
		rw->port = mu.has_port ? mu.port : CPM_MSRP_DEFAULT_PORT;
	}
	rw->host = host;
	rw->path = cpm_chat_ep_uri(ep);
	rw->setup = NULL;
}

/* Our address in a leg's SDP (MESSAGE transport: the SIP listener). */
static void our_addr(const struct cpm_chat_b2b *b, struct cpm_chat_b2b_rw *rw)
{
	const struct cpm_conf_listen *l = &b->conf->sip.listen[0];
	rw->host = l->host;
	rw->port = l->port;
	rw->path = NULL;
	rw->setup = NULL;
}

/* Answer the caller 200 with sdp (the callee's answer rewritten, or the
 * caller's offer rewritten for a deferred chat). */
static int caller_accept(struct b2b_sess *s, struct cpm_str sdp, const char *warning)
{
	struct cpm_chat_b2b *b = s->b2b;
	struct cpm_chat_b2b_rw rw;
	our_addr(b, &rw);
	char host[256];
	bool connect = false;
	if (s->plan.transport == CPM_CHAT_B2B_MSRP) {
		/* our session with the caller: its offer's path; we connect
		 * when it wants to be passive (RFC 6135), else it connects */
		char path[2048];
		enum cpm_sdp_setup setup = CPM_SDP_SETUP_NONE;
		int rc = msrp_peer((struct cpm_str){ s->offer, s->offer_len }, s->plan.media, path,
				   sizeof path, &setup);
		if (!rc)
			rc = cpm_chat_ep_new(b->relay, &a_ep_ops, s, NULL, &s->ep_a);
		if (!rc)
			rc = cpm_chat_ep_set_peer(s->ep_a, cpm_str_from_cstr(path));
		if (rc)
			return rc;
		ep_rw(s->ep_a, host, sizeof host, &rw);
		connect = setup == CPM_SDP_SETUP_PASSIVE;
		rw.setup = connect ? "active" : "passive";
	}
	struct cpm_buf out;
	cpm_buf_init(&out, 16384);
	int rc = cpm_chat_b2b_rewrite(sdp, &s->plan, &rw, &out);
	char hdrs[512], user[128];
	snprintf(hdrs, sizeof hdrs,
		 "Server: %s\r\nAllow: INVITE, ACK, CANCEL, BYE, MESSAGE\r\n%s%s%s",
		 b->conf->server.name, warning ? "Warning: 399 cpmd \"" : "",
		 warning ? warning : "", warning ? "\"\r\n" : "");
	user_part(s->callee, user, sizeof user);
	struct cpm_core_dlg_params p = { .contact_user = user, .extra_hdrs = hdrs,
					 .ctype = CPM_STR("application/sdp"),
					 .body = cpm_buf_str(&out) };
	if (!rc)
		rc = cpm_core_dlg_accept(b->core, s->st, &p, &a_ops, s, &s->a);
	cpm_buf_free(&out);
	if (rc)
		return rc;
	cpm_txn_set_owner(s->st, NULL, NULL);
	s->st = NULL;
	if (connect && cpm_chat_ep_connect(s->ep_a))
		cpm_logw(s->call_id, "anchored session: cannot connect to the caller's MSRP path");
	return 0;
}

/* ------------------------------------------------------- deferred chat */

static void deferred_done(void *arg, int status, const char *reason)
{
	struct b2b_op *o = arg;
	struct b2b_sess *s = o->s;
	struct cpm_chat_b2b *b = o->b;
	op_free(o);
	if (!s)
		return;
	if (!s->st) { /* the caller gave up meanwhile */
		sess_check_end(s);
		return;
	}
	if (status != 202) {
		cpm_logi(s->call_id, "chat %s -> %s: %s, and nothing can be stored for them (%d)",
			 s->caller, s->callee, s->deferred_why, status);
		int code = status == 404 ? 404 : s->busy ? b->conf->presence.busy_status : 480;
		char warn[400];
		snprintf(warn, sizeof warn, "%s is %s", s->callee, s->deferred_why);
		caller_fail(s, code, NULL, warn);
		sess_check_end(s);
		return;
	}
	char warn[400];
	snprintf(warn, sizeof warn, "%s is %s: your messages will be stored and delivered later",
		 s->callee, s->deferred_why);
	s->deferred = true;
	int rc = caller_accept(s, (struct cpm_str){ s->offer, s->offer_len }, warn);
	if (rc) {
		cpm_logw(s->call_id, "deferred chat: cannot answer the caller: %s", cpm_strerror(rc));
		caller_fail(s, rc == CPM_EPARSE ? 400 : 500, NULL, NULL);
		sess_check_end(s);
		return;
	}
	b->n_deferred++;
	cpm_logi(s->call_id, "deferred chat %s -> %s (%s): answered for the callee, messages stored",
		 s->caller, s->callee, s->deferred_why);
}

/* The callee cannot take the session (why: "offline", "busy", "not
 * answering"): ask the rules whether a message could be stored for them. */
static void deferred_start(struct b2b_sess *s, const char *why)
{
	s->deferred_why = why;
	struct b2b_op *o = calloc(1, sizeof *o);
	if (!o) {
		caller_fail(s, 500, "Out Of Memory", NULL);
		sess_check_end(s);
		return;
	}
	o->b = s->b2b;
	o->s = s;
	o->storing = true;
	o->next = s->ops;
	s->ops = o;
	struct cpm_im_ctl_msg m = { .aor = s->callee, .sender = s->caller,
				    .display = s->caller_display, .body = CPM_STR("") };
	int rc = cpm_im_ctl_store(s->b2b->im, &m, true, deferred_done, o);
	if (rc && rc != CPM_EIO) {
		op_free(o);
		caller_fail(s, s->busy ? s->b2b->conf->presence.busy_status : 480, NULL, NULL);
		sess_check_end(s);
	}
}

/* ---------------------------------------------------------- callee leg */

static void b_answered(void *arg, struct cpm_core_dlg *d, int status,
		       const struct cpm_sip_msg *resp)
{
	struct b2b_sess *s = arg;
	struct cpm_chat_b2b *b = s->b2b;
	if (status < 200 || status >= 300) {
		s->b = NULL; /* freed by core once we return */
		if (s->ep_b) {
			cpm_chat_ep_close(s->ep_b);
			s->ep_b = NULL;
		}
		cpm_logi(s->call_id, "anchored session %s -> %s: the callee answered %d", s->caller,
			 s->callee, status);
		if (s->st && s->plan.sf && (status == 408 || status == 480) &&
		    b->conf->b2bua.deferred && b->im) {
			deferred_start(s, "not answering"); /* S&F: "never answered" */
			return;
		}
		/* 486/480/603... go back as they are (a 408 of ours too) */
		caller_fail(s, status, NULL, NULL);
		sess_check_end(s);
		return;
	}
	struct cpm_str answer = resp ? resp->body : CPM_STR_NULL;
	struct cpm_sdp *sd = malloc(sizeof *sd);
	bool ok = sd && answer.len && cpm_sdp_parse(sd, answer.s, answer.len, NULL) == 0 &&
		  (unsigned)s->plan.media < sd->nmedia && sd->media[s->plan.media].port != 0;
	free(sd);
	if (!s->st || !ok) {
		if (!ok)
			cpm_logi(s->call_id, "anchored session: the callee refused the stream");
		cpm_core_dlg_bye(d);
		s->b = NULL;
		if (s->st)
			caller_fail(s, 488, NULL, NULL);
		sess_check_end(s);
		return;
	}
	bool connect_b = false;
	if (s->plan.transport == CPM_CHAT_B2B_MSRP) {
		/* we offered actpass: no a=setup, or passive, means we connect */
		char path[2048];
		enum cpm_sdp_setup setup = CPM_SDP_SETUP_NONE;
		if (msrp_peer(answer, s->plan.media, path, sizeof path, &setup) ||
		    cpm_chat_ep_set_peer(s->ep_b, cpm_str_from_cstr(path))) {
			cpm_logi(s->call_id, "anchored session: the callee's MSRP answer is unusable");
			cpm_core_dlg_bye(d);
			s->b = NULL;
			caller_fail(s, 488, NULL, NULL);
			sess_check_end(s);
			return;
		}
		connect_b = setup != CPM_SDP_SETUP_ACTIVE;
	}
	int rc = caller_accept(s, answer, NULL);
	if (!rc && connect_b && cpm_chat_ep_connect(s->ep_b))
		cpm_logw(s->call_id, "anchored session: cannot connect to the callee's MSRP path");
	if (rc) {
		cpm_logw(s->call_id, "anchored session: cannot answer the caller: %s",
			 cpm_strerror(rc));
		cpm_core_dlg_bye(d);
		s->b = NULL;
		caller_fail(s, rc == CPM_EPARSE ? 400 : 500, NULL, NULL);
		sess_check_end(s);
		return;
	}
	b->n_anchored++;
	cpm_logi(s->call_id, "anchored session %s -> %s up (%s%s)", s->caller, s->callee,
		 s->plan.transport == CPM_CHAT_B2B_MESSAGE ? "MESSAGE/" : "MSRP/",
		 s->plan.sf ? "S&F" : "instant");
}

static void count_binding(void *arg, const char *aor, const char *contact, const char *device)
{
	(void)aor;
	(void)contact;
	(void)device;
	(*(unsigned *)arg)++;
}

static int callee_invite(struct b2b_sess *s, const struct cpm_sip_msg *req)
{
	struct cpm_chat_b2b *b = s->b2b;
	struct cpm_chat_b2b_rw rw;
	our_addr(b, &rw);
	char host[256];
	if (s->plan.transport == CPM_CHAT_B2B_MSRP) {
		int rc = cpm_chat_ep_new(b->relay, &b_ep_ops, s, NULL, &s->ep_b);
		if (rc)
			return rc;
		ep_rw(s->ep_b, host, sizeof host, &rw);
		rw.setup = "actpass"; /* the callee chooses (RFC 6135 §4.2) */
	}
	struct cpm_buf out;
	cpm_buf_init(&out, 16384);
	int rc = cpm_chat_b2b_rewrite((struct cpm_str){ s->offer, s->offer_len }, &s->plan, &rw,
				      &out);
	char from[900], user[128];
	if (req->from.display.len)
		snprintf(from, sizeof from, "%.*s <%s>", CPM_STR_FMT(req->from.display), s->caller);
	else
		snprintf(from, sizeof from, "<%s>", s->caller);
	user_part(s->caller_aor[0] ? s->caller_aor : "b2bua", user, sizeof user);
	char hdrs[256];
	snprintf(hdrs, sizeof hdrs, "Allow: INVITE, ACK, CANCEL, BYE, MESSAGE\r\n");
	struct cpm_core_dlg_params p = { .contact_user = user, .extra_hdrs = hdrs,
					 .ctype = CPM_STR("application/sdp"),
					 .body = cpm_buf_str(&out) };
	if (!rc)
		rc = cpm_core_dlg_invite(b->core, from, s->callee_uri, &p,
					 (unsigned)b->conf->b2bua.invite_timeout, &b_ops, s, &s->b);
	cpm_buf_free(&out);
	return rc;
}

/* ------------------------------------------------------------ the service */

static bool on_cancel(struct cpm_chat_b2b *b, struct cpm_txn *st)
{
	struct cpm_txn *inv = cpm_txn_cancel_target(st);
	struct b2b_sess *s = b->sessions;
	while (s && (!s->st || s->st != inv))
		s = s->next;
	if (!s)
		return false;
	char hdrs[256];
	snprintf(hdrs, sizeof hdrs, "Server: %s\r\n", b->conf->server.name);
	cpm_txn_reply(st, 200, NULL, NULL, hdrs, CPM_STR_NULL, CPM_STR_NULL);
	cpm_logi(s->call_id, "anchored session %s -> %s: the caller cancelled", s->caller,
		 s->callee);
	caller_fail(s, 487, NULL, NULL); /* RFC 3261 §9.2 */
	if (s->b) {
		cpm_core_dlg_bye(s->b); /* CANCEL towards the callee */
		s->b = NULL;
	}
	sess_check_end(s);
	return true;
}

static bool on_request(void *arg, struct cpm_txn *st, const struct cpm_sip_msg *req,
		       const struct cpm_net_dest *src, const char *aor, const char *from_aor)
{
	struct cpm_chat_b2b *b = arg;
	(void)src;
	if (b->stopping)
		return false;
	if (!aor)
		return req->method == CPM_SIP_CANCEL && on_cancel(b, st);
	if (req->method != CPM_SIP_INVITE || req->to.tag.len || b->policy == CPM_CHAT_ANCHOR_NEVER)
		return false;
	const struct cpm_sip_hdr *ct = cpm_sip_msg_hdr(req, CPM_SIP_H_CONTENT_TYPE);
	if (!ct || !cpm_str_istarts(ct->value, "application/sdp") || !req->body.len)
		return false;
	struct cpm_sdp *offer = malloc(sizeof *offer);
	if (!offer)
		return false;
	struct cpm_chat_b2b_plan plan;
	int rc = cpm_sdp_parse(offer, req->body.s, req->body.len, NULL);
	if (!rc)
		rc = cpm_chat_b2b_decide(offer, b->policy, &plan);
	free(offer);
	char cid[256];
	if (cpm_str_copy(req->call_id, cid, sizeof cid))
		snprintf(cid, sizeof cid, "-");
	if (rc == 0)
		return false;
	char hdrs[256];
	snprintf(hdrs, sizeof hdrs, "Server: %s\r\n", b->conf->server.name);
	char tag[17];
	cpm_rand_hex(tag, 8);
	if (rc < 0) {
		/* asked for anchoring we cannot give: 488 (RFC 3261 §21.4.26) */
		cpm_logi(cid, "INVITE for %s: anchoring asked, %s: 488", aor,
			 rc == CPM_EUNSUPP ? "no transport the server speaks" : "bad m=messaging");
		cpm_txn_reply(st, 488, NULL, tag, hdrs, CPM_STR_NULL, CPM_STR_NULL);
		return true;
	}
	if (plan.transport == CPM_CHAT_B2B_MSRP && !b->relay) {
		cpm_logi(cid, "INVITE for %s: MSRP anchoring needs msrp.listen: not anchored", aor);
		return false;
	}
	/* where is the callee? */
	unsigned nb = 0;
	cpm_core_foreach_binding_of(b->core, aor, count_binding, &nb);
	bool busy = b->pres && b->conf->presence.busy_status && cpm_pres_is_busy(b->pres, aor);
	bool offline = nb == 0;
	if ((busy || offline) && (!b->conf->b2bua.deferred || !b->im))
		return false; /* as without anchoring: presence 486, core 480 */

	struct b2b_sess *s = calloc(1, sizeof *s);
	if (!s)
		return false;
	s->offer = malloc(req->body.len);
	if (!s->offer || cpm_str_copy(req->from.uri, s->caller, sizeof s->caller)) {
		free(s->offer);
		free(s);
		return false;
	}
	memcpy(s->offer, req->body.s, req->body.len);
	s->offer_len = req->body.len;
	s->b2b = b;
	s->plan = plan;
	s->busy = busy;
	memcpy(s->tag, tag, sizeof s->tag);
	snprintf(s->call_id, sizeof s->call_id, "%s", cid);
	snprintf(s->callee, sizeof s->callee, "%s", aor);
	snprintf(s->callee_uri, sizeof s->callee_uri, "sip:%s", aor);
	snprintf(s->caller_aor, sizeof s->caller_aor, "%s", from_aor ? from_aor : "");
	struct cpm_sip_uri fu;
	if (!s->caller_aor[0] && cpm_sip_uri_parse(req->from.uri, &fu) == 0 && fu.user.len &&
	    cpm_core_uri_is_local_user(b->core, &fu)) {
		/* a trusted source asserted no identity: the From of a served
		 * domain is the caller's AoR (for messages kept for them) */
		int n = snprintf(s->caller_aor, sizeof s->caller_aor, "%.*s@%.*s",
				 CPM_STR_FMT(fu.user), CPM_STR_FMT(fu.host));
		for (int i = (int)fu.user.len + 1; n > 0 && i < n; i++)
			s->caller_aor[i] = (char)tolower((unsigned char)s->caller_aor[i]);
	}
	if (req->from.display.len < sizeof s->caller_display)
		cpm_str_copy(req->from.display, s->caller_display, sizeof s->caller_display);
	s->next = b->sessions;
	if (b->sessions)
		b->sessions->prev = s;
	b->sessions = s;
	b->nsessions++;
	s->st = st;
	cpm_txn_set_owner(st, s, st_gone);
	cpm_logi(cid, "INVITE %s -> %s anchored (%s/%s%s)", s->caller, aor,
		 plan.transport == CPM_CHAT_B2B_MESSAGE ? "MESSAGE" : "MSRP",
		 plan.sf ? "S&F" : "instant", plan.requested ? "" : ", by policy");
	if (busy || offline) {
		deferred_start(s, busy ? "busy" : "offline");
		return true;
	}
	rc = callee_invite(s, req);
	if (rc) {
		cpm_logw(cid, "anchored session: cannot call %s: %s", aor, cpm_strerror(rc));
		caller_fail(s, rc == CPM_EPARSE ? 400 : 500, NULL, NULL);
		sess_check_end(s);
	}
	return true;
}

/* ------------------------------------------------------------- history */

struct hist_job {
	struct cpm_store_b2b_msg m;
	char *body;
};

static int hist_work(struct cpm_store *st, void *arg)
{
	struct hist_job *h = arg;
	return cpm_store_b2b_msg_add(st, &h->m);
}

static void hist_done(void *arg, int rc)
{
	struct hist_job *h = arg;
	if (rc)
		cpm_logw(h->m.call_id, "session history: %s", cpm_strerror(rc));
	free(h->body);
	free(h);
}

static void history_add(struct b2b_sess *s, const struct b2b_op *o, const char *sender,
			const char *recipient)
{
	if (o->body_len > CPM_STORE_MSG_BODY_MAX)
		return;
	struct hist_job *h = calloc(1, sizeof *h);
	if (!h)
		return;
	h->body = malloc(o->body_len ? o->body_len : 1);
	if (!h->body) {
		free(h);
		return;
	}
	memcpy(h->body, o->body, o->body_len);
	snprintf(h->m.call_id, sizeof h->m.call_id, "%s", s->call_id);
	snprintf(h->m.sender, sizeof h->m.sender, "%s", sender);
	snprintf(h->m.recipient, sizeof h->m.recipient, "%s", recipient);
	snprintf(h->m.content_type, sizeof h->m.content_type, "%s", o->ctype);
	h->m.body = h->body;
	h->m.body_len = o->body_len;
	h->m.date = o->date;
	if (cpm_store_worker_submit_batchable(cpm_core_store(s->b2b->core), hist_work, hist_done,
					      h)) {
		free(h->body);
		free(h);
	}
}

/* ------------------------------------------------------------------ API */

int cpm_chat_b2b_new(struct cpm_core *core, struct cpm_im_ctl *im, struct cpm_chat_relay *relay,
		     struct cpm_chat_b2b **out)
{
	struct cpm_chat_b2b *b = calloc(1, sizeof *b);
	if (!b)
		return CPM_ENOMEM;
	b->core = core;
	b->conf = cpm_core_conf(core);
	b->im = im;
	b->relay = relay;
	if (cpm_chat_anchor_parse(b->conf->b2bua.anchor, &b->policy))
		b->policy = CPM_CHAT_ANCHOR_REQUESTED;
	int rc = cpm_core_add_service(core, on_request, b);
	if (rc) {
		free(b);
		return rc;
	}
	*out = b;
	return 0;
}

void cpm_chat_b2b_set_pres(struct cpm_chat_b2b *b, struct cpm_pres *pres)
{
	if (b)
		b->pres = pres;
}

void cpm_chat_b2b_stop(struct cpm_chat_b2b *b)
{
	if (!b)
		return;
	b->stopping = true;
	while (b->sessions) {
		struct b2b_sess *s = b->sessions;
		caller_fail(s, 503, "Shutting Down", NULL);
		if (s->a) {
			cpm_core_dlg_bye(s->a);
			s->a = NULL;
		}
		if (s->b) {
			cpm_core_dlg_bye(s->b);
			s->b = NULL;
		}
		sess_free(s);
	}
}

void cpm_chat_b2b_free(struct cpm_chat_b2b *b)
{
	if (!b)
		return;
	cpm_chat_b2b_stop(b);
	while (b->orphans)
		op_free(b->orphans);
	free(b);
}

void cpm_chat_b2b_stats(const struct cpm_chat_b2b *b, struct cpm_chat_b2b_stats *out)
{
	memset(out, 0, sizeof *out);
	if (!b)
		return;
	out->sessions = b->nsessions;
	out->anchored = b->n_anchored;
	out->deferred = b->n_deferred;
	out->relayed = b->n_relayed;
	out->stored = b->n_stored;
	out->failed = b->n_failed;
}
