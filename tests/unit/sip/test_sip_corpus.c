/* sip: RFC 4475 and RFC 5118 torture messages, read at run time from the
 * shared corpus (CPM_CORPUS_DIR, or <dir>/shared/corpus found by walking
 * up from the current directory).  The expectations come from the corpus
 * manifests; the few places where the parser deliberately takes the
 * liberal branch an INVALID entry offers, or deviates, are tabled below
 * with the reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "sip/sip.h"

static char corpus[4096];

/* ------------------------------------------------------------- decisions */

/* INVALID entries we accept at parser level; `offer` must be one of the
 * manifest's expected strings (checked, so a manifest change is noticed). */
static const struct {
	const char *file, *offer, *why;
} liberal[] = {
	{ "baddate.sip", "ignore Date header and process",
	  "Date is not parsed eagerly; nothing in the server needs it" },
	{ "regbadct.sip", "liberal: infer <>",
	  "Contact is parsed on demand; cpm_sip_addr_next rejects it (asserted below)" },
	{ "badbranch.sip", "RFC 2543-style transaction matching",
	  "a branch that is only the magic cookie is the transaction layer's call" },
};

/* SEMANTIC entries whose expected code is a parse-level error. */
static const char *const semantic_reject[] = { "insuf.sip", "mcl01.sip", "multi01.sip" };

/* RFC 5118 entries where we knowingly differ from the manifest. */
static const struct {
	const char *file;
	int status;
	const char *why;
} v6_deviation[] = {
	{ "(none)", 0, "every RFC 5118 entry is handled as its manifest says" },
};

/* lf/ variants whose verdict differs from the CRLF file. */
static const struct {
	const char *file;
	int status;
	const char *why;
} lf_differs[] = {
	{ "mult-ip-in-sdp", 400, "Content-Length 181 but the LF body has 180 octets" },
};

/* ------------------------------------------------------------- utilities */

static bool find_corpus(void)
{
	const char *env = getenv("CPM_CORPUS_DIR");
	if (env && *env) {
		snprintf(corpus, sizeof corpus, "%s", env);
		return true;
	}
	char dir[3072];
	if (!getcwd(dir, sizeof dir))
		return false;
	for (;;) {
		snprintf(corpus, sizeof corpus, "%s/shared/corpus/rfc4475/manifest.json", dir);
		if (access(corpus, R_OK) == 0) {
			snprintf(corpus, sizeof corpus, "%s/shared/corpus", dir);
			return true;
		}
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir)
			return false;
		*slash = '\0';
	}
}

/* The whole file in an exact-size heap block (ASan sees over-reads). */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *p = malloc(n > 0 ? (size_t)n : 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return p;
}

static bool in_list(const char *const *l, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(l[i], s) == 0)
			return true;
	return false;
}

/* Numeric codes in the expected strings ("400", "UDP: 400 (error)"). */
static size_t codes_of(json_t *expected, int *codes, size_t max)
{
	size_t n = 0, i;
	json_t *v;
	json_array_foreach(expected, i, v) {
		const char *s = json_string_value(v);
		for (const char *p = s; p && *p && n < max; p++) {
			if (p[0] >= '1' && p[0] <= '6' && p[1] >= '0' && p[1] <= '9' &&
			    p[2] >= '0' && p[2] <= '9' && (p == s || p[-1] == ' ') &&
			    !(p[3] >= '0' && p[3] <= '9')) {
				codes[n++] = atoi(p);
				p += 2;
			}
		}
	}
	return n;
}

static bool has_code(const int *codes, size_t n, int c)
{
	for (size_t i = 0; i < n; i++)
		if (codes[i] == c)
			return true;
	return false;
}

static size_t unescape(struct cpm_str s, char *out, size_t outsz)
{
	size_t o = 0;
	for (size_t i = 0; i < s.len && o + 1 < outsz; i++) {
		if (s.s[i] == '%' && i + 2 < s.len) {
			char hx[3] = { s.s[i + 1], s.s[i + 2], 0 };
			out[o++] = (char)strtol(hx, NULL, 16);
			i += 2;
		} else {
			out[o++] = s.s[i];
		}
	}
	out[o] = '\0';
	return o;
}

static struct cpm_sip_msg msg, resp;

/* Every accepted request: all Vias and address lists walk, and a response
 * printed from it parses back with the same identifiers. */
static void exercise(const char *name, const struct cpm_sip_msg *m)
{
	for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(m, CPM_SIP_H_VIA); h;
	     h = cpm_sip_msg_hdr_next(m, h)) {
		struct cpm_str cur = h->value;
		struct cpm_sip_via v;
		int rc, n = 0;
		while ((rc = cpm_sip_via_next(&cur, &v)) == 1)
			n++;
		if (rc < 0 || n == 0)
			fail_msg("%s: Via '%.*s' does not parse", name, CPM_STR_FMT(h->value));
	}
	if (!m->is_request)
		return;
	struct cpm_buf b;
	cpm_buf_init(&b, 1 << 16);
	assert_int_equal(cpm_sip_print_response_start(&b, m, 200, NULL, "t1"), 0);
	assert_int_equal(cpm_sip_print_body(&b, CPM_STR_NULL, CPM_STR_NULL), 0);
	int rc = cpm_sip_msg_parse(&resp, b.p, b.len, CPM_SIP_STREAM, NULL);
	if (rc)
		fail_msg("%s: printed response does not parse: %s\n%s", name,
			 resp.err_reason, b.p);
	assert_true(cpm_str_eq(resp.call_id, m->call_id));
	assert_int_equal(resp.cseq.num, m->cseq.num);
	assert_true(cpm_str_eq(resp.from.tag, m->from.tag));
	if (m->to.tag.len)
		assert_true(cpm_str_eq(resp.to.tag, m->to.tag));
	else
		assert_true(cpm_str_eq_cstr(resp.to.tag, "t1"));
	cpm_buf_free(&b);
}

/* A rejected request still carries what a stateless error response needs
 * (the parser goes on after the first error): build the answer the way
 * core does and parse it back.  Returns false if it cannot be answered. */
static bool answer_rejected(const char *name, const struct cpm_sip_msg *m)
{
	if (!m->is_request || !m->err_status || !m->call_id.len || !m->via.host.len ||
	    !cpm_sip_msg_hdr(m, CPM_SIP_H_FROM) || !cpm_sip_msg_hdr(m, CPM_SIP_H_TO) ||
	    !cpm_sip_msg_hdr(m, CPM_SIP_H_CSEQ))
		return false;
	struct cpm_buf b;
	cpm_buf_init(&b, 1 << 16);
	assert_int_equal(cpm_sip_print_response_start(&b, m, m->err_status, m->err_reason,
						      "t2"), 0);
	assert_int_equal(cpm_sip_print_body(&b, CPM_STR_NULL, CPM_STR_NULL), 0);
	int rc = cpm_sip_msg_parse(&resp, b.p, b.len, CPM_SIP_STREAM, NULL);
	/* the response echoes the request's fields: only a defective field
	 * of the request may show up again (a bad To stays a bad To) */
	if (rc != 0 && strncmp(resp.err_reason, "Bad ", 4) != 0)
		fail_msg("%s: error response does not parse: %s\n%s", name, resp.err_reason, b.p);
	assert_int_equal(resp.status, m->err_status);
	assert_true(cpm_str_eq(resp.call_id, m->call_id));
	cpm_buf_free(&b);
	return true;
}

/* Rejected requests that must remain answerable. */
static const char *const answerable[] = {
	"badvers.sip",	 "multi01.sip",	 "mcl01.sip",	 "mismatch01.sip", "mismatch02.sip",
	"clerr.sip",	 "ncl.sip",	 "scalar02.sip", "badaspec.sip",   "quotbal.sip",
	"ltgtruri.sip",	 "lwsruri.sip",	 "lwsstart.sip", "trws.sip",	   "escruri.sip",
	"badinv01.sip",	 "baddn.sip",
};

/* --------------------------------------------------- per-file must_not */

static void check_escnull(const struct cpm_sip_msg *m)
{
	/* must_not: truncate AOR at %00 */
	struct cpm_sip_uri u;
	char aor[128];
	assert_int_equal(cpm_sip_uri_parse(m->to.uri, &u), 0);
	assert_int_equal(cpm_sip_uri_aor(&u, aor, sizeof aor), 25);
	assert_string_equal(aor, "null-%00-null@example.com");
	const char *want[] = { "%00@host5.example.com", "%00%00@host5.example.com" };
	size_t n = 0;
	for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(m, CPM_SIP_H_CONTACT); h;
	     h = cpm_sip_msg_hdr_next(m, h)) {
		struct cpm_str cur = h->value;
		struct cpm_sip_addr a;
		while (cpm_sip_addr_next(&cur, &a) == 1) {
			assert_true(n < 2);
			assert_int_equal(cpm_sip_uri_parse(a.uri, &u), 0);
			assert_true(cpm_sip_uri_aor(&u, aor, sizeof aor) > 0);
			assert_string_equal(aor, want[n]);
			n++;
		}
	}
	assert_int_equal(n, 2);
}

static void check_semiuri(const struct cpm_sip_msg *m, json_t *expected)
{
	/* "R-URI user = 'user;par=u@example.net'": take it from the manifest */
	const char *s = json_string_value(json_array_get(expected, 0));
	const char *q1 = s ? strchr(s, '\'') : NULL;
	const char *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
	assert_non_null(q2);
	char want[128], got[128];
	snprintf(want, sizeof want, "%.*s", (int)(q2 - q1 - 1), q1 + 1);
	struct cpm_sip_uri u;
	assert_int_equal(cpm_sip_uri_parse(m->ruri, &u), 0);
	assert_true(cpm_str_eq_cstr(u.user, "user;par=u%40example.net"));
	unescape(u.user, got, sizeof got);
	assert_string_equal(got, want);
	assert_true(cpm_str_eq_cstr(u.host, "example.com"));
	assert_int_equal(u.params.len, 0);
}

static void check_mpart01(const struct cpm_sip_msg *m, const char *buf, size_t len)
{
	/* must_not: alter body (553 bytes incl. NULs) */
	assert_int_equal(m->body.len, 553);
	assert_int_equal(m->body_off + 553, len);
	assert_ptr_equal(m->body.s, buf + len - 553);
	assert_non_null(memchr(m->body.s, '\0', m->body.len));
	const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(m, CPM_SIP_H_CONTENT_TYPE);
	assert_non_null(h);
	struct cpm_str mime, params, bnd;
	assert_int_equal(cpm_sip_ctype_parse(h->value, &mime, &params), 0);
	assert_true(cpm_str_eq_cstr(mime, "multipart/mixed"));
	assert_true(cpm_sip_param_find(params, "boundary", &bnd));
	bnd = cpm_sip_unquote(bnd);
	struct cpm_str cur = m->body;
	struct cpm_sip_part p;
	int rc, n = 0;
	size_t total = 0;
	while ((rc = cpm_sip_multipart_next(&cur, bnd, &p)) == 1) {
		assert_true(p.content_type.len > 0);
		total += p.body.len;
		n++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	assert_true(total > 0 && total < 553);
}

static void check_dblreq(const struct cpm_sip_msg *m, const char *buf, size_t len)
{
	/* must_not: process the trailing INVITE: the body ends at
	 * Content-Length 0 and the rest of the datagram is ignored */
	assert_int_equal(m->method, CPM_SIP_REGISTER);
	assert_int_equal(m->content_length, 0);
	assert_int_equal(m->body.len, 0);
	assert_true(m->body_off < len);
	const char *rest = buf + m->body_off;
	size_t rlen = len - m->body_off;
	assert_true(rlen > 6);
	assert_memory_equal(rest + 2, "INVITE", 6);
	/* on a stream, the same bytes frame as two messages */
	size_t skip, ml;
	assert_int_equal(cpm_sip_frame(buf, len, NULL, &skip, &ml), 1);
	assert_int_equal(skip, 0);
	assert_int_equal(ml, m->body_off);
	assert_int_equal(cpm_sip_frame(buf + ml, len - ml, NULL, &skip, &ml), 1);
	assert_int_equal(skip, 2);
	static struct cpm_sip_msg second;
	assert_int_equal(cpm_sip_msg_parse(&second, buf + m->body_off + skip, ml,
					   CPM_SIP_STREAM, NULL), 0);
	assert_int_equal(second.method, CPM_SIP_INVITE);
}

static void check_specific(const char *f, const struct cpm_sip_msg *m, const char *buf,
			   size_t len, json_t *e)
{
	size_t skip, ml;
	if (strcmp(f, "escnull.sip") == 0) {
		check_escnull(m);
	} else if (strcmp(f, "semiuri.sip") == 0) {
		check_semiuri(m, json_object_get(e, "expected"));
	} else if (strcmp(f, "mpart01.sip") == 0) {
		check_mpart01(m, buf, len);
	} else if (strcmp(f, "dblreq.sip") == 0) {
		check_dblreq(m, buf, len);
	} else if (strcmp(f, "esc02.sip") == 0) {
		/* must_not: treat as REGISTER */
		assert_int_equal(m->method, CPM_SIP_OTHER);
		assert_true(cpm_str_eq_cstr(m->method_s, "RE%47IST%45R"));
		assert_true(cpm_str_eq_cstr(m->cseq.method_s, "RE%47IST%45R"));
		/* C%6Fntact is an unknown header, not Contact */
		size_t n = 0;
		for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(m, CPM_SIP_H_CONTACT); h;
		     h = cpm_sip_msg_hdr_next(m, h))
			n++;
		assert_int_equal(n, 2);
		assert_non_null(cpm_sip_msg_hdr_by_name(m, "C%6Fntact"));
	} else if (strcmp(f, "wsinv.sip") == 0) {
		assert_true(cpm_str_eq_cstr(m->to.tag, "1918181833n"));
		assert_true(cpm_str_eq_cstr(m->from.tag, "98asjd8"));
		assert_int_equal(m->max_forwards, 68);
		assert_int_equal(m->cseq.num, 9);
		assert_true(cpm_str_eq_cstr(m->via.transport, "UDP"));
		assert_true(cpm_str_eq_cstr(m->via.host, "192.0.2.2"));
		assert_int_equal(m->body.len, 150);
	} else if (strcmp(f, "intmeth.sip") == 0) {
		assert_int_equal(m->method, CPM_SIP_OTHER);
		assert_true(cpm_str_eq_cstr(m->method_s, "!interesting-Method0123456789_*+`.%indeed'~"));
		assert_int_equal(m->to.display.len, 22); /* quoted, with a NUL */
		assert_non_null(memchr(m->to.display.s, '\0', m->to.display.len));
	} else if (strcmp(f, "transports.sip") == 0) {
		const char *want[] = { "UDP", "SCTP", "TLS", "UNKNOWN", "TCP" };
		size_t n = 0;
		for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(m, CPM_SIP_H_VIA); h;
		     h = cpm_sip_msg_hdr_next(m, h), n++) {
			struct cpm_str cur = h->value;
			struct cpm_sip_via v;
			assert_int_equal(cpm_sip_via_next(&cur, &v), 1);
			assert_true(n < 5 && cpm_str_eq_cstr(v.transport, want[n]));
		}
		assert_int_equal(n, 5);
	} else if (strcmp(f, "regbadct.sip") == 0) {
		struct cpm_str cur = cpm_sip_msg_hdr(m, CPM_SIP_H_CONTACT)->value;
		struct cpm_sip_addr a;
		assert_true(cpm_sip_addr_next(&cur, &a) < 0);
	} else if (strcmp(f, "cparam01.sip") == 0 || strcmp(f, "cparam02.sip") == 0) {
		struct cpm_str cur = cpm_sip_msg_hdr(m, CPM_SIP_H_CONTACT)->value;
		struct cpm_sip_addr a;
		struct cpm_sip_uri u;
		assert_int_equal(cpm_sip_addr_next(&cur, &a), 1);
		assert_int_equal(cpm_sip_uri_parse(a.uri, &u), 0);
		bool in_uri = cpm_sip_param_find(u.params, "unknownparam", NULL);
		bool in_hdr = cpm_sip_param_find(a.params, "unknownparam", NULL);
		/* cparam01: addr-spec, the param is the header's (§20) */
		assert_int_equal(in_uri, f[7] == '2');
		assert_int_equal(in_hdr, f[7] == '1');
	} else if (strcmp(f, "regescrt.sip") == 0) {
		struct cpm_str cur = cpm_sip_msg_hdr(m, CPM_SIP_H_CONTACT)->value;
		struct cpm_sip_addr a;
		struct cpm_sip_uri u;
		assert_int_equal(cpm_sip_addr_next(&cur, &a), 1);
		assert_int_equal(cpm_sip_uri_parse(a.uri, &u), 0);
		assert_true(cpm_str_eq_cstr(u.headers, "Route=%3Csip:sip.example.com%3E"));
	} else if (strcmp(f, "unkscm.sip") == 0 || strcmp(f, "novelsc.sip") == 0) {
		struct cpm_sip_uri u;
		assert_int_equal(cpm_sip_uri_parse(m->ruri, &u), CPM_ESCHEME);
	} else if (strcmp(f, "zeromf.sip") == 0) {
		assert_int_equal(m->max_forwards, 0);
	} else if (strcmp(f, "longreq.sip") == 0) {
		size_t n = 0;
		for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(m, CPM_SIP_H_VIA); h;
		     h = cpm_sip_msg_hdr_next(m, h))
			n++;
		assert_true(n >= 30);
		assert_int_equal(m->body.len, 150);
	} else if (strcmp(f, "clerr.sip") == 0) {
		/* TCP: wait for the announced octets (then close) */
		assert_int_equal(cpm_sip_frame(buf, len, NULL, &skip, &ml), 0);
	} else if (strcmp(f, "ncl.sip") == 0 || strcmp(f, "mcl01.sip") == 0) {
		/* TCP: close the connection */
		assert_int_equal(cpm_sip_frame(buf, len, NULL, &skip, &ml), CPM_EPARSE);
	} else if (strcmp(f, "multi01.sip") == 0) {
		assert_true(strncmp(m->err_reason, "Multiple ", 9) == 0);
	} else if (strcmp(f, "badvers.sip") == 0) {
		assert_string_equal(m->err_reason, "Version Not Supported");
	} else if (strcmp(f, "mismatch01.sip") == 0) {
		assert_string_equal(m->err_reason, "CSeq method mismatch");
	}
}

/* ---------------------------------------------------------------- RFC 4475 */

static void test_rfc4475(void **state)
{
	(void)state;
	char path[4600];
	snprintf(path, sizeof path, "%s/rfc4475/manifest.json", corpus);
	json_error_t jerr;
	json_t *root = json_load_file(path, 0, &jerr);
	if (!root)
		fail_msg("%s: %s", path, jerr.text);
	assert_true(json_is_array(root));
	size_t idx, ran = 0, accepted = 0, rejected = 0, answered = 0;
	json_t *e;
	json_array_foreach(root, idx, e) {
		const char *file = json_string_value(json_object_get(e, "file"));
		const char *cls = json_string_value(json_object_get(e, "cls"));
		json_t *expected = json_object_get(e, "expected");
		assert_non_null(file);
		assert_non_null(cls);
		snprintf(path, sizeof path, "%s/rfc4475/%s", corpus, file);
		size_t len;
		char *buf = slurp(path, &len);
		json_t *bytes = json_object_get(e, "bytes");
		if (bytes)
			assert_int_equal(len, (size_t)json_integer_value(bytes));
		int codes[16];
		size_t ncodes = codes_of(expected, codes, 16);
		int rc = cpm_sip_msg_parse(&msg, buf, len, CPM_SIP_DATAGRAM, NULL);

		bool lib = false;
		for (size_t i = 0; i < sizeof liberal / sizeof liberal[0]; i++) {
			if (strcmp(liberal[i].file, file) != 0)
				continue;
			size_t j;
			json_t *x;
			bool offered = false;
			json_array_foreach(expected, j, x)
				offered |= strcmp(json_string_value(x), liberal[i].offer) == 0;
			if (!offered)
				fail_msg("%s: manifest no longer offers '%s'", file, liberal[i].offer);
			lib = true;
		}

		if (strcmp(cls, "VALID") == 0 || strcmp(cls, "VALID-2543") == 0 || lib ||
		    (strcmp(cls, "SEMANTIC") == 0 &&
		     !in_list(semantic_reject, sizeof semantic_reject / sizeof semantic_reject[0], file))) {
			if (rc != 0)
				fail_msg("%s (%s): rejected %d %s", file, cls, msg.err_status,
					 msg.err_reason);
			assert_true(msg.is_request);
			exercise(file, &msg);
			accepted++;
		} else if (strcmp(cls, "RESPONSE") == 0) {
			/* parsed as a response (core drops it) or dropped here */
			if (rc == 0) {
				assert_false(msg.is_request);
				assert_true(msg.status >= 100 && msg.status <= 699);
				exercise(file, &msg);
			} else {
				if (msg.err_status != 0)
					fail_msg("%s: response answered with %d", file, msg.err_status);
			}
		} else if (strcmp(cls, "INVALID") == 0 || strcmp(cls, "INVALID-UNREFERENCED") == 0 ||
			   strcmp(cls, "SEMANTIC") == 0) {
			if (rc == 0)
				fail_msg("%s (%s): accepted", file, cls);
			assert_true(ncodes > 0);
			if (!has_code(codes, ncodes, msg.err_status))
				fail_msg("%s: rejected with %d %s, manifest expects another code",
					 file, msg.err_status, msg.err_reason);
			assert_non_null(msg.err_reason);
			bool ans = answer_rejected(file, &msg);
			if (!ans && in_list(answerable, sizeof answerable / sizeof answerable[0], file))
				fail_msg("%s: rejected (%s) but cannot be answered", file,
					 msg.err_reason);
			answered += ans;
			rejected++;
		} else {
			fail_msg("%s: unknown class %s", file, cls);
		}
		check_specific(file, &msg, buf, len, e);

		/* the same bytes as a stream: framing never crashes and, when
		 * it frames a message, parsing it gives the same verdict for
		 * messages with a valid Content-Length */
		size_t skip, ml;
		int fr = cpm_sip_frame(buf, len, NULL, &skip, &ml);
		if (fr == 1) {
			int rc2 = cpm_sip_msg_parse(&msg, buf + skip, ml, CPM_SIP_STREAM, NULL);
			if (rc == 0 && rc2 != 0)
				fail_msg("%s: datagram ok, stream rejected: %s", file, msg.err_reason);
		}
		free(buf);
		ran++;
	}
	assert_int_equal(ran, json_array_size(root));
	assert_true(ran >= 50);
	assert_true(accepted > 20 && rejected > 15);
	assert_true(answered >= sizeof answerable / sizeof answerable[0]);
	json_decref(root);
}

/* ---------------------------------------------------------------- RFC 5118 */

static void check_5118(const char *name, const struct cpm_sip_msg *m)
{
	struct cpm_sip_uri u;
	if (strcmp(name, "port-ambiguous") == 0) {
		assert_int_equal(cpm_sip_uri_parse(m->ruri, &u), 0);
		assert_true(cpm_str_eq_cstr(u.host, "[2001:db8::10:5070]"));
		assert_false(u.has_port);
	} else if (strcmp(name, "port-unambiguous") == 0) {
		assert_int_equal(cpm_sip_uri_parse(m->ruri, &u), 0);
		assert_true(cpm_str_eq_cstr(u.host, "[2001:db8::10]"));
		assert_true(u.has_port && u.port == 5070);
	} else if (strcmp(name, "via-received-param-with-delim") == 0) {
		assert_true(cpm_str_eq_cstr(m->via.received, "[2001:db8::9:255]"));
	} else if (strcmp(name, "via-received-param-no-delim") == 0) {
		assert_true(cpm_str_eq_cstr(m->via.received, "2001:db8::9:255"));
	} else if (strcmp(name, "mult-ip-in-header") == 0) {
		const char *hosts[] = { "[2001:db8::9:1]", "192.0.2.1", "[2001:db8::9:255]" };
		size_t n = 0;
		for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(m, CPM_SIP_H_VIA); h;
		     h = cpm_sip_msg_hdr_next(m, h), n++) {
			struct cpm_str cur = h->value;
			struct cpm_sip_via v;
			assert_int_equal(cpm_sip_via_next(&cur, &v), 1);
			assert_true(n < 3 && cpm_str_eq_cstr(v.host, hosts[n]));
			if (n == 2)
				assert_true(cpm_str_eq_cstr(v.received, "192.0.2.200"));
		}
		assert_int_equal(n, 3);
		assert_int_equal(m->via.port, 6050);
	} else if (strcmp(name, "ipv4-mapped-ipv6") == 0) {
		assert_int_equal(m->via.port, 19823);
		assert_true(m->via.host.len > 2 && m->via.host.s[0] == '[');
	} else if (strcmp(name, "ipv6-good") == 0) {
		assert_int_equal(cpm_sip_uri_parse(m->ruri, &u), 0);
		assert_true(u.host_is_ipv6);
	}
}

static void test_rfc5118(void **state)
{
	(void)state;
	char path[4600];
	snprintf(path, sizeof path, "%s/rfc5118/MANIFEST.md", corpus);
	size_t mlen;
	char *md = slurp(path, &mlen);
	char *text = malloc(mlen + 1);
	memcpy(text, md, mlen);
	text[mlen] = '\0';
	free(md);
	size_t ran = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		/* | name | § | Expected | */
		char name[128], sect[16], exp[2048];
		if (sscanf(line, "| %127[a-z0-9-] | %15[0-9.] | %2047[^\n]", name, sect, exp) != 3)
			continue;
		bool invalid = strstr(exp, "INVALID") != NULL;
		bool tolerate = strncmp(exp, "TOLERATE", 8) == 0;
		assert_true(invalid || tolerate || strncmp(exp, "VALID", 5) == 0);
		int want = invalid ? 400 : 0;
		for (size_t i = 0; i < sizeof v6_deviation / sizeof v6_deviation[0]; i++) {
			char f[160];
			snprintf(f, sizeof f, "%s.sip", name);
			if (strcmp(v6_deviation[i].file, f) == 0) {
				assert_true(tolerate);
				want = v6_deviation[i].status;
			}
		}
		snprintf(path, sizeof path, "%s/rfc5118/%s.sip", corpus, name);
		size_t len;
		char *buf = slurp(path, &len);
		int rc = cpm_sip_msg_parse(&msg, buf, len, CPM_SIP_DATAGRAM, NULL);
		if (want == 0 && rc != 0)
			fail_msg("%s: rejected %d %s", name, msg.err_status, msg.err_reason);
		if (want != 0 && (rc == 0 || msg.err_status != want))
			fail_msg("%s: expected %d, got rc %d status %d", name, want, rc,
				 msg.err_status);
		if (rc == 0) {
			check_5118(name, &msg);
			exercise(name, &msg);
		}
		free(buf);

		/* the LF-only variant: same verdict unless tabled */
		int lwant = want;
		for (size_t i = 0; i < sizeof lf_differs / sizeof lf_differs[0]; i++)
			if (strcmp(lf_differs[i].file, name) == 0)
				lwant = lf_differs[i].status;
		snprintf(path, sizeof path, "%s/rfc5118/lf/%s", corpus, name);
		buf = slurp(path, &len);
		rc = cpm_sip_msg_parse(&msg, buf, len, CPM_SIP_DATAGRAM, NULL);
		if (lwant == 0 && rc != 0)
			fail_msg("lf/%s: rejected %d %s", name, msg.err_status, msg.err_reason);
		if (lwant != 0 && (rc == 0 || msg.err_status != lwant))
			fail_msg("lf/%s: expected %d, got %d", name, lwant, msg.err_status);
		if (rc == 0)
			check_5118(name, &msg);
		free(buf);
		ran++;
	}
	free(text);
	assert_int_equal(ran, 12);
}

static int setup(void **state)
{
	(void)state;
	if (!find_corpus()) {
		fprintf(stderr, "shared/corpus not found (set CPM_CORPUS_DIR)\n");
		return -1;
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4475),
		cmocka_unit_test(test_rfc5118),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
