/* The message controller (seed 001's store-and-forward server, seed 003's
 * "message controller"): what core cannot deliver live it decides about
 * with the rules of im_decide.c, keeps durably (202 only after the commit),
 * and delivers when a device of the recipient registers — in arrival
 * order, one message in flight per device, with the original From, Date
 * and body, and the same Call-ID on every attempt of one stored message so
 * that a device can discard duplicates. */
#include "im/im_int.h"

#include "conf/conf.h"
#include "core/core.h"
#include "store/store.h"
#include "txn/txn.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The AoR-level device: bindings without +sip.instance are one device
 * (RFC 5626 instances are the only way to tell phones apart). */
#define DEVICE_AOR "*"
/* Stored-message flag of ours: the sender wants a report if it fails. */
#define F_REPORT_FAILED (1 << 8)


void cpm_im__changed(struct cpm_im_ctl *ctl, const char *aor)
{
	if (ctl->change_cb && !ctl->stopping)
		ctl->change_cb(ctl->change_arg, aor);
}

void cpm_im_ctl_on_change(struct cpm_im_ctl *ctl, void (*cb)(void *arg, const char *aor),
			  void *arg)
{
	ctl->change_cb = cb;
	ctl->change_arg = arg;
}

static void on_registered(void *arg, const char *aor, const char *contact, const char *device);

/* ------------------------------------------------------------- reports */

/* Delivery reports (seed 001 claims 9-11, seed 002 "notify", RFC 5438):
 * an IMDN for the sender is itself a stored message of kind REPORT, so a
 * sender who is offline gets it when they return. */
struct report_job {
	struct cpm_im_ctl *ctl;
	struct cpm_store_msg m;
	struct cpm_buf body;
};

static int xml_escaped(struct cpm_buf *b, const char *s)
{
	int rc = 0;
	for (; *s && !rc; s++) {
		switch (*s) {
		case '&': rc = cpm_buf_puts(b, "&amp;"); break;
		case '<': rc = cpm_buf_puts(b, "&lt;"); break;
		case '>': rc = cpm_buf_puts(b, "&gt;"); break;
		case '"': rc = cpm_buf_puts(b, "&quot;"); break;
		case '\'': rc = cpm_buf_puts(b, "&apos;"); break;
		default: rc = cpm_buf_append(b, s, 1); break;
		}
	}
	return rc;
}

static int report_put_work(struct cpm_store *s, void *arg)
{
	struct report_job *r = arg;
	return cpm_store_msg_put(s, &r->m);
}

static void report_put_done(void *arg, int rc)
{
	struct report_job *r = arg;
	if (rc) {
		cpm_logw(r->m.call_id, "cannot store a report for %s: %s", r->m.recipient,
			 cpm_strerror(rc));
	} else {
		cpm_logi(r->m.call_id, "report %lld stored for %s", (long long)r->m.id,
			 r->m.recipient);
		/* the sender may be online: deliver at once */
		if (!r->ctl->stopping)
			cpm_core_foreach_binding_of(r->ctl->core, r->m.recipient, on_registered,
						    r->ctl);
	}
	cpm_buf_free(&r->body);
	free(r);
}

/* status: "stored" (a processing notification) or "delivered"/"failed"
 * (delivery notifications), RFC 5438 §7.2. */
void cpm_im__report_send(struct cpm_im_ctl *ctl, const char *sender, const char *recipient,
			const char *message_id, const char *status)
{
	struct cpm_sip_uri u;
	char aor[256];
	if (cpm_sip_uri_parse(cpm_str_from_cstr(sender), &u) || !u.user.len ||
	    !cpm_conf_serves_domain(ctl->conf, u.host) || cpm_sip_uri_aor(&u, aor, sizeof aor) < 0) {
		cpm_logi(message_id, "no report to %s: not a user of ours", sender);
		return;
	}
	struct report_job *r = calloc(1, sizeof *r);
	if (!r)
		return;
	r->ctl = ctl;
	cpm_buf_init(&r->body, 8192);
	char when[32];
	time_t now = (time_t)cpm_wall_s();
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	bool processing = strcmp(status, "stored") == 0;
	int rc = cpm_buf_puts(&r->body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
					"<imdn xmlns=\"urn:ietf:params:xml:ns:imdn\">\n"
					"<message-id>");
	rc = rc ? rc : xml_escaped(&r->body, message_id);
	rc = rc ? rc : cpm_buf_printf(&r->body, "</message-id>\n<datetime>%s</datetime>\n"
					      "<recipient-uri>sip:", when);
	rc = rc ? rc : xml_escaped(&r->body, recipient);
	rc = rc ? rc : cpm_buf_puts(&r->body, "</recipient-uri>\n<original-recipient-uri>sip:");
	rc = rc ? rc : xml_escaped(&r->body, recipient);
	rc = rc ? rc : cpm_buf_printf(&r->body,
				      "</original-recipient-uri>\n<%s-notification><status><%s/>"
				      "</status></%s-notification>\n</imdn>\n",
				      processing ? "processing" : "delivery", status,
				      processing ? "processing" : "delivery");
	struct cpm_store_msg *m = &r->m;
	snprintf(m->recipient, sizeof m->recipient, "%s", aor);
	snprintf(m->sender, sizeof m->sender, "sip:%s", recipient);
	snprintf(m->content_type, sizeof m->content_type, "message/imdn+xml");
	char rnd[33];
	cpm_rand_hex(rnd, 16);
	snprintf(m->call_id, sizeof m->call_id, "%s@sf.cpmd", rnd);
	snprintf(m->message_id, sizeof m->message_id, "%.24s", rnd);
	m->date = cpm_wall_s();
	m->expires = m->date + ctl->conf->im.max_lifetime;
	m->kind = CPM_STORE_MSG_REPORT;
	m->body = r->body.p;
	m->body_len = r->body.len;
	if (rc || cpm_store_worker_submit_batchable(ctl->store, report_put_work, report_put_done, r)) {
		cpm_buf_free(&r->body);
		free(r);
	}
}

/* ------------------------------------------------------------- storing */


static void job_gone(void *owner, struct cpm_txn *t)
{
	struct cpm_im__job *j = owner;
	j->st = NULL;
}

void cpm_im__job_free(struct cpm_im__job *j)
{
	if (j->st)
		cpm_txn_set_owner(j->st, NULL, NULL);
	free(j->body);
	free(j->sdp);
	free(j);
}

/* The 200 of an INVITE answered for its user, sent again at T1, 2T1 ...
 * up to T2 until the ACK comes, over UDP (RFC 3261 §13.3.1.4), for at most
 * 64*T1 (the transaction's Timer L, RFC 6026). */
struct ghost {
	struct ghost *next;
	struct cpm_im_ctl *ctl;
	struct cpm_txn *st; /* NULL once the transaction is gone */
	char call_id[128];
	char to_tag[17];
	char *extra;
	char *sdp;
	size_t sdp_len;
	uint64_t interval, elapsed;
	uv_timer_t timer;
};

static void ghost_closed(uv_handle_t *h)
{
	struct ghost *g = h->data;
	free(g->extra);
	free(g->sdp);
	free(g);
}

static void ghost_end(struct ghost *g)
{
	struct cpm_im_ctl *ctl = g->ctl;
	for (struct ghost **pp = &ctl->ghost_list; *pp; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	if (g->st)
		cpm_txn_set_owner(g->st, NULL, NULL);
	uv_timer_stop(&g->timer);
	uv_close((uv_handle_t *)&g->timer, ghost_closed);
}

static void ghost_gone(void *owner, struct cpm_txn *t)
{
	struct ghost *g = owner;
	g->st = NULL;
}

static void ghost_tick(uv_timer_t *t)
{
	struct ghost *g = t->data;
	const struct cpm_conf *c = g->ctl->conf;
	g->elapsed += g->interval;
	if (!g->st || g->elapsed >= 64 * (uint64_t)c->sip.t1) {
		ghost_end(g);
		return;
	}
	cpm_txn_reply(g->st, 200, "OK", g->to_tag, g->extra, CPM_STR("application/sdp"),
		      (struct cpm_str){ g->sdp, g->sdp_len });
	g->interval = g->interval * 2 < (uint64_t)c->sip.t2 ? g->interval * 2 : (uint64_t)c->sip.t2;
	uv_timer_start(&g->timer, ghost_tick, g->interval, 0);
}

static void on_ack(void *arg, const struct cpm_sip_msg *ack)
{
	struct cpm_im_ctl *ctl = arg;
	for (struct ghost *g = ctl->ghost_list; g; g = g->next)
		if (cpm_str_eq_cstr(ack->call_id, g->call_id)) {
			ghost_end(g);
			return;
		}
}

static void ghost_start(struct cpm_im__job *j, const char *tag, const char *extra,
			struct cpm_buf *sdp)
{
	const struct cpm_net_dest *src = cpm_txn_src(j->st);
	const struct cpm_sip_msg *req = cpm_txn_req(j->st);
	if (!src || cpm_net_proto_reliable(src->proto) || !req)
		return; /* a reliable transport does it (§13.3.1.4) */
	struct ghost *g = calloc(1, sizeof *g);
	if (!g || !(g->extra = strdup(extra)) || !(g->sdp = malloc(sdp->len ? sdp->len : 1))) {
		if (g)
			free(g->extra);
		free(g);
		return;
	}
	memcpy(g->sdp, sdp->p, sdp->len);
	g->sdp_len = sdp->len;
	g->ctl = j->ctl;
	g->st = j->st;
	snprintf(g->to_tag, sizeof g->to_tag, "%s", tag);
	cpm_str_copy(req->call_id, g->call_id, sizeof g->call_id);
	g->interval = (uint64_t)j->ctl->conf->sip.t1;
	/* the job lets the transaction go: the ghost follows it now */
	cpm_txn_set_owner(j->st, g, ghost_gone);
	j->st = NULL;
	uv_timer_init(j->ctl->loop, &g->timer);
	g->timer.data = g;
	uv_timer_start(&g->timer, ghost_tick, g->interval, 0);
	g->next = j->ctl->ghost_list;
	j->ctl->ghost_list = g;
}

/* Seed 002 claim 6: a message carried in an INVITE to a user who cannot be
 * reached, stored: the server answers the INVITE for the user (200, no
 * media), the ACK ends it, and a BYE gets 200. */
static void invite_answer(struct cpm_im__job *j)
{
	const struct cpm_net_dest *src = cpm_txn_src(j->st);
	const struct cpm_net_listener *l = src ? src->lsn : NULL;
	const char *host = l ? l->host : "127.0.0.1";
	char extra[1024], tag[17];
	cpm_rand_hex(tag, 8);
	bool v6 = strchr(host, ':') != NULL;
	snprintf(extra, sizeof extra, "Server: %s\r\nContact: <sip:%s%s%s:%u%s>\r\n",
		 j->ctl->conf->server.name, v6 ? "[" : "", host, v6 ? "]" : "",
		 l ? (unsigned)l->port : 5060u,
		 l && l->proto == CPM_NET_TCP ? ";transport=tcp" : "");
	struct cpm_buf sdp;
	cpm_buf_init(&sdp, 4096);
	if (cpm_im__ghost_sdp(&sdp, j->sdp, j->sdp_len, host)) {
		cpm_buf_free(&sdp);
		cpm_txn_reply(j->st, 500, NULL, NULL, NULL, CPM_STR_NULL, CPM_STR_NULL);
		return;
	}
	const struct cpm_sip_msg *req = cpm_txn_req(j->st);
	if (req) {
		struct cpm_im_ctl *ctl = j->ctl;
		cpm_str_copy(req->call_id, ctl->ghosts[ctl->nghost % 32], sizeof ctl->ghosts[0]);
		ctl->nghost++;
	}
	cpm_txn_reply(j->st, 200, "OK", tag, extra, CPM_STR("application/sdp"),
		      (struct cpm_str){ sdp.p, sdp.len });
	ghost_start(j, tag, extra, &sdp);
	cpm_buf_free(&sdp);
}

bool cpm_im__ghost_known(const struct cpm_im_ctl *ctl, struct cpm_str call_id)
{
	unsigned n = ctl->nghost < 32 ? ctl->nghost : 32;
	for (unsigned i = 0; i < n; i++)
		if (cpm_str_eq_cstr(call_id, ctl->ghosts[i]))
			return true;
	return false;
}

int cpm_im__ghost_sdp(struct cpm_buf *b, const char *offer, size_t len, const char *host)
{
	bool v6 = strchr(host, ':') != NULL;
	char sess[17];
	cpm_rand_hex(sess, 8);
	int rc = cpm_buf_printf(b, "v=0\r\no=cpmd %llu 1 IN %s %s\r\ns=-\r\nc=IN %s %s\r\nt=0 0\r\n",
				(unsigned long long)strtoull(sess, NULL, 16) >> 1,
				v6 ? "IP6" : "IP4", host, v6 ? "IP6" : "IP4", host);
	const char *p = offer, *end = offer ? offer + len : NULL;
	while (!rc && p && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		size_t l = (size_t)(e - p);
		if (l && p[l - 1] == '\r')
			l--;
		if (l > 2 && p[0] == 'm' && p[1] == '=') {
			/* m=<media> <port> <proto> <fmt> ...: the port becomes 0 */
			const char *sp1 = memchr(p, ' ', l);
			const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(p + l - sp1 - 1)) : NULL;
			if (sp1 && sp2)
				rc = cpm_buf_printf(b, "%.*s 0%.*s\r\n", (int)(sp1 - p), p,
						    (int)(p + l - sp2), sp2);
		}
		p = nl ? nl + 1 : NULL;
	}
	return rc;
}

void cpm_im__reply(struct cpm_im__job *j, int status, const char *reason, const char *extra)
{
	if (j->invite && j->st && status == 202) {
		invite_answer(j);
		return;
	}
	if (j->fin) {
		cpm_im__fin_cb *fin = j->fin;
		j->fin = NULL;
		fin(j->fin_arg, status, reason ? reason : cpm_sip_reason(status));
		return;
	}
	if (!j->st)
		return;
	char hdrs[1024];
	snprintf(hdrs, sizeof hdrs, "Server: %s\r\n%s", j->ctl->conf->server.name,
		 extra ? extra : "");
	cpm_txn_reply(j->st, status, reason, NULL, hdrs, CPM_STR_NULL, CPM_STR_NULL);
}

static int64_t parse_date(const struct cpm_sip_msg *req)
{
	const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(req, CPM_SIP_H_DATE);
	int64_t t;
	return h && cpm_parse_date(h->value, &t) == 0 ? t : cpm_wall_s();
}

static void put_done(void *arg, int rc)
{
	struct cpm_im__job *j = arg;
	if (rc == CPM_EEXIST) {
		/* the sender's retransmission of a message stored before (its
		 * 202 was lost, e.g. in a crash): stored once, accepted again */
		cpm_logi(j->m.call_id, "message for %s already stored: 202 again", j->m.recipient);
		cpm_im__reply(j, 202, NULL, NULL);
		cpm_im__job_free(j);
		return;
	}
	if (rc) {
		cpm_loge(j->m.call_id, "cannot store the message for %s: %s", j->m.recipient,
			 cpm_strerror(rc));
		cpm_im__reply(j, 500, "Storage Failure", "Retry-After: 5\r\n");
	} else {
		j->ctl->n_stored++;
		cpm_logi(j->m.call_id, "stored message %lld for %s (%zu bytes, %s)",
			 (long long)j->m.id, j->m.recipient, j->m.body_len,
			 cpm_im_rule_name(j->d.rule));
		/* RFC 3428 §4: 202 = accepted for later delivery */
		cpm_im__reply(j, 202, NULL, NULL);
		if (j->d.report_stored)
			cpm_im__report_send(j->ctl, j->m.sender, j->m.recipient, j->m.message_id,
				    "stored");
		cpm_im__changed(j->ctl, j->m.recipient);
	}
	cpm_im__job_free(j);
}

static int put_work(struct cpm_store *s, void *arg)
{
	struct cpm_im__job *j = arg;
	return cpm_store_msg_put(s, &j->m);
}

static void usage_work(struct cpm_store *s, void *arg)
{
	struct cpm_im__job *j = arg;
	if (j->check_user) {
		struct cpm_store_user u;
		int rc = cpm_store_user_get(s, j->m.recipient, &u);
		j->no_user = rc == CPM_ENOTFOUND;
		if (j->no_user)
			return;
	}
	j->rc = cpm_store_msg_usage(s, j->m.recipient, &j->count, &j->bytes);
	j->prof_rc = cpm_store_profile_get(s, j->m.recipient, j->profile_text,
					   sizeof j->profile_text);
}

/* The recipient's profile (cpmd user set) or the server default, and the
 * class it names ([class.NAME]; "default" = the [im] keys). */
static void recipient_rules(struct cpm_im_ctl *ctl, struct cpm_im__job *j, struct cpm_im_class *cls)
{
	char err[CPM_IM_ERR_MAX];
	if (j->prof_rc == 0) {
		if (cpm_im_profile_parse(&j->profile, j->profile_text, err)) {
			cpm_logw(j->m.recipient, "stored profile ignored: %s", err);
			j->profile = ctl->profile;
		}
	} else {
		j->profile = ctl->profile;
	}
	struct cpm_conf_class k;
	if (cpm_conf_class_find(ctl->conf, j->profile.class_name[0] ? j->profile.class_name
								  : "default", &k) &&
	    cpm_conf_class_find(ctl->conf, "default", &k)) {
		*cls = ctl->cls;
		return;
	}
	cls->storage = k.storage;
	cls->max_messages = k.max_messages;
	cls->max_bytes = k.max_bytes;
	cls->max_lifetime = k.max_lifetime;
}

static void usage_done(void *arg)
{
	struct cpm_im__job *j = arg;
	struct cpm_im_ctl *ctl = j->ctl;
	if (!j->st && !j->fin && !j->own) {
		cpm_im__job_free(j); /* whoever sent it is gone */
		return;
	}
	if (j->no_user) {
		cpm_logi(j->m.call_id, "no user %s", j->m.recipient);
		cpm_im__reply(j, 404, NULL, NULL);
		cpm_im__job_free(j);
		return;
	}
	if (j->rc) {
		cpm_im__reply(j, 500, "Storage Failure", "Retry-After: 5\r\n");
		cpm_im__job_free(j);
		return;
	}
	struct cpm_im_usage u = { (uint64_t)j->count, (uint64_t)j->bytes };
	struct cpm_im_class cls;
	recipient_rules(ctl, j, &cls);
	if (cpm_im_decide(&j->ind, &j->profile, &cls, &u, j->m.body_len, &ctl->lim,
			  j->ind.expires, &j->d)) {
		cpm_im__reply(j, 480, NULL, NULL);
		cpm_im__job_free(j);
		return;
	}
	if (j->dry && (j->d.fate == CPM_IM_STORE || j->d.fate == CPM_IM_STORE_DEFERRED)) {
		cpm_im__reply(j, 202, NULL, NULL); /* would be stored */
		cpm_im__job_free(j);
		return;
	}
	switch (j->d.fate) {
	case CPM_IM_STORE:
	case CPM_IM_STORE_DEFERRED:
		/* deferred retrieval (RFC 4483): the devices get a notice with
		 * the pick-up URL; without an HTTP API the body is pushed */
		if (j->d.fate == CPM_IM_STORE_DEFERRED && ctl->deferred_ok)
			j->m.flags |= CPM_STORE_MSG_F_DEFERRED;
		cpm_rand_hex(j->m.token, 16);
		j->m.expires = j->d.expires > 0 ? cpm_wall_s() + j->d.expires : 0;
		if (j->d.report_delivered)
			j->m.flags |= CPM_STORE_MSG_F_NOTIFY;
		if (j->d.report_failed)
			j->m.flags |= F_REPORT_FAILED;
		if (j->d.pull)
			j->m.flags |= CPM_STORE_MSG_F_PULL;
		if (cpm_store_worker_submit_batchable(ctl->store, put_work, put_done, j) == 0)
			return;
		cpm_im__reply(j, 500, "Storage Unavailable", NULL);
		break;
	case CPM_IM_REJECT: {
		struct cpm_buf b;
		cpm_buf_init(&b, 4096);
		/* RFC 3261 §21.4.13: 415 lists what is accepted */
		if (j->d.accept_hdr && (cpm_buf_puts(&b, "Accept: ") ||
					cpm_im_accept_header(&j->profile, &b) ||
					cpm_buf_puts(&b, "\r\n")))
			cpm_buf_reset(&b);
		cpm_im__reply(j, j->d.status, j->d.reason, b.len ? b.p : NULL);
		cpm_buf_free(&b);
		break;
	}
	case CPM_IM_FORWARD:
		cpm_im__forward(j); /* takes the job */
		return;
	case CPM_IM_DELIVER_ONLY:
	default:
		cpm_im__reply(j, j->d.status ? j->d.status : 480, j->d.reason, NULL);
		break;
	}
	cpm_im__job_free(j);
}

/* The whole Content-Type value (a multipart boundary, a charset: the
 * stored body is re-sent with it), text/plain without one. */
static struct cpm_str full_ctype(const struct cpm_sip_msg *req)
{
	const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(req, CPM_SIP_H_CONTENT_TYPE);
	return h && h->value.len ? h->value : CPM_STR("text/plain");
}

void cpm_im__stored_call_id(char *out, size_t sz, struct cpm_str from_tag,
			    struct cpm_str call_id, uint32_t cseq, const char *recipient)
{
	char num[16], hex[CPM_HASH_HEX_MAX];
	snprintf(num, sizeof num, "%u", cseq);
	struct cpm_str parts[7] = { from_tag, CPM_STR("\n"), call_id, CPM_STR("\n"),
				    cpm_str_from_cstr(num), CPM_STR("\n"),
				    cpm_str_from_cstr(recipient) };
	if (cpm_hash_hex(CPM_HASH_SHA256, parts, 7, hex))
		cpm_rand_hex(hex, 16);
	snprintf(out, sz, "%.32s@sf.cpmd", hex);
}

struct cpm_im__job *cpm_im__job_new(struct cpm_im_ctl *ctl, const struct cpm_sip_msg *req,
				    const char *aor, const char *ctype, struct cpm_str body)
{
	struct cpm_im__job *j = calloc(1, sizeof *j);
	if (!j)
		return NULL;
	j->ctl = ctl;
	/* isComposing goes through the rules too (S2: accepts), and S3 never
	 * stores it */
	if (cpm_im_indicators_parse(req, &j->ind) || body.len > CPM_STORE_MSG_BODY_MAX) {
		free(j);
		return NULL;
	}
	struct cpm_store_msg *m = &j->m;
	snprintf(m->recipient, sizeof m->recipient, "%s", aor);
	if (cpm_str_copy(req->from.uri, m->sender, sizeof m->sender) ||
	    cpm_str_copy(req->from.display.len < sizeof m->sender_display ? req->from.display
									 : CPM_STR(""),
			 m->sender_display, sizeof m->sender_display) ||
	    cpm_str_copy(ctype ? cpm_str_from_cstr(ctype) : full_ctype(req),
			 m->content_type, sizeof m->content_type) ||
	    cpm_str_copy(j->ind.payload_type, j->payload_type, sizeof j->payload_type)) {
		free(j);
		return NULL;
	}
	/* the id a report names: the CPIM Message-ID, else the sender's
	 * Call-ID (seed 002 "notify" has no Message-ID of its own) */
	if (cpm_str_copy(j->ind.message_id.len ? j->ind.message_id : req->call_id,
			 m->message_id, sizeof m->message_id))
		m->message_id[0] = '\0';
	/* the rules run after req is gone: its slices point to our copies
	 * (content_type without its parameters, as the parser gives it) */
	struct cpm_str mime, params;
	if (cpm_sip_ctype_parse(cpm_str_from_cstr(m->content_type), &mime, &params) == 0)
		j->ind.content_type = mime;
	else
		j->ind.content_type = cpm_str_from_cstr(m->content_type);
	j->ind.payload_type = cpm_str_from_cstr(j->payload_type);
	j->ind.message_id = cpm_str_from_cstr(m->message_id);
	j->ind.part_ctype = j->ind.part_body = CPM_STR_NULL;
	const struct cpm_sip_hdr *subj = cpm_sip_msg_hdr(req, CPM_SIP_H_SUBJECT);
	if (subj)
		cpm_str_copy(subj->value, m->subject, sizeof m->subject);
	/* one Call-ID for every delivery attempt of this message, the same
	 * for a retransmission of the sender's request */
	cpm_im__stored_call_id(m->call_id, sizeof m->call_id, req->from.tag, req->call_id,
			       req->cseq.num, aor);
	m->date = parse_date(req);
	m->kind = j->ind.kind == CPM_IM_KIND_IMDN ? CPM_STORE_MSG_REPORT : CPM_STORE_MSG_MESSAGE;
	if (body.len) {
		j->body = malloc(body.len);
		if (!j->body) {
			free(j);
			return NULL;
		}
		memcpy(j->body, body.s, body.len);
	}
	m->body = j->body;
	m->body_len = body.len;
	return j;
}

int cpm_im__job_decide(struct cpm_im__job *j)
{
	int rc = cpm_store_worker_submit_read(j->ctl->store, usage_work, usage_done, j);
	if (rc) {
		cpm_im__reply(j, 500, "Storage Unavailable", NULL);
		cpm_im__job_free(j);
	}
	return rc;
}

/* The application/sdp part of a multipart INVITE (the offer). */
static bool find_sdp(const struct cpm_sip_msg *req, struct cpm_str *out)
{
	const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(req, CPM_SIP_H_CONTENT_TYPE);
	struct cpm_str mime, params, boundary;
	if (!h || cpm_sip_ctype_parse(h->value, &mime, &params) < 0)
		return false;
	if (cpm_str_ieq_cstr(mime, "application/sdp")) {
		*out = req->body;
		return true;
	}
	if (!cpm_str_istarts(mime, "multipart/") ||
	    !cpm_sip_param_find(params, "boundary", &boundary))
		return false;
	boundary = cpm_sip_unquote(boundary);
	struct cpm_str cur = req->body;
	struct cpm_sip_part part;
	for (int i = 0; i < 16 && cpm_sip_multipart_next(&cur, boundary, &part) == 1; i++) {
		struct cpm_str pm, pp;
		if (cpm_sip_ctype_parse(part.content_type, &pm, &pp) == 0 &&
		    cpm_str_ieq_cstr(pm, "application/sdp")) {
			*out = part.body;
			return true;
		}
	}
	return false;
}

/* Core could not deliver a request for a local user live (no binding, or
 * every device failed): a MESSAGE, or an INVITE or INFO that carries a
 * message with a store request (seed 002 claims 6-7). */
static bool on_undelivered(void *arg, struct cpm_txn *st, const struct cpm_sip_msg *req,
			   const char *aor, int status)
{
	struct cpm_im_ctl *ctl = arg;
	if (!ctl->conf->im.store_and_forward)
		return false;
	struct cpm_str body = req->body;
	const char *ctype = NULL;
	char pct[128];
	if (req->method == CPM_SIP_INFO || req->method == CPM_SIP_INVITE) {
		struct cpm_im_indicators ind;
		/* a session request without a message, or without a store
		 * request, keeps the devices' answer (rule S1) */
		if (cpm_im_indicators_parse(req, &ind) || ind.kind == CPM_IM_KIND_SESSION ||
		    ind.kind == CPM_IM_KIND_NONE ||
		    (ind.req != CPM_IM_REQ_DEFERRED && ind.req != CPM_IM_REQ_STORE &&
		     ind.req != CPM_IM_REQ_STORE_FWD) ||
		    cpm_str_copy(ind.part_ctype, pct, sizeof pct))
			return false;
		body = ind.part_body;
		ctype = pct;
	} else if (req->method != CPM_SIP_MESSAGE) {
		return false;
	}
	struct cpm_im__job *j = cpm_im__job_new(ctl, req, aor, ctype, body);
	if (!j)
		return false;
	if (req->method == CPM_SIP_INVITE) {
		j->invite = true;
		struct cpm_str offer;
		if (find_sdp(req, &offer) && offer.len) {
			j->sdp = malloc(offer.len);
			if (j->sdp) {
				memcpy(j->sdp, offer.s, offer.len);
				j->sdp_len = offer.len;
			}
		}
	}
	j->st = st;
	cpm_txn_set_owner(st, j, job_gone);
	if (cpm_store_worker_submit_read(ctl->store, usage_work, usage_done, j)) {
		j->st = NULL;
		cpm_txn_set_owner(st, NULL, NULL);
		cpm_im__job_free(j);
		return false;
	}
	(void)status;
	return true;
}

/* ----------------------------------------------------------- delivering */

struct item {
	struct run *r;
	int64_t id;
	int flags, kind;
	char message_id[128];
	char call_id[256];
	char sender[512];
	char display[128];
	char content_type[128];
	char subject[256];
	int64_t date;
	int64_t expires;
	char token[33];
	char *body;
	size_t body_len;
};

/* One device's delivery run: a batch of stored messages read in arrival
 * order, sent with at most im.delivery_window MESSAGEs in flight; each
 * final answer is recorded by its own group-committed store job, so many
 * answers share one fsync.  The next batch is read once every answer of
 * this one is recorded (a re-read never returns what was just delivered). */
struct run {
	struct run *prev, *next;
	struct cpm_im_ctl *ctl;
	char aor[256];
	char contact[512];
	char device[256]; /* +sip.instance or DEVICE_AOR */
	struct item *items;
	size_t n, sent, cap;
	unsigned inflight; /* MESSAGEs without a final answer */
	unsigned marks;    /* answers not yet recorded */
	int64_t after_id;
	int rc;
	bool fetching;   /* a store read is in flight */
	bool again;      /* a REGISTER came while busy: look again */
	bool halted;     /* the device is unreachable: no more sends */
	bool gone;       /* the binding is gone or the server stops */
	bool dirty;      /* the queue changed since the last notice */
	unsigned backoff; /* seconds, 0 = none */
	uv_timer_t timer;
	bool timer_on;
};

static void run_pump(struct run *r);
static void run_fetch(struct run *r);

static bool run_busy(const struct run *r)
{
	return r->fetching || r->inflight || r->marks;
}

static void items_clear(struct run *r)
{
	for (size_t k = 0; k < r->n; k++)
		free(r->items[k].body);
	r->n = r->sent = 0;
}

static void run_closed(uv_handle_t *h)
{
	struct run *r = h->data;
	items_clear(r);
	free(r->items);
	free(r);
}

static void run_end(struct run *r)
{
	struct cpm_im_ctl *ctl = r->ctl;
	if (r->dirty) {
		r->dirty = false;
		cpm_im__changed(ctl, r->aor);
	}
	if (r->prev)
		r->prev->next = r->next;
	else
		ctl->runs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *)&r->timer, run_closed);
}

static int collect(void *arg, const struct cpm_store_msg *m)
{
	struct run *r = arg;
	if (m->flags & CPM_STORE_MSG_F_PULL)
		return 0; /* seed 002 "store": kept until the recipient asks */
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 16;
		struct item *it = realloc(r->items, cap * sizeof *it);
		if (!it)
			return CPM_ENOMEM;
		r->items = it;
		r->cap = cap;
	}
	struct item *it = &r->items[r->n];
	memset(it, 0, sizeof *it);
	it->r = r;
	it->id = m->id;
	it->flags = m->flags;
	it->kind = m->kind;
	snprintf(it->message_id, sizeof it->message_id, "%s", m->message_id);
	snprintf(it->call_id, sizeof it->call_id, "%s", m->call_id);
	snprintf(it->sender, sizeof it->sender, "%s", m->sender);
	snprintf(it->display, sizeof it->display, "%s", m->sender_display);
	snprintf(it->content_type, sizeof it->content_type, "%s", m->content_type);
	snprintf(it->subject, sizeof it->subject, "%s", m->subject);
	it->date = m->date;
	it->expires = m->expires;
	snprintf(it->token, sizeof it->token, "%s", m->token);
	/* a deferred message's notice names the body; it does not carry it */
	if (m->body_len && !(m->flags & CPM_STORE_MSG_F_DEFERRED)) {
		it->body = malloc(m->body_len);
		if (!it->body)
			return CPM_ENOMEM;
		memcpy(it->body, m->body, m->body_len);
	}
	it->body_len = m->body_len;
	r->n++;
	return 0;
}

static void fetch_work(struct cpm_store *s, void *arg)
{
	struct run *r = arg;
	int limit = r->ctl->conf->im.delivery_batch;
	/* the AoR-level device "*" has delivery rows too: the notices of
	 * deferred messages, which stay waiting until fetched */
	r->rc = cpm_store_msg_list_pending_device(s, r->aor, r->device, r->after_id, limit,
						  cpm_wall_s(), collect, r);
}

static void fetch_done(void *arg)
{
	struct run *r = arg;
	r->fetching = false;
	if (r->rc < 0) {
		cpm_loge(r->aor, "cannot read stored messages: %s", cpm_strerror(r->rc));
		items_clear(r);
		r->gone = true;
	} else if (r->n == 0) {
		if (r->again && !r->ctl->stopping) {
			/* a REGISTER came meanwhile: one more look */
			r->again = false;
			r->after_id = 0;
			run_fetch(r);
			return;
		}
		r->gone = true; /* nothing (more) waits for this device */
	}
	run_pump(r);
}

static void run_fetch(struct run *r)
{
	items_clear(r);
	r->fetching = true;
	if (cpm_store_worker_submit_read(r->ctl->store, fetch_work, fetch_done, r)) {
		r->fetching = false;
		r->gone = true;
		run_pump(r);
	}
}

struct mark {
	struct run *r;
	int64_t id;
	int state; /* CPM_STORE_DLV_* */
	bool aor_level; /* the message's own state, for every device */
	bool clear_failed; /* no "failed" report any more (delivered once) */
};

static int mark_work(struct cpm_store *s, void *arg)
{
	struct mark *k = arg;
	if (k->aor_level)
		return cpm_store_msg_state_set(s, k->id, k->state == CPM_STORE_DLV_DELIVERED
								 ? CPM_STORE_MSG_DELIVERED
								 : CPM_STORE_MSG_FAILED);
	int rc = cpm_store_msg_delivery_set(s, k->id, k->r->device, k->state, cpm_wall_s());
	/* taken by one device: its expiry (the late fork's end) is no
	 * failure to report */
	if (!rc && k->state == CPM_STORE_DLV_DELIVERED && k->clear_failed)
		rc = cpm_store_msg_flags_update(s, k->id, CPM_STORE_MSG_F_TAKEN,
						F_REPORT_FAILED | CPM_STORE_MSG_F_NOTIFY);
	return rc;
}

static void mark_done(void *arg, int rc)
{
	struct mark *k = arg;
	struct run *r = k->r;
	/* not recorded: the message is offered again later, with its Call-ID */
	if (rc < 0)
		cpm_logw(r->aor, "cannot record the delivery of %lld: %s", (long long)k->id,
			 cpm_strerror(rc));
	free(k);
	r->marks--;
	r->dirty = true;
	run_pump(r);
}

static void on_timer(uv_timer_t *t)
{
	struct run *r = t->data;
	r->timer_on = false;
	if (!cpm_core_binding_alive(r->ctl->core, r->aor, r->contact)) {
		r->gone = true;
		run_pump(r);
		return;
	}
	r->after_id = 0;
	run_fetch(r);
}

static void on_sent(void *arg, int status, const struct cpm_sip_msg *resp)
{
	struct item *it = arg;
	struct run *r = it->r;
	struct cpm_im_ctl *ctl = r->ctl;
	r->inflight--;
	if (status == 408 || status == 480 || status == 503) {
		/* the device is not reachable now: stop sending, and try
		 * again later while it stays registered */
		cpm_logi(it->call_id, "delivery of %lld to %s failed (%d)", (long long)it->id,
			 r->contact, status);
		r->halted = true;
		run_pump(r);
		return;
	}
	r->backoff = 0;
	struct mark *k = calloc(1, sizeof *k);
	if (!k) {
		r->halted = true;
		run_pump(r);
		return;
	}
	k->r = r;
	k->id = it->id;
	bool deferred = it->flags & CPM_STORE_MSG_F_DEFERRED;
	/* a deferred message stays waiting once its notice is taken: only
	 * the device's notice is recorded (the fetch delivers it) */
	k->aor_level = strcmp(r->device, DEVICE_AOR) == 0 && !deferred;
	if (deferred) {
		bool ok = status >= 200 && status < 300;
		k->state = ok ? CPM_STORE_DLV_DELIVERED : CPM_STORE_DLV_FAILED;
		cpm_logi(it->call_id, "notice of stored message %lld %s by %s (%d)",
			 (long long)it->id, ok ? "taken" : "refused", r->contact, status);
	} else if (status >= 200 && status < 300) {
		ctl->n_delivered++;
		k->state = CPM_STORE_DLV_DELIVERED;
		cpm_logi(it->call_id, "stored message %lld delivered to %s (%d)", (long long)it->id,
			 r->contact, status);
		if (it->flags & CPM_STORE_MSG_F_NOTIFY)
			cpm_im__report_send(ctl, it->sender, r->aor, it->message_id, "delivered");
		/* one "delivered" report, and no "failed" one at the expiry
		 * that ends the late fork to the other devices */
		k->clear_failed = !k->aor_level;
	} else {
		/* refused by one device among several: another may still take
		 * it (the expiry reports it if none does) */
		if ((it->flags & F_REPORT_FAILED) && k->aor_level)
			cpm_im__report_send(ctl, it->sender, r->aor, it->message_id, "failed");
		/* this message is refused for good: it must not block the rest
		 * of the queue (issue: one bad message never blocks) */
		ctl->n_failed++;
		k->state = CPM_STORE_DLV_FAILED;
		cpm_logn(it->call_id, "stored message %lld refused by %s (%d)", (long long)it->id,
			 r->contact, status);
	}
	r->marks++;
	if (cpm_store_worker_submit_batchable(ctl->store, mark_work, mark_done, k)) {
		free(k);
		r->marks--;
		r->halted = true;
	}
	run_pump(r);
}

int cpm_im__headers(struct cpm_buf *h, const char *display, const char *sender,
		    const char *to_uri, const char *call_id, int64_t date, const char *subject,
		    bool report)
{
	char when[CPM_DATE_LEN];
	cpm_fmt_date(date, when);
	char tag[17];
	cpm_rand_hex(tag, 8);
	/* the display name was a quoted-string or tokens: quote it again */
	int rc = cpm_buf_printf(h, "From: %s%s%s<%s>;tag=%s\r\nTo: <%s>\r\nCall-ID: %s\r\n"
				   "CSeq: 1 MESSAGE\r\nDate: %s\r\n",
				display[0] && display[0] != '"' ? "\"" : "", display,
				display[0] && display[0] != '"' ? "\" " : display[0] ? " " : "",
				sender, tag, to_uri, call_id, when);
	if (!rc && subject && subject[0])
		rc = cpm_buf_printf(h, "Subject: %s\r\n", subject);
	if (!rc && report)
		rc = cpm_buf_puts(h, "Content-Disposition: notification\r\n");
	return rc;
}

/* The notice of a deferred message (seed 001 Fig. 1, RFC 4483 content
 * indirection): Content-Type message/external-body with access-type URL,
 * the pick-up URL (with the single-use token), the size and the expiry;
 * the body is the stored part's own headers, with no content (RFC 2046
 * §5.2.3).  From and Subject are the original ones. */
static int notice_build(struct run *r, const struct item *it, struct cpm_buf *ctype,
			struct cpm_buf *body)
{
	char url[1200];
	int rc = cpm_im_ctl_url(r->ctl, it->id, it->token, url, sizeof url);
	if (rc)
		return rc;
	rc = cpm_buf_printf(ctype, "message/external-body; access-type=\"URL\"; URL=\"%s\"; "
				   "size=%zu",
			    url, it->body_len);
	if (!rc && it->expires > 0) {
		char when[CPM_DATE_LEN];
		cpm_fmt_date(it->expires, when);
		rc = cpm_buf_printf(ctype, "; expiration=\"%s\"", when);
	}
	if (!rc)
		rc = cpm_buf_printf(body, "Content-Type: %s\r\nContent-ID: <m%lld.%.8s@%s>\r\n\r\n",
				    it->content_type, (long long)it->id, it->token,
				    r->ctl->conf->server.ndomains ? r->ctl->conf->server.domains[0]
								  : "cpmd.invalid");
	return rc;
}

/* Send one stored message to the run's contact: the original From (a
 * fresh tag: a new transaction), To the AoR, the stored Call-ID, the
 * original Date (RFC 3261 §20.17) and the unchanged body, or the notice
 * of a deferred one. */
static int send_item(struct run *r, struct item *it)
{
	struct cpm_buf h;
	cpm_buf_init(&h, 8192);
	char to[300];
	snprintf(to, sizeof to, "sip:%s", r->aor);
	int rc = cpm_im__headers(&h, it->display, it->sender, to, it->call_id, it->date,
				 it->subject, it->kind == CPM_STORE_MSG_REPORT);
	struct cpm_buf ct, nb;
	cpm_buf_init(&ct, 2048);
	cpm_buf_init(&nb, 1024);
	bool deferred = it->flags & CPM_STORE_MSG_F_DEFERRED;
	if (!rc && deferred)
		rc = notice_build(r, it, &ct, &nb);
	if (!rc)
		rc = cpm_core_send_to_contact(
			r->ctl->core, r->aor, r->contact, "MESSAGE", h.p,
			deferred ? (struct cpm_str){ ct.p, ct.len } : cpm_str_from_cstr(it->content_type),
			deferred ? (struct cpm_str){ nb.p, nb.len }
				 : (struct cpm_str){ it->body, it->body_len },
			on_sent, it);
	cpm_buf_free(&h);
	cpm_buf_free(&ct);
	cpm_buf_free(&nb);
	if (rc && rc != CPM_ENOTFOUND)
		cpm_logi(r->aor, "cannot deliver to %s: %s", r->contact, cpm_strerror(rc));
	return rc;
}

/* The run's one step function: fill the window; once every MESSAGE is
 * answered and every answer recorded, read the next batch, wait and
 * retry (unreachable device), or end. */
static void run_pump(struct run *r)
{
	struct cpm_im_ctl *ctl = r->ctl;
	unsigned window = (unsigned)ctl->conf->im.delivery_window;
	if (ctl->stopping)
		r->gone = true;
	while (!r->halted && !r->gone && !r->fetching && r->sent < r->n &&
	       r->inflight < window) {
		if (send_item(r, &r->items[r->sent])) {
			r->gone = true; /* the binding is gone, or the server stops */
			break;
		}
		r->sent++;
		r->inflight++;
	}
	if (run_busy(r))
		return;
	if (r->dirty) {
		r->dirty = false;
		cpm_im__changed(ctl, r->aor);
	}
	if (r->gone) {
		run_end(r);
		return;
	}
	if (r->halted) {
		r->halted = false;
		items_clear(r);
		if (r->again) { /* the device registered again meanwhile */
			r->again = false;
			r->backoff = 0;
			r->after_id = 0;
			run_fetch(r);
			return;
		}
		/* exponential back-off while the binding lives */
		unsigned base = (unsigned)ctl->conf->im.retry_interval;
		r->backoff = r->backoff ? r->backoff * 2 : base;
		if (r->backoff > base * 32)
			r->backoff = base * 32;
		cpm_logi(r->aor, "deliveries to %s retry in %u s", r->contact, r->backoff);
		r->timer_on = true;
		uv_timer_start(&r->timer, on_timer, (uint64_t)r->backoff * 1000, 0);
		return;
	}
	if (r->sent >= r->n && !r->timer_on) {
		/* batch done: read the next one */
		r->after_id = r->n ? r->items[r->n - 1].id : r->after_id;
		run_fetch(r);
	}
}

static void on_registered(void *arg, const char *aor, const char *contact, const char *device)
{
	struct cpm_im_ctl *ctl = arg;
	if (!ctl->conf->im.store_and_forward || ctl->stopping)
		return;
	const char *dev = device && device[0] ? device : DEVICE_AOR;
	for (struct run *r = ctl->runs; r; r = r->next)
		if (strcmp(r->aor, aor) == 0 && strcmp(r->device, dev) == 0) {
			snprintf(r->contact, sizeof r->contact, "%s", contact);
			if (r->timer_on) { /* it is back: no need to wait */
				uv_timer_stop(&r->timer);
				r->timer_on = false;
				r->backoff = 0;
				r->after_id = 0;
				run_fetch(r);
			} else if (run_busy(r)) {
				r->again = true;
			}
			return;
		}
	struct run *r = calloc(1, sizeof *r);
	if (!r)
		return;
	r->ctl = ctl;
	snprintf(r->aor, sizeof r->aor, "%s", aor);
	snprintf(r->contact, sizeof r->contact, "%s", contact);
	snprintf(r->device, sizeof r->device, "%s", dev);
	uv_timer_init(ctl->loop, &r->timer);
	r->timer.data = r;
	r->next = ctl->runs;
	if (r->next)
		r->next->prev = r;
	ctl->runs = r;
	run_fetch(r);
}

/* A message of the server's own making for msg->aor (a notice, a message
 * of an anchored session): a plain message with no indicator, so that the
 * recipient's profile decides; a fresh Call-ID unless msg gives one.  NULL
 * when out of memory or too large. */
static struct cpm_im__job *own_job(struct cpm_im_ctl *ctl, const struct cpm_im_ctl_msg *msg)
{
	if (msg->body.len > CPM_STORE_MSG_BODY_MAX)
		return NULL;
	struct cpm_im__job *j = calloc(1, sizeof *j);
	if (!j)
		return NULL;
	j->ctl = ctl;
	struct cpm_store_msg *m = &j->m;
	const char *ctype = msg->ctype && msg->ctype[0] ? msg->ctype : "text/plain";
	snprintf(m->recipient, sizeof m->recipient, "%s", msg->aor);
	snprintf(m->sender, sizeof m->sender, "%s", msg->sender);
	snprintf(m->sender_display, sizeof m->sender_display, "%s",
		 msg->display ? msg->display : "");
	snprintf(m->content_type, sizeof m->content_type, "%s", ctype);
	struct cpm_str mime, params;
	if (cpm_sip_ctype_parse(cpm_str_from_cstr(m->content_type), &mime, &params) ||
	    cpm_str_copy(mime, j->payload_type, sizeof j->payload_type))
		snprintf(j->payload_type, sizeof j->payload_type, "text/plain");
	m->date = msg->date ? msg->date : cpm_wall_s();
	char rnd[33];
	cpm_rand_hex(rnd, 16);
	if (msg->call_id && msg->call_id[0])
		snprintf(m->call_id, sizeof m->call_id, "%s", msg->call_id);
	else
		snprintf(m->call_id, sizeof m->call_id, "%s@sf.cpmd", rnd);
	if (msg->message_id && msg->message_id[0])
		snprintf(m->message_id, sizeof m->message_id, "%s", msg->message_id);
	else
		snprintf(m->message_id, sizeof m->message_id, "%.24s", rnd);
	m->kind = CPM_STORE_MSG_MESSAGE;
	if (msg->body.len) {
		j->body = malloc(msg->body.len);
		if (!j->body) {
			free(j);
			return NULL;
		}
		memcpy(j->body, msg->body.s, msg->body.len);
	}
	m->body = j->body;
	m->body_len = msg->body.len;
	j->ind.method = CPM_SIP_MESSAGE;
	j->ind.kind = CPM_IM_KIND_MESSAGE;
	j->ind.req = CPM_IM_REQ_NONE;
	j->ind.expires = -1;
	j->ind.content_type = cpm_str_from_cstr(j->payload_type);
	j->ind.payload_type = cpm_str_from_cstr(j->payload_type);
	j->ind.message_id = cpm_str_from_cstr(m->message_id);
	return j;
}

int cpm_im_ctl_message(struct cpm_im_ctl *ctl, const char *aor, const char *sender,
		       const char *display, const char *content_type, const char *payload_type,
		       const void *body, size_t len)
{
	if (ctl->stopping || !ctl->conf->im.store_and_forward)
		return CPM_ESTATE;
	struct cpm_im_ctl_msg msg = { .aor = aor, .sender = sender, .display = display,
				      .ctype = content_type,
				      .body = (struct cpm_str){ body, len } };
	struct cpm_im__job *j = own_job(ctl, &msg);
	if (!j)
		return CPM_ENOMEM;
	j->own = true;
	/* what the recipient's "accepts" is checked against: the type inside
	 * CPIM for a room's copy */
	if (payload_type && payload_type[0]) {
		j->ind.content_type = cpm_str_from_cstr(j->m.content_type);
		snprintf(j->payload_type, sizeof j->payload_type, "%s", payload_type);
		j->ind.payload_type = cpm_str_from_cstr(j->payload_type);
	}
	cpm_logi(j->m.call_id, "message for %s from %s (%s)", aor, sender, j->m.content_type);
	cpm_im__submit(j); /* live if a device is there, else the rules */
	return 0;
}

int cpm_im_ctl_notice(struct cpm_im_ctl *ctl, const char *aor, const char *sender,
		      const char *display, const char *text)
{
	cpm_logi(aor, "notice for %s: %s", aor, text);
	return cpm_im_ctl_message(ctl, aor, sender, display, "text/plain;charset=UTF-8",
				  "text/plain", text, strlen(text));
}

int cpm_im_ctl_store(struct cpm_im_ctl *ctl, const struct cpm_im_ctl_msg *msg, bool dry,
		     cpm_im_ctl_done_cb *done, void *arg)
{
	if (ctl->stopping || !ctl->conf->im.store_and_forward)
		return CPM_ESTATE;
	if (msg->body.len > CPM_STORE_MSG_BODY_MAX)
		return CPM_ETOOBIG;
	struct cpm_im__job *j = own_job(ctl, msg);
	if (!j)
		return CPM_ENOMEM;
	j->fin = done;
	j->fin_arg = arg;
	j->dry = dry;
	j->check_user = true; /* 404 for nobody's address */
	return cpm_im__job_decide(j) ? CPM_EIO : 0;
}

void cpm_im_ctl_user_back(struct cpm_im_ctl *ctl, const char *aor)
{
	if (!ctl->stopping)
		cpm_core_foreach_binding_of(ctl->core, aor, on_registered, ctl);
}

/* --------------------------------------------------------------- expiry */

struct expired {
	char sender[512], recipient[256], message_id[128], call_id[256];
	bool report;
};

struct expire_job {
	struct cpm_im_ctl *ctl;
	struct expired *v;
	size_t n, cap;
	int rc;
};

/* On the worker thread: only collect. */
static int expired_one(void *arg, const struct cpm_store_msg *m)
{
	struct expire_job *e = arg;
	if (e->n == e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 16;
		struct expired *v = realloc(e->v, cap * sizeof *v);
		if (!v)
			return CPM_ENOMEM; /* kept, passed again next time */
		e->v = v;
		e->cap = cap;
	}
	struct expired *x = &e->v[e->n++];
	snprintf(x->sender, sizeof x->sender, "%s", m->sender);
	snprintf(x->recipient, sizeof x->recipient, "%s", m->recipient);
	snprintf(x->message_id, sizeof x->message_id, "%s", m->message_id);
	snprintf(x->call_id, sizeof x->call_id, "%s", m->call_id);
	x->report = m->state == CPM_STORE_MSG_STORED && (m->flags & F_REPORT_FAILED) &&
		    m->kind != CPM_STORE_MSG_REPORT;
	return 0;
}

static void expire_work(struct cpm_store *s, void *arg)
{
	struct expire_job *e = arg;
	e->rc = cpm_store_msg_expire(s, cpm_wall_s(), expired_one, e);
}

static void expire_done(void *arg)
{
	struct expire_job *e = arg;
	for (size_t i = 0; i < e->n; i++) {
		struct expired *x = &e->v[i];
		e->ctl->n_expired++;
		cpm_logi(x->call_id, "stored message for %s expired", x->recipient);
		/* the "expired" report: RFC 5438 has no such status,
		 * so it is a delivery notification "failed" */
		if (x->report && !e->ctl->stopping)
			cpm_im__report_send(e->ctl, x->sender, x->recipient, x->message_id, "failed");
		cpm_im__changed(e->ctl, x->recipient);
	}
	free(e->v);
	free(e);
}

static void on_expire(uv_timer_t *t)
{
	struct cpm_im_ctl *ctl = t->data;
	struct expire_job *e = calloc(1, sizeof *e);
	if (!e)
		return;
	e->ctl = ctl;
	if (cpm_store_worker_submit(ctl->store, expire_work, expire_done, e))
		free(e);
}

/* ------------------------------------------------------- pick-up (HTTP) */

int cpm_im_ctl_url(const struct cpm_im_ctl *ctl, int64_t id, const char *token, char *out,
		   size_t sz)
{
	int rc = cpm_conf_http_base(ctl->conf, out, sz);
	if (rc)
		return rc;
	size_t n = strlen(out);
	int m = snprintf(out + n, sz - n, "/m/%lld%s%s", (long long)id,
			 token && token[0] ? "?t=" : "", token && token[0] ? token : "");
	return m < 0 || (size_t)m >= sz - n ? CPM_ETOOBIG : 0;
}

struct fetch_job {
	struct cpm_im_ctl *ctl;
	int64_t id;
	char aor[256];
	char token[64];
	bool by_token;
	cpm_im_fetch_cb *cb;
	void *arg;
	struct cpm_store_msg m;
	bool got;       /* m holds the row (its body malloc'd) */
	bool delivered; /* this fetch delivered it */
	int rc;
};

/* Constant time: the token is a secret. */
static bool token_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned diff = la != lb;
	for (size_t i = 0; i < la && i < lb; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

static void fetch_one_work(struct cpm_store *s, void *arg)
{
	struct fetch_job *f = arg;
	f->rc = cpm_store_msg_get(s, f->id, &f->m);
	if (f->rc)
		return;
	f->got = true;
	bool waiting = f->m.state == CPM_STORE_MSG_STORED;
	if (f->m.expires > 0 && f->m.expires <= cpm_wall_s()) {
		f->rc = CPM_ENOTFOUND; /* expired: the sweep removes it */
	} else if (f->by_token) {
		if (!waiting || !f->m.token[0] || !token_eq(f->m.token, f->token))
			f->rc = CPM_ENOTFOUND; /* no hint whether the id exists */
	} else if (strcmp(f->m.recipient, f->aor) != 0) {
		f->rc = CPM_EPERM;
	}
	if (!f->rc && waiting) {
		f->rc = cpm_store_msg_state_set(s, f->id, CPM_STORE_MSG_DELIVERED);
		f->delivered = f->rc == 0;
	}
}

static void fetch_one_done(void *arg)
{
	struct fetch_job *f = arg;
	struct cpm_im_ctl *ctl = f->ctl;
	if (f->delivered) {
		ctl->n_fetched++;
		cpm_logi(f->m.call_id, "stored message %lld fetched by %s", (long long)f->id,
			 f->m.recipient);
		if ((f->m.flags & CPM_STORE_MSG_F_NOTIFY) && !ctl->stopping)
			cpm_im__report_send(ctl, f->m.sender, f->m.recipient, f->m.message_id, "delivered");
		cpm_im__changed(ctl, f->m.recipient);
	}
	f->cb(f->arg, f->rc, f->rc ? NULL : &f->m);
	if (f->got)
		cpm_store_msg_free_body(&f->m);
	free(f);
}

int cpm_im_ctl_fetch(struct cpm_im_ctl *ctl, int64_t id, const char *aor, const char *token,
		     cpm_im_fetch_cb *cb, void *arg)
{
	if (!cb || id <= 0 || (!aor && !token))
		return CPM_EINVAL;
	struct fetch_job *f = calloc(1, sizeof *f);
	if (!f)
		return CPM_ENOMEM;
	f->ctl = ctl;
	f->id = id;
	f->cb = cb;
	f->arg = arg;
	if (aor)
		snprintf(f->aor, sizeof f->aor, "%s", aor);
	if (token) {
		f->by_token = true;
		if (strlen(token) >= sizeof f->token) {
			free(f);
			return CPM_ENOTFOUND;
		}
		snprintf(f->token, sizeof f->token, "%s", token);
	}
	int rc = cpm_store_worker_submit(ctl->store, fetch_one_work, fetch_one_done, f);
	if (rc)
		free(f);
	return rc;
}

/* ---------------------------------------------------------------- setup */

static void ctl_closed(uv_handle_t *h)
{
	struct cpm_im_ctl *ctl = h->data;
	free(ctl->profs);
	free(ctl);
}

int cpm_im_ctl_new(struct cpm_core *core, struct cpm_im_ctl **out)
{
	struct cpm_im_ctl *ctl = calloc(1, sizeof *ctl);
	if (!ctl)
		return CPM_ENOMEM;
	ctl->core = core;
	ctl->conf = cpm_core_conf(core);
	ctl->store = cpm_core_store(core);
	ctl->loop = cpm_core_loop(core);
	cpm_im_profile_default(&ctl->profile);
	cpm_im_class_default(&ctl->cls);
	cpm_im_limits_default(&ctl->lim);
	ctl->cls.max_messages = (uint64_t)ctl->conf->im.max_messages;
	ctl->cls.max_bytes = ctl->conf->im.max_bytes;
	ctl->cls.max_lifetime = ctl->conf->im.max_lifetime;
	ctl->lim.default_lifetime = ctl->conf->im.max_lifetime;
	/* deferred retrieval needs the HTTP API's /m/ID; without it, every
	 * stored message is pushed */
	ctl->deferred_ok = ctl->conf->http.listen.port != 0;
	ctl->lim.max_inline_size = ctl->deferred_ok ? ctl->conf->im.max_inline_size : 0;
	uv_timer_init(ctl->loop, &ctl->expire_timer);
	ctl->expire_timer.data = ctl;
	uint64_t sweep = (uint64_t)ctl->conf->im.sweep_interval * 1000;
	uv_timer_start(&ctl->expire_timer, on_expire, sweep, sweep);
	uv_unref((uv_handle_t *)&ctl->expire_timer);
	const struct cpm_core_hooks hooks = { .undelivered = on_undelivered,
					      .registered = on_registered,
					      .ack = on_ack };
	cpm_core_set_hooks(core, &hooks, ctl);
	cpm_im__prof_start(ctl);
	int rc = cpm_core_add_service(core, cpm_im__service, ctl);
	if (rc) {
		cpm_core_set_hooks(core, NULL, NULL);
		cpm_im__prof_stop(ctl);
		uv_close((uv_handle_t *)&ctl->prof_timer, NULL);
		uv_close((uv_handle_t *)&ctl->expire_timer, ctl_closed);
		return rc;
	}
	/* bindings restored from the store: their devices may have
	 * messages waiting from before the restart */
	cpm_core_foreach_binding(core, on_registered, ctl);
	*out = ctl;
	return 0;
}

void cpm_im_ctl_stop(struct cpm_im_ctl *ctl)
{
	if (!ctl)
		return;
	ctl->stopping = true;
	uv_timer_stop(&ctl->expire_timer);
	cpm_im__prof_stop(ctl);
	while (ctl->ghost_list)
		ghost_end(ctl->ghost_list);
	for (struct run *r = ctl->runs; r; r = r->next)
		if (r->timer_on) {
			uv_timer_stop(&r->timer);
			r->timer_on = false;
		}
}


void cpm_im_ctl_free(struct cpm_im_ctl *ctl)
{
	if (!ctl)
		return;
	cpm_core_set_hooks(ctl->core, NULL, NULL);
	while (ctl->runs)
		run_end(ctl->runs);
	while (ctl->ghost_list)
		ghost_end(ctl->ghost_list);
	uv_timer_stop(&ctl->expire_timer);
	cpm_im__prof_stop(ctl);
	uv_close((uv_handle_t *)&ctl->prof_timer, NULL);
	uv_close((uv_handle_t *)&ctl->expire_timer, ctl_closed);
}
