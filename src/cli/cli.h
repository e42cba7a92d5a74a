/* cli — cpm, the command-line SIP client.
 *
 * Files:
 *   cli_main.c  argument and config parsing (pure, unit-tested), main()
 *   cli_auth.c  digest authentication (pure, unit-tested)
 *   cli_ua.c    sockets, request building, transactions, retransmission
 *   cli_cmd.c   the commands: register, send, listen, options
 *
 * libcpm.a holds no src/cli objects, so tests/unit/cli/test_cli.c
 * #includes the four .c files, cli_main.c with CPM_CLI_TEST defined, which
 * leaves out main().  All of them compile in one translation unit: keep
 * static names distinct across the files (and clear of cmocka's, e.g.
 * print_message), and use lib, sip and libc only. */
#ifndef CPM_CLI_H
#define CPM_CLI_H

#include "lib/lib.h"
#include "sip/sip.h"

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
	/* positional: send TO TEXT, options [URI] */
	const char *pos[2];
	unsigned npos;
};

/* Exit codes. */
#define CPM_CLI_EXIT_OK 0
#define CPM_CLI_EXIT_FAIL 1
#define CPM_CLI_EXIT_USAGE 2

void cpm_cli_args_init(struct cpm_cli_args *a);
/* Parse argv (argv[0] skipped).  Global options are accepted before and
 * after the command.  Returns 0, or CPM_EINVAL with a message in err. */
int cpm_cli_args_parse(struct cpm_cli_args *a, int argc, char **argv,
		       char *err, size_t errsz);
/* Apply INI text (keys server, transport, user, password, local_port;
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
/* Append "Authorization: Digest ...\r\n" (or Proxy-Authorization) to b
 * for the next use of ch (increments ch->nc).  cnonce NULL: random. */
int cpm_cli_auth_header(struct cpm_buf *b, struct cpm_cli_challenge *ch,
			const char *username, const char *password,
			const char *method, const char *uri,
			struct cpm_str body, const char *cnonce);

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
	char call_id[64];
	char from_tag[32];
	uint32_t cseq;
	struct cpm_cli_challenge ch; /* last challenge, reused on refresh */
	bool have_ch;
	bool sent_credentials; /* the last request carried credentials */

	struct cpm_buf stream; /* TCP receive buffer */
	struct cpm_cli_rx rx;
	struct cpm_sip_limits lim;

	cpm_cli_request_cb *on_request;
	void *on_request_arg;
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
/* Print the standard error for a failed transaction: timeout, closed. */
void cpm_cli_ua_report(const struct cpm_cli_ua *ua, int err);

/* ---------------------------------------------------------------- commands */

int cpm_cli_cmd_register(const struct cpm_cli_args *a);
int cpm_cli_cmd_send(const struct cpm_cli_args *a);
int cpm_cli_cmd_listen(const struct cpm_cli_args *a);
int cpm_cli_cmd_options(const struct cpm_cli_args *a);

#endif
