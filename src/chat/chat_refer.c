/* REFER to the focus (RFC 4579 §5.5 over RFC 3515), in a participant's
 * dialog:
 *  - Refer-To: <sip:carol@example.test> — "bring carol in": 202, the focus
 *    INVITEs carol (dial-out, chat_focus.c), and the referrer hears how it
 *    goes through NOTIFYs of the implicit subscription (Event: refer,
 *    message/sipfrag: "SIP/2.0 100 Trying", then the final status line
 *    with Subscription-State: terminated);
 *  - Refer-To: <sip:carol@example.test;method=BYE> — "take carol out":
 *    the room's owner only (403 for others); carol gets a BYE.
 * The conference event package shows the new participant as dialed-out,
 * referred by the referrer. */
#include "chat/chat_int.h"

#include "core/core.h"
#include "sip/sip.h"
#include "txn/txn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct refer {
	struct cpm_chat_focus *f;
	uint64_t part_id; /* the referrer */
	uint32_t cseq;    /* of the REFER: the id of its subscription */
};

/* One NOTIFY of the refer subscription (RFC 3515 §2.4.4), final or not. */
static void notify(struct cpm_core_dlg *d, uint32_t cseq, int status, bool final)
{
	char hdrs[160], frag[96];
	snprintf(hdrs, sizeof hdrs, "Event: refer;id=%u\r\nSubscription-State: %s\r\n", cseq,
		 final ? "terminated;reason=noresource" : "active;expires=60");
	const char *reason = cpm_sip_reason(status);
	snprintf(frag, sizeof frag, "SIP/2.0 %d %s\r\n", status, reason ? reason : "");
	int rc = cpm_core_dlg_request(d, "NOTIFY", hdrs, CPM_STR("message/sipfrag;version=2.0"),
				      cpm_str_from_cstr(frag), NULL, NULL);
	if (rc)
		cpm_logi(cpm_core_dlg_call_id(d), "chat: refer NOTIFY not sent: %s",
			 cpm_strerror(rc));
}

static void referred(void *arg, int status)
{
	struct refer *r = arg;
	struct cpm_core_dlg *d = cpm_chat__focus_part_dlg(r->f, r->part_id);
	if (d) /* the referrer may have left meanwhile */
		notify(d, r->cseq, status, true);
	free(r);
}

static void reply(struct cpm_txn *st, int status, const char *why)
{
	char hdrs[300];
	snprintf(hdrs, sizeof hdrs, "Warning: 399 cpmd \"%s\"\r\n", why);
	cpm_txn_reply(st, status, NULL, NULL, why ? hdrs : NULL, CPM_STR_NULL, CPM_STR_NULL);
}

void cpm_chat__refer(struct cpm_chat_focus *f, uint64_t part_id, const char *room,
		     const char *aor, bool owner, struct cpm_core_dlg *d, struct cpm_txn *st,
		     const struct cpm_sip_msg *req)
{
	const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(req, CPM_SIP_H_REFER_TO);
	struct cpm_sip_addr a;
	struct cpm_str cur = h ? h->value : CPM_STR_NULL;
	struct cpm_sip_uri u;
	char target[256], uri[300];
	if (!h || cpm_sip_addr_next(&cur, &a) != 1 || cpm_sip_uri_parse(a.uri, &u) ||
	    (u.scheme != CPM_SIP_SCHEME_SIP && u.scheme != CPM_SIP_SCHEME_SIPS) || !u.user.len ||
	    cpm_sip_uri_aor(&u, target, sizeof target) < 0) {
		reply(st, 400, "Refer-To: a sip: user URI is needed");
		return;
	}
	snprintf(uri, sizeof uri, "sip:%s", target);
	struct cpm_str method = CPM_STR("INVITE");
	cpm_sip_param_find(u.params, "method", &method);
	if (cpm_str_ieq_cstr(method, "BYE")) {
		/* RFC 4579 §5.5: removing a participant; ours: the owner's right */
		if (!owner) {
			cpm_logi(aor, "chat: REFER BYE of %s in %s: not the owner", uri, room);
			reply(st, 403, "only the room's owner removes participants");
			return;
		}
		cpm_txn_reply(st, 202, NULL, NULL, NULL, CPM_STR_NULL, CPM_STR_NULL);
		int rc = cpm_chat__focus_kick(f, room, uri, "removed by the owner (REFER)");
		cpm_logi(aor, "chat: REFER BYE of %s in %s: %s", uri, room,
			 rc ? cpm_strerror(rc) : "removed");
		notify(d, req->cseq.num, rc ? 404 : 200, true);
		return;
	}
	if (!cpm_str_ieq_cstr(method, "INVITE")) {
		reply(st, 501, "Refer-To method: INVITE or BYE");
		return;
	}
	struct refer *r = calloc(1, sizeof *r);
	if (!r) {
		reply(st, 500, "out of memory");
		return;
	}
	r->f = f;
	r->part_id = part_id;
	r->cseq = req->cseq.num;
	/* RFC 3515 §2.4.4: accepted, then the first NOTIFY at once */
	cpm_txn_reply(st, 202, NULL, NULL, NULL, CPM_STR_NULL, CPM_STR_NULL);
	notify(d, r->cseq, 100, false);
	int rc = cpm_chat__focus_dial(f, room, uri, aor, referred, r);
	cpm_logi(aor, "chat: REFER %s into %s: %s", uri, room, rc ? cpm_strerror(rc) : "inviting");
	if (rc) {
		notify(d, r->cseq,
		       rc == CPM_EEXIST	    ? 200 /* already in */
		       : rc == CPM_ELIMIT   ? 486
		       : rc == CPM_ENOTFOUND ? 480 /* no device registered */
					    : 500,
		       true);
		free(r);
	}
}
