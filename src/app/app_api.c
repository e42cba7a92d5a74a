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
#include "store/store.h"

#include <inttypes.h>
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
};

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
};

static void areq_free(struct areq *q)
{
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
	const char *realm = q->user_rc == 0 ? q->user.realm : default_realm(q->api->conf);
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

static void iso_date(int64_t t, char *out, size_t sz)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, sz, "%Y-%m-%dT%H:%M:%SZ", &tm);
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
		iso_date(it->date, date, sizeof date);
		if (it->expires > 0)
			iso_date(it->expires, exp, sizeof exp);
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
