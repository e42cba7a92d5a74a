/* libFuzzer harness for src/sdp: the input is parsed as a session
 * description (now and then with tight limits).  When it parses, every
 * slice must lie inside the input, the typed views (MSRP attributes,
 * m=messaging, connections, lists, a=path URIs through msrp) must run
 * cleanly, and the printed text must parse again and print the same.  A
 * rejected input must say why and where.  Invariants are checked with
 * abort(). */
#include <stdlib.h>
#include <string.h>

#include "msrp/msrp.h"
#include "sdp/sdp.h"

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

static struct cpm_sdp d, back, again;

static bool inside(const char *buf, size_t len, struct cpm_str s)
{
	return s.len == 0 || (s.s >= buf && s.s + s.len <= buf + len);
}

static bool clean(struct cpm_str s)
{
	for (size_t i = 0; i < s.len; i++)
		if (s.s[i] == '\r' || s.s[i] == '\n' || s.s[i] == '\0')
			return false;
	return true;
}

static void check_slices(const struct cpm_sdp *x, const char *buf, size_t len)
{
	const struct cpm_sdp_origin *o = &x->origin;
	struct cpm_str all[] = { o->username, o->sess_id, o->sess_version, o->nettype,
				 o->addrtype, o->address, x->name, x->info, x->uri,
				 x->conn.nettype, x->conn.addrtype, x->conn.address,
				 x->conn.suffix };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		CHECK(inside(buf, len, all[i]) && clean(all[i]));
	CHECK(x->nmedia <= CPM_SDP_MEDIA_CAP && x->nattrs <= CPM_SDP_ATTRS_CAP &&
	      x->nlines <= CPM_SDP_LINES_CAP);
	for (unsigned i = 0; i < x->nmedia; i++) {
		const struct cpm_sdp_media *m = &x->media[i];
		CHECK(inside(buf, len, m->media) && inside(buf, len, m->proto) &&
		      inside(buf, len, m->fmts) && inside(buf, len, m->info) &&
		      inside(buf, len, m->conn.address));
		CHECK(m->media.len && m->proto.len && m->fmts.len);
	}
	for (unsigned i = 0; i < x->nattrs; i++) {
		const struct cpm_sdp_attr *a = &x->attrs[i];
		CHECK(a->media >= -1 && a->media < (int)x->nmedia);
		CHECK(a->name.len && inside(buf, len, a->name) && inside(buf, len, a->value));
		CHECK(a->has_value || a->value.len == 0);
	}
	for (unsigned i = 0; i < x->nlines; i++) {
		const struct cpm_sdp_line *l = &x->lines[i];
		CHECK(l->media >= -1 && l->media < (int)x->nmedia);
		CHECK(l->type >= 'a' && l->type <= 'z' && inside(buf, len, l->value));
	}
}

static void views(const struct cpm_sdp *x)
{
	for (unsigned i = 0; i < x->nmedia; i++) {
		struct cpm_sdp_msrp ms;
		const char *why = NULL;
		int rc = cpm_sdp_msrp_get(x, i, &ms, &why);
		CHECK(rc == 0 ? why == NULL : (rc == CPM_EPARSE && why != NULL));
		CHECK(ms.setup <= CPM_SDP_SETUP_HOLDCONN && ms.dir <= CPM_SDP_INACTIVE);
		struct cpm_str cur = ms.path, it;
		struct cpm_msrp_uri u;
		int guard = 0;
		while (cpm_msrp_path_next(&cur, &u) == 1)
			CHECK(++guard < 100000 && cpm_msrp_uri_eq(&u, &u));
		cur = ms.accept_types;
		while (cpm_sdp_list_next(&cur, &it) == 1)
			CHECK(++guard < 100000 && it.len);
		cur = x->media[i].fmts;
		while (cpm_sdp_list_next(&cur, &it) == 1)
			CHECK(++guard < 100000 && it.len);
		struct cpm_sdp_messaging mg;
		rc = cpm_sdp_media_messaging(&x->media[i], &mg);
		CHECK(rc == 0 || rc == CPM_EPARSE || rc == CPM_ENOTFOUND);
		if (rc == 0)
			CHECK(mg.imtp != CPM_SDP_MODE_NONE || mg.message != CPM_SDP_MODE_NONE);
		cpm_sdp_media_is_msrp(&x->media[i]);
		const struct cpm_sdp_conn *c = cpm_sdp_media_conn(x, i);
		CHECK(!c || c->address.len);
	}
	cpm_sdp_attr_find(x, -1, "path", -1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct cpm_sdp_limits lim;
	cpm_sdp_limits_default(&lim);
	if (size && (data[size - 1] & 0x81) == 0x81) {
		lim.max_media = (data[size - 1] & 0x0e) / 2 + 1;
		lim.max_attrs = (data[size - 1] & 0x70) / 8;
		lim.max_lines = (data[size - 1] & 0x1e) / 2 + 1;
		lim.max_line = 16 + (data[size - 1] & 0x7e);
	}
	int rc = cpm_sdp_parse(&d, buf, size, &lim);
	if (rc) {
		CHECK(rc == CPM_EPARSE || rc == CPM_ELIMIT);
		CHECK(d.err_reason != NULL && d.err_line >= 1);
		return 0;
	}
	CHECK(d.err_reason == NULL);
	check_slices(&d, buf, size);
	views(&d);

	/* print, parse the print, print again: the same text */
	struct cpm_buf b, b2;
	cpm_buf_init(&b, 1 << 22);
	cpm_buf_init(&b2, 1 << 22);
	CHECK(cpm_sdp_print(&b, &d) == 0);
	CHECK(cpm_sdp_parse(&back, b.p, b.len, &lim) == 0);
	check_slices(&back, b.p, b.len);
	CHECK(back.nmedia == d.nmedia && back.nattrs == d.nattrs && back.nlines == d.nlines);
	CHECK(cpm_sdp_print(&b2, &back) == 0);
	CHECK(b.len == b2.len && memcmp(b.p, b2.p, b.len) == 0);

	/* a B2BUA rewrite prints and parses too */
	again = d;
	again.conn.address = CPM_STR("relay.example.net");
	again.has_conn = true;
	again.conn.nettype = CPM_STR("IN");
	again.conn.addrtype = CPM_STR("IP4");
	again.conn.suffix = CPM_STR_NULL;
	for (unsigned i = 0; i < again.nmedia; i++) {
		again.media[i].port = 40000;
		int a = cpm_sdp_attr_find(&again, (int)i, "path", -1);
		if (a >= 0)
			again.attrs[a].value = CPM_STR("msrp://relay.example.net:40000/x;tcp");
	}
	cpm_buf_reset(&b2);
	CHECK(cpm_sdp_print(&b2, &again) == 0);
	cpm_sdp_limits_default(&lim);
	lim.max_line = 1 << 20;
	CHECK(cpm_sdp_parse(&back, b2.p, b2.len, &lim) == 0);
	cpm_buf_free(&b);
	cpm_buf_free(&b2);
	return 0;
}
