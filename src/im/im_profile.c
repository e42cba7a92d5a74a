/* Recipient profiles and classes (R111, R42, R33, R29; issue 3 "What
 * decides a message's fate" §2–3), from the strings `cpmd user set` and
 * the [class.NAME] config sections will pass. */
#include "im/im.h"

#include <stdarg.h>
#include <string.h>

static void seterr(char *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void seterr(char *err, const char *fmt, ...)
{
	if (!err)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, CPM_IM_ERR_MAX, fmt, ap);
	va_end(ap);
}

/* Peer- or user-supplied text in an error message: at most 40 bytes. */
#define SHOW(x) (int)((x).len > 40 ? 40 : (x).len), (x).s

/* token (RFC 3261 §25.1) */
static bool is_token(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("-.!%*_+`'~", c) != NULL;
}

static bool all_token(struct cpm_str s)
{
	if (s.len == 0)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (!is_token(s.s[i]))
			return false;
	return true;
}

void cpm_im_profile_default(struct cpm_im_profile *p)
{
	memset(p, 0, sizeof *p);
	p->mode = CPM_IM_SF_YES;
	strcpy(p->class_name, "default");
}

void cpm_im_class_default(struct cpm_im_class *c)
{
	memset(c, 0, sizeof *c);
	c->storage = true;
	c->max_messages = 1000;
	c->max_bytes = 10u << 20;
	c->max_lifetime = 0; /* limits.default_lifetime */
}

void cpm_im_limits_default(struct cpm_im_limits *l)
{
	memset(l, 0, sizeof *l);
	l->max_inline_size = 1300;
	l->default_lifetime = 7 * 86400;
	l->quota_bytes_status = 507;
}

/* -------------------------------------------------------- forward targets */

/* mailto: with one addr-spec (RFC 6068 §2, RFC 5322 §3.4.1), no hfields:
 * the message becomes one mail to one mailbox. */
static int mailto_check(struct cpm_str t, char *err)
{
	struct cpm_str a = { t.s + 7, t.len - 7 };
	for (size_t i = 0; i < a.len; i++) {
		unsigned char c = (unsigned char)a.s[i];
		if (c <= ' ' || c >= 0x7f || c == ',' || c == '?' || c == '<' || c == '>') {
			seterr(err, "store-and-forward: mailto: needs one plain "
				    "address, no '%c' (offset %zu)",
			       c > ' ' && c < 0x7f ? c : '?', i + 7);
			return CPM_EPARSE;
		}
	}
	long at = -1;
	for (size_t i = 0; i < a.len; i++)
		if (a.s[i] == '@')
			at = (long)i;
	if (at <= 0 || (size_t)at + 1 >= a.len) {
		seterr(err, "store-and-forward: mailto: address \"%.*s\" is not local@domain",
		       SHOW(a));
		return CPM_EPARSE;
	}
	struct cpm_str dom = { a.s + at + 1, a.len - (size_t)at - 1 };
	if (dom.s[0] == '.' || dom.s[dom.len - 1] == '.') {
		seterr(err, "store-and-forward: mailto: bad domain \"%.*s\"", SHOW(dom));
		return CPM_EPARSE;
	}
	for (size_t i = 0; i < dom.len; i++) {
		char c = dom.s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '.')) {
			seterr(err, "store-and-forward: mailto: bad domain \"%.*s\"",
			       SHOW(dom));
			return CPM_EPARSE;
		}
	}
	return 0;
}

static int target_check(struct cpm_str t, char *err)
{
	if (t.len == 0) {
		seterr(err, "store-and-forward: forward: needs a URI (forward:sip:user@host "
			    "or forward:mailto:user@domain)");
		return CPM_EINVAL;
	}
	if (t.len >= CPM_IM_TARGET_MAX) {
		seterr(err, "store-and-forward: forward target longer than %d bytes",
		       CPM_IM_TARGET_MAX - 1);
		return CPM_ETOOBIG;
	}
	if (cpm_str_istarts(t, "mailto:"))
		return mailto_check(t, err);
	if (cpm_str_istarts(t, "sip:") || cpm_str_istarts(t, "sips:")) {
		struct cpm_sip_uri u;
		if (cpm_sip_uri_parse(t, &u) < 0) {
			seterr(err, "store-and-forward: malformed SIP URI \"%.*s\"", SHOW(t));
			return CPM_EPARSE;
		}
		if (u.headers.len) {
			seterr(err, "store-and-forward: forward URI must not carry ?headers");
			return CPM_EPARSE;
		}
		return 0;
	}
	long colon = cpm_str_chr(t, ':');
	if (colon > 0) {
		seterr(err, "store-and-forward: forward target scheme \"%.*s:\" is not "
			    "sip:, sips: or mailto:", (int)(colon > 20 ? 20 : colon), t.s);
		return CPM_ESCHEME;
	}
	seterr(err, "store-and-forward: forward target \"%.*s\" has no scheme "
		    "(sip:, sips: or mailto:)", SHOW(t));
	return CPM_EPARSE;
}

int cpm_im_sf_parse(struct cpm_str v, struct cpm_im_profile *p, char *err)
{
	v = cpm_str_trim(v);
	enum cpm_im_sf_mode mode;
	if (cpm_str_ieq_cstr(v, "no")) {
		mode = CPM_IM_SF_NO;
	} else if (cpm_str_ieq_cstr(v, "yes")) {
		mode = CPM_IM_SF_YES;
	} else if (cpm_str_ieq_cstr(v, "notify")) {
		mode = CPM_IM_SF_NOTIFY;
	} else if (cpm_str_istarts(v, "forward:")) {
		struct cpm_str t = cpm_str_trim((struct cpm_str){ v.s + 8, v.len - 8 });
		int rc = target_check(t, err);
		if (rc < 0)
			return rc;
		p->mode = CPM_IM_SF_FORWARD;
		memset(p->target, 0, sizeof p->target);
		memcpy(p->target, t.s, t.len);
		return 0;
	} else {
		seterr(err, "store-and-forward: \"%.*s\" is not no, yes, notify or "
			    "forward:<uri>", SHOW(v));
		return CPM_EINVAL;
	}
	p->mode = mode;
	memset(p->target, 0, sizeof p->target);
	return 0;
}

/* ---------------------------------------------------------------- accepts */

/* media-range = ("*" "/" "*") / (m-type "/" "*") / (m-type "/" m-subtype)
 * (RFC 3261 §20.1).  Parameters (";q=0.5") are allowed and dropped. */
int cpm_im_accepts_parse(struct cpm_str v, struct cpm_im_profile *p, char *err)
{
	char tmp[CPM_IM_ACCEPTS_MAX][CPM_IM_TYPE_MAX];
	memset(tmp, 0, sizeof tmp); /* profiles compare with memcmp */
	unsigned n = 0;
	struct cpm_str cur = v, it;
	while (cpm_sip_list_next(&cur, &it) == 1) {
		long semi = cpm_str_chr(it, ';');
		if (semi >= 0)
			it = cpm_str_trim((struct cpm_str){ it.s, (size_t)semi });
		long sl = cpm_str_chr(it, '/');
		struct cpm_str ty = { it.s, sl > 0 ? (size_t)sl : 0 };
		struct cpm_str sub = { sl >= 0 ? it.s + sl + 1 : it.s,
				       sl >= 0 ? it.len - (size_t)sl - 1 : 0 };
		bool ok = sl > 0 && all_token(ty) && all_token(sub);
		bool star_ty = cpm_str_eq_cstr(ty, "*"), star_sub = cpm_str_eq_cstr(sub, "*");
		if (ok && (star_ty && !star_sub))
			ok = false;
		if (ok && ((!star_ty && cpm_str_chr(ty, '*') >= 0) ||
			   (!star_sub && cpm_str_chr(sub, '*') >= 0)))
			ok = false;
		if (!ok) {
			seterr(err, "accepts: item %u \"%.*s\" is not type/subtype, "
				    "type/* or */* (e.g. image/jpeg)", n + 1, SHOW(it));
			return CPM_EPARSE;
		}
		if (n == CPM_IM_ACCEPTS_MAX) {
			seterr(err, "accepts: more than %d types", CPM_IM_ACCEPTS_MAX);
			return CPM_ELIMIT;
		}
		if (it.len >= CPM_IM_TYPE_MAX) {
			seterr(err, "accepts: item %u longer than %d bytes", n + 1,
			       CPM_IM_TYPE_MAX - 1);
			return CPM_ETOOBIG;
		}
		for (size_t i = 0; i < it.len; i++) {
			char c = it.s[i];
			tmp[n][i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
		}
		tmp[n][it.len] = '\0';
		n++;
	}
	if (n == 0) {
		seterr(err, "accepts: empty list (*/* accepts everything)");
		return CPM_EINVAL;
	}
	/* a list with any/any accepts everything: the same profile as none
	 * (the default), however it is written */
	for (unsigned i = 0; i < n; i++)
		if (strcmp(tmp[i], "*/*") == 0) {
			memset(tmp, 0, sizeof tmp);
			n = 0;
			break;
		}
	memcpy(p->accepts, tmp, sizeof tmp);
	p->naccepts = n;
	return 0;
}

bool cpm_im_accepts(const struct cpm_im_profile *p, struct cpm_str content_type)
{
	long semi = cpm_str_chr(content_type, ';');
	if (semi >= 0)
		content_type.len = (size_t)semi;
	content_type = cpm_str_trim(content_type);
	if (content_type.len == 0 || p->naccepts == 0)
		return true;
	long sl = cpm_str_chr(content_type, '/');
	if (sl <= 0)
		return false;
	struct cpm_str ty = { content_type.s, (size_t)sl };
	for (unsigned i = 0; i < p->naccepts; i++) {
		struct cpm_str pat = cpm_str_from_cstr(p->accepts[i]);
		if (cpm_str_eq_cstr(pat, "*/*"))
			return true;
		if (pat.len == (size_t)sl + 2 && pat.s[sl] == '/' && pat.s[sl + 1] == '*' &&
		    cpm_str_ieq((struct cpm_str){ pat.s, (size_t)sl }, ty))
			return true;
		if (cpm_str_ieq(pat, content_type))
			return true;
	}
	return false;
}

int cpm_im_accept_header(const struct cpm_im_profile *p, struct cpm_buf *b)
{
	if (p->naccepts == 0)
		return cpm_buf_puts(b, "*/*");
	for (unsigned i = 0; i < p->naccepts; i++) {
		int rc = cpm_buf_puts(b, i ? ", " : "");
		if (rc == 0)
			rc = cpm_buf_puts(b, p->accepts[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ------------------------------------------------------------- key=value */

static int class_name_set(struct cpm_str v, struct cpm_im_profile *p, char *err)
{
	v = cpm_str_trim(v);
	if (v.len == 0 || v.len >= CPM_IM_NAME_MAX) {
		seterr(err, "class: name must have 1 to %d characters", CPM_IM_NAME_MAX - 1);
		return v.len ? CPM_ETOOBIG : CPM_EINVAL;
	}
	for (size_t i = 0; i < v.len; i++) {
		char c = v.s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_')) {
			seterr(err, "class: \"%.*s\": only letters, digits, '-' and '_'",
			       SHOW(v));
			return CPM_EINVAL;
		}
	}
	memset(p->class_name, 0, sizeof p->class_name);
	memcpy(p->class_name, v.s, v.len);
	return 0;
}

int cpm_im_profile_set(struct cpm_im_profile *p, const char *kv, char *err)
{
	if (!p || !kv) {
		seterr(err, "no profile or no key=value");
		return CPM_EINVAL;
	}
	struct cpm_str s = cpm_str_from_cstr(kv);
	long eq = cpm_str_chr(s, '=');
	if (eq < 0) {
		seterr(err, "\"%.*s\": expected key=value", SHOW(s));
		return CPM_EINVAL;
	}
	struct cpm_str key = cpm_str_trim((struct cpm_str){ s.s, (size_t)eq });
	struct cpm_str val = { s.s + eq + 1, s.len - (size_t)eq - 1 };
	struct cpm_im_profile tmp = *p;
	int rc;
	if (cpm_str_ieq_cstr(key, "store-and-forward"))
		rc = cpm_im_sf_parse(val, &tmp, err);
	else if (cpm_str_ieq_cstr(key, "accepts"))
		rc = cpm_im_accepts_parse(val, &tmp, err);
	else if (cpm_str_ieq_cstr(key, "class"))
		rc = class_name_set(val, &tmp, err);
	else {
		seterr(err, "unknown key \"%.*s\" (store-and-forward, accepts, class)",
		       SHOW(key));
		return CPM_EINVAL;
	}
	if (rc == 0)
		*p = tmp;
	return rc;
}

int cpm_im_profile_format(const struct cpm_im_profile *p, struct cpm_buf *b)
{
	static const char *const modes[] = { "no", "yes", "notify", "forward:" };
	int rc = cpm_buf_printf(b, "store-and-forward=%s%s\naccepts=",
				modes[p->mode], p->mode == CPM_IM_SF_FORWARD ? p->target : "");
	if (rc == 0)
		rc = cpm_im_accept_header(p, b);
	if (rc == 0)
		rc = cpm_buf_printf(b, "\nclass=%s\n", p->class_name);
	return rc;
}

/* ------------------------------------------------------------------ class */

/* N with an optional unit: mult[] gives each suffix letter's factor. */
static int num_unit(const char *key, struct cpm_str v, const char *units,
		    const uint64_t *mult, uint64_t max, uint64_t *out, char *err)
{
	v = cpm_str_trim(v);
	uint64_t f = 1;
	if (v.len && !(v.s[v.len - 1] >= '0' && v.s[v.len - 1] <= '9')) {
		const char *u = units ? strchr(units, v.s[v.len - 1] | 0x20) : NULL;
		if (!u || !*u) {
			seterr(err, "%s: \"%.*s\": unknown unit", key, SHOW(v));
			return CPM_EINVAL;
		}
		f = mult[u - units];
		v.len--;
	}
	uint64_t n;
	int rc = cpm_str_to_u64(v, UINT64_MAX, &n);
	if (rc < 0) {
		seterr(err, "%s: \"%.*s\" is not a number", key, SHOW(v));
		return rc == CPM_ERANGE ? CPM_ERANGE : CPM_EINVAL;
	}
	if (n > max / f) {
		seterr(err, "%s: value out of range", key);
		return CPM_ERANGE;
	}
	*out = n * f;
	return 0;
}

int cpm_im_class_set(struct cpm_im_class *c, const char *key, const char *value,
		     char *err)
{
	if (!c || !key || !value) {
		seterr(err, "no class, key or value");
		return CPM_EINVAL;
	}
	struct cpm_str v = cpm_str_trim(cpm_str_from_cstr(value));
	static const uint64_t bytes_m[] = { 1024, 1024 * 1024, 1024 * 1024 * 1024 };
	static const uint64_t secs_m[] = { 1, 60, 3600, 86400, 604800 };
	uint64_t n;
	int rc;
	if (strcmp(key, "storage") == 0) {
		if (cpm_str_ieq_cstr(v, "yes") || cpm_str_ieq_cstr(v, "on") ||
		    cpm_str_ieq_cstr(v, "true") || cpm_str_eq_cstr(v, "1")) {
			c->storage = true;
		} else if (cpm_str_ieq_cstr(v, "no") || cpm_str_ieq_cstr(v, "off") ||
			   cpm_str_ieq_cstr(v, "false") || cpm_str_eq_cstr(v, "0")) {
			c->storage = false;
		} else {
			seterr(err, "storage: \"%.*s\" is not yes or no", SHOW(v));
			return CPM_EINVAL;
		}
		return 0;
	}
	if (strcmp(key, "max_messages") == 0) {
		rc = num_unit(key, v, NULL, NULL, UINT64_MAX, &n, err);
		if (rc == 0)
			c->max_messages = n;
		return rc;
	}
	if (strcmp(key, "max_bytes") == 0) {
		rc = num_unit(key, v, "kmg", bytes_m, UINT64_MAX, &n, err);
		if (rc == 0)
			c->max_bytes = n;
		return rc;
	}
	if (strcmp(key, "max_lifetime") == 0) {
		rc = num_unit(key, v, "smhdw", secs_m, INT64_MAX, &n, err);
		if (rc == 0)
			c->max_lifetime = (int64_t)n;
		return rc;
	}
	seterr(err, "unknown class key \"%s\" (storage, max_messages, max_bytes, "
		    "max_lifetime)", key);
	return CPM_EINVAL;
}

int cpm_im_profile_parse(struct cpm_im_profile *p, const char *text, char *err)
{
	cpm_im_profile_default(p);
	const char *line = text;
	while (*line) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);
		char kv[4096];
		if (n >= sizeof kv) {
			snprintf(err, CPM_IM_ERR_MAX, "profile line too long");
			return CPM_ETOOBIG;
		}
		memcpy(kv, line, n);
		kv[n] = '\0';
		if (n) {
			int rc = cpm_im_profile_set(p, kv, err);
			if (rc)
				return rc;
		}
		line += n + (end ? 1 : 0);
	}
	return 0;
}
