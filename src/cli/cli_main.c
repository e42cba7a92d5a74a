/* cli — argument and config parsing, usage text, main().
 *
 * Everything above main() is pure (no sockets) so that the unit tests can
 * #include this file with CPM_CLI_TEST defined. */
#include "cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ usage text */

static const char usage_general[] =
	"usage: cpm [GLOBAL OPTIONS] COMMAND [COMMAND OPTIONS] [ARGS]\n"
	"\n"
	"A command-line SIP instant-messaging client (RFC 3261, RFC 3428).\n"
	"\n"
	"Commands:\n"
	"  register [--expires N] [--unregister]   register (or remove) a binding\n"
	"  send [--report[=S]] TO TEXT             send a MESSAGE (TEXT '-': stdin),\n"
	"                                          optionally wait for delivery reports\n"
	"  listen [--count N] [--duration S]       register and print incoming messages\n"
	"  inbox [--json]                          list your waiting messages (HTTP)\n"
	"  fetch ID|URL [-o FILE]                  fetch one waiting message (HTTP)\n"
	"  options [URI]                           send an OPTIONS ping\n"
	"  presence [set] STATUS [NOTE]            publish your presence (busy, away...)\n"
	"  watch AOR [--count N] [--duration S]    print AOR's presence as it changes\n"
	"  chat USER|ROOM [--send TEXT]            MSRP chat session (INVITE, RFC 4975)\n"
	"  chat --accept [--print]                 wait for a chat and answer it\n"
	"  bench --target IP:PORT [...]            MESSAGE load generator (UAC+UAS,\n"
	"                                          batched); cpm bench --help\n"
	"  help [COMMAND]                          show help\n"
	"\n"
	"Global options (also accepted after the command):\n"
	"  --server HOST[:PORT]     server or outbound proxy (default: config, else\n"
	"                           the domain of --user; port 5060)\n"
	"  --transport udp|tcp      transport (default udp)\n"
	"  --user AOR               your address, e.g. alice@example.test\n"
	"  --password S             password for digest authentication\n"
	"  --password-file F        read the password from the first line of F\n"
	"  --config FILE            config file (default ~/.config/cpm/config; INI\n"
	"                           keys server, transport, user, password,\n"
	"                           password_file, local_port, timeout, http,\n"
	"                           relay)\n"
	"  --http URL               the server's HTTP API for inbox and fetch\n"
	"                           (default http://SERVER-HOST:8080)\n"
	"  --local-port N           local port to bind (default: any)\n"
	"  --timeout SECONDS        per transaction (default 10)\n"
	"  -v, --verbose            print every SIP message sent/received to stderr\n"
	"  -h, --help               show help; --version: show the version\n"
	"\n"
	"Exit status: 0 success; 1 failure (error response, timeout, refused\n"
	"credentials, bad address, missing --user); 2 command line or config\n"
	"file syntax error; send --report also: 3 stored but no final report\n"
	"in time, 4 reported not delivered.  Run 'cpm COMMAND --help' for\n"
	"details.\n";

static const char usage_register[] =
	"usage: cpm [GLOBAL OPTIONS] register [--expires N] [--unregister]\n"
	"\n"
	"Send REGISTER for --user to the server, answering digest challenges\n"
	"(401/407; MD5, SHA-256, qop=auth).  The Contact is the local socket\n"
	"address.  On success prints\n"
	"  registered AOR at CONTACT (expires N)\n"
	"followed by one line per binding listed in the 200 OK:\n"
	"  binding: URI (expires N)\n"
	"\n"
	"  --expires N     requested lifetime in seconds (default 3600)\n"
	"  --unregister    send Expires: 0 and print 'unregistered AOR'; removes\n"
	"                  the binding of --local-port when given, else all\n"
	"                  bindings (Contact: *)\n";

static const char usage_send[] =
	"usage: cpm [GLOBAL OPTIONS] send [--type MIME] [--header 'Name: value']...\n"
	"                                 [--report[=SECONDS]] TO TEXT\n"
	"\n"
	"Send TEXT as a SIP MESSAGE (RFC 3428) to TO, which may be 'bob'\n"
	"(in your domain), 'bob@example.test' or a URI 'sip:bob@host'.\n"
	"TEXT '-' reads the body from standard input (one final line break\n"
	"dropped); put '--' before a TEXT that starts with '-'.  Prints one of\n"
	"  200 OK (delivered)\n"
	"  202 Accepted (stored for later delivery)\n"
	"  failed: 404 Not Found\n"
	"Exit 0 for a 2xx answer, 1 otherwise.\n"
	"\n"
	"  --type MIME             Content-Type (default text/plain;charset=UTF-8)\n"
	"  --header 'Name: value'  add a header field (repeatable, up to 16)\n"
	"  --report[=SECONDS]      ask for delivery reports (RFC 5438 IMDN) and\n"
	"                          wait up to SECONDS (default 60) for them\n"
	"\n"
	"With --report, TEXT goes inside a message/cpim body (RFC 3862) with a\n"
	"random imdn.Message-ID and imdn.Disposition-Notification:\n"
	"positive-delivery, negative-delivery, processing.  Reports are MESSAGEs\n"
	"to your address, so send first registers its socket as one of your\n"
	"devices (as listen does) and removes that binding at the end.  When the\n"
	"answer is 202, it waits for the reports of that message and prints each:\n"
	"  report: MESSAGE-ID stored by bob@example.test\n"
	"  report: MESSAGE-ID delivered by bob@example.test\n"
	"  report: MESSAGE-ID failed by bob@example.test\n"
	"(a 200 answer is itself the delivery report: no wait).  While it\n"
	"waits, other messages for you that arrive are shown as listen shows\n"
	"them, and accepted.\n"
	"Exit status with --report: 0 delivered (200, or a 'delivered' report);\n"
	"1 error answer or transport failure; 3 stored but no final report within\n"
	"SECONDS (or interrupted); 4 a report said it was not delivered (failed,\n"
	"forbidden, error).\n";

static const char usage_listen[] =
	"usage: cpm [GLOBAL OPTIONS] listen [--count N] [--duration S] [--expires N]\n"
	"                                   [--keepalive S] [--json]\n"
	"\n"
	"Register, then print each MESSAGE received as one line 'FROM: TEXT'\n"
	"(FROM is the sender's address user@host; line breaks in TEXT are\n"
	"written as \\n) and answer it 200 OK.  OPTIONS is answered 200, other\n"
	"requests 405 or 501.  The registration is refreshed before it expires\n"
	"and removed on exit (SIGINT, SIGTERM, --count or --duration reached).\n"
	"\n"
	"A message the server stored while you were away keeps its original\n"
	"Date; when that is at least 5 seconds old the line starts with\n"
	"  [stored, sent 2026-11-30 03:01:02Z] bob@example.test: TEXT\n"
	"Delivery reports (RFC 5438 IMDN, message/imdn+xml) are shown as\n"
	"  report: MESSAGE-ID delivered by bob@example.test\n"
	"and the notice of a message kept on the server for pick-up (RFC 4483)\n"
	"  bob@example.test: [waiting on the server: TYPE, N bytes; cpm fetch 'URL']\n"
	"isComposing indications (RFC 3994) are answered but not shown.\n"
	"\n"
	"  --count N      exit after N messages\n"
	"  --duration S   exit after S seconds\n"
	"  --expires N    registration lifetime (default 3600)\n"
	"  --keepalive S  over TCP, send a CRLF keep-alive every S seconds so the\n"
	"                 server does not close the idle connection (default 25,\n"
	"                 0: off)\n"
	"  --json         one JSON object per line instead: from, to,\n"
	"                 content_type, body, call_id, date (the Date header),\n"
	"                 sent (ISO 8601, when Date is readable), stored (true\n"
	"                 when Date is 5 s old or more), fetch_url (a pick-up\n"
	"                 notice's URL), and for a report\n"
	"                 report: {message_id, status, notification, recipient,\n"
	"                 datetime}\n";

static const char usage_inbox[] =
	"usage: cpm [GLOBAL OPTIONS] inbox [--json]\n"
	"\n"
	"List the messages waiting for --user on the server, over HTTP:\n"
	"GET /api/v1/users/AOR/messages with digest authentication (RFC 7616;\n"
	"the username is the user part of the address).  Prints a table\n"
	"  ID  DATE  FROM  TYPE  SIZE  SUBJECT  FLAGS\n"
	"in arrival order (flags: deferred, pull), or with --json the server's\n"
	"JSON document.  Fetch one with 'cpm fetch ID'.  The HTTP base URL is\n"
	"--http, the config key http, else http://SERVER-HOST:8080.\n"
	"Exit 0 on success (also when nothing waits), 1 otherwise.\n"
	"\n"
	"  --json   print the JSON list instead of the table\n";

static const char usage_fetch[] =
	"usage: cpm [GLOBAL OPTIONS] fetch ID|URL [-o FILE]\n"
	"\n"
	"Fetch one waiting message over HTTP: ID (from 'cpm inbox') means\n"
	"GET /m/ID with digest authentication as --user; URL is a link the\n"
	"server sent, e.g. http://HOST:8080/m/12?t=TOKEN (its single-use token\n"
	"needs no password).  The server marks the message delivered.  Text is\n"
	"written to standard output (of a message/cpim body, the content, as\n"
	"listen shows it); -o FILE writes the body as stored to FILE and prints\n"
	"  saved N bytes (TYPE) from SENDER, sent DATE, to FILE\n"
	"Content that is not text is not written to a terminal: it is saved to\n"
	"cpm-message-ID instead.  Exit 0 on success, 1 otherwise (404: unknown\n"
	"or already fetched, 403: not yours).\n"
	"\n"
	"  -o, --output FILE   write the body to FILE ('-': standard output)\n";

static const char usage_presence[] =
	"usage: cpm [GLOBAL OPTIONS] presence [set] STATUS [NOTE] [--expires N]\n"
	"\n"
	"Publish your presence (PUBLISH, RFC 3903, with a PIDF document): STATUS is\n"
	"open, closed, away, busy, on-the-phone, meeting or dnd (do not disturb),\n"
	"NOTE a free text.  busy, on-the-phone, meeting and dnd make the server\n"
	"refuse calls to you (486) and keep a \"missed session\" notice.  The\n"
	"publication lasts --expires seconds (default 3600).  Exit 0 on 2xx.\n";

static const char usage_watch[] =
	"usage: cpm [GLOBAL OPTIONS] watch AOR [--count N] [--duration S] [--expires N]\n"
	"\n"
	"Watch AOR's presence (SUBSCRIBE Event: presence, RFC 3856) and print a line per\n"
	"NOTIFY: the basic status, the activities and the note.  A user who has not\n"
	"allowed you yet keeps the subscription pending.  Ends after N NOTIFYs, S\n"
	"seconds or ^C.  Exit 0 once a NOTIFY came.\n";

static const char usage_chat[] =
	"usage: cpm [GLOBAL OPTIONS] chat USER|ROOM [--relay URI] [--send TEXT [--report]]\n"
	"                                 [--nick NAME] [--chunk BYTES]\n"
	"       cpm [GLOBAL OPTIONS] chat --accept [--print] [--relay URI] [--count N]\n"
	"                                 [--duration S] [--report]\n"
	"\n"
	"An MSRP chat session (RFC 4975) set up with INVITE (RFC 3261): registers\n"
	"--user, sends an INVITE with an SDP offer (m=message PORT TCP/MSRP *,\n"
	"a=setup:actpass, RFC 6135) to USER (bob, bob@example.test, sip:...) or a\n"
	"chat room, connects (or is connected to) the peer's MSRP URI, and then:\n"
	"each line typed is a SEND (text/plain; message/cpim in a room), incoming\n"
	"messages are printed with their sender and time, 'bob is typing' shows\n"
	"RFC 3994 isComposing indications (sent while you type).  Commands:\n"
	"  /quit            hang up (also ^D or end of input); the other side's BYE\n"
	"                   ends the session too\n"
	"  /msg NICK TEXT   (room) a private message to one participant (RFC 7701)\n"
	"  /nick NAME       (room) ask for a nickname (RFC 7701 NICKNAME)\n"
	"Long messages go out in chunks (Byte-Range); chunked messages that arrive\n"
	"are put back together.  Standard input that is not a terminal is read\n"
	"line by line (one SEND per line), without line editing.\n"
	"\n"
	"  --accept         wait for an INVITE with an MSRP offer and answer it\n"
	"                   (200 with a=setup:passive: the caller connects)\n"
	"  --print          print what arrives, one line each, and send nothing\n"
	"                   from standard input (for scripts):\n"
	"                     [HH:MM:SS] FROM: TEXT     a message\n"
	"                     * FROM is typing          isComposing active\n"
	"                     * report: ID 200 OK       a REPORT (with --report)\n"
	"                     * session ended (BYE)     the other side hung up\n"
	"  --send TEXT      send TEXT as one message and hang up; exit 0 only when\n"
	"                   the 200 to the SEND came (with --report: the\n"
	"                   Success-Report)\n"
	"  --report         ask for Success-Reports and show the REPORTs\n"
	"  --relay URI      use an MSRP relay (RFC 4976), e.g.\n"
	"                   msrp://127.0.0.1:2855;tcp: AUTH with --user and\n"
	"                   --password (Digest), its Use-Path goes first in a=path;\n"
	"                   through a relay a 200 covers one hop only: messages\n"
	"                   ask for Success-Reports, and hanging up waits up to\n"
	"                   5 s for them\n"
	"  --nick NAME      (room) the nickname to ask for after joining\n"
	"  --chunk BYTES    largest chunk of an outgoing message (default 16384)\n"
	"  --count N        (--accept) hang up after N messages received\n"
	"  --duration S     hang up after S seconds (--accept: also when no INVITE\n"
	"                   came by then)\n"
	"Exit 0 when the session was set up and ended normally, 1 otherwise\n"
	"(refused INVITE, MSRP connection or relay AUTH failure, a SEND not\n"
	"answered 200).\n";

static const char usage_options[] =
	"usage: cpm [GLOBAL OPTIONS] options [URI]\n"
	"\n"
	"Send OPTIONS to URI (default: the server, sip:HOST[:PORT]) and print\n"
	"the status line and the Allow, Accept and Supported header fields.\n"
	"Exit 0 on a 2xx answer, 1 otherwise.\n";

void cpm_cli_usage(FILE *f, enum cpm_cli_cmd cmd)
{
	switch (cmd) {
	case CPM_CLI_CMD_REGISTER:
		fputs(usage_register, f);
		break;
	case CPM_CLI_CMD_SEND:
		fputs(usage_send, f);
		break;
	case CPM_CLI_CMD_LISTEN:
		fputs(usage_listen, f);
		break;
	case CPM_CLI_CMD_OPTIONS:
		fputs(usage_options, f);
		break;
	case CPM_CLI_CMD_INBOX:
		fputs(usage_inbox, f);
		break;
	case CPM_CLI_CMD_FETCH:
		fputs(usage_fetch, f);
		break;
	case CPM_CLI_CMD_PRESENCE:
		fputs(usage_presence, f);
		break;
	case CPM_CLI_CMD_WATCH:
		fputs(usage_watch, f);
		break;
	case CPM_CLI_CMD_CHAT:
		fputs(usage_chat, f);
		break;
	default:
		fputs(usage_general, f);
		break;
	}
}

/* ------------------------------------------------------------- arguments */

void cpm_cli_args_init(struct cpm_cli_args *a)
{
	memset(a, 0, sizeof *a);
	a->transport = CPM_CLI_UDP;
	a->timeout_s = 10;
	a->expires = 3600;
	a->keepalive_s = 25;
	a->report_s = CPM_CLI_REPORT_WAIT;
	a->chunk = 16384;
}

static enum cpm_cli_cmd cmd_parse(const char *s)
{
	if (strcmp(s, "register") == 0)
		return CPM_CLI_CMD_REGISTER;
	if (strcmp(s, "send") == 0)
		return CPM_CLI_CMD_SEND;
	if (strcmp(s, "listen") == 0)
		return CPM_CLI_CMD_LISTEN;
	if (strcmp(s, "options") == 0)
		return CPM_CLI_CMD_OPTIONS;
	if (strcmp(s, "inbox") == 0)
		return CPM_CLI_CMD_INBOX;
	if (strcmp(s, "fetch") == 0)
		return CPM_CLI_CMD_FETCH;
	if (strcmp(s, "presence") == 0)
		return CPM_CLI_CMD_PRESENCE;
	if (strcmp(s, "watch") == 0)
		return CPM_CLI_CMD_WATCH;
	if (strcmp(s, "chat") == 0)
		return CPM_CLI_CMD_CHAT;
	if (strcmp(s, "help") == 0)
		return CPM_CLI_CMD_HELP;
	if (strcmp(s, "version") == 0)
		return CPM_CLI_CMD_VERSION;
	return CPM_CLI_CMD_NONE;
}

static const char *cmd_name(enum cpm_cli_cmd c)
{
	switch (c) {
	case CPM_CLI_CMD_REGISTER:
		return "register";
	case CPM_CLI_CMD_SEND:
		return "send";
	case CPM_CLI_CMD_LISTEN:
		return "listen";
	case CPM_CLI_CMD_OPTIONS:
		return "options";
	case CPM_CLI_CMD_INBOX:
		return "inbox";
	case CPM_CLI_CMD_FETCH:
		return "fetch";
	case CPM_CLI_CMD_PRESENCE:
		return "presence";
	case CPM_CLI_CMD_WATCH:
		return "watch";
	case CPM_CLI_CMD_CHAT:
		return "chat";
	case CPM_CLI_CMD_VERSION:
		return "version";
	default:
		return "help";
	}
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	uint64_t v;
	if (cpm_str_to_u64(cpm_str_from_cstr(s), max, &v) != 0 || v < min)
		return CPM_ERANGE;
	*out = (unsigned)v;
	return 0;
}

static int transport_parse(const char *s, enum cpm_cli_transport *t)
{
	if (strcasecmp(s, "udp") == 0)
		*t = CPM_CLI_UDP;
	else if (strcasecmp(s, "tcp") == 0)
		*t = CPM_CLI_TCP;
	else
		return CPM_EINVAL;
	return 0;
}

static int copy_arg(const char *val, char *dst, size_t dstsz)
{
	return cpm_str_copy(cpm_str_from_cstr(val), dst, dstsz);
}

/* Strip "sip:" and check "user@domain". */
static int aor_normalise(char *aor)
{
	const char *p = aor;
	if (strncasecmp(p, "sip:", 4) == 0)
		p += 4;
	const char *at = strchr(p, '@');
	if (!at || at == p || !at[1] || strchr(at + 1, '@'))
		return CPM_EADDR;
	for (const char *q = p; *q; q++)
		if ((unsigned char)*q <= ' ' || strchr("<>\";,?", *q))
			return CPM_EADDR;
	memmove(aor, p, strlen(p) + 1);
	return 0;
}

int cpm_cli_hostport_parse(const char *s, char *host, size_t hostsz,
			   uint16_t *port)
{
	struct cpm_str h;
	const char *ps = NULL;

	if (strncasecmp(s, "sip:", 4) == 0)
		s += 4;
	*port = 0;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || end == s + 1)
			return CPM_EADDR;
		h = (struct cpm_str){ s + 1, (size_t)(end - s - 1) };
		if (end[1] == ':')
			ps = end + 2;
		else if (end[1] != '\0')
			return CPM_EADDR;
	} else {
		const char *c = strchr(s, ':');
		if (c && strchr(c + 1, ':')) { /* bare IPv6 */
			h = cpm_str_from_cstr(s);
		} else if (c) {
			h = (struct cpm_str){ s, (size_t)(c - s) };
			ps = c + 1;
		} else {
			h = cpm_str_from_cstr(s);
		}
	}
	if (h.len == 0)
		return CPM_EADDR;
	for (size_t i = 0; i < h.len; i++)
		if ((unsigned char)h.s[i] <= ' ' || strchr("/@;<>\"", h.s[i]))
			return CPM_EADDR;
	if (ps) {
		unsigned v;
		if (parse_uint(ps, 1, 65535, &v) != 0)
			return CPM_EADDR;
		*port = (uint16_t)v;
	}
	return cpm_str_copy(h, host, hostsz) == 0 ? 0 : CPM_EADDR;
}

int cpm_cli_target_uri(const char *in, const char *default_domain, char *out,
		       size_t outsz)
{
	struct cpm_sip_uri u;
	int n;

	if (!in || !*in)
		return CPM_EADDR;
	for (const char *q = in; *q; q++)
		if ((unsigned char)*q <= ' ' || *q == '<' || *q == '>' ||
		    *q == '"')
			return CPM_EADDR;
	if (strncasecmp(in, "sip:", 4) == 0 || strncasecmp(in, "sips:", 5) == 0 ||
	    strncasecmp(in, "tel:", 4) == 0) {
		n = snprintf(out, outsz, "%s", in);
	} else if (strchr(in, '@')) {
		n = snprintf(out, outsz, "sip:%s", in);
	} else if (default_domain && *default_domain) {
		n = snprintf(out, outsz, "sip:%s@%s", in, default_domain);
	} else {
		n = snprintf(out, outsz, "sip:%s", in);
	}
	if (n < 0 || (size_t)n >= outsz)
		return CPM_EADDR;
	/* the parser accepts some odd forms; be strict about the user part */
	const char *at = strchr(out, '@');
	if (at) {
		const char *colon = strchr(out, ':');
		if (at == colon + 1 || at[1] == '\0' || at[1] == ':' ||
		    at[1] == ';' || strchr(at + 1, '@'))
			return CPM_EADDR;
	}
	if (cpm_sip_uri_parse(cpm_str_from_cstr(out), &u) != 0)
		return CPM_EADDR;
	if (u.scheme != CPM_SIP_SCHEME_TEL && u.host.len == 0)
		return CPM_EADDR;
	if (u.scheme == CPM_SIP_SCHEME_TEL && u.user.len == 0)
		return CPM_EADDR;
	return 0;
}

int cpm_cli_header_check(const char *h)
{
	const char *colon = strchr(h, ':');
	if (!colon || colon == h)
		return CPM_EINVAL;
	struct cpm_str name = cpm_str_trim((struct cpm_str){ h, (size_t)(colon - h) });
	if (name.len == 0)
		return CPM_EINVAL;
	for (size_t i = 0; i < name.len; i++) {
		char c = name.s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("-.!%*_+`'~", c)))
			return CPM_EINVAL;
	}
	for (const char *q = colon + 1; *q; q++)
		if (*q == '\r' || *q == '\n')
			return CPM_EINVAL;
	switch (cpm_sip_hdr_id_parse(name)) {
	case CPM_SIP_H_VIA:
	case CPM_SIP_H_FROM:
	case CPM_SIP_H_TO:
	case CPM_SIP_H_CALL_ID:
	case CPM_SIP_H_CSEQ:
	case CPM_SIP_H_CONTENT_LENGTH:
	case CPM_SIP_H_CONTENT_TYPE:
	case CPM_SIP_H_MAX_FORWARDS:
		return CPM_EPERM;
	default:
		return 0;
	}
}

int cpm_cli_relay_check(const char *uri)
{
	struct cpm_msrp_uri u;
	if (cpm_msrp_uri_parse(cpm_str_from_cstr(uri), &u) != 0 || u.secure ||
	    !cpm_str_ieq_cstr(u.transport, "tcp") || u.host.len == 0)
		return CPM_EINVAL;
	return 0;
}

/* Split "--name=value". */
static bool opt_is(const char *arg, const char *name, const char **inl)
{
	size_t n = strlen(name);
	if (strncmp(arg, name, n) != 0)
		return false;
	if (arg[n] == '\0') {
		*inl = NULL;
		return true;
	}
	if (arg[n] == '=' && name[1] == '-') {
		*inl = arg + n + 1;
		return true;
	}
	return false;
}

#define ERR(...)                                  \
	do {                                      \
		snprintf(err, errsz, __VA_ARGS__); \
		return CPM_EINVAL;                \
	} while (0)

int cpm_cli_args_parse(struct cpm_cli_args *a, int argc, char **argv,
		       char *err, size_t errsz)
{
	bool opts_done = false;
	int i;

	if (errsz)
		err[0] = '\0';

	for (i = 1; i < argc; i++) {
		const char *arg = argv[i], *inl = NULL, *val = NULL;

		if (opts_done || arg[0] != '-' || strcmp(arg, "-") == 0) {
			if (a->cmd == CPM_CLI_CMD_NONE) {
				a->cmd = cmd_parse(arg);
				if (a->cmd == CPM_CLI_CMD_NONE)
					ERR("unknown command '%s' (try 'cpm help')", arg);
				continue;
			}
			if (a->npos >= (a->cmd == CPM_CLI_CMD_PRESENCE ? 3 : 2) ||
			    (a->cmd == CPM_CLI_CMD_HELP && a->npos >= 1) ||
			    (a->cmd == CPM_CLI_CMD_OPTIONS && a->npos >= 1) ||
			    (a->cmd == CPM_CLI_CMD_FETCH && a->npos >= 1) ||
			    (a->cmd == CPM_CLI_CMD_WATCH && a->npos >= 1) ||
			    (a->cmd == CPM_CLI_CMD_CHAT && a->npos >= 1) ||
			    a->cmd == CPM_CLI_CMD_INBOX ||
			    a->cmd == CPM_CLI_CMD_REGISTER ||
			    a->cmd == CPM_CLI_CMD_LISTEN ||
			    a->cmd == CPM_CLI_CMD_VERSION)
				ERR("unexpected argument '%s'", arg);
			a->pos[a->npos++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			opts_done = true;
			continue;
		}

/* Option with a value: --name VALUE or --name=VALUE. */
#define VALUE_OPT(name)                                                    \
	(opt_is(arg, name, &inl) &&                                        \
	 ((val = inl) != NULL || (i + 1 < argc && (val = argv[++i]) != NULL) || \
	  (snprintf(err, errsz, "option %s needs a value", name), false)))

		if (strcmp(arg, "-v") == 0 || strcmp(arg, "--verbose") == 0) {
			a->verbose = true;
		} else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			a->help = true;
		} else if (strcmp(arg, "--version") == 0) {
			if (a->cmd == CPM_CLI_CMD_NONE)
				a->cmd = CPM_CLI_CMD_VERSION;
		} else if (VALUE_OPT("--server")) {
			char host[256];
			uint16_t port;
			if (cpm_cli_hostport_parse(val, host, sizeof host, &port) != 0 ||
			    copy_arg(val, a->server, sizeof a->server) != 0)
				ERR("bad server '%s' (expected HOST[:PORT])", val);
			a->server_set = true;
		} else if (VALUE_OPT("--transport")) {
			if (transport_parse(val, &a->transport) != 0)
				ERR("bad transport '%s' (expected udp or tcp)", val);
			a->transport_set = true;
		} else if (VALUE_OPT("--user")) {
			if (copy_arg(val, a->user, sizeof a->user) != 0 ||
			    aor_normalise(a->user) != 0)
				ERR("bad address '%s' (expected user@domain)", val);
			a->user_set = true;
		} else if (VALUE_OPT("--password")) {
			if (copy_arg(val, a->password, sizeof a->password) != 0)
				ERR("password too long");
			a->password_set = true;
		} else if (VALUE_OPT("--password-file")) {
			if (copy_arg(val, a->password_file, sizeof a->password_file) != 0)
				ERR("password file name too long");
		} else if (VALUE_OPT("--config")) {
			if (copy_arg(val, a->config, sizeof a->config) != 0)
				ERR("config file name too long");
			a->config_set = true;
		} else if (VALUE_OPT("--local-port")) {
			if (parse_uint(val, 0, 65535, &a->local_port) != 0)
				ERR("bad local port '%s' (expected 0-65535)", val);
			a->local_port_set = true;
		} else if (VALUE_OPT("--http")) {
			struct cpm_cli_url u;
			int rc = cpm_cli_url_parse(val, &u);
			if (rc || copy_arg(val, a->http, sizeof a->http) != 0)
				ERR("bad HTTP URL '%s' (expected http://HOST[:PORT][/PATH]%s)",
				    val, rc == CPM_ESCHEME ? "; https is not supported" : "");
			a->http_set = true;
		} else if (VALUE_OPT("--timeout")) {
			if (parse_uint(val, 1, 3600, &a->timeout_s) != 0)
				ERR("bad timeout '%s' (expected 1-3600 seconds)", val);
			a->timeout_set = true;
		} else if ((a->cmd == CPM_CLI_CMD_REGISTER || a->cmd == CPM_CLI_CMD_LISTEN ||
			    a->cmd == CPM_CLI_CMD_PRESENCE || a->cmd == CPM_CLI_CMD_WATCH) &&
			   VALUE_OPT("--expires")) {
			if (parse_uint(val, 0, 0x7fffffff, &a->expires) != 0)
				ERR("bad expires '%s' (expected seconds)", val);
			a->expires_set = true;
		} else if (a->cmd == CPM_CLI_CMD_REGISTER &&
			   strcmp(arg, "--unregister") == 0) {
			a->unregister = true;
		} else if (a->cmd == CPM_CLI_CMD_CHAT && strcmp(arg, "--accept") == 0) {
			a->accept = true;
		} else if (a->cmd == CPM_CLI_CMD_CHAT && strcmp(arg, "--print") == 0) {
			a->print = true;
		} else if (a->cmd == CPM_CLI_CMD_CHAT && strcmp(arg, "--report") == 0) {
			a->report = true;
		} else if (a->cmd == CPM_CLI_CMD_CHAT && VALUE_OPT("--send")) {
			a->chat_send = val;
		} else if (a->cmd == CPM_CLI_CMD_CHAT && VALUE_OPT("--nick")) {
			if (!val[0] || strpbrk(val, "\r\n"))
				ERR("bad nickname '%s'", val);
			a->nick = val;
		} else if (a->cmd == CPM_CLI_CMD_CHAT && VALUE_OPT("--chunk")) {
			if (parse_uint(val, 64, 16u << 20, &a->chunk) != 0)
				ERR("bad chunk size '%s' (expected 64 to 16777216 bytes)", val);
		} else if (a->cmd == CPM_CLI_CMD_CHAT && VALUE_OPT("--relay")) {
			if (cpm_cli_relay_check(val) != 0 ||
			    copy_arg(val, a->relay, sizeof a->relay) != 0)
				ERR("bad relay '%s' (expected msrp://HOST:PORT;tcp)", val);
			a->relay_set = true;
		} else if ((a->cmd == CPM_CLI_CMD_LISTEN || a->cmd == CPM_CLI_CMD_WATCH ||
			    a->cmd == CPM_CLI_CMD_CHAT) &&
			   VALUE_OPT("--count")) {
			if (parse_uint(val, 1, UINT_MAX, &a->count) != 0)
				ERR("bad count '%s' (expected a positive number)", val);
		} else if ((a->cmd == CPM_CLI_CMD_LISTEN || a->cmd == CPM_CLI_CMD_WATCH ||
			    a->cmd == CPM_CLI_CMD_CHAT) &&
			   VALUE_OPT("--duration")) {
			if (parse_uint(val, 1, 100000000, &a->duration) != 0)
				ERR("bad duration '%s' (expected seconds)", val);
		} else if (a->cmd == CPM_CLI_CMD_LISTEN && VALUE_OPT("--keepalive")) {
			if (parse_uint(val, 0, 86400, &a->keepalive_s) != 0)
				ERR("bad keepalive '%s' (expected seconds, 0: off)", val);
		} else if ((a->cmd == CPM_CLI_CMD_LISTEN ||
			    a->cmd == CPM_CLI_CMD_INBOX) &&
			   strcmp(arg, "--json") == 0) {
			a->json = true;
		} else if (a->cmd == CPM_CLI_CMD_SEND &&
			   (strcmp(arg, "--report") == 0 ||
			    strncmp(arg, "--report=", 9) == 0)) {
			/* the value is optional, so only the --report=S form */
			if (arg[8] == '=' &&
			    parse_uint(arg + 9, 1, 86400, &a->report_s) != 0)
				ERR("bad report wait '%s' (expected 1-86400 seconds)",
				    arg + 9);
			a->report = true;
		} else if (a->cmd == CPM_CLI_CMD_FETCH &&
			   (VALUE_OPT("-o") || VALUE_OPT("--output"))) {
			if (!val[0])
				ERR("empty output file name");
			a->output = val;
		} else if (a->cmd == CPM_CLI_CMD_SEND && VALUE_OPT("--type")) {
			if (!strchr(val, '/') || strpbrk(val, "\r\n"))
				ERR("bad content type '%s' (expected type/subtype)", val);
			a->content_type = val;
		} else if (a->cmd == CPM_CLI_CMD_SEND && VALUE_OPT("--header")) {
			int rc = cpm_cli_header_check(val);
			if (rc == CPM_EPERM)
				ERR("header '%s' is set by cpm itself%s", val,
				    cpm_str_istarts(cpm_str_from_cstr(val), "content-type") ||
						    cpm_str_istarts(cpm_str_from_cstr(val), "c:")
					    ? " (use --type)" : "");
			if (rc)
				ERR("bad header '%s' (expected 'Name: value')", val);
			if (a->nheaders >= CPM_CLI_MAX_HDRS)
				ERR("too many --header options (at most %d)",
				    CPM_CLI_MAX_HDRS);
			a->headers[a->nheaders++] = val;
		} else {
			if (err[0])
				return CPM_EINVAL; /* "needs a value" */
			if (a->cmd == CPM_CLI_CMD_NONE || a->cmd == CPM_CLI_CMD_HELP)
				ERR("unknown option '%s' (command options go after the command; try 'cpm help')",
				    arg);
			ERR("unknown option '%s' for %s (try 'cpm %s --help')", arg,
			    cmd_name(a->cmd), cmd_name(a->cmd));
		}
#undef VALUE_OPT
	}

	if (a->cmd == CPM_CLI_CMD_HELP) {
		a->help = true;
		a->help_topic = a->npos ? a->pos[0] : NULL;
		return 0;
	}
	if (a->help || a->cmd == CPM_CLI_CMD_VERSION)
		return 0;
	if (a->cmd == CPM_CLI_CMD_NONE)
		ERR("no command given (try 'cpm help')");
	if (a->cmd == CPM_CLI_CMD_LISTEN && a->expires_set && a->expires == 0)
		ERR("listen needs --expires of at least 1 second");
	if (a->cmd == CPM_CLI_CMD_SEND && a->npos != 2)
		ERR("send needs TO and TEXT (try 'cpm send --help')");
	if (a->cmd == CPM_CLI_CMD_CHAT && a->accept == (a->npos == 1))
		ERR(a->accept ? "chat --accept takes no USER" :
				"chat needs USER or ROOM, or --accept (try 'cpm chat --help')");
	if (a->cmd == CPM_CLI_CMD_CHAT && a->accept && a->chat_send)
		ERR("--send is for the calling side (cpm chat USER --send TEXT)");
	if (a->cmd == CPM_CLI_CMD_FETCH && a->npos != 1)
		ERR("fetch needs a message ID or URL (try 'cpm fetch --help')");
	return 0;
}

/* ----------------------------------------------------------- config file */

int cpm_cli_config_parse(struct cpm_cli_args *a, const char *text, size_t len,
			 const char *name, char *err, size_t errsz)
{
	struct cpm_str rest = { text, len };
	unsigned lineno = 0;

	while (rest.len) {
		long nl = cpm_str_chr(rest, '\n');
		struct cpm_str line = nl < 0 ? rest : (struct cpm_str){ rest.s, (size_t)nl };
		if (nl < 0) {
			rest.len = 0;
		} else {
			rest.s += nl + 1;
			rest.len -= (size_t)nl + 1;
		}
		lineno++;
		line = cpm_str_trim(line);
		if (line.len == 0 || line.s[0] == '#' || line.s[0] == ';' ||
		    line.s[0] == '[')
			continue;
		long eq = cpm_str_chr(line, '=');
		if (eq <= 0)
			ERR("%s:%u: expected 'key = value'", name, lineno);
		struct cpm_str key = cpm_str_trim((struct cpm_str){ line.s, (size_t)eq });
		struct cpm_str v = cpm_str_trim((struct cpm_str){
			line.s + eq + 1, line.len - (size_t)eq - 1 });
		if (v.len >= 2 && ((v.s[0] == '"' && v.s[v.len - 1] == '"') ||
				   (v.s[0] == '\'' && v.s[v.len - 1] == '\''))) {
			v.s++;
			v.len -= 2;
		}
		char val[512];
		if (cpm_str_copy(v, val, sizeof val) != 0)
			ERR("%s:%u: value too long", name, lineno);

		if (cpm_str_eq_cstr(key, "server")) {
			char host[256];
			uint16_t port;
			if (cpm_cli_hostport_parse(val, host, sizeof host, &port) != 0)
				ERR("%s:%u: bad server '%s'", name, lineno, val);
			if (!a->server_set)
				copy_arg(val, a->server, sizeof a->server);
		} else if (cpm_str_eq_cstr(key, "transport")) {
			enum cpm_cli_transport t;
			if (transport_parse(val, &t) != 0)
				ERR("%s:%u: bad transport '%s'", name, lineno, val);
			if (!a->transport_set)
				a->transport = t;
		} else if (cpm_str_eq_cstr(key, "user")) {
			char u[256];
			if (copy_arg(val, u, sizeof u) != 0 || aor_normalise(u) != 0)
				ERR("%s:%u: bad address '%s'", name, lineno, val);
			if (!a->user_set)
				copy_arg(u, a->user, sizeof a->user);
		} else if (cpm_str_eq_cstr(key, "password")) {
			if (!a->password_set && !a->password_file[0]) {
				if (copy_arg(val, a->password, sizeof a->password) != 0)
					ERR("%s:%u: password too long", name, lineno);
				a->password_set = true;
			}
		} else if (cpm_str_eq_cstr(key, "password_file")) {
			if (!a->password_set && !a->password_file[0])
				copy_arg(val, a->password_file, sizeof a->password_file);
		} else if (cpm_str_eq_cstr(key, "local_port")) {
			unsigned p;
			if (parse_uint(val, 0, 65535, &p) != 0)
				ERR("%s:%u: bad local_port '%s'", name, lineno, val);
			if (!a->local_port_set) {
				a->local_port = p;
				a->local_port_set = true;
			}
		} else if (cpm_str_eq_cstr(key, "http")) {
			struct cpm_cli_url u;
			if (cpm_cli_url_parse(val, &u) != 0)
				ERR("%s:%u: bad http URL '%s'", name, lineno, val);
			if (!a->http_set)
				copy_arg(val, a->http, sizeof a->http);
		} else if (cpm_str_eq_cstr(key, "relay")) {
			if (cpm_cli_relay_check(val) != 0)
				ERR("%s:%u: bad relay '%s'", name, lineno, val);
			if (!a->relay_set)
				copy_arg(val, a->relay, sizeof a->relay);
		} else if (cpm_str_eq_cstr(key, "timeout")) {
			unsigned t;
			if (parse_uint(val, 1, 3600, &t) != 0)
				ERR("%s:%u: bad timeout '%s'", name, lineno, val);
			if (!a->timeout_set)
				a->timeout_s = t;
		} else {
			fprintf(stderr, "cpm: %s:%u: unknown key '%.*s' ignored\n",
				name, lineno, CPM_STR_FMT(key));
		}
	}
	return 0;
}

static int read_file(const char *path, struct cpm_buf *b)
{
	FILE *f = fopen(path, "rb");
	char tmp[4096];
	size_t n;
	int rc = 0;

	if (!f)
		return CPM_EIO;
	while (rc == 0 && (n = fread(tmp, 1, sizeof tmp, f)) > 0)
		rc = cpm_buf_append(b, tmp, n);
	if (rc == 0 && ferror(f))
		rc = CPM_EIO;
	fclose(f);
	return rc;
}

int cpm_cli_config_load(struct cpm_cli_args *a, char *err, size_t errsz)
{
	char path[600];
	struct cpm_buf b;
	int rc;

	if (a->config_set) {
		snprintf(path, sizeof path, "%s", a->config);
	} else {
		const char *home = getenv("HOME");
		path[0] = '\0';
		if (home && *home)
			snprintf(path, sizeof path, "%s/.config/cpm/config", home);
	}
	if (path[0]) {
		cpm_buf_init(&b, 1 << 20);
		rc = read_file(path, &b);
		if (rc == CPM_EIO && !a->config_set && errno == ENOENT) {
			rc = 0;
		} else if (rc) {
			int e = errno;
			cpm_buf_free(&b);
			ERR("cannot read config file '%s': %s", path,
			    rc == CPM_EIO ? strerror(e) : cpm_strerror(rc));
		} else {
			rc = cpm_cli_config_parse(a, b.p ? b.p : "", b.len, path,
						  err, errsz);
		}
		cpm_buf_free(&b);
		if (rc)
			return rc;
	}

	if (a->password_file[0] && !a->password_set) {
		cpm_buf_init(&b, 1 << 16);
		rc = read_file(a->password_file, &b);
		if (rc) {
			int e = errno;
			cpm_buf_free(&b);
			ERR("cannot read password file '%s': %s", a->password_file,
			    rc == CPM_EIO ? strerror(e) : cpm_strerror(rc));
		}
		struct cpm_str s = cpm_buf_str(&b);
		long nl = cpm_str_chr(s, '\n');
		if (nl >= 0)
			s.len = (size_t)nl;
		if (s.len && s.s[s.len - 1] == '\r')
			s.len--;
		rc = cpm_str_copy(s, a->password, sizeof a->password);
		cpm_buf_free(&b);
		if (rc)
			ERR("password in '%s' too long", a->password_file);
		a->password_set = true;
	}
	return 0;
}

#undef ERR

/* ------------------------------------------------------------------ main */

#ifndef CPM_CLI_TEST

static enum cpm_cli_cmd help_topic_cmd(const char *topic)
{
	enum cpm_cli_cmd c = topic ? cmd_parse(topic) : CPM_CLI_CMD_NONE;
	return c == CPM_CLI_CMD_HELP || c == CPM_CLI_CMD_VERSION ? CPM_CLI_CMD_NONE : c;
}

#ifndef CPM_CLI_TEST
/* bench/loadgen.c, linked in with its main renamed (see the Makefile) */
int cpm_cli_bench_main(int argc, char **argv);
#endif

int main(int argc, char **argv)
{
	struct cpm_cli_args a;
	char err[600] = "";

#ifndef CPM_CLI_TEST
	if (argc > 1 && strcmp(argv[1], "bench") == 0)
		return cpm_cli_bench_main(argc - 1, argv + 1);
#endif

	cpm_cli_args_init(&a);
	if (cpm_cli_args_parse(&a, argc, argv, err, sizeof err) != 0) {
		fprintf(stderr, "cpm: %s\n", err);
		if (a.cmd == CPM_CLI_CMD_NONE && argc < 2)
			cpm_cli_usage(stderr, CPM_CLI_CMD_NONE);
		return CPM_CLI_EXIT_USAGE;
	}
	if (a.cmd == CPM_CLI_CMD_VERSION) {
		printf("cpm %s\n", CPM_CLI_VERSION);
		return CPM_CLI_EXIT_OK;
	}
	if (a.help) {
		if (a.cmd == CPM_CLI_CMD_HELP) {
			enum cpm_cli_cmd c = help_topic_cmd(a.help_topic);
			if (a.help_topic && c == CPM_CLI_CMD_NONE &&
			    strcmp(a.help_topic, "help") != 0) {
				fprintf(stderr, "cpm: unknown command '%s'\n",
					a.help_topic);
				cpm_cli_usage(stderr, CPM_CLI_CMD_NONE);
				return CPM_CLI_EXIT_USAGE;
			}
			cpm_cli_usage(stdout, c);
		} else {
			cpm_cli_usage(stdout, a.cmd);
		}
		return CPM_CLI_EXIT_OK;
	}
	if (cpm_cli_config_load(&a, err, sizeof err) != 0) {
		fprintf(stderr, "cpm: %s\n", err);
		return CPM_CLI_EXIT_USAGE;
	}
	cpm_log_set_level(a.verbose ? CPM_LOG_INFO : CPM_LOG_WARN);

	switch (a.cmd) {
	case CPM_CLI_CMD_REGISTER:
		return cpm_cli_cmd_register(&a);
	case CPM_CLI_CMD_SEND:
		return cpm_cli_cmd_send(&a);
	case CPM_CLI_CMD_LISTEN:
		return cpm_cli_cmd_listen(&a);
	case CPM_CLI_CMD_OPTIONS:
		return cpm_cli_cmd_options(&a);
	case CPM_CLI_CMD_INBOX:
		return cpm_cli_cmd_inbox(&a);
	case CPM_CLI_CMD_FETCH:
		return cpm_cli_cmd_fetch(&a);
	case CPM_CLI_CMD_PRESENCE:
		return cpm_cli_cmd_presence(&a);
	case CPM_CLI_CMD_WATCH:
		return cpm_cli_cmd_watch(&a);
	case CPM_CLI_CMD_CHAT:
		return cpm_cli_cmd_chat(&a);
	default:
		cpm_cli_usage(stderr, CPM_CLI_CMD_NONE);
		return CPM_CLI_EXIT_USAGE;
	}
}

#endif
