/* msrp — RFC 4975 (and RFC 4976 relay extensions) parser and printer.
 *
 * Pure: depends on lib only, no I/O, no globals, no logging.  Zero-copy:
 * parsed values are cpm_str slices into the caller's bytes.
 *
 * The parser is incremental, for a TCP stream: the caller keeps the bytes
 * received and not yet dropped in a buffer (a struct cpm_buf, say), calls
 * cpm_msrp_parse after each read, and drops ev.used bytes from the front
 * after each event.  It gets "headers ready", then the body in pieces as
 * they arrive (streaming mode: only the header section and a tail of at
 * most 43 bytes are ever buffered), then "end" with the continuation flag.
 * The end of a body is found by scanning for CRLF "-------" transaction-id
 * (RFC 4975 §7.1: a body never contains its end-line), also when that
 * line is split across reads. */
#ifndef CPM_MSRP_H
#define CPM_MSRP_H

#include "lib/lib.h"

#define CPM_MSRP_IDENT_MAX 32      /* ident = ALPHANUM 3*31ident-char */
#define CPM_MSRP_DEFAULT_PORT 2855 /* RFC 4975 §6.2 */

/* ------------------------------------------------------------------- URIs */

/* MSRP-URI = msrp-scheme "://" authority ["/" session-id] ";" transport
 *            *(";" URI-parameter)                     (RFC 4975 §6, §9) */
struct cpm_msrp_uri {
	struct cpm_str whole;
	bool secure;               /* msrps */
	struct cpm_str userinfo;   /* before '@', without it; usually empty */
	struct cpm_str host;       /* IPv6 references keep their brackets */
	uint16_t port;
	bool has_port;
	struct cpm_str session_id; /* empty when absent */
	struct cpm_str transport;  /* "tcp" */
	struct cpm_str params;     /* after the transport, from its ';'; may be empty */
};

/* Parse one URI (the whole of s).  Returns 0 or CPM_EPARSE. */
int cpm_msrp_uri_parse(struct cpm_str s, struct cpm_msrp_uri *u);
/* RFC 4975 §6.1 equality: scheme and transport case-insensitive; the
 * host case-insensitive after percent-decoding, IPv6 literals by address;
 * the port must match exactly and an explicit port never equals an
 * absent one; session-id case-sensitive; userinfo and other parameters
 * ignored. */
bool cpm_msrp_uri_eq(const struct cpm_msrp_uri *a, const struct cpm_msrp_uri *b);
/* Iterate the URIs of a To-Path, From-Path, Use-Path or a=path value
 * (separated by SP): 1 and the URI, 0 at the end, CPM_EPARSE. */
int cpm_msrp_path_next(struct cpm_str *cursor, struct cpm_msrp_uri *u);
/* The first URI of a path as text (empty if none). */
struct cpm_str cpm_msrp_path_first(struct cpm_str path);

/* ---------------------------------------------------------------- headers */

enum cpm_msrp_method {
	CPM_MSRP_OTHER = 0, /* other-method = 1*UPALPHA */
	CPM_MSRP_SEND,
	CPM_MSRP_REPORT,
	CPM_MSRP_AUTH,      /* RFC 4976 */
};

enum cpm_msrp_hdr_id {
	CPM_MSRP_H_OTHER = 0,
	CPM_MSRP_H_TO_PATH,
	CPM_MSRP_H_FROM_PATH,
	CPM_MSRP_H_MESSAGE_ID,
	CPM_MSRP_H_BYTE_RANGE,
	CPM_MSRP_H_STATUS,
	CPM_MSRP_H_CONTENT_TYPE,
	CPM_MSRP_H_SUCCESS_REPORT,
	CPM_MSRP_H_FAILURE_REPORT,
	CPM_MSRP_H_USE_PATH,
	CPM_MSRP_H_WWW_AUTHENTICATE,
	CPM_MSRP_H_AUTHORIZATION,
	CPM_MSRP_H_AUTHENTICATION_INFO,
	CPM_MSRP_H_EXPIRES,
	CPM_MSRP_H_MIN_EXPIRES,
	CPM_MSRP_H_MAX_EXPIRES,
	CPM_MSRP_H_CONTENT_ID,
	CPM_MSRP_H_CONTENT_DESCRIPTION,
	CPM_MSRP_H_CONTENT_DISPOSITION,
	CPM_MSRP_H__COUNT
};

/* "To-Path" ...; "" for CPM_MSRP_H_OTHER. */
const char *cpm_msrp_hdr_name(enum cpm_msrp_hdr_id id);
/* Case-insensitive. */
enum cpm_msrp_hdr_id cpm_msrp_hdr_id_parse(struct cpm_str name);

/* Byte-Range = range-start "-" range-end "/" total, with "*" allowed for
 * range-end and total (RFC 4975 §7.1.1, §9). */
struct cpm_msrp_range {
	uint64_t start; /* 1-based */
	uint64_t end;   /* inclusive; start - 1 for an empty chunk */
	uint64_t total;
	bool end_star;
	bool total_star;
};

int cpm_msrp_range_parse(struct cpm_str v, struct cpm_msrp_range *r);

/* Success-Report / Failure-Report values. */
enum cpm_msrp_rep {
	CPM_MSRP_REP_ABSENT = 0,
	CPM_MSRP_REP_YES,
	CPM_MSRP_REP_NO,
	CPM_MSRP_REP_PARTIAL, /* Failure-Report only */
};

/* Status = namespace SP status-code [SP text-reason] (§7.1.2), e.g.
 * "000 200 OK". */
struct cpm_msrp_status {
	unsigned ns;    /* 000 for RFC 4975 codes */
	int code;
	struct cpm_str reason;
};

int cpm_msrp_status_parse(struct cpm_str v, struct cpm_msrp_status *st);

/* Digest challenges and credentials (RFC 4976 §5, the HTTP digest syntax
 * of RFC 2617): WWW-Authenticate, Authorization, and Authentication-Info
 * (which has no scheme).  Values are unquoted slices. */
struct cpm_msrp_auth {
	struct cpm_str scheme; /* "Digest"; empty for Authentication-Info */
	struct cpm_str username, realm, nonce, uri, response, algorithm;
	struct cpm_str cnonce, opaque, qop, nc, nextnonce, rspauth;
	bool stale;
};

/* Returns 0 or CPM_EPARSE.  Unknown parameters are skipped. */
int cpm_msrp_auth_parse(struct cpm_str value, struct cpm_msrp_auth *a);
/* Iterate the "name=value" parameters after the scheme: 1 with name and
 * value (quotes removed), 0 at the end, CPM_EPARSE. */
int cpm_msrp_auth_param_next(struct cpm_str *cursor, struct cpm_str *name,
			     struct cpm_str *value);

/* ident = ALPHANUM 3*31(ALPHANUM / "." / "-" / "+" / "%" / "="): the
 * syntax of transaction ids and Message-IDs. */
bool cpm_msrp_ident_valid(struct cpm_str s);

/* ---------------------------------------------------------------- messages */

#define CPM_MSRP_HDRS_CAP 64 /* hard ceiling of cpm_msrp_limits.max_hdrs */

struct cpm_msrp_hdr {
	enum cpm_msrp_hdr_id id;
	struct cpm_str name;
	struct cpm_str value; /* trimmed */
};

struct cpm_msrp_msg {
	bool is_request;
	struct cpm_str tid;
	/* request */
	enum cpm_msrp_method method;
	struct cpm_str method_s;
	/* response */
	int code;
	struct cpm_str comment;

	unsigned nhdrs; /* header fields in wire order */
	struct cpm_msrp_hdr hdrs[CPM_MSRP_HDRS_CAP];

	/* parsed eagerly (slices: empty when absent) */
	struct cpm_str to_path, from_path, use_path;
	struct cpm_str message_id;
	struct cpm_str content_type; /* whole value, "text/plain; charset=x" */
	bool has_range;
	struct cpm_msrp_range range;
	bool has_status;
	struct cpm_msrp_status status;
	enum cpm_msrp_rep success_report, failure_report;
	int64_t expires, min_expires, max_expires; /* -1 when absent */
	bool has_body; /* the header section ended with an empty line */

	/* A bad header value does not break the framing: the message is
	 * still delivered, with the first problem here.  err_status is what
	 * to answer a request (400); 0 for a response, which is dropped. */
	int err;
	int err_status;
	const char *err_reason;
};

/* The first header with id, or NULL. */
const struct cpm_msrp_hdr *cpm_msrp_msg_hdr(const struct cpm_msrp_msg *m,
					    enum cpm_msrp_hdr_id id);

/* ----------------------------------------------------- incremental parser */

struct cpm_msrp_limits {
	size_t max_head;   /* start line + header fields + the empty line
			    * (default 16384) */
	unsigned max_hdrs; /* header fields (default 32, <= CPM_MSRP_HDRS_CAP) */
	size_t max_chunk;  /* body of one chunk in CPM_MSRP_WHOLE mode
			    * (default 1 MiB); no limit when streaming */
};

void cpm_msrp_limits_default(struct cpm_msrp_limits *lim);

enum cpm_msrp_mode {
	/* The body is handed out in pieces as it arrives; the caller drops
	 * the header section at the HEADERS event and each piece at its
	 * BODY event. */
	CPM_MSRP_STREAM = 0,
	/* Nothing is dropped before END: HEADERS (used 0), one BODY with the
	 * whole body (used 0; none for an empty body), END (used = the whole
	 * message), so every slice stays valid until END.  The body is
	 * bounded by max_chunk. */
	CPM_MSRP_WHOLE = 1,
};

enum cpm_msrp_ev {
	CPM_MSRP_EV_NONE = 0, /* more bytes needed */
	CPM_MSRP_EV_HEADERS,  /* p->msg is ready */
	CPM_MSRP_EV_BODY,     /* data: a piece of the body */
	CPM_MSRP_EV_END,      /* flag: '$' complete, '+' more chunks, '#' aborted */
};

struct cpm_msrp_event {
	enum cpm_msrp_ev type;
	size_t used;         /* bytes to drop from the front before the next call */
	struct cpm_str data; /* BODY */
	char flag;           /* END */
};

struct cpm_msrp_parser {
	/* public, read-only: the current message; its slices point into
	 * the caller's buffer and die with the bytes they point to (in
	 * streaming mode: at the drop after the HEADERS event) */
	struct cpm_msrp_msg msg;
	uint64_t body_len;   /* body bytes of this message handed out so far */
	const char *err_reason; /* set with a negative return */

	/* private */
	struct cpm_msrp_limits lim;
	enum cpm_msrp_mode mode;
	int state;
	int err;
	size_t scan;         /* next offset to examine */
	size_t bs;           /* offset of the body start (WHOLE) */
	size_t el;           /* offset of the body-less end-line */
	size_t keep;         /* bytes the caller holds after the last drop */
	unsigned nlines;
	size_t patlen;
	char pat[9 + CPM_MSRP_IDENT_MAX]; /* CRLF "-------" transaction-id */
};

/* lim NULL for the defaults. */
void cpm_msrp_parser_init(struct cpm_msrp_parser *p, const struct cpm_msrp_limits *lim,
			  enum cpm_msrp_mode mode);
/* Look at buf[0, len): the bytes received and not yet dropped (the same
 * bytes as the last call after dropping the last event's used bytes, plus
 * new ones; the buffer may move).  Returns the event type (>= 0) with *ev
 * filled, or a negative error, after which the connection must be closed
 * (the parser then keeps returning it; p->err_reason says why):
 * CPM_EPARSE (not MSRP, bad start line or transaction id, bare LF, bad
 * end-line), CPM_ELIMIT (max_head, max_hdrs, max_chunk), CPM_EINVAL
 * (fewer bytes than the caller must still hold).  After END the parser
 * is ready for the next message. */
int cpm_msrp_parse(struct cpm_msrp_parser *p, const char *buf, size_t len,
		   struct cpm_msrp_event *ev);

/* Parse the one message at the start of buf (WHOLE mode).  Returns 1 with
 * *m, *body, *flag and *used (its length) set, 0 when buf holds only a
 * part of it, or a negative error as cpm_msrp_parse (*why, may be NULL,
 * says why). */
int cpm_msrp_msg_parse(const char *buf, size_t len, const struct cpm_msrp_limits *lim,
		       struct cpm_msrp_msg *m, struct cpm_str *body, char *flag,
		       size_t *used, const char **why);

/* ---------------------------------------------------------------- printing */

/* A comment for a status code ("OK", "Bad Request", ...; RFC 4975 §10,
 * RFC 4976 §5); "" for unknown codes. */
const char *cpm_msrp_comment(int code);

/* Fresh random ids (lib's cpm_rand_hex): hex digits, so valid idents. */
#define CPM_MSRP_TID_LEN 16
#define CPM_MSRP_MSGID_LEN 32
int cpm_msrp_tid_new(char out[CPM_MSRP_TID_LEN + 1]);
int cpm_msrp_msgid_new(char out[CPM_MSRP_MSGID_LEN + 1]);

/* true if body contains the end-line "-------" tid followed by a flag
 * character, which a sender must avoid (§7.1) by picking another tid. */
bool cpm_msrp_body_has_endline(struct cpm_str body, struct cpm_str tid);

/* The printers below return 0, CPM_ETOOBIG (b is full) or CPM_EINVAL (a
 * bad tid or method, a value with CR, LF or NUL, an empty path, a body
 * holding its end-line); on error b holds a partial message. */

/* "MSRP <tid> <method>", To-Path, From-Path. */
int cpm_msrp_print_req_start(struct cpm_buf *b, struct cpm_str tid, const char *method,
			     struct cpm_str to_path, struct cpm_str from_path);
/* "MSRP <tid> <code> <comment>" (comment NULL: the default) and the paths
 * of a response to a request with those paths (§7.2): To-Path = the first
 * URI of the request's From-Path (the previous hop), From-Path = the
 * first URI of its To-Path (us).  Responses are hop by hop. */
int cpm_msrp_print_resp_start(struct cpm_buf *b, struct cpm_str tid, int code,
			      const char *comment, struct cpm_str req_to_path,
			      struct cpm_str req_from_path);
/* "<name>: <value>" */
int cpm_msrp_print_hdr(struct cpm_buf *b, const char *name, struct cpm_str value);
int cpm_msrp_print_range(struct cpm_buf *b, const struct cpm_msrp_range *r);
/* "Content-Type: <ctype>" and the empty line: the body follows. */
int cpm_msrp_print_body_start(struct cpm_buf *b, struct cpm_str ctype);
/* The end-line, after the CRLF that closes a body when after_body. */
int cpm_msrp_print_end_line(struct cpm_buf *b, struct cpm_str tid, char flag,
			    bool after_body);
/* Body (if ctype is not empty; then body may be empty) and end-line. */
int cpm_msrp_print_end(struct cpm_buf *b, struct cpm_str tid, struct cpm_str ctype,
		       struct cpm_str body, char flag);

/* A SEND chunk (§7.1.1). */
struct cpm_msrp_send {
	struct cpm_str tid, to_path, from_path, message_id;
	bool has_range;
	struct cpm_msrp_range range;
	enum cpm_msrp_rep success_report, failure_report; /* ABSENT: omitted */
	struct cpm_str content_type; /* empty with an empty body: no body */
	struct cpm_str body;
	char flag;                   /* '$', '+' or '#' */
};

int cpm_msrp_print_send(struct cpm_buf *b, const struct cpm_msrp_send *s);

/* A REPORT (§7.1.2): to_path is the From-Path of the SEND it reports on. */
struct cpm_msrp_report {
	struct cpm_str tid, to_path, from_path, message_id;
	struct cpm_msrp_range range;
	struct cpm_msrp_status status;
};

int cpm_msrp_print_report(struct cpm_buf *b, const struct cpm_msrp_report *r);

/* An AUTH to a relay (RFC 4976 §5.1). */
struct cpm_msrp_auth_req {
	struct cpm_str tid, to_path, from_path;
	struct cpm_str authorization; /* empty: the first AUTH, no credentials */
	int64_t expires;              /* -1: no Expires */
};

int cpm_msrp_print_auth(struct cpm_buf *b, const struct cpm_msrp_auth_req *a);

/* A whole response without extra headers to req. */
int cpm_msrp_print_response(struct cpm_buf *b, const struct cpm_msrp_msg *req,
			    int code, const char *comment);

#endif
