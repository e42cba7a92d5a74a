/* RFC 6665 subscriptions held by the server (the notifier), and the
 * message-summary package (RFC 3842; seed 000's "Event: message", R43). */
#include "pres/pres.h"

#include "conf/conf.h"
#include "core/core.h"
#include "net/net.h"
#include "sip/sip.h"
#include "store/store.h"
#include "txn/txn.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#define MIN_EXPIRES 60
#define MAX_EXPIRES 86400
#define DEFAULT_EXPIRES 3600
#define MWI_TYPE "application/simple-message-summary"
#define MWI_LIST_MAX 10 /* messages listed in one NOTIFY */

struct sub {
	struct sub *prev, *next;
	struct cpm_pres *p;
	char event[32];        /* the Event token the subscriber used */
	char aor[256];
	char call_id[256];
	char local_tag[24];
	char remote_tag[128];
	char local_uri[512];   /* the SUBSCRIBE's To URI: our From */
	char remote_uri[512];  /* the SUBSCRIBE's From URI: our To */
	char target[512];      /* the subscriber's Contact */
	char contact[600];     /* ours */
	struct cpm_net_dest flow;
	uint32_t remote_cseq, local_cseq;
	int64_t expires_at;    /* wall seconds */
	uv_timer_t timer;
	bool busy;             /* a NOTIFY (or its state query) in flight */
	bool again;            /* state changed meanwhile */
	bool ending;           /* the next NOTIFY is the terminating one */
	bool term_sent;        /* ... and it is on its way */
	const char *reason;    /* of the terminating NOTIFY */
	bool gone;             /* unlinked, waiting for its handle to close */
};

struct cpm_pres {
	struct cpm_core *core;
	const struct cpm_conf *conf;
	struct cpm_store_worker *store;
	uv_loop_t *loop;
	struct sub *subs;
	bool stopping;
};

/* ------------------------------------------------------------ lifetime */

static void sub_closed(uv_handle_t *h)
{
	free(h->data);
}

static void sub_free(struct sub *s)
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
	uv_timer_stop(&s->timer);
	uv_close((uv_handle_t *)&s->timer, sub_closed);
}

/* ------------------------------------------------------- the package */

struct mwi_job {
	struct sub *s;
	const struct cpm_conf *conf;
	int rc;
	unsigned new_text, new_mm;
	unsigned listed;
	struct cpm_buf list;
};

static bool is_text(const char *ct)
{
	return strncmp(ct, "text/", 5) == 0 || strcmp(ct, "message/cpim") == 0;
}

static int mwi_one(void *arg, const struct cpm_store_msg *m)
{
	struct mwi_job *j = arg;
	if (m->kind == CPM_STORE_MSG_REPORT)
		return 0; /* reports are not messages waiting */
	if (is_text(m->content_type))
		j->new_text++;
	else
		j->new_mm++;
	if (j->listed < MWI_LIST_MAX) {
		/* RFC 3842 §5.2 message headers, one block per message */
		char date[64];
		time_t t = (time_t)m->date;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
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

static void notify_send(struct sub *s, const char *body, size_t len);

static void mwi_done(void *arg)
{
	struct mwi_job *j = arg;
	struct sub *s = j->s;
	if (s->gone || s->p->stopping) {
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
		s->busy = false;
	} else {
		notify_send(s, b.p, b.len);
	}
	cpm_buf_free(&b);
	cpm_buf_free(&j->list);
	free(j);
}

/* Fetch the state, then NOTIFY it (one NOTIFY in flight per
 * subscription; a change meanwhile sends one more afterwards). */
static void notify_state(struct sub *s)
{
	if (s->busy) {
		s->again = true;
		return;
	}
	struct mwi_job *j = calloc(1, sizeof *j);
	if (!j)
		return;
	j->s = s;
	j->conf = s->p->conf;
	cpm_buf_init(&j->list, 32768);
	s->busy = true;
	s->again = false;
	if (cpm_store_worker_submit(s->p->store, mwi_work, mwi_done, j)) {
		s->busy = false;
		cpm_buf_free(&j->list);
		free(j);
	}
}

/* ------------------------------------------------------------- NOTIFY */

static void on_notified(void *arg, int status, const struct cpm_sip_msg *resp)
{
	struct sub *s = arg;
	s->busy = false;
	if (s->gone)
		return;
	if (status >= 300 || s->term_sent) {
		/* RFC 6665 §4.2.2: a failed NOTIFY (481, timeout, ...) ends
		 * the subscription; so does the terminating one */
		if (status >= 300)
			cpm_logi(s->call_id, "subscription of %s to %s ended: NOTIFY got %d",
				 s->remote_uri, s->aor, status);
		sub_free(s);
		return;
	}
	if (s->again)
		notify_state(s);
}

static void notify_send(struct sub *s, const char *body, size_t len)
{
	struct cpm_buf h;
	cpm_buf_init(&h, 8192);
	int64_t left = s->expires_at - cpm_wall_s();
	if (left < 0)
		left = 0;
	char state[96];
	s->term_sent = s->ending;
	if (s->ending)
		snprintf(state, sizeof state, "terminated;reason=%s", s->reason ? s->reason : "timeout");
	else
		snprintf(state, sizeof state, "active;expires=%lld", (long long)left);
	int rc = cpm_buf_printf(&h, "From: <%s>;tag=%s\r\nTo: <%s>;tag=%s\r\nCall-ID: %s\r\n"
				    "CSeq: %u NOTIFY\r\nEvent: %s\r\nSubscription-State: %s\r\n"
				    "Contact: %s\r\n",
				s->local_uri, s->local_tag, s->remote_uri, s->remote_tag, s->call_id,
				++s->local_cseq, s->event, state, s->contact);
	if (!rc)
		rc = cpm_core_send_to_uri(s->p->core, s->target, &s->flow, "NOTIFY", h.p,
					  CPM_STR(MWI_TYPE), (struct cpm_str){ body, len },
					  on_notified, s);
	cpm_buf_free(&h);
	if (rc) {
		cpm_logi(s->call_id, "cannot NOTIFY %s: %s", s->target, cpm_strerror(rc));
		s->busy = false;
		sub_free(s);
		return;
	}
	s->busy = true;
}

static void on_expiry(uv_timer_t *t)
{
	struct sub *s = t->data;
	/* RFC 6665 §4.2.2: a terminating NOTIFY, reason=timeout */
	s->ending = true;
	s->reason = "timeout";
	if (!s->busy)
		notify_state(s);
	else
		s->again = true;
}

static void arm(struct sub *s, int64_t expires)
{
	s->expires_at = cpm_wall_s() + expires;
	uv_timer_start(&s->timer, on_expiry, (uint64_t)expires * 1000, 0);
}

/* ---------------------------------------------------------- SUBSCRIBE */

static bool package_ok(const struct cpm_sip_msg *req, char *event, size_t n)
{
	const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(req, CPM_SIP_H_EVENT);
	if (!h)
		return false;
	struct cpm_str v = h->value;
	long semi = cpm_str_chr(v, ';');
	if (semi >= 0)
		v.len = (size_t)semi;
	v = cpm_str_trim(v);
	/* message-summary (RFC 3842) and the seed's alias "message" */
	if (!cpm_str_ieq_cstr(v, "message-summary") && !cpm_str_ieq_cstr(v, "message"))
		return false;
	return cpm_str_copy(v, event, n) == 0;
}

static void reply(struct cpm_pres *p, struct cpm_txn *st, int status, const char *reason,
		  const char *tag, const char *extra)
{
	char hdrs[1024];
	snprintf(hdrs, sizeof hdrs, "Server: %s\r\n%s", p->conf->server.name, extra ? extra : "");
	cpm_txn_reply(st, status, reason, tag, hdrs, CPM_STR_NULL, CPM_STR_NULL);
}

static int64_t req_expires(const struct cpm_sip_msg *req)
{
	const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(req, CPM_SIP_H_EXPIRES);
	uint64_t v;
	if (!h)
		return DEFAULT_EXPIRES;
	if (cpm_str_to_u64(h->value, UINT32_MAX, &v))
		return -1;
	return (int64_t)v;
}

/* Expires checks shared by new and refreshing SUBSCRIBEs: -1 when answered. */
static int64_t expires_checked(struct cpm_pres *p, struct cpm_txn *st,
			       const struct cpm_sip_msg *req, const char *tag)
{
	int64_t e = req_expires(req);
	if (e < 0) {
		reply(p, st, 400, "Bad Expires", tag, NULL);
		return -1;
	}
	if (e > 0 && e < MIN_EXPIRES) {
		char extra[64];
		snprintf(extra, sizeof extra, "Min-Expires: %d\r\n", MIN_EXPIRES);
		reply(p, st, 423, NULL, tag, extra);
		return -1;
	}
	return e > MAX_EXPIRES ? MAX_EXPIRES : e;
}

static void accepted(struct cpm_pres *p, struct cpm_txn *st, struct sub *s, int64_t e)
{
	char extra[768];
	snprintf(extra, sizeof extra, "Expires: %lld\r\nContact: %s\r\n", (long long)e, s->contact);
	reply(p, st, 200, NULL, s->local_tag, extra);
	if (e == 0) { /* a fetch, or the end (RFC 6665 §4.2.1.4) */
		s->ending = true;
		s->reason = "timeout";
		uv_timer_stop(&s->timer);
	} else {
		arm(s, e);
	}
	notify_state(s);
}

static bool refresh(struct cpm_pres *p, struct cpm_txn *st, const struct cpm_sip_msg *req)
{
	for (struct sub *s = p->subs; s; s = s->next) {
		if (!cpm_str_eq_cstr(req->call_id, s->call_id) ||
		    !cpm_str_eq_cstr(req->from.tag, s->remote_tag) ||
		    !cpm_str_eq_cstr(req->to.tag, s->local_tag))
			continue;
		if (req->cseq.num <= s->remote_cseq) {
			reply(p, st, 500, "CSeq Out Of Order", NULL, "Retry-After: 1\r\n");
			return true;
		}
		s->remote_cseq = req->cseq.num;
		int64_t e = expires_checked(p, st, req, NULL);
		if (e >= 0)
			accepted(p, st, s, e);
		return true;
	}
	/* RFC 6665 §4.1.3: no such subscription */
	reply(p, st, 481, NULL, NULL, NULL);
	return true;
}

static bool on_request(void *arg, struct cpm_txn *st, const struct cpm_sip_msg *req,
		       const struct cpm_net_dest *src, const char *aor, const char *from_aor)
{
	struct cpm_pres *p = arg;
	if (req->method != CPM_SIP_SUBSCRIBE || p->stopping)
		return false;
	char event[32];
	if (!aor) { /* to the server itself: a refresh in one of our dialogs */
		if (!req->to.tag.len)
			return false;
		return refresh(p, st, req);
	}
	if (!package_ok(req, event, sizeof event))
		return false; /* other packages are the devices' business */
	/* message waiting is private: a user subscribes to their own AoR */
	if (from_aor[0] && strcmp(from_aor, aor) != 0) {
		reply(p, st, 403, "Not Your Mailbox", NULL, NULL);
		return true;
	}
	const struct cpm_sip_hdr *acc = cpm_sip_msg_hdr(req, CPM_SIP_H_ACCEPT);
	if (acc && !cpm_sip_list_has(acc->value, MWI_TYPE)) {
		reply(p, st, 406, NULL, NULL, "Accept: " MWI_TYPE "\r\n");
		return true;
	}
	const struct cpm_sip_hdr *ch = cpm_sip_msg_hdr(req, CPM_SIP_H_CONTACT);
	struct cpm_sip_addr ca;
	struct cpm_str cur = ch ? ch->value : CPM_STR_NULL;
	if (!ch || cpm_sip_addr_next(&cur, &ca) != 1 || ca.star) {
		reply(p, st, 400, "Missing Contact", NULL, NULL);
		return true;
	}
	struct sub *s = calloc(1, sizeof *s);
	if (!s) {
		reply(p, st, 500, NULL, NULL, NULL);
		return true;
	}
	s->p = p;
	int64_t e = expires_checked(p, st, req, NULL);
	if (e < 0 || cpm_str_copy(ca.uri, s->target, sizeof s->target) ||
	    cpm_str_copy(req->call_id, s->call_id, sizeof s->call_id) ||
	    cpm_str_copy(req->from.tag, s->remote_tag, sizeof s->remote_tag) ||
	    cpm_str_copy(req->from.uri, s->remote_uri, sizeof s->remote_uri) ||
	    cpm_str_copy(req->to.uri, s->local_uri, sizeof s->local_uri)) {
		if (e >= 0)
			reply(p, st, 400, "Header Too Long", NULL, NULL);
		free(s);
		return true;
	}
	snprintf(s->event, sizeof s->event, "%s", event);
	snprintf(s->aor, sizeof s->aor, "%s", aor);
	cpm_rand_hex(s->local_tag, 8);
	s->remote_cseq = req->cseq.num;
	s->flow = *src;
	const struct cpm_net_listener *l = src->lsn;
	if (l)
		snprintf(s->contact, sizeof s->contact, "<sip:%s:%u%s>", l->host, l->port,
			 l->proto == CPM_NET_TCP ? ";transport=tcp" : "");
	else
		snprintf(s->contact, sizeof s->contact, "<%s>", s->local_uri);
	uv_timer_init(p->loop, &s->timer);
	s->timer.data = s;
	s->next = p->subs;
	if (s->next)
		s->next->prev = s;
	p->subs = s;
	cpm_logi(s->call_id, "%s subscribed to %s of %s for %lld s", s->remote_uri, s->event,
		 s->aor, (long long)e);
	accepted(p, st, s, e);
	return true;
}

/* ---------------------------------------------------------------- API */

void cpm_pres_changed(struct cpm_pres *p, const char *package, const char *aor)
{
	if (!p || p->stopping || strcmp(package, "message-summary") != 0)
		return;
	for (struct sub *s = p->subs; s; s = s->next)
		if (strcmp(s->aor, aor) == 0 && !s->ending)
			notify_state(s);
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
	int rc = cpm_core_add_service(core, on_request, p);
	if (rc) {
		free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void cpm_pres_stop(struct cpm_pres *p)
{
	if (!p)
		return;
	p->stopping = true;
	for (struct sub *s = p->subs; s; s = s->next)
		uv_timer_stop(&s->timer);
}

void cpm_pres_free(struct cpm_pres *p)
{
	if (!p)
		return;
	while (p->subs)
		sub_free(p->subs);
	free(p);
}
