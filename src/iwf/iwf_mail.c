/* The e-mail interworking function, part 1: a stored SIP message becomes an
 * RFC 5322 / MIME message (iwf.h says what the mail looks like and why).
 * Pure: no I/O, no globals, no logging. */
#include "iwf/iwf.h"

#include "sip/sip.h"

#include <string.h>
#include <time.h>

#define LINE_MAX_SOFT 78  /* RFC 5322 §2.1.1: SHOULD, without the CRLF */
#define LINE_MAX_HARD 998 /* RFC 5322 §2.1.1: MUST */
#define EW_MAX 60	  /* an encoded-word, all of it (RFC 2047 §2: <= 75) */
#define WORD_MAX 70	  /* a longer unbroken word is encoded (foldable) */
#define MAX_PARTS 16	  /* parts of a multipart SIP body turned into mail */
#define NAME_MAX_LEN 64	  /* attachment file names */

static const char hexdig[] = "0123456789ABCDEF";

/* ------------------------------------------------------------- addresses */

static bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* RFC 5322 §3.2.3 atext */
static bool is_atext(unsigned char c)
{
	return is_alnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

static bool dot_atom(struct cpm_str s)
{
	if (s.len == 0 || s.s[0] == '.' || s.s[s.len - 1] == '.')
		return false;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.s[i];
		if (c == '.' ? s.s[i - 1] == '.' : !is_atext(c))
			return false;
	}
	return true;
}

/* RFC 5321 §4.1.2 Domain / address-literal (IPv4 or IPv6 forms only) */
static bool mail_domain(struct cpm_str d)
{
	if (d.len == 0 || d.len > 253)
		return false;
	if (d.s[0] == '[') {
		if (d.len < 3 || d.s[d.len - 1] != ']')
			return false;
		for (size_t i = 1; i + 1 < d.len; i++) {
			unsigned char c = (unsigned char)d.s[i];
			if (!is_alnum(c) && c != '.' && c != ':')
				return false;
		}
		return true;
	}
	size_t label = 0;
	for (size_t i = 0; i < d.len; i++) {
		unsigned char c = (unsigned char)d.s[i];
		if (c == '.') {
			if (label == 0 || d.s[i - 1] == '-')
				return false;
			label = 0;
		} else if (is_alnum(c) || (c == '-' && label > 0)) {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0 && d.s[d.len - 1] != '-';
}

static bool addr_valid_str(struct cpm_str a)
{
	long at = -1;
	for (size_t i = 0; i < a.len; i++)
		if (a.s[i] == '@')
			at = (long)i;
	if (at <= 0 || a.len > 254 || at > 64)
		return false;
	return dot_atom((struct cpm_str){ a.s, (size_t)at }) &&
	       mail_domain((struct cpm_str){ a.s + at + 1, a.len - (size_t)at - 1 });
}

bool cpm_iwf_addr_valid(const char *addr)
{
	return addr && addr_valid_str(cpm_str_from_cstr(addr));
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int cpm_iwf_mailto_parse(const char *uri, char *out, size_t outsz)
{
	if (!uri || !out || outsz == 0)
		return CPM_EADDR;
	struct cpm_str u = cpm_str_trim(cpm_str_from_cstr(uri));
	if (cpm_str_istarts(u, "mailto:")) {
		u.s += 7;
		u.len -= 7;
	}
	long q = cpm_str_chr(u, '?');
	if (q >= 0)
		u.len = (size_t)q;
	char tmp[CPM_IWF_ADDR_MAX + 1];
	size_t n = 0;
	for (size_t i = 0; i < u.len; i++) {
		char c = u.s[i];
		if (c == '%') {
			int h, l;
			if (i + 2 >= u.len || (h = hexval(u.s[i + 1])) < 0 ||
			    (l = hexval(u.s[i + 2])) < 0)
				return CPM_EADDR;
			c = (char)(h * 16 + l);
			i += 2;
		}
		if (n + 1 >= sizeof tmp)
			return CPM_EADDR;
		tmp[n++] = c;
	}
	tmp[n] = '\0';
	/* strlen: a %00 cuts the string, and the rest must not vanish */
	if (strlen(tmp) != n || !addr_valid_str((struct cpm_str){ tmp, n }))
		return CPM_EADDR;
	if (n + 1 > outsz)
		return CPM_ETOOBIG;
	memcpy(out, tmp, n + 1);
	return 0;
}

/* --------------------------------------------------------- text cleaning */

/* Length of the valid UTF-8 sequence at p (RFC 3629 §4), 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len;
	unsigned cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* A SIP-provided one-line value made safe for a header: control characters
 * (CR and LF included: no header injection) become spaces, runs of spaces
 * one space, both ends trimmed, invalid UTF-8 U+FFFD.  NUL-terminated. */
static int clean_line(struct cpm_str in, struct cpm_buf *out)
{
	const unsigned char *p = (const unsigned char *)in.s;
	bool space = true; /* drops leading spaces */
	for (size_t i = 0; i < in.len;) {
		size_t n = utf8_seq(p + i, in.len - i);
		int rc;
		if (n == 0) {
			rc = cpm_buf_append(out, "\xef\xbf\xbd", 3);
			n = 1;
			space = false;
		} else if (n == 1 && (p[i] < 0x20 || p[i] == 0x7f || p[i] == ' ')) {
			rc = space ? 0 : cpm_buf_append(out, " ", 1);
			space = true;
		} else {
			rc = cpm_buf_append(out, p + i, n);
			space = false;
		}
		if (rc)
			return rc;
		i += n;
	}
	if (out->len && out->p[out->len - 1] == ' ')
		out->p[--out->len] = '\0';
	return 0;
}

/* A display-name as written in SIP: the quoted-string form loses its quotes
 * and \-escapes (RFC 3261 §25.1), then clean_line. */
static int clean_display(const char *disp, struct cpm_buf *out)
{
	struct cpm_str d = cpm_str_trim(cpm_str_from_cstr(disp ? disp : ""));
	if (d.len < 2 || d.s[0] != '"' || d.s[d.len - 1] != '"')
		return clean_line(d, out);
	struct cpm_buf un;
	cpm_buf_init(&un, d.len + 1);
	int rc = 0;
	for (size_t i = 1; !rc && i + 1 < d.len; i++) {
		if (d.s[i] == '\\' && i + 2 < d.len)
			i++;
		rc = cpm_buf_append(&un, d.s + i, 1);
	}
	if (!rc)
		rc = clean_line(cpm_buf_str(&un), out);
	cpm_buf_free(&un);
	return rc;
}

/* ------------------------------------------------------------- headers */

/* Append one unfolded header line, folded before 78 columns at spaces
 * (RFC 5322 §2.2.3: CRLF is put before a WSP).  Never right after the
 * field name.  A longer word stays whole (our words are at most
 * WORD_MAX + a few octets, far below 998). */
static int fold_put(struct cpm_buf *out, struct cpm_str line)
{
	long colon = cpm_str_chr(line, ':');
	size_t start = 0, min = colon < 0 ? 0 : (size_t)colon + 2;
	int rc = 0;
	while (!rc && line.len - start > LINE_MAX_SOFT) {
		size_t brk = 0;
		for (size_t i = start + LINE_MAX_SOFT; i > start && i >= min; i--)
			if (line.s[i] == ' ') {
				brk = i;
				break;
			}
		if (brk == 0) { /* the first space after the long word */
			for (size_t i = start + LINE_MAX_SOFT + 1; i < line.len; i++)
				if (line.s[i] == ' ') {
					brk = i;
					break;
				}
			if (brk == 0)
				break;
		}
		rc = cpm_buf_append(out, line.s + start, brk - start);
		if (!rc)
			rc = cpm_buf_append(out, "\r\n", 2);
		start = brk;
	}
	if (!rc)
		rc = cpm_buf_append(out, line.s + start, line.len - start);
	return rc ? rc : cpm_buf_append(out, "\r\n", 2);
}

/* Does a cleaned value need RFC 2047 encoding: non-ASCII, something that
 * reads as an encoded-word, or a word too long to fold. */
static bool needs_ew(struct cpm_str v)
{
	size_t word = 0;
	for (size_t i = 0; i < v.len; i++) {
		unsigned char c = (unsigned char)v.s[i];
		if (c >= 0x80 || (c == '=' && i + 1 < v.len && v.s[i + 1] == '?'))
			return true;
		word = c == ' ' ? 0 : word + 1;
		if (word > WORD_MAX)
			return true;
	}
	return false;
}

/* RFC 2047 §4.2 "Q" with the §5(3) rule for phrases (the strictest, valid
 * in a Subject too): letters, digits, ! * + - / as they are, SP as '_',
 * everything else =XX.  Encoded-words of at most EW_MAX octets, never
 * splitting a UTF-8 character (§5), separated by one space (a fold point;
 * the space between two encoded-words is not displayed, §6.2). */
static int put_ew(struct cpm_buf *b, struct cpm_str v)
{
	static const char open[] = "=?UTF-8?Q?";
	const size_t room = EW_MAX - (sizeof open - 1) - 2;
	size_t used = 0;
	int rc = cpm_buf_puts(b, open);
	const unsigned char *p = (const unsigned char *)v.s;
	for (size_t i = 0; !rc && i < v.len;) {
		size_t n = utf8_seq(p + i, v.len - i);
		if (n == 0)
			n = 1; /* cleaned values have none; stay total */
		char enc[12];
		size_t el = 0;
		for (size_t k = 0; k < n; k++) {
			unsigned char c = p[i + k];
			if (is_alnum(c) || (c && strchr("!*+-/", c))) {
				enc[el++] = (char)c;
			} else if (c == ' ') {
				enc[el++] = '_';
			} else {
				enc[el++] = '=';
				enc[el++] = hexdig[c >> 4];
				enc[el++] = hexdig[c & 15];
			}
		}
		if (used + el > room) {
			rc = cpm_buf_puts(b, "?= ");
			if (!rc)
				rc = cpm_buf_puts(b, open);
			used = 0;
		}
		if (!rc)
			rc = cpm_buf_append(b, enc, el);
		used += el;
		i += n;
	}
	return rc ? rc : cpm_buf_puts(b, "?=");
}

/* An unstructured value (Subject): as it is, or encoded-words. */
static int put_text(struct cpm_buf *b, struct cpm_str v)
{
	return needs_ew(v) ? put_ew(b, v) : cpm_buf_append_str(b, v);
}

/* A phrase (display-name): a quoted-string (RFC 5322 §3.2.4), or
 * encoded-words, which may not stand inside quotes (RFC 2047 §5). */
static int put_phrase(struct cpm_buf *b, struct cpm_str v)
{
	if (needs_ew(v))
		return put_ew(b, v);
	int rc = cpm_buf_append(b, "\"", 1);
	for (size_t i = 0; !rc && i < v.len; i++) {
		if (v.s[i] == '"' || v.s[i] == '\\')
			rc = cpm_buf_append(b, "\\", 1);
		if (!rc)
			rc = cpm_buf_append(b, v.s + i, 1);
	}
	return rc ? rc : cpm_buf_append(b, "\"", 1);
}

/* "Name: " + [phrase SP] "<" addr ">" */
static int hdr_mailbox(struct cpm_buf *out, struct cpm_buf *line, const char *name,
		       struct cpm_str phrase, const char *addr)
{
	cpm_buf_reset(line);
	int rc = cpm_buf_printf(line, "%s: ", name);
	if (!rc && phrase.len) {
		rc = put_phrase(line, phrase);
		if (!rc)
			rc = cpm_buf_append(line, " ", 1);
	}
	if (!rc)
		rc = cpm_buf_printf(line, "<%s>", addr);
	return rc ? rc : fold_put(out, cpm_buf_str(line));
}

/* RFC 5322 §3.3 date-time in UTC, with English names whatever the locale. */
static int put_date(struct cpm_buf *b, int64_t when)
{
	static const char days[][4] = { "Sun", "Mon", "Tue", "Wed",
					 "Thu", "Fri", "Sat" };
	static const char months[][4] = { "Jan", "Feb", "Mar", "Apr",
					  "May", "Jun", "Jul", "Aug",
					  "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)when;
	struct tm tm;
	if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 1900 ||
	    tm.tm_year + 1900 > 9999) {
		t = 0;
		gmtime_r(&t, &tm);
	}
	return cpm_buf_printf(b, "%s, %02d %s %04d %02d:%02d:%02d +0000",
			      days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
			      tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* ------------------------------------------------------- body encodings */

enum cte { CTE_7BIT, CTE_QP, CTE_B64 };
static const char *const cte_names[] = { "7bit", "quoted-printable", "base64" };

/* Text in canonical form: every line break CRLF (RFC 2049 §4; bare CR or LF
 * included). */
static int crlf_text(struct cpm_str in, struct cpm_buf *out)
{
	int rc = 0;
	size_t run = 0;
	for (size_t i = 0; !rc && i < in.len; i++) {
		char c = in.s[i];
		if (c != '\r' && c != '\n')
			continue;
		rc = cpm_buf_append(out, in.s + run, i - run);
		if (!rc)
			rc = cpm_buf_append(out, "\r\n", 2);
		if (c == '\r' && i + 1 < in.len && in.s[i + 1] == '\n')
			i++;
		run = i + 1;
	}
	return rc ? rc : cpm_buf_append(out, in.s + run, in.len - run);
}

/* The transfer encoding of canonical text: 7bit when it is ASCII without
 * controls, lines <= 998 octets (RFC 5322 §2.1.1) and, inside a multipart,
 * no "=_" (our boundaries start with it); else quoted-printable, or base64
 * when more than a third would be escaped. */
static enum cte text_cte(struct cpm_str t, bool multipart)
{
	size_t esc = 0, line = 0, longest = 0;
	for (size_t i = 0; i < t.len; i++) {
		unsigned char c = (unsigned char)t.s[i];
		if (c == '\r' && i + 1 < t.len && t.s[i + 1] == '\n') {
			i++;
			line = 0;
			continue;
		}
		if (c >= 0x80 || (c < 0x20 && c != '\t') || c == 0x7f)
			esc++;
		if (++line > longest)
			longest = line;
	}
	if (esc * 3 > t.len)
		return CTE_B64;
	if (esc || longest > LINE_MAX_HARD)
		return CTE_QP;
	if (multipart && t.len >= 2 && memmem(t.s, t.len, "=_", 2))
		return CTE_QP;
	return CTE_7BIT;
}

/* RFC 2045 §6.7: lines of at most 76 characters with soft breaks "=",
 * '=' and octets outside 33..126 as =XX, spaces and tabs kept but for the
 * one before a line break; the input's CRLFs are the hard breaks. */
static int put_qp(struct cpm_buf *b, struct cpm_str t)
{
	size_t col = 0;
	int rc = 0;
	for (size_t i = 0; !rc && i < t.len; i++) {
		unsigned char c = (unsigned char)t.s[i];
		if (c == '\r' && i + 1 < t.len && t.s[i + 1] == '\n') {
			rc = cpm_buf_append(b, "\r\n", 2);
			i++;
			col = 0;
			continue;
		}
		bool eol = i + 1 == t.len ||
			   (t.s[i + 1] == '\r' && i + 2 < t.len && t.s[i + 2] == '\n');
		char enc[3];
		size_t el;
		if ((c >= 33 && c <= 126 && c != '=') ||
		    ((c == ' ' || c == '\t') && !eol)) {
			enc[0] = (char)c;
			el = 1;
		} else {
			enc[0] = '=';
			enc[1] = hexdig[c >> 4];
			enc[2] = hexdig[c & 15];
			el = 3;
		}
		/* keep room for the soft break '=' unless the line ends here */
		if (col + el > (eol ? 76u : 75u)) {
			rc = cpm_buf_append(b, "=\r\n", 3);
			col = 0;
		}
		if (!rc)
			rc = cpm_buf_append(b, enc, el);
		col += el;
	}
	return rc;
}

/* RFC 2045 §6.8: lines of 76 characters. */
static int put_b64(struct cpm_buf *b, struct cpm_str d)
{
	static const char al[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)d.s;
	int rc = cpm_buf_reserve(b, d.len / 57 * 78 + 80);
	for (size_t i = 0; !rc && i < d.len; i += 57) {
		char line[80];
		size_t n = 0, end = i + 57 < d.len ? i + 57 : d.len;
		for (size_t k = i; k < end; k += 3) {
			unsigned v = (unsigned)p[k] << 16;
			if (k + 1 < end)
				v |= (unsigned)p[k + 1] << 8;
			if (k + 2 < end)
				v |= p[k + 2];
			line[n++] = al[v >> 18];
			line[n++] = al[(v >> 12) & 63];
			line[n++] = k + 1 < end ? al[(v >> 6) & 63] : '=';
			line[n++] = k + 2 < end ? al[v & 63] : '=';
		}
		line[n++] = '\r';
		line[n++] = '\n';
		rc = cpm_buf_append(b, line, n);
	}
	return rc;
}

/* --------------------------------------------------------- content types */

/* RFC 2045 §5.1 token */
static bool token(struct cpm_str s, size_t max)
{
	if (s.len == 0 || s.len > max)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.s[i];
		if (c <= 0x20 || c >= 0x7f || strchr("()<>@,;:\\\"/[]?=", c))
			return false;
	}
	return true;
}

struct ctype {
	char mime[96];	  /* "type/subtype", lowercase; "" if bad */
	char charset[48]; /* the charset parameter, "" if none or bad */
	struct cpm_str params;
};

static void ctype_parse(struct cpm_str v, struct ctype *ct)
{
	memset(ct, 0, sizeof *ct);
	struct cpm_str mime, params;
	if (v.len == 0)
		v = CPM_STR("text/plain");
	if (cpm_sip_ctype_parse(v, &mime, &params) < 0)
		return;
	long slash = cpm_str_chr(mime, '/');
	if (slash <= 0 || mime.len >= sizeof ct->mime ||
	    !token((struct cpm_str){ mime.s, (size_t)slash }, 64) ||
	    !token((struct cpm_str){ mime.s + slash + 1, mime.len - (size_t)slash - 1 },
		   64))
		return;
	for (size_t i = 0; i < mime.len; i++) {
		char c = mime.s[i];
		ct->mime[i] = c >= 'A' && c <= 'Z' ? (char)(c | 0x20) : c;
	}
	ct->params = params;
	struct cpm_str cs;
	if (cpm_sip_param_find(params, "charset", &cs)) {
		cs = cpm_sip_unquote(cs);
		if (token(cs, sizeof ct->charset - 1))
			memcpy(ct->charset, cs.s, cs.len);
	}
}

static bool mime_is(const struct ctype *ct, const char *prefix)
{
	return strncmp(ct->mime, prefix, strlen(prefix)) == 0;
}

/* The next line of a header block (CRLF or LF), false at its end (an empty
 * line, consumed) or at the end of data (*ok false). */
static bool block_line(struct cpm_str *cur, struct cpm_str *line, bool *ok)
{
	long nl = cpm_str_chr(*cur, '\n');
	if (nl < 0) {
		*ok = false;
		return false;
	}
	*line = (struct cpm_str){ cur->s, (size_t)nl };
	if (line->len && line->s[line->len - 1] == '\r')
		line->len--;
	cur->s += nl + 1;
	cur->len -= (size_t)nl + 1;
	return line->len > 0;
}

/* "Name: value" with name compared without case. */
static bool hdr_is(struct cpm_str line, const char *name, struct cpm_str *val)
{
	size_t n = strlen(name);
	if (line.len <= n || line.s[n] != ':' || !cpm_str_istarts(line, name))
		return false;
	*val = cpm_str_trim((struct cpm_str){ line.s + n + 1, line.len - n - 1 });
	return true;
}

/* message/cpim (RFC 3862 §2): message headers, an empty line, the
 * content's MIME headers, an empty line, the content.  Takes the inner
 * Content-Type, the content and the first Subject (its ";lang=" parameter
 * dropped, §5.3.3.2 ... §6.4). */
static bool cpim_unwrap(struct cpm_str body, struct cpm_str *ctype,
			struct cpm_str *content, struct cpm_str *subject)
{
	struct cpm_str cur = body, line, v;
	bool ok = true;
	*ctype = CPM_STR("text/plain");
	*subject = CPM_STR_NULL;
	while (block_line(&cur, &line, &ok))
		if (!subject->s && hdr_is(line, "Subject", &v)) {
			if (v.len && v.s[0] == ';') {
				long sp = cpm_str_chr(v, ' ');
				v = sp < 0 ? CPM_STR("")
					   : cpm_str_trim((struct cpm_str){
						     v.s + sp, v.len - (size_t)sp });
			}
			*subject = v;
		}
	if (!ok)
		return false;
	while (block_line(&cur, &line, &ok))
		if (hdr_is(line, "Content-Type", &v))
			*ctype = v;
	if (!ok)
		return false;
	*content = cur;
	return true;
}

/* A file name for an attachment: the given one when it is plain
 * ([A-Za-z0-9._-], not starting with '.'), else "message" + an extension
 * for the common types. */
static void file_name(struct cpm_str given, const char *mime, char *out, size_t outsz)
{
	static const char *const ext[][2] = {
		{ "image/jpeg", ".jpg" },      { "image/png", ".png" },
		{ "image/gif", ".gif" },       { "image/webp", ".webp" },
		{ "audio/mpeg", ".mp3" },      { "audio/ogg", ".ogg" },
		{ "audio/amr", ".amr" },       { "video/mp4", ".mp4" },
		{ "application/pdf", ".pdf" }, { "text/vcard", ".vcf" },
		{ "text/x-vcard", ".vcf" },    { "application/xml", ".xml" },
	};
	given = cpm_sip_unquote(given);
	bool ok = given.len > 0 && given.len < NAME_MAX_LEN && given.s[0] != '.';
	for (size_t i = 0; ok && i < given.len; i++)
		ok = is_alnum((unsigned char)given.s[i]) || strchr("._-", given.s[i]);
	if (ok && given.len < outsz) {
		memcpy(out, given.s, given.len);
		out[given.len] = '\0';
		return;
	}
	const char *e = ".bin";
	for (size_t i = 0; i < sizeof ext / sizeof *ext; i++)
		if (strcmp(mime, ext[i][0]) == 0)
			e = ext[i][1];
	snprintf(out, outsz, "message%s", e);
}

/* ------------------------------------------------------------ the parts */

struct build {
	struct cpm_buf *out;
	struct cpm_buf line; /* one header, unfolded */
	struct cpm_buf tmp;  /* canonical text */
	char boundary[48];
};

/* A text entity: Content-Type, Content-Transfer-Encoding, empty line, the
 * encoded canonical text (ending in CRLF). */
static int put_text_entity(struct build *bd, const struct ctype *ct,
			   struct cpm_str text, bool multipart)
{
	cpm_buf_reset(&bd->tmp);
	int rc = crlf_text(text, &bd->tmp);
	struct cpm_str t = cpm_buf_str(&bd->tmp);
	enum cte e = text_cte(t, multipart);
	if (!rc)
		rc = cpm_buf_printf(bd->out,
				    "Content-Type: %s; charset=%s\r\n"
				    "Content-Transfer-Encoding: %s\r\n\r\n",
				    ct->mime[0] ? ct->mime : "text/plain",
				    ct->charset[0] ? ct->charset : "UTF-8",
				    cte_names[e]);
	if (!rc)
		rc = e == CTE_B64 ? put_b64(bd->out, t)
		     : e == CTE_QP ? put_qp(bd->out, t)
				   : cpm_buf_append_str(bd->out, t);
	/* Alone, the mail ends with a line break (SMTP data always does,
	 * RFC 5321 §4.1.1.4): quoted-printable gets a soft one, so that the
	 * text stays exact.  In a multipart, the delimiter's CRLF follows. */
	if (!rc && !multipart && e != CTE_B64 && bd->out->p[bd->out->len - 1] != '\n')
		rc = e == CTE_QP ? cpm_buf_append(bd->out, "=\r\n", 3)
				 : cpm_buf_append(bd->out, "\r\n", 2);
	return rc;
}

static int put_attachment(struct build *bd, const struct ctype *ct,
			  struct cpm_str data, struct cpm_str fname)
{
	const char *mime = ct->mime;
	if (!mime[0] || mime_is(ct, "multipart/") || mime_is(ct, "message/"))
		mime = "application/octet-stream";
	char name[NAME_MAX_LEN + 8];
	file_name(fname, mime, name, sizeof name);
	int rc = cpm_buf_printf(bd->out,
				"Content-Type: %s; name=\"%s\"\r\n"
				"Content-Transfer-Encoding: base64\r\n"
				"Content-Disposition: attachment; filename=\"%s\"\r\n\r\n",
				mime, name, name);
	return rc ? rc : put_b64(bd->out, data);
}

/* One payload inside the multipart/mixed: text inline, the rest attached. */
static int put_part(struct build *bd, const struct ctype *ct, struct cpm_str data,
		    struct cpm_str fname)
{
	int rc = cpm_buf_printf(bd->out, "\r\n--%s\r\n", bd->boundary);
	if (rc)
		return rc;
	if (mime_is(ct, "text/"))
		return put_text_entity(bd, ct, data, true);
	return put_attachment(bd, ct, data, fname);
}

/* ------------------------------------------------------------ the mail */

/* The SIP sender: "user@host" of a sip:/sips: URI (*mail true when it is
 * also a mail address), else the URI itself, cleaned. */
static int sender_ids(const char *sender, struct cpm_buf *who, bool *mail)
{
	struct cpm_sip_uri u;
	char aor[512];
	*mail = false;
	struct cpm_str s = cpm_str_trim(cpm_str_from_cstr(sender));
	if (cpm_sip_uri_parse(s, &u) == 0 &&
	    (u.scheme == CPM_SIP_SCHEME_SIP || u.scheme == CPM_SIP_SCHEME_SIPS) &&
	    u.user.len && cpm_sip_uri_aor(&u, aor, sizeof aor) > 0) {
		*mail = addr_valid_str(cpm_str_from_cstr(aor));
		return clean_line(cpm_str_from_cstr(aor), who);
	}
	return clean_line(s, who);
}

/* The SIP From URI for X-CPM-SIP-From: printable ASCII but SP, the other
 * octets %XX, cut at 900 octets of output (the line stays below 998). */
static int put_uri_ascii(struct cpm_buf *b, const char *uri)
{
	int rc = 0;
	size_t start = b->len;
	for (size_t i = 0; !rc && uri[i] && b->len - start < 900; i++) {
		unsigned char c = (unsigned char)uri[i];
		if (c > 0x20 && c < 0x7f)
			rc = cpm_buf_append(b, uri + i, 1);
		else
			rc = cpm_buf_printf(b, "%%%c%c", hexdig[c >> 4], hexdig[c & 15]);
	}
	return rc;
}

static int build_headers(struct build *bd, const struct cpm_iwf_mail *m,
			 const char *from, const char *rcpt, struct cpm_str who,
			 bool who_is_mail, struct cpm_str display,
			 struct cpm_str subject)
{
	struct cpm_buf *out = bd->out, *line = &bd->line;
	int64_t date = m->date > 0 ? m->date : cpm_wall_s();
	char hash[CPM_HASH_HEX_MAX];
	struct cpm_str part = cpm_str_from_cstr(m->call_id);
	int rc = cpm_hash_hex(CPM_HASH_SHA256, &part, 1, hash);
	hash[32] = '\0';
	const char *domain = strrchr(from, '@') + 1;

	cpm_buf_reset(line);
	if (!rc)
		rc = cpm_buf_puts(line, "Date: ");
	if (!rc)
		rc = put_date(line, date);
	if (!rc)
		rc = fold_put(out, cpm_buf_str(line));
	if (!rc)
		rc = hdr_mailbox(out, line, "From", display, from);
	if (!rc && who_is_mail)
		rc = hdr_mailbox(out, line, "Reply-To", display, who.s);
	if (!rc)
		rc = hdr_mailbox(out, line, "To", CPM_STR_NULL, rcpt);
	if (!rc) {
		cpm_buf_reset(line);
		rc = cpm_buf_puts(line, "Subject: ");
		if (!rc && subject.len)
			rc = put_text(line, subject);
		else if (!rc) {
			struct cpm_buf s;
			cpm_buf_init(&s, 1024);
			rc = cpm_buf_printf(&s, "Message from %.*s", CPM_STR_FMT(display));
			if (!rc)
				rc = put_text(line, cpm_buf_str(&s));
			cpm_buf_free(&s);
		}
		if (!rc)
			rc = fold_put(out, cpm_buf_str(line));
	}
	if (!rc)
		rc = cpm_buf_printf(out, "Message-ID: <cpm.%s@%s>\r\n", hash, domain);
	if (!rc) {
		cpm_buf_reset(line);
		rc = cpm_buf_puts(line, "X-CPM-SIP-From: ");
		if (!rc)
			rc = put_uri_ascii(line, m->sender);
		if (!rc)
			rc = fold_put(out, cpm_buf_str(line));
	}
	if (!rc)
		rc = cpm_buf_puts(out, "Auto-Submitted: auto-generated\r\n"
				       "MIME-Version: 1.0\r\n");
	return rc;
}

/* The short text part before the attachments. */
static int intro_text(struct cpm_buf *b, struct cpm_str display, struct cpm_str who,
		      const char *what, size_t len, unsigned nparts)
{
	int rc = cpm_buf_printf(b, "%.*s", CPM_STR_FMT(display));
	if (!rc && !cpm_str_eq(display, who))
		rc = cpm_buf_printf(b, " (%.*s)", CPM_STR_FMT(who));
	if (!rc && nparts)
		rc = cpm_buf_printf(b,
				    " sent you a SIP message in %u parts (%s,"
				    " %zu bytes); they follow.\r\n",
				    nparts, what, len);
	else if (!rc)
		rc = cpm_buf_printf(b,
				    " sent you a SIP message of type %s (%zu"
				    " bytes); it is attached.\r\n",
				    what, len);
	return rc;
}

static int build_body(struct build *bd, struct cpm_str who, struct cpm_str display,
		      const struct ctype *ct, struct cpm_str data)
{
	if (mime_is(ct, "text/"))
		return put_text_entity(bd, ct, data, false);
	int rc = cpm_buf_printf(bd->out,
				"Content-Type: multipart/mixed; boundary=\"%s\"\r\n"
				"\r\nThis is a message in MIME format.\r\n",
				bd->boundary);
	/* a multipart SIP body: its parts one by one (bounded) */
	struct cpm_str boundary, cur = data;
	struct cpm_sip_part parts[MAX_PARTS];
	unsigned nparts = 0;
	if (!rc && mime_is(ct, "multipart/") &&
	    cpm_sip_param_find(ct->params, "boundary", &boundary)) {
		boundary = cpm_sip_unquote(boundary);
		int r;
		while (nparts < MAX_PARTS &&
		       (r = cpm_sip_multipart_next(&cur, boundary, &parts[nparts])) > 0)
			nparts++;
		if (r < 0 || nparts == 0)
			nparts = 0; /* malformed: one opaque attachment */
	}
	struct ctype intro_ct = { .mime = "text/plain" };
	cpm_buf_reset(&bd->line);
	if (!rc)
		rc = intro_text(&bd->line, display, who, ct->mime[0] ? ct->mime : "unknown",
				data.len, nparts);
	if (!rc)
		rc = cpm_buf_printf(bd->out, "\r\n--%s\r\n", bd->boundary);
	if (!rc)
		rc = put_text_entity(bd, &intro_ct, cpm_buf_str(&bd->line), true);
	for (unsigned i = 0; !rc && i < nparts; i++) {
		struct ctype pct;
		struct cpm_str fname = CPM_STR_NULL;
		ctype_parse(parts[i].content_type, &pct); /* RFC 2046 §5.1: text/plain */
		long semi = cpm_str_chr(parts[i].disposition, ';');
		if (semi >= 0)
			cpm_sip_param_find((struct cpm_str){ parts[i].disposition.s + semi,
							     parts[i].disposition.len -
								     (size_t)semi },
					   "filename", &fname);
		rc = put_part(bd, &pct, parts[i].body, fname);
	}
	if (!rc && nparts == 0) {
		rc = cpm_buf_printf(bd->out, "\r\n--%s\r\n", bd->boundary);
		if (!rc)
			rc = put_attachment(bd, ct, data, CPM_STR_NULL);
	}
	return rc ? rc : cpm_buf_printf(bd->out, "\r\n--%s--\r\n", bd->boundary);
}

int cpm_iwf_mail_build(const struct cpm_iwf_mail *m, const char *from,
		       struct cpm_buf *out)
{
	if (!m || !out || !m->sender || !m->sender[0] || !m->call_id ||
	    !m->call_id[0] || !cpm_iwf_addr_valid(from))
		return CPM_EINVAL;
	char rcpt[CPM_IWF_ADDR_MAX + 1];
	int rc = cpm_iwf_mailto_parse(m->rcpt, rcpt, sizeof rcpt);
	if (rc)
		return rc;

	struct build bd = { .out = out };
	struct cpm_buf who, display, subject;
	cpm_buf_init(&bd.line, 64 * 1024);
	cpm_buf_init(&bd.tmp, CPM_STORE_MSG_BODY_MAX * 2 + 1024);
	cpm_buf_init(&who, 4096);
	cpm_buf_init(&display, 4096);
	cpm_buf_init(&subject, 4096);
	bool who_is_mail;
	rc = sender_ids(m->sender, &who, &who_is_mail);
	if (!rc)
		rc = clean_display(m->sender_display, &display);
	if (!rc && display.len == 0)
		rc = cpm_buf_append_str(&display, cpm_buf_str(&who));

	/* the payload: message/cpim unwrapped */
	struct ctype ct;
	struct cpm_str data = { m->body, m->body ? m->body_len : 0 };
	struct cpm_str subj = cpm_str_from_cstr(m->subject ? m->subject : "");
	ctype_parse(cpm_str_from_cstr(m->content_type ? m->content_type : ""), &ct);
	struct cpm_str ictype, icontent, isubj;
	if (strcmp(ct.mime, "message/cpim") == 0 &&
	    cpim_unwrap(data, &ictype, &icontent, &isubj)) {
		ctype_parse(ictype, &ct);
		data = icontent;
		if (cpm_str_trim(subj).len == 0)
			subj = isubj;
	}
	if (!rc)
		rc = clean_line(subj, &subject);

	/* the boundary: "=_" cannot occur in base64 or quoted-printable, and
	 * text_cte keeps 7bit text that holds it out of multiparts */
	char hash[CPM_HASH_HEX_MAX];
	struct cpm_str hp = cpm_str_from_cstr(m->call_id);
	if (!rc)
		rc = cpm_hash_hex(CPM_HASH_SHA256, &hp, 1, hash);
	snprintf(bd.boundary, sizeof bd.boundary, "=_cpm_%.24s", hash + 32);

	if (!rc)
		rc = build_headers(&bd, m, from, rcpt, cpm_buf_str(&who), who_is_mail,
				   cpm_buf_str(&display), cpm_buf_str(&subject));
	if (!rc)
		rc = build_body(&bd, cpm_buf_str(&who), cpm_buf_str(&display), &ct,
				data);
	cpm_buf_free(&bd.line);
	cpm_buf_free(&bd.tmp);
	cpm_buf_free(&who);
	cpm_buf_free(&display);
	cpm_buf_free(&subject);
	return rc;
}

void cpm_iwf_mail_from_store(struct cpm_iwf_mail *m,
			     const struct cpm_store_msg *sm, const char *rcpt)
{
	memset(m, 0, sizeof *m);
	m->rcpt = rcpt;
	m->sender = sm->sender;
	m->sender_display = sm->sender_display;
	m->subject = sm->subject;
	m->content_type = sm->content_type;
	m->body = sm->body;
	m->body_len = sm->body_len;
	m->date = sm->date;
	m->call_id = sm->call_id;
}
