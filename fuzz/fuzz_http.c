/* libFuzzer harness for the HTTP/1.1 request parser (src/http/http_parse.c,
 * pure: lib only).  The input is a byte stream of pipelined requests.  It is
 * parsed twice, all at once and fed in pieces (sizes from the input) into
 * a buffer that moves between calls; both runs must see the same requests
 * and end the same way.  Slices must lie inside the buffer.
 *
 * The Makefile's fuzz rule links lib and sip only, so the parser's source
 * is included here. */
#include <stdlib.h>
#include <string.h>

#include "http/http_parse.c"

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

#define MAX_REQS 64

struct seen {
	int n;
	int end_rc;     /* 0: incomplete tail, <0: the error */
	int end_status;
	size_t used[MAX_REQS];
	uint64_t sig[MAX_REQS]; /* hash of method, target, headers, body */
};

static uint64_t mix(uint64_t h, struct cpm_str s)
{
	for (size_t i = 0; i < s.len; i++)
		h = (h ^ (unsigned char)s.s[i]) * 1099511628211ull;
	return (h ^ s.len) * 1099511628211ull;
}

static bool inside(const char *buf, size_t len, struct cpm_str s)
{
	return s.len == 0 || (s.s >= buf && s.s + s.len <= buf + len);
}

static uint64_t check_req(const struct cpm_http_parser *p, const char *buf,
			  size_t len)
{
	const struct cpm_http_req *r = &p->req;
	CHECK(p->used > 0 && p->used <= len);
	CHECK(r->nhdrs <= CPM_HTTP_HDRS_CAP);
	CHECK(inside(buf, p->used, r->method) && r->method.len > 0);
	CHECK(inside(buf, p->used, r->target) && r->target.len > 0);
	CHECK(r->path.len == 0 || inside(buf, p->used, r->path) ||
	      cpm_str_eq_cstr(r->path, "/")); /* "http://h" → static "/" */
	CHECK(inside(buf, p->used, r->query));
	CHECK(inside(buf, p->used, r->body));
	CHECK(r->body.len == 0 || r->body.s + r->body.len == buf + p->used);
	CHECK(r->minor == 0 || r->minor == 1);
	for (size_t i = 0; i < r->target.len; i++)
		CHECK((unsigned char)r->target.s[i] > 0x20 &&
		      (unsigned char)r->target.s[i] < 0x7f);
	uint64_t h = 1469598103934665603ull;
	h = mix(h, r->method);
	h = mix(h, r->target);
	h = mix(h, r->path);
	h = mix(h, r->query);
	h = mix(h, r->body);
	for (unsigned i = 0; i < r->nhdrs; i++) {
		CHECK(inside(buf, p->used, r->hdrs[i].name));
		CHECK(inside(buf, p->used, r->hdrs[i].value));
		for (size_t k = 0; k < r->hdrs[i].value.len; k++) {
			char c = r->hdrs[i].value.s[k];
			CHECK(c != '\r' && c != '\n' && c != '\0');
		}
		h = mix(h, r->hdrs[i].name);
		h = mix(h, r->hdrs[i].value);
	}
	struct cpm_str v;
	cpm_http_req_header(r, "content-length", &v);
	cpm_http_req_header(r, "HOST", &v);
	h = (h ^ (uint64_t)r->keep_alive) * 31 + (uint64_t)r->minor;
	return h;
}

/* Parse data fed in pieces; piece sizes cycle through steps (0: all). */
static void run(const uint8_t *data, size_t size, const uint8_t *steps,
		size_t nsteps, const struct cpm_http_limits *lim, struct seen *out)
{
	memset(out, 0, sizeof *out);
	char *buf = NULL;
	size_t have = 0, fed = 0, si = 0;
	struct cpm_http_parser p;
	cpm_http_parser_init(&p);
	for (;;) {
		size_t step = nsteps ? (size_t)steps[si++ % nsteps] + 1 : size;
		size_t add = size - fed < step ? size - fed : step;
		/* a fresh allocation each time: the buffer moves */
		char *nb = malloc(have + add + 1);
		CHECK(nb != NULL);
		if (have)
			memcpy(nb, buf, have);
		if (add)
			memcpy(nb + have, data + fed, add);
		free(buf);
		buf = nb;
		have += add;
		fed += add;
		int rc;
		while ((rc = cpm_http_parse(&p, buf, have, lim)) == 1) {
			CHECK(out->n < MAX_REQS);
			out->sig[out->n] = check_req(&p, buf, have);
			out->used[out->n] = p.used;
			out->n++;
			memmove(buf, buf + p.used, have - p.used);
			have -= p.used;
			cpm_http_parser_init(&p);
			if (out->n == MAX_REQS)
				break;
		}
		if (rc < 0) {
			CHECK(p.status >= 400 && p.status <= 505 && p.reason);
			/* sticky */
			CHECK(cpm_http_parse(&p, buf, have, lim) == rc);
			out->end_rc = rc;
			out->end_status = p.status;
			break;
		}
		if (out->n == MAX_REQS || fed == size)
			break;
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cpm_http_limits lim;
	cpm_http_limits_default(&lim);
	if (size && (data[size - 1] & 0x81) == 0x81) {
		/* tight limits now and then, to reach 413/414/431 */
		lim.max_head = 32 + (data[size - 1] & 0x7e) * 4;
		lim.max_target = 8 + (data[size - 1] & 0x70);
		lim.max_headers = (data[size - 1] & 0x0e) / 2 + 1;
		lim.max_body = (data[size - 1] & 0x3e);
	}
	/* the first bytes, up to 4, give the piece sizes of the split run */
	uint8_t steps[4] = { 0, 0, 0, 0 };
	size_t ns = size < 4 ? size : 4;
	memcpy(steps, data, ns);
	for (size_t i = 0; i < ns; i++)
		steps[i] &= 0x3f;

	static struct seen whole, split;
	run(data, size, NULL, 0, &lim, &whole);
	if (ns)
		run(data, size, steps, ns, &lim, &split);
	else
		run(data, size, (const uint8_t[]){ 0 }, 1, &lim, &split);
	/* Same requests.  The split run may stop earlier only when the whole
	 * run hit MAX_REQS (not both reach the cap at the same byte). */
	CHECK(whole.n == split.n);
	for (int i = 0; i < whole.n; i++) {
		CHECK(whole.used[i] == split.used[i]);
		CHECK(whole.sig[i] == split.sig[i]);
	}
	if (whole.n < MAX_REQS) {
		CHECK(whole.end_rc == split.end_rc);
		CHECK(whole.end_status == split.end_status);
	}
	return 0;
}
