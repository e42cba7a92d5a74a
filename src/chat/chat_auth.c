/* AUTH (RFC 4976 §5.1, §6.2): a client asks the relay for a session URI.
 *
 * The first AUTH has no credentials and gets 401 with one Digest challenge
 * per auth.algorithms (core's nonces).  The second carries Authorization:
 * the user is looked up in the subscriber store (user name = the AoR's user
 * part, or the AoR; realm = the user's SIP realm), the response is checked
 * by core as for HTTP (method "AUTH", uri = the relay URI the AUTH was
 * sent to), and the client gets 200 with Use-Path (our URI with a fresh
 * session id) and Expires.  A wrong password, a wrong user and an unknown
 * user all get the same 401.  An Expires outside [min, max] gets 423 with
 * Min-Expires or Max-Expires.  An AUTH to a session URI this connection
 * already holds refreshes it. */
#include "chat/chat_int.h"

#include "core/core.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

struct auth_job {
	struct cpm_chat_relay *r;
	uint64_t conn_id;
	char tid[CPM_MSRP_IDENT_MAX + 1];
	char *us;     /* the relay URI as the AUTH named it (To-Path) */
	char *client; /* From-Path: the answer's To-Path; its first URI is the
		       * session's client (the previous hop) */
	char *authz;
	int64_t expires;
	char username[256], realm[CPM_CONF_NAME_LEN];
	/* worker result */
	int user_rc;
	struct cpm_store_user user;
};

static void job_free(struct auth_job *j)
{
	free(j->us);
	free(j->client);
	free(j->authz);
	free(j);
}

static const char *default_realm(const struct cpm_conf *c)
{
	return c->auth.realm[0] ? c->auth.realm : c->server.domains[0];
}

static void challenge(struct cpm_chat__conn *c, const char *tid, const char *client,
		      const char *us, const char *realm, bool stale)
{
	char vals[4][CPM_CORE_CHALLENGE_MAX];
	int n = cpm_core_http_challenge(c->r->core, realm, stale, vals, 4);
	struct cpm_buf extra;
	cpm_buf_init(&extra, 4 * (CPM_CORE_CHALLENGE_MAX + 32));
	for (int i = 0; i < n; i++)
		cpm_buf_printf(&extra, "WWW-Authenticate: %s\r\n", vals[i]);
	cpm_chat__respond(c, tid, 401, client, us, extra.p);
	cpm_buf_free(&extra);
}

/* Worker thread: the user the credentials name.  "alice" with realm
 * "example.test" is alice@example.test, or alice@D for a served domain D
 * whose users have that realm (auth.realm set). */
static void lookup_work(struct cpm_store *s, void *arg)
{
	struct auth_job *j = arg;
	const struct cpm_conf *conf = j->r->conf;
	char aor[600];
	j->user_rc = CPM_ENOTFOUND;
	if (strchr(j->username, '@')) {
		j->user_rc = cpm_store_user_get(s, j->username, &j->user);
	} else {
		snprintf(aor, sizeof aor, "%s@%s", j->username, j->realm);
		j->user_rc = cpm_store_user_get(s, aor, &j->user);
		for (int i = 0; j->user_rc && i < conf->server.ndomains; i++) {
			snprintf(aor, sizeof aor, "%s@%s", j->username, conf->server.domains[i]);
			j->user_rc = cpm_store_user_get(s, aor, &j->user);
		}
	}
	if (!j->user_rc && strcmp(j->user.realm, j->realm) != 0)
		j->user_rc = CPM_ENOTFOUND;
}

static void grant(struct cpm_chat__conn *c, struct auth_job *j)
{
	struct cpm_chat_relay *r = c->r;
	int64_t e = j->expires >= 0 ? j->expires : r->conf->msrp.default_expires;
	uint64_t exp = cpm_now_ms() + (uint64_t)e * 1000;
	struct cpm_msrp_uri u;
	struct cpm_chat_sess *s = NULL;
	/* a refresh: the session URI this connection already holds */
	if (cpm_msrp_uri_parse(cpm_str_from_cstr(j->us), &u) == 0 && u.session_id.len) {
		s = cpm_chat_sess_find(r->table, u.session_id, cpm_now_ms());
		if (s && (s->conn_id != c->id || strcmp(s->aor, j->user.aor) != 0))
			s = NULL;
	}
	if (s) {
		s->expires_ms = exp;
	} else {
		int rc = cpm_chat_sess_add(r->table, c->id,
					   cpm_msrp_path_first(cpm_str_from_cstr(j->client)),
					   j->user.aor, exp, &s);
		if (rc) {
			cpm_logw(c->name, "msrp AUTH %s: %s", j->user.aor,
				 rc == CPM_ELIMIT ? "too many sessions (msrp.max_sessions)"
						  : cpm_strerror(rc));
			cpm_chat__respond(c, j->tid, 403, j->client, j->us, NULL);
			return;
		}
	}
	char uri[512], extra[700];
	cpm_chat_sess_uri(r->table, s, uri, sizeof uri);
	snprintf(extra, sizeof extra, "Use-Path: %s\r\nExpires: %lld\r\n", uri, (long long)e);
	cpm_chat__respond(c, j->tid, 200, j->client, j->us, extra);
	r->st.auth_ok++;
	cpm_logn(c->name, "msrp AUTH %s: session %s for %llds", j->user.aor, s->id, (long long)e);
}

static void lookup_done(void *arg)
{
	struct auth_job *j = arg;
	struct cpm_chat_relay *r = j->r;
	r->jobs--;
	struct cpm_chat__conn *c = r->freeing ? NULL : cpm_chat__conn_find(r, j->conn_id);
	if (!c) {
		job_free(j);
		if (r->freeing && !r->jobs && !r->handles)
			cpm_chat_relay_free(r);
		return;
	}
	int rc = j->user_rc ? CPM_EAUTH
			    : cpm_core_http_verify(r->core, "AUTH", j->us,
						   cpm_str_from_cstr(j->authz), j->user.realm,
						   &j->user);
	if (rc == 0) {
		grant(c, j);
	} else if (rc == CPM_EPARSE) {
		cpm_chat__respond(c, j->tid, 400, j->client, j->us, NULL);
	} else {
		r->st.auth_failed++;
		cpm_logi(c->name, "msrp AUTH %s: %s", j->username,
			 rc == CPM_EAGAIN ? "stale nonce" : "authentication failed");
		challenge(c, j->tid, j->client, j->us,
			  j->user_rc ? default_realm(r->conf) : j->user.realm, rc == CPM_EAGAIN);
	}
	cpm_chat__schedule(c); /* its answer may have been over the bound */
	job_free(j);
}

void cpm_chat__auth(struct cpm_chat__conn *c, const struct cpm_msrp_msg *m)
{
	struct cpm_chat_relay *r = c->r;
	const struct cpm_conf *conf = r->conf;
	const char *tid = c->cur.tid, *client = c->cur.resp_to, *us = c->cur.resp_from;
	char extra[64];
	if (m->expires >= 0 && m->expires < conf->msrp.min_expires) {
		snprintf(extra, sizeof extra, "Min-Expires: %d\r\n", conf->msrp.min_expires);
		cpm_chat__respond(c, tid, 423, client, us, extra);
		return;
	}
	if (m->expires > conf->msrp.max_expires) {
		snprintf(extra, sizeof extra, "Max-Expires: %d\r\n", conf->msrp.max_expires);
		cpm_chat__respond(c, tid, 423, client, us, extra);
		return;
	}
	const struct cpm_msrp_hdr *h = cpm_msrp_msg_hdr(m, CPM_MSRP_H_AUTHORIZATION);
	if (!h) {
		challenge(c, tid, client, us, default_realm(conf), false);
		return;
	}
	struct cpm_msrp_auth a;
	struct auth_job *j = NULL;
	if (cpm_msrp_auth_parse(h->value, &a) || !cpm_str_ieq_cstr(a.scheme, "Digest") ||
	    !a.username.len || a.username.len >= sizeof j->username ||
	    a.realm.len >= sizeof j->realm || cpm_str_chr(a.username, '\0') >= 0 ||
	    cpm_str_chr(a.realm, '\0') >= 0) {
		cpm_chat__respond(c, tid, 400, client, us, NULL);
		return;
	}
	j = calloc(1, sizeof *j);
	if (!j || !(j->us = cpm_str_dup(cpm_str_from_cstr(us))) ||
	    !(j->client = cpm_str_dup(cpm_str_from_cstr(client))) ||
	    !(j->authz = cpm_str_dup(h->value))) {
		if (j)
			job_free(j);
		cpm_chat__conn_close(c, "out of memory");
		return;
	}
	j->r = r;
	j->conn_id = c->id;
	j->expires = m->expires;
	snprintf(j->tid, sizeof j->tid, "%s", tid);
	cpm_str_copy(a.username, j->username, sizeof j->username);
	cpm_str_copy(a.realm, j->realm, sizeof j->realm);
	if (cpm_store_worker_submit(cpm_core_store(r->core), lookup_work, lookup_done, j)) {
		job_free(j);
		cpm_chat__respond(c, tid, 403, client, us, NULL);
		return;
	}
	r->jobs++;
}
