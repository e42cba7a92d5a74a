/* cli — cpm inbox and cpm fetch: the waiting messages over the server's
 * HTTP API (GET /api/v1/users/{aor}/messages, GET /m/{id}), and the small
 * JSON reader for the list (RFC 8259). */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------ JSON reader */

#define JSON_MAX_DEPTH 64

struct jp {
	const char *p, *end;
	int depth;
};

static void jp_ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
				 *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

/* Skip white space, then take c if it is next. */
static bool jp_take(struct jp *j, char c)
{
	jp_ws(j);
	if (j->p < j->end && *j->p == c) {
		j->p++;
		return true;
	}
	return false;
}

static bool jp_lit(struct jp *j, const char *lit)
{
	size_t n = strlen(lit);
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
		return false;
	j->p += n;
	return true;
}

static int jp_hex4(struct jp *j, unsigned *v)
{
	*v = 0;
	if (j->end - j->p < 4)
		return CPM_EPARSE;
	for (int i = 0; i < 4; i++) {
		char c = *j->p++;
		int d = c >= '0' && c <= '9' ? c - '0' :
			c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return CPM_EPARSE;
		*v = *v * 16 + (unsigned)d;
	}
	return 0;
}

/* Length of a valid UTF-8 sequence at s (RFC 3629), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	size_t n = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 :
		   c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
	if (n == 0 || n > avail)
		return 0;
	for (size_t k = 1; k < n; k++)
		if ((s[k] & 0xc0) != 0x80)
			return 0;
	/* overlong forms, surrogates and values above U+10FFFF */
	if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) ||
	    (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
		return 0;
	return n;
}

/* A string (the opening quote next); decoded into out, or skipped when out
 * is NULL.  No NUL characters (the fields are C strings). */
static int jp_string(struct jp *j, struct cpm_buf *out)
{
	if (!jp_take(j, '"'))
		return CPM_EPARSE;
	if (out)
		cpm_buf_reset(out);
	while (j->p < j->end) {
		unsigned char c = (unsigned char)*j->p;
		if (c == '"') {
			j->p++;
			return 0;
		}
		if (c < 0x20)
			return CPM_EPARSE;
		if (c != '\\') {
			size_t n = utf8_len((const unsigned char *)j->p,
					    (size_t)(j->end - j->p));
			if (n == 0)
				return CPM_EPARSE;
			if (out && cpm_buf_append(out, j->p, n))
				return CPM_ELIMIT;
			j->p += n;
			continue;
		}
		j->p++;
		if (j->p >= j->end)
			return CPM_EPARSE;
		char e = *j->p++, lit = 0;
		switch (e) {
		case '"': lit = '"'; break;
		case '\\': lit = '\\'; break;
		case '/': lit = '/'; break;
		case 'b': lit = '\b'; break;
		case 'f': lit = '\f'; break;
		case 'n': lit = '\n'; break;
		case 'r': lit = '\r'; break;
		case 't': lit = '\t'; break;
		case 'u': {
			unsigned hi, lo;
			if (jp_hex4(j, &hi))
				return CPM_EPARSE;
			unsigned long cp = hi;
			if (hi >= 0xd800 && hi <= 0xdbff) {
				/* a surrogate pair (RFC 8259 §7) */
				if (!jp_lit(j, "\\u") || jp_hex4(j, &lo) ||
				    lo < 0xdc00 || lo > 0xdfff)
					return CPM_EPARSE;
				cp = 0x10000 + ((unsigned long)(hi - 0xd800) << 10) +
				     (lo - 0xdc00);
			} else if (hi >= 0xdc00 && hi <= 0xdfff) {
				return CPM_EPARSE;
			}
			if (cp == 0)
				return CPM_EPARSE;
			if (out && cpm_cli_utf8_put(out, cp))
				return CPM_ELIMIT;
			continue;
		}
		default:
			return CPM_EPARSE;
		}
		if (out && cpm_buf_append(out, &lit, 1))
			return CPM_ELIMIT;
	}
	return CPM_EPARSE;
}

/* number = [ "-" ] int [ frac ] [ exp ] (RFC 8259 §6).  *integer: it had
 * no fraction or exponent; *v its value when it fits. */
static int jp_number(struct jp *j, int64_t *v, bool *integer)
{
	const char *s = j->p;
	bool neg = jp_lit(j, "-");
	uint64_t x = 0;
	bool fits = true;
	if (j->p >= j->end || *j->p < '0' || *j->p > '9')
		return CPM_EPARSE;
	if (*j->p == '0') {
		j->p++;
	} else {
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
			unsigned d = (unsigned)(*j->p++ - '0');
			if (x > (UINT64_C(1) << 62) / 10)
				fits = false;
			x = x * 10 + d;
		}
	}
	*integer = true;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		*integer = false;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return CPM_EPARSE;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		*integer = false;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return CPM_EPARSE;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	if (!fits)
		*integer = false;
	*v = neg ? -(int64_t)x : (int64_t)x;
	return j->p > s ? 0 : CPM_EPARSE;
}

static int jp_skip(struct jp *j);

/* The members of an object or the elements of an array, skipped. */
static int jp_skip_container(struct jp *j, char close, bool object)
{
	if (++j->depth > JSON_MAX_DEPTH)
		return CPM_ELIMIT;
	if (jp_take(j, close)) {
		j->depth--;
		return 0;
	}
	for (;;) {
		if (object && (jp_string(j, NULL) || !jp_take(j, ':')))
			return CPM_EPARSE;
		int rc = jp_skip(j);
		if (rc)
			return rc;
		if (jp_take(j, close))
			break;
		if (!jp_take(j, ','))
			return CPM_EPARSE;
	}
	j->depth--;
	return 0;
}

/* Any value. */
static int jp_skip(struct jp *j)
{
	int64_t v;
	bool integer;
	jp_ws(j);
	if (j->p >= j->end)
		return CPM_EPARSE;
	switch (*j->p) {
	case '"':
		return jp_string(j, NULL);
	case '{':
		j->p++;
		return jp_skip_container(j, '}', true);
	case '[':
		j->p++;
		return jp_skip_container(j, ']', false);
	case 't':
		return jp_lit(j, "true") ? 0 : CPM_EPARSE;
	case 'f':
		return jp_lit(j, "false") ? 0 : CPM_EPARSE;
	case 'n':
		return jp_lit(j, "null") ? 0 : CPM_EPARSE;
	default:
		return jp_number(j, &v, &integer);
	}
}

/* The next member of an object whose '{' was taken: 1 with its key in key
 * (and the ':' taken), 0 at the closing '}'. */
static int jp_member(struct jp *j, bool *first, struct cpm_buf *key)
{
	if (jp_take(j, '}'))
		return 0;
	if (!*first && !jp_take(j, ','))
		return CPM_EPARSE;
	*first = false;
	jp_ws(j);
	int rc = jp_string(j, key);
	if (rc)
		return rc;
	return jp_take(j, ':') ? 1 : CPM_EPARSE;
}

/* A string or null (empty) into a fixed field; cut when must_fit is false,
 * CPM_ELIMIT otherwise. */
static int jp_field_str(struct jp *j, struct cpm_buf *tmp, char *dst,
			  size_t dstsz, bool must_fit)
{
	jp_ws(j);
	if (jp_lit(j, "null")) {
		dst[0] = '\0';
		return 0;
	}
	int rc = jp_string(j, tmp);
	if (rc)
		return rc;
	if (must_fit && tmp->len >= dstsz)
		return CPM_ELIMIT;
	cpm_cli_copy_cut(cpm_buf_str(tmp), dst, dstsz);
	return 0;
}

static int jp_field_bool(struct jp *j, bool *v)
{
	jp_ws(j);
	if (jp_lit(j, "true"))
		*v = true;
	else if (jp_lit(j, "false") || jp_lit(j, "null"))
		*v = false;
	else
		return CPM_EPARSE;
	return 0;
}

static int jp_field_uint(struct jp *j, int64_t *v)
{
	bool integer;
	jp_ws(j);
	int rc = jp_number(j, v, &integer);
	if (rc)
		return rc;
	return integer && *v >= 0 ? 0 : CPM_EPARSE;
}

/* One message object; on error, what names the offending key. */
static int inbox_msg_parse(struct jp *j, struct cpm_buf *tmp,
			   struct cpm_cli_inbox_msg *m, char *what, size_t whatsz)
{
	bool first = true, has_id = false;
	struct cpm_buf key;
	int rc;

	memset(m, 0, sizeof *m);
	what[0] = '\0';
	if (!jp_take(j, '{')) {
		snprintf(what, whatsz, "not an object");
		return CPM_EPARSE;
	}
	cpm_buf_init(&key, 4096);
	while ((rc = jp_member(j, &first, &key)) == 1) {
		struct cpm_str k = cpm_buf_str(&key);
		int64_t size;
		if (cpm_str_eq_cstr(k, "id")) {
			rc = jp_field_uint(j, &m->id);
			has_id = rc == 0;
		} else if (cpm_str_eq_cstr(k, "from")) {
			rc = jp_field_str(j, tmp, m->from, sizeof m->from, false);
		} else if (cpm_str_eq_cstr(k, "display")) {
			rc = jp_field_str(j, tmp, m->display, sizeof m->display, false);
		} else if (cpm_str_eq_cstr(k, "date")) {
			rc = jp_field_str(j, tmp, m->date, sizeof m->date, false);
		} else if (cpm_str_eq_cstr(k, "content_type")) {
			rc = jp_field_str(j, tmp, m->content_type,
					    sizeof m->content_type, false);
		} else if (cpm_str_eq_cstr(k, "size")) {
			rc = jp_field_uint(j, &size);
			m->size = (uint64_t)size;
		} else if (cpm_str_eq_cstr(k, "subject")) {
			rc = jp_field_str(j, tmp, m->subject, sizeof m->subject, false);
		} else if (cpm_str_eq_cstr(k, "deferred")) {
			rc = jp_field_bool(j, &m->deferred);
		} else if (cpm_str_eq_cstr(k, "pull")) {
			rc = jp_field_bool(j, &m->pull);
		} else if (cpm_str_eq_cstr(k, "url")) {
			rc = jp_field_str(j, tmp, m->url, sizeof m->url, true);
		} else {
			rc = jp_skip(j); /* a field of a later server version */
		}
		if (rc) {
			snprintf(what, whatsz, "bad value of \"%.60s\"", key.p);
			break;
		}
	}
	if (rc < 0 && !what[0])
		snprintf(what, whatsz, "malformed object");
	if (rc == 0 && !has_id) {
		snprintf(what, whatsz, "no \"id\"");
		rc = CPM_EPARSE;
	}
	cpm_buf_free(&key);
	return rc;
}

int cpm_cli_inbox_parse(struct cpm_str json, struct cpm_cli_inbox *out,
			char *err, size_t errsz)
{
	struct jp j = { json.s, json.s + json.len, 0 };
	struct cpm_buf key, tmp;
	bool first = true, has_list = false;
	size_t cap = 0;
	char what[100];
	int rc;

	memset(out, 0, sizeof *out);
	cpm_buf_init(&key, 4096);
	cpm_buf_init(&tmp, 4u << 20);
	if (!jp_take(&j, '{')) {
		snprintf(err, errsz, "not a JSON object");
		rc = CPM_EPARSE;
		goto out;
	}
	while ((rc = jp_member(&j, &first, &key)) == 1) {
		struct cpm_str k = cpm_buf_str(&key);
		if (cpm_str_eq_cstr(k, "aor")) {
			rc = jp_field_str(&j, &tmp, out->aor, sizeof out->aor, false);
		} else if (cpm_str_eq_cstr(k, "messages")) {
			if (has_list || !jp_take(&j, '[')) {
				snprintf(err, errsz, "\"messages\" is not a list");
				rc = CPM_EPARSE;
				goto out;
			}
			has_list = true;
			if (jp_take(&j, ']'))
				continue;
			do {
				if (out->n == CPM_CLI_INBOX_MAX) {
					snprintf(err, errsz, "more than %d messages",
						 CPM_CLI_INBOX_MAX);
					rc = CPM_ELIMIT;
					goto out;
				}
				if (out->n == cap) {
					size_t nc = cap ? cap * 2 : 16;
					void *p = realloc(out->msgs, nc * sizeof *out->msgs);
					if (!p) {
						snprintf(err, errsz, "out of memory");
						rc = CPM_ENOMEM;
						goto out;
					}
					out->msgs = p;
					cap = nc;
				}
				rc = inbox_msg_parse(&j, &tmp, &out->msgs[out->n],
						     what, sizeof what);
				if (rc) {
					snprintf(err, errsz, "message #%zu: %s",
						 out->n + 1, what);
					goto out;
				}
				out->n++;
			} while (jp_take(&j, ','));
			if (!jp_take(&j, ']')) {
				snprintf(err, errsz, "malformed \"messages\" list");
				rc = CPM_EPARSE;
				goto out;
			}
		} else {
			rc = jp_skip(&j);
		}
		if (rc) {
			snprintf(err, errsz, "bad value of \"%.60s\"", key.p);
			goto out;
		}
	}
	if (rc) {
		snprintf(err, errsz, "malformed JSON");
		goto out;
	}
	jp_ws(&j);
	if (j.p != j.end) {
		snprintf(err, errsz, "data after the JSON object");
		rc = CPM_EPARSE;
	} else if (!has_list) {
		snprintf(err, errsz, "no \"messages\" list");
		rc = CPM_EPARSE;
	}
out:
	cpm_buf_free(&key);
	cpm_buf_free(&tmp);
	if (rc) {
		cpm_cli_inbox_free(out);
		return rc == CPM_ENOMEM || rc == CPM_ELIMIT ? rc : CPM_EPARSE;
	}
	return 0;
}

void cpm_cli_inbox_free(struct cpm_cli_inbox *in)
{
	free(in->msgs);
	in->msgs = NULL;
	in->n = 0;
}

/* ------------------------------------------------------------------ table */

/* Code points of a UTF-8 string (continuation bytes not counted). */
static size_t text_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

/* Append s as a cell at most max code points wide, padded to width
 * (pad false: the last column), control characters as '?'. */
static void cell(struct cpm_buf *b, const char *s, size_t width, size_t max,
		 bool pad)
{
	size_t w = text_width(s), shown = 0;
	bool cut = w > max;
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if ((c & 0xc0) != 0x80) {
			if (cut && shown + 3 >= max)
				break;
			shown++;
		}
		char o = c < 0x20 || c == 0x7f ? '?' : (char)c;
		cpm_buf_append(b, &o, 1);
	}
	if (cut) {
		cpm_buf_puts(b, "...");
		shown += 3;
	}
	while (pad && shown++ < width + 2)
		cpm_buf_puts(b, " ");
}

struct inbox_row {
	char id[24], date[40], from[440], type[128], size[24], subject[256],
		flags[32];
};

static void inbox_row_fill(const struct cpm_cli_inbox_msg *m, struct inbox_row *r)
{
	snprintf(r->id, sizeof r->id, "%lld", (long long)m->id);
	snprintf(r->date, sizeof r->date, "%s", m->date[0] ? m->date : "-");
	char *t = strchr(r->date, 'T');
	if (t)
		*t = ' ';
	const char *addr = m->from;
	if (strncasecmp(addr, "sip:", 4) == 0)
		addr += 4;
	if (m->display[0])
		snprintf(r->from, sizeof r->from, "%s <%s>", m->display, addr);
	else
		snprintf(r->from, sizeof r->from, "%s", addr[0] ? addr : "-");
	snprintf(r->type, sizeof r->type, "%s", m->content_type[0] ? m->content_type : "-");
	snprintf(r->size, sizeof r->size, "%llu", (unsigned long long)m->size);
	snprintf(r->subject, sizeof r->subject, "%s", m->subject[0] ? m->subject : "-");
	snprintf(r->flags, sizeof r->flags, "%s%s%s", m->deferred ? "deferred" : "",
		 m->deferred && m->pull ? "," : "", m->pull ? "pull" : "");
	if (!r->flags[0])
		snprintf(r->flags, sizeof r->flags, "-");
}

void cpm_cli_inbox_print(FILE *f, const struct cpm_cli_inbox *in)
{
	static const char *const head[7] = { "ID", "DATE", "FROM", "TYPE",
					     "SIZE", "SUBJECT", "FLAGS" };
	static const size_t maxw[7] = { 20, 25, 40, 30, 12, 30, 20 };
	size_t w[7];
	struct inbox_row r;
	struct cpm_buf b;

	if (in->n == 0) {
		fprintf(f, "no messages waiting for %s\n", in->aor[0] ? in->aor : "you");
		return;
	}
	for (int c = 0; c < 7; c++)
		w[c] = strlen(head[c]);
	for (size_t i = 0; i < in->n; i++) {
		inbox_row_fill(&in->msgs[i], &r);
		const char *cols[7] = { r.id, r.date, r.from, r.type, r.size,
					r.subject, r.flags };
		for (int c = 0; c < 7; c++) {
			size_t cw = text_width(cols[c]);
			cw = cw > maxw[c] ? maxw[c] : cw;
			if (cw > w[c])
				w[c] = cw;
		}
	}
	cpm_buf_init(&b, 1 << 16);
	for (size_t i = 0; i <= in->n; i++) {
		const char *cols[7];
		if (i == 0) {
			memcpy(cols, head, sizeof cols);
		} else {
			inbox_row_fill(&in->msgs[i - 1], &r);
			const char *c7[7] = { r.id, r.date, r.from, r.type, r.size,
					      r.subject, r.flags };
			memcpy(cols, c7, sizeof cols);
		}
		cpm_buf_reset(&b);
		for (int c = 0; c < 7; c++)
			cell(&b, cols[c], w[c], maxw[c], c < 6);
		fprintf(f, "%s\n", b.p);
	}
	cpm_buf_free(&b);
	fprintf(f, "%zu message%s waiting for %s\n", in->n, in->n == 1 ? "" : "s",
		in->aor[0] ? in->aor : "you");
}

/* -------------------------------------------------------------- commands */

/* base's target (without its query) joined with rel ("api/v1/..."). */
int cpm_cli_url_join(const struct cpm_cli_url *base, const char *rel,
		    struct cpm_cli_url *out)
{
	*out = *base;
	size_t n = strcspn(base->target, "?");
	while (n > 0 && base->target[n - 1] == '/')
		n--;
	int w = snprintf(out->target, sizeof out->target, "%.*s/%s", (int)n,
			 base->target, rel);
	return w < 0 || (size_t)w >= sizeof out->target ? CPM_ETOOBIG : 0;
}

/* The user part of the AoR: the digest username (the stored HA1 is
 * computed from it). */
void cpm_cli_aor_user(const char *aor, char *out, size_t outsz)
{
	const char *at = strrchr(aor, '@');
	snprintf(out, outsz, "%.*s", at ? (int)(at - aor) : (int)strlen(aor), aor);
}

/* Explain a non-200 answer of the API; returns the exit code. */
int cpm_cli_http_failure(const struct cpm_cli_http *h, const struct cpm_cli_http_resp *r,
			const char *what)
{
	int st = r->status;
	if (st == 401 && !h->password)
		fprintf(stderr, "cpm: %s: authentication required: 401 %.*s (give --password or --password-file)\n",
			what, CPM_STR_FMT(r->reason));
	else if (st == 401 && h->sent_credentials)
		fprintf(stderr, "cpm: %s: authentication failed: 401 %.*s (check --user/--password)\n",
			what, CPM_STR_FMT(r->reason));
	else if (st == 401)
		fprintf(stderr, "cpm: %s: authentication failed: 401 %.*s (no supported digest challenge offered)\n",
			what, CPM_STR_FMT(r->reason));
	else
		fprintf(stderr, "cpm: %s: %d %.*s\n", what, st, CPM_STR_FMT(r->reason));
	return CPM_CLI_EXIT_FAIL;
}

int cpm_cli_cmd_inbox(const struct cpm_cli_args *a)
{
	struct cpm_cli_url base, u;
	struct cpm_cli_http h;
	struct cpm_buf rel;
	const struct cpm_cli_http_resp *r;
	char user[256], err[200], what[300];
	int ex = CPM_CLI_EXIT_FAIL;

	if (!a->user[0]) {
		fprintf(stderr, "cpm: inbox needs your address: give --user AOR (e.g. alice@example.test) or set user in the config file\n");
		return CPM_CLI_EXIT_FAIL;
	}
	if (cpm_cli_http_base(a, &base))
		return CPM_CLI_EXIT_FAIL;
	cpm_buf_init(&rel, 4096);
	if (cpm_buf_puts(&rel, "api/v1/users/") ||
	    cpm_cli_url_put_segment(&rel, a->user) ||
	    cpm_buf_puts(&rel, "/messages") || cpm_cli_url_join(&base, rel.p, &u)) {
		fprintf(stderr, "cpm: address too long for a URL\n");
		cpm_buf_free(&rel);
		return CPM_CLI_EXIT_FAIL;
	}
	cpm_buf_free(&rel);
	cpm_cli_aor_user(a->user, user, sizeof user);
	cpm_cli_http_init(&h, a, user);
	snprintf(what, sizeof what, "inbox of %s", a->user);
	if (cpm_cli_http_get(&h, &u, &r) != 0)
		goto out;
	if (r->status == 403) {
		fprintf(stderr, "cpm: %s: 403 %.*s (not your inbox)\n", what,
			CPM_STR_FMT(r->reason));
		goto out;
	}
	if (r->status == 404) {
		fprintf(stderr, "cpm: %s: 404 %.*s (no such user, or no inbox API at %s)\n",
			what, CPM_STR_FMT(r->reason), a->http[0] ? a->http : "the default URL");
		goto out;
	}
	if (r->status != 200) {
		ex = cpm_cli_http_failure(&h, r, what);
		goto out;
	}
	struct cpm_cli_inbox in;
	if (cpm_cli_inbox_parse(r->body, &in, err, sizeof err) != 0) {
		fprintf(stderr, "cpm: %s: unreadable answer: %s\n", what, err);
		goto out;
	}
	if (a->json) {
		/* the server's own document, checked above */
		fwrite(r->body.s, 1, r->body.len, stdout);
		if (!r->body.len || r->body.s[r->body.len - 1] != '\n')
			fputc('\n', stdout);
	} else {
		cpm_cli_inbox_print(stdout, &in);
	}
	cpm_cli_inbox_free(&in);
	ex = CPM_CLI_EXIT_OK;
out:
	fflush(stdout);
	cpm_cli_http_free(&h);
	return ex;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* A file name that does not exist yet: cpm-message-ID[-N]. */
static FILE *save_new(const char *id, char *name, size_t namesz)
{
	for (int i = 0; i < 100; i++) {
		if (i)
			snprintf(name, namesz, "cpm-message-%s-%d", id, i);
		else
			snprintf(name, namesz, "cpm-message-%s", id);
		int fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fdopen(fd, "wb");
		if (errno != EEXIST)
			return NULL;
	}
	return NULL;
}

static bool mime_is_text(struct cpm_str ct)
{
	struct cpm_str mime = CPM_STR_NULL, params;
	if (ct.len == 0)
		return true;
	cpm_sip_ctype_parse(ct, &mime, &params);
	return cpm_str_istarts(mime, "text/") ||
	       cpm_str_ieq_cstr(mime, "application/json") ||
	       cpm_str_ieq_cstr(mime, "message/cpim") ||
	       cpm_str_istarts(mime, "application/im-iscomposing") ||
	       cpm_str_ieq_cstr(mime, "message/imdn+xml");
}

static int fetch_write(const struct cpm_cli_args *a, const char *id,
		       const struct cpm_cli_http_resp *r)
{
	struct cpm_str ct = cpm_cli_http_hdr_get(r, "Content-Type");
	struct cpm_str from = cpm_cli_http_hdr_get(r, "X-CPM-From");
	struct cpm_str date = cpm_cli_http_hdr_get(r, "X-CPM-Date");
	struct cpm_str body = r->body;
	char name[600];
	FILE *f = stdout;
	bool to_file = a->output && strcmp(a->output, "-") != 0;

	if (!date.len)
		date = cpm_cli_http_hdr_get(r, "Date");
	if (to_file) {
		snprintf(name, sizeof name, "%s", a->output);
		f = fopen(name, "wb");
	} else if (!mime_is_text(ct) && isatty(STDOUT_FILENO)) {
		/* the server has marked it delivered: keep it rather than
		 * write binary data to a terminal */
		f = save_new(id, name, sizeof name);
		to_file = true;
	} else {
		/* on standard output, the content of a message/cpim (RFC
		 * 3862) body, as listen shows it; -o keeps the body as is */
		struct cpm_str mime = CPM_STR_NULL, params, ict, inner;
		if (ct.len && cpm_sip_ctype_parse(ct, &mime, &params) == 0 &&
		    cpm_str_ieq_cstr(mime, "message/cpim") &&
		    cpm_cli_cpim_unwrap(body, &ict, &inner) && mime_is_text(ict))
			body = inner;
	}
	if (!f) {
		fprintf(stderr, "cpm: cannot write '%s': %s\n", name, strerror(errno));
		return CPM_CLI_EXIT_FAIL;
	}
	size_t n = body.len ? fwrite(body.s, 1, body.len, f) : 0;
	bool ok = n == body.len;
	if (!to_file && isatty(STDOUT_FILENO) && body.len && body.s[body.len - 1] != '\n')
		fputc('\n', f);
	if (to_file)
		ok = fclose(f) == 0 && ok;
	else
		ok = fflush(f) == 0 && ok;
	if (!ok) {
		fprintf(stderr, "cpm: cannot write '%s': %s\n", to_file ? name : "stdout",
			strerror(errno));
		return CPM_CLI_EXIT_FAIL;
	}
	if (to_file) {
		printf("saved %zu bytes (%.*s) from %.*s, sent %.*s, to %s\n", body.len,
		       CPM_STR_FMT(ct.len ? ct : CPM_STR("no type")),
		       CPM_STR_FMT(from.len ? from : CPM_STR("?")),
		       CPM_STR_FMT(date.len ? date : CPM_STR("?")), name);
		fflush(stdout);
	}
	return CPM_CLI_EXIT_OK;
}

int cpm_cli_cmd_fetch(const struct cpm_cli_args *a)
{
	struct cpm_cli_url u;
	struct cpm_cli_http h;
	const struct cpm_cli_http_resp *r;
	const char *arg = a->pos[0];
	char user[256] = "", id[64], what[128];
	int ex = CPM_CLI_EXIT_FAIL;

	if (all_digits(arg)) {
		struct cpm_cli_url base;
		char rel[96];
		if (strlen(arg) > 18) {
			fprintf(stderr, "cpm: bad message id '%s'\n", arg);
			return CPM_CLI_EXIT_FAIL;
		}
		if (cpm_cli_http_base(a, &base))
			return CPM_CLI_EXIT_FAIL;
		snprintf(rel, sizeof rel, "m/%s", arg);
		if (cpm_cli_url_join(&base, rel, &u)) {
			fprintf(stderr, "cpm: HTTP URL too long\n");
			return CPM_CLI_EXIT_FAIL;
		}
		snprintf(id, sizeof id, "%s", arg);
	} else {
		int rc = cpm_cli_url_parse(arg, &u);
		if (rc) {
			fprintf(stderr, "cpm: bad message id or URL '%s'%s\n", arg,
				rc == CPM_ESCHEME ? " (only http:// is supported)" : "");
			return CPM_CLI_EXIT_FAIL;
		}
		/* the id for messages: the last path segment */
		size_t tl = strcspn(u.target, "?");
		const char *slash = u.target;
		for (size_t i = 0; i < tl; i++)
			if (u.target[i] == '/')
				slash = u.target + i;
		snprintf(id, sizeof id, "%.*s", (int)(u.target + tl - slash - 1), slash + 1);
	}
	if (a->user[0])
		cpm_cli_aor_user(a->user, user, sizeof user);
	cpm_cli_http_init(&h, a, user);
	if (!a->user[0])
		h.password = NULL; /* no username to go with it */
	snprintf(what, sizeof what, "message %s", id);
	if (cpm_cli_http_get(&h, &u, &r) != 0)
		goto out;
	if (r->status == 200) {
		ex = fetch_write(a, id, r);
	} else if (r->status == 404) {
		fprintf(stderr, "cpm: %s: 404 %.*s (unknown, or already fetched)\n", what,
			CPM_STR_FMT(r->reason));
	} else if (r->status == 403) {
		fprintf(stderr, "cpm: %s: 403 %.*s (not yours)\n", what,
			CPM_STR_FMT(r->reason));
	} else if (r->status == 401 && !a->user[0]) {
		fprintf(stderr, "cpm: %s: authentication required (give --user and --password)\n",
			what);
	} else if (r->status == 401 && h.sent_credentials) {
		/* the server answers an unknown id like bad credentials, so
		 * that ids cannot be probed */
		fprintf(stderr, "cpm: %s: 401 %.*s (unknown message, not yours, or wrong --user/--password)\n",
			what, CPM_STR_FMT(r->reason));
	} else {
		ex = cpm_cli_http_failure(&h, r, what);
	}
out:
	cpm_cli_http_free(&h);
	return ex;
}

