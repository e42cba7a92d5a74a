/* chat_b2b_sdp.c — the pure half of the B2BUA: whether an offer is anchored
 * (seed 001's m=messaging line, a=cpm-anchor, policy) and the rewriting of
 * a description so that a leg's messages go to the server (seed 001 Figs.
 * 5/6: "it is replaced the initial IMS-A address and port by the MMSC
 * address and the port").  No I/O, no globals. */
#include "chat/chat.h"

#include <stdlib.h>
#include <string.h>

int cpm_chat_anchor_parse(const char *s, enum cpm_chat_anchor *out)
{
	if (strcmp(s, "never") == 0)
		*out = CPM_CHAT_ANCHOR_NEVER;
	else if (strcmp(s, "requested") == 0)
		*out = CPM_CHAT_ANCHOR_REQUESTED;
	else if (strcmp(s, "always") == 0)
		*out = CPM_CHAT_ANCHOR_ALWAYS;
	else
		return CPM_EINVAL;
	return 0;
}

/* The mode an a=cpm-anchor value names: instant when empty. */
static int anchor_mode(const struct cpm_sdp_attr *a, bool *sf)
{
	struct cpm_str v = cpm_str_trim(a->value);
	if (!a->has_value || !v.len || cpm_str_ieq_cstr(v, "instant")) {
		*sf = false;
		return 0;
	}
	if (cpm_str_ieq_cstr(v, "S&F")) {
		*sf = true;
		return 0;
	}
	return CPM_EPARSE;
}

int cpm_chat_b2b_decide(const struct cpm_sdp *offer, enum cpm_chat_anchor policy,
			struct cpm_chat_b2b_plan *out)
{
	memset(out, 0, sizeof *out);
	out->media = -1;
	if (policy == CPM_CHAT_ANCHOR_NEVER)
		return 0;
	bool imtp_only = false;
	for (unsigned i = 0; i < offer->nmedia; i++) {
		const struct cpm_sdp_media *m = &offer->media[i];
		if (m->port == 0)
			continue; /* refused or disabled (RFC 3264 §8.2) */
		struct cpm_sdp_messaging mm;
		int rc = cpm_sdp_media_messaging(m, &mm);
		if (rc == 0) {
			if (mm.message == CPM_SDP_MODE_NONE) {
				imtp_only = true;
				continue;
			}
			out->transport = CPM_CHAT_B2B_MESSAGE;
			out->sf = mm.message == CPM_SDP_MODE_SF || mm.imtp == CPM_SDP_MODE_SF;
			out->requested = true;
			out->media = (int)i;
			return 1;
		}
		if (rc != CPM_ENOTFOUND)
			return rc;
	}
	for (unsigned i = 0; i < offer->nmedia; i++) {
		const struct cpm_sdp_media *m = &offer->media[i];
		if (m->port == 0 || !cpm_sdp_media_is_msrp(m))
			continue;
		int a = cpm_sdp_attr_find(offer, (int)i, CPM_CHAT_ANCHOR_ATTR, -1);
		if (a < 0)
			a = cpm_sdp_attr_find(offer, -1, CPM_CHAT_ANCHOR_ATTR, -1);
		if (a >= 0) {
			if (anchor_mode(&offer->attrs[a], &out->sf))
				return CPM_EPARSE;
			out->requested = true;
		} else if (policy != CPM_CHAT_ANCHOR_ALWAYS) {
			continue;
		}
		out->transport = CPM_CHAT_B2B_MSRP;
		out->media = (int)i;
		return 1;
	}
	return imtp_only ? CPM_EUNSUPP : 0;
}

/* The "MESSAGE/<mode>" token of an m=messaging proto. */
static struct cpm_str message_token(struct cpm_str proto)
{
	struct cpm_str cur = proto, item;
	while (cpm_sdp_list_next(&cur, &item) == 1)
		if (cpm_str_istarts(item, "MESSAGE/"))
			return item;
	return proto;
}

static void point_conn(struct cpm_sdp_conn *c, struct cpm_str host, struct cpm_str type)
{
	c->nettype = CPM_STR("IN");
	c->addrtype = type;
	c->address = host;
	c->suffix = CPM_STR("");
}

int cpm_chat_b2b_rewrite(struct cpm_str sdp, const struct cpm_chat_b2b_plan *plan,
			 const struct cpm_chat_b2b_rw *rw, struct cpm_buf *out)
{
	struct cpm_sdp *d = malloc(sizeof *d);
	if (!d)
		return CPM_ENOMEM;
	int rc = cpm_sdp_parse(d, sdp.s, sdp.len, NULL);
	if (rc)
		goto done;
	rc = CPM_EINVAL;
	if (plan->media < 0 || (unsigned)plan->media >= d->nmedia)
		goto done;
	struct cpm_str host = cpm_str_from_cstr(rw->host);
	struct cpm_str type = strchr(rw->host, ':') ? CPM_STR("IP6") : CPM_STR("IP4");
	d->origin.address = host;
	d->origin.addrtype = type;
	d->origin.nettype = CPM_STR("IN");
	/* one session-level c= for every section (media-level ones would name
	 * the other side's addresses) */
	d->has_conn = true;
	point_conn(&d->conn, host, type);
	for (unsigned i = 0; i < d->nmedia; i++) {
		struct cpm_sdp_media *m = &d->media[i];
		m->has_conn = false;
		if ((int)i != plan->media) {
			m->port = 0; /* refused: the server anchors one stream */
			continue;
		}
		m->port = rw->port;
		m->nports = 0;
		if (plan->transport == CPM_CHAT_B2B_MESSAGE)
			m->proto = message_token(m->proto);
	}
	/* the extra media-level c= lines go too */
	for (unsigned i = 0; i < d->nlines;) {
		if (d->lines[i].type == 'c') {
			memmove(&d->lines[i], &d->lines[i + 1],
				(d->nlines - i - 1) * sizeof d->lines[0]);
			d->nlines--;
		} else {
			i++;
		}
	}
	int idx;
	while ((idx = cpm_sdp_attr_find(d, -1, CPM_CHAT_ANCHOR_ATTR, -1)) >= 0 ||
	       (idx = cpm_sdp_attr_find(d, plan->media, CPM_CHAT_ANCHOR_ATTR, -1)) >= 0)
		cpm_sdp_attr_remove(d, (unsigned)idx);
	if (plan->transport == CPM_CHAT_B2B_MSRP) {
		static const char *const mine[] = { "path", "setup" };
		for (unsigned k = 0; k < 2; k++) {
			if (k == 1 && !rw->setup)
				continue;
			while ((idx = cpm_sdp_attr_find(d, plan->media, mine[k], -1)) >= 0 ||
			       (idx = cpm_sdp_attr_find(d, -1, mine[k], -1)) >= 0)
				cpm_sdp_attr_remove(d, (unsigned)idx);
		}
		rc = cpm_sdp_attr_add(d, plan->media, CPM_STR("path"),
				      cpm_str_from_cstr(rw->path ? rw->path : ""), true);
		if (rc >= 0 && rw->setup)
			rc = cpm_sdp_attr_add(d, plan->media, CPM_STR("setup"),
					      cpm_str_from_cstr(rw->setup), true);
		if (rc < 0)
			goto done;
	}
	cpm_buf_reset(out);
	rc = cpm_sdp_print(out, d);
done:
	free(d);
	return rc;
}
