/* cli — cpm chat: an MSRP session (RFC 4975) set up by INVITE (RFC 3261),
 * end to end through cpmd's proxy, optionally through an MSRP relay (RFC
 * 4976), with line editing (libedit's readline interface, driven from
 * the poll loop by its callback interface, so that what arrives prints
 * above the prompt), isComposing (RFC 3994) and chat rooms (RFC 7701:
 * CPIM, private messages, nicknames; RFC 4575 conference events show who
 * joins and leaves).
 *
 * The SIP side reuses the UA of cli_ua.c (one socket to the server, its
 * transactions and digest retries); the MSRP side is cli_msrp.c. */
#include "cli/cli.h"

#include <editline/readline.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define INVITE_WAIT_MS 120000 /* a person may take time to answer */
#define BYE_WAIT_MS 5000
#define T1_MS 500
#define T2_MS 4000

struct chat {
	const struct cpm_cli_args *a;
	struct cpm_cli_ua ua;
	struct cpm_cli_reg reg;
	struct cpm_cli_call reg_call; /* the REGISTER's sequence, kept aside */
	bool registered;
	struct cpm_cli_msrp m;

	/* the dialog (RFC 3261 §12) */
	bool caller;
	bool have_dialog;  /* 2xx sent or received */
	bool acked;        /* callee: the ACK came */
	char call_id[256];
	char local_tag[64];
	char local_uri[600];
	char remote_uri[600];
	char remote_tag[128];
	char remote_target[600];
	char route[2400];  /* "Route: ...\r\n" or "" */
	char target[600];  /* the caller's Request-URI */
	char peer[340];    /* the peer's AoR, for display */
	bool room;         /* the peer is a conference focus (isfocus) */
	bool cpim;         /* wrap what we send in message/cpim (a room, or a
			    * peer that accepts nothing else) */
	struct sockaddr_storage inv_from; /* callee: the INVITE's source */
	socklen_t inv_fromlen;
	uint64_t ok_next_ms, ok_interval, ok_end_ms; /* 2xx retransmission */

	/* the callee's pending offer */
	bool offered;
	struct cpm_cli_msrp_media peer_media;

	/* UI */
	bool interactive;  /* a terminal with libedit */
	bool lines;        /* standard input read as lines (not a terminal) */
	bool stdin_eof;
	struct cpm_buf inbuf;
	char prompt[160];
	char last_line[4096]; /* the edit line at the last keystroke */
	bool line_done;    /* a line was just handed over */
	bool composing;    /* we said "active" */
	uint64_t last_key_ms, composing_sent_ms;
	bool peer_typing;
	uint64_t peer_typing_ms;

	/* state */
	bool ended;        /* hung up (either side) */
	bool bye_received;
	bool failed;
	const char *end_reason;
	unsigned received;
	char send_id[CPM_MSRP_MSGID_LEN + 1]; /* --send's message */
	bool send_ok, send_done, report_ok;
	uint64_t send_ok_ms;
	/* Through a relay a 200 covers one hop only (RFC 4976 §7): messages
	 * then ask for a Success-Report, and the hang-up waits (a little)
	 * until they came, so that the BYE, which goes another way, does not
	 * overtake the last message. */
	bool via_relay;
	unsigned reports_waiting;
	unsigned sends_failed;
	char failed_id[CPM_MSRP_IDENT_MAX + 1];
	char nicks[16][2][340]; /* room: nickname -> URI, learnt from CPIM */
	unsigned nnicks;

	/* room: the conference event subscription (RFC 4575) */
	bool sub_active;
	char sub_call_id[256];
	char sub_tag[64];
	char sub_remote_tag[128];
	char sub_target[600];
	char sub_route[2400];
	struct cpm_cli_conf conf;
};

static struct chat *g_chat; /* the libedit line handler has no argument */

/* ------------------------------------------------------------- output */

static void clock_now(char *out, size_t sz)
{
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(out, sz, "%H:%M:%S", &tm);
}

/* Print a line above the prompt (interactive) or on stdout. */
static void __attribute__((format(printf, 2, 3))) say(struct chat *c, const char *fmt, ...)
{
	va_list ap;
	if (c->interactive)
		fputs("\r\033[K", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
	if (c->interactive)
		rl_forced_update_display();
}

/* Text for the terminal: control characters other than TAB and line
 * breaks as \xHH; line breaks indent the following lines. */
static void put_text(struct cpm_buf *b, struct cpm_str s)
{
	for (size_t i = 0; i < s.len; i++) {
		unsigned char ch = (unsigned char)s.s[i];
		if (ch == '\r' && i + 1 < s.len && s.s[i + 1] == '\n')
			continue;
		if (ch == '\n')
			cpm_buf_puts(b, "\n    ");
		else if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			cpm_buf_printf(b, "\\x%02x", ch);
		else
			cpm_buf_append(b, &ch, 1);
	}
}

static void addr_aor_of(struct cpm_str uri, char *out, size_t sz)
{
	struct cpm_sip_uri u;
	if (cpm_sip_uri_parse(uri, &u) != 0 || cpm_sip_uri_aor(&u, out, sz) < 0)
		cpm_cli_copy_cut(uri, out, sz);
}

/* ------------------------------------------------------------- rooms */

static void nick_learn(struct chat *c, const char *nick, struct cpm_str uri)
{
	if (!nick[0] || !uri.len)
		return;
	unsigned i = 0;
	while (i < c->nnicks && strcmp(c->nicks[i][0], nick) != 0)
		i++;
	if (i == c->nnicks) {
		if (c->nnicks == 16)
			i = 15;
		else
			c->nnicks++;
	}
	snprintf(c->nicks[i][0], sizeof c->nicks[i][0], "%s", nick);
	cpm_cli_copy_cut(uri, c->nicks[i][1], sizeof c->nicks[i][1]);
}

/* The URI of a CPIM message header ("from:", "to:"; RFC 3862 §3). */
static struct cpm_str cpim_hdr_uri(struct cpm_str body, const char *name)
{
	const char *p = body.s, *end = body.s + body.len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct cpm_str line = cpm_str_trim((struct cpm_str){ p, (size_t)((nl ? nl : end) - p) });
		p = nl ? nl + 1 : end;
		if (line.len == 0)
			break;
		if (!cpm_str_istarts(line, name))
			continue;
		long lt = cpm_str_chr(line, '<'), gt = cpm_str_chr(line, '>');
		if (lt >= 0 && gt > lt)
			return (struct cpm_str){ line.s + lt + 1, (size_t)(gt - lt - 1) };
	}
	return CPM_STR_NULL;
}

/* --------------------------------------------------------- MSRP events */

static void show_message(struct chat *c, struct cpm_str ctype, struct cpm_str body)
{
	char when[16], who[340];
	struct cpm_str mime = CPM_STR_NULL, params;
	bool priv = false;
	cpm_sip_ctype_parse(ctype, &mime, &params);
	snprintf(who, sizeof who, "%s", c->peer);
	if (cpm_str_ieq_cstr(mime, "message/cpim")) {
		/* RFC 7701 §7: the room says who sent it */
		struct cpm_str ict, inner;
		if (cpm_cli_cpim_sender(body, who, sizeof who))
			nick_learn(c, who, cpim_hdr_uri(body, "from:"));
		/* §7.4: a private message is addressed to us, not the room */
		struct cpm_sip_uri tu, me;
		struct cpm_str to = cpim_hdr_uri(body, "to:");
		if (c->room && to.len && cpm_sip_uri_parse(to, &tu) == 0 &&
		    cpm_sip_uri_parse(cpm_str_from_cstr(c->ua.aor_uri), &me) == 0 &&
		    cpm_sip_uri_eq(&tu, &me))
			priv = true;
		if (cpm_cli_cpim_unwrap(body, &ict, &inner)) {
			body = inner;
			cpm_sip_ctype_parse(ict, &mime, &params);
		}
	}
	if (cpm_str_ieq_cstr(mime, "application/im-iscomposing+xml")) {
		bool active;
		if (cpm_cli_iscomposing_parse(body, &active) == 0) {
			/* RFC 3994 §4: "active" lasts its refresh time
			 * (default 120 s) unless refreshed */
			if (active && (!c->peer_typing ||
				       cpm_now_ms() - c->peer_typing_ms > 120000))
				say(c, "* %s is typing", who);
			c->peer_typing = active;
			c->peer_typing_ms = cpm_now_ms();
		}
		return;
	}
	c->peer_typing = false; /* RFC 3994 §3.3: a message ends "active" */
	c->received++;
	clock_now(when, sizeof when);
	struct cpm_buf b;
	cpm_buf_init(&b, CPM_CLI_MSRP_MAX_MSG * 2);
	cpm_buf_printf(&b, "[%s] %s%s: ", when, who, priv ? " (private)" : "");
	if (mime.len == 0 || cpm_str_istarts(mime, "text/"))
		put_text(&b, body);
	else
		cpm_buf_printf(&b, "[%.*s, %zu bytes]", CPM_STR_FMT(mime), body.len);
	say(c, "%s", b.p);
	cpm_buf_free(&b);
}

static void on_msrp_message(struct cpm_cli_msrp *m, struct cpm_str ctype, struct cpm_str body,
			    const char *message_id, void *arg)
{
	show_message(arg, ctype, body);
}

static void on_msrp_aborted(struct cpm_cli_msrp *m, const char *message_id, void *arg)
{
	say(arg, "* a message (%s) was interrupted by its sender", message_id);
}

static void on_msrp_response(struct cpm_cli_msrp *m, const char *message_id, bool last,
			     int code, struct cpm_str comment, void *arg)
{
	struct chat *c = arg;
	bool mine = c->send_id[0] && strcmp(message_id, c->send_id) == 0;
	if (code != 200) {
		/* said once per message, not per chunk */
		if (strcmp(c->failed_id, message_id) != 0) {
			snprintf(c->failed_id, sizeof c->failed_id, "%s", message_id);
			c->sends_failed++;
			if (code)
				say(c, "* message %s not delivered: %d %.*s", message_id, code,
				    CPM_STR_FMT(comment));
			else
				say(c, "* message %s: no answer in %d s", message_id,
				    CPM_CLI_MSRP_TIMEOUT_MS / 1000);
		}
		if (mine)
			c->send_done = true;
		return;
	}
	if (mine && last) {
		c->send_ok = true;
		c->send_ok_ms = cpm_now_ms();
		if (!c->a->report)
			c->send_done = true;
	}
}

static void on_msrp_report(struct cpm_cli_msrp *m, const char *message_id,
			   const struct cpm_msrp_status *st, const struct cpm_msrp_range *r,
			   void *arg)
{
	struct chat *c = arg;
	if (c->reports_waiting && r->end >= r->total)
		c->reports_waiting--;
	if (c->a->report)
		say(c, "* report: %s %d %.*s (bytes %llu-%llu/%llu)", message_id, st->code,
		    CPM_STR_FMT(st->reason), (unsigned long long)r->start,
		    (unsigned long long)r->end, (unsigned long long)r->total);
	if (c->send_id[0] && strcmp(message_id, c->send_id) == 0) {
		c->report_ok = st->code == 200;
		c->send_done = true;
	}
}

static void on_msrp_nickname(struct cpm_cli_msrp *m, int code, struct cpm_str comment,
			     void *arg)
{
	if (code == 200)
		say(arg, "* nickname accepted");
	else if (code)
		say(arg, "* nickname refused: %d %.*s", code, CPM_STR_FMT(comment));
	else
		say(arg, "* nickname: no answer");
}

static void on_msrp_closed(struct cpm_cli_msrp *m, const char *why, void *arg)
{
	struct chat *c = arg;
	if (c->ended)
		return;
	say(c, "* MSRP connection lost: %s", why);
	c->failed = true;
	c->ended = true;
	c->end_reason = "MSRP connection lost";
}

/* --------------------------------------------------------- sending */

static void send_composing(struct chat *c, bool active)
{
	struct cpm_buf b;
	char id[CPM_MSRP_MSGID_LEN + 1];
	cpm_buf_init(&b, 4096);
	cpm_cli_iscomposing_build(&b, active, CPM_CLI_ISCOMPOSING_REFRESH);
	/* no answer wanted: a lost indication is harmless (RFC 3994 §3) */
	if (c->cpim) {
		struct cpm_buf w;
		cpm_buf_init(&w, 8192);
		cpm_cli_cpim_build(&w, c->ua.aor_uri, c->target, NULL, NULL,
				   "application/im-iscomposing+xml", cpm_buf_str(&b), cpm_wall_s());
		cpm_cli_msrp_send(&c->m, "message/cpim", cpm_buf_str(&w), false,
				  CPM_MSRP_REP_NO, id);
		cpm_buf_free(&w);
	} else {
		cpm_cli_msrp_send(&c->m, "application/im-iscomposing+xml", cpm_buf_str(&b), false,
				  CPM_MSRP_REP_NO, id);
	}
	cpm_buf_free(&b);
	c->composing = active;
	c->composing_sent_ms = cpm_now_ms();
}

/* Send a text; to: a private recipient's URI in a room (NULL: everyone). */
static int send_text(struct chat *c, const char *text, const char *to,
		     char id[CPM_MSRP_MSGID_LEN + 1])
{
	int rc;
	struct cpm_str t = cpm_str_from_cstr(text);
	c->composing = false; /* the message itself ends "active" (RFC 3994 §3.3) */
	if (c->cpim) {
		/* RFC 7701 §7: CPIM, To the room or (§7.4) one participant */
		struct cpm_buf w;
		cpm_buf_init(&w, CPM_CLI_MSRP_MAX_MSG);
		rc = cpm_cli_cpim_build(&w, c->ua.aor_uri, to ? to : c->target, NULL, NULL,
					"text/plain;charset=UTF-8", t, cpm_wall_s());
		if (!rc)
			rc = cpm_cli_msrp_send(&c->m, "message/cpim", cpm_buf_str(&w),
					       c->a->report || c->via_relay, CPM_MSRP_REP_ABSENT, id);
		cpm_buf_free(&w);
	} else {
		rc = cpm_cli_msrp_send(&c->m, "text/plain;charset=UTF-8", t,
				       c->a->report || c->via_relay, CPM_MSRP_REP_ABSENT, id);
	}
	if (!rc && (c->a->report || c->via_relay))
		c->reports_waiting++;
	return rc;
}

static void hang_up(struct chat *c, const char *why)
{
	if (!c->ended) {
		c->ended = true;
		c->end_reason = why;
	}
}

static void handle_line(struct chat *c, const char *line)
{
	char id[CPM_MSRP_MSGID_LEN + 1];
	if (strcmp(line, "/quit") == 0 || strcmp(line, "/bye") == 0) {
		hang_up(c, "hung up");
		return;
	}
	if (strncmp(line, "/nick ", 6) == 0) {
		if (!c->room)
			say(c, "* /nick works in chat rooms only");
		else if (cpm_cli_msrp_nickname(&c->m, line + 6) != 0)
			say(c, "* cannot send the nickname request");
		return;
	}
	if (strncmp(line, "/msg ", 5) == 0) {
		const char *nick = line + 5, *sp = strchr(nick, ' ');
		if (!c->room || !sp) {
			say(c, "* usage (in a room): /msg NICK TEXT");
			return;
		}
		char who[300], uri[600] = "";
		snprintf(who, sizeof who, "%.*s", (int)(sp - nick), nick);
		for (unsigned i = 0; i < c->nnicks && !uri[0]; i++)
			if (strcmp(c->nicks[i][0], who) == 0)
				snprintf(uri, sizeof uri, "%s", c->nicks[i][1]);
		const char *at = strrchr(c->ua.aor_uri, '@');
		if (!uri[0] && cpm_cli_target_uri(who, at ? at + 1 : NULL, uri, sizeof uri) != 0) {
			say(c, "* unknown participant '%s'", who);
			return;
		}
		if (send_text(c, sp + 1, uri, id) != 0)
			say(c, "* message too long");
		return;
	}
	if (line[0] == '/' && line[1] != '/' && line[1] != ' ' && line[1]) {
		say(c, "* commands: /quit, /msg NICK TEXT, /nick NAME (// sends a leading /)");
		return;
	}
	if (line[0] == '/' && line[1] == '/')
		line++;
	if (!line[0])
		return;
	if (send_text(c, line, NULL, id) != 0)
		say(c, "* message too long");
}

/* libedit's line handler (callback interface). */
static void on_readline(char *line)
{
	struct chat *c = g_chat;
	if (!line) {
		/* ^D on an empty line */
		fputc('\n', stdout);
		hang_up(c, "hung up");
		return;
	}
	if (*line)
		add_history(line);
	c->line_done = true;
	handle_line(c, line);
	free(line);
}

/* After a keystroke: say "active" when the line changed (RFC 3994 §3.2),
 * again each refresh period while it goes on. */
static void typing_check(struct chat *c)
{
	const char *cur = rl_line_buffer ? rl_line_buffer : "";
	if (strcmp(cur, c->last_line) == 0)
		return;
	snprintf(c->last_line, sizeof c->last_line, "%s", cur);
	if (c->line_done) {
		/* the buffer may still hold the line just sent */
		c->line_done = false;
		return;
	}
	if (!cur[0] || cur[0] == '/')
		return;
	c->last_key_ms = cpm_now_ms();
	if (!c->composing)
		send_composing(c, true);
}

static void typing_timers(struct chat *c)
{
	if (!c->composing)
		return;
	uint64_t now = cpm_now_ms();
	if (now - c->last_key_ms >= CPM_CLI_ISCOMPOSING_IDLE * 1000)
		send_composing(c, false); /* §3.1: idle after 15 s without typing */
	else if (now - c->composing_sent_ms >= (CPM_CLI_ISCOMPOSING_REFRESH - 5) * 1000)
		send_composing(c, true);
}

/* Standard input that is not a terminal: one message per line. */
static void read_lines(struct chat *c)
{
	char tmp[4096];
	ssize_t n = read(0, tmp, sizeof tmp);
	if (n <= 0) {
		if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
			c->stdin_eof = true;
			if (c->inbuf.len)
				handle_line(c, c->inbuf.p);
			hang_up(c, "end of input");
		}
		return;
	}
	if (cpm_buf_append(&c->inbuf, tmp, (size_t)n) != 0) {
		say(c, "* input line too long");
		cpm_buf_reset(&c->inbuf);
		return;
	}
	for (;;) {
		char *nl = memchr(c->inbuf.p, '\n', c->inbuf.len);
		if (!nl)
			break;
		*nl = '\0';
		if (nl > c->inbuf.p && nl[-1] == '\r')
			nl[-1] = '\0';
		handle_line(c, c->inbuf.p);
		cpm_buf_consume(&c->inbuf, (size_t)(nl - c->inbuf.p) + 1);
	}
}

/* --------------------------------------------------------------- SIP */

/* The route set (§12.1.1, §12.1.2): the Record-Route entries in order
 * (callee) or reversed (caller), as one Route header line. */
static void route_set(char *route, size_t routesz, const struct cpm_sip_msg *msg, bool reverse)
{
	struct cpm_str ent[32];
	unsigned n = 0;
	for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(msg, CPM_SIP_H_RECORD_ROUTE); h;
	     h = cpm_sip_msg_hdr_next(msg, h)) {
		struct cpm_str cur = h->value;
		struct cpm_sip_addr a;
		while (n < 32 && cpm_sip_addr_next(&cur, &a) == 1)
			ent[n++] = a.whole;
	}
	route[0] = '\0';
	if (!n)
		return;
	size_t k = (size_t)snprintf(route, routesz, "Route: ");
	for (unsigned i = 0; i < n && k < routesz; i++) {
		struct cpm_str e = ent[reverse ? n - 1 - i : i];
		k += (size_t)snprintf(route + k, routesz - k, "%s%.*s", i ? ", " : "",
				      CPM_STR_FMT(e));
	}
	if (k < routesz)
		snprintf(route + k, routesz - k, "\r\n");
}

static bool contact_of(const struct cpm_sip_msg *msg, char *uri, size_t sz, bool *isfocus)
{
	const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(msg, CPM_SIP_H_CONTACT);
	struct cpm_sip_addr a;
	struct cpm_str cur = h ? h->value : CPM_STR_NULL;
	if (!h || cpm_sip_addr_next(&cur, &a) != 1 || a.star)
		return false;
	/* RFC 4579 §3: a focus says isfocus in its Contact */
	if (isfocus)
		*isfocus = cpm_sip_param_find(a.params, "isfocus", NULL);
	return cpm_str_copy(a.uri, uri, sz) == 0;
}

static void contact_line(const struct chat *c, char *out, size_t sz)
{
	snprintf(out, sz, "Contact: <%s>\r\n", c->reg.contact);
}

/* A request in the dialog (BYE). */
static int dialog_request(struct chat *c, enum cpm_sip_method method,
			  const struct cpm_sip_msg **resp)
{
	char extra[3000];
	snprintf(extra, sizeof extra, "%s", c->route);
	struct cpm_cli_req req = {
		.method = method,
		.ruri = c->remote_target,
		.to_uri = c->remote_uri,
		.to_tag = c->remote_tag[0] ? c->remote_tag : NULL,
		.from_uri = c->local_uri,
		.extra = extra,
		.timeout_ms = BYE_WAIT_MS,
	};
	return cpm_cli_ua_request(&c->ua, &req, resp);
}

static void send_bye(struct chat *c)
{
	const struct cpm_sip_msg *resp;
	int rc = dialog_request(c, CPM_SIP_BYE, &resp);
	if (rc)
		fprintf(stderr, "cpm: BYE: %s\n", cpm_strerror(rc));
	else if (resp->status >= 300 && resp->status != 481)
		fprintf(stderr, "cpm: BYE answered %d %.*s\n", resp->status,
			CPM_STR_FMT(resp->reason));
}

static void on_conference_notify(struct chat *c, const struct cpm_cli_rx *rx);

/* Requests while the session runs (and, for --accept, before). */
static void on_request(struct cpm_cli_ua *ua, const struct cpm_cli_rx *rx, void *arg)
{
	struct chat *c = arg;
	const struct cpm_sip_msg *msg = &rx->msg;
	bool in_dialog = c->have_dialog && cpm_str_eq_cstr(msg->call_id, c->call_id);

	if (msg->method == CPM_SIP_ACK) {
		if (in_dialog)
			c->acked = true;
		return;
	}
	if (in_dialog && msg->method == CPM_SIP_BYE) {
		cpm_cli_ua_respond(ua, rx, 200, NULL);
		c->bye_received = true;
		hang_up(c, "the other side hung up");
		return;
	}
	if (in_dialog) {
		/* a re-INVITE or UPDATE: we keep the session as it is */
		cpm_cli_ua_respond(ua, rx, msg->method == CPM_SIP_INVITE ? 488 : 501, NULL);
		return;
	}
	if (msg->method == CPM_SIP_INVITE && c->a->accept && !c->offered && !c->have_dialog) {
		const struct cpm_sip_hdr *ct = cpm_sip_msg_hdr(msg, CPM_SIP_H_CONTENT_TYPE);
		struct cpm_str mime = CPM_STR_NULL, params;
		const char *why = NULL;
		if (ct)
			cpm_sip_ctype_parse(ct->value, &mime, &params);
		if (!cpm_str_ieq_cstr(mime, "application/sdp") ||
		    cpm_cli_sdp_read(msg->body, &c->peer_media, &why) != 0) {
			/* RFC 3261 §13.3.1.3 / RFC 3264: 488 for an offer we cannot take */
			fprintf(stderr, "cpm: refused an INVITE from %.*s: %s\n",
				CPM_STR_FMT(msg->from.uri), why ? why : "no SDP offer");
			cpm_cli_ua_respond(ua, rx, 488, NULL);
			return;
		}
		if (!contact_of(msg, c->remote_target, sizeof c->remote_target, NULL)) {
			cpm_cli_ua_respond(ua, rx, 400, NULL);
			return;
		}
		c->offered = true;
		cpm_str_copy(msg->call_id, c->call_id, sizeof c->call_id);
		cpm_str_copy(msg->from.uri, c->remote_uri, sizeof c->remote_uri);
		/* CPIM's To, should the caller take only CPIM */
		snprintf(c->target, sizeof c->target, "%s", c->remote_uri);
		cpm_str_copy(msg->from.tag, c->remote_tag, sizeof c->remote_tag);
		cpm_str_copy(msg->to.uri, c->local_uri, sizeof c->local_uri);
		addr_aor_of(msg->from.uri, c->peer, sizeof c->peer);
		route_set(c->route, sizeof c->route, msg, false);
		cpm_rand_hex(c->local_tag, 8);
		memcpy(&c->inv_from, &rx->from, rx->fromlen);
		c->inv_fromlen = rx->fromlen;

		enum cpm_sdp_setup setup;
		bool active = cpm_cli_msrp_answerer_active(c->peer_media.setup, &setup);
		c->cpim = cpm_cli_msrp_wants_cpim(c->peer_media.accept_types);
		struct cpm_buf sdp, extra;
		cpm_buf_init(&sdp, 8192);
		cpm_buf_init(&extra, 8192);
		cpm_cli_sdp_write(&sdp, c->m.local_ip, c->m.local_port, c->m.my_path, setup, false);
		char contact[600];
		contact_line(c, contact, sizeof contact);
		cpm_buf_puts(&extra, contact);
		/* §12.1.1: the Record-Route of the request goes into the 2xx */
		for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(msg, CPM_SIP_H_RECORD_ROUTE); h;
		     h = cpm_sip_msg_hdr_next(msg, h))
			cpm_buf_printf(&extra, "Record-Route: %.*s\r\n", CPM_STR_FMT(h->value));
		cpm_buf_puts(&extra, "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE\r\n");
		cpm_cli_ua_respond_body(ua, rx, 200, c->local_tag, extra.p, "application/sdp",
					cpm_buf_str(&sdp));
		cpm_buf_free(&sdp);
		cpm_buf_free(&extra);
		c->have_dialog = true;
		c->ok_interval = T1_MS;
		c->ok_next_ms = cpm_now_ms() + T1_MS;
		c->ok_end_ms = cpm_now_ms() + 64 * T1_MS;
		if (!c->a->print || c->a->verbose)
			fprintf(stderr, "cpm: chat with %s (answered)\n", c->peer);

		char err[300];
		c->via_relay = c->m.use_path[0] || strchr(c->peer_media.path, ' ');
		if (cpm_cli_msrp_start(&c->m, c->peer_media.path, active, err, sizeof err) != 0) {
			fprintf(stderr, "cpm: MSRP: %s\n", err);
			c->failed = true;
			hang_up(c, "MSRP connection failed");
		}
		return;
	}
	if (msg->method == CPM_SIP_INVITE) {
		cpm_cli_ua_respond(ua, rx, 486, NULL); /* one chat at a time */
		return;
	}
	if (msg->method == CPM_SIP_NOTIFY && c->sub_call_id[0] &&
	    cpm_str_eq_cstr(msg->call_id, c->sub_call_id)) {
		on_conference_notify(c, rx);
		return;
	}
	switch (msg->method) {
	case CPM_SIP_OPTIONS:
		cpm_cli_ua_respond(ua, rx, 200, "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE\r\n"
						"Accept: application/sdp, text/plain, message/cpim\r\n");
		break;
	case CPM_SIP_NOTIFY:
	case CPM_SIP_BYE:
		cpm_cli_ua_respond(ua, rx, 481, NULL);
		break;
	case CPM_SIP_MESSAGE: {
		/* a page-mode message meanwhile: show it */
		char who[300];
		addr_aor_of(msg->from.uri, who, sizeof who);
		const struct cpm_sip_hdr *ct = cpm_sip_msg_hdr(msg, CPM_SIP_H_CONTENT_TYPE);
		char save[sizeof c->peer];
		snprintf(save, sizeof save, "%s", c->peer);
		snprintf(c->peer, sizeof c->peer, "%s (MESSAGE)", who);
		show_message(c, ct ? ct->value : CPM_STR_NULL, msg->body);
		snprintf(c->peer, sizeof c->peer, "%s", save);
		c->received--; /* not a chat message */
		cpm_cli_ua_respond(ua, rx, 200, NULL);
		break;
	}
	default:
		cpm_cli_ua_respond(ua, rx, 405, "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE\r\n");
		break;
	}
}

/* ----------------------------------------------------- room events */

static void on_conf_change(void *arg, const struct cpm_cli_conf_user *u, bool joined)
{
	struct chat *c = arg;
	char aor[340];
	addr_aor_of(cpm_str_from_cstr(u->entity), aor, sizeof aor);
	if (u->display[0])
		nick_learn(c, u->display, cpm_str_from_cstr(u->entity));
	/* the first full state lists who is there: one line */
	if (!c->conf.have_full)
		return;
	if (u->display[0])
		say(c, "* %s (%s) %s", u->display, aor, joined ? "joined" : "left");
	else
		say(c, "* %s %s", aor, joined ? "joined" : "left");
}

/* RFC 4575: a NOTIFY of the room's conference state. */
static void on_conference_notify(struct chat *c, const struct cpm_cli_rx *rx)
{
	const struct cpm_sip_msg *msg = &rx->msg;
	const struct cpm_sip_hdr *ss = cpm_sip_msg_hdr(msg, CPM_SIP_H_SUBSCRIPTION_STATE);
	cpm_cli_ua_respond(&c->ua, rx, 200, NULL);
	if (!c->sub_remote_tag[0])
		cpm_str_copy(msg->from.tag, c->sub_remote_tag, sizeof c->sub_remote_tag);
	if (!c->sub_target[0]) {
		contact_of(msg, c->sub_target, sizeof c->sub_target, NULL);
		route_set(c->sub_route, sizeof c->sub_route, msg, false);
	}
	if (ss && cpm_str_istarts(ss->value, "terminated"))
		c->sub_active = false;
	if (!msg->body.len)
		return;
	bool first = !c->conf.have_full;
	if (cpm_cli_conf_apply(&c->conf, msg->body, on_conf_change, c) != 0) {
		if (c->a->verbose)
			fprintf(stderr, "cpm: unreadable conference-info\n");
		return;
	}
	if (first && c->conf.have_full) {
		struct cpm_buf b;
		cpm_buf_init(&b, 1 << 16);
		unsigned n = 0;
		for (unsigned i = 0; i < c->conf.n; i++) {
			const struct cpm_cli_conf_user *u = &c->conf.u[i];
			char aor[340];
			if (!u->present)
				continue;
			addr_aor_of(cpm_str_from_cstr(u->entity), aor, sizeof aor);
			cpm_buf_printf(&b, "%s%s", n++ ? ", " : "", u->display[0] ? u->display : aor);
		}
		say(c, "* in the room (%u): %s", n, n ? b.p : "nobody");
		cpm_buf_free(&b);
	}
}

/* Subscribe to the room's conference events (RFC 4575 §3) in a dialog of
 * its own, at the conference URI: the room's address, which the proxy
 * routes to the focus.  A room without the package
 * (489, 405...) simply shows no joins and leaves. */
static void conference_subscribe(struct chat *c, unsigned expires)
{
	char extra[3200];
	const struct cpm_sip_msg *resp;
	bool first = !c->sub_call_id[0];
	char save_id[sizeof c->ua.call_id], save_tag[sizeof c->ua.from_tag];
	uint32_t save_cseq = c->ua.cseq;
	memcpy(save_id, c->ua.call_id, sizeof save_id);
	memcpy(save_tag, c->ua.from_tag, sizeof save_tag);
	if (first) {
		cpm_cli_ua_new_call(&c->ua);
		snprintf(c->sub_call_id, sizeof c->sub_call_id, "%s", c->ua.call_id);
		snprintf(c->sub_tag, sizeof c->sub_tag, "%s", c->ua.from_tag);
	} else {
		snprintf(c->ua.call_id, sizeof c->ua.call_id, "%s", c->sub_call_id);
		snprintf(c->ua.from_tag, sizeof c->ua.from_tag, "%s", c->sub_tag);
	}
	snprintf(extra, sizeof extra,
		 "%sEvent: conference\r\nAccept: application/conference-info+xml\r\n"
		 "Expires: %u\r\nContact: <%s>\r\n",
		 first ? "" : c->sub_route, expires, c->reg.contact);
	struct cpm_cli_req req = {
		.method = CPM_SIP_SUBSCRIBE,
		.ruri = first || !c->sub_target[0] ? c->target : c->sub_target,
		.to_uri = c->target,
		.to_tag = first || !c->sub_remote_tag[0] ? NULL : c->sub_remote_tag,
		.extra = extra,
		.timeout_ms = BYE_WAIT_MS,
	};
	int rc = cpm_cli_ua_request(&c->ua, &req, &resp);
	if (!rc && resp->status < 300 && first) {
		c->sub_active = true;
		cpm_str_copy(resp->to.tag, c->sub_remote_tag, sizeof c->sub_remote_tag);
		contact_of(resp, c->sub_target, sizeof c->sub_target, NULL);
		route_set(c->sub_route, sizeof c->sub_route, resp, true);
	} else if (c->a->verbose) {
		fprintf(stderr, "cpm: conference events: %s\n",
			rc ? cpm_strerror(rc) : resp->status < 300 ? "ok" : "not offered by the room");
	}
	if (expires == 0)
		c->sub_active = false;
	memcpy(c->ua.call_id, save_id, sizeof save_id);
	memcpy(c->ua.from_tag, save_tag, sizeof save_tag);
	c->ua.cseq = save_cseq;
}

static void on_provisional(struct cpm_cli_ua *ua, const struct cpm_sip_msg *msg, void *arg)
{
	struct chat *c = arg;
	if (msg->status == 100)
		return;
	if (!c->a->print || c->a->verbose)
		fprintf(stderr, "cpm: %d %.*s\n", msg->status,
			CPM_STR_FMT(msg->reason.len ? msg->reason
						    : cpm_str_from_cstr(cpm_sip_reason(msg->status))));
}

static bool want_cancel(void *arg)
{
	return cpm_cli_stop != 0;
}

/* The caller: INVITE with the offer, ACK the 2xx, start MSRP. */
static int call(struct chat *c)
{
	struct cpm_buf sdp, extra;
	const struct cpm_sip_msg *resp;
	char contact[600], err[300];
	int ex = CPM_CLI_EXIT_FAIL;

	cpm_buf_init(&sdp, 8192);
	cpm_buf_init(&extra, 8192);
	cpm_cli_sdp_write(&sdp, c->m.local_ip, c->m.local_port, c->m.my_path,
			  CPM_SDP_SETUP_ACTPASS, true);
	contact_line(c, contact, sizeof contact);
	cpm_buf_puts(&extra, contact);
	cpm_buf_puts(&extra, "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE\r\n"
			     "Accept: application/sdp\r\n");

	cpm_cli_ua_new_call(&c->ua);
	snprintf(c->call_id, sizeof c->call_id, "%s", c->ua.call_id);
	snprintf(c->local_tag, sizeof c->local_tag, "%s", c->ua.from_tag);
	snprintf(c->local_uri, sizeof c->local_uri, "%s", c->ua.aor_uri);
	c->ua.on_provisional = on_provisional;
	c->ua.cancel = want_cancel;
	struct cpm_cli_req req = {
		.method = CPM_SIP_INVITE,
		.ruri = c->target,
		.to_uri = c->target,
		.extra = extra.p,
		.ctype = "application/sdp",
		.body = cpm_buf_str(&sdp),
		.timeout_ms = INVITE_WAIT_MS,
	};
	if (!c->a->print || c->a->verbose)
		fprintf(stderr, "cpm: calling %s\n", c->target);
	int rc = cpm_cli_ua_request(&c->ua, &req, &resp);
	uint32_t invite_cseq = c->ua.cseq - 1;
	c->ua.cancel = NULL;
	if (rc) {
		cpm_cli_ua_report(&c->ua, rc);
		goto out;
	}
	if (resp->status >= 300) {
		if (resp->status == 487)
			fprintf(stderr, "cpm: call cancelled\n");
		else
			cpm_cli_report_failure(&c->ua, resp, "chat");
		goto out;
	}
	/* 2xx: the dialog (§12.1.2) */
	cpm_str_copy(resp->to.tag, c->remote_tag, sizeof c->remote_tag);
	snprintf(c->remote_uri, sizeof c->remote_uri, "%s", c->target);
	if (!contact_of(resp, c->remote_target, sizeof c->remote_target, &c->room))
		snprintf(c->remote_target, sizeof c->remote_target, "%s", c->target);
	route_set(c->route, sizeof c->route, resp, true);
	c->have_dialog = true;
	addr_aor_of(cpm_str_from_cstr(c->target), c->peer, sizeof c->peer);

	struct cpm_cli_msrp_media pm;
	const char *why = NULL;
	const struct cpm_sip_hdr *ct = cpm_sip_msg_hdr(resp, CPM_SIP_H_CONTENT_TYPE);
	struct cpm_str mime = CPM_STR_NULL, params;
	if (ct)
		cpm_sip_ctype_parse(ct->value, &mime, &params);
	int sdp_rc = cpm_str_ieq_cstr(mime, "application/sdp")
			     ? cpm_cli_sdp_read(resp->body, &pm, &why) : CPM_ENOTFOUND;
	/* §13.2.2.4: ACK every 2xx, even one we cannot use, then BYE */
	struct cpm_cli_req ack = {
		.method = CPM_SIP_ACK,
		.ruri = c->remote_target,
		.to_uri = c->remote_uri,
		.to_tag = c->remote_tag,
		.extra = c->route,
	};
	cpm_cli_ua_send(&c->ua, &ack, invite_cseq);
	if (sdp_rc) {
		fprintf(stderr, "cpm: the answer has no usable MSRP stream: %s\n",
			why ? why : "no SDP");
		send_bye(c);
		c->ended = true;
		goto out;
	}
	bool active = cpm_cli_msrp_offerer_active(pm.setup);
	c->cpim = c->room || cpm_cli_msrp_wants_cpim(pm.accept_types);
	if (!c->a->print || c->a->verbose)
		fprintf(stderr, "cpm: chat with %s%s (%d %.*s); /quit or ^D ends it\n", c->peer,
			c->room ? " (a chat room)" : "", resp->status, CPM_STR_FMT(resp->reason));
	c->via_relay = c->m.use_path[0] || strchr(pm.path, ' ');
	if (cpm_cli_msrp_start(&c->m, pm.path, active, err, sizeof err) != 0) {
		fprintf(stderr, "cpm: MSRP: %s\n", err);
		send_bye(c);
		c->ended = true;
		goto out;
	}
	ex = CPM_CLI_EXIT_OK;
out:
	cpm_buf_free(&sdp);
	cpm_buf_free(&extra);
	return ex;
}

/* ------------------------------------------------------------ the loop */

static bool send_finished(struct chat *c)
{
	return c->a->chat_send && c->send_done;
}

static void session_loop(struct chat *c, uint64_t end_ms)
{
	uint64_t ka_ms = c->ua.transport == CPM_CLI_TCP && c->a->keepalive_s
				 ? (uint64_t)c->a->keepalive_s * 1000 : 0;
	uint64_t ka_at = cpm_now_ms() + ka_ms;
	while (!c->ended && !cpm_cli_stop) {
		struct pollfd p[5];
		int n = 0, ui = -1, si = -1;
		p[n].fd = c->ua.fd;
		p[n].events = POLLIN;
		p[n++].revents = 0;
		if ((c->interactive || c->lines) && !c->stdin_eof && c->have_dialog) {
			si = n;
			p[n].fd = 0;
			p[n].events = POLLIN;
			p[n++].revents = 0;
		}
		ui = n;
		int nm = cpm_cli_msrp_pollfds(&c->m, p + n);
		n += nm;
		int rc = poll(p, (nfds_t)n, 200);
		if (rc < 0 && errno != EINTR)
			break;
		uint64_t now = cpm_now_ms();
		if (rc > 0 && p[0].revents) {
			int r = cpm_cli_ua_poll(&c->ua, 0);
			if (r == CPM_ECLOSED) {
				say(c, "* connection to the SIP server lost");
				c->failed = true;
				hang_up(c, "SIP connection lost");
				break;
			}
		}
		if (rc > 0 && si >= 0 && p[si].revents) {
			if (c->interactive) {
				rl_callback_read_char();
				if (c->line_done && !c->ended) {
					/* libedit leaves character mode after a line
					 * and keeps the line in its buffer: install
					 * the handler again for a fresh line read a
					 * character at a time */
					rl_callback_handler_remove();
					rl_callback_handler_install(c->prompt, on_readline);
					fputs("\r\033[K", stdout);
					rl_forced_update_display();
				}
				if (!c->ended)
					typing_check(c);
			} else {
				read_lines(c);
			}
		}
		if (nm)
			cpm_cli_msrp_service(&c->m, p + ui, nm);
		if (c->interactive)
			typing_timers(c);
		/* callee over UDP: the 2xx again until the ACK (§13.3.1.4) */
		if (!c->caller && c->have_dialog && !c->acked &&
		    c->ua.transport == CPM_CLI_UDP && now >= c->ok_next_ms) {
			if (now >= c->ok_end_ms) {
				fprintf(stderr, "cpm: no ACK for the 200 OK\n");
				c->acked = true; /* §13.3.1.4: the dialog ends; say BYE */
				c->failed = true;
				hang_up(c, "no ACK");
			} else {
				cpm_cli_ua_resend_last(&c->ua, &c->inv_from, c->inv_fromlen);
				c->ok_interval = c->ok_interval * 2 > T2_MS ? T2_MS : c->ok_interval * 2;
				c->ok_next_ms = now + c->ok_interval;
			}
		}
		if (ka_ms && now >= ka_at) {
			cpm_cli_ua_keepalive(&c->ua);
			ka_at = now + ka_ms;
		}
		if (c->a->count && c->received >= c->a->count)
			hang_up(c, "message count reached");
		/* --report: the Success-Report has the transaction time to come */
		if (c->a->chat_send && c->send_ok && !c->send_done &&
		    now - c->send_ok_ms > CPM_CLI_MSRP_TIMEOUT_MS)
			c->send_done = true;
		if (send_finished(c))
			hang_up(c, "sent");
		if (end_ms && now >= end_ms)
			hang_up(c, "duration reached");
	}
	if (cpm_cli_stop)
		hang_up(c, "interrupted");
}

/* Let what is queued (the last message, our answers) go out before the
 * BYE, and the answers to our SENDs come in (the peer's BYE may overtake
 * them: it goes through the proxy), and through a relay the
 * Success-Reports, for up to 5 s. */
static void drain(struct chat *c)
{
	uint64_t end = cpm_now_ms() + 5000;
	while (!c->m.dead && c->m.fd >= 0 && cpm_now_ms() < end &&
	       (cpm_cli_msrp_queued(&c->m) || cpm_cli_msrp_pending_count(&c->m) ||
		(c->a->chat_send && !c->send_done) || (c->via_relay && c->reports_waiting))) {
		struct pollfd p[2];
		int n = cpm_cli_msrp_pollfds(&c->m, p);
		if (poll(p, (nfds_t)n, 100) > 0)
			cpm_cli_msrp_service(&c->m, p, n);
	}
}

/* ------------------------------------------------------------- command */

static int prepare_msrp(struct chat *c)
{
	const struct cpm_cli_args *a = c->a;
	char err[400];
	cpm_cli_msrp_init(&c->m, a->verbose, a->timeout_s * 1000, a->chunk);
	c->m.cb = (struct cpm_cli_msrp_cb){
		.message = on_msrp_message,
		.aborted = on_msrp_aborted,
		.response = on_msrp_response,
		.report = on_msrp_report,
		.nickname = on_msrp_nickname,
		.closed = on_msrp_closed,
		.arg = c,
	};
	if (a->relay[0]) {
		int rc = cpm_cli_msrp_relay_auth(&c->m, a->relay, c->ua.auth_user, c->ua.password,
						 err, sizeof err);
		if (rc) {
			fprintf(stderr, "cpm: MSRP relay %s: %s\n", a->relay, err);
			return rc;
		}
		if (a->verbose)
			fprintf(stderr, "cpm: MSRP relay: Use-Path %s\n", c->m.use_path);
		return 0;
	}
	if (cpm_cli_msrp_listen(&c->m, c->ua.local_ip) != 0) {
		fprintf(stderr, "cpm: cannot listen for MSRP on %s: %s\n", c->ua.local_ip,
			strerror(errno));
		return CPM_EIO;
	}
	return 0;
}

static void ui_start(struct chat *c)
{
	const struct cpm_cli_args *a = c->a;
	c->interactive = !a->print && !a->chat_send && isatty(0) && isatty(1);
	c->lines = !a->print && !a->chat_send && !c->interactive;
	if (c->interactive) {
		snprintf(c->prompt, sizeof c->prompt, "%s> ", c->ua.user);
		g_chat = c;
		rl_callback_handler_install(c->prompt, on_readline);
	}
}

static void ui_stop(struct chat *c)
{
	if (c->interactive) {
		rl_callback_handler_remove();
		fputs("\r\033[K", stdout);
		fflush(stdout);
	}
}

int cpm_cli_cmd_chat(const struct cpm_cli_args *a)
{
	static struct chat c; /* large: MSRP buffers and slots */
	int ex = CPM_CLI_EXIT_FAIL;

	if (!cpm_cli_need_user(a, "chat"))
		return CPM_CLI_EXIT_FAIL;
	memset(&c, 0, sizeof c);
	c.a = a;
	c.caller = !a->accept;
	cpm_buf_init(&c.inbuf, 65536);
	if (c.caller) {
		const char *at = strrchr(a->user, '@');
		if (cpm_cli_target_uri(a->pos[0], at ? at + 1 : NULL, c.target, sizeof c.target) != 0) {
			fprintf(stderr, "cpm: bad address '%s'\n", a->pos[0]);
			return CPM_CLI_EXIT_FAIL;
		}
	}
	cpm_cli_signals_install();
	if (cpm_cli_ua_open(&c.ua, a) != 0) {
		cpm_cli_ua_close(&c.ua);
		return CPM_CLI_EXIT_FAIL;
	}
	c.ua.on_request = on_request;
	c.ua.on_request_arg = &c;
	c.ua.pass_ack = true;
	if (prepare_msrp(&c) != 0)
		goto out;
	/* the callee must be reachable; the caller too, for the BYE that may
	 * come over TCP (RFC 5923: the server reuses the registered flow) */
	cpm_cli_contact_init(&c.ua, &c.reg);
	unsigned expires = a->expires_set && a->expires ? a->expires : 3600;
	int rr = cpm_cli_contact_register(&c.ua, &c.reg, expires, true,
					  a->accept && !a->print ? "waiting for a chat" : NULL);
	/* the caller can do without (over UDP the BYE still finds its
	 * Contact); the callee cannot */
	if (rr < 0 || (rr && a->accept))
		goto out;
	if (rr)
		fprintf(stderr, "cpm: calling unregistered\n");
	c.registered = rr == 0;
	cpm_cli_call_save(&c.ua, &c.reg_call);

	uint64_t end_ms = a->duration ? cpm_now_ms() + (uint64_t)a->duration * 1000 : 0;
	if (c.caller) {
		if (call(&c) != CPM_CLI_EXIT_OK)
			goto out;
	} else {
		/* wait for the INVITE; a relay session is kept meanwhile */
		while (!c.have_dialog && !c.ended && !cpm_cli_stop &&
		       (!end_ms || cpm_now_ms() < end_ms)) {
			if (cpm_cli_ua_poll(&c.ua, 200) == CPM_ECLOSED) {
				fprintf(stderr, "cpm: connection to the SIP server lost\n");
				goto out;
			}
			if (a->relay[0]) {
				struct pollfd p[2];
				int n = cpm_cli_msrp_pollfds(&c.m, p);
				if (n && poll(p, (nfds_t)n, 0) >= 0)
					cpm_cli_msrp_service(&c.m, p, n);
			}
		}
		if (!c.have_dialog) {
			fprintf(stderr, "cpm: no chat came%s\n",
				cpm_cli_stop ? "" : c.ended ? " (the MSRP relay went away)" : " in time");
			goto out;
		}
		/* in the dialog: our tag, our CSeq space */
		snprintf(c.ua.call_id, sizeof c.ua.call_id, "%s", c.call_id);
		snprintf(c.ua.from_tag, sizeof c.ua.from_tag, "%s", c.local_tag);
	}
	if (a->chat_send) {
		/* --send -: the message is standard input (one final line
		 * break dropped), as in cpm send */
		struct cpm_buf body;
		cpm_buf_init(&body, CPM_CLI_MSRP_MAX_MSG);
		int rc = 0;
		if (strcmp(a->chat_send, "-") == 0) {
			char tmp[65536];
			ssize_t n;
			while (!rc && (n = read(0, tmp, sizeof tmp)) > 0)
				rc = cpm_buf_append(&body, tmp, (size_t)n);
			if (body.len && body.p[body.len - 1] == '\n')
				body.p[--body.len] = '\0';
			if (body.len && body.p[body.len - 1] == '\r')
				body.p[--body.len] = '\0';
		} else {
			rc = cpm_buf_puts(&body, a->chat_send);
		}
		if (!rc)
			rc = send_text(&c, body.p ? body.p : "", NULL, c.send_id);
		cpm_buf_free(&body);
		if (rc) {
			fprintf(stderr, "cpm: message too long\n");
			hang_up(&c, "message too long");
		}
	}
	if (a->nick && c.room)
		cpm_cli_msrp_nickname(&c.m, a->nick);
	if (c.room && !a->chat_send)
		conference_subscribe(&c, 3600);
	ui_start(&c);
	session_loop(&c, end_ms);
	ui_stop(&c);
	drain(&c);
	if (c.sub_active) {
		cpm_cli_stop = 0;
		conference_subscribe(&c, 0);
	}
	if (c.bye_received) {
		if (a->print || a->verbose || !a->chat_send)
			printf("* session ended by %s (BYE)\n", c.peer);
	} else if (c.have_dialog) {
		cpm_cli_stop = 0;
		send_bye(&c);
		if (!a->chat_send && (!a->print || a->verbose))
			fprintf(stderr, "cpm: %s\n", c.end_reason ? c.end_reason : "hung up");
	}
	fflush(stdout);
	if (a->chat_send) {
		ex = c.send_ok && (!a->report || c.report_ok) ? CPM_CLI_EXIT_OK : CPM_CLI_EXIT_FAIL;
		if (c.send_ok && !a->report)
			printf("sent (200 OK)\n");
		else if (c.send_ok && c.report_ok)
			printf("delivered (Success-Report 200)\n");
		else if (c.send_ok)
			fprintf(stderr, "cpm: no Success-Report came\n");
		else if (!c.send_done)
			fprintf(stderr, "cpm: the message was not answered (%s)\n",
				c.end_reason ? c.end_reason : "?");
	} else {
		ex = c.failed ? CPM_CLI_EXIT_FAIL : CPM_CLI_EXIT_OK;
	}
out:
	if (c.registered) {
		cpm_cli_call_restore(&c.ua, &c.reg_call);
		cpm_cli_contact_unregister(&c.ua, &c.reg, true, false);
	}
	fflush(stdout);
	cpm_cli_msrp_free(&c.m);
	cpm_buf_free(&c.inbuf);
	cpm_cli_ua_close(&c.ua);
	return ex;
}
