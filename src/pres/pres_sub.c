/* RFC 6665 subscriptions held by the server (the notifier), for every
 * package: the dialog, the refresh, the expiry, the pending state
 * (RFC 6665 §4.1.2.1, RFC 3857), rate limiting, the terminating NOTIFY with
 * its reason (§4.2.2); and the message-summary package (RFC 3842; seed
 * 000's "Event: message", R43). */
#include "pres/pres_int.h"

#include "conf/conf.h"
#include "core/core.h"
#include "sip/sip.h"
#include "store/store.h"
#include "txn/txn.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MWI_TYPE "application/simple-message-summary"
#define MWI_LIST_MAX 10 /* messages listed in one NOTIFY */

typedef struct cpm_pres__sub sub_t;

/* ------------------------------------------------------------ lifetime */

static void sub_closed(uv_handle_t *h)
{
	sub_t *s = h->data;
	if (--s->closing == 0)
		free(s);
}

/* Unlink s and free it once its timers are closed.  Never while a NOTIFY
 * or a state query is in flight (s->busy): their callbacks hold s. */
static void sub_free(sub_t *s)
{
	struct cpm_pres *p = s->p;
	if (s->gone)
		return;
	s->gone = true;
	if (s->prev)
		s->prev->next = s->next;
	else
		p->subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	p->nsubs--;
	cpm_pres__map_del(&p->by_tag, s->local_tag);
	struct cpm_pres__watched *w = cpm_pres__map_get(&p->by_aor, s->aor);
	if (w) {
		if (s->aprev)
			s->aprev->anext = s->anext;
		else
			w->subs = s->anext;
		if (s->anext)
			s->anext->aprev = s->aprev;
		if (s->pkg->watcher)
			w->nwatchers--;
		if (!w->subs) {
			cpm_pres__map_del(&p->by_aor, s->aor);
			free(w);
		}
	}
	uv_timer_stop(&s->timer);
	uv_timer_stop(&s->throttle);
	s->closing = 2;
	uv_close((uv_handle_t *)&s->timer, sub_closed);
	uv_close((uv_handle_t *)&s->throttle, sub_closed);
	if (s->pkg->ended && !p->stopping)
		s->pkg->ended(s);
}

struct cpm_pres__sub *cpm_pres__subs_of(struct cpm_pres *p, const char *aor)
{
	struct cpm_pres__watched *w = cpm_pres__map_get(&p->by_aor, aor);
	return w ? w->subs : NULL;
}

/* ------------------------------------------------------------- NOTIFY */

static void notify_state(sub_t *s);

static void on_notified(void *arg, int status, const struct cpm_sip_msg *resp)
{
	sub_t *s = arg;
	s->busy = false;
	if (status >= 300 || s->term_sent) {
		/* RFC 6665 §4.2.2: a failed NOTIFY (481, timeout, ...) ends
		 * the subscription; so does the terminating one */
		if (status >= 300)
			cpm_logi(s->call_id, "subscription of %s to %s of %s ended: NOTIFY got %d",
				 s->remote_uri, s->event, s->aor, status);
		sub_free(s);
		return;
	}
	if (s->ending)
		notify_state(s); /* the terminating NOTIFY, waiting for this one */
	else if (s->again)
		cpm_pres__sub_changed(s);
}

void cpm_pres__sub_notify(sub_t *s, const char *body, size_t len)
{
	struct cpm_pres *p = s->p;
	if (p->stopping && !s->ending) {
		s->busy = false;
		return;
	}
	struct cpm_buf h;
	cpm_buf_init(&h, 8192);
	int64_t left = s->expires_at - cpm_wall_s();
	if (left < 0)
		left = 0;
	char state[96];
	s->term_sent = s->ending;
	if (s->ending)
		snprintf(state, sizeof state, "terminated;reason=%s",
			 s->reason ? s->reason : "timeout");
	else
		snprintf(state, sizeof state, "%s;expires=%lld",
			 s->state == CPM_PRES__PENDING ? "pending" : "active", (long long)left);
	int rc = cpm_buf_printf(&h, "From: <%s>;tag=%s\r\nTo: <%s>;tag=%s\r\nCall-ID: %s\r\n"
				    "CSeq: %u NOTIFY\r\nEvent: %s%s%s\r\nSubscription-State: %s\r\n"
				    "Contact: %s\r\n",
				s->local_uri, s->local_tag, s->remote_uri, s->remote_tag, s->call_id,
				++s->local_cseq, s->event, s->event_id[0] ? ";id=" : "", s->event_id,
				state, s->contact);
	/* RFC 6665 §8.2.1: the id parameter is echoed; RFC 3261 §12.2.1.1: the
	 * NOTIFY follows the route set the SUBSCRIBE's Record-Route made */
	if (!rc)
		rc = cpm_core_send_in_dialog(p->core, s->target, s->route, &s->flow, "NOTIFY", h.p,
					  body ? cpm_str_from_cstr(s->pkg->ctype) : CPM_STR_NULL,
					  (struct cpm_str){ body, body ? len : 0 }, on_notified, s);
	cpm_buf_free(&h);
	if (rc) {
		cpm_logi(s->call_id, "cannot NOTIFY %s: %s", s->target, cpm_strerror(rc));
		s->busy = false;
		sub_free(s);
		return;
	}
	s->busy = true;
	s->last_notify = cpm_now_ms();
}

void cpm_pres__sub_notify_failed(sub_t *s)
{
	s->busy = false;
}

/* Build the state (the package), then NOTIFY it; one NOTIFY in flight per
 * subscription, a change meanwhile sends one more afterwards. */
static void notify_state(sub_t *s)
{
	s->busy = true;
	s->again = false;
	uv_timer_stop(&s->throttle);
	/* no state for a pending watcher (RFC 6665 §4.1.2.1 / RFC 3856 §6.6)
	 * nor with a terminating NOTIFY that is not the plain expiry */
	if (s->state == CPM_PRES__PENDING ||
	    (s->ending && s->reason && strcmp(s->reason, "timeout") != 0)) {
		cpm_pres__sub_notify(s, NULL, 0);
		return;
	}
	s->pkg->state(s);
}

static void on_throttle(uv_timer_t *t)
{
	sub_t *s = t->data;
	if (s->gone || s->ending)
		return;
	if (s->busy)
		s->again = true;
	else
		notify_state(s);
}

void cpm_pres__sub_changed(sub_t *s)
{
	if (s->gone || s->ending)
		return;
	if (s->busy) {
		s->again = true;
		return;
	}
	uint64_t gap = (uint64_t)s->p->conf->presence.min_notify_interval;
	if (s->pkg->throttled && gap && s->last_notify) {
		/* RFC 3856 §6.4: at most one NOTIFY per interval; the changes
		 * until its end are merged into one */
		uint64_t now = cpm_now_ms();
		if (now < s->last_notify + gap) {
			if (!uv_is_active((uv_handle_t *)&s->throttle))
				uv_timer_start(&s->throttle, on_throttle, s->last_notify + gap - now,
					       0);
			return;
		}
	}
	notify_state(s);
}

void cpm_pres__notify_aor(struct cpm_pres *p, const char *aor, const struct cpm_pres__pkg *pkg)
{
	if (p->stopping)
		return;
	/* a pending watcher learns nothing, not even that something changed */
	for (sub_t *s = cpm_pres__subs_of(p, aor); s; s = s->anext)
		if (s->pkg == pkg && s->state != CPM_PRES__PENDING)
			cpm_pres__sub_changed(s);
}

void cpm_pres__sub_end(sub_t *s, const char *reason)
{
	if (s->gone || s->ending)
		return;
	s->ending = true;
	s->reason = reason;
	uv_timer_stop(&s->timer);
	uv_timer_stop(&s->throttle);
	if (s->busy)
		s->again = true; /* on_notified sends it */
	else
		notify_state(s);
}

void cpm_pres__sub_activate(sub_t *s)
{
	if (s->gone || s->ending || s->state != CPM_PRES__PENDING)
		return;
	s->state = CPM_PRES__ACTIVE;
	s->wevent = "approved";
	cpm_logi(s->call_id, "%s may now watch %s", s->watcher, s->aor);
	cpm_pres__sub_changed(s);
}

static void on_expiry(uv_timer_t *t)
{
	/* RFC 6665 §4.2.2: a terminating NOTIFY, reason=timeout */
	cpm_pres__sub_end(t->data, "timeout");
}

static void arm(sub_t *s, int64_t expires)
{
	s->expires_at = cpm_wall_s() + expires;
	uv_timer_start(&s->timer, on_expiry, (uint64_t)expires * 1000, 0);
}

/* ------------------------------------------------- message-summary */

struct mwi_job {
	sub_t *s;
	const struct cpm_conf *conf;
	int rc;
	unsigned new_text, new_mm;
	unsigned listed;
	struct cpm_buf list;
};

static bool is_text(const char *ct)
{
	/* the stored Content-Type keeps its parameters */
	return strncasecmp(ct, "text/", 5) == 0 || strncasecmp(ct, "message/cpim", 12) == 0;
}

static int mwi_one(void *arg, const struct cpm_store_msg *m)
{
	struct mwi_job *j = arg;
	if (m->kind == CPM_STORE_MSG_REPORT || (m->flags & CPM_STORE_MSG_F_TAKEN))
		return 0; /* reports, and what a device took, are not waiting */
	if (is_text(m->content_type))
		j->new_text++;
	else
		j->new_mm++;
	if (j->listed < MWI_LIST_MAX) {
		/* RFC 3842 §5.2 message headers, one block per message */
		char date[CPM_DATE_LEN];
		cpm_fmt_date(m->date, date);
		cpm_buf_printf(&j->list, "\r\nFrom: %s%s<%s>\r\nDate: %s\r\nContent-Type: %s\r\n",
			       m->sender_display, m->sender_display[0] ? " " : "", m->sender,
			       date, m->content_type);
		if (m->subject[0])
			cpm_buf_printf(&j->list, "Subject: %s\r\n", m->subject);
		if (m->message_id[0])
			cpm_buf_printf(&j->list, "Message-ID: %s\r\n", m->message_id);
		/* where it can be picked up (GET, the token or the user's
		 * Digest): RFC 2557's Content-Location names it */
		char url[1200];
		size_t n;
		if (cpm_conf_http_base(j->conf, url, sizeof url) == 0 &&
		    (n = strlen(url)) + 64 < sizeof url) {
			snprintf(url + n, sizeof url - n, "/m/%lld%s%s", (long long)m->id,
				 m->token[0] ? "?t=" : "", m->token);
			cpm_buf_printf(&j->list, "Content-Location: %s\r\n", url);
		}
		j->listed++;
	}
	return 0;
}

static void mwi_work(struct cpm_store *st, void *arg)
{
	struct mwi_job *j = arg;
	j->rc = cpm_store_msg_list_pending(st, j->s->aor, 0, 0, cpm_wall_s(), mwi_one, j);
}

static void mwi_done(void *arg)
{
	struct mwi_job *j = arg;
	sub_t *s = j->s;
	if (s->p->stopping && !s->ending) {
		s->busy = false;
		cpm_buf_free(&j->list);
		free(j);
		return;
	}
	struct cpm_buf b;
	cpm_buf_init(&b, 65536);
	/* RFC 3842 §5.2 */
	int rc = cpm_buf_printf(&b, "Messages-Waiting: %s\r\nMessage-Account: sip:%s\r\n"
				    "text-message: %u/0\r\nmultimedia-message: %u/0\r\n",
				j->new_text + j->new_mm ? "yes" : "no", s->aor, j->new_text,
				j->new_mm);
	if (!rc && j->list.len)
		rc = cpm_buf_append(&b, j->list.p, j->list.len);
	cpm_logd(s->call_id, "message-summary of %s: %u text, %u multimedia waiting", s->aor,
		 j->new_text, j->new_mm);
	if (j->rc < 0 || rc) {
		cpm_logw(s->call_id, "message-summary for %s: %s", s->aor,
			 cpm_strerror(j->rc < 0 ? j->rc : rc));
		cpm_pres__sub_notify_failed(s);
	} else {
		cpm_pres__sub_notify(s, b.p, b.len);
	}
	cpm_buf_free(&b);
	cpm_buf_free(&j->list);
	free(j);
}

static void mwi_state(sub_t *s)
{
	struct mwi_job *j = calloc(1, sizeof *j);
	if (!j) {
		cpm_pres__sub_notify_failed(s);
		return;
	}
	j->s = s;
	j->conf = s->p->conf;
	cpm_buf_init(&j->list, 32768);
	if (cpm_store_worker_submit(s->p->store, mwi_work, mwi_done, j)) {
		cpm_buf_free(&j->list);
		free(j);
		cpm_pres__sub_notify_failed(s);
	}
}

/* Message waiting is private: a user subscribes to their own AoR. */
static int mwi_authorize(struct cpm_pres *p, const char *aor, const char *watcher)
{
	return strcmp(aor, watcher) == 0 ? CPM_PRES__ACTIVE : 403;
}

static const struct cpm_pres__pkg mwi_pkg = {
	.name = "message-summary",
	.alias = "message", /* the seeds' name */
	.ctype = MWI_TYPE,
	.authorize = mwi_authorize,
	.state = mwi_state,
};

static const struct cpm_pres__pkg *const pkgs[] = {
	&mwi_pkg,
	&cpm_pres__presence_pkg,
	&cpm_pres__winfo_pkg,
	&cpm_pres__conf_pkg,
};

/* ---------------------------------------------------------- SUBSCRIBE */

static const struct cpm_pres__pkg *package_of(const struct cpm_sip_msg *req, char *event,
					      size_t n)
{
	const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(req, CPM_SIP_H_EVENT);
	if (!h)
		return NULL;
	struct cpm_str v = h->value;
	long semi = cpm_str_chr(v, ';');
	if (semi >= 0)
		v.len = (size_t)semi;
	v = cpm_str_trim(v);
	for (size_t i = 0; i < sizeof pkgs / sizeof *pkgs; i++)
		if ((cpm_str_ieq_cstr(v, pkgs[i]->name) ||
		     (pkgs[i]->alias && cpm_str_ieq_cstr(v, pkgs[i]->alias))) &&
		    cpm_str_copy(v, event, n) == 0)
			return pkgs[i];
	return NULL;
}

void cpm_pres__reply(struct cpm_pres *p, struct cpm_txn *st, int status, const char *reason,
		     const char *tag, const char *extra)
{
	char hdrs[1024], fresh[24];
	const struct cpm_sip_msg *req = cpm_txn_req(st);
	if (!tag && req && !req->to.tag.len) {
		/* RFC 3261 §8.2.6.2: every final answer out of a dialog */
		cpm_rand_hex(fresh, 8);
		tag = fresh;
	}
	snprintf(hdrs, sizeof hdrs, "Server: %s\r\n%s", p->conf->server.name, extra ? extra : "");
	cpm_txn_reply(st, status, reason, tag, hdrs, CPM_STR_NULL, CPM_STR_NULL);
}

int64_t cpm_pres__expires(struct cpm_pres *p, struct cpm_txn *st, const struct cpm_sip_msg *req,
			  const char *tag)
{
	const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(req, CPM_SIP_H_EXPIRES);
	uint64_t v = (uint64_t)p->conf->presence.default_expires;
	if (h && cpm_str_to_u64(h->value, UINT32_MAX, &v)) {
		cpm_pres__reply(p, st, 400, "Bad Expires", tag, NULL);
		return -1;
	}
	int64_t min = p->conf->presence.min_expires, max = p->conf->presence.max_expires;
	if (v > 0 && (int64_t)v < min) {
		char extra[64];
		snprintf(extra, sizeof extra, "Min-Expires: %lld\r\n", (long long)min);
		cpm_pres__reply(p, st, 423, NULL, tag, extra);
		return -1;
	}
	return (int64_t)v > max ? max : (int64_t)v;
}

int cpm_pres__identity(const struct cpm_sip_msg *req, const char *from_aor, char *out, size_t sz)
{
	if (from_aor && from_aor[0]) {
		int n = snprintf(out, sz, "%s", from_aor);
		return n < 0 || (size_t)n >= sz ? CPM_ETOOBIG : 0;
	}
	struct cpm_sip_uri u;
	int rc = cpm_sip_uri_parse(req->from.uri, &u);
	if (!rc && (u.scheme != CPM_SIP_SCHEME_SIP && u.scheme != CPM_SIP_SCHEME_SIPS))
		rc = CPM_ESCHEME;
	if (!rc)
		rc = cpm_sip_uri_aor(&u, out, sz) < 0 ? CPM_EPARSE : 0;
	return rc;
}

static void accepted(struct cpm_pres *p, struct cpm_txn *st, sub_t *s, int64_t e, bool fresh)
{
	char extra[2048];
	/* §12.1.1: a dialog-creating 2xx copies the Record-Route */
	snprintf(extra, sizeof extra, "Expires: %lld\r\nContact: %s\r\n%s%s%s",
		 (long long)e, s->contact, fresh && s->route[0] ? "Record-Route: " : "",
		 fresh ? s->route : "", fresh && s->route[0] ? "\r\n" : "");
	/* 202 for a subscription pending authorization: RFC 3265 §3.1.6.1
	 * (RFC 6665 §8.3.1 lets new subscribers take it as 200) */
	int status = s->state == CPM_PRES__PENDING ? 202 : 200;
	cpm_pres__reply(p, st, status, NULL, fresh ? s->local_tag : NULL, extra);
	if (e == 0) { /* a fetch, or the end (RFC 6665 §4.2.1.4) */
		cpm_pres__sub_end(s, "timeout");
		return;
	}
	arm(s, e);
	/* RFC 6665 §4.2.1.2: the current state after each (re)subscription */
	if (fresh) {
		notify_state(s);
	} else {
		s->refreshed = true;
		cpm_pres__sub_changed(s);
	}
}

struct refresh_check {
	struct cpm_pres *p;
	char tag[24];
};

static void refresh_checked(void *arg, int found)
{
	struct refresh_check *c = arg;
	sub_t *s = cpm_pres__map_get(&c->p->by_tag, c->tag);
	if (s && found == 0) /* the presentity is gone (cpmd user del) */
		cpm_pres__sub_end(s, "noresource");
	free(c);
}

static bool refresh(struct cpm_pres *p, struct cpm_txn *st, const struct cpm_sip_msg *req)
{
	char tag[24];
	sub_t *s = NULL;
	if (cpm_str_copy(req->to.tag, tag, sizeof tag) == 0)
		s = cpm_pres__map_get(&p->by_tag, tag);
	if (!s || s->ending || !cpm_str_eq_cstr(req->call_id, s->call_id) ||
	    !cpm_str_eq_cstr(req->from.tag, s->remote_tag)) {
		/* RFC 6665 §4.1.3: no such subscription */
		cpm_pres__reply(p, st, 481, NULL, NULL, NULL);
		return true;
	}
	if (req->cseq.num <= s->remote_cseq) {
		cpm_pres__reply(p, st, 500, "CSeq Out Of Order", NULL, "Retry-After: 1\r\n");
		return true;
	}
	s->remote_cseq = req->cseq.num;
	int64_t e = cpm_pres__expires(p, st, req, NULL);
	if (e < 0)
		return true;
	accepted(p, st, s, e, false);
	if (e > 0 && s->pkg->watcher) {
		struct refresh_check *c = calloc(1, sizeof *c);
		if (c) {
			c->p = p;
			memcpy(c->tag, s->local_tag, sizeof c->tag);
			if (cpm_pres__user_check(p, s->aor, refresh_checked, c))
				free(c);
		}
	}
	return true;
}

/* The checks of a new SUBSCRIBE that need no state; 0, or -1 when st
 * was answered.  Fills s (not linked anywhere). */
static int prepare(struct cpm_pres *p, struct cpm_txn *st, const struct cpm_sip_msg *req,
		   const char *from_aor, const struct cpm_pres__pkg *pkg, sub_t *s, int64_t *e)
{
	const struct cpm_sip_hdr *acc = cpm_sip_msg_hdr(req, CPM_SIP_H_ACCEPT);
	if (acc && !cpm_sip_list_has(acc->value, pkg->ctype)) {
		char extra[128];
		snprintf(extra, sizeof extra, "Accept: %s\r\n", pkg->ctype);
		cpm_pres__reply(p, st, 406, NULL, NULL, extra);
		return -1;
	}
	const struct cpm_sip_hdr *ch = cpm_sip_msg_hdr(req, CPM_SIP_H_CONTACT);
	struct cpm_sip_addr ca;
	struct cpm_str cur = ch ? ch->value : CPM_STR_NULL;
	if (!ch || cpm_sip_addr_next(&cur, &ca) != 1 || ca.star) {
		cpm_pres__reply(p, st, 400, "Missing Contact", NULL, NULL);
		return -1;
	}
	*e = cpm_pres__expires(p, st, req, NULL);
	if (*e < 0)
		return -1;
	/* the route set (UAS: the Record-Route values in order, §12.1.1) and
	 * the Event id (RFC 6665 §7.2.1) */
	size_t rl = 0;
	for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(req, CPM_SIP_H_RECORD_ROUTE); h;
	     h = cpm_sip_msg_hdr_next(req, h)) {
		int n = snprintf(s->route + rl, sizeof s->route - rl, "%s%.*s", rl ? ", " : "",
				 (int)h->value.len, h->value.s);
		if (n < 0 || (size_t)n >= sizeof s->route - rl) {
			cpm_pres__reply(p, st, 400, "Record-Route Too Long", NULL, NULL);
			return -1;
		}
		rl += (size_t)n;
	}
	const struct cpm_sip_hdr *evh = cpm_sip_msg_hdr(req, CPM_SIP_H_EVENT);
	struct cpm_str idv;
	long semi = evh ? cpm_str_chr(evh->value, ';') : -1;
	if (semi >= 0 &&
	    cpm_sip_param_find((struct cpm_str){ evh->value.s + semi, evh->value.len - (size_t)semi },
			       "id", &idv) &&
	    cpm_str_copy(cpm_str_trim(idv), s->event_id, sizeof s->event_id)) {
		cpm_pres__reply(p, st, 400, "Event id Too Long", NULL, NULL);
		return -1;
	}
	if (cpm_str_copy(ca.uri, s->target, sizeof s->target) ||
	    cpm_str_copy(req->call_id, s->call_id, sizeof s->call_id) ||
	    cpm_str_copy(req->from.tag, s->remote_tag, sizeof s->remote_tag) ||
	    cpm_str_copy(req->from.uri, s->remote_uri, sizeof s->remote_uri) ||
	    cpm_str_copy(req->to.uri, s->local_uri, sizeof s->local_uri)) {
		cpm_pres__reply(p, st, 400, "Header Too Long", NULL, NULL);
		return -1;
	}
	if (cpm_pres__identity(req, from_aor, s->watcher, sizeof s->watcher)) {
		cpm_pres__reply(p, st, 400, "Bad From", NULL, NULL);
		return -1;
	}
	struct cpm_pres__watched *w = cpm_pres__map_get(&p->by_aor, s->aor);
	if (p->nsubs >= (unsigned)p->conf->presence.max_subscriptions ||
	    (pkg->watcher && w && w->nwatchers >= (unsigned)p->conf->presence.max_watchers)) {
		cpm_pres__reply(p, st, 503, "Too Many Subscriptions", NULL, "Retry-After: 60\r\n");
		return -1;
	}
	return 0;
}

void cpm_pres__sub_create(struct cpm_pres *p, struct cpm_txn *st, const char *aor,
		   const char *from_aor, const struct cpm_pres__pkg *pkg, const char *event)
{
	const struct cpm_sip_msg *req = cpm_txn_req(st);
	const struct cpm_net_dest *src = cpm_txn_src(st);
	sub_t *s = calloc(1, sizeof *s);
	if (!s || !req || !src) {
		cpm_pres__reply(p, st, 500, NULL, NULL, NULL);
		free(s);
		return;
	}
	int64_t e;
	snprintf(s->aor, sizeof s->aor, "%s", aor);
	if (prepare(p, st, req, from_aor, pkg, s, &e)) {
		free(s);
		return;
	}
	int decision = pkg->authorize(p, aor, s->watcher);
	if (decision >= 300) {
		cpm_logi(s->call_id, "%s may not subscribe to %s of %s: %d", s->watcher, event, aor, decision);
		cpm_pres__reply(p, st, decision, NULL, NULL, NULL);
		free(s);
		return;
	}
	struct cpm_pres__watched *w = cpm_pres__map_get(&p->by_aor, aor);
	if (!w) {
		w = calloc(1, sizeof *w);
		if (!w || cpm_pres__map_put(&p->by_aor, aor, w)) {
			free(w);
			free(s);
			cpm_pres__reply(p, st, 500, NULL, NULL, NULL);
			return;
		}
	}
	s->p = p;
	s->pkg = pkg;
	s->state = decision == CPM_PRES__PENDING ? CPM_PRES__PENDING : CPM_PRES__ACTIVE;
	s->wevent = "subscribe";
	snprintf(s->event, sizeof s->event, "%s", event);
	do
		cpm_rand_hex(s->local_tag, 8);
	while (cpm_pres__map_get(&p->by_tag, s->local_tag));
	if (cpm_pres__map_put(&p->by_tag, s->local_tag, s)) {
		if (!w->subs) {
			cpm_pres__map_del(&p->by_aor, aor);
			free(w);
		}
		free(s);
		cpm_pres__reply(p, st, 500, NULL, NULL, NULL);
		return;
	}
	s->remote_cseq = req->cseq.num;
	s->flow = *src;
	s->created = cpm_wall_s();
	const struct cpm_net_listener *l = src->lsn;
	if (l) {
		bool v6 = strchr(l->host, ':') != NULL;
		snprintf(s->contact, sizeof s->contact, "<sip:%s%s%s:%u%s>", v6 ? "[" : "", l->host,
			 v6 ? "]" : "", l->port, l->proto == CPM_NET_TCP ? ";transport=tcp" : "");
	} else {
		snprintf(s->contact, sizeof s->contact, "<%s>", s->local_uri);
	}
	uv_timer_init(p->loop, &s->timer);
	uv_timer_init(p->loop, &s->throttle);
	s->timer.data = s->throttle.data = s;
	s->next = p->subs;
	if (s->next)
		s->next->prev = s;
	p->subs = s;
	p->nsubs++;
	s->anext = w->subs;
	if (s->anext)
		s->anext->aprev = s;
	w->subs = s;
	if (pkg->watcher)
		w->nwatchers++;
	cpm_logi(s->call_id, "%s subscribed to %s of %s for %lld s%s", s->watcher, s->event,
		 s->aor, (long long)e, s->state == CPM_PRES__PENDING ? " (pending)" : "");
	accepted(p, st, s, e, true);
	if (pkg->created && !s->gone)
		pkg->created(s, decision == CPM_PRES__PENDING);
}

struct new_ctx {
	const struct cpm_pres__pkg *pkg;
	char event[32];
	char aor[CPM_PRES_AOR_LEN];
	char from_aor[CPM_PRES_AOR_LEN];
};

static void new_checked(struct cpm_pres *p, struct cpm_txn *st, void *arg)
{
	struct new_ctx *c = arg;
	cpm_pres__sub_create(p, st, c->aor, c->from_aor, c->pkg, c->event);
}

static void new_subscription(struct cpm_pres *p, struct cpm_txn *st,
			     const struct cpm_sip_msg *req, const char *aor, const char *from_aor,
			     const struct cpm_pres__pkg *pkg, const char *event)
{
	/* the cheap checks first, then: does the presentity exist?  (A user
	 * who authenticated and subscribes to themselves does.) */
	sub_t probe = { 0 };
	int64_t e;
	snprintf(probe.aor, sizeof probe.aor, "%s", aor);
	if (prepare(p, st, req, from_aor, pkg, &probe, &e))
		return;
	if (pkg->admit) {
		pkg->admit(p, st, aor, probe.watcher, from_aor, event);
		return;
	}
	if (from_aor[0] && strcmp(from_aor, aor) == 0) {
		cpm_pres__sub_create(p, st, aor, from_aor, pkg, event);
		return;
	}
	struct new_ctx *c = calloc(1, sizeof *c);
	if (!c) {
		cpm_pres__reply(p, st, 500, NULL, NULL, NULL);
		return;
	}
	c->pkg = pkg;
	snprintf(c->event, sizeof c->event, "%s", event);
	snprintf(c->aor, sizeof c->aor, "%s", aor);
	snprintf(c->from_aor, sizeof c->from_aor, "%s", from_aor);
	cpm_pres__with_user(p, st, aor, new_checked, c);
}

static bool on_request(void *arg, struct cpm_txn *st, const struct cpm_sip_msg *req,
		       const struct cpm_net_dest *src, const char *aor, const char *from_aor)
{
	struct cpm_pres *p = arg;
	if (p->stopping)
		return false;
	if (req->method == CPM_SIP_PUBLISH && aor) {
		cpm_pres__publish(p, st, req, src, aor, from_aor);
		return true;
	}
	/* seed 000 Example 1: the INVITE reaches a busy user; it is not
	 * forked, the caller hears "busy", the user finds a notice later */
	if (req->method == CPM_SIP_INVITE && aor && !req->to.tag.len &&
	    p->conf->presence.busy_status && cpm_pres_is_busy(p, aor)) {
		char hdrs[256], caller[512] = "", display[128] = "";
		snprintf(hdrs, sizeof hdrs, "Server: %s\r\nWarning: 399 cpmd \"busy (presence)\"\r\n",
			 p->conf->server.name);
		cpm_logi(aor, "INVITE not forked: presence says busy (%d)",
			 p->conf->presence.busy_status);
		char tag[17];
		cpm_rand_hex(tag, 8);
		cpm_txn_reply(st, p->conf->presence.busy_status, NULL, tag, hdrs, CPM_STR_NULL,
			      CPM_STR_NULL);
		if (p->missed_cb && cpm_str_copy(req->from.uri, caller, sizeof caller) == 0) {
			if (req->from.display.len < sizeof display)
				cpm_str_copy(req->from.display, display, sizeof display);
			p->missed_cb(p->missed_arg, aor, caller, display);
		}
		return true;
	}
	if (req->method != CPM_SIP_SUBSCRIBE)
		return false;
	if (!aor) { /* to the server itself: a refresh in one of our dialogs */
		if (!req->to.tag.len)
			return false;
		return refresh(p, st, req);
	}
	char event[32];
	const struct cpm_pres__pkg *pkg = package_of(req, event, sizeof event);
	if (!pkg)
		return false; /* other packages are the devices' business */
	if (pkg->serves && !pkg->serves(p, aor))
		return false; /* not a resource of ours: routed as any request */
	new_subscription(p, st, req, aor, from_aor, pkg, event);
	return true;
}

/* ------------------------------------------------------- user check */

struct user_job {
	char aor[CPM_PRES_AOR_LEN];
	int rc;
	void (*cb)(void *arg, int found);
	void *arg;
};

static void user_work(struct cpm_store *st, void *arg)
{
	struct user_job *j = arg;
	struct cpm_store_user u;
	j->rc = cpm_store_user_get(st, j->aor, &u);
}

static void user_done(void *arg)
{
	struct user_job *j = arg;
	j->cb(j->arg, j->rc == 0 ? 1 : j->rc == CPM_ENOTFOUND ? 0 : j->rc);
	free(j);
}

int cpm_pres__user_check(struct cpm_pres *p, const char *aor, void (*cb)(void *arg, int found),
			 void *arg)
{
	struct user_job *j = calloc(1, sizeof *j);
	if (!j)
		return CPM_ENOMEM;
	snprintf(j->aor, sizeof j->aor, "%s", aor);
	j->cb = cb;
	j->arg = arg;
	int rc = cpm_store_worker_submit(p->store, user_work, user_done, j);
	if (rc)
		free(j);
	return rc;
}

struct with_user {
	struct cpm_pres *p;
	struct cpm_txn *st;
	void (*cont)(struct cpm_pres *p, struct cpm_txn *st, void *arg);
	void *arg;
};

static void with_user_gone(void *owner, struct cpm_txn *t)
{
	struct with_user *w = owner;
	w->st = NULL;
}

static void with_user_checked(void *arg, int found)
{
	struct with_user *w = arg;
	if (w->st) {
		cpm_txn_set_owner(w->st, NULL, NULL);
		if (w->p->stopping)
			cpm_pres__reply(w->p, w->st, 503, NULL, NULL, NULL);
		else if (found < 0)
			cpm_pres__reply(w->p, w->st, 500, "Storage Unavailable", NULL, NULL);
		else if (found == 0)
			cpm_pres__reply(w->p, w->st, 404, NULL, NULL, NULL);
		else
			w->cont(w->p, w->st, w->arg);
	}
	free(w->arg);
	free(w);
}

void cpm_pres__with_user(struct cpm_pres *p, struct cpm_txn *st, const char *aor,
			 void (*cont)(struct cpm_pres *p, struct cpm_txn *st, void *arg), void *arg)
{
	struct with_user *w = calloc(1, sizeof *w);
	if (w) {
		w->p = p;
		w->st = st;
		w->cont = cont;
		w->arg = arg;
		cpm_txn_set_owner(st, w, with_user_gone);
	}
	if (!w || cpm_pres__user_check(p, aor, with_user_checked, w)) {
		if (w)
			cpm_txn_set_owner(st, NULL, NULL);
		cpm_pres__reply(p, st, 500, "Storage Unavailable", NULL, NULL);
		free(w);
		free(arg);
	}
}

/* ---------------------------------------------------------------- API */

void cpm_pres_changed(struct cpm_pres *p, const char *package, const char *aor)
{
	if (!p || p->stopping)
		return;
	for (size_t i = 0; i < sizeof pkgs / sizeof *pkgs; i++)
		if (strcmp(package, pkgs[i]->name) == 0)
			cpm_pres__notify_aor(p, aor, pkgs[i]);
}

int cpm_pres_new(struct cpm_core *core, struct cpm_pres **out)
{
	struct cpm_pres *p = calloc(1, sizeof *p);
	if (!p)
		return CPM_ENOMEM;
	p->core = core;
	p->conf = cpm_core_conf(core);
	p->store = cpm_core_store(core);
	p->loop = cpm_core_loop(core);
	int rc = cpm_pres__presence_init(p);
	if (!rc)
		rc = cpm_pres__conf_init(p);
	if (!rc)
		rc = cpm_core_add_service(core, on_request, p);
	if (rc) {
		cpm_pres_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void cpm_pres_stop(struct cpm_pres *p)
{
	if (!p)
		return;
	/* RFC 6665 §4.2.2 "deactivated": the subscriptions live in memory
	 * and end with this process; the subscribers retry at once (they
	 * reach the restarted server) */
	for (sub_t *s = p->subs, *next; s; s = next) {
		next = s->next;
		cpm_pres__sub_end(s, "deactivated");
	}
	p->stopping = true;
	for (sub_t *s = p->subs; s; s = s->next) {
		uv_timer_stop(&s->timer);
		uv_timer_stop(&s->throttle);
	}
	cpm_pres__presence_stop(p);
}

void cpm_pres_free(struct cpm_pres *p)
{
	if (!p)
		return;
	p->stopping = true;
	while (p->subs)
		sub_free(p->subs);
	cpm_pres__map_free(&p->by_tag, NULL);
	cpm_pres__map_free(&p->by_aor, free);
	cpm_pres__presence_free(p);
	cpm_pres__conf_free(p);
	free(p);
}
