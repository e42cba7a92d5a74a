/* cli — a small blocking HTTP/1.1 client (RFC 9110, RFC 9112) for the
 * server's REST API: GET only, one request per connection
 * (Connection: close), Content-Length, chunked and close-delimited
 * bodies, digest authentication (RFC 7616) with the digest code of
 * cli_auth.c, and a deadline on every request.
 *
 * The URL and response parsers and the request builder are pure and
 * unit-tested; cpm_cli_http_get does the I/O with poll. */
#include "cli/cli.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------------ URLs */

int cpm_cli_url_parse(const char *s, struct cpm_cli_url *u)
{
	char hostport[300];
	memset(u, 0, sizeof *u);
	if (strncasecmp(s, "https://", 8) == 0)
		return CPM_ESCHEME;
	if (strncasecmp(s, "http://", 7) != 0)
		return strstr(s, "://") ? CPM_ESCHEME : CPM_EINVAL;
	s += 7;
	size_t hl = strcspn(s, "/?#");
	if (hl == 0 || hl >= sizeof hostport)
		return CPM_EINVAL;
	memcpy(hostport, s, hl);
	hostport[hl] = '\0';
	if (strchr(hostport, '@')) /* userinfo: credentials go in the header */
		return CPM_EINVAL;
	/* cpm_cli_hostport_parse reads a bare "::1" as a host; a URL must
	 * bracket IPv6 (RFC 3986 §3.2.2) */
	const char *c = strchr(hostport, ':');
	if (hostport[0] != '[' && c && strchr(c + 1, ':'))
		return CPM_EINVAL;
	if (cpm_cli_hostport_parse(hostport, u->host, sizeof u->host, &u->port))
		return CPM_EINVAL;
	if (!u->port)
		u->port = 80;
	const char *t = s + hl;
	size_t tl = strcspn(t, "#"); /* the fragment is not sent */
	for (size_t i = 0; i < tl; i++)
		if ((unsigned char)t[i] <= ' ' || t[i] == 0x7f)
			return CPM_EINVAL;
	int n = snprintf(u->target, sizeof u->target, "%s%.*s",
			 tl == 0 || t[0] != '/' ? "/" : "", (int)tl, t);
	if (n < 0 || (size_t)n >= sizeof u->target)
		return CPM_EINVAL;
	return 0;
}

void cpm_cli_url_origin(const struct cpm_cli_url *u, char *out, size_t outsz)
{
	bool v6 = strchr(u->host, ':') != NULL;
	snprintf(out, outsz, "http://%s%s%s:%u", v6 ? "[" : "", u->host,
		 v6 ? "]" : "", u->port);
}

int cpm_cli_url_put_segment(struct cpm_buf *out, const char *s)
{
	int rc = 0;
	for (; *s && !rc; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~!$&'()*+,;=:@", c))
			rc = cpm_buf_append(out, &c, 1);
		else
			rc = cpm_buf_printf(out, "%%%02X", c);
	}
	return rc;
}

/* ------------------------------------------------------------ responses */

void cpm_cli_http_resp_init(struct cpm_cli_http_resp *r)
{
	memset(r, 0, sizeof *r);
	cpm_buf_init(&r->dechunked, CPM_CLI_HTTP_MAX_BODY);
}

void cpm_cli_http_resp_free(struct cpm_cli_http_resp *r)
{
	cpm_buf_free(&r->dechunked);
}

struct cpm_str cpm_cli_http_hdr_get(const struct cpm_cli_http_resp *r,
				    const char *name)
{
	for (unsigned i = 0; i < r->nhdrs; i++)
		if (cpm_str_ieq_cstr(r->hdrs[i].name, name))
			return r->hdrs[i].value;
	return CPM_STR_NULL;
}

/* The end of the head (the byte after the empty line), or NULL.  Lines
 * may end in CRLF or a bare LF (RFC 9112 §2.2). */
static const char *head_end(const char *p, const char *end)
{
	for (const char *q = p; q < end; q++) {
		if (*q != '\n')
			continue;
		if (q + 1 < end && q[1] == '\n')
			return q + 2;
		if (q + 2 < end && q[1] == '\r' && q[2] == '\n')
			return q + 3;
	}
	return NULL;
}

/* The next line of [*p, end) without its line ending. */
static struct cpm_str head_line(const char **p, const char *end)
{
	const char *s = *p;
	const char *nl = memchr(s, '\n', (size_t)(end - s));
	const char *e = nl ? nl : end;
	*p = nl ? nl + 1 : end;
	if (e > s && e[-1] == '\r')
		e--;
	return (struct cpm_str){ s, (size_t)(e - s) };
}

/* status-line = HTTP-version SP status-code SP [ reason-phrase ] */
static int status_line(struct cpm_str l, struct cpm_cli_http_resp *r)
{
	if (l.len < 12 || memcmp(l.s, "HTTP/1.", 7) != 0 || l.s[7] < '0' ||
	    l.s[7] > '9' || l.s[8] != ' ')
		return CPM_EPARSE;
	for (int i = 9; i < 12; i++)
		if (l.s[i] < '0' || l.s[i] > '9')
			return CPM_EPARSE;
	r->status = (l.s[9] - '0') * 100 + (l.s[10] - '0') * 10 + (l.s[11] - '0');
	if (r->status < 100)
		return CPM_EPARSE;
	if (l.len > 12 && l.s[12] != ' ')
		return CPM_EPARSE;
	r->reason = l.len > 13 ? (struct cpm_str){ l.s + 13, l.len - 13 } : CPM_STR_NULL;
	return 0;
}

static int header_fields(const char *p, const char *end,
			 struct cpm_cli_http_resp *r)
{
	r->nhdrs = 0;
	while (p < end) {
		struct cpm_str l = head_line(&p, end);
		if (l.len == 0)
			break;
		if (l.s[0] == ' ' || l.s[0] == '\t') {
			/* obs-fold (RFC 9112 §5.2): part of the previous value */
			if (r->nhdrs == 0)
				return CPM_EPARSE;
			struct cpm_cli_http_hdr *h = &r->hdrs[r->nhdrs - 1];
			h->value = cpm_str_trim((struct cpm_str){
				h->value.s, (size_t)(l.s + l.len - h->value.s) });
			continue;
		}
		long colon = cpm_str_chr(l, ':');
		if (colon <= 0)
			return CPM_EPARSE;
		struct cpm_str name = { l.s, (size_t)colon };
		for (size_t i = 0; i < name.len; i++)
			if ((unsigned char)name.s[i] <= ' ' || name.s[i] == 0x7f)
				return CPM_EPARSE; /* no space before the colon */
		if (r->nhdrs == CPM_CLI_HTTP_MAX_HDRS)
			return CPM_ETOOBIG;
		r->hdrs[r->nhdrs].name = name;
		r->hdrs[r->nhdrs].value = cpm_str_trim((struct cpm_str){
			l.s + colon + 1, l.len - (size_t)colon - 1 });
		r->nhdrs++;
	}
	return 0;
}

/* Content-Length: one value, or a list of identical ones (RFC 9110 §8.6). */
static int content_length(const struct cpm_cli_http_resp *r, int64_t *len)
{
	*len = -1;
	for (unsigned i = 0; i < r->nhdrs; i++) {
		if (!cpm_str_ieq_cstr(r->hdrs[i].name, "Content-Length"))
			continue;
		struct cpm_str v = r->hdrs[i].value, item;
		while (cpm_sip_list_next(&v, &item) == 1) {
			uint64_t n;
			if (item.len == 0 || item.s[0] < '0' || item.s[0] > '9' ||
			    cpm_str_to_u64(item, UINT64_MAX / 2, &n))
				return CPM_EPARSE;
			if (*len >= 0 && (uint64_t)*len != n)
				return CPM_EPARSE;
			*len = (int64_t)n;
		}
	}
	return 0;
}

/* Transfer-Encoding: 0 none, 1 chunked last, 2 something else last (the
 * body then runs to the close, RFC 9112 §6.3). */
static int transfer_coding(const struct cpm_cli_http_resp *r)
{
	int te = 0;
	for (unsigned i = 0; i < r->nhdrs; i++) {
		if (!cpm_str_ieq_cstr(r->hdrs[i].name, "Transfer-Encoding"))
			continue;
		struct cpm_str v = r->hdrs[i].value, item;
		while (cpm_sip_list_next(&v, &item) == 1) {
			long semi = cpm_str_chr(item, ';');
			if (semi >= 0)
				item = cpm_str_trim((struct cpm_str){ item.s, (size_t)semi });
			te = cpm_str_ieq_cstr(item, "chunked") ? 1 : 2;
		}
	}
	return te;
}

/* Walk a chunked body (RFC 9112 §7.1) at [p, end).  1 complete (*used =
 * its bytes, the data copied into out when copy), 0 more needed,
 * CPM_EPARSE, CPM_ETOOBIG. */
static int chunked(const char *p, const char *end, bool copy,
		   struct cpm_buf *out, size_t *used)
{
	const char *start = p;
	uint64_t total = 0;
	for (;;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return (size_t)(end - p) > 1024 ? CPM_EPARSE : 0;
		uint64_t size = 0;
		int digits = 0;
		for (; p < nl; p++, digits++) {
			char c = *p;
			int d = c >= '0' && c <= '9' ? c - '0' :
				c >= 'a' && c <= 'f' ? c - 'a' + 10 :
				c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
			if (d < 0)
				break;
			if (digits >= 15)
				return CPM_ETOOBIG;
			size = size * 16 + (uint64_t)d;
		}
		if (digits == 0 || (p < nl && *p != ';' && *p != ' ' &&
				    *p != '\t' && *p != '\r'))
			return CPM_EPARSE;
		p = nl + 1; /* chunk extensions are ignored */
		if (size == 0)
			break;
		total += size;
		if (total > CPM_CLI_HTTP_MAX_BODY)
			return CPM_ETOOBIG;
		if ((uint64_t)(end - p) < size)
			return 0;
		if (copy && cpm_buf_append(out, p, (size_t)size))
			return CPM_ETOOBIG;
		p += size;
		if (p < end && *p == '\r')
			p++;
		if (p >= end)
			return 0;
		if (*p != '\n')
			return CPM_EPARSE;
		p++;
	}
	/* the trailer section, up to an empty line */
	for (;;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return (size_t)(end - p) > CPM_CLI_HTTP_MAX_HEAD ? CPM_ETOOBIG : 0;
		bool empty = nl == p || (nl == p + 1 && *p == '\r');
		p = nl + 1;
		if (empty)
			break;
	}
	*used = (size_t)(p - start);
	return 1;
}

int cpm_cli_http_resp_parse(const char *data, size_t len, bool eof,
			    struct cpm_cli_http_resp *r)
{
	const char *p = data, *end = data + len;
	int rc;

	for (;;) {
		const char *he = head_end(p, end);
		if (!he) {
			if ((size_t)(end - p) > CPM_CLI_HTTP_MAX_HEAD)
				return CPM_ETOOBIG;
			return eof ? CPM_EPARSE : 0;
		}
		if ((size_t)(he - p) > CPM_CLI_HTTP_MAX_HEAD)
			return CPM_ETOOBIG;
		const char *q = p;
		rc = status_line(head_line(&q, he), r);
		if (!rc)
			rc = header_fields(q, he, r);
		if (rc)
			return rc;
		p = he;
		/* interim responses (RFC 9110 §15.2) precede the final one */
		if (r->status >= 200 || r->status == 101)
			break;
	}
	if (r->status < 200)
		return CPM_EPARSE; /* 101: we never asked to switch */

	int64_t clen;
	if (content_length(r, &clen))
		return CPM_EPARSE;
	int te = transfer_coding(r);
	size_t avail = (size_t)(end - p);
	cpm_buf_reset(&r->dechunked);
	if (r->status == 204 || r->status == 304) {
		r->body = CPM_STR_NULL;
	} else if (te == 1) {
		size_t used = 0;
		rc = chunked(p, end, false, NULL, &used);
		if (rc == 0 && eof)
			return CPM_EPARSE;
		if (rc <= 0)
			return rc;
		rc = chunked(p, end, true, &r->dechunked, &used);
		if (rc < 0)
			return rc;
		r->body = cpm_buf_str(&r->dechunked);
		r->used = (size_t)(p - data) + used;
		return 1;
	} else if (te == 0 && clen >= 0) {
		if ((uint64_t)clen > CPM_CLI_HTTP_MAX_BODY)
			return CPM_ETOOBIG;
		if (avail < (uint64_t)clen)
			return eof ? CPM_EPARSE : 0;
		r->body = (struct cpm_str){ p, (size_t)clen };
	} else {
		/* delimited by the close of the connection */
		if (avail > CPM_CLI_HTTP_MAX_BODY)
			return CPM_ETOOBIG;
		if (!eof)
			return 0;
		r->body = (struct cpm_str){ p, avail };
	}
	r->used = (size_t)(p - data) + r->body.len;
	return 1;
}

int cpm_cli_http_challenge_choose(const struct cpm_cli_http_resp *r,
				  struct cpm_cli_challenge *ch)
{
	bool unsupported = false;
	int best = -1;
	for (unsigned i = 0; i < r->nhdrs; i++)
		if (cpm_str_ieq_cstr(r->hdrs[i].name, "WWW-Authenticate") &&
		    cpm_cli_challenge_offer(r->hdrs[i].value, false, ch, &best) < 0)
			unsupported = true;
	if (best >= 0)
		return 0;
	return unsupported ? CPM_EUNSUPP : CPM_ENOTFOUND;
}

/* -------------------------------------------------------------- requests */

int cpm_cli_http_request_build(struct cpm_buf *b, const struct cpm_cli_url *u,
			       struct cpm_cli_challenge *ch,
			       const char *username, const char *password,
			       const char *cnonce)
{
	return cpm_cli_http_request_build_m(b, u, "GET", NULL, CPM_STR_NULL, ch, username,
					    password, cnonce);
}

int cpm_cli_http_request_build_m(struct cpm_buf *b, const struct cpm_cli_url *u,
				 const char *method, const char *ctype, struct cpm_str body,
				 struct cpm_cli_challenge *ch, const char *username,
				 const char *password, const char *cnonce)
{
	bool v6 = strchr(u->host, ':') != NULL;
	int rc = cpm_buf_printf(b,
				"%s %s HTTP/1.1\r\n"
				"Host: %s%s%s",
				method, u->target, v6 ? "[" : "", u->host, v6 ? "]" : "");
	if (!rc && u->port != 80)
		rc = cpm_buf_printf(b, ":%u", u->port);
	if (!rc)
		rc = cpm_buf_puts(b, "\r\n"
				     "User-Agent: " CPM_CLI_UA "\r\n"
				     "Accept: */*\r\n"
				     "Connection: close\r\n");
	/* RFC 7616 §3.4: uri is the request-target, query included */
	if (!rc && ch)
		rc = cpm_cli_auth_header(b, ch, username, password, method,
					 u->target, body, cnonce);
	if (!rc && ctype)
		rc = cpm_buf_printf(b, "Content-Type: %s\r\nContent-Length: %zu\r\n", ctype,
				    body.len);
	if (!rc)
		rc = cpm_buf_puts(b, "\r\n");
	if (!rc && body.len)
		rc = cpm_buf_append(b, body.s, body.len);
	return rc;
}

void cpm_cli_http_init(struct cpm_cli_http *h, const struct cpm_cli_args *a,
		       const char *username)
{
	memset(h, 0, sizeof *h);
	h->timeout_ms = a->timeout_s * 1000;
	h->verbose = a->verbose;
	h->username = username;
	h->password = a->password_set ? a->password : NULL;
	cpm_buf_init(&h->raw, CPM_CLI_HTTP_MAX_HEAD + CPM_CLI_HTTP_MAX_BODY + (1u << 20));
	cpm_cli_http_resp_init(&h->resp);
}

void cpm_cli_http_free(struct cpm_cli_http *h)
{
	cpm_buf_free(&h->raw);
	cpm_cli_http_resp_free(&h->resp);
}

static void http_trace(const struct cpm_cli_http *h, bool out, const char *peer,
		       const char *data, size_t len)
{
	if (!h->verbose)
		return;
	size_t shown = len > 4096 ? 4096 : len;
	fprintf(stderr, "%s %s %s http (%zu bytes)\n", out ? ">>>" : "<<<",
		out ? "sent to" : "received from", peer, len);
	fwrite(data, 1, shown, stderr);
	if (shown < len)
		fprintf(stderr, "\n[... %zu more bytes]", len - shown);
	if (shown == 0 || data[shown - 1] != '\n')
		fputc('\n', stderr);
	fflush(stderr);
}

static int remaining_ms(uint64_t deadline)
{
	uint64_t now = cpm_now_ms();
	return now >= deadline ? 0 : (int)(deadline - now);
}

/* Resolve u's host and connect to the first address that answers. */
static int http_connect(const struct cpm_cli_http *h, const struct cpm_cli_url *u,
			uint64_t deadline, char *peer, size_t peersz)
{
	struct addrinfo hints, *res = NULL;
	char port[8];
	int fd = -1, err = 0;

	cpm_cli_url_origin(u, peer, peersz);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof port, "%u", u->port);
	int gai = getaddrinfo(u->host, port, &hints, &res);
	if (gai != 0) {
		fprintf(stderr, "cpm: cannot resolve '%s': %s\n", u->host,
			gai_strerror(gai));
		return CPM_EADDR;
	}
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int ms = remaining_ms(deadline);
		if (ms == 0) {
			err = ETIMEDOUT;
			break;
		}
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = errno;
			continue;
		}
		err = cpm_cli_connect(fd, ai->ai_addr, ai->ai_addrlen, (unsigned)ms);
		if (err == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		if (err == ETIMEDOUT)
			fprintf(stderr, "cpm: cannot connect to %s: no answer after %u s\n",
				peer, h->timeout_ms / 1000);
		else
			fprintf(stderr, "cpm: cannot connect to %s: %s\n", peer,
				strerror(err ? err : ECONNREFUSED));
		return err == ETIMEDOUT ? CPM_ETIMEDOUT : CPM_EADDR;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static int send_all(int fd, const char *p, size_t len, uint64_t deadline)
{
	while (len) {
		struct pollfd pf = { .fd = fd, .events = POLLOUT };
		int ms = remaining_ms(deadline);
		int prc = ms ? poll(&pf, 1, ms) : 0;
		if (prc < 0 && errno == EINTR && !cpm_cli_stop)
			continue;
		if (prc <= 0)
			return prc == 0 ? CPM_ETIMEDOUT : CPM_EIO;
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return CPM_ECLOSED;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One request and its response into h->raw / h->resp. */
static int http_once(struct cpm_cli_http *h, const struct cpm_cli_url *u,
		     bool with_auth)
{
	uint64_t deadline = cpm_now_ms() + h->timeout_ms;
	struct cpm_buf req;
	char peer[300];
	int rc;

	cpm_buf_init(&req, 16384);
	rc = cpm_cli_http_request_build_m(&req, u, h->method ? h->method : "GET", h->ctype,
					  h->body, with_auth ? &h->ch : NULL, h->username,
					  h->password, NULL);
	if (rc) {
		cpm_buf_free(&req);
		fprintf(stderr, "cpm: cannot build the request: %s\n", cpm_strerror(rc));
		return rc;
	}
	int fd = http_connect(h, u, deadline, peer, sizeof peer);
	if (fd < 0) {
		cpm_buf_free(&req);
		return fd;
	}
	http_trace(h, true, peer, req.p, req.len);
	rc = send_all(fd, req.p, req.len, deadline);
	cpm_buf_free(&req);

	cpm_buf_reset(&h->raw);
	bool eof = false;
	while (rc == 0) {
		rc = cpm_cli_http_resp_parse(h->raw.p ? h->raw.p : "", h->raw.len,
					     eof, &h->resp);
		if (rc != 0)
			break;
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		int ms = remaining_ms(deadline);
		int prc = ms ? poll(&pf, 1, ms) : 0;
		if (prc < 0 && errno == EINTR && !cpm_cli_stop)
			continue;
		if (prc <= 0) {
			rc = prc == 0 || errno == EINTR ? CPM_ETIMEDOUT : CPM_EIO;
			break;
		}
		char tmp[16384];
		ssize_t n = recv(fd, tmp, sizeof tmp, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = h->raw.len ? CPM_ECLOSED : CPM_EIO;
			break;
		}
		if (n == 0) {
			if (eof || h->raw.len == 0) {
				rc = CPM_ECLOSED;
				break;
			}
			eof = true;
			continue;
		}
		if (cpm_buf_append(&h->raw, tmp, (size_t)n)) {
			rc = CPM_ETOOBIG;
			break;
		}
	}
	close(fd);
	if (h->raw.len)
		http_trace(h, false, peer, h->raw.p, h->raw.len);
	if (rc == 1)
		return 0;
	switch (rc) {
	case CPM_ETIMEDOUT:
		fprintf(stderr, "cpm: no response from %s after %u s\n", peer,
			h->timeout_ms / 1000);
		break;
	case CPM_ECLOSED:
		fprintf(stderr, "cpm: %s closed the connection without a complete response\n",
			peer);
		break;
	case CPM_ETOOBIG:
		fprintf(stderr, "cpm: the response from %s is too large\n", peer);
		break;
	default:
		fprintf(stderr, "cpm: bad response from %s: %s\n", peer, cpm_strerror(rc));
		break;
	}
	return rc;
}

int cpm_cli_http_put(struct cpm_cli_http *h, const struct cpm_cli_url *u, const char *ctype,
		     struct cpm_str body, const struct cpm_cli_http_resp **resp)
{
	h->method = "PUT";
	h->ctype = ctype;
	h->body = body;
	int rc = cpm_cli_http_get(h, u, resp);
	h->method = NULL;
	h->ctype = NULL;
	h->body = CPM_STR_NULL;
	return rc;
}

int cpm_cli_http_get(struct cpm_cli_http *h, const struct cpm_cli_url *u,
		     const struct cpm_cli_http_resp **resp)
{
	struct cpm_cli_auth_retry ar = { false, false };
	int rc = 0;

	for (int round = 0; round < 4; round++) {
		bool with_auth = h->have_ch && h->password;
		h->sent_credentials = with_auth;
		rc = http_once(h, u, with_auth);
		if (rc)
			return rc;
		*resp = &h->resp;
		if (h->resp.status != 401 || !h->password)
			break;
		struct cpm_cli_challenge ch;
		if (cpm_cli_http_challenge_choose(&h->resp, &ch) != 0 ||
		    !cpm_cli_auth_retry(&ar, with_auth, &ch, &h->ch, &h->have_ch))
			break;
	}
	return rc;
}

int cpm_cli_http_base(const struct cpm_cli_args *a, struct cpm_cli_url *u)
{
	char url[600], host[256];
	uint16_t port;
	int rc;

	if (a->http[0]) {
		rc = cpm_cli_url_parse(a->http, u);
		if (rc)
			fprintf(stderr, "cpm: bad HTTP URL '%s'%s\n", a->http,
				rc == CPM_ESCHEME ? " (only http:// is supported)" : "");
		return rc ? CPM_EINVAL : 0;
	}
	const char *server = a->server;
	const char *at = strrchr(a->user, '@');
	if (!server[0] && at)
		server = at + 1;
	if (!server[0]) {
		fprintf(stderr, "cpm: no server given (use --http URL, --server HOST or --user)\n");
		return CPM_EINVAL;
	}
	if (cpm_cli_hostport_parse(server, host, sizeof host, &port)) {
		fprintf(stderr, "cpm: bad server '%s'\n", server);
		return CPM_EINVAL;
	}
	bool v6 = strchr(host, ':') != NULL;
	snprintf(url, sizeof url, "http://%s%s%s:%u/", v6 ? "[" : "", host,
		 v6 ? "]" : "", CPM_CLI_HTTP_PORT);
	rc = cpm_cli_url_parse(url, u);
	if (rc)
		fprintf(stderr, "cpm: bad server '%s'\n", server);
	return rc ? CPM_EINVAL : 0;
}
