/* cli — MSRP for cpm chat (RFC 4975, RFC 4976 relays): the SDP offer and
 * answer (src/sdp), the connection framed with src/msrp's streaming
 * parser, outgoing chunks, incoming chunks put back together, REPORTs,
 * relay AUTH with Digest, isComposing (RFC 3994) and the CPIM sender of
 * room messages (RFC 7701).  No terminal here: cli_chat.c is the UI. */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------------ SDP */

int cpm_cli_sdp_read(struct cpm_str body, struct cpm_cli_msrp_media *out,
		     const char **why)
{
	static struct cpm_sdp d; /* 10+ KB: not on the stack; one at a time */
	struct cpm_sdp_msrp ms;
	const char *w = NULL;

	memset(out, 0, sizeof *out);
	if (why)
		*why = NULL;
	if (cpm_sdp_parse(&d, body.s, body.len, NULL) != 0) {
		if (why)
			*why = d.err_reason ? d.err_reason : "malformed SDP";
		return CPM_EPARSE;
	}
	for (unsigned i = 0; i < d.nmedia; i++) {
		if (!cpm_sdp_media_is_msrp(&d.media[i]))
			continue;
		if (d.media[i].port == 0) {
			if (why)
				*why = "MSRP stream refused (port 0)";
			return CPM_ENOTFOUND;
		}
		if (cpm_sdp_msrp_get(&d, i, &ms, &w) != 0) {
			if (why)
				*why = w ? w : "bad MSRP attributes";
			return CPM_EPARSE;
		}
		if (ms.path.len == 0) {
			if (why)
				*why = "no a=path (RFC 4975 §8.2)";
			return CPM_EPARSE;
		}
		/* every URI of the path must parse */
		struct cpm_str cur = ms.path;
		struct cpm_msrp_uri u;
		int rc;
		while ((rc = cpm_msrp_path_next(&cur, &u)) == 1)
			;
		if (rc < 0 || cpm_str_copy(ms.path, out->path, sizeof out->path) != 0) {
			if (why)
				*why = "bad MSRP URI in a=path";
			return CPM_EPARSE;
		}
		cpm_str_copy(ms.accept_types, out->accept_types, sizeof out->accept_types);
		cpm_str_copy(ms.accept_wrapped_types, out->accept_wrapped,
			     sizeof out->accept_wrapped);
		out->setup = ms.setup;
		out->cema = ms.cema;
		return 0;
	}
	if (why)
		*why = "no m=message TCP/MSRP stream";
	return CPM_ENOTFOUND;
}

int cpm_cli_sdp_write(struct cpm_buf *b, const char *ip, uint16_t port,
		      const char *path, enum cpm_sdp_setup setup, bool cpim)
{
	static const char *const setups[] = { "", "active", "passive", "actpass", "holdconn" };
	bool v6 = strchr(ip, ':') != NULL;
	uint64_t sess;
	cpm_rand_bytes(&sess, sizeof sess);
	sess &= 0xffffffffffffull;
	/* RFC 8866 §5: v o s c t m a; RFC 4975 §8: message/cpim accepted,
	 * with the types it may wrap for rooms (RFC 7701 §5) */
	int rc = cpm_buf_printf(b,
				"v=0\r\n"
				"o=- %llu %llu IN %s %s\r\n"
				"s=-\r\n"
				"c=IN %s %s\r\n"
				"t=0 0\r\n"
				"m=message %u TCP/MSRP *\r\n"
				"a=accept-types:message/cpim text/plain application/im-iscomposing+xml\r\n",
				(unsigned long long)sess, (unsigned long long)sess,
				v6 ? "IP6" : "IP4", ip, v6 ? "IP6" : "IP4", ip, port);
	if (!rc && cpim)
		rc = cpm_buf_puts(b, "a=accept-wrapped-types:text/plain "
				     "application/im-iscomposing+xml message/imdn+xml\r\n");
	if (!rc)
		rc = cpm_buf_printf(b, "a=path:%s\r\n", path);
	if (!rc && setup > CPM_SDP_SETUP_NONE && setup <= CPM_SDP_SETUP_HOLDCONN)
		rc = cpm_buf_printf(b, "a=setup:%s\r\n", setups[setup]);
	return rc;
}

bool cpm_cli_msrp_offerer_active(enum cpm_sdp_setup answer)
{
	/* we offered actpass: the answer picks.  No a=setup (or a bad
	 * actpass/holdconn answer): RFC 4975 §5.4, the offerer connects. */
	return answer != CPM_SDP_SETUP_ACTIVE;
}

bool cpm_cli_msrp_answerer_active(enum cpm_sdp_setup offer, enum cpm_sdp_setup *answer)
{
	/* RFC 6135 §4.1: an active offerer makes us passive and the other
	 * way round; actpass or nothing: passive, so that the offerer
	 * connects as RFC 4975 §5.4 says */
	bool active = offer == CPM_SDP_SETUP_PASSIVE;
	*answer = active ? CPM_SDP_SETUP_ACTIVE : CPM_SDP_SETUP_PASSIVE;
	return active;
}

bool cpm_cli_msrp_wants_cpim(const char *accept_types)
{
	struct cpm_str cur = cpm_str_from_cstr(accept_types), t;
	bool cpim = false;
	while (cpm_sdp_list_next(&cur, &t) == 1) {
		if (cpm_str_ieq_cstr(t, "text/plain") || cpm_str_ieq_cstr(t, "text/*") ||
		    cpm_str_eq_cstr(t, "*"))
			return false;
		if (cpm_str_ieq_cstr(t, "message/cpim"))
			cpim = true;
	}
	return cpim;
}

/* ----------------------------------------------------------- isComposing */

int cpm_cli_iscomposing_build(struct cpm_buf *b, bool active, unsigned refresh)
{
	/* RFC 3994 §4: state, and refresh while active */
	int rc = cpm_buf_printf(b,
				"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
				"<isComposing xmlns=\"urn:ietf:params:xml:ns:im-iscomposing\">\n"
				"<state>%s</state>\n"
				"<contenttype>text/plain</contenttype>\n",
				active ? "active" : "idle");
	if (!rc && active && refresh)
		rc = cpm_buf_printf(b, "<refresh>%u</refresh>\n", refresh);
	return rc ? rc : cpm_buf_puts(b, "</isComposing>\n");
}

int cpm_cli_iscomposing_parse(struct cpm_str body, bool *active)
{
	char st[32];
	if (!memmem(body.s, body.len, "isComposing", 11) ||
	    !cpm_cli_xml_text(body, "state", st, sizeof st))
		return CPM_EPARSE;
	struct cpm_str v = cpm_str_trim(cpm_str_from_cstr(st));
	if (cpm_str_ieq_cstr(v, "active"))
		*active = true;
	else if (cpm_str_ieq_cstr(v, "idle"))
		*active = false;
	else
		return CPM_EPARSE;
	return 0;
}

/* ------------------------------------------------------------------ CPIM */

bool cpm_cli_cpim_sender(struct cpm_str body, char *out, size_t outsz)
{
	/* RFC 3862 §3: the message headers come first, up to an empty line */
	const char *p = body.s, *end = body.s + body.len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct cpm_str line = cpm_str_trim((struct cpm_str){ p, (size_t)((nl ? nl : end) - p) });
		p = nl ? nl + 1 : end;
		if (line.len == 0)
			break;
		if (!cpm_str_istarts(line, "from:"))
			continue;
		struct cpm_str v = cpm_str_trim((struct cpm_str){ line.s + 5, line.len - 5 });
		long lt = cpm_str_chr(v, '<');
		struct cpm_str name = lt > 0 ? cpm_str_trim((struct cpm_str){ v.s, (size_t)lt })
					     : CPM_STR_NULL;
		name = cpm_sip_unquote(name);
		if (name.len) {
			cpm_cli_copy_cut(name, out, outsz);
			return true;
		}
		struct cpm_str uri = v;
		if (lt >= 0) {
			uri = (struct cpm_str){ v.s + lt + 1, v.len - (size_t)lt - 1 };
			long gt = cpm_str_chr(uri, '>');
			if (gt >= 0)
				uri.len = (size_t)gt;
		}
		struct cpm_sip_uri u;
		if (cpm_sip_uri_parse(uri, &u) != 0 || cpm_sip_uri_aor(&u, out, outsz) < 0)
			cpm_cli_copy_cut(uri, out, outsz);
		return true;
	}
	return false;
}

/* ---------------------------------------------------- conference events */

/* The next element <[prefix:]name ...> at or after *pos in x: its
 * attributes (between the name and '>') and its content (up to the
 * matching </[prefix:]name>, or empty when self-closing); *pos moves past
 * it.  Elements of the same name do not nest in conference-info. */
static bool xml_elem_next(struct cpm_str x, size_t *pos, const char *name,
			  struct cpm_str *attrs, struct cpm_str *inner)
{
	size_t nl = strlen(name);
	for (size_t i = *pos; i < x.len; i++) {
		if (x.s[i] != '<' || i + 1 >= x.len || x.s[i + 1] == '/')
			continue;
		size_t k = i + 1, e = k;
		while (e < x.len && !strchr(" \t\r\n/>", x.s[e]))
			e++;
		const char *colon = memchr(x.s + k, ':', e - k);
		size_t ls = colon ? (size_t)(colon - x.s) + 1 : k; /* local name start */
		if (e - ls != nl || memcmp(x.s + ls, name, nl) != 0)
			continue;
		const char *gt = memchr(x.s + e, '>', x.len - e);
		if (!gt)
			return false;
		size_t ge = (size_t)(gt - x.s);
		bool empty = ge > e && x.s[ge - 1] == '/';
		*attrs = (struct cpm_str){ x.s + e, ge - e - (empty ? 1 : 0) };
		if (empty) {
			*inner = (struct cpm_str){ x.s + ge + 1, 0 };
			*pos = ge + 1;
			return true;
		}
		/* the closing tag with the same prefix */
		char close[80];
		snprintf(close, sizeof close, "</%.*s", (int)(e - k), x.s + k);
		const char *c = memmem(x.s + ge + 1, x.len - ge - 1, close, strlen(close));
		size_t ce = c ? (size_t)(c - x.s) : x.len;
		*inner = (struct cpm_str){ x.s + ge + 1, ce - ge - 1 };
		*pos = c ? ce + strlen(close) : x.len;
		return true;
	}
	return false;
}

/* The value of attribute name in attrs ("" when absent). */
static struct cpm_str xml_attr(struct cpm_str attrs, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i + nl + 2 <= attrs.len; i++) {
		if ((i && !strchr(" \t\r\n", attrs.s[i - 1])) ||
		    memcmp(attrs.s + i, name, nl) != 0)
			continue;
		size_t j = i + nl;
		while (j < attrs.len && attrs.s[j] == ' ')
			j++;
		if (j >= attrs.len || attrs.s[j] != '=')
			continue;
		j++;
		while (j < attrs.len && attrs.s[j] == ' ')
			j++;
		if (j >= attrs.len || (attrs.s[j] != '"' && attrs.s[j] != '\''))
			continue;
		const char *q = memchr(attrs.s + j + 1, attrs.s[j], attrs.len - j - 1);
		if (!q)
			return CPM_STR_NULL;
		return (struct cpm_str){ attrs.s + j + 1, (size_t)(q - attrs.s) - j - 1 };
	}
	return CPM_STR_NULL;
}

static struct cpm_cli_conf_user *conf_find(struct cpm_cli_conf *c, struct cpm_str entity)
{
	for (unsigned i = 0; i < c->n; i++)
		if (cpm_str_eq_cstr(entity, c->u[i].entity))
			return &c->u[i];
	return NULL;
}

int cpm_cli_conf_apply(struct cpm_cli_conf *c, struct cpm_str xml,
		       void (*cb)(void *arg, const struct cpm_cli_conf_user *u, bool joined),
		       void *arg)
{
	struct cpm_str attrs, doc, users, uattrs, uinner;
	size_t pos = 0;
	if (!xml_elem_next(xml, &pos, "conference-info", &attrs, &doc))
		return CPM_EPARSE;
	bool full = !cpm_str_eq_cstr(xml_attr(attrs, "state"), "partial");
	bool listed[CPM_CLI_CONF_MAX] = { false };
	pos = 0;
	if (xml_elem_next(doc, &pos, "users", &attrs, &users)) {
		size_t up = 0;
		while (xml_elem_next(users, &up, "user", &uattrs, &uinner)) {
			struct cpm_str entity = xml_attr(uattrs, "entity");
			struct cpm_str state = xml_attr(uattrs, "state");
			if (!entity.len)
				continue;
			/* RFC 4575 §5.6: present while an endpoint is connected
			 * (or on hold, or muted by the focus); no endpoint
			 * status at all counts as present */
			bool present = !cpm_str_eq_cstr(state, "deleted");
			size_t ep = 0;
			struct cpm_str ea, ei;
			bool any = false, up_ep = false;
			while (present && xml_elem_next(uinner, &ep, "endpoint", &ea, &ei)) {
				char st[32];
				if (cpm_str_eq_cstr(xml_attr(ea, "state"), "deleted"))
					continue;
				if (!cpm_cli_xml_text(ei, "status", st, sizeof st))
					continue;
				any = true;
				if (strcmp(st, "connected") == 0 || strcmp(st, "on-hold") == 0 ||
				    strcmp(st, "muted-via-focus") == 0)
					up_ep = true;
			}
			if (any && !up_ep)
				present = false;
			struct cpm_cli_conf_user *u = conf_find(c, entity);
			if (!u && c->n < CPM_CLI_CONF_MAX) {
				u = &c->u[c->n++];
				memset(u, 0, sizeof *u);
				cpm_cli_copy_cut(entity, u->entity, sizeof u->entity);
			}
			if (!u)
				continue;
			listed[u - c->u] = true;
			char disp[128];
			if (cpm_cli_xml_text(uinner, "display-text", disp, sizeof disp))
				snprintf(u->display, sizeof u->display, "%s", disp);
			if (present != u->present) {
				u->present = present;
				if (cb)
					cb(arg, u, present);
			}
		}
	}
	if (full) {
		for (unsigned i = 0; i < c->n; i++)
			if (!listed[i] && c->u[i].present) {
				c->u[i].present = false;
				if (cb)
					cb(arg, &c->u[i], false);
			}
		c->have_full = true;
	}
	return 0;
}

/* -------------------------------------------------------- reassembly */

int cpm_cli_msrp_slot_put(struct cpm_cli_msrp_slot *s, uint64_t start,
			  struct cpm_str bytes)
{
	if (start == 0)
		start = 1;
	uint64_t off = start - 1, end = off + bytes.len;
	if (end > CPM_CLI_MSRP_MAX_MSG || (s->total && end > s->total))
		return CPM_ETOOBIG;
	if (end > s->data.len) {
		/* zeros for a gap (a chunk that comes later fills it) */
		size_t grow = (size_t)end - s->data.len;
		if (cpm_buf_reserve(&s->data, grow) != 0)
			return CPM_ETOOBIG;
		memset(s->data.p + s->data.len, 0, grow);
		s->data.len = (size_t)end;
		s->data.p[s->data.len] = '\0';
	}
	memcpy(s->data.p + off, bytes.s, bytes.len);
	s->received += bytes.len;
	return 0;
}

/* ------------------------------------------------------------- chunks */

int cpm_cli_msrp_chunks(struct cpm_buf *b, const struct cpm_cli_msrp_out *o,
			char (*tids)[CPM_MSRP_TID_LEN + 1], size_t ntids)
{
	size_t chunk = o->chunk ? o->chunk : 16384;
	size_t n = o->body.len ? (o->body.len + chunk - 1) / chunk : 1;
	if (n > ntids)
		return CPM_ELIMIT;
	for (size_t i = 0; i < n; i++) {
		size_t off = i * chunk;
		size_t len = o->body.len - off < chunk ? o->body.len - off : chunk;
		struct cpm_str piece = { o->body.s + off, len };
		struct cpm_msrp_send s = {
			.to_path = o->to_path,
			.from_path = o->from_path,
			.message_id = o->message_id,
			.success_report = o->success_report ? CPM_MSRP_REP_YES
							    : CPM_MSRP_REP_ABSENT,
			.failure_report = o->failure_report,
			.content_type = o->body.len ? o->ctype : CPM_STR_NULL,
			.body = piece,
			.flag = i + 1 == n ? '$' : '+',
		};
		/* §7.1.1: Byte-Range on every chunk; the body-less bind SEND
		 * has none */
		if (o->body.len) {
			s.has_range = true;
			s.range = (struct cpm_msrp_range){ .start = off + 1,
							   .end = off + len,
							   .total = o->body.len };
		}
		/* §7.1: the body must not hold its own end-line: another tid */
		for (int k = 0; k < 8; k++) {
			cpm_msrp_tid_new(tids[i]);
			if (!cpm_msrp_body_has_endline(piece, cpm_str_from_cstr(tids[i])))
				break;
		}
		s.tid = cpm_str_from_cstr(tids[i]);
		int rc = cpm_msrp_print_send(b, &s);
		if (rc)
			return rc;
	}
	return (int)n;
}

/* ------------------------------------------------------- the session */

static void mtrace(const struct cpm_cli_msrp *m, bool out, const char *data, size_t len)
{
	if (!m->verbose)
		return;
	/* big bodies: the start only */
	size_t show = len > 2048 ? 2048 : len;
	fprintf(stderr, "%s msrp %s (%zu bytes)\n", out ? ">>>" : "<<<",
		out ? "sent" : "received", len);
	fwrite(data, 1, show, stderr);
	if (show < len)
		fprintf(stderr, "\n[... %zu more bytes]", len - show);
	fputc('\n', stderr);
	fflush(stderr);
}

void cpm_cli_msrp_init(struct cpm_cli_msrp *m, bool verbose, unsigned timeout_ms,
		       size_t chunk)
{
	memset(m, 0, sizeof *m);
	m->verbose = verbose;
	m->timeout_ms = timeout_ms ? timeout_ms : 10000;
	m->chunk = chunk ? chunk : 16384;
	m->lfd = m->fd = -1;
	cpm_buf_init(&m->in, 1u << 20);
	cpm_buf_init(&m->out, 2 * CPM_CLI_MSRP_MAX_MSG);
	cpm_msrp_parser_init(&m->p, NULL, CPM_MSRP_STREAM);
	m->cur.slot = -1;
	for (int i = 0; i < CPM_CLI_MSRP_SLOTS; i++)
		cpm_buf_init(&m->slots[i].data, CPM_CLI_MSRP_MAX_MSG);
}

void cpm_cli_msrp_free(struct cpm_cli_msrp *m)
{
	if (m->fd >= 0)
		close(m->fd);
	if (m->lfd >= 0)
		close(m->lfd);
	m->fd = m->lfd = -1;
	cpm_buf_free(&m->in);
	cpm_buf_free(&m->out);
	for (int i = 0; i < CPM_CLI_MSRP_SLOTS; i++)
		cpm_buf_free(&m->slots[i].data);
}

void cpm_cli_msrp_uri_make(struct cpm_cli_msrp *m, const char *local_ip, uint16_t port)
{
	char sess[25];
	cpm_rand_hex(sess, 12);
	bool v6 = strchr(local_ip, ':') != NULL;
	snprintf(m->local_ip, sizeof m->local_ip, "%s", local_ip);
	m->local_port = port;
	/* RFC 4975 §6: msrp://host:port/session-id;tcp */
	snprintf(m->my_uri, sizeof m->my_uri, "msrp://%s%s%s:%u/%s;tcp", v6 ? "[" : "",
		 local_ip, v6 ? "]" : "", port, sess);
	cpm_cli_msrp_path_make(m);
}

void cpm_cli_msrp_path_make(struct cpm_cli_msrp *m)
{
	snprintf(m->my_path, sizeof m->my_path, "%s%s%s", m->use_path,
		 m->use_path[0] ? " " : "", m->my_uri);
}

static int sockaddr_of(const char *host, uint16_t port, struct sockaddr_storage *ss,
		       socklen_t *len)
{
	struct addrinfo hints, *res = NULL;
	char ps[8];
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(ps, sizeof ps, "%u", port);
	if (getaddrinfo(host, ps, &hints, &res) != 0 || !res)
		return CPM_EADDR;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int cpm_cli_msrp_listen(struct cpm_cli_msrp *m, const char *local_ip)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1;
	if (sockaddr_of(local_ip, 0, &ss, &len) != 0)
		return CPM_EADDR;
	m->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (m->lfd < 0)
		return CPM_EIO;
	setsockopt(m->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(m->lfd, (struct sockaddr *)&ss, len) != 0 || listen(m->lfd, 4) != 0) {
		close(m->lfd);
		m->lfd = -1;
		return CPM_EIO;
	}
	len = sizeof ss;
	getsockname(m->lfd, (struct sockaddr *)&ss, &len);
	uint16_t port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						      : ((struct sockaddr_in *)&ss)->sin_port);
	cpm_cli_msrp_uri_make(m, local_ip, port);
	return 0;
}

/* Connect to an MSRP URI's host:port (blocking, bounded), then make the
 * socket non-blocking.  0 or an errno-style message in err. */
static int connect_uri(struct cpm_cli_msrp *m, struct cpm_str uri_s, char *err, size_t errsz)
{
	struct cpm_msrp_uri u;
	char host[256];
	struct sockaddr_storage ss;
	socklen_t len;
	if (cpm_msrp_uri_parse(uri_s, &u) != 0) {
		snprintf(err, errsz, "bad MSRP URI '%.*s'", CPM_STR_FMT(uri_s));
		return CPM_EPARSE;
	}
	struct cpm_str h = u.host;
	if (h.len >= 2 && h.s[0] == '[') {
		h.s++;
		h.len -= 2;
	}
	cpm_str_copy(h, host, sizeof host);
	uint16_t port = u.has_port ? u.port : CPM_MSRP_DEFAULT_PORT;
	if (sockaddr_of(host, port, &ss, &len) != 0) {
		snprintf(err, errsz, "cannot resolve '%s'", host);
		return CPM_EADDR;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errsz, "socket: %s", strerror(errno));
		return CPM_EIO;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	int e = cpm_cli_connect(fd, (struct sockaddr *)&ss, len, m->timeout_ms);
	if (e) {
		snprintf(err, errsz, "cannot connect to %s:%u: %s", host, port, strerror(e));
		close(fd);
		return e == ETIMEDOUT ? CPM_ETIMEDOUT : CPM_EIO;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (m->fd >= 0)
		close(m->fd);
	m->fd = fd;
	return 0;
}

size_t cpm_cli_msrp_queued(const struct cpm_cli_msrp *m)
{
	return m->out.len - m->out_off;
}

unsigned cpm_cli_msrp_pending_count(const struct cpm_cli_msrp *m)
{
	unsigned n = 0;
	for (int i = 0; i < CPM_CLI_MSRP_PENDING; i++)
		n += m->pend[i].used;
	return n;
}

static void pending_add(struct cpm_cli_msrp *m, enum cpm_cli_msrp_kind kind, const char *tid,
			const char *message_id, bool last)
{
	struct cpm_cli_msrp_pending *free_p = NULL, *oldest = &m->pend[0];
	for (int i = 0; i < CPM_CLI_MSRP_PENDING; i++) {
		if (!m->pend[i].used) {
			free_p = &m->pend[i];
			break;
		}
		if (m->pend[i].sent_ms < oldest->sent_ms)
			oldest = &m->pend[i];
	}
	struct cpm_cli_msrp_pending *p = free_p ? free_p : oldest;
	memset(p, 0, sizeof *p);
	p->used = true;
	p->kind = kind;
	snprintf(p->tid, sizeof p->tid, "%s", tid);
	snprintf(p->message_id, sizeof p->message_id, "%s", message_id ? message_id : "");
	p->last = last;
	p->sent_ms = cpm_now_ms();
}

/* Write what the socket takes now. */
static void flush_out(struct cpm_cli_msrp *m)
{
	while (m->fd >= 0 && cpm_cli_msrp_queued(m)) {
		ssize_t n = send(m->fd, m->out.p + m->out_off, cpm_cli_msrp_queued(m),
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				m->dead = true;
				if (m->cb.closed)
					m->cb.closed(m, strerror(errno), m->cb.arg);
			}
			break;
		}
		m->out_off += (size_t)n;
		m->bytes_out += (uint64_t)n;
	}
	if (m->out_off && m->out_off == m->out.len) {
		cpm_buf_reset(&m->out);
		m->out_off = 0;
	} else if (m->out_off > (1u << 20)) {
		cpm_buf_consume(&m->out, m->out_off);
		m->out_off = 0;
	}
}

static int queue(struct cpm_cli_msrp *m, const struct cpm_buf *b)
{
	mtrace(m, true, b->p, b->len);
	int rc = cpm_buf_append(&m->out, b->p, b->len);
	if (!rc)
		flush_out(m);
	return rc;
}

int cpm_cli_msrp_send(struct cpm_cli_msrp *m, const char *ctype, struct cpm_str body,
		      bool success_report, enum cpm_msrp_rep failure_report,
		      char message_id[CPM_MSRP_MSGID_LEN + 1])
{
	size_t n = body.len ? (body.len + m->chunk - 1) / m->chunk : 1;
	char (*tids)[CPM_MSRP_TID_LEN + 1] = calloc(n, sizeof *tids);
	struct cpm_buf b;
	if (!tids)
		return CPM_ENOMEM;
	cpm_msrp_msgid_new(message_id);
	cpm_buf_init(&b, CPM_CLI_MSRP_MAX_MSG + (n + 1) * 4096);
	struct cpm_cli_msrp_out o = {
		.to_path = cpm_str_from_cstr(m->to_path),
		.from_path = cpm_str_from_cstr(m->my_uri),
		.message_id = cpm_str_from_cstr(message_id),
		.ctype = cpm_str_from_cstr(ctype),
		.body = body,
		.success_report = success_report,
		.failure_report = failure_report,
		.chunk = m->chunk,
	};
	int rc = cpm_cli_msrp_chunks(&b, &o, tids, n);
	if (rc > 0) {
		/* §7.1.1: Failure-Report no (or partial) gets no 200 */
		bool answered = failure_report != CPM_MSRP_REP_NO &&
				failure_report != CPM_MSRP_REP_PARTIAL;
		for (int i = 0; answered && i < rc; i++)
			pending_add(m, CPM_CLI_MSRP_K_SEND, tids[i], message_id, i + 1 == rc);
		if (m->verbose && body.len)
			fprintf(stderr, "cpm: msrp: message %s: %zu bytes in %d chunk%s\n",
				message_id, body.len, rc, rc == 1 ? "" : "s");
		rc = queue(m, &b);
		m->bound = m->bound || m->fd >= 0;
	}
	cpm_buf_free(&b);
	free(tids);
	return rc;
}

int cpm_cli_msrp_nickname(struct cpm_cli_msrp *m, const char *nick)
{
	char tid[CPM_MSRP_TID_LEN + 1], q[300];
	struct cpm_buf b;
	cpm_msrp_tid_new(tid);
	cpm_buf_init(&b, 8192);
	/* RFC 7701 §7.1: Use-Nickname = "Use-Nickname:" SP quoted-string */
	size_t k = 0;
	q[k++] = '"';
	for (const char *c = nick; *c && k < sizeof q - 3; c++) {
		if (*c == '"' || *c == '\\')
			q[k++] = '\\';
		q[k++] = *c;
	}
	q[k++] = '"';
	q[k] = '\0';
	int rc = cpm_msrp_print_req_start(&b, cpm_str_from_cstr(tid), "NICKNAME",
					  cpm_str_from_cstr(m->to_path),
					  cpm_str_from_cstr(m->my_uri));
	if (!rc)
		rc = cpm_msrp_print_hdr(&b, "Use-Nickname", cpm_str_from_cstr(q));
	if (!rc)
		rc = cpm_msrp_print_end_line(&b, cpm_str_from_cstr(tid), '$', false);
	if (!rc) {
		pending_add(m, CPM_CLI_MSRP_K_NICKNAME, tid, NULL, true);
		rc = queue(m, &b);
	}
	cpm_buf_free(&b);
	return rc;
}

/* ------------------------------------------------------ incoming data */

static int slot_find(struct cpm_cli_msrp *m, const char *message_id, bool create)
{
	int fr = -1, old = 0;
	for (int i = 0; i < CPM_CLI_MSRP_SLOTS; i++) {
		if (m->slots[i].used && strcmp(m->slots[i].message_id, message_id) == 0)
			return i;
		if (!m->slots[i].used && fr < 0)
			fr = i;
		if (m->slots[i].last_ms < m->slots[old].last_ms)
			old = i;
	}
	if (!create)
		return -1;
	if (fr < 0)
		fr = old; /* the stalest one gives way */
	struct cpm_cli_msrp_slot *s = &m->slots[fr];
	cpm_buf_reset(&s->data);
	s->used = true;
	s->total = s->received = 0;
	s->last_seen = false;
	s->ctype[0] = s->from_path[0] = '\0';
	s->success_report = false;
	snprintf(s->message_id, sizeof s->message_id, "%s", message_id);
	return fr;
}

static void slot_release(struct cpm_cli_msrp *m, int i)
{
	m->slots[i].used = false;
	cpm_buf_reset(&m->slots[i].data);
	if (m->slots[i].data.cap > (1u << 20)) {
		cpm_buf_free(&m->slots[i].data);
		cpm_buf_init(&m->slots[i].data, CPM_CLI_MSRP_MAX_MSG);
	}
}

static bool is_mine(const struct cpm_cli_msrp *m, struct cpm_str to_path)
{
	struct cpm_msrp_uri a, b;
	struct cpm_str first = cpm_msrp_path_first(to_path);
	return cpm_msrp_uri_parse(first, &a) == 0 &&
	       cpm_msrp_uri_parse(cpm_str_from_cstr(m->my_uri), &b) == 0 &&
	       cpm_msrp_uri_eq(&a, &b);
}

/* The HEADERS event: copy what the message says before its bytes go. */
static void on_headers(struct cpm_cli_msrp *m, const struct cpm_msrp_msg *h)
{
	memset(&m->cur, 0, sizeof m->cur);
	m->cur.slot = -1;
	m->cur.is_request = h->is_request;
	m->cur.method = h->method;
	cpm_str_copy(h->tid, m->cur.tid, sizeof m->cur.tid);
	m->cur.code = h->code;
	cpm_cli_copy_cut(h->comment, m->cur.comment, sizeof m->cur.comment);
	cpm_str_copy(h->message_id, m->cur.message_id, sizeof m->cur.message_id);
	cpm_cli_copy_cut(h->from_path, m->cur.from_path, sizeof m->cur.from_path);
	cpm_cli_copy_cut(h->to_path, m->cur.to_path, sizeof m->cur.to_path);
	cpm_cli_copy_cut(h->content_type, m->cur.ctype, sizeof m->cur.ctype);
	m->cur.range = h->range;
	m->cur.has_range = h->has_range;
	m->cur.success_report = h->success_report;
	m->cur.failure_report = h->failure_report;
	m->cur.status = h->status;
	m->cur.has_status = h->has_status;
	cpm_cli_copy_cut(h->use_path, m->cur.use_path, sizeof m->cur.use_path);
	m->cur.expires = h->expires;
	if (!h->is_request) {
		int best = -1;
		for (unsigned i = 0; i < h->nhdrs; i++)
			if (h->hdrs[i].id == CPM_MSRP_H_WWW_AUTHENTICATE &&
			    cpm_cli_challenge_offer(h->hdrs[i].value, false, &m->cur.ch, &best) == 1)
				m->cur.have_ch = true;
		return;
	}
	if (h->err_status) {
		m->cur.answer = h->err_status;
		return;
	}
	if (h->method != CPM_MSRP_SEND) {
		/* REPORTs are not answered (§7.1.2); other methods: 501 */
		m->cur.answer = h->method == CPM_MSRP_REPORT ? 0 : 501;
		return;
	}
	if (!is_mine(m, h->to_path)) {
		m->cur.answer = 481; /* §7.3: not our session */
		return;
	}
	m->bound = true;
	m->cur.answer = 200;
	if (h->message_id.len == 0) {
		m->cur.answer = 400;
		return;
	}
	if (!h->has_body)
		return; /* the empty SEND that binds the connection */
	uint64_t total = h->has_range && !h->range.total_star ? h->range.total : 0;
	if (total > CPM_CLI_MSRP_MAX_MSG) {
		m->cur.answer = 413; /* §7.3, §10.5 */
		return;
	}
	int i = slot_find(m, m->cur.message_id, true);
	struct cpm_cli_msrp_slot *s = &m->slots[i];
	if (total)
		s->total = total;
	if (h->content_type.len)
		snprintf(s->ctype, sizeof s->ctype, "%s", m->cur.ctype);
	snprintf(s->from_path, sizeof s->from_path, "%s", m->cur.from_path);
	s->success_report = s->success_report || h->success_report == CPM_MSRP_REP_YES;
	s->last_ms = cpm_now_ms();
	m->cur.slot = i;
}

static void on_body(struct cpm_cli_msrp *m, struct cpm_str data, uint64_t done_before)
{
	if (m->cur.slot < 0 || m->cur.answer != 200)
		return;
	struct cpm_cli_msrp_slot *s = &m->slots[m->cur.slot];
	uint64_t start = (m->cur.has_range ? m->cur.range.start : 1) + done_before;
	if (cpm_cli_msrp_slot_put(s, start, data) != 0) {
		m->cur.answer = 413;
		slot_release(m, m->cur.slot);
		m->cur.slot = -1;
	}
}

static void respond(struct cpm_cli_msrp *m, int code)
{
	/* §7.1.1: Failure-Report no: no answer; partial: errors only */
	if (m->cur.failure_report == CPM_MSRP_REP_NO ||
	    (m->cur.failure_report == CPM_MSRP_REP_PARTIAL && code == 200))
		return;
	struct cpm_buf b;
	cpm_buf_init(&b, 8192);
	if (cpm_msrp_print_resp_start(&b, cpm_str_from_cstr(m->cur.tid), code, NULL,
				      cpm_str_from_cstr(m->cur.to_path),
				      cpm_str_from_cstr(m->cur.from_path)) == 0 &&
	    cpm_msrp_print_end_line(&b, cpm_str_from_cstr(m->cur.tid), '$', false) == 0)
		queue(m, &b);
	cpm_buf_free(&b);
}

/* §7.1.2: a Success-Report for a whole message. */
static void success_report(struct cpm_cli_msrp *m, const struct cpm_cli_msrp_slot *s)
{
	char tid[CPM_MSRP_TID_LEN + 1];
	struct cpm_buf b;
	cpm_msrp_tid_new(tid);
	cpm_buf_init(&b, 8192);
	struct cpm_msrp_report r = {
		.tid = cpm_str_from_cstr(tid),
		.to_path = cpm_str_from_cstr(s->from_path),
		.from_path = cpm_str_from_cstr(m->my_uri),
		.message_id = cpm_str_from_cstr(s->message_id),
		.range = { .start = 1, .end = s->data.len, .total = s->data.len },
		.status = { .ns = 0, .code = 200, .reason = cpm_str_from_cstr("OK") },
	};
	if (cpm_msrp_print_report(&b, &r) == 0)
		queue(m, &b);
	cpm_buf_free(&b);
}

static void relay_refreshed(struct cpm_cli_msrp *m, int code);

static void on_response(struct cpm_cli_msrp *m)
{
	for (int i = 0; i < CPM_CLI_MSRP_PENDING; i++) {
		struct cpm_cli_msrp_pending *p = &m->pend[i];
		if (!p->used || strcmp(p->tid, m->cur.tid) != 0)
			continue;
		p->used = false;
		if (p->kind == CPM_CLI_MSRP_K_SEND && m->cb.response)
			m->cb.response(m, p->message_id, p->last, m->cur.code,
				       cpm_str_from_cstr(m->cur.comment), m->cb.arg);
		else if (p->kind == CPM_CLI_MSRP_K_NICKNAME && m->cb.nickname)
			m->cb.nickname(m, m->cur.code, cpm_str_from_cstr(m->cur.comment),
				       m->cb.arg);
		else if (p->kind == CPM_CLI_MSRP_K_AUTH)
			relay_refreshed(m, m->cur.code);
		return;
	}
	if (m->verbose)
		fprintf(stderr, "cpm: msrp: response %d to an unknown transaction %s\n",
			m->cur.code, m->cur.tid);
}

static void on_end(struct cpm_cli_msrp *m, char flag)
{
	if (!m->cur.is_request) {
		on_response(m);
		return;
	}
	if (m->cur.method == CPM_MSRP_REPORT) {
		if (m->cb.report && m->cur.has_status)
			m->cb.report(m, m->cur.message_id, &m->cur.status, &m->cur.range,
				     m->cb.arg);
		return;
	}
	if (m->cur.answer)
		respond(m, m->cur.answer);
	if (m->cur.slot < 0)
		return;
	int i = m->cur.slot;
	struct cpm_cli_msrp_slot *s = &m->slots[i];
	if (flag == '#') {
		/* §7.1.1: the sender interrupted the message */
		if (m->cb.aborted)
			m->cb.aborted(m, s->message_id, m->cb.arg);
		slot_release(m, i);
		return;
	}
	if (flag == '$')
		s->last_seen = true;
	/* complete when the last chunk came and every byte is there (chunks
	 * may come in any order) */
	uint64_t total = s->total ? s->total : s->data.len;
	if (!s->last_seen || s->received < total)
		return;
	if (s->success_report)
		success_report(m, s);
	if (m->cb.message)
		m->cb.message(m, cpm_str_from_cstr(s->ctype), cpm_buf_str(&s->data),
			      s->message_id, m->cb.arg);
	slot_release(m, i);
}

int cpm_cli_msrp_feed(struct cpm_cli_msrp *m, const char *data, size_t len)
{
	if (len) {
		mtrace(m, false, data, len);
		if (cpm_buf_append(&m->in, data, len) != 0)
			return CPM_ELIMIT;
	}
	for (int guard = 0; guard < 100000; guard++) {
		struct cpm_msrp_event ev;
		uint64_t before = m->p.body_len;
		int rc = cpm_msrp_parse(&m->p, m->in.p, m->in.len, &ev);
		if (rc < 0)
			return rc;
		switch (ev.type) {
		case CPM_MSRP_EV_NONE:
			return 0;
		case CPM_MSRP_EV_HEADERS:
			on_headers(m, &m->p.msg);
			break;
		case CPM_MSRP_EV_BODY:
			on_body(m, ev.data, before);
			break;
		case CPM_MSRP_EV_END:
			on_end(m, ev.flag);
			break;
		}
		cpm_buf_consume(&m->in, ev.used);
	}
	return 0;
}

/* ----------------------------------------------------------- relay AUTH */

/* Read until a whole AUTH answer for tid came (blocking, bounded). */
static int auth_wait(struct cpm_cli_msrp *m, const char *tid, uint64_t deadline, char *err,
		     size_t errsz)
{
	for (;;) {
		/* a complete message in the buffer already? */
		struct cpm_msrp_msg msg;
		struct cpm_str body;
		char flag;
		size_t used;
		const char *why = NULL;
		int rc = cpm_msrp_msg_parse(m->in.p ? m->in.p : "", m->in.len, NULL, &msg, &body,
					    &flag, &used, &why);
		if (rc < 0) {
			snprintf(err, errsz, "bad answer from the relay: %s", why ? why : "?");
			return CPM_EPARSE;
		}
		if (rc == 1) {
			bool ours = !msg.is_request && cpm_str_eq_cstr(msg.tid, tid);
			if (ours) {
				mtrace(m, false, m->in.p, used);
				on_headers(m, &msg);
			}
			cpm_buf_consume(&m->in, used);
			if (ours)
				return 0;
			continue;
		}
		uint64_t now = cpm_now_ms();
		if (now >= deadline) {
			snprintf(err, errsz, "no answer from the relay after %u s",
				 m->timeout_ms / 1000);
			return CPM_ETIMEDOUT;
		}
		struct pollfd p = { .fd = m->fd, .events = POLLIN };
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			continue;
		char tmp[16384];
		ssize_t n = recv(m->fd, tmp, sizeof tmp, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			snprintf(err, errsz, "the relay closed the connection");
			return CPM_ECLOSED;
		}
		if (n > 0 && cpm_buf_append(&m->in, tmp, (size_t)n) != 0) {
			snprintf(err, errsz, "answer from the relay too large");
			return CPM_EPARSE;
		}
	}
}

static int auth_queue(struct cpm_cli_msrp *m, const char *relay_uri, const char *authz,
		      char tid[CPM_MSRP_TID_LEN + 1])
{
	struct cpm_buf b;
	cpm_msrp_tid_new(tid);
	cpm_buf_init(&b, 16384);
	struct cpm_msrp_auth_req a = {
		.tid = cpm_str_from_cstr(tid),
		.to_path = cpm_str_from_cstr(relay_uri),
		.from_path = cpm_str_from_cstr(m->my_uri),
		.authorization = cpm_str_from_cstr(authz ? authz : ""),
		.expires = -1,
	};
	int rc = cpm_msrp_print_auth(&b, &a);
	if (!rc)
		rc = queue(m, &b);
	cpm_buf_free(&b);
	return rc;
}

/* The Authorization value for an AUTH to uri (RFC 4976 §5.1: HTTP Digest,
 * method AUTH, the URI the AUTH is sent to); ch->nc moves on. */
static int auth_value(struct cpm_cli_challenge *ch, const char *user, const char *password,
		      const char *uri, struct cpm_buf *out)
{
	struct cpm_buf h;
	cpm_buf_init(&h, 4096);
	int rc = cpm_cli_auth_header(&h, ch, user, password, "AUTH", uri, CPM_STR_NULL, NULL);
	/* the SIP header line "Authorization: Digest ...\r\n": its value */
	const char *v = rc ? NULL : strchr(h.p, ':');
	if (v) {
		v++;
		while (*v == ' ')
			v++;
		size_t l = strlen(v);
		while (l && (v[l - 1] == '\r' || v[l - 1] == '\n'))
			l--;
		rc = cpm_buf_append(out, v, l);
	}
	cpm_buf_free(&h);
	return rc ? rc : v ? 0 : CPM_EINVAL;
}

static int auth_send(struct cpm_cli_msrp *m, const char *relay_uri, const char *authz,
		     char tid[CPM_MSRP_TID_LEN + 1])
{
	int rc = auth_queue(m, relay_uri, authz, tid);
	/* blocking enough for two small requests: wait until written */
	for (int i = 0; !rc && cpm_cli_msrp_queued(m) && i < 100 && !m->dead; i++) {
		struct pollfd p = { .fd = m->fd, .events = POLLOUT };
		poll(&p, 1, 100);
		flush_out(m);
	}
	return rc ? rc : m->dead ? CPM_ECLOSED : 0;
}

int cpm_cli_msrp_relay_auth(struct cpm_cli_msrp *m, const char *relay_uri,
			    const char *user, const char *password, char *err,
			    size_t errsz)
{
	char tid[CPM_MSRP_TID_LEN + 1];
	uint64_t deadline = cpm_now_ms() + m->timeout_ms;
	int rc = connect_uri(m, cpm_str_from_cstr(relay_uri), err, errsz);
	if (rc)
		return rc;
	if (!m->my_uri[0]) {
		/* the relay reaches us on this connection (RFC 4976 §6.1);
		 * our URI names the connection's local address */
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		char ip[64] = "127.0.0.1";
		uint16_t port = 9;
		if (getsockname(m->fd, (struct sockaddr *)&ss, &len) == 0) {
			char serv[8];
			if (getnameinfo((struct sockaddr *)&ss, len, ip, sizeof ip, serv,
					sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV) == 0)
				port = (uint16_t)atoi(serv);
		}
		cpm_cli_msrp_uri_make(m, ip, port);
	}
	/* §5.1: the first AUTH has no credentials and gets 401 */
	rc = auth_send(m, relay_uri, NULL, tid);
	if (!rc)
		rc = auth_wait(m, tid, deadline, err, errsz);
	if (rc)
		return rc;
	for (int round = 0; round < 2 && m->cur.code == 401; round++) {
		if (!m->cur.have_ch) {
			snprintf(err, errsz, "the relay's 401 has no usable Digest challenge");
			return CPM_EPARSE;
		}
		if (round == 1 && !m->cur.ch.stale) {
			snprintf(err, errsz, "the relay refused the credentials of %s (401)", user);
			return CPM_EPERM;
		}
		if (!password) {
			snprintf(err, errsz, "the relay needs a password (--password)");
			return CPM_EPERM;
		}
		m->relay_ch = m->cur.ch;
		struct cpm_buf v;
		cpm_buf_init(&v, 4096);
		rc = auth_value(&m->relay_ch, user, password, relay_uri, &v);
		if (!rc)
			rc = auth_send(m, relay_uri, v.p, tid);
		cpm_buf_free(&v);
		if (!rc)
			rc = auth_wait(m, tid, deadline, err, errsz);
		if (rc)
			return rc;
	}
	if (m->cur.code == 401 || m->cur.code == 403) {
		snprintf(err, errsz, "the relay refused the credentials of %s (%d %s)", user,
			 m->cur.code, m->cur.comment);
		return CPM_EPERM;
	}
	if (m->cur.code != 200 || !m->cur.use_path[0]) {
		snprintf(err, errsz, "AUTH to the relay: %d %s%s", m->cur.code, m->cur.comment,
			 m->cur.code == 200 ? " without Use-Path" : "");
		return CPM_EIO;
	}
	snprintf(m->use_path, sizeof m->use_path, "%s", m->cur.use_path);
	cpm_cli_msrp_path_make(m);
	snprintf(m->relay_user, sizeof m->relay_user, "%s", user);
	snprintf(m->relay_pass, sizeof m->relay_pass, "%s", password ? password : "");
	m->relay_expires = m->cur.expires > 0 ? m->cur.expires : 600;
	m->relay_refresh_ms = cpm_now_ms() + (uint64_t)m->relay_expires * 500;
	return 0;
}

/* RFC 4976 §5.1: an AUTH to the session URI before it expires keeps it;
 * the nonce may have gone stale (401 again: answered once). */
static void relay_refresh(struct cpm_cli_msrp *m, bool again)
{
	char tid[CPM_MSRP_TID_LEN + 1], uri[600];
	struct cpm_buf v;
	cpm_str_copy(cpm_msrp_path_first(cpm_str_from_cstr(m->use_path)), uri, sizeof uri);
	cpm_buf_init(&v, 4096);
	if (auth_value(&m->relay_ch, m->relay_user, m->relay_pass, uri, &v) == 0 &&
	    auth_queue(m, uri, v.p, tid) == 0)
		pending_add(m, CPM_CLI_MSRP_K_AUTH, tid, NULL, true);
	cpm_buf_free(&v);
	m->relay_retried = again;
	/* no answer: try again later */
	m->relay_refresh_ms = cpm_now_ms() + CPM_CLI_MSRP_TIMEOUT_MS + 1000;
}

static void relay_refreshed(struct cpm_cli_msrp *m, int code)
{
	if (code == 200) {
		if (m->cur.expires > 0)
			m->relay_expires = m->cur.expires;
		m->relay_refresh_ms = cpm_now_ms() + (uint64_t)m->relay_expires * 500;
		if (m->verbose)
			fprintf(stderr, "cpm: msrp: relay session refreshed for %lld s\n",
				(long long)m->relay_expires);
		return;
	}
	if (code == 401 && m->cur.have_ch && !m->relay_retried) {
		m->relay_ch = m->cur.ch;
		relay_refresh(m, true);
		return;
	}
	fprintf(stderr, "cpm: msrp: the relay did not refresh the session: %d %s\n", code,
		m->cur.comment);
}

/* ---------------------------------------------------------- the session */

int cpm_cli_msrp_start(struct cpm_cli_msrp *m, const char *peer_path, bool active,
		       char *err, size_t errsz)
{
	snprintf(m->peer_path, sizeof m->peer_path, "%s", peer_path);
	/* RFC 4976 §6.1: our relays, then the peer's path */
	snprintf(m->to_path, sizeof m->to_path, "%s%s%s", m->use_path,
		 m->use_path[0] ? " " : "", peer_path);
	m->active = active;
	if (m->use_path[0]) {
		/* behind a relay everything goes over the AUTH connection */
		m->bound = true;
	} else if (active) {
		int rc = connect_uri(m, cpm_msrp_path_first(cpm_str_from_cstr(peer_path)), err,
				     errsz);
		if (rc)
			return rc;
		if (m->lfd >= 0) {
			close(m->lfd); /* nobody will connect to us now */
			m->lfd = -1;
		}
	}
	if (active) {
		/* §5.4: the active side sends at once, an empty SEND if it has
		 * nothing to say, so the other side can match the connection */
		char id[CPM_MSRP_MSGID_LEN + 1];
		return cpm_cli_msrp_send(m, "", CPM_STR_NULL, false, CPM_MSRP_REP_ABSENT, id);
	}
	return 0;
}

int cpm_cli_msrp_pollfds(struct cpm_cli_msrp *m, struct pollfd *p)
{
	int n = 0;
	if (m->fd >= 0 && !m->dead) {
		p[n].fd = m->fd;
		p[n].events = POLLIN | (cpm_cli_msrp_queued(m) ? POLLOUT : 0);
		p[n++].revents = 0;
	}
	if (m->lfd >= 0 && m->fd < 0) {
		p[n].fd = m->lfd;
		p[n].events = POLLIN;
		p[n++].revents = 0;
	}
	return n;
}

static void timeouts(struct cpm_cli_msrp *m)
{
	uint64_t now = cpm_now_ms();
	for (int i = 0; i < CPM_CLI_MSRP_PENDING; i++) {
		struct cpm_cli_msrp_pending *p = &m->pend[i];
		if (!p->used || now < p->sent_ms + CPM_CLI_MSRP_TIMEOUT_MS)
			continue;
		p->used = false;
		if (p->kind == CPM_CLI_MSRP_K_SEND && m->cb.response)
			m->cb.response(m, p->message_id, p->last, 0, CPM_STR_NULL, m->cb.arg);
		else if (p->kind == CPM_CLI_MSRP_K_NICKNAME && m->cb.nickname)
			m->cb.nickname(m, 0, CPM_STR_NULL, m->cb.arg);
	}
	/* after the loop: what it adds is younger than now */
	if (m->use_path[0] && !m->dead && m->fd >= 0 && now >= m->relay_refresh_ms)
		relay_refresh(m, false);
}

void cpm_cli_msrp_service(struct cpm_cli_msrp *m, const struct pollfd *p, int n)
{
	for (int i = 0; i < n; i++) {
		if (!p[i].revents)
			continue;
		if (p[i].fd == m->lfd && m->fd < 0) {
			int fd = accept4(m->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (fd >= 0) {
				int one = 1;
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
				m->fd = fd;
				flush_out(m);
			}
			continue;
		}
		if (p[i].fd != m->fd || m->dead)
			continue;
		if (p[i].revents & POLLOUT)
			flush_out(m);
		if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
			char tmp[65536];
			for (int k = 0; k < 16 && !m->dead; k++) {
				ssize_t r = recv(m->fd, tmp, sizeof tmp, MSG_DONTWAIT);
				if (r > 0) {
					m->bytes_in += (uint64_t)r;
					int rc = cpm_cli_msrp_feed(m, tmp, (size_t)r);
					if (rc < 0) {
						m->dead = true;
						if (m->cb.closed)
							m->cb.closed(m, m->p.err_reason ? m->p.err_reason
											: cpm_strerror(rc),
								     m->cb.arg);
					}
					continue;
				}
				if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
					break;
				m->dead = true;
				if (m->cb.closed)
					m->cb.closed(m, r == 0 ? "closed by the peer" : strerror(errno),
						     m->cb.arg);
			}
		}
	}
	timeouts(m);
}
