/* The users' HTTP API: message pick-up (deferred retrieval, seed 001
 * Fig. 1, RFC 4483) and the inbox of waiting messages.
 *
 *   GET /m/ID?t=TOKEN                  the stored body, with the URL's
 *                                      single-use token (the notice's URL)
 *   GET /m/ID                          the same, as the recipient (Digest)
 *   GET /api/v1/users/AOR/messages     the waiting messages, JSON (Digest)
 *   GET /api/v1/users/AOR/profile      the store-and-forward profile (Digest)
 *   GET /api/v1/users/AOR/presence     the user's composed presence (PIDF)
 *   GET /api/v1/users/AOR/watchers     the allow/block/pending lists, JSON
 *   PUT /api/v1/users/AOR/watchers     {"watcher": "x@dom" or "*@dom",
 *                                       "rule": "allow|block|pending|none"}
 *   PUT /api/v1/users/AOR/profile      change it: a JSON object with
 *                                      "store-and-forward" and/or "accepts"
 *                                      (the class is the operator's: cpmd
 *                                      user set)
 *
 * Users authenticate with HTTP Digest (RFC 7616) and their SIP
 * credentials: username = the AoR's user part (or the AoR), realm = the
 * user's SIP realm.  A failed check, a wrong user and an unknown user all
 * get the same 401, as SIP does with 403, so that names cannot be probed. */
#include "app/app.h"

#include "core/core.h"
#include "http/http.h"
#include "im/im.h"
#include "pres/pres.h"
#include "sip/sip.h"
#include "store/store.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define INBOX_MAX 1000 /* messages listed at most (?limit=) */

struct cpm_app_api {
	struct cpm_core *core;
	struct cpm_im_ctl *im;
	struct cpm_pres *pres;
	const struct cpm_conf *conf;
	struct cpm_store_worker *store;
};

struct inbox_item {
	int64_t id, date, expires;
	char sender[512], display[128], content_type[128], subject[256];
	size_t size;
	int flags;
};

enum areq_kind {
	AREQ_FETCH,
	AREQ_INBOX,
	AREQ_PROFILE_GET,
	AREQ_PROFILE_PUT,
	AREQ_PRESENCE,
	AREQ_WATCHERS_GET,
	AREQ_WATCHERS_PUT,
	AREQ_ROOM,
};

struct room_req;

/* One request, from the handler to the reply.  resp is NULL once the
 * connection went away; the pending store or im job still owns the
 * struct and frees it when it comes back. */
struct areq {
	struct cpm_app_api *api;
	struct cpm_http_resp *resp;
	enum areq_kind kind;
	bool head;
	char target[1024];
	char *authz; /* Authorization value, NUL-terminated, or NULL */
	int64_t id;
	char aor[256];
	unsigned limit;
	/* worker results */
	int user_rc, msg_rc;
	struct cpm_store_user user;
	char recipient[256];
	struct inbox_item *items;
	size_t n, cap;
	int list_rc;
	/* profile */
	char method[8];
	char *body; /* PUT: the request body, NUL-terminated */
	int prof_rc;
	char prof_text[CPM_STORE_PROFILE_MAX];
	struct cpm_im_profile prof;
	/* rooms: the operation, its reply (built by the worker) */
	struct room_req *room;
	char challenge_realm[128]; /* for an unknown user, if not the default */
};

static void room_req_free(struct room_req *r);

static void areq_free(struct areq *q)
{
	room_req_free(q->room);
	free(q->authz);
	free(q->body);
	free(q->items);
	free(q);
}

static void areq_aborted(void *arg)
{
	struct areq *q = arg;
	q->resp = NULL;
}

/* The realm to challenge with when the user is not known (yet). */
static const char *default_realm(const struct cpm_conf *c)
{
	return c->auth.realm[0] ? c->auth.realm : c->server.ndomains ? c->server.domains[0] : "";
}

static void reply_challenge(struct areq *q, const char *realm, bool stale)
{
	char vals[4][CPM_CORE_CHALLENGE_MAX];
	int n = cpm_core_http_challenge(q->api->core, realm, stale, vals, 4);
	if (n <= 0) {
		cpm_http_reply_error(q->resp, 500);
		return;
	}
	for (int i = 0; i < n; i++)
		cpm_http_resp_header(q->resp, "WWW-Authenticate", vals[i]);
	cpm_http_reply_error(q->resp, 401);
}

/* 0 when the request's credentials are those of q->user; otherwise the
 * answer (401, with a fresh challenge) is sent and a status returned. */
static int check_auth(struct areq *q)
{
	const char *realm = q->user_rc == 0		? q->user.realm
			    : q->challenge_realm[0] ? q->challenge_realm
						    : default_realm(q->api->conf);
	if (!q->authz) {
		reply_challenge(q, realm, false);
		return 401;
	}
	int rc = q->user_rc == 0 ? cpm_core_http_verify(q->api->core, q->method, q->target,
							  cpm_str_from_cstr(q->authz), realm,
							  &q->user)
				 : CPM_EAUTH;
	if (rc == 0)
		return 0;
	if (rc == CPM_EPARSE) {
		cpm_http_reply_error(q->resp, 400);
		return 400;
	}
	cpm_logi(q->aor[0] ? q->aor : NULL, "HTTP %s: authentication failed (%s)", q->target,
		 cpm_strerror(rc));
	reply_challenge(q, realm, rc == CPM_EAGAIN);
	return 401;
}

/* ------------------------------------------------------------ GET /m/ID */

static void fetched(void *arg, int rc, const struct cpm_store_msg *m)
{
	struct areq *q = arg;
	if (!q->resp) {
		areq_free(q);
		return;
	}
	if (rc) {
		cpm_http_reply_error(q->resp, rc == CPM_ENOTFOUND ? 404
					      : rc == CPM_EPERM	  ? 403
								  : 500);
		areq_free(q);
		return;
	}
	char v[700];
	if (m->sender_display[0])
		snprintf(v, sizeof v, "\"%s\" <%s>", m->sender_display, m->sender);
	else
		snprintf(v, sizeof v, "<%s>", m->sender);
	/* values come from SIP headers, which hold no CR/LF */
	cpm_http_resp_header(q->resp, "X-CPM-From", v);
	cpm_fmt_date(m->date, v);
	cpm_http_resp_header(q->resp, "X-CPM-Date", v);
	cpm_http_resp_header(q->resp, "Last-Modified", v);
	if (m->subject[0])
		cpm_http_resp_header(q->resp, "X-CPM-Subject", m->subject);
	cpm_http_resp_header(q->resp, "X-CPM-Message-ID", m->message_id);
	cpm_http_resp_header(q->resp, "Cache-Control", "no-store");
	cpm_http_reply(q->resp, 200, m->content_type,
		       (struct cpm_str){ m->body, m->body_len });
	areq_free(q);
}

static void fetch_lookup_work(struct cpm_store *s, void *arg)
{
	struct areq *q = arg;
	struct cpm_store_msg m;
	q->msg_rc = cpm_store_msg_get(s, q->id, &m);
	q->user_rc = CPM_ENOTFOUND;
	if (q->msg_rc)
		return;
	snprintf(q->recipient, sizeof q->recipient, "%s", m.recipient);
	cpm_store_msg_free_body(&m);
	q->user_rc = cpm_store_user_get(s, q->recipient, &q->user);
}

static void fetch_lookup_done(void *arg)
{
	struct areq *q = arg;
	if (!q->resp) {
		areq_free(q);
		return;
	}
	snprintf(q->aor, sizeof q->aor, "%s", q->recipient);
	if (check_auth(q)) {
		areq_free(q);
		return;
	}
	int rc = cpm_im_ctl_fetch(q->api->im, q->id, q->user.aor, NULL, fetched, q);
	if (rc) {
		cpm_http_reply_error(q->resp, 503);
		areq_free(q);
	}
}

/* "t=TOKEN" in the query, or NULL. */
static bool query_param(struct cpm_str query, const char *name, char *out, size_t sz)
{
	size_t nl = strlen(name);
	const char *p = query.s, *end = query.s + query.len;
	while (p && p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		if ((size_t)(e - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
			size_t l = (size_t)(e - p) - nl - 1;
			if (l >= sz)
				return false;
			memcpy(out, p + nl + 1, l);
			out[l] = '\0';
			return true;
		}
		p = amp ? amp + 1 : NULL;
	}
	return false;
}

static bool parse_id(struct cpm_str s, int64_t *id)
{
	uint64_t v;
	if (!s.len || cpm_str_to_u64(s, INT64_MAX, &v) || v == 0)
		return false;
	*id = (int64_t)v;
	return true;
}

static struct areq *areq_new(struct cpm_app_api *api, const struct cpm_http_request *rq,
			     struct cpm_http_resp *resp, enum areq_kind kind)
{
	struct areq *q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	q->api = api;
	q->resp = resp;
	q->kind = kind;
	q->head = rq->head;
	/* the digest covers the method the client used (RFC 7616 §3.4.3) */
	cpm_str_copy(rq->req->method, q->method, sizeof q->method);
	if (cpm_str_copy(rq->req->target, q->target, sizeof q->target)) {
		free(q);
		return NULL;
	}
	struct cpm_str a;
	if (cpm_http_req_header(rq->req, "Authorization", &a)) {
		q->authz = cpm_str_dup(a);
		if (!q->authz) {
			free(q);
			return NULL;
		}
	}
	cpm_http_resp_on_abort(resp, areq_aborted, q);
	return q;
}

static void api_fetch(void *arg, const struct cpm_http_request *rq, struct cpm_http_resp *resp)
{
	struct cpm_app_api *api = arg;
	struct cpm_str path = rq->req->path;
	int64_t id;
	if (!parse_id((struct cpm_str){ path.s + 3, path.len - 3 }, &id)) {
		cpm_http_reply_error(resp, 404);
		return;
	}
	struct areq *q = areq_new(api, rq, resp, AREQ_FETCH);
	if (!q) {
		cpm_http_reply_error(resp, 500);
		return;
	}
	q->id = id;
	char token[64];
	int rc;
	if (query_param(rq->req->query, "t", token, sizeof token))
		rc = cpm_im_ctl_fetch(api->im, id, NULL, token, fetched, q);
	else
		rc = cpm_store_worker_submit(api->store, fetch_lookup_work, fetch_lookup_done, q);
	if (rc) {
		cpm_http_reply_error(resp, 503);
		areq_free(q);
	}
}

/* ------------------------------------------- GET /api/v1/users/AOR/messages */

static int inbox_collect(void *arg, const struct cpm_store_msg *m)
{
	struct areq *q = arg;
	if (m->flags & CPM_STORE_MSG_F_TAKEN)
		return 0; /* a device has it (kept for the others: late fork) */
	if (q->n == q->cap) {
		size_t cap = q->cap ? 2 * q->cap : 16;
		struct inbox_item *v = realloc(q->items, cap * sizeof *v);
		if (!v)
			return CPM_ENOMEM;
		q->items = v;
		q->cap = cap;
	}
	struct inbox_item *it = &q->items[q->n++];
	it->id = m->id;
	it->date = m->date;
	it->expires = m->expires;
	it->size = m->body_len;
	it->flags = m->flags;
	snprintf(it->sender, sizeof it->sender, "%s", m->sender);
	snprintf(it->display, sizeof it->display, "%s", m->sender_display);
	snprintf(it->content_type, sizeof it->content_type, "%s", m->content_type);
	snprintf(it->subject, sizeof it->subject, "%s", m->subject);
	return 0;
}

static void inbox_work(struct cpm_store *s, void *arg)
{
	struct areq *q = arg;
	q->user_rc = cpm_store_user_get(s, q->aor, &q->user);
	if (q->user_rc)
		return;
	/* reports (kind REPORT) wait too: they are messages for the user */
	q->list_rc = cpm_store_msg_list_pending(s, q->user.aor, 0, (int)q->limit, cpm_wall_s(),
					       inbox_collect, q);
}

static void inbox_done(void *arg)
{
	struct areq *q = arg;
	if (!q->resp || check_auth(q)) {
		areq_free(q);
		return;
	}
	if (q->list_rc < 0) {
		cpm_http_reply_error(q->resp, 500);
		areq_free(q);
		return;
	}
	json_t *list = json_array();
	for (size_t i = 0; list && i < q->n; i++) {
		struct inbox_item *it = &q->items[i];
		char date[40], exp[40] = "", url[1200];
		cpm_app_iso_time(it->date, date);
		if (it->expires > 0)
			cpm_app_iso_time(it->expires, exp);
		if (cpm_im_ctl_url(q->api->im, it->id, NULL, url, sizeof url))
			url[0] = '\0';
		json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:I,s:s,s:b,s:b,s:s}", "id",
				      (json_int_t)it->id, "from", it->sender, "display",
				      it->display, "date", date, "content_type", it->content_type,
				      "size", (json_int_t)it->size, "subject", it->subject,
				      "deferred", (it->flags & CPM_STORE_MSG_F_DEFERRED) != 0,
				      "pull", (it->flags & CPM_STORE_MSG_F_PULL) != 0, "url", url);
		if (o && exp[0])
			json_object_set_new(o, "expires", json_string(exp));
		if (!o || json_array_append_new(list, o)) {
			json_decref(list);
			list = NULL;
		}
	}
	cpm_http_reply_json(q->resp, 200,
			    list ? json_pack("{s:s,s:o}", "aor", q->user.aor, "messages", list)
				 : NULL);
	areq_free(q);
}

/* ---------------------------------------- GET/PUT /api/v1/users/AOR/profile */

static json_t *profile_json(const struct cpm_im_profile *p)
{
	static const char *const modes[] = { "no", "yes", "notify", "forward:" };
	char mode[CPM_IM_TARGET_MAX + 16];
	snprintf(mode, sizeof mode, "%s%s", modes[p->mode],
		 p->mode == CPM_IM_SF_FORWARD ? p->target : "");
	json_t *acc = json_array();
	for (unsigned i = 0; acc && i < p->naccepts; i++)
		json_array_append_new(acc, json_string(p->accepts[i]));
	if (acc && p->naccepts == 0)
		json_array_append_new(acc, json_string("*/*"));
	return json_pack("{s:s,s:o,s:s}", "store-and-forward", mode, "accepts", acc ? acc : json_null(),
			 "class", p->class_name[0] ? p->class_name : "default");
}

static void profile_read_work(struct cpm_store *s, void *arg)
{
	struct areq *q = arg;
	q->user_rc = cpm_store_user_get(s, q->aor, &q->user);
	if (q->user_rc)
		return;
	q->prof_rc = cpm_store_profile_get(s, q->user.aor, q->prof_text, sizeof q->prof_text);
}

static void profile_put_work(struct cpm_store *s, void *arg)
{
	struct areq *q = arg;
	q->prof_rc = cpm_store_profile_put(s, q->user.aor, q->prof_text);
}

static void profile_put_done(void *arg)
{
	struct areq *q = arg;
	if (q->resp) {
		if (q->prof_rc)
			cpm_http_reply_error(q->resp, 500);
		else
			cpm_http_reply_json(q->resp, 200, profile_json(&q->prof));
	}
	areq_free(q);
}

/* Apply the JSON body's keys to q->prof: 0, or the HTTP status of the
 * error (its reason in err). */
static int profile_apply(struct areq *q, char *err, size_t errsz)
{
	json_error_t je;
	json_t *j = q->body ? json_loads(q->body, 0, &je) : NULL;
	if (!json_is_object(j)) {
		snprintf(err, errsz, "the body is not a JSON object");
		json_decref(j);
		return 400;
	}
	int status = 0;
	const char *key;
	json_t *v;
	json_object_foreach(j, key, v) {
		char kv[CPM_STORE_PROFILE_MAX], ierr[CPM_IM_ERR_MAX] = "";
		if (strcmp(key, "class") == 0) {
			snprintf(err, errsz, "the class is set by the operator");
			status = 403;
			break;
		}
		if (strcmp(key, "store-and-forward") && strcmp(key, "accepts")) {
			snprintf(err, errsz, "unknown key '%s'", key);
			status = 400;
			break;
		}
		size_t n = (size_t)snprintf(kv, sizeof kv, "%s=", key);
		if (json_is_string(v)) {
			snprintf(kv + n, sizeof kv - n, "%s", json_string_value(v));
		} else if (json_is_array(v) && strcmp(key, "accepts") == 0) {
			size_t i;
			json_t *e;
			json_array_foreach(v, i, e) {
				if (!json_is_string(e))
					break;
				n += (size_t)snprintf(kv + n, n < sizeof kv ? sizeof kv - n : 0, "%s%s",
						      i ? "," : "", json_string_value(e));
			}
		} else {
			snprintf(err, errsz, "'%s' is not a string", key);
			status = 400;
			break;
		}
		if (n >= sizeof kv || cpm_im_profile_set(&q->prof, kv, ierr)) {
			snprintf(err, errsz, "%s", ierr[0] ? ierr : "value too long");
			status = 400;
			break;
		}
	}
	json_decref(j);
	return status;
}

static void watcher_one(void *arg, const char *watcher, enum cpm_pres_rule r)
{
	json_array_append_new(arg, json_pack("{s:s,s:s}", "watcher", watcher, "rule",
					     cpm_pres_rule_name(r)));
}

/* Presence over HTTP (issue 5): the composed document, and the lists. */
static void presence_answer(struct areq *q)
{
	struct cpm_pres *p = q->api->pres;
	if (q->kind == AREQ_PRESENCE) {
		struct cpm_buf b;
		cpm_buf_init(&b, 1 << 20);
		if (cpm_pres_document(p, q->user.aor, &b))
			cpm_http_reply_error(q->resp, 500);
		else
			cpm_http_reply(q->resp, 200, "application/pidf+xml",
				       (struct cpm_str){ b.p, b.len });
		cpm_buf_free(&b);
		return;
	}
	if (q->kind == AREQ_WATCHERS_PUT) {
		json_error_t je;
		json_t *j = q->body ? json_loads(q->body, 0, &je) : NULL;
		const char *w = NULL, *rule = NULL;
		int status = 0;
		if (json_unpack(j, "{s:s,s:s}", "watcher", &w, "rule", &rule)) {
			status = 400;
		} else {
			enum cpm_pres_rule r = strcmp(rule, "allow") == 0     ? CPM_PRES_RULE_ALLOW
					       : strcmp(rule, "block") == 0   ? CPM_PRES_RULE_BLOCK
					       : strcmp(rule, "pending") == 0 ? CPM_PRES_RULE_PENDING
					       : strcmp(rule, "none") == 0    ? CPM_PRES_RULE_NONE
									      : (enum cpm_pres_rule)-1;
			int rc = (int)r < 0 ? CPM_EINVAL : cpm_pres_rule_set(p, q->user.aor, w, r);
			status = rc == 0 ? 0 : rc == CPM_EINVAL ? 400 : rc == CPM_ELIMIT ? 403 : 500;
			if (!rc)
				cpm_logi(q->user.aor, "watcher %s: %s (HTTP)", w, rule);
		}
		json_decref(j);
		if (status) {
			cpm_http_reply_error(q->resp, status);
			return;
		}
	}
	json_t *list = json_array();
	cpm_pres_rule_each(p, q->user.aor, watcher_one, list);
	cpm_http_reply_json(q->resp, 200,
			    json_pack("{s:s,s:o}", "aor", q->user.aor, "watchers", list));
}

static void profile_read_done(void *arg)
{
	struct areq *q = arg;
	if (!q->resp || check_auth(q)) {
		areq_free(q);
		return;
	}
	if (q->kind == AREQ_PRESENCE || q->kind == AREQ_WATCHERS_GET ||
	    q->kind == AREQ_WATCHERS_PUT) {
		presence_answer(q);
		areq_free(q);
		return;
	}
	char err[CPM_IM_ERR_MAX];
	if (q->prof_rc == 0) {
		if (cpm_im_profile_parse(&q->prof, q->prof_text, err))
			cpm_im_profile_default(&q->prof);
	} else {
		cpm_im_profile_default(&q->prof);
	}
	if (q->kind == AREQ_PROFILE_GET) {
		cpm_http_reply_json(q->resp, 200, profile_json(&q->prof));
		areq_free(q);
		return;
	}
	char why[256] = "";
	int status = profile_apply(q, why, sizeof why);
	struct cpm_buf b;
	cpm_buf_init(&b, sizeof q->prof_text);
	if (!status && cpm_im_profile_format(&q->prof, &b))
		status = 400;
	if (status) {
		cpm_buf_free(&b);
		cpm_http_reply_json(q->resp, status,
				    json_pack("{s:i,s:s}", "status", status, "error", why));
		areq_free(q);
		return;
	}
	snprintf(q->prof_text, sizeof q->prof_text, "%s", b.p);
	cpm_buf_free(&b);
	cpm_logi(q->user.aor, "profile set over HTTP: %s", q->body);
	if (cpm_store_worker_submit(q->api->store, profile_put_work, profile_put_done, q)) {
		cpm_http_reply_error(q->resp, 503);
		areq_free(q);
	}
}

static void api_user(void *arg, const struct cpm_http_request *rq, struct cpm_http_resp *resp)
{
	struct cpm_app_api *api = arg;
	static const char prefix[] = "/api/v1/users/";
	static const char suffix[] = "/messages";
	static const char psuffix[] = "/profile";
	struct cpm_str path = rq->req->path;
	size_t pl = sizeof prefix - 1, sl = sizeof suffix - 1, ppl = sizeof psuffix - 1;
	bool inbox = path.len > pl + sl && memcmp(path.s + path.len - sl, suffix, sl) == 0;
	bool profile = path.len > pl + ppl && memcmp(path.s + path.len - ppl, psuffix, ppl) == 0;
	bool presence = path.len > pl + 9 && memcmp(path.s + path.len - 9, "/presence", 9) == 0;
	bool watchers = path.len > pl + 9 && memcmp(path.s + path.len - 9, "/watchers", 9) == 0;
	bool put = cpm_str_eq_cstr(rq->req->method, "PUT");
	if (!inbox && !profile && !presence && !watchers) {
		cpm_http_reply_error(resp, 404);
		return;
	}
	if (put && !profile && !watchers) {
		cpm_http_resp_header(resp, "Allow", "GET, HEAD");
		cpm_http_reply_error(resp, 405);
		return;
	}
	size_t cut = inbox ? sl : profile ? ppl : 9;
	struct cpm_str aor = { path.s + pl, path.len - pl - cut };
	if (!memchr(aor.s, '@', aor.len) || memchr(aor.s, '/', aor.len) || aor.len >= 256) {
		cpm_http_reply_error(resp, 404);
		return;
	}
	if ((presence || watchers) && !api->pres) {
		cpm_http_reply_error(resp, 404);
		return;
	}
	if (profile || presence || watchers) {
		enum areq_kind kind = profile ? (put ? AREQ_PROFILE_PUT : AREQ_PROFILE_GET)
				      : presence ? AREQ_PRESENCE
				      : put	 ? AREQ_WATCHERS_PUT
						 : AREQ_WATCHERS_GET;
		struct areq *q = areq_new(api, rq, resp, kind);
		if (!q || (put && !(q->body = cpm_str_dup(rq->req->body)))) {
			if (q)
				areq_free(q);
			cpm_http_reply_error(resp, 500);
			return;
		}
		cpm_str_copy(aor, q->aor, sizeof q->aor);
		if (cpm_store_worker_submit(api->store, profile_read_work, profile_read_done, q)) {
			cpm_http_reply_error(resp, 503);
			areq_free(q);
		}
		return;
	}
	struct areq *q = areq_new(api, rq, resp, AREQ_INBOX);
	if (!q) {
		cpm_http_reply_error(resp, 500);
		return;
	}
	cpm_str_copy(aor, q->aor, sizeof q->aor);
	q->limit = INBOX_MAX;
	char lim[16];
	uint64_t v;
	if (query_param(rq->req->query, "limit", lim, sizeof lim) &&
	    cpm_str_to_u64(cpm_str_from_cstr(lim), INBOX_MAX, &v) == 0 && v > 0)
		q->limit = (unsigned)v;
	if (cpm_store_worker_submit(api->store, inbox_work, inbox_done, q)) {
		cpm_http_reply_error(resp, 503);
		areq_free(q);
	}
}

/* ------------------------------------------------------------------ rooms
 *
 * Chat rooms over HTTP (issue 4: predefined rooms "also via HTTP API"),
 * with the same Digest as above.  The user is the one the Authorization
 * names: username "alice@example.test", or "alice" with the realm (when
 * it is a served domain) or the only served domain.
 *
 *   GET    /api/v1/rooms                    the rooms the user owns or is in
 *   POST   /api/v1/rooms                    {"room": "name[@own domain]",
 *                                            "subject", "members_only",
 *                                            "offline_sf", "history",
 *                                            "members": [AOR or {"aor",
 *                                            "nick", "role"}]}: 201, the user
 *                                            owns it
 *   GET    /api/v1/rooms/ROOM               the room and its members
 *   PUT    /api/v1/rooms/ROOM               subject, members_only, offline_sf,
 *                                            history, owner (owner)
 *   DELETE /api/v1/rooms/ROOM               with members and history (owner)
 *   GET    /api/v1/rooms/ROOM/members[/AOR] the members, or one
 *   PUT    /api/v1/rooms/ROOM/members       {"members": [...]}: the new list,
 *                                            the owner always in it (owner)
 *   PUT    /api/v1/rooms/ROOM/members/AOR   {"nick", "role"}: add or change
 *                                            (owner)
 *   DELETE /api/v1/rooms/ROOM/members       all but the owner (owner)
 *   DELETE /api/v1/rooms/ROOM/members/AOR   one (owner, or the member itself)
 *   GET    /api/v1/rooms/ROOM/history?after=ID&limit=N
 *                                           messages, oldest first (members)
 *
 * Reading a room (and its members) takes a member, or any user when the
 * room is not members-only.  Errors: 400 (bad JSON, value, unknown key or
 * user), 401, 403 (not the owner / a member, another domain), 404, 409
 * (the room exists, a user has its URI, the owner's row), 413 (more than
 * ROOM_API_MEMBERS_MAX members; bodies over http.max_body_size too). */

#define ROOM_API_MEMBERS_MAX 256
#define ROOM_API_PAGE_MAX 1000	   /* history messages per page */
#define ROOM_API_PAGE_DEFAULT 100

enum room_op {
	RO_LIST,
	RO_CREATE,
	RO_GET,
	RO_SET,
	RO_DEL,
	RO_MEMBERS_GET,
	RO_MEMBERS_PUT,
	RO_MEMBERS_DEL,
	RO_MEMBER_GET,
	RO_MEMBER_PUT,
	RO_MEMBER_DEL,
	RO_HISTORY,
};

struct room_req {
	enum room_op op;
	char room[256];	  /* from the path, normalised; "" for the collection */
	char member[256]; /* from the path */
	int64_t after;
	int limit;
	/* the answer, from the worker */
	int status;
	json_t *reply;
	char why[256];
	char location[600];
};

static void room_req_free(struct room_req *r)
{
	if (!r)
		return;
	json_decref(r->reply);
	free(r);
}

static int room_fail(struct room_req *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int room_fail(struct room_req *r, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof r->why, fmt, ap);
	va_end(ap);
	r->status = status;
	return status;
}

static const char *const role_names[] = { "member", "moderator", "owner" };

static json_t *room_json(const struct cpm_store_room *r, int my_role)
{
	char when[32];
	cpm_app_iso_time(r->created, when);
	json_t *j = json_pack(
		"{s:s,s:s,s:s,s:b,s:b,s:b,s:o,s:s,s:o}", "room", r->uri, "owner", r->owner,
		"subject", r->subject, "members_only",
		(r->flags & CPM_STORE_ROOM_F_MEMBERS_ONLY) != 0, "offline_sf",
		(r->flags & CPM_STORE_ROOM_F_OFFLINE_SF) != 0, "adhoc",
		(r->flags & CPM_STORE_ROOM_F_ADHOC) != 0, "history",
		r->history < 0 ? json_null() : json_integer(r->history), "created", when, "role",
		my_role < 0 ? json_null() : json_string(role_names[my_role]));
	return j;
}

static json_t *member_json(const struct cpm_store_room_member *m)
{
	char when[32];
	cpm_app_iso_time(m->added, when);
	return json_pack("{s:s,s:s,s:s,s:s}", "aor", m->aor, "nick", m->nick, "role",
			 role_names[m->role], "added", when);
}

static int member_append(void *arg, const struct cpm_store_room_member *m)
{
	return json_array_append_new(arg, member_json(m)) ? CPM_ENOMEM : 0;
}

/* The room and the requester's role in it (-1: not a member): 0, or the
 * status (404, 500) set in r. */
static int room_load(struct cpm_store *s, struct areq *q, struct cpm_store_room *room,
		     int *my_role)
{
	struct room_req *r = q->room;
	int rc = cpm_store_room_get(s, r->room, room);
	if (rc == CPM_ENOTFOUND)
		return room_fail(r, 404, "no such room: %s", r->room);
	if (rc)
		return room_fail(r, 500, "store: %s", cpm_strerror(rc));
	struct cpm_store_room_member me;
	rc = cpm_store_room_member_get(s, r->room, q->user.aor, &me);
	if (rc && rc != CPM_ENOTFOUND)
		return room_fail(r, 500, "store: %s", cpm_strerror(rc));
	*my_role = rc ? -1 : me.role;
	return 0;
}

/* The room with its members, as GET answers it. */
static json_t *room_full_json(struct cpm_store *s, const struct cpm_store_room *room,
			      int my_role)
{
	json_t *j = room_json(room, my_role), *list = json_array();
	if (!j || !list || cpm_store_room_member_list(s, room->uri, member_append, list)) {
		json_decref(j);
		json_decref(list);
		return NULL;
	}
	json_object_set_new(j, "members", list);
	return j;
}

/* An AoR for a member: of a served domain, an existing user; or the
 * owner: one of our users.  0 or the status set in r. */
static int room_person(struct cpm_store *s, struct areq *q, const char *in, bool owner,
		       char aor[256])
{
	char err[600];
	int rc = cpm_app_aor_check(q->api->conf, in, true, aor, err, sizeof err);
	if (rc == CPM_EPERM && !owner)
		return 0; /* a remote participant */
	if (rc)
		return room_fail(q->room, 400, "%s", err);
	struct cpm_store_user u;
	rc = cpm_store_user_get(s, aor, &u);
	if (rc == CPM_ENOTFOUND)
		return room_fail(q->room, 400, "no such user: %s", aor);
	return rc ? room_fail(q->room, 500, "store: %s", cpm_strerror(rc)) : 0;
}

/* A member entry of a body: "aor" or {"aor", "nick", "role"}. */
static int room_member_parse(struct cpm_store *s, struct areq *q, json_t *v,
			     struct cpm_store_room_member *m, bool aor_given)
{
	struct room_req *r = q->room;
	const char *aor = NULL, *nick = NULL, *role = NULL;
	/* "!": a key not named here is an error */
	int bad = json_is_string(v) && !aor_given ? 0
		  : !json_is_object(v)		  ? -1
		  : aor_given ? json_unpack(v, "{s?s,s?s!}", "nick", &nick, "role", &role)
			      : json_unpack(v, "{s:s,s?s,s?s!}", "aor", &aor, "nick", &nick,
					    "role", &role);
	if (!bad && !aor_given && !aor)
		aor = json_string_value(v);
	if (bad) {
		return room_fail(r, 400, "a member is %s",
				 aor_given ? "{\"nick\": ..., \"role\": ...}"
					   : "\"user@domain\" or {\"aor\", \"nick\", \"role\"}");
	}
	memset(m, 0, sizeof *m);
	memcpy(m->room, r->room, sizeof m->room);
	if (aor_given)
		memcpy(m->aor, r->member, sizeof m->aor);
	else if (room_person(s, q, aor, false, m->aor))
		return r->status;
	if (nick && snprintf(m->nick, sizeof m->nick, "%s", nick) >= (int)sizeof m->nick)
		return room_fail(r, 400, "nick longer than %zu bytes", sizeof m->nick - 1);
	m->role = CPM_STORE_ROOM_MEMBER;
	if (role) {
		if (strcmp(role, "member") == 0)
			m->role = CPM_STORE_ROOM_MEMBER;
		else if (strcmp(role, "moderator") == 0)
			m->role = CPM_STORE_ROOM_MODERATOR;
		else if (strcmp(role, "owner") == 0)
			m->role = CPM_STORE_ROOM_OWNER;
		else
			return room_fail(r, 400, "role '%s': member or moderator", role);
	}
	return 0;
}

/* A store error of a member or room write as a status. */
static int room_write_fail(struct cpm_store *s, struct room_req *r, int rc)
{
	if (rc == CPM_EPERM)
		return room_fail(r, 409, "%s", cpm_store_last_error(s));
	if (rc == CPM_EINVAL)
		return room_fail(r, 400, "invalid value (control characters?)");
	if (rc == CPM_EEXIST)
		return room_fail(r, 409, "%s is a user's AoR", r->room);
	if (rc == CPM_ENOTFOUND)
		return room_fail(r, 404, "no such room: %s", r->room);
	return room_fail(r, 500, "store: %s", cpm_strerror(rc));
}

/* The settings keys of POST and PUT into room (create: no "owner";
 * otherwise no "room" and "members"). */
static int room_settings(struct cpm_store *s, struct areq *q, json_t *body, bool create,
			 struct cpm_store_room *room)
{
	struct room_req *r = q->room;
	const char *key;
	json_t *v;
	json_object_foreach(body, key, v) {
		int bit = strcmp(key, "members_only") == 0 ? CPM_STORE_ROOM_F_MEMBERS_ONLY
			  : strcmp(key, "offline_sf") == 0 ? CPM_STORE_ROOM_F_OFFLINE_SF
							   : 0;
		if (bit) {
			if (!json_is_boolean(v))
				return room_fail(r, 400, "'%s' is not true or false", key);
			room->flags = json_is_true(v) ? room->flags | bit : room->flags & ~bit;
		} else if (strcmp(key, "subject") == 0) {
			if (!json_is_string(v) ||
			    snprintf(room->subject, sizeof room->subject, "%s",
				     json_string_value(v)) >= (int)sizeof room->subject)
				return room_fail(r, 400, "'subject' is not a string of at most %zu bytes",
						 sizeof room->subject - 1);
		} else if (strcmp(key, "history") == 0) {
			json_int_t n = json_is_integer(v) ? json_integer_value(v) : -2;
			if (!json_is_null(v) && (n < 0 || n > CPM_STORE_ROOM_HISTORY_MAX))
				return room_fail(r, 400,
						 "'history' is a number from 0 to %d, or null "
						 "(the server default)",
						 CPM_STORE_ROOM_HISTORY_MAX);
			room->history = json_is_null(v) ? -1 : (int)n;
		} else if (strcmp(key, "owner") == 0 && !create) {
			if (!json_is_string(v))
				return room_fail(r, 400, "'owner' is not a string");
			if (room_person(s, q, json_string_value(v), true, room->owner))
				return r->status;
		} else if (!(create && (strcmp(key, "room") == 0 || strcmp(key, "members") == 0))) {
			return room_fail(r, 400, "unknown key '%s'", key);
		}
	}
	return 0;
}

/* The member list of a body (array) into the room, in one transaction
 * with what the caller wrote before: replace drops the members not
 * listed (the owner stays). */
static int room_members_write(struct cpm_store *s, struct areq *q, json_t *list,
			      const struct cpm_store_room *room, bool replace)
{
	struct room_req *r = q->room;
	if (!json_is_array(list))
		return room_fail(r, 400, "'members' is not an array");
	size_t n = json_array_size(list);
	if (n > ROOM_API_MEMBERS_MAX)
		return room_fail(r, 413, "more than %d members", ROOM_API_MEMBERS_MAX);
	struct cpm_store_room_member *ms = calloc(n ? n : 1, sizeof *ms);
	if (!ms)
		return room_fail(r, 500, "out of memory");
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v) {
		if (room_member_parse(s, q, v, &ms[i], false)) {
			free(ms);
			return r->status;
		}
		if (strcmp(ms[i].aor, room->owner) == 0)
			ms[i].role = CPM_STORE_ROOM_OWNER;
	}
	int rc = 0;
	if (replace) {
		/* the current members not listed go */
		json_t *cur = json_array();
		rc = cur ? cpm_store_room_member_list(s, room->uri, member_append, cur)
			 : CPM_ENOMEM;
		json_array_foreach(cur, i, v) {
			const char *aor = json_string_value(json_object_get(v, "aor"));
			bool keep = !aor || strcmp(aor, room->owner) == 0;
			for (size_t k = 0; !keep && k < n; k++)
				keep = strcmp(ms[k].aor, aor) == 0;
			if (!rc && !keep)
				rc = cpm_store_room_member_del(s, room->uri, aor);
		}
		json_decref(cur);
	}
	for (i = 0; !rc && i < n; i++)
		rc = cpm_store_room_member_put(s, &ms[i]);
	free(ms);
	return rc ? room_write_fail(s, r, rc) : 0;
}

/* room_members_write(replace) in a transaction of its own. */
static int room_members_replace(struct cpm_store *s, struct areq *q, json_t *list,
				const struct cpm_store_room *room)
{
	struct room_req *r = q->room;
	int rc = cpm_store_txn(s, CPM_STORE_TXN_BEGIN);
	if (rc)
		return room_fail(r, 500, "store: %s", cpm_strerror(rc));
	if (room_members_write(s, q, list, room, true) ||
	    (rc = cpm_store_txn(s, CPM_STORE_TXN_COMMIT))) {
		if (!r->status)
			room_fail(r, 500, "store: %s", cpm_strerror(rc));
		if (cpm_store_txn(s, CPM_STORE_TXN_ACTIVE) == 1)
			cpm_store_txn(s, CPM_STORE_TXN_ROLLBACK);
		return r->status;
	}
	return 0;
}

static int room_history_one(void *arg, const struct cpm_store_room_msg *m)
{
	json_t *list = arg;
	char when[32];
	cpm_app_iso_time(m->date, when);
	json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s}", "id", (json_int_t)m->id, "sender",
			      m->sender, "nick", m->nick, "message_id", m->message_id,
			      "content_type", m->content_type, "date", when);
	if (!o)
		return CPM_ENOMEM;
	/* text as is when it is UTF-8, anything else in base64 */
	json_t *text = json_stringn(m->body ? m->body : "", m->body_len);
	if (text) {
		json_object_set_new(o, "body", text);
	} else {
		size_t b64 = 4 * ((m->body_len + 2) / 3) + 1;
		unsigned char *enc = malloc(b64);
		if (!enc) {
			json_decref(o);
			return CPM_ENOMEM;
		}
		EVP_EncodeBlock(enc, m->body, (int)m->body_len);
		json_object_set_new(o, "body_base64", json_string((char *)enc));
		free(enc);
	}
	return json_array_append_new(list, o) ? CPM_ENOMEM : 0;
}

struct room_list_ctx {
	struct cpm_store *s;
	const char *aor;
	json_t *list;
};

static int room_list_one(void *arg, const struct cpm_store_room *room)
{
	struct room_list_ctx *c = arg;
	struct cpm_store_room_member me;
	/* another statement of the same connection: allowed in a callback */
	int role = cpm_store_room_member_get(c->s, room->uri, c->aor, &me) == 0 ? me.role : -1;
	return json_array_append_new(c->list, room_json(room, role)) ? CPM_ENOMEM : 0;
}

/* POST /api/v1/rooms, in one transaction. */
static int room_create(struct cpm_store *s, struct areq *q, json_t *body)
{
	struct room_req *r = q->room;
	const char *name = json_string_value(json_object_get(body, "room"));
	if (!name)
		return room_fail(r, 400, "'room' (the room's name) is missing");
	const char *dom = strchr(q->user.aor, '@') + 1;
	char uri[512];
	if (strchr(name, '@'))
		snprintf(uri, sizeof uri, "%s", name);
	else
		snprintf(uri, sizeof uri, "%s@%s", name, dom);
	struct cpm_store_room room = { .history = -1 };
	if (cpm_store_aor_normalize(uri, room.uri, sizeof room.uri))
		return room_fail(r, 400, "'%s' is not a room name (name@domain)", name);
	if (strcmp(strchr(room.uri, '@') + 1, dom) != 0)
		return room_fail(r, 403, "rooms are created in your own domain (%s)", dom);
	memcpy(r->room, room.uri, sizeof r->room);
	memcpy(room.owner, q->user.aor, sizeof room.owner);
	if (room_settings(s, q, body, true, &room))
		return r->status;
	int rc = cpm_store_txn(s, CPM_STORE_TXN_BEGIN);
	if (rc)
		return room_fail(r, 500, "store: %s", cpm_strerror(rc));
	struct cpm_store_room old;
	rc = cpm_store_room_get(s, room.uri, &old);
	if (rc == 0)
		room_fail(r, 409, "room %s exists", room.uri);
	else if (rc != CPM_ENOTFOUND)
		room_fail(r, 500, "store: %s", cpm_strerror(rc));
	else if ((rc = cpm_store_room_put(s, &room)))
		room_write_fail(s, r, rc);
	json_t *members = json_object_get(body, "members");
	if (!r->status && members)
		room_members_write(s, q, members, &room, false);
	if (!r->status && (rc = cpm_store_txn(s, CPM_STORE_TXN_COMMIT)))
		room_fail(r, 500, "store: %s", cpm_strerror(rc));
	if (r->status) {
		if (cpm_store_txn(s, CPM_STORE_TXN_ACTIVE) == 1)
			cpm_store_txn(s, CPM_STORE_TXN_ROLLBACK);
		return r->status;
	}
	if (cpm_store_room_get(s, room.uri, &room))
		return room_fail(r, 500, "store: room gone");
	r->reply = room_full_json(s, &room, CPM_STORE_ROOM_OWNER);
	snprintf(r->location, sizeof r->location, "/api/v1/rooms/%s", room.uri);
	cpm_logi(q->user.aor, "room %s created over HTTP", room.uri);
	r->status = 201;
	return 0;
}

/* Everything but the authentication, on the worker: the rights are
 * checked against what the store holds now. */
static void room_work(struct cpm_store *s, void *arg)
{
	struct areq *q = arg;
	struct room_req *r = q->room;
	json_error_t je;
	json_t *body = NULL;
	if (r->op == RO_CREATE || r->op == RO_SET || r->op == RO_MEMBERS_PUT ||
	    (r->op == RO_MEMBER_PUT && q->body && q->body[0])) {
		body = json_loads(q->body ? q->body : "", JSON_REJECT_DUPLICATES, &je);
		if (!body || (!json_is_object(body) && r->op != RO_MEMBERS_PUT)) {
			room_fail(r, 400, "the body is not a JSON object");
			json_decref(body);
			return;
		}
	}
	if (r->op == RO_LIST) {
		struct room_list_ctx c = { s, q->user.aor, json_array() };
		int rc = c.list ? cpm_store_room_list_member(s, q->user.aor, room_list_one, &c)
				: CPM_ENOMEM;
		if (rc) {
			json_decref(c.list);
			room_fail(r, 500, "store: %s", cpm_strerror(rc));
		} else {
			r->reply = json_pack("{s:s,s:o}", "aor", q->user.aor, "rooms", c.list);
			r->status = 200;
		}
		return;
	}
	if (r->op == RO_CREATE) {
		room_create(s, q, body);
		json_decref(body);
		return;
	}
	struct cpm_store_room room;
	int role = -1, rc;
	if (room_load(s, q, &room, &role)) {
		json_decref(body);
		return;
	}
	bool owner = role == CPM_STORE_ROOM_OWNER;
	bool reader = role >= 0 || !(room.flags & CPM_STORE_ROOM_F_MEMBERS_ONLY);
	bool self = r->op == RO_MEMBER_DEL && strcmp(r->member, q->user.aor) == 0;
	switch (r->op) {
	case RO_GET:
	case RO_MEMBERS_GET:
	case RO_MEMBER_GET:
		if (!reader)
			room_fail(r, 403, "%s is for its members", room.uri);
		break;
	case RO_HISTORY:
		if (role < 0)
			room_fail(r, 403, "the history of %s is for its members", room.uri);
		break;
	default:
		if (!owner && !self)
			room_fail(r, 403, "only the owner of %s may change it", room.uri);
	}
	if (r->status) {
		json_decref(body);
		return;
	}
	struct cpm_store_room_member m;
	switch (r->op) {
	case RO_GET:
		r->reply = room_full_json(s, &room, role);
		break;
	case RO_SET:
		if (!room_settings(s, q, body, false, &room)) {
			if ((rc = cpm_store_room_put(s, &room)))
				room_write_fail(s, r, rc);
			else if (!cpm_store_room_get(s, room.uri, &room) &&
				 !cpm_store_room_member_get(s, room.uri, q->user.aor, &m))
				r->reply = room_full_json(s, &room, m.role);
		}
		break;
	case RO_DEL:
		rc = cpm_store_room_del(s, room.uri);
		if (rc)
			room_write_fail(s, r, rc);
		else
			r->status = 204;
		break;
	case RO_MEMBERS_GET:
		r->reply = json_array();
		if (r->reply && cpm_store_room_member_list(s, room.uri, member_append, r->reply))
			room_fail(r, 500, "store: listing the members");
		else
			r->reply = json_pack("{s:s,s:o}", "room", room.uri, "members", r->reply);
		break;
	case RO_MEMBERS_PUT:
	case RO_MEMBERS_DEL: {
		bool put = r->op == RO_MEMBERS_PUT;
		json_t *list = !put			 ? json_array()
			       : json_is_object(body) ? json_object_get(body, "members")
						      : body;
		if (put && json_is_object(body) && json_object_size(body) != 1)
			room_fail(r, 400, "the body is {\"members\": [...]}");
		else if (room_members_replace(s, q, list, &room))
			; /* r->status says why */
		else if (put)
			r->reply = room_full_json(s, &room, role);
		else
			r->status = 204;
		if (!put)
			json_decref(list);
		break;
	}
	case RO_MEMBER_GET:
		rc = cpm_store_room_member_get(s, room.uri, r->member, &m);
		if (rc == CPM_ENOTFOUND)
			room_fail(r, 404, "%s is not a member of %s", r->member, room.uri);
		else if (rc)
			room_fail(r, 500, "store: %s", cpm_strerror(rc));
		else
			r->reply = member_json(&m);
		break;
	case RO_MEMBER_PUT: {
		struct cpm_store_room_member old;
		int had = cpm_store_room_member_get(s, room.uri, r->member, &old);
		char aor[256];
		if (room_person(s, q, r->member, false, aor))
			break;
		memcpy(r->member, aor, sizeof aor);
		if (body && room_member_parse(s, q, body, &m, true))
			break;
		if (!body) {
			memset(&m, 0, sizeof m);
			memcpy(m.room, room.uri, sizeof m.room);
			memcpy(m.aor, r->member, sizeof m.aor);
		}
		if (had == 0) { /* what the body does not say stays */
			if (!json_object_get(body, "nick"))
				memcpy(m.nick, old.nick, sizeof m.nick);
			if (!json_object_get(body, "role"))
				m.role = old.role;
		} else if (strcmp(m.aor, room.owner) == 0) {
			m.role = CPM_STORE_ROOM_OWNER;
		}
		if ((rc = cpm_store_room_member_put(s, &m))) {
			room_write_fail(s, r, rc);
			break;
		}
		if (!cpm_store_room_member_get(s, room.uri, m.aor, &m))
			r->reply = member_json(&m);
		if (had) {
			r->status = 201;
			snprintf(r->location, sizeof r->location, "/api/v1/rooms/%s/members/%s",
				 room.uri, m.aor);
		}
		break;
	}
	case RO_MEMBER_DEL:
		rc = cpm_store_room_member_del(s, room.uri, r->member);
		if (rc == CPM_ENOTFOUND)
			room_fail(r, 404, "%s is not a member of %s", r->member, room.uri);
		else if (rc)
			room_write_fail(s, r, rc);
		else
			r->status = 204;
		break;
	case RO_HISTORY: {
		json_t *list = json_array();
		rc = list ? cpm_store_room_msg_list(s, room.uri, r->after, r->limit,
						    room_history_one, list)
			  : CPM_ENOMEM;
		if (rc) {
			json_decref(list);
			room_fail(r, 500, "store: %s", cpm_strerror(rc));
			break;
		}
		size_t n = json_array_size(list);
		json_int_t last = n ? json_integer_value(json_object_get(
					      json_array_get(list, n - 1), "id"))
				    : (json_int_t)r->after;
		r->reply = json_pack("{s:s,s:o,s:I}", "room", room.uri, "messages", list, "last",
				     last);
		break;
	}
	default:
		break;
	}
	json_decref(body);
	if (!r->status)
		r->status = 200;
	if (r->status < 300 && r->status != 204 && !r->reply)
		room_fail(r, 500, "cannot build the answer");
}

static void room_done(void *arg)
{
	struct areq *q = arg;
	struct room_req *r = q->room;
	if (!q->resp) {
		areq_free(q);
		return;
	}
	if (r->location[0])
		cpm_http_resp_header(q->resp, "Location", r->location);
	if (r->status == 204) {
		cpm_http_reply(q->resp, 204, NULL, (struct cpm_str){ "", 0 });
	} else if (r->status < 300) {
		cpm_http_reply_json(q->resp, r->status, r->reply);
		r->reply = NULL;
	} else {
		if (r->status != 404 && r->status != 500)
			cpm_logi(q->user.aor, "HTTP %s %s: %d %s", q->method, q->target, r->status,
				 r->why);
		cpm_http_reply_json(q->resp, r->status,
				    json_pack("{s:i,s:s}", "status", r->status, "error",
					      r->why[0] ? r->why
							: cpm_http_status_reason(r->status)));
	}
	areq_free(q);
}

static void room_auth_work(struct cpm_store *s, void *arg)
{
	struct areq *q = arg;
	q->user_rc = q->aor[0] ? cpm_store_user_get(s, q->aor, &q->user) : CPM_ENOTFOUND;
}

static void room_auth_done(void *arg)
{
	struct areq *q = arg;
	if (!q->resp || check_auth(q)) {
		areq_free(q);
		return;
	}
	if (cpm_store_worker_submit(q->api->store, room_work, room_done, q)) {
		cpm_http_reply_error(q->resp, 503);
		areq_free(q);
	}
}

/* The AoR the Authorization names, or "" (then the user is unknown: 401). */
static void room_requester(const struct cpm_conf *conf, const char *authz, char aor[256])
{
	struct cpm_sip_auth a;
	char user[256], realm[128], tmp[400];
	aor[0] = '\0';
	if (!authz || cpm_sip_auth_parse(cpm_str_from_cstr(authz), &a) < 0 ||
	    cpm_str_copy(a.username, user, sizeof user) ||
	    cpm_str_copy(a.realm, realm, sizeof realm))
		return;
	if (strchr(user, '@'))
		snprintf(tmp, sizeof tmp, "%s", user);
	else if (cpm_conf_serves_domain(conf, cpm_str_from_cstr(realm)))
		snprintf(tmp, sizeof tmp, "%s@%s", user, realm);
	else if (conf->server.ndomains == 1)
		snprintf(tmp, sizeof tmp, "%s@%s", user, conf->server.domains[0]);
	else
		return;
	if (cpm_store_aor_normalize(tmp, aor, 256))
		aor[0] = '\0';
}

/* One path segment, percent-decoded ('/' and controls refused). */
static bool room_segment(struct cpm_str seg, char *out, size_t sz)
{
	size_t n = 0;
	for (size_t i = 0; i < seg.len; i++) {
		unsigned c = (unsigned char)seg.s[i];
		if (c == '%') {
			unsigned v;
			if (i + 2 >= seg.len)
				return false;
			if (sscanf(seg.s + i + 1, "%2x", &v) != 1)
				return false;
			c = v;
			i += 2;
		}
		if (c < 0x20 || c == 0x7f || c == '/' || n + 1 >= sz)
			return false;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return n > 0;
}

static void api_rooms(void *arg, const struct cpm_http_request *rq, struct cpm_http_resp *resp)
{
	struct cpm_app_api *api = arg;
	static const char prefix[] = "/api/v1/rooms";
	struct cpm_str path = rq->req->path, m = rq->req->method;
	struct cpm_str rest = { path.s + sizeof prefix - 1, path.len - (sizeof prefix - 1) };
	bool get = cpm_str_eq_cstr(m, "GET") || cpm_str_eq_cstr(m, "HEAD");
	bool put = cpm_str_eq_cstr(m, "PUT");
	struct room_req *r = calloc(1, sizeof *r);
	if (!r) {
		cpm_http_reply_error(resp, 500);
		return;
	}
	const char *allow = NULL;
	/* "", "/ROOM", "/ROOM/members", "/ROOM/members/AOR", "/ROOM/history" */
	struct cpm_str seg[3];
	int nseg = 0;
	bool bad = false;
	for (size_t i = 0; i < rest.len && !bad;) {
		if (rest.s[i] != '/' || nseg == 3) {
			bad = true;
			break;
		}
		const char *e = memchr(rest.s + i + 1, '/', rest.len - i - 1);
		size_t end = e ? (size_t)(e - rest.s) : rest.len;
		seg[nseg++] = (struct cpm_str){ rest.s + i + 1, end - i - 1 };
		i = end;
	}
	char room[256] = "";
	if (!bad && nseg >= 1 &&
	    (!room_segment(seg[0], room, sizeof room) ||
	     cpm_store_aor_normalize(room, r->room, sizeof r->room)))
		bad = true;
	if (bad) {
	} else if (nseg == 0) {
		r->op = get ? RO_LIST : RO_CREATE;
	} else if (nseg == 1) {
		r->op = get ? RO_GET : put ? RO_SET : RO_DEL;
	} else if (cpm_str_eq_cstr(seg[1], "members")) {
		if (nseg == 3 && !room_segment(seg[2], r->member, sizeof r->member))
			bad = true;
		else if (nseg == 3)
			r->op = get ? RO_MEMBER_GET : put ? RO_MEMBER_PUT : RO_MEMBER_DEL;
		else
			r->op = get ? RO_MEMBERS_GET : put ? RO_MEMBERS_PUT : RO_MEMBERS_DEL;
	} else if (cpm_str_eq_cstr(seg[1], "history") && nseg == 2) {
		r->op = RO_HISTORY;
		allow = get ? NULL : "GET, HEAD";
	} else {
		bad = true;
	}
	if (bad || allow) {
		if (allow)
			cpm_http_resp_header(resp, "Allow", allow);
		cpm_http_reply_error(resp, bad ? 404 : 405);
		free(r);
		return;
	}
	if (r->op == RO_HISTORY) {
		char v[24];
		uint64_t n;
		r->limit = ROOM_API_PAGE_DEFAULT;
		if (query_param(rq->req->query, "after", v, sizeof v) &&
		    cpm_str_to_u64(cpm_str_from_cstr(v), INT64_MAX, &n) == 0)
			r->after = (int64_t)n;
		else if (query_param(rq->req->query, "after", v, sizeof v))
			bad = true;
		if (query_param(rq->req->query, "limit", v, sizeof v)) {
			if (cpm_str_to_u64(cpm_str_from_cstr(v), ROOM_API_PAGE_MAX, &n) || n == 0)
				bad = true;
			else
				r->limit = (int)n;
		}
		if (bad) {
			cpm_http_reply_json(resp, 400,
					    json_pack("{s:i,s:s}", "status", 400, "error",
						      "after is a message id, limit 1 to 1000"));
			free(r);
			return;
		}
	}
	struct areq *q = areq_new(api, rq, resp, AREQ_ROOM);
	if (!q) {
		free(r);
		cpm_http_reply_error(resp, 500);
		return;
	}
	q->room = r;
	if (rq->req->body.len && !(q->body = cpm_str_dup(rq->req->body))) {
		areq_free(q);
		cpm_http_reply_error(resp, 500);
		return;
	}
	room_requester(api->conf, q->authz, q->aor);
	/* the challenge names the room's domain when realms are per domain */
	if (r->room[0] && !api->conf->auth.realm[0] &&
	    cpm_conf_serves_domain(api->conf, cpm_str_from_cstr(strchr(r->room, '@') + 1)))
		snprintf(q->challenge_realm, sizeof q->challenge_realm, "%s",
			 strchr(r->room, '@') + 1);
	if (cpm_store_worker_submit(api->store, room_auth_work, room_auth_done, q)) {
		cpm_http_reply_error(resp, 503);
		areq_free(q);
	}
}

/* ---------------------------------------------------------------- setup */

int cpm_app_api_new(struct cpm_http *h, struct cpm_core *core, struct cpm_im_ctl *im,
		    struct cpm_pres *pres, struct cpm_app_api **out)
{
	struct cpm_app_api *api = calloc(1, sizeof *api);
	if (!api)
		return CPM_ENOMEM;
	api->core = core;
	api->im = im;
	api->pres = pres;
	api->conf = cpm_core_conf(core);
	api->store = cpm_core_store(core);
	int rc = cpm_http_route(h, "GET", "/m/*", api_fetch, api);
	if (!rc)
		rc = cpm_http_route(h, "GET", "/api/v1/users/*", api_user, api);
	if (!rc)
		rc = cpm_http_route(h, "PUT", "/api/v1/users/*", api_user, api);
	if (!rc)
		rc = cpm_http_route(h, "GET", "/api/v1/rooms", api_rooms, api);
	if (!rc)
		rc = cpm_http_route(h, "POST", "/api/v1/rooms", api_rooms, api);
	static const char *const room_methods[] = { "GET", "PUT", "DELETE" };
	for (size_t i = 0; !rc && i < 3; i++)
		rc = cpm_http_route(h, room_methods[i], "/api/v1/rooms/*", api_rooms, api);
	if (rc) {
		free(api);
		return rc;
	}
	*out = api;
	return 0;
}

void cpm_app_api_free(struct cpm_app_api *api)
{
	free(api);
}
