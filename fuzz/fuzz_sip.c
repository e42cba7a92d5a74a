/* libFuzzer harness for src/sip: the input is parsed as a datagram and as
 * a stream, then every on-demand helper runs over the parsed headers, and
 * the helpers also run over the raw input.  Invariants that must hold are
 * checked with abort(). */
#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"

#define CHECK(c)                  \
	do {                      \
		if (!(c))         \
			abort();  \
	} while (0)

static struct cpm_sip_msg msg, back;

static bool inside(const struct cpm_sip_msg *m, struct cpm_str s)
{
	if (s.len == 0)
		return true;
	return s.s >= m->buf && s.s + s.len <= m->buf + m->len;
}

static void walk_uri(struct cpm_str s)
{
	struct cpm_sip_uri u, u2;
	char aor[256];
	if (cpm_sip_uri_parse(s, &u) == 0) {
		int n = cpm_sip_uri_aor(&u, aor, sizeof aor);
		CHECK(n == CPM_ETOOBIG || (n >= 0 && (size_t)n < sizeof aor &&
					   aor[n] == '\0'));
		CHECK(cpm_sip_uri_parse(s, &u2) == 0);
		if (u.scheme == CPM_SIP_SCHEME_SIP || u.scheme == CPM_SIP_SCHEME_SIPS)
			CHECK(cpm_sip_uri_eq(&u, &u2));
		struct cpm_str v;
		cpm_sip_param_find(u.params, "transport", &v);
	}
}

static void walk_addrs(struct cpm_str value)
{
	struct cpm_sip_addr a;
	int guard = 0;
	while (cpm_sip_addr_next(&value, &a) == 1) {
		CHECK(++guard < 100000);
		walk_uri(a.uri);
		struct cpm_str v;
		cpm_sip_param_find(a.params, "expires", &v);
		cpm_sip_unquote(a.display);
	}
}

static void walk_vias(struct cpm_str value)
{
	struct cpm_sip_via v;
	int guard = 0;
	while (cpm_sip_via_next(&value, &v) == 1)
		CHECK(++guard < 100000);
}

static void walk_list(struct cpm_str value)
{
	struct cpm_str it;
	int guard = 0;
	while (cpm_sip_list_next(&value, &it) == 1)
		CHECK(++guard < 100000);
	cpm_sip_list_has(value, "100rel");
}

static void walk_body(struct cpm_str ctype, struct cpm_str body)
{
	struct cpm_str mime, params, bnd;
	if (cpm_sip_ctype_parse(ctype, &mime, &params) != 0)
		return;
	if (!cpm_sip_param_find(params, "boundary", &bnd))
		return;
	struct cpm_sip_part p;
	int guard = 0;
	const char *end = body.s + body.len;
	while (cpm_sip_multipart_next(&body, cpm_sip_unquote(bnd), &p) == 1) {
		CHECK(++guard < 100000);
		CHECK(p.body.s + p.body.len <= end && body.s + body.len == end);
	}
}

static void walk_msg(const struct cpm_sip_msg *m)
{
	CHECK(m->nhdrs <= CPM_SIP_HDRS_CAP);
	CHECK(m->body_off <= m->len);
	CHECK(inside(m, m->body) && inside(m, m->ruri) && inside(m, m->call_id));
	for (unsigned i = 0; i < m->nhdrs; i++) {
		const struct cpm_sip_hdr *h = &m->hdrs[i];
		CHECK(inside(m, h->raw) && inside(m, h->value) && inside(m, h->name));
		switch (h->id) {
		case CPM_SIP_H_VIA:
			walk_vias(h->value);
			break;
		case CPM_SIP_H_CONTACT:
		case CPM_SIP_H_ROUTE:
		case CPM_SIP_H_RECORD_ROUTE:
		case CPM_SIP_H_PATH:
		case CPM_SIP_H_SERVICE_ROUTE:
		case CPM_SIP_H_REFER_TO:
		case CPM_SIP_H_REFERRED_BY:
			walk_addrs(h->value);
			break;
		case CPM_SIP_H_AUTHORIZATION:
		case CPM_SIP_H_PROXY_AUTHORIZATION:
		case CPM_SIP_H_WWW_AUTHENTICATE:
		case CPM_SIP_H_PROXY_AUTHENTICATE: {
			struct cpm_sip_auth a;
			cpm_sip_auth_parse(h->value, &a);
			break;
		}
		case CPM_SIP_H_CONTENT_TYPE:
			walk_body(h->value, m->body);
			break;
		default:
			walk_list(h->value);
			break;
		}
	}
	walk_uri(m->ruri);
	walk_uri(m->from.uri);
	walk_uri(m->to.uri);
	cpm_sip_msg_hdr_by_name(m, "x");
	cpm_sip_msg_hdr_by_name(m, "X-Unknown");

	/* a response built from an accepted request parses back */
	if (m->is_request) {
		struct cpm_buf b;
		cpm_buf_init(&b, 1 << 20);
		CHECK(cpm_sip_print_response_start(&b, m, 404, NULL, "fz") == 0);
		CHECK(cpm_sip_print_body(&b, CPM_STR("text/plain"), CPM_STR("x")) == 0);
		int rc = cpm_sip_msg_parse(&back, b.p, b.len, CPM_SIP_STREAM, NULL);
		CHECK(rc == 0 && back.status == 404);
		CHECK(cpm_str_eq(back.call_id, m->call_id));
		CHECK(back.cseq.num == m->cseq.num);
		cpm_buf_free(&b);
	}
}

/* What the server transaction does instead of parsing its copy again:
 * rebase the parse onto a copy whose top via-parm gained a parameter, and
 * compare with a fresh parse of that copy. */
static struct cpm_sip_msg moved;
static void rebase_check(const struct cpm_sip_msg *m, const struct cpm_sip_limits *lim)
{
	if (!m->is_request || !m->via.whole.len)
		return;
	static const char add[] = ";received=192.0.2.1";
	size_t vs = (size_t)(m->via.whole.s - m->buf), ve = vs + m->via.whole.len;
	size_t nlen = m->len + sizeof add - 1;
	char *copy = malloc(nlen);
	if (!copy)
		return;
	memcpy(copy, m->buf, ve);
	memcpy(copy + ve, add, sizeof add - 1);
	memcpy(copy + ve + sizeof add - 1, m->buf + ve, m->len - ve);
	moved = *m;
	int rc = cpm_sip_msg_rebase(&moved, copy, nlen, vs, ve,
				    m->via.whole.len + sizeof add - 1);
	if (rc == 0 && cpm_sip_msg_parse(&back, copy, nlen, CPM_SIP_DATAGRAM, lim) == 0) {
		CHECK(moved.nhdrs == back.nhdrs);
		for (unsigned i = 0; i < moved.nhdrs; i++)
			CHECK(cpm_str_eq(moved.hdrs[i].raw, back.hdrs[i].raw));
		CHECK(cpm_str_eq(moved.call_id, back.call_id));
		CHECK(cpm_str_eq(moved.ruri, back.ruri));
		CHECK(cpm_str_eq(moved.from.tag, back.from.tag));
		CHECK(cpm_str_eq(moved.body, back.body));
		CHECK(cpm_str_eq(moved.via.branch, back.via.branch));
	}
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct cpm_sip_limits lim;
	cpm_sip_limits_default(&lim);
	if (size && (data[size - 1] & 0x81) == 0x81) {
		/* tight limits now and then, to reach the 413/513/414 paths */
		lim.max_msg = 256 + (data[size - 1] & 0x7e) * 8;
		lim.max_hdrs = (data[size - 1] & 0x0e) + 1;
		lim.max_line = 64 + (data[size - 1] & 0x70);
	}

	int rc = cpm_sip_msg_parse(&msg, buf, size, CPM_SIP_DATAGRAM, &lim);
	if (rc == 0) {
		walk_msg(&msg);
		rebase_check(&msg, &lim);
	} else {
		CHECK(msg.err_reason != NULL && rc < 0);
		CHECK(msg.is_request || msg.err_status == 0);
		/* what core does with a bad request: answer from what parsed */
		if (msg.err_status && msg.call_id.len && msg.via.host.len) {
			struct cpm_buf b;
			cpm_buf_init(&b, 1 << 20);
			CHECK(cpm_sip_print_response_start(&b, &msg, msg.err_status,
							   msg.err_reason, "e") == 0);
			CHECK(cpm_sip_print_body(&b, CPM_STR_NULL, CPM_STR_NULL) == 0);
			cpm_sip_msg_parse(&back, b.p, b.len, CPM_SIP_STREAM, NULL);
			cpm_buf_free(&b);
		}
	}

	/* as a TCP stream: frame and parse every message in it */
	size_t off = 0;
	int guard = 0;
	while (off < size && ++guard < 10000) {
		size_t skip, ml;
		int fr = cpm_sip_frame(buf + off, size - off, &lim, &skip, &ml);
		CHECK(skip <= size - off);
		if (fr != 1)
			break;
		CHECK(ml > 0 && skip + ml <= size - off);
		if (cpm_sip_msg_parse(&msg, buf + off + skip, ml, CPM_SIP_STREAM, &lim) == 0)
			walk_msg(&msg);
		off += skip + ml;
	}

	/* the helpers on raw input */
	struct cpm_str raw = { buf, size };
	walk_uri(raw);
	walk_addrs(raw);
	walk_vias(raw);
	walk_list(raw);
	struct cpm_sip_addr a;
	cpm_sip_addr_parse(raw, &a);
	struct cpm_sip_auth au;
	cpm_sip_auth_parse(raw, &au);
	struct cpm_str v;
	cpm_sip_param_find(raw, "tag", &v);
	if (size > 1) {
		/* first byte: boundary length, then boundary, then body */
		size_t bl = (unsigned char)buf[0] % 16 + 1;
		if (bl < size - 1) {
			struct cpm_str body = { buf + 1 + bl, size - 1 - bl };
			struct cpm_str bnd = { buf + 1, bl };
			struct cpm_sip_part p;
			int g = 0;
			while (cpm_sip_multipart_next(&body, bnd, &p) == 1)
				CHECK(++g < 100000);
		}
	}
	return 0;
}
