/* Ad-hoc conferences (RFC 5366 over RFC 4579; seed 003 Figs. 10-11, seed
 * 000's "one user invites two others at once").
 *
 * An INVITE to the conference factory (chat.factory@DOMAIN) whose body is
 * multipart/mixed with the SDP offer and a URI list (RFC 4826
 * resource-lists, "Content-Disposition: recipient-list"; read by
 * src/im/im_list.c) creates a room adhoc-<random>@DOMAIN in the store
 * (CPM_STORE_ROOM_F_ADHOC, members only: the creator owns it, the listed
 * users are its members).  The focus answers the creator as for any room
 * (Contact: the new room's URI ;isfocus, RFC 4579 §5.2), then INVITEs each
 * listed user; the conference event package reports who is being called,
 * who accepted and who declined.  When the last participant leaves, the
 * room is deleted. */
#include "chat/chat_int.h"

#include "core/core.h"
#include "im/im.h"
#include "sip/sip.h"
#include "store/store.h"
#include "txn/txn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool cpm_chat__adhoc_is_factory(const struct cpm_conf *conf, const char *aor)
{
	size_t n = strlen(conf->chat.factory);
	return n && strncasecmp(aor, conf->chat.factory, n) == 0 && aor[n] == '@';
}

static void reply(struct cpm_txn *st, int status, const char *why)
{
	char hdrs[300], tag[17];
	snprintf(hdrs, sizeof hdrs, "Warning: 399 cpmd \"%s\"\r\n", why);
	cpm_rand_hex(tag, 8);
	cpm_txn_reply(st, status, NULL, tag, hdrs, CPM_STR_NULL, CPM_STR_NULL);
}

struct adhoc_job {
	struct cpm_chat_focus *f;
	struct cpm_txn *st;
	char creator[256];
	struct cpm_store_room room;
	char (*members)[256];
	size_t n;
	int rc;
};

static void job_free(struct adhoc_job *j)
{
	free(j->members);
	free(j);
}

/* Worker: the room, then its members (a listed AoR the store refuses is
 * left out of the members; it is still invited). */
static void adhoc_work(struct cpm_store *s, void *arg)
{
	struct adhoc_job *j = arg;
	char name[sizeof j->room.uri];
	snprintf(name, sizeof name, "%s", j->room.uri);
	for (int tries = 0; tries < 3; tries++) {
		j->rc = cpm_store_room_put(s, &j->room);
		if (j->rc != CPM_EEXIST)
			break;
		/* taken (by chance): another random name */
		char rnd[13];
		cpm_rand_hex(rnd, 6);
		const char *at = strchr(name, '@');
		snprintf(j->room.uri, sizeof j->room.uri, "adhoc-%s%s", rnd, at ? at : "");
	}
	for (size_t i = 0; j->rc == 0 && i < j->n; i++) {
		struct cpm_store_room_member m = { .role = CPM_STORE_ROOM_MEMBER };
		snprintf(m.room, sizeof m.room, "%s", j->room.uri);
		snprintf(m.aor, sizeof m.aor, "%s", j->members[i]);
		cpm_store_room_member_put(s, &m);
	}
}

static void adhoc_gone(void *owner, struct cpm_txn *t)
{
	struct adhoc_job *j = owner;
	j->st = NULL;
}

static void adhoc_done(void *arg)
{
	struct adhoc_job *j = arg;
	struct cpm_txn *st = j->st;
	if (!cpm_chat__focus_unhold(j->f)) { /* the server stops */
		if (st) {
			cpm_txn_set_owner(st, NULL, NULL);
			reply(st, 503, "the server stops");
		}
		job_free(j);
		return;
	}
	if (!st) { /* the creator gave up meanwhile (CANCEL) */
		if (j->rc == 0)
			cpm_chat__adhoc_over(cpm_chat__focus_core(j->f), j->room.uri);
		job_free(j);
		return;
	}
	cpm_txn_set_owner(st, NULL, NULL);
	if (j->rc) {
		cpm_logw(j->creator, "chat: ad-hoc room not created: %s", cpm_strerror(j->rc));
		reply(st, 500, "the room could not be stored");
		job_free(j);
		return;
	}
	const struct cpm_sip_msg *req = cpm_txn_req(st);
	struct cpm_im_list l;
	if (cpm_im_list_parse(req, (unsigned)j->n + 1, &l, NULL)) { /* parsed before: cannot */
		reply(st, 500, "URI list");
		job_free(j);
		return;
	}
	const char **aors = calloc(j->n ? j->n : 1, sizeof *aors);
	for (size_t i = 0; aors && i < j->n; i++)
		aors[i] = j->members[i];
	cpm_logi(j->creator, "chat: ad-hoc room %s with %zu invitee(s)", j->room.uri, j->n);
	bool in = aors && cpm_chat__focus_adhoc_join(j->f, &j->room, aors, j->n, st, req,
						     j->creator, l.payload);
	if (!aors)
		reply(st, 500, "out of memory");
	cpm_im_list_free(&l);
	free(aors);
	if (!in) /* the creator was refused (SDP...): no conference */
		cpm_chat__adhoc_over(cpm_chat__focus_core(j->f), j->room.uri);
	/* RFC 5366 §5: the focus invites each listed user once the creator
	 * is in (refused: the empty room goes at the next sweep) */
	for (size_t i = 0; in && i < j->n; i++) {
		char uri[300];
		snprintf(uri, sizeof uri, "sip:%s", j->members[i]);
		int rc = cpm_chat__focus_dial(j->f, j->room.uri, uri, NULL, NULL, NULL);
		if (rc)
			cpm_logi(uri, "chat: %s not invited to %s: %s", uri, j->room.uri,
				 cpm_strerror(rc));
	}
	job_free(j);
}

void cpm_chat__adhoc_invite(struct cpm_chat_focus *f, struct cpm_txn *st,
			    const struct cpm_sip_msg *req, const char *creator)
{
	const struct cpm_conf *conf = cpm_core_conf(cpm_chat__focus_core(f));
	struct cpm_im_list l;
	char err[CPM_IM_ERR_MAX] = "";
	int rc = cpm_im_list_parse(req, (unsigned)conf->chat.max_participants, &l, err);
	if (rc) {
		/* RFC 5366 §4: the list is what makes it a conference */
		reply(st, rc == CPM_ELIMIT ? 413 : rc == CPM_EUNSUPP ? 415 : 400,
		      err[0] ? err : "a URI list is needed");
		return;
	}
	struct cpm_str mime, params;
	if (cpm_sip_ctype_parse(l.payload_ctype, &mime, &params) ||
	    !cpm_str_ieq_cstr(mime, "application/sdp")) {
		cpm_im_list_free(&l);
		reply(st, 488, "the body's other part is an SDP offer with m=message TCP/MSRP");
		return;
	}
	struct adhoc_job *j = calloc(1, sizeof *j);
	if (j)
		j->members = calloc(l.n, sizeof *j->members);
	if (!j || !j->members) {
		cpm_im_list_free(&l);
		if (j)
			job_free(j);
		reply(st, 500, "out of memory");
		return;
	}
	j->f = f;
	j->st = st;
	snprintf(j->creator, sizeof j->creator, "%s", creator);
	for (unsigned i = 0; i < l.n; i++)
		if (strcasecmp(l.v[i].aor, creator) != 0) /* the creator is in already */
			snprintf(j->members[j->n++], sizeof *j->members, "%s", l.v[i].aor);
	cpm_im_list_free(&l);
	/* the room is in the factory's domain */
	char rnd[13], fac[256] = "";
	cpm_rand_hex(rnd, 6);
	struct cpm_sip_uri u;
	if (cpm_sip_uri_parse(req->ruri, &u) || cpm_sip_uri_aor(&u, fac, sizeof fac) < 0)
		snprintf(fac, sizeof fac, "%s", creator);
	const char *domain = strchr(fac, '@');
	snprintf(j->room.uri, sizeof j->room.uri, "adhoc-%s%s", rnd, domain ? domain : "");
	snprintf(j->room.owner, sizeof j->room.owner, "%s", creator);
	snprintf(j->room.subject, sizeof j->room.subject, "ad-hoc conference of %s", creator);
	j->room.flags = CPM_STORE_ROOM_F_ADHOC | CPM_STORE_ROOM_F_MEMBERS_ONLY;
	j->room.history = 0;
	cpm_txn_set_owner(st, j, adhoc_gone);
	cpm_chat__focus_hold(f);
	if (cpm_store_worker_submit(cpm_core_store(cpm_chat__focus_core(f)), adhoc_work,
				    adhoc_done, j)) {
		cpm_chat__focus_unhold(f);
		cpm_txn_set_owner(st, NULL, NULL);
		job_free(j);
		reply(st, 500, "the store is unavailable");
	}
}

/* ------------------------------------------------------------- the end */

struct over_job {
	char room[256];
	int rc;
};

static void over_work(struct cpm_store *s, void *arg)
{
	struct over_job *j = arg;
	j->rc = cpm_store_room_del(s, j->room);
}

static void over_done(void *arg)
{
	struct over_job *j = arg;
	if (j->rc && j->rc != CPM_ENOTFOUND)
		cpm_logw(j->room, "chat: ad-hoc room %s not deleted: %s", j->room, cpm_strerror(j->rc));
	else
		cpm_logi(j->room, "chat: ad-hoc room %s is over", j->room);
	free(j);
}

void cpm_chat__adhoc_over(struct cpm_core *core, const char *room)
{
	struct over_job *j = calloc(1, sizeof *j);
	if (!j)
		return;
	snprintf(j->room, sizeof j->room, "%s", room);
	if (cpm_store_worker_submit(cpm_core_store(core), over_work, over_done, j))
		free(j);
}
