/* The decision table of issue 3 ("What decides a message's fate"), applied
 * once live delivery failed or there is no binding.  One rule per row of
 * docs/STORE_AND_FORWARD.md, evaluated top-down; the first that matches
 * decides.  Keep the two in step: tests/unit/im/test_im_rules.c has one
 * test per row. */
#include "im/im.h"

#include <string.h>

static bool is_store_request(enum cpm_im_request r)
{
	return r == CPM_IM_REQ_DEFERRED || r == CPM_IM_REQ_STORE ||
	       r == CPM_IM_REQ_STORE_FWD;
}

static void fail(struct cpm_im_decision *out, enum cpm_im_fate fate,
		 enum cpm_im_rule rule, int status, const char *reason)
{
	out->fate = fate;
	out->rule = rule;
	out->status = status;
	out->reason = reason;
}

/* Report flags of a message the server takes charge of (stored or
 * forwarded).  Who asked: the store command notify (R27, R48), the profile
 * notify (R111), or CPIM imdn.Disposition-Notification (RFC 5438),
 * each asking for its own kinds only: an IMDN is sent only when requested
 * (RFC 5438).  A report is never asked about a report: IMDN bodies
 * get none (no report loops). */
static void reports(const struct cpm_im_indicators *ind,
		    const struct cpm_im_profile *profile, bool stored,
		    struct cpm_im_decision *out)
{
	if (ind->kind == CPM_IM_KIND_IMDN)
		return;
	bool seed = ind->notify || profile->mode == CPM_IM_SF_NOTIFY;
	out->report_stored = stored && (seed || (ind->seen & CPM_IM_SEEN_IMDN_PROCESSING));
	out->report_delivered = seed || (ind->seen & CPM_IM_SEEN_IMDN_POSITIVE);
	out->report_failed = seed || (ind->seen & CPM_IM_SEEN_IMDN_NEGATIVE);
}

/* Seconds to keep: the sender's Expires (RFC 3428; issue 3 "Expiry")
 * bounded by the class lifetime (R33), or the server default when the
 * class has none; -1 when nothing bounds it. */
static int64_t expiry(const struct cpm_im_class *cls,
		      const struct cpm_im_limits *limits, int64_t sender)
{
	int64_t life = cls->max_lifetime > 0 ? cls->max_lifetime
		       : limits->default_lifetime > 0 ? limits->default_lifetime
						      : -1;
	if (sender > 0 && (life < 0 || sender < life))
		return sender;
	return life;
}

int cpm_im_decide(const struct cpm_im_indicators *ind,
		  const struct cpm_im_profile *profile,
		  const struct cpm_im_class *cls,
		  const struct cpm_im_usage *current, size_t body_len,
		  const struct cpm_im_limits *limits, int64_t sender_expires,
		  struct cpm_im_decision *out)
{
	if (!ind || !profile || !current || !limits || !out)
		return CPM_EINVAL;
	struct cpm_im_class defcls;
	if (!cls) {
		cpm_im_class_default(&defcls);
		cls = &defcls;
	}
	memset(out, 0, sizeof *out);
	out->expires = -1;
	bool req = is_store_request(ind->req);

	/* S1. An INVITE or INFO is a message only with a payload and a store
	 * indicator (seed 002 claims 6–7; issue 3 "Durability": "with a store
	 * indicator"); otherwise it is a call or an Info Package and the
	 * proxy's answer stands. */
	if ((ind->method == CPM_SIP_INVITE || ind->method == CPM_SIP_INFO) &&
	    (ind->kind == CPM_IM_KIND_SESSION || !req)) {
		fail(out, CPM_IM_DELIVER_ONLY, CPM_IM_RULE_SESSION, 480,
		     "Temporarily Unavailable");
		return 0;
	}
	/* S2. Content the recipient does not accept: 415 with Accept (R29,
	 * seed 002 Fig. 1 step 4; RFC 3261 §21.4.13), before anything else,
	 * as on the live path, so that the answer does not depend on
	 * reachability. */
	if (!cpm_im_accepts(profile, ind->payload_type)) {
		fail(out, CPM_IM_REJECT, CPM_IM_RULE_NOT_ACCEPTED, 415,
		     "Unsupported Media Type");
		out->accept_hdr = true;
		return 0;
	}
	/* S3. isComposing is relayed live and never stored (RFC 3994; R20;
	 * issue 3 "Durability"): the state is stale by the time anybody
	 * could read it.  Whatever the sender asked. */
	if (ind->kind == CPM_IM_KIND_ISCOMPOSING) {
		fail(out, CPM_IM_DELIVER_ONLY, CPM_IM_RULE_ISCOMPOSING, 480,
		     "Temporarily Unavailable");
		out->never_store = true;
		return 0;
	}
	/* S4. The sender's instant / do-not-store (R15, R16, R26; issue 3
	 * §1: "deliver now or fail, never store"; "the sender's instant
	 * always wins over a profile that would store"), also over a forward
	 * profile: an e-mail box is a store. */
	if (ind->req == CPM_IM_REQ_INSTANT) {
		fail(out, CPM_IM_DELIVER_ONLY, CPM_IM_RULE_INSTANT, 480,
		     "Temporarily Unavailable");
		return 0;
	}
	/* S5. Expires: 0 — stale at once (RFC 3428 Expires): nothing to keep. */
	if (sender_expires == 0) {
		fail(out, CPM_IM_DELIVER_ONLY, CPM_IM_RULE_STALE, 480,
		     "Temporarily Unavailable");
		return 0;
	}
	/* S6. Profile forward:<uri> (R35, R111 "to e-mail"; seed 002 Fig. 1
	 * user C: any message for an unreachable user goes there).  Needs no
	 * storage here, so class storage and quotas do not apply. */
	if (profile->mode == CPM_IM_SF_FORWARD) {
		fail(out, CPM_IM_FORWARD, CPM_IM_RULE_FORWARD, 0, NULL);
		out->target = profile->target;
		reports(ind, profile, false, out);
		return 0;
	}
	/* S7/S8. Storage forbidden by the profile (R111 "NO", R41): a store
	 * request becomes 480 (issue 3 §2); without one, the live failure
	 * stands. */
	if (profile->mode == CPM_IM_SF_NO) {
		if (req)
			fail(out, CPM_IM_REJECT, CPM_IM_RULE_PROFILE_NO_REQ, 480,
			     "Temporarily Unavailable (Recipient Refuses Storage)");
		else
			fail(out, CPM_IM_DELIVER_ONLY, CPM_IM_RULE_PROFILE_NO, 480,
			     "Temporarily Unavailable");
		return 0;
	}
	/* S9/S10. Storage not part of the subscriber's class (R42). */
	if (!cls->storage) {
		if (req)
			fail(out, CPM_IM_REJECT, CPM_IM_RULE_CLASS_OFF_REQ, 480,
			     "Temporarily Unavailable (Storage Not Subscribed)");
		else
			fail(out, CPM_IM_DELIVER_ONLY, CPM_IM_RULE_CLASS_OFF, 480,
			     "Temporarily Unavailable");
		return 0;
	}
	/* S11. A body larger than the whole byte quota can never be stored:
	 * 413, permanent (RFC 3261 §21.4.11), not a quota answer. */
	if (cls->max_bytes && body_len > cls->max_bytes) {
		fail(out, CPM_IM_REJECT, CPM_IM_RULE_TOO_BIG, 413,
		     "Request Entity Too Large");
		return 0;
	}
	/* S12. Quotas (issue 3 "Expiry": "486/507-class answers, never silent
	 * loss").  A full count is 486 Busy Here: the recipient's box takes
	 * no more messages now, the sender may retry later (RFC 3261
	 * §21.4.24), as an SMS "memory capacity exceeded".  A full byte quota
	 * is 507 Insufficient Storage: the status the issue names, an HTTP
	 * (RFC 4918 §11.5) code outside the SIP registry, which a UAC that
	 * does not know it treats as 500 (RFC 3261 §8.1.3.2); it tells an
	 * operator "storage", not "busy".  limits.quota_bytes_status can make
	 * it 486 too.  Either way the message is refused, never dropped. */
	if (cls->max_messages && current->count >= cls->max_messages) {
		fail(out, CPM_IM_REJECT, CPM_IM_RULE_QUOTA_COUNT, 486,
		     "Busy Here (Mailbox Full)");
		return 0;
	}
	if (cls->max_bytes && current->bytes > cls->max_bytes - body_len) {
		int st = limits->quota_bytes_status >= 400 && limits->quota_bytes_status <= 699
				 ? limits->quota_bytes_status : 507;
		fail(out, CPM_IM_REJECT, CPM_IM_RULE_QUOTA_BYTES, st,
		     st == 486 ? "Busy Here (Mailbox Full)" : "Insufficient Storage");
		return 0;
	}
	/* S13–S15. Store: 202 once committed (RFC 3428 allows 202 for an
	 * intermediary; issue 3 "Durability"). */
	out->status = 202;
	out->reason = "Accepted";
	out->expires = expiry(cls, limits, sender_expires);
	out->pull = ind->req == CPM_IM_REQ_STORE; /* R30 */
	reports(ind, profile, true, out);
	if (ind->req == CPM_IM_REQ_DEFERRED) {
		/* S13. store&fwd / S&F: deferred retrieval (R23, R36, R37) */
		out->fate = CPM_IM_STORE_DEFERRED;
		out->rule = CPM_IM_RULE_DEFERRED_REQ;
	} else if (limits->max_inline_size && body_len > limits->max_inline_size) {
		/* S14. too large to push in a MESSAGE (im.max_inline_size) */
		out->fate = CPM_IM_STORE_DEFERRED;
		out->rule = CPM_IM_RULE_DEFERRED_SIZE;
	} else {
		/* S15. store, push when reachable (R28, R31; profile yes/notify,
		 * server default yes) */
		out->fate = CPM_IM_STORE;
		out->rule = CPM_IM_RULE_STORE;
	}
	return 0;
}

const char *cpm_im_fate_name(enum cpm_im_fate f)
{
	switch (f) {
	case CPM_IM_DELIVER_ONLY: return "deliver-only";
	case CPM_IM_STORE: return "store";
	case CPM_IM_STORE_DEFERRED: return "store-deferred";
	case CPM_IM_FORWARD: return "forward";
	case CPM_IM_REJECT: return "reject";
	}
	return "?";
}

const char *cpm_im_rule_name(enum cpm_im_rule r)
{
	switch (r) {
	case CPM_IM_RULE_SESSION: return "S1 session";
	case CPM_IM_RULE_NOT_ACCEPTED: return "S2 not-accepted";
	case CPM_IM_RULE_ISCOMPOSING: return "S3 iscomposing";
	case CPM_IM_RULE_INSTANT: return "S4 instant";
	case CPM_IM_RULE_STALE: return "S5 stale";
	case CPM_IM_RULE_FORWARD: return "S6 forward";
	case CPM_IM_RULE_PROFILE_NO: return "S7 profile-no";
	case CPM_IM_RULE_PROFILE_NO_REQ: return "S8 profile-no-request";
	case CPM_IM_RULE_CLASS_OFF: return "S9 class-off";
	case CPM_IM_RULE_CLASS_OFF_REQ: return "S10 class-off-request";
	case CPM_IM_RULE_TOO_BIG: return "S11 too-big";
	case CPM_IM_RULE_QUOTA_COUNT: return "S12a quota-count";
	case CPM_IM_RULE_QUOTA_BYTES: return "S12b quota-bytes";
	case CPM_IM_RULE_DEFERRED_REQ: return "S13 deferred-request";
	case CPM_IM_RULE_DEFERRED_SIZE: return "S14 deferred-size";
	case CPM_IM_RULE_STORE: return "S15 store";
	}
	return "?";
}
