/* sip — RFC 3261 message parser and printer.
 *
 * Pure: depends on lib only, no I/O, no globals, no logging, so unit tests
 * and fuzzers link it alone.  Zero-copy: every cpm_str points into the
 * caller's buffer, which must outlive the parsed structures.  Only what every
 * message needs is parsed eagerly (first line, header boundaries, Via[0],
 * From, To, Call-ID, CSeq, Max-Forwards, Content-Length); everything else is
 * parsed on demand with the helpers below. */
#ifndef CPM_SIP_H
#define CPM_SIP_H

#include "lib/lib.h"

/* ----------------------------------------------------------------- methods */

enum cpm_sip_method {
	CPM_SIP_OTHER = 0,
	CPM_SIP_INVITE,
	CPM_SIP_ACK,
	CPM_SIP_BYE,
	CPM_SIP_CANCEL,
	CPM_SIP_REGISTER,
	CPM_SIP_OPTIONS,
	CPM_SIP_MESSAGE,
	CPM_SIP_SUBSCRIBE,
	CPM_SIP_NOTIFY,
	CPM_SIP_PUBLISH,
	CPM_SIP_REFER,
	CPM_SIP_INFO,
	CPM_SIP_UPDATE,
	CPM_SIP_PRACK,
};

/* Case-sensitive (RFC 3261 §7.1); unknown tokens give CPM_SIP_OTHER. */
enum cpm_sip_method cpm_sip_method_parse(struct cpm_str s);
const char *cpm_sip_method_name(enum cpm_sip_method m);

/* ----------------------------------------------------------------- headers */

enum cpm_sip_hdr_id {
	CPM_SIP_H_OTHER = 0,
	CPM_SIP_H_VIA,
	CPM_SIP_H_FROM,
	CPM_SIP_H_TO,
	CPM_SIP_H_CALL_ID,
	CPM_SIP_H_CSEQ,
	CPM_SIP_H_CONTACT,
	CPM_SIP_H_MAX_FORWARDS,
	CPM_SIP_H_ROUTE,
	CPM_SIP_H_RECORD_ROUTE,
	CPM_SIP_H_CONTENT_LENGTH,
	CPM_SIP_H_CONTENT_TYPE,
	CPM_SIP_H_CONTENT_DISPOSITION,
	CPM_SIP_H_CONTENT_ENCODING,
	CPM_SIP_H_EXPIRES,
	CPM_SIP_H_MIN_EXPIRES,
	CPM_SIP_H_AUTHORIZATION,
	CPM_SIP_H_PROXY_AUTHORIZATION,
	CPM_SIP_H_WWW_AUTHENTICATE,
	CPM_SIP_H_PROXY_AUTHENTICATE,
	CPM_SIP_H_AUTHENTICATION_INFO,
	CPM_SIP_H_PATH,
	CPM_SIP_H_SUPPORTED,
	CPM_SIP_H_REQUIRE,
	CPM_SIP_H_PROXY_REQUIRE,
	CPM_SIP_H_UNSUPPORTED,
	CPM_SIP_H_ALLOW,
	CPM_SIP_H_ACCEPT,
	CPM_SIP_H_EVENT,
	CPM_SIP_H_ALLOW_EVENTS,
	CPM_SIP_H_SUBSCRIPTION_STATE,
	CPM_SIP_H_DATE,
	CPM_SIP_H_USER_AGENT,
	CPM_SIP_H_SERVER,
	CPM_SIP_H_REQUEST_DISPOSITION,
	CPM_SIP_H_ACCEPT_CONTACT,
	CPM_SIP_H_REFER_TO,
	CPM_SIP_H_REFERRED_BY,
	CPM_SIP_H_RETRY_AFTER,
	CPM_SIP_H_SUBJECT,
	CPM_SIP_H_SIP_ETAG,
	CPM_SIP_H_SIP_IF_MATCH,
	CPM_SIP_H_SERVICE_ROUTE,
	CPM_SIP_H_REASON,
	CPM_SIP_H_MIME_VERSION,
	CPM_SIP_H_TIMESTAMP,
	CPM_SIP_H__COUNT
};

/* Canonical long name ("Call-ID"); "" for CPM_SIP_H_OTHER. */
const char *cpm_sip_hdr_name(enum cpm_sip_hdr_id id);
/* Long and compact forms (RFC 3261 §7.3.3 and later RFCs), case-insensitive. */
enum cpm_sip_hdr_id cpm_sip_hdr_id_parse(struct cpm_str name);

struct cpm_sip_hdr {
	enum cpm_sip_hdr_id id;
	struct cpm_str name;  /* as on the wire, e.g. "v" or "Via" */
	struct cpm_str value; /* trimmed; folded lines stay inside it */
	struct cpm_str raw;   /* the whole field including its final CRLF */
	int next;             /* index of the next header with the same id, or -1 */
};

/* ------------------------------------------------------------------ limits */

#define CPM_SIP_HDRS_CAP 128 /* hard ceiling for cpm_sip_limits.max_hdrs */

struct cpm_sip_limits {
	size_t max_msg;    /* whole message, bytes (default 65535) */
	unsigned max_hdrs; /* header fields (default 100, <= CPM_SIP_HDRS_CAP) */
	size_t max_line;   /* one header field incl. folding (default 8192) */
};

void cpm_sip_limits_default(struct cpm_sip_limits *lim);

/* ---------------------------------------------------------------- elements */

enum cpm_sip_scheme {
	CPM_SIP_SCHEME_OTHER = 0,
	CPM_SIP_SCHEME_SIP,
	CPM_SIP_SCHEME_SIPS,
	CPM_SIP_SCHEME_TEL,
};

struct cpm_sip_uri {
	enum cpm_sip_scheme scheme;
	struct cpm_str whole;    /* the URI text */
	struct cpm_str scheme_s; /* "sip" */
	struct cpm_str user;     /* escaped, as on the wire; tel: the number */
	struct cpm_str password;
	struct cpm_str host;     /* IPv6 references keep their brackets */
	uint16_t port;           /* 0 when absent */
	bool has_port;
	bool host_is_ipv6;
	struct cpm_str params;   /* from the first ';' after hostport up to '?'
				  * or end, the ';' included; may be empty */
	struct cpm_str headers;  /* after '?', without it */
	/* commonly used uri-parameters, already extracted */
	struct cpm_str transport;
	struct cpm_str maddr;
	struct cpm_str user_param;
	bool lr;
};

/* sip:, sips: (RFC 3261 §19.1) and tel: (RFC 3966).  Other absolute URIs
 * give CPM_ESCHEME with whole and scheme_s set; garbage gives CPM_EPARSE. */
int cpm_sip_uri_parse(struct cpm_str s, struct cpm_sip_uri *u);
/* Canonical address-of-record "user@host" (or "host" with no user) into out:
 * user with %-escapes of unreserved characters decoded and the remaining
 * escapes upper-cased (so %00 stays "%00", never truncates), host lowercased,
 * no port, no parameters.  Returns the length or a negative error. */
int cpm_sip_uri_aor(const struct cpm_sip_uri *u, char *out, size_t outsz);
/* RFC 3261 §19.1.4 URI equality (sip/sips). */
bool cpm_sip_uri_eq(const struct cpm_sip_uri *a, const struct cpm_sip_uri *b);

/* Find parameter name in a ";a=b;c;d=\"q\"" list (the leading ';' optional,
 * whitespace around ';' and '=' allowed).  Name matches case-insensitively.
 * true if present; *val (may be NULL) gets the value, quotes kept, or an
 * empty slice for a parameter without value. */
bool cpm_sip_param_find(struct cpm_str params, const char *name,
			struct cpm_str *val);
/* Strip the surrounding double quotes of a quoted-string, if any. */
struct cpm_str cpm_sip_unquote(struct cpm_str s);

/* name-addr / addr-spec with header parameters: From, To, Contact, Route,
 * Record-Route, Path, Refer-To, Service-Route. */
struct cpm_sip_addr {
	struct cpm_str whole;   /* this element, trimmed */
	struct cpm_str display; /* display-name as written (quotes kept) */
	struct cpm_str uri;     /* inside <...>, or the bare addr-spec */
	struct cpm_str params;  /* header params after the address, from the
				 * first ';' (included); may be empty */
	struct cpm_str tag;     /* value of ;tag=, empty if none */
	bool star;              /* Contact: * */
};

/* Parse exactly one address (From, To). */
int cpm_sip_addr_parse(struct cpm_str s, struct cpm_sip_addr *a);
/* Iterate a comma-separated list (Contact, Route, Record-Route, Path):
 * parses the element at *cursor and advances *cursor past the separating
 * comma.  Returns 1 for an element, 0 at the end, <0 on a malformed element.
 * Commas inside quotes or <> do not separate. */
int cpm_sip_addr_next(struct cpm_str *cursor, struct cpm_sip_addr *a);

struct cpm_sip_via {
	struct cpm_str whole;     /* this via-parm, trimmed */
	struct cpm_str transport; /* "UDP", "TCP", "TLS", "WS", ... */
	struct cpm_str host;      /* IPv6 keeps brackets */
	uint16_t port;
	bool has_port;
	struct cpm_str params;    /* from the first ';' (included) */
	struct cpm_str branch;
	struct cpm_str received;
	bool has_rport;
	struct cpm_str rport;     /* value, empty when "rport" has none */
};

/* Iterate the via-parms of one Via header value, as cpm_sip_addr_next. */
int cpm_sip_via_next(struct cpm_str *cursor, struct cpm_sip_via *v);

/* Comma-separated token lists (Supported, Require, Allow, Accept, ...):
 * returns 1 and the trimmed item, 0 at the end. */
int cpm_sip_list_next(struct cpm_str *cursor, struct cpm_str *item);
/* true if the list has token (case-insensitive); for an item with
 * parameters ("text/plain;charset=x") only the part before ';' counts. */
bool cpm_sip_list_has(struct cpm_str value, const char *token);

/* Digest credentials and challenges (RFC 3261 §25 / RFC 7616 / RFC 8760).
 * Values are unquoted slices. */
struct cpm_sip_auth {
	struct cpm_str scheme; /* "Digest" */
	struct cpm_str username, realm, nonce, uri, response, algorithm;
	struct cpm_str cnonce, opaque, qop, nc;
	bool stale;
};

int cpm_sip_auth_parse(struct cpm_str value, struct cpm_sip_auth *a);

/* Content-Type: "type/subtype" (trimmed) and its parameters (from ';'). */
int cpm_sip_ctype_parse(struct cpm_str value, struct cpm_str *mime,
			struct cpm_str *params);

/* multipart/... bodies (RFC 2046): iterate the parts.  *cursor starts as the
 * whole body; returns 1 per part, 0 after the closing delimiter, <0 on a
 * malformed body. */
struct cpm_sip_part {
	struct cpm_str headers;      /* the part's header block, raw */
	struct cpm_str content_type; /* value of its Content-Type, trimmed */
	struct cpm_str disposition;  /* value of its Content-Disposition */
	struct cpm_str content_id;
	struct cpm_str body;
};

int cpm_sip_multipart_next(struct cpm_str *cursor, struct cpm_str boundary,
			   struct cpm_sip_part *part);

struct cpm_sip_cseq {
	uint32_t num;
	enum cpm_sip_method method;
	struct cpm_str method_s;
};

/* ---------------------------------------------------------------- messages */

struct cpm_sip_msg {
	/* public, read-only after parse */
	const char *buf;
	size_t len;
	bool is_request;
	struct cpm_str first_line; /* without CRLF */
	/* request */
	enum cpm_sip_method method;
	struct cpm_str method_s;
	struct cpm_str ruri;
	/* response */
	int status;
	struct cpm_str reason;

	/* header fields in wire order */
	unsigned nhdrs;
	int first[CPM_SIP_H__COUNT]; /* index of the first of each id, -1 */
	struct cpm_sip_hdr hdrs[CPM_SIP_HDRS_CAP];
	size_t body_off; /* offset of the body in buf */
	struct cpm_str body;

	/* parsed eagerly */
	struct cpm_str call_id;
	struct cpm_sip_cseq cseq;
	struct cpm_sip_addr from, to;
	struct cpm_sip_via via;  /* the top via-parm */
	int max_forwards;        /* -1 if absent */
	long content_length;     /* -1 if absent */

	/* set when parse fails: what a server should answer (400, 413, 416,
	 * 505, 513, ...) and why; 0/NULL if the message must be dropped
	 * silently (e.g. a malformed response). */
	int err_status;
	const char *err_reason;
};

enum cpm_sip_framing {
	CPM_SIP_DATAGRAM = 0, /* UDP: bytes past Content-Length are ignored,
			       * a missing Content-Length means "to the end" */
	CPM_SIP_STREAM = 1,   /* TCP/TLS: buf holds exactly one framed message;
			       * Content-Length is mandatory */
	CPM_SIP_TRUSTED = 2,  /* flag, OR-ed with one of the above: bytes this
			       * process wrote itself; the Request-URI and
			       * From/To URIs are not validated again */
};

/* Parse a complete message.  Checks: start line and SIP/2.0 (else 505),
 * header syntax and limits (413/513), mandatory To/From/Call-ID/CSeq/Via
 * for requests and responses, CSeq method = request method (except for
 * ACK/CANCEL semantics of RFC 3261), Content-Length consistency, at most
 * one Content-Length.  Returns 0 or a negative CPM_E* with m->err_status
 * and m->err_reason set (the first error found).  After an error the
 * parser still fills in what it can (header table, Call-ID, top Via,
 * From, To, CSeq), so that an error response can be built from m. */
int cpm_sip_msg_parse(struct cpm_sip_msg *m, const char *buf, size_t len,
		      enum cpm_sip_framing framing,
		      const struct cpm_sip_limits *lim);

/* Move a parsed message onto a copy of its bytes instead of parsing the
 * copy again.  nbuf (nlen bytes) holds m's bytes with [cut_off, cut_end)
 * replaced by new_len bytes (cut_off == cut_end == new_len == 0 for a
 * plain copy).  Every slice is moved; when the cut lies inside the top
 * Via header the top via-parm (m->via) is parsed again from the copy.
 * Returns 0, or CPM_EPARSE if that Via no longer parses. */
int cpm_sip_msg_rebase(struct cpm_sip_msg *m, const char *nbuf, size_t nlen,
		       size_t cut_off, size_t cut_end, size_t new_len);

/* Stream framing: looks at the bytes received so far.  Leading CRLFs
 * (RFC 5626 keep-alives) are counted in *skip.  Returns 1 and *msglen (the
 * message starting after skip) when a whole message is there, 0 if more
 * bytes are needed, CPM_ETOOBIG past lim->max_msg, CPM_EPARSE when the
 * header section is complete but has no valid Content-Length. */
int cpm_sip_frame(const char *buf, size_t len, const struct cpm_sip_limits *lim,
		  size_t *skip, size_t *msglen);

const struct cpm_sip_hdr *cpm_sip_msg_hdr(const struct cpm_sip_msg *m,
					  enum cpm_sip_hdr_id id);
const struct cpm_sip_hdr *cpm_sip_msg_hdr_next(const struct cpm_sip_msg *m,
					       const struct cpm_sip_hdr *h);
/* Any header by name (long or compact form), case-insensitive. */
const struct cpm_sip_hdr *cpm_sip_msg_hdr_by_name(const struct cpm_sip_msg *m,
						  const char *name);

/* ---------------------------------------------------------------- printing */

/* Default reason phrase for a status code ("Not Found"). */
const char *cpm_sip_reason(int status);

/* Start a response to req: status line; every Via of req in order; From;
 * To, with ";tag=<to_tag>" appended when req's To has no tag and to_tag is
 * not NULL; Call-ID; CSeq.  The caller appends further header lines and
 * ends with cpm_sip_print_body. */
int cpm_sip_print_response_start(struct cpm_buf *b, const struct cpm_sip_msg *req,
				 int status, const char *reason,
				 const char *to_tag);
/* Append "Content-Type: ctype" (if ctype.len), "Content-Length: n", the
 * empty line and the body. */
int cpm_sip_print_body(struct cpm_buf *b, struct cpm_str ctype,
		       struct cpm_str body);

#endif
