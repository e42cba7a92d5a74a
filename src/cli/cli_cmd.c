/* cli — the commands: register, listen, send (with --report), options. */
#include "cli/cli.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- helpers */

static struct cpm_str reason_of(const struct cpm_sip_msg *m)
{
	if (m->reason.len)
		return m->reason;
	return cpm_str_from_cstr(cpm_sip_reason(m->status));
}

/* Report a non-2xx final answer on stderr; what: "registration", NULL for
 * send (which prints "failed: ..." on stdout).  Returns the exit code. */
int cpm_cli_report_failure(const struct cpm_cli_ua *ua, const struct cpm_sip_msg *m,
			  const char *what)
{
	int st = m->status;
	struct cpm_str r = reason_of(m);

	if ((st == 401 || st == 407) && !ua->password) {
		fprintf(stderr, "cpm: authentication required: %d %.*s (give --password or --password-file)\n",
			st, CPM_STR_FMT(r));
	} else if ((st == 401 || st == 407 || st == 403) && ua->sent_credentials) {
		fprintf(stderr, "cpm: authentication failed: %d %.*s (check --user/--password)\n",
			st, CPM_STR_FMT(r));
	} else if (st == 401 || st == 407) {
		fprintf(stderr, "cpm: authentication failed: %d %.*s (no supported digest challenge offered)\n",
			st, CPM_STR_FMT(r));
	} else if (what) {
		fprintf(stderr, "cpm: %s failed: %d %.*s\n", what, st, CPM_STR_FMT(r));
	} else {
		printf("failed: %d %.*s\n", st, CPM_STR_FMT(r));
		fflush(stdout);
	}
	return CPM_CLI_EXIT_FAIL;
}

bool cpm_cli_need_user(const struct cpm_cli_args *a, const char *cmd)
{
	if (a->user[0])
		return true;
	fprintf(stderr, "cpm: %s needs your address: give --user AOR (e.g. alice@example.test) or set user in the config file\n",
		cmd);
	return false;
}

/* Expires of a Contact element or of the message; -1 if none. */
static long contact_expires(const struct cpm_sip_msg *m, const struct cpm_sip_addr *c)
{
	struct cpm_str v;
	uint64_t n;
	if (c && cpm_sip_param_find(c->params, "expires", &v) &&
	    cpm_str_to_u64(cpm_str_trim(v), 0xffffffffu, &n) == 0)
		return (long)n;
	const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(m, CPM_SIP_H_EXPIRES);
	if (h && cpm_str_to_u64(h->value, 0xffffffffu, &n) == 0)
		return (long)n;
	return -1;
}

/* ----------------------------------------------------------- register */

void cpm_cli_contact_init(const struct cpm_cli_ua *ua, struct cpm_cli_reg *r)
{
	snprintf(r->contact, sizeof r->contact, "sip:%s@%s%s", ua->user,
		 ua->local_hostport,
		 ua->transport == CPM_CLI_TCP ? ";transport=tcp" : "");
}

/* Send REGISTER (refreshes keep Call-ID and increase CSeq).  all: Contact *.
 * Returns 0 with *resp for any final answer, or a transport error. */
static int do_register(struct cpm_cli_ua *ua, struct cpm_cli_reg *r, unsigned expires,
		       bool all, const struct cpm_sip_msg **resp)
{
	char ruri[300], extra[700];
	int rc;

	snprintf(ruri, sizeof ruri, "sip:%s", ua->domain);
	for (int attempt = 0; attempt < 2; attempt++) {
		if (all)
			snprintf(extra, sizeof extra,
				 "Contact: *\r\nExpires: 0\r\n");
		else
			snprintf(extra, sizeof extra,
				 "Contact: <%s>\r\nExpires: %u\r\n"
				 "Allow: MESSAGE, OPTIONS\r\n",
				 r->contact, expires);
		struct cpm_cli_req req = {
			.method = CPM_SIP_REGISTER,
			.ruri = ruri,
			.to_uri = ua->aor_uri,
			.extra = extra,
		};
		rc = cpm_cli_ua_request(ua, &req, resp);
		if (rc)
			return rc;
		if ((*resp)->status != 423 || expires == 0)
			break;
		/* 423 Interval Too Brief: retry with Min-Expires */
		const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(*resp, CPM_SIP_H_MIN_EXPIRES);
		uint64_t min;
		if (!h || cpm_str_to_u64(h->value, 0x7fffffff, &min) != 0 ||
		    min <= expires)
			break;
		fprintf(stderr, "cpm: server wants expires >= %u, retrying\n",
			(unsigned)min);
		expires = (unsigned)min;
	}
	r->granted = expires;
	if ((*resp)->status >= 200 && (*resp)->status < 300 && expires > 0) {
		struct cpm_sip_uri mine;
		bool found = false;
		cpm_sip_uri_parse(cpm_str_from_cstr(r->contact), &mine);
		for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(*resp, CPM_SIP_H_CONTACT);
		     h && !found; h = cpm_sip_msg_hdr_next(*resp, h)) {
			struct cpm_str cur = h->value;
			struct cpm_sip_addr c;
			struct cpm_sip_uri u;
			while (cpm_sip_addr_next(&cur, &c) == 1) {
				if (cpm_sip_uri_parse(c.uri, &u) == 0 &&
				    cpm_sip_uri_eq(&u, &mine)) {
					long e = contact_expires(*resp, &c);
					if (e >= 0)
						r->granted = (unsigned)e;
					found = true;
					break;
				}
			}
		}
		if (!found) {
			long e = contact_expires(*resp, NULL);
			if (e > 0)
				r->granted = (unsigned)e;
		}
	}
	return 0;
}

static void print_bindings(const struct cpm_sip_msg *m, FILE *f)
{
	for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(m, CPM_SIP_H_CONTACT); h;
	     h = cpm_sip_msg_hdr_next(m, h)) {
		struct cpm_str cur = h->value;
		struct cpm_sip_addr c;
		while (cpm_sip_addr_next(&cur, &c) == 1) {
			if (c.star)
				continue;
			long e = contact_expires(m, &c);
			if (e >= 0)
				fprintf(f, "binding: %.*s (expires %ld)\n",
					CPM_STR_FMT(c.uri), e);
			else
				fprintf(f, "binding: %.*s\n", CPM_STR_FMT(c.uri));
		}
	}
}

int cpm_cli_cmd_register(const struct cpm_cli_args *a)
{
	struct cpm_cli_ua ua;
	struct cpm_cli_reg r;
	const struct cpm_sip_msg *m;
	int rc, ex;

	if (!cpm_cli_need_user(a, "register"))
		return CPM_CLI_EXIT_FAIL;
	if (cpm_cli_ua_open(&ua, a) != 0) {
		cpm_cli_ua_close(&ua);
		return CPM_CLI_EXIT_FAIL;
	}
	cpm_cli_contact_init(&ua, &r);
	bool all = a->unregister && !a->local_port_set;
	rc = do_register(&ua, &r, a->unregister ? 0 : a->expires, all, &m);
	if (rc) {
		cpm_cli_ua_report(&ua, rc);
		ex = CPM_CLI_EXIT_FAIL;
	} else if (m->status >= 300) {
		ex = cpm_cli_report_failure(&ua, m, a->unregister ? "unregistration" :
							    "registration");
	} else {
		if (a->unregister)
			printf("unregistered %s\n", a->user);
		else
			printf("registered %s at %s (expires %u)\n", a->user,
			       r.contact, r.granted);
		print_bindings(m, stdout);
		ex = CPM_CLI_EXIT_OK;
	}
	fflush(stdout);
	cpm_cli_ua_close(&ua);
	return ex;
}

/* ------------------------------------------------------- send helpers */

static int read_stdin(struct cpm_buf *b)
{
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, stdin)) > 0)
		if (cpm_buf_append(b, tmp, n) != 0)
			return CPM_ETOOBIG;
	return ferror(stdin) ? CPM_EIO : 0;
}

static void http_date(char *out, size_t outsz)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed",
					    "Thu", "Fri", "Sat" };
	static const char *const mons[] = { "Jan", "Feb", "Mar", "Apr",
					    "May", "Jun", "Jul", "Aug",
					    "Sep", "Oct", "Nov", "Dec" };
	snprintf(out, outsz, "%s, %02d %s %04d %02d:%02d:%02d GMT",
		 days[tm.tm_wday], tm.tm_mday, mons[tm.tm_mon],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* ------------------------------------------------------------- listen */

struct listen_state {
	const struct cpm_cli_args *a;
	unsigned received;
};

static void put_json_str(struct cpm_buf *b, struct cpm_str s)
{
	cpm_buf_puts(b, "\"");
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.s[i];
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			cpm_buf_append(b, e, 2);
		} else if (c == '\n') {
			cpm_buf_puts(b, "\\n");
		} else if (c == '\r') {
			cpm_buf_puts(b, "\\r");
		} else if (c == '\t') {
			cpm_buf_puts(b, "\\t");
		} else if (c < 0x20 || c == 0x7f) {
			cpm_buf_printf(b, "\\u%04x", c);
		} else if (c < 0x80) {
			cpm_buf_append(b, &c, 1);
		} else {
			/* copy a valid UTF-8 sequence, else U+FFFD */
			size_t n = c >= 0xf0 && c <= 0xf4 ? 4 :
				   c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
			bool ok = n && i + n <= s.len && c < 0xf5;
			for (size_t k = 1; ok && k < n; k++)
				ok = ((unsigned char)s.s[i + k] & 0xc0) == 0x80;
			if (ok) {
				cpm_buf_append(b, s.s + i, n);
				i += n - 1;
			} else {
				cpm_buf_puts(b, "\\ufffd");
			}
		}
	}
	cpm_buf_puts(b, "\"");
}

/* Text for the one-line format: line breaks as \n, other controls \xHH. */
static void put_line_text(struct cpm_buf *b, struct cpm_str s)
{
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.s[i];
		if (c == '\r' && i + 1 < s.len && s.s[i + 1] == '\n')
			continue;
		if (c == '\n')
			cpm_buf_puts(b, "\\n");
		else if (c == '\r')
			cpm_buf_puts(b, "\\r");
		else if ((c < 0x20 && c != '\t') || c == 0x7f)
			cpm_buf_printf(b, "\\x%02x", c);
		else
			cpm_buf_append(b, &c, 1);
	}
}

static void addr_aor(struct cpm_str uri, char *out, size_t outsz)
{
	struct cpm_sip_uri u;
	if (cpm_sip_uri_parse(uri, &u) != 0 || cpm_sip_uri_aor(&u, out, outsz) < 0)
		snprintf(out, outsz, "%.*s", CPM_STR_FMT(uri));
}

static bool is_text(struct cpm_str mime)
{
	return mime.len == 0 || cpm_str_istarts(mime, "text/");
}

/* An IMDN (RFC 5438), bare or inside message/cpim (§7.1): true and *d
 * filled when m carries a readable one. */
static bool message_report(const struct cpm_sip_msg *m, struct cpm_cli_imdn *d)
{
	const struct cpm_sip_hdr *ct = cpm_sip_msg_hdr(m, CPM_SIP_H_CONTENT_TYPE);
	struct cpm_str mime = CPM_STR_NULL, params, body = m->body;
	if (!ct || cpm_sip_ctype_parse(ct->value, &mime, &params) != 0)
		return false;
	if (cpm_str_ieq_cstr(mime, "message/cpim")) {
		struct cpm_str ict;
		if (!cpm_cli_cpim_unwrap(m->body, &ict, &body) ||
		    cpm_sip_ctype_parse(ict, &mime, &params) != 0)
			return false;
	}
	return cpm_str_ieq_cstr(mime, "message/imdn+xml") &&
	       cpm_cli_imdn_parse(body, d) == 0;
}

/* The original Date of m: *sent (0 if unreadable), and whether it is old
 * enough to say the message was stored. */
static bool message_stored(const struct cpm_sip_msg *m, int64_t *sent)
{
	const struct cpm_sip_hdr *dh = cpm_sip_msg_hdr(m, CPM_SIP_H_DATE);
	*sent = 0;
	if (!dh || cpm_cli_date_parse(dh->value, sent) != 0)
		return false;
	return cpm_wall_s() - *sent >= CPM_CLI_STORED_AGE;
}

static void put_report_line(struct cpm_buf *b, const struct cpm_cli_imdn *d,
			    const char *from)
{
	char by[300];
	if (d->recipient[0])
		addr_aor(cpm_str_from_cstr(d->recipient), by, sizeof by);
	else
		snprintf(by, sizeof by, "%s", from);
	cpm_buf_puts(b, "report: ");
	put_line_text(b, cpm_str_from_cstr(d->message_id));
	cpm_buf_puts(b, " ");
	put_line_text(b, cpm_str_from_cstr(d->status));
	cpm_buf_puts(b, " by ");
	put_line_text(b, cpm_str_from_cstr(by));
}

/* Print a MESSAGE as listen does: one line, or one JSON object. */
static void show_message(const struct cpm_sip_msg *m, bool json)
{
	char from[300], to[300], date[64], when[40] = "";
	struct cpm_cli_imdn d;
	struct cpm_buf b;
	const struct cpm_sip_hdr *ct = cpm_sip_msg_hdr(m, CPM_SIP_H_CONTENT_TYPE);
	struct cpm_str ctype = ct ? ct->value : CPM_STR_NULL;
	int64_t sent;
	bool stored = message_stored(m, &sent);
	bool report = message_report(m, &d);
	struct cpm_cli_notice nt;
	bool notice = !report && cpm_cli_notice_parse(ctype, m->body, &nt);

	if (sent)
		cpm_cli_date_format(sent, json ? 'T' : ' ', when, sizeof when);
	addr_aor(m->from.uri, from, sizeof from);
	addr_aor(m->to.uri, to, sizeof to);
	cpm_buf_init(&b, 1 << 20);
	if (json) {
		const struct cpm_sip_hdr *dh = cpm_sip_msg_hdr(m, CPM_SIP_H_DATE);
		if (dh)
			cpm_str_copy(dh->value, date, sizeof date);
		if (!dh || !date[0])
			http_date(date, sizeof date);
		cpm_buf_puts(&b, "{\"from\":");
		put_json_str(&b, cpm_str_from_cstr(from));
		cpm_buf_puts(&b, ",\"to\":");
		put_json_str(&b, cpm_str_from_cstr(to));
		cpm_buf_puts(&b, ",\"content_type\":");
		put_json_str(&b, ctype);
		cpm_buf_puts(&b, ",\"body\":");
		put_json_str(&b, m->body);
		cpm_buf_puts(&b, ",\"call_id\":");
		put_json_str(&b, m->call_id);
		cpm_buf_puts(&b, ",\"date\":");
		put_json_str(&b, cpm_str_from_cstr(date));
		if (when[0]) {
			cpm_buf_puts(&b, ",\"sent\":");
			put_json_str(&b, cpm_str_from_cstr(when));
		}
		cpm_buf_printf(&b, ",\"stored\":%s", stored ? "true" : "false");
		if (notice) {
			cpm_buf_puts(&b, ",\"fetch_url\":");
			put_json_str(&b, cpm_str_from_cstr(nt.url));
		}
		if (report) {
			static const char *const keys[5] = { "message_id", "status",
							     "notification", "recipient",
							     "datetime" };
			const char *vals[5] = { d.message_id, d.status, d.notification,
						d.recipient, d.datetime };
			cpm_buf_puts(&b, ",\"report\":{");
			for (int i = 0; i < 5; i++) {
				cpm_buf_printf(&b, "%s\"%s\":", i ? "," : "", keys[i]);
				put_json_str(&b, cpm_str_from_cstr(vals[i]));
			}
			cpm_buf_puts(&b, "}");
		}
		cpm_buf_puts(&b, "}\n");
	} else {
		struct cpm_str mime = CPM_STR_NULL, params, body = m->body;
		if (stored)
			cpm_buf_printf(&b, "[stored, sent %s] ", when);
		if (ctype.len)
			cpm_sip_ctype_parse(ctype, &mime, &params);
		if (!report && cpm_str_ieq_cstr(mime, "message/cpim")) {
			struct cpm_str ict, inner;
			if (cpm_cli_cpim_unwrap(body, &ict, &inner)) {
				mime = ict;
				long semi = cpm_str_chr(mime, ';');
				if (semi >= 0)
					mime = cpm_str_trim((struct cpm_str){ mime.s, (size_t)semi });
				body = inner;
			}
		}
		if (report) {
			put_report_line(&b, &d, from);
		} else if (notice) {
			/* RFC 4483: the content waits on the server */
			cpm_buf_printf(&b, "%s: [waiting on the server: %s", from,
				       nt.content_type[0] ? nt.content_type : "?");
			if (nt.size >= 0)
				cpm_buf_printf(&b, ", %lld bytes", (long long)nt.size);
			cpm_buf_puts(&b, "; cpm fetch '");
			put_line_text(&b, cpm_str_from_cstr(nt.url));
			cpm_buf_puts(&b, "']");
		} else {
			cpm_buf_printf(&b, "%s: ", from);
			if (is_text(mime))
				put_line_text(&b, body);
			else
				cpm_buf_printf(&b, "[%.*s, %zu bytes]", CPM_STR_FMT(mime),
					       body.len);
		}
		cpm_buf_puts(&b, "\n");
	}
	fwrite(b.p, 1, b.len, stdout);
	fflush(stdout);
	cpm_buf_free(&b);
}

/* RFC 3994 "is typing" indications are not messages to show. */
static bool is_composing(const struct cpm_sip_msg *m)
{
	const struct cpm_sip_hdr *ct = cpm_sip_msg_hdr(m, CPM_SIP_H_CONTENT_TYPE);
	struct cpm_str mime = CPM_STR_NULL, params;
	return ct && cpm_sip_ctype_parse(ct->value, &mime, &params) == 0 &&
	       cpm_str_ieq_cstr(mime, "application/im-iscomposing+xml");
}

/* Answer what is not a MESSAGE to show: a Require we cannot honour, an
 * isComposing, OPTIONS, other methods.  true when rx was answered. */
static bool answer_other(struct cpm_cli_ua *ua, const struct cpm_cli_rx *rx)
{
	const struct cpm_sip_msg *m = &rx->msg;
	const struct cpm_sip_hdr *req = cpm_sip_msg_hdr(m, CPM_SIP_H_REQUIRE);

	if (req && (m->method == CPM_SIP_MESSAGE || m->method == CPM_SIP_OPTIONS)) {
		/* we support no extensions (RFC 3261 §8.2.2.3) */
		char extra[600];
		snprintf(extra, sizeof extra, "Unsupported: %.*s\r\n",
			 (int)(req->value.len > 500 ? 500 : req->value.len),
			 req->value.s);
		cpm_cli_ua_respond(ua, rx, 420, extra);
		return true;
	}
	switch (m->method) {
	case CPM_SIP_MESSAGE:
		if (!is_composing(m))
			return false;
		cpm_cli_ua_respond(ua, rx, 200, NULL);
		break;
	case CPM_SIP_OPTIONS:
		cpm_cli_ua_respond(ua, rx, 200,
				   "Allow: MESSAGE, OPTIONS\r\n"
				   "Accept: text/plain, message/cpim, */*\r\n");
		break;
	case CPM_SIP_OTHER:
		cpm_cli_ua_respond(ua, rx, 501, "Allow: MESSAGE, OPTIONS\r\n");
		break;
	default:
		cpm_cli_ua_respond(ua, rx, 405, "Allow: MESSAGE, OPTIONS\r\n");
		break;
	}
	return true;
}

static void listen_on_request(struct cpm_cli_ua *ua, const struct cpm_cli_rx *rx,
			      void *arg)
{
	struct listen_state *st = arg;

	if (answer_other(ua, rx))
		return;
	if (st->a->count && st->received >= st->a->count) {
		cpm_cli_ua_respond(ua, rx, 480, NULL);
		return;
	}
	show_message(&rx->msg, st->a->json);
	cpm_cli_ua_respond(ua, rx, 200, NULL);
	st->received++;
}

static void on_signal(int sig)
{
	(void)sig;
	cpm_cli_stop = 1;
}

void cpm_cli_signals_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESETHAND; /* a second ^C kills at once */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Seconds until the refresh of a registration granted for g seconds. */
static uint64_t refresh_ms(unsigned g)
{
	if (g == 0)
		g = 1;
	uint64_t s = g > 120 ? g - 60 : g > 2 ? g / 2 : 1;
	return s * 1000;
}

/* Register (or refresh); prints the errors.  0 ok, 1 failure answer,
 * <0 transport error.  what: the purpose said on stderr after the first
 * registration ("listening"), NULL: said only with -v. */
int cpm_cli_contact_register(struct cpm_cli_ua *ua, struct cpm_cli_reg *r, unsigned expires,
			    bool first, const char *what)
{
	const struct cpm_sip_msg *m;
	int rc = do_register(ua, r, expires, false, &m);
	if (rc) {
		cpm_cli_ua_report(ua, rc);
		return rc;
	}
	if (m->status >= 300) {
		cpm_cli_report_failure(ua, m, "registration");
		return 1;
	}
	if (first && what)
		fprintf(stderr, "cpm: registered %s at %s (expires %u), %s\n",
			ua->aor_uri + 4, r->contact, r->granted, what);
	else if (first)
		cpm_logi("cpm", "registered at %s (expires %u)", r->contact, r->granted);
	else
		cpm_logi("cpm", "registration refreshed (expires %u)", r->granted);
	return 0;
}

/* Keep a registered contact: receive requests (to ua->on_request), refresh
 * the registration, send TCP keep-alives and reconnect, until a signal,
 * the end time (0: none) or done(arg).  0, or CPM_CLI_EXIT_FAIL on a
 * receive error.  *connected: whether the socket is still usable. */
struct serve {
	struct cpm_cli_ua *ua;
	struct cpm_cli_reg *r;
	unsigned expires;
	uint64_t end;	  /* cpm_now_ms() deadline, 0: none */
	uint64_t ka_ms;	  /* TCP keep-alive interval, 0: off */
	bool (*done)(void *arg);
	void *arg;
	bool connected;
};

static int serve_run(struct serve *sv)
{
	struct cpm_cli_ua *ua = sv->ua;
	uint64_t start = cpm_now_ms();
	uint64_t refresh_at = start + refresh_ms(sv->r->granted);
	uint64_t ka_at = start + sv->ka_ms;
	int rc, ex = CPM_CLI_EXIT_OK;

	sv->connected = true;
	while (!cpm_cli_stop && !sv->done(sv->arg)) {
		uint64_t now = cpm_now_ms();
		if (sv->end && now >= sv->end)
			break;
		if (now >= refresh_at) {
			if (!sv->connected) {
				int rrc = cpm_cli_ua_reopen(ua);
				ua->quiet = true; /* say it once per outage */
				if (rrc != 0) {
					refresh_at = now + 2000;
					continue;
				}
				ua->quiet = false;
				fprintf(stderr, "cpm: reconnected to %s over tcp\n",
					ua->peer_str);
				sv->connected = true;
				cpm_cli_contact_init(ua, sv->r);
			}
			rc = cpm_cli_contact_register(ua, sv->r, sv->expires, false, NULL);
			if (rc == CPM_ECLOSED) {
				sv->connected = false;
				refresh_at = cpm_now_ms() + 2000;
			} else if (rc) {
				refresh_at = cpm_now_ms() + 5000; /* try again soon */
			} else {
				refresh_at = cpm_now_ms() + refresh_ms(sv->r->granted);
			}
			continue;
		}
		if (sv->ka_ms && sv->connected && now >= ka_at) {
			if (cpm_cli_ua_keepalive(ua) != 0) {
				fprintf(stderr, "cpm: connection to %s over tcp lost, reconnecting\n",
					ua->peer_str);
				sv->connected = false;
				refresh_at = now;
			}
			ka_at = now + sv->ka_ms;
			continue;
		}
		uint64_t until = refresh_at;
		if (sv->end && sv->end < until)
			until = sv->end;
		if (sv->ka_ms && ka_at < until)
			until = ka_at;
		if (until - now > 500)
			until = now + 500; /* bounds the signal race */
		if (!sv->connected) {
			usleep((useconds_t)(until - now) * 1000);
			continue;
		}
		rc = cpm_cli_ua_poll(ua, (int)(until - now));
		if (rc == CPM_ECLOSED) {
			fprintf(stderr, "cpm: connection to %s over tcp closed, reconnecting\n",
				ua->peer_str);
			sv->connected = false;
			refresh_at = cpm_now_ms();
		} else if (rc < 0) {
			fprintf(stderr, "cpm: receive error: %s\n", cpm_strerror(rc));
			ex = CPM_CLI_EXIT_FAIL;
			break;
		}
	}
	return ex;
}

/* Remove the contact; a signal during it must not cut it short.  say:
 * print "unregistered" on stderr. */
void cpm_cli_contact_unregister(struct cpm_cli_ua *ua, struct cpm_cli_reg *r, bool connected,
			       bool say)
{
	cpm_cli_stop = 0;
	if (!connected && cpm_cli_ua_reopen(ua) != 0)
		return;
	const struct cpm_sip_msg *m;
	int rc = do_register(ua, r, 0, false, &m);
	if (rc)
		cpm_cli_ua_report(ua, rc);
	else if (m->status >= 300)
		cpm_cli_report_failure(ua, m, "unregistration");
	else if (say)
		fprintf(stderr, "cpm: unregistered %s\n", ua->aor_uri + 4);
	else
		cpm_logi("cpm", "unregistered %s", r->contact);
}

static bool listen_done(void *arg)
{
	struct listen_state *st = arg;
	return st->a->count && st->received >= st->a->count;
}

int cpm_cli_cmd_listen(const struct cpm_cli_args *a)
{
	struct cpm_cli_ua ua;
	struct listen_state st = { .a = a };
	struct cpm_cli_reg r;

	if (!cpm_cli_need_user(a, "listen"))
		return CPM_CLI_EXIT_FAIL;
	cpm_cli_signals_install();
	if (cpm_cli_ua_open(&ua, a) != 0) {
		cpm_cli_ua_close(&ua);
		return CPM_CLI_EXIT_FAIL;
	}
	ua.on_request = listen_on_request;
	ua.on_request_arg = &st;
	cpm_cli_contact_init(&ua, &r);

	unsigned expires = a->expires ? a->expires : 3600;
	if (cpm_cli_contact_register(&ua, &r, expires, true, "listening")) {
		cpm_cli_ua_close(&ua);
		return CPM_CLI_EXIT_FAIL;
	}
	struct serve sv = {
		.ua = &ua,
		.r = &r,
		.expires = expires,
		.end = a->duration ? cpm_now_ms() + (uint64_t)a->duration * 1000 : 0,
		.ka_ms = ua.transport == CPM_CLI_TCP ? (uint64_t)a->keepalive_s * 1000 : 0,
		.done = listen_done,
		.arg = &st,
	};
	int ex = serve_run(&sv);
	cpm_cli_contact_unregister(&ua, &r, sv.connected, true);
	cpm_cli_ua_close(&ua);
	return ex;
}

/* --------------------------------------------------------------- send */

/* send --report: the reports of one message (RFC 5438 §7), matched by its
 * imdn.Message-ID. */
struct report_wait {
	char message_id[64];
	struct cpm_cli_imdn last; /* the last report about it */
	bool got, final;
};

static void report_on_request(struct cpm_cli_ua *ua, const struct cpm_cli_rx *rx,
			      void *arg)
{
	struct report_wait *w = arg;
	struct cpm_cli_imdn d;

	if (answer_other(ua, rx))
		return;
	/* registered as one of the user's devices, we get what is sent to
	 * them meanwhile: show it, as listen would, rather than lose it */
	show_message(&rx->msg, false);
	cpm_cli_ua_respond(ua, rx, 200, NULL);
	if (message_report(&rx->msg, &d) && strcmp(d.message_id, w->message_id) == 0) {
		w->last = d;
		w->got = true;
		w->final = w->final || cpm_cli_imdn_final(&d);
	}
}

static bool report_done(void *arg)
{
	struct report_wait *w = arg;
	return w->final;
}

void cpm_cli_call_save(const struct cpm_cli_ua *ua, struct cpm_cli_call *c)
{
	memcpy(c->call_id, ua->call_id, sizeof c->call_id);
	memcpy(c->from_tag, ua->from_tag, sizeof c->from_tag);
	c->cseq = ua->cseq;
	c->ch = ua->ch;
	c->have_ch = ua->have_ch;
}

void cpm_cli_call_restore(struct cpm_cli_ua *ua, const struct cpm_cli_call *c)
{
	memcpy(ua->call_id, c->call_id, sizeof c->call_id);
	memcpy(ua->from_tag, c->from_tag, sizeof c->from_tag);
	ua->cseq = c->cseq;
	ua->ch = c->ch;
	ua->have_ch = c->have_ch;
}

/* The body of send: TEXT, or stdin for '-'.  0 or an exit code. */
static int send_body(const struct cpm_cli_args *a, struct cpm_buf *body)
{
	int rc;
	if (strcmp(a->pos[1], "-") == 0) {
		rc = read_stdin(body);
		if (rc) {
			fprintf(stderr, "cpm: cannot read the message from stdin: %s\n",
				rc == CPM_ETOOBIG ? "longer than 60000 bytes" :
						    strerror(errno));
			return CPM_CLI_EXIT_FAIL;
		}
		/* "echo hi | cpm send bob -": drop the final line break */
		if (body->len && body->p[body->len - 1] == '\n')
			body->len--;
		if (body->len && body->p[body->len - 1] == '\r')
			body->len--;
	} else if (cpm_buf_puts(body, a->pos[1]) != 0) {
		fprintf(stderr, "cpm: message too long\n");
		return CPM_CLI_EXIT_FAIL;
	}
	return 0;
}

/* Wait for the final report of w's message; the exit code. */
static int send_wait_reports(struct cpm_cli_ua *ua, struct cpm_cli_reg *r, unsigned expires,
			     const struct cpm_cli_args *a, struct report_wait *w,
			     bool *connected)
{
	struct serve sv = {
		.ua = ua,
		.r = r,
		.expires = expires,
		.end = cpm_now_ms() + (uint64_t)a->report_s * 1000,
		.ka_ms = ua->transport == CPM_CLI_TCP ? (uint64_t)a->keepalive_s * 1000 : 0,
		.done = report_done,
		.arg = w,
	};
	bool interrupted;
	int ex = serve_run(&sv);
	interrupted = cpm_cli_stop != 0;
	*connected = sv.connected;
	if (ex)
		return ex;
	if (w->final)
		return cpm_cli_imdn_positive(&w->last) ? CPM_CLI_EXIT_OK :
							 CPM_CLI_EXIT_UNDELIVERED;
	fprintf(stderr, "cpm: %s: no final report %s; the message stays stored on the server\n",
		w->message_id, interrupted ? "yet (interrupted)" : "in time");
	if (!w->got)
		fprintf(stderr, "cpm: (no report at all: does the server send IMDN reports?)\n");
	return CPM_CLI_EXIT_PENDING;
}

int cpm_cli_cmd_send(const struct cpm_cli_args *a)
{
	struct cpm_cli_ua ua;
	struct cpm_buf body, cpim, extra;
	const struct cpm_sip_msg *m;
	struct report_wait w;
	struct cpm_cli_call reg_call;
	struct cpm_cli_reg r;
	char target[600], domain[256] = "";
	const char *ctype = a->content_type ? a->content_type : "text/plain";
	unsigned reg_expires = a->report_s + 60;
	bool connected = true;
	int rc, ex = CPM_CLI_EXIT_FAIL;

	if (!cpm_cli_need_user(a, "send"))
		return CPM_CLI_EXIT_FAIL;
	const char *at = strrchr(a->user, '@');
	snprintf(domain, sizeof domain, "%s", at ? at + 1 : "");
	if (cpm_cli_target_uri(a->pos[0], domain, target, sizeof target) != 0) {
		fprintf(stderr, "cpm: bad address '%s'\n", a->pos[0]);
		return CPM_CLI_EXIT_FAIL;
	}

	memset(&w, 0, sizeof w);
	memset(&reg_call, 0, sizeof reg_call);
	memset(&r, 0, sizeof r);
	cpm_buf_init(&body, 60000);
	cpm_buf_init(&cpim, 62000);
	cpm_buf_init(&extra, 16384);
	ex = send_body(a, &body);
	if (ex)
		goto out_nosock;
	ex = CPM_CLI_EXIT_FAIL;

	bool has_date = false;
	for (unsigned i = 0; i < a->nheaders; i++) {
		cpm_buf_printf(&extra, "%s\r\n", a->headers[i]);
		if (cpm_str_istarts(cpm_str_from_cstr(a->headers[i]), "date:"))
			has_date = true;
	}
	if (!has_date) {
		char date[64];
		http_date(date, sizeof date);
		cpm_buf_printf(&extra, "Date: %s\r\n", date);
	}
	if (a->report) {
		/* RFC 5438 §6.3: a Message-ID unique to the sender, with at
		 * least 32 bits of randomness */
		char aor[300];
		cpm_rand_hex(w.message_id, 12);
		snprintf(aor, sizeof aor, "sip:%s", a->user);
		if (cpm_cli_cpim_build(&cpim, aor, target, w.message_id,
				       "positive-delivery, negative-delivery, processing",
				       a->content_type ? a->content_type :
							 "text/plain;charset=UTF-8",
				       cpm_buf_str(&body), cpm_wall_s()) != 0) {
			fprintf(stderr, "cpm: message too long\n");
			goto out_nosock;
		}
		ctype = "message/cpim";
	}

	if (a->report)
		cpm_cli_signals_install();
	if (cpm_cli_ua_open(&ua, a) != 0) {
		cpm_cli_ua_close(&ua);
		goto out_nosock;
	}
	if (ua.transport == CPM_CLI_UDP && body.len > 1300 && ua.verbose)
		fprintf(stderr, "cpm: warning: %zu byte body over UDP (RFC 3428 §8 limit 1300)\n",
			body.len);
	if (a->report) {
		/* reports come as MESSAGEs to our AoR: be one of its devices */
		ua.on_request = report_on_request;
		ua.on_request_arg = &w;
		cpm_cli_contact_init(&ua, &r);
		if (cpm_cli_contact_register(&ua, &r, reg_expires, true, NULL) != 0) {
			cpm_cli_ua_close(&ua);
			goto out_nosock;
		}
		cpm_cli_call_save(&ua, &reg_call);
		cpm_cli_ua_new_call(&ua);
	}
	struct cpm_cli_req req = {
		.method = CPM_SIP_MESSAGE,
		.ruri = target,
		.to_uri = target,
		.extra = extra.p,
		.ctype = ctype,
		.body = cpm_buf_str(a->report ? &cpim : &body),
	};
	rc = cpm_cli_ua_request(&ua, &req, &m);
	if (rc) {
		cpm_cli_ua_report(&ua, rc);
		connected = rc != CPM_ECLOSED;
	} else if (m->status == 202) {
		/* RFC 3428 §7: accepted, not delivered yet */
		printf("%d %.*s (stored for later delivery)\n", m->status,
		       CPM_STR_FMT(reason_of(m)));
		ex = CPM_CLI_EXIT_OK;
	} else if (m->status >= 200 && m->status < 300) {
		printf("%d %.*s (delivered)\n", m->status, CPM_STR_FMT(reason_of(m)));
		ex = CPM_CLI_EXIT_OK;
	} else {
		ex = cpm_cli_report_failure(&ua, m, NULL);
	}
	fflush(stdout);
	if (a->report) {
		bool stored = rc == 0 && m->status == 202;
		cpm_cli_call_restore(&ua, &reg_call);
		if (stored)
			ex = send_wait_reports(&ua, &r, reg_expires, a, &w, &connected);
		cpm_cli_contact_unregister(&ua, &r, connected, false);
	}
	fflush(stdout);
	cpm_cli_ua_close(&ua);
out_nosock:
	cpm_buf_free(&body);
	cpm_buf_free(&cpim);
	cpm_buf_free(&extra);
	return ex;
}

/* ------------------------------------------------------------ options */

/* ------------------------------------------------------------- presence */

static int pidf_escaped(struct cpm_buf *b, const char *s)
{
	int rc = 0;
	for (; *s && !rc; s++)
		rc = *s == '<'	 ? cpm_buf_puts(b, "&lt;")
		     : *s == '>' ? cpm_buf_puts(b, "&gt;")
		     : *s == '&' ? cpm_buf_puts(b, "&amp;")
				 : cpm_buf_append(b, s, 1);
	return rc;
}

int cpm_cli_pidf(struct cpm_buf *b, const char *entity, const char *status, const char *note)
{
	/* STATUS -> basic status and the RPID activity (RFC 4480 §3.2) */
	static const struct {
		const char *word, *basic, *activity;
	} map[] = {
		{ "open", "open", NULL },	  { "closed", "closed", NULL },
		{ "away", "open", "away" },	  { "busy", "open", "busy" },
		{ "on-the-phone", "open", "on-the-phone" },
		{ "meeting", "open", "meeting" }, { "dnd", "open", "dnd" },
	};
	size_t k = 0;
	while (k < sizeof map / sizeof *map && strcmp(map[k].word, status) != 0)
		k++;
	if (k == sizeof map / sizeof *map)
		return CPM_EINVAL;
	int rc = cpm_buf_printf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
				   "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" "
				   "xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" "
				   "xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" entity=\"sip:");
	rc = rc ? rc : pidf_escaped(b, entity);
	rc = rc ? rc : cpm_buf_printf(b, "\">\n<tuple id=\"cpm\"><status><basic>%s</basic></status>",
				      map[k].basic);
	if (!rc && note && note[0]) {
		rc = cpm_buf_puts(b, "<note>");
		rc = rc ? rc : pidf_escaped(b, note);
		rc = rc ? rc : cpm_buf_puts(b, "</note>");
	}
	rc = rc ? rc : cpm_buf_puts(b, "</tuple>\n");
	if (!rc && map[k].activity) {
		/* do-not-disturb has no RPID element of its own: <other> */
		if (strcmp(map[k].activity, "dnd") == 0)
			rc = cpm_buf_puts(b, "<dm:person id=\"p\"><rpid:activities><rpid:other>"
					     "do-not-disturb</rpid:other></rpid:activities>");
		else
			rc = cpm_buf_printf(b, "<dm:person id=\"p\"><rpid:activities><rpid:%s/>"
					       "</rpid:activities>",
					    map[k].activity);
		if (!rc && note && note[0]) {
			rc = cpm_buf_puts(b, "<dm:note>");
			rc = rc ? rc : pidf_escaped(b, note);
			rc = rc ? rc : cpm_buf_puts(b, "</dm:note>");
		}
		rc = rc ? rc : cpm_buf_puts(b, "</dm:person>\n");
	}
	return rc ? rc : cpm_buf_puts(b, "</presence>\n");
}

int cpm_cli_cmd_presence(const struct cpm_cli_args *a)
{
	size_t k = a->npos && strcmp(a->pos[0], "set") == 0 ? 1 : 0;
	if (a->npos <= k || !a->user[0]) {
		cpm_cli_usage(stderr, CPM_CLI_CMD_PRESENCE);
		return CPM_CLI_EXIT_USAGE;
	}
	const char *status = a->pos[k], *note = a->npos > k + 1 ? a->pos[k + 1] : NULL;
	struct cpm_buf body;
	cpm_buf_init(&body, 8192);
	if (cpm_cli_pidf(&body, a->user, status, note)) {
		fprintf(stderr, "cpm: unknown status '%s' (open, closed, away, busy, on-the-phone, "
				"meeting, dnd)\n", status);
		cpm_buf_free(&body);
		return CPM_CLI_EXIT_USAGE;
	}
	struct cpm_cli_ua ua;
	if (cpm_cli_ua_open(&ua, a) != 0) {
		cpm_cli_ua_close(&ua);
		cpm_buf_free(&body);
		return CPM_CLI_EXIT_FAIL;
	}
	char uri[300], extra[128];
	snprintf(uri, sizeof uri, "sip:%s", a->user);
	snprintf(extra, sizeof extra, "Event: presence\r\nExpires: %u\r\n", a->expires);
	struct cpm_cli_req req = {
		.method = CPM_SIP_PUBLISH,
		.ruri = uri,
		.to_uri = uri,
		.extra = extra,
		.ctype = "application/pidf+xml",
		.body = { body.p, body.len },
	};
	const struct cpm_sip_msg *m;
	int ex = CPM_CLI_EXIT_FAIL;
	int rc = cpm_cli_ua_request(&ua, &req, &m);
	if (rc) {
		cpm_cli_ua_report(&ua, rc);
	} else if (m->status >= 200 && m->status < 300) {
		printf("presence %s%s%s published for %u s (%d %.*s)\n", status, note ? ": " : "",
		       note ? note : "", a->expires, m->status, CPM_STR_FMT(m->reason));
		ex = CPM_CLI_EXIT_OK;
	} else {
		printf("presence not published: %d %.*s\n", m->status, CPM_STR_FMT(m->reason));
		if (m->status == 401 || m->status == 407 || m->status == 403)
			cpm_cli_report_failure(&ua, m, "presence");
	}
	cpm_cli_ua_close(&ua);
	cpm_buf_free(&body);
	return ex;
}

/* ---------------------------------------------------------------- watch */

/* The text of the first element named local (any prefix) in body. */
bool cpm_cli_xml_text(struct cpm_str body, const char *local, char *out, size_t sz)
{
	char open[48];
	snprintf(open, sizeof open, "%s>", local);
	const char *p = body.s, *end = body.s + body.len;
	while (p < end) {
		const char *lt = memchr(p, '<', (size_t)(end - p));
		if (!lt)
			return false;
		const char *name = lt + 1, *colon = name;
		while (colon < end && *colon != '>' && *colon != ':' && *colon != ' ')
			colon++;
		const char *n = colon < end && *colon == ':' ? colon + 1 : name;
		size_t ol = strlen(open);
		if ((size_t)(end - n) > ol && memcmp(n, open, ol) == 0) {
			const char *t = n + ol, *e = memchr(t, '<', (size_t)(end - t));
			if (!e)
				return false;
			snprintf(out, sz, "%.*s", (int)(e - t), t);
			return true;
		}
		p = lt + 1;
	}
	return false;
}

void cpm_cli_pidf_summary(struct cpm_str body, char *out, size_t sz)
{
	static const char *const acts[] = { "busy", "on-the-phone", "meeting", "away",
					    "vacation", "do-not-disturb" };
	char basic[32] = "", note[256] = "";
	if (!cpm_cli_xml_text(body, "basic", basic, sizeof basic))
		snprintf(basic, sizeof basic, "%s", body.len ? "unknown" : "pending");
	int n = snprintf(out, sz, "%s", basic);
	for (size_t i = 0; i < sizeof acts / sizeof *acts && n > 0 && (size_t)n < sz; i++) {
		char tag[40];
		snprintf(tag, sizeof tag, ":%s", acts[i]);
		if (memmem(body.s, body.len, tag, strlen(tag)))
			n += snprintf(out + n, sz - (size_t)n, ", %s", acts[i]);
	}
	if (cpm_cli_xml_text(body, "note", note, sizeof note) && n > 0 && (size_t)n < sz)
		snprintf(out + n, sz - (size_t)n, " \"%s\"", note);
}

struct watch_state {
	unsigned got;
	const char *aor;
};

static void watch_on_request(struct cpm_cli_ua *ua, const struct cpm_cli_rx *rx, void *arg)
{
	struct watch_state *w = arg;
	const struct cpm_sip_msg *m = &rx->msg;
	if (m->method != CPM_SIP_NOTIFY) {
		if (!answer_other(ua, rx))
			cpm_cli_ua_respond(ua, rx, 481, NULL);
		return;
	}
	cpm_cli_ua_respond(ua, rx, 200, NULL);
	const struct cpm_sip_hdr *ss = cpm_sip_msg_hdr(m, CPM_SIP_H_SUBSCRIPTION_STATE);
	char line[512];
	cpm_cli_pidf_summary(m->body, line, sizeof line);
	printf("%s: %s [%.*s]\n", w->aor, line, ss ? (int)ss->value.len : 0, ss ? ss->value.s : "");
	fflush(stdout);
	w->got++;
}

int cpm_cli_cmd_watch(const struct cpm_cli_args *a)
{
	if (a->npos != 1 || !a->user[0]) {
		cpm_cli_usage(stderr, CPM_CLI_CMD_WATCH);
		return CPM_CLI_EXIT_USAGE;
	}
	char uri[600];
	if (cpm_cli_target_uri(a->pos[0], NULL, uri, sizeof uri) != 0) {
		fprintf(stderr, "cpm: bad address '%s'\n", a->pos[0]);
		return CPM_CLI_EXIT_USAGE;
	}
	cpm_cli_signals_install();
	struct cpm_cli_ua ua;
	if (cpm_cli_ua_open(&ua, a) != 0) {
		cpm_cli_ua_close(&ua);
		return CPM_CLI_EXIT_FAIL;
	}
	struct watch_state w = { .aor = a->pos[0] };
	ua.on_request = watch_on_request;
	ua.on_request_arg = &w;
	unsigned expires = a->expires ? a->expires : 3600;
	char extra[800];
	snprintf(extra, sizeof extra,
		 "Event: presence\r\nAccept: application/pidf+xml\r\nExpires: %u\r\n"
		 "Contact: <sip:%s@%s%s>\r\n",
		 expires, ua.user, ua.local_hostport,
		 ua.transport == CPM_CLI_TCP ? ";transport=tcp" : "");
	struct cpm_cli_req req = { .method = CPM_SIP_SUBSCRIBE, .ruri = uri, .to_uri = uri,
				   .extra = extra };
	const struct cpm_sip_msg *m;
	int ex = CPM_CLI_EXIT_FAIL;
	int rc = cpm_cli_ua_request(&ua, &req, &m);
	if (rc) {
		cpm_cli_ua_report(&ua, rc);
	} else if (m->status < 200 || m->status >= 300) {
		printf("watch refused: %d %.*s\n", m->status, CPM_STR_FMT(m->reason));
		if (m->status == 401 || m->status == 407 || m->status == 403)
			cpm_cli_report_failure(&ua, m, "watch");
	} else {
		fprintf(stderr, "cpm: watching %s (%d %.*s)\n", a->pos[0], m->status,
			CPM_STR_FMT(m->reason));
		uint64_t end = a->duration ? cpm_now_ms() + (uint64_t)a->duration * 1000 : 0;
		while (!cpm_cli_stop && (!a->count || w.got < a->count) &&
		       (!end || cpm_now_ms() < end))
			cpm_cli_ua_poll(&ua, 200);
		ex = w.got ? CPM_CLI_EXIT_OK : CPM_CLI_EXIT_FAIL;
	}
	cpm_cli_ua_close(&ua);
	return ex;
}

int cpm_cli_cmd_options(const struct cpm_cli_args *a)
{
	struct cpm_cli_ua ua;
	const struct cpm_sip_msg *m;
	char uri[600];
	int rc, ex = CPM_CLI_EXIT_FAIL;

	if (a->npos && cpm_cli_target_uri(a->pos[0], NULL, uri, sizeof uri) != 0) {
		fprintf(stderr, "cpm: bad address '%s'\n", a->pos[0]);
		return CPM_CLI_EXIT_FAIL;
	}
	if (cpm_cli_ua_open(&ua, a) != 0) {
		cpm_cli_ua_close(&ua);
		return CPM_CLI_EXIT_FAIL;
	}
	if (!a->npos) {
		bool v6 = strchr(ua.server_host, ':') != NULL;
		snprintf(uri, sizeof uri, "sip:%s%s%s", v6 ? "[" : "",
			 ua.server_host, v6 ? "]" : "");
		if (ua.server_port != 5060)
			snprintf(uri + strlen(uri), sizeof uri - strlen(uri), ":%u",
				 ua.server_port);
	}
	struct cpm_cli_req req = {
		.method = CPM_SIP_OPTIONS,
		.ruri = uri,
		.to_uri = uri,
		.extra = "Accept: text/plain, message/cpim\r\n",
	};
	rc = cpm_cli_ua_request(&ua, &req, &m);
	if (rc) {
		cpm_cli_ua_report(&ua, rc);
	} else {
		printf("%.*s\n", CPM_STR_FMT(m->first_line));
		static const enum cpm_sip_hdr_id show[] = {
			CPM_SIP_H_ALLOW, CPM_SIP_H_ACCEPT, CPM_SIP_H_SUPPORTED
		};
		for (size_t i = 0; i < sizeof show / sizeof show[0]; i++)
			for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(m, show[i]);
			     h; h = cpm_sip_msg_hdr_next(m, h))
				printf("%s: %.*s\n", cpm_sip_hdr_name(show[i]),
				       CPM_STR_FMT(h->value));
		if (m->status >= 200 && m->status < 300)
			ex = CPM_CLI_EXIT_OK;
		else if (m->status == 401 || m->status == 407 || m->status == 403)
			cpm_cli_report_failure(&ua, m, "options");
	}
	fflush(stdout);
	cpm_cli_ua_close(&ua);
	return ex;
}
