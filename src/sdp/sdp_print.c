/* SDP printing (RFC 8866 §5): a struct cpm_sdp, possibly rewritten by its
 * owner, back to text with CRLF line ends, fields in the RFC's order.
 * Every value is checked for CR, LF and NUL, so that a rewritten slice
 * cannot inject lines. */
#include "sdp/sdp_int.h"

#include <string.h>

static bool clean(struct cpm_str v)
{
	for (size_t i = 0; i < v.len; i++)
		if (v.s[i] == '\r' || v.s[i] == '\n' || v.s[i] == '\0')
			return false;
	return true;
}

/* Append the slices of parts, each checked, then CRLF. */
static int put_line(struct cpm_buf *b, const struct cpm_str *parts, size_t n)
{
	int rc;
	for (size_t i = 0; i < n; i++) {
		if (!clean(parts[i]))
			return CPM_EINVAL;
		if (parts[i].len && (rc = cpm_buf_append(b, parts[i].s, parts[i].len)))
			return rc;
	}
	return cpm_buf_append(b, "\r\n", 2);
}

static int put_simple(struct cpm_buf *b, const char *prefix, struct cpm_str v)
{
	struct cpm_str parts[2] = { cpm_str_from_cstr(prefix), v };
	return put_line(b, parts, 2);
}

static int put_conn(struct cpm_buf *b, const struct cpm_sdp_conn *c)
{
	if (!c->nettype.len || !c->addrtype.len || !c->address.len)
		return CPM_EINVAL;
	struct cpm_str parts[] = { CPM_STR("c="), c->nettype, CPM_STR(" "), c->addrtype,
				   CPM_STR(" "), c->address, c->suffix };
	return put_line(b, parts, sizeof parts / sizeof parts[0]);
}

/* The verbatim lines of one level whose type is in types, in order. */
static int put_lines(struct cpm_buf *b, const struct cpm_sdp *d, int media,
		     const char *types)
{
	for (unsigned i = 0; i < d->nlines && i < CPM_SDP_LINES_CAP; i++) {
		const struct cpm_sdp_line *l = &d->lines[i];
		if (l->media != media || !l->type || !strchr(types, l->type))
			continue;
		char pre[2] = { l->type, '=' };
		struct cpm_str parts[2] = { { pre, 2 }, l->value };
		int rc = put_line(b, parts, 2);
		if (rc)
			return rc;
	}
	return 0;
}

static int put_attrs(struct cpm_buf *b, const struct cpm_sdp *d, int media)
{
	for (unsigned i = 0; i < d->nattrs && i < CPM_SDP_ATTRS_CAP; i++) {
		const struct cpm_sdp_attr *a = &d->attrs[i];
		if (a->media != media)
			continue;
		if (!a->name.len)
			return CPM_EINVAL;
		struct cpm_str parts[4] = { CPM_STR("a="), a->name,
					    a->has_value ? CPM_STR(":") : CPM_STR_NULL,
					    a->has_value ? a->value : CPM_STR_NULL };
		int rc = put_line(b, parts, 4);
		if (rc)
			return rc;
	}
	return 0;
}

static int put_media(struct cpm_buf *b, const struct cpm_sdp *d, unsigned mi)
{
	const struct cpm_sdp_media *m = &d->media[mi];
	int rc;
	if (!m->media.len || !m->proto.len || !m->fmts.len)
		return CPM_EINVAL;
	char port[32];
	size_t n = cpm_fmt_u64(port, m->port);
	if (m->nports) {
		port[n++] = '/';
		n += cpm_fmt_u64(port + n, m->nports);
	}
	struct cpm_str parts[] = { CPM_STR("m="), m->media, CPM_STR(" "), { port, n },
				   CPM_STR(" "), m->proto, CPM_STR(" "), m->fmts };
	if ((rc = put_line(b, parts, sizeof parts / sizeof parts[0])))
		return rc;
	if (m->info.s && (rc = put_simple(b, "i=", m->info)))
		return rc;
	if (m->has_conn && (rc = put_conn(b, &m->conn)))
		return rc;
	if ((rc = put_lines(b, d, (int)mi, "c")) || (rc = put_lines(b, d, (int)mi, "b")) ||
	    (rc = put_lines(b, d, (int)mi, "k")) || (rc = put_attrs(b, d, (int)mi)))
		return rc;
	return 0;
}

int cpm_sdp_print(struct cpm_buf *b, const struct cpm_sdp *d)
{
	const struct cpm_sdp_origin *o = &d->origin;
	int rc;
	if (!o->username.len || !o->sess_id.len || !o->sess_version.len ||
	    !o->nettype.len || !o->addrtype.len || !o->address.len ||
	    d->nmedia > CPM_SDP_MEDIA_CAP)
		return CPM_EINVAL;
	struct cpm_str op[] = { CPM_STR("o="), o->username, CPM_STR(" "), o->sess_id,
				CPM_STR(" "), o->sess_version, CPM_STR(" "), o->nettype,
				CPM_STR(" "), o->addrtype, CPM_STR(" "), o->address };
	if ((rc = cpm_buf_append(b, "v=0\r\n", 5)) ||
	    (rc = put_line(b, op, sizeof op / sizeof op[0])) ||
	    (rc = put_simple(b, "s=", d->name.len ? d->name : CPM_STR("-"))))
		return rc;
	if (d->info.s && (rc = put_simple(b, "i=", d->info)))
		return rc;
	if (d->uri.s && (rc = put_simple(b, "u=", d->uri)))
		return rc;
	if ((rc = put_lines(b, d, -1, "e")) || (rc = put_lines(b, d, -1, "p")))
		return rc;
	if (d->has_conn && (rc = put_conn(b, &d->conn)))
		return rc;
	/* t= r= z= together: repeats and zones belong to the t= before them.
	 * A description built from scratch without t= gets "t=0 0" (§5.9:
	 * at least one is required; 0 0 is an unbounded session). */
	bool has_t = false;
	for (unsigned i = 0; i < d->nlines && i < CPM_SDP_LINES_CAP; i++)
		has_t |= d->lines[i].media == -1 && d->lines[i].type == 't';
	if ((rc = put_lines(b, d, -1, "b")) || (rc = put_lines(b, d, -1, "trz")) ||
	    (!has_t && (rc = cpm_buf_append(b, "t=0 0\r\n", 7))) ||
	    (rc = put_lines(b, d, -1, "k")) || (rc = put_attrs(b, d, -1)))
		return rc;
	for (unsigned i = 0; i < d->nmedia; i++)
		if ((rc = put_media(b, d, i)))
			return rc;
	return 0;
}
