/* cli — cpm, the command-line SIP client.
 *
 * Files:
 *   cli_main.c  argument and config parsing (pure, unit-tested), main()
 *   cli_auth.c  digest authentication (pure, unit-tested)
 *   cli_msg.c   message formats: dates, CPIM, IMDN (pure, unit-tested)
 *   cli_ua.c    sockets, request building, transactions, retransmission
 *   cli_http.c  a small blocking HTTP/1.1 client with digest auth
 *   cli_cmd.c   the commands: register, send, listen, options
 *   cli_inbox.c the commands inbox and fetch, and their JSON reader
 *   cli_msrp.c  MSRP for cpm chat: SDP offer/answer, the connection (framing
 *               with src/msrp, chunking, reassembly, relay AUTH), isComposing,
 *               CPIM for rooms (pure parts unit-tested)
 *   cli_chat.c  the command chat: the INVITE dialog, the event loop, line
 *               editing with libedit (not linked into the unit tests)
 *
 * libcpm.a holds no src/cli objects, so tests/unit/cli/test_*.c
 * #include the .c files, cli_main.c with CPM_CLI_TEST defined, which
 * leaves out main().  All of them compile in one translation unit: keep
 * static names distinct across the files (and clear of cmocka's, e.g.
 * print_message), and use lib, sip and libc only. */
#ifndef CPM_CLI_H
#define CPM_CLI_H

#include "lib/lib.h"
#include "msrp/msrp.h"
#include "sdp/sdp.h"
#include "sip/sip.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#define CPM_CLI_VERSION "0.1"
#define CPM_CLI_UA "cpm/" CPM_CLI_VERSION
#define CPM_CLI_MAX_HDRS 16 /* --header occurrences */

/* ------------------------------------------------------------- arguments */

enum cpm_cli_transport { CPM_CLI_UDP = 0, CPM_CLI_TCP = 1 };

enum cpm_cli_cmd {
	CPM_CLI_CMD_NONE = 0,
	CPM_CLI_CMD_HELP,
	CPM_CLI_CMD_VERSION,
	CPM_CLI_CMD_REGISTER,
	CPM_CLI_CMD_SEND,
	CPM_CLI_CMD_LISTEN,
	CPM_CLI_CMD_OPTIONS,
	CPM_CLI_CMD_INBOX,
	CPM_CLI_CMD_FETCH,
	CPM_CLI_CMD_PRESENCE,
	CPM_CLI_CMD_WATCH,
	CPM_CLI_CMD_CHAT,
};

/* Everything the command line and the config file can say.  The *_set
 * flags record what the command line gave, so the config file only fills
 * the rest. */
struct cpm_cli_args {
	/* global */
	char server[256];
	bool server_set;
	enum cpm_cli_transport transport;
	bool transport_set;
	char user[256]; /* AOR without scheme: alice@example.test */
	bool user_set;
	char password[256];
	bool password_set;
	char password_file[512];
	char config[512];
	bool config_set;
	unsigned local_port;
	bool local_port_set;
	bool verbose;
	unsigned timeout_s;
	bool timeout_set;
	char http[512]; /* --http base URL, "" = http://SERVER-HOST:8080 */
	bool http_set;

	/* command */
	enum cpm_cli_cmd cmd;
	bool help; /* COMMAND --help */
	const char *help_topic;
	/* register / listen */
	unsigned expires;
	bool expires_set;
	bool unregister;
	/* listen */
	unsigned count;    /* 0: unlimited */
	unsigned duration; /* seconds, 0: unlimited */
	bool json;
	unsigned keepalive_s; /* TCP CRLF ping interval, 0: off */
	/* send */
	const char *content_type;
	const char *headers[CPM_CLI_MAX_HDRS];
	unsigned nheaders;
	bool report;       /* --report[=SECS]: ask for delivery reports */
	unsigned report_s; /* how long to wait for them */
	/* fetch */
	const char *output; /* -o FILE */
	/* chat */
	bool accept;             /* --accept: wait for an INVITE */
	bool print;              /* --print: no terminal, print what arrives */
	const char *chat_send;   /* --send TEXT: one message, then BYE */
	char relay[512];         /* --relay msrp://HOST:PORT;tcp (or config relay) */
	bool relay_set;
	const char *nick;        /* --nick NAME (rooms, RFC 7701) */
	unsigned chunk;          /* --chunk BYTES: outgoing chunk size */
	/* positional: send TO TEXT, options [URI], fetch ID|URL */
	const char *pos[3];
	unsigned npos;
};

/* Exit codes. */
#define CPM_CLI_EXIT_OK 0
#define CPM_CLI_EXIT_FAIL 1
#define CPM_CLI_EXIT_USAGE 2
/* send --report: accepted for later delivery (202), but no final report
 * came within the wait */
#define CPM_CLI_EXIT_PENDING 3
/* send --report: a report said the message was not delivered (failed,
 * forbidden, error) */
#define CPM_CLI_EXIT_UNDELIVERED 4

#define CPM_CLI_REPORT_WAIT 60 /* default seconds of --report */
#define CPM_CLI_HTTP_PORT 8080 /* default port of the HTTP base URL */

void cpm_cli_args_init(struct cpm_cli_args *a);
/* Parse argv (argv[0] skipped).  Global options are accepted before and
 * after the command.  Returns 0, or CPM_EINVAL with a message in err. */
int cpm_cli_args_parse(struct cpm_cli_args *a, int argc, char **argv,
		       char *err, size_t errsz);
/* Apply INI text (keys server, transport, user, password, local_port,
 * timeout, http;
 * '#' and ';' comments; [sections] ignored) to the fields the command line
 * did not set.  name is used in messages.  0 or CPM_EINVAL/CPM_EPARSE. */
int cpm_cli_config_parse(struct cpm_cli_args *a, const char *text, size_t len,
			 const char *name, char *err, size_t errsz);
/* Read --config (or ~/.config/cpm/config when it exists), then
 * --password-file.  0 or an error with the message in err. */
int cpm_cli_config_load(struct cpm_cli_args *a, char *err, size_t errsz);
/* Split "HOST[:PORT]", "[v6]:PORT", "v6", "sip:HOST:PORT" into host (IPv6
 * without brackets) and port (0 when absent). */
int cpm_cli_hostport_parse(const char *s, char *host, size_t hostsz,
			   uint16_t *port);
/* Normalise an address given by the user into a sip: URI: "bob" (with
 * default_domain), "bob@example.test", "sip:bob@x", "sips:", "tel:".
 * CPM_EADDR when it is not a valid address. */
int cpm_cli_target_uri(const char *in, const char *default_domain, char *out,
		       size_t outsz);
/* Validate a --header argument "Name: value"; *name_len gets the name's
 * length.  CPM_EINVAL when malformed or a header the UA owns. */
int cpm_cli_header_check(const char *h);

/* Check an msrp:// relay URI given by the user ("msrp://HOST:PORT;tcp"). */
int cpm_cli_relay_check(const char *uri);

/* Usage text for a command (CPM_CLI_CMD_NONE: the general one). */
void cpm_cli_usage(FILE *f, enum cpm_cli_cmd cmd);

/* ------------------------------------------------------------ digest auth */

/* One chosen challenge, copied out of the response. */
struct cpm_cli_challenge {
	bool proxy; /* 407 Proxy-Authenticate (else 401 WWW-Authenticate) */
	enum cpm_hash_alg alg;
	bool sess;       /* MD5-sess / SHA-256-sess */
	bool has_alg;    /* algorithm= was present (echo it back) */
	int qop;         /* 0: none (RFC 2069), 1: auth, 2: auth-int */
	bool stale;
	char realm[256];
	char nonce[256];
	char opaque[256];
	uint32_t nc;     /* last nonce count used with this nonce */
};

/* Inputs of one digest response computation. */
struct cpm_cli_digest {
	enum cpm_hash_alg alg;
	bool sess;
	int qop; /* 0, 1 auth, 2 auth-int */
	const char *username, *realm, *password;
	const char *method, *uri;
	const char *nonce, *cnonce;
	const char *nc; /* "00000001" */
	struct cpm_str body; /* auth-int only */
};

/* response = KD(HA1, nonce:nc:cnonce:qop:HA2) (RFC 7616 §3.4.1, RFC 3261
 * §22.4, RFC 2069 without qop).  out: lowercase hex. */
int cpm_cli_digest_response(const struct cpm_cli_digest *d,
			    char out[CPM_HASH_HEX_MAX]);
/* Choose the best challenge of a 401/407: SHA-256 before MD5, qop=auth
 * before auth-int before none; unknown algorithms and schemes skipped.
 * CPM_ENOTFOUND when there is none usable, CPM_EUNSUPP if only unsupported
 * ones were offered. */
int cpm_cli_challenge_choose(const struct cpm_sip_msg *resp,
			     struct cpm_cli_challenge *ch);
/* One challenge header value ("Digest realm=..., nonce=..."): if it is
 * usable and better than *best (start with -1), it goes to *ch and *best
 * gets its score.  Returns 1 taken, 0 usable but not better, CPM_EUNSUPP
 * unusable (another scheme, algorithm or qop).  Shared by SIP (401/407)
 * and HTTP (401, RFC 7616 §3.3). */
int cpm_cli_challenge_offer(struct cpm_str value, bool proxy,
			    struct cpm_cli_challenge *ch, int *best);
/* The retry rule of one request: a 401/407 offering ch answered it (with_auth:
 * it carried credentials).  Returns true when it should go again with
 * credentials for ch (copied to *cur, *have_ch set); false when the
 * credentials were refused for a fresh nonce (a wrong password), unless
 * that nonce went stale (RFC 7616 §3.3 stale=true), which is retried once.
 * Start each request with *st zeroed. */
struct cpm_cli_auth_retry {
	bool fresh;       /* the current challenge came from this request */
	bool stale_retry; /* the one stale retry was used */
};
bool cpm_cli_auth_retry(struct cpm_cli_auth_retry *st, bool with_auth,
			const struct cpm_cli_challenge *ch,
			struct cpm_cli_challenge *cur, bool *have_ch);
/* Append "Authorization: Digest ...\r\n" (or Proxy-Authorization) to b
 * for the next use of ch (increments ch->nc).  cnonce NULL: random. */
int cpm_cli_auth_header(struct cpm_buf *b, struct cpm_cli_challenge *ch,
			const char *username, const char *password,
			const char *method, const char *uri,
			struct cpm_str body, const char *cnonce);

/* ------------------------------------------------------ message formats */

/* A message whose Date is at least this many seconds old was stored by the
 * server and delivered later (RFC 3261 §20.17: the server keeps it). */
#define CPM_CLI_STORED_AGE 5

/* RFC 1123 / HTTP date "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 3261 §20.17,
 * RFC 9110 §5.6.7; the week day may be left out, "UT"/"UTC"/"+0000" are
 * taken for GMT) into seconds since the epoch.  CPM_EPARSE. */
int cpm_cli_date_parse(struct cpm_str s, int64_t *out);
/* "2026-11-30 03:01:02Z" (sep ' ') or "2026-11-30T03:01:02Z" (sep 'T'). */
void cpm_cli_date_format(int64_t t, char sep, char *out, size_t outsz);

/* Copy s into dst (dstsz > 0), cut at a UTF-8 character boundary when it
 * does not fit. */
void cpm_cli_copy_cut(struct cpm_str s, char *dst, size_t dstsz);
/* Append the UTF-8 encoding of code point cp (RFC 3629).  CPM_EPARSE for
 * NUL, surrogates and values above U+10FFFF; CPM_ETOOBIG when b is full. */
int cpm_cli_utf8_put(struct cpm_buf *b, unsigned long cp);

/* What an IMDN (RFC 5438 §7.2.1, message/imdn+xml) says. */
struct cpm_cli_imdn {
	char message_id[256];
	char datetime[64];
	char recipient[300];   /* recipient-uri, else original-recipient-uri */
	char notification[32]; /* "delivery", "processing", "display" */
	char status[32];       /* "delivered", "failed", "stored", ... */
};

/* Read an IMDN document: elements are matched by local name, whatever
 * namespace prefix they carry; entities, CDATA and comments are handled.
 * CPM_EPARSE when it is not well-formed enough, CPM_ENOTFOUND when it has
 * no message-id or no status. */
int cpm_cli_imdn_parse(struct cpm_str xml, struct cpm_cli_imdn *out);
/* delivered / displayed / processed / stored: not a failure. */
bool cpm_cli_imdn_positive(const struct cpm_cli_imdn *d);
/* A delivery notification is final; processing (stored) is not. */
bool cpm_cli_imdn_final(const struct cpm_cli_imdn *d);

/* message/cpim (RFC 3862) around body of type ctype, asking for the
 * dispositions (RFC 5438 §6.3, e.g. "positive-delivery, negative-delivery,
 * processing") under imdn.Message-ID message_id (NULL: no IMDN headers). */
int cpm_cli_cpim_build(struct cpm_buf *b, const char *from_uri,
		       const char *to_uri, const char *message_id,
		       const char *dispositions, const char *ctype,
		       struct cpm_str body, int64_t now);
/* The inner Content-Type and content of a message/cpim body. */
bool cpm_cli_cpim_unwrap(struct cpm_str body, struct cpm_str *ctype,
			 struct cpm_str *inner);

/* The notice of a message kept on the server for pick-up (RFC 4483 content
 * indirection: message/external-body; access-type="URL"; URL="..."). */
struct cpm_cli_notice {
	char url[1200];
	char content_type[128]; /* of the content, from the body's headers */
	int64_t size;           /* -1 when not given */
};

/* true and *n filled when ctype (a Content-Type value) is such a notice
 * with a URL; body is the notice's body (the content's headers). */
bool cpm_cli_notice_parse(struct cpm_str ctype, struct cpm_str body,
			  struct cpm_cli_notice *n);

/* --------------------------------------------------------------- the UA */

/* The stop flag set by SIGINT/SIGTERM (listen). */
extern volatile sig_atomic_t cpm_cli_stop;

struct cpm_cli_rx {
	char data[65536];
	size_t len;
	struct sockaddr_storage from;
	socklen_t fromlen;
	struct cpm_sip_msg msg;
};

/* A remembered server transaction (retransmitted requests get the same
 * answer and are not shown twice). */
struct cpm_cli_seen {
	char key[200];
	char *resp;
	size_t resp_len;
};

#define CPM_CLI_SEEN_MAX 32

struct cpm_cli_ua;
/* Called for each request that arrives (listen); it must answer with
 * cpm_cli_ua_respond. */
typedef void cpm_cli_request_cb(struct cpm_cli_ua *ua,
				const struct cpm_cli_rx *rx, void *arg);

struct cpm_cli_ua {
	enum cpm_cli_transport transport;
	int fd;
	bool verbose;
	unsigned timeout_ms;
	char server_host[256]; /* as given, for messages and URIs */
	uint16_t server_port;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	char peer_str[300];  /* "127.0.0.1:5060", "[::1]:5060" */
	char local_ip[64];   /* numeric, no brackets */
	uint16_t local_port;
	unsigned bind_port;  /* --local-port, 0: any */
	bool quiet;          /* no connect errors (repeated reconnects) */
	char local_hostport[80]; /* "127.0.0.1:5070", "[::1]:5070" */

	/* identity */
	char user[128];   /* user part of the AOR */
	char domain[256]; /* host part of the AOR */
	char aor_uri[400]; /* sip:alice@example.test */
	char auth_user[128];
	const char *password; /* may be NULL */

	/* per-command dialog-less state */
	char call_id[256];
	char from_tag[64];
	uint32_t cseq;
	struct cpm_cli_challenge ch; /* last challenge, reused on refresh */
	bool have_ch;
	bool sent_credentials; /* the last request carried credentials */

	struct cpm_buf stream; /* TCP receive buffer */
	struct cpm_cli_rx rx;
	struct cpm_sip_limits lim;

	cpm_cli_request_cb *on_request;
	void *on_request_arg;
	/* 1xx answers to an INVITE (may be NULL) */
	void (*on_provisional)(struct cpm_cli_ua *ua, const struct cpm_sip_msg *m,
			       void *arg);
	bool pass_ack; /* ACKs go to on_request too (a UAS that sent a 2xx) */
	/* polled while an INVITE waits: true cancels it (CANCEL, §9.1) */
	bool (*cancel)(void *arg);
	struct cpm_cli_seen seen[CPM_CLI_SEEN_MAX];
	unsigned seen_next;
};

/* An outgoing request; the UA adds Via, Max-Forwards, From, Call-ID, CSeq,
 * User-Agent, credentials and Content-Length. */
struct cpm_cli_req {
	enum cpm_sip_method method;
	const char *ruri;
	const char *to_uri;
	const char *extra;   /* further header lines, each ending in CRLF */
	const char *ctype;   /* NULL: no body */
	struct cpm_str body;
	const char *to_tag;  /* in a dialog: the remote tag (NULL: none) */
	const char *from_uri; /* NULL: the AoR */
	unsigned timeout_ms; /* 0: ua->timeout_ms (INVITE: longer) */
};

/* Resolve the server and open the socket (TCP: connect).  On failure a
 * message has been printed to stderr. */
int cpm_cli_ua_open(struct cpm_cli_ua *ua, const struct cpm_cli_args *a);
void cpm_cli_ua_close(struct cpm_cli_ua *ua);
/* Re-open after a TCP connection loss (same local port when possible). */
int cpm_cli_ua_reopen(struct cpm_cli_ua *ua);
/* Start a new Call-ID/From-tag (a new dialog-less request sequence). */
void cpm_cli_ua_new_call(struct cpm_cli_ua *ua);
/* Send req, retransmit over UDP, wait for the final response; answers
 * 401/407 once with credentials (twice when the nonce was stale).
 * Returns 0 with *resp pointing into ua->rx (valid until the next receive),
 * CPM_ETIMEDOUT, CPM_ECLOSED, CPM_EIO.  Incoming requests are handed to
 * on_request meanwhile. */
int cpm_cli_ua_request(struct cpm_cli_ua *ua, const struct cpm_cli_req *req,
		       const struct cpm_sip_msg **resp);
/* Wait up to timeout_ms for a message; requests go to on_request, stray
 * responses are dropped.  0 on timeout or when interrupted by a signal,
 * <0 on error (CPM_ECLOSED: the TCP connection was closed). */
int cpm_cli_ua_poll(struct cpm_cli_ua *ua, int timeout_ms);
/* Answer rx with status; extra header lines may be NULL. */
int cpm_cli_ua_respond(struct cpm_cli_ua *ua, const struct cpm_cli_rx *rx,
		       int status, const char *extra);
/* RFC 5626 §3.5.1 CRLFCRLF ping on a TCP connection. */
int cpm_cli_ua_keepalive(struct cpm_cli_ua *ua);
/* Send req once without waiting for an answer (ACK for a 2xx, RFC 3261
 * §13.2.2.4), with CSeq cseq and a fresh branch. */
int cpm_cli_ua_send(struct cpm_cli_ua *ua, const struct cpm_cli_req *req,
		    uint32_t cseq);
/* Answer rx with status, to_tag (NULL: a random one when rx's To has
 * none), extra header lines (may be NULL) and a body (ctype NULL: none). */
int cpm_cli_ua_respond_body(struct cpm_cli_ua *ua, const struct cpm_cli_rx *rx,
			    int status, const char *to_tag, const char *extra,
			    const char *ctype, struct cpm_str body);
/* Send the last response again (a 2xx to an INVITE until its ACK comes,
 * RFC 3261 §13.3.1.4) to to (the request's source). */
int cpm_cli_ua_resend_last(struct cpm_cli_ua *ua, const struct sockaddr_storage *to,
			   socklen_t tolen);
/* Print the standard error for a failed transaction: timeout, closed. */
void cpm_cli_ua_report(const struct cpm_cli_ua *ua, int err);

/* connect() fd (a fresh stream socket) to sa within timeout_ms.  0 or an
 * errno value (ETIMEDOUT on timeout). */
int cpm_cli_connect(int fd, const struct sockaddr *sa, socklen_t len,
		    unsigned timeout_ms);

/* ------------------------------------------------------------ HTTP client */

#define CPM_CLI_HTTP_MAX_HDRS 64
#define CPM_CLI_HTTP_MAX_HEAD (64u << 10)  /* status line + header fields */
#define CPM_CLI_HTTP_MAX_BODY (64u << 20)

/* http://HOST[:PORT][/PATH][?QUERY]; HOST may be [v6]. */
struct cpm_cli_url {
	char host[256]; /* IPv6 without brackets */
	uint16_t port;  /* 80 when absent */
	char target[2048]; /* origin-form request target, at least "/" */
};

/* CPM_EINVAL for a malformed URL, CPM_ESCHEME for another scheme
 * (https is not supported: cpm links no TLS library). */
int cpm_cli_url_parse(const char *s, struct cpm_cli_url *u);
/* "http://HOST:PORT" (IPv6 in brackets), without the target. */
void cpm_cli_url_origin(const struct cpm_cli_url *u, char *out, size_t outsz);

struct cpm_cli_http_hdr {
	struct cpm_str name, value;
};

/* A parsed response; slices point into the caller's data, except body,
 * which points into dechunked for a chunked response. */
struct cpm_cli_http_resp {
	int status;
	struct cpm_str reason;
	struct cpm_cli_http_hdr hdrs[CPM_CLI_HTTP_MAX_HDRS];
	unsigned nhdrs;
	struct cpm_str body;
	size_t used;           /* bytes of data this response took */
	struct cpm_buf dechunked;
};

void cpm_cli_http_resp_init(struct cpm_cli_http_resp *r);
void cpm_cli_http_resp_free(struct cpm_cli_http_resp *r);
/* Parse the response to a GET in data[0, len).  eof: the peer has closed
 * (ends a body without Content-Length).  Interim 1xx responses are
 * skipped.  Returns 1 complete, 0 more data needed, CPM_EPARSE,
 * CPM_ETOOBIG (head or body over the limits). */
int cpm_cli_http_resp_parse(const char *data, size_t len, bool eof,
			    struct cpm_cli_http_resp *r);
/* The value of the first header field called name, or CPM_STR_NULL. */
struct cpm_str cpm_cli_http_hdr_get(const struct cpm_cli_http_resp *r,
				    const char *name);
/* The best Digest challenge of a 401 (WWW-Authenticate fields, RFC 7616
 * §3.3): SHA-256 before MD5.  CPM_ENOTFOUND / CPM_EUNSUPP. */
int cpm_cli_http_challenge_choose(const struct cpm_cli_http_resp *r,
				  struct cpm_cli_challenge *ch);
/* The request bytes of a GET; auth: append digest credentials for ch
 * (username, password) with uri = the request target (RFC 7616 §3.4). */
int cpm_cli_http_request_build(struct cpm_buf *b, const struct cpm_cli_url *u,
			       struct cpm_cli_challenge *ch,
			       const char *username, const char *password,
			       const char *cnonce);

/* One client; requests are made one at a time, each on its own
 * connection (Connection: close). */
struct cpm_cli_http {
	unsigned timeout_ms; /* per request, connect to last byte */
	bool verbose;
	const char *username; /* digest username: the user part of the AoR */
	const char *password; /* NULL: no credentials */
	struct cpm_cli_challenge ch;
	bool have_ch;
	bool sent_credentials; /* the last request carried credentials */
	struct cpm_buf raw;    /* the bytes of the last response */
	struct cpm_cli_http_resp resp;
};

void cpm_cli_http_init(struct cpm_cli_http *h, const struct cpm_cli_args *a,
		       const char *username);
void cpm_cli_http_free(struct cpm_cli_http *h);
/* GET u, answering a 401 once with digest credentials (twice when the
 * nonce was stale).  0 with *resp (valid until the next request), else an
 * error, with a message on stderr: CPM_EADDR (resolution, connection),
 * CPM_ETIMEDOUT, CPM_ECLOSED (closed early), CPM_EPARSE, CPM_ETOOBIG. */
int cpm_cli_http_get(struct cpm_cli_http *h, const struct cpm_cli_url *u,
		     const struct cpm_cli_http_resp **resp);
/* The HTTP base URL: --http, the config file's http, else
 * http://SERVER-HOST:8080 with SERVER-HOST from --server or the domain of
 * --user.  0 or CPM_EINVAL with a message on stderr. */
int cpm_cli_http_base(const struct cpm_cli_args *a, struct cpm_cli_url *u);
/* Append s to out percent-encoded as one path segment (RFC 3986 §3.3:
 * unreserved, sub-delims, ':' and '@' stay). */
int cpm_cli_url_put_segment(struct cpm_buf *out, const char *s);

/* ------------------------------------------------------------- the inbox */

/* One waiting message of GET /api/v1/users/{aor}/messages. */
struct cpm_cli_inbox_msg {
	int64_t id;
	char from[300];
	char display[128];
	char date[40];
	char content_type[128];
	uint64_t size;
	char subject[256];
	bool deferred, pull;
	char url[1024];
};

struct cpm_cli_inbox {
	char aor[256];
	struct cpm_cli_inbox_msg *msgs;
	size_t n;
};

#define CPM_CLI_INBOX_MAX 100000 /* messages in one list */

/* Read {"aor":..., "messages":[{...}, ...]}: keys in any order, unknown
 * keys (of any JSON type) skipped, strings unescaped (\uXXXX and surrogate
 * pairs to UTF-8), over-long display text cut at a character boundary.
 * 0, or CPM_EPARSE, CPM_ELIMIT (more than CPM_CLI_INBOX_MAX messages,
 * nesting deeper than 64, a string over 4 MiB), with a message in err. */
int cpm_cli_inbox_parse(struct cpm_str json, struct cpm_cli_inbox *out,
			char *err, size_t errsz);
void cpm_cli_inbox_free(struct cpm_cli_inbox *in);
/* The table of cpm inbox. */
void cpm_cli_inbox_print(FILE *f, const struct cpm_cli_inbox *in);

/* ------------------------------------------------------------ MSRP chat */

#define CPM_CLI_MSRP_TIMEOUT_MS 30000      /* RFC 4975 §7.1.1 transaction timeout */
#define CPM_CLI_MSRP_MAX_MSG (64u << 20)   /* largest incoming message */
#define CPM_CLI_MSRP_SLOTS 8               /* messages being put together */
#define CPM_CLI_MSRP_PENDING 256           /* requests waiting for their answer */
#define CPM_CLI_ISCOMPOSING_REFRESH 60     /* s, RFC 3994 §3.2 refresh */
#define CPM_CLI_ISCOMPOSING_IDLE 15        /* s without typing: idle (§3.1) */

/* What a peer's SDP says about its MSRP media stream (the first
 * m=message ... TCP/MSRP section). */
struct cpm_cli_msrp_media {
	char path[1200];          /* a=path, first hop first */
	char accept_types[512];
	char accept_wrapped[512];
	enum cpm_sdp_setup setup;
	bool cema;
};

/* Read an SDP body: 0, or CPM_ENOTFOUND (no MSRP media, or its port is 0:
 * refused) / CPM_EPARSE with *why. */
int cpm_cli_sdp_read(struct cpm_str body, struct cpm_cli_msrp_media *out,
		     const char **why);
/* Write our SDP: c= ip, m=message PORT TCP/MSRP *, a=accept-types (and
 * a=accept-wrapped-types for rooms: RFC 7701 CPIM), a=path, a=setup. */
int cpm_cli_sdp_write(struct cpm_buf *b, const char *ip, uint16_t port,
		      const char *path, enum cpm_sdp_setup setup, bool cpim);
/* RFC 6135 / RFC 4975 §5.4: whether we open the TCP connection.  As the
 * offerer (we offered actpass) given the answer's setup; as the answerer
 * given the offer's, with *answer the value to put in our answer. */
bool cpm_cli_msrp_offerer_active(enum cpm_sdp_setup answer);
bool cpm_cli_msrp_answerer_active(enum cpm_sdp_setup offer, enum cpm_sdp_setup *answer);

/* Whether a peer's a=accept-types asks for message/cpim: it takes CPIM
 * and no plain text (text/plain, text/ *, *). */
bool cpm_cli_msrp_wants_cpim(const char *accept_types);

/* RFC 3994 isComposing documents (application/im-iscomposing+xml). */
int cpm_cli_iscomposing_build(struct cpm_buf *b, bool active, unsigned refresh);
/* 0 with *active, or CPM_EPARSE. */
int cpm_cli_iscomposing_parse(struct cpm_str body, bool *active);

/* The sender of a message/cpim body for display: the From header's
 * display name, else its address (user@host).  false if none. */
bool cpm_cli_cpim_sender(struct cpm_str body, char *out, size_t outsz);
/* The text of the first element with local name (any prefix) in an XML
 * body (a simple scan, no entities).  false if none. */
bool cpm_cli_xml_text(struct cpm_str body, const char *local, char *out, size_t sz);

/* Who is in a chat room, from conference event notifications (RFC 4575
 * application/conference-info+xml). */
#define CPM_CLI_CONF_MAX 128
struct cpm_cli_conf_user {
	char entity[300];  /* the user's URI */
	char display[128]; /* display-text, may be empty */
	bool present;
};
struct cpm_cli_conf {
	struct cpm_cli_conf_user u[CPM_CLI_CONF_MAX];
	unsigned n;
	bool have_full; /* a full state came */
};
/* Apply one conference-info document (state full: who is not listed has
 * left; partial: the users listed changed).  cb(arg, user, joined) for
 * each change: joined, or left.  0 or CPM_EPARSE. */
int cpm_cli_conf_apply(struct cpm_cli_conf *c, struct cpm_str xml,
		       void (*cb)(void *arg, const struct cpm_cli_conf_user *u, bool joined),
		       void *arg);

/* A message being put together from its chunks (RFC 4975 §7.1.1). */
struct cpm_cli_msrp_slot {
	bool used;
	char message_id[CPM_MSRP_IDENT_MAX + 1];
	char ctype[256];
	char from_path[1200];   /* for the Success-Report */
	bool success_report;
	struct cpm_buf data;
	uint64_t total;         /* 0: not known yet */
	uint64_t received;      /* bytes stored */
	bool last_seen;         /* the chunk with '$' came */
	uint64_t last_ms;
};

/* Store bytes at 1-based offset start of the slot (growing it, up to
 * CPM_CLI_MSRP_MAX_MSG).  0 or CPM_ETOOBIG. */
int cpm_cli_msrp_slot_put(struct cpm_cli_msrp_slot *s, uint64_t start,
			  struct cpm_str bytes);

/* Print the chunks of one message: each a SEND of at most chunk bytes of
 * body with its Byte-Range and '+' ('$' for the last); an empty body
 * gives one body-less SEND.  Each chunk's tid goes to tids (room for
 * ntids, at least the chunk count).  Returns the chunk count or an error. */
struct cpm_cli_msrp_out {
	struct cpm_str to_path, from_path, message_id, ctype, body;
	bool success_report;
	enum cpm_msrp_rep failure_report; /* ABSENT: default (yes) */
	size_t chunk;
};
int cpm_cli_msrp_chunks(struct cpm_buf *b, const struct cpm_cli_msrp_out *o,
			char (*tids)[CPM_MSRP_TID_LEN + 1], size_t ntids);

enum cpm_cli_msrp_kind {
	CPM_CLI_MSRP_K_SEND = 1,
	CPM_CLI_MSRP_K_NICKNAME,
	CPM_CLI_MSRP_K_AUTH, /* a refresh of the relay session */
};

struct cpm_cli_msrp_pending {
	bool used;
	enum cpm_cli_msrp_kind kind;
	char tid[CPM_MSRP_TID_LEN + 1];
	char message_id[CPM_MSRP_IDENT_MAX + 1];
	bool last; /* the last chunk of its message */
	uint64_t sent_ms;
};

struct cpm_cli_msrp;

/* What the session tells the chat. */
struct cpm_cli_msrp_cb {
	/* a whole message (chunks put together); from_path: its From-Path */
	void (*message)(struct cpm_cli_msrp *m, struct cpm_str ctype, struct cpm_str body,
			const char *message_id, void *arg);
	/* a message arrived interrupted ('#') */
	void (*aborted)(struct cpm_cli_msrp *m, const char *message_id, void *arg);
	/* the answer to a SEND chunk (code 0: timed out) */
	void (*response)(struct cpm_cli_msrp *m, const char *message_id, bool last,
			 int code, struct cpm_str comment, void *arg);
	/* a REPORT */
	void (*report)(struct cpm_cli_msrp *m, const char *message_id,
		       const struct cpm_msrp_status *st, const struct cpm_msrp_range *r,
		       void *arg);
	/* the answer to a NICKNAME (code 0: timed out) */
	void (*nickname)(struct cpm_cli_msrp *m, int code, struct cpm_str comment, void *arg);
	/* the MSRP connection went away (or could not be made) */
	void (*closed)(struct cpm_cli_msrp *m, const char *why, void *arg);
	void *arg;
};

/* The MSRP side of one chat session: our URI, the listening socket (when
 * no relay), the connection, framing with src/msrp (streaming), chunks,
 * pending transactions, messages being put together. */
struct cpm_cli_msrp {
	bool verbose;
	unsigned timeout_ms;     /* connect and AUTH */
	size_t chunk;
	char my_uri[300];        /* msrp://IP:PORT/SESSION;tcp */
	char use_path[1200];     /* the relay's Use-Path ("" without relay) */
	char my_path[1600];      /* our a=path: Use-Path, then my_uri */
	char peer_path[1200];    /* the peer's a=path */
	char to_path[2600];      /* To-Path of our requests: Use-Path, peer path */
	char local_ip[64];
	uint16_t local_port;
	int lfd;                 /* listening socket, -1 */
	int fd;                  /* the connection, -1 */
	bool active;             /* we connect (and bind with an empty SEND) */
	bool bound;              /* a SEND for our URI arrived, or we sent one */
	bool dead;
	struct cpm_buf in;
	struct cpm_buf out;
	size_t out_off;          /* bytes of out already written */
	struct cpm_msrp_parser p;
	/* the request being received (copied at its HEADERS event) */
	struct {
		bool is_request;
		enum cpm_msrp_method method;
		char tid[CPM_MSRP_IDENT_MAX + 1];
		int code;
		char comment[128];
		char message_id[CPM_MSRP_IDENT_MAX + 1];
		char from_path[1200];
		char to_path[1200];
		char ctype[256];
		struct cpm_msrp_range range;
		bool has_range;
		enum cpm_msrp_rep success_report, failure_report;
		struct cpm_msrp_status status;
		bool has_status;
		int answer;         /* our answer to this request (0: none) */
		int slot;           /* reassembly slot, -1 */
		/* AUTH answers */
		char use_path[1200];
		int64_t expires;
		struct cpm_cli_challenge ch;
		bool have_ch;
	} cur;
	struct cpm_cli_msrp_slot slots[CPM_CLI_MSRP_SLOTS];
	struct cpm_cli_msrp_pending pend[CPM_CLI_MSRP_PENDING];
	struct cpm_cli_msrp_cb cb;
	/* the relay session, refreshed at half its lifetime (RFC 4976 §5.1) */
	char relay_user[128];
	char relay_pass[256];
	struct cpm_cli_challenge relay_ch;
	int64_t relay_expires;   /* s granted */
	uint64_t relay_refresh_ms;
	bool relay_retried;      /* the refresh answered a 401 already */
	/* counters */
	uint64_t bytes_in, bytes_out;
};

void cpm_cli_msrp_init(struct cpm_cli_msrp *m, bool verbose, unsigned timeout_ms,
		       size_t chunk);
void cpm_cli_msrp_free(struct cpm_cli_msrp *m);
/* Listen on local_ip (port 0: any) and make my_uri; 0 or CPM_EIO. */
int cpm_cli_msrp_listen(struct cpm_cli_msrp *m, const char *local_ip);
/* Without listening (behind a relay): my_uri on local_ip, port 9. */
void cpm_cli_msrp_uri_make(struct cpm_cli_msrp *m, const char *local_ip, uint16_t port);
/* RFC 4976 §5: connect to the relay, AUTH, answer its 401 with Digest
 * credentials (user, password), keep the Use-Path.  Blocking, bounded by
 * timeout_ms.  0; CPM_EPERM (credentials refused: 401 again, 403),
 * CPM_EIO / CPM_ETIMEDOUT / CPM_EPARSE with a message in err. */
int cpm_cli_msrp_relay_auth(struct cpm_cli_msrp *m, const char *relay_uri,
			    const char *user, const char *password, char *err,
			    size_t errsz);
/* Our a=path (my_path) from use_path and my_uri. */
void cpm_cli_msrp_path_make(struct cpm_cli_msrp *m);
/* Start the session with the peer's a=path: active connects (without a
 * relay) to the first URI of peer_path and sends the empty SEND that binds
 * the connection (RFC 4975 §5.4).  0 or an error with a message in err. */
int cpm_cli_msrp_start(struct cpm_cli_msrp *m, const char *peer_path, bool active,
		       char *err, size_t errsz);
/* RFC 7701 §7.1: ask a chat room for a nickname (NICKNAME with
 * Use-Nickname); the answer comes to cb.nickname. */
int cpm_cli_msrp_nickname(struct cpm_cli_msrp *m, const char *nick);
/* Queue a message (in chunks).  message_id gets its Message-ID. */
int cpm_cli_msrp_send(struct cpm_cli_msrp *m, const char *ctype, struct cpm_str body,
		      bool success_report, enum cpm_msrp_rep failure_report,
		      char message_id[CPM_MSRP_MSGID_LEN + 1]);
/* The descriptors to poll (up to 2): fills p, returns how many. */
int cpm_cli_msrp_pollfds(struct cpm_cli_msrp *m, struct pollfd *p);
/* After poll: accept, read (callbacks), write, time out transactions. */
void cpm_cli_msrp_service(struct cpm_cli_msrp *m, const struct pollfd *p, int n);
/* Bytes queued and not yet written. */
size_t cpm_cli_msrp_queued(const struct cpm_cli_msrp *m);
/* Requests waiting for an answer. */
unsigned cpm_cli_msrp_pending_count(const struct cpm_cli_msrp *m);
/* Feed received bytes (what service does after a read; used by tests). */
int cpm_cli_msrp_feed(struct cpm_cli_msrp *m, const char *data, size_t len);

/* ---------------------------------------------------------------- commands */

/* A registration of the local socket (cli_cmd.c). */
struct cpm_cli_reg {
	char contact[400]; /* sip:alice@127.0.0.1:5070[;transport=tcp] */
	unsigned granted;
};

/* The dialog-less request sequence of the registration, kept aside while
 * a MESSAGE or an INVITE uses its own Call-ID (RFC 3261 §10.2: refreshes
 * and the removal keep the REGISTER's Call-ID and increase its CSeq). */
struct cpm_cli_call {
	char call_id[256];
	char from_tag[64];
	uint32_t cseq;
	struct cpm_cli_challenge ch;
	bool have_ch;
};

void cpm_cli_call_save(const struct cpm_cli_ua *ua, struct cpm_cli_call *c);
void cpm_cli_call_restore(struct cpm_cli_ua *ua, const struct cpm_cli_call *c);
/* SIGINT/SIGTERM set cpm_cli_stop (a second one kills); SIGPIPE ignored. */
void cpm_cli_signals_install(void);
/* false, with a message, when --user is missing. */
bool cpm_cli_need_user(const struct cpm_cli_args *a, const char *cmd);
/* Report a non-2xx final answer on stderr; what: "registration", NULL:
 * "failed: ..." on stdout.  Returns the exit code. */
int cpm_cli_report_failure(const struct cpm_cli_ua *ua, const struct cpm_sip_msg *m,
			   const char *what);
void cpm_cli_contact_init(const struct cpm_cli_ua *ua, struct cpm_cli_reg *r);
/* Register (or refresh).  0 ok, 1 failure answer, <0 transport error;
 * errors printed.  what: said on stderr after the first registration. */
int cpm_cli_contact_register(struct cpm_cli_ua *ua, struct cpm_cli_reg *r,
			     unsigned expires, bool first, const char *what);
void cpm_cli_contact_unregister(struct cpm_cli_ua *ua, struct cpm_cli_reg *r,
				bool connected, bool say);

int cpm_cli_cmd_register(const struct cpm_cli_args *a);
int cpm_cli_cmd_send(const struct cpm_cli_args *a);
int cpm_cli_cmd_listen(const struct cpm_cli_args *a);
/* cpm presence [set] STATUS [NOTE]: PUBLISH (RFC 3903) a PIDF document
 * (RFC 3863) with the RPID activity (RFC 4480) STATUS stands for. */
int cpm_cli_cmd_presence(const struct cpm_cli_args *a);
/* The PIDF body for entity, status (open, closed, away, busy, on-the-phone,
 * meeting, dnd) and note (may be NULL); CPM_EINVAL for an unknown status. */
int cpm_cli_pidf(struct cpm_buf *b, const char *entity, const char *status, const char *note);
/* cpm watch AOR: SUBSCRIBE to AOR's presence (RFC 3856) and print each
 * NOTIFY's state until --count, --duration or ^C. */
int cpm_cli_cmd_watch(const struct cpm_cli_args *a);
/* One line for a PIDF body: "open", "closed", activities, note. */
void cpm_cli_pidf_summary(struct cpm_str body, char *out, size_t sz);
int cpm_cli_cmd_options(const struct cpm_cli_args *a);
int cpm_cli_cmd_inbox(const struct cpm_cli_args *a);
int cpm_cli_cmd_fetch(const struct cpm_cli_args *a);
/* cpm chat USER|ROOM / cpm chat --accept (cli_chat.c). */
int cpm_cli_cmd_chat(const struct cpm_cli_args *a);

#endif
