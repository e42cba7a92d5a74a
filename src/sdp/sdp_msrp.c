/* Typed views on a parsed description: attribute lookup and editing, the
 * MSRP attributes of RFC 4975 §8 (path, accept-types,
 * accept-wrapped-types, max-size), RFC 6135 §4 (setup, connection), RFC
 * 6714 §3 (msrp-cema), the direction attributes (RFC 8866 §6.7), and the
 * seed's m=messaging transports. */
#include "sdp/sdp_int.h"

#include <string.h>

int cpm_sdp_list_next(struct cpm_str *cursor, struct cpm_str *item)
{
	const char *p = cursor->s, *end = p ? p + cursor->len : NULL;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	const char *s = p;
	while (p < end && *p != ' ' && *p != '\t')
		p++;
	*cursor = (struct cpm_str){ p, (size_t)(end - p) };
	if (p == s)
		return 0;
	*item = (struct cpm_str){ s, (size_t)(p - s) };
	return 1;
}

int cpm_sdp_attr_find(const struct cpm_sdp *d, int media, const char *name,
		      int after)
{
	struct cpm_str n = cpm_str_from_cstr(name);
	for (unsigned i = after < 0 ? 0 : (unsigned)after + 1; i < d->nattrs; i++)
		if (d->attrs[i].media == media && cpm_str_eq(d->attrs[i].name, n))
			return (int)i;
	return -1;
}

int cpm_sdp_attr_add(struct cpm_sdp *d, int media, struct cpm_str name,
		     struct cpm_str value, bool has_value)
{
	if (media < -1 || media >= (int)d->nmedia)
		return CPM_EINVAL;
	if (d->nattrs >= CPM_SDP_ATTRS_CAP)
		return CPM_ELIMIT;
	d->attrs[d->nattrs] = (struct cpm_sdp_attr){ media, name, value, has_value };
	return (int)d->nattrs++;
}

void cpm_sdp_attr_remove(struct cpm_sdp *d, unsigned idx)
{
	if (idx >= d->nattrs)
		return;
	memmove(&d->attrs[idx], &d->attrs[idx + 1],
		(d->nattrs - idx - 1) * sizeof d->attrs[0]);
	d->nattrs--;
}

const struct cpm_sdp_conn *cpm_sdp_media_conn(const struct cpm_sdp *d, unsigned i)
{
	if (i >= d->nmedia)
		return NULL;
	if (d->media[i].has_conn)
		return &d->media[i].conn;
	return d->has_conn ? &d->conn : NULL;
}

bool cpm_sdp_media_is_msrp(const struct cpm_sdp_media *m)
{
	return cpm_str_ieq_cstr(m->media, "message") &&
	       (cpm_str_ieq_cstr(m->proto, "TCP/MSRP") ||
		cpm_str_ieq_cstr(m->proto, "TCP/TLS/MSRP"));
}

/* ------------------------------------------------------------------ MSRP */

struct get {
	const struct cpm_sdp *d;
	int mi;
	const char *err; /* the first problem found */
};

static void note(struct get *g, const char *why)
{
	if (!g->err)
		g->err = why;
}

/* a=<name> of the media level, else of the session level; twice at the
 * level where it is found is an error (dup). */
static const struct cpm_sdp_attr *pick(struct get *g, const char *name, const char *dup)
{
	int level = g->mi;
	for (;;) {
		int a = cpm_sdp_attr_find(g->d, level, name, -1);
		if (a >= 0) {
			if (cpm_sdp_attr_find(g->d, level, name, a) >= 0)
				note(g, dup);
			return &g->d->attrs[a];
		}
		if (level == -1)
			return NULL;
		level = -1;
	}
}

/* path-list = MSRP-URI *(SP MSRP-URI) (RFC 4975 §8.2, §9) */
static bool valid_path(struct cpm_str v)
{
	struct cpm_str cur = v, u;
	int n = 0;
	while (cpm_sdp_list_next(&cur, &u) == 1) {
		size_t pre = cpm_str_istarts(u, "msrps://") ? 8 :
			     cpm_str_istarts(u, "msrp://") ? 7 : 0;
		if (!pre || u.len == pre)
			return false;
		n++;
	}
	return n > 0;
}

/* format-list = format-entry *(SP format-entry);
 * format-entry = "*" / type "/" subtype / type "/" "*" (RFC 4975 §8.6, §9) */
static bool valid_types(struct cpm_str v)
{
	struct cpm_str cur = v, t;
	int n = 0;
	while (cpm_sdp_list_next(&cur, &t) == 1) {
		n++;
		if (t.len == 1 && t.s[0] == '*')
			continue;
		long sl = cpm_str_chr(t, '/');
		if (sl <= 0)
			return false;
		struct cpm_str ty = { t.s, (size_t)sl };
		struct cpm_str sub = { t.s + sl + 1, t.len - (size_t)sl - 1 };
		if (!cpm_sdp__is_token_str(ty) || !cpm_sdp__is_token_str(sub))
			return false;
	}
	return n > 0;
}

static void get_setup(struct get *g, struct cpm_sdp_msrp *out)
{
	const struct cpm_sdp_attr *a = pick(g, "setup", "Duplicate a=setup");
	if (a) {
		static const char *const names[] = { "active", "passive", "actpass", "holdconn" };
		for (unsigned k = 0; k < 4; k++)
			if (cpm_str_ieq_cstr(a->value, names[k]))
				out->setup = (enum cpm_sdp_setup)(k + 1);
		if (!out->setup)
			note(g, "Bad a=setup");
	}
	a = pick(g, "connection", "Duplicate a=connection");
	if (a) {
		if (cpm_str_ieq_cstr(a->value, "new"))
			out->connection = CPM_SDP_CONNECTION_NEW;
		else if (cpm_str_ieq_cstr(a->value, "existing"))
			out->connection = CPM_SDP_CONNECTION_EXISTING;
		else
			note(g, "Bad a=connection");
	}
}

/* sendrecv/sendonly/recvonly/inactive: the media level overrides the
 * session level; two different ones at one level conflict. */
static void get_dir(struct get *g, struct cpm_sdp_msrp *out)
{
	static const char *const names[] = { "sendrecv", "sendonly", "recvonly", "inactive" };
	for (int level = g->mi;; level = -1) {
		int found = -1;
		for (unsigned i = 0; i < g->d->nattrs; i++) {
			const struct cpm_sdp_attr *a = &g->d->attrs[i];
			if (a->media != level)
				continue;
			for (int k = 0; k < 4; k++) {
				if (!cpm_str_eq_cstr(a->name, names[k]))
					continue;
				if (found >= 0 && found != k)
					note(g, "Conflicting direction attributes");
				else
					found = k;
			}
		}
		if (found >= 0) {
			out->dir = (enum cpm_sdp_dir)found;
			return;
		}
		if (level == -1)
			return;
	}
}

int cpm_sdp_msrp_get(const struct cpm_sdp *d, unsigned i, struct cpm_sdp_msrp *out,
		     const char **why)
{
	memset(out, 0, sizeof *out);
	if (why)
		*why = NULL;
	if (i >= d->nmedia)
		return CPM_EINVAL;
	struct get g = { d, (int)i, NULL };
	const struct cpm_sdp_attr *a = pick(&g, "path", "Duplicate a=path");
	if (a) {
		out->path = a->value;
		if (!valid_path(a->value))
			note(&g, "Bad a=path");
	}
	a = pick(&g, "accept-types", "Duplicate a=accept-types");
	if (a) {
		out->accept_types = a->value;
		if (!valid_types(a->value))
			note(&g, "Bad a=accept-types");
	}
	a = pick(&g, "accept-wrapped-types", "Duplicate a=accept-wrapped-types");
	if (a) {
		out->accept_wrapped_types = a->value;
		if (!valid_types(a->value))
			note(&g, "Bad a=accept-wrapped-types");
	}
	a = pick(&g, "max-size", "Duplicate a=max-size");
	if (a) {
		if (cpm_str_to_u64(a->value, UINT64_MAX, &out->max_size))
			note(&g, "Bad a=max-size");
		else
			out->has_max_size = true;
	}
	get_setup(&g, out);
	out->cema = pick(&g, "msrp-cema", "Duplicate a=msrp-cema") != NULL;
	get_dir(&g, out);
	if (g.err) {
		if (why)
			*why = g.err;
		return CPM_EPARSE;
	}
	return 0;
}

/* -------------------------------------------------------- m=messaging */

const char *cpm_sdp_msg_mode_name(enum cpm_sdp_msg_mode mode)
{
	switch (mode) {
	case CPM_SDP_MODE_INSTANT: return "instant";
	case CPM_SDP_MODE_SF: return "S&F";
	default: return "";
	}
}

int cpm_sdp_media_messaging(const struct cpm_sdp_media *m,
			    struct cpm_sdp_messaging *out)
{
	memset(out, 0, sizeof *out);
	if (!cpm_str_ieq_cstr(m->media, "messaging"))
		return CPM_ENOTFOUND;
	struct cpm_str cur = m->proto, t;
	int n = 0;
	while (cpm_sdp_list_next(&cur, &t) == 1) {
		long sl = cpm_str_chr(t, '/');
		if (sl < 0)
			return CPM_EPARSE;
		struct cpm_str tr = { t.s, (size_t)sl };
		struct cpm_str mode = { t.s + sl + 1, t.len - (size_t)sl - 1 };
		enum cpm_sdp_msg_mode *slot = cpm_str_ieq_cstr(tr, "IMTP") ? &out->imtp :
					      cpm_str_ieq_cstr(tr, "MESSAGE") ? &out->message :
					      NULL;
		if (!slot || *slot != CPM_SDP_MODE_NONE)
			return CPM_EPARSE;
		if (cpm_str_ieq_cstr(mode, "instant"))
			*slot = CPM_SDP_MODE_INSTANT;
		else if (cpm_str_ieq_cstr(mode, "S&F"))
			*slot = CPM_SDP_MODE_SF;
		else
			return CPM_EPARSE;
		n++;
	}
	return n ? 0 : CPM_EPARSE;
}
